/* video_pick.c: option parsing, frame selection by timestamp and crop geometry
 * (the parts of video.h that touch no FFmpeg state). */
#include "core/common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "media/video.h"

void rvt_frames_opts_init(struct rvt_frames_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->n_frames = 1;
    o->pick.mode = RVT_PICK_MIDDLE;
    o->crop.mode = RVT_CROP_NONE;
    o->out_w = o->out_h = 224;
    o->threads = 1;
}

size_t rvt_frames_bytes(const struct rvt_frames_opts *o)
{
    return (size_t)o->n_frames * (size_t)o->out_h * (size_t)o->out_w * 3;
}

/* Strict finite double; *end must follow. */
static int parse_double(const char *s, char **end, double *out)
{
    errno = 0;
    *out = strtod(s, end);
    return (errno || *end == s || !isfinite(*out)) ? -1 : 0;
}

static int parse_int(const char *s, char **end, long lo, long hi, int *out)
{
    long v;
    errno = 0;
    v = strtol(s, end, 10);
    if (errno || *end == s || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int rvt_pick_parse(struct rvt_pick *p, const char *spec, struct rvt_error *err)
{
    const char *s;
    char *end;

    memset(p, 0, sizeof(*p));
    if (!strcmp(spec, "middle")) {
        p->mode = RVT_PICK_MIDDLE;
        return 0;
    }
    if (!strcmp(spec, "uniform")) {
        p->mode = RVT_PICK_UNIFORM;
        return 0;
    }
    if (!strcmp(spec, "cv-middle")) {
        p->mode = RVT_PICK_CV_MIDDLE;
        return 0;
    }
    if (strncmp(spec, "times=", 6) != 0)
        return rvt_error_set(err, RVT_EINVAL,
                             "bad pick '%s': want middle, uniform, times=t1,t2,... or cv-middle",
                             spec);
    p->mode = RVT_PICK_TIMES;
    s = spec + 6;
    for (;;) {
        double t;
        if (p->n_times >= RVT_FRAMES_MAX)
            return rvt_error_set(err, RVT_EINVAL, "bad pick '%s': more than %d times", spec,
                                 RVT_FRAMES_MAX);
        if (parse_double(s, &end, &t) < 0 || t < 0 || (*end && *end != ','))
            return rvt_error_set(err, RVT_EINVAL,
                                 "bad pick '%s': times are seconds >= 0, comma-separated", spec);
        p->times_s[p->n_times++] = t;
        if (!*end)
            break;
        s = end + 1;
    }
    return 0;
}

static const char *const convert_names[] = {"accurate", "opencv", "pyav", "ffmpeg"};
static const char *const resize_names[] = {"pil", "opencv"};

int rvt_convert_parse(const char *name, enum rvt_convert_mode *m, struct rvt_error *err)
{
    size_t i;
    for (i = 0; i < sizeof(convert_names) / sizeof(*convert_names); i++)
        if (!strcmp(name, convert_names[i])) {
            *m = (enum rvt_convert_mode)i;
            return 0;
        }
    return rvt_error_set(err, RVT_EINVAL,
                         "bad convert '%s': want accurate, opencv, pyav or ffmpeg", name);
}

const char *rvt_convert_name(enum rvt_convert_mode m)
{
    return (unsigned)m < sizeof(convert_names) / sizeof(*convert_names) ? convert_names[m] : "?";
}

int rvt_resize_parse(const char *name, enum rvt_resize_mode *m, struct rvt_error *err)
{
    size_t i;
    for (i = 0; i < sizeof(resize_names) / sizeof(*resize_names); i++)
        if (!strcmp(name, resize_names[i])) {
            *m = (enum rvt_resize_mode)i;
            return 0;
        }
    return rvt_error_set(err, RVT_EINVAL, "bad resize '%s': want pil or opencv", name);
}

const char *rvt_resize_name(enum rvt_resize_mode m)
{
    return (unsigned)m < sizeof(resize_names) / sizeof(*resize_names) ? resize_names[m] : "?";
}

const char *rvt_convert_describe(enum rvt_convert_mode m)
{
    switch (m) {
    case RVT_CONVERT_ACCURATE:
        return "libswscale " RVT_VIDEO_SWS_FLAGS_TEXT ", same size; matrix from the stream's "
               "colorspace (BT.601 when untagged), range from the stream (limited when "
               "untagged), MPEG-2 chroma siting; equals ffmpeg -vf " RVT_VIDEO_CLI_FILTER
               " -pix_fmt rgb24";
    case RVT_CONVERT_OPENCV:
        return "as OpenCV 4.6 cv2.VideoCapture read(): libswscale bicubic to BGR24 at the coded "
               "size, BT.601, range from the pixel format; OpenCV's turn of rotated clips; "
               "stored as RGB";
    case RVT_CONVERT_PYAV:
        return "as PyAV frame.to_ndarray(format=\"rgb24\"): libswscale bilinear, BT.601, range "
               "from the pixel format, no rotation";
    case RVT_CONVERT_FFMPEG:
        return "as the ffmpeg CLI's -pix_fmt rgb24 with default flags: libswscale bicubic, "
               "matrix and range from the stream, autorotate";
    }
    return "?";
}

const char *rvt_resize_describe(enum rvt_resize_mode m)
{
    switch (m) {
    case RVT_RESIZE_PIL:
        return "PIL Image.resize BILINEAR (antialiased), bit-exact integer reimplementation; "
               "crop before resize";
    case RVT_RESIZE_OPENCV:
        return "OpenCV 4.6 cv2.resize INTER_LINEAR (no antialiasing), bit-exact integer "
               "reimplementation; crop before resize";
    }
    return "?";
}

int rvt_crop_parse(struct rvt_crop *c, const char *spec, struct rvt_error *err)
{
    char *end;
    const char *s;
    int v[4], i;

    memset(c, 0, sizeof(*c));
    if (!strcmp(spec, "none")) {
        c->mode = RVT_CROP_NONE;
        return 0;
    }
    if (!strcmp(spec, "center")) {
        c->mode = RVT_CROP_CENTER;
        return 0;
    }
    if (strncmp(spec, "box=", 4) != 0)
        goto bad;
    s = spec + 4;
    for (i = 0; i < 4; i++) {
        if (parse_int(s, &end, i < 2 ? 0 : 1, RVT_VIDEO_MAX_SIZE * 4, &v[i]) < 0)
            goto bad;
        if (i < 3 ? *end != ',' : *end != '\0')
            goto bad;
        s = end + 1;
    }
    c->mode = RVT_CROP_BOX;
    c->x = v[0];
    c->y = v[1];
    c->w = v[2];
    c->h = v[3];
    return 0;
bad:
    return rvt_error_set(err, RVT_EINVAL,
                         "bad crop '%s': want none, center or box=x,y,w,h (w, h > 0)", spec);
}

int rvt_size_parse(const char *spec, int *w, int *h, struct rvt_error *err)
{
    char *end;
    if (parse_int(spec, &end, 1, RVT_VIDEO_MAX_SIZE, w) < 0)
        goto bad;
    if (!*end) {
        *h = *w;
        return 0;
    }
    if (*end != 'x' || parse_int(end + 1, &end, 1, RVT_VIDEO_MAX_SIZE, h) < 0 || *end)
        goto bad;
    return 0;
bad:
    return rvt_error_set(err, RVT_EINVAL, "bad size '%s': want N or WxH, 1 to %d pixels", spec,
                         RVT_VIDEO_MAX_SIZE);
}

int rvt_frames_opts_check(const struct rvt_frames_opts *o, struct rvt_error *err)
{
    if (o->n_frames < 1 || o->n_frames > RVT_FRAMES_MAX)
        return rvt_error_set(err, RVT_EINVAL, "frames must be 1 to %d, got %d", RVT_FRAMES_MAX,
                             o->n_frames);
    if (o->pick.mode == RVT_PICK_TIMES && o->pick.n_times != o->n_frames)
        return rvt_error_set(err, RVT_EINVAL, "pick lists %d times but frames is %d",
                             o->pick.n_times, o->n_frames);
    if (o->out_w < 1 || o->out_h < 1 || o->out_w > RVT_VIDEO_MAX_SIZE ||
        o->out_h > RVT_VIDEO_MAX_SIZE)
        return rvt_error_set(err, RVT_EINVAL, "image size %dx%d is out of range 1-%d", o->out_w,
                             o->out_h, RVT_VIDEO_MAX_SIZE);
    if (o->jpeg_quality < 0 || o->jpeg_quality > 100)
        return rvt_error_set(err, RVT_EINVAL, "jpeg quality must be 0 (off) or 1-100, got %d",
                             o->jpeg_quality);
    if (o->threads < 1 || o->threads > 64)
        return rvt_error_set(err, RVT_EINVAL, "decoder threads must be 1-64, got %d",
                             o->threads);
    return 0;
}

int rvt_frames_opts_from_config(struct rvt_frames_opts *o, const struct rvt_config *cfg,
                                struct rvt_error *err)
{
    const char *pick, *crop, *convert, *resize;
    long k, w, h, q = 0;
    int ret;

    rvt_frames_opts_init(o);
    if ((ret = rvt_config_get_int(cfg, "image.frames", &k, err)) < 0 ||
        (ret = rvt_config_get_int(cfg, "image.width", &w, err)) < 0 ||
        (ret = rvt_config_get_int(cfg, "image.height", &h, err)) < 0 ||
        (ret = rvt_config_get_str(cfg, "image.pick", &pick, err)) < 0 ||
        (ret = rvt_config_get_str(cfg, "image.crop", &crop, err)) < 0 ||
        (ret = rvt_config_get_str(cfg, "image.convert", &convert, err)) < 0 ||
        (ret = rvt_config_get_str(cfg, "image.resize", &resize, err)) < 0)
        return ret;
    /* absent in configs older than the key: off */
    if (rvt_config_get(cfg, "image.jpeg_quality") &&
        (ret = rvt_config_get_int(cfg, "image.jpeg_quality", &q, err)) < 0)
        return ret;
    if (q < 0 || q > 100)
        return rvt_error_set(err, RVT_EINVAL, "image.jpeg_quality must be 0 (off) or 1-100, got %ld",
                             q);
    o->jpeg_quality = (int)q;
    if (k < 1 || k > RVT_FRAMES_MAX)
        return rvt_error_set(err, RVT_EINVAL, "image.frames must be 1 to %d, got %ld",
                             RVT_FRAMES_MAX, k);
    if (w < 1 || h < 1 || w > RVT_VIDEO_MAX_SIZE || h > RVT_VIDEO_MAX_SIZE)
        return rvt_error_set(err, RVT_EINVAL, "image size %ldx%ld is out of range 1-%d", w, h,
                             RVT_VIDEO_MAX_SIZE);
    o->n_frames = (int)k;
    o->out_w = (int)w;
    o->out_h = (int)h;
    if ((ret = rvt_pick_parse(&o->pick, pick, err)) < 0 ||
        (ret = rvt_crop_parse(&o->crop, crop, err)) < 0 ||
        (ret = rvt_convert_parse(convert, &o->convert, err)) < 0 ||
        (ret = rvt_resize_parse(resize, &o->resize, err)) < 0)
        return rvt_error_prefix(err, "image");
    /* times= with the default single frame: one frame per listed time */
    if (o->pick.mode == RVT_PICK_TIMES && o->n_frames == 1)
        o->n_frames = o->pick.n_times;
    return rvt_frames_opts_check(o, err);
}

/*
 * Nearest frame to the target N / S ticks: the first j with S * pts[j] >= N,
 * or the one before it when that is at least as close (ties: earlier frame).
 * long double has a 64-bit mantissa, so S * pts and N are exact integers for
 * S <= 2 * RVT_FRAMES_MAX and |pts| < 2^54.
 */
static size_t nearest(const int64_t *pts, size_t n, long double s, long double num)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s * (long double)pts[mid] < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    if (lo == n)
        return n - 1;
    return (num - s * (long double)pts[lo - 1] <= s * (long double)pts[lo] - num) ? lo - 1 : lo;
}

int rvt_pick_frames(const struct rvt_pick *p, int k, const int64_t *pts, size_t n, int64_t end,
                    int tb_num, int tb_den, size_t *idx, struct rvt_error *err)
{
    long double first, dur, s;
    int i;

    if (n == 0)
        return rvt_error_set(err, RVT_EFORMAT, "no video frames");
    if (k < 1 || tb_num <= 0 || tb_den <= 0)
        return rvt_error_set(err, RVT_EINVAL, "bad frame selection arguments");
    if (end < pts[n - 1])
        end = pts[n - 1];
    first = (long double)pts[0];
    dur = (long double)end - first;

    switch (p->mode) {
    case RVT_PICK_MIDDLE:
    case RVT_PICK_CV_MIDDLE: {
        size_t m;
        long start;
        if (p->mode == RVT_PICK_MIDDLE) {
            m = nearest(pts, n, 2, first + (long double)end);
        } else {
            double end_s = (double)(end * tb_num) / tb_den;
            if (!(p->cv_target_s <= end_s))
                return rvt_error_set(err, RVT_EINVAL,
                                     "OpenCV's middle frame (%.3f s) is past the end of the video "
                                     "(%.3f s): the header counts frames that do not play",
                                     p->cv_target_s, end_s);
            m = nearest(pts, n, 1, (long double)p->cv_target_s * tb_den / tb_num);
        }
        start = (long)m - (k - 1) / 2;
        if (start + k > (long)n)
            start = (long)n - k;
        if (start < 0)
            start = 0;
        for (i = 0; i < k; i++)
            idx[i] = RVT_MIN((size_t)(start + i), n - 1);
        break;
    }
    case RVT_PICK_UNIFORM:
        s = 2.0L * k;
        for (i = 0; i < k; i++)
            idx[i] = nearest(pts, n, s, s * first + (2.0L * i + 1) * dur);
        break;
    case RVT_PICK_TIMES: {
        /* the end in seconds, correctly rounded like frame_pts, so a time
         * typed as the printed end is not "past" it */
        double end_s = (double)(end * tb_num) / tb_den;
        if (p->n_times != k)
            return rvt_error_set(err, RVT_EINVAL, "pick lists %d times but frames is %d",
                                 p->n_times, k);
        for (i = 0; i < k; i++) {
            long double t = (long double)p->times_s[i] * tb_den / tb_num;
            if (p->times_s[i] > end_s)
                return rvt_error_set(err, RVT_EINVAL,
                                     "requested time %.3f s is past the end of the video (%.3f s)",
                                     p->times_s[i], end_s);
            idx[i] = nearest(pts, n, 1, t);
        }
        break;
    }
    default:
        return rvt_error_set(err, RVT_EINVAL, "bad pick mode");
    }
    return 0;
}

/* round(a / b) for a >= 0, b > 0, halves up */
static int64_t div_round(int64_t a, int64_t b)
{
    return (2 * a + b) / (2 * b);
}

int rvt_crop_rect(const struct rvt_crop *c, int w, int h, int sar_num, int sar_den, int rect[4],
                  struct rvt_error *err)
{
    int64_t num = sar_num, den = sar_den;

    if (num <= 0 || den <= 0)
        num = den = 1;
    switch (c->mode) {
    case RVT_CROP_NONE:
        rect[0] = rect[1] = 0;
        rect[2] = w;
        rect[3] = h;
        return 0;
    case RVT_CROP_CENTER: {
        int64_t cw, ch;
        if ((int64_t)w * num >= (int64_t)h * den) { /* displayed width >= height */
            ch = h;
            cw = RVT_MIN((int64_t)w, div_round((int64_t)h * den, num));
        } else {
            cw = w;
            ch = RVT_MIN((int64_t)h, div_round((int64_t)w * num, den));
        }
        cw = RVT_MAX(cw, 1);
        ch = RVT_MAX(ch, 1);
        rect[0] = (int)((w - cw) / 2);
        rect[1] = (int)((h - ch) / 2);
        rect[2] = (int)cw;
        rect[3] = (int)ch;
        return 0;
    }
    case RVT_CROP_BOX: {
        int64_t x = div_round((int64_t)c->x * den, num), cw = div_round((int64_t)c->w * den, num);
        if (cw < 1 || x + cw > w || c->y + (int64_t)c->h > h)
            return rvt_error_set(err, RVT_EINVAL,
                                 "crop box %d,%d,%d,%d is outside the %dx%d picture", c->x, c->y,
                                 c->w, c->h, (int)div_round((int64_t)w * num, den), h);
        rect[0] = (int)x;
        rect[1] = c->y;
        rect[2] = (int)cw;
        rect[3] = c->h;
        return 0;
    }
    }
    return rvt_error_set(err, RVT_EINVAL, "bad crop mode");
}
