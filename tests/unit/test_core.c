/* Unit tests for lib/core: config layering, atomic files, CSV, pool, shard hash. */
#include "core/common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "../tap.h"
#include "core/atomic.h"
#include "core/config.h"
#include "core/csvio.h"
#include "core/hash.h"
#include "core/inputs.h"
#include "core/cli.h"
#include "core/pool.h"

static char tmpdir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

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

static void test_config(void)
{
    struct rvt_config *c = NULL;
    struct rvt_error err = {0};
    long n = 0, ints[8];
    double d = 0, ds[8];
    int cnt = 0;
    char path[512], h1[65], h2[65];
    char *text;

    OK(rvt_config_new_default(&c, &err) == 0, "default config loads (%s)", err.msg);
    OK(rvt_config_get_int(c, "audio.n_mels", &n, &err) == 0 && n == 64, "audio.n_mels = 64");
    OK(rvt_config_get_int(c, "image.width", &n, &err) == 0 && n == 224, "image.width = 224");
    OK(rvt_config_get_doubles(c, "image.mean", ds, 8, &cnt, &err) == 0 && cnt == 3 &&
           ds[0] == 0.485 && ds[2] == 0.406,
       "image.mean is a 3-list");
    OK(rvt_config_get_ints(c, "split.test_actors", ints, 8, &cnt, &err) == 0 && cnt == 5 &&
           ints[0] == 4 && ints[4] == 24,
       "split.test_actors parses");
    OK(rvt_config_sha256(c, h1, &err) == 0, "hash");

    snprintf(path, sizeof(path), "%s/over.yaml", tmpdir);
    write_file(path, "audio:\n  n_mels: 128\n  fmax: 7600.5\nimage: {mean: [0.5, 0.5, 0.5]}\n");
    OK(rvt_config_load_file(c, path, &err) == 0, "override file loads (%s)", err.msg);
    OK(rvt_config_get_int(c, "audio.n_mels", &n, &err) == 0 && n == 128, "file overrides n_mels");
    OK(rvt_config_get_double(c, "audio.fmax", &d, &err) == 0 && d == 7600.5, "file sets fmax");
    OK(rvt_config_set(c, "audio.n_mels", "40", &err) == 0 &&
           rvt_config_get_int(c, "audio.n_mels", &n, &err) == 0 && n == 40,
       "command line overrides the file");
    OK(rvt_config_assign(c, "split.val_actors=1,2", &err) == 0 &&
           rvt_config_get_ints(c, "split.val_actors", ints, 8, &cnt, &err) == 0 && cnt == 2 &&
           ints[1] == 2,
       "list from the command line");
    OK(rvt_config_set(c, "audio.n_melz", "40", &err) == RVT_EINVAL &&
           strstr(err.msg, "unknown config key 'audio.n_melz'"),
       "unknown key refused: %s", err.msg);
    write_file(path, "audio:\n  bogus: 1\n");
    OK(rvt_config_load_file(c, path, &err) == RVT_EINVAL && strstr(err.msg, "audio.bogus"),
       "unknown key in a file refused: %s", err.msg);
    write_file(path, "audio: [1, 2\n");
    OK(rvt_config_load_file(c, path, &err) == RVT_EFORMAT, "malformed YAML refused: %s", err.msg);
    OK(rvt_config_get_int(c, "labels.set", &n, &err) == RVT_EINVAL, "type error: %s", err.msg);
    rvt_config_set(c, "image.pick", "times=a: b", &err); /* needs quotes */

    /* canonical text round-trips to the same config and hash */
    text = rvt_config_dump(c);
    OK(text != NULL, "dump");
    {
        struct rvt_config *c2 = NULL;
        rvt_config_new(&c2, &err);
        OK(rvt_config_load_string(c2, text, strlen(text), "dump", &err) == 0, "dump reloads (%s)",
           err.msg);
        rvt_config_sha256(c, h1, &err);
        rvt_config_sha256(c2, h2, &err);
        OK(!strcmp(h1, h2), "dump -> load -> dump is stable");
        OK(!strcmp(rvt_config_get(c2, "image.pick"), "times=a: b"), "quoted scalar survives");
        rvt_config_free(&c2);
    }
    free(text);
    rvt_config_free(&c);
    OK(c == NULL, "free sets NULL");
    rvt_config_free(&c);
}

/*
 * A child that writes `line` through rvt_atomic to path until a signal ends it: at
 * most 16 MB (then it waits), so that a writer the test fails to stop cannot fill
 * the disk.  reset: a signal set to its default first (0: none).
 */
