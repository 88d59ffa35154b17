/*
 * test_nn: lib/nn kernels and layers.
 *
 * Without arguments: TAP unit tests.  Every kernel table this CPU has (ref, avx2,
 * avx512) is checked against a double-precision direct computation on random
 * inputs, with the tolerance derived below, and timed ("# ..." lines).
 *
 * With arguments it is the harness tests/parity/test_model_ops.py and
 * test_model.py drive (inputs and outputs are .npy float32 files, C order):
 *   test_nn dwconv X W B STRIDE ACT OUT      X [C,H,W], W [C,1,k,k], B [C]
 *   test_nn conv X W B STRIDE PAD ACT OUT    regular conv, W [O,C,k,k], B [O] or -
 *   test_nn dense X W B ACT OUT              X [N_in, n] (or [C,H,W]), W [O,N_in(,1,1)]
 *   test_nn se X W1 B1 W2 B2 OUT             squeeze-excitation of X [C,H,W]
 *   test_nn chattn X W1 B1 W2 B2 MODE OUT    ChannelAttention of X [C,H,W]; MODE
 *                                            weights (out [C]) or scale (out [C,H,W])
 *   test_nn maxpool2|avgpool|maxpool X OUT   2x2/2 max pool, global avg, global max
 *   test_nn act X ACT OUT                    ACT: none relu silu sigmoid
 *   test_nn bench MODEL.h5 CLIPS REPS        ms per clip of the forward pass (random
 *                                            inputs; wall and CPU time)
 *   test_nn model MODEL.h5 FRAMES MEL DIR    FRAMES uint8 [N,H,W,3], MEL [N,M,T]:
 *                                            writes DIR/<trace name>.npy for clip 0
 *                                            and DIR/all_logits.npy [N,C]; and
 *                                            DIR/fast_logits.npy, untraced on a team
 *                                            of 2 (banded blocks, fused epilogues)
 * The environment variable RVT_ISA selects the kernel level as for the tools.
 */
#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cpu.h"
#include "nn/layer.h"
#include "nn/model.h"
#include "nn/team.h"
#include "nn/ops.h"
#include "../tap.h"

/* ------------------------------------------------------------------ npy */

struct npy {
    int rank;
    long dims[8];
    size_t n;
    bool u8;
    void *data;
};

static int npy_read(const char *path, struct npy *a)
{
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    char hdr[4096], *p;
    size_t hl, es;
    int ret = -1;

    memset(a, 0, sizeof(*a));
    if (!f)
        return -1;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) || pre[6] != 1)
        goto done;
    hl = pre[8] | (size_t)pre[9] << 8;
    if (hl >= sizeof(hdr) || fread(hdr, 1, hl, f) != hl)
        goto done;
    hdr[hl] = '\0';
    if (strstr(hdr, "'<f4'"))
        a->u8 = false;
    else if (strstr(hdr, "'|u1'"))
        a->u8 = true;
    else
        goto done;
    if (strstr(hdr, "'fortran_order': True"))
        goto done;
    p = strchr(strstr(hdr, "'shape'"), '(') + 1;
    a->n = 1;
    while (*p && *p != ')') {
        char *e;
        long v = strtol(p, &e, 10);
        if (e == p)
            break;
        a->dims[a->rank++] = v;
        a->n *= (size_t)v;
        p = e;
        while (*p == ',' || *p == ' ')
            p++;
    }
    es = a->u8 ? 1 : 4;
    a->data = malloc(a->n * es + 64);
    if (a->data && fread(a->data, es, a->n, f) == a->n)
        ret = 0;
done:
    fclose(f);
    return ret;
}

