/* Error codes: every code has its own reason name, and the HTTP table maps
 * each one to the status and error code of SPEC §5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/errors.h"
#include "sessiond/error.h"

/* Every code the project defines, by group, in header order. */
static const int generic_codes[] = {SD_ENOMEM, SD_EINVAL, SD_EIO};
static const int token_codes[] = {
    SD_ETOKEN_MISSING,
    SD_ETOKEN_TOO_LARGE,
    SD_ETOKEN_MALFORMED,
    SD_ETOKEN_BASE64,
    SD_ETOKEN_JSON,
    SD_ETOKEN_JSON_DEPTH,
    SD_ETOKEN_NOT_OBJECT,
    SD_ETOKEN_ALG_NONE,
    SD_ETOKEN_ALG_UNSUPPORTED,
    SD_ETOKEN_ALG_KEY_MISMATCH,
    SD_ETOKEN_KID_UNKNOWN,
    SD_ETOKEN_NO_KEY,
    SD_ETOKEN_TYP,
    SD_ETOKEN_CRIT,
    SD_ETOKEN_HEADER,
    SD_ETOKEN_SIGNATURE,
    SD_ETOKEN_EXP_MISSING,
    SD_ETOKEN_CLAIM_TYPE,
    SD_ETOKEN_EXPIRED,
    SD_ETOKEN_NOT_YET_VALID,
    SD_ETOKEN_IAT_FUTURE,
    SD_ETOKEN_ISSUER,
    SD_ETOKEN_AUDIENCE,
    SD_ETOKEN_REVOKED,
    SD_ETOKEN_ADMIN_CREDENTIALS,
    SD_ETOKEN_WRONG_INSTANCE,
};
static const int store_codes[] = {
    SD_ESTORE_UNAVAILABLE,  SD_ESTORE_TIMEOUT,    SD_ESTORE_REPLY,
    SD_ELICENSE_LIMIT,      SD_ENOT_FOUND,        SD_EINSTANCE_UNKNOWN,
    SD_ESUBJECT_LIMIT,      SD_EKEYS_UNAVAILABLE, SD_ESESSION_ID_UNKNOWN,
    SD_EBAD_REQUEST,        SD_EFORBIDDEN,        SD_ERESERVED_OVER_LIMIT,
    SD_EINSTANCE_AMBIGUOUS, SD_ESUBJECT_INVALID,
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_every_code_has_a_unique_name(void **state) {
    (void)state;
    int all[COUNT(generic_codes) + COUNT(token_codes) + COUNT(store_codes)];
    size_t n = 0;
    for (size_t i = 0; i < COUNT(generic_codes); i++) all[n++] = generic_codes[i];
    for (size_t i = 0; i < COUNT(token_codes); i++) all[n++] = token_codes[i];
    for (size_t i = 0; i < COUNT(store_codes); i++) all[n++] = store_codes[i];
    for (size_t i = 0; i < n; i++) {
        const char *name = sd_errname(all[i]);
        assert_string_not_equal(name, "unknown_error");
        assert_string_not_equal(sd_strerror(all[i]), "");
        for (size_t j = 0; j < i; j++) assert_string_not_equal(name, sd_errname(all[j]));
    }
    assert_string_equal(sd_errname(12345), "unknown_error");
    assert_string_equal(sd_errname(SD_ETOKEN_EXPIRED), "token_expired");
    assert_string_equal(sd_errname(SD_ETOKEN_SIGNATURE), "signature_invalid");
}

static void test_token_group_is_exactly_the_token_codes(void **state) {
    (void)state;
    for (size_t i = 0; i < COUNT(token_codes); i++)
        assert_true(sd_err_is_token(token_codes[i]));
    for (size_t i = 0; i < COUNT(generic_codes); i++)
        assert_false(sd_err_is_token(generic_codes[i]));
    for (size_t i = 0; i < COUNT(store_codes); i++)
        assert_false(sd_err_is_token(store_codes[i]));
    assert_false(sd_err_is_token(0));
}

static void expect_http(int err, int status, const char *code) {
    sd_http_error e = sd_http_error_of(err);
    assert_int_equal(e.status, status);
    assert_string_equal(e.error, code);
}

static void test_http_table_matches_spec(void **state) {
    (void)state;
    /* Every token rejection but wrong_instance is a 401 invalid_token. */
    for (size_t i = 0; i + 1 < COUNT(token_codes); i++)
        expect_http(token_codes[i], 401, "invalid_token");
    expect_http(SD_ETOKEN_WRONG_INSTANCE, 403, "wrong_instance");
    expect_http(SD_ELICENSE_LIMIT, 429, "license_limit_reached");
    expect_http(SD_ESUBJECT_LIMIT, 429, "subject_limit_reached");
    expect_http(SD_ESTORE_UNAVAILABLE, 503, "store_unavailable");
    expect_http(SD_ESTORE_TIMEOUT, 503, "store_unavailable");
    expect_http(SD_ESTORE_REPLY, 503, "store_unavailable");
    expect_http(SD_EKEYS_UNAVAILABLE, 503, "keys_unavailable");
    expect_http(SD_ENOT_FOUND, 404, "not_found");
    expect_http(SD_ESESSION_ID_UNKNOWN, 404, "not_found");
    expect_http(SD_EINSTANCE_UNKNOWN, 404, "unknown_instance");
    expect_http(SD_EINVAL, 400, "bad_request");
    expect_http(SD_EBAD_REQUEST, 400, "bad_request");
    expect_http(SD_EFORBIDDEN, 403, "forbidden");
    expect_http(SD_ERESERVED_OVER_LIMIT, 400, "bad_request");
    expect_http(SD_EINSTANCE_AMBIGUOUS, 400, "bad_request");
    expect_http(SD_ESUBJECT_INVALID, 400, "bad_request");
    expect_http(SD_ENOMEM, 500, "internal_error");
    expect_http(-9999, 500, "internal_error");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_a_unique_name),
        cmocka_unit_test(test_token_group_is_exactly_the_token_codes),
        cmocka_unit_test(test_http_table_matches_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
