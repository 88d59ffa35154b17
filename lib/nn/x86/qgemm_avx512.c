/*
 * qgemm_avx512.c: int8 kernels for AVX-512 (F/BW/VL/DQ) + VNNI.
 *
 * The GEMM micro-kernel holds an MR x (16 * NBK) tile of int32 sums in zmm registers
 * (6 output channels x 64 positions: 24 accumulators, 4 activation vectors, 1
 * broadcast).  For each group of 4 k it loads one packed 64-byte activation vector per
 * 16 positions and broadcasts 4 weight bytes of each output channel; vpdpbusd adds the
 * u8 x s8 products in int32 without saturation, so the sums are the reference's exactly.
 * ref: Intel SDM vol. 2, VPDPBUSD.
 * The epilogue repeats rvti_qgemm_epi1 (qgemm.h) lane-wise: vpmulld/vpsubd, vcvtdq2ps,
 * vmulps, vaddps, vmaxps(v, 0), each rounding like its scalar twin.
 */
#include "core/common.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "nn/qgemm_internal.h"
#include "nn/x86/act_avx512.h"

#define MR 6
#define NBK 4

/*
 * acc += u8 x s8 (vpdpbusd) in place.  GCC 12's builtin for it does not tie the
 * accumulator's input and output registers: in a tile of 24 accumulators it copied
 * each one, and stored it to the stack, on every k step (3 moves and a store per
 * vpdpbusd; the kernel ran at a third of its speed).  The constraint "+v" keeps it in
 * its register.
 */
static inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
    return acc;
}

static inline __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* The activation scale and zero point of 16 positions from p, and whether their outputs
 * are 16 consecutive floats (all in one group, or one group a position with out_gs 1). */
struct lanes {
    __m512 sx;
    __m512i zx;
    bool contiguous;
};

static inline void lanes_get(const struct rvt_qgemm_args *g, size_t p, int np, struct lanes *l)
{
    size_t g0 = p / g->group, g1 = (p + np - 1) / g->group;
    __mmask16 mask = (__mmask16)((1u << np) - 1);

    if (g0 == g1) {
        l->sx = _mm512_set1_ps(g->x_scale[g0]);
        l->zx = _mm512_set1_epi32(g->x_zero[g0]);
        l->contiguous = true;
    } else if (g->group == 1) {
        /* per-position maps (dynamic per-column quantization) */
        l->sx = _mm512_maskz_loadu_ps(mask, g->x_scale + p);
        l->zx = _mm512_maskz_loadu_epi32(mask, g->x_zero + p);
        l->contiguous = g->out_gs == 1;
    } else {
        float s[16] = {0};
        int32_t z[16] = {0};
        int j;
        for (j = 0; j < np; j++) {
            s[j] = g->x_scale[(p + j) / g->group];
            z[j] = g->x_zero[(p + j) / g->group];
        }
        l->sx = _mm512_loadu_ps(s);
        l->zx = _mm512_loadu_si512(z);
        l->contiguous = false;
    }
}

/* Stores the sums of output channel o at positions p..p+np-1 (np <= 16). */
static inline void store_vec(const struct rvt_qgemm_args *g, __m512i acc, int o, size_t p,
                             int np, const struct lanes *l)
{
    const struct rvt_qweights *w = g->w;
    __mmask16 mask = (__mmask16)((1u << np) - 1);

    if (g->c) {
        _mm512_mask_storeu_epi32(g->c + (size_t)o * g->ldc + p, mask, acc);
    } else {
        __m512i t = _mm512_sub_epi32(acc, _mm512_mullo_epi32(l->zx, _mm512_set1_epi32(w->wsum[o])));
        __m512 s = _mm512_mul_ps(l->sx, _mm512_set1_ps(w->scale[o]));
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(t), s);

        if (g->bias)
            v = _mm512_add_ps(v, _mm512_set1_ps(g->bias[o]));
        if (g->act == RVT_QACT_RELU)
            v = _mm512_max_ps(v, _mm512_setzero_ps()); /* NaN, -0 -> +0 like the ref */
        if (l->contiguous) {
            _mm512_mask_storeu_ps(rvti_qgemm_out(g, o, p), mask, v);
        } else {
            float tmp[16];
            int j;
            _mm512_storeu_ps(tmp, v);
            for (j = 0; j < np; j++)
                *rvti_qgemm_out(g, o, p + j) = tmp[j];
        }
    }
}

/* One mr x (16 * nb) tile: output channels o.., position blocks pb..; mr, nb are
 * constants after inlining, so the arrays live in registers. */
