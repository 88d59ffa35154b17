#include "core/common.h"

#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/csvio.h"
#include "core/hash.h"
#include "ravdess/index.h"
#include "ravdess/ravdess.h"

const char *const rvt_index_columns[14] = {
    "id", "actor", "gender", "vocal_channel", "emotion", "emotion_name", "intensity",
    "statement", "repetition", "label", "label_name", "split", "video_path", "audio_path",
};

const char *const rvt_emotion_names[9] = {
    NULL, "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised",
};

const char *rvt_split_name(enum rvt_split s)
{
    switch (s) {
    case RVT_SPLIT_TRAIN: return "train";
    case RVT_SPLIT_VAL: return "val";
    case RVT_SPLIT_TEST: return "test";
    }
    return "?";
}

int rvt_split_parse(const char *s, enum rvt_split *out)
{
    if (!strcmp(s, "train"))
        *out = RVT_SPLIT_TRAIN;
    else if (!strcmp(s, "val"))
        *out = RVT_SPLIT_VAL;
    else if (!strcmp(s, "test"))
        *out = RVT_SPLIT_TEST;
    else
        return -1;
    return 0;
}

struct loader {
    struct rvt_index *idx;
    size_t cap;
    const char *path;
    size_t dir_len;   /* bytes of path's folder to put before relative paths; 0: none */
};

/*
 * A path of the index as the tools open it: relative paths are relative to the
 * index file's own folder (L->dir_len bytes of L->path), absolute ones and empty
 * ones stay as they are.
 */
static char *resolve(const struct loader *L, const char *p)
{
    char *out;
    if (!p[0] || p[0] == '/' || L->dir_len == 0)
        return strdup(p);
    out = malloc(L->dir_len + 1 + strlen(p) + 1);
    if (out)
        sprintf(out, "%.*s%s%s", (int)L->dir_len, L->path,
                L->path[L->dir_len - 1] == '/' ? "" : "/", p);
    return out;
}

static int field_int(const char *path, size_t line, const char *col, const char *s, long lo,
                     long hi, int *out, struct rvt_error *err)
{
    long v;
    if (rvt_parse_long(s, lo, hi, &v) < 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: %s '%s' is not an integer in %ld-%ld",
                             path, line, col, s, lo, hi);
    *out = (int)v;
    return 0;
}

