/*
 * test_sgemm: the float32 GEMM of the channels-last path (nn/sgemm.h).  Every level
 * against the _ref kernel on random shapes and layouts (bit for bit but for SiLU and
 * sigmoid), the ref kernel against double precision, the thread split, the padded
 * store, packing in ranges; and a timing line of each SIMD level on an MBConv's shapes.
 */
#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tap.h"
#include "nn/ops.h"
#include "nn/sgemm.h"

static unsigned g_seed = 12345;

static float frand(void)
{
    g_seed = g_seed * 1103515245u + 12345u;
    return (float)((g_seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *falloc(size_t n)
{
    float *p = aligned_alloc(64, (n + 16) / 16 * 16 * sizeof(float) + 64);
    assert(p);
    return p;
}

/* The outputs of one call: every Y(p, o), and whether the border floats (the skipped
 * positions of padded rows, and channels n..ldy-1) kept their sentinel. */
struct run {
    float *y;
    size_t n_y;
};

static void run_gemm(const struct rvt_sgemm_kernels *kr, const struct rvt_sgemm_args *g0, int nth,
                     struct run *r)
{
    struct rvt_sgemm_args g = *g0;
    int t;

    for (size_t i = 0; i < r->n_y; i++)
        r->y[i] = -12345.0f;
    g.y = r->y;
    for (t = 0; t < nth; t++)
        kr->gemm(&g, t, nth);
}

/* y positions of Y(p, o) in the padded layout */
static size_t yat(const struct rvt_sgemm_args *g, size_t p, int o)
{
    return (p + (g->row_w ? p / g->row_w * g->row_skip : 0) +
            (g->img_pos ? p / g->img_pos * g->img_skip : 0)) *
               g->ldy +
           (size_t)o;
}

static void test_shapes(void)
{
    /* 3 and 30: partial vectors (masked), 24 and 40: a block's last 8 channels past n */
    static const int ns[] = {3, 16, 24, 30, 40, 96, 112, 320};
    static const int ks[] = {1, 3, 16, 27, 97, 1152};
    /* a last tile of every size 1 .. 6 (RVTI_SGEMM_MR), one-position calls */
    static const size_t ps[] = {1, 2, 5, 6, 7, 9, 16, 49, 197};
    const struct rvt_sgemm_kernels *ref = rvt_sgemm_kernels_for(RVT_ISA_REF);
    int ni, ki, pi, lvl, bad_bits = 0, bad_ulp = 0, bad_border = 0, bad_split = 0, bad_acc = 0;
    int cases = 0;
    double worst_acc = 0;

    for (ni = 0; ni < (int)RVT_ARRAY_SIZE(ns); ni++)
        for (ki = 0; ki < (int)RVT_ARRAY_SIZE(ks); ki++)
            for (pi = 0; pi < (int)RVT_ARRAY_SIZE(ps); pi++) {
                int n = ns[ni], k = ks[ki], variant = cases++ % 4;
                size_t np = ps[pi], i, p;
                if ((size_t)n * k * np > 1000000) /* the ref kernel is slow (ASan: 30x) */
                    continue;
                bool planar = variant & 1, padded = variant & 2;
                float *w = falloc((size_t)n * k), *wt = falloc(rvt_sgemm_wt_floats(n, k));
                size_t ld_res = (size_t)n + 3;
                float *x = falloc(np * k), *bias = falloc(n), *res = falloc(np * ld_res);
                size_t row_w = padded ? 4 : 0, row_skip = padded ? 2 : 0;
                /* every other padded case: maps of 3 rows stacked, 3 positions apart */
                size_t img_pos = padded && ni % 2 ? 12 : 0, img_skip = img_pos ? 3 : 0;
                size_t ldy = (size_t)n + (padded ? 5 : 0);
                size_t n_rows = np + (row_w ? (np / row_w + 1) * row_skip : 0) +
                                (img_pos ? (np / img_pos + 1) * img_skip : 0);
                bool *inside = calloc(n_rows * ldy, 1);
                struct run r0 = {falloc(n_rows * ldy), n_rows * ldy};
                struct run r1 = {falloc(n_rows * ldy), n_rows * ldy};
                struct rvt_sgemm_args g = {
                    .n = n, .k = k, .wt = wt, .x = x, .x_ps = planar ? 1 : (size_t)k,
                    .x_ks = planar ? np : 1, .n_pos = np, .ldy = ldy, .row_w = row_w,
                    .row_skip = row_skip, .img_pos = img_pos, .img_skip = img_skip,
                    .bias = variant != 3 ? bias : NULL,
                    /* every act with every variant: a new act each 4 cases */
                    .act = (enum rvt_nn_act)((cases - 1) / 4 % 4 == 0   ? RVT_NN_ACT_NONE
                                             : (cases - 1) / 4 % 4 == 1 ? RVT_NN_ACT_RELU
                                             : (cases - 1) / 4 % 4 == 2 ? RVT_NN_ACT_SILU
                                                                         : RVT_NN_ACT_SIGMOID),
                    .res = variant == 2 ? res : NULL, .ld_res = ld_res};

                for (i = 0; i < (size_t)n * k; i++)
                    w[i] = frand();
                for (i = 0; i < np * k; i++)
                    x[i] = frand();
                for (i = 0; i < (size_t)n; i++)
                    bias[i] = frand();
                for (i = 0; i < np * ld_res; i++)
                    res[i] = frand();
                rvt_sgemm_pack(w, n, k, wt, 0, n);
                run_gemm(ref, &g, 1, &r0);
                /* the ref kernel against double: a chain of k FMAs errs by at most
                 * gamma_k = k u / (1 - k u) times sum |x w| (Higham, Accuracy and
                 * Stability, 3.1; u = 2^-24), the bias and residual adds by a few u
                 * more: 2 (k + 3) u sum covers it */
                if (g.act == RVT_NN_ACT_NONE)
                    for (p = 0; p < np; p++)
                        for (int o = 0; o < n; o++) {
                            double s = 0, a = 0, v;
                            for (int kk = 0; kk < k; kk++) {
                                double t = (double)x[p * g.x_ps + kk * g.x_ks] * w[(size_t)o * k + kk];
                                s += t;
                                a += fabs(t);
                            }
                            if (g.bias) {
                                s += bias[o];
                                a += fabs(bias[o]);
                            }
                            if (g.res) {
                                s += res[p * ld_res + o];
                                a += fabs(res[p * ld_res + o]);
                            }
                            v = fabs(r0.y[yat(&g, p, o)] - s) / (2.0 * (k + 3) * 0x1p-24 * a + 1e-30);
                            worst_acc = v > worst_acc ? v : worst_acc;
                            bad_acc += v > 1.0;
                        }
                /* borders keep their sentinel */
                for (p = 0; p < np; p++)
                    for (int o = 0; o < n; o++)
                        inside[yat(&g, p, o)] = true;
                for (i = 0; i < n_rows * ldy; i++)
                    if (!inside[i] && r0.y[i] != -12345.0f)
                        bad_border++;
                free(inside);
                /* a split among 3 threads: the same bits */
                run_gemm(ref, &g, 3, &r1);
                bad_split += memcmp(r0.y, r1.y, n_rows * ldy * sizeof(float)) != 0;
                for (lvl = RVT_ISA_AVX2; lvl <= RVT_ISA_AVX512; lvl++) {
                    const struct rvt_sgemm_kernels *kr = rvt_sgemm_kernels_for((enum rvt_isa)lvl);
                    if (!kr)
                        continue;
                    run_gemm(kr, &g, 1 + lvl % 2, &r1);
                    if (g.act != RVT_NN_ACT_SILU && g.act != RVT_NN_ACT_SIGMOID) {
                        bad_bits += memcmp(r0.y, r1.y, n_rows * ldy * sizeof(float)) != 0;
                    } else {
                        /* SiLU, sigmoid: the level's exp (x86/act_avx512.h: within 1.3 ulp
                         * of exp) through a division: 4 ulps of the result, or 4 ulps of
                         * the residual added after it */
                        for (i = 0; i < n_rows * ldy; i++) {
                            float a = r0.y[i], b = r1.y[i];
                            float tol = 4 * 0x1p-23f * (fabsf(a) + (g.res ? 4.0f : 0.0f)) + 1e-30f;
                            bad_ulp += !(fabsf(a - b) <= tol) && !(a == b);
                        }
                    }
                }
                free(w), free(wt), free(x), free(bias), free(res), free(r0.y), free(r1.y);
            }
    OK(bad_acc == 0, "ref against double: %d outputs past 2 (k + 3) u sum|x w| (worst %.3f of it)",
       bad_acc, worst_acc);
    OK(bad_border == 0, "padded rows' borders and channels past n untouched (%d written)",
       bad_border);
    OK(bad_split == 0, "split among 3 threads: the same bits (%d cases differ)", bad_split);
    OK(bad_bits == 0, "every level == ref bit for bit (act none/relu; %d cases differ)", bad_bits);
    OK(bad_ulp == 0, "every level within 4 ulps of ref with SiLU and sigmoid (%d outputs past it)",
       bad_ulp);
}

static void test_pack_ranges(void)
{
    const int n = 80, k = 70;
    float *w = falloc((size_t)n * k);
    float *a = falloc(rvt_sgemm_wt_floats(n, k)), *b = falloc(rvt_sgemm_wt_floats(n, k));
    int i;

    for (i = 0; i < n * k; i++)
        w[i] = frand();
    rvt_sgemm_pack(w, n, k, a, 0, n);
    memset(b, 0xff, rvt_sgemm_wt_floats(n, k) * sizeof(float));
    rvt_sgemm_pack(w, n, k, b, 0, 64); /* in two ranges */
    rvt_sgemm_pack(w, n, k, b, 64, n);
    OK(!memcmp(a, b, rvt_sgemm_wt_floats(n, k) * sizeof(float)),
       "packing in two ranges == packing at once (zero rows included)");
    free(w), free(a), free(b);
}

/* An MBConv expand of EfficientNet-B0 (14 x 14, 80 -> 480, SiLU), and its project. */
static void time_levels(void)
{
    static const int shapes[][3] = {{480, 80, 196}, {80, 480, 196}, {96, 16, 3136}};
    int s, lvl;

    for (s = 0; s < 3; s++) {
        int n = shapes[s][0], k = shapes[s][1];
        size_t np = (size_t)shapes[s][2], i;
        float *w = falloc((size_t)n * k), *wt = falloc(rvt_sgemm_wt_floats(n, k));
        float *x = falloc(np * k), *y = falloc(np * n);
        struct rvt_sgemm_args g = {.n = n, .k = k, .wt = wt, .x = x, .x_ps = (size_t)k,
                                   .x_ks = 1, .n_pos = np, .y = y, .ldy = (size_t)n,
                                   .act = RVT_NN_ACT_SILU};
        for (i = 0; i < (size_t)n * k; i++)
            w[i] = frand();
        for (i = 0; i < np * k; i++)
            x[i] = frand();
        rvt_sgemm_pack(w, n, k, wt, 0, n);
        for (lvl = RVT_ISA_AVX2; lvl <= RVT_ISA_AVX512; lvl++) { /* ref: too slow to time */
            const struct rvt_sgemm_kernels *kr = rvt_sgemm_kernels_for((enum rvt_isa)lvl);
            double t0, t;
            int reps = 20, r;
            if (!kr)
                continue;
            t0 = now_s();
            for (r = 0; r < reps; r++)
                kr->gemm(&g, 0, 1);
            t = (now_s() - t0) / reps;
            printf("# %s: %d x %d x %zu (SiLU): %.3f ms, %.1f GFLOP/s\n", rvt_isa_name(kr->isa),
                   n, k, np, t * 1e3, 2.0 * n * k * np / t * 1e-9);
        }
        free(w), free(wt), free(x), free(y);
    }
}

/*
 * gemm_gather (a convolution's taps read from zero-padded planes) against gemm on the
 * im2col matrix of the same input: the same bits, at every level and split, padded
 * store or not, SiLU included (the same epilogue at a level).
 */
static void test_gather(void)
{
    static const int shapes[][6] = {
        /* c, h, w, k, stride, n */
        {3, 45, 38, 3, 2, 32},   {3, 17, 23, 3, 2, 32}, {2, 9, 14, 3, 1, 24},
        {3, 8, 8, 5, 2, 80},     {1, 5, 7, 3, 1, 16},   {3, 31, 6, 3, 2, 112},
        {2, 11, 13, 3, 2, 20},   {1, 6, 9, 3, 1, 3}, /* partial vectors (masked) */
    };
    int bad = 0, bad_border = 0, cases = 0, lvl;
    size_t si;

    for (si = 0; si < RVT_ARRAY_SIZE(shapes); si++) {
        int c = shapes[si][0], h = shapes[si][1], w = shapes[si][2], k = shapes[si][3];
        int st = shapes[si][4], n = shapes[si][5], pad = k / 2;
        int oh = (h + 2 * pad - k) / st + 1, ow = (w + 2 * pad - k) / st + 1, kk = c * k * k;
        size_t np = (size_t)oh * ow, hp = (size_t)h + 2 * pad, wp = (size_t)w + 2 * pad, i;
        float *x = falloc((size_t)c * h * w), *xp = falloc((size_t)c * hp * wp);
        float *col = falloc((size_t)kk * np), *wgt = falloc((size_t)n * kk);
        float *wt = falloc(rvt_sgemm_wt_floats(n, kk)), *bias = falloc((size_t)n);
        int32_t *off = malloc((size_t)kk * sizeof(*off));
        int ci, ky, kx, variant;

        assert(off);
        for (i = 0; i < (size_t)c * h * w; i++)
            x[i] = frand();
        memset(xp, 0, (size_t)c * hp * wp * sizeof(float));
        for (ci = 0; ci < c; ci++)
            for (ky = 0; ky < h; ky++)
                memcpy(xp + ((size_t)ci * hp + (size_t)(ky + pad)) * wp + pad,
                       x + ((size_t)ci * h + (size_t)ky) * w, (size_t)w * sizeof(float));
        for (ci = 0; ci < c; ci++)
            for (ky = 0; ky < k; ky++)
                for (kx = 0; kx < k; kx++)
                    off[(ci * k + ky) * k + kx] =
                        (int32_t)((size_t)ci * hp * wp + (size_t)ky * wp + (size_t)kx);
        rvt_nn_im2col(x, c, h, w, k, st, pad, col, oh, ow);
        for (i = 0; i < (size_t)n * kk; i++)
            wgt[i] = frand();
        for (i = 0; i < (size_t)n; i++)
            bias[i] = frand();
        rvt_sgemm_pack(wgt, n, kk, wt, 0, n);
        for (variant = 0; variant < 2; variant++) {
            /* variant 1: stored inside a padded map (2 positions skipped a row) */
            size_t row_w = variant ? (size_t)ow : 0, row_skip = variant ? 2 : 0;
            size_t ldy = (size_t)n + 3, n_rows = np + (variant ? (size_t)oh * 2 : 0);
            struct rvt_sgemm_args g = {.n = n, .k = kk, .wt = wt, .x = col, .x_ps = 1,
                                       .x_ks = np, .n_pos = np, .ldy = ldy, .row_w = row_w,
                                       .row_skip = row_skip, .bias = bias,
                                       .act = variant ? RVT_NN_ACT_SILU : RVT_NN_ACT_NONE};
            struct rvt_sgemm_gather gx = {xp, off, ow, st, wp};
            struct run r0 = {falloc(n_rows * ldy), n_rows * ldy}, r1 = {falloc(n_rows * ldy), n_rows * ldy};
            for (lvl = RVT_ISA_REF; lvl <= RVT_ISA_AVX512; lvl++) {
                const struct rvt_sgemm_kernels *kr = rvt_sgemm_kernels_for((enum rvt_isa)lvl);
                int nth;
                if (!kr)
                    continue;
                run_gemm(kr, &g, 1, &r0);
                for (nth = 1; nth <= 3; nth++) {
                    struct rvt_sgemm_args g1 = g;
                    int t;
                    for (i = 0; i < r1.n_y; i++)
                        r1.y[i] = -12345.0f;
                    g1.y = r1.y;
                    for (t = 0; t < nth; t++)
                        kr->gemm_gather(&g1, &gx, t, nth);
                    bad += memcmp(r0.y, r1.y, r1.n_y * sizeof(float)) != 0;
                    for (i = 0; i < r1.n_y; i++)
                        bad_border += r0.y[i] == -12345.0f && r1.y[i] != -12345.0f;
                    cases++;
                }
            }
            free(r0.y), free(r1.y);
        }
        free(x), free(xp), free(col), free(wgt), free(wt), free(bias), free(off);
    }
    OK(bad == 0 && cases > 0,
       "gemm_gather == gemm on the im2col matrix, bit for bit (%d of %d level/split/layout cases "
       "differ)", bad, cases);
    OK(bad_border == 0, "gemm_gather writes nothing gemm leaves alone (%d floats)", bad_border);
}

int main(void)
{
    printf("# kernels: %s\n", rvt_isa_name(rvt_sgemm_kernels()->isa));
    OK(rvt_sgemm_kernels()->isa <= rvt_cpu_isa() && rvt_sgemm_kernels_for(RVT_ISA_REF),
       "dispatch: a level within rvt_cpu_isa(), ref always there");
    test_pack_ranges();
    test_shapes();
    test_gather();
    time_levels();
    return tap_done();
}
