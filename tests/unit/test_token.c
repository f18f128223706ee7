/* Unit tests of the token verifier (src/token/): published vectors, a libjwt
 * producer, every rejection reason on its own, claims, and JWKS loading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jws_mint.h"
#include "sessiond/error.h"
#include "sessiond/token.h"

#include <jwt.h>
#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VECTORS SD_SOURCE_DIR "/tests/vectors/"
#define ISS "https://issuer.example"
#define AUD "api"
#define NOW INT64_C(1700000000)
#define LEEWAY 60
#define MAX_BYTES 8192

/* A payload that passes every claim check at NOW; extra is spliced in
 * before the closing brace (a string literal starting with a comma). */
#define GOOD_CLAIMS(extra)                                                               \
    "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1700003600,"                       \
    "\"sub\":\"alice\"" extra "}"

static const sd_verify_policy policy = {ISS, AUD, LEEWAY, MAX_BYTES, NULL, NULL};

/* Keys made once for the whole run; the main key set holds the RSA key as
 * kid "rsa1" and the EC keys as "ec256", "ec384" and "ec521" (no HMAC). */
typedef struct fixture {
    EVP_PKEY *rsa, *rsa_other, *ec256, *ec256_other, *ec384, *ec521;
    sd_keyset *ks;
} fixture;

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Reads a whole file into a new NUL-terminated buffer the caller frees. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(65536);
    assert_non_null(buf);
    *len = fread(buf, 1, 65535, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static char *read_vector(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, VECTORS "%s", name);
    return read_file(path, len);
}

/* Adds a JWKS text to ks and asserts that it loads. */
static void add_jwks(sd_keyset *ks, char *jwks, int allow_hmac) {
    assert_non_null(jwks);
    assert_int_equal(sd_keyset_add_jwks(ks, jwks, strlen(jwks), allow_hmac), 0);
    free(jwks);
}

/* Adds the public half of key from a temporary PEM file. */
static void add_pem(sd_keyset *ks, EVP_PKEY *key, const char *kid) {
    char *path = sd_test_public_pem_file(key);
    assert_non_null(path);
    assert_int_equal(sd_keyset_add_pem_file(ks, path, kid), 0);
    unlink(path);
    free(path);
}

/* Full verification of token against ks with the default policy at now;
 * frees token, returns the verifier's code, drops any claims. */
static int verify_at(const sd_keyset *ks, char *token, int64_t now) {
    assert_non_null(token);
    sd_claims sentinel = {0};
    sd_claims *c = &sentinel; /* must be overwritten */
    int rc = sd_token_verify(token, strlen(token), ks, &policy, now, &c);
    if (rc != 0)
        assert_null(c);
    else
        assert_non_null(c);
    sd_claims_unref(c);
    free(token);
    return rc;
}

static int verify(const sd_keyset *ks, char *token) { return verify_at(ks, token, NOW); }

/* Mints RS256 with the fixture's RSA key and verifies it fully. */
static int rs256(const fixture *fx, const char *header, const char *payload) {
    return verify(fx->ks, sd_test_jws_sign(header, payload, "RS256", fx->rsa));
}

/* Full verification that must succeed; the caller unrefs the claims. */
static sd_claims *verify_ok(const sd_keyset *ks, char *token) {
    assert_non_null(token);
    sd_claims *c = NULL;
    int rc = sd_token_verify(token, strlen(token), ks, &policy, NOW, &c);
    assert_string_equal(sd_errname(rc), "ok");
    free(token);
    return c;
}

/* A payload like GOOD_CLAIMS but with the given exp/nbf/iat text members. */
static char *claims_with(const char *members) {
    static const char head[] = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",";
    char *s = malloc(sizeof head + strlen(members) + 2);
    assert_non_null(s);
    sprintf(s, "%s%s}", head, members);
    return s;
}

static int rs256_claims(const fixture *fx, const char *members) {
    char *payload = claims_with(members);
    int rc = rs256(fx, "{\"alg\":\"RS256\"}", payload);
    free(payload);
    return rc;
}

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->rsa = sd_test_rsa_key(2048);
    fx->rsa_other = sd_test_rsa_key(2048);
    fx->ec256 = sd_test_ec_key("P-256");
    fx->ec256_other = sd_test_ec_key("P-256");
    fx->ec384 = sd_test_ec_key("P-384");
    fx->ec521 = sd_test_ec_key("P-521");
    fx->ks = sd_keyset_new();
    if (!fx->rsa || !fx->rsa_other || !fx->ec256 || !fx->ec256_other || !fx->ec384 ||
        !fx->ec521 || !fx->ks)
        return -1;
    *state = fx;
    add_jwks(fx->ks, sd_test_jwks(fx->rsa, "rsa1", NULL), 0);
    add_jwks(fx->ks, sd_test_jwks(fx->ec256, "ec256", "\"use\":\"sig\""), 0);
    add_pem(fx->ks, fx->ec384, "ec384");
    add_pem(fx->ks, fx->ec521, "ec521");
    return sd_keyset_count(fx->ks) == 4 ? 0 : -1;
}