static inline __attribute__((always_inline)) void tile(const struct rvt_qgemm_args *g, int o,
                                                       size_t pb, const int mr, const int nb)
{
    const struct rvt_qweights *w = g->w;
    const size_t bstride = (size_t)RVT_QGEMM_PB * w->k_pad;
    const uint8_t *xb = g->xp + pb * bstride;
    const int8_t *wr = w->w + (size_t)o * w->k_pad;
    const int kqn = w->k_pad / 4;
    __m512i acc[MR][NBK];
    int r, c, kq;

#pragma GCC unroll 8
    for (r = 0; r < mr; r++)
#pragma GCC unroll 8
        for (c = 0; c < nb; c++)
            acc[r][c] = _mm512_setzero_si512();
    for (kq = 0; kq < kqn; kq++) {
        __m512i xv[NBK];
#pragma GCC unroll 8
        for (c = 0; c < nb; c++)
            xv[c] = _mm512_load_si512(xb + c * bstride + (size_t)kq * 64);
#pragma GCC unroll 8
        for (r = 0; r < mr; r++) {
            __m512i wv = bcast4(wr + (size_t)r * w->k_pad + (size_t)kq * 4);
#pragma GCC unroll 8
            for (c = 0; c < nb; c++)
                acc[r][c] = dpbusd(acc[r][c], xv[c], wv);
        }
    }
#pragma GCC unroll 8
    for (c = 0; c < nb; c++) {
        size_t p = (pb + c) * RVT_QGEMM_PB;
        int np = (int)RVT_MIN((size_t)RVT_QGEMM_PB, g->n_pos - p);
        struct lanes l = {0};
        if (g->out)
            lanes_get(g, p, np, &l);
#pragma GCC unroll 8
        for (r = 0; r < mr; r++)
            store_vec(g, acc[r][c], o + r, p, np, &l);
    }
    if (g->post) {
        size_t p = pb * RVT_QGEMM_PB, np = RVT_MIN((size_t)nb * RVT_QGEMM_PB, g->n_pos - p);
        for (r = 0; r < mr; r++)
            g->post(g->post_ctx, o + r, p, rvti_qgemm_out(g, o + r, p), np);
    }
}

#define TILE_FN(mr, nb) \
    static void tile_##mr##_##nb(const struct rvt_qgemm_args *g, int o, size_t pb) \
    { \
        tile(g, o, pb, mr, nb); \
    }
#define TILE_ROW(mr) TILE_FN(mr, 1) TILE_FN(mr, 2) TILE_FN(mr, 3) TILE_FN(mr, 4)
TILE_ROW(1)
TILE_ROW(2)
TILE_ROW(3)
TILE_ROW(4)
TILE_ROW(5)
TILE_ROW(6)

typedef void (*tile_fn)(const struct rvt_qgemm_args *g, int o, size_t pb);
#define TILE_REF(mr) {tile_##mr##_1, tile_##mr##_2, tile_##mr##_3, tile_##mr##_4}
static const tile_fn tiles[MR][NBK] = {TILE_REF(1), TILE_REF(2), TILE_REF(3),
                                       TILE_REF(4), TILE_REF(5), TILE_REF(6)};

static void gemm_avx512(const struct rvt_qgemm_args *g, int ith, int nth)
{
    size_t n_blocks = rvt_qgemm_pos_pad(g->n_pos) / RVT_QGEMM_PB, b0, b1, pb;
    int o0, o1, o;

    assert((g->c != NULL) != (g->out != NULL));
    assert(!g->post || (g->out && (g->group >= g->n_pos || (g->group == 1 && g->out_gs == 1))));
    assert(g->act != RVT_QACT_SILU && !g->row_w && !g->res); /* gemm_t's */
    rvti_qgemm_split(g->w->n, n_blocks, MR, g->split_rows, ith, nth, &o0, &o1, &b0, &b1);
    /* position panels outer: one panel of 64 positions stays in L1/L2 while every
     * output channel passes over it */
    for (pb = b0; pb < b1; pb += NBK) {
        int nb = (int)RVT_MIN((size_t)NBK, b1 - pb);
        for (o = o0; o < o1; o += MR)
            tiles[RVT_MIN(MR, o1 - o) - 1][nb - 1](g, o, pb);
    }
}

static void minmax_avx512(const float *x, size_t n, float *lo, float *hi)
{
    __m512 l = _mm512_set1_ps(INFINITY), h = _mm512_set1_ps(-INFINITY);
    __mmask16 nan = 0;
    float tl, th;
    size_t i = 0;

    /* vminps(x, l) keeps l when x is NaN; NaNs are counted apart */
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        l = _mm512_min_ps(v, l);
        h = _mm512_max_ps(v, h);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    tl = _mm512_reduce_min_ps(l);
    th = _mm512_reduce_max_ps(h);
    for (; i < n; i++) {
        if (x[i] < tl)
            tl = x[i];
        if (x[i] > th)
            th = x[i];
        nan |= isnan(x[i]);
    }
    *lo = nan ? NAN : tl;
    *hi = nan ? NAN : th;
}

