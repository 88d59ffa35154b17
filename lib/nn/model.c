#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "store/checkpoint.h"
#include "store/recipe.h"
#include "nn/layer.h"
#include "nn/model.h"
#include "nn/qgemm.h"
#include "nn/sgemm.h"
#include "nn/team.h"

/* BatchNorm eps of every BN in the network (torch defaults; torchvision's
 * efficientnet_b0 uses nn.BatchNorm2d's default, unlike the V2 models' 1e-3). */
#define BN_EPS 1e-5
#define N_IMG 1280
#define N_AUD 64
#define N_FEAT (N_IMG + N_AUD)
#define N_HID 512
#define MAX_BLOCKS 16

/* torchvision efficientnet_b0: MBConv stages of features[1..7].
 * ref: torchvision 0.14 models/efficientnet.py, _efficientnet_conf("efficientnet_b0"). */
static const struct {
    int expand, k, stride, c_in, c_out, n;
} b0_stages[7] = {
    {1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},   {6, 3, 2, 40, 80, 3},
    {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1},
};

struct mbconv {
    int stage, index; /* features[stage][index] */
    int c_in, c_exp, c_out, k, stride, sq;
    bool expand, residual;
    bool cl;                      /* may run channels-last (c_exp a multiple of 16 and an
                                     expand, or the first block: the stem then writes
                                     channels-last; fp32 or int8 layers) */
    bool banded;                  /* cl, an expand and a large expanded map: expand and
                                     depthwise conv in bands of rows (expand_dw_bands) */
    bool fold_se;                 /* cl, an fp32 project with fewer weights than the map
                                     it reads: the excitation scales its weights */
    const float *dw_w_cl;         /* cl: depthwise weights as [k*k][c_exp] */
    struct rvt_nn_dense expand_l; /* c_exp x c_in, SiLU */
    struct rvt_nn_conv dw;        /* depthwise, SiLU */
    struct rvt_nn_dense se1;      /* sq x c_exp, SiLU */
    struct rvt_nn_dense se2;      /* c_exp x sq, sigmoid */
    struct rvt_nn_dense project;  /* c_out x c_exp */
};

struct chattn {
    struct rvt_nn_dense fc1; /* hidden x c, ReLU */
    struct rvt_nn_dense fc2; /* c x hidden, sigmoid */
};

/* Buffer sizes (floats) of one session, from walking the graph at load. */
struct plan {
    size_t x0, io, exp, dwo, scr, vec;
    size_t own; /* a thread's own scratch (a depthwise conv's padded plane) */
    size_t pad; /* the padded channels-last input of a depthwise conv */
    size_t rows; /* a channels-last depthwise conv's row sums (oh x c_exp) */
    size_t ring; /* the ring of padded rows of a banded block (RING_ROWS of the widest) */
    size_t band_scr; /* the expand's scratch for RING_ROWS rows of a banded block */
    size_t fold; /* a fold_se project's scaled weights */
    /* the late blocks (late_forward_cl): from block late on, input maps of l_h x l_w
     * (l_in floats a clip), and one clip's part of each of their buffers */
    int late, l_h, l_w;
    size_t l_in, l_io, l_pad, l_dwo, l_rows, l_vec, l_e;
};

/*
 * Late blocks: the blocks whose input map has at most LATE_HW positions (7 x 7 at
 * 224 px), fp32, neither banded nor fold_se, run over up to LATE_GROUP clips of a batch
 * at once (late_forward_cl), as is the head after them: each product then reads its
 * weights (most of the model's at these stages) once for the group, not once a clip.
 * The same bits as one clip at a time: a product's outputs do not depend on the
 * positions beside them (sgemm.h).
 */
#define LATE_HW 49
#define LATE_GROUP 8

/*
 * Banded blocks (expand_dw_bands): output rows BAND_ROWS at a time through a ring of
 * RING_ROWS padded input rows (at most (BAND_ROWS - 1) * 2 + 5 = 11 are read at once),
 * for the blocks whose expanded map is larger than BANDED_BYTES: at 224 px the first
 * three with an expand (4.8, 1.8 and 1.8 MB), where the ring of the widest is 700 KB.
 */
#define BAND_ROWS 4
#define RING_ROWS 16
#define BANDED_BYTES ((size_t)1 << 20)

struct rvt_model {
    struct rvt_model_info info;
    char *architecture, *format, *audio_attention, *preprocessing; /* owned */
    struct rvt_recipe recipe;                                      /* owned */
    bool audio_scale;
    struct rvt_nn_conv stem; /* 3 -> 32, 3x3/2, SiLU */
    struct mbconv blocks[MAX_BLOCKS];
    int n_blocks;
    struct rvt_nn_dense head; /* 1280 x 320, SiLU */
    struct chattn img_attn;
    struct rvt_nn_conv a_conv1; /* 1 -> 32, 3x3, BN folded, ReLU */
    struct chattn a_attn;
    struct rvt_nn_conv a_conv2; /* 32 -> 64, 3x3 */
    struct rvt_nn_dense fusion; /* 512 x 1344, BN folded, ReLU */
    struct rvt_nn_dense classifier;
    struct plan plan;
    bool cl; /* the image branch runs channels-last (image_forward_cl) */
    /* the fp32 stem's products gathered from zero-padded planes (sgemm.h gemm_gather):
     * its taps' offsets there, im2col's row order */
    bool stem_gather;
    int32_t stem_off[27];
    float norm[3][256]; /* normalised value of each uint8 level, per channel */
    double macs;
    void **mem; /* every weight array, owned */
    size_t n_mem, cap_mem;
};

/* ------------------------------------------------------------------ loading */

struct loader {
    struct rvt_model *m;
    struct rvt_ckpt *c;
    struct rvt_error *err;
};

static void *model_alloc(struct loader *L, size_t bytes)
{
    struct rvt_model *m = L->m;
    void *p;

    if (m->n_mem == m->cap_mem) {
        size_t cap = m->cap_mem ? 2 * m->cap_mem : 256;
        void **nm = realloc(m->mem, cap * sizeof(*nm));
        if (!nm)
            return NULL;
        m->mem = nm;
        m->cap_mem = cap;
    }
    p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p)
        m->mem[m->n_mem++] = p;
    return p;
}

static float *alloc_f32(struct loader *L, size_t n)
{
    float *p = model_alloc(L, (n ? n : 1) * sizeof(float));
    if (!p)
        rvt_error_set(L->err, RVT_ENOMEM, "out of memory");
    return p;
}

