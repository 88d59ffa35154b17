/* recipe.c: the frame recipe of stores and checkpoints (recipe.h). */
#include "core/common.h"

#include <stdlib.h>
#include <string.h>

#include "store/recipe.h"

/* The keys, and the value a key has when even the built-in config lacks it
 * (today's recipe: what every file written before the key existed was made with). */
static const struct {
    const char *key, *fallback;
} keys[RVT_RECIPE_N] = {
    {"image.convert", "accurate"}, {"image.resize", "pil"}, {"image.jpeg_quality", "0"},
    {"image.pick", "middle"},      {"image.crop", "none"},  {"image.width", "224"},
    {"image.height", "224"},       {"image.frames", "1"},
};

const char *rvt_recipe_key(int i)
{
    assert(i >= 0 && i < RVT_RECIPE_N);
    return keys[i].key;
}

void rvt_recipe_init(struct rvt_recipe *rc)
{
    memset(rc, 0, sizeof(*rc));
}

void rvt_recipe_release(struct rvt_recipe *rc)
{
    int i;
    for (i = 0; i < RVT_RECIPE_N; i++)
        free(rc->value[i]);
    rvt_recipe_init(rc);
}

int rvt_recipe_set(struct rvt_recipe *rc, int i, const char *value, struct rvt_error *err)
{
    char *v = strdup(value);
    if (!v)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    free(rc->value[i]);
    rc->value[i] = v;
    return 0;
}

/* Each key from cfg (may be NULL), else the built-in config, else the fallback. */
static int fill(struct rvt_recipe *rc, const struct rvt_config *cfg, struct rvt_error *err)
{
    struct rvt_config *def = NULL;
    int i, ret = rvt_config_new_default(&def, err);

    for (i = 0; i < RVT_RECIPE_N && ret >= 0; i++) {
        const char *v = cfg ? rvt_config_get(cfg, keys[i].key) : NULL;
        if (!v)
            v = rvt_config_get(def, keys[i].key);
        ret = rvt_recipe_set(rc, i, v ? v : keys[i].fallback, err);
    }
    rvt_config_free(&def);
    return ret;
}

int rvt_recipe_from_config(struct rvt_recipe *rc, const struct rvt_config *cfg,
                           struct rvt_error *err)
{
    return fill(rc, cfg, err);
}

int rvt_recipe_from_text(struct rvt_recipe *rc, const char *text, const char *name,
                         struct rvt_error *err)
{
    struct rvt_config *cfg = NULL;
    int ret = 0;

    /* into an empty config: the text defines its own keys, so one written by an
     * older or newer version (other keys) still gives its recipe */
    if (text && ((ret = rvt_config_new(&cfg, err)) < 0 ||
                 (ret = rvt_config_load_string(cfg, text, strlen(text), name, err)) < 0))
        goto done;
    ret = fill(rc, cfg, err);
done:
    rvt_config_free(&cfg);
    return ret;
}

int rvt_recipe_diff(const struct rvt_recipe *a, const struct rvt_recipe *b)
{
    int i;
    for (i = 0; i < RVT_RECIPE_N; i++)
        if (!rvt_config_same_value(a->value[i] ? a->value[i] : "", b->value[i] ? b->value[i] : ""))
            return i;
    return -1;
}

char *rvt_recipe_text(const struct rvt_recipe *rc)
{
    size_t n = 1, len = 0;
    char *s;
    int i;

    for (i = 0; i < RVT_RECIPE_N; i++)
        n += strlen(keys[i].key) + strlen(rc->value[i] ? rc->value[i] : "") + 2;
    if (!(s = malloc(n)))
        return NULL;
    s[0] = '\0';
    for (i = 0; i < RVT_RECIPE_N; i++)
        len += (size_t)snprintf(s + len, n - len, "%s%s=%s", i ? " " : "", keys[i].key,
                                rc->value[i] ? rc->value[i] : "");
    return s;
}

int rvt_store_set_recipe(struct rvt_store_writer *w, const struct rvt_recipe *rc,
                         struct rvt_error *err)
{
    int i, ret = 0;
    for (i = 0; i < RVT_RECIPE_N && ret >= 0; i++)
        ret = rvt_store_set_attr(w, keys[i].key, rc->value[i] ? rc->value[i] : "", err);
    return ret;
}

int rvt_store_get_recipe(const struct rvt_store_reader *r, struct rvt_recipe *rc,
                         struct rvt_error *err)
{
    char *text = NULL, *v = NULL;
    int i, ret = 0;

    if (rvt_store_has_attr(r, "config") &&
        (ret = rvt_store_get_attr(r, "config", &text, err)) < 0)
        goto done;
    if ((ret = rvt_recipe_from_text(rc, text, rvt_store_path(r), err)) < 0) {
        rvt_error_prefix(err, "%s: config attribute", rvt_store_path(r));
        goto done;
    }
    for (i = 0; i < RVT_RECIPE_N && ret >= 0; i++) {
        if (!rvt_store_has_attr(r, keys[i].key))
            continue;
        if ((ret = rvt_store_get_attr(r, keys[i].key, &v, err)) >= 0)
            ret = rvt_recipe_set(rc, i, v, err);
        free(v);
        v = NULL;
    }
done:
    free(text);
    return ret;
}

int rvt_ckpt_get_recipe(struct rvt_ckpt *c, const char *preprocessing, struct rvt_recipe *rc,
                        struct rvt_error *err)
{
    char *v = NULL;
    int i, ret;

    if ((ret = rvt_recipe_from_text(rc, preprocessing, "preprocessing", err)) < 0)
        return rvt_error_prefix(err, "%s: attribute 'preprocessing'", rvt_ckpt_path(c));
    for (i = 0; i < RVT_RECIPE_N && ret >= 0; i++) {
        if (!rvt_ckpt_has_attr(c, keys[i].key))
            continue;
        if ((ret = rvt_ckpt_attr_str(c, keys[i].key, &v, err)) >= 0)
            ret = rvt_recipe_set(rc, i, v, err);
        free(v);
        v = NULL;
    }
    return ret;
}

int rvt_ckpt_set_recipe(struct rvt_ckpt_writer *w, const struct rvt_recipe *rc,
                        struct rvt_error *err)
{
    int i, ret = 0;
    for (i = 0; i < RVT_RECIPE_N && ret >= 0; i++)
        ret = rvt_ckpt_set_str(w, keys[i].key, rc->value[i] ? rc->value[i] : "", err);
    return ret;
}
