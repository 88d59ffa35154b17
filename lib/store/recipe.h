/*
 * recipe.h: the frame recipe, what made a store's pixels what they are, and the
 * check that a model sees frames made the way its training frames were.
 *
 * The recipe is the config keys that change the stored frames (schemas/frames.md):
 *   image.convert image.resize image.jpeg_quality image.pick image.crop
 *   image.width image.height image.frames
 * It is recorded as root string attributes named by the key ("image.convert" =
 * "accurate") in frames stores (extract-frames), feature stores (pack-h5 carries
 * the frames store's) and checkpoints (export-checkpoint.py, kept by
 * quantize-model).  Reading a file's recipe: the built-in defaults, then the keys
 * of its config text ("config" of a store, "preprocessing" of a checkpoint), then
 * those attributes.  So a file written before a key existed means that key's
 * default: today's recipe.
 *
 *   struct rvt_recipe a, b;
 *   rvt_recipe_init(&a); rvt_recipe_init(&b);
 *   rvt_store_get_recipe(store, &a, &err);
 *   rvt_ckpt_get_recipe(ckpt, preprocessing_text, &b, &err);
 *   int k = rvt_recipe_diff(&a, &b);   // -1: same; else the first differing key
 *   rvt_recipe_release(&a); rvt_recipe_release(&b);
 *
 * Values compare as text, numbers by value ("224" == "224.0").
 */
#ifndef RVT_STORE_RECIPE_H
#define RVT_STORE_RECIPE_H

#include "core/common.h"
#include "core/config.h"
#include "store/checkpoint.h"
#include "store/store.h"

#define RVT_RECIPE_N 8

struct rvt_recipe {
    char *value[RVT_RECIPE_N]; /* owned; in rvt_recipe_key order; NULL before loading */
};

/* Key i (0 <= i < RVT_RECIPE_N), e.g. "image.convert". */
const char *rvt_recipe_key(int i);

void rvt_recipe_init(struct rvt_recipe *rc);
void rvt_recipe_release(struct rvt_recipe *rc);
/* Sets key i to a copy of value. */
int rvt_recipe_set(struct rvt_recipe *rc, int i, const char *value, struct rvt_error *err);
/* The recipe of a run's effective config (keys it lacks: the defaults). */
int rvt_recipe_from_config(struct rvt_recipe *rc, const struct rvt_config *cfg,
                           struct rvt_error *err);
/* Defaults, then the keys of config text (YAML; NULL = none); name is for errors. */
int rvt_recipe_from_text(struct rvt_recipe *rc, const char *text, const char *name,
                         struct rvt_error *err);
/* Index of the first key whose values differ, -1 when the recipes are the same. */
int rvt_recipe_diff(const struct rvt_recipe *a, const struct rvt_recipe *b);
/* "image.convert=accurate image.resize=pil ..." for logs; caller frees; NULL on OOM. */
char *rvt_recipe_text(const struct rvt_recipe *rc);

/* Writes the RVT_RECIPE_N attributes. */
int rvt_store_set_recipe(struct rvt_store_writer *w, const struct rvt_recipe *rc,
                         struct rvt_error *err);
/* Defaults <- attribute "config" (when present) <- the recipe attributes present. */
int rvt_store_get_recipe(const struct rvt_store_reader *r, struct rvt_recipe *rc,
                         struct rvt_error *err);
/* Defaults <- preprocessing (the checkpoint's "preprocessing" text, or NULL) <- the
 * recipe attributes present. */
int rvt_ckpt_get_recipe(struct rvt_ckpt *c, const char *preprocessing, struct rvt_recipe *rc,
                        struct rvt_error *err);
int rvt_ckpt_set_recipe(struct rvt_ckpt_writer *w, const struct rvt_recipe *rc,
                        struct rvt_error *err);

#endif
