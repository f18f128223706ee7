/* Sessions end to end: a real redis-server, a real sessiond, real HTTP on
 * loopback and RS256 tokens signed with a key made for this run (SPEC §1,
 * §4, §5). Each test uses its own instance (own hash tag), selected with the
 * X-Instance header, so tests cannot see each other's sessions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "fire.h"
#include "harness.h"

/* ------------------------------------------------------------------------
 * Fixture: one Redis, one sessiond, one signing key for the whole file.
 * ------------------------------------------------------------------------ */

static sd_test_redis redis;
static sd_test_daemon daemon_proc;
/* A second sessiond of one test, stopped by the teardown if it failed. */
static sd_test_daemon lonely;
static char private_pem[4096];
static char public_pem_path[128] = "/tmp/sd-test-pub-XXXXXX";

/* Instances: name, limit, sliding, absolute. Timings are short so that the
 * tests wait a fraction of a second, never minutes. */
static const char config_template[] =
    "{\"listen\": \"127.0.0.1:@PORT@\","
    " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\", \"timeout\": \"300ms\","
    "             \"reconnect_max\": \"200ms\"},"
    " \"sweep_interval\": \"100ms\", \"replica_id\": \"it-1\","
    " \"instances\": ["
    "  {\"name\": \"basic\", \"issuer\": \"https://id.test/basic\", \"audience\": \"erp\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 3},"
    "  {\"name\": \"idle\", \"issuer\": \"https://id.test/idle\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 3,"
    "   \"sliding\": \"600ms\"},"
    "  {\"name\": \"absolute\", \"issuer\": \"https://id.test/absolute\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 3,"
    "   \"sliding\": \"5s\", \"absolute\": \"700ms\"},"
    "  {\"name\": \"limit\", \"issuer\": \"https://id.test/limit\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 2,"
    "   \"sliding\": \"20s\"},"
    "  {\"name\": \"race\", \"issuer\": \"https://id.test/race\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 5},"
    "  {\"name\": \"same\", \"issuer\": \"https://id.test/same\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 5},"
    "  {\"name\": \"outage\", \"issuer\": \"https://id.test/outage\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 5}"
    " ]}";

static int make_key(void) {
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    if (!pkey) return -1;
    BIO *mem = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL);
    int n = BIO_read(mem, private_pem, sizeof private_pem - 1);
    BIO_free(mem);
    int fd = mkstemp(public_pem_path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok = n > 0 && f && PEM_write_PUBKEY(f, pkey);
    if (f) fclose(f);
    EVP_PKEY_free(pkey);
    if (!ok) return -1;
    private_pem[n] = '\0';
    return 0;
}

static char *replace(const char *text, const char *what, const char *with) {
    size_t wl = strlen(what), tl = strlen(with), n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += wl) n++;
    char *out = malloc(strlen(text) + n * tl + 1), *o = out;
    for (const char *p = text, *q;; p = q + wl) {
        q = strstr(p, what);
        size_t chunk = q ? (size_t)(q - p) : strlen(p);
        memcpy(o, p, chunk);
        o += chunk;
        if (!q) break;
        memcpy(o, with, tl);
        o += tl;
    }
    *o = '\0';
    return out;
}

static int setup(void **state) {
    if (make_key() || sd_test_redis_start(&redis)) return -1;
    char *config = replace(config_template, "@KEY@", public_pem_path);
    int rc = sd_test_daemon_start(&daemon_proc, config, redis.port, 1);
    free(config);
    return rc;
}

static int teardown(void **state) {
    sd_test_daemon_stop(&lonely);
    sd_test_daemon_stop(&daemon_proc);
    sd_test_redis_stop(&redis, 0);
    unlink(public_pem_path);
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Mints an RS256 token with libjwt (an independent producer) for instance
 * `inst`. sub, client, sid, jti may be NULL (claim left out). Caller frees. */
static char *mint(const char *inst, const char *sub, const char *client,
                  const char *sid, const char *jti, long ttl_s) {
    jwt_t *jwt = NULL;
    jwt_new(&jwt);
    char iss[128];
    snprintf(iss, sizeof iss, "https://id.test/%s", inst);
    jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)private_pem,
                (int)strlen(private_pem));
    jwt_add_header(jwt, "kid", "k1");
    jwt_add_grant(jwt, "iss", iss);
    if (strcmp(inst, "basic") == 0) jwt_add_grant(jwt, "aud", "erp");
    if (sub) jwt_add_grant(jwt, "sub", sub);
    if (client) jwt_add_grant(jwt, "client_id", client);
    if (sid) jwt_add_grant(jwt, "sid", sid);
    if (jti) jwt_add_grant(jwt, "jti", jti);
    long now = (long)time(NULL);
    jwt_add_grant_int(jwt, "iat", now);
    jwt_add_grant_int(jwt, "exp", now + ttl_s);
    char *token = jwt_encode_str(jwt);
    jwt_free(jwt);
    return token;
}

