/* quantize-model: model.h5 -> model-int8.h5 (schemas/checkpoint-int8.md). */
#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cli.h"
#include "core/cpu.h"
#include "core/log.h"
#include "nn/qcheckpoint.h"
#include "nn/qsearch.h"

#define MAX_EXCLUDE 512

static const char usage[] =
    "NAME\n"
    "  quantize-model - turn an fp32 checkpoint into an int8 one\n"
    "\n"
    "SYNOPSIS\n"
    "  quantize-model [options] MODEL.h5 [-o MODEL-int8.h5]\n"
    "  quantize-model --list [--layers LIST] [--min-channels N] [--exclude KEY]... MODEL.h5\n"
    "\n"
    "DESCRIPTION\n"
    "  Reads a checkpoint of scripts/export-checkpoint.py (format fp32, schemas/\n"
    "  checkpoint.md) and writes the same checkpoint with the weights of the chosen\n"
    "  layers in int8: symmetric per output channel, scale = max|w| / 127 (63 with\n"
    "  --weight-bits 7; an all-zero channel gets scale 1 and is counted; a layer that\n"
    "  is entirely zero is named in a warning), plus one float32 scale per output\n"
    "  channel.  Biases, BatchNorm, depthwise convolutions and, by default, the 1x1\n"
    "  convolutions of fewer than 64 input channels stay float32.  run-model then\n"
    "  runs those layers with int8 GEMMs (AVX-512 VNNI, AVX2 or portable C, identical\n"
    "  results), quantizing each layer's input per clip at run time: asymmetric uint8,\n"
    "  one scale and zero point per column (each pixel's channel vector; a Linear\n"
    "  layer's whole input), from its min/max.\n"
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
    "      --min-channels N 1x1 convolutions (pointwise) of fewer than N input\n"
    "                       channels stay float32 (default 64; 0: none).  Their\n"
    "                       outputs sum too few products for int8 to pay for\n"
    "                       quantizing their inputs (EfficientNet-B0's expands of\n"
    "                       16, 24 and 40 channels and its 32 -> 16 project, the\n"
    "                       first layers after the stem, ran slower in int8 than in\n"
    "                       float32 on AVX2), and the errors of the first layers\n"
    "                       grow the most on their way through the network\n"
    "      --weight-bits B  8 (default) or 7: weights in -63..63, scale = max|w| / 63.\n"
    "                       On CPUs without AVX-512 VNNI (AVX2 only) run-model\n"
    "                       multiplies such weights with vpmaddubsw, whose pair sums\n"
    "                       cannot overflow int16 with them: the int8 products run\n"
    "                       about 1.4x faster, with the same results on every CPU.\n"
    "                       The price is half the weight resolution (ONNX Runtime's\n"
    "                       reduce_range makes the same trade); VNNI CPUs gain\n"
    "                       nothing from it\n"
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
    OPT_MIN_CHANNELS,
    OPT_WEIGHT_BITS,
    OPT_LIST,
    OPT_CALIBRATE,
    OPT_CALIB_METHOD,
    OPT_PERCENTILE,
    OPT_CALIB_SPLIT,
    OPT_CALIB_CLIPS,
    OPT_BUDGET,
};

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
        {"min-channels", required_argument, NULL, OPT_MIN_CHANNELS},
        {"weight-bits", required_argument, NULL, OPT_WEIGHT_BITS},
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
    struct rvt_qsearch_opts ca;
    struct rvt_qsearch *search = NULL;
    const char *exclude[MAX_EXCLUDE];
    const char *in, *out = NULL;
    char *out_owned = NULL, **keys = NULL;
    int n_exclude = 0, n_keys = 0, c, i, rc = RVT_EXIT_OK;
    bool list = false, method_set = false, pct_set = false;

    rvt_blas_fix_coretype(argv);
    rvt_cli_init(&cli, "quantize-model", usage);
    rvt_cli_keys(&cli, "");
    rvt_quantize_opts_init(&qo);
    rvt_qsearch_opts_init(&ca);
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
        case 'o': out = optarg; break;
        case OPT_LAYERS:
            if (rvt_qkinds_parse(optarg, &qo.kinds, &err) < 0) {
                rc = rvt_cli_usage_error(&cli, "--layers: %s", err.msg);
                goto done;
            }
            break;
        case OPT_EXCLUDE:
            if (n_exclude == MAX_EXCLUDE) {
                rc = rvt_cli_usage_error(&cli, "more than %d --exclude", MAX_EXCLUDE);
                goto done;
            }
            exclude[n_exclude++] = optarg;
            break;
        case OPT_MIN_CHANNELS: {
            long v;
            if (rvt_parse_long(optarg, 0, 1000000, &v) < 0) {
                rc = rvt_cli_usage_error(&cli, "--min-channels: '%s' is not a count 0-1000000",
                                         optarg);
                goto done;
            }
            qo.min_channels = (int)v;
            break;
        }
        case OPT_WEIGHT_BITS: {
            long v;
            if (rvt_parse_long(optarg, 7, 8, &v) < 0) {
                rc = rvt_cli_usage_error(&cli, "--weight-bits: '%s' is not 7 or 8", optarg);
                goto done;
            }
            qo.weight_bits = (int)v;
            break;
        }
        case OPT_LIST: list = true; break;
        case OPT_CALIBRATE: ca.features = optarg; break;
        case OPT_CALIB_METHOD:
            if (!strcmp(optarg, "minmax")) {
                ca.method = RVT_QSEARCH_MINMAX;
            } else if (!strcmp(optarg, "percentile")) {
                ca.method = RVT_QSEARCH_PERCENTILE;
            } else if (!strcmp(optarg, "dynamic")) {
                ca.method = RVT_QSEARCH_DYNAMIC;
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
    if (cli.shard_n != 1 || cli.keep_going || cli.failures_path) {
        rc = rvt_cli_usage_error(&cli, "--shard, --keep-going and --failures do not apply to quantize-model");
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
    if (pct_set && ca.method != RVT_QSEARCH_PERCENTILE) {
        rc = rvt_cli_usage_error(&cli, "--percentile needs --calib-method percentile");
        goto done;
    }
    qo.exclude = exclude;
    qo.n_exclude = n_exclude;

    if (list) {
        if (rvt_checkpoint_plan(in, &qo, &keys, &n_keys, &err) < 0)
            goto fail;
        for (i = 0; i < n_keys; i++)
            printf("%s\n", keys[i]);
        goto done;
    }
    if (!out && !(out = out_owned = rvt_quantize_default_output(in))) {
        rvt_error_set(&err, RVT_ENOMEM, "out of memory");
        goto fail;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHS(out), RVT_PATHS(in, ca.features)) == RVT_CLI_EXIT) {
        rc = cli.exit_code;
        goto done;
    }
    if (ca.features) {
        if (rvt_qsearch_run(&search, in, out, &ca, &qo, &err) < 0)
            goto fail;
        if (ca.budget >= 0)
            rvt_infof("budget %g: the first %d of %d int8 candidates kept float32; int8 logits "
                      "differ from fp32 by %.4f (relative) on %ld clips",
                      ca.budget, rvt_qsearch_kept(search), rvt_qsearch_candidates(search),
                      qo.budget_error, qo.calibration_clips);
    }
    if (rvt_checkpoint_quantize(in, out, &qo, &rep, &err) < 0)
        goto fail;
    for (i = 0; i < rep.n_zero_layers; i++)
        rvt_warnf("%s: '%s' is all zero: kept as int8 zeros with scale 1 (its output is its bias)",
                  in, rep.zero_layers[i]);
    if (rep.n_narrow)
        rvt_infof("%d pointwise convs of fewer than %d input channels kept float32 (--min-channels)",
                  rep.n_narrow, qo.min_channels);
    rvt_infof("%d layers int8 (%.2f M weights, %d all-zero channels), %.2f M numbers float32, "
              "activations %s; %s %.1f MB -> %s %.1f MB",
              rep.n_layers, (double)rep.n_int8 / 1e6, rep.n_zero_channels,
              (double)rep.n_float / 1e6, qo.activations, in, file_mb(in), out, file_mb(out));
    goto done;
fail:
    rvt_errorf("%s", err.msg);
    rc = RVT_EXIT_FAILURE;
done:
    rvt_quantize_keys_free(keys, n_keys);
    rvt_quantize_report_release(&rep);
    rvt_qsearch_free(&search);
    free(out_owned);
    rvt_cli_release(&cli);
    return rc;
}
