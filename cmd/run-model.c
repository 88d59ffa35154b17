/* run-model: features.h5 + model.h5 -> predictions.csv. */
#include "core/common.h"

#include <string.h>

#include "core/atomic.h"
#include "core/cli.h"
#include "core/cpu.h"
#include "core/log.h"
#include "nn/prof.h"
#include "run/predict.h"

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
    "  store whose frame recipe (image.convert, resize, jpeg_quality, pick, crop, size,\n"
    "  frames: schemas/frames.md), preprocessing or label set differs from the\n"
    "  checkpoint's is refused, naming both files and values.  MODEL.h5 is an fp32\n"
    "  checkpoint (schemas/checkpoint.md) or one of quantize-model\n"
    "  (schemas/checkpoint-int8.md).  Kernels: AVX-512 or AVX2 (the network's own\n"
    "  GEMMs, channels-last), or portable C (GEMMs on OpenBLAS);\n"
    "  RVT_ISA=ref|avx2|avx512 lowers the level.\n"
    "\n"
    "  Each clip is computed on its own: the output is byte-identical whatever -j and\n"
    "  --batch.  -j N runs N clips (or batches) at once; with fewer of them than N\n"
    "  (one clip, -j 2) the spare threads share each clip's layers instead.  A clip\n"
    "  that cannot be read, or whose mel values or logits are not finite\n"
    "  (schemas/numbers.md), is an error, or with -k a skip.\n"
    "\n"
    "  Unless -q, the last stderr line gives the time of the network apart from the\n"
    "  store reads, summed over the worker threads and divided by the clips written:\n"
    "      run-model: N clips, forward X ms/clip, io Y ms/clip, Z threads\n"
    "\n"
    "  --profile FILE times every call of the network's kernels (the products, the\n"
    "  depthwise convolutions, the int8 quantization of activations; with RVT_ISA=ref\n"
    "  not the OpenBLAS products) and writes, the costliest first, one CSV row per\n"
    "  kernel and shape:\n"
    "      kernel,shape,calls_per_clip,ms_per_clip,share,gflop_s\n"
    "  calls_per_clip counts kernel calls (each thread of a team calls for its share\n"
    "  of a layer, a banded layer once a band of rows), ms_per_clip is CPU time in\n"
    "  the kernel, gflop_s the layers' arithmetic over that time; a last row 'total'\n"
    "  sums them, and stderr compares it with the forward time.  The outputs are the\n"
    "  same bytes; the timing adds about a microsecond to each of the few hundred\n"
    "  kernel calls of a clip.\n"
    "\n"
    "OPTIONS\n"
    "  -m, --model FILE     checkpoint model.h5 (required)\n"
    "  -F, --features FILE  feature store features.h5 of pack-h5 (required;\n"
    "                       -i, --input is a deprecated spelling: it warns)\n"
    "  -o, --output FILE    predictions CSV to write, '-' for stdout (required)\n"
    "  -s, --split NAME     only clips of this split: train, val, test or all (default)\n"
    "  -b, --batch N        at most N clips a work item, 1-4096 (run.batch, default 32)\n"
    "      --logits FILE    also write id,logit_<class>,... (the raw network outputs)\n"
    "      --profile FILE   also write the time of each kernel and shape (CSV, above)\n"
    RVT_HELP_CONFIG RVT_HELP_JOBS RVT_HELP_CLIPS RVT_HELP_STD
    "\n" RVT_HELP_EXIT
    "\n"
    "EXAMPLES\n"
    "  run-model -m model.h5 -F features.h5 -o predictions.csv\n"
    "  run-model -m model.h5 -F features.h5 --split test -j 2 -o test.csv\n"
    "  run-model -m model-int8.h5 -F features.h5 --batch 1 -o - | head\n"
    "  run-model -m model.h5 -F features.h5 -b 1 -o /dev/null --profile prof.csv\n";

enum { OPT_LOGITS = RVT_OPT_TOOL_BASE, OPT_PROFILE };

