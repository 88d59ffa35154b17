#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"

static const char *const names[RVT_METRIC_COUNT] = {
    [RVT_METRIC_N] = "n",
    [RVT_METRIC_ACCURACY] = "accuracy",
    [RVT_METRIC_BALANCED_ACCURACY] = "balanced_accuracy",
    [RVT_METRIC_TOP2_ACCURACY] = "top2_accuracy",
    [RVT_METRIC_LOG_LOSS] = "log_loss",
    [RVT_METRIC_COHEN_KAPPA] = "cohen_kappa",
    [RVT_METRIC_MCC] = "matthews_corrcoef",
    [RVT_METRIC_PRECISION_MACRO] = "precision_macro",
    [RVT_METRIC_RECALL_MACRO] = "recall_macro",
    [RVT_METRIC_F1_MACRO] = "f1_macro",
    [RVT_METRIC_PRECISION_WEIGHTED] = "precision_weighted",
    [RVT_METRIC_RECALL_WEIGHTED] = "recall_weighted",
    [RVT_METRIC_F1_WEIGHTED] = "f1_weighted",
    [RVT_METRIC_PRECISION_MICRO] = "precision_micro",
    [RVT_METRIC_RECALL_MICRO] = "recall_micro",
    [RVT_METRIC_F1_MICRO] = "f1_micro",
    [RVT_METRIC_ACCURACY_CI_LOW] = "accuracy_ci_low",
    [RVT_METRIC_ACCURACY_CI_HIGH] = "accuracy_ci_high",
    [RVT_METRIC_F1_MACRO_CI_LOW] = "f1_macro_ci_low",
    [RVT_METRIC_F1_MACRO_CI_HIGH] = "f1_macro_ci_high",
    [RVT_METRIC_PRECISION] = "precision",
    [RVT_METRIC_RECALL] = "recall",
    [RVT_METRIC_F1] = "f1",
    [RVT_METRIC_SUPPORT] = "support",
    [RVT_METRIC_CLASS_ACCURACY] = "class_accuracy",
};

const char *rvt_metric_name(enum rvt_metric m)
{
    assert(m >= 0 && m < RVT_METRIC_COUNT);
    return names[m];
}

bool rvt_metric_is_per_class(enum rvt_metric m)
{
    return m >= RVT_METRIC_N_OVERALL && m < RVT_METRIC_COUNT;
}

bool rvt_metric_is_ci(enum rvt_metric m)
{
    return m >= RVT_METRIC_ACCURACY_CI_LOW && m <= RVT_METRIC_F1_MACRO_CI_HIGH;
}

/* ---- numpy's reductions ------------------------------------------------ */