static int teardown(void **state) {
    fixture *fx = *state;
    EVP_PKEY_free(fx->rsa);
    EVP_PKEY_free(fx->rsa_other);
    EVP_PKEY_free(fx->ec256);
    EVP_PKEY_free(fx->ec256_other);
    EVP_PKEY_free(fx->ec384);
    EVP_PKEY_free(fx->ec521);
    sd_keyset_free(fx->ks);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------------
 * Published vectors (RFC 7515 appendix A, RFC 7520 section 4)
 * ------------------------------------------------------------------------ */

typedef struct vector {
    const char *name; /* file stem under tests/vectors/ */
    const char *kid;  /* the kid in its header, for PEM/raw loading */
    int hmac;         /* 1: oct key, derived/X.hmac-key.bin */
    int full_rc;      /* what sd_token_verify says (issuer "joe") */
} vector;

static const vector vectors[] = {
    {"rfc7515-A1-HS256", NULL, 1, SD_ETOKEN_EXPIRED},
    {"rfc7515-A2-RS256", NULL, 0, SD_ETOKEN_EXPIRED},
    {"rfc7515-A3-ES256", NULL, 0, SD_ETOKEN_EXPIRED},
    /* Payload "Payload" and the RFC 7520 quote are not JSON at all. */
    {"rfc7515-A4-ES512", NULL, 0, SD_ETOKEN_JSON},
    {"rfc7520-4.1-RS256", "bilbo.baggins@hobbiton.example", 0, SD_ETOKEN_JSON},
    {"rfc7520-4.2-PS384", "bilbo.baggins@hobbiton.example", 0, SD_ETOKEN_JSON},
    {"rfc7520-4.3-ES512", "bilbo.baggins@hobbiton.example", 0, SD_ETOKEN_JSON},
    {"rfc7520-4.4-HS256", "018c0ae5-4d9b-471b-bfd6-eef314bc7037", 1, SD_ETOKEN_JSON},
};
#define NVECTORS (sizeof vectors / sizeof vectors[0])

/* A key set from the vector's published JWK (public half; oct as is). */
static sd_keyset *vector_keys_jwk(const vector *v) {
    char name[128];
    snprintf(name, sizeof name, "%s%s", v->name, v->hmac ? ".jwk.json" : ".pub.jwk.json");
    size_t len;
    char *jwk = read_vector(name, &len);
    sd_keyset *ks = sd_keyset_new();
    assert_int_equal(sd_keyset_add_jwks(ks, jwk, len, v->hmac), 0);
    assert_int_equal(sd_keyset_count(ks), 1);
    free(jwk);
    return ks;
}

/* A key set from derived/: the PEM public key or the raw HMAC secret. */
static sd_keyset *vector_keys_derived(const vector *v) {
    char name[128];
    sd_keyset *ks = sd_keyset_new();
    if (v->hmac) {
        size_t len;
        snprintf(name, sizeof name, "derived/%s.hmac-key.bin", v->name);
        char *secret = read_vector(name, &len);
        assert_int_equal(sd_keyset_add_hmac(ks, (unsigned char *)secret, len, v->kid), 0);
        free(secret);
    } else {
        char path[512];
        snprintf(path, sizeof path, VECTORS "derived/%s.pub.pem", v->name);
        assert_int_equal(sd_keyset_add_pem_file(ks, path, v->kid), 0);
    }
    assert_int_equal(sd_keyset_count(ks), 1);
    return ks;
}

static char *vector_token(const vector *v, size_t *len) {
    char name[128];
    snprintf(name, sizeof name, "%s.jwt", v->name);
    return read_vector(name, len);
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Changes the character at pos of tok by xor-ing its 6-bit value with mask. */
static void flip_char(char *tok, size_t pos, int mask) {
    const char *at = strchr(b64url_alphabet, tok[pos]);
    assert_non_null(at);
    tok[pos] = b64url_alphabet[((at - b64url_alphabet) ^ mask) & 63];
}

/* Signature check passes, and every one-character change of the signature
 * segment fails. Flipping the top bit of a character keeps the encoding
 * canonical, so the failure must be the signature itself. */
static void check_vector_with(const vector *v, sd_keyset *ks) {
    size_t len;
    char *tok = vector_token(v, &len);
    assert_int_equal(sd_token_verify_signature(tok, len, ks, MAX_BYTES), 0);

    size_t sig = (size_t)(strrchr(tok, '.') - tok) + 1, sig_len = len - sig;
    const size_t positions[] = {sig, sig + 1, sig + sig_len / 2, len - 2, len - 1};
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        char saved = tok[positions[i]];
        flip_char(tok, positions[i], 32);
        assert_int_equal(sd_token_verify_signature(tok, len, ks, MAX_BYTES),
                         SD_ETOKEN_SIGNATURE);
        tok[positions[i]] = saved;
    }
    /* The lowest bit of the last character is unused padding for some
     * lengths (then BASE64), and signature data for the others. */
    flip_char(tok, len - 1, 1);
    int rc = sd_token_verify_signature(tok, len, ks, MAX_BYTES);
    assert_true(rc == SD_ETOKEN_SIGNATURE || rc == SD_ETOKEN_BASE64);
    free(tok);
}

static void test_vectors_verify_from_jwk(void **state) {
    (void)state;
    for (size_t i = 0; i < NVECTORS; i++) {
        sd_keyset *ks = vector_keys_jwk(&vectors[i]);
        check_vector_with(&vectors[i], ks);
        sd_keyset_free(ks);
    }
}

static void test_vectors_verify_from_pem(void **state) {
    (void)state;
    for (size_t i = 0; i < NVECTORS; i++) {
        sd_keyset *ks = vector_keys_derived(&vectors[i]);
        check_vector_with(&vectors[i], ks);
        sd_keyset_free(ks);
    }
}

/* The full check rejects the vectors on their claims: exp 1300819380 (2011)
 * for the A-series JSON payloads, not JSON for the others. */
static void test_vectors_full_verify_reasons(void **state) {
    (void)state;
    const sd_verify_policy joe = {"joe", NULL, LEEWAY, MAX_BYTES, NULL, NULL};
    for (size_t i = 0; i < NVECTORS; i++) {
        sd_keyset *ks = vector_keys_jwk(&vectors[i]);
        size_t len;
        char *tok = vector_token(&vectors[i], &len);
        sd_claims *c = NULL;
        int rc = sd_token_verify(tok, len, ks, &joe, NOW, &c);
        assert_string_equal(sd_errname(rc), sd_errname(vectors[i].full_rc));
        assert_null(c);
        /* Before 2011-03-22 the JSON ones are fully valid tokens of "joe". */
        if (vectors[i].full_rc == SD_ETOKEN_EXPIRED) {
            assert_int_equal(sd_token_verify(tok, len, ks, &joe, 1300819000, &c), 0);
            assert_string_equal(c->iss, "joe");
            assert_int_equal(c->exp, 1300819380);
            sd_claims_unref(c);
        }
        free(tok);
        sd_keyset_free(ks);
    }
    assert_string_equal(sd_errname(SD_ETOKEN_EXPIRED), "token_expired");
}

static void test_vectors_json_serializations_rejected(void **state) {
    (void)state;
    static const char *const files[] = {
        "rfc7520-4.6-HS256-flattened.json",
        "rfc7520-4.7-HS256-flattened.json",
        "rfc7520-4.8-multi-general.json",
    };
    sd_keyset *ks = vector_keys_jwk(&vectors[7]);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t len;
        char *doc = read_vector(files[i], &len);
        assert_int_equal(sd_token_verify_signature(doc, len, ks, MAX_BYTES),
                         SD_ETOKEN_MALFORMED);
        free(doc);
    }
    sd_keyset_free(ks);
}

static void test_vectors_detached_payload_rejected(void **state) {
    (void)state;
    sd_keyset *ks = vector_keys_jwk(&vectors[7]);
    size_t len;
    char *tok = read_vector("rfc7520-4.5-HS256-detached.jwt", &len);
    assert_int_equal(sd_token_verify_signature(tok, len, ks, MAX_BYTES),
                     SD_ETOKEN_MALFORMED);
    free(tok);
    sd_keyset_free(ks);
}

/* ------------------------------------------------------------------------
 * An independent producer: libjwt
 * ------------------------------------------------------------------------ */

static void test_libjwt_token_verifies(void **state) {
    fixture *fx = *state;
    char *pem = sd_test_private_pem(fx->rsa);
    assert_non_null(pem);
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(
        jwt_set_alg(jwt, JWT_ALG_RS256, (unsigned char *)pem, (int)strlen(pem)), 0);
    assert_int_equal(jwt_add_header(jwt, "kid", "rsa1"), 0);
    assert_int_equal(jwt_add_grant(jwt, "iss", ISS), 0);
    assert_int_equal(jwt_add_grant(jwt, "aud", AUD), 0);
    assert_int_equal(jwt_add_grant(jwt, "sub", "user-42"), 0);
    assert_int_equal(jwt_add_grant(jwt, "client_id", "portal"), 0);
    assert_int_equal(jwt_add_grant(jwt, "sid", "s-1"), 0);
    assert_int_equal(jwt_add_grant(jwt, "jti", "j-1"), 0);
    assert_int_equal(jwt_add_grant(jwt, "scope", "read write"), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "exp", (long)NOW + 300), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "iat", (long)NOW - 5), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "nbf", (long)NOW - 10), 0);
    char *tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    free(pem);

    sd_claims *c = verify_ok(fx->ks, tok);
    assert_string_equal(c->iss, ISS);
    assert_string_equal(c->sub, "user-42");
    assert_string_equal(c->client_id, "portal");
    assert_string_equal(c->sid, "s-1");
    assert_string_equal(c->jti, "j-1");
    assert_string_equal(c->scope, "read write");
    assert_int_equal(c->exp, NOW + 300);
    assert_int_equal(c->iat, NOW - 5);
    assert_int_equal(c->nbf, NOW - 10);
    assert_true(c->has_iat);
    assert_true(c->has_nbf);
    assert_int_equal(c->refs, 1);
    sd_claims_unref(c);
}

