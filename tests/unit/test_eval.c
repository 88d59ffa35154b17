/* Unit tests for lib/eval: metrics on hand-made cases, the numpy helpers, the
 * generator, the predictions reader's checks, grouping and the writers. */
#include "core/common.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "eval/metrics.h"
#include "eval/predictions.h"
#include "eval/score.h"

static char tmpdir[256];

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-15 * RVT_MAX(1.0, fabs(b));
}

/* for values whose exact bits depend on how a row's probabilities sum */
static bool near12(double a, double b)
{
    return fabs(a - b) <= 1e-12 * RVT_MAX(1.0, fabs(b));
}

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_helpers(void)
{
    double a8[8] = {1e16, 1, 1, 1, 1, 1, 1, 1}, seq = 0, s[4] = {1, 2, 3, 4}, sc[4];
    double big[300];
    struct rvt_rng r;
    uint64_t x = 0;
    int i, ok = 1;

    for (i = 0; i < 8; i++)
        seq += a8[i];
    /* numpy.sum([1e16, 1, 1, 1, 1, 1, 1, 1]) == 1.0000000000000006e16; a plain loop loses the ones */
    OK(rvt_sum_pairwise(a8, 8) == 1.0000000000000006e16 && seq == 1e16,
       "pairwise sum groups 8 like numpy (%.17g, plain %.17g)", rvt_sum_pairwise(a8, 8), seq);
    OK(rvt_sum_pairwise(a8, 7) == 1e16, "below 8 values numpy adds in order");
    for (i = 0; i < 300; i++)
        big[i] = i;
    OK(rvt_sum_pairwise(big, 300) == 44850, "sum of 0..299");
    OK(rvt_mean(s, 4) == 2.5, "mean");
    OK(near(rvt_std(s, 4, sc), sqrt(1.25)), "population std (ddof = 0)");
    OK(near(rvt_percentile_sorted(s, 4, 2.5), 1.075) && near(rvt_percentile_sorted(s, 4, 97.5), 3.925),
       "percentile, linear: %.17g %.17g", rvt_percentile_sorted(s, 4, 2.5),
       rvt_percentile_sorted(s, 4, 97.5));
    OK(rvt_percentile_sorted(s, 4, 0) == 1 && rvt_percentile_sorted(s, 4, 100) == 4 &&
           rvt_percentile_sorted(s, 1, 50) == 1,
       "percentile ends");

    /* splitmix64(0)'s first output is the published 0xe220a8397b1dcdaf */
    rvt_rng_seed(&r, 0);
    OK(r.s[0] == UINT64_C(0xe220a8397b1dcdaf), "splitmix64 seeding");
    rvt_rng_seed(&r, 42);
    for (i = 0; i < 100000; i++) {
        uint64_t v = rvt_rng_below(&r, 7);
        ok &= v < 7;
        x += v;
    }
    OK(ok && x > 290000 && x < 310000, "rvt_rng_below(7) in range, mean near 3 (%.4f)", x / 1e5);
    rvt_rng_seed(&r, 42);
    OK(rvt_rng_below(&r, 1) == 0, "below(1) == 0");
}

/*
 * 3 classes, 6 clips:       pred
 *                      A  B  C
 *              true A  2  1  0
 *                   B  0  1  0
 *                   C  1  1  0     (C never predicted)
 */
