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
#include "core/csvio.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/pool.h"
#include "nn/model.h"
#include "nn/ops.h"
#include "store/store.h"

#define MAX_BATCH 4096
#define SPLIT_MAX 64

static const char usage[] =
    "NAME\n"
    "  run-model - run the attention-fusion emotion network on a feature store\n"
    "\n"
    "SYNOPSIS\n"
    "  run-model -m MODEL.h5 -i FEATURES.h5 -o PREDICTIONS.csv [--split S] [--batch N]\n"
    "            [--logits FILE] [options]\n"
    "\n"
    "DESCRIPTION\n"
    "  Runs MultimodalAttentionFusion (EfficientNet-B0 image branch, CNN audio branch,\n"
    "  MLP head; schemas/checkpoint.md) in eval mode on every clip of a feature store\n"
    "  of pack-h5 and writes one CSV row per clip:\n"
    "      id,split,label,pred,p_<class>,...\n"
    "  label and pred are class names, p_<class> the softmax of the logits, printed so\n"
    "  that they read back as the same doubles (schemas/predictions.md).  Rows follow\n"
    "  the store's order.\n"
    "\n"
    "  The image input is the clip's first stored frame (/frames[i][0]; a store of\n"
    "  image.frames K > 1 has K frames a clip and only the first is used), scaled by\n"
    "  1/255 and normalised with the checkpoint's image.mean and image.std; the audio\n"
    "  input is /mel[i].  A store whose preprocessing (image size, frames, crop,\n"
    "  audio parameters) or label set differs from the checkpoint's is refused,\n"
    "  naming both values.\n"
    "\n"
    "  MODEL.h5 is a checkpoint of scripts/export-checkpoint.py (fp32) or of\n"
    "  quantize-model (int8 layers), see schemas/checkpoint.md.  BatchNorm is folded\n"
    "  into the convolutions at load; GEMMs run on OpenBLAS (its SkylakeX/Haswell\n"
    "  kernels are selected automatically), the other kernels on AVX-512, AVX2 or\n"
    "  portable C (RVT_ISA=ref|avx2|avx512 lowers the level).\n"
    "\n"
    "  Each clip is computed on its own, so the output is byte-identical whatever\n"
    "  -j and --batch (on one machine: other sgemm kernels round differently).\n"
    "  -j N runs N workers over batches of clips, each with single-threaded OpenBLAS.\n"
    "\n"
    "OPTIONS\n"
    "  -m, --model FILE     checkpoint model.h5 (required)\n"
    "  -i, --input FILE     feature store features.h5 of pack-h5 (required)\n"
    "  -o, --output FILE    predictions CSV to write, '-' for stdout (required)\n"
    "  -s, --split NAME     only clips of this split: train, val, test or all\n"
    "                       (default: all)\n"
    "  -b, --batch N        at most N clips per work item, 1-4096 (sets run.batch;\n"
    "                       default 32; smaller when needed to keep -j workers busy);\n"
    "                       memory grows with N * (frame + mel) bytes per worker\n"
    "      --logits FILE    also write id,logit_<class>,... (the raw network outputs)\n"
    "\n" RVT_CLI_HELP
    "  --shard I/N keeps the clips whose id falls in shard I; --keep-going skips\n"
    "  clips that cannot be read (listed in the failures CSV) and exits 3.\n"
    "\n"
    "EXAMPLES\n"
    "  run-model -m model.h5 -i features.h5 -o predictions.csv\n"
    "  run-model -m model.h5 -i features.h5 --split test -j 2 -o test.csv\n"
    "  run-model -m model-int8.h5 -i features.h5 --batch 1 -o - | head\n";

enum { OPT_LOGITS = RVT_OPT_TOOL_BASE };

/* Results of one batch (a pool slot). */
struct slot {
    size_t n, n_seen, n_fail;
    char (*id)[RVT_STORE_ID_MAX];
    char (*split)[SPLIT_MAX];
    int *label;
    float *logits;               /* [batch][n_classes] */
    char (*fail_msg)[256];       /* [batch] */
    char (*fail_id)[RVT_STORE_ID_MAX];
};

