/*
 * ops.h: the fp32 kernels of the network (NCHW planes, float32).
 *
 * Every kernel has a portable `_ref` version in ops_ref.c; x86/ops_avx2.c and
 * x86/ops_avx512.c hold SIMD twins.  rvt_nn_kernels() returns the table for the
 * level rvt_cpu_isa() chose (RVT_ISA=ref|avx2|avx512 forces a lower one); the
 * tables are constant.  rvt_nn_kernels_for(isa) gives one level's (tests).  Every
 * SIMD family of the library has this shape (docs/architecture.md).  Kernels never allocate and never fail: callers pass
 * output and scratch memory.  A kernel's SIMD twins agree with `_ref` to a few ulps
 * (exp is a polynomial there; summation orders differ), see tests/unit/test_nn.c.
 *
 * Threading: kernels work on the planes/rows they are given; callers split work.
 *
 * ref: the operators reproduce PyTorch 1.13 eval-mode semantics:
 *   Conv2d (zero padding, floor output size), SiLU x*sigmoid(x), Sigmoid,
 *   ReLU, MaxPool2d(2) (floor mode), AdaptiveAvgPool2d(1), AdaptiveMaxPool2d(1).
 *   https://pytorch.org/docs/1.13/generated/torch.nn.Conv2d.html
 */
#ifndef RVT_NN_OPS_H
#define RVT_NN_OPS_H

#include "core/common.h"

#include "core/cpu.h"

enum rvt_nn_act {
    RVT_NN_ACT_NONE = 0,
    RVT_NN_ACT_RELU,
    RVT_NN_ACT_SILU,    /* x * sigmoid(x) (torch.nn.SiLU) */
    RVT_NN_ACT_SIGMOID,
    /* SiLU whose output an int8 layer quantizes next: on AVX-512 and AVX2 the int8
     * layers' cheaper one (x86/act_avx512.h expneg_q512, act_avx2.h expneg256 with
     * cheap set: within 3.1e-6 relative), on the portable level SiLU */
    RVT_NN_ACT_SILU_Q,
};

const char *rvt_nn_act_name(enum rvt_nn_act act);

