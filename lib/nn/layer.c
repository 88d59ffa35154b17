#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <cblas.h>

#include "nn/layer.h"
#include "nn/qdense.h"

/* Scratch of the int8 path: the packed activations and their maps (nn/qdense.h). */
size_t rvt_nn_dense_scratch(const struct rvt_nn_dense *l, size_t n_cols)
{
    if (l->wtype == RVT_NN_WEIGHT_I8)
        return (rvt_qdense_scratch(l->n_in, n_cols) + sizeof(float) - 1) / sizeof(float);
    return 0;
}

int rvt_nn_dense_prepare_i8(struct rvt_nn_dense *l, const float *act_range, struct rvt_error *err)
{
    struct rvt_qdense *q = NULL;
    int ret;

    assert(l->wtype == RVT_NN_WEIGHT_I8);
    ret = rvt_qdense_new(&q, l->w_i8, l->w_scale, l->n_out, l->n_in, act_range, err);
    if (ret < 0)
        return ret;
    rvt_nn_dense_release(l);
    l->q_prep = q;
    l->q_free = rvt_qdense_free;
    return 0;
}

/* Set before any forward and cleared after (see layer.h); read-only meanwhile. */
static rvt_nn_dense_observer_fn g_observer;
static void *g_observer_ctx;

void rvt_nn_dense_set_observer(rvt_nn_dense_observer_fn fn, void *ctx)
{
    g_observer = fn;
    g_observer_ctx = ctx;
}

static void epilogue(const struct rvt_nn_dense *l, float *y, size_t ldy, size_t n_cols,
                     double *sums)
{
    const struct rvt_nn_kernels *k = rvt_nn_kernels();
    int o;

    for (o = 0; o < l->n_out; o++)
        k->bias_act(y + (size_t)o * ldy, n_cols, l->bias ? l->bias[o] : 0.0f, l->act,
                    sums ? &sums[o] : NULL);
}

/* The int8 path: nn/qdense.h (NaN/Inf in a column -> NaN outputs in that column), with
 * the bias, activation and row sums of the epilogue applied by the GEMM to each run of
 * finished outputs while they are in cache. */
struct i8_post {
    const struct rvt_nn_dense *l;
    const struct rvt_nn_kernels *k;
    double *sums;
};

static void i8_post(void *ctx, int o, size_t p, float *y, size_t n)
{
    const struct i8_post *c = ctx;
    double s;
    c->k->bias_act(y, n, c->l->bias ? c->l->bias[o] : 0.0f, c->l->act, c->sums ? &s : NULL);
    if (c->sums)
        c->sums[o] = p == 0 ? s : c->sums[o] + s; /* runs come in increasing p */
}

static void dense_forward_i8(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                             size_t ldy, size_t n_cols, float *scratch, double *sums)
{
    struct i8_post c = {.l = l, .k = rvt_nn_kernels(), .sums = sums};
    int o;

    assert(l->q_prep); /* rvt_nn_dense_prepare_i8 */
    if (n_cols == 1 && ldx == 1 && ldy == 1) {
        /* a vector: bias in the GEMM, then the activation over all of y (+0.0f, the
         * same values as the planar path's bias_act of each output) */
        rvt_qdense_forward_vec(l->q_prep, x, y, l->bias, scratch);
        if (l->act != RVT_NN_ACT_NONE)
            c.k->bias_act(y, (size_t)l->n_out, 0.0f, l->act, NULL);
        for (o = 0; sums && o < l->n_out; o++)
            sums[o] = y[o];
        return;
    }
    rvt_qdense_forward(l->q_prep, x, ldx, y, ldy, n_cols, scratch, i8_post, &c);
}

void rvt_nn_dense_forward(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                          size_t ldy, size_t n_cols, float *scratch, double *sums)
{
    if (g_observer)
        g_observer(g_observer_ctx, l, x, (size_t)l->n_in, n_cols, ldx);
    if (l->wtype == RVT_NN_WEIGHT_I8) {
        dense_forward_i8(l, x, ldx, y, ldy, n_cols, scratch, sums); /* epilogue fused */
        return;
    }
    if (n_cols == 1) /* a vector: sgemm would pack all of W for one column */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, l->n_out, l->n_in, 1.0f, l->w, l->n_in, x,
                    (int)ldx, 0.0f, y, (int)ldy);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->n_out, (int)n_cols, l->n_in,
                    1.0f, l->w, l->n_in, x, (int)ldx, 0.0f, y, (int)ldy);
    epilogue(l, y, ldy, n_cols, sums);
}

static bool single_plane(const struct rvt_nn_conv *l)
{
    return !l->depthwise && l->c_in == 1 && l->gemm.wtype == RVT_NN_WEIGHT_F32 && l->k <= 7 &&
           l->stride <= 2 && l->pad < l->k;
}

void rvt_nn_dense_forward_yt(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                             size_t ldy, size_t n_cols, float *scratch)
{
    if (g_observer)
        g_observer(g_observer_ctx, l, x, (size_t)l->n_in, n_cols, ldx);
    if (l->wtype == RVT_NN_WEIGHT_I8) {
        assert(l->q_prep); /* rvt_nn_dense_prepare_i8 */
        rvt_qdense_forward_yt(l->q_prep, x, ldx, y, ldy, n_cols, scratch);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, (int)n_cols, l->n_out, l->n_in, 1.0f, x,
                (int)ldx, l->w, l->n_in, 0.0f, y, (int)ldy);
}

