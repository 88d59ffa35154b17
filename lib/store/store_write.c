/*
 * store_write.c: the streaming, atomic store writer.
 *
 * Datasets are created at the first append (or at commit for an empty store),
 * so that rvt_store_set_deflate/rvt_store_set_provenance can come after create.
 * The extent grows in steps (doubling, at least 1024 clips) and is cut to the
 * clip count at commit; chunks are only allocated when written, so the unused
 * tail costs nothing.  Small fields collect a chunk of clips in a buffer and
 * write it in one call.  Memory: one chunk buffer per small field.
 */
#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "store/h5io_internal.h"
#include "store/store.h"

#define ID_FIELD "clips/id"

struct wfield {
    struct rvt_store_field f; /* f.name owned */
    size_t clip_bytes;        /* bytes of one clip in memory (STR: file size) */
    hsize_t chunk_clips;
    hid_t dset, mtype;
    unsigned char *buf;       /* chunk_clips * clip_bytes, small fields only */
    hsize_t buffered;         /* clips in buf */
};

struct rvt_store_writer {
    struct rvt_atomic at;
    char *path;               /* final path, owned */
    hid_t file;
    struct wfield fields[RVT_STORE_MAX_FIELDS + 1]; /* [0] = clips/id */
    int n_fields;
    size_t n;                 /* clips appended */
    hsize_t cap;              /* current extent */
    int deflate;
    bool created, failed, done;
};

static int fail(struct rvt_store_writer *w, int ret)
{
    w->failed = true;
    return ret;
}

static int check_field(const struct rvt_store_field *f, struct rvt_error *err)
{
    int k;
    if (!f->name || !f->name[0] || f->name[0] == '/' || f->name[strlen(f->name) - 1] == '/')
        return rvt_error_set(err, RVT_EINVAL, "bad store field name '%s'", f->name ? f->name : "");
    if (!strcmp(f->name, ID_FIELD))
        return rvt_error_set(err, RVT_EINVAL, "field '%s' is written by the store itself", f->name);
    if ((unsigned)f->dtype > RVT_DTYPE_STR)
        return rvt_error_set(err, RVT_EINVAL, "field '%s': bad dtype %d", f->name, (int)f->dtype);
    if (f->dtype == RVT_DTYPE_STR) {
        if (f->rank > 1 || f->dims[0] < 2 || f->dims[0] > 65536)
            return rvt_error_set(err, RVT_EINVAL,
                                 "field '%s': a string field wants rank 0 and dims[0] in 2..65536",
                                 f->name);
        return 0;
    }
    if (f->rank < 0 || f->rank > RVT_STORE_MAX_RANK)
        return rvt_error_set(err, RVT_EINVAL, "field '%s': rank %d out of 0..%d", f->name, f->rank,
                             RVT_STORE_MAX_RANK);
    for (k = 0; k < f->rank; k++)
        if (f->dims[k] == 0 || f->dims[k] > (1u << 30))
            return rvt_error_set(err, RVT_EINVAL, "field '%s': bad dimension %d", f->name, k);
    if (rvt_store_field_bytes(f) > ((size_t)1 << 31))
        return rvt_error_set(err, RVT_ELIMIT, "field '%s': a clip is larger than 2 GiB", f->name);
    return 0;
}

/* Creates the groups of "a/b/c" (a and a/b) that do not exist yet. */
static int make_parents(struct rvt_store_writer *w, const char *name, struct rvt_error *err)
{
    char buf[512];
    char *p;
    int ret = 0;

    if (strlen(name) >= sizeof(buf))
        return rvt_error_set(err, RVT_EINVAL, "field name '%s' is too long", name);
    strcpy(buf, name);
    for (p = strchr(buf, '/'); p; p = strchr(p + 1, '/')) {
        htri_t ex;
        *p = '\0';
        ex = H5Lexists(w->file, buf, H5P_DEFAULT);
        if (ex < 0) {
            ret = rvti_h5_fail(err, RVT_EIO, "cannot write '%s' group '%s'", w->path, buf);
        } else if (!ex) {
            hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), g = -1;
            if (gcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) >= 0)
                g = H5Gcreate2(w->file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
            if (g < 0)
                ret = rvti_h5_fail(err, RVT_EIO, "cannot create '%s' group '%s'", w->path, buf);
            else
                H5Gclose(g);
            if (gcpl >= 0)
                H5Pclose(gcpl);
        }
        *p = '/';
        if (ret < 0)
            break;
    }
    return ret;
}