static pid_t writer(const char *path, int reset, const char *line)
{
    pid_t pid = fork();

    if (pid == 0) {
        struct rvt_atomic b;
        size_t n;
        if (reset)
            signal(reset, SIG_DFL);
        rvt_atomic_open(&b, path, NULL);
        for (n = 0; n < ((size_t)16 << 20); n += strlen(line)) {
            fputs(line, b.fp);
            fflush(b.fp);
        }
        for (;;)
            pause();
    }
    return pid;
}

/* waitpid with a 10 s limit; on a timeout the child is killed and false returned. */
static bool reap(pid_t pid, int *status)
{
    int k;

    for (k = 0; k < 1000; k++) {
        if (waitpid(pid, status, WNOHANG) == pid)
            return true;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return false;
}

static void test_atomic(void)
{
    struct rvt_atomic a;
    struct rvt_error err = {0};
    char path[512];
    struct stat st;
    pid_t pid;
    int status, before, i;

    snprintf(path, sizeof(path), "%s/out.txt", tmpdir);
    OK(rvt_atomic_open(&a, path, &err) == 0, "atomic open");
    fputs("hello\n", a.fp);
    OK(stat(path, &st) != 0, "nothing under the final name before commit");
    OK(rvt_atomic_commit(&a, &err) == 0 && stat(path, &st) == 0 && st.st_size == 6,
       "commit publishes the file");

    before = count_entries(tmpdir);
    OK(rvt_atomic_open(&a, path, &err) == 0 && (a.tmp_path == NULL) == (count_entries(tmpdir) == before),
       "a plain-file temporary is unnamed (O_TMPFILE) or named, as tmp_path says");
    rvt_atomic_abort(&a);
    OK(count_entries(tmpdir) == before, "abort leaves nothing");
    OK(rvt_atomic_open_named(&a, path, &err) == 0 && a.tmp_path && strstr(a.tmp_path, "/.out.txt.tmp-") &&
           strstr(a.tmp_path, rvt_atomic_host()) && count_entries(tmpdir) == before + 1,
       "a named temporary .NAME.tmp-PID-HOST-XXXXXX");
    rvt_atomic_abort(&a);
    OK(rvt_atomic_open(&a, path, &err) == 0, "atomic open again");
    fputs("partial", a.fp);
    rvt_atomic_abort(&a);
    OK(stat(path, &st) == 0 && st.st_size == 6, "abort keeps the previous file intact");

    /* a writer killed with SIGKILL mid-write leaves the final name untouched */
    snprintf(path, sizeof(path), "%s/killed.txt", tmpdir);
    pid = writer(path, 0, "data data data\n");
    usleep(100000);
    kill(pid, SIGKILL);
    OK(reap(pid, &status), "SIGKILLed writer reaped");
    OK(stat(path, &st) != 0, "SIGKILLed writer: no file under the final name");

    /* SIGTERM and SIGINT (^C): the handler removes the temporary too.  The writer
     * starts from the default disposition: a test run in the background of a
     * non-interactive shell inherits SIGINT ignored, and a tool leaves an ignored
     * signal ignored (below) */
    for (i = 0; i < 2; i++) {
        int sig = i ? SIGINT : SIGTERM;
        const char *name = i ? "SIGINT" : "SIGTERM";
        snprintf(path, sizeof(path), "%s/signalled-%d.txt", tmpdir, sig);
        before = count_entries(tmpdir);
        pid = writer(path, sig, "data\n");
        usleep(100000);
        kill(pid, sig);
        OK(reap(pid, &status) && WIFSIGNALED(status) && WTERMSIG(status) == sig,
           "%s still terminates", name);
        OK(stat(path, &st) != 0 && count_entries(tmpdir) == before,
           "writer ended by %s: no final file, temporary removed", name);
    }

    /* a signal ignored when the process started stays ignored (nohup, a background
     * job): the writer outlives SIGINT, and SIGKILL ends it */
    snprintf(path, sizeof(path), "%s/ignoring.txt", tmpdir);
    signal(SIGINT, SIG_IGN);
    pid = writer(path, 0, "data\n");
    signal(SIGINT, SIG_DFL);
    usleep(100000);
    kill(pid, SIGINT);
    usleep(200000);
    OK(waitpid(pid, &status, WNOHANG) == 0, "an ignored SIGINT stays ignored");
    kill(pid, SIGKILL);
    OK(reap(pid, &status) && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
       "... and SIGKILL ends that writer");
}

struct rows {
    int n;
    char last[3][64];
    size_t last_line;
};

static int on_row(void *ctx, size_t line, int n, char **f, struct rvt_error *err)
{
    struct rows *r = ctx;
    int i;
    r->n++;
    r->last_line = line;
    for (i = 0; i < n && i < 3; i++)
        snprintf(r->last[i], sizeof(r->last[i]), "%s", f[i]);
    return 0;
}

static void test_csv(void)
{
    char path[512];
    FILE *f;
    struct rows r = {0};
    struct rvt_error err = {0};
    char buf[64];

    snprintf(path, sizeof(path), "%s/t.csv", tmpdir);
    f = fopen(path, "w");
    fputs("a,b,c\n", f);
    rvt_csv_put(f, "plain");
    fputc(',', f);
    rvt_csv_put(f, "with, comma");
    fputc(',', f);
    rvt_csv_put(f, "q\"uote");
    fputc('\n', f);
    fclose(f);
    OK(rvt_csv_read(path, on_row, &r, &err) == 0, "csv read (%s)", err.msg);
    OK(r.n == 2 && !strcmp(r.last[1], "with, comma") && !strcmp(r.last[2], "q\"uote") &&
           r.last_line == 2,
       "csv round trip of quoted fields");
    write_file(path, "a,b\n\"unterminated,x\n");
    OK(rvt_csv_read(path, on_row, &r, &err) == RVT_EFORMAT, "malformed csv: %s", err.msg);
    rvt_format_double(buf, sizeof(buf), 0.1);
    OK(!strcmp(buf, "0.1"), "shortest round-trip double: %s", buf);
    rvt_format_double(buf, sizeof(buf), 1.0 / 3);
    OK(strtod(buf, NULL) == 1.0 / 3, "1/3 round-trips: %s", buf);
}

static int sq_work(void *ctx, size_t i, void *slot, int worker, struct rvt_error *err)
{
    *(size_t *)slot = i * i;
    if (i == 77)
        return rvt_error_set(err, RVT_EFORMAT, "item %zu is bad", i);
    return 0;
}

struct emit_ctx {
    size_t next, sum;
    int failures;
    bool in_order;
    size_t stop_at;
};

static int sq_emit(void *ctx, size_t i, void *slot, int st, struct rvt_error *err)
{
    struct emit_ctx *e = ctx;
    if (i != e->next++)
        e->in_order = false;
    if (st < 0)
        e->failures++;
    else
        e->sum += *(size_t *)slot;
    if (i == e->stop_at)
        return rvt_error_set(err, RVT_EINTR, "stopped at %zu", i);
    return 0;
}

static void test_pool(void)
{
    size_t slots_mem[6];
    void *slots[6];
    int j, nth;
    for (j = 0; j < 6; j++)
        slots[j] = &slots_mem[j];
    for (nth = 1; nth <= 3; nth++) {
        struct emit_ctx e = {0, 0, 0, true, (size_t)-1};
        struct rvt_error err = {0};
        size_t want = 0, i;
        for (i = 0; i < 1000; i++)
            want += i == 77 ? 0 : i * i;
        OK(rvt_pool_run(1000, nth, slots, 6, sq_work, sq_emit, &e, &err) == 0 && e.in_order &&
               e.sum == want && e.failures == 1,
           "pool -j %d: in order, all items, failure reported", nth);
        memset(&e, 0, sizeof(e));
        e.in_order = true;
        e.stop_at = 500;
        OK(rvt_pool_run(1000, nth, slots, 6, sq_work, sq_emit, &e, &err) == RVT_EINTR &&
               e.next == 501 && strstr(err.msg, "stopped at 500"),
           "pool -j %d: emit stops the run (%s)", nth, err.msg);
    }
}

static void test_hash(void)
{
    char hex[65];
    rvt_sha256_hex("abc", 3, hex);
    OK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
       "sha256('abc') matches FIPS 180-2");
    OK(rvt_fnv1a64("") == 0xcbf29ce484222325ull, "fnv1a64 offset basis");
    OK(rvt_fnv1a64("a") == 0xaf63dc4c8601ec8cull, "fnv1a64('a') known value");
}

