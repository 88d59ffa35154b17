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
 * rvt_store_encode() touches no HDF5 state and may run on any thread.
 *
 * Layout details (schemas/features.md is the full contract):
 *   - A field of per-clip shape dims is the dataset [N, dims...], maxdims
 *     [unlimited, dims...].  Fields of at least RVT_STORE_CHUNK_MIN bytes a clip
 *     (mel, frames) are chunked one clip per chunk; smaller ones (scalars, string
 *     columns, frame_pts) pack a power of two of clips per chunk (up to 64 KiB,
 *     at most 4096 clips), because a 4-byte chunk costs ~100 bytes of index.
 *   - Filters: shuffle then deflate at the writer's level (rvt_store_set_deflate /
 *     config store.deflate, default 4); level 0 stores chunks unfiltered.
 *   - Strings: fixed-length, NUL-padded ASCII of dims[0] - 1 bytes in the file
 *     (h5py sees dtype S<dims[0]-1>); a reader gets dims[0] bytes, NUL-terminated.
 *     Clip ids are RVT_STORE_ID_MAX bytes incl. the NUL.
 *   - Root attributes are scalar variable-length UTF-8 strings (h5py: str), or
 *     1-D arrays of them (rvt_store_set_attr_list, e.g. "class_names").
 *   - Object timestamps are off; groups are created by the writer.
 *
 * Errors: HDF5's own error printing is switched off; failures come back as one
 * line naming the file, the dataset and HDF5's innermost reason, e.g.
 *   "cannot open 'x.h5': not an HDF5 file (file signature not found)".
 * The writer is atomic: it writes "DIR/.NAME.tmp-XXXXXX" (core/atomic.h) and
 * renames it over NAME in rvt_store_commit; after any failure the writer only
 * accepts rvt_store_abort/rvt_store_free, and nothing appears under NAME.
 */
#ifndef RVT_STORE_STORE_H
#define RVT_STORE_STORE_H

#include "core/common.h"

struct rvt_config;

#define RVT_STORE_SCHEMA_VERSION "1"
#define RVT_STORE_MAX_RANK 5
#define RVT_STORE_MAX_FIELDS 32
#define RVT_STORE_ID_MAX 64            /* bytes of a clip id, incl. the NUL */
#define RVT_STORE_DEFAULT_DEFLATE 4
#define RVT_STORE_CHUNK_MIN 16384      /* per-clip bytes from which a clip is one chunk */
#define RVT_STORE_MAX_CLIPS 10000000   /* cap on N when reading a store */
#define RVT_STORE_MAX_DATASETS 256     /* cap on datasets listed by a reader */