/* ------------------------------------------------------------------------
 * Header: algorithm, key selection, typ, crit
 * ------------------------------------------------------------------------ */

static void test_alg_none_any_case(void **state) {
    fixture *fx = *state;
    static const char *const headers[] = {
        "{\"alg\":\"none\"}",
        "{\"alg\":\"NONE\"}",
        "{\"alg\":\"nOnE\"}",
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"none\",\"kid\":\"rsa1\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *tok = sd_test_jws_assemble(headers[i], GOOD_CLAIMS(""), NULL, 0);
        assert_int_equal(tok[strlen(tok) - 1], '.'); /* empty signature */
        assert_int_equal(verify(fx->ks, tok), SD_ETOKEN_ALG_NONE);
    }
    assert_string_equal(sd_errname(SD_ETOKEN_ALG_NONE), "alg_none");
}

static void test_alg_unknown_or_missing(void **state) {
    fixture *fx = *state;
    assert_int_equal(rs256(fx, "{\"alg\":\"rs256\"}", GOOD_CLAIMS("")),
                     SD_ETOKEN_ALG_UNSUPPORTED);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS1\"}", GOOD_CLAIMS("")),
                     SD_ETOKEN_ALG_UNSUPPORTED);
    assert_int_equal(rs256(fx, "{\"typ\":\"JWT\"}", GOOD_CLAIMS("")),
                     SD_ETOKEN_ALG_UNSUPPORTED);
    assert_int_equal(rs256(fx, "{\"alg\":256}", GOOD_CLAIMS("")),
                     SD_ETOKEN_ALG_UNSUPPORTED);
}

/* The classic confusion attack: HS256 keyed with the RSA public key's PEM.
 * With no HMAC key configured, HS algorithms do not exist at all. */
static void test_hs256_with_rsa_pem_rsa_only(void **state) {
    fixture *fx = *state;
    char *pem = sd_test_public_pem(fx->rsa);
    assert_non_null(pem);
    const unsigned char *secret = (const unsigned char *)pem;
    int rc =
        verify(fx->ks, sd_test_jws_hmac("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                                        GOOD_CLAIMS(""), "HS256", secret, strlen(pem)));
    assert_int_equal(rc, SD_ETOKEN_ALG_UNSUPPORTED);
    rc = verify(fx->ks, sd_test_jws_hmac("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}",
                                         GOOD_CLAIMS(""), "HS256", secret, strlen(pem)));
    assert_int_equal(rc, SD_ETOKEN_ALG_UNSUPPORTED);
    free(pem);
}

/* With an HMAC key in the set, a kid naming the RSA key still cannot make
 * that key an HMAC secret. */
static void test_hs256_with_rsa_pem_mixed_keyset(void **state) {
    fixture *fx = *state;
    char *pem = sd_test_public_pem(fx->rsa);
    const unsigned char *secret = (const unsigned char *)pem;
    sd_keyset *ks = sd_keyset_new();
    add_jwks(ks, sd_test_jwks(fx->rsa, "rsa1", NULL), 0);
    assert_int_equal(
        sd_keyset_add_hmac(ks, (const unsigned char *)"s3cret-s3cret", 13, "hmac1"), 0);
    int rc = verify(ks, sd_test_jws_hmac("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}",
                                         GOOD_CLAIMS(""), "HS256", secret, strlen(pem)));
    assert_int_equal(rc, SD_ETOKEN_ALG_KEY_MISMATCH);
    /* Without kid only the HMAC key is tried, and the PEM is not its secret. */
    rc = verify(ks, sd_test_jws_hmac("{\"alg\":\"HS256\"}", GOOD_CLAIMS(""), "HS256",
                                     secret, strlen(pem)));
    assert_int_equal(rc, SD_ETOKEN_SIGNATURE);
    /* The real secret works, by kid and without. */
    const unsigned char *real = (const unsigned char *)"s3cret-s3cret";
    assert_int_equal(verify(ks, sd_test_jws_hmac("{\"alg\":\"HS256\",\"kid\":\"hmac1\"}",
                                                 GOOD_CLAIMS(""), "HS256", real, 13)),
                     0);
    assert_int_equal(verify(ks, sd_test_jws_hmac("{\"alg\":\"HS512\"}", GOOD_CLAIMS(""),
                                                 "HS512", real, 13)),
                     0);
    sd_keyset_free(ks);
    free(pem);
}

static void test_alg_key_type_mismatch_by_kid(void **state) {
    fixture *fx = *state;
    /* ES256 naming the RSA key, signed by a real P-256 key. */
    int rc = verify(fx->ks, sd_test_jws_sign("{\"alg\":\"ES256\",\"kid\":\"rsa1\"}",
                                             GOOD_CLAIMS(""), "ES256", fx->ec256));
    assert_int_equal(rc, SD_ETOKEN_ALG_KEY_MISMATCH);
    /* ES384 naming the P-256 key: the curve pins the one ES alg. */
    rc = verify(fx->ks, sd_test_jws_sign("{\"alg\":\"ES384\",\"kid\":\"ec256\"}",
                                         GOOD_CLAIMS(""), "ES384", fx->ec384));
    assert_int_equal(rc, SD_ETOKEN_ALG_KEY_MISMATCH);
    assert_string_equal(sd_errname(rc), "alg_key_mismatch");
}

static void test_rs256_against_ec_only_keys(void **state) {
    fixture *fx = *state;
    sd_keyset *ks = sd_keyset_new();
    add_jwks(ks, sd_test_jwks(fx->ec256, "ec256", NULL), 0);
    add_pem(ks, fx->ec521, NULL);
    int rc = verify(
        ks, sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""), "RS256", fx->rsa));
    assert_int_equal(rc, SD_ETOKEN_NO_KEY);
    /* ES384 has no P-384 key here either. */
    rc = verify(
        ks, sd_test_jws_sign("{\"alg\":\"ES384\"}", GOOD_CLAIMS(""), "ES384", fx->ec384));
    assert_int_equal(rc, SD_ETOKEN_NO_KEY);
    sd_keyset_free(ks);
}

static void test_unknown_kid(void **state) {
    fixture *fx = *state;
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", GOOD_CLAIMS("")),
                     SD_ETOKEN_KID_UNKNOWN);
    /* kid matching is exact: no prefix, no case folding. */
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", GOOD_CLAIMS("")),
                     SD_ETOKEN_KID_UNKNOWN);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\",\"kid\":\"RSA1\"}", GOOD_CLAIMS("")),
                     SD_ETOKEN_KID_UNKNOWN);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\",\"kid\":7}", GOOD_CLAIMS("")),
                     SD_ETOKEN_HEADER);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", GOOD_CLAIMS("")),
                     0);
}

static void test_crit_rejected(void **state) {
    fixture *fx = *state;
    assert_int_equal(
        rs256(fx, "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", GOOD_CLAIMS("")),
        SD_ETOKEN_CRIT);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\",\"crit\":[]}", GOOD_CLAIMS("")),
                     SD_ETOKEN_CRIT);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\",\"crit\":null}", GOOD_CLAIMS("")),
                     SD_ETOKEN_CRIT);
}

