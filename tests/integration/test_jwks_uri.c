/* Keys from a jwks_uri (SPEC §3): fetched at start (not ready before),
 * refreshed on an interval, refetched — rate-limited — on an unknown kid;
 * the last good set survives outages, error statuses, garbage, hangs, slow
 * and oversized answers (each logged); a key that leaves the set stops
 * verifying; TLS is verified (chain and host name). Real redis-server, real
 * sessiond, a test JWKS server on loopback, tokens shaped like an OpenID
 * Connect server's access tokens (typ at+jwt). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "harness.h"
#include "idp_server.h"
#include "jws_mint.h"

#define ISS "https://id.test"
#define FAILED "\"msg\":\"jwks fetch failed; keeping the current keys\""
#define UPDATED "\"msg\":\"jwks keys updated\""

static sd_test_redis redis;
static sd_test_daemon dmn; /* the one a test runs; stopped after each test */
static sd_test_idp *idp;
static EVP_PKEY *key_a, *key_b;
static char *jwks_a, *jwks_ab, *jwks_b;

static int setup(void **state) {
    key_a = sd_test_rsa_key(2048);
    key_b = sd_test_rsa_key(2048);
    if (!key_a || !key_b) return -1;
    char *a = sd_test_jwk(key_a, "a", "\"use\":\"sig\",\"alg\":\"RS256\"");
    char *b = sd_test_jwk(key_b, "b", "\"use\":\"sig\"");
    /* A real JWKS also lists keys this verifier does not use. */
    static const char other[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\","
                                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    size_t cap = strlen(a) + strlen(b) + sizeof other + 64;
    jwks_a = malloc(cap);
    jwks_ab = malloc(cap);
    jwks_b = malloc(cap);
    if (!a || !b || !jwks_a || !jwks_ab || !jwks_b) return -1;
    snprintf(jwks_a, cap, "{\"keys\":[%s,%s]}", a, other);
    snprintf(jwks_ab, cap, "{\"keys\":[%s,%s]}", a, b);
    snprintf(jwks_b, cap, "{\"keys\":[%s]}", b);
    free(a);
    free(b);
    if (!(idp = sd_test_idp_start(NULL, NULL))) return -1;
    return sd_test_redis_start(&redis);
}

static int teardown(void **state) {
    sd_test_idp_stop(idp);
    sd_test_redis_stop(&redis, 0);
    EVP_PKEY_free(key_a);
    EVP_PKEY_free(key_b);
    free(jwks_a);
    free(jwks_ab);
    free(jwks_b);
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Starts sessiond with one instance whose keys come from uri. */
static void start_daemon(sd_test_daemon *d, const char *uri, const char *refresh,
                         const char *min_refetch, int wait_ready) {
    char config[1024];
    snprintf(config, sizeof config,
             "{\"listen\": \"127.0.0.1:@PORT@\","
             " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\"},"
             " \"instances\": [{\"name\": \"idp\", \"issuer\": \"" ISS "\","
             "   \"audience\": \"erp-api\", \"jwks_uri\": \"%s\","
             "   \"jwks_refresh\": \"%s\", \"jwks_min_refetch\": \"%s\","
             "   \"jwks_timeout\": \"500ms\", \"license_limit\": 1000}]}",
             uri, refresh, min_refetch);
    assert_int_equal(sd_test_daemon_start(d, config, redis.port, wait_ready), 0);
}

static void stop_daemon(sd_test_daemon *d) {
    assert_int_equal(sd_test_daemon_stop(d), 0);
    unlink(d->log_path);
}

/* After each test, also a failed one: no daemon outlives it. */
static int stop_leftover(void **state) {
    if (dmn.pid > 0) {
        sd_test_daemon_stop(&dmn);
        unlink(dmn.log_path);
    }
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
    return 0;
}

/* Each test fetches its own path, so that its count of fetches is its
 * own (connections a previous test left in the backlog may still arrive). */
static void plain_uri(char *out, size_t cap, const sd_test_idp *s, const char *path) {
    snprintf(out, cap, "http://127.0.0.1:%d%s", sd_test_idp_port(s), path);
}

/* An access token as an OpenID Connect server issues it (RFC 9068): typ
 * at+jwt, kid, aud as an array, scope as an array, auth_time and idp. Each
 * call makes a new token (new jti), so none is served from the cache. */
static char *access_token(EVP_PKEY *key, const char *kid) {
    static int serial;
    char header[128], payload[768];
    long now = (long)time(NULL);
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}",
             kid);
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":[\"erp-api\",\"" ISS "/resources\"],"
             "\"client_id\":\"erp-web\",\"sub\":\"user-%d\",\"sid\":\"sid-%d\","
             "\"jti\":\"jti-%d-%ld\",\"scope\":[\"openid\",\"erp\"],\"iat\":%ld,"
             "\"nbf\":%ld,\"exp\":%ld,\"auth_time\":%ld,\"idp\":\"local\"}",
             serial % 7, serial % 7, serial, now, now, now, now + 600, now - 30);
    serial++;
    char *t = sd_test_jws_sign(header, payload, "RS256", key);
    assert_non_null(t);
    return t;
}

