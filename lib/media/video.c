/* video.c: demux, pick, decode, rotate, convert, crop and resize (see video.h). */
#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "core/log.h"
#include "media/jpeg.h"
#include "media/video.h"
#include "core/inputs.h"

/* libswscale flags matching RVT_VIDEO_SWS_FLAGS_TEXT */
#define RVT_SWS_FLAGS (SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT)

struct pres {
    int64_t pts;
    size_t pkt; /* index in decode order */
};

struct rvt_video_reader {
    struct rvt_frames_opts o;

    /* one clip's video packets in decode order; the AVPacket structs are kept
     * from clip to clip, their data is released after each clip */
    AVPacket **pkts;
    size_t n_pkts, cap_pkts, pkt_bytes;

    /* presented frames, sorted by pts */
    struct pres *pres;
    int64_t *pres_pts;             /* pres[i].pts, for rvt_pick_frames */
    size_t n_pres, cap_pres, cap_pres_pts;

    struct rvt_pick cv_pick;       /* cv-middle: o.pick with this clip's target */

    /* the K targets */
    size_t pick[RVT_FRAMES_MAX];   /* index into pres_* */
    int64_t target_pts[RVT_FRAMES_MAX];
    size_t target_pkt[RVT_FRAMES_MAX];
    bool filled[RVT_FRAMES_MAX];
    bool *is_target;               /* per packet; cap_pkts */

    /* the decoder, kept from clip to clip while the stream parameters stay the
     * same: a new context would allocate (and zero) a new frame pool per clip,
     * which costs as much as decoding several frames */
    AVCodecContext *dec;
    AVCodecParameters *dec_par;    /* what dec was opened with */
    AVRational dec_tb;

    AVFrame *frame;                /* decoder output */
    AVFrame *rot;                  /* rotated copy */

    struct SwsContext *sws;        /* cached for (w, h, format, colorspace, range) */
    int sws_w, sws_h, sws_fmt, sws_cs, sws_range;

    uint8_t *rgb;                  /* full-size RGB24 (opencv: BGR24 at coded size) */
    size_t rgb_cap;
    int rgb_stride;
    uint8_t *rgb2;                 /* opencv: the displayed picture, RGB, rotated */
    size_t rgb2_cap;

    struct rvt_cv_resize_plan cv_plan; /* resize opencv: cached like plan */
    bool have_cv_plan;

    struct rvt_resize_plan plan;   /* cached for (crop w, h) -> (out_w, out_h) */
    rvt_resize_rgb24_fn resize;    /* the kernel for this CPU */
    bool have_plan;
    uint8_t *tmp;
    size_t tmp_cap;

    struct rvt_jpeg *jpeg;         /* image.jpeg_quality > 0: the round trip's codec */
};

/* one clip's decoding state */
struct clip {
    const char *path;
    AVFormatContext *fmt;
    AVStream *st;
    AVCodecContext *dec;
    int rotation;                  /* clockwise degrees */
    uint8_t *frames;               /* output */
    struct rvt_video_info *info;
    bool decoding;                 /* packets went to the decoder */
};

static const char *av_err(int e, char *buf, size_t n)
{
    av_strerror(e, buf, n);
    return buf;
}

int rvt_video_reader_create(struct rvt_video_reader **out, const struct rvt_frames_opts *o,
                            struct rvt_error *err)
{
    struct rvt_video_reader *r;
    int ret;

    *out = NULL;
    if ((ret = rvt_frames_opts_check(o, err)) < 0)
        return ret;
    r = calloc(1, sizeof(*r));
    if (!r)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    r->o = *o;
    r->resize = rvt_resize_kernels()->rgb24;
    r->frame = av_frame_alloc();
    r->rot = av_frame_alloc();
    if (!r->frame || !r->rot) {
        rvt_video_reader_free(&r);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    if (o->jpeg_quality > 0 && (ret = rvt_jpeg_create(&r->jpeg, err)) < 0) {
        rvt_video_reader_free(&r);
        return ret;
    }
    *out = r;
    return 0;
}

void rvt_video_reader_free(struct rvt_video_reader **rp)
{
    struct rvt_video_reader *r = *rp;
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->cap_pkts; i++)
        av_packet_free(&r->pkts[i]);
    free(r->pkts);
    free(r->is_target);
    free(r->pres);
    free(r->pres_pts);
    avcodec_free_context(&r->dec);
    avcodec_parameters_free(&r->dec_par);
    av_frame_free(&r->frame);
    av_frame_free(&r->rot);
    sws_freeContext(r->sws);
    av_free(r->rgb);
    av_free(r->rgb2);
    rvt_resize_plan_release(&r->plan);
    rvt_cv_resize_plan_release(&r->cv_plan);
    free(r->tmp);
    rvt_jpeg_free(&r->jpeg);
    free(r);
    *rp = NULL;
}

/* ---------------------------------------------------------------- demux */