static int npy_write(const char *path, const float *x, int rank, const long *dims)
{
    char hdr[256], shape[128] = "";
    size_t n = 1, len, total;
    int i;
    FILE *f;

    for (i = 0; i < rank; i++) {
        size_t l = strlen(shape);
        snprintf(shape + l, sizeof(shape) - l, "%ld%s", dims[i], rank == 1 ? "," : (i + 1 < rank ? ", " : ""));
        n *= (size_t)dims[i];
    }
    len = (size_t)snprintf(hdr, sizeof(hdr), "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
    total = 10 + len + 1;
    while (total % 64) {
        hdr[len++] = ' ';
        total++;
    }
    hdr[len++] = '\n';
    f = fopen(path, "wb");
    if (!f)
        return -1;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((int)(len & 0xff), f);
    fputc((int)(len >> 8), f);
    fwrite(hdr, 1, len, f);
    fwrite(x, sizeof(float), n, f);
    return fclose(f);
}

static enum rvt_nn_act parse_act(const char *s)
{
    if (!strcmp(s, "relu"))
        return RVT_NN_ACT_RELU;
    if (!strcmp(s, "silu"))
        return RVT_NN_ACT_SILU;
    if (!strcmp(s, "sigmoid"))
        return RVT_NN_ACT_SIGMOID;
    return RVT_NN_ACT_NONE;
}

static struct rvt_nn_dense dense_of(const struct npy *w, const struct npy *b, enum rvt_nn_act act)
{
    struct rvt_nn_dense d;
    memset(&d, 0, sizeof(d));
    d.n_out = (int)w->dims[0];
    d.n_in = (int)(w->n / (size_t)w->dims[0]);
    d.w = w->data;
    d.bias = b && b->data ? b->data : NULL;
    d.act = act;
    return d;
}

/* --------------------------------------------------------------- harness */

struct trace_ctx {
    const char *dir;
    int fail;
};

static void trace_write(void *ctx, size_t clip, const char *name, const float *data, int c, int h,
                        int w)
{
    struct trace_ctx *t = ctx;
    char path[4096];
    long dims[3] = {c, h, w};

    if (clip != 0)
        return;
    snprintf(path, sizeof(path), "%s/%s.npy", t->dir, name);
    if (npy_write(path, data, 3, dims) < 0)
        t->fail = 1;
}

static int run_model(int argc, char **argv)
{
    struct rvt_error err = {0};
    struct rvt_model *m = NULL;
    struct rvt_nn_session *s = NULL, *fast = NULL;
    struct npy fr, mel;
    struct trace_ctx tc = {argv[5], 0};
    const struct rvt_model_info *info;
    float *logits = NULL;
    char path[4096];
    long dims[2];
    int ret = 1;

    (void)argc;
    memset(&fr, 0, sizeof(fr));
    memset(&mel, 0, sizeof(mel));
    if (rvt_model_load(&m, argv[2], &err) < 0) {
        fprintf(stderr, "test_nn: %s\n", err.msg);
        goto done;
    }
    info = rvt_model_get_info(m);
    if (npy_read(argv[3], &fr) < 0 || !fr.u8 || npy_read(argv[4], &mel) < 0 || mel.u8 ||
        fr.rank != 4 || mel.rank != 3 || fr.dims[0] != mel.dims[0] || fr.dims[1] != info->image_h ||
        fr.dims[2] != info->image_w || mel.dims[1] != info->n_mels || mel.dims[2] != info->n_frames) {
        fprintf(stderr, "test_nn: bad inputs\n");
        goto done;
    }
    if (rvt_nn_session_new(&s, m, (size_t)fr.dims[0], &err) < 0) {
        fprintf(stderr, "test_nn: %s\n", err.msg);
        goto done;
    }
    if (rvt_nn_session_set_trace(s, trace_write, &tc, &err) < 0) {
        fprintf(stderr, "test_nn: %s\n", err.msg);
        goto done;
    }
    logits = malloc((size_t)fr.dims[0] * info->n_classes * sizeof(float));
    if (!logits)
        goto done;
    rvt_model_forward(s, (size_t)fr.dims[0], fr.data, mel.data, logits);
    dims[0] = fr.dims[0];
    dims[1] = info->n_classes;
    snprintf(path, sizeof(path), "%s/all_logits.npy", argv[5]);
    if (npy_write(path, logits, 2, dims) < 0 || tc.fail)
        goto done;
    /* the same clips as run-model computes them: what the traced layers show must be
     * what it computes, bit for bit */
    if (rvt_nn_session_new(&fast, m, (size_t)fr.dims[0], &err) < 0 ||
        rvt_nn_session_set_threads(fast, 2, &err) < 0) {
        fprintf(stderr, "test_nn: %s\n", err.msg);
        goto done;
    }
    rvt_model_forward(fast, (size_t)fr.dims[0], fr.data, mel.data, logits);
    snprintf(path, sizeof(path), "%s/fast_logits.npy", argv[5]);
    if (npy_write(path, logits, 2, dims) < 0)
        goto done;
    ret = 0;
done:
    rvt_nn_session_free(&fast);
    free(logits);
    free(fr.data);
    free(mel.data);
    rvt_nn_session_free(&s);
    rvt_model_free(&m);
    return ret;
}

static int run_op(int argc, char **argv)
{
    const char *op = argv[1];
    struct npy a[6];
    int na = 0, i, ret = 1;
    float *out = NULL, *scr = NULL;
    long od[3];
    int ord = 0;
    const char *outp = argv[argc - 1];

    memset(a, 0, sizeof(a));
    /* every argument that ends in .npy, except the output, is an input */
    for (i = 2; i < argc - 1 && na < 6; i++) {
        size_t l = strlen(argv[i]);
        if (l > 4 && !strcmp(argv[i] + l - 4, ".npy") && npy_read(argv[i], &a[na++]) < 0) {
            fprintf(stderr, "test_nn: cannot read %s\n", argv[i]);
            goto done;
        }
    }
    if (!strcmp(op, "dwconv") || !strcmp(op, "conv")) {
        struct rvt_nn_conv l;
        bool dw = !strcmp(op, "dwconv");
        int C = (int)a[0].dims[0], H = (int)a[0].dims[1], W = (int)a[0].dims[2];
        int k = (int)a[1].dims[2], oh, ow;
        memset(&l, 0, sizeof(l));
        l.c_in = C;
        l.c_out = (int)a[1].dims[0];
        l.k = k;
        l.stride = atoi(argv[dw ? 5 : (na == 3 ? 5 : 4)]);
        l.pad = dw ? k / 2 : atoi(argv[na == 3 ? 6 : 5]);
        l.depthwise = dw;
        l.act = parse_act(argv[argc - 2]);
        if (dw) {
            l.dw_w = a[1].data;
            l.dw_bias = a[2].data;
        } else {
            l.gemm = dense_of(&a[1], na == 3 ? &a[2] : NULL, l.act);
        }
        oh = rvt_nn_out_size(H, k, l.stride, l.pad);
        ow = rvt_nn_out_size(W, k, l.stride, l.pad);
        out = malloc((size_t)l.c_out * oh * ow * sizeof(float));
        scr = calloc(rvt_nn_conv_scratch(&l, H, W) + 64, sizeof(float));
        rvt_nn_conv_forward(&l, a[0].data, H, W, out, scr, NULL);
        od[0] = l.c_out, od[1] = oh, od[2] = ow, ord = 3;
    } else if (!strcmp(op, "dense")) {
        struct rvt_nn_dense d = dense_of(&a[1], &a[2], parse_act(argv[argc - 2]));
        size_t n = a[0].n / (size_t)a[0].dims[0];
        out = malloc((size_t)d.n_out * n * sizeof(float));
        rvt_nn_dense_forward(&d, a[0].data, n, out, n, n, NULL, NULL);
        od[0] = d.n_out, od[1] = (long)n, ord = 2;
    } else if (!strcmp(op, "se")) {
        struct rvt_nn_dense d1 = dense_of(&a[1], &a[2], RVT_NN_ACT_SILU);
        struct rvt_nn_dense d2 = dense_of(&a[3], &a[4], RVT_NN_ACT_SIGMOID);
        int C = (int)a[0].dims[0], c;
        size_t n = a[0].n / (size_t)C;
        float m[4096], z[4096], g[4096];
        rvt_nn_plane_mean(a[0].data, C, n, m);
        rvt_nn_dense_forward(&d1, m, 1, z, 1, 1, NULL, NULL);
        rvt_nn_dense_forward(&d2, z, 1, g, 1, 1, NULL, NULL);
        out = malloc(a[0].n * sizeof(float));
        memcpy(out, a[0].data, a[0].n * sizeof(float));
        for (c = 0; c < C; c++)
            rvt_nn_kernels()->scale(out + (size_t)c * n, n, g[c]);
        for (c = 0; c < a[0].rank; c++)
            od[c] = a[0].dims[c];
        ord = a[0].rank;
    } else if (!strcmp(op, "chattn")) {
        struct rvt_nn_dense d1 = dense_of(&a[1], &a[2], RVT_NN_ACT_RELU);
        struct rvt_nn_dense d2 = dense_of(&a[3], &a[4], RVT_NN_ACT_SIGMOID);
        int C = (int)a[0].dims[0], c;
        size_t n = a[0].n / (size_t)C;
        float av[4096], mx[4096], h[4096], w1[4096], w2[4096];
        rvt_nn_plane_mean(a[0].data, C, n, av);
        rvt_nn_plane_max(a[0].data, C, n, mx);
        rvt_nn_dense_forward(&d1, av, 1, h, 1, 1, NULL, NULL);
        rvt_nn_dense_forward(&d2, h, 1, w1, 1, 1, NULL, NULL);
        rvt_nn_dense_forward(&d1, mx, 1, h, 1, 1, NULL, NULL);
        rvt_nn_dense_forward(&d2, h, 1, w2, 1, 1, NULL, NULL);
        for (c = 0; c < C; c++)
            w1[c] += w2[c];
        if (!strcmp(argv[argc - 2], "scale")) {
            out = malloc(a[0].n * sizeof(float));
            memcpy(out, a[0].data, a[0].n * sizeof(float));
            for (c = 0; c < C; c++)
                rvt_nn_kernels()->scale(out + (size_t)c * n, n, w1[c]);
            for (c = 0; c < a[0].rank; c++)
                od[c] = a[0].dims[c];
            ord = a[0].rank;
        } else {
            out = malloc((size_t)C * sizeof(float));
            memcpy(out, w1, (size_t)C * sizeof(float));
            od[0] = C, ord = 1;
        }
    } else if (!strcmp(op, "maxpool2")) {
        int C = (int)a[0].dims[0], H = (int)a[0].dims[1], W = (int)a[0].dims[2];
        out = malloc((size_t)C * (H / 2) * (W / 2) * sizeof(float) + 4);
        rvt_nn_maxpool2(a[0].data, C, H, W, out);
        od[0] = C, od[1] = H / 2, od[2] = W / 2, ord = 3;
    } else if (!strcmp(op, "avgpool") || !strcmp(op, "maxpool")) {
        int C = (int)a[0].dims[0];
        out = malloc((size_t)C * sizeof(float));
        if (op[1] == 'v')
            rvt_nn_plane_mean(a[0].data, C, a[0].n / (size_t)C, out);
        else
            rvt_nn_plane_max(a[0].data, C, a[0].n / (size_t)C, out);
        od[0] = C, ord = 1;
    } else if (!strcmp(op, "act")) {
        out = malloc(a[0].n * sizeof(float));
        memcpy(out, a[0].data, a[0].n * sizeof(float));
        rvt_nn_kernels()->bias_act(out, a[0].n, 0.0f, parse_act(argv[3]), NULL);
        for (i = 0; i < a[0].rank; i++)
            od[i] = a[0].dims[i];
        ord = a[0].rank;
    } else {
        fprintf(stderr, "test_nn: unknown op '%s'\n", op);
        goto done;
    }
    if (out && npy_write(outp, out, ord, od) == 0)
        ret = 0;
done:
    for (i = 0; i < na; i++)
        free(a[i].data);
    free(out);
    free(scr);
    return ret;
}

/* ------------------------------------------------------------ unit tests */

static uint64_t rng = 88172645463325252ull;

static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static double act_d(double x, enum rvt_nn_act act)
{
    switch (act) {
    case RVT_NN_ACT_NONE: return x;
    case RVT_NN_ACT_RELU: return x > 0 ? x : 0;
    case RVT_NN_ACT_SILU:
    case RVT_NN_ACT_SILU_Q: return x / (1 + exp(-x));
    case RVT_NN_ACT_SIGMOID: return 1 / (1 + exp(-x));
    }
    return x;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/*
 * Tolerance: a float sum of m products, each |w x| <= a, in any order, is within
 * m * eps * sum|w x| of the exact value (eps = 2^-24 per rounding); the
 * activations add a few ulps of the result (the SIMD exp is ~2 ulp, the division
 * 0.5).  So |y - exact| <= 2 * m * eps * S + 8 * eps * (|exact| + S), S = sum|wx| + |b|.
 */
static void test_dwconv(void)
{
    static const int shapes[][4] = {/* h, w, k, stride */
                                    {7, 7, 3, 1},    {7, 7, 5, 1},   {14, 14, 3, 2}, {14, 14, 5, 2},
                                    {17, 23, 3, 1},  {17, 23, 5, 2}, {28, 28, 5, 1}, {56, 56, 3, 2},
                                    {112, 112, 3, 1}, {1, 1, 3, 1},  {2, 3, 5, 2},   {9, 40, 3, 2}};
    const double eps = 1.0 / (1 << 24);
    int isa, si;

    for (isa = RVT_ISA_REF; isa <= RVT_ISA_AVX512; isa++) {
        const struct rvt_nn_kernels *kt = rvt_nn_kernels_for((enum rvt_isa)isa);
        if (!kt)
            continue;
        for (si = 0; si < (int)RVT_ARRAY_SIZE(shapes); si++) {
            int h = shapes[si][0], w = shapes[si][1], k = shapes[si][2], s = shapes[si][3];
            int pad = k / 2, oh = rvt_nn_out_size(h, k, s, pad), ow = rvt_nn_out_size(w, k, s, pad);
            float *x = malloc((size_t)h * w * sizeof(float)), wt[49], b = frand();
            float *y = malloc((size_t)oh * ow * sizeof(float));
            float *scr = malloc(rvt_nn_dwconv_scratch(h, w, pad) * sizeof(float));
            double worst = 0, sum, esum = 0;
            enum rvt_nn_act act = (enum rvt_nn_act)(si % 4);
            int i, oy, ox, ky, kx, bad = 0;
            for (i = 0; i < h * w; i++)
                x[i] = 3 * frand();
            for (i = 0; i < k * k; i++)
                wt[i] = frand();
            sum = kt->dwconv(x, h, w, wt, k, s, pad, b, act, y, oh, ow, scr);
            for (oy = 0; oy < oh; oy++)
                for (ox = 0; ox < ow; ox++) {
                    double acc = 0, mag = fabs(b), ex, tol;
                    for (ky = 0; ky < k; ky++)
                        for (kx = 0; kx < k; kx++) {
                            int iy = oy * s + ky - pad, ix = ox * s + kx - pad;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            acc += (double)wt[ky * k + kx] * x[iy * w + ix];
                            mag += fabs((double)wt[ky * k + kx] * x[iy * w + ix]);
                        }
                    ex = act_d(acc + b, act);
                    esum += ex;
                    tol = 2.0 * k * k * eps * mag + 8 * eps * (fabs(ex) + mag);
                    if (!(fabs(y[oy * ow + ox] - ex) <= tol))
                        bad++;
                    worst = fmax(worst, fabs(y[oy * ow + ox] - ex) / (tol > 0 ? tol : 1));
                }
            OK(!bad && fabs(sum - esum) <= 1e-5 * (1 + fabs(esum)) + 1e-6 * oh * ow,
               "dwconv %s %dx%d k%d s%d %s: %d bad, worst %.2f of tolerance", rvt_isa_name(kt->isa), h, w, k, s,
               rvt_nn_act_name(act), bad, worst);
            free(x);
            free(y);
            free(scr);
        }
    }
}

/* The channels-last kernels (pad + bias + act, depthwise, scale) of every table that
 * has them and the _ref twins, against double precision; tolerance as above. */
static void test_cl(void)
{
    static const int shapes[][5] = {/* c, h, w, k, stride */
                                    {16, 7, 7, 5, 1},  {32, 7, 7, 3, 1}, {48, 14, 14, 5, 2},
                                    {16, 28, 28, 3, 2}, {32, 9, 13, 5, 1}, {16, 1, 1, 3, 1},
                                    {16, 2, 3, 5, 2},  {64, 56, 56, 3, 1},
                                    /* the AVX2 kernel's row chunks (ceil(ow / 8) of near-equal
                                     * size): 14 = 7 + 7, 11 at stride 2, 19 = 7 + 6 + 6 at k5
                                     * stride 2, 60 = 4 x 8 + 4 x 7; 5 slices (c 80) */
                                    {80, 14, 14, 3, 1}, {32, 15, 21, 3, 2}, {16, 11, 37, 5, 2},
                                    {48, 5, 60, 3, 1}};
    const double eps = 1.0 / (1 << 24);
    int isa, si;

    for (isa = RVT_ISA_REF - 1; isa <= RVT_ISA_AVX512; isa++) {
        /* isa -1: the _ref functions themselves */
        const struct rvt_nn_kernels *kt = isa < 0 ? NULL : rvt_nn_kernels_for((enum rvt_isa)isa);
        rvt_nn_pad_act_cl_fn pad_act = isa < 0 ? rvt_nn_pad_act_cl_ref : kt ? kt->pad_act_cl : NULL;
        rvt_nn_dwconv_cl_fn dw = isa < 0 ? rvt_nn_dwconv_cl_ref : kt ? kt->dwconv_cl : NULL;
        rvt_nn_scale_cl_fn scale = isa < 0 ? rvt_nn_scale_cl_ref : kt ? kt->scale_cl : NULL;
        const char *name = isa < 0 ? "ref" : kt ? rvt_isa_name(kt->isa) : "";
        if (!pad_act || !dw || !scale)
            continue;
        for (si = 0; si < (int)RVT_ARRAY_SIZE(shapes); si++) {
            int c = shapes[si][0], h = shapes[si][1], w = shapes[si][2], k = shapes[si][3];
            int s = shapes[si][4], pad = k / 2, hp = h + 2 * pad, wp = w + 2 * pad;
            int oh = rvt_nn_out_size(h, k, s, pad), ow = rvt_nn_out_size(w, k, s, pad);
            size_t nx = (size_t)h * w * c, ny = (size_t)oh * ow * c;
            float *x = malloc(nx * sizeof(float)), *xp = malloc((size_t)hp * wp * c * sizeof(float));
            float *y = malloc(ny * sizeof(float)), *wt = malloc((size_t)k * k * c * sizeof(float));
            float *b0 = malloc((size_t)c * sizeof(float)), *b1 = malloc((size_t)c * sizeof(float));
            float *g = malloc((size_t)c * sizeof(float));
            float *sums = malloc((size_t)oh * c * sizeof(float));
            float *yf = malloc(ny * sizeof(float)), *sf = malloc((size_t)oh * c * sizeof(float));
            double *px = malloc((size_t)hp * wp * c * sizeof(double));
            int bad = 0, badp = 0, bads = 0, badq = 0, ch, oy, ox, ky, kx, i;
            size_t j;
            for (j = 0; j < nx; j++)
                x[j] = 3 * frand();
            for (j = 0; j < (size_t)k * k * c; j++)
                wt[j] = frand();
            for (ch = 0; ch < c; ch++) {
                b0[ch] = frand();
                b1[ch] = frand();
                g[ch] = 1 + frand();
            }
            pad_act(x, h, w, c, 0, c, pad, b0, RVT_NN_ACT_SILU, xp);
            for (i = 0; i < hp * wp; i++) {
                int iy = i / wp - pad, ix = i % wp - pad;
                for (ch = 0; ch < c; ch++) {
                    double e = iy >= 0 && iy < h && ix >= 0 && ix < w
                                   ? act_d((double)x[((size_t)iy * w + ix) * c + ch] + b0[ch], RVT_NN_ACT_SILU)
                                   : 0.0;
                    px[(size_t)i * c + ch] = e;
                    if (!(fabs(xp[(size_t)i * c + ch] - e) <= 8 * eps * (fabs(e) + 1e-30) + 1e-30))
                        badp++;
                }
            }
            dw(xp, hp, wp, c, 0, c, wt, k, s, b1, RVT_NN_ACT_SILU, y, oh, ow, sums);
            /* the SiLU an int8 layer quantizes next: within 3.1e-6 relative */
            dw(xp, hp, wp, c, 0, c, wt, k, s, b1, RVT_NN_ACT_SILU_Q, yf, oh, ow, sf);
            {
                /* in two channel slices, then in two bands of output rows (how threads
                 * split a layer): the same bits */
                int cm = c / 32 * 16, rm = oh / 2;
                size_t ns = (size_t)oh * c * sizeof(float);
                float *xq = malloc((size_t)hp * wp * c * sizeof(float)), *yq = malloc(ny * sizeof(float));
                float *sq = malloc(ns), *yr = malloc(ny * sizeof(float)), *sr = malloc(ns);
                pad_act(x, h, w, c, cm, c, pad, b0, RVT_NN_ACT_SILU, xq);
                pad_act(x, h, w, c, 0, cm, pad, b0, RVT_NN_ACT_SILU, xq);
                dw(xq, hp, wp, c, cm, c, wt, k, s, b1, RVT_NN_ACT_SILU, yq, oh, ow, sq);
                dw(xq, hp, wp, c, 0, cm, wt, k, s, b1, RVT_NN_ACT_SILU, yq, oh, ow, sq);
                OK(!memcmp(xq, xp, (size_t)hp * wp * c * sizeof(float)) && !memcmp(yq, y, ny * sizeof(float)) &&
                       !memcmp(sq, sums, ns),
                   "channels-last %s c%d %dx%d k%d s%d: slices [0,%d) [%d,%d) give the same bits", name, c,
                   h, w, k, s, cm, cm, c);
                dw(xp + (size_t)rm * s * wp * c, hp - rm * s, wp, c, 0, c, wt, k, s, b1, RVT_NN_ACT_SILU,
                   yr + (size_t)rm * ow * c, oh - rm, ow, sr + (size_t)rm * c);
                if (rm)
                    dw(xp, hp, wp, c, 0, c, wt, k, s, b1, RVT_NN_ACT_SILU, yr, rm, ow, sr);
                OK(!memcmp(yr, y, ny * sizeof(float)) && !memcmp(sr, sums, ns),
                   "channels-last %s c%d %dx%d k%d s%d: output rows [0,%d) [%d,%d) give the same bits",
                   name, c, h, w, k, s, rm, rm, oh);
                if (kt && kt->sum_rows) {
                    /* the rows into channel sums, against the portable twin, on these
                     * rows and on rows whose double sum depends on the order (1e20,
                     * -1e20, then 1s: in row order the 1s count, in others they vanish) */
                    double *d0 = malloc((size_t)c * sizeof(double)), *d1 = malloc((size_t)c * sizeof(double));
                    int same;
                    rvt_nn_sum_rows_ref(sums, oh, c, d0);
                    kt->sum_rows(sums, oh, c, d1);
                    same = !memcmp(d0, d1, (size_t)c * sizeof(double));
                    for (j = 0; j < (size_t)oh * c; j++)
                        sr[j] = (j / c == 0 ? 1e20f : j / c == 1 ? -1e20f : 1.0f) *
                                (1.0f + 1e-3f * (float)(j % c));
                    rvt_nn_sum_rows_ref(sr, oh, c, d0);
                    kt->sum_rows(sr, oh, c, d1);
                    OK(same && !memcmp(d0, d1, (size_t)c * sizeof(double)),
                       "sum_rows %s c%d, %d rows == rvt_nn_sum_rows_ref, bit for bit", name, c, oh);
                    free(d0), free(d1);
                }
                free(xq), free(yq), free(sq), free(yr), free(sr);
            }
            for (ch = 0; ch < c; ch++) {
                for (oy = 0; oy < oh; oy++) {
                    double rs = 0, ra = 0; /* the row's sum, and of magnitudes */
                    for (ox = 0; ox < ow; ox++) {
                        double acc = b1[ch], mag = fabs(b1[ch]), e, got;
                        for (ky = 0; ky < k; ky++)
                            for (kx = 0; kx < k; kx++) {
                                double t = wt[(size_t)(ky * k + kx) * c + ch] *
                                           (double)xp[((size_t)(oy * s + ky) * wp + ox * s + kx) * c + ch];
                                acc += t;
                                mag += fabs(t);
                            }
                        e = act_d(acc, RVT_NN_ACT_SILU);
                        rs += e;
                        ra += fabs(e) + mag;
                        got = y[((size_t)oy * ow + ox) * c + ch];
                        if (!(fabs(got - e) <= 2.0 * k * k * eps * mag + 8 * eps * (fabs(e) + mag)))
                            bad++;
                        got = yf[((size_t)oy * ow + ox) * c + ch];
                        if (!(fabs(got - e) <= 3.1e-6 * fabs(e) + 2.0 * k * k * eps * mag + 8 * eps * (fabs(e) + mag)))
                            badq++;
                    }
                    /* float sums of ow values: (ow + 2 k k) eps of the magnitudes */
                    if (!(fabs(sums[(size_t)oy * c + ch] - rs) <= (ow + 2.0 * k * k) * eps * ra))
                        bads++;
                }
            }
            memcpy(xp, y, ny * sizeof(float));
            scale(y, (size_t)oh * ow, c, g);
            for (j = 0; j < ny; j++)
                if (y[j] != xp[j] * g[j % c])
                    bads++;
            OK(!bad && !badp && !bads && !badq,
               "channels-last %s c%d %dx%d k%d s%d: pad+act %d, dw %d, dw silu-q %d, sums/scale %d bad",
               name, c, h, w, k, s, badp, bad, badq, bads);
            free(x), free(xp), free(y), free(wt), free(b0), free(b1), free(g), free(sums), free(px);
            free(yf), free(sf);
        }
    }
}

/*
 * The x86 levels' depthwise arithmetic, exactly: each output one float FMA chain over
 * the taps in (ky, kx) order from 0, then + bias, and a row's sum float additions in
 * pixel order from 0 (so AVX2 and AVX-512 differ only by their activations).  Without
 * an activation (and with ReLU, the same max on every level) that is bit for bit
 * fmaf; on channel slices not starting at 0 and on row bands, channels outside the
 * slice left untouched.
 */
static void test_cl_chain(void)
{
    static const int shapes[][5] = {/* c, h, w, k, stride */
                                    {32, 7, 7, 5, 1},  {48, 9, 13, 3, 1}, {16, 15, 21, 3, 2},
                                    {32, 11, 37, 5, 2}, {16, 1, 1, 3, 1}, {16, 2, 3, 5, 2},
                                    {48, 6, 19, 5, 1}, {32, 28, 28, 3, 2}};
    int isa, si;

    for (isa = RVT_ISA_AVX2; isa <= RVT_ISA_AVX512; isa++) {
        const struct rvt_nn_kernels *kt = rvt_nn_kernels_for((enum rvt_isa)isa);
        if (!kt || !kt->dwconv_cl)
            continue;
        for (si = 0; si < (int)RVT_ARRAY_SIZE(shapes); si++) {
            int c = shapes[si][0], h = shapes[si][1], w = shapes[si][2], k = shapes[si][3];
            int s = shapes[si][4], pad = k / 2, hp = h + 2 * pad, wp = w + 2 * pad;
            int oh = rvt_nn_out_size(h, k, s, pad), ow = rvt_nn_out_size(w, k, s, pad);
            int c0 = c >= 32 ? 16 : 0, rm = oh / 2, a, bad = 0, untouched = 1;
            size_t nxp = (size_t)hp * wp * c, ny = (size_t)oh * ow * c, j;
            float *xp = malloc(nxp * sizeof(float)), *wt = malloc((size_t)k * k * c * sizeof(float));
            float *b = malloc((size_t)c * sizeof(float)), *y = malloc(ny * sizeof(float));
            float *rs = malloc((size_t)oh * c * sizeof(float));
            for (j = 0; j < nxp; j++)
                xp[j] = 3 * frand();
            for (j = 0; j < (size_t)k * k * c; j++)
                wt[j] = frand();
            for (j = 0; j < (size_t)c; j++)
                b[j] = frand();
            for (a = 0; a < 2; a++) {
                enum rvt_nn_act act = a ? RVT_NN_ACT_RELU : RVT_NN_ACT_NONE;
                int oy, ox, ky, kx, ch;
                for (j = 0; j < ny; j++)
                    y[j] = -7.0f;
                for (j = 0; j < (size_t)oh * c; j++)
                    rs[j] = -7.0f;
                /* rows [rm, oh) then [0, rm), channels [c0, c) */
                kt->dwconv_cl(xp + (size_t)rm * s * wp * c, hp - rm * s, wp, c, c0, c, wt, k, s, b, act,
                              y + (size_t)rm * ow * c, oh - rm, ow, rs + (size_t)rm * c);
                if (rm)
                    kt->dwconv_cl(xp, hp, wp, c, c0, c, wt, k, s, b, act, y, rm, ow, rs);
                for (oy = 0; oy < oh; oy++)
                    for (ch = 0; ch < c; ch++) {
                        float sum = 0.0f;
                        if (ch < c0) {
                            untouched &= rs[(size_t)oy * c + ch] == -7.0f;
                            for (ox = 0; ox < ow; ox++)
                                untouched &= y[((size_t)oy * ow + ox) * c + ch] == -7.0f;
                            continue;
                        }
                        for (ox = 0; ox < ow; ox++) {
                            float acc = 0.0f, v;
                            for (ky = 0; ky < k; ky++)
                                for (kx = 0; kx < k; kx++)
                                    acc = fmaf(wt[(size_t)(ky * k + kx) * c + ch],
                                               xp[((size_t)(oy * s + ky) * wp + ox * s + kx) * c + ch], acc);
                            v = acc + b[ch];
                            v = act == RVT_NN_ACT_RELU ? (v > 0.0f ? v : 0.0f) : v;
                            bad += memcmp(&v, &y[((size_t)oy * ow + ox) * c + ch], sizeof(v)) != 0;
                            sum += v;
                        }
                        bad += memcmp(&sum, &rs[(size_t)oy * c + ch], sizeof(sum)) != 0;
                    }
            }
            OK(!bad && untouched,
               "dwconv_cl %s c%d %dx%d k%d s%d, channels [%d,%d), rows [0,%d) [%d,%d), none and relu: "
               "the fmaf chain bit for bit (%d differ), the other channels untouched",
               rvt_isa_name(kt->isa), c, h, w, k, s, c0, c, rm, rm, oh, bad);
            free(xp), free(wt), free(b), free(y), free(rs);
        }
    }
}


static void test_bias_act(void)
{
    const double eps = 1.0 / (1 << 24);
    int isa, a;
    size_t n = 1003, i;

    for (isa = RVT_ISA_REF; isa <= RVT_ISA_AVX512; isa++) {
        const struct rvt_nn_kernels *kt = rvt_nn_kernels_for((enum rvt_isa)isa);
        if (!kt)
            continue;
        for (a = 0; a < 4; a++) {
            float *x = malloc(n * sizeof(float)), b = 0.25f;
            double *ref = malloc(n * sizeof(double)), sum, esum = 0;
            int bad = 0;
            for (i = 0; i < n; i++) {
                /* the whole useful range, including where exp over/underflows */
                x[i] = i < 10 ? (float)(i % 2 ? 100.0 + 10 * i : -100.0 - 10 * i) : 20 * frand();
                ref[i] = act_d((double)(x[i] + b), (enum rvt_nn_act)a);
                esum += ref[i];
            }
            float *x2 = malloc(n * sizeof(float));
            memcpy(x2, x, n * sizeof(float));
            kt->bias_act(x, n, b, (enum rvt_nn_act)a, &sum);
            kt->bias_act(x2, n, b, (enum rvt_nn_act)a, NULL); /* no sum: the same values */
            OK(!memcmp(x, x2, n * sizeof(float)), "bias_act %s %s without the sum: same values",
               rvt_isa_name(kt->isa), rvt_nn_act_name((enum rvt_nn_act)a));
            free(x2);
            /* absolute 1e-30: below exp's clamp (x < -87) SiLU gives ~x e^-87.3
             * instead of x e^x, both invisible next to any other term */
            for (i = 0; i < n; i++)
                if (!(fabs(x[i] - ref[i]) <= 8 * eps * fabs(ref[i]) + 1e-30)) /* NaN is bad */
                    bad++;
            OK(!bad && fabs(sum - esum) <= 1e-6 * (1 + fabs(esum)), "bias_act %s %s: %d bad",
               rvt_isa_name(kt->isa), rvt_nn_act_name((enum rvt_nn_act)a), bad);
            free(x);
            free(ref);
        }
    }
}

static void test_conv_dense(void)
{
    /* stem-like and audio-like regular convs through im2col + sgemm */
    static const int shapes[][6] = {/* c_in, c_out, h, w, k, stride */
                                    {3, 32, 33, 30, 3, 2}, {1, 32, 16, 20, 3, 1},
                                    {32, 64, 8, 15, 3, 1}, {32, 64, 1, 1, 3, 1}};
    const double eps = 1.0 / (1 << 24);
    int si;

    for (si = 0; si < (int)RVT_ARRAY_SIZE(shapes); si++) {
        int ci = shapes[si][0], co = shapes[si][1], h = shapes[si][2], w = shapes[si][3];
        int k = shapes[si][4], s = shapes[si][5], pad = k / 2;
        int oh = rvt_nn_out_size(h, k, s, pad), ow = rvt_nn_out_size(w, k, s, pad);
        size_t nw = (size_t)co * ci * k * k, i;
        float *x = malloc((size_t)ci * h * w * sizeof(float)), *wt = malloc(nw * sizeof(float));
        float *b = malloc((size_t)co * sizeof(float)), *y = malloc((size_t)co * oh * ow * sizeof(float));
        struct rvt_nn_conv l;
        float *scr;
        int o, c, oy, ox, ky, kx, bad = 0;
        double sums_ok = 1;
        double *sums = malloc((size_t)co * sizeof(double));

        for (i = 0; i < (size_t)ci * h * w; i++)
            x[i] = frand();
        for (i = 0; i < nw; i++)
            wt[i] = frand();
        for (o = 0; o < co; o++)
            b[o] = frand();
        memset(&l, 0, sizeof(l));
        l.c_in = ci, l.c_out = co, l.k = k, l.stride = s, l.pad = pad;
        l.gemm.n_out = co, l.gemm.n_in = ci * k * k, l.gemm.w = wt, l.gemm.bias = b;
        l.gemm.act = RVT_NN_ACT_SILU;
        scr = malloc(rvt_nn_conv_scratch(&l, h, w) * sizeof(float) + 64);
        rvt_nn_conv_forward(&l, x, h, w, y, scr, sums);
        for (o = 0; o < co; o++) {
            double rs = 0;
            for (oy = 0; oy < oh; oy++)
                for (ox = 0; ox < ow; ox++) {
                    double acc = b[o], mag = fabs(b[o]), ex;
                    for (c = 0; c < ci; c++)
                        for (ky = 0; ky < k; ky++)
                            for (kx = 0; kx < k; kx++) {
                                int iy = oy * s + ky - pad, ix = ox * s + kx - pad;
                                double t;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                t = (double)wt[((size_t)(o * ci + c) * k + ky) * k + kx] *
                                    x[((size_t)c * h + iy) * w + ix];
                                acc += t;
                                mag += fabs(t);
                            }
                    ex = act_d(acc, RVT_NN_ACT_SILU);
                    rs += ex;
                    if (!(fabs(y[((size_t)o * oh + oy) * ow + ox] - ex) <=
                          2.0 * ci * k * k * eps * mag + 8 * eps * (fabs(ex) + mag)))
                        bad++;
                }
            if (!(fabs(sums[o] - rs) <= 1e-5 * (1 + fabs(rs))))
                sums_ok = 0;
        }
        OK(!bad && sums_ok, "conv %d->%d %dx%d k%d s%d (im2col + sgemm): %d bad", ci, co, h, w, k,
           s, bad);
        free(x), free(wt), free(b), free(y), free(scr), free(sums);
    }
}

/* The int8 reference path against fp32: the error is bounded by the quantization
 * steps: |dy| <= sum_i (|w_i| dx/2 + |x_i| dw_o/2 + dw_o dx / 4) where dx, dw are the steps. */
static void test_dense_i8(void)
{
    int n_out = 37, n_in = 70, n_cols = 9, o, i, j, bad = 0;
    float *w = malloc((size_t)n_out * n_in * sizeof(float)), *x = malloc((size_t)n_in * n_cols * sizeof(float));
    int8_t *q = malloc((size_t)n_out * n_in);
    float *sc = malloc((size_t)n_out * sizeof(float)), *b = malloc((size_t)n_out * sizeof(float));
    float *y = malloc((size_t)n_out * n_cols * sizeof(float)), xmax = 0;
    struct rvt_nn_dense d;
    float *scr;

    for (i = 0; i < n_in * n_cols; i++) {
        x[i] = frand();
        xmax = fmaxf(xmax, fabsf(x[i]));
    }
    for (o = 0; o < n_out; o++) {
        float m = 0;
        b[o] = frand();
        for (i = 0; i < n_in; i++) {
            w[o * n_in + i] = frand() * (float)(o + 1);
            m = fmaxf(m, fabsf(w[o * n_in + i]));
        }
        sc[o] = m / 127;
        for (i = 0; i < n_in; i++)
            q[o * n_in + i] = (int8_t)lrintf(w[o * n_in + i] / sc[o]);
    }
    memset(&d, 0, sizeof(d));
    d.n_out = n_out, d.n_in = n_in, d.wtype = RVT_NN_WEIGHT_I8, d.w_i8 = q, d.w_scale = sc, d.bias = b;
    OK(rvt_nn_dense_prepare_i8(&d, NULL, NULL) == 0, "int8 dense prepared");
    scr = malloc(rvt_nn_dense_scratch(&d, (size_t)n_cols) * sizeof(float));
    rvt_nn_dense_forward(&d, x, (size_t)n_cols, y, (size_t)n_cols, (size_t)n_cols, scr, NULL);
    for (o = 0; o < n_out; o++)
        for (j = 0; j < n_cols; j++) {
            double acc = b[o], tol = 1e-5;
            for (i = 0; i < n_in; i++) {
                acc += (double)w[o * n_in + i] * x[i * n_cols + j];
                tol += fabs(w[o * n_in + i]) * xmax / 254 + fabs(x[i * n_cols + j]) * sc[o] / 2 +
                       sc[o] * xmax / 127 / 4;
            }
            if (!(fabs(y[o * n_cols + j] - acc) <= tol))
                bad++;
        }
    OK(!bad, "dense int8 reference within the quantization bound: %d bad", bad);
    rvt_nn_dense_release(&d);
    free(w), free(x), free(q), free(sc), free(b), free(y), free(scr);
}

static void test_pools(void)
{
    float x[2 * 5 * 7], y[2 * 2 * 3], mean[2], mx[2];
    int i, bad = 0, c, oy, ox;

    for (i = 0; i < 70; i++)
        x[i] = frand();
    rvt_nn_maxpool2(x, 2, 5, 7, y);
    for (c = 0; c < 2; c++)
        for (oy = 0; oy < 2; oy++)
            for (ox = 0; ox < 3; ox++) {
                const float *p = x + c * 35 + 2 * oy * 7 + 2 * ox;
                float m = fmaxf(fmaxf(p[0], p[1]), fmaxf(p[7], p[8]));
                if (y[c * 6 + oy * 3 + ox] != m)
                    bad++;
            }
    OK(!bad, "maxpool2 floor mode 5x7 -> 2x3");
    {
        /* every level's maxpool2 = the portable one, bit for bit, NaN and tails included */
        static const int shapes[][3] = {{3, 64, 300}, {2, 5, 7}, {1, 9, 65}, {2, 2, 34}};
        int isa, si;
        for (isa = RVT_ISA_AVX2; isa <= RVT_ISA_AVX512; isa++) {
            const struct rvt_nn_kernels *kt = rvt_nn_kernels_for((enum rvt_isa)isa);
            int badk = 0;
            if (!kt)
                continue;
            for (si = 0; si < 4; si++) {
                int cc = shapes[si][0], h = shapes[si][1], w = shapes[si][2];
                size_t n = (size_t)cc * h * w, no = (size_t)cc * (h / 2) * (w / 2), j;
                float *xa = malloc(n * sizeof(float)), *ya = malloc(no * sizeof(float) + 4);
                float *yb = malloc(no * sizeof(float) + 4);
                for (j = 0; j < n; j++)
                    xa[j] = j % 97 == 5 ? NAN : frand();
                ya[no] = yb[no] = 7.0f;
                rvt_nn_maxpool2(xa, cc, h, w, ya);
                kt->maxpool2(xa, cc, h, w, yb);
                badk += memcmp(ya, yb, (no + 1) * sizeof(float)) != 0;
                free(xa), free(ya), free(yb);
            }
            OK(!badk, "maxpool2 %s == portable, bit for bit (NaN, tails; %d shapes differ)",
               rvt_isa_name(kt->isa), badk);
        }
    }
    rvt_nn_plane_mean(x, 2, 35, mean);
    rvt_nn_plane_max(x, 2, 35, mx);
    for (c = 0; c < 2; c++) {
        double s = 0;
        float m = -1e30f;
        for (i = 0; i < 35; i++) {
            s += x[c * 35 + i];
            m = fmaxf(m, x[c * 35 + i]);
        }
        OK(fabs(mean[c] - s / 35) < 1e-6 && mx[c] == m, "global avg and max pool, plane %d", c);
    }
}

/* A plane with specials: NaN, +-Inf and both zeros at a few positions (special = 0:
 * none), the rest uniform in [-1, 1). */
static void fill_special(float *x, size_t n, int special)
{
    size_t j;

    for (j = 0; j < n; j++) {
        x[j] = frand();
        if (special && j % 37 == 11)
            x[j] = (j / 37) % 4 == 0 ? NAN : (j / 37) % 4 == 1 ? INFINITY
                 : (j / 37) % 4 == 2 ? -INFINITY : -0.0f;
        if (special && j % 29 == 3)
            x[j] = 0.0f;
    }
}

/*
 * plane_conv_pool (the audio branch's first conv + ReLU + 2x2 max pool): every level's
 * entry against the same level's dwconv per channel then maxpool2 (what the network ran
 * before the entry existed), bit for bit: sizes with odd heights/widths and 8- and
 * 16-column tails, k 3 with pads 0-2 (the AVX2 and AVX-512 kernels) and shapes they
 * hand back, NaN/Inf inputs, channel ranges (odd counts; a channel outside [c0, c1)
 * keeps its sentinel), bias NULL.  Then a timing line for the audio branch's shape.
 */
static void test_plane_conv_pool(void)
{
    static const int sizes[][2] = {{64, 300}, {5, 7}, {2, 2}, {3, 35}, {9, 33},
                                   {17, 48}, {6, 50}, {1, 5}, {4, 18}, {7, 19}};
    static const int kinds[][3] = {{3, 1, 1}, {3, 1, 0}, {3, 1, 2}, {5, 1, 2}, {3, 2, 1}};
    static const int ranges[][2] = {{0, 32}, {0, 16}, {16, 32}, {3, 30}, {5, 6}, {7, 7}};
    const int C = 32;
    float wt[32 * 25], bias[32];
    int isa, i;

    for (i = 0; i < C * 25; i++)
        wt[i] = frand();
    for (i = 0; i < C; i++)
        bias[i] = 0.25f * frand();
    for (isa = RVT_ISA_REF; isa <= RVT_ISA_AVX512; isa++) {
        const struct rvt_nn_kernels *kt = rvt_nn_kernels_for((enum rvt_isa)isa);
        int bad = 0, cases = 0, si, ki;
        if (!kt)
            continue;
        for (si = 0; si < (int)RVT_ARRAY_SIZE(sizes); si++)
            for (ki = 0; ki < (int)RVT_ARRAY_SIZE(kinds); ki++) {
                int h = sizes[si][0], w = sizes[si][1], k = kinds[ki][0], st = kinds[ki][1];
                int pad = kinds[ki][2], oh = rvt_nn_out_size(h, k, st, pad);
                int ow = rvt_nn_out_size(w, k, st, pad), ri, c;
                size_t pn, ny, ns, j;
                float *x, *ya, *yb, *scr, *plane;
                if (oh < 1 || ow < 1)
                    continue;
                pn = (size_t)(oh / 2) * (ow / 2), ny = (size_t)C * pn + 1;
                ns = rvt_nn_plane_conv_pool_scratch(h, w, k, st, pad);
                x = malloc((size_t)h * w * sizeof(float));
                ya = malloc(ny * sizeof(float)), yb = malloc(ny * sizeof(float));
                scr = malloc(ns * sizeof(float));
                plane = malloc(((size_t)oh * ow + rvt_nn_dwconv_scratch(h, w, pad)) * sizeof(float));
                for (ri = 0; ri < (int)RVT_ARRAY_SIZE(ranges); ri++) {
                    int c0 = ranges[ri][0], c1 = ranges[ri][1], special = ri % 3;
                    enum rvt_nn_act act = ri == 3 ? RVT_NN_ACT_NONE
                                        : ri == 4 ? RVT_NN_ACT_SILU : RVT_NN_ACT_RELU;
                    const float *b = ri == 5 || ri == 2 ? NULL : bias;
                    fill_special(x, (size_t)h * w, special);
                    for (j = 0; j < ny; j++)
                        ya[j] = yb[j] = 7.0f;
                    for (c = c0; c < c1; c++) {
                        kt->dwconv(x, h, w, wt + c * k * k, k, st, pad, b ? b[c] : 0.0f, act,
                                   plane, oh, ow, plane + (size_t)oh * ow);
                        kt->maxpool2(plane, 1, oh, ow, ya + c * pn);
                    }
                    kt->plane_conv_pool(x, h, w, wt, k, st, pad, b, act, c0, c1, yb, scr);
                    cases++;
                    if (memcmp(ya, yb, ny * sizeof(float))) {
                        if (!bad)
                            printf("# plane_conv_pool %s %dx%d k%d s%d p%d [%d, %d) differs\n",
                                 rvt_isa_name(kt->isa), h, w, k, st, pad, c0, c1);
                        bad++;
                    }
                }
                free(x), free(ya), free(yb), free(scr), free(plane);
            }
        OK(!bad, "plane_conv_pool %s == its dwconv + maxpool2 per channel, bit for bit: %d of %d cases differ",
           rvt_isa_name(kt->isa), bad, cases);
    }
    {
        /* timings on the audio branch's shape (mel 64 x 300, 32 channels, ReLU) */
        const int h = 64, w = 300, reps = 5;
        size_t pn = (size_t)(h / 2) * (w / 2);
        float *x = malloc((size_t)h * w * sizeof(float)), *y = malloc(C * pn * sizeof(float));
        float *scr = malloc(rvt_nn_plane_conv_pool_scratch(h, w, 3, 1, 1) * sizeof(float));
        float st[2 * 32];
        fill_special(x, (size_t)h * w, 0);
        for (isa = RVT_ISA_REF; isa <= RVT_ISA_AVX512; isa++) {
            const struct rvt_nn_kernels *kt = rvt_nn_kernels_for((enum rvt_isa)isa);
            double t0, t1, t2;
            int r;
            if (!kt)
                continue;
            t0 = cpu_s();
            for (r = 0; r < reps; r++)
                kt->plane_conv_pool(x, h, w, wt, 3, 1, 1, bias, RVT_NN_ACT_RELU, 0, C, y, scr);
            t1 = cpu_s();
            for (r = 0; r < reps; r++) {
                kt->plane_mean(y, C, pn, st);
                kt->plane_max(y, C, pn, st + C);
            }
            t2 = cpu_s();
            printf("# audio front %s: conv + ReLU + pool %.3f ms, plane mean + max %.3f ms (cpu) a clip\n",
                   rvt_isa_name(kt->isa), (t1 - t0) / reps * 1e3, (t2 - t1) / reps * 1e3);
        }
        free(x), free(y), free(scr);
    }
}

/* a and b, n floats, the same bits, but that any NaN equals any NaN: a sum's NaN takes
 * the sign and payload of whichever NaN operand the compiler put first (the portable
 * plane_mean gives -NaN at -O1 and +NaN at -O2 for the same inputs) */
static bool same_bits_nan(const float *a, const float *b, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (!(isnan(a[i]) && isnan(b[i])) && memcmp(a + i, b + i, sizeof(float)))
            return false;
    return true;
}

/* plane_mean and plane_max: every level's against the portable ones, bit for bit (NaN
 * as NaN): plane counts around the block sizes, lengths around the vector widths,
 * NaN/Inf/signed zeros, an all -Inf plane (-FLT_MAX, as the portable one) and an
 * all-zero one of mixed signs (which zero wins depends on the compare order). */
static void test_plane_stats(void)
{
    static const int counts[] = {1, 3, 4, 8, 9, 13, 32};
    static const size_t lens[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 4800, 4801};
    int isa;

    for (isa = RVT_ISA_AVX2; isa <= RVT_ISA_AVX512; isa++) {
        const struct rvt_nn_kernels *kt = rvt_nn_kernels_for((enum rvt_isa)isa);
        int bad = 0, cases = 0, ci, li, sp;
        if (!kt)
            continue;
        for (ci = 0; ci < (int)RVT_ARRAY_SIZE(counts); ci++)
            for (li = 0; li < (int)RVT_ARRAY_SIZE(lens); li++)
                for (sp = 0; sp < 4; sp++) {
                    int c = counts[ci];
                    size_t n = lens[li], j;
                    float *x = malloc((size_t)c * n * sizeof(float)), out[4][33];
                    fill_special(x, (size_t)c * n, sp == 1);
                    if (sp >= 2) /* plane 0 all -Inf or all zeros of both signs */
                        for (j = 0; j < n; j++)
                            x[j] = sp == 2 ? -INFINITY : (j * 7 % 3 ? -0.0f : 0.0f);
                    out[0][c] = out[1][c] = out[2][c] = out[3][c] = 7.0f;
                    rvt_nn_plane_mean(x, c, n, out[0]);
                    kt->plane_mean(x, c, n, out[1]);
                    rvt_nn_plane_max(x, c, n, out[2]);
                    kt->plane_max(x, c, n, out[3]);
                    cases++;
                    if (!same_bits_nan(out[0], out[1], c + 1) ||
                        !same_bits_nan(out[2], out[3], c + 1)) {
                        if (!bad)
                            printf("# plane stats %s c %d n %zu case %d differ\n", rvt_isa_name(kt->isa),
                                 c, n, sp);
                        bad++;
                    }
                    free(x);
                }
        OK(!bad, "plane_mean, plane_max %s == portable, bit for bit: %d of %d cases differ",
           rvt_isa_name(kt->isa), bad, cases);
    }
}

/* Timings of the depthwise kernels: every depthwise layer of EfficientNet-B0 at 224x224.
 * Not a test (it checks nothing): `test_nn time`, run by scripts/bench-kernels. */
static void time_dwconv(void)
{
    static const int layers[][5] = {/* channels, h, k, stride, count */
                                    {32, 112, 3, 1, 1}, {96, 112, 3, 2, 1}, {144, 56, 3, 1, 1},
                                    {144, 56, 5, 2, 1}, {240, 28, 5, 1, 1}, {240, 28, 3, 2, 1},
                                    {480, 14, 3, 1, 2}, {480, 14, 5, 1, 1}, {672, 14, 5, 1, 2},
                                    {672, 14, 5, 2, 1}, {1152, 7, 5, 1, 3}, {1152, 7, 3, 1, 1}};
    float *x = malloc(112 * 112 * sizeof(float)), *y = malloc(112 * 112 * sizeof(float));
    float *scr = malloc(rvt_nn_dwconv_scratch(112, 112, 2) * sizeof(float)), wt[25];
    int isa, i, l, rep, reps = 3;

    for (i = 0; i < 112 * 112; i++)
        x[i] = frand();
    for (i = 0; i < 25; i++)
        wt[i] = frand();
    for (isa = RVT_ISA_REF; isa <= RVT_ISA_AVX512; isa++) {
        const struct rvt_nn_kernels *kt = rvt_nn_kernels_for((enum rvt_isa)isa);
        double t0, macs = 0;
        if (!kt)
            continue;
        t0 = cpu_s();
        for (rep = 0; rep < reps; rep++)
            for (l = 0; l < (int)RVT_ARRAY_SIZE(layers); l++) {
                int c = layers[l][0] * layers[l][4], h = layers[l][1], k = layers[l][2];
                int s = layers[l][3], o = rvt_nn_out_size(h, k, s, k / 2);
                for (i = 0; i < c; i++)
                    kt->dwconv(x, h, h, wt, k, s, k / 2, 0.1f, getenv("ACTNONE") ? RVT_NN_ACT_NONE : RVT_NN_ACT_SILU, y, o, o, scr);
                macs += (double)c * k * k * o * o;
            }
        t0 = (cpu_s() - t0) / reps;
        printf("# dwconv %s, every depthwise layer of EfficientNet-B0 + SiLU: %.2f ms (cpu) an image, %.1f GMAC/s\n",
               rvt_isa_name(kt->isa), t0 * 1e3, macs / reps / t0 * 1e-9);
        if (kt->dwconv_cl) {
            /* the channels-last path: pad + bias + SiLU of the input, then the conv */
            size_t big = (size_t)116 * 116 * 96;
            float *cx = calloc(big, sizeof(float)), *cp = calloc(big, sizeof(float));
            float *cy = calloc(big, sizeof(float)), *cw = calloc(25 * 1152, sizeof(float));
            float *cb = calloc(1152, sizeof(float));
            float *cs = calloc((size_t)112 * 1152, sizeof(float)); /* row sums */
            for (i = 0; i < 25 * 1152; i++)
                cw[i] = 0.01f * frand();
            t0 = cpu_s();
            for (rep = 0; rep < reps; rep++)
                for (l = 0; l < (int)RVT_ARRAY_SIZE(layers); l++) {
                    int c = layers[l][0], h = layers[l][1], k = layers[l][2], s = layers[l][3];
                    int o = rvt_nn_out_size(h, k, s, k / 2), n;
                    for (n = 0; n < layers[l][4]; n++) {
                        kt->pad_act_cl(cx, h, h, c, 0, c, k / 2, cb, RVT_NN_ACT_SILU, cp);
                        kt->dwconv_cl(cp, h + k - 1, h + k - 1, c, 0, c, cw, k, s, cb, RVT_NN_ACT_SILU, cy, o,
                                      o, cs);
                    }
                }
            t0 = (cpu_s() - t0) / reps;
            printf("# dwconv %s channels-last (incl. pad + SiLU of the input): %.2f ms (cpu) an image, %.1f GMAC/s\n",
                   rvt_isa_name(kt->isa), t0 * 1e3, macs / reps / t0 * 1e-9);
            free(cx), free(cp), free(cy), free(cw), free(cb), free(cs);
        }
    }
    free(x), free(y), free(scr);
}

static int run_bench(char **argv)
{
    struct rvt_error err = {0};
    struct rvt_model *m = NULL;
    struct rvt_nn_session *s = NULL;
    const struct rvt_model_info *info;
    size_t n = (size_t)atoi(argv[3]), reps = (size_t)atoi(argv[4]), i, fsz, msz;
    uint8_t *frames = NULL;
    float *mel = NULL, *logits = NULL;
    double t0, c0, wall, cpu;
    int ret = 1;

    if (rvt_model_load(&m, argv[2], &err) < 0 || rvt_nn_session_new(&s, m, n, &err) < 0) {
        fprintf(stderr, "test_nn: %s\n", err.msg);
        goto done;
    }
    info = rvt_model_get_info(m);
    fsz = (size_t)info->image_h * info->image_w * 3;
    msz = (size_t)info->n_mels * info->n_frames;
    frames = malloc(n * fsz);
    mel = malloc(n * msz * sizeof(float));
    logits = malloc(n * info->n_classes * sizeof(float));
    if (!frames || !mel || !logits)
        goto done;
    for (i = 0; i < n * fsz; i++)
        frames[i] = (uint8_t)(128 + 127 * frand());
    for (i = 0; i < n * msz; i++)
        mel[i] = -40 + 20 * frand();
    rvt_model_forward(s, 1, frames, mel, logits); /* warm up */
    t0 = now_s();
    c0 = cpu_s();
    for (i = 0; i < reps; i++)
        rvt_model_forward(s, n, frames, mel, logits);
    wall = (now_s() - t0) / (double)(n * reps);
    cpu = (cpu_s() - c0) / (double)(n * reps);
    printf("%.3f ms/clip wall, %.3f ms/clip cpu, %.1f GFLOP/s (cpu), kernels %s\n", wall * 1e3,
           cpu * 1e3, 2 * rvt_model_macs(m) / cpu * 1e-9, rvt_isa_name(rvt_nn_kernels()->isa));
    ret = 0;
done:
    free(frames);
    free(mel);
    free(logits);
    rvt_nn_session_free(&s);
    rvt_model_free(&m);
    return ret;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/*
 * Single-clip latency (scripts/bench-kernels): one session of 1 thread and one of
 * `threads`, forwarding the first clip of frames.npy / mel.npy (uint8 [n][h][w][3],
 * float32 [n][mels][frames]: real-looking inputs, as random noise makes denormals) one
 * clip at a time, interleaved in `rounds` rounds of 8 clips; prints each one's median
 * and best wall ms per clip and their ratios (on a shared host the two threads' wall
 * time suffers most from the other tenants: the best rounds show the code), the CPU
 * time of one thread against the team's
 * critical path (nn/team.h profile: what a loaded machine's wall time cannot show),
 * and checks that both give the same bits.
 *   test_nn latency model.h5 frames.npy mel.npy rounds threads
 */
static int run_latency(char **argv)
{
    struct rvt_error err = {0};
    struct rvt_model *m = NULL;
    struct rvt_nn_session *s[2] = {NULL, NULL};
    const struct rvt_model_info *info;
    int rounds = atoi(argv[5]), threads = atoi(argv[6]), r, k, j, ret = 1;
    struct npy fr, mel;
    float *logits[2] = {NULL, NULL};
    double *t[2] = {NULL, NULL}, med[2], cpu1 = 0, crit = 0, cpun = 0;

    memset(&fr, 0, sizeof(fr));
    memset(&mel, 0, sizeof(mel));
    rvt_blas_set_threads(1); /* the team owns the cores, as in run-model */
    if (rounds < 1 || rvt_model_load(&m, argv[2], &err) < 0 ||
        rvt_nn_session_new(&s[0], m, 1, &err) < 0 || rvt_nn_session_new(&s[1], m, 1, &err) < 0 ||
        rvt_nn_session_set_threads(s[1], threads, &err) < 0) {
        fprintf(stderr, "test_nn: %s\n", err.msg);
        goto done;
    }
    info = rvt_model_get_info(m);
    if (npy_read(argv[3], &fr) < 0 || !fr.u8 || npy_read(argv[4], &mel) < 0 || mel.u8 ||
        fr.rank != 4 || mel.rank != 3 || fr.dims[1] != info->image_h ||
        fr.dims[2] != info->image_w || mel.dims[1] != info->n_mels || mel.dims[2] != info->n_frames) {
        fprintf(stderr, "test_nn: bad inputs\n");
        goto done;
    }
    logits[0] = malloc(info->n_classes * sizeof(float));
    logits[1] = malloc(info->n_classes * sizeof(float));
    t[0] = malloc((size_t)rounds * sizeof(double));
    t[1] = malloc((size_t)rounds * sizeof(double));
    if (!logits[0] || !logits[1] || !t[0] || !t[1])
        goto done;
    for (k = 0; k < 2; k++)
        rvt_model_forward(s[k], 1, fr.data, mel.data, logits[k]); /* warm up */
    if (rvt_nn_session_team(s[1]))
        rvt_nn_team_profile(rvt_nn_session_team(s[1]), true);
    for (r = 0; r < rounds; r++)
        for (k = 0; k < 2; k++) {
            double t0 = now_s(), c0 = thread_cpu_s();
            for (j = 0; j < 8; j++)
                rvt_model_forward(s[k], 1, fr.data, mel.data, logits[k]);
            t[k][r] = (now_s() - t0) / 8;
            if (k == 0)
                cpu1 += thread_cpu_s() - c0;
        }
    for (k = 0; k < 2; k++) {
        qsort(t[k], (size_t)rounds, sizeof(double), cmp_double);
        med[k] = t[k][rounds / 2];
    }
    if (rvt_nn_session_team(s[1]))
        rvt_nn_team_profile_get(rvt_nn_session_team(s[1]), &crit, &cpun);
    else
        crit = cpun = cpu1;
    cpu1 /= 8.0 * rounds;
    crit /= 8.0 * rounds;
    cpun /= 8.0 * rounds;
    printf("single clip, %s, wall (median): 1 thread %.3f ms, %d threads %.3f ms (%.2fx); best: "
           "%.3f ms, %.3f ms (%.2fx); cpu: 1 thread %.3f ms, %d threads %.3f ms, critical path "
           "%.3f ms (%.2fx); same bits: %s\n",
           info->format, med[0] * 1e3, threads, med[1] * 1e3, med[1] / med[0], t[0][0] * 1e3,
           t[1][0] * 1e3, t[1][0] / t[0][0], cpu1 * 1e3, threads, cpun * 1e3, crit * 1e3,
           crit / cpu1,
           memcmp(logits[0], logits[1], info->n_classes * sizeof(float)) ? "NO" : "yes");
    ret = memcmp(logits[0], logits[1], info->n_classes * sizeof(float)) ? 1 : 0;
done:
    free(fr.data);
    free(mel.data);
    for (k = 0; k < 2; k++) {
        free(logits[k]);
        free(t[k]);
        rvt_nn_session_free(&s[k]);
    }
    rvt_model_free(&m);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "bench"))
        return run_bench(argv);
    if (argc == 7 && !strcmp(argv[1], "latency"))
        return run_latency(argv);
    if (argc == 2 && !strcmp(argv[1], "time")) { /* scripts/bench-kernels: timings only, no checks */
        time_dwconv();
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "model") && argc == 6)
        return run_model(argc, argv);
    if (argc >= 3)
        return run_op(argc, argv);
    printf("# kernels: %s\n", rvt_isa_name(rvt_nn_kernels()->isa));
    test_dwconv();
    test_cl();
    test_cl_chain();
    test_bias_act();
    test_conv_dense();
    test_dense_i8();
    test_pools();
    test_plane_conv_pool();
    test_plane_stats();
    return tap_done();
}
