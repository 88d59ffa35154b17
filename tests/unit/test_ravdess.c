/* Unit tests for lib/ravdess: file-name grammar, label sets, splits, corpus walk,
 * pairing and the index.csv round trip. */
#include "core/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "core/config.h"
#include "ravdess/index.h"
#include "ravdess/ravdess.h"

static char tmpdir[256];

/* mkdir -p of path's folders, then an empty file */
static void touch(const char *fmt, ...) RVT_PRINTF(1, 2);
static void touch(const char *fmt, ...)
{
    char path[1024], *p;
    va_list ap;
    FILE *f;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    for (p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    f = fopen(path, "w");
    if (f)
        fclose(f);
}

static void rm_rf(const char *path)
{
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", path);
}

/* ---- grammar ---- */

static void good(const char *path, int mod, int voc, int emo, int inten, int stmt, int rep,
                 int actor, const char *id)
{
    struct rvt_ravdess_name n;
    struct rvt_error err = {0};
    int r = rvt_ravdess_parse(path, &n, &err);
    OK(r == 0 && n.modality == mod && n.vocal_channel == voc && n.emotion == emo &&
           n.intensity == inten && n.statement == stmt && n.repetition == rep && n.actor == actor &&
           !strcmp(n.id, id),
       "valid: %s -> %s %s", path, n.id, err.msg);
}

/* want is the message after "'PATH': " */
static void bad(const char *path, const char *want)
{
    struct rvt_ravdess_name n;
    struct rvt_error err = {0};
    char full[1200];
    int r = rvt_ravdess_parse(path, &n, &err);
    snprintf(full, sizeof(full), "'%s': %s", path, want);
    OK(r == RVT_EFORMAT && !strcmp(err.msg, full), "invalid: %s -> %s", path, err.msg);
    if (strcmp(err.msg, full))
        printf("#   want: %s\n", full);
}

static void test_grammar(void)
{
    struct rvt_ravdess_name n;
    struct rvt_error err = {0};
    char id[RVT_ID_LEN];
    int e;

    good("root/Actor_12/01-01-06-01-02-01-12.mp4", 1, 1, 6, 1, 2, 1, 12, "01-06-01-02-01-12");
    good("Actor_01/02-01-08-02-02-02-01.mp4", 2, 1, 8, 2, 2, 2, 1, "01-08-02-02-02-01");
    good("x/y/Actor_24/03-01-01-01-01-01-24.wav", 3, 1, 1, 1, 1, 1, 24, "01-01-01-01-01-24");
    good("Actor_99/03-02-06-02-01-02-99.wav", 3, 2, 6, 2, 1, 2, 99, "02-06-02-01-02-99");
    good("/abs/Actor_07/01-02-02-02-01-01-07.mp4", 1, 2, 2, 2, 1, 1, 7, "02-02-02-01-01-07");
    for (e = 1; e <= 8; e++) {
        char p[64];
        snprintf(p, sizeof(p), "Actor_05/03-01-%02d-01-01-01-05.wav", e);
        OK(rvt_ravdess_parse(p, &n, &err) == 0 && n.emotion == e, "speech emotion %02d valid", e);
        snprintf(p, sizeof(p), "Actor_05/03-02-%02d-01-01-01-05.wav", e);
        OK((rvt_ravdess_parse(p, &n, &err) == 0) == (e <= 6), "song emotion %02d %s", e,
           e <= 6 ? "valid" : "invalid");
    }

    /* every field, every invalid value */
    bad("r/Actor_01/00-01-01-01-01-01-01.mp4",
        "modality '00' is not 01 (full-AV), 02 (video-only) or 03 (audio-only)");
    bad("r/Actor_01/04-01-01-01-01-01-01.mp4",
        "modality '04' is not 01 (full-AV), 02 (video-only) or 03 (audio-only)");
    bad("r/Actor_01/01-00-01-01-01-01-01.mp4", "vocal channel '00' is not 01 (speech) or 02 (song)");
    bad("r/Actor_01/01-03-01-01-01-01-01.mp4", "vocal channel '03' is not 01 (speech) or 02 (song)");
    bad("x/01-01-09-01-01-01-01.mp4", "emotion '09' is not 01-08");
    bad("r/Actor_01/01-01-09-01-01-01-01.mp4", "emotion '09' is not 01-08");
    bad("r/Actor_01/01-01-00-01-01-01-01.mp4", "emotion '00' is not 01-08");
    bad("r/Actor_01/01-02-07-01-01-01-01.mp4",
        "emotion '07' (disgust) does not occur in song (vocal channel 02 has emotions 01-06)");
    bad("r/Actor_01/03-02-08-01-01-01-01.wav",
        "emotion '08' (surprised) does not occur in song (vocal channel 02 has emotions 01-06)");
    bad("r/Actor_01/01-01-03-00-01-01-01.mp4", "intensity '00' is not 01 (normal) or 02 (strong)");
    bad("r/Actor_01/01-01-03-03-01-01-01.mp4", "intensity '03' is not 01 (normal) or 02 (strong)");
    bad("r/Actor_01/01-01-01-02-01-01-01.mp4",
        "intensity '02' (strong) does not occur with emotion '01' (neutral)");
    bad("r/Actor_01/03-02-01-02-01-01-01.wav",
        "intensity '02' (strong) does not occur with emotion '01' (neutral)");
    bad("r/Actor_01/01-01-03-01-00-01-01.mp4", "statement '00' is not 01 or 02");
    bad("r/Actor_01/01-01-03-01-03-01-01.mp4", "statement '03' is not 01 or 02");
    bad("r/Actor_01/01-01-03-01-01-00-01.mp4", "repetition '00' is not 01 or 02");
    bad("r/Actor_01/01-01-03-01-01-03-01.mp4", "repetition '03' is not 01 or 02");
    bad("r/Actor_00/01-01-03-01-01-01-00.mp4", "actor '00' is not 01-99");
    /* shape */
    bad("r/Actor_01/01-01-1-01-01-01-01.mp4", "emotion '1' is not two digits");
    bad("r/Actor_01/01-01-001-01-01-01-01.mp4", "emotion '001' is not two digits");
    bad("r/Actor_01/1-01-01-01-01-01-01.mp4", "modality '1' is not two digits");
    bad("r/Actor_01/01-01-01-01-01-01-1.mp4", "actor '1' is not two digits");
    bad("r/Actor_01/01-01-01-01-01-01-ab.mp4", "actor 'ab' is not two digits");
    bad("r/Actor_01/01--01-01-01-01-01.mp4", "vocal channel '' is not two digits");
    bad("r/Actor_01/01-01-01-01-01-01.mp4", "name has 6 fields, want 7 (MM-VV-EE-II-SS-RR-AA.ext)");
    bad("r/Actor_01/01-01-01-01-01-01-01-01.mp4",
        "name has 8 fields, want 7 (MM-VV-EE-II-SS-RR-AA.ext)");
    bad("r/Actor_01/clip.mp4", "name has 1 field, want 7 (MM-VV-EE-II-SS-RR-AA.ext)");
    /* extension */
    bad("r/Actor_01/01-01-01-01-01-01-01.wav",
        "extension '.wav' is not '.mp4' (modality '01' is full-AV)");
    bad("r/Actor_01/02-01-01-01-01-01-01.wav",
        "extension '.wav' is not '.mp4' (modality '02' is video-only)");
    bad("r/Actor_01/03-01-01-01-01-01-01.mp4",
        "extension '.mp4' is not '.wav' (modality '03' is audio-only)");
    bad("r/Actor_01/01-01-01-01-01-01-01.MP4",
        "extension '.MP4' is not '.mp4' (modality '01' is full-AV)");
    bad("r/Actor_01/01-01-01-01-01-01-01.mp4.part",
        "extension '.mp4.part' is not '.mp4' (modality '01' is full-AV)");
    bad("r/Actor_01/03-01-01-01-01-01-01",
        "extension is missing, want '.wav' for modality '03' (audio-only)");
    /* folder */
    bad("r/Actor_02/01-01-01-01-01-01-01.mp4", "actor '01' does not match its folder 'Actor_02'");
    bad("r/Actor_1/01-01-01-01-01-01-01.mp4", "folder 'Actor_1' is not Actor_01 (actor '01')");
    bad("r/Video_Speech_Actor_01/01-01-01-01-01-01-01.mp4",
        "folder 'Video_Speech_Actor_01' is not Actor_01 (actor '01')");
    bad("01-01-01-01-01-01-01.mp4", "file is not in an Actor_01 folder (actor '01')");
    OK(rvt_ravdess_parse_basename("01-01-01-01-01-01-01.mp4", &n, &err) == 0 &&
           !strcmp(n.id, "01-01-01-01-01-01"),
       "parse_basename skips the folder check");
    OK(rvt_ravdess_parse_basename("x/01-01-09-01-01-01-01.mp4", &n, &err) == RVT_EFORMAT &&
           !strcmp(err.msg, "'x/01-01-09-01-01-01-01.mp4': emotion '09' is not 01-08"),
       "parse_basename still checks the grammar: %s", err.msg);

    /* which names must parse */
    OK(rvt_ravdess_is_candidate("01-01-01-01-01-01-01.mp4"), "candidate: corpus name");
    OK(rvt_ravdess_is_candidate("clip.mp4") && rvt_ravdess_is_candidate("CLIP.WAV"),
       "candidate: any .mp4/.wav, any case");
    OK(rvt_ravdess_is_candidate("01-01-01-01-01-01-01.avi") &&
           rvt_ravdess_is_candidate("01-01-01") && rvt_ravdess_is_candidate("01-02.txt"),
       "candidate: digits-and-dashes stem with any extension");
    OK(!rvt_ravdess_is_candidate("README") && !rvt_ravdess_is_candidate("README.md") &&
           !rvt_ravdess_is_candidate(".DS_Store") && !rvt_ravdess_is_candidate("2023.txt") &&
           !rvt_ravdess_is_candidate("notes.mp4.txt") && !rvt_ravdess_is_candidate("Thumbs.db"),
       "not candidates: README, .DS_Store, 2023.txt, notes.mp4.txt, Thumbs.db");

    rvt_ravdess_format_id(id, 1, 6, 1, 2, 1, 12);
    OK(!strcmp(id, "01-06-01-02-01-12"), "format_id: %s", id);
}

/* ---- label sets ---- */

static void test_labels(void)
{
    struct rvt_labelset ls;
    struct rvt_error err = {0};
    struct rvt_config *cfg = NULL;
    static const int seed7[9] = {-1, 6, 6, 3, 4, 0, 2, 1, 5};
    static const char *const names7[7] = {"Angry", "Disgust", "Fear", "Happy",
                                          "Sad",   "Surprise", "Neutral"};
    int e, ok = 1;

    OK(rvt_labelset_init(&ls, "seed7", "neutral", &err) == 0 && ls.n_classes == 7, "seed7");
    for (e = 1; e <= 8; e++)
        ok &= rvt_labelset_label(&ls, e) == seed7[e];
    for (e = 0; e < 7; e++)
        ok &= !strcmp(ls.names[e], names7[e]);
    OK(ok, "seed7: neutral, calm -> Neutral(6), happy 3, sad 4, angry 0, fearful 2, disgust 1, "
           "surprised 5; names in the seed's order");
    OK(!strcmp(ls.names[rvt_labelset_label(&ls, 6)], "Fear") &&
           !strcmp(ls.names[rvt_labelset_label(&ls, 8)], "Surprise"),
       "seed7 names fearful Fear and surprised Surprise");

    OK(rvt_labelset_init(&ls, "seed7", "drop", &err) == 0 && ls.drop_calm &&
           rvt_labelset_label(&ls, 2) == -1 && rvt_labelset_label(&ls, 1) == 6 &&
           rvt_labelset_label(&ls, 5) == 0,
       "seed7 calm drop leaves calm out, keeps neutral");

    OK(rvt_labelset_init(&ls, "native8", "neutral", &err) == 0 && ls.n_classes == 8, "native8");
    ok = 1;
    for (e = 1; e <= 8; e++)
        ok &= rvt_labelset_label(&ls, e) == e - 1 && !strcmp(ls.names[e - 1], rvt_emotion_names[e]);
    OK(ok, "native8: label = code - 1, names neutral..surprised");

    OK(rvt_labelset_init(&ls, "native8", "drop", &err) == RVT_EINVAL &&
           strstr(err.msg, "labels.calm 'drop' needs labels.set seed7"),
       "native8 + calm drop refused: %s", err.msg);
    OK(rvt_labelset_init(&ls, "seed6", "neutral", &err) == RVT_EINVAL &&
           !strcmp(err.msg, "labels.set 'seed6' is not seed7 or native8"),
       "unknown set refused: %s", err.msg);
    OK(rvt_labelset_init(&ls, "seed7", "keep", &err) == RVT_EINVAL &&
           !strcmp(err.msg, "labels.calm 'keep' is not neutral or drop"),
       "unknown calm refused: %s", err.msg);

    OK(rvt_config_new_default(&cfg, &err) == 0 && rvt_labelset_from_config(&ls, cfg, &err) == 0 &&
           ls.kind == RVT_LABELSET_SEED7 && !ls.drop_calm,
       "default config: seed7, calm neutral");
    OK(rvt_config_set(cfg, "labels.set", "native8", &err) == 0 &&
           rvt_labelset_from_config(&ls, cfg, &err) == 0 && ls.kind == RVT_LABELSET_NATIVE8,
       "config labels.set native8");
    rvt_config_free(&cfg);
}

/* ---- splits ---- */

static void test_splits(void)
{
    struct rvt_splits s;
    struct rvt_error err = {0};
    struct rvt_config *cfg = NULL;
    long val[] = {3, 8}, test[] = {4, 9}, both[] = {8};
    int a, ok, count[3] = {0, 0, 0};

    OK(rvt_splits_init(&s, val, 2, test, 2, 0, 0, &err) == 0, "lists");
    OK(rvt_splits_of(&s, 3) == RVT_SPLIT_VAL && rvt_splits_of(&s, 8) == RVT_SPLIT_VAL &&
           rvt_splits_of(&s, 4) == RVT_SPLIT_TEST && rvt_splits_of(&s, 9) == RVT_SPLIT_TEST &&
           rvt_splits_of(&s, 1) == RVT_SPLIT_TRAIN && rvt_splits_of(&s, 99) == RVT_SPLIT_TRAIN,
       "lists: val 3 8, test 4 9, others train");
    OK(rvt_splits_init(&s, val, 2, both, 1, 0, 0, &err) == RVT_EINVAL &&
           !strcmp(err.msg, "actor 8 is in both split.val_actors and split.test_actors"),
       "actor in both lists refused: %s", err.msg);
    val[0] = 100;
    OK(rvt_splits_init(&s, val, 2, test, 2, 0, 0, &err) == RVT_EINVAL &&
           !strcmp(err.msg, "split.val_actors: actor 100 is not 1-99"),
       "actor 100 refused: %s", err.msg);
    val[0] = 0;
    OK(rvt_splits_init(&s, val, 2, test, 2, 0, 0, &err) == RVT_EINVAL, "actor 0 refused");

    /* folds: actor a -> fold (a-1) mod K; fold i test, (i+1) mod K val */
    OK(rvt_splits_init(&s, NULL, 0, NULL, 0, 5, 0, &err) == 0, "5 folds, fold 0");
    OK(rvt_splits_of(&s, 1) == RVT_SPLIT_TEST && rvt_splits_of(&s, 6) == RVT_SPLIT_TEST &&
           rvt_splits_of(&s, 2) == RVT_SPLIT_VAL && rvt_splits_of(&s, 7) == RVT_SPLIT_VAL &&
           rvt_splits_of(&s, 3) == RVT_SPLIT_TRAIN && rvt_splits_of(&s, 5) == RVT_SPLIT_TRAIN,
       "fold 0 of 5: actors 1,6,.. test; 2,7,.. val; others train");
    OK(rvt_splits_init(&s, val, 2, test, 2, 4, 3, &err) == 0, "4 folds, fold 3 (lists ignored)");
    OK(rvt_splits_of(&s, 4) == RVT_SPLIT_TEST && rvt_splits_of(&s, 8) == RVT_SPLIT_TEST &&
           rvt_splits_of(&s, 1) == RVT_SPLIT_VAL && rvt_splits_of(&s, 5) == RVT_SPLIT_VAL &&
           rvt_splits_of(&s, 2) == RVT_SPLIT_TRAIN && rvt_splits_of(&s, 3) == RVT_SPLIT_TRAIN,
       "fold 3 of 4 wraps: val is fold 0");
    for (a = 1; a <= 24; a++)
        count[rvt_splits_of(&s, a)]++;
    OK(count[0] == 12 && count[1] == 6 && count[2] == 6, "24 actors in 4 folds: 12/6/6");
    /* each actor is test in exactly one fold and val in exactly one */
    ok = 1;
    for (a = 1; a <= 24; a++) {
        int f, nt = 0, nv = 0;
        for (f = 0; f < 6; f++) {
            rvt_splits_init(&s, NULL, 0, NULL, 0, 6, f, &err);
            nt += rvt_splits_of(&s, a) == RVT_SPLIT_TEST;
            nv += rvt_splits_of(&s, a) == RVT_SPLIT_VAL;
        }
        ok &= nt == 1 && nv == 1;
    }
    OK(ok, "6 folds: every actor is test once and val once");
    OK(rvt_splits_init(&s, NULL, 0, NULL, 0, 2, 0, &err) == RVT_EINVAL &&
           strstr(err.msg, "split.folds 2 is not 0"),
       "2 folds refused: %s", err.msg);
    OK(rvt_splits_init(&s, NULL, 0, NULL, 0, 1, 0, &err) == RVT_EINVAL, "1 fold refused");
    OK(rvt_splits_init(&s, NULL, 0, NULL, 0, -1, 0, &err) == RVT_EINVAL, "-1 folds refused");
    OK(rvt_splits_init(&s, NULL, 0, NULL, 0, 5, 5, &err) == RVT_EINVAL &&
           !strcmp(err.msg, "split.fold 5 is not 0-4"),
       "fold 5 of 5 refused: %s", err.msg);
    OK(rvt_splits_init(&s, NULL, 0, NULL, 0, 0, 2, &err) == RVT_EINVAL &&
           strstr(err.msg, "split.fold 2 needs split.folds"),
       "fold without folds refused: %s", err.msg);

    OK(rvt_config_new_default(&cfg, &err) == 0 && rvt_splits_from_config(&s, cfg, &err) == 0,
       "default config splits (%s)", err.msg);
    ok = 1;
    for (a = 1; a <= 24; a++)
        ok &= rvt_splits_of(&s, a) == ((a % 5 == 3) ? RVT_SPLIT_VAL
                                       : (a % 5 == 4) ? RVT_SPLIT_TEST
                                                      : RVT_SPLIT_TRAIN);
    OK(ok, "default: val 3 8 13 18 23, test 4 9 14 19 24");
    OK(rvt_config_set(cfg, "split.folds", "4", &err) == 0 &&
           rvt_config_set(cfg, "split.fold", "1", &err) == 0 &&
           rvt_splits_from_config(&s, cfg, &err) == 0 && rvt_splits_of(&s, 2) == RVT_SPLIT_TEST &&
           rvt_splits_of(&s, 3) == RVT_SPLIT_VAL,
       "config split.folds 4, split.fold 1");
    rvt_config_free(&cfg);
}

/* ---- walking and pairing ---- */

static void default_options(struct rvt_index_options *o)
{
    struct rvt_config *cfg = NULL;
    struct rvt_error err = {0};
    rvt_config_new_default(&cfg, &err);
    if (rvt_index_options_from_config(o, cfg, &err) < 0)
        printf("# options: %s\n", err.msg);
    rvt_config_free(&cfg);
}

/* the full speech grid of one actor: 60 clips x (01 mp4, 02 mp4, 03 wav) */
static void make_actor(const char *root, int a, bool nested, bool video_only)
{
    int e, i, s, r;
    for (e = 1; e <= 8; e++)
        for (i = 1; i <= 2; i++)
            for (s = 1; s <= 2; s++)
                for (r = 1; r <= 2; r++) {
                    if (e == 1 && i == 2)
                        continue;
                    if (nested) {
                        touch("%s/Video_Speech_Actor_%02d/Actor_%02d/01-01-%02d-%02d-%02d-%02d-%02d.mp4",
                              root, a, a, e, i, s, r, a);
                        if (video_only)
                            touch("%s/Video_Speech_Actor_%02d/Actor_%02d/"
                                  "02-01-%02d-%02d-%02d-%02d-%02d.mp4",
                                  root, a, a, e, i, s, r, a);
                        touch("%s/Audio_Speech_Actors_01-24/Actor_%02d/03-01-%02d-%02d-%02d-%02d-%02d.wav",
                              root, a, e, i, s, r, a);
                    } else {
                        touch("%s/Actor_%02d/01-01-%02d-%02d-%02d-%02d-%02d.mp4", root, a, e, i, s,
                              r, a);
                        if (video_only)
                            touch("%s/Actor_%02d/02-01-%02d-%02d-%02d-%02d-%02d.mp4", root, a, e, i,
                                  s, r, a);
                        touch("%s/Actor_%02d/03-01-%02d-%02d-%02d-%02d-%02d.wav", root, a, e, i, s,
                              r, a);
                    }
                }
}

static const struct rvt_index_problem *find_problem(const struct rvt_index_report *rep,
                                                    const char *path_end, const char *reason)
{
    size_t i, pl = strlen(path_end);
    for (i = 0; i < rep->n_problems; i++) {
        const struct rvt_index_problem *p = &rep->problems[i];
        size_t l = strlen(p->path);
        if (l >= pl && !strcmp(p->path + l - pl, path_end) && strstr(p->reason, reason))
            return p;
    }
    return NULL;
}

static void dump_problems(const struct rvt_index_report *rep)
{
    size_t i;
    for (i = 0; i < rep->n_problems; i++)
        printf("#   problem: %s '%s': %s\n", rep->problems[i].id, rep->problems[i].path,
               rep->problems[i].reason);
}

static void test_build(void)
{
    struct rvt_index_options o;
    struct rvt_index idx;
    struct rvt_index_report rep;
    struct rvt_error err = {0};
    char a[512], b[512], c[512], d[512], path[600];
    const char *roots[3];
    size_t i;
    int ok, ret;

    snprintf(a, sizeof(a), "%s/flat", tmpdir);
    snprintf(b, sizeof(b), "%s/nested", tmpdir);
    make_actor(a, 1, false, true);
    make_actor(a, 2, false, false);
    make_actor(b, 3, true, true);
    make_actor(b, 4, true, false);
    touch("%s/README.txt", a);
    touch("%s/Actor_01/.DS_Store", a);
    touch("%s/Actor_01/._01-01-01-01-01-01-01.mp4", a);
    touch("%s/__MACOSX/Actor_01/01-01-09-01-01-01-01.mp4", a);
    touch("%s/.hidden/Actor_01/01-01-09-01-01-01-01.mp4", a);

    default_options(&o);
    roots[0] = a;
    roots[1] = b;
    ret = rvt_index_build(&idx, &rep, roots, 2, &o, &err);
    if (!OK(ret == 0 && rep.n_problems == 0 && idx.n == 240,
            "two layouts merged: 240 clips, no problems (ret %d, %zu clips, %zu problems) %s", ret,
            idx.n, rep.n_problems, err.msg))
        dump_problems(&rep);
    OK(rep.n_files == 600 && rep.n_video_only == 120 && rep.n_ignored == 1,
       "files 600, video-only 120, ignored 1 (README; hidden and __MACOSX skipped): %zu %zu %zu",
       rep.n_files, rep.n_video_only, rep.n_ignored);
    ok = idx.n == 240;
    for (i = 1; ok && i < idx.n; i++)
        ok &= strcmp(idx.clips[i - 1].id, idx.clips[i].id) < 0;
    OK(ok, "sorted by id, unique");
    OK(rep.n_split[0] == 120 && rep.n_split[1] == 60 && rep.n_split[2] == 60 &&
           rep.n_split_actors[0] == 2 && rep.n_split_actors[1] == 1 && rep.n_split_actors[2] == 1,
       "split counts: train 120 (2 actors), val 60 (actor 3), test 60 (actor 4)");
    if (idx.n == 240) {
        const struct rvt_clip *k = &idx.clips[0];
        snprintf(path, sizeof(path), "%s/Actor_01/01-01-01-01-01-01-01.mp4", a);
        OK(!strcmp(k->id, "01-01-01-01-01-01") && k->actor == 1 && !k->female && k->label == 6 &&
               !strcmp(k->label_name, "Neutral") && k->split == RVT_SPLIT_TRAIN &&
               !strcmp(k->video_path, path),
           "first clip: %s actor %d label %d %s video %s", k->id, k->actor, k->label,
           k->label_name, k->video_path);
        snprintf(path, sizeof(path), "%s/Actor_01/03-01-01-01-01-01-01.wav", a);
        OK(!strcmp(k->audio_path, path), "first clip audio %s", k->audio_path);
        k = &idx.clips[3];
        snprintf(path, sizeof(path), "%s/Audio_Speech_Actors_01-24/Actor_04/03-01-01-01-01-01-04.wav",
                 b);
        OK(!strcmp(k->id, "01-01-01-01-01-04") && k->female && k->split == RVT_SPLIT_TEST &&
               !strcmp(k->audio_path, path),
           "nested layout clip %s: female, test, %s", k->id, k->audio_path);
    }
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);

    /* trailing slash and a second copy: same root twice = every file duplicated */
    snprintf(path, sizeof(path), "%s/", a);
    roots[0] = a;
    roots[1] = path;
    ret = rvt_index_build(&idx, &rep, roots, 2, &o, &err);
    OK(ret == 0 && idx.n == 0 && rep.n_problems == 300,
       "same root twice: 300 duplicate problems, no clips (%zu, %zu)", rep.n_problems, idx.n);
    snprintf(path, sizeof(path), "%s/Actor_01/01-01-01-01-01-01-01.mp4", a);
    OK(rep.n_problems && !strcmp(rep.problems[0].id, "01-01-01-01-01-01") &&
           !strcmp(rep.problems[0].path, path) && strstr(rep.problems[0].reason, "duplicate of '"),
       "duplicate problem names the id and both files: %s %s",
       rep.n_problems ? rep.problems[0].path : "", rep.n_problems ? rep.problems[0].reason : "");
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);

    /* faults */
    snprintf(c, sizeof(c), "%s/faults", tmpdir);
    make_actor(c, 5, false, false);
    touch("%s/Actor_05/01-01-09-01-01-01-05.mp4", c);            /* emotion 09 */
    touch("%s/Actor_05/03-01-01-02-01-01-05.wav", c);            /* strong neutral */
    touch("%s/Actor_05/clip.mp4", c);                            /* foreign media name */
    touch("%s/Actor_06/01-01-03-01-01-01-06.mp4", c);            /* no wav */
    touch("%s/Actor_06/03-01-03-01-01-02-06.wav", c);            /* no mp4 */
    touch("%s/Actor_06/02-01-03-01-02-01-06.mp4", c);            /* video-only alone */
    touch("%s/Actor_07/01-01-03-01-01-01-06.mp4", c);            /* wrong folder */
    touch("%s/a/b/c/d/e/f/g/h/i/Actor_05/01-01-03-01-01-01-05.mp4", c); /* too deep */
    roots[0] = c;
    roots[1] = "/nonexistent/corpus";
    ret = rvt_index_build(&idx, &rep, roots, 2, &o, &err);
    if (!OK(ret == 0 && idx.n == 60 && rep.n_problems == 9,
            "faults: 60 good clips, 9 problems (%zu, %zu)", idx.n, rep.n_problems))
        dump_problems(&rep);
    OK(find_problem(&rep, "Actor_05/01-01-09-01-01-01-05.mp4", "emotion '09' is not 01-08"),
       "problem: emotion 09");
    OK(find_problem(&rep, "Actor_05/03-01-01-02-01-01-05.wav",
                    "intensity '02' (strong) does not occur with emotion '01' (neutral)"),
       "problem: strong neutral");
    OK(find_problem(&rep, "Actor_05/clip.mp4", "name has 1 field"), "problem: foreign mp4 name");
    {
        const struct rvt_index_problem *p =
            find_problem(&rep, "Actor_06/01-01-03-01-01-01-06.mp4", "no wav '03-01-03-01-01-01-06.wav'");
        OK(p && !strcmp(p->id, "01-03-01-01-01-06"), "problem: mp4 without wav, with its id");
    }
    OK(find_problem(&rep, "Actor_06/03-01-03-01-01-02-06.wav",
                    "no full-AV mp4 '01-01-03-01-01-02-06.mp4'"),
       "problem: wav without mp4");
    OK(find_problem(&rep, "Actor_06/02-01-03-01-02-01-06.mp4", "video-only file without"),
       "problem: video-only file alone");
    OK(find_problem(&rep, "Actor_07/01-01-03-01-01-01-06.mp4",
                    "actor '06' does not match its folder 'Actor_07'"),
       "problem: wrong actor folder");
    OK(find_problem(&rep, "a/b/c/d/e/f/g/h/i", "nested more than 8 levels"), "problem: too deep");
    OK(find_problem(&rep, "/nonexistent/corpus", "cannot read folder: No such file or directory"),
       "problem: nonexistent root");
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);

    /* empty root, root without corpus files, a file as root */
    snprintf(d, sizeof(d), "%s/empty", tmpdir);
    mkdir(d, 0755);
    roots[0] = d;
    ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
    OK(ret == 0 && idx.n == 0 && rep.n_problems == 1 && !strcmp(rep.problems[0].path, d) &&
           strstr(rep.problems[0].reason, "no RAVDESS files found"),
       "empty root: one problem naming it");
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);
    snprintf(path, sizeof(path), "%s/README.txt", a);
    roots[0] = path;
    ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
    OK(ret == 0 && rep.n_problems == 1 && strstr(rep.problems[0].reason, "Not a directory"),
       "a file as root: %s", rep.n_problems ? rep.problems[0].reason : "");
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);

    /* modality, vocal channel and calm */
    snprintf(d, sizeof(d), "%s/modal", tmpdir);
    touch("%s/Actor_01/01-01-03-01-01-01-01.mp4", d); /* mp4 only */
    touch("%s/Actor_01/03-01-04-01-01-01-01.wav", d); /* wav only */
    touch("%s/Actor_01/02-01-05-01-01-01-01.mp4", d); /* video-only only */
    touch("%s/Actor_01/01-01-06-01-01-01-01.mp4", d); /* all three */
    touch("%s/Actor_01/02-01-06-01-01-01-01.mp4", d);
    touch("%s/Actor_01/03-01-06-01-01-01-01.wav", d);
    touch("%s/Actor_01/01-02-02-01-01-01-01.mp4", d); /* song calm, both */
    touch("%s/Actor_01/03-02-02-01-01-01-01.wav", d);
    touch("%s/Actor_01/01-01-02-02-01-01-01.mp4", d); /* speech calm, both */
    touch("%s/Actor_01/03-01-02-02-01-01-01.wav", d);
    roots[0] = d;

    o.need = RVT_INDEX_NEED_AUDIO;
    ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
    OK(ret == 0 && idx.n == 4 && rep.n_problems == 1 && rep.n_vocal_left_out == 1,
       "audio: 4 clips, the video-only clip a problem, 1 song left out (%zu %zu %zu)", idx.n,
       rep.n_problems, rep.n_vocal_left_out);
    if (idx.n == 4) {
        OK(strstr(idx.clips[1].audio_path, "/01-01-03-01-01-01-01.mp4") &&
               !*idx.clips[1].video_path,
           "audio: mp4 stands in for a missing wav, no video path: %s", idx.clips[1].audio_path);
        OK(strstr(idx.clips[2].audio_path, "/03-01-04-01-01-01-01.wav"), "audio: wav only");
        OK(strstr(idx.clips[3].audio_path, "/03-01-06-01-01-01-01.wav"), "audio: wav preferred");
    }
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);

    o.need = RVT_INDEX_NEED_VIDEO;
    o.vocal = 0;
    ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
    OK(ret == 0 && idx.n == 5 && rep.n_problems == 1 && rep.n_vocal_left_out == 0,
       "video, vocal all: 5 clips, the wav-only clip a problem (%zu %zu)", idx.n, rep.n_problems);
    if (idx.n == 5) {
        OK(!strcmp(idx.clips[4].id, "02-02-01-01-01-01") && idx.clips[4].vocal_channel == 2,
           "song clip included with vocal all");
        OK(strstr(idx.clips[2].video_path, "/02-01-05-01-01-01-01.mp4") &&
               !*idx.clips[2].audio_path,
           "video: video-only mp4 stands in for a missing full-AV one: %s",
           idx.clips[2].video_path);
        OK(strstr(idx.clips[3].video_path, "/01-01-06-01-01-01-01.mp4"),
           "video: full-AV mp4 preferred over video-only: %s", idx.clips[3].video_path);
    }
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);

    o.need = RVT_INDEX_NEED_AV;
    o.vocal = RVT_VOCAL_SONG;
    rvt_labelset_init(&o.labels, "seed7", "drop", &err);
    ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
    OK(ret == 0 && idx.n == 0 && rep.n_problems == 0 && rep.n_vocal_left_out == 5 &&
           rep.n_calm_dropped == 1,
       "song + calm drop: nothing left, counted (%zu %zu %zu)", idx.n, rep.n_vocal_left_out,
       rep.n_calm_dropped);
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);

    o.vocal = 0;
    rvt_labelset_init(&o.labels, "native8", "neutral", &err);
    ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
    OK(ret == 0 && idx.n == 3 && rep.n_problems == 3, "av, vocal all: 3 clips, 3 problems");
    if (idx.n == 3)
        OK(idx.clips[0].label == 1 && !strcmp(idx.clips[0].label_name, "calm") &&
               idx.clips[1].label == 5 && !strcmp(idx.clips[1].label_name, "fearful"),
           "native8 labels: calm 1, fearful 5");
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);

    /* absolute paths */
    default_options(&o);
    o.absolute_paths = true;
    {
        char cwd[512], rel[600];
        if (getcwd(cwd, sizeof(cwd)) && chdir(tmpdir) == 0) {
            roots[0] = "flat";
            ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
            snprintf(rel, sizeof(rel), "%s/Actor_01/01-01-01-01-01-01-01.mp4", a);
            OK(ret == 0 && idx.n == 120 && idx.clips[0].video_path[0] == '/' &&
                   strstr(idx.clips[0].video_path, "/flat/Actor_01/01-01-01-01-01-01-01.mp4"),
               "absolute paths: %s", idx.n ? idx.clips[0].video_path : "");
            rvt_index_release(&idx);
            rvt_index_report_release(&rep);
            o.absolute_paths = false;
            roots[0] = ".";
            if (chdir("flat") == 0) {
                ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
                OK(ret == 0 && idx.n == 120 &&
                       !strcmp(idx.clips[0].video_path, "Actor_01/01-01-01-01-01-01-01.mp4"),
                   "root '.' adds no './': %s", idx.n ? idx.clips[0].video_path : "");
                rvt_index_release(&idx);
                rvt_index_report_release(&rep);
            }
            roots[0] = "Actor_02/";
            ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
            OK(ret == 0 && idx.n == 60 &&
                   !strcmp(idx.clips[0].audio_path, "Actor_02/03-01-01-01-01-01-02.wav"),
               "an Actor_XX folder as the root: %s", idx.n ? idx.clips[0].audio_path : "");
            rvt_index_release(&idx);
            rvt_index_report_release(&rep);
            if (chdir(cwd) != 0)
                printf("# cannot chdir back\n");
        }
    }
}

