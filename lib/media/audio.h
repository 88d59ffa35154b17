/*
 * audio.h: decode an audio file to mono float32 samples at its native rate,
 * the way librosa.load (0.10) reads it before resampling.
 *
 * Two decoders, tried in librosa's order:
 *   1. libsndfile (what the soundfile package wraps): sf_readf_float, so samples
 *      are exactly what soundfile.read(dtype='float32') returns (16-bit PCM is
 *      s / 32768, 24-bit s / 2^23, float WAV as stored).
 *   2. when libsndfile cannot open the file (an mp4, say), FFmpeg, the way
 *      librosa's audioread fallback gets it: `ffmpeg -i FILE -f s16le -`, i.e. the
 *      first audio stream decoded with libavcodec, converted by libswresample to
 *      interleaved signed 16-bit at the stream's own rate and channel count,
 *      then s / 32768 (librosa.util.buf_to_float).
 * Channels are then averaged in float32 as librosa.to_mono (np.mean over the
 * channel axis: sum, then divide by the channel count; mono input is left as is).
 * ref: librosa 0.10.2 core/audio.py load, __soundfile_load, __audioread_load, to_mono
 *
 *   struct rvt_audio a;
 *   rvt_audio_init(&a);
 *   for each file:
 *       if (rvt_audio_load(&a, path, max_seconds, &err) < 0) ... err.msg
 *       use a.samples[0 .. a.n), a.sr_hz
 *   rvt_audio_release(&a);
 *
 * Errors (err.msg names the file): missing/unreadable file (RVT_EIO), empty
 * file, bytes neither decoder recognises, a WAV whose data chunk is shorter
 * than its header says (truncated), no audio stream (RVT_EFORMAT), a codec or
 * sample format neither decoder supports (RVT_EUNSUPPORTED), longer than
 * max_seconds (RVT_ELIMIT), zero frames (RVT_EFORMAT).
 *
 * Ownership and memory: struct rvt_audio owns its buffers and reuses them from
 * one file to the next, so a worker that loads many similar clips does not
 * allocate after the first few.  Thread rule: one struct per thread; distinct
 * structs may load concurrently (libsndfile and libavcodec are reentrant per
 * handle; FFmpeg decoding runs single-threaded, parallelism is across clips).
 */
#ifndef RVT_MEDIA_AUDIO_H
#define RVT_MEDIA_AUDIO_H

#include "core/common.h"

enum rvt_audio_decoder {
    RVT_AUDIO_DECODER_NONE = 0,
    RVT_AUDIO_DECODER_SNDFILE, /* libsndfile, float samples */
    RVT_AUDIO_DECODER_FFMPEG,  /* libavcodec + libswresample to s16, then / 32768 */
};

struct rvt_audio {
    float *samples;       /* owned; mono, n of them, at sr_hz */
    size_t n, cap;        /* cap = allocated floats in samples */
    int sr_hz;            /* native sample rate of the file */
    int channels;         /* channels in the file (before averaging) */
    enum rvt_audio_decoder decoder;
    char format[64];      /* e.g. "wav Signed 16 bit PCM" or "mov,mp4,... aac" */
    long bad_packets;     /* FFmpeg: packets that did not decode and were skipped */
    void *scratch;        /* owned; interleaved read/convert buffer */
    size_t scratch_cap;   /* bytes */
};

void rvt_audio_init(struct rvt_audio *a);
void rvt_audio_release(struct rvt_audio *a);

/*
 * Loads path into a (replacing what it held).  max_seconds caps the duration
 * read: the buffers grow to max_seconds * sr_hz samples and no further (0 = no
 * cap).  On failure a->n == 0 and err says "'path': reason".
 */
int rvt_audio_load(struct rvt_audio *a, const char *path, double max_seconds,
                   struct rvt_error *err);

const char *rvt_audio_decoder_name(enum rvt_audio_decoder d);

#endif
