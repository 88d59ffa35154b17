/* qcheckpoint.c: model.h5 -> model-int8.h5 (see qcheckpoint.h). */
#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic.h"
#include "core/hash.h"
#include "nn/model.h"
#include "nn/qcheckpoint.h"
#include "nn/quant.h"
#include "store/checkpoint.h"
#include "store/recipe.h"

/* %d: the weights' top code, 127 (or 63 with --weight-bits 7) */
static const char scheme_fmt[] =
    "weights int8 symmetric per output channel: scale = max|w| / %d, q = rint(w / scale) "
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
    o->min_channels = RVT_QUANT_MIN_CHANNELS;
    o->weight_bits = 8;
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
    const char *name; /* the reader's */
    int rank;
    int64_t dims[RVT_CKPT_MAX_RANK];
    bool is_float;
    size_t n;     /* elements */
    bool quantize;
    bool narrow; /* would be quantized but for min_channels */
};

struct src {
    const char *path;
    struct rvt_ckpt *c;
    struct dsinfo *ds; /* sorted by name (the reader's order) */
    size_t n;
};

static void src_close(struct src *s)
{
    free(s->ds);
    rvt_ckpt_close(&s->c);
    s->ds = NULL;
    s->n = 0;
}

/* A pointwise convolution with fewer input channels than o->min_channels. */
static bool narrow(const struct rvt_quantize_opts *o, const struct dsinfo *d)
{
    return rvt_qkind_of(d->name, d->rank, d->dims) == RVT_QKIND_POINTWISE &&
           d->dims[1] < o->min_channels;
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
    size_t i;
    int ret = 0, e;

    memset(s, 0, sizeof(*s));
    s->path = in;
    if ((ret = rvt_ckpt_open(&s->c, in, err)) < 0)
        goto done;
    if ((ret = rvt_ckpt_attr_str(s->c, "architecture", &arch, err)) < 0 ||
        (ret = rvt_ckpt_attr_str(s->c, "format", &format, err)) < 0)
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
    s->n = rvt_ckpt_count(s->c);
    if (!(s->ds = calloc(s->n + 1, sizeof(*s->ds)))) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < s->n; i++) {
        struct dsinfo *d = &s->ds[i];
        int k;
        d->name = rvt_ckpt_key(s->c, i);
        if ((ret = rvt_ckpt_shape(s->c, d->name, &d->rank, d->dims, err)) < 0)
            goto done;
        for (d->n = 1, k = 0; k < d->rank; k++)
            d->n *= (size_t)d->dims[k];
        d->is_float = rvt_ckpt_dtype(s->c, d->name) == RVT_CKPT_FLOAT;
        d->quantize = d->is_float && (rvt_qkind_of(d->name, d->rank, d->dims) & o->kinds) &&
                      !excluded(o, d->name) && d->n > 0;
        d->narrow = d->quantize && narrow(o, d);
        d->quantize = d->quantize && !d->narrow;
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

/* Root attributes the int8 checkpoint sets itself (the frame recipe too: always
 * written whole, also from an fp32 checkpoint older than its attributes). */
static bool rewritten(const char *name)
{
    int i;
    for (i = 0; i < RVT_RECIPE_N; i++)
        if (!strcmp(name, rvt_recipe_key(i)))
            return true;
    return !strcmp(name, "format") || !strncmp(name, "quant_", 6);
}

/* The source's frame recipe (defaults <- preprocessing <- attributes), written whole. */
static int keep_recipe(struct rvt_ckpt_writer *dst, struct rvt_ckpt *c, struct rvt_error *err)
{
    struct rvt_recipe rc;
    char *pre = NULL;
    int ret = 0;

    rvt_recipe_init(&rc);
    if (rvt_ckpt_has_attr(c, "preprocessing"))
        ret = rvt_ckpt_attr_str(c, "preprocessing", &pre, err);
    if (ret >= 0)
        ret = rvt_ckpt_get_recipe(c, pre, &rc, err);
    if (ret >= 0)
        ret = rvt_ckpt_set_recipe(dst, &rc, err);
    rvt_recipe_release(&rc);
    free(pre);
    return ret;
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
static int quantize_one(struct src *s, struct rvt_ckpt_writer *dst, const struct dsinfo *d,
                        const struct rvt_quantize_opts *o, struct rvt_quantize_report *r,
                        bool *all_zero, struct rvt_error *err)
{
    int n = (int)d->dims[0], k = (int)(d->n / (size_t)d->dims[0]), nz = 0, ret = 0;
    float *w = malloc(d->n * sizeof(*w)), *scale = malloc((size_t)n * sizeof(*scale));
    int8_t *q = malloc(d->n);
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
    if ((ret = rvt_ckpt_read_f32(s->c, d->name, d->rank, d->dims, w, err)) < 0)
        goto done;
    ret = rvt_quant_weights(w, n, k, o->weight_bits, q, scale, &nz, err);
    if (ret < 0) {
        rvt_error_prefix(err, "%s: '%s'", s->path, d->name);
        goto done;
    }
    r->n_zero_channels += nz;
    *all_zero = nz == n;
    ret = rvt_ckpt_write_i8(dst, d->name, d->rank, d->dims, q, err);
    if (ret < 0)
        goto done;
    snprintf(nm, sizeof(nm), "%s_scale", d->name);
    ret = rvt_ckpt_write_f32(dst, nm, 1, &sd, scale, err);
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
        ret = rvt_ckpt_write_f32(dst, nm, 1, &two, v, err);
        if (ret < 0)
            goto done;
        r->n_float += 2;
    }
    r->n_int8 += d->n;
    r->n_float += (size_t)n;
    r->n_layers++;
done:
    free(w);
    free(scale);
    free(q);
    return ret;
}

char *rvt_quantize_default_output(const char *in)
{
    size_t len = strlen(in);
    char *out = malloc(len + 16);

    if (out && len > 3 && !strcmp(in + len - 3, ".h5"))
        snprintf(out, len + 16, "%.*s-int8.h5", (int)(len - 3), in);
    else if (out)
        snprintf(out, len + 16, "%s-int8.h5", in);
    return out;
}

static const char *basename_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The format and quant_* attributes (schemas/checkpoint-int8.md). */
static int set_attrs(struct rvt_ckpt_writer *dst, const char *in,
                     const struct rvt_quantize_opts *o, const struct rvt_quantize_report *r,
                     char **layers, int n_layers, char **zero, int n_zero, struct rvt_error *err)
{
    char tool[64], kinds[128], scheme[sizeof(scheme_fmt) + 8];
    int ret;

    rvt_qkinds_format(o->kinds, kinds, sizeof(kinds));
    snprintf(scheme, sizeof(scheme), scheme_fmt, (1 << (o->weight_bits - 1)) - 1);
    snprintf(tool, sizeof(tool), "quantize-model %s", RVT_VERSION);
    if ((ret = rvt_ckpt_set_str(dst, "format", "int8", err)) < 0 ||
        (ret = rvt_ckpt_set_str(dst, "quant_scheme", scheme, err)) < 0 ||
        (ret = rvt_ckpt_set_i64(dst, "quant_weight_bits", o->weight_bits, err)) < 0 ||
        (ret = rvt_ckpt_set_str(dst, "quant_activations", o->activations, err)) < 0 ||
        (ret = rvt_ckpt_set_str(dst, "quant_kinds", kinds, err)) < 0 ||
        (ret = rvt_ckpt_set_i64(dst, "quant_min_channels", o->min_channels, err)) < 0 ||
        (ret = rvt_ckpt_set_strs(dst, "quant_layers", layers, n_layers, err)) < 0 ||
        (ret = rvt_ckpt_set_i64(dst, "quant_zero_channels", r->n_zero_channels, err)) < 0 ||
        (ret = rvt_ckpt_set_strs(dst, "quant_zero_layers", zero, n_zero, err)) < 0 ||
        (ret = rvt_ckpt_set_str(dst, "quant_source", basename_of(in), err)) < 0 ||
        (ret = rvt_ckpt_set_str(dst, "quant_source_sha256", r->source_sha256, err)) < 0 ||
        (ret = rvt_ckpt_set_str(dst, "quant_tool", tool, err)) < 0 ||
        (ret = rvt_ckpt_set_strs(dst, "quant_excluded", (char *const *)o->exclude, o->n_exclude,
                                 err)) < 0)
        return ret;
    if (o->budget >= 0 &&
        ((ret = rvt_ckpt_set_f64(dst, "quant_budget", o->budget, err)) < 0 ||
         (ret = rvt_ckpt_set_f64(dst, "quant_budget_error", o->budget_error, err)) < 0))
        return ret;
    if (!o->calibration)
        return 0;
    if (!strcmp(o->activations, "static-percentile") &&
        (ret = rvt_ckpt_set_f64(dst, "quant_percentile", o->percentile, err)) < 0)
        return ret;
    if ((ret = rvt_ckpt_set_str(dst, "quant_calibration", basename_of(o->calibration), err)) < 0 ||
        (ret = rvt_ckpt_set_i64(dst, "quant_calibration_clips", o->calibration_clips, err)) < 0 ||
        (ret = rvt_ckpt_set_str(dst, "quant_calibration_split",
                                o->calibration_split ? o->calibration_split : "", err)) < 0 ||
        (ret = rvt_ckpt_set_str(dst, "quant_calibration_config_sha256",
                                o->calibration_config_sha256 ? o->calibration_config_sha256 : "",
                                err)) < 0)
        return ret;
    return 0;
}

int rvt_checkpoint_quantize(const char *in, const char *out, const struct rvt_quantize_opts *o,
                            struct rvt_quantize_report *r, struct rvt_error *err)
{
    struct src s;
    struct rvt_atomic at = {0};
    struct rvt_ckpt_writer *dst = NULL;
    char **layers = NULL, **zero = NULL;
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
    /* built in memory and written whole through the atomic writer (checkpoint.h) */
    if ((ret = rvt_atomic_open(&at, out, err)) < 0 ||
        (ret = rvt_ckpt_writer_new(&dst, out, err)) < 0)
        goto done;
    for (i = 0; i < s.n; i++) {
        const struct dsinfo *d = &s.ds[i];
        r->n_narrow += d->narrow;
        if (d->quantize) {
            bool all_zero = false;
            ret = quantize_one(&s, dst, d, o, r, &all_zero, err);
            if (ret < 0)
                goto done;
            layers[n_layers++] = (char *)d->name;
            if (all_zero) {
                zero[n_zero] = strdup(d->name);
                if (!zero[n_zero]) {
                    ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
                    goto done;
                }
                n_zero++;
            }
        } else {
            if ((ret = rvt_ckpt_copy_dataset(dst, s.c, d->name, err)) < 0)
                goto done;
            r->n_float += d->is_float ? d->n : 0;
        }
    }
    if ((ret = rvt_ckpt_copy_attrs(dst, s.c, rewritten, err)) < 0 ||
        (ret = keep_recipe(dst, s.c, err)) < 0 ||
        (ret = set_attrs(dst, in, o, r, layers, n_layers, zero, n_zero, err)) < 0 ||
        (ret = rvt_ckpt_writer_save(dst, &at, out, err)) < 0 ||
        (ret = rvt_atomic_commit(&at, err)) < 0)
        goto done;
    r->zero_layers = zero;
    r->n_zero_layers = n_zero;
    zero = NULL;
done:
    rvt_ckpt_writer_free(&dst);
    if (ret < 0)
        rvt_atomic_abort(&at);
    rvt_quantize_keys_free(zero, n_zero);
    free(layers); /* the names belong to s */
    if (opened)
        src_close(&s);
    return ret;
}
