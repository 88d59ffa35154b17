/*
 * Unit tests for lib/dsp and lib/media/audio: the window and mel filterbank
 * against librosa's own (RVT_SHARED/librosa-ref, max relative difference 1e-6),
 * the STFT frame against a direct DFT, power_to_db, resampling lengths and
 * samples, the decoders, the noise generator, one clip end to end.
 */
#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "core/config.h"
#include "core/log.h"
#include "core/npy.h"
#include "dsp/logmel.h"
#include "dsp/mel.h"
#include "dsp/resample.h"
#include "dsp/stft.h"
#include "media/audio.h"

static char ref_dir[1024];
static char tmpdir[256];

/* ---- .npy reference arrays through core/npy.h, converted to double ---- */

struct npy {
    size_t rows, cols; /* 1-D: rows = 1 */
    double *data;      /* converted to double */
};

static int npy_read(const char *path, struct npy *a)
{
    struct rvt_npy f;
    struct rvt_error e;
    size_t i;
    memset(a, 0, sizeof(*a));
    if (rvt_npy_read(path, &f, &e) < 0)
        return -1;
    if ((f.dtype != RVT_NPY_F4 && f.dtype != RVT_NPY_F8) || f.rank < 1 || f.rank > 2) {
        rvt_npy_release(&f);
        return -1;
    }
    a->rows = f.rank == 2 ? f.shape[0] : 1;
    a->cols = f.shape[f.rank - 1];
    a->data = malloc((f.n ? f.n : 1) * sizeof(double));
    for (i = 0; a->data && i < f.n; i++)
        a->data[i] = f.dtype == RVT_NPY_F8 ? ((const double *)f.data)[i]
                                           : ((const float *)f.data)[i];
    rvt_npy_release(&f);
    return a->data ? 0 : -1;
}

static int ref_npy(const char *name, struct npy *a)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", ref_dir, name);
    return npy_read(path, a);
}

static bool have_ref(void)
{
    return ref_dir[0] != '\0';
}

static void skip(const char *what)
{
    printf("ok %d - # SKIP %s (no RVT_SHARED/librosa-ref)\n", ++tap_n, what);
}

/* ---- window and filterbank ---- */

static void test_window(void)
{
    double w[2048];
    struct npy r;
    double maxrel = 0;
    bool exact = true;
    int k;

    rvt_window_hann_periodic(w, 2048);
    OK(w[0] == 0.0 && w[1024] == 1.0, "hann: w[0] = 0, w[n/2] = 1 (periodic)");
    for (k = 1; k < 1024; k++)
        if (fabs(w[k] - w[2048 - k]) > 1e-15)
            break;
    OK(k == 1024, "hann: symmetric about n/2");
    if (!have_ref()) {
        skip("window vs librosa");
        return;
    }
    OK(ref_npy("window_hann_2048.npy", &r) == 0 && r.cols == 2048, "read window_hann_2048.npy");
    for (k = 0; k < 2048 && r.data; k++) {
        double d = fabs(w[k] - r.data[k]) / (fabs(r.data[k]) > 0 ? fabs(r.data[k]) : 1);
        maxrel = fmax(maxrel, d);
        if ((float)w[k] != (float)r.data[k])
            exact = false;
    }
    OK(maxrel <= 1e-6, "window vs scipy get_window('hann', 2048): max rel diff %.3g <= 1e-6", maxrel);
    OK(exact, "window rounds to the reference's float32 values exactly");
    free(r.data);
}

static void test_mel_scale(void)
{
    OK(fabs(rvt_hz_to_mel_slaney(1000.0) - 15.0) < 1e-12, "hz_to_mel(1000) = 15 (Slaney)");
    OK(fabs(rvt_hz_to_mel_slaney(200.0) - 3.0) < 1e-12, "hz_to_mel(200) = 3 (linear part)");
    OK(fabs(rvt_mel_to_hz_slaney(rvt_hz_to_mel_slaney(6000.0)) - 6000.0) < 1e-9,
       "mel_to_hz inverts hz_to_mel");
}

