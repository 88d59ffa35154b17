/*
 * score.h: every metric of a set of predictions, per fold and per split, and
 * the reports cmd/score writes (schemas/metrics.md).
 *
 *   struct rvt_score s;
 *   struct rvt_score_opts o = RVT_SCORE_OPTS_DEFAULT;
 *   if ((ret = rvt_score_compute(&s, &preds, &o, &err)) < 0) goto done;
 *   rvt_score_write_metrics(fp, &s);
 *   rvt_score_write_confusion_csv(fp, &s);
 *   rvt_score_write_confusion_svg(fp, &s);
 *   rvt_score_print_summary(stdout, &s);
 *   rvt_score_release(&s);
 *
 * Groups.  A fold is one input file (fold i = the i-th file).  For each fold,
 * and with two or more files also for "pooled" (all files' rows together),
 * there is one group for "all" (every selected clip) and one per split name
 * present in it (sorted by name).  With two or more files, "mean" and "std"
 * rows hold numpy.mean / numpy.std (ddof = 0, the population standard
 * deviation, as numpy's default) of each metric over the folds that have
 * clips of that split; a NaN in any fold gives NaN.  Bootstrap intervals have
 * no mean/std rows.
 *
 * The main group, used for confusion.csv, confusion.svg and the summary, is
 * fold "pooled" (or the single fold 0), split "all".
 *
 * Bootstrap seeds: the group (fold F, split S) draws with seed
 * opts.seed XOR FNV-1a-64 of the text "F/S" (e.g. "0/all", "pooled/test"),
 * so each group's interval depends only on the seed and its own clips.
 *
 * The write functions return 0 or RVT_EIO when the stream reports an error.
 */
#ifndef RVT_EVAL_SCORE_H
#define RVT_EVAL_SCORE_H

#include <stdio.h>

#include "core/common.h"
#include "eval/metrics.h"
#include "eval/predictions.h"

enum {
    RVT_SCORE_FOLD_POOLED = -1,
    RVT_SCORE_FOLD_MEAN = -2,
    RVT_SCORE_FOLD_STD = -3,
};
#define RVT_SCORE_SPLIT_ALL (-1)

struct rvt_score_opts {
    struct rvt_metrics_opts metrics;
    const char *split; /* only clips of this split (NULL = every clip) */
};
#define RVT_SCORE_OPTS_DEFAULT {RVT_METRICS_OPTS_DEFAULT, NULL}

struct rvt_score_group {
    int fold;            /* file index, or RVT_SCORE_FOLD_* */
    int split;           /* index into preds->splits, or RVT_SCORE_SPLIT_ALL */
    struct rvt_metrics m; /* owned; for mean/std only the values are meaningful */
};

struct rvt_score {
    const struct rvt_predictions *preds; /* not owned; must outlive the score */
    struct rvt_score_opts opts;
    struct rvt_score_group *groups;      /* owned, in metrics.csv order */
    int n_groups;
    int main_group;                      /* index of the main group */
    int *split_order;                    /* owned; split indices sorted by name */
};

/* Fails with RVT_EINVAL when the selected split has no clips. */
int rvt_score_compute(struct rvt_score *s, const struct rvt_predictions *preds,
                      const struct rvt_score_opts *opts, struct rvt_error *err);
void rvt_score_release(struct rvt_score *s);

/* The name of a group's fold and split columns ("0", "pooled", "all", "test"). */
void rvt_score_fold_name(const struct rvt_score_group *g, char *buf, size_t n);
const char *rvt_score_split_name(const struct rvt_score *s, const struct rvt_score_group *g);

/* metrics.csv: metric,class,split,fold,value */
int rvt_score_write_metrics(FILE *fp, const struct rvt_score *s);
/* confusion.csv of the main group: "label,<class>..." then one row per true class. */
int rvt_score_write_confusion_csv(FILE *fp, const struct rvt_score *s);
/* confusion.svg of the main group: a heat-map, see report.c. */
int rvt_score_write_confusion_svg(FILE *fp, const struct rvt_score *s);
/* The human summary (accuracy, weighted F1, class-wise accuracy, folds). */
int rvt_score_print_summary(FILE *fp, const struct rvt_score *s);
/*
 * Writes metrics CSV, confusion CSV and SVG to paths[0..2] ("-" = stdout), each
 * atomically (core/atomic.h): all committed, or none left behind (a later commit
 * failing takes back the files already renamed into place; devices such as
 * /dev/null are written in place and never removed).
 */
int rvt_score_write_files(const struct rvt_score *s, char *const paths[3], struct rvt_error *err);

#endif
