/*
 * pack.c: index.csv + frames stores + mel stores -> features.h5 (see pack.h).
 *
 * Pipeline: all HDF5 calls happen on the calling thread.  Output clip k uses
 * slot k % W; its inputs are read into the slot before the pool runs (k < W)
 * or right after clip k - W was written (in emit, when the slot is free again);
 * workers only decode/encode chunks in their slot.  So reading, encoding and
 * writing overlap, the output order is the index order whatever -j, and
 * memory is W slots whatever the clip count.
 */
#include "core/common.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/pool.h"
#include "ravdess/index.h"
#include "store/pack.h"
#include "store/recipe.h"
#include "store/store.h"

#define MAX_INPUTS 4096
#define MAX_GROUP_DS 16
#define N_COLS 13
/* clips/video_path, audio_path: the index's text (not where this run opens the files) */
#define PATH_CSV(c, a) ((c)->a##_path_csv ? (c)->a##_path_csv : (c)->a##_path)

enum mode { MODE_SMALL, MODE_COPY, MODE_RECODE, MODE_ENCODE };

struct input {
    const char *path;
    struct rvt_store_reader *r;
    int shard_i, shard_n;
    char sha256[65];
    char *config;
};

struct gds {
    const char *name;           /* owned by the first input's reader */
    struct rvt_store_field info;
    bool big;                   /* one clip a chunk in the output */
};

struct group {
    const char *kind, *prefix, *required[2];
    struct input *in;           /* n_in, sorted by shard */
    int n_in, n_shards;
    struct gds ds[MAX_GROUP_DS];
    int n_ds;
};

struct sfield {
    struct rvt_store_chunk raw, enc;
    void *buf, *scratch;
    int mode, level_in;
};

struct slot {
    size_t row;
    struct sfield f[2 * MAX_GROUP_DS];
};

struct packer {
    const struct rvt_pack_options *o;
    struct rvt_index idx;
    struct group g[2];
    int n_groups;
    size_t *sel;                /* selected index rows */
    size_t n_sel;
    enum rvt_split *split_of;   /* per index row: the split written */
    int out_level;
    struct rvt_store_writer *w;
    struct slot *slots;
    void **slot_ptrs;
    size_t window;
    struct rvt_progress prog;
    struct rvt_pack_report *rep;
    struct rvt_labelset labels;
};

/* ---- config comparison ---- */

/*
 * Both config texts over the built-in defaults, so that a store written before a
 * key existed (image.convert, image.jpeg_quality, ...) has that key's default: what
 * it was made with.  When a text has keys the defaults lack (another version's),
 * both are read alone, their keys as they are.
 */
static int load_pair(struct rvt_config **ca, struct rvt_config **cb, const char *ta,
                     const char *tb, struct rvt_error *err)
{
    struct rvt_error e2;
    int ret;

    if ((ret = rvt_config_new_default(ca, err)) < 0 || (ret = rvt_config_new_default(cb, err)) < 0)
        return ret;
    if (rvt_config_load_string(*ca, ta, strlen(ta), "config", &e2) >= 0 &&
        rvt_config_load_string(*cb, tb, strlen(tb), "config", &e2) >= 0)
        return 0;
    rvt_config_free(ca);
    rvt_config_free(cb);
    if ((ret = rvt_config_new(ca, err)) < 0 || (ret = rvt_config_new(cb, err)) < 0 ||
        (ret = rvt_config_load_string(*ca, ta, strlen(ta), "config", err)) < 0)
        return ret;
    return rvt_config_load_string(*cb, tb, strlen(tb), "config", err);
}

int rvt_pack_config_diff(const char *text_a, const char *text_b, const char *prefix, char *key,
                         size_t key_n, char *a, char *b, size_t val_n, struct rvt_error *err)
{
    struct rvt_config *ca = NULL, *cb = NULL;
    const char *k, *va, *vb;
    int ret;

    if ((ret = load_pair(&ca, &cb, text_a, text_b, err)) < 0)
        goto done;
    ret = rvt_config_diff(ca, cb, prefix, &k, &va, &vb);
    if (ret < 0) {
        ret = rvt_error_set(err, ret, "out of memory");
    } else if (ret == 1) {
        snprintf(key, key_n, "%s", k);
        snprintf(a, val_n, "%s", va ? va : "(absent)");
        snprintf(b, val_n, "%s", vb ? vb : "(absent)");
    }
done:
    rvt_config_free(&ca);
    rvt_config_free(&cb);
    return ret;
}

/* ---- inputs ---- */

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int cmp_input(const void *a, const void *b)
{
    const struct input *x = a, *y = b;
    if (x->shard_i != y->shard_i)
        return x->shard_i < y->shard_i ? -1 : 1;
    return strcmp(x->path, y->path);
}

