/*
 * qgemm_internal.h: what qgemm.c, qgemm_ref.c, quant.c and the x86 kernels share
 * and nothing else includes (tests/unit/test_qgemm.c checks the pieces one by one).
 * The public contract is qgemm.h.
 */
#ifndef RVT_NN_QGEMM_INTERNAL_H
#define RVT_NN_QGEMM_INTERNAL_H

#include "nn/qgemm.h"


extern const struct rvt_qgemm_kernels rvti_qgemm_kernels_ref;
extern const struct rvt_qgemm_kernels rvti_qgemm_kernels_avx2;
extern const struct rvt_qgemm_kernels rvti_qgemm_kernels_avx512;

/* The part of the tile grid that ith of nth computes: output rows [*o0, *o1) and
 * position blocks [*b0, *b1) (of 16).  mr: the kernel's row tile; splits stay
 * tile-aligned.  Positions are split when there are enough blocks, else rows;
 * rows_only: always rows (struct rvt_qgemm_args.split_rows). */
void rvti_qgemm_split(int n, size_t n_blocks, int mr, bool rows_only, int ith, int nth, int *o0,
                      int *o1, size_t *b0, size_t *b1);

/* Index of X[p, k] in packed activations. */
static inline size_t rvti_qx_index(size_t p, int k, int k_pad)
{
    return ((p / RVT_QGEMM_PB) * (size_t)(k_pad / 4) + (size_t)(k / 4)) * 64 + (p % 16) * 4 +
           (size_t)(k % 4);
}

/* One activation value (see pack_planes); top = 255 - zero, bot = -zero.  fminf with
 * the top first sends NaN to the top, like vminps(v, top). */
static inline uint8_t rvti_qgemm_quant1(float x, float inv_scale, float top, float bot,
                                        int32_t zero)
{
    float v = x * inv_scale;
    v = fminf(v, top);
    v = fmaxf(v, bot);
    return (uint8_t)((int32_t)nearbyintf(v) + zero);
}

/* The portable quant_rows and pack_rows (the ref level's). */
void rvti_qgemm_quant_rows_ref(const float *x, int k, size_t n, size_t ldx, float *scale,
                               int32_t *zero, uint8_t *xp, size_t p0, int k_pad,
                               const float *ks);
void rvti_qgemm_pack_rows_ref(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                              int32_t zero, uint8_t *xp, size_t p0, int k_pad, const float *ks);

/* Scalar quant_cols of positions [i0, i1) of the n given (the SIMD levels' edges); ks as
 * for quant_rows (input c of position i is x[c * ldx + i] * ks[c]), or NULL. */
void rvti_qgemm_quant_cols_span(const float *x, int k, size_t i0, size_t i1, size_t ldx,
                                float *scale, int32_t *zero, uint8_t *xp, size_t p0, int k_pad,
                                const float *ks);

/* Below this hi - lo a set of activations counts as all zero (1/scale would overflow
 * near FLT_MIN; such values are ~1e-30 and vanish next to any bias). */
#define RVT_QGEMM_MIN_RANGE 1e-30f

/*
 * The uint8 map of values spanning [lo, hi] (quant.h gives the formulas): false, with
 * scale NaN, inv 1 and zero 0, when lo or hi is NaN or infinite.  The SIMD levels
 * compute the same with the same IEEE operations (divisions, not reciprocals).
 */
static inline bool rvti_qgemm_map(float lo, float hi, float *scale, float *inv, int32_t *zero)
{
    float s, z;
    if (!(isfinite(lo) && isfinite(hi))) {
        *scale = NAN;
        *inv = 1.0f;
        *zero = 0;
        return false;
    }
    if (lo > 0.0f)
        lo = 0.0f;
    if (hi < 0.0f)
        hi = 0.0f;
    if (!(hi - lo >= RVT_QGEMM_MIN_RANGE)) {
        *scale = 1.0f;
        *inv = 1.0f;
        *zero = 0;
        return true;
    }
    s = (hi - lo) / 255.0f;
    z = nearbyintf(-lo / s);
    *scale = s;
    *inv = 1.0f / s;
    *zero = z < 0.0f ? 0 : z > 255.0f ? 255 : (int32_t)z;
    return true;
}
/* Scalar pack_planes of positions [i0, i1) of the n given (the SIMD levels' edges). */
void rvti_qgemm_pack_planes_span(const float *x, int k, size_t i0, size_t i1, size_t ldx,
                                 float inv_scale, int32_t zero, uint8_t *xp, size_t p0,
                                 int k_pad, const float *ks);

/* The epilogue of one element (every level's scalar path). */
static inline float rvti_qgemm_epi1(int32_t acc, int32_t zero, int32_t wsum, float sx,
                                    float sw, const float *bias, int o, enum rvt_qact act)
{
    float s = sx * sw;
    float v = (float)(acc - zero * wsum) * s;
    if (bias)
        v = v + bias[o];
    if (act == RVT_QACT_RELU)
        v = v > 0.0f ? v : 0.0f;
    else if (act == RVT_QACT_SILU)
        v = v / (1.0f + expf(-v)); /* nn/ops_ref.c rvt_nn_act1 */
    return v;
}

/* Address of out(o, p). */
static inline float *rvti_qgemm_out(const struct rvt_qgemm_args *g, int o, size_t p)
{
    if (g->row_w) /* gemm_t's padded rows (group 1) */
        return g->out + (p + p / g->row_w * g->row_skip) * g->out_gs + (size_t)o * g->out_cs;
    return g->out + (p / g->group) * g->out_gs + (size_t)o * g->out_cs + p % g->group;
}

#endif
