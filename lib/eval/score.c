#include "core/common.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/csvio.h"
#include "eval/score.h"

void rvt_score_fold_name(const struct rvt_score_group *g, char *buf, size_t n)
{
    switch (g->fold) {
    case RVT_SCORE_FOLD_POOLED: snprintf(buf, n, "pooled"); break;
    case RVT_SCORE_FOLD_MEAN: snprintf(buf, n, "mean"); break;
    case RVT_SCORE_FOLD_STD: snprintf(buf, n, "std"); break;
    default: snprintf(buf, n, "%d", g->fold); break;
    }
}

const char *rvt_score_split_name(const struct rvt_score *s, const struct rvt_score_group *g)
{
    return g->split == RVT_SCORE_SPLIT_ALL ? "all" : s->preds->splits[g->split];
}

void rvt_score_release(struct rvt_score *s)
{
    int i;
    for (i = 0; i < s->n_groups; i++)
        rvt_metrics_release(&s->groups[i].m);
    free(s->groups);
    free(s->split_order);
    memset(s, 0, sizeof(*s));
}

static uint64_t fnv1a(const char *str)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *str; str++)
        h = (h ^ (unsigned char)*str) * UINT64_C(0x100000001b3);
    return h;
}

static const struct rvt_predictions *g_sort_preds; /* only during the qsort below */

static int cmp_split(const void *a, const void *b)
{
    return strcmp(g_sort_preds->splits[*(const int *)a], g_sort_preds->splits[*(const int *)b]);
}

/* Scratch for gathering one group's rows. */
struct gather {
    int *label, *pred;
    double *prob;
};

static struct rvt_score_group *new_group(struct rvt_score *s, int fold, int split,
                                         struct rvt_error *err)
{
    struct rvt_score_group *g = &s->groups[s->n_groups];
    g->fold = fold;
    g->split = split;
    if (rvt_metrics_init(&g->m, s->preds->n_classes, err) < 0)
        return NULL;
    s->n_groups++;
    return g;
}

/* Scores the rows of fold `fold` (or every file when pooled) and split key `split`. */
static int score_group(struct rvt_score *s, struct gather *ga, int fold, int split, int sel,
                       struct rvt_error *err)
{
    const struct rvt_predictions *p = s->preds;
    size_t k = (size_t)p->n_classes, i, n = 0;
    struct rvt_metrics_opts mo = s->opts.metrics;
    struct rvt_score_group *g;
    char key[96], fname[32];
    int ret;

    for (i = 0; i < p->n_rows; i++) {
        if (fold >= 0 && p->file[i] != fold)
            continue;
        if (sel >= 0 && p->split[i] != sel)
            continue;
        if (split != RVT_SCORE_SPLIT_ALL && p->split[i] != split)
            continue;
        ga->label[n] = p->label[i];
        ga->pred[n] = p->pred[i];
        if (p->prob) /* NULL for a confusion matrix read as clips */
            memcpy(ga->prob + n * k, p->prob + i * k, k * sizeof(double));
        n++;
    }
    if (n == 0)
        return 0;
    g = new_group(s, fold, split, err);
    if (!g)
        return err ? err->code : RVT_ENOMEM;
    rvt_score_fold_name(g, fname, sizeof(fname));
    snprintf(key, sizeof(key), "%s/%s", fname, rvt_score_split_name(s, g));
    mo.seed ^= fnv1a(key);
    ret = rvt_metrics_compute(&g->m, n, ga->label, ga->pred, p->prob ? ga->prob : NULL, &mo, err);
    return ret < 0 ? ret : 1;
}

/* The mean and std groups of split key `split` over the per-fold groups. */
static int fold_stats(struct rvt_score *s, int split, double *vals, double *scratch,
                      struct rvt_error *err)
{
    struct rvt_score_group *mean, *std;
    int n_per_fold = 0, gi, w, c;
    int n_classes = s->preds->n_classes;

