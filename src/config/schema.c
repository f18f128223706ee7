/* The configuration schema: one table of fields (name, type, offset, range)
 * that the file reader, the environment reader and sd_config_free share.
 *
 * JSON names (the struct keeps *_ms / *_s for the unit):
 *
 *   listen               "host:port"                 default "127.0.0.1:8080"
 *   redis.url            "redis://[:pw@]host[:port][/db]"
 *                                                    default "redis://127.0.0.1:6379/0"
 *   redis.timeout        duration > 0                default 500ms
 *   redis.reconnect_max  duration > 0                default 2s
 *   redis.sentinels      ["host:port", ...]          Sentinel mode (with master_name)
 *   redis.master_name    string                      the master the sentinels monitor
 *   redis.sentinel_password  string or null          AUTH to the sentinels
 *   redis.cluster        ["host:port", ...]          Cluster mode: seed nodes
 *   redis.password       string or null              AUTH to the data nodes
 *                                                    (instead of the URL's)
 *   sweep_interval       duration > 0                default 1s
 *   sweep_batch          integer 1..1000000          default 1000
 *   leeway               duration, whole seconds 0..3600  default 60s
 *   max_token_bytes      integer 1..1048576          default 8192
 *   token_cache_entries  integer 0..10000000 (0 off) default 10000
 *   max_body_bytes       integer 1..67108864         default 16384
 *   max_header_bytes     integer 1024..67108864      default 16384
 *   drain_timeout        duration > 0                default 10s
 *   http_timeout         duration 100ms..1h          default 30s (silent connections
 *                                                    are closed)
 *   replica_id           string                      default gethostname()
 *   workers              integer 1..64               default 1 (processes on one port)
 *   events_max           integer 1..100000000        default 10000 (stream cap)
 *   admin_secret         string of >= 32 bytes, or null (admin routes' bearer)
 *   admin_scope          string                      default "sessiond:admin"
 *   log_level            debug|info|warn|error       default "info"
 *   instances[]          array of objects:
 *     name               [A-Za-z0-9_-]{1,64}, unique (required)
 *     issuer             string (required)
 *     audience           string or null
 *     hosts              array of strings
 *     jwks_file          string or null
 *     jwks_uri           https:// URL (http:// only to loopback hosts)
 *     jwks_refresh       duration 1s..365d           default 5m
 *     jwks_min_refetch   duration 1s..1d             default 30s (unknown-kid refetches)
 *     jwks_timeout       duration 100ms..60s         default 5s (whole fetch)
 *     pem_keys           [{"path": string, "kid": string or null}], at most 16
 *     hmac_secret        string of >= 32 bytes, or null
 *     license_limit      integer >= 0 (required)
 *     sliding            duration > 0                default 20m
 *     absolute           duration > 0                default 60m
 *     interactive_absolute  duration >= 0 (0 = none)  default 0
 *     binding            array of "sid", "subject", "token"
 *                                                    default ["sid","subject","token"]
 *     reserved           array of subjects guaranteed a seat (seeds Redis)
 *     max_sessions_per_subject  integer 0..1000000 (0 = no cap)  default 0
 *     service_claim.name / .value  a claim that marks service tokens
 *   An instance needs at least one of jwks_file, pem_keys, hmac_secret, or
 *   else jwks_uri alone; jwks_file and pem_keys exclude each other.
 *
 * Durations are integer milliseconds or strings with a unit: "300ms", "45s",
 * "20m", "1h" (durations are capped at 365 days). */
#include "config/config_internal.h"
#include "sessiond/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DURATION_MAX_MS (365LL * 24 * 60 * 60 * 1000)
#define DAY_MS (24LL * 60 * 60 * 1000)
#define PATH_MAX_LEN 256

/* ------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------ */

#define ROOT(field) offsetof(sd_config, field)
#define INST(field) offsetof(sd_instance_config, field)
#define PEM(field) offsetof(sd_pem_key, field)

static const cfg_field pem_fields[] = {
    {"path", CFG_STRING, PEM(path), 0, 0, 0, 0, NULL, NULL},
    {"kid", CFG_STRING, PEM(kid), 0, 0, 0, 0, NULL, NULL},
};
static const cfg_table pem_table = {pem_fields, 2};

