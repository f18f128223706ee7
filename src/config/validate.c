/* Whole-configuration checks that no single field can make on its own:
 * required fields, key sources, unique instance names and host names. Types
 * and ranges were already checked when each value was set (schema.c). */
#include "config/config_internal.h"
#include "core/text.h"
#include "sessiond/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_LEN 64
#define REPLICA_ID_MAX_LEN 255
#define HMAC_MIN_BYTES 32 /* RFC 7518 §3.2: at least the hash size (HS256) */
#define PATH_LEN 256

static int valid_instance_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Visible ASCII only: the value goes into a response header. */
static int valid_header_token(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return 0;
    return 1;
}

static int empty(const char *s) {
    return s != NULL && s[0] == '\0';
}

static int validate_hosts(const sd_config *cfg, size_t i, const cfg_ctx *ctx) {
    char path[PATH_LEN];
    const sd_instance_config *inst = &cfg->instances[i];
    for (size_t h = 0; h < inst->nhosts; h++) {
        const char *host = inst->hosts[h];
        snprintf(path, sizeof path, "instances[%zu].hosts[%zu]", i, h);
        if (!valid_header_token(host, 255))
            return cfg_fail(ctx, path, SD_EINVAL,
                            "must be a host name without spaces");
        /* Host headers compare case-insensitively, so must these. */
        for (size_t j = 0; j <= i; j++) {
            const sd_instance_config *other = &cfg->instances[j];
            size_t end = j == i ? h : other->nhosts;
            for (size_t k = 0; k < end; k++)
                if (strcasecmp(other->hosts[k], host) == 0)
                    return cfg_fail(ctx, path, SD_EINVAL,
                                    "\"%s\" is already listed at "
                                    "instances[%zu].hosts[%zu]",
                                    host, j, k);
        }
    }
    return 0;
}

static int validate_instance(const sd_config *cfg, size_t i,
                             const cfg_ctx *ctx) {
    char path[PATH_LEN];
    const sd_instance_config *inst = &cfg->instances[i];

#define FIELD(name) (snprintf(path, sizeof path, "instances[%zu]%s", i, name), path)
    if (inst->name == NULL || inst->name[0] == '\0')
        return cfg_fail(ctx, FIELD(".name"), SD_EINVAL, "required");
    if (!valid_instance_name(inst->name))
        return cfg_fail(ctx, FIELD(".name"), SD_EINVAL,
                        "must be 1 to 64 characters of A-Z a-z 0-9 _ -");
    for (size_t j = 0; j < i; j++)
        if (strcmp(cfg->instances[j].name, inst->name) == 0)
            return cfg_fail(ctx, FIELD(".name"), SD_EINVAL,
                            "\"%s\" is already the name of instances[%zu]",
                            inst->name, j);
    if (inst->issuer == NULL || inst->issuer[0] == '\0')
        return cfg_fail(ctx, FIELD(".issuer"), SD_EINVAL, "required");
    /* A token works only at the instance whose identity server issued it
     * (SPEC §1): with a shared issuer a token would be valid at both. */
    for (size_t j = 0; j < i; j++)
        if (cfg->instances[j].issuer &&
            strcmp(cfg->instances[j].issuer, inst->issuer) == 0)
            return cfg_fail(ctx, FIELD(".issuer"), SD_EINVAL,
                            "same as instances[%zu].issuer", j);
    if (empty(inst->audience))
        return cfg_fail(ctx, FIELD(".audience"), SD_EINVAL,
                        "must not be empty (leave it out to skip the check)");
    if (empty(inst->jwks_file))
        return cfg_fail(ctx, FIELD(".jwks_file"), SD_EINVAL,
                        "must not be empty");
    if (inst->hmac_secret && strlen(inst->hmac_secret) < HMAC_MIN_BYTES)
        return cfg_fail(ctx, FIELD(".hmac_secret"), SD_EINVAL,
                        "must be at least %d bytes", HMAC_MIN_BYTES);
    /* A fetched key set replaces the previous one whole, which is simple to
     * reason about only when it is the instance's only source. */
    if (inst->jwks_uri &&
        (inst->jwks_file != NULL || inst->npem_keys > 0 || inst->hmac_secret != NULL))
        return cfg_fail(ctx, FIELD(".jwks_uri"), SD_EINVAL,
                        "cannot be combined with jwks_file, pem_keys or "
                        "hmac_secret");
    /* One place for an instance's public keys: a key in the other one
     * would be forgotten at the next rotation. */
    if (inst->jwks_file != NULL && inst->npem_keys > 0)
        return cfg_fail(ctx, FIELD(".pem_keys"), SD_EINVAL,
                        "cannot be combined with jwks_file: give the keys in one "
                        "of them");
    if (inst->jwks_file == NULL && inst->jwks_uri == NULL && inst->npem_keys == 0 &&
        inst->hmac_secret == NULL)
        return cfg_fail(ctx, FIELD(""), SD_EINVAL,
                        "needs a key source: jwks_file, jwks_uri, pem_keys or "
                        "hmac_secret");
    if (inst->license_limit < 0)
        return cfg_fail(ctx, FIELD(".license_limit"), SD_EINVAL,
                        "required (an integer >= 0)");
    for (size_t r = 0; r < inst->nreserved; r++) {
        if (empty(inst->reserved[r]))
            return cfg_fail(ctx, FIELD(".reserved"), SD_EINVAL,
                            "subjects must not be empty");
        if (sd_has_control(inst->reserved[r], strlen(inst->reserved[r])))
            return cfg_fail(ctx, FIELD(".reserved"), SD_EINVAL,
                            "subjects must not contain control characters (C0, DEL "
                            "or C1): no token can carry them");
        for (size_t q = 0; q < r; q++)
            if (strcmp(inst->reserved[q], inst->reserved[r]) == 0)
                return cfg_fail(ctx, FIELD(".reserved"), SD_EINVAL,
                                "\"%s\" is listed twice", inst->reserved[r]);
    }
    /* More reserved seats than licenses would promise what cannot be kept. */
    if ((int64_t)inst->nreserved > inst->license_limit)
        return cfg_fail(ctx, FIELD(".reserved"), SD_EINVAL,
                        "%zu subjects but license_limit is %lld", inst->nreserved,
                        (long long)inst->license_limit);
    if ((inst->service_claim_name == NULL) != (inst->service_claim_value == NULL) ||
        empty(inst->service_claim_name))
        return cfg_fail(ctx, FIELD(".service_claim"), SD_EINVAL,
                        "needs both a non-empty \"name\" and a \"value\"");
#undef FIELD
    return validate_hosts(cfg, i, ctx);
}

