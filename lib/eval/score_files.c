/* score_files.c: score's three outputs, all or none (score.h: rvt_score_write_files). */
#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic.h"
#include "eval/score.h"

enum { OUT_METRICS, OUT_CONFUSION, OUT_SVG, N_OUT };

/* A device or FIFO (/dev/null): rvt_atomic writes it in place; never unlink it. */
static bool is_special(const char *path)
{
    struct stat st;
    return strcmp(path, "-") && stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

/* Writes the three outputs: all committed, or none left behind. */
int rvt_score_write_files(const struct rvt_score *s, char *const paths[3], struct rvt_error *err)
{
    struct rvt_atomic out[N_OUT];
    bool committed[N_OUT] = {false, false, false};
    int i, ret = 0;

    memset(out, 0, sizeof(out));
    for (i = 0; i < N_OUT; i++)
        out[i].slot = -1;
    for (i = 0; i < N_OUT && ret >= 0; i++)
        ret = rvt_atomic_open(&out[i], paths[i], err);
    if (ret < 0)
        goto done;
    if ((i = OUT_METRICS, rvt_score_write_metrics(out[i].fp, s) < 0) ||
        (i = OUT_CONFUSION, rvt_score_write_confusion_csv(out[i].fp, s) < 0) ||
        (i = OUT_SVG, rvt_score_write_confusion_svg(out[i].fp, s) < 0)) {
        ret = rvt_error_set(err, RVT_EIO, "cannot write '%s': %s", paths[i], strerror(errno));
        goto done;
    }
    for (i = 0; i < N_OUT && ret >= 0; i++) {
        bool renamed = !out[i].in_place;
        ret = rvt_atomic_commit(&out[i], err);
        committed[i] = ret >= 0 && renamed && !is_special(paths[i]);
    }
    if (ret < 0)
        /* a later output failed: take back the files already renamed into place */
        for (i = 0; i < N_OUT; i++)
            if (committed[i])
                unlink(paths[i]);
done:
    for (i = 0; i < N_OUT; i++)
        rvt_atomic_abort(&out[i]);
    return ret;
}