/* What one worker owns. */
struct worker {
    struct rvt_nn_session *sess;
    uint8_t *frames;  /* [batch][H][W][3] */
    uint8_t *clip_frames; /* one clip's K frames when K > 1 */
    float *mel;       /* [batch][M][T] */
};

struct run {
    const char *features_path, *model_path, *split;
    struct rvt_store_reader *r;  /* HDF5: only under io_lock */
    pthread_mutex_t io_lock;
    const struct rvt_model *m;
    const struct rvt_model_info *info;
    size_t n_store, batch;
    int k_frames;
    size_t split_size;
    int shard_i, shard_n;
    bool keep_going;
    struct worker *workers;
    FILE *out, *logits;
    struct rvt_failures *failures;
    struct rvt_progress progress;
    size_t done, written;
};

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int read_clip(struct run *R, struct worker *w, size_t i, size_t row, struct slot *s,
                     struct rvt_error *err)
{
    const struct rvt_model_info *info = R->info;
    size_t fsz = (size_t)info->image_h * info->image_w * 3;
    size_t msz = (size_t)info->n_mels * info->n_frames;
    int32_t label;
    int ret;

    if (R->k_frames == 1) {
        ret = rvt_store_read(R->r, "frames", i, w->frames + row * fsz, err);
    } else {
        ret = rvt_store_read(R->r, "frames", i, w->clip_frames, err);
        if (ret >= 0)
            memcpy(w->frames + row * fsz, w->clip_frames, fsz); /* frame 0 */
    }
    if (ret >= 0)
        ret = rvt_store_read(R->r, "mel", i, w->mel + row * msz, err);
    if (ret >= 0)
        ret = rvt_store_read(R->r, "clips/label", i, &label, err);
    if (ret < 0)
        return ret;
    /* schemas/numbers.md: a non-finite feature fails the clip */
    for (size_t k = 0; k < msz; k++)
        if (!isfinite(w->mel[row * msz + k]))
            return rvt_error_set(err, RVT_EFORMAT, "%s: clip '%s': mel value %zu is %s",
                                 R->features_path, rvt_store_id(R->r, i), k,
                                 isnan(w->mel[row * msz + k]) ? "NaN" : "infinite");
    if (label < 0 || label >= info->n_classes)
        return rvt_error_set(err, RVT_EFORMAT, "%s: clip '%s': label %d is not a class index 0-%d",
                             R->features_path, rvt_store_id(R->r, i), (int)label,
                             info->n_classes - 1);
    s->label[row] = label;
    return 0;
}

/* On a worker: read the batch's clips (under the HDF5 lock), run the network. */
static int work(void *ctx, size_t item, void *slot, int worker, struct rvt_error *err)
{
    struct run *R = ctx;
    struct slot *s = slot;
    struct worker *w = &R->workers[worker];
    size_t first = item * R->batch, last = RVT_MIN(first + R->batch, R->n_store), i;
    int ret = 0;

    s->n = s->n_fail = 0;
    s->n_seen = last - first;
    pthread_mutex_lock(&R->io_lock);
    for (i = first; i < last && ret >= 0; i++) {
        const char *id = rvt_store_id(R->r, i);
        char split[SPLIT_MAX + 256];
        if (R->shard_n > 1 && rvt_shard_of(id, R->shard_n) != R->shard_i)
            continue;
        ret = rvt_store_read(R->r, "clips/split", i, split, err);
        if (ret < 0)
            break;
        if (strcmp(R->split, "all") && strcmp(split, R->split))
            continue;
        snprintf(s->id[s->n], sizeof(s->id[0]), "%s", id);
        snprintf(s->split[s->n], sizeof(s->split[0]), "%s", split);
        ret = read_clip(R, w, i, s->n, s, err);
        if (ret < 0 && R->keep_going) {
            snprintf(s->fail_id[s->n_fail], sizeof(s->fail_id[0]), "%s", id);
            snprintf(s->fail_msg[s->n_fail++], sizeof(s->fail_msg[0]), "%s", err->msg);
            rvt_error_clear(err);
            ret = 0;
            continue;
        }
        if (ret >= 0)
            s->n++;
    }
    pthread_mutex_unlock(&R->io_lock);
    if (ret < 0)
        return ret;
    if (s->n)
        rvt_model_forward(w->sess, s->n, w->frames, w->mel, s->logits);
    return 0;
}

