/* evhttp setup, routing, common responses and draining. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "http/server.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/errors.h"
#include "http/http_internal.h"
#include "sessiond/error.h"

const char *const sd_route_names[SD_ROUTE_COUNT] = {
    [SD_ROUTE_AUTH] = "auth",       [SD_ROUTE_SESSION] = "session",
    [SD_ROUTE_ADMIN] = "admin",     [SD_ROUTE_HEALTHZ] = "healthz",
    [SD_ROUTE_READYZ] = "readyz",   [SD_ROUTE_METRICS] = "metrics",
    [SD_ROUTE_OTHER] = "other",
};

/* ------------------------------------------------------------------------
 * Request ids, counters and the access log
 * ------------------------------------------------------------------------ */

/* A client's X-Request-Id is kept when it is 1..64 characters a log line
 * and a header can carry safely; anything else is replaced. */
static int usable_request_id(const char *id) {
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                         c == '.' || c == ':'))
            return 0;
    }
    return n > 0;
}

static void begin_exchange(sd_http_server *srv, struct evhttp_request *req,
                           sd_route route, sd_http_exchange *x) {
    x->srv = srv;
    x->req = req;
    x->route = route;
    x->inst = NULL;
    x->started_ns = sd_monotonic_ns();
    x->token_hash[0] = '\0';
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(req),
                                           "X-Request-Id");
    if (given && usable_request_id(given))
        snprintf(x->request_id, sizeof x->request_id, "%s", given);
    else
        snprintf(x->request_id, sizeof x->request_id, "%s-%" PRIx64,
                 srv->request_prefix, ++srv->request_seq);
}

void sd_http_note_token(sd_http_exchange *x, const unsigned char sha256[32]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        x->token_hash[2 * i] = hex[sha256[i] >> 4];
        x->token_hash[2 * i + 1] = hex[sha256[i] & 15];
    }
    x->token_hash[16] = '\0';
}

static void count(sd_http_server *srv, sd_route route, int status,
                  const char *outcome) {
    for (size_t i = 0; i < srv->ncounters; i++) {
        sd_http_counter *c = &srv->counters[i];
        if (c->route == route && c->status == status &&
            (c->outcome == outcome || strcmp(c->outcome, outcome) == 0)) {
            c->count++;
            return;
        }
    }
    if (srv->ncounters == SD_HTTP_COUNTERS) {
        srv->counters_overflow++;
        return;
    }
    srv->counters[srv->ncounters++] = (sd_http_counter){route, status, outcome, 1};
}

static const char *method_name(enum evhttp_cmd_type m) {
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

static void access_log(const sd_http_exchange *x, int status, const char *outcome) {
    char status_text[8], duration[24];
    snprintf(status_text, sizeof status_text, "%d", status);
    snprintf(duration, sizeof duration, "%.3f",
             (double)(sd_monotonic_ns() - x->started_ns) / 1e6);
    sd_log(status >= 500 ? SD_LOG_WARN : SD_LOG_INFO, "request", "request_id",
           x->request_id, "method", method_name(evhttp_request_get_command(x->req)),
           "route", sd_route_names[x->route], "status", status_text, "outcome",
           outcome, "instance", x->inst ? x->inst->name : "", "token",
           x->token_hash, "duration_ms", duration, NULL);
}

/* ------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------ */

/* libevent 2.1 knows no phrase for some statuses ("429 Client Error"). */
static const char *reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 499: return "Client Closed Request"; /* nginx's; logged, never sent */
    case 503: return "Service Unavailable";
    default: return NULL;
    }
}

static void on_reply_written(struct evhttp_request *req, void *arg) {
    sd_http_server *srv = arg;
    srv->unflushed--;
}

