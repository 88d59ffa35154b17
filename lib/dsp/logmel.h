/*
 * logmel.h: one clip's log-mel features, librosa 0.10 style, end to end:
 *
 *   y, _ = librosa.load(path, sr=sr)                       media/audio.h + dsp/resample.h
 *   y = y + noise_level * max|y| * N(0, 1)                 optional, seeded per clip id
 *   y[n] = y[n] - preemphasis * y[n - 1]                   optional
 *   S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop,
 *                                      n_mels=n_mels, fmin=fmin, fmax=fmax)  dsp/stft.h, dsp/mel.h
 *   db = librosa.power_to_db(S, ref=ref, amin=amin, top_db=top_db)
 *   out = db zero-padded on the right / cropped to max_len frames
 *
 * The noise generator (documented so other tools can reproduce it): key =
 * fnv1a64(clip id) ^ splitmix64(noise_seed); for sample pair k, a =
 * splitmix64(key + 2k), b = splitmix64(key + 2k + 1), u1 = ((a >> 11) + 1) * 2^-53
 * in (0, 1], u2 = (b >> 11) * 2^-53, r = sqrt(-2 ln u1); samples 2k and 2k + 1 get
 * r cos(2 pi u2) and r sin(2 pi u2); y[i] = float32(y[i] + noise_level * max|y| *
 * z[i]) in double.  splitmix64(x): x += 0x9E3779B97F4A7C15; x = (x ^ x >> 30) *
 * 0xBF58476D1CE4E5B9; x = (x ^ x >> 27) * 0x94D049BB133111EB; x ^ x >> 31.
 * Counter-based, so the noise depends only on (id, noise_seed, i), never on -j.
 * Pre-emphasis keeps y[0] and computes the rest in double from the noisy input.
 *
 *   struct rvt_logmel_params p;   rvt_logmel_params_from_config(&p, cfg, &err);
 *   struct rvt_logmel lm;         rvt_logmel_init(&lm, &p, &err);      shared, read-only
 *   struct rvt_logmel_worker w;   rvt_logmel_worker_init(&w, &lm, &err);  one per thread
 *   float out[n_mels * max_len];  int32_t frames;
 *   rvt_logmel_file(&lm, &w, "a.wav", "01-01-01-01-01-01", out, &frames, NULL, &err);
 *   rvt_logmel_worker_release(&w); rvt_logmel_release(&lm);
 *
 * Memory: a worker's buffers grow with the longest clip it has seen, capped by
 * params.max_seconds; they are reused, so memory stays flat over a corpus.
 */
#ifndef RVT_DSP_LOGMEL_H
#define RVT_DSP_LOGMEL_H

#include "core/common.h"
#include "core/config.h"
#include "dsp/mel.h"
#include "dsp/stft.h"
#include "media/audio.h"

struct rvt_logmel_params {
    int sr_hz;                 /* audio.sr: target rate (librosa.load sr=) */
    int n_fft, hop, n_mels;    /* audio.n_fft, audio.hop, audio.n_mels */
    double fmin_hz, fmax_hz;   /* audio.fmin, audio.fmax (0 in config = sr / 2; resolved here) */
    double top_db;             /* audio.top_db; < 0 = none (librosa top_db=None) */
    double amin, ref;          /* audio.amin, audio.ref (power_to_db) */
    int max_len;               /* audio.max_len: output frames */
    double preemphasis;        /* audio.preemphasis: 0 = off */
    double noise_level;        /* audio.noise_level: 0 = off */
    uint64_t noise_seed;       /* audio.noise_seed */
    char res_type[16];         /* audio.res_type: soxr_hq (librosa's default) ... */
    unsigned long soxr_recipe; /* from res_type */
    enum rvt_fft_precision fft; /* audio.fft: double (librosa's arithmetic) | float */
    long min_samples;          /* audio.min_samples: shorter clips (at sr) are refused */
    double max_seconds;        /* audio.max_seconds: longer inputs are refused */
};

/* Reads and validates the audio.* keys (RVT_EINVAL with the key's name). */
int rvt_logmel_params_from_config(struct rvt_logmel_params *p, const struct rvt_config *cfg,
                                  struct rvt_error *err);

/* Calls fn("audio.sr", "16000") ... for every parameter, values as in config
 * (fmax resolved); stops at and returns fn's first negative code. */
typedef int (*rvt_logmel_attr_fn)(void *ctx, const char *key, const char *value,
                                  struct rvt_error *err);
int rvt_logmel_params_each(const struct rvt_logmel_params *p, rvt_logmel_attr_fn fn, void *ctx,
                           struct rvt_error *err);

/* Shared, read-only after init: the window and the filterbank. */
struct rvt_logmel {
    struct rvt_logmel_params p;
    double *window;            /* owned, n_fft: periodic Hann (float64, as SciPy) */
    struct rvt_melbank bank;   /* owned */
};

int rvt_logmel_init(struct rvt_logmel *lm, const struct rvt_logmel_params *p,
                    struct rvt_error *err);
void rvt_logmel_release(struct rvt_logmel *lm);

/* Per-thread scratch. */
struct rvt_logmel_worker {
    struct rvt_audio audio;
    struct rvt_stft stft;
    float *y;                  /* owned: the signal at sr_hz */
    size_t y_cap;
    float *power;              /* owned: n_bins, or n_bins x frames when tapped */
    size_t power_cap;
    float *mel;                /* owned: n_mels x frames */
    size_t mel_cap;
};

int rvt_logmel_worker_init(struct rvt_logmel_worker *w, const struct rvt_logmel *lm,
                           struct rvt_error *err);
void rvt_logmel_worker_release(struct rvt_logmel_worker *w);

/*
 * Stage taps, for debugging and the parity tests: fn gets each stage as a
 * row-major float32 matrix: "y" (1 x n, after resampling, before noise),
 * "stftpow" (n_bins x frames), "mel" (n_mels x frames), "db" (n_mels x frames).
 * fn returning < 0 fails the clip with its error.
 */
struct rvt_logmel_taps {
    int (*fn)(void *ctx, const char *stage, const float *data, size_t rows, size_t cols,
              struct rvt_error *err);
    void *ctx;
};

/*
 * The features of one file: out[n_mels * max_len] (row m = mel band m; frames
 * past the clip are 0) and *n_frames = 1 + n // hop, the clip's frame count
 * before padding or cropping.  id seeds the noise (may be NULL when
 * noise_level is 0).  Errors name the file: unreadable or undecodable input,
 * fewer than min_samples samples at sr ("too short for one frame"), too long.
 */
int rvt_logmel_file(const struct rvt_logmel *lm, struct rvt_logmel_worker *w, const char *path,
                    const char *id, float *out, int32_t *n_frames,
                    const struct rvt_logmel_taps *taps, struct rvt_error *err);

/* Same from samples already decoded (mono float32 at sr_in_hz); `what` names
 * the input in errors. */
int rvt_logmel_samples(const struct rvt_logmel *lm, struct rvt_logmel_worker *w,
                       const float *x, size_t n, int sr_in_hz, const char *what, const char *id,
                       float *out, int32_t *n_frames, const struct rvt_logmel_taps *taps,
                       struct rvt_error *err);

/* The noise generator above, exposed for tests: z[0..n) standard normals. */
void rvt_logmel_noise(const char *id, uint64_t noise_seed, double *z, size_t n);

#endif
