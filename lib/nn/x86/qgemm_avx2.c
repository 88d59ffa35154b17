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
 * 7-bit weights (|w| <= 64, quantize-model --weight-bits 7; struct rvt_qweights) cannot
 * saturate it (255 * 64 * 2 = 32640): gemm_t then multiplies the bytes as they are,
 * vpmaddubsw and vpmaddwd by ones, the same sums with a third fewer instructions.
 *
 * The channels-last kernels (gemm_t, pack_rows, quant_rows) are below their own
 * heading: gemm_t with a lane per output channel, the row kernels with a position's
 * values along the vector, or for short rows 8 positions transposed into the lanes.
 */
#include "core/common.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "nn/qgemm_internal.h"
#include "nn/x86/act_avx2.h"

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

/* ---- channels-last kernels ---- */

/* Lanes 0..left-1 of 8 set (left 1..8): the masks of a partial vector of channels or of
 * a row's last values. */
static inline __m256i lanes8(int left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/*
 * gemm_t: an int32 lane per output channel, 8 channels a vector, a tile of nw vectors x
 * mp positions.  Both operands of vpmaddwd must be int16 pairs, so each group of 4 k
 * is split into its even k (0, 2) and odd k (1, 3) pairs, which costs one instruction a
 * side: a position's 4 activation bytes broadcast as a dword give (x0, x2) as words
 * under the mask 0x00ff00ff and (x1, x3) shifted right by 8; 8 channels' 4 weight bytes
 * (32 bytes of wt) give (w0, w2) by a left shift and an arithmetic right shift of 8, and
 * (w1, w3) by the right shift alone.  The weights' widening is shared by the tile's
 * positions, the activations' by its vectors (7-bit weights skip both: maddubs_acc).
 * Pair sums are exact in int32, so the sums are the reference's.  The epilogue is
 * tile_t's of qgemm_avx512.c on 8 lanes (the same operations, so the bits of gemm); the
 * SiLU is this level's (act_avx2.h).
 */
#define NW_T 3
#define MP_T 4
/* the largest k_pad whose sums stay below 2^24: 255 * 127 * 516 < 2^24 */
#define EXACT_K 516

/*
 * acc += vpmaddwd(x, w), the product and the add kept together: with plain intrinsics
 * GCC 12 computed a tile's products first and added them after, which kept a
 * temporary per product live and spilled the accumulators to the stack on every k
 * step (a third of the kernel's time).
 */
static inline __m256i madd_acc(__m256i acc, __m256i x, __m256i w)
{
    __m256i t;
    __asm__("vpmaddwd %3, %2, %1\n\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(t) : "x"(x), "x"(w));
    return acc;
}

/* A position's 4 activation bytes broadcast as a dword, then its even pair (x0, x2) as
 * words (the mask from memory) or its odd pair (x1, x3).  In asm, so that neither the
 * broadcasts nor the mask stay live in registers across the tile's halves: the 16 ymm
 * registers hold the accumulators, the weights, one activation and one product. */
static const int32_t even_mask[8] __attribute__((aligned(32))) = {
    0x00ff00ff, 0x00ff00ff, 0x00ff00ff, 0x00ff00ff, 0x00ff00ff, 0x00ff00ff, 0x00ff00ff, 0x00ff00ff};

static inline __m256i x_pair(const uint8_t *p, int odd)
{
    __m256i v;
    if (odd)
        __asm__("vpbroadcastd %1, %0\n\tvpsrlw $8, %0, %0" : "=x"(v) : "m"(*(const int32_t(*)[1])p));
    else
        __asm__("vpbroadcastd %1, %0\n\tvpand %2, %0, %0"
                : "=x"(v)
                : "m"(*(const int32_t(*)[1])p), "m"(*(const int32_t(*)[8])even_mask));
    return v;
}

/* v (+ R(q, o..o+7) when res) stored at d + o: all 8 lanes when full, else those of m. */
static inline __attribute__((always_inline)) void res_store(const float *res, size_t q,
                                                            size_t ld_res, int o, bool full,
                                                            __m256i m, __m256 v, float *d)
{
    if (res) {
        const float *rp = res + q * ld_res + (size_t)o;
        v = _mm256_add_ps(v, full ? _mm256_loadu_ps(rp) : _mm256_maskload_ps(rp, m));
    }
    if (full)
        _mm256_storeu_ps(d + o, v);
    else
        _mm256_maskstore_ps(d + o, m, v);
}

/* acc += vpmaddwd(vpmaddubsw(x, w), ones): 4 u8 x s8 products of one output channel
 * summed into its int32 lane, for 7-bit weights (struct rvt_qweights), whose pair sums
 * cannot saturate int16.  In asm for madd_acc's reason. */
static inline __m256i maddubs_acc(__m256i acc, __m256i x, __m256i w, __m256i ones)
{
    __m256i t;
    __asm__("vpmaddubsw %3, %2, %1\n\tvpmaddwd %4, %1, %1\n\tvpaddd %1, %0, %0"
            : "+x"(acc), "=&x"(t)
            : "x"(x), "x"(w), "x"(ones));
    return acc;
}

static inline __attribute__((always_inline)) void tile_t(const struct rvt_qgemm_args *g, int ov,
                                                         size_t p, const __m256i *ww,
                                                         const int nw, const int mp,
                                                         const bool w7)
{
    const struct rvt_qweights *w = g->w;
    const int kqn = w->k_pad / 4;
    const uint8_t *xr[MP_T];
    const int8_t *wr[NW_T];
    __m256i acc[MP_T][NW_T];
    int r, c, kq;

#pragma GCC unroll 4
    for (c = 0; c < nw; c++) {
        int o = (ov + c) * 8; /* 8 channels: half of a 64-byte group of wt */
        wr[c] = w->wt + (size_t)(o / 16) * kqn * 64 + (o % 16) * 4;
    }
#pragma GCC unroll 4
    for (r = 0; r < mp; r++) {
        xr[r] = g->xp + rvti_qx_index(p + (size_t)r, 0, w->k_pad);
#pragma GCC unroll 4
        for (c = 0; c < nw; c++)
            acc[r][c] = _mm256_setzero_si256();
    }
    /* w7: a position's 4 bytes broadcast as they are and 8 channels' 32 weight
     * bytes as stored, one vpmaddubsw + vpmaddwd a pair: a third fewer instructions a
     * product than the widened pairs below, and no widening */
    for (kq = 0; w7 && kq < kqn; kq++) {
        const __m256i ones = _mm256_set1_epi16(1);
        __m256i wv[NW_T];
#pragma GCC unroll 4
        for (c = 0; c < nw; c++)
            wv[c] = _mm256_load_si256((const __m256i *)(wr[c] + (size_t)kq * 64));
#pragma GCC unroll 4
        for (r = 0; r < mp; r++) {
            int32_t xd;
            memcpy(&xd, xr[r] + (size_t)kq * 64, 4);
            __m256i xv = _mm256_set1_epi32(xd);
#pragma GCC unroll 4
            for (c = 0; c < nw; c++)
                acc[r][c] = maddubs_acc(acc[r][c], xv, wv[c], ones);
        }
    }
    for (kq = 0; !w7 && kq < kqn; kq++) {
        int h;
        /* the even pairs, then the odd: half the widened weights live at a time, so
         * that a 3 x 3 tile's 9 accumulators stay in registers */
#pragma GCC unroll 2
        for (h = 0; h < 2; h++) {
            __m256i wv[NW_T];
#pragma GCC unroll 4
            for (c = 0; c < nw; c++) {
                if (ww) { /* widened once for the panel */
                    wv[c] = _mm256_load_si256(ww + ((size_t)kq * 2 + (size_t)h) * nw + c);
                } else {
                    __m256i d = _mm256_load_si256((const __m256i *)(wr[c] + (size_t)kq * 64));
                    wv[c] = _mm256_srai_epi16(h ? d : _mm256_slli_epi16(d, 8), 8);
                }
            }
#pragma GCC unroll 4
            for (r = 0; r < mp; r++) {
                __m256i xv = x_pair(xr[r] + (size_t)kq * 64, h);
#pragma GCC unroll 4
                for (c = 0; c < nw; c++)
                    acc[r][c] = madd_acc(acc[r][c], xv, wv[c]);
            }
        }
    }
    float *dst[MP_T];
#pragma GCC unroll 4
    for (r = 0; r < mp; r++) {
        size_t q = p + (size_t)r;
        if (g->row_w)
            q += q / g->row_w * g->row_skip;
        dst[r] = g->out + q * g->out_gs;
    }
    /* k <= EXACT_K: (float)C is exact and one FMA gives (float)(C - z * wsum) rounded
     * once, as vcvtdq2ps rounds the exact integer (see qgemm_avx512.c) */
    const bool exact = w->k_pad <= EXACT_K;
    const float *bias = g->bias, *res = g->res;
    const size_t ld_res = g->ld_res;
    const enum rvt_qact act = g->act;
    __m256 zf[MP_T], sx[MP_T];
    __m256i zi[MP_T];
#pragma GCC unroll 4
    for (r = 0; r < mp; r++) {
        zi[r] = _mm256_set1_epi32(g->x_zero[p + (size_t)r]);
        zf[r] = _mm256_cvtepi32_ps(zi[r]);
        sx[r] = _mm256_set1_ps(g->x_scale[p + (size_t)r]);
    }
#pragma GCC unroll 4
    for (c = 0; c < nw; c++) {
        int o = (ov + c) * 8, left = w->n - o;
        bool full = left >= 8;
        __m256i m = lanes8(left);
        __m256i ws = full ? _mm256_loadu_si256((const __m256i *)(w->wsum + o))
                          : _mm256_maskload_epi32(w->wsum + o, m);
        __m256 wsf = _mm256_cvtepi32_ps(ws);
        __m256 sw = full ? _mm256_loadu_ps(w->scale + o) : _mm256_maskload_ps(w->scale + o, m);
        /* no bias: + -0, which leaves every float as it is (+0 too), one branch less */
        __m256 b = !bias ? _mm256_set1_ps(-0.0f)
                   : full ? _mm256_loadu_ps(bias + o)
                          : _mm256_maskload_ps(bias + o, m);
#pragma GCC unroll 4
        for (r = 0; r < mp; r++) {
            __m256 t = exact ? _mm256_fnmadd_ps(zf[r], wsf, _mm256_cvtepi32_ps(acc[r][c]))
                             : _mm256_cvtepi32_ps(_mm256_sub_epi32(
                                   acc[r][c], _mm256_mullo_epi32(zi[r], ws)));
            __m256 v = _mm256_mul_ps(t, _mm256_mul_ps(sx[r], sw));
            v = _mm256_add_ps(v, b);
            if (act == RVT_QACT_RELU)
                v = _mm256_max_ps(v, _mm256_setzero_ps()); /* NaN, -0 -> +0 like the ref */
            res_store(act != RVT_QACT_SILU ? res : NULL, p + (size_t)r, ld_res, o, full, m, v,
                      dst[r]);
        }
    }
    if (act != RVT_QACT_SILU)
        return;
    /* SiLU (then + R) on what was stored, as sgemm_avx2.c's act_tile: beside the
     * accumulators and the dequantisation's vectors its temporaries spilled them */
#pragma GCC unroll 4
    for (c = 0; c < nw; c++) {
        int o = (ov + c) * 8, left = w->n - o;
        bool full = left >= 8;
        __m256i m = lanes8(left);
        for (r = 0; r < mp; r++) {
            __m256 v = act256(full ? _mm256_loadu_ps(dst[r] + o) : _mm256_maskload_ps(dst[r] + o, m),
                              RVT_NN_ACT_SILU_Q);
            res_store(res, p + (size_t)r, ld_res, o, full, m, v, dst[r]);
        }
    }
}

#define TILE_T_FN(nw, mp) \
    static void tile_t_##nw##_##mp(const struct rvt_qgemm_args *g, int ov, size_t p, \
                                   const __m256i *ww) \
    { \
        if (g->w->w7) \
            tile_t(g, ov, p, NULL, nw, mp, true); \
        else if (ww) \
            tile_t(g, ov, p, ww, nw, mp, false); \
        else \
            tile_t(g, ov, p, NULL, nw, mp, false); \
    }
#define TILE_T_ROW(nw) TILE_T_FN(nw, 1) TILE_T_FN(nw, 2) TILE_T_FN(nw, 3) TILE_T_FN(nw, 4)
TILE_T_ROW(1)
TILE_T_ROW(2)
TILE_T_ROW(3)

typedef void (*tile_t_fn)(const struct rvt_qgemm_args *g, int ov, size_t p, const __m256i *ww);
#define TILE_T_REF(nw) {tile_t_##nw##_1, tile_t_##nw##_2, tile_t_##nw##_3, tile_t_##nw##_4}
static const tile_t_fn tiles_t[NW_T][MP_T] = {TILE_T_REF(1), TILE_T_REF(2), TILE_T_REF(3)};
/* positions a tile of nw vectors takes: as many as the 16 ymm registers hold */
static const int mp_t[NW_T] = {4, 4, 3};

/* The most k groups whose widened panel weights gemm_t keeps on the stack (24 KB). */
#define WW_KQ 128

/* A panel's weights (vectors ov..ov+nw-1) widened as tile_t's in-loop widening makes
 * them: ww[(kq * 2 + h) * nw + c], h 0 the even pairs, 1 the odd. */
static void widen_panel(const struct rvt_qweights *w, int ov, int nw, __m256i *ww)
{
    const int kqn = w->k_pad / 4;
    int kq, c;

    for (c = 0; c < nw; c++) {
        int o = (ov + c) * 8;
        const int8_t *wr = w->wt + (size_t)(o / 16) * kqn * 64 + (o % 16) * 4;
        for (kq = 0; kq < kqn; kq++) {
            __m256i d = _mm256_load_si256((const __m256i *)(wr + (size_t)kq * 64));
            ww[((size_t)kq * 2) * nw + c] = _mm256_srai_epi16(_mm256_slli_epi16(d, 8), 8);
            ww[((size_t)kq * 2 + 1) * nw + c] = _mm256_srai_epi16(d, 8);
        }
    }
}

static void gemm_t_avx2(const struct rvt_qgemm_args *g, int ith, int nth)
{
    const size_t unit = rvt_qgemm_t_blocks(g->n_pos, nth) ? RVT_QGEMM_PB : 1;
    const size_t units = (g->n_pos + unit - 1) / unit, per = (units + (size_t)nth - 1) / (size_t)nth;
    size_t p0, p1, p;
    int n_ov = (g->w->n + 7) / 8, ov;
    __m256i ww[2 * NW_T * WW_KQ];

    assert(g->out && !g->c && !g->post && g->group == 1 && g->out_cs == 1);
    assert(g->act == RVT_QACT_NONE || g->act == RVT_QACT_RELU || g->act == RVT_QACT_SILU);
    p0 = RVT_MIN(g->n_pos, (size_t)ith * per * unit);
    p1 = RVT_MIN(g->n_pos, (size_t)(ith + 1) * per * unit);
    /* output-channel panels outer: their weights stay in L1 while every position
     * passes, widened once for the panel when they fit the buffer and enough positions
     * share them (else by each tile, a sixth of the k loop's work with 3 positions a
     * tile, but no pass over weights that one or two positions use) */
    for (ov = 0; ov < n_ov && p1 > p0; ov += NW_T) {
        int nw = RVT_MIN(NW_T, n_ov - ov), mp = mp_t[nw - 1];
        const __m256i *pw = NULL;
        if (!g->w->w7 && g->w->k_pad / 4 <= WW_KQ && p1 - p0 >= 8) {
            widen_panel(g->w, ov, nw, ww);
            pw = ww;
        }
        for (p = p0; p < p1; p += (size_t)mp)
            tiles_t[nw - 1][RVT_MIN((size_t)mp, p1 - p) - 1](g, ov, p, pw);
    }
}

/* 8 values from x (the first nv, 1..8) as codes under a map, rvti_qgemm_quant1's
 * operations (ks: the input scale first); lanes past nv give code 0 (k padding). */
static inline __m256i codes8(const float *x, const float *ks, int nv, __m256 inv, __m256 top,
                             __m256 bot, __m256i zero)
{
    __m256 v;
    __m256i q, m = lanes8(nv);
    if (nv >= 8) {
        v = _mm256_loadu_ps(x);
        if (ks)
            v = _mm256_mul_ps(v, _mm256_loadu_ps(ks));
    } else {
        v = _mm256_maskload_ps(x, m);
        if (ks)
            v = _mm256_mul_ps(v, _mm256_maskload_ps(ks, m));
    }
    v = _mm256_mul_ps(v, inv);
    v = _mm256_min_ps(v, top); /* NaN -> top, as fminf(v, top) */
    v = _mm256_max_ps(v, bot);
    q = _mm256_add_epi32(_mm256_cvtps_epi32(v), zero);
    return nv >= 8 ? q : _mm256_and_si256(q, m);
}

/* 8 codes (int32 lanes in 0..255) of one position, k c..c+7, into their two dwords of
 * the packed layout (base: the position's k group 0; groups past ng are not stored). */
static inline void put8(__m256i q, uint8_t *base, int c, int ng)
{
    __m256i b = _mm256_packs_epi32(q, q); /* 128-bit lanes: q0..3 | q4..7 as words */
    int32_t d;
    b = _mm256_packus_epi16(b, b);
    d = _mm_cvtsi128_si32(_mm256_castsi256_si128(b));
    memcpy(base + (size_t)(c / 4) * 64, &d, 4);
    if (c / 4 + 1 < ng) {
        d = _mm_cvtsi128_si32(_mm256_extracti128_si256(b, 1));
        memcpy(base + (size_t)(c / 4 + 1) * 64, &d, 4);
    }
}

/* One position's k values packed under the map (inv, zero). */
static inline void pack_row(const float *x, const float *ks, int k, float inv, int32_t zero,
                            uint8_t *xp, size_t pos, int k_pad)
{
    const __m256 vinv = _mm256_set1_ps(inv), top = _mm256_set1_ps((float)(255 - zero)),
                 bot = _mm256_set1_ps((float)-zero);
    const __m256i vz = _mm256_set1_epi32(zero);
    uint8_t *base = xp + rvti_qx_index(pos, 0, k_pad);
    int c;

    for (c = 0; c < k; c += 8)
        put8(codes8(x + c, ks ? ks + c : NULL, RVT_MIN(8, k - c), vinv, top, bot, vz), base, c,
             k_pad / 4);
}

/* A row's map as the vectors codes8 takes. */
struct row_map {
    __m256 inv, top, bot;
    __m256i zero;
};

static inline void row_map_set(struct row_map *m, float inv, int32_t zero)
{
    m->inv = _mm256_set1_ps(inv);
    m->top = _mm256_set1_ps((float)(255 - zero));
    m->bot = _mm256_set1_ps((float)-zero);
    m->zero = _mm256_set1_epi32(zero);
}

/*
 * The codes of 8 rows that fill one half of a block (dst: its k group 0), each under
 * its map: 8 channels at a time, the 8 rows' codes packed into bytes and swapped into
 * the two k groups' 32 bytes, so that each group takes one store instead of 8 dword
 * stores.
 */
static void codes_rows8(const float *x, const float *ks, int k, size_t ldx,
                        const struct row_map rm[8], uint8_t *dst, int k_pad)
{
    int c, r;

    for (c = 0; c < k; c += 8) {
        int nv = RVT_MIN(8, k - c);
        const float *kc = ks ? ks + c : NULL;
        __m256i q[8], a, b;
#pragma GCC unroll 8
        for (r = 0; r < 8; r++)
            q[r] = codes8(x + (size_t)r * ldx + c, kc, nv, rm[r].inv, rm[r].top, rm[r].bot,
                          rm[r].zero);
        /* 128-bit lane 0: rows 0..3 (a) or 4..7 (b) of group c/4, lane 1: of c/4 + 1 */
        a = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        b = _mm256_packus_epi16(_mm256_packs_epi32(q[4], q[5]), _mm256_packs_epi32(q[6], q[7]));
        _mm256_store_si256((__m256i *)(dst + (size_t)(c / 4) * 64), _mm256_permute2x128_si256(a, b, 0x20));
        if (c / 4 + 1 < k_pad / 4)
            _mm256_store_si256((__m256i *)(dst + (size_t)(c / 4 + 1) * 64),
                               _mm256_permute2x128_si256(a, b, 0x31));
    }
}

static void pack_rows_avx2(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                           int32_t zero, uint8_t *xp, size_t p0, int k_pad, const float *ks)
{
    struct row_map rm[8];
    size_t i = 0;
    int r;

    for (r = 0; r < 8; r++)
        row_map_set(&rm[r], inv_scale, zero);
    while (i < n) {
        size_t pos = p0 + i;
        if (pos % 8 == 0 && n - i >= 8) {
            codes_rows8(x + i * ldx, ks, k, ldx, rm, xp + rvti_qx_index(pos, 0, k_pad), k_pad);
            i += 8;
        } else {
            pack_row(x + i * ldx, ks, k, inv_scale, zero, xp, pos, k_pad);
            i++;
        }
    }
}

/* min and max of one row of k values (ks: scaled first); *nan when any is NaN */
static inline void row_minmax(const float *r, const float *ks, int k, float *lo, float *hi,
                              bool *nan)
{
    __m256 l = _mm256_set1_ps(INFINITY), h = _mm256_set1_ps(-INFINITY), un = _mm256_setzero_ps();
    __m128 l4, h4;
    int c;

    for (c = 0; c < k; c += 8) {
        int nv = RVT_MIN(8, k - c);
        __m256 v, vl, vh;
        if (nv >= 8) {
            v = _mm256_loadu_ps(r + c);
            if (ks)
                v = _mm256_mul_ps(v, _mm256_loadu_ps(ks + c));
            vl = vh = v;
        } else {
            __m256i m = lanes8(nv);
            __m256 mf = _mm256_castsi256_ps(m);
            v = _mm256_maskload_ps(r + c, m); /* 0 past the row: never NaN */
            if (ks)
                v = _mm256_mul_ps(v, _mm256_maskload_ps(ks + c, m));
            vl = _mm256_blendv_ps(_mm256_set1_ps(INFINITY), v, mf);
            vh = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, mf);
        }
        l = _mm256_min_ps(vl, l); /* NaN in v keeps l; counted apart */
        h = _mm256_max_ps(vh, h);
        un = _mm256_or_ps(un, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    /* the order of the reduction can only change the sign of a zero, which the map
     * ignores (qgemm.h minmax) */
    l4 = _mm_min_ps(_mm256_castps256_ps128(l), _mm256_extractf128_ps(l, 1));
    h4 = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    l4 = _mm_min_ps(l4, _mm_movehl_ps(l4, l4));
    h4 = _mm_max_ps(h4, _mm_movehl_ps(h4, h4));
    l4 = _mm_min_ss(l4, _mm_shuffle_ps(l4, l4, 1));
    h4 = _mm_max_ss(h4, _mm_shuffle_ps(h4, h4, 1));
    *nan = _mm256_movemask_ps(un) != 0;
    *lo = _mm_cvtss_f32(l4);
    *hi = _mm_cvtss_f32(h4);
}

/* rows 0..nr-1 (nr <= 8, not past a half block) of one span: their maps on 8 lanes
 * (map8), then the codes: by codes_rows8 when the rows fill the half block */
static void quant_rows8(const float *x, const float *ks, int k, size_t ldx, int nr, float *scale,
                        int32_t *zero, uint8_t *xp, size_t pos, int k_pad)
{
    float lo[8] = {0}, hi[8] = {0}, sc[8], inv[8];
    int32_t nan[8] = {0}, z[8];
    __m256 vs, vinv;
    __m256i vz;
    int r;

    for (r = 0; r < nr; r++) {
        bool un;
        row_minmax(x + (size_t)r * ldx, ks, k, &lo[r], &hi[r], &un);
        nan[r] = un ? -1 : 0;
    }
    map8(_mm256_loadu_ps(lo), _mm256_loadu_ps(hi),
         _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)nan)), &vs, &vinv, &vz);
    _mm256_storeu_ps(sc, vs);
    _mm256_storeu_ps(inv, vinv);
    _mm256_storeu_si256((__m256i *)z, vz);
    for (r = 0; r < nr; r++) {
        scale[r] = sc[r];
        zero[r] = z[r];
    }
    if (nr == 8 && pos % 8 == 0) {
        struct row_map rm[8];
        for (r = 0; r < 8; r++)
            row_map_set(&rm[r], inv[r], z[r]);
        codes_rows8(x, ks, k, ldx, rm, xp + rvti_qx_index(pos, 0, k_pad), k_pad);
    } else {
        for (r = 0; r < nr; r++)
            pack_row(x + (size_t)r * ldx, ks, k, inv[r], z[r], xp, pos + (size_t)r, k_pad);
    }
}

