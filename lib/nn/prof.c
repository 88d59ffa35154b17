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

static const struct rvt_sgemm_kernels *s_base; /* the level's table, set once */

static void sgemm_shape(char *s, const struct rvt_sgemm_args *g)
{
    snprintf(s, SHAPE_MAX, "k=%d n=%d pos=%zu %s", g->k, g->n, g->n_pos, rvt_nn_act_name(g->act));
}

static void prof_gemm(const struct rvt_sgemm_args *g, int ith, int nth)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    s_base->gemm(g, ith, nth);
    sgemm_shape(shape, g);
    rvt_nn_prof_add("sgemm", shape, now_s() - t0, 1,
                    ith == 0 ? 2.0 * g->k * g->n * (double)g->n_pos : 0);
}

static void prof_gemm_gather(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *x,
                             int ith, int nth)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    s_base->gemm_gather(g, x, ith, nth);
    sgemm_shape(shape, g);
    rvt_nn_prof_add("sgemm-gather", shape, now_s() - t0, 1,
                    ith == 0 ? 2.0 * g->k * g->n * (double)g->n_pos : 0);
}

/* ---- qgemm (int8) ---- */

static const struct rvt_qgemm_kernels *q_base;

static void qgemm_timed(const char *kind, bool t, const struct rvt_qgemm_args *g, int ith, int nth)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    (t ? q_base->gemm_t : q_base->gemm)(g, ith, nth);
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

    q_base->minmax(x, n, lo, hi);
    quant_add("quant-minmax", 0, n, t0);
}

static void prof_pack_planes(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                             int32_t zero, uint8_t *xp, size_t p0, int k_pad)
{
    const double t0 = now_s();

    q_base->pack_planes(x, k, n, ldx, inv_scale, zero, xp, p0, k_pad);
    quant_add("quant-pack", k, n, t0);
}

static void prof_quant_cols(const float *x, int k, size_t n, size_t ldx, float *scale,
                            int32_t *zero, uint8_t *xp, size_t p0, int k_pad)
{
    const double t0 = now_s();

    q_base->quant_cols(x, k, n, ldx, scale, zero, xp, p0, k_pad);
    quant_add("quant-cols", k, n, t0);
}

static void prof_pack_rows(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                           int32_t zero, uint8_t *xp, size_t p0, int k_pad, const float *ks)
{
    const double t0 = now_s();

    q_base->pack_rows(x, k, n, ldx, inv_scale, zero, xp, p0, k_pad, ks);
    quant_add("quant-pack-rows", k, n, t0);
}

static void prof_quant_rows(const float *x, int k, size_t n, size_t ldx, float *scale,
                            int32_t *zero, uint8_t *xp, size_t p0, int k_pad, const float *ks)
{
    const double t0 = now_s();

    q_base->quant_rows(x, k, n, ldx, scale, zero, xp, p0, k_pad, ks);
    quant_add("quant-rows", k, n, t0);
}

/* ---- nn/ops.h: the convolutions ---- */

static const struct rvt_nn_kernels *n_base;

static double prof_dwconv(const float *x, int h, int w, const float *wt, int k, int stride,
                          int pad, float bias, enum rvt_nn_act act, float *y, int oh, int ow,
                          float *scratch)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];
    double r = n_base->dwconv(x, h, w, wt, k, stride, pad, bias, act, y, oh, ow, scratch);

    snprintf(shape, sizeof(shape), "%dx%d k=%d s=%d %s", h, w, k, stride, rvt_nn_act_name(act));
    rvt_nn_prof_add("dwconv-plane", shape, now_s() - t0, 1, 2.0 * k * k * (double)oh * ow);
    return r;
}

static void prof_pad_act_cl(const float *x, int h, int w, int c, int c0, int c1, int pad,
                            const float *bias, enum rvt_nn_act act, float *xp)
{
    const double t0 = now_s();
    char shape[SHAPE_MAX];

    n_base->pad_act_cl(x, h, w, c, c0, c1, pad, bias, act, xp);
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

    n_base->dwconv_cl(xp, hp, wp, c, c0, c1, wt, k, stride, bias, act, y, oh, ow, row_sums);
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

    n_base->plane_conv_pool(x, h, w, wt, k, stride, pad, bias, act, c0, c1, y, scratch);
    snprintf(shape, sizeof(shape), "%dx%d k=%d s=%d %s", h, w, k, stride, rvt_nn_act_name(act));
    rvt_nn_prof_add("conv-pool-plane", shape, now_s() - t0, 1, 0);
}

/* ---- the tables, all three built at the first ask ---- */

/*
 * Each family's timing table, built once: the table of this CPU's level (the
 * dispatcher's choice, which does not change in a process) with its heavy entries
 * replaced by the timing ones, which call the level's.  A NULL entry (the portable
 * level has no channels-last kernels) stays NULL.
 */
#define LEVEL_TABLE(fam) \
    (rvt_##fam##_kernels_for(rvt_cpu_isa()) ? rvt_##fam##_kernels_for(rvt_cpu_isa()) \
                                            : rvt_##fam##_kernels_for(RVT_ISA_REF))
#define TIMED(tab, base, member, fn) ((tab).member = (base)->member ? (fn) : NULL)

static struct rvt_sgemm_kernels s_tab;
static struct rvt_qgemm_kernels q_tab;
static struct rvt_nn_kernels n_tab;
static pthread_once_t tabs_once = PTHREAD_ONCE_INIT;

/* nn's cheap entries (bias_act, scale, sums, pools) stay the level's, untimed */
static void tabs_init(void)
{
    s_base = LEVEL_TABLE(sgemm);
    s_tab = *s_base;
    TIMED(s_tab, s_base, gemm, prof_gemm);
    TIMED(s_tab, s_base, gemm_gather, prof_gemm_gather);

    q_base = LEVEL_TABLE(qgemm);
    q_tab = *q_base;
    TIMED(q_tab, q_base, gemm, prof_qgemm);
    TIMED(q_tab, q_base, minmax, prof_minmax);
    TIMED(q_tab, q_base, pack_planes, prof_pack_planes);
    TIMED(q_tab, q_base, quant_cols, prof_quant_cols);
    TIMED(q_tab, q_base, gemm_t, prof_qgemm_t);
    TIMED(q_tab, q_base, pack_rows, prof_pack_rows);
    TIMED(q_tab, q_base, quant_rows, prof_quant_rows);

    n_base = LEVEL_TABLE(nn);
    n_tab = *n_base;
    TIMED(n_tab, n_base, dwconv, prof_dwconv);
    TIMED(n_tab, n_base, pad_act_cl, prof_pad_act_cl);
    TIMED(n_tab, n_base, dwconv_cl, prof_dwconv_cl);
    TIMED(n_tab, n_base, plane_conv_pool, prof_plane_conv_pool);
}

const struct rvt_sgemm_kernels *rvti_prof_sgemm(void)
{
    pthread_once(&tabs_once, tabs_init);
    return &s_tab;
}

const struct rvt_qgemm_kernels *rvti_prof_qgemm(void)
{
    pthread_once(&tabs_once, tabs_init);
    return &q_tab;
}

const struct rvt_nn_kernels *rvti_prof_nn(void)
{
    pthread_once(&tabs_once, tabs_init);
    return &n_tab;
}
