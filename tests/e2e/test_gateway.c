/* The deployment end to end (SPEC §6, issue 4): one redis-server, three
 * sessiond replicas and nginx in front of them, configured from the template
 * that docker-compose.yml and `scripts/dev up` use. Every request goes
 * through nginx unless a test wants one replica on purpose, and every
 * assertion is on what a client of the load balancer sees.
 *
 * Each test uses its own instance (selected with X-Instance, which nginx
 * passes on to the replicas and to the auth_request check) so tests cannot
 * see each other's sessions. The tests run in order: the last ones kill a
 * replica, then Redis, then every replica. Skipped (with the reason) only
 * when nginx is not installed. */
/* cmocka.h needs these three first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "gateway.h"
#include "harness.h"
#include "jws_mint.h"

enum { REPLICAS = 3 };

static sd_test_redis redis;
static sd_test_daemon replicas[REPLICAS];
static sd_test_nginx nginx;
static EVP_PKEY *key;
static char *key_path;
static const char *skip_reason;

/* Instances: one per test. pool: limit 3 with a 30 s idle time-out, so a
 * denial's Retry-After is known; demo: limit 2. */
static const char config_template[] =
    "{\"listen\": \"127.0.0.1:@PORT@\","
    " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\", \"timeout\": \"300ms\","
    "             \"reconnect_max\": \"200ms\"},"
    " \"replica_id\": \"%s\","
    " \"instances\": ["
    "  {\"name\": \"resume\", \"issuer\": \"https://id.test/resume\","
    "   \"pem_keys\": [{\"path\": \"%s\", \"kid\": \"k1\"}], \"license_limit\": 5},"
    "  {\"name\": \"pool\", \"issuer\": \"https://id.test/pool\","
    "   \"pem_keys\": [{\"path\": \"%s\", \"kid\": \"k1\"}], \"license_limit\": 3,"
    "   \"sliding\": \"30s\"},"
    "  {\"name\": \"logout\", \"issuer\": \"https://id.test/logout\","
    "   \"pem_keys\": [{\"path\": \"%s\", \"kid\": \"k1\"}], \"license_limit\": 5},"
    "  {\"name\": \"demo\", \"issuer\": \"https://id.test/demo\","
    "   \"pem_keys\": [{\"path\": \"%s\", \"kid\": \"k1\"}], \"license_limit\": 2,"
    "   \"sliding\": \"30s\"},"
    "  {\"name\": \"other\", \"issuer\": \"https://id.test/other\","
    "   \"pem_keys\": [{\"path\": \"%s\", \"kid\": \"k1\"}], \"license_limit\": 5},"
    "  {\"name\": \"kill\", \"issuer\": \"https://id.test/kill\","
    "   \"pem_keys\": [{\"path\": \"%s\", \"kid\": \"k1\"}], \"license_limit\": 5},"
    "  {\"name\": \"big\", \"issuer\": \"https://id.test/big\","
    "   \"pem_keys\": [{\"path\": \"%s\", \"kid\": \"k1\"}], \"license_limit\": 5}"
    " ]}";

static const char *const replica_ids[REPLICAS] = {"e2e-1", "e2e-2", "e2e-3"};

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

static int setup(void **state) {
    if (!sd_test_nginx_binary()) {
        skip_reason = "nginx is not installed (./scripts/deps installs it)";
        return 0;
    }
    key = EVP_RSA_gen(2048);
    key_path = key ? sd_test_public_pem_file(key) : NULL;
    if (!key_path || sd_test_redis_start(&redis)) return -1;
    int ports[REPLICAS];
    for (int i = 0; i < REPLICAS; i++) {
        char config[4096];
        snprintf(config, sizeof config, config_template, replica_ids[i], key_path,
                 key_path, key_path, key_path, key_path, key_path, key_path);
        if (sd_test_daemon_start(&replicas[i], config, redis.port, 1)) return -1;
        ports[i] = replicas[i].port;
    }
    return sd_test_nginx_start(&nginx, ports, REPLICAS);
}

static int teardown(void **state) {
    sd_test_nginx_stop(&nginx);
    for (int i = 0; i < REPLICAS; i++)
        sd_test_daemon_stop(&replicas[i]);
    sd_test_redis_stop(&redis, 0);
    if (key_path) unlink(key_path);
    free(key_path);
    EVP_PKEY_free(key);
    return 0;
}