/* r[i] lane j -> r[j] lane i, 8 x 8 floats (24 shuffles) */
static inline __attribute__((always_inline)) void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    int i;

    for (i = 0; i < 8; i += 2) { /* per 128-bit lane: r[i], r[i+1] interleaved */
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (i = 0; i < 8; i += 4) { /* u[i + c]: rows i..i+3 of columns c | c + 4 */
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
        r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
}

/* The most k quant_rows8_t holds (its transposed rows on the stack). */
#define QT_MAX_K 48

/*
 * quant_rows8 for short rows (k <= QT_MAX_K) and 8 positions filling one half of a
 * block, transposed: 8 rows x 8 channels at a time turned into one vector a channel,
 * lanes = rows, so each row's min and max are plain vector mins and maxes, map8 gets
 * the 8 rows' ranges without horizontal reductions, and each 4 channels' codes shift
 * into the 32 bytes of the k group that hold these positions.  The same operations on
 * each value, so the same bits; a NaN or an infinity anywhere in a row makes its flag
 * NaN (x * 0 + flag), which map8 takes as NaN (the row's map is NaN either way).
 */
static inline __attribute__((always_inline)) void
quant_rows8_t(const float *x, const float *ks, int k, size_t ldx, float *scale, int32_t *zero,
              uint8_t *dst, int k_pad, const int NJ)
{
    __m256 t[QT_MAX_K], lo = _mm256_set1_ps(INFINITY), hi = _mm256_set1_ps(-INFINITY);
    __m256 lo1 = lo, hi1 = hi, flag = _mm256_setzero_ps(), flag1 = flag, vs, vinv, top, bot;
    __m256i vz;
    int r, c, j, g;

#pragma GCC unroll 8
    for (j = 0; j < 8 * NJ; j += 8) {
        int nv = RVT_MIN(8, k - j);
        __m256i m = lanes8(nv);
        __m256 kv = ks ? (nv >= 8 ? _mm256_loadu_ps(ks + j) : _mm256_maskload_ps(ks + j, m))
                       : _mm256_setzero_ps();
#pragma GCC unroll 8
        for (r = 0; r < 8; r++) {
            const float *xr = x + (size_t)r * ldx + j;
            __m256 v = nv >= 8 ? _mm256_loadu_ps(xr) : _mm256_maskload_ps(xr, m);
            t[j + r] = ks ? _mm256_mul_ps(v, kv) : v;
        }
        transpose8(t + j);
#pragma GCC unroll 8
        for (c = j; c < j + nv; c++) { /* two chains each: half the latency */
            if ((c & 1) == 0) {
                lo = _mm256_min_ps(lo, t[c]);
                hi = _mm256_max_ps(hi, t[c]);
                flag = _mm256_fmadd_ps(t[c], _mm256_setzero_ps(), flag);
            } else {
                lo1 = _mm256_min_ps(lo1, t[c]);
                hi1 = _mm256_max_ps(hi1, t[c]);
                flag1 = _mm256_fmadd_ps(t[c], _mm256_setzero_ps(), flag1);
            }
        }
    }
    lo = _mm256_min_ps(lo, lo1);
    hi = _mm256_max_ps(hi, hi1);
    flag = _mm256_add_ps(flag, flag1);
    map8(lo, hi, _mm256_cmp_ps(flag, flag, _CMP_UNORD_Q), &vs, &vinv, &vz);
    _mm256_storeu_ps(scale, vs);
    _mm256_storeu_si256((__m256i *)zero, vz);
    top = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_set1_epi32(255), vz));
    bot = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), vz));
