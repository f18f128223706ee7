/* Shared by the HTTP server core and its route handlers. */
#ifndef SD_HTTP_INTERNAL_H
#define SD_HTTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>

#include "http/server.h"
#include "worker/worker.h"

struct evhttp_request;
struct evhttp;
struct evhttp_bound_socket;

struct sd_http_server {
    sd_worker *worker;
    const sd_config *cfg;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    unsigned inflight;              /* requests waiting for Redis */
    int draining;
    struct event drain_timer;
    int64_t drain_deadline_ms;
};

/* Sends status with a JSON body of len bytes (copied). */
void sd_http_send_json(sd_http_server *srv, struct evhttp_request *req,
                       int status, const char *body, size_t len);

/* Answers a failure through the error table: status, WWW-Authenticate for
 * 401, Retry-After for 503, and {"error","reason","message"}. */
void sd_http_send_error(sd_http_server *srv, struct evhttp_request *req,
                        int err);

/* Answers a denial (err: SD_ELICENSE_LIMIT or SD_ESUBJECT_LIMIT) with its
 * status, Retry-After in whole seconds (rounded up, at least 1) and the
 * pool's usage in the body. */
void sd_http_send_limit(sd_http_server *srv, struct evhttp_request *req, int err,
                        int64_t retry_after_ms, int64_t used, int64_t limit);

/* Adds the headers every response carries (X-Served-By, Cache-Control). */
void sd_http_common_headers(sd_http_server *srv, struct evhttp_request *req);

/* Route handlers (src/http/session_routes.c). */
void sd_http_handle_auth(sd_http_server *srv, struct evhttp_request *req,
                         int want_body);
void sd_http_handle_logout(sd_http_server *srv, struct evhttp_request *req);

/* Bookkeeping of requests that wait for Redis (drain waits for them). */
void sd_http_request_started(sd_http_server *srv);
void sd_http_request_finished(sd_http_server *srv);

#endif
