/* mel.c: extract-mel's body (mel.h). */
#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/npy.h"
#include "run/mel.h"

struct app {
    const struct rvt_mel_job *job;
    const struct rvt_run_opts *ro;
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
    const char *dir = app->job->dump_dir;
    struct stat st;
    int ret;
    if (mkdir(dir, 0777) != 0 && !(stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return rvt_error_set(err, RVT_EIO, "cannot create folder '%s'", dir);
    ret = dump_npy(dir, "window", ".npy", RVT_NPY_F8, lm->window, 1, lm->p.n_fft,
                   RVT_NPY_NOSYNC, err);
    if (ret >= 0)
        ret = dump_npy(dir, "melfb", ".npy", RVT_NPY_F4, lm->bank.weights, lm->bank.n_mels,
                       lm->bank.n_bins, RVT_NPY_NOSYNC, err);
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
    snprintf(shard, sizeof(shard), "%d/%d", app->ro->shard_i, app->ro->shard_n);
    if ((ret = put_attr(app, "tool_version", "extract-mel " RVT_VERSION, err)) < 0 ||
        (ret = put_attr(app, "index_sha256", app->job->clips->sha256, err)) < 0 ||
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
    struct tap_ctx tc = {app->job->dump_dir, c->id};
    struct rvt_logmel_taps taps = {tap_write, &tc};
    int ret;

    if (!c->path[0])
        return rvt_error_set(err, RVT_EFORMAT, "clip %s has no audio_path", c->id);
    ret = rvt_logmel_file(&app->lm, w, c->path, c->id, it->data[0], it->data[1],
                          app->job->dump_dir ? &taps : NULL, err);
    for (size_t k = 0; ret >= 0 && k < (size_t)app->lm.p.n_mels * app->lm.p.max_len; k++)
        if (!isfinite(((const float *)it->data[0])[k]))
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s': log-mel value %zu is not finite", c->path, k);
    if (ret >= 0 && w->audio.bad_packets)
        rvt_warnf("'%s': %ld audio packets did not decode and were skipped (as ffmpeg does)",
                  c->path, w->audio.bad_packets);
    return ret;
}

/* The output, the workers, the run. */
static int extract(struct app *app, struct rvt_error *err)
{
    const struct rvt_mel_job *job = app->job;
    const struct rvt_logmel_params *p = &app->lm.p;
    struct rvt_run_opts ro = *app->ro;
    struct rvt_store_field fields[2] = {
        {"mel", RVT_DTYPE_F32, 2, {(uint64_t)p->n_mels, (uint64_t)p->max_len}},
        {"mel_frames", RVT_DTYPE_I32, 0, {0}},
    };
    struct rvt_run_tool tool = {app, process, NULL, NULL, NULL};
    struct rvt_store_writer *w;
    long level = RVT_STORE_DEFAULT_DEFLATE;
    int ret, i;

    ro.output_path = job->out_path ? job->out_path : job->npy_dir;
    if ((ret = rvt_run_new(&app->run, &ro, job->clips->clips, job->clips->n, err)) < 0 ||
        (job->dump_dir && (ret = dump_shared(app, err)) < 0) ||
        (ret = rvt_run_set_fields(app->run, fields, 2, err)) < 0)
        return ret;
    app->workers = calloc((size_t)rvt_run_workers(app->run), sizeof(*app->workers));
    if (!app->workers)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (i = 0; i < rvt_run_workers(app->run); i++, app->n_workers++)
        if ((ret = rvt_logmel_worker_init(&app->workers[i], &app->lm, err)) < 0)
            return ret;
    if (job->npy_dir) {
        ret = rvt_run_npy_create(app->run, job->npy_dir, "mel", err);
    } else {
        if (rvt_config_get(job->cfg, "store.deflate") &&
            (ret = rvt_config_get_int(job->cfg, "store.deflate", &level, err)) < 0)
            return ret;
        if ((ret = rvt_run_store_create(app->run, job->out_path, "mel", &w, err)) >= 0)
            ret = rvt_store_set_deflate(w, (int)level, err);
    }
    if (ret >= 0)
        ret = put_attrs(app, err);
    return ret < 0 ? ret : rvt_run_go(app->run, &tool, err);
}

int rvt_run_mel(const struct rvt_mel_job *job, const struct rvt_run_opts *ro,
                struct rvt_run **run, struct rvt_error *err)
{
    struct app app;
    int ret, i;

    memset(&app, 0, sizeof(app));
    app.job = job;
    app.ro = ro;
    if (!(app.audio_cfg = rvt_config_dump_prefix(job->cfg, "audio.")))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    rvt_sha256_hex(app.audio_cfg, strlen(app.audio_cfg), app.audio_cfg_sha256);
    if ((ret = rvt_logmel_init(&app.lm, job->params, err)) >= 0)
        ret = extract(&app, err);
    *run = app.run;
    for (i = 0; i < app.n_workers; i++)
        rvt_logmel_worker_release(&app.workers[i]);
    free(app.workers);
    rvt_logmel_release(&app.lm);
    free(app.audio_cfg);
    return ret;
}
