/* Unit tests for lib/store: write/read round trip, atomicity, encoded chunks,
 * attributes, bad input and a full disk (RLIMIT_FSIZE in a child process). */
#include "core/common.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "core/config.h"
#include "core/inputs.h"
#include "core/atomic.h"
#include "store/checkpoint.h"
#include "store/pack.h"
#include "store/store.h"

static char tmpdir[256];

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void clean_dir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

/* Deterministic test values of clip i. */
static float melv(size_t i, size_t k) { return (float)(i * 1000 + k) * 0.5f - 3.0f; }

#define NBIG 12
#define NSMALL 5000

static void test_roundtrip(void)
{
    struct rvt_error err = {0};
    struct rvt_store_field f[] = {
        {"mel", RVT_DTYPE_F32, 2, {64, 300}},
        {"mel_frames", RVT_DTYPE_I32, 0, {0}},
        {"frames", RVT_DTYPE_U8, 4, {1, 8, 8, 3}},
        {"frame_pts", RVT_DTYPE_F64, 1, {2}},
        {"clips/name", RVT_DTYPE_STR, 0, {12}},
        {"clips/big", RVT_DTYPE_I64, 0, {0}},
    };
    struct rvt_store_writer *w = NULL;
    struct rvt_store_reader *r = NULL;
    float *mel = malloc(64 * 300 * sizeof(float)), *back = malloc(64 * 300 * sizeof(float));
    unsigned char frames[192], fback[192];
    double pts[2], pback[2];
    char path[512], id[32], name[12], nback[12], *attr = NULL, **list = NULL;
    const char *classes[] = {"Angry", "Disgust", "Fear"};
    size_t i, k, n_list = 0;
    int ret, bad;
    int32_t nf;
    int64_t big;
    struct rvt_store_field info;

    path_of(path, sizeof(path), "mel.h5");
    ret = rvt_store_create(&w, path, "mel", f, (int)RVT_ARRAY_SIZE(f), &err);
    OK(ret == 0 && w, "create: %s", err.msg);
    OK(rvt_store_set_attr(w, "config", "audio:\n  n_mels: 64\n", &err) == 0, "set_attr");
    OK(rvt_store_set_attr_list(w, "class_names", classes, 3, &err) == 0, "set_attr_list");
    OK(rvt_store_set_deflate(w, 3, &err) == 0, "set_deflate before the first clip");
    OK(!exists(path) && count_entries(tmpdir) == 1, "only a temporary while writing");
    for (i = 0; i < NBIG; i++) {
        const void *data[6];
        for (k = 0; k < 64 * 300; k++)
            mel[k] = melv(i, k);
        for (k = 0; k < 192; k++)
            frames[k] = (unsigned char)(i * 7 + k);
        pts[0] = i * 0.25;
        pts[1] = i * 0.25 + 1;
        nf = (int32_t)(100 + i);
        big = (int64_t)i << 40;
        snprintf(id, sizeof(id), "01-01-%02zu-01-01-01", i);
        snprintf(name, sizeof(name), "n%zu", i * 12345);
        data[0] = mel;
        data[1] = &nf;
        data[2] = frames;
        data[3] = pts;
        data[4] = name;
        data[5] = &big;
        if (rvt_store_append(w, id, data, &err) < 0)
            break;
    }
    OK(i == NBIG, "append %d clips: %s", NBIG, err.msg);
    OK(rvt_store_set_deflate(w, 5, &err) < 0, "set_deflate after the first clip is refused");
    OK(rvt_store_written(w) == NBIG, "written");
    ret = rvt_store_commit(w, &err);
    OK(ret == 0, "commit: %s", err.msg);
    rvt_store_free(&w);
    OK(w == NULL, "free sets NULL");
    OK(exists(path) && count_entries(tmpdir) == 1, "final file, no temporary left");

    ret = rvt_store_open(&r, path, &err);
    OK(ret == 0 && r, "open: %s", err.msg);
    if (!r)
        goto done;
    OK(rvt_store_count(r) == NBIG, "count %zu", rvt_store_count(r));
    OK(!strcmp(rvt_store_id(r, 3), "01-01-03-01-01-01"), "id 3 '%s'", rvt_store_id(r, 3));
    OK(rvt_store_find(r, "01-01-07-01-01-01") == 7, "find");
    OK(rvt_store_find(r, "01-01-99-01-01-01") == -1, "find absent");
    OK(rvt_store_has(r, "mel") && rvt_store_has(r, "clips/name") && !rvt_store_has(r, "nope"),
       "has");
    OK(rvt_store_n_datasets(r) == 6 && !strcmp(rvt_store_dataset_name(r, 0), "clips/big") &&
           !strcmp(rvt_store_dataset_name(r, 5), "mel_frames"),
       "dataset list sorted (%d)", rvt_store_n_datasets(r));
    ret = rvt_store_field_info(r, "mel", &info, &err);
    OK(ret == 0 && info.dtype == RVT_DTYPE_F32 && info.rank == 2 && info.dims[0] == 64 &&
           info.dims[1] == 300,
       "field_info mel");
    ret = rvt_store_field_info(r, "mel_frames", &info, &err);
    OK(ret == 0 && info.dtype == RVT_DTYPE_I32 && info.rank == 0, "field_info mel_frames");
    ret = rvt_store_field_info(r, "clips/name", &info, &err);
    OK(ret == 0 && info.dtype == RVT_DTYPE_STR && info.dims[0] == 12, "field_info string size %d",
       (int)info.dims[0]);
    ret = rvt_store_field_info(r, "frames", &info, &err);
    OK(ret == 0 && info.dtype == RVT_DTYPE_U8 && info.rank == 4 && info.dims[3] == 3,
       "field_info frames");
    bad = 0;
    for (i = 0; i < NBIG; i++) {
        if (rvt_store_read(r, "mel", i, back, &err) < 0 ||
            rvt_store_read(r, "mel_frames", i, &nf, &err) < 0 ||
            rvt_store_read(r, "frames", i, fback, &err) < 0 ||
            rvt_store_read(r, "frame_pts", i, pback, &err) < 0 ||
            rvt_store_read(r, "clips/name", i, nback, &err) < 0 ||
            rvt_store_read(r, "clips/big", i, &big, &err) < 0) {
            bad++;
            break;
        }
        for (k = 0; k < 64 * 300; k++)
            bad += back[k] != melv(i, k);
        for (k = 0; k < 192; k++)
            bad += fback[k] != (unsigned char)(i * 7 + k);
        snprintf(name, sizeof(name), "n%zu", i * 12345);
        bad += nf != (int32_t)(100 + i) || pback[0] != i * 0.25 || pback[1] != i * 0.25 + 1 ||
               strcmp(nback, name) || big != (int64_t)i << 40;
    }
    OK(bad == 0, "every value reads back (%s)", err.msg);
    OK(rvt_store_read(r, "mel", NBIG, back, &err) < 0, "read past the end fails");
    OK(rvt_store_read(r, "nope", 0, back, &err) < 0 && strstr(err.msg, "no dataset 'nope'"),
       "missing dataset: %s", err.msg);
    ret = rvt_store_get_attr(r, "config", &attr, &err);
    OK(ret == 0 && !strcmp(attr, "audio:\n  n_mels: 64\n"), "get_attr config");
    free(attr);
    ret = rvt_store_get_attr(r, "schema_version", &attr, &err);
    OK(ret == 0 && !strcmp(attr, RVT_STORE_SCHEMA_VERSION), "schema_version");
    free(attr);
    ret = rvt_store_get_attr(r, "kind", &attr, &err);
    OK(ret == 0 && !strcmp(attr, "mel"), "kind");
    free(attr);
    ret = rvt_store_get_attr(r, "tool_version", &attr, &err);
    OK(ret == 0 && strstr(attr, RVT_VERSION), "tool_version '%s'", attr ? attr : "");
    free(attr);
    ret = rvt_store_get_attr_list(r, "class_names", &list, &n_list, &err);
    OK(ret == 0 && n_list == 3 && !strcmp(list[2], "Fear"), "get_attr_list");
    rvt_store_list_free(&list, n_list);
    OK(rvt_store_get_attr(r, "class_names", &attr, &err) < 0 && !attr, "a list is not a string");
    OK(rvt_store_get_attr(r, "nope", &attr, &err) < 0 && strstr(err.msg, "no attribute 'nope'"),
       "missing attribute: %s", err.msg);
    OK(rvt_store_field_deflate(r, "mel", &err) == 3, "mel: shuffle+deflate 3, one clip a chunk");
    OK(rvt_store_field_deflate(r, "mel_frames", &err) == -1, "mel_frames: many clips a chunk");

    /* encoded chunks: rvt_store_encode gives the bytes HDF5's pipeline stored */
    {
        struct rvt_store_chunk c = {0}, e = {0};
        struct rvt_store_field mf = {"mel", RVT_DTYPE_F32, 2, {64, 300}};
        void *scratch = malloc(rvt_store_encode_scratch(&mf));
        ret = rvt_store_read_chunk(r, "mel", 5, &c, &err);
        OK(ret == 0 && c.size > 0 && c.size < 64 * 300 * 4, "read_chunk: %s", err.msg);
        for (k = 0; k < 64 * 300; k++)
            mel[k] = melv(5, k);
        ret = rvt_store_encode(&mf, 3, mel, scratch, &e, &err);
        OK(ret == 0 && e.size == c.size && !memcmp(e.data, c.data, c.size) &&
               e.filter_mask == c.filter_mask,
           "encode == HDF5 shuffle+deflate bytes (%zu vs %zu)", e.size, c.size);
        rvt_store_chunk_release(&c);
        rvt_store_chunk_release(&e);
        free(scratch);
    }
done:
    rvt_store_close(&r);
    OK(r == NULL, "close sets NULL");
    free(mel);
    free(back);
}

