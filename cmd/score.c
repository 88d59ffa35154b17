/* score: predictions.csv files -> metrics.csv, confusion.csv, confusion.svg, summary. */
#include "core/common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/cli.h"
#include "core/log.h"
#include "eval/predictions.h"
#include "eval/score.h"

static const char usage[] =
    "NAME\n"
    "  score - accuracy, F1, kappa, log-loss and a confusion matrix from predictions\n"
    "\n"
    "SYNOPSIS\n"
    "  score [OPTIONS] PREDICTIONS.csv...\n"
    "  score [OPTIONS] --from-confusion MATRIX.csv\n"
    "\n"
    "DESCRIPTION\n"
    "  Reads one or more predictions.csv files as run-model writes them (header\n"
    "  id,split,label,pred,p_<class>...; see schemas/predictions.md) and computes the\n"
    "  metrics of scikit-learn 1.2 with the same zero-division and tie rules:\n"
    "  accuracy, balanced accuracy, top-2 accuracy, log-loss, Cohen's kappa,\n"
    "  precision/recall/F1 per class and their macro, weighted and micro averages,\n"
    "  support and class-wise accuracy.  Each file is one fold (fold i = the i-th\n"
    "  file).  Metrics are given per fold and per split (plus split 'all'); with two or\n"
    "  more files also for all folds pooled and as mean and population standard\n"
    "  deviation across folds.  Writes, each atomically and all or none:\n"
    "    metrics.csv     tidy rows metric,class,split,fold,value (schemas/metrics.md)\n"
    "    confusion.csv   counts, rows = true class, columns = predicted class\n"
    "    confusion.svg   heat-map with counts, row percentages and a colour scale\n"
    "  The confusion matrix, picture and summary are for the pooled folds (or the one\n"
    "  file) and every selected clip.  A short summary (accuracy, weighted F1,\n"
    "  class-wise accuracy) goes to stdout.\n"
    "\n"
    "OPTIONS\n"
    "  -o, --output-dir DIR folder for the three outputs, created if missing\n"
    "                       (default: the current folder)\n"
    "      --metrics FILE   metrics CSV (default: DIR/metrics.csv; '-' = stdout)\n"
    "      --confusion FILE confusion CSV (default: DIR/confusion.csv; '-' = stdout)\n"
    "      --svg FILE       confusion heat-map (default: DIR/confusion.svg; '-' =\n"
    "                       stdout)\n"
    "  -s, --split NAME     score only clips of this split, e.g. test (default: all\n"
    "                       clips; their metrics are reported per split and as 'all')\n"
    "      --bootstrap N    add percentile 95% confidence intervals of accuracy and\n"
    "                       macro F1 from N resamples of the clips (default: 0, off)\n"
    "      --from-confusion MATRIX.csv  score a published confusion matrix (rows\n"
    "                       true, columns predicted; class names in a header row\n"
    "                       and/or first column, or none) as the clips it counts:\n"
    "                       every metric but log-loss and top-2 accuracy (n/a);\n"
    "                       layout in schemas/metrics.md\n"
    "      --seed S         bootstrap seed, 0 to 2^64-1 (default: 0); the same seed\n"
    "                       gives the same intervals\n"
    "      --eps auto|X     log-loss clipping of probabilities to [X, 1-X] (default:\n"
    "                       auto = 2.220446049250313e-16, scikit-learn 1.2; 1e-15 =\n"
    "                       scikit-learn before 1.2)\n"
    RVT_HELP_STD
    "  (-q also leaves out the summary.)\n"
    "\n" RVT_HELP_EXIT_NOSKIP
    "  On status 1 (bad input: a one-line error names the file and line; or an I/O\n"
    "  error) no output is written.\n"
    "\n"
    "EXAMPLES\n"
    "  score -o results predictions.csv\n"
    "  score --split test --bootstrap 1000 --seed 7 -o results predictions.csv\n"
    "  score -o cv fold0.csv fold1.csv fold2.csv fold3.csv fold4.csv\n"
    "  score --metrics - --confusion /dev/null --svg cm.svg predictions.csv\n";

