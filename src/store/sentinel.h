/* Redis Sentinel behind the store (Sentinel mode): asks the sentinels, each
 * in turn, where the master is (SENTINEL get-master-addr-by-name), points
 * the store's one link there, and follows failovers announced on a
 * subscribed connection to one sentinel (+switch-master). Private to
 * src/store/. */
#ifndef SD_STORE_SENTINEL_H
#define SD_STORE_SENTINEL_H

#include <stddef.h>

#include "store/store_internal.h"

typedef struct store_sentinel store_sentinel;

/* Parses the sentinels' "host:port" addresses and copies the names. Returns
 * NULL when out of memory or an address is malformed (reason in err). */
store_sentinel *store_sentinel_new(sd_store *store, const sd_store_options *opt,
                                   char *err, size_t errlen);

/* Closes its connections and frees it. NULL is accepted. */
void store_sentinel_free(store_sentinel *s);

/* Starts the subscription and the first look-up. */
void store_sentinel_start(store_sentinel *s);

/* Asks the sentinels for the master, starting with the one that answered
 * last; on an answer the store's link connects there (and checks ROLE), on
 * none it backs off and asks again. A look-up in progress is not doubled. */
void store_sentinel_resolve(store_sentinel *s);

/* Parses a +switch-master message, "<name> <old-ip> <old-port> <new-ip>
 * <new-port>". Returns 0 and the new address when it is about master_name,
 * else -1. */
int sd_sentinel_parse_switch(const char *msg, const char *master_name, char *host,
                             size_t hostcap, uint16_t *port);

#endif