    for (gi = 0; gi < s->n_groups; gi++)
        if (s->groups[gi].fold >= 0 && s->groups[gi].split == split)
            n_per_fold++;
    if (n_per_fold == 0)
        return 0;
    if (!(mean = new_group(s, RVT_SCORE_FOLD_MEAN, split, err)) ||
        !(std = new_group(s, RVT_SCORE_FOLD_STD, split, err)))
        return err ? err->code : RVT_ENOMEM;
    for (w = 0; w < RVT_METRIC_COUNT; w++) {
        int n_cls = rvt_metric_is_per_class(w) ? n_classes : 1;
        if (rvt_metric_is_ci(w))
            continue;
        for (c = 0; c < n_cls; c++) {
            size_t n = 0;
            for (gi = 0; gi < s->n_groups; gi++)
                if (s->groups[gi].fold >= 0 && s->groups[gi].split == split)
                    vals[n++] = rvt_metrics_get(&s->groups[gi].m, w, c);
            rvt_metrics_set(&mean->m, w, c, rvt_mean(vals, n));
            rvt_metrics_set(&std->m, w, c, rvt_std(vals, n, scratch));
        }
    }
    return 0;
}

int rvt_score_compute(struct rvt_score *s, const struct rvt_predictions *p,
                      const struct rvt_score_opts *opts, struct rvt_error *err)
{
    struct gather ga = {0};
    size_t k = (size_t)p->n_classes;
    int n_keys, max_groups, f, i, sel = -1, ret = 0, n_folds_scored = 0;
    int *keys = NULL;
    double *vals = NULL, *scratch = NULL;

    memset(s, 0, sizeof(*s));
    s->preds = p;
    s->opts = *opts;
    s->main_group = -1;
    if (p->n_files == 0 || p->n_rows == 0 || p->n_classes < 2)
        return rvt_error_set(err, RVT_EINVAL, "no predictions to score");
    if (opts->split) {
        sel = rvt_predictions_split(p, opts->split);
        if (sel < 0)
            return rvt_error_set(err, RVT_EINVAL, "no clips of split '%s' in the predictions",
                                 opts->split);
    }
    s->split_order = malloc((size_t)(p->n_splits + 1) * sizeof(int)); /* n_splits may be 0 */
    /* split keys: "all" then each split by name, or only the selected split */
    keys = malloc((size_t)(p->n_splits + 1) * sizeof(int));
    /* groups: per fold and pooled, each key; then mean and std per key */
    max_groups = (p->n_files + 3) * (p->n_splits + 1);
    s->groups = calloc((size_t)max_groups, sizeof(*s->groups));
    ga.label = malloc(p->n_rows * sizeof(int));
    ga.pred = malloc(p->n_rows * sizeof(int));
    ga.prob = malloc((p->prob ? p->n_rows : 1) * k * sizeof(double));
    vals = malloc((size_t)p->n_files * sizeof(double));
    scratch = malloc((size_t)p->n_files * sizeof(double));
    if (!s->split_order || !keys || !s->groups || !ga.label || !ga.pred || !ga.prob || !vals ||
        !scratch) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < p->n_splits; i++)
        s->split_order[i] = i;
    g_sort_preds = p;
    qsort(s->split_order, (size_t)p->n_splits, sizeof(int), cmp_split);
    g_sort_preds = NULL;
    n_keys = 0;
    if (sel >= 0) {
        keys[n_keys++] = sel;
    } else {
        keys[n_keys++] = RVT_SCORE_SPLIT_ALL;
        for (i = 0; i < p->n_splits; i++)
            keys[n_keys++] = s->split_order[i];
    }

    for (f = 0; f < p->n_files; f++) {
        int got = 0;
        for (i = 0; i < n_keys; i++) {
            ret = score_group(s, &ga, f, keys[i], sel, err);
            if (ret < 0)
                goto done;
            got += ret;
        }
        if (!got) {
            ret = rvt_error_set(err, RVT_EINVAL, "'%s': no clips of split '%s'", p->files[f],
                                opts->split);
            goto done;
        }
        n_folds_scored++;
    }
    if (p->n_files >= 2) {
        for (i = 0; i < n_keys; i++)
            if ((ret = score_group(s, &ga, RVT_SCORE_FOLD_POOLED, keys[i], sel, err)) < 0)
                goto done;
        for (i = 0; i < n_keys; i++)
            if ((ret = fold_stats(s, keys[i], vals, scratch, err)) < 0)
                goto done;
    }
    ret = 0;
    for (i = 0; i < s->n_groups; i++)
        if (s->groups[i].fold == (p->n_files >= 2 ? RVT_SCORE_FOLD_POOLED : 0) &&
            s->groups[i].split == keys[0]) {
            s->main_group = i;
            break;
        }
    assert(s->main_group >= 0 && n_folds_scored == p->n_files);
