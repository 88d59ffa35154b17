/*
 * qgemm.h: int8 matrix multiply, s8 weights x u8 activations -> int32, with run-time
 * kernel dispatch (AVX-512 VNNI, AVX2, portable C) and a fused float epilogue.
 *
 *   C[o, p] = sum_k W[o, k] * X[p, k]             (int32, exact)
 *
 * W [n, k] is int8: weights, symmetric per output channel o (real = s_w[o] * q, q in
 * [-127, 127]).  X is uint8: activations at n_pos positions (pixels of one or more
 * samples, or the samples themselves for a Linear layer), real = s_x * (q - z_x), packed
 * so that the kernels read 16 positions x 4 k as one 64-byte vector (below).  VNNI's
 * vpdpbusd multiplies exactly this pair (u8 x s8).  Output channels are the rows of C and
 * positions its columns, so for channels-first (NCHW) tensors the output planes are
 * written with plain vector stores.  The zero point is folded in the epilogue with the
 * weight row sums:
 *
 *   sum_k W[o,k] * (X[p,k] - z) = C[o,p] - z * wsum[o]
 *   out(o, p) = act( (float)(C[o,p] - z_p * wsum[o]) * (s_x,p * s_w[o]) + bias[o] )
 *
 * Every kernel level gives identical int32 C and bit-identical float outputs: integer
 * sums are exact (no int16 saturation: the AVX2 kernel widens to int16 and uses
 * vpmaddwd, never vpmaddubsw, whose saturating u8*s8 pair sums would differ), and the
 * epilogue does the same float operations in the same order (a multiply then an add, no
 * FMA contraction) in every level.  Exactness holds while |C| < 2^31, i.e. for
 * k <= RVT_QGEMM_MAX_K (255 * 127 * k < 2^31).
 *
 * Packed activations (rvt_qx_bytes(n_pos, k) bytes, 64-byte aligned):
 *   xp[((p / 16) * (k_pad / 4) + k / 4) * 64 + (p % 16) * 4 + k % 4] = X[p, k]
 * Positions n_pos..pad16(n_pos)-1 and k..k_pad-1 must be initialised (their products
 * vanish or are never stored): rvt_qx_clear_tail() zeroes the last block, and the pack
 * kernels zero k..k_pad-1.
 *
 * Usage (a 1x1 convolution over one sample's planes x [c_in][hw]):
 *
 *   struct rvt_qweights w;                                // at model load
 *   rvt_qweights_init(&w);
 *   ret = rvt_qweights_set(&w, q8, scale, c_out, c_in, &err);
 *   const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels();
 *   kr->minmax(x, (size_t)c_in * hw, &lo, &hi);           // dynamic activation range
 *   ret = rvt_quant_params(lo, hi, &qp, &err);            // quant.h
 *   rvt_qx_clear_tail(xp, hw, c_in);
 *   kr->pack_planes(x, c_in, hw, hw, qp.inv_scale, qp.zero, xp, 0, w.k_pad);
 *   struct rvt_qgemm_args g = {.w = &w, .xp = xp, .n_pos = hw,
 *                              .out = y, .out_cs = hw, .group = hw, .out_gs = c_out * hw,
 *                              .x_scale = &qp.scale, .x_zero = &qp.zero,
 *                              .bias = bias, .act = RVT_QACT_NONE};
 *   kr->gemm(&g, ith, nth);                                // from each of nth threads
 *   rvt_qweights_release(&w);
 *
 * Threads: weights are immutable after rvt_qweights_set and shared freely; a kernel call
 * with (ith, nth) writes only its own part of the output, never allocates and never
 * locks.
 */
#ifndef RVT_NN_QGEMM_H
#define RVT_NN_QGEMM_H

#include "core/common.h"

#include <math.h>

#include "core/cpu.h"

/* K is padded to a multiple of this (one vpdpbusd lane holds 4 consecutive k). */
#define RVT_QGEMM_KQ 4
/* Positions are packed in blocks of this many (one zmm of int32). */
#define RVT_QGEMM_PB 16
/* Largest k with exact int32 sums: 255 * 127 * 65536 = 2122383360 < 2^31 - 1. */
#define RVT_QGEMM_MAX_K 65536
/* Weights of magnitude up to this make struct rvt_qweights w7 (7-bit). */
#define RVT_QGEMM_W7_MAX 64

static inline int rvt_qgemm_k_pad(int k)
{
    return (k + RVT_QGEMM_KQ - 1) / RVT_QGEMM_KQ * RVT_QGEMM_KQ;
}
static inline size_t rvt_qgemm_pos_pad(size_t n_pos)
{
    return (n_pos + RVT_QGEMM_PB - 1) / RVT_QGEMM_PB * RVT_QGEMM_PB;
}
/*
 * Whether gemm_t's threads take whole blocks of positions, (n_blocks + nth - 1) / nth
 * each in order, every level: with at least 8 blocks a thread (so that a thread's
 * extra block is at most an eighth of its work).  Those are the blocks each thread
 * quantized (nn/qdense.c), so the GEMM needs no sync after quantizing.
 */
