/* extract-mel: index.csv (or audio files) -> log-mel features (mel.h5 or .npy). */
#include "core/common.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/npy.h"
#include "dsp/logmel.h"
#include "media/audio.h"
#include "run/runner.h"

static const char usage[] =
    "NAME\n"
    "  extract-mel - compute librosa-exact log-mel spectrograms of every clip\n"
    "\n"
    "SYNOPSIS\n"
    "  extract-mel [OPTIONS] INDEX.csv -o MEL.h5\n"
    "  extract-mel [OPTIONS] INDEX.csv --npy DIR\n"
    "  extract-mel [OPTIONS] --npy DIR FILE...\n"
    "\n"
    "DESCRIPTION\n"
    "  For every clip of INDEX.csv (its audio_path column: the wav, or the mp4 when the\n"
    "  clip has no wav) does what the seed (the reference article's Python code) does\n"
    "  with librosa 0.10:\n"
    "      y, _ = librosa.load(path, sr=16000)       libsndfile, or FFmpeg s16 for mp4;\n"
    "                                                mono = channel mean; soxr_hq\n"
    "      S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048,\n"
    "              hop_length=512, n_mels=64)        hann, centered, power 2, Slaney\n"
    "      db = librosa.power_to_db(S)               ref 1, amin 1e-10, top_db 80\n"
    "  and zero-pads on the right or crops db to 300 frames.  Every number is a config\n"
    "  key (audio.*, see --print-config and schemas/mel.md) recorded in the output.\n"
    "\n"
    "  -o MEL.h5 writes a feature store (kind \"mel\"): /clips/id, /mel float32\n"
    "  [N, n_mels, max_len], /mel_frames int32 [N] (frames of the clip before padding\n"
    "  or cropping, 1 + samples // hop), root attributes with every audio parameter,\n"
    "  the audio config text and the index sha256.  --npy DIR writes DIR/<id>.npy\n"
    "  (float32 [n_mels, max_len]) per clip, DIR/mel_frames.csv (id,mel_frames) and\n"
    "  DIR/mel_attrs.yaml (the same attributes).  Every file is written atomically;\n"
    "  after a failure without --keep-going nothing of this run is left.\n"
    "\n"
    "  With FILE arguments (any audio file libsndfile or FFmpeg reads) instead of an\n"
    "  index, each file is one clip whose id is its name without folder and extension.\n"
    "  A clip fails (one line naming the file and the reason) when its file is\n"
    "  missing, empty, not audio, truncated, in a format neither libsndfile nor FFmpeg\n"
    "  decodes, shorter than audio.min_samples at audio.sr, or longer than\n"
    "  audio.max_seconds.\n"
    "\n"
    "OPTIONS\n"
    "  -o, --output FILE    mel.h5 to write\n"
    "      --npy DIR        write DIR/<id>.npy files instead (DIR is created)\n"
    "      --dump-stages DIR\n"
    "                       also write every intermediate stage per clip as .npy:\n"
    "                       <id>.y.npy (signal at sr), <id>.stftpow.npy, <id>.mel.npy,\n"
    "                       <id>.db.npy, and window.npy, melfb.npy (for debugging)\n"
    "      --sr HZ          audio.sr, target sample rate (default 16000)\n"
    "      --n-fft N        audio.n_fft (default 2048)\n"
    "      --hop N          audio.hop (default 512)\n"
    "      --n-mels N       audio.n_mels (default 64)\n"
    "      --fmin HZ        audio.fmin (default 0)\n"
    "      --fmax HZ        audio.fmax (default 0 = sr / 2)\n"
    "      --top-db DB      audio.top_db (default 80; none = no floor)\n"
    "      --max-len N      audio.max_len, output frames (default 300)\n"
    "      --preemphasis C  audio.preemphasis (default 0 = off)\n"
    "      --noise-level L  audio.noise_level: add N(0,1) * L * max|y| (default 0 = off)\n"
    "      --noise-seed S   audio.noise_seed (default 0); the noise is seeded by it and\n"
    "                       the clip id, so output is deterministic\n"
    "      --fft PRECISION  audio.fft: double (default, librosa's arithmetic) | float\n"
    RVT_HELP_CONFIG RVT_HELP_JOBS RVT_HELP_CLIPS RVT_HELP_STD
    "\n" RVT_HELP_EXIT
    "\n"
    "EXAMPLES\n"
    "  extract-mel index.csv -o mel.h5 -j 8\n"
    "  extract-mel index.csv -o mel.h5 --shard 0/4 -k --failures bad.csv\n"
    "  extract-mel --set audio.n_mels=128 --npy out/ a.wav b.mp4\n";

