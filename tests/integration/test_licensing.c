/* The licensing rules of SPEC §1 and §3 against a real redis-server and a
 * real sessiond: instances, reserved seats, refresh continuity, service
 * sessions, revocation, the per-subject cap and the lifecycle events.
 * Each test uses its own instance so that no test sees another's sessions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "harness.h"
#include "jws_mint.h"

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

static sd_test_redis redis;
static sd_test_daemon daemon_proc;
static EVP_PKEY *signing_key;
static char *public_pem_path;

#define KEY "\"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}]"
#define INSTANCE(name, rest)                                                             \
    "{\"name\": \"" name "\", \"issuer\": \"https://id.test/" name "\", " KEY ", " rest "}"

static const char config_template[] =
    "{\"listen\": \"127.0.0.1:@PORT@\","
    " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\", \"timeout\": \"500ms\"},"
    " \"sweep_interval\": \"100ms\", \"replica_id\": \"lic-1\","
    " \"instances\": ["
    INSTANCE("alpha", "\"hosts\": [\"alpha.example\"], \"license_limit\": 2") ","
    INSTANCE("beta", "\"hosts\": [\"beta.example\"], \"license_limit\": 2") ","
    INSTANCE("seats", "\"license_limit\": 3, \"reserved\": [\"boss\"]") ","
    INSTANCE("live", "\"license_limit\": 3, \"reserved\": [\"boss\"]") ","
    INSTANCE("race", "\"license_limit\": 5, \"reserved\": [\"boss\"]") ","
    INSTANCE("cont", "\"license_limit\": 10") ","
    INSTANCE("tokbind", "\"license_limit\": 10, \"binding\": [\"token\"]") ","
    INSTANCE("svc", "\"license_limit\": 10, \"sliding\": \"20s\", \"absolute\": \"800ms\","
                    " \"service_claim\": {\"name\": \"gty\", \"value\": \"client-credentials\"}") ","
    INSTANCE("revoke", "\"license_limit\": 10") ","
    INSTANCE("capped", "\"license_limit\": 10, \"max_sessions_per_subject\": 2") ","
    INSTANCE("events", "\"license_limit\": 1, \"sliding\": \"400ms\"")
    " ]}";

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
    signing_key = EVP_RSA_gen(2048);
    if (!signing_key || !(public_pem_path = sd_test_public_pem_file(signing_key)))
        return -1;
    if (sd_test_redis_start(&redis)) return -1;
    char *config = replace(config_template, "@KEY@", public_pem_path);
    int rc = sd_test_daemon_start(&daemon_proc, config, redis.port, 1);
    free(config);
    return rc;
}

static int teardown(void **state) {
    sd_test_daemon_stop(&daemon_proc);
    sd_test_redis_stop(&redis, 0);
    unlink(public_pem_path);
    free(public_pem_path);
    EVP_PKEY_free(signing_key);
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* A token of instance inst; sub, client, sid, jti may be NULL (left out);
 * extra is raw JSON members (",\"gty\":\"x\"") or "". Caller frees. */
static char *token(const char *inst, const char *sub, const char *client,
                   const char *sid, const char *jti, const char *extra) {
    char payload[1024];
    long now = (long)time(NULL);
    int n = snprintf(payload, sizeof payload,
                     "{\"iss\":\"https://id.test/%s\",\"iat\":%ld,\"exp\":%ld", inst, now,
                     now + 600);
    const char *names[] = {"sub", "client_id", "sid", "jti"};
    const char *values[] = {sub, client, sid, jti};
    for (int i = 0; i < 4; i++)
        if (values[i])
            n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"%s\":\"%s\"",
                          names[i], values[i]);
    snprintf(payload + n, sizeof payload - (size_t)n, "%s}", extra);
    char *t = sd_test_jws_sign("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
                               payload, "RS256", signing_key);
    assert_non_null(t);
    return t;
}

/* Calls path at instance inst (chosen by X-Instance). */
static void call(const char *method, const char *inst, const char *tok,
                 sd_test_response *res) {
    char headers[128];
    snprintf(headers, sizeof headers, "X-Instance: %s\r\n", inst);
    const char *path = strcmp(method, "GET") == 0 ? "/v1/auth" : "/v1/session";
    assert_int_equal(sd_test_http(daemon_proc.port, method, path, tok, headers, res), 0);
}

/* Opens (or resumes) and returns the status; the session id goes to id. */
static int open_session(const char *inst, const char *tok, char id[64]) {
    sd_test_response res;
    call("GET", inst, tok, &res);
    if (id && sd_test_header(&res, "X-Session-Id", id, 64) != 0) id[0] = '\0';
    return res.status;
}