static void test_small_case(void)
{
    const int label[6] = {0, 0, 0, 1, 2, 2}, pred[6] = {0, 0, 1, 1, 0, 1};
    const double prob[18] = {.8, .1, .1, .6, .3, .1, .3, .6, .1,
                             .2, .7, .1, .5, .3, .2, .4, .4, .2};
    struct rvt_metrics m;
    struct rvt_metrics_opts o = RVT_METRICS_OPTS_DEFAULT;
    struct rvt_error err = {0};
    double pa = 2.0 / 3, pb = 1.0 / 3, ra = 2.0 / 3, rb = 1.0, fa, fb;

    OK(rvt_metrics_init(&m, 3, &err) == 0, "init");
    OK(rvt_metrics_compute(&m, 6, label, pred, prob, &o, &err) == 0, "compute");
    OK(m.confusion[0] == 2 && m.confusion[1] == 1 && m.confusion[4] == 1 && m.confusion[6] == 1 &&
           m.confusion[7] == 1 && m.confusion[2] == 0 && m.confusion[8] == 0,
       "confusion matrix rows = true class");
    OK(rvt_metrics_get(&m, RVT_METRIC_ACCURACY, 0) == 0.5, "accuracy 3/6");
    fa = 2 * pa * ra / (pa + ra);
    fb = 2 * pb * rb / (pb + rb);
    OK(near(rvt_metrics_get(&m, RVT_METRIC_PRECISION, 0), pa) &&
           near(rvt_metrics_get(&m, RVT_METRIC_PRECISION, 1), pb) &&
           rvt_metrics_get(&m, RVT_METRIC_PRECISION, 2) == 0.0,
       "precision; never-predicted C is 0.0 (zero_division)");
    OK(near(rvt_metrics_get(&m, RVT_METRIC_RECALL, 0), ra) &&
           rvt_metrics_get(&m, RVT_METRIC_RECALL, 1) == rb &&
           rvt_metrics_get(&m, RVT_METRIC_RECALL, 2) == 0.0,
       "recall");
    OK(near(rvt_metrics_get(&m, RVT_METRIC_F1, 0), fa) &&
           near(rvt_metrics_get(&m, RVT_METRIC_F1, 1), fb) && rvt_metrics_get(&m, RVT_METRIC_F1, 2) == 0,
       "f1; 0 when precision + recall is 0");
    OK(near(rvt_metrics_get(&m, RVT_METRIC_F1_MACRO, 0), (fa + fb + 0) / 3), "macro F1 counts C as 0");
    OK(near(rvt_metrics_get(&m, RVT_METRIC_F1_WEIGHTED, 0), (3 * fa + 1 * fb + 0) / 6), "weighted F1");
    OK(rvt_metrics_get(&m, RVT_METRIC_F1_MICRO, 0) == 0.5 &&
           rvt_metrics_get(&m, RVT_METRIC_PRECISION_MICRO, 0) == 0.5,
       "micro = accuracy in single-label multiclass");
    OK(near(rvt_metrics_get(&m, RVT_METRIC_BALANCED_ACCURACY, 0), (ra + rb + 0) / 3),
       "balanced accuracy");
    /* kappa: po = 0.5; pe = (3*3 + 1*3 + 2*0) / 36 = 1/3; (po - pe) / (1 - pe) = 0.25 */
    OK(near(rvt_metrics_get(&m, RVT_METRIC_COHEN_KAPPA, 0), 0.25), "kappa 0.25 (%.17g)",
       rvt_metrics_get(&m, RVT_METRIC_COHEN_KAPPA, 0));
    /* top-2: row 5 (true C, .5 .3 .2) misses; row 6 (true C, .4 .4 .2) misses; others hit */
    OK(near(rvt_metrics_get(&m, RVT_METRIC_TOP2_ACCURACY, 0), 4.0 / 6), "top-2 accuracy");
    OK(near12(rvt_metrics_get(&m, RVT_METRIC_LOG_LOSS, 0),
            -(log(.8) + log(.6) + log(.3) + log(.7) + log(.2) + log(.2)) / 6),
       "log-loss");
    OK(rvt_metrics_get(&m, RVT_METRIC_SUPPORT, 2) == 2 &&
           near(rvt_metrics_get(&m, RVT_METRIC_CLASS_ACCURACY, 0), 2.0 / 3),
       "support and class accuracy");
    OK(!m.has_ci && isnan(rvt_metrics_get(&m, RVT_METRIC_ACCURACY_CI_LOW, 0)), "no CI without bootstrap");

    o.n_boot = 200;
    o.seed = 9;
    OK(rvt_metrics_compute(&m, 6, label, pred, prob, &o, &err) == 0 && m.has_ci, "bootstrap");
    OK(rvt_metrics_get(&m, RVT_METRIC_ACCURACY_CI_LOW, 0) <= 0.5 &&
           rvt_metrics_get(&m, RVT_METRIC_ACCURACY_CI_HIGH, 0) >= 0.5 &&
           rvt_metrics_get(&m, RVT_METRIC_ACCURACY_CI_LOW, 0) >= 0 &&
           rvt_metrics_get(&m, RVT_METRIC_ACCURACY_CI_HIGH, 0) <= 1,
       "accuracy interval [%.4f, %.4f] holds 0.5", rvt_metrics_get(&m, RVT_METRIC_ACCURACY_CI_LOW, 0),
       rvt_metrics_get(&m, RVT_METRIC_ACCURACY_CI_HIGH, 0));
    {
        double lo = rvt_metrics_get(&m, RVT_METRIC_F1_MACRO_CI_LOW, 0);
        OK(rvt_metrics_compute(&m, 6, label, pred, prob, &o, &err) == 0 &&
               rvt_metrics_get(&m, RVT_METRIC_F1_MACRO_CI_LOW, 0) == lo,
           "same seed, same interval");
    }
    OK(rvt_metrics_compute(&m, 0, label, pred, prob, &o, &err) == RVT_EINVAL, "no clips refused");
    rvt_metrics_release(&m);
}

