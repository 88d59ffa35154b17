/*
 * fuzz.h: what the libFuzzer targets in tests/fuzz share.
 *
 * Each target defines LLVMFuzzerTestOneInput and checks, beyond "no crash, no
 * leak, no UB", the invariants its reader promises (FUZZ_CHECK aborts, so
 * libFuzzer keeps the input as a crash).  Readers that take a path get the
 * bytes through fuzz_path(): a temporary file in /dev/shm, removed at exit.
 */
#ifndef RVT_FUZZ_H
#define RVT_FUZZ_H

#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            abort(); \
        } \
    } while (0)

static char fuzz_paths_[4][4096];

static void fuzz_unlink_(void)
{
    int k;
    for (k = 0; k < 4; k++)
        if (fuzz_paths_[k][0])
            unlink(fuzz_paths_[k]);
}

/*
 * Replaces the contents of temporary file number slot (0-3) with data[size] and
 * returns its path, valid until the next call with that slot.  The files live in
 * $TMPDIR, else /dev/shm (else /tmp), and are removed at exit (not after a crash:
 * fuzz.sh and the smoke test point TMPDIR at a folder they remove).  (A memfd's /proc/self/fd path
 * would do for stdio, but HDF5 wants a real path.)
 */
static RVT_UNUSED const char *fuzz_path(int slot, const void *data, size_t size)
{
    static int fd[4] = {-1, -1, -1, -1};

    if (fd[slot] < 0) {
        const char *dir = getenv("TMPDIR");
        if (!dir || !*dir)
            dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_paths_[slot], sizeof(fuzz_paths_[slot]), "%s/rvt-fuzz-XXXXXX", dir);
        fd[slot] = mkstemp(fuzz_paths_[slot]);
        if (fd[slot] < 0) {
            perror("mkstemp");
            abort();
        }
        atexit(fuzz_unlink_);
    }
    if (ftruncate(fd[slot], 0) != 0 || (size && pwrite(fd[slot], data, size, 0) != (ssize_t)size)) {
        perror("fuzz temporary write");
        abort();
    }
    return fuzz_paths_[slot];
}

/* A NUL-terminated copy of data[size]; caller frees. */
static RVT_UNUSED char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