static const cfg_field service_claim_fields[] = {
    {"name", CFG_STRING, INST(service_claim_name), 0, 0, 0, 0, NULL, NULL},
    {"value", CFG_STRING, INST(service_claim_value), 0, 0, 0, 0, NULL, NULL},
};
static const cfg_table service_claim_table = {service_claim_fields, 2};

static const cfg_field instance_fields[] = {
    {"name", CFG_STRING, INST(name), 0, 0, 0, 0, NULL, NULL},
    {"issuer", CFG_STRING, INST(issuer), 0, 0, 0, 0, NULL, NULL},
    {"audience", CFG_STRING, INST(audience), 0, 0, 0, 0, NULL, NULL},
    {"hosts", CFG_STRINGS, INST(hosts), INST(nhosts), 0, 0, 0, NULL, NULL},
    {"jwks_file", CFG_STRING, INST(jwks_file), 0, 0, 0, 0, NULL, NULL},
    {"jwks_uri", CFG_CUSTOM, 0, 0, 0, 0, 0, &cfg_jwks_uri_custom, NULL},
    {"jwks_refresh", CFG_DURATION, INST(jwks_refresh_ms), 0, 1000,
     DURATION_MAX_MS, 0, NULL, NULL},
    {"jwks_min_refetch", CFG_DURATION, INST(jwks_min_refetch_ms), 0, 1000, DAY_MS,
     0, NULL, NULL},
    {"jwks_timeout", CFG_DURATION, INST(jwks_timeout_ms), 0, 100, 60000, 0, NULL,
     NULL},
    {"pem_keys", CFG_PEM_KEYS, INST(pem_keys), INST(npem_keys), 0,
     SD_MAX_INSTANCE_KEYS, 0, NULL, &pem_table},
    {"hmac_secret", CFG_STRING, INST(hmac_secret), 0, 0, 0, 1, NULL, NULL},
    {"license_limit", CFG_INT, INST(license_limit), 0, 0, INT64_MAX, 0, NULL,
     NULL},
    {"sliding", CFG_DURATION, INST(sliding_ms), 0, 1, DURATION_MAX_MS, 0, NULL,
     NULL},
    {"absolute", CFG_DURATION, INST(absolute_ms), 0, 1, DURATION_MAX_MS, 0,
     NULL, NULL},
    {"interactive_absolute", CFG_DURATION, INST(interactive_absolute_ms), 0, 0,
     DURATION_MAX_MS, 0, NULL, NULL},
    {"binding", CFG_BINDING, INST(binding), INST(nbinding), 0, 0, 0, NULL,
     NULL},
    {"reserved", CFG_STRINGS, INST(reserved), INST(nreserved), 0, 0, 0, NULL, NULL},
    {"max_sessions_per_subject", CFG_INT, INST(max_sessions_per_subject), 0, 0,
     1000000, 0, NULL, NULL},
    {"service_claim", CFG_OBJECT, 0, 0, 0, 0, 0, NULL, &service_claim_table},
};
const cfg_table cfg_instance_table = {
    instance_fields, sizeof instance_fields / sizeof instance_fields[0]};

static const cfg_field redis_fields[] = {
    {"url", CFG_CUSTOM, 0, 0, 0, 0, 1, &cfg_redis_url_custom, NULL},
    {"timeout", CFG_DURATION, ROOT(redis_timeout_ms), 0, 1, DURATION_MAX_MS, 0,
     NULL, NULL},
    {"reconnect_max", CFG_DURATION, ROOT(redis_reconnect_max_ms), 0, 1,
     DURATION_MAX_MS, 0, NULL, NULL},
    {"sentinels", CFG_STRINGS, ROOT(redis_sentinels), ROOT(nredis_sentinels), 0, 0, 0,
     NULL, NULL},
    {"master_name", CFG_STRING, ROOT(redis_master_name), 0, 0, 0, 0, NULL, NULL},
    {"sentinel_password", CFG_STRING, ROOT(redis_sentinel_password), 0, 0, 0, 1, NULL,
     NULL},
    {"cluster", CFG_STRINGS, ROOT(redis_cluster), ROOT(nredis_cluster), 0, 0, 0, NULL,
     NULL},
    {"password", CFG_STRING, ROOT(redis_node_password), 0, 0, 0, 1, NULL, NULL},
};
static const cfg_table redis_table = {redis_fields,
                                      sizeof redis_fields / sizeof redis_fields[0]};