/* Inputs by kind, identity by any name, and the atomic writer refusing an input. */
static void test_inputs(void)
{
    struct rvt_error err = {0};
    struct rvt_atomic a;
    char in[512], dot[600], lnk[512], hard[512], fifo[512], out[512];
    struct stat st;

    rvt_inputs_reset();
    snprintf(in, sizeof(in), "%s/in.csv", tmpdir);
    write_file(in, "a,b\n1,2\n");
    OK(rvt_input_check(tmpdir, &err) == RVT_EIO && strstr(err.msg, "is a directory"),
       "a folder: %s", err.msg);
    OK(rvt_input_check("/dev/zero", &err) == RVT_EIO && strstr(err.msg, "is not a regular file"),
       "/dev/zero: %s", err.msg);
    snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
    OK(mkfifo(fifo, 0600) == 0 && rvt_input_check(fifo, &err) == RVT_EIO &&
           strstr(err.msg, "is not a regular file (a FIFO)"),
       "a FIFO: %s", err.msg);
    unlink(fifo);
    OK(rvt_input_check("/nonexistent/x", &err) == RVT_EIO && strstr(err.msg, "cannot open '/nonexistent/x'"),
       "missing: %s", err.msg);
    OK(rvt_input_check(in, &err) == 0, "a regular file is an input");

    snprintf(dot, sizeof(dot), "%s/./in.csv", tmpdir);
    snprintf(lnk, sizeof(lnk), "%s/link.csv", tmpdir);
    snprintf(hard, sizeof(hard), "%s/hard.csv", tmpdir);
    OK(symlink("in.csv", lnk) == 0 && link(in, hard) == 0, "symlink and hard link");
    OK(rvt_output_check(dot, &err) == RVT_EINVAL && strstr(err.msg, "is the input"), "./x: %s", err.msg);
    OK(rvt_output_check(lnk, &err) == RVT_EINVAL, "a symlink to the input");
    OK(rvt_output_check(hard, &err) == RVT_EINVAL, "a hard link of the input");
    OK(rvt_path_same(in, dot) && rvt_path_same(lnk, in) && rvt_path_same(hard, in), "rvt_path_same by inode");
    snprintf(out, sizeof(out), "%s/new.csv", tmpdir);
    snprintf(dot, sizeof(dot), "%s/./new.csv", tmpdir);
    OK(rvt_path_same(out, dot) && !rvt_path_same(out, in), "rvt_path_same by directory entry");
    OK(rvt_output_check(out, &err) == 0, "a new name is no input");

    OK(rvt_atomic_open(&a, hard, &err) == RVT_EINVAL, "atomic open refuses an input: %s", err.msg);
    /* an output that becomes an input after it was opened: refused at commit */
    OK(rvt_atomic_open(&a, out, &err) == 0, "atomic open of a new name");
    fputs("x\n", a.fp);
    write_file(out, "input\n");
    OK(rvt_input_check(out, &err) == 0 && rvt_atomic_commit(&a, &err) == RVT_EINVAL &&
           stat(out, &st) == 0 && st.st_size == 6,
       "commit refuses an output that became an input, which keeps its bytes");
    OK(stat(in, &st) == 0 && st.st_size == 8, "the input is unchanged");
    unlink(lnk);
    unlink(hard);
    unlink(out);
    /* the noted name is gone and its inode lives on under another name (as when a
     * new file gets a freed inode): reading the new name makes it the input */
    rvt_inputs_reset();
    OK(rvt_input_check(in, &err) == 0 && link(in, hard) == 0 && unlink(in) == 0 &&
           rvt_output_check(hard, &err) == 0,
       "a noted name that is gone is no input");
    OK(rvt_input_check(hard, &err) == 0 && rvt_output_check(hard, &err) == RVT_EINVAL &&
           strstr(err.msg, "hard.csv"),
       "the same inode read under a new name is the input: %s", err.msg);
    unlink(hard);
    rvt_inputs_reset();
}

