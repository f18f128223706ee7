/* Unit tests for the JWKS-over-HTTP settings of an instance: jwks_uri
 * parsing (https anywhere, http only to loopback), its refresh, refetch and
 * time-out durations, the key-source rules, and the environment names. */
#include "sessiond/config.h"
#include "sessiond/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
    char dir[64];
    char path[128];
    char err[512];
    sd_config *cfg;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/sd_test_cfgjwks.XXXXXX");
    if (mkdtemp(f->dir) == NULL) return -1;
    snprintf(f->path, sizeof f->path, "%s/config.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    sd_config_free(f->cfg);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Loads {"instances":[{name, issuer, license_limit <members>}]} (members
 * start with a comma; ' stands for ") with envp. Returns the loader's code. */
static int load(fixture *f, const char *members, char *const *envp) {
    char json[2048];
    int n = snprintf(json, sizeof json,
                     "{'instances':[{'name':'app','issuer':'https://id.example',"
                     "'license_limit':5%s}]}",
                     members);
    assert_true(n > 0 && (size_t)n < sizeof json);
    for (char *p = json; *p; p++)
        if (*p == '\'') *p = '"';
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(json, fp);
    assert_int_equal(fclose(fp), 0);
    sd_config_free(f->cfg);
    f->cfg = NULL;
    f->err[0] = '\0';
    return sd_config_load(f->path, envp, &f->cfg, f->err, sizeof f->err);
}

static const sd_instance_config *ok_uri(fixture *f, const char *uri) {
    char members[512];
    snprintf(members, sizeof members, ",'jwks_uri':'%s'", uri);
    int rc = load(f, members, NULL);
    if (rc != 0) fail_msg("%s: %s", uri, f->err);
    return &f->cfg->instances[0];
}

static void fails_with(fixture *f, const char *members, const char *want) {
    assert_int_equal(load(f, members, NULL), SD_EINVAL);
    assert_string_equal(f->err, want);
}

static void bad_uri(fixture *f, const char *uri, const char *reason) {
    char members[512], want[512];
    snprintf(members, sizeof members, ",'jwks_uri':'%s'", uri);
    snprintf(want, sizeof want, "instances[0].jwks_uri: %s", reason);
    fails_with(f, members, want);
}

#define HTTP_LOOPBACK_ONLY                                                               \
    "plain http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); "  \
    "use https://"

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void test_defaults(void **state) {
    fixture *f = *state;
    const sd_instance_config *in = ok_uri(f, "https://id.example/.well-known/jwks.json");
    assert_string_equal(in->jwks_uri, "https://id.example/.well-known/jwks.json");
    assert_string_equal(in->jwks_host, "id.example");
    assert_int_equal(in->jwks_port, 443);
    assert_string_equal(in->jwks_path, "/.well-known/jwks.json");
    assert_int_equal(in->jwks_tls, 1);
    assert_int_equal(in->jwks_refresh_ms, 300000);
    assert_int_equal(in->jwks_min_refetch_ms, 30000);
    assert_int_equal(in->jwks_timeout_ms, 5000);
    assert_null(in->jwks_file);
    assert_int_equal(in->npem_keys, 0);
}

static void test_https_forms(void **state) {
    fixture *f = *state;
    const sd_instance_config *in = ok_uri(f, "https://id.example:8443");
    assert_int_equal(in->jwks_port, 8443);
    assert_string_equal(in->jwks_path, "/");
    in = ok_uri(f, "HTTPS://Id.Example?tenant=a");
    assert_string_equal(in->jwks_host, "Id.Example");
    assert_string_equal(in->jwks_path, "/?tenant=a");
    in = ok_uri(f, "https://[2001:db8::1]:9/keys?x=1&y=2");
    assert_string_equal(in->jwks_host, "2001:db8::1");
    assert_int_equal(in->jwks_port, 9);
    assert_string_equal(in->jwks_path, "/keys?x=1&y=2");
    in = ok_uri(f, "https://10.1.2.3/k");
    assert_string_equal(in->jwks_host, "10.1.2.3");
    assert_int_equal(in->jwks_tls, 1);
}

static void test_http_loopback_only(void **state) {
    fixture *f = *state;
    const sd_instance_config *in = ok_uri(f, "http://127.0.0.1:8080/jwks");
    assert_int_equal(in->jwks_tls, 0);
    assert_int_equal(in->jwks_port, 8080);
    assert_string_equal(in->jwks_path, "/jwks");
    in = ok_uri(f, "http://127.255.0.9/");
    assert_int_equal(in->jwks_port, 80);
    in = ok_uri(f, "http://LOCALHOST/jwks");
    assert_string_equal(in->jwks_host, "LOCALHOST");
    in = ok_uri(f, "http://[::1]:81/jwks");
    assert_string_equal(in->jwks_host, "::1");

    bad_uri(f, "http://id.example/jwks", HTTP_LOOPBACK_ONLY);
    bad_uri(f, "http://10.0.0.1/jwks", HTTP_LOOPBACK_ONLY);
    bad_uri(f, "http://128.0.0.1/jwks", HTTP_LOOPBACK_ONLY);
    bad_uri(f, "http://0.0.0.0/jwks", HTTP_LOOPBACK_ONLY);
    bad_uri(f, "http://[::2]/jwks", HTTP_LOOPBACK_ONLY);
    bad_uri(f, "http://[::ffff:127.0.0.1]/jwks", HTTP_LOOPBACK_ONLY);
    bad_uri(f, "http://localhost.evil.example/jwks", HTTP_LOOPBACK_ONLY);
    bad_uri(f, "http://127.0.0.1.nip.io/jwks", HTTP_LOOPBACK_ONLY);
}

static void test_malformed(void **state) {
    fixture *f = *state;
    bad_uri(f, "ftp://id.example/jwks", "must be an https:// URL");
    bad_uri(f, "id.example/jwks", "must be an https:// URL");
    bad_uri(f, "", "must be an https:// URL");
    bad_uri(f, "https://user:pw@id.example/jwks", "must not contain user information");
    bad_uri(f, "https://id.example/jwks#k", "must not have a fragment");
    bad_uri(f, "https://id.example/a b", "must not contain spaces or non-ASCII characters");
    bad_uri(f, "https://id.example/\\u00e9", "must not contain spaces or non-ASCII characters");
    bad_uri(f, "https:///jwks", "host is missing");
    bad_uri(f, "https://id.example:0/jwks", "port must be a number from 1 to 65535");
    bad_uri(f, "https://id.example:99999/", "port must be a number from 1 to 65535");
    bad_uri(f, "https://[::1/jwks", "bad bracketed IPv6 address");
    fails_with(f, ",'jwks_uri':7", "instances[0].jwks_uri: must be a string");
}

static void test_key_sources(void **state) {
    fixture *f = *state;
    static const char *const combos[] = {
        ",'jwks_uri':'https://id.example/k','jwks_file':'/j'",
        ",'jwks_uri':'https://id.example/k','pem_keys':[{'path':'/k.pem'}]",
        (",'jwks_uri':'https://id.example/k',"
         "'hmac_secret':'0123456789abcdef0123456789abcdef'"),
    };
    for (size_t i = 0; i < sizeof combos / sizeof combos[0]; i++)
        fails_with(f, combos[i],
                   "instances[0].jwks_uri: cannot be combined with jwks_file, pem_keys "
                   "or hmac_secret");
    fails_with(f, "",
               "instances[0]: needs a key source: jwks_file, jwks_uri, pem_keys or "
               "hmac_secret");
}

static void test_durations(void **state) {
    fixture *f = *state;
    assert_int_equal(load(f,
                          ",'jwks_uri':'https://id.example/k','jwks_refresh':'1s',"
                          "'jwks_min_refetch':'24h','jwks_timeout':100",
                          NULL),
                     0);
    const sd_instance_config *in = &f->cfg->instances[0];
    assert_int_equal(in->jwks_refresh_ms, 1000);
    assert_int_equal(in->jwks_min_refetch_ms, 86400000);
    assert_int_equal(in->jwks_timeout_ms, 100);

    fails_with(f, ",'jwks_uri':'https://id.example/k','jwks_refresh':'999ms'",
               "instances[0].jwks_refresh: must be a duration from 1s to 8760h, e.g. "
               "\"30s\" or integer milliseconds");
    fails_with(f, ",'jwks_uri':'https://id.example/k','jwks_min_refetch':'25h'",
               "instances[0].jwks_min_refetch: must be a duration from 1s to 24h, e.g. "
               "\"30s\" or integer milliseconds");
    fails_with(f, ",'jwks_uri':'https://id.example/k','jwks_timeout':'61s'",
               "instances[0].jwks_timeout: must be a duration from 100ms to 1m, e.g. "
               "\"30s\" or integer milliseconds");
    fails_with(f, ",'jwks_uri':'https://id.example/k','jwks_timeout':'fast'",
               "instances[0].jwks_timeout: must be a duration from 100ms to 1m, e.g. "
               "\"30s\" or integer milliseconds");
}

static void test_environment(void **state) {
    fixture *f = *state;
    char *env[] = {"SESSIOND_INSTANCES_0_JWKS_URI=http://127.0.0.1:9000/jwks",
                   "SESSIOND_INSTANCES_0_JWKS_REFRESH=10m",
                   "SESSIOND_INSTANCES_0_JWKS_MIN_REFETCH=2s",
                   "SESSIOND_INSTANCES_0_JWKS_TIMEOUT=1500ms", NULL};
    assert_int_equal(load(f, "", env), 0);
    const sd_instance_config *in = &f->cfg->instances[0];
    assert_string_equal(in->jwks_host, "127.0.0.1");
    assert_int_equal(in->jwks_port, 9000);
    assert_int_equal(in->jwks_refresh_ms, 600000);
    assert_int_equal(in->jwks_min_refetch_ms, 2000);
    assert_int_equal(in->jwks_timeout_ms, 1500);

    /* The environment wins over the file, and its errors name the variable. */
    char *bad[] = {"SESSIOND_INSTANCES_0_JWKS_URI=http://idp.example/jwks", NULL};
    assert_int_equal(load(f, ",'jwks_uri':'https://id.example/k'", bad), SD_EINVAL);
    assert_string_equal(f->err, "instances[0].jwks_uri: " HTTP_LOOPBACK_ONLY
                                " (from SESSIOND_INSTANCES_0_JWKS_URI)");
    char *over[] = {"SESSIOND_INSTANCES_0_JWKS_URI=https://other.example/k", NULL};
    assert_int_equal(load(f, ",'jwks_uri':'https://id.example/k'", over), 0);
    assert_string_equal(f->cfg->instances[0].jwks_host, "other.example");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_https_forms),
        cmocka_unit_test(test_http_loopback_only),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_key_sources),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_environment),
    };
    return cmocka_run_group_tests_name("config_jwks", tests, setup, teardown);
}
