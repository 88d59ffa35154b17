#include "core/common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/inputs.h"

/*
 * The registry: one entry per noted file, plus one for the entry of a symlink
 * (link = true), so that an output naming the link itself is refused too.
 * Linear scans: a run notes a few thousand inputs and checks a few outputs (the
 * per-clip .npy files of extract-mel check once per clip: still well under a
 * millisecond each).
 */
struct noted {
    dev_t dev;
    ino_t ino;
    bool link;
    char *path; /* owned, as the caller spelled it */
};

static struct noted *g_in; /* owned, g_n used of g_cap */
static size_t g_n, g_cap;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static bool still_there(const struct noted *n);

static int add(const struct stat *st, bool link, const char *path)
{
    size_t i;
    for (i = 0; i < g_n; i++)
        if (g_in[i].dev == st->st_dev && g_in[i].ino == st->st_ino && g_in[i].link == link) {
            char *p;
            if (!strcmp(g_in[i].path, path) || still_there(&g_in[i]))
                return 0;
            /* the file noted under that name is gone and its inode now belongs to this
             * one (tmpfs reuses them at once): note this name, else the stale entry
             * would hide the new input from rvt_output_check */
            if (!(p = strdup(path)))
                return RVT_ENOMEM;
            free(g_in[i].path);
            g_in[i].path = p;
            return 0;
        }
    if (g_n >= RVT_INPUTS_MAX)
        return RVT_ELIMIT;
    if (g_n == g_cap) {
        size_t cap = g_cap ? 2 * g_cap : 64;
        struct noted *n = realloc(g_in, cap * sizeof(*n));
        if (!n)
            return RVT_ENOMEM;
        g_in = n;
        g_cap = cap;
    }
    g_in[g_n].path = strdup(path);
    if (!g_in[g_n].path)
        return RVT_ENOMEM;
    g_in[g_n].dev = st->st_dev;
    g_in[g_n].ino = st->st_ino;
    g_in[g_n].link = link;
    g_n++;
    return 0;
}

static int note(const char *path, const struct stat *st, struct rvt_error *err)
{
    struct stat lst;
    int ret;

    pthread_mutex_lock(&g_lock);
    ret = add(st, false, path);
    if (ret == 0 && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
        ret = add(&lst, true, path);
    pthread_mutex_unlock(&g_lock);
    if (ret == RVT_ELIMIT)
        return rvt_error_set(err, ret, "more than %d input files", RVT_INPUTS_MAX);
    if (ret < 0)
        return rvt_error_set(err, ret, "out of memory");
    return 0;
}

int rvt_input_note(const char *path, struct rvt_error *err)
{
    struct stat st;
    if (!strcmp(path, "-") || stat(path, &st) != 0)
        return 0;
    return note(path, &st, err);
}

static const char *kind(mode_t m)
{
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a file";
}

int rvt_input_check(const char *path, struct rvt_error *err)
{
    struct stat st;
    int fd;

    if (!strcmp(path, "-"))
        return 0;
    if (!*path)
        return rvt_error_set(err, RVT_EIO, "cannot open '': empty file name");
    /*
     * open + fstat rather than stat + access: the answer is about the file we
     * could open, and root's access() says yes to a mode-000 file it can read
     * anyway.  O_NONBLOCK so that a FIFO without a writer does not hang here.
     */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == EISDIR)
            return rvt_error_set(err, RVT_EIO, "'%s' is a directory", path);
        return rvt_error_set(err, RVT_EIO, "cannot open '%s': %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rvt_error_set(err, RVT_EIO, "cannot open '%s': %s", path, strerror(e));
    }
    close(fd);
    if (S_ISDIR(st.st_mode))
        return rvt_error_set(err, RVT_EIO, "'%s' is a directory", path);
    if (!S_ISREG(st.st_mode))
        return rvt_error_set(err, RVT_EIO, "'%s' is not a regular file (%s)", path, kind(st.st_mode));
    return note(path, &st, err);
}

/*
 * Does the noted name still lead to the noted file?  An input deleted since it was
 * read frees its inode, which a new file may get (tmpfs reuses them at once): that
 * file is not the input.
 */
static bool still_there(const struct noted *n)
{
    struct stat st;
    int r = n->link ? lstat(n->path, &st) : stat(n->path, &st);
    return r == 0 && st.st_dev == n->dev && st.st_ino == n->ino;
}

int rvt_output_check(const char *path, struct rvt_error *err)
{
    struct stat st, lst;
    bool have_st, have_lst;
    const char *hit = NULL;
    size_t i;
    int ret = 0;

    if (!strcmp(path, "-"))
        return 0;
    have_st = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    have_lst = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
    if (!have_st && !have_lst)
        return 0; /* a new name, a device or a folder: not one of our inputs */
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < g_n && !hit; i++) {
        const struct noted *n = &g_in[i];
        if (!n->link && have_st && n->dev == st.st_dev && n->ino == st.st_ino)
            hit = still_there(n) ? n->path : NULL;
        else if (n->link && have_lst && n->dev == lst.st_dev && n->ino == lst.st_ino)
            hit = still_there(n) ? n->path : NULL;
    }
    if (hit)
        ret = rvt_error_set(err, RVT_EINVAL, "output '%s' is the input '%s'", path, hit);
    pthread_mutex_unlock(&g_lock);
    return ret;
}

/* "realpath(dirname(p))/basename(p)" into out; false when the folder cannot be resolved. */
static bool entry_of(const char *p, char *out, size_t n)
{
    char *d1 = strdup(p), *d2 = strdup(p), dir[PATH_MAX];
    bool ok = false;
    if (d1 && d2 && realpath(dirname(d1), dir)) {
        const char *b = basename(d2);
        ok = (size_t)snprintf(out, n, "%s/%s", dir, b) < n;
    }
    free(d1);
    free(d2);
    return ok;
}

bool rvt_path_same(const char *a, const char *b)
{
    struct stat sa, sb;
    char ea[2 * PATH_MAX], eb[2 * PATH_MAX];

    if (!strcmp(a, "-") || !strcmp(b, "-"))
        return false;
    if (!strcmp(a, b))
        return true;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
        return true;
    if (lstat(a, &sa) == 0 && lstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
        return true;
    return entry_of(a, ea, sizeof(ea)) && entry_of(b, eb, sizeof(eb)) && !strcmp(ea, eb);
}

void rvt_inputs_reset(void)
{
    size_t i;
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < g_n; i++)
        free(g_in[i].path);
    free(g_in);
    g_in = NULL;
    g_n = g_cap = 0;
    pthread_mutex_unlock(&g_lock);
}
