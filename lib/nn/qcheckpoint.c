/* qcheckpoint.c: model.h5 -> model-int8.h5 (see qcheckpoint.h). */
#include "core/common.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic.h"
#include "core/hash.h"
#include "nn/model.h"
#include "nn/qcheckpoint.h"
#include "nn/quant.h"
#include "store/h5io.h"
#include "core/inputs.h"

#define MAX_KEYS 100000 /* datasets in a checkpoint (EfficientNet-B0 fusion: ~360) */
#define MAX_RANK 8
#define MAX_ATTR_BYTES (1 << 24)

static const char scheme_text[] =
    "weights int8 symmetric per output channel: scale = max|w| / 127, q = rint(w / scale) "
    "(ties to even), all-zero channel: scale 1; activations uint8 asymmetric per tensor: "
    "lo = min(x, 0), hi = max(x, 0), scale = (hi - lo) / 255, zero = rint(-lo / scale); "
    "int32 accumulation, bias, BatchNorm and activations in float32";

static const struct {
    const char *name;
    unsigned bit;
} kind_names[] = {
    {"linear", RVT_QKIND_LINEAR}, {"pointwise", RVT_QKIND_POINTWISE}, {"se", RVT_QKIND_SE},
    {"conv", RVT_QKIND_CONV},     {"stem", RVT_QKIND_STEM},
};

int rvt_qkinds_parse(const char *text, unsigned *mask, struct rvt_error *err)
{
    char buf[256], *save = NULL, *tok;
    unsigned m = 0;
    size_t i;
    int ret = 0;

    if (strlen(text) >= sizeof(buf)) {
        ret = rvt_error_set(err, RVT_EINVAL, "layer list '%.40s...' is too long", text);
        goto done;
    }
    strcpy(buf, text);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "all")) {
            m |= RVT_QKIND_LINEAR | RVT_QKIND_POINTWISE | RVT_QKIND_SE | RVT_QKIND_CONV | RVT_QKIND_STEM;
            continue;
        }
        for (i = 0; i < RVT_ARRAY_SIZE(kind_names); i++)
            if (!strcmp(tok, kind_names[i].name))
                break;
        if (i == RVT_ARRAY_SIZE(kind_names)) {
            ret = rvt_error_set(err, RVT_EINVAL,
                                "unknown layer kind '%s' (expected linear, pointwise, se, conv, "
                                "stem or all)",
                                tok);
            goto done;
        }
        m |= kind_names[i].bit;
    }
    if (!m) {
        ret = rvt_error_set(err, RVT_EINVAL, "empty layer list");
        goto done;
    }
    *mask = m;
done:
    return ret;
}

