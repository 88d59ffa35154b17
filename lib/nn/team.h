/*
 * team.h: a few threads that run one clip's network together (single-clip latency).
 *
 * The model's forward is written once, SPMD style: every thread of a team runs the same
 * code with its own `struct rvt_nn_par` (thread ith of nth), computes its share of each
 * layer (channel slices, output rows or position blocks, split by (n + nth - 1) / nth
 * as the kernels do) and meets the others at rvt_nn_par_sync() before a layer reads
 * what another thread wrote.  A share never changes how a value is computed, so the
 * results are the same bits whatever nth (tests/unit/test_nn.c checks the network).
 *
 *   struct rvt_nn_team *t;
 *   rvt_nn_team_new(&t, 2, &err);          // the caller is thread 0, one helper thread
 *   rvt_nn_team_run(t, fn, ctx);           // fn(ctx, par) on every thread; returns when
 *                                          // all have returned
 *   rvt_nn_team_free(&t);
 *
 * A NULL par is one thread: rvt_nn_par_sync(NULL) returns at once.
 *
 * Waiting: at a sync a thread spins briefly (layers last tens of microseconds), then
 * yields the core (the machine may have fewer free cores than threads); between runs
 * helpers sleep on a condition variable.
 *
 * Thread rule: a team is driven by one thread at a time (its session's).
 */
#ifndef RVT_NN_TEAM_H
#define RVT_NN_TEAM_H

#include "core/common.h"

#define RVT_NN_TEAM_MAX 16

struct rvt_nn_team;

struct rvt_nn_par {
    int ith, nth;
    struct rvt_nn_team *team; /* NULL when nth == 1 */
};

typedef void (*rvt_nn_team_fn)(void *ctx, const struct rvt_nn_par *par);

/* nth in 1..RVT_NN_TEAM_MAX threads, the caller included (nth - 1 are started). */
int rvt_nn_team_new(struct rvt_nn_team **out, int nth, struct rvt_error *err);
void rvt_nn_team_free(struct rvt_nn_team **t);
int rvt_nn_team_size(const struct rvt_nn_team *t);
void rvt_nn_team_run(struct rvt_nn_team *t, rvt_nn_team_fn fn, void *ctx);

/*
 * Profiling (benchmarks): while on, every sync records the CPU time each thread spent
 * since its previous sync, outside the waits.  *crit_s gets the sum, over those
 * intervals, of the slowest thread's time: how long the runs would have taken on idle
 * cores, the syncs themselves aside (a figure a loaded machine cannot give by wall
 * time); *cpu_s the sum of every thread's time; both since profiling was turned on.
 */
void rvt_nn_team_profile(struct rvt_nn_team *t, bool on);
void rvt_nn_team_profile_get(const struct rvt_nn_team *t, double *crit_s, double *cpu_s);

/* Waits until every thread of the team has reached this sync. */
void rvt_nn_par_sync(const struct rvt_nn_par *par);

/* The part [*i0, *i1) of n items (in units of `unit`, n need not be a multiple) that
 * thread ith of nth takes: ceil(n_units / nth) units each. */
static inline void rvt_nn_par_range(const struct rvt_nn_par *par, size_t n, size_t unit,
                                    size_t *i0, size_t *i1)
{
    size_t units = (n + unit - 1) / unit, nth = par ? (size_t)par->nth : 1;
    size_t ith = par ? (size_t)par->ith : 0, per = (units + nth - 1) / nth;
    *i0 = RVT_MIN(n, ith * per * unit);
    *i1 = RVT_MIN(n, (ith + 1) * per * unit);
}

static inline bool rvt_nn_par_first(const struct rvt_nn_par *par)
{
    return !par || par->ith == 0;
}

#endif
