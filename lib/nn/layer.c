#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <cblas.h>

#include "nn/layer.h"
#include "nn/qdense.h"
#include "nn/sgemm.h"

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

bool rvt_nn_dense_observed(void)
{
    return g_observer != NULL;
}

/* bias + activation of rows [o0, o1), columns [p0, p1) */
static void epilogue(const struct rvt_nn_dense *l, float *y, size_t ldy, int o0, int o1,
                     size_t p0, size_t p1, double *sums)
{
    const struct rvt_nn_kernels *k = rvt_nn_kernels();
    int o;

    for (o = o0; o < o1 && p1 > p0; o++)
        k->bias_act(y + (size_t)o * ldy + p0, p1 - p0, l->bias ? l->bias[o] : 0.0f, l->act,
                    sums ? &sums[o] : NULL);
}

/* Whether a call runs on a team of more than one thread. */
static bool teamed(const struct rvt_nn_par *par)
{
    return par && par->nth > 1;
}

/*
 * fp32 products run as one cblas_sgemm call on the team's first thread, never split:
 * OpenBLAS's results depend on the shape of a call (its small-matrix and edge kernels:
 * measured on 0.3.21, splitting a GEMM into 2-4 row or column blocks changes the last
 * bits of some layers, with Haswell kernels of most), so a split would make a team's
 * output differ from one thread's; and a fixed split that one thread makes too costs
 * it 5-18 % (2 blocks) to 16-87 % (8 blocks) more time per layer (OpenBLAS re-packs
 * the shared operand for every call).  The int8 products split exactly (qdense.h).
 */
/* The epilogue of an fp32 product, rows shared out after the GEMM (a row's sum stays in
 * one thread, in order). */
static void f32_epilogue(const struct rvt_nn_dense *l, float *y, size_t ldy, size_t n_cols,
                         double *sums, const struct rvt_nn_par *par)
{
    size_t o0, o1;

    rvt_nn_par_sync(par);
    rvt_nn_par_range(par, (size_t)l->n_out, 1, &o0, &o1);
    epilogue(l, y, ldy, (int)o0, (int)o1, 0, n_cols, sums);
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
                             size_t ldy, size_t n_cols, float *scratch, double *sums,
                             const struct rvt_nn_par *par)
{
    struct i8_post c = {.l = l, .k = rvt_nn_kernels(), .sums = sums};
    int o;

    assert(l->q_prep); /* rvt_nn_dense_prepare_i8 */
    if (n_cols == 1 && ldx == 1 && ldy == 1) {
        if (!rvt_nn_par_first(par)) /* a vector: one thread */
            return;
        /* a vector: bias in the GEMM, then the activation over all of y (+0.0f, the
         * same values as the planar path's bias_act of each output) */
        rvt_qdense_forward_vec(l->q_prep, x, y, l->bias, scratch);
        if (l->act != RVT_NN_ACT_NONE)
            c.k->bias_act(y, (size_t)l->n_out, 0.0f, l->act, NULL);
        for (o = 0; sums && o < l->n_out; o++)
            sums[o] = y[o];
        return;
    }
    rvt_qdense_forward_par(l->q_prep, x, ldx, false, y, ldy, n_cols, scratch, i8_post, &c,
                           sums != NULL, par);
}

bool rvt_nn_dense_vec_splits(const struct rvt_nn_dense *l)
{
    return l->wtype != RVT_NN_WEIGHT_I8 && l->wt_cl && rvt_nn_cl_level();
}

void rvt_nn_dense_forward(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                          size_t ldy, size_t n_cols, float *scratch, double *sums)
{
    rvt_nn_dense_forward_par(l, x, ldx, y, ldy, n_cols, scratch, sums, NULL);
}

void rvt_nn_dense_forward_par(const struct rvt_nn_dense *l, const float *x, size_t ldx, float *y,
                              size_t ldy, size_t n_cols, float *scratch, double *sums,
                              const struct rvt_nn_par *par)
{
    assert(!(g_observer && teamed(par))); /* calibration runs one thread */
    if (g_observer)
        g_observer(g_observer_ctx, l, x, (size_t)l->n_in, n_cols, ldx);
    if (l->wtype == RVT_NN_WEIGHT_I8) {
        dense_forward_i8(l, x, ldx, y, ldy, n_cols, scratch, sums, par); /* epilogue fused */
        return;
    }
    if (n_cols == 1) { /* a vector: sgemm would pack all of W for one column */
        if (rvt_nn_dense_vec_splits(l) && ldy == 1) {
            /* nn/sgemm.h on the packed weights: one position, bias and activation fused
             * (cblas_sgemv and the per-output epilogue took ~10x longer here); a team
             * splits its blocks of outputs (the head's vectors, memory-bound on their
             * weights: fp32 fusion 237 us a clip on one thread) */
            struct rvt_sgemm_args g = {.n = l->n_out, .k = l->n_in, .wt = l->wt_cl, .x = x,
                                       .x_ps = 1, .x_ks = ldx, .n_pos = 1, .y = y,
                                       .ldy = 1, .bias = l->bias, .act = l->act};
            int o;
            assert(!sums || !teamed(par));
            rvt_sgemm_kernels()->gemm(&g, par ? par->ith : 0, par ? par->nth : 1);
            for (o = 0; sums && o < l->n_out; o++)
                sums[o] = y[o];
            return;
        }
        if (!rvt_nn_par_first(par))
            return;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, l->n_out, l->n_in, 1.0f, l->w, l->n_in, x,
                    (int)ldx, 0.0f, y, (int)ldy);
        epilogue(l, y, ldy, 0, l->n_out, 0, 1, sums);
        return;
    }
    if (rvt_nn_par_first(par))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->n_out, (int)n_cols, l->n_in, 1.0f,
                    l->w, l->n_in, x, (int)ldx, 0.0f, y, (int)ldy);
    f32_epilogue(l, y, ldy, n_cols, sums, par);
}

