/* Builds the runtime of one instance: parsed keys, policy, key names. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "sessiond/error.h"
#include "session/session.h"

/* Why a JWKS file the key set refused (SD_EINVAL) is wrong, into why:
 * the JSON parser's complaint with its line and column, or what the
 * document lacks. The key set only says "invalid argument". */
static void describe_bad_jwks(const char *path, char *why, size_t cap) {
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    json_t *keys = json_object_get(doc, "keys");
    if (!doc)
        snprintf(why, cap, "not valid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
    else if (!json_is_array(keys))
        snprintf(why, cap, "not a JWKS: no \"keys\" array");
    else if (json_array_size(keys) == 0)
        snprintf(why, cap, "the \"keys\" array is empty");
    else
        snprintf(why, cap, "a key in \"keys\" is malformed or of an unsupported "
                           "type, size or algorithm");
    json_decref(doc);
}

/* Loads every key source of cfg into ks. */
static int load_keys(sd_keyset *ks, const sd_instance_config *cfg, char *err,
                     size_t errlen) {
    int rc = 0;
    int allow_hmac = cfg->hmac_secret != NULL;
    /* Keys from a jwks_uri arrive later, from the worker's fetcher; the
     * configuration made it the only source. */
    if (cfg->jwks_uri) return 0;
    if (cfg->jwks_file &&
        (rc = sd_keyset_add_jwks_file(ks, cfg->jwks_file, allow_hmac))) {
        char why[256];
        snprintf(why, sizeof why, "%s", sd_strerror(rc));
        if (rc == SD_EINVAL) describe_bad_jwks(cfg->jwks_file, why, sizeof why);
        snprintf(err, errlen, "instance %s: jwks_file %s: %s", cfg->name,
                 cfg->jwks_file, why);
        return rc;
    }
    for (size_t i = 0; i < cfg->npem_keys; i++) {
        const sd_pem_key *pem = &cfg->pem_keys[i];
        if ((rc = sd_keyset_add_pem_file(ks, pem->path, pem->kid))) {
            snprintf(err, errlen, "instance %s: pem key %s: %s", cfg->name,
                     pem->path, sd_strerror(rc));
            return rc;
        }
    }
    if (cfg->hmac_secret &&
        (rc = sd_keyset_add_hmac(ks,
                                 (const unsigned char *)cfg->hmac_secret,
                                 strlen(cfg->hmac_secret), NULL))) {
        snprintf(err, errlen, "instance %s: hmac_secret: %s", cfg->name,
                 sd_strerror(rc));
        return rc;
    }
    if (sd_keyset_count(ks) == 0) {
        snprintf(err, errlen, "instance %s: no usable verification key",
                 cfg->name);
        return SD_EINVAL;
    }
    return 0;
}

static size_t format_key(char *out, size_t cap, const char *prefix,
                         const char *suffix) {
    int n = snprintf(out, cap, "%s%s", prefix, suffix);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void format_int(char *out, size_t cap, int64_t v) {
    snprintf(out, cap, "%" PRId64, v);
}

/* [A-Za-z0-9_-]{1,64}: the config validates it too; sessionctl takes it
 * from the command line. */
static int valid_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 64) return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int sd_instance_init_names(sd_instance *inst, const char *name,
                           int64_t events_max, const char *replica) {
    memset(inst, 0, sizeof *inst);
    if (!valid_name(name)) return SD_EINVAL;
    static const char *const suffix[SD_KEY_COUNT] = {
        [SD_KEY_POOL] = "pool",   [SD_KEY_RESERVED] = "reserved",
        [SD_KEY_SLOTS] = "slots", [SD_KEY_SEATS] = "seats",
        [SD_KEY_META] = "meta",   [SD_KEY_EVENTS] = "events",
        [SD_KEY_OPENED] = "opened",
    };
    int n = snprintf(inst->prefix, sizeof inst->prefix, "sd:{%s}:", name);
    inst->prefix_len = (size_t)n;
    for (int k = 0; k < SD_KEY_COUNT; k++)
        inst->key_len[k] = format_key(inst->key[k], sizeof inst->key[k],
                                      inst->prefix, suffix[k]);
    snprintf(inst->name, sizeof inst->name, "%s", name);
    /* No configuration: usage reports "-1" while Redis has no limit. */
    snprintf(inst->limit_arg, sizeof inst->limit_arg, "-1");
    format_int(inst->events_max_arg, sizeof inst->events_max_arg, events_max);
    inst->replica = replica ? replica : "";
    return 0;
}

int sd_instance_init(sd_instance *inst, const sd_instance_config *cfg,
                     const sd_config *global, char *err, size_t errlen) {
    if (sd_instance_init_names(inst, cfg->name, global->events_max,
                               global->replica_id) != 0) {
        snprintf(err, errlen, "instance %s: invalid name", cfg->name);
        return SD_EINVAL;
    }
    inst->cfg = cfg;
    inst->keys = sd_keyset_new();
    if (!inst->keys) {
        snprintf(err, errlen, "out of memory");
        return SD_ENOMEM;
    }
    int rc = load_keys(inst->keys, cfg, err, errlen);
    if (rc) {
        sd_instance_cleanup(inst);
        return rc;
    }
    inst->policy.issuer = cfg->issuer;
    inst->policy.audience = cfg->audience;
    inst->policy.leeway_s = global->leeway_s;
    inst->policy.max_token_bytes = (size_t)global->max_token_bytes;

    inst->policy.service_claim_name = cfg->service_claim_name;
    inst->policy.service_claim_value = cfg->service_claim_value;

    format_int(inst->limit_arg, sizeof inst->limit_arg, cfg->license_limit);
    format_int(inst->sliding_arg, sizeof inst->sliding_arg, cfg->sliding_ms);
    format_int(inst->absolute_arg, sizeof inst->absolute_arg, cfg->absolute_ms);
    format_int(inst->interactive_abs_arg, sizeof inst->interactive_abs_arg,
               cfg->interactive_absolute_ms);
    format_int(inst->subject_cap_arg, sizeof inst->subject_cap_arg,
               cfg->max_sessions_per_subject);
    return 0;
}

int sd_instance_load_keys(const sd_instance *inst, sd_keyset **out, char *err,
                          size_t errlen) {
    sd_keyset *ks = sd_keyset_new();
    if (!ks) {
        snprintf(err, errlen, "out of memory");
        return SD_ENOMEM;
    }
    int rc = load_keys(ks, inst->cfg, err, errlen);
    if (rc) {
        sd_keyset_free(ks);
        return rc;
    }
    *out = ks;
    return 0;
}

void sd_instance_swap_keys(sd_instance *inst, sd_keyset *keys) {
    sd_keyset_free(inst->keys);
    inst->keys = keys;
}

void sd_instance_cleanup(sd_instance *inst) {
    sd_keyset_free(inst->keys);
    inst->keys = NULL;
}
