/* Access tokens as OpenID Connect identity servers issue them (RFC 9068:
 * typ at+jwt, kid, aud string or array, client_id, sub absent for client
 * credentials, sid, jti, scope string or array, iat/nbf/exp, auth_time,
 * idp and other claims this verifier does not read), and the clock at its
 * boundaries: exactly at exp, leeway ± 1 s, for exp, nbf and iat, with the
 * time injected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jws_mint.h"
#include "session/session.h"
#include "sessiond/error.h"
#include "sessiond/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISS "https://login.example.com/realms/erp"
#define AUD "erp-api"
#define T0 INT64_C(1767225600) /* 2026-01-01T00:00:00Z */

typedef struct fixture {
    EVP_PKEY *rsa, *ec;
    sd_keyset *ks;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->rsa = sd_test_rsa_key(2048);
    fx->ec = sd_test_ec_key("P-256");
    fx->ks = sd_keyset_new();
    if (!fx->rsa || !fx->ec || !fx->ks) return -1;
    char *a = sd_test_jwks(fx->rsa, "rsa-2026", "\"use\":\"sig\",\"alg\":\"PS256\"");
    char *b = sd_test_jwks(fx->ec, "ec-2026", "\"use\":\"sig\",\"alg\":\"ES256\"");
    int rc = a && b && sd_keyset_add_jwks(fx->ks, a, strlen(a), 0) == 0 &&
                     sd_keyset_add_jwks(fx->ks, b, strlen(b), 0) == 0
                 ? 0
                 : -1;
    free(a);
    free(b);
    *state = fx;
    return rc;
}

static int teardown(void **state) {
    fixture *fx = *state;
    EVP_PKEY_free(fx->rsa);
    EVP_PKEY_free(fx->ec);
    sd_keyset_free(fx->ks);
    free(fx);
    return 0;
}

static int verify_now(const fixture *fx, const char *token, int64_t leeway, int64_t now,
                      sd_claims **out) {
    const sd_verify_policy p = {ISS, AUD, leeway, 8192, NULL, NULL};
    return sd_token_verify(token, strlen(token), fx->ks, &p, now, out);
}

/* ------------------------------------------------------------------------
 * Real shapes
 * ------------------------------------------------------------------------ */

/* Client credentials: no sub, aud an array, scope a string. */
static void test_client_credentials_token(void **state) {
    fixture *fx = *state;
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":[\"" AUD "\",\"" ISS "/resources\"],"
             "\"client_id\":\"nightly-export\",\"jti\":\"2f1c7a9e\","
             "\"scope\":\"erp.read erp.write\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
             (long long)T0, (long long)T0, (long long)T0 + 3600);
    char *tok = sd_test_jws_sign("{\"alg\":\"PS256\",\"kid\":\"rsa-2026\",\"typ\":\"at+jwt\"}",
                                 payload, "PS256", fx->rsa);
    sd_claims *c = NULL;
    assert_int_equal(verify_now(fx, tok, 60, T0 + 10, &c), 0);
    assert_null(c->sub);
    assert_null(c->sid);
    assert_string_equal(c->iss, ISS);
    assert_string_equal(c->client_id, "nightly-export");
    assert_string_equal(c->jti, "2f1c7a9e");
    assert_string_equal(c->scope, "erp.read erp.write");
    assert_int_equal(c->exp, T0 + 3600);
    assert_int_equal(c->iat, T0);
    assert_int_equal(c->nbf, T0);
    assert_true(c->has_iat && c->has_nbf);
    assert_int_equal(sd_session_kind_of(c), SD_KIND_SERVICE);
    sd_claims_unref(c);
    free(tok);
}

/* An interactive user's token: sub, sid, auth_time, idp, amr, scope as an
 * array, and nested claims the verifier ignores. */
