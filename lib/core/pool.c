#include "core/common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pool.h"

int rvt_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE };

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t n, window, next_item, next_emit;
    int *state, *status;          /* per slot */
    struct rvt_error *errs;       /* per slot */
    void **slots;
    rvt_pool_work_fn work;
    void *ctx;
    bool stop;
};

struct worker_arg {
    struct pool *p;
    int id;
};

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct pool *p = wa->p;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        size_t i, s;
        int st;
        while (!p->stop && p->next_item < p->n && p->next_item >= p->next_emit + p->window)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stop || p->next_item >= p->n)
            break;
        i = p->next_item++;
        s = i % p->window;
        p->state[s] = SLOT_BUSY;
        pthread_mutex_unlock(&p->lock);

        rvt_error_clear(&p->errs[s]);
        st = p->work(p->ctx, i, p->slots[s], wa->id, &p->errs[s]);

        pthread_mutex_lock(&p->lock);
        p->status[s] = st;
        p->state[s] = SLOT_DONE;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int rvt_pool_run(size_t n, int n_threads, void **slots, size_t window, rvt_pool_work_fn work,
                 rvt_pool_emit_fn emit, void *ctx, struct rvt_error *err)
{
    struct pool p;
    pthread_t *th = NULL;
    struct worker_arg *wa = NULL;
    int ret = 0, i, started = 0;

    assert(window > 0 && n_threads > 0);
    if (n_threads == 1) {
        struct rvt_error e;
        size_t k;
        for (k = 0; k < n; k++) {
            int st;
            rvt_error_clear(&e);
            st = work(ctx, k, slots[k % window], 0, &e);
            ret = emit(ctx, k, slots[k % window], st, &e);
            if (ret < 0) {
                if (err)
                    *err = e;
                return ret;
            }
        }
        return 0;
    }

    memset(&p, 0, sizeof(p));
    p.n = n;
    p.window = window;
    p.slots = slots;
    p.work = work;
    p.ctx = ctx;
    p.state = calloc(window, sizeof(int));
    p.status = calloc(window, sizeof(int));
    p.errs = calloc(window, sizeof(struct rvt_error));
    th = calloc(n_threads, sizeof(*th));
    wa = calloc(n_threads, sizeof(*wa));
    if (!p.state || !p.status || !p.errs || !th || !wa) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    for (i = 0; i < n_threads; i++) {
        wa[i].p = &p;
        wa[i].id = i;
        if (pthread_create(&th[i], NULL, worker_main, &wa[i]) != 0)
            break;
        started++;
    }
    if (!started) {
        ret = rvt_error_set(err, RVT_ENOMEM, "cannot start worker threads");
        goto destroy;
    }

    pthread_mutex_lock(&p.lock);
    while (p.next_emit < n) {
        size_t s = p.next_emit % window;
        while (p.state[s] != SLOT_DONE)
            pthread_cond_wait(&p.cond, &p.lock);
        pthread_mutex_unlock(&p.lock);
        ret = emit(ctx, p.next_emit, slots[s], p.status[s], &p.errs[s]);
        if (ret < 0 && err)
            *err = p.errs[s];
        pthread_mutex_lock(&p.lock);
        p.state[s] = SLOT_FREE;
        p.next_emit++;
        if (ret < 0)
            p.stop = true;
        pthread_cond_broadcast(&p.cond);
        if (ret < 0)
            break;
    }
    pthread_mutex_unlock(&p.lock);
    for (i = 0; i < started; i++)
        pthread_join(th[i], NULL);
destroy:
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.lock);
done:
    free(p.state);
    free(p.status);
    free(p.errs);
    free(th);
    free(wa);
    return ret;
}