double rvt_sum_pairwise(const double *a, size_t n)
{
    if (n < 8) {
        double res = 0.0;
        size_t i;
        for (i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        size_t i, j;
        for (j = 0; j < 8; j++)
            r[j] = a[j];
        for (i = 8; i < n - n % 8; i += 8)
            for (j = 0; j < 8; j++)
                r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    {
        /* halve, keeping the first part a multiple of the unroll factor */
        size_t n2 = n / 2;
        n2 -= n2 % 8;
        return rvt_sum_pairwise(a, n2) + rvt_sum_pairwise(a + n2, n - n2);
    }
}

double rvt_mean(const double *a, size_t n)
{
    return rvt_sum_pairwise(a, n) / (double)n;
}

/* ref: numpy/core/_methods.py (_var): mean, squared deviations, sum, / n, sqrt */
double rvt_std(const double *a, size_t n, double *scratch)
{
    double mean = rvt_mean(a, n);
    size_t i;
    for (i = 0; i < n; i++) {
        double d = a[i] - mean;
        scratch[i] = d * d;
    }
    return sqrt(rvt_sum_pairwise(scratch, n) / (double)n);
}

double rvt_percentile_sorted(const double *a, size_t n, double q)
{
    double vi = (double)(n - 1) * (q / 100.0);
    double prev_f = floor(vi), gamma, lo, hi, diff;
    size_t prev, next;

    assert(n >= 1);
    if (vi >= (double)(n - 1)) {
        prev = next = n - 1;
    } else if (vi < 0) {
        prev = next = 0;
    } else {
        prev = (size_t)prev_f;
        next = prev + 1;
    }
    gamma = vi - prev_f;
    lo = a[prev];
    hi = a[next];
    diff = hi - lo;
    /* numpy's _lerp: from the nearer end, for monotonic results */
    if (gamma >= 0.5)
        return hi - diff * (1 - gamma);
    return lo + diff * gamma;
}

/* ---- generator ---------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void rvt_rng_seed(struct rvt_rng *r, uint64_t seed)
{
    int i;
    for (i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rvt_rng_next(struct rvt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rvt_rng_below(struct rvt_rng *r, uint64_t n)
{
    /* 2^64 mod n, computed without 128-bit arithmetic */
    uint64_t rem = (UINT64_MAX % n + 1) % n;
    uint64_t limit = rem ? UINT64_MAX - rem + 1 : 0; /* 0: every draw is fine */
    uint64_t x;
    assert(n >= 1);
    do
        x = rvt_rng_next(r);
    while (limit && x >= limit);
    return x % n;
}

/* ---- metrics ------------------------------------------------------------ */

int rvt_metrics_init(struct rvt_metrics *m, int n_classes, struct rvt_error *err)
{
    size_t k = (size_t)n_classes, i;

    memset(m, 0, sizeof(*m));
    if (n_classes < 2 || n_classes > RVT_METRICS_MAX_CLASSES)
        return rvt_error_set(err, RVT_EINVAL, "need 2 to %d classes, got %d",
                             RVT_METRICS_MAX_CLASSES, n_classes);
    m->n_classes = n_classes;
    m->confusion = calloc(k * k, sizeof(*m->confusion));
    m->per_class = malloc(RVT_METRIC_N_PER_CLASS * k * sizeof(*m->per_class));
    if (!m->confusion || !m->per_class) {
        rvt_metrics_release(m);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    for (i = 0; i < RVT_METRIC_N_OVERALL; i++)
        m->overall[i] = NAN;
    for (i = 0; i < RVT_METRIC_N_PER_CLASS * k; i++)
        m->per_class[i] = NAN;
    return 0;
}

void rvt_metrics_release(struct rvt_metrics *m)
{
    free(m->confusion);
    free(m->per_class);
    m->confusion = NULL;
    m->per_class = NULL;
}

double rvt_metrics_get(const struct rvt_metrics *m, enum rvt_metric which, int cls)
{
    if (rvt_metric_is_per_class(which)) {
        assert(cls >= 0 && cls < m->n_classes);
        return m->per_class[(size_t)(which - RVT_METRIC_N_OVERALL) * m->n_classes + cls];
    }
    assert(which >= 0 && which < RVT_METRIC_N_OVERALL);
    return m->overall[which];
}

void rvt_metrics_set(struct rvt_metrics *m, enum rvt_metric which, int cls, double v)
{
    if (rvt_metric_is_per_class(which)) {
        assert(cls >= 0 && cls < m->n_classes);
        m->per_class[(size_t)(which - RVT_METRIC_N_OVERALL) * m->n_classes + cls] = v;
        return;
    }
    assert(which >= 0 && which < RVT_METRIC_N_OVERALL);
    m->overall[which] = v;
}

/* sklearn's _prf_divide with zero_division="warn": 0/0 -> 0.0 */
static double prf_divide(double num, double den)
{
    return den == 0.0 ? 0.0 : num / den;
}

/* sklearn's F-beta with beta = 1: (1 + 1) * p * r / (1 * p + r), 0 when that is 0/0 */
static double f1_of(double p, double r)
{
    double denom = p + r;
    if (denom == 0.0)
        denom = 1;
    return 2.0 * p * r / denom;
}

/*
 * Per-class precision, recall, F1 from a confusion matrix (the row and column
 * sums are scratch of k values each), and the macro F1.  Shared by the full
 * computation and the bootstrap replicates.
 */
static double macro_f1(const int64_t *cm, int k, double *p, double *r, double *f)
{
    int c, j;
    for (c = 0; c < k; c++) {
        int64_t tp = cm[(size_t)c * k + c], ps = 0, ts = 0;
        for (j = 0; j < k; j++) {
            ps += cm[(size_t)j * k + c];
            ts += cm[(size_t)c * k + j];
        }
        p[c] = prf_divide((double)tp, (double)ps);
        r[c] = prf_divide((double)tp, (double)ts);
        f[c] = f1_of(p[c], r[c]);
    }
    return rvt_mean(f, (size_t)k);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bootstrap(struct rvt_metrics *m, size_t n, const int *label, const int *pred,
                     const struct rvt_metrics_opts *opts, struct rvt_error *err)
{
    size_t k = (size_t)m->n_classes, b, i, nb = (size_t)opts->n_boot;
    int64_t *cm = calloc(k * k, sizeof(*cm));
    double *acc = malloc(nb * sizeof(*acc));
    double *f1 = malloc(nb * sizeof(*f1));
    double *scratch = malloc(3 * k * sizeof(*scratch));
    struct rvt_rng rng;
    int ret = 0;

    if (!cm || !acc || !f1 || !scratch) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    rvt_rng_seed(&rng, opts->seed);
    for (b = 0; b < nb; b++) {
        int64_t tr = 0;
        memset(cm, 0, k * k * sizeof(*cm));
        for (i = 0; i < n; i++) {
            size_t j = (size_t)rvt_rng_below(&rng, n);
            cm[(size_t)label[j] * k + pred[j]]++;
            tr += label[j] == pred[j];
        }
        acc[b] = (double)tr / (double)n;
        f1[b] = macro_f1(cm, (int)k, scratch, scratch + k, scratch + 2 * k);
    }
    /* the values are finite, so the order is total and the sort deterministic */
    qsort(acc, nb, sizeof(*acc), cmp_double);
    qsort(f1, nb, sizeof(*f1), cmp_double);
    m->overall[RVT_METRIC_ACCURACY_CI_LOW] = rvt_percentile_sorted(acc, nb, 2.5);
    m->overall[RVT_METRIC_ACCURACY_CI_HIGH] = rvt_percentile_sorted(acc, nb, 97.5);
    m->overall[RVT_METRIC_F1_MACRO_CI_LOW] = rvt_percentile_sorted(f1, nb, 2.5);
    m->overall[RVT_METRIC_F1_MACRO_CI_HIGH] = rvt_percentile_sorted(f1, nb, 97.5);
    m->has_ci = true;
done:
    free(cm);
    free(acc);
    free(f1);
    free(scratch);
    return ret;
}

/*
 * Log-loss and top-2 accuracy from the probability rows.  ref:
 * sklearn/metrics/_classification.py (log_loss) and _ranking.py
 * (top_k_accuracy_score), 1.2.1.
 */
static int prob_metrics(struct rvt_metrics *m, size_t n, const int *label, const double *prob,
                        double eps, struct rvt_error *err)
{
    size_t k = (size_t)m->n_classes, i, j;
    double *loss = malloc(n * sizeof(*loss));
    double *row = malloc(k * sizeof(*row));
    size_t hits = 0;
    int ret = 0;

    if (!loss || !row) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < n; i++) {
        const double *p = prob + i * k;
        size_t t = (size_t)label[i], ahead = 0;
        double s;
        /* np.clip(y_pred, eps, 1 - eps), then y_pred / y_pred.sum(axis=1) */
        for (j = 0; j < k; j++)
            row[j] = p[j] < eps ? eps : p[j] > 1 - eps ? 1 - eps : p[j];
        s = rvt_sum_pairwise(row, k);
        /* -xlogy(onehot, q).sum(axis=1): the other terms are exact zeros */
        loss[i] = -(0.0 + log(row[t] / s));
        /* argsort(kind="mergesort")[:, ::-1]: ties go to the higher index */
        for (j = 0; j < k && ahead < 2; j++)
            if (p[j] > p[t] || (p[j] == p[t] && j > t))
                ahead++;
        hits += ahead < 2;
    }
    m->overall[RVT_METRIC_LOG_LOSS] = rvt_mean(loss, n);
    m->overall[RVT_METRIC_TOP2_ACCURACY] = (double)hits / (double)n;
done:
    free(loss);
    free(row);
    return ret;
}

int rvt_metrics_compute(struct rvt_metrics *m, size_t n, const int *label, const int *pred,
                        const double *prob, const struct rvt_metrics_opts *opts,
                        struct rvt_error *err)
{
    int k = m->n_classes, c, j;
    size_t kk = (size_t)k, i;
    int64_t *cm = m->confusion, tr = 0, *ts = NULL, *ps = NULL;
    double *scratch = NULL, *p, *r, *f, *w;
    size_t n_present = 0;
    int ret = 0;

    if (n == 0)
        return rvt_error_set(err, RVT_EINVAL, "no clips to score");
    ts = calloc(kk, sizeof(*ts));
    ps = calloc(kk, sizeof(*ps));
    /* 4 rows of k for p/r/f/products, then k*k for kappa's expected matrix */
    scratch = malloc((4 * kk + kk * kk) * sizeof(*scratch));
    if (!ts || !ps || !scratch) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < RVT_METRIC_N_OVERALL; i++)
        m->overall[i] = NAN;
    m->has_ci = false;
    m->n = n;
    memset(cm, 0, kk * kk * sizeof(*cm));
    for (i = 0; i < n; i++) {
        assert(label[i] >= 0 && label[i] < k && pred[i] >= 0 && pred[i] < k);
        cm[(size_t)label[i] * kk + pred[i]]++;
    }
    for (c = 0; c < k; c++) {
        tr += cm[(size_t)c * kk + c];
        for (j = 0; j < k; j++) {
            ts[c] += cm[(size_t)c * kk + j];
            ps[c] += cm[(size_t)j * kk + c];
        }
    }
    p = scratch;
    r = scratch + kk;
    f = scratch + 2 * kk;
    w = scratch + 3 * kk;

    m->overall[RVT_METRIC_N] = (double)n;
    m->overall[RVT_METRIC_ACCURACY] = (double)tr / (double)n;

    /* per class, and the macro averages: np.average(x) = pairwise sum / k */
    m->overall[RVT_METRIC_F1_MACRO] = macro_f1(cm, k, p, r, f);
    m->overall[RVT_METRIC_PRECISION_MACRO] = rvt_mean(p, kk);
    m->overall[RVT_METRIC_RECALL_MACRO] = rvt_mean(r, kk);
    for (c = 0; c < k; c++) {
        rvt_metrics_set(m, RVT_METRIC_PRECISION, c, p[c]);
        rvt_metrics_set(m, RVT_METRIC_RECALL, c, r[c]);
        rvt_metrics_set(m, RVT_METRIC_F1, c, f[c]);
        rvt_metrics_set(m, RVT_METRIC_SUPPORT, c, (double)ts[c]);
        rvt_metrics_set(m, RVT_METRIC_CLASS_ACCURACY, c,
                        ts[c] ? (double)cm[(size_t)c * kk + c] / (double)ts[c] : NAN);
    }

    /*
     * weighted: np.average(x, weights=true_sum) = sum(x * w) / sum(w); the
     * weights are integers, so their sum is exactly n (n > 0 here, so
     * sklearn's all-zero-weights branch cannot happen)
     */
    {
        double *src[3] = {p, r, f};
        enum rvt_metric dst[3] = {RVT_METRIC_PRECISION_WEIGHTED, RVT_METRIC_RECALL_WEIGHTED,
                                  RVT_METRIC_F1_WEIGHTED};
        int q;
        for (q = 0; q < 3; q++) {
            for (c = 0; c < k; c++)
                w[c] = src[q][c] * (double)ts[c];
            m->overall[dst[q]] = rvt_sum_pairwise(w, kk) / (double)n;
        }
    }

    /* micro: tp, predicted and true counts summed first (all three sums are n) */
    {
        double mp = prf_divide((double)tr, (double)n), mr = prf_divide((double)tr, (double)n);
        m->overall[RVT_METRIC_PRECISION_MICRO] = mp;
        m->overall[RVT_METRIC_RECALL_MICRO] = mr;
        m->overall[RVT_METRIC_F1_MICRO] = f1_of(mp, mr);
    }

    /*
     * balanced accuracy: recall of the classes present in y_true (sklearn's
     * confusion_matrix without labels= sees only present classes; predicted-
     * only classes give NaN rows that it drops), mean in class order
     */
    for (c = 0; c < k; c++)
        if (ts[c])
            w[n_present++] = (double)cm[(size_t)c * kk + c] / (double)ts[c];
    m->overall[RVT_METRIC_BALANCED_ACCURACY] = rvt_mean(w, n_present);

    /*
     * Cohen's kappa: expected = np.outer(sum0, sum1) / np.sum(sum0) with sum0
     * the column (predicted) and sum1 the row (true) sums; k = sum(w * C) /
     * sum(w * expected) with w = 1 off the diagonal; 1 - k.
     */
    {
        double *e = scratch + 4 * kk, num = (double)((int64_t)n - tr);
        for (c = 0; c < k; c++)
            for (j = 0; j < k; j++)
                e[(size_t)c * kk + j] = c == j ? 0.0 : (double)(ps[c] * ts[j]) / (double)n;
        m->overall[RVT_METRIC_COHEN_KAPPA] = 1 - num / rvt_sum_pairwise(e, kk * kk);
    }

    /*
     * Matthews correlation (sklearn 1.2.1 matthews_corrcoef): the sums and dot
     * products are integers (n <= 2^24, so n^2 < 2^53), exact in double as
     * numpy's float64 sums are; then the same multiply, sqrt and divide.
     */
    {
        int64_t tp = 0, tt = 0, pp = 0;
        double nn, cov_yp, cov_pp, cov_tt;
        for (c = 0; c < k; c++) {
            tp += ts[c] * ps[c];
            tt += ts[c] * ts[c];
            pp += ps[c] * ps[c];
        }
        nn = (double)n;
        cov_yp = (double)tr * nn - (double)tp;
        cov_pp = nn * nn - (double)pp;
        cov_tt = nn * nn - (double)tt;
        m->overall[RVT_METRIC_MCC] = cov_pp * cov_tt == 0 ? 0.0 : cov_yp / sqrt(cov_tt * cov_pp);
    }

    if (prob) {
        ret = prob_metrics(m, n, label, prob, opts->eps, err);
        if (ret < 0)
            goto done;
    }
    if (opts->n_boot > 0)
        ret = bootstrap(m, n, label, pred, opts, err);
done:
    free(ts);
    free(ps);
    free(scratch);
    return ret;
}
