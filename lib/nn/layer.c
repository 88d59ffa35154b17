#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <cblas.h>

#include "nn/layer.h"

/* Scratch of the int8 reference: the quantized activations, as floats. */
size_t rvt_nn_dense_scratch(const struct rvt_nn_dense *l, size_t n_cols)
{
    if (l->wtype == RVT_NN_WEIGHT_I8)
        return ((size_t)l->n_in * n_cols + sizeof(float) - 1) / sizeof(float) + 16;
    return 0;
}

static void epilogue(const struct rvt_nn_dense *l, float *y, size_t ldy, size_t n_cols,
                     double *sums)
{
    const struct rvt_nn_kernels *k = rvt_nn_kernels();
    int o;

    for (o = 0; o < l->n_out; o++) {
        double s = k->bias_act(y + (size_t)o * ldy, n_cols, l->bias ? l->bias[o] : 0.0f, l->act);
        if (sums)
            sums[o] = s;
    }
}

/*
 * The int8 path (issue 8 replaces the body with the qgemm kernels; see layer.h).
 * Reference semantics: X quantized per call, symmetric, to int8 with
 * sx = max|X| / 127 and q = round(x / sx); Y = act(sx * w_scale[o] * sum q_w q_x + b).
 */
static void dense_forward_i8(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                             size_t ldy, size_t n_cols, float *scratch)
{
    int8_t *xq = (int8_t *)scratch;
    float amax = 0.0f, sx, inv;
    size_t i, j;
    int o;

    for (i = 0; i < (size_t)l->n_in; i++)
        for (j = 0; j < n_cols; j++)
            amax = fmaxf(amax, fabsf(x[i * ldx + j]));
    sx = amax / 127.0f;
    inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (i = 0; i < (size_t)l->n_in; i++)
        for (j = 0; j < n_cols; j++)
            xq[i * n_cols + j] = (int8_t)lrintf(fminf(127.0f, fmaxf(-127.0f, x[i * ldx + j] * inv)));
    for (o = 0; o < l->n_out; o++) {
        const int8_t *wr = l->w_i8 + (size_t)o * l->n_in;
        float s = sx * l->w_scale[o];
        for (j = 0; j < n_cols; j++) {
            int32_t acc = 0;
            for (i = 0; i < (size_t)l->n_in; i++)
                acc += (int32_t)wr[i] * (int32_t)xq[i * n_cols + j];
            y[(size_t)o * ldy + j] = (float)acc * s;
        }
    }
}

void rvt_nn_dense_forward(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                          size_t ldy, size_t n_cols, float *scratch, double *sums)
{
    if (l->wtype == RVT_NN_WEIGHT_I8)
        dense_forward_i8(l, x, ldx, y, ldy, n_cols, scratch);
    else if (n_cols == 1) /* a vector: sgemm would pack all of W for one column */
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

void rvt_nn_dense_release(struct rvt_nn_dense *l)
{
    if (l->q_prep && l->q_free)
        l->q_free(l->q_prep);
    l->q_prep = NULL;
}
