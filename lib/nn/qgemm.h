/*
 * qgemm.h: int8 matrix multiply, u8 activations x s8 weights -> int32, with run-time
 * kernel dispatch (AVX-512 VNNI, AVX2, portable C) and a fused float epilogue.
 *
 *   C[i, j] = sum_k A[i, k] * B[j, k]            (int32, exact)
 *
 * A [m, k] is uint8 (activations quantized by quant.h: real = s_a * (q - z_a)), B [n, k]
 * is int8 (weights, symmetric per output channel: real = s_b[j] * q, q in [-127, 127]).
 * VNNI's vpdpbusd multiplies exactly this pair (u8 x s8), which is why activations are
 * unsigned.  The zero point is folded in the epilogue with the weight column sums:
 *
 *   sum_k (A[i,k] - z) * B[j,k] = C[i,j] - z * colsum[j]
 *   out[i, j] = act( (float)(C[i,j] - z_i * colsum[j]) * (s_a,i * s_b[j]) + bias[j] )
 *
 * Every kernel level gives identical int32 C and bit-identical float outputs: integer
 * sums are exact (no int16 saturation: the AVX2 kernel widens to int16 and uses
 * vpmaddwd, never vpmaddubsw, whose saturating u8*s8 pair sums would differ), and the
 * epilogue does the same float operations in the same order (a multiply then an add, no
 * FMA contraction) in every level.  Exactness holds while |C| < 2^31, i.e. for
 * k <= RVT_QGEMM_MAX_K (255 * 127 * k < 2^31 with a margin); longer rows are a bug.
 *
 * Usage:
 *
 *   struct rvt_qmat w;
 *   rvt_qmat_init(&w);
 *   ret = rvt_qmat_pack(&w, q8, scale, n, k, &err);     // once, at model load
 *   const struct rvt_qgemm_kernels *kr = rvt_qgemm_kernels_get();
 *   struct rvt_qgemm_args g = {.m = m, .a = a_u8, .lda = lda, .b = &w,
 *                              .out = y, .out_rs = n, .out_cs = 1,
 *                              .a_scale = &sa, .a_zero = &za, .a_group = m,
 *                              .bias = bias, .act = RVT_QACT_RELU};
 *   kr->gemm(&g, ith, nth);                               // from each of nth threads
 *   rvt_qmat_release(&w);
 *
 * Threads: a packed matrix is immutable after packing and shared freely; a kernel call
 * with (ith, nth) writes only its own part of the output (rows of C, or column blocks
 * when m is too small to share), never allocates and never locks.
 */
#ifndef RVT_NN_QGEMM_H
#define RVT_NN_QGEMM_H

#include "core/common.h"

#include <math.h>

#include "core/cpu.h"

/* K is padded to a multiple of this (one vpdpbusd lane holds 4 consecutive k). */
#define RVT_QGEMM_KQ 4
/* N is packed in blocks of this many columns (one zmm of int32). */
#define RVT_QGEMM_NB 16
/* Largest k with exact int32 sums: 255 * 127 * 65536 = 2122383360 < 2^31 - 1. */
#define RVT_QGEMM_MAX_K 65536

/*
 * A packed weight matrix B [n, k] (s8) in the kernels' layout:
 *   data[((jb * k_pad / 4) + kq) * 64 + jj * 4 + r] = B[jb * 16 + jj, kq * 4 + r]
 * i.e. blocks of 16 columns; within a block, for each group of 4 k, 16 x 4 bytes (one
 * zmm: lane jj holds its column's 4 consecutive k).  Padding (k..k_pad, n..n_pad) is 0.
 * All pointers are owned by the struct (rvt_qmat_release frees them).
 */
struct rvt_qmat {
    int n, k;         /* logical shape of B */
    int n_pad, k_pad; /* n rounded up to 16, k up to 4 */
    int8_t *data;     /* [n_pad * k_pad], 64-byte aligned */
    int32_t *colsum;  /* [n_pad] sum_k B[j, k] (0 for padding) */
    float *scale;     /* [n_pad] weight scale per output channel (1 for padding) */
};

void rvt_qmat_init(struct rvt_qmat *q);
void rvt_qmat_release(struct rvt_qmat *q);
/*
 * Packs q8 [n, k] (row-major, values in [-127, 127]) with per-row scales scale[n].
 * Returns 0, RVT_ENOMEM, or RVT_EINVAL (k > RVT_QGEMM_MAX_K, a value of -128, a
 * non-finite or non-positive scale).  Replaces any previous content.
 */
int rvt_qmat_pack(struct rvt_qmat *q, const int8_t *q8, const float *scale, int n, int k,
                  struct rvt_error *err);
/* Bytes an A row needs: k rounded up to RVT_QGEMM_KQ. */
static inline int rvt_qgemm_k_pad(int k) { return (k + RVT_QGEMM_KQ - 1) / RVT_QGEMM_KQ * RVT_QGEMM_KQ; }

enum rvt_qact {
    RVT_QACT_NONE = 0,
    RVT_QACT_RELU = 1, /* v > 0 ? v : +0 (NaN -> 0) */
};

