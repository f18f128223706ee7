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
    sd_http_server *srv;
    struct evhttp_request *req;
    sd_claims *claims;
    int want_body;
} session_request;

/* Finds the bearer token of the Authorization header (RFC 6750 §2.1).
 * Returns a pointer into the header value and its length, or NULL. */
static const char *bearer_token(struct evhttp_request *req, size_t *len) {
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req),
                                          "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return NULL;
    const char *token = auth + 7;
    while (*token == ' ') token++;
    *len = strlen(token);
    return *len ? token : NULL;
}

static int64_t wall_clock_s(void) { return (int64_t)time(NULL); }

/* Resolves instance and token, verifies, and prepares a pending request.
 * On failure it has already answered the client and returns NULL. */
static session_request *begin_or_reply(sd_http_server *srv,
                                       struct evhttp_request *req,
                                       const sd_instance **inst_out) {
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const sd_instance *inst = sd_worker_instance_for(
        srv->worker, evhttp_find_header(in, "Host"),
        evhttp_find_header(in, "X-Instance"));
    if (!inst) {
        sd_http_send_error(srv, req, SD_EINSTANCE_UNKNOWN);
        return NULL;
    }
    size_t len = 0;
    const char *token = bearer_token(req, &len);
    if (!token) {
        sd_http_send_error(srv, req, SD_ETOKEN_MISSING);
        return NULL;
    }
    sd_claims *claims = NULL;
    int rc = sd_worker_verify(srv->worker, inst, token, len, wall_clock_s(),
                              &claims);
    if (rc) {
        sd_http_send_error(srv, req, rc);
        return NULL;
    }
    session_request *sr = malloc(sizeof *sr);
    if (!sr) {
        sd_claims_unref(claims);
        sd_http_send_error(srv, req, SD_ENOMEM);
        return NULL;
    }
    *sr = (session_request){.srv = srv, .req = req, .claims = claims};
    *inst_out = inst;
    return sr;
}

/* Takes the result of starting a store call: on failure (Redis not ready:
 * fail fast, SPEC §5) answers and frees; else counts the request in flight
 * until its reply handler calls finish(). */
static void launched(session_request *sr, int rc) {
    if (rc) {
        sd_http_send_error(sr->srv, sr->req, rc);
        sd_claims_unref(sr->claims);
        free(sr);
        return;
    }
    sd_http_request_started(sr->srv);
}

static void finish(session_request *sr) {
    sd_http_request_finished(sr->srv);
    sd_claims_unref(sr->claims);
    free(sr);
}

/* ------------------------------------------------------------------------
 * Open or resume
 * ------------------------------------------------------------------------ */

static void send_session_headers(session_request *sr,
                                 const sd_session_result *res) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(sr->req);
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
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body) {
        sd_http_send_error(sr->srv, sr->req, SD_ENOMEM);
        return;
    }
    sd_http_send_json(sr->srv, sr->req, 200, body, strlen(body));
    free(body);
}

static void on_open_reply(int err, const redisReply *reply, void *data) {
    session_request *sr = data;
    sd_session_result res;
    if (!err) err = sd_session_parse(reply, &res);
    if (!err && res.code == SD_SCRIPT_REVOKED) err = SD_ETOKEN_REVOKED;
    if (!err && res.code != SD_SCRIPT_OPENED && res.code != SD_SCRIPT_RESUMED &&
        res.code != SD_SCRIPT_DENIED)
        err = SD_ESTORE_REPLY;
    if (err) {
        if (err == SD_ESTORE_REPLY)
            sd_log(SD_LOG_ERROR, "unexpected reply from open_or_resume",
                   "detail", reply && reply->type == REDIS_REPLY_ERROR
                                 ? reply->str : "shape", NULL);
        sd_http_send_error(sr->srv, sr->req, err);
    } else if (res.code == SD_SCRIPT_DENIED) {
        sd_http_send_limit(sr->srv, sr->req, res.denied, res.retry_after_ms, res.used,
                           res.limit);
    } else {
        send_session_headers(sr, &res);
        if (sr->want_body) {
            send_session_body(sr, &res);
        } else {
            sd_http_common_headers(sr->srv, sr->req);
            evhttp_send_reply(sr->req, 200, "OK", NULL);
        }
    }
    finish(sr);
}

void sd_http_handle_auth(sd_http_server *srv, struct evhttp_request *req,
                         int want_body) {
    const sd_instance *inst;
    session_request *sr = begin_or_reply(srv, req, &inst);
    if (!sr) return;
    sr->want_body = want_body;
    launched(sr, sd_session_open_or_resume(srv->worker->store, inst,
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
    if (!err && res.code == SD_SCRIPT_NONE) err = SD_ENOT_FOUND;
    if (!err && res.code != SD_SCRIPT_CLOSED) err = SD_ESTORE_REPLY;
    if (err) {
        sd_http_send_error(sr->srv, sr->req, err);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(sr->req),
                          "X-Session-Id", res.id);
        sd_http_common_headers(sr->srv, sr->req);
        evhttp_send_reply(sr->req, 204, "No Content", NULL);
    }
    finish(sr);
}

void sd_http_handle_logout(sd_http_server *srv, struct evhttp_request *req) {
    const sd_instance *inst;
    session_request *sr = begin_or_reply(srv, req, &inst);
    if (!sr) return;
    launched(sr, sd_session_close(srv->worker->store, inst, sr->claims,
                                  on_close_reply, sr));
}
