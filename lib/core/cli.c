#include "core/common.h"

#include <errno.h>
#include <csv.h>
#include <limits.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>

#include "core/atomic.h"
#include "core/cli.h"
#include "core/cpu.h"
#include "core/csvio.h"
#include "core/inputs.h"
#include "core/log.h"
#include "core/pool.h"

/*
 * Weak references: --version names the libraries a tool links, but must not by
 * itself pull every library into every tool (with -Wl,--as-needed a tool loads
 * only what it calls; FFmpeg alone drags in ~150 shared objects, 0.15 s a start).
 * A library the tool does not use resolves to NULL and is left out.
 */
#pragma weak av_version_info
#pragma weak avformat_version
#pragma weak avcodec_version
#pragma weak swscale_version
#pragma weak swresample_version
#pragma weak sf_version_string
#pragma weak soxr_version

/*
 * The same for the versions our upper layers report (lib/store: HDF5,
 * lib/media: libjpeg).  Declared here rather than included: core includes no
 * upper layer (docs/architecture.md), and a weak reference pulls nothing in.
 */
void rvt_store_hdf5_version(char *buf, size_t size); /* store/store.h */
const char *rvt_jpeg_version(void);                  /* media/jpeg.h */
#pragma weak rvt_store_hdf5_version
#pragma weak rvt_jpeg_version

void rvt_cli_init(struct rvt_cli *cli, const char *program, const char *usage)
{
    memset(cli, 0, sizeof(*cli));
    cli->program = program;
    cli->usage = usage;
    cli->log_level = RVT_LOG_INFO;
    cli->shard_n = 1;
    rvt_log_init(program);
}

int rvt_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int rvt_parse_shard(const char *s, int *i, int *n)
{
    const char *slash = strchr(s, '/');
    char a[32];
    long li, ln;
    if (!slash || (size_t)(slash - s) >= sizeof(a))
        return -1;
    memcpy(a, s, slash - s);
    a[slash - s] = '\0';
    if (rvt_parse_long(a, 0, INT_MAX, &li) < 0 || rvt_parse_long(slash + 1, 1, 1 << 20, &ln) < 0 ||
        li >= ln)
        return -1;
    *i = (int)li;
    *n = (int)ln;
    return 0;
}

int rvt_cli_usage_error(const struct rvt_cli *cli, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", cli->program, buf,
            cli->program);
    return RVT_EXIT_USAGE;
}

int rvt_cli_set(struct rvt_cli *cli, const char *key, const char *value)
{
    size_t n;
    char *s;
    if (cli->n_sets >= RVT_CLI_MAX_SETS)
        return -1;
    n = strlen(key) + strlen(value) + 2;
    s = malloc(n);
    if (!s)
        return -1;
    snprintf(s, n, "%s=%s", key, value);
    cli->owned_sets[cli->n_sets] = s;
    cli->sets[cli->n_sets++] = s;
    return 0;
}

int rvt_cli_handle(struct rvt_cli *cli, int opt, const char *arg)
{
    long v;
    switch (opt) {
    case 'h':
        fputs(cli->usage, stdout);
        cli->exit_code = RVT_EXIT_OK;
        return RVT_CLI_EXIT;
    case 'V':
        rvt_cli_print_version(cli->program);
        cli->exit_code = RVT_EXIT_OK;
        return RVT_CLI_EXIT;
    case 'c':
        if (cli->n_configs >= RVT_CLI_MAX_CONFIGS) {
            cli->exit_code = rvt_cli_usage_error(cli, "more than %d --config files", RVT_CLI_MAX_CONFIGS);
            return RVT_CLI_EXIT;
        }
        cli->config_path = arg;
        cli->configs[cli->n_configs++] = arg;
        return RVT_CLI_HANDLED;
    case RVT_OPT_SET:
        if (!strchr(arg, '=')) {
            cli->exit_code = rvt_cli_usage_error(cli, "--set wants KEY=VALUE, got '%s'", arg);
            return RVT_CLI_EXIT;
        }
        if (cli->n_sets >= RVT_CLI_MAX_SETS) {
            cli->exit_code = rvt_cli_usage_error(cli, "too many --set options");
            return RVT_CLI_EXIT;
        }
        cli->sets[cli->n_sets++] = arg;
        return RVT_CLI_HANDLED;
    case RVT_OPT_PRINT_CONFIG:
        cli->print_config = true;
        return RVT_CLI_HANDLED;
    case 'j':
        if (rvt_parse_long(arg, 1, 256, &v) < 0) {
            cli->exit_code = rvt_cli_usage_error(cli, "-j wants a thread count 1-256, got '%s'", arg);
            return RVT_CLI_EXIT;
        }
        cli->jobs = (int)v;
        return RVT_CLI_HANDLED;
    case 'q':
        cli->log_level = RVT_LOG_ERROR;
        return RVT_CLI_HANDLED;
    case 'v':
        cli->log_level = RVT_LOG_DEBUG;
        return RVT_CLI_HANDLED;
    case 'k':
        cli->keep_going = true;
        return RVT_CLI_HANDLED;
    case RVT_OPT_FAILURES:
        cli->failures_path = arg;
        return RVT_CLI_HANDLED;
    case RVT_OPT_SHARD:
        if (rvt_parse_shard(arg, &cli->shard_i, &cli->shard_n) < 0) {
            cli->exit_code = rvt_cli_usage_error(cli, "--shard wants I/N with 0 <= I < N, got '%s'", arg);
            return RVT_CLI_EXIT;
        }
        return RVT_CLI_HANDLED;
    case '?':
    case ':':
        /* getopt_long already said what was wrong */
        fprintf(stderr, "Try '%s --help' for more information.\n", cli->program);
        cli->exit_code = RVT_EXIT_USAGE;
        return RVT_CLI_EXIT;
    }
    return RVT_CLI_NOT_MINE;
}

