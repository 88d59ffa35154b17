/*
 * AVX-512 twins of the fp32 kernels of nn/ops.h (built with -mavx512f ... by the
 * Makefile; only called when rvt_cpu_isa() says the CPU and OS support it).
 */
#include "core/common.h"

#include <immintrin.h>
#include <string.h>

#include "nn/ops_internal.h"

#include "nn/x86/act_avx512.h"

/* acc += the 16 lanes of v, in double. */
static inline __m512d acc_pd(__m512d acc, __m512 v)
{
    acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    return _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

static inline __mmask16 tail_mask(size_t n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* want_sum is a constant after inlining: the summing is compiled out when not asked */
static inline __attribute__((always_inline)) double
bias_act_body(float *x, size_t n, float bias, enum rvt_nn_act act, const bool want_sum)
{
    const __m512 b = _mm512_set1_ps(bias);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    size_t i = 0;

    for (; i + 32 <= n; i += 32) {
        __m512 v0 = act512(_mm512_add_ps(_mm512_loadu_ps(x + i), b), act);
        __m512 v1 = act512(_mm512_add_ps(_mm512_loadu_ps(x + i + 16), b), act);
        _mm512_storeu_ps(x + i, v0);
        _mm512_storeu_ps(x + i + 16, v1);
        if (want_sum) {
            s0 = acc_pd(s0, v0);
            s1 = acc_pd(s1, v1);
        }
    }
    for (; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = act512(_mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), b), act);
        _mm512_mask_storeu_ps(x + i, m, v);
        if (want_sum)
            s0 = acc_pd(s0, _mm512_maskz_mov_ps(m, v));
    }
    return want_sum ? _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) : 0.0;
}

static void bias_act_avx512(float *x, size_t n, float bias, enum rvt_nn_act act, double *sum)
{
    if (sum)
        *sum = bias_act_body(x, n, bias, act, true);
    else
        bias_act_body(x, n, bias, act, false);
}

static void scale_avx512(float *x, size_t n, float s)
{
    const __m512 sv = _mm512_set1_ps(s);
    size_t i;

    for (i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv));
    }
}

static void add_avx512(float *y, const float *x, size_t n)
{
    size_t i;

    for (i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i),
                                                      _mm512_maskz_loadu_ps(m, x + i)));
    }
}

/*
 * Depthwise convolution.  The plane is first copied, zero-padded, into scratch;
 * for stride 2 its columns are split into an even and an odd plane, so that every
 * tap of a stride-2 output vector is one contiguous load too.  Output vectors
 * ("units": 16 outputs of one row) are computed four at a time, each an
 * independent chain of k*k FMAs over the taps (fully unrolled for each k and
 * stride).  Lanes past the row end read the next padded row or the slack (zeros,
 * finite) and are neither stored nor summed.
 */
#define DW_VEC 16

/* Padded copy; stride 2: row r of the even plane at xp + r * wq, the odd plane
 * after it (wq = ceil(wp / 2) columns each). */
/* d[0..pad) = 0, d[pad..pad+w) = src[0..w), d[pad+w..pad+w+pad) = 0, inline (rows are
 * short: library calls per row cost more than the copy) */
static inline void pad_row(float *d, const float *src, int w, int pad)
{
    int c, i;

    for (i = 0; i < pad; i++)
        d[i] = 0.0f;
    for (c = 0; c + 16 <= w; c += 16)
        _mm512_storeu_ps(d + pad + c, _mm512_loadu_ps(src + c));
    if (c < w) {
        __mmask16 m = tail_mask((size_t)(w - c));
        _mm512_mask_storeu_ps(d + pad + c, m, _mm512_maskz_loadu_ps(m, src + c));
    }
    for (i = 0; i < pad; i++)
        d[pad + w + i] = 0.0f;
}

static inline void zero_floats(float *d, size_t n)
{
    size_t c;

    for (c = 0; c + 16 <= n; c += 16)
        _mm512_storeu_ps(d + c, _mm512_setzero_ps());
    if (c < n)
        _mm512_mask_storeu_ps(d + c, tail_mask(n - c), _mm512_setzero_ps());
}