/* A SIGKILLed writer of a named temporary leaves it; the next open sweeps it. */
static void test_sweep(void)
{
    struct rvt_atomic a;
    struct rvt_error err = {0};
    char dir[512], path[600], other[700];
    pid_t pid;
    int status, fds[2];

    snprintf(dir, sizeof(dir), "%s/sweep", tmpdir);
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/out.h5", dir);
    if (pipe(fds) != 0)
        return;
    pid = fork();
    if (pid == 0) {
        struct rvt_atomic b;
        rvt_atomic_open_named(&b, path, NULL);
        if (write(fds[1], "1", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    OK(read(fds[0], other, 1) == 1, "child opened a named temporary");
    close(fds[0]);
    close(fds[1]);
    OK(count_entries(dir) == 1, "a named temporary exists while the writer runs");
    OK(rvt_atomic_sweep(dir, &err) == 0 && count_entries(dir) == 1, "a live writer's temporary is kept");
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    OK(count_entries(dir) == 1, "SIGKILL leaves the named temporary");
    /* another host's temporary of a dead pid, and an unrelated dot file, stay */
    snprintf(other, sizeof(other), "%s/.out.h5.tmp-%d-otherhost-abcdef", dir, (int)pid);
    write_file(other, "x");
    snprintf(other, sizeof(other), "%s/.keep.tmp-notapid", dir);
    write_file(other, "x");
    OK(rvt_atomic_open(&a, path, &err) == 0, "the next run opens the same output");
    OK(count_entries(dir) == 2, "and swept the dead writer's temporary only (%d left)", count_entries(dir));
    OK(rvt_atomic_commit(&a, &err) == 0 && count_entries(dir) == 3, "commit publishes the file");
    OK(strlen(rvt_atomic_host()) > 0 && !strchr(rvt_atomic_host(), '/') && !strchr(rvt_atomic_host(), '-'),
       "host name is safe in a file name: %s", rvt_atomic_host());
}

/* --config repeats apply in order; --set refused for keys the tool does not read. */
static void test_cli_config(void)
{
    struct rvt_cli cli;
    char p1[512], p2[512];
    const char *v;
    int r;

    snprintf(p1, sizeof(p1), "%s/a.yaml", tmpdir);
    snprintf(p2, sizeof(p2), "%s/b.yaml", tmpdir);
    write_file(p1, "audio:\n  n_mels: 40\n  hop: 256\n");
    write_file(p2, "audio:\n  n_mels: 80\n");
    rvt_cli_init(&cli, "test", "");
    rvt_cli_handle(&cli, 'c', p1);
    rvt_cli_handle(&cli, 'c', p2);
    r = rvt_cli_finish(&cli);
    OK(r == RVT_CLI_HANDLED && (v = rvt_config_get(cli.cfg, "audio.n_mels")) && !strcmp(v, "80") &&
           (v = rvt_config_get(cli.cfg, "audio.hop")) && !strcmp(v, "256"),
       "two --config files apply in order");
    rvt_cli_release(&cli);

    rvt_cli_init(&cli, "test", "");
    rvt_cli_keys(&cli, "audio. store.");
    rvt_cli_handle(&cli, RVT_OPT_SET, "image.width=3");
    OK(rvt_cli_finish(&cli) == RVT_CLI_EXIT && cli.exit_code == 2, "--set of a key the tool does not read: exit 2");
    rvt_cli_release(&cli);
    rvt_cli_init(&cli, "test", "");
    rvt_cli_keys(&cli, "audio. store.");
    rvt_cli_handle(&cli, RVT_OPT_SET, "store.deflate=1");
    OK(rvt_cli_finish(&cli) == RVT_CLI_HANDLED, "--set of a key it reads");
    rvt_cli_release(&cli);
}

static void test_rules(void)
{
    static const char *bad[] = {"audio.n_mels=abc", "audio.n_mels=0", "audio.n_mels=1025", "audio.top_db=x",
                                "image.mean=1,2", "image.pick=foo", "store.deflate=10",
                                "split.val_actors=1,100", "labels.set=seed8", "audio.fft=half",
                                "image.width=-1", "audio.amin=nan", "run.batch=1.5"};
    static const char *good[] = {"audio.top_db=none", "image.pick=times=1.5,2", "image.crop=box=1,2,3,4",
                                 "split.val_actors=[1, 2]", "audio.fmin=30.5", "store.deflate=0"};
    struct rvt_config *c = NULL;
    struct rvt_error err = {0};
    size_t i;

    rvt_config_new_default(&c, &err);
    for (i = 0; i < RVT_ARRAY_SIZE(bad); i++)
        OK(rvt_config_assign(c, bad[i], &err) == RVT_EINVAL && strstr(err.msg, "wants"),
           "refused %s: %s", bad[i], err.msg);
    for (i = 0; i < RVT_ARRAY_SIZE(good); i++)
        OK(rvt_config_assign(c, good[i], &err) == 0, "accepted %s (%s)", good[i], err.msg);
    rvt_config_free(&c);
}

int main(void)
{
    char cmd[300];
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rvt-core-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_config();
    test_atomic();
    test_csv();
    test_pool();
    test_hash();
    test_inputs();
    test_sweep();
    test_cli_config();
    test_rules();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
