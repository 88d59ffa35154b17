/* quantize-model: model.h5 -> model-int8.h5 (schemas/checkpoint-int8.md). */
#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/cli.h"
#include "core/cpu.h"
#include "core/log.h"
#include "nn/layer.h"
#include "nn/model.h"
#include "nn/qcalib.h"
#include "nn/qcheckpoint.h"
#include "nn/qgemm.h"
#include "store/store.h"

#define MAX_EXCLUDE 1024
#define SPLIT_MAX 64

static const char usage[] =
    "NAME\n"
    "  quantize-model - turn an fp32 checkpoint into an int8 one\n"
    "\n"
    "SYNOPSIS\n"
    "  quantize-model [options] MODEL.h5 [-o MODEL-int8.h5]\n"
    "  quantize-model --list [--layers LIST] [--exclude KEY]... MODEL.h5\n"
    "\n"
    "DESCRIPTION\n"
    "  Reads a checkpoint of scripts/export-checkpoint.py (format fp32, schemas/\n"
    "  checkpoint.md) and writes the same checkpoint with the weights of the chosen\n"
    "  layers in int8: symmetric per output channel, scale = max|w| / 127 (an all-zero\n"
    "  channel gets scale 1 and is counted; a layer that is entirely zero is named in a\n"
    "  warning), plus one float32 scale per output channel.  Biases, BatchNorm and\n"
    "  depthwise convolutions stay float32.  run-model then runs those layers with int8\n"
    "  GEMMs (AVX-512 VNNI, AVX2 or portable C, identical results), quantizing each\n"
    "  layer's input per clip at run time: asymmetric uint8, one scale and zero point per\n"
    "  column (each pixel's channel vector; a Linear layer's whole input), from its\n"
    "  min/max.\n"
    "\n"
    "  --calibrate runs the fp32 model on clips of a feature store first.  By default\n"
    "  (--calib-method minmax or percentile) it measures each int8 layer's input range\n"
    "  and stores it: run-model then uses that one static range per layer (values\n"
    "  outside clamp) instead of measuring every column.  With --budget E it also picks\n"
    "  the layers: int8 rounding errors grow on their way through a deep network, most\n"
    "  from the first layers, so it keeps the fewest leading int8 candidates (in the\n"
    "  order the forward pass uses them) in float32 for the int8 logits to stay within\n"
    "  a relative L2 distance E of the fp32 logits on the calibration clips (binary\n"
    "  search, one int8 model per step).  A well-trained network needs few or none; a\n"
    "  network with an untrained (random, BatchNorm re-estimated) EfficientNet, as\n"
    "  train.py --freeze-image makes, amplifies the errors and needs many.\n"
    "\n"
    "  The output records the scheme, the layers, and the source file's name and\n"
    "  sha256 (schemas/checkpoint-int8.md).  It is written to a temporary file and\n"
    "  renamed; the same input gives the same bytes.\n"
    "\n"
    "  Refused with exit status 1: an input that is already int8, not a checkpoint, or\n"
    "  has a NaN or infinite weight in a layer to quantize; a calibration store whose\n"
    "  preprocessing (image.*, audio.* config) differs from the checkpoint's, or that\n"
    "  has no clip in the calibration split.\n"
    "\n"
    "OPTIONS\n"
    "  -o, --output FILE    where to write (default: MODEL with '-int8' before '.h5')\n"
    "      --layers LIST    kinds of layers to quantize, comma-separated (default:\n"
    "                       linear,pointwise,se,conv):\n"
    "                         linear     Linear layers (attention MLPs, fusion, classifier)\n"
    "                         pointwise  1x1 convolutions (MBConv expand/project, head)\n"
    "                         se         the 1x1 convolutions of squeeze-excitation\n"
    "                         conv       regular k x k convolutions (audio_encoder.5)\n"
    "                         stem       the 3-channel image stem and 1-channel audio conv\n"
    "                                    (not by default: little work, most sensitive)\n"
    "                         all        every kind above\n"
    "                       depthwise convolutions always stay float32\n"
    "      --exclude KEY    keep this weight float32 (repeatable; see --list)\n"
    "      --calibrate FILE calibration clips from this feature store (features.h5 of\n"
    "                       pack-h5; default: none, every layer dynamic)\n"
    "      --calib-method M minmax (default), percentile, or dynamic (no static ranges:\n"
    "                       the clips only serve --budget)\n"
    "      --percentile P   percentile method: the range spans percentiles 100-P..P of\n"
    "                       each layer's input values (default 99.99)\n"
    "      --calib-split S  clips of this split calibrate: train, val, test or all\n"
    "                       (default: train)\n"
    "      --calib-clips N  at most N clips, the first of the split in store order\n"
    "                       (default 32; 0: all)\n"
    "      --budget E       keep the fewest leading layers float32 for the int8 logits to\n"
    "                       stay within relative distance E of fp32 on the calibration\n"
    "                       clips (e.g. 0.01); the kept layers are listed in the output\n"
    "      --list           print the keys of the weights that would be quantized, one\n"
    "                       a line, and exit\n"
    RVT_HELP_STD
    "\n" RVT_HELP_EXIT_NOSKIP
    "\n"
    "EXAMPLES\n"
    "  quantize-model model.h5                      # writes model-int8.h5\n"
    "  quantize-model model.h5 -o m8.h5 --layers linear,pointwise\n"
    "  quantize-model --list model.h5 | head\n"
    "  quantize-model model.h5 --calibrate features.h5 --calib-method percentile\n"
    "  quantize-model model.h5 --calibrate features.h5 --calib-method dynamic --budget 0.01\n"
    "  run-model -m model-int8.h5 -F features.h5 -o predictions.csv\n";