static int open_input(struct clip *c, struct rvt_error *err)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    AVCodecParameters *par;
    int ret, idx;
    unsigned i;

    if ((ret = rvt_input_check(c->path, err)) < 0)
        return ret;
    ret = avformat_open_input(&c->fmt, c->path, NULL, NULL);
    if (ret < 0)
        return rvt_error_set(err, ret == AVERROR(ENOENT) ? RVT_EIO : RVT_EFORMAT,
                             "cannot open '%s': %s", c->path, av_err(ret, eb, sizeof(eb)));
    idx = av_find_best_stream(c->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (idx < 0 || (c->fmt->streams[idx]->disposition & AV_DISPOSITION_ATTACHED_PIC))
        return rvt_error_set(err, RVT_EFORMAT, "'%s': no video stream", c->path);
    c->st = c->fmt->streams[idx];
    par = c->st->codecpar;
    /* mp4/mov/mkv headers give size and extradata; probing (decoding a few
     * frames per stream) is only worth it when they do not */
    if (par->width <= 0 || par->height <= 0) {
        ret = avformat_find_stream_info(c->fmt, NULL);
        if (ret < 0)
            return rvt_error_set(err, RVT_EFORMAT, "'%s': cannot read stream info: %s", c->path,
                                 av_err(ret, eb, sizeof(eb)));
    }
    for (i = 0; i < c->fmt->nb_streams; i++)
        c->fmt->streams[i]->discard = (int)i == idx ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 64;
    void *q;
    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static int read_packets(struct rvt_video_reader *r, struct clip *c, struct rvt_error *err)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    int ret, n_index;

    r->n_pkts = 0;
    r->pkt_bytes = 0;
    for (;;) {
        AVPacket *pkt;
        if (r->n_pkts == r->cap_pkts) {
            size_t old = r->cap_pkts, cap2 = old;
            if (old >= RVT_VIDEO_MAX_PACKETS)
                return rvt_error_set(err, RVT_ELIMIT, "'%s': more than %u video packets",
                                     c->path, RVT_VIDEO_MAX_PACKETS);
            if (grow((void **)&r->pkts, &r->cap_pkts, old + 1, sizeof(*r->pkts)) < 0 ||
                grow((void **)&r->is_target, &cap2, old + 1, sizeof(*r->is_target)) < 0)
                return rvt_error_set(err, RVT_ENOMEM, "out of memory");
            memset(r->pkts + old, 0, (r->cap_pkts - old) * sizeof(*r->pkts));
        }
        if (!r->pkts[r->n_pkts] && !(r->pkts[r->n_pkts] = av_packet_alloc()))
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        pkt = r->pkts[r->n_pkts];
        ret = av_read_frame(c->fmt, pkt);
        if (ret == AVERROR_EOF)
            break;
        if (ret < 0)
            return rvt_error_set(err, RVT_EFORMAT, "cannot read '%s': %s", c->path,
                                 av_err(ret, eb, sizeof(eb)));
        if (pkt->stream_index != c->st->index) {
            av_packet_unref(pkt);
            continue;
        }
        r->n_pkts++;
        if (pkt->flags & AV_PKT_FLAG_CORRUPT)
            return rvt_error_set(err, RVT_EFORMAT,
                                 "'%s': truncated or corrupt (video packet %zu is incomplete)",
                                 c->path, r->n_pkts - 1);
        if (pkt->pts == AV_NOPTS_VALUE)
            return rvt_error_set(err, RVT_EUNSUPPORTED,
                                 "'%s': video packet %zu has no timestamp", c->path,
                                 r->n_pkts - 1);
        r->pkt_bytes += (size_t)pkt->size;
        if (r->pkt_bytes > RVT_VIDEO_MAX_PACKET_BYTES)
            return rvt_error_set(err, RVT_ELIMIT, "'%s': more than %llu bytes of video",
                                 c->path, (unsigned long long)RVT_VIDEO_MAX_PACKET_BYTES);
    }
    /* a file cut short keeps its sample table: fewer packets than entries */
    n_index = avformat_index_get_entries_count(c->st);
    if (n_index > 0 && r->n_pkts < (size_t)n_index)
        return rvt_error_set(err, RVT_EFORMAT,
                             "'%s': truncated (%zu of %d video samples present)", c->path,
                             r->n_pkts, n_index);
    return 0;
}

static int by_pts(const void *a, const void *b)
{
    const struct pres *x = a, *y = b;
    if (x->pts != y->pts)
        return x->pts < y->pts ? -1 : 1;
    return x->pkt < y->pkt ? -1 : x->pkt > y->pkt;
}

/* Presented frames (packets not flagged discard), sorted by pts; *end = the
 * stream's end in ticks. */
static int list_frames(struct rvt_video_reader *r, struct clip *c, int64_t *end,
                       struct rvt_error *err)
{
    size_t i, n = 0, cap2 = r->cap_pres_pts;
    const AVPacket *last;

