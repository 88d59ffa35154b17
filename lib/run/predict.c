/* predict.c: run-model's body (predict.h). */
#include "core/common.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/atomic.h"
#include "core/cpu.h"
#include "core/log.h"
#include "eval/predictions.h"
#include "nn/feed.h"
#include "nn/model.h"
#include "nn/team.h"
#include "nn/ops.h"
#include "run/predict.h"

/* What one worker owns. */
struct worker {
    struct rvt_nn_session *sess;
    uint8_t *frames;      /* [batch][H][W][3] */
    uint8_t *clip_frames; /* one clip's K frames when K > 1 */
    float *mel;           /* [batch][M][T] */
    float *logits;        /* [batch][n_classes] */
    size_t *row;          /* [batch]: item row of each clip read */
    double t_io, t_fwd;   /* seconds */
};

struct app {
    const struct rvt_predict_opts *po;
    struct rvt_store_reader *r; /* HDF5: only under io_lock */
    pthread_mutex_t io_lock;
    struct rvt_model *m;
    const struct rvt_model_info *info;
    int k_frames, n_workers;
    struct worker *workers;
    char (*splits)[RVT_FEED_SPLIT_MAX]; /* every store row's split */
    struct rvt_atomic out, lout;
    bool logits;
};

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* On a worker: read the item's clips (under the HDF5 lock), run the network. */
static int process(void *ctx, struct rvt_run_item *it, struct rvt_error *err)
{
    struct app *A = ctx;
    struct worker *w = &A->workers[it->worker];
    const struct rvt_model_info *info = A->info;
    size_t fsz = (size_t)info->image_h * info->image_w * 3;
    size_t msz = (size_t)info->n_mels * info->n_frames;
    int nc = info->n_classes, c;
    size_t k, g = 0;
    double t0 = rvt_now(), t1;

    pthread_mutex_lock(&A->io_lock);
    for (k = 0; k < it->n; k++) {
        int32_t *label = (int32_t *)it->data[1] + k;
        it->status[k] = rvt_feed_read(A->r, A->m, A->k_frames, A->po->features_path,
                                      it->clips[k].src, w->frames + g * fsz, w->mel + g * msz,
                                      label, w->clip_frames, &it->errs[k]);
        if (it->status[k] >= 0)
            w->row[g++] = k;
    }
    pthread_mutex_unlock(&A->io_lock);
    t1 = rvt_now();
    if (g)
        rvt_model_forward(w->sess, g, w->frames, w->mel, w->logits);
    w->t_io += t1 - t0;
    w->t_fwd += rvt_now() - t1;
    for (k = 0; k < g; k++) {
        const float *l = w->logits + k * (size_t)nc;
        size_t r = w->row[k];
        memcpy((float *)it->data[0] + r * (size_t)nc, l, sizeof(float) * (size_t)nc);
        for (c = 0; c < nc && isfinite(l[c]); c++)
            ;
        if (c < nc) /* schemas/numbers.md: never a plausible row from bad numbers */
            it->status[r] = rvt_error_set(&it->errs[r], RVT_EFORMAT,
                                          "%s: clip '%s': logit %d is not finite",
                                          A->po->features_path, it->clips[r].id, c);
    }
    (void)err;
    return 0;
}

/* On the main thread, in store order. */
static int write_clip(void *ctx, const struct rvt_run_clip *clip, const void *const *data,
                      struct rvt_error *err)
{
    struct app *A = ctx;
    const char *const *names = (const char *const *)A->info->class_names;
    int nc = A->info->n_classes;

    rvt_predictions_write_row(A->out.fp, clip->id, A->splits[clip->src], names,
                              *(const int32_t *)data[1], data[0], nc);
    if (A->logits)
        rvt_predictions_write_logits(A->lout.fp, clip->id, data[0], nc);
    if (ferror(A->out.fp) || (A->logits && ferror(A->lout.fp)))
        return rvt_error_set(err, RVT_EIO, "cannot write the output: write error");
    return 0;
}

static int commit(void *ctx, struct rvt_error *err)
{
    struct app *A = ctx;
    int ret = A->logits ? rvt_atomic_commit(&A->lout, err) : 0;
    return ret < 0 ? ret : rvt_atomic_commit(&A->out, err);
}

static void abort_out(void *ctx)
{
    struct app *A = ctx;
    rvt_atomic_abort(&A->lout);
    rvt_atomic_abort(&A->out);
}

/* The clips of the split, the workers, the outputs, the run. */
static int predict(struct app *A, const struct rvt_run_opts *ro_in, struct rvt_run **run,
                   struct rvt_predict_stats *st, struct rvt_error *err)
{
    const struct rvt_model_info *info = A->info;
    const struct rvt_predict_opts *po = A->po;
    size_t n = rvt_store_count(A->r), i, n_sel = 0, batch;
    size_t fsz = (size_t)info->image_h * info->image_w * 3;
    struct rvt_run_clip *clips = malloc((n ? n : 1) * sizeof(*clips));
    struct rvt_run_opts ro = *ro_in;
    struct rvt_store_field fields[2] = {{"logits", RVT_DTYPE_F32, 1, {(uint64_t)info->n_classes}},
                                        {"label", RVT_DTYPE_I32, 0, {0}}};
    struct rvt_run_tool tool = {A, process, write_clip, commit, abort_out};
    int ret = 0, w;

