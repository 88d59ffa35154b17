/* clips.c: the clip lists of the clip tools (runner.h: rvt_run_list_*). */
#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "run/runner.h"

void rvt_run_list_release(struct rvt_run_list *l)
{
    size_t i;
    for (i = 0; l->ids && i < l->n; i++)
        free(l->ids[i]);
    free(l->ids);
    free(l->clips);
    rvt_index_release(&l->idx);
    memset(l, 0, sizeof(*l));
}

int rvt_run_list_index(struct rvt_run_list *l, const char *path, enum rvt_run_media media,
                       struct rvt_error *err)
{
    size_t i;
    int ret;

    memset(l, 0, sizeof(*l));
    if ((ret = rvt_index_load(&l->idx, path, err)) < 0)
        return ret;
    memcpy(l->sha256, l->idx.sha256, sizeof(l->sha256));
    l->clips = calloc(l->idx.n ? l->idx.n : 1, sizeof(*l->clips));
    if (!l->clips) {
        rvt_run_list_release(l);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    for (i = 0; i < l->idx.n; i++) {
        const struct rvt_clip *c = &l->idx.clips[i];
        l->clips[i].id = c->id;
        l->clips[i].path = media == RVT_RUN_VIDEO ? c->video_path : c->audio_path;
        l->clips[i].src = i;
    }
    l->n = l->idx.n;
    return 0;
}

/* The file's name without folder and extension. */
static char *file_stem(const char *path)
{
    const char *base = strrchr(path, '/'), *dot;
    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    return strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
}

static int cmp_clip_id(const void *a, const void *b)
{
    return strcmp(((const struct rvt_run_clip *)a)->id, ((const struct rvt_run_clip *)b)->id);
}

int rvt_run_list_files(struct rvt_run_list *l, char *const *paths, size_t n,
                       struct rvt_error *err)
{
    struct rvt_run_clip *sorted = NULL;
    size_t i, total = 1, off = 0;
    char *all = NULL;
    int ret = 0;

    memset(l, 0, sizeof(*l));
    l->clips = calloc(n ? n : 1, sizeof(*l->clips));
    l->ids = calloc(n ? n : 1, sizeof(*l->ids));
    sorted = malloc((n ? n : 1) * sizeof(*sorted));
    for (i = 0; i < n; i++)
        total += strlen(paths[i]) + 1;
    all = malloc(total);
    l->n = n; /* ids are NULL until made: release frees what exists */
    if (!l->clips || !l->ids || !sorted || !all) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    /* the "index" hash of a file list: sha256 of its paths, one a line */
    all[0] = '\0';
    for (i = 0; i < n; i++)
        off += (size_t)sprintf(all + off, "%s\n", paths[i]);
    rvt_sha256_hex(all, off, l->sha256);
    for (i = 0; i < n; i++) {
        if (!(l->ids[i] = file_stem(paths[i]))) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        if (!l->ids[i][0]) {
            ret = rvt_error_set(err, RVT_EINVAL, "'%s': cannot make a clip id from this name",
                                paths[i]);
            goto done;
        }
        l->clips[i] = (struct rvt_run_clip){l->ids[i], paths[i], i};
    }
    memcpy(sorted, l->clips, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_clip_id);
    for (i = 1; i < n; i++)
        if (!strcmp(sorted[i - 1].id, sorted[i].id)) {
            ret = rvt_error_set(err, RVT_EINVAL, "two input files give the clip id '%s'",
                                sorted[i].id);
            goto done;
        }
done:
    if (ret < 0)
        rvt_run_list_release(l);
    free(sorted);
    free(all);
    return ret;
}
