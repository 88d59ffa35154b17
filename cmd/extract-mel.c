/* extract-mel: index.csv (or audio files) -> log-mel features (mel.h5 or .npy). */
#include "core/common.h"

#include <getopt.h>
#include <string.h>

#include "core/cli.h"
#include "core/log.h"
#include "media/audio.h"
#include "media/media.h"
#include "run/mel.h"

static const char usage[] =
    "NAME\n"
    "  extract-mel - compute librosa-exact log-mel spectrograms of every clip\n"
    "\n"
    "SYNOPSIS\n"
    "  extract-mel [OPTIONS] INDEX.csv -o MEL.h5\n"
    "  extract-mel [OPTIONS] INDEX.csv --npy DIR\n"
    "  extract-mel [OPTIONS] --npy DIR FILE...\n"
    "\n"
    "DESCRIPTION\n"
    "  For every clip of INDEX.csv (its audio_path column: the wav, or the mp4 when the\n"
    "  clip has no wav) does what the seed (the reference article's Python code) does\n"
    "  with librosa 0.10:\n"
    "      y, _ = librosa.load(path, sr=16000)       libsndfile, or FFmpeg s16 for mp4;\n"
    "                                                mono = channel mean; soxr_hq\n"
    "      S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048,\n"
    "              hop_length=512, n_mels=64)        hann, centered, power 2, Slaney\n"
    "      db = librosa.power_to_db(S)               ref 1, amin 1e-10, top_db 80\n"
    "  and zero-pads on the right or crops db to 300 frames.  Every number is a config\n"
    "  key (audio.*, see --print-config and schemas/mel.md) recorded in the output.\n"
    "\n"
    "  -o MEL.h5 writes a feature store (kind \"mel\"): /clips/id, /mel float32\n"
    "  [N, n_mels, max_len], /mel_frames int32 [N] (frames of the clip before padding\n"
    "  or cropping, 1 + samples // hop), root attributes with every audio parameter,\n"
    "  the audio config text and the index sha256.  --npy DIR writes DIR/<id>.npy\n"
    "  (float32 [n_mels, max_len]) per clip, DIR/mel_frames.csv (id,mel_frames) and\n"
    "  DIR/mel_attrs.yaml (the same attributes).  Every file is written atomically;\n"
    "  after a failure without --keep-going nothing of this run is left.\n"
    "\n"
    "  With FILE arguments (any audio file libsndfile or FFmpeg reads) instead of an\n"
    "  index, each file is one clip whose id is its name without folder and extension.\n"
    "  A clip fails (one line naming the file and the reason) when its file is\n"
    "  missing, empty, not audio, truncated, in a format neither libsndfile nor FFmpeg\n"
    "  decodes, shorter than audio.min_samples at audio.sr, or longer than\n"
    "  audio.max_seconds.\n"
    "\n"
    "OPTIONS\n"
    "  -o, --output FILE    mel.h5 to write\n"
    "      --npy DIR        write DIR/<id>.npy files instead (DIR is created)\n"
    "      --dump-stages DIR\n"
    "                       also write every intermediate stage per clip as .npy:\n"
    "                       <id>.y.npy (signal at sr), <id>.stftpow.npy, <id>.mel.npy,\n"
    "                       <id>.db.npy, and window.npy, melfb.npy (for debugging)\n"
    "      --sr HZ          audio.sr, target sample rate (default 16000)\n"
    "      --n-fft N        audio.n_fft (default 2048)\n"
    "      --hop N          audio.hop (default 512)\n"
    "      --n-mels N       audio.n_mels (default 64)\n"
    "      --fmin HZ        audio.fmin (default 0)\n"
    "      --fmax HZ        audio.fmax (default 0 = sr / 2)\n"
    "      --top-db DB      audio.top_db (default 80; none = no floor)\n"
    "      --max-len N      audio.max_len, output frames (default 300)\n"
    "      --preemphasis C  audio.preemphasis (default 0 = off)\n"
    "      --noise-level L  audio.noise_level: add N(0,1) * L * max|y| (default 0 = off)\n"
    "      --noise-seed S   audio.noise_seed (default 0); the noise is seeded by it and\n"
    "                       the clip id, so output is deterministic\n"
    "      --fft PRECISION  audio.fft: double (default, librosa's arithmetic) | float\n"
    RVT_HELP_CONFIG RVT_HELP_JOBS RVT_HELP_CLIPS RVT_HELP_STD
    "\n" RVT_HELP_EXIT
    "\n"
    "EXAMPLES\n"
    "  extract-mel index.csv -o mel.h5 -j 8\n"
    "  extract-mel index.csv -o mel.h5 --shard 0/4 -k --failures bad.csv\n"
    "  extract-mel --set audio.n_mels=128 --npy out/ a.wav b.mp4\n";

enum {
    OPT_NPY = RVT_OPT_TOOL_BASE,
    OPT_DUMP,
    OPT_SR,
    OPT_NFFT,
    OPT_HOP,
    OPT_NMELS,
    OPT_FMIN,
    OPT_FMAX,
    OPT_TOPDB,
    OPT_MAXLEN,
    OPT_PREEMPH,
    OPT_NOISE,
    OPT_SEED,
    OPT_FFT,
};

