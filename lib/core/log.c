#include "core/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* Written once in rvt_log_init()/rvt_log_set_level() by main; read-only after. */
static const char *g_program = "ravdess-tools";
static int g_level = RVT_LOG_INFO;

void rvt_log_init(const char *program)
{
    g_program = program;
}

void rvt_log_set_level(int level)
{
    g_level = level;
}

int rvt_log_level(void)
{
    return g_level;
}

const char *rvt_log_program(void)
{
    return g_program;
}

static void vlog(int level, const char *tag, const char *fmt, va_list ap)
{
    char buf[2048];
    if (level > g_level)
        return;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    /* one fprintf so lines from several threads do not interleave */
    fprintf(stderr, "%s: %s%s\n", g_program, tag, buf);
}

#define DEFINE_LOG(name, level, tag) \
    void name(const char *fmt, ...) \
    { \
        va_list ap; \
        va_start(ap, fmt); \
        vlog(level, tag, fmt, ap); \
        va_end(ap); \
    }

DEFINE_LOG(rvt_errorf, RVT_LOG_ERROR, "")
DEFINE_LOG(rvt_warnf, RVT_LOG_WARN, "warning: ")
DEFINE_LOG(rvt_infof, RVT_LOG_INFO, "")
DEFINE_LOG(rvt_debugf, RVT_LOG_DEBUG, "debug: ")

double rvt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void rvt_progress_start(struct rvt_progress *p, const char *label, size_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->t_start = p->t_last = rvt_now();
    p->last_decile = 0;
    p->tty = isatty(STDERR_FILENO);
    p->enabled = g_level >= RVT_LOG_INFO;
    p->drawn = false;
}

static void draw(struct rvt_progress *p, bool final)
{
    double el = rvt_now() - p->t_start;
    double rate = el > 0 ? p->done / el : 0;
    double frac = p->total ? (double)p->done / p->total : 1.0;

    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30 + 0.5), i;
        for (i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%s: %s [%s] %zu/%zu %5.1f%% %.1f/s %.0fs%s", g_program, p->label, bar,
                p->done, p->total, frac * 100, rate, el, final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %s %zu/%zu (%.0f%%) %.1f/s %.1fs\n", g_program, p->label, p->done,
                p->total, frac * 100, rate, el);
    }
    p->drawn = true;
}

void rvt_progress_update(struct rvt_progress *p, size_t done)
{
    double t;
    if (!p->enabled)
        return;
    p->done = done;
    t = rvt_now();
    if (p->tty) {
        if (t - p->t_last >= 0.1) {
            draw(p, false);
            p->t_last = t;
        }
        return;
    }
    {
        int decile = p->total ? (int)(10 * done / p->total) : 10;
        if (decile > p->last_decile || t - p->t_last >= 10.0) {
            p->last_decile = decile;
            p->t_last = t;
            if (done < p->total)
                draw(p, false);
        }
    }
}

void rvt_progress_end(struct rvt_progress *p)
{
    if (!p->enabled)
        return;
    draw(p, true);
}
