/*
 * mel.h: the body of extract-mel: the log-mel of every clip (dsp/logmel.h) on the
 * per-clip runner (runner.h), into a mel store or a folder of .npy files.
 *
 *   struct rvt_mel_job job = {.params = &p, .cfg = cli.cfg, .clips = &list,
 *                             .out_path = "mel.h5"};
 *   struct rvt_run *run = NULL;
 *   ret = rvt_run_mel(&job, &ro, &run, &err);
 *   rc = ret < 0 ? RVT_EXIT_FAILURE : rvt_run_report(run);
 *   rvt_run_free(&run);
 *
 * The output (schemas/mel.md) records every audio parameter, the canonical audio.*
 * config text and its sha256, the index sha256 and the shard.  A clip fails (naming
 * its file) when it does not decode or a log-mel value is not finite.  With dump_dir,
 * every clip's intermediate stages go there as <id>.<stage>.npy, and window.npy and
 * melfb.npy once.
 */
#ifndef RVT_RUN_MEL_H
#define RVT_RUN_MEL_H

#include "core/common.h"
#include "core/config.h"
#include "dsp/logmel.h"
#include "run/runner.h"

struct rvt_mel_job {
    const struct rvt_logmel_params *params;
    const struct rvt_config *cfg;     /* audio.* (recorded), store.deflate */
    const struct rvt_run_list *clips;
    const char *out_path;             /* mel.h5, or NULL with ... */
    const char *npy_dir;              /* ... a folder of .npy files */
    const char *dump_dir;             /* or NULL */
};

/* *run (the caller frees it) is set once the run exists, for rvt_run_report. */
int rvt_run_mel(const struct rvt_mel_job *job, const struct rvt_run_opts *ro,
                struct rvt_run **run, struct rvt_error *err);

#endif
