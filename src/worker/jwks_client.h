/* Fetches one instance's JWKS from its identity server over HTTP(S)
 * (SPEC §3 "a JWKS URL"): at start, every refresh interval, and — at most
 * once per min_refetch — when a token names a kid the keys do not have.
 *
 * A fetch that fails, times out, answers anything but 200, is larger than
 * max_bytes, or is not a JWKS with at least one usable signing key changes
 * nothing: it is logged as one JSON line and retried with back-off (1 s,
 * doubling, at most the refresh interval). A good fetch hands a new key set
 * to the owner, who decides whether it differs from the one in use.
 *
 * TLS is verified against the system trust store (SSL_CERT_FILE and
 * SSL_CERT_DIR are honoured, as everywhere in OpenSSL): the peer's chain and
 * its host name (or IP address), with SNI for names. Redirects are not
 * followed. The client never verifies a token; src/token stays pure. */
#ifndef SD_WORKER_JWKS_CLIENT_H
#define SD_WORKER_JWKS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "sessiond/token.h"

struct event_base;
struct evdns_base;
struct ssl_ctx_st;

/* Largest JWKS response accepted (real ones are a few KiB). */
#define SD_JWKS_FETCH_MAX_BYTES (1u << 20)

typedef struct sd_jwks_client sd_jwks_client;

/* Receives the key set of a good fetch; the callee owns keys. */
typedef void sd_jwks_keys_cb(sd_keyset *keys, void *data);

typedef struct sd_jwks_options {
    const char *instance;    /* name for log lines */
    const char *uri;         /* as configured, for log lines */
    const char *host;        /* to connect to, verify and send as Host */
    uint16_t port;
    const char *path;        /* path and query */
    int tls;                 /* 1: https */
    int64_t refresh_ms;      /* interval between scheduled fetches */
    int64_t min_refetch_ms;  /* unknown-kid fetches start at most this often */
    int64_t timeout_ms;      /* one whole fetch: connect, TLS, headers, body */
    size_t max_bytes;        /* response body cap */
    sd_jwks_keys_cb *on_keys;
    void *data;
} sd_jwks_options;

/* A TLS client context for JWKS fetches: TLS 1.2 or later, peer
 * verification against the default trust store. NULL on failure. Free with
 * SSL_CTX_free after every client that uses it. */
struct ssl_ctx_st *sd_jwks_tls_context(void);

/* Creates a client and schedules its first fetch at once. dns may be NULL
 * (blocking name resolution); tls is required when opt->tls. Strings in opt
 * are borrowed and must outlive the client. Returns NULL when out of
 * memory. */
sd_jwks_client *sd_jwks_client_new(struct event_base *base, struct evdns_base *dns,
                                   struct ssl_ctx_st *tls, const sd_jwks_options *opt);

/* Cancels a fetch in flight (its callbacks never run) and frees the client.
 * NULL is accepted. */
void sd_jwks_client_free(sd_jwks_client *c);

/* A token named a kid the current keys lack. Starts a fetch unless one is
 * in flight or one started less than min_refetch_ms ago. The token itself
 * is answered at once (kid_unknown); only later tokens see the new keys.
 * Returns 1 when a fetch started, else 0. */
int sd_jwks_client_kid_miss(sd_jwks_client *c);

/* Starts a fetch now unless one is in flight (SIGHUP). */
void sd_jwks_client_refresh_now(sd_jwks_client *c);

/* 1 once a fetch has succeeded (the owner has received keys), else 0. */
int sd_jwks_client_has_keys(const sd_jwks_client *c);

/* Fetches started since creation (for tests and metrics). */
uint64_t sd_jwks_client_fetches(const sd_jwks_client *c);

#endif