static bool single_plane(const struct rvt_nn_conv *l)
{
    return !l->depthwise && l->c_in == 1 && l->gemm.wtype == RVT_NN_WEIGHT_F32 && l->k <= 7 &&
           l->stride <= 2 && l->pad < l->k;
}

/* The int8 epilogue's act for a layer's act, or -1 */
static int qact_of(enum rvt_nn_act act)
{
    switch (act) {
    case RVT_NN_ACT_NONE: return RVT_QACT_NONE;
    case RVT_NN_ACT_RELU: return RVT_QACT_RELU;
    case RVT_NN_ACT_SILU: return RVT_QACT_SILU;
    default: return -1;
    }
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
    rvt_nn_conv_forward_par(l, x, h, w, y, scratch, scratch, sums, NULL);
}

/* im2col of channels [c0, c1) (the rows of those channels' taps) */
static void im2col_part(const struct rvt_nn_conv *l, const float *x, int h, int w, float *col,
                        int oh, int ow, const struct rvt_nn_par *par)
{
    size_t n = (size_t)oh * ow, kk = (size_t)l->k * l->k, c0, c1, c;

    rvt_nn_par_range(par, (size_t)l->c_in, 1, &c0, &c1);
    for (c = c0; c < c1; c++)
        rvt_nn_im2col(x + c * h * w, 1, h, w, l->k, l->stride, l->pad, col + c * kk * n, oh, ow);
}

void rvt_nn_conv_forward_par(const struct rvt_nn_conv *l, const float *x, int h, int w, float *y,
                             float *scratch, float *own, double *sums,
                             const struct rvt_nn_par *par)
{
    int oh = rvt_nn_out_size(h, l->k, l->stride, l->pad);
    int ow = rvt_nn_out_size(w, l->k, l->stride, l->pad);
    size_t n = (size_t)oh * ow, c0, c1, c;

    if (l->depthwise) {
        const struct rvt_nn_kernels *k = rvt_nn_kernels();
        rvt_nn_par_range(par, (size_t)l->c_in, 1, &c0, &c1);
        for (c = c0; c < c1; c++) {
            double s = k->dwconv(x + c * h * w, h, w, l->dw_w + c * l->k * l->k, l->k, l->stride,
                                 l->pad, l->dw_bias[c], l->act, y + c * n, oh, ow, own);
            if (sums)
                sums[c] = s;
        }
    } else if (single_plane(l)) {
        /* one input plane (the audio branch's first conv): c_out direct k x k
         * convolutions of it, cheaper than im2col + a K = k*k GEMM */
        const struct rvt_nn_kernels *k = rvt_nn_kernels();
        rvt_nn_par_range(par, (size_t)l->c_out, 1, &c0, &c1);
        for (c = c0; c < c1; c++) {
            double s = k->dwconv(x, h, w, l->gemm.w + c * l->k * l->k, l->k, l->stride, l->pad,
                                 l->gemm.bias ? l->gemm.bias[c] : 0.0f, l->gemm.act, y + c * n,
                                 oh, ow, own);
            if (sums)
                sums[c] = s;
        }
    } else if (l->k == 1 && l->stride == 1 && l->pad == 0) {
        rvt_nn_dense_forward_par(&l->gemm, x, n, y, n, n, scratch, sums, par);
    } else {
        im2col_part(l, x, h, w, scratch, oh, ow, par);
        rvt_nn_par_sync(par);
        rvt_nn_dense_forward_par(&l->gemm, scratch, n, y, n, n,
                                 scratch + (size_t)l->c_in * l->k * l->k * n, sums, par);
    }
}

bool rvt_nn_conv_pool_ok(const struct rvt_nn_conv *l)
{
    return single_plane(l);
}