static void test_interactive_token(void **state) {
    fixture *fx = *state;
    char payload[1024];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"client_id\":\"erp-web\","
             "\"sub\":\"8d1e6f0a-0c1b-4b5e-9d55-3c7a1e2b4f60\",\"sid\":\"a2b9c1\","
             "\"jti\":\"at-77\",\"scope\":[\"openid\",\"profile\",\"erp\"],"
             "\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"auth_time\":%lld,\"idp\":\"local\","
             "\"amr\":[\"pwd\",\"mfa\"],\"realm_access\":{\"roles\":[\"clerk\"]},"
             "\"email_verified\":true,\"acr\":\"1\"}",
             (long long)T0, (long long)T0, (long long)T0 + 300, (long long)T0 - 120);
    static const char *const headers[] = {
        "{\"alg\":\"ES256\",\"kid\":\"ec-2026\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":\"ec-2026\",\"typ\":\"application/at+jwt\"}",
        "{\"typ\":\"AT+JWT\",\"kid\":\"ec-2026\",\"alg\":\"ES256\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *tok = sd_test_jws_sign(headers[i], payload, "ES256", fx->ec);
        sd_claims *c = NULL;
        assert_int_equal(verify_now(fx, tok, 60, T0, &c), 0);
        assert_string_equal(c->sub, "8d1e6f0a-0c1b-4b5e-9d55-3c7a1e2b4f60");
        assert_string_equal(c->sid, "a2b9c1");
        assert_string_equal(c->client_id, "erp-web");
        assert_string_equal(c->scope, "openid profile erp");
        assert_int_equal(sd_session_kind_of(c), SD_KIND_INTERACTIVE);
        sd_claims_unref(c);
        free(tok);
    }
}

/* Servers that put the client in azp (Keycloak) or make sub the client
 * (RFC 9068 §2.2 for client credentials). */
static void test_azp_and_sub_equals_client(void **state) {
    fixture *fx = *state;
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":[\"account\",\"" AUD "\"],\"azp\":\"svc-sync\","
             "\"sub\":\"svc-sync\",\"typ\":\"Bearer\",\"exp\":%lld}",
             (long long)T0 + 60);
    char *tok = sd_test_jws_sign("{\"alg\":\"PS256\",\"kid\":\"rsa-2026\",\"typ\":\"JWT\"}",
                                 payload, "PS256", fx->rsa);
    sd_claims *c = NULL;
    assert_int_equal(verify_now(fx, tok, 60, T0, &c), 0);
    assert_string_equal(c->client_id, "svc-sync");
    assert_string_equal(c->sub, "svc-sync");
    assert_false(c->has_iat);
    assert_int_equal(sd_session_kind_of(c), SD_KIND_SERVICE);
    sd_claims_unref(c);
    free(tok);
}

/* The JWK alg pins each key: an RS256 token by the PS256-pinned key fails
 * although the RSA key itself could check it. */
static void test_pinned_alg(void **state) {
    fixture *fx = *state;
    char payload[256];
    snprintf(payload, sizeof payload, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld}",
             (long long)T0 + 60);
    char *tok = sd_test_jws_sign("{\"alg\":\"RS256\",\"kid\":\"rsa-2026\",\"typ\":\"at+jwt\"}",
                                 payload, "RS256", fx->rsa);
    sd_claims *c = NULL;
    assert_int_equal(verify_now(fx, tok, 60, T0, &c), SD_ETOKEN_ALG_KEY_MISMATCH);
    free(tok);
}

/* ------------------------------------------------------------------------
 * The clock at its boundaries
 * ------------------------------------------------------------------------ */

/* Verifies a PS256 token with the numeric members at now under leeway;
 * returns the reason name. */
static const char *at(const fixture *fx, const char *members, int64_t leeway, int64_t now) {
    char payload[256];
    snprintf(payload, sizeof payload, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",%s}", members);
    char *tok = sd_test_jws_sign("{\"alg\":\"PS256\",\"kid\":\"rsa-2026\"}", payload, "PS256",
                                 fx->rsa);
    sd_claims *c = NULL;
    int rc = verify_now(fx, tok, leeway, now, &c);
    sd_claims_unref(c);
    free(tok);
    return sd_errname(rc);
}

