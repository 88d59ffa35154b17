/* extract-mel: index.csv (or audio files) -> log-mel features (mel.h5 or .npy). */
#include "core/common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/cli.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/pool.h"
#include "dsp/logmel.h"
#include "media/audio.h"
#include "ravdess/index.h"
#include "store/store.h"

static const char usage[] =
    "Usage: extract-mel [OPTIONS] INDEX.csv -o MEL.h5\n"
    "       extract-mel [OPTIONS] INDEX.csv --npy DIR\n"
    "       extract-mel [OPTIONS] --npy DIR FILE...\n"
    "\n"
    "Computes librosa-exact log-mel spectrograms: for every clip of INDEX.csv (its\n"
    "audio_path column: the wav, or the mp4 when the clip has no wav) it does what\n"
    "the seed does with librosa 0.10:\n"
    "  y, _ = librosa.load(path, sr=16000)          libsndfile, or FFmpeg s16 for mp4;\n"
    "                                                mono = channel mean; libsoxr soxr_hq\n"
    "  S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=512,\n"
    "                                     n_mels=64)  hann, centered, power 2, Slaney\n"
    "  db = librosa.power_to_db(S)                  ref 1, amin 1e-10, top_db 80\n"
    "and zero-pads on the right or crops db to 300 frames.  Every number is a config\n"
    "key (audio.*, see --print-config and schemas/mel.md) and is recorded in the output.\n"
    "\n"
    "Output: -o MEL.h5, a feature store (kind \"mel\"): /clips/id, /mel float32\n"
    "[N, n_mels, max_len], /mel_frames int32 [N] (frames of the clip before padding or\n"
    "cropping, 1 + samples // hop), root attributes with every audio parameter, the\n"
    "audio config text and the index sha256.  Or --npy DIR: DIR/<id>.npy (float32\n"
    "[n_mels, max_len]) per clip, DIR/mel_frames.csv (id,mel_frames) and\n"
    "DIR/mel_attrs.yaml (the same attributes).  Every file is written atomically;\n"
    "after a failure without --keep-going nothing of this run is left.\n"
    "\n"
    "With FILE arguments (any audio file libsndfile or FFmpeg reads) instead of an\n"
    "index, each file is one clip whose id is its name without directory and\n"
    "extension; handy for debugging.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE      mel.h5 to write\n"
    "      --npy DIR          write DIR/<id>.npy files instead (DIR is created)\n"
    "      --dump-stages DIR  also write every intermediate stage per clip as .npy:\n"
    "                         <id>.y.npy (signal at sr), <id>.stftpow.npy, <id>.mel.npy,\n"
    "                         <id>.db.npy, and window.npy, melfb.npy (for debugging)\n"
    "      --sr HZ            audio.sr, target sample rate (default 16000)\n"
    "      --n-fft N          audio.n_fft (default 2048)\n"
    "      --hop N            audio.hop (default 512)\n"
    "      --n-mels N         audio.n_mels (default 64)\n"
    "      --fmin HZ          audio.fmin (default 0)\n"
    "      --fmax HZ          audio.fmax (default 0 = sr / 2)\n"
    "      --top-db DB        audio.top_db (default 80; none = no floor)\n"
    "      --max-len N        audio.max_len, output frames (default 300)\n"
    "      --preemphasis C    audio.preemphasis (default 0 = off)\n"
    "      --noise-level L    audio.noise_level: add N(0,1) * L * max|y| (default 0 = off)\n"
    "      --noise-seed S     audio.noise_seed (default 0); the noise is seeded by it\n"
    "                         and the clip id, so output is deterministic\n"
    "      --fft PRECISION    audio.fft: double (default, librosa's arithmetic) | float\n"
    "\n" RVT_CLI_HELP
    "\n"
    "A clip fails (one line naming the file and the reason) when its file is missing,\n"
    "empty, not audio, truncated, in a format neither libsndfile nor FFmpeg decodes,\n"
    "shorter than audio.min_samples at audio.sr, or longer than audio.max_seconds.\n"
    "\n"
    "Examples:\n"
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

struct job {
    const char *id;   /* not owned */
    const char *path; /* not owned */
};

struct slot {
    float *mel;       /* n_mels * max_len */
    int32_t frames;
    struct rvt_store_chunk chunk; /* mel after the store's filters (mel.h5 only) */
};

