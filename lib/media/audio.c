#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "media/audio_internal.h"
#include "core/inputs.h"

void rvt_audio_init(struct rvt_audio *a)
{
    memset(a, 0, sizeof(*a));
}

void rvt_audio_release(struct rvt_audio *a)
{
    free(a->samples);
    free(a->scratch);
    rvt_audio_init(a);
}

const char *rvt_audio_decoder_name(enum rvt_audio_decoder d)
{
    switch (d) {
    case RVT_AUDIO_DECODER_SNDFILE: return "libsndfile";
    case RVT_AUDIO_DECODER_FFMPEG: return "ffmpeg";
    case RVT_AUDIO_DECODER_NONE: break;
    }
    return "none";
}

int rvti_audio_reserve(struct rvt_audio *a, size_t n_more, struct rvt_error *err)
{
    size_t want = a->n + n_more, cap;
    float *p;
    if (want <= a->cap)
        return 0;
    /* grow geometrically so a long file costs O(log n) reallocations */
    cap = a->cap ? a->cap : 1 << 16;
    while (cap < want)
        cap = cap > ((size_t)-1) / 4 ? want : cap * 2;
    p = realloc(a->samples, cap * sizeof(float));
    if (!p)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory (%zu samples)", cap);
    a->samples = p;
    a->cap = cap;
    return 0;
}

int rvti_audio_scratch(struct rvt_audio *a, size_t bytes, struct rvt_error *err)
{
    void *p;
    if (bytes <= a->scratch_cap)
        return 0;
    p = realloc(a->scratch, bytes);
    if (!p)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    a->scratch = p;
    a->scratch_cap = bytes;
    return 0;
}

void rvti_audio_mix_append(struct rvt_audio *a, const float *frames, size_t n_frames,
                           int channels)
{
    float *dst = a->samples + a->n;
    size_t i;
    int c;

    assert(a->n + n_frames <= a->cap);
    if (channels == 1) {
        memcpy(dst, frames, n_frames * sizeof(float));
    } else {
        /* np.mean(y, axis=0) on float32: float32 sum, then a float32 divide by
         * the count.  For two channels this is bit-exact; beyond two NumPy's
         * reduction may associate differently (one rounding at most). */
        const float div = (float)channels;
        for (i = 0; i < n_frames; i++) {
            const float *f = frames + i * (size_t)channels;
            float s = f[0];
            for (c = 1; c < channels; c++)
                s += f[c];
            dst[i] = s / div;
        }
    }
    a->n += n_frames;
}

size_t rvti_audio_max_frames(double max_seconds, int sr_hz)
{
    double f = max_seconds * (double)sr_hz;
    if (max_seconds <= 0 || f >= (double)(SIZE_MAX / 8))
        return SIZE_MAX / 8;
    return (size_t)f;
}

int rvt_audio_load(struct rvt_audio *a, const char *path, double max_seconds,
                   struct rvt_error *err)
{
    struct stat st;
    struct rvt_error sf_err = {0}, ff_err = {0};
    bool not_mine = false;
    int ret;

    a->n = 0;
    a->sr_hz = 0;
    a->channels = 0;
    a->decoder = RVT_AUDIO_DECODER_NONE;
    a->format[0] = '\0';
    a->bad_packets = 0;

    if ((ret = rvt_input_check(path, err)) < 0)
        goto done;
    if (stat(path, &st) < 0) {
        ret = rvt_error_set(err, RVT_EIO, "cannot open '%s': %s", path, strerror(errno));
        goto done;
    }
    if (st.st_size == 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': empty file", path);
        goto done;
    }

    ret = rvti_audio_load_sndfile(a, path, max_seconds, &not_mine, &sf_err);
    if (ret < 0 && not_mine) {
        /* librosa: soundfile failed, "trying audioread instead" */
        a->n = 0;
        ret = rvti_audio_load_ffmpeg(a, path, max_seconds, &ff_err);
        if (ret < 0 && ret != RVT_ENOMEM && ret != RVT_ELIMIT && ret != RVT_EIO)
            rvt_error_set(err, ret, "%s (libsndfile: %s)", ff_err.msg, sf_err.msg);
        else if (ret < 0)
            rvt_error_set(err, ret, "%s", ff_err.msg);
    } else if (ret < 0) {
        rvt_error_set(err, ret, "%s", sf_err.msg);
    }
    if (ret < 0)
        goto done;
    if (a->n == 0)
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': no audio samples", path);
done:
    if (ret < 0)
        a->n = 0;
    return ret;
}
