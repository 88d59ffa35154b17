/* extract-frames: index.csv -> frames.h5 (K RGB frames per clip, picked by timestamp). */
#include "core/common.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/pool.h"
#include "media/video.h"
#include "ravdess/index.h"
#include "store/store.h"

static const char usage[] =
    "Usage: extract-frames [OPTIONS] INDEX.csv -o FRAMES.h5\n"
    "\n"
    "Decodes K frames of every clip's video (the index's video_path column), picked\n"
    "by presentation time, crops and resizes them, and writes them to an HDF5 store:\n"
    "  frames     uint8 [N, K, H, W, 3]  RGB\n"
    "  frame_pts  float64 [N, K]         the frames' presentation times (seconds)\n"
    "  clips/id   the clip ids, in index order\n"
    "Decoding starts at the keyframe before the first frame needed, skips frames\n"
    "that nothing references and stops at the last frame needed.  The display\n"
    "rotation is applied.  The RGB conversion is byte-identical to the ffmpeg CLI's\n"
    "  -vf " RVT_VIDEO_CLI_FILTER " -pix_fmt rgb24\n"
    "and the resize to torchvision's Resize((H, W)) on a PIL image (PIL bilinear,\n"
    "antialiased when downscaling).\n"
    "See schemas/frames.md for the exact pipeline and its fidelity.\n"
    "\n"
    "Frame choice (timestamps only; the header's frame count is never trusted):\n"
    "  middle        the frame nearest to half the stream's duration; with K > 1,\n"
    "                the K consecutive frames around it\n"
    "  uniform       the frames nearest to the centres of K equal parts of the\n"
    "                duration\n"
    "  times=T1,...  the frames nearest to these times (seconds, K of them; when\n"
    "                --frames is left at 1, K is the number of times)\n"
    "A tie between two frames goes to the earlier one.  A time past the end of a\n"
    "clip is an error for that clip.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE     the frames store (required; written atomically)\n"
    "  -K, --frames K        frames per clip, 1-256 (image.frames, default 1)\n"
    "      --pick SPEC       middle | uniform | times=T1,T2,... (image.pick, default middle)\n"
    "      --crop SPEC       none | center | box=X,Y,W,H (image.crop, default none):\n"
    "                        none squashes the whole frame (as the seed); center takes\n"
    "                        the centred square of the displayed picture; box is in\n"
    "                        displayed pixels (after rotation and sample aspect ratio)\n"
    "      --size N|WxH      output size (image.width, image.height; default 224)\n"
    "      --ppm DIR         also write every frame as DIR/ID_k.ppm (for eyes and debugging)\n"
    "      --full-decode     decode every frame of every clip from the first, skipping\n"
    "                        nothing (same output, slower: a check and a benchmark bound)\n"
    "\n" RVT_CLI_HELP
    "\n"
    "With -j N, N clips decode in parallel, one decoder thread each; with fewer\n"
    "workers than cores, each decoder gets frame threads so that every core works.\n"
    "The store is the same whatever -j.\n"
    "\n"
    "Examples:\n"
    "  extract-frames index.csv -o frames.h5\n"
    "  extract-frames -K 8 --pick uniform --crop center index.csv -o frames8.h5\n"
    "  extract-frames --pick times=0.5,1.5 --size 112x112 index.csv -o f.h5\n"
    "  extract-frames --shard 0/4 -k index.csv -o frames.0.h5\n";

enum { OPT_PICK = RVT_OPT_TOOL_BASE, OPT_CROP, OPT_SIZE, OPT_PPM, OPT_FULL_DECODE };

struct slot {
    uint8_t *frames;
    double pts[RVT_FRAMES_MAX];
    struct rvt_store_chunk chunk;
};

struct run {
    const struct rvt_index *idx;
    const size_t *clips;          /* indices into idx of this shard */
    struct rvt_frames_opts o;
    struct rvt_video_reader **readers; /* per worker */
    void **scratch;                /* per worker, rvt_store_encode */
    struct rvt_store_field fields[2];
    int level;
    bool encode;                   /* frames are pre-encoded (one clip per chunk) */
    struct rvt_store_writer *w;
    struct rvt_failures failures;
    bool keep_going;
    const char *ppm_dir;
    struct rvt_progress progress;
    size_t done;
};

