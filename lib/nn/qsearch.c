/* qsearch.c: calibration and the --budget search of quantize-model (qsearch.h). */
#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic.h"
#include "core/log.h"
#include "nn/feed.h"
#include "nn/layer.h"
#include "nn/model.h"
#include "nn/qcalib.h"
#include "nn/qsearch.h"
#include "store/store.h"

/* The calibration clips, frame 0 and mel of each, in memory. */
struct clips {
    size_t n, fsz, msz;
    uint8_t *frames;
    float *mel;
    int n_classes;
};

struct rvt_qsearch {
    struct rvt_qcalib *cal;  /* static ranges, or NULL */
    char **keys;             /* the candidates, sorted (rvt_checkpoint_plan) */
    int n_keys;
    int *order;              /* candidates in the order the forward pass first uses them */
    bool *seen;
    int n_order;
    const char **exclude;    /* qo's exclusions, then the kept candidates */
    int n_user, n_kept;
    char *config_sha;        /* the store's config_sha256, or NULL */
};

void rvt_qsearch_opts_init(struct rvt_qsearch_opts *o)
{
    *o = (struct rvt_qsearch_opts){NULL, "train", RVT_QSEARCH_MINMAX, 99.99, -1, 32};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The dense-layer observer while the fp32 model runs. */
static void observe(void *ctx, const struct rvt_nn_dense *l, const float *x, size_t n_rows,
                    size_t n, size_t ldx)
{
    struct rvt_qsearch *w = ctx;
    const char *k = l->key;
    char **hit = k ? bsearch(&k, w->keys, (size_t)w->n_keys, sizeof(*w->keys), cmp_str) : NULL;

    if (hit && !w->seen[hit - w->keys]) {
        w->seen[hit - w->keys] = true;
        w->order[w->n_order++] = (int)(hit - w->keys);
    }
    if (w->cal)
        rvt_qcalib_observe(w->cal, l->key, x, (int)n_rows, n, ldx);
}

static void clips_free(struct clips *c)
{
    free(c->frames);
    free(c->mel);
    memset(c, 0, sizeof(*c));
}

/* The first max_clips clips of the split (store order), after checking the store
 * against the model. */
static int clips_load(struct clips *c, const struct rvt_model *m, const char *model_path,
                      const struct rvt_qsearch_opts *o, char **config_sha, struct rvt_error *err)
{
    const struct rvt_model_info *info = rvt_model_get_info(m);
    struct rvt_store_reader *r = NULL;
    uint8_t *clip = NULL;
    char split[RVT_FEED_SPLIT_MAX];
    size_t n, i, cap;
    int32_t label;
    int ret, k_frames;

    memset(c, 0, sizeof(*c));
    *config_sha = NULL;
    if ((ret = rvt_store_open_kind(&r, o->features, "features", err)) < 0 ||
        (ret = rvt_feed_check(r, m, o->features, model_path, &k_frames, err)) < 0)
        goto done;
    c->fsz = (size_t)info->image_h * info->image_w * 3;
    c->msz = (size_t)info->n_mels * info->n_frames;
    c->n_classes = info->n_classes;
    n = rvt_store_count(r);
    cap = o->max_clips > 0 ? RVT_MIN(n, (size_t)o->max_clips) : n;
    c->frames = malloc(c->fsz * (cap ? cap : 1));
    c->mel = malloc(sizeof(float) * c->msz * (cap ? cap : 1));
    clip = malloc(c->fsz * (size_t)k_frames);
    if (!c->frames || !c->mel || !clip) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < n && c->n < cap; i++) {
        if ((ret = rvt_store_read(r, "clips/split", i, split, err)) < 0)
            goto done;
        if (strcmp(o->split, "all") && strcmp(split, o->split))
            continue;
        if ((ret = rvt_feed_read(r, m, k_frames, o->features, i, c->frames + c->n * c->fsz,
                                 c->mel + c->n * c->msz, &label, clip, err)) < 0)
            goto done;
        c->n++;
    }
    if (!c->n) {
        ret = rvt_error_set(err, RVT_EINVAL, "'%s' has no clip in split '%s' to calibrate on",
                            o->features, o->split);
        goto done;
    }
    if (rvt_store_get_attr(r, "config_sha256", config_sha, err) < 0) {
        rvt_error_clear(err);
        *config_sha = NULL;
    }
done:
    if (ret < 0)
        clips_free(c);
    rvt_store_close(&r);
    free(clip);
    return ret;
}

