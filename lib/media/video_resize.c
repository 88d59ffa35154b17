/* video_resize.c: PIL's antialiased bilinear resize of RGB24, bit for bit.
 *
 * ref: Pillow 9.4 src/libImaging/Resample.c.  The coefficient arithmetic below
 * follows precompute_coeffs() operation by operation (same double expressions
 * in the same order, float box edges), because a weight that differs in the
 * last bit can round to a different 22-bit fixed-point value.  torchvision 0.14
 * Resize on a PIL image calls Image.resize(size, BILINEAR) with no box and no
 * reducing_gap, which lands here. */
#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "media/video.h"
#include "media/video_kernels.h"

#define PRECISION_BITS RVTI_RESIZE_BITS /* Pillow: 8-bit result, 2 bits of headroom */

static double triangle(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static void axis_release(struct rvt_resize_axis *a)
{
    free(a->bounds);
    free(a->coeffs);
    memset(a, 0, sizeof(*a));
}

/* The box is the whole input: in0 = 0, in1 = n_in (as floats, like Pillow). */
static int axis_init(struct rvt_resize_axis *a, int n_in, int n_out, struct rvt_error *err)
{
    const float in0 = 0.0f, in1 = (float)n_in;
    double support, scale, filterscale, *w = NULL;
    int xx, ret = 0;

    memset(a, 0, sizeof(*a));
    filterscale = scale = (double)(in1 - in0) / n_out;
    if (filterscale < 1.0)
        filterscale = 1.0;
    support = 1.0 * filterscale;
    a->n_in = n_in;
    a->n_out = n_out;
    a->ksize = (int)ceil(support) * 2 + 1;
    a->bounds = malloc(sizeof(int) * 2 * (size_t)n_out);
    a->coeffs = malloc(sizeof(int32_t) * (size_t)a->ksize * (size_t)n_out);
    w = malloc(sizeof(double) * (size_t)a->ksize);
    if (!a->bounds || !a->coeffs || !w) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (xx = 0; xx < n_out; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax, x;
        int32_t *k = a->coeffs + (size_t)xx * a->ksize;
        if (xmin < 0)
            xmin = 0;
        xmax = (int)(center + support + 0.5);
        if (xmax > n_in)
            xmax = n_in;
        xmax -= xmin;
        for (x = 0; x < xmax; x++) {
            w[x] = triangle((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                w[x] /= ww;
        /* normalize_coeffs_8bpc: round half away from zero (weights are >= 0) */
        for (x = 0; x < a->ksize; x++)
            k[x] = x < xmax ? (int32_t)(0.5 + w[x] * (1 << PRECISION_BITS)) : 0;
        a->bounds[2 * xx] = xmin;
        a->bounds[2 * xx + 1] = xmax;
    }
done:
    free(w);
    if (ret < 0)
        axis_release(a);
    return ret;
}

int rvt_resize_plan_init(struct rvt_resize_plan *p, int in_w, int in_h, int out_w, int out_h,
                         struct rvt_error *err)
{
    int ret;

    memset(p, 0, sizeof(*p));
    if (in_w < 1 || in_h < 1 || out_w < 1 || out_h < 1 || in_w > (1 << 20) || in_h > (1 << 20) ||
        out_w > RVT_VIDEO_MAX_SIZE || out_h > RVT_VIDEO_MAX_SIZE)
        return rvt_error_set(err, RVT_EINVAL, "cannot resize %dx%d to %dx%d", in_w, in_h, out_w,
                             out_h);
    p->in_w = in_w;
    p->in_h = in_h;
    p->out_w = out_w;
    p->out_h = out_h;
    /* ImagingResampleInner with box (0, 0, in_w, in_h) */
    p->need_h = out_w != in_w;
    p->need_v = out_h != in_h;
    if ((ret = axis_init(&p->v, in_h, out_h, err)) < 0 ||
        (ret = axis_init(&p->h, in_w, out_w, err)) < 0) {
        rvt_resize_plan_release(p);
        return ret;
    }
    /* SIMD layout of the horizontal taps (see video.h) */
    p->n_pairs = (p->h.ksize + 1) / 2;
    p->pairs = calloc((size_t)out_w * p->n_pairs * 8, sizeof(int32_t));
    p->pair_safe = calloc((size_t)out_w, 1);
    if (!p->pairs || !p->pair_safe) {
        rvt_resize_plan_release(p);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    {
        int xx, t;
        for (xx = 0; xx < out_w; xx++) {
            const int32_t *k = p->h.coeffs + (size_t)xx * p->h.ksize;
            int32_t *q = p->pairs + (size_t)xx * p->n_pairs * 8;
            int xmin = p->h.bounds[2 * xx], n = p->h.bounds[2 * xx + 1];
            for (t = 0; t < n; t++)
                q[(t / 2) * 8 + (t % 2) * 3] = q[(t / 2) * 8 + (t % 2) * 3 + 1] =
                    q[(t / 2) * 8 + (t % 2) * 3 + 2] = k[t];
            /* the last 8-byte load starts at pixel xmin + 2 (n_pairs - 1) */
            p->pair_safe[xx] = (size_t)(xmin + 2 * (p->n_pairs - 1)) * 3 + 8 <= (size_t)in_w * 3;
        }
    }
    p->y_first = p->v.bounds[0];
    p->y_last = p->v.bounds[2 * out_h - 2] + p->v.bounds[2 * out_h - 1];
    p->tmp_bytes = p->need_h ? (size_t)(p->y_last - p->y_first) * out_w * 3 : 0;
    return 0;
}

void rvt_resize_plan_release(struct rvt_resize_plan *p)
{
    axis_release(&p->h);
    axis_release(&p->v);
    free(p->pairs);
    free(p->pair_safe);
    memset(p, 0, sizeof(*p));
}

static inline uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void rvti_resize_h_pixels(const struct rvt_resize_axis *a, const uint8_t *in, int x0, int x1,
                          uint8_t *out)
{
    int xx, x;
    for (xx = x0; xx < x1; xx++) {
        const int32_t *k = a->coeffs + (size_t)xx * a->ksize;
        const uint8_t *s = in + 3 * (size_t)a->bounds[2 * xx];
        int n = a->bounds[2 * xx + 1];
        int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
        for (x = 0; x < n; x++) {
            s0 += s[3 * x] * k[x];
            s1 += s[3 * x + 1] * k[x];
            s2 += s[3 * x + 2] * k[x];
        }
        out[3 * xx] = clip8(s0);
        out[3 * xx + 1] = clip8(s1);
        out[3 * xx + 2] = clip8(s2);
    }
}

void rvti_resize_v_bytes(const struct rvt_resize_plan *p, const uint8_t *vin, size_t vin_stride,
                         int vin_first, int yy, int i0, int i1, uint8_t *out)
{
    const int32_t *k = p->v.coeffs + (size_t)yy * p->v.ksize;
    int ymin = p->v.bounds[2 * yy] - vin_first, n = p->v.bounds[2 * yy + 1], i, y;
    for (i = i0; i < i1; i++) {
        int32_t s = 1 << (PRECISION_BITS - 1);
        for (y = 0; y < n; y++)
            s += vin[(size_t)(ymin + y) * vin_stride + i] * k[y];
        out[i] = clip8(s);
    }
}

void rvt_resize_rgb24_ref(const struct rvt_resize_plan *p, const uint8_t *src, size_t src_stride,
                          uint8_t *dst, uint8_t *tmp)
{
    const uint8_t *vin = src;     /* input of the vertical pass */
    size_t vin_stride = src_stride;
    int vin_first = 0;            /* input row index of vin's first row */
    size_t row = (size_t)p->out_w * 3;
    int y, yy;

    if (p->need_h) {
        for (y = p->y_first; y < p->y_last; y++)
            rvti_resize_h_pixels(&p->h, src + (size_t)y * src_stride, 0, p->out_w,
                                 tmp + (size_t)(y - p->y_first) * row);
        vin = tmp;
        vin_stride = row;
        vin_first = p->y_first;
    }
    if (!p->need_v) {
        for (y = 0; y < p->out_h; y++)
            memcpy(dst + (size_t)y * row, vin + (size_t)(y + p->y_first - vin_first) * vin_stride,
                   row);
        return;
    }
    for (yy = 0; yy < p->out_h; yy++)
        rvti_resize_v_bytes(p, vin, vin_stride, vin_first, yy, 0, (int)row, dst + yy * row);
}

static const struct rvt_resize_kernels kernels_ref = {RVT_ISA_REF, rvt_resize_rgb24_ref};

const struct rvt_resize_kernels *rvt_resize_kernels_for(enum rvt_isa isa)
{
    if (isa > rvt_cpu_isa())
        return NULL;
    switch (isa) {
    case RVT_ISA_REF: return &kernels_ref;
    case RVT_ISA_AVX2: /* no AVX-512 twin: its level runs the AVX2 kernel */
    case RVT_ISA_AVX512: return &rvti_resize_kernels_avx2;
    }
    return NULL;
}

const struct rvt_resize_kernels *rvt_resize_kernels(void)
{
    const struct rvt_resize_kernels *k = rvt_resize_kernels_for(rvt_cpu_isa());
    return k ? k : &kernels_ref;
}
