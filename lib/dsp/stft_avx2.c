/*
 * AVX2 frame kernels (see struct rvt_stft_kernels).  Each lane does exactly the
 * _ref arithmetic: conversions, one division, a double multiply and add (no
 * FMA contraction: explicit intrinsics), a float sqrt and two multiplies, all
 * IEEE-rounded, so results are bit-identical to the portable C.  Tails fall
 * back to the _ref code per element.
 */
#include "core/common.h"

#include <immintrin.h>

#include "dsp/stft.h"
#include "dsp/stft_internal.h"

static void window_f64_avx2(double *dst, const double *w, const float *y, int n)
{
    int k = 0;
    for (; k + 4 <= n; k += 4) {
        __m256d yd = _mm256_cvtps_pd(_mm_loadu_ps(y + k));
        _mm256_storeu_pd(dst + k, _mm256_mul_pd(_mm256_loadu_pd(w + k), yd));
    }
    for (; k < n; k++)
        dst[k] = w[k] * (double)y[k];
}

static void window_f32_avx2(float *dst, const double *w, const float *y, int n)
{
    int k = 0;
    for (; k + 4 <= n; k += 4) {
        __m256d yd = _mm256_cvtps_pd(_mm_loadu_ps(y + k));
        _mm_storeu_ps(dst + k, _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_loadu_pd(w + k), yd)));
    }
    for (; k < n; k++)
        dst[k] = (float)(w[k] * (double)y[k]);
}

/* 8 bins: re, im as float vectors -> |z|^2 the NumPy way */
static inline __m256 cabs2_8(__m256 re, __m256 im)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256d one = _mm256_set1_pd(1.0);
    __m256 x = _mm256_andnot_ps(sign, re), y = _mm256_andnot_ps(sign, im);
    __m256 big = _mm256_max_ps(x, y), small = _mm256_min_ps(x, y);
    __m256 r = _mm256_div_ps(small, big);
    __m256d rlo = _mm256_cvtps_pd(_mm256_castps256_ps128(r));
    __m256d rhi = _mm256_cvtps_pd(_mm256_extractf128_ps(r, 1));
    __m128 slo = _mm256_cvtpd_ps(_mm256_add_pd(_mm256_mul_pd(rlo, rlo), one));
    __m128 shi = _mm256_cvtpd_ps(_mm256_add_pd(_mm256_mul_pd(rhi, rhi), one));
    __m256 m = _mm256_mul_ps(big, _mm256_sqrt_ps(_mm256_set_m128(shi, slo)));
    __m256 p = _mm256_mul_ps(m, m);
    /* big == 0: the ref returns 0 (here 0 * sqrt(NaN) would be NaN) */
    return _mm256_and_ps(p, _mm256_cmp_ps(big, _mm256_setzero_ps(), _CMP_NEQ_OQ));
}

static void cpow_f32_avx2(float *power, const float *c, int n)
{
    int b = 0;
    for (; b + 8 <= n; b += 8) {
        __m256 a = _mm256_loadu_ps(c + 2 * b), d = _mm256_loadu_ps(c + 2 * b + 8);
        /* deinterleave: a = r0 i0 r1 i1 r2 i2 r3 i3 | d = r4 i4 ... */
        __m256 re = _mm256_shuffle_ps(a, d, _MM_SHUFFLE(2, 0, 2, 0)); /* r0 r1 r4 r5 | r2 r3 r6 r7 */
        __m256 im = _mm256_shuffle_ps(a, d, _MM_SHUFFLE(3, 1, 3, 1));
        re = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(re), _MM_SHUFFLE(3, 1, 2, 0)));
        im = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(im), _MM_SHUFFLE(3, 1, 2, 0)));
        _mm256_storeu_ps(power + b, cabs2_8(re, im));
    }
    for (; b < n; b++)
        power[b] = rvt_cabs2f_numpy(c[2 * b], c[2 * b + 1]);
}

static void cpow_f64_avx2(float *power, const double *c, int n)
{
    int b = 0;
    for (; b + 8 <= n; b += 8) {
        /* 16 doubles -> 16 floats (r0 i0 r1 i1 ...), then as cpow_f32 */
        __m128 f0 = _mm256_cvtpd_ps(_mm256_loadu_pd(c + 2 * b));
        __m128 f1 = _mm256_cvtpd_ps(_mm256_loadu_pd(c + 2 * b + 4));
        __m128 f2 = _mm256_cvtpd_ps(_mm256_loadu_pd(c + 2 * b + 8));
        __m128 f3 = _mm256_cvtpd_ps(_mm256_loadu_pd(c + 2 * b + 12));
        __m256 a = _mm256_set_m128(f1, f0), d = _mm256_set_m128(f3, f2);
        __m256 re = _mm256_shuffle_ps(a, d, _MM_SHUFFLE(2, 0, 2, 0));
        __m256 im = _mm256_shuffle_ps(a, d, _MM_SHUFFLE(3, 1, 3, 1));
        re = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(re), _MM_SHUFFLE(3, 1, 2, 0)));
        im = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(im), _MM_SHUFFLE(3, 1, 2, 0)));
        _mm256_storeu_ps(power + b, cabs2_8(re, im));
    }
    for (; b < n; b++)
        power[b] = rvt_cabs2f_numpy((float)c[2 * b], (float)c[2 * b + 1]);
}

const struct rvt_stft_kernels rvti_stft_kernels_avx2 = {
    RVT_ISA_AVX2, window_f64_avx2, window_f32_avx2, cpow_f64_avx2, cpow_f32_avx2,
};
