/*
 * runner.h: the per-clip engine of the clip tools (extract-mel, extract-frames,
 * run-model).
 *
 * A tool gives the runner its clips (id and file, in its order), the layout of one
 * clip's result (store fields) and two callbacks:
 *   process  on a worker thread: compute one work item (one clip, or a batch of
 *            clips) into the item's result buffers;
 *   write    on the calling thread, clip by clip in the tool's order: write one
 *            clip's result (optional when the runner writes a store).
 * The runner owns the rest, the same in every tool:
 *   - sharding: with --shard I/N only the clips with rvt_shard_of(id, N) == I run;
 *   - workers (-j): never more than work items; batches shrink so that every
 *     worker gets one;
 *   - the ordered slot window: at most 2 items a worker in flight, results written
 *     in clip order, so the output is the same whatever -j and batch;
 *   - --keep-going: a clip that fails is warned about ("skipped ID: reason"),
 *     listed in the failures CSV (id,path,reason) and left out; without it the
 *     first failure stops the run;
 *   - progress on stderr (core/log.h);
 *   - the commit: the runner's store (rvt_run_store_create) and the tool's own
 *     output (commit/abort callbacks) are committed only when every clip was
 *     written, then the failures CSV; after a failure nothing of the run is left.
 *
 *   struct rvt_run *r;
 *   struct rvt_run_opts o = {.label = "mel", .jobs = cli.jobs, .shard_i = cli.shard_i,
 *                            .shard_n = cli.shard_n, .keep_going = cli.keep_going,
 *                            .failures_path = cli.failures_path, .output_path = out};
 *   rvt_run_new(&r, &o, clips, n, &err);          // clips[k] = {id, path, k}
 *   ... per-worker state for rvt_run_workers(r) workers ...
 *   rvt_run_set_fields(r, fields, 2, &err);       // one clip's result
 *   rvt_run_store_create(r, "mel.h5", "mel", &w, &err);   // optional; set attrs on w
 *   struct rvt_run_tool t = {ctx, process, NULL, NULL, NULL};
 *   ret = rvt_run_go(r, &t, &err);                // runs, commits or removes everything
 *   rc = ret < 0 ? RVT_EXIT_FAILURE : rvt_run_failed(r) ? RVT_EXIT_SKIPPED : RVT_EXIT_OK;
 *   rvt_run_free(&r);
 *
 * Errors: a clip's failure is the process callback's message (name the file in
 * it); whole-run failures (the store, the failures CSV, write) stop the run.
 * Thread rule: process runs on worker threads (with `worker` in [0, workers) for
 * per-worker state); write, commit and abort run on the caller's thread, which
 * is also the only one that touches the runner's store.
 */
#ifndef RVT_RUN_RUNNER_H
#define RVT_RUN_RUNNER_H

#include "core/common.h"
#include "ravdess/index.h"
#include "store/store.h"

#define RVT_RUN_MAX_FIELDS 8

/* One clip of the tool's list. */
struct rvt_run_clip {
    const char *id;   /* not owned; the shard is chosen by it */
    const char *path; /* not owned; the file of the failures CSV ("" when none) */
    size_t src;       /* the tool's own index of the clip (index row, store row) */
};

struct rvt_run_opts {
    const char *label;         /* progress label, e.g. "mel" */
    int jobs;                  /* workers wanted (-j, >= 1) */
    int shard_i, shard_n;      /* --shard I/N; 0, 0 or 0, 1: every clip */
    bool keep_going;           /* -k */
    const char *failures_path; /* --failures; NULL: OUTPUT.failures.csv */
    const char *output_path;   /* names the default failures CSV ("-": stdout) */
    size_t batch;              /* clips per work item; 0 or 1: one */
};

/* One work item: clips [first, first + n) of the run (n <= rvt_run_batch). */
struct rvt_run_item {
    const struct rvt_run_clip *clips; /* the item's n clips */
    size_t first, n;
    int worker;               /* [0, rvt_run_workers): per-worker state */
    void **data;              /* data[f]: field f of the item's clips, clip k at
                               * data[f] + k * rvt_store_field_bytes(field f) */
    int *status;              /* [n], 0; set < 0 for a clip that failed ... */
    struct rvt_error *errs;   /* [n] ... with its message here */
};

/*
 * process: fills the item's result buffers.  Returns < 0 (message in err) when
 * the whole item failed (each of its clips then fails with that message), else 0;
 * single clips of a batch fail through item->status / item->errs.
 * write: the clip's result (data[f] its field f), in clip order; < 0 stops the run.
 * commit / abort: the tool's own output, after the last clip / after a failure.
 */
