/*
 * qdense.h: one int8 matrix product of the network, Y = W X, prepared once at load.
 *
 * nn/layer.c runs every int8 dense layer (Linear, pointwise 1x1 conv, regular conv
 * after im2col) through this: X is n_in rows (channels) of n_cols columns (pixels of
 * one clip, or 1 for a Linear layer).  By default X is quantized per call and per
 * column: each pixel's vector of n_in channels gets its own uint8 map from its own
 * min/max (qgemm.h quant_cols; for a Linear layer the column is the clip's whole
 * input).  That is finer than one map per tensor and costs the same: on a BatchNorm-
 * re-estimated EfficientNet-B0 it cut the int8-vs-fp32 error of the image features
 * about threefold, since activation ranges vary a lot from pixel to pixel.  When the
 * checkpoint fixed a static range for the layer (quantize-model --calibrate), the
 * whole tensor uses that one map.  W is int8 with per-output-channel scales (BatchNorm
 * folded in, any sign); Y gets the dequantized products, and the caller adds bias and
 * activation as for fp32.
 *
 *   struct rvt_qdense *q;
 *   rvt_qdense_new(&q, w_i8, w_scale, n_out, n_in, NULL, &err);   // NULL: dynamic
 *   void *scratch = ...rvt_qdense_scratch(n_in, max_cols) bytes...;
 *   rvt_qdense_forward(q, x, ldx, y, ldy, n_cols, scratch, NULL, NULL);
 *   rvt_qdense_free(q);
 *
 * A column holding NaN or Inf cannot be quantized: its outputs are NaN (as fp32
 * arithmetic would propagate them) and the forward returns RVT_EINVAL; it never fails
 * otherwise.  (With a static range NaN is not detected: it clamps to the top.)  Results
 * depend only on the clip's own X, never on other clips of a batch, and are
 * bit-identical for every kernel level.
 *
 * Thread rule: a prepared layer is immutable and shared; each thread passes its own
 * scratch.
 */
#ifndef RVT_NN_QDENSE_H
#define RVT_NN_QDENSE_H

#include "core/common.h"
#include "nn/qgemm.h"
#include "nn/quant.h"
#include "nn/team.h"

struct rvt_qdense {
    struct rvt_qweights w;
    bool is_static;          /* activation range fixed by calibration */
    struct rvt_qparams xq;   /* static: the map of that range */
    float range[2];          /* static: [lo, hi] as recorded */
};

/*
 * Prepares W [n_out][n_in] (int8, -127..127) with scales w_scale [n_out] (finite, any
 * sign: a folded BatchNorm may flip or zero a channel).  act_range: NULL for dynamic
 * quantization, else the static [lo, hi] of X.  Returns 0, RVT_ENOMEM or RVT_EINVAL.
 */
int rvt_qdense_new(struct rvt_qdense **out, const int8_t *w_i8, const float *w_scale, int n_out,
                   int n_in, const float *act_range, struct rvt_error *err);
/* Frees q (NULL is fine); the signature suits struct rvt_nn_dense.q_free. */
void rvt_qdense_free(void *q);

/* Bytes of scratch a forward of n_cols columns needs (any alignment). */
size_t rvt_qdense_scratch(int n_in, size_t n_cols);

/*
 * y[o * ldy + j] = sum_i W[o][i] X[i][j] (dequantized), x[i * ldx + j].  See above.
 * post (may be NULL) is called on every run of finished outputs of a row while they
 * are in cache (struct rvt_qgemm_args.post): the caller's bias and activation.
 */
int rvt_qdense_forward(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                       size_t ldy, size_t n_cols, void *scratch,
                       void (*post)(void *ctx, int o, size_t p, float *y, size_t n),
                       void *post_ctx);

/*
 * The channels-last variants (the channels-last MBConv path of nn/model.c), with the same
 * maps and the same bits as rvt_qdense_forward on the same matrices:
 *   rvt_qdense_forward_yt: X as above, Y^T out: y[j * ldy + o], n_cols rows of n_out,
 *                          no bias and no post (the caller fuses them into its next pass)
 *   rvt_qdense_forward_xt: X^T in: x[j * ldx + i], n_cols rows of n_in; Y and post as
 *                          rvt_qdense_forward
 * and for one vector (a Linear layer, squeeze-excitation), y[o] = (W x)[o] + bias[o]
 * (bias may be NULL), the same bits as rvt_qdense_forward with n_cols 1 and a post that
 * adds the bias: the kernels that give one pixel's output channels a vector, where
 * rvt_qdense_forward would give the one column a vector of 16 positions.
 */
int rvt_qdense_forward_vec(const struct rvt_qdense *q, const float *x, float *y,
                           const float *bias, void *scratch);
int rvt_qdense_forward_yt(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                          size_t ldy, size_t n_cols, void *scratch);
int rvt_qdense_forward_xt(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                          size_t ldy, size_t n_cols, void *scratch,
                          void (*post)(void *ctx, int o, size_t p, float *y, size_t n),
                          void *post_ctx);

/*
 * The same products computed by a team (nn/team.h): every thread calls with the same
 * arguments; each quantizes its blocks of positions into the shared scratch, syncs,
 * and computes its part of the GEMM (the same bits as one thread).  On return only
 * this thread's part of y is written: sync before reading y.  xt: x is X^T, as
 * rvt_qdense_forward_xt.  split_rows: the threads split output rows only (a post that
 * sums along rows then sees the runs of one thread: struct rvt_qgemm_args.split_rows).
 */
int rvt_qdense_forward_par(const struct rvt_qdense *q, const float *x, size_t ldx, bool xt,
                           float *y, size_t ldy, size_t n_cols, void *scratch,
                           void (*post)(void *ctx, int o, size_t p, float *y, size_t n),
                           void *post_ctx, bool split_rows, const struct rvt_nn_par *par);
int rvt_qdense_forward_yt_par(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                              size_t ldy, size_t n_cols, void *scratch,
                              const struct rvt_nn_par *par);
/*
 * rvt_qdense_forward_yt_par ending in + bias and act (RVT_QACT_SILU: the level's SiLU,
 * qgemm.h), from X (xt false) or X^T (xt true: x[j * ldx + i], the same maps; ks, for
 * xt only, or NULL: input i is x[j * ldx + i] * ks[i], qgemm.h quant_rows), with the output rows of row_w positions each followed by row_skip skipped
 * positions (row_w 0: none): the int8 expand of a channels-last MBConv block writes the
 * inside of the depthwise conv's padded input, activated (act SILU: qgemm.h
 * RVT_QACT_SILU).  res (or NULL): + R(p, o)
 * = res[p * ld_res + o] after the activation (qgemm.h), the project's residual.
 */
int rvt_qdense_forward_yt_act_par(const struct rvt_qdense *q, const float *x, size_t ldx,
                                  bool xt, const float *ks, float *y, size_t ldy, size_t n_cols,
                                  const float *bias,
                                  enum rvt_qact act, size_t row_w, size_t row_skip,
                                  const float *res, size_t ld_res,
                                  void *scratch, const struct rvt_nn_par *par);

#endif