static void test_typ_rejected(void **state) {
    fixture *fx = *state;
    static const char *const headers[] = {
        "{\"alg\":\"RS256\",\"typ\":\"JOSE+JSON\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JOSE\"}",
        "{\"alg\":\"RS256\",\"typ\":1}",
        "{\"alg\":\"RS256\",\"typ\":null}",
        "{\"alg\":\"RS256\",\"typ\":\"\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWTX\"}",
        "{\"alg\":\"RS256\",\"typ\":\"application/\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        assert_int_equal(rs256(fx, headers[i], GOOD_CLAIMS("")), SD_ETOKEN_TYP);
}

static void test_typ_accepted(void **state) {
    fixture *fx = *state;
    static const char *const headers[] = {
        "{\"alg\":\"RS256\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\",\"typ\":\"jwt\"}",
        "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"RS256\",\"typ\":\"AT+JWT\"}",
        "{\"alg\":\"RS256\",\"typ\":\"application/at+jwt\"}",
        /* jku/x5u/jwk are never followed, so their presence is harmless. */
        "{\"alg\":\"RS256\",\"jku\":\"https://evil.example/jwks\",\"x5u\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        assert_int_equal(rs256(fx, headers[i], GOOD_CLAIMS("")), 0);
}

/* ------------------------------------------------------------------------
 * Compact form and size
 * ------------------------------------------------------------------------ */

/* Inserts c into a copy of tok at pos; the caller frees the copy. */
static char *insert_char(const char *tok, size_t pos, char c) {
    size_t len = strlen(tok);
    char *out = malloc(len + 2);
    assert_non_null(out);
    memcpy(out, tok, pos);
    out[pos] = c;
    memcpy(out + pos + 1, tok + pos, len - pos + 1);
    return out;
}

static void test_bad_characters_in_segments(void **state) {
    fixture *fx = *state;
    char *tok =
        sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""), "RS256", fx->rsa);
    const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    const size_t positions[] = {
        0,
        (size_t)(dot1 - tok),     /* header start and end */
        (size_t)(dot1 - tok) + 5, /* inside the payload */
        (size_t)(dot2 - tok),     /* end of the payload */
        strlen(tok),              /* end of the signature */
    };
    static const char bad[] = {'=', '+', '/', ' ', '\n', '\r', '\t', '\0', '\x80'};
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        for (size_t j = 0; j < sizeof bad; j++) {
            char *t = insert_char(tok, positions[i], bad[j]);
            size_t len = strlen(tok) + 1; /* '\0' is counted too */
            assert_int_equal(sd_token_verify_signature(t, len, fx->ks, MAX_BYTES),
                             SD_ETOKEN_BASE64);
            free(t);
        }
    }
    /* Padding the way plain base64 would. */
    char *padded = malloc(strlen(tok) + 3);
    sprintf(padded, "%s==", tok);
    assert_int_equal(verify(fx->ks, padded), SD_ETOKEN_BASE64);
    free(tok);
}

static void test_segment_count(void **state) {
    fixture *fx = *state;
    char *tok =
        sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""), "RS256", fx->rsa);
    size_t len = strlen(tok);
    char *four = malloc(len + 6);
    sprintf(four, "%s.abcd", tok);
    assert_int_equal(verify(fx->ks, four), SD_ETOKEN_MALFORMED);
    *strrchr(tok, '.') = '\0'; /* header.payload */
    assert_int_equal(verify(fx->ks, tok), SD_ETOKEN_MALFORMED);

    static const char *const shapes[] = {"abcd", "abcd.abcd", "a.b.c.d", "...",
                                         ".ab.", "eyJ9.",     "..abcd",  "abcd..abcd"};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        assert_int_equal(
            sd_token_verify_signature(shapes[i], strlen(shapes[i]), fx->ks, MAX_BYTES),
            SD_ETOKEN_MALFORMED);
    sd_claims *c = NULL;
    assert_int_equal(sd_token_verify("", 0, fx->ks, &policy, NOW, &c), SD_ETOKEN_MISSING);
    assert_int_equal(sd_token_verify(NULL, 5, fx->ks, &policy, NOW, &c),
                     SD_ETOKEN_MISSING);
}

static void test_too_large_before_decoding(void **state) {
    fixture *fx = *state;
    char *garbage = malloc(MAX_BYTES + 1);
    memset(garbage, '\xff', MAX_BYTES + 1);
    sd_claims *c = NULL;
    assert_int_equal(sd_token_verify(garbage, MAX_BYTES + 1, fx->ks, &policy, NOW, &c),
                     SD_ETOKEN_TOO_LARGE);
    assert_null(c);
    assert_int_equal(sd_token_verify_signature(garbage, MAX_BYTES + 1, fx->ks, MAX_BYTES),
                     SD_ETOKEN_TOO_LARGE);
    /* At exactly the cap the same bytes are read, and are not a token. */
    assert_int_equal(sd_token_verify_signature(garbage, MAX_BYTES, fx->ks, MAX_BYTES),
                     SD_ETOKEN_MALFORMED);
    free(garbage);

    char *tok =
        sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""), "RS256", fx->rsa);
    size_t len = strlen(tok);
    assert_int_equal(sd_token_verify_signature(tok, len, fx->ks, len), 0);
    assert_int_equal(sd_token_verify_signature(tok, len, fx->ks, len - 1),
                     SD_ETOKEN_TOO_LARGE);
    free(tok);
    assert_string_equal(sd_errname(SD_ETOKEN_TOO_LARGE), "token_too_large");
}

static void test_invalid_base64url(void **state) {
    fixture *fx = *state;
    /* 16 header bytes encode to 22 characters: the last one has 4 unused
     * low bits, which must be zero. */
    static const char header[] = "{\"alg\":\"RS256\" }";
    char *tok = sd_test_jws_sign(header, GOOD_CLAIMS(""), "RS256", fx->rsa);
    assert_int_equal(strchr(tok, '.') - tok, 22);
    flip_char(tok, 21, 1);
    assert_int_equal(verify(fx->ks, tok), SD_ETOKEN_BASE64);

    /* A segment of length 1 mod 4 is no encoding at all (15 bytes: 20
     * characters, one more makes 21). */
    tok = sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""), "RS256", fx->rsa);
    assert_int_equal(strchr(tok, '.') - tok, 20);
    char *longer = insert_char(tok, 20, 'A');
    assert_int_equal(verify(fx->ks, longer), SD_ETOKEN_BASE64);
    free(tok);

    /* The signature segment too (256 bytes: 342 characters, 4 unused bits). */
    tok = sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""), "RS256", fx->rsa);
    flip_char(tok, strlen(tok) - 1, 1);
    assert_int_equal(verify(fx->ks, tok), SD_ETOKEN_BASE64);
    /* ES512: 132 bytes are 176 characters; 177 is 1 mod 4. */
    tok = sd_test_jws_sign("{\"alg\":\"ES512\"}", GOOD_CLAIMS(""), "ES512", fx->ec521);
    assert_int_equal(strlen(strrchr(tok, '.') + 1), 176);
    longer = insert_char(tok, strlen(tok), 'A');
    assert_int_equal(verify(fx->ks, longer), SD_ETOKEN_BASE64);
    free(tok);
}

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

static void test_not_object(void **state) {
    fixture *fx = *state;
    static const char *const texts[] = {"[]", "\"x\"", "1", "null", "true", "[{}]"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", texts[i]),
                         SD_ETOKEN_NOT_OBJECT);
        assert_int_equal(rs256(fx, texts[i], GOOD_CLAIMS("")), SD_ETOKEN_NOT_OBJECT);
    }
    assert_string_equal(sd_errname(SD_ETOKEN_NOT_OBJECT), "token_not_object");
}

