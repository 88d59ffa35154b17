/*
 * AVX2 + FMA twins of the fp32 kernels of nn/ops.h (built with -mavx2 -mfma by the
 * Makefile; only called when rvt_cpu_isa() >= RVT_ISA_AVX2).  Same algorithms as
 * x86/ops_avx512.c with 8 lanes.
 */
#include "core/common.h"

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "nn/ops_internal.h"

#include "nn/x86/act_avx2.h"

static inline __m256d acc_pd(__m256d acc, __m256 v)
{
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline double hsum_pd(__m256d v)
{
    double t[4];
    _mm256_storeu_pd(t, v);
    return (t[0] + t[1]) + (t[2] + t[3]);
}

/* Lane mask for the first n (< 8) lanes, for maskload/maskstore. */
static inline __m256i tail_mask(size_t n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n >= 8 ? 8 : n)), idx);
}

/* want_sum is a constant after inlining: the summing is compiled out when not asked */
static inline __attribute__((always_inline)) double
bias_act_body(float *x, size_t n, float bias, enum rvt_nn_act act, const bool want_sum)
{
    const __m256 b = _mm256_set1_ps(bias);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        __m256 v0 = act256(_mm256_add_ps(_mm256_loadu_ps(x + i), b), act);
        __m256 v1 = act256(_mm256_add_ps(_mm256_loadu_ps(x + i + 8), b), act);
        _mm256_storeu_ps(x + i, v0);
        _mm256_storeu_ps(x + i + 8, v1);
        if (want_sum) {
            s0 = acc_pd(s0, v0);
            s1 = acc_pd(s1, v1);
        }
    }
    for (; i < n; i += 8) {
        __m256i m = tail_mask(n - i);
        __m256 v = act256(_mm256_add_ps(_mm256_maskload_ps(x + i, m), b), act);
        v = _mm256_and_ps(v, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + i, m, v);
        if (want_sum)
            s0 = acc_pd(s0, v);
    }
    return want_sum ? hsum_pd(_mm256_add_pd(s0, s1)) : 0.0;
}

static void bias_act_avx2(float *x, size_t n, float bias, enum rvt_nn_act act, double *sum)
{
    if (sum)
        *sum = bias_act_body(x, n, bias, act, true);
    else
        bias_act_body(x, n, bias, act, false);
}

static void scale_avx2(float *x, size_t n, float s)
{
    const __m256 sv = _mm256_set1_ps(s);
    size_t i = 0;

    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), sv));
    for (; i < n; i++)
        x[i] *= s;
}

static void add_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] += x[i];
}

/*
 * Depthwise convolution: the algorithm of ops_avx512.c (padded copy, stride-2
 * planes split into even and odd columns, four 8-wide output units at a time,
 * taps unrolled for k = 3 and 5).
 */
#define DW_VEC 8

static inline void pad_row(float *d, const float *src, int w, int pad)
{
    int c, i;

    for (i = 0; i < pad; i++)
        d[i] = 0.0f;
    for (c = 0; c + 8 <= w; c += 8)
        _mm256_storeu_ps(d + pad + c, _mm256_loadu_ps(src + c));
    for (; c < w; c++)
        d[pad + c] = src[c];
    for (i = 0; i < pad; i++)
        d[pad + w + i] = 0.0f;
}

static inline void zero_floats(float *d, size_t n)
{
    size_t c;

    for (c = 0; c + 8 <= n; c += 8)
        _mm256_storeu_ps(d + c, _mm256_setzero_ps());
    if (c < n)
        _mm256_maskstore_ps(d + c, tail_mask(n - c), _mm256_setzero_ps());
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
        int wq = (wp + 1) / 2;
        float *ev = xp, *od = xp + (size_t)hp * wq, *row = xp + 2 * (size_t)hp * wq;
        zero_floats(ev, (size_t)pad * wq);
        zero_floats(od, (size_t)pad * wq);
        zero_floats(ev + (size_t)(h + pad) * wq, (size_t)pad * wq);
        zero_floats(od + (size_t)(h + pad) * wq, (size_t)pad * wq);
        zero_floats(row + wp, (size_t)(2 * wq - wp + 32));
        for (r = 0; r < h; r++) {
            float *e = ev + (size_t)(r + pad) * wq, *o = od + (size_t)(r + pad) * wq;
            pad_row(row, x + (size_t)r * w, w, pad);
            /* 8 columns of each at a time: the split is a tenth of the fused 3 x 3
             * plane_conv_pool's time when done one float at a time */
            for (c = 0; c + 8 <= wq; c += 8) {
                __m256 lo = _mm256_loadu_ps(row + 2 * c), hi = _mm256_loadu_ps(row + 2 * c + 8);
                /* lanes lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6, then 64-bit pairs 0 2 1 3 */
                __m256d ve = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)));
                __m256d vo = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
                _mm256_storeu_ps(e + c, _mm256_castpd_ps(_mm256_permute4x64_pd(ve, 0xd8)));
                _mm256_storeu_ps(o + c, _mm256_castpd_ps(_mm256_permute4x64_pd(vo, 0xd8)));
            }
            for (; c < wq; c++) {
                e[c] = row[2 * c];
                o[c] = row[2 * c + 1];
            }
        }
        used = 2 * (size_t)hp * wq;
        *row_floats = wq;
    }
    if (stride == 1)
        zero_floats(xp + used, 64);
}

