#include "core/common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csvio.h"
#include "eval/predictions.h"

/* Ids seen in the file being read, for the duplicate check (open addressing). */
struct id_set {
    char **ids;    /* owned strings */
    size_t *lines; /* line of each id's first row */
    size_t cap, n;
};

/* State of one rvt_predictions_read call. */
struct reader {
    struct rvt_predictions *p;
    const char *path;
    int n_fields;               /* of the header */
    int col_id, col_split, col_label, col_pred;
    int col_prob[RVT_CSV_MAX_FIELDS]; /* column of class c */
    int n_prob;
    bool first_file;
    struct id_set seen;
};

void rvt_predictions_init(struct rvt_predictions *p)
{
    memset(p, 0, sizeof(*p));
}

static void free_strings(char **v, int from, int to)
{
    int i;
    for (i = from; i < to; i++)
        free(v[i]);
}

void rvt_predictions_release(struct rvt_predictions *p)
{
    if (p->classes)
        free_strings(p->classes, 0, p->n_classes);
    if (p->splits)
        free_strings(p->splits, 0, p->n_splits);
    if (p->files)
        free_strings(p->files, 0, p->n_files);
    free(p->classes);
    free(p->splits);
    free(p->files);
    free(p->label);
    free(p->pred);
    free(p->split);
    free(p->file);
    free(p->prob);
    rvt_predictions_init(p);
}

int rvt_predictions_class(const struct rvt_predictions *p, const char *name)
{
    int i;
    for (i = 0; i < p->n_classes; i++)
        if (!strcmp(p->classes[i], name))
            return i;
    return -1;
}

int rvt_predictions_split(const struct rvt_predictions *p, const char *name)
{
    int i;
    for (i = 0; i < p->n_splits; i++)
        if (!strcmp(p->splits[i], name))
            return i;
    return -1;
}

/* ---- id set ------------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return h;
}

static void id_set_release(struct id_set *s)
{
    size_t i;
    for (i = 0; i < s->cap; i++)
        free(s->ids[i]);
    free(s->ids);
    free(s->lines);
    memset(s, 0, sizeof(*s));
}

static int id_set_grow(struct id_set *s)
{
    size_t cap = s->cap ? 2 * s->cap : 1024, i;
    char **ids = calloc(cap, sizeof(*ids));
    size_t *lines = calloc(cap, sizeof(*lines));
    if (!ids || !lines) {
        free(ids);
        free(lines);
        return RVT_ENOMEM;
    }
    for (i = 0; i < s->cap; i++)
        if (s->ids[i]) {
            size_t h = (size_t)fnv1a(s->ids[i]) & (cap - 1);
            while (ids[h])
                h = (h + 1) & (cap - 1);
            ids[h] = s->ids[i];
            lines[h] = s->lines[i];
        }
    free(s->ids);
    free(s->lines);
    s->ids = ids;
    s->lines = lines;
    s->cap = cap;
    return 0;
}

/* Adds id; returns 0, or the line of the earlier row with this id, or RVT_ENOMEM. */
static long id_set_add(struct id_set *s, const char *id, size_t line)
{
    size_t h;
    if (2 * (s->n + 1) > s->cap && id_set_grow(s) < 0)
        return RVT_ENOMEM;
    h = (size_t)fnv1a(id) & (s->cap - 1);
    for (; s->ids[h]; h = (h + 1) & (s->cap - 1))
        if (!strcmp(s->ids[h], id))
            return (long)s->lines[h];
    s->ids[h] = strdup(id);
    if (!s->ids[h])
        return RVT_ENOMEM;
    s->lines[h] = line;
    s->n++;
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

static int grow_rows(struct rvt_predictions *p, struct rvt_error *err)
{
    size_t cap = p->cap ? 2 * p->cap : 256, k = (size_t)p->n_classes;
    int *label, *pred, *split, *file;
    double *prob;

    if (cap > RVT_PRED_MAX_ROWS)
        cap = RVT_PRED_MAX_ROWS;
    /* each realloc keeps its old block on failure, so nothing leaks */
    label = realloc(p->label, cap * sizeof(*label));
    if (label)
        p->label = label;
    pred = realloc(p->pred, cap * sizeof(*pred));
    if (pred)
        p->pred = pred;
    split = realloc(p->split, cap * sizeof(*split));
    if (split)
        p->split = split;
    file = realloc(p->file, cap * sizeof(*file));
    if (file)
        p->file = file;
    prob = realloc(p->prob, cap * k * sizeof(*prob));
    if (prob)
        p->prob = prob;
    if (!label || !pred || !split || !file || !prob)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    p->cap = cap;
    return 0;
}

static int header(struct reader *r, size_t line, int n, char **f, struct rvt_error *err)
{
    struct rvt_predictions *p = r->p;
    int i, *cols[4] = {&r->col_id, &r->col_split, &r->col_label, &r->col_pred};
    static const char *const names[4] = {"id", "split", "label", "pred"};
    char **classes = NULL;
    int ret = 0;

    r->n_fields = n;
    for (i = 0; i < 4; i++)
        *cols[i] = -1;
    for (i = 0; i < n; i++) {
        int j, known = 0;
        for (j = 0; j < 4; j++)
            if (!strcmp(f[i], names[j])) {
                if (*cols[j] >= 0)
                    return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: column '%s' twice",
                                         r->path, line, f[i]);
                *cols[j] = i;
                known = 1;
            }
        if (known)
            continue;
        if (strncmp(f[i], "p_", 2) != 0 || !f[i][2])
            return rvt_error_set(err, RVT_EFORMAT,
                                 "'%s': line %zu: unexpected column '%s' (want id, split, label, "
                                 "pred and p_<class> columns)",
                                 r->path, line, f[i]);
        for (j = 0; j < r->n_prob; j++)
            if (!strcmp(f[r->col_prob[j]], f[i]))
                return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: column '%s' twice",
                                     r->path, line, f[i]);
        r->col_prob[r->n_prob++] = i;
    }
    for (i = 0; i < 4; i++)
        if (*cols[i] < 0)
            return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: no '%s' column", r->path,
                                 line, names[i]);
    if (r->n_prob < 2)
        return rvt_error_set(err, RVT_EFORMAT,
                             "'%s': line %zu: need at least two p_<class> columns, found %d",
                             r->path, line, r->n_prob);
    if (!r->first_file) {
        if (r->n_prob != p->n_classes)
            return rvt_error_set(err, RVT_EMISMATCH,
                                 "'%s': line %zu: %d classes where '%s' has %d", r->path, line,
                                 r->n_prob, p->files[0], p->n_classes);
        for (i = 0; i < r->n_prob; i++)
            if (strcmp(f[r->col_prob[i]] + 2, p->classes[i]))
                return rvt_error_set(err, RVT_EMISMATCH,
                                     "'%s': line %zu: class %d is '%s' where '%s' has '%s'",
                                     r->path, line, i + 1, f[r->col_prob[i]] + 2, p->files[0],
                                     p->classes[i]);
        return 0;
    }
    classes = calloc((size_t)r->n_prob, sizeof(*classes));
    if (!classes)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    for (i = 0; i < r->n_prob; i++)
        if (!(classes[i] = strdup(f[r->col_prob[i]] + 2))) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            free_strings(classes, 0, i);
            free(classes);
            return ret;
        }
    p->classes = classes;
    p->n_classes = r->n_prob;
    return 0;
}

