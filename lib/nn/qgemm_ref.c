/*
 * qgemm_ref.c: the portable C int8 kernels, the definition every SIMD level must match
 * bit for bit (see qgemm.h).
 */
#include "core/common.h"

#include <math.h>

#include "nn/qgemm.h"

static inline int8_t packed_at(const struct rvt_qmat *b, int j, int k)
{
    size_t blk = (size_t)(j / RVT_QGEMM_NB) * (b->k_pad / 4) + (size_t)(k / 4);
    return b->data[blk * 64 + (size_t)(j % RVT_QGEMM_NB) * 4 + (size_t)(k % 4)];
}

static void gemm_ref(const struct rvt_qgemm_args *g, int ith, int nth)
{
    const struct rvt_qmat *b = g->b;
    int i0, i1, jb0, jb1, i, j, k;

    assert((g->c != NULL) != (g->out != NULL));
    assert(g->lda >= (size_t)b->k_pad);
    rvti_qgemm_split(g->m, b->n_pad / RVT_QGEMM_NB, 1, ith, nth, &i0, &i1, &jb0, &jb1);
    for (i = i0; i < i1; i++) {
        const uint8_t *a = g->a + (size_t)i * g->lda;
        int j1 = RVT_MIN(b->n, jb1 * RVT_QGEMM_NB);
        float sa = 0.0f;
        int32_t za = 0;

        if (g->out) {
            sa = g->a_scale[i / g->a_group];
            za = g->a_zero[i / g->a_group];
        }
        for (j = jb0 * RVT_QGEMM_NB; j < j1; j++) {
            int32_t acc = 0;
            for (k = 0; k < b->k_pad; k++)
                acc += (int32_t)a[k] * packed_at(b, j, k);
            if (g->c)
                g->c[(size_t)i * g->ldc + j] = acc;
            else
                g->out[(size_t)i * g->out_rs + (size_t)j * g->out_cs] =
                    rvti_qgemm_epi1(acc, za, b->colsum[j], sa, b->scale[j], g->bias, j, g->act);
        }
    }
}

static void minmax_ref(const float *x, size_t n, float *lo, float *hi)
{
    float l = INFINITY, h = -INFINITY;
    bool nan = false;
    size_t i;
    for (i = 0; i < n; i++) {
        if (x[i] < l)
            l = x[i];
        if (x[i] > h)
            h = x[i];
        nan |= isnan(x[i]);
    }
    *lo = nan ? NAN : l;
    *hi = nan ? NAN : h;
}

static void quantize_ref(const float *x, size_t n, float inv_scale, int32_t zero, uint8_t *q)
{
    float top = (float)(255 - zero), bot = (float)-zero;
    size_t i;
    for (i = 0; i < n; i++)
        q[i] = rvti_qgemm_quant1(x[i], inv_scale, top, bot, zero);
}

void rvti_qgemm_quantize_t_ref(const float *x, int c, size_t hw, size_t ldx, float inv_scale,
                               int32_t zero, uint8_t *q, size_t ldq, int c_pad)
{
    float top = (float)(255 - zero), bot = (float)-zero;
    size_t p;
    int ch;
    for (p = 0; p < hw; p++) {
        for (ch = 0; ch < c; ch++)
            q[p * ldq + ch] = rvti_qgemm_quant1(x[(size_t)ch * ldx + p], inv_scale, top, bot, zero);
        for (; ch < c_pad; ch++)
            q[p * ldq + ch] = 0;
    }
}

const struct rvt_qgemm_kernels rvti_qgemm_ref = {
    .isa = RVT_ISA_REF,
    .gemm = gemm_ref,
    .minmax = minmax_ref,
    .quantize = quantize_ref,
    .quantize_t = rvti_qgemm_quantize_t_ref,
};
