/* extract-frames: index.csv -> frames.h5 (K RGB frames per clip, picked by timestamp). */
#include "core/common.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/pool.h"
#include "run/runner.h"
#include "media/video.h"
#include "ravdess/index.h"
#include "store/store.h"

static const char usage[] =
    "NAME\n"
    "  extract-frames - decode K RGB frames of every clip's video into a frames store\n"
    "\n"
    "SYNOPSIS\n"
    "  extract-frames [OPTIONS] INDEX.csv -o FRAMES.h5\n"
    "\n"
    "DESCRIPTION\n"
    "  Decodes K frames of every clip's video (the index's video_path column), picked\n"
    "  by presentation time, crops and resizes them, and writes them to an HDF5 store:\n"
    "      frames     uint8 [N, K, H, W, 3]  RGB\n"
    "      frame_pts  float64 [N, K]         the frames' presentation times (seconds)\n"
    "      clips/id   the clip ids, in index order\n"
    "  Decoding starts at the keyframe before the first frame needed, skips frames\n"
    "  that nothing references and stops at the last frame needed.  The display\n"
    "  rotation is applied.  The RGB conversion is byte-identical to the ffmpeg CLI's\n"
    "  -vf " RVT_VIDEO_CLI_FILTER " -pix_fmt rgb24 and the resize to torchvision's\n"
    "  Resize((H, W)) on a PIL image (PIL bilinear, antialiased when downscaling).\n"
    "  See schemas/frames.md for the exact pipeline and its fidelity.\n"
    "\n"
    "  Frames are chosen by timestamps only (the header's frame count is never\n"
    "  trusted); a tie between two frames goes to the earlier one, and a time past the\n"
    "  end of a clip is an error for that clip.  With -j N, N clips decode in\n"
    "  parallel, one decoder each; with fewer workers than cores, each decoder gets\n"
    "  frame threads so that every core works.  The store is the same whatever -j.\n"
    "\n"
    "OPTIONS\n"
    "  -o, --output FILE    the frames store (required; written atomically)\n"
    "  -K, --frames K       frames per clip, 1-256 (image.frames, default 1)\n"
    "      --pick SPEC      which frames (image.pick, default middle):\n"
    "                         middle        the frame nearest to half the stream's\n"
    "                                       duration; with K > 1, the K consecutive\n"
    "                                       frames around it\n"
    "                         uniform       the frames nearest to the centres of K\n"
    "                                       equal parts of the duration\n"
    "                         times=T1,...  the frames nearest to these times (seconds;\n"
    "                                       with -K left at 1, K is their number)\n"
    "      --crop SPEC      none | center | box=X,Y,W,H (image.crop, default none):\n"
    "                       none squashes the whole frame (as the seed); center takes\n"
    "                       the centred square of the displayed picture; box is in\n"
    "                       displayed pixels (after rotation and sample aspect ratio)\n"
    "      --size N|WxH     output size (image.width, image.height; default 224)\n"
    "      --ppm DIR        also write every frame as DIR/ID_k.ppm (for eyes and\n"
    "                       debugging)\n"
    "      --full-decode    decode every frame of every clip from the first, skipping\n"
    "                       nothing (same output, slower: a check and a benchmark bound)\n"
    RVT_HELP_CONFIG RVT_HELP_JOBS RVT_HELP_CLIPS RVT_HELP_STD
    "\n" RVT_HELP_EXIT
    "\n"
    "EXAMPLES\n"
    "  extract-frames index.csv -o frames.h5\n"
    "  extract-frames -K 8 --pick uniform --crop center index.csv -o frames8.h5\n"
    "  extract-frames --pick times=0.5,1.5 --size 112x112 index.csv -o f.h5\n"
    "  extract-frames --shard 0/4 -k index.csv -o frames.0.h5\n";

enum { OPT_PICK = RVT_OPT_TOOL_BASE, OPT_CROP, OPT_SIZE, OPT_PPM, OPT_FULL_DECODE };

struct run {
    struct rvt_frames_opts o;
    struct rvt_video_reader **readers; /* owned, per runner worker */
    const char *ppm_dir;
};