enum {
    OPT_NPY = RVT_OPT_TOOL_BASE,
    OPT_DUMP,
    OPT_SR,
    OPT_NFFT,
    OPT_HOP,
    OPT_NMELS,
    OPT_FMIN,
    OPT_FMAX,
    OPT_TOPDB,
    OPT_MAXLEN,
    OPT_PREEMPH,
    OPT_NOISE,
    OPT_SEED,
    OPT_FFT,
};

static const struct option long_opts[] = {
    RVT_CLI_LONGOPTS,
    {"output", required_argument, NULL, 'o'},
    {"npy", required_argument, NULL, OPT_NPY},
    {"dump-stages", required_argument, NULL, OPT_DUMP},
    {"sr", required_argument, NULL, OPT_SR},
    {"n-fft", required_argument, NULL, OPT_NFFT},
    {"hop", required_argument, NULL, OPT_HOP},
    {"n-mels", required_argument, NULL, OPT_NMELS},
    {"fmin", required_argument, NULL, OPT_FMIN},
    {"fmax", required_argument, NULL, OPT_FMAX},
    {"top-db", required_argument, NULL, OPT_TOPDB},
    {"max-len", required_argument, NULL, OPT_MAXLEN},
    {"preemphasis", required_argument, NULL, OPT_PREEMPH},
    {"noise-level", required_argument, NULL, OPT_NOISE},
    {"noise-seed", required_argument, NULL, OPT_SEED},
    {"fft", required_argument, NULL, OPT_FFT},
    {NULL, 0, NULL, 0},
};

static const char *const opt_keys[] = {
    [OPT_SR - OPT_SR] = "audio.sr",           [OPT_NFFT - OPT_SR] = "audio.n_fft",
    [OPT_HOP - OPT_SR] = "audio.hop",         [OPT_NMELS - OPT_SR] = "audio.n_mels",
    [OPT_FMIN - OPT_SR] = "audio.fmin",       [OPT_FMAX - OPT_SR] = "audio.fmax",
    [OPT_TOPDB - OPT_SR] = "audio.top_db",    [OPT_MAXLEN - OPT_SR] = "audio.max_len",
    [OPT_PREEMPH - OPT_SR] = "audio.preemphasis", [OPT_NOISE - OPT_SR] = "audio.noise_level",
    [OPT_SEED - OPT_SR] = "audio.noise_seed", [OPT_FFT - OPT_SR] = "audio.fft",
};

struct app {
    struct rvt_cli cli;
    const char *out_path, *npy_dir, *dump_dir;
    struct rvt_run_list list;
    char *audio_cfg;              /* owned: canonical audio.* config text */
    char audio_cfg_sha256[65];
    struct rvt_logmel lm;
    struct rvt_logmel_worker *workers; /* owned, one per runner worker */
    int n_workers;
    struct rvt_run *run;
};

/* --dump-stages: DIR/<id>.<stage>.npy */
struct tap_ctx {
    const char *dir, *id;
};

static int dump_npy(const char *dir, const char *name, const char *ext, enum rvt_npy_dtype dt,
                    const void *data, size_t rows, size_t cols, int flags, struct rvt_error *err)
{
    size_t shape[2] = {rows, cols}, n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *path = malloc(n);
    int ret;
    if (!path)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    snprintf(path, n, "%s/%s%s", dir, name, ext);
    ret = rows == 1 ? rvt_npy_write(path, dt, data, 1, shape + 1, flags, err)
                    : rvt_npy_write(path, dt, data, 2, shape, flags, err);
    free(path);
    return ret;
}

static int tap_write(void *ctx, const char *stage, const float *data, size_t rows, size_t cols,
                     struct rvt_error *err)
{
    const struct tap_ctx *t = ctx;
    char ext[32];
    snprintf(ext, sizeof(ext), ".%s.npy", stage);
    return dump_npy(t->dir, t->id, ext, RVT_NPY_F4, data, rows, cols, RVT_NPY_NOSYNC, err);
}

