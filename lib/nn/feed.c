/* feed.c: a feature store as a model's input (feed.h). */
#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/feed.h"
#include "store/recipe.h"

/* The store's shapes, types, config and label set against the checkpoint's. */
int rvt_feed_check(struct rvt_store_reader *r, const struct rvt_model *m,
                   const char *features_path, const char *model_path, int *k_frames,
                   struct rvt_error *err)
{
    const struct rvt_model_info *info = rvt_model_get_info(m);
    struct rvt_store_field f;
    char *cfg = NULL, **names = NULL;
    size_t n_names = 0;
    struct rvt_recipe rc;
    int ret, k;

    /* the frame recipe first (store/recipe.h): frames made another way than the
     * model's training frames are refused, naming the key */
    rvt_recipe_init(&rc);
    if ((ret = rvt_store_get_recipe(r, &rc, err)) < 0)
        goto done;
    if ((k = rvt_recipe_diff(&rc, info->recipe)) >= 0) {
        ret = rvt_error_set(err, RVT_EMISMATCH,
                            "features '%s' were made with %s=%s, model '%s' expects %s",
                            features_path, rvt_recipe_key(k), rc.value[k], model_path,
                            info->recipe->value[k]);
        goto done;
    }
    /* then the rest of the config: its message names the key that differs */
    if ((ret = rvt_store_get_attr(r, "config", &cfg, err)) < 0)
        goto done;
    if ((ret = rvt_model_check_preprocessing(m, cfg, features_path, model_path, err)) < 0)
        goto done;
    if ((ret = rvt_store_get_attr_list(r, "class_names", &names, &n_names, err)) < 0)
        goto done;
    if ((ret = rvt_model_check_classes(m, (const char *const *)names, n_names, features_path,
                                       model_path, err)) < 0)
        goto done;
    if ((ret = rvt_store_field_info(r, "frames", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_U8 || f.rank != 4 || f.dims[3] != 3 || f.dims[0] < 1) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': frames are not uint8 [N,K,H,W,3]",
                            features_path);
        goto done;
    }
    if (f.dims[1] != (uint64_t)info->image_h || f.dims[2] != (uint64_t)info->image_w) {
        ret = rvt_error_set(err, RVT_EMISMATCH,
                            "'%s' has %llux%llu frames but the checkpoint '%s' expects %dx%d",
                            features_path, (unsigned long long)f.dims[2],
                            (unsigned long long)f.dims[1], model_path, info->image_w,
                            info->image_h);
        goto done;
    }
    if (f.dims[0] > 1024) {
        ret = rvt_error_set(err, RVT_ELIMIT, "'%s': %llu frames a clip (at most 1024)",
                            features_path, (unsigned long long)f.dims[0]);
        goto done;
    }
    *k_frames = (int)f.dims[0];
    if ((ret = rvt_store_field_info(r, "mel", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_F32 || f.rank != 2) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': mel is not float32 [N,n_mels,T]",
                            features_path);
        goto done;
    }
    if (f.dims[0] != (uint64_t)info->n_mels || f.dims[1] != (uint64_t)info->n_frames) {
        ret = rvt_error_set(err, RVT_EMISMATCH,
                            "'%s' has mel %llux%llu but the checkpoint '%s' expects %dx%d (n_mels x max_len)",
                            features_path, (unsigned long long)f.dims[0],
                            (unsigned long long)f.dims[1], model_path, info->n_mels,
                            info->n_frames);
        goto done;
    }
    if ((ret = rvt_store_field_info(r, "clips/label", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_I32 || f.rank != 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': clips/label is not int32", features_path);
        goto done;
    }
    if ((ret = rvt_store_field_info(r, "clips/split", &f, err)) < 0)
        goto done;
    if (f.dtype != RVT_DTYPE_STR || f.dims[0] > RVT_FEED_SPLIT_MAX) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': clips/split is not a string column of at most %d bytes",
                            features_path, RVT_FEED_SPLIT_MAX);
        goto done;
    }
done:
    rvt_recipe_release(&rc);
    free(cfg);
    rvt_store_list_free(&names, n_names);
    return ret;
}


int rvt_feed_read(struct rvt_store_reader *r, const struct rvt_model *m, int k_frames,
                  const char *features_path, size_t i, uint8_t *frame, float *mel,
                  int32_t *label, uint8_t *scratch, struct rvt_error *err)
{
    const struct rvt_model_info *info = rvt_model_get_info(m);
    size_t fsz = (size_t)info->image_h * info->image_w * 3;
    size_t msz = (size_t)info->n_mels * info->n_frames, k;
    int ret;

    if (k_frames == 1) {
        ret = rvt_store_read(r, "frames", i, frame, err);
    } else {
        ret = rvt_store_read(r, "frames", i, scratch, err);
        if (ret >= 0)
            memcpy(frame, scratch, fsz); /* frame 0 */
    }
    if (ret >= 0)
        ret = rvt_store_read(r, "mel", i, mel, err);
    if (ret >= 0)
        ret = rvt_store_read(r, "clips/label", i, label, err);
    if (ret < 0)
        return ret;
    if (*label < 0 || *label >= info->n_classes)
        return rvt_error_set(err, RVT_EFORMAT, "%s: clip '%s': label %d is not a class index 0-%d",
                             features_path, rvt_store_id(r, i), (int)*label, info->n_classes - 1);
    for (k = 0; k < msz; k++) /* schemas/numbers.md: a non-finite feature fails the clip */
        if (!isfinite(mel[k]))
            return rvt_error_set(err, RVT_EFORMAT, "%s: clip '%s': mel value %zu is %s",
                                 features_path, rvt_store_id(r, i), k,
                                 isnan(mel[k]) ? "NaN" : "infinite");
    return 0;
}