void rvt_qkinds_format(unsigned mask, char *buf, size_t n)
{
    size_t i, len = 0;
    buf[0] = '\0';
    for (i = 0; i < RVT_ARRAY_SIZE(kind_names); i++)
        if (mask & kind_names[i].bit)
            len += (size_t)snprintf(buf + RVT_MIN(len, n - 1), n - RVT_MIN(len, n - 1), "%s%s",
                                    len ? "," : "", kind_names[i].name);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

unsigned rvt_qkind_of(const char *key, int rank, const int64_t *dims)
{
    if (!ends_with(key, ".weight"))
        return 0;
    if (rank == 2)
        return RVT_QKIND_LINEAR;
    if (rank != 4)
        return 0;
    /* the 3-channel image stem and the 1-channel audio input conv */
    if (!strcmp(key, "img_encoder.features.0.0.weight") || !strcmp(key, "audio_encoder.0.weight"))
        return RVT_QKIND_STEM;
    if (dims[1] == 1)
        return 0; /* depthwise: one input channel per filter */
    if (dims[2] == 1 && dims[3] == 1)
        return strstr(key, ".fc1.") || strstr(key, ".fc2.") ? RVT_QKIND_SE : RVT_QKIND_POINTWISE;
    return RVT_QKIND_CONV;
}

void rvt_quantize_opts_init(struct rvt_quantize_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->kinds = RVT_QKIND_DEFAULT;
    o->activations = "dynamic";
    o->budget = -1;
}

void rvt_quantize_report_release(struct rvt_quantize_report *r)
{
    rvt_quantize_keys_free(r->zero_layers, r->n_zero_layers);
    memset(r, 0, sizeof(*r));
}

void rvt_quantize_keys_free(char **keys, int n)
{
    int i;
    if (!keys)
        return;
    for (i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

/* ---- the source file ---- */

struct dsinfo {
    char *name;
    int rank;
    int64_t dims[MAX_RANK];
    H5T_class_t cls;
    size_t n;     /* elements */
    bool quantize;
};

struct src {
    const char *path;
    hid_t file;
    struct dsinfo *ds; /* sorted by name (HDF5 iterates names in increasing order) */
    size_t n, cap;
    bool too_many, has_group;
    int ret;
    struct rvt_error *err;
};

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    struct src *s = data;
    H5O_info_t oi;
    struct dsinfo *d;
    hid_t ds = -1, sp = -1, ty = -1;
    hsize_t dims[MAX_RANK];
    int r, i;

    (void)info;
    if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return -1;
    if (oi.type != H5O_TYPE_DATASET) {
        s->has_group = true;
        return 0;
    }
    if (s->n == MAX_KEYS) {
        s->too_many = true;
        return 1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 512;
        struct dsinfo *nd = realloc(s->ds, cap * sizeof(*nd));
        if (!nd) {
            s->ret = rvt_error_set(s->err, RVT_ENOMEM, "out of memory");
            return -1;
        }
        s->ds = nd;
        s->cap = cap;
    }
    d = &s->ds[s->n];
    memset(d, 0, sizeof(*d));
    ds = H5Dopen2(g, name, H5P_DEFAULT);
    if (ds >= 0)
        sp = H5Dget_space(ds);
    if (ds >= 0)
        ty = H5Dget_type(ds);
    r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (ds < 0 || sp < 0 || ty < 0 || r < 0 || r > MAX_RANK ||
        H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        s->ret = rvti_h5_fail(s->err, RVT_EFORMAT, "%s: cannot read dataset '%s'", s->path, name);
        if (ty >= 0)
            H5Tclose(ty);
        if (sp >= 0)
            H5Sclose(sp);
        if (ds >= 0)
            H5Dclose(ds);
        return -1;
    }
    d->name = strdup(name);
    d->rank = r;
    d->n = 1;
    for (i = 0; i < r; i++) {
        d->dims[i] = (int64_t)dims[i];
        d->n *= (size_t)dims[i];
    }
    d->cls = H5Tget_class(ty);
    H5Tclose(ty);
    H5Sclose(sp);
    H5Dclose(ds);
    if (!d->name) {
        s->ret = rvt_error_set(s->err, RVT_ENOMEM, "out of memory");
        return -1;
    }
    s->n++;
    return 0;
}

static void src_close(struct src *s)
{
    size_t i;
    for (i = 0; i < s->n; i++)
        free(s->ds[i].name);
    free(s->ds);
    if (s->file >= 0)
        H5Fclose(s->file);
    s->ds = NULL;
    s->n = 0;
    s->file = -1;
}

/* A string attribute of loc (variable or fixed length): *out owned by the caller. */
static int read_str_attr(hid_t loc, const char *path, const char *name, char **out,
                         struct rvt_error *err)
{
    hid_t a = -1, t = -1, mt = -1, sp = -1;
    int ret = 0;

    *out = NULL;
    a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) {
        rvti_h5_clear();
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: no '%s' attribute (not a model checkpoint?)",
                            path, name);
        goto done;
    }
    t = H5Aget_type(a);
    sp = H5Aget_space(a);
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: attribute '%s' is not a string", path, name);
        goto done;
    }
    if (H5Tis_variable_str(t) > 0) {
        char *v = NULL;
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (H5Aread(a, mt, &v) < 0) {
            ret = rvti_h5_fail(err, RVT_EFORMAT, "%s: cannot read attribute '%s'", path, name);
            goto done;
        }
        *out = strdup(v ? v : "");
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, &v);
    } else {
        size_t len = H5Tget_size(t);
        if (len > MAX_ATTR_BYTES) {
            ret = rvt_error_set(err, RVT_ELIMIT, "%s: attribute '%s' is too long", path, name);
            goto done;
        }
        *out = calloc(1, len + 1);
        mt = H5Tcopy(t);
        if (*out && H5Aread(a, mt, *out) < 0) {
            ret = rvti_h5_fail(err, RVT_EFORMAT, "%s: cannot read attribute '%s'", path, name);
            goto done;
        }
    }
    if (!*out)
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
done:
    if (ret < 0) {
        free(*out);
        *out = NULL;
    }
    if (mt >= 0)
        H5Tclose(mt);
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    if (a >= 0)
        H5Aclose(a);
    return ret;
}

