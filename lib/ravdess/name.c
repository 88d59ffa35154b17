/* name.c: the RAVDESS file-name grammar (see ravdess.h). */
#include "core/common.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ravdess/internal.h"
#include "ravdess/ravdess.h"

static const char *const field_names[7] = {
    "modality", "vocal channel", "emotion", "intensity", "statement", "repetition", "actor",
};

static const char *const modality_ext[4] = {NULL, ".mp4", ".mp4", ".wav"};
static const char *const modality_what[4] = {NULL, "full-AV", "video-only", "audio-only"};

void rvt_ravdess_format_id(char id[RVT_ID_LEN], int vocal_channel, int emotion, int intensity,
                           int statement, int repetition, int actor)
{
    assert(vocal_channel >= 0 && vocal_channel <= 99 && emotion >= 0 && emotion <= 99 &&
           intensity >= 0 && intensity <= 99 && statement >= 0 && statement <= 99 &&
           repetition >= 0 && repetition <= 99 && actor >= 0 && actor <= 99);
    snprintf(id, RVT_ID_LEN, "%02d-%02d-%02d-%02d-%02d-%02d", vocal_channel, emotion, intensity,
             statement, repetition, actor);
}

static bool two_digits(const char *s, size_t len)
{
    return len == 2 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]);
}

/* "Actor_NN" -> NN, else -1 */
static int actor_folder(const char *folder)
{
    if (strncmp(folder, "Actor_", 6) || !two_digits(folder + 6, strlen(folder + 6)))
        return -1;
    return (folder[6] - '0') * 10 + (folder[7] - '0');
}

int rvti_ravdess_parse(const char *base, const char *folder, struct rvt_ravdess_name *out,
                       char *reason, size_t n)
{
    const char *dot = strchr(base, '.'), *p = base, *ext;
    size_t stem_len = dot ? (size_t)(dot - base) : strlen(base);
    int v[7], i, nf = 0;
    char val[8];

    memset(out, 0, sizeof(*out));
    ext = base + stem_len;

    /* count the fields first: with the wrong count the names would not line up */
    for (i = 0; (size_t)i < stem_len; i++)
        if (base[i] == '-')
            nf++;
    nf++;
    if (nf != 7) {
        snprintf(reason, n, "name has %d field%s, want 7 (MM-VV-EE-II-SS-RR-AA.ext)", nf,
                 nf == 1 ? "" : "s");
        return RVT_EFORMAT;
    }
    for (i = 0; i < 7; i++) {
        const char *end = (i < 6) ? strchr(p, '-') : base + stem_len;
        size_t len = (size_t)(end - p);
        if (!two_digits(p, len)) {
            snprintf(reason, n, "%s '%.*s' is not two digits", field_names[i],
                     (int)RVT_MIN(len, 16), p);
            return RVT_EFORMAT;
        }
        v[i] = (p[0] - '0') * 10 + (p[1] - '0');
        p = end + 1;
    }

#define BAD(i, ...) \
    do { \
        snprintf(val, sizeof(val), "%02d", v[i]); \
        snprintf(reason, n, __VA_ARGS__); \
        return RVT_EFORMAT; \
    } while (0)

    if (v[0] < 1 || v[0] > 3)
        BAD(0, "modality '%s' is not 01 (full-AV), 02 (video-only) or 03 (audio-only)", val);
    if (v[1] < 1 || v[1] > 2)
        BAD(1, "vocal channel '%s' is not 01 (speech) or 02 (song)", val);
    if (v[2] < 1 || v[2] > 8)
        BAD(2, "emotion '%s' is not 01-08", val);
    if (v[1] == RVT_VOCAL_SONG && v[2] > 6)
        BAD(2, "emotion '%s' (%s) does not occur in song (vocal channel 02 has emotions 01-06)",
            val, rvt_emotion_names[v[2]]);
    if (v[3] < 1 || v[3] > 2)
        BAD(3, "intensity '%s' is not 01 (normal) or 02 (strong)", val);
    if (v[3] == 2 && v[2] == 1)
        BAD(3, "intensity '%s' (strong) does not occur with emotion '01' (neutral)", val);
    if (v[4] < 1 || v[4] > 2)
        BAD(4, "statement '%s' is not 01 or 02", val);
    if (v[5] < 1 || v[5] > 2)
        BAD(5, "repetition '%s' is not 01 or 02", val);
    if (v[6] < 1)
        BAD(6, "actor '%s' is not 01-99", val);
#undef BAD

    if (strcmp(ext, modality_ext[v[0]])) {
        if (!*ext)
            snprintf(reason, n, "extension is missing, want '%s' for modality '%02d' (%s)",
                     modality_ext[v[0]], v[0], modality_what[v[0]]);
        else
            snprintf(reason, n, "extension '%.32s' is not '%s' (modality '%02d' is %s)", ext,
                     modality_ext[v[0]], v[0], modality_what[v[0]]);
        return RVT_EFORMAT;
    }

    if (folder) {
        int fa = actor_folder(folder);
        if (fa < 0) {
            if (*folder)
                snprintf(reason, n, "folder '%.64s' is not Actor_%02d (actor '%02d')", folder, v[6],
                         v[6]);
            else
                snprintf(reason, n, "file is not in an Actor_%02d folder (actor '%02d')", v[6], v[6]);
            return RVT_EFORMAT;
        }
        if (fa != v[6]) {
            snprintf(reason, n, "actor '%02d' does not match its folder '%s'", v[6], folder);
            return RVT_EFORMAT;
        }
    }

    out->modality = v[0];
    out->vocal_channel = v[1];
    out->emotion = v[2];
    out->intensity = v[3];
    out->statement = v[4];
    out->repetition = v[5];
    out->actor = v[6];
    memcpy(out->id, base + 3, RVT_ID_LEN - 1);
    out->id[RVT_ID_LEN - 1] = '\0';
    return 0;
}

static int parse_path(const char *path, bool check_folder, struct rvt_ravdess_name *out,
                      struct rvt_error *err)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    char folder[256] = "", reason[512];
    int ret;

    if (slash) {
        const char *f = slash;
        size_t len;
        while (f > path && f[-1] != '/')
            f--;
        len = (size_t)(slash - f);
        if (len < sizeof(folder)) {
            memcpy(folder, f, len);
            folder[len] = '\0';
        }
    }
    ret = rvti_ravdess_parse(base, check_folder ? folder : NULL, out, reason, sizeof(reason));
    if (ret < 0)
        return rvt_error_set(err, ret, "'%s': %s", path, reason);
    return 0;
}

int rvt_ravdess_parse(const char *path, struct rvt_ravdess_name *out, struct rvt_error *err)
{
    return parse_path(path, true, out, err);
}

int rvt_ravdess_parse_basename(const char *path, struct rvt_ravdess_name *out,
                               struct rvt_error *err)
{
    return parse_path(path, false, out, err);
}

bool rvt_ravdess_is_candidate(const char *base)
{
    const char *dot = strchr(base, '.'), *last = strrchr(base, '.');
    size_t stem_len = dot ? (size_t)(dot - base) : strlen(base), i;
    bool dash = false;

    if (last && (!strcasecmp(last, ".mp4") || !strcasecmp(last, ".wav")))
        return true;
    if (!stem_len)
        return false;
    for (i = 0; i < stem_len; i++) {
        if (base[i] == '-')
            dash = true;
        else if (!isdigit((unsigned char)base[i]))
            return false;
    }
    return dash;
}
