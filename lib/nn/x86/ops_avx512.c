/*
 * AVX-512 twins of the fp32 kernels of nn/ops.h (built with -mavx512f ... by the
 * Makefile; only called when rvt_cpu_isa() says the CPU and OS support it).
 */
#include "core/common.h"

#include <immintrin.h>
#include <string.h>

#include "nn/ops.h"

/*
 * exp(x) for float lanes: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a
 * degree-6 polynomial for exp(r), scaled by 2^n with vscalefps.  Inputs are
 * clamped to [-87.34, 88.38] (2^n stays a normal float).  Relative error about
 * 2 ulp, the accuracy of the Cephes expf it follows.
 * ref: Cephes Math Library, expf.c (S. L. Moshier), coefficients and the split ln2.
 */
static inline __m512 exp512(__m512 x)
{
    const __m512 hi = _mm512_set1_ps(88.3762626647949f), lo = _mm512_set1_ps(-87.3365447504f);
    __m512 n, r, p;

    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 act512(__m512 v, enum rvt_nn_act act)
{
    const __m512 one = _mm512_set1_ps(1.0f);

    switch (act) {
    case RVT_NN_ACT_NONE: return v;
    case RVT_NN_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case RVT_NN_ACT_SILU:
        return _mm512_div_ps(v, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    case RVT_NN_ACT_SIGMOID:
        return _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    }
    return v;
}

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

static double bias_act_avx512(float *x, size_t n, float bias, enum rvt_nn_act act)
{
    const __m512 b = _mm512_set1_ps(bias);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    size_t i = 0;

    for (; i + 32 <= n; i += 32) {
        __m512 v0 = act512(_mm512_add_ps(_mm512_loadu_ps(x + i), b), act);
        __m512 v1 = act512(_mm512_add_ps(_mm512_loadu_ps(x + i + 16), b), act);
        _mm512_storeu_ps(x + i, v0);
        _mm512_storeu_ps(x + i + 16, v1);
        s0 = acc_pd(s0, v0);
        s1 = acc_pd(s1, v1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = act512(_mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), b), act);
        _mm512_mask_storeu_ps(x + i, m, v);
        s0 = acc_pd(s0, _mm512_maskz_mov_ps(m, v));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
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

/* The zero-padded copy of a plane the vector loops read without bounds checks. */
static void pad_plane(const float *x, int h, int w, int pad, float *xp)
{
    int wp = w + 2 * pad, hp = h + 2 * pad, y;
    size_t total = rvt_nn_dwconv_scratch(h, w, pad);

    memset(xp, 0, (size_t)pad * wp * sizeof(float));
    for (y = 0; y < h; y++) {
        float *r = xp + (size_t)(y + pad) * wp;
        memset(r, 0, (size_t)pad * sizeof(float));
        memcpy(r + pad, x + (size_t)y * w, (size_t)w * sizeof(float));
        memset(r + pad + w, 0, (size_t)pad * sizeof(float));
    }
    memset(xp + (size_t)(h + pad) * wp, 0, (total - (size_t)(h + pad) * wp) * sizeof(float));
    (void)hp;
}

/* 16 consecutive outputs of stride s starting at padded column c of row r. */
static inline __m512 load_s(const float *p, int stride, __m512i even)
{
    if (stride == 1)
        return _mm512_loadu_ps(p);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps(p + 16));
}

/*
 * Four 16-lane output chunks of a row at a time (independent FMA chains hide the
 * latency); taps are broadcast from wt.  Lanes past ow read the padded copy's
 * next row or slack (finite values) and are never stored.
 */
static double dwconv_avx512(const float *x, int h, int w, const float *wt, int k, int stride,
                            int pad, float bias, enum rvt_nn_act act, float *y, int oh, int ow,
                            float *scratch)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512 b = _mm512_set1_ps(bias);
    int wp = w + 2 * pad, oy, ox0, t, kk = k * k;
    __m512d sum = _mm512_setzero_pd();

    if (k > 7 || stride < 1 || stride > 2)
        return rvt_nn_dwconv_ref(x, h, w, wt, k, stride, pad, bias, act, y, oh, ow, scratch);
    pad_plane(x, h, w, pad, scratch);
    for (oy = 0; oy < oh; oy++) {
        const float *base = scratch + (size_t)(oy * stride) * wp;
        float *yr = y + (size_t)oy * ow;
        for (ox0 = 0; ox0 < ow; ox0 += 64) {
            int left = ow - ox0, nch = (left + 15) / 16, c;
            __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                           _mm512_setzero_ps()};
            if (nch > 4)
                nch = 4;
            for (t = 0; t < kk; t++) {
                int ky = t / k, kx = t - ky * k;
                const float *p = base + (size_t)ky * wp + (size_t)ox0 * stride + kx;
                __m512 wv = _mm512_set1_ps(wt[t]);
                a[0] = _mm512_fmadd_ps(wv, load_s(p, stride, even), a[0]);
                if (nch > 1)
                    a[1] = _mm512_fmadd_ps(wv, load_s(p + 16 * stride, stride, even), a[1]);
                if (nch > 2)
                    a[2] = _mm512_fmadd_ps(wv, load_s(p + 32 * stride, stride, even), a[2]);
                if (nch > 3)
                    a[3] = _mm512_fmadd_ps(wv, load_s(p + 48 * stride, stride, even), a[3]);
            }
            for (c = 0; c < nch; c++) {
                __mmask16 m = tail_mask((size_t)(left - 16 * c));
                __m512 v = act512(_mm512_add_ps(a[c], b), act);
                _mm512_mask_storeu_ps(yr + ox0 + 16 * c, m, v);
                sum = acc_pd(sum, _mm512_maskz_mov_ps(m, v));
            }
        }
    }
    return _mm512_reduce_add_pd(sum);
}

const struct rvt_nn_kernels rvti_nn_kernels_avx512 = {
    "avx512", dwconv_avx512, bias_act_avx512, scale_avx512, add_avx512,
};