static void test_filterbank(void)
{
    struct rvt_melbank mb;
    struct rvt_error err = {0};
    struct npy r;
    double maxrel = 0, scale = 0;
    size_t i, n_exact = 0;
    int m, k, n_empty = -1, outside = 0;

    OK(rvt_melbank_init(&mb, 16000, 2048, 64, 0, 0, &n_empty, &err) == 0, "melbank init (%s)",
       err.msg);
    OK(n_empty == 0, "no empty filters at sr 16000, 64 mels");
    for (m = 0; m < mb.n_mels; m++)
        for (k = 0; k < mb.n_bins; k++)
            if (mb.weights[m * mb.n_bins + k] != 0 &&
                (k < mb.start[m] || k >= mb.start[m] + mb.len[m]))
                outside++;
    OK(outside == 0, "band ranges hold every non-zero weight");
    if (!have_ref()) {
        skip("filterbank vs librosa");
    } else {
        OK(ref_npy("melfb_16000_2048_64.npy", &r) == 0 && r.rows == 64 && r.cols == 1025,
           "read melfb_16000_2048_64.npy");
        for (i = 0; i < 64 * 1025 && r.data; i++)
            scale = fmax(scale, fabs(r.data[i]));
        for (i = 0; i < 64 * 1025 && r.data; i++) {
            double d = fabs(mb.weights[i] - r.data[i]);
            /* relative to the weight, or to the largest weight for zeros */
            maxrel = fmax(maxrel, d / (r.data[i] != 0 ? fabs(r.data[i]) : scale));
            n_exact += mb.weights[i] == (float)r.data[i];
        }
        OK(maxrel <= 1e-6, "filterbank vs librosa.filters.mel: max rel diff %.3g <= 1e-6", maxrel);
        OK(n_exact == 64 * 1025, "filterbank: %zu of %d weights bit-identical", n_exact, 64 * 1025);
        free(r.data);
    }
    rvt_melbank_release(&mb);

    /* other shapes: fmax below sr/2 and many mels give empty filters, as librosa warns */
    k = rvt_melbank_init(&mb, 16000, 128, 128, 0, 8000, &n_empty, &err);
    OK(k == 0 && n_empty > 0, "n_fft 128 with 128 mels: %d empty filters reported", n_empty);
    rvt_melbank_release(&mb);
    OK(rvt_melbank_init(&mb, 16000, 2048, 64, 9000, 8000, NULL, &err) == RVT_EINVAL,
       "fmin > fmax refused: %s", err.msg);
}

/* ---- STFT ---- */

static void test_stft(void)
{
    struct rvt_stft s;
    struct rvt_error err = {0};
    enum rvt_fft_precision precs[2] = {RVT_FFT_DOUBLE, RVT_FFT_FLOAT};
    const int nf = 512, nb = nf / 2 + 1;
    double w[512];
    float y[700], pw[257];
    int p, k, b;

    srand(7);
    for (k = 0; k < 700; k++)
        y[k] = (float)((rand() / (double)RAND_MAX) * 2 - 1);
    rvt_window_hann_periodic(w, nf);
    OK(rvt_stft_n_frames(0, 512) == 1 && rvt_stft_n_frames(511, 512) == 1 &&
           rvt_stft_n_frames(512, 512) == 2 && rvt_stft_n_frames(48000, 512) == 94,
       "frames = 1 + n // hop (librosa center=True)");
    for (p = 0; p < 2; p++) {
        /* start = -100: 100 zeros, then y[0..412); checks the padding too */
        const int64_t start = -100;
        double maxerr = 0, maxp = 0;
        OK(rvt_stft_init(&s, nf, precs[p], &err) == 0, "stft init %s (%s)",
           rvt_fft_precision_name(precs[p]), err.msg);
        rvt_stft_power_frame(&s, w, y, 700, start, pw);
        for (b = 0; b < nb; b++) {
            long double re = 0, im = 0;
            for (k = 0; k < nf; k++) {
                int64_t j = start + k;
                long double v = (j >= 0 && j < 700) ? w[k] * (double)y[j] : 0;
                long double a = -2.0L * 3.14159265358979323846264338327950288L * b * k / nf;
                re += v * cosl(a);
                im += v * sinl(a);
            }
            maxp = fmax(maxp, (double)(re * re + im * im));
            maxerr = fmax(maxerr, fabs((double)(re * re + im * im) - pw[b]));
        }
        /* float32 output rounding: 2^-23 of each bin; FFT roundoff: ~1e-7
         * (float) or ~1e-15 (double) of the frame's loudest bin */
        OK(maxerr / maxp < (p == 0 ? 1e-6 : 1e-5), "stft %s vs direct DFT: max err %.3g of peak",
           rvt_fft_precision_name(precs[p]), maxerr / maxp);
        /* a frame entirely past the end is silent */
        rvt_stft_power_frame(&s, w, y, 700, 800, pw);
        for (b = 0; b < nb && pw[b] == 0; b++)
            ;
        OK(b == nb, "frame past the end is all zero (%s)", rvt_fft_precision_name(precs[p]));
        /* Nyquist: alternating signal puts all energy at bin n/2, DC real */
        {
            float alt[512];
            for (k = 0; k < nf; k++)
                alt[k] = k % 2 ? -0.5f : 0.5f;
            rvt_stft_power_frame(&s, w, alt, nf, 0, pw);
            OK(pw[nb - 1] > 1000 * pw[nb / 2] && pw[0] < 1e-6 * pw[nb - 1],
               "alternating signal peaks at the Nyquist bin (%s)", rvt_fft_precision_name(precs[p]));
        }
        rvt_stft_release(&s);
    }
    OK(rvt_stft_init(&s, 1001, RVT_FFT_DOUBLE, &err) == RVT_EINVAL, "odd n_fft refused: %s",
       err.msg);
    OK(rvt_cabs2f_numpy(3.0f, 4.0f) == 25.0f && rvt_cabs2f_numpy(0.0f, 0.0f) == 0.0f &&
           rvt_cabs2f_numpy(-2.0f, 0.0f) == 4.0f,
       "numpy-style |z|^2: (3,4) -> 25, 0 -> 0");
}

