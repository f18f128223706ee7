/* /v1/auth and /v1/session: open, resume or close the caller's session. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/http_internal.h"
#include "sessiond/error.h"

/* A request waiting for Redis. It holds a claims reference because the
 * token cache may evict the entry before the reply arrives. */
typedef struct session_request {
    sd_http_exchange x;
    const sd_instance *inst;
    sd_claims *claims;
    int want_body;
} session_request;

/* Resolves instance and token, verifies, and prepares a pending request.
 * On failure it has already answered the client and returns NULL. */
static session_request *begin_or_reply(sd_http_exchange *x) {
    struct evkeyvalq *in = evhttp_request_get_input_headers(x->req);
    /* Two X-Instance headers are refused (400), never resolved by order:
     * a gateway may have checked the other one. */
    const char *named;
    if (sd_http_single_header(x->req, "X-Instance", &named) != 0) {
        sd_http_send_error(x, SD_EINSTANCE_AMBIGUOUS);
        return NULL;
    }
    const sd_instance *inst =
        sd_worker_instance_for(x->srv->worker, evhttp_find_header(in, "Host"), named);
    if (!inst) {
        sd_http_send_error(x, SD_EINSTANCE_UNKNOWN);
        return NULL;
    }
    x->inst = inst;
    size_t len = 0;
    const char *token = sd_http_bearer_token(x->req, &len);
    if (!token) {
        sd_http_send_error(x, SD_ETOKEN_MISSING);
        return NULL;
    }
    sd_claims *claims = NULL;
    int rc = sd_worker_verify(x->srv->worker, inst, token, len,
                              sd_http_wall_clock_s(), &claims);
    if (rc) {
        sd_http_send_error(x, rc);
        return NULL;
    }
    sd_http_note_token(x, claims->token_sha256);
    session_request *sr = malloc(sizeof *sr);
    if (!sr) {
        sd_claims_unref(claims);
        sd_http_send_error(x, SD_ENOMEM);
        return NULL;
    }
    *sr = (session_request){.x = *x, .inst = inst, .claims = claims};
    return sr;
}

/* Takes the result of starting a store call: on failure (Redis not ready:
 * fail fast, SPEC §5) answers and frees; else counts the request in flight
 * until its reply handler calls finish(). */
static void launched(session_request *sr, int rc) {
    if (rc) {
        sd_http_send_error(&sr->x, rc);
        sd_claims_unref(sr->claims);
        free(sr);
        return;
    }
    sd_http_request_started(sr->x.srv);
}

static void finish(session_request *sr) {
    sd_http_request_finished(sr->x.srv);
    sd_claims_unref(sr->claims);
    free(sr);
}

/* ------------------------------------------------------------------------
 * Open or resume
 * ------------------------------------------------------------------------ */

/* What a successful open or resume counts as, for metrics and logs. */
static const char *open_outcome(const sd_session_result *res) {
    return res->code == SD_SCRIPT_OPENED ? "opened" : "resumed";
}

static void send_session_headers(session_request *sr,
                                 const sd_session_result *res) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(sr->x.req);
    char expires[32];
    sd_format_time_ms(res->expires_at_ms, expires);
    evhttp_add_header(h, "X-Session-Id", res->id);
    if (sr->claims->sub) evhttp_add_header(h, "X-Session-Subject", sr->claims->sub);
    evhttp_add_header(h, "X-Session-Kind",
                      sd_session_kind_name(sd_session_kind_of(sr->claims)));
    evhttp_add_header(h, "X-Session-Expires", expires);
}

static void send_session_body(session_request *sr, const sd_session_result *res) {
    char opened[32], expires[32];
    sd_format_time_ms(res->opened_at_ms, opened);
    sd_format_time_ms(res->expires_at_ms, expires);
    const sd_claims *c = sr->claims;
    json_t *doc = json_pack(
        "{s:{s:s, s:s?, s:s?, s:s, s:s, s:s, s:I, s:b}, s:{s:I, s:I}}",
        "session", "id", res->id, "subject", c->sub, "client_id", c->client_id,
        "kind", sd_session_kind_name(sd_session_kind_of(c)), "opened_at", opened,
        "expires_at", expires, "requests", (json_int_t)res->requests,
        "resumed", res->code == SD_SCRIPT_RESUMED,
        "license", "used", (json_int_t)res->used, "limit", (json_int_t)res->limit);
    sd_http_send_doc(&sr->x, 200, open_outcome(res), doc);
}

