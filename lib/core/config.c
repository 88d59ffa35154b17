#include "core/common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/config.h"
#include "core/hash.h"
#include "core/inputs.h"

struct entry {
    char *key;   /* owned */
    char *value; /* owned; list items joined by ", " */
    bool is_list;
};

int rvti_config_check(const char *key, const char *value, bool is_list, const char *where,
                      struct rvt_error *err);

struct rvt_config {
    struct entry *e; /* owned, n used of cap */
    int n, cap;
};

int rvt_config_new(struct rvt_config **out, struct rvt_error *err)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : rvt_error_set(err, RVT_ENOMEM, "out of memory");
}

int rvt_config_new_default(struct rvt_config **out, struct rvt_error *err)
{
    int ret = rvt_config_new(out, err);
    if (ret < 0)
        return ret;
    ret = rvt_config_load_string(*out, rvt_default_config_yaml, strlen(rvt_default_config_yaml),
                                 "built-in default config", err);
    if (ret < 0)
        rvt_config_free(out);
    return ret;
}

void rvt_config_free(struct rvt_config **cfg)
{
    int i;
    if (!cfg || !*cfg)
        return;
    for (i = 0; i < (*cfg)->n; i++) {
        free((*cfg)->e[i].key);
        free((*cfg)->e[i].value);
    }
    free((*cfg)->e);
    free(*cfg);
    *cfg = NULL;
}

static struct entry *find(const struct rvt_config *cfg, const char *key)
{
    int i;
    for (i = 0; i < cfg->n; i++)
        if (!strcmp(cfg->e[i].key, key))
            return &cfg->e[i];
    return NULL;
}

/* strict: the key must exist.  The first load into an empty config is not strict. */
static int put(struct rvt_config *cfg, const char *key, const char *value, bool is_list,
               bool strict, const char *where, struct rvt_error *err)
{
    struct entry *e = find(cfg, key);
    char *v;

    if (!e && strict)
        return rvt_error_set(err, RVT_EINVAL, "%s: unknown config key '%s'", where, key);
    if (e && e->is_list != is_list && strict)
        return rvt_error_set(err, RVT_EINVAL, "%s: config key '%s' wants %s", where, key,
                             e->is_list ? "a list" : "a single value");
    if (strict) {
        int ret = rvti_config_check(key, value, is_list, where, err);
        if (ret < 0)
            return ret;
    }
    v = strdup(value);
    if (!v)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    if (e) {
        free(e->value);
        e->value = v;
        return 0;
    }
    if (cfg->n >= RVT_CONFIG_MAX_KEYS) {
        free(v);
        return rvt_error_set(err, RVT_ELIMIT, "%s: more than %d config keys", where,
                             RVT_CONFIG_MAX_KEYS);
    }
    if (cfg->n == cfg->cap) {
        int cap = cfg->cap ? 2 * cfg->cap : 32;
        struct entry *ne = realloc(cfg->e, cap * sizeof(*ne));
        if (!ne) {
            free(v);
            return rvt_error_set(err, RVT_ENOMEM, "out of memory");
        }
        cfg->e = ne;
        cfg->cap = cap;
    }
    e = &cfg->e[cfg->n];
    e->key = strdup(key);
    if (!e->key) {
        free(v);
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    }
    e->value = v;
    e->is_list = is_list;
    cfg->n++;
    return 0;
}

/*
 * The values each key of configs/default.yaml may take, checked whenever a key
 * is set over the default (config files and the command line), so a bad value
 * is refused by every tool, --print-config included, whether or not the tool
 * reads the key.  The tools check again what depends on several keys (fmax <=
 * sr / 2, fold < folds).  A key missing here (a new one) is not checked: add its
 * row with its row in schemas/config.md.
 */
enum rule_type {
    RULE_INT,     /* integer in [lo, hi] */
    RULE_NUM,     /* finite number in [lo, hi] */
    RULE_ENUM,    /* one of the words of `words` */
    RULE_INTS,    /* list of integers in [lo, hi] */
    RULE_NUMS,    /* list of exactly n_items finite numbers in [lo, hi] */
    RULE_NUM_OR,  /* a number in [lo, hi], or the word `words` */
    RULE_PREFIX,  /* one of the words, or starts with one of the prefixes (word ending in '=') */
};