static bool excluded(const struct rvt_quantize_opts *o, const char *key)
{
    int i;
    for (i = 0; i < o->n_exclude; i++)
        if (!strcmp(o->exclude[i], key))
            return true;
    return false;
}

static const struct dsinfo *find_ds(const struct src *s, const char *name)
{
    size_t i;
    for (i = 0; i < s->n; i++)
        if (!strcmp(s->ds[i].name, name))
            return &s->ds[i];
    return NULL;
}

/* Opens `in`, checks it is an fp32 checkpoint, lists its datasets and marks those to
 * quantize. */
static int src_open(struct src *s, const char *in, const struct rvt_quantize_opts *o,
                    struct rvt_error *err)
{
    char *format = NULL, *arch = NULL;
    hsize_t idx = 0;
    size_t i;
    int ret = 0, e;

    memset(s, 0, sizeof(*s));
    s->path = in;
    s->file = -1;
    s->err = err;
    rvti_h5_init();
    if ((ret = rvt_input_check(in, err)) < 0)
        goto done;
    s->file = H5Fopen(in, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (s->file < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot open '%s'", in);
        goto done;
    }
    if ((ret = read_str_attr(s->file, in, "architecture", &arch, err)) < 0 ||
        (ret = read_str_attr(s->file, in, "format", &format, err)) < 0)
        goto done;
    if (!strcmp(format, "int8")) {
        ret = rvt_error_set(err, RVT_EINVAL, "%s: already quantized (format int8)", in);
        goto done;
    }
    if (strcmp(format, "fp32")) {
        ret = rvt_error_set(err, RVT_EUNSUPPORTED, "%s: unknown format '%s' (expected fp32)", in,
                            format);
        goto done;
    }
    if (H5Literate(s->file, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, s) < 0) {
        ret = s->ret < 0 ? s->ret : rvti_h5_fail(err, RVT_EFORMAT, "%s: cannot list datasets", in);
        goto done;
    }
    if (s->too_many) {
        ret = rvt_error_set(err, RVT_ELIMIT, "%s: more than %d datasets", in, MAX_KEYS);
        goto done;
    }
    for (i = 0; i < s->n; i++) {
        struct dsinfo *d = &s->ds[i];
        d->quantize = d->cls == H5T_FLOAT && (rvt_qkind_of(d->name, d->rank, d->dims) & o->kinds) &&
                      !excluded(o, d->name) && d->n > 0;
    }
    /* the names the int8 file adds must be free */
    for (i = 0; i < s->n; i++) {
        char nm[1024];
        if (!s->ds[i].quantize)
            continue;
        for (e = 0; e < 2; e++) {
            snprintf(nm, sizeof(nm), "%s%s", s->ds[i].name, e ? "_act_range" : "_scale");
            if (find_ds(s, nm)) {
                ret = rvt_error_set(err, RVT_EFORMAT, "%s: has a dataset '%s' already", in, nm);
                goto done;
            }
        }
    }
done:
    free(format);
    free(arch);
    if (ret < 0)
        src_close(s);
    return ret;
}

int rvt_checkpoint_plan(const char *in, const struct rvt_quantize_opts *opts, char ***keys,
                        int *n, struct rvt_error *err)
{
    struct src s;
    char **k = NULL;
    size_t i;
    int ret, m = 0;

    *keys = NULL;
    *n = 0;
    ret = src_open(&s, in, opts, err);
    if (ret < 0)
        return ret;
    k = calloc(s.n + 1, sizeof(*k));
    if (!k) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < s.n; i++) {
        if (!s.ds[i].quantize)
            continue;
        k[m] = strdup(s.ds[i].name);
        if (!k[m]) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        m++;
    }
    *keys = k;
    *n = m;
    k = NULL;
done:
    rvt_quantize_keys_free(k, m);
    src_close(&s);
    return ret;
}