enum {
    OPT_LAYERS = RVT_OPT_TOOL_BASE,
    OPT_EXCLUDE,
    OPT_LIST,
    OPT_CALIBRATE,
    OPT_CALIB_METHOD,
    OPT_PERCENTILE,
    OPT_CALIB_SPLIT,
    OPT_CALIB_CLIPS,
    OPT_BUDGET,
};

enum calib_method { CM_DYNAMIC, CM_MINMAX, CM_PERCENTILE };

struct calib_args {
    const char *features, *split;
    enum calib_method method;
    double percentile, budget; /* budget < 0: none */
    long max_clips;
};

/* The calibration clips, frame 0 and mel of each, in memory. */
struct clips {
    size_t n, fsz, msz;
    uint8_t *frames;
    float *mel;
    int n_classes;
};

/* What the observer collects while the fp32 model runs. */
struct watch {
    struct rvt_qcalib *cal; /* static ranges, or NULL */
    char **keys;            /* the candidates, sorted (from rvt_checkpoint_plan) */
    int n_keys;
    int *order;             /* candidates in the order the forward pass first uses them */
    bool *seen;
    int n_order;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void observe(void *ctx, const struct rvt_nn_dense *l, const float *x, size_t n_rows,
                    size_t n, size_t ldx)
{
    struct watch *w = ctx;
    const char *k = l->key;
    char **hit = k ? bsearch(&k, w->keys, (size_t)w->n_keys, sizeof(*w->keys), cmp_str) : NULL;

    if (hit && !w->seen[hit - w->keys]) {
        w->seen[hit - w->keys] = true;
        w->order[w->n_order++] = (int)(hit - w->keys);
    }
    if (w->cal)
        rvt_qcalib_observe(w->cal, l->key, x, (int)n_rows, n, ldx);
}

static void clips_free(struct clips *c)
{
    free(c->frames);
    free(c->mel);
    memset(c, 0, sizeof(*c));
}

/* The first max_clips clips of the split (store order), after checking the store
 * against the model. */
static int clips_load(struct clips *c, const struct rvt_model *m, const char *model_path,
                      const struct calib_args *ca, char **config_sha, struct rvt_error *err)
{
    const struct rvt_model_info *info = rvt_model_get_info(m);
    struct rvt_store_reader *r = NULL;
    struct rvt_store_field f;
    uint8_t *clip = NULL;
    char *cfg = NULL, split[SPLIT_MAX + 8];
    size_t n, i, cap;
    int ret, k_frames;

    memset(c, 0, sizeof(*c));
    *config_sha = NULL;
    if ((ret = rvt_store_open_kind(&r, ca->features, "features", err)) < 0)
        goto done;
    if ((ret = rvt_store_get_attr(r, "config", &cfg, err)) < 0 ||
        (ret = rvt_model_check_preprocessing(m, cfg, ca->features, model_path, err)) < 0)
        goto done;
    if ((ret = rvt_store_field_info(r, "frames", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_U8 || f.rank != 4 || f.dims[0] < 1 || f.dims[0] > 1024 ||
        f.dims[1] != (uint64_t)info->image_h || f.dims[2] != (uint64_t)info->image_w ||
        f.dims[3] != 3) {
        ret = rvt_error_set(err, RVT_EMISMATCH, "'%s': frames are not uint8 [N,K,%d,%d,3]",
                            ca->features, info->image_h, info->image_w);
        goto done;
    }
    k_frames = (int)f.dims[0];
    if ((ret = rvt_store_field_info(r, "mel", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_F32 || f.rank != 2 || f.dims[0] != (uint64_t)info->n_mels ||
        f.dims[1] != (uint64_t)info->n_frames) {
        ret = rvt_error_set(err, RVT_EMISMATCH, "'%s': mel is not float32 [N,%d,%d]", ca->features,
                            info->n_mels, info->n_frames);
        goto done;
    }
    if ((ret = rvt_store_field_info(r, "clips/split", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_STR || f.dims[0] > SPLIT_MAX) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': clips/split is not a short string column",
                            ca->features);
        goto done;
    }
    c->fsz = (size_t)info->image_h * info->image_w * 3;
    c->msz = (size_t)info->n_mels * info->n_frames;
    c->n_classes = info->n_classes;
    n = rvt_store_count(r);
    cap = ca->max_clips > 0 ? RVT_MIN(n, (size_t)ca->max_clips) : n;
    c->frames = malloc(c->fsz * (cap ? cap : 1));
    c->mel = malloc(sizeof(float) * c->msz * (cap ? cap : 1));
    clip = malloc(c->fsz * (size_t)k_frames);
    if (!c->frames || !c->mel || !clip) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < n && c->n < cap; i++) {
        if ((ret = rvt_store_read(r, "clips/split", i, split, err)) < 0)
            goto done;
        if (strcmp(ca->split, "all") && strcmp(split, ca->split))
            continue;
        if ((ret = rvt_store_read(r, "frames", i, clip, err)) < 0 ||
            (ret = rvt_store_read(r, "mel", i, c->mel + c->n * c->msz, err)) < 0)
            goto done;
        memcpy(c->frames + c->n * c->fsz, clip, c->fsz); /* frame 0, as run-model */
        c->n++;
    }
    if (!c->n) {
        ret = rvt_error_set(err, RVT_EINVAL, "'%s' has no clip in split '%s' to calibrate on",
                            ca->features, ca->split);
        goto done;
    }
    if (rvt_store_get_attr(r, "config_sha256", config_sha, err) < 0) {
        rvt_error_clear(err);
        *config_sha = NULL;
    }
done:
    if (ret < 0)
        clips_free(c);
    rvt_store_close(&r);
    free(cfg);
    free(clip);
    return ret;
}

/* logits [c->n][n_classes] of model m on the clips, one clip at a time. */
static int clips_run(const struct rvt_model *m, const struct clips *c, float *logits,
                     struct rvt_error *err)
{
    struct rvt_nn_session *s = NULL;
    size_t i;
    int ret = rvt_nn_session_new(&s, m, 1, err);

    for (i = 0; ret >= 0 && i < c->n; i++)
        rvt_model_forward(s, 1, c->frames + i * c->fsz, c->mel + i * c->msz,
                          logits + i * (size_t)c->n_classes);
    rvt_nn_session_free(&s);
    return ret;
}

/* ||a - b|| / ||a|| over n values. */
static double rel_err(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)a[i] * a[i];
    }
    return s > 0 ? sqrt(d / s) : sqrt(d);
}

/* The int8-vs-fp32 error with the first m candidates (forward order) kept fp32. */
static int budget_error(const char *in, const char *out, struct rvt_quantize_opts *qo,
                        const char **exclude, int n_user, const struct watch *w, int m,
                        const struct clips *c, const float *ref, float *logits, double *e,
                        struct rvt_error *err)
{
    struct rvt_quantize_report rep = {0};
    struct rvt_model *q = NULL;
    struct rvt_atomic trial = {0};
    int ret, i;

    for (i = 0; i < m; i++)
        exclude[n_user + i] = w->keys[w->order[i]];
    qo->exclude = exclude;
    qo->n_exclude = n_user + m;
    /* the trial checkpoint goes to a named temporary beside the output, which the
     * signal handlers and the sweep of dead writers remove (atomic.h) */
    ret = rvt_atomic_open_named(&trial, out, err);
    if (ret >= 0)
        ret = rvt_checkpoint_quantize(in, trial.tmp_path, qo, &rep, err);
    if (ret >= 0)
        ret = rvt_model_load(&q, trial.tmp_path, err);
    if (ret >= 0)
        ret = clips_run(q, c, logits, err);
    if (ret >= 0)
        *e = rel_err(ref, logits, c->n * (size_t)c->n_classes);
    rvt_model_free(&q);
    rvt_quantize_report_release(&rep);
    rvt_atomic_abort(&trial);
    return ret;
}

/*
 * --calibrate: runs the fp32 model on the calibration clips (static ranges, the forward
 * order of the candidates, reference logits); with --budget, finds the fewest leading
 * candidates to keep fp32 for the int8 logits to stay within the budget.  Fills qo
 * (ranges owned by *cal, exclusions in `exclude`, which has room for every key).
 */
static int calibrate(const char *in, const char *out, const struct calib_args *ca,
                     struct watch *w, struct rvt_qcalib **cal, char **config_sha,
                     struct rvt_quantize_opts *qo, const char **exclude, int n_user,
                     double *budget_err, int *n_kept, struct rvt_error *err)
{
    struct rvt_model *m = NULL;
    struct clips c = {0};
    struct rvt_progress prog;
    float *ref = NULL, *lg = NULL;
    int ret, pass, passes, i, lo, hi;

    if ((ret = rvt_model_load(&m, in, err)) < 0 ||
        (ret = clips_load(&c, m, in, ca, config_sha, err)) < 0)
        goto done;
    if (ca->method != CM_DYNAMIC &&
        (ret = rvt_qcalib_new(cal, w->keys, w->n_keys,
                              ca->method == CM_PERCENTILE ? RVT_QCALIB_PERCENTILE : RVT_QCALIB_MINMAX,
                              ca->percentile, err)) < 0)
        goto done;
    ref = malloc(sizeof(float) * c.n * (size_t)c.n_classes);
    lg = malloc(sizeof(float) * c.n * (size_t)c.n_classes);
    if (!ref || !lg) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    w->cal = *cal;
    passes = *cal ? rvt_qcalib_passes(*cal) : 1;
    rvt_progress_start(&prog, "calibrate", c.n * (size_t)passes);
    rvt_nn_dense_set_observer(observe, w);
    for (pass = 0; pass < passes && ret >= 0; pass++) {
        if (*cal)
            rvt_qcalib_begin_pass(*cal, pass);
        ret = clips_run(m, &c, ref, err);
        rvt_progress_update(&prog, (size_t)(pass + 1) * c.n);
    }
    rvt_nn_dense_set_observer(NULL, NULL);
    rvt_progress_end(&prog);
    if (ret < 0)
        goto done;
    /* candidates the forward pass never used go last */
    for (i = 0; i < w->n_keys; i++)
        if (!w->seen[i])
            w->order[w->n_order++] = i;
    if (*cal) {
        if ((ret = rvt_qcalib_ranges(*cal, &qo->ranges, &qo->n_ranges, err)) < 0) {
            rvt_error_prefix(err, "calibration on '%s'", ca->features);
            goto done;
        }
        qo->activations = ca->method == CM_PERCENTILE ? "static-percentile" : "static-minmax";
        qo->percentile = ca->percentile;
    }
    qo->calibration = ca->features;
    qo->calibration_clips = (long)c.n;
    qo->calibration_split = ca->split;
    qo->calibration_config_sha256 = *config_sha;
    if (ca->budget >= 0) {
        double e = 0;
        /* binary search of the fewest leading candidates kept fp32 (the error shrinks as
         * more of the network stays fp32; m = n_keys is fp32 throughout, error 0) */
        lo = 0;
        hi = w->n_keys;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if ((ret = budget_error(in, out, qo, exclude, n_user, w, mid, &c, ref, lg, &e,
                                    err)) < 0)
                goto done;
            rvt_debugf("budget: first %d of %d kept fp32: error %.5f", mid, w->n_keys, e);
            if (e <= ca->budget)
                hi = mid;
            else
                lo = mid + 1;
        }
        if ((ret = budget_error(in, out, qo, exclude, n_user, w, lo, &c, ref, lg, &e, err)) < 0)
            goto done;
        *n_kept = lo;
        *budget_err = e;
        qo->budget = ca->budget;
        qo->budget_error = e;
    }
done:
    rvt_nn_dense_set_observer(NULL, NULL);
    rvt_model_free(&m);
    clips_free(&c);
    free(ref);
    free(lg);
    return ret;
}

static double file_mb(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size / 1e6 : -1.0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        RVT_CLI_LONGOPTS,
        {"output", required_argument, NULL, 'o'},
        {"layers", required_argument, NULL, OPT_LAYERS},
        {"exclude", required_argument, NULL, OPT_EXCLUDE},
        {"list", no_argument, NULL, OPT_LIST},
        {"calibrate", required_argument, NULL, OPT_CALIBRATE},
        {"calib-method", required_argument, NULL, OPT_CALIB_METHOD},
        {"percentile", required_argument, NULL, OPT_PERCENTILE},
        {"calib-split", required_argument, NULL, OPT_CALIB_SPLIT},
        {"calib-clips", required_argument, NULL, OPT_CALIB_CLIPS},
        {"budget", required_argument, NULL, OPT_BUDGET},
        {NULL, 0, NULL, 0},
    };
    struct rvt_cli cli;
    struct rvt_error err = {0};
    struct rvt_quantize_opts qo;
    struct rvt_quantize_report rep = {0};
    struct calib_args ca = {.split = "train", .method = CM_MINMAX, .percentile = 99.99,
                            .max_clips = 32, .budget = -1};
    struct watch w = {0};
    struct rvt_qcalib *cal = NULL;
    const char **exclude = NULL;
    const char *in, *out = NULL;
    char *out_owned = NULL, **keys = NULL, *config_sha = NULL;
    int n_exclude = 0, n_keys = 0, c, i, rc = RVT_EXIT_OK, n_kept = 0;
    double budget_err = 0;
    bool list = false, method_set = false, pct_set = false;