static void test_invalid_json(void **state) {
    fixture *fx = *state;
    static const char *const texts[] = {
        "{",       "{\"iss\":",           "{alg:1}", "{\"a\":1,}", "{\"a\":1} x",
        "{'a':1}", "{\"a\":\"\\u0000\"}", /* NUL inside a string */
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", texts[i]), SD_ETOKEN_JSON);
        assert_int_equal(rs256(fx, texts[i], GOOD_CLAIMS("")), SD_ETOKEN_JSON);
    }
}

static void test_duplicate_names(void **state) {
    fixture *fx = *state;
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", GOOD_CLAIMS(",\"exp\":1700003600")),
                     SD_ETOKEN_JSON);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}",
                           GOOD_CLAIMS(",\"iss\":\"https://evil.example\"")),
                     SD_ETOKEN_JSON);
    /* In the header a second alg could disagree with the one checked. */
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\",\"alg\":\"none\"}", GOOD_CLAIMS("")),
                     SD_ETOKEN_JSON);
}

/* n nested arrays as the value of claim "x", inside the payload object. */
static char *nested_claims(int n) {
    size_t cap = strlen(GOOD_CLAIMS("")) + 2 * (size_t)n + 16;
    char *s = malloc(cap), *w = s;
    assert_non_null(s);
    w += sprintf(w, "{\"x\":");
    for (int i = 0; i < n; i++)
        *w++ = '[';
    for (int i = 0; i < n; i++)
        *w++ = ']';
    sprintf(w, ",%s", &GOOD_CLAIMS("")[1]);
    return s;
}

static void test_json_depth(void **state) {
    fixture *fx = *state;
    char *deep = nested_claims(100);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", deep), SD_ETOKEN_JSON_DEPTH);
    free(deep);
    /* The object itself is level 1; 15 arrays inside make 16, the cap. */
    char *ok = nested_claims(15), *over = nested_claims(16);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", ok), 0);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", over), SD_ETOKEN_JSON_DEPTH);
    free(ok);
    free(over);
    /* Brackets inside strings are text, not nesting. */
    assert_int_equal(
        rs256(fx, "{\"alg\":\"RS256\"}",
              GOOD_CLAIMS(",\"x\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"")),
        0);
    assert_int_equal(
        rs256(fx, "{\"alg\":\"RS256\",\"x\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}",
              GOOD_CLAIMS("")),
        SD_ETOKEN_JSON_DEPTH);
}

/* ------------------------------------------------------------------------
 * Signatures
 * ------------------------------------------------------------------------ */

static void test_wrong_signature(void **state) {
    fixture *fx = *state;
    int rc = verify(fx->ks, sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""),
                                             "RS256", fx->rsa_other));
    assert_int_equal(rc, SD_ETOKEN_SIGNATURE);
    rc = verify(fx->ks, sd_test_jws_sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                                         GOOD_CLAIMS(""), "RS256", fx->rsa_other));
    assert_int_equal(rc, SD_ETOKEN_SIGNATURE);
    rc = verify(fx->ks, sd_test_jws_sign("{\"alg\":\"ES256\"}", GOOD_CLAIMS(""), "ES256",
                                         fx->ec256_other));
    assert_int_equal(rc, SD_ETOKEN_SIGNATURE);
    /* A PS signature presented as RS (same key and hash) does not verify. */
    rc = verify(fx->ks, sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""), "PS256",
                                         fx->rsa));
    assert_int_equal(rc, SD_ETOKEN_SIGNATURE);
    /* Signed over other claims than the ones presented. */
    char *a = sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""), "RS256", fx->rsa);
    char *b = sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(",\"sid\":\"x\""),
                               "RS256", fx->rsa);
    char *mixed = malloc(strlen(a) + strlen(b) + 1);
    sprintf(mixed, "%.*s%s", (int)(strrchr(b, '.') - b), b, strrchr(a, '.'));
    assert_int_equal(verify(fx->ks, mixed), SD_ETOKEN_SIGNATURE);
    free(a);
    free(b);
    assert_string_equal(sd_errname(SD_ETOKEN_SIGNATURE), "signature_invalid");
}

/* ES signatures are exactly 2 * coordinate bytes; DER or trimmed forms fail. */
static void test_es_signature_wrong_length(void **state) {
    fixture *fx = *state;
    static const char header[] = "{\"alg\":\"ES256\"}";
    char *input = sd_test_jws_assemble(header, GOOD_CLAIMS(""), NULL, 0);
    input[strlen(input) - 1] = '\0';
    size_t sig_len = 0;
    unsigned char *sig =
        sd_test_jws_signature("ES256", fx->ec256, input, strlen(input), &sig_len);
    assert_non_null(sig);
    assert_int_equal(sig_len, 64);
    unsigned char longer[65];
    memcpy(longer, sig, 64);
    longer[64] = 0;
    assert_int_equal(
        verify(fx->ks, sd_test_jws_assemble(header, GOOD_CLAIMS(""), sig, 64)), 0);
    assert_int_equal(
        verify(fx->ks, sd_test_jws_assemble(header, GOOD_CLAIMS(""), sig, 63)),
        SD_ETOKEN_SIGNATURE);
    assert_int_equal(
        verify(fx->ks, sd_test_jws_assemble(header, GOOD_CLAIMS(""), longer, 65)),
        SD_ETOKEN_SIGNATURE);
    assert_int_equal(
        verify(fx->ks, sd_test_jws_assemble(header, GOOD_CLAIMS(""), NULL, 0)),
        SD_ETOKEN_SIGNATURE);
    /* All-zero r and s are in range of no valid signature. */
    unsigned char zero[64] = {0};
    assert_int_equal(
        verify(fx->ks, sd_test_jws_assemble(header, GOOD_CLAIMS(""), zero, 64)),
        SD_ETOKEN_SIGNATURE);
    free(sig);
    free(input);
}

static void test_other_algorithms_verify(void **state) {
    fixture *fx = *state;
    static const struct {
        const char *alg, *header;
        int key; /* 0 rsa, 1 ec256, 2 ec384, 3 ec521 */
    } cases[] = {
        {"RS256", "{\"alg\":\"RS256\"}", 0},
        {"RS384", "{\"alg\":\"RS384\"}", 0},
        {"RS512", "{\"alg\":\"RS512\"}", 0},
        {"PS256", "{\"alg\":\"PS256\"}", 0},
        {"PS384", "{\"alg\":\"PS384\"}", 0},
        {"PS512", "{\"alg\":\"PS512\"}", 0},
        {"ES256", "{\"alg\":\"ES256\"}", 1},
        {"ES384", "{\"alg\":\"ES384\"}", 2},
        {"ES512", "{\"alg\":\"ES512\"}", 3},
        {"ES512", "{\"alg\":\"ES512\",\"kid\":\"ec521\"}", 3},
        {"PS256", "{\"alg\":\"PS256\",\"kid\":\"rsa1\",\"typ\":\"at+jwt\"}", 0},
    };
    EVP_PKEY *keys[] = {fx->rsa, fx->ec256, fx->ec384, fx->ec521};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = sd_test_jws_sign(cases[i].header, GOOD_CLAIMS(""), cases[i].alg,
                                     keys[cases[i].key]);
        assert_int_equal(verify(fx->ks, tok), 0);
    }
}

/* ------------------------------------------------------------------------
 * Claims: time, issuer, audience
 * ------------------------------------------------------------------------ */