/* Small fields across several chunks (4096 clips of i32 a chunk), plus encoded appends. */
static void test_many(void)
{
    struct rvt_error err = {0};
    struct rvt_store_field f[] = {
        {"x", RVT_DTYPE_I32, 0, {0}},
        {"big", RVT_DTYPE_F32, 1, {5000}},
    };
    struct rvt_store_writer *w = NULL;
    struct rvt_store_reader *r = NULL;
    struct rvt_store_chunk c = {0};
    float *big = calloc(5000, sizeof(float)), *back = calloc(5000, sizeof(float));
    void *scratch = malloc(rvt_store_encode_scratch(&f[1]));
    char path[512], id[32];
    size_t i;
    int32_t x;
    int bad = 0, ret;

    path_of(path, sizeof(path), "many.h5");
    ret = rvt_store_create(&w, path, "test", f, 2, &err);
    OK(ret == 0, "create many: %s", err.msg);
    for (i = 0; i < NSMALL && ret == 0; i++) {
        const void *data[2] = {&x, NULL};
        const struct rvt_store_chunk *enc[2] = {NULL, &c};
        x = (int32_t)(i * 3);
        big[i % 5000] = (float)i;
        snprintf(id, sizeof(id), "c%06zu", NSMALL - i); /* ids not sorted */
        if (i % 500 == 0) {
            ret = rvt_store_encode(&f[1], rvt_store_deflate(w), big, scratch, &c, &err);
            if (ret == 0)
                ret = rvt_store_append_encoded(w, id, data, enc, &err);
        } else {
            data[1] = big;
            ret = rvt_store_append(w, id, data, &err);
        }
        big[i % 5000] = 0;
    }
    OK(ret == 0, "append %d: %s", NSMALL, err.msg);
    OK(rvt_store_commit(w, &err) == 0, "commit many: %s", err.msg);
    rvt_store_free(&w);
    ret = rvt_store_open(&r, path, &err);
    OK(ret == 0 && rvt_store_count(r) == NSMALL, "reopen many");
    if (r) {
        for (i = 0; i < NSMALL; i++) {
            bad += rvt_store_read(r, "x", i, &x, &err) < 0 || x != (int32_t)(i * 3);
            if (i % 250 == 0) {
                bad += rvt_store_read(r, "big", i, back, &err) < 0 || back[i % 5000] != (float)i;
                back[i % 5000] = 0;
                bad += back[(i + 1) % 5000] != 0;
            }
        }
        OK(bad == 0, "values across chunk boundaries and encoded clips");
        snprintf(id, sizeof(id), "c%06d", NSMALL - 4321);
        OK(rvt_store_find(r, id) == 4321, "find in unsorted ids");
    }
    rvt_store_close(&r);
    rvt_store_chunk_release(&c);
    free(scratch);
    free(big);
    free(back);
}