/* Calls path as instance inst with a token. */
static void call(const char *method, const char *path, const char *inst,
                 const char *token, sd_test_response *res) {
    char headers[128];
    snprintf(headers, sizeof headers, "X-Instance: %s\r\n", inst);
    assert_int_equal(sd_test_http(daemon_proc.port, method, path, token,
                                  headers, res), 0);
}

static void header(const sd_test_response *res, const char *name, char *out,
                   size_t cap) {
    if (sd_test_header(res, name, out, cap) != 0)
        fail_msg("header %s missing in:\n%s", name, res->headers);
}

/* Open sessions of an instance, counted the way SPEC §4 defines usage. */
static long long usage(const char *inst) { return sd_test_usage(&redis, inst); }

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void test_first_request_opens_second_resumes(void **state) {
    char *token = mint("basic", "alice", "erp-web", "sid-1", "j-1", 600);
    sd_test_response res;
    char id1[64], id2[64], kind[32], subject[64], served[32];

    call("GET", "/v1/auth", "basic", token, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id1, sizeof id1);
    header(&res, "X-Session-Kind", kind, sizeof kind);
    header(&res, "X-Session-Subject", subject, sizeof subject);
    header(&res, "X-Served-By", served, sizeof served);
    assert_int_equal(strlen(id1), 22);
    assert_string_equal(kind, "interactive");
    assert_string_equal(subject, "alice");
    assert_string_equal(served, "it-1");
    assert_int_equal(usage("basic"), 1);

    call("GET", "/v1/session", "basic", token, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id2, sizeof id2);
    assert_string_equal(id1, id2);
    assert_non_null(strstr(res.body, "\"resumed\":true"));
    assert_non_null(strstr(res.body, "\"requests\":2"));
    assert_non_null(strstr(res.body, "\"license\":{\"used\":1,\"limit\":3}"));
    assert_int_equal(usage("basic"), 1);

    /* The session is a hash an operator reads with HGETALL. */
    redisContext *c = sd_test_redis_connect(&redis);
    redisReply *r = redisCommand(c, "HGETALL sd:{basic}:session:%s", id1);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 22);
    const char *want[][2] = {{"id", id1}, {"subject", "alice"},
                             {"client_id", "erp-web"}, {"kind", "interactive"},
                             {"binding", "sid:sid-1"}, {"requests", "2"},
                             {"absolute_deadline", "0"}, {"seat", "shared"}};
    for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
        int found = 0;
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            if (strcmp(r->element[i]->str, want[w][0]) == 0) {
                assert_string_equal(r->element[i + 1]->str, want[w][1]);
                found = 1;
            }
        if (!found) fail_msg("field %s missing", want[w][0]);
    }
    freeReplyObject(r);

    /* Every key but the pool settings and the event stream has a TTL
     * (SPEC §4). */
    r = redisCommand(c, "KEYS sd:{basic}:*");
    assert_int_equal(r->elements, 7); /* pool, slots, meta, opened, events,
                                         session, binding */
    for (size_t i = 0; i < r->elements; i++) {
        const char *key = r->element[i]->str;
        redisReply *t = redisCommand(c, "PTTL %s", key);
        if (strcmp(key, "sd:{basic}:pool") == 0 || strcmp(key, "sd:{basic}:events") == 0)
            assert_int_equal(t->integer, -1);
        else if (t->integer <= 0)
            fail_msg("key %s has no TTL (%lld)", key, t->integer);
        freeReplyObject(t);
    }
    freeReplyObject(r);
    redisFree(c);

    /* Logout frees the slot at once; a second logout finds nothing. */
    call("DELETE", "/v1/session", "basic", token, &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(usage("basic"), 0);
    assert_int_equal(sd_test_redis_int(&redis, "EXISTS sd:{basic}:session:%s", id1), 0);
    call("DELETE", "/v1/session", "basic", token, &res);
    assert_int_equal(res.status, 404);
    assert_non_null(strstr(res.body, "\"error\":\"not_found\""));

    /* The token is still valid: the next request opens a new session. */
    call("GET", "/v1/auth", "basic", token, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id2, sizeof id2);
    assert_string_not_equal(id1, id2);
    call("DELETE", "/v1/session", "basic", token, &res);
    assert_int_equal(res.status, 204);
    free(token);
}

static void test_refreshed_token_with_same_sid_keeps_session(void **state) {
    char *first = mint("basic", "bob", "erp-web", "sid-refresh", "j-a", 600);
    char *refreshed = mint("basic", "bob", "erp-web", "sid-refresh", "j-b", 900);
    sd_test_response res;
    char id1[64], id2[64];
    call("GET", "/v1/auth", "basic", first, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id1, sizeof id1);
    call("GET", "/v1/auth", "basic", refreshed, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id2, sizeof id2);
    assert_string_equal(id1, id2);
    assert_int_equal(usage("basic"), 1);
    call("DELETE", "/v1/session", "basic", refreshed, &res);
    assert_int_equal(res.status, 204);
    free(first);
    free(refreshed);
}