struct rvt_run_tool {
    void *ctx;
    int (*process)(void *ctx, struct rvt_run_item *item, struct rvt_error *err);
    int (*write)(void *ctx, const struct rvt_run_clip *clip, const void *const *data,
                 struct rvt_error *err);
    int (*commit)(void *ctx, struct rvt_error *err);
    void (*abort)(void *ctx);
};

struct rvt_run;

/* Selects the shard's clips (copied; the strings stay the caller's) and opens
 * nothing yet: the failures CSV appears with the first skipped clip. */
int rvt_run_new(struct rvt_run **out, const struct rvt_run_opts *o,
                const struct rvt_run_clip *clips, size_t n, struct rvt_error *err);
/* Removes whatever was not committed (store, failures CSV); NULL-safe. */
void rvt_run_free(struct rvt_run **r);

size_t rvt_run_count(const struct rvt_run *r);   /* clips of this run (the shard) */
const struct rvt_run_clip *rvt_run_clips(const struct rvt_run *r);
int rvt_run_workers(const struct rvt_run *r);    /* worker threads rvt_run_go starts */
size_t rvt_run_batch(const struct rvt_run *r);   /* clips per item (after shrinking) */

/* The layout of one clip's result (copied); at most RVT_RUN_MAX_FIELDS. */
int rvt_run_set_fields(struct rvt_run *r, const struct rvt_store_field *fields, int n,
                       struct rvt_error *err);
/*
 * A store of those fields (rvt_store_create), owned by the runner: it appends
 * every clip in order, compresses fields of one clip a chunk on the workers, and
 * commits or aborts it.  *w is for the caller's attributes and deflate level
 * (set them before rvt_run_go).  Only with batch 1.
 */
int rvt_run_store_create(struct rvt_run *r, const char *path, const char *kind,
                         struct rvt_store_writer **w, struct rvt_error *err);

/*
 * Instead of a store: a folder of .npy files (created when missing).  Field 0 (of
 * any rank) goes to DIR/<id>.npy, each scalar int32 field F to the column of
 * DIR/F.csv ("id,F", one row a clip); rvt_run_set_attr goes to DIR/<kind>_attrs.yaml
 * (a value with newlines as a block scalar).  The .npy files are written without
 * fsync and the folder is synced once before the CSV and YAML files (atomic)
 * appear; after a failure the run's .npy files are removed.
 */
int rvt_run_npy_create(struct rvt_run *r, const char *dir, const char *kind,
                       struct rvt_error *err);
/* A root attribute of the output (store or npy folder), in call order. */
int rvt_run_set_attr(struct rvt_run *r, const char *key, const char *value,
                     struct rvt_error *err);

/* Runs every clip; then commits (store, tool output, failures CSV) or removes them. */
int rvt_run_go(struct rvt_run *r, const struct rvt_run_tool *tool, struct rvt_error *err);

size_t rvt_run_written(const struct rvt_run *r);   /* clips written */
int rvt_run_failed(const struct rvt_run *r);       /* clips skipped (--keep-going) */
const char *rvt_run_failures_path(const struct rvt_run *r);
double rvt_run_seconds(const struct rvt_run *r);   /* wall time of rvt_run_go */

/* The tool's closing line at info level: "N clips in S s[, K skipped (listed in F)]",
 * and its exit code (RVT_EXIT_OK, or RVT_EXIT_SKIPPED when clips were skipped). */
int rvt_run_report(const struct rvt_run *r);

/*
 * Clip lists for rvt_run_new: an index.csv (id, and audio_path or video_path as the
 * file), or audio/video files named on the command line (id: the file name without
 * folder and extension; two files of the same id are RVT_EINVAL).  sha256 is the
 * index's, or that of the file list (the paths, one a line).
 */
enum rvt_run_media { RVT_RUN_AUDIO, RVT_RUN_VIDEO };
struct rvt_run_list {
    struct rvt_index idx;        /* index mode */
    struct rvt_run_clip *clips;  /* owned, n */
    size_t n;
    char **ids;                  /* owned (files mode) */
    char sha256[65];
};
int rvt_run_list_index(struct rvt_run_list *l, const char *path, enum rvt_run_media media,
                       struct rvt_error *err);
int rvt_run_list_files(struct rvt_run_list *l, char *const *paths, size_t n,
                       struct rvt_error *err);
void rvt_run_list_release(struct rvt_run_list *l);

#endif