/* On the main thread, in store order: write the rows. */
static int emit(void *ctx, size_t item, void *slot, int status, struct rvt_error *err)
{
    struct run *R = ctx;
    struct slot *s = slot;
    int nc = R->info->n_classes, c;
    size_t i;

    (void)item;
    if (status < 0)
        return status;
    for (i = 0; i < s->n_fail; i++) {
        int ret = rvt_failures_add(R->failures, s->fail_id[i], R->features_path, s->fail_msg[i], err);
        if (ret < 0)
            return ret;
        rvt_warnf("skipped %s: %s", s->fail_id[i], s->fail_msg[i]);
    }
    for (i = 0; i < s->n; i++) {
        const float *l = s->logits + i * nc;
        double mx = l[0], sum = 0, p[RVT_MODEL_MAX_CLASSES];
        int best = 0, ret;
        for (c = 0; c < nc && isfinite(l[c]); c++)
            ;
        if (c < nc) { /* schemas/numbers.md: never a plausible row from bad numbers */
            ret = rvt_error_set(err, RVT_EFORMAT, "%s: clip '%s': logit %d is not finite",
                                R->features_path, s->id[i], c);
            if (!R->keep_going)
                return ret;
            rvt_warnf("skipped %s: %s", s->id[i], err->msg);
            if ((ret = rvt_failures_add(R->failures, s->id[i], R->features_path, err->msg, err)) < 0)
                return ret;
            rvt_error_clear(err);
            continue;
        }
        for (c = 1; c < nc; c++)
            if (l[c] > l[best])
                best = c;
        mx = l[best];
        for (c = 0; c < nc; c++) {
            p[c] = exp((double)l[c] - mx);
            sum += p[c];
        }
        rvt_csv_put(R->out, s->id[i]);
        fputc(',', R->out);
        rvt_csv_put(R->out, s->split[i]);
        fputc(',', R->out);
        rvt_csv_put(R->out, R->info->class_names[s->label[i]]);
        fputc(',', R->out);
        rvt_csv_put(R->out, R->info->class_names[best]);
        for (c = 0; c < nc; c++) {
            fputc(',', R->out);
            rvt_csv_put_double(R->out, p[c] / sum);
        }
        fputc('\n', R->out);
        if (R->logits) {
            rvt_csv_put(R->logits, s->id[i]);
            for (c = 0; c < nc; c++) {
                fputc(',', R->logits);
                rvt_csv_put_double(R->logits, (double)l[c]);
            }
            fputc('\n', R->logits);
        }
        R->written++;
    }
    R->done += s->n_seen;
    rvt_progress_update(&R->progress, R->done);
    if (ferror(R->out) || (R->logits && ferror(R->logits)))
        return rvt_error_set(err, RVT_EIO, "cannot write the output: write error");
    return 0;
}

static void write_header(FILE *f, const struct rvt_model_info *info, bool logits)
{
    char col[512];
    int c;

    fputs(logits ? "id" : "id,split,label,pred", f);
    for (c = 0; c < info->n_classes; c++) {
        snprintf(col, sizeof(col), "%s%s", logits ? "logit_" : "p_", info->class_names[c]);
        fputc(',', f);
        rvt_csv_put(f, col);
    }
    fputc('\n', f);
}

