/* ravdess-index: list a RAVDESS-shaped corpus as index.csv (see schemas/index.md). */
#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic.h"
#include "core/cli.h"
#include "core/log.h"
#include "ravdess/index.h"
#include "ravdess/ravdess.h"

#define MAX_PRINTED 20

static const char usage[] =
    "NAME\n"
    "  ravdess-index - list the clips of a RAVDESS-shaped corpus as index.csv\n"
    "\n"
    "SYNOPSIS\n"
    "  ravdess-index [OPTIONS] ROOT... [-o INDEX.csv]\n"
    "\n"
    "DESCRIPTION\n"
    "  Writes one row per clip id (VV-EE-II-SS-RR-AA), sorted by id, with its parsed\n"
    "  file-name fields, gender, emotion name, class label under the configured label\n"
    "  set, actor-disjoint split, and the paths of its full-AV mp4 and its wav\n"
    "  (schemas/index.md).\n"
    "\n"
    "  Each ROOT is walked recursively (at most 8 folders deep, names in byte order,\n"
    "  hidden names and __MACOSX skipped).  Both official zip layouts work, alone or\n"
    "  merged: ROOT/Actor_01/03-01-...wav (the audio zips) and\n"
    "  ROOT/Video_Speech_Actor_01/Actor_01/01-01-...mp4 (the video zips).  A corpus\n"
    "  file is MM-VV-EE-II-SS-RR-AA.mp4 (modality 01 full-AV, 02 video-only) or .wav\n"
    "  (03 audio-only), every field two digits, inside the folder Actor_AA of its\n"
    "  actor; any .mp4/.wav or digits-and-dashes name that breaks this grammar is an\n"
    "  error naming the file and the field (emotion 09, strong neutral, song disgust,\n"
    "  a wrong extension or folder, ...).  Other files are ignored.  Media files are\n"
    "  never opened.\n"
    "\n"
    "  A clip without the files --modality needs, a file found twice (the same name\n"
    "  under two roots), an unreadable folder and a root without corpus files are\n"
    "  faults: the tool prints one line per fault (at most 20), writes nothing and\n"
    "  exits 1; with --keep-going it indexes the other clips, lists every fault in the\n"
    "  failures CSV (id,path,reason) and exits 3.  Clips left out on purpose (--vocal,\n"
    "  --calm drop) are counted on stderr, not faults.  Nothing is written until the\n"
    "  whole index is built; files are written atomically.  The walk is one readdir\n"
    "  per folder, so there are no worker threads; to split the work, give --shard to\n"
    "  the tools that read index.csv.\n"
    "\n"
    "OPTIONS\n"
    "  -o, --output FILE    write index.csv to FILE; '-' = stdout (default: stdout)\n"
    "      --modality M     files each clip needs (corpus.modality, default av):\n"
    "                         av     full-AV mp4 (01) and wav (03)\n"
    "                         audio  the wav, else the full-AV mp4's own audio\n"
    "                         video  the full-AV mp4, else the video-only mp4 (02)\n"
    "      --vocal V        speech | song | all (corpus.vocal, default speech)\n"
    "      --labels SET     seed7 | native8 (labels.set, default seed7):\n"
    "                         seed7   0 Angry 1 Disgust 2 Fear 3 Happy 4 Sad\n"
    "                                 5 Surprise 6 Neutral (the seed's order)\n"
    "                         native8 0 neutral 1 calm 2 happy 3 sad 4 angry\n"
    "                                 5 fearful 6 disgust 7 surprised\n"
    "      --calm C         seed7's calm clips: neutral (label Neutral) | drop\n"
    "                       (labels.calm, default neutral)\n"
    "      --val-actors LIST\n"
    "                       actors of the val split, e.g. 3,8,13 (split.val_actors,\n"
    "                       default 3,8,13,18,23)\n"
    "      --test-actors LIST\n"
    "                       actors of the test split (split.test_actors, default\n"
    "                       4,9,14,19,24); all other actors are train\n"
    "      --folds K        deal actors into K >= 3 folds instead: actor a goes to\n"
    "                       fold (a-1) mod K (split.folds, default 0 = use the lists)\n"
    "      --fold I         fold I (0-based) is test, fold (I+1) mod K is val, the\n"
    "                       rest train (split.fold, default 0)\n"
    "      --absolute       write absolute paths (default: ROOT as given + below)\n"
    "  -k, --keep-going     index the clips without faults, list the faults in the\n"
    "                       failures CSV, exit 3\n"
    "      --failures FILE  failures CSV for --keep-going (default:\n"
    "                       INDEX.csv.failures.csv; stdout.failures.csv with -o -)\n"
    RVT_HELP_CONFIG RVT_HELP_STD
    "\n" RVT_HELP_EXIT
    "\n"
    "EXAMPLES\n"
    "  ravdess-index data/sample -o index.csv\n"
    "  ravdess-index ~/ravdess/audio ~/ravdess/video --vocal all -o all.csv\n"
    "  ravdess-index data/sample --folds 4 --fold 1 --labels native8 -o fold1.csv\n"
    "  ravdess-index -k data/sample -o index.csv   # faults -> index.csv.failures.csv\n";

