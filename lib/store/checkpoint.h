/*
 * checkpoint.h: reading and writing model.h5 (schemas/checkpoint.md and
 * checkpoint-int8.md) with libhdf5: the only HDF5 access of lib/nn (model loading,
 * quantize-model) goes through here.
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
 * The writer builds a checkpoint in memory (HDF5's core driver, no backing file)
 * and writes it out whole through an atomic output (core/atomic.h), so HDF5 never
 * meets a failing write (its error paths under H5Ocopy crash on ENOSPC) and a full
 * disk is one clean "cannot write" naming the output:
 *
 *   struct rvt_ckpt_writer *w;
 *   rvt_ckpt_writer_new(&w, "model-int8.h5", &err);
 *   rvt_ckpt_write_i8(w, "fusion.0.weight", 2, dims, q, &err);
 *   rvt_ckpt_copy_dataset(w, c, "fusion.0.bias", &err);      // as stored in c
 *   rvt_ckpt_copy_attrs(w, c, skip, &err);                   // root attributes of c
 *   rvt_ckpt_set_str(w, "format", "int8", &err);
 *   rvt_ckpt_writer_save(w, &atomic, "model-int8.h5", &err); // the image to atomic.fp
 *   rvt_ckpt_writer_free(&w);
 *
 * Datasets are written contiguous, without timestamps; the same calls give the
 * same bytes.
 *
 * Thread rule: one thread at a time (Debian's HDF5 is not thread-safe); the
 * model is loaded on the main thread.
 */
#ifndef RVT_STORE_CHECKPOINT_H
#define RVT_STORE_CHECKPOINT_H

#include <stdbool.h>

#include "core/atomic.h"
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

/* The datasets, sorted by name (byte order): key i of rvt_ckpt_count. */
size_t rvt_ckpt_count(const struct rvt_ckpt *c);
const char *rvt_ckpt_key(const struct rvt_ckpt *c, size_t i);
/* The rank (<= RVT_CKPT_MAX_RANK) and dims of a dataset, without reading it. */
int rvt_ckpt_shape(const struct rvt_ckpt *c, const char *key, int *rank, int64_t *dims,
                   struct rvt_error *err);

/* Refuses a dataset no read asked for (see above). */
int rvt_ckpt_check_unused(const struct rvt_ckpt *c, struct rvt_error *err);

/* "[a, b, c]" */
void rvt_ckpt_format_shape(char *buf, size_t n, int rank, const int64_t *dims);

struct rvt_ckpt_writer;

/* name: the file name recorded inside the image (the output's base name). */
int rvt_ckpt_writer_new(struct rvt_ckpt_writer **w, const char *name, struct rvt_error *err);
void rvt_ckpt_writer_free(struct rvt_ckpt_writer **w);
/* Datasets: int8 (file type int8 LE) and float32 (float32 LE). */
int rvt_ckpt_write_i8(struct rvt_ckpt_writer *w, const char *key, int rank, const int64_t *dims,
                      const int8_t *data, struct rvt_error *err);
int rvt_ckpt_write_f32(struct rvt_ckpt_writer *w, const char *key, int rank,
                       const int64_t *dims, const float *data, struct rvt_error *err);
/* Dataset `key` of c, as stored there (type, layout, filters, attributes). */
int rvt_ckpt_copy_dataset(struct rvt_ckpt_writer *w, const struct rvt_ckpt *c, const char *key,
                          struct rvt_error *err);
/* Every root attribute of c (each with its own type) but those skip(name) says. */
int rvt_ckpt_copy_attrs(struct rvt_ckpt_writer *w, const struct rvt_ckpt *c,
                        bool (*skip)(const char *name), struct rvt_error *err);
/* Root attributes: a UTF-8 variable-length string, a 1-d list of them, a scalar
 * int64 LE, a scalar float64 LE. */
int rvt_ckpt_set_str(struct rvt_ckpt_writer *w, const char *name, const char *value,
                     struct rvt_error *err);
int rvt_ckpt_set_strs(struct rvt_ckpt_writer *w, const char *name, char *const *v, int n,
                      struct rvt_error *err);
int rvt_ckpt_set_i64(struct rvt_ckpt_writer *w, const char *name, int64_t v,
                     struct rvt_error *err);
int rvt_ckpt_set_f64(struct rvt_ckpt_writer *w, const char *name, double v,
                     struct rvt_error *err);
/* Writes the image to a->fp (failures say "cannot write 'path'") and closes it. */
int rvt_ckpt_writer_save(struct rvt_ckpt_writer *w, struct rvt_atomic *a, const char *path,
                         struct rvt_error *err);

#endif
