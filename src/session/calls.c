/* Typed calls of the session scripts and parsing of their replies. */
#include <string.h>

#include <openssl/rand.h>

#include "core/base64url.h"
#include "sessiond/error.h"
#include "session/session.h"

/* A claim reaps at most this many expired slots, so no single request pays
 * for a mass expiry; the periodic sweep removes the rest. */
#define CLAIM_REAP_BATCH "100"

/* A new public session id: 128 random bits, base64url (22 characters). */
static int new_session_id(char out[32]) {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) return SD_ENOMEM;
    return sd_b64url_encode(raw, sizeof raw, out, 32, NULL);
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

    const char *absolute = kind == SD_KIND_SERVICE ? inst->absolute_arg
                                                   : inst->interactive_abs_arg;
    const char *kind_name = sd_session_kind_name(kind);
    const char *sub = claims->sub ? claims->sub : "";
    const char *client = claims->client_id ? claims->client_id : "";
    const char *args[] = {
        inst->pool_key, inst->slots_key, binding.key,
        inst->prefix, id, inst->sliding_arg, absolute, sub, client, kind_name,
        binding.desc, inst->limit_arg, CLAIM_REAP_BATCH, want_usage ? "1" : "0",
    };
    const size_t lens[] = {
        inst->pool_key_len, inst->slots_key_len, binding.key_len,
        inst->prefix_len, strlen(id), strlen(inst->sliding_arg),
        strlen(absolute), strlen(sub), strlen(client), strlen(kind_name),
        binding.desc_len, strlen(inst->limit_arg), strlen(CLAIM_REAP_BATCH), 1,
    };
    return sd_store_call(store, SD_SCRIPT_OPEN_OR_RESUME, 3,
                         (int)(sizeof args / sizeof *args), args, lens, cb,
                         data);
}

int sd_session_close(sd_store *store, const sd_instance *inst,
                     const sd_claims *claims, sd_store_cb *cb, void *data) {
    sd_binding binding;
    sd_binding_of(inst, claims, sd_session_kind_of(claims), &binding);
    const char *args[] = {inst->slots_key, binding.key, inst->prefix};
    const size_t lens[] = {inst->slots_key_len, binding.key_len,
                           inst->prefix_len};
    return sd_store_call(store, SD_SCRIPT_CLOSE, 2, 3, args, lens, cb, data);
}

int sd_session_sweep(sd_store *store, const sd_instance *inst, int64_t batch,
                     sd_store_cb *cb, void *data) {
    char batch_arg[24];
    int n = snprintf(batch_arg, sizeof batch_arg, "%lld", (long long)batch);
    const char *args[] = {inst->slots_key, batch_arg};
    const size_t lens[] = {inst->slots_key_len, (size_t)n};
    return sd_store_call(store, SD_SCRIPT_SWEEP, 1, 2, args, lens, cb, data);
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
            int_at(reply, 6, &out->limit))
            return SD_ESTORE_REPLY;
        return 0;
    case SD_SCRIPT_DENIED:
        if (int_at(reply, 1, &out->retry_after_ms) ||
            int_at(reply, 2, &out->used) || int_at(reply, 3, &out->limit))
            return SD_ESTORE_REPLY;
        return 0;
    case SD_SCRIPT_CLOSED:
        return id_at(reply, 1, out->id, sizeof out->id) ? SD_ESTORE_REPLY : 0;
    case SD_SCRIPT_NONE:
        return 0;
    default:
        return SD_ESTORE_REPLY;
    }
}
