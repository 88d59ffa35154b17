/* libsndfile decoder: what soundfile.read(dtype='float32') returns. */
#include "core/common.h"

#include <inttypes.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/audio_internal.h"

#define CHUNK_FRAMES 8192
#define MAX_CHANNELS 1024

/*
 * libsndfile clamps a WAV data chunk that runs past the end of the file to what
 * is there and only says so in its log ("data : 288000 (should be 99956)").
 * librosa would quietly load the stump; we call it truncated.  Writers that
 * stream to a pipe leave 0 or 0xFFFFFFFF as the size: those are not truncation.
 */
static bool wav_truncated(SNDFILE *sf, int64_t *declared, int64_t *actual)
{
    char log[8192];
    const char *p = log, *line;
    long long d, s;

    if (sf_command(sf, SFC_GET_LOG_INFO, log, sizeof(log)) <= 0)
        return false;
    while ((line = strstr(p, "data :")) != NULL) {
        p = line + 6;
        if (line != log && line[-1] != '\n')
            continue;
        if (sscanf(p, " %lld (should be %lld)", &d, &s) == 2) {
            if (d == 0 || d == 0xFFFFFFFFLL || d <= s)
                return false;
            *declared = d;
            *actual = s;
            return true;
        }
        return false;
    }
    return false;
}

static void describe(char *buf, size_t n, int format)
{
    SF_FORMAT_INFO major = {0}, sub = {0};
    major.format = format & SF_FORMAT_TYPEMASK;
    sub.format = format & SF_FORMAT_SUBMASK;
    if (sf_command(NULL, SFC_GET_FORMAT_INFO, &major, sizeof(major)) != 0)
        major.extension = "?";
    if (sf_command(NULL, SFC_GET_FORMAT_INFO, &sub, sizeof(sub)) != 0)
        sub.name = "?";
    snprintf(buf, n, "%s %s", major.extension ? major.extension : "?", sub.name ? sub.name : "?");
}

int rvti_audio_load_sndfile(struct rvt_audio *a, const char *path, double max_seconds,
                            bool *not_mine, struct rvt_error *err)
{
    size_t max_frames;
    SF_INFO info;
    SNDFILE *sf = NULL;
    int64_t declared, actual;
    size_t want;
    int ret = 0;

    *not_mine = false;
    memset(&info, 0, sizeof(info));
    sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        /* soundfile raises for every open failure and librosa then tries
         * audioread, whatever the reason */
        *not_mine = true;
        ret = rvt_error_set(err, RVT_EUNSUPPORTED, "%s", sf_strerror(NULL));
        goto done;
    }
    describe(a->format, sizeof(a->format), info.format);
    a->decoder = RVT_AUDIO_DECODER_SNDFILE;
    a->sr_hz = info.samplerate;
    a->channels = info.channels;
    if (info.channels < 1 || info.channels > MAX_CHANNELS) {
        ret = rvt_error_set(err, RVT_EUNSUPPORTED, "'%s': %d channels (at most %d)", path,
                            info.channels, MAX_CHANNELS);
        goto done;
    }
    if (info.samplerate <= 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': bad sample rate %d", path, info.samplerate);
        goto done;
    }
    if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV ||
        (info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAVEX) {
        if (wav_truncated(sf, &declared, &actual)) {
            ret = rvt_error_set(err, RVT_EFORMAT,
                                "'%s': truncated: data chunk declares %" PRId64
                                " bytes, the file holds %" PRId64,
                                path, declared, actual);
            goto done;
        }
    }
    max_frames = rvti_audio_max_frames(max_seconds, info.samplerate);
    if (info.frames > 0 && (uint64_t)info.frames > max_frames) {
        ret = rvt_error_set(err, RVT_ELIMIT, "'%s': too long: %.1f s (limit %g s)", path,
                            (double)info.frames / info.samplerate, max_seconds);
        goto done;
    }
    ret = rvti_audio_scratch(a, (size_t)CHUNK_FRAMES * info.channels * sizeof(float), err);
    if (ret < 0)
        goto done;
    if (info.frames > 0 && info.frames < SF_COUNT_MAX) {
        ret = rvti_audio_reserve(a, (size_t)info.frames, err);
        if (ret < 0)
            goto done;
    }
    for (;;) {
        sf_count_t got = sf_readf_float(sf, a->scratch, CHUNK_FRAMES);
        if (got <= 0)
            break;
        want = (size_t)got;
        if (a->n + want > max_frames) {
            ret = rvt_error_set(err, RVT_ELIMIT, "'%s': too long: more than %g s", path,
                                max_seconds);
            goto done;
        }
        ret = rvti_audio_reserve(a, want, err);
        if (ret < 0)
            goto done;
        rvti_audio_mix_append(a, a->scratch, want, info.channels);
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': read error: %s", path, sf_strerror(sf));
        goto done;
    }
done:
    if (sf)
        sf_close(sf);
    return ret;
}