/* The one exit of every request. body may be NULL. */
static void reply(sd_http_exchange *x, int status, const char *outcome,
                  struct evbuffer *body) {
    sd_http_server *srv = x->srv;
    /* evhttp_send_reply only queues the answer; the socket is written on a
     * later turn of the loop. A drain must not end the loop before that, or
     * the last request's answer is lost with its connection. (A client that
     * is already gone has no connection and nothing to wait for; one that
     * goes while being answered leaves the count up, and the drain ends at
     * drain_timeout.) */
    if (srv->draining && evhttp_request_get_connection(x->req)) {
        srv->unflushed++;
        evhttp_request_set_on_complete_cb(x->req, on_reply_written, srv);
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(x->req);
    if (srv->cfg->replica_id) evhttp_add_header(h, "X-Served-By", srv->cfg->replica_id);
    evhttp_add_header(h, "X-Request-Id", x->request_id);
    evhttp_add_header(h, "Cache-Control", "no-store");
    count(srv, x->route, status, outcome);
    /* A 5xx request line is a warning, kept by log_level warn. */
    if (sd_log_enabled(status >= 500 ? SD_LOG_WARN : SD_LOG_INFO))
        access_log(x, status, outcome);
    evhttp_send_reply(x->req, status, reason_phrase(status), body);
}

void sd_http_send_json(sd_http_exchange *x, int status, const char *outcome,
                       const char *body, size_t len) {
    evhttp_add_header(evhttp_request_get_output_headers(x->req), "Content-Type",
                      "application/json");
    struct evbuffer *out = evbuffer_new();
    if (out) evbuffer_add(out, body, len);
    reply(x, status, outcome, out);
    if (out) evbuffer_free(out);
}

void sd_http_send_text(sd_http_exchange *x, int status, const char *content_type,
                       struct evbuffer *body) {
    evhttp_add_header(evhttp_request_get_output_headers(x->req), "Content-Type",
                      content_type);
    reply(x, status, "ok", body);
}

void sd_http_send_empty(sd_http_exchange *x, int status, const char *outcome) {
    reply(x, status, outcome, NULL);
}

void sd_http_send_doc(sd_http_exchange *x, int status, const char *outcome,
                      json_t *doc) {
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body) {
        sd_http_send_error(x, SD_ENOMEM);
        return;
    }
    sd_http_send_json(x, status, outcome, body, strlen(body));
    free(body);
}

void sd_http_send_error(sd_http_exchange *x, int err) {
    sd_http_error e = sd_http_error_of(err);
    struct evkeyvalq *h = evhttp_request_get_output_headers(x->req);
    /* A gateway's auth_request sees headers only, never the body. */
    evhttp_add_header(h, "X-Session-Error", e.error);
    if (e.status == 401) {
        char value[160];
        snprintf(value, sizeof value,
                 "Bearer error=\"invalid_token\", error_description=\"%s\"",
                 sd_errname(err));
        evhttp_add_header(h, "WWW-Authenticate", value);
    } else if (err == SD_EFORBIDDEN) {
        evhttp_add_header(h, "WWW-Authenticate",
                          "Bearer error=\"insufficient_scope\"");
    } else if (e.status == 503) {
        evhttp_add_header(h, "Retry-After", "1");
    }
    /* Codes, names and texts are our own constants: nothing to escape. */
    char body[320];
    int n = snprintf(body, sizeof body,
                     "{\"error\":\"%s\",\"reason\":\"%s\",\"message\":\"%s\"}",
                     e.error, sd_errname(err), sd_strerror(err));
    sd_http_send_json(x, e.status, e.error, body, (size_t)n);
}

void sd_http_send_limit(sd_http_exchange *x, int err, int64_t retry_after_ms,
                        int64_t used, int64_t limit) {
    /* With no session open (limit 0) nothing will free a slot by itself;
     * ask the client to come back in a minute rather than hammer. */
    int64_t seconds = retry_after_ms < 0 ? 60 : (retry_after_ms + 999) / 1000;
    if (seconds < 1) seconds = 1;
    char value[24];
    snprintf(value, sizeof value, "%" PRId64, seconds);
    evhttp_add_header(evhttp_request_get_output_headers(x->req), "Retry-After",
                      value);
    sd_http_error e = sd_http_error_of(err);
    evhttp_add_header(evhttp_request_get_output_headers(x->req), "X-Session-Error",
                      e.error);
    /* The numbers of the cap that was hit, named after it: a subject at
     * its cap must not read as a pool with room. */
    int subject = err == SD_ESUBJECT_LIMIT;
    char body[360];
    int n = snprintf(body, sizeof body,
                     "{\"error\":\"%s\",\"reason\":\"%s\","
                     "\"message\":\"%s\",\"%s\":%" PRId64 ",\"%s\":%" PRId64
                     ",\"retry_after\":%" PRId64 "}",
                     e.error, sd_errname(err), sd_strerror(err),
                     subject ? "subject_sessions" : "used", used,
                     subject ? "subject_limit" : "limit", limit, seconds);
    sd_http_send_json(x, e.status, e.error, body, (size_t)n);
}

void sd_http_send_method_not_allowed(sd_http_exchange *x, const char *allow) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(x->req);
    evhttp_add_header(h, "Allow", allow);
    /* Every error of the session routes carries it (see sd_http_send_error). */
    if (x->route == SD_ROUTE_AUTH || x->route == SD_ROUTE_SESSION)
        evhttp_add_header(h, "X-Session-Error", "method_not_allowed");
    static const char body[] =
        "{\"error\":\"method_not_allowed\",\"reason\":\"method_not_allowed\","
        "\"message\":\"method not allowed on this path\"}";
    sd_http_send_json(x, 405, "method_not_allowed", body, sizeof body - 1);
}

