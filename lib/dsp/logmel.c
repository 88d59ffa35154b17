#include "core/common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csvio.h"
#include "core/hash.h"
#include "dsp/logmel.h"
#include "dsp/resample.h"

/* ---- parameters ---- */

static int get_int(const struct rvt_config *cfg, const char *key, long lo, long hi, long *out,
                   struct rvt_error *err)
{
    int r = rvt_config_get_int(cfg, key, out, err);
    if (r < 0)
        return r;
    if (*out < lo || *out > hi)
        return rvt_error_set(err, RVT_EINVAL, "config key '%s': %ld is not in %ld-%ld", key, *out,
                             lo, hi);
    return 0;
}

static int get_dbl(const struct rvt_config *cfg, const char *key, double lo, double hi,
                   double *out, struct rvt_error *err)
{
    int r = rvt_config_get_double(cfg, key, out, err);
    if (r < 0)
        return r;
    if (!(*out >= lo && *out <= hi))
        return rvt_error_set(err, RVT_EINVAL, "config key '%s': %g is not in %g-%g", key, *out, lo,
                             hi);
    return 0;
}

int rvt_logmel_params_from_config(struct rvt_logmel_params *p, const struct rvt_config *cfg,
                                  struct rvt_error *err)
{
    const char *s;
    long v;
    int ret;

    memset(p, 0, sizeof(*p));
    if ((ret = get_int(cfg, "audio.sr", 1000, 768000, &v, err)) < 0)
        return ret;
    p->sr_hz = (int)v;
    if ((ret = get_int(cfg, "audio.n_fft", 16, 65536, &v, err)) < 0)
        return ret;
    if (v % 2)
        return rvt_error_set(err, RVT_EINVAL, "config key 'audio.n_fft': %ld is odd", v);
    p->n_fft = (int)v;
    if ((ret = get_int(cfg, "audio.hop", 1, 65536, &v, err)) < 0)
        return ret;
    p->hop = (int)v;
    if ((ret = get_int(cfg, "audio.n_mels", 1, 1024, &v, err)) < 0)
        return ret;
    p->n_mels = (int)v;
    if ((ret = get_int(cfg, "audio.max_len", 1, 1000000, &v, err)) < 0)
        return ret;
    p->max_len = (int)v;
    if ((long)p->n_mels * p->max_len > (1L << 24))
        return rvt_error_set(err, RVT_EINVAL,
                             "config keys 'audio.n_mels' x 'audio.max_len' = %ld values a clip (at most %ld)",
                             (long)p->n_mels * p->max_len, 1L << 24);
    if ((ret = get_dbl(cfg, "audio.fmin", 0, p->sr_hz / 2.0, &p->fmin_hz, err)) < 0)
        return ret;
    if ((ret = get_dbl(cfg, "audio.fmax", 0, p->sr_hz / 2.0, &p->fmax_hz, err)) < 0)
        return ret;
    if (p->fmax_hz == 0)
        p->fmax_hz = (double)p->sr_hz / 2; /* librosa: fmax = float(sr) / 2 */
    if (!(p->fmin_hz < p->fmax_hz))
        return rvt_error_set(err, RVT_EINVAL, "config keys 'audio.fmin' %g and 'audio.fmax' %g: want fmin < fmax",
                             p->fmin_hz, p->fmax_hz);
    if ((ret = rvt_config_get_str(cfg, "audio.top_db", &s, err)) < 0)
        return ret;
    if (!strcmp(s, "none") || !strcmp(s, "null") || !strcmp(s, "~"))
        p->top_db = -1;
    else if ((ret = get_dbl(cfg, "audio.top_db", 0, 1e6, &p->top_db, err)) < 0)
        return ret;
    if ((ret = get_dbl(cfg, "audio.amin", 1e-30, 1e30, &p->amin, err)) < 0)
        return ret;
    if ((ret = get_dbl(cfg, "audio.ref", 1e-30, 1e30, &p->ref, err)) < 0)
        return ret;
    if ((ret = get_dbl(cfg, "audio.preemphasis", -10, 10, &p->preemphasis, err)) < 0)
        return ret;
    if ((ret = get_dbl(cfg, "audio.noise_level", 0, 1e6, &p->noise_level, err)) < 0)
        return ret;
    if ((ret = rvt_config_get_str(cfg, "audio.noise_seed", &s, err)) < 0)
        return ret;
    {
        char *end;
        unsigned long long u;
        errno = 0;
        u = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-')
            return rvt_error_set(err, RVT_EINVAL,
                                 "config key 'audio.noise_seed': '%s' is not an integer 0-2^64-1", s);
        p->noise_seed = (uint64_t)u;
    }
    if ((ret = rvt_config_get_str(cfg, "audio.res_type", &s, err)) < 0)
        return ret;
    if (rvt_resample_recipe(s, &p->soxr_recipe) < 0 || strlen(s) >= sizeof(p->res_type))
        return rvt_error_set(err, RVT_EINVAL,
                             "config key 'audio.res_type': '%s' is not one of soxr_vhq soxr_hq soxr_mq soxr_lq soxr_qq",
                             s);
    snprintf(p->res_type, sizeof(p->res_type), "%s", s);
    if ((ret = rvt_config_get_str(cfg, "audio.fft", &s, err)) < 0)
        return ret;
    if (rvt_fft_precision_parse(s, &p->fft) < 0)
        return rvt_error_set(err, RVT_EINVAL, "config key 'audio.fft': '%s' is not double or float", s);
    if ((ret = get_int(cfg, "audio.min_samples", 1, 1L << 30, &p->min_samples, err)) < 0)
        return ret;
    if ((ret = get_dbl(cfg, "audio.max_seconds", 0.001, 86400, &p->max_seconds, err)) < 0)
        return ret;
    return 0;
}

