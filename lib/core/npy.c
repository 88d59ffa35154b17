/* npy.c: NumPy .npy files (npy.h).  ref: numpy/lib/format.py (format 1.0 / 2.0). */
#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic.h"
#include "core/npy.h"

static const char *const descr[] = {"<f4", "<f8", "|u1", "<i4"};

size_t rvt_npy_dtype_size(enum rvt_npy_dtype t)
{
    static const size_t sz[] = {4, 8, 1, 4};
    return sz[t];
}

int rvt_npy_write(const char *path, enum rvt_npy_dtype dtype, const void *data, int rank,
                  const size_t *shape, int flags, struct rvt_error *err)
{
    struct rvt_atomic a;
    char hdr[512], dims[RVT_NPY_MAX_RANK * 24 + 4] = "";
    size_t len, total, n = 1, off = 0;
    int i, ret;

    assert(rank >= 0 && rank <= RVT_NPY_MAX_RANK);
    for (i = 0; i < rank; i++) {
        off += (size_t)snprintf(dims + off, sizeof(dims) - off, "%s%zu", i ? ", " : "", shape[i]);
        n *= shape[i];
    }
    if (rank == 1)
        snprintf(dims + off, sizeof(dims) - off, ",");
    len = (size_t)snprintf(hdr + 10, sizeof(hdr) - 10,
                           "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                           descr[dtype], dims);
    total = (10 + len + 1 + 63) / 64 * 64; /* padded to 64 bytes, ends in \n */
    memset(hdr + 10 + len, ' ', total - 10 - len - 1);
    hdr[total - 1] = '\n';
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)((total - 10) & 0xff);
    hdr[9] = (char)((total - 10) >> 8);
    if ((ret = rvt_atomic_open(&a, path, err)) < 0)
        return ret;
    if (fwrite(hdr, 1, total, a.fp) != total ||
        fwrite(data, rvt_npy_dtype_size(dtype), n, a.fp) != n) {
        ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", path, strerror(errno));
        rvt_atomic_abort(&a);
        return ret;
    }
    return flags & RVT_NPY_NOSYNC ? rvt_atomic_commit_nosync(&a, err) : rvt_atomic_commit(&a, err);
}

/* The value text after 'key': in a header dict, or NULL. */
static const char *dict_value(const char *hdr, const char *key)
{
    const char *p = strstr(hdr, key);
    if (!p)
        return NULL;
    p += strlen(key);
    while (*p == ' ' || *p == ':')
        p++;
    return p;
}

static int parse_header(const char *hdr, struct rvt_npy *a)
{
    const char *p = dict_value(hdr, "'descr'");
    size_t k;
    if (!p)
        return -1;
    for (k = 0; k < RVT_ARRAY_SIZE(descr); k++)
        if (p[0] == '\'' && !strncmp(p + 1, descr[k], 3) && p[4] == '\'')
            break;
    if (k == RVT_ARRAY_SIZE(descr))
        return -1;
    a->dtype = (enum rvt_npy_dtype)k;
    p = dict_value(hdr, "'fortran_order'");
    if (!p || strncmp(p, "False", 5))
        return -1;
    p = dict_value(hdr, "'shape'");
    if (!p || *p++ != '(')
        return -1;
    a->n = 1;
    for (;;) {
        char *e;
        unsigned long long v;
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        errno = 0;
        v = strtoull(p, &e, 10);
        if (e == p || errno || a->rank == RVT_NPY_MAX_RANK || (v && a->n > SIZE_MAX / v))
            return -1;
        a->shape[a->rank++] = (size_t)v;
        a->n *= (size_t)v;
        p = e;
    }
    return 0;
}

int rvt_npy_read(const char *path, struct rvt_npy *a, struct rvt_error *err)
{
    FILE *f;
    unsigned char pre[12];
    char *hdr = NULL;
    size_t hl, pl, es;
    struct stat st;
    int ret = 0;

    memset(a, 0, sizeof(*a));
    f = fopen(path, "rb");
    if (!f)
        return rvt_error_set(err, RVT_EIO, "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': not a regular file", path);
        goto done;
    }
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) || (pre[6] != 1 && pre[6] != 2)) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': not a .npy file of format 1.0 or 2.0", path);
        goto done;
    }
    if (pre[6] == 1) {
        hl = pre[8] | (size_t)pre[9] << 8;
        pl = 10;
    } else {
        if (fread(pre + 10, 1, 2, f) != 2) {
            ret = rvt_error_set(err, RVT_EFORMAT, "'%s': truncated header", path);
            goto done;
        }
        hl = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        pl = 12;
    }
    if (hl > 65536 || (off_t)(pl + hl) > st.st_size || !(hdr = malloc(hl + 1))) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': bad header length %zu", path, hl);
        goto done;
    }
    if (fread(hdr, 1, hl, f) != hl) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': truncated header", path);
        goto done;
    }
    hdr[hl] = '\0';
    if (parse_header(hdr, a) < 0) {
        ret = rvt_error_set(err, RVT_EUNSUPPORTED,
                            "'%s': not a C-order <f4, <f8, <i4 or |u1 array of rank <= %d", path,
                            RVT_NPY_MAX_RANK);
        goto done;
    }
    es = rvt_npy_dtype_size(a->dtype);
    if (a->n > SIZE_MAX / es || (uint64_t)st.st_size - pl - hl != (uint64_t)a->n * es) {
        ret = rvt_error_set(err, RVT_EFORMAT, "'%s': %llu data bytes, the header says %zu x %zu",
                            path, (unsigned long long)(st.st_size - (off_t)(pl + hl)), a->n, es);
        goto done;
    }
    a->data = malloc(a->n * es + 1);
    if (!a->data) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    if (fread(a->data, es, a->n, f) != a->n)
        ret = rvt_error_set(err, RVT_EIO, "cannot read '%s': %s", path,
                            ferror(f) ? strerror(errno) : "truncated");
done:
    if (ret < 0)
        rvt_npy_release(a);
    free(hdr);
    fclose(f);
    return ret;
}

void rvt_npy_release(struct rvt_npy *a)
{
    free(a->data);
    memset(a, 0, sizeof(*a));
}