#define DW_SRC(K, S, oy, ox, ky, kx)                                                      \
    ((S) == 1 ? xp + (size_t)((oy) + (ky)) * rf + (ox) + (kx)                             \
              : xp + ((kx) & 1) * plane + (size_t)(2 * (oy) + (ky)) * rf + (ox) + ((kx) >> 1))

static inline __attribute__((always_inline)) double
dw_units(const float *xp, int rf, size_t plane, const float *wt, int K, int S, float bias,
         enum rvt_nn_act act, float *y, int oh, int ow)
{
    const int per_row = (ow + DW_VEC - 1) / DW_VEC, n_units = oh * per_row;
    const __m256 b = _mm256_set1_ps(bias);
    __m256d sum = _mm256_setzero_pd();
    int u, j;

    for (u = 0; u < n_units; u += 4) {
        int nu = n_units - u < 4 ? n_units - u : 4, oy[4], ox[4];
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (j = 0; j < 4; j++) {
            int uu = u + (j < nu ? j : 0);
            oy[j] = uu / per_row;
            ox[j] = (uu - oy[j] * per_row) * DW_VEC;
        }
#pragma GCC unroll 5
        for (int ky = 0; ky < K; ky++) {
#pragma GCC unroll 5
            for (int kx = 0; kx < K; kx++) {
                __m256 w = _mm256_broadcast_ss(wt + ky * K + kx);
                a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(DW_SRC(K, S, oy[0], ox[0], ky, kx)), a0);
                a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(DW_SRC(K, S, oy[1], ox[1], ky, kx)), a1);
                a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(DW_SRC(K, S, oy[2], ox[2], ky, kx)), a2);
                a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(DW_SRC(K, S, oy[3], ox[3], ky, kx)), a3);
            }
        }
        {
            __m256 acc[4] = {a0, a1, a2, a3}, part = _mm256_setzero_ps();
            for (j = 0; j < nu; j++) {
                __m256i m = tail_mask((size_t)(ow - ox[j]));
                __m256 v = _mm256_and_ps(act256(_mm256_add_ps(acc[j], b), act), _mm256_castsi256_ps(m));
                _mm256_maskstore_ps(y + (size_t)oy[j] * ow + ox[j], m, v);
                part = _mm256_add_ps(part, v);
            }
            sum = acc_pd(sum, part);
        }
    }
    return hsum_pd(sum);
}

