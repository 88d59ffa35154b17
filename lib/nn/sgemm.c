/* sgemm.c: weight packing, the portable kernel and the dispatch of sgemm.h. */
#include "core/common.h"

#include <math.h>
#include <string.h>

#include "nn/prof.h"
#include "nn/sgemm_internal.h"

void rvt_sgemm_pack(const float *w, int n, int k, float *wt, int o0, int o1)
{
    int n_pad = rvt_sgemm_n_pad(n), o, kk;

    assert(o0 % 16 == 0 && o0 <= o1 && o1 <= n);
    if (o1 == n)
        o1 = n_pad;
    for (o = o0; o < o1; o++) {
        float *d = wt + rvt_sgemm_w_at(o, k);
        const float *row = w + (size_t)o * k;
        if (o >= n) {
            for (kk = 0; kk < k; kk++)
                d[(size_t)kk * 16] = 0.0f;
        } else {
            for (kk = 0; kk < k; kk++)
                d[(size_t)kk * 16] = row[kk];
        }
    }
}

void rvt_sgemm_scale_k(const float *restrict wt, int n, int k, const float *restrict s,
                       float *restrict out, size_t r0, size_t r1)
{
    size_t r;

    (void)n;
    for (r = r0; r < r1; r++) {
        const size_t at = r * 16; /* panel r / k, step r % k */
        const float f = s[r % (size_t)k];
        int j;
        for (j = 0; j < 16; j++)
            out[at + j] = wt[at + j] * f;
    }
}

/* W[o][kk] from the packed layout. */
static inline float wt_at(const struct rvt_sgemm_args *g, int o, int kk)
{
    return g->wt[rvt_sgemm_w_at(o, g->k) + (size_t)kk * 16];
}

/* The epilogue of one output: + bias, the activation, + R, each rounded once. */
static inline float epi1(const struct rvt_sgemm_args *g, float acc, size_t p, int o)
{
    if (g->bias)
        acc = acc + g->bias[o];
    acc = rvt_nn_act1(acc, g->act);
    if (g->res)
        acc = acc + g->res[p * g->ld_res + o];
    return acc;
}

static void gemm_ref(const struct rvt_sgemm_args *g, int ith, int nth)
{
    const struct rvti_sgemm_share s = rvti_sgemm_split_tiles(g, rvti_sgemm_n_tiles(g), ith, nth);
    size_t u, p;
    int o, kk;

    for (u = s.u0; u < s.u1; u++) {
        int ob = (int)(u / s.nt) * RVT_SGEMM_NB, oe = RVT_MIN(g->n, ob + RVT_SGEMM_NB);
        size_t p0 = (s.t0 + u % s.nt) * RVTI_SGEMM_MR, p1 = RVT_MIN(g->n_pos, p0 + RVTI_SGEMM_MR);
        for (p = p0; p < p1; p++) {
            float *y = rvti_sgemm_yrow(g, p);
            for (o = ob; o < oe; o++) {
                float acc = 0.0f;
                for (kk = 0; kk < g->k; kk++)
                    acc = fmaf(g->x[p * g->x_ps + (size_t)kk * g->x_ks], wt_at(g, o, kk), acc);
                y[o] = epi1(g, acc, p, o);
            }
        }
    }
}

static void gemm_gather_ref(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *x,
                            int ith, int nth)
{
    const struct rvti_sgemm_share s =
        rvti_sgemm_split_tiles(g, rvti_sgemm_gather_tiles(g, x->ow), ith, nth);
    size_t u, p, p0;
    int o, kk, mr;

    for (u = s.u0; u < s.u1; u++) {
        int ob = (int)(u / s.nt) * RVT_SGEMM_NB, oe = RVT_MIN(g->n, ob + RVT_SGEMM_NB);
        rvti_sgemm_gather_tile(x->ow, s.t0 + u % s.nt, &p0, &mr);
        for (p = p0; p < p0 + (size_t)mr; p++) {
            const float *xr = rvti_sgemm_gather_x(x, p);
            float *y = rvti_sgemm_yrow(g, p);
            for (o = ob; o < oe; o++) {
                float acc = 0.0f;
                for (kk = 0; kk < g->k; kk++)
                    acc = fmaf(xr[x->off[kk]], wt_at(g, o, kk), acc);
                y[o] = epi1(g, acc, p, o);
            }
        }
    }
}

static const struct rvt_sgemm_kernels kernels_ref = {RVT_ISA_REF, gemm_ref, gemm_gather_ref};

const struct rvt_sgemm_kernels *rvt_sgemm_kernels_for(enum rvt_isa isa)
{
    if (isa > rvt_cpu_isa())
        return NULL;
    switch (isa) {
    case RVT_ISA_REF: return &kernels_ref;
#if defined(__x86_64__) || defined(__i386__)
    case RVT_ISA_AVX2: return &rvti_sgemm_kernels_avx2;
    case RVT_ISA_AVX512: return &rvti_sgemm_kernels_avx512;
#else
    case RVT_ISA_AVX2:
    case RVT_ISA_AVX512: return NULL;
#endif
    }
    return NULL;
}

const struct rvt_sgemm_kernels *rvt_sgemm_kernels(void)
{
    const struct rvt_sgemm_kernels *k = rvt_sgemm_kernels_for(rvt_cpu_isa());
    k = k ? k : &kernels_ref;
    return rvt_nn_prof_on() ? rvti_prof_sgemm() : k;
}