#define SKIP_WITHOUT_NGINX()                                                             \
    do {                                                                                 \
        if (skip_reason) {                                                               \
            print_message("skipped: %s\n", skip_reason);                                 \
            skip();                                                                      \
        }                                                                                \
    } while (0)

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* An RS256 token of instance inst; sub and sid may be NULL (sub may be a
 * few KB long). Caller frees. */
static char *mint(const char *inst, const char *sub, const char *sid) {
    size_t cap = 512 + (sub ? strlen(sub) : 0);
    char *payload = malloc(cap), *sub_claim = malloc(cap), sid_claim[96] = "";
    assert_non_null(payload);
    assert_non_null(sub_claim);
    sub_claim[0] = '\0';
    if (sub) snprintf(sub_claim, cap, ",\"sub\":\"%s\"", sub);
    if (sid) snprintf(sid_claim, sizeof sid_claim, ",\"sid\":\"%s\"", sid);
    snprintf(payload, cap,
             "{\"iss\":\"https://id.test/%s\",\"client_id\":\"erp-web\","
             "\"exp\":%ld%s%s}",
             inst, (long)time(NULL) + 600, sub_claim, sid_claim);
    char *t =
        sd_test_jws_sign("{\"alg\":\"RS256\",\"kid\":\"k1\"}", payload, "RS256", key);
    assert_non_null(t);
    free(sub_claim);
    free(payload);
    return t;
}

/* One request through nginx (port 0) or to a replica's own port. */
static void call_port(int port, const char *method, const char *path, const char *inst,
                      const char *token, const char *extra, sd_test_response *res) {
    char headers[512];
    snprintf(headers, sizeof headers, "X-Instance: %s\r\n%s", inst, extra ? extra : "");
    assert_int_equal(
        sd_test_http(port ? port : nginx.port, method, path, token, headers, res), 0);
}

static void call(const char *method, const char *path, const char *inst,
                 const char *token, sd_test_response *res) {
    call_port(0, method, path, inst, token, NULL, res);
}

static void header(const sd_test_response *res, const char *name, char *out, size_t cap) {
    if (sd_test_header(res, name, out, cap) != 0)
        fail_msg("header %s missing in:\n%s", name, res->headers);
}

static int replica_index(const char *served_by) {
    for (int i = 0; i < REPLICAS; i++)
        if (strcmp(served_by, replica_ids[i]) == 0) return i;
    fail_msg("X-Served-By '%s' is no replica of this test", served_by);
    return -1;
}

static long long usage(const char *inst) { return sd_test_usage(&redis, inst); }

/* The demo API's JSON answer, parsed; caller decrefs. */
static json_t *body_json(const sd_test_response *res) {
    json_error_t jerr;
    json_t *doc = json_loads(res->body, 0, &jerr);
    if (!doc) fail_msg("body is not JSON (%s): %s", jerr.text, res->body);
    return doc;
}

static const char *json_path_str(json_t *doc, const char *obj, const char *field) {
    json_t *o = obj ? json_object_get(doc, obj) : doc;
    const char *s = json_string_value(json_object_get(o, field));
    if (!s) fail_msg("no string %s.%s in the body", obj ? obj : "", field);
    return s;
}

/* ------------------------------------------------------------------------
 * Balancing and shared state
 * ------------------------------------------------------------------------ */

static void test_session_resumes_across_replicas(void **state) {
    SKIP_WITHOUT_NGINX();
    char *token = mint("resume", "alice", "sid-resume");
    sd_test_response res;
    char first[64], id[64], served[32];
    int served_count[REPLICAS] = {0};
    for (int i = 0; i < 9; i++) {
        call("GET", "/v1/auth", "resume", token, &res);
        assert_int_equal(res.status, 200);
        header(&res, "X-Session-Id", id, sizeof id);
        header(&res, "X-Served-By", served, sizeof served);
        if (i == 0) memcpy(first, id, sizeof id);
        assert_string_equal(id, first);
        served_count[replica_index(served)]++;
    }
    /* Round robin over three healthy replicas: each served a third, and
     * all nine requests were one session. */
    for (int i = 0; i < REPLICAS; i++)
        assert_int_equal(served_count[i], 3);
    assert_int_equal(
        sd_test_redis_int(&redis, "HGET sd:{resume}:session:%s requests", first), 9);
    assert_int_equal(usage("resume"), 1);

    /* /v1/session answers from whichever replica, resumed. */
    call("GET", "/v1/session", "resume", token, &res);
    assert_int_equal(res.status, 200);
    json_t *doc = body_json(&res);
    assert_string_equal(json_path_str(doc, "session", "id"), first);
    assert_true(
        json_is_true(json_object_get(json_object_get(doc, "session"), "resumed")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "session"), "requests")),
        10);
    json_decref(doc);
    free(token);
}