static void dw_pad(const float *x, int h, int w, int pad, int stride, float *xp, int *row_floats)
{
    int wp = w + 2 * pad, hp = h + 2 * pad, r, c;
    size_t used;

    if (stride == 1) {
        zero_floats(xp, (size_t)pad * wp);
        for (r = 0; r < h; r++)
            pad_row(xp + (size_t)(r + pad) * wp, x + (size_t)r * w, w, pad);
        zero_floats(xp + (size_t)(h + pad) * wp, (size_t)pad * wp);
        used = (size_t)hp * wp;
        *row_floats = wp;
    } else {
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        int wq = (wp + 1) / 2;
        float *ev = xp, *od = xp + (size_t)hp * wq;
        /* one padded row at a time, deinterleaved 32 columns per step; the row
         * buffer sits past both planes, in the part of scratch kept for it */
        float *row = xp + 2 * (size_t)hp * wq;
        zero_floats(ev, (size_t)pad * wq);
        zero_floats(od, (size_t)pad * wq);
        zero_floats(ev + (size_t)(h + pad) * wq, (size_t)pad * wq);
        zero_floats(od + (size_t)(h + pad) * wq, (size_t)pad * wq);
        zero_floats(row + wp, (size_t)(2 * wq - wp + 32));
        for (r = 0; r < h; r++) {
            float *e = ev + (size_t)(r + pad) * wq, *o = od + (size_t)(r + pad) * wq;
            pad_row(row, x + (size_t)r * w, w, pad);
            for (c = 0; c < wq; c += 16) {
                __m512 a = _mm512_loadu_ps(row + 2 * c), b = _mm512_loadu_ps(row + 2 * c + 16);
                __mmask16 m = tail_mask((size_t)(wq - c));
                _mm512_mask_storeu_ps(e + c, m, _mm512_permutex2var_ps(a, even, b));
                _mm512_mask_storeu_ps(o + c, m, _mm512_permutex2var_ps(a, odd, b));
            }
        }
        used = 2 * (size_t)hp * wq;
        *row_floats = wq;
    }
    /* vector loads of the last units reach at most 16 floats past the planes */
    if (stride == 1)
        zero_floats(xp + used, 64);
}

/* Loads of tap (ky, kx) for a unit starting at output column ox of output row oy. */
#define DW_SRC(K, S, oy, ox, ky, kx)                                                      \
    ((S) == 1 ? xp + (size_t)((oy) + (ky)) * rf + (ox) + (kx)                             \
              : xp + ((kx) & 1) * plane + (size_t)(2 * (oy) + (ky)) * rf + (ox) + ((kx) >> 1))

static inline __attribute__((always_inline)) double
dw_units(const float *xp, int rf, size_t plane, const float *wt, int K, int S, float bias,
         enum rvt_nn_act act, float *y, int oh, int ow)
{
    const int per_row = (ow + DW_VEC - 1) / DW_VEC, n_units = oh * per_row;
    const __m512 b = _mm512_set1_ps(bias);
    __m512 wv[25];
    __m512d sum = _mm512_setzero_pd();
    int u, t, j;

    for (t = 0; t < K * K; t++)
        wv[t] = _mm512_set1_ps(wt[t]);
    for (u = 0; u < n_units; u += 4) {
        int nu = n_units - u < 4 ? n_units - u : 4, oy[4], ox[4];
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (j = 0; j < 4; j++) {
            int uu = u + (j < nu ? j : 0); /* idle lanes redo unit u, never stored */
            oy[j] = uu / per_row;
            ox[j] = (uu - oy[j] * per_row) * DW_VEC;
        }
#pragma GCC unroll 5
        for (int ky = 0; ky < K; ky++) {
#pragma GCC unroll 5
            for (int kx = 0; kx < K; kx++) {
                __m512 w = wv[ky * K + kx];
                a0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(DW_SRC(K, S, oy[0], ox[0], ky, kx)), a0);
                a1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(DW_SRC(K, S, oy[1], ox[1], ky, kx)), a1);
                a2 = _mm512_fmadd_ps(w, _mm512_loadu_ps(DW_SRC(K, S, oy[2], ox[2], ky, kx)), a2);
                a3 = _mm512_fmadd_ps(w, _mm512_loadu_ps(DW_SRC(K, S, oy[3], ox[3], ky, kx)), a3);
            }
        }
        {
            /* the sum: float lanes over these (at most 4) units, then double */
            __m512 acc[4] = {a0, a1, a2, a3}, part = _mm512_setzero_ps();
            for (j = 0; j < nu; j++) {
                __mmask16 m = tail_mask((size_t)(ow - ox[j]));
                __m512 v = act512(_mm512_add_ps(acc[j], b), act);
                _mm512_mask_storeu_ps(y + (size_t)oy[j] * ow + ox[j], m, v);
                part = _mm512_mask_add_ps(part, m, part, v);
            }
            sum = acc_pd(sum, part);
        }
    }
    return _mm512_reduce_add_pd(sum);
}

