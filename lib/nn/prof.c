/* prof.c: the kernel timing of prof.h. */
#include "core/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/ops.h"
#include "nn/prof.h"
#include "nn/qgemm.h"
#include "nn/sgemm.h"

#define PROF_RECORDS 1024
#define SHAPE_MAX 64

struct record {
    const char *kind;
    uint32_t hash; /* of shape */
    char shape[SHAPE_MAX];
    double seconds, flop;
    long calls;
};

static atomic_bool g_on;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct record g_rec[PROF_RECORDS];
static int g_n, g_dropped;

void rvt_nn_prof_start(void)
{
    pthread_mutex_lock(&g_mu);
    g_n = g_dropped = 0;
    pthread_mutex_unlock(&g_mu);
    atomic_store(&g_on, true);
}

void rvt_nn_prof_stop(void)
{
    atomic_store(&g_on, false);
}

bool rvt_nn_prof_on(void)
{
    return atomic_load_explicit(&g_on, memory_order_relaxed);
}

void rvt_nn_prof_add(const char *kind, const char *shape, double seconds, int calls, double flop)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    const char *c;
    int i;

    for (c = shape; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    pthread_mutex_lock(&g_mu);
    for (i = 0; i < g_n; i++)
        if (g_rec[i].hash == h && g_rec[i].kind == kind && !strcmp(g_rec[i].shape, shape))
            break;
    if (i == g_n) {
        if (g_n == PROF_RECORDS) {
            g_dropped++;
            pthread_mutex_unlock(&g_mu);
            return;
        }
        g_rec[i] = (struct record){.kind = kind, .hash = h};
        snprintf(g_rec[i].shape, sizeof(g_rec[i].shape), "%s", shape);
        g_n++;
    }
    g_rec[i].seconds += seconds;
    g_rec[i].calls += calls;
    g_rec[i].flop += flop;
    pthread_mutex_unlock(&g_mu);
}

static int by_time(const void *a, const void *b)
{
    const struct record *x = a, *y = b;

    if (x->seconds != y->seconds)
        return x->seconds < y->seconds ? 1 : -1;
    return strcmp(x->kind, y->kind) ? strcmp(x->kind, y->kind) : strcmp(x->shape, y->shape);
}

int rvt_nn_prof_write(FILE *f, double clips, double *total_ms, struct rvt_error *err)
{
    double total = 0, flop = 0;
    int i;

    pthread_mutex_lock(&g_mu);
    qsort(g_rec, (size_t)g_n, sizeof(g_rec[0]), by_time);
    for (i = 0; i < g_n; i++) {
        total += g_rec[i].seconds;
        flop += g_rec[i].flop;
    }
    fprintf(f, "kernel,shape,calls_per_clip,ms_per_clip,share,gflop_s\n");
    for (i = 0; i < g_n; i++) {
        const struct record *r = &g_rec[i];
        fprintf(f, "%s,%s,%.2f,%.4f,%.4f,%.2f\n", r->kind, r->shape, (double)r->calls / clips,
                r->seconds * 1e3 / clips, total > 0 ? r->seconds / total : 0,
                r->seconds > 0 ? r->flop / r->seconds * 1e-9 : 0);
    }
    fprintf(f, "total,%d records%s,,%.4f,1.0000,%.2f\n", g_n, g_dropped ? " (some dropped)" : "",
            total * 1e3 / clips, total > 0 ? flop / total * 1e-9 : 0);
    pthread_mutex_unlock(&g_mu);
    if (total_ms)
        *total_ms = total * 1e3 / clips;
    if (fflush(f) || ferror(f))
        return rvt_error_set(err, RVT_EIO, "cannot write the profile");
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- sgemm ---- */

static _Atomic(const struct rvt_sgemm_kernels *) s_base;

static void sgemm_shape(char *s, const struct rvt_sgemm_args *g)
{
    snprintf(s, SHAPE_MAX, "k=%d n=%d pos=%zu %s", g->k, g->n, g->n_pos, rvt_nn_act_name(g->act));
}

static void prof_gemm(const struct rvt_sgemm_args *g, int ith, int nth)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    atomic_load(&s_base)->gemm(g, ith, nth);
    sgemm_shape(shape, g);
    rvt_nn_prof_add("sgemm", shape, now_s() - t0, 1,
                    ith == 0 ? 2.0 * g->k * g->n * (double)g->n_pos : 0);
}

static void prof_gemm_gather(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *x,
                             int ith, int nth)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    atomic_load(&s_base)->gemm_gather(g, x, ith, nth);
    sgemm_shape(shape, g);
    rvt_nn_prof_add("sgemm-gather", shape, now_s() - t0, 1,
                    ith == 0 ? 2.0 * g->k * g->n * (double)g->n_pos : 0);
}

