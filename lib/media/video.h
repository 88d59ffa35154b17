/*
 * video.h: K RGB frames of a video, picked by presentation time.
 *
 * What one call does (rvt_video_extract):
 *
 *   1. demux   libavformat opens the file without stream probing
 *              (avformat_find_stream_info runs only when the container leaves
 *              the picture size unknown), every stream but the best video
 *              stream is discarded, and the video packets are read into memory
 *              (packets only: nothing is decoded yet).
 *   2. list    the presented frames are the packets without
 *              AV_PKT_FLAG_DISCARD (an mp4 edit list hides pre-roll frames that
 *              way), sorted by pts.  The header's frame count is never used: in a
 *              third of RAVDESS clips it disagrees with the frames that decode.
 *              The stream ends at the last frame's pts plus its packet duration
 *              (the mean frame interval when the container gives none).
 *   3. pick    targets in seconds (struct rvt_pick), each mapped to the frame
 *              whose pts is nearest; a tie goes to the earlier frame.  Works the
 *              same for variable frame rates: only timestamps count.
 *   4. decode  for each run of targets, from the last keyframe at or before the
 *              first target (in decode order, with pts <= every target's pts)
 *              up to the last target packet, then the decoder is drained.  A new
 *              run (flush + jump) starts when a keyframe lies after the previous
 *              target.  Packets that are not targets are sent with
 *              skip_frame = AVDISCARD_NONREF for codecs where that only drops
 *              frames no other frame references (H.264, MPEG-1/2/4 part 2, HEVC
 *              with one temporal sub-layer),
 *              so the targets' pixels do not change (tests/unit/test_video.c
 *              checks byte equality against a full decode).
 *   5. rotate  the stream's display matrix (multiples of 90 degrees) is applied
 *              to the decoded YUV planes, as the ffmpeg CLI's autorotate does.
 *   6. convert libswscale to full-size RGB24, flags RVT_VIDEO_SWS_FLAGS, matrix
 *              from the frame's colorspace (sws_getCoefficients: BT.601 when
 *              unspecified), range from the frame's color_range (limited unless
 *              tagged full), MPEG-2 chroma siting (src_v_chr_pos 128, as the
 *              CLI's scale filter sets for yuv420p).  Byte-identical to
 *              `ffmpeg ... -vf RVT_VIDEO_CLI_FILTER -pix_fmt rgb24`.
 *              o.convert picks another client's conversion instead (opencv:
 *              cv2.VideoCapture, with its own rotation after the conversion;
 *              pyav: to_ndarray, no rotation; ffmpeg: the CLI's defaults).
 *   7. crop    struct rvt_crop: none (full frame), center (the centred square of
 *              the displayed picture, honouring the sample aspect ratio) or a
 *              box in displayed pixels.
 *   8. resize  to out_w x out_h with PIL's antialiased bilinear filter,
 *              reproduced in integer arithmetic (rvt_resize_*): byte-identical to
 *              PIL Image.resize(..., BILINEAR), i.e. torchvision's Resize on a
 *              PIL image; o.resize = opencv: cv2.resize INTER_LINEAR instead
 *              (rvt_cv_resize_*).
 *   9. jpeg    with jpeg_quality 1..100, each output frame is saved as JPEG and
 *              read back in memory, equal to PIL's save(..., "JPEG", quality=q)
 *              then open().convert("RGB") (media/jpeg.h).
 *
 * Output: frames [K][out_h][out_w][3] uint8 RGB, pts_s [K] seconds
 * (pts * time_base, the stream clock ffprobe shows as pts_time).
 *
 * Usage:
 *   struct rvt_frames_opts o;
 *   rvt_frames_opts_init(&o);               // K = 1, middle, no crop, 224x224
 *   rvt_pick_parse(&o.pick, "uniform", &err); o.n_frames = 8;
 *   struct rvt_video_reader *r;
 *   rvt_video_reader_create(&r, &o, &err);  // one per worker thread
 *   uint8_t *rgb = malloc(rvt_frames_bytes(&o)); double pts[8];
 *   rvt_video_extract(r, "clip.mp4", rgb, pts, NULL, &err);
 *   rvt_video_reader_free(&r);
 *
 * Thread rule: a reader is used by one thread at a time; readers are
 * independent (each owns its decoder, scaler and buffers).  Memory: a reader
 * keeps one clip's video packets and one frame's buffers, reused from clip to
 * clip, so it does not grow with the number of clips; one clip's packets are
 * capped at RVT_VIDEO_MAX_PACKET_BYTES.
 */
#ifndef RVT_MEDIA_VIDEO_H
#define RVT_MEDIA_VIDEO_H