static void test_sliding_expiry_frees_slot(void **state) {
    char *token = mint("idle", "carol", "erp-web", "sid-idle", NULL, 600);
    sd_test_response res;
    char id1[64], id2[64];
    call("GET", "/v1/auth", "idle", token, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id1, sizeof id1);
    /* Activity inside the window keeps it open past its first deadline. */
    for (int i = 0; i < 4; i++) {
        sd_test_sleep_ms(250);
        call("GET", "/v1/auth", "idle", token, &res);
        header(&res, "X-Session-Id", id2, sizeof id2);
        assert_string_equal(id1, id2);
    }
    sd_test_sleep_ms(900);
    assert_int_equal(usage("idle"), 0);
    assert_int_equal(sd_test_redis_int(&redis, "EXISTS sd:{idle}:session:%s", id1), 0);
    /* No request came in since: the periodic sweep (100 ms) reaped the slot. */
    assert_int_equal(sd_test_redis_int(&redis, "ZCARD sd:{idle}:slots"), 0);
    /* The token is still valid: a new session with a new id. */
    call("GET", "/v1/auth", "idle", token, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id2, sizeof id2);
    assert_string_not_equal(id1, id2);
    assert_int_equal(usage("idle"), 1);
    free(token);
}

static void test_service_session_ends_at_absolute_deadline(void **state) {
    /* No sub: a client-credentials token, so a service session. */
    char *token = mint("absolute", NULL, "batch", NULL, "svc-1", 600);
    sd_test_response res;
    char id1[64], id[64], kind[32];
    call("GET", "/v1/auth", "absolute", token, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id1, sizeof id1);
    header(&res, "X-Session-Kind", kind, sizeof kind);
    assert_string_equal(kind, "service");
    redisContext *c = sd_test_redis_connect(&redis);
    redisReply *r = redisCommand(c, "HMGET sd:{absolute}:session:%s opened_at absolute_deadline", id1);
    long long opened = atoll(r->element[0]->str), deadline = atoll(r->element[1]->str);
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(deadline - opened, 700);

    /* Busy all along, yet it ends at the deadline. */
    long long start = sd_test_now_ms();
    int same = 0, renewed = 0;
    while (sd_test_now_ms() - start < 1100) {
        call("GET", "/v1/auth", "absolute", token, &res);
        assert_int_equal(res.status, 200);
        header(&res, "X-Session-Id", id, sizeof id);
        if (strcmp(id, id1) == 0) {
            assert_false(renewed); /* never the old id after the switch */
            same++;
        } else {
            renewed = 1;
        }
        sd_test_sleep_ms(100);
    }
    assert_true(same >= 3);
    assert_true(renewed);
    assert_int_equal(usage("absolute"), 1);
    free(token);
}

static void test_limit_denies_with_retry_after(void **state) {
    char *a = mint("limit", "u1", "erp-web", "s1", NULL, 600);
    char *b = mint("limit", "u2", "erp-web", "s2", NULL, 600);
    char *c = mint("limit", "u3", "erp-web", "s3", NULL, 600);
    sd_test_response res;
    char id_a[64], retry[16];
    call("GET", "/v1/auth", "limit", a, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id_a, sizeof id_a);
    call("GET", "/v1/auth", "limit", b, &res);
    assert_int_equal(res.status, 200);

    long long expires_a = sd_test_redis_int(&redis, "PEXPIRETIME sd:{limit}:session:%s", id_a);
    long long before = sd_test_redis_time_ms(&redis);
    call("GET", "/v1/auth", "limit", c, &res);
    long long after = sd_test_redis_time_ms(&redis);
    assert_int_equal(res.status, 429);
    header(&res, "Retry-After", retry, sizeof retry);
    long long got = atoll(retry);
    long long hi = (expires_a - before + 999) / 1000, lo = (expires_a - after + 999) / 1000;
    if (got < lo || got > hi)
        fail_msg("Retry-After %lld not in [%lld, %lld]", got, lo, hi);
    assert_non_null(strstr(res.body, "\"error\":\"license_limit_reached\""));
    assert_non_null(strstr(res.body, "\"used\":2,\"limit\":2"));
    assert_int_equal(usage("limit"), 2);

    /* Logout of one frees the slot at once for the waiting user. */
    call("DELETE", "/v1/session", "limit", a, &res);
    assert_int_equal(res.status, 204);
    call("GET", "/v1/auth", "limit", c, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(usage("limit"), 2);
    free(a);
    free(b);
    free(c);
}

typedef struct race_arg {
    const char *inst;
    char *token;
    int status;
    char id[64];
    pthread_barrier_t *start;
} race_arg;

static void *race_worker(void *p) {
    race_arg *arg = p;
    char headers[64];
    snprintf(headers, sizeof headers, "X-Instance: %s\r\n", arg->inst);
    pthread_barrier_wait(arg->start);
    sd_test_response res;
    if (sd_test_http(daemon_proc.port, "GET", "/v1/auth", arg->token, headers, &res) == 0) {
        arg->status = res.status;
        if (sd_test_header(&res, "X-Session-Id", arg->id, sizeof arg->id) != 0)
            arg->id[0] = '\0';
    }
    return NULL;
}

static void run_race(race_arg *args, int n) {
    pthread_t threads[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        args[i].start = &start;
        pthread_create(&threads[i], NULL, race_worker, &args[i]);
    }
    for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
}

static void test_same_token_concurrently_opens_one_session(void **state) {
    enum { N = 20 };
    race_arg args[N];
    char *token = mint("same", "dave", "erp-web", "sid-same", NULL, 600);
    for (int i = 0; i < N; i++) args[i] = (race_arg){.inst = "same", .token = token};
    run_race(args, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(args[i].status, 200);
        assert_string_equal(args[i].id, args[0].id);
    }
    assert_int_equal(usage("same"), 1);
    assert_int_equal(sd_test_redis_int(&redis, "ZCARD sd:{same}:slots"), 1);
    assert_int_equal(sd_test_redis_int(&redis, "HGET sd:{same}:session:%s requests", args[0].id), N);
    free(token);
}

static void test_distinct_tokens_race_for_limit(void **state) {
    enum { N = 50 };
    race_arg args[N];
    for (int i = 0; i < N; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "user-%d", i);
        args[i] = (race_arg){.inst = "race", .token = mint("race", sub, "erp-web", sub, NULL, 600)};
    }
    run_race(args, N);
    int opened = 0, denied = 0;
    for (int i = 0; i < N; i++) {
        if (args[i].status == 200) opened++;
        else if (args[i].status == 429) denied++;
        free(args[i].token);
    }
    assert_int_equal(opened, 5);
    assert_int_equal(denied, 45);
    assert_int_equal(usage("race"), 5);
}

