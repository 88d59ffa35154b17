/*
 * FFmpeg decoder: librosa's audioread fallback, which runs
 * `ffmpeg -i FILE -f s16le -` and reads interleaved native-rate s16 from the
 * pipe (audioread/ffdec.py FFmpegAudioFile), then librosa.util.buf_to_float
 * divides by 32768.  The CLI converts the decoder's samples to s16 through an
 * auto-inserted aresample filter, i.e. libswresample with its defaults (no
 * dither, no resampling, same layout); we call libswresample the same way.
 *
 * Stream choice: av_find_best_stream (the CLI prefers the audio stream with the
 * most channels; the two agree whenever a file has one audio stream, which is
 * what RAVDESS and its look-alikes have).  Like the CLI we skip packets that do
 * not decode and keep going; a file where nothing decodes is an error.
 */
#include "core/common.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "media/audio_internal.h"

#define MAX_CHANNELS 1024

struct dec {
    struct rvt_audio *a;
    const char *path;
    double max_seconds;
    AVCodecContext *cc;
    SwrContext *swr;
    AVChannelLayout layout; /* of the swr configuration */
    int fmt, sr;
    int64_t bad_packets;
};

static int av_fail(struct rvt_error *err, int code, const char *path, const char *what, int averr)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(averr, buf, sizeof(buf));
    return rvt_error_set(err, code, "'%s': %s: %s", path, what, buf);
}

