/*
 * index.h: index.csv, the list of clips every tool reads.
 *
 * Columns, in this order (schemas/index.md is the contract):
 *   id            clip id: the RAVDESS stem without the modality field,
 *                 "VV-EE-II-SS-RR-AA", e.g. "01-06-01-02-01-12"
 *   actor         1-24 (1-99 for corpora laid out the same way)
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
 *   video_path    the full-AV mp4 (modality 01); with --modality video the
 *                 video-only mp4 (02) when the clip has no 01; empty with
 *                 --modality audio
 *   audio_path    the wav (modality 03); with --modality audio the full-AV mp4
 *                 when the clip has no wav (its AAC track is used); empty with
 *                 --modality video
 * Rows are sorted by id (strcmp order).  A relative path is relative to the
 * folder of the index file itself (absolute paths stay as they are), so an index
 * works from any working directory: rvt_index_load puts the index's folder in
 * front of relative paths (video_path, audio_path) and keeps the column text in
 * video_path_csv, audio_path_csv.  ravdess-index writes the corpus root as a path
 * relative to the output's folder (--absolute: realpath of the root).
 */
#ifndef RVT_RAVDESS_INDEX_H
#define RVT_RAVDESS_INDEX_H

#include "core/common.h"

#include <stdio.h>

#include "core/config.h"
#include "ravdess/ravdess.h" /* RVT_ID_LEN, enum rvt_split, label sets, splits */

#define RVT_INDEX_MAX_CLIPS 10000000

struct rvt_clip {
    char id[RVT_ID_LEN];
    int actor, vocal_channel, emotion, intensity, statement, repetition;
    bool female;
    int label;               /* class index under the label set */
    char label_name[32];
    enum rvt_split split;
    char *video_path;        /* owned; "" when absent; as the tools open it (below) */
    char *audio_path;        /* owned; "" when absent */
    char *video_path_csv;    /* owned: the column as written in index.csv (NULL when the */
    char *audio_path_csv;    /* clip was built, not loaded: then the same as above) */
};

struct rvt_index {
    struct rvt_clip *clips;  /* owned, n of them, sorted by id */
    size_t n;
    char sha256[65];         /* of the index.csv bytes as read */
};

extern const char *const rvt_index_columns[14];

/*
 * Reads and validates index.csv ("-" = stdin; its relative paths are then
 * relative to the cwd): the header, every value's range,
 * the id against its fields, emotion_name against emotion, gender against the
 * actor's parity, ids unique and sorted.  On failure *idx is empty and err names
 * the line and the column.
 */
int rvt_index_load(struct rvt_index *idx, const char *path, struct rvt_error *err);
void rvt_index_release(struct rvt_index *idx);

/* Writes the header and one row per clip (libcsv quoting, "\n" line ends). */
int rvt_index_write(const struct rvt_index *idx, FILE *fp, struct rvt_error *err);

/*
 * Building an index from corpus folders (what ravdess-index does).
 *
 *   struct rvt_index_options o;
 *   struct rvt_index idx;
 *   struct rvt_index_report rep;
 *   rvt_index_options_from_config(&o, cfg, &err);          // corpus.*, labels.*, split.*
 *   ret = rvt_index_build(&idx, &rep, roots, n_roots, &o, &err);
 *   ... rep.problems: every file or clip left out for a fault, in a stable order
 *   rvt_index_release(&idx); rvt_index_report_release(&rep);
 *
 * The walk: every root is read recursively (at most RVT_WALK_MAX_DEPTH folders
 * deep), entries in strcmp order, so the result never depends on readdir order.
 * Names starting with '.' and folders named __MACOSX are skipped.  A file whose
 * name looks like a corpus file (rvt_ravdess_is_candidate) must parse
 * (rvt_ravdess_parse) or it is a problem; other files are ignored (counted,
 * named at debug level).  Media files are never opened: the walk costs one
 * readdir per folder (plus one stat per symlink, or per entry on file systems
 * without d_type).
 *
 * Clips: files are grouped by clip id.  A clip id found twice with the same
 * modality (the same file under two roots) is a problem.  Clips of the vocal
 * channel(s) corpus.vocal leaves out, and calm clips under labels.calm: drop,
 * are counted, not problems.  The others need, by corpus.modality:
 *   av     the full-AV mp4 (01) and the wav (03)
 *   audio  the wav, or else the full-AV mp4 (its own AAC track)
 *   video  the full-AV mp4, or else the video-only mp4 (02)
 * and a clip without them is a problem.  Video-only (02) files are checked and
 * counted but used only by `video` when a clip has no 01 mp4: they carry the same
 * picture as the full-AV file.
 *
 * Returns < 0 only for failures that stop the walk (out of memory, a size cap);
 * faults of the corpus go to rep->problems, and idx holds the clips without
 * faults.  An unreadable folder, a root that does not exist and a root without any
 * corpus file are problems too (with an empty id).
 */
#define RVT_WALK_MAX_DEPTH 8

enum rvt_index_need {
    RVT_INDEX_NEED_AV = 0,
    RVT_INDEX_NEED_AUDIO = 1,
    RVT_INDEX_NEED_VIDEO = 2,
};

struct rvt_index_options {
    enum rvt_index_need need;         /* corpus.modality */
    int vocal;                        /* corpus.vocal: 0 all, 1 speech, 2 song */
    struct rvt_labelset labels;       /* labels.* */
    struct rvt_splits splits;         /* split.* */
    bool absolute_paths;              /* realpath() of each root as the path prefix */
    /* the index file the paths are for: relative roots are written relative to its
     * folder (NULL or "-": the cwd, roots as given) */
    const char *index_path;
};

/* RVT_EINVAL with a message naming the key when a value is bad. */
int rvt_index_options_from_config(struct rvt_index_options *o, const struct rvt_config *cfg,
                                  struct rvt_error *err);

struct rvt_index_problem {
    char id[RVT_ID_LEN]; /* the clip, "" when the file has no id (a bad name, a folder) */
    char *path;          /* owned: the file or folder at fault */
    char *reason;        /* owned: "emotion '09' is not 01-08" (no path in it) */
};

struct rvt_index_report {
    struct rvt_index_problem *problems; /* owned, n_problems of them */
    size_t n_problems, cap_problems;
    size_t n_files;          /* corpus files that parsed */
    size_t n_ignored;        /* other files, ignored */
    size_t n_video_only;     /* 02 files seen */
    size_t n_vocal_left_out; /* clips of the other vocal channel */
    size_t n_calm_dropped;   /* calm clips under labels.calm: drop */
    size_t n_split[3];       /* clips per enum rvt_split */
    size_t n_split_actors[3];
};

int rvt_index_build(struct rvt_index *idx, struct rvt_index_report *rep,
                    const char *const *roots, int n_roots, const struct rvt_index_options *o,
                    struct rvt_error *err);
void rvt_index_report_release(struct rvt_index_report *rep);
/* The summary of a build at info level (clips, files, roots, the splits and their
 * actors, what was left out), with a warning per empty split; debug: files ignored. */
void rvt_index_log_summary(const struct rvt_index *idx, const struct rvt_index_report *rep,
                           int n_roots, const struct rvt_index_options *o);

#endif