static void test_bad_tokens_open_nothing(void **state) {
    sd_test_response res;
    char www[200];
    call("GET", "/v1/auth", "basic", NULL, &res);
    assert_int_equal(res.status, 401);
    header(&res, "WWW-Authenticate", www, sizeof www);
    assert_non_null(strstr(www, "Bearer error=\"invalid_token\""));
    assert_non_null(strstr(res.body, "\"reason\":\"token_missing\""));

    char *token = mint("basic", "eve", "erp-web", "sid-eve", NULL, 600);
    /* Another base64url letter inside the signature: still well-formed,
     * wrong signature. */
    char *sig_char = &token[strlen(token) - 5];
    *sig_char = *sig_char == 'A' ? 'B' : 'A';
    call("GET", "/v1/auth", "basic", token, &res);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(res.body, "\"error\":\"invalid_token\""));
    assert_non_null(strstr(res.body, "\"reason\":\"signature_invalid\""));
    free(token);

    /* A valid token of another instance is refused as such (403); one of an
     * issuer no instance has is a bad token (401). Then an expired one,
     * and one for the wrong audience. */
    token = mint("idle", "eve", "erp-web", "sid-eve", NULL, 600);
    call("GET", "/v1/auth", "basic", token, &res);
    assert_int_equal(res.status, 403);
    assert_non_null(strstr(res.body, "\"error\":\"wrong_instance\""));
    free(token);
    token = mint("nowhere", "eve", "erp-web", "sid-eve", NULL, 600);
    call("GET", "/v1/auth", "basic", token, &res);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(res.body, "\"reason\":\"issuer_mismatch\""));
    free(token);
    token = mint("basic", "eve", "erp-web", "sid-eve", NULL, -120);
    call("GET", "/v1/auth", "basic", token, &res);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(res.body, "\"reason\":\"token_expired\""));
    free(token);

    call("GET", "/v1/auth", "basic", "a.b", &res);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(res.body, "\"reason\":\"token_malformed\""));
    assert_int_equal(usage("basic"), 0);
}

