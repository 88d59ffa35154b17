/*
 * feed.h: a feature store of pack-h5 (schemas/features.md) as the input of a model,
 * the one contract of run-model and quantize-model --calibrate.
 *
 *   int k;
 *   rvt_feed_check(r, m, "features.h5", "model.h5", &k, &err);   // once, before reading
 *   rvt_feed_read(r, m, k, "features.h5", i, frame, mel, &label, scratch, &err);
 *
 * rvt_feed_check compares the store with the checkpoint: the preprocessing config
 * (naming the key that differs), the class names, /frames uint8 [N,K,H,W,3] of the
 * model's H x W (K <= 1024, returned in *k_frames), /mel float32 [N,n_mels,max_len],
 * clips/label int32, clips/split strings of at most RVT_FEED_SPLIT_MAX bytes.
 * Messages name both files and both values.
 *
 * rvt_feed_read reads clip i as the network takes it: the clip's first stored frame
 * (frame [H*W*3]; scratch holds K frames when K > 1, else unused), its mel
 * [n_mels*max_len] and its label, and fails the clip (RVT_EFORMAT, naming the file and
 * the clip) when the label is not a class index or a mel value is not finite
 * (schemas/numbers.md).
 *
 * Thread rule: the reader's (one thread at a time: HDF5).
 */
#ifndef RVT_NN_FEED_H
#define RVT_NN_FEED_H

#include "core/common.h"
#include "nn/model.h"
#include "store/store.h"

#define RVT_FEED_SPLIT_MAX 64

int rvt_feed_check(struct rvt_store_reader *r, const struct rvt_model *m,
                   const char *features_path, const char *model_path, int *k_frames,
                   struct rvt_error *err);
int rvt_feed_read(struct rvt_store_reader *r, const struct rvt_model *m, int k_frames,
                  const char *features_path, size_t i, uint8_t *frame, float *mel,
                  int32_t *label, uint8_t *scratch, struct rvt_error *err);

#endif
