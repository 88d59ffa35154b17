#include "core/common.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/inputs.h"

/*
 * Registry of named temporaries for the signal handler.  Slots are claimed under
 * a mutex; the handler only reads `used` and the path bytes (async-signal-safe:
 * unlink and raise).
 */
static char g_tmp[RVT_ATOMIC_MAX_OPEN][PATH_MAX];
static volatile sig_atomic_t g_used[RVT_ATOMIC_MAX_OPEN];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Written once under g_host_once, read-only after. */
static char g_host[33];
static pthread_once_t g_host_once = PTHREAD_ONCE_INIT;

/* Folders swept by this process (dev, ino), under g_lock; at most 64 remembered. */
static struct { dev_t dev; ino_t ino; } g_swept[64];
static int g_n_swept;

static void on_signal(int sig)
{
    int i;
    for (i = 0; i < RVT_ATOMIC_MAX_OPEN; i++)
        if (g_used[i])
            unlink(g_tmp[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    size_t i;
    for (i = 0; i < RVT_ARRAY_SIZE(sigs); i++) {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        /* leave ignored signals ignored (e.g. SIGPIPE under some shells) */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

void rvt_atomic_install_handlers(void)
{
    pthread_once(&g_once, install);
}

static void init_host(void)
{
    char h[256] = "";
    size_t i, n = 0;
    if (gethostname(h, sizeof(h) - 1) != 0 || !h[0])
        snprintf(h, sizeof(h), "localhost");
    h[sizeof(h) - 1] = '\0';
    for (i = 0; h[i] && n < sizeof(g_host) - 1; i++)
        g_host[n++] = (isalnum((unsigned char)h[i]) || h[i] == '.') ? h[i] : '_';
    g_host[n] = '\0';
}

const char *rvt_atomic_host(void)
{
    pthread_once(&g_host_once, init_host);
    return g_host;
}

static int claim(const char *path)
{
    int i, slot = -1;
    if (strlen(path) >= PATH_MAX)
        return -1;
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < RVT_ATOMIC_MAX_OPEN; i++)
        if (!g_used[i]) {
            strcpy(g_tmp[i], path);
            g_used[i] = 1;
            slot = i;
            break;
        }
    pthread_mutex_unlock(&g_lock);
    return slot;
}

static void release(int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&g_lock);
    g_used[slot] = 0;
    pthread_mutex_unlock(&g_lock);
}

/*
 * Is name ".<anything>.tmp-PID-HOST-XXXXXX" with HOST this host?  Returns the PID,
 * or 0 when the name is not such a temporary.
 */
static long stale_pid(const char *name)
{
    const char *host = rvt_atomic_host();
    size_t n = strlen(name), hl = strlen(host), end;
    long pid = 0, mul = 1;

    /* "-HOST-XXXXXX" at the end */
    if (name[0] != '.' || n < hl + 8 + 6 + 2)
        return 0;
    end = n - 7;
    if (name[end] != '-' || memcmp(name + end - hl, host, hl) || name[end - hl - 1] != '-')
        return 0;
    end = end - hl - 1; /* at the '-' after PID */
    while (end > 0 && isdigit((unsigned char)name[end - 1]) && mul <= 1000000000L) {
        pid += (name[end - 1] - '0') * mul;
        mul *= 10;
        end--;
    }
    if (mul == 1 || end < 6 || memcmp(name + end - 5, ".tmp-", 5))
        return 0;
    return pid;
}

int rvt_atomic_sweep(const char *dir, struct rvt_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return rvt_error_set(err, RVT_EIO, "cannot read the folder '%s': %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        long pid = stale_pid(e->d_name);
        if (pid <= 0 || pid == (long)getpid())
            continue;
        /* ESRCH: no such process.  EPERM means it runs (as another user). */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Sweeps dir unless this process did already. */
static void sweep_once(const char *dir)
{
    struct stat st;
    int i;
    bool seen = false;
    if (stat(dir, &st) != 0)
        return;
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < g_n_swept && !seen; i++)
        seen = g_swept[i].dev == st.st_dev && g_swept[i].ino == st.st_ino;
    if (!seen && g_n_swept < (int)RVT_ARRAY_SIZE(g_swept)) {
        g_swept[g_n_swept].dev = st.st_dev;
        g_swept[g_n_swept].ino = st.st_ino;
        g_n_swept++;
    } else {
        seen = true; /* remembered, or too many folders to remember: sweep no more */
    }
    pthread_mutex_unlock(&g_lock);
    if (!seen)
        rvt_atomic_sweep(dir, NULL);
}

/*
 * "DIR/.NAME.tmp-PID-HOST-" + suffix into a new string.  NAME is cut to 160
 * bytes so the whole name stays under NAME_MAX.
 */
static char *tmp_name(const char *dir, const char *base, const char *suffix)
{
    size_t n = strlen(dir) + strlen(base) + strlen(suffix) + 96;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/.%.160s.tmp-%ld-%s-%s", dir, base, (long)getpid(), rvt_atomic_host(),
                 suffix);
    return s;
}

static int open_common(struct rvt_atomic *a, const char *path, bool named, struct rvt_error *err)
{
    char *d1 = NULL, *d2 = NULL, *dir, *base;
    int fd = -1, ret = 0;

    memset(a, 0, sizeof(*a));
    a->slot = -1;
    if (!strcmp(path, "-")) {
        a->fp = stdout;
        a->in_place = true;
        return 0;
    }
    {
        /*
         * A device or FIFO (/dev/null, /dev/stdout, a named pipe) is written in
         * place: renaming a temporary over it would replace /dev/null with a
         * regular file for every process on the machine.
         */
        struct stat st;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            a->fp = fopen(path, "wb");
            if (!a->fp)
                return rvt_error_set(err, RVT_EIO, "cannot open '%s': %s", path, strerror(errno));
            a->in_place = true;
            return 0;
        }
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return rvt_error_set(err, RVT_EIO, "cannot write '%s': it is a directory", path);
    }
    if ((ret = rvt_output_check(path, err)) < 0)
        return ret;
    rvt_atomic_install_handlers();
    a->final_path = strdup(path);
    d1 = strdup(path);
    d2 = strdup(path);
    if (!a->final_path || !d1 || !d2) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    dir = dirname(d1);
    base = basename(d2);
    sweep_once(dir);
#ifdef O_TMPFILE
    /* linkat needs /proc/self/fd (or CAP_DAC_READ_SEARCH): check /proc once here */
    if (!named && access("/proc/self/fd", X_OK) == 0) {
        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
            ret = rvt_error_set(err, RVT_EIO, "cannot create '%s': %s", path, strerror(errno));
            goto done;
        }
    }
#endif
    if (fd < 0) {
        a->tmp_path = tmp_name(dir, base, "XXXXXX");
        if (!a->tmp_path) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        /* block signals while the file exists but is not yet registered */
        {
            sigset_t all, old;
            sigfillset(&all);
            pthread_sigmask(SIG_BLOCK, &all, &old);
            fd = mkostemp(a->tmp_path, O_CLOEXEC);
            if (fd >= 0)
                a->slot = claim(a->tmp_path);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
        if (fd < 0) {
            ret = rvt_error_set(err, RVT_EIO, "cannot create '%s': %s", path, strerror(errno));
            free(a->tmp_path);
            a->tmp_path = NULL;
            goto done;
        }
        if (a->slot < 0) {
            ret = rvt_error_set(err, RVT_ELIMIT, "more than %d output files open", RVT_ATOMIC_MAX_OPEN);
            goto done;
        }
    }
    fchmod(fd, 0644);
    a->fp = fdopen(fd, "wb");
    if (!a->fp) {
        ret = rvt_error_set(err, RVT_EIO, "cannot open a temporary for '%s': %s", path, strerror(errno));
        goto done;
    }
    fd = -1;
done:
    if (fd >= 0)
        close(fd);
    free(d1);
    free(d2);
    if (ret < 0)
        rvt_atomic_abort(a);
    return ret;
}

int rvt_atomic_open(struct rvt_atomic *a, const char *path, struct rvt_error *err)
{
    return open_common(a, path, false, err);
}

int rvt_atomic_open_named(struct rvt_atomic *a, const char *path, struct rvt_error *err)
{
    return open_common(a, path, true, err);
}

static void finish(struct rvt_atomic *a)
{
    release(a->slot);
    a->slot = -1;
    free(a->final_path);
    free(a->tmp_path);
    a->final_path = a->tmp_path = NULL;
    a->fp = NULL;
}

/*
 * Gives the unnamed temporary (open on fd) a name beside the final path and
 * registers it for the signal handler.  On success a->tmp_path holds the name.
 */
static int link_unnamed(struct rvt_atomic *a, int fd, struct rvt_error *err)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    static unsigned long counter;
    char *d1 = strdup(a->final_path), *d2 = strdup(a->final_path), proc[64], sfx[7];
    int ret = 0, tries;

    if (!d1 || !d2) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    for (tries = 0; tries < 100; tries++) {
        unsigned long v = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 2654435761UL ^
                          (unsigned long)time(NULL);
        sigset_t all, old;
        int i, r;
        for (i = 0; i < 6; i++, v /= 36)
            sfx[i] = digits[v % 36];
        sfx[6] = '\0';
        free(a->tmp_path);
        a->tmp_path = tmp_name(dirname(d1), basename(d2), sfx);
        if (!a->tmp_path) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = linkat(fd, "", AT_FDCWD, a->tmp_path, AT_EMPTY_PATH);
        if (r != 0 && errno != EEXIST)
            r = linkat(AT_FDCWD, proc, AT_FDCWD, a->tmp_path, AT_SYMLINK_FOLLOW);
        if (r == 0 && (a->slot = claim(a->tmp_path)) < 0) {
            unlink(a->tmp_path);
            errno = EMFILE;
            r = -1;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r == 0)
            goto done;
        if (errno != EEXIST)
            break;
    }
    ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': cannot name the temporary: %s",
                        a->final_path, strerror(errno));
    free(a->tmp_path);
    a->tmp_path = NULL;
