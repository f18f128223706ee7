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

/* How sessions ended, for the closed counters. */
typedef enum sd_close_reason {
    SD_CLOSED_LOGOUT = 0,
    SD_CLOSED_ADMIN,
    SD_CLOSED_IDLE,
    SD_CLOSED_ABSOLUTE,
    SD_CLOSE_REASONS
} sd_close_reason;

extern const char *const sd_close_reason_names[SD_CLOSE_REASONS];

/* What this worker saw of one instance, for /metrics. Counters count what
 * this process did (Prometheus sums the replicas); the gauges are the
 * instance's own, refreshed by every sweep. */
typedef struct sd_instance_stats {
    uint64_t opened;
    uint64_t resumed;
    uint64_t denied_license;
    uint64_t denied_subject;
    uint64_t refused_revoked;
    uint64_t closed[SD_CLOSE_REASONS];
    int64_t used;                   /* open sessions; -1 before the first sweep */
    int64_t limit;                  /* pool limit; -1 before the first sweep */
} sd_instance_stats;

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
    sd_instance_stats *stats;       /* one per instance, same order */
    struct event sweep_timer;
    sd_worker_jwks *jwks;           /* one per instance */
    struct evdns_base *dns;         /* NULL unless a jwks_uri names a host */
    struct ssl_ctx_st *tls;         /* NULL unless a jwks_uri is https */
} sd_worker;

/* The stats of inst (one of w's instances). */
sd_instance_stats *sd_worker_stats(sd_worker *w, const sd_instance *inst);

/* Counts what an open_or_resume or close reply says happened: an open, a
 * resume, a denial, a revoked token, and the expired sessions the script
 * closed on the way. close_reason is the reason a "closed" reply counts
 * under (logout or admin). */
void sd_worker_count(sd_worker *w, const sd_instance *inst,
                     const sd_session_result *res, sd_close_reason close_reason);

/* Loads every instance's keys, creates the store (which starts connecting),
 * the sweep timer and a JWKS fetcher per jwks_uri (which fetches at once).
 * On failure writes a message into err, returns a negative sd_err and leaves
 * nothing allocated. */
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
 * argument may be NULL. Returns NULL when none matches, and when an
 * X-Instance names no configured instance. */
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