typedef struct race_arg {
    char *token;
    int status;
    char served_by[32];
    char retry_after[16];
    char body[512];
    pthread_barrier_t *start;
} race_arg;

static void *race_worker(void *p) {
    race_arg *arg = p;
    pthread_barrier_wait(arg->start);
    sd_test_response res;
    if (sd_test_http(nginx.port, "GET", "/v1/auth", arg->token, "X-Instance: pool\r\n",
                     &res) == 0) {
        arg->status = res.status;
        sd_test_header(&res, "X-Served-By", arg->served_by, sizeof arg->served_by);
        sd_test_header(&res, "Retry-After", arg->retry_after, sizeof arg->retry_after);
        /* Denials' bodies are short; a cut one fails the assertions. */
        size_t n = strnlen(res.body, sizeof arg->body - 1);
        memcpy(arg->body, res.body, n);
        arg->body[n] = '\0';
    }
    return NULL;
}

static void test_license_limit_holds_across_replicas(void **state) {
    SKIP_WITHOUT_NGINX();
    enum { N = 10 };
    race_arg args[N];
    pthread_t threads[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "user-%d", i);
        args[i] = (race_arg){.token = mint("pool", sub, sub), .start = &start};
    }
    long long before = sd_test_redis_time_ms(&redis);
    for (int i = 0; i < N; i++)
        pthread_create(&threads[i], NULL, race_worker, &args[i]);
    for (int i = 0; i < N; i++)
        pthread_join(threads[i], NULL);
    long long after = sd_test_redis_time_ms(&redis);
    pthread_barrier_destroy(&start);

    /* Every denial was decided with three sessions open, so its Retry-After
     * counts to the earliest of the three final expiries. */
    redisContext *c = sd_test_redis_connect(&redis);
    redisReply *r = redisCommand(c, "ZRANGE sd:{pool}:slots 0 0 WITHSCORES");
    assert_int_equal(r->elements, 2);
    long long earliest = atoll(r->element[1]->str);
    freeReplyObject(r);
    redisFree(c);
    long long lo = (earliest - after + 999) / 1000, hi = (earliest - before + 999) / 1000;

    int opened = 0, denied = 0, served[REPLICAS] = {0};
    for (int i = 0; i < N; i++) {
        served[replica_index(args[i].served_by)]++;
        if (args[i].status == 200) {
            opened++;
        } else {
            assert_int_equal(args[i].status, 429);
            denied++;
            long long retry = atoll(args[i].retry_after);
            if (retry < lo || retry > hi)
                fail_msg("Retry-After %lld not in [%lld, %lld]", retry, lo, hi);
            assert_non_null(strstr(args[i].body, "\"error\":\"license_limit_reached\""));
            assert_non_null(strstr(args[i].body, "\"used\":3,\"limit\":3"));
        }
        free(args[i].token);
    }
    assert_int_equal(opened, 3);
    assert_int_equal(denied, 7);
    assert_int_equal(usage("pool"), 3);
    /* Ten requests round robin over three replicas: 4 + 3 + 3, so every
     * replica took part in enforcing the one limit. */
    for (int i = 0; i < REPLICAS; i++)
        if (served[i] < 3 || served[i] > 4)
            fail_msg("replica %s served %d of %d", replica_ids[i], served[i], N);
}