    if (grow((void **)&r->pres, &r->cap_pres, r->n_pkts, sizeof(*r->pres)) < 0 ||
        grow((void **)&r->pres_pts, &cap2, r->n_pkts, sizeof(*r->pres_pts)) < 0)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    r->cap_pres_pts = cap2;
    for (i = 0; i < r->n_pkts; i++)
        if (!(r->pkts[i]->flags & AV_PKT_FLAG_DISCARD)) {
            r->pres[n].pts = r->pkts[i]->pts;
            r->pres[n++].pkt = i;
        }
    r->n_pres = n;
    if (n == 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': no video frames", c->path);
    qsort(r->pres, n, sizeof(*r->pres), by_pts);
    for (i = 0; i < n; i++)
        r->pres_pts[i] = r->pres[i].pts;
    last = r->pkts[r->pres[n - 1].pkt];
    if (last->duration > 0)
        *end = last->pts + last->duration;
    else if (n > 1) /* no durations in the container: the mean frame interval */
        *end = last->pts + (last->pts - r->pres[0].pts) / (int64_t)(n - 1);
    else
        *end = last->pts;
    return 0;
}

/* ---------------------------------------------------------------- geometry */

/* Clockwise degrees the ffmpeg CLI's autorotate would apply (0/90/180/270). */
static int stream_rotation(struct clip *c, struct rvt_error *err)
{
    const uint8_t *m = av_stream_get_side_data(c->st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    double theta;
    if (!m)
        return 0;
    theta = -round(av_display_rotation_get((const int32_t *)m));
    if (isnan(theta))
        return 0;
    theta -= 360 * floor(theta / 360 + 0.9 / 360);
    if (fabs(theta) < 1.0 || fabs(theta - 360) < 1.0)
        return 0;
    if (fabs(theta - 90) < 1.0)
        return 90;
    if (fabs(theta - 180) < 1.0)
        return 180;
    if (fabs(theta - 270) < 1.0)
        return 270;
    return rvt_error_set(err, RVT_EUNSUPPORTED,
                         "'%s': display rotation of %.0f degrees is not a multiple of 90",
                         c->path, theta);
}

/*
 * Rotates every plane of src into dst (clockwise by rot degrees), element by
 * element (an element is a plane's largest pixel step: 1 byte for yuv420p,
 * 2 for the interleaved UV of nv12 or 16-bit formats).  90/270 need equal
 * horizontal and vertical chroma subsampling, as the CLI's transpose filter.
 */
static int rotate_frame(AVFrame *dst, const AVFrame *src, int rot, struct rvt_error *err)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(src->format);
    int steps[4], p, n_planes, ret;
    bool swap = rot == 90 || rot == 270;
    int dw = swap ? src->height : src->width, dh = swap ? src->width : src->height;

    if (!d || (d->flags & (AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL |
                           AV_PIX_FMT_FLAG_PAL)) ||
        (swap && d->log2_chroma_w != d->log2_chroma_h))
        return rvt_error_set(err, RVT_EUNSUPPORTED, "cannot rotate pixel format %s",
                             d ? d->name : "?");
    if (dst->format != src->format || dst->width != dw || dst->height != dh) {
        av_frame_unref(dst);
        dst->format = src->format;
        dst->width = dw;
        dst->height = dh;
        if ((ret = av_frame_get_buffer(dst, 0)) < 0)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    if ((ret = av_frame_make_writable(dst)) < 0)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    dst->color_range = src->color_range;
    dst->colorspace = src->colorspace;
    dst->pts = src->pts;
    av_image_fill_max_pixsteps(steps, NULL, d);
    n_planes = av_pix_fmt_count_planes(src->format);
    for (p = 0; p < n_planes; p++) {
        bool chroma = (p == 1 || p == 2) && !(d->flags & AV_PIX_FMT_FLAG_RGB);
        int sw = chroma ? AV_CEIL_RSHIFT(src->width, d->log2_chroma_w) : src->width;
        int sh = chroma ? AV_CEIL_RSHIFT(src->height, d->log2_chroma_h) : src->height;
        int e = steps[p], x, y;
        const uint8_t *s = src->data[p];
        uint8_t *o = dst->data[p];
        ptrdiff_t ss = src->linesize[p], os = dst->linesize[p];
        /* destination (y, x) <- source element */
        for (y = 0; y < (swap ? sw : sh); y++) {
            uint8_t *orow = o + y * os;
            for (x = 0; x < (swap ? sh : sw); x++) {
                const uint8_t *from;
                if (rot == 90)
                    from = s + (sh - 1 - x) * ss + (ptrdiff_t)y * e;
                else if (rot == 270)
                    from = s + x * ss + (ptrdiff_t)(sw - 1 - y) * e;
                else
                    from = s + (sh - 1 - y) * ss + (ptrdiff_t)(sw - 1 - x) * e;
                memcpy(orow + (ptrdiff_t)x * e, from, e);
            }
        }
    }
    return 0;
}

/* The CLI's scale filter (5.1) colour handling: matrix from the frame's
 * colorspace (sws_getCoefficients, BT.601 when unspecified), the same table
 * for the output, input range from the frame when tagged. */
static int setup_sws(struct rvt_video_reader *r, const AVFrame *f, struct rvt_error *err)
{
    int cs = f->colorspace, range = f->color_range;
    int *inv, *tab, in_full, out_full, bri, con, sat;
    const int *coefs;
    struct SwsContext *s;

    if (r->sws && r->sws_w == f->width && r->sws_h == f->height && r->sws_fmt == f->format &&
        r->sws_cs == cs && r->sws_range == range)
        return 0;
    sws_freeContext(r->sws);
    r->sws = s = sws_alloc_context();
    if (!s)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    av_opt_set_int(s, "srcw", f->width, 0);
    av_opt_set_int(s, "srch", f->height, 0);
    av_opt_set_int(s, "src_format", f->format, 0);
    av_opt_set_int(s, "dstw", f->width, 0);
    av_opt_set_int(s, "dsth", f->height, 0);
    av_opt_set_int(s, "dst_format", AV_PIX_FMT_RGB24, 0);
    /* ffmpeg: the CLI's auto-inserted scale filter, its sws_flags default */
    av_opt_set_int(s, "sws_flags",
                   r->o.convert == RVT_CONVERT_FFMPEG ? SWS_BICUBIC : RVT_SWS_FLAGS, 0);
    /* MPEG-2 vertical chroma siting, as vf_scale sets for yuv420p input */
    if (f->format == AV_PIX_FMT_YUV420P)
        av_opt_set_int(s, "src_v_chr_pos", 128, 0);
    if (sws_init_context(s, NULL, NULL) < 0) {
        sws_freeContext(s);
        r->sws = NULL;
        return rvt_error_set(err, RVT_EUNSUPPORTED, "cannot convert %s %dx%d to RGB",
                             av_get_pix_fmt_name(f->format), f->width, f->height);
    }
    sws_getColorspaceDetails(s, &inv, &in_full, &tab, &out_full, &bri, &con, &sat);
    if (cs < 1 || cs > 10 || cs == 8) /* parse_yuv_type("auto") of vf_scale */
        cs = AVCOL_SPC_BT470BG;
    coefs = sws_getCoefficients(cs);
    if (range != AVCOL_RANGE_UNSPECIFIED)
        in_full = range == AVCOL_RANGE_JPEG;
    sws_setColorspaceDetails(s, coefs, in_full, coefs, out_full, bri, con, sat);
    r->sws_w = f->width;
    r->sws_h = f->height;
    r->sws_fmt = f->format;
    r->sws_cs = f->colorspace;
    r->sws_range = range;
    return 0;
}

static int grow_av(uint8_t **p, size_t *cap, size_t need, struct rvt_error *err)
{
    if (need <= *cap)
        return 0;
    av_free(*p);
    *cap = 0;
    if (!(*p = av_malloc(need)))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    *cap = need;
    return 0;
}

/* Whether every plane of f's buffers holds `rows` rows (of the luma height). */
static bool frame_has_rows(const AVFrame *f, int rows)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
    int p, n = av_pix_fmt_count_planes(f->format);

    if (!d || n <= 0)
        return false;
    for (p = 0; p < n; p++) {
        bool chroma = (p == 1 || p == 2) && !(d->flags & AV_PIX_FMT_FLAG_RGB);
        int ph = chroma ? AV_CEIL_RSHIFT(rows, d->log2_chroma_h) : rows;
        const AVBufferRef *b = av_frame_get_plane_buffer((AVFrame *)f, p);
        if (!b || f->linesize[p] <= 0 || f->data[p] < b->data ||
            (size_t)(f->data[p] - b->data) + (size_t)f->linesize[p] * ph > b->size)
            return false;
    }
    return true;
}

/* A picture in RGB24: rows of w * 3 bytes, stride apart. */
struct rgb_pic {
    const uint8_t *data;
    int stride, w, h;
};

/*
 * opencv and pyav: libswscale as those clients call it, sws_getCachedContext
 * with nothing but a flag (BT.601 matrix, limited range unless the format is
 * yuvj*, default chroma siting); the frame's colour tags are not read.
 *   opencv (4.6 cap_ffmpeg_impl.hpp, CvCapture_FFMPEG::retrieveFrame): SWS_BICUBIC
 *     to BGR24 over the decoder's coded_width x coded_height, slice height the
 *     frame's height, the displayed w x h kept; then cv::rotate by the display
 *     matrix (CAP_PROP_ORIENTATION_AUTO is on by default).
 *   pyav (10.0 VideoReformatter.reformat): SWS_BILINEAR to RGB24 at the frame's
 *     size; no rotation.
 * The destination stride holds whole groups of 8 pixels: libswscale's x86
 * unscaled YUV->RGB writes 8 at a time and skips the last group when the
 * stride is too small (neither client hits that).
 */
static int client_rgb(struct rvt_video_reader *r, struct clip *c, const AVFrame *f, int rotation,
                      struct rgb_pic *pic, struct rvt_error *err)
{
    bool cv = r->o.convert == RVT_CONVERT_OPENCV;
    int w = f->width, h = f->height, x, y;
    int cw = w, ch = h;
    uint8_t *dstp[4] = {0};
    int dst_ls[4] = {0};

