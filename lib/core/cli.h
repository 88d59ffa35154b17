/*
 * cli.h: what every tool shares on its command line.
 *
 * Options every tool accepts (rvt_cli_handle parses them):
 *   -h, --help            usage text, exit 0
 *   -V, --version         versions of the tool, its libraries and kernels, exit 0
 *   -c, --config FILE     YAML config over the built-in default
 *       --set KEY=VALUE   set any config key (repeatable)
 *       --print-config    print the effective config and exit
 *   -j, --jobs N          worker threads (default: all cores)
 *   -q, --quiet           errors only;  -v, --verbose  debug messages
 *   -k, --keep-going      skip bad clips, list them in the failures CSV, exit 3
 *       --failures FILE   where --keep-going lists them (default: OUTPUT.failures.csv)
 *       --shard I/N       only clips with rvt_shard_of(id, N) == I (0-based)
 *
 * Usage in a tool:
 *   static const struct option opts[] = { RVT_CLI_LONGOPTS, {"n-mels", 1, 0, 'm'}, {0} };
 *   struct rvt_cli cli; rvt_cli_init(&cli, "extract-mel", usage_text);
 *   while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "m:", opts, NULL)) != -1) {
 *       int r = rvt_cli_handle(&cli, c, optarg);
 *       if (r == RVT_CLI_EXIT) return cli.exit_code;
 *       if (r == RVT_CLI_HANDLED) continue;
 *       switch (c) { case 'm': rvt_cli_set(&cli, "audio.n_mels", optarg); break; ... }
 *   }
 *   if (rvt_cli_finish(&cli) == RVT_CLI_EXIT) return cli.exit_code;  // loads the config
 *   ... cli.cfg ...
 *   rvt_cli_release(&cli);
 */
#ifndef RVT_CORE_CLI_H
#define RVT_CORE_CLI_H

#include <getopt.h>

#include "core/common.h"
#include "core/config.h"

enum {
    RVT_OPT_SET = 0x1000,
    RVT_OPT_PRINT_CONFIG,
    RVT_OPT_FAILURES,
    RVT_OPT_SHARD,
    RVT_OPT_TOOL_BASE = 0x1100, /* tools number their long-only options from here */
};

