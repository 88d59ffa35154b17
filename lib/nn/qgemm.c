/* qgemm.c: weight packing, work split and kernel dispatch for the int8 GEMM. */
#include "core/common.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nn/qgemm.h"

void rvt_qmat_init(struct rvt_qmat *q)
{
    memset(q, 0, sizeof(*q));
}

void rvt_qmat_release(struct rvt_qmat *q)
{
    free(q->data);
    free(q->colsum);
    free(q->scale);
    rvt_qmat_init(q);
}

static void *alloc64(size_t n)
{
    void *p = NULL;
    n = (n + 63) / 64 * 64;
    if (posix_memalign(&p, 64, n ? n : 64))
        return NULL;
    return p;
}

int rvt_qmat_pack(struct rvt_qmat *q, const int8_t *q8, const float *scale, int n, int k,
                  struct rvt_error *err)
{
    int ret = 0;
    int n_pad, k_pad, j, kk;
    int8_t *data = NULL;
    int32_t *colsum = NULL;
    float *sc = NULL;

    if (n <= 0 || k <= 0 || k > RVT_QGEMM_MAX_K) {
        ret = rvt_error_set(err, RVT_EINVAL, "cannot pack a %d x %d int8 matrix: k must be in 1..%d",
                            n, k, RVT_QGEMM_MAX_K);
        goto done;
    }
    n_pad = (n + RVT_QGEMM_NB - 1) / RVT_QGEMM_NB * RVT_QGEMM_NB;
    k_pad = rvt_qgemm_k_pad(k);
    data = alloc64((size_t)n_pad * k_pad);
    colsum = alloc64(sizeof(*colsum) * n_pad);
    sc = alloc64(sizeof(*sc) * n_pad);
    if (!data || !colsum || !sc) {
        ret = rvt_error_set(err, RVT_ENOMEM, "cannot pack a %d x %d int8 matrix: out of memory", n, k);
        goto done;
    }
    memset(data, 0, (size_t)n_pad * k_pad);
    for (j = 0; j < n_pad; j++) {
        const int8_t *row = q8 + (size_t)j * k;
        int8_t *blk = data + (size_t)(j / RVT_QGEMM_NB) * RVT_QGEMM_NB * k_pad;
        int jj = j % RVT_QGEMM_NB;
        int32_t s = 0;

        colsum[j] = 0;
        sc[j] = 1.0f;
        if (j >= n)
            continue;
        if (!(isfinite(scale[j]) && scale[j] > 0.0f)) {
            ret = rvt_error_set(err, RVT_EINVAL, "output channel %d has scale %g (must be finite and > 0)",
                                j, (double)scale[j]);
            goto done;
        }
        for (kk = 0; kk < k; kk++) {
            if (row[kk] == INT8_MIN) {
                ret = rvt_error_set(err, RVT_EINVAL,
                                    "output channel %d holds -128 (symmetric int8 is -127..127)", j);
                goto done;
            }
            blk[(size_t)(kk / 4) * 64 + jj * 4 + kk % 4] = row[kk];
            s += row[kk];
        }
        colsum[j] = s;
        sc[j] = scale[j];
    }
    rvt_qmat_release(q);
    q->n = n;
    q->k = k;
    q->n_pad = n_pad;
    q->k_pad = k_pad;
    q->data = data;
    q->colsum = colsum;
    q->scale = sc;
    data = NULL;
    colsum = NULL;
    sc = NULL;
done:
    free(data);
    free(colsum);
    free(sc);
    return ret;
}

void rvti_qgemm_split(int m, int n_blocks, int mr, int ith, int nth, int *i0, int *i1, int *j0,
                      int *j1)
{
    int tiles = (m + mr - 1) / mr;

    assert(nth >= 1 && ith >= 0 && ith < nth);
    if (tiles >= nth || n_blocks < 2) {
        /* rows, in whole tiles: (n + nth - 1) / nth each */
        int per = (tiles + nth - 1) / nth;
        *i0 = RVT_MIN(m, ith * per * mr);
        *i1 = RVT_MIN(m, (ith + 1) * per * mr);
        *j0 = 0;
        *j1 = n_blocks;
    } else {
        /* too few rows to share (batch-1 Linear): split the column blocks instead */
        int per = (n_blocks + nth - 1) / nth;
        *i0 = 0;
        *i1 = m;
        *j0 = RVT_MIN(n_blocks, ith * per);
        *j1 = RVT_MIN(n_blocks, (ith + 1) * per);
    }
}

/* Written once under pthread_once; read-only after. */
static const struct rvt_qgemm_kernels *g_best;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

const struct rvt_qgemm_kernels *rvt_qgemm_kernels_for(enum rvt_isa isa)
{
    if (isa > rvt_cpu_isa())
        return NULL;
    switch (isa) {
    case RVT_ISA_REF: return &rvti_qgemm_ref;
    case RVT_ISA_AVX2: return &rvti_qgemm_avx2;
    case RVT_ISA_AVX512: return &rvti_qgemm_avx512;
    }
    return NULL;
}

static void pick(void)
{
    g_best = rvt_qgemm_kernels_for(rvt_cpu_isa());
    if (!g_best)
        g_best = &rvti_qgemm_ref;
}

const struct rvt_qgemm_kernels *rvt_qgemm_kernels_get(void)
{
    pthread_once(&g_once, pick);
    return g_best;
}