static inline bool rvt_qgemm_t_blocks(size_t n_pos, int nth)
{
    return (n_pos + RVT_QGEMM_PB - 1) / RVT_QGEMM_PB >= 8 * (size_t)nth;
}

/* Bytes of packed activations for n_pos positions of k values. */
static inline size_t rvt_qx_bytes(size_t n_pos, int k)
{
    return rvt_qgemm_pos_pad(n_pos) * (size_t)rvt_qgemm_k_pad(k);
}
/* Zeroes the last (partial) block of packed activations. */
void rvt_qx_clear_tail(uint8_t *xp, size_t n_pos, int k);

/*
 * Quantized weights W [n, k]: int8 rows padded with zeros to k_pad, their sums and
 * per-row scales.  All pointers are owned by the struct (rvt_qweights_release).
 */
struct rvt_qweights {
    int n, k, k_pad;
    int8_t *w;      /* [n][k_pad], 64-byte aligned */
    int8_t *wt;     /* the same packed for gemm_t, 16 output channels x 4 k a 64-byte
                       vector: wt[((o / 16) * (k_pad / 4) + k / 4) * 64 + (o % 16) * 4 + k % 4],
                       rows n..pad16(n)-1 zero (the index of rvti_qx_index with o for p) */
    int32_t *wsum;  /* [n] sum_k W[o, k] */
    float *scale;   /* [n] weight scale per output channel */
    bool w7;        /* every weight within +-RVT_QGEMM_W7_MAX (quantize-model
                       --weight-bits 7): a pair of u8 x s8 products then fits int16
                       (255 * 64 * 2 = 32640), so AVX2's gemm_t multiplies with
                       vpmaddubsw, exactly */
};

void rvt_qweights_init(struct rvt_qweights *q);
void rvt_qweights_release(struct rvt_qweights *q);
/*
 * Copies q8 [n, k] (row-major, values in [-127, 127]) with per-row scales scale[n]
 * (finite, any sign: a BatchNorm folded into them may flip or zero a channel).
 * Returns 0, RVT_ENOMEM, or RVT_EINVAL (k > RVT_QGEMM_MAX_K, a value of -128, a
 * non-finite scale).  Replaces any previous content.
 */
int rvt_qweights_set(struct rvt_qweights *q, const int8_t *q8, const float *scale, int n, int k,
                     struct rvt_error *err);

enum rvt_qact {
    RVT_QACT_NONE = 0,
    RVT_QACT_RELU = 1, /* v > 0 ? v : +0 (NaN -> 0) */
    RVT_QACT_SILU = 2, /* gemm_t only: v * sigmoid(v), the level's RVT_NN_ACT_SILU_Q
                          (nn/ops.h): on AVX-512 and AVX2 within 3.1e-6 relative
                          (AVX2: v divided by 1 + act_avx2.h's cheap expneg256), on
                          ref with libm's expf as the portable nn/ops.h kernels: the
                          one result whose bits differ between levels */
};

/*
 * One GEMM call.  Exactly one of c (raw int32) and out (float epilogue) is set.
 * Positions come in groups of `group` (one sample each: its h * w pixels for a
 * convolution, 1 for a Linear layer); a group shares one activation scale and zero
 * point and one output block:
 *   out(o, p) = out[(p / group) * out_gs + o * out_cs + p % group]
 * so a channels-first output has out_cs = h * w, out_gs = n * h * w, and a Linear
 * layer's [batch][n] output has group = 1, out_cs = 1, out_gs = n.
 */
struct rvt_qgemm_args {
    const struct rvt_qweights *w; /* n output channels of k inputs */
    const uint8_t *xp;            /* packed activations, n_pos positions of w->k_pad */
    size_t n_pos;

    int32_t *c; /* raw sums c[o * ldc + p], or NULL */
    size_t ldc;

