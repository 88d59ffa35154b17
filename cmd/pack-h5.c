/* pack-h5: index.csv + frames.h5 + mel.h5 (or their shards) -> features.h5. */
#include "core/common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/log.h"
#include "ravdess/index.h"
#include "store/pack.h"
#include "store/store.h"

#define MAX_FILES 4096

static const char usage[] =
    "NAME\n"
    "  pack-h5 - join index.csv, frames and mel stores into one features.h5\n"
    "\n"
    "SYNOPSIS\n"
    "  pack-h5 -i INDEX.csv -f FRAMES.h5[,...] -a MEL.h5[,...] -o FEATURES.h5\n"
    "          [--split train|val|test|all] [--folds K --fold I] [--deflate N] [options]\n"
    "\n"
    "DESCRIPTION\n"
    "  Writes one feature store with a row per clip of INDEX.csv (in its id order):\n"
    "  the clips/* columns (id, actor, gender, vocal_channel, emotion, emotion_name,\n"
    "  intensity, statement, repetition, label, label_name, split, video_path,\n"
    "  audio_path) from the index, and the datasets of the frames stores (frames,\n"
    "  frame_pts) and mel stores (mel, mel_frames) of extract-frames and extract-mel.\n"
    "  Root attributes record the schema version, this tool's version, the full\n"
    "  effective config and its sha256, class_names, the sha256 of index.csv and of\n"
    "  every input file.  schemas/features.md describes the layout; plain h5py reads\n"
    "  it (chunked one clip a chunk, shuffle + deflate, no plugin filters).\n"
    "\n"
    "  Each of -f and -a takes one store or any complete set of shards (the outputs\n"
    "  of --shard I/N runs), comma-separated or repeated, in any order.  pack-h5\n"
    "  refuses, naming the first offender and both values: a missing or repeated\n"
    "  shard, shards of different sets, stores whose configs disagree with each\n"
    "  other or with this run (image.* for frames, audio.* for mel: give pack-h5 the\n"
    "  extractors' --config), an index whose labels or splits disagree with this\n"
    "  run's labels.* and split.* keys, and an index without rows.\n"
    "\n"
    "  Stored clips the index does not list are left out, so a filtered index packs\n"
    "  just its rows.  An index row that some store lacks (a clip an extractor\n"
    "  skipped with --keep-going) is left out too: pack-h5 names it and the store on\n"
    "  stderr, lists it in the root attribute missing_clips and exits 3.\n"
    "\n"
    "  The output appears whole or not at all: it is written to a temporary file\n"
    "  beside it and renamed at the end.  Chunks stored with the output's deflate\n"
    "  level are copied without decoding; others are re-encoded on -j threads.  The\n"
    "  datasets and attributes do not depend on -j or on how the inputs are sharded\n"
    "  (only the input_* provenance lists name the actual input files).\n"
    "\n"
    "OPTIONS\n"
    "  -i, --index FILE     index.csv of ravdess-index (required)\n"
    "  -f, --frames FILES   frames stores of extract-frames\n"
    "  -a, --mel FILES      mel (audio) stores of extract-mel (at least one of -f, -a);\n"
    "                       -m is a deprecated spelling of -a (it warns)\n"
    "  -o, --output FILE    the features store to write (required)\n"
    "  -s, --split NAME     write only the clips of split train, val or test, or all\n"
    "                       (default: all)\n"
    "      --folds K        K-fold actor splits (sets split.folds): the split column\n"
    "                       is recomputed from the actors instead of read from the index\n"
    "      --fold I         the test fold, 0-based (sets split.fold; implies the above)\n"
    "      --deflate N      gzip level 0-9 of the output (sets store.deflate; default 4)\n"
    RVT_HELP_CONFIG RVT_HELP_JOBS RVT_HELP_STD
    "\n" RVT_HELP_EXIT_NOSKIP
    "  Also 3: some index rows were missing from a store and were left out (listed\n"
    "  in the attribute missing_clips).\n"
    "\n"
    "EXAMPLES\n"
    "  pack-h5 -i index.csv -f frames.h5 -a mel.h5 -o features.h5\n"
    "  pack-h5 -i index.csv -f frames.0.h5,frames.1.h5 -a mel.h5 -o test.h5 --split test\n"
    "  pack-h5 -c my.yaml -i index.csv -f frames.h5 -a mel.h5 --folds 5 --fold 2 -o f2.h5\n";

enum { OPT_FOLD = RVT_OPT_TOOL_BASE, OPT_FOLDS, OPT_DEFLATE };

