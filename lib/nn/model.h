/*
 * model.h: the seed's MultimodalAttentionFusion network (see docs/architecture.md) on
 * the CPU, fp32 (and int8 layers, see nn/layer.h), loaded from model.h5.
 *
 *   struct rvt_model *m;
 *   if (rvt_model_load(&m, "model.h5", &err) < 0) ...    // one-line err.msg
 *   const struct rvt_model_info *info = rvt_model_get_info(m);
 *   struct rvt_nn_session *s;
 *   rvt_nn_session_new(&s, m, 32, &err);                 // buffers for <= 32 clips
 *   rvt_model_forward(s, n, frames, mel, logits);        // n <= 32
 *   rvt_nn_session_free(&s);
 *   rvt_model_free(&m);
 *
 * Inputs of rvt_model_forward, n clips in C order:
 *   frames  uint8 RGB [n][info->image_h][info->image_w][3] (one frame per clip);
 *           the model applies /255 and (x - mean) / std with the checkpoint's
 *           mean/std, in float32 as torchvision's ToTensor + Normalize do
 *   mel     float32 [n][info->n_mels][info->n_frames] (log-mel in dB)
 *   logits  float32 [n][info->n_classes] (out)
 *
 * What it computes (eval mode: dropout and stochastic depth are identity,
 * BatchNorm uses running statistics and is folded into the preceding conv or
 * Linear at load, eps 1e-5):
 *   image  EfficientNet-B0 (stem 3x3/2 conv, 16 MBConv blocks of expand 1x1,
 *          depthwise 3x3 or 5x5 stride 1/2, squeeze-excitation, project 1x1,
 *          residual when the shape allows; head 1x1 conv to 1280) -> global average
 *          -> f * (fc(f) + fc(f))   [ChannelAttention(1280) of a 1x1 map: its avg-
 *          and max-pool are both f]
 *   audio  conv3x3(1->32)+BN+ReLU -> maxpool 2 -> ChannelAttention(32): w =
 *          fc(avg) + fc(max); "replace": w replaces the map (the next conv sees a
 *          1x1 input); "scale": map * w -> conv3x3(32->64) -> global average
 *   head   concat(1280 + 64) -> Linear+BN+ReLU (512) -> Linear (classes)
 *
 * Layout: NCHW planes, one image per GEMM; with AVX2 or AVX-512 the image branch is
 * channels-last instead ([pixels][channels]) from the stem to the head: each GEMM
 * (nn/sgemm.h for fp32, qgemm's gemm_t for int8) writes 16 output channels of a pixel
 * a vector with its bias, activation and residual fused, the expand straight into the
 * padded map the depthwise conv reads (16 channels a vector), which keeps every
 * vector lane busy on 7x7 and 14x14 maps and lets a session's threads split every
 * product (fp32 ones included).  The model then keeps its fp32 dense weights a second
 * time, packed for nn/sgemm.h (about the size of the fp32 checkpoint again).
 *
 * Clips are computed one at a time through the network, so a clip's logits do not
 * depend on the batch it came in: the same inputs give the same bits whatever the batch
 * size, the number of sessions running in parallel or the threads of a session
 * (rvt_nn_session_set_threads: threads share out every layer but the OpenBLAS GEMMs of
 * the planar path, which run whole on one of them, as OpenBLAS's bits depend on the
 * shape of a call; OpenBLAS itself runs single-threaded, as its own threads would split
 * a GEMM differently), as long as the same kernel level is selected.
 *
 * Memory: every activation buffer a session needs is planned at load and
 * allocated once by rvt_nn_session_new (about 17 MB per session for 224x224
 * frames, independent of the batch except 6 KB per clip); forward never allocates.
 *
 * Thread rules: a model is immutable after load and may be shared by threads;
 * a session is used by one thread at a time (one per worker), which may bring its own
 * helper threads (rvt_nn_session_set_threads).
 */
#ifndef RVT_NN_MODEL_H
#define RVT_NN_MODEL_H

#include "core/common.h"

#define RVT_MODEL_ARCHITECTURE "MultimodalAttentionFusion"
#define RVT_MODEL_MAX_CLASSES 1024
/* The checkpoint layout this code reads (schemas/checkpoint.md `schema_version`). */
#define RVT_MODEL_SCHEMA_VERSION "1"