    if (cv && c->dec->coded_width >= w && c->dec->coded_height >= h) {
        cw = c->dec->coded_width;
        ch = c->dec->coded_height;
    }
    /* our own cache key, not sws_getCachedContext's: that one compares the
     * format after libswscale turned yuvj420p into yuv420p + full range, so a
     * yuv420p clip after a yuvj420p one would reuse the full-range context */
    if (!r->sws || r->sws_w != cw || r->sws_h != ch || r->sws_fmt != f->format ||
        r->sws_cs != -2) {
        sws_freeContext(r->sws);
        r->sws = sws_getContext(cw, ch, f->format, cw, ch, cv ? AV_PIX_FMT_BGR24 : AV_PIX_FMT_RGB24,
                                cv ? SWS_BICUBIC : SWS_BILINEAR, NULL, NULL, NULL);
        if (!r->sws)
            return rvt_error_set(err, RVT_EUNSUPPORTED, "cannot convert %s %dx%d to RGB",
                                 av_get_pix_fmt_name(f->format), f->width, f->height);
        r->sws_w = cw;
        r->sws_h = ch;
        r->sws_fmt = f->format;
        r->sws_cs = -2; /* never a colorspace: setup_sws will not take it */
    }
    r->rgb_stride = FFALIGN(FFALIGN(cw, 8) * 3, 64);
    if (grow_av(&r->rgb, &r->rgb_cap, (size_t)r->rgb_stride * ch + 64, err) < 0)
        return RVT_ENOMEM;
    dstp[0] = r->rgb;
    dst_ls[0] = r->rgb_stride;
    /* OpenCV passes the frame's h rows as a slice of a ch-row picture.  The
     * unscaled 4:2:0/4:2:2 path converts them all; the scaled one (10-bit,
     * 4:2:0 with an odd coded height, ...) holds back the last rows waiting
     * for the rest of the picture, and OpenCV shows what its buffer kept from
     * an earlier frame there.  We convert all ch rows when the decoder's
     * buffers hold them (they do for padded codecs), which gives those rows
     * from this frame, and else clear the picture so the output is defined. */
    if (cv && ch > h) {
        if (frame_has_rows(f, ch))
            h = ch;
        else
            memset(r->rgb, 0, (size_t)r->rgb_stride * ch);
    }
    if (sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dstp, dst_ls) <= 0)
        return rvt_error_set(err, RVT_EFORMAT, "RGB conversion failed");
    h = f->height;
    if (!cv) {
        *pic = (struct rgb_pic){r->rgb, r->rgb_stride, w, h};
        return 0;
    }
    /* BGR -> RGB and OpenCV's turn, which goes the other way than the CLI's
     * autorotate: a clip the CLI turns 90 degrees clockwise comes out of
     * cap.read() turned 90 degrees counter-clockwise (tested) */
    rotation = (360 - rotation) % 360;
    {
        bool swap = rotation == 90 || rotation == 270;
        int dw = swap ? h : w, dh = swap ? w : h;
        size_t ds = (size_t)dw * 3;
        if (grow_av(&r->rgb2, &r->rgb2_cap, ds * dh + 64, err) < 0)
            return RVT_ENOMEM;
        for (y = 0; y < dh; y++) {
            uint8_t *o = r->rgb2 + y * ds;
            for (x = 0; x < dw; x++) {
                int sx, sy;
                const uint8_t *s;
                if (rotation == 90)
                    sx = y, sy = h - 1 - x;
                else if (rotation == 270)
                    sx = w - 1 - y, sy = x;
                else if (rotation == 180)
                    sx = w - 1 - x, sy = h - 1 - y;
                else
                    sx = x, sy = y;
                s = r->rgb + (size_t)sy * r->rgb_stride + (size_t)sx * 3;
                o[3 * x] = s[2];
                o[3 * x + 1] = s[1];
                o[3 * x + 2] = s[0];
            }
        }
        *pic = (struct rgb_pic){r->rgb2, (int)ds, dw, dh};
    }
    return 0;
}

