/* The verified-token cache: hits, owner isolation, expiry at exp + leeway,
 * bounded size with oldest-first eviction, and reference counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/token_cache.h"

/* A claims block whose hash is `tag` in byte 8 (so tokens share bucket 0
 * whenever bytes 0..7 are zero) and whose exp is given. */
static sd_claims *claims_with(unsigned char tag, unsigned char bucket_byte,
                              int64_t exp) {
    sd_claims *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->token_sha256[0] = bucket_byte;
    c->token_sha256[8] = tag;
    c->exp = exp;
    c->refs = 1;
    return c;
}

static const int owner_a = 1, owner_b = 2;

static void test_hit_after_put_and_owner_isolation(void **state) {
    (void)state;
    sd_token_cache *cache = sd_token_cache_new(16);
    sd_claims *c = claims_with(1, 0, 1000);
    assert_null(sd_token_cache_get(cache, c->token_sha256, &owner_a, 10, 0));
    sd_token_cache_put(cache, c, &owner_a);
    assert_int_equal(c->refs, 2);
    assert_ptr_equal(sd_token_cache_get(cache, c->token_sha256, &owner_a, 10, 0), c);
    /* Verified for instance A: never a hit for instance B. */
    assert_null(sd_token_cache_get(cache, c->token_sha256, &owner_b, 10, 0));
    assert_int_equal(sd_token_cache_hits(cache), 1);
    assert_int_equal(sd_token_cache_misses(cache), 2);
    sd_token_cache_free(cache);
    assert_int_equal(c->refs, 1);
    sd_claims_unref(c);
}

static void test_entry_dropped_at_exp_plus_leeway(void **state) {
    (void)state;
    sd_token_cache *cache = sd_token_cache_new(16);
    sd_claims *c = claims_with(2, 0, 1000);
    sd_token_cache_put(cache, c, &owner_a);
    assert_non_null(sd_token_cache_get(cache, c->token_sha256, &owner_a, 1059, 60));
    assert_null(sd_token_cache_get(cache, c->token_sha256, &owner_a, 1060, 60));
    /* The cache let go of its reference when it dropped the entry. */
    assert_int_equal(c->refs, 1);
    assert_null(sd_token_cache_get(cache, c->token_sha256, &owner_a, 10, 60));
    sd_token_cache_free(cache);
    sd_claims_unref(c);
}

static void test_bounded_oldest_evicted(void **state) {
    (void)state;
    /* 4 entries: one bucket of SD_TOKEN_CACHE_WAYS ways. */
    sd_token_cache *cache = sd_token_cache_new(SD_TOKEN_CACHE_WAYS);
    sd_claims *c[SD_TOKEN_CACHE_WAYS + 1];
    for (int i = 0; i <= SD_TOKEN_CACHE_WAYS; i++) {
        c[i] = claims_with((unsigned char)(10 + i), 0, 1000);
        sd_token_cache_put(cache, c[i], &owner_a);
    }
    assert_null(sd_token_cache_get(cache, c[0]->token_sha256, &owner_a, 1, 0));
    assert_int_equal(c[0]->refs, 1);
    for (int i = 1; i <= SD_TOKEN_CACHE_WAYS; i++)
        assert_ptr_equal(sd_token_cache_get(cache, c[i]->token_sha256, &owner_a, 1, 0),
                         c[i]);
    sd_token_cache_free(cache);
    for (int i = 0; i <= SD_TOKEN_CACHE_WAYS; i++) {
        assert_int_equal(c[i]->refs, 1);
        sd_claims_unref(c[i]);
    }
}

static void test_same_token_twice_takes_one_way(void **state) {
    (void)state;
    sd_token_cache *cache = sd_token_cache_new(SD_TOKEN_CACHE_WAYS);
    sd_claims *first = claims_with(30, 0, 1000);
    sd_claims *again = claims_with(30, 0, 1000); /* same hash, second verify */
    sd_token_cache_put(cache, first, &owner_a);
    sd_token_cache_put(cache, again, &owner_a);
    assert_int_equal(first->refs, 1); /* replaced, not kept beside */
    assert_ptr_equal(sd_token_cache_get(cache, again->token_sha256, &owner_a, 1, 0), again);
    /* Three more distinct tokens still fit without evicting it. */
    sd_claims *more[3];
    for (int i = 0; i < 3; i++) {
        more[i] = claims_with((unsigned char)(40 + i), 0, 1000);
        sd_token_cache_put(cache, more[i], &owner_a);
    }
    assert_ptr_equal(sd_token_cache_get(cache, again->token_sha256, &owner_a, 1, 0), again);
    sd_token_cache_free(cache);
    sd_claims_unref(first);
    sd_claims_unref(again);
    for (int i = 0; i < 3; i++) sd_claims_unref(more[i]);
}

static void test_zero_entries_means_no_cache(void **state) {
    (void)state;
    assert_null(sd_token_cache_new(0));
    sd_token_cache_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_after_put_and_owner_isolation),
        cmocka_unit_test(test_entry_dropped_at_exp_plus_leeway),
        cmocka_unit_test(test_bounded_oldest_evicted),
        cmocka_unit_test(test_same_token_twice_takes_one_way),
        cmocka_unit_test(test_zero_entries_means_no_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
