/*
 * AVX2 + FMA twins of the fp32 kernels of nn/ops.h (built with -mavx2 -mfma by the
 * Makefile; only called when rvt_cpu_isa() >= RVT_ISA_AVX2).  Same algorithms as
 * x86/ops_avx512.c with 8 lanes.
 */
#include "core/common.h"

#include <immintrin.h>
#include <string.h>

#include "nn/ops.h"

/* exp(x), 8 lanes; see exp512 in ops_avx512.c (Cephes expf reduction and
 * polynomial; 2^n built in the exponent field, n in [-126, 127] after the clamp). */
static inline __m256 exp256(__m256 x)
{
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365447504f);
    __m256 n, r, p;
    __m256i e;

    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 act256(__m256 v, enum rvt_nn_act act)
{
    const __m256 one = _mm256_set1_ps(1.0f);

    switch (act) {
    case RVT_NN_ACT_NONE: return v;
    case RVT_NN_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case RVT_NN_ACT_SILU:
        return _mm256_div_ps(v, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), v))));
    case RVT_NN_ACT_SIGMOID:
        return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), v))));
    }
    return v;
}

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

static double bias_act_avx2(float *x, size_t n, float bias, enum rvt_nn_act act)
{
    const __m256 b = _mm256_set1_ps(bias);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        __m256 v0 = act256(_mm256_add_ps(_mm256_loadu_ps(x + i), b), act);
        __m256 v1 = act256(_mm256_add_ps(_mm256_loadu_ps(x + i + 8), b), act);
        _mm256_storeu_ps(x + i, v0);
        _mm256_storeu_ps(x + i + 8, v1);
        s0 = acc_pd(s0, v0);
        s1 = acc_pd(s1, v1);
    }
    for (; i < n; i += 8) {
        __m256i m = tail_mask(n - i);
        __m256 v = act256(_mm256_add_ps(_mm256_maskload_ps(x + i, m), b), act);
        v = _mm256_and_ps(v, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + i, m, v);
        s0 = acc_pd(s0, v);
    }
    return hsum_pd(_mm256_add_pd(s0, s1));
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

static void pad_plane(const float *x, int h, int w, int pad, float *xp)
{
    int wp = w + 2 * pad, y;
    size_t total = rvt_nn_dwconv_scratch(h, w, pad);

    memset(xp, 0, (size_t)pad * wp * sizeof(float));
    for (y = 0; y < h; y++) {
        float *r = xp + (size_t)(y + pad) * wp;
        memset(r, 0, (size_t)pad * sizeof(float));
        memcpy(r + pad, x + (size_t)y * w, (size_t)w * sizeof(float));
        memset(r + pad + w, 0, (size_t)pad * sizeof(float));
    }
    memset(xp + (size_t)(h + pad) * wp, 0, (total - (size_t)(h + pad) * wp) * sizeof(float));
}

static inline __m256 load_s(const float *p, int stride)
{
    __m256 a, b, t;

    if (stride == 1)
        return _mm256_loadu_ps(p);
    a = _mm256_loadu_ps(p);
    b = _mm256_loadu_ps(p + 8);
    t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 a4 a6 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

static double dwconv_avx2(const float *x, int h, int w, const float *wt, int k, int stride,
                          int pad, float bias, enum rvt_nn_act act, float *y, int oh, int ow,
                          float *scratch)
{
    const __m256 b = _mm256_set1_ps(bias);
    int wp = w + 2 * pad, oy, ox0, t, kk = k * k;
    __m256d sum = _mm256_setzero_pd();

    if (k > 7 || stride < 1 || stride > 2)
        return rvt_nn_dwconv_ref(x, h, w, wt, k, stride, pad, bias, act, y, oh, ow, scratch);
    pad_plane(x, h, w, pad, scratch);
    for (oy = 0; oy < oh; oy++) {
        const float *base = scratch + (size_t)(oy * stride) * wp;
        float *yr = y + (size_t)oy * ow;
        for (ox0 = 0; ox0 < ow; ox0 += 32) {
            int left = ow - ox0, nch = (left + 7) / 8, c;
            __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                           _mm256_setzero_ps()};
            if (nch > 4)
                nch = 4;
            for (t = 0; t < kk; t++) {
                int ky = t / k, kx = t - ky * k;
                const float *p = base + (size_t)ky * wp + (size_t)ox0 * stride + kx;
                __m256 wv = _mm256_set1_ps(wt[t]);
                a[0] = _mm256_fmadd_ps(wv, load_s(p, stride), a[0]);
                if (nch > 1)
                    a[1] = _mm256_fmadd_ps(wv, load_s(p + 8 * stride, stride), a[1]);
                if (nch > 2)
                    a[2] = _mm256_fmadd_ps(wv, load_s(p + 16 * stride, stride), a[2]);
                if (nch > 3)
                    a[3] = _mm256_fmadd_ps(wv, load_s(p + 24 * stride, stride), a[3]);
            }
            for (c = 0; c < nch; c++) {
                __m256i m = tail_mask((size_t)(left - 8 * c));
                __m256 v = act256(_mm256_add_ps(a[c], b), act);
                v = _mm256_and_ps(v, _mm256_castsi256_ps(m));
                _mm256_maskstore_ps(yr + ox0 + 8 * c, m, v);
                sum = acc_pd(sum, v);
            }
        }
    }
    return hsum_pd(sum);
}

const struct rvt_nn_kernels rvti_nn_kernels_avx2 = {
    "avx2", dwconv_avx2, bias_act_avx2, scale_avx2, add_avx2,
};
