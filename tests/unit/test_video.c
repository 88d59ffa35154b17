/* Unit tests for lib/media/video: frame picking, crop geometry, the PIL-exact
 * resize, and decoding (NONREF skipping and seeking give the same pixels as a
 * full decode; bad files give one clear error).  Clips are made with the ffmpeg
 * CLI in a temporary folder. */
#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"
#include "core/cpu.h"
#include "media/media.h"
#include "media/video.h"

static char tmpdir[256];

/* ------------------------------------------------------------------ pick */

static void test_pick(void)
{
    struct rvt_error err = {0};
    struct rvt_pick p;
    int64_t pts[200];
    size_t idx[16];
    int i, ok;

    /* 30000/1001 fps: pts step 1001 in 1/30000 */
    for (i = 0; i < 200; i++)
        pts[i] = (int64_t)i * 1001;

    /* cv-middle: nearest the target the reader computed; K > 1 around it */
    OK(rvt_pick_parse(&p, "cv-middle", &err) == 0 && p.mode == RVT_PICK_CV_MIDDLE,
       "cv-middle parses");
    p.cv_target_s = 64 * 1001 / 30000.0;
    OK(rvt_pick_frames(&p, 1, pts, 120, 120 * 1001, 1, 30000, idx, &err) == 0 && idx[0] == 64,
       "cv-middle takes the frame at its target (%zu)", idx[0]);
    OK(rvt_pick_frames(&p, 3, pts, 120, 120 * 1001, 1, 30000, idx, &err) == 0 && idx[0] == 63 &&
           idx[2] == 65,
       "cv-middle K = 3 is the frames around it");
    p.cv_target_s = 5.0;
    OK(rvt_pick_frames(&p, 1, pts, 120, 120 * 1001, 1, 30000, idx, &err) < 0 &&
           strstr(err.msg, "past the end"),
       "cv-middle past the end is an error (%s)", err.msg);

    rvt_pick_parse(&p, "middle", &err);
    /* 122 frames: middle at 61 periods, exactly frame 61 */
    OK(rvt_pick_frames(&p, 1, pts, 122, 122 * 1001, 1, 30000, idx, &err) == 0 && idx[0] == 61,
       "middle of 122 frames is frame 61 (%zu)", idx[0]);
    /* 121 frames: middle at 60.5 periods, a tie: the earlier frame (60 = 121 / 2) */
    OK(rvt_pick_frames(&p, 1, pts, 121, 121 * 1001, 1, 30000, idx, &err) == 0 && idx[0] == 60,
       "middle of 121 frames ties and takes the earlier frame 60 (%zu)", idx[0]);
    OK(rvt_pick_frames(&p, 1, pts, 1, 1001, 1, 30000, idx, &err) == 0 && idx[0] == 0,
       "one frame");
    OK(rvt_pick_frames(&p, 3, pts, 122, 122 * 1001, 1, 30000, idx, &err) == 0 && idx[0] == 60 &&
           idx[1] == 61 && idx[2] == 62,
       "middle K=3: frames 60 61 62");
    OK(rvt_pick_frames(&p, 4, pts, 122, 122 * 1001, 1, 30000, idx, &err) == 0 && idx[0] == 60 &&
           idx[3] == 63,
       "middle K=4: frames 60..63 (one more after)");
    OK(rvt_pick_frames(&p, 5, pts, 3, 3 * 1001, 1, 30000, idx, &err) == 0 && idx[0] == 0 &&
           idx[2] == 2 && idx[4] == 2,
       "middle K=5 of 3 frames stays inside (repeats the last)");

    rvt_pick_parse(&p, "uniform", &err);
    /* 120 frames, K=8: centres at 7.5, 22.5, ... periods: ties -> 7, 22, 37, ... */
    ok = rvt_pick_frames(&p, 8, pts, 120, 120 * 1001, 1, 30000, idx, &err) == 0;
    for (i = 0; i < 8; i++)
        ok = ok && idx[i] == (size_t)(7 + 15 * i);
    OK(ok, "uniform K=8 of 120 frames: 7, 22, ..., 112 (ties to the earlier)");
    OK(rvt_pick_frames(&p, 1, pts, 122, 122 * 1001, 1, 30000, idx, &err) == 0 && idx[0] == 61,
       "uniform K=1 equals middle");
    {
        /* variable frame rate: dense start, sparse end */
        int64_t v[] = {0, 1, 2, 3, 4, 5, 10, 20, 30, 40};
        ok = rvt_pick_frames(&p, 2, v, 10, 50, 1, 10, idx, &err) == 0;
        /* targets 12.5 and 37.5 ticks -> 10 and 40 */
        OK(ok && idx[0] == 6 && idx[1] == 9, "uniform on VFR follows time, not frame count");
    }
    OK(rvt_pick_frames(&p, 1, pts, 0, 0, 1, 30000, idx, &err) == RVT_EFORMAT,
       "no frames is an error");

    OK(rvt_pick_parse(&p, "times=0,1.5,2.002", &err) == 0 && p.n_times == 3 &&
           p.times_s[1] == 1.5,
       "times= parses");
    ok = rvt_pick_frames(&p, 3, pts, 120, 120 * 1001, 1, 30000, idx, &err) == 0;
    OK(ok && idx[0] == 0 && idx[1] == 45 && idx[2] == 60,
       "times pick the nearest frames (0, 45, 60): %zu %zu %zu", idx[0], idx[1], idx[2]);
    rvt_pick_parse(&p, "times=5", &err);
    OK(rvt_pick_frames(&p, 1, pts, 120, 120 * 1001, 1, 30000, idx, &err) == RVT_EINVAL &&
           strstr(err.msg, "past the end"),
       "a time past the end is an error: %s", err.msg);
    rvt_pick_parse(&p, "times=4.004", &err);
    OK(rvt_pick_frames(&p, 1, pts, 120, 120 * 1001, 1, 30000, idx, &err) == 0 && idx[0] == 119,
       "the end itself is allowed (last frame)");
    OK(rvt_pick_parse(&p, "times=1,-2", &err) < 0, "negative time refused");
    OK(rvt_pick_parse(&p, "times=", &err) < 0, "empty times refused");
    OK(rvt_pick_parse(&p, "times=1,,2", &err) < 0, "empty item refused");
    OK(rvt_pick_parse(&p, "times=nan", &err) < 0, "nan refused");
    OK(rvt_pick_parse(&p, "first", &err) < 0 && strstr(err.msg, "middle"), "unknown pick refused");
}

