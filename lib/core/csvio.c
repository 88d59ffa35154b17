#include "core/common.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csvio.h"
#include "core/inputs.h"

void rvt_csv_put(FILE *fp, const char *s)
{
    size_t n = strlen(s);
    /* libcsv trims unquoted leading/trailing spaces and tabs on reading */
    if (n && !strpbrk(s, ",\"\r\n") && !strchr(" \t", s[0]) && !strchr(" \t", s[n - 1]))
        fwrite(s, 1, n, fp);
    else if (n)
        csv_fwrite(fp, s, n);
}

void rvt_format_double(char *buf, size_t n, double v)
{
    int prec;
    for (prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

void rvt_csv_put_double(FILE *fp, double v)
{
    char buf[40];
    rvt_format_double(buf, sizeof(buf), v);
    fputs(buf, fp);
}

struct reader {
    char *fields[RVT_CSV_MAX_FIELDS];
    int n_fields;
    size_t line, record_line;
    bool too_many, too_long, nul;
    rvt_csv_row_fn row;
    void *ctx;
    struct rvt_error *err;
    const char *path;
    int ret;
};

static void on_field(void *data, size_t len, void *p)
{
    struct reader *r = p;
    char *s;
    if (r->ret < 0)
        return;
    if (r->n_fields >= RVT_CSV_MAX_FIELDS) {
        r->too_many = true;
        return;
    }
    if (len >= RVT_CSV_MAX_FIELD) {
        r->too_long = true;
        return;
    }
    if (memchr(data, '\0', len)) {
        r->nul = true; /* the C strings the rows get would drop what follows */
        return;
    }
    s = malloc(len + 1);
    if (!s) {
        r->ret = rvt_error_set(r->err, RVT_ENOMEM, "out of memory");
        return;
    }
    memcpy(s, data, len);
    s[len] = '\0';
    r->fields[r->n_fields++] = s;
}

static void clear_fields(struct reader *r)
{
    int i;
    for (i = 0; i < r->n_fields; i++)
        free(r->fields[i]);
    r->n_fields = 0;
}

static void on_record(int c, void *p)
{
    struct reader *r = p;
    (void)c;
    if (r->ret >= 0) {
        if (r->too_many)
            r->ret = rvt_error_set(r->err, RVT_ELIMIT, "'%s': line %zu: more than %d fields",
                                   r->path, r->record_line, RVT_CSV_MAX_FIELDS);
        else if (r->too_long)
            r->ret = rvt_error_set(r->err, RVT_ELIMIT, "'%s': line %zu: field longer than %d bytes",
                                   r->path, r->record_line, RVT_CSV_MAX_FIELD);
        else if (r->nul)
            r->ret = rvt_error_set(r->err, RVT_EFORMAT, "'%s': line %zu: field holds a NUL byte",
                                   r->path, r->record_line);
        else
            r->ret = r->row(r->ctx, r->record_line, r->n_fields, r->fields, r->err);
    }
    clear_fields(r);
    r->too_many = r->too_long = r->nul = false;
}

int rvt_csv_read(const char *path, rvt_csv_row_fn row, void *ctx, struct rvt_error *err)
{
    struct csv_parser p;
    struct reader r;
    FILE *f;
    char buf[1 << 14];
    size_t n;
    int ret = rvt_input_check(path, err);

    if (ret < 0)
        return ret;
    f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return rvt_error_set(err, RVT_EIO, "cannot open '%s': %s", path, strerror(errno));
    memset(&r, 0, sizeof(r));
    r.row = row;
    r.ctx = ctx;
    r.err = err;
    r.path = path;
    r.line = r.record_line = 1;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        if (f != stdin)
            fclose(f);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    while (r.ret >= 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        /* feed line by line so the record's line number is known */
        size_t off = 0;
        while (off < n && r.ret >= 0) {
            char *nl = memchr(buf + off, '\n', n - off);
            size_t len = nl ? (size_t)(nl - (buf + off)) + 1 : n - off;
            if (csv_parse(&p, buf + off, len, on_field, on_record, &r) != len) {
                r.ret = rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: %s", path, r.line,
                                      csv_strerror(csv_error(&p)));
                break;
            }
            off += len;
            if (nl) {
                r.line++;
                /* a record in progress keeps its starting line */
                if (r.n_fields == 0)
                    r.record_line = r.line;
            }
        }
    }
    if (r.ret >= 0 && ferror(f))
        r.ret = rvt_error_set(err, RVT_EIO, "cannot read '%s': %s", path, strerror(errno));
    if (r.ret >= 0 && csv_fini(&p, on_field, on_record, &r) != 0)
        r.ret = rvt_error_set(err, RVT_EFORMAT, "'%s': line %zu: %s", path, r.line,
                              csv_strerror(csv_error(&p)));
    clear_fields(&r);
    csv_free(&p);
    if (f != stdin)
        fclose(f);
    return r.ret;
}

int rvt_csv_column(int n_fields, char **fields, const char *name)
{
    int i;
    for (i = 0; i < n_fields; i++)
        if (!strcmp(fields[i], name))
            return i;
    return -1;
}
