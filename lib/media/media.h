/*
 * media.h: what the audio and video readers share.
 *
 * FFmpeg's own stderr logging, for tools that report decode failures
 * themselves (our errors already carry libav*'s reason): quiet below
 * RVT_LOG_DEBUG (-v), warnings at debug.  It sets FFmpeg's process-wide log
 * level: call once from main before any thread starts.
 */
#ifndef RVT_MEDIA_MEDIA_H
#define RVT_MEDIA_MEDIA_H

void rvt_media_set_log_level(int rvt_log_level);

#endif