static long long usage(const char *inst) { return sd_test_usage(&redis, inst); }

static void header(const sd_test_response *res, const char *name, char *out, size_t cap) {
    if (sd_test_header(res, name, out, cap) != 0) fail_msg("header %s missing", name);
}

/* ------------------------------------------------------------------------
 * Instances
 * ------------------------------------------------------------------------ */

static void test_instances_are_separate(void **state) {
    sd_test_response res;
    char *a1 = token("alpha", "ann", "web", "s1", NULL, "");
    char *a2 = token("alpha", "amy", "web", "s2", NULL, "");
    char *a3 = token("alpha", "abe", "web", "s3", NULL, "");
    char *b1 = token("beta", "ben", "web", "s1", NULL, "");

    /* Selected by Host: fill alpha's pool. */
    const char *alpha_host = "Host: alpha.example\r\n";
    const char *beta_host = "Host: beta.example:8080\r\n";
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", a1, alpha_host, &res), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", a2, alpha_host, &res), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", a3, alpha_host, &res), 0);
    assert_int_equal(res.status, 429);
    assert_non_null(strstr(res.body, "\"error\":\"license_limit_reached\""));

    /* Beta is untouched: its pool is its own keys. */
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", b1, beta_host, &res), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(usage("alpha"), 2);
    assert_int_equal(usage("beta"), 1);

    /* A valid token of alpha at beta (and the other way round) is 403. */
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", a1, beta_host, &res), 0);
    assert_int_equal(res.status, 403);
    assert_non_null(strstr(res.body, "\"error\":\"wrong_instance\""));
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", b1, alpha_host, &res), 0);
    assert_int_equal(res.status, 403);
    assert_int_equal(usage("beta"), 1);

    /* Host wins over X-Instance; an unknown host with no X-Instance has no
     * instance (several are configured). */
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", b1,
                                  "Host: beta.example\r\nX-Instance: alpha\r\n", &res), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/v1/auth", b1,
                                  "Host: other.example\r\n", &res), 0);
    assert_int_equal(res.status, 404);
    assert_non_null(strstr(res.body, "\"error\":\"unknown_instance\""));
    free(a1);
    free(a2);
    free(a3);
    free(b1);
}

/* ------------------------------------------------------------------------
 * Reserved seats
 * ------------------------------------------------------------------------ */

static void test_reserved_seat_is_guaranteed(void **state) {
    char id[64];
    char *u1 = token("seats", "u1", "web", "s-u1", NULL, "");
    char *u2 = token("seats", "u2", "web", "s-u2", NULL, "");
    char *u3 = token("seats", "u3", "web", "s-u3", NULL, "");
    char *boss = token("seats", "boss", "web", "s-boss", NULL, "");
    char *boss2 = token("seats", "boss", "mobile", "s-boss-2", NULL, "");
    assert_int_equal(sd_test_redis_int(&redis, "SISMEMBER sd:{seats}:reserved boss"), 1);

    /* limit 3, one reserved subject: the others share 2. */
    assert_int_equal(open_session("seats", u1, NULL), 200);
    assert_int_equal(open_session("seats", u2, NULL), 200);
    sd_test_response res;
    call("GET", "seats", u3, &res);
    assert_int_equal(res.status, 429);
    assert_non_null(strstr(res.body, "\"used\":2,\"limit\":3"));
    assert_int_equal(usage("seats"), 2);

    /* The reserved user still gets in, on the seat. */
    assert_int_equal(open_session("seats", boss, id), 200);
    assert_int_equal(usage("seats"), 3);
    assert_int_equal(sd_test_redis_int(&redis, "ZCOUNT sd:{seats}:seats (%lld +inf",
                                       sd_test_redis_time_ms(&redis)), 1);
    /* Their second session draws from the shared pool, which is full. */
    call("GET", "seats", boss2, &res);
    assert_int_equal(res.status, 429);
    assert_non_null(strstr(res.body, "\"error\":\"license_limit_reached\""));

    /* A shared slot frees: the second session fits, the total is 3. */
    call("DELETE", "seats", u1, &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(open_session("seats", boss2, NULL), 200);
    assert_int_equal(usage("seats"), 3);
    /* The seat session closes: the seat frees, shared stays full. */
    call("DELETE", "seats", boss, &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(sd_test_redis_int(&redis, "EXISTS sd:{seats}:seats"), 0);
    call("GET", "seats", u3, &res);
    assert_int_equal(res.status, 429);
    free(u1);
    free(u2);
    free(u3);
    free(boss);
    free(boss2);
}

static void test_reserved_list_changes_never_over_grant(void **state) {
    char *u[4], *vip, *boss;
    char name[16], sid[16];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "user%d", i);
        snprintf(sid, sizeof sid, "s-%d", i);
        u[i] = token("live", name, "web", sid, NULL, "");
    }
    vip = token("live", "vip", "web", "s-vip", NULL, "");
    boss = token("live", "boss", "web", "s-boss", NULL, "");
    assert_int_equal(open_session("live", u[0], NULL), 200);
    assert_int_equal(open_session("live", u[1], NULL), 200);
    assert_int_equal(open_session("live", boss, NULL), 200);
    assert_int_equal(usage("live"), 3);

    /* A new reserved subject while the pool is full: no seat is conjured. */
    assert_int_equal(sd_test_redis_int(&redis, "SADD sd:{live}:reserved vip"), 1);
    assert_int_equal(open_session("live", vip, NULL), 429);
    /* The seat holder is un-reserved: it keeps its seat session, and the
     * shared pool (3 - 1 reserved) is still full. */
    assert_int_equal(sd_test_redis_int(&redis, "SREM sd:{live}:reserved boss"), 1);
    assert_int_equal(open_session("live", u[2], NULL), 429);
    assert_int_equal(usage("live"), 3);

    /* Two reserved subjects and limit 3: one shared slot. */
    assert_int_equal(sd_test_redis_int(&redis, "SADD sd:{live}:reserved boss"), 1);
    sd_test_response res;
    call("DELETE", "live", u[0], &res);
    call("DELETE", "live", u[1], &res);
    assert_int_equal(open_session("live", u[2], NULL), 200);
    assert_int_equal(open_session("live", u[3], NULL), 429);
    assert_int_equal(open_session("live", vip, NULL), 200);
    assert_int_equal(usage("live"), 3);
    for (int i = 0; i < 4; i++) free(u[i]);
    free(vip);
    free(boss);
}

