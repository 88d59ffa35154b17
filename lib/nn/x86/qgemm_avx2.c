/*
 * qgemm_avx2.c: int8 kernels for AVX2.
 *
 * AVX2 has no vpdpbusd, and vpmaddubsw (u8 x s8 pairs summed into int16) saturates:
 * 255 * 127 * 2 = 64770 > 32767, so it would disagree with the reference.  Instead both
 * operands are widened to int16 and multiplied with vpmaddwd, whose pair sums land in
 * int32 exactly.  The weights keep the VNNI packing (qgemm.h): 16 bytes of a 64-byte
 * group are 4 columns x 4 k; widened, each int32 lane of the product holds a half
 * (k 0-1 or k 2-3) of one column, against an activation quad widened and repeated
 * ([a0 a1 a2 a3] x 4).  The two halves are added once per tile with vphaddd.
 * ref: Intel SDM vol. 2, PMADDWD and PMADDUBSW (saturation).
 */
#include "core/common.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "nn/qgemm.h"

#define MR 2

/* [a0 a1 a2 a3] as int16, repeated four times. */
static inline __m256i bcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_cvtepu8_epi16(_mm_set1_epi32(v));
}

static inline void store8(const struct rvt_qgemm_args *g, __m256i acc, int i, int j, int jn)
{
    const struct rvt_qmat *b = g->b;
    int32_t ti[8];
    float tf[8];
    int l;

    if (jn > 8)
        jn = 8;
    if (g->c) {
        if (jn == 8) {
            _mm256_storeu_si256((__m256i *)(g->c + (size_t)i * g->ldc + j), acc);
        } else {
            _mm256_storeu_si256((__m256i *)ti, acc);
            for (l = 0; l < jn; l++)
                g->c[(size_t)i * g->ldc + j + l] = ti[l];
        }
    } else {
        float sa = g->a_scale[i / g->a_group];
        int32_t za = g->a_zero[i / g->a_group];
        __m256i cs = _mm256_load_si256((const __m256i *)(b->colsum + j));
        __m256 sb = _mm256_load_ps(b->scale + j);
        __m256i t = _mm256_sub_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(za), cs));
        __m256 s = _mm256_mul_ps(_mm256_set1_ps(sa), sb);
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(t), s);
        float *o = g->out + (size_t)i * g->out_rs;

        if (g->bias) {
            if (jn == 8) {
                v = _mm256_add_ps(v, _mm256_loadu_ps(g->bias + j));
            } else {
                float bb[8] = {0};
                memcpy(bb, g->bias + j, sizeof(float) * jn);
                v = _mm256_add_ps(v, _mm256_loadu_ps(bb));
            }
        }
        if (g->act == RVT_QACT_RELU)
            v = _mm256_max_ps(v, _mm256_setzero_ps()); /* NaN, -0 -> +0 like the ref */
        if (g->out_cs == 1 && jn == 8) {
            _mm256_storeu_ps(o + j, v);
        } else {
            _mm256_storeu_ps(tf, v);
            for (l = 0; l < jn; l++)
                o[(size_t)(j + l) * g->out_cs] = tf[l];
        }
    }
}

static inline __attribute__((always_inline)) void tile(const struct rvt_qgemm_args *g, int i,
                                                       int jb, const int mr)
{
    const struct rvt_qmat *b = g->b;
    const int8_t *bp = b->data + (size_t)jb * RVT_QGEMM_NB * b->k_pad;
    const uint8_t *ap = g->a + (size_t)i * g->lda;
    const int kqn = b->k_pad / 4;
    __m256i acc[MR][4];
    int r, c, kq;

#pragma GCC unroll 4
    for (r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (c = 0; c < 4; c++)
            acc[r][c] = _mm256_setzero_si256();
    for (kq = 0; kq < kqn; kq++) {
        __m256i av[MR];
#pragma GCC unroll 4
        for (r = 0; r < mr; r++)
            av[r] = bcast4(ap + r * g->lda + (size_t)kq * 4);
#pragma GCC unroll 4
        for (c = 0; c < 4; c++) {
            __m256i bv = _mm256_cvtepi8_epi16(
                _mm_load_si128((const __m128i *)(bp + (size_t)kq * 64 + c * 16)));
#pragma GCC unroll 4
            for (r = 0; r < mr; r++)
                acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(av[r], bv));
        }
    }
#pragma GCC unroll 4
    for (r = 0; r < mr; r++) {
        int j = jb * RVT_QGEMM_NB;
        /* hadd gives columns 0 1 4 5 2 3 6 7 in 64-bit pairs; vpermq 0xD8 restores order */
        __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][0], acc[r][1]), 0xD8);
        __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][2], acc[r][3]), 0xD8);
        store8(g, lo, i + r, j, b->n - j);
        if (b->n - j > 8)
            store8(g, hi, i + r, j + 8, b->n - j - 8);
    }
}

static void tile_1(const struct rvt_qgemm_args *g, int i, int jb) { tile(g, i, jb, 1); }
static void tile_2(const struct rvt_qgemm_args *g, int i, int jb) { tile(g, i, jb, 2); }

static void gemm_avx2(const struct rvt_qgemm_args *g, int ith, int nth)
{
    int i0, i1, jb0, jb1, i, jb;

    assert((g->c != NULL) != (g->out != NULL));
    assert(g->lda >= (size_t)g->b->k_pad);
    rvti_qgemm_split(g->m, g->b->n_pad / RVT_QGEMM_NB, MR, ith, nth, &i0, &i1, &jb0, &jb1);
    for (i = i0; i + MR <= i1; i += MR)
        for (jb = jb0; jb < jb1; jb++)
            tile_2(g, i, jb);
    for (; i < i1; i++)
        for (jb = jb0; jb < jb1; jb++)
            tile_1(g, i, jb);
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

static void quantize_avx2(const float *x, size_t n, float inv_scale, int32_t zero, uint8_t *q)
{
    float top = (float)(255 - zero), bot = (float)-zero;
    __m256 vinv = _mm256_set1_ps(inv_scale), vtop = _mm256_set1_ps(top), vbot = _mm256_set1_ps(bot);
    __m256i vz = _mm256_set1_epi32(zero);
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv);
        __m256i t;
        __m128i w;
        v = _mm256_min_ps(v, vtop); /* NaN -> top, as fminf(v, top) */
        v = _mm256_max_ps(v, vbot);
        t = _mm256_add_epi32(_mm256_cvtps_epi32(v), vz);
        w = _mm_packus_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packus_epi16(w, w));
    }
    for (; i < n; i++)
        q[i] = rvti_qgemm_quant1(x[i], inv_scale, top, bot, zero);
}

const struct rvt_qgemm_kernels rvti_qgemm_avx2 = {
    .isa = RVT_ISA_AVX2,
    .gemm = gemm_avx2,
    .minmax = minmax_avx2,
    .quantize = quantize_avx2,
    .quantize_t = rvti_qgemm_quantize_t_ref, /* NEEDSWORK: a SIMD transpose tile */
};
