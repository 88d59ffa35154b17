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
#include "nn/qgemm_internal.h"
#include "nn/qcalib.h"
#include "nn/qdense.h"
#include "nn/ops.h"
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
    int n, k;        /* output channels, inputs */
    size_t n_pos;    /* positions */
    size_t group;    /* positions per sample */
    uint8_t *x;      /* [n_pos][k] */
    uint8_t *xp;     /* packed */
    int8_t *w;       /* [n][k] */
    float *scale, *bias, *x_scale, *pos_scale;
    int32_t *x_zero, *pos_zero;
    int64_t *want;   /* naive sums [n][n_pos] */
    struct rvt_qweights q;
};

static void *xalloc64(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, (n + 63) / 64 * 64))
        abort();
    return p;
}

/* mode 0: random; mode 1: 255 x +-127 everywhere (saturation bait); 2 and 3: the same
 * with 7-bit weights (+-64, quantize-model --weight-bits 7: AVX2's vpmaddubsw path) */
static int problem_make(struct problem *p, int n, int k, size_t n_pos, size_t group, int mode)
{
    struct rvt_error err = {0};
    size_t i, ng = (n_pos + group - 1) / group, xb = rvt_qx_bytes(n_pos, k);
    int o, kk, k_pad = rvt_qgemm_k_pad(k);

    memset(p, 0, sizeof(*p));
    p->n = n;
    p->k = k;
    p->n_pos = n_pos;
    p->group = group;
    p->x = malloc((size_t)n_pos * k);
    p->xp = xalloc64(xb);
    p->w = malloc((size_t)n * k);
    p->scale = malloc(sizeof(float) * n);
    p->bias = malloc(sizeof(float) * n);
    p->x_scale = malloc(sizeof(float) * ng);
    p->x_zero = malloc(sizeof(int32_t) * ng);
    p->pos_scale = malloc(sizeof(float) * n_pos);
    p->pos_zero = malloc(sizeof(int32_t) * n_pos);
    p->want = malloc(sizeof(int64_t) * n * n_pos);
    rvt_qweights_init(&p->q);
    for (i = 0; i < n_pos * (size_t)k; i++)
        p->x[i] = mode & 1 ? 255 : (uint8_t)(rnd() & 0xff);
    /* the packing as qgemm.h documents it, written out independently of the library */
    memset(p->xp, 0, xb);
    for (i = 0; i < n_pos; i++)
        for (kk = 0; kk < k; kk++)
            p->xp[((i / 16) * (size_t)(k_pad / 4) + (size_t)(kk / 4)) * 64 + (i % 16) * 4 + kk % 4] =
                p->x[i * k + kk];
    for (o = 0; o < n; o++) {
        for (kk = 0; kk < k; kk++)
            p->w[(size_t)o * k + kk] =
                mode == 1   ? (o & 1 ? 127 : -127)
                : mode == 3 ? (o & 1 ? 64 : -64)
                : mode == 2 ? (int8_t)((int)(rnd() % 129) - 64)
                            : (int8_t)((int)(rnd() % 255) - 127);
        p->scale[o] = 0.001f + (rnd() & 0xffff) * 1e-7f;
        p->bias[o] = rndf();
    }
    for (i = 0; i < ng; i++) {
        p->x_scale[i] = 0.01f + (rnd() & 0xffff) * 1e-7f;
        p->x_zero[i] = (int32_t)(rnd() & 0xff);
    }
    for (i = 0; i < n_pos; i++) {
        p->pos_scale[i] = 0.01f + (rnd() & 0xffff) * 1e-7f;
        p->pos_zero[i] = (int32_t)(rnd() & 0xff);
    }
    for (o = 0; o < n; o++)
        for (i = 0; i < n_pos; i++) {
            int64_t s = 0;
            for (kk = 0; kk < k; kk++)
                s += (int64_t)p->w[(size_t)o * k + kk] * p->x[i * k + kk];
            p->want[(size_t)o * n_pos + i] = s;
        }
    return rvt_qweights_set(&p->q, p->w, p->scale, n, k, &err);
}

static void problem_free(struct problem *p)
{
    free(p->x);
    free(p->xp);
    free(p->w);
    free(p->scale);
    free(p->bias);
    free(p->x_scale);
    free(p->x_zero);
    free(p->pos_scale);
    free(p->pos_zero);
    free(p->want);
    rvt_qweights_release(&p->q);
}

/* Runs gemm as nth parts called one after the other (each part writes only its own). */
static void run(const struct rvt_qgemm_kernels *kr, const struct rvt_qgemm_args *g, int nth)
{
    int t;
    for (t = 0; t < nth; t++)
        kr->gemm(g, t, nth);
}

/* The float epilogue in double, for the tolerance check. */
static double epi_double(const struct problem *p, const struct rvt_qgemm_args *g, int o, size_t i)
{
    size_t grp = i / g->group;
    double v = (double)(p->want[(size_t)o * p->n_pos + i] - (int64_t)g->x_zero[grp] * p->q.wsum[o]) *
               ((double)g->x_scale[grp] * p->scale[o]);
    if (g->bias)
        v += p->bias[o];
    if (g->act == RVT_QACT_RELU && v < 0)
        v = 0;
    return v;
}

