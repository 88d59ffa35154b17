/*
 * fuzz_index: the index.csv reader (lib/ravdess/index_read.c, over core/csvio.c).
 *
 * Input: the bytes of an index.csv.  Checks: a file that loads holds clips whose
 * fields are in range and agree with their id, sorted and unique; writing it
 * with rvt_index_write and loading that gives the same clips back.  A file that
 * does not load leaves the index empty and says why.
 */
#include "core/common.h"

#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "ravdess/index.h"

static void check_index(const struct rvt_index *idx)
{
    size_t i;
    for (i = 0; i < idx->n; i++) {
        const struct rvt_clip *c = &idx->clips[i];
        char id[RVT_ID_LEN];
        rvt_ravdess_format_id(id, c->vocal_channel, c->emotion, c->intensity, c->statement,
                              c->repetition, c->actor);
        FUZZ_CHECK(!strcmp(id, c->id));
        FUZZ_CHECK(c->actor >= 1 && c->actor <= RVT_ACTOR_MAX && c->female == (c->actor % 2 == 0));
        FUZZ_CHECK(c->emotion >= 1 && c->emotion <= 8);
        FUZZ_CHECK(c->split >= RVT_SPLIT_TRAIN && c->split <= RVT_SPLIT_TEST);
        FUZZ_CHECK(c->label_name[0] && c->video_path && c->audio_path);
        FUZZ_CHECK(i == 0 || strcmp(idx->clips[i - 1].id, c->id) < 0);
    }
    FUZZ_CHECK(strlen(idx->sha256) == 64);
}

static bool same_clip(const struct rvt_clip *a, const struct rvt_clip *b)
{
    return !strcmp(a->id, b->id) && a->actor == b->actor && a->vocal_channel == b->vocal_channel &&
           a->emotion == b->emotion && a->intensity == b->intensity &&
           a->statement == b->statement && a->repetition == b->repetition &&
           a->female == b->female && a->label == b->label &&
           !strcmp(a->label_name, b->label_name) && a->split == b->split &&
           !strcmp(a->video_path, b->video_path) && !strcmp(a->audio_path, b->audio_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rvt_index idx, back;
    struct rvt_error err;
    char *text = NULL;
    size_t len = 0, i;
    FILE *fp;
    int ret;

    memset(&err, 0, sizeof(err));
    ret = rvt_index_load(&idx, fuzz_path(0, data, size), &err);
    if (ret < 0) {
        FUZZ_CHECK(err.code == ret && err.msg[0] && idx.n == 0 && !idx.clips);
        return 0;
    }
    check_index(&idx);

    fp = open_memstream(&text, &len);
    FUZZ_CHECK(fp);
    ret = rvt_index_write(&idx, fp, &err);
    FUZZ_CHECK(ret == 0);
    FUZZ_CHECK(fclose(fp) == 0);
    ret = rvt_index_load(&back, fuzz_path(1, text, len), &err);
    if (ret < 0)
        fprintf(stderr, "written index does not load back: %s\n", err.msg);
    FUZZ_CHECK(ret == 0 && back.n == idx.n);
    for (i = 0; i < idx.n; i++)
        FUZZ_CHECK(same_clip(&idx.clips[i], &back.clips[i]));
    rvt_index_release(&back);
    rvt_index_release(&idx);
    free(text);
    return 0;
}