/* ---- CSV round trip ---- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_roundtrip(void)
{
    struct rvt_index_options o;
    struct rvt_index idx, back;
    struct rvt_index_report rep;
    struct rvt_error err = {0};
    char root[512], csv[600], csv2[600], cmd[1400];
    const char *roots[1];
    FILE *f;
    size_t i;
    int ok, ret;

    snprintf(root, sizeof(root), "%s/weird, \"name\"", tmpdir);
    make_actor(root, 11, false, false);
    make_actor(root, 12, true, false);
    default_options(&o);
    roots[0] = root;
    ret = rvt_index_build(&idx, &rep, roots, 1, &o, &err);
    OK(ret == 0 && idx.n == 120 && rep.n_problems == 0, "build a root with a comma and quotes");

    snprintf(csv, sizeof(csv), "%s/index.csv", tmpdir);
    f = fopen(csv, "w");
    OK(f && rvt_index_write(&idx, f, &err) == 0, "write index.csv");
    if (f)
        fclose(f);
    ret = rvt_index_load(&back, csv, &err);
    OK(ret == 0 && back.n == idx.n && strlen(back.sha256) == 64, "load it back (%s)", err.msg);
    ok = ret == 0 && back.n == idx.n;
    for (i = 0; ok && i < idx.n; i++) {
        const struct rvt_clip *x = &idx.clips[i], *y = &back.clips[i];
        ok &= !strcmp(x->id, y->id) && x->actor == y->actor && x->female == y->female &&
              x->vocal_channel == y->vocal_channel && x->emotion == y->emotion &&
              x->intensity == y->intensity && x->statement == y->statement &&
              x->repetition == y->repetition && x->label == y->label &&
              !strcmp(x->label_name, y->label_name) && x->split == y->split &&
              !strcmp(x->video_path, y->video_path) && !strcmp(x->audio_path, y->audio_path);
    }
    OK(ok, "every field survives the round trip (paths with a comma and quotes)");
    if (ret == 0) {
        snprintf(csv2, sizeof(csv2), "%s/index2.csv", tmpdir);
        f = fopen(csv2, "w");
        rvt_index_write(&back, f, &err);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", csv, csv2);
        OK(system(cmd) == 0, "write(load(write(x))) is byte-identical");
        rvt_index_release(&back);
    }
    rvt_index_release(&idx);
    rvt_index_report_release(&rep);

    /* the loader checks rows against their ids */
    {
        static const char head[] = "id,actor,gender,vocal_channel,emotion,emotion_name,intensity,"
                                   "statement,repetition,label,label_name,split,video_path,"
                                   "audio_path\n";
        static const struct {
            const char *row, *want;
        } cases[] = {
            {"01-01-01-01-01-01,1,male,1,1,neutral,1,1,1,6,Neutral,train,a.mp4,a.wav\n", NULL},
            {"01-01-01-01-01-01,1,male,1,2,calm,1,1,1,6,Neutral,train,a.mp4,a.wav\n",
             "id '01-01-01-01-01-01' disagrees with its fields (want '01-02-01-01-01-01')"},
            {"01-01-01-01-01-01,1,male,1,1,calm,1,1,1,6,Neutral,train,a.mp4,a.wav\n",
             "emotion_name 'calm' is not 'neutral' (emotion 1)"},
            {"01-01-01-01-01-01,1,female,1,1,neutral,1,1,1,6,Neutral,train,a.mp4,a.wav\n",
             "gender 'female' disagrees with actor 1 (odd = male)"},
            {"01-01-01-01-01-01,1,male,1,1,neutral,1,1,1,6,Neutral,dev,a.mp4,a.wav\n",
             "split 'dev' is not train, val or test"},
            {"01-01-01-01-01-01,1,male,1,9,neutral,1,1,1,6,Neutral,train,a.mp4,a.wav\n",
             "emotion '9' is not an integer in 1-8"},
        };
        size_t k;
        for (k = 0; k < RVT_ARRAY_SIZE(cases); k++) {
            char text[1024];
            snprintf(text, sizeof(text), "%s%s", head, cases[k].row);
            write_text(csv, text);
            memset(&err, 0, sizeof(err));
            ret = rvt_index_load(&back, csv, &err);
            if (!cases[k].want)
                OK(ret == 0 && back.n == 1, "loader accepts a consistent row (%s)", err.msg);
            else
                OK(ret == RVT_EFORMAT && strstr(err.msg, cases[k].want) && strstr(err.msg, "line 2"),
                   "loader refuses: %s", err.msg);
            rvt_index_release(&back);
        }
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/rvt-ravdess-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_grammar();
    test_labels();
    test_splits();
    test_build();
    test_roundtrip();
    rm_rf(tmpdir);
    return tap_done();
}
