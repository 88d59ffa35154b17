/* frames.c: extract-frames' body (frames.h). */
#include "core/common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "core/log.h"
#include "run/frames.h"
#include "store/recipe.h"

struct app {
    struct rvt_frames_opts o;
    struct rvt_video_reader **readers; /* owned, per runner worker */
    const char *ppm_dir;
};

/* On a worker: one clip's K frames (field 0) and their times (field 1). */
static int process(void *ctx, struct rvt_run_item *it, struct rvt_error *err)
{
    struct app *run = ctx;
    const struct rvt_run_clip *c = it->clips;
    const double *pts = it->data[1];
    int k, ret;

    if (!c->path[0])
        return rvt_error_set(err, RVT_EINVAL, "clip %s has no video_path in the index", c->id);
    ret = rvt_video_extract(run->readers[it->worker], c->path, it->data[0], it->data[1], NULL, err);
    /* schemas/numbers.md: frame times finite, and in order (but for times= as given) */
    for (k = 0; ret >= 0 && k < run->o.n_frames; k++)
        if (!isfinite(pts[k]) ||
            (k && pts[k] < pts[k - 1] && run->o.pick.mode != RVT_PICK_TIMES))
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s': frame %d has time %g s, %s", c->path, k,
                                pts[k], isfinite(pts[k]) ? "before the frame picked before it"
                                                         : "not a finite number");
    return ret;
}

static int write_ppm(const struct app *run, const char *id, const uint8_t *frames,
                     struct rvt_error *err)
{
    size_t bytes = (size_t)run->o.out_w * run->o.out_h * 3;
    char path[4096];
    int k;

    for (k = 0; k < run->o.n_frames; k++) {
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s_%d.ppm", run->ppm_dir, id, k);
        f = fopen(path, "wb");
        if (!f)
            return rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", path, strerror(errno));
        fprintf(f, "P6\n%d %d\n255\n", run->o.out_w, run->o.out_h);
        fwrite(frames + (size_t)k * bytes, 1, bytes, f);
        if (fclose(f) != 0)
            return rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", path, strerror(errno));
    }
    return 0;
}

static int write_clip(void *ctx, const struct rvt_run_clip *c, const void *const *data,
                      struct rvt_error *err)
{
    const struct app *run = ctx;
    return run->ppm_dir ? write_ppm(run, c->id, data[0], err) : 0;
}

static int set_attrs(struct rvt_store_writer *sw, const struct rvt_frames_job *job,
                     const struct rvt_run_opts *ro, struct rvt_error *err)
{
    int ret = rvt_store_set_provenance(sw, job->cfg, job->clips->sha256, ro->shard_i,
                                       ro->shard_n, err);
    if (ret >= 0)
        ret = rvt_store_set_attr(sw, "rgb_conversion", rvt_convert_describe(job->opts.convert),
                                 err);
    if (ret >= 0) { /* the frame recipe, one attribute a key (store/recipe.h) */
        struct rvt_recipe rc;
        rvt_recipe_init(&rc);
        if ((ret = rvt_recipe_from_config(&rc, job->cfg, err)) >= 0)
            ret = rvt_store_set_recipe(sw, &rc, err);
        rvt_recipe_release(&rc);
    }
    if (ret >= 0)
        ret = rvt_store_set_attr(sw, "resize", rvt_resize_describe(job->opts.resize), err);
    return ret;
}

int rvt_run_frames(struct rvt_frames_job *job, const struct rvt_run_opts *ro, const char *output,
                   struct rvt_run **run, struct rvt_error *err)
{
    struct app app = {job->opts, NULL, job->ppm_dir};
    struct rvt_store_writer *sw;
    struct rvt_store_field fields[2];
    struct rvt_run_tool tool = {&app, process, write_clip, NULL, NULL};
    struct rvt_run_opts o = *ro;
    int ret, n_workers = 0, w;

    o.output_path = output;
    if ((ret = rvt_run_new(run, &o, job->clips->clips, job->clips->n, err)) < 0)
        goto done;
    /* workers x decoder threads = cores: fewer clips or -j than cores gives
     * each decoder frame threads */
    n_workers = rvt_run_workers(*run);
    app.o.threads = RVT_MAX(1, rvt_cpu_count() / n_workers);
    app.o.threads = RVT_MIN(app.o.threads, 16);
    job->opts.threads = app.o.threads;
    rvt_debugf("%zu clips, %d workers x %d decoder threads", rvt_run_count(*run), n_workers,
               app.o.threads);

    fields[0] = (struct rvt_store_field){
        "frames", RVT_DTYPE_U8, 4,
        {(uint64_t)app.o.n_frames, (uint64_t)app.o.out_h, (uint64_t)app.o.out_w, 3}};
    fields[1] = (struct rvt_store_field){"frame_pts", RVT_DTYPE_F64, 1,
                                         {(uint64_t)app.o.n_frames}};
    if ((ret = rvt_run_set_fields(*run, fields, 2, err)) < 0 ||
        (ret = rvt_run_store_create(*run, output, "frames", &sw, err)) < 0 ||
        (ret = set_attrs(sw, job, ro, err)) < 0)
        goto done;
    if (!(app.readers = calloc((size_t)n_workers, sizeof(*app.readers)))) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (w = 0; w < n_workers; w++)
        if ((ret = rvt_video_reader_create(&app.readers[w], &app.o, err)) < 0)
            goto done;
    ret = rvt_run_go(*run, &tool, err);
done:
    for (w = 0; w < n_workers && app.readers; w++)
        rvt_video_reader_free(&app.readers[w]);
    free(app.readers);
    return ret;
}