static int dump_shared(struct app *app, struct rvt_error *err)
{
    const struct rvt_logmel *lm = &app->lm;
    struct stat st;
    int ret;
    if (mkdir(app->dump_dir, 0777) != 0 && !(stat(app->dump_dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return rvt_error_set(err, RVT_EIO, "cannot create folder '%s'", app->dump_dir);
    ret = dump_npy(app->dump_dir, "window", ".npy", RVT_NPY_F8, lm->window, 1, lm->p.n_fft,
                   RVT_NPY_NOSYNC, err);
    if (ret >= 0)
        ret = dump_npy(app->dump_dir, "melfb", ".npy", RVT_NPY_F4, lm->bank.weights,
                       lm->bank.n_mels, lm->bank.n_bins, RVT_NPY_NOSYNC, err);
    return ret;
}

static int put_attr(void *ctx, const char *key, const char *value, struct rvt_error *err)
{
    return rvt_run_set_attr(((struct app *)ctx)->run, key, value, err);
}

static int put_attrs(struct app *app, struct rvt_error *err)
{
    char shard[32];
    int ret;
    snprintf(shard, sizeof(shard), "%d/%d", app->cli.shard_i, app->cli.shard_n);
    if ((ret = put_attr(app, "tool_version", "extract-mel " RVT_VERSION, err)) < 0 ||
        (ret = put_attr(app, "index_sha256", app->list.sha256, err)) < 0 ||
        (ret = put_attr(app, "config_sha256", app->audio_cfg_sha256, err)) < 0 ||
        (ret = put_attr(app, "shard", shard, err)) < 0 ||
        (ret = rvt_logmel_params_each(&app->lm.p, put_attr, app, err)) < 0)
        return ret;
    return put_attr(app, "config", app->audio_cfg, err);
}

/* On a worker: one clip's log-mel into field 0, its frame count into field 1. */
static int process(void *ctx, struct rvt_run_item *it, struct rvt_error *err)
{
    struct app *app = ctx;
    const struct rvt_run_clip *c = it->clips;
    struct rvt_logmel_worker *w = &app->workers[it->worker];
    struct tap_ctx tc = {app->dump_dir, c->id};
    struct rvt_logmel_taps taps = {tap_write, &tc};
    int ret;

    if (!c->path[0])
        return rvt_error_set(err, RVT_EFORMAT, "clip %s has no audio_path", c->id);
    ret = rvt_logmel_file(&app->lm, w, c->path, c->id, it->data[0], it->data[1],
                          app->dump_dir ? &taps : NULL, err);
    for (size_t k = 0; ret >= 0 && k < (size_t)app->lm.p.n_mels * app->lm.p.max_len; k++)
        if (!isfinite(((const float *)it->data[0])[k]))
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s': log-mel value %zu is not finite", c->path, k);
    if (ret >= 0 && w->audio.bad_packets)
        rvt_warnf("'%s': %ld audio packets did not decode and were skipped (as ffmpeg does)",
                  c->path, w->audio.bad_packets);
    return ret;
}

/* Everything after the options: inputs, output, the run. */
static int extract(struct app *app, struct rvt_error *err)
{
    const struct rvt_logmel_params *p = &app->lm.p;
    struct rvt_run_opts ro = {"mel", app->cli.jobs, app->cli.shard_i, app->cli.shard_n,
                              app->cli.keep_going, app->cli.failures_path,
                              app->out_path ? app->out_path : app->npy_dir, 1};
    struct rvt_store_field fields[2] = {
        {"mel", RVT_DTYPE_F32, 2, {(uint64_t)p->n_mels, (uint64_t)p->max_len}},
        {"mel_frames", RVT_DTYPE_I32, 0, {0}},
    };
    struct rvt_run_tool tool = {app, process, NULL, NULL, NULL};
    struct rvt_store_writer *w;
    long level = RVT_STORE_DEFAULT_DEFLATE;
    int ret, i;

    if ((ret = rvt_run_new(&app->run, &ro, app->list.clips, app->list.n, err)) < 0 ||
        (app->dump_dir && (ret = dump_shared(app, err)) < 0) ||
        (ret = rvt_run_set_fields(app->run, fields, 2, err)) < 0)
        return ret;
    app->workers = calloc((size_t)rvt_run_workers(app->run), sizeof(*app->workers));
    if (!app->workers)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (i = 0; i < rvt_run_workers(app->run); i++, app->n_workers++)
        if ((ret = rvt_logmel_worker_init(&app->workers[i], &app->lm, err)) < 0)
            return ret;
    if (app->npy_dir) {
        ret = rvt_run_npy_create(app->run, app->npy_dir, "mel", err);
    } else {
        if (rvt_config_get(app->cli.cfg, "store.deflate") &&
            (ret = rvt_config_get_int(app->cli.cfg, "store.deflate", &level, err)) < 0)
            return ret;
        if ((ret = rvt_run_store_create(app->run, app->out_path, "mel", &w, err)) >= 0)
            ret = rvt_store_set_deflate(w, (int)level, err);
    }
    if (ret >= 0)
        ret = put_attrs(app, err);
    return ret < 0 ? ret : rvt_run_go(app->run, &tool, err);
}

int main(int argc, char **argv)
{
    struct app app;
    struct rvt_logmel_params params;
    struct rvt_error err = {0};
    int c, r, ret, exit_code = RVT_EXIT_OK;

    memset(&app, 0, sizeof(app));
    rvt_cli_init(&app.cli, "extract-mel", usage);
    rvt_cli_keys(&app.cli, "audio. store.");
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "o:", long_opts, NULL)) != -1) {
        r = rvt_cli_handle(&app.cli, c, optarg);
        if (r == RVT_CLI_EXIT) {
            exit_code = app.cli.exit_code;
            goto done;
        }
        if (r == RVT_CLI_HANDLED)
            continue;
        if (c == 'o') {
            app.out_path = optarg;
        } else if (c == OPT_NPY) {
            app.npy_dir = optarg;
        } else if (c == OPT_DUMP) {
            app.dump_dir = optarg;
        } else if (c >= OPT_SR && c <= OPT_FFT) {
            if (rvt_cli_set(&app.cli, opt_keys[c - OPT_SR], optarg) < 0) {
                exit_code = rvt_cli_usage_error(&app.cli, "too many options");
                goto done;
            }
        } else {
            exit_code = rvt_cli_usage_error(&app.cli, "unknown option");
            goto done;
        }
    }
    if (rvt_cli_finish(&app.cli) == RVT_CLI_EXIT) {
        exit_code = app.cli.exit_code;
        goto done;
    }
    rvt_audio_log_init(app.cli.log_level);
    if (optind >= argc) {
        exit_code = rvt_cli_usage_error(&app.cli, "no input: give INDEX.csv or audio files");
        goto done;
    }
    if (!app.out_path == !app.npy_dir) {
        exit_code = rvt_cli_usage_error(&app.cli, "give exactly one of -o FILE and --npy DIR");
        goto done;
    }
    if (rvt_cli_check_outputs(&app.cli, RVT_PATHS(app.out_path, app.cli.failures_path), RVT_PATHV(argc - optind, argv + optind)) == RVT_CLI_EXIT) {
        exit_code = app.cli.exit_code;
        goto done;
    }
    if (rvt_logmel_params_from_config(&params, app.cli.cfg, &err) < 0) {
        rvt_errorf("%s", err.msg);
        exit_code = RVT_EXIT_USAGE;
        goto done;
    }
    if (!(app.audio_cfg = rvt_config_dump_prefix(app.cli.cfg, "audio."))) {
        rvt_errorf("out of memory");
        exit_code = RVT_EXIT_FAILURE;
        goto done;
    }
    rvt_sha256_hex(app.audio_cfg, strlen(app.audio_cfg), app.audio_cfg_sha256);
    c = (int)strlen(argv[optind]);
    if (optind == argc - 1 && (!strcmp(argv[optind], "-") ||
                               (c > 4 && !strcmp(argv[optind] + c - 4, ".csv"))))
        ret = rvt_run_list_index(&app.list, argv[optind], RVT_RUN_AUDIO, &err);
    else
        ret = rvt_run_list_files(&app.list, argv + optind, (size_t)(argc - optind), &err);
    if (ret < 0) {
        rvt_errorf("%s", err.msg);
        exit_code = ret == RVT_EINVAL ? RVT_EXIT_USAGE : RVT_EXIT_FAILURE;
        goto done;
    }
    if ((ret = rvt_logmel_init(&app.lm, &params, &err)) < 0 || (ret = extract(&app, &err)) < 0) {
        rvt_errorf("%s", err.msg);
        exit_code = RVT_EXIT_FAILURE;
        goto done;
    }
    exit_code = rvt_run_report(app.run);
done:
    rvt_run_free(&app.run);
    for (c = 0; c < app.n_workers; c++)
        rvt_logmel_worker_release(&app.workers[c]);
    free(app.workers);
    rvt_logmel_release(&app.lm);
    rvt_run_list_release(&app.list);
    free(app.audio_cfg);
    rvt_cli_release(&app.cli);
    return exit_code;
}