static void test_edge_cases(void)
{
    const int one[4] = {1, 1, 1, 1};
    const double p2[8] = {1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5};
    const int y2[4] = {1, 1, 0, 1}, q2[4] = {0, 1, 0, 0};
    const double flat[16] = {.25, .25, .25, .25, .25, .25, .25, .25,
                             .25, .25, .25, .25, .25, .25, .25, .25};
    const int y4[4] = {0, 1, 2, 3};
    struct rvt_metrics m;
    struct rvt_metrics_opts o = RVT_METRICS_OPTS_DEFAULT;
    struct rvt_error err = {0};

    rvt_metrics_init(&m, 4, &err);
    rvt_metrics_compute(&m, 4, one, one, flat, &o, &err);
    OK(isnan(rvt_metrics_get(&m, RVT_METRIC_COHEN_KAPPA, 0)), "one class, all right: kappa NaN (0/0)");
    OK(isnan(rvt_metrics_get(&m, RVT_METRIC_CLASS_ACCURACY, 0)) &&
           rvt_metrics_get(&m, RVT_METRIC_PRECISION, 0) == 0 && rvt_metrics_get(&m, RVT_METRIC_F1, 0) == 0,
       "absent class: precision/F1 0.0, class accuracy NaN");
    OK(rvt_metrics_get(&m, RVT_METRIC_F1_MACRO, 0) == 0.25 &&
           rvt_metrics_get(&m, RVT_METRIC_BALANCED_ACCURACY, 0) == 1.0,
       "macro over all 4 classes, balanced accuracy over present ones");
    /* uniform rows: mergesort reversed puts classes 3 and 2 first */
    OK(rvt_metrics_compute(&m, 4, y4, y4, flat, &o, &err) == 0 &&
           rvt_metrics_get(&m, RVT_METRIC_TOP2_ACCURACY, 0) == 0.5,
       "top-2 ties go to the higher class index");
    rvt_metrics_release(&m);

    rvt_metrics_init(&m, 2, &err);
    OK(rvt_metrics_compute(&m, 4, y2, q2, p2, &o, &err) == 0, "two classes");
    /* row 1: true 1, probs (1, 0) -> clipped (1 - eps, eps): loss -log(eps) */
    OK(near(rvt_metrics_get(&m, RVT_METRIC_LOG_LOSS, 0),
            (-log(DBL_EPSILON) - log(1 - DBL_EPSILON) + 2 * -log(0.5)) / 4),
       "log-loss clips 0 and 1 at eps = DBL_EPSILON (%.17g)", rvt_metrics_get(&m, RVT_METRIC_LOG_LOSS, 0));
    o.eps = 1e-15;
    rvt_metrics_compute(&m, 4, y2, q2, p2, &o, &err);
    OK(near12(rvt_metrics_get(&m, RVT_METRIC_LOG_LOSS, 0),
            (-log(1e-15) - log(1 - 1e-15) + 2 * -log(0.5)) / 4),
       "eps 1e-15");
    OK(rvt_metrics_get(&m, RVT_METRIC_TOP2_ACCURACY, 0) == 1, "top-2 of 2 classes is 1");
    rvt_metrics_release(&m);
    OK(rvt_metrics_init(&m, 1, &err) == RVT_EINVAL, "one class refused: %s", err.msg);
}

#define HDR "id,split,label,pred,p_A,p_B,p_C\n"

static int read_one(const char *text, struct rvt_error *err)
{
    struct rvt_predictions p;
    int ret;
    rvt_predictions_init(&p);
    ret = rvt_predictions_read(&p, write_tmp("bad.csv", text), err);
    rvt_predictions_release(&p);
    return ret;
}

static void expect_bad(const char *what, const char *text, const char *needle)
{
    struct rvt_error err = {0};
    int ret = read_one(text, &err);
    OK(ret < 0 && strstr(err.msg, "bad.csv'") && strstr(err.msg, needle) && !strchr(err.msg, '\n'),
       "%s: %s", what, err.msg);
}

