/*
 * store_read.c: the store reader.
 *
 * rvt_store_open reads /clips/id whole (the id length plus one byte a clip, and
 * a size_t of sort order: ~26 bytes a clip for RAVDESS ids) and sorts an index
 * on it for rvt_store_find; datasets are opened on first use and kept open, so
 * per-clip reads cost one hyperslab selection and one H5Dread.
 */
#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/h5io_internal.h"
#include "store/store.h"
#include "core/inputs.h"

#define MAX_ATTR_VALUES 1000000

struct rfield {
    struct rvt_store_field info; /* info.name owned */
    hid_t dset, fspace, mspace, mtype;
    int deflate;                 /* -2 = not yet known */
    bool big_endian;
};

struct rvt_store_reader {
    char *path;
    hid_t file;
    size_t n;
    char *ids;                   /* n * stride, NUL-terminated */
    size_t stride;
    size_t *order;               /* clip indices sorted by id */
    char **names;                /* datasets other than clips/id, sorted */
    int n_names;
    bool names_truncated;
    struct rfield *fields[RVT_STORE_MAX_DATASETS];
    int n_fields;
};

static void rfield_free(struct rfield *f)
{
    if (!f)
        return;
    if (f->mtype > 0)
        H5Tclose(f->mtype);
    if (f->mspace > 0)
        H5Sclose(f->mspace);
    if (f->fspace > 0)
        H5Sclose(f->fspace);
    if (f->dset > 0)
        H5Dclose(f->dset);
    free((char *)f->info.name);
    free(f);
}

void rvt_store_close(struct rvt_store_reader **pr)
{
    struct rvt_store_reader *r = pr ? *pr : NULL;
    int k;
    if (!r)
        return;
    for (k = 0; k < r->n_fields; k++)
        rfield_free(r->fields[k]);
    for (k = 0; k < r->n_names; k++)
        free(r->names[k]);
    free(r->names);
    if (r->file >= 0)
        H5Fclose(r->file);
    rvti_h5_clear();
    free(r->ids);
    free(r->order);
    free(r->path);
    free(r);
    *pr = NULL;
}

/* ---- attributes ---- */

static int read_attr_strings(const struct rvt_store_reader *r, const char *name, char ***out,
                             size_t *n_out, bool *scalar, struct rvt_error *err)
{
    hid_t attr = -1, ftype = -1, mtype = -1, space = -1;
    char **vals = NULL, *fixed = NULL;
    char **vl = NULL;
    hssize_t npts;
    size_t n = 0, k, size = 0;
    int ret = 0;
    htri_t ex, is_vl;

    *out = NULL;
    *n_out = 0;
    ex = H5Aexists(r->file, name);
    if (ex < 0)
        return rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' attribute '%s'", r->path, name);
    if (!ex)
        return rvt_error_set(err, RVT_EFORMAT, "'%s' has no attribute '%s'", r->path, name);
    attr = H5Aopen(r->file, name, H5P_DEFAULT);
    ftype = attr >= 0 ? H5Aget_type(attr) : -1;
    space = attr >= 0 ? H5Aget_space(attr) : -1;
    if (attr < 0 || ftype < 0 || space < 0) {
        ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' attribute '%s'", r->path, name);
        goto done;
    }
    if (H5Tget_class(ftype) != H5T_STRING) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': attribute '%s' is not a string", r->path, name);
        goto done;
    }
    *scalar = H5Sget_simple_extent_type(space) == H5S_SCALAR;
    npts = H5Sget_simple_extent_npoints(space);
    if (npts < 0 || npts > MAX_ATTR_VALUES || (!*scalar && H5Sget_simple_extent_ndims(space) != 1)) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': attribute '%s' is not a string or a list",
                            r->path, name);
        goto done;
    }
    n = (size_t)npts;
    vals = calloc(n ? n : 1, sizeof(*vals));
    if (!vals) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    is_vl = H5Tis_variable_str(ftype);
    mtype = H5Tcopy(H5T_C_S1);
    if (is_vl < 0 || mtype < 0) {
        ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' attribute '%s'", r->path, name);
        goto done;
    }
    if (is_vl) {
        vl = calloc(n ? n : 1, sizeof(*vl));
        if (!vl) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        if (H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0 ||
            H5Aread(attr, mtype, vl) < 0) {
            ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' attribute '%s'", r->path, name);
            /* a read that failed part-way may have converted some strings already (vl
             * was zeroed, so the others are NULL, which the reclaim skips) */
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, vl);
            free(vl);
            vl = NULL;
            goto done;
        }
        for (k = 0; k < n && ret == 0; k++)
            if (!(vals[k] = strdup(vl[k] ? vl[k] : "")))
                ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, vl);
        free(vl);
    } else {
        size = H5Tget_size(ftype) + 1;
        fixed = malloc(n * size + 1);
        if (!fixed) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        if (H5Tset_size(mtype, size) < 0 || H5Tset_strpad(mtype, H5T_STR_NULLTERM) < 0 ||
            H5Aread(attr, mtype, fixed) < 0) {
            ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' attribute '%s'", r->path, name);
            goto done;
        }
        for (k = 0; k < n && ret == 0; k++)
            if (!(vals[k] = strdup(fixed + k * size)))
                ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
done:
    free(fixed);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (space >= 0)
        H5Sclose(space);
    if (attr >= 0)
        H5Aclose(attr);
    if (ret < 0) {
        rvt_store_list_free(&vals, n);
    } else {
        *out = vals;
        *n_out = n;
    }
    return ret;
}

