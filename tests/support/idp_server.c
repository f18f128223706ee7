/* The tests' JWKS server and throw-away PKI (see idp_server.h). */
#include "idp_server.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/keyvalq_struct.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_PATHS 16
#define PATH_LEN 128

/* A SLOW connection: its own listener (evhttp never sees it), which answers
 * 200 with a long Content-Length and then one byte every 100 ms until the
 * client leaves. (Dribbling through evhttp leaks the request when the client
 * goes away mid-reply: libevent 2.1 frees only finished replies.) */
typedef struct slow_conn {
    struct sd_test_idp *s;
    struct bufferevent *bev;
    struct event *tick;
    int counted;
    struct slow_conn *next;
} slow_conn;

struct sd_test_idp {
    struct event_base *base;
    struct evhttp *http;
    SSL_CTX *tls;              /* NULL for plain HTTP */
    struct event *wake;        /* the control pipe's read end */
    struct evhttp_bound_socket *bound;
    int pipe_fd[2];
    int port;
    pthread_t thread;
    struct evconnlistener *slow_listener; /* on the same socket, SLOW only */
    slow_conn *slow;           /* owned by the server thread */

    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t applied_cond;
    unsigned requested, applied; /* mode changes asked for and in effect */
    sd_test_idp_mode mode;
    int status;
    char *body;
    unsigned hits;
    char paths[MAX_PATHS][PATH_LEN];
    unsigned path_hits[MAX_PATHS];
};

/* ------------------------------------------------------------------------
 * Serving (the server thread)
 * ------------------------------------------------------------------------ */

static void count_hit(sd_test_idp *s, const char *uri) {
    char path[PATH_LEN];
    size_t n = strcspn(uri, "?");
    if (n >= sizeof path) n = sizeof path - 1;
    memcpy(path, uri, n);
    path[n] = '\0';
    s->hits++;
    for (int i = 0; i < MAX_PATHS; i++) {
        if (s->paths[i][0] == '\0') memcpy(s->paths[i], path, n + 1);
        if (strcmp(s->paths[i], path) == 0) {
            s->path_hits[i]++;
            return;
        }
    }
}

static void slow_close(slow_conn *c) {
    for (slow_conn **p = &c->s->slow; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    event_free(c->tick);
    bufferevent_free(c->bev);
    free(c);
}

static void on_slow_tick(evutil_socket_t fd, short what, void *arg) {
    slow_conn *c = arg;
    bufferevent_write(c->bev, " ", 1);
    struct timeval tv = {0, 100 * 1000};
    event_add(c->tick, &tv);
}

/* Reads (and counts) the request, never parses more than its first line. */
static void on_slow_read(struct bufferevent *bev, void *arg) {
    slow_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (!c->counted) {
        char *line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF);
        if (line) {
            char path[PATH_LEN] = "";
            sscanf(line, "%*s %127s", path);
            pthread_mutex_lock(&c->s->lock);
            count_hit(c->s, path);
            pthread_mutex_unlock(&c->s->lock);
            c->counted = 1;
            free(line);
        }
    }
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_slow_event(struct bufferevent *bev, short what, void *arg) {
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) slow_close(arg);
}