static double dwconv_avx2(const float *x, int h, int w, const float *wt, int k, int stride,
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

/* One tap row q[0..2] into an even (e) and an odd (o) conv column vector: the even
 * columns' taps read a, b, a1 (even plane, odd plane, even plane one on), the odd
 * columns' b, a1, b1; the FMAs in tap order, as dw_units adds them. */
static inline __attribute__((always_inline)) void cp3_taps(const float *q, __m256 a, __m256 b,
                                                           __m256 a1, __m256 b1, __m256 *e,
                                                           __m256 *o)
{
    __m256 w0 = _mm256_broadcast_ss(q), w1 = _mm256_broadcast_ss(q + 1);
    __m256 w2 = _mm256_broadcast_ss(q + 2);

    *e = _mm256_fmadd_ps(w0, a, *e);
    *o = _mm256_fmadd_ps(w0, b, *o);
    *e = _mm256_fmadd_ps(w1, b, *e);
    *o = _mm256_fmadd_ps(w1, a1, *o);
    *e = _mm256_fmadd_ps(w2, a1, *e);
    *o = _mm256_fmadd_ps(w2, b1, *o);
}

/*
 * NC output channels of one step of plane_conv_pool (3 x 3, stride 1) on 8 pooled
 * columns.  The padded plane is split into even and odd columns (dw_pad's stride-2
 * layout), so the conv's even columns 2i use ev[i], od[i], ev[i + 1] and its odd
 * columns 2i + 1 use od[i], ev[i + 1], od[i + 1]: no lane shuffles, and the pooled
 * lanes come out in order.  Per padded row r (0..3) of the band the four vectors are
 * loaded once; conv row 0 takes tap row ky = r, conv row 1 ky = r - 1, so every
 * output's FMA chain still runs over the taps in (ky, kx) order from 0, as in
 * dw_units, then + bias and act256.  The pool is rvt_nn_maxpool2's order:
 * max(even, odd) of each row, then max(row 0, row 1) (vmaxps keeps RVT_MAX's
 * a > b ? a : b, NaNs and zeros included).
 */
static inline __attribute__((always_inline)) void
cp3_block(const float *ev, const float *od, int rf, const float *wt, const float *bias,
          enum rvt_nn_act act, int c, const int NC, float *y, size_t pn, __m256i m, bool tail)
{
    __m256 e0[2], o0[2], e1[2], o1[2];
    int j;

    for (j = 0; j < NC; j++)
        e0[j] = o0[j] = e1[j] = o1[j] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        const float *pe = ev + (size_t)r * rf, *po = od + (size_t)r * rf;
        const __m256 a = _mm256_loadu_ps(pe), b = _mm256_loadu_ps(po);
        const __m256 a1 = _mm256_loadu_ps(pe + 1), b1 = _mm256_loadu_ps(po + 1);
#pragma GCC unroll 2
        for (j = 0; j < NC; j++) {
            const float *q = wt + (size_t)(c + j) * 9 + r * 3; /* tap row r; r - 1 at q - 3 */
            if (r < 3)
                cp3_taps(q, a, b, a1, b1, &e0[j], &o0[j]);
            if (r > 0)
                cp3_taps(q - 3, a, b, a1, b1, &e1[j], &o1[j]);
        }
    }
#pragma GCC unroll 2
    for (j = 0; j < NC; j++) {
        __m256 bv = _mm256_set1_ps(bias ? bias[c + j] : 0.0f);
        __m256 r0 = _mm256_max_ps(act256(_mm256_add_ps(e0[j], bv), act),
                                  act256(_mm256_add_ps(o0[j], bv), act));
        __m256 r1 = _mm256_max_ps(act256(_mm256_add_ps(e1[j], bv), act),
                                  act256(_mm256_add_ps(o1[j], bv), act));
        float *d = y + (size_t)(c + j) * pn;
        if (tail)
            _mm256_maskstore_ps(d, m, _mm256_max_ps(r0, r1));
        else
            _mm256_storeu_ps(d, _mm256_max_ps(r0, r1));
    }
}

/*
 * plane_conv_pool for k = 3, stride 1: the input is padded and split once (dwconv's
 * per-channel padding ran 32 times), then for each pooled row and each 8 pooled
 * columns every channel runs on the same band of 4 padded rows (in L1), two channels
 * (8 FMA chains) at a time.  Lanes past a row's end read the next split row or
 * dw_pad's initialised row buffer after the odd plane and are not stored.
 */
static inline __attribute__((always_inline)) void
plane_conv_pool3_body(const float *x, int h, int w, const float *wt, int pad, const float *bias,
                      const enum rvt_nn_act act, int c0, int c1, float *y, float *scratch)
{
    int oh = h + 2 * pad - 2, ow = w + 2 * pad - 2, ph = oh / 2, pw = ow / 2, rf, py, px, c;
    size_t pn = (size_t)ph * pw, plane;

    if (ph < 1 || pw < 1 || c1 <= c0)
        return;
    dw_pad(x, h, w, pad, 2, scratch, &rf);
    plane = (size_t)(h + 2 * pad) * rf;
    for (py = 0; py < ph; py++)
        for (px = 0; px < pw; px += 8) {
            const float *ev = scratch + (size_t)(2 * py) * rf + px, *od = ev + plane;
            __m256i m = tail_mask((size_t)(pw - px));
            bool tail = pw - px < 8;
            float *d = y + (size_t)py * pw + px;
            for (c = c0; c + 2 <= c1; c += 2)
                cp3_block(ev, od, rf, wt, bias, act, c, 2, d, pn, m, tail);
            if (c < c1)
                cp3_block(ev, od, rf, wt, bias, act, c, 1, d, pn, m, tail);
        }
}