static void test_reader(void)
{
    struct rvt_predictions p;
    struct rvt_error err = {0};
    char a[512];

    expect_bad("malformed row", HDR "x,test,A,A,0.5,0.5\n", "line 2: 6 fields, the header has 7");
    expect_bad("unknown label", HDR "x,test,A,A,1,0,0\ny,test,D,A,1,0,0\n",
               "line 3: unknown class 'D' in column label");
    expect_bad("unknown pred", HDR "x,test,A,a,1,0,0\n", "line 2: unknown class 'a' in column pred");
    expect_bad("sum", HDR "x,test,A,A,0.5,0.3,0.1\n", "line 2: probabilities sum to 0.9");
    expect_bad("sum just outside", HDR "x,test,A,A,0.5,0.3,0.20011\n", "sum to 1.00011");
    OK(read_one(HDR "x,test,A,A,0.5,0.3,0.20009\n", &err) == 0, "sum within 1e-4 accepted");
    expect_bad("duplicate id", HDR "x,test,A,A,1,0,0\ny,test,A,A,1,0,0\nx,val,B,B,0,1,0\n",
               "line 4: duplicate id 'x' (first on line 2)");
    expect_bad("negative", HDR "x,test,A,A,1.5,-0.5,0\n", "p_B is '-0.5', not a probability");
    expect_bad("nan", HDR "x,test,A,A,nan,0,0\n", "p_A is 'nan'");
    expect_bad("text", HDR "x,test,A,A,one,0,0\n", "p_A is 'one'");
    expect_bad("empty id", HDR ",test,A,A,1,0,0\n", "line 2: empty id");
    expect_bad("reserved split", HDR "x,all,A,A,1,0,0\n", "split 'all' is reserved");
    expect_bad("no rows", HDR, "no predictions");
    expect_bad("empty", "", "empty file");
    expect_bad("missing column", "id,label,pred,p_A,p_B\n", "no 'split' column");
    expect_bad("foreign column", "id,split,label,pred,logit,p_A,p_B\n", "unexpected column 'logit'");
    expect_bad("one class", "id,split,label,pred,p_A\n", "at least two p_<class> columns");
    expect_bad("class twice", "id,split,label,pred,p_A,p_A\n", "column 'p_A' twice");
    expect_bad("unterminated quote", HDR "x,\"test,A,A,1,0,0\n", "bad.csv");

    rvt_predictions_init(&p);
    snprintf(a, sizeof(a), "%s", write_tmp("a.csv", HDR "x,test,A,B,0.2,0.7,0.1\ny,val,C,C,0,0,1\n"));
    OK(rvt_predictions_read(&p, a, &err) == 0 && p.n_rows == 2 && p.n_classes == 3 &&
           p.n_splits == 2 && !strcmp(p.classes[2], "C") && p.label[0] == 0 && p.pred[0] == 1 &&
           p.prob[1] == 0.7,
       "reads a file");
    OK(rvt_predictions_read(&p, write_tmp("b.csv", "id,split,label,pred,p_A,p_C,p_B\n"), &err) ==
               RVT_EMISMATCH &&
           strstr(err.msg, "b.csv': line 1: class 2 is 'C' where"),
       "other label order refused: %s", err.msg);
    OK(rvt_predictions_read(&p, write_tmp("b.csv", "id,split,label,pred,p_A,p_B\n"), &err) ==
               RVT_EMISMATCH && strstr(err.msg, "2 classes where"),
       "other label count refused: %s", err.msg);
    OK(rvt_predictions_read(&p, write_tmp("b.csv", HDR "x,train,A,A,1,0,0\ny,test,A,Q,1,0,0\n"),
                            &err) < 0 &&
           p.n_rows == 2 && p.n_files == 1 && p.n_splits == 2,
       "a failed file leaves the earlier ones as they were");
    OK(rvt_predictions_read(&p, write_tmp("b.csv", HDR "x,train,B,A,0,1,0\n"), &err) == 0 &&
           p.n_rows == 3 && p.n_files == 2 && p.file[2] == 1 && p.n_splits == 3,
       "a second fold; the same id in another file is fine");
    rvt_predictions_release(&p);
}