/*
 * One GEMM call.  Exactly one of c (raw int32) and out (float epilogue) is set.
 * A rows are read up to b->k_pad bytes: the caller zeroes bytes k..k_pad-1 (their
 * products with the zero padding of B vanish, but they must be initialised memory).
 */
struct rvt_qgemm_args {
    int m;                    /* rows of A and of the output */
    const uint8_t *a;         /* [m][lda], lda >= b->k_pad */
    size_t lda;
    const struct rvt_qmat *b; /* packed weights, n columns of the output */

    int32_t *c; /* raw sums C[i * ldc + j], j < n; or NULL */
    size_t ldc;

    float *out;            /* out[i * out_rs + j * out_cs]; or NULL */
    size_t out_rs, out_cs; /* (n, 1) row-major; (1, m) column-major (channels-first) */
    const float *a_scale;  /* activation scale of row i: a_scale[i / a_group] */
    const int32_t *a_zero; /* activation zero point of row i: a_zero[i / a_group] */
    int a_group;           /* rows sharing one scale (per-tensor: m; per-sample: h * w) */
    const float *bias;     /* [n] or NULL */
    enum rvt_qact act;
};

/*
 * The kernels of one level.  Every member is set; levels give identical results.
 *   gemm:      see struct rvt_qgemm_args; (ith, nth) as in the file comment.
 *   minmax:    *lo = min(x), *hi = max(x) over n >= 1 values; both NaN when any x is
 *              NaN (so dynamic quantization can refuse it).  The sign of a zero
 *              result may differ between levels (-0 == +0); nothing else does.
 *   quantize:  q[i] = clamp(rint(x[i] * inv_scale) + zero, 0, 255), ties to even,
 *              clamping in float before rounding: v = max(min(v, 255 - zero), -zero)
 *              with min first, so NaN -> 255 (callers reject NaN before).
 *   quantize_t: the channels-first variant: x [c][hw] (row stride ldx) -> q [hw][ldq],
 *              q[p * ldq + ch] for ch < c, and q[p * ldq + ch] = 0 for c <= ch < c_pad.
 */
struct rvt_qgemm_kernels {
    enum rvt_isa isa;
    void (*gemm)(const struct rvt_qgemm_args *g, int ith, int nth);
    void (*minmax)(const float *x, size_t n, float *lo, float *hi);
    void (*quantize)(const float *x, size_t n, float inv_scale, int32_t zero, uint8_t *q);
    void (*quantize_t)(const float *x, int c, size_t hw, size_t ldx, float inv_scale,
                       int32_t zero, uint8_t *q, size_t ldq, int c_pad);
};

/* The best level for this CPU (rvt_cpu_isa(), so RVT_ISA=ref|avx2 lowers it).
 * Filled once (thread-safe), read-only after. */
const struct rvt_qgemm_kernels *rvt_qgemm_kernels_get(void);
/* The kernels of one level, or NULL when this CPU (or RVT_ISA) does not allow it. */
const struct rvt_qgemm_kernels *rvt_qgemm_kernels_for(enum rvt_isa isa);

/* Internal: the per-level kernels (lib/nn/qgemm_ref.c, x86/qgemm_avx2.c, x86/qgemm_avx512.c). */
extern const struct rvt_qgemm_kernels rvti_qgemm_ref;
extern const struct rvt_qgemm_kernels rvti_qgemm_avx2;
extern const struct rvt_qgemm_kernels rvti_qgemm_avx512;
/* Internal: rows [*i0, *i1) and column blocks [*j0, *j1) (of 16) that part ith of nth
 * computes; mr is the kernel's row tile (splits stay tile-aligned). */
void rvti_qgemm_split(int m, int n_blocks, int mr, int ith, int nth, int *i0, int *i1, int *j0,
                      int *j1);
/* Internal: quantize_t of the portable level, which SIMD levels may reuse. */
void rvti_qgemm_quantize_t_ref(const float *x, int c, size_t hw, size_t ldx, float inv_scale,
                               int32_t zero, uint8_t *q, size_t ldq, int c_pad);
/* Internal: one activation value (see quantize above); top = 255 - zero, bot = -zero.
 * fminf with the top first sends NaN to the top, like vminps(v, top). */
static inline uint8_t rvti_qgemm_quant1(float x, float inv_scale, float top, float bot,
                                        int32_t zero)
{
    float v = x * inv_scale;
    v = fminf(v, top);
    v = fmaxf(v, bot);
    return (uint8_t)((int32_t)nearbyintf(v) + zero);
}
/* Internal: the epilogue of one element, shared by every level's scalar tail. */
static inline float rvti_qgemm_epi1(int32_t acc, int32_t zero, int32_t colsum, float sa,
                                    float sb, const float *bias, int j, enum rvt_qact act)
{
    float s = sa * sb;
    float v = (float)(acc - zero * colsum) * s;
    if (bias)
        v = v + bias[j];
    if (act == RVT_QACT_RELU)
        v = v > 0.0f ? v : 0.0f;
    return v;
}

#endif
