/*
 * layer.h: the weighted layers of the network, with BatchNorm already folded in.
 *
 * struct rvt_nn_dense is every matrix product of the model: Linear layers and
 * pointwise (1x1) convolutions (and the GEMM of a regular convolution after
 * im2col).  It computes, for a matrix X of n_cols columns,
 *
 *     Y[n_out x n_cols] = act(W[n_out x n_in] X[n_in x n_cols] + bias)
 *
 * In NCHW a 1x1 convolution of one image is exactly that with X = the [C, H*W]
 * activation (columns = pixels); a Linear layer applied to one clip is the same
 * with n_cols = 1.  Rows are row-major with leading dimensions ldx / ldy.
 *
 * Weights are fp32 or int8, behind the same struct (wtype says which):
 *   RVT_NN_WEIGHT_F32  w[n_out][n_in]; Y is computed with cblas_sgemm
 *   RVT_NN_WEIGHT_I8   w_i8[n_out][n_in] with per-output-channel scales,
 *                      W[o][i] = w_scale[o] * w_i8[o][i]; a BatchNorm that follows
 *                      the layer is folded into w_scale and bias, exactly as for fp32
 *
 * HOW INT8 PLUGS IN (issue 8): the checkpoint loader (nn/model.c, load_dense)
 * already fills w_i8 and w_scale from an int8 checkpoint (schemas/checkpoint.md).
 * The int8 forward is the one function dense_forward_i8() in nn/layer.c: today a
 * plain-C reference (activations quantized symmetrically per call to int8, int32
 * dot products, scaled and biased in fp32), to be replaced by the qgemm kernels.
 * It may use `q_prep` (per-layer data prepared once at load, e.g. packed weights or
 * column sums: set by a hook in load_dense, freed by q_free) and the scratch of
 * rvt_nn_dense_scratch(), which the session plans once for the largest call, so
 * the int8 path never allocates either.  Determinism: an output column may only
 * depend on its own input column and the per-call activation scale, so results do
 * not change with the batch size.  The channels-last path of nn/model.c
 * (rvt_nn_dense_forward_cl_par and _xt below) takes both kinds: fp32 layers run
 * nn/sgemm.h on weights packed at load (wt_cl), int8 ones qdense's transposed
 * variants, whose channels-last GEMM (qgemm.h gemm_t) stores 16 output channels of a
 * pixel at once, and whose maps and bits are those of the planar call.
 * A hook that watches every dense layer's input (calibration) must watch these
 * as well: in the channels-last path every layer of the image branch goes through
 * them (the input arrives transposed, [n_cols][n_in], but for the stem's im2col).
 *
 * struct rvt_nn_conv is a k x k convolution: depthwise (groups = channels; the
 * direct kernels of nn/ops.h) or regular (groups = 1; im2col, then its `gemm`,
 * a dense layer with n_in = c_in * k * k, so regular convs can go int8 too).
 *
 * Layers are immutable after load and may be shared by threads; their memory
 * belongs to the model that loaded them.
 */
#ifndef RVT_NN_LAYER_H
#define RVT_NN_LAYER_H

#include "core/common.h"
#include "nn/ops.h"
#include "nn/team.h"

enum rvt_nn_wtype {
    RVT_NN_WEIGHT_F32 = 0,
    RVT_NN_WEIGHT_I8 = 1,
};

struct rvt_nn_dense {
    int n_out, n_in;
    enum rvt_nn_wtype wtype;
    const float *w;        /* F32: [n_out][n_in], BatchNorm folded */
    const int8_t *w_i8;    /* I8: [n_out][n_in] */
    const float *w_scale;  /* I8: [n_out], BatchNorm folded */
    const float *bias;     /* [n_out] or NULL */
    enum rvt_nn_act act;
    const float *wt_cl;    /* F32: the weights packed for nn/sgemm.h (model memory), or
                              NULL: the layer does not run channels-last */
    void *q_prep;          /* I8: prepared data of the int8 kernels (owned, q_free) */
    void (*q_free)(void *);
    const char *key;       /* checkpoint weight key (model memory), for observers; or NULL */
};

