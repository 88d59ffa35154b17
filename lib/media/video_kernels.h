/* video_kernels.h: internal to lib/media/video_resize*.c; the scalar pieces the
 * SIMD resize kernels share with rvt_resize_rgb24_ref. */
#ifndef RVT_MEDIA_VIDEO_KERNELS_H
#define RVT_MEDIA_VIDEO_KERNELS_H

#include "media/video.h"

#define RVTI_RESIZE_BITS (32 - 8 - 2) /* Pillow's PRECISION_BITS */

/* Horizontal pass, output pixels [x0, x1) of one row. */
void rvti_resize_h_pixels(const struct rvt_resize_axis *a, const uint8_t *in, int x0, int x1,
                          uint8_t *out);
/* Vertical pass, bytes [i0, i1) of output row yy; vin's first row is input row
 * vin_first. */
void rvti_resize_v_bytes(const struct rvt_resize_plan *p, const uint8_t *vin, size_t vin_stride,
                         int vin_first, int yy, int i0, int i1, uint8_t *out);

/* video_resize_avx2.c's table (RVT_ISA_AVX2). */
extern const struct rvt_resize_kernels rvti_resize_kernels_avx2;

#endif