struct rule {
    const char *key;
    enum rule_type type;
    double lo, hi;
    const char *words; /* space-separated */
    int n_items;
};

static const struct rule rules[] = {
    {"labels.set", RULE_ENUM, 0, 0, "seed7 native8", 0},
    {"labels.calm", RULE_ENUM, 0, 0, "neutral drop", 0},
    {"corpus.modality", RULE_ENUM, 0, 0, "av audio video", 0},
    {"corpus.vocal", RULE_ENUM, 0, 0, "speech song all", 0},
    {"split.val_actors", RULE_INTS, 1, 99, NULL, 0},
    {"split.test_actors", RULE_INTS, 1, 99, NULL, 0},
    {"split.folds", RULE_INT, 0, 99, NULL, 0},
    {"split.fold", RULE_INT, 0, 98, NULL, 0},
    {"image.width", RULE_INT, 1, 16384, NULL, 0},
    {"image.height", RULE_INT, 1, 16384, NULL, 0},
    {"image.frames", RULE_INT, 1, 256, NULL, 0},
    {"image.pick", RULE_PREFIX, 0, 0, "middle uniform times= cv-middle", 0},
    {"image.crop", RULE_PREFIX, 0, 0, "none center box=", 0},
    {"image.convert", RULE_ENUM, 0, 0, "accurate opencv pyav ffmpeg", 0},
    {"image.resize", RULE_ENUM, 0, 0, "pil opencv", 0},
    {"image.jpeg_quality", RULE_INT, 0, 100, NULL, 0},
    {"image.mean", RULE_NUMS, -1e6, 1e6, NULL, 3},
    {"image.std", RULE_NUMS, 1e-12, 1e6, NULL, 3},
    {"audio.sr", RULE_INT, 1000, 768000, NULL, 0},
    {"audio.n_fft", RULE_INT, 16, 65536, NULL, 0},
    {"audio.hop", RULE_INT, 1, 65536, NULL, 0},
    {"audio.n_mels", RULE_INT, 1, 1024, NULL, 0},
    {"audio.fmin", RULE_NUM, 0, 384000, NULL, 0},
    {"audio.fmax", RULE_NUM, 0, 384000, NULL, 0},
    {"audio.top_db", RULE_NUM_OR, 0, 1e6, "none", 0},
    {"audio.amin", RULE_NUM, 1e-30, 1e30, NULL, 0},
    {"audio.ref", RULE_NUM, 1e-30, 1e30, NULL, 0},
    {"audio.max_len", RULE_INT, 1, 1000000, NULL, 0},
    {"audio.preemphasis", RULE_NUM, -10, 10, NULL, 0},
    {"audio.noise_level", RULE_NUM, 0, 1e6, NULL, 0},
    {"audio.noise_seed", RULE_INT, -9.2e18, 9.2e18, NULL, 0},
    {"audio.res_type", RULE_ENUM, 0, 0, "soxr_vhq soxr_hq soxr_mq soxr_lq soxr_qq", 0},
    {"audio.fft", RULE_ENUM, 0, 0, "double float", 0},
    {"audio.min_samples", RULE_INT, 1, 1073741824, NULL, 0},
    {"audio.max_seconds", RULE_NUM, 0.001, 86400, NULL, 0},
    {"model.audio_attention", RULE_ENUM, 0, 0, "replace scale", 0},
    {"run.batch", RULE_INT, 1, 1000000, NULL, 0},
    {"store.deflate", RULE_INT, 0, 9, NULL, 0},
};

static bool is_int(const char *s, double lo, double hi)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    return !errno && end != s && !*end && (double)v >= lo && (double)v <= hi;
}

static bool is_num(const char *s, double lo, double hi)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    return !errno && end != s && !*end && isfinite(v) && v >= lo && v <= hi;
}

/* Is s one of the space-separated words (a word ending in '=' matches as a prefix)? */
static bool is_word(const char *s, const char *words, bool prefixes)
{
    const char *p = words;
    while (*p) {
        size_t n = strcspn(p, " ");
        if ((strlen(s) == n && !strncmp(s, p, n)) ||
            (prefixes && p[n - 1] == '=' && !strncmp(s, p, n) && s[n]))
            return true;
        p += n;
        p += strspn(p, " ");
    }
    return false;
}

