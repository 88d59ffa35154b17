/*
 * qgemm_avx2.c: int8 kernels for AVX2.
 *
 * AVX2 has no vpdpbusd, and vpmaddubsw (u8 x s8 pairs summed into int16) saturates:
 * 255 * 127 * 2 = 64770 > 32767, so it would disagree with the reference.  Instead both
 * operands are widened to int16 and multiplied with vpmaddwd, whose pair sums land in
 * int32 exactly.  Activations keep the VNNI packing (qgemm.h): 16 bytes of a 64-byte
 * vector are 4 positions x 4 k; widened, each int32 lane of the product holds a half
 * (k 0-1 or k 2-3) of one position, against the 4 weight bytes of an output channel
 * widened and repeated ([w0 w1 w2 w3] x 4).  The halves are added once per tile with
 * vphaddd.  ref: Intel SDM vol. 2, PMADDWD and PMADDUBSW (saturation).
 */
#include "core/common.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "nn/qgemm_internal.h"

#define MR 2

/* [w0 w1 w2 w3] as int16, repeated four times. */
static inline __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_cvtepi8_epi16(_mm_set1_epi32(v));
}

/* Stores the sums of output channel o at positions p..p+np-1 (np <= 8). */
static inline void store8(const struct rvt_qgemm_args *g, __m256i acc, int o, size_t p, int np)
{
    const struct rvt_qweights *w = g->w;
    int32_t ti[8];
    float tf[8];
    int j;

    if (np > 8)
        np = 8;
    if (g->c) {
        if (np == 8) {
            _mm256_storeu_si256((__m256i *)(g->c + (size_t)o * g->ldc + p), acc);
        } else {
            _mm256_storeu_si256((__m256i *)ti, acc);
            for (j = 0; j < np; j++)
                g->c[(size_t)o * g->ldc + p + j] = ti[j];
        }
    } else {
        size_t g0 = p / g->group, g1 = (p + np - 1) / g->group;
        bool one = g0 == g1;
        __m256 sx;
        __m256i zx, t;
        __m256 s, v;

        if (one) {
            sx = _mm256_set1_ps(g->x_scale[g0]);
            zx = _mm256_set1_epi32(g->x_zero[g0]);
        } else if (g->group == 1 && np == 8) {
            /* per-position maps (dynamic per-column quantization) */
            sx = _mm256_loadu_ps(g->x_scale + p);
            zx = _mm256_loadu_si256((const __m256i *)(g->x_zero + p));
            one = g->out_gs == 1; /* then the 8 outputs are consecutive */
        } else {
            float sv[8] = {0};
            int32_t zv[8] = {0};
            for (j = 0; j < np; j++) {
                sv[j] = g->x_scale[(p + j) / g->group];
                zv[j] = g->x_zero[(p + j) / g->group];
            }
            sx = _mm256_loadu_ps(sv);
            zx = _mm256_loadu_si256((const __m256i *)zv);
        }
        t = _mm256_sub_epi32(acc, _mm256_mullo_epi32(zx, _mm256_set1_epi32(w->wsum[o])));
        s = _mm256_mul_ps(sx, _mm256_set1_ps(w->scale[o]));
        v = _mm256_mul_ps(_mm256_cvtepi32_ps(t), s);
        if (g->bias)
            v = _mm256_add_ps(v, _mm256_set1_ps(g->bias[o]));
        if (g->act == RVT_QACT_RELU)
            v = _mm256_max_ps(v, _mm256_setzero_ps()); /* NaN, -0 -> +0 like the ref */
        if (one && np == 8) {
            _mm256_storeu_ps(rvti_qgemm_out(g, o, p), v);
        } else {
            _mm256_storeu_ps(tf, v);
            for (j = 0; j < np; j++)
                *rvti_qgemm_out(g, o, p + j) = tf[j];
        }
    }
}