/* logits [c->n][n_classes] of model m on the clips, one clip at a time. */
static int clips_run(const struct rvt_model *m, const struct clips *c, float *logits,
                     struct rvt_error *err)
{
    struct rvt_nn_session *s = NULL;
    size_t i;
    int ret = rvt_nn_session_new(&s, m, 1, err);

    for (i = 0; ret >= 0 && i < c->n; i++)
        rvt_model_forward(s, 1, c->frames + i * c->fsz, c->mel + i * c->msz,
                          logits + i * (size_t)c->n_classes);
    rvt_nn_session_free(&s);
    return ret;
}

/* ||a - b|| / ||a|| over n values. */
static double rel_err(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)a[i] * a[i];
    }
    return s > 0 ? sqrt(d / s) : sqrt(d);
}

/* The int8-vs-fp32 error with the first m candidates (forward order) kept fp32. */
static int budget_error(struct rvt_qsearch *s, const char *in, const char *out,
                        struct rvt_quantize_opts *qo, int m, const struct clips *c,
                        const float *ref, float *logits, double *e, struct rvt_error *err)
{
    struct rvt_quantize_report rep = {0};
    struct rvt_model *q = NULL;
    struct rvt_atomic trial = {0};
    int ret, i;

    for (i = 0; i < m; i++)
        s->exclude[s->n_user + i] = s->keys[s->order[i]];
    qo->exclude = s->exclude;
    qo->n_exclude = s->n_user + m;
    /* the trial checkpoint goes to a named temporary beside the output, which the
     * signal handlers and the sweep of dead writers remove (atomic.h) */
    ret = rvt_atomic_open_named(&trial, out, err);
    if (ret >= 0)
        ret = rvt_checkpoint_quantize(in, trial.tmp_path, qo, &rep, err);
    if (ret >= 0)
        ret = rvt_model_load(&q, trial.tmp_path, err);
    if (ret >= 0)
        ret = clips_run(q, c, logits, err);
    if (ret >= 0)
        *e = rel_err(ref, logits, c->n * (size_t)c->n_classes);
    rvt_model_free(&q);
    rvt_quantize_report_release(&rep);
    rvt_atomic_abort(&trial);
    return ret;
}

/* The binary search of the fewest leading candidates kept fp32 (the error shrinks as
 * more of the network stays fp32; m = n_keys is fp32 throughout, error 0). */
static int search(struct rvt_qsearch *s, const char *in, const char *out, double budget,
                  struct rvt_quantize_opts *qo, const struct clips *c, const float *ref,
                  float *lg, struct rvt_error *err)
{
    double e = 0;
    int lo = 0, hi = s->n_keys, ret;

    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if ((ret = budget_error(s, in, out, qo, mid, c, ref, lg, &e, err)) < 0)
            return ret;
        rvt_debugf("budget: first %d of %d kept fp32: error %.5f", mid, s->n_keys, e);
        if (e <= budget)
            hi = mid;
        else
            lo = mid + 1;
    }
    if ((ret = budget_error(s, in, out, qo, lo, c, ref, lg, &e, err)) < 0)
        return ret;
    s->n_kept = lo;
    qo->budget = budget;
    qo->budget_error = e;
    return 0;
}

/* Runs the fp32 model on the clips: static ranges, the forward order of the
 * candidates, reference logits `ref`. */
static int observe_clips(struct rvt_qsearch *s, const struct rvt_model *m,
                         const struct clips *c, float *ref, struct rvt_error *err)
{
    struct rvt_progress prog;
    int pass, passes = s->cal ? rvt_qcalib_passes(s->cal) : 1, ret = 0, i;

    rvt_progress_start(&prog, "calibrate", c->n * (size_t)passes);
    rvt_nn_dense_set_observer(observe, s);
    for (pass = 0; pass < passes && ret >= 0; pass++) {
        if (s->cal)
            rvt_qcalib_begin_pass(s->cal, pass);
        ret = clips_run(m, c, ref, err);
        rvt_progress_update(&prog, (size_t)(pass + 1) * c->n);
    }
    rvt_nn_dense_set_observer(NULL, NULL);
    rvt_progress_end(&prog);
    /* candidates the forward pass never used go last */
    for (i = 0; i < s->n_keys; i++)
        if (!s->seen[i])
            s->order[s->n_order++] = i;
    return ret;
}