/* GET /v1/auth with tok (freed); returns the status, the reason into why. */
static int auth(const sd_test_daemon *d, char *tok, char *why, size_t cap) {
    sd_test_response res;
    assert_int_equal(sd_test_http(d->port, "GET", "/v1/auth", tok, NULL, &res), 0);
    free(tok);
    if (why) {
        const char *r = strstr(res.body, "\"reason\":\"");
        size_t n = 0;
        if (r) {
            r += 10;
            while (r[n] && r[n] != '"' && n + 1 < cap) n++;
            memcpy(why, r, n);
        }
        why[n] = '\0';
    }
    return res.status;
}

static void expect_auth(const sd_test_daemon *d, char *tok, int status, const char *reason) {
    char why[64];
    int got = auth(d, tok, why, sizeof why);
    if (got != status || (reason && strcmp(why, reason) != 0))
        fail_msg("got %d \"%s\", want %d \"%s\"", got, why, status, reason ? reason : "");
}

static int readyz(const sd_test_daemon *d, char *body, size_t cap) {
    sd_test_response res;
    assert_int_equal(sd_test_http(d->port, "GET", "/readyz", NULL, NULL, &res), 0);
    size_t n = strnlen(res.body, cap - 1);
    memcpy(body, res.body, n);
    body[n] = '\0';
    return res.status;
}

/* Lines of d's log that contain a and b (b may be NULL). */
static int log_count(const sd_test_daemon *d, const char *a, const char *b) {
    FILE *f = fopen(d->log_path, "r");
    char line[2048];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, a) && (!b || strstr(line, b))) n++;
    if (f) fclose(f);
    return n;
}