static int open_input(struct packer *P, struct group *g, struct input *in, const char *cfg_text,
                      struct rvt_error *err)
{
    char *shard = NULL;
    char key[256], va[512], vb[512];
    int ret = 0, k;

    /* kind, datasets and their types (float32 frames are refused here) */
    if ((ret = rvt_store_open_kind(&in->r, in->path, g->kind, err)) < 0)
        goto done;
    for (k = 0; k < 2; k++)
        if (!rvt_store_has(in->r, g->required[k])) {
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s' has no dataset '%s'", in->path, g->required[k]);
            goto done;
        }
    in->shard_i = 0;
    in->shard_n = 1;
    if (rvt_store_has_attr(in->r, "shard")) {
        long si, sn;
        char *slash;
        if ((ret = rvt_store_get_attr(in->r, "shard", &shard, err)) < 0)
            goto done;
        slash = strchr(shard, '/');
        if (!slash || (*slash = '\0', rvt_parse_long(shard, 0, 1 << 20, &si) < 0) ||
            rvt_parse_long(slash + 1, 1, 1 << 20, &sn) < 0 || si >= sn) {
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s': bad shard attribute", in->path);
            goto done;
        }
        in->shard_i = (int)si;
        in->shard_n = (int)sn;
    }
    if (!rvt_store_has_attr(in->r, "config")) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s' has no config attribute", in->path);
        goto done;
    }
    if ((ret = rvt_store_get_attr(in->r, "config", &in->config, err)) < 0)
        goto done;
    /* inputs of a kind agree with each other, then with this run */
    if (in != g->in) {
        ret = rvt_pack_config_diff(g->in[0].config, in->config, g->prefix, key, sizeof(key), va, vb,
                                   sizeof(va), err);
        if (ret > 0) {
            ret = rvt_error_set(err, RVT_EMISMATCH, "config key %s differs: '%s' has %s, '%s' has %s",
                                key, g->in[0].path, va, in->path, vb);
            goto done;
        }
    }
    if (ret < 0)
        goto done;
    ret = rvt_pack_config_diff(in->config, cfg_text, g->prefix, key, sizeof(key), va, vb, sizeof(va),
                               err);
    if (ret > 0) {
        ret = rvt_error_set(err, RVT_EMISMATCH,
                            "config key %s differs: '%s' has %s, this run has %s (give pack-h5 the "
                            "extractors' --config/--set)",
                            key, in->path, va, vb);
        goto done;
    }
done:
    (void)P;
    free(shard);
    return ret;
}

static bool same_field(const struct rvt_store_field *a, const struct rvt_store_field *b)
{
    int k;
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (k = 0; k < (a->dtype == RVT_DTYPE_STR ? 1 : a->rank); k++)
        if (a->dims[k] != b->dims[k])
            return false;
    return true;
}

