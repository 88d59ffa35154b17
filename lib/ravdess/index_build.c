/* index_build.c: walk corpus roots, pair each clip's files, label and split (see index.h). */
#include "core/common.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "ravdess/index.h"
#include "ravdess/internal.h"

#define MAX_FILES ((size_t)RVT_INDEX_MAX_CLIPS * 3)
#define MAX_DIR_ENTRIES ((size_t)1 << 22)

struct file {
    struct rvt_ravdess_name name;
    char *path;  /* owned: as the problems name it (relative to the cwd) */
    char *ipath; /* owned: as seen from the index's folder, NULL when the same */
};

/* the path a clip's file gets in the index */
#define IPATH(f) ((f)->ipath ? (f)->ipath : (f)->path)

struct builder {
    const struct rvt_index_options *o;
    struct rvt_index_report *rep;
    struct file *files;
    size_t n_files, cap_files;
    size_t root_candidates; /* corpus-looking names under the current root */
};

struct dent {
    char *name; /* owned */
    unsigned char type;
};

int rvt_index_options_from_config(struct rvt_index_options *o, const struct rvt_config *cfg,
                                  struct rvt_error *err)
{
    const char *modality, *vocal;
    int ret;

    memset(o, 0, sizeof(*o));
    if ((ret = rvt_config_get_str(cfg, "corpus.modality", &modality, err)) < 0 ||
        (ret = rvt_config_get_str(cfg, "corpus.vocal", &vocal, err)) < 0)
        return ret;
    if (!strcmp(modality, "av"))
        o->need = RVT_INDEX_NEED_AV;
    else if (!strcmp(modality, "audio"))
        o->need = RVT_INDEX_NEED_AUDIO;
    else if (!strcmp(modality, "video"))
        o->need = RVT_INDEX_NEED_VIDEO;
    else
        return rvt_error_set(err, RVT_EINVAL, "corpus.modality '%s' is not av, audio or video",
                             modality);
    if (!strcmp(vocal, "speech"))
        o->vocal = RVT_VOCAL_SPEECH;
    else if (!strcmp(vocal, "song"))
        o->vocal = RVT_VOCAL_SONG;
    else if (!strcmp(vocal, "all"))
        o->vocal = 0;
    else
        return rvt_error_set(err, RVT_EINVAL, "corpus.vocal '%s' is not speech, song or all", vocal);
    if ((ret = rvt_labelset_from_config(&o->labels, cfg, err)) < 0 ||
        (ret = rvt_splits_from_config(&o->splits, cfg, err)) < 0)
        return ret;
    return 0;
}

static int problem(struct rvt_index_report *rep, const char *id, const char *path,
                   struct rvt_error *err, const char *fmt, ...) RVT_PRINTF(5, 6);

static int problem(struct rvt_index_report *rep, const char *id, const char *path,
                   struct rvt_error *err, const char *fmt, ...)
{
    struct rvt_index_problem *p;
    char reason[1024];
    va_list ap;

    if (rep->n_problems == rep->cap_problems) {
        size_t cap = rep->cap_problems ? 2 * rep->cap_problems : 16;
        p = realloc(rep->problems, cap * sizeof(*p));
        if (!p)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        rep->problems = p;
        rep->cap_problems = cap;
    }
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    p = &rep->problems[rep->n_problems];
    memset(p, 0, sizeof(*p));
    if (id)
        snprintf(p->id, sizeof(p->id), "%s", id);
    p->path = strdup(path);
    p->reason = strdup(reason);
    rep->n_problems++; /* counted now so release frees whichever strdup worked */
    if (!p->path || !p->reason)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    return 0;
}

void rvt_index_report_release(struct rvt_index_report *rep)
{
    size_t i;
    for (i = 0; i < rep->n_problems; i++) {
        free(rep->problems[i].path);
        free(rep->problems[i].reason);
    }
    free(rep->problems);
    memset(rep, 0, sizeof(*rep));
}

/* "dir/name"; dir "" gives "name", a dir ending in '/' gets no second one.  NULL on OOM. */
static char *join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dl && dir[dl - 1] != '/';
    char *s = malloc(dl + slash + nl + 1);
    if (!s)
        return NULL;
    memcpy(s, dir, dl);
    if (slash)
        s[dl] = '/';
    memcpy(s + dl + slash, name, nl + 1);
    return s;
}