/* Step 6 (and 5): frame f as an RGB picture, the way image.convert says;
 * *sar is turned with the picture. */
static int to_rgb(struct rvt_video_reader *r, struct clip *c, AVFrame *f, AVRational *sar,
                  struct rgb_pic *pic, struct rvt_error *err)
{
    uint8_t *dstp[4] = {0};
    int dst_ls[4] = {0}, ret, rotation = c->rotation;

    if (r->o.convert == RVT_CONVERT_PYAV)
        rotation = 0; /* PyAV hands out the stored picture */
    if (rotation && rotation != 180)
        *sar = (AVRational){sar->den, sar->num};
    if (r->o.convert == RVT_CONVERT_OPENCV || r->o.convert == RVT_CONVERT_PYAV)
        return client_rgb(r, c, f, rotation, pic, err);
    if (rotation) {
        if ((ret = rotate_frame(r->rot, f, rotation, err)) < 0)
            return ret;
        f = r->rot;
    }
    if ((ret = setup_sws(r, f, err)) < 0)
        return ret;
    r->rgb_stride = FFALIGN(FFALIGN(f->width, 8) * 3, 64);
    if (grow_av(&r->rgb, &r->rgb_cap, (size_t)r->rgb_stride * f->height + 64, err) < 0)
        return RVT_ENOMEM;
    dstp[0] = r->rgb;
    dst_ls[0] = r->rgb_stride;
    ret = sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dstp,
                    dst_ls);
    if (ret != f->height)
        return rvt_error_set(err, RVT_EFORMAT, "RGB conversion failed");
    *pic = (struct rgb_pic){r->rgb, r->rgb_stride, f->width, f->height};
    return 0;
}