/* Every kernel variant against _ref: bit-identical on random and special inputs. */
static void test_stft_kernels(void)
{
    const struct rvt_stft_kernels *ref = rvt_stft_kernels_for(RVT_ISA_REF);
    const struct rvt_stft_kernels *simd = rvt_stft_kernels_for(RVT_ISA_AVX2);
    enum { N = 1031 };
    double *c64 = malloc(2 * N * sizeof(double)), *w = malloc(N * sizeof(double));
    double *d1 = malloc(N * sizeof(double)), *d2 = malloc(N * sizeof(double));
    float *c32 = malloc(2 * N * sizeof(float)), *y = malloc(N * sizeof(float));
    float *p1 = malloc(N * sizeof(float)), *p2 = malloc(N * sizeof(float));
    float *f1 = malloc(N * sizeof(float)), *f2 = malloc(N * sizeof(float));
    int i, n;

    OK(ref && ref->isa == RVT_ISA_REF && rvt_stft_kernels()->isa <= rvt_cpu_isa(),
       "stft dispatch: ref table, best level within rvt_cpu_isa()");
    if (!simd) {
        printf("ok %d - # SKIP no AVX2 (or RVT_ISA below it)\n", ++tap_n);
        goto done;
    }
    srand(11);
    for (i = 0; i < 2 * N; i++) {
        /* magnitudes over 60 decades, exact zeros and ties mixed in */
        double m = pow(10.0, (rand() % 60) - 40) * ((rand() / (double)RAND_MAX) - 0.5);
        c64[i] = i % 17 == 0 ? 0.0 : i % 13 == 0 ? c64[i - 1] : m;
        c32[i] = (float)c64[i];
    }
    for (i = 0; i < N; i++) {
        w[i] = rand() / (double)RAND_MAX;
        y[i] = (float)((rand() / (double)RAND_MAX) - 0.5);
    }
    for (n = N - 8; n <= N; n++) { /* every tail length */
        ref->cpow_f64(p1, c64, n);
        simd->cpow_f64(p2, c64, n);
        if (memcmp(p1, p2, n * sizeof(float)))
            break;
        ref->cpow_f32(p1, c32, n);
        simd->cpow_f32(p2, c32, n);
        if (memcmp(p1, p2, n * sizeof(float)))
            break;
        ref->window_f64(d1, w, y, n);
        simd->window_f64(d2, w, y, n);
        if (memcmp(d1, d2, n * sizeof(double)))
            break;
        ref->window_f32(f1, w, y, n);
        simd->window_f32(f2, w, y, n);
        if (memcmp(f1, f2, n * sizeof(float)))
            break;
    }
    OK(n > N, "avx2 frame kernels are bit-identical to _ref (all tail lengths)");
    {
        const int reps = 2000;
        double t0 = rvt_now(), t1, t2;
        for (i = 0; i < reps; i++)
            ref->cpow_f64(p1, c64, 1025);
        t1 = rvt_now();
        for (i = 0; i < reps; i++)
            simd->cpow_f64(p2, c64, 1025);
        t2 = rvt_now();
        printf("# cpow_f64 1025 bins: ref %.2f us, avx2 %.2f us\n", (t1 - t0) / reps * 1e6,
               (t2 - t1) / reps * 1e6);
    }
done:
    free(c64), free(w), free(d1), free(d2), free(c32), free(y), free(p1), free(p2), free(f1), free(f2);
}