static double dwconv_avx512(const float *x, int h, int w, const float *wt, int k, int stride,
                            int pad, float bias, enum rvt_nn_act act, float *y, int oh, int ow,
                            float *scratch)
{
    size_t plane;
    int rf;

    if (!((k == 3 || k == 5) && (stride == 1 || stride == 2)))
        return rvt_nn_dwconv_ref(x, h, w, wt, k, stride, pad, bias, act, y, oh, ow, scratch);
    dw_pad(x, h, w, pad, stride, scratch, &rf);
    plane = (size_t)(h + 2 * pad) * rf;
    if (k == 3)
        return stride == 1 ? dw_units(scratch, rf, plane, wt, 3, 1, bias, act, y, oh, ow)
                           : dw_units(scratch, rf, plane, wt, 3, 2, bias, act, y, oh, ow);
    return stride == 1 ? dw_units(scratch, rf, plane, wt, 5, 1, bias, act, y, oh, ow)
                       : dw_units(scratch, rf, plane, wt, 5, 2, bias, act, y, oh, ow);
}

/* ---- channels-last kernels (see ops.h) ---- */

/* d[q * c + c0 .. c1) = 0 for q < n pixels */
static inline void zero_slices(float *d, size_t n, int c, int c0, int c1)
{
    size_t q;
    int ch;

    if (c0 == 0 && c1 == c) {
        zero_floats(d, n * (size_t)c);
        return;
    }
    for (q = 0; q < n; q++)
        for (ch = c0; ch < c1; ch += 16)
            _mm512_storeu_ps(d + q * (size_t)c + ch, _mm512_setzero_ps());
}

static void pad_act_cl_avx512(const float *x, int h, int w, int c, int c0, int c1, int pad,
                              const float *bias, enum rvt_nn_act act, float *xp)
{
    int wp = w + 2 * pad, hp = h + 2 * pad, r, q, ch;
    size_t row = (size_t)wp * c;

    for (r = 0; r < hp; r++) {
        float *d = xp + (size_t)r * row;
        const float *sx = x + (size_t)(r - pad) * w * c;
        if (r < pad || r >= h + pad) {
            zero_slices(d, (size_t)wp, c, c0, c1);
            continue;
        }
        zero_slices(d, (size_t)pad, c, c0, c1);
        for (q = 0; q < w; q++) {
            const float *a = sx + (size_t)q * c;
            float *o = d + (size_t)(q + pad) * c;
            for (ch = c0; ch < c1; ch += 16)
                _mm512_storeu_ps(o + ch, act512(_mm512_add_ps(_mm512_loadu_ps(a + ch),
                                                              _mm512_loadu_ps(bias + ch)), act));
        }
        zero_slices(d + (size_t)(w + pad) * c, (size_t)pad, c, c0, c1);
    }
}

/*
 * NX output pixels of a row, 16 channels (one vector), as NX independent FMA chains:
 * enough of them (8) to keep both FMA ports busy through the FMA latency.  Each
 * output's taps go in (ky, kx) order, as in rvt_nn_dwconv_cl_ref.  Stride 1 loads
 * each input vector of a tap row once for all the chains that use it (NX + K - 1
 * loads for NX * K FMAs); stride 2 loads per FMA.  Weights: K = 3 from registers
 * (wv), K = 5 from memory (25 vectors and 8 chains would not fit in the registers).
 * The outputs (act applied) are added to *rs in pixel order.
 */