static void on_slow_accept(struct evconnlistener *l, evutil_socket_t fd,
                           struct sockaddr *addr, int len, void *arg) {
    sd_test_idp *s = arg;
    slow_conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->s = s;
    c->bev = s->tls ? bufferevent_openssl_socket_new(s->base, fd, SSL_new(s->tls),
                                                     BUFFEREVENT_SSL_ACCEPTING,
                                                     BEV_OPT_CLOSE_ON_FREE)
                    : bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->tick = evtimer_new(s->base, on_slow_tick, c);
    if (!c->bev || !c->tick) {
        if (c->bev) bufferevent_free(c->bev);
        else evutil_closesocket(fd);
        if (c->tick) event_free(c->tick);
        free(c);
        return;
    }
    c->next = s->slow;
    s->slow = c;
    bufferevent_setcb(c->bev, on_slow_read, NULL, on_slow_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 100000\r\nConnection: close\r\n\r\n{";
    bufferevent_write(c->bev, head, sizeof head - 1);
    on_slow_tick(-1, 0, c);
}

static void on_request(struct evhttp_request *req, void *arg) {
    sd_test_idp *s = arg;
    pthread_mutex_lock(&s->lock);
    count_hit(s, evhttp_request_get_uri(req));
    sd_test_idp_mode mode = s->mode;
    int status = s->status;
    struct evbuffer *out = evbuffer_new();
    if (out && mode == SD_TEST_IDP_SERVE) evbuffer_add(out, s->body, strlen(s->body));
    pthread_mutex_unlock(&s->lock);

    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    switch (mode) {
    case SD_TEST_IDP_SERVE:
        evhttp_add_header(h, "Content-Type", "application/json");
        evhttp_send_reply(req, 200, "OK", out);
        break;
    case SD_TEST_IDP_STATUS:
        evbuffer_add_printf(out, "status %d\n", status);
        evhttp_send_reply(req, status, "Test", out);
        break;
    case SD_TEST_IDP_HANG:
        /* Accepted just before HANG took effect: answer rather than leak. */
        evhttp_send_reply(req, 503, "Hanging", out);
        break;
    case SD_TEST_IDP_SLOW: /* accepted just before SLOW took effect */
        evhttp_send_reply(req, 503, "Slow", out);
        break;
    }
    if (out) evbuffer_free(out);
}

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg) {
    sd_test_idp *s = arg;
    return bufferevent_openssl_socket_new(base, -1, SSL_new(s->tls),
                                          BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* Commands from the test's thread: 'x' stops the loop, 'm' applies a new
 * mode. HANG stops accepting: connections wait in the kernel's backlog,
 * connected, with their requests sent and never read or answered. (A request
 * that evhttp has read and that is never answered leaks when its client
 * leaves: libevent 2.1 frees only answered ones.) */
static void on_wake(evutil_socket_t fd, short what, void *arg) {
    sd_test_idp *s = arg;
    char cmd;
    if (read(fd, &cmd, 1) != 1) return;
    if (cmd == 'x') {
        event_base_loopbreak(s->base);
        return;
    }
    pthread_mutex_lock(&s->lock);
    struct evconnlistener *l = evhttp_bound_socket_get_listener(s->bound);
    if (s->mode == SD_TEST_IDP_HANG || s->mode == SD_TEST_IDP_SLOW)
        evconnlistener_disable(l);
    else
        evconnlistener_enable(l);
    if (s->mode == SD_TEST_IDP_SLOW)
        evconnlistener_enable(s->slow_listener);
    else
        evconnlistener_disable(s->slow_listener);
    s->applied++;
    pthread_cond_broadcast(&s->applied_cond);
    pthread_mutex_unlock(&s->lock);
}

static void *run(void *arg) {
    sd_test_idp *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Control (the test's thread)
 * ------------------------------------------------------------------------ */

static SSL_CTX *server_ctx(const char *cert_pem, const char *key_pem) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int ok = ctx && cert && key && SSL_CTX_use_certificate(ctx, cert) == 1 &&
             SSL_CTX_use_PrivateKey(ctx, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

sd_test_idp *sd_test_idp_start(const char *cert_pem, const char *key_pem) {
    /* A client that leaves while a reply is being written must not kill
     * the test process. */
    signal(SIGPIPE, SIG_IGN);
    sd_test_idp *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->applied_cond, NULL);
    s->pipe_fd[0] = s->pipe_fd[1] = -1;
    s->body = strdup("{\"keys\":[]}");
    s->base = event_base_new();
    s->http = s->base ? evhttp_new(s->base) : NULL;
    if (!s->body || !s->http || pipe(s->pipe_fd) != 0) goto fail;
    if (cert_pem) {
        if (!(s->tls = server_ctx(cert_pem, key_pem))) goto fail;
        evhttp_set_bevcb(s->http, make_tls_bev, s);
    }
    evhttp_set_gencb(s->http, on_request, s);
    evhttp_set_timeout(s->http, 30);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    if (!bound) goto fail;
    s->bound = bound;
    s->slow_listener = evconnlistener_new(s->base, on_slow_accept, s, LEV_OPT_DISABLED, 0,
                                          evhttp_bound_socket_get_fd(bound));
    if (!s->slow_listener) goto fail;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&a, &alen) != 0)
        goto fail;
    s->port = ntohs(a.sin_port);
    s->wake = event_new(s->base, s->pipe_fd[0], EV_READ | EV_PERSIST, on_wake, s);
    if (!s->wake || event_add(s->wake, NULL) != 0) goto fail;
    if (pthread_create(&s->thread, NULL, run, s) != 0) goto fail;
    return s;
fail:
    if (s->slow_listener) evconnlistener_free(s->slow_listener);
    if (s->wake) event_free(s->wake);
    if (s->http) evhttp_free(s->http);
    if (s->base) event_base_free(s->base);
    SSL_CTX_free(s->tls);
    if (s->pipe_fd[0] >= 0) close(s->pipe_fd[0]);
    if (s->pipe_fd[1] >= 0) close(s->pipe_fd[1]);
    free(s->body);
    free(s);
    return NULL;
}

void sd_test_idp_stop(sd_test_idp *s) {
    if (!s) return;
    if (write(s->pipe_fd[1], "x", 1) != 1) perror("jwks server: stop");
    pthread_join(s->thread, NULL);
    /* The thread is gone: everything below runs alone. */
    while (s->slow) slow_close(s->slow);
    evconnlistener_free(s->slow_listener); /* the socket is evhttp's */
    evhttp_free(s->http);
    event_free(s->wake);
    event_base_free(s->base);
    SSL_CTX_free(s->tls);
    close(s->pipe_fd[0]);
    close(s->pipe_fd[1]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->applied_cond);
    free(s->body);
    free(s);
}

int sd_test_idp_port(const sd_test_idp *s) { return s->port; }

void sd_test_idp_set(sd_test_idp *s, sd_test_idp_mode mode, int status,
                      const char *body) {
    char *copy = body ? strdup(body) : NULL;
    pthread_mutex_lock(&s->lock);
    s->mode = mode;
    s->status = status;
    if (copy) {
        free(s->body);
        s->body = copy;
    }
    unsigned ticket = ++s->requested;
    pthread_mutex_unlock(&s->lock);
    if (write(s->pipe_fd[1], "m", 1) != 1) perror("idp server: set");
    /* The server thread applies it before the test goes on. */
    pthread_mutex_lock(&s->lock);
    while (s->applied < ticket) pthread_cond_wait(&s->applied_cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

unsigned sd_test_idp_hits(sd_test_idp *s) {
    pthread_mutex_lock(&s->lock);
    unsigned n = s->hits;
    pthread_mutex_unlock(&s->lock);
    return n;
}

unsigned sd_test_idp_hits_for(sd_test_idp *s, const char *path) {
    unsigned n = 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < MAX_PATHS; i++)
        if (strcmp(s->paths[i], path) == 0) n = s->path_hits[i];
    pthread_mutex_unlock(&s->lock);
    return n;
}

unsigned sd_test_idp_wait_hits(sd_test_idp *s, unsigned n, int timeout_ms) {
    for (int waited = 0;; waited += 10) {
        unsigned seen = sd_test_idp_hits(s);
        if (seen >= n || waited >= timeout_ms) return seen;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------------------
 * Throw-away PKI
 * ------------------------------------------------------------------------ */

static char *pem_of_cert(X509 *cert) {
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    if (b && PEM_write_bio_X509(b, cert) == 1) {
        long n = BIO_get_mem_data(b, &data);
        if (n > 0 && (out = malloc((size_t)n + 1))) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    return out;
}

static char *pem_of_key(EVP_PKEY *key) {
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
        long n = BIO_get_mem_data(b, &data);
        if (n > 0 && (out = malloc((size_t)n + 1))) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    return out;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for key named cn, signed by issuer_key (issuer NULL: self). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long serial, const char *san) {
    X509 *cert = X509_new();
    if (!cert) return NULL;
    X509_NAME *name = X509_get_subject_name(cert);
    int ok = X509_set_version(cert, 2) == 1 &&
             ASN1_INTEGER_set(X509_get_serialNumber(cert), serial) == 1 &&
             X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
             X509_gmtime_adj(X509_getm_notAfter(cert), 86400) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        (const unsigned char *)cn, -1, -1, 0) == 1 &&
             X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) == 1 &&
             X509_set_pubkey(cert, key) == 1;
    X509 *iss = issuer ? issuer : cert;
    if (ok && !issuer)
        ok = add_ext(cert, iss, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (ok && issuer)
        ok = add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(cert, iss, NID_ext_key_usage, "serverAuth") &&
             add_ext(cert, iss, NID_subject_alt_name, san);
    if (ok) ok = X509_sign(cert, issuer_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

int sd_test_pki_make(sd_test_pki *p, const char *subject_alt_name) {
    memset(p, 0, sizeof *p);
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    X509 *ca = ca_key ? make_cert(ca_key, "sessiond test CA", NULL, ca_key, 1, NULL) : NULL;
    X509 *cert = ca && key ? make_cert(key, "jwks test server", ca, ca_key, 2,
                                       subject_alt_name)
                           : NULL;
    if (cert) {
        p->ca_pem = pem_of_cert(ca);
        p->cert_pem = pem_of_cert(cert);
        p->key_pem = pem_of_key(key);
    }
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    if (!p->ca_pem || !p->cert_pem || !p->key_pem) {
        sd_test_pki_free(p);
        ERR_clear_error();
        return -1;
    }
    return 0;
}

void sd_test_pki_free(sd_test_pki *p) {
    free(p->ca_pem);
    free(p->cert_pem);
    free(p->key_pem);
    memset(p, 0, sizeof *p);
}