/* 16 values -> 16 int32 in 0..255, as rvti_qgemm_quant1. */
static inline __m512i quant16(const float *x, __m512 inv, __m512 top, __m512 bot, __m512i zero)
{
    __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x), inv);
    v = _mm512_min_ps(v, top); /* NaN -> top, as fminf(v, top) */
    v = _mm512_max_ps(v, bot);
    return _mm512_add_epi32(_mm512_cvtps_epi32(v), zero);
}

static void pack_planes_avx512(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                               int32_t zero, uint8_t *xp, size_t p0, int k_pad)
{
    __m512 vinv = _mm512_set1_ps(inv_scale), vtop = _mm512_set1_ps((float)(255 - zero)),
           vbot = _mm512_set1_ps((float)-zero);
    __m512i vz = _mm512_set1_epi32(zero);
    size_t head = (RVT_QGEMM_PB - p0 % RVT_QGEMM_PB) % RVT_QGEMM_PB, i;
    int kq;

    if (head > n)
        head = n;
    rvti_qgemm_pack_planes_span(x, k, 0, head, ldx, inv_scale, zero, xp, p0, k_pad, NULL);
    /* whole blocks: 4 planes x 16 positions become one 64-byte vector, the byte of
     * plane c in bits 8c.. of each position's dword */
    for (i = head; i + RVT_QGEMM_PB <= n; i += RVT_QGEMM_PB) {
        uint8_t *dst = xp + rvti_qx_index(p0 + i, 0, k_pad);
        for (kq = 0; kq < k_pad / 4; kq++) {
            int c = kq * 4;
            __m512i v = quant16(x + (size_t)c * ldx + i, vinv, vtop, vbot, vz);
            if (c + 1 < k)
                v = _mm512_or_si512(v, _mm512_slli_epi32(
                                           quant16(x + (size_t)(c + 1) * ldx + i, vinv, vtop, vbot, vz), 8));
            if (c + 2 < k)
                v = _mm512_or_si512(v, _mm512_slli_epi32(
                                           quant16(x + (size_t)(c + 2) * ldx + i, vinv, vtop, vbot, vz), 16));
            if (c + 3 < k)
                v = _mm512_or_si512(v, _mm512_slli_epi32(
                                           quant16(x + (size_t)(c + 3) * ldx + i, vinv, vtop, vbot, vz), 24));
            _mm512_store_si512(dst + (size_t)kq * 64, v);
        }
    }
    rvti_qgemm_pack_planes_span(x, k, i, n, ldx, inv_scale, zero, xp, p0, k_pad, NULL);
}

/* rvti_qgemm_map on 16 lanes: the same IEEE operations, the special cases blended in. */
static inline void map16(__m512 lo, __m512 hi, __mmask16 nan, __m512 *scale, __m512 *inv,
                         __m512i *zero)
{
    const __m512 zf = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    /* NaN (counted apart) or +-inf (fpclass 0x08 | 0x10) in lo or hi */
    __mmask16 bad = nan | _mm512_fpclass_ps_mask(lo, 0x18) | _mm512_fpclass_ps_mask(hi, 0x18);
    __m512 l = _mm512_min_ps(lo, zf), h = _mm512_max_ps(hi, zf); /* +-0 differ only in sign */
    __m512 r = _mm512_sub_ps(h, l);
    __mmask16 big = _mm512_cmp_ps_mask(r, _mm512_set1_ps(RVT_QGEMM_MIN_RANGE), _CMP_GE_OQ);
    __m512 sc = _mm512_div_ps(r, _mm512_set1_ps(255.0f));
    __m512i z = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_sub_ps(zf, l), sc));

    z = _mm512_min_epi32(_mm512_max_epi32(z, _mm512_setzero_si512()), _mm512_set1_epi32(255));
    big &= (__mmask16)~bad;
    *scale = _mm512_mask_blend_ps(big, one, sc);
    *scale = _mm512_mask_blend_ps(bad, *scale, _mm512_set1_ps(NAN));
    *inv = _mm512_mask_blend_ps(big, one, _mm512_div_ps(one, sc));
    *zero = _mm512_maskz_mov_epi32(big, z);
}