#pragma GCC unroll 12
    for (g = 0; g < 2 * NJ; g++) {
        __m256i d = _mm256_setzero_si256();
        if (g >= k_pad / 4)
            break;
#pragma GCC unroll 4
        for (c = 0; c < 4; c++) {
            __m256 v;
            __m256i q;
            if (4 * g + c >= k) /* the padding channels' codes: 0 */
                break;
            v = _mm256_mul_ps(t[4 * g + c], vinv);
            q = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_max_ps(_mm256_min_ps(v, top), bot)),
                                 vz);
            d = _mm256_or_si256(d, _mm256_slli_epi32(q, 8 * c));
        }
        _mm256_store_si256((__m256i *)(dst + (size_t)g * 64), d);
    }
}

/* quant_rows8_t with its number of 8-channel chunks a constant (1..QT_MAX_K / 8) */
static void quant_rows8_t_n(const float *x, const float *ks, int k, size_t ldx, float *scale,
                            int32_t *zero, uint8_t *dst, int k_pad)
{
    switch ((k + 7) / 8) {
    case 1: quant_rows8_t(x, ks, k, ldx, scale, zero, dst, k_pad, 1); break;
    case 2: quant_rows8_t(x, ks, k, ldx, scale, zero, dst, k_pad, 2); break;
    case 3: quant_rows8_t(x, ks, k, ldx, scale, zero, dst, k_pad, 3); break;
    case 4: quant_rows8_t(x, ks, k, ldx, scale, zero, dst, k_pad, 4); break;
    case 5: quant_rows8_t(x, ks, k, ldx, scale, zero, dst, k_pad, 5); break;
    default: quant_rows8_t(x, ks, k, ldx, scale, zero, dst, k_pad, 6); break;
    }
}