/* mr output channels x one block of 16 positions. */
static inline __attribute__((always_inline)) void tile(const struct rvt_qgemm_args *g, int o,
                                                       size_t pb, const int mr)
{
    const struct rvt_qweights *w = g->w;
    const uint8_t *xb = g->xp + pb * RVT_QGEMM_PB * w->k_pad;
    const int8_t *wr = w->w + (size_t)o * w->k_pad;
    const int kqn = w->k_pad / 4;
    size_t p = pb * RVT_QGEMM_PB;
    int np = (int)RVT_MIN((size_t)RVT_QGEMM_PB, g->n_pos - p);
    __m256i acc[MR][4];
    int r, c, kq;

#pragma GCC unroll 4
    for (r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (c = 0; c < 4; c++)
            acc[r][c] = _mm256_setzero_si256();
    for (kq = 0; kq < kqn; kq++) {
        __m256i wv[MR];
#pragma GCC unroll 4
        for (r = 0; r < mr; r++)
            wv[r] = bcast4(wr + (size_t)r * w->k_pad + (size_t)kq * 4);
#pragma GCC unroll 4
        for (c = 0; c < 4; c++) {
            __m256i xv = _mm256_cvtepu8_epi16(
                _mm_load_si128((const __m128i *)(xb + (size_t)kq * 64 + c * 16)));
#pragma GCC unroll 4
            for (r = 0; r < mr; r++)
                acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(xv, wv[r]));
        }
    }
#pragma GCC unroll 4
    for (r = 0; r < mr; r++) {
        /* hadd gives positions 0 1 4 5 2 3 6 7 in 64-bit pairs; vpermq 0xD8 restores order */
        __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][0], acc[r][1]), 0xD8);
        __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][2], acc[r][3]), 0xD8);
        store8(g, lo, o + r, p, np);
        if (np > 8)
            store8(g, hi, o + r, p + 8, np - 8);
        if (g->post)
            g->post(g->post_ctx, o + r, p, rvti_qgemm_out(g, o + r, p), (size_t)np);
    }
}

static void tile_1(const struct rvt_qgemm_args *g, int o, size_t pb) { tile(g, o, pb, 1); }
static void tile_2(const struct rvt_qgemm_args *g, int o, size_t pb) { tile(g, o, pb, 2); }

static void gemm_avx2(const struct rvt_qgemm_args *g, int ith, int nth)
{
    size_t n_blocks = rvt_qgemm_pos_pad(g->n_pos) / RVT_QGEMM_PB, b0, b1, pb;
    int o0, o1, o;

    assert((g->c != NULL) != (g->out != NULL));
    assert(!g->post || (g->out && (g->group >= g->n_pos || (g->group == 1 && g->out_gs == 1))));
    assert(g->act != RVT_QACT_SILU && !g->row_w && !g->res); /* gemm_t's */
    rvti_qgemm_split(g->w->n, n_blocks, MR, g->split_rows, ith, nth, &o0, &o1, &b0, &b1);
    for (pb = b0; pb < b1; pb++) {
        for (o = o0; o + MR <= o1; o += MR)
            tile_2(g, o, pb);
        for (; o < o1; o++)
            tile_1(g, o, pb);
    }
}

