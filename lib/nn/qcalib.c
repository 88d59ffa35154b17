/* qcalib.c: static activation ranges (see qcalib.h). */
#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/qcalib.h"
#include "nn/qgemm.h"

struct layer {
    char *key;
    float lo, hi;        /* pass 0 */
    bool seen, bad;      /* bad: NaN or Inf seen */
    uint64_t *hist;      /* percentile: [RVT_QCALIB_BINS] */
    uint64_t count;
};

struct rvt_qcalib {
    enum rvt_qcalib_method method;
    double percentile;
    int pass;
    struct layer *l; /* sorted by key */
    int n;
    struct rvt_quantize_range *ranges;
};

static int cmp_layer(const void *a, const void *b)
{
    return strcmp(((const struct layer *)a)->key, ((const struct layer *)b)->key);
}

void rvt_qcalib_free(struct rvt_qcalib **cp)
{
    struct rvt_qcalib *c = *cp;
    int i;
    if (!c)
        return;
    for (i = 0; i < c->n; i++) {
        free(c->l[i].key);
        free(c->l[i].hist);
    }
    free(c->l);
    free(c->ranges);
    free(c);
    *cp = NULL;
}

int rvt_qcalib_new(struct rvt_qcalib **out, char *const *keys, int n_keys,
                   enum rvt_qcalib_method method, double percentile, struct rvt_error *err)
{
    struct rvt_qcalib *c = calloc(1, sizeof(*c));
    int ret = 0, i;

    *out = NULL;
    if (!c) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    if (method == RVT_QCALIB_PERCENTILE && !(percentile > 50.0 && percentile <= 100.0)) {
        ret = rvt_error_set(err, RVT_EINVAL, "percentile %g is not in (50, 100]", percentile);
        goto done;
    }
    c->method = method;
    c->percentile = percentile;
    c->l = calloc((size_t)(n_keys ? n_keys : 1), sizeof(*c->l));
    c->ranges = calloc((size_t)(n_keys ? n_keys : 1), sizeof(*c->ranges));
    if (!c->l || !c->ranges) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < n_keys; i++) {
        struct layer *l = &c->l[c->n++];
        l->key = strdup(keys[i]);
        l->lo = INFINITY;
        l->hi = -INFINITY;
        if (method == RVT_QCALIB_PERCENTILE)
            l->hist = calloc(RVT_QCALIB_BINS, sizeof(*l->hist));
        if (!l->key || (method == RVT_QCALIB_PERCENTILE && !l->hist)) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
    }
    qsort(c->l, (size_t)c->n, sizeof(*c->l), cmp_layer);
    *out = c;
    c = NULL;
done:
    rvt_qcalib_free(&c);
    return ret;
}

int rvt_qcalib_passes(const struct rvt_qcalib *c)
{
    return c->method == RVT_QCALIB_PERCENTILE ? 2 : 1;
}

void rvt_qcalib_begin_pass(struct rvt_qcalib *c, int pass)
{
    c->pass = pass;
}

static struct layer *find(struct rvt_qcalib *c, const char *key)
{
    struct layer k = {.key = (char *)key};
    return bsearch(&k, c->l, (size_t)c->n, sizeof(*c->l), cmp_layer);
}

void rvt_qcalib_observe(struct rvt_qcalib *c, const char *key, const float *x, int k, size_t n,
                        size_t ldx)
{
    const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels();
    struct layer *l = key ? find(c, key) : NULL;
    int i;

    if (!l || l->bad || !n || k <= 0)
        return;
    if (c->pass == 0) {
        for (i = 0; i < k; i++) {
            float lo, hi;
            kr->minmax(x + (size_t)i * ldx, n, &lo, &hi);
            if (!isfinite(lo) || !isfinite(hi)) {
                l->bad = true;
                return;
            }
            l->lo = fminf(l->lo, lo);
            l->hi = fmaxf(l->hi, hi);
        }
        l->seen = true;
    } else if (l->hist && l->hi > l->lo) {
        double w = (double)RVT_QCALIB_BINS / ((double)l->hi - l->lo);
        size_t j;
        for (i = 0; i < k; i++)
            for (j = 0; j < n; j++) {
                double b = ((double)x[(size_t)i * ldx + j] - l->lo) * w;
                long bi = b < 0 ? 0 : b >= RVT_QCALIB_BINS ? RVT_QCALIB_BINS - 1 : (long)b;
                l->hist[bi]++;
            }
        l->count += (uint64_t)k * n;
    }
}

int rvt_qcalib_ranges(struct rvt_qcalib *c, const struct rvt_quantize_range **ranges, int *n,
                      struct rvt_error *err)
{
    int ret = 0, i;

    for (i = 0; i < c->n; i++) {
        struct layer *l = &c->l[i];
        struct rvt_quantize_range *r = &c->ranges[i];
        if (l->bad) {
            ret = rvt_error_set(err, RVT_EINVAL, "the input of '%s' held NaN or Inf", l->key);
            goto done;
        }
        if (!l->seen) {
            ret = rvt_error_set(err, RVT_EINVAL, "the input of '%s' was never seen", l->key);
            goto done;
        }
        r->key = l->key;
        r->lo = l->lo;
        r->hi = l->hi;
        if (l->hist && l->count && l->hi > l->lo) {
            double q = (100.0 - c->percentile) / 100.0, bw = ((double)l->hi - l->lo) / RVT_QCALIB_BINS;
            uint64_t lo_n = (uint64_t)floor(q * (double)l->count), hi_n = l->count - lo_n, acc = 0;
            int b;
            /* lo: the left edge of the bin holding the (lo_n + 1)-th smallest value;
             * hi: the right edge of the bin holding the hi_n-th */
            for (b = 0; b < RVT_QCALIB_BINS; b++) {
                if (acc + l->hist[b] > lo_n)
                    break;
                acc += l->hist[b];
            }
            r->lo = (float)(l->lo + b * bw);
            for (acc = 0, b = 0; b < RVT_QCALIB_BINS; b++) {
                acc += l->hist[b];
                if (acc >= hi_n)
                    break;
            }
            r->hi = b >= RVT_QCALIB_BINS - 1 ? l->hi : (float)(l->lo + (b + 1) * bw);
            if (r->lo < l->lo)
                r->lo = l->lo;
        }
    }
    *ranges = c->ranges;
    *n = c->n;
done:
    return ret;
}
