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

int rvt_qdense_forward(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                       size_t ldy, size_t n_cols, void *scratch,
                       void (*post)(void *ctx, int o, size_t p, float *y, size_t n),
                       void *post_ctx)
{
    const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_get();
    uint8_t *xp = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    struct rvt_qgemm_args g = {.w = &q->w, .xp = xp, .n_pos = n_cols, .out = y,
                               .out_cs = ldy, .post = post, .post_ctx = post_ctx};
    int ret = 0;

    rvt_qx_clear_tail(xp, n_cols, q->w.k);
    if (q->is_static) {
        /* one map for the layer: the calibrated range */
        kr->pack_planes(x, q->w.k, n_cols, ldx, q->xq.inv_scale, q->xq.zero, xp, 0, q->w.k_pad);
        g.group = n_cols;
        g.out_gs = 0;
        g.x_scale = &q->xq.scale;
        g.x_zero = &q->xq.zero;
    } else {
        /* one map per column (pixel): NaN/Inf columns get scale NaN -> NaN outputs */
        float *scale = (float *)(xp + rvt_qx_bytes(n_cols, q->w.k));
        int32_t *zero = (int32_t *)(scale + n_cols);
        if (rvt_quant_cols(kr, x, q->w.k, n_cols, ldx, scale, zero, xp, 0, q->w.k_pad))
            ret = RVT_EINVAL;
        g.group = 1;
        g.out_gs = 1;
        g.x_scale = scale;
        g.x_zero = zero;
    }
    kr->gemm(&g, 0, 1);
    return ret;
}
