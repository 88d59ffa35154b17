/* stft_internal.h: the SIMD twin of stft.h's kernel table (stft_avx2.c), for
 * stft.c's dispatch only. */
#ifndef RVT_DSP_STFT_INTERNAL_H
#define RVT_DSP_STFT_INTERNAL_H

#include "dsp/stft.h"

extern const struct rvt_stft_kernels rvti_stft_kernels_avx2;

#endif
