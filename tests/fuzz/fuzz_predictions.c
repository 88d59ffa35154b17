/*
 * fuzz_predictions: the predictions.csv reader (lib/eval/predictions.c).
 *
 * Input: one to three predictions files separated by NUL bytes, read in order
 * into one struct rvt_predictions (as score reads its folds).  Checks after
 * each file: a failed read leaves exactly the files read before; every row's
 * label, pred, split and file index is in range and its probabilities are
 * finite, >= 0 and sum to 1 within the tolerance.
 */
#include "core/common.h"

#include <math.h>
#include <string.h>

#include "eval/predictions.h"
#include "fuzz.h"

static void check(const struct rvt_predictions *p)
{
    size_t i;
    int c;

    FUZZ_CHECK(p->n_classes == 0 || p->n_classes >= 2);
    FUZZ_CHECK(p->n_rows <= p->cap && p->n_splits <= RVT_PRED_MAX_SPLITS);
    FUZZ_CHECK((p->n_classes == 0) == (p->n_files == 0) && (p->n_files == 0) == (p->n_rows == 0));
    for (c = 0; c < p->n_classes; c++)
        FUZZ_CHECK(rvt_predictions_class(p, p->classes[c]) == c);
    for (c = 0; c < p->n_splits; c++)
        FUZZ_CHECK(rvt_predictions_split(p, p->splits[c]) == c && strcmp(p->splits[c], "all"));
    for (i = 0; i < p->n_rows; i++) {
        double sum = 0;
        FUZZ_CHECK(p->label[i] >= 0 && p->label[i] < p->n_classes);
        FUZZ_CHECK(p->pred[i] >= 0 && p->pred[i] < p->n_classes);
        FUZZ_CHECK(p->split[i] >= 0 && p->split[i] < p->n_splits);
        FUZZ_CHECK(p->file[i] >= 0 && p->file[i] < p->n_files);
        FUZZ_CHECK(i == 0 || p->file[i] >= p->file[i - 1]);
        for (c = 0; c < p->n_classes; c++) {
            double v = p->prob[i * (size_t)p->n_classes + c];
            FUZZ_CHECK(isfinite(v) && v >= 0);
            sum += v;
        }
        FUZZ_CHECK(fabs(sum - 1) <= RVT_PRED_SUM_TOL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rvt_predictions p;
    struct rvt_error err;
    size_t off = 0;
    int k;

    rvt_predictions_init(&p);
    for (k = 0; k < 3 && off <= size; k++) {
        const uint8_t *nul = memchr(data + off, 0, size - off);
        size_t len = nul ? (size_t)(nul - (data + off)) : size - off;
        int files = p.n_files, classes = p.n_classes, ret;
        size_t rows = p.n_rows;

        memset(&err, 0, sizeof(err));
        ret = rvt_predictions_read(&p, fuzz_path(k, data + off, len), &err);
        if (ret < 0) {
            FUZZ_CHECK(err.code == ret && err.msg[0]);
            FUZZ_CHECK(p.n_files == files && p.n_rows == rows && p.n_classes == classes);
        } else {
            FUZZ_CHECK(p.n_files == files + 1 && p.n_rows > rows);
        }
        check(&p);
        if (!nul)
            break;
        off += len + 1;
    }
    rvt_predictions_release(&p);
    return 0;
}
