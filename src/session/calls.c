/* Typed calls of the session scripts and parsing of their replies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "core/base64url.h"
#include "core/log.h"
#include "sessiond/error.h"
#include "session/script_args.h"
#include "session/session.h"

/* A claim reaps at most this many expired slots, so no single request pays
 * for a mass expiry; the periodic sweep removes the rest. */
#define CLAIM_REAP_BATCH "100"

/* A new public session id: 128 random bits, base64url (22 characters).
 * Its first character is a letter or digit (drawn again otherwise, 1 time
 * in 32), so an id never looks like an option on a command line. */
static int new_session_id(char out[32]) {
    unsigned char raw[16];
    do {
        if (RAND_bytes(raw, sizeof raw) != 1) return SD_ENOMEM;
        /* The first character encodes the top 6 bits of raw[0]: 62 and 63
         * are '-' and '_'. */
    } while ((raw[0] >> 2) >= 62);
    return sd_b64url_encode(raw, sizeof raw, out, 32, NULL);
}

char *sd_session_revoked_key(const sd_instance *inst, const char *jti, char *buf,
                             size_t cap, size_t *len, char **owned) {
    size_t jl = strlen(jti);
    /* A token without jti cannot be revoked: "revoked:" alone is never set
     * (the verifier refuses an empty jti). */
    *len = inst->prefix_len + 8 + jl;
    char *key = buf;
    *owned = NULL;
    if (*len + 1 > cap) {
        if (!(key = *owned = malloc(*len + 1))) return NULL;
    }
    memcpy(key, inst->prefix, inst->prefix_len);
    memcpy(key + inst->prefix_len, "revoked:", 8);
    memcpy(key + inst->prefix_len + 8, jti, jl + 1);
    return key;
}

static void on_abandon_reply(int err, const redisReply *reply, void *data) {
    const sd_instance *inst = data;
    sd_session_result res;
    if (!err && sd_session_parse(reply, &res) == 0 && res.code == SD_SCRIPT_CLOSED)
        sd_log(SD_LOG_WARN, "closed a session opened after its request timed out",
               "instance", inst->name, "session", res.id, NULL);
}

/* The client was told 503, yet the script may have opened a session: close
 * it again unless the client's retry has already resumed it, so a request
 * that failed holds no license for the whole idle time-out. With the reply
 * we know; without one (the connection went), the id this call would have
 * opened (its tag) is closed if it exists, once Redis is back. */
static void on_late_open(sd_store *store, const redisReply *reply, const char *tag,
                         void *data) {
    const sd_instance *inst = data;
    sd_session_result res;
    const char *id = tag;
    if (reply) {
        if (sd_session_parse(reply, &res) != 0 || res.code != SD_SCRIPT_OPENED) return;
        id = res.id;
    }
    if (sd_session_abandon(store, inst, id, on_abandon_reply, data) != 0)
        sd_log(SD_LOG_WARN, "cannot undo a session opened after its request failed",
               "instance", inst->name, "session", id, NULL);
}

int sd_session_open_or_resume(sd_store *store, const sd_instance *inst,
                              const sd_claims *claims, int want_usage,
                              sd_store_cb *cb, void *data) {
    sd_session_kind kind = sd_session_kind_of(claims);
    sd_binding binding;
    sd_binding_of(inst, claims, kind, &binding);
    char id[32];
    int rc = new_session_id(id);
    if (rc) return rc;
    char revoked_buf[256], *revoked_owned;
    size_t revoked_len;
    const char *revoked =
        sd_session_revoked_key(inst, claims->jti ? claims->jti : "", revoked_buf,
                               sizeof revoked_buf, &revoked_len, &revoked_owned);
    if (!revoked) return SD_ENOMEM;

    script_args a = {.n = 0};
    add_key(&a, inst, SD_KEY_POOL);
    add_key(&a, inst, SD_KEY_RESERVED);
    add_key(&a, inst, SD_KEY_SLOTS);
    add_key(&a, inst, SD_KEY_SEATS);
    add_key(&a, inst, SD_KEY_META);
    add_key(&a, inst, SD_KEY_EVENTS);
    add(&a, binding.key, binding.key_len);
    add(&a, revoked, revoked_len);
    add_key(&a, inst, SD_KEY_OPENED);
    add(&a, inst->prefix, inst->prefix_len);
    add_str(&a, id);
    add_str(&a, inst->sliding_arg);
    add_str(&a, kind == SD_KIND_SERVICE ? inst->absolute_arg : inst->interactive_abs_arg);
    add_str(&a, claims->sub ? claims->sub : "");
    add_str(&a, claims->client_id ? claims->client_id : "");
    add_str(&a, sd_session_kind_name(kind));
    add(&a, binding.desc, binding.desc_len);
    add_str(&a, inst->limit_arg);
    add_str(&a, CLAIM_REAP_BATCH);
    add_str(&a, want_usage ? "1" : "0");
    add_str(&a, inst->subject_cap_arg);
    add_str(&a, inst->events_max_arg);
    add_str(&a, inst->replica);
    /* Past this (Redis time) the client has had its 503: do nothing. */
    char deadline[24];
    snprintf(deadline, sizeof deadline, "%lld", (long long)sd_store_deadline_ms(store));
    add_str(&a, deadline);
    rc = sd_store_call_late(store, SD_SCRIPT_OPEN_OR_RESUME, 9, a.n, a.v, a.len, cb, data,
                            on_late_open, (void *)inst, id);
    free(revoked_owned);
    return rc;
}

