/*
 * act_avx2.h: the activations of the AVX2 + FMA kernels, shared by x86/ops_avx2.c,
 * x86/sgemm_avx2.c and x86/qgemm_avx2.c (whose channels-last GEMMs end in the layer's
 * activation).  Include only from files built with the AVX2 flags.  SiLU and sigmoid
 * divide (vdivps is correctly rounded, so the results are the same bits on every AVX2
 * CPU, where vrcpps's estimate differs between vendors); the SiLU of the int8 layers
 * (RVT_NN_ACT_SILU_Q) divides too, by 1 + expneg256's cheaper exp.
 */
#ifndef RVT_NN_X86_ACT_AVX2_H
#define RVT_NN_X86_ACT_AVX2_H

#include <immintrin.h>

#include "nn/ops.h"
#include "nn/x86/exp_poly.h"

/*
 * exp(-v) for SiLU and sigmoid, 8 lanes: act_avx512.h's expneg512 (the same reduction
 * and polynomial, within 1.3 ulp of exp) without vscalefps: v is clamped to
 * [-87.34, 87.34] (a NaN passes through: it is the second operand of max and min), so
 * that n = rint(-v log2 e) stays in [-126, 126] and 2^n is built in the exponent
 * field.  Past the clamp exp(-v) is below 2^-126 (1 + it is 1) or above 2^126 (SiLU
 * is 0 to within 2^-119 there).  cheap (a constant): for RVT_NN_ACT_SILU_Q,
 * act_avx512.h's expneg_q512 (one-step reduction with a single ln 2, degree-4
 * polynomial EXPF_C*: within 3e-6 relative), two FMAs fewer.
 */
static inline __attribute__((always_inline)) __m256 expneg256(__m256 v, const bool cheap)
{
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 t, n, r, p;
    __m256i e;

    v = _mm256_max_ps(_mm256_set1_ps(-87.3365447504f), v);
    v = _mm256_min_ps(_mm256_set1_ps(87.3365447504f), v);
    /* 1.5 * 2^23 + n: n is in the low mantissa bits (|n| < 2^22) */
    t = _mm256_fmadd_ps(v, _mm256_set1_ps(-1.44269504088896341f), magic);
    n = _mm256_sub_ps(t, magic);
    if (cheap) {
        r = _mm256_fnmsub_ps(n, _mm256_set1_ps(0.693147180559945f), v); /* -v - n ln2 */
        p = _mm256_set1_ps(EXPF_C4);
    } else {
        r = _mm256_fnmsub_ps(n, _mm256_set1_ps(0.693359375f), v); /* -v - n ln2_hi */
        r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
        p = _mm256_set1_ps(EXP_C5);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C4));
    }
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(cheap ? EXPF_C3 : EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(cheap ? EXPF_C2 : EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(cheap ? EXPF_C1 : EXP_C1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* 2^n = bits (n << 23) + bits(1.0f); t's bits are magic's + n, and magic's shifted
     * left by 23 are 0 mod 2^32 (its low 9 bits are 0), so n << 23 is t's bits << 23 */
    e = _mm256_add_epi32(_mm256_slli_epi32(_mm256_castps_si256(t), 23),
                         _mm256_castps_si256(_mm256_set1_ps(1.0f)));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 act256(__m256 v, enum rvt_nn_act act)
{
    const __m256 one = _mm256_set1_ps(1.0f);

    switch (act) {
    case RVT_NN_ACT_NONE: return v;
    case RVT_NN_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case RVT_NN_ACT_SILU: return _mm256_div_ps(v, _mm256_add_ps(one, expneg256(v, false)));
    case RVT_NN_ACT_SILU_Q: return _mm256_div_ps(v, _mm256_add_ps(one, expneg256(v, true)));
    case RVT_NN_ACT_SIGMOID: return _mm256_div_ps(one, _mm256_add_ps(one, expneg256(v, false)));
    }
    return v;
}

#endif