enum {
    OPT_MODALITY = RVT_OPT_TOOL_BASE,
    OPT_VOCAL,
    OPT_LABELS,
    OPT_CALM,
    OPT_VAL_ACTORS,
    OPT_TEST_ACTORS,
    OPT_FOLDS,
    OPT_FOLD,
    OPT_ABSOLUTE,
};

static const struct option long_opts[] = {
    RVT_CLI_LONGOPTS,
    {"output", required_argument, NULL, 'o'},
    {"modality", required_argument, NULL, OPT_MODALITY},
    {"vocal", required_argument, NULL, OPT_VOCAL},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"calm", required_argument, NULL, OPT_CALM},
    {"val-actors", required_argument, NULL, OPT_VAL_ACTORS},
    {"test-actors", required_argument, NULL, OPT_TEST_ACTORS},
    {"folds", required_argument, NULL, OPT_FOLDS},
    {"fold", required_argument, NULL, OPT_FOLD},
    {"absolute", no_argument, NULL, OPT_ABSOLUTE},
    {NULL, 0, NULL, 0},
};

static void print_problem(const struct rvt_index_problem *p, bool warn)
{
    if (warn)
        rvt_warnf("'%s': %s", p->path, p->reason);
    else
        rvt_errorf("'%s': %s", p->path, p->reason);
}