/* n output channels, k inputs, n_pos positions in samples of `group`. */
static void test_shape(int n, int k, size_t n_pos, size_t group, int mode)
{
    struct problem p;
    size_t no = (size_t)n * n_pos, i, ng = (n_pos + group - 1) / group;
    size_t out_len = ng * (size_t)n * group;
    float *out = malloc(sizeof(float) * out_len), *ref_out = malloc(sizeof(float) * out_len);
    int32_t *c = malloc(sizeof(int32_t) * no);
    int li, nth, ret, o;
    const char *what = mode == 1 ? " (255 x 127)" : "";
    char shape[96];

    snprintf(shape, sizeof(shape), "n=%d k=%d pos=%zu group=%zu%s", n, k, n_pos, group, what);
    ret = problem_make(&p, n, k, n_pos, group, mode);
    OK(ret == 0, "weights %s", shape);
    for (li = 0; li < (int)RVT_ARRAY_SIZE(levels); li++) {
        const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
        const char *name = rvt_isa_name(levels[li]);
        int pass;
        if (!kr) {
            OK(1, "# SKIP %s not available on this CPU (or RVT_ISA)", name);
            continue;
        }
        for (nth = 1; nth <= 3; nth += 2) {
            struct rvt_qgemm_args g = {.w = &p.q, .xp = p.xp, .n_pos = n_pos, .c = c, .ldc = n_pos};
            size_t bad = 0;
            for (i = 0; i < no; i++)
                c[i] = INT32_MIN; /* sentinel: every element must be written once */
            run(kr, &g, nth);
            for (i = 0; i < no; i++)
                bad += c[i] != p.want[i];
            OK(bad == 0, "%s int32 %s nth=%d: exact (%zu wrong)", name, shape, nth, bad);
        }
        /* fused epilogue in three layouts: channels-first with a map per group (sample)
         * and bias + relu; Linear-style [position][n] with a map per position; and
         * channels-first with a map per position (dynamic per-column quantization) */
        for (pass = 0; pass < 3; pass++) {
            static const char *const names[] = {"planes+bias+relu", "rows", "planes, per-position maps"};
            struct rvt_qgemm_args g = {.w = &p.q, .xp = p.xp, .n_pos = n_pos, .out = out,
                                       .group = group, .out_cs = group, .out_gs = (size_t)n * group,
                                       .x_scale = p.x_scale, .x_zero = p.x_zero,
                                       .bias = p.bias, .act = RVT_QACT_RELU};
            size_t far = 0;
            if (pass == 1) {
                g.group = 1;
                g.out_cs = 1;
                g.out_gs = (size_t)n;
                g.bias = NULL;
                g.act = RVT_QACT_NONE;
            } else if (pass == 2) {
                g.group = 1;
                g.out_cs = n_pos;
                g.out_gs = 1;
                g.act = RVT_QACT_NONE;
            }
            if (pass > 0) {
                g.x_scale = p.pos_scale;
                g.x_zero = p.pos_zero;
            }
            for (i = 0; i < out_len; i++)
                out[i] = NAN;
            run(kr, &g, 2);
            for (o = 0; o < n; o++)
                for (i = 0; i < n_pos; i++) {
                    double v = epi_double(&p, &g, o, i);
                    double b = g.bias ? p.bias[o] : 0.0;
                    float got = *rvti_qgemm_out(&g, o, i);
                    if (!(fabs(got - v) <= 1e-6 * (fabs(v) + fabs(b)) + 1e-30))
                        far++;
                }
            OK(far == 0, "%s epilogue %s %s: within 1e-6 of double (%zu far)", name, names[pass],
               shape, far);
            if (pass == 1) {
                /* the channels-last kernel: gemm's bits in the same layout, with and
                 * without bias + relu */
                int v;
                for (v = 0; v < 2; v++) {
                    struct rvt_qgemm_args g2 = g, g3;
                    int t;
                    if (v == 1) {
                        g2.bias = p.bias;
                        g2.act = RVT_QACT_RELU;
                        run(kr, &g2, 1);
                    }
                    g3 = g2;
                    g3.out = ref_out;
                    for (i = 0; i < out_len; i++)
                        ref_out[i] = NAN;
                    for (t = 0; t < 3; t++)
                        kr->gemm_t(&g3, t, 3);
                    OK(memcmp(ref_out, out, sizeof(float) * out_len) == 0,
                       "%s gemm_t%s %s (3 threads): gemm's bits", name,
                       v ? " bias+relu" : "", shape);
                    if (v == 1) {
                        /* + a residual in the epilogue: the bits of adding it after */
                        float *res = malloc(sizeof(float) * n_pos * (size_t)n + 1);
                        size_t bad = 0;
                        assert(res);
                        for (i = 0; i < n_pos * (size_t)n; i++)
                            res[i] = rndf() * 4.0f;
                        g3.res = res;
                        g3.ld_res = (size_t)n;
                        for (i = 0; i < out_len; i++)
                            ref_out[i] = NAN;
                        for (t = 0; t < 3; t++)
                            kr->gemm_t(&g3, t, 3);
                        for (o = 0; o < n; o++)
                            for (i = 0; i < n_pos; i++) {
                                float want = *rvti_qgemm_out(&g2, o, i) + res[i * (size_t)n + o];
                                float got = *rvti_qgemm_out(&g3, o, i);
                                bad += memcmp(&want, &got, sizeof(float)) != 0;
                            }
                        OK(bad == 0, "%s gemm_t bias+relu+residual %s (3 threads): gemm's bits "
                           "plus the residual (%zu differ)", name, shape, bad);
                        free(res);
                    }
                }
                run(kr, &g, 2);
            }
            if (li > 0) {
                /* the same call through the ref level must give the same bits */
                struct rvt_qgemm_args g2 = g;
                memcpy(ref_out, out, sizeof(float) * out_len);
                g2.out = ref_out;
                run(rvt_qgemm_kernels_for(RVT_ISA_REF), &g2, 1);
                OK(memcmp(ref_out, out, sizeof(float) * out_len) == 0,
                   "%s epilogue %s bit-identical to ref", name, names[pass]);
            }
        }
    }
    free(c);
    free(out);
    free(ref_out);
    problem_free(&p);
}

