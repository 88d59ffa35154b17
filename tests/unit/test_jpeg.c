/* Unit tests for lib/media/jpeg: the round trip's invariants (size kept, loss
 * falling with the quality, a codec reused across sizes gives the bytes a fresh
 * one gives, its buffer stops growing), and refusals (bad quality, size, a stream
 * that is not JPEG, a picture of the wrong size) as errors, never a crash or an
 * exit.  Equality with PIL is tests/parity/test_jpeg.py's. */
#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "media/jpeg.h"

static uint32_t rng = 12345;

static uint8_t rnd8(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (uint8_t)(rng >> 24);
}

/* a smooth gradient plus noise: the codec has something to keep and to lose */
static void picture(uint8_t *p, int w, int h, int noise)
{
    int x, y, c;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            for (c = 0; c < 3; c++) {
                int v = (x * 255 / (w > 1 ? w - 1 : 1) + y * 97 / (h > 1 ? h - 1 : 1) + c * 60) % 256;
                v += noise ? (int)(rnd8() % (2 * noise + 1)) - noise : 0;
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
}

static double mean_abs(const uint8_t *a, const uint8_t *b, size_t n)
{
    double s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += abs((int)a[i] - (int)b[i]);
    return s / (double)n;
}

static void test_roundtrip(void)
{
    static const int sizes[][2] = {{224, 224}, {223, 97}, {17, 9}, {1, 1}, {8, 16}, {301, 2}};
    static const int qs[] = {1, 10, 50, 75, 95, 100};
    struct rvt_error err = {0};
    struct rvt_jpeg *j = NULL, *fresh = NULL;
    size_t s, qi;

    OK(rvt_jpeg_create(&j, &err) == 0 && j, "create");
    for (s = 0; s < RVT_ARRAY_SIZE(sizes); s++) {
        int w = sizes[s][0], h = sizes[s][1];
        size_t n = (size_t)w * h * 3;
        uint8_t *src = malloc(n), *a = malloc(n), *b = malloc(n);
        double prev = 1e9, loss[RVT_ARRAY_SIZE(qs)];
        int ok_same = 1, ok_mono = 1, ret = 0;

        picture(src, w, h, 20);
        for (qi = 0; qi < RVT_ARRAY_SIZE(qs) && ret >= 0; qi++) {
            memcpy(a, src, n);
            memcpy(b, src, n);
            ret = rvt_jpeg_roundtrip(j, a, w, h, qs[qi], &err);
            if (ret >= 0 && (ret = rvt_jpeg_create(&fresh, &err)) >= 0)
                ret = rvt_jpeg_roundtrip(fresh, b, w, h, qs[qi], &err);
            rvt_jpeg_free(&fresh);
            ok_same &= ret >= 0 && !memcmp(a, b, n);
            loss[qi] = mean_abs(a, src, n);
            /* the IJG tables only shrink as q rises; allow a hair for rounding */
            ok_mono &= loss[qi] <= prev + 0.05;
            prev = loss[qi];
        }
        OK(ret >= 0, "%dx%d: round trips at q 1-100 (%s)", w, h, ret < 0 ? err.msg : "ok");
        OK(ok_same, "%dx%d: a reused codec gives a fresh codec's bytes", w, h);
        if (w * h >= 1000) /* tiny pictures: a block or two, no clear trend */
            OK(ok_mono && loss[0] > loss[RVT_ARRAY_SIZE(qs) - 1],
               "%dx%d: loss falls with the quality (q1 %.2f, q75 %.2f, q100 %.2f levels)", w, h,
               loss[0], loss[3], loss[RVT_ARRAY_SIZE(qs) - 1]);
        free(src);
        free(a);
        free(b);
    }
    rvt_jpeg_free(&j);
    OK(j == NULL, "free sets the pointer to NULL");
    rvt_jpeg_free(&j); /* NULL is fine */
}

/* The compressed buffer grows to the largest frame, then stays. */
static void test_buffer_reuse(void)
{
    struct rvt_error err = {0};
    struct rvt_jpeg *j = NULL;
    int w = 640, h = 480, i, ret = 0;
    size_t n = (size_t)w * h * 3, size = 0, first = 0;
    uint8_t *p = malloc(n);
    const uint8_t *data = NULL, *first_data = NULL;

    rvt_jpeg_create(&j, &err);
    picture(p, w, h, 127); /* noise: a big file at q 100 (grows the buffer) */
    for (i = 0; i < 20 && ret >= 0; i++) {
        ret = rvt_jpeg_encode(j, p, w, h, (size_t)w * 3, 100, &data, &size, &err);
        if (i == 0) {
            first = size;
            first_data = data;
        }
    }
    OK(ret >= 0 && size == first && data == first_data && size > 65536,
       "20 encodes of a %zu-byte JPEG reuse one buffer", size);
    OK(ret >= 0 && size > 4 && data[0] == 0xFF && data[1] == 0xD8 && data[size - 2] == 0xFF &&
           data[size - 1] == 0xD9, "the buffer holds one JPEG file (SOI ... EOI)");
    rvt_jpeg_free(&j);
    free(p);
}

static void test_refusals(void)
{
    struct rvt_error err = {0};
    struct rvt_jpeg *j = NULL;
    uint8_t px[16 * 16 * 3] = {0}, out[16 * 16 * 3];
    static const uint8_t junk[] = "not a jpeg at all, just text";
    const uint8_t *data;
    size_t size;
    int ret;

    rvt_jpeg_create(&j, &err);
    OK(rvt_jpeg_roundtrip(j, px, 16, 16, 0, &err) == RVT_EINVAL && strstr(err.msg, "quality"),
       "quality 0 is refused: %s", err.msg);
    OK(rvt_jpeg_roundtrip(j, px, 16, 16, 101, &err) == RVT_EINVAL, "quality 101 is refused");
    OK(rvt_jpeg_roundtrip(j, px, 0, 16, 75, &err) == RVT_EINVAL && strstr(err.msg, "size"),
       "width 0 is refused: %s", err.msg);
    OK(rvt_jpeg_decode(j, junk, sizeof(junk), out, 16, 16, &err) == RVT_EFORMAT &&
           !strncmp(err.msg, "jpeg: ", 6),
       "a stream that is not JPEG: libjpeg's message (%s)", err.msg);
    ret = rvt_jpeg_encode(j, px, 16, 16, 48, 75, &data, &size, &err);
    OK(ret == 0 && rvt_jpeg_decode(j, data, size, out, 8, 16, &err) == RVT_EFORMAT &&
           strstr(err.msg, "16x16"),
       "a picture of another size: %s", err.msg);
    picture(px, 16, 16, 127);
    ret = rvt_jpeg_encode(j, px, 16, 16, 48, 100, &data, &size, &err);
    OK(ret == 0 && rvt_jpeg_decode(j, data, size - size / 4, out, 16, 16, &err) == 0,
       "a stream cut inside its scan decodes (a warning, as libjpeg's own sources): %s",
       ret < 0 ? "" : err.msg);
    OK(rvt_jpeg_roundtrip(j, px, 16, 16, 75, &err) == 0, "the codec still works after errors");
    OK(strstr(rvt_jpeg_version(), "62") != NULL, "version: %s", rvt_jpeg_version());
    rvt_jpeg_free(&j);
}

int main(void)
{
    test_roundtrip();
    test_buffer_reuse();
    test_refusals();
    return tap_done();
}