static int create_dataset(struct rvt_store_writer *w, struct wfield *wf, struct rvt_error *err)
{
    const struct rvt_store_field *f = &wf->f;
    int rank = f->dtype == RVT_DTYPE_STR ? 0 : f->rank, k, ret = 0;
    hsize_t dims[RVT_STORE_MAX_RANK + 1], maxdims[RVT_STORE_MAX_RANK + 1],
        chunk[RVT_STORE_MAX_RANK + 1];
    hid_t space = -1, dcpl = -1, ftype = -1;

    dims[0] = 0;
    maxdims[0] = H5S_UNLIMITED;
    chunk[0] = wf->chunk_clips;
    for (k = 0; k < rank; k++)
        dims[k + 1] = maxdims[k + 1] = chunk[k + 1] = f->dims[k];
    if ((ret = make_parents(w, f->name, err)) < 0)
        goto done;
    ftype = rvti_h5_file_type(f->dtype, f->dtype == RVT_DTYPE_STR ? f->dims[0] : 0);
    space = H5Screate_simple(rank + 1, dims, maxdims);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (ftype < 0 || space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, rank + 1, chunk) < 0 ||
        H5Pset_obj_track_times(dcpl, 0) < 0 ||
        (w->deflate > 0 &&
         (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, (unsigned)w->deflate) < 0))) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot set up '%s' dataset '%s'", w->path, f->name);
        goto done;
    }
    wf->dset = H5Dcreate2(w->file, f->name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (wf->dset < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot create '%s' dataset '%s'", w->path, f->name);
        goto done;
    }
    /* in memory, strings have the file's layout (we pad them ourselves) */
    wf->mtype = f->dtype == RVT_DTYPE_STR ? H5Tcopy(ftype) : rvti_h5_mem_type(f->dtype, 0);
    if (wf->mtype < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot set up '%s' dataset '%s'", w->path, f->name);
        goto done;
    }
done:
    if (ftype >= 0)
        H5Tclose(ftype);
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return ret;
}

static int ensure_created(struct rvt_store_writer *w, struct rvt_error *err)
{
    int k, ret = 0;
    if (w->created)
        return 0;
    for (k = 0; k < w->n_fields; k++)
        if ((ret = create_dataset(w, &w->fields[k], err)) < 0)
            return fail(w, ret);
    w->created = true;
    return 0;
}

static int set_extent(struct rvt_store_writer *w, hsize_t n, struct rvt_error *err)
{
    int k;
    for (k = 0; k < w->n_fields; k++) {
        struct wfield *wf = &w->fields[k];
        hsize_t dims[RVT_STORE_MAX_RANK + 1];
        int rank = wf->f.dtype == RVT_DTYPE_STR ? 0 : wf->f.rank, j;
        dims[0] = n;
        for (j = 0; j < rank; j++)
            dims[j + 1] = wf->f.dims[j];
        if (H5Dset_extent(wf->dset, dims) < 0)
            return fail(w, rvti_h5_fail(err, RVT_EIO, "cannot extend '%s' dataset '%s'", w->path,
                                        wf->f.name));
    }
    return 0;
}

