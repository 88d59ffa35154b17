/* video_resize_cv.c: OpenCV's cv2.resize(img, (w, h)) of 8-bit RGB with the
 * default INTER_LINEAR, bit for bit.
 *
 * ref: OpenCV 4.6 modules/imgproc/src/resize.cpp (cv::resize, resizeGeneric_,
 * HResizeLinear, VResizeLinear, VResizeLinearVec_32s8u, resizeAreaFast_), as
 * built by Debian (baseline SSE2, no IPP, no custom HAL).  What matters:
 *
 *   - source coordinate of output x: fx = (float)((x + 0.5) * scale - 0.5) with
 *     scale = 1 / ((double)out / in); sx = floor(fx), fx -= sx (in float);
 *     horizontally, sx < 0 becomes 0 and sx >= in - 1 becomes in - 1, both with
 *     fx = 0; vertically the two rows are clamped to the picture, weights kept.
 *   - weights: (short)round_half_even((1 - fx) * 2048) and
 *     (short)round_half_even(fx * 2048), each rounded separately (their sum
 *     may be 2047 or 2049).  Two taps whatever the scale: no antialiasing.
 *   - horizontal pass: exact int32 sums p0 * a0 + p1 * a1.
 *   - vertical pass, value by value along the row of w * 3 bytes:
 *         (((b0 * (S0 >> 4)) >> 16) + ((b1 * (S1 >> 4)) >> 16) + 2) >> 2
 *     the SSE2 loop (16-bit mulhi, saturating adds) and the scalar
 *     specialisation for the values past it compute the same thing; sums stay
 *     well inside 16 bits (<= 1023 before the last shift), so no saturation
 *     ever bites.  Not the generic FixedPtCast rounding (S0 * b0 + S1 * b1 +
 *     2^21) >> 22, which differs by one level now and then.
 *   - an exact 2x downscale in both directions is INTER_AREA's fast path
 *     instead: (a + b + c + d + 2) >> 2 over each 2x2 block.
 *   - same size: a copy.
 */
#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "media/video.h"

#define COEF_SCALE 2048 /* INTER_RESIZE_COEF_SCALE = 1 << 11 */