static void test_pack(void)
{
    static const int ks[] = {1, 3, 4, 5, 33};
    static const size_t ns[] = {1, 15, 16, 17, 49, 100};
    static const size_t p0s[] = {0, 5, 16, 37};
    const struct rvt_qgemm_kernels *r0 = rvt_qgemm_kernels_for(RVT_ISA_REF);
    float *x = malloc(sizeof(float) * 40 * 160);
    size_t cap = rvt_qx_bytes(256, 40); /* p0 + n <= 37 + 150 positions */
    uint8_t *q0 = xalloc64(cap), *q = xalloc64(cap);
    const float inv = 1.0f / 0.0125f;
    const int32_t zero = 77;
    size_t i, bad_cases = 0, cases = 0;
    int li, a, b, c;

    for (i = 0; i < 40 * 160; i++)
        x[i] = rndf() * 3.0f;
    /* exact ties (x * inv = m + 0.5), clamp edges, huge, infinite, negative zero */
    x[0] = 0.5f / inv;
    x[1] = 1.5f / inv;
    x[2] = -2.5f / inv;
    x[3] = 1e30f;
    x[4] = -INFINITY;
    x[5] = INFINITY;
    x[6] = -0.0f;
    x[160 + 20] = NAN;
    memset(q0, 0xaa, cap);
    r0->pack_planes(x, 2, 8, 160, inv, zero, q0, 0, 4);
    OK(q0[0] == zero && q0[4] == zero + 2 && q0[8] == zero - 2 && q0[12] == 255 &&
           q0[16] == 0 && q0[20] == 255 && q0[24] == zero && q0[2] == 0 && q0[3] == 0,
       "ref pack_planes: ties to even, clamps, zero k padding (%d %d %d)", q0[0], q0[4], q0[8]);
    for (li = 1; li < (int)RVT_ARRAY_SIZE(levels); li++) {
        const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
        float lo0, hi0, lo, hi, save;
        if (!kr)
            continue;
        bad_cases = cases = 0;
        for (a = 0; a < (int)RVT_ARRAY_SIZE(ks); a++)
            for (b = 0; b < (int)RVT_ARRAY_SIZE(ns); b++)
                for (c = 0; c < (int)RVT_ARRAY_SIZE(p0s); c++) {
                    memset(q0, 0xaa, cap);
                    memset(q, 0xaa, cap);
                    r0->pack_planes(x + 3, ks[a], ns[b], 160, inv, zero, q0, p0s[c],
                                    rvt_qgemm_k_pad(ks[a]));
                    kr->pack_planes(x + 3, ks[a], ns[b], 160, inv, zero, q, p0s[c],
                                    rvt_qgemm_k_pad(ks[a]));
                    cases++;
                    bad_cases += memcmp(q0, q, cap) != 0;
                }
        OK(bad_cases == 0, "%s pack_planes identical to ref, untouched bytes too (%zu of %zu differ)",
           rvt_isa_name(levels[li]), bad_cases, cases);
        for (i = 1; i < 40; i += 7) {
            kr->minmax(x + 7, i, &lo, &hi);
            r0->minmax(x + 7, i, &lo0, &hi0);
            if (lo != lo0 || hi != hi0)
                break;
        }
        kr->minmax(x + 7, 150, &lo, &hi);
        r0->minmax(x + 7, 150, &lo0, &hi0);
        OK(i >= 40 && lo == lo0 && hi == hi0, "%s minmax identical to ref (%g %g)",
           rvt_isa_name(levels[li]), (double)lo, (double)hi);
        kr->minmax(x, 160 * 2, &lo, &hi);
        OK(isnan(lo) && isnan(hi), "%s minmax reports NaN", rvt_isa_name(levels[li]));
        save = x[7 + 148];
        x[7 + 148] = NAN;
        kr->minmax(x + 7, 150, &lo, &hi);
        x[7 + 148] = save;
        OK(isnan(lo) && isnan(hi), "%s minmax reports NaN in the tail", rvt_isa_name(levels[li]));
    }
    {
        /* quant_cols: a map per column, special columns included */
        float *xc = calloc(41 * 160, sizeof(float)), sc0[160], sc1[160]; /* + a row: offset 17 */
        int32_t z0[160], z1[160];
        for (i = 0; i < 40 * 160; i++)
            xc[i] = rndf() * (float)(1 + i % 7);
        for (c = 0; c < 40; c++) {
            xc[c * 160 + 20] = 0.0f;                          /* all-zero column */
            xc[c * 160 + 21] = 1.0f + (float)c;               /* positive only */
            xc[c * 160 + 22] = -1.0f - (float)c;              /* negative only */
            xc[c * 160 + 23] = 1e-35f * (float)c;             /* below the minimum range */
            xc[c * 160 + 24] = c == 0 ? -0.0f : 0.0f;         /* signed zeros */
        }
        xc[3 * 160 + 30] = NAN;
        xc[5 * 160 + 31] = INFINITY;
        xc[7 * 160 + 32] = -INFINITY;
        xc[2 * 160 + 150] = NAN; /* in the scalar tails */
        memset(q0, 0xaa, cap);
        r0->quant_cols(xc, 40, 160, 160, sc0, z0, q0, 0, 40);
        OK(sc0[20] == 1.0f && z0[20] == 0 && z0[21] == 0 && z0[22] == 255 && sc0[23] == 1.0f &&
               sc0[21] == 40.0f / 255.0f && isnan(sc0[30]) && isnan(sc0[31]) && isnan(sc0[32]) &&
               z0[30] == 0 && isnan(sc0[150]) && !isnan(sc0[149]),
           "ref quant_cols: maps of zero, one-signed, tiny, NaN and infinite columns");
        OK(q0[rvti_qx_index(21, 39, 40)] == 255 && q0[rvti_qx_index(22, 39, 40)] == 0 &&
               q0[rvti_qx_index(20, 5, 40)] == 0 && q0[rvti_qx_index(30, 3, 40)] == 255,
           "ref quant_cols: values of those columns");
        for (li = 1; li < (int)RVT_ARRAY_SIZE(levels); li++) {
            const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
            size_t bad_maps = 0;
            if (!kr)
                continue;
            bad_cases = cases = 0;
            for (a = 0; a < (int)RVT_ARRAY_SIZE(ks); a++)
                for (b = 0; b < (int)RVT_ARRAY_SIZE(ns); b++)
                    for (c = 0; c < (int)RVT_ARRAY_SIZE(p0s); c++) {
                        int kk = ks[a] == 33 ? 40 : ks[a];
                        size_t nn = ns[b] + (c & 1 ? 50 : 0), j;
                        memset(q0, 0xaa, cap);
                        memset(q, 0xaa, cap);
                        r0->quant_cols(xc + (c & 1) * 17, kk, nn, 160, sc0, z0, q0, p0s[c],
                                       rvt_qgemm_k_pad(kk));
                        kr->quant_cols(xc + (c & 1) * 17, kk, nn, 160, sc1, z1, q, p0s[c],
                                       rvt_qgemm_k_pad(kk));
                        cases++;
                        bad_cases += memcmp(q0, q, cap) != 0;
                        for (j = 0; j < nn; j++)
                            if (memcmp(&sc0[j], &sc1[j], sizeof(float)) || z0[j] != z1[j]) {
                                bad_maps++;
                                break;
                            }
                    }
            OK(bad_cases == 0 && bad_maps == 0,
               "%s quant_cols identical to ref: bytes (%zu of %zu differ), maps bit for bit (%zu differ)",
               rvt_isa_name(levels[li]), bad_cases, cases, bad_maps);
        }
        free(xc);
    }
    free(x);
    free(q0);
    free(q);
}

/*
 * gemm_t on every level against the ref level's gemm_t: per-position maps, bias, an
 * output stride past n, padded rows (row_w, row_skip), a residual, channel tails (n not
 * a multiple of 8 or 16), thread splits by positions and by whole blocks (nth 1..3 over
 * 300 positions: rvt_qgemm_t_blocks holds for nth <= 2); k 37 and 600 (both sides of
 * the float zero-point fold's edge).  NONE and RELU: the ref's bits, every float of the
 * output buffer (the skipped positions and the stride's gap keep their sentinel).  SILU
 * is the level's own (qgemm.h): on ref SiLU(v) = v / (1 + expf(-v)) of the bias-only
 * output v bit for bit, elsewhere within 3.1e-6 relative of it in double; with a
 * residual, the bits of adding it to the level's SiLU output.
 */
