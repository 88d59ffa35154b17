/*
 * wfault.c: an LD_PRELOAD shim that makes writes fail, for tests/e2e/test_write_faults.sh.
 *
 *   WFAULT_BYTES=N    the first N bytes written to regular files succeed; every
 *                     write after them fails (a write that crosses N is cut
 *                     short at N, as a filling disk does)
 *   WFAULT_ERRNO=E    ENOSPC (default) or EIO
 *
 * Only regular files count (stdin/stdout/stderr and pipes are left alone).
 * write, pwrite, pwrite64, writev are wrapped.  glibc's stdio calls its own
 * internal write, out of reach of LD_PRELOAD, so fdopen and fopen (for writing)
 * return a fopencookie stream whose writes go through the wrapped write, and
 * fileno answers the descriptor under such a stream.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long g_left = -1; /* bytes still allowed; -1 = not configured yet */
static int g_errno = ENOSPC;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static FILE *(*real_fdopen)(int, const char *);
static FILE *(*real_fopen)(const char *, const char *);
static int (*real_fileno)(FILE *);

static void init(void)
{
    const char *b = getenv("WFAULT_BYTES"), *e = getenv("WFAULT_ERRNO");
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_fdopen = dlsym(RTLD_NEXT, "fdopen");
    real_fopen = dlsym(RTLD_NEXT, "fopen");
    real_fileno = dlsym(RTLD_NEXT, "fileno");
    g_left = b ? atoll(b) : (1LL << 62);
    if (e && !strcmp(e, "EIO"))
        g_errno = EIO;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* How many of n bytes to fd may go through: n, fewer, or -1 (fail now). */
static ssize_t allow(int fd, size_t n)
{
    struct stat st;
    ssize_t ok;
    pthread_once(&g_once, init);
    if (fd <= 2 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return (ssize_t)n;
    pthread_mutex_lock(&g_lock);
    if (g_left <= 0) {
        ok = -1;
    } else {
        ok = (long long)n <= g_left ? (ssize_t)n : (ssize_t)g_left;
        g_left -= ok;
    }
    pthread_mutex_unlock(&g_lock);
    if (ok < 0)
        errno = g_errno;
    return ok;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    ssize_t k = allow(fd, n);
    return k < 0 ? -1 : real_write(fd, buf, (size_t)k);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    ssize_t k = allow(fd, n);
    return k < 0 ? -1 : real_pwrite(fd, buf, (size_t)k, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    ssize_t k = allow(fd, n);
    return k < 0 ? -1 : real_pwrite64(fd, buf, (size_t)k, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    size_t total = 0;
    int i;
    ssize_t k;
    for (i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    k = allow(fd, total);
    if (k < 0)
        return -1;
    if ((size_t)k == total)
        return real_writev(fd, iov, cnt);
    /* cut short: write the allowed prefix of the first buffers */
    for (i = 0, total = 0; i < cnt && (ssize_t)total < k; i++) {
        size_t m = iov[i].iov_len < (size_t)(k - total) ? iov[i].iov_len : (size_t)(k - total);
        ssize_t r = real_write(fd, iov[i].iov_base, m);
        if (r < 0)
            return total ? (ssize_t)total : -1;
        total += (size_t)r;
    }
    return (ssize_t)total;
}

/* ------------------------------------------------------------- stdio streams */

#define MAX_STREAMS 256
static struct { FILE *f; int fd; } g_streams[MAX_STREAMS];

static ssize_t ck_read(void *c, char *buf, size_t n)
{
    return read((int)(intptr_t)c, buf, n);
}

static ssize_t ck_write(void *c, const char *buf, size_t n)
{
    /* stdio wants all or an error */
    size_t done = 0;
    while (done < n) {
        ssize_t r = write((int)(intptr_t)c, buf + done, n - done);
        if (r <= 0)
            return done ? (ssize_t)done : -1;
        done += (size_t)r;
    }
    return (ssize_t)n;
}

static int ck_seek(void *c, off64_t *off, int whence)
{
    off_t r = lseek((int)(intptr_t)c, (off_t)*off, whence);
    if (r < 0)
        return -1;
    *off = r;
    return 0;
}

static int ck_close(void *c)
{
    int fd = (int)(intptr_t)c, i;
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < MAX_STREAMS; i++)
        if (g_streams[i].f && g_streams[i].fd == fd)
            g_streams[i].f = NULL;
    pthread_mutex_unlock(&g_lock);
    return close(fd);
}

static FILE *wrap(int fd, const char *mode)
{
    cookie_io_functions_t io = {ck_read, ck_write, ck_seek, ck_close};
    FILE *f = fopencookie((void *)(intptr_t)fd, mode, io);
    int i;
    if (!f)
        return NULL;
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < MAX_STREAMS; i++)
        if (!g_streams[i].f) {
            g_streams[i].f = f;
            g_streams[i].fd = fd;
            break;
        }
    pthread_mutex_unlock(&g_lock);
    return f;
}

static int writing(const char *mode)
{
    return strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+');
}

FILE *fdopen(int fd, const char *mode)
{
    pthread_once(&g_once, init);
    if (!writing(mode))
        return real_fdopen(fd, mode);
    return wrap(fd, mode);
}

FILE *fopen(const char *path, const char *mode)
{
    int fd, flags;
    pthread_once(&g_once, init);
    if (!writing(mode))
        return real_fopen(path, mode);
    flags = strchr(mode, '+') ? O_RDWR : O_WRONLY;
    flags |= strchr(mode, 'a') ? O_CREAT | O_APPEND : strchr(mode, 'w') ? O_CREAT | O_TRUNC : 0;
    fd = open(path, flags | O_CLOEXEC, 0666);
    if (fd < 0)
        return NULL;
    return wrap(fd, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    return fopen(path, mode);
}

int fileno(FILE *f)
{
    int i, fd = -1;
    pthread_once(&g_once, init);
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < MAX_STREAMS; i++)
        if (g_streams[i].f == f)
            fd = g_streams[i].fd;
    pthread_mutex_unlock(&g_lock);
    return fd >= 0 ? fd : real_fileno(f);
}