void rvt_store_list_free(char ***values, size_t n)
{
    size_t k;
    if (!values || !*values)
        return;
    for (k = 0; k < n; k++)
        free((*values)[k]);
    free(*values);
    *values = NULL;
}

int rvt_store_get_attr_list(const struct rvt_store_reader *r, const char *name, char ***values,
                            size_t *n, struct rvt_error *err)
{
    bool scalar;
    return read_attr_strings(r, name, values, n, &scalar, err);
}

int rvt_store_get_attr(const struct rvt_store_reader *r, const char *name, char **value,
                       struct rvt_error *err)
{
    char **vals = NULL;
    size_t n = 0;
    bool scalar = false;
    int ret = read_attr_strings(r, name, &vals, &n, &scalar, err);

    *value = NULL;
    if (ret < 0)
        return ret;
    if (!scalar || n != 1) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': attribute '%s' is a list, not one string",
                            r->path, name);
    } else {
        *value = vals[0];
        vals[0] = NULL;
    }
    rvt_store_list_free(&vals, n);
    return ret;
}

int rvt_store_has_attr(const struct rvt_store_reader *r, const char *name)
{
    htri_t ex = H5Aexists(r->file, name);
    if (ex < 0)
        rvti_h5_clear();
    return ex > 0;
}

/* ---- datasets ---- */

struct visit {
    struct rvt_store_reader *r;
    int ret;
};

static herr_t visit_cb(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    struct visit *v = data;
    struct rvt_store_reader *r = v->r;
    hid_t obj;
    char **names;

    if (info->type != H5L_TYPE_HARD || !strcmp(name, "clips/id"))
        return 0;
    obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0) {
        rvti_h5_clear();
        return 0;
    }
    if (H5Iget_type(obj) == H5I_DATASET) {
        if (r->n_names >= RVT_STORE_MAX_DATASETS) {
            r->names_truncated = true;
        } else if (!(names = realloc(r->names, (r->n_names + 1) * sizeof(*names))) ||
                   !(r->names = names, names[r->n_names] = strdup(name))) {
            v->ret = RVT_ENOMEM;
        } else {
            r->n_names++;
        }
    }
    H5Oclose(obj);
    return v->ret < 0 ? -1 : 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct rvt_store_reader *g_sort_reader; /* only during qsort, on one thread */