static void test_gemm_t(void)
{
    static const struct { int n, k; size_t pos; } shapes[] = {{21, 37, 300}, {48, 600, 37}, {24, 16, 53}};
    const struct rvt_qgemm_kernels *r0 = rvt_qgemm_kernels_for(RVT_ISA_REF);
    size_t si;

    /* each shape with full-range weights, then with 7-bit ones (mode 2) */
    for (si = 0; si < 2 * RVT_ARRAY_SIZE(shapes); si++) {
        const int mode = si % 2 ? 2 : 0;
        const int n = shapes[si / 2].n, k = shapes[si / 2].k, ROW_W = 7, SKIP = 3;
        const size_t n_pos = shapes[si / 2].pos, ldo = (size_t)n + 5, ldr = (size_t)n + 2;
        const size_t rows_out = n_pos + (n_pos / ROW_W + 1) * SKIP, len = rows_out * ldo;
        float *want = malloc(sizeof(float) * len), *got = malloc(sizeof(float) * len);
        float *lin = malloc(sizeof(float) * len), *res = malloc(sizeof(float) * n_pos * ldr);
        struct problem p;
        int li;
        size_t i;

        assert(want && got && lin && res);
        problem_make(&p, n, k, n_pos, 1, mode);
        OK(p.q.w7 == (mode == 2), "gemm_t n=%d k=%d: weights %s 7-bit", n, k,
           mode == 2 ? "within +-64 are" : "of +-127 are not");
        for (i = 0; i < n_pos * ldr; i++)
            res[i] = rndf() * 4.0f;
        for (li = 0; li < (int)RVT_ARRAY_SIZE(levels); li++) {
            const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
            const char *name = rvt_isa_name(levels[li]);
            struct rvt_qgemm_args g = {.w = &p.q, .xp = p.xp, .n_pos = n_pos, .out = got,
                                       .group = 1, .out_cs = 1, .out_gs = ldo,
                                       .x_scale = p.pos_scale, .x_zero = p.pos_zero,
                                       .bias = p.bias, .row_w = ROW_W, .row_skip = SKIP,
                                       .ld_res = ldr};
            size_t bad = 0, far = 0;
            int v, nth, t, o;
            if (!kr)
                continue;
            /* NONE, RELU, each without and with the residual, nth 1..3 */
            for (v = 0; v < 4; v++)
                for (nth = 1; nth <= 3; nth++) {
                    struct rvt_qgemm_args g0 = g;
                    g0.act = v & 1 ? RVT_QACT_RELU : RVT_QACT_NONE;
                    g0.res = v & 2 ? res : NULL;
                    g0.out = want;
                    for (i = 0; i < len; i++)
                        want[i] = got[i] = NAN;
                    r0->gemm_t(&g0, 0, 1);
                    g0.out = got;
                    for (t = 0; t < nth; t++)
                        kr->gemm_t(&g0, t, nth);
                    bad += memcmp(want, got, sizeof(float) * len) != 0;
                }
            OK(bad == 0, "%s gemm_t n=%d k=%d pos=%zu%s, padded rows, bias, relu, residual, "
               "nth 1..3: ref's bits (%zu of 12 differ)", name, n, k, n_pos,
               mode ? " 7-bit" : "", bad);
            /* SILU against the bias-only output (the ref's: the same on every level) */
            {
                struct rvt_qgemm_args g0 = g;
                g0.out = lin;
                for (i = 0; i < len; i++)
                    lin[i] = got[i] = want[i] = NAN;
                r0->gemm_t(&g0, 0, 1);
                g0.act = RVT_QACT_SILU;
                g0.out = got;
                for (t = 0; t < 2; t++)
                    kr->gemm_t(&g0, t, 2);
                g0.res = res;
                g0.out = want;
                for (t = 0; t < 3; t++)
                    kr->gemm_t(&g0, t, 3);
                bad = 0;
                for (i = 0; i < n_pos; i++) {
                    size_t q = i + i / ROW_W * SKIP;
                    for (o = 0; o < n; o++) {
                        float x = lin[q * ldo + o], y = got[q * ldo + o];
                        float yr = y + res[i * ldr + o], wr = want[q * ldo + o];
                        double e = (double)x / (1.0 + exp(-(double)x));
                        if (levels[li] == RVT_ISA_REF) {
                            float s = x / (1.0f + expf(-x));
                            far += memcmp(&s, &y, sizeof(float)) != 0;
                        } else if (!(fabs(y - e) <= 3.1e-6 * fabs(e) + 1e-30)) {
                            far++;
                        }
                        bad += memcmp(&yr, &wr, sizeof(float)) != 0;
                    }
                }
                for (i = 0; i < len; i++) /* the gaps: untouched */
                    bad += isnan(lin[i]) != isnan(got[i]) || isnan(lin[i]) != isnan(want[i]);
                OK(far == 0 && bad == 0,
                   "%s gemm_t n=%d k=%d pos=%zu%s SiLU: %s (%zu far); + residual: its bits "
                   "plus the residual (%zu differ)", name, n, k, n_pos, mode ? " 7-bit" : "",
                   levels[li] == RVT_ISA_REF ? "libm's, bit for bit" : "within 3.1e-6", far, bad);
            }
        }
        problem_free(&p);
        free(want), free(got), free(lin), free(res);
    }
}

/* pack_rows and quant_rows (channels-last input) against pack_planes and quant_cols of
 * the ref level on the same matrix transposed: the same bytes, maps bit for bit. */
