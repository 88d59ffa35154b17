/* run-model: features.h5 + model.h5 -> predictions.csv. */
#include "core/common.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/atomic.h"
#include "core/cli.h"
#include "core/cpu.h"
#include "core/log.h"
#include "eval/predictions.h"
#include "nn/model.h"
#include "nn/ops.h"
#include "run/runner.h"
#include "store/store.h"

#define MAX_BATCH 4096

static const char usage[] =
    "NAME\n"
    "  run-model - run the attention-fusion emotion network on a feature store\n"
    "\n"
    "SYNOPSIS\n"
    "  run-model -m MODEL.h5 -F FEATURES.h5 -o PREDICTIONS.csv [-s SPLIT] [-b N]\n"
    "            [--logits FILE] [options]\n"
    "\n"
    "DESCRIPTION\n"
    "  Runs MultimodalAttentionFusion (EfficientNet-B0 image branch, CNN audio branch,\n"
    "  MLP head; docs/architecture.md) in eval mode on every clip of a feature store of\n"
    "  pack-h5 and writes one CSV row per clip, in the store's order:\n"
    "      id,split,label,pred,p_<class>,...\n"
    "  label and pred are class names, p_<class> the softmax of the logits, printed so\n"
    "  that they read back as the same doubles (schemas/predictions.md).\n"
    "\n"
    "  The image input is the clip's first stored frame, scaled by 1/255 and normalised\n"
    "  with the checkpoint's image.mean and image.std; the audio input is /mel[i].  A\n"
    "  store whose preprocessing or label set differs from the checkpoint's is refused,\n"
    "  naming both values.  MODEL.h5 is an fp32 checkpoint (schemas/checkpoint.md) or\n"
    "  one of quantize-model (schemas/checkpoint-int8.md).  Kernels: AVX-512, AVX2 or\n"
    "  portable C (RVT_ISA=ref|avx2|avx512 lowers the level), GEMMs on OpenBLAS.\n"
    "\n"
    "  Each clip is computed on its own: the output is byte-identical whatever -j and\n"
    "  --batch.  A clip that cannot be read, or whose mel values or logits are not\n"
    "  finite (schemas/numbers.md), is an error, or with -k a skip.\n"
    "\n"
    "  Unless -q, the last stderr line gives the time of the network apart from the\n"
    "  store reads, summed over the worker threads and divided by the clips written:\n"
    "      run-model: N clips, forward X ms/clip, io Y ms/clip, Z threads\n"
    "\n"
    "OPTIONS\n"
    "  -m, --model FILE     checkpoint model.h5 (required)\n"
    "  -F, --features FILE  feature store features.h5 of pack-h5 (required;\n"
    "                       -i, --input is a deprecated spelling: it warns)\n"
    "  -o, --output FILE    predictions CSV to write, '-' for stdout (required)\n"
    "  -s, --split NAME     only clips of this split: train, val, test or all (default)\n"
    "  -b, --batch N        at most N clips a work item, 1-4096 (run.batch, default 32)\n"
    "      --logits FILE    also write id,logit_<class>,... (the raw network outputs)\n"
    RVT_HELP_CONFIG RVT_HELP_JOBS RVT_HELP_CLIPS RVT_HELP_STD
    "\n" RVT_HELP_EXIT
    "\n"
    "EXAMPLES\n"
    "  run-model -m model.h5 -F features.h5 -o predictions.csv\n"
    "  run-model -m model.h5 -F features.h5 --split test -j 2 -o test.csv\n"
    "  run-model -m model-int8.h5 -F features.h5 --batch 1 -o - | head\n";

enum { OPT_LOGITS = RVT_OPT_TOOL_BASE };

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
    const char *features_path, *model_path, *split;
    struct rvt_store_reader *r; /* HDF5: only under io_lock */
    pthread_mutex_t io_lock;
    const struct rvt_model *m;
    const struct rvt_model_info *info;
    int k_frames;
    struct worker *workers;
    char (*splits)[RVT_RUN_SPLIT_MAX]; /* every store row's split */
    struct rvt_atomic out, lout;
    bool logits;
    double cpu;           /* CPU seconds of the run */
};

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int read_clip(struct app *A, struct worker *w, size_t i, size_t g, int32_t *label,
                     struct rvt_error *err)
{
    const struct rvt_model_info *info = A->info;
    size_t fsz = (size_t)info->image_h * info->image_w * 3;
    size_t msz = (size_t)info->n_mels * info->n_frames, k;
    const float *mel = w->mel + g * msz;
    int ret;