struct app {
    struct rvt_cli cli;
    const char *out_path, *npy_dir, *dump_dir;
    struct rvt_index idx;
    char **file_ids;              /* owned, files mode: n_file_ids of them */
    size_t n_file_ids;
    struct job *jobs;             /* owned */
    size_t n_jobs;
    char index_sha256[65];
    char *audio_cfg;              /* owned: canonical audio.* config text */
    char audio_cfg_sha256[65];
    struct rvt_logmel lm;
    struct rvt_logmel_worker *workers; /* owned, one per thread */
    int n_workers;
    struct rvt_failures failures;
    struct rvt_progress progress;
    size_t n_done, n_emitted;
    struct rvt_store_writer *store;
    struct rvt_store_field mel_field; /* for rvt_store_encode */
    int deflate;                  /* store.deflate */
    void **enc_scratch;           /* owned, per worker: rvt_store_encode scratch */
    struct rvt_atomic frames_csv; /* --npy: DIR/mel_frames.csv */
    bool frames_csv_open;
};

/* ---- .npy files ---- */

/*
 * Writes a little-endian .npy (format 1.0) atomically: dtype "<f4" or "<f8".
 * Without fsync: one per clip would dominate the run; close_output syncs the
 * folder once before it publishes mel_frames.csv.
 */
static int npy_write(const char *path, const char *descr, const void *data, size_t elem,
                     size_t rows, size_t cols, bool one_d, struct rvt_error *err)
{
    struct rvt_atomic a;
    char hdr[256];
    size_t len, total;
    int n, ret;

    if (one_d)
        n = snprintf(hdr + 10, sizeof(hdr) - 10,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr, cols);
    else
        n = snprintf(hdr + 10, sizeof(hdr) - 10,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }", descr, rows,
                     cols);
    len = (size_t)n;
    total = (10 + len + 1 + 63) / 64 * 64; /* header padded to 64 bytes, ends in \n */
    memset(hdr + 10 + len, ' ', total - 10 - len - 1);
    hdr[total - 1] = '\n';
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)((total - 10) & 0xff);
    hdr[9] = (char)((total - 10) >> 8);
    ret = rvt_atomic_open(&a, path, err);
    if (ret < 0)
        return ret;
    if (fwrite(hdr, 1, total, a.fp) != total ||
        fwrite(data, elem, rows * cols, a.fp) != rows * cols) {
        ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", path, strerror(errno));
        rvt_atomic_abort(&a);
        return ret;
    }
    return rvt_atomic_commit_nosync(&a, err);
}

static char *path_join(const char *dir, const char *name, const char *ext)
{
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s", dir, name, ext);
    return p;
}

struct tap_ctx {
    const char *dir, *id;
};

static int tap_write(void *ctx, const char *stage, const float *data, size_t rows, size_t cols,
                     struct rvt_error *err)
{
    const struct tap_ctx *t = ctx;
    char ext[32];
    char *path;
    int ret;
    snprintf(ext, sizeof(ext), ".%s.npy", stage);
    path = path_join(t->dir, t->id, ext);
    if (!path)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    ret = npy_write(path, "<f4", data, sizeof(float), rows, cols, rows == 1, err);
    free(path);
    return ret;
}

static int make_dir(const char *dir, struct rvt_error *err)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    return rvt_error_set(err, RVT_EIO, "cannot create folder '%s': %s", dir,
                         errno == EEXIST ? "Not a directory" : strerror(errno));
}

/* ---- attributes ---- */

struct attr_sink {
    struct app *app;
    FILE *yaml; /* --npy */
};

static int put_attr(void *ctx, const char *key, const char *value, struct rvt_error *err)
{
    struct attr_sink *s = ctx;
    if (s->yaml) {
        fprintf(s->yaml, "%s: %s\n", key, value);
        return 0;
    }
    return rvt_store_set_attr(s->app->store, key, value, err);
}