static const cfg_field root_fields[] = {
    {"listen", CFG_CUSTOM, 0, 0, 0, 0, 0, &cfg_listen_custom, NULL},
    {"redis", CFG_OBJECT, 0, 0, 0, 0, 0, NULL, &redis_table},
    {"sweep_interval", CFG_DURATION, ROOT(sweep_interval_ms), 0, 1, DURATION_MAX_MS, 0,
     NULL, NULL},
    {"sweep_batch", CFG_INT, ROOT(sweep_batch), 0, 1, 1000000, 0, NULL, NULL},
    {"leeway", CFG_SECONDS, ROOT(leeway_s), 0, 0, 3600, 0, NULL, NULL},
    {"max_token_bytes", CFG_INT, ROOT(max_token_bytes), 0, 1, 1048576, 0, NULL, NULL},
    {"token_cache_entries", CFG_INT, ROOT(token_cache_entries), 0, 0, 10000000, 0, NULL,
     NULL},
    {"max_body_bytes", CFG_INT, ROOT(max_body_bytes), 0, 1, 67108864, 0, NULL, NULL},
    /* Below 1 KiB even a request without a token would be refused. */
    {"max_header_bytes", CFG_INT, ROOT(max_header_bytes), 0, 1024, 67108864, 0, NULL,
     NULL},
    {"drain_timeout", CFG_DURATION, ROOT(drain_timeout_ms), 0, 1, DURATION_MAX_MS, 0,
     NULL, NULL},
    {"http_timeout", CFG_DURATION, ROOT(http_timeout_ms), 0, 100, 3600000, 0, NULL, NULL},
    {"replica_id", CFG_STRING, ROOT(replica_id), 0, 0, 0, 0, NULL, NULL},
    {"workers", CFG_INT, ROOT(workers), 0, 1, 64, 0, NULL, NULL},
    {"events_max", CFG_INT, ROOT(events_max), 0, 1, 100000000, 0, NULL, NULL},
    {"admin_secret", CFG_STRING, ROOT(admin_secret), 0, 0, 0, 1, NULL, NULL},
    {"admin_scope", CFG_STRING, ROOT(admin_scope), 0, 0, 0, 0, NULL, NULL},
    {"log_level", CFG_STRING, ROOT(log_level), 0, 0, 0, 0, NULL, NULL},
    {"instances", CFG_INSTANCES, ROOT(instances), ROOT(ninstances), 0, 0, 0, NULL,
     &cfg_instance_table},
};
const cfg_table cfg_root_table = {root_fields,
                                  sizeof root_fields / sizeof root_fields[0]};

static const char *const binding_names[SD_MAX_BINDING_RULES] = {
    [SD_BIND_SID] = "sid",
    [SD_BIND_SUBJECT] = "subject",
    [SD_BIND_TOKEN] = "token",
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

int cfg_fail(const cfg_ctx *ctx, const char *path, int code, const char *fmt,
             ...) {
    if (ctx->err == NULL || ctx->errlen == 0) return code;
    int n = snprintf(ctx->err, ctx->errlen, "%s: ", path);
    if (n < 0 || (size_t)n >= ctx->errlen) return code;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m) >= ctx->errlen || ctx->env_name == NULL)
        return code;
    snprintf(ctx->err + n + m, ctx->errlen - (size_t)(n + m), " (from %s)",
             ctx->env_name);
    return code;
}

static void *at(void *base, size_t offset) {
    return (char *)base + offset;
}

/* Marks a path that snprintf cut (n is its count) with a trailing "...".
 * Only an absurdly long unknown key can make one; it only goes into a
 * message. */
static void mark_cut_path(char *out, int n) {
    if (n < 0 || n >= PATH_MAX_LEN) memcpy(out + PATH_MAX_LEN - 4, "...", 4);
}

/* Writes "<prefix>.<name>" (or name at the root) into out, PATH_MAX_LEN
 * bytes. */
static void join_path(char *out, const char *prefix, const char *name) {
    int n = prefix[0] == '\0' ? snprintf(out, PATH_MAX_LEN, "%s", name)
                              : snprintf(out, PATH_MAX_LEN, "%s.%s", prefix, name);
    mark_cut_path(out, n);
}

