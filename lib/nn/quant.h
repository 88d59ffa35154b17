/*
 * quant.h: the int8 quantization schemes of ravdess-tools.
 *
 * Weights: symmetric, per output channel (row j of W [n, k]), of b bits (top =
 * 2^(b-1) - 1: 127 for int8, 63 for quantize-model --weight-bits 7):
 *   scale[j] = max_k |W[j,k]| / top,  q[j,k] = clamp(rint(W[j,k] / scale[j]), -top, top)
 * in float32 arithmetic (IEEE division, rint ties to even).  -128 is never used, so
 * negating a channel (a BatchNorm with negative gamma folded into the scale) is exact.
 * An all-zero channel gets scale 1 and zero weights (its output is then the bias alone,
 * as in fp32); rvt_quant_weights counts such channels.  A NaN or infinite weight is an
 * error (RVT_EINVAL naming the channel).
 * PyTorch's per-channel symmetric observer divides by 127.5 and uses -128; ours keeps
 * the range symmetric so every kernel level and both signs behave alike.
 *
 * Activations: asymmetric uint8.  One map covers a set of values S: a column (the k
 * channels of one pixel, or a Linear layer's whole input vector: dynamic quantization,
 * qgemm.h quant_cols) or a tensor (a calibrated static range, or rvt_quant_planes):
 *   lo = min(min(S), 0), hi = max(max(S), 0)      (0 is exactly representable, so zero
 *                                                  padding of convolutions stays exact)
 *   scale = (hi - lo) / 255,  zero = clamp(rint(-lo / scale), 0, 255)
 *   q = clamp(rint(x * (1 / scale)) + zero, 0, 255),  x ~ scale * (q - zero)
 * A range below RVT_QUANT_MIN_RANGE (all-zero sets included) gets scale 1, zero 0, so
 * every value quantizes to 0.  Static values outside the range clamp.  Maps never span
 * two clips, so a clip's result never depends on the other clips of its batch.
 * ref: PyTorch torch/ao/quantization/observer.py (MinMaxObserver, per_tensor_affine),
 * the same formula without reduce_range, applied per column in the dynamic case.
 */
#ifndef RVT_NN_QUANT_H
#define RVT_NN_QUANT_H

#include "core/common.h"
#include "nn/qgemm.h"

/* Below this hi - lo a set of activations counts as all zero (qgemm.h). */
#define RVT_QUANT_MIN_RANGE RVT_QGEMM_MIN_RANGE

/* The affine map of one activation tensor. */
struct rvt_qparams {
    float scale;     /* real = scale * (q - zero) */
    float inv_scale; /* 1 / scale, what the kernels multiply by */
    int32_t zero;    /* 0..255 */
};

/*
 * Quantizes W [n, k] (row-major) into q [n, k] and scale [n] as above, with weights of
 * `bits` bits (2..8).  n_zero (may be NULL) receives the number of all-zero channels.
 * Returns 0 or RVT_EINVAL (bits out of range; a non-finite weight, "channel 3 of 512
 * has a nan weight at column 7").
 */
int rvt_quant_weights(const float *w, int n, int k, int bits, int8_t *q, float *scale,
                      int *n_zero, struct rvt_error *err);

/* The map for a tensor whose values span [lo, hi].  RVT_EINVAL when lo or hi is NaN or
 * infinite ("activation range [nan, nan] is not finite"). */
int rvt_quant_params(float lo, float hi, struct rvt_qparams *p, struct rvt_error *err);

/* min and max over k planes of n values (plane c at x + c * ldx); NaN if any is NaN. */
void rvt_quant_range(const struct rvt_qgemm_kernels *kr, const float *x, int k, size_t n,
                     size_t ldx, float *lo, float *hi);

/*
 * Dynamic quantization of one sample's channels-first tensor: k planes of n values
 * (plane c at x + c * ldx) -> packed positions p0..p0+n-1 of xp (qgemm.h), with
 * rvt_quant_range, rvt_quant_params and kr->pack_planes.  *p receives the map.
 * RVT_EINVAL on NaN/inf in x.  kr NULL: rvt_qgemm_kernels().
 */
int rvt_quant_planes(const struct rvt_qgemm_kernels *kr, const float *x, int k, size_t n,
                     size_t ldx, uint8_t *xp, size_t p0, int k_pad, struct rvt_qparams *p,
                     struct rvt_error *err);

#endif