#include "core/common.h"

#include "core/cpu.h"
#include "core/config.h"

#define RVT_FRAMES_MAX 256                     /* K cap */
#define RVT_VIDEO_MAX_SIZE 16384               /* output width/height cap */
#define RVT_VIDEO_MAX_PACKET_BYTES (1ull << 30) /* one clip's video bytes */
#define RVT_VIDEO_MAX_PACKETS (1u << 22)

/* libswscale flags of the YUV -> RGB24 conversion (same size, no scaling). */
#define RVT_VIDEO_SWS_FLAGS_TEXT "bilinear+accurate_rnd+full_chroma_int+bitexact"
/* The ffmpeg CLI filter that gives byte-identical full-size RGB24. */
#define RVT_VIDEO_CLI_FILTER "scale=flags=" RVT_VIDEO_SWS_FLAGS_TEXT

enum rvt_pick_mode {
    RVT_PICK_MIDDLE,  /* the middle of the stream; K > 1: K consecutive frames around it */
    RVT_PICK_UNIFORM, /* K targets at the centres of K equal parts of the duration */
    RVT_PICK_TIMES,   /* explicit times in seconds (stream clock), one per frame */
    RVT_PICK_CV_MIDDLE, /* OpenCV's cap.set(CAP_PROP_POS_FRAMES, CAP_PROP_FRAME_COUNT // 2):
                         * the frame nearest first + (header count // 2) / fps; K > 1 as middle */
};

struct rvt_pick {
    enum rvt_pick_mode mode;
    int n_times;                    /* RVT_PICK_TIMES */
    double times_s[RVT_FRAMES_MAX]; /* RVT_PICK_TIMES, >= 0 */
    double cv_target_s;             /* RVT_PICK_CV_MIDDLE: set per clip by rvt_video_extract */
};

enum rvt_crop_mode {
    RVT_CROP_NONE,   /* the whole frame, squashed to out_w x out_h (the seed) */
    RVT_CROP_CENTER, /* the centred square of the displayed picture */
    RVT_CROP_BOX,    /* x, y, w, h in displayed pixels (after rotation and SAR) */
};

struct rvt_crop {
    enum rvt_crop_mode mode;
    int x, y, w, h; /* RVT_CROP_BOX */
};

/* Step 6, YUV -> RGB: whose conversion the frames reproduce (image.convert;
 * schemas/frames.md has what each does and how far apart they are). */
enum rvt_convert_mode {
    RVT_CONVERT_ACCURATE, /* libswscale RVT_VIDEO_SWS_FLAGS_TEXT (the default) */
    RVT_CONVERT_OPENCV,   /* cv2.VideoCapture + read() (FFmpeg backend), as RGB */
    RVT_CONVERT_PYAV,     /* PyAV frame.to_ndarray(format="rgb24") */
    RVT_CONVERT_FFMPEG,   /* the ffmpeg CLI's -pix_fmt rgb24 with default flags */
};

/* Step 8, the resize (image.resize). */
enum rvt_resize_mode {
    RVT_RESIZE_PIL,    /* PIL Image.resize BILINEAR, antialiased (torchvision Resize; default) */
    RVT_RESIZE_OPENCV, /* cv2.resize INTER_LINEAR, no antialiasing */
};

struct rvt_frames_opts {
    int n_frames;        /* K, 1..RVT_FRAMES_MAX */
    struct rvt_pick pick;
    struct rvt_crop crop;
    enum rvt_convert_mode convert;
    enum rvt_resize_mode resize;
    int out_w, out_h;    /* 1..RVT_VIDEO_MAX_SIZE */
    int jpeg_quality;    /* 0 = off; 1..100: JPEG round trip after the resize (media/jpeg.h) */
    int threads;         /* decoder threads (frame threading when > 1) */
    bool full_decode;    /* tests/bench: decode from the first packet, skip nothing */
};

/* Defaults: K = 1, middle, no crop, 224x224, accurate convert, PIL resize, 1 thread. */
void rvt_frames_opts_init(struct rvt_frames_opts *o);
/* Reads image.frames, image.pick, image.crop, image.width, image.height,
 * image.convert, image.resize, image.jpeg_quality. */
int rvt_frames_opts_from_config(struct rvt_frames_opts *o, const struct rvt_config *cfg,
                                struct rvt_error *err);
/* Checks K against pick (times= needs exactly K times), sizes, box. */
int rvt_frames_opts_check(const struct rvt_frames_opts *o, struct rvt_error *err);
/* Bytes of one clip's frames: K * out_h * out_w * 3. */
size_t rvt_frames_bytes(const struct rvt_frames_opts *o);

