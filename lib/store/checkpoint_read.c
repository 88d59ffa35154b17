/* checkpoint_read.c: the checkpoint reader (checkpoint.h). */
#include "core/common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>

#include "core/inputs.h"
#include "store/checkpoint.h"
#include "store/checkpoint_internal.h"

struct key {
    char *name;
    bool used;
};

struct rvt_ckpt {
    char *path;
    hid_t file;
    struct key *keys; /* sorted by name */
    size_t n_keys, cap_keys;
    bool too_many;
};

/* The innermost HDF5 error message ("truncated file: eof = ..."). */
static herr_t first_error(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc)
        snprintf(buf, 256, "%s", e->desc);
    return 0;
}

static const char *h5_reason(char *buf)
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, buf);
    H5Eclear2(H5E_DEFAULT);
    if (!buf[0])
        snprintf(buf, 256, "HDF5 error");
    return buf;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const struct key *)a)->name, ((const struct key *)b)->name);
}

static struct key *find_key(const struct rvt_ckpt *c, const char *name)
{
    struct key k;
    k.name = (char *)name;
    return bsearch(&k, c->keys, c->n_keys, sizeof(*c->keys), cmp_key);
}

static herr_t add_key(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    struct rvt_ckpt *c = data;
    H5O_info_t oi;

    (void)info;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
        return 0; /* groups and the like are not state_dict keys */
    if (c->n_keys >= RVT_CKPT_MAX_KEYS) {
        c->too_many = true;
        return 1;
    }
    if (c->n_keys == c->cap_keys) {
        size_t cap = c->cap_keys ? 2 * c->cap_keys : 512;
        struct key *k = realloc(c->keys, cap * sizeof(*k));
        if (!k)
            return -1;
        c->keys = k;
        c->cap_keys = cap;
    }
    c->keys[c->n_keys].name = strdup(name);
    if (!c->keys[c->n_keys].name)
        return -1;
    c->keys[c->n_keys++].used = false;
    return 0;
}

int rvt_ckpt_open(struct rvt_ckpt **out, const char *path, struct rvt_error *err)
{
    struct rvt_ckpt *c = NULL;
    char why[256];
    htri_t is;
    int ret = 0;

    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported through err */
    c = calloc(1, sizeof(*c));
    if (!c || !(c->path = strdup(path))) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    c->file = -1;
    if ((ret = rvt_input_check(path, err)) < 0)
        goto done;
    is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s' is not an HDF5 file", path);
        goto done;
    }
    c->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (c->file < 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "cannot open '%s': %s", path, h5_reason(why));
        goto done;
    }
    /* a feature store (lib/store) has a schema_version and a kind, a checkpoint no kind */
    if (rvt_ckpt_has_attr(c, "schema_version") && rvt_ckpt_has_attr(c, "kind")) {
        char *kind = NULL;
        struct rvt_error e2 = {0};
        rvt_ckpt_attr_str(c, "kind", &kind, &e2);
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s' is a%s %s store, expected a model checkpoint",
                            path, kind && strchr("aeiou", kind[0]) && kind[0] ? "n" : "",
                            kind ? kind : "feature");
        free(kind);
        goto done;
    }
    if (H5Literate(c->file, H5_INDEX_NAME, H5_ITER_INC, NULL, add_key, c) < 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "cannot list '%s': %s", path, h5_reason(why));
        goto done;
    }
    if (c->too_many) {
        ret = rvt_error_set(err, RVT_ELIMIT, "'%s' holds more than %d datasets", path,
                            RVT_CKPT_MAX_KEYS);
        goto done;
    }
    qsort(c->keys, c->n_keys, sizeof(*c->keys), cmp_key);
done:
    if (ret < 0)
        rvt_ckpt_close(&c);
    *out = c;
    return ret;
}

void rvt_ckpt_close(struct rvt_ckpt **cp)
{
    struct rvt_ckpt *c = *cp;
    size_t i;

    if (!c)
        return;
    if (c->file >= 0)
        H5Fclose(c->file);
    for (i = 0; i < c->n_keys; i++)
        free(c->keys[i].name);
    free(c->keys);
    free(c->path);
    free(c);
    *cp = NULL;
}

