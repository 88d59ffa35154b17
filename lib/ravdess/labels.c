/* labels.c: label sets and actor-disjoint splits (see ravdess.h). */
#include "core/common.h"

#include <string.h>

#include "ravdess/ravdess.h"

/* The seed's class list, in its index order. */
static const char *const seed7_names[7] = {
    "Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral",
};
/* RAVDESS emotion code -> seed7 class (calm handled separately) */
static const int seed7_of_emotion[9] = {-1, 6, 6, 3, 4, 0, 2, 1, 5};

int rvt_labelset_init(struct rvt_labelset *ls, const char *set, const char *calm,
                      struct rvt_error *err)
{
    int e;

    memset(ls, 0, sizeof(*ls));
    if (strcmp(calm, "neutral") && strcmp(calm, "drop"))
        return rvt_error_set(err, RVT_EINVAL, "labels.calm '%s' is not neutral or drop", calm);
    ls->label_of[0] = -1;
    if (!strcmp(set, "seed7")) {
        ls->kind = RVT_LABELSET_SEED7;
        ls->n_classes = 7;
        for (e = 0; e < 7; e++)
            ls->names[e] = seed7_names[e];
        for (e = 1; e <= 8; e++)
            ls->label_of[e] = seed7_of_emotion[e];
        ls->drop_calm = !strcmp(calm, "drop");
        if (ls->drop_calm)
            ls->label_of[2] = -1;
    } else if (!strcmp(set, "native8")) {
        if (strcmp(calm, "neutral"))
            return rvt_error_set(err, RVT_EINVAL,
                                 "labels.calm '%s' needs labels.set seed7 (native8 has a calm "
                                 "class of its own)",
                                 calm);
        ls->kind = RVT_LABELSET_NATIVE8;
        ls->n_classes = 8;
        for (e = 1; e <= 8; e++) {
            ls->names[e - 1] = rvt_emotion_names[e];
            ls->label_of[e] = e - 1;
        }
    } else {
        return rvt_error_set(err, RVT_EINVAL, "labels.set '%s' is not seed7 or native8", set);
    }
    return 0;
}

int rvt_labelset_from_config(struct rvt_labelset *ls, const struct rvt_config *cfg,
                             struct rvt_error *err)
{
    const char *set, *calm;
    int ret;

    memset(ls, 0, sizeof(*ls));
    if ((ret = rvt_config_get_str(cfg, "labels.set", &set, err)) < 0 ||
        (ret = rvt_config_get_str(cfg, "labels.calm", &calm, err)) < 0)
        return ret;
    return rvt_labelset_init(ls, set, calm, err);
}

int rvt_labelset_label(const struct rvt_labelset *ls, int emotion)
{
    assert(emotion >= 1 && emotion <= 8);
    return ls->label_of[emotion];
}

static int mark(struct rvt_splits *s, const char *what, const long *actors, int n,
                enum rvt_split split, struct rvt_error *err)
{
    int i;
    for (i = 0; i < n; i++) {
        long a = actors[i];
        if (a < 1 || a > RVT_ACTOR_MAX)
            return rvt_error_set(err, RVT_EINVAL, "%s: actor %ld is not 1-%d", what, a,
                                 RVT_ACTOR_MAX);
        if (s->of_actor[a] != RVT_SPLIT_TRAIN && s->of_actor[a] != split)
            return rvt_error_set(err, RVT_EINVAL,
                                 "actor %ld is in both split.val_actors and split.test_actors", a);
        s->of_actor[a] = (unsigned char)split;
    }
    return 0;
}

int rvt_splits_init(struct rvt_splits *s, const long *val_actors, int n_val,
                    const long *test_actors, int n_test, long folds, long fold,
                    struct rvt_error *err)
{
    int a, ret;

    memset(s, 0, sizeof(*s));
    if (folds < 0 || folds == 1 || folds == 2 || folds > RVT_ACTOR_MAX)
        return rvt_error_set(err, RVT_EINVAL,
                             "split.folds %ld is not 0 (actor lists) or 3-%d (3 folds at least: "
                             "one test, one val, one train)",
                             folds, RVT_ACTOR_MAX);
    if (folds == 0 && fold != 0)
        return rvt_error_set(err, RVT_EINVAL, "split.fold %ld needs split.folds (--folds K)", fold);
    if (folds > 0 && (fold < 0 || fold >= folds))
        return rvt_error_set(err, RVT_EINVAL, "split.fold %ld is not 0-%ld", fold, folds - 1);
    s->folds = (int)folds;
    s->fold = (int)fold;
    if (folds > 0) {
        for (a = 1; a <= RVT_ACTOR_MAX; a++) {
            int f = (a - 1) % s->folds;
            s->of_actor[a] = f == s->fold                       ? RVT_SPLIT_TEST
                             : f == (s->fold + 1) % s->folds ? RVT_SPLIT_VAL
                                                              : RVT_SPLIT_TRAIN;
        }
        return 0;
    }
    if ((ret = mark(s, "split.val_actors", val_actors, n_val, RVT_SPLIT_VAL, err)) < 0 ||
        (ret = mark(s, "split.test_actors", test_actors, n_test, RVT_SPLIT_TEST, err)) < 0)
        return ret;
    return 0;
}

int rvt_splits_from_config(struct rvt_splits *s, const struct rvt_config *cfg,
                           struct rvt_error *err)
{
    long val[RVT_CONFIG_MAX_LIST], test[RVT_CONFIG_MAX_LIST], folds, fold;
    int n_val, n_test, ret;

    memset(s, 0, sizeof(*s));
    if ((ret = rvt_config_get_ints(cfg, "split.val_actors", val, RVT_CONFIG_MAX_LIST, &n_val,
                                   err)) < 0 ||
        (ret = rvt_config_get_ints(cfg, "split.test_actors", test, RVT_CONFIG_MAX_LIST, &n_test,
                                   err)) < 0 ||
        (ret = rvt_config_get_int(cfg, "split.folds", &folds, err)) < 0 ||
        (ret = rvt_config_get_int(cfg, "split.fold", &fold, err)) < 0)
        return ret;
    return rvt_splits_init(s, val, n_val, test, n_test, folds, fold, err);
}

enum rvt_split rvt_splits_of(const struct rvt_splits *s, int actor)
{
    assert(actor >= 1 && actor <= RVT_ACTOR_MAX);
    return (enum rvt_split)s->of_actor[actor];
}
