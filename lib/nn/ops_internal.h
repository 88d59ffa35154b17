/*
 * ops_internal.h: the SIMD twins of ops.h's kernel table (x86/ops_avx2.c,
 * x86/ops_avx512.c), for ops_ref.c's dispatch only.
 */
#ifndef RVT_NN_OPS_INTERNAL_H
#define RVT_NN_OPS_INTERNAL_H

#include "nn/ops.h"

/* plane_conv_pool as the sum of its parts: per channel dwconv into scratch, then
 * maxpool2 (the ref and AVX2 entries; AVX-512's for the shapes it has no kernel for). */
void rvti_nn_plane_conv_pool_with(rvt_nn_dwconv_fn dwconv, rvt_nn_maxpool2_fn maxpool2,
                                  const float *x, int h, int w, const float *wt, int k, int stride,
                                  int pad, const float *bias, enum rvt_nn_act act, int c0, int c1,
                                  float *y, float *scratch);

#if defined(__x86_64__) || defined(__i386__)
/* AVX2's plane_mean and plane_max, AVX-512's too (their loops are loads and adds or
 * compares: 256-bit vectors keep up with the memory) */
void rvti_nn_plane_mean_avx2(const float *x, int c, size_t n, float *mean);
void rvti_nn_plane_max_avx2(const float *x, int c, size_t n, float *max);
extern const struct rvt_nn_kernels rvti_nn_kernels_avx2;
extern const struct rvt_nn_kernels rvti_nn_kernels_avx512;
#endif

#endif
