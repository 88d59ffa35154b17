/*
 * log.h: messages and progress on stderr.
 *
 *   rvt_log_init("extract-mel");     once, in main
 *   rvt_log_set_level(RVT_LOG_WARN); -q
 *   rvt_errorf("cannot open '%s': %s", path, why);  -> "extract-mel: cannot open ..."
 *
 *   struct rvt_progress p;
 *   rvt_progress_start(&p, "mel", n_clips);
 *   for (...) rvt_progress_update(&p, done);
 *   rvt_progress_end(&p);
 *
 * Progress is a redrawn bar when stderr is a terminal and a line every 10 % (or
 * every 10 s) otherwise; nothing below RVT_LOG_INFO.  Thread rule: call progress
 * functions from one thread (the one that emits results).
 */
#ifndef RVT_CORE_LOG_H
#define RVT_CORE_LOG_H

#include "core/common.h"

enum rvt_log_level {
    RVT_LOG_ERROR = 0, /* -q: errors only */
    RVT_LOG_WARN = 1,
    RVT_LOG_INFO = 2,  /* default: progress, summaries */
    RVT_LOG_DEBUG = 3, /* -v */
};

/* Written once by main before any thread starts; read-only after. */
void rvt_log_init(const char *program);
void rvt_log_set_level(int level);
int rvt_log_level(void);
const char *rvt_log_program(void);

void rvt_errorf(const char *fmt, ...) RVT_PRINTF(1, 2);
void rvt_warnf(const char *fmt, ...) RVT_PRINTF(1, 2);
void rvt_infof(const char *fmt, ...) RVT_PRINTF(1, 2);
void rvt_debugf(const char *fmt, ...) RVT_PRINTF(1, 2);

struct rvt_progress {
    const char *label;
    size_t total, done;
    double t_start, t_last;
    int last_decile;
    bool tty, enabled, drawn;
};

void rvt_progress_start(struct rvt_progress *p, const char *label, size_t total);
void rvt_progress_update(struct rvt_progress *p, size_t done);
void rvt_progress_end(struct rvt_progress *p);

/* Monotonic seconds. */
double rvt_now(void);

#endif
