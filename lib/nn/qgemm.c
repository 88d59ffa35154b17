/* qgemm.c: weight packing, work split and kernel dispatch for the int8 GEMM. */
#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/prof.h"
#include "nn/qgemm_internal.h"

void rvt_qweights_init(struct rvt_qweights *q)
{
    memset(q, 0, sizeof(*q));
}

void rvt_qweights_release(struct rvt_qweights *q)
{
    free(q->w);
    free(q->wt);
    free(q->wsum);
    free(q->scale);
    rvt_qweights_init(q);
}

static void *alloc64(size_t n)
{
    void *p = NULL;
    n = (n + 63) / 64 * 64;
    if (posix_memalign(&p, 64, n ? n : 64))
        return NULL;
    return p;
}

int rvt_qweights_set(struct rvt_qweights *q, const int8_t *q8, const float *scale, int n, int k,
                     struct rvt_error *err)
{
    int ret = 0;
    int k_pad, o, kk;
    bool w7 = true;
    int8_t *w = NULL, *wt = NULL;
    int32_t *wsum = NULL;
    float *sc = NULL;

    if (n <= 0 || k <= 0 || k > RVT_QGEMM_MAX_K) {
        ret = rvt_error_set(err, RVT_EINVAL,
                            "cannot use a %d x %d int8 matrix: k must be in 1..%d", n, k,
                            RVT_QGEMM_MAX_K);
        goto done;
    }
    k_pad = rvt_qgemm_k_pad(k);
    w = alloc64((size_t)n * k_pad);
    wt = alloc64(rvt_qgemm_pos_pad((size_t)n) * k_pad);
    wsum = alloc64(sizeof(*wsum) * n);
    sc = alloc64(sizeof(*sc) * n);
    if (!w || !wt || !wsum || !sc) {
        ret = rvt_error_set(err, RVT_ENOMEM, "cannot use a %d x %d int8 matrix: out of memory",
                            n, k);
        goto done;
    }
    memset(w, 0, (size_t)n * k_pad);
    memset(wt, 0, rvt_qgemm_pos_pad((size_t)n) * k_pad);
    for (o = 0; o < n; o++) {
        const int8_t *row = q8 + (size_t)o * k;
        int32_t s = 0;

        if (!isfinite(scale[o])) {
            ret = rvt_error_set(err, RVT_EINVAL, "output channel %d has scale %g", o,
                                (double)scale[o]);
            goto done;
        }
        for (kk = 0; kk < k; kk++) {
            if (row[kk] == INT8_MIN) {
                ret = rvt_error_set(err, RVT_EINVAL,
                                    "output channel %d holds -128 (symmetric int8 is -127..127)",
                                    o);
                goto done;
            }
            w7 = w7 && row[kk] >= -RVT_QGEMM_W7_MAX && row[kk] <= RVT_QGEMM_W7_MAX;
            w[(size_t)o * k_pad + kk] = row[kk];
            wt[rvti_qx_index((size_t)o, kk, k_pad)] = row[kk];
            s += row[kk];
        }
        wsum[o] = s;
        sc[o] = scale[o];
    }
    rvt_qweights_release(q);
    q->n = n;
    q->k = k;
    q->k_pad = k_pad;
    q->w = w;
    q->wt = wt;
    q->wsum = wsum;
    q->scale = sc;
    q->w7 = w7;
    w = NULL;
    wt = NULL;
    wsum = NULL;
    sc = NULL;
done:
    free(w);
    free(wt);
    free(wsum);
    free(sc);
    return ret;
}

void rvt_qx_clear_tail(uint8_t *xp, size_t n_pos, int k)
{
    size_t blk = (size_t)rvt_qgemm_k_pad(k) * RVT_QGEMM_PB;
    if (n_pos % RVT_QGEMM_PB)
        memset(xp + (n_pos / RVT_QGEMM_PB) * blk, 0, blk);
}

void rvti_qgemm_split(int n, size_t n_blocks, int mr, bool rows_only, int ith, int nth, int *o0,
                      int *o1, size_t *b0, size_t *b1)
{
    int tiles = (n + mr - 1) / mr;

    assert(nth >= 1 && ith >= 0 && ith < nth);
    if (!rows_only && (n_blocks >= (size_t)nth * 4 ||
                       (n_blocks >= (size_t)nth && n_blocks >= (size_t)tiles) || tiles < 2)) {
        /* position blocks: (n + nth - 1) / nth each */
        size_t per = (n_blocks + nth - 1) / nth;
        *o0 = 0;
        *o1 = n;
        *b0 = RVT_MIN(n_blocks, (size_t)ith * per);
        *b1 = RVT_MIN(n_blocks, (size_t)(ith + 1) * per);
    } else {
        /* few positions (a Linear layer, a 1x1 map): output rows in whole tiles */
        int per = (tiles + nth - 1) / nth;
        *o0 = RVT_MIN(n, ith * per * mr);
        *o1 = RVT_MIN(n, (ith + 1) * per * mr);
        *b0 = 0;
        *b1 = n_blocks;
    }
}

const struct rvt_qgemm_kernels *rvt_qgemm_kernels_for(enum rvt_isa isa)
{
    if (isa > rvt_cpu_isa())
        return NULL;
    switch (isa) {
    case RVT_ISA_REF: return &rvti_qgemm_kernels_ref;
    case RVT_ISA_AVX2: return &rvti_qgemm_kernels_avx2;
    case RVT_ISA_AVX512: return &rvti_qgemm_kernels_avx512;
    }
    return NULL;
}

const struct rvt_qgemm_kernels *rvt_qgemm_kernels(void)
{
    const struct rvt_qgemm_kernels *k = rvt_qgemm_kernels_for(rvt_cpu_isa());
    k = k ? k : &rvti_qgemm_kernels_ref;
    return rvt_nn_prof_on() ? rvti_prof_qgemm() : k;
}