int sd_http_single_header(struct evhttp_request *req, const char *name,
                          const char **value) {
    *value = NULL;
    struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
        if (strcasecmp(h->key, name) != 0) continue;
        if (*value) {
            *value = NULL;
            return -1;
        }
        *value = h->value;
    }
    return 0;
}

const char *sd_http_bearer_token(struct evhttp_request *req, size_t *len) {
    /* Two Authorization headers count as none (401 token_missing). */
    const char *auth;
    if (sd_http_single_header(req, "Authorization", &auth) != 0) return NULL;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return NULL;
    const char *token = auth + 7;
    while (*token == ' ') token++;
    *len = strlen(token);
    return *len ? token : NULL;
}

int64_t sd_http_wall_clock_s(void) { return (int64_t)time(NULL); }

/* ------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------ */

static void handle_healthz(sd_http_exchange *x) {
    static const char body[] = "{\"status\":\"ok\"}";
    sd_http_send_json(x, 200, "ok", body, sizeof body - 1);
}

static void handle_readyz(sd_http_exchange *x) {
    if (x->srv->draining) {
        static const char body[] = "{\"status\":\"draining\"}";
        sd_http_send_json(x, 503, "draining", body, sizeof body - 1);
    } else if (sd_worker_readiness(x->srv->worker) != 0) {
        sd_http_send_error(x, sd_worker_readiness(x->srv->worker));
    } else {
        static const char body[] = "{\"status\":\"ready\"}";
        sd_http_send_json(x, 200, "ok", body, sizeof body - 1);
    }
}

static int is_get(enum evhttp_cmd_type m) {
    return m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
}

static sd_route route_of(const char *path) {
    if (strcmp(path, "/v1/auth") == 0) return SD_ROUTE_AUTH;
    if (strcmp(path, "/v1/session") == 0) return SD_ROUTE_SESSION;
    if (strncmp(path, "/v1/admin/", 10) == 0) return SD_ROUTE_ADMIN;
    if (strcmp(path, "/healthz") == 0) return SD_ROUTE_HEALTHZ;
    if (strcmp(path, "/readyz") == 0) return SD_ROUTE_READYZ;
    if (strcmp(path, "/metrics") == 0) return SD_ROUTE_METRICS;
    return SD_ROUTE_OTHER;
}

static void on_request(struct evhttp_request *req, void *arg) {
    sd_http_server *srv = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (!path) path = "";
    sd_http_exchange x;
    begin_exchange(srv, req, route_of(path), &x);

    switch (x.route) {
    case SD_ROUTE_AUTH:
        sd_http_handle_auth(&x, 0);
        return;
    case SD_ROUTE_SESSION:
        if (method == EVHTTP_REQ_GET)
            sd_http_handle_auth(&x, 1);
        else if (method == EVHTTP_REQ_DELETE)
            sd_http_handle_logout(&x);
        else
            sd_http_send_method_not_allowed(&x, "GET, DELETE");
        return;
    case SD_ROUTE_ADMIN:
        sd_http_handle_admin(&x, path + 10);
        return;
    case SD_ROUTE_HEALTHZ:
    case SD_ROUTE_READYZ:
    case SD_ROUTE_METRICS:
        if (!is_get(method))
            sd_http_send_method_not_allowed(&x, "GET, HEAD");
        else if (x.route == SD_ROUTE_HEALTHZ)
            handle_healthz(&x);
        else if (x.route == SD_ROUTE_READYZ)
            handle_readyz(&x);
        else
            sd_http_handle_metrics(&x);
        return;
    default: {
        static const char body[] =
            "{\"error\":\"not_found\",\"reason\":\"no_route\",\"message\":\"no such route\"}";
        sd_http_send_json(&x, 404, "not_found", body, sizeof body - 1);
    }
    }
}

int sd_http_client_gone(struct evhttp_request *req) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!evcon) return 1;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0) return 1;
    /* POLLRDHUP sees the client's FIN even behind request bytes not read
     * yet (a pipelining client that hung up). */
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* ------------------------------------------------------------------------
 * Life cycle and draining
 * ------------------------------------------------------------------------ */