static void quant_cols_avx512(const float *x, int k, size_t n, size_t ldx, float *scale,
                              int32_t *zero, uint8_t *xp, size_t p0, int k_pad)
{
    size_t head = (RVT_QGEMM_PB - p0 % RVT_QGEMM_PB) % RVT_QGEMM_PB, i;
    int kq, c;

    if (head > n)
        head = n;
    rvti_qgemm_quant_cols_span(x, k, 0, head, ldx, scale, zero, xp, p0, k_pad, NULL);
    /* one strip of 16 columns at a time: min/max over the planes, the maps, then the
     * same planes again (now in cache) quantized and packed */
    for (i = head; i + RVT_QGEMM_PB <= n; i += RVT_QGEMM_PB) {
        uint8_t *dst = xp + rvti_qx_index(p0 + i, 0, k_pad);
        __m512 l = _mm512_set1_ps(INFINITY), h = _mm512_set1_ps(-INFINITY), vs, vinv, vtop, vbot;
        __m512i vz;
        __mmask16 un = 0;
        for (c = 0; c < k; c++) {
            __m512 v = _mm512_loadu_ps(x + (size_t)c * ldx + i);
            l = _mm512_min_ps(v, l); /* NaN in v keeps l; counted apart */
            h = _mm512_max_ps(v, h);
            un |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        }
        map16(l, h, un, &vs, &vinv, &vz);
        _mm512_storeu_ps(scale + i, vs);
        _mm512_storeu_si512(zero + i, vz);
        vtop = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_set1_epi32(255), vz));
        vbot = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_setzero_si512(), vz));
        for (kq = 0; kq < k_pad / 4; kq++) {
            __m512i v = _mm512_setzero_si512();
            for (c = 0; c < 4 && kq * 4 + c < k; c++)
                v = _mm512_or_si512(v, _mm512_slli_epi32(quant16(x + (size_t)(kq * 4 + c) * ldx + i,
                                                                 vinv, vtop, vbot, vz),
                                                         (unsigned)(8 * c)));
            _mm512_store_si512(dst + (size_t)kq * 64, v);
        }
    }
    rvti_qgemm_quant_cols_span(x, k, i, n, ldx, scale, zero, xp, p0, k_pad, NULL);
}

/* ---- channels-last kernels ---- */

/*
 * gemm_t: a tile of nob blocks of 16 output channels x mp positions (at most 4 x 6: 24
 * accumulators, 4 weight vectors, 1 broadcast).  For each group of 4 k: one 64-byte
 * vector of packed weights per block (wt), and each position's 4 activation bytes
 * broadcast; vpdpbusd(u8 activations, s8 weights).  The epilogue does rvti_qgemm_epi1's
 * operations with the scalars swapped into vectors (sx * sw is the same product), so
 * the bits are gemm's.
 */
#define MP_T 6
#define NOB_T 4
/* the largest k_pad whose sums stay below 2^24: 255 * 127 * 516 < 2^24 */
#define EXACT_K 516

static inline __attribute__((always_inline)) void tile_t(const struct rvt_qgemm_args *g, int ob,
                                                         size_t p, const int nob, const int mp)
{
    const struct rvt_qweights *w = g->w;
    const int kqn = w->k_pad / 4;
    const int8_t *wb = w->wt + (size_t)ob * kqn * 64;
    const uint8_t *xr[MP_T];
    __m512i acc[MP_T][NOB_T];
    int r, c, kq;

#pragma GCC unroll 8
    for (r = 0; r < mp; r++) {
        xr[r] = g->xp + rvti_qx_index(p + (size_t)r, 0, w->k_pad);
#pragma GCC unroll 8
        for (c = 0; c < nob; c++)
            acc[r][c] = _mm512_setzero_si512();
    }
    for (kq = 0; kq < kqn; kq++) {
        __m512i wv[NOB_T];
#pragma GCC unroll 8
        for (c = 0; c < nob; c++)
            wv[c] = _mm512_load_si512(wb + ((size_t)c * kqn + kq) * 64);
#pragma GCC unroll 8
        for (r = 0; r < mp; r++) {
            int32_t v;
            __m512i xb;
            memcpy(&v, xr[r] + (size_t)kq * 64, 4);
            xb = _mm512_set1_epi32(v);
#pragma GCC unroll 8
            for (c = 0; c < nob; c++)
                acc[r][c] = dpbusd(acc[r][c], xb, wv[c]);
        }
    }
    float *dst[MP_T];
#pragma GCC unroll 8
    for (r = 0; r < mp; r++) {
        size_t q = p + (size_t)r;
        if (g->row_w)
            q += q / g->row_w * g->row_skip;
        dst[r] = g->out + q * g->out_gs;
    }
    /* k <= EXACT_K: |C| <= 255 * 127 * k < 2^24, so (float)C is exact and one FMA
     * gives (float)(C - z * wsum) (the product is exact inside it, the result rounded
     * once, as vcvtdq2ps rounds the exact integer): one uop where vpmulld + vpsubd are
     * three, two of them on port 0, which the SiLU after it crowds */
    const bool exact = w->k_pad <= EXACT_K;
    __m512 zf[MP_T], sx[MP_T];
    __m512i zi[MP_T];
#pragma GCC unroll 8
    for (r = 0; r < mp; r++) {
        zi[r] = _mm512_set1_epi32(g->x_zero[p + (size_t)r]);
        zf[r] = _mm512_cvtepi32_ps(zi[r]);
        sx[r] = _mm512_set1_ps(g->x_scale[p + (size_t)r]);
    }
#pragma GCC unroll 8
    for (c = 0; c < nob; c++) {
        int o = (ob + c) * 16, left = w->n - o;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512i ws = _mm512_maskz_loadu_epi32(m, w->wsum + o);
        __m512 wsf = _mm512_cvtepi32_ps(ws);
        __m512 sw = _mm512_maskz_loadu_ps(m, w->scale + o);
        __m512 b = g->bias ? _mm512_maskz_loadu_ps(m, g->bias + o) : _mm512_setzero_ps();
#pragma GCC unroll 8
        for (r = 0; r < mp; r++) {
            __m512 t = exact ? _mm512_fnmadd_ps(zf[r], wsf, _mm512_cvtepi32_ps(acc[r][c]))
                             : _mm512_cvtepi32_ps(_mm512_sub_epi32(
                                   acc[r][c], _mm512_mullo_epi32(zi[r], ws)));
            __m512 v = _mm512_mul_ps(t, _mm512_mul_ps(sx[r], sw));
            if (g->bias)
                v = _mm512_add_ps(v, b);
            if (g->act == RVT_QACT_RELU)
                v = _mm512_max_ps(v, _mm512_setzero_ps());
            else if (g->act == RVT_QACT_SILU) /* the int8 layers' SiLU (act_avx512.h) */
                v = act512(v, RVT_NN_ACT_SILU_Q);
            if (g->res)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(
                                         m, g->res + (p + (size_t)r) * g->ld_res + (size_t)o));
            _mm512_mask_storeu_ps(dst[r] + o, m, v);
        }
    }
}