/* a wrapped table for each level (its isa: what --version and the tests ask) */
#define LEVELS(F) {F(RVT_ISA_REF), F(RVT_ISA_AVX2), F(RVT_ISA_AVX512)}

#define SGEMM_TAB(ISA) {ISA, prof_gemm, prof_gemm_gather}
static const struct rvt_sgemm_kernels s_tab[] = LEVELS(SGEMM_TAB);

const struct rvt_sgemm_kernels *rvti_prof_sgemm(const struct rvt_sgemm_kernels *base)
{
    atomic_store(&s_base, base);
    return &s_tab[base->isa];
}

/* ---- qgemm (int8) ---- */

static _Atomic(const struct rvt_qgemm_kernels *) q_base;

static void qgemm_timed(const char *kind, bool t, const struct rvt_qgemm_args *g, int ith, int nth)
{
    const struct rvt_qgemm_kernels *b = atomic_load(&q_base);
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    (t ? b->gemm_t : b->gemm)(g, ith, nth);
    snprintf(shape, sizeof(shape), "k=%d n=%d pos=%zu %s", g->w->k, g->w->n, g->n_pos,
             g->act == RVT_QACT_SILU ? "silu" : g->act == RVT_QACT_RELU ? "relu" : "none");
    rvt_nn_prof_add(kind, shape, now_s() - t0, 1,
                    ith == 0 ? 2.0 * g->w->k * g->w->n * (double)g->n_pos : 0);
}

static void prof_qgemm(const struct rvt_qgemm_args *g, int ith, int nth)
{
    qgemm_timed("qgemm", false, g, ith, nth);
}

static void prof_qgemm_t(const struct rvt_qgemm_args *g, int ith, int nth)
{
    qgemm_timed("qgemm-t", true, g, ith, nth);
}

/* the activations' quantization, one record a kernel and k */
static void quant_add(const char *kind, int k, size_t n, double t0)
{
    char shape[SHAPE_MAX];

    snprintf(shape, sizeof(shape), "k=%d pos=%zu", k, n);
    rvt_nn_prof_add(kind, shape, now_s() - t0, 1, 0);
}

static void prof_minmax(const float *x, size_t n, float *lo, float *hi)
{
    const double t0 = now_s();

    atomic_load(&q_base)->minmax(x, n, lo, hi);
    quant_add("quant-minmax", 0, n, t0);
}

static void prof_pack_planes(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                             int32_t zero, uint8_t *xp, size_t p0, int k_pad)
{
    const double t0 = now_s();

    atomic_load(&q_base)->pack_planes(x, k, n, ldx, inv_scale, zero, xp, p0, k_pad);
    quant_add("quant-pack", k, n, t0);
}

static void prof_quant_cols(const float *x, int k, size_t n, size_t ldx, float *scale,
                            int32_t *zero, uint8_t *xp, size_t p0, int k_pad)
{
    const double t0 = now_s();

    atomic_load(&q_base)->quant_cols(x, k, n, ldx, scale, zero, xp, p0, k_pad);
    quant_add("quant-cols", k, n, t0);
}

static void prof_pack_rows(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                           int32_t zero, uint8_t *xp, size_t p0, int k_pad, const float *ks)
{
    const double t0 = now_s();

    atomic_load(&q_base)->pack_rows(x, k, n, ldx, inv_scale, zero, xp, p0, k_pad, ks);
    quant_add("quant-pack-rows", k, n, t0);
}

static void prof_quant_rows(const float *x, int k, size_t n, size_t ldx, float *scale,
                            int32_t *zero, uint8_t *xp, size_t p0, int k_pad, const float *ks)
{
    const double t0 = now_s();

    atomic_load(&q_base)->quant_rows(x, k, n, ldx, scale, zero, xp, p0, k_pad, ks);
    quant_add("quant-rows", k, n, t0);
}

#define QGEMM_TAB(ISA) \
    {ISA, prof_qgemm, prof_minmax, prof_pack_planes, prof_quant_cols, prof_qgemm_t, \
     prof_pack_rows, prof_quant_rows}
static const struct rvt_qgemm_kernels q_tab[] = LEVELS(QGEMM_TAB);

const struct rvt_qgemm_kernels *rvti_prof_qgemm(const struct rvt_qgemm_kernels *base)
{
    atomic_store(&q_base, base);
    return &q_tab[base->isa];
}

/* ---- nn/ops.h: the convolutions; the cheap entries pass through untimed ---- */

static _Atomic(const struct rvt_nn_kernels *) n_base;