static void test_routes_and_methods(void **state) {
    sd_test_response res;
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/healthz", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "{\"status\":\"ok\"}");
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/readyz", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/nope", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 404);
    assert_int_equal(sd_test_http(daemon_proc.port, "PUT", "/v1/session", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 405);
    /* Like every error of the session routes, for a gateway's auth check. */
    char value[64];
    assert_int_equal(sd_test_header(&res, "X-Session-Error", value, sizeof value), 0);
    assert_string_equal(value, "method_not_allowed");
    assert_string_equal(res.body, "{\"error\":\"method_not_allowed\",\"reason\":"
                                  "\"method_not_allowed\",\"message\":\"method not "
                                  "allowed on this path\"}");
    assert_int_equal(sd_test_http(daemon_proc.port, "POST", "/healthz", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 405);
    assert_int_not_equal(sd_test_header(&res, "X-Session-Error", value, sizeof value), 0);
    /* Several instances and no selector: the request names no instance. */
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", "x.y.z", NULL, &res), 0);
    assert_int_equal(res.status, 404);
    assert_non_null(strstr(res.body, "\"error\":\"unknown_instance\""));
}

static void test_scripts_flushed_reload_transparently(void **state) {
    char *token = mint("basic", "frank", "erp-web", "sid-flush", NULL, 600);
    sd_test_response res;
    redisContext *c = sd_test_redis_connect(&redis);
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    redisFree(c);
    call("GET", "/v1/auth", "basic", token, &res);
    assert_int_equal(res.status, 200);
    call("DELETE", "/v1/session", "basic", token, &res);
    assert_int_equal(res.status, 204);
    free(token);
}

/* A session whose slot was already reaped (the sweep took it at the very
 * millisecond of its expiry, while Redis still kept its keys) is closed
 * once: the next request of its binding opens a new session without a
 * second "closed" event. Simulated by removing the slot and the session
 * key as the reap and the expiry would, leaving the binding key. */
static void test_reaped_session_is_not_closed_twice(void **state) {
    char *token = mint("same", "twice", "erp-web", "sid-twice", NULL, 600);
    sd_test_response res;
    char first[64], second[64];
    call("GET", "/v1/auth", "same", token, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_header(&res, "X-Session-Id", first, sizeof first), 0);
    assert_int_equal(sd_test_redis_int(&redis, "ZREM sd:{same}:slots %s", first), 1);
    assert_int_equal(sd_test_redis_int(&redis, "DEL sd:{same}:session:%s", first), 1);
    long long events = sd_test_redis_int(&redis, "XLEN sd:{same}:events");
    call("GET", "/v1/auth", "same", token, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_header(&res, "X-Session-Id", second, sizeof second), 0);
    assert_string_not_equal(first, second);
    /* One event: the new session's "opened"; no empty "closed". */
    assert_int_equal(sd_test_redis_int(&redis, "XLEN sd:{same}:events"), events + 1);
    redisContext *c = sd_test_redis_connect(&redis);
    redisReply *r = redisCommand(c, "XREVRANGE sd:{same}:events + - COUNT 1");
    assert_int_equal(r->elements, 1);
    assert_string_equal(sd_test_stream_field(r->element[0]->element[1], "type"), "opened");
    assert_string_equal(sd_test_stream_field(r->element[0]->element[1], "id"), second);
    freeReplyObject(r);
    redisFree(c);
    call("DELETE", "/v1/session", "same", token, &res);
    assert_int_equal(res.status, 204);
    free(token);
}

/* A client that hangs up while its request waits (here: the worker is
 * stopped, as a frozen container would be, and the gateway gives up) gets
 * no session: the open is undone at once (closed, reason "abandoned")
 * instead of holding a slot for the whole idle time-out. */
static void test_open_for_a_client_that_hung_up_is_undone(void **state) {
    char *token = mint("same", "gone", "erp-web", "sid-gone", NULL, 600);
    long long before = usage("same");
    long long events = sd_test_redis_int(&redis, "XLEN sd:{same}:events");
    char request[4096];
    int n = snprintf(request, sizeof request,
                     "GET /v1/auth HTTP/1.1\r\nHost: t\r\nX-Instance: same\r\n"
                     "Authorization: Bearer %s\r\n\r\n", token);
    assert_true(n > 0 && n < (int)sizeof request);
    assert_int_equal(kill(daemon_proc.pid, SIGSTOP), 0);
    int fd = sd_test_connect(daemon_proc.port);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, request, (size_t)n), n);
    close(fd);
    assert_int_equal(kill(daemon_proc.pid, SIGCONT), 0);
    for (int i = 0; i < 300; i++) {
        if (sd_test_redis_int(&redis, "XLEN sd:{same}:events") >= events + 2) break;
        sd_test_sleep_ms(10);
    }
    assert_int_equal(sd_test_redis_int(&redis, "XLEN sd:{same}:events"), events + 2);
    assert_int_equal(usage("same"), before);
    redisContext *c = sd_test_redis_connect(&redis);
    redisReply *r = redisCommand(c, "XREVRANGE sd:{same}:events + - COUNT 2");
    assert_int_equal(r->elements, 2);
    const redisReply *closed = r->element[0]->element[1];
    const redisReply *opened = r->element[1]->element[1];
    assert_string_equal(sd_test_stream_field(opened, "type"), "opened");
    assert_string_equal(sd_test_stream_field(opened, "subject"), "gone");
    assert_string_equal(sd_test_stream_field(closed, "type"), "closed");
    assert_string_equal(sd_test_stream_field(closed, "reason"), "abandoned");
    assert_string_equal(sd_test_stream_field(closed, "id"),
                        sd_test_stream_field(opened, "id"));
    freeReplyObject(r);
    redisFree(c);
    /* The token itself is fine: its next request opens a session. */
    sd_test_response res;
    call("GET", "/v1/auth", "same", token, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(usage("same"), before + 1);
    call("DELETE", "/v1/session", "same", token, &res);
    assert_int_equal(res.status, 204);
    free(token);
}

