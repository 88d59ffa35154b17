/*
 * sgemm_avx2.c: sgemm.h's kernel on AVX2 + FMA.  A tile is the AVX-512 kernel's
 * (RVTI_SGEMM_MR = 6 positions x one packed block of up to 64 channels), computed a
 * column of channels at a time: 6 x 16 channels, 12 accumulators (2 weight vectors and
 * 1 broadcast make 15 of the 16 ymm registers, 12 FMAs for 8 loads a k step); shorter
 * tiles take wider columns (nw_of).  A column stops at the last vector with a channel
 * below n, so n = 24, 40, ... do not compute the packing's zero rows.  Each lane is
 * one output's chain of FMAs in k order, as gemm_ref computes it, so the products are
 * the same bits; the epilogue adds the bias, applies act256 (the level's activation,
 * x86/act_avx2.h), adds the residual and stores, masked on a partial vector.  SiLU and
 * sigmoid (and the residual after them) wait for the tile's last column: act_tile runs
 * them over the tile's stored rows, still in L1, with the registers to itself.
 */
#include "core/common.h"

#include <immintrin.h>

#include "nn/sgemm_internal.h"
#include "nn/x86/act_avx2.h"

#define MR RVTI_SGEMM_MR

/*
 * Vectors of 8 channels a column of RM positions: RM x nw_of(RM) accumulators.  An FMA
 * takes 4 cycles and 2 start a cycle, so a k step needs 8 independent chains to keep
 * the FMA units busy: 6 x 2 has 12 (and 15 registers in use); 1 x 8 and 2 x 4 give the
 * one- and two-position tiles (vector layers, a layer's last tile) 8, not 2 and 4.
 */
#define NW_MAX 8
#define nw_of(RM) ((RM) == 1 ? 8 : (RM) == 2 ? 4 : 2)

