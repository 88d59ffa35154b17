#include "core/common.h"

#include <libavutil/error.h>
#include <libavutil/mem.h>
#include <libavutil/tx.h>
#include <math.h>
#include <string.h>

#include "dsp/stft.h"

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
    int b, k, lo, hi;

    frame_bounds(start, nf, n, &lo, &hi);
    if (s->precision == RVT_FFT_FLOAT) {
        float *in = s->in, *out = s->out;
        for (k = 0; k < lo; k++)
            in[k] = 0.0f;
        for (; k < hi; k++)
            in[k] = (float)(window[k] * (double)y[start + k]);
        for (; k < nf; k++)
            in[k] = 0.0f;
        fn(s->tx, out, in, sizeof(float));
        out[1] = 0.0f;                  /* DC and Nyquist are real */
        out[2 * (nb - 1) + 1] = 0.0f;
        for (b = 0; b < nb; b++)
            power[b] = rvt_cabs2f_numpy(out[2 * b], out[2 * b + 1]);
    } else {
        double *in = s->in, *out = s->out;
        for (k = 0; k < lo; k++)
            in[k] = 0.0;
        for (; k < hi; k++)
            in[k] = window[k] * (double)y[start + k];
        for (; k < nf; k++)
            in[k] = 0.0;
        fn(s->tx, out, in, sizeof(double));
        out[1] = 0.0;
        out[2 * (nb - 1) + 1] = 0.0;
        /* librosa stores the rfft as complex64, then np.abs(.) ** 2 */
        for (b = 0; b < nb; b++)
            power[b] = rvt_cabs2f_numpy((float)out[2 * b], (float)out[2 * b + 1]);
    }
}
