/*
 * qgemm_avx512.c: int8 kernels for AVX-512 (F/BW/VL/DQ) + VNNI.
 *
 * The GEMM micro-kernel holds an MR x (16 * NBK) tile of int32 sums in zmm registers
 * (6 x 64: 24 accumulators, 4 weight vectors, 1 broadcast) and for each group of 4 k
 * broadcasts 4 activation bytes of a row against one packed 64-byte weight group per
 * 16 columns: vpdpbusd adds u8 x s8 products in int32 without saturation, so the sums
 * are the reference's exactly.  ref: Intel SDM vol. 2, VPDPBUSD.
 * The epilogue repeats rvti_qgemm_epi1 (qgemm.h) lane-wise: vpmulld/vpsubd, vcvtdq2ps,
 * vmulps, vaddps, vmaxps(v, 0), each rounding like its scalar twin.
 */
#include "core/common.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "nn/qgemm.h"

#define MR 6
#define NBK 4

static inline __m512i bcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Stores one 16-column vector of sums of row i at column j (jn valid lanes). */
static inline void store_vec(const struct rvt_qgemm_args *g, __m512i acc, int i, int j, int jn)
{
    const struct rvt_qmat *b = g->b;
    __mmask16 mask;

    if (jn > 16)
        jn = 16;
    mask = (__mmask16)((1u << jn) - 1);

    if (g->c) {
        _mm512_mask_storeu_epi32(g->c + (size_t)i * g->ldc + j, mask, acc);
    } else {
        float sa = g->a_scale[i / g->a_group];
        int32_t za = g->a_zero[i / g->a_group];
        __m512i cs = _mm512_load_si512(b->colsum + j);
        __m512 sb = _mm512_load_ps(b->scale + j);
        __m512i t = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(za), cs));
        __m512 s = _mm512_mul_ps(_mm512_set1_ps(sa), sb);
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(t), s);
        float *o = g->out + (size_t)i * g->out_rs;

        if (g->bias)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, g->bias + j));
        if (g->act == RVT_QACT_RELU)
            v = _mm512_max_ps(v, _mm512_setzero_ps());
        if (g->out_cs == 1) {
            _mm512_mask_storeu_ps(o + j, mask, v);
        } else {
            float tmp[16];
            int l;
            _mm512_storeu_ps(tmp, v);
            for (l = 0; l < jn; l++)
                o[(size_t)(j + l) * g->out_cs] = tmp[l];
        }
    }
}

/* One mr x (16 * nb) tile at rows i.., column block jb..; mr, nb are constants after
 * inlining, so the arrays live in registers. */
static inline __attribute__((always_inline)) void tile(const struct rvt_qgemm_args *g, int i,
                                                       int jb, const int mr, const int nb)
{
    const struct rvt_qmat *b = g->b;
    const size_t bstride = (size_t)RVT_QGEMM_NB * b->k_pad;
    const int8_t *bp = b->data + (size_t)jb * bstride;
    const uint8_t *ap = g->a + (size_t)i * g->lda;
    const int kqn = b->k_pad / 4;
    __m512i acc[MR][NBK];
    int r, c, kq;

#pragma GCC unroll 8
    for (r = 0; r < mr; r++)
#pragma GCC unroll 8
        for (c = 0; c < nb; c++)
            acc[r][c] = _mm512_setzero_si512();
    for (kq = 0; kq < kqn; kq++) {
        __m512i bv[NBK];
#pragma GCC unroll 8
        for (c = 0; c < nb; c++)
            bv[c] = _mm512_load_si512(bp + c * bstride + (size_t)kq * 64);
#pragma GCC unroll 8
        for (r = 0; r < mr; r++) {
            __m512i av = bcast4(ap + r * g->lda + (size_t)kq * 4);
#pragma GCC unroll 8
            for (c = 0; c < nb; c++)
                acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], av, bv[c]);
        }
    }
#pragma GCC unroll 8
    for (r = 0; r < mr; r++)
#pragma GCC unroll 8
        for (c = 0; c < nb; c++) {
            int j = (jb + c) * RVT_QGEMM_NB;
            store_vec(g, acc[r][c], i + r, j, b->n - j);
        }
}

#define TILE_FN(mr, nb) \
    static void tile_##mr##_##nb(const struct rvt_qgemm_args *g, int i, int jb) { tile(g, i, jb, mr, nb); }
#define TILE_ROW(mr) TILE_FN(mr, 1) TILE_FN(mr, 2) TILE_FN(mr, 3) TILE_FN(mr, 4)
TILE_ROW(1)
TILE_ROW(2)
TILE_ROW(3)
TILE_ROW(4)
TILE_ROW(5)
TILE_ROW(6)

typedef void (*tile_fn)(const struct rvt_qgemm_args *g, int i, int jb);
#define TILE_REF(mr) {tile_##mr##_1, tile_##mr##_2, tile_##mr##_3, tile_##mr##_4}
static const tile_fn tiles[MR][NBK] = {TILE_REF(1), TILE_REF(2), TILE_REF(3),
                                       TILE_REF(4), TILE_REF(5), TILE_REF(6)};

static void gemm_avx512(const struct rvt_qgemm_args *g, int ith, int nth)
{
    int i0, i1, jb0, jb1, i, jb;

    assert((g->c != NULL) != (g->out != NULL));
    assert(g->lda >= (size_t)g->b->k_pad);
    rvti_qgemm_split(g->m, g->b->n_pad / RVT_QGEMM_NB, MR, ith, nth, &i0, &i1, &jb0, &jb1);
    for (i = i0; i < i1; i += MR) {
        int mr = RVT_MIN(MR, i1 - i);
        for (jb = jb0; jb < jb1; jb += NBK)
            tiles[mr - 1][RVT_MIN(NBK, jb1 - jb) - 1](g, i, jb);
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

static inline __m128i quant16(__m512 x, __m512 inv, __m512 top, __m512 bot, __m512i zero)
{
    __m512 v = _mm512_mul_ps(x, inv);
    v = _mm512_min_ps(v, top); /* NaN -> top, as fminf(v, top) */
    v = _mm512_max_ps(v, bot);
    return _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), zero));
}

static void quantize_avx512(const float *x, size_t n, float inv_scale, int32_t zero, uint8_t *q)
{
    float top = (float)(255 - zero), bot = (float)-zero;
    __m512 vinv = _mm512_set1_ps(inv_scale), vtop = _mm512_set1_ps(top), vbot = _mm512_set1_ps(bot);
    __m512i vz = _mm512_set1_epi32(zero);
    size_t i = 0;

    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(q + i), quant16(_mm512_loadu_ps(x + i), vinv, vtop, vbot, vz));
    for (; i < n; i++)
        q[i] = rvti_qgemm_quant1(x[i], inv_scale, top, bot, zero);
}

const struct rvt_qgemm_kernels rvti_qgemm_avx512 = {
    .isa = RVT_ISA_AVX512,
    .gemm = gemm_avx512,
    .minmax = minmax_avx512,
    .quantize = quantize_avx512,
    .quantize_t = rvti_qgemm_quantize_t_ref, /* NEEDSWORK: a 16 x 16 byte-transpose tile */
};
