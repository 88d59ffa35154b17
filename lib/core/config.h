/*
 * config.h: the effective configuration of a run.
 *
 * A config is a flat, ordered set of dotted keys ("audio.n_mels") with string
 * values; YAML maps nest into dots, a YAML sequence of scalars becomes a list
 * value.  Layers apply in order: the built-in default (configs/default.yaml),
 * then --config FILE, then command-line overrides.  Only keys of the default may
 * be set: an unknown key is an error, so typos do not pass silently.
 *
 *   struct rvt_config *cfg;
 *   rvt_config_new_default(&cfg, &err);
 *   rvt_config_load_file(cfg, "my.yaml", &err);
 *   rvt_config_set(cfg, "audio.n_mels", "128", &err);
 *   long n; rvt_config_get_int(cfg, "audio.n_mels", &n, &err);
 *   char *text = rvt_config_dump(cfg);  // canonical YAML, keys sorted; free()
 *   rvt_config_free(&cfg);
 *
 * Canonical text: keys sorted, nested maps re-created, lists as [a, b], so
 * equal configs give equal text and an equal rvt_config_sha256.
 * Thread rule: read-only use from several threads is safe; setting is not.
 */
#ifndef RVT_CORE_CONFIG_H
#define RVT_CORE_CONFIG_H

#include "core/common.h"

#define RVT_CONFIG_MAX_KEYS 1024
#define RVT_CONFIG_MAX_TEXT (1 << 20)
#define RVT_CONFIG_MAX_LIST 256

struct rvt_config;

/* Built-in default (the text of configs/default.yaml, compiled in). */
extern const char rvt_default_config_yaml[];

int rvt_config_new(struct rvt_config **out, struct rvt_error *err);
int rvt_config_new_default(struct rvt_config **out, struct rvt_error *err);
void rvt_config_free(struct rvt_config **cfg);

/* strict: keys must already exist (override semantics).  The first config
 * loaded into an empty rvt_config defines the keys. */
int rvt_config_load_file(struct rvt_config *cfg, const char *path, struct rvt_error *err);
int rvt_config_load_string(struct rvt_config *cfg, const char *text, size_t len, const char *name,
                           struct rvt_error *err);

int rvt_config_set(struct rvt_config *cfg, const char *key, const char *value,
                   struct rvt_error *err);
/* "key=value" */
int rvt_config_assign(struct rvt_config *cfg, const char *assignment, struct rvt_error *err);

/* NULL when absent.  A list value reads "a, b, c". */
const char *rvt_config_get(const struct rvt_config *cfg, const char *key);
int rvt_config_get_str(const struct rvt_config *cfg, const char *key, const char **out,
                       struct rvt_error *err);
int rvt_config_get_int(const struct rvt_config *cfg, const char *key, long *out,
                       struct rvt_error *err);
int rvt_config_get_double(const struct rvt_config *cfg, const char *key, double *out,
                          struct rvt_error *err);
int rvt_config_get_bool(const struct rvt_config *cfg, const char *key, bool *out,
                        struct rvt_error *err);
/* Lists: at most max items; *n receives the count. */
int rvt_config_get_doubles(const struct rvt_config *cfg, const char *key, double *out, int max,
                           int *n, struct rvt_error *err);
int rvt_config_get_ints(const struct rvt_config *cfg, const char *key, long *out, int max,
                        int *n, struct rvt_error *err);

/* Canonical YAML text; caller frees.  NULL on allocation failure. */
char *rvt_config_dump(const struct rvt_config *cfg);
/* Canonical text of the keys under prefix ("audio."), "" prefix = all. */
char *rvt_config_dump_prefix(const struct rvt_config *cfg, const char *prefix);
/* Two values agree: the same text, or both numbers of equal value ("8000" and
 * "8000.0"; "1e3" and "1000"). */
bool rvt_config_same_value(const char *a, const char *b);

/*
 * The first key under prefix, in key order, where a and b differ: a key only
 * one side has, or values that differ (numbers compare by value: "8000" equals
 * "8000.0").  Returns 1 and points *key, *va, *vb into the configs (NULL for
 * the side without the key), 0 when they agree, RVT_ENOMEM.
 */
int rvt_config_diff(const struct rvt_config *a, const struct rvt_config *b, const char *prefix,
                    const char **key, const char **va, const char **vb);
/* sha256 of rvt_config_dump, lower-case hex. */
int rvt_config_sha256(const struct rvt_config *cfg, char hex[65], struct rvt_error *err);

#endif