static void test_abort_and_errors(void)
{
    struct rvt_error err = {0};
    struct rvt_store_field f[] = {{"v", RVT_DTYPE_F32, 1, {4}}};
    struct rvt_store_field dup[] = {{"v", RVT_DTYPE_F32, 0, {0}}, {"v", RVT_DTYPE_F32, 0, {0}}};
    struct rvt_store_field bad_id[] = {{"clips/id", RVT_DTYPE_F32, 0, {0}}};
    struct rvt_store_writer *w = NULL;
    struct rvt_store_reader *r = NULL;
    float v[4] = {1, 2, 3, 4};
    const void *data[1] = {v};
    char path[512], path2[512], longid[100];
    FILE *fp;
    int ret;

    clean_dir();
    path_of(path, sizeof(path), "ab.h5");
    OK(rvt_store_create(&w, path, "t", dup, 2, &err) < 0 && !w, "duplicate field refused");
    OK(rvt_store_create(&w, path, "t", bad_id, 1, &err) < 0, "clips/id is reserved");
    OK(rvt_store_create(&w, "/nonexistent-dir/x.h5", "t", f, 1, &err) < 0 &&
           strstr(err.msg, "nonexistent-dir"),
       "create in a missing folder: %s", err.msg);
    ret = rvt_store_create(&w, path, "t", f, 1, &err);
    rvt_store_append(w, "a", data, &err);
    memset(longid, 'x', 80);
    longid[80] = '\0';
    OK(rvt_store_append(w, longid, data, &err) < 0, "id too long refused: %s", err.msg);
    OK(rvt_store_append(w, "", data, &err) < 0, "empty id refused");
    rvt_store_abort(w);
    OK(!exists(path) && count_entries(tmpdir) == 0, "abort leaves nothing");
    OK(rvt_store_commit(w, &err) < 0, "commit after abort fails");
    rvt_store_free(&w);
    ret = rvt_store_create(&w, path, "t", f, 1, &err);
    rvt_store_append(w, "a", data, &err);
    rvt_store_free(&w);
    OK(!exists(path) && count_entries(tmpdir) == 0, "free without commit leaves nothing");

    /* duplicate ids are caught by the reader */
    ret = rvt_store_create(&w, path, "t", f, 1, &err);
    rvt_store_append(w, "a", data, &err);
    rvt_store_append(w, "a", data, &err);
    rvt_store_commit(w, &err);
    rvt_store_free(&w);
    OK(rvt_store_open(&r, path, &err) < 0 && !r && strstr(err.msg, "appears twice"),
       "duplicate id: %s", err.msg);

    /* an empty store (a run of its own: the store read above is no longer an input) */
    rvt_inputs_reset();
    ret = rvt_store_create(&w, path, "t", f, 1, &err);
    ret = ret ? ret : rvt_store_commit(w, &err);
    rvt_store_free(&w);
    ret = ret ? ret : rvt_store_open(&r, path, &err);
    OK(ret == 0 && rvt_store_count(r) == 0 && rvt_store_has(r, "v"), "empty store: %s", err.msg);
    rvt_store_close(&r);

    path_of(path2, sizeof(path2), "missing.h5");
    OK(rvt_store_open(&r, path2, &err) < 0 && strstr(err.msg, "No such file"), "missing: %s",
       err.msg);
    path_of(path2, sizeof(path2), "text.h5");
    fp = fopen(path2, "w");
    fputs("id,actor\n01,1\n", fp);
    fclose(fp);
    OK(rvt_store_open(&r, path2, &err) < 0 && strstr(err.msg, "not an HDF5 file") &&
           strstr(err.msg, "text.h5"),
       "not HDF5: %s", err.msg);
    /* truncated: the first half of a good store (each case stands for a run of its own:
     * the stores read above are no longer inputs) */
    rvt_inputs_reset();
    {
        struct rvt_store_field g[] = {{"v", RVT_DTYPE_F32, 1, {5000}}};
        float *b = calloc(5000, sizeof(float));
        const void *d[1] = {b};
        char id[16];
        int i;
        struct stat st;
        rvt_store_create(&w, path, "t", g, 1, &err);
        for (i = 0; i < 20; i++) {
            b[i] = (float)i;
            snprintf(id, sizeof(id), "c%d", i);
            rvt_store_append(w, id, d, &err);
        }
        rvt_store_commit(w, &err);
        rvt_store_free(&w);
        stat(path, &st);
        truncate(path, st.st_size / 2);
        free(b);
        ret = rvt_store_open(&r, path, &err);
        OK(ret < 0 && strstr(err.msg, "ab.h5"), "truncated: %s", err.msg);
        rvt_store_close(&r);
    }
    /* another schema version */
    rvt_inputs_reset();
    {
        ret = rvt_store_create(&w, path, "t", f, 1, &err);
        rvt_store_set_attr(w, "schema_version", "99", &err);
        rvt_store_commit(w, &err);
        rvt_store_free(&w);
        OK(rvt_store_open(&r, path, &err) < 0 && strstr(err.msg, "'99'"), "schema: %s", err.msg);
    }
    clean_dir();
}