static void test_logout_through_one_is_seen_by_all(void **state) {
    SKIP_WITHOUT_NGINX();
    char *token = mint("logout", "bob", "sid-logout");
    sd_test_response res;
    char id1[64], id2[64], opened_by[32], closed_by[32];
    call("GET", "/v1/auth", "logout", token, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id1, sizeof id1);
    header(&res, "X-Served-By", opened_by, sizeof opened_by);
    call("DELETE", "/v1/session", "logout", token, &res);
    assert_int_equal(res.status, 204);
    header(&res, "X-Served-By", closed_by, sizeof closed_by);
    assert_string_not_equal(opened_by, closed_by);
    assert_int_equal(usage("logout"), 0);

    /* Asked directly, every replica finds no open session to close. */
    for (int i = 0; i < REPLICAS; i++) {
        call_port(replicas[i].port, "DELETE", "/v1/session", "logout", token, NULL, &res);
        assert_int_equal(res.status, 404);
        assert_non_null(strstr(res.body, "\"error\":\"not_found\""));
    }
    /* The token is still valid: the next request, on another replica, opens
     * a new session rather than resuming the closed one. */
    int other = (replica_index(closed_by) + 1) % REPLICAS;
    call_port(replicas[other].port, "GET", "/v1/session", "logout", token, NULL, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id2, sizeof id2);
    assert_string_not_equal(id1, id2);
    assert_non_null(strstr(res.body, "\"resumed\":false"));
    assert_int_equal(usage("logout"), 1);
    free(token);
}

/* ------------------------------------------------------------------------
 * The demo API behind auth_request
 * ------------------------------------------------------------------------ */

static void test_demo_api_without_or_with_bad_token_is_401(void **state) {
    SKIP_WITHOUT_NGINX();
    sd_test_response res;
    char value[256];
    call("GET", "/api/orders", "demo", NULL, &res);
    assert_int_equal(res.status, 401);
    assert_string_equal(res.body,
                        "{\"error\":\"invalid_token\",\"reason\":\"token_missing\","
                        "\"message\":\"a valid bearer token is required\"}");
    header(&res, "Content-Type", value, sizeof value);
    assert_string_equal(value, "application/json");
    header(&res, "WWW-Authenticate", value, sizeof value);
    assert_string_equal(
        value, "Bearer error=\"invalid_token\", error_description=\"token_missing\"");
    header(&res, "X-Authorized-By", value, sizeof value);
    replica_index(value);

    /* A well-formed token with a wrong signature letter. */
    char *token = mint("demo", "eve", "sid-eve");
    char *sig = &token[strlen(token) - 5];
    *sig = *sig == 'A' ? 'B' : 'A';
    call("GET", "/api/orders", "demo", token, &res);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(res.body, "\"reason\":\"signature_invalid\""));
    free(token);
    assert_int_equal(usage("demo"), 0);
}

