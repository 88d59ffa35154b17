/*
 * common.h: included first by every .c file of ravdess-tools.
 *
 * Platform quirks and project-wide basics live here and nowhere else: the error
 * codes every layer returns, struct rvt_error (the caller-provided message
 * buffer), and a few small macros.
 *
 * Error model (three tiers):
 *   - bugs:            assert()/abort()
 *   - runtime failure: return a negative RVT_E* code and fill a struct rvt_error
 *   - tools only:      print "prog: message" and exit with a fixed code (RVT_EXIT_*)
 */
#ifndef RVT_CORE_COMMON_H
#define RVT_CORE_COMMON_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef RVT_VERSION
#define RVT_VERSION "0.0.0"
#endif

#define RVT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RVT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RVT_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define RVT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RVT_UNUSED __attribute__((unused))
#else
#define RVT_PRINTF(f, a)
#define RVT_UNUSED
#endif

/* Library return codes: 0 success, negative failure. */
enum rvt_status {
    RVT_OK = 0,
    RVT_EIO = -1,          /* cannot open/read/write a file */
    RVT_EINVAL = -2,       /* bad argument, option or config value */
    RVT_ENOMEM = -3,       /* allocation failed */
    RVT_EFORMAT = -4,      /* input exists but is malformed */
    RVT_EUNSUPPORTED = -5, /* valid but not handled (codec, sample format, ...) */
    RVT_EMISMATCH = -6,    /* inputs disagree (ids, configs, shapes) */
    RVT_EINTR = -7,        /* interrupted by a signal */
    RVT_ELIMIT = -8,       /* an input-driven size cap was hit */
};

/* Tool exit codes. */
enum rvt_exit {
    RVT_EXIT_OK = 0,
    RVT_EXIT_FAILURE = 1, /* runtime error: bad input, I/O */
    RVT_EXIT_USAGE = 2,   /* bad command line or config */
    RVT_EXIT_SKIPPED = 3, /* --keep-going finished but skipped some clips */
};

/*
 * The message of the last failure, written by the function that failed.
 * Messages are lower case, no final period, subject quoted:
 *   "cannot open 'x.wav': No such file or directory"
 */
struct rvt_error {
    int code;
    char msg[1024];
};

/* Sets err (if not NULL) and returns code, so `return rvt_error_set(err, ...)`. */
int rvt_error_set(struct rvt_error *err, int code, const char *fmt, ...) RVT_PRINTF(3, 4);
/* Prefixes the existing message: "ctx: old message"; returns err->code. */
int rvt_error_prefix(struct rvt_error *err, const char *fmt, ...) RVT_PRINTF(2, 3);
void rvt_error_clear(struct rvt_error *err);
const char *rvt_status_name(int code);

#endif
