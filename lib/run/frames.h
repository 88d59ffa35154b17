/*
 * frames.h: the body of extract-frames: K frames of every clip's video
 * (media/video.h) on the per-clip runner (runner.h), into a frames store
 * (schemas/frames.md).
 *
 *   struct rvt_frames_job job = {.opts = o, .cfg = cli.cfg, .clips = &list};
 *   struct rvt_run *run = NULL;
 *   ret = rvt_run_frames(&job, &ro, "frames.h5", &run, &err);
 *   rc = ret < 0 ? RVT_EXIT_FAILURE : rvt_run_report(run);
 *   rvt_run_free(&run);
 *
 * Workers x decoder threads = cores: with fewer clips or -j than cores each decoder
 * gets frame threads (opts.threads is set here).  A clip fails (naming its file)
 * when it has no video, does not decode, or a frame time is not finite or (but for
 * times=) out of order.  With ppm_dir every frame is also written as
 * ppm_dir/<id>_<k>.ppm.
 */
#ifndef RVT_RUN_FRAMES_H
#define RVT_RUN_FRAMES_H

#include "core/common.h"
#include "core/config.h"
#include "media/video.h"
#include "run/runner.h"

struct rvt_frames_job {
    struct rvt_frames_opts opts;      /* threads is chosen by rvt_run_frames */
    const struct rvt_config *cfg;     /* recorded in the store (provenance) */
    const struct rvt_run_list *clips;
    const char *ppm_dir;              /* or NULL */
};

/* *run (the caller frees it) is set once the run exists, for rvt_run_report. */
int rvt_run_frames(struct rvt_frames_job *job, const struct rvt_run_opts *ro, const char *output,
                   struct rvt_run **run, struct rvt_error *err);

#endif