/* (Re)configures swr for this frame's layout/format: s16 interleaved, same rate and layout. */
static int setup_swr(struct dec *d, const AVFrame *f, struct rvt_error *err)
{
    int r;
    if (d->swr && f->format == d->fmt && f->sample_rate == d->sr &&
        !av_channel_layout_compare(&f->ch_layout, &d->layout))
        return 0;
    if (d->swr && f->sample_rate != d->sr)
        return rvt_error_set(err, RVT_EUNSUPPORTED, "'%s': sample rate changes mid-stream (%d to %d Hz)",
                             d->path, d->sr, f->sample_rate);
    if (d->swr && f->ch_layout.nb_channels != d->layout.nb_channels)
        return rvt_error_set(err, RVT_EUNSUPPORTED, "'%s': channel count changes mid-stream", d->path);
    swr_free(&d->swr);
    av_channel_layout_uninit(&d->layout);
    if (f->ch_layout.nb_channels < 1 || f->ch_layout.nb_channels > MAX_CHANNELS)
        return rvt_error_set(err, RVT_EUNSUPPORTED, "'%s': %d channels", d->path,
                             f->ch_layout.nb_channels);
    if (f->sample_rate <= 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': bad sample rate %d", d->path, f->sample_rate);
    r = av_channel_layout_copy(&d->layout, &f->ch_layout);
    if (r >= 0)
        r = swr_alloc_set_opts2(&d->swr, &d->layout, AV_SAMPLE_FMT_S16, f->sample_rate,
                                &d->layout, f->format, f->sample_rate, 0, NULL);
    if (r >= 0)
        r = swr_init(d->swr);
    if (r < 0)
        return av_fail(err, RVT_EUNSUPPORTED, d->path, "cannot convert to s16", r);
    d->fmt = f->format;
    d->sr = f->sample_rate;
    return 0;
}

static int take_frame(struct dec *d, const AVFrame *f, struct rvt_error *err)
{
    struct rvt_audio *a = d->a;
    int ch = f->ch_layout.nb_channels, got, r;
    size_t bytes, n, i;
    uint8_t *out;
    int16_t *s16;
    float *fl;

    r = setup_swr(d, f, err);
    if (r < 0)
        return r;
    if (f->nb_samples <= 0)
        return 0;
    n = (size_t)f->nb_samples;
    if (a->n + n > rvti_audio_max_frames(d->max_seconds, d->sr))
        return rvt_error_set(err, RVT_ELIMIT, "'%s': too long: more than %g s", d->path,
                             d->max_seconds);
    /* scratch: s16 frames, then the same frames as float */
    bytes = n * ch * (sizeof(int16_t) + sizeof(float));
    r = rvti_audio_scratch(a, bytes, err);
    if (r < 0)
        return r;
    r = rvti_audio_reserve(a, n, err);
    if (r < 0)
        return r;
    s16 = a->scratch;
    fl = (float *)((char *)a->scratch + n * ch * sizeof(int16_t));
    out = (uint8_t *)s16;
    got = swr_convert(d->swr, &out, f->nb_samples, (const uint8_t **)f->extended_data,
                      f->nb_samples);
    if (got < 0)
        return av_fail(err, RVT_EFORMAT, d->path, "cannot convert to s16", got);
    /* buf_to_float: float32(s) * float32(1 / 32768), exact */
    for (i = 0; i < (size_t)got * ch; i++)
        fl[i] = (float)s16[i] * (1.0f / 32768.0f);
    rvti_audio_mix_append(a, fl, (size_t)got, ch);
    return 0;
}

static int drain(struct dec *d, AVFrame *f, struct rvt_error *err)
{
    int r;
    for (;;) {
        r = avcodec_receive_frame(d->cc, f);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return 0;
        if (r < 0) {
            /* the CLI logs decode errors and goes on */
            d->bad_packets++;
            continue;
        }
        r = take_frame(d, f, err);
        av_frame_unref(f);
        if (r < 0)
            return r;
    }
}

int rvti_audio_load_ffmpeg(struct rvt_audio *a, const char *path, double max_seconds,
                           struct rvt_error *err)
{
    AVFormatContext *fmt = NULL;
    AVPacket *pkt = NULL;
    AVFrame *frame = NULL;
    const AVCodec *codec = NULL;
    struct dec d;
    unsigned i;
    int r, si, ret = 0;

    memset(&d, 0, sizeof(d));
    d.a = a;
    d.path = path;
    d.max_seconds = max_seconds;
    d.fmt = -1;

    r = avformat_open_input(&fmt, path, NULL, NULL);
    if (r < 0) {
        ret = av_fail(err, r == AVERROR(ENOENT) || r == AVERROR(EACCES) ? RVT_EIO : RVT_EFORMAT,
                      path, "cannot decode", r);
        goto done;
    }
    /* Containers with a header (mp4, wav) already describe their streams; only
     * probe (which decodes a few frames of every stream) when they do not. */
    si = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (si < 0 || fmt->streams[si]->codecpar->sample_rate <= 0 ||
        fmt->streams[si]->codecpar->ch_layout.nb_channels <= 0) {
        r = avformat_find_stream_info(fmt, NULL);
        if (r < 0) {
            ret = av_fail(err, RVT_EFORMAT, path, "cannot decode", r);
            goto done;
        }
        si = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    }
    if (si < 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': no audio stream", path);
        goto done;
    }
    for (i = 0; i < fmt->nb_streams; i++)
        fmt->streams[i]->discard = (int)i == si ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    codec = avcodec_find_decoder(fmt->streams[si]->codecpar->codec_id);
    if (!codec) {
        ret = rvt_error_set(err, RVT_EUNSUPPORTED, "'%s': unsupported audio codec '%s'", path,
                            avcodec_get_name(fmt->streams[si]->codecpar->codec_id));
        goto done;
    }
    d.cc = avcodec_alloc_context3(codec);
    pkt = av_packet_alloc();
    frame = av_frame_alloc();
    if (!d.cc || !pkt || !frame) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    r = avcodec_parameters_to_context(d.cc, fmt->streams[si]->codecpar);
    if (r >= 0) {
        d.cc->thread_count = 1; /* parallelism is across clips */
        d.cc->pkt_timebase = fmt->streams[si]->time_base;
        r = avcodec_open2(d.cc, codec, NULL);
    }
    if (r < 0) {
        ret = av_fail(err, RVT_EUNSUPPORTED, path, "cannot open decoder", r);
        goto done;
    }
    snprintf(a->format, sizeof(a->format), "%s %s", fmt->iformat->name, codec->name);
    a->decoder = RVT_AUDIO_DECODER_FFMPEG;

    for (;;) {
        r = av_read_frame(fmt, pkt);
        if (r == AVERROR_EOF)
            break;
        if (r < 0) {
            /* a read error mid-file: the CLI stops there and keeps what it has */
            d.bad_packets++;
            break;
        }
        if (pkt->stream_index == si) {
            r = avcodec_send_packet(d.cc, pkt);
            if (r < 0 && r != AVERROR(EAGAIN))
                d.bad_packets++;
            ret = drain(&d, frame, err);
        }
        av_packet_unref(pkt);
        if (ret < 0)
            goto done;
    }
    avcodec_send_packet(d.cc, NULL);
    ret = drain(&d, frame, err);
    if (ret < 0)
        goto done;
    if (!d.swr) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': no audio frame decodes", path);
        goto done;
    }
    a->sr_hz = d.sr;
    a->channels = d.layout.nb_channels;
    a->bad_packets = (long)d.bad_packets;
done:
    swr_free(&d.swr);
    av_channel_layout_uninit(&d.layout);
    avcodec_free_context(&d.cc);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avformat_close_input(&fmt);
    return ret;
}