/* Lines of a daemon's log holding both a and b. */
static int log_lines(const sd_test_daemon *d, const char *a, const char *b) {
    FILE *f = fopen(d->log_path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, a) && strstr(line, b)) n++;
    if (f) fclose(f);
    return n;
}

/* The same with several requests pipelined on the connection before the
 * client hung up: its end-of-file sits behind request bytes not read yet,
 * and still no session stays open for it. */
static void test_pipelining_client_that_hung_up_keeps_no_session(void **state) {
    enum { N = 24 };
    char *tokens[N];
    char request[N * 2048];
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        char sid[32];
        snprintf(sid, sizeof sid, "sid-pipe-%d", i);
        tokens[i] = mint("same", "piper", "erp-web", sid, NULL, 600);
        len += (size_t)snprintf(request + len, sizeof request - len,
                                "GET /v1/auth HTTP/1.1\r\nHost: t\r\nX-Instance: same\r\n"
                                "Authorization: Bearer %s\r\n\r\n", tokens[i]);
        assert_true(len < sizeof request);
    }
    long long before = usage("same");
    assert_int_equal(kill(daemon_proc.pid, SIGSTOP), 0);
    int fd = sd_test_connect(daemon_proc.port);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, request, len), (ssize_t)len);
    close(fd);
    assert_int_equal(kill(daemon_proc.pid, SIGCONT), 0);
    /* Whatever was opened is undone within moments; nothing stays. */
    long long opened = 0, closed = 0;
    for (int i = 0; i < 100; i++) {
        sd_test_sleep_ms(20);
        opened = log_lines(&daemon_proc, "\"outcome\":\"client_gone\"", "\"instance\":\"same\"");
        closed = log_lines(&daemon_proc, "opened for a client that had hung up", "same");
        if (usage("same") == before && opened == closed && i >= 10) break;
    }
    assert_int_equal(usage("same"), before);
    assert_int_equal(closed, opened);
    for (int i = 0; i < N; i++) free(tokens[i]);
}

/* A worker that cannot reach Redis from the start says why in its log, once
 * per distinct reason rather than once per reconnect attempt, and is not
 * ready. */
static void test_unreachable_redis_at_start_is_logged_once(void **state) {
    char *config = replace(config_template, "@KEY@", public_pem_path);
    /* A free port: nothing listens there, every connect is refused. */
    assert_int_equal(sd_test_daemon_start(&lonely, config, sd_test_free_port(), 0), 0);
    free(config);
    const char *msg = "\"msg\":\"redis unavailable\"";
    const char *why = "\"reason\":\"Connection refused\"";
    for (int i = 0; i < 200 && log_lines(&lonely, msg, why) == 0; i++) sd_test_sleep_ms(10);
    /* Back-off of 100 ms, then 200 ms (reconnect_max): four attempts or more. */
    sd_test_sleep_ms(900);
    assert_int_equal(log_lines(&lonely, msg, why), 1);
    assert_int_equal(log_lines(&lonely, msg, "\"reason\":\""), 1);
    sd_test_response res;
    assert_int_equal(sd_test_http(lonely.port, "GET", "/readyz", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 503);
    assert_int_equal(sd_test_daemon_stop(&lonely), 0);
    unlink(lonely.log_path);
}

static void test_redis_outage_fails_fast_and_recovers(void **state) {
    char *token = mint("outage", "grace", "erp-web", "sid-outage", NULL, 600);
    sd_test_response res;
    char id1[64], id2[64];
    call("GET", "/v1/auth", "outage", token, &res);
    assert_int_equal(res.status, 200);
    header(&res, "X-Session-Id", id1, sizeof id1);

    sd_test_redis_stop(&redis, 1);
    for (int i = 0; i < 5; i++) {
        long long t0 = sd_test_now_ms();
        call("GET", "/v1/auth", "outage", token, &res);
        long long took = sd_test_now_ms() - t0;
        assert_int_equal(res.status, 503);
        assert_non_null(strstr(res.body, "\"error\":\"store_unavailable\""));
        /* Configured time-out is 300 ms; a disconnected store answers at
         * once. 2 s is a hang detector, not a performance target. */
        if (took > 2000) fail_msg("503 took %lld ms", took);
    }
    call("GET", "/readyz", "outage", NULL, &res);
    assert_int_equal(res.status, 503);

    /* Redis comes back (AOF kept the session): no sessiond restart. */
    assert_int_equal(sd_test_redis_restart(&redis), 0);
    int status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        sd_test_sleep_ms(50);
        call("GET", "/v1/auth", "outage", token, &res);
        status = res.status;
    }
    assert_int_equal(status, 200);
    header(&res, "X-Session-Id", id2, sizeof id2);
    assert_string_equal(id1, id2);
    free(token);
}