static int cmp_order(const void *a, const void *b)
{
    const struct rvt_store_reader *r = g_sort_reader;
    return strcmp(r->ids + *(const size_t *)a * r->stride, r->ids + *(const size_t *)b * r->stride);
}

static int read_ids(struct rvt_store_reader *r, struct rvt_error *err)
{
    hid_t d = -1, ft = -1, mt = -1, sp = -1;
    hsize_t dims[2];
    size_t i;
    int ret = 0;
    htri_t ex;

    ex = H5Lexists(r->file, "clips", H5P_DEFAULT);
    if (ex > 0)
        ex = H5Lexists(r->file, "clips/id", H5P_DEFAULT);
    if (ex <= 0) {
        rvti_h5_clear();
        return rvt_error_set(err, RVT_EFORMAT, "'%s' has no dataset 'clips/id'", r->path);
    }
    d = H5Dopen2(r->file, "clips/id", H5P_DEFAULT);
    ft = d >= 0 ? H5Dget_type(d) : -1;
    sp = d >= 0 ? H5Dget_space(d) : -1;
    if (d < 0 || ft < 0 || sp < 0) {
        ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' dataset 'clips/id'", r->path);
        goto done;
    }
    if (H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) != 0 ||
        H5Sget_simple_extent_ndims(sp) != 1) {
        ret = rvt_error_set(err, RVT_EFORMAT,
                            "'%s': dataset 'clips/id' is not a 1-D fixed-length string array",
                            r->path);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    if (dims[0] > RVT_STORE_MAX_CLIPS) {
        ret = rvt_error_set(err, RVT_ELIMIT, "'%s': %llu clips, more than the cap of %d", r->path,
                            (unsigned long long)dims[0], RVT_STORE_MAX_CLIPS);
        goto done;
    }
    r->n = (size_t)dims[0];
    r->stride = H5Tget_size(ft) + 1;
    if (r->stride > 4096) {
        ret = rvt_error_set(err, RVT_ELIMIT, "'%s': clip ids of %zu bytes", r->path, r->stride);
        goto done;
    }
    r->ids = malloc(r->n * r->stride + 1);
    r->order = malloc((r->n + 1) * sizeof(*r->order));
    mt = H5Tcopy(H5T_C_S1);
    if (!r->ids || !r->order || mt < 0) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    if (r->n && (H5Tset_size(mt, r->stride) < 0 || H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0 ||
                 H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->ids) < 0)) {
        ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' dataset 'clips/id'", r->path);
        goto done;
    }
    for (i = 0; i < r->n; i++) {
        r->order[i] = i;
        if (!r->ids[i * r->stride]) {
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s': clip %zu has an empty id", r->path, i);
            goto done;
        }
    }
    g_sort_reader = r;
    qsort(r->order, r->n, sizeof(*r->order), cmp_order);
    g_sort_reader = NULL;
    for (i = 1; i < r->n; i++)
        if (!strcmp(r->ids + r->order[i] * r->stride, r->ids + r->order[i - 1] * r->stride)) {
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s': clip id '%s' appears twice", r->path,
                                r->ids + r->order[i] * r->stride);
            goto done;
        }
done:
    if (mt >= 0)
        H5Tclose(mt);
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return ret;
}