#define TILE_T_FN(nob, mp) \
    static void tile_t_##nob##_##mp(const struct rvt_qgemm_args *g, int ob, size_t p) \
    { \
        tile_t(g, ob, p, nob, mp); \
    }
#define TILE_T_ROW(nob) \
    TILE_T_FN(nob, 1) TILE_T_FN(nob, 2) TILE_T_FN(nob, 3) TILE_T_FN(nob, 4) TILE_T_FN(nob, 5) \
    TILE_T_FN(nob, 6)
TILE_T_ROW(1)
TILE_T_ROW(2)
TILE_T_ROW(3)
TILE_T_ROW(4)

typedef void (*tile_t_fn)(const struct rvt_qgemm_args *g, int ob, size_t p);
#define TILE_T_REF(nob) \
    {tile_t_##nob##_1, tile_t_##nob##_2, tile_t_##nob##_3, tile_t_##nob##_4, tile_t_##nob##_5, \
     tile_t_##nob##_6}
static const tile_t_fn tiles_t[NOB_T][MP_T] = {TILE_T_REF(1), TILE_T_REF(2), TILE_T_REF(3),
                                               TILE_T_REF(4)};

static void gemm_t_avx512(const struct rvt_qgemm_args *g, int ith, int nth)
{
    const size_t unit = rvt_qgemm_t_blocks(g->n_pos, nth) ? RVT_QGEMM_PB : 1;
    const size_t units = (g->n_pos + unit - 1) / unit, per = (units + (size_t)nth - 1) / (size_t)nth;
    size_t p0, p1, p;
    int n_ob = (g->w->n + 15) / 16, ob;

    assert(g->out && !g->c && !g->post && g->group == 1 && g->out_cs == 1);
    assert(g->act == RVT_QACT_NONE || g->act == RVT_QACT_RELU || g->act == RVT_QACT_SILU);
    p0 = RVT_MIN(g->n_pos, (size_t)ith * per * unit);
    p1 = RVT_MIN(g->n_pos, (size_t)(ith + 1) * per * unit);
    /* output-channel panels outer: their weights (64 channels x k) stay in L1 while
     * every position passes */
    for (ob = 0; ob < n_ob; ob += NOB_T) {
        int nob = RVT_MIN(NOB_T, n_ob - ob);
        for (p = p0; p < p1; p += MP_T)
            tiles_t[nob - 1][RVT_MIN((size_t)MP_T, p1 - p) - 1](g, ob, p);
    }
}

/* quant16 of the first nv (1..16) values at x, lanes past nv coded 0 */
static inline __m512i quant16_tail(const float *x, const float *ks, int nv, __m512 inv,
                                   __m512 top, __m512 bot, __m512i zero)
{
    __mmask16 m = nv >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nv) - 1);
    __m512 v = _mm512_maskz_loadu_ps(m, x);
    if (ks) /* the input scale first, rounded: the bits of scaling the map before */
        v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, ks));
    v = _mm512_mul_ps(v, inv);
    v = _mm512_min_ps(v, top);
    v = _mm512_max_ps(v, bot);
    return _mm512_maskz_mov_epi32(m, _mm512_add_epi32(_mm512_cvtps_epi32(v), zero));
}