const char *rvt_ckpt_path(const struct rvt_ckpt *c)
{
    return c->path;
}

int rvt_ckpt_has_attr(const struct rvt_ckpt *c, const char *name)
{
    htri_t r = H5Aexists(c->file, name);
    H5Eclear2(H5E_DEFAULT);
    return r > 0;
}

/* One open root attribute: its id, type and dataspace (-1 when not open). */
struct attr {
    hid_t aid, tid, sp;
    hssize_t n; /* elements */
};

static void close_attr(struct attr *a)
{
    if (a->sp >= 0)
        H5Sclose(a->sp);
    if (a->tid >= 0)
        H5Tclose(a->tid);
    if (a->aid >= 0)
        H5Aclose(a->aid);
}

/* Opens attribute `name` of the root; its type class must be `cls`.  Whatever
 * happens, close_attr(a) afterwards releases what was opened. */
static int open_attr(struct rvt_ckpt *c, const char *name, H5T_class_t cls, struct attr *a,
                     struct rvt_error *err)
{
    char why[256];

    a->aid = a->tid = a->sp = -1;
    a->n = 0;
    if (!rvt_ckpt_has_attr(c, name))
        return rvt_error_set(err, RVT_EFORMAT, "%s: missing attribute '%s'", c->path, name);
    a->aid = H5Aopen(c->file, name, H5P_DEFAULT);
    if (a->aid < 0)
        return rvt_error_set(err, RVT_EFORMAT, "%s: cannot read attribute '%s': %s", c->path,
                             name, h5_reason(why));
    a->tid = H5Aget_type(a->aid);
    if (a->tid < 0 || H5Tget_class(a->tid) != cls)
        return rvt_error_set(err, RVT_EFORMAT, "%s: attribute '%s' is not %s", c->path, name,
                             cls == H5T_STRING ? "a string" : "an integer");
    a->sp = H5Aget_space(a->aid);
    a->n = a->sp < 0 ? -1 : H5Sget_simple_extent_npoints(a->sp);
    if (a->n < 0)
        return rvt_error_set(err, RVT_EFORMAT, "%s: cannot read attribute '%s': %s", c->path,
                             name, h5_reason(why));
    return 0;
}

/* Reads n strings of the attribute (n = 1 for a scalar) into out[]. */
static int read_strings(struct rvt_ckpt *c, const char *name, hid_t aid, hid_t tid, size_t n,
                        char **out, struct rvt_error *err)
{
    hid_t mt = -1, sp = -1;
    char why[256], *fixed = NULL, **vl;
    size_t i, size;
    bool var = H5Tis_variable_str(tid) > 0;
    int ret = 0;

    /* one buffer and one read, in memory as pointers (variable length) or fixed cells */
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(tid));
    if (var) {
        H5Tset_size(mt, H5T_VARIABLE);
        size = sizeof(char *);
    } else {
        size = H5Tget_size(tid);
        if (size == 0 || size > RVT_CKPT_MAX_ATTR) {
            ret = rvt_error_set(err, RVT_ELIMIT, "%s: attribute '%s' is too long", c->path, name);
            goto done;
        }
        H5Tset_size(mt, size);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
    }
    if (!(fixed = calloc(n, size + 1))) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    vl = (char **)fixed;
    if (H5Aread(aid, mt, fixed) < 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: cannot read attribute '%s': %s", c->path, name,
                            h5_reason(why));
        goto done;
    }
    for (i = 0; i < n && !ret; i++) {
        const char *s = var ? (vl[i] ? vl[i] : "") : NULL;
        if (var && strlen(s) > RVT_CKPT_MAX_ATTR)
            ret = rvt_error_set(err, RVT_ELIMIT, "%s: attribute '%s' is too long", c->path, name);
        else if (!(out[i] = var ? strdup(s) : strndup(fixed + i * size, size)))
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    if (var) {
        sp = H5Aget_space(aid);
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, vl);
    }
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (mt >= 0)
        H5Tclose(mt);
    free(fixed);
    return ret;
}

