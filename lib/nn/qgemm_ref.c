/*
 * qgemm_ref.c: the portable C int8 kernels, the definition every SIMD level must match
 * bit for bit (see qgemm.h).
 */
#include "core/common.h"

#include <math.h>
#include <string.h>

#include "nn/qgemm_internal.h"

static void gemm_ref(const struct rvt_qgemm_args *g, int ith, int nth)
{
    const struct rvt_qweights *w = g->w;
    size_t n_blocks = rvt_qgemm_pos_pad(g->n_pos) / RVT_QGEMM_PB, b0, b1, p, p1;
    int o0, o1, o, k;

    assert((g->c != NULL) != (g->out != NULL));
    assert(!g->post || (g->out && (g->group >= g->n_pos || (g->group == 1 && g->out_gs == 1))));
    assert(!g->res || (g->out && g->group == 1 && g->out_cs == 1));
    rvti_qgemm_split(w->n, n_blocks, 1, g->split_rows, ith, nth, &o0, &o1, &b0, &b1);
    p1 = RVT_MIN(g->n_pos, b1 * RVT_QGEMM_PB);
    for (o = o0; o < o1; o++) {
        const int8_t *wr = w->w + (size_t)o * w->k_pad;
        for (p = b0 * RVT_QGEMM_PB; p < p1; p++) {
            int32_t acc = 0;
            for (k = 0; k < w->k_pad; k++)
                acc += (int32_t)wr[k] * g->xp[rvti_qx_index(p, k, w->k_pad)];
            if (g->c)
                g->c[(size_t)o * g->ldc + p] = acc;
            else {
                float v = rvti_qgemm_epi1(acc, g->x_zero[p / g->group], w->wsum[o],
                                          g->x_scale[p / g->group], w->scale[o], g->bias, o,
                                          g->act);
                if (g->res) /* gemm_t's residual (group 1) */
                    v = v + g->res[p * g->ld_res + (size_t)o];
                *rvti_qgemm_out(g, o, p) = v;
            }
        }
        if (g->post && p1 > b0 * RVT_QGEMM_PB)
            g->post(g->post_ctx, o, b0 * RVT_QGEMM_PB, rvti_qgemm_out(g, o, b0 * RVT_QGEMM_PB),
                    p1 - b0 * RVT_QGEMM_PB);
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

void rvti_qgemm_pack_planes_span(const float *x, int k, size_t i0, size_t i1, size_t ldx,
                                 float inv_scale, int32_t zero, uint8_t *xp, size_t p0,
                                 int k_pad, const float *ks)
{
    float top = (float)(255 - zero), bot = (float)-zero;
    size_t i;
    int c;
    for (i = i0; i < i1; i++) {
        for (c = 0; c < k; c++)
            xp[rvti_qx_index(p0 + i, c, k_pad)] =
                rvti_qgemm_quant1(ks ? x[(size_t)c * ldx + i] * ks[c] : x[(size_t)c * ldx + i],
                                  inv_scale, top, bot, zero);
        for (; c < k_pad; c++)
            xp[rvti_qx_index(p0 + i, c, k_pad)] = 0;
    }
}

static void pack_planes_ref(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                            int32_t zero, uint8_t *xp, size_t p0, int k_pad)
{
    rvti_qgemm_pack_planes_span(x, k, 0, n, ldx, inv_scale, zero, xp, p0, k_pad, NULL);
}

void rvti_qgemm_quant_cols_span(const float *x, int k, size_t i0, size_t i1, size_t ldx,
                                float *scale, int32_t *zero, uint8_t *xp, size_t p0, int k_pad,
                                const float *ks)
{
    size_t i;
    int c;
    for (i = i0; i < i1; i++) {
        float l = INFINITY, h = -INFINITY, inv, top, bot;
        bool nan = false;
        for (c = 0; c < k; c++) {
            float v = ks ? x[(size_t)c * ldx + i] * ks[c] : x[(size_t)c * ldx + i];
            if (v < l)
                l = v;
            if (v > h)
                h = v;
            nan |= isnan(v);
        }
        if (nan)
            l = h = NAN;
        rvti_qgemm_map(l, h, &scale[i], &inv, &zero[i]);
        top = (float)(255 - zero[i]);
        bot = (float)-zero[i];
        for (c = 0; c < k; c++)
            xp[rvti_qx_index(p0 + i, c, k_pad)] =
                rvti_qgemm_quant1(ks ? x[(size_t)c * ldx + i] * ks[c] : x[(size_t)c * ldx + i],
                                  inv, top, bot, zero[i]);
        for (; c < k_pad; c++)
            xp[rvti_qx_index(p0 + i, c, k_pad)] = 0;
    }
}

/* the row kernels: the column kernels' code with x[c * ldx + i] read as x[i * ldx + c] */
void rvti_qgemm_quant_rows_ref(const float *x, int k, size_t n, size_t ldx, float *scale,
                               int32_t *zero, uint8_t *xp, size_t p0, int k_pad,
                               const float *ks)
{
    size_t i;
    for (i = 0; i < n; i++)
        rvti_qgemm_quant_cols_span(x + i * ldx, k, 0, 1, 1, scale + i, zero + i, xp, p0 + i, k_pad,
                                   ks);
}

void rvti_qgemm_pack_rows_ref(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                              int32_t zero, uint8_t *xp, size_t p0, int k_pad, const float *ks)
{
    size_t i;
    for (i = 0; i < n; i++)
        rvti_qgemm_pack_planes_span(x + i * ldx, k, 0, 1, 1, inv_scale, zero, xp, p0 + i, k_pad,
                                    ks);
}

static void quant_cols_ref(const float *x, int k, size_t n, size_t ldx, float *scale, int32_t *zero,
                           uint8_t *xp, size_t p0, int k_pad)
{
    rvti_qgemm_quant_cols_span(x, k, 0, n, ldx, scale, zero, xp, p0, k_pad, NULL);
}

const struct rvt_qgemm_kernels rvti_qgemm_kernels_ref = {
    .isa = RVT_ISA_REF,
    .gemm = gemm_ref,
    .minmax = minmax_ref,
    .pack_planes = pack_planes_ref,
    .quant_cols = quant_cols_ref,
    .gemm_t = gemm_ref, /* gemm's definition covers the channels-last layout */
    .pack_rows = rvti_qgemm_pack_rows_ref,
    .quant_rows = rvti_qgemm_quant_rows_ref,
};
