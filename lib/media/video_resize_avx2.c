/* video_resize_avx2.c: rvt_resize_rgb24_ref with AVX2, same bytes.
 *
 * The arithmetic is the reference's, in int32 lanes: products of 8-bit pixels
 * and 22-bit weights, summed (integer addition is exact in any order), plus the
 * rounding half, shifted and clamped.  Only the order of work changes:
 *   horizontal  one output pixel at a time, two taps per 256-bit multiply
 *               (lanes R0 G0 B0 R1 G1 B1 - -, weights k0 k0 k0 k1 k1 k1 0 0
 *               from plan->pairs), then lanes 0-2 + 3-5;
 *   vertical    eight output bytes at a time, one multiply per tap.
 * Pixels whose 8-byte loads would leave the row (the right edge) and row tails
 * shorter than 8 bytes use the reference's scalar loops. */
#include "core/common.h"

#include <immintrin.h>
#include <string.h>

#include "media/video.h"
#include "media/video_kernels.h"

static void horizontal_row(const struct rvt_resize_plan *p, const uint8_t *in, uint8_t *out)
{
    const __m256i half = _mm256_set1_epi32(1 << (RVTI_RESIZE_BITS - 1));
    const __m256i upper = _mm256_setr_epi32(3, 4, 5, 7, 7, 7, 7, 7);
    const __m128i lo = _mm_setzero_si128(), hi = _mm_set1_epi32(255);
    int xx, j, np = p->n_pairs;

    for (xx = 0; xx < p->out_w; xx++) {
        const int32_t *k = p->pairs + (size_t)xx * np * 8;
        const uint8_t *s = in + 3 * (size_t)p->h.bounds[2 * xx];
        __m256i acc = _mm256_setzero_si256();
        __m128i r;
        uint32_t v;
        if (!p->pair_safe[xx]) {
            rvti_resize_h_pixels(&p->h, in, xx, xx + 1, out);
            continue;
        }
        for (j = 0; j < np; j++) {
            __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(s + 6 * j)));
            __m256i w = _mm256_loadu_si256((const __m256i *)(k + 8 * j));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, w));
        }
        /* lanes 0-2 += lanes 3-5, + rounding half */
        acc = _mm256_add_epi32(_mm256_add_epi32(acc, half), _mm256_permutevar8x32_epi32(acc, upper));
        r = _mm_srai_epi32(_mm256_castsi256_si128(acc), RVTI_RESIZE_BITS);
        r = _mm_min_epi32(_mm_max_epi32(r, lo), hi);
        r = _mm_packus_epi16(_mm_packus_epi32(r, r), lo);
        v = (uint32_t)_mm_cvtsi128_si32(r);
        memcpy(out + 3 * (size_t)xx, &v, 3);
    }
}

static void vertical_row(const struct rvt_resize_plan *p, const uint8_t *vin, size_t vin_stride,
                         int vin_first, int yy, uint8_t *out)
{
    const int32_t *k = p->v.coeffs + (size_t)yy * p->v.ksize;
    const uint8_t *base = vin + (size_t)(p->v.bounds[2 * yy] - vin_first) * vin_stride;
    int n = p->v.bounds[2 * yy + 1], row = p->out_w * 3, i, y;
    const __m128i lo = _mm_setzero_si128();
    const __m256i zero = _mm256_setzero_si256(), top = _mm256_set1_epi32(255);

    for (i = 0; i + 8 <= row; i += 8) {
        __m256i acc = _mm256_set1_epi32(1 << (RVTI_RESIZE_BITS - 1));
        __m128i r;
        for (y = 0; y < n; y++) {
            __m256i px = _mm256_cvtepu8_epi32(
                _mm_loadl_epi64((const __m128i *)(base + (size_t)y * vin_stride + i)));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, _mm256_set1_epi32(k[y])));
        }
        acc = _mm256_srai_epi32(acc, RVTI_RESIZE_BITS);
        acc = _mm256_min_epi32(_mm256_max_epi32(acc, zero), top);
        r = _mm_packus_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        _mm_storel_epi64((__m128i *)(out + i), _mm_packus_epi16(r, lo));
    }
    if (i < row)
        rvti_resize_v_bytes(p, vin, vin_stride, vin_first, yy, i, row, out);
}

static void resize_rgb24_avx2(const struct rvt_resize_plan *p, const uint8_t *src,
                              size_t src_stride, uint8_t *dst, uint8_t *tmp)
{
    const uint8_t *vin = src;
    size_t vin_stride = src_stride, row = (size_t)p->out_w * 3;
    int vin_first = 0, y;

    if (p->need_h) {
        for (y = p->y_first; y < p->y_last; y++)
            horizontal_row(p, src + (size_t)y * src_stride, tmp + (size_t)(y - p->y_first) * row);
        vin = tmp;
        vin_stride = row;
        vin_first = p->y_first;
    }
    if (!p->need_v) {
        for (y = 0; y < p->out_h; y++)
            memcpy(dst + (size_t)y * row, vin + (size_t)(y + p->y_first - vin_first) * vin_stride,
                   row);
        return;
    }
    for (y = 0; y < p->out_h; y++)
        vertical_row(p, vin, vin_stride, vin_first, y, dst + (size_t)y * row);
}

const struct rvt_resize_kernels rvti_resize_kernels_avx2 = {RVT_ISA_AVX2, resize_rgb24_avx2};