static inline __attribute__((always_inline)) void
dw_chunk(const float *p0, size_t wpc, size_t cs, const __m512 *wv, const float *wm, int K,
         int S, int NX, __m512 b, enum rvt_nn_act act, float *yo, __m512 *rs)
{
    __m512 acc[8];
    int i, ky, kx;

#pragma GCC unroll 8
    for (i = 0; i < NX; i++)
        acc[i] = _mm512_setzero_ps();
#pragma GCC unroll 5
    for (ky = 0; ky < K; ky++) {
        const float *pr = p0 + (size_t)ky * wpc;
        if (S == 1) {
            __m512 in[8 + 4];
#pragma GCC unroll 12
            for (i = 0; i < NX + K - 1; i++)
                in[i] = _mm512_loadu_ps(pr + (size_t)i * cs);
#pragma GCC unroll 5
            for (kx = 0; kx < K; kx++) {
                __m512 w = K == 3 ? wv[ky * K + kx] : _mm512_loadu_ps(wm + (size_t)(ky * K + kx) * cs);
#pragma GCC unroll 8
                for (i = 0; i < NX; i++)
                    acc[i] = _mm512_fmadd_ps(w, in[i + kx], acc[i]);
            }
        } else {
#pragma GCC unroll 5
            for (kx = 0; kx < K; kx++) {
                __m512 w = K == 3 ? wv[ky * K + kx] : _mm512_loadu_ps(wm + (size_t)(ky * K + kx) * cs);
#pragma GCC unroll 8
                for (i = 0; i < NX; i++)
                    acc[i] = _mm512_fmadd_ps(
                        w, _mm512_loadu_ps(pr + ((size_t)i * S + (size_t)kx) * cs), acc[i]);
            }
        }
    }
#pragma GCC unroll 8
    for (i = 0; i < NX; i++) {
        __m512 v = act512(_mm512_add_ps(acc[i], b), act);
        _mm512_storeu_ps(yo + (size_t)i * cs, v);
        *rs = _mm512_add_ps(*rs, v);
    }
}

/*
 * dw_chunk for two output rows at once, stride 1: each of the K + 1 input rows is
 * loaded once for both, where two dw_chunk calls load the K - 1 rows they share twice
 * (a third fewer input loads at K = 3, two fifths at K = 5: the rows come from L2,
 * the kernel's bound).  Each output is still one chain over its taps in (ky, kx)
 * order, so the same bits; the weights come from memory (16 accumulators and up to 12
 * inputs leave no registers for them).  NX (1-8) outputs of each row; the second
 * row's at yo + ldo.  Also the rows' last ow % 8 outputs, one slice at a time (2 NX
 * chains, as dw_rem's two slices of one row).
 */
static inline __attribute__((always_inline)) void
dw_chunk2(const float *p0, size_t wpc, size_t cs, const float *wm, int K, int NX, __m512 b,
          enum rvt_nn_act act, float *yo, size_t ldo, __m512 *rs0, __m512 *rs1)
{
    __m512 acc[2][8];
    int i, r, t, kx;

#pragma GCC unroll 8
    for (i = 0; i < NX; i++)
        acc[0][i] = acc[1][i] = _mm512_setzero_ps();
#pragma GCC unroll 6
    for (t = 0; t < K + 1; t++) {
        const float *pr = p0 + (size_t)t * wpc;
        __m512 in[8 + 4];
#pragma GCC unroll 12
        for (i = 0; i < NX + K - 1; i++)
            in[i] = _mm512_loadu_ps(pr + (size_t)i * cs);
#pragma GCC unroll 2
        for (r = 0; r < 2; r++) {
            const int ky = t - r;
            if (ky < 0 || ky >= K)
                continue;
#pragma GCC unroll 5
            for (kx = 0; kx < K; kx++) {
                __m512 w = _mm512_loadu_ps(wm + (size_t)(ky * K + kx) * cs);
#pragma GCC unroll 8
                for (i = 0; i < NX; i++)
                    acc[r][i] = _mm512_fmadd_ps(w, in[i + kx], acc[r][i]);
            }
        }
    }
#pragma GCC unroll 8
    for (i = 0; i < NX; i++) {
        __m512 v0 = act512(_mm512_add_ps(acc[0][i], b), act);
        __m512 v1 = act512(_mm512_add_ps(acc[1][i], b), act);
        _mm512_storeu_ps(yo + (size_t)i * cs, v0);
        _mm512_storeu_ps(yo + ldo + (size_t)i * cs, v1);
        *rs0 = _mm512_add_ps(*rs0, v0);
        *rs1 = _mm512_add_ps(*rs1, v1);
    }
}

/*
 * The last ow % 8 outputs of a row (NX < 8) for G (1 or 2) slices of 16 channels at
 * once: G * NX independent chains, where one slice alone left the 7 x 7 and 14 x 14
 * maps' rows to a 4-chain chunk and 2-chain singles waiting on the FMA latency.  Each
 * output is still one chain over the taps in (ky, kx) order, and rs[g] gets the
 * outputs in pixel order after the row's chunks: the same bits.  Loads per FMA, the
 * weights from memory.
 */