static void test_project_db(void)
{
    struct rvt_melbank mb;
    struct rvt_error err = {0};
    float power[1025], mel[64], x[4];
    int m, k, bad = 0;

    rvt_melbank_init(&mb, 16000, 2048, 64, 0, 0, NULL, &err);
    for (k = 0; k < 1025; k++)
        power[k] = (float)(1.0 + k % 7);
    rvt_mel_project_ref(&mb, power, mel, 1);
    for (m = 0; m < 64; m++) {
        double ref = 0;
        for (k = 0; k < 1025; k++)
            ref += (double)mb.weights[m * 1025 + k] * power[k];
        if (fabs(ref - mel[m]) > 1e-5 * ref)
            bad++;
    }
    OK(bad == 0, "band projection equals the dense product");
    rvt_melbank_release(&mb);

    x[0] = 1.0f, x[1] = 0.0f, x[2] = 100.0f, x[3] = 1e-20f;
    rvt_power_to_db_ref(x, 4, 1e-10, 1.0, -1);
    OK(x[0] == 0.0f && x[1] == -100.0f && x[2] == 20.0f && x[3] == -100.0f,
       "power_to_db: 1 -> 0, 0 -> -100 (amin), 100 -> 20 dB");
    x[0] = 1.0f, x[1] = 0.0f, x[2] = 100.0f, x[3] = 1e-3f;
    rvt_power_to_db_ref(x, 4, 1e-10, 1.0, 80);
    OK(x[1] == -60.0f && x[2] == 20.0f && x[3] == -30.0f, "top_db floors at max - 80");
    x[0] = 10.0f;
    rvt_power_to_db_ref(x, 1, 1e-10, 10.0, 80);
    OK(x[0] == 0.0f, "ref = 10 shifts by -10 dB");
}

/* ---- resampling and decoding ---- */

static void test_resample(void)
{
    struct rvt_error err = {0};
    unsigned long rc;
    size_t n_out = 0, cap, k;
    float *in, *out;
    double peak = 0;

    OK(rvt_resample_length(144000, 48000, 16000) == 48000 &&
           rvt_resample_length(96256, 48000, 16000) == 32086 &&
           rvt_resample_length(88200, 44100, 16000) == 32000 &&
           rvt_resample_length(777, 16000, 16000) == 777,
       "resampled lengths: ceil(n * out / in), n when equal");
    OK(rvt_resample_recipe("soxr_hq", &rc) == 0 && rc == 4 && rvt_resample_recipe("kaiser", &rc) < 0,
       "res_type names");
    in = malloc(48000 * sizeof(float));
    for (k = 0; k < 48000; k++)
        in[k] = (float)(0.5 * sin(2 * M_PI * 1000.0 * k / 48000.0));
    cap = rvt_resample_capacity(48000, 48000, 16000);
    out = malloc(cap * sizeof(float));
    k = (size_t)rvt_resample(in, 48000, 48000, 16000, 4, out, cap, &n_out, &err);
    OK(k == 0 && n_out == 16000, "48 kHz -> 16 kHz: %zu samples (%s)", n_out, err.msg);
    for (k = 1000; k < 15000; k++) {
        double want = 0.5 * sin(2 * M_PI * 1000.0 * k / 16000.0);
        peak = fmax(peak, fabs(out[k] - want));
    }
    OK(peak < 1e-4, "a 1 kHz sine survives (max err %.2g)", peak);
    OK(rvt_resample(in, 48000, 48000, 16000, 4, out, 10, &n_out, &err) == RVT_EINVAL,
       "small output buffer refused");
    free(in);
    free(out);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
}

