/* Redis Cluster topology behind the store (Cluster mode): the slot map from
 * CLUSTER SLOTS, one link per master, and the -MOVED / -ASK redirects that
 * correct it. Private to src/store/; the parsers are pure so that unit
 * tests can feed them replies. */
#ifndef SD_STORE_CLUSTER_H
#define SD_STORE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "store/crc16.h"
#include "store/store_internal.h"

/* ------------------------------------------------------------------------
 * Parsers
 * ------------------------------------------------------------------------ */

/* A "-MOVED <slot> <host>:<port>" or "-ASK <slot> <host>:<port>" error. host
 * is "" when Redis sent an empty endpoint (meaning: the node that replied). */
typedef struct sd_cluster_redirect {
    int ask; /* 1 for ASK, 0 for MOVED */
    int slot;
    char host[STORE_HOST_MAX];
    uint16_t port;
} sd_cluster_redirect;

/* Parses an error reply's text (len bytes, without the leading '-').
 * Returns 0 for a well-formed MOVED or ASK, -1 for anything else. The port
 * follows the last ':' (IPv6 addresses come without brackets). */
int sd_cluster_parse_redirect(const char *msg, size_t len, sd_cluster_redirect *out);

/* Called for each slot range of a CLUSTER SLOTS reply, with its master. */
typedef void sd_cluster_range_fn(void *ctx, int first, int last, const char *host,
                                 uint16_t port);

/* Checks a CLUSTER SLOTS reply (ranges within 0..16383, each with a master
 * host and port; an empty host means asked_host) and, only when all of it
 * is well-formed, calls fn for every range in order. Returns the number of
 * slots covered (16384 for a complete map) or -1 for a malformed reply. */
int sd_cluster_parse_slots(const redisReply *reply, const char *asked_host,
                           sd_cluster_range_fn *fn, void *ctx);

/* ------------------------------------------------------------------------
 * Topology (cluster.c)
 * ------------------------------------------------------------------------ */

typedef struct store_cluster store_cluster;

/* Makes a link for each seed "host:port" (not connected yet). Returns NULL
 * when out of memory or a seed is malformed (reason in err). */
store_cluster *store_cluster_new(sd_store *store, const char *const *seeds, size_t n,
                                 char *err, size_t errlen);
void store_cluster_free(store_cluster *c);

/* Connects every seed; the first to be ready is asked for the slot map. */
void store_cluster_start(store_cluster *c);

/* 1 when the map covers every slot and every master's link is ready. */
int store_cluster_ready(const store_cluster *c);

/* The link of the master that owns slot (maybe not ready), or NULL. */
store_link *store_cluster_route(const store_cluster *c, int slot);

/* A ready link of some master (keyless commands), or NULL. */
store_link *store_cluster_any(const store_cluster *c);

/* Masters in the order of their first slot (SCAN visits them in turn). */
size_t store_cluster_nmasters(const store_cluster *c);
store_link *store_cluster_master(const store_cluster *c, size_t i);

/* The link to send a redirected call to (made and connected when new).
 * MOVED also moves the slot in the map and asks for a fresh map. NULL when
 * out of memory. */
store_link *store_cluster_redirect(store_cluster *c, const sd_cluster_redirect *rd,
                                   const store_link *from);

/* Asks some ready node for CLUSTER SLOTS soon (coalesced). */
void store_cluster_refresh(store_cluster *c);

/* A link became ready / went down (called by store.c). */
void store_cluster_link_up(store_cluster *c, store_link *link);
void store_cluster_link_down(store_cluster *c, store_link *link, const char *why);

#endif
