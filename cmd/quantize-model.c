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
#include "nn/qgemm.h"

#define MAX_EXCLUDE 1024

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
    "  layer's input per clip and per tensor at run time (asymmetric uint8, min/max).\n"
    "  The output records the scheme, the layers, and the source file's name and\n"
    "  sha256 (schemas/checkpoint-int8.md).  It is written to a temporary file and\n"
    "  renamed; the same input gives the same bytes.\n"
    "\n"
    "  Refused with exit status 1: an input that is already int8, not a checkpoint, or\n"
    "  has a NaN or infinite weight in a layer to quantize.\n"
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
    "                         all        every kind above\n"
    "                       depthwise convolutions always stay float32\n"
    "      --exclude KEY    keep this weight float32 (repeatable; see --list)\n"
    "      --list           print the keys of the weights that would be quantized, one\n"
    "                       a line, and exit\n"
    "\n" RVT_CLI_HELP
    "  quantize-model reads no config keys; --config/--set are accepted and ignored.\n"
    "\n"
    "EXAMPLES\n"
    "  quantize-model model.h5                      # writes model-int8.h5\n"
    "  quantize-model model.h5 -o m8.h5 --layers linear,pointwise\n"
    "  quantize-model --list model.h5 | head\n"
    "  run-model -m model-int8.h5 -i features.h5 -o predictions.csv\n";

enum {
    OPT_LAYERS = RVT_OPT_TOOL_BASE,
    OPT_EXCLUDE,
    OPT_LIST,
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
        {"list", no_argument, NULL, OPT_LIST},
        {NULL, 0, NULL, 0},
    };
    struct rvt_cli cli;
    struct rvt_error err = {0};
    struct rvt_quantize_opts qo;
    struct rvt_quantize_report rep = {0};
    const char *exclude[MAX_EXCLUDE];
    const char *in, *out = NULL;
    char *out_owned = NULL, **keys = NULL;
    int n_exclude = 0, n_keys = 0, c, i, rc = RVT_EXIT_OK;
    bool list = false;

    rvt_cli_init(&cli, "quantize-model", usage);
    rvt_quantize_opts_init(&qo);
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "o:", opts, NULL)) != -1) {
        int r = rvt_cli_handle(&cli, c, optarg);
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
            if (n_exclude == MAX_EXCLUDE) {
                rc = rvt_cli_usage_error(&cli, "more than %d --exclude", MAX_EXCLUDE);
                goto done;
            }
            exclude[n_exclude++] = optarg;
            break;
        case OPT_LIST:
            list = true;
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
    if (rvt_checkpoint_quantize(in, out, &qo, &rep, &err) < 0) {
        rvt_errorf("%s", err.msg);
        rc = RVT_EXIT_FAILURE;
        goto done;
    }
    for (i = 0; i < rep.n_zero_layers; i++)
        rvt_warnf("%s: '%s' is all zero: kept as int8 zeros with scale 1 (its output is its bias)",
                  in, rep.zero_layers[i]);
    rvt_infof("%d layers int8 (%.2f M weights, %d all-zero channels), %.2f M numbers float32; "
              "%s %.1f MB -> %s %.1f MB; kernels: %s",
              rep.n_layers, (double)rep.n_int8 / 1e6, rep.n_zero_channels,
              (double)rep.n_float / 1e6, in, file_mb(in), out, file_mb(out),
              rvt_isa_name(rvt_qgemm_kernels_get()->isa));
done:
    rvt_quantize_keys_free(keys, n_keys);
    rvt_quantize_report_release(&rep);
    free(out_owned);
    rvt_cli_release(&cli);
    return rc;
}
