/* The attack suite over the real HTTP path: every hostile token of
 * tests/support/attack_tokens.c is sent to a running sessiond (real
 * redis-server) and must get 401 with its exact reason, open nothing in
 * Redis, fetch nothing from the URLs its headers name, and leave the
 * daemon serving.
 *
 * The instance allows 16 KiB tokens (so a 10 KB kid reaches the key lookup)
 * and 128 KiB of headers (so a 64 KiB token reaches the verifier, which
 * refuses it unread). A 12 MiB token is over the header limit: evhttp
 * answers it itself (see the case's http_status) before any of our code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "attack_tokens.h"
#include "harness.h"
#include "idp_server.h"
#include "jws_mint.h"

#define ISS "https://id.attack.test"
#define AUD "erp-api"

static sd_test_redis redis;
static sd_test_daemon daemon_proc;
static sd_test_idp *trap; /* where jku and x5u point */
static sd_attack_keys keys;
static char jwks_path[] = "/tmp/sd-test-attack-jwks-XXXXXX";

static int setup(void **state) {
    if (sd_attack_keys_make(&keys) != 0) return -1;
    int fd = mkstemp(jwks_path);
    if (fd < 0) return -1;
    size_t n = strlen(keys.jwks);
    if (write(fd, keys.jwks, n) != (ssize_t)n) return -1;
    close(fd);
    if (!(trap = sd_test_idp_start(NULL, NULL))) return -1;
    if (sd_test_redis_start(&redis)) return -1;
    char config[1024];
    snprintf(config, sizeof config,
             "{\"listen\": \"127.0.0.1:@PORT@\","
             " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\"},"
             " \"max_token_bytes\": %d, \"max_header_bytes\": 131072,"
             " \"instances\": [{\"name\": \"attack\", \"issuer\": \"" ISS "\","
             "   \"audience\": \"" AUD "\", \"jwks_file\": \"%s\", \"license_limit\": 10}]}",
             SD_ATTACK_MAX_TOKEN_BYTES, jwks_path);
    return sd_test_daemon_start(&daemon_proc, config, redis.port, 1);
}

static int teardown(void **state) {
    sd_test_daemon_stop(&daemon_proc);
    unlink(daemon_proc.log_path);
    sd_test_redis_stop(&redis, 0);
    sd_test_idp_stop(trap);
    unlink(jwks_path);
    sd_attack_keys_free(&keys);
    return 0;
}

/* The "reason" member of a JSON error body, into out ("" if none). */
static void reason_of(const char *body, char *out, size_t cap) {
    const char *r = strstr(body, "\"reason\":\"");
    size_t n = 0;
    if (r) {
        r += 10;
        while (r[n] && r[n] != '"' && n + 1 < cap) n++;
        memcpy(out, r, n);
    }
    out[n] = '\0';
}

/* Sends a request whose header block is far over the limit. The server may
 * answer and close before it has read everything, so writing stops at the
 * first error and whatever answer came is read. Returns the status, 0 when
 * the connection was closed without one, -1 on connect failure. */
static int send_huge(int port, const char *token, size_t len) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    static const char head[] = "GET /v1/auth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Connection: close\r\nAuthorization: Bearer ";
    int ok = send(fd, head, sizeof head - 1, MSG_NOSIGNAL) > 0;
    for (size_t off = 0; ok && off < len;) {
        ssize_t n = send(fd, token + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += (size_t)n;
    }
    if (ok) send(fd, "\r\n\r\n", 4, MSG_NOSIGNAL);
    char buf[4096];
    ssize_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - (size_t)got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += n;
        if ((size_t)got >= sizeof buf - 1) break;
    }
    close(fd);
    buf[got > 0 ? got : 0] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) status = 0;
    return status;
}

static long long count_keys(const char *pattern) {
    return sd_test_redis_int(&redis, "EVAL %s 0 %s", "return #redis.call('keys', ARGV[1])",
                             pattern);
}

static void test_every_case_refused_over_http(void **state) {
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", sd_test_idp_port(trap));
    sd_attack_case *cases = NULL;
    size_t n = sd_attack_build(&keys, ISS, AUD, (long)time(NULL), url, &cases);
    assert_true(n >= 40);
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        const sd_attack_case *c = &cases[i];
        int status;
        char why[64] = "";
        if (c->len > 1024 * 1024) {
            status = send_huge(daemon_proc.port, c->token, c->len);
        } else {
            sd_test_response res;
            assert_int_equal(
                sd_test_http(daemon_proc.port, "GET", "/v1/auth", c->token, NULL, &res), 0);
            status = res.status;
            reason_of(res.body, why, sizeof why);
        }
        const char *want = c->http_reason ? c->http_reason : "";
        if (status != c->http_status || strcmp(why, want) != 0) {
            fprintf(stderr, "%s: got %d \"%s\", want %d \"%s\"\n", c->name, status, why,
                    c->http_status, want);
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
    sd_attack_free(cases, n);

    /* Nothing was opened, nothing was fetched, the daemon is still up. */
    assert_int_equal(sd_test_usage(&redis, "attack"), 0);
    assert_int_equal(count_keys("sd:{attack}:session:*"), 0);
    assert_int_equal(count_keys("sd:{attack}:binding:*"), 0);
    assert_int_equal(sd_test_redis_int(&redis, "ZCARD sd:{attack}:slots"), 0);
    assert_int_equal(sd_test_idp_hits(trap), 0);
    sd_test_response res;
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/readyz", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 200);

    /* The same instance opens a session for a good token: the refusals above
     * are the tokens' doing. */
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"ann\",\"client_id\":\"web\","
             "\"exp\":%ld}",
             (long)time(NULL) + 600);
    char *tok = sd_test_jws_sign("{\"alg\":\"RS256\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}",
                                 payload, "RS256", keys.rsa);
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", tok, NULL, &res), 0);
    free(tok);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_usage(&redis, "attack"), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_case_refused_over_http),
    };
    return cmocka_run_group_tests_name("attack_http", tests, setup, teardown);
}