/* the activation a constant in the loops (ReLU is the audio branch's) */
static void plane_conv_pool3_avx2(const float *x, int h, int w, const float *wt, int pad,
                                  const float *bias, enum rvt_nn_act act, int c0, int c1,
                                  float *y, float *scratch)
{
    if (act == RVT_NN_ACT_RELU)
        plane_conv_pool3_body(x, h, w, wt, pad, bias, RVT_NN_ACT_RELU, c0, c1, y, scratch);
    else
        plane_conv_pool3_body(x, h, w, wt, pad, bias, act, c0, c1, y, scratch);
}

/* k = 3, stride 1 (the audio branch's first layer) fused above; otherwise this level's
 * dwconv per channel, then the portable max pool */
static void plane_conv_pool_avx2(const float *x, int h, int w, const float *wt, int k, int stride,
                                 int pad, const float *bias, enum rvt_nn_act act, int c0, int c1,
                                 float *y, float *scratch)
{
    if (k == 3 && stride == 1) {
        /* the conv plane's slot of scratch is not needed: the split copy goes where
         * the generic path puts dwconv's (rvt_nn_dwconv_scratch covers its layout) */
        size_t n = (size_t)rvt_nn_out_size(h, 3, 1, pad) * rvt_nn_out_size(w, 3, 1, pad);
        plane_conv_pool3_avx2(x, h, w, wt, pad, bias, act, c0, c1, y,
                              scratch + (n + 15) / 16 * 16);
        return;
    }
    rvti_nn_plane_conv_pool_with(dwconv_avx2, rvt_nn_maxpool2, x, h, w, wt, k, stride, pad, bias,
                                 act, c0, c1, y, scratch);
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
        for (ch = c0; ch < c1; ch += 8)
            _mm256_storeu_ps(d + q * (size_t)c + ch, _mm256_setzero_ps());
}

static void pad_act_cl_avx2(const float *x, int h, int w, int c, int c0, int c1, int pad,
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
            for (ch = c0; ch < c1; ch += 8)
                _mm256_storeu_ps(o + ch, act256(_mm256_add_ps(_mm256_loadu_ps(a + ch),
                                                              _mm256_loadu_ps(bias + ch)), act));
        }
        zero_slices(d + (size_t)(w + pad) * c, (size_t)pad, c, c0, c1);
    }
}

/*
 * NX (1-8) output pixels of one row, 8 channels (one vector): NX independent FMA chains,
 * 8 of them being what keeps both FMA pipes busy through the FMA latency.  Each output
 * is one chain over its taps in (ky, kx) order from 0, then + bias: the arithmetic of
 * the AVX-512 kernel (dw_chunk), so the two levels' values before the activation are
 * the same bits.  Per tap row the K weights are loaded (from L1) and every input
 * vector of the row once, each feeding the (up to K, stride 2 up to ceil(K / 2))
 * chains that use it: NX + K weights and inputs in registers at most 15 of the 16
 * where all 25 weights would not fit.  Input j serves output i with tap kx = j - S i,
 * so going up j keeps every chain's taps in kx order.  The sums are stored before the
 * activation: act_row applies it once the row's chunks are done (with the SiLU's
 * temporaries in the same function the accumulators spilled to the stack: the K = 3
 * layers ran at ~20 ns an output vector, 2.5x their no-activation time).
 */
static inline __attribute__((always_inline)) void
cl_chunk(const float *p0, size_t wpc, size_t cs, const float *wm, int K, int S, int NX,
         __m256 b, float *yo)
{
    __m256 acc[8];
    int i, j, ky, kx;

#pragma GCC unroll 8
    for (i = 0; i < NX; i++)
        acc[i] = _mm256_setzero_ps();
#pragma GCC unroll 5
    for (ky = 0; ky < K; ky++) {
        const float *pr = p0 + (size_t)ky * wpc;
        __m256 w[5];
#pragma GCC unroll 5
        for (kx = 0; kx < K; kx++)
            w[kx] = _mm256_loadu_ps(wm + (size_t)(ky * K + kx) * cs);
#pragma GCC unroll 19
        for (j = 0; j < S * (NX - 1) + K; j++) {
            __m256 v = _mm256_loadu_ps(pr + (size_t)j * cs);
#pragma GCC unroll 8
            for (i = 0; i < NX; i++) {
                kx = j - S * i;
                if (kx >= 0 && kx < K)
                    acc[i] = _mm256_fmadd_ps(w[kx], v, acc[i]);
            }
        }
    }
#pragma GCC unroll 8
    for (i = 0; i < NX; i++)
        _mm256_storeu_ps(yo + (size_t)i * cs, _mm256_add_ps(acc[i], b));
}