enum {
    OPT_METRICS = RVT_OPT_TOOL_BASE,
    OPT_CONFUSION,
    OPT_SVG,
    OPT_BOOTSTRAP,
    OPT_SEED,
    OPT_EPS,
    OPT_FROM_CONFUSION,
};

static const struct option long_opts[] = {
    RVT_CLI_LONGOPTS,
    {"output-dir", required_argument, NULL, 'o'},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"confusion", required_argument, NULL, OPT_CONFUSION},
    {"svg", required_argument, NULL, OPT_SVG},
    {"split", required_argument, NULL, 's'},
    {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
    {"seed", required_argument, NULL, OPT_SEED},
    {"eps", required_argument, NULL, OPT_EPS},
    {"from-confusion", required_argument, NULL, OPT_FROM_CONFUSION},
    {NULL, 0, NULL, 0},
};

/* mkdir -p */
static int make_dirs(const char *dir, struct rvt_error *err)
{
    char *d = strdup(dir), *s;
    int ret = 0;
    if (!d)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (s = d + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = '\0';
            if (mkdir(d, 0777) != 0 && errno != EEXIST) {
                ret = rvt_error_set(err, RVT_EIO, "cannot create '%s': %s", d, strerror(errno));
                break;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(d);
    return ret;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!strcmp(a, b))
        return strcmp(a, "/dev/null") != 0;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino && S_ISREG(sa.st_mode);
}

enum { OUT_METRICS, OUT_CONFUSION, OUT_SVG, N_OUT };

int main(int argc, char **argv)
{
    struct rvt_cli cli;
    struct rvt_predictions preds;
    struct rvt_score score = {0};
    struct rvt_score_opts opts = RVT_SCORE_OPTS_DEFAULT;
    struct rvt_error err = {0};
    const char *dir = ".", *matrix = NULL, *path_opt[N_OUT] = {NULL, NULL, NULL};
    static const char *const default_name[N_OUT] = {"metrics.csv", "confusion.csv", "confusion.svg"};
    char *paths[N_OUT] = {NULL, NULL, NULL};
    int c, i, exit_code = RVT_EXIT_FAILURE;
    bool to_stdout = false;
    long v;

    rvt_predictions_init(&preds);
    rvt_cli_init(&cli, "score", usage);
    rvt_cli_keys(&cli, "");
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "o:s:", long_opts, NULL)) != -1) {
        int r = rvt_cli_handle(&cli, c, optarg);
        if (r == RVT_CLI_EXIT) {
            exit_code = cli.exit_code;
            goto done;
        }
        if (r == RVT_CLI_HANDLED)
            continue;
        switch (c) {
        case 'o': dir = optarg; break;
        case OPT_METRICS: path_opt[OUT_METRICS] = optarg; break;
        case OPT_CONFUSION: path_opt[OUT_CONFUSION] = optarg; break;
        case OPT_SVG: path_opt[OUT_SVG] = optarg; break;
        case OPT_FROM_CONFUSION: matrix = optarg; break;
        case 's':
            if (!*optarg) {
                exit_code = rvt_cli_usage_error(&cli, "--split wants a split name");
                goto done;
            }
            opts.split = strcmp(optarg, "all") ? optarg : NULL;
            break;
        case OPT_BOOTSTRAP:
            if (rvt_parse_long(optarg, 0, 10000000, &v) < 0) {
                exit_code = rvt_cli_usage_error(&cli, "--bootstrap wants 0 to 10000000 resamples, got '%s'", optarg);
                goto done;
            }
            opts.metrics.n_boot = v;
            break;
        case OPT_SEED: {
            char *end;
            unsigned long long s;
            errno = 0;
            s = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || optarg[0] == '+') {
                exit_code = rvt_cli_usage_error(&cli, "--seed wants an integer 0 to 2^64-1, got '%s'", optarg);
                goto done;
            }
            opts.metrics.seed = (uint64_t)s;
            break;
        }
        case OPT_EPS:
            if (strcmp(optarg, "auto")) {
                char *end;
                double e = strtod(optarg, &end);
                if (end == optarg || *end || !(e >= 0 && e < 0.5)) {
                    exit_code = rvt_cli_usage_error(&cli, "--eps wants auto or a number in [0, 0.5), got '%s'", optarg);
                    goto done;
                }
                opts.metrics.eps = e;
            } else {
                opts.metrics.eps = 2.220446049250313e-16;
            }
            break;
        default:
            exit_code = rvt_cli_usage_error(&cli, "unknown option");
            goto done;
        }
    }
    if ((optind >= argc) == !matrix) {
        exit_code = rvt_cli_usage_error(&cli, matrix ? "--from-confusion takes no predictions file"
                                                     : "no predictions file given");
        goto done;
    }
    if (rvt_cli_finish(&cli) == RVT_CLI_EXIT) {
        exit_code = cli.exit_code;
        goto done;
    }
    if (cli.shard_n != 1 || cli.keep_going || cli.failures_path) {
        /* bad input always stops score: there is no clip to skip */
        exit_code = rvt_cli_usage_error(&cli, "--shard, --keep-going and --failures do not apply to score");
        goto done;
    }
    for (i = 0; i < N_OUT; i++) {
        paths[i] = path_opt[i] ? strdup(path_opt[i]) : join(dir, default_name[i]);
        if (!paths[i]) {
            rvt_errorf("out of memory");
            goto done;
        }
        if (!strcmp(paths[i], "-")) {
            if (to_stdout) {
                exit_code = rvt_cli_usage_error(&cli, "only one output can go to stdout");
                goto done;
            }
            to_stdout = true;
        }
    }
    for (i = 0; i < N_OUT; i++) {
        int j;
        for (j = i + 1; j < N_OUT; j++)
            if (strcmp(paths[i], "-") && same_file(paths[i], paths[j])) {
                exit_code = rvt_cli_usage_error(&cli, "two outputs would be the same file '%s'", paths[i]);
                goto done;
            }
    }

    if (matrix) { /* the matrix is the one input */
        argv = (char **)&matrix;
        argc = 1;
        optind = 0;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHV(N_OUT, paths), RVT_PATHV(argc - optind, argv + optind)) == RVT_CLI_EXIT) {
        exit_code = cli.exit_code;
        goto done;
    }
    for (i = optind; i < argc; i++)
        if ((matrix ? rvt_predictions_read_confusion : rvt_predictions_read)(&preds, argv[i], &err) < 0) {
            rvt_errorf("%s", err.msg);
            goto done;
        }
    rvt_debugf("%zu predictions, %d classes, %d splits, %d files", preds.n_rows, preds.n_classes,
               preds.n_splits, preds.n_files);
    if (rvt_score_compute(&score, &preds, &opts, &err) < 0) {
        rvt_errorf("%s", err.msg);
        goto done;
    }
    /* the folder is made only now, so bad input leaves nothing behind */
    if (!path_opt[OUT_METRICS] || !path_opt[OUT_CONFUSION] || !path_opt[OUT_SVG])
        if (make_dirs(dir, &err) < 0) {
            rvt_errorf("%s", err.msg);
            goto done;
        }
    if (rvt_score_write_files(&score, paths, &err) < 0) {
        rvt_errorf("%s", err.msg);
        goto done;
    }
    if (rvt_log_level() >= RVT_LOG_INFO)
        rvt_score_print_summary(to_stdout ? stderr : stdout, &score);
    exit_code = RVT_EXIT_OK;
done:
    for (i = 0; i < N_OUT; i++)
        free(paths[i]);
    rvt_score_release(&score);
    rvt_predictions_release(&preds);
    rvt_cli_release(&cli);
    return exit_code;
}
