/*
 * metrics.h: classification metrics equal to scikit-learn 1.2.
 *
 * One call computes every metric of one group of predictions (a fold, a split,
 * or both pooled):
 *
 *   struct rvt_metrics m;
 *   struct rvt_metrics_opts o = RVT_METRICS_OPTS_DEFAULT;
 *   if (rvt_metrics_init(&m, n_classes, &err) < 0) ...
 *   ret = rvt_metrics_compute(&m, n, label, pred, prob, &o, &err);
 *   ... rvt_metrics_get(&m, RVT_METRIC_F1, cls) ...
 *   rvt_metrics_release(&m);
 *
 * Inputs: n clips, label[i] and pred[i] class indices in [0, n_classes), prob a
 * row-major n x n_classes matrix (NULL: log-loss and top-2 accuracy are NaN).
 *
 * What each value is (ref: sklearn/metrics/_classification.py and _ranking.py,
 * scikit-learn 1.2.1; each is computed with the same operations in the same
 * order, including numpy's pairwise summation, so results are bit-identical on
 * the tested cases and within 1e-12 by contract):
 *
 *   accuracy           accuracy_score(y, p)
 *   balanced_accuracy  balanced_accuracy_score(y, p): the mean recall over the
 *                      classes that occur in y (classes only predicted are left
 *                      out, as sklearn does after its "y_pred contains classes
 *                      not in y_true" warning)
 *   top2_accuracy      top_k_accuracy_score(y, prob, k=2, labels=all classes):
 *                      a clip is a hit when fewer than 2 classes rank ahead of
 *                      its true class; class j ranks ahead of t when
 *                      prob[j] > prob[t], or prob[j] == prob[t] and j > t
 *                      (sklearn sorts with a stable mergesort and reverses, so
 *                      among ties the higher class index wins)
 *   log_loss           log_loss(y, prob, labels=all classes, eps=opts.eps):
 *                      clip to [eps, 1 - eps], divide each row by its sum,
 *                      mean of -log(q[true]).  scikit-learn 1.2's default is
 *                      eps="auto" = DBL_EPSILON for float64 input (2.22e-16);
 *                      earlier versions used 1e-15 (opts.eps = 1e-15)
 *   cohen_kappa        cohen_kappa_score(y, p, labels=all classes); NaN when
 *                      expected disagreement is 0 (every clip one class, all
 *                      right), as sklearn returns (0/0)
 *   matthews_corrcoef  matthews_corrcoef(y, p): the multiclass MCC from the
 *                      confusion matrix's row sums t, column sums s, trace c
 *                      and n: (c n - t.s) / sqrt((n^2 - t.t)(n^2 - s.s)); 0.0
 *                      when either factor is 0, as sklearn returns.  Every
 *                      term is an integer below 2^53, so it is exact up to
 *                      the last product, division and sqrt: bit-identical
 *   precision_*, recall_*, f1_*  precision_recall_fscore_support(y, p,
 *                      labels=all classes, average=None|macro|weighted|micro),
 *                      zero_division="warn" (the default): a 0/0 precision or
 *                      recall is 0.0, and F1 is 0.0 when precision + recall
 *                      is 0.  Passing labels=all classes matters: a class that
 *                      is neither in y nor in p still counts (as 0.0) in the
 *                      macro average, so macro scores do not depend on which
 *                      classes a subset happens to contain
 *   support            per class: clips whose true class it is
 *   class_accuracy     per class: confusion[c][c] / row sum (the seed's
 *                      class-wise accuracy); NaN for a class with no clips,
 *                      as numpy gives for 0/0
 *   n                  clips in the group
 *
 * Confusion matrix: confusion[t * n_classes + p] counts clips of true class t
 * predicted as p (sklearn's confusion_matrix(y, p, labels=all classes)).
 *
 * Bootstrap (opts.n_boot > 0): percentile 95 % confidence intervals of accuracy
 * and f1_macro.  Each replicate draws n clips with replacement; the interval
 * is numpy.percentile(values, [2.5, 97.5]) (linear interpolation).  The
 * generator is xoshiro256** (ref: https://prng.di.unimi.it/xoshiro256starstar.c)
 * seeded with four successive splitmix64 outputs (ref:
 * https://prng.di.unimi.it/splitmix64.c) from opts.seed; an index in [0, n) is
 * x % n for the first 64-bit draw x below 2^64 - (2^64 mod n) (rejection, so
 * no modulo bias).  rvt_metrics_compute draws all replicates' indices in order:
 * replicate 0 clips 0..n-1, replicate 1, ...
 *
 * Thread rule: a struct rvt_metrics is used by one thread at a time.
 */
#ifndef RVT_EVAL_METRICS_H
#define RVT_EVAL_METRICS_H

#include "core/common.h"

/* Upper bound on classes (the CSV reader's field cap is lower still). */
#define RVT_METRICS_MAX_CLASSES 1024