/*
 * I8 layers: prepares the int8 kernels' data (q_prep, q_free: nn/qdense.h) from w_i8 and
 * w_scale (BatchNorm already folded).  act_range NULL: the input is quantized per call
 * (dynamic, one map per column), else with the static [lo, hi] a calibration recorded.
 * The loader calls it; a layer built by hand calls it before rvt_nn_dense_forward.
 */
int rvt_nn_dense_prepare_i8(struct rvt_nn_dense *l, const float *act_range, struct rvt_error *err);

/*
 * Calibration hook (quantize-model --calibrate): when set, every dense forward (all of
 * rvt_nn_dense_forward*, whatever the layout) first shows fn the values of its input:
 * n_rows rows of n floats, row stride ldx: n_in x n_cols for the channels-first calls,
 * n_cols x n_in for the channels-last ones (_xt, _cl with x_ks 1).  Only the set of values is defined, as
 * a static range covers the whole tensor.  Process-wide and unsynchronised: set it before
 * any forward, run one thread, clear it with NULL.
 */
typedef void (*rvt_nn_dense_observer_fn)(void *ctx, const struct rvt_nn_dense *l, const float *x,
                                         size_t n_rows, size_t n, size_t ldx);
void rvt_nn_dense_set_observer(rvt_nn_dense_observer_fn fn, void *ctx);

/* Floats of scratch rvt_nn_dense_forward needs for n_cols columns (0 for fp32). */
size_t rvt_nn_dense_scratch(const struct rvt_nn_dense *l, size_t n_cols);

/*
 * Y = act(W X + bias).  x: n_in rows of n_cols (row stride ldx); y: n_out rows
 * (row stride ldy); x and y must not overlap.  When `sums` is not NULL it
 * receives each output row's sum after the activation (what a following average
 * pool needs).
 */
void rvt_nn_dense_forward(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                          size_t ldy, size_t n_cols, float *scratch, double *sums);


struct rvt_nn_conv {
    int c_in, c_out, k, stride, pad;
    bool depthwise;              /* c_in == c_out, one k x k filter per channel */
    const float *dw_w;           /* depthwise: [c][k*k], BatchNorm folded */
    const float *dw_bias;        /* depthwise: [c] */
    enum rvt_nn_act act;         /* depthwise */
    struct rvt_nn_dense gemm;    /* regular: n_out = c_out, n_in = c_in*k*k */
};

/* Floats of scratch for one plane set of h x w (im2col or the padded plane). */
size_t rvt_nn_conv_scratch(const struct rvt_nn_conv *l, int h, int w);

/*
 * y (c_out x oh x ow) = conv(x (c_in x h x w)).  For depthwise convs `sums`
 * (when not NULL) receives each output plane's sum after the activation.
 */
void rvt_nn_conv_forward(const struct rvt_nn_conv *l, const float *x, int h, int w, float *y,
                         float *scratch, double *sums);

/*
 * Team variants (nn/team.h): every thread of the team calls with the same arguments and
 * computes its share (the same bits as one thread: int8 products split by positions or
 * rows, int8 vectors run whole on the first thread, fp32 OpenBLAS ones run whole on the
 * first thread, their epilogue split by rows, fp32 nn/sgemm.h ones (_cl, and vectors
 * without sums) split by tiles or output blocks); on
 * return only that share of y (and sums) is written, so sync before reading them.  scratch is shared by the team (the
 * int8 path's packed activations, im2col); `own` is this thread's (the padded plane of
 * a depthwise or single-plane conv, rvt_nn_conv_scratch floats).  par NULL: one thread.
 * Not with a calibration observer set (it sees whole tensors only).
 */
void rvt_nn_dense_forward_par(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                              size_t ldy, size_t n_cols, float *scratch, double *sums,
                              const struct rvt_nn_par *par);
/* Whether the team variants split a vector (n_cols 1, ldy 1) of l among the threads;
 * else the first thread computes it whole. */
bool rvt_nn_dense_vec_splits(const struct rvt_nn_dense *l);
void rvt_nn_conv_forward_par(const struct rvt_nn_conv *l, const float *x, int h, int w, float *y,
                             float *scratch, float *own, double *sums,
                             const struct rvt_nn_par *par);