/* The store's shapes, types, config and label set against the checkpoint's. */
static int check_store(struct run *R, struct rvt_error *err)
{
    const struct rvt_model_info *info = R->info;
    struct rvt_store_field f;
    char *cfg = NULL, **names = NULL;
    size_t n_names = 0;
    int ret;

    /* the config first: its message names the key that differs */
    if ((ret = rvt_store_get_attr(R->r, "config", &cfg, err)) < 0)
        goto done;
    if ((ret = rvt_model_check_preprocessing(R->m, cfg, R->features_path, R->model_path, err)) < 0)
        goto done;
    if ((ret = rvt_store_get_attr_list(R->r, "class_names", &names, &n_names, err)) < 0)
        goto done;
    if ((ret = rvt_model_check_classes(R->m, (const char *const *)names, n_names, R->features_path,
                                       R->model_path, err)) < 0)
        goto done;
    if ((ret = rvt_store_field_info(R->r, "frames", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_U8 || f.rank != 4 || f.dims[3] != 3 || f.dims[0] < 1) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': frames are not uint8 [N,K,H,W,3]",
                            R->features_path);
        goto done;
    }
    if (f.dims[1] != (uint64_t)info->image_h || f.dims[2] != (uint64_t)info->image_w) {
        ret = rvt_error_set(err, RVT_EMISMATCH,
                            "'%s' has %llux%llu frames but the checkpoint '%s' expects %dx%d",
                            R->features_path, (unsigned long long)f.dims[2],
                            (unsigned long long)f.dims[1], R->model_path, info->image_w,
                            info->image_h);
        goto done;
    }
    if (f.dims[0] > 1024) {
        ret = rvt_error_set(err, RVT_ELIMIT, "'%s': %llu frames a clip (at most 1024)",
                            R->features_path, (unsigned long long)f.dims[0]);
        goto done;
    }
    R->k_frames = (int)f.dims[0];
    if ((ret = rvt_store_field_info(R->r, "mel", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_F32 || f.rank != 2) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': mel is not float32 [N,n_mels,T]",
                            R->features_path);
        goto done;
    }
    if (f.dims[0] != (uint64_t)info->n_mels || f.dims[1] != (uint64_t)info->n_frames) {
        ret = rvt_error_set(err, RVT_EMISMATCH,
                            "'%s' has mel %llux%llu but the checkpoint '%s' expects %dx%d (n_mels x max_len)",
                            R->features_path, (unsigned long long)f.dims[0],
                            (unsigned long long)f.dims[1], R->model_path, info->n_mels,
                            info->n_frames);
        goto done;
    }
    if ((ret = rvt_store_field_info(R->r, "clips/label", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_I32 || f.rank != 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': clips/label is not int32", R->features_path);
        goto done;
    }
    if ((ret = rvt_store_field_info(R->r, "clips/split", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_STR || f.dims[0] > SPLIT_MAX) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': clips/split is not a string column of at most %d bytes",
                            R->features_path, SPLIT_MAX);
        goto done;
    }
done:
    free(cfg);
    rvt_store_list_free(&names, n_names);
    return ret;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        RVT_CLI_LONGOPTS,
        {"model", required_argument, NULL, 'm'},
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
    struct run R;
    struct rvt_atomic out = {0}, lout = {0};
    struct rvt_failures failures;
    struct slot *slots = NULL;
    void **slot_ptrs = NULL;
    const char *output = NULL, *logits_path = NULL;
    size_t n_items = 0, window = 0, i;
    int c, ret = 0, rc = RVT_EXIT_FAILURE, n_workers = 0, w;
    long batch;
    double t0 = 0, c0 = 0;
    bool lock_init = false;

    rvt_blas_fix_coretype(argv);
    rvt_log_init("run-model");
    memset(&R, 0, sizeof(R));
    memset(&failures, 0, sizeof(failures));
    R.split = "all";
    rvt_cli_init(&cli, "run-model", usage);
    rvt_cli_keys(&cli, "run.");
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "m:i:o:s:b:", opts, NULL)) != -1) {
        int r = rvt_cli_handle(&cli, c, optarg);
        if (r == RVT_CLI_EXIT)
            return cli.exit_code;
        if (r == RVT_CLI_HANDLED)
            continue;
        switch (c) {
        case 'm': R.model_path = optarg; break;
        case 'i': R.features_path = optarg; break;
        case 'o': output = optarg; break;
        case 's': R.split = optarg; break;
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
    if (!R.model_path || !R.features_path || !output) {
        rc = rvt_cli_usage_error(&cli, "-m MODEL, -i FEATURES and -o OUTPUT are required");
        goto out;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHS(output, logits_path, cli.failures_path), RVT_PATHS(R.features_path, R.model_path)) == RVT_CLI_EXIT) {
        rc = cli.exit_code;
        goto out;
    }
    if (strcmp(R.split, "all") && strcmp(R.split, "train") && strcmp(R.split, "val") &&
        strcmp(R.split, "test")) {
        rc = rvt_cli_usage_error(&cli, "--split wants train, val, test or all, got '%s'", R.split);
        goto out;
    }
    if (rvt_config_get_int(cli.cfg, "run.batch", &batch, &err) < 0 || batch < 1 ||
        batch > MAX_BATCH) {
        rc = rvt_cli_usage_error(&cli, "--batch wants 1-%d, got '%s'", MAX_BATCH,
                                 rvt_config_get(cli.cfg, "run.batch"));
        goto out;
    }
    R.batch = (size_t)batch;
    R.keep_going = cli.keep_going;
    R.shard_i = cli.shard_i;
    R.shard_n = cli.shard_n;

    if ((ret = rvt_model_load(&m, R.model_path, &err)) < 0)
        goto fail;
    R.m = m;
    R.info = rvt_model_get_info(m);
    if ((ret = rvt_store_open(&R.r, R.features_path, &err)) < 0)
        goto fail;
    if ((ret = check_store(&R, &err)) < 0)
        goto fail;
    R.n_store = rvt_store_count(R.r);
    rvt_infof("%s: %s %s (%d int8 layers), %d classes, audio attention %s, %.1f M MACs a clip; "
              "kernels %s, OpenBLAS %s", R.model_path, R.info->architecture, R.info->format,
              R.info->n_int8_layers, R.info->n_classes, R.info->audio_attention,
              rvt_model_macs(m) * 1e-6, rvt_nn_kernels()->name, rvt_blas_corename());

    /*
     * One owner of the cores: our workers, each with single-threaded OpenBLAS.
     * OpenBLAS's own threads would split a GEMM differently and change the last
     * bits of the results (measured), so they are never used.  Work items are
     * batches of at most --batch clips, smaller when that keeps every worker busy.
     * NEEDSWORK: a single clip therefore runs on one core; lower latency would need
     * intra-op threads that split each layer into a fixed set of tasks (the same
     * for any thread count, so the bits do not change).
     */
    if (R.n_store > 0 && (R.n_store + (size_t)cli.jobs - 1) / (size_t)cli.jobs < R.batch)
        R.batch = (R.n_store + (size_t)cli.jobs - 1) / (size_t)cli.jobs;
    n_items = (R.n_store + R.batch - 1) / R.batch;
    n_workers = (int)RVT_MAX(1, RVT_MIN((size_t)cli.jobs, n_items));
    rvt_blas_set_threads(1);
    rvt_debugf("%zu clips in %zu batches of <= %zu: %d workers", R.n_store, n_items, R.batch,
               n_workers);

    R.workers = calloc((size_t)n_workers, sizeof(*R.workers));
    window = 2 * (size_t)n_workers;
    slots = calloc(window, sizeof(*slots));
    slot_ptrs = calloc(window, sizeof(*slot_ptrs));
    if (!R.workers || !slots || !slot_ptrs) {
        ret = rvt_error_set(&err, RVT_ENOMEM, "out of memory");
        goto fail;
    }
    for (w = 0; w < n_workers; w++) {
        struct worker *wk = &R.workers[w];
        size_t fsz = (size_t)R.info->image_h * R.info->image_w * 3;
        if ((ret = rvt_nn_session_new(&wk->sess, m, R.batch, &err)) < 0)
            goto fail;
        if (w == 0)
            rvt_debugf("activations: %.1f MB a worker", rvt_nn_session_bytes(wk->sess) / 1e6);
        wk->frames = malloc(R.batch * fsz);
        wk->clip_frames = R.k_frames > 1 ? malloc((size_t)R.k_frames * fsz) : NULL;
        wk->mel = malloc(R.batch * R.info->n_mels * R.info->n_frames * sizeof(float));
        if (!wk->frames || !wk->mel || (R.k_frames > 1 && !wk->clip_frames)) {
            ret = rvt_error_set(&err, RVT_ENOMEM, "out of memory (batch %zu)", R.batch);
            goto fail;
        }
    }
    for (i = 0; i < window; i++) {
        struct slot *s = &slots[i];
        s->id = calloc(R.batch, sizeof(*s->id));
        s->split = calloc(R.batch, sizeof(*s->split));
        s->label = calloc(R.batch, sizeof(*s->label));
        s->logits = calloc(R.batch * R.info->n_classes, sizeof(*s->logits));
        s->fail_id = calloc(R.batch, sizeof(*s->fail_id));
        s->fail_msg = calloc(R.batch, sizeof(*s->fail_msg));
        if (!s->id || !s->split || !s->label || !s->logits || !s->fail_id || !s->fail_msg) {
            ret = rvt_error_set(&err, RVT_ENOMEM, "out of memory");
            goto fail;
        }
        slot_ptrs[i] = s;
    }
    if ((ret = rvt_failures_init(&failures, cli.failures_path, output, &err)) < 0)
        goto fail;
    R.failures = &failures;
    if ((ret = rvt_atomic_open(&out, output, &err)) < 0)
        goto fail;
    R.out = out.fp;
    write_header(R.out, R.info, false);
    if (logits_path) {
        if ((ret = rvt_atomic_open(&lout, logits_path, &err)) < 0)
            goto fail;
        R.logits = lout.fp;
        write_header(R.logits, R.info, true);
    }
    pthread_mutex_init(&R.io_lock, NULL);
    lock_init = true;
    rvt_progress_start(&R.progress, "clips", R.n_store);
    t0 = rvt_now();
    c0 = cpu_seconds();
    ret = rvt_pool_run(n_items, n_workers, slot_ptrs, window, work, emit, &R, &err);
    t0 = rvt_now() - t0;
    c0 = cpu_seconds() - c0;
    rvt_progress_end(&R.progress);
    if (ret < 0)
        goto fail;
    if (logits_path && (ret = rvt_atomic_commit(&lout, &err)) < 0)
        goto fail;
    if ((ret = rvt_atomic_commit(&out, &err)) < 0)
        goto fail;
    if ((ret = rvt_failures_close(&failures, &err)) < 0)
        goto fail;
    /* bench-model parses this line */
    rvt_infof("%zu clips predicted in %.3f s (%.3f ms/clip, %.1f GFLOP/s, %d workers, "
              "cpu %.3f ms/clip)%s",
              R.written, t0, R.written ? t0 * 1e3 / (double)R.written : 0.0,
              R.written ? 2.0 * rvt_model_macs(m) * (double)R.written / t0 * 1e-9 : 0.0, n_workers,
              R.written ? c0 * 1e3 / (double)R.written : 0.0,
              failures.count ? "; some skipped (see the failures CSV)" : "");
    rc = failures.count ? RVT_EXIT_SKIPPED : RVT_EXIT_OK;
    goto out;
fail:
    rvt_errorf("%s", err.msg);
    rvt_atomic_abort(&lout);
    rvt_atomic_abort(&out);
    rc = ret == RVT_EINVAL ? RVT_EXIT_USAGE : RVT_EXIT_FAILURE;
out:
    if (lock_init)
        pthread_mutex_destroy(&R.io_lock);
    for (i = 0; slots && i < window; i++) {
        free(slots[i].id);
        free(slots[i].split);
        free(slots[i].label);
        free(slots[i].logits);
        free(slots[i].fail_id);
        free(slots[i].fail_msg);
    }
    free(slots);
    free(slot_ptrs);
    for (w = 0; R.workers && w < n_workers; w++) {
        rvt_nn_session_free(&R.workers[w].sess);
        free(R.workers[w].frames);
        free(R.workers[w].clip_frames);
        free(R.workers[w].mel);
    }
    free(R.workers);
    rvt_failures_release(&failures);
    rvt_store_close(&R.r);
    rvt_model_free(&m);
    rvt_cli_release(&cli);
    return rc;
}