/* A row's map as the vectors quant16 takes. */
struct row_map {
    __m512 inv, top, bot;
    __m512i zero;
};

static inline struct row_map row_map_of(float inv, int32_t zero)
{
    struct row_map m = {_mm512_set1_ps(inv), _mm512_set1_ps((float)(255 - zero)),
                        _mm512_set1_ps((float)-zero), _mm512_set1_epi32(zero)};
    return m;
}

/* the codes of nv (1..16) values of a row under its map, as 16 bytes (0 past nv) */
static inline __m128i row_codes_v(const float *x, const float *ks, int nv, const struct row_map *m)
{
    return _mm512_cvtepi32_epi8(quant16_tail(x, ks, nv, m->inv, m->top, m->bot, m->zero));
}

static inline __m128i row_codes(const float *x, const float *ks, int nv, float inv, int32_t zero)
{
    struct row_map m = row_map_of(inv, zero);
    return row_codes_v(x, ks, nv, &m);
}

/* One position's k values x.. packed: 16 codes at a time, each 4 of them one dword of
 * the position's slot in consecutive 64-byte k groups (rvti_qx_index). */
static inline void pack_row(const float *x, const float *ks, int k, float inv_scale,
                            int32_t zero, uint8_t *xp, size_t pos, int k_pad)
{
    uint8_t *base = xp + rvti_qx_index(pos, 0, k_pad); /* + (k / 4) * 64 for k */
    int c, j;

    for (c = 0; c < k; c += 16) {
        int32_t w[4];
        _mm_storeu_si128((__m128i *)w,
                         row_codes(x + c, ks ? ks + c : NULL, RVT_MIN(16, k - c), inv_scale, zero));
        for (j = 0; j < 4 && c + 4 * j < k_pad; j++)
            memcpy(base + (size_t)(c / 4 + j) * 64, &w[j], 4);
    }
}

static void pack_rows_avx512(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                             int32_t zero, uint8_t *xp, size_t p0, int k_pad, const float *ks)
{
    size_t i;
    for (i = 0; i < n; i++)
        pack_row(x + i * ldx, ks, k, inv_scale, zero, xp, p0 + i, k_pad);
}

/* min and max of one row of k values; NaN anywhere gives NaN for both */
static inline void row_minmax(const float *r, const float *ks, int k, float *lo, float *hi,
                              bool *nan)
{
    __m512 l = _mm512_set1_ps(INFINITY), h = _mm512_set1_ps(-INFINITY);
    __mmask16 un = 0;
    int c;

    for (c = 0; c < k; c += 16) {
        int nv = RVT_MIN(16, k - c);
        __mmask16 m = nv >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nv) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, r + c);
        if (ks)
            v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, ks + c));
        l = _mm512_mask_min_ps(l, m, v, l); /* NaN in v keeps l; counted apart */
        h = _mm512_mask_max_ps(h, m, v, h);
        un |= _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q);
    }
    *nan = un != 0;
    *lo = un ? NAN : _mm512_reduce_min_ps(l);
    *hi = un ? NAN : _mm512_reduce_max_ps(h);
}

/*
 * 16 rows that fill one block of positions (p0 + i a multiple of 16): their maps on 16
 * lanes (map16, the same operations as rvti_qgemm_map), then 16 k at a time each row's
 * codes, and the 16 x 4 dwords turned into the block's 4 k groups with vector
 * shuffles, so that each group is one 64-byte store instead of 16 dword stores.
 */