static void test_demo_api_passes_session_headers(void **state) {
    SKIP_WITHOUT_NGINX();
    char *token = mint("demo", "carol", "sid-carol");
    sd_test_response res;
    char authorised_by[32], expires[64], id[64];
    /* A client's own X-Session-* headers never reach the API. */
    call_port(0, "GET", "/api/orders", "demo", token,
              "X-Session-Subject: mallory\r\nX-Session-Id: forged\r\n", &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Authorized-By", authorised_by, sizeof authorised_by);
    replica_index(authorised_by);
    json_t *doc = body_json(&res);
    assert_string_equal(json_path_str(doc, NULL, "api"), "demo");
    assert_string_equal(json_path_str(doc, "session", "subject"), "carol");
    assert_string_equal(json_path_str(doc, "session", "kind"), "interactive");
    assert_string_equal(json_path_str(doc, NULL, "authorized_by"), authorised_by);
    snprintf(id, sizeof id, "%s", json_path_str(doc, "session", "id"));
    snprintf(expires, sizeof expires, "%s", json_path_str(doc, "session", "expires"));
    json_decref(doc);
    assert_int_equal(strlen(id), 22);
    assert_int_equal(sd_test_redis_int(&redis, "EXISTS sd:{demo}:session:%s", id), 1);
    assert_int_equal(strlen(expires), strlen("2026-12-03T10:20:00.000Z"));
    assert_int_equal(expires[strlen(expires) - 1], 'Z');

    /* A service token has no subject: the forged one is dropped, not kept. */
    char *service = mint("demo", NULL, NULL);
    call_port(0, "GET", "/api/orders", "demo", service, "X-Session-Subject: mallory\r\n",
              &res);
    assert_int_equal(res.status, 200);
    doc = body_json(&res);
    assert_string_equal(json_path_str(doc, "session", "subject"), "");
    assert_string_equal(json_path_str(doc, "session", "kind"), "service");
    assert_string_not_equal(json_path_str(doc, "session", "id"), id);
    json_decref(doc);
    assert_int_equal(usage("demo"), 2);

    /* carol again, checked by the next replica in turn: the same session. */
    call("GET", "/api/orders", "demo", token, &res);
    assert_int_equal(res.status, 200);
    char again_by[32];
    header(&res, "X-Authorized-By", again_by, sizeof again_by);
    assert_string_not_equal(again_by, authorised_by);
    doc = body_json(&res);
    assert_string_equal(json_path_str(doc, "session", "id"), id);
    json_decref(doc);
    free(service);
    free(token);
}

static void test_demo_api_refusals_map_to_statuses(void **state) {
    SKIP_WITHOUT_NGINX();
    /* demo's two slots are held by the previous test's sessions. */
    assert_int_equal(usage("demo"), 2);
    char *token = mint("demo", "dave", "sid-dave");
    sd_test_response res;
    char retry[16], expected[256];
    long long expiry_first = -1;
    redisContext *c = sd_test_redis_connect(&redis);
    redisReply *r = redisCommand(c, "ZRANGE sd:{demo}:slots 0 0 WITHSCORES");
    assert_int_equal(r->elements, 2);
    expiry_first = atoll(r->element[1]->str);
    freeReplyObject(r);
    redisFree(c);
    long long before = sd_test_redis_time_ms(&redis);
    call("GET", "/api/orders", "demo", token, &res);
    long long after = sd_test_redis_time_ms(&redis);
    assert_int_equal(res.status, 429);
    header(&res, "Retry-After", retry, sizeof retry);
    long long got = atoll(retry);
    long long lo = (expiry_first - after + 999) / 1000,
              hi = (expiry_first - before + 999) / 1000;
    if (got < lo || got > hi)
        fail_msg("Retry-After %lld not in [%lld, %lld]", got, lo, hi);
    snprintf(expected, sizeof expected,
             "{\"error\":\"license_limit_reached\",\"message\":\"the session limit is "
             "reached\",\"retry_after\":%lld}",
             got);
    assert_string_equal(res.body, expected);
    assert_int_equal(usage("demo"), 2);
    free(token);

    /* A valid token of another instance: 403 with sessiond's error code. */
    token = mint("other", "dave", "sid-dave");
    call("GET", "/api/orders", "demo", token, &res);
    assert_int_equal(res.status, 403);
    assert_string_equal(res.body, "{\"error\":\"wrong_instance\","
                                  "\"message\":\"this token is not valid here\"}");
    free(token);
}

/* Refusals other than 401/403 (which auth_request passes on itself) keep
 * their status: a 404 is not a retryable 503. */
static void test_demo_api_refusals_keep_their_status(void **state) {
    SKIP_WITHOUT_NGINX();
    sd_test_response res;
    char value[64];
    char *token = mint("other", "erin", "sid-erin");
    call("GET", "/api/hello", "nope", token, &res);
    assert_int_equal(res.status, 404);
    assert_string_equal(res.body, "{\"error\":\"unknown_instance\","
                                  "\"message\":\"the request was refused\"}");
    assert_int_not_equal(sd_test_header(&res, "Retry-After", value, sizeof value), 0);
    header(&res, "X-Authorized-By", value, sizeof value);
    replica_index(value);

    call("GET", "/api/hello", "demo", token, &res);
    assert_int_equal(res.status, 403);
    assert_string_equal(res.body, "{\"error\":\"wrong_instance\","
                                  "\"message\":\"this token is not valid here\"}");
    assert_int_equal(usage("other"), 0);
    free(token);
}

/* The demo API builds its body with nginx's `return`, which cannot escape
 * JSON: a subject with a quote must not add members to it. Such a subject
 * (and one beyond the safe ASCII set) shows as "(not shown)". */
static void test_demo_api_subject_cannot_inject_json(void **state) {
    SKIP_WITHOUT_NGINX();
    static const char *const subs[] = {
        "a\\\",\\\"admin\\\":true,\\\"x\\\":\\\"", /* a","admin":true,"x":" */
        "back\\\\slash",                           /* back\slash */
        "J\\u00fcrgen",                            /* not ASCII */
    };
    sd_test_response res;
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        char sid[32];
        snprintf(sid, sizeof sid, "sid-inject-%zu", i);
        char *token = mint("big", subs[i], sid);
        call("GET", "/api/hello", "big", token, &res);
        assert_int_equal(res.status, 200);
        json_t *doc = body_json(&res);
        assert_int_equal(json_object_size(doc), 3);
        assert_null(json_object_get(doc, "admin"));
        assert_null(json_object_get(doc, "x"));
        json_t *session = json_object_get(doc, "session");
        assert_int_equal(json_object_size(session), 4);
        assert_string_equal(json_path_str(doc, "session", "subject"), "(not shown)");
        assert_string_equal(json_path_str(doc, "session", "kind"), "interactive");
        assert_int_equal(strlen(json_path_str(doc, "session", "id")), 22);
        json_decref(doc);
        call("DELETE", "/v1/session", "big", token, &res); /* frees the slot */
        assert_int_equal(res.status, 204);
        free(token);
    }
    /* A plain subject is shown as it is. */
    char *token = mint("big", "ann.lee+ops@example.com", "sid-inject-plain");
    call("GET", "/api/hello", "big", token, &res);
    assert_int_equal(res.status, 200);
    json_t *doc = body_json(&res);
    assert_string_equal(json_path_str(doc, "session", "subject"),
                        "ann.lee+ops@example.com");
    json_decref(doc);
    call("DELETE", "/v1/session", "big", token, &res);
    assert_int_equal(res.status, 204);
    free(token);
}