static inline __attribute__((always_inline)) void
dw_rem(const float *p0, size_t wpc, size_t cs, const float *wm, int K, int S, int NX, int G,
       const float *bias, enum rvt_nn_act act, float *yo, __m512 *rs)
{
    __m512 acc[2][7];
    int g, i, ky, kx;

#pragma GCC unroll 2
    for (g = 0; g < G; g++)
#pragma GCC unroll 7
        for (i = 0; i < NX; i++)
            acc[g][i] = _mm512_setzero_ps();
#pragma GCC unroll 5
    for (ky = 0; ky < K; ky++)
#pragma GCC unroll 5
        for (kx = 0; kx < K; kx++)
#pragma GCC unroll 2
            for (g = 0; g < G; g++) {
                __m512 w = _mm512_loadu_ps(wm + (size_t)(ky * K + kx) * cs + 16 * g);
                const float *pr = p0 + (size_t)ky * wpc + (size_t)kx * cs + 16 * g;
#pragma GCC unroll 7
                for (i = 0; i < NX; i++)
                    acc[g][i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(pr + (size_t)i * S * cs),
                                                acc[g][i]);
            }
#pragma GCC unroll 2
    for (g = 0; g < G; g++) {
        __m512 b = _mm512_loadu_ps(bias + 16 * g);
#pragma GCC unroll 7
        for (i = 0; i < NX; i++) {
            __m512 v = act512(_mm512_add_ps(acc[g][i], b), act);
            _mm512_storeu_ps(yo + (size_t)i * cs + 16 * g, v);
            rs[g] = _mm512_add_ps(rs[g], v);
        }
    }
}

#define DW_REM2_CASE(nx) \
    case nx: dw_chunk2(p0, wpc, cs, wm, K, nx, b, act, yo, ldo, rs0, rs1); break;

static inline __attribute__((always_inline)) void
dw_rem2_n(const float *p0, size_t wpc, size_t cs, const float *wm, int K, int nx, __m512 b,
          enum rvt_nn_act act, float *yo, size_t ldo, __m512 *rs0, __m512 *rs1)
{
    switch (nx) {
        DW_REM2_CASE(1)
        DW_REM2_CASE(2)
        DW_REM2_CASE(3)
        DW_REM2_CASE(4)
        DW_REM2_CASE(5)
        DW_REM2_CASE(6)
        DW_REM2_CASE(7)
    default: break;
    }
}

#define DW_REM_CASE(nx) \
    case nx: \
        if (G == 2) \
            dw_rem(p0, wpc, cs, wm, K, S, nx, 2, bias, act, yo, rs); \
        else \
            dw_rem(p0, wpc, cs, wm, K, S, nx, 1, bias, act, yo, rs); \
        break;

static inline __attribute__((always_inline)) void
dw_rem_n(const float *p0, size_t wpc, size_t cs, const float *wm, int K, int S, int nx, int G,
         const float *bias, enum rvt_nn_act act, float *yo, __m512 *rs)
{
    switch (nx) {
        DW_REM_CASE(1)
        DW_REM_CASE(2)
        DW_REM_CASE(3)
        DW_REM_CASE(4)
        DW_REM_CASE(5)
        DW_REM_CASE(6)
        DW_REM_CASE(7)
    default: break;
    }
}

/* The most slices of 16 channels a row's remainder pass keeps sums for (1280 channels). */
#define DW_MAX_SLICES 80

/*
 * Output rows two at a time at stride 1 (dw_chunk2, the rows' last ow % 8 pixels
 * included), else one: 16 channels at a time, output pixels eight at a time along the
 * row (dw_chunk), then the row's last ow % 8 pixels two slices at a time (dw_rem).  Rows
 * outside, channel slices inside: the K input rows a row reads (K * wp * c floats, at
 * most ~300 KB in EfficientNet-B0) stay in L2 while every slice passes over them;
 * slices outside streamed the whole padded tensor (up to 5 MB) from L3 once per 16
 * channels (measured: ~8 % more time in this kernel, perf over the 240 sample clips).
 * A row's sums go to row_sums as they stand after its last pixel.
 */
