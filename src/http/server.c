/* evhttp setup, routing, common responses and draining. */
#include "http/server.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/log.h"
#include "http/errors.h"
#include "http/http_internal.h"
#include "sessiond/error.h"

/* ------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------ */

void sd_http_common_headers(sd_http_server *srv, struct evhttp_request *req) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (srv->cfg->replica_id) evhttp_add_header(h, "X-Served-By", srv->cfg->replica_id);
    evhttp_add_header(h, "Cache-Control", "no-store");
}

void sd_http_send_json(sd_http_server *srv, struct evhttp_request *req,
                       int status, const char *body, size_t len) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    sd_http_common_headers(srv, req);
    evhttp_add_header(h, "Content-Type", "application/json");
    struct evbuffer *out = evbuffer_new();
    if (out) evbuffer_add(out, body, len);
    evhttp_send_reply(req, status, NULL, out);
    if (out) evbuffer_free(out);
}

void sd_http_send_error(sd_http_server *srv, struct evhttp_request *req,
                        int err) {
    sd_http_error e = sd_http_error_of(err);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (e.status == 401) {
        char value[160];
        snprintf(value, sizeof value,
                 "Bearer error=\"invalid_token\", error_description=\"%s\"",
                 sd_errname(err));
        evhttp_add_header(h, "WWW-Authenticate", value);
    } else if (e.status == 503) {
        evhttp_add_header(h, "Retry-After", "1");
    }
    /* Codes, names and texts are our own constants: nothing to escape. */
    char body[320];
    int n = snprintf(body, sizeof body,
                     "{\"error\":\"%s\",\"reason\":\"%s\",\"message\":\"%s\"}",
                     e.error, sd_errname(err), sd_strerror(err));
    sd_http_send_json(srv, req, e.status, body, (size_t)n);
}

void sd_http_send_limit(sd_http_server *srv, struct evhttp_request *req, int err,
                        int64_t retry_after_ms, int64_t used, int64_t limit) {
    /* With no session open (limit 0) nothing will free a slot by itself;
     * ask the client to come back in a minute rather than hammer. */
    int64_t seconds = retry_after_ms < 0 ? 60 : (retry_after_ms + 999) / 1000;
    if (seconds < 1) seconds = 1;
    char value[24];
    snprintf(value, sizeof value, "%" PRId64, seconds);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                      value);
    sd_http_error e = sd_http_error_of(err);
    char body[320];
    int n = snprintf(body, sizeof body,
                     "{\"error\":\"%s\",\"reason\":\"%s\","
                     "\"message\":\"%s\",\"used\":%" PRId64 ",\"limit\":%" PRId64
                     ",\"retry_after\":%" PRId64 "}",
                     e.error, sd_errname(err), sd_strerror(err), used, limit, seconds);
    sd_http_send_json(srv, req, e.status, body, (size_t)n);
}

void sd_http_format_time(int64_t ms, char out[32]) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* ------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------ */

static void handle_healthz(sd_http_server *srv, struct evhttp_request *req) {
    static const char body[] = "{\"status\":\"ok\"}";
    sd_http_send_json(srv, req, 200, body, sizeof body - 1);
}

static void handle_readyz(sd_http_server *srv, struct evhttp_request *req) {
    if (srv->draining) {
        static const char body[] = "{\"status\":\"draining\"}";
        sd_http_send_json(srv, req, 503, body, sizeof body - 1);
    } else if (sd_worker_readiness(srv->worker) != 0) {
        sd_http_send_error(srv, req, sd_worker_readiness(srv->worker));
    } else {
        static const char body[] = "{\"status\":\"ready\"}";
        sd_http_send_json(srv, req, 200, body, sizeof body - 1);
    }
}

static void send_method_not_allowed(sd_http_server *srv,
                                    struct evhttp_request *req,
                                    const char *allow) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    static const char body[] =
        "{\"error\":\"method_not_allowed\",\"message\":\"method not allowed on this path\"}";
    sd_http_send_json(srv, req, 405, body, sizeof body - 1);
}

static void on_request(struct evhttp_request *req, void *arg) {
    sd_http_server *srv = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (!path) path = "";

    if (strcmp(path, "/v1/auth") == 0) {
        sd_http_handle_auth(srv, req, 0);
    } else if (strcmp(path, "/v1/session") == 0) {
        if (method == EVHTTP_REQ_GET)
            sd_http_handle_auth(srv, req, 1);
        else if (method == EVHTTP_REQ_DELETE)
            sd_http_handle_logout(srv, req);
        else
            send_method_not_allowed(srv, req, "GET, DELETE");
    } else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD)
            send_method_not_allowed(srv, req, "GET, HEAD");
        else if (path[1] == 'h')
            handle_healthz(srv, req);
        else
            handle_readyz(srv, req);
    } else {
        static const char body[] =
            "{\"error\":\"not_found\",\"message\":\"no such route\"}";
        sd_http_send_json(srv, req, 404, body, sizeof body - 1);
    }
}

/* ------------------------------------------------------------------------
 * Life cycle and draining
 * ------------------------------------------------------------------------ */

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg) {
    sd_http_server *srv = arg;
    if (srv->inflight == 0 || monotonic_ms() >= srv->drain_deadline_ms) {
        if (srv->inflight)
            sd_log(SD_LOG_WARN, "drain time-out with requests in flight", NULL);
        event_base_loopexit(srv->base, NULL);
        return;
    }
    struct timeval tick = {0, 20 * 1000};
    evtimer_add(&srv->drain_timer, &tick);
}

void sd_http_server_drain(sd_http_server *srv) {
    if (srv->draining) return;
    srv->draining = 1;
    if (srv->listener) {
        evhttp_del_accept_socket(srv->http, srv->listener);
        srv->listener = NULL;
    }
    srv->drain_deadline_ms = monotonic_ms() + srv->cfg->drain_timeout_ms;
    on_drain_tick(-1, 0, srv);
}

void sd_http_request_started(sd_http_server *srv) { srv->inflight++; }
void sd_http_request_finished(sd_http_server *srv) { srv->inflight--; }

sd_http_server *sd_http_server_new(sd_worker *w, struct event_base *base,
                                   const sd_config *cfg, char *err,
                                   size_t errlen) {
    sd_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->worker = w;
    srv->cfg = cfg;
    srv->base = base;
    evtimer_assign(&srv->drain_timer, base, on_drain_tick, srv);
    srv->http = evhttp_new(base);
    if (!srv->http) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    evhttp_set_allowed_methods(srv->http,
        EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
        EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(srv->http, (ev_ssize_t)cfg->max_header_bytes);
    evhttp_set_max_body_size(srv->http, (ev_ssize_t)cfg->max_body_bytes);
    /* Idle and half-sent requests are cut after this long (slowloris). */
    evhttp_set_timeout(srv->http, 30);
    evhttp_set_gencb(srv->http, on_request, srv);
    srv->listener = evhttp_bind_socket_with_handle(srv->http, cfg->listen_host,
                                                   cfg->listen_port);
    if (!srv->listener) {
        snprintf(err, errlen, "listen %s:%u: cannot bind", cfg->listen_host,
                 (unsigned)cfg->listen_port);
        goto fail;
    }
    return srv;
fail:
    sd_http_server_free(srv);
    return NULL;
}

void sd_http_server_free(sd_http_server *srv) {
    if (!srv) return;
    evtimer_del(&srv->drain_timer);
    if (srv->http) evhttp_free(srv->http);
    free(srv);
}