static int on_row(void *ctx, size_t line, int n, char **f, struct rvt_error *err)
{
    struct loader *L = ctx;
    struct rvt_index *idx = L->idx;
    struct rvt_clip *c;
    int i, ret = 0;

    if (line == 1 || (idx->n == 0 && !strcmp(f[0], "id"))) {
        if (n != 14)
            return rvt_error_set(err, RVT_EFORMAT, "'%s': header has %d columns, want 14", L->path, n);
        for (i = 0; i < 14; i++)
            if (strcmp(f[i], rvt_index_columns[i]))
                return rvt_error_set(err, RVT_EFORMAT, "'%s': header column %d is '%s', want '%s'",
                                     L->path, i + 1, f[i], rvt_index_columns[i]);
        return 0;
    }
    if (n != 14)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: %d fields, want 14", L->path, line, n);
    if (idx->n >= RVT_INDEX_MAX_CLIPS)
        return rvt_error_set(err, RVT_ELIMIT, "'%s': more than %d clips", L->path, RVT_INDEX_MAX_CLIPS);
    if (idx->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 256;
        struct rvt_clip *nc = realloc(idx->clips, cap * sizeof(*nc));
        if (!nc)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        idx->clips = nc;
        L->cap = cap;
    }
    c = &idx->clips[idx->n];
    memset(c, 0, sizeof(*c));
    if (strlen(f[0]) != RVT_ID_LEN - 1)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: bad clip id '%s'", L->path, line, f[0]);
    memcpy(c->id, f[0], RVT_ID_LEN);
    if ((ret = field_int(L->path, line, "actor", f[1], 1, RVT_ACTOR_MAX, &c->actor, err)) < 0 ||
        (ret = field_int(L->path, line, "vocal_channel", f[3], 1, 2, &c->vocal_channel, err)) < 0 ||
        (ret = field_int(L->path, line, "emotion", f[4], 1, 8, &c->emotion, err)) < 0 ||
        (ret = field_int(L->path, line, "intensity", f[6], 1, 2, &c->intensity, err)) < 0 ||
        (ret = field_int(L->path, line, "statement", f[7], 1, 2, &c->statement, err)) < 0 ||
        (ret = field_int(L->path, line, "repetition", f[8], 1, 2, &c->repetition, err)) < 0 ||
        (ret = field_int(L->path, line, "label", f[9], 0, 255, &c->label, err)) < 0)
        return ret;
    if (!strcmp(f[2], "female"))
        c->female = true;
    else if (strcmp(f[2], "male"))
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: gender '%s'", L->path, line, f[2]);
    if (strlen(f[10]) >= sizeof(c->label_name) || !f[10][0])
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: bad label_name '%s'", L->path, line, f[10]);
    strcpy(c->label_name, f[10]);
    if (rvt_split_parse(f[11], &c->split) < 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: split '%s' is not train, val or test",
                             L->path, line, f[11]);
    {
        /* the id is the fields; a row where they disagree was edited by hand */
        char want[RVT_ID_LEN];
        rvt_ravdess_format_id(want, c->vocal_channel, c->emotion, c->intensity, c->statement,
                              c->repetition, c->actor);
        if (strcmp(want, c->id))
            return rvt_error_set(err, RVT_EFORMAT,
                                 "'%s': line %zu: id '%s' disagrees with its fields (want '%s')",
                                 L->path, line, c->id, want);
        if (strcmp(f[5], rvt_emotion_names[c->emotion]))
            return rvt_error_set(err, RVT_EFORMAT,
                                 "'%s': line %zu: emotion_name '%s' is not '%s' (emotion %d)",
                                 L->path, line, f[5], rvt_emotion_names[c->emotion], c->emotion);
        if (c->female != (c->actor % 2 == 0))
            return rvt_error_set(err, RVT_EFORMAT,
                                 "'%s': line %zu: gender '%s' disagrees with actor %d (odd = male)",
                                 L->path, line, f[2], c->actor);
    }
    if (idx->n && strcmp(idx->clips[idx->n - 1].id, c->id) >= 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: id '%s' is duplicated or out of order",
                             L->path, line, c->id);
    c->video_path = resolve(L, f[12]);
    c->audio_path = resolve(L, f[13]);
    c->video_path_csv = strdup(f[12]);
    c->audio_path_csv = strdup(f[13]);
    idx->n++; /* counted now so release frees the paths even if one strdup failed */
    if (!c->video_path || !c->audio_path || !c->video_path_csv || !c->audio_path_csv)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    return 0;
}

int rvt_index_load(struct rvt_index *idx, const char *path, struct rvt_error *err)
{
    struct loader L = {idx, 0, path, 0};
    const char *slash = strrchr(path, '/');
    int ret;

    memset(idx, 0, sizeof(*idx));
    /* "dir/index.csv" -> "dir"; "/index.csv" -> "/"; "index.csv", "./index.csv", "-": none */
    if (slash && strcmp(path, "-")) {
        L.dir_len = slash == path ? 1 : (size_t)(slash - path);
        if (L.dir_len == 1 && path[0] == '.')
            L.dir_len = 0;
    }
    ret = rvt_csv_read(path, on_row, &L, err);
    if (ret >= 0 && strcmp(path, "-"))
        ret = rvt_sha256_file(path, idx->sha256, err);
    if (ret < 0)
        rvt_index_release(idx);
    return ret;
}

void rvt_index_release(struct rvt_index *idx)
{
    size_t i;
    for (i = 0; i < idx->n; i++) {
        free(idx->clips[i].video_path);
        free(idx->clips[i].audio_path);
        free(idx->clips[i].video_path_csv);
        free(idx->clips[i].audio_path_csv);
    }
    free(idx->clips);
    memset(idx, 0, sizeof(*idx));
}