/*
 * A single-plane convolution (one input channel, fp32: the audio branch's first) and the
 * 2x2 max pool after it, each output plane pooled while it is in cache: y [c_out][oh / 2]
 * [ow / 2], the same bits as rvt_nn_conv_forward_par then the kernels' maxpool2, without
 * the full-size output (2.4 MB for a 64 x 300 mel, a trip through L3 and back).
 * rvt_nn_conv_pool_ok(l): the layer is one; own: rvt_nn_conv_pool_scratch floats.
 */
bool rvt_nn_conv_pool_ok(const struct rvt_nn_conv *l);
size_t rvt_nn_conv_pool_scratch(const struct rvt_nn_conv *l, int h, int w);
void rvt_nn_conv_pool_forward_par(const struct rvt_nn_conv *l, const float *x, int h, int w,
                                  float *y, float *own, const struct rvt_nn_par *par);

/*
 * Whether this CPU's kernel levels (RVT_ISA lowers them) run the channels-last path of
 * nn/model.c: AVX2 or AVX-512 in all three families (nn/ops.h with dwconv_cl,
 * nn/sgemm.h, nn/qgemm.h).
 */
bool rvt_nn_cl_level(void);

/*
 * The channels-last path of nn/model.c (AVX2, AVX-512), for layers rvt_nn_dense_cl_ok accepts:
 *   Y(p, o) = act(sum_i W[o][i] X(p, i) + bias[o]) + R(p, o)
 * X(p, i) = x[p * x_ps + i * x_ks] (channels-last: x_ps = its row stride, x_ks = 1;
 * planar, e.g. im2col: x_ps = 1, x_ks = its row stride); Y(p, .) at
 * y + (p + p / row_w * row_skip) * ldy: row_skip positions left after each row of row_w
 * (the side borders of the padded map a depthwise conv reads; the caller zeroes them;
 * row_w 0: none); R(p, o) = res[p * ld_res + o], or res NULL.
 *   fp32 (wt_cl): nn/sgemm.h, bias, activation and R fused;
 *   int8: qdense.h rvt_qdense_forward_yt_act_par (bias and act in the GEMM: act NONE,
 *     RELU or SILU), then + R (the same operations); xs (channels-last X only, or NULL)
 *     scales input i by xs[i] while quantizing (qgemm.h quant_rows: the bits of scaling
 *     X first, one pass over X less).  fp32 takes no xs (NULL).
 * Team rules as the _par functions above; the calibration observer sees X.
 */
bool rvt_nn_dense_cl_ok(const struct rvt_nn_dense *l);
/* Shows the observer (if any) x as l's channels-last input, n_cols rows of n_in at x_ps,
 * as rvt_nn_dense_forward_cl_par would: for a caller that computes l's products from
 * another X (nn/model.c folds a squeeze-excitation's scale into a project's weights,
 * and runs a copy of the layer without a key, which observers ignore). */
void rvt_nn_dense_observe_cl(const struct rvt_nn_dense *l, const float *x, size_t x_ps,
                             size_t n_cols);
void rvt_nn_dense_forward_cl_par(const struct rvt_nn_dense *l, const float *x, size_t x_ps,
                                 size_t x_ks, const float *xs, float *y, size_t ldy, size_t n_cols,
                                 size_t row_w, size_t row_skip, const float *res, size_t ld_res,
                                 float *scratch, const struct rvt_nn_par *par);
/* A regular convolution the same way: im2col into scratch (rvt_nn_conv_scratch), then
 * rvt_nn_dense_forward_cl_par of its gemm (no R), output pixels as positions. */
void rvt_nn_conv_forward_cl_par(const struct rvt_nn_conv *l, const float *x, int h, int w,
                                float *y, size_t ldy, size_t row_w, size_t row_skip,
                                float *scratch, const struct rvt_nn_par *par);
/* Whether a calibration observer is set (forwards then run one thread). */
bool rvt_nn_dense_observed(void);

/* Frees what the layer owns (q_prep); the weights belong to the model. */
void rvt_nn_dense_release(struct rvt_nn_dense *l);

#endif
