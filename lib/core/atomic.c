#include "core/common.h"

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
#include <unistd.h>

#include "core/atomic.h"

/*
 * Registry of temporaries for the signal handler.  Slots are claimed under a
 * mutex; the handler only reads `used` and the path bytes (async-signal-safe:
 * unlink and raise).
 */
static char g_tmp[RVT_ATOMIC_MAX_OPEN][PATH_MAX];
static volatile sig_atomic_t g_used[RVT_ATOMIC_MAX_OPEN];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

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

int rvt_atomic_open(struct rvt_atomic *a, const char *path, struct rvt_error *err)
{
    char *d1 = NULL, *d2 = NULL;
    int fd = -1, ret = 0;
    size_t n;

    memset(a, 0, sizeof(*a));
    a->slot = -1;
    if (!strcmp(path, "-")) {
        a->fp = stdout;
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
            return 0;
        }
    }
    rvt_atomic_install_handlers();
    a->final_path = strdup(path);
    d1 = strdup(path);
    d2 = strdup(path);
    if (!a->final_path || !d1 || !d2) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    n = strlen(path) + 32;
    a->tmp_path = malloc(n);
    if (!a->tmp_path) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(a->tmp_path, n, "%s/.%s.tmp-XXXXXX", dirname(d1), basename(d2));
    /* block signals while the file exists but is not yet registered */
    {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        fd = mkstemp(a->tmp_path);
        if (fd >= 0)
            a->slot = claim(a->tmp_path);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (fd < 0) {
        ret = rvt_error_set(err, RVT_EIO, "cannot create '%s': %s", a->tmp_path, strerror(errno));
        free(a->tmp_path);
        a->tmp_path = NULL;
        goto done;
    }
    if (a->slot < 0) {
        ret = rvt_error_set(err, RVT_ELIMIT, "more than %d output files open", RVT_ATOMIC_MAX_OPEN);
        goto done;
    }
    fchmod(fd, 0644);
    a->fp = fdopen(fd, "wb");
    if (!a->fp) {
        ret = rvt_error_set(err, RVT_EIO, "cannot open '%s': %s", a->tmp_path, strerror(errno));
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

static void finish(struct rvt_atomic *a)
{
    release(a->slot);
    a->slot = -1;
    free(a->final_path);
    free(a->tmp_path);
    a->final_path = a->tmp_path = NULL;
    a->fp = NULL;
}

static int commit(struct rvt_atomic *a, bool sync, struct rvt_error *err)
{
    int ret = 0;

    if (!a->tmp_path) {
        /* stdout, or a device written in place */
        if (a->fp && fflush(a->fp) != 0)
            ret = rvt_error_set(err, RVT_EIO, "cannot write to %s: %s",
                                a->fp == stdout ? "stdout" : "a device", strerror(errno));
        if (a->fp && a->fp != stdout && fclose(a->fp) != 0 && ret == 0)
            ret = rvt_error_set(err, RVT_EIO, "cannot write to a device: %s", strerror(errno));
        a->fp = NULL;
        return ret;
    }
    if (fflush(a->fp) != 0 || (sync && fsync(fileno(a->fp)) != 0)) {
        ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", a->final_path, strerror(errno));
        rvt_atomic_abort(a);
        return ret;
    }
    if (fclose(a->fp) != 0) {
        a->fp = NULL;
        ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", a->final_path, strerror(errno));
        rvt_atomic_abort(a);
        return ret;
    }
    a->fp = NULL;
    if (rename(a->tmp_path, a->final_path) != 0) {
        ret = rvt_error_set(err, RVT_EIO, "cannot rename '%s' to '%s': %s", a->tmp_path,
                            a->final_path, strerror(errno));
        rvt_atomic_abort(a);
        return ret;
    }
    if (sync) {
        char *d = strdup(a->final_path);
        if (d) {
            int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY);
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
    if (a->tmp_path)
        unlink(a->tmp_path);
    finish(a);
}
