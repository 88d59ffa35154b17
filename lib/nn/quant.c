/* quant.c: weight and activation quantization (the formulas are in quant.h). */
#include "core/common.h"

#include <math.h>

#include "nn/quant.h"
#include "nn/qgemm_internal.h"

int rvt_quant_weights(const float *w, int n, int k, int bits, int8_t *q, float *scale,
                      int *n_zero, struct rvt_error *err)
{
    int ret = 0, zeros = 0, j, kk;
    float top;

    if (bits < 2 || bits > 8)
        return rvt_error_set(err, RVT_EINVAL, "weights of %d bits (2..8 only)", bits);
    top = (float)((1 << (bits - 1)) - 1);

    for (j = 0; j < n; j++) {
        const float *row = w + (size_t)j * k;
        int8_t *qr = q + (size_t)j * k;
        float m = 0.0f, s;

        for (kk = 0; kk < k; kk++) {
            if (!isfinite(row[kk])) {
                ret = rvt_error_set(err, RVT_EINVAL, "channel %d of %d has a %s weight at column %d",
                                    j, n, isnan(row[kk]) ? "nan" : "infinite", kk);
                goto done;
            }
            if (fabsf(row[kk]) > m)
                m = fabsf(row[kk]);
        }
        if (m == 0.0f) {
            /* documented: scale 1, zero weights */
            scale[j] = 1.0f;
            for (kk = 0; kk < k; kk++)
                qr[kk] = 0;
            zeros++;
            continue;
        }
        s = m / top;
        if (!(s > 0.0f)) /* m below top * FLT_TRUE_MIN: keep the division finite */
            s = m;
        scale[j] = s;
        for (kk = 0; kk < k; kk++) {
            float v = nearbyintf(row[kk] / s);
            qr[kk] = (int8_t)(v > top ? top : v < -top ? -top : v);
        }
    }
done:
    if (n_zero)
        *n_zero = zeros;
    return ret;
}

int rvt_quant_params(float lo, float hi, struct rvt_qparams *p, struct rvt_error *err)
{
    int ret = 0;

    if (!rvti_qgemm_map(lo, hi, &p->scale, &p->inv_scale, &p->zero))
        ret = rvt_error_set(err, RVT_EINVAL, "activation range [%g, %g] is not finite", (double)lo,
                            (double)hi);
    return ret;
}

void rvt_quant_range(const struct rvt_qgemm_kernels *kr, const float *x, int k, size_t n,
                     size_t ldx, float *lo, float *hi)
{
    float l = INFINITY, h = -INFINITY, pl, ph;
    int c;

    if (!kr)
        kr = rvt_qgemm_kernels();
    if (ldx == n) {
        if (n && k)
            kr->minmax(x, n * k, &l, &h);
    } else {
        for (c = 0; c < k && n; c++) {
            kr->minmax(x + (size_t)c * ldx, n, &pl, &ph);
            if (isnan(pl) || isnan(l)) {
                l = h = NAN;
                break;
            }
            l = pl < l ? pl : l;
            h = ph > h ? ph : h;
        }
    }
    *lo = l;
    *hi = h;
}

int rvt_quant_planes(const struct rvt_qgemm_kernels *kr, const float *x, int k, size_t n,
                     size_t ldx, uint8_t *xp, size_t p0, int k_pad, struct rvt_qparams *p,
                     struct rvt_error *err)
{
    float lo, hi;
    int ret;

    if (!kr)
        kr = rvt_qgemm_kernels();
    rvt_quant_range(kr, x, k, n, ldx, &lo, &hi);
    if (!n || !k)
        lo = hi = 0.0f;
    ret = rvt_quant_params(lo, hi, p, err);
    if (ret == 0)
        kr->pack_planes(x, k, n, ldx, p->inv_scale, p->zero, xp, p0, k_pad);
    return ret;
}
