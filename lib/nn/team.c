/* team.c: the threads of one session (see team.h). */
#include "core/common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/team.h"

/* Spins of a sync before it yields the core: ~1000 pause instructions are a few
 * microseconds, longer than the usual imbalance of a split layer, far shorter than
 * a time slice of a thread the kernel has switched out. */
#define SPINS 1000
/* Intervals between syncs profiled in one run (more are not recorded). */
#define PROF_MAX 8192

struct prof {
    double last;        /* thread CPU seconds when it left its previous sync */
    int n;              /* intervals recorded in this run */
    double *d;          /* [PROF_MAX] each interval's CPU seconds */
};

struct rvt_nn_team {
    int nth, started;
    pthread_t th[RVT_NN_TEAM_MAX];
    struct rvt_nn_par par[RVT_NN_TEAM_MAX];
    /* the run: under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned gen;
    bool quit;
    rvt_nn_team_fn fn;
    void *ctx;
    /* the barrier: threads arrived, and its phase, bumped by the last one in */
    _Alignas(64) atomic_int arrived;
    _Alignas(64) atomic_uint phase;
    /* profiling: written by the team's threads each on its own, summed by thread 0
     * after a run's last sync */
    bool prof_on;
    struct prof prof[RVT_NN_TEAM_MAX];
    double crit_s, cpu_s;
};

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void rvt_nn_par_sync(const struct rvt_nn_par *par)
{
    struct rvt_nn_team *t;
    unsigned ph;
    int spins = 0;

    struct prof *pr;

    if (!par || par->nth <= 1)
        return;
    t = par->team;
    pr = t->prof_on ? &t->prof[par->ith] : NULL;
    if (pr && pr->n < PROF_MAX)
        pr->d[pr->n++] = thread_cpu() - pr->last;
    ph = atomic_load_explicit(&t->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->arrived, 1, memory_order_acq_rel) == t->nth - 1) {
        atomic_store_explicit(&t->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->phase, 1, memory_order_release);
    } else {
        while (atomic_load_explicit(&t->phase, memory_order_acquire) == ph) {
            if (++spins < SPINS)
                cpu_relax();
            else
                sched_yield();
        }
    }
    if (pr)
        pr->last = thread_cpu();
}

void rvt_nn_team_profile(struct rvt_nn_team *t, bool on)
{
    int i;

    for (i = 0; on && i < t->nth; i++)
        if (!t->prof[i].d && !(t->prof[i].d = malloc(PROF_MAX * sizeof(double))))
            on = false; /* out of memory: no profile */
    t->prof_on = on;
    t->crit_s = t->cpu_s = 0;
}

void rvt_nn_team_profile_get(const struct rvt_nn_team *t, double *crit_s, double *cpu_s)
{
    *crit_s = t->crit_s;
    *cpu_s = t->cpu_s;
}

/* After a run's last sync, on thread 0: the run's intervals into the totals. */
static void profile_sum(struct rvt_nn_team *t)
{
    int i, k, n = t->prof[0].n;

    for (i = 1; i < t->nth; i++)
        n = RVT_MIN(n, t->prof[i].n);
    for (k = 0; k < n; k++) {
        double mx = 0;
        for (i = 0; i < t->nth; i++) {
            mx = RVT_MAX(mx, t->prof[i].d[k]);
            t->cpu_s += t->prof[i].d[k];
        }
        t->crit_s += mx;
    }
    for (i = 0; i < t->nth; i++)
        t->prof[i].n = 0;
}

static void *helper(void *arg)
{
    const struct rvt_nn_par *par = arg;
    struct rvt_nn_team *t = par->team;
    unsigned seen = 0;

    for (;;) {
        rvt_nn_team_fn fn;
        void *ctx;
        pthread_mutex_lock(&t->mu);
        while (!t->quit && t->gen == seen)
            pthread_cond_wait(&t->cv, &t->mu);
        if (t->quit) {
            pthread_mutex_unlock(&t->mu);
            return NULL;
        }
        seen = t->gen;
        fn = t->fn;
        ctx = t->ctx;
        pthread_mutex_unlock(&t->mu);
        if (t->prof_on)
            t->prof[par->ith].last = thread_cpu();
        fn(ctx, par);
        rvt_nn_par_sync(par); /* the end of the run */
    }
}

int rvt_nn_team_new(struct rvt_nn_team **out, int nth, struct rvt_error *err)
{
    struct rvt_nn_team *t;
    int i;

    *out = NULL;
    if (nth < 1 || nth > RVT_NN_TEAM_MAX)
        return rvt_error_set(err, RVT_EINVAL, "%d threads for one clip: want 1-%d", nth,
                             RVT_NN_TEAM_MAX);
    t = calloc(1, sizeof(*t));
    if (!t)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    t->nth = nth;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    atomic_init(&t->arrived, 0);
    atomic_init(&t->phase, 0);
    for (i = 0; i < nth; i++)
        t->par[i] = (struct rvt_nn_par){i, nth, nth > 1 ? t : NULL};
    for (i = 1; i < nth; i++) {
        if (pthread_create(&t->th[i], NULL, helper, &t->par[i])) {
            rvt_nn_team_free(&t);
            return rvt_error_set(err, RVT_ENOMEM, "cannot start a thread");
        }
        t->started = i;
    }
    *out = t;
    return 0;
}

void rvt_nn_team_free(struct rvt_nn_team **tp)
{
    struct rvt_nn_team *t = *tp;
    int i;

    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->quit = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    for (i = 1; i <= t->started; i++)
        pthread_join(t->th[i], NULL);
    for (i = 0; i < t->nth; i++)
        free(t->prof[i].d);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
    *tp = NULL;
}

int rvt_nn_team_size(const struct rvt_nn_team *t)
{
    return t ? t->nth : 1;
}

void rvt_nn_team_run(struct rvt_nn_team *t, rvt_nn_team_fn fn, void *ctx)
{
    if (t->nth == 1) {
        fn(ctx, &t->par[0]);
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->fn = fn;
    t->ctx = ctx;
    t->gen++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->prof_on)
        t->prof[0].last = thread_cpu();
    fn(ctx, &t->par[0]);
    rvt_nn_par_sync(&t->par[0]); /* every helper has finished */
    if (t->prof_on)
        profile_sum(t);
}