int rvt_ckpt_attr_str(struct rvt_ckpt *c, const char *name, char **out, struct rvt_error *err)
{
    struct attr a;
    int ret;

    *out = NULL;
    ret = open_attr(c, name, H5T_STRING, &a, err);
    if (ret == 0 && a.n != 1)
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: attribute '%s' is not one string", c->path, name);
    if (ret == 0)
        ret = read_strings(c, name, a.aid, a.tid, 1, out, err);
    close_attr(&a);
    return ret;
}

int rvt_ckpt_attr_strings(struct rvt_ckpt *c, const char *name, char ***out, int *n,
                          struct rvt_error *err)
{
    struct attr a;
    char **s = NULL;
    int ret;

    *out = NULL;
    *n = 0;
    ret = open_attr(c, name, H5T_STRING, &a, err);
    if (ret == 0 && (H5Sget_simple_extent_ndims(a.sp) > 1 || a.n < 1 || a.n > 4096))
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: attribute '%s' is not a list of 1 to 4096 strings",
                            c->path, name);
    if (ret == 0 && !(s = calloc((size_t)a.n, sizeof(*s))))
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if (ret == 0)
        ret = read_strings(c, name, a.aid, a.tid, (size_t)a.n, s, err);
    if (ret == 0) {
        *out = s;
        *n = (int)a.n;
    } else {
        rvt_ckpt_strings_free(s, s ? (int)a.n : 0);
    }
    close_attr(&a);
    return ret;
}