static void test_rows(void)
{
    static const int ks[] = {1, 3, 4, 5, 16, 17, 33, 40, 48, 96};
    static const size_t ns[] = {1, 15, 16, 17, 49};
    static const size_t p0s[] = {0, 5, 16, 37};
    const struct rvt_qgemm_kernels *r0 = rvt_qgemm_kernels_for(RVT_ISA_REF);
    enum { K = 96, N = 49, LDX = K + 3 };
    float *xc = malloc(sizeof(float) * K * N), *xt = malloc(sizeof(float) * N * LDX);
    float sc0[N], sc1[N];
    int32_t z0[N], z1[N];
    size_t cap = rvt_qx_bytes(N + 37, K), i, j;
    uint8_t *q0 = xalloc64(cap), *q = xalloc64(cap);
    int li, a, b, c;

    for (i = 0; i < (size_t)K * N; i++)
        xc[i] = rndf() * (float)(1 + i % 5);
    for (c = 0; c < K; c++) {
        xc[c * N + 3] = 0.0f;                      /* all-zero position */
        xc[c * N + 4] = 1.0f + (float)c;           /* positive only */
        xc[c * N + 5] = c == 1 ? -0.0f : 0.0f;     /* signed zeros */
        xc[c * N + 6] = 0.5f / 20.0f * (float)(c % 3); /* ties under inv 20 */
    }
    xc[2 * N + 7] = NAN;
    xc[40 * N + 8] = INFINITY;
    xc[95 * N + 9] = -INFINITY;
    xc[33 * N + 48] = NAN;
    for (i = 0; i < N; i++)
        for (j = 0; j < LDX; j++)
            xt[i * LDX + j] = j < K ? xc[j * N + i] : 1e9f; /* past the row: never read */
    for (li = 0; li < (int)RVT_ARRAY_SIZE(levels); li++) {
        const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
        size_t bad = 0, bad_maps = 0, cases = 0;
        if (!kr)
            continue;
        for (a = 0; a < (int)RVT_ARRAY_SIZE(ks); a++)
            for (b = 0; b < (int)RVT_ARRAY_SIZE(ns); b++)
                for (c = 0; c < (int)RVT_ARRAY_SIZE(p0s); c++) {
                    int kk = ks[a], kp = rvt_qgemm_k_pad(kk);
                    size_t nn = ns[b];
                    cases++;
                    memset(q0, 0xaa, cap);
                    memset(q, 0xaa, cap);
                    r0->quant_cols(xc, kk, nn, N, sc0, z0, q0, p0s[c], kp);
                    kr->quant_rows(xt, kk, nn, LDX, sc1, z1, q, p0s[c], kp, NULL);
                    bad += memcmp(q0, q, cap) != 0;
                    for (j = 0; j < nn; j++)
                        if ((isnan(sc0[j]) != isnan(sc1[j])) ||
                            (!isnan(sc0[j]) && sc0[j] != sc1[j]) || z0[j] != z1[j]) {
                            bad_maps++;
                            break;
                        }
                    memset(q0, 0xaa, cap);
                    memset(q, 0xaa, cap);
                    r0->pack_planes(xc, kk, nn, N, 20.0f, 71, q0, p0s[c], kp);
                    kr->pack_rows(xt, kk, nn, LDX, 20.0f, 71, q, p0s[c], kp, NULL);
                    bad += memcmp(q0, q, cap) != 0;
                }
        OK(bad == 0 && bad_maps == 0,
           "%s quant_rows and pack_rows = ref quant_cols and pack_planes transposed "
           "(%zu of %zu byte sets, %zu map sets differ)",
           rvt_isa_name(levels[li]), bad, 2 * cases, bad_maps);
    }
    {
        /* an input scale (ks) fused into quant_rows and pack_rows = the rows scaled first
         * (one float multiply each), bit for bit, on every level */
        float *xs = malloc(sizeof(float) * N * LDX), ksv[K];
        for (j = 0; j < K; j++)
            ksv[j] = j == 7 ? 0.0f : j == 8 ? -2.0f : 0.5f + rndf();
        for (i = 0; i < N; i++)
            for (j = 0; j < LDX; j++)
                xs[i * LDX + j] = j < K ? xt[i * LDX + j] * ksv[j] : 1e9f;
        for (li = 0; li < (int)RVT_ARRAY_SIZE(levels); li++) {
            const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
            size_t bad = 0;
            if (!kr)
                continue;
            for (a = 0; a < (int)RVT_ARRAY_SIZE(ks); a++)
                for (c = 0; c < 2; c++) {
                    int kk = ks[a], kp = rvt_qgemm_k_pad(kk);
                    memset(q0, 0xaa, cap);
                    memset(q, 0xaa, cap);
                    r0->quant_rows(xs, kk, N, LDX, sc0, z0, q0, p0s[c], kp, NULL);
                    kr->quant_rows(xt, kk, N, LDX, sc1, z1, q, p0s[c], kp, ksv);
                    bad += memcmp(q0, q, cap) != 0;
                    for (j = 0; j < N; j++)
                        if ((isnan(sc0[j]) != isnan(sc1[j])) ||
                            (!isnan(sc0[j]) && sc0[j] != sc1[j]) || z0[j] != z1[j]) {
                            bad++;
                            break;
                        }
                    memset(q0, 0xaa, cap);
                    memset(q, 0xaa, cap);
                    r0->pack_rows(xs, kk, N, LDX, 20.0f, 71, q0, p0s[c], kp, NULL);
                    kr->pack_rows(xt, kk, N, LDX, 20.0f, 71, q, p0s[c], kp, ksv);
                    bad += memcmp(q0, q, cap) != 0;
                }
            OK(bad == 0, "%s quant_rows and pack_rows with an input scale = on the scaled rows "
               "(%zu differ)", rvt_isa_name(levels[li]), bad);
        }
        free(xs);
    }
    free(xc);
    free(xt);
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

    ret = rvt_quant_weights(w, 3, 5, 8, q, s, &nz, &err);
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
    ret = rvt_quant_weights(w, 3, 5, 8, q, s, &nz, &err);
    OK(ret == RVT_EINVAL && strstr(err.msg, "channel 1 of 3 has a nan weight at column 2"),
       "NaN weight is an error: %s", err.msg);
    w[7] = -INFINITY;
    ret = rvt_quant_weights(w, 3, 5, 8, q, s, &nz, &err);
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
        /* dynamic quantization of 3 planes of 37 values (plane stride 40) */
        float x[3 * 40];
        size_t xb = rvt_qx_bytes(37, 3);
        uint8_t *qa = xalloc64(xb);
        int c;
        for (i = 0; i < 3 * 40; i++)
            x[i] = rndf() * 5.0f - 1.0f;
        x[40 + 3] = 0.0f;
        rvt_qx_clear_tail(qa, 37, 3);
        ret = rvt_quant_planes(NULL, x, 3, 37, 40, qa, 0, 4, &p, &err);
        for (c = 0; c < 3; c++)
            for (i = 0; i < 37; i++) {
                uint8_t v = qa[rvti_qx_index((size_t)i, c, 4)];
                if (fabsf(x[c * 40 + i] - p.scale * (v - p.zero)) > p.scale * 0.5f * (1 + 1e-5f))
                    break;
            }
        OK(ret == 0 && c == 3 && qa[rvti_qx_index(3, 1, 4)] == p.zero && qa[3] == 0 &&
               qa[rvti_qx_index(47, 0, 4)] == 0,
           "quant_planes: 0 exact, round trip within scale/2, k and position padding 0");
        x[2 * 40 + 36] = NAN;
        OK(rvt_quant_planes(NULL, x, 3, 37, 40, qa, 0, 4, &p, &err) == RVT_EINVAL,
           "quant_planes: NaN refused (%s)", err.msg);
        x[2 * 40 + 36] = 0.0f;
        x[2 * 40 + 38] = NAN; /* between planes: not part of the tensor */
        OK(rvt_quant_planes(NULL, x, 3, 37, 40, qa, 0, 4, &p, &err) == 0,
           "quant_planes: values between planes are not read");
        free(qa);
    }
}

static void test_weights_errors(void)
{
    struct rvt_qweights m;
    struct rvt_error err = {0};
    int8_t b[10] = {1, 2, 3, -128, 0, 0, 0, 0, 0, 5};
    float s[2] = {1, 1};

    rvt_qweights_init(&m);
    OK(rvt_qweights_set(&m, b, s, 2, 5, &err) == RVT_EINVAL && strstr(err.msg, "-128"),
       "weights refuse -128: %s", err.msg);
    b[3] = 0;
    s[1] = NAN;
    OK(rvt_qweights_set(&m, b, s, 2, 5, &err) == RVT_EINVAL, "weights refuse a NaN scale: %s",
       err.msg);
    s[1] = -0.5f; /* a folded BatchNorm with negative gamma */
    OK(rvt_qweights_set(&m, b, s, 1, RVT_QGEMM_MAX_K + 1, &err) == RVT_EINVAL,
       "weights refuse k > RVT_QGEMM_MAX_K");
    OK(rvt_qweights_set(&m, b, s, 2, 5, &err) == 0 && m.k_pad == 8 && m.wsum[0] == 6 &&
           m.wsum[1] == 5 && m.w[5] == 0 && m.w[8 + 4] == 5,
       "weights: rows padded to k_pad with 0, row sums");
    rvt_qweights_release(&m);
}

