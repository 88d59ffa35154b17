/*
 * internal.h: shared between the files of lib/ravdess, not a public API.
 */
#ifndef RVT_RAVDESS_INTERNAL_H
#define RVT_RAVDESS_INTERNAL_H

#include "ravdess/ravdess.h"

/*
 * The grammar without message decoration: writes the bare reason ("emotion '09'
 * is not 01-08") into reason[n] and returns RVT_EFORMAT, or 0.  base is the file
 * name; folder is the name of the folder holding it (NULL = no folder check).
 */
int rvti_ravdess_parse(const char *base, const char *folder, struct rvt_ravdess_name *out,
                       char *reason, size_t n);

#endif
