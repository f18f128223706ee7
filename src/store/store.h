/* The Redis store: hiredis async connections on the worker's libevent loop,
 * the embedded Lua scripts loaded into each, and time-outs on every call.
 *
 * Three topologies, chosen by the options, look the same to callers:
 *   - one Redis at host:port;
 *   - Sentinel: the master that the sentinels name (asked in turn), checked
 *     with ROLE, followed through failovers (connection loss, -READONLY,
 *     +switch-master); calls during a switch fail SD_ESTORE_UNAVAILABLE;
 *   - Cluster: one connection per master, each call sent to the owner of
 *     its first key's hash slot (CLUSTER SLOTS, -MOVED, -ASK, -TRYAGAIN
 *     followed within the call's time-out); SCAN visits every master.
 *
 * hiredis 0.14 has no async time-outs (SPEC §2.1), so each call carries its
 * own libevent timer. A call that times out is answered SD_ESTORE_TIMEOUT at
 * once; its reply, if it ever comes, is dropped. A connection that answers
 * nothing for a whole time-out is dropped and re-made with back-off, so a
 * stalled Redis costs one time-out, not one per request.
 *
 * Callers never see the connection: they call scripts by sd_script_id and get
 * exactly one callback per accepted call. */
#ifndef SD_STORE_STORE_H
#define SD_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "core/metrics.h"
#include "store/script_result.h"

struct event_base;

typedef struct sd_store sd_store;

typedef struct sd_store_options {
    const char *host;           /* single node (no sentinels, no cluster) */
    uint16_t port;
    const char *password;       /* of the data nodes; NULL: no AUTH */
    int db;                     /* SELECT when non-zero (not with cluster) */
    /* Sentinel mode when nsentinels > 0: "host:port" of each sentinel and
     * the name of the master they monitor. */
    const char *const *sentinels;
    size_t nsentinels;
    const char *master_name;
    const char *sentinel_password;  /* AUTH to the sentinels; NULL: none */
    /* Cluster mode when ncluster > 0: "host:port" of seed nodes. */
    const char *const *cluster;
    size_t ncluster;
    int64_t timeout_ms;         /* per call and for the handshake */
    int64_t reconnect_max_ms;   /* back-off cap */
    /* Called on every change of readiness; may be NULL. */
    void (*on_state)(int ready, const char *why, void *data);
    void *data;
} sd_store_options;

/* Called exactly once per accepted call. err is 0 with a reply (which may be
 * a Redis error reply), or SD_ESTORE_UNAVAILABLE / SD_ESTORE_TIMEOUT with
 * reply NULL. The reply is owned by the store and valid only during the
 * callback. */
typedef void sd_store_cb(int err, const redisReply *reply, void *data);

/* Creates a store and starts connecting. opt's strings are copied. Returns
 * NULL when out of memory or a sentinel or cluster address is not
 * "host:port". */
sd_store *sd_store_new(struct event_base *base, const sd_store_options *opt);

/* Closes the connection, answering every pending call SD_ESTORE_UNAVAILABLE,
 * and frees the store. NULL is accepted. */
void sd_store_free(sd_store *store);

/* What the store has done, for /metrics. Counters only grow. */
typedef struct sd_store_stats {
    uint64_t calls;          /* calls sent */
    uint64_t timeouts;       /* answered SD_ESTORE_TIMEOUT */
    uint64_t failures;       /* answered SD_ESTORE_UNAVAILABLE (disconnects) */
    uint64_t connects;       /* times the store became ready */
    uint64_t moved;          /* Cluster: -MOVED replies followed */
    uint64_t asked;          /* Cluster: -ASK replies followed */
    uint64_t tryagain;       /* Cluster: -TRYAGAIN replies retried */
    uint64_t switches;       /* Sentinel: +switch-master announcements followed */
    sd_histogram latency;    /* seconds from send to reply, answered calls */
} sd_store_stats;

/* The store's counters; valid as long as the store. */
const sd_store_stats *sd_store_get_stats(const sd_store *store);

/* Why the latest connection attempt failed or was dropped, or NULL when
 * none has failed yet (for tools that report instead of retrying). */
const char *sd_store_last_error(const sd_store *store);

/* The time on Redis's clock (ms since the epoch) by which a call sent now
 * is answered by the store's time-out: scripts given it refuse to act when
 * they run later than that (a stalled Redis waking up), so a request its
 * client was told failed changes nothing. 0 while Redis's clock is not
 * known yet. In Cluster mode the first node's clock stands for all. */
int64_t sd_store_deadline_ms(const sd_store *store);

/* Measures Redis's clock again on every connection (the worker does it each
 * sweep, so a clock step on the Redis host is followed within a second). */
void sd_store_sync_clock(sd_store *store);

/* 1 when connected with every script loaded (Cluster: to every master of a
 * slot map that covers every slot), else 0. */
int sd_store_ready(const sd_store *store);

/* Calls a script with EVALSHA; a NOSCRIPT reply reloads it and retries once,
 * transparently. args[0..nkeys-1] are the keys, the rest are ARGV; lens
 * gives their lengths. The arguments are copied before returning.
 * Returns 0 when the call was sent (cb will run later), or
 * SD_ESTORE_UNAVAILABLE (not ready; cb will not run) or SD_ENOMEM. */
int sd_store_call(sd_store *store, sd_script_id script, int nkeys, int nargs,
                  const char **args, const size_t *lens, sd_store_cb *cb,
                  void *data);

/* Called for a call whose caller was told it failed although the script
 * may have run: with its reply when that arrives after the time-out, or with
 * reply NULL when the connection went before any reply (the outcome is
 * unknown). tag is the caller's note given with the call. The reply is valid
 * only during the callback. */
typedef void sd_store_late_cb(sd_store *store, const redisReply *reply,
                              const char *tag, void *data);

/* As sd_store_call, and late_cb(store, reply, tag, late_data) runs as above
 * (late_data must outlive the call; a store being freed runs no late_cb).
 * tag (up to 39 bytes, may be NULL) is copied. */
int sd_store_call_late(sd_store *store, sd_script_id script, int nkeys, int nargs,
                       const char **args, const size_t *lens, sd_store_cb *cb,
                       void *data, sd_store_late_cb *late_cb, void *late_data,
                       const char *tag);

/* Most calls held for the next connection (sd_store_call_deferred). */
#define SD_STORE_MAX_DEFERRED 4096

/* As sd_store_call, but while Redis is away the call waits (at most
 * SD_STORE_MAX_DEFERRED of them) and is sent once the store is ready again;
 * for undo work that must not be lost to an outage. Fails with
 * SD_ESTORE_UNAVAILABLE when the queue is full or the store was never
 * ready. */
int sd_store_call_deferred(sd_store *store, sd_script_id script, int nkeys, int nargs,
                           const char **args, const size_t *lens, sd_store_cb *cb,
                           void *data);

/* Sends one plain command (argv[0] is its name: SCAN, XRANGE, ...) with the
 * same time-out and callback contract as sd_store_call, for reads that need
 * no script. In Cluster mode argv[1] is taken as the key that routes it,
 * except for SCAN, whose cursor then also names the master being scanned
 * ("<master>-<cursor>"; "0" starts at the first and is returned after the
 * last), so a SCAN loop visits every master. Returns 0,
 * SD_ESTORE_UNAVAILABLE or SD_ENOMEM. */
int sd_store_command(sd_store *store, int argc, const char **argv,
                     const size_t *lens, sd_store_cb *cb, void *data);

#endif