int rvt_store_open(struct rvt_store_reader **out, const char *path, struct rvt_error *err)
{
    struct rvt_store_reader *r;
    struct visit v = {0};
    char *ver = NULL;
    hid_t fapl = -1;
    int ret = 0;

    *out = NULL;
    rvti_h5_init();
    r = calloc(1, sizeof(*r));
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    r->file = -1;
    if ((ret = rvt_input_check(path, err)) < 0)
        goto done;
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || rvti_h5_small_cache(fapl) < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot open '%s'", path);
        goto done;
    }
    r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (r->file < 0) {
        ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot open '%s'", path);
        goto done;
    }
    if (!rvt_store_has_attr(r, "schema_version")) {
        if (rvt_store_has_attr(r, "architecture") || rvt_store_has_attr(r, "format"))
            ret = rvt_error_set(err, RVT_EFORMAT,
                                "'%s' is a model checkpoint, not a feature store", path);
        else
            ret = rvt_error_set(err, RVT_EFORMAT,
                                "'%s' is not a ravdess-tools store (no schema_version attribute)",
                                path);
        goto done;
    }
    if ((ret = rvt_store_get_attr(r, "schema_version", &ver, err)) < 0)
        goto done;
    if (strcmp(ver, RVT_STORE_SCHEMA_VERSION)) {
        ret = rvt_error_set(err, RVT_EUNSUPPORTED,
                            "'%s' has store schema version '%s', this build reads version '%s'",
                            path, ver, RVT_STORE_SCHEMA_VERSION);
        goto done;
    }
    if (!rvt_store_has_attr(r, "kind") && rvt_store_has_attr(r, "architecture")) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s' is a model checkpoint, not a feature store", path);
        goto done;
    }
    if ((ret = read_ids(r, err)) < 0)
        goto done;
    v.r = r;
    if (H5Lvisit(r->file, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &v) < 0) {
        ret = v.ret < 0 ? rvt_error_set(err, v.ret, "out of memory")
                        : rvti_h5_fail(err, RVT_EFORMAT, "cannot list the datasets of '%s'", path);
        goto done;
    }
    if (r->n_names > 1) /* qsort of NULL, 0 is undefined: a store with no dataset (fuzz_store) */
        qsort(r->names, r->n_names, sizeof(*r->names), cmp_names);
done:
    free(ver);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (ret < 0)
        rvt_store_close(&r);
    *out = r;
    return ret;
}

size_t rvt_store_count(const struct rvt_store_reader *r)
{
    return r->n;
}

const char *rvt_store_id(const struct rvt_store_reader *r, size_t i)
{
    return i < r->n ? r->ids + i * r->stride : NULL;
}

long rvt_store_find(const struct rvt_store_reader *r, const char *id)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->ids + r->order[mid] * r->stride, id);
        if (c == 0)
            return (long)r->order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *rvt_store_path(const struct rvt_store_reader *r)
{
    return r->path;
}

int rvt_store_n_datasets(const struct rvt_store_reader *r)
{
    return r->n_names;
}

const char *rvt_store_dataset_name(const struct rvt_store_reader *r, int k)
{
    return k >= 0 && k < r->n_names ? r->names[k] : NULL;
}

int rvt_store_has(const struct rvt_store_reader *r, const char *name)
{
    int k;
    if (!strcmp(name, "clips/id"))
        return 1;
    for (k = 0; k < r->n_names; k++)
        if (!strcmp(r->names[k], name))
            return 1;
    return 0;
}

static int dtype_of(hid_t t, enum rvt_dtype *out)
{
    size_t size = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        if (size == 1 && H5Tget_sign(t) == H5T_SGN_NONE)
            return *out = RVT_DTYPE_U8, 0;
        if (size == 4 && H5Tget_sign(t) == H5T_SGN_2)
            return *out = RVT_DTYPE_I32, 0;
        if (size == 8 && H5Tget_sign(t) == H5T_SGN_2)
            return *out = RVT_DTYPE_I64, 0;
        return -1;
    case H5T_FLOAT:
        if (size == 4)
            return *out = RVT_DTYPE_F32, 0;
        if (size == 8)
            return *out = RVT_DTYPE_F64, 0;
        return -1;
    case H5T_STRING:
        if (H5Tis_variable_str(t) != 0)
            return -1;
        return *out = RVT_DTYPE_STR, 0;
    default:
        return -1;
    }
}

