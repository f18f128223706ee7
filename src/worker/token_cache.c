/* Set-associative cache of verified token claims. */
#include "worker/token_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct cache_entry {
    sd_claims *claims;      /* NULL: empty */
    const void *owner;
    uint64_t inserted;      /* insertion sequence; smallest is evicted */
} cache_entry;

struct sd_token_cache {
    cache_entry *entries;   /* nbuckets * SD_TOKEN_CACHE_WAYS */
    size_t bucket_mask;
    uint64_t sequence;
    uint64_t hits, misses;
};

sd_token_cache *sd_token_cache_new(size_t entries) {
    if (entries == 0) return NULL;
    size_t buckets = 1;
    while (buckets * SD_TOKEN_CACHE_WAYS < entries) buckets <<= 1;
    sd_token_cache *cache = calloc(1, sizeof *cache);
    if (!cache) return NULL;
    cache->entries = calloc(buckets * SD_TOKEN_CACHE_WAYS, sizeof *cache->entries);
    if (!cache->entries) {
        free(cache);
        return NULL;
    }
    cache->bucket_mask = buckets - 1;
    return cache;
}

void sd_token_cache_clear(sd_token_cache *cache) {
    if (!cache) return;
    size_t n = (cache->bucket_mask + 1) * SD_TOKEN_CACHE_WAYS;
    for (size_t i = 0; i < n; i++) {
        sd_claims_unref(cache->entries[i].claims);
        cache->entries[i].claims = NULL;
    }
}

void sd_token_cache_free(sd_token_cache *cache) {
    if (!cache) return;
    sd_token_cache_clear(cache);
    free(cache->entries);
    free(cache);
}

/* The hash is already uniform: its first bytes pick the bucket. */
static cache_entry *bucket_of(sd_token_cache *cache, const unsigned char sha[32]) {
    uint64_t h;
    memcpy(&h, sha, sizeof h);
    return &cache->entries[(h & cache->bucket_mask) * SD_TOKEN_CACHE_WAYS];
}

sd_claims *sd_token_cache_get(sd_token_cache *cache, const unsigned char sha[32],
                              const void *owner, int64_t now_s,
                              int64_t leeway_s) {
    cache_entry *bucket = bucket_of(cache, sha);
    for (int i = 0; i < SD_TOKEN_CACHE_WAYS; i++) {
        cache_entry *e = &bucket[i];
        if (!e->claims || e->owner != owner ||
            memcmp(e->claims->token_sha256, sha, 32) != 0)
            continue;
        if (now_s >= e->claims->exp + leeway_s) {
            sd_claims_unref(e->claims);
            e->claims = NULL;
            break;
        }
        cache->hits++;
        return e->claims;
    }
    cache->misses++;
    return NULL;
}

void sd_token_cache_put(sd_token_cache *cache, sd_claims *claims,
                        const void *owner) {
    cache_entry *bucket = bucket_of(cache, claims->token_sha256);
    cache_entry *victim = NULL, *oldest = &bucket[0];
    for (int i = 0; i < SD_TOKEN_CACHE_WAYS; i++) {
        cache_entry *e = &bucket[i];
        /* Two requests that missed on the same token both insert it: the
         * second replaces the first rather than taking another way. */
        if (e->claims && e->owner == owner &&
            memcmp(e->claims->token_sha256, claims->token_sha256, 32) == 0) {
            victim = e;
            break;
        }
        if (!e->claims && !victim) victim = e;
        if (e->inserted < oldest->inserted) oldest = e;
    }
    if (!victim) victim = oldest;
    sd_claims_unref(victim->claims);
    victim->claims = sd_claims_ref(claims);
    victim->owner = owner;
    victim->inserted = ++cache->sequence;
}

uint64_t sd_token_cache_hits(const sd_token_cache *cache) { return cache->hits; }
uint64_t sd_token_cache_misses(const sd_token_cache *cache) {
    return cache->misses;
}