void rvt_ckpt_strings_free(char **s, int n)
{
    int i;
    if (!s)
        return;
    for (i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

int rvt_ckpt_attr_int(struct rvt_ckpt *c, const char *name, long *out, struct rvt_error *err)
{
    struct attr a;
    char why[256];
    int ret;

    ret = open_attr(c, name, H5T_INTEGER, &a, err);
    if (ret == 0 && a.n != 1)
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: attribute '%s' is not one integer", c->path, name);
    if (ret == 0 && H5Aread(a.aid, H5T_NATIVE_LONG, out) < 0)
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: cannot read attribute '%s': %s", c->path, name,
                            h5_reason(why));
    close_attr(&a);
    return ret;
}

enum rvt_ckpt_dtype rvt_ckpt_dtype(const struct rvt_ckpt *c, const char *key)
{
    enum rvt_ckpt_dtype t = RVT_CKPT_OTHER;
    hid_t did, tid;

    if (!find_key(c, key))
        return RVT_CKPT_ABSENT;
    did = H5Dopen2(c->file, key, H5P_DEFAULT);
    if (did < 0) {
        H5Eclear2(H5E_DEFAULT);
        return RVT_CKPT_OTHER;
    }
    tid = H5Dget_type(did);
    if (tid >= 0) {
        H5T_class_t cls = H5Tget_class(tid);
        if (cls == H5T_FLOAT)
            t = RVT_CKPT_FLOAT;
        else if (cls == H5T_INTEGER && H5Tget_size(tid) == 1 && H5Tget_sign(tid) == H5T_SGN_2)
            t = RVT_CKPT_INT8;
        H5Tclose(tid);
    }
    H5Dclose(did);
    return t;
}

void rvt_ckpt_format_shape(char *buf, size_t n, int rank, const int64_t *dims)
{
    size_t len = 0;
    int i;

    len += (size_t)snprintf(buf, n, "[");
    for (i = 0; i < rank && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

static int read_any(struct rvt_ckpt *c, const char *key, int rank, const int64_t *dims,
                    hid_t memtype, enum rvt_ckpt_dtype want, void *dst, struct rvt_error *err)
{
    hid_t did = -1, sp = -1;
    hsize_t fd[RVT_CKPT_MAX_RANK];
    int64_t found[RVT_CKPT_MAX_RANK];
    char why[256], a[160], b[160];
    struct key *k = find_key(c, key);
    enum rvt_ckpt_dtype t;
    int fr, i, ret = 0;
    bool same;

    if (!k) {
        rvt_ckpt_format_shape(b, sizeof(b), rank, dims);
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: missing key '%s' (expected shape %s)", c->path,
                            key, b);
        goto done;
    }
    k->used = true;
    t = rvt_ckpt_dtype(c, key);
    if (t != want) {
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: '%s' is not %s", c->path, key,
                            want == RVT_CKPT_INT8 ? "int8" : "floating point");
        goto done;
    }
    did = H5Dopen2(c->file, key, H5P_DEFAULT);
    if (did < 0 || (sp = H5Dget_space(did)) < 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: cannot open '%s': %s", c->path, key,
                            h5_reason(why));
        goto done;
    }
    fr = H5Sget_simple_extent_ndims(sp);
    if (fr < 0 || fr > RVT_CKPT_MAX_RANK) {
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: '%s' has an unsupported rank", c->path, key);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, fd, NULL);
    same = fr == rank;
    for (i = 0; i < fr; i++) {
        found[i] = (int64_t)fd[i];
        if (same && found[i] != dims[i])
            same = false;
    }
    if (!same) {
        rvt_ckpt_format_shape(a, sizeof(a), fr, found);
        rvt_ckpt_format_shape(b, sizeof(b), rank, dims);
        ret = rvt_error_set(err, RVT_EMISMATCH, "%s: '%s' has shape %s, expected %s", c->path, key,
                            a, b);
        goto done;
    }
    if (H5Dread(did, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: cannot read '%s': %s", c->path, key,
                            h5_reason(why));
        goto done;
    }
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (did >= 0)
        H5Dclose(did);
    return ret;
}

int rvt_ckpt_read_f32(struct rvt_ckpt *c, const char *key, int rank, const int64_t *dims,
                      float *dst, struct rvt_error *err)
{
    size_t n = 1, i;
    int ret, d;

    ret = read_any(c, key, rank, dims, H5T_NATIVE_FLOAT, RVT_CKPT_FLOAT, dst, err);
    if (ret < 0)
        return ret;
    for (d = 0; d < rank; d++)
        n *= (size_t)dims[d];
    for (i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return rvt_error_set(err, RVT_EFORMAT, "%s: '%s' holds NaN or Inf (element %zu)",
                                 c->path, key, i);
    return 0;
}

int rvt_ckpt_read_i8(struct rvt_ckpt *c, const char *key, int rank, const int64_t *dims,
                     int8_t *dst, struct rvt_error *err)
{
    return read_any(c, key, rank, dims, H5T_NATIVE_SCHAR, RVT_CKPT_INT8, dst, err);
}

size_t rvt_ckpt_count(const struct rvt_ckpt *c)
{
    return c->n_keys;
}

const char *rvt_ckpt_key(const struct rvt_ckpt *c, size_t i)
{
    return i < c->n_keys ? c->keys[i].name : NULL;
}

int rvt_ckpt_shape(const struct rvt_ckpt *c, const char *key, int *rank, int64_t *dims,
                   struct rvt_error *err)
{
    hid_t did = -1, sp = -1;
    hsize_t fd[RVT_CKPT_MAX_RANK];
    char why[256];
    int r = -1, i, ret = 0;

    did = H5Dopen2(c->file, key, H5P_DEFAULT);
    if (did >= 0)
        sp = H5Dget_space(did);
    if (sp >= 0)
        r = H5Sget_simple_extent_ndims(sp);
    if (r < 0 || r > RVT_CKPT_MAX_RANK || H5Sget_simple_extent_dims(sp, fd, NULL) < 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: cannot read dataset '%s': %s", c->path, key,
                            r > RVT_CKPT_MAX_RANK ? "rank above 8" : h5_reason(why));
        goto done;
    }
    *rank = r;
    for (i = 0; i < r; i++)
        dims[i] = (int64_t)fd[i];
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (did >= 0)
        H5Dclose(did);
    return ret;
}

/* For the writer (checkpoint_write.c): the open file. */
hid_t rvti_ckpt_file(const struct rvt_ckpt *c)
{
    return c->file;
}

int rvt_ckpt_check_unused(const struct rvt_ckpt *c, struct rvt_error *err)
{
    static const char nbt[] = "num_batches_tracked";
    size_t i, l;

    for (i = 0; i < c->n_keys; i++) {
        const char *k = c->keys[i].name;
        if (c->keys[i].used)
            continue;
        l = strlen(k);
        if (l >= sizeof(nbt) - 1 && !strcmp(k + l - (sizeof(nbt) - 1), nbt))
            continue;
        return rvt_error_set(err, RVT_EFORMAT, "%s: unexpected key '%s'", c->path, k);
    }
    return 0;
}