/*
 * Every filter of a dataset's pipeline decodable by this libhdf5: a store h5py wrote
 * with lzf (h5py's own filter) or another plugin's compression would otherwise fail
 * clip by clip with libhdf5's message about its plugin folder.
 */
static int filters_available(const struct rvt_store_reader *r, hid_t dset, const char *name,
                             struct rvt_error *err)
{
    hid_t dcpl = H5Dget_create_plist(dset);
    int nf, i, ret = 0;

    if (dcpl < 0)
        return rvti_h5_fail(err, RVT_EFORMAT, "cannot open '%s' dataset '%s'", r->path, name);
    nf = H5Pget_nfilters(dcpl);
    for (i = 0; i < nf && ret == 0; i++) {
        unsigned flags, cd[8], cfg;
        size_t ncd = 8;
        char nm[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof(nm), nm, &cfg);
        nm[sizeof(nm) - 1] = '\0';
        if (id < 0 || H5Zfilter_avail(id) <= 0)
            ret = rvt_error_set(err, RVT_EFORMAT,
                                "'%s': dataset '%s' is compressed with HDF5 filter %d%s%s%s, which "
                                "this HDF5 library cannot decode (ravdess-tools writes gzip; "
                                "h5repack -f GZIP=4 rewrites a file with it)",
                                r->path, name, (int)id, nm[0] ? " ('" : "", nm, nm[0] ? "')" : "");
    }
    rvti_h5_clear();
    H5Pclose(dcpl);
    return ret;
}

static int get_field(struct rvt_store_reader *r, const char *name, struct rfield **out,
                     struct rvt_error *err)
{
    struct rfield *f = NULL;
    hid_t ft = -1;
    hsize_t dims[RVT_STORE_MAX_RANK + 2], one[RVT_STORE_MAX_RANK + 2];
    int k, rank, ret = 0;

    for (k = 0; k < r->n_fields; k++)
        if (!strcmp(r->fields[k]->info.name, name)) {
            *out = r->fields[k];
            return 0;
        }
    *out = NULL;
    if (!rvt_store_has(r, name))
        return rvt_error_set(err, RVT_EFORMAT, "'%s' has no dataset '%s'", r->path, name);
    if (r->n_fields >= RVT_STORE_MAX_DATASETS)
        return rvt_error_set(err, RVT_ELIMIT, "'%s': more than %d datasets in use", r->path,
                             RVT_STORE_MAX_DATASETS);
    f = calloc(1, sizeof(*f));
    if (!f || !(f->info.name = strdup(name))) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    f->deflate = -2;
    f->dset = H5Dopen2(r->file, name, H5P_DEFAULT);
    ft = f->dset >= 0 ? H5Dget_type(f->dset) : -1;
    f->fspace = f->dset >= 0 ? H5Dget_space(f->dset) : -1;
    if (f->dset < 0 || ft < 0 || f->fspace < 0) {
        ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot open '%s' dataset '%s'", r->path, name);
        goto done;
    }
    if ((ret = filters_available(r, f->dset, name, err)) < 0)
        goto done;
    rank = H5Sget_simple_extent_ndims(f->fspace);
    if (rank < 1 || rank > RVT_STORE_MAX_RANK + 1 || dtype_of(ft, &f->info.dtype) < 0) {
        ret = rvt_error_set(err, RVT_EUNSUPPORTED,
                            "'%s': dataset '%s' has a type or rank the store does not read",
                            r->path, name);
        goto done;
    }
    f->big_endian = H5Tget_order(ft) == H5T_ORDER_BE;
    H5Sget_simple_extent_dims(f->fspace, dims, NULL);
    if (dims[0] != r->n) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': dataset '%s' has %llu clips, clips/id has %zu",
                            r->path, name, (unsigned long long)dims[0], r->n);
        goto done;
    }
    f->info.rank = rank - 1;
    for (k = 1; k < rank; k++)
        f->info.dims[k - 1] = dims[k];
    one[0] = 1;
    for (k = 1; k < rank; k++)
        one[k] = dims[k];
    if (f->info.dtype == RVT_DTYPE_STR) {
        if (rank != 1) {
            ret = rvt_error_set(err, RVT_EUNSUPPORTED,
                                "'%s': string dataset '%s' has more than one string a clip",
                                r->path, name);
            goto done;
        }
        f->info.dims[0] = H5Tget_size(ft) + 1;
    }
    f->mspace = H5Screate_simple(rank, one, NULL);
    f->mtype = rvti_h5_mem_type(f->info.dtype, (size_t)f->info.dims[0]);
    if (f->mspace < 0 || f->mtype < 0) {
        ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot open '%s' dataset '%s'", r->path, name);
        goto done;
    }
    r->fields[r->n_fields++] = f;
    *out = f;
    f = NULL;
