/*
 * qsearch.h: quantize-model --calibrate: static activation ranges and the --budget
 * search of the layers to keep float32, on clips of a feature store.
 *
 *   struct rvt_quantize_opts qo;            // kinds and the user's exclusions set
 *   struct rvt_qsearch_opts o;
 *   rvt_qsearch_opts_init(&o);
 *   o.features = "features.h5";
 *   struct rvt_qsearch *s = NULL;
 *   ret = rvt_qsearch_run(&s, "model.h5", "model-int8.h5", &o, &qo, &err);
 *   ret = rvt_checkpoint_quantize("model.h5", "model-int8.h5", &qo, &rep, &err);
 *   rvt_qsearch_free(&s);                   // after the last use of qo
 *
 * The fp32 model runs on the first max_clips clips of the split (store order; the
 * store is checked against the model as run-model checks it, nn/feed.h), one clip at a
 * time, while an observer of the dense layers records the order in which the forward
 * pass first uses each int8 candidate (rvt_checkpoint_plan) and, for the minmax and
 * percentile methods, each candidate's input range (qcalib.h).
 *
 * With budget >= 0 it then keeps the fewest leading candidates (forward order) in
 * float32 for the int8 logits to stay within a relative L2 distance `budget` of the
 * fp32 logits on those clips: int8 rounding errors grow on their way through a deep
 * network, most from the first layers, and the error shrinks as more of the network
 * stays fp32 (all of it: error 0), so a binary search finds the count, one trial int8
 * checkpoint a step.  Trials are written to named temporaries beside `out` (core/
 * atomic.h: swept after a crash) and removed.
 *
 * rvt_qsearch_run fills qo: ranges and activations (static methods), the calibration
 * provenance, and with a budget the exclusions (qo's own, then the kept candidates),
 * budget and budget_error.  What those point to is owned by the search.
 *
 * Thread rule: one thread (HDF5; the dense-layer observer is process-wide).
 */
#ifndef RVT_NN_QSEARCH_H
#define RVT_NN_QSEARCH_H

#include "core/common.h"
#include "nn/qcheckpoint.h"

enum rvt_qsearch_method {
    RVT_QSEARCH_DYNAMIC = 0,    /* no static ranges: the clips only serve the budget */
    RVT_QSEARCH_MINMAX = 1,
    RVT_QSEARCH_PERCENTILE = 2,
};

struct rvt_qsearch_opts {
    const char *features;       /* calibration feature store (pack-h5) */
    const char *split;          /* train, val, test or all (default train) */
    enum rvt_qsearch_method method; /* default minmax */
    double percentile;          /* percentile method, in (50, 100] (default 99.99) */
    double budget;              /* < 0 (default): no search */
    long max_clips;             /* 0: every clip of the split (default 32) */
};

void rvt_qsearch_opts_init(struct rvt_qsearch_opts *o);

struct rvt_qsearch;

int rvt_qsearch_run(struct rvt_qsearch **s, const char *in, const char *out,
                    const struct rvt_qsearch_opts *o, struct rvt_quantize_opts *qo,
                    struct rvt_error *err);
/* After a budget search: candidates kept float32, of how many. */
int rvt_qsearch_kept(const struct rvt_qsearch *s);
int rvt_qsearch_candidates(const struct rvt_qsearch *s);
void rvt_qsearch_free(struct rvt_qsearch **s);

#endif
