#include "core/common.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/ops_internal.h"
#include "nn/prof.h"

const char *rvt_nn_act_name(enum rvt_nn_act act)
{
    switch (act) {
    case RVT_NN_ACT_NONE: return "none";
    case RVT_NN_ACT_RELU: return "relu";
    case RVT_NN_ACT_SILU: return "silu";
    case RVT_NN_ACT_SIGMOID: return "sigmoid";
    case RVT_NN_ACT_SILU_Q: return "silu-q";
    }
    return "?";
}

/* ref: torch 1.13 aten/src/ATen/native/cpu/Activation.cpp: silu = x / (1 + exp(-x)),
 * sigmoid = 1 / (1 + exp(-x)). */
float rvt_nn_act1(float x, enum rvt_nn_act act)
{
    switch (act) {
    case RVT_NN_ACT_NONE: return x;
    case RVT_NN_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case RVT_NN_ACT_SILU:
    case RVT_NN_ACT_SILU_Q: return x / (1.0f + expf(-x));
    case RVT_NN_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    }
    return x;
}

void rvt_nn_bias_act_ref(float *x, size_t n, float bias, enum rvt_nn_act act, double *sum)
{
    double s = 0.0;
    size_t i;

    for (i = 0; i < n; i++) {
        float v = rvt_nn_act1(x[i] + bias, act);
        x[i] = v;
        s += v;
    }
    if (sum)
        *sum = s;
}

void rvt_nn_scale_ref(float *x, size_t n, float s)
{
    size_t i;
    for (i = 0; i < n; i++)
        x[i] *= s;
}

void rvt_nn_add_ref(float *y, const float *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        y[i] += x[i];
}

/*
 * Direct depthwise convolution, one output row at a time: taps outer, columns
 * inner, each tap restricted to the columns whose input lies inside the image (so
 * no padded copy is needed; scratch is unused).
 */
double rvt_nn_dwconv_ref(const float *x, int h, int w, const float *wt, int k, int stride,
                         int pad, float bias, enum rvt_nn_act act, float *y, int oh, int ow,
                         float *scratch)
{
    double sum = 0.0;
    int oy, ky, kx, ox;

    (void)scratch;
    for (oy = 0; oy < oh; oy++) {
        float *yr = y + (size_t)oy * ow;
        for (ox = 0; ox < ow; ox++)
            yr[ox] = 0.0f;
        for (ky = 0; ky < k; ky++) {
            int iy = oy * stride + ky - pad;
            const float *xr;
            if (iy < 0 || iy >= h)
                continue;
            xr = x + (size_t)iy * w;
            for (kx = 0; kx < k; kx++) {
                float wv = wt[ky * k + kx];
                int lo = 0, hi, last = w - 1 + pad - kx;
                if (kx < pad)
                    lo = (pad - kx + stride - 1) / stride;
                hi = last < 0 ? 0 : last / stride + 1;
                if (hi > ow)
                    hi = ow;
                for (ox = lo; ox < hi; ox++)
                    yr[ox] += wv * xr[ox * stride + kx - pad];
            }
        }
        double row;
        rvt_nn_bias_act_ref(yr, (size_t)ow, bias, act, &row);
        sum += row;
    }
    return sum;
}

void rvt_nn_im2col(const float *x, int c, int h, int w, int k, int stride, int pad, float *col,
                   int oh, int ow)
{
    int ci, ky, kx, oy, ox;
    size_t n = (size_t)oh * ow;

    for (ci = 0; ci < c; ci++) {
        const float *xp = x + (size_t)ci * h * w;
        for (ky = 0; ky < k; ky++) {
            for (kx = 0; kx < k; kx++) {
                float *row = col + ((size_t)(ci * k + ky) * k + kx) * n;
                for (oy = 0; oy < oh; oy++) {
                    int iy = oy * stride + ky - pad;
                    float *r = row + (size_t)oy * ow;
                    if (iy < 0 || iy >= h) {
                        memset(r, 0, (size_t)ow * sizeof(*r));
                        continue;
                    }
                    for (ox = 0; ox < ow; ox++) {
                        int ix = ox * stride + kx - pad;
                        r[ox] = (ix >= 0 && ix < w) ? xp[(size_t)iy * w + ix] : 0.0f;
                    }
                }
            }
        }
    }
}

