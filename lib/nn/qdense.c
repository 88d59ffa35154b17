/* qdense.c: int8 dense layers (see qdense.h). */
#include "core/common.h"

#include <math.h>
#include <stdlib.h>

#include "nn/qdense.h"

int rvt_qdense_new(struct rvt_qdense **out, const int8_t *w_i8, const float *w_scale, int n_out,
                   int n_in, const float *act_range, struct rvt_error *err)
{
    struct rvt_qdense *q = calloc(1, sizeof(*q));
    int ret = 0;

    *out = NULL;
    if (!q) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    rvt_qweights_init(&q->w);
    ret = rvt_qweights_set(&q->w, w_i8, w_scale, n_out, n_in, err);
    if (ret < 0)
        goto done;
    if (act_range) {
        if (!(act_range[0] <= act_range[1])) {
            ret = rvt_error_set(err, RVT_EINVAL, "activation range [%g, %g] is empty",
                                (double)act_range[0], (double)act_range[1]);
            goto done;
        }
        ret = rvt_quant_params(act_range[0], act_range[1], &q->xq, err);
        if (ret < 0)
            goto done;
        q->is_static = true;
        q->range[0] = act_range[0];
        q->range[1] = act_range[1];
    }
    *out = q;
    q = NULL;
done:
    rvt_qdense_free(q);
    return ret;
}

void rvt_qdense_free(void *p)
{
    struct rvt_qdense *q = p;
    if (!q)
        return;
    rvt_qweights_release(&q->w);
    free(q);
}

size_t rvt_qdense_scratch(int n_in, size_t n_cols)
{
    /* packed activations (64-byte aligned), then scale and zero per column */
    return 64 + rvt_qx_bytes(n_cols, n_in) + n_cols * (sizeof(float) + sizeof(int32_t));
}

/*
 * Quantizes X (rows: X^T, n_cols rows of n_in) into the scratch and fills g's
 * activation fields: one map per column, or the static map for all (per_pos: repeated
 * for every column, as gemm_t wants a map per position).  RVT_EINVAL when a column
 * held NaN or Inf (its outputs become NaN).  With a team each thread packs its blocks
 * of 16 positions (a position's bytes and map do not depend on the others); the caller
 * syncs before the GEMM reads them.
 */
static int quantize(const struct rvt_qdense *q, const struct rvt_qgemm_kernels *kr,
                    const float *x, size_t ldx, size_t n_cols, bool rows, bool per_pos,
                    const float *ks, void *scratch, struct rvt_qgemm_args *g,
                    const struct rvt_nn_par *par)
{
    uint8_t *xp = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *scale = (float *)(xp + rvt_qx_bytes(n_cols, q->w.k));
    int32_t *zero = (int32_t *)(scale + n_cols);
    int ret = 0;
    size_t j, p0, p1;

    assert(!ks || rows); /* an input scale only for channels-last inputs */
    g->w = &q->w;
    g->xp = xp;
    g->n_pos = n_cols;
    rvt_nn_par_range(par, n_cols, RVT_QGEMM_PB, &p0, &p1);
    if (p1 == n_cols && p1 > p0) /* the thread of the last block */
        rvt_qx_clear_tail(xp, n_cols, q->w.k);
    if (q->is_static) {
        /* one map for the layer: the calibrated range */
        if (p1 > p0 && rows)
            kr->pack_rows(x + p0 * ldx, q->w.k, p1 - p0, ldx, q->xq.inv_scale, q->xq.zero, xp, p0,
                          q->w.k_pad, ks);
        else if (p1 > p0)
            kr->pack_planes(x + p0, q->w.k, p1 - p0, ldx, q->xq.inv_scale, q->xq.zero, xp, p0,
                            q->w.k_pad);
        if (!per_pos) {
            g->group = n_cols;
            g->out_gs = 0;
            g->x_scale = &q->xq.scale;
            g->x_zero = &q->xq.zero;
            return 0;
        }
        for (j = p0; j < p1; j++) {
            scale[j] = q->xq.scale;
            zero[j] = q->xq.zero;
        }
    } else if (p1 > p0) {
        /* one map per column (pixel): NaN/Inf columns get scale NaN -> NaN outputs */
        if (rows)
            kr->quant_rows(x + p0 * ldx, q->w.k, p1 - p0, ldx, scale + p0, zero + p0, xp, p0,
                           q->w.k_pad, ks);
        else
            kr->quant_cols(x + p0, q->w.k, p1 - p0, ldx, scale + p0, zero + p0, xp, p0,
                           q->w.k_pad);
        for (j = p0; j < p1; j++)
            if (isnan(scale[j]))
                ret = RVT_EINVAL;
    }
    g->group = 1;
    g->out_gs = 1;
    g->x_scale = scale;
    g->x_zero = zero;
    return ret;
}