/* "%g" without the exponent for the integer bounds people type */
static void fmt_num(char *b, size_t n, double v)
{
    if (fabs(v) < 1e15 && v == floor(v))
        snprintf(b, n, "%.0f", v);
    else
        snprintf(b, n, "%g", v);
}

int rvti_config_check(const char *key, const char *value, bool is_list, const char *where,
                      struct rvt_error *err)
{
    const struct rule *r = NULL;
    char lo[32], hi[32], item[256];
    const char *p;
    size_t i;
    int n_items = 0;

    for (i = 0; i < RVT_ARRAY_SIZE(rules) && !r; i++)
        if (!strcmp(rules[i].key, key))
            r = &rules[i];
    if (!r)
        return 0;
    fmt_num(lo, sizeof(lo), r->lo);
    fmt_num(hi, sizeof(hi), r->hi);
    switch (r->type) {
    case RULE_INT:
        if (!is_int(value, r->lo, r->hi))
            return rvt_error_set(err, RVT_EINVAL, "%s: config key '%s' wants an integer %s to %s, got '%s'",
                                 where, key, lo, hi, value);
        break;
    case RULE_NUM:
        if (!is_num(value, r->lo, r->hi))
            return rvt_error_set(err, RVT_EINVAL, "%s: config key '%s' wants a number %s to %s, got '%s'",
                                 where, key, lo, hi, value);
        break;
    case RULE_NUM_OR:
        if (strcmp(value, r->words) && !is_num(value, r->lo, r->hi))
            return rvt_error_set(err, RVT_EINVAL,
                                 "%s: config key '%s' wants a number %s to %s or '%s', got '%s'", where,
                                 key, lo, hi, r->words, value);
        break;
    case RULE_ENUM:
    case RULE_PREFIX:
        if (!is_word(value, r->words, r->type == RULE_PREFIX))
            return rvt_error_set(err, RVT_EINVAL, "%s: config key '%s' wants one of: %s; got '%s'", where,
                                 key, r->words, value);
        break;
    case RULE_INTS:
    case RULE_NUMS:
        (void)is_list;
        for (p = value; *p;) {
            size_t l = strcspn(p, ",");
            const char *q = p;
            while (l && *q == ' ')
                q++, l--;
            while (l && q[l - 1] == ' ')
                l--;
            if (l >= sizeof(item))
                l = sizeof(item) - 1;
            memcpy(item, q, l);
            item[l] = '\0';
            if (l || p[strcspn(p, ",")]) {
                bool good = r->type == RULE_INTS ? is_int(item, r->lo, r->hi) : is_num(item, r->lo, r->hi);
                if (!good)
                    return rvt_error_set(err, RVT_EINVAL,
                                         "%s: config key '%s' wants a list of %s %s to %s, got '%s'",
                                         where, key, r->type == RULE_INTS ? "integers" : "numbers", lo,
                                         hi, value);
                n_items++;
            }
            p += strcspn(p, ",");
            if (*p)
                p++;
        }
        if (r->n_items && n_items != r->n_items)
            return rvt_error_set(err, RVT_EINVAL, "%s: config key '%s' wants %d numbers, got %d ('%s')",
                                 where, key, r->n_items, n_items, value);
        break;
    }
    return 0;
}

#define MAX_DEPTH 8 /* 8 levels x 127 chars fit key[2048] */

/*
 * Walks libyaml events keeping the path of map keys.  Accepted shapes: nested
 * maps whose leaves are scalars or flow/block sequences of scalars.
 */
