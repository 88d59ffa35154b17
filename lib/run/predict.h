/*
 * predict.h: the body of run-model: a model over a feature store, one predictions
 * CSV row per clip (schemas/predictions.md), on the per-clip runner (runner.h).
 *
 *   struct rvt_predict_opts po = {.model_path = "model.h5", .features_path = "f.h5",
 *                                 .split = "all", .output = "predictions.csv"};
 *   struct rvt_run_opts ro = {.label = "clips", .jobs = 4, .batch = 32, ...};
 *   struct rvt_predict_stats st;
 *   ret = rvt_run_predict(&po, &ro, &st, &err);   // RVT_EINVAL: a usage error
 *
 * It loads the checkpoint, opens the store and checks it against the model
 * (nn/feed.h), selects the clips of the split (store order), runs them batch by
 * batch on the runner's workers (each with its own session; OpenBLAS single-threaded,
 * so the bytes do not depend on -j or the batch), and writes the predictions (and the
 * logits) atomically.  A clip that cannot be read, or whose mel values or logits are
 * not finite, fails (skipped with ro->keep_going).
 *
 * Thread rule: call from one thread; HDF5 reads happen under a lock of the run.
 */
#ifndef RVT_RUN_PREDICT_H
#define RVT_RUN_PREDICT_H

#include "core/common.h"
#include "run/runner.h"

struct rvt_predict_opts {
    const char *model_path;    /* checkpoint, fp32 or int8 */
    const char *features_path; /* feature store of pack-h5 */
    const char *split;         /* train, val, test or all */
    const char *output;        /* predictions CSV, "-" = stdout */
    const char *logits;        /* id,logit_<class>,... CSV, or NULL */
};

struct rvt_predict_stats {
    size_t n_done;      /* clips written */
    int n_workers;
    int n_threads;      /* workers x the threads sharing each worker's clips */
    int n_failed;       /* clips skipped (keep_going) */
    double seconds;     /* wall time of the run */
    double cpu;         /* CPU seconds of the run (every thread) */
    double t_io, t_fwd; /* store reads and forward passes, summed over the workers */
    double macs;        /* multiply-adds of the network a clip */
};

int rvt_run_predict(const struct rvt_predict_opts *po, const struct rvt_run_opts *ro,
                    struct rvt_predict_stats *st, struct rvt_error *err);

#endif