static void field_text(const struct rvt_store_field *f, char *buf, size_t n)
{
    size_t len = snprintf(buf, n, "%s[", rvt_dtype_name(f->dtype));
    int k;
    for (k = 0; k < (f->dtype == RVT_DTYPE_STR ? 1 : f->rank) && len < n; k++)
        len += snprintf(buf + len, n - len, "%s%llu", k ? "," : "", (unsigned long long)f->dims[k]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

/* Datasets (outside clips/) of the first input; the others must have the same. */
static int group_datasets(struct group *g, struct rvt_error *err)
{
    struct rvt_store_reader *r0 = g->in[0].r;
    int k, i, ret = 0;

    g->n_ds = 0;
    for (k = 0; k < rvt_store_n_datasets(r0); k++) {
        const char *name = rvt_store_dataset_name(r0, k);
        struct gds *d;
        if (!strncmp(name, "clips/", 6))
            continue;
        if (g->n_ds >= MAX_GROUP_DS)
            return rvt_error_set(err, RVT_ELIMIT, "'%s': more than %d datasets", g->in[0].path,
                                 MAX_GROUP_DS);
        d = &g->ds[g->n_ds++];
        d->name = name;
        if ((ret = rvt_store_field_info(r0, name, &d->info, err)) < 0)
            return ret;
        d->info.name = name;
        d->big = d->info.dtype != RVT_DTYPE_STR &&
                 rvt_store_field_bytes(&d->info) >= RVT_STORE_CHUNK_MIN;
    }
    for (i = 1; i < g->n_in; i++) {
        struct rvt_store_reader *r = g->in[i].r;
        int n_other = 0;
        for (k = 0; k < rvt_store_n_datasets(r); k++)
            n_other += strncmp(rvt_store_dataset_name(r, k), "clips/", 6) != 0;
        for (k = 0; k < g->n_ds; k++) {
            struct rvt_store_field f;
            char ta[128], tb[128];
            if (!rvt_store_has(r, g->ds[k].name))
                return rvt_error_set(err, RVT_EMISMATCH, "'%s' has dataset '%s', '%s' has not",
                                     g->in[0].path, g->ds[k].name, g->in[i].path);
            if ((ret = rvt_store_field_info(r, g->ds[k].name, &f, err)) < 0)
                return ret;
            if (!same_field(&f, &g->ds[k].info)) {
                field_text(&g->ds[k].info, ta, sizeof(ta));
                field_text(&f, tb, sizeof(tb));
                return rvt_error_set(err, RVT_EMISMATCH, "dataset '%s' is %s in '%s' but %s in '%s'",
                                     g->ds[k].name, ta, g->in[0].path, tb, g->in[i].path);
            }
        }
        if (n_other != g->n_ds)
            for (k = 0; k < rvt_store_n_datasets(r); k++) {
                const char *name = rvt_store_dataset_name(r, k);
                if (strncmp(name, "clips/", 6) && !rvt_store_has(r0, name))
                    return rvt_error_set(err, RVT_EMISMATCH, "'%s' has dataset '%s', '%s' has not",
                                         g->in[i].path, name, g->in[0].path);
            }
    }
    return 0;
}

/* The shapes the config promises: frames [image.frames, height, width, 3], mel [n_mels, max_len]. */
static int check_shapes(const struct packer *P, const struct group *g, struct rvt_error *err)
{
    const struct rvt_config *cfg = P->o->cfg;
    const char *name = g->required[0], *pick = rvt_config_get(cfg, "image.pick");
    long want[4] = {0}, v;
    int rank, k, ret;
    struct rvt_store_field f;
    char have[128], wtxt[128];

    if ((ret = rvt_store_field_info(g->in[0].r, name, &f, err)) < 0)
        return ret;
    if (!strcmp(g->kind, "frames")) {
        const char *keys[3] = {"image.frames", "image.height", "image.width"};
        rank = 4;
        for (k = 0; k < 3; k++) {
            if ((ret = rvt_config_get_int(cfg, keys[k], &v, err)) < 0)
                return ret;
            want[k] = v;
        }
        want[3] = 3;
        if (pick && !strncmp(pick, "times=", 6))
            want[0] = (long)f.dims[0]; /* K follows the list of times */
    } else {
        rank = 2;
        if ((ret = rvt_config_get_int(cfg, "audio.n_mels", &want[0], err)) < 0 ||
            (ret = rvt_config_get_int(cfg, "audio.max_len", &want[1], err)) < 0)
            return ret;
    }
    for (k = 0; k < rank; k++)
        if (f.rank != rank || (long)f.dims[k] != want[k])
            break;
    if (k == rank)
        return 0;
    {
        struct rvt_store_field w = f;
        w.rank = rank;
        for (k = 0; k < rank; k++)
            w.dims[k] = (uint64_t)want[k];
        field_text(&f, have, sizeof(have));
        field_text(&w, wtxt, sizeof(wtxt));
    }
    return rvt_error_set(err, RVT_EMISMATCH, "'%s': dataset '%s' is %s, this run's %s keys want %s",
                         g->in[0].path, name, have, g->prefix, wtxt);
}

static int check_group(struct packer *P, struct group *g, struct rvt_error *err)
{
    int i, ret;
    size_t k;

    qsort(g->in, g->n_in, sizeof(*g->in), cmp_input);
    g->n_shards = g->in[0].shard_n;
    for (i = 0; i < g->n_in; i++)
        if (g->in[i].shard_n != g->n_shards)
            return rvt_error_set(err, RVT_EMISMATCH,
                                 "%s shards of different sets: '%s' is shard %d/%d, '%s' is %d/%d",
                                 g->kind, g->in[0].path, g->in[0].shard_i, g->in[0].shard_n,
                                 g->in[i].path, g->in[i].shard_i, g->in[i].shard_n);
    for (i = 0; i < g->n_in; i++) {
        if (i > 0 && g->in[i].shard_i == g->in[i - 1].shard_i)
            return rvt_error_set(err, RVT_EMISMATCH, "'%s' and '%s' are both %s shard %d/%d",
                                 g->in[i - 1].path, g->in[i].path, g->kind, g->in[i].shard_i,
                                 g->n_shards);
        if (g->in[i].shard_i != i)
            return rvt_error_set(err, RVT_EMISMATCH, "%s shard %d/%d is missing", g->kind, i,
                                 g->n_shards);
    }
    if (g->n_in != g->n_shards)
        return rvt_error_set(err, RVT_EMISMATCH, "%s shard %d/%d is missing", g->kind, g->n_in,
                             g->n_shards);
    if ((ret = group_datasets(g, err)) < 0 || (ret = check_shapes(P, g, err)) < 0)
        return ret;
    /*
     * every stored clip is in its shard; clips the index does not list are left
     * out (a filtered index), and index rows a store lacks are found by
     * find_missing once every kind is open
     */
    for (i = 0; i < g->n_in; i++) {
        struct rvt_store_reader *r = g->in[i].r;
        size_t n = rvt_store_count(r);
        for (k = 0; k < n && g->n_shards > 1; k++) {
            const char *id = rvt_store_id(r, k);
            int s = rvt_shard_of(id, g->n_shards);
            if (s != g->in[i].shard_i)
                return rvt_error_set(err, RVT_EMISMATCH,
                                     "'%s' (shard %d/%d) holds clip %s, which belongs to shard %d/%d",
                                     g->in[i].path, g->in[i].shard_i, g->n_shards, id, s, g->n_shards);
        }
    }
    return 0;
}

/*
 * Drops the selected rows that some store lacks (a clip an extractor skipped
 * with --keep-going) and lists them in the report: the output holds the clips
 * present in every input.  None left of a non-empty selection is an error.
 */
static int find_missing(struct packer *P, struct rvt_error *err)
{
    struct rvt_pack_report *rep = P->rep;
    size_t k, kept = 0;
    int gi;

    rep->missing = calloc(P->n_sel + 1, sizeof(*rep->missing));
    if (!rep->missing)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (k = 0; k < P->n_sel; k++) {
        const struct rvt_clip *c = &P->idx.clips[P->sel[k]];
        const char *from = NULL;
        for (gi = 0; gi < P->n_groups && !from; gi++) {
            const struct group *g = &P->g[gi];
            int s = g->n_shards > 1 ? rvt_shard_of(c->id, g->n_shards) : 0;
            if (rvt_store_find(g->in[s].r, c->id) < 0)
                from = g->in[s].path;
        }
        if (from) {
            struct rvt_pack_missing *m = &rep->missing[rep->n_missing++];
            memcpy(m->id, c->id, sizeof(m->id));
            m->store = from;
        } else {
            P->sel[kept++] = P->sel[k];
        }
    }
    if (kept == 0 && rep->n_missing > 0)
        return rvt_error_set(err, RVT_EMISMATCH,
                             "none of the %zu clips of '%s' is in every store (clip %s is missing "
                             "from '%s')",
                             rep->n_missing, P->o->index_path, rep->missing[0].id,
                             rep->missing[0].store);
    P->n_sel = kept;
    return 0;
}

void rvt_pack_report_release(struct rvt_pack_report *rep)
{
    free(rep->missing);
    rep->missing = NULL;
    rep->n_missing = 0;
}

/* ---- the index against this run's config ---- */

static int check_index(struct packer *P, struct rvt_error *err)
{
    const struct rvt_pack_options *o = P->o;
    struct rvt_splits rule;
    size_t k;
    int ret;

    if ((ret = rvt_labelset_from_config(&P->labels, o->cfg, err)) < 0 ||
        (ret = rvt_splits_from_config(&rule, o->cfg, err)) < 0)
        return ret;
    P->split_of = malloc((P->idx.n + 1) * sizeof(*P->split_of));
    P->sel = malloc((P->idx.n + 1) * sizeof(*P->sel));
    if (!P->split_of || !P->sel)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (k = 0; k < P->idx.n; k++) {
        const struct rvt_clip *c = &P->idx.clips[k];
        int want = rvt_labelset_label(&P->labels, c->emotion);
        enum rvt_split s;
        if (want < 0)
            return rvt_error_set(err, RVT_EMISMATCH,
                                 "'%s': clip %s is %s, which labels.set %s / labels.calm %s leave out",
                                 o->index_path, c->id, rvt_emotion_names[c->emotion],
                                 rvt_config_get(o->cfg, "labels.set"),
                                 rvt_config_get(o->cfg, "labels.calm"));
        if (c->label != want || strcmp(c->label_name, P->labels.names[want]))
            return rvt_error_set(err, RVT_EMISMATCH,
                                 "'%s': clip %s has label %d '%s', labels.set %s gives %d '%s'",
                                 o->index_path, c->id, c->label, c->label_name,
                                 rvt_config_get(o->cfg, "labels.set"), want, P->labels.names[want]);
        if (c->actor < 1 || c->actor > RVT_ACTOR_MAX)
            return rvt_error_set(err, RVT_EUNSUPPORTED, "'%s': clip %s: actor %d is not 1-%d",
                                 o->index_path, c->id, c->actor, RVT_ACTOR_MAX);
        s = rvt_splits_of(&rule, c->actor);
        if (s != c->split) {
            if (!o->resplit)
                return rvt_error_set(err, RVT_EMISMATCH,
                                     "'%s': clip %s is in split %s, this run's split.* puts it in %s "
                                     "(give pack-h5 the same split config as ravdess-index, or --fold)",
                                     o->index_path, c->id, rvt_split_name(c->split),
                                     rvt_split_name(s));
            P->rep->n_resplit++;
        }
        P->split_of[k] = s;
        if (o->split < 0 || (int)s == o->split)
            P->sel[P->n_sel++] = k;
    }
    return 0;
}

/* ---- output ---- */

static const char *const col_names[N_COLS] = {
    "clips/actor", "clips/gender", "clips/vocal_channel", "clips/emotion", "clips/emotion_name",
    "clips/intensity", "clips/statement", "clips/repetition", "clips/label", "clips/label_name",
    "clips/split", "clips/video_path", "clips/audio_path",
};

/* The frames stores' recipe (recipe.h), the same in every shard, carried into the
 * output (a store of mel alone has none). */
static int set_recipe(struct packer *P, struct rvt_error *err)
{
    struct rvt_recipe a, b;
    int gi, i, k, ret = 0;

    rvt_recipe_init(&a);
    rvt_recipe_init(&b);
    for (gi = 0; gi < P->n_groups && ret >= 0; gi++) {
        const struct group *g = &P->g[gi];
        if (strcmp(g->kind, "frames"))
            continue;
        ret = rvt_store_get_recipe(g->in[0].r, &a, err);
        for (i = 1; i < g->n_in && ret >= 0; i++) {
            if ((ret = rvt_store_get_recipe(g->in[i].r, &b, err)) < 0)
                break;
            if ((k = rvt_recipe_diff(&a, &b)) >= 0)
                ret = rvt_error_set(err, RVT_EMISMATCH, "frames '%s' were made with %s=%s, '%s' with %s",
                                    g->in[0].path, rvt_recipe_key(k), a.value[k], g->in[i].path,
                                    b.value[k]);
        }
        if (ret >= 0)
            ret = rvt_store_set_recipe(P->w, &a, err);
    }
    rvt_recipe_release(&a);
    rvt_recipe_release(&b);
    return ret;
}

static int create_output(struct packer *P, struct rvt_error *err)
{
    struct rvt_store_field f[N_COLS + 2 * MAX_GROUP_DS];
    size_t vmax = 1, amax = 1, k;
    int n = 0, gi, d, ret, i;
    const char *split_name = P->o->split < 0 ? "all" : rvt_split_name(P->o->split);

    for (k = 0; k < P->n_sel; k++) {
        const struct rvt_clip *c = &P->idx.clips[P->sel[k]];
        vmax = RVT_MAX(vmax, strlen(PATH_CSV(c, video)) + 1);
        amax = RVT_MAX(amax, strlen(PATH_CSV(c, audio)) + 1);
    }
    if (vmax > 65536 || amax > 65536)
        return rvt_error_set(err, RVT_ELIMIT, "'%s': a path longer than 64 KiB", P->o->index_path);
    for (i = 0; i < N_COLS; i++) {
        memset(&f[n], 0, sizeof(f[n]));
        f[n].name = col_names[i];
        f[n].dtype = RVT_DTYPE_I32;
        n++;
    }
    f[1].dtype = f[4].dtype = f[9].dtype = f[10].dtype = f[11].dtype = f[12].dtype = RVT_DTYPE_STR;
    f[1].dims[0] = 7;   /* female */
    f[4].dims[0] = 10;  /* surprised */
    f[9].dims[0] = 32;  /* struct rvt_clip label_name */
    f[10].dims[0] = 6;  /* train */
    f[11].dims[0] = RVT_MAX(vmax, 2);
    f[12].dims[0] = RVT_MAX(amax, 2);
    for (gi = 0; gi < P->n_groups; gi++)
        for (d = 0; d < P->g[gi].n_ds; d++) {
            int j;
            for (j = 0; j < n; j++)
                if (!strcmp(f[j].name, P->g[gi].ds[d].name))
                    return rvt_error_set(err, RVT_EMISMATCH, "dataset '%s' is in both the %s and %s stores",
                                         f[j].name, P->g[0].kind, P->g[gi].kind);
            f[n++] = P->g[gi].ds[d].info;
        }
    if ((ret = rvt_store_create(&P->w, P->o->out_path, "features", f, n, err)) < 0)
        return ret;
    if ((ret = rvt_store_set_provenance(P->w, P->o->cfg, P->idx.sha256, 0, 1, err)) < 0 ||
        (ret = rvt_store_set_attr_list(P->w, "class_names", P->labels.names,
                                        (size_t)P->labels.n_classes, err)) < 0 ||
        (ret = rvt_store_set_attr(P->w, "split", split_name, err)) < 0 ||
        (ret = rvt_store_set_attr(P->w, "index_file", base(P->o->index_path), err)) < 0)
        return ret;
    P->out_level = rvt_store_deflate(P->w);
    return set_recipe(P, err);
}

/* Provenance of the inputs: parallel lists, ordered by kind and shard. */
static int set_input_attrs(struct packer *P, struct rvt_error *err)
{
    int ret = 0, gi, i;
    {
        int n_in = 0, m = 0;
        const char **files, **kinds, **shards, **shas;
        char (*shard_txt)[32];
        for (gi = 0; gi < P->n_groups; gi++)
            n_in += P->g[gi].n_in;
        files = calloc(n_in, sizeof(*files));
        kinds = calloc(n_in, sizeof(*kinds));
        shards = calloc(n_in, sizeof(*shards));
        shas = calloc(n_in, sizeof(*shas));
        shard_txt = calloc(n_in, sizeof(*shard_txt));
        if (!files || !kinds || !shards || !shas || !shard_txt) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        } else {
            for (gi = 0; gi < P->n_groups; gi++)
                for (i = 0; i < P->g[gi].n_in; i++, m++) {
                    const struct input *in = &P->g[gi].in[i];
                    files[m] = base(in->path);
                    kinds[m] = P->g[gi].kind;
                    snprintf(shard_txt[m], sizeof(shard_txt[m]), "%d/%d", in->shard_i, in->shard_n);
                    shards[m] = shard_txt[m];
                    shas[m] = in->sha256;
                }
            if ((ret = rvt_store_set_attr_list(P->w, "input_files", files, n_in, err)) == 0 &&
                (ret = rvt_store_set_attr_list(P->w, "input_kinds", kinds, n_in, err)) == 0 &&
                (ret = rvt_store_set_attr_list(P->w, "input_shards", shards, n_in, err)) == 0)
                ret = rvt_store_set_attr_list(P->w, "input_sha256", shas, n_in, err);
        }
        free(files);
        free(kinds);
        free(shards);
        free(shas);
        free(shard_txt);
    }
    return ret;
}

/* "missing_clips": the ids of the selected rows some store lacks, in index order. */
static int set_missing_attr(struct packer *P, struct rvt_error *err)
{
    const char **ids = calloc(P->rep->n_missing, sizeof(*ids));
    size_t k;
    int ret;

    if (!ids)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (k = 0; k < P->rep->n_missing; k++)
        ids[k] = P->rep->missing[k].id;
    ret = rvt_store_set_attr_list(P->w, "missing_clips", ids, P->rep->n_missing, err);
    free(ids);
    return ret;
}

/* Reads output clip k's inputs into slot s (calling thread). */
static int prefetch(struct packer *P, size_t k, struct slot *s, struct rvt_error *err)
{
    const struct rvt_clip *c;
    int gi, d, f = 0, ret;

    s->row = P->sel[k];
    c = &P->idx.clips[s->row];
    for (gi = 0; gi < P->n_groups; gi++) {
        struct group *g = &P->g[gi];
        int sh = g->n_shards > 1 ? rvt_shard_of(c->id, g->n_shards) : 0;
        struct rvt_store_reader *r = g->in[sh].r;
        long pos = rvt_store_find(r, c->id);
        if (pos < 0)
            return rvt_error_set(err, RVT_EMISMATCH, "clip %s is missing from '%s'", c->id,
                                 g->in[sh].path);
        for (d = 0; d < g->n_ds; d++, f++) {
            struct sfield *sf = &s->f[f];
            const char *name = g->ds[d].name;
            if (!g->ds[d].big) {
                sf->mode = MODE_SMALL;
                ret = rvt_store_read(r, name, (size_t)pos, sf->buf, err);
            } else {
                sf->level_in = rvt_store_field_deflate(r, name, err);
                if (sf->level_in < -1)
                    return sf->level_in;
                if (sf->level_in == P->out_level) {
                    sf->mode = MODE_COPY;
                    ret = rvt_store_read_chunk(r, name, (size_t)pos, &sf->raw, err);
                } else if (sf->level_in >= 0) {
                    sf->mode = MODE_RECODE;
                    ret = rvt_store_read_chunk(r, name, (size_t)pos, &sf->raw, err);
                } else {
                    sf->mode = MODE_ENCODE;
                    ret = rvt_store_read(r, name, (size_t)pos, sf->buf, err);
                }
            }
            if (ret < 0)
                return ret;
        }
    }
    return 0;
}

static int work(void *ctx, size_t i, void *slot, int worker, struct rvt_error *err)
{
    struct packer *P = ctx;
    struct slot *s = slot;
    int gi, d, f = 0, ret = 0;

    for (gi = 0; gi < P->n_groups; gi++)
        for (d = 0; d < P->g[gi].n_ds; d++, f++) {
            struct sfield *sf = &s->f[f];
            const struct rvt_store_field *info = &P->g[gi].ds[d].info;
            if (sf->mode == MODE_RECODE &&
                (ret = rvt_store_decode(info, sf->level_in, &sf->raw, sf->buf, sf->scratch, err)) < 0)
                return ret;
            if ((sf->mode == MODE_RECODE || sf->mode == MODE_ENCODE) &&
                (ret = rvt_store_encode(info, P->out_level, sf->buf, sf->scratch, &sf->enc, err)) < 0)
                return ret;
        }
    return 0;
}

static int emit(void *ctx, size_t i, void *slot, int status, struct rvt_error *err)
{
    struct packer *P = ctx;
    struct slot *s = slot;
    const struct rvt_clip *c = &P->idx.clips[s->row];
    const void *data[N_COLS + 2 * MAX_GROUP_DS];
    const struct rvt_store_chunk *enc[N_COLS + 2 * MAX_GROUP_DS];
    int32_t ints[N_COLS];
    int gi, d, f = 0, n = 0, ret;

    if (status < 0)
        return rvt_error_prefix(err, "clip %s", c->id);
    ints[0] = c->actor;
    ints[2] = c->vocal_channel;
    ints[3] = c->emotion;
    ints[5] = c->intensity;
    ints[6] = c->statement;
    ints[7] = c->repetition;
    ints[8] = c->label;
    for (n = 0; n < N_COLS; n++) {
        data[n] = &ints[n];
        enc[n] = NULL;
    }
    data[1] = c->female ? "female" : "male";
    data[4] = rvt_emotion_names[c->emotion];
    data[9] = c->label_name;
    data[10] = rvt_split_name(P->split_of[s->row]);
    data[11] = PATH_CSV(c, video);
    data[12] = PATH_CSV(c, audio);
    for (gi = 0; gi < P->n_groups; gi++)
        for (d = 0; d < P->g[gi].n_ds; d++, f++, n++) {
            struct sfield *sf = &s->f[f];
            data[n] = sf->buf;
            enc[n] = sf->mode == MODE_COPY ? &sf->raw : sf->mode == MODE_SMALL ? NULL : &sf->enc;
            if (sf->mode == MODE_COPY)
                P->rep->n_copied++;
            else if (sf->mode != MODE_SMALL)
                P->rep->n_encoded++;
        }
    if ((ret = rvt_store_append_encoded(P->w, c->id, data, enc, err)) < 0)
        return ret;
    rvt_progress_update(&P->prog, i + 1);
    if (i + P->window < P->n_sel && (ret = prefetch(P, i + P->window, s, err)) < 0)
        return ret;
    return 0;
}

/*
 * sha256 of every input file, on a thread of its own while the clips are
 * copied (plain reads, no HDF5), so that hashing costs no wall time on 2 cores.
 */
struct hasher {
    struct packer *P;
    struct rvt_error err;
    int ret;
};

static void *hash_main(void *arg)
{
    struct hasher *h = arg;
    int gi, i;
    for (gi = 0; gi < h->P->n_groups && h->ret == 0; gi++)
        for (i = 0; i < h->P->g[gi].n_in && h->ret == 0; i++)
            h->ret = rvt_sha256_file(h->P->g[gi].in[i].path, h->P->g[gi].in[i].sha256, &h->err);
    return NULL;
}

static int make_slots(struct packer *P, struct rvt_error *err)
{
    size_t k;
    int gi, d, f;

    P->window = (size_t)RVT_MAX(4, 4 * P->o->jobs);
    P->slots = calloc(P->window, sizeof(*P->slots));
    P->slot_ptrs = calloc(P->window, sizeof(*P->slot_ptrs));
    if (!P->slots || !P->slot_ptrs)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (k = 0; k < P->window; k++) {
        P->slot_ptrs[k] = &P->slots[k];
        f = 0;
        for (gi = 0; gi < P->n_groups; gi++)
            for (d = 0; d < P->g[gi].n_ds; d++, f++) {
                size_t b = rvt_store_field_bytes(&P->g[gi].ds[d].info);
                P->slots[k].f[f].buf = malloc(b);
                P->slots[k].f[f].scratch = P->g[gi].ds[d].big ? malloc(b) : NULL;
                if (!P->slots[k].f[f].buf || (P->g[gi].ds[d].big && !P->slots[k].f[f].scratch))
                    return rvt_error_set(err, RVT_ENOMEM, "out of memory");
            }
    }
    return 0;
}

static void free_slots(struct packer *P)
{
    size_t k;
    int f;
    if (!P->slots)
        return;
    for (k = 0; k < P->window; k++)
        for (f = 0; f < 2 * MAX_GROUP_DS; f++) {
            struct sfield *sf = &P->slots[k].f[f];
            rvt_store_chunk_release(&sf->raw);
            rvt_store_chunk_release(&sf->enc);
            free(sf->buf);
            free(sf->scratch);
        }
    free(P->slots);
    free(P->slot_ptrs);
}

int rvt_pack(const struct rvt_pack_options *o, struct rvt_pack_report *rep, struct rvt_error *err)
{
    struct packer P;
    char *cfg_text = NULL;
    int gi, i, ret = 0;
    size_t k;
    struct hasher hash;
    pthread_t hash_thread;
    bool hashing = false;
    static const struct {
        const char *kind, *prefix, *req0, *req1;
    } kinds[2] = {{"frames", "image.", "frames", "frame_pts"}, {"mel", "audio.", "mel", "mel_frames"}};

    memset(&P, 0, sizeof(P));
    memset(rep, 0, sizeof(*rep));
    P.o = o;
    P.rep = rep;
    if (o->n_frames + o->n_mel == 0)
        return rvt_error_set(err, RVT_EINVAL, "no frames or mel stores to pack");
    if (o->n_frames > MAX_INPUTS || o->n_mel > MAX_INPUTS)
        return rvt_error_set(err, RVT_ELIMIT, "more than %d stores of a kind", MAX_INPUTS);
    if ((ret = rvt_index_load(&P.idx, o->index_path, err)) < 0)
        goto done;
    rep->n_index = P.idx.n;
    if (P.idx.n == 0) {
        ret = rvt_error_set(err, RVT_EINVAL, "'%s' lists no clips: nothing to pack", o->index_path);
        goto done;
    }
    if ((ret = check_index(&P, err)) < 0)
        goto done;
    cfg_text = rvt_config_dump(o->cfg);
    if (!cfg_text) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < 2; i++) {
        const char *const *paths = i == 0 ? o->frames : o->mel;
        int n = i == 0 ? o->n_frames : o->n_mel, j;
        struct group *g;
        if (n == 0)
            continue;
        g = &P.g[P.n_groups++];
        g->kind = kinds[i].kind;
        g->prefix = kinds[i].prefix;
        g->required[0] = kinds[i].req0;
        g->required[1] = kinds[i].req1;
        g->in = calloc(n, sizeof(*g->in));
        if (!g->in) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        for (j = 0; j < n; j++) {
            g->in[j].path = paths[j];
            g->n_in++;
            if ((ret = open_input(&P, g, &g->in[j], cfg_text, err)) < 0)
                goto done;
        }
        if ((ret = check_group(&P, g, err)) < 0)
            goto done;
    }
    if ((ret = find_missing(&P, err)) < 0)
        goto done;
    memset(&hash, 0, sizeof(hash));
    hash.P = &P;
    if (pthread_create(&hash_thread, NULL, hash_main, &hash) != 0) {
        ret = rvt_error_set(err, RVT_ENOMEM, "cannot start a thread");
        goto done;
    }
    hashing = true;
    if ((ret = create_output(&P, err)) < 0 || (ret = make_slots(&P, err)) < 0)
        goto done;
    for (k = 0; k < P.window && k < P.n_sel; k++)
        if ((ret = prefetch(&P, k, &P.slots[k], err)) < 0)
            goto done;
    rvt_progress_start(&P.prog, "pack", P.n_sel);
    ret = rvt_pool_run(P.n_sel, o->jobs > 0 ? o->jobs : 1, P.slot_ptrs, P.window, work, emit, &P, err);
    rvt_progress_end(&P.prog);
    if (ret < 0)
        goto done;
    rep->n_written = rvt_store_written(P.w);
    pthread_join(hash_thread, NULL);
    hashing = false;
    if (hash.ret < 0) {
        *err = hash.err;
        ret = hash.ret;
        goto done;
    }
    if ((ret = set_input_attrs(&P, err)) < 0)
        goto done;
    if (rep->n_missing > 0 && (ret = set_missing_attr(&P, err)) < 0)
        goto done;
    ret = rvt_store_commit(P.w, err);
done:
    if (hashing)
        pthread_join(hash_thread, NULL);
    rvt_store_free(&P.w);
    free_slots(&P);
    for (gi = 0; gi < 2; gi++) {
        for (i = 0; i < P.g[gi].n_in; i++) {
            rvt_store_close(&P.g[gi].in[i].r);
            free(P.g[gi].in[i].config);
        }
        free(P.g[gi].in);
    }
    free(cfg_text);
    free(P.sel);
    free(P.split_of);
    rvt_index_release(&P.idx);
    return ret;
}