static const struct option long_opts[] = {
    RVT_CLI_LONGOPTS,
    {"output", required_argument, NULL, 'o'},
    {"npy", required_argument, NULL, OPT_NPY},
    {"dump-stages", required_argument, NULL, OPT_DUMP},
    {"sr", required_argument, NULL, OPT_SR},
    {"n-fft", required_argument, NULL, OPT_NFFT},
    {"hop", required_argument, NULL, OPT_HOP},
    {"n-mels", required_argument, NULL, OPT_NMELS},
    {"fmin", required_argument, NULL, OPT_FMIN},
    {"fmax", required_argument, NULL, OPT_FMAX},
    {"top-db", required_argument, NULL, OPT_TOPDB},
    {"max-len", required_argument, NULL, OPT_MAXLEN},
    {"preemphasis", required_argument, NULL, OPT_PREEMPH},
    {"noise-level", required_argument, NULL, OPT_NOISE},
    {"noise-seed", required_argument, NULL, OPT_SEED},
    {"fft", required_argument, NULL, OPT_FFT},
    {NULL, 0, NULL, 0},
};

static const char *const opt_keys[] = {
    [OPT_SR - OPT_SR] = "audio.sr",           [OPT_NFFT - OPT_SR] = "audio.n_fft",
    [OPT_HOP - OPT_SR] = "audio.hop",         [OPT_NMELS - OPT_SR] = "audio.n_mels",
    [OPT_FMIN - OPT_SR] = "audio.fmin",       [OPT_FMAX - OPT_SR] = "audio.fmax",
    [OPT_TOPDB - OPT_SR] = "audio.top_db",    [OPT_MAXLEN - OPT_SR] = "audio.max_len",
    [OPT_PREEMPH - OPT_SR] = "audio.preemphasis", [OPT_NOISE - OPT_SR] = "audio.noise_level",
    [OPT_SEED - OPT_SR] = "audio.noise_seed", [OPT_FFT - OPT_SR] = "audio.fft",
};

int main(int argc, char **argv)
{
    struct rvt_cli cli;
    struct rvt_run_list list = {0};
    struct rvt_logmel_params params;
    struct rvt_mel_job job = {&params, NULL, &list, NULL, NULL, NULL};
    struct rvt_run *run = NULL;
    struct rvt_error err = {0};
    int c, r, ret, exit_code = RVT_EXIT_OK;

    rvt_cli_init(&cli, "extract-mel", usage);
    rvt_cli_keys(&cli, "audio. store.");
    while ((c = getopt_long(argc, argv, RVT_CLI_SHORTOPTS "o:", long_opts, NULL)) != -1) {
        r = rvt_cli_handle(&cli, c, optarg);
        if (r == RVT_CLI_EXIT) {
            exit_code = cli.exit_code;
            goto done;
        }
        if (r == RVT_CLI_HANDLED)
            continue;
        if (c == 'o') {
            job.out_path = optarg;
        } else if (c == OPT_NPY) {
            job.npy_dir = optarg;
        } else if (c == OPT_DUMP) {
            job.dump_dir = optarg;
        } else if (c >= OPT_SR && c <= OPT_FFT) {
            if (rvt_cli_set(&cli, opt_keys[c - OPT_SR], optarg) < 0) {
                exit_code = rvt_cli_usage_error(&cli, "too many options");
                goto done;
            }
        } else {
            exit_code = rvt_cli_usage_error(&cli, "unknown option");
            goto done;
        }
    }
    if (rvt_cli_finish(&cli) == RVT_CLI_EXIT) {
        exit_code = cli.exit_code;
        goto done;
    }
    rvt_media_set_log_level(cli.log_level);
    if (optind >= argc) {
        exit_code = rvt_cli_usage_error(&cli, "no input: give INDEX.csv or audio files");
        goto done;
    }
    if (!job.out_path == !job.npy_dir) {
        exit_code = rvt_cli_usage_error(&cli, "give exactly one of -o FILE and --npy DIR");
        goto done;
    }
    if (rvt_cli_check_outputs(&cli, RVT_PATHS(job.out_path, cli.failures_path),
                              RVT_PATHV(argc - optind, argv + optind)) == RVT_CLI_EXIT) {
        exit_code = cli.exit_code;
        goto done;
    }
    if (rvt_logmel_params_from_config(&params, cli.cfg, &err) < 0) {
        rvt_errorf("%s", err.msg);
        exit_code = RVT_EXIT_USAGE;
        goto done;
    }
    c = (int)strlen(argv[optind]);
    if (optind == argc - 1 && (!strcmp(argv[optind], "-") ||
                               (c > 4 && !strcmp(argv[optind] + c - 4, ".csv"))))
        ret = rvt_run_list_index(&list, argv[optind], RVT_RUN_AUDIO, &err);
    else
        ret = rvt_run_list_files(&list, argv + optind, (size_t)(argc - optind), &err);
    if (ret < 0) {
        rvt_errorf("%s", err.msg);
        exit_code = ret == RVT_EINVAL ? RVT_EXIT_USAGE : RVT_EXIT_FAILURE;
        goto done;
    }
    job.cfg = cli.cfg;
    {
        struct rvt_run_opts ro = {"mel", cli.jobs, cli.shard_i, cli.shard_n, cli.keep_going,
                                  cli.failures_path, NULL, 1};
        ret = rvt_run_mel(&job, &ro, &run, &err);
    }
    if (ret < 0) {
        rvt_errorf("%s", err.msg);
        exit_code = RVT_EXIT_FAILURE;
        goto done;
    }
    exit_code = rvt_run_report(run);
done:
    rvt_run_free(&run);
    rvt_run_list_release(&list);
    rvt_cli_release(&cli);
    return exit_code;
}