int rvt_logmel_params_each(const struct rvt_logmel_params *p, rvt_logmel_attr_fn fn, void *ctx,
                           struct rvt_error *err)
{
    char v[32][64];
    const char *k[32];
    int n = 0, i, ret = 0;

#define PUT_INT(key, x) (k[n] = key, snprintf(v[n], sizeof(v[n]), "%lld", (long long)(x)), n++)
#define PUT_DBL(key, x) (k[n] = key, rvt_format_double(v[n], sizeof(v[n]), (x)), n++)
#define PUT_STR(key, x) (k[n] = key, snprintf(v[n], sizeof(v[n]), "%s", (x)), n++)
    PUT_INT("audio.sr", p->sr_hz);
    PUT_INT("audio.n_fft", p->n_fft);
    PUT_INT("audio.hop", p->hop);
    PUT_INT("audio.n_mels", p->n_mels);
    PUT_DBL("audio.fmin", p->fmin_hz);
    PUT_DBL("audio.fmax", p->fmax_hz);
    if (p->top_db < 0)
        PUT_STR("audio.top_db", "none");
    else
        PUT_DBL("audio.top_db", p->top_db);
    PUT_DBL("audio.amin", p->amin);
    PUT_DBL("audio.ref", p->ref);
    PUT_INT("audio.max_len", p->max_len);
    PUT_DBL("audio.preemphasis", p->preemphasis);
    PUT_DBL("audio.noise_level", p->noise_level);
    k[n] = "audio.noise_seed";
    snprintf(v[n], sizeof(v[n]), "%llu", (unsigned long long)p->noise_seed);
    n++;
    PUT_STR("audio.res_type", p->res_type);
    PUT_STR("audio.fft", rvt_fft_precision_name(p->fft));
    PUT_INT("audio.min_samples", p->min_samples);
    PUT_DBL("audio.max_seconds", p->max_seconds);
    PUT_STR("audio.window", "hann");
    PUT_STR("audio.center", "true");
    PUT_STR("audio.pad_mode", "constant");
    PUT_DBL("audio.power", 2.0);
    PUT_STR("audio.mel_scale", "slaney");
    PUT_STR("audio.mel_norm", "slaney");
#undef PUT_INT
#undef PUT_DBL
#undef PUT_STR
    for (i = 0; i < n && ret >= 0; i++)
        ret = fn(ctx, k[i], v[i], err);
    return ret < 0 ? ret : 0;
}

/* ---- shared state ---- */

int rvt_logmel_init(struct rvt_logmel *lm, const struct rvt_logmel_params *p,
                    struct rvt_error *err)
{
    int ret, n_empty = 0;

    memset(lm, 0, sizeof(*lm));
    lm->p = *p;
    lm->window = malloc((size_t)p->n_fft * sizeof(double));
    if (!lm->window)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    rvt_window_hann_periodic(lm->window, p->n_fft);
    ret = rvt_melbank_init(&lm->bank, p->sr_hz, p->n_fft, p->n_mels, p->fmin_hz, p->fmax_hz,
                           &n_empty, err);
    if (ret < 0) {
        rvt_logmel_release(lm);
        return ret;
    }
    /* NEEDSWORK: librosa only warns about empty filters ("Some channels will
     * produce empty responses"); we accept them too and do not say so. */
    return 0;
}

