/* runner.c: the per-clip engine (runner.h) over the ordered pool (core/pool.h). */
#include "core/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/cli.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/npy.h"
#include "core/pool.h"
#include "run/runner.h"

/* rvt_run_npy_create's folder. */
struct npydir {
    char *dir, *kind;                          /* owned */
    struct rvt_atomic csv[RVT_RUN_MAX_FIELDS]; /* scalar fields' CSVs (fp NULL: none) */
    char *attrs;                               /* owned: the YAML text so far */
    size_t attrs_len;
    FILE *attrs_fp;                            /* open_memstream on attrs */
    bool *written;                             /* owned, [n]: <id>.npy written */
};

/* One slot of the window: the results of one work item. */
struct slot {
    void *data[RVT_RUN_MAX_FIELDS];  /* owned: batch clips of each field */
    struct rvt_store_chunk chunk;    /* field 0 encoded (store, batch 1, big field 0) */
    int *status;                     /* owned, [batch] */
    struct rvt_error *errs;          /* owned, [batch] */
};

struct rvt_run {
    struct rvt_run_opts o;
    struct rvt_run_clip *clips;      /* owned: the shard's clips */
    size_t n, batch, n_items, window;
    int n_workers;
    struct rvt_store_field fields[RVT_RUN_MAX_FIELDS];
    size_t bytes[RVT_RUN_MAX_FIELDS];
    int n_fields;
    struct rvt_store_writer *store;  /* owned, or NULL */
    struct npydir *npy;              /* owned, or NULL */
    bool encode;                     /* field 0 compressed on the workers */
    int level;
    void **scratch;                  /* owned, per worker: rvt_store_encode scratch */
    struct slot *slots;              /* owned, [window] */
    const struct rvt_run_tool *tool; /* during rvt_run_go */
    struct rvt_failures failures;
    struct rvt_progress progress;
    size_t n_done, n_written;
    double seconds;
};

static void npy_free(struct rvt_run *r, bool remove);

