/*
 * Unit tests for the int8 GEMM (lib/nn/qgemm.h) and quantization (lib/nn/quant.h).
 *
 * Every kernel level this CPU allows (ref, avx2, avx512-vnni; RVT_ISA lowers the set)
 * runs on the same random inputs with odd m, n, k (row, column-block and k tails).
 * Integer results must equal a naive triple loop over the unpacked matrix exactly, and
 * the float epilogue must be bit-identical across levels (the contract in qgemm.h: same
 * float operations in the same order).  Against a double-precision epilogue the float
 * one may differ by rounding: one int32 -> float conversion (2^-24 relative), the scale
 * product and the multiply (2^-24 each), the bias add (2^-24 of the larger term), so a
 * relative bound of 1e-6 of (|value| + |bias|) is loose enough and still catches any
 * wrong term.  Timings (GOPS = 2 * m * n * k / s) are printed as TAP comments.
 */
#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>

#include "../tap.h"
#include "core/cpu.h"
#include "nn/qgemm.h"
#include "nn/quant.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static float rndf(void) /* [-1, 1) */
{
    return (float)((double)(rnd() & 0xffffff) / (1 << 23) - 1.0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const enum rvt_isa levels[] = {RVT_ISA_REF, RVT_ISA_AVX2, RVT_ISA_AVX512};

struct problem {
    int m, n, k;
    size_t lda;
    uint8_t *a;
    int8_t *b;
    float *scale, *bias, *a_scale;
    int32_t *a_zero;
    int a_group;
    int64_t *want; /* naive sums */
    struct rvt_qmat q;
};

static int problem_make(struct problem *p, int m, int n, int k, int mode)
{
    struct rvt_error err = {0};
    int i, j, kk, ng;

    memset(p, 0, sizeof(*p));
    p->m = m;
    p->n = n;
    p->k = k;
    p->lda = (size_t)rvt_qgemm_k_pad(k) + 8; /* lda > k_pad: strided rows */
    p->a_group = m > 4 ? m / 3 + 1 : 1;      /* several groups, the last one short */
    ng = (m + p->a_group - 1) / p->a_group;
    p->a = calloc((size_t)m * p->lda, 1);
    p->b = malloc((size_t)n * k);
    p->scale = malloc(sizeof(float) * n);
    p->bias = malloc(sizeof(float) * n);
    p->a_scale = malloc(sizeof(float) * ng);
    p->a_zero = malloc(sizeof(int32_t) * ng);
    p->want = malloc(sizeof(int64_t) * m * n);
    rvt_qmat_init(&p->q);
    for (i = 0; i < m; i++)
        for (kk = 0; kk < k; kk++)
            p->a[i * p->lda + kk] = mode == 1 ? 255 : (uint8_t)(rnd() & 0xff);
    for (j = 0; j < n; j++) {
        for (kk = 0; kk < k; kk++)
            p->b[(size_t)j * k + kk] =
                mode == 1 ? (j & 1 ? 127 : -127) : (int8_t)((int)(rnd() % 255) - 127);
        p->scale[j] = 0.001f + (rnd() & 0xffff) * 1e-7f;
        p->bias[j] = rndf();
    }
    for (i = 0; i < ng; i++) {
        p->a_scale[i] = 0.01f + (rnd() & 0xffff) * 1e-7f;
        p->a_zero[i] = (int32_t)(rnd() & 0xff);
    }
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            int64_t s = 0;
            for (kk = 0; kk < k; kk++)
                s += (int64_t)p->a[i * p->lda + kk] * p->b[(size_t)j * k + kk];
            p->want[(size_t)i * n + j] = s;
        }
    return rvt_qmat_pack(&p->q, p->b, p->scale, n, k, &err);
}

static void problem_free(struct problem *p)
{
    free(p->a);
    free(p->b);
    free(p->scale);
    free(p->bias);
    free(p->a_scale);
    free(p->a_zero);
    free(p->want);
    rvt_qmat_release(&p->q);
}

/* Runs gemm as nth parts called one after the other (each part writes only its own). */
static void run(const struct rvt_qgemm_kernels *kr, const struct rvt_qgemm_args *g, int nth)
{
    int t;
    for (t = 0; t < nth; t++)
        kr->gemm(g, t, nth);
}

static void test_shape(int m, int n, int k, int mode)
{
    struct problem p;
    float *ref_out = NULL, *out = NULL;
    int32_t *c = NULL;
    size_t i, mn = (size_t)m * n;
    int li, nth, ret;
    const char *what = mode == 1 ? " (extreme values)" : "";

    ret = problem_make(&p, m, n, k, mode);
    OK(ret == 0, "pack %dx%d k=%d%s", n, k, m, what);
    c = malloc(sizeof(int32_t) * mn);
    out = malloc(sizeof(float) * mn);
    ref_out = malloc(sizeof(float) * mn);

    for (li = 0; li < (int)RVT_ARRAY_SIZE(levels); li++) {
        const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
        const char *name = rvt_isa_name(levels[li]);
        if (!kr) {
            OK(1, "# SKIP %s not available on this CPU (or RVT_ISA)", name);
            continue;
        }
        for (nth = 1; nth <= 3; nth += 2) {
            struct rvt_qgemm_args g = {.m = m, .a = p.a, .lda = p.lda, .b = &p.q, .c = c, .ldc = n};
            size_t bad = 0;
            for (i = 0; i < mn; i++)
                c[i] = INT32_MIN; /* sentinel: every element must be written */
            run(kr, &g, nth);
            for (i = 0; i < mn; i++)
                bad += c[i] != p.want[i];
            OK(bad == 0, "%s int32 m=%d n=%d k=%d nth=%d%s: exact (%zu wrong)", name, m, n, k, nth,
               what, bad);
        }
        /* fused epilogue, row-major with bias + relu, and column-major without */
        {
            struct rvt_qgemm_args g = {.m = m, .a = p.a, .lda = p.lda, .b = &p.q,
                                       .out = out, .out_rs = n, .out_cs = 1,
                                       .a_scale = p.a_scale, .a_zero = p.a_zero,
                                       .a_group = p.a_group, .bias = p.bias,
                                       .act = RVT_QACT_RELU};
            size_t far = 0;
            int pass;
            for (pass = 0; pass < 2; pass++) {
                if (pass == 1) {
                    g.out_rs = 1;
                    g.out_cs = m;
                    g.bias = NULL;
                    g.act = RVT_QACT_NONE;
                }
                for (i = 0; i < mn; i++)
                    out[i] = NAN;
                run(kr, &g, 2);
                for (i = 0; i < mn; i++) {
                    size_t r = i / n, j = i % n;
                    int grp = (int)r / p.a_group;
                    double v = (double)(p.want[i] - (int64_t)p.a_zero[grp] * p.q.colsum[j]) *
                               ((double)p.a_scale[grp] * p.scale[j]);
                    double b = g.bias ? p.bias[j] : 0.0;
                    float got = out[r * g.out_rs + j * g.out_cs];
                    v += b;
                    if (g.act == RVT_QACT_RELU && v < 0)
                        v = 0;
                    if (!(fabs(got - v) <= 1e-6 * (fabs(v) + fabs(b)) + 1e-30))
                        far++;
                }
                OK(far == 0, "%s epilogue %s m=%d n=%d k=%d%s: within 1e-6 of double (%zu far)",
                   name, pass ? "column-major" : "row-major+bias+relu", m, n, k, what, far);
                if (li > 0) {
                    /* the same call through the ref level must give the same bits */
                    struct rvt_qgemm_args g2 = g;
                    g2.out = ref_out;
                    run(rvt_qgemm_kernels_for(RVT_ISA_REF), &g2, 1);
                    OK(memcmp(ref_out, out, sizeof(float) * mn) == 0,
                       "%s epilogue %s bit-identical to ref", name,
                       pass ? "column-major" : "row-major");
                }
                far = 0;
            }
        }
    }
    free(c);
    free(out);
    free(ref_out);
    problem_free(&p);
}

static void test_quantize_kernels(void)
{
    enum { N = 1000 + 13 };
    float *x = malloc(sizeof(float) * N);
    uint8_t *q0 = malloc(N), *q = malloc(N);
    const struct rvt_qgemm_kernels *r0 = rvt_qgemm_kernels_for(RVT_ISA_REF);
    int i, li;
    float lo0, hi0, lo, hi, save;
    const float inv = 1.0f / 0.0125f;
    const int32_t zero = 77;

    for (i = 0; i < N; i++)
        x[i] = rndf() * 3.0f;
    /* exact ties (x * inv = n + 0.5), the clamp edges, huge and infinite values */
    x[0] = 0.5f / inv;
    x[1] = 1.5f / inv;
    x[2] = -2.5f / inv;
    x[3] = 1e30f;
    x[4] = -INFINITY;
    x[5] = INFINITY;
    x[6] = -0.0f;
    x[N - 1] = 2.5f / inv; /* in the scalar tail of every level */
    r0->quantize(x, N, inv, zero, q0);
    OK(q0[0] == zero && q0[1] == zero + 2 && q0[2] == zero - 2 && q0[N - 1] == zero + 2,
       "ref quantize rounds ties to even (%d %d %d %d)", q0[0], q0[1], q0[2], q0[N - 1]);
    OK(q0[3] == 255 && q0[4] == 0 && q0[5] == 255 && q0[6] == zero, "ref quantize clamps");
    r0->minmax(x, N, &lo0, &hi0);
    OK(lo0 == -INFINITY && hi0 == INFINITY, "ref minmax sees the infinities");
    for (li = 1; li < (int)RVT_ARRAY_SIZE(levels); li++) {
        const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
        if (!kr)
            continue;
        kr->quantize(x, N, inv, zero, q);
        OK(memcmp(q, q0, N) == 0, "%s quantize identical to ref", rvt_isa_name(levels[li]));
        for (i = 1; i < 40; i += 7) {
            kr->minmax(x + 7, (size_t)i, &lo, &hi);
            r0->minmax(x + 7, (size_t)i, &lo0, &hi0);
            if (lo != lo0 || hi != hi0)
                break;
        }
        kr->minmax(x + 7, N - 7, &lo, &hi);
        r0->minmax(x + 7, N - 7, &lo0, &hi0);
        OK(i >= 40 && lo == lo0 && hi == hi0, "%s minmax identical to ref (%g %g)",
           rvt_isa_name(levels[li]), (double)lo, (double)hi);
        save = x[500];
        x[500] = NAN;
        kr->minmax(x, N, &lo, &hi);
        x[500] = save;
        OK(isnan(lo) && isnan(hi), "%s minmax reports NaN", rvt_isa_name(levels[li]));
        save = x[N - 2];
        x[N - 2] = NAN;
        kr->minmax(x, N, &lo, &hi);
        kr->quantize(x, N, inv, zero, q);
        x[N - 2] = save;
        OK(isnan(lo) && q[N - 2] == 255, "%s NaN in the tail: minmax NaN, quantizes to 255",
           rvt_isa_name(levels[li]));
    }
    {
        /* channels-first to channels-last, with padding */
        uint8_t qt[5 * 8];
        float xc[3 * 5];
        for (i = 0; i < 15; i++)
            xc[i] = (float)i;
        memset(qt, 0xee, sizeof(qt));
        rvt_qgemm_kernels_get()->quantize_t(xc, 3, 5, 5, 1.0f, 10, qt, 8, 4);
        OK(qt[0] == 10 && qt[1] == 15 && qt[2] == 20 && qt[3] == 0 && qt[4] == 0xee &&
               qt[4 * 8 + 2] == 24,
           "quantize_t transposes, zero-pads to c_pad, leaves the rest");
    }
    free(x);
    free(q0);
    free(q);
}

static void test_quant(void)
{
    struct rvt_error err = {0};
    float w[3 * 5] = {0.5f, -1.0f, 0.25f, 0.0f, 1.0f, /* channel 0: max 1 */
                      0, 0, 0, 0, 0,                  /* channel 1: all zero */
                      1e-3f, 2e-3f, -4e-3f, 3e-3f, 0};
    int8_t q[15];
    float s[3];
    int nz = -1, ret, i;
    struct rvt_qparams p;

    ret = rvt_quant_weights(w, 3, 5, q, s, &nz, &err);
    OK(ret == 0 && nz == 1, "quant_weights: 1 all-zero channel counted");
    OK(s[1] == 1.0f && q[5] == 0 && q[9] == 0, "all-zero channel: scale 1, zero weights");
    OK(s[0] == 1.0f / 127.0f && q[1] == -127 && q[4] == 127 && q[0] == 64,
       "channel 0: scale max/127, max -> 127, 0.5 -> 64 (63.5 rounds to even)");
    OK(q[12] == -127 && s[2] == 4e-3f / 127.0f, "channel 2: min -> -127");
    for (i = 0; i < 15; i++)
        if (fabsf(w[i] - s[i / 5] * q[i]) > s[i / 5] * 0.5f * (1 + 1e-6f))
            break;
    OK(i == 15, "round trip within scale/2");
    w[7] = NAN;
    ret = rvt_quant_weights(w, 3, 5, q, s, &nz, &err);
    OK(ret == RVT_EINVAL && strstr(err.msg, "channel 1 of 3 has a nan weight at column 2"),
       "NaN weight is an error: %s", err.msg);
    w[7] = -INFINITY;
    ret = rvt_quant_weights(w, 3, 5, q, s, &nz, &err);
    OK(ret == RVT_EINVAL && strstr(err.msg, "infinite"), "infinite weight is an error: %s", err.msg);

    OK(rvt_quant_params(0.0f, 0.0f, &p, &err) == 0 && p.scale == 1.0f && p.zero == 0,
       "all-zero activations: scale 1, zero 0");
    OK(rvt_quant_params(1e-38f, 2e-38f, &p, &err) == 0 && p.scale == 1.0f && p.zero == 0,
       "range below RVT_QUANT_MIN_RANGE counts as zero");
    OK(rvt_quant_params(0.5f, 2.55f, &p, &err) == 0 && p.zero == 0 && p.scale == 2.55f / 255.0f,
       "positive range: zero point 0, lo widened to 0");
    OK(rvt_quant_params(-2.0f, -1.0f, &p, &err) == 0 && p.zero == 255, "negative range: zero 255");
    OK(rvt_quant_params(-1.0f, 3.0f, &p, &err) == 0 && p.zero == 64, "mixed range: zero 64 (%d)",
       p.zero);
    OK(rvt_quant_params(NAN, 1.0f, &p, &err) == RVT_EINVAL && strstr(err.msg, "not finite"),
       "NaN range is an error: %s", err.msg);
    {
        float x[37];
        uint8_t qa[37];
        for (i = 0; i < 37; i++)
            x[i] = rndf() * 5.0f - 1.0f;
        x[3] = 0.0f;
        ret = rvt_quant_dynamic(NULL, x, 37, qa, &p, &err);
        for (i = 0; i < 37; i++)
            if (fabsf(x[i] - p.scale * (qa[i] - p.zero)) > p.scale * 0.5f * (1 + 1e-5f))
                break;
        OK(ret == 0 && i == 37 && qa[3] == p.zero, "dynamic: 0 exact, round trip within scale/2");
        x[30] = NAN;
        OK(rvt_quant_dynamic(NULL, x, 37, qa, &p, &err) == RVT_EINVAL, "dynamic: NaN refused");
    }
}

static void test_pack_errors(void)
{
    struct rvt_qmat m;
    struct rvt_error err = {0};
    int8_t b[8] = {1, 2, 3, -128, 0, 0, 0, 0};
    float s[2] = {1, 1};

    rvt_qmat_init(&m);
    OK(rvt_qmat_pack(&m, b, s, 2, 4, &err) == RVT_EINVAL && strstr(err.msg, "-128"),
       "pack refuses -128: %s", err.msg);
    b[3] = 0;
    s[1] = 0;
    OK(rvt_qmat_pack(&m, b, s, 2, 4, &err) == RVT_EINVAL, "pack refuses scale 0: %s", err.msg);
    s[1] = 1;
    OK(rvt_qmat_pack(&m, b, s, 1, RVT_QGEMM_MAX_K + 1, &err) == RVT_EINVAL,
       "pack refuses k > RVT_QGEMM_MAX_K");
    OK(rvt_qmat_pack(&m, b, s, 2, 4, &err) == 0 && m.n_pad == 16 && m.k_pad == 4 &&
           m.colsum[0] == 6 && m.colsum[1] == 0 && m.colsum[15] == 0,
       "pack pads n to 16, sums columns");
    rvt_qmat_release(&m);
}

static void bench(void)
{
    const int m = 256, n = 512, k = 1152, reps = 3;
    struct problem p;
    float *out = malloc(sizeof(float) * m * n);
    float *fa = malloc(sizeof(float) * m * k), *fb = malloc(sizeof(float) * n * k);
    double t, ops = 2.0 * m * n * k;
    int li, r, i;

    rng = 12345;
    rvt_blas_set_threads(1);
    problem_make(&p, m, n, k, 0);
    for (li = 0; li < (int)RVT_ARRAY_SIZE(levels); li++) {
        const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
        struct rvt_qgemm_args g = {.m = m, .a = p.a, .lda = p.lda, .b = &p.q, .out = out,
                                   .out_rs = n, .out_cs = 1, .a_scale = p.a_scale,
                                   .a_zero = p.a_zero, .a_group = p.a_group, .bias = p.bias};
        int nr = li == 0 ? 1 : reps;
        if (!kr)
            continue;
        kr->gemm(&g, 0, 1);
        t = now_s();
        for (r = 0; r < nr; r++)
            kr->gemm(&g, 0, 1);
        t = (now_s() - t) / nr;
        printf("# timing qgemm %-16s m=%d n=%d k=%d 1 thread: %8.3f ms %7.1f GOPS\n",
               rvt_isa_name(levels[li]), m, n, k, t * 1e3, ops / t * 1e-9);
    }
    for (i = 0; i < m * k; i++)
        fa[i] = rndf();
    for (i = 0; i < n * k; i++)
        fb[i] = rndf();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, fa, k, fb, k, 0.0f, out, n);
    t = now_s();
    for (r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, fa, k, fb, k, 0.0f,
                    out, n);
    t = (now_s() - t) / reps;
    printf("# timing sgemm (OpenBLAS %s, for scale) m=%d n=%d k=%d 1 thread: %8.3f ms %7.1f GFLOPS\n",
           rvt_blas_corename(), m, n, k, t * 1e3, ops / t * 1e-9);
    problem_free(&p);
    free(out);
    free(fa);
    free(fb);
}

int main(int argc, char **argv)
{
    static const int shapes[][3] = {
        {1, 1, 1},     {1, 17, 5},   {7, 17, 5},    {13, 33, 37},  {6, 64, 64},
        {5, 48, 16},   {19, 80, 21}, {65, 129, 131}, {2, 512, 1344}, {3, 7, 1152},
    };
    size_t i;

    rvt_blas_fix_coretype(argv);
    (void)argc;
    printf("# kernel level: %s\n", rvt_isa_name(rvt_qgemm_kernels_get()->isa));
    OK(rvt_qgemm_kernels_get()->isa == rvt_cpu_isa(), "dispatch picks rvt_cpu_isa()");
    for (i = 0; i < RVT_ARRAY_SIZE(shapes); i++)
        test_shape(shapes[i][0], shapes[i][1], shapes[i][2], 0);
    /* 255 * 127 everywhere: vpmaddubsw would saturate at 32767 per pair, int32 must not */
    test_shape(7, 18, 4099, 1);
    test_quantize_kernels();
    test_quant();
    test_pack_errors();
    bench();
    return tap_done();
}