int rvt_config_load_string(struct rvt_config *cfg, const char *text, size_t len,
                           const char *name, struct rvt_error *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    char path[MAX_DEPTH][128];
    bool want_key[MAX_DEPTH]; /* for map levels: next scalar is a key */
    int depth = -1, ret = 0, done = 0;
    bool strict = cfg->n > 0, in_seq = false;
    char *list = NULL, key[2048];
    size_t list_len = 0;
    int list_items = 0;

    if (len > RVT_CONFIG_MAX_TEXT)
        return rvt_error_set(err, RVT_ELIMIT, "%s: config larger than %d bytes", name,
                             RVT_CONFIG_MAX_TEXT);
    if (!yaml_parser_initialize(&parser))
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

#define FULL_KEY() \
    do { \
        int d_; \
        key[0] = '\0'; \
        for (d_ = 0; d_ <= depth; d_++) { \
            if (d_) \
                strcat(key, "."); \
            strcat(key, path[d_]); \
        } \
    } while (0)

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            ret = rvt_error_set(err, RVT_EFORMAT, "%s: line %zu: %s", name,
                                parser.problem_mark.line + 1,
                                parser.problem ? parser.problem : "malformed YAML");
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_MAPPING_START_EVENT:
            if (in_seq) {
                ret = rvt_error_set(err, RVT_EFORMAT, "%s: line %zu: lists hold plain values only",
                                    name, ev.start_mark.line + 1);
                break;
            }
            if (depth + 1 >= MAX_DEPTH) {
                ret = rvt_error_set(err, RVT_ELIMIT, "%s: nesting deeper than %d", name, MAX_DEPTH);
                break;
            }
            if (depth >= 0 && want_key[depth]) {
                ret = rvt_error_set(err, RVT_EFORMAT, "%s: line %zu: keys must be plain values",
                                    name, ev.start_mark.line + 1);
                break;
            }
            depth++;
            want_key[depth] = true;
            path[depth][0] = '\0';
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            if (depth >= 0)
                want_key[depth] = true;
            break;
        case YAML_SEQUENCE_START_EVENT:
            if (depth < 0 || want_key[depth] || in_seq) {
                ret = rvt_error_set(err, RVT_EFORMAT, "%s: line %zu: unexpected list", name,
                                    ev.start_mark.line + 1);
                break;
            }
            in_seq = true;
            list_len = 0;
            list_items = 0;
            free(list);
            list = calloc(1, 1);
            if (!list)
                ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
            break;
        case YAML_SEQUENCE_END_EVENT:
            in_seq = false;
            FULL_KEY();
            ret = put(cfg, key, list, true, strict, name, err);
            want_key[depth] = true;
            break;
        case YAML_SCALAR_EVENT: {
            const char *s = (const char *)ev.data.scalar.value;
            size_t sl = ev.data.scalar.length;
            if (depth < 0) {
                if (sl == 0)
                    break; /* empty document */
                ret = rvt_error_set(err, RVT_EFORMAT, "%s: a config is a map of keys", name);
                break;
            }
            if (in_seq) {
                char *nl;
                if (++list_items > RVT_CONFIG_MAX_LIST) {
                    ret = rvt_error_set(err, RVT_ELIMIT, "%s: line %zu: list longer than %d",
                                        name, ev.start_mark.line + 1, RVT_CONFIG_MAX_LIST);
                    break;
                }
                nl = realloc(list, list_len + sl + 3);
                if (!nl) {
                    ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
                    break;
                }
                list = nl;
                if (list_items > 1) { /* not list_len: a first item may be empty */
                    memcpy(list + list_len, ", ", 2);
                    list_len += 2;
                }
                memcpy(list + list_len, s, sl);
                list_len += sl;
                list[list_len] = '\0';
            } else if (want_key[depth]) {
                if (sl == 0 || sl >= sizeof(path[0]) || memchr(s, '.', sl)) {
                    ret = rvt_error_set(err, RVT_EFORMAT, "%s: line %zu: bad key '%.*s'", name,
                                        ev.start_mark.line + 1, (int)RVT_MIN(sl, 100), s);
                    break;
                }
                memcpy(path[depth], s, sl + 1);
                want_key[depth] = false;
            } else {
                FULL_KEY();
                ret = put(cfg, key, s, false, strict, name, err);
                want_key[depth] = true;
            }
            break;
        }
        case YAML_ALIAS_EVENT:
            ret = rvt_error_set(err, RVT_EUNSUPPORTED, "%s: line %zu: YAML aliases are not supported",
                                name, ev.start_mark.line + 1);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (ret < 0)
            break;
    }
#undef FULL_KEY
    free(list);
    yaml_parser_delete(&parser);
    return ret;
}