static int cmp_dent(const void *a, const void *b)
{
    return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static void free_dents(struct dent *d, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(d[i].name);
    free(d);
}

/* Reads a folder's entries (without . and ..), sorted.  errno-style failure in *sys_errno. */
static int read_folder(const char *path, struct dent **out, size_t *n_out, int *sys_errno,
                       struct rvt_error *err)
{
    DIR *d = opendir(path);
    struct dent *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int ret = 0;

    *out = NULL;
    *n_out = 0;
    *sys_errno = 0;
    if (!d) {
        *sys_errno = errno;
        return 0;
    }
    for (;;) {
        errno = 0;
        e = readdir(d);
        if (!e) {
            *sys_errno = errno; /* 0 at the end of the folder */
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n == MAX_DIR_ENTRIES) {
            ret = rvt_error_set(err, RVT_ELIMIT, "'%s': more than %zu entries in one folder", path,
                                MAX_DIR_ENTRIES);
            goto done;
        }
        if (n == cap) {
            size_t c = cap ? 2 * cap : 64;
            struct dent *nv = realloc(v, c * sizeof(*nv));
            if (!nv) {
                ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
                goto done;
            }
            v = nv;
            cap = c;
        }
        v[n].type = e->d_type;
        v[n].name = strdup(e->d_name);
        if (!v[n].name) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        n++;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_dent);
done:
    closedir(d);
    if (ret < 0 || *sys_errno) {
        free_dents(v, n);
        return ret;
    }
    *out = v;
    *n_out = n;
    return 0;
}

static int add_file(struct builder *B, const struct rvt_ravdess_name *name, const char *path,
                    const char *ipath, struct rvt_error *err)
{
    struct file *f;
    if (B->n_files == MAX_FILES)
        return rvt_error_set(err, RVT_ELIMIT, "more than %zu corpus files", MAX_FILES);
    if (B->n_files == B->cap_files) {
        size_t cap = B->cap_files ? 2 * B->cap_files : 1024;
        f = realloc(B->files, cap * sizeof(*f));
        if (!f)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        B->files = f;
        B->cap_files = cap;
    }
    f = &B->files[B->n_files];
    f->name = *name;
    f->path = strdup(path);
    f->ipath = ipath ? strdup(ipath) : NULL;
    if (!f->path || (ipath && !f->ipath))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    B->n_files++;
    B->rep->n_files++;
    if (name->modality == RVT_MODALITY_VIDEO)
        B->rep->n_video_only++;
    return 0;
}

static int visit_file(struct builder *B, const char *path, const char *ipath, const char *name,
                      const char *folder, struct rvt_error *err)
{
    struct rvt_ravdess_name n;
    char reason[512];

    if (!rvt_ravdess_is_candidate(name)) {
        B->rep->n_ignored++;
        rvt_debugf("ignoring '%s' (not a corpus file name)", path);
        return 0;
    }
    B->root_candidates++;
    if (rvti_ravdess_parse(name, folder, &n, reason, sizeof(reason)) < 0)
        return problem(B->rep, NULL, path, err, "%s", reason);
    return add_file(B, &n, path, ipath, err);
}

/*
 * Walks the folder `path` (its own name is `folder`, depth 0 = a root).  ipath:
 * the folder as seen from the index's folder, when that differs (else NULL).
 */
static int walk(struct builder *B, const char *open_path, const char *path, const char *ipath,
                const char *folder, int depth, struct rvt_error *err)
{
    struct dent *v = NULL;
    size_t n = 0, i;
    int ret, sys_errno;
    char *child = NULL, *ichild = NULL;

    ret = read_folder(open_path, &v, &n, &sys_errno, err);
    if (ret < 0)
        goto done;
    if (sys_errno) {
        ret = problem(B->rep, NULL, path, err, "cannot read folder: %s", strerror(sys_errno));
        goto done;
    }
    for (i = 0; i < n; i++) {
        const char *name = v[i].name;
        unsigned char type = v[i].type;
        bool is_dir = false, is_file = false;

        free(child);
        free(ichild);
        child = join(path, name);
        ichild = ipath ? join(ipath, name) : NULL;
        if (!child || (ipath && !ichild)) {
            ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            goto done;
        }
        if (name[0] == '.') {
            rvt_debugf("skipping hidden '%s'", child);
            continue;
        }
        if (type == DT_DIR) {
            is_dir = true;
        } else if (type == DT_REG) {
            is_file = true;
        } else if (type == DT_LNK || type == DT_UNKNOWN) {
            struct stat st;
            if (stat(child, &st) < 0) {
                if (rvt_ravdess_is_candidate(name)) {
                    B->root_candidates++;
                    ret = problem(B->rep, NULL, child, err, "cannot stat: %s", strerror(errno));
                    if (ret < 0)
                        goto done;
                } else {
                    B->rep->n_ignored++;
                    rvt_debugf("ignoring '%s' (cannot stat: %s)", child, strerror(errno));
                }
                continue;
            }
            is_dir = S_ISDIR(st.st_mode);
            is_file = S_ISREG(st.st_mode);
        }
        if (is_dir) {
            if (!strcmp(name, "__MACOSX")) {
                rvt_debugf("skipping '%s' (macOS resource forks)", child);
                continue;
            }
            if (depth + 1 > RVT_WALK_MAX_DEPTH) {
                ret = problem(B->rep, NULL, child, err,
                              "folder is nested more than %d levels below the corpus root",
                              RVT_WALK_MAX_DEPTH);
            } else {
                ret = walk(B, child, child, ichild, name, depth + 1, err);
            }
        } else if (is_file) {
            ret = visit_file(B, child, ichild, name, folder, err);
        } else if (rvt_ravdess_is_candidate(name)) {
            B->root_candidates++;
            ret = problem(B->rep, NULL, child, err, "not a regular file");
        } else {
            B->rep->n_ignored++;
            rvt_debugf("ignoring '%s' (not a regular file)", child);
        }
        if (ret < 0)
            goto done;
    }
done:
    free(child);
    free(ichild);
    free_dents(v, n);
    return ret;
}

/* The name of the folder a root points at, for the Actor_XX check of files right in it. */
static void root_folder_name(const char *root, char *out, size_t n)
{
    const char *base = strrchr(root, '/');
    char *real;

    base = base ? base + 1 : root;
    if (*base && strcmp(base, ".") && strcmp(base, "..")) {
        snprintf(out, n, "%s", base);
        return;
    }
    out[0] = '\0';
    real = realpath(root, NULL);
    if (real) {
        base = strrchr(real, '/');
        snprintf(out, n, "%s", base ? base + 1 : real);
        free(real);
    }
}

/*
 * The path of folder `to` relative to folder `from` (both canonical, absolute):
 * "../../x/y", "" when equal.  NULL on OOM.
 */
static char *relative_path(const char *from, const char *to)
{
    size_t i = 0, common = 0, ups = 0;
    const char *rest;
    char *out, *p;

    /* the longest common run of whole components */
    while (from[i] && from[i] == to[i])
        i++;
    if ((!from[i] || from[i] == '/') && (!to[i] || to[i] == '/'))
        common = i;
    else
        for (common = i; common > 0 && from[common - 1] != '/'; common--)
            ;
    for (p = (char *)from + common; *p; p++)
        if (*p != '/' && (p == from + common || p[-1] == '/'))
            ups++;
    rest = to + common;
    while (*rest == '/')
        rest++;
    out = malloc(3 * ups + strlen(rest) + 1);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (i = 0; i < ups; i++)
        strcat(out, i + 1 < ups || *rest ? "../" : "..");
    strcat(out, rest);
    return out;
}

/*
 * cwd (canonical) joined with the relative root, keeping the root's own names
 * (a symlinked corpus folder stays a symlink in the paths): leading "./" and
 * "../" are applied to cwd, which has no symlinks.  NULL when "." or ".." occur
 * further in (then the caller uses realpath) or on OOM.
 */
static char *lexical_root(const char *cwd, const char *root)
{
    size_t cl = strlen(cwd);
    const char *p = root, *q;
    char *out;

    for (;;) {
        if (!strncmp(p, "./", 2)) {
            p += 2;
        } else if (!strncmp(p, "../", 3) || !strcmp(p, "..")) {
            while (cl > 1 && cwd[cl - 1] != '/')
                cl--;
            if (cl > 1)
                cl--; /* the slash, unless it is the root */
            p += p[2] ? 3 : 2;
        } else if (*p == '/') {
            p++;
        } else {
            break;
        }
    }
    for (q = p; *q; q++)
        if (*q == '.' && (q == p || q[-1] == '/') &&
            (q[1] == '/' || !q[1] || (q[1] == '.' && (q[2] == '/' || !q[2]))))
            return NULL;
    out = malloc(cl + 1 + strlen(p) + 1);
    if (out)
        sprintf(out, "%.*s%s%s", (int)cl, cwd, cl > 1 && *p ? "/" : "", p);
    return out;
}

/*
 * The prefix of a relative root for an index written at index_path: the root as
 * given when the index's folder is the cwd, else the root relative to that folder
 * (so that readers, which resolve paths against the index's folder, find the
 * files).  NULL: keep the root as given.
 */
static char *root_for_index(const char *root_arg, const char *index_path)
{
    char *dir = NULL, *rdir = NULL, *rcwd = NULL, *rroot = NULL, *out = NULL;
    const char *slash;

    if (!index_path || !strcmp(index_path, "-") || root_arg[0] == '/')
        return NULL;
    slash = strrchr(index_path, '/');
    if (!slash)
        return NULL;
    dir = slash == index_path ? strdup("/") : strndup(index_path, (size_t)(slash - index_path));
    if (!dir)
        return NULL;
    rdir = realpath(dir, NULL);
    rcwd = realpath(".", NULL);
    rroot = realpath(root_arg, NULL);
    /* a folder that does not resolve: the root as given (its problem comes later) */
    if (rdir && rcwd && rroot && strcmp(rdir, rcwd)) {
        char *lex = lexical_root(rcwd, root_arg);
        out = relative_path(rdir, lex ? lex : rroot);
        free(lex);
    }
    free(dir);
    free(rdir);
    free(rcwd);
    free(rroot);
    return out;
}

static int walk_root(struct builder *B, const char *root_arg, struct rvt_error *err)
{
    char *root = NULL, *rel = NULL, folder[NAME_MAX + 1];
    const char *prefix;
    size_t len;
    int ret = 0;

    if (B->o->absolute_paths) {
        root = realpath(root_arg, NULL);
        if (!root)
            return problem(B->rep, NULL, root_arg, err, "cannot open folder: %s", strerror(errno));
    } else {
        root = strdup(root_arg);
        if (!root)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    /* "data/sample/" and "data/sample" give the same paths */
    len = strlen(root);
    while (len > 1 && root[len - 1] == '/')
        root[--len] = '\0';
    /* "." adds no "./" in front of every path */
    prefix = strcmp(root, ".") ? root : "";
    /* a relative root as seen from the index's folder */
    if (!B->o->absolute_paths)
        rel = root_for_index(root, B->o->index_path);
    root_folder_name(root, folder, sizeof(folder));

    B->root_candidates = 0;
    {
        size_t before = B->rep->n_problems;
        ret = walk(B, root, prefix, rel, folder, 0, err);
        if (ret < 0)
            goto done;
        /* a root that could not be read already has its problem */
        if (B->root_candidates == 0 && B->rep->n_problems == before)
            ret = problem(B->rep, NULL, root, err,
                          "no RAVDESS files found (want Actor_XX/MM-VV-EE-II-SS-RR-AA.mp4 or "
                          ".wav below this folder)");
    }
done:
    free(rel);
    free(root);
    return ret;
}

static int cmp_file(const void *a, const void *b)
{
    const struct file *x = a, *y = b;
    int c = strcmp(x->name.id, y->name.id);
    if (c)
        return c;
    if (x->name.modality != y->name.modality)
        return x->name.modality - y->name.modality;
    return strcmp(x->path, y->path);
}

static int add_clip(struct rvt_index *idx, size_t *cap, const struct rvt_ravdess_name *n,
                    const struct rvt_index_options *o, int label, const char *video,
                    const char *audio, struct rvt_error *err)
{
    struct rvt_clip *c;
    if (idx->n == RVT_INDEX_MAX_CLIPS)
        return rvt_error_set(err, RVT_ELIMIT, "more than %d clips", RVT_INDEX_MAX_CLIPS);
    if (idx->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 256;
        c = realloc(idx->clips, nc * sizeof(*c));
        if (!c)
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        idx->clips = c;
        *cap = nc;
    }
    c = &idx->clips[idx->n];
    memset(c, 0, sizeof(*c));
    memcpy(c->id, n->id, RVT_ID_LEN);
    c->actor = n->actor;
    c->vocal_channel = n->vocal_channel;
    c->emotion = n->emotion;
    c->intensity = n->intensity;
    c->statement = n->statement;
    c->repetition = n->repetition;
    c->female = n->actor % 2 == 0;
    c->label = label;
    snprintf(c->label_name, sizeof(c->label_name), "%s", o->labels.names[label]);
    c->split = rvt_splits_of(&o->splits, n->actor);
    c->video_path = strdup(video ? video : "");
    c->audio_path = strdup(audio ? audio : "");
    idx->n++; /* counted now so release frees whichever strdup worked */
    if (!c->video_path || !c->audio_path)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    return 0;
}

/* Turns the sorted files into clips (or problems). */
static int pair(struct builder *B, struct rvt_index *idx, struct rvt_error *err)
{
    const struct rvt_index_options *o = B->o;
    struct rvt_index_report *rep = B->rep;
    bool actor_in[3][RVT_ACTOR_MAX + 1];
    size_t i = 0, j, cap = 0;
    int ret = 0, s, a;

    memset(actor_in, 0, sizeof(actor_in));
    while (i < B->n_files) {
        const struct file *by_mod[4] = {NULL, NULL, NULL, NULL};
        const struct rvt_ravdess_name *n = &B->files[i].name;
        const char *id = n->id, *video = NULL, *audio = NULL;
        bool dup = false;
        int label;

        for (j = i; j < B->n_files && !strcmp(B->files[j].name.id, id); j++) {
            const struct file *f = &B->files[j];
            int m = f->name.modality;
            if (by_mod[m]) {
                dup = true;
                ret = problem(rep, id, f->path, err, "duplicate of '%s' (the same file name twice)",
                              by_mod[m]->path);
                if (ret < 0)
                    return ret;
            } else {
                by_mod[m] = f;
            }
        }
        i = j;
        if (dup)
            continue;
        if (o->vocal && n->vocal_channel != o->vocal) {
            rep->n_vocal_left_out++;
            continue;
        }
        label = rvt_labelset_label(&o->labels, n->emotion);
        if (label < 0) {
            rep->n_calm_dropped++;
            continue;
        }
        switch (o->need) {
        case RVT_INDEX_NEED_AV:
            if (!by_mod[1] && !by_mod[3])
                ret = problem(rep, id, by_mod[2]->path, err,
                              "video-only file without its full-AV mp4 '01-%s.mp4' and wav "
                              "'03-%s.wav'",
                              id, id);
            else if (!by_mod[1])
                ret = problem(rep, id, by_mod[3]->path, err,
                              "no full-AV mp4 '01-%s.mp4' for this wav", id);
            else if (!by_mod[3])
                ret = problem(rep, id, by_mod[1]->path, err, "no wav '03-%s.wav' for this mp4", id);
            else
                video = IPATH(by_mod[1]), audio = IPATH(by_mod[3]);
            break;
        case RVT_INDEX_NEED_AUDIO:
            if (by_mod[3] || by_mod[1])
                audio = IPATH(by_mod[3] ? by_mod[3] : by_mod[1]);
            else
                ret = problem(rep, id, by_mod[2]->path, err,
                              "no wav '03-%s.wav' or full-AV mp4 '01-%s.mp4' (a video-only mp4 "
                              "has no audio)",
                              id, id);
            break;
        case RVT_INDEX_NEED_VIDEO:
            if (by_mod[1] || by_mod[2])
                video = IPATH(by_mod[1] ? by_mod[1] : by_mod[2]);
            else
                ret = problem(rep, id, by_mod[3]->path, err,
                              "no mp4 '01-%s.mp4' or '02-%s.mp4' for this wav", id, id);
            break;
        }
        if (ret < 0)
            return ret;
        if (!video && !audio)
            continue; /* a problem was recorded */
        ret = add_clip(idx, &cap, n, o, label, video, audio, err);
        if (ret < 0)
            return ret;
        s = idx->clips[idx->n - 1].split;
        rep->n_split[s]++;
        actor_in[s][n->actor] = true;
    }
    for (s = 0; s < 3; s++)
        for (a = 1; a <= RVT_ACTOR_MAX; a++)
            rep->n_split_actors[s] += actor_in[s][a];
    return 0;
}

int rvt_index_build(struct rvt_index *idx, struct rvt_index_report *rep,
                    const char *const *roots, int n_roots, const struct rvt_index_options *o,
                    struct rvt_error *err)
{
    struct builder B;
    size_t i;
    int r, ret = 0;

    memset(idx, 0, sizeof(*idx));
    memset(rep, 0, sizeof(*rep));
    memset(&B, 0, sizeof(B));
    B.o = o;
    B.rep = rep;
    for (r = 0; r < n_roots; r++) {
        ret = walk_root(&B, roots[r], err);
        if (ret < 0)
            goto done;
    }
    if (B.n_files)
        qsort(B.files, B.n_files, sizeof(*B.files), cmp_file);
    ret = pair(&B, idx, err);
done:
    for (i = 0; i < B.n_files; i++) {
        free(B.files[i].path);
        free(B.files[i].ipath);
    }
    free(B.files);
    if (ret < 0) {
        rvt_index_release(idx);
        rvt_index_report_release(rep);
    }
    return ret;
}