/* Step 8: rect of pic resized into dst (out_w x out_h, packed). */
static int resize_into(struct rvt_video_reader *r, const uint8_t *crop, int stride, int cw, int ch,
                       uint8_t *dst, struct rvt_error *err)
{
    const struct rvt_frames_opts *o = &r->o;
    size_t tmp_bytes;
    int ret;

    if (o->resize == RVT_RESIZE_OPENCV) {
        if (!r->have_cv_plan || r->cv_plan.in_w != cw || r->cv_plan.in_h != ch) {
            rvt_cv_resize_plan_release(&r->cv_plan);
            r->have_cv_plan = false;
            if ((ret = rvt_cv_resize_plan_init(&r->cv_plan, cw, ch, o->out_w, o->out_h, err)) < 0)
                return ret;
            r->have_cv_plan = true;
        }
        tmp_bytes = rvt_cv_resize_tmp_bytes(&r->cv_plan);
    } else if (cw == o->out_w && ch == o->out_h) {
        int y;
        for (y = 0; y < ch; y++)
            memcpy(dst + (size_t)y * o->out_w * 3, crop + (size_t)y * stride, (size_t)o->out_w * 3);
        return 0;
    } else {
        if (!r->have_plan || r->plan.in_w != cw || r->plan.in_h != ch) {
            rvt_resize_plan_release(&r->plan);
            r->have_plan = false;
            if ((ret = rvt_resize_plan_init(&r->plan, cw, ch, o->out_w, o->out_h, err)) < 0)
                return ret;
            r->have_plan = true;
        }
        tmp_bytes = r->plan.tmp_bytes;
    }
    if (tmp_bytes > r->tmp_cap) {
        uint8_t *t = realloc(r->tmp, tmp_bytes);
        if (!t)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        r->tmp = t;
        r->tmp_cap = tmp_bytes;
    }
    if (o->resize == RVT_RESIZE_OPENCV)
        rvt_cv_resize_rgb24(&r->cv_plan, crop, (size_t)stride, dst, (int32_t *)(void *)r->tmp);
    else
        r->resize(&r->plan, crop, (size_t)stride, dst, r->tmp);
    return 0;
}

/* Converts, crops and resizes frame f into the outputs of every target with
 * pts `pts`. */
static int emit_frame(struct rvt_video_reader *r, struct clip *c, AVFrame *f, int64_t pts,
                      struct rvt_error *err)
{
    const struct rvt_frames_opts *o = &r->o;
    AVRational sar;
    size_t frame_bytes = (size_t)o->out_w * o->out_h * 3;
    uint8_t *dst = NULL;
    int rect[4], ret, k, first = -1;
    struct rgb_pic pic = {0};

    for (k = 0; k < o->n_frames; k++)
        if (!r->filled[k] && r->target_pts[k] == pts) {
            first = k;
            break;
        }
    if (first < 0)
        return 0;
    sar = av_guess_sample_aspect_ratio(c->fmt, c->st, f);
    if ((ret = to_rgb(r, c, f, &sar, &pic, err)) < 0)
        return ret == RVT_ENOMEM ? ret : rvt_error_prefix(err, "'%s'", c->path);
    if (sar.num <= 0 || sar.den <= 0)
        sar = (AVRational){1, 1};
    if ((ret = rvt_crop_rect(&o->crop, pic.w, pic.h, sar.num, sar.den, rect, err)) < 0)
        return rvt_error_prefix(err, "'%s'", c->path);
    dst = c->frames + (size_t)first * frame_bytes;
    ret = resize_into(r, pic.data + (size_t)rect[1] * pic.stride + (size_t)rect[0] * 3, pic.stride,
                      rect[2], rect[3], dst, err);
    if (ret < 0)
        return ret;
    if (o->jpeg_quality > 0 &&
        (ret = rvt_jpeg_roundtrip(r->jpeg, dst, o->out_w, o->out_h, o->jpeg_quality, err)) < 0)
        return rvt_error_prefix(err, "'%s'", c->path);
    for (k = first; k < o->n_frames; k++)
        if (!r->filled[k] && r->target_pts[k] == pts) {
            if (k != first)
                memcpy(c->frames + (size_t)k * frame_bytes, dst, frame_bytes);
            r->filled[k] = true;
        }
    if (c->info) {
        c->info->width = pic.w;
        c->info->height = pic.h;
        c->info->sar_num = sar.num;
        c->info->sar_den = sar.den;
    }
    return 0;
}

/* ---------------------------------------------------------------- decode */

/*
 * Whether AVDISCARD_NONREF drops only frames no other frame references.
 * H.264: nal_ref_idc == 0.  MPEG-1/2/4 part 2: B-frames, never references.
 * HEVC skips "sub-layer non-reference" pictures, which pictures of a higher
 * temporal sub-layer may still reference: safe only with one sub-layer, which
 * the hvcC record states (numTemporalLayers, byte 21 bits 3-5; 0 = unknown).
 */
static bool nonref_skip_is_safe(const AVCodecParameters *par)
{
    switch (par->codec_id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_MPEG4:
    case AV_CODEC_ID_MPEG2VIDEO:
    case AV_CODEC_ID_MPEG1VIDEO:
        return true;
    case AV_CODEC_ID_HEVC:
        return par->extradata_size >= 23 && par->extradata[0] == 1 &&
               ((par->extradata[21] >> 3) & 7) == 1;
    default:
        return false;
    }
}

static bool same_params(const AVCodecParameters *a, const AVCodecParameters *b)
{
    return a->codec_id == b->codec_id && a->codec_tag == b->codec_tag &&
           a->width == b->width && a->height == b->height && a->format == b->format &&
           a->profile == b->profile && a->level == b->level &&
           a->extradata_size == b->extradata_size &&
           (!a->extradata_size || !memcmp(a->extradata, b->extradata, a->extradata_size));
}

/* Reuses the reader's decoder when the stream parameters match (flushed: it
 * restarts at a keyframe), else opens a new one. */
