/*
 * qcalib.h: static activation ranges for int8 layers (quantize-model --calibrate).
 *
 * The fp32 network runs on calibration clips while an observer shows this collector
 * the input X of every dense layer (k planes of n columns).  Per weight key it keeps
 *   minmax:      the smallest and largest value seen;
 *   percentile:  the values at percentiles 100 - p and p of everything seen, from a
 *                4096-bin histogram over [min, max] filled in a second pass over the
 *                same clips (the range is then at most one bin (1/4096 of max - min)
 *                wider than the exact percentiles, never narrower).
 * The result is a table of rvt_quantize_range for rvt_checkpoint_quantize.
 *
 *   struct rvt_qcalib *c;
 *   rvt_qcalib_new(&c, keys, n_keys, RVT_QCALIB_PERCENTILE, 99.99, &err);
 *   for (pass = 0; pass < rvt_qcalib_passes(c); pass++) {
 *       rvt_qcalib_begin_pass(c, pass);
 *       ... run the clips; the observer calls rvt_qcalib_observe(c, key, x, k, n, ldx) ...
 *   }
 *   rvt_qcalib_ranges(c, &ranges, &n, &err);   // owned by c
 *   rvt_qcalib_free(&c);
 *
 * Thread rule: one thread (the observer is called from the forward pass).
 */
#ifndef RVT_NN_QCALIB_H
#define RVT_NN_QCALIB_H

#include "core/common.h"
#include "nn/qcheckpoint.h"

enum rvt_qcalib_method {
    RVT_QCALIB_MINMAX = 0,
    RVT_QCALIB_PERCENTILE = 1,
};

#define RVT_QCALIB_BINS 4096

struct rvt_qcalib;

/* keys: the weight keys to calibrate (copied).  percentile in (50, 100]. */
int rvt_qcalib_new(struct rvt_qcalib **out, char *const *keys, int n_keys,
                   enum rvt_qcalib_method method, double percentile, struct rvt_error *err);
void rvt_qcalib_free(struct rvt_qcalib **c);

int rvt_qcalib_passes(const struct rvt_qcalib *c);
void rvt_qcalib_begin_pass(struct rvt_qcalib *c, int pass);
/* X of layer `key`: k planes of n values, plane i at x + i * ldx.  Unknown keys are
 * ignored (layers that stay fp32). */
void rvt_qcalib_observe(struct rvt_qcalib *c, const char *key, const float *x, int k, size_t n,
                        size_t ldx);
/* The ranges (owned by c).  RVT_EINVAL when a key was never observed or saw NaN/Inf. */
int rvt_qcalib_ranges(struct rvt_qcalib *c, const struct rvt_quantize_range **ranges, int *n,
                      struct rvt_error *err);

#endif
