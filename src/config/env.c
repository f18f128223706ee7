/* Environment overrides: SESSIOND_<JSON PATH IN UPPER CASE> for every field of
 * the schema, e.g. SESSIOND_REDIS_URL or SESSIOND_INSTANCES_0_LICENSE_LIMIT.
 *
 * Values are text: lists (hosts, binding) are comma-separated; pem_keys is
 * "path[#kid],path2[#kid2]" (a path cannot contain ',' and the kid follows the
 * last '#'); an empty value unsets an optional string; integers are decimal;
 * durations are written as in the file. An unknown SESSIOND_* variable is an
 * error, so a typo cannot pass silently. SESSIOND_CONFIG is reserved for the
 * programs' config-file path and ignored here. */
#include "config/config_internal.h"
#include "sessiond/error.h"

#include <stdio.h>
#include <string.h>

#define ENV_PREFIX "SESSIOND_"
#define ENV_PREFIX_LEN (sizeof ENV_PREFIX - 1)
#define ENV_NAME_MAX 128
#define ENV_MAX_INSTANCES 256
#define PATH_LEN 256

static const char *const reserved_names[] = {"SESSIOND_CONFIG"};

/* The field a variable names. instance is -1 for root fields. */
typedef struct env_target {
    const cfg_field *field;
    long instance;
    char path[PATH_LEN];
} env_target;

typedef enum { ENV_UNKNOWN, ENV_FOUND, ENV_BAD_INDEX } env_match;

/* True when s (len bytes) starts with the upper case of word. */
static int upper_prefix(const char *s, size_t len, const char *word) {
    size_t n = strlen(word);
    if (len < n) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = word[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (s[i] != c) return 0;
    }
    return 1;
}

/* Reads "<n>_" with n in decimal without leading zeros. Returns the number
 * of characters used (0 when there is no index), *n = -1 when too large. */
static size_t read_index(const char *s, size_t len, long *n) {
    size_t i = 0;
    long v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (v < ENV_MAX_INSTANCES) v = v * 10 + (s[i] - '0');
        i++;
    }
    if (i == 0 || i >= len || s[i] != '_' || (i > 1 && s[0] == '0')) return 0;
    *n = v < ENV_MAX_INSTANCES ? v : -1;
    return i + 1;
}

/* Finds the field of table t named by s (len bytes, the variable name after
 * the prefix of t). */
static env_match match_table(const cfg_table *t, const char *s, size_t len,
                             const char *prefix, long instance,
                             env_target *out) {
    for (size_t i = 0; i < t->nfields; i++) {
        const cfg_field *f = &t->fields[i];
        size_t n = strlen(f->name);
        if (!upper_prefix(s, len, f->name)) continue;

        if (f->type == CFG_OBJECT || f->type == CFG_INSTANCES) {
            if (len <= n + 1 || s[n] != '_') continue;
            const char *rest = s + n + 1;
            size_t rest_len = len - n - 1;
            char sub[PATH_LEN];
            if (f->type == CFG_OBJECT) {
                /* Keep the prefix: an object inside an instance
                 * (service_claim) is "instances[n].service_claim". */
                if (prefix[0] == '\0')
                    snprintf(sub, sizeof sub, "%s", f->name);
                else
                    snprintf(sub, sizeof sub, "%s.%s", prefix, f->name);
                env_match m = match_table(f->sub, rest, rest_len, sub,
                                          instance, out);
                if (m != ENV_UNKNOWN) return m;
                continue;
            }
            long idx = 0;
            size_t used = read_index(rest, rest_len, &idx);
            if (used == 0) continue;
            if (idx < 0) return ENV_BAD_INDEX;
            snprintf(sub, sizeof sub, "%s[%ld]", f->name, idx);
            env_match m = match_table(f->sub, rest + used, rest_len - used,
                                      sub, idx, out);
            if (m != ENV_UNKNOWN) return m;
            continue;
        }
        if (len != n) continue;
        out->field = f;
        out->instance = instance;
        if (prefix[0] == '\0')
            snprintf(out->path, sizeof out->path, "%s", f->name);
        else
            snprintf(out->path, sizeof out->path, "%s.%s", prefix, f->name);
        return ENV_FOUND;
    }
    return ENV_UNKNOWN;
}

/* Splits one envp entry. Returns 1 and fills name/value for a SESSIOND_*
 * variable that is not reserved, else 0. */
static int split_entry(const char *entry, char name[ENV_NAME_MAX],
                       const char **value) {
    if (strncmp(entry, ENV_PREFIX, ENV_PREFIX_LEN) != 0) return 0;
    const char *eq = strchr(entry, '=');
    if (eq == NULL) return 0;
    size_t len = (size_t)(eq - entry);
    if (len >= ENV_NAME_MAX) len = ENV_NAME_MAX - 1; /* unknown anyway */
    memcpy(name, entry, len);
    name[len] = '\0';
    *value = eq + 1;
    for (size_t i = 0; i < sizeof reserved_names / sizeof reserved_names[0];
         i++)
        if (strcmp(name, reserved_names[i]) == 0) return 0;
    return 1;
}

static int resolve(const char *name, env_target *t, const cfg_ctx *ctx) {
    const char *rest = name + ENV_PREFIX_LEN;
    switch (match_table(&cfg_root_table, rest, strlen(rest), "", -1, t)) {
    case ENV_FOUND: return 0;
    case ENV_BAD_INDEX:
        return cfg_fail(ctx, name, SD_EINVAL,
                        "instance index must be below %d", ENV_MAX_INSTANCES);
    case ENV_UNKNOWN: break;
    }
    return cfg_fail(ctx, name, SD_EINVAL, "unknown environment variable");
}

int cfg_apply_env(sd_config *cfg, char *const *envp, char *err,
                  size_t errlen) {
    char name[ENV_NAME_MAX];
    const char *value;
    env_target t;
    cfg_ctx ctx = {err, errlen, NULL};
    long max_instance = -1;

    if (envp == NULL) return 0;

    /* First pass: every name must be known, and instances named in any order
     * are created before values are applied. */
    for (char *const *e = envp; *e != NULL; e++) {
        if (!split_entry(*e, name, &value)) continue;
        int rc = resolve(name, &t, &ctx);
        if (rc != 0) return rc;
        if (t.instance > max_instance) max_instance = t.instance;
    }
    if (max_instance >= 0 &&
        cfg_instances_grow(cfg, (size_t)max_instance + 1) != 0)
        return SD_ENOMEM;

    for (char *const *e = envp; *e != NULL; e++) {
        if (!split_entry(*e, name, &value)) continue;
        int rc = resolve(name, &t, &ctx);
        if (rc != 0) return rc;
        json_t *v = cfg_env_value(t.field, value);
        if (v == NULL) return SD_ENOMEM;
        void *base = t.instance >= 0 ? (void *)&cfg->instances[t.instance]
                                     : (void *)cfg;
        ctx.env_name = name;
        rc = cfg_set_field(t.field, base, v, t.path, &ctx);
        ctx.env_name = NULL;
        json_decref(v);
        if (rc != 0) return rc;
    }
    return 0;
}