static void test_stalled_redis_times_out(void **state) {
    char *token = mint("outage", "heidi", "erp-web", "sid-stall", NULL, 600);
    sd_test_response res;
    call("GET", "/v1/auth", "outage", token, &res);
    assert_int_equal(res.status, 200);

    /* A frozen Redis keeps the connection open and never answers: only the
     * worker's own timer (300 ms here) can end the request. */
    assert_int_equal(kill(redis.pid, SIGSTOP), 0);
    long long t0 = sd_test_now_ms();
    call("GET", "/v1/auth", "outage", token, &res);
    long long took = sd_test_now_ms() - t0;
    assert_int_equal(kill(redis.pid, SIGCONT), 0);
    assert_int_equal(res.status, 503);
    assert_non_null(strstr(res.body, "\"reason\":\"store_timeout\""));
    char retry[16];
    header(&res, "Retry-After", retry, sizeof retry);
    assert_string_equal(retry, "1");
    if (took < 250 || took > 2000) fail_msg("timed-out request took %lld ms", took);

    int status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        sd_test_sleep_ms(50);
        call("GET", "/v1/auth", "outage", token, &res);
        status = res.status;
    }
    assert_int_equal(status, 200);
    free(token);
}

/* A request that timed out was told 503; when Redis wakes up and runs its
 * script, the script sees its deadline (on Redis's clock) has passed and
 * does nothing, so a failed request holds no license. A second request sent
 * while Redis is still frozen fails at once and opens nothing either. */
static void test_request_failed_by_a_stall_opens_nothing(void **state) {
    char *token = mint("outage", "ivan", "erp-web", "sid-lost", NULL, 600);
    sd_test_response res;
    long long before = usage("outage");
    long long events = sd_test_redis_int(&redis, "XLEN sd:{outage}:events");
    assert_int_equal(kill(redis.pid, SIGSTOP), 0);
    call("GET", "/v1/auth", "outage", token, &res);
    int first = res.status;
    call("GET", "/v1/auth", "outage", token, &res);
    assert_int_equal(kill(redis.pid, SIGCONT), 0);
    assert_int_equal(first, 503);
    assert_int_equal(res.status, 503);

    /* Back to normal: the token works and opens its first session now. */
    int status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        sd_test_sleep_ms(50);
        assert_int_equal(usage("outage"), before);
        call("GET", "/v1/auth", "outage", token, &res);
        status = res.status;
    }
    assert_int_equal(status, 200);
    assert_int_equal(usage("outage"), before + 1);
    /* Exactly one "opened" event was added: this one. */
    assert_int_equal(sd_test_redis_int(&redis, "XLEN sd:{outage}:events"), events + 1);
    call("DELETE", "/v1/session", "outage", token, &res);
    assert_int_equal(res.status, 204);
    free(token);
}

/* Revoking a token stops the token, logout included; its session keeps its
 * slot until it closes some other way (SPEC §1, §3). */
static void test_revoked_token_cannot_log_out(void **state) {
    char *token = mint("basic", "judy", "erp-web", "sid-judy", "jti-judy", 600);
    sd_test_response res;
    call("GET", "/v1/auth", "basic", token, &res);
    assert_int_equal(res.status, 200);
    long long used = usage("basic");
    assert_int_equal(sd_test_redis_int(&redis, "SET sd:{basic}:revoked:jti-judy 1 EX 600"),
                     -999); /* +OK is not an integer */
    call("DELETE", "/v1/session", "basic", token, &res);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(res.body, "\"reason\":\"token_revoked\""));
    assert_int_equal(usage("basic"), used);
    assert_int_equal(sd_test_redis_int(&redis, "DEL sd:{basic}:revoked:jti-judy"), 1);
    call("DELETE", "/v1/session", "basic", token, &res);
    assert_int_equal(res.status, 204);
    free(token);
}