static void test_audio(void)
{
    struct rvt_audio a;
    struct rvt_error err = {0};
    char path[2048];
    struct npy r;
    size_t k;
    int ret;

    rvt_audio_init(&a);
    snprintf(path, sizeof(path), "%s/missing.wav", tmpdir);
    ret = rvt_audio_load(&a, path, 0, &err);
    OK(ret == RVT_EIO && strstr(err.msg, "missing.wav") && strstr(err.msg, "No such file"),
       "missing file: %s", err.msg);
    snprintf(path, sizeof(path), "%s/empty.wav", tmpdir);
    write_bytes(path, "", 0);
    ret = rvt_audio_load(&a, path, 0, &err);
    OK(ret == RVT_EFORMAT && strstr(err.msg, "empty file"), "empty file: %s", err.msg);
    snprintf(path, sizeof(path), "%s/junk.wav", tmpdir);
    write_bytes(path, "this is not audio at all, just some text bytes\n", 48);
    ret = rvt_audio_load(&a, path, 0, &err);
    OK(ret < 0 && strstr(err.msg, "junk.wav") && strstr(err.msg, "libsndfile"),
       "non-audio bytes: %s", err.msg);

    if (!have_ref()) {
        skip("decoding the reference inputs");
        rvt_audio_release(&a);
        return;
    }
    rvt_error_clear(&err);
    snprintf(path, sizeof(path), "%s/b_44k1_stereo_2s.wav", ref_dir);
    ret = rvt_audio_load(&a, path, 0, &err);
    OK(ret == 0 && a.sr_hz == 44100 && a.channels == 2 && a.n == 88200 &&
           a.decoder == RVT_AUDIO_DECODER_SNDFILE,
       "stereo 44.1 kHz wav: %zu frames, %d ch, %s (%s)", a.n, a.channels, a.format, err.msg);
    snprintf(path, sizeof(path), "%s/g_aac_stereo_2s.mp4", ref_dir);
    ret = rvt_audio_load(&a, path, 0, &err);
    OK(ret == 0 && a.sr_hz == 48000 && a.channels == 2 && a.n == 96256 &&
           a.decoder == RVT_AUDIO_DECODER_FFMPEG,
       "mp4 through FFmpeg as s16: %zu frames at %d Hz (%s)", a.n, a.sr_hz, err.msg);
    ret = rvt_audio_load(&a, path, 1.0, &err);
    OK(ret == RVT_ELIMIT && strstr(err.msg, "too long"), "max_seconds cap: %s", err.msg);

    /* y16k: load + resample bit-exact against librosa.load(sr=16000) */
    snprintf(path, sizeof(path), "%s/a_48k_s16_3s.wav", ref_dir);
    ret = rvt_audio_load(&a, path, 0, &err);
    if (ret == 0 && ref_npy("a_48k_s16_3s.y16k.npy", &r) == 0) {
        size_t cap = rvt_resample_capacity(a.n, a.sr_hz, 16000), n_out = 0, same = 0;
        float *y = malloc(cap * sizeof(float));
        rvt_resample(a.samples, a.n, a.sr_hz, 16000, 4, y, cap, &n_out, &err);
        for (k = 0; k < n_out && k < r.cols; k++)
            same += y[k] == (float)r.data[k];
        OK(n_out == r.cols && same == n_out, "y16k bit-exact vs librosa.load: %zu of %zu", same,
           r.cols);
        free(y);
        free(r.data);
    } else {
        OK(0, "load a_48k_s16_3s (%s)", err.msg);
    }

    /* truncated: cut the 3 s wav to 100000 bytes */
    {
        FILE *f = fopen(path, "rb");
        char *buf = malloc(100000);
        size_t got = fread(buf, 1, 100000, f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/trunc.wav", tmpdir);
        write_bytes(path, buf, got);
        free(buf);
        ret = rvt_audio_load(&a, path, 0, &err);
        OK(ret == RVT_EFORMAT && strstr(err.msg, "truncated"), "truncated wav: %s", err.msg);
    }
    rvt_audio_release(&a);
}

static void test_noise(void)
{
    double *z1 = malloc(100001 * sizeof(double)), *z2 = malloc(100001 * sizeof(double));
    double mean = 0, var = 0;
    size_t i, same = 0;

    rvt_logmel_noise("01-01-01-01-01-01", 0, z1, 100001);
    rvt_logmel_noise("01-01-01-01-01-01", 0, z2, 100001);
    OK(!memcmp(z1, z2, 100001 * sizeof(double)), "noise: same id and seed, same samples");
    rvt_logmel_noise("01-01-01-01-01-01", 0, z2, 7);
    OK(!memcmp(z1, z2, 7 * sizeof(double)), "noise: a prefix does not depend on the length");
    rvt_logmel_noise("01-01-01-01-01-02", 0, z2, 100001);
    for (i = 0; i < 100001; i++)
        same += z1[i] == z2[i];
    OK(same == 0, "noise: another id, other samples");
    rvt_logmel_noise("01-01-01-01-01-01", 1, z2, 100001);
    for (i = same = 0; i < 100001; i++)
        same += z1[i] == z2[i];
    OK(same == 0, "noise: another seed, other samples");
    for (i = 0; i < 100001; i++)
        mean += z1[i];
    mean /= 100001;
    for (i = 0; i < 100001; i++)
        var += (z1[i] - mean) * (z1[i] - mean);
    var /= 100000;
    /* standard error of the mean 1/sqrt(1e5) = 0.003; of the variance ~0.0045 */
    OK(fabs(mean) < 0.015 && fabs(var - 1) < 0.025, "noise: mean %.4f, variance %.4f", mean, var);
    free(z1);
    free(z2);
}

static void test_clip(void)
{
    struct rvt_config *cfg = NULL;
    struct rvt_logmel_params p;
    struct rvt_logmel lm;
    struct rvt_logmel_worker w;
    struct rvt_error err = {0};
    char path[2048];
    struct npy r;
    float *out;
    int32_t frames = 0;
    double maxd = 0;
    size_t i;

    OK(rvt_config_new_default(&cfg, &err) == 0 && rvt_logmel_params_from_config(&p, cfg, &err) == 0,
       "default audio params (%s)", err.msg);
    OK(p.sr_hz == 16000 && p.n_fft == 2048 && p.hop == 512 && p.n_mels == 64 && p.fmax_hz == 8000 &&
           p.top_db == 80 && p.max_len == 300 && p.soxr_recipe == 4,
       "defaults are librosa's (fmax resolved to sr/2)");
    rvt_config_set(cfg, "audio.n_fft", "1001", &err);
    OK(rvt_logmel_params_from_config(&p, cfg, &err) == RVT_EINVAL && strstr(err.msg, "audio.n_fft"),
       "odd n_fft refused: %s", err.msg);
    rvt_config_set(cfg, "audio.n_fft", "2048", &err);
    OK(rvt_config_set(cfg, "audio.res_type", "kaiser_best", &err) == RVT_EINVAL &&
           strstr(err.msg, "audio.res_type"),
       "unknown res_type refused when set: %s", err.msg);
    rvt_config_set(cfg, "audio.res_type", "soxr_hq", &err);
    rvt_logmel_params_from_config(&p, cfg, &err);
    rvt_config_free(&cfg);

    rvt_error_clear(&err);
    OK(rvt_logmel_init(&lm, &p, &err) == 0 && rvt_logmel_worker_init(&w, &lm, &err) == 0,
       "logmel init (%s)", err.msg);
    out = malloc(64 * 300 * sizeof(float));
    if (!have_ref()) {
        skip("one clip vs librosa");
    } else {
        snprintf(path, sizeof(path), "%s/f_48k_s16_fllr_2p5s.wav", ref_dir);
        int r2 = rvt_logmel_file(&lm, &w, path, "f", out, &frames, NULL, &err);
        OK(r2 == 0 && frames == 79, "FLLR wav: %d frames (%s)", frames, err.msg);
        if (ref_npy("f_48k_s16_fllr_2p5s.logmel300.npy", &r) == 0) {
            for (i = 0; i < 64 * 300; i++)
                maxd = fmax(maxd, fabs(out[i] - r.data[i]));
            OK(maxd <= 1e-4, "logmel300 vs librosa: max abs diff %.3g dB", maxd);
            free(r.data);
        }
    }
    {
        /* too short for one frame: 100 samples */
        float tiny[100] = {0};
        OK(rvt_logmel_samples(&lm, &w, tiny, 100, 16000, "tiny.wav", "x", out, &frames, NULL,
                              &err) == RVT_EFORMAT &&
               strstr(err.msg, "too short"),
           "100 samples: %s", err.msg);
    }
    free(out);
    rvt_logmel_worker_release(&w);
    rvt_logmel_release(&lm);
}

int main(void)
{
    const char *shared = getenv("RVT_SHARED");
    char probe[1200];

    if (shared && shared[0]) {
        snprintf(ref_dir, sizeof(ref_dir), "%s/librosa-ref", shared);
        snprintf(probe, sizeof(probe), "%s/manifest.json", ref_dir);
        if (access(probe, R_OK) != 0)
            ref_dir[0] = '\0';
    }
    snprintf(tmpdir, sizeof(tmpdir), "%s/rvt-dsp.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_window();
    test_mel_scale();
    test_filterbank();
    test_stft();
    test_stft_kernels();
    test_project_db();
    test_resample();
    test_audio();
    test_noise();
    test_clip();
    {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmpdir);
    }
    return tap_done();
}