done:
    free(keys);
    free(ga.label);
    free(ga.pred);
    free(ga.prob);
    free(vals);
    free(scratch);
    if (ret < 0)
        rvt_score_release(s);
    return ret;
}

/* ---- metrics.csv and confusion.csv ----------------------------------------- */

static void put_value(FILE *fp, double v)
{
    if (isnan(v))
        fputs("nan", fp); /* one spelling, whatever the sign bit */
    else
        rvt_csv_put_double(fp, v);
}

static void put_row(FILE *fp, const char *metric, const char *cls, const char *split,
                    const char *fold, double v)
{
    fputs(metric, fp);
    fputc(',', fp);
    rvt_csv_put(fp, cls);
    fputc(',', fp);
    rvt_csv_put(fp, split);
    fputc(',', fp);
    fputs(fold, fp);
    fputc(',', fp);
    put_value(fp, v);
    fputc('\n', fp);
}

int rvt_score_write_metrics(FILE *fp, const struct rvt_score *s)
{
    int gi, w, c;
    fputs("metric,class,split,fold,value\n", fp);
    for (gi = 0; gi < s->n_groups; gi++) {
        const struct rvt_score_group *g = &s->groups[gi];
        const char *split = rvt_score_split_name(s, g);
        char fold[32];
        rvt_score_fold_name(g, fold, sizeof(fold));
        for (w = 0; w < RVT_METRIC_N_OVERALL; w++) {
            if (rvt_metric_is_ci(w) && !g->m.has_ci)
                continue;
            put_row(fp, rvt_metric_name(w), "", split, fold, rvt_metrics_get(&g->m, w, 0));
        }
        for (c = 0; c < s->preds->n_classes; c++)
            for (w = RVT_METRIC_N_OVERALL; w < RVT_METRIC_COUNT; w++)
                put_row(fp, rvt_metric_name(w), s->preds->classes[c], split, fold,
                        rvt_metrics_get(&g->m, w, c));
    }
    return ferror(fp) ? RVT_EIO : 0;
}

int rvt_score_write_confusion_csv(FILE *fp, const struct rvt_score *s)
{
    const struct rvt_metrics *m = &s->groups[s->main_group].m;
    int k = s->preds->n_classes, t, q;
    fputs("label", fp);
    for (q = 0; q < k; q++) {
        fputc(',', fp);
        rvt_csv_put(fp, s->preds->classes[q]);
    }
    fputc('\n', fp);
    for (t = 0; t < k; t++) {
        rvt_csv_put(fp, s->preds->classes[t]);
        for (q = 0; q < k; q++)
            fprintf(fp, ",%" PRId64, m->confusion[(size_t)t * k + q]);
        fputc('\n', fp);
    }
    return ferror(fp) ? RVT_EIO : 0;
}

/* ---- the summary ------------------------------------------------------------ */

static const struct rvt_score_group *find_group(const struct rvt_score *s, int fold, int split)
{
    int i;
    for (i = 0; i < s->n_groups; i++)
        if (s->groups[i].fold == fold && s->groups[i].split == split)
            return &s->groups[i];
    return NULL;
}