static inline __attribute__((always_inline)) void
dwcl(const float *xp, int wp, int c, int c0, int c1, const float *wt, int K, int S,
     const float *bias, enum rvt_nn_act act, float *y, int oh, int ow, float *row_sums)
{
    const size_t cs = (size_t)c, step = (size_t)S * cs, wpc = (size_t)wp * cs;
    const size_t ldo = (size_t)ow * cs;
    const int ow8 = ow / 8 * 8, rem = ow - ow8;
    __m512 rsv[DW_MAX_SLICES];
    int cv, oy, ox, t, nr, r;

    assert((c1 - c0) / 16 <= DW_MAX_SLICES);
    for (oy = 0; oy < oh; oy += nr) {
        /* stride 1: two rows a pass (dw_chunk2) but for an odd last one */
        nr = S == 1 && oy + 1 < oh ? 2 : 1;
        for (cv = c0; cv < c1; cv += 16) {
            __m512 wv[25], b = _mm512_loadu_ps(bias + cv);
            const float *in = xp + (size_t)oy * S * wpc + cv;
            float *yr = y + (size_t)oy * ldo + cv;
            __m512 rs[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
            if (ow8 && nr == 2) {
                for (ox = 0; ox < ow8; ox += 8)
                    dw_chunk2(in + (size_t)ox * cs, wpc, cs, wt + cv, K, 8, b, act,
                              yr + (size_t)ox * cs, ldo, &rs[0], &rs[1]);
                if (rem) /* the rows' last outputs, in pixel order after the chunks */
                    dw_rem2_n(in + (size_t)ow8 * cs, wpc, cs, wt + cv, K, rem, b, act,
                              yr + (size_t)ow8 * cs, ldo, &rs[0], &rs[1]);
            } else if (nr == 2) { /* rows shorter than 8 */
                dw_rem2_n(in, wpc, cs, wt + cv, K, rem, b, act, yr, ldo, &rs[0], &rs[1]);
            } else if (ow8) {
                for (t = 0; t < K * K; t++)
                    wv[t] = _mm512_loadu_ps(wt + (size_t)t * cs + cv);
                for (ox = 0; ox < ow8; ox += 8)
                    dw_chunk(in + (size_t)ox * step, wpc, cs, wv, wt + cv, K, S, 8, b, act,
                             yr + (size_t)ox * cs, &rs[0]);
            }
            if (rem && nr == 1)
                rsv[(cv - c0) / 16] = rs[0];
            else
                for (r = 0; r < nr; r++)
                    _mm512_storeu_ps(row_sums + (size_t)(oy + r) * cs + cv, rs[r]);
        }
        if (!rem || nr == 2)
            continue;
        /* one row: its last outputs two slices at a time */
        for (cv = c0; cv < c1; cv += 32) {
            int G = c1 - cv >= 32 ? 2 : 1;
            __m512 *rs = rsv + (cv - c0) / 16;
            float *rsum = row_sums + (size_t)oy * cs + cv;
            dw_rem_n(xp + ((size_t)oy * S * wp + (size_t)ow8 * S) * cs + cv, wpc, cs, wt + cv,
                     K, S, rem, G, bias + cv, act, y + (size_t)oy * ldo + ow8 * cs + cv, rs);
            _mm512_storeu_ps(rsum, rs[0]);
            if (G == 2)
                _mm512_storeu_ps(rsum + 16, rs[1]);
        }
    }
}

static void dwconv_cl_avx512(const float *xp, int hp, int wp, int c, int c0, int c1,
                             const float *wt, int k, int stride, const float *bias,
                             enum rvt_nn_act act, float *y, int oh, int ow, float *row_sums)
{
    if (k == 3 && stride == 1)
        dwcl(xp, wp, c, c0, c1, wt, 3, 1, bias, act, y, oh, ow, row_sums);
    else if (k == 3 && stride == 2)
        dwcl(xp, wp, c, c0, c1, wt, 3, 2, bias, act, y, oh, ow, row_sums);
    else if (k == 5 && stride == 1)
        dwcl(xp, wp, c, c0, c1, wt, 5, 1, bias, act, y, oh, ow, row_sums);
    else if (k == 5 && stride == 2)
        dwcl(xp, wp, c, c0, c1, wt, 5, 2, bias, act, y, oh, ow, row_sums);
    else
        rvt_nn_dwconv_cl_ref(xp, hp, wp, c, c0, c1, wt, k, stride, bias, act, y, oh, ow, row_sums);
}

/* 16 channels at a time (c a multiple of 16), each in two double vectors */
static void sum_rows_avx512(const float *rows, int n_rows, int c, double *sums)
{
    int r, ch;

    for (ch = 0; ch < c; ch += 16) {
        __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
        for (r = 0; r < n_rows; r++) {
            __m512 v = _mm512_loadu_ps(rows + (size_t)r * c + ch);
            lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
            hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
        }
        _mm512_storeu_pd(sums + ch, lo);
        _mm512_storeu_pd(sums + ch + 8, hi);
    }
}

static void scale_cl_avx512(float *x, size_t n, int c, const float *g)
{
    size_t p;
    int ch;

    for (p = 0; p < n; p++) {
        float *q = x + p * (size_t)c;
        for (ch = 0; ch < c; ch += 16)
            _mm512_storeu_ps(q + ch, _mm512_mul_ps(_mm512_loadu_ps(q + ch), _mm512_loadu_ps(g + ch)));
    }
}

/* 16 outputs at a time: the 32 inputs of each row split into even and odd lanes, then
 * the same three max operations as rvt_nn_maxpool2, in the same operand order. */
static void maxpool2_avx512(const float *x, int c, int h, int w, float *y)
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    int ci, oy, ox, oh = h / 2, ow = w / 2;

    for (ci = 0; ci < c; ci++) {
        const float *xp = x + (size_t)ci * h * w;
        float *yp = y + (size_t)ci * oh * ow;
        for (oy = 0; oy < oh; oy++) {
            const float *r0 = xp + (size_t)(2 * oy) * w, *r1 = r0 + w;
            float *d = yp + (size_t)oy * ow;
            for (ox = 0; ox < ow; ox += 16) {
                int n = RVT_MIN(16, ow - ox);
                __mmask16 m = tail_mask((size_t)n);
                __mmask16 mlo = tail_mask((size_t)RVT_MIN(16, 2 * n));
                __mmask16 mhi = tail_mask((size_t)RVT_MAX(0, 2 * n - 16));
                __m512 a0 = _mm512_maskz_loadu_ps(mlo, r0 + 2 * ox);
                __m512 a1 = _mm512_maskz_loadu_ps(mhi, r0 + 2 * ox + 16);
                __m512 b0 = _mm512_maskz_loadu_ps(mlo, r1 + 2 * ox);
                __m512 b1 = _mm512_maskz_loadu_ps(mhi, r1 + 2 * ox + 16);
                __m512 a = _mm512_max_ps(_mm512_permutex2var_ps(a0, ev, a1),
                                         _mm512_permutex2var_ps(a0, od, a1));
                __m512 b = _mm512_max_ps(_mm512_permutex2var_ps(b0, ev, b1),
                                         _mm512_permutex2var_ps(b0, od, b1));
                _mm512_mask_storeu_ps(d + ox, m, _mm512_max_ps(a, b));
            }
        }
    }
}