size_t rvt_nn_conv_pool_scratch(const struct rvt_nn_conv *l, int h, int w)
{
    return rvt_nn_plane_conv_pool_scratch(h, w, l->k, l->stride, l->pad);
}

void rvt_nn_conv_pool_forward_par(const struct rvt_nn_conv *l, const float *x, int h, int w,
                                  float *y, float *own, const struct rvt_nn_par *par)
{
    size_t c0, c1;

    assert(single_plane(l));
    rvt_nn_par_range(par, (size_t)l->c_out, 1, &c0, &c1);
    rvt_nn_kernels()->plane_conv_pool(x, h, w, l->gemm.w, l->k, l->stride, l->pad, l->gemm.bias,
                                      l->gemm.act, (int)c0, (int)c1, y, own);
}

bool rvt_nn_cl_level(void)
{
    return rvt_nn_kernels()->dwconv_cl && rvt_sgemm_kernels()->isa >= RVT_ISA_AVX2 &&
           rvt_qgemm_kernels()->isa >= RVT_ISA_AVX2;
}

bool rvt_nn_dense_cl_ok(const struct rvt_nn_dense *l)
{
    if (l->wtype == RVT_NN_WEIGHT_I8)
        return l->q_prep && rvt_nn_cl_level() && qact_of(l->act) >= 0;
    return l->wt_cl && rvt_nn_cl_level();
}

void rvt_nn_dense_observe_cl(const struct rvt_nn_dense *l, const float *x, size_t x_ps,
                             size_t n_cols)
{
    if (g_observer)
        g_observer(g_observer_ctx, l, x, n_cols, (size_t)l->n_in, x_ps);
}

void rvt_nn_dense_forward_cl_par(const struct rvt_nn_dense *l, const float *x, size_t x_ps,
                                 size_t x_ks, const float *xs, float *y, size_t ldy, size_t n_cols,
                                 size_t row_w, size_t row_skip, const float *res, size_t ld_res,
                                 float *scratch, const struct rvt_nn_par *par)
{
    const int ith = par ? par->ith : 0, nth = par ? par->nth : 1;

    assert(rvt_nn_dense_cl_ok(l) && (x_ks == 1 || x_ps == 1));
    assert(!xs || (x_ks == 1 && l->wtype == RVT_NN_WEIGHT_I8 && !g_observer));
    assert(!(g_observer && teamed(par)));
    if (g_observer) {
        if (x_ks == 1)
            g_observer(g_observer_ctx, l, x, n_cols, (size_t)l->n_in, x_ps);
        else
            g_observer(g_observer_ctx, l, x, (size_t)l->n_in, n_cols, x_ks);
    }
    if (l->wtype == RVT_NN_WEIGHT_I8) {
        /* + R in the GEMM's epilogue (qgemm.h gemm_t): the bits of the add after it */
        rvt_qdense_forward_yt_act_par(l->q_prep, x, x_ks == 1 ? x_ps : x_ks, x_ks == 1, xs, y,
                                      ldy, n_cols, l->bias, (enum rvt_qact)qact_of(l->act),
                                      row_w, row_skip, res, ld_res, scratch, par);
        return;
    }
    {
        struct rvt_sgemm_args g = {.n = l->n_out, .k = l->n_in, .wt = l->wt_cl, .x = x,
                                   .x_ps = x_ps, .x_ks = x_ks, .n_pos = n_cols, .y = y,
                                   .ldy = ldy, .row_w = row_w, .row_skip = row_skip,
                                   .bias = l->bias, .act = l->act, .res = res, .ld_res = ld_res};
        rvt_sgemm_kernels()->gemm(&g, ith, nth);
    }
}

void rvt_nn_conv_forward_cl_par(const struct rvt_nn_conv *l, const float *x, int h, int w,
                                float *y, size_t ldy, size_t row_w, size_t row_skip,
                                float *scratch, const struct rvt_nn_par *par)
{
    int oh = rvt_nn_out_size(h, l->k, l->stride, l->pad);
    int ow = rvt_nn_out_size(w, l->k, l->stride, l->pad);
    size_t n = (size_t)oh * ow;

    assert(!l->depthwise && !single_plane(l));
    if (l->k == 1 && l->stride == 1 && l->pad == 0) {
        rvt_nn_dense_forward_cl_par(&l->gemm, x, 1, n, NULL, y, ldy, n, row_w, row_skip, NULL,
                                    0, scratch, par);
        return;
    }
    im2col_part(l, x, h, w, scratch, oh, ow, par);
    rvt_nn_par_sync(par);
    rvt_nn_dense_forward_cl_par(&l->gemm, scratch, 1, n, NULL, y, ldy, n, row_w, row_skip, NULL,
                                0, scratch + (size_t)l->c_in * l->k * l->k * n, par);
}

void rvt_nn_dense_release(struct rvt_nn_dense *l)
{
    if (l->q_prep && l->q_free)
        l->q_free(l->q_prep);
    l->q_prep = NULL;
}
