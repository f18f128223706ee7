/* The worker: everything one sessiond process serves requests with — the
 * configuration, the instances and their keys, the Redis store, the token
 * cache and the periodic sweep. The HTTP layer sits on top of it. */
#ifndef SD_WORKER_WORKER_H
#define SD_WORKER_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>

#include "sessiond/config.h"
#include "session/session.h"
#include "store/store.h"
#include "worker/jwks_client.h"
#include "worker/token_cache.h"

struct evdns_base;
struct ssl_ctx_st;
struct sd_worker;

/* The key fetcher of one instance that has a jwks_uri. */
typedef struct sd_worker_jwks {
    struct sd_worker *worker;
    sd_instance *inst;
    sd_jwks_client *client;         /* NULL for instances without jwks_uri */
} sd_worker_jwks;

typedef struct sd_worker {
    struct event_base *base;
    const sd_config *cfg;           /* borrowed; outlives the worker */
    sd_instance *instances;         /* cfg->ninstances of them */
    size_t ninstances;
    sd_store *store;
    sd_token_cache *cache;          /* NULL when disabled */
    struct event sweep_timer;
    sd_worker_jwks *jwks;           /* one per instance */
    struct evdns_base *dns;         /* NULL unless a jwks_uri names a host */
    struct ssl_ctx_st *tls;         /* NULL unless a jwks_uri is https */
} sd_worker;

/* Loads every instance's keys, creates the store (which starts connecting),
 * the sweep timer and a JWKS fetcher per jwks_uri (which fetches at once). On failure writes a message into err, returns a
 * negative sd_err and leaves nothing allocated. */
int sd_worker_init(sd_worker *w, struct event_base *base, const sd_config *cfg,
                   char *err, size_t errlen);

/* Frees what sd_worker_init made; pending store calls are answered
 * SD_ESTORE_UNAVAILABLE. */
void sd_worker_cleanup(sd_worker *w);

/* 1 when requests can be served: Redis connected and scripts loaded, and
 * every instance with a jwks_uri has fetched its keys once (file keys are
 * loaded before init returns). */
int sd_worker_ready(const sd_worker *w);

/* 0 when ready, else why not: SD_ESTORE_UNAVAILABLE or SD_EKEYS_UNAVAILABLE. */
int sd_worker_readiness(const sd_worker *w);

/* Reloads every instance's keys from their files (SIGHUP), all or nothing:
 * when any instance fails, every instance keeps its current keys and err
 * names the failure. On success the token cache is emptied, so a key that
 * was removed stops verifying at once. Instances with a jwks_uri keep their
 * keys and refetch them now instead. Returns 0 or a negative sd_err. */
int sd_worker_reload_keys(sd_worker *w, char *err, size_t errlen);

/* The instance a request addresses (SPEC §5): by Host (port ignored), else
 * by the X-Instance header, else the single configured instance. Either
 * argument may be NULL. Returns NULL when none matches. */
const sd_instance *sd_worker_instance_for(const sd_worker *w, const char *host,
                                          const char *x_instance);

/* Verifies a token for inst, through the cache. On success stores a new
 * reference in *out (the caller unrefs it) and returns 0; else returns the
 * negative SD_ETOKEN_* reason, or SD_EKEYS_UNAVAILABLE while inst's
 * jwks_uri has not been fetched. A kid_unknown at an instance with a
 * jwks_uri asks its fetcher for a (rate-limited) refetch; that token is
 * still refused. now_s is the worker's clock. */
int sd_worker_verify(sd_worker *w, const sd_instance *inst, const char *token,
                     size_t len, int64_t now_s, sd_claims **out);

#endif