void rvt_nn_maxpool2(const float *x, int c, int h, int w, float *y)
{
    int ci, oy, ox, oh = h / 2, ow = w / 2;

    for (ci = 0; ci < c; ci++) {
        const float *xp = x + (size_t)ci * h * w;
        float *yp = y + (size_t)ci * oh * ow;
        for (oy = 0; oy < oh; oy++) {
            const float *r0 = xp + (size_t)(2 * oy) * w, *r1 = r0 + w;
            for (ox = 0; ox < ow; ox++) {
                float a = RVT_MAX(r0[2 * ox], r0[2 * ox + 1]);
                float b = RVT_MAX(r1[2 * ox], r1[2 * ox + 1]);
                yp[(size_t)oy * ow + ox] = RVT_MAX(a, b);
            }
        }
    }
}

void rvti_nn_plane_conv_pool_with(rvt_nn_dwconv_fn dwconv, rvt_nn_maxpool2_fn maxpool2,
                                  const float *x, int h, int w, const float *wt, int k, int stride,
                                  int pad, const float *bias, enum rvt_nn_act act, int c0, int c1,
                                  float *y, float *scratch)
{
    int oh = rvt_nn_out_size(h, k, stride, pad), ow = rvt_nn_out_size(w, k, stride, pad), c;
    size_t n = (size_t)oh * ow, pn = (size_t)(oh / 2) * (ow / 2);
    float *plane = scratch, *xp = scratch + (n + 15) / 16 * 16;

    for (c = c0; c < c1; c++) {
        dwconv(x, h, w, wt + (size_t)c * k * k, k, stride, pad, bias ? bias[c] : 0.0f, act,
               plane, oh, ow, xp);
        maxpool2(plane, 1, oh, ow, y + (size_t)c * pn);
    }
}

void rvt_nn_plane_conv_pool_ref(const float *x, int h, int w, const float *wt, int k, int stride,
                                int pad, const float *bias, enum rvt_nn_act act, int c0, int c1,
                                float *y, float *scratch)
{
    rvti_nn_plane_conv_pool_with(rvt_nn_dwconv_ref, rvt_nn_maxpool2, x, h, w, wt, k, stride, pad,
                                 bias, act, c0, c1, y, scratch);
}

void rvt_nn_plane_mean(const float *x, int c, size_t n, float *mean)
{
    int ci;
    size_t i;

    for (ci = 0; ci < c; ci++) {
        /* four partial sums (i % 4), added in a fixed order: four chains of double adds
         * instead of one (the audio branch's 32 planes of 4800 values) */
        const float *p = x + (size_t)ci * n;
        double s[4] = {0.0, 0.0, 0.0, 0.0};
        for (i = 0; i + 4 <= n; i += 4) {
            s[0] += p[i];
            s[1] += p[i + 1];
            s[2] += p[i + 2];
            s[3] += p[i + 3];
        }
        for (; i < n; i++)
            s[i % 4] += p[i];
        mean[ci] = (float)(((s[0] + s[1]) + (s[2] + s[3])) / (double)n);
    }
}

void rvt_nn_plane_max(const float *x, int c, size_t n, float *max)
{
    int ci;
    size_t i;

    for (ci = 0; ci < c; ci++) {
        /* eight running maxima (independent compares; the max is the max) */
        const float *p = x + (size_t)ci * n;
        float m[8];
        bool nan = false;
        int j;
        for (j = 0; j < 8; j++)
            m[j] = -FLT_MAX;
        for (i = 0; i + 8 <= n; i += 8)
            for (j = 0; j < 8; j++) {
                m[j] = p[i + j] > m[j] ? p[i + j] : m[j];
                nan |= p[i + j] != p[i + j];
            }
        for (; i < n; i++) {
            m[0] = p[i] > m[0] ? p[i] : m[0];
            nan |= p[i] != p[i];
        }
        for (j = 1; j < 8; j++)
            m[0] = m[j] > m[0] ? m[j] : m[0];
        max[ci] = nan ? NAN : m[0]; /* torch propagates NaN */
    }
}

