/*
 * prof.h: where a forward pass spends its time, kernel by kernel (run-model --profile).
 *
 * While profiling is on, rvt_sgemm_kernels(), rvt_qgemm_kernels() and rvt_nn_kernels()
 * return tables whose heavy entries time each call (CLOCK_MONOTONIC around the level's
 * own kernel) and add it to a record keyed by the kernel and the call's shape; the
 * arithmetic is the level's, so the outputs are the same bits.  Every thread's calls
 * count: a team's threads each call for their share of a layer (and a banded layer
 * once a band of rows), so the calls are kernel calls, the times CPU time inside the
 * kernels, and the flop the layer's (a split product's counted on its thread 0).
 *
 *   rvt_nn_prof_start();                 // clears, then times every kernel call
 *   ... forward passes ...
 *   rvt_nn_prof_stop();
 *   rvt_nn_prof_write(f, clips, &err);   // CSV, the costliest first
 *
 * Not for production runs: each timed call takes a mutex (a few hundred calls a clip,
 * about a microsecond each).
 */
#ifndef RVT_NN_PROF_H
#define RVT_NN_PROF_H

#include "core/common.h"

#include <stdio.h>

void rvt_nn_prof_start(void);
void rvt_nn_prof_stop(void);
/* Whether kernel calls are timed (the dispatch functions ask it on every call). */
bool rvt_nn_prof_on(void);

/* One timed call: kind a static string, shape its own text (copied when new), seconds
 * its duration on this thread, calls and flop what it adds to the record. */
void rvt_nn_prof_add(const char *kind, const char *shape, double seconds, int calls, double flop);

/* The records: kernel,shape,calls_per_clip,ms_per_clip,share,gflop_s (clips > 0; share
 * of the total of the records), sorted by time, then a total row.  *total_ms gets the
 * total a clip (or NULL).  0, or RVT_EIO. */
int rvt_nn_prof_write(FILE *f, double clips, double *total_ms, struct rvt_error *err);

/* The timing tables of this CPU's level (the dispatch functions' business). */
struct rvt_sgemm_kernels;
struct rvt_qgemm_kernels;
struct rvt_nn_kernels;
const struct rvt_sgemm_kernels *rvti_prof_sgemm(void);
const struct rvt_qgemm_kernels *rvti_prof_qgemm(void);
const struct rvt_nn_kernels *rvti_prof_nn(void);

#endif
