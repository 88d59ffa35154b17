/*
 * sgemm_internal.h: what sgemm.c and the SIMD kernels share (the tile split, the
 * AVX-512 table); the public contract is sgemm.h.
 */
#ifndef RVT_NN_SGEMM_INTERNAL_H
#define RVT_NN_SGEMM_INTERNAL_H

#include "nn/sgemm.h"

/* Positions of one tile (the AVX-512 kernel's rows of accumulators). */
#define RVTI_SGEMM_MR 6

#if defined(__x86_64__) || defined(__i386__)
extern const struct rvt_sgemm_kernels rvti_sgemm_kernels_avx512;
#endif

/*
 * The tiles thread ith of nth computes: units [*u0, *u1) of n_blocks * n_tiles, unit u
 * being output block u / n_tiles (RVT_SGEMM_NB channels) and position tile u % n_tiles
 * (RVTI_SGEMM_MR positions): blocks outside, so a thread's weights stay in cache.
 */
static inline void rvti_sgemm_split(const struct rvt_sgemm_args *g, int ith, int nth, size_t *u0,
                                    size_t *u1, size_t *n_tiles)
{
    size_t nb = ((size_t)rvt_sgemm_n_pad(g->n) + RVT_SGEMM_NB - 1) / RVT_SGEMM_NB;
    size_t nt = (g->n_pos + RVTI_SGEMM_MR - 1) / RVTI_SGEMM_MR, units = nb * nt;
    size_t per = (units + (size_t)nth - 1) / (size_t)nth;

    *n_tiles = nt;
    *u0 = RVT_MIN(units, (size_t)ith * per);
    *u1 = RVT_MIN(units, (size_t)(ith + 1) * per);
}

/* Address of Y(p, 0). */
static inline float *rvti_sgemm_yrow(const struct rvt_sgemm_args *g, size_t p)
{
    return g->y + (p + (g->row_w ? p / g->row_w * g->row_skip : 0)) * g->ldy;
}

#endif
