/*
 * h5io_internal.h: what the HDF5 files of lib/store share (private, rvti_).
 *
 * Every HDF5 call of the library goes through lib/store, on the thread that owns
 * the writer or reader: Debian's libhdf5 is built without thread safety.
 */
#ifndef RVT_STORE_H5IO_INTERNAL_H
#define RVT_STORE_H5IO_INTERNAL_H

#include <hdf5.h>

#include "core/common.h"
#include "store/store.h"

/* Switches HDF5's automatic error printing off (once, idempotent). */
void rvti_h5_init(void);

/*
 * Formats the message, appends ": REASON" with HDF5's innermost error text (an
 * errno message when HDF5 recorded one), clears the HDF5 error stack and
 * returns code.  Call it right after the failing HDF5 call.
 */
int rvti_h5_fail(struct rvt_error *err, int code, const char *fmt, ...) RVT_PRINTF(3, 4);
/* Clears the HDF5 error stack (after an expected failure). */
void rvti_h5_clear(void);

/*
 * Caps HDF5's metadata cache of a file at 4 MiB (default: adaptive up to
 * 32 MiB), so that memory stays flat however many chunks a store indexes.
 */
int rvti_h5_small_cache(hid_t fapl);

/* A new type handle (caller closes): the file type of dtype (little-endian;
 * STR: NUL-padded of strsize - 1 bytes) or the native memory type (STR:
 * NUL-terminated of strsize bytes). */
hid_t rvti_h5_file_type(enum rvt_dtype t, size_t strsize);
hid_t rvti_h5_mem_type(enum rvt_dtype t, size_t strsize);

/* Clips per chunk of a field of clip_bytes bytes a clip. */
hsize_t rvti_chunk_clips(size_t clip_bytes);

/* Element size HDF5's shuffle filter uses for a field: its file type's size
 * (STR: dims[0] - 1). */
size_t rvti_shuffle_size(const struct rvt_store_field *f);

#endif