/* Each entry of a list of "host:port" addresses (redis.sentinels,
 * redis.cluster) must parse. */
static int validate_addresses(char *const *list, size_t n, const char *name,
                              const cfg_ctx *ctx) {
    char path[PATH_LEN], msg[160];
    for (size_t i = 0; i < n; i++) {
        char *host = NULL;
        uint16_t port;
        int rc = cfg_parse_hostport(list[i], &host, &port, msg, sizeof msg);
        free(host);
        snprintf(path, sizeof path, "redis.%s[%zu]", name, i);
        if (rc == SD_EINVAL) return cfg_fail(ctx, path, rc, "%s", msg);
        if (rc) return rc;
    }
    return 0;
}

/* At most one topology: redis.url (single node), redis.sentinels with
 * redis.master_name, or redis.cluster. */
static int validate_redis(const sd_config *cfg, const cfg_ctx *ctx) {
    /* An empty list (an empty environment variable) is no topology. */
    int sentinel = cfg->nredis_sentinels > 0, cluster = cfg->nredis_cluster > 0;
    if (sentinel && cluster)
        return cfg_fail(ctx, "redis.cluster", SD_EINVAL,
                        "cannot be combined with redis.sentinels: choose one topology");
    if ((sentinel || cluster) && cfg->redis_url_set)
        return cfg_fail(ctx, "redis.url", SD_EINVAL,
                        "cannot be combined with redis.%s (a password goes in "
                        "redis.password)",
                        sentinel ? "sentinels" : "cluster");
    if (!sentinel && cfg->redis_master_name)
        return cfg_fail(ctx, "redis.master_name", SD_EINVAL, "needs redis.sentinels");
    if (!sentinel && cfg->redis_sentinel_password)
        return cfg_fail(ctx, "redis.sentinel_password", SD_EINVAL,
                        "needs redis.sentinels");
    if (sentinel) {
        if (cfg->redis_master_name == NULL || cfg->redis_master_name[0] == '\0' ||
            strpbrk(cfg->redis_master_name, " \t\r\n"))
            return cfg_fail(ctx, "redis.master_name", SD_EINVAL,
                            "required with redis.sentinels (one word, e.g. "
                            "\"mymaster\")");
        return validate_addresses(cfg->redis_sentinels, cfg->nredis_sentinels,
                                  "sentinels", ctx);
    }
    if (cluster)
        return validate_addresses(cfg->redis_cluster, cfg->nredis_cluster, "cluster",
                                  ctx);
    return 0;
}

int cfg_validate(const sd_config *cfg, char *err, size_t errlen) {
    cfg_ctx ctx = {err, errlen, NULL};
    int redis_rc = validate_redis(cfg, &ctx);
    if (redis_rc) return redis_rc;

    if (cfg->replica_id == NULL ||
        !valid_header_token(cfg->replica_id, REPLICA_ID_MAX_LEN))
        return cfg_fail(&ctx, "replica_id", SD_EINVAL,
                        "must be 1 to %d visible ASCII characters",
                        REPLICA_ID_MAX_LEN);
    if (cfg->admin_secret && strlen(cfg->admin_secret) < HMAC_MIN_BYTES)
        return cfg_fail(&ctx, "admin_secret", SD_EINVAL,
                        "must be at least %d bytes", HMAC_MIN_BYTES);
    if (cfg->admin_scope == NULL || empty(cfg->admin_scope) ||
        strchr(cfg->admin_scope, ' '))
        return cfg_fail(&ctx, "admin_scope", SD_EINVAL,
                        "must be one non-empty scope without spaces");
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    int level_ok = 0;
    for (size_t l = 0; l < 4; l++)
        level_ok |= cfg->log_level && strcmp(cfg->log_level, levels[l]) == 0;
    if (!level_ok)
        return cfg_fail(&ctx, "log_level", SD_EINVAL,
                        "must be \"debug\", \"info\", \"warn\" or \"error\"");
    if (cfg->ninstances == 0)
        return cfg_fail(&ctx, "instances", SD_EINVAL,
                        "at least one instance is required");
    for (size_t i = 0; i < cfg->ninstances; i++) {
        int rc = validate_instance(cfg, i, &ctx);
        if (rc != 0) return rc;
    }
    return 0;
}
