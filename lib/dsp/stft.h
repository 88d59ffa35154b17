/*
 * stft.h: power spectrogram frames, |librosa.stft(y, n_fft, hop, window='hann',
 * center=True, pad_mode='constant')| ** 2, one frame at a time, on FFmpeg's av_tx.
 *
 * ref: librosa 0.10.2 core/spectrum.py stft and _spectrogram (power=2).  What the
 * numbers go through there, and here:
 *   - frame t covers samples [t * hop - n_fft / 2, t * hop + n_fft / 2) of y,
 *     zeros outside y (center=True, constant padding); 1 + n // hop frames;
 *   - the float64 window (scipy get_window) times the float32 frame, in double;
 *   - numpy.fft.rfft in double (pocketfft), stored as complex64;
 *   - np.abs of complex64, which NumPy (AVX-512 build, as the librosa reference
 *     outputs were made) computes as larger * sqrt(fma(r, r, 1)), r = smaller /
 *     larger, in float32; then ** 2.0, a float32 square.
 * RVT_FFT_DOUBLE (the default) follows that to the last step: the power matches
 * librosa's to float32 rounding in every bin, the quietest included.
 * RVT_FFT_FLOAT runs av_tx's float RDFT on the window-times-frame rounded to
 * float32: about twice as fast, but its rounding error is relative to the
 * frame's loudest bin, so quiet bins drift (measured up to 2e-4 dB after mel
 * and dB on the librosa reference clips, against 8e-6 dB for double).
 *
 *   struct rvt_stft s;
 *   rvt_stft_init(&s, 2048, RVT_FFT_DOUBLE, &err);
 *   for (t = 0; t < rvt_stft_n_frames(n, hop); t++)
 *       rvt_stft_power_frame(&s, window, y, n, (int64_t)t * hop - 1024, power);
 *   rvt_stft_release(&s);
 *
 * Thread rule: a struct rvt_stft holds the transform's scratch; one per thread.
 */
#ifndef RVT_DSP_STFT_H
#define RVT_DSP_STFT_H

#include "core/common.h"

#include "core/cpu.h"

enum rvt_fft_precision {
    RVT_FFT_DOUBLE = 0, /* AV_TX_DOUBLE_RDFT: librosa's arithmetic */
    RVT_FFT_FLOAT = 1,  /* AV_TX_FLOAT_RDFT: faster, quiet bins less exact */
};

/*
 * Frame kernels around the FFT, portable C (_ref) and AVX2; every level gives
 * bit-identical results (each step is one IEEE-rounded operation in both).
 * rvt_stft_kernels() is the table for the level rvt_cpu_isa() allows (RVT_ISA=ref
 * forces _ref), rvt_stft_kernels_for(isa) one level's or NULL (tests); the tables
 * are constant.  rvt_stft_init takes rvt_stft_kernels().
 */
struct rvt_stft_kernels {
    enum rvt_isa isa;
    /* dst[k] = w[k] * (double)y[k], k < n */
    void (*window_f64)(double *dst, const double *w, const float *y, int n);
    /* dst[k] = (float)(w[k] * (double)y[k]) */
    void (*window_f32)(float *dst, const double *w, const float *y, int n);
    /* power[b] = rvt_cabs2f_numpy((float)c[2b], (float)c[2b + 1]), b < n */
    void (*cpow_f64)(float *power, const double *c, int n);
    void (*cpow_f32)(float *power, const float *c, int n);
};

const struct rvt_stft_kernels *rvt_stft_kernels(void);
const struct rvt_stft_kernels *rvt_stft_kernels_for(enum rvt_isa isa);

struct rvt_stft {
    int n_fft, n_bins;             /* n_bins = n_fft / 2 + 1 */
    enum rvt_fft_precision precision;
    void *tx;                      /* AVTXContext *, owned */
    void *fn;                      /* av_tx_fn */
    void *in, *out;                /* av_malloc'd transform buffers, owned */
    const struct rvt_stft_kernels *k; /* rvt_stft_kernels() */
};

/* n_fft: even, 16 .. 65536.  RVT_EINVAL / RVT_ENOMEM / RVT_EUNSUPPORTED (av_tx). */
int rvt_stft_init(struct rvt_stft *s, int n_fft, enum rvt_fft_precision precision,
                  struct rvt_error *err);
void rvt_stft_release(struct rvt_stft *s);

/* Frames of a centered STFT of n samples: 1 + n / hop. */
size_t rvt_stft_n_frames(size_t n, int hop);

/*
 * Power spectrum of one frame: the window (n_fft doubles) times y[start ..
 * start + n_fft) with zeros outside [0, n), into power[0 .. n_bins).
 */
void rvt_stft_power_frame(struct rvt_stft *s, const double *window, const float *y, size_t n,
                          int64_t start, float *power);

/* |z| ** 2 for complex64 z = (re, im) exactly as NumPy's np.abs(z) ** 2.0. */
float rvt_cabs2f_numpy(float re, float im);

const char *rvt_fft_precision_name(enum rvt_fft_precision p);

int rvt_fft_precision_parse(const char *s, enum rvt_fft_precision *p);

#endif