void rvt_cli_keys(struct rvt_cli *cli, const char *prefixes)
{
    cli->keys = prefixes ? prefixes : "";
    cli->keys_set = true;
}

/* Does the tool read the key of "key=value" (rvt_cli_keys)? */
static bool key_read(const struct rvt_cli *cli, const char *assignment)
{
    const char *p = cli->keys;
    if (!cli->keys_set)
        return true;
    while (*p) {
        size_t n = strcspn(p, " ");
        if (n && !strncmp(assignment, p, n))
            return true;
        p += n;
        p += strspn(p, " ");
    }
    return false;
}

int rvt_cli_finish(struct rvt_cli *cli)
{
    struct rvt_error err = {0};
    int i;

    rvt_log_set_level(cli->log_level);
    if (cli->jobs <= 0)
        cli->jobs = rvt_cpu_count();
    if (rvt_config_new_default(&cli->cfg, &err) < 0)
        goto fail;
    for (i = 0; i < cli->n_configs; i++)
        if (rvt_config_load_file(cli->cfg, cli->configs[i], &err) < 0) {
            cli->exit_code = RVT_EXIT_USAGE;
            rvt_errorf("%s", err.msg);
            return RVT_CLI_EXIT;
        }
    for (i = 0; i < cli->n_sets; i++) {
        if (!key_read(cli, cli->sets[i])) {
            const char *eq = strchr(cli->sets[i], '=');
            if (!*cli->keys)
                cli->exit_code = rvt_cli_usage_error(cli, "--set '%.*s': %s reads no config keys",
                                                     (int)(eq - cli->sets[i]), cli->sets[i], cli->program);
            else
                cli->exit_code = rvt_cli_usage_error(cli, "--set '%.*s': %s reads only the keys under %s",
                                                     (int)(eq - cli->sets[i]), cli->sets[i], cli->program,
                                                     cli->keys);
            return RVT_CLI_EXIT;
        }
        if (rvt_config_assign(cli->cfg, cli->sets[i], &err) < 0) {
            cli->exit_code = RVT_EXIT_USAGE;
            rvt_errorf("%s", err.msg);
            return RVT_CLI_EXIT;
        }
    }
    if (cli->print_config) {
        char *text = rvt_config_dump(cli->cfg);
        if (!text) {
            rvt_error_set(&err, RVT_ENOMEM, "out of memory");
            goto fail;
        }
        fputs(text, stdout);
        free(text);
        cli->exit_code = RVT_EXIT_OK;
        return RVT_CLI_EXIT;
    }
    return RVT_CLI_HANDLED;
fail:
    rvt_errorf("%s", err.msg);
    cli->exit_code = RVT_EXIT_FAILURE;
    return RVT_CLI_EXIT;
}

int rvt_cli_check_outputs(struct rvt_cli *cli, int n_out, const char *const *out, int n_in,
                          const char *const *in)
{
    struct rvt_error err = {0};
    int i, j;

    for (i = 0; i < n_out; i++) {
        if (!out[i] || !strcmp(out[i], "-"))
            continue;
        for (j = 0; j < n_in; j++)
            if (in[j] && rvt_path_same(out[i], in[j])) {
                cli->exit_code = rvt_cli_usage_error(cli, "output '%s' is the input '%s'", out[i], in[j]);
                return RVT_CLI_EXIT;
            }
        for (j = 0; j < i; j++)
            if (out[j] && rvt_path_same(out[i], out[j])) {
                cli->exit_code = rvt_cli_usage_error(cli, "outputs '%s' and '%s' are the same file",
                                                     out[j], out[i]);
                return RVT_CLI_EXIT;
            }
    }
    for (j = 0; j < n_in; j++)
        if (in[j] && rvt_input_note(in[j], &err) < 0) {
            rvt_errorf("%s", err.msg);
            cli->exit_code = RVT_EXIT_FAILURE;
            return RVT_CLI_EXIT;
        }
    return RVT_CLI_HANDLED;
}