int rvt_config_load_file(struct rvt_config *cfg, const char *path, struct rvt_error *err)
{
    FILE *f;
    char *buf = NULL;
    size_t n = 0;
    int ret = rvt_input_check(path, err);

    if (ret < 0)
        return ret;
    f = fopen(path, "rb");
    if (!f)
        return rvt_error_set(err, RVT_EIO, "cannot open '%s': %s", path, strerror(errno));
    buf = malloc(RVT_CONFIG_MAX_TEXT + 1);
    if (!buf) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    n = fread(buf, 1, RVT_CONFIG_MAX_TEXT + 1, f);
    if (ferror(f)) {
        ret = rvt_error_set(err, RVT_EIO, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    if (n > RVT_CONFIG_MAX_TEXT) {
        ret = rvt_error_set(err, RVT_ELIMIT, "'%s': config larger than %d bytes", path,
                            RVT_CONFIG_MAX_TEXT);
        goto done;
    }
    ret = rvt_config_load_string(cfg, buf, n, path, err);
done:
    free(buf);
    fclose(f);
    return ret;
}

int rvt_config_set(struct rvt_config *cfg, const char *key, const char *value,
                   struct rvt_error *err)
{
    const struct entry *e = find(cfg, key);
    char buf[4096];
    size_t n;

    if (!e)
        return rvt_error_set(err, RVT_EINVAL, "unknown config key '%s'", key);
    if (!e->is_list)
        return put(cfg, key, value, false, true, "command line", err);
    /* a list on the command line: "a,b,c" or "[a, b, c]" */
    while (*value == ' ' || *value == '[')
        value++;
    n = strlen(value);
    while (n && (value[n - 1] == ' ' || value[n - 1] == ']'))
        n--;
    {
        size_t i, o = 0;
        for (i = 0; i < n && o + 3 < sizeof(buf); i++) {
            if (value[i] == ',') {
                while (o && buf[o - 1] == ' ')
                    o--;
                buf[o++] = ',';
                buf[o++] = ' ';
                while (i + 1 < n && value[i + 1] == ' ')
                    i++;
            } else {
                buf[o++] = value[i];
            }
        }
        if (i < n)
            return rvt_error_set(err, RVT_ELIMIT, "value of '%s' too long", key);
        buf[o] = '\0';
    }
    return put(cfg, key, buf, true, true, "command line", err);
}

int rvt_config_assign(struct rvt_config *cfg, const char *assignment, struct rvt_error *err)
{
    const char *eq = strchr(assignment, '=');
    char key[256];
    size_t kl;

    if (!eq || eq == assignment)
        return rvt_error_set(err, RVT_EINVAL, "expected key=value, got '%s'", assignment);
    kl = (size_t)(eq - assignment);
    if (kl >= sizeof(key))
        return rvt_error_set(err, RVT_EINVAL, "config key too long in '%s'", assignment);
    memcpy(key, assignment, kl);
    key[kl] = '\0';
    return rvt_config_set(cfg, key, eq + 1, err);
}

const char *rvt_config_get(const struct rvt_config *cfg, const char *key)
{
    const struct entry *e = find(cfg, key);
    return e ? e->value : NULL;
}

int rvt_config_get_str(const struct rvt_config *cfg, const char *key, const char **out,
                       struct rvt_error *err)
{
    *out = rvt_config_get(cfg, key);
    return *out ? 0 : rvt_error_set(err, RVT_EINVAL, "config key '%s' is missing", key);
}

static int parse_long(const char *key, const char *s, long *out, struct rvt_error *err)
{
    char *end;
    errno = 0;
    *out = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return rvt_error_set(err, RVT_EINVAL, "config key '%s': '%s' is not an integer", key, s);
    return 0;
}

static int parse_double(const char *key, const char *s, double *out, struct rvt_error *err)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(*out))
        return rvt_error_set(err, RVT_EINVAL, "config key '%s': '%s' is not a number", key, s);
    return 0;
}

int rvt_config_get_int(const struct rvt_config *cfg, const char *key, long *out,
                       struct rvt_error *err)
{
    const char *s;
    int ret = rvt_config_get_str(cfg, key, &s, err);
    return ret < 0 ? ret : parse_long(key, s, out, err);
}

int rvt_config_get_double(const struct rvt_config *cfg, const char *key, double *out,
                          struct rvt_error *err)
{
    const char *s;
    int ret = rvt_config_get_str(cfg, key, &s, err);
    return ret < 0 ? ret : parse_double(key, s, out, err);
}

