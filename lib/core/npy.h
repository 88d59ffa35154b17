/*
 * npy.h: the one .npy codec of the project (NumPy format 1.0, little-endian,
 * C order), for extract-mel --npy / --dump-stages and the tests' fixtures.
 *
 *   size_t shape[2] = {64, 300};
 *   rvt_npy_write("a.npy", RVT_NPY_F4, mel, 2, shape, RVT_NPY_SYNC, &err);  // atomic
 *
 *   struct rvt_npy a;
 *   if (rvt_npy_read("a.npy", &a, &err) == 0) { ... a.shape[0], (float *)a.data ... }
 *   rvt_npy_release(&a);
 *
 * The header is NumPy's own spelling ("{'descr': '<f4', 'fortran_order': False,
 * 'shape': (64, 300), }", padded with spaces to a multiple of 64 bytes, ending in a
 * newline), so np.save of the same array gives the same bytes.  The reader takes
 * format 1.0 and 2.0 files of dtype <f4, <f8 or |u1 (and <i4), C order, rank <=
 * RVT_NPY_MAX_RANK; the data must fill the rest of the file exactly (the file size
 * caps the allocation).
 */
#ifndef RVT_CORE_NPY_H
#define RVT_CORE_NPY_H

#include "core/common.h"

#define RVT_NPY_MAX_RANK 8

enum rvt_npy_dtype {
    RVT_NPY_F4 = 0, /* '<f4' float32 */
    RVT_NPY_F8 = 1, /* '<f8' float64 */
    RVT_NPY_U1 = 2, /* '|u1' uint8 */
    RVT_NPY_I4 = 3, /* '<i4' int32 */
};

enum rvt_npy_flags {
    RVT_NPY_SYNC = 0,   /* fsync the file and its folder (rvt_atomic_commit) */
    RVT_NPY_NOSYNC = 1, /* for many small files the caller syncs at once (syncfs) */
};

struct rvt_npy {
    enum rvt_npy_dtype dtype;
    int rank;
    size_t shape[RVT_NPY_MAX_RANK];
    size_t n;   /* elements: the product of shape */
    void *data; /* owned: n elements */
};

size_t rvt_npy_dtype_size(enum rvt_npy_dtype t);
/* Writes an array atomically (core/atomic.h); rank 0-RVT_NPY_MAX_RANK. */
int rvt_npy_write(const char *path, enum rvt_npy_dtype dtype, const void *data, int rank,
                  const size_t *shape, int flags, struct rvt_error *err);
int rvt_npy_read(const char *path, struct rvt_npy *a, struct rvt_error *err);
void rvt_npy_release(struct rvt_npy *a);

#endif