static void test_score_groups(void)
{
    struct rvt_predictions p;
    struct rvt_score s;
    struct rvt_score_opts o = RVT_SCORE_OPTS_DEFAULT;
    struct rvt_error err = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *mem;
    int i, n_mean = 0;
    const struct rvt_score_group *mean = NULL, *std = NULL;
    char f0[512];

    rvt_predictions_init(&p);
    snprintf(f0, sizeof(f0), "%s", write_tmp("f0.csv", "id,split,label,pred,p_A & B,p_<C>\n"
                                                       "1,test,A & B,A & B,0.9,0.1\n"
                                                       "2,test,<C>,A & B,0.6,0.4\n"));
    rvt_predictions_read(&p, f0, &err);
    OK(rvt_predictions_read(&p, write_tmp("f1.csv", "id,split,label,pred,p_A & B,p_<C>\n"
                                                    "1,test,A & B,A & B,0.9,0.1\n"
                                                    "2,val,<C>,<C>,0.3,0.7\n"),
                            &err) == 0,
       "two folds read");
    OK(rvt_score_compute(&s, &p, &o, &err) == 0, "score computes (%s)", err.msg);
    /* fold 0: all, test; fold 1: all, test, val; pooled: all, test, val; mean+std for 3 keys */
    OK(s.n_groups == 2 + 3 + 3 + 6, "groups: %d", s.n_groups);
    for (i = 0; i < s.n_groups; i++) {
        if (s.groups[i].fold == RVT_SCORE_FOLD_MEAN) {
            n_mean++;
            if (s.groups[i].split == RVT_SCORE_SPLIT_ALL)
                mean = &s.groups[i];
        }
        if (s.groups[i].fold == RVT_SCORE_FOLD_STD && s.groups[i].split == RVT_SCORE_SPLIT_ALL)
            std = &s.groups[i];
    }
    OK(n_mean == 3 && mean && std, "mean rows per split key");
    OK(mean && rvt_metrics_get(&mean->m, RVT_METRIC_ACCURACY, 0) == 0.75 &&
           rvt_metrics_get(&std->m, RVT_METRIC_ACCURACY, 0) == 0.25,
       "mean 0.75 and population std 0.25 of accuracies 0.5 and 1");
    OK(s.groups[s.main_group].fold == RVT_SCORE_FOLD_POOLED &&
           s.groups[s.main_group].split == RVT_SCORE_SPLIT_ALL &&
           s.groups[s.main_group].m.n == 4,
       "main group: pooled, all");

    mem = open_memstream(&buf, &len);
    rvt_score_write_confusion_svg(mem, &s);
    fclose(mem);
    OK(strstr(buf, "&amp;") && strstr(buf, "&lt;C&gt;") && !strstr(buf, "<C>") &&
           !strstr(buf, "A & B"),
       "class names escaped in the SVG");
    free(buf);
    mem = open_memstream(&buf, &len);
    rvt_score_write_confusion_csv(mem, &s);
    fclose(mem);
    OK(!strcmp(buf, "label,A & B,<C>\nA & B,2,0\n<C>,1,1\n"), "confusion.csv");
    free(buf);
    mem = open_memstream(&buf, &len);
    rvt_score_write_metrics(mem, &s);
    fclose(mem);
    OK(!strncmp(buf, "metric,class,split,fold,value\nn,,all,0,2\naccuracy,,all,0,0.5\n",
                strlen("metric,class,split,fold,value\nn,,all,0,2\naccuracy,,all,0,0.5\n")) &&
           strstr(buf, "\naccuracy,,all,mean,0.75\n") && strstr(buf, "\naccuracy,,all,std,0.25\n") &&
           strstr(buf, "\nprecision,A & B,test,pooled,") && strstr(buf, "\ncohen_kappa,,val,1,nan\n"),
       "metrics.csv rows");
    free(buf);
    rvt_score_release(&s);

    o.split = "val";
    OK(rvt_score_compute(&s, &p, &o, &err) == RVT_EINVAL && strstr(err.msg, "f0.csv': no clips of split 'val'"),
       "a fold without the selected split: %s", err.msg);
    o.split = "nope";
    OK(rvt_score_compute(&s, &p, &o, &err) == RVT_EINVAL, "unknown split: %s", err.msg);
    o.split = "test";
    OK(rvt_score_compute(&s, &p, &o, &err) == 0 && s.n_groups == 5 &&
           s.groups[s.main_group].m.n == 3,
       "--split test: per fold, pooled, mean, std");
    rvt_score_release(&s);
    rvt_predictions_release(&p);
}

int main(void)
{
    char cmd[300];
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rvt-test-eval.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_helpers();
    test_small_case();
    test_edge_cases();
    test_reader();
    test_score_groups();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