static int work(void *ctx, size_t i, void *slot_, int worker, struct rvt_error *err)
{
    struct run *run = ctx;
    struct slot *s = slot_;
    const struct rvt_clip *clip = &run->idx->clips[run->clips[i]];
    int ret;

    if (!clip->video_path || !clip->video_path[0])
        return rvt_error_set(err, RVT_EINVAL, "clip %s has no video_path in the index",
                             clip->id);
    ret = rvt_video_extract(run->readers[worker], clip->video_path, s->frames, s->pts, NULL, err);
    if (ret < 0)
        return ret;
    /* compress on the worker; the emitting thread only writes */
    if (!run->encode)
        return 0;
    return rvt_store_encode(&run->fields[0], run->level, s->frames, run->scratch[worker],
                            &s->chunk, err);
}

static int write_ppm(const struct run *run, const char *id, const uint8_t *frames,
                     struct rvt_error *err)
{
    size_t bytes = (size_t)run->o.out_w * run->o.out_h * 3;
    char path[4096];
    int k;

    for (k = 0; k < run->o.n_frames; k++) {
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s_%d.ppm", run->ppm_dir, id, k);
        f = fopen(path, "wb");
        if (!f)
            return rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", path, strerror(errno));
        fprintf(f, "P6\n%d %d\n255\n", run->o.out_w, run->o.out_h);
        fwrite(frames + (size_t)k * bytes, 1, bytes, f);
        if (fclose(f) != 0)
            return rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", path, strerror(errno));
    }
    return 0;
}

static int emit(void *ctx, size_t i, void *slot_, int status, struct rvt_error *err)
{
    struct run *run = ctx;
    struct slot *s = slot_;
    const struct rvt_clip *clip = &run->idx->clips[run->clips[i]];
    int ret = 0;

    if (status < 0) {
        if (!run->keep_going)
            return status;
        rvt_warnf("skipping %s: %s", clip->id, err->msg);
        if ((ret = rvt_failures_add(&run->failures, clip->id, clip->video_path, err->msg, err)) <
            0)
            return ret;
    } else {
        const void *data[2] = {run->encode ? NULL : s->frames, s->pts};
        const struct rvt_store_chunk *enc[2] = {run->encode ? &s->chunk : NULL, NULL};
        if ((ret = rvt_store_append_encoded(run->w, clip->id, data, enc, err)) < 0)
            return ret;
        if (run->ppm_dir && (ret = write_ppm(run, clip->id, s->frames, err)) < 0)
            return ret;
    }
    rvt_progress_update(&run->progress, ++run->done);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        RVT_CLI_LONGOPTS,
        {"output", required_argument, NULL, 'o'},
        {"frames", required_argument, NULL, 'K'},
        {"pick", required_argument, NULL, OPT_PICK},
        {"crop", required_argument, NULL, OPT_CROP},
        {"size", required_argument, NULL, OPT_SIZE},
        {"ppm", required_argument, NULL, OPT_PPM},
        {"full-decode", no_argument, NULL, OPT_FULL_DECODE},
        {NULL, 0, NULL, 0},
    };
    struct rvt_cli cli;
    struct rvt_error err = {0};
    struct rvt_index idx = {0};
    struct run run;
    struct slot *slots = NULL;
    void **slot_ptrs = NULL;
    size_t *clips = NULL, n_clips = 0, i, window = 0;
    const char *output = NULL;
    bool full_decode = false;
    int c, rc = RVT_EXIT_FAILURE, ret, n_workers = 0, w;

    memset(&run, 0, sizeof(run));