/* Output size of a convolution/pool along one axis (floor mode). */
static inline int rvt_nn_out_size(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/*
 * Depthwise convolution of one channel plane with a k x k kernel (k <= 7),
 * zero padding `pad` (< k), stride 1 or 2, then + bias and the activation:
 *   y[oy][ox] = act(bias + sum_{ky,kx} w[ky*k+kx] * x[oy*s+ky-pad][ox*s+kx-pad])
 * x is h x w (row stride w), y is oh x ow (row stride ow).  Returns the sum of
 * the y values written (after the activation), accumulated in double, which is
 * what the squeeze-excitation that follows every depthwise conv needs.
 * scratch: rvt_nn_dwconv_scratch(h, w, pad) floats (a zero-padded copy of x).
 * Planes must be at least 1 x 1 and pad < k.
 */
typedef double (*rvt_nn_dwconv_fn)(const float *x, int h, int w, const float *wt, int k,
                                   int stride, int pad, float bias, enum rvt_nn_act act,
                                   float *y, int oh, int ow, float *scratch);

static inline size_t rvt_nn_dwconv_scratch(int h, int w, int pad)
{
    /* the padded plane (for stride 2 split into even and odd columns, each row
     * rounded up), slack for full-vector loads past its last row, and one padded
     * row for the SIMD kernels' stride-2 split */
    return (size_t)(h + 2 * pad) * (size_t)(w + 2 * pad + 2) + (size_t)(w + 2 * pad) + 128;
}

/* x[i] = act(x[i] + bias) for i < n.  sum (may be NULL): receives the sum of the
 * results, accumulated in double.  Without it the kernel skips the summing, a third
 * of its time on the short runs of the int8 GEMM's epilogue. */
typedef void (*rvt_nn_bias_act_fn)(float *x, size_t n, float bias, enum rvt_nn_act act,
                                   double *sum);

/* x[i] *= s for i < n. */
typedef void (*rvt_nn_scale_fn)(float *x, size_t n, float s);

/* y[i] += x[i] for i < n. */
typedef void (*rvt_nn_add_fn)(float *y, const float *x, size_t n);

/*
 * Channels-last ("CL") kernels: one image as [pixels][c] (pixel = y * w + x), c a
 * multiple of RVT_NN_CL_BLOCK, so that every vector holds 16 channels of one pixel:
 * no lane is wasted on small planes and stride 2 is only an address step.
 *
 * pad_act_cl:  xp [(h + 2 pad)][(w + 2 pad)][c] = act(x + bias[ch]) inside, 0 on the
 *              border (x [h][w][c])
 * dwconv_cl:   y [oh][ow][c] = act(bias[ch] + sum_taps wt[t][ch] * xp[oy*s+ky][ox*s+kx][ch])
 *              on the padded input (no bounds); wt is [k*k][c] (tap-major);
 *              row_sums[oy][ch] (float, row stride c) gets the sum of row oy of y, added
 *              in pixel order
 * scale_cl:    x[p][ch] *= g[ch] for n pixels
 * sum_rows:    sums[ch] = the n_rows rows[r][ch] (row stride c) added in row order in
 *              double from 0 (dwconv_cl's row sums into a channel's sum: the same bits
 *              whatever the level)
 *
 * pad_act_cl and dwconv_cl compute only channels [c0, c1) (multiples of
 * RVT_NN_CL_BLOCK, c the row stride as above): threads of one clip split a layer by
 * channel slices, or dwconv_cl by output rows (xp, y and row_sums moved to a row band's
 * first row, oh its rows); a value or a row's sum does not depend on the share.
 */
#define RVT_NN_CL_BLOCK 16

typedef void (*rvt_nn_pad_act_cl_fn)(const float *x, int h, int w, int c, int c0, int c1,
                                     int pad, const float *bias, enum rvt_nn_act act, float *xp);
typedef void (*rvt_nn_dwconv_cl_fn)(const float *xp, int hp, int wp, int c, int c0, int c1,
                                    const float *wt, int k, int stride, const float *bias,
                                    enum rvt_nn_act act, float *y, int oh, int ow, float *row_sums);
typedef void (*rvt_nn_scale_cl_fn)(float *x, size_t n, int c, const float *g);
typedef void (*rvt_nn_sum_rows_fn)(const float *rows, int n_rows, int c, double *sums);

/* 2x2 max pool, stride 2, floor mode: x c x h x w -> y c x (h/2) x (w/2), each output
 * max(max(x00, x01), max(x10, x11)) with max(a, b) = a > b ? a : b (so the levels give
 * the same bits, NaN included). */
typedef void (*rvt_nn_maxpool2_fn)(const float *x, int c, int h, int w, float *y);

/*
 * Single-plane convolution then 2x2 max pool (the audio branch's first layer): for each
 * output channel c in [c0, c1) the k x k convolution of the one h x w plane x with
 * wt + c*k*k, + bias[c] (bias NULL: 0), act, exactly as dwconv computes it (oh x ow, see
 * rvt_nn_out_size), then maxpool2 of that plane into y + c * (oh/2)*(ow/2).  Only the
 * pooled planes are written.  Every level gives the same bits as its own dwconv per
 * channel followed by its own maxpool2 (tests/unit/test_nn.c compares them with
 * memcmp); a channel's values do not depend on [c0, c1), so threads split channels.
 * scratch: rvt_nn_plane_conv_pool_scratch floats.
 */
typedef void (*rvt_nn_plane_conv_pool_fn)(const float *x, int h, int w, const float *wt, int k,
                                          int stride, int pad, const float *bias,
                                          enum rvt_nn_act act, int c0, int c1, float *y,
                                          float *scratch);

static inline size_t rvt_nn_plane_conv_pool_scratch(int h, int w, int k, int stride, int pad)
{
    size_t n = (size_t)rvt_nn_out_size(h, k, stride, pad) * rvt_nn_out_size(w, k, stride, pad);

    /* one conv output plane (64-byte multiple), then dwconv's padded copy */
    return (n + 15) / 16 * 16 + rvt_nn_dwconv_scratch(h, w, pad);
}

/* Per-plane mean and max of c planes of n values each (x plane i at x + i*n):
 * plane_mean: four double partial sums by i % 4, ((s0 + s1) + (s2 + s3)) / n;
 * plane_max:  eight running maxima by i % 8 from -FLT_MAX (m = v > m ? v : m; the tail
 *             past the last 8 into the first), then NaN when any value is NaN.
 * The levels give the same bits (the same additions and compares in the same order). */
typedef void (*rvt_nn_plane_stat_fn)(const float *x, int c, size_t n, float *out);

struct rvt_nn_kernels {
    enum rvt_isa isa;
    rvt_nn_dwconv_fn dwconv;
    rvt_nn_bias_act_fn bias_act;
    rvt_nn_scale_fn scale;
    rvt_nn_add_fn add;
    /* channels-last path; NULL on ref, where the planar path is faster (avx2 and avx512
     * compute dwconv_cl alike: one FMA chain per output in tap order, then + bias) */
    rvt_nn_pad_act_cl_fn pad_act_cl;
    rvt_nn_dwconv_cl_fn dwconv_cl;
    rvt_nn_scale_cl_fn scale_cl;
    rvt_nn_sum_rows_fn sum_rows;
    rvt_nn_maxpool2_fn maxpool2;
    rvt_nn_plane_conv_pool_fn plane_conv_pool;
    rvt_nn_plane_stat_fn plane_mean;
    rvt_nn_plane_stat_fn plane_max;
};

/* The table for this CPU (see top of file). */
const struct rvt_nn_kernels *rvt_nn_kernels(void);
/* The table of one level, or NULL when this CPU (or RVT_ISA) does not allow it
 * (tests compare them). */
const struct rvt_nn_kernels *rvt_nn_kernels_for(enum rvt_isa isa);

/* Portable kernels (ops_ref.c). */
double rvt_nn_dwconv_ref(const float *x, int h, int w, const float *wt, int k, int stride,
                         int pad, float bias, enum rvt_nn_act act, float *y, int oh, int ow,
                         float *scratch);
void rvt_nn_bias_act_ref(float *x, size_t n, float bias, enum rvt_nn_act act, double *sum);
void rvt_nn_scale_ref(float *x, size_t n, float s);
void rvt_nn_add_ref(float *y, const float *x, size_t n);
void rvt_nn_pad_act_cl_ref(const float *x, int h, int w, int c, int c0, int c1, int pad,
                           const float *bias, enum rvt_nn_act act, float *xp);
void rvt_nn_dwconv_cl_ref(const float *xp, int hp, int wp, int c, int c0, int c1,
                          const float *wt, int k, int stride, const float *bias,
                          enum rvt_nn_act act, float *y, int oh, int ow, float *row_sums);
void rvt_nn_scale_cl_ref(float *x, size_t n, int c, const float *g);
void rvt_nn_sum_rows_ref(const float *rows, int n_rows, int c, double *sums);

/* Scalar activation, as the _ref kernels compute it (libm expf). */
float rvt_nn_act1(float x, enum rvt_nn_act act);

/*
 * im2col for a regular convolution over c planes of h x w: col has c*k*k rows
 * (row = (ci*k + ky)*k + kx, the order of a PyTorch weight [co][ci][ky][kx]) and
 * oh*ow columns; out-of-image taps are 0.
 */
void rvt_nn_im2col(const float *x, int c, int h, int w, int k, int stride, int pad, float *col,
                   int oh, int ow);

/* The portable 2x2 max pool (rvt_nn_maxpool2_fn). */
void rvt_nn_maxpool2(const float *x, int c, int h, int w, float *y);

/* The portable plane_conv_pool (the ref table's entry): rvt_nn_dwconv_ref of each
 * channel into scratch, then rvt_nn_maxpool2 of it. */
void rvt_nn_plane_conv_pool_ref(const float *x, int h, int w, const float *wt, int k, int stride,
                                int pad, const float *bias, enum rvt_nn_act act, int c0, int c1,
                                float *y, float *scratch);

/* The portable plane_mean and plane_max (rvt_nn_plane_stat_fn). */
void rvt_nn_plane_mean(const float *x, int c, size_t n, float *mean);
void rvt_nn_plane_max(const float *x, int c, size_t n, float *max);

/* The SIMD twins' tables (rvti_) are in ops_internal.h. */

#endif