/* Lanes [0, left) of a vector (all of them from left = 8 on). */
static inline __m256i lanes(int left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* SiLU and sigmoid run after a tile's columns (act_tile), not in their epilogue: with
 * their temporaries beside the 12 accumulators the registers ran out. */
static inline bool act_later(enum rvt_nn_act act)
{
    return act == RVT_NN_ACT_SILU || act == RVT_NN_ACT_SILU_Q || act == RVT_NN_ACT_SIGMOID;
}

/*
 * Stores the accumulators of channels [c, c + 8 NW) x RM positions: + bias, act, + R
 * (res: g->res, or NULL to leave it to act_tile).  A vector is full, partial (masked:
 * bias and R end at n, Y's channels past n are the caller's) or, for NW = 2 only, never
 * empty: the caller picks NW = 1 then.
 */
static inline __attribute__((always_inline)) void
epilogue(const struct rvt_sgemm_args *g, float *const *yr, size_t p0, int c,
         __m256 (*acc)[NW_MAX], int RM, int NW, enum rvt_nn_act act, const float *res)
{
    const int left0 = g->n - c;
    int i, j;

    if (g->bias) {
#pragma GCC unroll 8
        for (j = 0; j < NW; j++) {
            const float *b = g->bias + c + 8 * j;
            const __m256 bv = left0 - 8 * j >= 8 ? _mm256_loadu_ps(b)
                                                 : _mm256_maskload_ps(b, lanes(left0 - 8 * j));
#pragma GCC unroll 6
            for (i = 0; i < RM; i++)
                acc[i][j] = _mm256_add_ps(acc[i][j], bv);
        }
    }
#pragma GCC unroll 6
    for (i = 0; i < RM; i++)
#pragma GCC unroll 8
        for (j = 0; j < NW; j++)
            acc[i][j] = act256(acc[i][j], act);
#pragma GCC unroll 6
    for (i = 0; i < RM; i++) {
#pragma GCC unroll 8
        for (j = 0; j < NW; j++) {
            const int o = c + 8 * j;
            const __m256i m = lanes(left0 - 8 * j);
            __m256 v = acc[i][j];
            if (left0 - 8 * j >= 8) {
                if (res)
                    v = _mm256_add_ps(v, _mm256_loadu_ps(res + (p0 + (size_t)i) * g->ld_res + o));
                _mm256_storeu_ps(yr[i] + o, v);
            } else {
                if (res)
                    v = _mm256_add_ps(
                        v, _mm256_maskload_ps(res + (p0 + (size_t)i) * g->ld_res + o, m));
                _mm256_maskstore_ps(yr[i] + o, m, v);
            }
        }
    }
}

/*
 * Channels [c, c + 8 NW) of the RM positions at xr (X(p, kk) at xr[i][xo], see tile),
 * stored to yr[i] + c.  w: the column's first panel (sgemm.h), 16 floats a step; vector
 * j is half j % 2 of panel j / 2.  RM and NW are constants after inlining, so acc stays
 * in registers.
 */
static inline __attribute__((always_inline)) void
column(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *G, const float *const *xr,
       float *const *yr, size_t p0, int c, const float *w, int RM, int NW)
{
    const int k = g->k;
    const size_t x_ks = g->x_ks;
    __m256 acc[MR][NW_MAX];
    int i, j, kk;

#pragma GCC unroll 6
    for (i = 0; i < RM; i++)
#pragma GCC unroll 8
        for (j = 0; j < NW; j++)
            acc[i][j] = _mm256_setzero_ps();
    for (kk = 0; kk < k; kk++) {
        const float *wk = w + (size_t)kk * 16;
        const size_t xo = G ? (size_t)G->off[kk] : (size_t)kk * x_ks;
        __m256 wv[NW_MAX];
#pragma GCC unroll 8
        for (j = 0; j < NW; j++)
            wv[j] = _mm256_loadu_ps(wk + (size_t)(j / 2) * 16 * (size_t)k + 8 * (j % 2));
#pragma GCC unroll 6
        for (i = 0; i < RM; i++) {
            const __m256 xv = _mm256_broadcast_ss(xr[i] + xo);
#pragma GCC unroll 8
            for (j = 0; j < NW; j++)
                acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    /* act a constant in each epilogue (behind a switch each, a layer of k = 16 ran 1.2x
     * slower); SiLU and sigmoid, and the residual after them, are act_tile's */
    if (g->act == RVT_NN_ACT_RELU)
        epilogue(g, yr, p0, c, acc, RM, NW, RVT_NN_ACT_RELU, g->res);
    else
        epilogue(g, yr, p0, c, acc, RM, NW, RVT_NN_ACT_NONE, act_later(g->act) ? NULL : g->res);
}

/*
 * SiLU or sigmoid (ACT) of channels [c0, c1) of the RM rows yr, then + R: the part of
 * the epilogue column() leaves for later.  Each value is loaded as column() stored it
 * (sum + bias) and goes through the same operations in the same order, so the bits
 * are those of the fused epilogue.
 */
static inline __attribute__((always_inline)) void
act_tile(const struct rvt_sgemm_args *g, float *const *yr, size_t p0, int c0, int c1, int RM,
         enum rvt_nn_act act)
{
    int i, o;

    for (i = 0; i < RM; i++) {
        const float *r = g->res ? g->res + (p0 + (size_t)i) * g->ld_res : NULL;
        for (o = c0; o + 8 <= c1; o += 8) {
            __m256 v = act256(_mm256_loadu_ps(yr[i] + o), act);
            if (r)
                v = _mm256_add_ps(v, _mm256_loadu_ps(r + o));
            _mm256_storeu_ps(yr[i] + o, v);
        }
        if (o < c1) {
            const __m256i m = lanes(c1 - o);
            __m256 v = act256(_mm256_maskload_ps(yr[i] + o, m), act);
            if (r)
                v = _mm256_add_ps(v, _mm256_maskload_ps(r + o, m));
            _mm256_maskstore_ps(yr[i] + o, m, v);
        }
    }
}

/*
 * The tile of positions [p0, p0 + RM) x block [ob, ob + nb).  X(p, kk) at xr[i][xo]:
 * xo = kk (channels-last), kk * x_ks (planar, e.g. im2col), or the tap's offset (a
 * gathered convolution, sgemm.h gemm_gather).
 */
static inline __attribute__((always_inline)) void
tile(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *G, size_t p0, int ob, int nb,
     int RM)
{
    const float *wb = g->wt + (size_t)ob * (size_t)g->k;
    const float *xr[MR];
    float *yr[MR];
    int i, s;

#pragma GCC unroll 6
    for (i = 0; i < RM; i++)
        xr[i] = G ? rvti_sgemm_gather_x(G, p0 + (size_t)i) : g->x + (p0 + (size_t)i) * g->x_ps;
    rvti_sgemm_yrows(g, p0, RM, yr);
    for (s = 0; s < nb; s += 8 * nw_of(RM)) {
        /* the vectors up to the block's end or the last one with a channel below n */
        const int nv = RVT_MIN(RVT_MIN(nw_of(RM), (nb - s) / 8), (g->n - (ob + s) + 7) / 8);
        /* the cases past nw_of(RM) compile to nothing */
#define COLUMN(NV) \
    case NV: \
        if (NV <= nw_of(RM)) \
            column(g, G, xr, yr, p0, ob + s, wb + (size_t)s * g->k, RM, NV <= nw_of(RM) ? NV : 1); \
        break;
        switch (nv) {
            COLUMN(1) COLUMN(2) COLUMN(3) COLUMN(4) COLUMN(5) COLUMN(6) COLUMN(7) COLUMN(8)
        }
#undef COLUMN
    }
    if (act_later(g->act)) {
        const int c1 = RVT_MIN(ob + nb, g->n);
        if (g->act == RVT_NN_ACT_SIGMOID)
            act_tile(g, yr, p0, ob, c1, RM, RVT_NN_ACT_SIGMOID);
        else
            act_tile(g, yr, p0, ob, c1, RM, RVT_NN_ACT_SILU);
    }
}

/* RM positions, all stored (a layer's last, partial tile and the one-position calls of
 * vector layers compute no spare rows). */
#define TILE_RM(RM) \
    static void tile_##RM(const struct rvt_sgemm_args *g, size_t p0, int ob, int nb) \
    { \
        tile(g, NULL, p0, ob, nb, RM); \
    } \
    static void tile_g_##RM(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *G, \
                            size_t p0, int ob, int nb) \
    { \
        tile(g, G, p0, ob, nb, RM); \
    }
TILE_RM(1)
TILE_RM(2)
TILE_RM(3)
TILE_RM(4)
TILE_RM(5)
TILE_RM(6)

static const rvti_sgemm_tile_fn tiles[MR] = {tile_1, tile_2, tile_3, tile_4, tile_5, tile_6};
static const rvti_sgemm_tile_g_fn tiles_g[MR] = {tile_g_1, tile_g_2, tile_g_3,
                                                 tile_g_4, tile_g_5, tile_g_6};

static void gemm_avx2(const struct rvt_sgemm_args *g, int ith, int nth)
{
    rvti_sgemm_run(g, tiles, ith, nth);
}

static void gemm_gather_avx2(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *x,
                             int ith, int nth)
{
    rvti_sgemm_run_gather(g, x, tiles_g, ith, nth);
}

const struct rvt_sgemm_kernels rvti_sgemm_kernels_avx2 = {RVT_ISA_AVX2, gemm_avx2,
                                                          gemm_gather_avx2};
