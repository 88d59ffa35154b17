/* checkpoint_write.c: the in-memory checkpoint writer (checkpoint.h). */
#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/checkpoint_internal.h"
#include "store/h5io_internal.h"

#define MAX_ATTR_BYTES (1 << 24)

struct rvt_ckpt_writer {
    char *path; /* owned: the output, for messages */
    hid_t file;
};

static const char *basename_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

int rvt_ckpt_writer_new(struct rvt_ckpt_writer **out, const char *path, struct rvt_error *err)
{
    struct rvt_ckpt_writer *w = calloc(1, sizeof(*w));
    hid_t fcpl = -1, fapl = -1;
    int ret = 0;

    *out = w;
    if (!w || !(w->path = strdup(path)))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    w->file = -1;
    rvti_h5_init();
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fcpl < 0 || fapl < 0 || H5Pset_obj_track_times(fcpl, 0) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot create '%s'", path);
        goto done;
    }
    w->file = H5Fcreate(basename_of(path), H5F_ACC_TRUNC, fcpl, fapl);
    if (w->file < 0)
        ret = rvti_h5_fail(err, RVT_EIO, "cannot create '%s'", path);
done:
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    return ret;
}

void rvt_ckpt_writer_free(struct rvt_ckpt_writer **pw)
{
    struct rvt_ckpt_writer *w = *pw;
    if (!w)
        return;
    if (w->file >= 0)
        H5Fclose(w->file);
    free(w->path);
    free(w);
    *pw = NULL;
}