/*
 * A dense layer against its float product.  With w = s_w q_w + e_w (|e_w| <= s_w / 2)
 * and x = s_x (q_x - z) + e_x (|e_x| <= s_x / 2) the exact quantized product differs
 * from sum w x by at most sum_i (|w_i| s_x / 2 + |x_i| s_w / 2 + s_w s_x / 4); the float
 * epilogue adds a few 2^-24 relative roundings of values of that size (1e-5 covers them).
 * s_x is the column's own step (dynamic) or the layer's (static).
 */
static size_t qdense_far(const float *w, const float *sw, const float *x, const float *y, int no,
                         int ni, int nc, int ldx, int ldy, const float *col_step)
{
    size_t far = 0;
    int o, i, j;
    for (o = 0; o < no; o++)
        for (j = 0; j < nc; j++) {
            double ref = 0, bound = 0, sx = col_step[j];
            for (i = 0; i < ni; i++) {
                ref += (double)w[o * ni + i] * x[i * ldx + j];
                bound += fabs(w[o * ni + i]) * sx / 2 + fabs(x[i * ldx + j]) * fabs(sw[o]) / 2 +
                         fabs(sw[o]) * sx / 4;
            }
            if (!(fabs(y[o * ldy + j] - ref) <= bound * (1 + 1e-5) + 1e-5 * fabs(ref)))
                far++;
        }
    return far;
}

struct post_log {
    float *y;
    size_t ldy;
    unsigned char seen[64][64];
    size_t next[64];
    bool ok;
};

/* Checks the run is where it says and in order, then adds 1 (the caller's "bias"). */
static void post_check(void *ctx, int o, size_t p, float *y, size_t n)
{
    struct post_log *pl = ctx;
    size_t j;
    pl->ok &= y == pl->y + (size_t)o * pl->ldy + p && p == pl->next[o];
    pl->next[o] = p + n;
    for (j = 0; j < n; j++) {
        pl->seen[o][p + j]++;
        y[j] += 1.0f;
    }
}

static void test_qdense(void)
{
    enum { NO = 37, NI = 45, NC = 29, LDX = 31, LDY = 33 };
    float *w = malloc(sizeof(float) * NO * NI), *x = malloc(sizeof(float) * NI * LDX);
    float *y = malloc(sizeof(float) * NO * LDY), *y2 = malloc(sizeof(float) * NO * LDY);
    float sw[NO], step[NC], step_t[NC];
    int8_t *wq = malloc(NO * NI);
    struct rvt_qdense *q = NULL, *qs = NULL;
    struct rvt_error err = {0};
    struct rvt_qparams xq;
    float lo = INFINITY, hi = -INFINITY, range[2];
    size_t far, nan = 0, fin = 0;
    char *scratch = malloc(rvt_qdense_scratch(NI, NC) + 3);
    int o, i, j, ret;

    for (i = 0; i < NO * NI; i++)
        w[i] = rndf() * 0.2f;
    for (i = 0; i < NI; i++)
        w[3 * NI + i] = 0.0f; /* an all-zero output channel */
    for (i = 0; i < NI * LDX; i++)
        x[i] = (rndf() * 4.0f + 1.0f) * (float)(1 + i % LDX); /* column ranges differ */
    for (j = 0; j < NC; j++) {
        float cl = INFINITY, ch = -INFINITY;
        for (i = 0; i < NI; i++) {
            cl = fminf(cl, x[i * LDX + j]);
            ch = fmaxf(ch, x[i * LDX + j]);
        }
        rvt_quant_params(cl, ch, &xq, &err);
        step[j] = xq.scale;
        lo = fminf(lo, cl);
        hi = fmaxf(hi, ch);
    }
    rvt_quant_params(lo, hi, &xq, &err);
    for (j = 0; j < NC; j++)
        step_t[j] = xq.scale;
    OK(rvt_quant_weights(w, NO, NI, 8, wq, sw, NULL, &err) == 0, "qdense: weights quantized");
    sw[5] = -sw[5]; /* a folded BatchNorm with negative gamma flips the channel */
    for (i = 0; i < NI; i++)
        w[5 * NI + i] = -w[5 * NI + i];
    ret = rvt_qdense_new(&q, wq, sw, NO, NI, NULL, &err);
    OK(ret == 0, "qdense_new dynamic (%s)", err.msg);
    ret = rvt_qdense_forward(q, x, LDX, y, LDY, NC, scratch + 3, NULL, NULL); /* misaligned scratch */
    far = qdense_far(w, sw, x, y, NO, NI, NC, LDX, LDY, step);
    OK(ret == 0 && far == 0, "qdense dynamic (per column) within the rounding bound (%zu outside)",
       far);
    OK(y[3 * LDY] == 0.0f && y[3 * LDY + NC - 1] == 0.0f, "all-zero channel gives 0");

    /* static range: one map for the tensor, a wider step */
    range[0] = lo;
    range[1] = hi;
    ret = rvt_qdense_new(&qs, wq, sw, NO, NI, range, &err);
    OK(ret == 0 && rvt_qdense_forward(qs, x, LDX, y2, LDY, NC, scratch, NULL, NULL) == 0, "qdense_new static");
    far = qdense_far(w, sw, x, y2, NO, NI, NC, LDX, LDY, step_t);
    OK(far == 0, "qdense static within the per-tensor rounding bound (%zu outside)", far);
    /* outside a static range values clamp: a larger value changes nothing */
    x[0] = hi * 4;
    rvt_qdense_forward(qs, x, LDX, y, LDY, NC, scratch, NULL, NULL);
    x[0] = hi;
    rvt_qdense_forward(qs, x, LDX, y2, LDY, NC, scratch, NULL, NULL);
    OK(y[0] == y2[0] && y[LDY] == y2[LDY], "static range clamps larger values");
    rvt_qdense_free(qs);
    qs = NULL;
    range[0] = 1.0f;
    range[1] = -1.0f;
    OK(rvt_qdense_new(&qs, wq, sw, NO, NI, range, &err) == RVT_EINVAL && !qs,
       "empty static range refused: %s", err.msg);

    /* NaN in a column: that column's outputs NaN, the others finite, and an error code */
    x[7 * LDX + 5] = NAN;
    x[9 * LDX + 11] = INFINITY;
    ret = rvt_qdense_forward(q, x, LDX, y, LDY, NC, scratch, NULL, NULL);
    for (o = 0; o < NO; o++)
        for (j = 0; j < NC; j++) {
            nan += (j == 5 || j == 11) && isnan(y[o * LDY + j]);
            fin += j != 5 && j != 11 && isfinite(y[o * LDY + j]);
        }
    OK(ret == RVT_EINVAL && nan == 2 * NO && fin == (size_t)NO * (NC - 2),
       "NaN/Inf in a column: its outputs NaN, the others finite, RVT_EINVAL");
    x[7 * LDX + 5] = 0.0f;
    x[9 * LDX + 11] = 0.0f;
    /* a single column (a Linear layer of one clip) */
    OK(rvt_qdense_forward(q, x, LDX, y, LDY, 1, scratch, NULL, NULL) == 0 && !isnan(y[0]), "one column");

    /* post: every output once, in runs of consecutive positions, values final */
    {
        struct post_log pl = {.y = y2, .ldy = LDY, .ok = true};
        memset(pl.seen, 0, sizeof(pl.seen));
        rvt_qdense_forward(q, x, LDX, y, LDY, NC, scratch, NULL, NULL);
        rvt_qdense_forward(q, x, LDX, y2, LDY, NC, scratch, post_check, &pl);
        for (o = 0; o < NO; o++)
            for (j = 0; j < NC; j++)
                pl.ok &= pl.seen[o][j] == 1 && y2[o * LDY + j] == y[o * LDY + j] + 1.0f;
        OK(pl.ok, "post: every output seen once, in order, after it was final (level %s)",
           rvt_isa_name(rvt_qgemm_kernels()->isa));
    }
    rvt_qdense_free(q);
    rvt_qdense_free(NULL);
    free(w);
    free(x);
    free(y);
    free(y2);
    free(wq);
    free(scratch);
}