typedef struct race_arg {
    pthread_barrier_t *start;
    char *token;
    int status;
} race_arg;

static void *race_worker(void *p) {
    race_arg *a = p;
    pthread_barrier_wait(a->start);
    a->status = open_session("race", a->token, NULL);
    return NULL;
}

static void test_reserved_user_wins_a_race_for_the_last_slots(void **state) {
    enum { N = 30 };
    race_arg args[N + 1];
    pthread_t threads[N + 1];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N + 1);
    char sub[16];
    for (int i = 0; i <= N; i++) {
        snprintf(sub, sizeof sub, "racer%d", i);
        /* The last racer is the reserved subject. */
        args[i] = (race_arg){.start = &start,
                             .token = token("race", i == N ? "boss" : sub, "web", NULL,
                                            NULL, "")};
        pthread_create(&threads[i], NULL, race_worker, &args[i]);
    }
    int opened = 0;
    for (int i = 0; i <= N; i++) {
        pthread_join(threads[i], NULL);
        if (i < N) opened += args[i].status == 200;
        if (args[i].status != 200 && args[i].status != 429)
            fail_msg("racer %d got %d", i, args[i].status);
        free(args[i].token);
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(args[N].status, 200);
    assert_int_equal(opened, 4);
    assert_int_equal(usage("race"), 5);
}

/* ------------------------------------------------------------------------
 * Refresh continuity and kinds
 * ------------------------------------------------------------------------ */

