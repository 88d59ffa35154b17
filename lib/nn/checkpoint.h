/*
 * checkpoint.h: reading model.h5 (schemas/checkpoint.md) with libhdf5.
 *
 * A checkpoint is an HDF5 file whose root holds one dataset per PyTorch
 * state_dict key, named exactly as PyTorch names it
 * ("img_encoder.features.1.0.block.0.0.weight"), and string/integer attributes
 * (architecture, format, class_names, ...).  The reader checks what it is asked
 * for and words every failure as one line naming the file and the key:
 *
 *   struct rvt_ckpt *c;
 *   if (rvt_ckpt_open(&c, "model.h5", &err) < 0) ...   // not HDF5, truncated, ...
 *   rvt_ckpt_attr_str(c, "architecture", &s, &err);    // caller frees s
 *   int64_t dims[2] = {512, 1344};
 *   rvt_ckpt_read_f32(c, "fusion.0.weight", 2, dims, buf, &err);
 *     // "model.h5: 'fusion.0.weight' has shape [512, 1000], expected [512, 1344]"
 *     // "model.h5: missing key 'fusion.0.weight'", "...: 'x' holds NaN or Inf"
 *   rvt_ckpt_check_unused(c, &err);                    // "unexpected key 'x'"
 *   rvt_ckpt_close(&c);
 *
 * Every dataset read is marked used; rvt_ckpt_check_unused then refuses keys the
 * model did not ask for (PyTorch's load_state_dict(strict=True) does the same),
 * except "*.num_batches_tracked", which eval mode never reads.
 *
 * Thread rule: one thread at a time (Debian's HDF5 is not thread-safe); the
 * model is loaded on the main thread.
 */
#ifndef RVT_NN_CHECKPOINT_H
#define RVT_NN_CHECKPOINT_H

#include "core/common.h"

#define RVT_CKPT_MAX_KEYS 100000
#define RVT_CKPT_MAX_RANK 8
#define RVT_CKPT_MAX_ATTR (1 << 20) /* bytes of one string attribute */

struct rvt_ckpt;

enum rvt_ckpt_dtype {
    RVT_CKPT_ABSENT = 0,
    RVT_CKPT_FLOAT, /* any HDF5 float class (read converted to float32) */
    RVT_CKPT_INT8,  /* signed 8-bit integers (int8 checkpoints) */
    RVT_CKPT_OTHER,
};

int rvt_ckpt_open(struct rvt_ckpt **out, const char *path, struct rvt_error *err);
void rvt_ckpt_close(struct rvt_ckpt **c);
const char *rvt_ckpt_path(const struct rvt_ckpt *c);

/* Attributes of the root group.  Missing or of another type: RVT_EFORMAT. */
int rvt_ckpt_has_attr(const struct rvt_ckpt *c, const char *name);
int rvt_ckpt_attr_str(struct rvt_ckpt *c, const char *name, char **out, struct rvt_error *err);
int rvt_ckpt_attr_int(struct rvt_ckpt *c, const char *name, long *out, struct rvt_error *err);
/* A 1-d array of strings: *out is an array of *n strings, free with
 * rvt_ckpt_strings_free(out, n). */
int rvt_ckpt_attr_strings(struct rvt_ckpt *c, const char *name, char ***out, int *n,
                          struct rvt_error *err);
void rvt_ckpt_strings_free(char **s, int n);

/* Type of a dataset (RVT_CKPT_ABSENT when there is none of that name). */
enum rvt_ckpt_dtype rvt_ckpt_dtype(const struct rvt_ckpt *c, const char *key);

/* Reads a dataset that must have exactly `rank` dims equal to `dims` into dst, as
 * float32 (any float type converts) and refuses NaN or Inf. */
int rvt_ckpt_read_f32(struct rvt_ckpt *c, const char *key, int rank, const int64_t *dims,
                      float *dst, struct rvt_error *err);
/* Same for int8 datasets (no conversion). */
int rvt_ckpt_read_i8(struct rvt_ckpt *c, const char *key, int rank, const int64_t *dims,
                     int8_t *dst, struct rvt_error *err);

/* Refuses a dataset no read asked for (see above). */
int rvt_ckpt_check_unused(const struct rvt_ckpt *c, struct rvt_error *err);

/* "[a, b, c]" */
void rvt_ckpt_format_shape(char *buf, size_t n, int rank, const int64_t *dims);

#endif