#define CL_CHUNK_CASE(nx) \
    case nx: cl_chunk(p0, wpc, cs, wm, K, S, nx, b, yo); break;

static inline __attribute__((always_inline)) void
cl_chunk_n(const float *p0, size_t wpc, size_t cs, const float *wm, int K, int S, int nx,
           __m256 b, float *yo)
{
    switch (nx) {
        CL_CHUNK_CASE(1)
        CL_CHUNK_CASE(2)
        CL_CHUNK_CASE(3)
        CL_CHUNK_CASE(4)
        CL_CHUNK_CASE(5)
        CL_CHUNK_CASE(6)
        CL_CHUNK_CASE(7)
        CL_CHUNK_CASE(8)
    default: break;
    }
}

/* K = 5: one function per (S, NX), not inlined, so that each gets a register allocation
 * of its own (inlined into the row loop some spilled accumulators): 5-15 % faster on the
 * k5 layers, where K = 3 chunks lost ~15 % to the calls (best of 20, microbenchmark). */
typedef void (*cl_chunk_fn)(const float *p0, size_t wpc, size_t cs, const float *wm, __m256 b,
                            float *yo);

#define CL_CHUNK5_FN(S, NX)                                                                    \
    static __attribute__((noinline)) void cl_chunk5_##S##_##NX(                                \
        const float *p0, size_t wpc, size_t cs, const float *wm, __m256 b, float *yo)          \
    {                                                                                          \
        cl_chunk(p0, wpc, cs, wm, 5, S, NX, b, yo);                                            \
    }
#define CL_CHUNK5_FNS(S)                                                                       \
    CL_CHUNK5_FN(S, 1) CL_CHUNK5_FN(S, 2) CL_CHUNK5_FN(S, 3) CL_CHUNK5_FN(S, 4)                \
    CL_CHUNK5_FN(S, 5) CL_CHUNK5_FN(S, 6) CL_CHUNK5_FN(S, 7) CL_CHUNK5_FN(S, 8)