int main(int argc, char **argv)
{
    struct rvt_cli cli;
    struct rvt_error err = {0};
    struct rvt_index idx;
    struct rvt_index_report rep;
    struct rvt_index_options o;
    struct rvt_failures fails;
    struct rvt_atomic out;
    const char *output = "-";
    bool absolute = false, built = false, have_fails = false;
    int c, ret = RVT_EXIT_OK, r;
    double t0;
    size_t i;

    memset(&idx, 0, sizeof(idx));
    memset(&rep, 0, sizeof(rep));
    memset(&fails, 0, sizeof(fails));
    memset(&out, 0, sizeof(out));
    rvt_cli_init(&cli, "ravdess-index", usage);
    rvt_cli_keys(&cli, "labels. corpus. split.");
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "o:", long_opts, NULL)) != -1) {
        const char *key = NULL;
        r = rvt_cli_handle(&cli, c, optarg);
        if (r == RVT_CLI_EXIT) {
            ret = cli.exit_code;
            goto done;
        }
        if (r == RVT_CLI_HANDLED)
            continue;
        switch (c) {
        case 'o': output = optarg; break;
        case OPT_MODALITY: key = "corpus.modality"; break;
        case OPT_VOCAL: key = "corpus.vocal"; break;
        case OPT_LABELS: key = "labels.set"; break;
        case OPT_CALM: key = "labels.calm"; break;
        case OPT_VAL_ACTORS: key = "split.val_actors"; break;
        case OPT_TEST_ACTORS: key = "split.test_actors"; break;
        case OPT_FOLDS: key = "split.folds"; break;
        case OPT_FOLD: key = "split.fold"; break;
        case OPT_ABSOLUTE: absolute = true; break;
        default:
            ret = rvt_cli_usage_error(&cli, "unhandled option");
            goto done;
        }
        if (key && rvt_cli_set(&cli, key, optarg) < 0) {
            ret = rvt_cli_usage_error(&cli, "too many options");
            goto done;
        }
    }
    if (rvt_cli_finish(&cli) == RVT_CLI_EXIT) {
        ret = cli.exit_code;
        goto done;
    }
    if (optind >= argc) {
        ret = rvt_cli_usage_error(&cli, "no corpus folder given");
        goto done;
    }
    if (!*output) {
        ret = rvt_cli_usage_error(&cli, "-o wants a file name or '-'");
        goto done;
    }
    if (cli.shard_n != 1) {
        ret = rvt_cli_usage_error(&cli, "--shard is not supported: shard the tools that read "
                                        "index.csv (they select by clip id)");
        goto done;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHS(output, cli.failures_path), RVT_PATHS(NULL)) == RVT_CLI_EXIT) {
        ret = cli.exit_code;
        goto done;
    }
    if (rvt_index_options_from_config(&o, cli.cfg, &err) < 0) {
        rvt_errorf("%s", err.msg);
        ret = RVT_EXIT_USAGE;
        goto done;
    }
    o.absolute_paths = absolute;
    o.index_path = output; /* relative roots are written relative to its folder */

    t0 = rvt_now();
    if (rvt_index_build(&idx, &rep, (const char *const *)argv + optind, argc - optind, &o,
                        &err) < 0) {
        rvt_errorf("%s", err.msg);
        ret = RVT_EXIT_FAILURE;
        goto done;
    }
    built = true;
    rvt_debugf("walked and paired %zu files in %.1f ms", rep.n_files, 1e3 * (rvt_now() - t0));

    if (rep.n_problems && !cli.keep_going) {
        for (i = 0; i < rep.n_problems && i < MAX_PRINTED; i++)
            print_problem(&rep.problems[i], false);
        if (rep.n_problems > MAX_PRINTED)
            rvt_errorf("%zu more faults (--keep-going lists them all in a failures CSV)",
                       rep.n_problems - MAX_PRINTED);
        ret = RVT_EXIT_FAILURE;
        goto done;
    }
    if (rep.n_problems) {
        if (rvt_failures_init(&fails, cli.failures_path, output, &err) < 0) {
            rvt_errorf("%s", err.msg);
            ret = RVT_EXIT_FAILURE;
            goto done;
        }
        have_fails = true;
        for (i = 0; i < rep.n_problems; i++) {
            const struct rvt_index_problem *p = &rep.problems[i];
            if (i < MAX_PRINTED)
                print_problem(p, true);
            if (rvt_failures_add(&fails, p->id, p->path, p->reason, &err) < 0) {
                rvt_errorf("%s", err.msg);
                ret = RVT_EXIT_FAILURE;
                goto done;
            }
        }
        if (rep.n_problems > MAX_PRINTED)
            rvt_warnf("%zu more faults", rep.n_problems - MAX_PRINTED);
        if (rvt_failures_close(&fails, &err) < 0) {
            rvt_errorf("%s", err.msg);
            ret = RVT_EXIT_FAILURE;
            goto done;
        }
        rvt_warnf("skipped %zu fault%s, listed in '%s'", rep.n_problems,
                  rep.n_problems == 1 ? "" : "s", fails.path);
    }

    rvt_index_log_summary(&idx, &rep, argc - optind, &o);
    if (idx.n == 0) {
        rvt_errorf("no clips to index%s", rep.n_vocal_left_out || rep.n_calm_dropped
                                              ? " (all were left out: see --vocal and --calm)"
                                              : "");
        ret = RVT_EXIT_FAILURE;
        goto done;
    }

    if (rvt_atomic_open(&out, output, &err) < 0 || (rvt_index_write(&idx, out.fp, &err) < 0 && rvt_error_prefix(&err, "'%s'", output) < 0) ||
        rvt_atomic_commit(&out, &err) < 0) {
        rvt_atomic_abort(&out);
        rvt_errorf("%s", err.msg);
        ret = RVT_EXIT_FAILURE;
        goto done;
    }
    ret = rep.n_problems ? RVT_EXIT_SKIPPED : RVT_EXIT_OK;

done:
    if (have_fails)
        rvt_failures_release(&fails);
    if (built) {
        rvt_index_release(&idx);
        rvt_index_report_release(&rep);
    }
    rvt_cli_release(&cli);
    return ret;
}