#define RVT_CLI_SHORTOPTS "hVc:j:qvk"
#define RVT_CLI_LONGOPTS \
    {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, \
    {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, RVT_OPT_SET}, \
    {"print-config", no_argument, NULL, RVT_OPT_PRINT_CONFIG}, \
    {"jobs", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'}, \
    {"verbose", no_argument, NULL, 'v'}, {"keep-going", no_argument, NULL, 'k'}, \
    {"failures", required_argument, NULL, RVT_OPT_FAILURES}, \
    {"shard", required_argument, NULL, RVT_OPT_SHARD}

/*
 * The help text of the shared options, in pieces, so that each tool's OPTIONS
 * section lists only the ones that apply to it:
 *   RVT_HELP_CONFIG  -c, --set, --print-config      (every tool that reads config keys)
 *   RVT_HELP_JOBS    -j                             (tools with worker threads)
 *   RVT_HELP_CLIPS   -k, --failures, --shard        (tools that go clip by clip)
 *   RVT_HELP_STD     -q, -v, -h, -V                 (every tool)
 *   RVT_HELP_EXIT    the EXIT STATUS section; RVT_HELP_EXIT_NOSKIP without status 3
 */
#define RVT_HELP_CONFIG \
    "  -c, --config FILE    YAML config applied over the built-in default (repeatable:\n" \
    "                       files apply in order)\n" \
    "      --set KEY=VALUE  set a config key (repeatable; see --print-config)\n" \
    "      --print-config   print the effective config and exit\n"
#define RVT_HELP_JOBS \
    "  -j, --jobs N         worker threads (default: number of cores)\n"
#define RVT_HELP_CLIPS \
    "  -k, --keep-going     skip bad clips, list them in the failures CSV, exit 3\n" \
    "      --failures FILE  failures CSV for --keep-going (default: OUTPUT.failures.csv)\n" \
    "      --shard I/N      process only shard I of N (0-based, stable by clip id)\n"
#define RVT_HELP_STD \
    "  -q, --quiet          print errors only\n" \
    "  -v, --verbose        print debug messages\n" \
    "  -h, --help           print this help and exit\n" \
    "  -V, --version        print versions of the tool, its libraries and kernels\n"
#define RVT_HELP_EXIT \
    "EXIT STATUS\n" \
    "  0 success, 1 runtime error, 2 usage error, 3 some clips skipped (--keep-going).\n"
#define RVT_HELP_EXIT_NOSKIP \
    "EXIT STATUS\n" \
    "  0 success, 1 runtime error, 2 usage error.\n"

enum { RVT_CLI_NOT_MINE = 0, RVT_CLI_HANDLED = 1, RVT_CLI_EXIT = 2 };

#define RVT_CLI_MAX_SETS 256
#define RVT_CLI_MAX_CONFIGS 16

struct rvt_cli {
    const char *program;
    const char *usage;       /* full --help text (not owned) */
    struct rvt_config *cfg;  /* owned; valid after rvt_cli_finish */
    const char *config_path; /* argv memory; the last --config */
    const char *configs[RVT_CLI_MAX_CONFIGS]; /* every --config, applied in order */
    int n_configs;
    const char *keys;        /* config key prefixes the tool reads (rvt_cli_keys) */
    bool keys_set;
    int jobs;                /* 0 = all cores until finish resolves it */
    int log_level;
    bool keep_going, print_config;
    const char *failures_path;
    int shard_i, shard_n;    /* 0 / 1 = everything */
    int exit_code;           /* when a call returns RVT_CLI_EXIT */
    const char *sets[RVT_CLI_MAX_SETS]; /* key=value, in command-line order */
    char *owned_sets[RVT_CLI_MAX_SETS];
    int n_sets;
};

void rvt_cli_init(struct rvt_cli *cli, const char *program, const char *usage);
int rvt_cli_handle(struct rvt_cli *cli, int opt, const char *arg);
/* Records KEY=VALUE as a config override (applied by rvt_cli_finish, in order). */
int rvt_cli_set(struct rvt_cli *cli, const char *key, const char *value);
int rvt_cli_finish(struct rvt_cli *cli);
/*
 * Declares the config key prefixes the tool reads, space-separated ("audio.
 * store."; "" = none).  rvt_cli_finish then refuses (exit 2) a --set of any other
 * key, since the tool would ignore it.  Config files may hold every key (one file
 * serves the whole chain).  Without this call every key is accepted.
 */
void rvt_cli_keys(struct rvt_cli *cli, const char *prefixes);
void rvt_cli_release(struct rvt_cli *cli);

/*
 * Refuses, before any work, an output that is one of the inputs (same file by
 * device and inode, or the same directory entry: "x", "./x", a symlink, a hard
 * link) or two outputs that are the same file: prints the usage error
 * "output 'o' is the input 'i'" and returns RVT_CLI_EXIT with exit_code 2; else
 * notes the inputs (inputs.h, so the atomic writer refuses them too) and returns
 * RVT_CLI_HANDLED.  NULL and "-" entries are skipped.  One line per tool:
 *   if (rvt_cli_check_outputs(&cli, RVT_PATHS(output, logits), RVT_PATHS(features, model))
 *       == RVT_CLI_EXIT) ...
 * RVT_PATHV(n, array) passes an array (e.g. argc - optind, argv + optind).
 */
#define RVT_PATHS(...) \
    (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), (const char *[]){__VA_ARGS__}
#define RVT_PATHV(n, array) (int)(n), (const char *const *)(array)
int rvt_cli_check_outputs(struct rvt_cli *cli, int n_out, const char *const *out, int n_in,
                          const char *const *in);

/* Prints "program: message" and the hint to --help; returns RVT_EXIT_USAGE. */
int rvt_cli_usage_error(const struct rvt_cli *cli, const char *fmt, ...) RVT_PRINTF(2, 3);
void rvt_cli_print_version(const char *program);

/* Parses strict decimal integers in [lo, hi]. */
int rvt_parse_long(const char *s, long lo, long hi, long *out);
/* Parses "I/N" with 0 <= I < N. */
int rvt_parse_shard(const char *s, int *i, int *n);

/*
 * failures CSV for --keep-going: "id,path,reason" rows, written atomically.
 * Opened lazily on the first failure, so a clean run leaves no file.
 */
struct rvt_failures {
    char *path;   /* owned */
    void *out;    /* struct rvt_atomic *, owned */
    int count;
};
int rvt_failures_init(struct rvt_failures *f, const char *path, const char *output_path,
                      struct rvt_error *err);
int rvt_failures_add(struct rvt_failures *f, const char *id, const char *file, const char *reason,
                     struct rvt_error *err);
int rvt_failures_close(struct rvt_failures *f, struct rvt_error *err);
void rvt_failures_release(struct rvt_failures *f);

#endif