static void quant_rows_block(const float *x, const float *ks, int k, size_t ldx, float *scale,
                             int32_t *zero, uint8_t *dst, int k_pad)
{
    float lo[16], hi[16], inv[16];
    struct row_map rm[16];
    __mmask16 nan = 0;
    __m512 vs, vinv;
    __m512i vz, idx = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    int r, c, g;

    for (r = 0; r < 16; r++) {
        bool un;
        row_minmax(x + (size_t)r * ldx, ks, k, &lo[r], &hi[r], &un);
        nan |= (__mmask16)(un << r);
    }
    map16(_mm512_loadu_ps(lo), _mm512_loadu_ps(hi), nan, &vs, &vinv, &vz);
    _mm512_storeu_ps(scale, vs);
    _mm512_storeu_si512(zero, vz);
    _mm512_storeu_ps(inv, vinv);
    /* each row's map made once a block, not once a row and 16 k (a broadcast and two
     * conversions each time were a third of the codes' uops) */
    for (r = 0; r < 16; r++)
        rm[r] = row_map_of(inv[r], zero[r]);
    for (c = 0; c < k; c += 16) {
        int nv = RVT_MIN(16, k - c), ng = RVT_MIN(4, (k_pad - c) / 4);
        const float *kc = ks ? ks + c : NULL;
        __m512i y[4], u[4];
        /* y[j], 128-bit lane i: row 4j + i's 4 dwords (k groups c/4 .. c/4 + 3) */
        for (r = 0; r < 16; r += 4) {
            __m128i q0 = row_codes_v(x + (size_t)r * ldx + c, kc, nv, &rm[r]);
            __m128i q1 = row_codes_v(x + (size_t)(r + 1) * ldx + c, kc, nv, &rm[r + 1]);
            __m128i q2 = row_codes_v(x + (size_t)(r + 2) * ldx + c, kc, nv, &rm[r + 2]);
            __m128i q3 = row_codes_v(x + (size_t)(r + 3) * ldx + c, kc, nv, &rm[r + 3]);
            y[r / 4] = _mm512_inserti32x4(
                _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(q0), q1, 1), q2, 2),
                q3, 3);
        }
        /* 4 x 4 dword transposes inside the lanes: u[g] lane i, dword j = row 4j + i, group g */
        {
            __m512i t0 = _mm512_unpacklo_epi32(y[0], y[1]), t1 = _mm512_unpackhi_epi32(y[0], y[1]);
            __m512i t2 = _mm512_unpacklo_epi32(y[2], y[3]), t3 = _mm512_unpackhi_epi32(y[2], y[3]);
            u[0] = _mm512_unpacklo_epi64(t0, t2);
            u[1] = _mm512_unpackhi_epi64(t0, t2);
            u[2] = _mm512_unpacklo_epi64(t1, t3);
            u[3] = _mm512_unpackhi_epi64(t1, t3);
        }
        /* then lanes and dwords swapped: dword 4j + i = row 4j + i */
        for (g = 0; g < ng; g++)
            _mm512_store_si512(dst + (size_t)(c / 4 + g) * 64, _mm512_permutexvar_epi32(idx, u[g]));
    }
}

/* r[i] lane j -> r[j] lane i: a 16 x 16 transpose in 64 shuffles (four rounds of 16). */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    int i, c;

    for (i = 0; i < 16; i += 2) { /* lane L of t[i]: r[i], r[i+1] at 4L, 4L+1 (lo) / 4L+2, 4L+3 */
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (i = 0; i < 16; i += 4) { /* u[i + c], lane L: rows i..i+3 of column 4L + c */
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 2]);
        __m512d e = _mm512_castps_pd(t[i + 1]), f = _mm512_castps_pd(t[i + 3]);
        u[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(e, f));
        u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(e, f));
    }
    for (c = 0; c < 4; c++) { /* the 4 x 4 transpose of 128-bit lanes among u[4g + c] */
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
        __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
        r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[8 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}

/* The most k quant_rows_block_t holds (its transposed block on the stack). */
#define QT_MAX_K 64

/*
 * quant_rows_block for short rows (k <= QT_MAX_K), transposed: the block's 16 rows x
 * 16 channels turned into one vector a channel, lanes = rows, so each row's min and
 * max are plain vector mins and maxes, the maps come out of map16 already one row a
 * lane, and four channels' codes shift into the 64-byte group the GEMM reads: no
 * horizontal reductions, no per-row broadcasts, no byte packing, where quant_rows_block
 * spends some 35 cycles a row on those at k = 16 whatever the row's length.  The same
 * operations on each value (x * ks, * inv, the clamps, the rounding), so the same bits;
 * a NaN or an infinity anywhere in a row makes its flag NaN (x * 0 + flag), which map16
 * takes as NaN (the row's map is NaN either way).
 */
static inline __attribute__((always_inline)) void
quant_rows_block_t(const float *x, const float *ks, int k, size_t ldx, float *scale,
                   int32_t *zero, uint8_t *dst, int k_pad, const int NJ)
{
    __m512 t[QT_MAX_K], lo = _mm512_set1_ps(INFINITY), hi = _mm512_set1_ps(-INFINITY);
    __m512 lo1 = lo, hi1 = hi, flag = _mm512_setzero_ps(), flag1 = flag, vs, vinv, top, bot;
    __m512i vz;
    int r, c, j, g;

#pragma GCC unroll 4
    for (j = 0; j < 16 * NJ; j += 16) {
        int nv = RVT_MIN(16, k - j);
        __mmask16 m = nv >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nv) - 1);
        __m512 kv = ks ? _mm512_maskz_loadu_ps(m, ks + j) : _mm512_setzero_ps();
#pragma GCC unroll 16
        for (r = 0; r < 16; r++) {
            __m512 v = _mm512_maskz_loadu_ps(m, x + (size_t)r * ldx + j);
            t[j + r] = ks ? _mm512_mul_ps(v, kv) : v;
        }
        transpose16(t + j);
#pragma GCC unroll 16
        for (c = j; c < j + nv; c++) { /* two chains each: half the latency */
            if ((c & 1) == 0) {
                lo = _mm512_min_ps(lo, t[c]);
                hi = _mm512_max_ps(hi, t[c]);
                flag = _mm512_fmadd_ps(t[c], _mm512_setzero_ps(), flag);
            } else {
                lo1 = _mm512_min_ps(lo1, t[c]);
                hi1 = _mm512_max_ps(hi1, t[c]);
                flag1 = _mm512_fmadd_ps(t[c], _mm512_setzero_ps(), flag1);
            }
        }
    }
    lo = _mm512_min_ps(lo, lo1);
    hi = _mm512_max_ps(hi, hi1);
    flag = _mm512_add_ps(flag, flag1);
    map16(lo, hi, _mm512_cmp_ps_mask(flag, flag, _CMP_UNORD_Q), &vs, &vinv, &vz);
    _mm512_storeu_ps(scale, vs);
    _mm512_storeu_si512(zero, vz);
    top = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_set1_epi32(255), vz));
    bot = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_setzero_si512(), vz));
