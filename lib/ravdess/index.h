/*
 * index.h: index.csv, the list of clips every tool reads.
 *
 * Columns, in this order (schemas/index.md is the contract):
 *   id            clip id: the RAVDESS stem without the modality field,
 *                 "VV-EE-II-SS-RR-AA", e.g. "01-06-01-02-01-12"
 *   actor         1-24 (any positive integer for corpora laid out the same way)
 *   gender        male (odd actor) | female (even actor)
 *   vocal_channel 1 speech | 2 song
 *   emotion       1-8 (RAVDESS code)
 *   emotion_name  neutral calm happy sad angry fearful disgust surprised
 *   intensity     1 normal | 2 strong
 *   statement     1 | 2
 *   repetition    1 | 2
 *   label         0-based class index under the configured label set
 *   label_name    that class's name (e.g. Angry)
 *   split         train | val | test
 *   video_path    the full-AV mp4 (modality 01); empty when not required/absent
 *   audio_path    the wav (modality 03); the mp4 when the clip has no wav (its AAC
 *                 track is used); empty with --modality video
 * Rows are sorted by id (strcmp order).  Paths are as found under the corpus
 * root given to ravdess-index (relative paths stay relative to the cwd).
 */
#ifndef RVT_RAVDESS_INDEX_H
#define RVT_RAVDESS_INDEX_H

#include "core/common.h"

#define RVT_ID_LEN 18      /* "01-06-01-02-01-12" + NUL */
#define RVT_INDEX_MAX_CLIPS 10000000

enum rvt_split { RVT_SPLIT_TRAIN = 0, RVT_SPLIT_VAL = 1, RVT_SPLIT_TEST = 2 };

struct rvt_clip {
    char id[RVT_ID_LEN];
    int actor, vocal_channel, emotion, intensity, statement, repetition;
    bool female;
    int label;               /* class index under the label set */
    char label_name[32];
    enum rvt_split split;
    char *video_path;        /* owned; "" when absent */
    char *audio_path;        /* owned; "" when absent */
};

struct rvt_index {
    struct rvt_clip *clips;  /* owned, n of them, sorted by id */
    size_t n;
    char sha256[65];         /* of the index.csv bytes as read */
};

extern const char *const rvt_index_columns[14];
extern const char *const rvt_emotion_names[9]; /* [1..8]; [0] = NULL */

/* Reads and validates index.csv ("-" = stdin).  On failure *idx is empty. */
int rvt_index_load(struct rvt_index *idx, const char *path, struct rvt_error *err);
void rvt_index_release(struct rvt_index *idx);

const char *rvt_split_name(enum rvt_split s);
int rvt_split_parse(const char *s, enum rvt_split *out);

#endif