    rvt_blas_fix_coretype(argv);
    rvt_cli_init(&cli, "quantize-model", usage);
    rvt_cli_keys(&cli, "");
    rvt_quantize_opts_init(&qo);
    exclude = calloc(MAX_EXCLUDE, sizeof(*exclude));
    if (!exclude) {
        fprintf(stderr, "quantize-model: out of memory\n");
        return RVT_EXIT_FAILURE;
    }
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "o:", opts, NULL)) != -1) {
        int r = rvt_cli_handle(&cli, c, optarg);
        char *end;
        if (r == RVT_CLI_EXIT) {
            rc = cli.exit_code;
            goto done;
        }
        if (r == RVT_CLI_HANDLED)
            continue;
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case OPT_LAYERS:
            if (rvt_qkinds_parse(optarg, &qo.kinds, &err) < 0) {
                rc = rvt_cli_usage_error(&cli, "--layers: %s", err.msg);
                goto done;
            }
            break;
        case OPT_EXCLUDE:
            if (n_exclude == MAX_EXCLUDE / 2) {
                rc = rvt_cli_usage_error(&cli, "more than %d --exclude", MAX_EXCLUDE / 2);
                goto done;
            }
            exclude[n_exclude++] = optarg;
            break;
        case OPT_LIST:
            list = true;
            break;
        case OPT_CALIBRATE:
            ca.features = optarg;
            break;
        case OPT_CALIB_METHOD:
            if (!strcmp(optarg, "minmax")) {
                ca.method = CM_MINMAX;
            } else if (!strcmp(optarg, "percentile")) {
                ca.method = CM_PERCENTILE;
            } else if (!strcmp(optarg, "dynamic")) {
                ca.method = CM_DYNAMIC;
            } else {
                rc = rvt_cli_usage_error(&cli,
                                         "--calib-method: '%s' is not minmax, percentile or dynamic",
                                         optarg);
                goto done;
            }
            method_set = true;
            break;
        case OPT_PERCENTILE:
            ca.percentile = strtod(optarg, &end);
            if (*end || !(ca.percentile > 50.0 && ca.percentile <= 100.0)) {
                rc = rvt_cli_usage_error(&cli, "--percentile: '%s' is not a number in (50, 100]",
                                         optarg);
                goto done;
            }
            pct_set = true;
            break;
        case OPT_CALIB_SPLIT:
            if (strcmp(optarg, "train") && strcmp(optarg, "val") && strcmp(optarg, "test") &&
                strcmp(optarg, "all")) {
                rc = rvt_cli_usage_error(&cli, "--calib-split: '%s' is not train, val, test or all",
                                         optarg);
                goto done;
            }
            ca.split = optarg;
            break;
        case OPT_CALIB_CLIPS:
            if (rvt_parse_long(optarg, 0, 1000000, &ca.max_clips) < 0) {
                rc = rvt_cli_usage_error(&cli, "--calib-clips: '%s' is not a count 0-1000000",
                                         optarg);
                goto done;
            }
            break;
        case OPT_BUDGET:
            ca.budget = strtod(optarg, &end);
            if (*end || !(ca.budget >= 0.0 && ca.budget < 10.0)) {
                rc = rvt_cli_usage_error(&cli, "--budget: '%s' is not a number in [0, 10)", optarg);
                goto done;
            }
            break;
        default:
            rc = rvt_cli_usage_error(&cli, "unknown option");
            goto done;
        }
    }
    if (rvt_cli_finish(&cli) == RVT_CLI_EXIT) {
        rc = cli.exit_code;
        goto done;
    }
    if (optind != argc - 1) {
        rc = rvt_cli_usage_error(&cli, optind >= argc ? "missing MODEL.h5" : "more than one MODEL.h5");
        goto done;
    }
    in = argv[optind];
    if (!ca.features && (method_set || pct_set || ca.budget >= 0)) {
        rc = rvt_cli_usage_error(&cli, "--calib-method, --percentile and --budget need --calibrate");
        goto done;
    }
    if (pct_set && ca.method != CM_PERCENTILE) {
        rc = rvt_cli_usage_error(&cli, "--percentile needs --calib-method percentile");
        goto done;
    }
    qo.exclude = exclude;
    qo.n_exclude = n_exclude;

    if (list) {
        if (rvt_checkpoint_plan(in, &qo, &keys, &n_keys, &err) < 0) {
            rvt_errorf("%s", err.msg);
            rc = RVT_EXIT_FAILURE;
            goto done;
        }
        for (i = 0; i < n_keys; i++)
            printf("%s\n", keys[i]);
        goto done;
    }
    if (!out) {
        size_t len = strlen(in);
        out_owned = malloc(len + 16);
        if (!out_owned) {
            rvt_errorf("out of memory");
            rc = RVT_EXIT_FAILURE;
            goto done;
        }
        if (len > 3 && !strcmp(in + len - 3, ".h5"))
            snprintf(out_owned, len + 16, "%.*s-int8.h5", (int)(len - 3), in);
        else
            snprintf(out_owned, len + 16, "%s-int8.h5", in);
        out = out_owned;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHS(out), RVT_PATHS(in, ca.features)) == RVT_CLI_EXIT) {
        rc = cli.exit_code;
        goto done;
    }
    if (ca.features) {
        if (rvt_checkpoint_plan(in, &qo, &keys, &n_keys, &err) < 0) {
            rvt_errorf("%s", err.msg);
            rc = RVT_EXIT_FAILURE;
            goto done;
        }
        w.keys = keys; /* sorted */
        w.n_keys = n_keys;
        w.order = calloc((size_t)n_keys + 1, sizeof(*w.order));
        w.seen = calloc((size_t)n_keys + 1, sizeof(*w.seen));
        if (!w.order || !w.seen || n_exclude + n_keys > MAX_EXCLUDE) {
            rvt_errorf("%s", !w.order || !w.seen ? "out of memory" : "too many layers");
            rc = RVT_EXIT_FAILURE;
            goto done;
        }
        if (calibrate(in, out, &ca, &w, &cal, &config_sha, &qo, exclude, n_exclude, &budget_err,
                      &n_kept, &err) < 0) {
            rvt_errorf("%s", err.msg);
            rc = RVT_EXIT_FAILURE;
            goto done;
        }
        qo.exclude = exclude;
        qo.n_exclude = n_exclude + n_kept;
        if (ca.budget >= 0)
            rvt_infof("budget %g: the first %d of %d int8 candidates kept float32; int8 logits "
                      "differ from fp32 by %.4f (relative) on %ld clips",
                      ca.budget, n_kept, n_keys, budget_err, qo.calibration_clips);
    }
    if (rvt_checkpoint_quantize(in, out, &qo, &rep, &err) < 0) {
        rvt_errorf("%s", err.msg);
        rc = RVT_EXIT_FAILURE;
        goto done;
    }
    for (i = 0; i < rep.n_zero_layers; i++)
        rvt_warnf("%s: '%s' is all zero: kept as int8 zeros with scale 1 (its output is its bias)",
                  in, rep.zero_layers[i]);
    rvt_infof("%d layers int8 (%.2f M weights, %d all-zero channels), %.2f M numbers float32, "
              "activations %s; %s %.1f MB -> %s %.1f MB",
              rep.n_layers, (double)rep.n_int8 / 1e6, rep.n_zero_channels,
              (double)rep.n_float / 1e6, qo.activations, in, file_mb(in), out, file_mb(out));
done:
    rvt_quantize_keys_free(keys, n_keys);
    rvt_quantize_report_release(&rep);
    rvt_qcalib_free(&cal);
    free(config_sha);
    free(w.order);
    free(w.seen);
    free(exclude);
    free(out_owned);
    rvt_cli_release(&cli);
    return rc;
}