/* "middle" | "uniform" | "times=t1,t2,..." (seconds, >= 0, finite) | "cv-middle". */
int rvt_pick_parse(struct rvt_pick *p, const char *spec, struct rvt_error *err);
/* "none" | "center" | "box=x,y,w,h" (w, h > 0). */
int rvt_crop_parse(struct rvt_crop *c, const char *spec, struct rvt_error *err);
/* "accurate" | "opencv" | "pyav" | "ffmpeg" (the config words). */
int rvt_convert_parse(const char *name, enum rvt_convert_mode *m, struct rvt_error *err);
/* The config word of m (a static string; "?" for a value out of range). */
const char *rvt_convert_name(enum rvt_convert_mode m);
/* "pil" | "opencv". */
int rvt_resize_parse(const char *name, enum rvt_resize_mode *m, struct rvt_error *err);
const char *rvt_resize_name(enum rvt_resize_mode m);
/* One line saying what the mode does (a store's rgb_conversion / resize
 * attribute); static strings. */
const char *rvt_convert_describe(enum rvt_convert_mode m);
const char *rvt_resize_describe(enum rvt_resize_mode m);
/* "224" (square) | "WxH". */
int rvt_size_parse(const char *spec, int *w, int *h, struct rvt_error *err);

/*
 * Frame selection, the pure part of step 3 (exposed for tests).
 *   pts    the presented frames' pts, ascending, in ticks of tb_num/tb_den
 *   end    the stream's end (last pts + last duration), same ticks
 *   idx    receives k indices into pts
 * Targets: middle = (pts[0] + end) / 2; uniform = pts[0] + (2i + 1)(end - pts[0]) / 2k;
 * times = t_i / tb; cv-middle = p->cv_target_s / tb (an error past `end`, like
 * times).  Distances are exact for middle and uniform (integer
 * ticks); the earlier frame wins a tie.  A time after `end` is an error
 * (RVT_EINVAL, "requested time 5.000 s is past the end of the video (4.070 s)").
 * middle and cv-middle with k > 1 give the k consecutive frames around the frame
 * (one more after it than before when k is even), shifted to stay inside.
 */
int rvt_pick_frames(const struct rvt_pick *p, int k, const int64_t *pts, size_t n, int64_t end,
                    int tb_num, int tb_den, size_t *idx, struct rvt_error *err);

/*
 * Crop geometry, the pure part of step 7: the source rectangle in stored
 * pixels of a w x h picture (already rotated) with sample aspect ratio
 * sar_num:sar_den (0:x = square).  center: the displayed square's side is
 * min(w * sar, h); its stored width is round(side / sar); x0 = (w - cw) / 2
 * and y0 = (h - ch) / 2, rounded down.  box: x and w scale by 1 / sar
 * (rounded), y and h are kept; a box outside the picture is RVT_EINVAL.
 */
int rvt_crop_rect(const struct rvt_crop *c, int w, int h, int sar_num, int sar_den, int rect[4],
                  struct rvt_error *err);

/*
 * PIL-exact antialiased bilinear resize of packed RGB24 (steps 8).
 * ref: Pillow 9.4 src/libImaging/Resample.c (precompute_coeffs,
 * normalize_coeffs_8bpc, ImagingResampleInner): triangle filter of support
 * max(scale, 1), taps centred at (x + 0.5) * scale, weights normalised in
 * double, then rounded to 22-bit fixed point; horizontal pass first into
 * uint8 rows, vertical pass second, each rounding half up and clamping.
 */
struct rvt_resize_axis {
    int n_in, n_out, ksize;
    int *bounds;     /* owned; [n_out][2]: first input index, tap count */
    int32_t *coeffs; /* owned; [n_out][ksize], 22-bit fixed point */
};

struct rvt_resize_plan {
    int in_w, in_h, out_w, out_h;
    bool need_h, need_v;
    int y_first, y_last;     /* input rows the vertical pass reads */
    struct rvt_resize_axis h, v;
    /* for SIMD kernels: the horizontal taps of output pixel x as n_pairs
     * groups of 8 int32 (k0 k0 k0 k1 k1 k1 0 0, zero past the last tap), and
     * whether 8-byte loads over them stay inside the row (else the kernel
     * falls back to the scalar loop for that pixel) */
    int n_pairs;
    int32_t *pairs;          /* owned; [out_w][n_pairs][8] */
    uint8_t *pair_safe;      /* owned; [out_w] */
    size_t tmp_bytes;        /* scratch the kernel needs */
};