static void test_qcalib(void)
{
    char *keys[3] = {"b.weight", "a.weight", "never.weight"};
    struct rvt_qcalib *c = NULL;
    struct rvt_error err = {0};
    const struct rvt_quantize_range *r = NULL;
    float *x = malloc(sizeof(float) * 2 * 5000);
    int n = 0, i, pass;

    /* 10000 values: 0..9998 and one outlier */
    for (i = 0; i < 10000; i++)
        x[i] = (float)i;
    x[9999] = 1e6f;
    OK(rvt_qcalib_new(&c, keys, 3, RVT_QCALIB_MINMAX, 0, &err) == 0, "qcalib minmax");
    rvt_qcalib_observe(c, "a.weight", x, 2, 4000, 5000); /* not all of each plane */
    rvt_qcalib_observe(c, "b.weight", x, 1, 10, 10);
    rvt_qcalib_observe(c, "other.weight", x, 1, 10, 10);
    OK(rvt_qcalib_ranges(c, &r, &n, &err) == RVT_EINVAL && strstr(err.msg, "never.weight"),
       "a layer never observed is an error: %s", err.msg);
    rvt_qcalib_observe(c, "never.weight", x + 5, 1, 3, 3);
    pass = rvt_qcalib_ranges(c, &r, &n, &err);
    OK(pass == 0 && n == 3 && !strcmp(r[0].key, "a.weight") &&
           r[0].lo == 0 && r[0].hi == 8999 && r[1].lo == 0 && r[1].hi == 9 && r[2].lo == 5 &&
           r[2].hi == 7,
       "minmax ranges per key (planes, strides)");
    rvt_qcalib_free(&c);
    rvt_qcalib_free(&c);

    OK(rvt_qcalib_new(&c, keys, 1, RVT_QCALIB_PERCENTILE, 40, &err) == RVT_EINVAL,
       "percentile 40 refused: %s", err.msg);
    OK(rvt_qcalib_new(&c, keys, 1, RVT_QCALIB_PERCENTILE, 99.9, &err) == 0 &&
           rvt_qcalib_passes(c) == 2,
       "qcalib percentile: two passes");
    for (pass = 0; pass < 2; pass++) {
        rvt_qcalib_begin_pass(c, pass);
        rvt_qcalib_observe(c, "b.weight", x, 1, 10000, 10000);
    }
    /* the 99.9th percentile of 0..9998 + 1e6 is ~9989; the bins are 1e6 / 4096 wide */
    pass = rvt_qcalib_ranges(c, &r, &n, &err);
    OK(pass == 0 && r[0].lo == 0 && r[0].hi >= 9989.0f && r[0].hi <= 9989.0f + 1e6f / 4096,
       "percentile 99.9 drops the outlier: [%g, %g]", (double)r[0].lo, (double)r[0].hi);
    rvt_qcalib_free(&c);

    OK(rvt_qcalib_new(&c, keys, 1, RVT_QCALIB_MINMAX, 0, &err) == 0, "qcalib NaN");
    x[3] = NAN;
    rvt_qcalib_observe(c, "b.weight", x, 1, 10, 10);
    OK(rvt_qcalib_ranges(c, &r, &n, &err) == RVT_EINVAL && strstr(err.msg, "NaN"),
       "NaN seen is an error: %s", err.msg);
    rvt_qcalib_free(&c);
    free(x);
}

/* Timings, not a test (it checks nothing): `test_qgemm time`, run by scripts/bench-kernels. */
static void bench(void)
{
    /* a 1x1 convolution of EfficientNet-B0's 14x14 stage (672 -> 112) over 8 samples */
    const int n = 112, k = 672, reps = 5;
    const size_t hw = 196, n_pos = 8 * hw;
    struct problem p;
    float *out = malloc(sizeof(float) * n * n_pos);
    float *fa = malloc(sizeof(float) * n * k), *fb = malloc(sizeof(float) * n_pos * k);
    double t, ops = 2.0 * n * k * n_pos;
    size_t i;
    int li, r;

    rng = 12345;
    rvt_blas_set_threads(1);
    problem_make(&p, n, k, n_pos, hw, 0);
    for (li = 0; li < (int)RVT_ARRAY_SIZE(levels); li++) {
        const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_for(levels[li]);
        struct rvt_qgemm_args g = {.w = &p.q, .xp = p.xp, .n_pos = n_pos, .out = out,
                                   .group = hw, .out_cs = hw, .out_gs = n * hw,
                                   .x_scale = p.x_scale, .x_zero = p.x_zero, .bias = p.bias};
        int nr = li == 0 ? 1 : reps;
        if (!kr)
            continue;
        kr->gemm(&g, 0, 1);
        t = now_s();
        for (r = 0; r < nr; r++)
            kr->gemm(&g, 0, 1);
        t = (now_s() - t) / nr;
        printf("# timing qgemm %-16s n=%d k=%d pos=%zu 1 thread: %8.3f ms %7.1f GOPS\n",
               rvt_isa_name(levels[li]), n, k, n_pos, t * 1e3, ops / t * 1e-9);
    }
    for (i = 0; i < (size_t)n * k; i++)
        fa[i] = rndf();
    for (i = 0; i < n_pos * k; i++)
        fb[i] = rndf();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, (int)hw, k, 1.0f, fa, k, fb, (int)hw,
                0.0f, out, (int)hw);
    t = now_s();
    for (r = 0; r < reps; r++)
        for (i = 0; i < n_pos / hw; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, (int)hw, k, 1.0f, fa, k,
                        fb + i * hw * k, (int)hw, 0.0f, out + i * hw * n, (int)hw);
    t = (now_s() - t) / reps;
    printf("# timing sgemm (OpenBLAS %s, same shape, for scale) 1 thread: %8.3f ms %7.1f GFLOPS\n",
           rvt_blas_corename(), t * 1e3, ops / t * 1e-9);
    problem_free(&p);
    free(out);
    free(fa);
    free(fb);
}