static size_t dims_count(int rank, const int64_t *dims)
{
    size_t n = 1;
    int i;
    for (i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

/* The per-output-channel scales of an int8 weight `key` (schemas/checkpoint-int8.md):
 * finite (the reader checks) and positive, max|w| / top or 1; a zero or negative one
 * would silently zero or negate the channel. */
static int read_scales(struct loader *L, const char *key, int64_t n_out, float *scale)
{
    char sk[512];
    int64_t o;
    int ret;

    snprintf(sk, sizeof(sk), "%s_scale", key);
    if ((ret = rvt_ckpt_read_f32(L->c, sk, 1, &n_out, scale, L->err)) < 0)
        return ret;
    for (o = 0; o < n_out; o++)
        if (!(scale[o] > 0.0f))
            return rvt_error_set(L->err, RVT_EFORMAT,
                                 "%s: '%s' element %lld is %g: an int8 weight's scale is "
                                 "positive (max |w| / top, or 1 for an all-zero channel)",
                                 rvt_ckpt_path(L->c), sk, (long long)o, (double)scale[o]);
    return 0;
}

/* An int8 weight `key`: q in -127..127 (-128 is never written: symmetric weights). */
static int read_q(struct loader *L, const char *key, int rank, const int64_t *dims, int8_t *q)
{
    size_t n = dims_count(rank, dims), i;
    int ret;

    if ((ret = rvt_ckpt_read_i8(L->c, key, rank, dims, q, L->err)) < 0)
        return ret;
    for (i = 0; i < n; i++)
        if (q[i] == INT8_MIN)
            return rvt_error_set(L->err, RVT_EFORMAT,
                                 "%s: '%s' element %zu is -128: int8 weights are -127..127",
                                 rvt_ckpt_path(L->c), key, i);
    return 0;
}

/* The static activation range `key`_act_range of an int8 layer, when the checkpoint has
 * one (quantize-model --calibrate, schemas/checkpoint-int8.md). */
static int read_act_range(struct loader *L, const char *key, float *range, bool *has)
{
    char rk[512];
    int64_t two = 2;
    int ret;

    snprintf(rk, sizeof(rk), "%s_act_range", key);
    *has = rvt_ckpt_dtype(L->c, rk) != RVT_CKPT_ABSENT;
    if (!*has)
        return 0;
    if ((ret = rvt_ckpt_read_f32(L->c, rk, 1, &two, range, L->err)) < 0)
        return ret;
    if (range[0] > range[1])
        return rvt_error_set(L->err, RVT_EFORMAT, "%s: '%s' is [%g, %g]: lo above hi",
                             rvt_ckpt_path(L->c), rk, (double)range[0], (double)range[1]);
    return 0;
}

/* A weight the model uses in fp32: float in the file, or int8 + scales dequantized. */
static int read_weight_f32(struct loader *L, const char *key, int rank, const int64_t *dims,
                           float *dst)
{
    size_t n = dims_count(rank, dims), per = n / (size_t)dims[0], i;
    int8_t *q = NULL;
    float *s = NULL;
    int ret;

    if (rvt_ckpt_dtype(L->c, key) != RVT_CKPT_INT8) {
        ret = rvt_ckpt_read_f32(L->c, key, rank, dims, dst, L->err);
        goto done;
    }
    q = malloc(n);
    s = malloc((size_t)dims[0] * sizeof(*s));
    if (!q || !s) {
        ret = rvt_error_set(L->err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    ret = read_q(L, key, rank, dims, q);
    if (ret >= 0)
        ret = read_scales(L, key, dims[0], s);
    if (ret >= 0)
        for (i = 0; i < n; i++)
            dst[i] = s[i / per] * (float)q[i];
done:
    free(q);
    free(s);
    return ret;
}

/* BatchNorm `prefix` as y = s * x + t (computed in double). */
static int read_bn(struct loader *L, const char *prefix, int n, double *s, double *t)
{
    static const char *const part[4] = {"weight", "bias", "running_mean", "running_var"};
    float *v = NULL;
    int64_t d = n;
    char key[512];
    int ret = 0, p, i;

    v = malloc(4 * (size_t)n * sizeof(*v));
    if (!v)
        return rvt_error_set(L->err, RVT_ENOMEM, "out of memory");
    for (p = 0; p < 4 && ret >= 0; p++) {
        snprintf(key, sizeof(key), "%s.%s", prefix, part[p]);
        ret = rvt_ckpt_read_f32(L->c, key, 1, &d, v + (size_t)p * n, L->err);
    }
    for (i = 0; i < n && ret >= 0; i++) {
        double var = v[3 * n + i];
        if (var < 0) {
            ret = rvt_error_set(L->err, RVT_EFORMAT, "%s: '%s.running_var' is negative",
                                rvt_ckpt_path(L->c), prefix);
            break;
        }
        s[i] = (double)v[i] / sqrt(var + BN_EPS);
        t[i] = (double)v[n + i] - (double)v[2 * n + i] * s[i];
    }
    free(v);
    return ret;
}

/*
 * A dense layer from weight `wkey` (rank 2 Linear [o][i] or rank 4 conv
 * [o][ci][k][k], n_in = ci*k*k), optional bias `bkey` and BatchNorm `bn`.
 * int8 weights stay int8 (BN folded into their scales).
 */
static int load_dense(struct loader *L, struct rvt_nn_dense *d, const char *wkey, const char *bkey,
                      const char *bn, int rank, const int64_t *dims, enum rvt_nn_act act)
{
    int n_out = (int)dims[0], n_in = (int)(dims_count(rank, dims) / (size_t)dims[0]), o, i;
    double *s = NULL, *t = NULL;
    float *bias = NULL, act_range[2];
    bool has_range = false;
    char *key = NULL;
    int64_t bd = n_out;
    int ret = 0;

    memset(d, 0, sizeof(*d));
    key = model_alloc(L, strlen(wkey) + 1);
    if (key)
        d->key = strcpy(key, wkey);
    d->n_out = n_out;
    d->n_in = n_in;
    d->act = act;
    bias = alloc_f32(L, (size_t)n_out);
    s = malloc((size_t)n_out * sizeof(*s));
    t = malloc((size_t)n_out * sizeof(*t));
    if (!bias || !s || !t) {
        ret = rvt_error_set(L->err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    if (rvt_ckpt_dtype(L->c, wkey) == RVT_CKPT_INT8) {
        int8_t *q = model_alloc(L, (size_t)n_out * n_in);
        float *sc = alloc_f32(L, (size_t)n_out);
        if (!q || !sc) {
            ret = rvt_error_set(L->err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        ret = read_q(L, wkey, rank, dims, q);
        if (ret >= 0)
            ret = read_scales(L, wkey, n_out, sc);
        if (ret >= 0)
            ret = read_act_range(L, wkey, act_range, &has_range);
        d->wtype = RVT_NN_WEIGHT_I8;
        d->w_i8 = q;
        d->w_scale = sc;
        L->m->info.n_int8_layers++;
    } else {
        float *w = alloc_f32(L, (size_t)n_out * n_in);
        if (!w) {
            ret = RVT_ENOMEM;
            goto done;
        }
        ret = rvt_ckpt_read_f32(L->c, wkey, rank, dims, w, L->err);
        d->wtype = RVT_NN_WEIGHT_F32;
        d->w = w;
    }
    if (ret < 0)
        goto done;
    L->m->info.n_params += (size_t)n_out * n_in;
    for (o = 0; o < n_out; o++) {
        s[o] = 1.0;
        t[o] = 0.0;
        bias[o] = 0.0f;
    }
    if (bkey) {
        ret = rvt_ckpt_read_f32(L->c, bkey, 1, &bd, bias, L->err);
        if (ret < 0)
            goto done;
        L->m->info.n_params += (size_t)n_out;
    }
    if (bn) {
        ret = read_bn(L, bn, n_out, s, t);
        if (ret < 0)
            goto done;
        L->m->info.n_params += 4 * (size_t)n_out;
        for (o = 0; o < n_out; o++) {
            bias[o] = (float)(s[o] * (double)bias[o] + t[o]);
            if (d->wtype == RVT_NN_WEIGHT_I8) {
                ((float *)d->w_scale)[o] = (float)(s[o] * (double)d->w_scale[o]);
            } else {
                float *w = (float *)d->w + (size_t)o * n_in;
                for (i = 0; i < n_in; i++)
                    w[i] = (float)(s[o] * (double)w[i]);
            }
        }
    }
    d->bias = bias;
    if (d->wtype == RVT_NN_WEIGHT_I8 &&
        (ret = rvt_nn_dense_prepare_i8(d, has_range ? act_range : NULL, L->err)) == RVT_EINVAL) {
        /* the file's numbers, not an argument of ours: which file and weight */
        char why[sizeof(L->err->msg)];
        snprintf(why, sizeof(why), "%s", L->err->msg);
        ret = rvt_error_set(L->err, RVT_EFORMAT, "%s: '%s': %s", rvt_ckpt_path(L->c), wkey, why);
    }
done:
    free(s);
    free(t);
    return ret;
}

/* A Conv2dNormActivation / Conv2d+BN: `conv` is the conv key prefix, `bn` the BN prefix
 * (NULL: none), has_bias: the conv has a bias. */
static int load_conv(struct loader *L, struct rvt_nn_conv *l, const char *conv, bool has_bias,
                     const char *bn, int c_in, int c_out, int k, int stride, bool depthwise,
                     enum rvt_nn_act act)
{
    char wkey[512], bkey[512];
    int ret = 0, c, i;

    memset(l, 0, sizeof(*l));
    l->c_in = c_in;
    l->c_out = c_out;
    l->k = k;
    l->stride = stride;
    l->pad = (k - 1) / 2;
    l->depthwise = depthwise;
    l->act = act;
    snprintf(wkey, sizeof(wkey), "%s.weight", conv);
    snprintf(bkey, sizeof(bkey), "%s.bias", conv);
    if (!depthwise) {
        int64_t dims[4] = {c_out, c_in, k, k};
        return load_dense(L, &l->gemm, wkey, has_bias ? bkey : NULL, bn, 4, dims, act);
    } else {
        int64_t dims[4] = {c_out, 1, k, k}, bd = c_out;
        float *w = alloc_f32(L, (size_t)c_out * k * k), *b = alloc_f32(L, (size_t)c_out);
        double *s = malloc((size_t)c_out * sizeof(*s)), *t = malloc((size_t)c_out * sizeof(*t));
        if (!w || !b || !s || !t) {
            ret = rvt_error_set(L->err, RVT_ENOMEM, "out of memory");
            goto dw_done;
        }
        ret = read_weight_f32(L, wkey, 4, dims, w);
        if (ret < 0)
            goto dw_done;
        L->m->info.n_params += (size_t)c_out * k * k;
        for (c = 0; c < c_out; c++) {
            b[c] = 0.0f;
            s[c] = 1.0;
            t[c] = 0.0;
        }
        if (has_bias && (ret = rvt_ckpt_read_f32(L->c, bkey, 1, &bd, b, L->err)) < 0)
            goto dw_done;
        if (bn && (ret = read_bn(L, bn, c_out, s, t)) < 0)
            goto dw_done;
        if (bn)
            L->m->info.n_params += 4 * (size_t)c_out;
        for (c = 0; c < c_out; c++) {
            b[c] = (float)(s[c] * (double)b[c] + t[c]);
            for (i = 0; i < k * k; i++)
                w[(size_t)c * k * k + i] = (float)(s[c] * (double)w[(size_t)c * k * k + i]);
        }
        l->dw_w = w;
        l->dw_bias = b;
    dw_done:
        free(s);
        free(t);
        return ret;
    }
}

static int load_linear(struct loader *L, struct rvt_nn_dense *d, const char *prefix, const char *bn,
                       int n_out, int n_in, enum rvt_nn_act act)
{
    char wkey[512], bkey[512];
    int64_t dims[2] = {n_out, n_in};

    snprintf(wkey, sizeof(wkey), "%s.weight", prefix);
    snprintf(bkey, sizeof(bkey), "%s.bias", prefix);
    return load_dense(L, d, wkey, bkey, bn, 2, dims, act);
}

/* 1x1 Conv2d with bias (the SE layers). */
static int load_conv1x1(struct loader *L, struct rvt_nn_dense *d, const char *prefix, const char *bn,
                        bool has_bias, int n_out, int n_in, enum rvt_nn_act act)
{
    char wkey[512], bkey[512];
    int64_t dims[4] = {n_out, n_in, 1, 1};

    snprintf(wkey, sizeof(wkey), "%s.weight", prefix);
    snprintf(bkey, sizeof(bkey), "%s.bias", prefix);
    return load_dense(L, d, wkey, has_bias ? bkey : NULL, bn, 4, dims, act);
}

static int load_chattn(struct loader *L, struct chattn *a, const char *prefix, int c)
{
    char k1[256], k2[256];
    int hidden = c / 8 > 0 ? c / 8 : 1, ret;

    snprintf(k1, sizeof(k1), "%s.fc.0", prefix);
    snprintf(k2, sizeof(k2), "%s.fc.2", prefix);
    ret = load_linear(L, &a->fc1, k1, NULL, hidden, c, RVT_NN_ACT_RELU);
    if (ret >= 0)
        ret = load_linear(L, &a->fc2, k2, NULL, c, hidden, RVT_NN_ACT_SIGMOID);
    return ret;
}

static int load_blocks(struct loader *L)
{
    struct rvt_model *m = L->m;
    char p[256], a[256], b[256];
    int s, i, ret = 0;

    for (s = 0; s < 7 && ret >= 0; s++) {
        for (i = 0; i < b0_stages[s].n && ret >= 0; i++) {
            struct mbconv *blk = &m->blocks[m->n_blocks++];
            int j = 0;
            blk->stage = s + 1;
            blk->index = i;
            blk->c_in = i == 0 ? b0_stages[s].c_in : b0_stages[s].c_out;
            blk->c_out = b0_stages[s].c_out;
            blk->c_exp = blk->c_in * b0_stages[s].expand;
            blk->k = b0_stages[s].k;
            blk->stride = i == 0 ? b0_stages[s].stride : 1;
            blk->sq = blk->c_in / 4 > 0 ? blk->c_in / 4 : 1;
            blk->expand = b0_stages[s].expand != 1;
            blk->residual = blk->stride == 1 && blk->c_in == blk->c_out;
            snprintf(p, sizeof(p), "img_encoder.features.%d.%d.block", s + 1, i);
            if (blk->expand) {
                snprintf(a, sizeof(a), "%s.%d.0", p, j);
                snprintf(b, sizeof(b), "%s.%d.1", p, j++);
                ret = load_conv1x1(L, &blk->expand_l, a, b, false, blk->c_exp, blk->c_in,
                                   RVT_NN_ACT_SILU);
                if (ret < 0)
                    break;
            }
            snprintf(a, sizeof(a), "%s.%d.0", p, j);
            snprintf(b, sizeof(b), "%s.%d.1", p, j++);
            ret = load_conv(L, &blk->dw, a, false, b, blk->c_exp, blk->c_exp, blk->k, blk->stride,
                            true, RVT_NN_ACT_SILU);
            if (ret < 0)
                break;
            snprintf(a, sizeof(a), "%s.%d.fc1", p, j);
            snprintf(b, sizeof(b), "%s.%d.fc2", p, j++);
            ret = load_conv1x1(L, &blk->se1, a, NULL, true, blk->sq, blk->c_exp, RVT_NN_ACT_SILU);
            if (ret >= 0)
                ret = load_conv1x1(L, &blk->se2, b, NULL, true, blk->c_exp, blk->sq,
                                   RVT_NN_ACT_SIGMOID);
            if (ret < 0)
                break;
            snprintf(a, sizeof(a), "%s.%d.0", p, j);
            snprintf(b, sizeof(b), "%s.%d.1", p, j);
            ret = load_conv1x1(L, &blk->project, a, b, false, blk->c_out, blk->c_exp,
                               RVT_NN_ACT_NONE);
            if (ret >= 0 && (blk->expand || m->n_blocks == 1) &&
                blk->c_exp % RVT_NN_CL_BLOCK == 0) {
                int kk = blk->k * blk->k, c, t;
                float *wcl = alloc_f32(L, (size_t)kk * blk->c_exp);
                if (!wcl) {
                    ret = RVT_ENOMEM;
                    break;
                }
                for (c = 0; c < blk->c_exp; c++)
                    for (t = 0; t < kk; t++)
                        wcl[(size_t)t * blk->c_exp + c] = blk->dw.dw_w[(size_t)c * kk + t];
                blk->dw_w_cl = wcl;
                blk->cl = true;
            }
        }
    }
    return ret;
}

/* An fp32 layer's weights packed for nn/sgemm.h (the channels-last path). */
static int pack_cl(struct loader *L, struct rvt_nn_dense *d)
{
    float *wt;

    if (d->wtype != RVT_NN_WEIGHT_F32)
        return 0;
    wt = alloc_f32(L, rvt_sgemm_wt_floats(d->n_out, d->n_in));
    if (!wt)
        return RVT_ENOMEM;
    rvt_sgemm_pack(d->w, d->n_out, d->n_in, wt, 0, d->n_out);
    d->wt_cl = wt;
    return 0;
}

/*
 * Whether the image branch runs channels-last from the stem to the head (m->cl): with
 * the AVX2 or AVX-512 kernels (rvt_nn_cl_level: the depthwise conv's channels-last
 * kernel, nn/sgemm.h for fp32 layers, qgemm's gemm_t for int8 ones), every block
 * channels-last (bl->cl) and only the first without an expand.  Packs the fp32 layers' weights for it.
 */
static int prepare_cl(struct loader *L)
{
    struct rvt_model *m = L->m;
    bool ok = rvt_nn_cl_level() && m->n_blocks > 0;
    int i, ret = 0;

    for (i = 0; ok && i < m->n_blocks; i++)
        ok = m->blocks[i].cl && (m->blocks[i].expand || i == 0);
    if (!ok)
        return 0;
    for (i = 0; ret >= 0 && i < m->n_blocks; i++) {
        if (m->blocks[i].expand)
            ret = pack_cl(L, &m->blocks[i].expand_l);
        if (ret >= 0)
            ret = pack_cl(L, &m->blocks[i].project);
    }
    if (ret >= 0)
        ret = pack_cl(L, &m->stem.gemm);
    if (ret >= 0)
        ret = pack_cl(L, &m->head);
    /* the vector layers (squeeze-excitation, attention, head): nn/sgemm.h with one
     * position (layer.c) */
    for (i = 0; ret >= 0 && i < m->n_blocks; i++) {
        ret = pack_cl(L, &m->blocks[i].se1);
        if (ret >= 0)
            ret = pack_cl(L, &m->blocks[i].se2);
    }
    if (ret >= 0)
        ret = pack_cl(L, &m->img_attn.fc1);
    if (ret >= 0)
        ret = pack_cl(L, &m->img_attn.fc2);
    if (ret >= 0)
        ret = pack_cl(L, &m->a_attn.fc1);
    if (ret >= 0)
        ret = pack_cl(L, &m->a_attn.fc2);
    if (ret >= 0)
        ret = pack_cl(L, &m->fusion);
    if (ret >= 0)
        ret = pack_cl(L, &m->classifier);
    if (ret < 0)
        return ret;
    for (i = 0; ok && i < m->n_blocks; i++)
        ok = (!m->blocks[i].expand || rvt_nn_dense_cl_ok(&m->blocks[i].expand_l)) &&
             rvt_nn_dense_cl_ok(&m->blocks[i].project);
    m->cl = ok && rvt_nn_dense_cl_ok(&m->stem.gemm) && rvt_nn_dense_cl_ok(&m->head);
    m->stem_gather = m->cl && m->stem.gemm.wtype == RVT_NN_WEIGHT_F32 && m->stem.k == 3 &&
                     m->stem.c_in == 3 && m->stem.stride == 2 && m->stem.pad == 1;
    if (m->stem_gather) {
        size_t hp = (size_t)m->info.image_h + 2, wp = (size_t)m->info.image_w + 2;
        int c, ky, kx;
        for (c = 0; c < 3; c++)
            for (ky = 0; ky < 3; ky++)
                for (kx = 0; kx < 3; kx++)
                    m->stem_off[(c * 3 + ky) * 3 + kx] = (int32_t)((size_t)c * hp * wp +
                                                                   (size_t)ky * wp + (size_t)kx);
    }
    return 0;
}

/* image.* and audio.* of the checkpoint's preprocessing text. */
static int load_preprocessing(struct loader *L)
{
    struct rvt_model_info *info = &L->m->info;
    struct rvt_config *cfg = NULL;
    double mean[4], std[4];
    long w, h, nm, nf;
    int nmean = 0, nstd = 0, i, ret;

    ret = rvt_ckpt_attr_str(L->c, "preprocessing", &L->m->preprocessing, L->err);
    if (ret < 0)
        goto done;
    info->preprocessing = L->m->preprocessing;
    /* the frame recipe: defaults <- preprocessing <- the image.* attributes */
    info->recipe = &L->m->recipe;
    if ((ret = rvt_ckpt_get_recipe(L->c, L->m->preprocessing, &L->m->recipe, L->err)) < 0)
        goto done;
    ret = rvt_config_new_default(&cfg, L->err);
    if (ret >= 0)
        ret = rvt_config_load_string(cfg, L->m->preprocessing, strlen(L->m->preprocessing),
                                     "preprocessing", L->err);
    if (ret >= 0)
        ret = rvt_config_get_int(cfg, "image.width", &w, L->err);
    if (ret >= 0)
        ret = rvt_config_get_int(cfg, "image.height", &h, L->err);
    if (ret >= 0)
        ret = rvt_config_get_int(cfg, "audio.n_mels", &nm, L->err);
    if (ret >= 0)
        ret = rvt_config_get_int(cfg, "audio.max_len", &nf, L->err);
    if (ret >= 0)
        ret = rvt_config_get_doubles(cfg, "image.mean", mean, 4, &nmean, L->err);
    if (ret >= 0)
        ret = rvt_config_get_doubles(cfg, "image.std", std, 4, &nstd, L->err);
    if (ret < 0) {
        rvt_error_prefix(L->err, "%s: attribute 'preprocessing'", rvt_ckpt_path(L->c));
        goto done;
    }
    if (w < 1 || w > 8192 || h < 1 || h > 8192 || nm < 2 || nm > 4096 || nf < 2 || nf > 1000000 ||
        nmean != 3 || nstd != 3) {
        ret = rvt_error_set(L->err, RVT_EFORMAT,
                            "%s: attribute 'preprocessing': image %ldx%ld, %d means, %d stds, "
                            "%ld mels, %ld frames: out of range",
                            rvt_ckpt_path(L->c), w, h, nmean, nstd, nm, nf);
        goto done;
    }
    for (i = 0; i < 3; i++) {
        if (!(std[i] > 0)) {
            ret = rvt_error_set(L->err, RVT_EFORMAT, "%s: image.std must be > 0",
                                rvt_ckpt_path(L->c));
            goto done;
        }
        info->mean[i] = (float)mean[i];
        info->std[i] = (float)std[i];
    }
    for (i = 0; i < 3; i++) {
        int u;
        for (u = 0; u < 256; u++)
            L->m->norm[i][u] = ((float)u / 255.0f - info->mean[i]) / info->std[i];
    }
    info->image_w = (int)w;
    info->image_h = (int)h;
    info->n_mels = (int)nm;
    info->n_frames = (int)nf;
done:
    rvt_config_free(&cfg);
    return ret;
}

static void plan_dense(struct plan *p, const struct rvt_nn_dense *d, size_t n_cols)
{
    p->scr = RVT_MAX(p->scr, rvt_nn_dense_scratch(d, n_cols));
}

static bool late_ok(const struct mbconv *b, size_t hw)
{
    return b->cl && !b->banded && !b->fold_se && hw <= LATE_HW &&
           (!b->expand || b->expand_l.wtype == RVT_NN_WEIGHT_F32) &&
           b->project.wtype == RVT_NN_WEIGHT_F32;
}

/* The late blocks (LATE_HW): the last blocks that all qualify, none with an int8 head
 * (int8 runs a clip at a time: each quantizes its own maps); a clip's part of their
 * buffers (l_in: the head's input when no block is late). */
static void plan_late(struct rvt_model *m)
{
    struct plan *p = &m->plan;
    int hs[MAX_BLOCKS + 1], ws[MAX_BLOCKS + 1], i;

    hs[0] = rvt_nn_out_size(m->info.image_h, 3, 2, 1);
    ws[0] = rvt_nn_out_size(m->info.image_w, 3, 2, 1);
    for (i = 0; i < m->n_blocks; i++) { /* block i's input map: hs[i] x ws[i] */
        const struct mbconv *b = &m->blocks[i];
        hs[i + 1] = rvt_nn_out_size(hs[i], b->k, b->stride, b->k / 2);
        ws[i + 1] = rvt_nn_out_size(ws[i], b->k, b->stride, b->k / 2);
    }
    p->late = m->n_blocks;
    if (m->cl && m->head.wtype == RVT_NN_WEIGHT_F32)
        while (p->late > 0 &&
               late_ok(&m->blocks[p->late - 1], (size_t)hs[p->late - 1] * ws[p->late - 1]))
            p->late--;
    p->l_h = hs[p->late];
    p->l_w = ws[p->late];
    p->l_in = (size_t)(p->late < m->n_blocks ? m->blocks[p->late].c_in : 320) * p->l_h * p->l_w;
    p->l_io = p->l_in;
    p->l_e = (size_t)N_IMG * hs[m->n_blocks] * ws[m->n_blocks];
    for (i = p->late; i < m->n_blocks; i++) {
        const struct mbconv *b = &m->blocks[i];
        const size_t hw = (size_t)hs[i] * ws[i], n = (size_t)hs[i + 1] * ws[i + 1];
        p->l_io = RVT_MAX(p->l_io, RVT_MAX((size_t)b->c_in * hw, (size_t)b->c_out * n));
        p->l_pad = RVT_MAX(p->l_pad, (size_t)b->c_exp * (hs[i] + b->k - 1) * (ws[i] + b->k - 1));
        p->l_dwo = RVT_MAX(p->l_dwo, (size_t)b->c_exp * n);
        p->l_rows = RVT_MAX(p->l_rows, (size_t)b->c_exp * hs[i + 1]);
        p->l_vec = RVT_MAX(p->l_vec, (size_t)b->c_exp);
    }
}

/* Buffer sizes and multiply-adds, walking the graph with the checkpoint's input size. */
static void make_plan(struct rvt_model *m)
{
    struct plan *p = &m->plan;
    int h = m->info.image_h, w = m->info.image_w, nm = m->info.n_mels, nf = m->info.n_frames;
    int oh, ow, i;
    size_t hw;
    double macs = 0;

    memset(p, 0, sizeof(*p));
    /* the frame's planes, padded for the stem's gather; or the mel */
    p->x0 = RVT_MAX((size_t)3 * (h + 2) * (w + 2), (size_t)nm * nf);
    p->scr = rvt_nn_conv_scratch(&m->stem, h, w);
    oh = rvt_nn_out_size(h, 3, 2, 1);
    ow = rvt_nn_out_size(w, 3, 2, 1);
    macs += 32.0 * 27 * oh * ow;
    h = oh;
    w = ow;
    p->io = (size_t)32 * h * w;
    p->exp = (size_t)32 * h * w; /* the stem's channels-last output */
    p->vec = N_FEAT;
    for (i = 0; i < m->n_blocks; i++) {
        struct mbconv *b = &m->blocks[i];
        hw = (size_t)h * w;
        oh = rvt_nn_out_size(h, b->k, b->stride, b->k / 2);
        ow = rvt_nn_out_size(w, b->k, b->stride, b->k / 2);
        if (b->expand) {
            p->exp = RVT_MAX(p->exp, (size_t)b->c_exp * hw);
            plan_dense(p, &b->expand_l, hw);
            macs += (double)b->c_exp * b->c_in * hw;
        }
        p->scr = RVT_MAX(p->scr, rvt_nn_conv_scratch(&b->dw, h, w));
        p->own = RVT_MAX(p->own, rvt_nn_conv_scratch(&b->dw, h, w));
        if (b->cl) {
            p->pad = RVT_MAX(p->pad, (size_t)b->c_exp * (h + b->k - 1) * (w + b->k - 1));
            p->rows = RVT_MAX(p->rows, (size_t)b->c_exp * oh);
        }
        b->banded = m->cl && b->expand && (size_t)b->c_exp * hw * sizeof(float) > BANDED_BYTES;
        if (b->banded) {
            p->ring = RVT_MAX(p->ring, (size_t)RING_ROWS * (w + b->k - 1) * b->c_exp);
            p->band_scr = RVT_MAX(p->band_scr,
                                  rvt_nn_dense_scratch(&b->expand_l, (size_t)RING_ROWS * w));
        }
        macs += (double)b->c_exp * b->k * b->k * oh * ow;
        p->dwo = RVT_MAX(p->dwo, (size_t)b->c_exp * oh * ow);
        plan_dense(p, &b->se1, 1);
        plan_dense(p, &b->se2, 1);
        macs += 2.0 * b->c_exp * b->sq;
        plan_dense(p, &b->project, (size_t)oh * ow);
        b->fold_se = m->cl && b->project.wtype == RVT_NN_WEIGHT_F32 &&
                     8 * rvt_sgemm_wt_floats(b->c_out, b->c_exp) < (size_t)b->c_exp * oh * ow;
        if (b->fold_se)
            p->fold = RVT_MAX(p->fold, rvt_sgemm_wt_floats(b->c_out, b->c_exp));
        macs += (double)b->c_out * b->c_exp * oh * ow;
        p->io = RVT_MAX(p->io, (size_t)b->c_out * oh * ow);
        h = oh;
        w = ow;
    }
    /* a banded block's ring and expand scratch are a thread's own scratch */
    if (p->ring) {
        size_t band = (p->ring + 15) / 16 * 16 + p->band_scr;
        p->own = RVT_MAX(p->own, band);
        p->scr = RVT_MAX(p->scr, band);
    }
    hw = (size_t)h * w;
    p->exp = RVT_MAX(p->exp, (size_t)N_IMG * hw);
    plan_late(m);
    plan_dense(p, &m->head, hw);
    macs += (double)N_IMG * 320 * hw;
    plan_dense(p, &m->img_attn.fc1, 1);
    plan_dense(p, &m->img_attn.fc2, 1);
    macs += 2.0 * N_IMG * (N_IMG / 8);
    /* audio: conv1 -> exp, maxpool -> dwo, conv2 -> io */
    p->scr = RVT_MAX(p->scr, rvt_nn_conv_scratch(&m->a_conv1, nm, nf));
    p->own = RVT_MAX(p->own, rvt_nn_conv_scratch(&m->a_conv1, nm, nf));
    if (rvt_nn_conv_pool_ok(&m->a_conv1))
        p->own = RVT_MAX(p->own, rvt_nn_conv_pool_scratch(&m->a_conv1, nm, nf));
    p->exp = RVT_MAX(p->exp, (size_t)32 * nm * nf);
    macs += 32.0 * 9 * nm * nf;
    p->dwo = RVT_MAX(p->dwo, (size_t)32 * (nm / 2) * (nf / 2));
    macs += 2 * 2.0 * 32 * 4 * 2;
    if (m->audio_scale) {
        p->scr = RVT_MAX(p->scr, rvt_nn_conv_scratch(&m->a_conv2, nm / 2, nf / 2));
        p->io = RVT_MAX(p->io, (size_t)N_AUD * (nm / 2) * (nf / 2));
        macs += 64.0 * 288 * (nm / 2) * (nf / 2);
    } else {
        p->scr = RVT_MAX(p->scr, rvt_nn_conv_scratch(&m->a_conv2, 1, 1));
        macs += 64.0 * 288;
    }
    plan_dense(p, &m->a_attn.fc1, 1);
    plan_dense(p, &m->a_attn.fc2, 1);
    plan_dense(p, &m->fusion, 1);
    plan_dense(p, &m->classifier, 1);
    macs += (double)N_HID * N_FEAT + (double)m->info.n_classes * N_HID;
    m->macs = macs;
}

int rvt_model_load(struct rvt_model **out, const char *path, struct rvt_error *err)
{
    struct rvt_model *m = NULL;
    struct loader L;
    long n_classes = 0;
    int ret;

    *out = NULL;
    memset(&L, 0, sizeof(L));
    L.err = err;
    m = calloc(1, sizeof(*m));
    if (!m)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    L.m = m;
    ret = rvt_ckpt_open(&L.c, path, err);
    if (ret < 0)
        goto done;
    ret = rvt_ckpt_attr_str(L.c, "architecture", &m->architecture, err);
    if (ret < 0)
        goto done;
    if (strcmp(m->architecture, RVT_MODEL_ARCHITECTURE)) {
        ret = rvt_error_set(err, RVT_EUNSUPPORTED, "%s: unknown architecture '%s' (expected '%s')",
                            path, m->architecture, RVT_MODEL_ARCHITECTURE);
        goto done;
    }
    if (rvt_ckpt_has_attr(L.c, "schema_version")) {
        char *ver = NULL;
        ret = rvt_ckpt_attr_str(L.c, "schema_version", &ver, err);
        if (ret >= 0 && strcmp(ver, RVT_MODEL_SCHEMA_VERSION))
            ret = rvt_error_set(err, RVT_EUNSUPPORTED,
                                "%s: checkpoint schema_version '%s', expected '%s' (a newer "
                                "ravdess-tools wrote it?)",
                                path, ver, RVT_MODEL_SCHEMA_VERSION);
        free(ver);
        if (ret < 0)
            goto done;
    }
    ret = rvt_ckpt_attr_str(L.c, "format", &m->format, err);
    if (ret < 0)
        goto done;
    if (strcmp(m->format, "fp32") && strcmp(m->format, "int8")) {
        ret = rvt_error_set(err, RVT_EUNSUPPORTED, "%s: unknown format '%s' (expected fp32 or int8)",
                            path, m->format);
        goto done;
    }
    ret = rvt_ckpt_attr_str(L.c, "audio_attention", &m->audio_attention, err);
    if (ret < 0)
        goto done;
    if (strcmp(m->audio_attention, "replace") && strcmp(m->audio_attention, "scale")) {
        ret = rvt_error_set(err, RVT_EUNSUPPORTED,
                            "%s: unknown audio_attention '%s' (expected replace or scale)", path,
                            m->audio_attention);
        goto done;
    }
    m->audio_scale = !strcmp(m->audio_attention, "scale");
    ret = rvt_ckpt_attr_int(L.c, "num_classes", &n_classes, err);
    if (ret < 0)
        goto done;
    ret = rvt_ckpt_attr_strings(L.c, "class_names", &m->info.class_names, &m->info.n_classes, err);
    if (ret < 0)
        goto done;
    if (n_classes < 1 || n_classes > RVT_MODEL_MAX_CLASSES || n_classes != m->info.n_classes) {
        ret = rvt_error_set(err, RVT_EFORMAT, "%s: num_classes is %ld but class_names has %d names",
                            path, n_classes, m->info.n_classes);
        goto done;
    }
    m->info.architecture = m->architecture;
    m->info.format = m->format;
    m->info.audio_attention = m->audio_attention;
    ret = load_preprocessing(&L);
    if (ret < 0)
        goto done;

    ret = load_conv(&L, &m->stem, "img_encoder.features.0.0", false, "img_encoder.features.0.1", 3,
                    32, 3, 2, false, RVT_NN_ACT_SILU);
    if (ret >= 0)
        ret = load_blocks(&L);
    if (ret >= 0)
        ret = load_conv1x1(&L, &m->head, "img_encoder.features.8.0", "img_encoder.features.8.1",
                           false, N_IMG, 320, RVT_NN_ACT_SILU);
    if (ret >= 0)
        ret = load_chattn(&L, &m->img_attn, "img_attn", N_IMG);
    if (ret >= 0)
        ret = load_conv(&L, &m->a_conv1, "audio_encoder.0", true, "audio_encoder.1", 1, 32, 3, 1,
                        false, RVT_NN_ACT_RELU);
    if (ret >= 0)
        ret = load_chattn(&L, &m->a_attn, "audio_encoder.4", 32);
    if (ret >= 0)
        ret = load_conv(&L, &m->a_conv2, "audio_encoder.5", true, NULL, 32, N_AUD, 3, 1, false,
                        RVT_NN_ACT_NONE);
    if (ret >= 0)
        ret = load_linear(&L, &m->fusion, "fusion.0", "fusion.1", N_HID, N_FEAT, RVT_NN_ACT_RELU);
    if (ret >= 0)
        ret = load_linear(&L, &m->classifier, "classifier", NULL, (int)n_classes, N_HID,
                          RVT_NN_ACT_NONE);
    if (ret >= 0)
        ret = prepare_cl(&L);
    if (ret >= 0)
        ret = rvt_ckpt_check_unused(L.c, err);
    if (ret < 0)
        goto done;
    make_plan(m);
done:
    rvt_ckpt_close(&L.c);
    if (ret < 0)
        rvt_model_free(&m);
    *out = m;
    return ret;
}

static void release_block(struct mbconv *b)
{
    rvt_nn_dense_release(&b->expand_l);
    rvt_nn_dense_release(&b->dw.gemm);
    rvt_nn_dense_release(&b->se1);
    rvt_nn_dense_release(&b->se2);
    rvt_nn_dense_release(&b->project);
}

void rvt_model_free(struct rvt_model **mp)
{
    struct rvt_model *m = *mp;
    size_t i;
    int b;

    if (!m)
        return;
    for (b = 0; b < m->n_blocks; b++)
        release_block(&m->blocks[b]);
    rvt_nn_dense_release(&m->stem.gemm);
    rvt_nn_dense_release(&m->head);
    rvt_nn_dense_release(&m->img_attn.fc1);
    rvt_nn_dense_release(&m->img_attn.fc2);
    rvt_nn_dense_release(&m->a_conv1.gemm);
    rvt_nn_dense_release(&m->a_attn.fc1);
    rvt_nn_dense_release(&m->a_attn.fc2);
    rvt_nn_dense_release(&m->a_conv2.gemm);
    rvt_nn_dense_release(&m->fusion);
    rvt_nn_dense_release(&m->classifier);
    for (i = 0; i < m->n_mem; i++)
        free(m->mem[i]);
    free(m->mem);
    rvt_ckpt_strings_free(m->info.class_names, m->info.n_classes);
    free(m->architecture);
    free(m->format);
    free(m->audio_attention);
    free(m->preprocessing);
    rvt_recipe_release(&m->recipe);
    free(m);
    *mp = NULL;
}

const struct rvt_model_info *rvt_model_get_info(const struct rvt_model *m)
{
    return &m->info;
}

double rvt_model_macs(const struct rvt_model *m)
{
    return m->macs;
}

/* ------------------------------------------------------------ compatibility */

int rvt_model_check_preprocessing(const struct rvt_model *m, const char *config_text,
                                  const char *store_name, const char *model_name,
                                  struct rvt_error *err)
{
    static const char *const keys[] = {
        "image.width", "image.height", "image.frames", "image.pick", "image.crop",
        "audio.sr", "audio.n_fft", "audio.hop", "audio.n_mels", "audio.fmin", "audio.fmax",
        "audio.top_db", "audio.amin", "audio.ref", "audio.max_len", "audio.preemphasis",
        "audio.res_type",
    };
    struct rvt_config *st = NULL, *ck = NULL;
    size_t i;
    int ret;

    ret = rvt_config_new_default(&st, err);
    if (ret >= 0 && (ret = rvt_config_load_string(st, config_text, strlen(config_text),
                                                  store_name, err)) < 0)
        rvt_error_prefix(err, "%s: config attribute", store_name);
    if (ret >= 0)
        ret = rvt_config_new_default(&ck, err);
    if (ret >= 0)
        ret = rvt_config_load_string(ck, m->preprocessing, strlen(m->preprocessing), model_name, err);
    for (i = 0; i < RVT_ARRAY_SIZE(keys) && ret >= 0; i++) {
        const char *a = rvt_config_get(st, keys[i]), *b = rvt_config_get(ck, keys[i]);
        if (!a || !b || rvt_config_same_value(a, b))
            continue;
        ret = rvt_error_set(err, RVT_EMISMATCH, "'%s' has %s %s but the checkpoint '%s' expects %s",
                            store_name, keys[i], a, model_name, b);
    }
    rvt_config_free(&st);
    rvt_config_free(&ck);
    return ret;
}

static void join_names(char *buf, size_t n, const char *const *names, size_t count)
{
    size_t len = 0, i;

    buf[0] = '\0';
    for (i = 0; i < count && len + 1 < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "," : "", names[i]);
}

int rvt_model_check_classes(const struct rvt_model *m, const char *const *names, size_t n,
                            const char *store_name, const char *model_name,
                            struct rvt_error *err)
{
    char a[400], b[400];
    size_t i;
    bool same = n == (size_t)m->info.n_classes;

    for (i = 0; same && i < n; i++)
        same = !strcmp(names[i], m->info.class_names[i]);
    if (same)
        return 0;
    join_names(a, sizeof(a), names, n);
    join_names(b, sizeof(b), (const char *const *)m->info.class_names, (size_t)m->info.n_classes);
    return rvt_error_set(err, RVT_EMISMATCH,
                         "'%s' has the label set %s but the checkpoint '%s' has %s", store_name, a,
                         model_name, b);
}

/* ------------------------------------------------------------------ running */

struct rvt_nn_session {
    const struct rvt_model *m;
    size_t max_batch, bytes;
    float *x0, *a, *b, *e, *d, *scr; /* per-clip activations (plan sizes) */
    float *pad;                      /* plan.pad: padded channels-last input */
    float *tbuf;                     /* NCHW copies of channels-last tensors for trace */
    float *v1, *v2, *v3, *v4;        /* vectors of up to plan.vec floats */
    float *rsum;                     /* plan.rows: the depthwise conv's row sums */
    float *fold;                     /* plan.fold: a project's weights, scaled */
    /* the late blocks of up to `group` clips (late_forward_cl), plan.l_* each a clip:
     * their maps in and out (l_io), padded input (l_pad), depthwise output (l_dwo) and
     * its row sums (l_rows), excitation vectors (l_vec), the head's output (l_e) */
    size_t group;
    float *la, *lb, *lpad, *ld, *lrsum, *lv3, *le;
    double *sums;                    /* plan.vec */
    float *feat;                     /* [max_batch][N_FEAT] */
    float *hid;                      /* [group][N_HID] */
    float *lat;                      /* [group][N_IMG]: the image attention's weights */
    struct rvt_nn_team *team;        /* threads of one clip, or NULL */
    float *own[RVT_NN_TEAM_MAX];     /* each thread's own scratch; own[0] = scr */
    void *mem;
    rvt_nn_trace_fn trace;
    void *trace_ctx;
};

int rvt_nn_session_new(struct rvt_nn_session **out, const struct rvt_model *m, size_t max_batch,
                       struct rvt_error *err)
{
    const struct plan *p = &m->plan;
    struct rvt_nn_session *s;
    size_t sizes[24], total = 0, i, g;
    float **dst[23];
    char *base;

    *out = NULL;
    if (max_batch < 1 || max_batch > 1000000)
        return rvt_error_set(err, RVT_EINVAL, "batch size %zu out of range", max_batch);
    s = calloc(1, sizeof(*s));
    if (!s)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    s->m = m;
    s->max_batch = max_batch;
    /* an int8 head takes one clip (plan_late) */
    g = s->group = m->cl && m->head.wtype == RVT_NN_WEIGHT_F32 ? RVT_MIN(max_batch, LATE_GROUP) : 1;
    sizes[0] = p->x0;
    sizes[1] = p->io;
    sizes[2] = p->io;
    sizes[3] = p->exp;
    sizes[4] = p->dwo;
    sizes[5] = p->scr + 64;
    sizes[6] = sizes[7] = sizes[8] = sizes[9] = p->vec;
    sizes[10] = max_batch * N_FEAT;
    sizes[11] = g * N_HID;
    sizes[12] = p->pad;
    sizes[13] = p->rows;
    sizes[14] = p->fold;
    sizes[15] = g * p->l_io;
    sizes[16] = g * p->l_io;
    sizes[17] = g * p->l_pad;
    sizes[18] = g * p->l_dwo;
    sizes[19] = g * p->l_rows;
    sizes[20] = g * p->l_vec;
    sizes[21] = g * p->l_e;
    sizes[22] = g * N_IMG;
    sizes[23] = 2 * p->vec; /* the doubles */
    dst[0] = &s->x0, dst[1] = &s->a, dst[2] = &s->b, dst[3] = &s->e, dst[4] = &s->d;
    dst[5] = &s->scr, dst[6] = &s->v1, dst[7] = &s->v2, dst[8] = &s->v3, dst[9] = &s->v4;
    dst[10] = &s->feat, dst[11] = &s->hid, dst[12] = &s->pad, dst[13] = &s->rsum;
    dst[14] = &s->fold, dst[15] = &s->la, dst[16] = &s->lb, dst[17] = &s->lpad;
    dst[18] = &s->ld, dst[19] = &s->lrsum, dst[20] = &s->lv3, dst[21] = &s->le;
    dst[22] = &s->lat;
    for (i = 0; i < RVT_ARRAY_SIZE(sizes); i++)
        total += (sizes[i] + 15) / 16 * 16 * sizeof(float);
    s->mem = aligned_alloc(64, total);
    if (!s->mem) {
        free(s);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory (%zu bytes of activations)", total);
    }
    /* zeroed once: padding lanes of SIMD kernels then never read uninitialised memory */
    memset(s->mem, 0, total);
    base = s->mem;
    for (i = 0; i < RVT_ARRAY_SIZE(dst); i++) {
        *dst[i] = (float *)base;
        base += (sizes[i] + 15) / 16 * 16 * sizeof(float);
    }
    s->sums = (double *)base;
    s->own[0] = s->scr;
    s->bytes = total;
    *out = s;
    return 0;
}

int rvt_nn_session_set_threads(struct rvt_nn_session *s, int n, struct rvt_error *err)
{
    int i, ret;

    rvt_nn_team_free(&s->team);
    for (i = 1; i < RVT_NN_TEAM_MAX; i++) {
        free(s->own[i]);
        s->own[i] = NULL;
    }
    if (n < 1 || n > RVT_NN_TEAM_MAX)
        return rvt_error_set(err, RVT_EINVAL, "%d threads for one clip: want 1-%d", n,
                             RVT_NN_TEAM_MAX);
    if (n == 1)
        return 0;
    for (i = 1; i < n; i++) {
        s->own[i] = aligned_alloc(64, (s->m->plan.own + 64 + 15) / 16 * 16 * sizeof(float));
        if (!s->own[i]) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((ret = rvt_nn_team_new(&s->team, n, err)) >= 0)
        return 0;
fail:
    for (i = 1; i < n; i++) {
        free(s->own[i]);
        s->own[i] = NULL;
    }
    return ret;
}

struct rvt_nn_team *rvt_nn_session_team(struct rvt_nn_session *s)
{
    return s->team;
}

void rvt_nn_session_free(struct rvt_nn_session **sp)
{
    int i;

    if (!*sp)
        return;
    rvt_nn_team_free(&(*sp)->team);
    for (i = 1; i < RVT_NN_TEAM_MAX; i++)
        free((*sp)->own[i]);
    free((*sp)->tbuf);
    free((*sp)->mem);
    free(*sp);
    *sp = NULL;
}

size_t rvt_nn_session_bytes(const struct rvt_nn_session *s)
{
    return s->bytes;
}

int rvt_nn_session_set_trace(struct rvt_nn_session *s, rvt_nn_trace_fn fn, void *ctx,
                             struct rvt_error *err)
{
    const struct plan *p = &s->m->plan;

    if (fn && !s->tbuf) {
        s->tbuf = malloc(RVT_MAX(p->exp, p->dwo) * sizeof(float) + 64);
        if (!s->tbuf)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    s->trace = fn;
    s->trace_ctx = ctx;
    return 0;
}

#define TRACE(name, data, c, h, w) \
    do { \
        if (s->trace) \
            s->trace(s->trace_ctx, clip, name, data, c, h, w); \
    } while (0)

/* Traces a channels-last tensor [h][w][c] whose pixel (y, x) sits at
 * data[((y + pad) * (w + 2 pad) + x + pad) * c], as NCHW. */
static void trace_cl(struct rvt_nn_session *s, size_t clip, const char *name, const float *data,
                     int c, int h, int w, int pad)
{
    int y, x, ch, wp = w + 2 * pad;

    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            const float *px = data + ((size_t)(y + pad) * wp + x + pad) * c;
            for (ch = 0; ch < c; ch++)
                s->tbuf[((size_t)ch * h + y) * w + x] = px[ch];
        }
    s->trace(s->trace_ctx, clip, name, s->tbuf, c, h, w);
}

/* y = fc2(fc1(x)) of a ChannelAttention's shared MLP, x and y vectors of c: the team
 * splits the layers' outputs where it can, else thread 0 computes them; ends with a
 * sync (par NULL: one thread). */
static void attn_mlp(struct rvt_nn_session *s, const struct rvt_nn_par *par, const struct chattn *a,
                     const float *x, float *y)
{
    if (!rvt_nn_dense_vec_splits(&a->fc1) || !rvt_nn_dense_vec_splits(&a->fc2)) {
        if (rvt_nn_par_first(par)) {
            rvt_nn_dense_forward(&a->fc1, x, 1, s->v4, 1, 1, s->scr, NULL);
            rvt_nn_dense_forward(&a->fc2, s->v4, 1, y, 1, 1, s->scr, NULL);
        }
    } else {
        rvt_nn_dense_forward_par(&a->fc1, x, 1, s->v4, 1, 1, s->scr, NULL, par);
        rvt_nn_par_sync(par);
        rvt_nn_dense_forward_par(&a->fc2, s->v4, 1, y, 1, 1, s->scr, NULL, par);
    }
    rvt_nn_par_sync(par);
}

/*
 * The forward below is run by every thread of the session's team at once (nn/team.h;
 * par NULL: one thread): each takes its share of a layer (channel slices of 16 for the
 * channels-last kernels, planes for the planar ones, positions or rows of a GEMM, see
 * layer.h) and `sync` separates a layer from the next one that reads its output.  The
 * small serial parts (squeeze-excitation vectors, attention, head) run on thread 0
 * (`first`).  Shares never change how a value is computed: the same bits whatever the
 * team size.  Tracing runs one thread (see rvt_model_forward).
 */
#define sync() rvt_nn_par_sync(par)

/* The borders of a padded channels-last map [(h + 2 pad)][(w + 2 pad)][c] = 0: its
 * padded rows shared out among the team. */
static void zero_border(float *xp, int h, int w, int c, int pad, const struct rvt_nn_par *par)
{
    size_t wp = (size_t)(w + 2 * pad), row = wp * c, r, r0, r1;

    rvt_nn_par_range(par, (size_t)(h + 2 * pad), 1, &r0, &r1);
    for (r = r0; r < r1; r++) {
        float *d = xp + r * row;
        if (r < (size_t)pad || r >= (size_t)(h + pad)) {
            memset(d, 0, row * sizeof(float));
        } else {
            memset(d, 0, (size_t)pad * c * sizeof(float));
            memset(d + (size_t)(w + pad) * c, 0, (size_t)pad * c * sizeof(float));
        }
    }
}

/* ToTensor + Normalize: (u / 255 - mean) / std in float32, from the table the model
 * made at load (the same operations, so the same bits), into s->x0: 3 planes of
 * (h + 2 pad) x (w + 2 pad), a border of pad zeros (pad 1: what the stem's gather reads). */
static void normalise(struct rvt_nn_session *s, const struct rvt_nn_par *par,
                      const uint8_t *frame, size_t pad)
{
    const struct rvt_model *m = s->m;
    size_t h = (size_t)m->info.image_h, w = (size_t)m->info.image_w, wp = w + 2 * pad;
    size_t y0, y1, y, x;
    int c;

    rvt_nn_par_range(par, h, 1, &y0, &y1);
    for (c = 0; c < 3; c++) {
        const float *lut = m->norm[c];
        float *xc = s->x0 + (size_t)c * (h + 2 * pad) * wp;
        if (pad && rvt_nn_par_first(par)) {
            memset(xc, 0, pad * wp * sizeof(float));
            memset(xc + (h + pad) * wp, 0, pad * wp * sizeof(float));
        }
        for (y = y0; y < y1; y++) {
            const uint8_t *f = frame + y * w * 3 + c;
            float *r = xc + (y + pad) * wp;
            for (x = 0; x < pad; x++)
                r[x] = r[pad + w + x] = 0.0f;
            for (x = 0; x < w; x++)
                r[pad + x] = lut[f[3 * x]];
        }
    }
}

/* The stem (3 -> 32, 3x3/2, SiLU) of the channels-last branch into y (ldy 32, row_w /
 * row_skip as sgemm.h): gathered from the padded planes when it can (the same bits as
 * im2col + GEMM, without writing and reading the 27 x oh x ow matrix), else through
 * im2col (tracing shows the unpadded planes; calibration observes the im2col input). */
static void stem_cl(struct rvt_nn_session *s, const struct rvt_nn_par *par, bool gather, float *y,
                    size_t row_w, size_t row_skip)
{
    const struct rvt_model *m = s->m;
    const struct rvt_nn_dense *d = &m->stem.gemm;
    int h = m->info.image_h, w = m->info.image_w;
    int oh = rvt_nn_out_size(h, 3, 2, 1), ow = rvt_nn_out_size(w, 3, 2, 1);

    if (gather) {
        struct rvt_sgemm_args g = {.n = d->n_out, .k = d->n_in, .wt = d->wt_cl,
                                   .n_pos = (size_t)oh * ow, .y = y, .ldy = 32, .row_w = row_w,
                                   .row_skip = row_skip, .bias = d->bias, .act = d->act};
        struct rvt_sgemm_gather x = {s->x0, m->stem_off, ow, 2, (size_t)w + 2};
        rvt_sgemm_kernels()->gemm_gather(&g, &x, par ? par->ith : 0, par ? par->nth : 1);
    } else {
        rvt_nn_conv_forward_cl_par(&m->stem, s->x0, h, w, y, 32, row_w, row_skip, s->scr, par);
    }
}

/* The squeeze-excitation's vector of a block: v3 = fc2(fc1(mean)), the mean of each of
 * the c_exp channels from the depthwise conv's sums over n pixels (channels-last: its
 * oh rows' sums at rsum, else s->sums).  On thread 0, but for a large fp32 fc2 (>= 16384
 * weights, 64 KB read for a few microseconds of arithmetic), which the team splits;
 * ends with a sync. */
static void se_vector(struct rvt_nn_session *s, const struct rvt_nn_par *par,
                      const struct mbconv *bl, size_t n, int oh_rows, const float *rsum,
                      float *v3)
{
    const bool split = par && par->nth > 1 && rvt_nn_dense_vec_splits(&bl->se2) &&
                       bl->c_exp * bl->sq >= 16384;
    int c;

    if (rvt_nn_par_first(par)) {
        if (oh_rows) /* the rows' float sums in row order in double: any split's bits */
            rvt_nn_kernels()->sum_rows(rsum, oh_rows, bl->c_exp, s->sums);
        for (c = 0; c < bl->c_exp; c++)
            s->v1[c] = (float)(s->sums[c] / (double)n);
        rvt_nn_dense_forward(&bl->se1, s->v1, 1, s->v2, 1, 1, s->scr, NULL);
        if (!split)
            rvt_nn_dense_forward(&bl->se2, s->v2, 1, v3, 1, 1, s->scr, NULL);
    }
    if (split) {
        rvt_nn_par_sync(par);
        rvt_nn_dense_forward_par(&bl->se2, s->v2, 1, v3, 1, 1, s->scr, NULL, par);
    }
    rvt_nn_par_sync(par);
}

/* The share of a channels-last depthwise conv a thread takes: output rows [*r0, *r1)
 * and channels [*c0, *c1).  Rows when they split evenly enough: a thread then reads
 * the input rows the expand wrote on its own core (it splits the positions alike) but
 * for the k/2 rows at a band's edges, where channel slices read half their input
 * from the other core (measured: the depthwise convs 2.77 -> 2.23 ms a clip on two
 * threads, int8, 224 px); else (7 x 7 maps) channel slices. */
static void dw_share(const struct rvt_nn_par *par, int oh, int c, size_t *r0, size_t *r1,
                     size_t *c0, size_t *c1)
{
    const int nth = par ? par->nth : 1;

    if (oh % nth == 0 || oh >= 8 * nth) {
        rvt_nn_par_range(par, (size_t)oh, 1, r0, r1);
        *c0 = 0;
        *c1 = (size_t)c;
    } else {
        *r0 = 0;
        *r1 = (size_t)oh;
        rvt_nn_par_range(par, (size_t)c, RVT_NN_CL_BLOCK, c0, c1);
    }
}

/*
 * The expand and the depthwise conv of a banded block (bl->banded), from the block's
 * input x (h x w x c_in) to s->d and the row sums.  Each thread takes its share of the
 * output rows and walks them BAND_ROWS at a time: it expands the input rows a band
 * reads (each once, but for the k - stride rows the two threads' shares both read) into
 * a ring of padded rows in its own scratch, then runs the depthwise conv on them.
 * Where the expand wrote the whole map (4.8 MB for the first block at 224 px) for the
 * depthwise conv to read back from memory, the ring stays in the core's L2; and a
 * thread reads only rows it expanded itself, so no sync between the two layers.  The
 * same bits: each expanded pixel and each output is computed as the whole-map layers
 * compute it (per-position products and maps; the conv's rows are independent).
 */
static void expand_dw_bands(struct rvt_nn_session *s, const struct rvt_nn_par *par,
                            const struct mbconv *bl, const float *x, int h, int w,
                            enum rvt_nn_act dw_act)
{
    const int pad = bl->k / 2, wp = w + 2 * pad, S = bl->stride, c = bl->c_exp;
    const int oh = rvt_nn_out_size(h, bl->k, S, pad), ow = rvt_nn_out_size(w, bl->k, S, pad);
    const size_t rowf = (size_t)wp * c, border = (size_t)pad * c * sizeof(float);
    float *ring = s->own[par ? par->ith : 0];
    float *scr = ring + (s->m->plan.ring + 15) / 16 * 16;
    size_t r0, r1;
    int base, cnt = 0, o0;

    rvt_nn_par_range(par, (size_t)oh, 1, &r0, &r1);
    base = (int)r0 * S; /* ring row j holds padded input row base + j; cnt are filled */
    for (o0 = (int)r0; o0 < (int)r1; o0 += BAND_ROWS) {
        const int o1 = RVT_MIN((int)r1, o0 + BAND_ROWS), lo = o0 * S, hi = (o1 - 1) * S + bl->k;
        if (hi - base > RING_ROWS) { /* keep the rows from lo on, at the ring's start */
            memmove(ring, ring + (size_t)(lo - base) * rowf,
                    (size_t)(base + cnt - lo) * rowf * sizeof(float));
            cnt = base + cnt - lo;
            base = lo;
        }
        while (base + cnt < hi) {
            const int r = base + cnt; /* the next padded row */
            float *d = ring + (size_t)cnt * rowf;
            int n, j;
            if (r < pad || r >= h + pad) { /* a border row */
                memset(d, 0, rowf * sizeof(float));
                cnt++;
                continue;
            }
            n = RVT_MIN(hi, h + pad) - r;
            for (j = 0; j < n; j++) {
                memset(d + (size_t)j * rowf, 0, border);
                memset(d + (size_t)j * rowf + (size_t)(w + pad) * c, 0, border);
            }
            rvt_nn_dense_forward_cl_par(&bl->expand_l, x + (size_t)(r - pad) * w * bl->c_in,
                                        (size_t)bl->c_in, 1, NULL, d + (size_t)pad * c,
                                        (size_t)c, (size_t)n * w, (size_t)w, (size_t)(2 * pad),
                                        NULL, 0, scr, NULL);
            cnt += n;
        }
        rvt_nn_kernels()->dwconv_cl(ring + (size_t)(lo - base) * rowf, hi - lo, wp, c, 0, c,
                                    bl->dw_w_cl, bl->k, S, bl->dw.dw_bias, dw_act,
                                    s->d + (size_t)o0 * ow * c, o1 - o0, ow,
                                    s->rsum + (size_t)o0 * c);
    }
}

/* The average pool of the image branch's output map from its channel sums over hw
 * pixels (s->sums), into feat, split among the team; ends with a sync. */
static void image_pool(struct rvt_nn_session *s, const struct rvt_nn_par *par, size_t clip,
                       size_t hw, float *feat)
{
    size_t c0, c1, c;

    rvt_nn_par_range(par, N_IMG, 16, &c0, &c1);
    for (c = c0; c < c1; c++)
        feat[c] = (float)(s->sums[c] / (double)hw);
    rvt_nn_par_sync(par);
    TRACE("img.avgpool", feat, N_IMG, 1, 1);
}

/*
 * The channel attention of the pooled image features of clips [clip, clip + g) (feat:
 * the first's, N_FEAT floats a clip), each product over the g clips at once when the
 * level's kernels take them (nn/sgemm.h, one position a clip: the bits of one clip at
 * a time); split among the team (fp32: 128 us a clip on one thread, memory-bound on
 * 1.6 MB of weights); ends with a sync.
 */
static void image_attn(struct rvt_nn_session *s, const struct rvt_nn_par *par, size_t clip,
                       size_t g, float *feat)
{
    const struct chattn *a = &s->m->img_attn;
    const size_t hid = (size_t)a->fc1.n_out;
    size_t c0, c1, c, j;

    if (g > 1 && rvt_nn_dense_vec_splits(&a->fc1) && rvt_nn_dense_vec_splits(&a->fc2)) {
        rvt_nn_dense_forward_cl_par(&a->fc1, feat, N_FEAT, 1, NULL, s->hid, hid, g, 0, 0, NULL, 0,
                                    s->scr, par);
        rvt_nn_par_sync(par);
        rvt_nn_dense_forward_cl_par(&a->fc2, s->hid, hid, 1, NULL, s->lat, N_IMG, g, 0, 0, NULL,
                                    0, s->scr, par);
        rvt_nn_par_sync(par);
    } else {
        for (j = 0; j < g; j++)
            attn_mlp(s, par, a, feat + j * N_FEAT, s->lat + j * N_IMG);
    }
    /* ChannelAttention(1280) of a 1x1 map: avg- and max-pool are both feat, so the two
     * branches give the same vector and their sum is exactly 2x one */
    rvt_nn_par_range(par, N_IMG, 16, &c0, &c1);
    for (j = 0; j < g; j++) {
        float *f = feat + j * N_FEAT;
        const float *v = s->lat + j * N_IMG;
        for (c = c0; c < c1; c++)
            f[c] = f[c] * (v[c] + v[c]);
    }
    rvt_nn_par_sync(par);
    for (j = 0; j < g && s->trace; j++)
        s->trace(s->trace_ctx, clip + j, "img.attn", feat + j * N_FEAT, N_IMG, 1, 1);
}

/*
 * A block of the image branch channels-last (m->cl, AVX2 or AVX-512) over g clips
 * whose maps are stacked, each map [pixels][channels] (g > 1: late blocks only, see
 * LATE_HW): a (h x w x c_in each) -> b (oh x ow x c_out each).  The expand (bias + SiLU
 * fused) writes the inside of the depthwise conv's padded input (pad, a padded map a
 * clip); the depthwise conv, 16 channels a vector, into d with its rows' sums in rsum;
 * the squeeze-excitation's vector of each clip (v3, c_exp floats a clip) scales d; the
 * project adds the residual in its epilogue.  fp32 products are nn/sgemm.h's, so the
 * team splits them too.  The same bits whether traced or observed (calibration), and
 * whatever g.
 */
static void block_cl(struct rvt_nn_session *s, const struct rvt_nn_par *par, size_t clip, int g,
                     const struct mbconv *bl, const float *a, float *b, float *pad, float *d,
                     float *rsum, float *v3, int h, int w)
{
    const struct rvt_nn_kernels *k = rvt_nn_kernels();
    const int pw = bl->k / 2, hp = h + 2 * pw, wp = w + 2 * pw;
    const int oh = rvt_nn_out_size(h, bl->k, bl->stride, pw);
    const int ow = rvt_nn_out_size(w, bl->k, bl->stride, pw);
    const size_t n = (size_t)oh * ow, hw = (size_t)h * w, c = (size_t)bl->c_exp;
    /* a clip's part of pad, d and rsum */
    const size_t pad_f = (size_t)hp * wp * c, d_f = n * c, rows_f = (size_t)oh * c;
    /* banded blocks, but when traced or observed (calibration), which see whole maps */
    const bool bands = !s->trace && !rvt_nn_dense_observed();
    size_t c0, c1, r0, r1, j0, j1;
    struct rvt_nn_dense folded; /* fold_se: the project with its weights scaled */
    const struct rvt_nn_dense *proj = &bl->project;
    /* the residual in the project's epilogue (the same operations as the add after it,
     * which tracing keeps to show the project's own output) */
    const float *res = bl->residual && !s->trace ? a : NULL;
    /* int8: the excitation's scale fused into the project's quantization (the same bits
     * as scaling the map first, which fp32 and tracing do) */
    const float *xs = bl->project.wtype == RVT_NN_WEIGHT_I8 && !s->trace &&
                              !rvt_nn_dense_observed() ? v3 : NULL;
    /* an int8 project quantizes the depthwise conv's output: its SiLU may be the int8
     * layers' cheaper one (nn/ops.h) */
    const enum rvt_nn_act dw_act =
        bl->project.wtype == RVT_NN_WEIGHT_I8 && bl->dw.act == RVT_NN_ACT_SILU
            ? RVT_NN_ACT_SILU_Q
            : bl->dw.act;
    char name[64];
    int j;

    assert(g == 1 || (!bl->banded && !bl->fold_se && !xs && !s->trace));
    if (bl->banded && bands) {
        expand_dw_bands(s, par, bl, a, h, w, dw_act);
    } else {
        if (bl->expand) {
            float *in = pad + ((size_t)pw * wp + pw) * c;
            for (j = 0; j < g; j++)
                zero_border(pad + j * pad_f, h, w, bl->c_exp, pw, par);
            if (g == 1) {
                rvt_nn_dense_forward_cl_par(&bl->expand_l, a, (size_t)bl->c_in, 1, NULL, in, c,
                                            hw, (size_t)w, (size_t)(2 * pw), NULL, 0, s->scr,
                                            par);
            } else { /* the padded maps one after another: 2 pw rows between two clips' */
                const struct rvt_nn_dense *l = &bl->expand_l;
                struct rvt_sgemm_args ga = {
                    .n = l->n_out, .k = l->n_in, .wt = l->wt_cl, .x = a, .x_ps = (size_t)l->n_in,
                    .x_ks = 1, .n_pos = (size_t)g * hw, .y = in, .ldy = c, .row_w = (size_t)w,
                    .row_skip = (size_t)(2 * pw), .img_pos = hw,
                    .img_skip = (size_t)(2 * pw) * wp, .bias = l->bias, .act = l->act};
                assert(l->wtype == RVT_NN_WEIGHT_F32);
                rvt_sgemm_kernels()->gemm(&ga, par ? par->ith : 0, par ? par->nth : 1);
            }
            sync();
            if (s->trace) {
                snprintf(name, sizeof(name), "img.features.%d.%d.expand", bl->stage, bl->index);
                trace_cl(s, clip, name, pad, bl->c_exp, h, w, pw);
            }
        }
        dw_share(par, oh, bl->c_exp, &r0, &r1, &c0, &c1);
        for (j = 0; j < g && r1 > r0 && c1 > c0; j++)
            k->dwconv_cl(pad + j * pad_f + r0 * bl->stride * wp * c, hp - (int)r0 * bl->stride,
                         wp, bl->c_exp, (int)c0, (int)c1, bl->dw_w_cl, bl->k, bl->stride,
                         bl->dw.dw_bias, dw_act, d + j * d_f + r0 * ow * c, (int)(r1 - r0), ow,
                         rsum + j * rows_f + r0 * c);
    }
    sync();
    if (s->trace) {
        snprintf(name, sizeof(name), "img.features.%d.%d.dw", bl->stage, bl->index);
        trace_cl(s, clip, name, d, bl->c_exp, oh, ow, 0);
    }
    for (j = 0; j < g; j++) {
        float *vj = v3 + j * c;
        se_vector(s, par, bl, n, oh, rsum + j * rows_f, vj);
        if (bl->fold_se) {
            /* fp32: the excitation's scale folded into the project's weights, W diag(s),
             * where they are much smaller than its map (b0-b4 at 224 px; a float32
             * rounding apart from scaling the map).  Traced or observed, the same
             * products; the trace and the observer see the scaled map, a copy. */
            rvt_nn_par_range(par, rvt_sgemm_k_rows(bl->c_out, bl->c_exp), 1, &j0, &j1);
            rvt_sgemm_scale_k(bl->project.wt_cl, bl->c_out, bl->c_exp, vj, s->fold, j0, j1);
            folded = bl->project;
            folded.wt_cl = s->fold;
            folded.key = NULL;
            proj = &folded;
            if (s->trace || rvt_nn_dense_observed()) { /* one thread */
                memcpy(s->e, d, n * c * sizeof(float));
                k->scale_cl(s->e, n, bl->c_exp, vj);
                rvt_nn_dense_observe_cl(&bl->project, s->e, c, n);
            }
        } else if (!xs) {
            rvt_nn_par_range(par, n, 1, &j0, &j1);
            if (j1 > j0)
                k->scale_cl(d + j * d_f + j0 * c, j1 - j0, bl->c_exp, vj);
        }
    }
    if (bl->fold_se || !xs) {
        sync();
        if (s->trace) {
            snprintf(name, sizeof(name), "img.features.%d.%d.se", bl->stage, bl->index);
            trace_cl(s, clip, name, bl->fold_se ? s->e : d, bl->c_exp, oh, ow, 0);
        }
    }
    rvt_nn_dense_forward_cl_par(proj, d, c, 1, xs, b, (size_t)bl->c_out, (size_t)g * n, 0, 0, res,
                                (size_t)bl->c_out, s->scr, par);
    sync();
    if (s->trace) {
        snprintf(name, sizeof(name), "img.features.%d.%d.project", bl->stage, bl->index);
        trace_cl(s, clip, name, b, bl->c_out, oh, ow, 0);
        if (bl->residual)
            k->add(b, a, n * (size_t)bl->c_out); /* stochastic depth is identity in eval */
        snprintf(name, sizeof(name), "img.features.%d.%d", bl->stage, bl->index);
        trace_cl(s, clip, name, b, bl->c_out, oh, ow, 0);
    }
}

/*
 * The image branch of one clip channels-last up to the late blocks (plan.late): the
 * last block before them writes its map to out (the late blocks' input, a clip's part
 * of s->la).
 */
static void image_front_cl(struct rvt_nn_session *s, const struct rvt_nn_par *par, size_t clip,
                           const uint8_t *frame, float *out)
{
    const struct rvt_model *m = s->m;
    int h = m->info.image_h, w = m->info.image_w, i;
    float *a = s->a, *b = s->b, *t;
    const bool gather = m->stem_gather && !s->trace && !rvt_nn_dense_observed();

    assert(m->plan.late > 0);
    {
        int oh = rvt_nn_out_size(h, 3, 2, 1), ow = rvt_nn_out_size(w, 3, 2, 1);
        normalise(s, par, frame, gather ? 1 : 0);
        sync();
        TRACE("image", s->x0, 3, h, w);
        if (!m->blocks[0].expand) { /* straight into the first depthwise conv's input */
            int pad = m->blocks[0].k / 2, wp = ow + 2 * pad;
            zero_border(s->pad, oh, ow, 32, pad, par);
            stem_cl(s, par, gather, s->pad + ((size_t)pad * wp + pad) * 32, (size_t)ow,
                    (size_t)(2 * pad));
            sync();
            if (s->trace)
                trace_cl(s, clip, "img.features.0", s->pad, 32, oh, ow, pad);
        } else {
            stem_cl(s, par, gather, a, 0, 0);
            sync();
            if (s->trace)
                trace_cl(s, clip, "img.features.0", a, 32, oh, ow, 0);
        }
        h = oh;
        w = ow;
    }
    for (i = 0; i < m->plan.late; i++) {
        const struct mbconv *bl = &m->blocks[i];
        float *y = i == m->plan.late - 1 ? out : b;
        block_cl(s, par, clip, 1, bl, a, y, s->pad, s->d, s->rsum, s->v3, h, w);
        t = a;
        a = y;
        b = t;
        h = rvt_nn_out_size(h, bl->k, bl->stride, bl->k / 2);
        w = rvt_nn_out_size(w, bl->k, bl->stride, bl->k / 2);
    }
}

/*
 * The late blocks, the head and its tail for clips [clip, clip + g) (g <= s->group), from
 * their image_front_cl maps in s->la: each product over the g clips at once (LATE_HW).
 * feat: the first clip's features, N_FEAT floats a clip.
 */
static void late_forward_cl(struct rvt_nn_session *s, const struct rvt_nn_par *par, size_t clip,
                            int g, float *feat)
{
    const struct rvt_model *m = s->m;
    int h = m->plan.l_h, w = m->plan.l_w, i, j;
    float *a = s->la, *b = s->lb, *t;
    size_t hw;

    for (i = m->plan.late; i < m->n_blocks; i++) {
        const struct mbconv *bl = &m->blocks[i];
        block_cl(s, par, clip, g, bl, a, b, s->lpad, s->ld, s->lrsum, s->lv3, h, w);
        t = a;
        a = b;
        b = t;
        h = rvt_nn_out_size(h, bl->k, bl->stride, bl->k / 2);
        w = rvt_nn_out_size(w, bl->k, bl->stride, bl->k / 2);
    }
    hw = (size_t)h * w;
    if (m->head.wtype == RVT_NN_WEIGHT_I8) {
        /* int8 (one clip: plan_late): gemm_t with the bias, then the head's own SiLU
         * (nn/ops.h bias_act, + 0.0f, as the planar path's epilogue applies it: gemm_t's
         * SiLU is the int8 layers' cheaper one on AVX-512).  The planar product took
         * 1.9 ms a clip at 49 positions on AVX2, gemm_t 0.6 (run-model --profile). */
        struct rvt_nn_dense hd = m->head;
        size_t p0, p1;
        assert(g == 1);
        hd.act = RVT_NN_ACT_NONE;
        rvt_nn_dense_forward_cl_par(&hd, a, 320, 1, NULL, s->le, N_IMG, hw, 0, 0, NULL, 0, s->scr,
                                    par);
        sync();
        rvt_nn_par_range(par, hw, 1, &p0, &p1);
        if (p1 > p0)
            rvt_nn_kernels()->bias_act(s->le + p0 * N_IMG, (p1 - p0) * N_IMG, 0.0f, m->head.act,
                                       NULL);
    } else {
        rvt_nn_dense_forward_cl_par(&m->head, a, 320, 1, NULL, s->le, N_IMG, (size_t)g * hw, 0,
                                    0, NULL, 0, s->scr, par);
    }
    sync();
    for (j = 0; j < g; j++) {
        const float *e = s->le + (size_t)j * hw * N_IMG;
        /* each channel's sum over the pixels in pixel order, in double (sum_rows: 16
         * channels a pass, 7 us a clip on thread 0, where the scalar loop took ~50) */
        if (rvt_nn_par_first(par))
            rvt_nn_kernels()->sum_rows(e, (int)hw, N_IMG, s->sums);
        sync();
        if (s->trace)
            trace_cl(s, clip + j, "img.features.8", e, N_IMG, h, w, 0);
        image_pool(s, par, clip + j, hw, feat + (size_t)j * N_FEAT);
    }
    image_attn(s, par, clip, (size_t)g, feat);
}

/* The image branch of one clip: frame (uint8 HWC) -> feat[0..1279], planar (NCHW). */
static void image_forward(struct rvt_nn_session *s, const struct rvt_nn_par *par, size_t clip,
                          const uint8_t *frame, float *feat)
{
    const struct rvt_model *m = s->m;
    const struct rvt_nn_kernels *k = rvt_nn_kernels();
    float *own = s->own[par ? par->ith : 0];
    int h = m->info.image_h, w = m->info.image_w, i, oh, ow;
    size_t hw, j, j0, j1;
    float *a = s->a, *b = s->b, *t;
    char name[64];

    assert(!m->cl);
    normalise(s, par, frame, 0);
    sync();
    TRACE("image", s->x0, 3, h, w);
    rvt_nn_conv_forward_par(&m->stem, s->x0, h, w, a, s->scr, own, NULL, par);
    sync();
    h = rvt_nn_out_size(h, 3, 2, 1);
    w = rvt_nn_out_size(w, 3, 2, 1);
    TRACE("img.features.0", a, 32, h, w);
    for (i = 0; i < m->n_blocks; i++) {
        const struct mbconv *bl = &m->blocks[i];
        const float *src = a;
        size_t n;
        oh = rvt_nn_out_size(h, bl->k, bl->stride, bl->k / 2);
        ow = rvt_nn_out_size(w, bl->k, bl->stride, bl->k / 2);
        n = (size_t)oh * ow;
        hw = (size_t)h * w;
        if (bl->expand) {
            rvt_nn_dense_forward_par(&bl->expand_l, a, hw, s->e, hw, hw, s->scr, NULL, par);
            sync();
            src = s->e;
            if (s->trace) {
                snprintf(name, sizeof(name), "img.features.%d.%d.expand", bl->stage, bl->index);
                TRACE(name, s->e, bl->c_exp, h, w);
            }
        }
        rvt_nn_conv_forward_par(&bl->dw, src, h, w, s->d, s->scr, own, s->sums, par);
        sync();
        if (s->trace) {
            snprintf(name, sizeof(name), "img.features.%d.%d.dw", bl->stage, bl->index);
            TRACE(name, s->d, bl->c_exp, oh, ow);
        }
        /* squeeze-excitation: mean -> fc1 SiLU -> fc2 sigmoid -> scale the planes */
        se_vector(s, par, bl, n, 0, NULL, s->v3);
        rvt_nn_par_range(par, (size_t)bl->c_exp, 1, &j0, &j1);
        for (j = j0; j < j1; j++)
            k->scale(s->d + j * n, n, s->v3[j]);
        sync();
        if (s->trace) {
            snprintf(name, sizeof(name), "img.features.%d.%d.se", bl->stage, bl->index);
            TRACE(name, s->d, bl->c_exp, oh, ow);
        }
        rvt_nn_dense_forward_par(&bl->project, s->d, n, b, n, n, s->scr, NULL, par);
        sync();
        if (s->trace) {
            snprintf(name, sizeof(name), "img.features.%d.%d.project", bl->stage, bl->index);
            TRACE(name, b, bl->c_out, oh, ow);
        }
        if (bl->residual) { /* stochastic depth is identity in eval */
            rvt_nn_par_range(par, (size_t)bl->c_out * n, 64, &j0, &j1);
            if (j1 > j0)
                k->add(b + j0, a + j0, j1 - j0);
            sync();
        }
        if (s->trace) {
            snprintf(name, sizeof(name), "img.features.%d.%d", bl->stage, bl->index);
            TRACE(name, b, bl->c_out, oh, ow);
        }
        t = a;
        a = b;
        b = t;
        h = oh;
        w = ow;
    }
    hw = (size_t)h * w;
    rvt_nn_dense_forward_par(&m->head, a, hw, s->e, hw, hw, s->scr, s->sums, par);
    sync();
    TRACE("img.features.8", s->e, N_IMG, h, w);
    image_pool(s, par, clip, hw, feat);
    image_attn(s, par, clip, 1, feat);
}

/* The audio branch of one clip: mel [n_mels][n_frames] -> feat[0..63]. */
static void audio_forward(struct rvt_nn_session *s, const struct rvt_nn_par *par, size_t clip,
                          const float *mel, float *feat)
{
    const struct rvt_model *m = s->m;
    const struct rvt_nn_kernels *k = rvt_nn_kernels();
    const bool first = rvt_nn_par_first(par);
    float *own = s->own[par ? par->ith : 0];
    int h = m->info.n_mels, w = m->info.n_frames, ph = h / 2, pw = w / 2, c;
    size_t pn = (size_t)ph * pw, c0, c1, j;

    rvt_nn_par_range(par, 32, 1, &c0, &c1);
    if (s->trace || !rvt_nn_conv_pool_ok(&m->a_conv1)) {
        rvt_nn_conv_forward_par(&m->a_conv1, mel, h, w, s->e, s->scr, own, NULL, par);
        sync();
        TRACE("audio.2", s->e, 32, h, w);
        if (c1 > c0)
            k->maxpool2(s->e + c0 * h * w, (int)(c1 - c0), h, w, s->d + c0 * pn);
    } else { /* each plane pooled while in cache: the same bits */
        rvt_nn_conv_pool_forward_par(&m->a_conv1, mel, h, w, s->d, own, par);
    }
    if (c1 > c0) {
        /* the pooled planes' mean and max while they are in cache */
        k->plane_mean(s->d + c0 * pn, (int)(c1 - c0), pn, s->v1 + c0);
        k->plane_max(s->d + c0 * pn, (int)(c1 - c0), pn, s->v2 + c0);
    }
    sync();
    TRACE("audio.3", s->d, 32, ph, pw);
    if (first) {
        attn_mlp(s, NULL, &m->a_attn, s->v1, s->v3);
        attn_mlp(s, NULL, &m->a_attn, s->v2, s->v1);
        for (c = 0; c < 32; c++)
            s->v2[c] = s->v3[c] + s->v1[c];
    }
    sync();
    if (m->audio_scale) {
        for (j = c0; j < c1; j++)
            k->scale(s->d + j * pn, pn, s->v2[j]);
        sync();
        TRACE("audio.4", s->d, 32, ph, pw);
        rvt_nn_conv_forward_par(&m->a_conv2, s->d, ph, pw, s->a, s->scr, own, s->sums, par);
        sync();
        TRACE("audio.5", s->a, N_AUD, ph, pw);
        if (first)
            for (c = 0; c < N_AUD; c++)
                feat[c] = (float)(s->sums[c] / (double)pn);
    } else if (first) {
        /* the seed's ChannelAttention returns its weights: the conv sees [32,1,1] */
        TRACE("audio.4", s->v2, 32, 1, 1);
        rvt_nn_conv_forward(&m->a_conv2, s->v2, 1, 1, feat, s->scr, NULL);
        TRACE("audio.5", feat, N_AUD, 1, 1);
    }
    if (first)
        TRACE("audio.feat", feat, N_AUD, 1, 1);
    sync();
}

struct forward_args {
    struct rvt_nn_session *s;
    size_t n;
    const uint8_t *frames;
    const float *mel;
    float *logits;
};

/*
 * The audio branch, fusion and classifier of clips [clip, clip + g) whose image features
 * are in: the fusion layer's product over the g clips at once when the level's kernels
 * take them (nn/sgemm.h, one position a clip: the bits of one clip at a time), its
 * outputs split among the team (fp32: 237 us a clip on one thread, memory-bound on
 * 2.75 MB of weights).
 */
static void clips_tail(struct rvt_nn_session *s, const struct rvt_nn_par *par,
                       const struct forward_args *f, size_t clip, size_t g)
{
    const struct rvt_model *m = s->m;
    const size_t msz = (size_t)m->info.n_mels * m->info.n_frames;
    const int nc = m->info.n_classes;
    size_t j;

    for (j = clip; j < clip + g; j++)
        audio_forward(s, par, j, f->mel + j * msz, s->feat + j * N_FEAT + N_IMG);
    if (g > 1 && rvt_nn_dense_vec_splits(&m->fusion)) {
        rvt_nn_dense_forward_cl_par(&m->fusion, s->feat + clip * N_FEAT, N_FEAT, 1, NULL, s->hid,
                                    N_HID, g, 0, 0, NULL, 0, s->scr, par);
        sync();
    } else {
        for (j = 0; j < g; j++) {
            const float *feat = s->feat + (clip + j) * N_FEAT;
            float *hid = s->hid + j * N_HID;
            if (rvt_nn_dense_vec_splits(&m->fusion)) {
                rvt_nn_dense_forward_par(&m->fusion, feat, 1, hid, 1, 1, s->scr, NULL, par);
                sync();
            } else if (rvt_nn_par_first(par)) {
                rvt_nn_dense_forward(&m->fusion, feat, 1, hid, 1, 1, s->scr, NULL);
            }
        }
    }
    for (j = clip; j < clip + g && rvt_nn_par_first(par); j++) {
        const float *hid = s->hid + (j - clip) * N_HID;
        if (s->trace)
            s->trace(s->trace_ctx, j, "fusion", hid, N_HID, 1, 1);
        rvt_nn_dense_forward(&m->classifier, hid, 1, f->logits + j * nc, 1, 1, s->scr, NULL);
        if (s->trace)
            s->trace(s->trace_ctx, j, "logits", f->logits + j * nc, nc, 1, 1);
    }
    sync(); /* the next clips reuse the scratch */
}

static void forward_clips(void *ctx, const struct rvt_nn_par *par)
{
    const struct forward_args *f = ctx;
    struct rvt_nn_session *s = f->s;
    const struct rvt_model *m = s->m;
    const size_t fsz = (size_t)m->info.image_h * m->info.image_w * 3;
    /* the clips g at a time: their late blocks together (LATE_HW), but traced or
     * observed, which see one clip's maps at a time */
    const size_t group = s->trace || rvt_nn_dense_observed() ? 1 : s->group;
    size_t c0, g, j;

    for (c0 = 0; c0 < f->n; c0 += g) {
        g = RVT_MIN(group, f->n - c0);
        if (m->cl) {
            for (j = 0; j < g; j++)
                image_front_cl(s, par, c0 + j, f->frames + (c0 + j) * fsz,
                               s->la + j * m->plan.l_in);
            late_forward_cl(s, par, c0, (int)g, s->feat + c0 * N_FEAT);
        } else {
            image_forward(s, par, c0, f->frames + c0 * fsz, s->feat + c0 * N_FEAT);
        }
        clips_tail(s, par, f, c0, g);
    }
}

#undef sync

void rvt_model_forward(struct rvt_nn_session *s, size_t n, const uint8_t *frames, const float *mel,
                       float *logits)
{
    struct forward_args f = {s, n, frames, mel, logits};

    assert(n <= s->max_batch);
    if (s->team && !s->trace && !rvt_nn_dense_observed())
        rvt_nn_team_run(s->team, forward_clips, &f);
    else
        forward_clips(&f, NULL);
}
