/*
 * act_avx2.h: the activations of the AVX2 + FMA kernels, shared by x86/ops_avx2.c,
 * x86/sgemm_avx2.c and x86/qgemm_avx2.c (whose channels-last GEMMs end in the layer's
 * activation).  Include only from files built with the AVX2 flags.
 */
#ifndef RVT_NN_X86_ACT_AVX2_H
#define RVT_NN_X86_ACT_AVX2_H

#include <immintrin.h>

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
    case RVT_NN_ACT_SILU_Q:
        return _mm256_div_ps(v, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), v))));
    case RVT_NN_ACT_SIGMOID:
        return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), v))));
    }
    return v;
}

#endif