/*
 * The int8 expand of a channels-last block fused with the padded copy (qdense.h
 * rvt_qdense_forward_yt_act_par): bias + SiLU in gemm_t's epilogue, stored inside a
 * padded map, leaving the borders alone.  The portable epilogue must give the bits of
 * the raw gemm_t followed by the portable pad_act_cl (its libm SiLU); a SIMD one, whose
 * SiLU is its level's (nn/ops.h RVT_NN_ACT_SILU_Q: AVX-512's and AVX2's faster ones),
 * must match SiLU(raw + bias) in double within 3.1e-6 relative, over inputs that
 * reach |v| ~ 40, plus the float rounding of v itself, which SiLU's relative
 * sensitivity (1 + v (1 - sigmoid(v)), ~|v| for v << 0) magnifies.
 */
static void test_yt_pad(void)
{
    enum { NO = 48, NI = 37, H = 5, W = 7, PAD = 2, HP = H + 2 * PAD, WP = W + 2 * PAD };
    /* the SIMD levels' SiLU is their own (qgemm.h RVT_QACT_SILU) */
    const bool simd = rvt_qgemm_kernels()->isa != RVT_ISA_REF;
    rvt_nn_pad_act_cl_fn pad_act = rvt_nn_pad_act_cl_ref;
    float *w = malloc(sizeof(float) * NO * NI), *x = malloc(sizeof(float) * NI * H * W);
    float *raw = malloc(sizeof(float) * H * W * NO), *want = malloc(sizeof(float) * HP * WP * NO);
    float *got = calloc(HP * WP * NO, sizeof(float)), sw[NO], bias[NO];
    int8_t *wq = malloc(NO * NI);
    struct rvt_qdense *q = NULL;
    struct rvt_error err = {0};
    char *scratch = malloc(rvt_qdense_scratch(NI, H * W));
    int i, ret;

    for (i = 0; i < NO * NI; i++)
        w[i] = rndf() * 0.3f;
    for (i = 0; i < NI * H * W; i++)
        x[i] = rndf() * 3.0f * (float)(1 + i % 7);
    for (i = 0; i < NO; i++)
        bias[i] = rndf();
    rvt_quant_weights(w, NO, NI, 8, wq, sw, NULL, &err);
    ret = rvt_qdense_new(&q, wq, sw, NO, NI, NULL, &err);
    OK(ret == 0, "yt_pad: qdense_new");
    if (ret == 0) {
        int bad = 0;
        float big = 0;
        rvt_qdense_forward_yt(q, x, H * W, raw, NO, H * W, scratch);
        pad_act(raw, H, W, NO, 0, NO, PAD, bias, RVT_NN_ACT_SILU, want);
        rvt_qdense_forward_yt_act_par(q, x, H * W, false, NULL, got + ((size_t)PAD * WP + PAD) * NO, NO, H * W,
                                      bias, RVT_QACT_SILU, W, 2 * PAD, NULL, 0, scratch, NULL);
        if (simd) {
            for (i = 0; i < HP * WP * NO; i++) {
                int p = i / NO, yy = p / WP - PAD, xx = p % WP - PAD, o = i % NO;
                bool in = yy >= 0 && yy < H && xx >= 0 && xx < W;
                double v = in ? (double)raw[((size_t)yy * W + xx) * NO + o] + bias[o] : 0;
                double e = in ? v / (1 + exp(-v)) : 0;
                big = fmaxf(big, (float)fabs(v));
                if (in ? !(fabs(got[i] - e) <= (3.1e-6 + 1.2e-7 * (1 + fabs(v))) * fabs(e) + 1e-30)
                       : got[i] != 0.0f)
                    bad++;
            }
            OK(!bad && big > 30,
               "yt_pad %s: bias + SiLU fused into gemm_t, stored inside the padded map = "
               "SiLU(gemm_t + bias) within 3.1e-6 relative (|v| up to %.1f), borders untouched: "
               "%d bad",
               rvt_isa_name(rvt_qgemm_kernels()->isa), big, bad);
        } else {
            OK(!memcmp(got, want, sizeof(float) * HP * WP * NO),
               "yt_pad %s: bias + SiLU fused into gemm_t, stored inside the padded map = gemm_t + "
               "pad_act_cl, bit for bit, borders untouched",
               rvt_isa_name(rvt_qgemm_kernels()->isa));
        }
    }
    rvt_qdense_free(q);
    free(w), free(x), free(raw), free(want), free(got), free(wq), free(scratch);
}

int main(int argc, char **argv)
{
    /* n (output channels), k, positions, positions per sample */
    static const struct { int n, k; size_t pos, group; } shapes[] = {
        {1, 1, 1, 1},      {1, 5, 17, 17},    {7, 5, 17, 17},    {13, 37, 33, 33},
        {6, 64, 64, 64},   {48, 16, 5, 5},    {19, 21, 80, 80},  {65, 131, 129, 43},
        {512, 1344, 2, 1}, {7, 1152, 3, 1},   {24, 96, 147, 49}, {40, 9, 100, 100},
    };
    size_t i;

    rvt_blas_fix_coretype(argv);
    if (argc == 2 && !strcmp(argv[1], "time")) { /* scripts/bench-kernels: timings only, no checks */
        printf("# kernel level: %s\n", rvt_isa_name(rvt_qgemm_kernels()->isa));
        bench();
        return 0;
    }
    printf("# kernel level: %s\n", rvt_isa_name(rvt_qgemm_kernels()->isa));
    OK(rvt_qgemm_kernels()->isa == rvt_cpu_isa(), "dispatch picks rvt_cpu_isa()");
    for (i = 0; i < RVT_ARRAY_SIZE(shapes); i++)
        test_shape(shapes[i].n, shapes[i].k, shapes[i].pos, shapes[i].group, 0);
    /* 255 * 127 everywhere: vpmaddubsw would saturate at 32767 per pair, int32 must not */
    test_shape(18, 4099, 7, 7, 1);
    /* gemm_t's float zero-point fold is exact up to k_pad 516 (sums below 2^24): both
     * sides of that edge, sums at their largest */
    test_shape(18, 516, 7, 1, 1);
    test_shape(33, 513, 13, 1, 1);
    test_shape(18, 520, 7, 1, 1);
    /* 7-bit weights at +-64 against 255: AVX2's vpmaddubsw pairs at 32640, the most
     * int16 holds without saturating */
    test_shape(18, 516, 7, 1, 3);
    test_shape(21, 1030, 9, 1, 3);
    test_gemm_t();
    test_pack();
    test_rows();
    test_quant();
    test_weights_errors();
    test_qdense();
    test_yt_pad();
    test_qcalib();
    return tap_done();
}