/* ---- single-plane conv + 2x2 max pool, plane statistics (see ops.h) ---- */

/*
 * NC output channels of one step of plane_conv_pool (3 x 3, stride 1): in[r][kx] holds
 * padded row 2*py + r from column 2*px + kx on (16 lanes: conv columns 2*px ..
 * 2*px + 15 of conv rows 2*py, 2*py + 1), so a channel's two row vectors are
 * a0 = sum_{ky,kx} w * in[ky][kx], a1 = sum w * in[ky + 1][kx]: the FMA chain of
 * dw_units over the taps in (ky, kx) order from 0, then + bias and act512.  The pool
 * then takes exactly maxpool2_avx512's maxima: max(even, odd) of each row (lanes 0-7
 * row 0, lanes 8-15 row 1 after the two permutes), then max(row 0, row 1).
 */
static inline __attribute__((always_inline)) void
cp3_block(const __m512 in[4][3], const float *wt, const float *bias, enum rvt_nn_act act, int c,
          const int NC, float *y, size_t pn, __mmask8 m, __m512i ev, __m512i od)
{
    __m512 a0[4], a1[4];
    int j;

    for (j = 0; j < NC; j++) {
        a0[j] = _mm512_setzero_ps();
        a1[j] = _mm512_setzero_ps();
    }
#pragma GCC unroll 3
    for (int ky = 0; ky < 3; ky++)
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; kx++)
#pragma GCC unroll 8
            for (j = 0; j < NC; j++) {
                __m512 wv = _mm512_set1_ps(wt[(size_t)(c + j) * 9 + ky * 3 + kx]);
                a0[j] = _mm512_fmadd_ps(wv, in[ky][kx], a0[j]);
                a1[j] = _mm512_fmadd_ps(wv, in[ky + 1][kx], a1[j]);
            }
