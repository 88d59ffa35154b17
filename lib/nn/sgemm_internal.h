/*
 * sgemm_internal.h: what sgemm.c and the SIMD kernels share (the tile split, the
 * AVX2 and AVX-512 tables); the public contract is sgemm.h.
 */
#ifndef RVT_NN_SGEMM_INTERNAL_H
#define RVT_NN_SGEMM_INTERNAL_H

#include "nn/sgemm.h"

/* Positions of one tile (the SIMD kernels' rows of accumulators). */
#define RVTI_SGEMM_MR 6

#if defined(__x86_64__) || defined(__i386__)
extern const struct rvt_sgemm_kernels rvti_sgemm_kernels_avx2;
extern const struct rvt_sgemm_kernels rvti_sgemm_kernels_avx512;
#endif

/*
 * The tiles thread ith of nth computes: units [u0, u1) of n_blocks x nt tiles from
 * tile t0, unit u being output block u / nt (RVT_SGEMM_NB channels) and position tile
 * t0 + u % nt (RVTI_SGEMM_MR positions): blocks outside, so a thread's weights stay in
 * cache.  With enough tiles (8 or more a thread) each thread takes its own positions
 * (tiles [t0, t0 + nt), every block): the next layer, split by positions or rows too,
 * then reads what its own core wrote.  Else the units of all the tiles are shared out
 * by their work, a block's width (the last one is narrower: with n = 96, 64 + 32, an
 * equal count of units gave one thread twice the other's work).  The same bits either
 * way: a tile's outputs do not depend on who computes it.
 */
struct rvti_sgemm_share {
    size_t u0, u1, t0, nt;
};

static inline size_t rvti_sgemm_unit_at(size_t nb, size_t nt, int n_pad, size_t cost)
{
    size_t b;

    /* the first unit whose cumulative width (in channels) reaches cost */
    for (b = 0; b < nb; b++) {
        size_t w = (size_t)RVT_MIN(RVT_SGEMM_NB, n_pad - (int)b * RVT_SGEMM_NB);
        if (cost <= nt * w)
            return b * nt + (cost + w - 1) / w;
        cost -= nt * w;
    }
    return nb * nt;
}

/* Thread ith's share of n_blocks x n_tiles. */
static inline struct rvti_sgemm_share rvti_sgemm_split_tiles(const struct rvt_sgemm_args *g,
                                                             size_t n_tiles, int ith, int nth)
{
    const int n_pad = rvt_sgemm_n_pad(g->n);
    size_t nb = ((size_t)n_pad + RVT_SGEMM_NB - 1) / RVT_SGEMM_NB, total = n_tiles * (size_t)n_pad;
    struct rvti_sgemm_share s = {0, 0, 0, n_tiles};

    if (n_tiles >= 8 * (size_t)nth) {
        size_t per = (n_tiles + (size_t)nth - 1) / (size_t)nth;
        s.t0 = RVT_MIN(n_tiles, (size_t)ith * per);
        s.nt = RVT_MIN(n_tiles, s.t0 + per) - s.t0;
        s.u1 = nb * s.nt;
        return s;
    }
    s.u0 = rvti_sgemm_unit_at(nb, n_tiles, n_pad, total * (size_t)ith / (size_t)nth);
    s.u1 = rvti_sgemm_unit_at(nb, n_tiles, n_pad, total * (size_t)(ith + 1) / (size_t)nth);
    return s;
}

static inline size_t rvti_sgemm_n_tiles(const struct rvt_sgemm_args *g)
{
    return (g->n_pos + RVTI_SGEMM_MR - 1) / RVTI_SGEMM_MR;
}

/*
 * gemm_gather's tiles: a row of ow positions is ceil(ow / MR) tiles (the last may be
 * short), n_tiles = rows * that; split as above.  Tile t's first position and its count.
 */
static inline size_t rvti_sgemm_gather_tiles(const struct rvt_sgemm_args *g, int ow)
{
    size_t per_row = ((size_t)ow + RVTI_SGEMM_MR - 1) / RVTI_SGEMM_MR;
    return g->n_pos / (size_t)ow * per_row;
}

static inline void rvti_sgemm_gather_tile(int ow, size_t t, size_t *p0, int *mr)
{
    size_t per_row = ((size_t)ow + RVTI_SGEMM_MR - 1) / RVTI_SGEMM_MR, oy = t / per_row;
    size_t ox = t % per_row * RVTI_SGEMM_MR;

    *p0 = oy * (size_t)ow + ox;
    *mr = (int)RVT_MIN((size_t)RVTI_SGEMM_MR, (size_t)ow - ox);
}