static inline int16_t sat16(int32_t v)
{
    return (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
}

/* saturate_cast<short>(float): cvRound (round half to even, the SSE
 * conversion), then saturation */
static inline int16_t round_short(float v)
{
    long r = lrintf(v);
    return sat16(r < -32768 ? -32768 : r > 32767 ? 32767 : (int32_t)r);
}

void rvt_cv_resize_plan_release(struct rvt_cv_resize_plan *p)
{
    free(p->xofs);
    free(p->alpha);
    free(p->yofs);
    free(p->beta);
    memset(p, 0, sizeof(*p));
}

int rvt_cv_resize_plan_init(struct rvt_cv_resize_plan *p, int in_w, int in_h, int out_w,
                            int out_h, struct rvt_error *err)
{
    double inv_x = (double)out_w / in_w, inv_y = (double)out_h / in_h;
    double scale_x = 1. / inv_x, scale_y = 1. / inv_y;
    int x, y, isx, isy;

    memset(p, 0, sizeof(*p));
    p->in_w = in_w;
    p->in_h = in_h;
    p->out_w = out_w;
    p->out_h = out_h;
    p->copy = in_w == out_w && in_h == out_h;
    /* saturate_cast<int>(double) is cvRound */
    isx = (int)lrint(scale_x);
    isy = (int)lrint(scale_y);
    p->area2 = !p->copy && fabs(scale_x - isx) < 2.220446049250313e-16 &&
               fabs(scale_y - isy) < 2.220446049250313e-16 && isx == 2 && isy == 2;
    if (p->copy || p->area2)
        return 0;
    p->xofs = malloc(sizeof(*p->xofs) * (size_t)out_w);
    p->alpha = malloc(sizeof(*p->alpha) * 2 * (size_t)out_w);
    p->yofs = malloc(sizeof(*p->yofs) * (size_t)out_h);
    p->beta = malloc(sizeof(*p->beta) * 2 * (size_t)out_h);
    if (!p->xofs || !p->alpha || !p->yofs || !p->beta) {
        rvt_cv_resize_plan_release(p);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    for (x = 0; x < out_w; x++) {
        float fx = (float)((x + 0.5) * scale_x - 0.5);
        int sx = (int)floorf(fx);
        fx -= (float)sx;
        if (sx < 0)
            fx = 0, sx = 0;
        if (sx >= in_w - 1)
            fx = 0, sx = in_w - 1;
        p->xofs[x] = sx;
        p->alpha[2 * x] = round_short((1.f - fx) * COEF_SCALE);
        p->alpha[2 * x + 1] = round_short(fx * COEF_SCALE);
    }
    for (y = 0; y < out_h; y++) {
        float fy = (float)((y + 0.5) * scale_y - 0.5);
        int sy = (int)floorf(fy);
        fy -= (float)sy;
        p->yofs[y] = sy;
        p->beta[2 * y] = round_short((1.f - fy) * COEF_SCALE);
        p->beta[2 * y + 1] = round_short(fy * COEF_SCALE);
    }
    return 0;
}

size_t rvt_cv_resize_tmp_bytes(const struct rvt_cv_resize_plan *p)
{
    return sizeof(int32_t) * 2 * 3 * (size_t)p->out_w;
}

/* One row of horizontal sums (out_w * 3 values).  Past the right edge OpenCV
 * multiplies the clamped pixel by 2048, which is what a0 = 2048, a1 = 0 gives. */
static void h_row(const struct rvt_cv_resize_plan *p, const uint8_t *row, int32_t *out)
{
    int x, k;
    for (x = 0; x < p->out_w; x++) {
        int32_t a0 = p->alpha[2 * x], a1 = p->alpha[2 * x + 1];
        const uint8_t *s = row + 3 * (size_t)p->xofs[x];
        if (p->xofs[x] >= p->in_w - 1) {
            for (k = 0; k < 3; k++)
                out[3 * x + k] = s[k] * COEF_SCALE;
        } else {
            for (k = 0; k < 3; k++)
                out[3 * x + k] = s[k] * a0 + s[k + 3] * a1;
        }
    }
}

static void area2(const struct rvt_cv_resize_plan *p, const uint8_t *src, size_t stride,
                  uint8_t *dst)
{
    int x, y, k;
    for (y = 0; y < p->out_h; y++) {
        const uint8_t *s0 = src + (size_t)(2 * y) * stride, *s1 = s0 + stride;
        uint8_t *d = dst + (size_t)y * p->out_w * 3;
        for (x = 0; x < p->out_w; x++)
            for (k = 0; k < 3; k++) {
                size_t i = (size_t)6 * x + k;
                d[3 * x + k] = (uint8_t)((s0[i] + s0[i + 3] + s1[i] + s1[i + 3] + 2) >> 2);
            }
    }
}

void rvt_cv_resize_rgb24(const struct rvt_cv_resize_plan *p, const uint8_t *src,
                         size_t src_stride, uint8_t *dst, int32_t *tmp)
{
    int n = p->out_w * 3, y, x;
    int32_t *rows[2] = {tmp, tmp + n};
    int have[2] = {-1, -1};

    if (p->copy) {
        for (y = 0; y < p->out_h; y++)
            memcpy(dst + (size_t)y * n, src + (size_t)y * src_stride, (size_t)n);
        return;
    }
    if (p->area2) {
        area2(p, src, src_stride, dst);
        return;
    }
    for (y = 0; y < p->out_h; y++) {
        int sy[2], k;
        int32_t b0 = p->beta[2 * y], b1 = p->beta[2 * y + 1];
        const int32_t *S0, *S1;
        uint8_t *d = dst + (size_t)y * n;
        for (k = 0; k < 2; k++) {
            int s = p->yofs[y] + k;
            sy[k] = s < 0 ? 0 : s >= p->in_h ? p->in_h - 1 : s;
        }
        for (k = 0; k < 2; k++) {
            if (have[0] == sy[k] || have[1] == sy[k])
                continue;
            /* fill the slot not holding the other needed row */
            int slot = (have[0] == sy[1 - k]) ? 1 : 0;
            h_row(p, src + (size_t)sy[k] * src_stride, rows[slot]);
            have[slot] = sy[k];
        }
        S0 = rows[have[0] == sy[0] ? 0 : 1];
        S1 = rows[have[0] == sy[1] ? 0 : 1];
        for (x = 0; x < n; x++)
            d[x] = (uint8_t)((((b0 * (S0[x] >> 4)) >> 16) + ((b1 * (S1[x] >> 4)) >> 16) + 2) >> 2);
    }
}
