/*
 * confusion.c: a published confusion matrix read as the clips it counts
 * (rvt_predictions_read_confusion, see predictions.h and schemas/metrics.md).
 *
 * Every metric that depends only on (true, predicted) pairs is a function of
 * the matrix, so expanding the matrix into pairs and scoring those gives the
 * exact values scikit-learn gives on the same pairs; the ones that need
 * probabilities (log-loss, top-2 accuracy) come out NaN.
 */
#include "core/common.h"

#include <stdlib.h>
#include <string.h>

#include "core/csvio.h"
#include "eval/predictions.h"

/* Rows of the file, kept until the layout is known. */
struct cm_rows {
    const char *path;
    size_t n, cap;
    int *n_fields;
    size_t *line;
    char ***fields; /* owned strings */
};

static void cm_rows_release(struct cm_rows *r)
{
    size_t i;
    int j;
    for (i = 0; i < r->n; i++) {
        for (j = 0; j < r->n_fields[i]; j++)
            free(r->fields[i][j]);
        free(r->fields[i]);
    }
    free(r->n_fields);
    free(r->line);
    free(r->fields);
}

static int keep_row(void *ctx, size_t line, int n, char **f, struct rvt_error *err)
{
    struct cm_rows *r = ctx;
    int j;
    if (r->n >= RVT_CSV_MAX_FIELDS + 1)
        return rvt_error_set(err, RVT_ELIMIT, "'%s': line %zu: more than %d rows", r->path, line,
                             RVT_CSV_MAX_FIELDS + 1);
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        int *nf = realloc(r->n_fields, cap * sizeof(*nf));
        size_t *ln = nf ? realloc(r->line, cap * sizeof(*ln)) : NULL;
        char ***fs = ln ? realloc(r->fields, cap * sizeof(*fs)) : NULL;
        if (nf)
            r->n_fields = nf;
        if (ln)
            r->line = ln;
        if (!fs)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        r->fields = fs;
        r->cap = cap;
    }
    r->fields[r->n] = calloc((size_t)n + 1, sizeof(char *));
    if (!r->fields[r->n])
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    r->n_fields[r->n] = 0;
    r->line[r->n] = line;
    r->n++;
    for (j = 0; j < n; j++) {
        if (!(r->fields[r->n - 1][j] = strdup(f[j])))
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        r->n_fields[r->n - 1]++;
    }
    return 0;
}

/* A count: decimal digits only (no sign, point, exponent or space), at most `cap`. */
static bool parse_count(const char *s, size_t cap, size_t *out)
{
    size_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (size_t)(*s - '0');
        if (v > cap)
            v = cap + 1; /* saturate: "too many", not a wrap */
    }
    *out = v;
    return true;
}

static bool is_count(const char *s)
{
    size_t v;
    return parse_count(s, RVT_PRED_MAX_ROWS, &v);
}

static int set_classes(struct rvt_predictions *p, int k, char *const *names, struct cm_rows *r,
                       size_t line, struct rvt_error *err)
{
    int c, d;
    p->classes = calloc((size_t)k, sizeof(char *));
    if (!p->classes)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    p->n_classes = k;
    for (c = 0; c < k; c++) {
        char num[16];
        if (names && !*names[c])
            return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: class %d has an empty name",
                                 r->path, line, c + 1);
        if (!names)
            snprintf(num, sizeof(num), "%d", c);
        if (!(p->classes[c] = strdup(names ? names[c] : num)))
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        for (d = 0; d < c; d++)
            if (!strcmp(p->classes[d], p->classes[c]))
                return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: class '%s' twice", r->path,
                                     line, p->classes[c]);
    }
    return 0;
}