static int add_files(const char **list, int *n, char **owned, int *n_owned, const char *arg)
{
    char *s = strdup(arg), *tok, *save = NULL;
    if (!s || *n_owned >= MAX_FILES)
        return -1;
    owned[(*n_owned)++] = s;
    for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n >= MAX_FILES)
            return -1;
        list[(*n)++] = tok;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        RVT_CLI_LONGOPTS,
        {"index", required_argument, NULL, 'i'},
        {"frames", required_argument, NULL, 'f'},
        {"mel", required_argument, NULL, 'a'},
        {"output", required_argument, NULL, 'o'},
        {"split", required_argument, NULL, 's'},
        {"fold", required_argument, NULL, OPT_FOLD},
        {"folds", required_argument, NULL, OPT_FOLDS},
        {"deflate", required_argument, NULL, OPT_DEFLATE},
        {NULL, 0, NULL, 0},
    };
    static const char *frames[MAX_FILES], *mel[MAX_FILES];
    static char *owned[MAX_FILES];
    struct rvt_cli cli;
    struct rvt_pack_options o;
    struct rvt_pack_report rep = {0};
    struct rvt_error err = {0};
    int c, n_owned = 0, code = RVT_EXIT_OK, k;
    long v;
    bool fold_set = false, folds_set = false;

    memset(&o, 0, sizeof(o));
    o.split = -1;
    o.frames = frames;
    o.mel = mel;
    rvt_cli_init(&cli, "pack-h5", usage);
    rvt_cli_keys(&cli, "image. audio. labels. split. store.");
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "i:f:a:m:o:s:", opts, NULL)) != -1) {
        int r = rvt_cli_handle(&cli, c, optarg);
        if (r == RVT_CLI_EXIT) {
            code = cli.exit_code;
            goto done;
        }
        if (r == RVT_CLI_HANDLED)
            continue;
        switch (c) {
        case 'i': o.index_path = optarg; break;
        case 'o': o.out_path = optarg; break;
        case 'm':
            rvt_warnf("-m is deprecated: use -a (--mel) for the mel stores");
            c = 'a';
            /* fall through */
        case 'f':
        case 'a':
            if (add_files(c == 'f' ? frames : mel, c == 'f' ? &o.n_frames : &o.n_mel, owned, &n_owned,
                          optarg) < 0) {
                code = rvt_cli_usage_error(&cli, "too many input files (at most %d)", MAX_FILES);
                goto done;
            }
            break;
        case 's':
            if (!strcmp(optarg, "all")) {
                o.split = -1;
            } else {
                enum rvt_split s;
                if (rvt_split_parse(optarg, &s) < 0) {
                    code = rvt_cli_usage_error(&cli, "--split wants train, val, test or all, got '%s'",
                                               optarg);
                    goto done;
                }
                o.split = (int)s;
            }
            break;
        case OPT_FOLD:
        case OPT_FOLDS:
            if (rvt_parse_long(optarg, c == OPT_FOLD ? 0 : 3, 99, &v) < 0) {
                code = rvt_cli_usage_error(&cli, "%s wants %s, got '%s'",
                                           c == OPT_FOLD ? "--fold" : "--folds",
                                           c == OPT_FOLD ? "a fold number 0-98" : "a fold count 3-99",
                                           optarg);
                goto done;
            }
            rvt_cli_set(&cli, c == OPT_FOLD ? "split.fold" : "split.folds", optarg);
            fold_set |= c == OPT_FOLD;
            folds_set |= c == OPT_FOLDS;
            break;
        case OPT_DEFLATE:
            if (rvt_parse_long(optarg, 0, 9, &v) < 0) {
                code = rvt_cli_usage_error(&cli, "--deflate wants a level 0-9, got '%s'", optarg);
                goto done;
            }
            rvt_cli_set(&cli, "store.deflate", optarg);
            break;
        default:
            code = rvt_cli_usage_error(&cli, "unknown option");
            goto done;
        }
    }
    if (optind < argc) {
        code = rvt_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (rvt_cli_finish(&cli) == RVT_CLI_EXIT) {
        code = cli.exit_code;
        goto done;
    }
    if (!o.index_path || !o.out_path) {
        code = rvt_cli_usage_error(&cli, "-i INDEX.csv and -o FEATURES.h5 are required");
        goto done;
    }
    if (o.n_frames + o.n_mel == 0) {
        code = rvt_cli_usage_error(&cli, "give the stores to pack with -f and/or -a");
        goto done;
    }
    if (cli.shard_n != 1 || cli.keep_going || cli.failures_path) {
        code = rvt_cli_usage_error(&cli, "--shard, --keep-going and --failures do not apply to pack-h5");
        goto done;
    }
    if (fold_set || folds_set) {
        long folds = 0;
        if (rvt_config_get_int(cli.cfg, "split.folds", &folds, &err) < 0 || folds < 3) {
            code = rvt_cli_usage_error(&cli, "--fold needs K-fold splits: give --folds K (K >= 3)");
            goto done;
        }
        o.resplit = true;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHS(o.out_path), RVT_PATHS(o.index_path)) == RVT_CLI_EXIT ||
        rvt_cli_check_outputs(&cli, RVT_PATHS(o.out_path), RVT_PATHV(o.n_frames, frames)) == RVT_CLI_EXIT ||
        rvt_cli_check_outputs(&cli, RVT_PATHS(o.out_path), RVT_PATHV(o.n_mel, mel)) == RVT_CLI_EXIT) {
        code = cli.exit_code;
        goto done;
    }
    o.cfg = cli.cfg;
    o.jobs = cli.jobs;
    /* with RLIMIT_FSIZE, a write past the limit fails with EFBIG instead of killing us */
    signal(SIGXFSZ, SIG_IGN);
    if (rvt_pack(&o, &rep, &err) < 0) {
        rvt_errorf("%s", err.msg);
        code = err.code == RVT_EINVAL ? RVT_EXIT_USAGE : RVT_EXIT_FAILURE;
        goto done;
    }
    for (size_t m = 0; m < rep.n_missing; m++)
        rvt_warnf("clip %s is missing from '%s': left out (attribute missing_clips)",
                  rep.missing[m].id, rep.missing[m].store);
    if (rep.n_missing > 0)
        code = RVT_EXIT_SKIPPED;
    if (rep.n_written == 0)
        rvt_warnf("no clips in split %s: '%s' is empty",
                  o.split < 0 ? "all" : rvt_split_name(o.split), o.out_path);
    rvt_infof("%zu of %zu clips -> '%s' (%zu chunks copied, %zu encoded%s)", rep.n_written, rep.n_index,
              o.out_path, rep.n_copied, rep.n_encoded, o.resplit ? ", splits from split.*" : "");
done:
    rvt_pack_report_release(&rep);
    for (k = 0; k < n_owned; k++)
        free(owned[k]);
    rvt_cli_release(&cli);
    return code;
}
