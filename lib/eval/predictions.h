/*
 * predictions.h: reading and checking predictions.csv (schemas/predictions.md).
 *
 * A predictions file has the header `id,split,label,pred,p_<class1>,...` and one
 * row per clip.  The p_ columns name the classes and give their order; label
 * and pred are class names.  Several files (e.g. one per cross-validation fold)
 * load into one struct rvt_predictions; row i remembers its file (its fold).
 *
 *   struct rvt_predictions p;
 *   rvt_predictions_init(&p);
 *   for (each path)
 *       if ((ret = rvt_predictions_read(&p, path, &err)) < 0) goto done;
 *   ... p.label[i], p.prob[i * p.n_classes + c] ...
 *   rvt_predictions_release(&p);
 *
 * Checks (each failure is RVT_EFORMAT or RVT_EMISMATCH with the message
 * "'FILE': line N: reason"): the header (id, split, label, pred each once, at
 * least two p_ columns, no other column, no class twice), the number of fields
 * of each row, a non-empty id that is unique within the file, a non-empty split
 * other than the reserved name "all", label and pred among the classes, every
 * probability a finite number >= 0, each row's probabilities summing to 1
 * within RVT_PRED_SUM_TOL, the same classes in the same order in every file,
 * and at least one row per file.  Ids may repeat across files (folds may
 * overlap).
 *
 * Caps: RVT_PRED_MAX_ROWS rows over all files, RVT_PRED_MAX_SPLITS distinct
 * split names, RVT_PRED_MAX_FILES files (RVT_ELIMIT beyond); the class count
 * is capped by the CSV reader's field cap.
 */
#ifndef RVT_EVAL_PREDICTIONS_H
#define RVT_EVAL_PREDICTIONS_H

#include "core/common.h"

#define RVT_PRED_MAX_ROWS ((size_t)1 << 24)
#define RVT_PRED_MAX_SPLITS 64
#define RVT_PRED_MAX_FILES 1024
#define RVT_PRED_SUM_TOL 1e-4

struct rvt_predictions {
    int n_classes;     /* 0 until the first file is read */
    char **classes;    /* owned; class names (the p_ columns without "p_") */
    int n_splits;
    char **splits;     /* owned; split names in order of first appearance */
    int n_files;
    char **files;      /* owned; the paths, in reading order (fold = position) */
    size_t n_rows, cap;
    int *label;        /* owned; n_rows true class indices */
    int *pred;         /* owned; n_rows predicted class indices */
    int *split;        /* owned; n_rows indices into splits */
    int *file;         /* owned; n_rows indices into files */
    double *prob;      /* owned; n_rows x n_classes, row-major */
};

void rvt_predictions_init(struct rvt_predictions *p);
/*
 * Appends the rows of one file ("-" = stdin).  On failure p holds exactly the
 * files read before (the failed file's rows are dropped) and err says why.
 */
int rvt_predictions_read(struct rvt_predictions *p, const char *path, struct rvt_error *err);
void rvt_predictions_release(struct rvt_predictions *p);

/*
 * A published confusion matrix (rows = true class, columns = predicted class)
 * read as the clips it counts, into an empty p (lib/eval/confusion.c): cell
 * (t, q) = c gives c rows with label t and pred q, in row-major order.  p gets
 * one file (the path), no splits (n_splits = 0: every clip is in split "all"
 * only) and no probabilities (prob = NULL: log-loss and top-2 accuracy are NaN).
 * Layout (schemas/metrics.md): a first row with any field that is not a count
 * is a header of K class names, optionally after a corner field; a first
 * column that is not a count holds the class names (and must match the
 * header's when both are there); without names the classes are "0".."K-1".
 * Counts are decimal digits only.  Errors: RVT_EFORMAT "'FILE': line N:
 * reason" (not square, not a count, names that disagree or repeat, no clips),
 * RVT_ELIMIT beyond RVT_PRED_MAX_ROWS clips; p is left empty on failure.
 */
int rvt_predictions_read_confusion(struct rvt_predictions *p, const char *path,
                                   struct rvt_error *err);

/* Index of a class or split by name, or -1. */
int rvt_predictions_class(const struct rvt_predictions *p, const char *name);
int rvt_predictions_split(const struct rvt_predictions *p, const char *name);

/*
 * Writing (run-model): the header, then one row a clip.  Probabilities are the
 * softmax of the logits in double, max-subtracted; pred is the first class of the
 * largest logit.  Numbers print so that they read back as the same doubles.
 *   rvt_predictions_write_header(fp, classes, n, false);  // id,split,label,pred,p_...
 *   rvt_predictions_write_header(fp, classes, n, true);   // id,logit_<class>,...
 *   rvt_predictions_write_row(fp, id, split, classes, label, logits, n);
 *   rvt_predictions_write_logits(fp, id, logits, n);
 * Logits must be finite (schemas/numbers.md: the caller fails the clip first).
 */
#include <stdio.h>
void rvt_predictions_write_header(FILE *fp, const char *const *classes, int n_classes,
                                  bool logits);
/* p[n_classes] = softmax(logits); returns the index of the largest logit. */
int rvt_predictions_softmax(const float *logits, int n_classes, double *p);
void rvt_predictions_write_row(FILE *fp, const char *id, const char *split,
                               const char *const *classes, int label, const float *logits,
                               int n_classes);
void rvt_predictions_write_logits(FILE *fp, const char *id, const float *logits, int n_classes);

#endif
