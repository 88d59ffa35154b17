#include "core/common.h"

#include <libavutil/error.h>
#include <libavutil/mem.h>
#include <libavutil/tx.h>
#include <math.h>
#include <string.h>

#include "core/cpu.h"
#include "dsp/stft.h"
#include "dsp/stft_internal.h"

const char *rvt_fft_precision_name(enum rvt_fft_precision p)
{
    return p == RVT_FFT_FLOAT ? "float" : "double";
}

int rvt_fft_precision_parse(const char *s, enum rvt_fft_precision *p)
{
    if (!strcmp(s, "double"))
        *p = RVT_FFT_DOUBLE;
    else if (!strcmp(s, "float"))
        *p = RVT_FFT_FLOAT;
    else
        return -1;
    return 0;
}

int rvt_stft_init(struct rvt_stft *s, int n_fft, enum rvt_fft_precision precision,
                  struct rvt_error *err)
{
    AVTXContext *tx = NULL;
    av_tx_fn fn = NULL;
    size_t elem = precision == RVT_FFT_FLOAT ? sizeof(float) : sizeof(double);
    int r;

    memset(s, 0, sizeof(*s));
    if (n_fft < 16 || n_fft > 65536 || n_fft % 2)
        return rvt_error_set(err, RVT_EINVAL, "n_fft %d: want an even size in 16-65536", n_fft);
    s->n_fft = n_fft;
    s->n_bins = n_fft / 2 + 1;
    s->precision = precision;
    if (precision == RVT_FFT_FLOAT) {
        const float scale = 1.0f;
        r = av_tx_init(&tx, &fn, AV_TX_FLOAT_RDFT, 0, n_fft, &scale, 0);
    } else {
        const double scale = 1.0;
        r = av_tx_init(&tx, &fn, AV_TX_DOUBLE_RDFT, 0, n_fft, &scale, 0);
    }
    if (r < 0) {
        char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
        av_strerror(r, buf, sizeof(buf));
        return rvt_error_set(err, RVT_EUNSUPPORTED, "av_tx_init(rdft, %d): %s", n_fft, buf);
    }
    s->tx = tx;
    s->fn = (void *)fn;
    s->k = rvt_stft_kernels();
    /* +1 complex of slack: the float RDFT of FFmpeg 5.1 leaves the Nyquist
     * bin's imaginary part unwritten (we zero it ourselves) */
    s->in = av_mallocz(n_fft * elem + 64);
    s->out = av_mallocz((s->n_bins + 1) * 2 * elem);
    if (!s->in || !s->out) {
        rvt_stft_release(s);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    return 0;
}

void rvt_stft_release(struct rvt_stft *s)
{
    AVTXContext *tx = s->tx;
    av_tx_uninit(&tx);
    av_freep(&s->in);
    av_freep(&s->out);
    memset(s, 0, sizeof(*s));
}

size_t rvt_stft_n_frames(size_t n, int hop)
{
    return 1 + n / (size_t)hop;
}

float rvt_cabs2f_numpy(float re, float im)
{
    /* NumPy 1.24 AVX512F_absolute_CFLOAT: larger * sqrt(fma(r, r, 1)).  The fma
     * is emulated in double: r * r is exact there, the + 1 rounds once more
     * before the float rounding (a double rounding that can differ from a true
     * fma by one ulp in ~2^-29 of the cases, far below anything we test). */
    float x = fabsf(re), y = fabsf(im);
    float big = x > y ? x : y, small = x > y ? y : x, r, m;
    if (big == 0.0f)
        return 0.0f;
    r = small / big;
    m = big * sqrtf((float)((double)r * (double)r + 1.0));
    return m * m;
}

static void window_f64_ref(double *dst, const double *w, const float *y, int n)
{
    int k;
    for (k = 0; k < n; k++)
        dst[k] = w[k] * (double)y[k];
}

static void window_f32_ref(float *dst, const double *w, const float *y, int n)
{
    int k;
    for (k = 0; k < n; k++)
        dst[k] = (float)(w[k] * (double)y[k]);
}

static void cpow_f64_ref(float *power, const double *c, int n)
{
    int b;
    for (b = 0; b < n; b++)
        power[b] = rvt_cabs2f_numpy((float)c[2 * b], (float)c[2 * b + 1]);
}

static void cpow_f32_ref(float *power, const float *c, int n)
{
    int b;
    for (b = 0; b < n; b++)
        power[b] = rvt_cabs2f_numpy(c[2 * b], c[2 * b + 1]);
}

static const struct rvt_stft_kernels kernels_ref = {
    RVT_ISA_REF, window_f64_ref, window_f32_ref, cpow_f64_ref, cpow_f32_ref,
};

const struct rvt_stft_kernels *rvt_stft_kernels_for(enum rvt_isa isa)
{
    if (isa > rvt_cpu_isa())
        return NULL;
    switch (isa) {
    case RVT_ISA_REF: return &kernels_ref;
    case RVT_ISA_AVX2: /* no AVX-512 twin: its level runs the AVX2 kernels */
    case RVT_ISA_AVX512: return &rvti_stft_kernels_avx2;
    }
    return NULL;
}

const struct rvt_stft_kernels *rvt_stft_kernels(void)
{
    const struct rvt_stft_kernels *k = rvt_stft_kernels_for(rvt_cpu_isa());
    return k ? k : &kernels_ref;
}

/* The frame's samples y[start + k] exist for k in [*lo, *hi); zeros elsewhere. */
static void frame_bounds(int64_t start, int nf, size_t n, int *lo, int *hi)
{
    int64_t l = start < 0 ? -start : 0, h = (int64_t)n - start;
    if (l > nf)
        l = nf;
    if (h > nf)
        h = nf;
    if (h < l)
        h = l;
    *lo = (int)l;
    *hi = (int)h;
}

void rvt_stft_power_frame(struct rvt_stft *s, const double *window, const float *y, size_t n,
                          int64_t start, float *power)
{
    const int nf = s->n_fft, nb = s->n_bins;
    av_tx_fn fn = (av_tx_fn)s->fn;
    int lo, hi;

    frame_bounds(start, nf, n, &lo, &hi);
    if (s->precision == RVT_FFT_FLOAT) {
        float *in = s->in, *out = s->out;
        memset(in, 0, lo * sizeof(float));
        s->k->window_f32(in + lo, window + lo, y + start + lo, hi - lo);
        memset(in + hi, 0, (nf - hi) * sizeof(float));
        fn(s->tx, out, in, sizeof(float));
        out[1] = 0.0f;                  /* DC and Nyquist are real */
        out[2 * (nb - 1) + 1] = 0.0f;
        s->k->cpow_f32(power, out, nb);
    } else {
        double *in = s->in, *out = s->out;
        memset(in, 0, lo * sizeof(double));
        s->k->window_f64(in + lo, window + lo, y + start + lo, hi - lo);
        memset(in + hi, 0, (nf - hi) * sizeof(double));
        fn(s->tx, out, in, sizeof(double));
        out[1] = 0.0;
        out[2 * (nb - 1) + 1] = 0.0;
        /* librosa stores the rfft as complex64, then np.abs(.) ** 2 */
        s->k->cpow_f64(power, out, nb);
    }
}
