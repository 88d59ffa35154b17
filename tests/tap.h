/*
 * Minimal TAP producer for C unit tests.  Each check prints "ok N - what" or
 * "not ok N - what"; tap_done() prints the plan and returns the exit status.
 * tests/run.sh counts these lines.
 */
#ifndef RVT_TESTS_TAP_H
#define RVT_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3)))
static int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    if (!cond)
        tap_failed++;
    return cond;
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#define OK(cond, ...) tap_ok(!!(cond), __VA_ARGS__)

#endif
