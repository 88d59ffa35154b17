/*
 * pool.h: ordered parallel map for -j.
 *
 * Items 0..n-1 are processed by n_threads workers (work), and their results are
 * handed to emit on the calling thread in index order, so output is the same
 * whatever -j.  At most `window` items are in flight: item i uses slot
 * i % window, a buffer the caller allocated once, so memory does not grow with n.
 *
 *   work(ctx, i, slot, worker, err)   on a worker thread; worker in [0, n_threads)
 *                                     indexes per-worker scratch; returns < 0 on failure
 *   emit(ctx, i, slot, status, err)   on the caller's thread, in order; status and
 *                                     err are work's; to stop the run, write the
 *                                     reason into err and return < 0
 *
 * rvt_pool_run returns 0, or emit's negative code (err then holds its message).
 * n_threads == 1 runs everything inline on the calling thread.
 */
#ifndef RVT_CORE_POOL_H
#define RVT_CORE_POOL_H

#include "core/common.h"

typedef int (*rvt_pool_work_fn)(void *ctx, size_t i, void *slot, int worker,
                                struct rvt_error *err);
typedef int (*rvt_pool_emit_fn)(void *ctx, size_t i, void *slot, int status,
                                struct rvt_error *err);

int rvt_pool_run(size_t n, int n_threads, void **slots, size_t window, rvt_pool_work_fn work,
                 rvt_pool_emit_fn emit, void *ctx, struct rvt_error *err);

/* Number of online CPUs (at least 1). */
int rvt_cpu_count(void);

#endif