void rvt_logmel_release(struct rvt_logmel *lm)
{
    free(lm->window);
    rvt_melbank_release(&lm->bank);
    memset(lm, 0, sizeof(*lm));
}

int rvt_logmel_worker_init(struct rvt_logmel_worker *w, const struct rvt_logmel *lm,
                           struct rvt_error *err)
{
    memset(w, 0, sizeof(*w));
    rvt_audio_init(&w->audio);
    return rvt_stft_init(&w->stft, lm->p.n_fft, lm->p.fft, err);
}

void rvt_logmel_worker_release(struct rvt_logmel_worker *w)
{
    rvt_audio_release(&w->audio);
    rvt_stft_release(&w->stft);
    free(w->y);
    free(w->power);
    free(w->mel);
    memset(w, 0, sizeof(*w));
}

/* Grows *buf to hold n floats (reused across clips). */
static int grow(float **buf, size_t *cap, size_t n, struct rvt_error *err)
{
    float *p;
    size_t c;
    if (n <= *cap)
        return 0;
    c = RVT_MAX(n, *cap + *cap / 2);
    p = realloc(*buf, c * sizeof(float));
    if (!p)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory (%zu floats)", c);
    *buf = p;
    *cap = c;
    return 0;
}

/* ---- noise ---- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static void noise_pair(uint64_t key, uint64_t k, double *z0, double *z1)
{
    const double two_m53 = 1.0 / 9007199254740992.0; /* 2^-53 */
    uint64_t a = splitmix64(key + 2 * k), b = splitmix64(key + 2 * k + 1);
    double u1 = (double)((a >> 11) + 1) * two_m53, u2 = (double)(b >> 11) * two_m53;
    double r = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    *z0 = r * cos(th);
    *z1 = r * sin(th);
}

static uint64_t noise_key(const char *id, uint64_t seed)
{
    return rvt_fnv1a64(id ? id : "") ^ splitmix64(seed);
}

void rvt_logmel_noise(const char *id, uint64_t noise_seed, double *z, size_t n)
{
    uint64_t key = noise_key(id, noise_seed);
    size_t i;
    for (i = 0; i < n; i += 2) {
        double z0, z1;
        noise_pair(key, i / 2, &z0, &z1);
        z[i] = z0;
        if (i + 1 < n)
            z[i + 1] = z1;
    }
}

static void add_noise(float *y, size_t n, double level, const char *id, uint64_t seed)
{
    uint64_t key = noise_key(id, seed);
    double amp = 0;
    size_t i;
    for (i = 0; i < n; i++)
        amp = fmax(amp, fabs((double)y[i]));
    amp *= level;
    for (i = 0; i < n; i += 2) {
        double z0, z1;
        noise_pair(key, i / 2, &z0, &z1);
        y[i] = (float)((double)y[i] + amp * z0);
        if (i + 1 < n)
            y[i + 1] = (float)((double)y[i + 1] + amp * z1);
    }
}

static void preemphasize(float *y, size_t n, double coef)
{
    size_t i;
    /* backwards, so y[i - 1] is still the input sample */
    for (i = n; i-- > 1;)
        y[i] = (float)((double)y[i] - coef * (double)y[i - 1]);
}

/* ---- one clip ---- */

int rvt_logmel_samples(const struct rvt_logmel *lm, struct rvt_logmel_worker *w,
                       const float *x, size_t n_in, int sr_in_hz, const char *what, const char *id,
                       float *out, int32_t *n_frames, const struct rvt_logmel_taps *taps,
                       struct rvt_error *err)
{
    const struct rvt_logmel_params *p = &lm->p;
    const int n_bins = p->n_fft / 2 + 1, n_mels = p->n_mels, max_len = p->max_len;
    const bool tap_pow = taps && taps->fn;
    size_t n, cap, T, t, keep;
    int m, ret = 0;