/* Requests that are ambiguous or oddly formed get clear JSON answers. */
static void test_odd_requests_get_json_answers(void **state) {
    char *token = mint("basic", "kim", "erp-web", "sid-kim", NULL, 600);
    sd_test_response res;
    char value[128];
    /* Two Authorization headers: neither counts. */
    char headers[16384];
    snprintf(headers, sizeof headers,
             "X-Instance: basic\r\nAuthorization: Bearer %s\r\n", token);
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", "garbage.x.y",
                                  headers, &res), 0);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(res.body, "\"reason\":\"token_missing\""));
    assert_int_equal(usage("kim"), 0);

    /* Two X-Instance headers: refused, not resolved by order (the first
     * one used to win), even when both name the same instance. */
    static const char *const pairs[] = {"X-Instance: basic\r\nX-Instance: other\r\n",
                                        "X-Instance: nosuch\r\nX-Instance: basic\r\n",
                                        "X-Instance: basic\r\nx-instance: basic\r\n"};
    long long before = usage("basic");
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        assert_int_equal(
            sd_test_http(daemon_proc.port, "GET", "/v1/auth", token, pairs[i], &res), 0);
        assert_int_equal(res.status, 400);
        assert_string_equal(res.body, "{\"error\":\"bad_request\",\"reason\":"
                                      "\"instance_ambiguous\",\"message\":\"more than "
                                      "one X-Instance header\"}");
        header(&res, "X-Session-Error", value, sizeof value);
        assert_string_equal(value, "bad_request");
    }
    assert_int_equal(usage("basic"), before);

    /* An X-Instance that names no instance is never another instance's. */
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", token,
                                  "X-Instance: nosuch\r\n", &res), 0);
    assert_int_equal(res.status, 404);
    assert_non_null(strstr(res.body, "\"error\":\"unknown_instance\""));

    /* TRACE reaches the router: JSON 405 with Allow, not an HTML 501. */
    assert_int_equal(sd_test_http(daemon_proc.port, "TRACE", "/v1/session", NULL, NULL,
                                  &res), 0);
    assert_int_equal(res.status, 405);
    header(&res, "Allow", value, sizeof value);
    assert_string_equal(value, "GET, DELETE");
    assert_non_null(strstr(res.body, "\"reason\":\"method_not_allowed\""));
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/nope", NULL, NULL, &res), 0);
    assert_string_equal(res.body,
                        "{\"error\":\"not_found\",\"reason\":\"no_route\","
                        "\"message\":\"no such route\"}");

    /* A bodiless 200 claims no HTML; a 429 says what it is. */
    call("GET", "/v1/auth", "basic", token, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_header(&res, "Content-Type", value, sizeof value), -1);
    assert_non_null(strstr(res.headers, "HTTP/1.1 200 OK\r\n"));
    call("DELETE", "/v1/session", "basic", token, &res);
    assert_int_equal(res.status, 204);
    free(token);

    char *a = mint("limit", "l1", "erp-web", "sid-l1", NULL, 600);
    char *b = mint("limit", "l2", "erp-web", "sid-l2", NULL, 600);
    char *c = mint("limit", "l3", "erp-web", "sid-l3", NULL, 600);
    call("GET", "/v1/auth", "limit", a, &res);
    call("GET", "/v1/auth", "limit", b, &res);
    call("GET", "/v1/auth", "limit", c, &res);
    assert_int_equal(res.status, 429);
    assert_non_null(strstr(res.headers, "HTTP/1.1 429 Too Many Requests\r\n"));
    call("DELETE", "/v1/session", "limit", a, &res);
    call("DELETE", "/v1/session", "limit", b, &res);
    free(a);
    free(b);
    free(c);
}

/* A limit an operator mistyped with redis-cli does not stop logins: the
 * configured default applies until it is fixed (sessionctl check reports
 * it). */
static void test_bad_limit_in_redis_falls_back_to_config(void **state) {
    char *token = mint("same", "lena", "erp-web", "sid-lena", NULL, 600);
    sd_test_response res;
    assert_int_equal(sd_test_redis_int(&redis, "HSET sd:{same}:pool limit abc"), 0);
    call("GET", "/v1/session", "same", token, &res);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body, "\"limit\":5"));
    assert_int_equal(sd_test_redis_int(&redis, "HSET sd:{same}:pool limit -3"), 0);
    call("GET", "/v1/session", "same", token, &res);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body, "\"limit\":5"));
    assert_int_equal(sd_test_redis_int(&redis, "HSET sd:{same}:pool limit 5"), 0);
    call("DELETE", "/v1/session", "same", token, &res);
    assert_int_equal(res.status, 204);
    free(token);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_and_methods),
        cmocka_unit_test(test_first_request_opens_second_resumes),
        cmocka_unit_test(test_refreshed_token_with_same_sid_keeps_session),
        cmocka_unit_test(test_bad_tokens_open_nothing),
        cmocka_unit_test(test_sliding_expiry_frees_slot),
        cmocka_unit_test(test_service_session_ends_at_absolute_deadline),
        cmocka_unit_test(test_limit_denies_with_retry_after),
        cmocka_unit_test(test_same_token_concurrently_opens_one_session),
        cmocka_unit_test(test_distinct_tokens_race_for_limit),
        cmocka_unit_test(test_scripts_flushed_reload_transparently),
        cmocka_unit_test(test_revoked_token_cannot_log_out),
        cmocka_unit_test(test_odd_requests_get_json_answers),
        cmocka_unit_test(test_bad_limit_in_redis_falls_back_to_config),
        cmocka_unit_test(test_stalled_redis_times_out),
        cmocka_unit_test(test_request_failed_by_a_stall_opens_nothing),
        cmocka_unit_test(test_reaped_session_is_not_closed_twice),
        cmocka_unit_test(test_open_for_a_client_that_hung_up_is_undone),
        cmocka_unit_test(test_pipelining_client_that_hung_up_keeps_no_session),
        cmocka_unit_test(test_unreachable_redis_at_start_is_logged_once),
        cmocka_unit_test(test_redis_outage_fails_fast_and_recovers),
    };
    return cmocka_run_group_tests_name("sessions", tests, setup, teardown);
}
