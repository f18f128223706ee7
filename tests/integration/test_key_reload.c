/* SIGHUP reloads keys (SPEC §6): a rotated-in key verifies, a removed key
 * stops verifying even for tokens already cached, and a broken key file
 * keeps the keys in use. Real redis-server, real sessiond, real HTTP. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "harness.h"
#include "jws_mint.h"

static sd_test_redis redis;
static sd_test_daemon daemon_proc;
static EVP_PKEY *old_key, *new_key;
static char jwks_path[] = "/tmp/sd-test-jwks-XXXXXX";

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
    old_key = EVP_RSA_gen(2048);
    new_key = EVP_RSA_gen(2048);
    int fd = mkstemp(jwks_path);
    if (!old_key || !new_key || fd < 0) return -1;
    close(fd);
    char *jwks = sd_test_jwks(old_key, "old", NULL);
    FILE *f = fopen(jwks_path, "w");
    if (!jwks || !f) return -1;
    fputs(jwks, f);
    fclose(f);
    free(jwks);
    if (sd_test_redis_start(&redis)) return -1;
    char config[1024];
    snprintf(config, sizeof config,
             "{\"listen\": \"127.0.0.1:@PORT@\","
             " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\"},"
             " \"instances\": [{\"name\": \"rot\", \"issuer\": \"https://id.test/rot\","
             "   \"jwks_file\": \"%s\", \"license_limit\": 10}]}",
             jwks_path);
    return sd_test_daemon_start(&daemon_proc, config, redis.port, 1);
}

static int teardown(void **state) {
    sd_test_daemon_stop(&daemon_proc);
    sd_test_redis_stop(&redis, 0);
    unlink(jwks_path);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
    return 0;
}

static char *token(EVP_PKEY *key, const char *kid, const char *sub) {
    char header[128], payload[256];
    long now = (long)time(NULL);
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://id.test/rot\",\"sub\":\"%s\",\"client_id\":\"web\","
             "\"exp\":%ld}",
             sub, now + 600);
    char *t = sd_test_jws_sign(header, payload, "RS256", key);
    assert_non_null(t);
    return t;
}

static int status_of(const char *tok, char *body, size_t cap) {
    sd_test_response res;
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", tok, NULL, &res), 0);
    if (body) {
        /* Bodies here are short JSON; keep what fits. */
        size_t n = strnlen(res.body, cap - 1);
        memcpy(body, res.body, n);
        body[n] = '\0';
    }
    return res.status;
}

/* Sends SIGHUP and waits until the daemon has logged the outcome. */
static void reload_and_wait(const char *log_line) {
    assert_int_equal(kill(daemon_proc.pid, SIGHUP), 0);
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(daemon_proc.log_path, "r");
        char line[1024];
        int seen = 0;
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, log_line)) seen++;
        if (f) fclose(f);
        if (seen > 0) return;
        sd_test_sleep_ms(20);
    }
    fail_msg("no \"%s\" in the log", log_line);
}

static void test_sighup_rotates_keys(void **state) {
    char body[1024];
    char *old_tok = token(old_key, "old", "alice");
    char *new_tok = token(new_key, "new", "bob");
    assert_int_equal(status_of(old_tok, NULL, 0), 200); /* verified and cached */
    assert_int_equal(status_of(new_tok, body, sizeof body), 401);
    assert_non_null(strstr(body, "\"reason\":\"kid_unknown\""));

    /* Rotate: the file now holds only the new key. */
    char *jwks = sd_test_jwks(new_key, "new", NULL);
    write_file(jwks_path, jwks);
    free(jwks);
    reload_and_wait("keys reloaded");
    assert_int_equal(status_of(new_tok, NULL, 0), 200);
    /* The old key is gone: its token fails although it was cached. */
    assert_int_equal(status_of(old_tok, body, sizeof body), 401);
    assert_non_null(strstr(body, "\"reason\":\"kid_unknown\""));

    /* A broken (truncated) file keeps the keys in use, and the log says
     * what is wrong with which file. */
    write_file(jwks_path, "{\"keys\": [ this is not json");
    char reason[512];
    snprintf(reason, sizeof reason,
             "\"reason\":\"instance rot: jwks_file %s: not valid JSON: invalid token "
             "near 'this' (line 1, column 15)\"",
             jwks_path);
    reload_and_wait(reason);
    assert_int_equal(status_of(new_tok, NULL, 0), 200);
    free(old_tok);
    free(new_tok);
}