done:
    if (ft >= 0)
        H5Tclose(ft);
    rfield_free(f);
    return ret;
}

int rvt_store_field_info(const struct rvt_store_reader *r, const char *name,
                         struct rvt_store_field *out, struct rvt_error *err)
{
    struct rfield *f;
    /* opening caches the handle; the reader is logically unchanged */
    int ret = get_field((struct rvt_store_reader *)r, name, &f, err);
    if (ret == 0)
        *out = f->info; /* out->name points into the reader, valid until close */
    return ret;
}

int rvt_store_read(struct rvt_store_reader *r, const char *name, size_t i, void *dst,
                   struct rvt_error *err)
{
    struct rfield *f;
    hsize_t start[RVT_STORE_MAX_RANK + 1] = {0}, cnt[RVT_STORE_MAX_RANK + 1];
    int ret, k, rank;

    if ((ret = get_field(r, name, &f, err)) < 0)
        return ret;
    if (i >= r->n)
        return rvt_error_set(err, RVT_EINVAL, "'%s': clip %zu of %zu", r->path, i, r->n);
    rank = f->info.dtype == RVT_DTYPE_STR ? 0 : f->info.rank;
    start[0] = i;
    cnt[0] = 1;
    for (k = 0; k < rank; k++)
        cnt[k + 1] = f->info.dims[k];
    if (H5Sselect_hyperslab(f->fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
        H5Dread(f->dset, f->mtype, f->mspace, f->fspace, H5P_DEFAULT, dst) < 0)
        return rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' dataset '%s' clip %zu", r->path,
                            name, i);
    return 0;
}

int rvt_store_field_deflate(struct rvt_store_reader *r, const char *name, struct rvt_error *err)
{
    struct rfield *f;
    hid_t dcpl = -1;
    hsize_t chunk[RVT_STORE_MAX_RANK + 2];
    int ret, k, nf, rank;

    if ((ret = get_field(r, name, &f, err)) < 0)
        return ret;
    if (f->deflate != -2)
        return f->deflate;
    f->deflate = -1;
    if (f->big_endian)
        return f->deflate;
    rank = f->info.dtype == RVT_DTYPE_STR ? 0 : f->info.rank;
    dcpl = H5Dget_create_plist(f->dset);
    if (dcpl < 0)
        return rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' dataset '%s'", r->path, name);
    if (H5Pget_layout(dcpl) != H5D_CHUNKED || H5Pget_chunk(dcpl, rank + 1, chunk) != rank + 1 ||
        chunk[0] != 1)
        goto done;
    for (k = 0; k < rank; k++)
        if (chunk[k + 1] != f->info.dims[k])
            goto done;
    nf = H5Pget_nfilters(dcpl);
    if (nf == 0) {
        f->deflate = 0;
    } else if (nf == 2) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        unsigned cfg;
        char nm[64];
        unsigned level;
        if (H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, sizeof(nm), nm, &cfg) != H5Z_FILTER_SHUFFLE)
            goto done;
        ncd = 8;
        if (H5Pget_filter2(dcpl, 1, &flags, &ncd, cd, sizeof(nm), nm, &cfg) != H5Z_FILTER_DEFLATE ||
            ncd < 1)
            goto done;
        level = cd[0];
        if (level >= 1 && level <= 9)
            f->deflate = (int)level;
    }
