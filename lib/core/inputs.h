/*
 * inputs.h: the files a run reads, and the rule that no output may replace one.
 *
 * Every function of the library that opens an input file (index and predictions
 * CSV, config, stores, checkpoints, wavs and videos) first calls
 * rvt_input_check(path): it refuses what cannot be an input with its own message
 * and notes the file in a process-wide registry, keyed by device and inode (for a
 * symlink, the link's own entry too).  The atomic writer (atomic.h) asks
 * rvt_output_check(path) before it creates a temporary and again before it
 * renames it over the final name, so an output that is an input (by the same
 * name, "./x", a symlink or a hard link) is refused, never replaced.
 *
 *   if ((ret = rvt_input_check(path, err)) < 0) return ret;   // before fopen/H5Fopen
 *   ...
 *   if ((ret = rvt_output_check(out, err)) < 0) return ret;  // done by rvt_atomic_*
 *
 * Messages:
 *   cannot open 'x': No such file or directory      (and every other open errno)
 *   'x' is a directory
 *   'x' is not a regular file (a FIFO)               (device, socket, ...)
 *   output 'o' is the input 'x'
 *
 * "-" (stdin/stdout) is never checked nor noted.  Thread rule: every function
 * may be called from any thread (the registry has its own lock).  The registry
 * grows with the inputs of the run, capped at RVT_INPUTS_MAX entries.
 */
#ifndef RVT_CORE_INPUTS_H
#define RVT_CORE_INPUTS_H

#include "core/common.h"

#define RVT_INPUTS_MAX (1 << 20)

/* Can path be read as an input file?  Notes it on success. */
int rvt_input_check(const char *path, struct rvt_error *err);
/* Notes path as an input without checking its kind (e.g. a corpus folder). */
int rvt_input_note(const char *path, struct rvt_error *err);
/* Refuses an output that names a noted input: "output 'o' is the input 'x'". */
int rvt_output_check(const char *path, struct rvt_error *err);
/*
 * Do a and b name the same file: same device and inode, or the same directory
 * entry (same folder, same name; works for names that do not exist yet)?
 */
bool rvt_path_same(const char *a, const char *b);
/* Forgets every noted input (tests). */
void rvt_inputs_reset(void);

#endif