/* ---- writing ---- */

static int write_ds(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank,
                    const int64_t *dims, const void *data, struct rvt_error *err)
{
    hsize_t hd[MAX_RANK];
    hid_t sp = -1, dcpl = -1, ds = -1;
    int ret = 0, i;

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

static int write_str_attr(hid_t loc, const char *name, const char *value, struct rvt_error *err)
{
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
    int ret = 0;

    if (t < 0 || sp < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        (a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, t, &value) < 0)
        ret = rvti_h5_fail(err, RVT_EIO, "cannot write attribute '%s'", name);
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    return ret;
}

static int write_strs_attr(hid_t loc, const char *name, char *const *v, int n,
                           struct rvt_error *err)
{
    hsize_t d = (hsize_t)n;
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &d, NULL), a = -1;
    int ret = 0;

    if (t < 0 || sp < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        (a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        (n > 0 && H5Awrite(a, t, v) < 0))
        ret = rvti_h5_fail(err, RVT_EIO, "cannot write attribute '%s'", name);
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    return ret;
}

static int write_num_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v,
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

struct attr_copy {
    hid_t dst;
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
    if (!strcmp(name, "format") || !strncmp(name, "quant_", 6))
        return 0; /* rewritten below */
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

static const struct rvt_quantize_range *find_range(const struct rvt_quantize_opts *o,
                                                   const char *key)
{
    int i;
    for (i = 0; i < o->n_ranges; i++)
        if (!strcmp(o->ranges[i].key, key))
            return &o->ranges[i];
    return NULL;
}

/* Quantizes dataset d of src into dst: `K` int8, `K_scale`, and `K_act_range`. */
static int quantize_one(const struct src *s, hid_t dst, const struct dsinfo *d,
                        const struct rvt_quantize_opts *o, struct rvt_quantize_report *r,
                        bool *all_zero, struct rvt_error *err)
{
    int n = (int)d->dims[0], k = (int)(d->n / (size_t)d->dims[0]), nz = 0, ret = 0;
    float *w = malloc(d->n * sizeof(*w)), *scale = malloc((size_t)n * sizeof(*scale));
    int8_t *q = malloc(d->n);
    hid_t ds = -1;
    char nm[1024];
    int64_t sd = n, two = 2;

    if (!w || !scale || !q) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    if (d->dims[0] <= 0 || d->n / (size_t)d->dims[0] > RVT_QGEMM_MAX_K) {
        ret = rvt_error_set(err, RVT_EINVAL, "'%s' has %d inputs a channel (more than %d)", d->name,
                            k, RVT_QGEMM_MAX_K);
        goto done;
    }
    ds = H5Dopen2(s->file, d->name, H5P_DEFAULT);
    if (ds < 0 || H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) < 0) {
        ret = rvti_h5_fail(err, RVT_EFORMAT, "cannot read '%s'", d->name);
        goto done;
    }
    ret = rvt_quant_weights(w, n, k, q, scale, &nz, err);
    if (ret < 0) {
        rvt_error_prefix(err, "%s: '%s'", s->path, d->name);
        goto done;
    }
    r->n_zero_channels += nz;
    *all_zero = nz == n;
    ret = write_ds(dst, d->name, H5T_STD_I8LE, H5T_NATIVE_SCHAR, d->rank, d->dims, q, err);
    if (ret < 0)
        goto done;
    snprintf(nm, sizeof(nm), "%s_scale", d->name);
    ret = write_ds(dst, nm, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &sd, scale, err);
    if (ret < 0)
        goto done;
    if (o->n_ranges || strcmp(o->activations, "dynamic")) {
        const struct rvt_quantize_range *rg = find_range(o, d->name);
        float v[2];
        if (!rg) {
            ret = rvt_error_set(err, RVT_EINVAL, "no calibration range for '%s'", d->name);
            goto done;
        }
        if (!(isfinite(rg->lo) && isfinite(rg->hi) && rg->lo <= rg->hi)) {
            ret = rvt_error_set(err, RVT_EINVAL, "calibration range [%g, %g] of '%s' is not finite",
                                (double)rg->lo, (double)rg->hi, d->name);
            goto done;
        }
        v[0] = rg->lo;
        v[1] = rg->hi;
        snprintf(nm, sizeof(nm), "%s_act_range", d->name);
        ret = write_ds(dst, nm, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &two, v, err);
        if (ret < 0)
            goto done;
        r->n_float += 2;
    }
    r->n_int8 += d->n;
    r->n_float += (size_t)n;
    r->n_layers++;
done:
    if (ds >= 0)
        H5Dclose(ds);
    free(w);
    free(scale);
    free(q);
    return ret;
}

static char *basename_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return (char *)(b ? b + 1 : path);
}

