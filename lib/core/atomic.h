/*
 * atomic.h: output files that appear whole or not at all.
 *
 * rvt_atomic_open() creates "DIR/.NAME.tmp-XXXXXX" beside the final path; the
 * caller writes it (through a->fp, or by reopening a->tmp_path, e.g. with HDF5),
 * then rvt_atomic_commit() flushes, fsyncs, renames over the final name and fsyncs
 * the folder.  rvt_atomic_abort() removes the temporary.  Open temporaries are
 * also removed when the process gets SIGINT, SIGTERM, SIGHUP or SIGPIPE (the
 * handler then re-raises the signal).  SIGKILL cannot be caught: a killed writer
 * leaves a ".NAME.tmp-*" file but never a partial file under the final name.
 *
 * The path "-" means stdout (no temporary; commit just flushes).  An existing
 * path that is not a regular file or a folder (/dev/null, a FIFO) is written in
 * place, never renamed over.
 *
 *   struct rvt_atomic out;
 *   if (rvt_atomic_open(&out, path, &err) < 0) ...
 *   fprintf(out.fp, ...);
 *   ret = ok ? rvt_atomic_commit(&out, &err) : (rvt_atomic_abort(&out), ret);
 */
#ifndef RVT_CORE_ATOMIC_H
#define RVT_CORE_ATOMIC_H

#include <stdio.h>

#include "core/common.h"

#define RVT_ATOMIC_MAX_OPEN 64

struct rvt_atomic {
    char *final_path; /* owned */
    char *tmp_path;   /* owned; NULL for stdout */
    FILE *fp;         /* stdio stream on the temporary (or stdout) */
    int slot;         /* signal-cleanup registry slot, -1 if none */
};

int rvt_atomic_open(struct rvt_atomic *a, const char *path, struct rvt_error *err);
int rvt_atomic_commit(struct rvt_atomic *a, struct rvt_error *err);
/* Same, without the fsyncs: for many small files (e.g. one .npy per clip) that
 * the caller makes durable at once (syncfs) before publishing a list of them. */
int rvt_atomic_commit_nosync(struct rvt_atomic *a, struct rvt_error *err);
/* Safe on a zeroed or already finished struct. */
void rvt_atomic_abort(struct rvt_atomic *a);

/* Installs the signal handlers (done by the first rvt_atomic_open too). */
void rvt_atomic_install_handlers(void);

#endif
