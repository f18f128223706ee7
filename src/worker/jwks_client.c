/* JWKS fetching on libevent's evhttp client, over bufferevent_openssl for
 * https (see jwks_client.h). One connection per fetch, never reused. */
#include "worker/jwks_client.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "sessiond/error.h"

/* Headers of a JWKS response are small; anything bigger is hostile. */
#define JWKS_MAX_HEADER_BYTES (64 * 1024)
/* First retry after a failed fetch; doubles up to the refresh interval. */
#define JWKS_FIRST_BACKOFF_MS 1000

struct sd_jwks_client {
    struct event_base *base;
    struct evdns_base *dns;     /* borrowed; may be NULL */
    SSL_CTX *tls;               /* borrowed */
    sd_jwks_options opt;        /* strings borrowed */
    struct event timer;         /* the next scheduled fetch */
    struct event deadline;      /* the whole-fetch time-out */
    struct event reap;          /* frees a finished connection */
    struct evhttp_connection *conn; /* in flight, or finished and not yet reaped */
    int in_flight;
    int request_error;          /* enum evhttp_request_error + 1; 0: none */
    long tls_error;             /* first X509 verify error of this fetch */
    int has_keys;
    int64_t last_start_ms;      /* monotonic */
    int64_t backoff_ms;         /* 0 after a good fetch */
    uint64_t fetches;
};

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_of_ms(int64_t ms) {
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
                         .tv_usec = (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

static int is_ip_literal(const char *host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* ------------------------------------------------------------------------
 * TLS
 * ------------------------------------------------------------------------ */

/* Records the first verification error of the handshake on its client, so
 * that the log line can say why (expired, unknown CA, host mismatch). */
static int on_verify(int ok, X509_STORE_CTX *store) {
    if (ok) return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    sd_jwks_client *c = ssl ? SSL_get_app_data(ssl) : NULL;
    if (c && c->tls_error == 0) c->tls_error = X509_STORE_CTX_get_error(store);
    return 0;
}

SSL_CTX *sd_jwks_tls_context(void) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_default_verify_paths(ctx) != 1) {
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
    return ctx;
}

/* A new SSL for one fetch: SNI and host-name check for names, an IP check
 * for address literals. NULL on failure. */
static SSL *new_ssl(sd_jwks_client *c) {
    SSL *ssl = SSL_new(c->tls);
    if (!ssl) return NULL;
    SSL_set_app_data(ssl, c);
    int ok;
    if (is_ip_literal(c->opt.host)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->opt.host) == 1;
    } else {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set_tlsext_host_name(ssl, c->opt.host) == 1 &&
             SSL_set1_host(ssl, c->opt.host) == 1;
    }
    if (!ok) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    return ssl;
}

/* ------------------------------------------------------------------------
 * Scheduling
 * ------------------------------------------------------------------------ */

static void start_fetch(sd_jwks_client *c);

static void schedule(sd_jwks_client *c, int64_t ms) {
    struct timeval tv = tv_of_ms(ms);
    evtimer_add(&c->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    start_fetch(arg);
}

static void free_connection(sd_jwks_client *c) {
    if (!c->conn) return;
    evhttp_connection_free(c->conn);
    c->conn = NULL;
}

/* The connection cannot be freed inside its own callbacks; this runs right
 * after them, from the event loop. */
static void on_reap(evutil_socket_t fd, short what, void *arg) {
    sd_jwks_client *c = arg;
    if (!c->in_flight) free_connection(c);
}

/* Ends a fetch: hands keys (a good fetch) to the owner, or logs why (when
 * keys is NULL), and schedules the next one. */
static void finish(sd_jwks_client *c, sd_keyset *keys, const char *why) {
    c->in_flight = 0;
    evtimer_del(&c->deadline);
    if (keys) {
        c->has_keys = 1;
        c->backoff_ms = 0;
        schedule(c, c->opt.refresh_ms);
        c->opt.on_keys(keys, c->opt.data);
        return;
    }
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : JWKS_FIRST_BACKOFF_MS;
    if (c->backoff_ms > c->opt.refresh_ms) c->backoff_ms = c->opt.refresh_ms;
    schedule(c, c->backoff_ms);
    char retry[24];
    snprintf(retry, sizeof retry, "%" PRId64, c->backoff_ms);
    sd_log(SD_LOG_ERROR, "jwks fetch failed; keeping the current keys", "instance",
           c->opt.instance, "uri", c->opt.uri, "reason", why, "retry_ms", retry, NULL);
}

/* ------------------------------------------------------------------------
 * The response
 * ------------------------------------------------------------------------ */

/* Why a fetch without a usable HTTP response failed, into why. */
static void describe_failure(const sd_jwks_client *c, char *why, size_t cap) {
    if (c->tls_error != 0) {
        snprintf(why, cap, "tls: certificate verification failed: %s",
                 X509_verify_cert_error_string(c->tls_error));
        return;
    }
    switch (c->request_error - 1) {
    case EVREQ_HTTP_DATA_TOO_LONG:
        snprintf(why, cap, "response larger than %zu bytes", c->opt.max_bytes);
        return;
    case EVREQ_HTTP_TIMEOUT: /* evhttp's inactivity time-out, set to the same */
        snprintf(why, cap, "no complete response within %" PRId64 " ms", c->opt.timeout_ms);
        return;
    case EVREQ_HTTP_INVALID_HEADER: snprintf(why, cap, "malformed HTTP response"); return;
    case EVREQ_HTTP_EOF: snprintf(why, cap, "connection closed early"); return;
    default: break;
    }
    unsigned long e = ERR_peek_last_error();
    if (c->opt.tls && e != 0) {
        char text[160];
        ERR_error_string_n(e, text, sizeof text);
        snprintf(why, cap, "tls: %s", text);
        return;
    }
    snprintf(why, cap, "connection failed");
}

/* Parses a 200 body into a new key set (remote JWKS never carry HMAC
 * keys). Returns NULL with the reason in why. */
static sd_keyset *parse_body(const sd_jwks_client *c, struct evbuffer *body, char *why,
                             size_t cap) {
    size_t len = evbuffer_get_length(body);
    if (len > c->opt.max_bytes) {
        snprintf(why, cap, "response larger than %zu bytes", c->opt.max_bytes);
        return NULL;
    }
    const char *text = len ? (const char *)evbuffer_pullup(body, -1) : "";
    sd_keyset *ks = sd_keyset_new();
    if (!ks) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    int rc = sd_keyset_add_jwks(ks, text, len, 0);
    if (rc == 0 && sd_keyset_count(ks) == 0) {
        snprintf(why, cap, "no usable signing key in the JWKS");
        rc = SD_EINVAL;
    } else if (rc != 0) {
        snprintf(why, cap, "not a valid JWKS: %s", sd_strerror(rc));
    }
    if (rc != 0) {
        sd_keyset_free(ks);
        return NULL;
    }
    return ks;
}

static void on_request_error(enum evhttp_request_error err, void *arg) {
    sd_jwks_client *c = arg;
    if (c->request_error == 0) c->request_error = (int)err + 1;
}

static void on_response(struct evhttp_request *req, void *arg) {
    sd_jwks_client *c = arg;
    char why[256];
    sd_keyset *keys = NULL;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    if (c->request_error || status == 0)
        describe_failure(c, why, sizeof why);
    else if (status != 200)
        snprintf(why, sizeof why, "HTTP status %d", status);
    else
        keys = parse_body(c, evhttp_request_get_input_buffer(req), why, sizeof why);
    ERR_clear_error();
    event_active(&c->reap, 0, 0);
    finish(c, keys, why);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
    sd_jwks_client *c = arg;
    char why[64];
    snprintf(why, sizeof why, "no complete response within %" PRId64 " ms",
             c->opt.timeout_ms);
    free_connection(c); /* the request's callbacks never run */
    ERR_clear_error();
    finish(c, NULL, why);
}

/* ------------------------------------------------------------------------
 * The request
 * ------------------------------------------------------------------------ */

/* Adds Host (with brackets for IPv6 and the port when not the default). */
static int add_headers(const sd_jwks_client *c, struct evkeyvalq *h) {
    char host[300];
    int v6 = strchr(c->opt.host, ':') != NULL;
    int default_port = c->opt.port == (c->opt.tls ? 443 : 80);
    if (default_port)
        snprintf(host, sizeof host, v6 ? "[%s]" : "%s", c->opt.host);
    else
        snprintf(host, sizeof host, v6 ? "[%s]:%u" : "%s:%u", c->opt.host,
                 (unsigned)c->opt.port);
    return evhttp_add_header(h, "Host", host) || evhttp_add_header(h, "Accept", "application/json") ||
           evhttp_add_header(h, "User-Agent", "sessiond") ||
           evhttp_add_header(h, "Connection", "close");
}

/* The connection of one fetch, or NULL. */
static struct evhttp_connection *connect_to(sd_jwks_client *c) {
    struct bufferevent *bev;
    if (c->opt.tls) {
        SSL *ssl = new_ssl(c);
        if (!ssl) return NULL;
        bev = bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE |
                                                 BEV_OPT_DEFER_CALLBACKS);
        if (!bev) {
            SSL_free(ssl);
            return NULL;
        }
        /* Framing comes from Content-Length or chunking; a missing
         * close_notify cannot make a short body parse as a JWKS. */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!bev) return NULL;
    }
    struct evhttp_connection *conn =
        evhttp_connection_base_bufferevent_new(c->base, c->dns, bev, c->opt.host, c->opt.port);
    if (!conn) {
        bufferevent_free(bev);
        return NULL;
    }
    struct timeval tv = tv_of_ms(c->opt.timeout_ms);
    evhttp_connection_set_timeout_tv(conn, &tv);
    evhttp_connection_set_max_body_size(conn, (ev_ssize_t)c->opt.max_bytes);
    evhttp_connection_set_max_headers_size(conn, JWKS_MAX_HEADER_BYTES);
    evhttp_connection_set_retries(conn, 0);
    return conn;
}