/* Writes clips [first, first + count) of wf from mem. */
static int write_rows(struct rvt_store_writer *w, struct wfield *wf, hsize_t first, hsize_t count,
                      const void *mem, struct rvt_error *err)
{
    hsize_t start[RVT_STORE_MAX_RANK + 1] = {0}, cnt[RVT_STORE_MAX_RANK + 1];
    int rank = wf->f.dtype == RVT_DTYPE_STR ? 0 : wf->f.rank, j, ret = 0;
    hid_t fs = -1, ms = -1;

    start[0] = first;
    cnt[0] = count;
    for (j = 0; j < rank; j++)
        cnt[j + 1] = wf->f.dims[j];
    fs = H5Dget_space(wf->dset);
    ms = H5Screate_simple(rank + 1, cnt, NULL);
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
        H5Dwrite(wf->dset, wf->mtype, ms, fs, H5P_DEFAULT, mem) < 0)
        ret = fail(w, rvti_h5_fail(err, RVT_EIO, "cannot write '%s' dataset '%s'", w->path,
                                   wf->f.name));
    if (fs >= 0)
        H5Sclose(fs);
    if (ms >= 0)
        H5Sclose(ms);
    return ret;
}

static int flush_buffer(struct rvt_store_writer *w, struct wfield *wf, struct rvt_error *err)
{
    int ret = 0;
    if (wf->buffered) {
        ret = write_rows(w, wf, (hsize_t)w->n - wf->buffered, wf->buffered, wf->buf, err);
        wf->buffered = 0;
    }
    return ret;
}

static void wfield_release(struct wfield *wf)
{
    if (wf->dset > 0)
        H5Dclose(wf->dset);
    if (wf->mtype > 0)
        H5Tclose(wf->mtype);
    free((char *)wf->f.name);
    free(wf->buf);
    memset(wf, 0, sizeof(*wf));
}

static int write_attr_strings(hid_t file, const char *path, const char *name,
                              const char *const *values, size_t n, bool scalar,
                              struct rvt_error *err)
{
    hid_t type = -1, space = -1, attr = -1;
    hsize_t dim = n;
    int ret = 0;
    htri_t ex;

    ex = H5Aexists(file, name);
    if (ex > 0 && H5Adelete(file, name) < 0)
        ex = -1;
    if (ex < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot write '%s' attribute '%s'", path, name);
        goto done;
    }
    type = H5Tcopy(H5T_C_S1);
    if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0)
        goto fail;
    space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    if (space < 0)
        goto fail;
    attr = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0 || H5Awrite(attr, type, values) < 0)
        goto fail;
    goto done;
fail:
    ret = rvti_h5_fail(err, RVT_EIO, "cannot write '%s' attribute '%s'", path, name);
done:
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return ret;
}

