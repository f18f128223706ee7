/* /v1/admin/instances/{i}/...: the operators' HTTP API (SPEC §5).
 *
 *   GET    .../license              usage, limit, reserved subjects
 *   PUT    .../license              {"limit": N, "reserved": [...]} (either or both)
 *   GET    .../sessions             open sessions, newest first (?cursor=&limit=)
 *   GET    .../sessions/{id}        one session
 *   DELETE .../sessions/{id}        close it (reason "admin")
 *   POST   .../revocations          {"jti": "...", "exp": <seconds>}
 *
 * Every route needs the admin bearer secret (compared in constant time) or a
 * token of that same instance carrying the admin scope. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "core/log.h"
#include "core/text.h"
#include "http/http_internal.h"
#include "session/admin.h"
#include "sessiond/error.h"

/* A revocation outliving its token by more than this is a typo, not a
 * policy: the key would sit in Redis long after the token is dead. */
#define MAX_REVOCATION_S (366LL * 24 * 3600)
#define DEFAULT_PAGE 100

typedef enum admin_op {
    OP_LICENSE_GET,
    OP_LICENSE_PUT,
    OP_SESSIONS_LIST,
    OP_SESSION_SHOW,
    OP_SESSION_CLOSE,
    OP_REVOKE,
} admin_op;

/* An admin request waiting for Redis. */
typedef struct admin_request {
    sd_http_exchange x;
    const sd_instance *inst;
    admin_op op;
    char id[72];        /* the session of .../sessions/{id} */
    char *jti;          /* an admin token's jti, checked against revocations */
} admin_request;

/* ------------------------------------------------------------------------
 * Authentication
 * ------------------------------------------------------------------------ */

/* Compares the presented bearer with the admin secret in constant time: both
 * are hashed first, so neither the contents nor the length leak. */
static int is_admin_secret(const sd_config *cfg, const char *token, size_t len) {
    if (!cfg->admin_secret) return 0;
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, a);
    SHA256((const unsigned char *)cfg->admin_secret, strlen(cfg->admin_secret), b);
    return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

/* 1 when token has the compact JWS form's two dots; its segments are
 * checked by the verifier. */
static int jws_shaped(const char *token, size_t len) {
    size_t dots = 0;
    for (size_t i = 0; i < len; i++)
        dots += token[i] == '.';
    return dots == 2;
}

/* 1 when the space-separated scope list contains want. */
static int has_scope(const char *scopes, const char *want) {
    size_t n = strlen(want);
    for (const char *p = scopes; p && *p;) {
        while (*p == ' ') p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, want, n) == 0) return 1;
        p = end;
    }
    return 0;
}

/* Returns 0 when the caller may administer inst (NULL: the path named no
 * configured instance), else the error to answer with. An admin token's
 * jti goes to *jti (caller frees; NULL for the secret or a token without
 * one): it must still be checked against the revocation list. */
static int authorize(sd_http_exchange *x, const sd_instance *inst, char **jti) {
    *jti = NULL;
    size_t len = 0;
    const char *token = sd_http_bearer_token(x->req, &len);
    if (!token) return SD_ETOKEN_MISSING;
    if (is_admin_secret(x->srv->cfg, token, len)) return 0;
    /* Not the secret, and not shaped like a token either (two dots): most
     * likely a wrong secret, which "token_malformed" would not say. */
    if (!jws_shaped(token, len)) return SD_ETOKEN_ADMIN_CREDENTIALS;
    /* Only the secret may learn which instances exist. */
    if (!inst) return SD_ETOKEN_ISSUER;
    sd_claims *claims = NULL;
    int rc = sd_worker_verify(x->srv->worker, inst, token, len,
                              sd_http_wall_clock_s(), &claims);
    if (rc) return rc;
    sd_http_note_token(x, claims->token_sha256);
    rc = has_scope(claims->scope, x->srv->cfg->admin_scope) ? 0 : SD_EFORBIDDEN;
    if (rc == 0 && claims->jti && !(*jti = strdup(claims->jti))) rc = SD_ENOMEM;
    sd_claims_unref(claims);
    return rc;
}

/* ------------------------------------------------------------------------
 * Replies from Redis
 * ------------------------------------------------------------------------ */

static void done(admin_request *ar) {
    sd_http_request_finished(ar->x.srv);
    free(ar->jti);
    free(ar);
}

static void on_usage_reply(int err, const redisReply *reply, void *data) {
    admin_request *ar = data;
    json_t *doc = err ? NULL : sd_admin_usage_json(ar->inst, reply);
    if (doc)
        sd_http_send_doc(&ar->x, 200, "ok", doc);
    else
        sd_http_send_error(&ar->x, err ? err : SD_ESTORE_REPLY);
    done(ar);
}