#define CL_CHUNK5_ROW(S)                                                                       \
    {cl_chunk5_##S##_1, cl_chunk5_##S##_2, cl_chunk5_##S##_3, cl_chunk5_##S##_4,               \
     cl_chunk5_##S##_5, cl_chunk5_##S##_6, cl_chunk5_##S##_7, cl_chunk5_##S##_8}

CL_CHUNK5_FNS(1)
CL_CHUNK5_FNS(2)

/* [stride - 1][nx - 1] */
static const cl_chunk_fn cl_chunks5[2][8] = {CL_CHUNK5_ROW(1), CL_CHUNK5_ROW(2)};

/*
 * Channels [cv, cv + 16) of one output row of ow pixels (at yr, cs floats a pixel):
 * y = act(y) in place, each added to the slice's row sums in pixel order.  ACT is a
 * constant after inlining (dwcl_act).
 */
static inline __attribute__((always_inline)) void
act_row(float *yr, size_t cs, int ow, enum rvt_nn_act act, __m256 *rs0, __m256 *rs1)
{
    int ox;

    for (ox = 0; ox < ow; ox++) {
        float *q = yr + (size_t)ox * cs;
        __m256 v0 = act256(_mm256_loadu_ps(q), act), v1 = act256(_mm256_loadu_ps(q + 8), act);
        _mm256_storeu_ps(q, v0);
        _mm256_storeu_ps(q + 8, v1);
        *rs0 = _mm256_add_ps(*rs0, v0);
        *rs1 = _mm256_add_ps(*rs1, v1);
    }
}

static void act_row_any(float *yr, size_t cs, int ow, enum rvt_nn_act act, __m256 *rs0, __m256 *rs1)
{
    switch (act) {
    case RVT_NN_ACT_RELU: act_row(yr, cs, ow, RVT_NN_ACT_RELU, rs0, rs1); break;
    case RVT_NN_ACT_SIGMOID: act_row(yr, cs, ow, RVT_NN_ACT_SIGMOID, rs0, rs1); break;
    case RVT_NN_ACT_SILU: act_row(yr, cs, ow, RVT_NN_ACT_SILU, rs0, rs1); break;
    case RVT_NN_ACT_SILU_Q: act_row(yr, cs, ow, RVT_NN_ACT_SILU_Q, rs0, rs1); break;
    case RVT_NN_ACT_NONE:
    default: act_row(yr, cs, ow, RVT_NN_ACT_NONE, rs0, rs1); break;
    }
}

/*
 * Rows outside, 16-channel slices inside (as the AVX-512 kernel: a row's K input rows
 * stay in L2 while the slices pass over them).  A row is cut into ceil(ow / 8) chunks
 * of near-equal size (14 = 7 + 7, 28 = 4 x 7, not 8 + 6 or 3 x 8 + 4: the short chunk
 * would leave the FMA pipes waiting), and each chunk runs the slice's two 8-channel
 * halves back to back, so the second half finds the 64-byte lines the first brought
 * into L1.  An output's chain and a row sum's order do not depend on the chunking, the
 * slice or the row band.
 */
static inline __attribute__((always_inline)) void
dwcl(const float *xp, int wp, int c, int c0, int c1, const float *wt, int K, int S,
     const float *bias, enum rvt_nn_act act, float *y, int oh, int ow, float *row_sums)
{
    const size_t cs = (size_t)c, wpc = (size_t)wp * cs, ldo = (size_t)ow * cs;
    const int n_chunks = (ow + 7) / 8, base = n_chunks ? ow / n_chunks : 0;
    const int extra = n_chunks ? ow % n_chunks : 0;
    int oy, cv, q, ox, nx;

    for (oy = 0; oy < oh; oy++) {
        const float *in = xp + (size_t)oy * S * wpc;
        float *yr = y + (size_t)oy * ldo;
        for (cv = c0; cv < c1; cv += 16) {
            /* the halves' sums and biases as plain variables: kept in arrays indexed by
             * a half loop they went through memory, ~25 % slower */
            __m256 rs0 = _mm256_setzero_ps(), rs1 = _mm256_setzero_ps();
            const __m256 b0 = _mm256_loadu_ps(bias + cv), b1 = _mm256_loadu_ps(bias + cv + 8);
            for (q = 0, ox = 0; q < n_chunks; q++, ox += nx) {
                const float *p = in + (size_t)ox * S * cs + cv;
                float *yo = yr + (size_t)ox * cs + cv;
                nx = base + (q < extra);
                if (K == 5) {
                    const cl_chunk_fn f = cl_chunks5[S - 1][nx - 1];
                    f(p, wpc, cs, wt + cv, b0, yo);
                    f(p + 8, wpc, cs, wt + cv + 8, b1, yo + 8);
                } else {
                    cl_chunk_n(p, wpc, cs, wt + cv, K, S, nx, b0, yo);
                    cl_chunk_n(p + 8, wpc, cs, wt + cv + 8, K, S, nx, b1, yo + 8);
                }
            }
            /* the row slice (ow x 64 bytes, in L1) through the activation */
            act_row_any(yr + cv, cs, ow, act, &rs0, &rs1);
            _mm256_storeu_ps(row_sums + (size_t)oy * cs + cv, rs0);
            _mm256_storeu_ps(row_sums + (size_t)oy * cs + cv + 8, rs1);
        }
    }
}

static void dwconv_cl_avx2(const float *xp, int hp, int wp, int c, int c0, int c1,
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

/* 16 channels a pass (c a multiple of 16), in four double vectors: four independent
 * chains, each channel's additions in row order from 0 as in the reference */
static void sum_rows_avx2(const float *rows, int n_rows, int c, double *sums)
{
    int r, ch;

    for (ch = 0; ch < c; ch += 16) {
        __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
        for (r = 0; r < n_rows; r++) {
            const float *p = rows + (size_t)r * c + ch;
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(p)));
            s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(p + 4)));
            s2 = _mm256_add_pd(s2, _mm256_cvtps_pd(_mm_loadu_ps(p + 8)));
            s3 = _mm256_add_pd(s3, _mm256_cvtps_pd(_mm_loadu_ps(p + 12)));
        }
        _mm256_storeu_pd(sums + ch, s0);
        _mm256_storeu_pd(sums + ch + 4, s1);
        _mm256_storeu_pd(sums + ch + 8, s2);
        _mm256_storeu_pd(sums + ch + 12, s3);
    }
}