/* Writes "<prefix>[<i>]" into out, PATH_MAX_LEN bytes. */
static void index_path(char *out, const char *prefix, size_t i) {
    mark_cut_path(out, snprintf(out, PATH_MAX_LEN, "%s[%zu]", prefix, i));
}

static void free_strings(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void free_pem_keys(sd_pem_key *keys, size_t n) {
    for (size_t i = 0; i < n; i++) cfg_release_table(&pem_table, &keys[i]);
    free(keys);
}

static void free_instances(sd_instance_config *v, size_t n) {
    for (size_t i = 0; i < n; i++) cfg_release_table(&cfg_instance_table, &v[i]);
    free(v);
}

/* ------------------------------------------------------------------------
 * Setters, one per type. Each replaces the old value only on success.
 * ------------------------------------------------------------------------ */

static int set_string(const cfg_field *f, void *base, json_t *v,
                      const char *path, const cfg_ctx *ctx) {
    char **slot = at(base, f->offset);
    char *copy = NULL;
    if (!json_is_null(v)) {
        if (!json_is_string(v))
            return cfg_fail(ctx, path, SD_EINVAL, "must be a string");
        copy = strdup(json_string_value(v));
        if (copy == NULL) return SD_ENOMEM;
    }
    if (f->secret)
        cfg_free_secret(*slot);
    else
        free(*slot);
    *slot = copy;
    return 0;
}

static int set_int(const cfg_field *f, void *base, json_t *v, const char *path,
                   const cfg_ctx *ctx) {
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    if (!json_is_integer(v) || n < f->min || n > f->max) {
        if (f->max == INT64_MAX)
            return cfg_fail(ctx, path, SD_EINVAL, "must be an integer >= %lld",
                            (long long)f->min);
        return cfg_fail(ctx, path, SD_EINVAL,
                        "must be an integer from %lld to %lld",
                        (long long)f->min, (long long)f->max);
    }
    *(int64_t *)at(base, f->offset) = n;
    return 0;
}

/* Reads a duration (integer ms or a string with a unit) into *ms; -1 when the
 * value is not one. */
static int json_duration(json_t *v, int64_t *ms) {
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) return -1;
        *ms = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && sd_duration_parse(json_string_value(v), ms) == 0)
        return 0;
    return -1;
}

/* Writes ms in the largest unit that divides it ("5m", "1500ms"). */
static void format_duration(char *out, size_t cap, int64_t ms) {
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms % units[i].ms == 0) {
            snprintf(out, cap, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    snprintf(out, cap, "%lldms", (long long)ms);
}

static int set_duration(const cfg_field *f, void *base, json_t *v,
                        const char *path, const cfg_ctx *ctx) {
    int64_t ms = 0;
    int ok = json_duration(v, &ms) == 0 && ms >= f->min && ms <= f->max;
    if (!ok && (f->min > 1 || f->max != DURATION_MAX_MS)) {
        char lo[32], hi[32];
        format_duration(lo, sizeof lo, f->min);
        format_duration(hi, sizeof hi, f->max);
        return cfg_fail(ctx, path, SD_EINVAL,
                        "must be a duration from %s to %s, e.g. \"30s\" or "
                        "integer milliseconds",
                        lo, hi);
    }
    if (!ok)
        return cfg_fail(ctx, path, SD_EINVAL,
                        "must be a duration %s and at most 365 days, e.g. "
                        "\"20m\", \"45s\", \"300ms\" or integer milliseconds",
                        f->min > 0 ? "> 0" : ">= 0");
    *(int64_t *)at(base, f->offset) = ms;
    return 0;
}

static int set_seconds(const cfg_field *f, void *base, json_t *v,
                       const char *path, const cfg_ctx *ctx) {
    int64_t ms = 0;
    if (json_duration(v, &ms) != 0 || ms % 1000 != 0 || ms / 1000 < f->min ||
        ms / 1000 > f->max)
        return cfg_fail(ctx, path, SD_EINVAL,
                        "must be a whole number of seconds from %lld to %lld, "
                        "e.g. \"60s\" (integers are milliseconds)",
                        (long long)f->min, (long long)f->max);
    *(int64_t *)at(base, f->offset) = ms / 1000;
    return 0;
}

static int set_strings(const cfg_field *f, void *base, json_t *v,
                       const char *path, const cfg_ctx *ctx) {
    char elem[PATH_MAX_LEN];
    if (!json_is_array(v))
        return cfg_fail(ctx, path, SD_EINVAL, "must be an array of strings");
    size_t n = json_array_size(v);
    char **list = calloc(n ? n : 1, sizeof *list);
    if (list == NULL) return SD_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        int rc = 0;
        if (!json_is_string(s)) {
            index_path(elem, path, i);
            rc = cfg_fail(ctx, elem, SD_EINVAL, "must be a string");
        } else if ((list[i] = strdup(json_string_value(s))) == NULL) {
            rc = SD_ENOMEM;
        }
        if (rc != 0) {
            free_strings(list, i);
            return rc;
        }
    }
    char ***slot = at(base, f->offset);
    size_t *count = at(base, f->count_offset);
    free_strings(*slot, *count);
    *slot = list;
    *count = n;
    return 0;
}

