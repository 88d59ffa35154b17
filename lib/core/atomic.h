/*
 * atomic.h: output files that appear whole or not at all, and temporaries that
 * do not outlive their writer.
 *
 * rvt_atomic_open() opens an unnamed temporary in the output's folder
 * (O_TMPFILE) for the caller to write through a->fp; rvt_atomic_commit()
 * flushes, fsyncs, links it under a named temporary, renames that over the
 * final name and fsyncs the folder.  An unnamed temporary vanishes with its
 * process, however it dies.  Where the file system has no O_TMPFILE (or /proc
 * is missing), it falls back to a named one.
 *
 * rvt_atomic_open_named() always creates a named temporary, for writers that
 * reopen it by name (HDF5: H5Fcreate(a->tmp_path)).  Its name is
 *     DIR/.NAME.tmp-PID-HOST-XXXXXX
 * (PID and HOST of the writer, XXXXXX random).  Named temporaries are removed by
 * rvt_atomic_abort(), and by a signal handler on SIGINT, SIGTERM, SIGHUP and
 * SIGPIPE (which then re-raises the signal).  SIGKILL (or a crash, or a power
 * cut) can leave one behind: the sweep removes it.  Every rvt_atomic_open* sweeps
 * the output's folder once per process (rvt_atomic_sweep): a ".NAME.tmp-PID-HOST-
 * XXXXXX" whose HOST is this host and whose PID is no running process is deleted.
 * Temporaries of other hosts (a shared file system) and of live processes are
 * left alone.  Never, in any case, is a partial file left under the final name.
 *
 * No output replaces an input: open and commit refuse (RVT_EINVAL, "output 'o'
 * is the input 'x'") a final path that is a file noted by rvt_input_check
 * (inputs.h), by any name.
 *
 * The path "-" means stdout (no temporary; commit just flushes).  An existing
 * path that is not a regular file or a folder (/dev/null, a FIFO) is written in
 * place (a->in_place), never renamed over.
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
    char *tmp_path;   /* owned; the named temporary; NULL when unnamed or in place */
    FILE *fp;         /* stdio stream on the temporary (or stdout, or the device) */
    int slot;         /* signal-cleanup registry slot, -1 if none */
    bool in_place;    /* stdout or a device: no temporary, commit only flushes */
};

int rvt_atomic_open(struct rvt_atomic *a, const char *path, struct rvt_error *err);
int rvt_atomic_open_named(struct rvt_atomic *a, const char *path, struct rvt_error *err);
int rvt_atomic_commit(struct rvt_atomic *a, struct rvt_error *err);
/* Same, without the fsyncs: for many small files (e.g. one .npy per clip) that
 * the caller makes durable at once (syncfs) before publishing a list of them. */
int rvt_atomic_commit_nosync(struct rvt_atomic *a, struct rvt_error *err);
/* Safe on a zeroed or already finished struct. */
void rvt_atomic_abort(struct rvt_atomic *a);

/* Installs the signal handlers (done by the first rvt_atomic_open too). */
void rvt_atomic_install_handlers(void);

/*
 * Removes the stale named temporaries of dead processes of this host from folder
 * dir (see above); returns how many, or a negative code when dir cannot be read.
 */
int rvt_atomic_sweep(const char *dir, struct rvt_error *err);

/* This host's name as temporaries spell it ([A-Za-z0-9._] only, at most 32 chars). */
const char *rvt_atomic_host(void);

#endif