/* ------------------------------------------------------------------ crop */

static void test_crop(void)
{
    struct rvt_error err = {0};
    struct rvt_crop c;
    int r[4], w, h, ok;

    OK(rvt_crop_parse(&c, "none", &err) == 0 && rvt_crop_rect(&c, 1280, 720, 1, 1, r, &err) == 0 &&
           r[0] == 0 && r[2] == 1280 && r[3] == 720,
       "crop none is the whole frame");
    rvt_crop_parse(&c, "center", &err);
    OK(rvt_crop_rect(&c, 1280, 720, 1, 1, r, &err) == 0 && r[0] == 280 && r[1] == 0 &&
           r[2] == 720 && r[3] == 720,
       "center of 1280x720: 280,0,720,720");
    OK(rvt_crop_rect(&c, 360, 640, 0, 1, r, &err) == 0 && r[0] == 0 && r[1] == 140 &&
           r[2] == 360 && r[3] == 360,
       "center of a portrait frame, unknown SAR = 1:1");
    /* 480x360 stored, SAR 4:3 -> displayed 640x360: square of 360 shown = 270 stored */
    ok = rvt_crop_rect(&c, 480, 360, 4, 3, r, &err) == 0;
    OK(ok && r[0] == 105 && r[2] == 270 && r[3] == 360, "center honours SAR 4:3 (%d,%d,%d,%d)",
       r[0], r[1], r[2], r[3]);
    OK(rvt_crop_rect(&c, 1281, 720, 1, 1, r, &err) == 0 && r[0] == 280, "odd margin rounds down");
    OK(rvt_crop_parse(&c, "box=10,20,300,200", &err) == 0 &&
           rvt_crop_rect(&c, 640, 360, 1, 1, r, &err) == 0 && r[0] == 10 && r[1] == 20 &&
           r[2] == 300 && r[3] == 200,
       "box as given");
    ok = rvt_crop_rect(&c, 480, 360, 4, 3, r, &err) == 0;
    OK(ok && r[0] == 8 && r[2] == 225, "box x and w scale by 1/SAR (%d, %d)", r[0], r[2]);
    OK(rvt_crop_rect(&c, 200, 200, 1, 1, r, &err) == RVT_EINVAL && strstr(err.msg, "outside"),
       "box outside the picture: %s", err.msg);
    OK(rvt_crop_parse(&c, "box=1,2,0,4", &err) < 0, "box with w 0 refused");
    OK(rvt_crop_parse(&c, "box=1,2,3", &err) < 0, "box with 3 numbers refused");
    OK(rvt_crop_parse(&c, "box=1,2,3,4,", &err) < 0, "box trailing comma refused");
    OK(rvt_crop_parse(&c, "middle", &err) < 0, "unknown crop refused");
    {
        enum rvt_convert_mode cm;
        enum rvt_resize_mode rm;
        int m, ok = 1;
        for (m = RVT_CONVERT_ACCURATE; m <= RVT_CONVERT_FFMPEG; m++)
            ok &= rvt_convert_parse(rvt_convert_name((enum rvt_convert_mode)m), &cm, &err) == 0 &&
                  (int)cm == m;
        for (m = RVT_RESIZE_PIL; m <= RVT_RESIZE_OPENCV; m++)
            ok &= rvt_resize_parse(rvt_resize_name((enum rvt_resize_mode)m), &rm, &err) == 0 &&
                  (int)rm == m;
        OK(ok, "convert and resize names parse back to their modes");
        OK(rvt_convert_parse("bicubic", &cm, &err) < 0 && strstr(err.msg, "'bicubic'") &&
               rvt_resize_parse("area", &rm, &err) < 0 && strstr(err.msg, "'area'"),
           "unknown convert and resize names refused, named");
        OK(!strcmp(rvt_convert_name((enum rvt_convert_mode)99), "?"), "out-of-range name is ?");
    }
    OK(rvt_size_parse("224", &w, &h, &err) == 0 && w == 224 && h == 224, "size 224");
    OK(rvt_size_parse("320x180", &w, &h, &err) == 0 && w == 320 && h == 180, "size 320x180");
    OK(rvt_size_parse("0", &w, &h, &err) < 0 && rvt_size_parse("3x", &w, &h, &err) < 0 &&
           rvt_size_parse("99999", &w, &h, &err) < 0,
       "bad sizes refused");
}