int rvt_store_create(struct rvt_store_writer **out, const char *path, const char *kind,
                     const struct rvt_store_field *fields, int n_fields, struct rvt_error *err)
{
    struct rvt_store_writer *w = NULL;
    hid_t fcpl = -1, fapl = -1;
    int k, j, ret = 0;
    char version[256];

    *out = NULL;
    rvti_h5_init();
    if (!strcmp(path, "-"))
        return rvt_error_set(err, RVT_EINVAL, "cannot write an HDF5 store to stdout");
    if (n_fields < 0 || n_fields > RVT_STORE_MAX_FIELDS)
        return rvt_error_set(err, RVT_EINVAL, "a store has at most %d fields",
                             RVT_STORE_MAX_FIELDS);
    for (k = 0; k < n_fields; k++) {
        if ((ret = check_field(&fields[k], err)) < 0)
            return ret;
        for (j = 0; j < k; j++)
            if (!strcmp(fields[j].name, fields[k].name))
                return rvt_error_set(err, RVT_EINVAL, "field '%s' is declared twice",
                                     fields[k].name);
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    w->file = -1;
    w->at.slot = -1; /* not registered: abort must not release slot 0 */
    w->deflate = RVT_STORE_DEFAULT_DEFLATE;
    w->n_fields = n_fields + 1;
    for (k = 0; k < w->n_fields; k++) {
        struct wfield *wf = &w->fields[k];
        if (k == 0) {
            wf->f.name = ID_FIELD;
            wf->f.dtype = RVT_DTYPE_STR;
            wf->f.dims[0] = RVT_STORE_ID_MAX;
        } else {
            wf->f = fields[k - 1];
        }
        if (wf->f.dtype == RVT_DTYPE_STR) {
            uint64_t size = wf->f.dims[0];
            memset(wf->f.dims, 0, sizeof(wf->f.dims));
            wf->f.dims[0] = size;
            wf->f.rank = 0;
            wf->clip_bytes = (size_t)size - 1;
        } else {
            wf->clip_bytes = rvt_store_field_bytes(&wf->f);
        }
        wf->f.name = strdup(wf->f.name);
        wf->chunk_clips = rvti_chunk_clips(rvt_store_field_bytes(&wf->f));
        if (wf->chunk_clips > 1 || wf->f.dtype == RVT_DTYPE_STR)
            wf->buf = malloc(wf->chunk_clips * wf->clip_bytes);
        if (!wf->f.name || ((wf->chunk_clips > 1 || wf->f.dtype == RVT_DTYPE_STR) && !wf->buf)) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
    }
    w->path = strdup(path);
    if (!w->path) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    if ((ret = rvt_atomic_open_named(&w->at, path, err)) < 0)
        goto done;
    if (w->at.in_place) { /* a device or FIFO: HDF5 needs a seekable regular file */
        ret = rvt_error_set(err, RVT_EINVAL, "cannot write an HDF5 store to '%s': not a regular file",
                            path);
        goto done;
    }
    /* the root group is created with the file: its timestamps go through fcpl */
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fcpl < 0 || fapl < 0 || H5Pset_obj_track_times(fcpl, 0) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 || rvti_h5_small_cache(fapl) < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot create '%s'", path);
        goto done;
    }
    /* HDF5 opens the temporary itself (rvt_atomic keeps its own descriptor for fsync) */
    w->file = H5Fcreate(w->at.tmp_path, H5F_ACC_TRUNC, fcpl, fapl);
    if (w->file < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot create '%s'", w->at.tmp_path);
        goto done;
    }
    snprintf(version, sizeof(version), "%s %s", rvt_log_program() ? rvt_log_program() : "ravdess-tools",
             RVT_VERSION);
    if ((ret = rvt_store_set_attr(w, "schema_version", RVT_STORE_SCHEMA_VERSION, err)) < 0 ||
        (ret = rvt_store_set_attr(w, "kind", kind ? kind : "", err)) < 0 ||
        (ret = rvt_store_set_attr(w, "tool_version", version, err)) < 0)
        goto done;
done:
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (ret < 0)
        rvt_store_free(&w);
    *out = w;
    return ret;
}

int rvt_store_set_deflate(struct rvt_store_writer *w, int level, struct rvt_error *err)
{
    if (level < 0 || level > 9)
        return rvt_error_set(err, RVT_EINVAL, "deflate level %d is not in 0..9", level);
    if (w->created)
        return rvt_error_set(err, RVT_EINVAL, "'%s': deflate level set after the first clip",
                             w->path);
    w->deflate = level;
    return 0;
}

int rvt_store_deflate(const struct rvt_store_writer *w)
{
    return w->deflate;
}

const char *rvt_store_writer_path(const struct rvt_store_writer *w)
{
    return w->path;
}

int rvt_store_set_attr(struct rvt_store_writer *w, const char *name, const char *value,
                       struct rvt_error *err)
{
    int ret;
    if (w->failed || w->done)
        return rvt_error_set(err, RVT_EINVAL, "'%s': writer is finished", w->path);
    ret = write_attr_strings(w->file, w->path, name, &value, 1, true, err);
    return ret < 0 ? fail(w, ret) : 0;
}