/* A full disk: a child with RLIMIT_FSIZE gets EFBIG on write. */
static void test_disk_full(void)
{
    char path[512];
    pid_t pid;
    int status = 0;

    clean_dir();
    path_of(path, sizeof(path), "full.h5");
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct rlimit rl = {200000, 200000};
        struct rvt_error err = {0};
        struct rvt_store_field f[] = {{"v", RVT_DTYPE_U8, 1, {100000}}};
        struct rvt_store_writer *w = NULL;
        unsigned char *b = malloc(100000);
        const void *d[1] = {b};
        char id[16];
        int i, ret = 0;
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        for (i = 0; i < 100000; i++)
            b[i] = (unsigned char)(rand() & 255); /* incompressible */
        ret = rvt_store_create(&w, path, "t", f, 1, &err);
        for (i = 0; i < 40 && ret == 0; i++) {
            snprintf(id, sizeof(id), "c%d", i);
            ret = rvt_store_append(w, id, d, &err);
        }
        if (ret == 0)
            ret = rvt_store_commit(w, &err);
        rvt_store_free(&w);
        free(b);
        /* report to the parent: 0 = failed cleanly with a one-line message */
        if (ret < 0 && !strchr(err.msg, '\n') && strstr(err.msg, "full.h5")) {
            fprintf(stderr, "child: %s\n", err.msg);
            _exit(0);
        }
        fprintf(stderr, "child: ret %d: %s\n", ret, err.msg);
        _exit(1);
    }
    waitpid(pid, &status, 0);
    OK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "full disk: clean one-line error");
    OK(!exists(path) && count_entries(tmpdir) == 0, "full disk: nothing left behind");
}

