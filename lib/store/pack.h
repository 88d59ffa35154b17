/*
 * pack.h: join index.csv, frames stores and mel stores into one features.h5
 * (what pack-h5 does; schemas/features.md is the contract of the output).
 *
 *   struct rvt_pack_options o = {0};
 *   o.index_path = "index.csv";
 *   o.frames = (const char *[]){"frames.0.h5", "frames.1.h5"}; o.n_frames = 2;
 *   o.mel = (const char *[]){"mel.h5"}; o.n_mel = 1;
 *   o.out_path = "features.h5"; o.split = -1; o.cfg = cfg; o.jobs = 2;
 *   struct rvt_pack_report rep;
 *   if (rvt_pack(&o, &rep, &err) < 0) ... err.msg names the file and the reason
 *
 * What is checked before anything is written (each failure one message naming
 * the first offending file, clip id or config key and both values):
 *   - every input opens as a store of this schema version and of its kind
 *     (attribute "kind": frames | mel), with its required datasets
 *     (frames: frames, frame_pts; mel: mel, mel_frames);
 *   - the inputs of one kind form one complete set of shards: all "i/n" with the
 *     same n, every i once (no gaps, no overlaps); every clip of shard i/n has
 *     rvt_shard_of(id, n) == i; the shards hold the same datasets, dtypes, shapes;
 *   - configs agree: the config keys a kind depends on (frames: image.*, mel:
 *     audio.*) are equal in every input of that kind and in this run's config;
 *   - every stored clip is in the shard its id hashes to;
 *   - index.csv agrees with this run's config: label/label_name follow
 *     labels.set/labels.calm, and split follows split.* (unless o->resplit, which
 *     recomputes the split column from split.* instead).
 *
 * An index that lists no clip is refused (RVT_EINVAL).  Stored clips the index
 * does not list are left out (a filtered index).  Selected index rows that a
 * store lacks (clips an extractor skipped with --keep-going) are left out too,
 * listed in rep->missing and in the output's "missing_clips" attribute; when
 * that leaves no clip, rvt_pack fails.
 *
 * Output: the selected rows (o->split) present in every store, in index order; the clips/ columns from
 * the index, then every input dataset outside clips/ (chunks are copied as
 * stored when the input used the output's filters, else decoded and
 * re-encoded on o->jobs worker threads).  Deterministic: the same rows and
 * data give the same datasets and attributes whatever jobs and however the
 * inputs are sharded; only the input_* provenance lists name the actual files.
 * Memory does not grow with the number of clips beyond the index itself.
 */
#ifndef RVT_STORE_PACK_H
#define RVT_STORE_PACK_H

#include "core/common.h"
#include "core/config.h"
#include "ravdess/ravdess.h" /* RVT_ID_LEN */

struct rvt_pack_options {
    const char *index_path;
    const char *const *frames; /* frames stores (any complete set of shards) */
    int n_frames;
    const char *const *mel;    /* mel stores */
    int n_mel;
    const char *out_path;
    int split;                 /* -1 = all, else enum rvt_split */
    bool resplit;              /* split column from split.*, not from index.csv */
    const struct rvt_config *cfg;
    int jobs;                  /* worker threads for chunk re-encoding (>= 1) */
};

/* An index row left out because a store lacks it. */
struct rvt_pack_missing {
    char id[RVT_ID_LEN];
    const char *store;         /* the first input lacking it (a path of the options) */
};

struct rvt_pack_report {
    size_t n_index;            /* rows of index.csv */
    size_t n_written;          /* clips in the output */
    size_t n_copied;           /* chunks copied as stored */
    size_t n_encoded;          /* chunks (re-)encoded */
    size_t n_resplit;          /* rows whose split changed with resplit */
    struct rvt_pack_missing *missing; /* owned (rvt_pack_report_release), index order */
    size_t n_missing;          /* selected rows some store lacks: not written */
};

/* Fills *rep (also on failure: release it either way). */
int rvt_pack(const struct rvt_pack_options *o, struct rvt_pack_report *rep, struct rvt_error *err);
void rvt_pack_report_release(struct rvt_pack_report *rep);

/*
 * First difference between two config texts on keys starting with prefix:
 * returns 1 and fills key / a / b, 0 when equal,
 * < 0 on a parse failure.  Numbers compare by value ("8000" == "8000.0").  Each
 * text is read over the built-in defaults, so a key it lacks (a store older than
 * the key) has its default; a text with keys the defaults lack is read alone, and
 * a key missing on one side then reads "(absent)".
 */
int rvt_pack_config_diff(const char *text_a, const char *text_b, const char *prefix, char *key,
                         size_t key_n, char *a, char *b, size_t val_n, struct rvt_error *err);

#endif