done:
    rvti_h5_clear();
    H5Pclose(dcpl);
    return f->deflate;
}

int rvt_store_read_chunk(struct rvt_store_reader *r, const char *name, size_t i,
                         struct rvt_store_chunk *out, struct rvt_error *err)
{
    struct rfield *f;
    hsize_t off[RVT_STORE_MAX_RANK + 1] = {0}, size = 0;
    int ret;

    if ((ret = rvt_store_field_deflate(r, name, err)) < -1)
        return ret;
    if (ret == -1)
        return rvt_error_set(err, RVT_EUNSUPPORTED,
                             "'%s': dataset '%s' is not chunked one clip a chunk with shuffle+deflate",
                             r->path, name);
    if ((ret = get_field(r, name, &f, err)) < 0)
        return ret;
    if (i >= r->n)
        return rvt_error_set(err, RVT_EINVAL, "'%s': clip %zu of %zu", r->path, i, r->n);
    off[0] = i;
    if (H5Dget_chunk_storage_size(f->dset, off, &size) < 0)
        return rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' dataset '%s' clip %zu", r->path,
                            name, i);
    if (size == 0 || size > ((hsize_t)1 << 32))
        return rvt_error_set(err, RVT_EFORMAT, "'%s': dataset '%s' clip %zu was never written",
                             r->path, name, i);
    if (out->cap < size) {
        void *p = realloc(out->data, (size_t)size);
        if (!p)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        out->data = p;
        out->cap = (size_t)size;
    }
    if (H5Dread_chunk(f->dset, H5P_DEFAULT, off, &out->filter_mask, out->data) < 0)
        return rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s' dataset '%s' clip %zu", r->path,
                            name, i);
    out->size = (size_t)size;
    return 0;
}

/* ---- kinds ---- */