/* Provenance helper: config text, its sha256, deflate from store.deflate, shard. */
static void test_provenance(void)
{
    struct rvt_error err = {0};
    struct rvt_config *cfg = NULL;
    struct rvt_store_field f[] = {{"v", RVT_DTYPE_F32, 2, {100, 100}}};
    struct rvt_store_writer *w = NULL;
    struct rvt_store_reader *r = NULL;
    float *v = calloc(10000, sizeof(float));
    const void *d[1] = {v};
    char path[512], *a = NULL;
    int ret;

    path_of(path, sizeof(path), "prov.h5");
    ret = rvt_config_new_default(&cfg, &err);
    ret = ret ? ret : rvt_config_set(cfg, "store.deflate", "1", &err);
    ret = ret ? ret : rvt_store_create(&w, path, "t", f, 1, &err);
    ret = ret ? ret : rvt_store_set_provenance(w, cfg, "abc", 1, 3, &err);
    OK(ret == 0 && rvt_store_deflate(w) == 1, "provenance: %s", err.msg);
    ret = ret ? ret : rvt_store_append(w, "x", d, &err);
    ret = ret ? ret : rvt_store_commit(w, &err);
    rvt_store_free(&w);
    ret = ret ? ret : rvt_store_open(&r, path, &err);
    OK(ret == 0, "reopen: %s", err.msg);
    if (r) {
        OK(rvt_store_get_attr(r, "shard", &a, &err) == 0 && !strcmp(a, "1/3"), "shard attr");
        free(a);
        OK(rvt_store_get_attr(r, "index_sha256", &a, &err) == 0 && !strcmp(a, "abc"), "index attr");
        free(a);
        OK(rvt_store_get_attr(r, "config_sha256", &a, &err) == 0 && strlen(a) == 64, "config sha");
        free(a);
        OK(rvt_store_field_deflate(r, "v", &err) == 1, "deflate level from store.deflate");
    }
    rvt_store_close(&r);
    rvt_config_free(&cfg);
    free(v);
}

