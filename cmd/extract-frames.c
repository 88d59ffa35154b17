/* extract-frames: index.csv -> frames.h5 (K RGB frames per clip, picked by timestamp). */
#include "core/common.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cli.h"
#include "core/log.h"
#include "media/media.h"
#include "run/frames.h"

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
    "  Other training stacks, bit for bit: --set image.convert=opencv (cv2.VideoCapture),\n"
    "  pyav (PyAV to_ndarray) or ffmpeg (the CLI's default flags); --set\n"
    "  image.resize=opencv (cv2.resize, no antialiasing).\n"
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
    "                         cv-middle     where OpenCV lands after setting\n"
    "                                       CAP_PROP_POS_FRAMES to the header's frame\n"
    "                                       count // 2 (later than middle when the\n"
    "                                       header counts hidden pre-roll frames)\n"
    "      --crop SPEC      none | center | box=X,Y,W,H (image.crop, default none):\n"
    "                       none squashes the whole frame (as the seed); center takes\n"
    "                       the centred square of the displayed picture; box is in\n"
    "                       displayed pixels (after rotation and sample aspect ratio)\n"
    "      --size N|WxH     output size (image.width, image.height; default 224)\n"
    "      --jpeg-quality Q each frame saved as JPEG at quality 1-100 and read back,\n"
    "                       as PIL does (image.jpeg_quality; default 0 = off)\n"
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

enum { OPT_PICK = RVT_OPT_TOOL_BASE, OPT_CROP, OPT_SIZE, OPT_PPM, OPT_FULL_DECODE, OPT_JPEG };

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
        {"jpeg-quality", required_argument, NULL, OPT_JPEG},
        {NULL, 0, NULL, 0},
    };
    struct rvt_cli cli;
    struct rvt_error err = {0};
    struct rvt_run_list list = {0};
    struct rvt_run *r = NULL;
    struct rvt_frames_job run;
    const char *output = NULL;
    bool full_decode = false;
    int c, rc = RVT_EXIT_FAILURE;

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
        case OPT_JPEG:
            rvt_cli_set(&cli, "image.jpeg_quality", optarg);
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
    rvt_media_set_log_level(cli.log_level);
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
    if (rvt_frames_opts_from_config(&run.opts, cli.cfg, &err) < 0) {
        rc = rvt_cli_usage_error(&cli, "%s", err.msg);
        goto done;
    }
    run.opts.full_decode = full_decode;
    if (run.ppm_dir) {
        struct stat st;
        if (stat(run.ppm_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = rvt_cli_usage_error(&cli, "--ppm: '%s' is not a directory", run.ppm_dir);
            goto done;
        }
    }

    if (rvt_run_list_index(&list, argv[optind], RVT_RUN_VIDEO, &err) < 0)
        goto fail;
    run.cfg = cli.cfg;
    run.clips = &list;
    {
        struct rvt_run_opts ro = {"frames", cli.jobs, cli.shard_i, cli.shard_n, cli.keep_going,
                                  cli.failures_path, output, 1};
        if (rvt_run_frames(&run, &ro, output, &r, &err) < 0)
            goto fail;
    }
    rc = rvt_run_report(r);
    goto done;

fail:
    rvt_errorf("%s", err.msg);
    rc = RVT_EXIT_FAILURE;
done:
    rvt_run_free(&r); /* removes what was not committed */
    rvt_run_list_release(&list);
    rvt_cli_release(&cli);
    return rc;
}
