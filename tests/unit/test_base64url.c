/* Unit tests of the strict base64url codec in src/core/base64url.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/base64url.h"
#include "sessiond/error.h"

#include <stdlib.h>
#include <string.h>

/* Decodes NUL-terminated s into out (capacity 64); returns the codec's rc. */
static int decode_str(const char *s, unsigned char *out, size_t *out_len) {
    return sd_b64url_decode(s, strlen(s), out, 64, out_len);
}

/* ------------------------------------------------------------------------
 * Lengths
 * ------------------------------------------------------------------------ */

static void test_encoded_len(void **state) {
    (void)state;
    static const size_t want[] = {0, 2, 3, 4, 6, 7, 8, 10};
    for (size_t n = 0; n < sizeof want / sizeof want[0]; n++)
        assert_int_equal(sd_b64url_encoded_len(n), want[n]);
    assert_int_equal(sd_b64url_encoded_len(SIZE_MAX), 0); /* would overflow */
}

static void test_decoded_max(void **state) {
    (void)state;
    static const size_t want[] = {0, 0, 1, 2, 3, 3, 4, 5, 6};
    for (size_t n = 0; n < sizeof want / sizeof want[0]; n++)
        assert_int_equal(sd_b64url_decoded_max(n), want[n]);
}

/* ------------------------------------------------------------------------
 * Round trips and known answers
 * ------------------------------------------------------------------------ */

static void test_round_trips_0_to_64(void **state) {
    (void)state;
    unsigned char raw[64], back[64];
    char enc[100];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(i * 97 + 13);
    for (size_t len = 0; len <= 64; len++) {
        size_t enc_len = 0, dec_len = 99;
        assert_int_equal(sd_b64url_encode(raw, len, enc, sizeof enc, &enc_len), 0);
        assert_int_equal(enc_len, sd_b64url_encoded_len(len));
        assert_int_equal(strlen(enc), enc_len);
        assert_true(sd_b64url_valid_chars(enc, enc_len));
        assert_int_equal(sd_b64url_decode(enc, enc_len, back, sizeof back, &dec_len), 0);
        assert_int_equal(dec_len, len);
        assert_memory_equal(back, raw, len);
    }
}

static void test_round_trips_every_byte(void **state) {
    (void)state;
    unsigned char raw[256], back[256];
    for (int i = 0; i < 256; i++)
        raw[i] = (unsigned char)i;
    char *enc = sd_b64url_encode_alloc(raw, sizeof raw);
    assert_non_null(enc);
    size_t n = 0;
    assert_int_equal(sd_b64url_decode(enc, strlen(enc), back, sizeof back, &n), 0);
    assert_int_equal(n, sizeof raw);
    assert_memory_equal(back, raw, sizeof raw);
    free(enc);
}

static void test_rfc4648_vectors(void **state) {
    (void)state;
    static const char *const vec[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        char *enc =
            sd_b64url_encode_alloc((const unsigned char *)vec[i][0], strlen(vec[i][0]));
        assert_non_null(enc);
        assert_string_equal(enc, vec[i][1]);
        free(enc);
        unsigned char out[64];
        size_t n = 0;
        assert_int_equal(decode_str(vec[i][1], out, &n), 0);
        assert_int_equal(n, strlen(vec[i][0]));
        assert_memory_equal(out, vec[i][0], n);
    }
}

/* The two characters where base64url differs from base64: 62 and 63. */
static void test_url_alphabet(void **state) {
    (void)state;
    static const unsigned char raw[] = {0xfb, 0xff, 0xbf};
    char *enc = sd_b64url_encode_alloc(raw, sizeof raw);
    assert_string_equal(enc, "-_-_"); /* base64: "+/+/" */
    free(enc);
    unsigned char out[64];
    size_t n = 0;
    assert_int_equal(decode_str("-_-_", out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, raw, 3);
}

/* ------------------------------------------------------------------------
 * Rejections
 * ------------------------------------------------------------------------ */

static void test_rejects_non_alphabet(void **state) {
    (void)state;
    static const char *const bad[] = {
        "Zg==",     "Zm8=",   "Zg=", /* padding */
        "Zm9v+/8A", "+/8A",   "ab+c",  "ab/c", "Zm 9v",   " Zm9v",   "Zm9v\n",
        "Zm9v\r\n", "Zm\t9v", "Zm9v.", "Zm*v", "Zm9\x80", "Zm9\xff",
    };
    unsigned char out[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = 0;
        assert_int_equal(decode_str(bad[i], out, &n), SD_EINVAL);
        assert_false(sd_b64url_valid_chars(bad[i], strlen(bad[i])));
    }
    assert_true(sd_b64url_valid_chars("", 0));
    assert_true(sd_b64url_valid_chars("AZaz09-_", 8));
}

static void test_rejects_embedded_nul(void **state) {
    (void)state;
    unsigned char out[8];
    size_t n = 0;
    assert_int_equal(sd_b64url_decode("Zm\0v", 4, out, sizeof out, &n), SD_EINVAL);
    assert_false(sd_b64url_valid_chars("Zm\0v", 4));
}

static void test_rejects_length_mod4_is_1(void **state) {
    (void)state;
    static const char *const bad[] = {"A", "Zm9vY", "Zm9vYmFyZ"};
    unsigned char out[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = 0;
        assert_int_equal(decode_str(bad[i], out, &n), SD_EINVAL);
    }
}

/* Unused low bits of the last character must be zero, so that each byte
 * string has exactly one encoding. */
static void test_rejects_noncanonical_trailing_bits(void **state) {
    (void)state;
    static const char *const bad[] = {"Zh",  "Zp",     "Z_",     "Zm9",
                                      "Zm-", "Zm9vYh", "Zm9vYmF"};
    unsigned char out[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = 0;
        assert_int_equal(decode_str(bad[i], out, &n), SD_EINVAL);
    }
    size_t n = 0;
    assert_int_equal(decode_str("Zg", out, &n), 0);
    assert_int_equal(decode_str("Zm8", out, &n), 0);
}

static void test_rejects_small_buffers(void **state) {
    (void)state;
    unsigned char out[8];
    char enc[8];
    size_t n = 0;
    assert_int_equal(sd_b64url_decode("Zm9vYmFy", 8, out, 5, &n), SD_EINVAL);
    assert_int_equal(sd_b64url_decode("Zm9vYmFy", 8, out, 6, &n), 0);
    assert_int_equal(n, 6);
    /* "foo" needs 4 characters plus the NUL. */
    assert_int_equal(sd_b64url_encode((const unsigned char *)"foo", 3, enc, 4, NULL),
                     SD_EINVAL);
    assert_int_equal(sd_b64url_encode((const unsigned char *)"foo", 3, enc, 5, NULL), 0);
    assert_string_equal(enc, "Zm9v");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoded_len),
        cmocka_unit_test(test_decoded_max),
        cmocka_unit_test(test_round_trips_0_to_64),
        cmocka_unit_test(test_round_trips_every_byte),
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_url_alphabet),
        cmocka_unit_test(test_rejects_non_alphabet),
        cmocka_unit_test(test_rejects_embedded_nul),
        cmocka_unit_test(test_rejects_length_mod4_is_1),
        cmocka_unit_test(test_rejects_noncanonical_trailing_bits),
        cmocka_unit_test(test_rejects_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