/* ---------------------------------------------------------------- resize */

/* Plain double-precision triangle filter with the same taps, for a bound. */
static double resample_double(const uint8_t *src, int in_w, int in_h, int out_w, int out_h, int x,
                              int y, int ch)
{
    double sx = (double)in_w / out_w, sy = (double)in_h / out_h;
    double fx = sx < 1 ? 1 : sx, fy = sy < 1 ? 1 : sy;
    double cx = (x + 0.5) * sx, cy = (y + 0.5) * sy, acc = 0, wsum = 0;
    int i, j;
    for (j = 0; j < in_h; j++) {
        double wy = 1 - fabs((j + 0.5 - cy) / fy);
        if (wy <= 0)
            continue;
        for (i = 0; i < in_w; i++) {
            double wx = 1 - fabs((i + 0.5 - cx) / fx);
            if (wx <= 0)
                continue;
            acc += wx * wy * src[(j * in_w + i) * 3 + ch];
            wsum += wx * wy;
        }
    }
    return acc / wsum;
}

static void test_resize(void)
{
    struct rvt_error err = {0};
    struct rvt_resize_plan p;
    uint8_t row[12] = {0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255}, out[6];
    uint8_t *src, *dst, *tmp;
    int sizes[][4] = {{64, 48, 17, 13}, {50, 30, 80, 45}, {31, 17, 31, 9}, {40, 40, 7, 40}};
    unsigned seed = 12345;
    size_t s, i;

    /* hand-computed: 4 -> 2, scale 2, support 2, weights (.75 .75 .25) / 1.75 */
    OK(rvt_resize_plan_init(&p, 4, 1, 2, 1, &err) == 0, "plan 4x1 -> 2x1");
    tmp = malloc(p.tmp_bytes + 1);
    rvt_resize_rgb24_ref(&p, row, 12, out, tmp);
    OK(out[0] == 71 && out[3] == 209 && out[1] == 71 && out[5] == 209,
       "4 -> 2 by hand: 71, 209 (got %d, %d)", out[0], out[3]);
    free(tmp);
    rvt_resize_plan_release(&p);

    src = malloc(64 * 48 * 3);
    dst = malloc(80 * 48 * 3);
    for (s = 0; s < RVT_ARRAY_SIZE(sizes); s++) {
        int iw = sizes[s][0], ih = sizes[s][1], ow = sizes[s][2], oh = sizes[s][3], x, y, c;
        double worst = 0;
        for (i = 0; i < (size_t)iw * ih * 3; i++) {
            seed = seed * 1103515245u + 12345u;
            src[i] = (uint8_t)(seed >> 16);
        }
        OK(rvt_resize_plan_init(&p, iw, ih, ow, oh, &err) == 0, "plan %dx%d -> %dx%d", iw, ih, ow,
           oh);
        tmp = malloc(p.tmp_bytes + 1);
        rvt_resize_rgb24_ref(&p, src, (size_t)iw * 3, dst, tmp);
        for (y = 0; y < oh; y++)
            for (x = 0; x < ow; x++)
                for (c = 0; c < 3; c++) {
                    double d = fabs(dst[(y * ow + x) * 3 + c] -
                                    resample_double(src, iw, ih, ow, oh, x, y, c));
                    worst = d > worst ? d : worst;
                }
        /* two passes, each rounding to 8 bits (<= 0.5) and 22-bit weights:
         * within 1.01 levels of the exact separable filter */
        OK(worst <= 1.01, "%dx%d -> %dx%d within 1 level of the double filter (%.3f)", iw, ih, ow,
           oh, worst);
        free(tmp);
        rvt_resize_plan_release(&p);
    }
    /* constant image stays constant; identity copies */
    memset(src, 77, 64 * 48 * 3);
    rvt_resize_plan_init(&p, 64, 48, 9, 5, &err);
    tmp = malloc(p.tmp_bytes + 1);
    rvt_resize_rgb24_ref(&p, src, 64 * 3, dst, tmp);
    for (i = 0; i < 9 * 5 * 3 && dst[i] == 77; i++)
        ;
    OK(i == 9 * 5 * 3, "a constant image stays constant");
    free(tmp);
    rvt_resize_plan_release(&p);
    for (i = 0; i < 64 * 48 * 3; i++)
        src[i] = (uint8_t)(i * 7);
    rvt_resize_plan_init(&p, 64, 48, 64, 48, &err);
    OK(p.tmp_bytes == 0 && !p.need_h && !p.need_v, "same size needs no pass");
    rvt_resize_rgb24_ref(&p, src, 64 * 3, dst, NULL);
    OK(!memcmp(src, dst, 64 * 48 * 3), "same size is a copy");
    rvt_resize_plan_release(&p);
    OK(rvt_resize_plan_init(&p, 0, 5, 5, 5, &err) == RVT_EINVAL, "empty input refused");
    free(src);
    free(dst);
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* OpenCV's resize: the cases it special-cases and the invariants of its
 * weights (tests/parity/test_frames_modes.py checks the bytes against cv2). */
static void test_resize_cv(void)
{
    struct rvt_error err = {0};
    struct rvt_cv_resize_plan p;
    uint8_t src[8 * 6 * 3], dst[8 * 6 * 3], flat[8 * 6 * 3];
    int32_t tmp[2 * 3 * 300];
    int i, ok = 1;

    for (i = 0; i < (int)sizeof(src); i++)
        src[i] = (uint8_t)(i * 37 + 11);
    OK(rvt_cv_resize_plan_init(&p, 8, 6, 8, 6, &err) == 0 && p.copy, "same size is a copy");
    rvt_cv_resize_rgb24(&p, src, 24, dst, tmp);
    OK(!memcmp(src, dst, sizeof(src)), "the copy is exact");
    rvt_cv_resize_plan_release(&p);

    OK(rvt_cv_resize_plan_init(&p, 8, 6, 4, 3, &err) == 0 && p.area2, "exact 2x down is area");
    rvt_cv_resize_rgb24(&p, src, 24, dst, tmp);
    for (i = 0; i < 3; i++) /* output (1, 2), channel i: rows 4-5, columns 2-3 */
        ok &= dst[(2 * 4 + 1) * 3 + i] == (src[(4 * 8 + 2) * 3 + i] + src[(4 * 8 + 3) * 3 + i] +
                                           src[(5 * 8 + 2) * 3 + i] + src[(5 * 8 + 3) * 3 + i] +
                                           2) / 4;
    OK(ok, "area average rounds half up");
    rvt_cv_resize_plan_release(&p);

    memset(flat, 200, sizeof(flat));
    OK(rvt_cv_resize_plan_init(&p, 8, 6, 300, 5, &err) == 0 && !p.copy && !p.area2,
       "8x6 -> 300x5 is bilinear");
    ok = 1;
    for (i = 0; i < 300; i++)
        ok &= p.xofs[i] >= 0 && p.xofs[i] <= 7 && p.alpha[2 * i] >= 0 && p.alpha[2 * i + 1] >= 0 &&
              abs(p.alpha[2 * i] + p.alpha[2 * i + 1] - 2048) <= 1;
    OK(ok, "weights are in range and sum to 2048 +- 1");
    {
        uint8_t big[300 * 5 * 3];
        rvt_cv_resize_rgb24(&p, flat, 24, big, tmp);
        ok = 1;
        for (i = 0; i < (int)sizeof(big); i++)
            ok &= abs(big[i] - 200) <= 1;
        OK(ok, "a flat picture stays flat (within the weights' rounding)");
    }
    rvt_cv_resize_plan_release(&p);
    rvt_cv_resize_plan_release(&p); /* released twice is fine */
}

/* Every kernel against _ref on random pictures: identical bytes (integer math). */
static void test_resize_kernels(void)
{
    static const enum rvt_isa k[] = {RVT_ISA_AVX2}; /* AVX-512 runs the AVX2 table */
    int sizes[][4] = {{1280, 720, 224, 224}, {720, 720, 224, 224}, {3, 2, 1, 1},
                      {7, 5, 13, 11},        {64, 48, 17, 13},     {50, 30, 80, 45},
                      {31, 17, 31, 9},       {40, 40, 7, 40},      {9, 300, 5, 61}};
    struct rvt_error err = {0};
    unsigned seed = 99;
    size_t s, i, j;

    OK(rvt_resize_kernels_for(RVT_ISA_REF)->rgb24 == rvt_resize_rgb24_ref &&
           rvt_resize_kernels()->isa <= rvt_cpu_isa(),
       "resize dispatch: ref table, best level within rvt_cpu_isa()");
    for (j = 0; j < RVT_ARRAY_SIZE(k); j++) {
        const struct rvt_resize_kernels *kt = rvt_resize_kernels_for(k[j]);
        if (!kt) {
            OK(1, "# SKIP %s: not supported here", rvt_isa_name(k[j]));
            continue;
        }
        for (s = 0; s < RVT_ARRAY_SIZE(sizes); s++) {
            int iw = sizes[s][0], ih = sizes[s][1], ow = sizes[s][2], oh = sizes[s][3];
            size_t stride = (size_t)iw * 3 + (s % 2) * 5, in_bytes = stride * ih;
            size_t out_bytes = (size_t)ow * oh * 3;
            struct rvt_resize_plan p;
            uint8_t *src = malloc(in_bytes), *a = malloc(out_bytes), *b = malloc(out_bytes), *tmp;
            double t0, t1, t2;
            int reps = iw * ih > 100000 ? 5 : 1, r;
            for (i = 0; i < in_bytes; i++) {
                seed = seed * 1103515245u + 12345u;
                src[i] = (uint8_t)(seed >> 16);
            }
            rvt_resize_plan_init(&p, iw, ih, ow, oh, &err);
            tmp = malloc(p.tmp_bytes + 1);
            t0 = seconds();
            for (r = 0; r < reps; r++)
                rvt_resize_rgb24_ref(&p, src, stride, a, tmp);
            t1 = seconds();
            for (r = 0; r < reps; r++)
                kt->rgb24(&p, src, stride, b, tmp);
            t2 = seconds();
            OK(!memcmp(a, b, out_bytes), "%s == ref, %dx%d -> %dx%d (%.2f ms vs %.2f ms)",
               rvt_isa_name(k[j]), iw, ih, ow, oh, (t2 - t1) * 1e3 / reps, (t1 - t0) * 1e3 / reps);
            rvt_resize_plan_release(&p);
            free(src);
            free(a);
            free(b);
            free(tmp);
        }
    }
}

/* ---------------------------------------------------------------- decode */

static int sh(const char *fmt, ...) RVT_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

#define FF "ffmpeg -nostdin -hide_banner -loglevel error -y "
#define X264 "-c:v libx264 -preset veryfast -crf 28 -pix_fmt yuv420p "

static int make_clips(void)
{
    int r = 0;
    /* B-frames (pyramid), one keyframe, audio */
    r |= sh(FF "-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=d=3 -t 3 " X264
               "-x264-params threads=1:keyint=infinite:scenecut=0:bframes=3 -c:a aac %s/b.mp4",
            tmpdir);
    /* pre-roll hidden by an edit list: the header counts 85 frames, 75 decode */
    r |= sh(FF "-f lavfi -i testsrc2=size=320x240:rate=25 -frames:v 85 " X264
               "-x264-params threads=1:keyint=infinite:scenecut=0 %s/raw.mp4 && " FF
               "-ss 0.4 -i %s/raw.mp4 -c copy %s/pre.mp4",
            tmpdir, tmpdir, tmpdir);
    /* keyframe every 20 frames */
    r |= sh(FF "-f lavfi -i testsrc2=size=320x240:rate=25 -t 4 " X264
               "-x264-params threads=1:keyint=20:min-keyint=20:scenecut=0 %s/gop.mp4",
            tmpdir);
    /* MPEG-4 part 2 with B-frames */
    r |= sh(FF "-f lavfi -i testsrc2=size=320x240:rate=25 -t 3 -c:v mpeg4 -bf 2 -q:v 5 %s/m4.mp4",
            tmpdir);
    /* HEVC with B-frames (one temporal sub-layer) and MPEG-2 with B-frames */
    r |= sh(FF "-f lavfi -i testsrc2=size=320x240:rate=25 -t 3 -c:v libx265 -preset fast "
               "-x265-params log-level=error:pools=1:frame-threads=1:bframes=4:b-pyramid=1 "
               "-pix_fmt yuv420p %s/hevc.mp4",
            tmpdir);
    r |= sh(FF "-f lavfi -i testsrc2=size=320x240:rate=25 -t 3 -c:v mpeg2video -bf 2 -q:v 5 "
               "%s/m2.mp4",
            tmpdir);
    /* rotated 90 degrees by the display matrix */
    r |= sh(FF "-i %s/b.mp4 -c copy -metadata:s:v:0 rotate=90 %s/rot.mp4", tmpdir, tmpdir);
    /* bad inputs */
    r |= sh(FF "-f lavfi -i sine=d=1 -c:a aac %s/novideo.mp4", tmpdir);
    r |= sh(FF "-i %s/b.mp4 -c copy -movflags +faststart %s/fs.mp4 && "
               "head -c $(( $(stat -c %%s %s/fs.mp4) * 6 / 10 )) %s/fs.mp4 > %s/trunc.mp4",
            tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
    r |= sh("head -c $(( $(stat -c %%s %s/b.mp4) / 2 )) %s/b.mp4 > %s/trunc2.mp4", tmpdir, tmpdir,
            tmpdir);
    r |= sh(FF "-ss 10 -i %s/b.mp4 -map 0:v -c copy %s/zero.mp4", tmpdir, tmpdir);
    r |= sh("printf 'not a video' > %s/text.mp4", tmpdir);
    return r;
}

/* Patches the codec fourcc inside stsd so that no decoder matches. */
static int make_bad_codec(void)
{
    char in[512], out[512];
    FILE *f;
    long n;
    char *buf, *p = NULL;
    size_t i;
    snprintf(in, sizeof(in), "%s/b.mp4", tmpdir);
    snprintf(out, sizeof(out), "%s/badcodec.mp4", tmpdir);
    f = fopen(in, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc(n);
    if (fread(buf, 1, n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    for (i = 0; i + 8 < (size_t)n; i++)
        if (!memcmp(buf + i, "stsd", 4)) {
            p = memmem(buf + i, n - i, "avc1", 4);
            break;
        }
    if (p)
        memcpy(p, "zzzz", 4);
    f = fopen(out, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    free(buf);
    return p ? 0 : -1;
}

struct result {
    uint8_t *frames;
    double pts[RVT_FRAMES_MAX];
    struct rvt_video_info info;
    int ret;
    char msg[1024];
};

static void extract(const char *name, const char *pick, int k, int threads, bool full,
                    struct rvt_video_reader *shared, struct result *res)
{
    struct rvt_frames_opts o;
    struct rvt_error err = {0};
    struct rvt_video_reader *r = shared;
    char path[512];

    rvt_frames_opts_init(&o);
    rvt_pick_parse(&o.pick, pick, &err);
    o.n_frames = k;
    o.out_w = 96;
    o.out_h = 64;
    o.threads = threads;
    o.full_decode = full;
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    memset(res, 0, sizeof(*res));
    res->frames = calloc(1, rvt_frames_bytes(&o));
    if (!r && rvt_video_reader_create(&r, &o, &err) < 0) {
        res->ret = err.code;
        snprintf(res->msg, sizeof(res->msg), "%s", err.msg);
        return;
    }
    res->ret = rvt_video_extract(r, path, res->frames, res->pts, &res->info, &err);
    snprintf(res->msg, sizeof(res->msg), "%s", err.msg);
    if (!shared)
        rvt_video_reader_free(&r);
}

static bool same(const struct result *a, const struct result *b, int k)
{
    return a->ret == 0 && b->ret == 0 && !memcmp(a->frames, b->frames, (size_t)k * 96 * 64 * 3) &&
           !memcmp(a->pts, b->pts, sizeof(double) * k);
}

static void test_decode(void)
{
    static const char *clips[] = {"b.mp4",  "pre.mp4", "gop.mp4", "m4.mp4",
                                  "hevc.mp4", "m2.mp4", "rot.mp4"};
    static const char *picks[] = {"middle", "uniform"};
    struct result a, b, c;
    size_t i, j;

    if (!OK(make_clips() == 0 && make_bad_codec() == 0, "test clips made with the ffmpeg CLI"))
        return;
    for (i = 0; i < RVT_ARRAY_SIZE(clips); i++)
        for (j = 0; j < RVT_ARRAY_SIZE(picks); j++) {
            int k = j == 0 ? 1 : 8;
            extract(clips[i], picks[j], k, 1, false, NULL, &a);
            extract(clips[i], picks[j], k, 1, true, NULL, &b);
            extract(clips[i], picks[j], k, 2, false, NULL, &c);
            OK(same(&a, &b, k), "%s %s K=%d: seek + NONREF skip == full decode, byte for byte "
               "(%zu of %zu packets sent, %zu frames decoded; %s)",
               clips[i], picks[j], k, a.info.n_sent, a.info.n_packets, a.info.n_decoded, a.msg);
            OK(same(&a, &c, k), "%s %s K=%d: 2 frame threads == 1 thread", clips[i], picks[j], k);
            if (k == 1 && strcmp(clips[i], "m4.mp4") && strcmp(clips[i], "m2.mp4"))
                OK(a.info.n_sent < a.info.n_packets && a.info.n_decoded < a.info.n_sent,
                   "%s middle: decodes less than the clip (%zu sent, %zu decoded of %zu)",
                   clips[i], a.info.n_sent, a.info.n_decoded, a.info.n_packets);
            free(a.frames);
            free(b.frames);
            free(c.frames);
        }

    /* frame list and timestamps */
    extract("pre.mp4", "middle", 1, 1, false, NULL, &a);
    OK(a.ret == 0 && a.info.n_packets == 85 && a.info.n_frames == 75,
       "pre-roll: 85 packets, 75 presented frames (%zu, %zu)", a.info.n_packets,
       a.info.n_frames);
    OK(fabs(a.info.end_s - 3.0) < 1e-9 && a.pts[0] == 1.48,
       "pre-roll: ends at 3.0 s, middle frame 37 at 1.48 s (%.4f)", a.pts[0]);
    free(a.frames);
    extract("gop.mp4", "uniform", 8, 1, false, NULL, &a);
    OK(a.ret == 0 && a.info.n_runs > 1 && a.info.n_sent < a.info.n_packets,
       "keyframes every 20: decoding jumps between keyframes (%d runs, %zu of %zu sent)",
       a.info.n_runs, a.info.n_sent, a.info.n_packets);
    free(a.frames);
    extract("rot.mp4", "middle", 1, 1, false, NULL, &a);
    /* "rotate=90" metadata: the CLI's autorotate turns it 90 degrees counter-clockwise */
    OK(a.ret == 0 && a.info.rotation == 270 && a.info.width == 240 && a.info.height == 320,
       "display matrix: rotated 270 degrees clockwise to 240x320 (%d, %dx%d)", a.info.rotation,
       a.info.width, a.info.height);
    free(a.frames);

    /* one reader over many clips == a fresh reader per clip (decoder reuse) */
    {
        struct rvt_frames_opts o;
        struct rvt_error err = {0};
        struct rvt_video_reader *r = NULL;
        int bad = 0, n = 0;
        rvt_frames_opts_init(&o);
        rvt_pick_parse(&o.pick, "uniform", &err);
        o.n_frames = 3;
        o.out_w = 96;
        o.out_h = 64;
        rvt_video_reader_create(&r, &o, &err);
        for (j = 0; j < 2; j++)
            for (i = 0; i < RVT_ARRAY_SIZE(clips); i++) {
                extract(clips[i], "uniform", 3, 1, false, r, &a);
                extract(clips[i], "uniform", 3, 1, false, NULL, &b);
                bad += !same(&a, &b, 3);
                n++;
                free(a.frames);
                free(b.frames);
                /* a failure in between must not disturb the next clip */
                extract("trunc.mp4", "uniform", 3, 1, false, r, &a);
                free(a.frames);
            }
        OK(bad == 0, "a reused reader gives the same frames as fresh ones (%d clips)", n);
        rvt_video_reader_free(&r);
        rvt_video_reader_free(&r);
        OK(r == NULL, "free sets NULL and accepts NULL");
    }

    /* bad input: one line naming the file and the reason */
    {
        static const struct {
            const char *file, *pick, *want;
            int code;
        } bad[] = {
            {"missing.mp4", "middle", "No such file", RVT_EIO},
            {"novideo.mp4", "middle", "no video stream", RVT_EFORMAT},
            {"trunc.mp4", "middle", "truncated", RVT_EFORMAT},
            {"trunc2.mp4", "middle", "Invalid data", RVT_EFORMAT},
            {"zero.mp4", "middle", "no video frames", RVT_EFORMAT},
            {"badcodec.mp4", "middle", "unsupported video codec", RVT_EUNSUPPORTED},
            {"text.mp4", "middle", "Invalid data", RVT_EFORMAT},
            {"b.mp4", "times=9.5", "past the end", RVT_EINVAL},
        };
        for (i = 0; i < RVT_ARRAY_SIZE(bad); i++) {
            extract(bad[i].file, bad[i].pick, 1, 1, false, NULL, &a);
            OK(a.ret == bad[i].code && strstr(a.msg, bad[i].want) && strstr(a.msg, bad[i].file) &&
                   !strchr(a.msg, '\n'),
               "%s: %s (code %d)", bad[i].file, a.msg, a.ret);
            free(a.frames);
        }
    }
}

int main(void)
{
    char cmd[300];
    const char *t = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/rvt-video-XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    rvt_media_set_log_level(0);
    test_pick();
    test_crop();
    test_resize();
    test_resize_kernels();
    test_resize_cv();
    test_decode();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    return tap_done();
}