void rvt_nn_dense_forward_xt(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                             size_t ldy, size_t n_cols, float *scratch, double *sums)
{
    if (g_observer) /* x: n_cols rows of n_in */
        g_observer(g_observer_ctx, l, x, n_cols, (size_t)l->n_in, ldx);
    if (l->wtype == RVT_NN_WEIGHT_I8) {
        struct i8_post c = {.l = l, .k = rvt_nn_kernels(), .sums = sums};
        assert(l->q_prep);
        rvt_qdense_forward_xt(l->q_prep, x, ldx, y, ldy, n_cols, scratch, i8_post, &c);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l->n_out, (int)n_cols, l->n_in, 1.0f,
                l->w, l->n_in, x, (int)ldx, 0.0f, y, (int)ldy);
    epilogue(l, y, ldy, n_cols, sums);
}

size_t rvt_nn_conv_scratch(const struct rvt_nn_conv *l, int h, int w)
{
    int oh = rvt_nn_out_size(h, l->k, l->stride, l->pad);
    int ow = rvt_nn_out_size(w, l->k, l->stride, l->pad);
    size_t n = (size_t)oh * ow;

    if (l->depthwise)
        return rvt_nn_dwconv_scratch(h, w, l->pad);
    if (single_plane(l))
        return RVT_MAX(rvt_nn_dwconv_scratch(h, w, l->pad),
                       (size_t)l->k * l->k * n + rvt_nn_dense_scratch(&l->gemm, n));
    if (l->k == 1 && l->stride == 1 && l->pad == 0)
        return rvt_nn_dense_scratch(&l->gemm, n);
    return (size_t)l->c_in * l->k * l->k * n + rvt_nn_dense_scratch(&l->gemm, n);
}

void rvt_nn_conv_forward(const struct rvt_nn_conv *l, const float *x, int h, int w, float *y,
                         float *scratch, double *sums)
{
    int oh = rvt_nn_out_size(h, l->k, l->stride, l->pad);
    int ow = rvt_nn_out_size(w, l->k, l->stride, l->pad);
    size_t n = (size_t)oh * ow;

    if (l->depthwise) {
        const struct rvt_nn_kernels *k = rvt_nn_kernels();
        int c;
        for (c = 0; c < l->c_in; c++) {
            double s = k->dwconv(x + (size_t)c * h * w, h, w, l->dw_w + (size_t)c * l->k * l->k,
                                 l->k, l->stride, l->pad, l->dw_bias[c], l->act,
                                 y + (size_t)c * n, oh, ow, scratch);
            if (sums)
                sums[c] = s;
        }
    } else if (single_plane(l)) {
        /* one input plane (the audio branch's first conv): c_out direct k x k
         * convolutions of it, cheaper than im2col + a K = k*k GEMM */
        const struct rvt_nn_kernels *k = rvt_nn_kernels();
        int o;
        for (o = 0; o < l->c_out; o++) {
            double s = k->dwconv(x, h, w, l->gemm.w + (size_t)o * l->k * l->k, l->k, l->stride,
                                 l->pad, l->gemm.bias ? l->gemm.bias[o] : 0.0f, l->gemm.act,
                                 y + (size_t)o * n, oh, ow, scratch);
            if (sums)
                sums[o] = s;
        }
    } else if (l->k == 1 && l->stride == 1 && l->pad == 0) {
        rvt_nn_dense_forward(&l->gemm, x, n, y, n, n, scratch, sums);
    } else {
        rvt_nn_im2col(x, l->c_in, h, w, l->k, l->stride, l->pad, scratch, oh, ow);
        rvt_nn_dense_forward(&l->gemm, scratch, n, y, n, n,
                             scratch + (size_t)l->c_in * l->k * l->k * n, sums);
    }
}

void rvt_nn_conv_forward_yt(const struct rvt_nn_conv *l, const float *x, int h, int w, float *y,
                            float *scratch)
{
    int oh = rvt_nn_out_size(h, l->k, l->stride, l->pad);
    int ow = rvt_nn_out_size(w, l->k, l->stride, l->pad);
    size_t n = (size_t)oh * ow;

    assert(!l->depthwise && !single_plane(l));
    if (l->k == 1 && l->stride == 1 && l->pad == 0) {
        rvt_nn_dense_forward_yt(&l->gemm, x, n, y, (size_t)l->c_out, n, scratch);
        return;
    }
    rvt_nn_im2col(x, l->c_in, h, w, l->k, l->stride, l->pad, scratch, oh, ow);
    rvt_nn_dense_forward_yt(&l->gemm, scratch, n, y, (size_t)l->c_out, n,
                            scratch + (size_t)l->c_in * l->k * l->k * n);
}

void rvt_nn_dense_release(struct rvt_nn_dense *l)
{
    if (l->q_prep && l->q_free)
        l->q_free(l->q_prep);
    l->q_prep = NULL;
}