static void start_fetch(sd_jwks_client *c) {
    if (c->in_flight) return;
    free_connection(c); /* a finished one not reaped yet */
    c->request_error = 0;
    c->tls_error = 0;
    c->fetches++;
    c->last_start_ms = monotonic_ms();
    c->conn = connect_to(c);
    struct evhttp_request *req = c->conn ? evhttp_request_new(on_response, c) : NULL;
    if (!req || add_headers(c, evhttp_request_get_output_headers(req)) != 0) {
        if (req) evhttp_request_free(req);
        free_connection(c);
        ERR_clear_error();
        c->in_flight = 1;
        finish(c, NULL, "cannot start the request (out of memory or TLS setup)");
        return;
    }
    evhttp_request_set_error_cb(req, on_request_error);
    /* In flight before the call: a refused connection may answer inside
     * it, and on_response then finishes the fetch. */
    c->in_flight = 1;
    struct timeval tv = tv_of_ms(c->opt.timeout_ms);
    evtimer_add(&c->deadline, &tv);
    if (evhttp_make_request(c->conn, req, EVHTTP_REQ_GET, c->opt.path) != 0 && c->in_flight) {
        /* The request was freed by evhttp_make_request. */
        free_connection(c);
        finish(c, NULL, "cannot send the request");
    }
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

sd_jwks_client *sd_jwks_client_new(struct event_base *base, struct evdns_base *dns,
                                   SSL_CTX *tls, const sd_jwks_options *opt) {
    if (opt->tls && !tls) return NULL;
    sd_jwks_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->base = base;
    c->dns = dns;
    c->tls = tls;
    c->opt = *opt;
    evtimer_assign(&c->timer, base, on_timer, c);
    evtimer_assign(&c->deadline, base, on_deadline, c);
    event_assign(&c->reap, base, -1, 0, on_reap, c);
    schedule(c, 0);
    return c;
}

void sd_jwks_client_free(sd_jwks_client *c) {
    if (!c) return;
    evtimer_del(&c->timer);
    evtimer_del(&c->deadline);
    event_del(&c->reap);
    free_connection(c);
    free(c);
}

int sd_jwks_client_kid_miss(sd_jwks_client *c) {
    if (c->in_flight) return 0;
    if (c->fetches > 0 && monotonic_ms() - c->last_start_ms < c->opt.min_refetch_ms)
        return 0;
    start_fetch(c);
    return 1;
}

void sd_jwks_client_refresh_now(sd_jwks_client *c) { start_fetch(c); }

int sd_jwks_client_has_keys(const sd_jwks_client *c) { return c->has_keys; }

uint64_t sd_jwks_client_fetches(const sd_jwks_client *c) { return c->fetches; }