/* --profile: the kernels' times a clip, and on stderr their total against the forward's */
static int write_profile(const char *path, size_t n, double fwd_ms, struct rvt_error *err)
{
    struct rvt_atomic out;
    double total_ms;
    int ret;

    if ((ret = rvt_atomic_open(&out, path, err)) < 0)
        return ret;
    if ((ret = rvt_nn_prof_write(out.fp, (double)n, &total_ms, err)) < 0) {
        rvt_atomic_abort(&out);
        return ret;
    }
    if ((ret = rvt_atomic_commit(&out, err)) < 0)
        return ret;
    rvt_infof("profile: kernels %.3f ms/clip of CPU, forward %.3f ms/clip -> %s", total_ms,
              fwd_ms, path);
    return 0;
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
        {"profile", required_argument, NULL, OPT_PROFILE},
        {NULL, 0, NULL, 0},
    };
    struct rvt_error err = {0};
    struct rvt_cli cli;
    struct rvt_predict_opts po = {.split = "all"};
    struct rvt_predict_stats st;
    int c, ret, rc = RVT_EXIT_FAILURE;
    size_t n;
    long batch;
    const char *profile = NULL;

    rvt_blas_fix_coretype(argv);
    rvt_log_init("run-model");
    rvt_cli_init(&cli, "run-model", usage);
    rvt_cli_keys(&cli, "run.");
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "m:F:i:o:s:b:", opts, NULL)) != -1) {
        int r = rvt_cli_handle(&cli, c, optarg);
        if (r == RVT_CLI_EXIT)
            return cli.exit_code;
        if (r == RVT_CLI_HANDLED)
            continue;
        switch (c) {
        case 'm': po.model_path = optarg; break;
        case 'i': rvt_warnf("-i (--input) is deprecated: use -F (--features)"); /* fall through */
        case 'F': po.features_path = optarg; break;
        case 'o': po.output = optarg; break;
        case 's': po.split = optarg; break;
        case 'b': rvt_cli_set(&cli, "run.batch", optarg); break;
        case OPT_LOGITS: po.logits = optarg; break;
        case OPT_PROFILE: profile = optarg; break;
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
    if (!po.model_path || !po.features_path || !po.output) {
        rc = rvt_cli_usage_error(&cli, "-m MODEL, -F FEATURES and -o OUTPUT are required");
        goto out;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHS(po.output, po.logits, profile, cli.failures_path),
                              RVT_PATHS(po.features_path, po.model_path)) == RVT_CLI_EXIT) {
        rc = cli.exit_code;
        goto out;
    }
    if (strcmp(po.split, "all") && strcmp(po.split, "train") && strcmp(po.split, "val") &&
        strcmp(po.split, "test")) {
        rc = rvt_cli_usage_error(&cli, "--split wants train, val, test or all, got '%s'", po.split);
        goto out;
    }
    if (rvt_config_get_int(cli.cfg, "run.batch", &batch, &err) < 0 || batch < 1 ||
        batch > MAX_BATCH) {
        rc = rvt_cli_usage_error(&cli, "--batch wants 1-%d, got '%s'", MAX_BATCH,
                                 rvt_config_get(cli.cfg, "run.batch"));
        goto out;
    }
    {
        struct rvt_run_opts ro = {"clips", cli.jobs, cli.shard_i, cli.shard_n, cli.keep_going,
                                  cli.failures_path, po.output, (size_t)batch};
        if (profile)
            rvt_nn_prof_start();
        ret = rvt_run_predict(&po, &ro, &st, &err);
        rvt_nn_prof_stop();
    }
    if (ret < 0) {
        rvt_errorf("%s", err.msg);
        rc = ret == RVT_EINVAL ? RVT_EXIT_USAGE : RVT_EXIT_FAILURE;
        goto out;
    }
    n = st.n_done;
    /* bench-model parses the first line, issue 15's benchmark the second */
    rvt_infof("%zu clips predicted in %.3f s (%.3f ms/clip, %.1f GFLOP/s, %d workers, "
              "cpu %.3f ms/clip)%s", n, st.seconds, n ? st.seconds * 1e3 / (double)n : 0.0,
              n ? 2.0 * st.macs * (double)n / st.seconds * 1e-9 : 0.0, st.n_workers,
              n ? st.cpu * 1e3 / (double)n : 0.0,
              st.n_failed ? "; some skipped (see the failures CSV)" : "");
    rvt_infof("%zu clips, forward %.3f ms/clip, io %.3f ms/clip, %d threads", n,
              n ? st.t_fwd * 1e3 / (double)n : 0.0, n ? st.t_io * 1e3 / (double)n : 0.0,
              st.n_threads);
    if (profile && n && write_profile(profile, n, st.t_fwd * 1e3 / (double)n, &err) < 0) {
        rvt_errorf("%s", err.msg);
        goto out;
    }
    rc = st.n_failed ? RVT_EXIT_SKIPPED : RVT_EXIT_OK;
out:
    rvt_cli_release(&cli);
    return rc;
}