static void test_exp_boundaries(void **state) {
    fixture *fx = *state;
    char m[64];
    snprintf(m, sizeof m, "\"exp\":%lld", (long long)T0);
    /* No leeway: valid up to the second before exp, refused at exp. */
    assert_string_equal(at(fx, m, 0, T0 - 1), "ok");
    assert_string_equal(at(fx, m, 0, T0), "token_expired");
    assert_string_equal(at(fx, m, 0, T0 + 1), "token_expired");
    /* Leeway 60: exp + 59 s passes, exp + 60 s does not. */
    assert_string_equal(at(fx, m, 60, T0 + 59), "ok");
    assert_string_equal(at(fx, m, 60, T0 + 60), "token_expired");
    assert_string_equal(at(fx, m, 60, T0 + 61), "token_expired");
    /* The largest leeway the configuration allows. */
    assert_string_equal(at(fx, m, 3600, T0 + 3599), "ok");
    assert_string_equal(at(fx, m, 3600, T0 + 3600), "token_expired");
    /* A fractional exp loses its fraction: never later than written. */
    snprintf(m, sizeof m, "\"exp\":%lld.999", (long long)T0);
    assert_string_equal(at(fx, m, 0, T0 - 1), "ok");
    assert_string_equal(at(fx, m, 0, T0), "token_expired");
}

static void test_nbf_boundaries(void **state) {
    fixture *fx = *state;
    char m[96];
    snprintf(m, sizeof m, "\"exp\":%lld,\"nbf\":%lld", (long long)T0 + 7200, (long long)T0);
    assert_string_equal(at(fx, m, 0, T0), "ok");
    assert_string_equal(at(fx, m, 0, T0 - 1), "token_not_yet_valid");
    /* A clock 60 s behind the issuer's still accepts it; 61 s does not. */
    assert_string_equal(at(fx, m, 60, T0 - 60), "ok");
    assert_string_equal(at(fx, m, 60, T0 - 61), "token_not_yet_valid");
}

static void test_iat_boundaries(void **state) {
    fixture *fx = *state;
    char m[96];
    snprintf(m, sizeof m, "\"exp\":%lld,\"iat\":%lld", (long long)T0 + 7200, (long long)T0);
    assert_string_equal(at(fx, m, 0, T0), "ok");
    assert_string_equal(at(fx, m, 0, T0 - 1), "iat_future");
    assert_string_equal(at(fx, m, 60, T0 - 60), "ok");
    assert_string_equal(at(fx, m, 60, T0 - 61), "iat_future");
    /* An old iat is fine: only exp bounds a token's life. */
    snprintf(m, sizeof m, "\"exp\":%lld,\"iat\":0", (long long)T0 + 7200);
    assert_string_equal(at(fx, m, 0, T0), "ok");
}

/* nbf and exp together: the window is [nbf - leeway, exp + leeway). */
static void test_window(void **state) {
    fixture *fx = *state;
    char m[96];
    snprintf(m, sizeof m, "\"nbf\":%lld,\"exp\":%lld", (long long)T0, (long long)T0 + 10);
    assert_string_equal(at(fx, m, 5, T0 - 6), "token_not_yet_valid");
    assert_string_equal(at(fx, m, 5, T0 - 5), "ok");
    assert_string_equal(at(fx, m, 5, T0 + 14), "ok");
    assert_string_equal(at(fx, m, 5, T0 + 15), "token_expired");
    /* exp before nbf: never valid, and expiry is what is reported last. */
    snprintf(m, sizeof m, "\"nbf\":%lld,\"exp\":%lld", (long long)T0 + 10, (long long)T0);
    assert_string_equal(at(fx, m, 0, T0 + 5), "token_expired");
    assert_string_equal(at(fx, m, 0, T0 - 5), "token_not_yet_valid");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_credentials_token),
        cmocka_unit_test(test_interactive_token),
        cmocka_unit_test(test_azp_and_sub_equals_client),
        cmocka_unit_test(test_pinned_alg),
        cmocka_unit_test(test_exp_boundaries),
        cmocka_unit_test(test_nbf_boundaries),
        cmocka_unit_test(test_iat_boundaries),
        cmocka_unit_test(test_window),
    };
    return cmocka_run_group_tests_name("token_shape", tests, setup, teardown);
}