/* Metrics of the whole group, then per-class metrics, in metrics.csv order. */
enum rvt_metric {
    RVT_METRIC_N = 0,
    RVT_METRIC_ACCURACY,
    RVT_METRIC_BALANCED_ACCURACY,
    RVT_METRIC_TOP2_ACCURACY,
    RVT_METRIC_LOG_LOSS,
    RVT_METRIC_COHEN_KAPPA,
    RVT_METRIC_MCC,
    RVT_METRIC_PRECISION_MACRO,
    RVT_METRIC_RECALL_MACRO,
    RVT_METRIC_F1_MACRO,
    RVT_METRIC_PRECISION_WEIGHTED,
    RVT_METRIC_RECALL_WEIGHTED,
    RVT_METRIC_F1_WEIGHTED,
    RVT_METRIC_PRECISION_MICRO,
    RVT_METRIC_RECALL_MICRO,
    RVT_METRIC_F1_MICRO,
    RVT_METRIC_ACCURACY_CI_LOW, /* bootstrap only */
    RVT_METRIC_ACCURACY_CI_HIGH,
    RVT_METRIC_F1_MACRO_CI_LOW,
    RVT_METRIC_F1_MACRO_CI_HIGH,
    RVT_METRIC_N_OVERALL, /* count of the overall metrics above */
    /* per class */
    RVT_METRIC_PRECISION = RVT_METRIC_N_OVERALL,
    RVT_METRIC_RECALL,
    RVT_METRIC_F1,
    RVT_METRIC_SUPPORT,
    RVT_METRIC_CLASS_ACCURACY,
    RVT_METRIC_COUNT,
};
#define RVT_METRIC_N_PER_CLASS (RVT_METRIC_COUNT - RVT_METRIC_N_OVERALL)

/* The metric's name in metrics.csv ("accuracy", "f1_macro", "precision", ...). */
const char *rvt_metric_name(enum rvt_metric m);
/* True for the per-class metrics (precision, recall, f1, support, class_accuracy). */
bool rvt_metric_is_per_class(enum rvt_metric m);
/* True for the bootstrap interval bounds. */
bool rvt_metric_is_ci(enum rvt_metric m);

struct rvt_metrics_opts {
    double eps;       /* log-loss clipping; sklearn 1.2 "auto" = DBL_EPSILON */
    long n_boot;      /* bootstrap replicates, 0 = no intervals */
    uint64_t seed;    /* bootstrap generator seed */
};
#define RVT_METRICS_OPTS_DEFAULT {2.220446049250313e-16, 0, 0}

struct rvt_metrics {
    int n_classes;
    size_t n;
    int64_t *confusion;              /* owned, n_classes^2, row = true class */
    double overall[RVT_METRIC_N_OVERALL]; /* indexed by enum rvt_metric */
    double *per_class;               /* owned, RVT_METRIC_N_PER_CLASS x n_classes */
    bool has_ci;                     /* bootstrap bounds were computed */
};

/* Allocates the arrays for n_classes (2..RVT_METRICS_MAX_CLASSES); values NaN. */
int rvt_metrics_init(struct rvt_metrics *m, int n_classes, struct rvt_error *err);
void rvt_metrics_release(struct rvt_metrics *m);

/*
 * Computes every metric of n >= 1 clips into m (initialised for the same
 * n_classes).  Labels and predictions outside [0, n_classes) are a bug (assert).
 * Returns 0, RVT_EINVAL (n == 0) or RVT_ENOMEM (bootstrap scratch).
 */
int rvt_metrics_compute(struct rvt_metrics *m, size_t n, const int *label, const int *pred,
                        const double *prob, const struct rvt_metrics_opts *opts,
                        struct rvt_error *err);

/* Value of metric `which`; cls is the class for per-class metrics, else ignored. */
double rvt_metrics_get(const struct rvt_metrics *m, enum rvt_metric which, int cls);
void rvt_metrics_set(struct rvt_metrics *m, enum rvt_metric which, int cls, double v);

/*
 * numpy's float64 add.reduce of n contiguous values: pairwise summation with an
 * 8-way unrolled base case of up to 128 values.  Identical bits to
 * numpy.sum(a) (and a.sum(axis=-1) row by row), which is why the metrics use it.
 * ref: numpy/core/src/umath/loops_utils.h.src (pairwise_sum), numpy 1.24
 */
double rvt_sum_pairwise(const double *a, size_t n);

/*
 * numpy.percentile(a, q) with the default "linear" method, a sorted ascending,
 * n >= 1, 0 <= q <= 100.  ref: numpy/lib/function_base.py (_quantile, _lerp)
 */
double rvt_percentile_sorted(const double *a, size_t n, double q);

/* numpy.mean and numpy.std (ddof = 0) of n >= 1 values; NaN propagates. */
double rvt_mean(const double *a, size_t n);
double rvt_std(const double *a, size_t n, double *scratch /* n values */);

/* The bootstrap generator: xoshiro256** seeded through splitmix64. */
struct rvt_rng {
    uint64_t s[4];
};
void rvt_rng_seed(struct rvt_rng *r, uint64_t seed);
uint64_t rvt_rng_next(struct rvt_rng *r);
/* Uniform in [0, n), n >= 1, by rejection (see above). */
uint64_t rvt_rng_below(struct rvt_rng *r, uint64_t n);

#endif