/* rvt_store_decode inverts rvt_store_encode at every level, and honours the filter mask. */
static void test_codec(void)
{
    struct rvt_error err = {0};
    struct rvt_store_field f = {"x", RVT_DTYPE_F64, 2, {33, 101}}; /* odd sizes */
    size_t nb = rvt_store_field_bytes(&f), k;
    double *src = malloc(nb), *dst = malloc(nb);
    void *scratch = malloc(rvt_store_encode_scratch(&f));
    struct rvt_store_chunk c = {0};
    int level, bad = 0;

    for (k = 0; k < nb / 8; k++)
        src[k] = (double)(k % 97) * 0.25;
    for (level = 0; level <= 9; level++) {
        memset(dst, 0, nb);
        if (rvt_store_encode(&f, level, src, scratch, &c, &err) < 0 ||
            rvt_store_decode(&f, level, &c, dst, scratch, &err) < 0 || memcmp(src, dst, nb))
            bad++;
    }
    OK(bad == 0, "decode(encode(x)) == x at levels 0-9: %s", err.msg);
    /* a chunk whose deflate step was skipped (mask bit 1): only shuffled bytes */
    rvt_store_encode(&f, 0, src, scratch, &c, &err);
    {
        unsigned char *b = (unsigned char *)c.data, *sh = malloc(nb);
        size_t n = nb / 8, j;
        for (j = 0; j < 8; j++)
            for (k = 0; k < n; k++)
                sh[j * n + k] = b[k * 8 + j];
        memcpy(c.data, sh, nb);
        c.filter_mask = 2;
        memset(dst, 0, nb);
        OK(rvt_store_decode(&f, 4, &c, dst, scratch, &err) == 0 && !memcmp(src, dst, nb),
           "decode honours a skipped deflate");
        free(sh);
    }
    c.filter_mask = 0;
    c.size = 10;
    OK(rvt_store_decode(&f, 4, &c, dst, scratch, &err) < 0, "corrupt chunk: %s", err.msg);
    rvt_store_chunk_release(&c);
    free(src);
    free(dst);
    free(scratch);
}