static int put_common_attrs(struct app *app, struct attr_sink *sink, struct rvt_error *err)
{
    char shard[32];
    int ret;
    snprintf(shard, sizeof(shard), "%d/%d", app->cli.shard_i, app->cli.shard_n);
    if ((ret = put_attr(sink, "tool_version", "extract-mel " RVT_VERSION, err)) < 0 ||
        (ret = put_attr(sink, "index_sha256", app->index_sha256, err)) < 0 ||
        (ret = put_attr(sink, "config_sha256", app->audio_cfg_sha256, err)) < 0 ||
        (ret = put_attr(sink, "shard", shard, err)) < 0)
        return ret;
    ret = rvt_logmel_params_each(&app->lm.p, put_attr, sink, err);
    if (ret < 0)
        return ret;
    if (sink->yaml) {
        const char *p = app->audio_cfg, *nl;
        fputs("config: |\n", sink->yaml);
        while (*p) {
            nl = strchr(p, '\n');
            if (!nl)
                nl = p + strlen(p);
            fprintf(sink->yaml, "  %.*s\n", (int)(nl - p), p);
            p = *nl ? nl + 1 : nl;
        }
        return 0;
    }
    return put_attr(sink, "config", app->audio_cfg, err);
}

static int write_npy_attrs(struct app *app, struct rvt_error *err)
{
    struct rvt_atomic a;
    struct attr_sink sink = {app, NULL};
    char *path = path_join(app->npy_dir, "mel_attrs", ".yaml");
    int ret;
    if (!path)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    ret = rvt_atomic_open(&a, path, err);
    free(path);
    if (ret < 0)
        return ret;
    sink.yaml = a.fp;
    fputs("# extract-mel attributes (those of mel.h5's root)\n", a.fp);
    fprintf(a.fp, "kind: mel\n");
    ret = put_common_attrs(app, &sink, err);
    if (ret < 0) {
        rvt_atomic_abort(&a);
        return ret;
    }
    return rvt_atomic_commit(&a, err);
}

/* ---- the parallel map ---- */

static int work(void *ctx, size_t i, void *slotp, int worker, struct rvt_error *err)
{
    struct app *app = ctx;
    struct slot *slot = slotp;
    const struct job *j = &app->jobs[i];
    struct tap_ctx tc = {app->dump_dir, j->id};
    struct rvt_logmel_taps taps = {tap_write, &tc};
    int ret;

    slot->frames = 0;
    if (!j->path || !j->path[0])
        return rvt_error_set(err, RVT_EFORMAT, "clip %s has no audio_path", j->id);
    ret = rvt_logmel_file(&app->lm, &app->workers[worker], j->path, j->id, slot->mel,
                          &slot->frames, app->dump_dir ? &taps : NULL, err);
    if (ret >= 0 && app->workers[worker].audio.bad_packets)
        rvt_warnf("'%s': %ld audio packets did not decode and were skipped (as ffmpeg does)",
                  j->path, app->workers[worker].audio.bad_packets);
    /* compress here, in parallel; the emitting thread only writes the chunk */
    if (ret >= 0 && app->store)
        ret = rvt_store_encode(&app->mel_field, app->deflate, slot->mel,
                               app->enc_scratch[worker], &slot->chunk, err);
    return ret;
}

static int emit_npy(struct app *app, const struct job *j, const struct slot *slot,
                    struct rvt_error *err)
{
    const struct rvt_logmel_params *p = &app->lm.p;
    char *path = path_join(app->npy_dir, j->id, ".npy");
    int ret;
    if (!path)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    ret = npy_write(path, "<f4", slot->mel, sizeof(float), p->n_mels, p->max_len, false, err);
    free(path);
    if (ret < 0)
        return ret;
    fprintf(app->frames_csv.fp, "%s,%d\n", j->id, (int)slot->frames);
    return 0;
}

static int emit(void *ctx, size_t i, void *slotp, int status, struct rvt_error *err)
{
    struct app *app = ctx;
    struct slot *slot = slotp;
    const struct job *j = &app->jobs[i];
    int ret = 0;

    app->n_emitted = i + 1;
    if (status < 0) {
        if (!app->cli.keep_going)
            return status; /* err holds the clip's message */
        rvt_warnf("skipped %s: %s", j->id, err->msg);
        ret = rvt_failures_add(&app->failures, j->id, j->path, err->msg, err);
        if (ret < 0)
            return ret;
    } else {
        if (app->npy_dir) {
            ret = emit_npy(app, j, slot, err);
        } else {
            const void *data[2] = {slot->mel, &slot->frames};
            const struct rvt_store_chunk *enc[2] = {&slot->chunk, NULL};
            ret = rvt_store_append_encoded(app->store, j->id, data, enc, err);
        }
        if (ret < 0)
            return ret;
        app->n_done++;
    }
    rvt_progress_update(&app->progress, i + 1);
    return 0;
}

/* ---- setup ---- */