/* Lays out rows r as a K x K matrix and fills p with its clips. */
static int expand(struct rvt_predictions *p, struct cm_rows *r, struct rvt_error *err)
{
    size_t first = 0, total = 0, *counts = NULL, i;
    int k, lead, fl, t, q, ret = 0;
    bool header, names;
    char **head_names = NULL;

    if (r->n == 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': empty file, no matrix", r->path);
    /*
     * The matrix is square, so the shape tells the layout: with R rows and
     * the last row (always counts) F fields wide, F = R + 1 is K = R rows of a
     * name and K counts; F = R - 1 is a header and K = R - 1 rows of counts;
     * F = R is either bare counts or a header and rows with names, told apart
     * by the first row holding something that is not a count.
     */
    fl = r->n_fields[r->n - 1];
    if ((size_t)fl == r->n + 1)
        header = false, names = true;
    else if ((size_t)fl + 1 == r->n)
        header = true, names = false;
    else if ((size_t)fl == r->n) {
        header = false;
        for (q = 0; q < r->n_fields[0]; q++)
            header |= !is_count(r->fields[0][q]);
        names = header;
    } else {
        return rvt_error_set(err, RVT_EFORMAT,
                             "'%s': %zu rows, the last %d fields wide: the matrix must be square (K rows of K counts, rows true class, columns predicted; optionally a header row and a first column of class names)",
                             r->path, r->n, fl);
    }
    first = header ? 1 : 0;
    lead = names ? 1 : 0;
    k = (int)(r->n - first);
    if (k < 2)
        return rvt_error_set(err, RVT_EFORMAT,
                             "'%s': a 1 x 1 matrix: the matrix must be square with 2 or more classes", r->path);
    if (header) {
        int hf = r->n_fields[0];
        if (hf != k && hf != k + 1)
            return rvt_error_set(err, RVT_EFORMAT,
                                 "'%s': line %zu: the header has %d fields, want %d class names (or a corner field and %d names)",
                                 r->path, r->line[0], hf, k, k);
        head_names = r->fields[0] + (hf - k);
    }
    for (i = first; i < r->n; i++) {
        if (r->n_fields[i] != k + lead)
            return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: %d fields, want %d", r->path,
                                 r->line[i], r->n_fields[i], k + lead);
        if (names && head_names && strcmp(r->fields[i][0], head_names[i - first]))
            return rvt_error_set(err, RVT_EFORMAT,
                                 "'%s': line %zu: row class '%s' but column %zu is '%s' (rows and columns list the classes in one order)",
                                 r->path, r->line[i], r->fields[i][0], i - first + 1, head_names[i - first]);
    }
    if (!names && !head_names) {
        ret = set_classes(p, k, NULL, r, r->line[0], err);
    } else if (head_names) {
        ret = set_classes(p, k, head_names, r, r->line[0], err);
    } else {
        char **row_names = malloc((size_t)k * sizeof(char *));
        if (!row_names)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        for (t = 0; t < k; t++)
            row_names[t] = r->fields[first + (size_t)t][0];
        ret = set_classes(p, k, row_names, r, r->line[first], err);
        free(row_names);
    }
    if (ret < 0)
        return ret;

    counts = malloc((size_t)k * (size_t)k * sizeof(size_t));
    if (!counts)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (t = 0; t < k; t++) {
        size_t ln = r->line[first + (size_t)t];
        for (q = 0; q < k; q++) {
            const char *f = r->fields[first + (size_t)t][lead + q];
            size_t *c = &counts[(size_t)t * k + q];
            if (!parse_count(f, RVT_PRED_MAX_ROWS, c) && t == 0 && !header) {
                ret = rvt_error_set(err, RVT_EFORMAT,
                                    "'%s': line %zu: column %d: '%s' is not a count of clips, and read as a header the %zu rows below it do not make a square matrix",
                                    r->path, ln, lead + q + 1, f, r->n - 1);
                goto done;
            } else if (!parse_count(f, RVT_PRED_MAX_ROWS, c)) {
                ret = rvt_error_set(err, RVT_EFORMAT,
                                    "'%s': line %zu: column %d: '%s' is not a count of clips (a whole number >= 0; a matrix of percentages does not determine the metrics)",
                                    r->path, ln, lead + q + 1, f);
                goto done;
            }
            total += *c;
            if (total > RVT_PRED_MAX_ROWS) {
                ret = rvt_error_set(err, RVT_ELIMIT, "'%s': line %zu: more than %zu clips", r->path,
                                    ln, RVT_PRED_MAX_ROWS);
                goto done;
            }
        }
    }
    if (total == 0) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': every count is 0, no clips to score", r->path);
        goto done;
    }
    p->label = malloc(total * sizeof(int));
    p->pred = malloc(total * sizeof(int));
    p->split = calloc(total, sizeof(int));
    p->file = calloc(total, sizeof(int));
    p->files = calloc(1, sizeof(char *));
    if (!p->label || !p->pred || !p->split || !p->file || !p->files ||
        !(p->files[0] = strdup(r->path))) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    p->n_files = 1;
    for (t = 0; t < k; t++)
        for (q = 0; q < k; q++)
            for (i = 0; i < counts[(size_t)t * k + q]; i++) {
                p->label[p->n_rows] = t;
                p->pred[p->n_rows] = q;
                p->n_rows++;
            }
    p->cap = p->n_rows;
done:
    free(counts);
    return ret;
}

int rvt_predictions_read_confusion(struct rvt_predictions *p, const char *path,
                                   struct rvt_error *err)
{
    struct cm_rows r = {0};
    int ret;

    assert(p->n_files == 0 && p->n_rows == 0);
    r.path = path;
    ret = rvt_csv_read(path, keep_row, &r, err);
    if (ret >= 0)
        ret = expand(p, &r, err);
    cm_rows_release(&r);
    if (ret < 0)
        rvt_predictions_release(p);
    return ret < 0 ? ret : 0;
}