#ifdef M_MMAP_THRESHOLD
    /* Each clip's decoder flush frees and reallocates (zeroed) per-picture
     * tables of a few MB; keeping freed memory in the heap instead of giving
     * it back to the kernel saves the page faults (about a tenth of the run).
     * Memory stays bounded by one clip's peak. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    rvt_cli_init(&cli, "extract-frames", usage);
    rvt_cli_keys(&cli, "image. store.");
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "o:K:", opts, NULL)) != -1) {
        int r = rvt_cli_handle(&cli, c, optarg);
        if (r == RVT_CLI_EXIT) {
            rc = cli.exit_code;
            goto done;
        }
        if (r == RVT_CLI_HANDLED)
            continue;
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'K':
            rvt_cli_set(&cli, "image.frames", optarg);
            break;
        case OPT_PICK:
            rvt_cli_set(&cli, "image.pick", optarg);
            break;
        case OPT_CROP:
            rvt_cli_set(&cli, "image.crop", optarg);
            break;
        case OPT_SIZE: {
            int sw, sh;
            char buf[32];
            if (rvt_size_parse(optarg, &sw, &sh, &err) < 0) {
                rc = rvt_cli_usage_error(&cli, "%s", err.msg);
                goto done;
            }
            snprintf(buf, sizeof(buf), "%d", sw);
            rvt_cli_set(&cli, "image.width", buf);
            snprintf(buf, sizeof(buf), "%d", sh);
            rvt_cli_set(&cli, "image.height", buf);
            break;
        }
        case OPT_PPM:
            run.ppm_dir = optarg;
            break;
        case OPT_FULL_DECODE:
            full_decode = true;
            break;
        default:
            rc = rvt_cli_usage_error(&cli, "unknown option");
            goto done;
        }
    }
    if (rvt_cli_finish(&cli) == RVT_CLI_EXIT) {
        rc = cli.exit_code;
        goto done;
    }
    rvt_video_set_log_level(cli.log_level);
    if (optind != argc - 1) {
        rc = rvt_cli_usage_error(&cli, optind >= argc ? "missing INDEX.csv"
                                                       : "too many arguments");
        goto done;
    }
    if (!output) {
        rc = rvt_cli_usage_error(&cli, "missing -o FRAMES.h5");
        goto done;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHS(output, cli.failures_path), RVT_PATHS(argv[optind])) == RVT_CLI_EXIT) {
        rc = cli.exit_code;
        goto done;
    }
    if (rvt_frames_opts_from_config(&run.o, cli.cfg, &err) < 0) {
        rc = rvt_cli_usage_error(&cli, "%s", err.msg);
        goto done;
    }
    run.o.full_decode = full_decode;
    if (run.ppm_dir) {
        struct stat st;
        if (stat(run.ppm_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = rvt_cli_usage_error(&cli, "--ppm: '%s' is not a directory", run.ppm_dir);
            goto done;
        }
    }

    if (rvt_index_load(&idx, argv[optind], &err) < 0)
        goto fail;
    clips = malloc(sizeof(*clips) * (idx.n ? idx.n : 1));
    if (!clips) {
        rvt_error_set(&err, RVT_ENOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < idx.n; i++)
        if (rvt_shard_of(idx.clips[i].id, cli.shard_n) == cli.shard_i)
            clips[n_clips++] = i;
    run.idx = &idx;
    run.clips = clips;
    run.keep_going = cli.keep_going;

    /* workers x decoder threads = cores: fewer clips or -j than cores gives
     * each decoder frame threads */
    n_workers = (int)RVT_MIN((size_t)cli.jobs, RVT_MAX(n_clips, (size_t)1));
    run.o.threads = RVT_MAX(1, rvt_cpu_count() / n_workers);
    run.o.threads = RVT_MIN(run.o.threads, 16);
    rvt_debugf("%zu clips, %d workers x %d decoder threads", n_clips, n_workers, run.o.threads);

    run.fields[0] = (struct rvt_store_field){
        "frames", RVT_DTYPE_U8, 4,
        {(uint64_t)run.o.n_frames, (uint64_t)run.o.out_h, (uint64_t)run.o.out_w, 3}};
    run.fields[1] = (struct rvt_store_field){"frame_pts", RVT_DTYPE_F64, 1,
                                             {(uint64_t)run.o.n_frames}};
    if (rvt_failures_init(&run.failures, cli.failures_path, output, &err) < 0)
        goto fail;
    if (rvt_store_create(&run.w, output, "frames", run.fields, 2, &err) < 0 ||
        rvt_store_set_provenance(run.w, cli.cfg, idx.sha256, cli.shard_i, cli.shard_n, &err) <
            0 ||
        rvt_store_set_attr(run.w, "rgb_conversion",
                           "libswscale " RVT_VIDEO_SWS_FLAGS_TEXT ", same size; matrix from the "
                           "stream's colorspace (BT.601 when untagged), range from the stream "
                           "(limited when untagged), MPEG-2 chroma siting; equals ffmpeg -vf "
                           RVT_VIDEO_CLI_FILTER " -pix_fmt rgb24",
                           &err) < 0 ||
        rvt_store_set_attr(run.w, "resize",
                           "PIL Image.resize BILINEAR (antialiased), bit-exact integer "
                           "reimplementation; crop before resize",
                           &err) < 0)
        goto fail;
    run.level = rvt_store_deflate(run.w);
    /* tiny frames share chunks between clips: the store compresses those itself */
    run.encode = rvt_store_field_bytes(&run.fields[0]) >= RVT_STORE_CHUNK_MIN;

    run.readers = calloc((size_t)n_workers, sizeof(*run.readers));
    run.scratch = calloc((size_t)n_workers, sizeof(*run.scratch));
    window = (size_t)n_workers * 2;
    slots = calloc(window, sizeof(*slots));
    slot_ptrs = calloc(window, sizeof(*slot_ptrs));
    if (!run.readers || !run.scratch || !slots || !slot_ptrs) {
        rvt_error_set(&err, RVT_ENOMEM, "out of memory");
        goto fail;
    }
    for (w = 0; w < n_workers; w++) {
        if (rvt_video_reader_create(&run.readers[w], &run.o, &err) < 0)
            goto fail;
        if (!(run.scratch[w] = malloc(rvt_store_encode_scratch(&run.fields[0]) + 1))) {
            rvt_error_set(&err, RVT_ENOMEM, "out of memory");
            goto fail;
        }
    }
    for (i = 0; i < window; i++) {
        if (!(slots[i].frames = malloc(rvt_frames_bytes(&run.o)))) {
            rvt_error_set(&err, RVT_ENOMEM, "out of memory");
            goto fail;
        }
        slot_ptrs[i] = &slots[i];
    }

    rvt_progress_start(&run.progress, "frames", n_clips);
    ret = rvt_pool_run(n_clips, n_workers, slot_ptrs, window, work, emit, &run, &err);
    rvt_progress_end(&run.progress);
    if (ret < 0)
        goto fail;
    if (rvt_store_commit(run.w, &err) < 0 || rvt_failures_close(&run.failures, &err) < 0)
        goto fail;
    if (run.failures.count > 0) {
        rvt_warnf("%d of %zu clips skipped, listed in '%s'", run.failures.count, n_clips,
                  run.failures.path);
        rc = RVT_EXIT_SKIPPED;
    } else {
        rvt_infof("wrote %zu clips x %d frames to '%s'", n_clips, run.o.n_frames, output);
        rc = RVT_EXIT_OK;
    }
    goto done;

fail:
    rvt_errorf("%s", err.msg);
    rc = RVT_EXIT_FAILURE;
done:
    if (run.w)
        rvt_store_free(&run.w); /* aborts when not committed: nothing half-written */
    rvt_failures_release(&run.failures);
    for (w = 0; w < n_workers && run.readers; w++)
        rvt_video_reader_free(&run.readers[w]);
    for (w = 0; w < n_workers && run.scratch; w++)
        free(run.scratch[w]);
    free(run.readers);
    free(run.scratch);
    for (i = 0; slots && i < window; i++) {
        free(slots[i].frames);
        rvt_store_chunk_release(&slots[i].chunk);
    }
    free(slots);
    free(slot_ptrs);
    free(clips);
    rvt_index_release(&idx);
    rvt_cli_release(&cli);
    return rc;
}
