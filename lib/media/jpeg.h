/*
 * jpeg.h: a JPEG round trip in memory, equal byte for byte to PIL's
 *
 *     buf = io.BytesIO(); Image.fromarray(rgb).save(buf, "JPEG", quality=q)
 *     Image.open(buf).convert("RGB")
 *
 * for models trained on stills that were saved as JPEG first (image.jpeg_quality,
 * schemas/frames.md).  Both sides call the same libjpeg (Debian's Pillow links
 * libjpeg62-turbo) with the same settings, so the pixels are the same, not close.
 * ref: Pillow 9.4 src/libImaging/JpegEncode.c and JpegDecode.c:
 *   encode  in_color_space JCS_RGB, 3 components; jpeg_set_defaults (YCbCr,
 *           4:2:0 = luma 2x2, chroma 1x1, JDCT_ISLOW, Huffman tables of the
 *           standard, no optimize_coding, baseline sequential), then
 *           jpeg_set_quality(q, force_baseline = TRUE) (IJG scaling: q < 50 ->
 *           5000 / q %, else 200 - 2q %; entries clamped to 1..255); smoothing 0,
 *           no restart markers.  JFIF header written (density does not change pixels).
 *   decode  jpeg_read_header, out_color_space JCS_RGB, libjpeg's defaults:
 *           JDCT_ISLOW, fancy (triangle) upsampling, no scaling, no block smoothing
 *           change (on by default, only used by progressive files).
 *
 * Usage (one codec per worker thread; it keeps its compressed buffer and libjpeg
 * objects from call to call, so memory does not grow with the number of frames):
 *   struct rvt_jpeg *j;
 *   rvt_jpeg_create(&j, &err);
 *   rvt_jpeg_roundtrip(j, rgb, w, h, 75, &err);   // rgb: w * h * 3 bytes, in place
 *   rvt_jpeg_free(&j);
 *
 * Thread rule: a codec is used by one thread at a time; codecs are independent.
 * Errors (RVT_ENOMEM, or RVT_EFORMAT for a stream libjpeg refuses) carry
 * libjpeg's own message; callers prefix the file.
 */
#ifndef RVT_MEDIA_JPEG_H
#define RVT_MEDIA_JPEG_H

#include "core/common.h"

#define RVT_JPEG_MAX_SIZE 65500 /* libjpeg's JPEG_MAX_DIMENSION */

struct rvt_jpeg;

int rvt_jpeg_create(struct rvt_jpeg **out, struct rvt_error *err);
void rvt_jpeg_free(struct rvt_jpeg **j);

/*
 * Encodes packed RGB24 (h rows of w * 3 bytes, stride bytes apart) at quality
 * 1..100.  *data (owned by j, valid until the next call on j) receives the JPEG
 * file, *size its bytes.
 */
int rvt_jpeg_encode(struct rvt_jpeg *j, const uint8_t *rgb, int w, int h, size_t stride,
                    int quality, const uint8_t **data, size_t *size, struct rvt_error *err);
/* Decodes a 3-component JPEG of exactly w x h into packed RGB24 (w * h * 3 bytes). */
int rvt_jpeg_decode(struct rvt_jpeg *j, const uint8_t *data, size_t size, uint8_t *rgb, int w,
                    int h, struct rvt_error *err);
/* Encode at quality, then decode over rgb (packed w * h * 3 bytes). */
int rvt_jpeg_roundtrip(struct rvt_jpeg *j, uint8_t *rgb, int w, int h, int quality,
                       struct rvt_error *err);

/* "libjpeg-turbo 2.1.5 (libjpeg API 62)", for --version and logs. */
const char *rvt_jpeg_version(void);

#endif