int rvt_config_get_bool(const struct rvt_config *cfg, const char *key, bool *out,
                        struct rvt_error *err)
{
    const char *s;
    int ret = rvt_config_get_str(cfg, key, &s, err);
    if (ret < 0)
        return ret;
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "0"))
        *out = false;
    else
        return rvt_error_set(err, RVT_EINVAL, "config key '%s': '%s' is not true or false", key, s);
    return 0;
}

/* Splits a list value into items; calls fn for each. */
static int each_item(const struct rvt_config *cfg, const char *key, int max, int *n,
                     int (*fn)(const char *key, const char *item, void *out, int i,
                               struct rvt_error *err),
                     void *out, struct rvt_error *err)
{
    const char *s, *p;
    int ret = rvt_config_get_str(cfg, key, &s, err), i = 0;
    char item[256];

    if (ret < 0)
        return ret;
    *n = 0;
    for (p = s; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        while (l && p[0] == ' ')
            p++, l--;
        while (l && p[l - 1] == ' ')
            l--;
        if (l >= sizeof(item))
            return rvt_error_set(err, RVT_EINVAL, "config key '%s': item too long", key);
        if (i >= max)
            return rvt_error_set(err, RVT_ELIMIT, "config key '%s': more than %d items", key, max);
        memcpy(item, p, l);
        item[l] = '\0';
        if (l) {
            ret = fn(key, item, out, i++, err);
            if (ret < 0)
                return ret;
        }
        if (!c)
            break;
        p = c + 1;
    }
    *n = i;
    return 0;
}

static int put_double(const char *key, const char *item, void *out, int i, struct rvt_error *err)
{
    return parse_double(key, item, (double *)out + i, err);
}

static int put_long(const char *key, const char *item, void *out, int i, struct rvt_error *err)
{
    return parse_long(key, item, (long *)out + i, err);
}

int rvt_config_get_doubles(const struct rvt_config *cfg, const char *key, double *out, int max,
                           int *n, struct rvt_error *err)
{
    return each_item(cfg, key, max, n, put_double, out, err);
}

int rvt_config_get_ints(const struct rvt_config *cfg, const char *key, long *out, int max,
                        int *n, struct rvt_error *err)
{
    return each_item(cfg, key, max, n, put_long, out, err);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *const *)a)[0]->key, ((const struct entry *const *)b)[0]->key);
}

/* The entries under prefix, sorted by key (malloc'd; *n of them). */
static const struct entry **sorted_under(const struct rvt_config *cfg, const char *prefix, int *n)
{
    const struct entry **v = malloc((cfg->n ? cfg->n : 1) * sizeof(*v));
    size_t pl = strlen(prefix);
    int i;

    *n = 0;
    if (!v)
        return NULL;
    for (i = 0; i < cfg->n; i++)
        if (!strncmp(cfg->e[i].key, prefix, pl))
            v[(*n)++] = &cfg->e[i];
    qsort(v, *n, sizeof(*v), cmp_entry);
    return v;
}

bool rvt_config_same_value(const char *a, const char *b)
{
    char *ea, *eb;
    double da, db;
    if (!strcmp(a, b))
        return true;
    errno = 0;
    da = strtod(a, &ea);
    db = strtod(b, &eb);
    return !errno && ea != a && eb != b && !*ea && !*eb && da == db;
}

int rvt_config_diff(const struct rvt_config *a, const struct rvt_config *b, const char *prefix,
                    const char **key, const char **va, const char **vb)
{
    const struct entry **sa = NULL, **sb = NULL;
    int na = 0, nb = 0, i = 0, j = 0, ret = 0;

    sa = sorted_under(a, prefix, &na);
    sb = sorted_under(b, prefix, &nb);
    if (!sa || !sb) {
        ret = RVT_ENOMEM;
        goto done;
    }
    while (i < na || j < nb) {
        int c = i >= na ? 1 : j >= nb ? -1 : strcmp(sa[i]->key, sb[j]->key);
        if (c == 0 && rvt_config_same_value(sa[i]->value, sb[j]->value)) {
            i++, j++;
            continue;
        }
        *key = c <= 0 ? sa[i]->key : sb[j]->key;
        *va = c <= 0 ? sa[i]->value : NULL;
        *vb = c >= 0 ? sb[j]->value : NULL;
        ret = 1;
        break;
    }
done:
    free(sa);
    free(sb);
    return ret;
}

