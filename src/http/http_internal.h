/* Shared by the HTTP server core and its route handlers. */
#ifndef SD_HTTP_INTERNAL_H
#define SD_HTTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>
#include <jansson.h>

#include "http/server.h"
#include "worker/worker.h"

struct evhttp_request;
struct evhttp;
struct evhttp_bound_socket;
struct evbuffer;

/* Route families, for metrics and logs. */
typedef enum sd_route {
    SD_ROUTE_AUTH = 0,    /* /v1/auth */
    SD_ROUTE_SESSION,     /* /v1/session */
    SD_ROUTE_ADMIN,       /* /v1/admin/... */
    SD_ROUTE_HEALTHZ,
    SD_ROUTE_READYZ,
    SD_ROUTE_METRICS,
    SD_ROUTE_OTHER,       /* anything else (404) */
    SD_ROUTE_COUNT
} sd_route;

extern const char *const sd_route_names[SD_ROUTE_COUNT];

/* One request from dispatch to reply: what the reply, the access log and
 * the request counters need. Sync handlers keep it on the stack; async ones
 * copy it into their pending state. */
typedef struct sd_http_exchange {
    struct sd_http_server *srv;
    struct evhttp_request *req;
    sd_route route;
    const sd_instance *inst;      /* once known, for logs */
    int64_t started_ns;           /* monotonic */
    char request_id[68];          /* X-Request-Id: the client's, or made here */
    char token_hash[17];          /* hex prefix of the token's SHA-256, or "" */
} sd_http_exchange;

/* Requests counted by route, status and outcome (the error code, or "ok").
 * The set of combinations is small and fixed by the code, so a short table
 * searched linearly is enough. */
#define SD_HTTP_COUNTERS 96
typedef struct sd_http_counter {
    sd_route route;
    int status;
    const char *outcome;          /* a string constant */
    uint64_t count;
} sd_http_counter;

struct sd_http_server {
    sd_worker *worker;
    const sd_config *cfg;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    unsigned inflight;              /* requests waiting for Redis */
    unsigned unflushed;             /* replies given to evhttp while draining
                                       and not yet written out */
    int draining;
    struct event drain_timer;
    int64_t drain_deadline_ms;
    uint64_t request_seq;           /* for generated request ids */
    char request_prefix[12];        /* random per process */
    sd_http_counter counters[SD_HTTP_COUNTERS];
    size_t ncounters;
    uint64_t counters_overflow;     /* requests that found the table full */
};

/* ------------------------------------------------------------------------
 * Replies. Every response goes out through one of these, so each carries
 * X-Served-By, X-Request-Id and Cache-Control, is counted and is logged.
 * ------------------------------------------------------------------------ */

/* Sends status with a JSON body of len bytes (copied). outcome names what
 * happened ("ok" or an error code) for metrics and logs. */
void sd_http_send_json(sd_http_exchange *x, int status, const char *outcome,
                       const char *body, size_t len);

/* Sends body (not JSON) with its content type; the buffer stays the
 * caller's. */
void sd_http_send_text(sd_http_exchange *x, int status, const char *content_type,
                       struct evbuffer *body);

/* Sends status with no body (200 for /v1/auth, 204). */
void sd_http_send_empty(sd_http_exchange *x, int status, const char *outcome);

/* Answers a failure through the error table: status, WWW-Authenticate for
 * 401, Retry-After for 503, and {"error","reason","message"}. */
void sd_http_send_error(sd_http_exchange *x, int err);

/* Answers a denial (err: SD_ELICENSE_LIMIT or SD_ESUBJECT_LIMIT) with its
 * status, Retry-After in whole seconds (rounded up, at least 1) and the
 * numbers of the cap that was hit in the body: the pool's "used"/"limit",
 * or the subject's "subject_sessions"/"subject_limit". */
void sd_http_send_limit(sd_http_exchange *x, int err, int64_t retry_after_ms,
                        int64_t used, int64_t limit);

/* Sends a JSON document (serialised compactly) with status; answers 500 if
 * it cannot be serialised. Steals the reference to doc. */
void sd_http_send_doc(sd_http_exchange *x, int status, const char *outcome,
                      json_t *doc);

/* Sends 405 with Allow. */
void sd_http_send_method_not_allowed(sd_http_exchange *x, const char *allow);

/* Records the token's hash prefix in x for the access log (never the
 * token itself). */
void sd_http_note_token(sd_http_exchange *x, const unsigned char sha256[32]);

/* The value of request header name (case-insensitive) in *value, NULL
 * when absent. Returns 0, or -1 when the header appears more than once: a
 * gateway may have read the other copy, so neither may be trusted. */
int sd_http_single_header(struct evhttp_request *req, const char *name,
                          const char **value);

/* The bearer token of the Authorization header (RFC 6750 §2.1): a pointer
 * into the header value and its length, or NULL (also for two headers). */
const char *sd_http_bearer_token(struct evhttp_request *req, size_t *len);

/* Seconds since the epoch on the worker's clock (token exp/nbf/iat only). */
int64_t sd_http_wall_clock_s(void);

/* 1 when the client of req has hung up: evhttp has dropped the connection,
 * or the client has shut its side. One poll() on the socket; meant for the
 * rare paths where a gone client changes what to do. */
int sd_http_client_gone(struct evhttp_request *req);

/* ------------------------------------------------------------------------
 * Route handlers
 * ------------------------------------------------------------------------ */

/* session_routes.c */
void sd_http_handle_auth(sd_http_exchange *x, int want_body);
void sd_http_handle_logout(sd_http_exchange *x);

/* admin_routes.c: everything under /v1/admin/; rest is the path after
 * "/v1/admin/". */
void sd_http_handle_admin(sd_http_exchange *x, const char *rest);

/* metrics_route.c */
void sd_http_handle_metrics(sd_http_exchange *x);

/* Bookkeeping of requests that wait for Redis (drain waits for them). */
void sd_http_request_started(sd_http_server *srv);
void sd_http_request_finished(sd_http_server *srv);

#endif
