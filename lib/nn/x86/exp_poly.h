/*
 * exp_poly.h: the coefficients of exp(r) = 1 + r (c1 + r (c2 + ... + r c5)) on
 * [-ln2/2, ln2/2] shared by the SIMD exp of x86/act_avx2.h and x86/act_avx512.h.  They
 * minimise the relative error (Lawson's iteration on 4001 Chebyshev nodes,
 * scripts/fit-exp.py).
 */
#ifndef RVT_NN_X86_EXP_POLY_H
#define RVT_NN_X86_EXP_POLY_H

#define EXP_C1 9.999997020e-01f
#define EXP_C2 4.999915063e-01f
#define EXP_C3 1.666763574e-01f
#define EXP_C4 4.189793020e-02f
#define EXP_C5 8.290315047e-03f

/* A degree-4 fit the same way (within 3e-6 relative): the exp of the int8 layers'
 * cheaper SiLU (RVT_NN_ACT_SILU_Q, nn/ops.h), whose next layer's uint8 codes hide it. */
#define EXPF_C1 9.999668598e-01f
#define EXPF_C2 5.000301600e-01f
#define EXPF_C3 1.678747386e-01f
#define EXPF_C4 4.151384905e-02f

#endif