/* Waits up to 5 s for the count of such lines to reach want. */
static void wait_log(const sd_test_daemon *d, const char *a, const char *b, int want) {
    for (int i = 0; i < 500; i++) {
        if (log_count(d, a, b) >= want) return;
        sd_test_sleep_ms(10);
    }
    fail_msg("fewer than %d log lines with %s %s", want, a, b ? b : "");
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void test_not_ready_until_keys(void **state) {
    char uri[128], body[512];
    sd_test_daemon *d = &dmn;
    sd_test_idp_set(idp, SD_TEST_IDP_STATUS, 500, NULL);
    plain_uri(uri, sizeof uri, idp, "/jwks-ready");
    start_daemon(d, uri, "1h", "30s", 0);
    wait_log(d, FAILED, "\"reason\":\"HTTP status 500\"", 1);
    assert_int_equal(readyz(d, body, sizeof body), 503);
    assert_non_null(strstr(body, "\"reason\":\"keys_unavailable\""));
    /* A token is not blamed for keys that are not there yet. */
    expect_auth(d, access_token(key_a, "a"), 503, "keys_unavailable");

    /* The identity server comes back: the retry (1 s later) picks it up. */
    sd_test_idp_set(idp, SD_TEST_IDP_SERVE, 0, jwks_a);
    wait_log(d, UPDATED, "\"kids\":\"a\"", 1);
    assert_int_equal(readyz(d, body, sizeof body), 200);
    expect_auth(d, access_token(key_a, "a"), 200, NULL);
    stop_daemon(d);
}

static void test_rotation_by_unknown_kid(void **state) {
    char uri[128];
    sd_test_daemon *d = &dmn;
    sd_test_idp_set(idp, SD_TEST_IDP_SERVE, 0, jwks_a);
    plain_uri(uri, sizeof uri, idp, "/jwks-rotation");
    start_daemon(d, uri, "1h", "1s", 1);
    assert_int_equal(sd_test_idp_hits_for(idp, "/jwks-rotation"), 1);
    expect_auth(d, access_token(key_a, "a"), 200, NULL);
    char *cached = access_token(key_a, "a");
    char *cached_again = strdup(cached);
    expect_auth(d, cached, 200, NULL); /* verified and cached */

    /* The identity server publishes b next to a. The first token with kid
     * b is refused at once (kid_unknown) and starts a refetch; after it,
     * b verifies and a keeps working: no restart. */
    sd_test_idp_set(idp, SD_TEST_IDP_SERVE, 0, jwks_ab);
    sd_test_sleep_ms(1100); /* past min_refetch since the start-up fetch */
    expect_auth(d, access_token(key_b, "b"), 401, "kid_unknown");
    for (int i = 0; i < 300 && sd_test_idp_hits_for(idp, "/jwks-rotation") < 2; i++)
        sd_test_sleep_ms(10);
    assert_int_equal(sd_test_idp_hits_for(idp, "/jwks-rotation"), 2);
    wait_log(d, UPDATED, "\"kids\":\"a,b\"", 1);
    expect_auth(d, access_token(key_b, "b"), 200, NULL);
    expect_auth(d, access_token(key_a, "a"), 200, NULL);

    /* a leaves the set. A token naming an unknown kid makes the worker
     * look; from then on a fails, even the token verified before. */
    sd_test_idp_set(idp, SD_TEST_IDP_SERVE, 0, jwks_b);
    sd_test_sleep_ms(1100);
    expect_auth(d, access_token(key_b, "c"), 401, "kid_unknown");
    wait_log(d, UPDATED, "\"kids\":\"b\"", 1);
    expect_auth(d, cached_again, 401, "kid_unknown");
    expect_auth(d, access_token(key_a, "a"), 401, "kid_unknown");
    expect_auth(d, access_token(key_b, "b"), 200, NULL);
    /* A token signed by a but claiming kid b is a forgery. */
    expect_auth(d, access_token(key_a, "b"), 401, "signature_invalid");

    /* SIGHUP refetches at once, without waiting for refresh or min_refetch. */
    sd_test_idp_set(idp, SD_TEST_IDP_SERVE, 0, jwks_ab);
    assert_int_equal(kill(d->pid, SIGHUP), 0);
    wait_log(d, UPDATED, "\"kids\":\"a,b\"", 2);
    expect_auth(d, access_token(key_a, "a"), 200, NULL);
    stop_daemon(d);
}

/* Every failure mode keeps the keys; each is logged with its reason. */
static void test_failures_keep_keys(void **state) {
    char uri[128];
    sd_test_daemon *d = &dmn;
    sd_test_idp_set(idp, SD_TEST_IDP_SERVE, 0, jwks_a);
    plain_uri(uri, sizeof uri, idp, "/jwks-failures");
    start_daemon(d, uri, "1s", "30s", 1);
    expect_auth(d, access_token(key_a, "a"), 200, NULL);

    static const struct {
        sd_test_idp_mode mode;
        int status;
        const char *body;
        const char *reason; /* a fragment of the log line */
    } cases[] = {
        {SD_TEST_IDP_STATUS, 500, NULL, "\"reason\":\"HTTP status 500\""},
        {SD_TEST_IDP_STATUS, 404, NULL, "\"reason\":\"HTTP status 404\""},
        {SD_TEST_IDP_STATUS, 302, NULL, "\"reason\":\"HTTP status 302\""},
        {SD_TEST_IDP_SERVE, 0, "<html>this is not json</html>",
         "\"reason\":\"not a valid JWKS: invalid argument\""},
        {SD_TEST_IDP_SERVE, 0, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}",
         "\"reason\":\"not a valid JWKS: invalid argument\""},
        {SD_TEST_IDP_SERVE, 0, "{\"keys\":[]}",
         "\"reason\":\"no usable signing key in the JWKS\""},
        {SD_TEST_IDP_SERVE, 0, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0LXNlY3JldC1zZWNyZXQ\"}]}",
         "\"reason\":\"no usable signing key in the JWKS\""},
        {SD_TEST_IDP_HANG, 0, NULL, "\"reason\":\"no complete response within 500 ms\""},
        {SD_TEST_IDP_SLOW, 0, NULL, "\"reason\":\"no complete response within 500 ms\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int before = log_count(d, FAILED, cases[i].reason);
        sd_test_idp_set(idp, cases[i].mode, cases[i].status, cases[i].body);
        wait_log(d, FAILED, cases[i].reason, before + 1);
        expect_auth(d, access_token(key_a, "a"), 200, NULL);
    }

    /* Over the 1 MiB cap: a valid document padded past it. */
    size_t big = (1u << 20) + 4096, n = strlen(jwks_a);
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, ' ', big);
    memcpy(huge, jwks_a, n);
    huge[big] = '\0';
    sd_test_idp_set(idp, SD_TEST_IDP_SERVE, 0, huge);
    free(huge);
    wait_log(d, FAILED, "\"reason\":\"response larger than 1048576 bytes\"", 1);
    expect_auth(d, access_token(key_a, "a"), 200, NULL);
    assert_int_equal(log_count(d, UPDATED, NULL), 1); /* only the first fetch */

    /* Rotation by the refresh interval alone, no unknown kid involved. */
    sd_test_idp_set(idp, SD_TEST_IDP_SERVE, 0, jwks_b);
    wait_log(d, UPDATED, "\"kids\":\"b\"", 1);
    expect_auth(d, access_token(key_b, "b"), 200, NULL);
    expect_auth(d, access_token(key_a, "a"), 401, "kid_unknown");
    /* The identity server goes away altogether: keys kept. */
    sd_test_idp_set(idp, SD_TEST_IDP_HANG, 0, NULL);
    int before = log_count(d, FAILED, NULL);
    wait_log(d, FAILED, NULL, before + 1);
    expect_auth(d, access_token(key_b, "b"), 200, NULL);
    stop_daemon(d);
}