    *n_frames = 0;
    if (n_in == 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': no audio samples", what);
    if (sr_in_hz <= 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': bad sample rate %d", what, sr_in_hz);
    /* schemas/numbers.md: a non-finite sample fails the clip, never becomes a floor */
    for (n = 0; n < n_in; n++)
        if (!isfinite(x[n]))
            return rvt_error_set(err, RVT_EFORMAT, "'%s': audio sample %zu is %s (non-finite)",
                                 what, n, isnan(x[n]) ? "NaN" : "infinite");

    /* librosa.load(sr=...): resample (python-soxr recipe) + fix_length */
    cap = rvt_resample_capacity(n_in, sr_in_hz, p->sr_hz);
    if ((double)cap > p->max_seconds * p->sr_hz + 2 * (double)p->sr_hz)
        return rvt_error_set(err, RVT_ELIMIT, "'%s': too long: %.1f s (limit %g s)", what,
                             (double)n_in / sr_in_hz, p->max_seconds);
    if ((ret = grow(&w->y, &w->y_cap, cap, err)) < 0)
        return ret;
    ret = rvt_resample(x, n_in, sr_in_hz, p->sr_hz, p->soxr_recipe, w->y, w->y_cap, &n, err);
    if (ret < 0)
        return rvt_error_prefix(err, "'%s'", what);
    if (n < (size_t)p->min_samples)
        return rvt_error_set(err, RVT_EFORMAT,
                             "'%s': too short for one frame: %zu samples at %d Hz (audio.min_samples is %ld)",
                             what, n, p->sr_hz, p->min_samples);
    if (tap_pow && (ret = taps->fn(taps->ctx, "y", w->y, 1, n, err)) < 0)
        return ret;

    if (p->noise_level > 0)
        add_noise(w->y, n, p->noise_level, id, p->noise_seed);
    if (p->preemphasis != 0)
        preemphasize(w->y, n, p->preemphasis);

    /* |stft|^2 frame by frame, projected on the filterbank as we go */
    T = rvt_stft_n_frames(n, p->hop);
    if (T > INT32_MAX)
        return rvt_error_set(err, RVT_ELIMIT, "'%s': too many frames", what);
    if ((ret = grow(&w->mel, &w->mel_cap, (size_t)n_mels * T, err)) < 0)
        return ret;
    if ((ret = grow(&w->power, &w->power_cap, (size_t)n_bins * (tap_pow ? T + 1 : 1), err)) < 0)
        return ret;
    for (t = 0; t < T; t++) {
        float *pw = tap_pow ? w->power + (size_t)n_bins * T : w->power;
        rvt_stft_power_frame(&w->stft, lm->window, w->y, n,
                             (int64_t)t * p->hop - p->n_fft / 2, pw);
        rvt_mel_project_ref(&lm->bank, pw, w->mel + t, T);
        if (tap_pow) {
            int b;
            for (b = 0; b < n_bins; b++)
                w->power[(size_t)b * T + t] = pw[b];
        }
    }
    if (tap_pow) {
        if ((ret = taps->fn(taps->ctx, "stftpow", w->power, n_bins, T, err)) < 0)
            return ret;
        if ((ret = taps->fn(taps->ctx, "mel", w->mel, n_mels, T, err)) < 0)
            return ret;
    }

    /* power_to_db over the whole clip (top_db is relative to its loudest bin) */
    rvt_power_to_db_ref(w->mel, (size_t)n_mels * T, p->amin, p->ref, p->top_db);
    if (tap_pow && (ret = taps->fn(taps->ctx, "db", w->mel, n_mels, T, err)) < 0)
        return ret;

    /* pad with 0 / crop to max_len */
    keep = RVT_MIN(T, (size_t)max_len);
    for (m = 0; m < n_mels; m++) {
        float *o = out + (size_t)m * max_len;
        memcpy(o, w->mel + (size_t)m * T, keep * sizeof(float));
        memset(o + keep, 0, (max_len - keep) * sizeof(float));
    }
    *n_frames = (int32_t)T;
    return 0;
}

int rvt_logmel_file(const struct rvt_logmel *lm, struct rvt_logmel_worker *w, const char *path,
                    const char *id, float *out, int32_t *n_frames,
                    const struct rvt_logmel_taps *taps, struct rvt_error *err)
{
    int ret;
    *n_frames = 0;
    ret = rvt_audio_load(&w->audio, path, lm->p.max_seconds, err);
    if (ret < 0)
        return ret;
    return rvt_logmel_samples(lm, w, w->audio.samples, w->audio.n, w->audio.sr_hz, path, id, out,
                              n_frames, taps, err);
}