static const char *file_stem(const char *path, char *buf, size_t n)
{
    const char *base = strrchr(path, '/'), *dot;
    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    snprintf(buf, n, "%.*s", (int)(dot && dot != base ? (size_t)(dot - base) : strlen(base)), base);
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_inputs(struct app *app, int argc, char **argv, struct rvt_error *err)
{
    size_t i, n;
    const char *first = argv[0];
    size_t len = strlen(first);
    bool is_index = argc == 1 && (!strcmp(first, "-") ||
                                  (len > 4 && !strcmp(first + len - 4, ".csv")));

    if (is_index) {
        int ret = rvt_index_load(&app->idx, first, err);
        if (ret < 0)
            return ret;
        memcpy(app->index_sha256, app->idx.sha256, sizeof(app->index_sha256));
        app->jobs = calloc(app->idx.n ? app->idx.n : 1, sizeof(*app->jobs));
        if (!app->jobs)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        for (i = n = 0; i < app->idx.n; i++) {
            const struct rvt_clip *c = &app->idx.clips[i];
            if (app->cli.shard_n > 1 && rvt_shard_of(c->id, app->cli.shard_n) != app->cli.shard_i)
                continue;
            app->jobs[n].id = c->id;
            app->jobs[n].path = c->audio_path;
            n++;
        }
        app->n_jobs = n;
        return 0;
    }

    /* audio files: id = file name without folder and extension */
    app->file_ids = calloc(argc, sizeof(char *));
    app->n_file_ids = (size_t)argc;
    app->jobs = calloc(argc, sizeof(*app->jobs));
    if (!app->file_ids || !app->jobs)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    {
        /* the "index" hash of a file list: sha256 of its paths, one per line */
        size_t total = 1, off = 0;
        char *all;
        for (i = 0; i < (size_t)argc; i++)
            total += strlen(argv[i]) + 1;
        all = malloc(total);
        if (!all)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        for (i = 0; i < (size_t)argc; i++)
            off += (size_t)sprintf(all + off, "%s\n", argv[i]);
        rvt_sha256_hex(all, off, app->index_sha256);
        free(all);
    }
    for (i = n = 0; i < (size_t)argc; i++) {
        char stem[PATH_MAX];
        file_stem(argv[i], stem, sizeof(stem));
        if (!stem[0])
            return rvt_error_set(err, RVT_EINVAL, "'%s': cannot make a clip id from this name",
                                 argv[i]);
        if (app->cli.shard_n > 1 && rvt_shard_of(stem, app->cli.shard_n) != app->cli.shard_i)
            continue;
        app->file_ids[n] = strdup(stem);
        if (!app->file_ids[n])
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        app->jobs[n].id = app->file_ids[n];
        app->jobs[n].path = argv[i];
        n++;
    }
    app->n_jobs = n;
    {
        char **sorted = malloc((n ? n : 1) * sizeof(char *));
        int ret = 0;
        if (!sorted)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        memcpy(sorted, app->file_ids, n * sizeof(char *));
        qsort(sorted, n, sizeof(char *), cmp_str);
        for (i = 1; i < n; i++)
            if (!strcmp(sorted[i - 1], sorted[i])) {
                ret = rvt_error_set(err, RVT_EINVAL, "two input files give the clip id '%s'",
                                    sorted[i]);
                break;
            }
        free(sorted);
        return ret;
    }
}

/* Removes this run's .npy files after a fatal error, so no partial output stays. */
static void npy_cleanup(struct app *app)
{
    size_t i;
    for (i = 0; i < app->n_emitted && i < app->n_jobs; i++) {
        char *path = path_join(app->npy_dir, app->jobs[i].id, ".npy");
        if (path)
            unlink(path);
        free(path);
    }
}

static int open_output(struct app *app, struct rvt_error *err)
{
    int ret = 0;
    if (app->npy_dir) {
        char *path;
        if ((ret = make_dir(app->npy_dir, err)) < 0)
            return ret;
        path = path_join(app->npy_dir, "mel_frames", ".csv");
        if (!path)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        ret = rvt_atomic_open(&app->frames_csv, path, err);
        free(path);
        if (ret < 0)
            return ret;
        app->frames_csv_open = true;
        fputs("id,mel_frames\n", app->frames_csv.fp);
        return 0;
    }
    {
        const struct rvt_logmel_params *p = &app->lm.p;
        struct rvt_store_field fields[2] = {
            {"mel", RVT_DTYPE_F32, 2, {(uint64_t)p->n_mels, (uint64_t)p->max_len}},
            {"mel_frames", RVT_DTYPE_I32, 0, {0}},
        };
        struct attr_sink sink = {app, NULL};
        long level = RVT_STORE_DEFAULT_DEFLATE;
        if (rvt_config_get(app->cli.cfg, "store.deflate") &&
            (ret = rvt_config_get_int(app->cli.cfg, "store.deflate", &level, err)) < 0)
            return ret;
        app->mel_field = fields[0];
        app->deflate = (int)level;
        ret = rvt_store_create(&app->store, app->out_path, "mel", fields, 2, err);
        if (ret < 0)
            return ret;
        if ((ret = rvt_store_set_deflate(app->store, app->deflate, err)) < 0)
            return ret;
        return put_common_attrs(app, &sink, err);
    }
}

static int close_output(struct app *app, bool ok, struct rvt_error *err)
{
    int ret = 0;
    if (app->npy_dir) {
        if (ok) {
            /* make every .npy durable before the list of them appears */
            int dfd = open(app->npy_dir, O_RDONLY | O_DIRECTORY);
            if (dfd < 0 || syncfs(dfd) != 0)
                ret = rvt_error_set(err, RVT_EIO, "cannot sync '%s': %s", app->npy_dir,
                                    strerror(errno));
            if (dfd >= 0)
                close(dfd);
        }
        if (ok && ret >= 0) {
            ret = rvt_atomic_commit(&app->frames_csv, err);
            app->frames_csv_open = false;
            if (ret >= 0)
                ret = write_npy_attrs(app, err);
        }
        if (!ok || ret < 0) {
            if (app->frames_csv_open)
                rvt_atomic_abort(&app->frames_csv);
            app->frames_csv_open = false;
            npy_cleanup(app);
        }
        return ret;
    }
    if (app->store) {
        if (ok)
            ret = rvt_store_commit(app->store, err);
        else
            rvt_store_abort(app->store);
        rvt_store_free(&app->store);
    }
    return ret;
}

static int dump_shared(struct app *app, struct rvt_error *err)
{
    const struct rvt_logmel *lm = &app->lm;
    char *path;
    int ret;
    if ((ret = make_dir(app->dump_dir, err)) < 0)
        return ret;
    path = path_join(app->dump_dir, "window", ".npy");
    if (!path)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    ret = npy_write(path, "<f8", lm->window, sizeof(double), 1, lm->p.n_fft, true, err);
    free(path);
    if (ret < 0)
        return ret;
    path = path_join(app->dump_dir, "melfb", ".npy");
    if (!path)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    ret = npy_write(path, "<f4", lm->bank.weights, sizeof(float), lm->bank.n_mels,
                    lm->bank.n_bins, false, err);
    free(path);
    return ret;
}

static int run(struct app *app, struct rvt_error *err)
{
    const struct rvt_logmel_params *p = &app->lm.p;
    struct slot *slots = NULL;
    void **slot_ptrs = NULL;
    size_t window, i;
    int ret = 0, n_threads;

    n_threads = (int)RVT_MIN((size_t)app->cli.jobs, app->n_jobs ? app->n_jobs : 1);
    window = (size_t)n_threads * 2;
    app->workers = calloc(n_threads, sizeof(*app->workers));
    slots = calloc(window, sizeof(*slots));
    slot_ptrs = calloc(window, sizeof(*slot_ptrs));
    if (!app->workers || !slots || !slot_ptrs) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < (size_t)n_threads; i++) {
        ret = rvt_logmel_worker_init(&app->workers[i], &app->lm, err);
        app->n_workers = (int)i + 1;
        if (ret < 0)
            goto done;
    }
    if (app->store) {
        app->enc_scratch = calloc(n_threads, sizeof(void *));
        if (!app->enc_scratch) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        for (i = 0; i < (size_t)n_threads; i++) {
            app->enc_scratch[i] = malloc(rvt_store_encode_scratch(&app->mel_field));
            if (!app->enc_scratch[i]) {
                ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
                goto done;
            }
        }
    }
    for (i = 0; i < window; i++) {
        slots[i].mel = malloc((size_t)p->n_mels * p->max_len * sizeof(float));
        if (!slots[i].mel) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        slot_ptrs[i] = &slots[i];
    }
    rvt_progress_start(&app->progress, "mel", app->n_jobs);
    ret = rvt_pool_run(app->n_jobs, n_threads, slot_ptrs, window, work, emit, app, err);
    rvt_progress_end(&app->progress);
done:
    if (app->enc_scratch)
        for (i = 0; i < (size_t)n_threads; i++)
            free(app->enc_scratch[i]);
    free(app->enc_scratch);
    app->enc_scratch = NULL;
    if (slots)
        for (i = 0; i < window; i++) {
            free(slots[i].mel);
            rvt_store_chunk_release(&slots[i].chunk);
        }
    free(slots);
    free(slot_ptrs);
    return ret;
}