static void quant_rows_avx2(const float *x, int k, size_t n, size_t ldx, float *scale,
                            int32_t *zero, uint8_t *xp, size_t p0, int k_pad, const float *ks)
{
    const bool tr = k <= QT_MAX_K;
    size_t i = 0;

    while (i < n) {
        size_t pos = p0 + i, nr;
        if (tr && pos % 8 == 0 && n - i >= 8) {
            quant_rows8_t_n(x + i * ldx, ks, k, ldx, scale + i, zero + i,
                            xp + rvti_qx_index(pos, 0, k_pad), k_pad);
            nr = 8;
        } else {
            /* up to the next half block, where the block forms start */
            nr = RVT_MIN(n - i, 8 - pos % 8);
            quant_rows8(x + i * ldx, ks, k, ldx, (int)nr, scale + i, zero + i, xp, pos, k_pad);
        }
        i += nr;
    }
}

const struct rvt_qgemm_kernels rvti_qgemm_kernels_avx2 = {
    .isa = RVT_ISA_AVX2,
    .gemm = gemm_avx2,
    .minmax = minmax_avx2,
    .pack_planes = pack_planes_avx2,
    .quant_cols = quant_cols_avx2,
    .gemm_t = gemm_t_avx2,
    .pack_rows = pack_rows_avx2,
    .quant_rows = quant_rows_avx2,
};