/* Writes the in-memory HDF5 file f, as it stands, to the atomic output a. */
static int write_image(hid_t f, struct rvt_atomic *a, const char *out, struct rvt_error *err)
{
    ssize_t n;
    void *buf;
    int ret = 0;

    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(f, NULL, 0)) <= 0)
        return rvti_h5_fail(err, RVT_EIO, "cannot write '%s'", out);
    if (!(buf = malloc((size_t)n)))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if (H5Fget_file_image(f, buf, (size_t)n) != n)
        ret = rvti_h5_fail(err, RVT_EIO, "cannot write '%s'", out);
    else if (fwrite(buf, 1, (size_t)n, a->fp) != (size_t)n || fflush(a->fp) != 0)
        ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", out, strerror(errno));
    free(buf);
    return ret;
}

int rvt_checkpoint_quantize(const char *in, const char *out, const struct rvt_quantize_opts *o,
                            struct rvt_quantize_report *r, struct rvt_error *err)
{
    struct src s;
    struct rvt_atomic at = {0};
    hid_t dst = -1, fcpl = -1, fapl = -1;
    char **layers = NULL, **zero = NULL, kinds[128];
    int n_layers = 0, n_zero = 0, ret;
    size_t i;
    bool opened = false;

    memset(r, 0, sizeof(*r));
    /*
     * The input must load as a model (every tensor present, of its shape and
     * type, finite; no stray key), so that no int8 checkpoint lacks a tensor.
     */
    {
        struct rvt_model *m = NULL;
        ret = rvt_model_load(&m, in, err);
        rvt_model_free(&m);
        if (ret < 0)
            return ret;
    }
    ret = src_open(&s, in, o, err);
    if (ret < 0)
        return ret;
    opened = true;
    ret = rvt_sha256_file(in, r->source_sha256, err);
    if (ret < 0)
        goto done;
    layers = calloc(s.n + 1, sizeof(*layers));
    zero = calloc(s.n + 1, sizeof(*zero));
    if (!layers || !zero) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    /*
     * The checkpoint is built in memory (HDF5's core driver, no backing file) and
     * written out whole through the atomic writer: HDF5 never meets a failing
     * write (its error paths under H5Ocopy crash on ENOSPC), and a full disk is
     * one clean "cannot write" of the output.
     */
    ret = rvt_atomic_open(&at, out, err);
    if (ret < 0)
        goto done;
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fcpl < 0 || fapl < 0 || H5Pset_obj_track_times(fcpl, 0) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot create '%s'", out);
        goto done;
    }
    dst = H5Fcreate(basename_of(out), H5F_ACC_TRUNC, fcpl, fapl);
    if (dst < 0) {
        ret = rvti_h5_fail(err, RVT_EIO, "cannot create '%s'", out);
        goto done;
    }
    for (i = 0; i < s.n; i++) {
        const struct dsinfo *d = &s.ds[i];
        if (d->quantize) {
            bool all_zero = false;
            ret = quantize_one(&s, dst, d, o, r, &all_zero, err);
            if (ret < 0)
                goto done;
            layers[n_layers] = d->name;
            n_layers++;
            if (all_zero) {
                zero[n_zero] = strdup(d->name);
                if (!zero[n_zero]) {
                    ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
                    goto done;
                }
                n_zero++;
            }
        } else {
            if (H5Ocopy(s.file, d->name, dst, d->name, H5P_DEFAULT, H5P_DEFAULT) < 0) {
                ret = rvti_h5_fail(err, RVT_EIO, "cannot copy '%s'", d->name);
                goto done;
            }
            r->n_float += d->cls == H5T_FLOAT ? d->n : 0;
        }
    }
    {
        struct attr_copy c = {.dst = dst, .ret = 0, .err = err};
        hsize_t idx = 0;
        if (H5Aiterate2(s.file, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr_cb, &c) < 0) {
            ret = c.ret < 0 ? c.ret : rvti_h5_fail(err, RVT_EFORMAT, "%s: cannot copy attributes", in);
            goto done;
        }
    }
    rvt_qkinds_format(o->kinds, kinds, sizeof(kinds));
    {
        int64_t zc = r->n_zero_channels;
        char tool[64];
        snprintf(tool, sizeof(tool), "quantize-model %s", RVT_VERSION);
        if ((ret = write_str_attr(dst, "format", "int8", err)) < 0 ||
            (ret = write_str_attr(dst, "quant_scheme", scheme_text, err)) < 0 ||
            (ret = write_str_attr(dst, "quant_activations", o->activations, err)) < 0 ||
            (ret = write_str_attr(dst, "quant_kinds", kinds, err)) < 0 ||
            (ret = write_strs_attr(dst, "quant_layers", layers, n_layers, err)) < 0 ||
            (ret = write_num_attr(dst, "quant_zero_channels", H5T_STD_I64LE, H5T_NATIVE_INT64, &zc,
                                  err)) < 0 ||
            (ret = write_strs_attr(dst, "quant_zero_layers", zero, n_zero, err)) < 0 ||
            (ret = write_str_attr(dst, "quant_source", basename_of(in), err)) < 0 ||
            (ret = write_str_attr(dst, "quant_source_sha256", r->source_sha256, err)) < 0 ||
            (ret = write_str_attr(dst, "quant_tool", tool, err)) < 0 ||
            (ret = write_strs_attr(dst, "quant_excluded", (char *const *)o->exclude, o->n_exclude,
                                   err)) < 0)
            goto done;
        if (o->budget >= 0 &&
            ((ret = write_num_attr(dst, "quant_budget", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                                   &o->budget, err)) < 0 ||
             (ret = write_num_attr(dst, "quant_budget_error", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                                   &o->budget_error, err)) < 0))
            goto done;
        if (o->calibration) {
            int64_t nc = o->calibration_clips;
            if (!strcmp(o->activations, "static-percentile") &&
                (ret = write_num_attr(dst, "quant_percentile", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                                      &o->percentile, err)) < 0)
                goto done;
            if ((ret = write_str_attr(dst, "quant_calibration",
                                      o->calibration ? basename_of(o->calibration) : "", err)) < 0 ||
                (ret = write_num_attr(dst, "quant_calibration_clips", H5T_STD_I64LE,
                                      H5T_NATIVE_INT64, &nc, err)) < 0 ||
                (ret = write_str_attr(dst, "quant_calibration_split",
                                      o->calibration_split ? o->calibration_split : "", err)) < 0 ||
                (ret = write_str_attr(dst, "quant_calibration_config_sha256",
                                      o->calibration_config_sha256 ? o->calibration_config_sha256 : "",
                                      err)) < 0)
                goto done;
        }
    }
    if ((ret = write_image(dst, &at, out, err)) < 0)
        goto done;
    if (H5Fclose(dst) < 0) {
        dst = -1;
        ret = rvti_h5_fail(err, RVT_EIO, "cannot write '%s'", out);
        goto done;
    }
    dst = -1;
    ret = rvt_atomic_commit(&at, err);
    if (ret < 0)
        goto done;
    r->zero_layers = zero;
    r->n_zero_layers = n_zero;
    zero = NULL;
done:
    if (dst >= 0)
        H5Fclose(dst);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (ret < 0)
        rvt_atomic_abort(&at);
    rvt_quantize_keys_free(zero, n_zero);
    free(layers); /* the names belong to s */
    if (opened)
        src_close(&s);
    return ret;
}