done:
    free(d1);
    free(d2);
    return ret;
}

static int commit(struct rvt_atomic *a, bool sync, struct rvt_error *err)
{
    int ret = 0;

    if (a->in_place) {
        /* stdout, or a device written in place */
        if (a->fp && fflush(a->fp) != 0)
            ret = rvt_error_set(err, RVT_EIO, "cannot write to %s: %s",
                                a->fp == stdout ? "stdout" : "a device", strerror(errno));
        if (a->fp && a->fp != stdout && fclose(a->fp) != 0 && ret == 0)
            ret = rvt_error_set(err, RVT_EIO, "cannot write to a device: %s", strerror(errno));
        a->fp = NULL;
        a->in_place = false;
        return ret;
    }
    if (!a->fp) /* the caller closed it (HDF5 writers reopen the named temporary) */
        ;
    else if (fflush(a->fp) != 0 || (sync && fsync(fileno(a->fp)) != 0))
        ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", a->final_path, strerror(errno));
    if (ret == 0)
        ret = rvt_output_check(a->final_path, err);
    assert(a->fp || a->tmp_path); /* an unnamed temporary lives only while it is open */
    if (ret == 0 && !a->tmp_path)
        ret = link_unnamed(a, fileno(a->fp), err);
    if (ret == 0 && a->fp) {
        int r = fclose(a->fp);
        a->fp = NULL;
        if (r != 0)
            ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", a->final_path, strerror(errno));
    }
    if (ret == 0 && rename(a->tmp_path, a->final_path) != 0)
        ret = rvt_error_set(err, RVT_EIO, "cannot rename '%s' to '%s': %s", a->tmp_path,
                            a->final_path, strerror(errno));
    if (ret < 0) {
        rvt_atomic_abort(a);
        return ret;
    }
    if (sync) {
        char *d = strdup(a->final_path);
        if (d) {
            int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(d);
        }
    }
    finish(a);
    return 0;
}

int rvt_atomic_commit(struct rvt_atomic *a, struct rvt_error *err)
{
    return commit(a, true, err);
}

int rvt_atomic_commit_nosync(struct rvt_atomic *a, struct rvt_error *err)
{
    return commit(a, false, err);
}

void rvt_atomic_abort(struct rvt_atomic *a)
{
    if (a->fp && a->fp != stdout)
        fclose(a->fp);
    a->fp = NULL;
    a->in_place = false;
    if (a->tmp_path)
        unlink(a->tmp_path);
    finish(a);
}