/* A 5000-character sub makes sessiond's reply headers larger than nginx's
 * default 4k proxy buffer: nginx used to answer 503 and count it as the
 * replica's failure, so three such requests emptied the pool for 10 s. */
static void test_big_subject_passes_and_keeps_replicas(void **state) {
    SKIP_WITHOUT_NGINX();
    enum { SUB_LEN = 5000 };
    char *sub = malloc(SUB_LEN + 1);
    assert_non_null(sub);
    for (int i = 0; i < SUB_LEN; i++)
        sub[i] = (char)('a' + i % 26);
    sub[SUB_LEN] = '\0';
    char *token = mint("big", sub, "sid-big");
    sd_test_response res;
    char *value = malloc(SUB_LEN + 64);
    assert_non_null(value);
    for (int i = 0; i < REPLICAS; i++) {
        call("GET", "/v1/auth", "big", token, &res);
        assert_int_equal(res.status, 200);
        header(&res, "X-Session-Subject", value, SUB_LEN + 64);
        assert_string_equal(value, sub);

        call("GET", "/api/hello", "big", token, &res);
        assert_int_equal(res.status, 200);
        json_t *doc = body_json(&res);
        assert_string_equal(json_path_str(doc, "session", "subject"), sub);
        json_decref(doc);
    }
    assert_int_equal(usage("big"), 1);

    /* Every replica is still in the pool: three plain requests in a row
     * are served by the three of them. */
    char *plain = mint("big", "frank", "sid-frank");
    int served_count[REPLICAS] = {0};
    char served[32];
    for (int i = 0; i < REPLICAS; i++) {
        call("GET", "/v1/auth", "big", plain, &res);
        assert_int_equal(res.status, 200);
        header(&res, "X-Served-By", served, sizeof served);
        served_count[replica_index(served)]++;
    }
    for (int i = 0; i < REPLICAS; i++)
        assert_int_equal(served_count[i], 1);
    free(plain);
    free(value);
    free(token);
    free(sub);
}

/* ------------------------------------------------------------------------
 * Failures
 * ------------------------------------------------------------------------ */

