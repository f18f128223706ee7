/* Unit tests of key sets (src/token/keyset.c): equality and kid lookup as
 * the JWKS fetcher uses them, and loading that is deterministic — the same
 * document always gives the same keys (fuzz_jwks once found an RSA modulus
 * that OpenSSL's randomised public-key check accepted only sometimes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jws_mint.h"
#include "sessiond/error.h"
#include "sessiond/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sd_keyset *load(const char *doc, size_t len, int *rc) {
    sd_keyset *ks = sd_keyset_new();
    assert_non_null(ks);
    *rc = sd_keyset_add_jwks(ks, doc, len, 0);
    return ks;
}

static void test_equal_and_kid(void **state) {
    (void)state;
    EVP_PKEY *rsa = sd_test_rsa_key(2048), *ec = sd_test_ec_key("P-256");
    char *a = sd_test_jwk(rsa, "a", NULL), *b = sd_test_jwk(ec, "b", NULL);
    char *b2 = sd_test_jwk(ec, "b2", NULL), *b_pinned = sd_test_jwk(ec, "b", "\"alg\":\"ES256\"");
    char ab[4096], ba[4096], ab2[4096], abp[4096];
    snprintf(ab, sizeof ab, "{\"keys\":[%s,%s]}", a, b);
    snprintf(ba, sizeof ba, "{\"keys\":[%s,%s]}", b, a);
    snprintf(ab2, sizeof ab2, "{\"keys\":[%s,%s]}", a, b2);
    snprintf(abp, sizeof abp, "{\"keys\":[%s,%s]}", a, b_pinned);
    int rc;
    sd_keyset *x = load(ab, strlen(ab), &rc), *y = load(ab, strlen(ab), &rc);
    sd_keyset *z = load(ba, strlen(ba), &rc), *w = load(ab2, strlen(ab2), &rc);
    sd_keyset *p = load(abp, strlen(abp), &rc), *empty = sd_keyset_new();
    assert_int_equal(sd_keyset_equal(x, y), 1);
    assert_int_equal(sd_keyset_equal(x, x), 1);
    assert_int_equal(sd_keyset_equal(x, z), 0); /* order counts */
    assert_int_equal(sd_keyset_equal(x, w), 0); /* another kid */
    /* ES256 is the only alg of a P-256 key anyway: the pin is the same. */
    assert_int_equal(sd_keyset_equal(x, p), 1);
    assert_int_equal(sd_keyset_equal(x, empty), 0);
    assert_int_equal(sd_keyset_equal(NULL, NULL), 1);
    assert_int_equal(sd_keyset_equal(x, NULL), 0);
    assert_string_equal(sd_keyset_kid(x, 0), "a");
    assert_string_equal(sd_keyset_kid(x, 1), "b");
    assert_null(sd_keyset_kid(x, 2));
    assert_null(sd_keyset_kid(NULL, 0));
    /* The same kid on another key is another set. */
    EVP_PKEY *ec2 = sd_test_ec_key("P-256");
    char *other = sd_test_jwks(ec2, "b", NULL), *only_b = sd_test_jwks(ec, "b", NULL);
    sd_keyset *o = load(other, strlen(other), &rc), *q = load(only_b, strlen(only_b), &rc);
    assert_int_equal(sd_keyset_equal(o, q), 0);
    sd_keyset *hm1 = sd_keyset_new(), *hm2 = sd_keyset_new();
    sd_keyset_add_hmac(hm1, (const unsigned char *)"0123456789abcdef", 16, "h");
    sd_keyset_add_hmac(hm2, (const unsigned char *)"0123456789abcdeX", 16, "h");
    assert_int_equal(sd_keyset_equal(hm1, hm2), 0);
    assert_int_equal(sd_keyset_equal(hm1, hm1), 1);
    sd_keyset *sets[] = {x, y, z, w, p, empty, o, q, hm1, hm2};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) sd_keyset_free(sets[i]);
    free(a); free(b); free(b2); free(b_pinned); free(other); free(only_b);
    EVP_PKEY_free(rsa); EVP_PKEY_free(ec); EVP_PKEY_free(ec2);
}

/* Reads the fuzzer's input: a flag byte, then the document. */
static char *read_regression(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, SD_SOURCE_DIR "/tests/fuzz/regressions/jwks/%s", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static void test_rsa_checks_are_deterministic(void **state) {
    (void)state;
    size_t len;
    char *doc = read_regression("rsa-modulus-random-check", &len);
    int first_rc;
    sd_keyset *first = load(doc + 1, len - 1, &first_rc);
    /* Odd, 2048+ bits, e = 65537: accepted, every time. */
    assert_int_equal(first_rc, 0);
    assert_int_equal(sd_keyset_count(first), 1);
    for (int i = 0; i < 50; i++) {
        int rc;
        sd_keyset *again = load(doc + 1, len - 1, &rc);
        assert_int_equal(rc, first_rc);
        assert_int_equal(sd_keyset_equal(first, again), 1);
        sd_keyset_free(again);
    }
    sd_keyset_free(first);
    free(doc);
}

/* Values no RSA public key can have. */
static void test_rsa_values_refused(void **state) {
    (void)state;
    EVP_PKEY *rsa = sd_test_rsa_key(2048);
    char *jwk = sd_test_jwk(rsa, NULL, NULL);
    const char *n = strstr(jwk, "\"n\":\"") + 5;
    size_t nlen = (size_t)(strchr(n, '"') - n);
    char doc[4096];
    static const char *const bad_e[] = {"AQ" /* 1 */, "Ag" /* 2 */, "AAE" /* 1, padded */};
    int rc;
    for (size_t i = 0; i < sizeof bad_e / sizeof bad_e[0]; i++) {
        snprintf(doc, sizeof doc, "{\"kty\":\"RSA\",\"n\":\"%.*s\",\"e\":\"%s\"}", (int)nlen, n,
                 bad_e[i]);
        sd_keyset *ks = load(doc, strlen(doc), &rc);
        assert_int_equal(rc, SD_EINVAL);
        sd_keyset_free(ks);
    }
    /* An even modulus: the last base64url character's low bit cleared
     * (characters that keep the value even stay in the alphabet). */
    snprintf(doc, sizeof doc, "{\"kty\":\"RSA\",\"n\":\"%.*s\",\"e\":\"AQAB\"}", (int)nlen, n);
    char *last = strstr(doc, "\",\"e\"") - 1;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alphabet, *last) - alphabet);
    /* 256 bytes are 342 characters: the last one holds n's two lowest bits
     * (value bits 5 and 4) above four zero padding bits. */
    *last = alphabet[v & ~16];
    sd_keyset *ks = load(doc, strlen(doc), &rc);
    assert_int_equal(rc, SD_EINVAL);
    sd_keyset_free(ks);
    free(jwk);
    EVP_PKEY_free(rsa);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_and_kid),
        cmocka_unit_test(test_rsa_checks_are_deterministic),
        cmocka_unit_test(test_rsa_values_refused),
    };
    return cmocka_run_group_tests_name("keyset", tests, NULL, NULL);
}