static void minmax_avx2(const float *x, size_t n, float *lo, float *hi)
{
    __m256 l = _mm256_set1_ps(INFINITY), h = _mm256_set1_ps(-INFINITY);
    __m256 un = _mm256_setzero_ps();
    float tl[8], th[8], rl, rh;
    bool nan;
    size_t i = 0;
    int k;

    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        l = _mm256_min_ps(v, l); /* NaN in v keeps l; NaNs are counted apart */
        h = _mm256_max_ps(v, h);
        un = _mm256_or_ps(un, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    nan = _mm256_movemask_ps(un) != 0;
    _mm256_storeu_ps(tl, l);
    _mm256_storeu_ps(th, h);
    rl = tl[0];
    rh = th[0];
    for (k = 1; k < 8; k++) {
        if (tl[k] < rl)
            rl = tl[k];
        if (th[k] > rh)
            rh = th[k];
    }
    for (; i < n; i++) {
        if (x[i] < rl)
            rl = x[i];
        if (x[i] > rh)
            rh = x[i];
        nan |= isnan(x[i]);
    }
    *lo = nan ? NAN : rl;
    *hi = nan ? NAN : rh;
}

/* 8 values -> 8 int32 in 0..255, as rvti_qgemm_quant1. */
static inline __m256i quant8(const float *x, __m256 inv, __m256 top, __m256 bot, __m256i zero)
{
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), inv);
    v = _mm256_min_ps(v, top); /* NaN -> top, as fminf(v, top) */
    v = _mm256_max_ps(v, bot);
    return _mm256_add_epi32(_mm256_cvtps_epi32(v), zero);
}

static void pack_planes_avx2(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                             int32_t zero, uint8_t *xp, size_t p0, int k_pad)
{
    __m256 vinv = _mm256_set1_ps(inv_scale), vtop = _mm256_set1_ps((float)(255 - zero)),
           vbot = _mm256_set1_ps((float)-zero);
    __m256i vz = _mm256_set1_epi32(zero);
    size_t head = (RVT_QGEMM_PB - p0 % RVT_QGEMM_PB) % RVT_QGEMM_PB, i;
    int kq, h, c;

    if (head > n)
        head = n;
    rvti_qgemm_pack_planes_span(x, k, 0, head, ldx, inv_scale, zero, xp, p0, k_pad, NULL);
    /* whole blocks: plane c's byte in bits 8c.. of each position's dword */
    for (i = head; i + RVT_QGEMM_PB <= n; i += RVT_QGEMM_PB) {
        uint8_t *dst = xp + rvti_qx_index(p0 + i, 0, k_pad);
        for (kq = 0; kq < k_pad / 4; kq++) {
            for (h = 0; h < 2; h++) {
                __m256i v = _mm256_setzero_si256();
                for (c = 0; c < 4 && kq * 4 + c < k; c++)
                    v = _mm256_or_si256(
                        v, _mm256_slli_epi32(quant8(x + (size_t)(kq * 4 + c) * ldx + i + h * 8,
                                                    vinv, vtop, vbot, vz),
                                             8 * c));
                _mm256_store_si256((__m256i *)(dst + (size_t)kq * 64 + h * 32), v);
            }
        }
    }
    rvti_qgemm_pack_planes_span(x, k, i, n, ldx, inv_scale, zero, xp, p0, k_pad, NULL);
}

/* rvti_qgemm_map on 8 lanes: the same IEEE operations, the special cases blended in. */
static inline void map8(__m256 lo, __m256 hi, __m256 nan, __m256 *scale, __m256 *inv,
                        __m256i *zero)
{
    const __m256 zf = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 inf = _mm256_set1_ps(INFINITY);
    /* NaN (counted apart) or +-inf in lo or hi */
    __m256 bad = _mm256_or_ps(nan, _mm256_or_ps(_mm256_cmp_ps(_mm256_and_ps(lo, absmask), inf, _CMP_EQ_OQ),
                                                 _mm256_cmp_ps(_mm256_and_ps(hi, absmask), inf, _CMP_EQ_OQ)));
    __m256 l = _mm256_min_ps(lo, zf), h = _mm256_max_ps(hi, zf); /* +-0 differ only in sign */
    __m256 r = _mm256_sub_ps(h, l);
    __m256 big = _mm256_andnot_ps(bad, _mm256_cmp_ps(r, _mm256_set1_ps(RVT_QGEMM_MIN_RANGE), _CMP_GE_OQ));
    __m256 sc = _mm256_div_ps(r, _mm256_set1_ps(255.0f));
    __m256i z = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_sub_ps(zf, l), sc));

    z = _mm256_min_epi32(_mm256_max_epi32(z, _mm256_setzero_si256()), _mm256_set1_epi32(255));
    *scale = _mm256_blendv_ps(_mm256_blendv_ps(one, sc, big), _mm256_set1_ps(NAN), bad);
    *inv = _mm256_blendv_ps(one, _mm256_div_ps(one, sc), big);
    *zero = _mm256_and_si256(z, _mm256_castps_si256(big));
}

