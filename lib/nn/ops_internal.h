/*
 * ops_internal.h: the SIMD twins of ops.h's kernel table (x86/ops_avx2.c,
 * x86/ops_avx512.c), for ops_ref.c's dispatch only.
 */
#ifndef RVT_NN_OPS_INTERNAL_H
#define RVT_NN_OPS_INTERNAL_H

#include "nn/ops.h"

#if defined(__x86_64__) || defined(__i386__)
extern const struct rvt_nn_kernels rvti_nn_kernels_avx2;
extern const struct rvt_nn_kernels rvti_nn_kernels_avx512;
#endif

#endif