static int set_binding(const cfg_field *f, void *base, json_t *v,
                       const char *path, const cfg_ctx *ctx) {
    char elem[PATH_MAX_LEN];
    sd_binding_rule rules[SD_MAX_BINDING_RULES];
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0)
        return cfg_fail(ctx, path, SD_EINVAL,
                        "must be a non-empty array of \"sid\", \"subject\", "
                        "\"token\"");
    /* rules[] has room for one entry per rule; say so before writing. */
    if (n > SD_MAX_BINDING_RULES)
        return cfg_fail(ctx, path, SD_EINVAL, "at most %d rules",
                        SD_MAX_BINDING_RULES);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(v, i));
        size_t r = 0;
        while (r < SD_MAX_BINDING_RULES &&
               (s == NULL || strcmp(s, binding_names[r]) != 0))
            r++;
        index_path(elem, path, i);
        if (r == SD_MAX_BINDING_RULES)
            return cfg_fail(ctx, elem, SD_EINVAL,
                            "must be one of \"sid\", \"subject\", \"token\"");
        for (size_t j = 0; j < i; j++)
            if (rules[j] == (sd_binding_rule)r)
                return cfg_fail(ctx, elem, SD_EINVAL, "\"%s\" is listed twice",
                                s);
        rules[i] = (sd_binding_rule)r;
    }
    memcpy(at(base, f->offset), rules, n * sizeof rules[0]);
    *(size_t *)at(base, f->count_offset) = n;
    return 0;
}

static int set_pem_keys(const cfg_field *f, void *base, json_t *v,
                        const char *path, const cfg_ctx *ctx) {
    char elem[PATH_MAX_LEN];
    if (!json_is_array(v))
        return cfg_fail(ctx, path, SD_EINVAL,
                        "must be an array of {\"path\": ..., \"kid\": ...}");
    size_t n = json_array_size(v);
    if (n > (size_t)f->max)
        return cfg_fail(ctx, path, SD_EINVAL, "at most %lld keys",
                        (long long)f->max);
    sd_pem_key *keys = calloc(n ? n : 1, sizeof *keys);
    if (keys == NULL) return SD_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_array_get(v, i);
        index_path(elem, path, i);
        int rc = json_is_object(obj)
                     ? cfg_apply_object(f->sub, &keys[i], obj, elem, ctx)
                     : cfg_fail(ctx, elem, SD_EINVAL, "must be an object");
        if (rc == 0 && (keys[i].path == NULL || keys[i].path[0] == '\0')) {
            char p[PATH_MAX_LEN];
            join_path(p, elem, "path");
            rc = cfg_fail(ctx, p, SD_EINVAL, "required");
        }
        if (rc != 0) {
            free_pem_keys(keys, n);
            return rc;
        }
    }
    sd_pem_key **slot = at(base, f->offset);
    size_t *count = at(base, f->count_offset);
    free_pem_keys(*slot, *count);
    *slot = keys;
    *count = n;
    return 0;
}

