/*
 * sgemm_avx512.c: sgemm.h's kernel on AVX-512.  A tile is 6 positions x up to 64
 * output channels (4 vectors): 24 accumulators; each k step loads the block's (up to)
 * 4 weight vectors, one from each of its panels (sgemm.h), and broadcasts the 6 positions' inputs, 24 FMAs for 10 loads.  Each
 * lane is one output's chain of FMAs in k order, as gemm_ref computes it, so the
 * products are the same bits; the epilogue adds the bias, applies act512 (the level's
 * activation, x86/act_avx512.h), adds the residual and stores, masked on the last
 * partial vector of a layer.
 */
#include "core/common.h"

#include <immintrin.h>

#include "nn/sgemm_internal.h"
#include "nn/x86/act_avx512.h"

#define MR RVTI_SGEMM_MR

static inline __attribute__((always_inline)) void
tile(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *G, size_t p0, int mr, int ob,
     int NV, int RM)
{
    const int k = g->k;
    const float *wb = g->wt + (size_t)ob * k;
    const float *xr[MR];
    __m512 acc[MR][4];
    int i, j, kk;

#pragma GCC unroll 6
    for (i = 0; i < RM; i++) {
        xr[i] = G ? rvti_sgemm_gather_x(G, p0 + (size_t)i) : g->x + (p0 + (size_t)i) * g->x_ps;
#pragma GCC unroll 4
        for (j = 0; j < NV; j++)
            acc[i][j] = _mm512_setzero_ps();
    }
    /* X(p, kk) at xr[i][xo]: xo = kk (channels-last), kk * x_ks (planar, e.g. im2col),
     * or the tap's offset (a gathered convolution, sgemm.h gemm_gather) */
    for (kk = 0; kk < k; kk++) {
        const float *w = wb + (size_t)kk * 16; /* panel j's step kk at w + j * 16 k */
        const size_t xo = G ? (size_t)G->off[kk] : (size_t)kk * g->x_ks;
        __m512 wv[4];
#pragma GCC unroll 4
        for (j = 0; j < NV; j++)
            wv[j] = _mm512_loadu_ps(w + (size_t)j * 16 * k);
#pragma GCC unroll 6
        for (i = 0; i < RM; i++) {
            __m512 xv = _mm512_set1_ps(xr[i][xo]);
#pragma GCC unroll 4
            for (j = 0; j < NV; j++)
                acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    float *yr[MR];
    rvti_sgemm_yrows(g, p0, mr, yr);
#pragma GCC unroll 6
    for (i = 0; i < mr; i++) {
        size_t p = p0 + (size_t)i;
        float *y = yr[i] + ob;
        const float *r = g->res ? g->res + p * g->ld_res + ob : NULL;
#pragma GCC unroll 4
        for (j = 0; j < NV; j++) {
            int left = g->n - ob - 16 * j;
            __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
            __m512 v = acc[i][j];
            if (g->bias)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, g->bias + ob + 16 * j));
            v = act512(v, g->act);
            if (r)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, r + 16 * j));
            _mm512_mask_storeu_ps(y + 16 * j, m, v);
        }
    }
}

/* RM rows of accumulators, all stored (a layer's last, partial tile of positions and
 * the one-position calls of vector layers compute no spare rows). */
#define TILE_NV(RM) \
    static void tile_nv_##RM(const struct rvt_sgemm_args *g, size_t p0, int ob, int nb) \
    { \
        switch (nb / 16) { \
        case 4: tile(g, NULL, p0, RM, ob, 4, RM); break; \
        case 3: tile(g, NULL, p0, RM, ob, 3, RM); break; \
        case 2: tile(g, NULL, p0, RM, ob, 2, RM); break; \
        default: tile(g, NULL, p0, RM, ob, 1, RM); break; \
        } \
    } \
    static void tile_g_##RM(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *G, \
                            size_t p0, int ob, int nb) \
    { \
        switch (nb / 16) { \
        case 4: tile(g, G, p0, RM, ob, 4, RM); break; \
        case 3: tile(g, G, p0, RM, ob, 3, RM); break; \
        case 2: tile(g, G, p0, RM, ob, 2, RM); break; \
        default: tile(g, G, p0, RM, ob, 1, RM); break; \
        } \
    }
TILE_NV(1)
TILE_NV(2)
TILE_NV(3)
TILE_NV(4)
TILE_NV(5)
TILE_NV(6)

static const rvti_sgemm_tile_fn tiles[MR] = {tile_nv_1, tile_nv_2, tile_nv_3,
                                             tile_nv_4, tile_nv_5, tile_nv_6};
static const rvti_sgemm_tile_g_fn tiles_g[MR] = {tile_g_1, tile_g_2, tile_g_3,
                                                 tile_g_4, tile_g_5, tile_g_6};

static void gemm_avx512(const struct rvt_sgemm_args *g, int ith, int nth)
{
    rvti_sgemm_run(g, tiles, ith, nth);
}

static void gemm_gather_avx512(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *x,
                               int ith, int nth)
{
    rvti_sgemm_run_gather(g, x, tiles_g, ith, nth);
}

const struct rvt_sgemm_kernels rvti_sgemm_kernels_avx512 = {RVT_ISA_AVX512, gemm_avx512,
                                                            gemm_gather_avx512};