    A->splits = calloc(n ? n : 1, sizeof(*A->splits));
    if (!clips || !A->splits) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < n; i++) {
        if ((ret = rvt_store_read(A->r, "clips/split", i, A->splits[i], err)) < 0)
            goto done;
        if (!strcmp(po->split, "all") || !strcmp(A->splits[i], po->split))
            clips[n_sel++] = (struct rvt_run_clip){rvt_store_id(A->r, i), po->features_path, i};
    }
    ro.output_path = po->output;
    if ((ret = rvt_run_new(run, &ro, clips, n_sel, err)) < 0 ||
        (ret = rvt_run_set_fields(*run, fields, 2, err)) < 0)
        goto done;
    /* one owner of the cores: our workers, each with single-threaded OpenBLAS (its own
     * threads would split a GEMM differently and change the last bits) */
    rvt_blas_set_threads(1);
    batch = rvt_run_batch(*run);
    A->workers = calloc((size_t)rvt_run_workers(*run), sizeof(*A->workers));
    if (!A->workers) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    A->n_workers = rvt_run_workers(*run);
    for (w = 0; w < A->n_workers; w++) {
        struct worker *wk = &A->workers[w];
        if ((ret = rvt_nn_session_new(&wk->sess, A->m, batch, err)) < 0)
            goto done;
        /* fewer work items than -j (one clip, -j 2): the spare threads share the
         * workers' clips (the same bits: nn/model.h), at most RVT_NN_TEAM_MAX a clip */
        st->n_threads = A->n_workers * RVT_MAX(1, RVT_MIN(RVT_NN_TEAM_MAX, ro.jobs / A->n_workers));
        if ((ret = rvt_nn_session_set_threads(wk->sess, st->n_threads / A->n_workers, err)) < 0)
            goto done;
        wk->frames = malloc(batch * fsz);
        wk->clip_frames = A->k_frames > 1 ? malloc((size_t)A->k_frames * fsz) : NULL;
        wk->mel = malloc(batch * info->n_mels * info->n_frames * sizeof(float));
        wk->logits = malloc(batch * info->n_classes * sizeof(float));
        wk->row = malloc(batch * sizeof(size_t));
        if (!wk->frames || !wk->mel || !wk->logits || !wk->row ||
            (A->k_frames > 1 && !wk->clip_frames)) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory (batch %zu)", batch);
            goto done;
        }
    }
    if ((ret = rvt_atomic_open(&A->out, po->output, err)) < 0)
        goto done;
    rvt_predictions_write_header(A->out.fp, (const char *const *)info->class_names,
                                 info->n_classes, false);
    if (po->logits) {
        if ((ret = rvt_atomic_open(&A->lout, po->logits, err)) < 0)
            goto done;
        A->logits = true;
        rvt_predictions_write_header(A->lout.fp, (const char *const *)info->class_names,
                                     info->n_classes, true);
    }
    pthread_mutex_init(&A->io_lock, NULL);
    st->cpu = cpu_seconds();
    ret = rvt_run_go(*run, &tool, err);
    st->cpu = cpu_seconds() - st->cpu;
    pthread_mutex_destroy(&A->io_lock);
done:
    if (ret < 0)
        abort_out(A);
    free(clips);
    return ret;
}

int rvt_run_predict(const struct rvt_predict_opts *po, const struct rvt_run_opts *ro,
                    struct rvt_predict_stats *st, struct rvt_error *err)
{
    struct rvt_run *run = NULL;
    struct app A;
    int ret, w;

    memset(&A, 0, sizeof(A));
    memset(st, 0, sizeof(*st));
    A.po = po;
    if ((ret = rvt_model_load(&A.m, po->model_path, err)) < 0 ||
        (ret = rvt_store_open_kind(&A.r, po->features_path, "features", err)) < 0)
        goto done;
    A.info = rvt_model_get_info(A.m);
    if ((ret = rvt_feed_check(A.r, A.m, po->features_path, po->model_path, &A.k_frames,
                              err)) < 0)
        goto done;
    st->macs = rvt_model_macs(A.m);
    rvt_infof("%s: %s %s (%d int8 layers), %d classes, audio attention %s, %.1f M MACs a clip; "
              "kernels %s, OpenBLAS %s", po->model_path, A.info->architecture, A.info->format,
              A.info->n_int8_layers, A.info->n_classes, A.info->audio_attention,
              st->macs * 1e-6, rvt_isa_name(rvt_nn_kernels()->isa), rvt_blas_corename());
    if ((ret = predict(&A, ro, &run, st, err)) < 0)
        goto done;
    st->n_workers = A.n_workers;
    st->n_done = rvt_run_written(run);
    st->n_failed = rvt_run_failed(run);
    st->seconds = rvt_run_seconds(run);
    for (w = 0; w < A.n_workers; w++) {
        st->t_io += A.workers[w].t_io;
        st->t_fwd += A.workers[w].t_fwd;
    }
done:
    rvt_run_free(&run);
    for (w = 0; w < A.n_workers; w++) {
        rvt_nn_session_free(&A.workers[w].sess);
        free(A.workers[w].frames);
        free(A.workers[w].clip_frames);
        free(A.workers[w].mel);
        free(A.workers[w].logits);
        free(A.workers[w].row);
    }
    free(A.workers);
    free(A.splits);
    rvt_store_close(&A.r);
    rvt_model_free(&A.m);
    return ret;
}