static void test_exp_missing(void **state) {
    fixture *fx = *state;
    assert_int_equal(rs256_claims(fx, "\"sub\":\"a\""), SD_ETOKEN_EXP_MISSING);
    assert_string_equal(sd_errname(SD_ETOKEN_EXP_MISSING), "exp_missing");
}

static void test_numeric_claim_types(void **state) {
    fixture *fx = *state;
    static const char *const members[] = {
        "\"exp\":\"1700003600\"",
        "\"exp\":true",
        "\"exp\":null",
        "\"exp\":-1",
        "\"exp\":1e300",
        "\"exp\":[1700003600]",
        "\"exp\":{}",
        "\"exp\":-0.5",
        "\"exp\":1700003600,\"nbf\":\"0\"",
        "\"exp\":1700003600,\"iat\":false",
        "\"exp\":1700003600,\"iat\":-5",
        "\"exp\":253402300800",
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        assert_int_equal(rs256_claims(fx, members[i]), SD_ETOKEN_CLAIM_TYPE);
    /* Finite reals are fine; fractions are dropped. */
    assert_int_equal(rs256_claims(fx, "\"exp\":1700003600.75"), 0);
    assert_int_equal(rs256_claims(fx, "\"exp\":1.7000036e9"), 0);
}

static void test_exp_leeway_boundary(void **state) {
    fixture *fx = *state;
    char m[64];
    snprintf(m, sizeof m, "\"exp\":%lld", (long long)(NOW - LEEWAY - 1));
    assert_int_equal(rs256_claims(fx, m), SD_ETOKEN_EXPIRED);
    snprintf(m, sizeof m, "\"exp\":%lld", (long long)(NOW - LEEWAY));
    assert_int_equal(rs256_claims(fx, m), SD_ETOKEN_EXPIRED);
    snprintf(m, sizeof m, "\"exp\":%lld", (long long)(NOW - LEEWAY + 1));
    assert_int_equal(rs256_claims(fx, m), 0);
    assert_string_equal(sd_errname(SD_ETOKEN_EXPIRED), "token_expired");
}

static void test_nbf_in_future(void **state) {
    fixture *fx = *state;
    char m[96];
    snprintf(m, sizeof m, "\"exp\":1700003600,\"nbf\":%lld",
             (long long)(NOW + LEEWAY + 1));
    assert_int_equal(rs256_claims(fx, m), SD_ETOKEN_NOT_YET_VALID);
    snprintf(m, sizeof m, "\"exp\":1700003600,\"nbf\":%lld", (long long)(NOW + LEEWAY));
    assert_int_equal(rs256_claims(fx, m), 0);
}

static void test_iat_in_future(void **state) {
    fixture *fx = *state;
    char m[96];
    snprintf(m, sizeof m, "\"exp\":1700003600,\"iat\":%lld",
             (long long)(NOW + LEEWAY + 1));
    assert_int_equal(rs256_claims(fx, m), SD_ETOKEN_IAT_FUTURE);
    snprintf(m, sizeof m, "\"exp\":1700003600,\"iat\":%lld", (long long)(NOW + LEEWAY));
    assert_int_equal(rs256_claims(fx, m), 0);
}

static void test_issuer(void **state) {
    fixture *fx = *state;
    static const char *const payloads[] = {
        "{\"iss\":\"https://evil.example\",\"exp\":1700003600,\"aud\":\"api\"}",
        "{\"exp\":1700003600,\"aud\":\"api\"}",
        "{\"iss\":\"https://issuer.exampl\",\"exp\":1700003600,\"aud\":\"api\"}",
        "{\"iss\":\"https://issuer.example/\",\"exp\":1700003600,\"aud\":\"api\"}",
        "{\"iss\":\"HTTPS://ISSUER.EXAMPLE\",\"exp\":1700003600,\"aud\":\"api\"}",
        "{\"iss\":\"\",\"exp\":1700003600,\"aud\":\"api\"}",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++)
        assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", payloads[i]), SD_ETOKEN_ISSUER);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}",
                           "{\"iss\":[\"" ISS "\"],\"exp\":1700003600,\"aud\":\"api\"}"),
                     SD_ETOKEN_CLAIM_TYPE);
    assert_string_equal(sd_errname(SD_ETOKEN_ISSUER), "issuer_mismatch");
}

static void test_audience(void **state) {
    fixture *fx = *state;
    static const char *const rejected[] = {
        "\"exp\":1700003600,\"aud\":\"api2\"",
        "\"exp\":1700003600,\"aud\":\"ap\"",
        "\"exp\":1700003600,\"aud\":[\"other\",\"API\"]",
        "\"exp\":1700003600,\"aud\":[]",
        "\"exp\":1700003600",
    };
    static const char head[] = "{\"iss\":\"" ISS "\",";
    char payload[256];
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        snprintf(payload, sizeof payload, "%s%s}", head, rejected[i]);
        assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", payload), SD_ETOKEN_AUDIENCE);
    }
    snprintf(payload, sizeof payload, "%s\"exp\":1700003600,\"aud\":[\"other\",\"api\"]}",
             head);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", payload), 0);
    snprintf(payload, sizeof payload, "%s\"exp\":1700003600,\"aud\":42}", head);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", payload), SD_ETOKEN_CLAIM_TYPE);

    /* Without a configured audience, aud is not required. */
    const sd_verify_policy any = {ISS, NULL, LEEWAY, MAX_BYTES, NULL, NULL};
    snprintf(payload, sizeof payload, "%s\"exp\":1700003600}", head);
    char *tok = sd_test_jws_sign("{\"alg\":\"RS256\"}", payload, "RS256", fx->rsa);
    sd_claims *c = NULL;
    assert_int_equal(sd_token_verify(tok, strlen(tok), fx->ks, &any, NOW, &c), 0);
    sd_claims_unref(c);
    free(tok);
}

/* ------------------------------------------------------------------------
 * Claims: what comes back
 * ------------------------------------------------------------------------ */

static void test_scope_array_joined(void **state) {
    fixture *fx = *state;
    char *tok = sd_test_jws_sign(
        "{\"alg\":\"RS256\"}", GOOD_CLAIMS(",\"scope\":[\"a\",\"b\"]"), "RS256", fx->rsa);
    sd_claims *c = verify_ok(fx->ks, tok);
    assert_string_equal(c->scope, "a b");
    sd_claims_unref(c);

    tok = sd_test_jws_sign("{\"alg\":\"RS256\"}",
                           GOOD_CLAIMS(",\"scope\":\"read  write\""), "RS256", fx->rsa);
    c = verify_ok(fx->ks, tok);
    assert_string_equal(c->scope, "read  write");
    assert_null(c->sid);
    assert_null(c->jti);
    sd_claims_unref(c);

    assert_int_equal(
        rs256(fx, "{\"alg\":\"RS256\"}", GOOD_CLAIMS(",\"scope\":[\"a\",1]")),
        SD_ETOKEN_CLAIM_TYPE);
    assert_int_equal(rs256(fx, "{\"alg\":\"RS256\"}", GOOD_CLAIMS(",\"scope\":7")),
                     SD_ETOKEN_CLAIM_TYPE);

    /* No scopes, written either way, is an empty scope string. */
    const char *empty[] = {"\"exp\":1700003600,\"scope\":\"\"",
                           "\"exp\":1700003600,\"scope\":[]"};
    for (int i = 0; i < 2; i++) {
        char *payload = claims_with(empty[i]);
        tok = sd_test_jws_sign("{\"alg\":\"RS256\"}", payload, "RS256", fx->rsa);
        free(payload);
        c = verify_ok(fx->ks, tok);
        assert_string_equal(c->scope, "");
        sd_claims_unref(c);
    }
}

