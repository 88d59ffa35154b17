/*
 * store.h: per-clip HDF5 stores (mel.h5, frames.h5, features.h5).
 *
 * CONTRACT (agreed by extract-mel, extract-frames, pack-h5, run-model; the store
 * owner implements it and documents the files in schemas/features.md):
 *
 * A store holds N clips.  Every per-clip dataset has the clip as its first
 * dimension, is chunked one clip per chunk, deflate + shuffle (no plugin
 * filters), and object timestamps are off, so equal inputs give equal bytes.
 * "/clips/id" (fixed-length strings) names the clips, in the order appended.
 * Root attributes (strings): "schema_version", "kind" (mel|frames|features),
 * "tool_version", "config" (effective config text), "config_sha256",
 * "index_sha256", "shard" ("i/n"), plus whatever the writer adds.
 *
 * Writing (streams: memory does not grow with N):
 *   struct rvt_store_field f[] = {
 *       {"mel", RVT_DTYPE_F32, 2, {64, 300}},
 *       {"mel_frames", RVT_DTYPE_I32, 0, {0}},
 *   };
 *   struct rvt_store_writer *w;
 *   rvt_store_create(&w, "mel.h5", "mel", f, 2, &err);      // temp file beside it
 *   rvt_store_set_attr(w, "config", text, &err);
 *   for each clip: const void *data[2] = {mel, &n}; rvt_store_append(w, id, data, &err);
 *   rvt_store_commit(w, &err);  // or rvt_store_abort(w): nothing under the final name
 *   rvt_store_free(&w);
 *
 * Reading:
 *   struct rvt_store_reader *r;
 *   rvt_store_open(&r, "features.h5", &err);
 *   size_t n = rvt_store_count(r);
 *   const char *id = rvt_store_id(r, i);
 *   rvt_store_field_info(r, "mel", &field, &err);              // dtype + per-clip shape
 *   rvt_store_read(r, "mel", i, buf, &err);                      // one clip
 *   char *cfg; rvt_store_get_attr(r, "config", &cfg, &err); free(cfg);
 *   rvt_store_close(&r);
 *
 * Thread rule: a writer or reader is used by one thread at a time (HDF5 is built
 * without thread safety in Debian); tools do HDF5 I/O on their emitting thread.
 */
#ifndef RVT_STORE_STORE_H
#define RVT_STORE_STORE_H

#include "core/common.h"

#define RVT_STORE_SCHEMA_VERSION "1"
#define RVT_STORE_MAX_RANK 5
#define RVT_STORE_MAX_FIELDS 32

enum rvt_dtype {
    RVT_DTYPE_U8,
    RVT_DTYPE_I32,
    RVT_DTYPE_I64,
    RVT_DTYPE_F32,
    RVT_DTYPE_F64,
    RVT_DTYPE_STR, /* fixed-length string, dims[0] = max bytes incl. NUL */
};

struct rvt_store_field {
    const char *name;           /* dataset path, e.g. "mel" or "clips/actor" */
    enum rvt_dtype dtype;
    int rank;                   /* per-clip rank (0 = one scalar per clip) */
    uint64_t dims[RVT_STORE_MAX_RANK];
};

struct rvt_store_writer;
struct rvt_store_reader;

int rvt_store_create(struct rvt_store_writer **out, const char *path, const char *kind,
                     const struct rvt_store_field *fields, int n_fields, struct rvt_error *err);
int rvt_store_set_attr(struct rvt_store_writer *w, const char *name, const char *value,
                       struct rvt_error *err);
/* data[k] points at one clip of fields[k] (C order, dtype as declared). */
int rvt_store_append(struct rvt_store_writer *w, const char *id, const void *const *data,
                     struct rvt_error *err);
size_t rvt_store_written(const struct rvt_store_writer *w);
int rvt_store_commit(struct rvt_store_writer *w, struct rvt_error *err);
void rvt_store_abort(struct rvt_store_writer *w);
void rvt_store_free(struct rvt_store_writer **w); /* aborts if not committed */

int rvt_store_open(struct rvt_store_reader **out, const char *path, struct rvt_error *err);
size_t rvt_store_count(const struct rvt_store_reader *r);
const char *rvt_store_id(const struct rvt_store_reader *r, size_t i);
/* Index of a clip id, or -1 (ids are looked up with a binary search or hash). */
long rvt_store_find(const struct rvt_store_reader *r, const char *id);
int rvt_store_has(const struct rvt_store_reader *r, const char *name);
int rvt_store_field_info(const struct rvt_store_reader *r, const char *name,
                         struct rvt_store_field *out, struct rvt_error *err);
int rvt_store_read(struct rvt_store_reader *r, const char *name, size_t i, void *dst,
                   struct rvt_error *err);
/* Caller frees *value. */
int rvt_store_get_attr(const struct rvt_store_reader *r, const char *name, char **value,
                       struct rvt_error *err);
void rvt_store_close(struct rvt_store_reader **r);

size_t rvt_dtype_size(enum rvt_dtype t);

#endif