    if (A->k_frames == 1) {
        ret = rvt_store_read(A->r, "frames", i, w->frames + g * fsz, err);
    } else {
        ret = rvt_store_read(A->r, "frames", i, w->clip_frames, err);
        if (ret >= 0)
            memcpy(w->frames + g * fsz, w->clip_frames, fsz); /* frame 0 */
    }
    if (ret >= 0)
        ret = rvt_store_read(A->r, "mel", i, w->mel + g * msz, err);
    if (ret >= 0)
        ret = rvt_store_read(A->r, "clips/label", i, label, err);
    if (ret < 0)
        return ret;
    if (*label < 0 || *label >= info->n_classes)
        return rvt_error_set(err, RVT_EFORMAT, "%s: clip '%s': label %d is not a class index 0-%d",
                             A->features_path, rvt_store_id(A->r, i), (int)*label,
                             info->n_classes - 1);
    for (k = 0; k < msz; k++) /* schemas/numbers.md: a non-finite feature fails the clip */
        if (!isfinite(mel[k]))
            return rvt_error_set(err, RVT_EFORMAT, "%s: clip '%s': mel value %zu is %s",
                                 A->features_path, rvt_store_id(A->r, i), k,
                                 isnan(mel[k]) ? "NaN" : "infinite");
    return 0;
}