int rvt_resize_plan_init(struct rvt_resize_plan *p, int in_w, int in_h, int out_w, int out_h,
                         struct rvt_error *err);
void rvt_resize_plan_release(struct rvt_resize_plan *p);

/* src: in_h rows of in_w * 3 bytes, src_stride apart; dst: out_h * out_w * 3
 * bytes, packed; tmp: p->tmp_bytes.  Never allocate; never read outside the
 * in_w * 3 bytes of a row.  All kernels give identical bytes (integer math). */
typedef void (*rvt_resize_rgb24_fn)(const struct rvt_resize_plan *p, const uint8_t *src,
                                    size_t src_stride, uint8_t *dst, uint8_t *tmp);
void rvt_resize_rgb24_ref(const struct rvt_resize_plan *p, const uint8_t *src, size_t src_stride,
                          uint8_t *dst, uint8_t *tmp);
/* The kernel table, the shape of every SIMD family (docs/architecture.md):
 * rvt_resize_kernels() for this CPU's rvt_cpu_isa() (RVT_ISA=ref forces _ref),
 * rvt_resize_kernels_for(isa) one level's or NULL (tests); constant tables. */
struct rvt_resize_kernels {
    enum rvt_isa isa;
    rvt_resize_rgb24_fn rgb24;
};
const struct rvt_resize_kernels *rvt_resize_kernels(void);
const struct rvt_resize_kernels *rvt_resize_kernels_for(enum rvt_isa isa);

/*
 * OpenCV's cv2.resize(src, (out_w, out_h)) of 8-bit RGB, INTER_LINEAR (step 8
 * with image.resize = opencv); lib/media/video_resize_cv.c has the rules.
 * Byte-identical to OpenCV 4.6 on x86-64 (tests/parity/test_frames_modes.py).
 */
struct rvt_cv_resize_plan {
    int in_w, in_h, out_w, out_h;
    bool copy;       /* same size */
    bool area2;      /* exact 2x downscale: OpenCV switches to INTER_AREA */
    int *xofs;       /* owned; [out_w] left source pixel */
    int16_t *alpha;  /* owned; [out_w][2] weights, 11-bit fixed point */
    int *yofs;       /* owned; [out_h] upper source row (may be -1) */
    int16_t *beta;   /* owned; [out_h][2] */
};

int rvt_cv_resize_plan_init(struct rvt_cv_resize_plan *p, int in_w, int in_h, int out_w,
                            int out_h, struct rvt_error *err);
void rvt_cv_resize_plan_release(struct rvt_cv_resize_plan *p);
/* Scratch rvt_cv_resize_rgb24 needs: two rows of out_w * 3 int32. */
size_t rvt_cv_resize_tmp_bytes(const struct rvt_cv_resize_plan *p);
/* src: in_h rows of in_w * 3 bytes, src_stride apart; dst packed; never allocates. */
void rvt_cv_resize_rgb24(const struct rvt_cv_resize_plan *p, const uint8_t *src,
                         size_t src_stride, uint8_t *dst, int32_t *tmp);

/* What rvt_video_extract saw, for logs, tests and benchmarks. */
struct rvt_video_info {
    char codec[32];
    int width, height;     /* displayed frame in stored pixels (after rotation) */
    int rotation;          /* clockwise degrees applied: 0, 90, 180, 270 */
    int sar_num, sar_den;  /* sample aspect ratio used (1:1 when unknown) */
    size_t n_frames;       /* presented frames (from timestamps) */
    size_t n_packets;      /* video packets in the file, pre-roll included */
    double start_s, end_s; /* first pts, end of the last frame */
    size_t n_sent;         /* packets sent to the decoder */
    size_t n_decoded;      /* frames the decoder returned */
    int n_runs;            /* decode runs (seek + drain) */
    int threads;           /* decoder threads used */
};

struct rvt_video_reader;

int rvt_video_reader_create(struct rvt_video_reader **out, const struct rvt_frames_opts *o,
                            struct rvt_error *err);
void rvt_video_reader_free(struct rvt_video_reader **r);

/*
 * Extracts the K frames of one file into frames (rvt_frames_bytes(o) bytes)
 * and their pts into pts_s (K doubles); info may be NULL.  Errors name the
 * file: "'x.mp4': no video stream", "'x.mp4': truncated (...)",
 * "cannot open 'x.mp4': No such file or directory", ...  On failure the
 * outputs are unspecified.
 */
int rvt_video_extract(struct rvt_video_reader *r, const char *path, uint8_t *frames,
                      double *pts_s, struct rvt_video_info *info, struct rvt_error *err);

#endif
