/*
 * mel.h: the Hann window, the Slaney mel filterbank, mel projection and
 * power_to_db, each reproducing librosa 0.10 / SciPy step by step (the same
 * float64 operations in the same order, then the same float32 roundings).
 *
 * ref: scipy 1.10 signal/windows/_windows.py get_window('hann', n, fftbins=True)
 *      -> general_cosine(n + 1, [0.5, 0.5]) truncated to n:
 *      w[i] = 0.5 + 0.5 * cos(linspace(-pi, pi, n + 1)[i])
 * ref: librosa 0.10.2 filters.py mel(htk=False, norm='slaney', dtype=float32),
 *      core/convert.py hz_to_mel, mel_to_hz, mel_frequencies, fft_frequencies
 * ref: librosa 0.10.2 feature/spectral.py melspectrogram (einsum "...ft,mf->...mt")
 * ref: librosa 0.10.2 core/spectrum.py power_to_db
 *
 * The filterbank is kept dense (for tests and output attributes) and as bands:
 * filter m is non-zero only on bins [start[m], start[m] + len[m]), so the
 * projection does ~2 multiply-adds per FFT bin instead of n_mels (64x fewer
 * than a GEMM over the zeros; the sum order is the dense sum's minus zeros).
 *
 * Thread rule: a built struct rvt_melbank is read-only and shared by threads.
 */
#ifndef RVT_DSP_MEL_H
#define RVT_DSP_MEL_H

#include "core/common.h"

/* Periodic Hann window of n doubles (SciPy's arithmetic). */
void rvt_window_hann_periodic(double *w, int n);

/* librosa.hz_to_mel / mel_to_hz, Slaney scale (htk=False), scalar versions. */
double rvt_hz_to_mel_slaney(double hz);
double rvt_mel_to_hz_slaney(double mel);

struct rvt_melbank {
    int n_mels, n_bins;
    float *weights;       /* owned, [n_mels][n_bins] float32, librosa.filters.mel */
    int *start, *len;     /* owned, per mel: first non-zero bin and count */
};

/*
 * Builds librosa.filters.mel(sr=sr_hz, n_fft=n_fft, n_mels=n_mels, fmin=fmin_hz,
 * fmax=fmax_hz) (fmax_hz <= 0 means sr / 2).  RVT_EINVAL for bad parameters,
 * RVT_ENOMEM.  An all-zero filter (librosa warns "Empty filters detected") is
 * allowed and reported through *n_empty (may be NULL).
 */
int rvt_melbank_init(struct rvt_melbank *mb, double sr_hz, int n_fft, int n_mels, double fmin_hz,
                     double fmax_hz, int *n_empty, struct rvt_error *err);
void rvt_melbank_release(struct rvt_melbank *mb);

/*
 * One frame: mel[m * stride] = sum_k weights[m][k] * power[k] for every mel
 * band, float32 accumulation in bin order (kernel: no allocation).
 */
void rvt_mel_project_ref(const struct rvt_melbank *mb, const float *power, float *mel,
                         size_t stride);

/*
 * power_to_db in place over x[0..n): 10 * log10(max(amin, x)) - 10 * log10(max(amin,
 * ref)), then (top_db >= 0) floor at max - top_db; float32 results like librosa's.
 * log10 is evaluated in double and rounded to float32.  NumPy's float32 log10
 * (SVML on AVX-512 machines, where the librosa reference was made) is up to 3
 * ulp off the correctly rounded value, so librosa's dB values and ours differ by
 * a few float32 ulps (measured 7.6e-6 dB at most on the reference clips).
 */
void rvt_power_to_db_ref(float *x, size_t n, double amin, double ref, double top_db);

#endif