/* After a change of the settings, answer with the whole license document. */
static void on_settings_reply(int err, const redisReply *reply, void *data) {
    admin_request *ar = data;
    if (!err && reply && reply->type == REDIS_REPLY_ERROR &&
        strstr(reply->str, "more reserved subjects than licenses"))
        err = SD_ERESERVED_OVER_LIMIT;
    if (!err && (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3))
        err = SD_ESTORE_REPLY;
    if (!err) {
        sd_log(SD_LOG_INFO, "license settings changed", "instance", ar->inst->name,
               "request_id", ar->x.request_id, NULL);
        err = sd_admin_usage(ar->x.srv->worker->store, ar->inst, on_usage_reply, ar);
        if (!err) return;
    }
    sd_http_send_error(&ar->x, err);
    done(ar);
}

static void on_list_reply(int err, const redisReply *reply, void *data) {
    admin_request *ar = data;
    int bad_cursor = 0;
    json_t *doc = err ? NULL : sd_admin_list_json(ar->inst, reply, &bad_cursor);
    if (doc)
        sd_http_send_doc(&ar->x, 200, "ok", doc);
    else
        sd_http_send_error(&ar->x, err ? err : bad_cursor ? SD_EBAD_REQUEST
                                                         : SD_ESTORE_REPLY);
    done(ar);
}

static void on_show_reply(int err, const redisReply *reply, void *data) {
    admin_request *ar = data;
    int not_found = 0;
    json_t *doc = err ? NULL : sd_admin_show_json(reply, &not_found);
    if (doc)
        sd_http_send_doc(&ar->x, 200, "ok", doc);
    else
        sd_http_send_error(&ar->x, err         ? err
                                   : not_found ? SD_ESESSION_ID_UNKNOWN
                                               : SD_ESTORE_REPLY);
    done(ar);
}

static void on_close_reply(int err, const redisReply *reply, void *data) {
    admin_request *ar = data;
    sd_session_result res;
    if (!err) err = sd_session_parse(reply, &res);
    if (!err) sd_worker_count(ar->x.srv->worker, ar->inst, &res, SD_CLOSED_ADMIN);
    if (!err && res.code == SD_SCRIPT_NONE) err = SD_ESESSION_ID_UNKNOWN;
    if (!err && res.code != SD_SCRIPT_CLOSED) err = SD_ESTORE_REPLY;
    if (err) {
        sd_http_send_error(&ar->x, err);
    } else {
        sd_log(SD_LOG_INFO, "session closed by an operator", "instance",
               ar->inst->name, "session", res.id, "request_id", ar->x.request_id,
               NULL);
        sd_http_send_empty(&ar->x, 204, "closed");
    }
    done(ar);
}

static void on_revoke_reply(int err, const redisReply *reply, void *data) {
    admin_request *ar = data;
    if (!err && (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2))
        err = SD_ESTORE_REPLY;
    if (err)
        sd_http_send_error(&ar->x, err);
    else
        sd_http_send_empty(&ar->x, 204, "revoked");
    done(ar);
}

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

/* The request body as JSON (duplicates refused), or NULL. */
static json_t *body_json(struct evhttp_request *req) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *data = (const char *)evbuffer_pullup(in, -1);
    if (!len || !data) return NULL;
    json_error_t e;
    return json_loadb(data, len, JSON_REJECT_DUPLICATES, &e);
}

/* PUT license: validates the body and starts the settings change. */
static int start_license_put(admin_request *ar) {
    json_t *doc = body_json(ar->x.req);
    json_t *limit = json_object_get(doc, "limit");
    json_t *reserved = json_object_get(doc, "reserved");
    int rc = SD_EBAD_REQUEST;
    const char **subjects = NULL;
    size_t n = 0;
    char limit_text[24];
    if (!json_is_object(doc) || (!limit && !reserved) ||
        json_object_size(doc) != (size_t)(!!limit + !!reserved))
        goto out;
    if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 0 ||
                  json_integer_value(limit) > 100000000))
        goto out;
    if (limit)
        snprintf(limit_text, sizeof limit_text, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(limit));
    if (reserved) {
        if (!json_is_array(reserved) || json_array_size(reserved) > 10000) goto out;
        n = json_array_size(reserved);
        subjects = calloc(n ? n : 1, sizeof *subjects);
        if (!subjects) {
            rc = SD_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *v = json_array_get(reserved, i);
            const char *s = json_string_value(v);
            if (!s) goto out;
            /* Token claims with control characters are refused, so such a
             * seat could never be used yet would shrink the shared pool. */
            if (!*s || sd_has_control(s, json_string_length(v))) {
                rc = SD_ESUBJECT_INVALID;
                goto out;
            }
            subjects[i] = s;
        }
    }
    rc = sd_admin_settings(ar->x.srv->worker->store, ar->inst, limit ? limit_text : NULL,
                           reserved ? "replace" : "keep", subjects, n,
                           ar->x.srv->cfg->replica_id, on_settings_reply, ar);