static int write_ds(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank,
                    const int64_t *dims, const void *data, struct rvt_error *err)
{
    hsize_t hd[RVT_CKPT_MAX_RANK];
    hid_t sp = -1, dcpl = -1, ds = -1;
    int ret = 0, i;

    if (rank < 0 || rank > RVT_CKPT_MAX_RANK)
        return rvt_error_set(err, RVT_EINVAL, "cannot create '%s': rank %d", name, rank);
    for (i = 0; i < rank; i++)
        hd[i] = (hsize_t)dims[i];
    sp = H5Screate_simple(rank, hd, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (sp < 0 || dcpl < 0 || H5Pset_obj_track_times(dcpl, 0) < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot create '%s'", name);
        goto done;
    }
    ds = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (ds < 0 || H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot write '%s'", name);
        goto done;
    }
done:
    if (ds >= 0)
        H5Dclose(ds);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    return ret;
}

int rvt_ckpt_write_i8(struct rvt_ckpt_writer *w, const char *key, int rank, const int64_t *dims,
                      const int8_t *data, struct rvt_error *err)
{
    return write_ds(w->file, key, H5T_STD_I8LE, H5T_NATIVE_SCHAR, rank, dims, data, err);
}

int rvt_ckpt_write_f32(struct rvt_ckpt_writer *w, const char *key, int rank,
                       const int64_t *dims, const float *data, struct rvt_error *err)
{
    return write_ds(w->file, key, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, data, err);
}

int rvt_ckpt_copy_dataset(struct rvt_ckpt_writer *w, const struct rvt_ckpt *c, const char *key,
                          struct rvt_error *err)
{
    if (H5Ocopy(rvti_ckpt_file(c), key, w->file, key, H5P_DEFAULT, H5P_DEFAULT) < 0)
        return rvti_h5_fail(err, RVT_EIO, "cannot copy '%s'", key);
    return 0;
}

struct attr_copy {
    hid_t dst;
    bool (*skip)(const char *name);
    int ret;
    struct rvt_error *err;
};

/* Copies one root attribute (any type: read and written with its own file type). */
static herr_t copy_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    struct attr_copy *c = data;
    hid_t a = -1, t = -1, sp = -1, b = -1;
    void *buf = NULL;
    size_t size;
    hssize_t np;

    (void)info;
    if (c->skip && c->skip(name))
        return 0;
    a = H5Aopen(loc, name, H5P_DEFAULT);
    t = a >= 0 ? H5Aget_type(a) : -1;
    sp = a >= 0 ? H5Aget_space(a) : -1;
    np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    size = t >= 0 ? H5Tget_size(t) : 0;
    if (a < 0 || t < 0 || sp < 0 || np < 0 || size == 0 || (size_t)np * size > MAX_ATTR_BYTES) {
        c->ret = rvti_h5_fail(c->err, RVT_EFORMAT, "cannot read attribute '%s'", name);
        goto done;
    }
    buf = calloc((size_t)(np ? np : 1), size);
    if (!buf) {
        c->ret = rvt_error_set(c->err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    if (H5Aread(a, t, buf) < 0) {
        c->ret = rvti_h5_fail(c->err, RVT_EFORMAT, "cannot read attribute '%s'", name);
        goto done;
    }
    b = H5Acreate2(c->dst, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (b < 0 || H5Awrite(b, t, buf) < 0)
        c->ret = rvti_h5_fail(c->err, RVT_EIO, "cannot write attribute '%s'", name);
    if (H5Tdetect_class(t, H5T_VLEN) > 0 || (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0))
        H5Dvlen_reclaim(t, sp, H5P_DEFAULT, buf);
done:
    free(buf);
    if (b >= 0)
        H5Aclose(b);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return c->ret < 0 ? -1 : 0;
}

int rvt_ckpt_copy_attrs(struct rvt_ckpt_writer *w, const struct rvt_ckpt *c,
                        bool (*skip)(const char *name), struct rvt_error *err)
{
    struct attr_copy ac = {.dst = w->file, .skip = skip, .ret = 0, .err = err};
    hsize_t idx = 0;

    if (H5Aiterate2(rvti_ckpt_file(c), H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr_cb, &ac) < 0)
        return ac.ret < 0 ? ac.ret
                          : rvti_h5_fail(err, RVT_EFORMAT, "%s: cannot copy attributes",
                                         rvt_ckpt_path(c));
    return 0;
}

/* A root attribute of n UTF-8 variable-length strings (n < 0: one scalar). */
static int set_strings(hid_t loc, const char *name, const char *const *v, int n,
                       struct rvt_error *err)
{
    hsize_t d = (hsize_t)(n < 0 ? 1 : n);
    hid_t t = H5Tcopy(H5T_C_S1), sp = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    hid_t a = -1;
    int ret = 0;

    if (t < 0 || sp < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        (a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        (n != 0 && H5Awrite(a, t, v) < 0))
        ret = rvti_h5_fail(err, RVT_EIO, "cannot write attribute '%s'", name);
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    return ret;
}

int rvt_ckpt_set_str(struct rvt_ckpt_writer *w, const char *name, const char *value,
                     struct rvt_error *err)
{
    return set_strings(w->file, name, &value, -1, err);
}

int rvt_ckpt_set_strs(struct rvt_ckpt_writer *w, const char *name, char *const *v, int n,
                      struct rvt_error *err)
{
    return set_strings(w->file, name, (const char *const *)v, n, err);
}

static int set_num(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v,
                   struct rvt_error *err)
{
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    int ret = 0;

    if (sp < 0 || (a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, mtype, v) < 0)
        ret = rvti_h5_fail(err, RVT_EIO, "cannot write attribute '%s'", name);
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return ret;
}

int rvt_ckpt_set_i64(struct rvt_ckpt_writer *w, const char *name, int64_t v,
                     struct rvt_error *err)
{
    return set_num(w->file, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, err);
}

int rvt_ckpt_set_f64(struct rvt_ckpt_writer *w, const char *name, double v,
                     struct rvt_error *err)
{
    return set_num(w->file, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, err);
}

int rvt_ckpt_writer_save(struct rvt_ckpt_writer *w, struct rvt_atomic *a, const char *path,
                         struct rvt_error *err)
{
    ssize_t n;
    void *buf;
    int ret = 0;

    if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(w->file, NULL, 0)) <= 0)
        return rvti_h5_fail(err, RVT_EIO, "cannot write '%s'", path);
    if (!(buf = malloc((size_t)n)))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if (H5Fget_file_image(w->file, buf, (size_t)n) != n)
        ret = rvti_h5_fail(err, RVT_EIO, "cannot write '%s'", path);
    else if (fwrite(buf, 1, (size_t)n, a->fp) != (size_t)n || fflush(a->fp) != 0)
        ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", path, strerror(errno));
    free(buf);
    if (ret < 0)
        return ret;
    ret = H5Fclose(w->file) < 0 ? rvti_h5_fail(err, RVT_EIO, "cannot write '%s'", path) : 0;
    w->file = -1;
    return ret;
}