void rvt_nn_pad_act_cl_ref(const float *x, int h, int w, int c, int c0, int c1, int pad,
                           const float *bias, enum rvt_nn_act act, float *xp)
{
    int wp = w + 2 * pad, hp = h + 2 * pad, r, q, ch;

    for (r = 0; r < hp; r++)
        for (q = 0; q < wp; q++) {
            float *d = xp + ((size_t)r * wp + q) * c;
            int iy = r - pad, ix = q - pad;
            bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
            const float *sx = in ? x + ((size_t)iy * w + ix) * c : NULL;
            for (ch = c0; ch < c1; ch++)
                d[ch] = in ? rvt_nn_act1(sx[ch] + bias[ch], act) : 0.0f;
        }
}

void rvt_nn_dwconv_cl_ref(const float *xp, int hp, int wp, int c, int c0, int c1,
                          const float *wt, int k, int stride, const float *bias,
                          enum rvt_nn_act act, float *y, int oh, int ow, float *row_sums)
{
    int oy, ox, ky, kx, ch;

    (void)hp;
    for (oy = 0; oy < oh; oy++) {
        float *rs = row_sums + (size_t)oy * c;
        for (ch = c0; ch < c1; ch++)
            rs[ch] = 0.0f;
        for (ox = 0; ox < ow; ox++) {
            float *d = y + ((size_t)oy * ow + ox) * c;
            for (ch = c0; ch < c1; ch++) {
                float acc = 0.0f;
                for (ky = 0; ky < k; ky++)
                    for (kx = 0; kx < k; kx++)
                        acc += wt[(size_t)(ky * k + kx) * c + ch] *
                               xp[((size_t)(oy * stride + ky) * wp + ox * stride + kx) * c + ch];
                d[ch] = rvt_nn_act1(acc + bias[ch], act);
                rs[ch] += d[ch];
            }
        }
    }
}

void rvt_nn_sum_rows_ref(const float *rows, int n_rows, int c, double *sums)
{
    int r, ch;

    for (ch = 0; ch < c; ch++)
        sums[ch] = 0.0;
    for (r = 0; r < n_rows; r++)
        for (ch = 0; ch < c; ch++)
            sums[ch] += (double)rows[(size_t)r * c + ch];
}

void rvt_nn_scale_cl_ref(float *x, size_t n, int c, const float *g)
{
    size_t p;
    int ch;

    for (p = 0; p < n; p++)
        for (ch = 0; ch < c; ch++)
            x[p * c + ch] *= g[ch];
}

static const struct rvt_nn_kernels kernels_ref = {
    RVT_ISA_REF, rvt_nn_dwconv_ref, rvt_nn_bias_act_ref, rvt_nn_scale_ref, rvt_nn_add_ref,
    NULL, NULL, NULL, NULL, rvt_nn_maxpool2, rvt_nn_plane_conv_pool_ref, rvt_nn_plane_mean,
    rvt_nn_plane_max,
};

const struct rvt_nn_kernels *rvt_nn_kernels_for(enum rvt_isa isa)
{
    if (isa > rvt_cpu_isa())
        return NULL;
#if defined(__x86_64__) || defined(__i386__)
    if (isa == RVT_ISA_AVX512)
        return &rvti_nn_kernels_avx512;
    if (isa == RVT_ISA_AVX2)
        return &rvti_nn_kernels_avx2;
#endif
    return isa == RVT_ISA_REF ? &kernels_ref : NULL;
}

const struct rvt_nn_kernels *rvt_nn_kernels(void)
{
    const struct rvt_nn_kernels *k = rvt_nn_kernels_for(rvt_cpu_isa());
    k = k ? k : &kernels_ref;
    return rvt_nn_prof_on() ? rvti_prof_nn() : k;
}