int rvt_store_set_attr_list(struct rvt_store_writer *w, const char *name,
                            const char *const *values, size_t n, struct rvt_error *err)
{
    int ret;
    if (w->failed || w->done)
        return rvt_error_set(err, RVT_EINVAL, "'%s': writer is finished", w->path);
    if (n == 0)
        return rvt_error_set(err, RVT_EINVAL, "'%s': attribute '%s' has no values", w->path, name);
    ret = write_attr_strings(w->file, w->path, name, values, n, false, err);
    return ret < 0 ? fail(w, ret) : 0;
}

int rvt_store_set_provenance(struct rvt_store_writer *w, const struct rvt_config *cfg,
                             const char *index_sha256, int shard_i, int shard_n,
                             struct rvt_error *err)
{
    char *text = NULL, hex[65], shard[64];
    long level = RVT_STORE_DEFAULT_DEFLATE;
    int ret = 0;

    if (rvt_config_get(cfg, "store.deflate") &&
        (ret = rvt_config_get_int(cfg, "store.deflate", &level, err)) < 0)
        goto done;
    if ((ret = rvt_store_set_deflate(w, (int)level, err)) < 0)
        goto done;
    text = rvt_config_dump(cfg);
    if (!text) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    rvt_sha256_hex(text, strlen(text), hex);
    snprintf(shard, sizeof(shard), "%d/%d", shard_i, shard_n);
    if ((ret = rvt_store_set_attr(w, "config", text, err)) < 0 ||
        (ret = rvt_store_set_attr(w, "config_sha256", hex, err)) < 0 ||
        (index_sha256 && (ret = rvt_store_set_attr(w, "index_sha256", index_sha256, err)) < 0) ||
        (ret = rvt_store_set_attr(w, "shard", shard, err)) < 0)
        goto done;
done:
    free(text);
    return ret;
}

static int grow(struct rvt_store_writer *w, struct rvt_error *err)
{
    hsize_t cap = w->cap < 1024 ? 1024 : w->cap * 2;
    int ret = set_extent(w, cap, err);
    if (ret == 0)
        w->cap = cap;
    return ret;
}

int rvt_store_append_encoded(struct rvt_store_writer *w, const char *id,
                             const void *const *data, const struct rvt_store_chunk *const *enc,
                             struct rvt_error *err)
{
    int k, ret = 0;
    size_t idlen;

    if (w->failed || w->done)
        return rvt_error_set(err, RVT_EINVAL, "'%s': writer is finished", w->path);
    idlen = strlen(id);
    if (idlen == 0 || idlen >= RVT_STORE_ID_MAX)
        return rvt_error_set(err, RVT_EINVAL, "'%s': clip id '%s' is empty or longer than %d bytes",
                             w->path, id, RVT_STORE_ID_MAX - 1);
    if (w->n >= RVT_STORE_MAX_CLIPS)
        return fail(w, rvt_error_set(err, RVT_ELIMIT, "'%s': more than %d clips", w->path,
                                     RVT_STORE_MAX_CLIPS));
    for (k = 1; k < w->n_fields; k++) {
        const struct wfield *wf = &w->fields[k];
        if (enc && enc[k - 1] && (wf->chunk_clips != 1 || wf->f.dtype == RVT_DTYPE_STR))
            return rvt_error_set(err, RVT_EINVAL, "'%s': field '%s' takes no encoded chunks",
                                 w->path, wf->f.name);
        if (!(enc && enc[k - 1]) && !data[k - 1])
            return rvt_error_set(err, RVT_EINVAL, "'%s': no data for field '%s'", w->path,
                                 wf->f.name);
        if (wf->f.dtype == RVT_DTYPE_STR && strlen(data[k - 1]) > wf->clip_bytes)
            return rvt_error_set(err, RVT_EINVAL, "'%s': clip '%s': '%s' is longer than %zu bytes",
                                 w->path, id, wf->f.name, wf->clip_bytes);
    }
    if ((ret = ensure_created(w, err)) < 0)
        return ret;
    if (w->n >= w->cap && (ret = grow(w, err)) < 0)
        return ret;
    for (k = 0; k < w->n_fields; k++) {
        struct wfield *wf = &w->fields[k];
        const void *src = k == 0 ? id : data[k - 1];
        const struct rvt_store_chunk *c = k == 0 || !enc ? NULL : enc[k - 1];

        if (c) {
            hsize_t off[RVT_STORE_MAX_RANK + 1] = {0};
            off[0] = w->n;
            if (H5Dwrite_chunk(wf->dset, H5P_DEFAULT, c->filter_mask, off, c->size, c->data) < 0)
                return fail(w, rvti_h5_fail(err, RVT_EIO, "cannot write '%s' dataset '%s'",
                                            w->path, wf->f.name));
        } else if (wf->buf) {
            unsigned char *dst = wf->buf + wf->buffered * wf->clip_bytes;
            if (wf->f.dtype == RVT_DTYPE_STR)
                strncpy((char *)dst, src, wf->clip_bytes); /* NUL-pads to the field size */
            else
                memcpy(dst, src, wf->clip_bytes);
            wf->buffered++;
        } else if ((ret = write_rows(w, wf, w->n, 1, src, err)) < 0) {
            return ret;
        }
    }
    w->n++;
    for (k = 0; k < w->n_fields; k++) {
        struct wfield *wf = &w->fields[k];
        if (wf->buf && wf->buffered == wf->chunk_clips && (ret = flush_buffer(w, wf, err)) < 0)
            return ret;
    }
    return 0;
}