static void on_undo_reply(int err, const redisReply *reply, void *data) {
    const sd_instance *inst = data;
    sd_session_result res;
    if (!err && sd_session_parse(reply, &res) == 0 && res.code == SD_SCRIPT_CLOSED)
        sd_log(SD_LOG_WARN, "closed a session opened for a client that had hung up",
               "instance", inst->name, "session", res.id, NULL);
}

/* The client hung up while its request waited (a stalled worker, a gateway
 * that gave up and retried elsewhere): nobody will hear of the session just
 * opened, so it is closed again at once, unless a retry has resumed it
 * since, rather than holding a slot for the whole idle time-out. Only
 * opens are checked: a resume of a gone client costs no slot. Returns 1
 * when the client was gone. */
static int undo_if_client_gone(session_request *sr, const sd_session_result *res) {
    if (res->code != SD_SCRIPT_OPENED || !sd_http_client_gone(sr->x.req)) return 0;
    if (sd_session_abandon(sr->x.srv->worker->store, sr->inst, res->id, on_undo_reply,
                           (void *)sr->inst) != 0)
        sd_log(SD_LOG_WARN, "cannot undo a session opened for a client that had hung up",
               "instance", sr->inst->name, "session", res->id, NULL);
    return 1;
}

static void on_open_reply(int err, const redisReply *reply, void *data) {
    session_request *sr = data;
    sd_session_result res;
    if (!err) err = sd_session_parse(reply, &res);
    if (!err) sd_worker_count(sr->x.srv->worker, sr->inst, &res, SD_CLOSED_LOGOUT);
    if (!err && res.code == SD_SCRIPT_REVOKED) err = SD_ETOKEN_REVOKED;
    /* Only a reply slower than the time-out can say this; its timer has
     * fired or is about to. */
    if (!err && res.code == SD_SCRIPT_TOO_LATE) err = SD_ESTORE_TIMEOUT;
    if (!err && res.code != SD_SCRIPT_OPENED && res.code != SD_SCRIPT_RESUMED &&
        res.code != SD_SCRIPT_DENIED)
        err = SD_ESTORE_REPLY;
    if (err) {
        if (err == SD_ESTORE_REPLY)
            sd_log(SD_LOG_ERROR, "unexpected reply from open_or_resume",
                   "detail", reply && reply->type == REDIS_REPLY_ERROR
                                 ? reply->str : "shape", NULL);
        sd_http_send_error(&sr->x, err);
    } else if (res.code == SD_SCRIPT_DENIED) {
        int subject = res.denied == SD_ESUBJECT_LIMIT;
        sd_http_send_limit(&sr->x, res.denied, res.retry_after_ms,
                           subject ? res.subject_sessions : res.used,
                           subject ? res.subject_limit : res.limit);
    } else if (undo_if_client_gone(sr, &res)) {
        /* 499, as nginx logs a client that closed its request: for the
         * access log and metrics only, no one receives it. */
        sd_http_send_empty(&sr->x, 499, "client_gone");
    } else {
        send_session_headers(sr, &res);
        if (sr->want_body)
            send_session_body(sr, &res);
        else
            sd_http_send_empty(&sr->x, 200, open_outcome(&res));
    }
    finish(sr);
}

void sd_http_handle_auth(sd_http_exchange *x, int want_body) {
    session_request *sr = begin_or_reply(x);
    if (!sr) return;
    sr->want_body = want_body;
    launched(sr, sd_session_open_or_resume(x->srv->worker->store, sr->inst,
                                           sr->claims, want_body,
                                           on_open_reply, sr));
}

/* ------------------------------------------------------------------------
 * Logout
 * ------------------------------------------------------------------------ */

static void on_close_reply(int err, const redisReply *reply, void *data) {
    session_request *sr = data;
    sd_session_result res;
    if (!err) err = sd_session_parse(reply, &res);
    if (!err) sd_worker_count(sr->x.srv->worker, sr->inst, &res, SD_CLOSED_LOGOUT);
    if (!err && res.code == SD_SCRIPT_NONE) err = SD_ENOT_FOUND;
    if (!err && res.code == SD_SCRIPT_REVOKED) err = SD_ETOKEN_REVOKED;
    if (!err && res.code != SD_SCRIPT_CLOSED) err = SD_ESTORE_REPLY;
    if (err) {
        sd_http_send_error(&sr->x, err);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(sr->x.req),
                          "X-Session-Id", res.id);
        sd_http_send_empty(&sr->x, 204, "closed");
    }
    finish(sr);
}

void sd_http_handle_logout(sd_http_exchange *x) {
    session_request *sr = begin_or_reply(x);
    if (!sr) return;
    launched(sr, sd_session_close(x->srv->worker->store, sr->inst, sr->claims,
                                  on_close_reply, sr));
}
