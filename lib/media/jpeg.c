/* jpeg.c: PIL-equal JPEG round trip on libjpeg (jpeg.h). */
#include "core/common.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "media/jpeg.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * libjpeg reports errors through error_exit, which must not return: ours keeps
 * the message and longjmps back into the rvt_jpeg_* call that is running.
 * Warnings (a corrupt stream libjpeg can still decode) are not printed.
 */
struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
};

struct rvt_jpeg {
    struct jpeg_compress_struct c;
    struct jpeg_decompress_struct d;
    struct jerr ce, de;
    struct jpeg_destination_mgr dst;
    struct jpeg_source_mgr src;
    bool have_c, have_d;
    uint8_t *buf; /* compressed bytes, grown as needed and kept */
    size_t cap, len;
    bool oom;     /* the destination could not grow */
};

static void on_error(j_common_ptr cinfo)
{
    struct jerr *e = (struct jerr *)cinfo->err;
    e->pub.format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* ---- destination: the codec's growing buffer ---- */

static void dst_init(j_compress_ptr c)
{
    struct rvt_jpeg *j = c->client_data;
    c->dest->next_output_byte = j->buf;
    c->dest->free_in_buffer = j->cap;
}

static boolean dst_empty(j_compress_ptr c)
{
    struct rvt_jpeg *j = c->client_data;
    size_t cap = 2 * j->cap;
    uint8_t *nb = realloc(j->buf, cap);

    if (!nb) {
        j->oom = true;
        c->err->msg_code = JERR_OUT_OF_MEMORY;
        c->err->error_exit((j_common_ptr)c);
    }
    /* called when the buffer is full: the old bytes stay, the new half is free */
    c->dest->next_output_byte = nb + j->cap;
    c->dest->free_in_buffer = cap - j->cap;
    j->buf = nb;
    j->cap = cap;
    return TRUE;
}

static void dst_term(j_compress_ptr c)
{
    struct rvt_jpeg *j = c->client_data;
    j->len = j->cap - c->dest->free_in_buffer;
}

/* ---- source: one buffer in memory ---- */

static void src_init(j_decompress_ptr d)
{
    (void)d;
}

/* Past the end: a fake EOI marker, as libjpeg's own sources do (a warning). */
static boolean src_fill(j_decompress_ptr d)
{
    static const JOCTET eoi[2] = {0xFF, JPEG_EOI};
    d->err->msg_code = JWRN_JPEG_EOF;
    d->err->emit_message((j_common_ptr)d, -1);
    d->src->next_input_byte = eoi;
    d->src->bytes_in_buffer = 2;
    return TRUE;
}

static void src_skip(j_decompress_ptr d, long n)
{
    if (n <= 0)
        return;
    while ((size_t)n > d->src->bytes_in_buffer) {
        n -= (long)d->src->bytes_in_buffer;
        d->src->fill_input_buffer(d);
    }
    d->src->next_input_byte += n;
    d->src->bytes_in_buffer -= (size_t)n;
}

static void src_term(j_decompress_ptr d)
{
    (void)d;
}

/* ---- lifecycle ---- */

int rvt_jpeg_create(struct rvt_jpeg **out, struct rvt_error *err)
{
    struct rvt_jpeg *j = calloc(1, sizeof(*j));

    *out = NULL;
    if (!j)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    j->c.err = jpeg_std_error(&j->ce.pub);
    j->ce.pub.error_exit = on_error;
    j->ce.pub.output_message = on_message;
    j->d.err = jpeg_std_error(&j->de.pub);
    j->de.pub.error_exit = on_error;
    j->de.pub.output_message = on_message;
    if (setjmp(j->ce.jump)) {
        rvt_error_set(err, RVT_ENOMEM, "jpeg: %s", j->ce.msg);
        rvt_jpeg_free(&j);
        return RVT_ENOMEM;
    }
    jpeg_create_compress(&j->c);
    j->have_c = true;
    if (setjmp(j->de.jump)) {
        rvt_error_set(err, RVT_ENOMEM, "jpeg: %s", j->de.msg);
        rvt_jpeg_free(&j);
        return RVT_ENOMEM;
    }
    jpeg_create_decompress(&j->d);
    j->have_d = true;
    j->c.client_data = j;
    j->dst.init_destination = dst_init;
    j->dst.empty_output_buffer = dst_empty;
    j->dst.term_destination = dst_term;
    j->c.dest = &j->dst;
    j->src.init_source = src_init;
    j->src.fill_input_buffer = src_fill;
    j->src.skip_input_data = src_skip;
    j->src.resync_to_restart = jpeg_resync_to_restart;
    j->src.term_source = src_term;
    j->d.src = &j->src;
    *out = j;
    return 0;
}

void rvt_jpeg_free(struct rvt_jpeg **jp)
{
    struct rvt_jpeg *j = *jp;

    if (!j)
        return;
    if (j->have_c)
        jpeg_destroy_compress(&j->c);
    if (j->have_d)
        jpeg_destroy_decompress(&j->d);
    free(j->buf);
    free(j);
    *jp = NULL;
}

/* ---- encode / decode ---- */

int rvt_jpeg_encode(struct rvt_jpeg *j, const uint8_t *rgb, int w, int h, size_t stride,
                    int quality, const uint8_t **data, size_t *size, struct rvt_error *err)
{
    JSAMPROW rows[16];

    if (w < 1 || h < 1 || w > RVT_JPEG_MAX_SIZE || h > RVT_JPEG_MAX_SIZE)
        return rvt_error_set(err, RVT_EINVAL, "jpeg: picture size %dx%d is out of range 1-%d", w,
                             h, RVT_JPEG_MAX_SIZE);
    if (quality < 1 || quality > 100)
        return rvt_error_set(err, RVT_EINVAL, "jpeg: quality must be 1-100, got %d", quality);
    j->oom = false;
    j->len = 0;
    /* libjpeg stores a byte before it checks the space left: never start empty */
    if (j->cap < 65536) {
        uint8_t *nb = realloc(j->buf, 65536);
        if (!nb)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        j->buf = nb;
        j->cap = 65536;
    }
    if (setjmp(j->ce.jump)) {
        jpeg_abort_compress(&j->c);
        return rvt_error_set(err, j->oom ? RVT_ENOMEM : RVT_EFORMAT, "jpeg: %s", j->ce.msg);
    }
    j->c.image_width = (JDIMENSION)w;
    j->c.image_height = (JDIMENSION)h;
    j->c.input_components = 3;
    j->c.in_color_space = JCS_RGB;
    /* Pillow's order: defaults, then the quality (force_baseline TRUE), subsampling
     * left at the library's 2x2 luma, smoothing 0, no optimize, no restarts */
    jpeg_set_defaults(&j->c);
    jpeg_set_quality(&j->c, quality, TRUE);
    j->c.smoothing_factor = 0;
    j->c.optimize_coding = FALSE;
    j->c.restart_interval = 0;
    j->c.restart_in_rows = 0;
    jpeg_start_compress(&j->c, TRUE);
    while (j->c.next_scanline < j->c.image_height) {
        JDIMENSION y = j->c.next_scanline, n = 0;
        while (n < RVT_ARRAY_SIZE(rows) && y + n < j->c.image_height) {
            rows[n] = (JSAMPROW)(uintptr_t)(rgb + (size_t)(y + n) * stride); /* read only */
            n++;
        }
        jpeg_write_scanlines(&j->c, rows, n);
    }
    jpeg_finish_compress(&j->c);
    *data = j->buf;
    *size = j->len;
    return 0;
}

int rvt_jpeg_decode(struct rvt_jpeg *j, const uint8_t *data, size_t size, uint8_t *rgb, int w,
                    int h, struct rvt_error *err)
{
    JSAMPROW rows[16];

    if (setjmp(j->de.jump)) {
        jpeg_abort_decompress(&j->d);
        return rvt_error_set(err, RVT_EFORMAT, "jpeg: %s", j->de.msg);
    }
    j->src.next_input_byte = data;
    j->src.bytes_in_buffer = size;
    jpeg_read_header(&j->d, TRUE);
    if (j->d.image_width != (JDIMENSION)w || j->d.image_height != (JDIMENSION)h ||
        j->d.num_components != 3) {
        int gw = (int)j->d.image_width, gh = (int)j->d.image_height, gc = j->d.num_components;
        jpeg_abort_decompress(&j->d);
        return rvt_error_set(err, RVT_EFORMAT, "jpeg: a %dx%d picture of %d components, expected "
                             "%dx%d RGB", gw, gh, gc, w, h);
    }
    j->d.out_color_space = JCS_RGB; /* the rest at libjpeg's defaults, as Pillow */
    jpeg_start_decompress(&j->d);
    while (j->d.output_scanline < j->d.output_height) {
        JDIMENSION y = j->d.output_scanline, n = 0;
        while (n < RVT_ARRAY_SIZE(rows) && y + n < j->d.output_height) {
            rows[n] = rgb + (size_t)(y + n) * (size_t)w * 3;
            n++;
        }
        jpeg_read_scanlines(&j->d, rows, n);
    }
    jpeg_finish_decompress(&j->d);
    return 0;
}

int rvt_jpeg_roundtrip(struct rvt_jpeg *j, uint8_t *rgb, int w, int h, int quality,
                       struct rvt_error *err)
{
    const uint8_t *data;
    size_t size;
    int ret = rvt_jpeg_encode(j, rgb, w, h, (size_t)w * 3, quality, &data, &size, err);

    if (ret >= 0)
        ret = rvt_jpeg_decode(j, data, size, rgb, w, h, err);
    return ret;
}

const char *rvt_jpeg_version(void)
{
#ifdef LIBJPEG_TURBO_VERSION
    return "libjpeg-turbo " STR(LIBJPEG_TURBO_VERSION) " (libjpeg API " STR(JPEG_LIB_VERSION) ")";
#else
    return "libjpeg " STR(JPEG_LIB_VERSION);
#endif
}
