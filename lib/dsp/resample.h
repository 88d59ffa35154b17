/*
 * resample.h: librosa.resample(y, orig_sr=, target_sr=, res_type='soxr_hq')
 * through libsoxr, driven exactly as python-soxr 0.5 drives it.
 *
 * ref: librosa 0.10.2 core/audio.py resample (soxr branch, then
 *      util.fix_length to ceil(n * target_sr / orig_sr) samples)
 * ref: python-soxr 0.5.0.post1 src/soxr_ext.cpp csoxr_split_ch (a 1-D float32
 *      array is "split channel" memory): soxr_create(in, out, 1) with
 *      soxr_io_spec(SOXR_FLOAT32_S, SOXR_FLOAT32_S), soxr_quality_spec(recipe, 0),
 *      default runtime spec; input fed in chunks of max(1000, 48000 * in / out)
 *      samples into an output buffer of ilen * out / in + 1 samples; then one
 *      soxr_process(NULL, 0) to flush.
 *
 * Equal rates return the input unchanged (librosa does not call soxr then, and
 * does not fix the length either).
 *
 *   size_t cap = rvt_resample_capacity(n, 48000, 16000);  // >= rvt_resample_length
 *   float *out = malloc(cap * sizeof(float));
 *   rvt_resample(y, n, 48000, 16000, SOXR_HQ, out, cap, &n_out, &err);
 */
#ifndef RVT_DSP_RESAMPLE_H
#define RVT_DSP_RESAMPLE_H

#include "core/common.h"

/* librosa res_type name -> libsoxr recipe: soxr_vhq, soxr_hq, soxr_mq, soxr_lq,
 * soxr_qq.  Returns -1 for other names. */
int rvt_resample_recipe(const char *res_type, unsigned long *recipe);

/* Samples librosa returns: ceil(n * (sr_out / sr_in)), computed in double as
 * librosa does (int(np.ceil(y.shape[-1] * ratio))); n when the rates are equal. */
size_t rvt_resample_length(size_t n, double sr_in, double sr_out);

/* Floats the out buffer must hold (>= rvt_resample_length): python-soxr's
 * output buffer ilen * sr_out / sr_in + 1. */
size_t rvt_resample_capacity(size_t n, double sr_in, double sr_out);

/*
 * Resamples in[0..n) (mono float32) into out; *n_out = rvt_resample_length().
 * Samples past what libsoxr produced are zero (librosa's fix_length pads).
 * Returns 0, or RVT_EINVAL (bad rates, small buffer) / RVT_ENOMEM / RVT_EIO
 * with libsoxr's message.  Thread-safe (no shared state).
 */
int rvt_resample(const float *in, size_t n, double sr_in, double sr_out, unsigned long recipe,
                 float *out, size_t out_cap, size_t *n_out, struct rvt_error *err);

#endif