struct rvt_model_info {
    const char *architecture;    /* "MultimodalAttentionFusion" */
    const char *format;          /* "fp32" or "int8" (the file's "format" attribute) */
    const char *audio_attention; /* "replace" or "scale" */
    int n_classes;
    char **class_names;          /* [n_classes] */
    int image_w, image_h;        /* image.width / image.height of the preprocessing */
    float mean[3], std[3];       /* image.mean / image.std */
    int n_mels, n_frames;        /* audio.n_mels / audio.max_len */
    const char *preprocessing;   /* the checkpoint's preprocessing text (config YAML) */
    const struct rvt_recipe *recipe; /* the frame recipe it was trained on (store/recipe.h) */
    size_t n_params;             /* numbers read from the file */
    int n_int8_layers;           /* dense layers running int8 */
};

struct rvt_model;
struct rvt_nn_session;
struct rvt_recipe;

/* Reads and checks model.h5; on failure *out is NULL and err says why in one line
 * (file, key, expected and found shapes). */
int rvt_model_load(struct rvt_model **out, const char *path, struct rvt_error *err);
void rvt_model_free(struct rvt_model **m);
const struct rvt_model_info *rvt_model_get_info(const struct rvt_model *m);
/* Multiply-adds of one clip (the whole network), for GFLOP/s reports. */
double rvt_model_macs(const struct rvt_model *m);

/*
 * Refuses inputs made with other preprocessing than the checkpoint's: config_text
 * is a feature store's "config" attribute (config YAML).  Compared keys:
 * image.width, image.height, image.frames, image.pick, image.crop and audio.sr,
 * n_fft, hop, n_mels, fmin, fmax, top_db, amin, ref, max_len, preemphasis,
 * res_type (numbers compare by value, so 16000 equals 16000.0; a key the
 * checkpoint does not record takes its default).  Not compared: image.mean/std
 * (the model applies its own), audio.noise_* (training augmentation), audio.fft
 * (float or double FFT: the same features to ~1e-6), audio.min_samples and
 * max_seconds (input limits).  The message names the key and both values, e.g.
 *   "'f.h5' has audio.n_mels 128 but the checkpoint 'model.h5' expects 64".
 */
int rvt_model_check_preprocessing(const struct rvt_model *m, const char *config_text,
                                  const char *store_name, const char *model_name,
                                  struct rvt_error *err);
/* Refuses a label set other than the checkpoint's (names and order). */
int rvt_model_check_classes(const struct rvt_model *m, const char *const *names, size_t n,
                            const char *store_name, const char *model_name,
                            struct rvt_error *err);

int rvt_nn_session_new(struct rvt_nn_session **out, const struct rvt_model *m, size_t max_batch,
                       struct rvt_error *err);
void rvt_nn_session_free(struct rvt_nn_session **s);
/*
 * Single-clip latency: n threads (1..16, the caller's included) compute each clip
 * together (nn/team.h), with the same bits as one thread.  n - 1 threads are started
 * and live until the session is freed or the next call; 1 stops them.  Forwards with
 * a trace or a calibration observer run on the caller's thread alone.
 */
int rvt_nn_session_set_threads(struct rvt_nn_session *s, int n, struct rvt_error *err);
/* The session's team (nn/team.h, for its profile), NULL with one thread. */
struct rvt_nn_team *rvt_nn_session_team(struct rvt_nn_session *s);

/* Bytes of activation memory the session holds. */
size_t rvt_nn_session_bytes(const struct rvt_nn_session *s);

/* Runs n <= max_batch clips (see top of file).  Cannot fail. */
void rvt_model_forward(struct rvt_nn_session *s, size_t n, const uint8_t *frames, const float *mel,
                       float *logits);

/*
 * Debugging and tests: after every layer, trace(ctx, clip, name, data, c, h, w)
 * sees its output (c x h x w floats, NCHW; vectors have h = w = 1).  Names follow
 * the PyTorch modules: "image" (normalised input), "img.features.0" (stem),
 * "img.features.S.I.expand|dw|se|project" and "img.features.S.I" (MBConv block
 * S.I), "img.features.8" (head conv), "img.avgpool", "img.attn" (attended
 * feature), "audio.2" (conv+BN+ReLU), "audio.3" (maxpool), "audio.4" (attention),
 * "audio.5" (conv), "audio.feat", "fusion", "logits".
 */
typedef void (*rvt_nn_trace_fn)(void *ctx, size_t clip, const char *name, const float *data,
                                int c, int h, int w);
/* Allocates a buffer for the NCHW copies of channels-last tensors (RVT_ENOMEM). */
int rvt_nn_session_set_trace(struct rvt_nn_session *s, rvt_nn_trace_fn fn, void *ctx,
                             struct rvt_error *err);

#endif