static int set_custom(const cfg_field *f, void *base, json_t *v,
                      const char *path, const cfg_ctx *ctx) {
    char msg[200];
    if (!json_is_string(v))
        return cfg_fail(ctx, path, SD_EINVAL, "must be a string");
    int rc = f->custom->parse(base, json_string_value(v), msg, sizeof msg);
    if (rc == SD_EINVAL) return cfg_fail(ctx, path, rc, "%s", msg);
    return rc;
}

static int set_instances(const cfg_field *f, void *base, json_t *v,
                         const char *path, const cfg_ctx *ctx) {
    char elem[PATH_MAX_LEN];
    if (!json_is_array(v))
        return cfg_fail(ctx, path, SD_EINVAL, "must be an array of objects");
    size_t n = json_array_size(v);
    sd_instance_config *list = calloc(n ? n : 1, sizeof *list);
    if (list == NULL) return SD_ENOMEM;
    size_t done = 0;
    int rc = 0;
    for (; done < n && rc == 0; done++) {
        json_t *obj = json_array_get(v, done);
        index_path(elem, path, done);
        rc = cfg_instance_defaults(&list[done]);
        if (rc == 0)
            rc = json_is_object(obj)
                     ? cfg_apply_object(f->sub, &list[done], obj, elem, ctx)
                     : cfg_fail(ctx, elem, SD_EINVAL, "must be an object");
    }
    if (rc != 0) {
        free_instances(list, done);
        return rc;
    }
    sd_instance_config **slot = at(base, f->offset);
    size_t *count = at(base, f->count_offset);
    free_instances(*slot, *count);
    *slot = list;
    *count = n;
    return 0;
}

/* ------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------ */

int cfg_set_field(const cfg_field *f, void *base, json_t *value,
                  const char *path, const cfg_ctx *ctx) {
    switch (f->type) {
    case CFG_STRING: return set_string(f, base, value, path, ctx);
    case CFG_INT: return set_int(f, base, value, path, ctx);
    case CFG_DURATION: return set_duration(f, base, value, path, ctx);
    case CFG_SECONDS: return set_seconds(f, base, value, path, ctx);
    case CFG_STRINGS: return set_strings(f, base, value, path, ctx);
    case CFG_BINDING: return set_binding(f, base, value, path, ctx);
    case CFG_PEM_KEYS: return set_pem_keys(f, base, value, path, ctx);
    case CFG_CUSTOM: return set_custom(f, base, value, path, ctx);
    case CFG_INSTANCES: return set_instances(f, base, value, path, ctx);
    case CFG_OBJECT:
        if (!json_is_object(value))
            return cfg_fail(ctx, path, SD_EINVAL, "must be an object");
        return cfg_apply_object(f->sub, base, value, path, ctx);
    }
    return SD_EINVAL;
}

int cfg_apply_object(const cfg_table *t, void *base, json_t *obj,
                     const char *prefix, const cfg_ctx *ctx) {
    char path[PATH_MAX_LEN];
    const char *key;
    json_t *value;

    json_object_foreach(obj, key, value) {
        const cfg_field *f = NULL;
        for (size_t i = 0; i < t->nfields && f == NULL; i++)
            if (strcmp(t->fields[i].name, key) == 0) f = &t->fields[i];
        join_path(path, prefix, key);
        if (f == NULL) return cfg_fail(ctx, path, SD_EINVAL, "unknown field");
        int rc = cfg_set_field(f, base, value, path, ctx);
        if (rc != 0) return rc;
    }
    return 0;
}

void cfg_release_table(const cfg_table *t, void *base) {
    for (size_t i = 0; i < t->nfields; i++) {
        const cfg_field *f = &t->fields[i];
        void *slot = at(base, f->offset);
        size_t *count = at(base, f->count_offset);
        switch (f->type) {
        case CFG_STRING:
            if (f->secret)
                cfg_free_secret(*(char **)slot);
            else
                free(*(char **)slot);
            *(char **)slot = NULL;
            break;
        case CFG_STRINGS:
            free_strings(*(char ***)slot, *count);
            *(char ***)slot = NULL;
            *count = 0;
            break;
        case CFG_PEM_KEYS:
            free_pem_keys(*(sd_pem_key **)slot, *count);
            *(sd_pem_key **)slot = NULL;
            *count = 0;
            break;
        case CFG_INSTANCES:
            free_instances(*(sd_instance_config **)slot, *count);
            *(sd_instance_config **)slot = NULL;
            *count = 0;
            break;
        case CFG_CUSTOM: f->custom->release(base); break;
        case CFG_OBJECT: cfg_release_table(f->sub, base); break;
        case CFG_INT:
        case CFG_DURATION:
        case CFG_SECONDS:
        case CFG_BINDING: break;
        }
    }
}