static void test_config_diff(void)
{
    struct rvt_error err = {0};
    char key[256], a[256], b[256];
    const char *x = "audio:\n  fmax: 8000\n  n_mels: 64\nimage:\n  width: 224\n";
    const char *y = "audio:\n  fmax: 8000.0\n  n_mels: 64\nimage:\n  width: 80\n";
    const char *z = "audio:\n  fmax: 8000\n  n_mels: 64\n  top_db: 60\n";
    const char *old = "audio:\n  fmax: 8000\n  n_mels: 64\n  top_db: 80\n";
    const char *other = "audio:\n  fmax: 8000\n  n_mels: 64\n  novel_key: 1\n";
    OK(rvt_pack_config_diff(x, y, "audio.", key, sizeof(key), a, b, sizeof(a), &err) == 0,
       "numbers compare by value");
    OK(rvt_pack_config_diff(x, y, "image.", key, sizeof(key), a, b, sizeof(a), &err) == 1 &&
           !strcmp(key, "image.width") && !strcmp(a, "224") && !strcmp(b, "80"),
       "first differing key and both values");
    OK(rvt_pack_config_diff(x, z, "audio.", key, sizeof(key), a, b, sizeof(a), &err) == 1 &&
           !strcmp(key, "audio.top_db") && !strcmp(a, "80") && !strcmp(b, "60"),
       "a key on one side only takes its default on the other: %s %s %s", key, a, b);
    OK(rvt_pack_config_diff(x, old, "audio.", key, sizeof(key), a, b, sizeof(a), &err) == 0,
       "a key absent from an older store equals its default");
    OK(rvt_pack_config_diff(other, x, "audio.", key, sizeof(key), a, b, sizeof(a), &err) == 1 &&
           !strcmp(key, "audio.novel_key") && !strcmp(a, "1") && !strcmp(b, "(absent)"),
       "a key the defaults lack: (absent) on the other side");
}

static bool skip_b(const char *name)
{
    return !strcmp(name, "b");
}

/* The checkpoint writer (in memory, saved through the atomic writer) read back by
 * the checkpoint reader: datasets in name order with their shapes and types, copies
 * of datasets and attributes, every attribute kind; the same calls, the same bytes. */