static void layout_text(const struct rvt_store_field *f, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "%s[", rvt_dtype_name(f->dtype));
    int k;
    for (k = 0; k < (f->dtype == RVT_DTYPE_STR ? 0 : f->rank) && len < n; k++)
        len += (size_t)snprintf(buf + len, n - len, "%s%llu", k ? "," : "",
                                (unsigned long long)f->dims[k]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

/*
 * Dataset name, when present (or when required), has dtype and per-clip rank
 * (last > 0: the last dimension must be that).  want: the expected layout as
 * the message shows it.
 */
static int check_field(struct rvt_store_reader *r, const char *kind, const char *name, bool required,
                       enum rvt_dtype dtype, int rank, uint64_t last, const char *want,
                       struct rvt_store_field *out, struct rvt_error *err)
{
    struct rvt_store_field f;
    char have[160];
    int ret, k;

    memset(out, 0, sizeof(*out));
    if (!rvt_store_has(r, name))
        return required ? rvt_error_set(err, RVT_EFORMAT,
                                        "'%s' has no dataset '%s' (a %s store needs it)", r->path,
                                        name, kind)
                        : 0;
    if ((ret = rvt_store_field_info(r, name, &f, err)) < 0)
        return ret == RVT_EUNSUPPORTED
                   ? rvt_error_set(err, RVT_EFORMAT,
                                   "'%s': dataset '%s' has a type or rank the store does not read, "
                                   "a %s store has %s",
                                   r->path, name, kind, want)
                   : ret;
    for (k = 0; k < (f.dtype == RVT_DTYPE_STR ? 0 : f.rank); k++)
        if (f.dims[k] == 0)
            break;
    if (f.dtype != dtype || (dtype != RVT_DTYPE_STR && f.rank != rank) ||
        (dtype != RVT_DTYPE_STR && k < f.rank) || (last && f.dims[f.rank - 1] != last)) {
        layout_text(&f, have, sizeof(have));
        return rvt_error_set(err, RVT_EFORMAT, "'%s': dataset '%s' is %s a clip, a %s store has %s",
                             r->path, name, have, kind, want);
    }
    *out = f;
    return 1;
}

int rvt_store_check_kind(struct rvt_store_reader *r, const char *kind, struct rvt_error *err)
{
    struct rvt_store_field fr, pts, mel, f;
    char *have = NULL;
    bool features;
    int ret = 0;

    if (strcmp(kind, "mel") && strcmp(kind, "frames") && strcmp(kind, "features"))
        return rvt_error_set(err, RVT_EINVAL, "unknown store kind '%s'", kind);
    features = !strcmp(kind, "features");
    if (!rvt_store_has_attr(r, "kind"))
        return rvt_error_set(err, RVT_EFORMAT, "'%s' has no attribute 'kind', expected a %s store",
                             r->path, kind);
    if ((ret = rvt_store_get_attr(r, "kind", &have, err)) < 0)
        return ret;
    if (strcmp(have, kind)) {
        ret = rvt_error_set(err, RVT_EMISMATCH, "'%s' is a%s %s store, expected a %s store", r->path,
                            strchr("aeiou", have[0]) && have[0] ? "n" : "", have[0] ? have : "''",
                            kind);
        goto done;
    }
    if (!rvt_store_has_attr(r, "config")) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s' has no attribute 'config' (a %s store records it)",
                            r->path, kind);
        goto done;
    }
    if (!strcmp(kind, "frames") || features) {
        if ((ret = check_field(r, kind, "frames", !features, RVT_DTYPE_U8, 4, 3, "u8[K,H,W,3]", &fr,
                               err)) < 0 ||
            (ret = check_field(r, kind, "frame_pts", !features, RVT_DTYPE_F64, 1, 0,
                               "f64[K]", &pts, err)) < 0)
            goto done;
        if (ret > 0 && fr.rank == 4 && pts.rank == 1 && pts.dims[0] != fr.dims[0]) {
            ret = rvt_error_set(err, RVT_EFORMAT,
                                "'%s': dataset 'frame_pts' has %llu times a clip, 'frames' %llu frames",
                                r->path, (unsigned long long)pts.dims[0],
                                (unsigned long long)fr.dims[0]);
            goto done;
        }
    }
    if (!strcmp(kind, "mel") || features) {
        if ((ret = check_field(r, kind, "mel", !features, RVT_DTYPE_F32, 2, 0, "f32[n_mels,max_len]",
                               &mel, err)) < 0 ||
            (ret = check_field(r, kind, "mel_frames", !features, RVT_DTYPE_I32, 0, 0,
                               "i32[]", &f, err)) < 0)
            goto done;
    }
    if (features) {
        if ((ret = check_field(r, kind, "clips/label", true, RVT_DTYPE_I32, 0, 0, "i32[]", &f, err)) < 0 ||
            (ret = check_field(r, kind, "clips/split", true, RVT_DTYPE_STR, 0, 0, "str", &f, err)) < 0)
            goto done;
        if (!rvt_store_has_attr(r, "class_names")) {
            ret = rvt_error_set(err, RVT_EFORMAT,
                                "'%s' has no attribute 'class_names' (a features store records it)",
                                r->path);
            goto done;
        }
    }
    ret = 0;
done:
    free(have);
    return ret;
}

int rvt_store_open_kind(struct rvt_store_reader **out, const char *path, const char *kind,
                        struct rvt_error *err)
{
    int ret = rvt_store_open(out, path, err);
    if (ret == 0 && (ret = rvt_store_check_kind(*out, kind, err)) < 0)
        rvt_store_close(out);
    return ret;
}