static int parse_prob(const char *s, double *out)
{
    char *end;
    double v;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (*end || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int row(void *ctx, size_t line, int n, char **f, struct rvt_error *err)
{
    struct reader *r = ctx;
    struct rvt_predictions *p = r->p;
    size_t k, at;
    int c, lab, prd, spl;
    double sum = 0;
    long dup;

    /* the first record, not line 1: records ended by a lone CR all start on line 1 */
    if (r->n_fields < 0)
        return header(r, line, n, f, err);
    if (n != r->n_fields)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: %d fields, the header has %d",
                             r->path, line, n, r->n_fields);
    if (!f[r->col_id][0])
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: empty id", r->path, line);
    if (!f[r->col_split][0])
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: empty split", r->path, line);
    if (!strcmp(f[r->col_split], "all"))
        return rvt_error_set(err, RVT_EFORMAT,
                             "'%s': line %zu: split 'all' is reserved for all clips together",
                             r->path, line);
    lab = rvt_predictions_class(p, f[r->col_label]);
    if (lab < 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: unknown class '%s' in column label",
                             r->path, line, f[r->col_label]);
    prd = rvt_predictions_class(p, f[r->col_pred]);
    if (prd < 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: unknown class '%s' in column pred",
                             r->path, line, f[r->col_pred]);
    if (p->n_rows >= RVT_PRED_MAX_ROWS)
        return rvt_error_set(err, RVT_ELIMIT, "'%s': line %zu: more than %zu predictions", r->path,
                             line, RVT_PRED_MAX_ROWS);
    dup = id_set_add(&r->seen, f[r->col_id], line);
    if (dup == RVT_ENOMEM)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if (dup > 0)
        return rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: duplicate id '%s' (first on line %ld)",
                             r->path, line, f[r->col_id], dup);
    if (p->n_rows == p->cap && grow_rows(p, err) < 0)
        return err ? err->code : RVT_ENOMEM;
    k = (size_t)p->n_classes;
    at = p->n_rows;
    for (c = 0; c < p->n_classes; c++) {
        const char *s = f[r->col_prob[c]];
        if (parse_prob(s, &p->prob[at * k + c]) < 0)
            return rvt_error_set(err, RVT_EFORMAT,
                                 "'%s': line %zu: p_%s is '%s', not a probability", r->path,
                                 line, p->classes[c], s);
        sum += p->prob[at * k + c];
    }
    if (!(fabs(sum - 1.0) <= RVT_PRED_SUM_TOL))
        return rvt_error_set(err, RVT_EFORMAT,
                             "'%s': line %zu: probabilities sum to %.8g, not 1 (+-%g)", r->path,
                             line, sum, RVT_PRED_SUM_TOL);
    spl = rvt_predictions_split(p, f[r->col_split]);
    if (spl < 0) {
        char **v;
        if (p->n_splits >= RVT_PRED_MAX_SPLITS)
            return rvt_error_set(err, RVT_ELIMIT, "'%s': line %zu: more than %d split names",
                                 r->path, line, RVT_PRED_MAX_SPLITS);
        v = realloc(p->splits, (size_t)(p->n_splits + 1) * sizeof(*v));
        if (!v)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        p->splits = v;
        if (!(v[p->n_splits] = strdup(f[r->col_split])))
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        spl = p->n_splits++;
    }
    p->label[at] = lab;
    p->pred[at] = prd;
    p->split[at] = spl;
    p->file[at] = p->n_files;
    p->n_rows++;
    return 0;
}