static void test_refresh_continuity(void **state) {
    char a[64], b[64];
    /* Same client and sid, new token: same session. */
    char *t1 = token("cont", "alice", "web", "sid-1", "j1", "");
    char *t2 = token("cont", "alice", "web", "sid-1", "j2", "");
    assert_int_equal(open_session("cont", t1, a), 200);
    assert_int_equal(open_session("cont", t2, b), 200);
    assert_string_equal(a, b);
    /* No sid: bound by client + sub, so a refresh is free too. */
    char *n1 = token("cont", "bob", "web", NULL, "j3", "");
    char *n2 = token("cont", "bob", "web", NULL, "j4", "");
    assert_int_equal(open_session("cont", n1, a), 200);
    assert_int_equal(open_session("cont", n2, b), 200);
    assert_string_equal(a, b);
    /* Another client of the same user is another session. */
    char *m1 = token("cont", "bob", "mobile", NULL, "j5", "");
    assert_int_equal(open_session("cont", m1, b), 200);
    assert_string_not_equal(a, b);
    /* Service tokens (no sub) bind by jti: each is its own session. */
    char *s1 = token("cont", NULL, "batch", NULL, "j6", "");
    char *s2 = token("cont", NULL, "batch", NULL, "j7", "");
    assert_int_equal(open_session("cont", s1, a), 200);
    assert_int_equal(open_session("cont", s2, b), 200);
    assert_string_not_equal(a, b);
    assert_int_equal(usage("cont"), 5);
    /* A sid reused for another user (an odd identity server) is still
     * another session: carol's logout leaves alice's session open. */
    char *c1 = token("cont", "carol", "web", "sid-1", "j10", "");
    assert_int_equal(open_session("cont", t1, a), 200);
    assert_int_equal(open_session("cont", c1, b), 200);
    assert_string_not_equal(a, b);
    assert_int_equal(usage("cont"), 6);
    sd_test_response res;
    call("DELETE", "cont", c1, &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(open_session("cont", t2, b), 200);
    assert_string_equal(a, b);
    assert_int_equal(usage("cont"), 5);

    /* With only the token rule, a refreshed token is a new session. */
    char *k1 = token("tokbind", "carol", "web", "sid-9", "j8", "");
    char *k2 = token("tokbind", "carol", "web", "sid-9", "j9", "");
    assert_int_equal(open_session("tokbind", k1, a), 200);
    assert_int_equal(open_session("tokbind", k2, b), 200);
    assert_string_not_equal(a, b);
    assert_int_equal(usage("tokbind"), 2);
    char *all[] = {t1, t2, n1, n2, m1, s1, s2, k1, k2, c1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

static void test_service_kinds_and_absolute_deadline(void **state) {
    sd_test_response res;
    char kind[32], id[64];
    /* Three service shapes: no sub; sub == client_id; the claim rule. */
    char *no_sub = token("svc", NULL, "batch", NULL, "j1", "");
    char *same = token("svc", "batch", "batch", NULL, "j2", "");
    char *rule = token("svc", "robot", "etl", NULL, "j3", ",\"gty\":\"client-credentials\"");
    char *user = token("svc", "alice", "web", "sid-a", "j4", ",\"gty\":\"password\"");
    char *tokens[] = {no_sub, same, rule, user};
    const char *want[] = {"service", "service", "service", "interactive"};
    for (int i = 0; i < 4; i++) {
        call("GET", "svc", tokens[i], &res);
        assert_int_equal(res.status, 200);
        header(&res, "X-Session-Kind", kind, sizeof kind);
        assert_string_equal(kind, want[i]);
        header(&res, "X-Session-Id", id, sizeof id);
        long long deadline =
            sd_test_redis_int(&redis, "HGET sd:{svc}:session:%s absolute_deadline", id);
        long long opened = sd_test_redis_int(&redis, "HGET sd:{svc}:session:%s opened_at", id);
        /* Service sessions end 800 ms after they opened; interactive
         * sessions have no absolute deadline here. */
        assert_int_equal(i < 3 ? deadline - opened : deadline, i < 3 ? 800 : 0);
    }
    /* Busy or not, the service sessions end at their deadline. */
    for (int i = 0; i < 6; i++) {
        sd_test_sleep_ms(200);
        call("GET", "svc", user, &res);
        assert_int_equal(res.status, 200);
    }
    assert_int_equal(usage("svc"), 1);
    for (int i = 0; i < 4; i++) free(tokens[i]);
}

/* ------------------------------------------------------------------------
 * Revocation and the per-subject cap
 * ------------------------------------------------------------------------ */

static void test_revoked_token_is_refused_but_session_stays(void **state) {
    char id[64], id2[64];
    sd_test_response res;
    char *t = token("revoke", "dave", "web", "sid-r", "jti-revoked", "");
    char *fresh = token("revoke", "dave", "web", "sid-r", "jti-fresh", "");
    assert_int_equal(open_session("revoke", t, id), 200);
    assert_int_equal(open_session("revoke", t, NULL), 200); /* now cached */

    /* Revoke by jti until the token's exp, as an operator would. */
    assert_int_equal(sd_test_redis_int(&redis, "SET sd:{revoke}:revoked:jti-revoked 1 EX 600") ,
                     -999); /* "OK" is not an integer */
    assert_int_equal(sd_test_redis_int(&redis, "EXISTS sd:{revoke}:revoked:jti-revoked"), 1);
    call("GET", "revoke", t, &res);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(res.body, "\"reason\":\"token_revoked\""));
    char www[200];
    header(&res, "WWW-Authenticate", www, sizeof www);
    assert_non_null(strstr(www, "invalid_token"));

    /* Revoking a token does not free a slot: the session is still open,
     * and a refreshed token with the same sid resumes it. */
    assert_int_equal(usage("revoke"), 1);
    assert_int_equal(sd_test_redis_int(&redis, "EXISTS sd:{revoke}:session:%s", id), 1);
    assert_int_equal(open_session("revoke", fresh, id2), 200);
    assert_string_equal(id, id2);
    free(t);
    free(fresh);
}

static void test_per_subject_cap(void **state) {
    sd_test_response res;
    char *w = token("capped", "erin", "web", NULL, NULL, "");
    char *m = token("capped", "erin", "mobile", NULL, NULL, "");
    char *d = token("capped", "erin", "desktop", NULL, NULL, "");
    char *other = token("capped", "frank", "web", NULL, NULL, "");
    assert_int_equal(open_session("capped", w, NULL), 200);
    assert_int_equal(open_session("capped", m, NULL), 200);
    call("GET", "capped", d, &res);
    assert_int_equal(res.status, 429);
    char retry[16];
    header(&res, "Retry-After", retry, sizeof retry);
    /* Sliding is the default 20 minutes: the first expiry is that far. */
    long secs = atol(retry);
    if (secs < 1190 || secs > 1200) fail_msg("Retry-After %ld", secs);
    /* The body names the subject's numbers, not the pool's (2 of 10). */
    char expected[256];
    snprintf(expected, sizeof expected,
             "{\"error\":\"subject_limit_reached\",\"reason\":\"subject_limit_reached\","
             "\"message\":\"this subject holds its maximum number of sessions\","
             "\"subject_sessions\":2,\"subject_limit\":2,\"retry_after\":%ld}",
             secs);
    assert_string_equal(res.body, expected);
    /* Resuming is not opening: still fine. Others are not affected. */
    assert_int_equal(open_session("capped", w, NULL), 200);
    assert_int_equal(open_session("capped", other, NULL), 200);
    /* One of erin's sessions ends: the third fits. */
    call("DELETE", "capped", m, &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(open_session("capped", d, NULL), 200);
    assert_int_equal(usage("capped"), 3);
    free(w);
    free(m);
    free(d);
    free(other);
}

/* ------------------------------------------------------------------------
 * Lifecycle events
 * ------------------------------------------------------------------------ */

/* The value of field name in a stream entry's field list, or "". */
static const char *field(const redisReply *fields, const char *name) {
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0) return fields->element[i + 1]->str;
    return "";
}

static void test_lifecycle_event_sequence(void **state) {
    sd_test_response res;
    char alice_id[64], bob_id[64];
    char *alice = token("events", "alice", "web", "sid-a", NULL, "");
    char *bob = token("events", "bob", "web", "sid-b", NULL, "");
    assert_int_equal(open_session("events", alice, alice_id), 200);
    assert_int_equal(open_session("events", bob, NULL), 429);
    call("DELETE", "events", alice, &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(open_session("events", bob, bob_id), 200);
    /* Idle for longer than 400 ms: the sweep (100 ms) closes it. */
    sd_test_sleep_ms(800);

    redisContext *c = sd_test_redis_connect(&redis);
    redisReply *r = redisCommand(c, "XRANGE sd:{events}:events - +");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    const char *want[][4] = {
        /* type, subject, reason, id */
        {"opened", "alice", "", alice_id},
        {"denied", "bob", "license_limit", ""},
        {"closed", "alice", "logout", alice_id},
        {"opened", "bob", "", bob_id},
        {"closed", "bob", "idle", bob_id},
    };
    assert_int_equal(r->elements, 5);
    for (size_t i = 0; i < 5; i++) {
        const redisReply *fields = r->element[i]->element[1];
        assert_string_equal(field(fields, "type"), want[i][0]);
        assert_string_equal(field(fields, "subject"), want[i][1]);
        assert_string_equal(field(fields, "reason"), want[i][2]);
        assert_string_equal(field(fields, "id"), want[i][3]);
        assert_string_equal(field(fields, "replica"), "lic-1");
        assert_string_equal(field(fields, "client_id"), "web");
    }
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(sd_test_redis_int(&redis, "ZCARD sd:{events}:slots"), 0);
    free(alice);
    free(bob);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instances_are_separate),
        cmocka_unit_test(test_reserved_seat_is_guaranteed),
        cmocka_unit_test(test_reserved_list_changes_never_over_grant),
        cmocka_unit_test(test_reserved_user_wins_a_race_for_the_last_slots),
        cmocka_unit_test(test_refresh_continuity),
        cmocka_unit_test(test_service_kinds_and_absolute_deadline),
        cmocka_unit_test(test_revoked_token_is_refused_but_session_stays),
        cmocka_unit_test(test_per_subject_cap),
        cmocka_unit_test(test_lifecycle_event_sequence),
    };
    return cmocka_run_group_tests_name("licensing", tests, setup, teardown);
}