enum rvt_dtype {
    RVT_DTYPE_U8,
    RVT_DTYPE_I32,
    RVT_DTYPE_I64,
    RVT_DTYPE_F32,
    RVT_DTYPE_F64,
    RVT_DTYPE_STR, /* fixed-length string, one a clip: rank 0 (1 is accepted and
                      normalised to 0), dims[0] = max bytes incl. NUL */
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

/* "HDF5 1.10.8" from the linked library, for --version (lib/core/cli.c
 * refers to it weakly, so tools that store nothing do not link HDF5). */
void rvt_store_hdf5_version(char *buf, size_t size);

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

/*
 * rvt_store_open, then rvt_store_check_kind: what tools call on their inputs,
 * so that a wrong file is refused when opened with a message saying what it is
 * and what was expected ("'mel.h5' is a mel store, expected a features store").
 */
int rvt_store_open_kind(struct rvt_store_reader **out, const char *path, const char *kind,
                        struct rvt_error *err);
/*
 * Checks a store is of kind (mel | frames | features: attribute "kind") and has
 * that kind's contents with their types (schemas/features.md), per clip:
 *   frames:   frames u8[K,H,W,3], frame_pts f64[K]
 *   mel:      mel f32[n_mels,max_len], mel_frames i32
 *   features: clips/label i32, clips/split str, attribute class_names, and those
 *             of the datasets above that it holds
 * and, every kind, attribute "config".  Sizes are the caller's to check against
 * its config or model.  Each failure names the file, the dataset and both layouts.
 */
int rvt_store_check_kind(struct rvt_store_reader *r, const char *kind, struct rvt_error *err);

size_t rvt_dtype_size(enum rvt_dtype t); /* bytes of one element; STR: 1 */
const char *rvt_dtype_name(enum rvt_dtype t); /* "u8", "i32", ... "str" */
/* Bytes of one clip of a field: product of dims times the element size (STR: dims[0]). */
size_t rvt_store_field_bytes(const struct rvt_store_field *f);

/* ---- extensions (compatible with the contract above) ---- */

/* Before the first append: gzip level 0-9 (0 = no shuffle/deflate).  Default 4. */
int rvt_store_set_deflate(struct rvt_store_writer *w, int level, struct rvt_error *err);
int rvt_store_deflate(const struct rvt_store_writer *w);
/*
 * Provenance in one call: "config" (rvt_config_dump text), "config_sha256",
 * the deflate level from store.deflate, "index_sha256" (when not NULL) and
 * "shard" ("i/n"; pass 0, 1 for an unsharded run).
 */
int rvt_store_set_provenance(struct rvt_store_writer *w, const struct rvt_config *cfg,
                             const char *index_sha256, int shard_i, int shard_n,
                             struct rvt_error *err);
/* A 1-D string-array root attribute (e.g. "class_names"). */
int rvt_store_set_attr_list(struct rvt_store_writer *w, const char *name,
                            const char *const *values, size_t n, struct rvt_error *err);
const char *rvt_store_writer_path(const struct rvt_store_writer *w); /* final path */

/*
 * Pre-encoded chunks, so that callers can compress in parallel and copy chunks
 * between stores without decoding them (pack-h5).  Only fields chunked one clip
 * per chunk (rvt_store_field_bytes >= RVT_STORE_CHUNK_MIN) take encoded data.
 *
 * struct rvt_store_chunk holds one clip of one field as HDF5 stores it: the
 * bytes after the filter pipeline and HDF5's filter mask (bit k set = filter k
 * was skipped).  data is owned by the struct (rvt_store_chunk_release).
 */
struct rvt_store_chunk {
    void *data;
    size_t size, cap;
    uint32_t filter_mask;
};
void rvt_store_chunk_release(struct rvt_store_chunk *c);
/* Scratch bytes rvt_store_encode needs for one clip of f. */
size_t rvt_store_encode_scratch(const struct rvt_store_field *f);
/*
 * Runs the writer's filters (shuffle, deflate at level) on one clip of f into
 * out (grown as needed): the same bytes HDF5's pipeline would store.  No HDF5
 * calls: thread-safe.  scratch: rvt_store_encode_scratch(f) bytes.
 */
int rvt_store_encode(const struct rvt_store_field *f, int level, const void *clip,
                     void *scratch, struct rvt_store_chunk *out, struct rvt_error *err);
/*
 * The inverse: one stored chunk (written at deflate level, 0 = unfiltered,
 * honouring its filter mask) back into clip bytes at dst.  No HDF5 calls.
 * scratch: rvt_store_encode_scratch(f) bytes.
 */
int rvt_store_decode(const struct rvt_store_field *f, int level, const struct rvt_store_chunk *in,
                     void *dst, void *scratch, struct rvt_error *err);
/*
 * Like rvt_store_append, but enc[k] (when not NULL) is fields[k] already encoded
 * for this writer's deflate level; for k with enc[k] == NULL, data[k] is used.
 */
int rvt_store_append_encoded(struct rvt_store_writer *w, const char *id,
                             const void *const *data, const struct rvt_store_chunk *const *enc,
                             struct rvt_error *err);

const char *rvt_store_path(const struct rvt_store_reader *r);
/* Datasets of the store other than clips/id, sorted by name ("clips/actor", "mel"). */
int rvt_store_n_datasets(const struct rvt_store_reader *r);
const char *rvt_store_dataset_name(const struct rvt_store_reader *r, int k);
/*
 * The deflate level a field was written with: 0 = unfiltered, -1 = another
 * filter pipeline than [shuffle, deflate], another chunk shape than one clip,
 * or a big-endian type (its chunks cannot be copied into our little-endian files).
 */
int rvt_store_field_deflate(struct rvt_store_reader *r, const char *name, struct rvt_error *err);
/* One clip's chunk as stored (for fields chunked one clip per chunk). */
int rvt_store_read_chunk(struct rvt_store_reader *r, const char *name, size_t i,
                         struct rvt_store_chunk *out, struct rvt_error *err);
/* List attribute; a scalar string attribute reads as a list of one.
 * Caller frees with rvt_store_list_free. */
int rvt_store_get_attr_list(const struct rvt_store_reader *r, const char *name, char ***values,
                            size_t *n, struct rvt_error *err);
void rvt_store_list_free(char ***values, size_t n);
int rvt_store_has_attr(const struct rvt_store_reader *r, const char *name);

#endif
