/* A bounded cache of verified tokens, keyed by the token's SHA-256, so the
 * hot path skips signature checks (SPEC §3). Entries are dropped once their
 * token expires. Set-associative: a lookup or insert touches one bucket of
 * SD_TOKEN_CACHE_WAYS entries, never allocates, and never scans the table. */
#ifndef SD_WORKER_TOKEN_CACHE_H
#define SD_WORKER_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "sessiond/token.h"

#define SD_TOKEN_CACHE_WAYS 4

typedef struct sd_token_cache sd_token_cache;

/* Creates a cache holding at most about `entries` tokens (rounded up to a
 * power-of-two number of buckets). Returns NULL for entries == 0 or when out
 * of memory. */
sd_token_cache *sd_token_cache_new(size_t entries);

/* Drops every entry's reference and frees the cache. NULL is accepted. */
void sd_token_cache_free(sd_token_cache *cache);

/* Looks up a token by its SHA-256 for instance `owner` (an opaque tag: a
 * token verified for one instance is never a hit for another). Returns a
 * borrowed pointer, valid until the next insert, or NULL on a miss. An entry
 * whose exp + leeway_s has passed at now_s is dropped and is a miss. */
sd_claims *sd_token_cache_get(sd_token_cache *cache, const unsigned char sha[32],
                              const void *owner, int64_t now_s,
                              int64_t leeway_s);

/* Stores claims (taking one reference) for owner: in place of an entry for
 * the same token and owner, else in an empty way of its bucket, else in
 * place of the bucket's oldest entry. (Expired entries are emptied by
 * lookups.) */
void sd_token_cache_put(sd_token_cache *cache, sd_claims *claims,
                        const void *owner);

/* Drops every entry (e.g. after the keys changed: a token verified by a key
 * that is gone must be verified again). */
void sd_token_cache_clear(sd_token_cache *cache);

/* Counters for metrics. */
uint64_t sd_token_cache_hits(const sd_token_cache *cache);
uint64_t sd_token_cache_misses(const sd_token_cache *cache);

#endif
