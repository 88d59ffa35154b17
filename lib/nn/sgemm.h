/*
 * sgemm.h: the float32 matrix products of the channels-last network path, with the
 * bias, activation, residual add and padded store of each layer fused into the GEMM.
 *
 *   Y(p, o) = act(sum_k X(p, k) * W[o][k] + bias[o]) + R(p, o)
 *
 * for positions p (pixels of one clip) and output channels o < n.  X is read through
 * strides, so the same kernel takes channels-last activations (X(p, k) = x[p * ldx + k])
 * and planar ones, e.g. an im2col matrix (X(p, k) = x[k * ldx + p]).  Y is channels-last,
 * position p's n values at y + (p + (p / row_w) * row_skip + (p / img_pos) * img_skip) * ldy:
 * row_skip positions left after every row of row_w (the side borders of a padded map,
 * which the caller zeroes), img_skip after every img_pos positions (the bottom and top
 * borders between the padded maps of clips stacked in one product), 0: none.  R
 * (optional) is channels-last too.
 *
 * Every output is one chain of fused multiply-adds over k in increasing order,
 * starting from 0 (acc = fma(X(p, k), W[o][k], acc)), then + bias, the activation,
 * + R, each rounded once: so every level gives the same bits as the _ref kernel (plain
 * C with fmaf) whatever the split among threads, except the activation, which is the
 * level's nn/ops.h one (SiLU: the SIMD levels' polynomial exp, within a few ulps of
 * libm's).  One chain per output is what OpenBLAS's kernels do within a K block too;
 * the rounding error grows like theirs (tests/unit/test_nn.c bounds it against double).
 *
 * Weights are packed once (rvt_sgemm_pack) in panels of 16 output channels, n_pad = n
 * rounded up to 16 (zero rows): W[o][kk] at wt[(o / 16) * 16 k + kk * 16 + o % 16], so
 * a kernel reads each panel as one stream from its first k step to its last (a weight
 * that comes from memory then comes in the order the prefetchers expect).  The kernels
 * take the panels in blocks of RVT_SGEMM_NB output channels: block b is channels
 * [64 b, 64 b + nb), nb = min(64, n_pad - 64 b).
 *
 *   float *wt = aligned buffer of rvt_sgemm_wt_floats(n, k) floats;
 *   rvt_sgemm_pack(w, n, k, wt, 0, n);
 *   struct rvt_sgemm_args g = {.n = n, .k = k, .wt = wt, .x = x, .x_ps = k, .x_ks = 1,
 *                              .n_pos = hw, .y = y, .ldy = n, .bias = b,
 *                              .act = RVT_NN_ACT_SILU};
 *   rvt_sgemm_kernels()->gemm(&g, ith, nth);   // from each of nth threads
 *
 * Threads: (ith, nth) split the tiles of Y; a call writes only its own tiles, never
 * allocates, never locks.  Dispatch: the one shape of every SIMD family
 * (docs/architecture.md); levels: ref, avx2, avx512.
 */
#ifndef RVT_NN_SGEMM_H
#define RVT_NN_SGEMM_H

#include "core/common.h"

#include "core/cpu.h"
#include "nn/ops.h"

/* Output channels of one packed block (four vectors of 16). */
#define RVT_SGEMM_NB 64

static inline int rvt_sgemm_n_pad(int n)
{
    return (n + 15) / 16 * 16;
}
/* Floats of packed weights for n outputs of k inputs. */
static inline size_t rvt_sgemm_wt_floats(int n, int k)
{
    return (size_t)rvt_sgemm_n_pad(n) * (size_t)k;
}

/*
 * Packs W [n][k] (row-major) into wt: output channels [o0, o1) only (o0 a multiple of
 * 16; disjoint ranges may be packed apart; the zero rows past n belong to the range
 * that ends at n).
 */
void rvt_sgemm_pack(const float *w, int n, int k, float *wt, int o0, int o1);

/*
 * Packed weights with each input channel kk's weights times s[kk], into out (the same
 * layout): W diag(s), a squeeze-excitation's scale folded into the layer after it.
 * The packed rows (panel, kk) [r0, r1) of rvt_sgemm_k_rows(n, k), so that threads can
 * share them out.
 */
static inline size_t rvt_sgemm_k_rows(int n, int k)
{
    return (size_t)(rvt_sgemm_n_pad(n) / 16) * (size_t)k;
}

/* Where W[o][0] is packed: panel o / 16's first step, plus o's lane; step kk at + kk * 16. */
static inline size_t rvt_sgemm_w_at(int o, int k)
{
    return (size_t)(o / 16) * 16 * (size_t)k + (size_t)(o % 16);
}
void rvt_sgemm_scale_k(const float *restrict wt, int n, int k, const float *restrict s,
                       float *restrict out, size_t r0, size_t r1);

struct rvt_sgemm_args {
    int n, k;              /* output channels, inputs */
    const float *wt;       /* packed weights (rvt_sgemm_pack) */
    const float *x;        /* X(p, kk) = x[p * x_ps + kk * x_ks] */
    size_t x_ps, x_ks;
    size_t n_pos;
    float *y;              /* Y(p, o) at y + (p + p / row_w * row_skip
                              + p / img_pos * img_skip) * ldy + o */
    size_t ldy, row_w, row_skip;
    size_t img_pos, img_skip; /* and img_skip positions left after every img_pos (0: none) */
    const float *bias;     /* [n] or NULL */
    enum rvt_nn_act act;
    const float *res;      /* R(p, o) = res[p * ld_res + o], or NULL */
    size_t ld_res;
};

/*
 * A k x k convolution's products without its im2col matrix (gemm_gather): X(p, kk)
 * read from a zero-padded planar input, p = oy * ow + ox:
 *   X(p, kk) = x[oy * stride * wp + ox * stride + off[kk]]
 * off[kk] = c * hp * wp + ky * wp + kx for tap kk = (c * k + ky) * k + kx, im2col's row
 * order: so the outputs are gemm's on the im2col matrix, bit for bit (a padding tap is
 * a 0 there and here).  The args' x, x_ps, x_ks are not used; threads split the tiles,
 * which never cross an output row.
 */
struct rvt_sgemm_gather {
    const float *x;
    const int32_t *off; /* [k] */
    int ow, stride;
    size_t wp;
};

struct rvt_sgemm_kernels {
    enum rvt_isa isa;
    void (*gemm)(const struct rvt_sgemm_args *g, int ith, int nth);
    void (*gemm_gather)(const struct rvt_sgemm_args *g, const struct rvt_sgemm_gather *x, int ith,
                        int nth);
};

/* This CPU's level (rvt_cpu_isa(); RVT_ISA lowers it); constant tables. */
const struct rvt_sgemm_kernels *rvt_sgemm_kernels(void);
/* One level's, or NULL when this CPU (or RVT_ISA) does not allow it. */
const struct rvt_sgemm_kernels *rvt_sgemm_kernels_for(enum rvt_isa isa);

#endif