void rvt_cli_release(struct rvt_cli *cli)
{
    int i;
    for (i = 0; i < cli->n_sets; i++)
        free(cli->owned_sets[i]);
    rvt_config_free(&cli->cfg);
}

static void print_lav(const char *name, unsigned v)
{
    printf(" %s %u.%u.%u", name, v >> 16, (v >> 8) & 255, v & 255);
}

void rvt_cli_print_version(const char *program)
{
    const char *blas_env = getenv("OPENBLAS_CORETYPE");

    printf("%s (ravdess-tools) %s\n", program, RVT_VERSION);
    printf("FFmpeg %s:", av_version_info ? av_version_info() : "(libavutil)");
    if (avformat_version)
        print_lav("libavformat", avformat_version());
    if (avcodec_version)
        print_lav("libavcodec", avcodec_version());
    print_lav("libavutil", avutil_version());
    if (swscale_version)
        print_lav("libswscale", swscale_version());
    if (swresample_version)
        print_lav("libswresample", swresample_version());
    putchar('\n');
    if (rvt_store_hdf5_version) {
        char h5[48];
        rvt_store_hdf5_version(h5, sizeof(h5));
        printf("%s, ", h5);
    }
    if (sf_version_string)
        printf("%s, ", sf_version_string());
    if (soxr_version)
        printf("%s, ", soxr_version()); /* "libsoxr-0.1.3" */
    if (rvt_jpeg_version)
        printf("%s, ", rvt_jpeg_version());
    printf("libyaml %s, libcsv %d.%d.%d\n", yaml_get_version_string(), CSV_MAJOR, CSV_MINOR,
           CSV_RELEASE);
    if (rvt_blas_linked())
        printf("OpenBLAS: %s; sgemm kernels: %s%s\n", rvt_blas_config(), rvt_blas_corename(),
               getenv("RVT_BLAS_REEXEC") ? " (core type set by ravdess-tools)"
               : blas_env                ? " (OPENBLAS_CORETYPE from the environment)"
                                         : "");
    printf("int8 kernels: %s%s\n", rvt_isa_name(rvt_cpu_isa()),
           getenv("RVT_ISA") ? " (RVT_ISA from the environment)" : "");
}

int rvt_failures_init(struct rvt_failures *f, const char *path, const char *output_path,
                      struct rvt_error *err)
{
    memset(f, 0, sizeof(*f));
    if (path) {
        f->path = strdup(path);
    } else {
        const char *base = (output_path && strcmp(output_path, "-")) ? output_path : "stdout";
        size_t n = strlen(base) + 16;
        f->path = malloc(n);
        if (f->path)
            snprintf(f->path, n, "%s.failures.csv", base);
    }
    return f->path ? 0 : rvt_error_set(err, RVT_ENOMEM, "out of memory");
}

int rvt_failures_add(struct rvt_failures *f, const char *id, const char *file, const char *reason,
                     struct rvt_error *err)
{
    struct rvt_atomic *a = f->out;
    int ret;
    if (!a) {
        a = calloc(1, sizeof(*a));
        if (!a)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        ret = rvt_atomic_open(a, f->path, err);
        if (ret < 0) {
            free(a);
            return ret;
        }
        f->out = a;
        fputs("id,path,reason\n", a->fp);
    }
    rvt_csv_put(a->fp, id ? id : "");
    fputc(',', a->fp);
    rvt_csv_put(a->fp, file ? file : "");
    fputc(',', a->fp);
    rvt_csv_put(a->fp, reason);
    fputc('\n', a->fp);
    f->count++;
    return 0;
}

int rvt_failures_close(struct rvt_failures *f, struct rvt_error *err)
{
    int ret = 0;
    if (f->out) {
        ret = rvt_atomic_commit(f->out, err);
        free(f->out);
        f->out = NULL;
    }
    return ret;
}

void rvt_failures_release(struct rvt_failures *f)
{
    if (f->out) {
        rvt_atomic_abort(f->out);
        free(f->out);
    }
    free(f->path);
    memset(f, 0, sizeof(*f));
}