/* Appends to a growing buffer; returns -1 on OOM. */
static int app(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*cap ? *cap : 256);
        char *nb;
        while (c < *len + n + 1)
            c *= 2;
        nb = realloc(*buf, c);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* A scalar as YAML that reads back as the same n bytes; in_flow: inside [ ]. */
static int app_scalar(char **buf, size_t *len, size_t *cap, const char *v, size_t n, bool in_flow)
{
    bool quote = !n || v[0] == ' ' || v[0] == '-' || v[0] == '?' || v[n - 1] == ' ';
    size_t k;
    int fail = 0;

    for (k = 0; k < n && !quote; k++)
        quote = strchr(":#{}[]&*!|>'\"%@`\n", v[k]) || (in_flow && v[k] == ',');
    if (!quote)
        return app(buf, len, cap, v, n);
    fail |= app(buf, len, cap, "'", 1);
    for (k = 0; k < n; k++)
        fail |= app(buf, len, cap, v[k] == '\'' ? "''" : v + k, v[k] == '\'' ? 2 : 1);
    fail |= app(buf, len, cap, "'", 1);
    return fail;
}

char *rvt_config_dump_prefix(const struct rvt_config *cfg, const char *prefix)
{
    const struct entry **sorted;
    char *buf = NULL, prev[2048] = "";
    size_t len = 0, cap = 0;
    int i, n = 0, fail = 0;

    sorted = sorted_under(cfg, prefix, &n);
    if (!sorted)
        return NULL;
    fail |= app(&buf, &len, &cap, "", 0);
    for (i = 0; i < n && !fail; i++) {
        const char *k = sorted[i]->key, *p = prev, *q = k;
        int level = 0;
        /* skip the components shared with the previous key */
        for (;;) {
            const char *pd = strchr(p, '.'), *qd = strchr(q, '.');
            if (!pd || !qd || pd - p != qd - q || strncmp(p, q, pd - p))
                break;
            p = pd + 1;
            q = qd + 1;
            level++;
        }
        for (;;) {
            const char *qd = strchr(q, '.');
            int j;
            for (j = 0; j < level; j++)
                fail |= app(&buf, &len, &cap, "  ", 2);
            if (!qd) {
                const char *v = sorted[i]->value;
                fail |= app(&buf, &len, &cap, q, strlen(q));
                fail |= app(&buf, &len, &cap, ": ", 2);
                if (sorted[i]->is_list) {
                    /* the items as loaded were joined with ", "; each reads back as itself */
                    fail |= app(&buf, &len, &cap, "[", 1);
                    while (*v) {
                        const char *sep = strstr(v, ", ");
                        size_t il = sep ? (size_t)(sep - v) : strlen(v);
                        fail |= app_scalar(&buf, &len, &cap, v, il, true);
                        v += il;
                        if (sep) {
                            fail |= app(&buf, &len, &cap, ", ", 2);
                            v += 2;
                            if (!*v) /* a last empty item */
                                fail |= app(&buf, &len, &cap, "''", 2);
                        }
                    }
                    fail |= app(&buf, &len, &cap, "]", 1);
                } else {
                    fail |= app_scalar(&buf, &len, &cap, v, strlen(v), false);
                }
                fail |= app(&buf, &len, &cap, "\n", 1);
                break;
            }
            fail |= app(&buf, &len, &cap, q, (size_t)(qd - q));
            fail |= app(&buf, &len, &cap, ":\n", 2);
            q = qd + 1;
            level++;
        }
        snprintf(prev, sizeof(prev), "%s", k);
    }
    free(sorted);
    if (fail) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *rvt_config_dump(const struct rvt_config *cfg)
{
    return rvt_config_dump_prefix(cfg, "");
}

int rvt_config_sha256(const struct rvt_config *cfg, char hex[65], struct rvt_error *err)
{
    char *text = rvt_config_dump(cfg);
    if (!text)
        return rvt_error_set(err, RVT_ENOMEM, "out of memory");
    rvt_sha256_hex(text, strlen(text), hex);
    free(text);
    return 0;
}