/* On a worker: one clip's K frames (field 0) and their times (field 1). */
static int process(void *ctx, struct rvt_run_item *it, struct rvt_error *err)
{
    struct run *run = ctx;
    const struct rvt_run_clip *c = it->clips;
    const double *pts = it->data[1];
    int k, ret;

    if (!c->path[0])
        return rvt_error_set(err, RVT_EINVAL, "clip %s has no video_path in the index", c->id);
    ret = rvt_video_extract(run->readers[it->worker], c->path, it->data[0], it->data[1], NULL, err);
    /* schemas/numbers.md: frame times finite, and in order (but for times= as given) */
    for (k = 0; ret >= 0 && k < run->o.n_frames; k++)
        if (!isfinite(pts[k]) ||
            (k && pts[k] < pts[k - 1] && run->o.pick.mode != RVT_PICK_TIMES))
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s': frame %d has time %g s, %s", c->path, k,
                                pts[k], isfinite(pts[k]) ? "before the frame picked before it"
                                                         : "not a finite number");
    return ret;
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

static int write_clip(void *ctx, const struct rvt_run_clip *c, const void *const *data,
                      struct rvt_error *err)
{
    const struct run *run = ctx;
    return run->ppm_dir ? write_ppm(run, c->id, data[0], err) : 0;
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
    struct rvt_run_list list = {0};
    struct rvt_run *r = NULL;
    struct rvt_store_writer *sw;
    struct rvt_store_field fields[2];
    struct run run;
    struct rvt_run_tool tool = {&run, process, write_clip, NULL, NULL};
    const char *output = NULL;
    bool full_decode = false;
    int c, rc = RVT_EXIT_FAILURE, n_workers = 0, w;

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

    if (rvt_run_list_index(&list, argv[optind], RVT_RUN_VIDEO, &err) < 0)
        goto fail;
    {
        struct rvt_run_opts ro = {"frames", cli.jobs, cli.shard_i, cli.shard_n, cli.keep_going,
                                  cli.failures_path, output, 1};
        if (rvt_run_new(&r, &ro, list.clips, list.n, &err) < 0)
            goto fail;
    }
    /* workers x decoder threads = cores: fewer clips or -j than cores gives
     * each decoder frame threads */
    n_workers = rvt_run_workers(r);
    run.o.threads = RVT_MAX(1, rvt_cpu_count() / n_workers);
    run.o.threads = RVT_MIN(run.o.threads, 16);
    rvt_debugf("%zu clips, %d workers x %d decoder threads", rvt_run_count(r), n_workers,
               run.o.threads);

    fields[0] = (struct rvt_store_field){
        "frames", RVT_DTYPE_U8, 4,
        {(uint64_t)run.o.n_frames, (uint64_t)run.o.out_h, (uint64_t)run.o.out_w, 3}};
    fields[1] = (struct rvt_store_field){"frame_pts", RVT_DTYPE_F64, 1,
                                         {(uint64_t)run.o.n_frames}};
    if (rvt_run_set_fields(r, fields, 2, &err) < 0 ||
        rvt_run_store_create(r, output, "frames", &sw, &err) < 0 ||
        rvt_store_set_provenance(sw, cli.cfg, list.sha256, cli.shard_i, cli.shard_n, &err) < 0 ||
        rvt_store_set_attr(sw, "rgb_conversion",
                           "libswscale " RVT_VIDEO_SWS_FLAGS_TEXT ", same size; matrix from the "
                           "stream's colorspace (BT.601 when untagged), range from the stream "
                           "(limited when untagged), MPEG-2 chroma siting; equals ffmpeg -vf "
                           RVT_VIDEO_CLI_FILTER " -pix_fmt rgb24",
                           &err) < 0 ||
        rvt_store_set_attr(sw, "resize",
                           "PIL Image.resize BILINEAR (antialiased), bit-exact integer "
                           "reimplementation; crop before resize",
                           &err) < 0)
        goto fail;
    if (!(run.readers = calloc((size_t)n_workers, sizeof(*run.readers)))) {
        rvt_error_set(&err, RVT_ENOMEM, "out of memory");
        goto fail;
    }
    for (w = 0; w < n_workers; w++)
        if (rvt_video_reader_create(&run.readers[w], &run.o, &err) < 0)
            goto fail;
    if (rvt_run_go(r, &tool, &err) < 0)
        goto fail;
    rc = rvt_run_report(r);
    goto done;

fail:
    rvt_errorf("%s", err.msg);
    rc = RVT_EXIT_FAILURE;
done:
    rvt_run_free(&r); /* removes what was not committed */
    for (w = 0; w < n_workers && run.readers; w++)
        rvt_video_reader_free(&run.readers[w]);
    free(run.readers);
    rvt_run_list_release(&list);
    rvt_cli_release(&cli);
    return rc;
}
