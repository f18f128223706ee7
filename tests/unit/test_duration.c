/* Unit tests for sd_duration_parse: exact milliseconds for every accepted
 * form, SD_EINVAL for everything else, and the int64_t overflow boundaries. */
#include "sessiond/config.h"
#include "sessiond/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Asserts that text parses to exactly want milliseconds. */
static void expect_ms(const char *text, int64_t want) {
    int64_t ms = -12345;
    int rc = sd_duration_parse(text, &ms);
    if (rc != 0) fail_msg("\"%s\" was rejected (%d)", text, rc);
    if (ms != want)
        fail_msg("\"%s\" gave %lld ms, want %lld", text, (long long)ms, (long long)want);
}

/* Asserts that text is rejected and the output is left untouched. */
static void expect_invalid(const char *text) {
    int64_t ms = -12345;
    int rc = sd_duration_parse(text, &ms);
    if (rc != SD_EINVAL)
        fail_msg("\"%s\" gave rc %d (%lld ms), want SD_EINVAL", text, rc, (long long)ms);
    assert_int_equal(ms, -12345);
}

/* ------------------------------------------------------------------------
 * Accepted forms
 * ------------------------------------------------------------------------ */

static void test_bare_digits_are_milliseconds(void **state) {
    expect_ms("0", 0);
    expect_ms("1", 1);
    expect_ms("500", 500);
    expect_ms("1200000", 1200000);
    expect_ms("007", 7); /* leading zeros are harmless */
}

static void test_units(void **state) {
    expect_ms("300ms", 300);
    expect_ms("0ms", 0);
    expect_ms("45s", 45000);
    expect_ms("1s", 1000);
    expect_ms("20m", 1200000);
    expect_ms("60m", 3600000);
    expect_ms("1h", 3600000);
    expect_ms("24h", 86400000);
    expect_ms("0h", 0);
}

/* ------------------------------------------------------------------------
 * Rejected forms
 * ------------------------------------------------------------------------ */

static void test_malformed(void **state) {
    expect_invalid("");
    expect_invalid("s");
    expect_invalid("ms");
    expect_invalid("5x");
    expect_invalid("5sec");
    expect_invalid("5mss");
    expect_invalid("5sm");
    expect_invalid("5S"); /* units are lower case */
    expect_invalid("5MS");
    expect_invalid("5d");   /* no days */
    expect_invalid("1.5s"); /* no fractions */
    expect_invalid("1e3");
    expect_invalid("0x10");
}

static void test_signs_and_spaces(void **state) {
    expect_invalid("-1");
    expect_invalid("-5s");
    expect_invalid("+5s");
    expect_invalid(" 5s");
    expect_invalid("5s ");
    expect_invalid("5 s");
    expect_invalid("5s5");
    expect_invalid("1h30m"); /* one number, one unit */
}

static void test_null_arguments(void **state) {
    int64_t ms = 0;
    assert_int_equal(sd_duration_parse(NULL, &ms), SD_EINVAL);
    assert_int_equal(sd_duration_parse("5s", NULL), SD_EINVAL);
}

/* ------------------------------------------------------------------------
 * Boundaries: the result must fit int64_t milliseconds
 * ------------------------------------------------------------------------ */

static void test_overflow_boundaries(void **state) {
    expect_ms("9223372036854775807", INT64_MAX);
    expect_ms("9223372036854775807ms", INT64_MAX);
    expect_invalid("9223372036854775808");
    expect_invalid("99999999999999999999");
    expect_invalid("99999999999999999999h");

    /* INT64_MAX / 1000 = 9223372036854775 */
    expect_ms("9223372036854775s", INT64_C(9223372036854775000));
    expect_invalid("9223372036854776s");
    /* INT64_MAX / 60000 = 153722867280912 */
    expect_ms("153722867280912m", INT64_C(9223372036854720000));
    expect_invalid("153722867280913m");
    /* INT64_MAX / 3600000 = 2562047788015 */
    expect_ms("2562047788015h", INT64_C(9223372036854000000));
    expect_invalid("2562047788016h");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_digits_are_milliseconds),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_signs_and_spaces),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_overflow_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
