/* The attack suite in-process: every hostile token of
 * tests/support/attack_tokens.c against the verifier itself, with the exact
 * reason expected. (tests/integration/test_attack_http.c sends the same
 * tokens through a running sessiond.)
 *
 * SD_ATTACK_SEEDS=<dir> also writes each token of at most 4 KiB there, one
 * file per case, prefixed with the fuzz target's mode byte: that is how
 * tests/fuzz/corpus/token/ was seeded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "attack_tokens.h"
#include "jws_mint.h"
#include "sessiond/error.h"
#include "sessiond/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ISS "https://id.attack.test"
#define AUD "erp-api"

typedef struct fixture {
    sd_attack_keys keys;
    sd_keyset *ks;
    sd_attack_case *cases;
    size_t n;
    long now;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx || sd_attack_keys_make(&fx->keys) != 0) return -1;
    fx->now = 1700000000;
    fx->ks = sd_keyset_new();
    if (!fx->ks ||
        sd_keyset_add_jwks(fx->ks, fx->keys.jwks, strlen(fx->keys.jwks), 0) != 0 ||
        sd_keyset_count(fx->ks) != 3)
        return -1;
    fx->n = sd_attack_build(&fx->keys, ISS, AUD, fx->now, "http://127.0.0.1:1", &fx->cases);
    *state = fx;
    return fx->n ? 0 : -1;
}

static int teardown(void **state) {
    fixture *fx = *state;
    sd_attack_free(fx->cases, fx->n);
    sd_keyset_free(fx->ks);
    sd_attack_keys_free(&fx->keys);
    free(fx);
    return 0;
}

static const sd_verify_policy policy = {ISS, AUD, 60, SD_ATTACK_MAX_TOKEN_BYTES, NULL, NULL};

static void write_seed(const char *dir, const sd_attack_case *c) {
    if (c->len > 4096) return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, c->name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputc(0, f); /* fuzz_token mode 0: a raw token */
    fwrite(c->token, 1, c->len, f);
    fclose(f);
}

static void test_every_case_gets_its_verdict(void **state) {
    fixture *fx = *state;
    const char *seeds = getenv("SD_ATTACK_SEEDS");
    int wrong = 0;
    for (size_t i = 0; i < fx->n; i++) {
        const sd_attack_case *c = &fx->cases[i];
        sd_claims *claims = NULL;
        int rc = sd_token_verify(c->token, c->len, fx->ks, &policy, fx->now, &claims);
        assert_null(claims);
        if (strcmp(sd_errname(rc), c->reason) != 0) {
            fprintf(stderr, "%s: got %s, want %s\n", c->name, sd_errname(rc), c->reason);
            wrong++;
        }
        /* The signature layer alone reaches the same verdict whenever it
         * is not about claims. */
        int sig = sd_token_verify_signature(c->token, c->len, fx->ks,
                                            SD_ATTACK_MAX_TOKEN_BYTES);
        assert_true(sig == rc || sig == 0 || rc == SD_ETOKEN_NOT_OBJECT ||
                    rc == SD_ETOKEN_JSON || rc == SD_ETOKEN_JSON_DEPTH);
        if (seeds) write_seed(seeds, c);
    }
    assert_int_equal(wrong, 0);
}

static void test_suite_is_broad(void **state) {
    fixture *fx = *state;
    assert_true(fx->n >= 40);
    for (size_t i = 0; i < fx->n; i++)
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(fx->cases[i].name, fx->cases[j].name);
    /* Every token rejection the verifier knows, but the worker's own ones
     * (revoked, wrong instance) and the empty token, is exercised. */
    static const char *const reasons[] = {
        "token_too_large", "token_malformed", "token_base64", "token_json",
        "token_json_depth", "token_not_object", "alg_none", "alg_unsupported",
        "alg_key_mismatch", "kid_unknown", "no_key", "typ_invalid", "crit_unsupported",
        "header_invalid", "signature_invalid", "exp_missing", "claim_invalid",
        "token_expired", "token_not_yet_valid", "iat_future", "issuer_mismatch",
        "audience_mismatch",
    };
    for (size_t r = 0; r < sizeof reasons / sizeof reasons[0]; r++) {
        int seen = 0;
        for (size_t i = 0; i < fx->n; i++) seen |= strcmp(fx->cases[i].reason, reasons[r]) == 0;
        if (!seen) fail_msg("no case expects %s", reasons[r]);
    }
}

/* The same keys and policy accept a well-formed token: the suite fails
 * tokens for what they do, not because the set-up is broken. */
static void test_control_token_passes(void **state) {
    fixture *fx = *state;
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"ann\",\"exp\":%ld}",
             fx->now + 600);
    const struct {
        const char *header, *alg;
        EVP_PKEY *key;
    } ok[] = {
        {"{\"alg\":\"RS256\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}", "RS256", fx->keys.rsa},
        {"{\"alg\":\"ES256\",\"kid\":\"" SD_ATTACK_KID_EC256 "\"}", "ES256", fx->keys.ec256},
        {"{\"alg\":\"ES384\"}", "ES384", fx->keys.ec384},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *t = sd_test_jws_sign(ok[i].header, payload, ok[i].alg, ok[i].key);
        sd_claims *c = NULL;
        assert_int_equal(sd_token_verify(t, strlen(t), fx->ks, &policy, fx->now, &c), 0);
        assert_string_equal(c->sub, "ann");
        sd_claims_unref(c);
        free(t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_case_gets_its_verdict),
        cmocka_unit_test(test_suite_is_broad),
        cmocka_unit_test(test_control_token_passes),
    };
    return cmocka_run_group_tests_name("attack", tests, setup, teardown);
}