int rvt_store_append(struct rvt_store_writer *w, const char *id, const void *const *data,
                     struct rvt_error *err)
{
    return rvt_store_append_encoded(w, id, data, NULL, err);
}

size_t rvt_store_written(const struct rvt_store_writer *w)
{
    return w->n;
}

static void close_file(struct rvt_store_writer *w)
{
    int k;
    for (k = 0; k < w->n_fields; k++) {
        if (w->fields[k].dset > 0)
            H5Dclose(w->fields[k].dset);
        w->fields[k].dset = 0;
    }
    if (w->file >= 0)
        H5Fclose(w->file);
    w->file = -1;
    rvti_h5_clear();
}

int rvt_store_commit(struct rvt_store_writer *w, struct rvt_error *err)
{
    int k, ret = 0;

    if (w->failed || w->done)
        return rvt_error_set(err, RVT_EINVAL, "'%s': writer is finished", w->path);
    if ((ret = ensure_created(w, err)) < 0)
        goto done;
    for (k = 0; k < w->n_fields; k++)
        if ((ret = flush_buffer(w, &w->fields[k], err)) < 0)
            goto done;
    if ((ret = set_extent(w, w->n, err)) < 0)
        goto done;
    for (k = 0; k < w->n_fields; k++) {
        herr_t r = H5Dclose(w->fields[k].dset);
        w->fields[k].dset = 0;
        if (r < 0) {
            ret = rvti_h5_fail(err, RVT_EIO, "cannot write '%s' dataset '%s'", w->path,
                               w->fields[k].f.name);
            goto done;
        }
    }
    {
        herr_t r = H5Fclose(w->file);
        w->file = -1;
        if (r < 0) {
            ret = rvti_h5_fail(err, RVT_EIO, "cannot write '%s'", w->path);
            goto done;
        }
    }
    ret = rvt_atomic_commit(&w->at, err);
done:
    if (ret < 0)
        rvt_store_abort(w);
    w->done = true;
    return ret;
}

void rvt_store_abort(struct rvt_store_writer *w)
{
    if (!w || w->done)
        return;
    close_file(w);
    rvt_atomic_abort(&w->at);
    w->done = true;
}

void rvt_store_free(struct rvt_store_writer **pw)
{
    struct rvt_store_writer *w = pw ? *pw : NULL;
    int k;
    if (!w)
        return;
    if (!w->done) {
        close_file(w);
        rvt_atomic_abort(&w->at);
    }
    for (k = 0; k < w->n_fields; k++)
        wfield_release(&w->fields[k]);
    free(w->path);
    free(w);
    *pw = NULL;
}