static void print_value(FILE *fp, double v)
{
    if (isnan(v))
        fputs("   n/a", fp);
    else
        fprintf(fp, "%6.4f", v);
}

int rvt_score_print_summary(FILE *fp, const struct rvt_score *s)
{
    const struct rvt_predictions *p = s->preds;
    const struct rvt_score_group *g = &s->groups[s->main_group];
    const struct rvt_metrics *m = &g->m;
    int k = p->n_classes, c, width = 0;
    static const struct {
        enum rvt_metric which;
        const char *label;
    } rows[] = {
        {RVT_METRIC_ACCURACY, "accuracy"},
        {RVT_METRIC_F1_WEIGHTED, "weighted F1"},
        {RVT_METRIC_F1_MACRO, "macro F1"},
        {RVT_METRIC_BALANCED_ACCURACY, "balanced accuracy"},
        {RVT_METRIC_COHEN_KAPPA, "Cohen's kappa"},
        {RVT_METRIC_MCC, "MCC"},
        {RVT_METRIC_TOP2_ACCURACY, "top-2 accuracy"},
        {RVT_METRIC_LOG_LOSS, "log-loss"},
    };
    size_t i;

    fprintf(fp, "%zu clips, %d classes, split %s, ", m->n, k, rvt_score_split_name(s, g));
    if (p->n_files >= 2)
        fprintf(fp, "%d folds pooled\n", p->n_files);
    else
        fputs("one fold\n", fp);
    for (i = 0; i < RVT_ARRAY_SIZE(rows); i++) {
        double v = rvt_metrics_get(m, rows[i].which, 0);
        fprintf(fp, "%-18s ", rows[i].label);
        print_value(fp, v);
        if (rows[i].which == RVT_METRIC_ACCURACY)
            fprintf(fp, "  (%.0f of %zu right)", v * (double)m->n, m->n);
        if (m->has_ci && rows[i].which == RVT_METRIC_ACCURACY)
            fprintf(fp, "  95%% CI %.4f-%.4f", m->overall[RVT_METRIC_ACCURACY_CI_LOW],
                    m->overall[RVT_METRIC_ACCURACY_CI_HIGH]);
        if (m->has_ci && rows[i].which == RVT_METRIC_F1_MACRO)
            fprintf(fp, "  95%% CI %.4f-%.4f", m->overall[RVT_METRIC_F1_MACRO_CI_LOW],
                    m->overall[RVT_METRIC_F1_MACRO_CI_HIGH]);
        fputc('\n', fp);
    }
    for (c = 0; c < k; c++)
        width = RVT_MAX(width, (int)RVT_MIN(strlen(p->classes[c]), 32));
    fputs("class-wise accuracy:\n", fp);
    for (c = 0; c < k; c++) {
        int64_t right = m->confusion[(size_t)c * k + c];
        double support = rvt_metrics_get(m, RVT_METRIC_SUPPORT, c);
        fprintf(fp, "  %-*.*s  ", width, 32, p->classes[c]);
        print_value(fp, rvt_metrics_get(m, RVT_METRIC_CLASS_ACCURACY, c));
        if (support > 0)
            fprintf(fp, "  (%" PRId64 "/%.0f)\n", right, support);
        else
            fputs("  (no clips)\n", fp);
    }
    if (p->n_files >= 2) {
        const struct rvt_score_group *mean = find_group(s, RVT_SCORE_FOLD_MEAN, g->split);
        const struct rvt_score_group *std = find_group(s, RVT_SCORE_FOLD_STD, g->split);
        if (mean && std) {
            fputs("across folds (mean +- population std):\n", fp);
            for (i = 0; i < 3; i++) {
                fprintf(fp, "  %-16s ", rows[i].label);
                print_value(fp, rvt_metrics_get(&mean->m, rows[i].which, 0));
                fputs(" +- ", fp);
                print_value(fp, rvt_metrics_get(&std->m, rows[i].which, 0));
                fputc('\n', fp);
            }
        }
    }
    return ferror(fp) ? RVT_EIO : 0;
}
