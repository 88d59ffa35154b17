/*
 * act_avx512.h: the activations of the AVX-512 kernels, shared by x86/ops_avx512.c and
 * x86/qgemm_avx512.c (whose channels-last GEMM can end in the SiLU the depthwise
 * conv's padded input needs: RVT_NN_ACT_SILU_Q, the int8 layers' own).  Include only
 * from files built with the AVX-512 flags.
 */
#ifndef RVT_NN_X86_ACT_AVX512_H
#define RVT_NN_X86_ACT_AVX512_H

#include <immintrin.h>

#include "nn/ops.h"
#include "nn/x86/exp_poly.h"

/*
 * exp(-v) for float lanes, the core of SiLU and sigmoid: -v clamped below 88.38 (the
 * result stays finite; a NaN passes through; no clamp above: for v > 87.3 the result
 * underflows to a subnormal or 0, and 1 + it is 1 all the same), Cody-Waite reduction
 * -v = n ln2 + r with |r| <= ln2/2 (ln2 split in two, the low part carries the
 * rounding), then exp(r) = 1 + r (c1 + r (c2 + ... + r c5)), scaled by 2^n with
 * vscalefps (the coefficients: x86/exp_poly.h); in float32 with FMAs the result is
 * within 1.3 ulp of exp.  16 vector operations for a SiLU where a
 * Taylor-style degree-7 exp(x) of -v took 21.
 * ref: Cephes Math Library, expf.c (S. L. Moshier): the reduction and the clamps.
 */
/* n = rint(-v log2 e): one FMA onto 1.5 * 2^23 rounds the exact product to an integer,
 * ties to even, and taking 1.5 * 2^23 away leaves it (|n| < 2^22), in two one-uop
 * operations on either vector port, where vrndscaleps is two uops on port 0, which the
 * rest of SiLU crowds (a SiLU alone: 4.6 -> 4.2 ns a vector; this FMA and the single
 * clamp: 6.3 -> 5.4 ns, one process) */
static inline __m512 rint_log2e512(__m512 v)
{
    const __m512 magic = _mm512_set1_ps(12582912.0f);

    return _mm512_sub_ps(_mm512_fmadd_ps(v, _mm512_set1_ps(-1.44269504088896341f), magic), magic);
}

static inline __m512 expneg512(__m512 v)
{
    __m512 n, r, p;

    v = _mm512_max_ps(_mm512_set1_ps(-88.3762626647949f), v); /* NaN is the 2nd operand: kept */
    n = rint_log2e512(v);
    r = _mm512_fnmsub_ps(n, _mm512_set1_ps(0.693359375f), v); /* -v - n ln2_hi */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    p = _mm512_set1_ps(EXP_C5);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 1 / d for d >= 1: the 14-bit estimate and one Newton step (relative error below
 * 2^-26 before rounding; cheaper than vdivps, whose throughput limits SiLU). */
static inline __m512 recip512(__m512 d)
{
    __m512 r = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}

/*
 * exp(-v) for RVT_NN_ACT_SILU_Q, the SiLU of the int8 layers (the expand's epilogue, the
 * depthwise conv before an int8 project), whose next layer's uint8 codes (steps of 1/255
 * of a pixel's range) hide its error: that SiLU is within 3.1e-6 relative where
 * act512's is 2 ulp, in 14 vector operations for 18 (4.6 against 6.2 ns a vector, one
 * process).  -v clamped below 87.3 (NaN kept), n as expneg512's, a one-step reduction
 * r = -v - n ln2 (below 2.5e-7 off for |n| <= 126), a degree-4 polynomial fitted as
 * EXP_C* are (3e-6).  With the reciprocal's Newton step left out too (7e-5) it moved a
 * random network's logits by a twentieth of what int8 does.  (EXPF_C*: x86/exp_poly.h.)
 */

static inline __m512 expneg_q512(__m512 v)
{
    __m512 n, r, p;

    v = _mm512_max_ps(_mm512_set1_ps(-87.3365447504f), v);
    n = rint_log2e512(v);
    r = _mm512_fnmsub_ps(n, _mm512_set1_ps(0.693147180559945f), v);
    p = _mm512_set1_ps(EXPF_C4);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXPF_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXPF_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXPF_C1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 act512(__m512 v, enum rvt_nn_act act)
{
    const __m512 one = _mm512_set1_ps(1.0f);

    switch (act) {
    case RVT_NN_ACT_NONE: return v;
    case RVT_NN_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case RVT_NN_ACT_SILU: return _mm512_mul_ps(v, recip512(_mm512_add_ps(one, expneg512(v))));
    case RVT_NN_ACT_SIGMOID: return recip512(_mm512_add_ps(one, expneg512(v)));
    case RVT_NN_ACT_SILU_Q: return _mm512_mul_ps(v, recip512(_mm512_add_ps(one, expneg_q512(v))));
    }
    return v;
}

#endif
