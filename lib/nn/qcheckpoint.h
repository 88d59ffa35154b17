/*
 * qcheckpoint.h: model.h5 -> model-int8.h5 (schemas/checkpoint-int8.md).
 *
 *   struct rvt_quantize_opts o;
 *   rvt_quantize_opts_init(&o);                 // linear, pointwise, se, conv; dynamic
 *   struct rvt_quantize_report r;
 *   ret = rvt_checkpoint_quantize("model.h5", "model-int8.h5", &o, &r, &err);
 *   ... r.n_layers, r.zero_layers ...
 *   rvt_quantize_report_release(&r);
 *
 * The output is written to a temporary beside it and renamed (core/atomic.h): a failed
 * or killed run leaves nothing under the final name.  Datasets that are not quantized
 * are copied as they are (H5Ocopy); root attributes are copied, then `format` and the
 * quant_* attributes are set.  The same input and options give the same bytes.
 *
 * rvt_checkpoint_plan() lists, without writing anything, which weights the options
 * would quantize (the calibration needs it to know which inputs to measure).
 *
 * Thread rule: HDF5 calls; one thread at a time.
 */
#ifndef RVT_NN_QCHECKPOINT_H
#define RVT_NN_QCHECKPOINT_H

#include "core/common.h"

/* Kinds of layers (schemas/checkpoint-int8.md "Which layers"). */
enum rvt_qkind {
    RVT_QKIND_LINEAR = 1 << 0,
    RVT_QKIND_POINTWISE = 1 << 1,
    RVT_QKIND_SE = 1 << 2,
    RVT_QKIND_CONV = 1 << 3,
    RVT_QKIND_STEM = 1 << 4,
};
/* Every kind but the stems (little work, the most sensitive inputs). */
#define RVT_QKIND_DEFAULT (RVT_QKIND_LINEAR | RVT_QKIND_POINTWISE | RVT_QKIND_SE | RVT_QKIND_CONV)

/*
 * Pointwise convolutions with fewer input channels than this stay float32 by default
 * (EfficientNet-B0's expands of 16, 24 and 40 channels and the 32 -> 16 project, all
 * at 56 x 56 or more positions): each output sums so few products that quantizing the
 * input and dequantizing the output cost more than the int8 products save (on AVX2
 * the six took 6.3-6.7 ms a clip in int8 against 3.6-4.2 in float32), and they are
 * the first layers, whose rounding errors the rest of the network amplifies most.
 */
#define RVT_QUANT_MIN_CHANNELS 64

/* Parses "linear,pointwise,se,conv,stem" (any subset, or "all") into a mask; writes
 * the canonical text of a mask.  RVT_EINVAL names an unknown word. */
int rvt_qkinds_parse(const char *text, unsigned *mask, struct rvt_error *err);
void rvt_qkinds_format(unsigned mask, char *buf, size_t n);

/* The kind of a weight dataset (0: never quantized: not a weight, depthwise, rank 1). */
unsigned rvt_qkind_of(const char *key, int rank, const int64_t *dims);

/* A static activation range of the input of weight `key`. */
struct rvt_quantize_range {
    char *key; /* owned by whoever built the table */
    float lo, hi;
};

struct rvt_quantize_opts {
    unsigned kinds;                        /* RVT_QKIND_* mask */
    const char *const *exclude;            /* weight keys kept fp32 */
    int n_exclude;
    int min_channels;                      /* pointwise with fewer inputs kept fp32 */
    int weight_bits;                       /* 8, or 7 (AVX2's faster products) */
    /* static activations: a range for every quantized layer (else RVT_EINVAL) */
    const struct rvt_quantize_range *ranges;
    int n_ranges;
    const char *activations;               /* "dynamic" | "static-minmax" | "static-percentile" */
    double percentile;                     /* static-percentile: upper percentile */
    /* calibration provenance (static only) */
    const char *calibration;               /* feature store file name */
    long calibration_clips;
    const char *calibration_split;
    const char *calibration_config_sha256;
    double budget;                         /* --budget (recorded when >= 0), else -1 */
    double budget_error;                   /* the error it reached */
};

void rvt_quantize_opts_init(struct rvt_quantize_opts *o);

struct rvt_quantize_report {
    int n_layers;           /* weights quantized */
    int n_narrow;           /* of the kinds asked, kept float32 by min_channels */
    int n_zero_channels;    /* all-zero output channels (scale 1) */
    char **zero_layers;     /* quantized layers entirely zero (owned) */
    int n_zero_layers;
    size_t n_int8;          /* weights stored as int8 */
    size_t n_float;         /* numbers stored as float (all other datasets) */
    char source_sha256[65];
};

void rvt_quantize_report_release(struct rvt_quantize_report *r);

/* The weight keys opts would quantize in `in`, sorted: *keys (owned, free with
 * rvt_quantize_keys_free), *n.  Refuses what rvt_checkpoint_quantize refuses about
 * the input itself (not HDF5, not a checkpoint, already int8). */
int rvt_checkpoint_plan(const char *in, const struct rvt_quantize_opts *opts, char ***keys,
                        int *n, struct rvt_error *err);
void rvt_quantize_keys_free(char **keys, int n);

/* The default output of `in`: "-int8" before its ".h5" (else "-int8.h5" appended);
 * malloc'ed, NULL when out of memory. */
char *rvt_quantize_default_output(const char *in);

int rvt_checkpoint_quantize(const char *in, const char *out, const struct rvt_quantize_opts *opts,
                            struct rvt_quantize_report *rep, struct rvt_error *err);

#endif