int main(int argc, char **argv)
{
    struct app app;
    struct rvt_logmel_params params;
    struct rvt_error err = {0};
    double t0 = rvt_now();
    int c, r, ret = 0, exit_code = RVT_EXIT_OK;
    bool output_open = false;

    memset(&app, 0, sizeof(app));
    rvt_cli_init(&app.cli, "extract-mel", usage);
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "o:", long_opts, NULL)) != -1) {
        r = rvt_cli_handle(&app.cli, c, optarg);
        if (r == RVT_CLI_EXIT) {
            exit_code = app.cli.exit_code;
            goto done;
        }
        if (r == RVT_CLI_HANDLED)
            continue;
        switch (c) {
        case 'o':
            app.out_path = optarg;
            break;
        case OPT_NPY:
            app.npy_dir = optarg;
            break;
        case OPT_DUMP:
            app.dump_dir = optarg;
            break;
        default:
            if (c >= OPT_SR && c <= OPT_FFT) {
                if (rvt_cli_set(&app.cli, opt_keys[c - OPT_SR], optarg) < 0) {
                    exit_code = rvt_cli_usage_error(&app.cli, "too many options");
                    goto done;
                }
                break;
            }
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
    app.audio_cfg = rvt_config_dump_prefix(app.cli.cfg, "audio.");
    if (!app.audio_cfg) {
        rvt_errorf("out of memory");
        exit_code = RVT_EXIT_FAILURE;
        goto done;
    }
    rvt_sha256_hex(app.audio_cfg, strlen(app.audio_cfg), app.audio_cfg_sha256);

    ret = load_inputs(&app, argc - optind, argv + optind, &err);
    if (ret < 0) {
        rvt_errorf("%s", err.msg);
        exit_code = ret == RVT_EINVAL ? RVT_EXIT_USAGE : RVT_EXIT_FAILURE;
        goto done;
    }
    if ((ret = rvt_logmel_init(&app.lm, &params, &err)) < 0 ||
        (ret = rvt_failures_init(&app.failures, app.cli.failures_path,
                                 app.out_path ? app.out_path : app.npy_dir, &err)) < 0 ||
        (app.dump_dir && (ret = dump_shared(&app, &err)) < 0)) {
        rvt_errorf("%s", err.msg);
        exit_code = RVT_EXIT_FAILURE;
        goto done;
    }
    ret = open_output(&app, &err);
    output_open = ret >= 0;
    if (ret >= 0)
        ret = run(&app, &err);
    if (ret >= 0)
        ret = rvt_failures_close(&app.failures, &err);
    if (output_open) {
        int r2 = close_output(&app, ret >= 0, &err);
        if (ret >= 0)
            ret = r2;
    }
    if (ret < 0) {
        rvt_errorf("%s", err.msg);
        exit_code = RVT_EXIT_FAILURE;
        goto done;
    }
    if (app.failures.count) {
        rvt_infof("%zu clips in %.1f s, %d skipped (listed in %s)", app.n_done, rvt_now() - t0,
                  app.failures.count, app.failures.path);
        exit_code = RVT_EXIT_SKIPPED;
    } else {
        rvt_infof("%zu clips in %.1f s", app.n_done, rvt_now() - t0);
    }
done:
    if (app.frames_csv_open)
        rvt_atomic_abort(&app.frames_csv);
    rvt_failures_release(&app.failures);
    for (c = 0; c < app.n_workers; c++)
        rvt_logmel_worker_release(&app.workers[c]);
    free(app.workers);
    rvt_logmel_release(&app.lm);
    free(app.jobs);
    if (app.file_ids)
        for (size_t k = 0; k < app.n_file_ids; k++)
            free(app.file_ids[k]);
    free(app.file_ids);
    free(app.audio_cfg);
    rvt_index_release(&app.idx);
    rvt_cli_release(&app.cli);
    return exit_code;
}