/* Tokens with made-up kids cost the identity server at most one fetch per
 * jwks_min_refetch, however many arrive. */
static void test_unknown_kid_flood(void **state) {
    char uri[128], kid[32];
    sd_test_daemon *d = &dmn;
    sd_test_idp_set(idp, SD_TEST_IDP_SERVE, 0, jwks_a);
    plain_uri(uri, sizeof uri, idp, "/jwks-flood");
    start_daemon(d, uri, "1h", "2s", 1);
    assert_int_equal(sd_test_idp_hits_for(idp, "/jwks-flood"), 1);
    for (int round = 1; round <= 2; round++) {
        sd_test_sleep_ms(2100);
        long long t0 = sd_test_now_ms();
        for (int i = 0; i < 40; i++) {
            snprintf(kid, sizeof kid, "made-up-%d-%d", round, i);
            expect_auth(d, access_token(key_a, kid), 401, "kid_unknown");
        }
        /* The bound below is exact only if the flood fits in the window. */
        assert_true(sd_test_now_ms() - t0 < 2000);
        sd_test_sleep_ms(300);
        assert_int_equal(sd_test_idp_hits_for(idp, "/jwks-flood"), 1 + (unsigned)round);
    }
    expect_auth(d, access_token(key_a, "a"), 200, NULL);
    stop_daemon(d);
}

/* https with the test CA in SSL_CERT_FILE: the chain and the name are
 * checked; a wrong name or an unknown CA leaves the worker unready. */
