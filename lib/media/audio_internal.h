/* audio_internal.h: what the audio decoders of lib/media share (private, rvti_). */
#ifndef RVT_MEDIA_AUDIO_INTERNAL_H
#define RVT_MEDIA_AUDIO_INTERNAL_H

#include "media/audio.h"

/*
 * The two decoders (audio_sndfile.c, audio_ffmpeg.c).  They append
 * mono samples through rvt_audio_reserve/the mixing helper and set sr_hz,
 * channels and format.  rvti_audio_load_sndfile returns RVT_EUNSUPPORTED with
 * *not_mine = true when libsndfile does not recognise the file, so the caller
 * falls back to FFmpeg as librosa falls back to audioread.
 */
int rvti_audio_load_sndfile(struct rvt_audio *a, const char *path, double max_seconds,
                            bool *not_mine, struct rvt_error *err);
int rvti_audio_load_ffmpeg(struct rvt_audio *a, const char *path, double max_seconds,
                           struct rvt_error *err);
/* Frames allowed at sr_hz under max_seconds (0 = unlimited -> SIZE_MAX / 8). */
size_t rvti_audio_max_frames(double max_seconds, int sr_hz);
/* Makes room for n_more mono samples after a->n (grows samples); RVT_ENOMEM. */
int rvti_audio_reserve(struct rvt_audio *a, size_t n_more, struct rvt_error *err);
/* Makes scratch at least bytes long; RVT_ENOMEM. */
int rvti_audio_scratch(struct rvt_audio *a, size_t bytes, struct rvt_error *err);
/*
 * Appends n_frames interleaved frames of `channels` floats as mono samples:
 * left-to-right float32 sum over channels, then / channels (float32), as
 * np.mean over the channel axis; channels == 1 copies.  Room must be reserved.
 */
void rvti_audio_mix_append(struct rvt_audio *a, const float *frames, size_t n_frames,
                           int channels);

#endif