int rvt_predictions_read(struct rvt_predictions *p, const char *path, struct rvt_error *err)
{
    struct reader r;
    size_t rows_before = p->n_rows;
    int splits_before = p->n_splits, ret;
    char **files;

    memset(&r, 0, sizeof(r));
    r.p = p;
    r.path = path;
    r.first_file = p->n_classes == 0;
    r.n_fields = -1;
    if (p->n_files >= RVT_PRED_MAX_FILES)
        return rvt_error_set(err, RVT_ELIMIT, "more than %d predictions files", RVT_PRED_MAX_FILES);
    files = realloc(p->files, (size_t)(p->n_files + 1) * sizeof(*files));
    if (!files)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    p->files = files;
    if (!(files[p->n_files] = strdup(path)))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    ret = rvt_csv_read(path, row, &r, err);
    if (ret >= 0 && r.n_fields < 0)
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': empty file, no header", path);
    else if (ret >= 0 && p->n_rows == rows_before)
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': no predictions after the header", path);
    id_set_release(&r.seen);
    if (ret < 0) {
        /* back to the state before this file */
        free(files[p->n_files]);
        free_strings(p->splits, splits_before, p->n_splits);
        p->n_splits = splits_before;
        p->n_rows = rows_before;
        if (r.first_file && p->classes) {
            free_strings(p->classes, 0, p->n_classes);
            free(p->classes);
            p->classes = NULL;
            p->n_classes = 0;
            /* the row arrays were sized for this file's class count */
            free(p->prob);
            p->prob = NULL;
            p->cap = 0;
            free(p->label);
            free(p->pred);
            free(p->split);
            free(p->file);
            p->label = p->pred = p->split = p->file = NULL;
        }
        return ret;
    }
    p->n_files++;
    return 0;
}

/* ---- writing ---- */

void rvt_predictions_write_header(FILE *fp, const char *const *classes, int n_classes,
                                  bool logits)
{
    char col[512];
    int c;
    fputs(logits ? "id" : "id,split,label,pred", fp);
    for (c = 0; c < n_classes; c++) {
        snprintf(col, sizeof(col), "%s%s", logits ? "logit_" : "p_", classes[c]);
        fputc(',', fp);
        rvt_csv_put(fp, col);
    }
    fputc('\n', fp);
}

int rvt_predictions_softmax(const float *l, int n_classes, double *p)
{
    double mx, sum = 0;
    int best = 0, c;
    for (c = 1; c < n_classes; c++)
        if (l[c] > l[best])
            best = c;
    mx = l[best];
    for (c = 0; c < n_classes; c++) {
        p[c] = exp((double)l[c] - mx);
        sum += p[c];
    }
    for (c = 0; c < n_classes; c++)
        p[c] /= sum;
    return best;
}

void rvt_predictions_write_row(FILE *fp, const char *id, const char *split,
                               const char *const *classes, int label, const float *logits,
                               int n_classes)
{
    double p[1024];
    int best, c;
    assert(n_classes <= 1024);
    best = rvt_predictions_softmax(logits, n_classes, p);
    rvt_csv_put(fp, id);
    fputc(',', fp);
    rvt_csv_put(fp, split);
    fputc(',', fp);
    rvt_csv_put(fp, classes[label]);
    fputc(',', fp);
    rvt_csv_put(fp, classes[best]);
    for (c = 0; c < n_classes; c++) {
        fputc(',', fp);
        rvt_csv_put_double(fp, p[c]);
    }
    fputc('\n', fp);
}

void rvt_predictions_write_logits(FILE *fp, const char *id, const float *logits, int n_classes)
{
    int c;
    rvt_csv_put(fp, id);
    for (c = 0; c < n_classes; c++) {
        fputc(',', fp);
        rvt_csv_put_double(fp, (double)logits[c]);
    }
    fputc('\n', fp);
}