out:
    free(subjects);
    json_decref(doc);
    return rc;
}

/* POST revocations: {"jti": "...", "exp": <seconds since the epoch>}. */
static int start_revoke(admin_request *ar) {
    json_t *doc = body_json(ar->x.req);
    const char *jti = json_string_value(json_object_get(doc, "jti"));
    json_t *exp = json_object_get(doc, "exp");
    int rc = SD_EBAD_REQUEST;
    if (json_is_object(doc) && json_object_size(doc) == 2 && jti && *jti &&
        strlen(jti) <= 1024 && json_is_integer(exp) && json_integer_value(exp) > 0 &&
        json_integer_value(exp) <= sd_http_wall_clock_s() + MAX_REVOCATION_S)
        rc = sd_admin_revoke(ar->x.srv->worker->store, ar->inst, jti,
                             (int64_t)json_integer_value(exp) * 1000,
                             ar->x.srv->cfg->replica_id, on_revoke_reply, ar);
    json_decref(doc);
    return rc;
}

/* GET sessions: ?cursor=...&limit=N (1..1000, default 100). */
static int start_list(admin_request *ar) {
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(ar->x.req));
    if (query && evhttp_parse_query_str(query, &q) != 0) return SD_EBAD_REQUEST;
    const char *cursor = evhttp_find_header(&q, "cursor");
    const char *limit = evhttp_find_header(&q, "limit");
    int64_t count = DEFAULT_PAGE;
    int rc = 0;
    if (limit) {
        char *end = NULL;
        long long v = strtoll(limit, &end, 10);
        if (!*limit || *end || v < 1 || v > SD_ADMIN_PAGE_MAX)
            rc = SD_EBAD_REQUEST;
        count = v;
    }
    if (cursor && strlen(cursor) > 128) rc = SD_EBAD_REQUEST;
    if (!rc)
        rc = sd_admin_list(ar->x.srv->worker->store, ar->inst, cursor ? cursor : "",
                           count, on_list_reply, ar);
    evhttp_clear_headers(&q);
    return rc;
}

/* Session ids are 22 base64url characters; anything else names nothing. */
static int plausible_id(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n > 64) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return 0;
    return 1;
}

static const sd_instance *instance_named(const sd_worker *w, const char *name) {
    for (size_t i = 0; i < w->ninstances; i++)
        if (strcmp(w->instances[i].name, name) == 0) return &w->instances[i];
    return NULL;
}

/* Splits "instances/{i}/{what}[/{id}]" into its parts (copied into the
 * buffers). Returns 0, or -1 for any other shape. */
static int parse_path(const char *rest, char *inst, size_t inst_cap, char *what,
                      size_t what_cap, char *id, size_t id_cap) {
    if (strncmp(rest, "instances/", 10) != 0) return -1;
    const char *p = rest + 10;
    const char *slash = strchr(p, '/');
    if (!slash || slash == p || (size_t)(slash - p) >= inst_cap) return -1;
    memcpy(inst, p, (size_t)(slash - p));
    inst[slash - p] = '\0';
    p = slash + 1;
    slash = strchr(p, '/');
    size_t wl = slash ? (size_t)(slash - p) : strlen(p);
    if (wl == 0 || wl >= what_cap) return -1;
    memcpy(what, p, wl);
    what[wl] = '\0';
    id[0] = '\0';
    if (slash) {
        const char *rest_id = slash + 1;
        if (!*rest_id || strchr(rest_id, '/') || strlen(rest_id) >= id_cap) return -1;
        strcpy(id, rest_id);
    }
    return 0;
}

/* Picks the operation for method and resource, or answers 404/405 and
 * returns -1. */