    float *out; /* see above, or NULL */
    size_t group, out_cs, out_gs;
    const float *x_scale;  /* [n_pos / group]: activation scale of each group */
    const int32_t *x_zero; /* [n_pos / group]: its zero point */
    const float *bias;     /* [n] or NULL */
    enum rvt_qact act;
    /*
     * Optional (float output whose positions are consecutive: one group, or group 1
     * with out_gs 1): called once for every run of final outputs of one row, positions
     * p..p+n-1 at y, while they are still in cache -- the caller's bias, activation
     * and row sums fused into the GEMM.  Runs come in increasing p within a row; how
     * long they are depends on the level and the split (at most 64 with AVX-512).
     */
    void (*post)(void *ctx, int o, size_t p, float *y, size_t n);
    void *post_ctx;
    /* gemm: threads split output rows only, never positions, so that every row's runs
     * of post are those of one thread, in the order and lengths of nth = 1 (a post that
     * sums along rows, e.g. for an average pool, then gives the same bits) */
    bool split_rows;
    /* gemm_t: positions are pixels of rows of row_w, and out leaves row_skip positions
     * after each row (the side borders of a padded map: the stores skip them):
     * position p is stored at position p + (p / row_w) * row_skip.  row_w 0: none. */
    size_t row_w, row_skip;
    /* gemm_t: out(o, p) = act(...) + res[p * ld_res + o], one float add after the
     * activation (an MBConv block's residual: the bits of adding it in a pass after),
     * or res NULL */
    const float *res;
    size_t ld_res;
};

/*
 * The kernels of one level.  Every member is set; levels give identical results.
 *   gemm:        see struct rvt_qgemm_args; (ith, nth) as in the file comment.
 *   gemm_t:      gemm for a channels-last output: the same results, bit for bit, for
 *                args with out set, group 1 (a map per position), out_cs 1 (out_gs:
 *                floats from one position to the next, >= n), bias or none, act NONE or
 *                RELU, no post; also act SILU and row_w (see the args).
 *                gemm computes that layout with scattered stores; gemm_t holds
 *                output channels of one position in a vector (16 with AVX-512, 8 with
 *                AVX2; that position's activations broadcast, the packed weights wt),
 *                so every store is whole.  (ith, nth) split the positions: in whole blocks when
 *                rvt_qgemm_t_blocks says so (as rvti_qgemm_split then does).
 *   minmax:      *lo = min(x), *hi = max(x) over n >= 1 values; both NaN when any x is
 *                NaN (so dynamic quantization can refuse it).  The sign of a zero
 *                result may differ between levels (-0 == +0); nothing else does.
 *   pack_planes: quantizes k planes (plane c at x + c * ldx, n values each) into packed
 *                positions p0..p0+n-1 of xp (k_pad values a position; k..k_pad-1 = 0):
 *                q = clamp(rint(x * inv_scale) + zero, 0, 255), ties to even, clamping in
 *                float before rounding: v = max(min(v, 255 - zero), -zero) with the min
 *                first, so NaN -> 255 (callers reject NaN before).
 *   quant_cols:  dynamic per-column quantization in one pass over each strip of
 *                columns: for each position (column) p < n of k planes (plane c at
 *                x + c * ldx), lo/hi = min/max over the planes, the map of rvti_qgemm_map
 *                (scale[p], zero[p]; 1/scale used for the values), then the column
 *                packed as pack_planes does it.  A column holding NaN or Inf gets
 *                scale NaN, zero 0, and its values quantized with 1/scale = 1.
 */
struct rvt_qgemm_kernels {
    enum rvt_isa isa;
    void (*gemm)(const struct rvt_qgemm_args *g, int ith, int nth);
    void (*minmax)(const float *x, size_t n, float *lo, float *hi);
    void (*pack_planes)(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                        int32_t zero, uint8_t *xp, size_t p0, int k_pad);
    void (*quant_cols)(const float *x, int k, size_t n, size_t ldx, float *scale, int32_t *zero,
                       uint8_t *xp, size_t p0, int k_pad);
    /* pack_rows, quant_rows: pack_planes and quant_cols for a channels-last input,
     * position p's k values at x + p * ldx (X^T); the same bytes, scales and zeros.
     * ks (or NULL): input i is x[p * ldx + i] * ks[i] (one float multiply, as
     * nn/ops.h scale_cl computes it: a squeeze-excitation's scale fused into the
     * quantization of the next layer's input, the same bits as scaling first) */
    void (*gemm_t)(const struct rvt_qgemm_args *g, int ith, int nth);
    void (*pack_rows)(const float *x, int k, size_t n, size_t ldx, float inv_scale,
                      int32_t zero, uint8_t *xp, size_t p0, int k_pad, const float *ks);
    void (*quant_rows)(const float *x, int k, size_t n, size_t ldx, float *scale, int32_t *zero,
                       uint8_t *xp, size_t p0, int k_pad, const float *ks);
};

/* The best level for this CPU (rvt_cpu_isa(), so RVT_ISA=ref|avx2 lowers it); the
 * tables are constant.  The shape of every SIMD family (see nn/ops.h). */
const struct rvt_qgemm_kernels *rvt_qgemm_kernels(void);
/* The kernels of one level, or NULL when this CPU (or RVT_ISA) does not allow it. */
const struct rvt_qgemm_kernels *rvt_qgemm_kernels_for(enum rvt_isa isa);

/* The kernels' private helpers (rvti_) are in qgemm_internal.h. */

#endif