static void quant_cols_avx2(const float *x, int k, size_t n, size_t ldx, float *scale,
                            int32_t *zero, uint8_t *xp, size_t p0, int k_pad)
{
    size_t head = (RVT_QGEMM_PB - p0 % RVT_QGEMM_PB) % RVT_QGEMM_PB, i;
    int kq, h2, c;

    if (head > n)
        head = n;
    rvti_qgemm_quant_cols_span(x, k, 0, head, ldx, scale, zero, xp, p0, k_pad, NULL);
    for (i = head; i + RVT_QGEMM_PB <= n; i += RVT_QGEMM_PB) {
        uint8_t *dst = xp + rvti_qx_index(p0 + i, 0, k_pad);
        for (h2 = 0; h2 < 2; h2++) {
            size_t ih = i + (size_t)h2 * 8;
            __m256 l = _mm256_set1_ps(INFINITY), h = _mm256_set1_ps(-INFINITY);
            __m256 un = _mm256_setzero_ps(), vs, vinv, vtop, vbot;
            __m256i vz;
            for (c = 0; c < k; c++) {
                __m256 v = _mm256_loadu_ps(x + (size_t)c * ldx + ih);
                l = _mm256_min_ps(v, l); /* NaN in v keeps l; counted apart */
                h = _mm256_max_ps(v, h);
                un = _mm256_or_ps(un, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            }
            map8(l, h, un, &vs, &vinv, &vz);
            _mm256_storeu_ps(scale + ih, vs);
            _mm256_storeu_si256((__m256i *)(zero + ih), vz);
            vtop = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_set1_epi32(255), vz));
            vbot = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), vz));
            for (kq = 0; kq < k_pad / 4; kq++) {
                __m256i v = _mm256_setzero_si256();
                for (c = 0; c < 4 && kq * 4 + c < k; c++)
                    v = _mm256_or_si256(
                        v, _mm256_slli_epi32(quant8(x + (size_t)(kq * 4 + c) * ldx + ih, vinv,
                                                    vtop, vbot, vz),
                                             8 * c));
                _mm256_store_si256((__m256i *)(dst + (size_t)kq * 64 + h2 * 32), v);
            }
        }
    }
    rvti_qgemm_quant_cols_span(x, k, i, n, ldx, scale, zero, xp, p0, k_pad, NULL);
}

/* gemm serves gemm_t's layout; the SiLU, the padded rows and the residual of the
 * channels-last path (which runs on AVX-512 only) go to the portable kernel */
static void gemm_t_avx2(const struct rvt_qgemm_args *g, int ith, int nth)
{
    if (g->act == RVT_QACT_SILU || g->row_w || g->res)
        rvti_qgemm_kernels_ref.gemm_t(g, ith, nth);
    else
        gemm_avx2(g, ith, nth);
}

const struct rvt_qgemm_kernels rvti_qgemm_kernels_avx2 = {
    .isa = RVT_ISA_AVX2,
    .gemm = gemm_avx2,
    .minmax = minmax_avx2,
    .pack_planes = pack_planes_avx2,
    .quant_cols = quant_cols_avx2,
    /* the channels-last path runs on AVX-512 only (nn/ops.h): gemm serves its layout
     * here, and the row kernels are the portable ones */
    .gemm_t = gemm_t_avx2,
    .pack_rows = rvti_qgemm_pack_rows_ref,
    .quant_rows = rvti_qgemm_quant_rows_ref,
};