static void test_client_id_from_azp(void **state) {
    fixture *fx = *state;
    sd_claims *c = verify_ok(fx->ks, sd_test_jws_sign("{\"alg\":\"RS256\"}",
                                                      GOOD_CLAIMS(",\"azp\":\"web\""),
                                                      "RS256", fx->rsa));
    assert_string_equal(c->client_id, "web");
    sd_claims_unref(c);
    c = verify_ok(fx->ks,
                  sd_test_jws_sign("{\"alg\":\"RS256\"}",
                                   GOOD_CLAIMS(",\"azp\":\"web\",\"client_id\":\"cli\""),
                                   "RS256", fx->rsa));
    assert_string_equal(c->client_id, "cli");
    sd_claims_unref(c);
    c = verify_ok(fx->ks, sd_test_jws_sign("{\"alg\":\"RS256\"}", GOOD_CLAIMS(""),
                                           "RS256", fx->rsa));
    assert_null(c->client_id);
    assert_false(c->has_nbf);
    assert_false(c->has_iat);
    sd_claims_unref(c);
}

static void test_empty_or_mistyped_strings(void **state) {
    fixture *fx = *state;
    static const char *const members[] = {
        "\"exp\":1700003600,\"sub\":\"\"",          "\"exp\":1700003600,\"sub\":7",
        "\"exp\":1700003600,\"sid\":\"\"",          "\"exp\":1700003600,\"jti\":null",
        "\"exp\":1700003600,\"client_id\":[\"a\"]", "\"exp\":1700003600,\"azp\":false",
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        assert_int_equal(rs256_claims(fx, members[i]), SD_ETOKEN_CLAIM_TYPE);
    assert_string_equal(sd_errname(SD_ETOKEN_CLAIM_TYPE), "claim_invalid");
}

/* Identifier claims with control characters are refused: they would break
 * response headers (CR/LF), log lines and operators' terminals (ESC). */
static void test_control_characters_in_identifiers(void **state) {
    fixture *fx = *state;
    static const char *const members[] = {
        "\"exp\":1700003600,\"sub\":\"bob\\r\\nX-Injected: yes\"",
        "\"exp\":1700003600,\"sub\":\"evil\\u001b[31mred\"",
        "\"exp\":1700003600,\"client_id\":\"c\\ttab\"",
        "\"exp\":1700003600,\"sid\":\"s\\u007f\"",
        "\"exp\":1700003600,\"jti\":\"j\\n\"",
        /* C1 controls (U+0080..U+009F): NEL, CSI, the first and the last. */
        "\"exp\":1700003600,\"sub\":\"a\\u0085b\"",
        "\"exp\":1700003600,\"sub\":\"evil\\u009b31mred\"",
        "\"exp\":1700003600,\"sid\":\"s\\u0080\"",
        "\"exp\":1700003600,\"jti\":\"j\\u009f\"",
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        assert_int_equal(rs256_claims(fx, members[i]), SD_ETOKEN_CLAIM_TYPE);
    /* Beyond ASCII is fine: names are not only English. */
    sd_claims *c = verify_ok(
        fx->ks,
        sd_test_jws_sign("{\"alg\":\"RS256\"}",
                         GOOD_CLAIMS(",\"client_id\":\"J\\u00fcrgen M\\u00fcller\""),
                         "RS256", fx->rsa));
    assert_string_equal(c->client_id, "J\xc3\xbcrgen M\xc3\xbcller");
    sd_claims_unref(c);
    /* U+00A0, just past the C1 range, is no control. */
    c = verify_ok(fx->ks, sd_test_jws_sign("{\"alg\":\"RS256\"}",
                                           GOOD_CLAIMS(",\"client_id\":\"a\\u00a0z\""),
                                           "RS256", fx->rsa));
    assert_string_equal(c->client_id, "a\xc2\xa0z");
    sd_claims_unref(c);
}

static void test_token_sha256(void **state) {
    fixture *fx = *state;
    char *tok =
        sd_test_jws_sign("{\"alg\":\"ES256\"}", GOOD_CLAIMS(""), "ES256", fx->ec256);
    unsigned char want[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, strlen(tok), want);
    sd_claims *c = verify_ok(fx->ks, tok);
    assert_memory_equal(c->token_sha256, want, sizeof want);
    sd_claims_unref(c);
}

static void test_claims_refcount(void **state) {
    fixture *fx = *state;
    sd_claims *c = verify_ok(fx->ks, sd_test_jws_sign("{\"alg\":\"RS256\"}",
                                                      GOOD_CLAIMS(""), "RS256", fx->rsa));
    assert_int_equal(c->refs, 1);
    assert_ptr_equal(sd_claims_ref(c), c);
    assert_int_equal(c->refs, 2);
    sd_claims_unref(c);
    assert_int_equal(c->refs, 1);
    assert_string_equal(c->sub, "alice"); /* still alive */
    sd_claims_unref(c);                   /* freed: ASan would see a leak */
    assert_null(sd_claims_ref(NULL));
    sd_claims_unref(NULL);
}

/* ------------------------------------------------------------------------
 * JWKS loading (src/token/jwk.c)
 * ------------------------------------------------------------------------ */

static void test_jwks_rsa_under_2048_rejected(void **state) {
    (void)state;
    EVP_PKEY *weak = sd_test_rsa_key(1024);
    assert_non_null(weak);
    char *jwks = sd_test_jwks(weak, "weak", NULL);
    sd_keyset *ks = sd_keyset_new();
    assert_int_equal(sd_keyset_add_jwks(ks, jwks, strlen(jwks), 0), SD_EINVAL);
    assert_int_equal(sd_keyset_count(ks), 0);
    char *path = sd_test_public_pem_file(weak);
    assert_int_equal(sd_keyset_add_pem_file(ks, path, NULL), SD_EINVAL);
    assert_int_equal(sd_keyset_count(ks), 0);
    unlink(path);
    free(path);
    free(jwks);
    sd_keyset_free(ks);
    EVP_PKEY_free(weak);
}

static void test_jwks_use_enc_skipped(void **state) {
    fixture *fx = *state;
    char *enc = sd_test_jwk(fx->rsa_other, "enc1", "\"use\":\"enc\"");
    char *sig = sd_test_jwk(fx->ec256, "sig1", "\"use\":\"sig\"");
    char jwks[4096];
    snprintf(jwks, sizeof jwks, "{\"keys\":[%s,%s]}", enc, sig);
    sd_keyset *ks = sd_keyset_new();
    assert_int_equal(sd_keyset_add_jwks(ks, jwks, strlen(jwks), 0), 0);
    assert_int_equal(sd_keyset_count(ks), 1);
    /* The skipped key is not there to be named. */
    int rc = verify(ks, sd_test_jws_sign("{\"alg\":\"RS256\",\"kid\":\"enc1\"}",
                                         GOOD_CLAIMS(""), "RS256", fx->rsa_other));
    assert_int_equal(rc, SD_ETOKEN_KID_UNKNOWN);
    free(enc);
    free(sig);
    sd_keyset_free(ks);
}

static void test_jwks_oct_needs_allow_hmac(void **state) {
    (void)state;
    static const char jwks[] = "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":"
                               "\"c2VjcmV0LXNlY3JldC1zZWNyZXQ\"}]}";
    sd_keyset *ks = sd_keyset_new();
    assert_int_equal(sd_keyset_add_jwks(ks, jwks, strlen(jwks), 0), 0);
    assert_int_equal(sd_keyset_count(ks), 0);
    int rc = verify(
        ks, sd_test_jws_hmac("{\"alg\":\"HS256\",\"kid\":\"h\"}", GOOD_CLAIMS(""),
                             "HS256", (const unsigned char *)"secret-secret-secret", 20));
    assert_int_equal(rc, SD_ETOKEN_ALG_UNSUPPORTED);
    assert_int_equal(sd_keyset_add_jwks(ks, jwks, strlen(jwks), 1), 0);
    assert_int_equal(sd_keyset_count(ks), 1);
    rc = verify(ks, sd_test_jws_hmac("{\"alg\":\"HS256\",\"kid\":\"h\"}", GOOD_CLAIMS(""),
                                     "HS256",
                                     (const unsigned char *)"secret-secret-secret", 20));
    assert_int_equal(rc, 0);
    sd_keyset_free(ks);
}

static void test_jwks_alg_narrows_pin(void **state) {
    fixture *fx = *state;
    sd_keyset *ks = sd_keyset_new();
    add_jwks(ks, sd_test_jwks(fx->rsa, "pinned", "\"alg\":\"RS256\""), 0);
    int rc = verify(ks, sd_test_jws_sign("{\"alg\":\"PS256\",\"kid\":\"pinned\"}",
                                         GOOD_CLAIMS(""), "PS256", fx->rsa));
    assert_int_equal(rc, SD_ETOKEN_ALG_KEY_MISMATCH);
    rc = verify(
        ks, sd_test_jws_sign("{\"alg\":\"RS384\"}", GOOD_CLAIMS(""), "RS384", fx->rsa));
    assert_int_equal(rc, SD_ETOKEN_NO_KEY);
    rc = verify(ks, sd_test_jws_sign("{\"alg\":\"RS256\",\"kid\":\"pinned\"}",
                                     GOOD_CLAIMS(""), "RS256", fx->rsa));
    assert_int_equal(rc, 0);
    /* An alg of another key type on the JWK is a broken key. */
    char *bad = sd_test_jwks(fx->rsa, "x", "\"alg\":\"ES256\"");
    assert_int_equal(sd_keyset_add_jwks(ks, bad, strlen(bad), 0), SD_EINVAL);
    assert_int_equal(sd_keyset_count(ks), 1);
    free(bad);
    sd_keyset_free(ks);
}

static void test_jwks_malformed(void **state) {
    fixture *fx = *state;
    static const char *const docs[] = {
        "",
        "{",
        "[]",
        "\"keys\"",
        "{\"keys\":{}}",
        "{\"keys\":[1]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"+AQAB\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}",
        "{\"keys\":[{\"kty\":7}]}",
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"\"}]}",
        "{\"keys\":[],\"keys\":[]}",
    };
    sd_keyset *ks = sd_keyset_new();
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        assert_int_equal(sd_keyset_add_jwks(ks, docs[i], strlen(docs[i]), 1), SD_EINVAL);
    /* One bad key fails the whole document: the good one is not added. */
    char *good = sd_test_jwk(fx->ec256, "g", NULL);
    char doc[2048];
    snprintf(doc, sizeof doc, "{\"keys\":[%s,{\"kty\":\"EC\",\"crv\":\"P-256\"}]}", good);
    assert_int_equal(sd_keyset_add_jwks(ks, doc, strlen(doc), 0), SD_EINVAL);
    assert_int_equal(sd_keyset_count(ks), 0);
    /* Unknown kty and curve are skipped, not failures; a bare JWK loads. */
    static const char skipped[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\"},"
                                  "{\"kty\":\"EC\",\"crv\":\"P-192\"}]}";
    assert_int_equal(sd_keyset_add_jwks(ks, skipped, strlen(skipped), 0), 0);
    assert_int_equal(sd_keyset_count(ks), 0);
    assert_int_equal(sd_keyset_add_jwks(ks, good, strlen(good), 0), 0);
    assert_int_equal(sd_keyset_count(ks), 1);
    free(good);
    sd_keyset_free(ks);
}

static void test_key_files_and_hmac_args(void **state) {
    (void)state;
    sd_keyset *ks = sd_keyset_new();
    assert_int_equal(sd_keyset_add_jwks_file(ks, "/nonexistent/jwks.json", 0), SD_EIO);
    assert_int_equal(sd_keyset_add_pem_file(ks, "/nonexistent/key.pem", NULL), SD_EIO);
    assert_int_equal(sd_keyset_add_pem_file(ks, VECTORS "rfc7515-A2-RS256.jwt", NULL),
                     SD_EINVAL);
    assert_int_equal(sd_keyset_add_hmac(ks, (const unsigned char *)"", 0, NULL),
                     SD_EINVAL);
    assert_int_equal(
        sd_keyset_add_jwks_file(ks, VECTORS "rfc7520-4.1-RS256.pub.jwk.json", 0), 0);
    assert_int_equal(sd_keyset_count(ks), 1);
    sd_keyset_free(ks);
    sd_keyset_free(NULL);
    assert_int_equal(sd_keyset_count(NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_verify_from_jwk),
        cmocka_unit_test(test_vectors_verify_from_pem),
        cmocka_unit_test(test_vectors_full_verify_reasons),
        cmocka_unit_test(test_vectors_json_serializations_rejected),
        cmocka_unit_test(test_vectors_detached_payload_rejected),
        cmocka_unit_test(test_libjwt_token_verifies),
        cmocka_unit_test(test_alg_none_any_case),
        cmocka_unit_test(test_alg_unknown_or_missing),
        cmocka_unit_test(test_hs256_with_rsa_pem_rsa_only),
        cmocka_unit_test(test_hs256_with_rsa_pem_mixed_keyset),
        cmocka_unit_test(test_alg_key_type_mismatch_by_kid),
        cmocka_unit_test(test_rs256_against_ec_only_keys),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_crit_rejected),
        cmocka_unit_test(test_typ_rejected),
        cmocka_unit_test(test_typ_accepted),
        cmocka_unit_test(test_bad_characters_in_segments),
        cmocka_unit_test(test_segment_count),
        cmocka_unit_test(test_too_large_before_decoding),
        cmocka_unit_test(test_invalid_base64url),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_wrong_signature),
        cmocka_unit_test(test_es_signature_wrong_length),
        cmocka_unit_test(test_other_algorithms_verify),
        cmocka_unit_test(test_exp_missing),
        cmocka_unit_test(test_numeric_claim_types),
        cmocka_unit_test(test_exp_leeway_boundary),
        cmocka_unit_test(test_nbf_in_future),
        cmocka_unit_test(test_iat_in_future),
        cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_scope_array_joined),
        cmocka_unit_test(test_client_id_from_azp),
        cmocka_unit_test(test_empty_or_mistyped_strings),
        cmocka_unit_test(test_control_characters_in_identifiers),
        cmocka_unit_test(test_token_sha256),
        cmocka_unit_test(test_claims_refcount),
        cmocka_unit_test(test_jwks_rsa_under_2048_rejected),
        cmocka_unit_test(test_jwks_use_enc_skipped),
        cmocka_unit_test(test_jwks_oct_needs_allow_hmac),
        cmocka_unit_test(test_jwks_alg_narrows_pin),
        cmocka_unit_test(test_jwks_malformed),
        cmocka_unit_test(test_key_files_and_hmac_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