static int open_decoder(struct rvt_video_reader *r, struct clip *c, struct rvt_error *err)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    const AVCodecParameters *par = c->st->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    int ret;

    if (!codec) {
        char tag[AV_FOURCC_MAX_STRING_SIZE];
        av_fourcc_make_string(tag, par->codec_tag);
        return rvt_error_set(err, RVT_EUNSUPPORTED, "'%s': unsupported video codec '%s' (%s)",
                             c->path, avcodec_get_name(par->codec_id), tag);
    }
    if (r->dec && same_params(r->dec_par, par) && !av_cmp_q(r->dec_tb, c->st->time_base)) {
        avcodec_flush_buffers(r->dec);
        c->dec = r->dec;
        return 0;
    }
    rvt_debugf("'%s': %s decoder %s", c->path, codec->name, r->dec ? "reopened" : "opened");
    avcodec_free_context(&r->dec);
    if (!r->dec_par && !(r->dec_par = avcodec_parameters_alloc()))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if (!(r->dec = avcodec_alloc_context3(codec)) ||
        avcodec_parameters_to_context(r->dec, par) < 0 ||
        avcodec_parameters_copy(r->dec_par, par) < 0) {
        avcodec_free_context(&r->dec);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    r->dec->pkt_timebase = r->dec_tb = c->st->time_base;
    r->dec->thread_count = r->o.threads;
    r->dec->thread_type = r->o.threads > 1 ? FF_THREAD_FRAME | FF_THREAD_SLICE : 0;
    ret = avcodec_open2(r->dec, codec, NULL);
    if (ret < 0) {
        avcodec_free_context(&r->dec);
        return rvt_error_set(err, RVT_EUNSUPPORTED, "'%s': cannot open the %s decoder: %s",
                             c->path, codec->name, av_err(ret, eb, sizeof(eb)));
    }
    c->dec = r->dec;
    return 0;
}

/* Receives every frame the decoder has ready. */
static int receive_frames(struct rvt_video_reader *r, struct clip *c, struct rvt_error *err)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    int ret;

    for (;;) {
        int64_t pts;
        ret = avcodec_receive_frame(c->dec, r->frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return ret;
        if (ret < 0)
            return rvt_error_set(err, RVT_EFORMAT, "cannot decode '%s': %s", c->path,
                                 av_err(ret, eb, sizeof(eb)));
        if (c->info)
            c->info->n_decoded++;
        pts = r->frame->pts != AV_NOPTS_VALUE ? r->frame->pts : r->frame->best_effort_timestamp;
        ret = emit_frame(r, c, r->frame, pts, err);
        av_frame_unref(r->frame);
        if (ret < 0)
            return ret;
    }
}

/* Sends one packet (NULL: drain) and collects what comes out. */
static int send(struct rvt_video_reader *r, struct clip *c, const AVPacket *pkt,
                struct rvt_error *err)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    int ret;

    for (;;) {
        ret = avcodec_send_packet(c->dec, pkt);
        if (ret == AVERROR(EAGAIN)) {
            ret = receive_frames(r, c, err);
            if (ret == AVERROR(EAGAIN))
                continue;
            if (ret < 0 && ret != AVERROR_EOF)
                return ret;
            continue;
        }
        break;
    }
    /* damaged data: the decoder conceals what it can, like the CLI; a target
     * that does not come out is reported after the drain */
    if (ret < 0 && ret != AVERROR_INVALIDDATA && ret != AVERROR_EOF)
        return rvt_error_set(err, RVT_EFORMAT, "cannot decode '%s': %s", c->path,
                             av_err(ret, eb, sizeof(eb)));
    if (ret == AVERROR_INVALIDDATA)
        rvt_debugf("'%s': damaged video packet", c->path);
    ret = receive_frames(r, c, err);
    return (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) ? 0 : ret;
}

/* The keyframe to start decoding from for the target packet t: the last one
 * at or before it in decode order whose pts is not after the target's (a
 * keyframe after an open-GOP leading picture cannot serve it). */