static void test_killing_a_replica_loses_no_session(void **state) {
    SKIP_WITHOUT_NGINX();
    enum { USERS = 3, ROUNDS = 30, KILL_AT = 10, VICTIM = 1 };
    char *tokens[USERS];
    char ids[USERS][64], id[64], served[32];
    sd_test_response res;
    for (int u = 0; u < USERS; u++) {
        char sub[16];
        snprintf(sub, sizeof sub, "k%d", u);
        tokens[u] = mint("kill", sub, sub);
        call("GET", "/v1/auth", "kill", tokens[u], &res);
        assert_int_equal(res.status, 200);
        header(&res, "X-Session-Id", ids[u], sizeof ids[u]);
    }
    int after_kill[REPLICAS] = {0};
    for (int i = 0; i < ROUNDS; i++) {
        if (i == KILL_AT) {
            /* No drain, no goodbye: the replica and its keepalive
             * connections from nginx vanish mid-stream. */
            assert_int_equal(kill(replicas[VICTIM].pid, SIGKILL), 0);
            waitpid(replicas[VICTIM].pid, NULL, 0);
            replicas[VICTIM].pid = 0;
        }
        int u = i % USERS;
        call("GET", i % 2 ? "/v1/session" : "/v1/auth", "kill", tokens[u], &res);
        assert_int_equal(res.status, 200);
        header(&res, "X-Session-Id", id, sizeof id);
        assert_string_equal(id, ids[u]);
        header(&res, "X-Served-By", served, sizeof served);
        if (i >= KILL_AT) after_kill[replica_index(served)]++;
    }
    assert_int_equal(after_kill[VICTIM], 0);
    assert_int_equal(after_kill[0] + after_kill[2], ROUNDS - KILL_AT);
    assert_true(after_kill[0] > 0 && after_kill[2] > 0);
    assert_int_equal(usage("kill"), USERS);

    /* The demo API is still guarded and served. */
    call("GET", "/api/orders", "kill", tokens[0], &res);
    assert_int_equal(res.status, 200);
    json_t *doc = body_json(&res);
    assert_string_equal(json_path_str(doc, "session", "id"), ids[0]);
    assert_string_not_equal(json_path_str(doc, NULL, "authorized_by"),
                            replica_ids[VICTIM]);
    json_decref(doc);
    for (int u = 0; u < USERS; u++)
        free(tokens[u]);
}

static void test_redis_down_then_replicas_down_is_503(void **state) {
    SKIP_WITHOUT_NGINX();
    char *token = mint("demo", "carol", "sid-carol");
    sd_test_response res;
    char value[64];
    sd_test_redis_stop(&redis, 1);

    /* Fail closed: nothing is let through without Redis. */
    call("GET", "/api/orders", "demo", token, &res);
    assert_int_equal(res.status, 503);
    header(&res, "Retry-After", value, sizeof value);
    assert_string_equal(value, "1");
    assert_string_equal(res.body,
                        "{\"error\":\"store_unavailable\","
                        "\"message\":\"sessions cannot be checked right now\"}");
    call("GET", "/v1/auth", "demo", token, &res);
    assert_int_equal(res.status, 503);
    header(&res, "X-Session-Error", value, sizeof value);
    assert_string_equal(value, "store_unavailable");
    assert_non_null(strstr(res.body, "\"error\":\"store_unavailable\""));

    /* No replica at all: nginx answers for them, as JSON. */
    for (int i = 0; i < REPLICAS; i++)
        sd_test_daemon_stop(&replicas[i]);
    call("GET", "/api/orders", "demo", token, &res);
    assert_int_equal(res.status, 503);
    header(&res, "Retry-After", value, sizeof value);
    assert_string_equal(value, "1");
    assert_string_equal(res.body,
                        "{\"error\":\"gateway_unavailable\","
                        "\"message\":\"sessions cannot be checked right now\"}");
    call("GET", "/v1/auth", "demo", token, &res);
    assert_int_equal(res.status, 503);
    assert_string_equal(res.body, "{\"error\":\"gateway_unavailable\","
                                  "\"message\":\"no sessiond replica answered\"}");
    free(token);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_resumes_across_replicas),
        cmocka_unit_test(test_license_limit_holds_across_replicas),
        cmocka_unit_test(test_logout_through_one_is_seen_by_all),
        cmocka_unit_test(test_demo_api_without_or_with_bad_token_is_401),
        cmocka_unit_test(test_demo_api_passes_session_headers),
        cmocka_unit_test(test_demo_api_refusals_map_to_statuses),
        cmocka_unit_test(test_demo_api_refusals_keep_their_status),
        cmocka_unit_test(test_big_subject_passes_and_keeps_replicas),
        cmocka_unit_test(test_demo_api_subject_cannot_inject_json),
        cmocka_unit_test(test_killing_a_replica_loses_no_session),
        cmocka_unit_test(test_redis_down_then_replicas_down_is_503),
    };
    return cmocka_run_group_tests_name("gateway", tests, setup, teardown);
}
