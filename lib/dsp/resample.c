#include "core/common.h"

#include <math.h>
#include <soxr.h>
#include <string.h>

#include "dsp/resample.h"

int rvt_resample_recipe(const char *res_type, unsigned long *recipe)
{
    static const struct {
        const char *name;
        unsigned long recipe;
    } names[] = {
        {"soxr_vhq", SOXR_VHQ}, {"soxr_hq", SOXR_HQ}, {"soxr_mq", SOXR_MQ},
        {"soxr_lq", SOXR_LQ},   {"soxr_qq", SOXR_QQ},
    };
    size_t i;
    for (i = 0; i < RVT_ARRAY_SIZE(names); i++)
        if (!strcmp(res_type, names[i].name)) {
            *recipe = names[i].recipe;
            return 0;
        }
    return -1;
}

size_t rvt_resample_length(size_t n, double sr_in, double sr_out)
{
    double ratio;
    if (sr_in == sr_out)
        return n;
    /* librosa: ratio = float(target_sr) / orig_sr; int(np.ceil(n * ratio)) */
    ratio = sr_out / sr_in;
    return (size_t)ceil((double)n * ratio);
}

size_t rvt_resample_capacity(size_t n, double sr_in, double sr_out)
{
    size_t len = rvt_resample_length(n, sr_in, sr_out), olen;
    if (sr_in == sr_out)
        return n;
    /* python-soxr: const size_t olen = ilen * out_rate / in_rate + 1; */
    olen = (size_t)((double)n * sr_out / sr_in + 1);
    return RVT_MAX(len, olen);
}

int rvt_resample(const float *in, size_t n, double sr_in, double sr_out, unsigned long recipe,
                 float *out, size_t out_cap, size_t *n_out, struct rvt_error *err)
{
    soxr_t soxr = NULL;
    soxr_error_t serr = NULL;
    soxr_io_spec_t io;
    soxr_quality_spec_t q;
    size_t len, olen, div_len, idx, out_pos = 0, odone = 0;
    int ret = 0;

    *n_out = 0;
    if (!(sr_in > 0) || !(sr_out > 0))
        return rvt_error_set(err, RVT_EINVAL, "bad sample rates %g -> %g", sr_in, sr_out);
    len = rvt_resample_length(n, sr_in, sr_out);
    if (out_cap < rvt_resample_capacity(n, sr_in, sr_out))
        return rvt_error_set(err, RVT_EINVAL, "resample buffer too small");
    if (sr_in == sr_out) {
        memcpy(out, in, n * sizeof(float));
        *n_out = n;
        return 0;
    }

    olen = (size_t)((double)n * sr_out / sr_in + 1);
    div_len = (size_t)fmax(1000., 48000 * sr_in / sr_out);
    io = soxr_io_spec(SOXR_FLOAT32_S, SOXR_FLOAT32_S);
    q = soxr_quality_spec(recipe, 0);
    soxr = soxr_create(sr_in, sr_out, 1, &serr, &io, &q, NULL);
    if (serr) {
        ret = rvt_error_set(err, RVT_EIO, "libsoxr: %s", serr);
        goto done;
    }
    for (idx = 0; idx < n; idx += div_len) {
        const float *ip[1] = {in + idx};
        float *op[1] = {out + out_pos};
        serr = soxr_process(soxr, ip, RVT_MIN(div_len, n - idx), NULL, op, olen - out_pos, &odone);
        if (serr) {
            ret = rvt_error_set(err, RVT_EIO, "libsoxr: %s", serr);
            goto done;
        }
        out_pos += odone;
    }
    {
        float *op[1] = {out + out_pos};
        serr = soxr_process(soxr, NULL, 0, NULL, op, olen - out_pos, &odone);
        if (serr) {
            ret = rvt_error_set(err, RVT_EIO, "libsoxr: %s", serr);
            goto done;
        }
        out_pos += odone;
    }
    /* librosa.util.fix_length: zero-pad or trim to len */
    if (out_pos < len)
        memset(out + out_pos, 0, (len - out_pos) * sizeof(float));
    *n_out = len;
done:
    soxr_delete(soxr);
    return ret;
}
