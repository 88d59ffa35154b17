/*
 * ravdess.h: the rules of a RAVDESS-shaped corpus: the file-name grammar, the
 * emotion table, label sets and actor-disjoint splits.  index.h builds on these.
 *
 * File names (ref: Livingstone & Russo 2018, "The Ryerson Audio-Visual Database
 * of Emotional Speech and Song", PLoS ONE 13(5), section "Filename convention"):
 *
 *     MM-VV-EE-II-SS-RR-AA.ext        every field exactly two decimal digits
 *
 *   MM modality      01 full-AV (.mp4) | 02 video-only (.mp4) | 03 audio-only (.wav)
 *   VV vocal channel 01 speech | 02 song
 *   EE emotion       01 neutral 02 calm 03 happy 04 sad 05 angry 06 fearful
 *                    07 disgust 08 surprised; song has 01-06 only
 *   II intensity     01 normal | 02 strong; neutral (01) has normal only
 *   SS statement     01 "Kids are talking by the door" | 02 "Dogs are sitting by the door"
 *   RR repetition    01 | 02
 *   AA actor         01-99 (RAVDESS has 01-24; corpora laid out the same way may
 *                    have more); odd = male, even = female
 *
 * The extension is lower case and fixed by the modality.  The file must sit in a
 * folder named Actor_AA with the same two digits (both official zip layouts do).
 * The clip id is the stem without its modality: "VV-EE-II-SS-RR-AA".
 *
 *   struct rvt_ravdess_name n;
 *   if (rvt_ravdess_parse("root/Actor_12/01-01-06-01-02-01-12.mp4", &n, &err) < 0)
 *       puts(err.msg);  // "'root/...': emotion '09' is not 01-08" and the like
 *   n.id -> "01-06-01-02-01-12"
 *
 * Everything here is pure (no I/O, no allocation) and thread-safe.
 */
#ifndef RVT_RAVDESS_RAVDESS_H
#define RVT_RAVDESS_RAVDESS_H

#include "core/common.h"
#include "core/config.h"

#define RVT_ID_LEN 18 /* "01-06-01-02-01-12" + NUL */
#define RVT_ACTOR_MAX 99

/* RAVDESS emotion names by code: [1..8]; [0] = NULL. */
extern const char *const rvt_emotion_names[9];

enum rvt_split { RVT_SPLIT_TRAIN = 0, RVT_SPLIT_VAL = 1, RVT_SPLIT_TEST = 2 };

/* "train" | "val" | "test" */
const char *rvt_split_name(enum rvt_split s);
/* -1 when s is none of them */
int rvt_split_parse(const char *s, enum rvt_split *out);

enum rvt_modality {
    RVT_MODALITY_AV = 1,    /* full AV mp4: H.264 video + AAC audio */
    RVT_MODALITY_VIDEO = 2, /* video-only mp4 */
    RVT_MODALITY_AUDIO = 3, /* audio-only wav */
};

enum rvt_vocal { RVT_VOCAL_SPEECH = 1, RVT_VOCAL_SONG = 2 };

struct rvt_ravdess_name {
    int modality, vocal_channel, emotion, intensity, statement, repetition, actor;
    char id[RVT_ID_LEN]; /* "VV-EE-II-SS-RR-AA" */
};

/*
 * Parses the last component of path strictly and checks that the folder holding
 * it is Actor_AA.  On failure err->msg is "'PATH': FIELD 'VALUE' is not ..."
 * (the first field that is wrong, left to right) and RVT_EFORMAT is returned.
 */
int rvt_ravdess_parse(const char *path, struct rvt_ravdess_name *out, struct rvt_error *err);
/* The same without the folder check. */
int rvt_ravdess_parse_basename(const char *path, struct rvt_ravdess_name *out,
                               struct rvt_error *err);

/*
 * Whether a file name looks like a corpus file, so that it must parse: its
 * extension is .mp4 or .wav (any case), or its stem is digits and dashes
 * ("01-01-01-01-01-01-01.avi").  Other files (README, .DS_Store) are not.
 */
bool rvt_ravdess_is_candidate(const char *basename);

/* "01-06-01-02-01-12" from the fields (each 1-99). */
void rvt_ravdess_format_id(char id[RVT_ID_LEN], int vocal_channel, int emotion, int intensity,
                           int statement, int repetition, int actor);

/*
 * Label sets (config labels.set, labels.calm):
 *   seed7    the seed's 7 classes in the seed's index order:
 *            0 Angry 1 Disgust 2 Fear 3 Happy 4 Sad 5 Surprise 6 Neutral;
 *            calm -> Neutral (labels.calm: neutral) or left out (labels.calm: drop)
 *   native8  the 8 RAVDESS emotions, label = code - 1:
 *            0 neutral 1 calm 2 happy 3 sad 4 angry 5 fearful 6 disgust 7 surprised
 *            (labels.calm must be neutral: native8 has a calm class of its own)
 */
enum rvt_labelset_kind { RVT_LABELSET_SEED7 = 0, RVT_LABELSET_NATIVE8 = 1 };

struct rvt_labelset {
    enum rvt_labelset_kind kind;
    bool drop_calm;
    int n_classes;
    const char *names[8]; /* class names, static strings */
    int label_of[9];      /* RAVDESS emotion code 1-8 -> class; -1 = left out */
};

/* set: "seed7" | "native8"; calm: "neutral" | "drop".  RVT_EINVAL on a bad value. */
int rvt_labelset_init(struct rvt_labelset *ls, const char *set, const char *calm,
                      struct rvt_error *err);
/* From labels.set and labels.calm. */
int rvt_labelset_from_config(struct rvt_labelset *ls, const struct rvt_config *cfg,
                             struct rvt_error *err);
/* Class of a RAVDESS emotion code, -1 when the set leaves it out. */
int rvt_labelset_label(const struct rvt_labelset *ls, int emotion);

/*
 * Actor-disjoint splits (config split.*):
 *   folds == 0  actors in val_actors are val, in test_actors test, all others
 *               train; an actor in both lists is an error
 *   folds >= 3  actor a goes to fold (a - 1) mod folds; fold `fold` is test, fold
 *               (fold + 1) mod folds is val, the others train; the lists are
 *               ignored.  (folds 1 and 2 are errors: they leave no train split.)
 */
struct rvt_splits {
    int folds, fold;
    unsigned char of_actor[RVT_ACTOR_MAX + 1]; /* enum rvt_split, [1..99] */
};

int rvt_splits_init(struct rvt_splits *s, const long *val_actors, int n_val,
                    const long *test_actors, int n_test, long folds, long fold,
                    struct rvt_error *err);
int rvt_splits_from_config(struct rvt_splits *s, const struct rvt_config *cfg,
                           struct rvt_error *err);
/* actor 1-99 */
enum rvt_split rvt_splits_of(const struct rvt_splits *s, int actor);

#endif