/* On a worker: read the item's clips (under the HDF5 lock), run the network. */
static int process(void *ctx, struct rvt_run_item *it, struct rvt_error *err)
{
    struct app *A = ctx;
    struct worker *w = &A->workers[it->worker];
    int nc = A->info->n_classes, c;
    size_t k, g = 0;
    double t0 = rvt_now(), t1;

    pthread_mutex_lock(&A->io_lock);
    for (k = 0; k < it->n; k++) {
        int32_t *label = (int32_t *)it->data[1] + k;
        it->status[k] = read_clip(A, w, it->clips[k].src, g, label, &it->errs[k]);
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
                                          A->features_path, it->clips[r].id, c);
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
static int predict(struct app *A, struct rvt_cli *cli, const char *output, const char *logits,
                   size_t batch, struct rvt_run **run, struct rvt_error *err)
{
    const struct rvt_model_info *info = A->info;
    size_t n = rvt_store_count(A->r), i, n_sel = 0;
    size_t fsz = (size_t)info->image_h * info->image_w * 3;
    struct rvt_run_clip *clips = malloc((n ? n : 1) * sizeof(*clips));
    struct rvt_run_opts ro = {"clips", cli->jobs, cli->shard_i, cli->shard_n, cli->keep_going,
                              cli->failures_path, output, batch};
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
        if (!strcmp(A->split, "all") || !strcmp(A->splits[i], A->split))
            clips[n_sel++] = (struct rvt_run_clip){rvt_store_id(A->r, i), A->features_path, i};
    }
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
    for (w = 0; w < rvt_run_workers(*run); w++) {
        struct worker *wk = &A->workers[w];
        if ((ret = rvt_nn_session_new(&wk->sess, A->m, batch, err)) < 0)
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
    if ((ret = rvt_atomic_open(&A->out, output, err)) < 0)
        goto done;
    rvt_predictions_write_header(A->out.fp, (const char *const *)info->class_names,
                                 info->n_classes, false);
    if (logits) {
        if ((ret = rvt_atomic_open(&A->lout, logits, err)) < 0)
            goto done;
        A->logits = true;
        rvt_predictions_write_header(A->lout.fp, (const char *const *)info->class_names,
                                     info->n_classes, true);
    }
    pthread_mutex_init(&A->io_lock, NULL);
    A->cpu = cpu_seconds();
    ret = rvt_run_go(*run, &tool, err);
    A->cpu = cpu_seconds() - A->cpu;
    pthread_mutex_destroy(&A->io_lock);
done:
    if (ret < 0)
        abort_out(A);
    free(clips);
    return ret;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        RVT_CLI_LONGOPTS,
        {"model", required_argument, NULL, 'm'},
        {"features", required_argument, NULL, 'F'},
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"split", required_argument, NULL, 's'},
        {"batch", required_argument, NULL, 'b'},
        {"logits", required_argument, NULL, OPT_LOGITS},
        {NULL, 0, NULL, 0},
    };
    struct rvt_error err = {0};
    struct rvt_cli cli;
    struct rvt_model *m = NULL;
    struct rvt_run *run = NULL;
    struct app A;
    const char *output = NULL, *logits_path = NULL;
    int c, ret = 0, rc = RVT_EXIT_FAILURE, w, n_workers = 0;
    double t_io = 0, t_fwd = 0, secs;
    size_t n_done;
    long batch;

    rvt_blas_fix_coretype(argv);
    rvt_log_init("run-model");
    memset(&A, 0, sizeof(A));
    A.split = "all";
    rvt_cli_init(&cli, "run-model", usage);
    rvt_cli_keys(&cli, "run.");
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "m:F:i:o:s:b:", opts, NULL)) != -1) {
        int r = rvt_cli_handle(&cli, c, optarg);
        if (r == RVT_CLI_EXIT)
            return cli.exit_code;
        if (r == RVT_CLI_HANDLED)
            continue;
        switch (c) {
        case 'm': A.model_path = optarg; break;
        case 'i': rvt_warnf("-i (--input) is deprecated: use -F (--features)"); /* fall through */
        case 'F': A.features_path = optarg; break;
        case 'o': output = optarg; break;
        case 's': A.split = optarg; break;
        case 'b': rvt_cli_set(&cli, "run.batch", optarg); break;
        case OPT_LOGITS: logits_path = optarg; break;
        default:
            rc = rvt_cli_usage_error(&cli, "unknown option");
            goto out;
        }
    }
    if (optind < argc) {
        rc = rvt_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (rvt_cli_finish(&cli) == RVT_CLI_EXIT) {
        rc = cli.exit_code;
        goto out;
    }
    if (!A.model_path || !A.features_path || !output) {
        rc = rvt_cli_usage_error(&cli, "-m MODEL, -F FEATURES and -o OUTPUT are required");
        goto out;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHS(output, logits_path, cli.failures_path), RVT_PATHS(A.features_path, A.model_path)) == RVT_CLI_EXIT) {
        rc = cli.exit_code;
        goto out;
    }
    if (strcmp(A.split, "all") && strcmp(A.split, "train") && strcmp(A.split, "val") &&
        strcmp(A.split, "test")) {
        rc = rvt_cli_usage_error(&cli, "--split wants train, val, test or all, got '%s'", A.split);
        goto out;
    }
    if (rvt_config_get_int(cli.cfg, "run.batch", &batch, &err) < 0 || batch < 1 ||
        batch > MAX_BATCH) {
        rc = rvt_cli_usage_error(&cli, "--batch wants 1-%d, got '%s'", MAX_BATCH,
                                 rvt_config_get(cli.cfg, "run.batch"));
        goto out;
    }
    if ((ret = rvt_model_load(&m, A.model_path, &err)) < 0 ||
        (ret = rvt_store_open_kind(&A.r, A.features_path, "features", &err)) < 0)
        goto fail;
    A.m = m;
    A.info = rvt_model_get_info(m);
    if ((ret = rvt_run_check_features(A.r, m, A.features_path, A.model_path, &A.k_frames,
                                      &err)) < 0)
        goto fail;
    rvt_infof("%s: %s %s (%d int8 layers), %d classes, audio attention %s, %.1f M MACs a clip; "
              "kernels %s, OpenBLAS %s", A.model_path, A.info->architecture, A.info->format,
              A.info->n_int8_layers, A.info->n_classes, A.info->audio_attention,
              rvt_model_macs(m) * 1e-6, rvt_nn_kernels()->name, rvt_blas_corename());
    ret = predict(&A, &cli, output, logits_path, (size_t)batch, &run, &err);
    n_workers = run ? rvt_run_workers(run) : 0;
    if (ret < 0)
        goto fail;
    n_done = rvt_run_written(run);
    secs = rvt_run_seconds(run);
    for (w = 0; w < n_workers; w++) {
        t_io += A.workers[w].t_io;
        t_fwd += A.workers[w].t_fwd;
    }
    /* bench-model parses the first line, issue 15's benchmark the second */
    rvt_infof("%zu clips predicted in %.3f s (%.3f ms/clip, %.1f GFLOP/s, %d workers, "
              "cpu %.3f ms/clip)%s", n_done,
              secs, n_done ? secs * 1e3 / (double)n_done : 0.0,
              n_done ? 2.0 * rvt_model_macs(m) * (double)n_done / secs * 1e-9 : 0.0, n_workers,
              n_done ? A.cpu * 1e3 / (double)n_done : 0.0, rvt_run_failed(run) ? "; some skipped (see the failures CSV)" : "");
    rvt_infof("%zu clips, forward %.3f ms/clip, io %.3f ms/clip, %d threads", n_done,
              n_done ? t_fwd * 1e3 / (double)n_done : 0.0,
              n_done ? t_io * 1e3 / (double)n_done : 0.0, n_workers);
    rc = rvt_run_failed(run) ? RVT_EXIT_SKIPPED : RVT_EXIT_OK;
    goto out;
fail:
    rvt_errorf("%s", err.msg);
    rc = ret == RVT_EINVAL ? RVT_EXIT_USAGE : RVT_EXIT_FAILURE;
out:
    rvt_run_free(&run);
    for (w = 0; A.workers && w < n_workers; w++) {
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
    rvt_model_free(&m);
    rvt_cli_release(&cli);
    return rc;
}