/* A level's tile kernels: positions [p0, p0 + mr) x output channels [ob, ob + nb) of
 * block ob / RVT_SGEMM_NB, with mr fixed by the function (tiles[mr - 1]). */
typedef void (*rvti_sgemm_tile_fn)(const struct rvt_sgemm_args *g, size_t p0, int ob, int nb);
typedef void (*rvti_sgemm_tile_g_fn)(const struct rvt_sgemm_args *g,
                                     const struct rvt_sgemm_gather *G, size_t p0, int ob,
                                     int nb);

/* gemm of a level: thread ith's share of the tiles, each by tiles[its positions - 1]. */
static inline void rvti_sgemm_run(const struct rvt_sgemm_args *g,
                                  const rvti_sgemm_tile_fn tiles[RVTI_SGEMM_MR], int ith, int nth)
{
    const int n_pad = rvt_sgemm_n_pad(g->n);
    const struct rvti_sgemm_share s = rvti_sgemm_split_tiles(g, rvti_sgemm_n_tiles(g), ith, nth);
    size_t u;

    for (u = s.u0; u < s.u1; u++) {
        int ob = (int)(u / s.nt) * RVT_SGEMM_NB, nb = RVT_MIN(RVT_SGEMM_NB, n_pad - ob);
        size_t p0 = (s.t0 + u % s.nt) * RVTI_SGEMM_MR;
        int mr = (int)RVT_MIN((size_t)RVTI_SGEMM_MR, g->n_pos - p0);
        tiles[mr - 1](g, p0, ob, nb);
    }
}

/* gemm_gather of a level, the same way. */
static inline void rvti_sgemm_run_gather(const struct rvt_sgemm_args *g,
                                         const struct rvt_sgemm_gather *x,
                                         const rvti_sgemm_tile_g_fn tiles[RVTI_SGEMM_MR], int ith,
                                         int nth)
{
    const int n_pad = rvt_sgemm_n_pad(g->n);
    const struct rvti_sgemm_share s =
        rvti_sgemm_split_tiles(g, rvti_sgemm_gather_tiles(g, x->ow), ith, nth);
    size_t u, p0;
    int mr;

    for (u = s.u0; u < s.u1; u++) {
        int ob = (int)(u / s.nt) * RVT_SGEMM_NB, nb = RVT_MIN(RVT_SGEMM_NB, n_pad - ob);
        rvti_sgemm_gather_tile(x->ow, s.t0 + u % s.nt, &p0, &mr);
        tiles[mr - 1](g, x, p0, ob, nb);
    }
}

/* Address of X(p, 0) for gemm_gather (add off[kk]). */
static inline const float *rvti_sgemm_gather_x(const struct rvt_sgemm_gather *x, size_t p)
{
    size_t oy = p / (size_t)x->ow, ox = p % (size_t)x->ow;
    return x->x + (oy * (size_t)x->wp + ox) * (size_t)x->stride;
}

/* Address of Y(p, 0). */
static inline float *rvti_sgemm_yrow(const struct rvt_sgemm_args *g, size_t p)
{
    return g->y + (p + (g->row_w ? p / g->row_w * g->row_skip : 0) +
                   (g->img_pos ? p / g->img_pos * g->img_skip : 0)) *
                      g->ldy;
}

/* rvti_sgemm_yrow of positions p0 .. p0 + n - 1 into y: one division, then a step a
 * position (a tile's epilogue). */
static inline void rvti_sgemm_yrows(const struct rvt_sgemm_args *g, size_t p0, int n, float **y)
{
    size_t q = g->row_w ? p0 / g->row_w : 0, r = g->row_w ? p0 % g->row_w : 0;
    size_t qi = g->img_pos ? p0 / g->img_pos : 0, ri = g->img_pos ? p0 % g->img_pos : 0;
    int i;

    for (i = 0; i < n; i++) {
        y[i] = g->y + (p0 + (size_t)i + q * g->row_skip + qi * g->img_skip) * g->ldy;
        if (g->row_w && ++r == g->row_w) {
            r = 0;
            q++;
        }
        if (g->img_pos && ++ri == g->img_pos) {
            ri = 0;
            qi++;
        }
    }
}

#endif