/* Y = W X into channels-first rows, from X (rows false) or X^T (rows true). */
static int forward(const struct rvt_qdense *q, const float *x, size_t ldx, bool rows, float *y,
                   size_t ldy, size_t n_cols, void *scratch,
                   void (*post)(void *ctx, int o, size_t p, float *y, size_t n), void *post_ctx,
                   bool split_rows, const struct rvt_nn_par *par)
{
    const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels();
    struct rvt_qgemm_args g = {.out = y, .out_cs = ldy, .post = post, .post_ctx = post_ctx,
                               .split_rows = split_rows};
    int ret = quantize(q, kr, x, ldx, n_cols, rows, false, NULL, scratch, &g, par);

    rvt_nn_par_sync(par);
    kr->gemm(&g, par ? par->ith : 0, par ? par->nth : 1);
    return ret;
}

int rvt_qdense_forward(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                       size_t ldy, size_t n_cols, void *scratch,
                       void (*post)(void *ctx, int o, size_t p, float *y, size_t n),
                       void *post_ctx)
{
    return forward(q, x, ldx, false, y, ldy, n_cols, scratch, post, post_ctx, false, NULL);
}

int rvt_qdense_forward_xt(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                          size_t ldy, size_t n_cols, void *scratch,
                          void (*post)(void *ctx, int o, size_t p, float *y, size_t n),
                          void *post_ctx)
{
    return forward(q, x, ldx, true, y, ldy, n_cols, scratch, post, post_ctx, false, NULL);
}

int rvt_qdense_forward_par(const struct rvt_qdense *q, const float *x, size_t ldx, bool xt,
                           float *y, size_t ldy, size_t n_cols, void *scratch,
                           void (*post)(void *ctx, int o, size_t p, float *y, size_t n),
                           void *post_ctx, bool split_rows, const struct rvt_nn_par *par)
{
    return forward(q, x, ldx, xt, y, ldy, n_cols, scratch, post, post_ctx, split_rows, par);
}

int rvt_qdense_forward_yt_par(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                              size_t ldy, size_t n_cols, void *scratch,
                              const struct rvt_nn_par *par)
{
    return rvt_qdense_forward_yt_act_par(q, x, ldx, false, NULL, y, ldy, n_cols, NULL,
                                         RVT_QACT_NONE, 0, 0, NULL, 0, scratch, par);
}

int rvt_qdense_forward_yt_act_par(const struct rvt_qdense *q, const float *x, size_t ldx,
                                  bool xt, const float *ks, float *y, size_t ldy, size_t n_cols,
                                  const float *bias,
                                  enum rvt_qact act, size_t row_w, size_t row_skip,
                                  const float *res, size_t ld_res,
                                  void *scratch, const struct rvt_nn_par *par)
{
    const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels();
    struct rvt_qgemm_args g = {.out = y, .bias = bias, .act = act, .row_w = row_w,
                               .row_skip = row_skip, .res = res, .ld_res = ld_res};
    int ret = quantize(q, kr, x, ldx, n_cols, xt, true, ks, scratch, &g, par);

    g.out_cs = 1;
    g.out_gs = ldy;
    /* the GEMM reads only the blocks this thread quantized (qgemm.h), or else all */
    if (!rvt_qgemm_t_blocks(n_cols, par ? par->nth : 1))
        rvt_nn_par_sync(par);
    kr->gemm_t(&g, par ? par->ith : 0, par ? par->nth : 1);
    return ret;
}

int rvt_qdense_forward_yt(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                          size_t ldy, size_t n_cols, void *scratch)
{
    return rvt_qdense_forward_yt_par(q, x, ldx, y, ldy, n_cols, scratch, NULL);
}

int rvt_qdense_forward_vec(const struct rvt_qdense *q, const float *x, float *y,
                           const float *bias, void *scratch)
{
    const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels();
    struct rvt_qgemm_args g = {.out = y, .bias = bias, .act = RVT_QACT_NONE};
    /* one row of n_in: the row kernels, vectorised along the vector */
    int ret = quantize(q, kr, x, (size_t)q->w.k, 1, true, true, NULL, scratch, &g, NULL);

    g.out_cs = 1;
    g.out_gs = (size_t)q->w.n;
    kr->gemm_t(&g, 0, 1);
    return ret;
}
