/*
 * fuzz_name: the RAVDESS file-name grammar (lib/ravdess/name.c).
 *
 * Input: a path, e.g. "root/Actor_12/01-01-06-01-02-01-12.mp4" (bytes up to the
 * first NUL).  Checks: a name that parses has every field in range, an id that
 * rvt_ravdess_format_id gives back from the fields, is a candidate, and parses
 * the same without the folder check; a name that does not parse says why.
 */
#include "core/common.h"

#include <string.h>

#include "fuzz.h"
#include "ravdess/internal.h"
#include "ravdess/ravdess.h"

static void check_name(const struct rvt_ravdess_name *n)
{
    char id[RVT_ID_LEN];

    FUZZ_CHECK(n->modality >= 1 && n->modality <= 3);
    FUZZ_CHECK(n->vocal_channel >= 1 && n->vocal_channel <= 2);
    FUZZ_CHECK(n->emotion >= 1 && n->emotion <= 8);
    FUZZ_CHECK(n->vocal_channel == RVT_VOCAL_SPEECH || n->emotion <= 6);
    FUZZ_CHECK(n->intensity >= 1 && n->intensity <= 2);
    FUZZ_CHECK(n->emotion != 1 || n->intensity == 1);
    FUZZ_CHECK(n->statement >= 1 && n->statement <= 2);
    FUZZ_CHECK(n->repetition >= 1 && n->repetition <= 2);
    FUZZ_CHECK(n->actor >= 1 && n->actor <= RVT_ACTOR_MAX);
    rvt_ravdess_format_id(id, n->vocal_channel, n->emotion, n->intensity, n->statement,
                          n->repetition, n->actor);
    FUZZ_CHECK(!strcmp(id, n->id));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_string(data, size), *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    struct rvt_ravdess_name a, b;
    struct rvt_error err;
    char reason[64];
    int ra, rb, rr;

    memset(&err, 0, sizeof(err));
    ra = rvt_ravdess_parse(path, &a, &err);
    FUZZ_CHECK(ra == 0 || (ra == RVT_EFORMAT && err.code == ra && err.msg[0]));
    rb = rvt_ravdess_parse_basename(path, &b, &err);
    FUZZ_CHECK(rb == 0 || (rb == RVT_EFORMAT && err.msg[0]));
    if (ra == 0) {
        check_name(&a);
        FUZZ_CHECK(rb == 0 && !memcmp(&a, &b, sizeof(a)));
        FUZZ_CHECK(rvt_ravdess_is_candidate(base));
    }
    if (rb == 0) {
        check_name(&b);
        FUZZ_CHECK(rvt_ravdess_is_candidate(base));
    }
    /* the bare grammar with a short reason buffer: truncates, never overflows */
    rr = rvti_ravdess_parse(base, NULL, &b, reason, 1 + size % sizeof(reason));
    FUZZ_CHECK(rr == rb);
    FUZZ_CHECK(rr == 0 || memchr(reason, 0, 1 + size % sizeof(reason)));
    free(path);
    return 0;
}