static void scale_cl_avx2(float *x, size_t n, int c, const float *g)
{
    size_t p;
    int ch;

    for (p = 0; p < n; p++) {
        float *q = x + p * (size_t)c;
        for (ch = 0; ch < c; ch += 16) {
            _mm256_storeu_ps(q + ch, _mm256_mul_ps(_mm256_loadu_ps(q + ch), _mm256_loadu_ps(g + ch)));
            _mm256_storeu_ps(q + ch + 8,
                             _mm256_mul_ps(_mm256_loadu_ps(q + ch + 8), _mm256_loadu_ps(g + ch + 8)));
        }
    }
}

/* NC planes' four i % 4 double sums at once (one __m256d each, independent chains);
 * the tail and the final adds are the portable loop's, value i to sum i % 4 */
static inline __attribute__((always_inline)) void
mean_block(const float *x, size_t n, float *mean, const int NC)
{
    __m256d s[8];
    double t[4];
    size_t i, q;
    int j;

    for (j = 0; j < NC; j++)
        s[j] = _mm256_setzero_pd();
    for (i = 0; i + 4 <= n; i += 4)
#pragma GCC unroll 8
        for (j = 0; j < NC; j++)
            s[j] = _mm256_add_pd(s[j], _mm256_cvtps_pd(_mm_loadu_ps(x + j * n + i)));
    for (j = 0; j < NC; j++) {
        _mm256_storeu_pd(t, s[j]);
        for (q = i; q < n; q++)
            t[q % 4] += x[j * n + q];
        mean[j] = (float)(((t[0] + t[1]) + (t[2] + t[3])) / (double)n);
    }
}

/* NC planes' eight i % 8 running maxima at once; vmaxps(v, m) is v > m ? v : m, the
 * portable compare, and the tail and the final reduction are the portable loops */
static inline __attribute__((always_inline)) void
max_block(const float *x, size_t n, float *max, const int NC)
{
    __m256 mv[4], nan[4];
    float m[8];
    size_t i;
    int j;

    for (j = 0; j < NC; j++) {
        mv[j] = _mm256_set1_ps(-FLT_MAX);
        nan[j] = _mm256_setzero_ps();
    }
    for (i = 0; i + 8 <= n; i += 8)
#pragma GCC unroll 4
        for (j = 0; j < NC; j++) {
            __m256 v = _mm256_loadu_ps(x + j * n + i);
            mv[j] = _mm256_max_ps(v, mv[j]);
            nan[j] = _mm256_or_ps(nan[j], _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        }
    for (j = 0; j < NC; j++) {
        const float *p = x + j * n;
        bool isnan = _mm256_movemask_ps(nan[j]) != 0;
        size_t q;
        _mm256_storeu_ps(m, mv[j]);
        for (q = i; q < n; q++) {
            m[0] = p[q] > m[0] ? p[q] : m[0];
            isnan |= p[q] != p[q];
        }
        for (int l = 1; l < 8; l++)
            m[0] = m[l] > m[0] ? m[l] : m[0];
        max[j] = isnan ? NAN : m[0];
    }
}

/* plane_mean and plane_max: c planes NB at a time (BLOCK's NC a constant), then one */
#define PLANES(NAME, BLOCK, NB) \
    void NAME(const float *x, int c, size_t n, float *out) \
    { \
        int ci = 0; \
        for (; ci + (NB) <= c; ci += (NB)) \
            BLOCK(x + (size_t)ci * n, n, out + ci, (NB)); \
        for (; ci < c; ci++) \
            BLOCK(x + (size_t)ci * n, n, out + ci, 1); \
    }
PLANES(rvti_nn_plane_mean_avx2, mean_block, 8)
PLANES(rvti_nn_plane_max_avx2, max_block, 4)
#undef PLANES

const struct rvt_nn_kernels rvti_nn_kernels_avx2 = {
    RVT_ISA_AVX2, dwconv_avx2, bias_act_avx2, scale_avx2, add_avx2, pad_act_cl_avx2,
    dwconv_cl_avx2, scale_cl_avx2, sum_rows_avx2, rvt_nn_maxpool2, plane_conv_pool_avx2,
    rvti_nn_plane_mean_avx2, rvti_nn_plane_max_avx2,
};
