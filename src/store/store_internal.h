/* Private to src/store/: what the store's files share. store.c owns the calls
 * (routing, time-outs, replies), link.c the connections to Redis servers,
 * sentinel.c where the master is (Sentinel mode), cluster.c which node owns
 * a slot (Cluster mode). Nothing here is seen outside src/store/. */
#ifndef SD_STORE_STORE_INTERNAL_H
#define SD_STORE_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>
#include <hiredis/async.h>

#include "store/scripts_embedded.h"
#include "store/store.h"

#define STORE_BACKOFF_START_MS 100
#define STORE_HOST_MAX 256

typedef enum {
    STORE_SINGLE,   /* one Redis at a fixed address */
    STORE_SENTINEL, /* the master that the sentinels name */
    STORE_CLUSTER,  /* one connection per master, calls routed by hash slot */
} store_mode;

typedef enum {
    LINK_DOWN,      /* no connection; maybe a reconnect timer */
    LINK_HANDSHAKE, /* connecting, AUTH/SELECT/ROLE, loading scripts */
    LINK_READY,
} link_state;

typedef struct store_call store_call;
typedef struct store_link store_link;

/* One connection to one Redis server, made again with back-off when it
 * goes. The struct lives as long as the store; only its hiredis context
 * comes and goes. */
struct store_link {
    sd_store *store;
    redisAsyncContext *ac;
    link_state state;
    char host[STORE_HOST_MAX];
    uint16_t port;
    int check_role;           /* Sentinel mode: ROLE must say "master" */
    unsigned scripts_pending; /* SCRIPT LOADs not yet answered */
    uint64_t replies;         /* replies received; detects a stall */
    int64_t backoff_ms;
    struct event reconnect_timer;
    struct event handshake_timer;
    /* Redis's clock (TIME, ms) minus our monotonic ms, measured at each
     * handshake and every sweep: how call deadlines reach the scripts in
     * Redis's own time. */
    int64_t clock_offset_ms;
    int clock_known;
    /* Cluster: calls redirected here while it was not ready; sent when it
     * becomes ready, failed when it goes down. */
    store_call *waiting;
    store_call **waiting_tail;
};

/* One call in flight. It lives until hiredis hands back its reply (or NULL
 * on disconnect), even when the caller was already answered by the
 * time-out. */
struct store_call {
    sd_store *store;
    store_link *link; /* where it was last sent */
    struct event timer;
    sd_store_cb *cb;
    void *data;
    sd_store_late_cb *late_cb; /* for a reply after the time-out; may be NULL */
    void *late_data;
    char tag[40];     /* the caller's note, handed to late_cb */
    store_call *next; /* in the deferred, waiting or retry list */
    char *cmd;        /* formatted command, kept for resending */
    size_t cmdlen;
    int script;    /* sd_script_id to reload on NOSCRIPT, or -1 */
    int slot;      /* Cluster: hash slot of its key, -1 none */
    int scan_node; /* Cluster SCAN: the master scanned, else -1 */
    uint64_t replies_at_send;
    int64_t sent_at;         /* monotonic ns, for the latency histogram */
    unsigned char redirects; /* MOVED/ASK/TRYAGAIN followed so far */
    unsigned answered : 1;
    unsigned retried : 1;   /* NOSCRIPT reload done (or not allowed) */
    unsigned asking : 1;    /* send ASKING before it (an -ASK redirect) */
    unsigned in_flight : 1; /* sent, reply not yet back */
    unsigned started : 1;   /* timer running, counted in stats */
};

struct store_sentinel;
struct store_cluster;

struct sd_store {
    struct event_base *base;
    store_mode mode;
    int ready;      /* what on_state last said */
    int was_ready;  /* ready at least once */
    char *password; /* of the data nodes; NULL: no AUTH */
    int db;
    struct timeval timeout;
    int64_t timeout_ms;
    int64_t backoff_max_ms;
    const sd_embedded_script *scripts[SD_SCRIPT_COUNT];
    char sha[SD_SCRIPT_COUNT][41];
    store_link **links; /* single and Sentinel: exactly one */
    size_t nlinks;
    size_t caplinks;
    void (*on_state)(int ready, const char *why, void *data);
    void *data;
    sd_store_stats stats;
    char last_error[200]; /* why the latest attempt failed */
    char reported[200];   /* the not-ready reason last passed to on_state */
    store_call *deferred; /* calls waiting for their node to be ready */
    store_call **deferred_tail;
    unsigned ndeferred;
    store_call *retry; /* Cluster: calls to resend after -TRYAGAIN */
    store_call **retry_tail;
    struct event retry_timer;
    int freeing; /* in sd_store_free: no late callbacks */
    struct store_sentinel *sentinel;
    struct store_cluster *cluster;
};

/* ------------------------------------------------------------------------
 * store.c: what the topologies tell the store
 * ------------------------------------------------------------------------ */

/* Records why the latest attempt failed (for sd_store_last_error). */
void store_set_error(sd_store *store, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Recomputes readiness from the links (and the slot map) and tells
 * on_state when it changed. */
void store_update_state(sd_store *store, const char *why);

/* A link finished its handshake / lost its connection. */
void store_link_up(store_link *link);
void store_link_down(store_link *link, const char *why);

/* A link's reconnect timer fired: connect again (or ask the sentinels). */
void store_link_reconnect(store_link *link);

/* Sends the calls deferred or redirected while their node was away. */
void store_flush_waiting(sd_store *store);

/* ------------------------------------------------------------------------
 * link.c
 * ------------------------------------------------------------------------ */

/* A new link (not connected) appended to store->links; NULL when out of
 * memory. */
store_link *link_new(sd_store *store, const char *host, uint16_t port);

/* Frees the link; its connection (if any) must be gone already. */
void link_free(store_link *link);

/* Starts connecting and queues the whole handshake. */
void link_connect(store_link *link);

/* Drops the connection (safe inside hiredis's callbacks: the free is then
 * deferred), cancels timers, and reports store_link_down(why) unless
 * quiet. Pending replies come back NULL. */
void link_drop(store_link *link, const char *why, int quiet);

/* Schedules link_connect (through store_link_reconnect) after the current
 * back-off, then doubles it up to the store's cap. */
void link_schedule_reconnect(store_link *link);

/* Records the offset of Redis's clock from a TIME reply. */
void link_note_time(store_link *link, const redisReply *reply);

/* Sends TIME on a ready link to measure the offset again. */
void link_sync_clock(store_link *link);

/* Changes where the link connects next time. */
void link_set_address(store_link *link, const char *host, uint16_t port);

/* Sends a command on a ready link's connection outside any call (cluster
 * topology queries). Returns 0 or SD_ESTORE_UNAVAILABLE. */
int link_send(store_link *link, redisCallbackFn *fn, void *privdata, int argc,
              const char **argv, const size_t *lens);

/* ------------------------------------------------------------------------
 * sentinel.c (sentinel.h) and cluster.c (cluster.h) are the topologies.
 * ------------------------------------------------------------------------ */

#endif
