/* checkpoint_internal.h: what checkpoint_read.c and checkpoint_write.c share. */
#ifndef RVT_STORE_CHECKPOINT_INTERNAL_H
#define RVT_STORE_CHECKPOINT_INTERNAL_H

#include <hdf5.h>

#include "store/checkpoint.h"

/* The reader's open HDF5 file (owned by the reader). */
hid_t rvti_ckpt_file(const struct rvt_ckpt *c);

#endif
