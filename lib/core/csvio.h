/*
 * csvio.h: CSV in and out through libcsv.
 *
 * Writing: rvt_csv_put() writes one field, quoted (by libcsv) only when it must
 * be: it holds a comma, quote, CR/LF, or leading/trailing space or tab (which
 * libcsv trims when reading).  Callers write the commas and the "\n" that ends
 * a row.
 *
 * Reading: rvt_csv_read() parses a whole file strictly (RFC 4180, libcsv
 * CSV_STRICT) and calls row() once per record with its fields and its 1-based
 * line number; row 1 is the header.  A row callback that returns < 0 stops the
 * read and that code is returned.  Caps: RVT_CSV_MAX_FIELDS fields per row and
 * RVT_CSV_MAX_FIELD bytes per field; a field holding a NUL byte is an error.
 */
#ifndef RVT_CORE_CSVIO_H
#define RVT_CORE_CSVIO_H

#include <stdio.h>

#include "core/common.h"

#define RVT_CSV_MAX_FIELDS 256
#define RVT_CSV_MAX_FIELD 4096

void rvt_csv_put(FILE *fp, const char *s);
/* A float that reads back to the same double: shortest of %.15g/%.16g/%.17g. */
void rvt_csv_put_double(FILE *fp, double v);
void rvt_format_double(char *buf, size_t n, double v);

typedef int (*rvt_csv_row_fn)(void *ctx, size_t line, int n_fields, char **fields,
                              struct rvt_error *err);

/* path "-" reads stdin. */
int rvt_csv_read(const char *path, rvt_csv_row_fn row, void *ctx, struct rvt_error *err);

/* Index of name in a header row, or -1. */
int rvt_csv_column(int n_fields, char **fields, const char *name);

#endif