int rvt_run_new(struct rvt_run **out, const struct rvt_run_opts *o,
                const struct rvt_run_clip *clips, size_t n, struct rvt_error *err)
{
    struct rvt_run *r;
    size_t i, jobs;
    int ret;

    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    r->o = *o;
    r->clips = malloc((n ? n : 1) * sizeof(*r->clips));
    if (!r->clips) {
        free(r);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    for (i = 0; i < n; i++)
        if (o->shard_n <= 1 || rvt_shard_of(clips[i].id, o->shard_n) == o->shard_i)
            r->clips[r->n++] = clips[i];
    /* one item a worker at least: a batch larger than n / jobs would idle workers */
    jobs = (size_t)RVT_MAX(o->jobs, 1);
    r->batch = RVT_MAX(o->batch, (size_t)1);
    if (r->n > 0 && (r->n + jobs - 1) / jobs < r->batch)
        r->batch = (r->n + jobs - 1) / jobs;
    r->n_items = (r->n + r->batch - 1) / r->batch;
    r->n_workers = (int)RVT_MAX((size_t)1, RVT_MIN(jobs, r->n_items));
    r->window = 2 * (size_t)r->n_workers;
    ret = rvt_failures_init(&r->failures, o->failures_path, o->output_path, err);
    if (ret < 0) {
        rvt_run_free(&r);
        return ret;
    }
    *out = r;
    return 0;
}

static void slots_free(struct rvt_run *r)
{
    size_t i;
    int f;
    for (i = 0; r->slots && i < r->window; i++) {
        for (f = 0; f < RVT_RUN_MAX_FIELDS; f++)
            free(r->slots[i].data[f]);
        rvt_store_chunk_release(&r->slots[i].chunk);
        free(r->slots[i].status);
        free(r->slots[i].errs);
    }
    free(r->slots);
    r->slots = NULL;
    for (f = 0; r->scratch && f < r->n_workers; f++)
        free(r->scratch[f]);
    free(r->scratch);
    r->scratch = NULL;
}

void rvt_run_free(struct rvt_run **rp)
{
    struct rvt_run *r = *rp;
    if (!r)
        return;
    rvt_store_free(&r->store); /* aborts when not committed */
    npy_free(r, true);
    rvt_failures_release(&r->failures);
    slots_free(r);
    free(r->clips);
    free(r);
    *rp = NULL;
}

size_t rvt_run_count(const struct rvt_run *r) { return r->n; }
const struct rvt_run_clip *rvt_run_clips(const struct rvt_run *r) { return r->clips; }
int rvt_run_workers(const struct rvt_run *r) { return r->n_workers; }
size_t rvt_run_batch(const struct rvt_run *r) { return r->batch; }
size_t rvt_run_written(const struct rvt_run *r) { return r->n_written; }
int rvt_run_failed(const struct rvt_run *r) { return r->failures.count; }
const char *rvt_run_failures_path(const struct rvt_run *r) { return r->failures.path; }
double rvt_run_seconds(const struct rvt_run *r) { return r->seconds; }

int rvt_run_set_fields(struct rvt_run *r, const struct rvt_store_field *fields, int n,
                       struct rvt_error *err)
{
    int f;
    if (n < 0 || n > RVT_RUN_MAX_FIELDS)
        return rvt_error_set(err, RVT_EINVAL, "%d result fields (at most %d)", n,
                             RVT_RUN_MAX_FIELDS);
    for (f = 0; f < n; f++) {
        r->fields[f] = fields[f];
        r->bytes[f] = rvt_store_field_bytes(&fields[f]);
    }
    r->n_fields = n;
    return 0;
}

int rvt_run_store_create(struct rvt_run *r, const char *path, const char *kind,
                         struct rvt_store_writer **w, struct rvt_error *err)
{
    int ret;
    assert(r->batch == 1 && !r->store && r->n_fields > 0);
    ret = rvt_store_create(&r->store, path, kind, r->fields, r->n_fields, err);
    if (w)
        *w = r->store;
    return ret;
}

/* The window's buffers and the workers' compression scratch. */
static int slots_alloc(struct rvt_run *r, struct rvt_error *err)
{
    size_t i;
    int f;

    r->slots = calloc(r->window, sizeof(*r->slots));
    if (!r->slots)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (i = 0; i < r->window; i++) {
        struct slot *s = &r->slots[i];
        s->status = calloc(r->batch, sizeof(*s->status));
        s->errs = calloc(r->batch, sizeof(*s->errs));
        if (!s->status || !s->errs)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        for (f = 0; f < r->n_fields; f++)
            if (!(s->data[f] = calloc(r->batch, RVT_MAX(r->bytes[f], (size_t)1))))
                return rvt_error_set(err, RVT_ENOMEM, "out of memory (batch %zu)", r->batch);
    }
    /* fields of one clip a chunk are compressed on the workers; the calling thread
     * only writes (tiny fields share chunks between clips: the store compresses those) */
    r->encode = r->store && r->bytes[0] >= RVT_STORE_CHUNK_MIN;
    if (!r->encode)
        return 0;
    r->level = rvt_store_deflate(r->store);
    r->scratch = calloc((size_t)r->n_workers, sizeof(*r->scratch));
    if (!r->scratch)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (f = 0; f < r->n_workers; f++)
        if (!(r->scratch[f] = malloc(rvt_store_encode_scratch(&r->fields[0]) + 1)))
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    return 0;
}

/* ---- the npy folder ---- */

static char *path_join(const char *dir, const char *name, const char *ext)
{
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s", dir, name, ext);
    return p;
}

static void npy_free(struct rvt_run *r, bool remove)
{
    struct npydir *d = r->npy;
    size_t i;
    int f;
    if (!d)
        return;
    for (f = 0; f < RVT_RUN_MAX_FIELDS; f++)
        rvt_atomic_abort(&d->csv[f]);
    for (i = 0; remove && d->written && i < r->n; i++)
        if (d->written[i]) {
            char *p = path_join(d->dir, r->clips[i].id, ".npy");
            if (p)
                unlink(p);
            free(p);
        }
    if (d->attrs_fp)
        fclose(d->attrs_fp);
    free(d->attrs);
    free(d->written);
    free(d->dir);
    free(d->kind);
    free(d);
    r->npy = NULL;
}

int rvt_run_npy_create(struct rvt_run *r, const char *dir, const char *kind,
                       struct rvt_error *err)
{
    struct npydir *d;
    struct stat st;
    int f, ret = 0;

    assert(r->batch == 1 && !r->store && !r->npy && r->n_fields > 0);
    if (mkdir(dir, 0777) != 0 && !(errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return rvt_error_set(err, RVT_EIO, "cannot create folder '%s': %s", dir,
                             errno == EEXIST ? "Not a directory" : strerror(errno));
    if (!(d = r->npy = calloc(1, sizeof(*d))))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    d->dir = strdup(dir);
    d->kind = strdup(kind);
    d->written = calloc(r->n ? r->n : 1, sizeof(*d->written));
    d->attrs_fp = open_memstream(&d->attrs, &d->attrs_len);
    if (!d->dir || !d->kind || !d->written || !d->attrs_fp) {
        npy_free(r, false);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    fprintf(d->attrs_fp, "# %s attributes (those of %s.h5's root)\nkind: %s\n",
            rvt_log_program(), kind, kind);
    for (f = 1; f < r->n_fields && ret >= 0; f++) {
        char *p;
        if (r->fields[f].rank != 0 || r->fields[f].dtype != RVT_DTYPE_I32) {
            ret = rvt_error_set(err, RVT_EUNSUPPORTED, "'%s': .npy folders take int32 scalars "
                                "beside the array, not '%s'", dir, r->fields[f].name);
            break;
        }
        if (!(p = path_join(dir, r->fields[f].name, ".csv"))) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            break;
        }
        ret = rvt_atomic_open(&d->csv[f], p, err);
        free(p);
        if (ret >= 0)
            fprintf(d->csv[f].fp, "id,%s\n", r->fields[f].name);
    }
    if (ret < 0)
        npy_free(r, false);
    return ret;
}

static int npy_write_clip(struct rvt_run *r, size_t i, const void *const *row,
                          struct rvt_error *err)
{
    static const enum rvt_npy_dtype dt[] = {[RVT_DTYPE_U8] = RVT_NPY_U1,
        [RVT_DTYPE_I32] = RVT_NPY_I4, [RVT_DTYPE_F32] = RVT_NPY_F4, [RVT_DTYPE_F64] = RVT_NPY_F8};
    struct npydir *d = r->npy;
    const struct rvt_store_field *f0 = &r->fields[0];
    size_t shape[RVT_STORE_MAX_RANK];
    char *p = path_join(d->dir, r->clips[i].id, ".npy");
    int k, ret;

    if (!p)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (k = 0; k < f0->rank; k++)
        shape[k] = (size_t)f0->dims[k];
    /* before writing: an interrupted write leaves no file, but remove it anyway */
    d->written[i] = true;
    ret = rvt_npy_write(p, dt[f0->dtype], row[0], f0->rank, shape, RVT_NPY_NOSYNC, err);
    free(p);
    for (k = 1; k < r->n_fields && ret >= 0; k++)
        fprintf(d->csv[k].fp, "%s,%d\n", r->clips[i].id, (int)*(const int32_t *)row[k]);
    return ret;
}

static int npy_commit(struct rvt_run *r, struct rvt_error *err)
{
    struct npydir *d = r->npy;
    struct rvt_atomic a = {0};
    char *p = NULL;
    int dfd, f, ret = 0;

    /* every .npy durable before the lists of them appear */
    dfd = open(d->dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || syncfs(dfd) != 0)
        ret = rvt_error_set(err, RVT_EIO, "cannot sync '%s': %s", d->dir, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    for (f = 1; f < r->n_fields && ret >= 0; f++)
        ret = rvt_atomic_commit(&d->csv[f], err);
    if (ret >= 0 && fflush(d->attrs_fp) != 0)
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if (ret >= 0 && !(p = path_join(d->dir, d->kind, "_attrs.yaml")))
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if (ret >= 0 && (ret = rvt_atomic_open(&a, p, err)) >= 0) {
        if (fwrite(d->attrs, 1, d->attrs_len, a.fp) != d->attrs_len) {
            ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", p, strerror(errno));
            rvt_atomic_abort(&a);
        } else {
            ret = rvt_atomic_commit(&a, err);
        }
    }
    free(p);
    return ret;
}

int rvt_run_set_attr(struct rvt_run *r, const char *key, const char *value,
                     struct rvt_error *err)
{
    FILE *y;
    const char *nl;
    if (r->store)
        return rvt_store_set_attr(r->store, key, value, err);
    assert(r->npy);
    y = r->npy->attrs_fp;
    if (!strchr(value, '\n')) {
        fprintf(y, "%s: %s\n", key, value);
        return 0;
    }
    fprintf(y, "%s: |\n", key);
    while (*value) {
        nl = strchr(value, '\n');
        if (!nl)
            nl = value + strlen(value);
        fprintf(y, "  %.*s\n", (int)(nl - value), value);
        value = *nl ? nl + 1 : nl;
    }
    return 0;
}

/* On a worker. */
static int work(void *ctx, size_t item, void *slotp, int worker, struct rvt_error *err)
{
    struct rvt_run *r = ctx;
    struct slot *s = slotp;
    struct rvt_run_item it;
    size_t k;
    int ret;

    it.first = item * r->batch;
    it.n = RVT_MIN(r->batch, r->n - it.first);
    it.clips = r->clips + it.first;
    it.worker = worker;
    it.data = s->data;
    it.status = s->status;
    it.errs = s->errs;
    for (k = 0; k < it.n; k++) {
        s->status[k] = 0;
        rvt_error_clear(&s->errs[k]);
    }
    ret = r->tool->process(r->tool->ctx, &it, err);
    if (ret < 0) {
        for (k = 0; k < it.n; k++) {
            s->status[k] = ret;
            s->errs[k] = *err;
        }
        return 0;
    }
    if (r->encode && s->status[0] >= 0) {
        ret = rvt_store_encode(&r->fields[0], r->level, s->data[0], r->scratch[worker],
                               &s->chunk, &s->errs[0]);
        if (ret < 0)
            s->status[0] = ret;
    }
    return 0;
}

/* On the calling thread, item by item in order. */
static int emit(void *ctx, size_t item, void *slotp, int status, struct rvt_error *err)
{
    struct rvt_run *r = ctx;
    struct slot *s = slotp;
    size_t first = item * r->batch, n = RVT_MIN(r->batch, r->n - first), k;
    int ret, f;

    (void)status; /* work reports per clip, in the slot */
    for (k = 0; k < n; k++) {
        const struct rvt_run_clip *c = &r->clips[first + k];
        const void *row[RVT_RUN_MAX_FIELDS];
        if (s->status[k] < 0) {
            *err = s->errs[k];
            if (!r->o.keep_going)
                return s->status[k];
            rvt_warnf("skipped %s: %s", c->id, s->errs[k].msg);
            if ((ret = rvt_failures_add(&r->failures, c->id, c->path, s->errs[k].msg, err)) < 0)
                return ret;
        } else {
            for (f = 0; f < r->n_fields; f++)
                row[f] = (const char *)s->data[f] + k * r->bytes[f];
            if (r->store) {
                const struct rvt_store_chunk *enc[RVT_RUN_MAX_FIELDS] = {0};
                if (r->encode)
                    enc[0] = &s->chunk;
                if ((ret = rvt_store_append_encoded(r->store, c->id, row, enc, err)) < 0)
                    return ret;
            }
            if (r->npy && (ret = npy_write_clip(r, first + k, row, err)) < 0)
                return ret;
            if (r->tool->write && (ret = r->tool->write(r->tool->ctx, c, row, err)) < 0)
                return ret;
            r->n_written++;
        }
        rvt_progress_update(&r->progress, ++r->n_done);
    }
    return 0;
}

int rvt_run_go(struct rvt_run *r, const struct rvt_run_tool *tool, struct rvt_error *err)
{
    void **ptrs = NULL;
    double t0 = rvt_now();
    size_t i;
    int ret;

    r->tool = tool;
    ret = slots_alloc(r, err);
    if (ret >= 0 && !(ptrs = calloc(r->window, sizeof(*ptrs))))
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if (ret >= 0) {
        for (i = 0; i < r->window; i++)
            ptrs[i] = &r->slots[i];
        rvt_progress_start(&r->progress, r->o.label, r->n);
        ret = rvt_pool_run(r->n_items, r->n_workers, ptrs, r->window, work, emit, r, err);
        rvt_progress_end(&r->progress);
    }
    free(ptrs);
    slots_free(r);
    /* the outputs, then the list of what they lack */
    if (ret >= 0 && r->store)
        ret = rvt_store_commit(r->store, err);
    if (ret >= 0 && r->npy)
        ret = npy_commit(r, err);
    if (ret >= 0 && tool->commit)
        ret = tool->commit(tool->ctx, err);
    if (ret >= 0)
        ret = rvt_failures_close(&r->failures, err);
    if (ret < 0) {
        if (r->store)
            rvt_store_abort(r->store);
        if (tool->abort)
            tool->abort(tool->ctx);
        npy_free(r, true);
        rvt_failures_release(&r->failures);
    }
    rvt_store_free(&r->store);
    npy_free(r, false);
    r->tool = NULL;
    r->seconds = rvt_now() - t0;
    return ret;
}

int rvt_run_report(const struct rvt_run *r)
{
    if (r->failures.count) {
        rvt_infof("%zu clips in %.1f s, %d skipped (listed in '%s')", r->n_written, r->seconds,
                  r->failures.count, r->failures.path);
        return RVT_EXIT_SKIPPED;
    }
    rvt_infof("%zu clips in %.1f s", r->n_written, r->seconds);
    return RVT_EXIT_OK;
}