/* close-7 by binding key (logout) or by session id (operator, undo). */
static int close_call(sd_store *store, const sd_instance *inst,
                      const char *binding_key, size_t binding_len,
                      const char *revoked_key, size_t revoked_len, const char *id,
                      const char *reason, int only_untouched, sd_store_cb *cb,
                      void *data) {
    /* An undo must survive the outage that made it necessary. */
    int (*call)(sd_store *, sd_script_id, int, int, const char **, const size_t *,
                sd_store_cb *, void *) =
        only_untouched ? sd_store_call_deferred : sd_store_call;
    script_args a = {.n = 0};
    add_key(&a, inst, SD_KEY_SLOTS);
    add_key(&a, inst, SD_KEY_SEATS);
    add_key(&a, inst, SD_KEY_META);
    add_key(&a, inst, SD_KEY_EVENTS);
    add(&a, binding_key, binding_len);
    add_key(&a, inst, SD_KEY_OPENED);
    add(&a, revoked_key, revoked_len);
    add(&a, inst->prefix, inst->prefix_len);
    add_str(&a, reason);
    add_str(&a, inst->events_max_arg);
    add_str(&a, inst->replica);
    add_str(&a, id);
    add_str(&a, only_untouched ? "1" : "0");
    return call(store, SD_SCRIPT_CLOSE, 7, a.n, a.v, a.len, cb, data);
}

int sd_session_close(sd_store *store, const sd_instance *inst,
                     const sd_claims *claims, sd_store_cb *cb, void *data) {
    sd_binding binding;
    sd_binding_of(inst, claims, sd_session_kind_of(claims), &binding);
    char revoked_buf[256], *revoked_owned;
    size_t revoked_len;
    const char *revoked =
        sd_session_revoked_key(inst, claims->jti ? claims->jti : "", revoked_buf,
                               sizeof revoked_buf, &revoked_len, &revoked_owned);
    if (!revoked) return SD_ENOMEM;
    int rc = close_call(store, inst, binding.key, binding.key_len, revoked, revoked_len,
                        "", "logout", 0, cb, data);
    free(revoked_owned);
    return rc;
}

int sd_session_close_id(sd_store *store, const sd_instance *inst, const char *id,
                        const char *reason, sd_store_cb *cb, void *data) {
    /* The binding and revocation keys are not used with an id, but every
     * KEYS slot must name a key of the instance's hash tag: the pool key
     * stands in. */
    if (!*id) return SD_EINVAL;
    return close_call(store, inst, inst->key[SD_KEY_POOL], inst->key_len[SD_KEY_POOL],
                      inst->key[SD_KEY_POOL], inst->key_len[SD_KEY_POOL], id, reason, 0,
                      cb, data);
}

int sd_session_abandon(sd_store *store, const sd_instance *inst, const char *id,
                       sd_store_cb *cb, void *data) {
    if (!*id) return SD_EINVAL;
    return close_call(store, inst, inst->key[SD_KEY_POOL], inst->key_len[SD_KEY_POOL],
                      inst->key[SD_KEY_POOL], inst->key_len[SD_KEY_POOL], id, "abandoned",
                      1, cb, data);
}

