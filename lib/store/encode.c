/*
 * encode.c: HDF5's shuffle + deflate filter pipeline for one chunk, without
 * HDF5, so that chunks can be compressed on worker threads and written with
 * H5Dwrite_chunk on the I/O thread.
 *
 * ref: HDF5 1.10 src/H5Zshuffle.c (byte k of element i goes to k * n_elems + i;
 * the bytes past the last whole element are copied as they are) and
 * src/H5Zdeflate.c (zlib compress2 at the dataset's level into a
 * compressBound-sized buffer).  Equal input gives the bytes HDF5 would store.
 */
#include "core/common.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "store/h5io_internal.h"
#include "store/store.h"

void rvt_store_chunk_release(struct rvt_store_chunk *c)
{
    free(c->data);
    memset(c, 0, sizeof(*c));
}

size_t rvt_store_encode_scratch(const struct rvt_store_field *f)
{
    return rvt_store_field_bytes(f);
}

static void shuffle_ref(unsigned char *dst, const unsigned char *src, size_t nbytes, size_t size)
{
    size_t n_elems = nbytes / size, i, k;
    for (k = 0; k < size; k++) {
        unsigned char *d = dst + k * n_elems;
        const unsigned char *s = src + k;
        for (i = 0; i < n_elems; i++)
            d[i] = s[i * size];
    }
    memcpy(dst + n_elems * size, src + n_elems * size, nbytes - n_elems * size);
}

static void unshuffle_ref(unsigned char *dst, const unsigned char *src, size_t nbytes, size_t size)
{
    size_t n_elems = nbytes / size, i, k;
    for (k = 0; k < size; k++) {
        const unsigned char *s = src + k * n_elems;
        unsigned char *d = dst + k;
        for (i = 0; i < n_elems; i++)
            d[i * size] = s[i];
    }
    memcpy(dst + n_elems * size, src + n_elems * size, nbytes - n_elems * size);
}

static int reserve(struct rvt_store_chunk *c, size_t n, struct rvt_error *err)
{
    void *p;
    if (c->cap >= n)
        return 0;
    p = realloc(c->data, n);
    if (!p)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    c->data = p;
    c->cap = n;
    return 0;
}

int rvt_store_encode(const struct rvt_store_field *f, int level, const void *clip,
                     void *scratch, struct rvt_store_chunk *out, struct rvt_error *err)
{
    size_t nbytes = rvt_store_field_bytes(f), esize = rvti_shuffle_size(f);
    const unsigned char *src = clip;
    uLongf zlen;
    int ret = 0, z;

    if (f->dtype == RVT_DTYPE_STR)
        return rvt_error_set(err, RVT_EUNSUPPORTED, "field '%s': string fields are not pre-encoded",
                             f->name);
    out->filter_mask = 0;
    if (level <= 0) {
        if ((ret = reserve(out, nbytes, err)) < 0)
            return ret;
        memcpy(out->data, clip, nbytes);
        out->size = nbytes;
        return 0;
    }
    if (esize > 1) {
        shuffle_ref(scratch, src, nbytes, esize);
        src = scratch;
    }
    zlen = compressBound((uLong)nbytes);
    if ((ret = reserve(out, zlen, err)) < 0)
        return ret;
    z = compress2(out->data, &zlen, src, (uLong)nbytes, level);
    if (z != Z_OK)
        return rvt_error_set(err, z == Z_MEM_ERROR ? RVT_ENOMEM : RVT_EINVAL,
                             "field '%s': deflate failed: %s", f->name, zError(z));
    out->size = zlen;
    return 0;
}

int rvt_store_decode(const struct rvt_store_field *f, int level, const struct rvt_store_chunk *in,
                     void *dst, void *scratch, struct rvt_error *err)
{
    size_t nbytes = rvt_store_field_bytes(f), esize = rvti_shuffle_size(f);
    const unsigned char *src = in->data;
    size_t have = in->size;
    bool shuffled = level > 0 && esize > 1 && !(in->filter_mask & 1u);
    bool deflated = level > 0 && !(in->filter_mask & 2u);

    if (f->dtype == RVT_DTYPE_STR)
        return rvt_error_set(err, RVT_EUNSUPPORTED, "field '%s': string fields are not pre-encoded",
                             f->name);
    if (deflated) {
        uLongf zlen = (uLongf)nbytes;
        int z = uncompress(shuffled ? scratch : dst, &zlen, src, (uLong)have);
        if (z != Z_OK || zlen != nbytes)
            return rvt_error_set(err, z == Z_MEM_ERROR ? RVT_ENOMEM : RVT_EFORMAT,
                                 "field '%s': corrupt deflate chunk (%s)", f->name,
                                 z == Z_OK ? "wrong size" : zError(z));
        src = shuffled ? scratch : dst;
        have = nbytes;
    }
    if (have != nbytes)
        return rvt_error_set(err, RVT_EFORMAT, "field '%s': chunk of %zu bytes, want %zu", f->name,
                             have, nbytes);
    if (shuffled)
        unshuffle_ref(dst, src, nbytes, esize);
    else if (src != dst)
        memcpy(dst, src, nbytes);
    return 0;
}
