/*
 * AVX2 + FMA twins of the fp32 kernels of nn/ops.h (built with -mavx2 -mfma by the
 * Makefile; only called when rvt_cpu_isa() >= RVT_ISA_AVX2).  Same algorithms as
 * x86/ops_avx512.c with 8 lanes.
 */
#include "core/common.h"

#include <immintrin.h>
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
            for (c = 0; c < wq; c++) {
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

/* this level's dwconv per channel, then the portable max pool (the audio branch's first
 * layer is a small part of the network here) */
static void plane_conv_pool_avx2(const float *x, int h, int w, const float *wt, int k, int stride,
                                 int pad, const float *bias, enum rvt_nn_act act, int c0, int c1,
                                 float *y, float *scratch)
{
    rvti_nn_plane_conv_pool_with(dwconv_avx2, rvt_nn_maxpool2, x, h, w, wt, k, stride, pad, bias,
                                 act, c0, c1, y, scratch);
}

const struct rvt_nn_kernels rvti_nn_kernels_avx2 = {
    RVT_ISA_AVX2, dwconv_avx2, bias_act_avx2, scale_avx2, add_avx2, NULL, NULL, NULL, NULL,
    rvt_nn_maxpool2, plane_conv_pool_avx2, rvt_nn_plane_mean, rvt_nn_plane_max,
};