int sd_session_sweep(sd_store *store, const sd_instance *inst, int64_t batch,
                     sd_store_cb *cb, void *data) {
    char batch_arg[24];
    snprintf(batch_arg, sizeof batch_arg, "%lld", (long long)batch);
    script_args a = {.n = 0};
    add_key(&a, inst, SD_KEY_SLOTS);
    add_key(&a, inst, SD_KEY_SEATS);
    add_key(&a, inst, SD_KEY_META);
    add_key(&a, inst, SD_KEY_EVENTS);
    add_key(&a, inst, SD_KEY_OPENED);
    add_key(&a, inst, SD_KEY_POOL);
    add(&a, inst->prefix, inst->prefix_len);
    add_str(&a, batch_arg);
    add_str(&a, inst->events_max_arg);
    add_str(&a, inst->replica);
    add_str(&a, inst->limit_arg);
    return sd_store_call(store, SD_SCRIPT_SWEEP, 6, a.n, a.v, a.len, cb, data);
}

int sd_session_seed(sd_store *store, const sd_instance *inst, sd_store_cb *cb,
                    void *data) {
    const sd_instance_config *cfg = inst->cfg;
    size_t n = 3 + cfg->nreserved;
    const char **v = malloc(n * sizeof *v);
    size_t *len = malloc(n * sizeof *len);
    int rc = SD_ENOMEM;
    if (v && len) {
        v[0] = inst->key[SD_KEY_POOL];
        len[0] = inst->key_len[SD_KEY_POOL];
        v[1] = inst->key[SD_KEY_RESERVED];
        len[1] = inst->key_len[SD_KEY_RESERVED];
        v[2] = inst->limit_arg;
        len[2] = strlen(inst->limit_arg);
        for (size_t i = 0; i < cfg->nreserved; i++) {
            v[3 + i] = cfg->reserved[i];
            len[3 + i] = strlen(cfg->reserved[i]);
        }
        rc = sd_store_call(store, SD_SCRIPT_SEED, 2, (int)n, v, len, cb, data);
    }
    free(v);
    free(len);
    return rc;
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

static int int_at(const redisReply *r, size_t i, int64_t *out) {
    if (i >= r->elements || r->element[i]->type != REDIS_REPLY_INTEGER)
        return -1;
    *out = r->element[i]->integer;
    return 0;
}

static int id_at(const redisReply *r, size_t i, char *out, size_t cap) {
    if (i >= r->elements) return -1;
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len >= cap)
        return -1;
    memcpy(out, e->str, e->len);
    out[e->len] = '\0';
    return 0;
}

int sd_session_parse(const redisReply *reply, sd_session_result *out) {
    memset(out, 0, sizeof *out);
    out->used = out->limit = out->retry_after_ms = -1;
    int64_t code;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || int_at(reply, 0, &code))
        return SD_ESTORE_REPLY;
    out->code = (int)code;
    switch (code) {
    case SD_SCRIPT_OPENED:
    case SD_SCRIPT_RESUMED:
        if (id_at(reply, 1, out->id, sizeof out->id) ||
            int_at(reply, 2, &out->opened_at_ms) ||
            int_at(reply, 3, &out->expires_at_ms) ||
            int_at(reply, 4, &out->requests) || int_at(reply, 5, &out->used) ||
            int_at(reply, 6, &out->limit) || int_at(reply, 7, &out->closed_idle) ||
            int_at(reply, 8, &out->closed_absolute))
            return SD_ESTORE_REPLY;
        return 0;
    case SD_SCRIPT_DENIED: {
        char reason[32];
        if (int_at(reply, 1, &out->retry_after_ms) ||
            int_at(reply, 2, &out->used) || int_at(reply, 3, &out->limit) ||
            id_at(reply, 4, reason, sizeof reason) ||
            int_at(reply, 5, &out->closed_idle) ||
            int_at(reply, 6, &out->closed_absolute))
            return SD_ESTORE_REPLY;
        if (strcmp(reason, "license_limit") == 0)
            out->denied = SD_ELICENSE_LIMIT;
        else if (strcmp(reason, "subject_limit") == 0 &&
                 int_at(reply, 7, &out->subject_sessions) == 0 &&
                 int_at(reply, 8, &out->subject_limit) == 0)
            out->denied = SD_ESUBJECT_LIMIT;
        else
            return SD_ESTORE_REPLY;
        return 0;
    }
    case SD_SCRIPT_CLOSED:
        return id_at(reply, 1, out->id, sizeof out->id) ? SD_ESTORE_REPLY : 0;
    case SD_SCRIPT_NONE:
        if (int_at(reply, 1, &out->closed_idle) ||
            int_at(reply, 2, &out->closed_absolute))
            return SD_ESTORE_REPLY;
        return 0;
    case SD_SCRIPT_REVOKED:
    case SD_SCRIPT_TOO_LATE:
        return 0;
    default:
        return SD_ESTORE_REPLY;
    }
}
