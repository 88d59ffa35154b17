#include "core/common.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store/h5io_internal.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    /*
     * No atexit H5close: when a write fails (a full disk), H5Fclose fails too and
     * leaves the file half-closed; HDF5 1.10's exit handler then crashes closing
     * it again (after we removed the temporary).  Every file of ours is closed
     * explicitly, so the handler has nothing to flush.  Only effective when this
     * is the process's first HDF5 call, which it is for the tools.
     */
    H5dont_atexit();
    /* errors come back through rvt_error; HDF5 must not print its stack */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void rvti_h5_init(void)
{
    pthread_once(&g_once, init_once);
}

void rvti_h5_clear(void)
{
    H5Eclear2(H5E_DEFAULT);
}

struct walk {
    char desc[512];
    bool found;
};

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    struct walk *w = data;
    /* H5E_WALK_UPWARD: n == 0 is where the error was detected, the most specific */
    if (!w->found && e->desc && e->desc[0]) {
        snprintf(w->desc, sizeof(w->desc), "%s", e->desc);
        w->found = true;
    }
    return 0;
}

/* Turns HDF5's innermost description into a short reason. */
static void reason_of(const char *desc, char *out, size_t n)
{
    const char *em = strstr(desc, "error message = '");
    if (em) {
        const char *s = em + strlen("error message = '");
        const char *q = strchr(s, '\'');
        size_t len = q ? (size_t)(q - s) : strlen(s);
        snprintf(out, n, "%.*s", (int)len, s);
    } else if (strstr(desc, "signature not found")) {
        snprintf(out, n, "not an HDF5 file (%s)", desc);
    } else if (strstr(desc, "truncated file")) {
        snprintf(out, n, "truncated HDF5 file (%s)", desc);
    } else if (desc[0]) {
        snprintf(out, n, "%s", desc);
    } else {
        snprintf(out, n, "HDF5 error");
    }
}

int rvti_h5_fail(struct rvt_error *err, int code, const char *fmt, ...)
{
    struct walk w;
    char what[512], why[512];
    va_list ap;

    memset(&w, 0, sizeof(w));
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    reason_of(w.desc, why, sizeof(why));
    return rvt_error_set(err, code, "%s: %s", what, why);
}

int rvti_h5_small_cache(hid_t fapl)
{
    H5AC_cache_config_t c;
    memset(&c, 0, sizeof(c));
    c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    if (H5Pget_mdc_config(fapl, &c) < 0)
        return -1;
    c.set_initial_size = 1;
    c.initial_size = 1 << 20;
    c.min_size = 1 << 20;
    c.max_size = 4 << 20;
    return H5Pset_mdc_config(fapl, &c) < 0 ? -1 : 0;
}

hid_t rvti_h5_file_type(enum rvt_dtype t, size_t strsize)
{
    hid_t s;
    switch (t) {
    case RVT_DTYPE_U8: return H5Tcopy(H5T_STD_U8LE);
    case RVT_DTYPE_I32: return H5Tcopy(H5T_STD_I32LE);
    case RVT_DTYPE_I64: return H5Tcopy(H5T_STD_I64LE);
    case RVT_DTYPE_F32: return H5Tcopy(H5T_IEEE_F32LE);
    case RVT_DTYPE_F64: return H5Tcopy(H5T_IEEE_F64LE);
    case RVT_DTYPE_STR:
        s = H5Tcopy(H5T_C_S1);
        if (s < 0)
            return s;
        if (H5Tset_size(s, strsize - 1) < 0 || H5Tset_strpad(s, H5T_STR_NULLPAD) < 0 ||
            H5Tset_cset(s, H5T_CSET_ASCII) < 0) {
            H5Tclose(s);
            return -1;
        }
        return s;
    }
    return -1;
}

hid_t rvti_h5_mem_type(enum rvt_dtype t, size_t strsize)
{
    hid_t s;
    switch (t) {
    case RVT_DTYPE_U8: return H5Tcopy(H5T_NATIVE_UINT8);
    case RVT_DTYPE_I32: return H5Tcopy(H5T_NATIVE_INT32);
    case RVT_DTYPE_I64: return H5Tcopy(H5T_NATIVE_INT64);
    case RVT_DTYPE_F32: return H5Tcopy(H5T_NATIVE_FLOAT);
    case RVT_DTYPE_F64: return H5Tcopy(H5T_NATIVE_DOUBLE);
    case RVT_DTYPE_STR:
        s = H5Tcopy(H5T_C_S1);
        if (s < 0)
            return s;
        if (H5Tset_size(s, strsize) < 0 || H5Tset_strpad(s, H5T_STR_NULLTERM) < 0) {
            H5Tclose(s);
            return -1;
        }
        return s;
    }
    return -1;
}

hsize_t rvti_chunk_clips(size_t clip_bytes)
{
    hsize_t c = 1;
    if (clip_bytes >= RVT_STORE_CHUNK_MIN)
        return 1;
    /* largest power of two with c * clip_bytes <= 64 KiB, at most 4096 */
    while (c < 4096 && (c * 2) * clip_bytes <= 65536)
        c *= 2;
    return c;
}

size_t rvti_shuffle_size(const struct rvt_store_field *f)
{
    return f->dtype == RVT_DTYPE_STR ? (size_t)f->dims[0] - 1 : rvt_dtype_size(f->dtype);
}

size_t rvt_dtype_size(enum rvt_dtype t)
{
    switch (t) {
    case RVT_DTYPE_U8: return 1;
    case RVT_DTYPE_I32: return 4;
    case RVT_DTYPE_I64: return 8;
    case RVT_DTYPE_F32: return 4;
    case RVT_DTYPE_F64: return 8;
    case RVT_DTYPE_STR: return 1;
    }
    return 0;
}

const char *rvt_dtype_name(enum rvt_dtype t)
{
    switch (t) {
    case RVT_DTYPE_U8: return "u8";
    case RVT_DTYPE_I32: return "i32";
    case RVT_DTYPE_I64: return "i64";
    case RVT_DTYPE_F32: return "f32";
    case RVT_DTYPE_F64: return "f64";
    case RVT_DTYPE_STR: return "str";
    }
    return "?";
}

size_t rvt_store_field_bytes(const struct rvt_store_field *f)
{
    size_t n = rvt_dtype_size(f->dtype);
    int k;
    if (f->dtype == RVT_DTYPE_STR)
        return (size_t)f->dims[0];
    for (k = 0; k < f->rank; k++)
        n *= (size_t)f->dims[k];
    return n;
}

void rvt_store_hdf5_version(char *buf, size_t size)
{
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(buf, size, "HDF5 %u.%u.%u", maj, min, rel);
}