/* Runs sessiond with args and returns its exit status; its stderr in err. */
static int sessiond_run(char *const args[], char *err, size_t cap) {
    const char *bin = getenv("SD_SESSIOND");
    char *argv[8] = {(char *)(bin ? bin : SD_BINARY_DIR "/sessiond")};
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    sd_test_run_result r;
    assert_int_equal(sd_test_run(&r, NULL, argv), 0);
    snprintf(err, cap, "%s", r.err ? r.err : "");
    int status = r.status;
    sd_test_run_free(&r);
    return status;
}

/* --check-config names a bad key file and nothing else: no libevent
 * warning from the cleanup of what was never started. */
static void test_check_config_names_bad_key_files(void **state) {
    char path[] = "/tmp/sd-test-config-XXXXXX", bad[] = "/tmp/sd-test-badjwks-XXXXXX";
    int fd = mkstemp(path), bfd = mkstemp(bad);
    assert_true(fd >= 0 && bfd >= 0);
    close(fd);
    close(bfd);
    char config[512], err[1024], expected[512];
    snprintf(config, sizeof config,
             "{\"redis\": {\"url\": \"redis://127.0.0.1:1\"}, \"instances\": [{\"name\": "
             "\"a\", \"issuer\": \"https://id.test/a\", \"jwks_file\": \"%s.missing\", "
             "\"license_limit\": 1}]}",
             bad);
    write_file(path, config);
    char *check[] = {"--check-config", "-c", path, NULL};
    assert_int_equal(sessiond_run(check, err, sizeof err), 1);
    snprintf(expected, sizeof expected,
             "sessiond: instance a: jwks_file %s.missing: file could not be read\n", bad);
    assert_string_equal(err, expected);

    snprintf(config, sizeof config,
             "{\"redis\": {\"url\": \"redis://127.0.0.1:1\"}, \"instances\": [{\"name\": "
             "\"a\", \"issuer\": \"https://id.test/a\", \"jwks_file\": \"%s\", "
             "\"license_limit\": 1}]}",
             bad);
    write_file(path, config);
    write_file(bad, "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"q");
    assert_int_equal(sessiond_run(check, err, sizeof err), 1);
    snprintf(expected, sizeof expected,
             "sessiond: instance a: jwks_file %s: not valid JSON: premature end of input "
             "near '\"q' (line 1, column 32)\n",
             bad);
    assert_string_equal(err, expected);
    unlink(path);
    unlink(bad);

    /* -c without its value. */
    char *no_file[] = {"--check-config", "-c", NULL};
    assert_int_equal(sessiond_run(no_file, err, sizeof err), 2);
    assert_memory_equal(err, "sessiond: -c needs a FILE\nusage: sessiond", 40);
}

/* log_level warn drops the request lines of answered requests but keeps
 * those of 5xx answers, which are logged at warn. Stops Redis: run last. */
static void test_log_level_warn_keeps_only_5xx_request_lines(void **state) {
    sd_test_daemon quiet;
    char config[1024];
    char *jwks = sd_test_jwks(new_key, "new", NULL); /* the first test broke it */
    write_file(jwks_path, jwks);
    free(jwks);
    snprintf(config, sizeof config,
             "{\"listen\": \"127.0.0.1:@PORT@\", \"log_level\": \"warn\","
             " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\","
             "              \"timeout\": \"200ms\"},"
             " \"instances\": [{\"name\": \"rot\", \"issuer\": \"https://id.test/rot\","
             "   \"jwks_file\": \"%s\", \"license_limit\": 10}]}",
             jwks_path);
    assert_int_equal(sd_test_daemon_start(&quiet, config, redis.port, 1), 0);
    sd_test_response res;
    assert_int_equal(sd_test_http(quiet.port, "GET", "/v1/auth", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 401);
    sd_test_redis_stop(&redis, 1);
    char *tok = token(new_key, "new", "carol");
    assert_int_equal(sd_test_http(quiet.port, "GET", "/v1/auth", tok, NULL, &res), 0);
    assert_int_equal(res.status, 503);
    free(tok);
    sd_test_daemon_stop(&quiet);

    FILE *f = fopen(quiet.log_path, "r");
    assert_non_null(f);
    char line[2048];
    int requests = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"msg\":\"request\"")) continue;
        requests++;
        assert_non_null(strstr(line, "\"level\":\"warn\""));
        assert_non_null(strstr(line, "\"status\":\"503\""));
        assert_non_null(strstr(line, "\"outcome\":\"store_unavailable\""));
    }
    fclose(f);
    unlink(quiet.log_path);
    assert_int_equal(requests, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sighup_rotates_keys),
        cmocka_unit_test(test_check_config_names_bad_key_files),
        cmocka_unit_test(test_log_level_warn_keeps_only_5xx_request_lines),
    };
    return cmocka_run_group_tests_name("key_reload", tests, setup, teardown);
}