static void test_tls_verified(void **state) {
    sd_test_pki good, wrong;
    assert_int_equal(sd_test_pki_make(&good, "DNS:localhost,IP:127.0.0.1"), 0);
    assert_int_equal(sd_test_pki_make(&wrong, "DNS:wrong.example"), 0);
    char ca_path[] = "/tmp/sd-test-ca-XXXXXX";
    int fd = mkstemp(ca_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, good.ca_pem, strlen(good.ca_pem)), (ssize_t)strlen(good.ca_pem));
    assert_int_equal(write(fd, wrong.ca_pem, strlen(wrong.ca_pem)),
                     (ssize_t)strlen(wrong.ca_pem));
    close(fd);
    sd_test_idp *tls = sd_test_idp_start(good.cert_pem, good.key_pem);
    sd_test_idp *bad = sd_test_idp_start(wrong.cert_pem, wrong.key_pem);
    assert_non_null(tls);
    assert_non_null(bad);
    sd_test_idp_set(tls, SD_TEST_IDP_SERVE, 0, jwks_a);
    sd_test_idp_set(bad, SD_TEST_IDP_SERVE, 0, jwks_a);

    char uri[128], body[512];
    sd_test_daemon *d = &dmn;
    setenv("SSL_CERT_FILE", ca_path, 1);
    /* By name (SNI + host name check) and by IP address (IP SAN). */
    snprintf(uri, sizeof uri, "https://localhost:%d/jwks", sd_test_idp_port(tls));
    start_daemon(d, uri, "1h", "30s", 1);
    expect_auth(d, access_token(key_a, "a"), 200, NULL);
    stop_daemon(d);
    snprintf(uri, sizeof uri, "https://127.0.0.1:%d/jwks", sd_test_idp_port(tls));
    start_daemon(d, uri, "1h", "30s", 1);
    expect_auth(d, access_token(key_a, "a"), 200, NULL);
    stop_daemon(d);

    /* A trusted CA, but the certificate names another host. */
    unsigned bad_hits = sd_test_idp_hits(bad);
    snprintf(uri, sizeof uri, "https://localhost:%d/jwks", sd_test_idp_port(bad));
    start_daemon(d, uri, "1h", "30s", 0);
    wait_log(d, FAILED,
             "\"reason\":\"tls: certificate verification failed: hostname mismatch\"", 1);
    assert_int_equal(readyz(d, body, sizeof body), 503);
    assert_int_equal(sd_test_idp_hits(bad), bad_hits); /* nothing was asked */
    stop_daemon(d);

    /* The right name, but a CA the system store does not know. */
    unsetenv("SSL_CERT_FILE");
    setenv("SSL_CERT_DIR", "/nonexistent", 1);
    snprintf(uri, sizeof uri, "https://localhost:%d/jwks", sd_test_idp_port(tls));
    unsigned tls_hits = sd_test_idp_hits(tls);
    start_daemon(d, uri, "1h", "30s", 0);
    wait_log(d, FAILED,
             "\"reason\":\"tls: certificate verification failed: unable to get local "
             "issuer certificate\"",
             1);
    assert_int_equal(readyz(d, body, sizeof body), 503);
    assert_int_equal(sd_test_idp_hits(tls), tls_hits);
    stop_daemon(d);
    unsetenv("SSL_CERT_DIR");

    sd_test_idp_stop(tls);
    sd_test_idp_stop(bad);
    unlink(ca_path);
    sd_test_pki_free(&good);
    sd_test_pki_free(&wrong);
}

/* http:// to a non-loopback host never starts: the field is named. */
static void test_http_elsewhere_refused(void **state) {
    char config[] = "/tmp/sd-test-jwks-cfg-XXXXXX";
    int fd = mkstemp(config);
    assert_true(fd >= 0);
    static const char text[] =
        "{\"instances\":[{\"name\":\"x\",\"issuer\":\"" ISS "\","
        "\"jwks_uri\":\"http://id.example/jwks\",\"license_limit\":1}]}";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    const char *bin = getenv("SD_SESSIOND");
    char cmd[1024], out[1024] = "";
    snprintf(cmd, sizeof cmd, "%s --check-config -c %s 2>&1", bin ? bin : SD_BINARY_DIR "/sessiond",
             config);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(config);
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_string_equal(out,
                        "sessiond: configuration: instances[0].jwks_uri: plain http:// is "
                        "allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use "
                        "https://\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_not_ready_until_keys, stop_leftover),
        cmocka_unit_test_teardown(test_rotation_by_unknown_kid, stop_leftover),
        cmocka_unit_test_teardown(test_failures_keep_keys, stop_leftover),
        cmocka_unit_test_teardown(test_unknown_kid_flood, stop_leftover),
        cmocka_unit_test_teardown(test_tls_verified, stop_leftover),
        cmocka_unit_test_teardown(test_http_elsewhere_refused, stop_leftover),
    };
    return cmocka_run_group_tests_name("jwks_uri", tests, setup, teardown);
}