#pragma GCC unroll 16
    for (g = 0; g < 4 * NJ; g++) {
        __m512i d = _mm512_setzero_si512();
        if (g >= k_pad / 4)
            break;
#pragma GCC unroll 4
        for (c = 0; c < 4; c++) {
            __m512 v;
            __m512i q;
            if (4 * g + c >= k) /* the padding channels' codes: 0 */
                break;
            v = _mm512_mul_ps(t[4 * g + c], vinv);
            q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_max_ps(_mm512_min_ps(v, top), bot)),
                                 vz);
            d = _mm512_or_si512(d, _mm512_slli_epi32(q, 8 * c));
        }
        _mm512_store_si512(dst + (size_t)g * 64, d);
    }
}

/* quant_rows_block_t with its number of 16-channel chunks a constant (1..4) */
static void quant_rows_block_t_n(const float *x, const float *ks, int k, size_t ldx,
                                 float *scale, int32_t *zero, uint8_t *dst, int k_pad)
{
    switch ((k + 15) / 16) {
    case 1: quant_rows_block_t(x, ks, k, ldx, scale, zero, dst, k_pad, 1); break;
    case 2: quant_rows_block_t(x, ks, k, ldx, scale, zero, dst, k_pad, 2); break;
    case 3: quant_rows_block_t(x, ks, k, ldx, scale, zero, dst, k_pad, 3); break;
    default: quant_rows_block_t(x, ks, k, ldx, scale, zero, dst, k_pad, 4); break;
    }
}

static void quant_rows_avx512(const float *x, int k, size_t n, size_t ldx, float *scale,
                              int32_t *zero, uint8_t *xp, size_t p0, int k_pad, const float *ks)
{
    size_t i = 0;

    while (i < n) {
        if ((p0 + i) % RVT_QGEMM_PB == 0 && i + RVT_QGEMM_PB <= n) {
            uint8_t *dst = xp + rvti_qx_index(p0 + i, 0, k_pad);
            if (k <= QT_MAX_K)
                quant_rows_block_t_n(x + i * ldx, ks, k, ldx, scale + i, zero + i, dst, k_pad);
            else
                quant_rows_block(x + i * ldx, ks, k, ldx, scale + i, zero + i, dst, k_pad);
            i += RVT_QGEMM_PB;
        } else {
            const float *r = x + i * ldx;
            float lo, hi, inv;
            bool un;
            row_minmax(r, ks, k, &lo, &hi, &un);
            rvti_qgemm_map(lo, hi, &scale[i], &inv, &zero[i]);
            pack_row(r, ks, k, inv, zero[i], xp, p0 + i, k_pad);
            i++;
        }
    }
}

const struct rvt_qgemm_kernels rvti_qgemm_kernels_avx512 = {
    .isa = RVT_ISA_AVX512,
    .gemm = gemm_avx512,
    .minmax = minmax_avx512,
    .pack_planes = pack_planes_avx512,
    .quant_cols = quant_cols_avx512,
    .gemm_t = gemm_t_avx512,
    .pack_rows = pack_rows_avx512,
    .quant_rows = quant_rows_avx512,
};