static void on_drain_tick(evutil_socket_t fd, short what, void *arg) {
    sd_http_server *srv = arg;
    if ((srv->inflight == 0 && srv->unflushed == 0) ||
        sd_monotonic_ms() >= srv->drain_deadline_ms) {
        if (srv->inflight || srv->unflushed)
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
    srv->drain_deadline_ms = sd_monotonic_ms() + srv->cfg->drain_timeout_ms;
    /* The first check waits one tick, not this turn: answers queued before
     * the drain began (earlier in this turn or the last) are not counted in
     * unflushed, and need a turn of the loop to be written. */
    struct timeval tick = {0, 20 * 1000};
    evtimer_add(&srv->drain_timer, &tick);
}

void sd_http_request_started(sd_http_server *srv) { srv->inflight++; }
void sd_http_request_finished(sd_http_server *srv) { srv->inflight--; }

/* evhttp_bind_socket listens with a backlog of 128: a burst of more
 * connections (a load balancer opening its pool, a flood of slow clients)
 * overflows it, and every connection past it waits for the client's SYN
 * retransmission, one second, before it is even seen. So sessiond makes its
 * own socket, with the largest backlog the kernel allows. */
int sd_http_listen(const sd_config *cfg, char *err, size_t errlen) {
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)cfg->listen_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_ADDRCONFIG};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(cfg->listen_host, service, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "listen %s:%u: %s", cfg->listen_host,
                 (unsigned)cfg->listen_port, gai_strerror(gai));
        return -1;
    }
    evutil_socket_t fd = -1;
    int why = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            why = errno;
            continue;
        }
        if (evutil_make_socket_closeonexec(fd) != 0 ||
            evutil_make_socket_nonblocking(fd) != 0 ||
            evutil_make_listen_socket_reuseable(fd) != 0 ||
            bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            why = errno;
            evutil_closesocket(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        snprintf(err, errlen, "listen %s:%u: cannot bind: %s", cfg->listen_host,
                 (unsigned)cfg->listen_port, strerror(why));
    return fd;
}

sd_http_server *sd_http_server_new(sd_worker *w, struct event_base *base,
                                   const sd_config *cfg, int listen_fd, char *err,
                                   size_t errlen) {
    sd_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        if (listen_fd >= 0) evutil_closesocket(listen_fd);
        return NULL;
    }
    srv->worker = w;
    srv->cfg = cfg;
    unsigned char seed[4];
    if (RAND_bytes(seed, sizeof seed) != 1) memset(seed, 0, sizeof seed);
    snprintf(srv->request_prefix, sizeof srv->request_prefix, "%02x%02x%02x%02x",
             seed[0], seed[1], seed[2], seed[3]);
    srv->base = base;
    evtimer_assign(&srv->drain_timer, base, on_drain_tick, srv);
    srv->http = evhttp_new(base);
    if (!srv->http) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Every method evhttp can parse reaches the router, which answers JSON
     * (405 with Allow where a route does not take it). */
    evhttp_set_allowed_methods(srv->http,
        EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
        EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
        EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
    /* No text/html default on bodiless replies (200 for /v1/auth, 204). */
    evhttp_set_default_content_type(srv->http, NULL);
    evhttp_set_max_headers_size(srv->http, (ev_ssize_t)cfg->max_header_bytes);
    evhttp_set_max_body_size(srv->http, (ev_ssize_t)cfg->max_body_bytes);
    /* A connection that stays silent this long, idle or half way through a
     * request, is closed (slowloris). libevent's time-out is one of
     * inactivity: each byte received restarts it. */
    struct timeval http_timeout = {.tv_sec = cfg->http_timeout_ms / 1000,
                                   .tv_usec = (cfg->http_timeout_ms % 1000) * 1000};
    evhttp_set_timeout_tv(srv->http, &http_timeout);
    evhttp_set_gencb(srv->http, on_request, srv);
    evutil_socket_t fd = listen_fd >= 0 ? listen_fd : sd_http_listen(cfg, err, errlen);
    listen_fd = -1;
    if (fd < 0) goto fail;
    /* The bound socket owns fd from here (closed when it is removed). */
    srv->listener = evhttp_accept_socket_with_handle(srv->http, fd);
    if (!srv->listener) {
        evutil_closesocket(fd);
        snprintf(err, errlen, "listen %s:%u: cannot accept", cfg->listen_host,
                 (unsigned)cfg->listen_port);
        goto fail;
    }
    /* Accepted connections inherit it: a reply is sent at once, not held
     * back by Nagle until the client acknowledges the previous one (which
     * a client with pipelined requests delays by 40 ms). */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(srv->listener), IPPROTO_TCP, TCP_NODELAY,
               &one, sizeof one);
    return srv;
fail:
    if (listen_fd >= 0) evutil_closesocket(listen_fd);
    sd_http_server_free(srv);
    return NULL;
}

void sd_http_server_free(sd_http_server *srv) {
    if (!srv) return;
    evtimer_del(&srv->drain_timer);
    if (srv->http) evhttp_free(srv->http);
    free(srv);
}