int rvt_qsearch_run(struct rvt_qsearch **out_s, const char *in, const char *out,
                    const struct rvt_qsearch_opts *o, struct rvt_quantize_opts *qo,
                    struct rvt_error *err)
{
    struct rvt_qsearch *s = calloc(1, sizeof(*s));
    struct rvt_model *m = NULL;
    struct clips c = {0};
    float *ref = NULL, *lg = NULL;
    int ret = 0;

    *out_s = s;
    if (!s)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if ((ret = rvt_checkpoint_plan(in, qo, &s->keys, &s->n_keys, err)) < 0)
        goto done;
    s->n_user = qo->n_exclude;
    s->order = calloc((size_t)s->n_keys + 1, sizeof(*s->order));
    s->seen = calloc((size_t)s->n_keys + 1, sizeof(*s->seen));
    s->exclude = calloc((size_t)(s->n_user + s->n_keys) + 1, sizeof(*s->exclude));
    if (!s->order || !s->seen || !s->exclude) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    if (s->n_user)
        memcpy(s->exclude, qo->exclude, sizeof(*s->exclude) * (size_t)s->n_user);
    if ((ret = rvt_model_load(&m, in, err)) < 0 ||
        (ret = clips_load(&c, m, in, o, &s->config_sha, err)) < 0)
        goto done;
    if (o->method != RVT_QSEARCH_DYNAMIC &&
        (ret = rvt_qcalib_new(&s->cal, s->keys, s->n_keys,
                              o->method == RVT_QSEARCH_PERCENTILE ? RVT_QCALIB_PERCENTILE
                                                                   : RVT_QCALIB_MINMAX,
                              o->percentile, err)) < 0)
        goto done;
    ref = malloc(sizeof(float) * c.n * (size_t)c.n_classes);
    lg = malloc(sizeof(float) * c.n * (size_t)c.n_classes);
    if (!ref || !lg) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    if ((ret = observe_clips(s, m, &c, ref, err)) < 0)
        goto done;
    if (s->cal) {
        if ((ret = rvt_qcalib_ranges(s->cal, &qo->ranges, &qo->n_ranges, err)) < 0) {
            rvt_error_prefix(err, "calibration on '%s'", o->features);
            goto done;
        }
        qo->activations = o->method == RVT_QSEARCH_PERCENTILE ? "static-percentile"
                                                              : "static-minmax";
        qo->percentile = o->percentile;
    }
    qo->calibration = o->features;
    qo->calibration_clips = (long)c.n;
    qo->calibration_split = o->split;
    qo->calibration_config_sha256 = s->config_sha;
    if (o->budget >= 0 && (ret = search(s, in, out, o->budget, qo, &c, ref, lg, err)) < 0)
        goto done;
    qo->exclude = s->exclude;
    qo->n_exclude = s->n_user + s->n_kept;
done:
    rvt_nn_dense_set_observer(NULL, NULL);
    rvt_model_free(&m);
    clips_free(&c);
    free(ref);
    free(lg);
    return ret;
}

int rvt_qsearch_kept(const struct rvt_qsearch *s)
{
    return s ? s->n_kept : 0;
}

int rvt_qsearch_candidates(const struct rvt_qsearch *s)
{
    return s ? s->n_keys : 0;
}

void rvt_qsearch_free(struct rvt_qsearch **ps)
{
    struct rvt_qsearch *s = *ps;
    if (!s)
        return;
    rvt_quantize_keys_free(s->keys, s->n_keys);
    rvt_qcalib_free(&s->cal);
    free(s->order);
    free(s->seen);
    free(s->exclude);
    free(s->config_sha);
    free(s);
    *ps = NULL;
}
