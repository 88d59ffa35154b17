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
    return rvt_qx_bytes(n_cols, n_in) + 64;
}

int rvt_qdense_forward(const struct rvt_qdense *q, const float *x, size_t ldx, float *y,
                       size_t ldy, size_t n_cols, void *scratch)
{
    const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_get();
    uint8_t *xp = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    struct rvt_qparams xq = q->xq;
    int ret = 0, o;
    size_t j;

    if (!q->is_static) {
        float lo, hi;
        rvt_quant_range(kr, x, q->w.k, n_cols, ldx, &lo, &hi);
        ret = rvt_quant_params(lo, hi, &xq, NULL);
        if (ret < 0) {
            /* NaN/Inf in: NaN out, as the fp32 product would give */
            for (o = 0; o < q->w.n; o++)
                for (j = 0; j < n_cols; j++)
                    y[(size_t)o * ldy + j] = NAN;
            goto done;
        }
    }
    rvt_qx_clear_tail(xp, n_cols, q->w.k);
    kr->pack_planes(x, q->w.k, n_cols, ldx, xq.inv_scale, xq.zero, xp, 0, q->w.k_pad);
    {
        struct rvt_qgemm_args g = {.w = &q->w, .xp = xp, .n_pos = n_cols, .out = y,
                                   .group = n_cols, .out_cs = ldy, .out_gs = 0,
                                   .x_scale = &xq.scale, .x_zero = &xq.zero};
        kr->gemm(&g, 0, 1);
    }
done:
    return ret;
}
