#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dsp/mel.h"

/* librosa's Slaney constants, as written there (evaluated in double) */
#define F_SP (200.0 / 3)
#define MIN_LOG_HZ 1000.0
#define MIN_LOG_MEL ((MIN_LOG_HZ - 0.0) / F_SP)
#define LOGSTEP (log(6.4) / 27.0)

void rvt_window_hann_periodic(double *w, int n)
{
    /* fac = np.linspace(-pi, pi, n + 1): step = (pi - -pi) / n, fac[i] = i * step + -pi;
     * w = zeros; w += 0.5 * cos(0 * fac); w += 0.5 * cos(1 * fac) */
    const double step = (M_PI - -M_PI) / n;
    int i;
    if (n == 1) {
        w[0] = 1.0; /* _len_guards: np.ones(1) */
        return;
    }
    for (i = 0; i < n; i++) {
        double fac = (double)i * step + -M_PI;
        w[i] = (0.0 + 0.5 * 1.0) + 0.5 * cos(fac);
    }
}

double rvt_hz_to_mel_slaney(double hz)
{
    double mel = (hz - 0.0) / F_SP;
    if (hz >= MIN_LOG_HZ)
        mel = MIN_LOG_MEL + log(hz / MIN_LOG_HZ) / LOGSTEP;
    return mel;
}

double rvt_mel_to_hz_slaney(double mel)
{
    double hz = 0.0 + F_SP * mel;
    if (mel >= MIN_LOG_MEL)
        hz = MIN_LOG_HZ * exp(LOGSTEP * (mel - MIN_LOG_MEL));
    return hz;
}

void rvt_melbank_release(struct rvt_melbank *mb)
{
    free(mb->weights);
    free(mb->start);
    free(mb->len);
    memset(mb, 0, sizeof(*mb));
}

int rvt_melbank_init(struct rvt_melbank *mb, double sr_hz, int n_fft, int n_mels, double fmin_hz,
                     double fmax_hz, int *n_empty, struct rvt_error *err)
{
    double *fftfreqs = NULL, *mel_f = NULL, min_mel, max_mel, step, val;
    int n_bins, n_pts, i, k, empty = 0, ret = 0;

    memset(mb, 0, sizeof(*mb));
    if (fmax_hz <= 0)
        fmax_hz = sr_hz / 2; /* fmax = float(sr) / 2 */
    if (!(sr_hz > 0) || n_fft < 2 || n_mels < 1 || n_mels > 4096 || fmin_hz < 0 ||
        !(fmin_hz < fmax_hz))
        return rvt_error_set(err, RVT_EINVAL,
                             "bad mel filterbank parameters (sr %g, n_fft %d, n_mels %d, fmin %g, fmax %g)",
                             sr_hz, n_fft, n_mels, fmin_hz, fmax_hz);
    n_bins = n_fft / 2 + 1;
    n_pts = n_mels + 2;
    mb->n_mels = n_mels;
    mb->n_bins = n_bins;
    mb->weights = calloc((size_t)n_mels * n_bins, sizeof(float));
    mb->start = calloc(n_mels, sizeof(int));
    mb->len = calloc(n_mels, sizeof(int));
    fftfreqs = malloc(n_bins * sizeof(double));
    mel_f = malloc(n_pts * sizeof(double));
    if (!mb->weights || !mb->start || !mb->len || !fftfreqs || !mel_f) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }

    /* np.fft.rfftfreq(n_fft, d=1.0 / sr): val = 1.0 / (n * d); arange * val */
    val = 1.0 / (n_fft * (1.0 / sr_hz));
    for (k = 0; k < n_bins; k++)
        fftfreqs[k] = (double)k * val;

    /* mel_frequencies(n_mels + 2, fmin, fmax): mel_to_hz(np.linspace(min_mel, max_mel, n)) */
    min_mel = rvt_hz_to_mel_slaney(fmin_hz);
    max_mel = rvt_hz_to_mel_slaney(fmax_hz);
    step = (max_mel - min_mel) / (n_pts - 1);
    for (i = 0; i < n_pts; i++) {
        double mel = i == n_pts - 1 ? max_mel : (double)i * step + min_mel;
        mel_f[i] = rvt_mel_to_hz_slaney(mel);
    }

    for (i = 0; i < n_mels; i++) {
        float *w = mb->weights + (size_t)i * n_bins;
        const double fdiff_lo = mel_f[i + 1] - mel_f[i], fdiff_hi = mel_f[i + 2] - mel_f[i + 1];
        /* enorm = 2.0 / (mel_f[2:n_mels+2] - mel_f[:n_mels]) */
        const double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        int first = -1, last = -1;
        for (k = 0; k < n_bins; k++) {
            /* lower = -ramps[i] / fdiff[i]; upper = ramps[i+2] / fdiff[i+1] */
            double lower = -(mel_f[i] - fftfreqs[k]) / fdiff_lo;
            double upper = (mel_f[i + 2] - fftfreqs[k]) / fdiff_hi;
            double tri = fmax(0.0, fmin(lower, upper));
            /* weights[i] = ... stores float32; then weights *= enorm[:, None]
             * computes float32 * float64 in double and stores float32 again */
            float w32 = (float)tri;
            w[k] = (float)((double)w32 * enorm);
            if (w[k] != 0.0f) {
                if (first < 0)
                    first = k;
                last = k;
            }
        }
        if (first < 0) {
            empty++;
            mb->start[i] = 0;
            mb->len[i] = 0;
        } else {
            mb->start[i] = first;
            mb->len[i] = last - first + 1;
        }
    }
    if (n_empty)
        *n_empty = empty;
done:
    free(fftfreqs);
    free(mel_f);
    if (ret < 0)
        rvt_melbank_release(mb);
    return ret;
}

void rvt_mel_project_ref(const struct rvt_melbank *mb, const float *power, float *mel,
                         size_t stride)
{
    int m, k;
    for (m = 0; m < mb->n_mels; m++) {
        const float *w = mb->weights + (size_t)m * mb->n_bins + mb->start[m];
        const float *p = power + mb->start[m];
        const int len = mb->len[m];
        float acc = 0.0f;
        for (k = 0; k < len; k++)
            acc += w[k] * p[k];
        mel[(size_t)m * stride] = acc;
    }
}

void rvt_power_to_db_ref(float *x, size_t n, double amin, double ref, double top_db)
{
    /* log_spec = 10.0 * np.log10(np.maximum(amin, S)): float32 ops, amin cast to
     * float32; log_spec -= 10.0 * np.log10(np.maximum(amin, ref)) (a float64
     * scalar, applied to the float32 array as float32) */
    const float amin32 = (float)amin;
    const float ref_db = (float)(10.0 * log10(fmax(amin, fabs(ref))));
    float mx = -INFINITY, floor_db;
    size_t i;

    for (i = 0; i < n; i++) {
        float v = x[i] > amin32 ? x[i] : amin32;
        float db = 10.0f * (float)log10((double)v);
        db -= ref_db;
        x[i] = db;
        if (db > mx)
            mx = db;
    }
    if (top_db < 0 || n == 0)
        return;
    /* np.maximum(log_spec, log_spec.max() - top_db) */
    floor_db = (float)((double)mx - top_db);
    for (i = 0; i < n; i++)
        if (x[i] < floor_db)
            x[i] = floor_db;
}