static size_t keyframe_for(const struct rvt_video_reader *r, size_t t)
{
    size_t i = t + 1;
    while (i-- > 0)
        if ((r->pkts[i]->flags & AV_PKT_FLAG_KEY) && r->pkts[i]->pts <= r->pkts[t]->pts)
            return i;
    return 0;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static int decode_targets(struct rvt_video_reader *r, struct clip *c, struct rvt_error *err)
{
    size_t order[RVT_FRAMES_MAX], n_t = 0, j, i;
    bool skip = !r->o.full_decode && nonref_skip_is_safe(c->st->codecpar);
    int k, ret = 0;

    /* distinct target packets in decode order */
    for (k = 0; k < r->o.n_frames; k++)
        order[n_t++] = r->target_pkt[k];
    qsort(order, n_t, sizeof(size_t), cmp_size);
    for (i = 0, j = 0; i < n_t; i++)
        if (j == 0 || order[i] != order[j - 1])
            order[j++] = order[i];
    n_t = j;

    if (r->o.full_decode) {
        /* reference path: every packet from the first, no skipping */
        for (i = 0; i < r->n_pkts; i++) {
            if ((ret = send(r, c, r->pkts[i], err)) < 0)
                return ret;
            if (c->info)
                c->info->n_sent++;
        }
        if (c->info)
            c->info->n_runs = 1;
        return send(r, c, NULL, err);
    }

    for (j = 0; j < n_t;) {
        size_t start = keyframe_for(r, order[j]), stop = order[j];
        /* extend the run while no usable keyframe lies after the last target */
        while (j + 1 < n_t && keyframe_for(r, order[j + 1]) <= stop)
            stop = order[++j];
        j++;
        if (c->info->n_runs > 0)
            avcodec_flush_buffers(c->dec);
        for (i = start; i <= stop; i++) {
            c->dec->skip_frame = skip && !r->is_target[i] ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
            if ((ret = send(r, c, r->pkts[i], err)) < 0)
                return ret;
            if (c->info)
                c->info->n_sent++;
        }
        c->dec->skip_frame = AVDISCARD_DEFAULT;
        if ((ret = send(r, c, NULL, err)) < 0)
            return ret;
        if (c->info)
            c->info->n_runs++;
    }
    return 0;
}

/*
 * Where OpenCV 4.6 lands after cap.set(CAP_PROP_POS_FRAMES, CAP_PROP_FRAME_COUNT // 2)
 * (cap_ffmpeg_impl.hpp: get_total_frames, get_fps, seek): the count is the
 * header's nb_frames, else round(duration * fps); fps is av_guess_frame_rate;
 * frame N is the one whose time from the first frame rounds to N / fps.  Here:
 * the first frame's time plus N / fps, for the nearest frame.
 */
static double cv_middle_s(const struct clip *c, double first_s)
{
    double fps = av_q2d(av_guess_frame_rate(c->fmt, c->st, NULL)), dur;
    int64_t total = c->st->nb_frames;

    if (!(fps > 0))
        fps = 1.0 / av_q2d(c->st->time_base);
    if (total <= 0) {
        dur = (double)c->fmt->duration / AV_TIME_BASE;
        if (dur < 1e-6 && c->st->duration > 0)
            dur = (double)c->st->duration * av_q2d(c->st->time_base);
        total = (int64_t)floor(dur * fps + 0.5);
    }
    return first_s + (double)(total / 2) / fps;
}

/* pts * num / den correctly rounded (one division of exact integers) while
 * |pts * num| < 2^53, which covers days of video at any common time base. */
static double ticks_to_s(int64_t pts, AVRational tb)
{
    return (double)(pts * tb.num) / tb.den;
}

int rvt_video_extract(struct rvt_video_reader *r, const char *path, uint8_t *frames,
                      double *pts_s, struct rvt_video_info *info, struct rvt_error *err)
{
    struct rvt_video_info local;
    struct clip c = {0};
    int64_t end = 0;
    AVRational tb;
    int ret, k;
    size_t i;

    memset(&local, 0, sizeof(local));
    c.path = path;
    c.frames = frames;
    c.info = info ? info : &local;
    memset(c.info, 0, sizeof(*c.info));
    c.info->threads = r->o.threads;

    if ((ret = open_input(&c, err)) < 0)
        goto done;
    snprintf(c.info->codec, sizeof(c.info->codec), "%s",
             avcodec_get_name(c.st->codecpar->codec_id));
    if ((ret = stream_rotation(&c, err)) < 0)
        goto done;
    c.rotation = ret;
    c.info->rotation = ret;
    if ((ret = open_decoder(r, &c, err)) < 0)
        goto done;
    if ((ret = read_packets(r, &c, err)) < 0 || (ret = list_frames(r, &c, &end, err)) < 0)
        goto done;
    tb = c.st->time_base;
    c.info->n_packets = r->n_pkts;
    c.info->n_frames = r->n_pres;
    c.info->start_s = ticks_to_s(r->pres_pts[0], tb);
    c.info->end_s = ticks_to_s(end, tb);

    if (r->o.pick.mode == RVT_PICK_CV_MIDDLE) {
        r->cv_pick = r->o.pick;
        r->cv_pick.cv_target_s = cv_middle_s(&c, c.info->start_s);
    }
    ret = rvt_pick_frames(r->o.pick.mode == RVT_PICK_CV_MIDDLE ? &r->cv_pick : &r->o.pick,
                          r->o.n_frames, r->pres_pts, r->n_pres, end, c.st->time_base.num,
                          c.st->time_base.den, r->pick, err);
    if (ret < 0) {
        rvt_error_prefix(err, "'%s'", path);
        goto done;
    }
    memset(r->is_target, 0, r->n_pkts * sizeof(*r->is_target));
    for (k = 0; k < r->o.n_frames; k++) {
        r->target_pts[k] = r->pres[r->pick[k]].pts;
        r->target_pkt[k] = r->pres[r->pick[k]].pkt;
        r->is_target[r->target_pkt[k]] = true;
        r->filled[k] = false;
    }
    c.decoding = true;
    if ((ret = decode_targets(r, &c, err)) < 0)
        goto done;
    for (k = 0; k < r->o.n_frames; k++) {
        if (!r->filled[k]) {
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s': the frame at %.3f s did not decode",
                                path, ticks_to_s(r->target_pts[k], tb));
            goto done;
        }
        pts_s[k] = ticks_to_s(r->target_pts[k], tb);
    }
done:
    for (i = 0; i < r->n_pkts; i++)
        av_packet_unref(r->pkts[i]);
    if (r->n_pkts < r->cap_pkts && r->pkts[r->n_pkts])
        av_packet_unref(r->pkts[r->n_pkts]);
    r->n_pkts = 0;
    if (ret < 0 && c.decoding) /* a damaged stream does not get to leave state behind */
        avcodec_free_context(&r->dec);
    avformat_close_input(&c.fmt);
    return ret < 0 ? ret : 0;
}