int cfg_instance_defaults(sd_instance_config *inst) {
    memset(inst, 0, sizeof *inst);
    inst->license_limit = -1; /* required: validation names it when unset */
    inst->sliding_ms = 20 * 60 * 1000;
    inst->absolute_ms = 60 * 60 * 1000;
    inst->interactive_absolute_ms = 0;
    inst->binding[0] = SD_BIND_SID;
    inst->binding[1] = SD_BIND_SUBJECT;
    inst->binding[2] = SD_BIND_TOKEN;
    inst->nbinding = 3;
    inst->jwks_refresh_ms = 5 * 60 * 1000;
    inst->jwks_min_refetch_ms = 30 * 1000;
    inst->jwks_timeout_ms = 5 * 1000;
    return 0;
}

int cfg_instances_grow(sd_config *cfg, size_t n) {
    if (n <= cfg->ninstances) return 0;
    sd_instance_config *v = realloc(cfg->instances, n * sizeof *v);
    if (v == NULL) return SD_ENOMEM;
    cfg->instances = v;
    for (; cfg->ninstances < n; cfg->ninstances++)
        cfg_instance_defaults(&v[cfg->ninstances]);
    return 0;
}

/* ------------------------------------------------------------------------
 * Environment values as JSON
 * ------------------------------------------------------------------------ */

/* Splits text on commas into an array of trimmed strings; "" is []. */
static json_t *split_list(const char *text) {
    json_t *arr = json_array();
    const char *p = text;
    while (arr && *p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (len > 0 && (*s == ' ' || *s == '\t')) s++, len--;
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
        if (json_array_append_new(arr, json_stringn_nocheck(s, len)) != 0) {
            json_decref(arr);
            return NULL;
        }
        if (end == NULL) break;
        p = end + 1;
        if (*p == '\0' && json_array_append_new(arr, json_string("")) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* "path[#kid],path2[#kid2]" as [{"path":..., "kid":...}, ...]. */
static json_t *pem_list(const char *text) {
    json_t *items = split_list(text);
    json_t *out = json_array();
    size_t i;
    json_t *item;
    if (items == NULL || out == NULL) goto fail;
    json_array_foreach(items, i, item) {
        const char *s = json_string_value(item);
        const char *hash = strrchr(s, '#');
        json_t *obj = json_object();
        if (obj == NULL || json_array_append_new(out, obj) != 0) goto fail;
        size_t plen = hash ? (size_t)(hash - s) : strlen(s);
        if (json_object_set_new(obj, "path", json_stringn_nocheck(s, plen)) != 0 ||
            (hash && json_object_set_new(obj, "kid", json_string_nocheck(hash + 1))))
            goto fail;
    }
    json_decref(items);
    return out;
fail:
    json_decref(items);
    json_decref(out);
    return NULL;
}

json_t *cfg_env_value(const cfg_field *f, const char *text) {
    switch (f->type) {
    case CFG_INT: {
        /* Anything that is not plain decimal stays a string, so the setter
         * reports it with the field's own message. */
        char *end = NULL;
        errno = 0;
        long long n = strtoll(text, &end, 10);
        int plain = text[0] != '\0' && *end == '\0' && errno == 0 &&
                    (text[0] == '-' || (text[0] >= '0' && text[0] <= '9'));
        return plain ? json_integer(n) : json_string_nocheck(text);
    }
    case CFG_STRINGS:
    case CFG_BINDING: return split_list(text);
    case CFG_PEM_KEYS: return pem_list(text);
    case CFG_STRING:
        /* An empty variable unsets an optional string. */
        return text[0] == '\0' ? json_null() : json_string_nocheck(text);
    case CFG_DURATION:
    case CFG_SECONDS:
    case CFG_CUSTOM:
    case CFG_OBJECT:
    case CFG_INSTANCES: break;
    }
    return json_string_nocheck(text);
}