static double prof_dwconv(const float *x, int h, int w, const float *wt, int k, int stride,
                          int pad, float bias, enum rvt_nn_act act, float *y, int oh, int ow,
                          float *scratch)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];
    double r = atomic_load(&n_base)->dwconv(x, h, w, wt, k, stride, pad, bias, act, y, oh, ow,
                                            scratch);

    snprintf(shape, sizeof(shape), "%dx%d k=%d s=%d %s", h, w, k, stride, rvt_nn_act_name(act));
    rvt_nn_prof_add("dwconv-plane", shape, now_s() - t0, 1, 2.0 * k * k * (double)oh * ow);
    return r;
}

static void prof_pad_act_cl(const float *x, int h, int w, int c, int c0, int c1, int pad,
                            const float *bias, enum rvt_nn_act act, float *xp)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    atomic_load(&n_base)->pad_act_cl(x, h, w, c, c0, c1, pad, bias, act, xp);
    snprintf(shape, sizeof(shape), "c=%d %dx%d %s", c, h, w, rvt_nn_act_name(act));
    rvt_nn_prof_add("pad-act", shape, now_s() - t0, 1, 0);
}

/* a layer's calls (banded: a few output rows each) add up under its map width */
static void prof_dwconv_cl(const float *xp, int hp, int wp, int c, int c0, int c1,
                           const float *wt, int k, int stride, const float *bias,
                           enum rvt_nn_act act, float *y, int oh, int ow, float *row_sums)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    atomic_load(&n_base)->dwconv_cl(xp, hp, wp, c, c0, c1, wt, k, stride, bias, act, y, oh, ow,
                                    row_sums);
    snprintf(shape, sizeof(shape), "c=%d width=%d k=%d s=%d %s", c, ow, k, stride,
             rvt_nn_act_name(act));
    rvt_nn_prof_add("dwconv", shape, now_s() - t0, 1,
                    2.0 * k * k * (double)(c1 - c0) * oh * ow);
}

static void prof_plane_conv_pool(const float *x, int h, int w, const float *wt, int k, int stride,
                                 int pad, const float *bias, enum rvt_nn_act act, int c0, int c1,
                                 float *y, float *scratch)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    atomic_load(&n_base)->plane_conv_pool(x, h, w, wt, k, stride, pad, bias, act, c0, c1, y,
                                          scratch);
    snprintf(shape, sizeof(shape), "%dx%d k=%d s=%d %s", h, w, k, stride, rvt_nn_act_name(act));
    rvt_nn_prof_add("conv-pool-plane", shape, now_s() - t0, 1, 0);
}

/* the untimed entries: the level's own */
static void pass_bias_act(float *x, size_t n, float bias, enum rvt_nn_act act, double *sum)
{
    atomic_load(&n_base)->bias_act(x, n, bias, act, sum);
}

static void pass_scale(float *x, size_t n, float s)
{
    atomic_load(&n_base)->scale(x, n, s);
}

static void pass_add(float *y, const float *x, size_t n)
{
    atomic_load(&n_base)->add(y, x, n);
}

static void pass_scale_cl(float *x, size_t n, int c, const float *g)
{
    atomic_load(&n_base)->scale_cl(x, n, c, g);
}

static void pass_sum_rows(const float *rows, int n_rows, int c, double *sums)
{
    atomic_load(&n_base)->sum_rows(rows, n_rows, c, sums);
}

static void pass_maxpool2(const float *x, int c, int h, int w, float *y)
{
    atomic_load(&n_base)->maxpool2(x, c, h, w, y);
}

static void pass_plane_mean(const float *x, int c, size_t n, float *out)
{
    atomic_load(&n_base)->plane_mean(x, c, n, out);
}

static void pass_plane_max(const float *x, int c, size_t n, float *out)
{
    atomic_load(&n_base)->plane_max(x, c, n, out);
}

#define NN_TAB(ISA) \
    {ISA, prof_dwconv, pass_bias_act, pass_scale, pass_add, prof_pad_act_cl, prof_dwconv_cl, \
     pass_scale_cl, pass_sum_rows, pass_maxpool2, prof_plane_conv_pool, pass_plane_mean, \
     pass_plane_max}
static const struct rvt_nn_kernels n_tab[] = LEVELS(NN_TAB);
/* the portable level has no channels-last entries (nn/ops.h): neither has its twin */
static const struct rvt_nn_kernels n_tab_ref = {
    RVT_ISA_REF, prof_dwconv, pass_bias_act, pass_scale, pass_add, NULL, NULL, NULL, NULL,
    pass_maxpool2, prof_plane_conv_pool, pass_plane_mean, pass_plane_max};

const struct rvt_nn_kernels *rvti_prof_nn(const struct rvt_nn_kernels *base)
{
    atomic_store(&n_base, base);
    return base->dwconv_cl ? &n_tab[base->isa] : &n_tab_ref;
}