#pragma GCC unroll 8
    for (j = 0; j < NC; j++) {
        __m512 b = _mm512_set1_ps(bias ? bias[c + j] : 0.0f);
        __m512 v0 = act512(_mm512_add_ps(a0[j], b), act);
        __m512 v1 = act512(_mm512_add_ps(a1[j], b), act);
        __m512 mx = _mm512_max_ps(_mm512_permutex2var_ps(v0, ev, v1),
                                  _mm512_permutex2var_ps(v0, od, v1));
        __m256 r = _mm256_max_ps(_mm512_castps512_ps256(mx), _mm512_extractf32x8_ps(mx, 1));
        _mm256_mask_storeu_ps(y + (size_t)(c + j) * pn, m, r);
    }
}

/*
 * plane_conv_pool for k = 3, stride 1: the input is padded once (dwconv's copy), then
 * for each pooled row and each 8 pooled columns the 12 shifted input vectors are
 * loaded once and every channel runs on them, four channels (8 FMA chains) at a time
 * with broadcast weights.  dwconv_avx512 per channel padded the plane 32 times and ran
 * 4 chains.  Lanes past a row's end read the next padded row or the zeroed slack and
 * are not stored.
 */
static inline __attribute__((always_inline)) void
plane_conv_pool3_body(const float *x, int h, int w, const float *wt, int pad, const float *bias,
                      const enum rvt_nn_act act, int c0, int c1, float *y, float *scratch)
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    int oh = h + 2 * pad - 2, ow = w + 2 * pad - 2, ph = oh / 2, pw = ow / 2, rf, py, px, c;
    size_t pn = (size_t)ph * pw;

    if (ph < 1 || pw < 1 || c1 <= c0)
        return;
    dw_pad(x, h, w, pad, 1, scratch, &rf);
    for (py = 0; py < ph; py++)
        for (px = 0; px < pw; px += 8) {
            const float *s = scratch + (size_t)(2 * py) * rf + 2 * px;
            __mmask8 m = (__mmask8)tail_mask((size_t)RVT_MIN(8, pw - px));
            float *d = y + (size_t)py * pw + px;
            __m512 in[4][3];
            for (int r = 0; r < 4; r++)
                for (int kx = 0; kx < 3; kx++)
                    in[r][kx] = _mm512_loadu_ps(s + (size_t)r * rf + kx);
            for (c = c0; c + 4 <= c1; c += 4)
                cp3_block(in, wt, bias, act, c, 4, d, pn, m, ev, od);
            for (; c < c1; c++)
                cp3_block(in, wt, bias, act, c, 1, d, pn, m, ev, od);
        }
}

/* the activation a constant in the loops (ReLU is the audio branch's) */
static void plane_conv_pool3_avx512(const float *x, int h, int w, const float *wt, int pad,
                                    const float *bias, enum rvt_nn_act act, int c0, int c1,
                                    float *y, float *scratch)
{
    if (act == RVT_NN_ACT_RELU)
        plane_conv_pool3_body(x, h, w, wt, pad, bias, RVT_NN_ACT_RELU, c0, c1, y, scratch);
    else
        plane_conv_pool3_body(x, h, w, wt, pad, bias, act, c0, c1, y, scratch);
}

static void plane_conv_pool_avx512(const float *x, int h, int w, const float *wt, int k,
                                   int stride, int pad, const float *bias, enum rvt_nn_act act,
                                   int c0, int c1, float *y, float *scratch)
{
    if (k == 3 && stride == 1) {
        /* the conv plane's slot of scratch is not needed: the padded copy goes where
         * the parts' version puts it (the same size) */
        size_t n = (size_t)rvt_nn_out_size(h, 3, 1, pad) * rvt_nn_out_size(w, 3, 1, pad);
        plane_conv_pool3_avx512(x, h, w, wt, pad, bias, act, c0, c1, y,
                                scratch + (n + 15) / 16 * 16);
        return;
    }
    rvti_nn_plane_conv_pool_with(dwconv_avx512, maxpool2_avx512, x, h, w, wt, k, stride, pad,
                                 bias, act, c0, c1, y, scratch);
}

const struct rvt_nn_kernels rvti_nn_kernels_avx512 = {
    RVT_ISA_AVX512, dwconv_avx512, bias_act_avx512, scale_avx512, add_avx512,
    pad_act_cl_avx512, dwconv_cl_avx512, scale_cl_avx512, sum_rows_avx512, maxpool2_avx512,
    plane_conv_pool_avx512, rvti_nn_plane_mean_avx2, rvti_nn_plane_max_avx2,
};