static int choose_op(sd_http_exchange *x, const char *what, const char *id,
                     admin_op *op) {
    enum evhttp_cmd_type m = evhttp_request_get_command(x->req);
    if (strcmp(what, "license") == 0 && !*id) {
        if (m == EVHTTP_REQ_GET) *op = OP_LICENSE_GET;
        else if (m == EVHTTP_REQ_PUT) *op = OP_LICENSE_PUT;
        else return sd_http_send_method_not_allowed(x, "GET, PUT"), -1;
    } else if (strcmp(what, "sessions") == 0 && !*id) {
        if (m == EVHTTP_REQ_GET) *op = OP_SESSIONS_LIST;
        else return sd_http_send_method_not_allowed(x, "GET"), -1;
    } else if (strcmp(what, "sessions") == 0) {
        if (m == EVHTTP_REQ_GET) *op = OP_SESSION_SHOW;
        else if (m == EVHTTP_REQ_DELETE) *op = OP_SESSION_CLOSE;
        else return sd_http_send_method_not_allowed(x, "GET, DELETE"), -1;
    } else if (strcmp(what, "revocations") == 0 && !*id) {
        if (m == EVHTTP_REQ_POST) *op = OP_REVOKE;
        else return sd_http_send_method_not_allowed(x, "POST"), -1;
    } else {
        static const char body[] =
            "{\"error\":\"not_found\",\"reason\":\"no_route\",\"message\":\"no such route\"}";
        sd_http_send_json(x, 404, "not_found", body, sizeof body - 1);
        return -1;
    }
    return 0;
}

/* Starts the operation itself. Returns 0 (a reply handler will answer) or
 * the error to answer with. */
static int start_op(admin_request *ar) {
    sd_store *store = ar->x.srv->worker->store;
    switch (ar->op) {
    case OP_LICENSE_GET: return sd_admin_usage(store, ar->inst, on_usage_reply, ar);
    case OP_LICENSE_PUT: return start_license_put(ar);
    case OP_SESSIONS_LIST: return start_list(ar);
    case OP_SESSION_SHOW:
        return sd_admin_show(store, ar->inst, ar->id, on_show_reply, ar);
    case OP_SESSION_CLOSE:
        return sd_session_close_id(store, ar->inst, ar->id, "admin", on_close_reply, ar);
    case OP_REVOKE: return start_revoke(ar);
    }
    return SD_EINVAL;
}

/* A revoked admin token loses its rights like any other token (SPEC §3):
 * the revocation list lives in Redis, so it costs one EXISTS first. */
static void on_revocation_checked(int err, const redisReply *reply, void *data) {
    admin_request *ar = data;
    if (!err && (!reply || reply->type != REDIS_REPLY_INTEGER)) err = SD_ESTORE_REPLY;
    if (!err && reply->integer == 1) err = SD_ETOKEN_REVOKED;
    if (!err) err = start_op(ar);
    if (!err) return; /* the operation's handler answers and calls done() */
    sd_http_send_error(&ar->x, err);
    done(ar);
}

static int check_revocation(admin_request *ar) {
    char buf[256], *owned;
    size_t len;
    const char *key = sd_session_revoked_key(ar->inst, ar->jti, buf, sizeof buf, &len,
                                             &owned);
    if (!key) return SD_ENOMEM;
    const char *argv[2] = {"EXISTS", key};
    size_t lens[2] = {6, len};
    int rc = sd_store_command(ar->x.srv->worker->store, 2, argv, lens,
                              on_revocation_checked, ar);
    free(owned);
    return rc;
}

void sd_http_handle_admin(sd_http_exchange *x, const char *rest) {
    char name[72], what[24], id[72];
    admin_op op;
    if (parse_path(rest, name, sizeof name, what, sizeof what, id, sizeof id) != 0) {
        static const char body[] =
            "{\"error\":\"not_found\",\"reason\":\"no_route\",\"message\":\"no such route\"}";
        sd_http_send_json(x, 404, "not_found", body, sizeof body - 1);
        return;
    }
    const sd_instance *inst = instance_named(x->srv->worker, name);
    x->inst = inst;
    char *jti;
    int rc = authorize(x, inst, &jti);
    if (rc == 0 && !inst) rc = SD_EINSTANCE_UNKNOWN;
    if (rc == 0 && choose_op(x, what, id, &op) != 0) {
        free(jti);
        return;
    }
    if (rc == 0 && *id && !plausible_id(id)) rc = SD_ESESSION_ID_UNKNOWN;
    admin_request *ar = rc ? NULL : malloc(sizeof *ar);
    if (!rc && !ar) rc = SD_ENOMEM;
    if (rc) {
        free(jti);
        sd_http_send_error(x, rc);
        return;
    }
    *ar = (admin_request){.x = *x, .inst = inst, .op = op, .jti = jti};
    snprintf(ar->id, sizeof ar->id, "%s", id);
    rc = jti ? check_revocation(ar) : start_op(ar);
    if (rc) {
        sd_http_send_error(&ar->x, rc);
        free(ar->jti);
        free(ar);
        return;
    }
    sd_http_request_started(x->srv);
}