static void test_checkpoint_io(void)
{
    struct rvt_error err = {0};
    struct rvt_ckpt_writer *w = NULL;
    struct rvt_ckpt *c = NULL, *c2 = NULL;
    struct rvt_atomic a = {0};
    char path[512], path2[512], *s = NULL, **list = NULL, *names[2] = {"x", "y"};
    int64_t d2[2] = {2, 3}, d1[1] = {3}, dims[RVT_CKPT_MAX_RANK];
    int8_t q[6] = {-128, -1, 0, 1, 2, 127}, q2[6];
    float f[3] = {0.5f, -1.0f, 3.25f}, f2[3];
    long v = 0;
    int n = 0, rank = 0, round, ret;
    FILE *fp[2] = {NULL, NULL};

    path_of(path, sizeof(path), "ck.h5");
    path_of(path2, sizeof(path2), "ck2.h5");
    for (round = 0; round < 2; round++) {
        const char *out = round ? path2 : path;
        ret = rvt_atomic_open(&a, out, &err);
        ret = ret ? ret : rvt_ckpt_writer_new(&w, out, &err);
        ret = ret ? ret : rvt_ckpt_write_f32(w, "b.weight", 1, d1, f, &err);
        ret = ret ? ret : rvt_ckpt_write_i8(w, "a.weight", 2, d2, q, &err);
        ret = ret ? ret : rvt_ckpt_set_str(w, "format", "int8", &err);
        ret = ret ? ret : rvt_ckpt_set_strs(w, "names", names, 2, &err);
        ret = ret ? ret : rvt_ckpt_set_i64(w, "n", 42, &err);
        ret = ret ? ret : rvt_ckpt_set_f64(w, "b", 0.25, &err);
        ret = ret ? ret : rvt_ckpt_writer_save(w, &a, out, &err);
        ret = ret ? ret : rvt_atomic_commit(&a, &err);
        rvt_ckpt_writer_free(&w);
        rvt_atomic_abort(&a);
        OK(ret == 0 && !w, "checkpoint writer %d: %s", round, err.msg);
    }
    fp[0] = fopen(path, "rb");
    fp[1] = fopen(path2, "rb");
    if (fp[0] && fp[1]) {
        int x, y;
        do {
            x = fgetc(fp[0]);
            y = fgetc(fp[1]);
        } while (x == y && x != EOF);
        OK(x == y, "the same calls give the same bytes");
    }
    for (n = 0; n < 2; n++)
        if (fp[n])
            fclose(fp[n]);
    remove(path2);

    ret = rvt_ckpt_open(&c, path, &err);
    OK(ret == 0 && rvt_ckpt_count(c) == 2 && !strcmp(rvt_ckpt_key(c, 0), "a.weight") &&
           !strcmp(rvt_ckpt_key(c, 1), "b.weight") && !rvt_ckpt_key(c, 2),
       "reader lists the datasets in name order: %s", err.msg);
    if (ret < 0)
        return;
    OK(rvt_ckpt_shape(c, "a.weight", &rank, dims, &err) == 0 && rank == 2 && dims[0] == 2 &&
           dims[1] == 3, "shape");
    OK(rvt_ckpt_shape(c, "nope", &rank, dims, &err) < 0 && strstr(err.msg, "'nope'"),
       "shape of a missing dataset: %s", err.msg);
    OK(rvt_ckpt_dtype(c, "a.weight") == RVT_CKPT_INT8 && rvt_ckpt_dtype(c, "b.weight") ==
           RVT_CKPT_FLOAT && rvt_ckpt_dtype(c, "nope") == RVT_CKPT_ABSENT, "dtypes");
    OK(rvt_ckpt_read_i8(c, "a.weight", 2, d2, q2, &err) == 0 && !memcmp(q, q2, sizeof(q)),
       "int8 reads back");
    OK(rvt_ckpt_read_f32(c, "b.weight", 1, d1, f2, &err) == 0 && !memcmp(f, f2, sizeof(f)),
       "float32 reads back");
    OK(rvt_ckpt_attr_str(c, "format", &s, &err) == 0 && !strcmp(s, "int8"), "string attribute");
    free(s);
    OK(rvt_ckpt_attr_strings(c, "names", &list, &n, &err) == 0 && n == 2 &&
           !strcmp(list[1], "y"), "string list attribute");
    rvt_ckpt_strings_free(list, n);
    OK(rvt_ckpt_attr_int(c, "n", &v, &err) == 0 && v == 42, "int64 attribute");

    /* copies: one dataset as stored, every attribute but "b" */
    ret = rvt_atomic_open(&a, path2, &err);
    ret = ret ? ret : rvt_ckpt_writer_new(&w, path2, &err);
    ret = ret ? ret : rvt_ckpt_copy_dataset(w, c, "a.weight", &err);
    ret = ret ? ret : rvt_ckpt_copy_attrs(w, c, skip_b, &err);
    OK(ret == 0 && rvt_ckpt_copy_dataset(w, c, "nope", &err) < 0 && strstr(err.msg, "'nope'"),
       "copying a missing dataset fails: %s", err.msg);
    ret = ret ? ret : rvt_ckpt_writer_save(w, &a, path2, &err);
    ret = ret ? ret : rvt_atomic_commit(&a, &err);
    rvt_ckpt_writer_free(&w);
    rvt_atomic_abort(&a);
    ret = ret ? ret : rvt_ckpt_open(&c2, path2, &err);
    OK(ret == 0 && rvt_ckpt_count(c2) == 1 && rvt_ckpt_read_i8(c2, "a.weight", 2, d2, q2, &err) == 0 &&
           !memcmp(q, q2, sizeof(q)) && rvt_ckpt_has_attr(c2, "names") &&
           rvt_ckpt_has_attr(c2, "n") && !rvt_ckpt_has_attr(c2, "b"),
       "copied dataset and attributes: %s", err.msg);
    rvt_ckpt_close(&c2);
    rvt_ckpt_close(&c);
    remove(path);
    remove(path2);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rvt-test-store.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_roundtrip();
    clean_dir();
    test_many();
    test_abort_and_errors();
    test_disk_full();
    test_provenance();
    test_codec();
    test_config_diff();
    test_checkpoint_io();
    clean_dir();
    rmdir(tmpdir);
    return tap_done();
}
