/* The operators' HTTP surface against a real redis-server and sessiond:
 * the admin routes of SPEC §5 (auth, license, sessions, close, revocations),
 * /metrics, the JSON access log with request ids, and the exact lifecycle
 * event sequence of a scripted session life (opened, denied, closed by
 * logout, absolute deadline, idle and admin). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "harness.h"
#include "jws_mint.h"

#define SECRET "an-admin-secret-of-at-least-32-bytes!"

static sd_test_stack stack;

#define INSTANCE(name, rest)                                                        \
    "{\"name\": \"" name "\", \"issuer\": \"https://id.test/" name "\","            \
    " \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], " rest "}"

static const char config_template[] =
    "{\"listen\": \"127.0.0.1:@PORT@\","
    " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\", \"timeout\": \"500ms\"},"
    " \"sweep_interval\": \"100ms\", \"replica_id\": \"ops-1\","
    " \"admin_secret\": \"" SECRET "\","
    " \"instances\": ["
    INSTANCE("ops", "\"license_limit\": 3") ","
    INSTANCE("other", "\"license_limit\": 3") ","
    INSTANCE("metrics", "\"license_limit\": 1, \"sliding\": \"300ms\"") ","
    INSTANCE("life", "\"license_limit\": 1, \"sliding\": \"400ms\","
                     " \"absolute\": \"900ms\"")
    " ]}";

static int setup(void **state) { return sd_test_stack_start(&stack, config_template); }

static int teardown(void **state) {
    sd_test_stack_stop(&stack);
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *token(const char *inst, const char *sub, const char *extra) {
    char iss[64], sid[64];
    snprintf(iss, sizeof iss, "https://id.test/%s", inst);
    snprintf(sid, sizeof sid, "sid-%s", sub ? sub : "svc");
    char *t = sd_test_token(stack.key, "k1", iss, sub, "web", sub ? sid : NULL, NULL, 600,
                            extra);
    assert_non_null(t);
    return t;
}

/* An admin call with bearer (NULL: none) and an optional JSON body. */
static void admin(const char *method, const char *path, const char *bearer,
                  const char *body, sd_test_response *res) {
    assert_int_equal(sd_test_http_body(stack.daemon.port, method, path, bearer,
                                       body ? "Content-Type: application/json\r\n" : NULL,
                                       body, res),
                     0);
}

/* Opens (or resumes) tok's session at inst; returns the status, id to id. */
static int open_session(const char *inst, const char *tok, char id[64]) {
    char headers[96];
    snprintf(headers, sizeof headers, "X-Instance: %s\r\n", inst);
    sd_test_response res;
    assert_int_equal(sd_test_http(stack.daemon.port, "GET", "/v1/auth", tok, headers, &res),
                     0);
    if (id && sd_test_header(&res, "X-Session-Id", id, 64) != 0) id[0] = '\0';
    return res.status;
}

static json_t *body_json(const sd_test_response *res) {
    json_error_t e;
    json_t *doc = json_loads(res->body, 0, &e);
    if (!doc) fail_msg("body is not JSON: %s", res->body);
    return doc;
}

static void expect_error(const sd_test_response *res, int status, const char *error,
                         const char *reason) {
    assert_int_equal(res->status, status);
    json_t *doc = body_json(res);
    assert_string_equal(json_string_value(json_object_get(doc, "error")), error);
    if (reason)
        assert_string_equal(json_string_value(json_object_get(doc, "reason")), reason);
    json_decref(doc);
}

/* An admin call naming no open session: there is no token in it to speak of. */
static void expect_unknown_id(const sd_test_response *res) {
    expect_error(res, 404, "not_found", "session_not_found");
    json_t *doc = body_json(res);
    assert_string_equal(json_string_value(json_object_get(doc, "message")),
                        "no open session with this id");
    json_decref(doc);
}

/* ------------------------------------------------------------------------
 * Admin authentication
 * ------------------------------------------------------------------------ */

static void test_admin_needs_secret_or_admin_scope(void **state) {
    sd_test_response res;
    const char *path = "/v1/admin/instances/ops/license";
    admin("GET", path, NULL, NULL, &res);
    expect_error(&res, 401, "invalid_token", "token_missing");
    char www[160];
    assert_int_equal(sd_test_header(&res, "WWW-Authenticate", www, sizeof www), 0);
    assert_non_null(strstr(www, "Bearer error=\"invalid_token\""));

    admin("GET", path, "not-the-secret", NULL, &res);
    expect_error(&res, 401, "invalid_token", "admin_credentials");
    assert_int_equal(sd_test_header(&res, "WWW-Authenticate", www, sizeof www), 0);
    assert_string_equal(www, "Bearer error=\"invalid_token\", "
                             "error_description=\"admin_credentials\"");
    /* A secret that differs in its last byte only. */
    admin("GET", path, "an-admin-secret-of-at-least-32-bytes?", NULL, &res);
    expect_error(&res, 401, "invalid_token", "admin_credentials");
    /* Of an unknown instance: the same answer (no instance is revealed). */
    admin("GET", "/v1/admin/instances/nosuch/license", "not-the-secret", NULL, &res);
    expect_error(&res, 401, "invalid_token", "admin_credentials");
    /* Something shaped like a token is judged as one. */
    admin("GET", path, "a.b.c", NULL, &res);
    assert_int_equal(res.status, 401);
    assert_null(strstr(res.body, "admin_credentials"));

    /* A valid token of the instance, but without the admin scope. */
    char *user = token("ops", "alice", ",\"scope\":\"erp.read erp.write\"");
    admin("GET", path, user, NULL, &res);
    expect_error(&res, 403, "forbidden", "insufficient_scope");
    assert_int_equal(sd_test_header(&res, "WWW-Authenticate", www, sizeof www), 0);
    assert_string_equal(www, "Bearer error=\"insufficient_scope\"");
    free(user);

    /* With the scope (string or array form) it may administer this instance. */
    char *op = token("ops", "root", ",\"scope\":\"erp.read sessiond:admin\"");
    admin("GET", path, op, NULL, &res);
    assert_int_equal(res.status, 200);
    char *op_array = token("ops", "root2", ",\"scope\":[\"sessiond:admin\"]");
    admin("GET", path, op_array, NULL, &res);
    assert_int_equal(res.status, 200);
    /* ... but not another instance. */
    admin("GET", "/v1/admin/instances/other/license", op, NULL, &res);
    expect_error(&res, 403, "wrong_instance", "wrong_instance");
    free(op);
    free(op_array);
    /* An admin token opens no session. */
    assert_int_equal(sd_test_usage(&stack.redis, "ops"), 0);

    /* The secret works everywhere, and only it learns which instances exist. */
    admin("GET", "/v1/admin/instances/other/license", SECRET, NULL, &res);
    assert_int_equal(res.status, 200);
    admin("GET", "/v1/admin/instances/nosuch/license", SECRET, NULL, &res);
    expect_error(&res, 404, "unknown_instance", "instance_unknown");
    char *stranger = token("ops", "eve", ",\"scope\":\"sessiond:admin\"");
    admin("GET", "/v1/admin/instances/nosuch/license", stranger, NULL, &res);
    assert_int_equal(res.status, 401);
    free(stranger);

    /* A revoked admin token loses its rights at once, on every worker. */
    char *adm = sd_test_token(stack.key, "k1", "https://id.test/ops", "root3", "web",
                              NULL, "jti-admin-1", 600, ",\"scope\":\"sessiond:admin\"");
    admin("GET", path, adm, NULL, &res);
    assert_int_equal(res.status, 200);
    char body[96];
    snprintf(body, sizeof body, "{\"jti\": \"jti-admin-1\", \"exp\": %ld}",
             (long)time(NULL) + 600);
    admin("POST", "/v1/admin/instances/ops/revocations", SECRET, body, &res);
    assert_int_equal(res.status, 204);
    admin("GET", path, adm, NULL, &res);
    expect_error(&res, 401, "invalid_token", "token_revoked");
    admin("PUT", path, adm, "{\"limit\": 9}", &res);
    expect_error(&res, 401, "invalid_token", "token_revoked");
    assert_int_equal(sd_test_redis_int(&stack.redis, "HGET sd:{ops}:pool limit"), 3);
    free(adm);

    admin("GET", "/v1/admin/nothing", SECRET, NULL, &res);
    expect_error(&res, 404, "not_found", NULL);
    admin("POST", path, SECRET, "{}", &res);
    assert_int_equal(res.status, 405);
    char allow[64];
    assert_int_equal(sd_test_header(&res, "Allow", allow, sizeof allow), 0);
    assert_string_equal(allow, "GET, PUT");
}

/* ------------------------------------------------------------------------
 * License
 * ------------------------------------------------------------------------ */

static void test_admin_license_get_and_put(void **state) {
    sd_test_response res;
    const char *path = "/v1/admin/instances/ops/license";
    char *a = token("ops", "ann", NULL);
    assert_int_equal(open_session("ops", a, NULL), 200);

    admin("GET", path, SECRET, NULL, &res);
    assert_int_equal(res.status, 200);
    json_t *doc = body_json(&res);
    assert_string_equal(json_string_value(json_object_get(doc, "instance")), "ops");
    assert_int_equal(json_integer_value(json_object_get(doc, "used")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "limit")), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "available")), 2);
    assert_int_equal(json_array_size(json_object_get(doc, "reserved")), 0);
    assert_non_null(json_string_value(json_object_get(doc, "earliest_expiry")));
    json_decref(doc);

    admin("PUT", path, SECRET, "{\"limit\": 5, \"reserved\": [\"boss\", \"cfo\"]}", &res);
    assert_int_equal(res.status, 200);
    doc = body_json(&res);
    assert_int_equal(json_integer_value(json_object_get(doc, "limit")), 5);
    assert_int_equal(json_integer_value(json_object_get(doc, "used")), 1);
    json_t *reserved = json_object_get(doc, "reserved");
    assert_int_equal(json_array_size(reserved), 2);
    assert_string_equal(json_string_value(json_array_get(reserved, 0)), "boss");
    assert_string_equal(json_string_value(json_array_get(reserved, 1)), "cfo");
    json_decref(doc);
    /* It is in Redis, where every replica reads it. */
    assert_int_equal(sd_test_redis_int(&stack.redis, "HGET sd:{ops}:pool limit"), 5);
    assert_int_equal(sd_test_redis_int(&stack.redis, "SCARD sd:{ops}:reserved"), 2);

    /* Only the limit: the reserved list stays. */
    admin("PUT", path, SECRET, "{\"limit\": 4}", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_redis_int(&stack.redis, "HGET sd:{ops}:pool limit"), 4);
    assert_int_equal(sd_test_redis_int(&stack.redis, "SCARD sd:{ops}:reserved"), 2);
    /* Only the list: replaced. */
    admin("PUT", path, SECRET, "{\"reserved\": []}", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(sd_test_redis_int(&stack.redis, "SCARD sd:{ops}:reserved"), 0);

    /* Bad bodies change nothing. */
    static const char *const bad[] = {
        "", "not json", "[]", "{}", "{\"limit\": -1}", "{\"limit\": \"5\"}",
        "{\"limit\": 2.5}", "{\"limit\": 1, \"limit\": 2}", "{\"limit\": 3, \"x\": 1}",
        "{\"reserved\": \"boss\"}", "{\"reserved\": [7]}",
        "{\"limit\": 1000000000}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        admin("PUT", path, SECRET, bad[i], &res);
        if (res.status != 400) fail_msg("body '%s' gave %d", bad[i], res.status);
        expect_error(&res, 400, "bad_request", "bad_request");
    }
    /* Subjects a token could never carry (empty, C0, DEL, C1 controls):
     * refused with a reason of their own. */
    static const char *const bad_subjects[] = {
        "{\"reserved\": [\"\"]}",
        "{\"reserved\": [\"a\\nb\"]}",
        "{\"reserved\": [\"ok\", \"x\\u001by\"]}",
        "{\"reserved\": [\"a\\u007f\"]}",
        "{\"reserved\": [\"a\\u0085b\"]}",
        "{\"limit\": 9, \"reserved\": [\"\\u009f\"]}",
    };
    for (size_t i = 0; i < sizeof bad_subjects / sizeof *bad_subjects; i++) {
        admin("PUT", path, SECRET, bad_subjects[i], &res);
        if (res.status != 400) fail_msg("body '%s' gave %d", bad_subjects[i], res.status);
        expect_error(&res, 400, "bad_request", "subject_invalid");
        json_t *err_doc = body_json(&res);
        assert_string_equal(
            json_string_value(json_object_get(err_doc, "message")),
            "a reserved subject must be a non-empty string without control characters");
        json_decref(err_doc);
    }
    assert_int_equal(sd_test_redis_int(&stack.redis, "SCARD sd:{ops}:reserved"), 0);
    assert_int_equal(sd_test_redis_int(&stack.redis, "HGET sd:{ops}:pool limit"), 4);
    /* Every change is an event: ann's opening, the three changes, and the
     * revocation of the first test. */
    assert_int_equal(sd_test_redis_int(&stack.redis, "XLEN sd:{ops}:events"), 5);

    /* More reserved subjects than licenses: refused, nothing changed. */
    admin("PUT", path, SECRET, "{\"limit\": 1, \"reserved\": [\"x\", \"y\"]}", &res);
    expect_error(&res, 400, "bad_request", "reserved_over_limit");
    assert_int_equal(sd_test_redis_int(&stack.redis, "HGET sd:{ops}:pool limit"), 4);
    assert_int_equal(sd_test_redis_int(&stack.redis, "SCARD sd:{ops}:reserved"), 0);

    admin("PUT", path, SECRET, "{\"limit\": 3}", &res);
    assert_int_equal(res.status, 200);

    /* A subject named twice is stored, counted and recorded once: three
     * names for two subjects fit a limit of 2. */
    admin("PUT", path, SECRET,
          "{\"limit\": 2, \"reserved\": [\"a\", \"a\", \"b\", \"a\"]}", &res);
    assert_int_equal(res.status, 200);
    doc = body_json(&res);
    reserved = json_object_get(doc, "reserved");
    assert_int_equal(json_array_size(reserved), 2);
    assert_string_equal(json_string_value(json_array_get(reserved, 0)), "a");
    assert_string_equal(json_string_value(json_array_get(reserved, 1)), "b");
    json_decref(doc);
    assert_int_equal(sd_test_redis_int(&stack.redis, "SCARD sd:{ops}:reserved"), 2);
    redisContext *c = sd_test_redis_connect(&stack.redis);
    redisReply *r = redisCommand(c, "XREVRANGE sd:{ops}:events + - COUNT 1");
    assert_int_equal(r->elements, 1);
    const redisReply *f = r->element[0]->element[1];
    char fields[512] = "";
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        if (strcmp(f->element[i]->str, "replica") == 0) continue;
        size_t n = strlen(fields);
        snprintf(fields + n, sizeof fields - n, "%s=%s;", f->element[i]->str,
                 f->element[i + 1]->str);
    }
    assert_string_equal(fields,
                        "type=settings;limit=2;reserved=2;change=replace;subjects=a,b;");
    freeReplyObject(r);
    redisFree(c);
    admin("PUT", path, SECRET, "{\"limit\": 3, \"reserved\": []}", &res);
    assert_int_equal(res.status, 200);
    free(a);
}

/* ------------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------------ */

static void test_admin_lists_shows_and_closes_sessions(void **state) {
    sd_test_response res;
    char ids[3][64];
    const char *subs[] = {"s-a", "s-b", "s-c"};
    char *toks[3];
    for (int i = 0; i < 3; i++) {
        toks[i] = token("other", subs[i], NULL);
        assert_int_equal(open_session("other", toks[i], ids[i]), 200);
        sd_test_sleep_ms(5); /* distinct opening times: a clear order */
    }

    /* Newest first, two per page. */
    admin("GET", "/v1/admin/instances/other/sessions?limit=2", SECRET, NULL, &res);
    assert_int_equal(res.status, 200);
    json_t *doc = body_json(&res);
    assert_int_equal(json_integer_value(json_object_get(doc, "open")), 3);
    json_t *page = json_object_get(doc, "sessions");
    assert_int_equal(json_array_size(page), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(page, 0), "id")),
                        ids[2]);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(page, 0), "subject")), "s-c");
    assert_string_equal(json_string_value(json_object_get(json_array_get(page, 1), "id")),
                        ids[1]);
    const char *cursor = json_string_value(json_object_get(doc, "next_cursor"));
    assert_non_null(cursor);
    char path[256];
    snprintf(path, sizeof path, "/v1/admin/instances/other/sessions?limit=2&cursor=%s",
             cursor);
    json_decref(doc);
    admin("GET", path, SECRET, NULL, &res);
    assert_int_equal(res.status, 200);
    doc = body_json(&res);
    page = json_object_get(doc, "sessions");
    assert_int_equal(json_array_size(page), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(page, 0), "id")),
                        ids[0]);
    assert_true(json_is_null(json_object_get(doc, "next_cursor")));
    json_decref(doc);

    /* One session, with every field an operator needs. */
    snprintf(path, sizeof path, "/v1/admin/instances/other/sessions/%s", ids[0]);
    admin("GET", path, SECRET, NULL, &res);
    assert_int_equal(res.status, 200);
    doc = body_json(&res);
    assert_string_equal(json_string_value(json_object_get(doc, "subject")), "s-a");
    assert_string_equal(json_string_value(json_object_get(doc, "client_id")), "web");
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "interactive");
    assert_string_equal(json_string_value(json_object_get(doc, "binding")), "sid:sid-s-a");
    assert_int_equal(json_integer_value(json_object_get(doc, "requests")), 1);
    assert_non_null(json_string_value(json_object_get(doc, "opened_at")));
    assert_true(json_is_null(json_object_get(doc, "absolute_deadline")));
    assert_null(json_object_get(doc, "binding_key"));
    json_decref(doc);

    /* Closing it frees the slot at once and records reason admin. */
    admin("DELETE", path, SECRET, NULL, &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(sd_test_usage(&stack.redis, "other"), 2);
    admin("DELETE", path, SECRET, NULL, &res);
    expect_unknown_id(&res);
    admin("GET", path, SECRET, NULL, &res);
    expect_unknown_id(&res);
    redisContext *c = sd_test_redis_connect(&stack.redis);
    redisReply *r = redisCommand(c, "XREVRANGE sd:{other}:events + - COUNT 1");
    const redisReply *f = r->element[0]->element[1];
    int saw_admin = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (strcmp(f->element[i]->str, "reason") == 0)
            saw_admin = strcmp(f->element[i + 1]->str, "admin") == 0;
    assert_true(saw_admin);
    freeReplyObject(r);
    redisFree(c);
    /* The client's next request opens a new session. */
    char again[64];
    assert_int_equal(open_session("other", toks[0], again), 200);
    assert_string_not_equal(again, ids[0]);

    /* Bad parameters. */
    static const char *const bad[] = {
        "/v1/admin/instances/other/sessions?limit=0",
        "/v1/admin/instances/other/sessions?limit=1001",
        "/v1/admin/instances/other/sessions?limit=abc",
        "/v1/admin/instances/other/sessions?cursor=nonsense",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        admin("GET", bad[i], SECRET, NULL, &res);
        if (res.status != 400) fail_msg("%s gave %d", bad[i], res.status);
    }
    admin("GET", "/v1/admin/instances/other/sessions/bad!id", SECRET, NULL, &res);
    expect_unknown_id(&res);
    admin("GET", "/v1/admin/instances/other/sessions/a/b", SECRET, NULL, &res);
    assert_int_equal(res.status, 404);
    admin("PUT", "/v1/admin/instances/other/sessions", SECRET, "{}", &res);
    assert_int_equal(res.status, 405);
    for (int i = 0; i < 3; i++) free(toks[i]);
}

/* ------------------------------------------------------------------------
 * Revocations
 * ------------------------------------------------------------------------ */

static void test_admin_revokes_a_token_but_not_its_session(void **state) {
    sd_test_response res;
    char iss[] = "https://id.test/ops";
    char *t = sd_test_token(stack.key, "k1", iss, "rita", "web", "sid-rita", "jti-rita", 600,
                            NULL);
    char id[64];
    assert_int_equal(open_session("ops", t, id), 200);
    long long used = sd_test_usage(&stack.redis, "ops");

    char body[128];
    snprintf(body, sizeof body, "{\"jti\": \"jti-rita\", \"exp\": %ld",
             (long)time(NULL) + 600);
    strcat(body, "}");
    admin("POST", "/v1/admin/instances/ops/revocations", SECRET, body, &res);
    assert_int_equal(res.status, 204);
    long long ttl = sd_test_redis_int(&stack.redis, "PTTL sd:{ops}:revoked:jti-rita");
    if (ttl < 590000 || ttl > 600000) fail_msg("revocation TTL %lld", ttl);

    /* The token is refused (its cached verification does not help) ... */
    assert_int_equal(open_session("ops", t, NULL), 401);
    /* ... but its session keeps its slot until it closes (SPEC §1). */
    assert_int_equal(sd_test_usage(&stack.redis, "ops"), used);
    assert_int_equal(sd_test_redis_int(&stack.redis, "EXISTS sd:{ops}:session:%s", id), 1);

    static const char *const bad[] = {
        "{\"jti\": \"x\"}", "{\"exp\": 99999999999}", "{\"jti\": \"\", \"exp\": 1}",
        "{\"jti\": \"x\", \"exp\": \"1\"}", "{\"jti\": \"x\", \"exp\": 99999999999}",
        "{\"jti\": 5, \"exp\": 1}", "nope",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        admin("POST", "/v1/admin/instances/ops/revocations", SECRET, bad[i], &res);
        if (res.status != 400) fail_msg("body '%s' gave %d", bad[i], res.status);
    }
    /* Closing the session is what frees the slot. */
    char path[128];
    snprintf(path, sizeof path, "/v1/admin/instances/ops/sessions/%s", id);
    admin("DELETE", path, SECRET, NULL, &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(sd_test_usage(&stack.redis, "ops"), used - 1);
    free(t);
}

/* ------------------------------------------------------------------------
 * Metrics
 * ------------------------------------------------------------------------ */

static double metric(const char *sample) {
    sd_test_response res;
    assert_int_equal(sd_test_http(stack.daemon.port, "GET", "/metrics", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 200);
    return sd_test_metric(res.body, sample);
}

#define OPENED "sessiond_http_requests_total{route=\"auth\",status=\"200\",outcome=\"opened\"}"
#define RESUMED "sessiond_http_requests_total{route=\"auth\",status=\"200\",outcome=\"resumed\"}"
#define DENIED "sessiond_http_requests_total{route=\"auth\",status=\"429\",outcome=\"license_limit_reached\"}"

static void test_metrics_count_what_happened(void **state) {
    sd_test_response res;
    assert_int_equal(sd_test_http(stack.daemon.port, "GET", "/metrics", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 200);
    char type[96];
    assert_int_equal(sd_test_header(&res, "Content-Type", type, sizeof type), 0);
    assert_string_equal(type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(res.body, "# TYPE sessiond_redis_call_duration_seconds histogram"));
    assert_true(sd_test_metric(res.body, "sessiond_redis_up") == 1);
    assert_true(sd_test_metric(res.body, "sessiond_license_limit{instance=\"metrics\"}") ==
                1);

    double opened = metric(OPENED), resumed = metric(RESUMED), denied = metric(DENIED);
    double opened_i = metric("sessiond_sessions_opened_total{instance=\"metrics\"}");
    double idle = metric("sessiond_sessions_closed_total{instance=\"metrics\",reason=\"idle\"}");
    double misses = metric("sessiond_token_cache_misses_total");
    double hits = metric("sessiond_token_cache_hits_total");
    double calls = metric("sessiond_redis_call_duration_seconds_count");
    if (opened < 0) opened = 0;
    if (resumed < 0) resumed = 0;
    if (denied < 0) denied = 0;

    char *m1 = token("metrics", "m1", NULL), *m2 = token("metrics", "m2", NULL);
    assert_int_equal(open_session("metrics", m1, NULL), 200);
    assert_int_equal(open_session("metrics", m1, NULL), 200);
    assert_int_equal(open_session("metrics", m2, NULL), 429);
    assert_true(metric(OPENED) == opened + 1);
    assert_true(metric(RESUMED) == resumed + 1);
    assert_true(metric(DENIED) == denied + 1);
    assert_true(metric("sessiond_sessions_opened_total{instance=\"metrics\"}") ==
                opened_i + 1);
    assert_true(metric("sessiond_sessions_denied_total{instance=\"metrics\","
                       "reason=\"license_limit\"}") >= 1);
    /* m1 and m2 were verified once each, then m1 came from the cache. */
    assert_true(metric("sessiond_token_cache_misses_total") == misses + 2);
    assert_true(metric("sessiond_token_cache_hits_total") == hits + 1);
    assert_true(metric("sessiond_redis_call_duration_seconds_count") >= calls + 3);
    assert_true(metric("sessiond_sessions_open{instance=\"metrics\"}") >= 0);

    /* Idle for 300 ms: the sweep reaps it and counts it, and the gauge drops. */
    sd_test_sleep_ms(700);
    assert_true(metric("sessiond_sessions_closed_total{instance=\"metrics\",reason=\"idle\"}") ==
                idle + 1);
    assert_true(metric("sessiond_sessions_open{instance=\"metrics\"}") == 0);
    free(m1);
    free(m2);
}

/* ------------------------------------------------------------------------
 * Access log
 * ------------------------------------------------------------------------ */

static char *read_log(void) {
    FILE *f = fopen(stack.daemon.log_path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 22);
    fread(buf, 1, (1 << 22) - 1, f);
    fclose(f);
    return buf;
}

/* The log line (a copy) holding needle, or NULL. */
static json_t *log_line_with(const char *needle) {
    char *text = read_log();
    json_t *found = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, needle)) {
            json_error_t e;
            json_decref(found);
            found = json_loads(line, 0, &e);
            if (!found) fail_msg("log line is not JSON: %s", line);
        }
    free(text);
    return found;
}

static void test_access_log_has_request_ids_and_no_tokens(void **state) {
    char *t = token("ops", "logan", NULL);
    sd_test_response res;
    assert_int_equal(sd_test_http(stack.daemon.port, "GET", "/v1/auth", t,
                                  "X-Instance: ops\r\nX-Request-Id: req-42.abc\r\n", &res),
                     0);
    assert_int_equal(res.status, 200);
    char rid[80];
    assert_int_equal(sd_test_header(&res, "X-Request-Id", rid, sizeof rid), 0);
    assert_string_equal(rid, "req-42.abc");
    sd_test_sleep_ms(50);
    json_t *line = log_line_with("\"request_id\":\"req-42.abc\"");
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(line, "msg")), "request");
    assert_string_equal(json_string_value(json_object_get(line, "route")), "auth");
    assert_string_equal(json_string_value(json_object_get(line, "status")), "200");
    assert_string_equal(json_string_value(json_object_get(line, "outcome")), "opened");
    assert_string_equal(json_string_value(json_object_get(line, "instance")), "ops");
    assert_string_equal(json_string_value(json_object_get(line, "replica")), "ops-1");
    assert_int_equal(strlen(json_string_value(json_object_get(line, "token"))), 16);
    assert_non_null(json_object_get(line, "duration_ms"));
    assert_non_null(json_object_get(line, "time"));
    json_decref(line);

    /* No id given, or an unusable one: the worker makes one. */
    assert_int_equal(sd_test_http(stack.daemon.port, "GET", "/healthz", NULL,
                                  "X-Request-Id: has spaces and \"quotes\"\r\n", &res),
                     0);
    assert_int_equal(sd_test_header(&res, "X-Request-Id", rid, sizeof rid), 0);
    assert_string_not_equal(rid, "has spaces and \"quotes\"");
    assert_true(strlen(rid) > 8);
    sd_test_sleep_ms(50);
    char needle[120];
    snprintf(needle, sizeof needle, "\"request_id\":\"%s\"", rid);
    line = log_line_with(needle);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "route")), "healthz");
    json_decref(line);

    /* A refused token is logged with its reason, and never the token. */
    assert_int_equal(sd_test_http(stack.daemon.port, "GET", "/v1/auth", "a.b.c",
                                  "X-Instance: ops\r\nX-Request-Id: req-bad\r\n", &res),
                     0);
    assert_int_equal(res.status, 401);
    sd_test_sleep_ms(50);
    line = log_line_with("\"request_id\":\"req-bad\"");
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "outcome")),
                        "invalid_token");
    json_decref(line);
    char *log = read_log();
    /* The signature part of a token is the secret-like part: never logged. */
    assert_null(strstr(log, strrchr(t, '.') + 1));
    free(log);
    free(t);
}

/* ------------------------------------------------------------------------
 * Lifecycle events
 * ------------------------------------------------------------------------ */

static void test_scripted_lifecycle_gives_exact_event_sequence(void **state) {
    sd_test_response res;
    char a_id[64], s_id[64], c_id[64], d_id[64];
    char *a = token("life", "ann", NULL), *b = token("life", "bob", NULL);
    char *svc = token("life", NULL, NULL), *c = token("life", "cat", NULL);
    char *d = token("life", "dan", NULL);

    assert_int_equal(open_session("life", a, a_id), 200);          /* opened ann */
    assert_int_equal(open_session("life", b, NULL), 429);          /* denied bob */
    assert_int_equal(sd_test_http(stack.daemon.port, "DELETE", "/v1/session", a,
                                  "X-Instance: life\r\n", &res),
                     0);                                           /* closed logout */
    assert_int_equal(res.status, 204);
    /* A busy service session still ends at its absolute deadline (900 ms). */
    assert_int_equal(open_session("life", svc, s_id), 200);        /* opened service */
    for (int i = 0; i < 5; i++) {
        sd_test_sleep_ms(150);
        assert_int_equal(open_session("life", svc, NULL), 200);
    }
    sd_test_sleep_ms(700);                                         /* closed absolute */
    assert_int_equal(open_session("life", c, c_id), 200);          /* opened cat */
    sd_test_sleep_ms(800);                                         /* closed idle */
    assert_int_equal(open_session("life", d, d_id), 200);          /* opened dan */
    char path[128];
    snprintf(path, sizeof path, "/v1/admin/instances/life/sessions/%s", d_id);
    admin("DELETE", path, SECRET, NULL, &res);                     /* closed admin */
    assert_int_equal(res.status, 204);

    redisContext *rc = sd_test_redis_connect(&stack.redis);
    redisReply *r = redisCommand(rc, "XRANGE sd:{life}:events - +");
    const char *want[][4] = {
        /* type, subject, reason, id */
        {"opened", "ann", "", a_id},     {"denied", "bob", "license_limit", ""},
        {"closed", "ann", "logout", a_id}, {"opened", "", "", s_id},
        {"closed", "", "absolute", s_id}, {"opened", "cat", "", c_id},
        {"closed", "cat", "idle", c_id},  {"opened", "dan", "", d_id},
        {"closed", "dan", "admin", d_id},
    };
    size_t n = sizeof want / sizeof *want;
    assert_int_equal(r->elements, n);
    for (size_t i = 0; i < n; i++) {
        const redisReply *f = r->element[i]->element[1];
        assert_string_equal(sd_test_stream_field(f, "type"), want[i][0]);
        assert_string_equal(sd_test_stream_field(f, "subject"), want[i][1]);
        assert_string_equal(sd_test_stream_field(f, "reason"), want[i][2]);
        assert_string_equal(sd_test_stream_field(f, "id"), want[i][3]);
    }
    assert_string_equal(sd_test_stream_field(r->element[3]->element[1], "kind"), "service");
    assert_string_equal(sd_test_stream_field(r->element[8]->element[1], "replica"), "ops-1");
    freeReplyObject(r);
    redisFree(rc);
    free(a);
    free(b);
    free(svc);
    free(c);
    free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_needs_secret_or_admin_scope),
        cmocka_unit_test(test_admin_license_get_and_put),
        cmocka_unit_test(test_admin_lists_shows_and_closes_sessions),
        cmocka_unit_test(test_admin_revokes_a_token_but_not_its_session),
        cmocka_unit_test(test_metrics_count_what_happened),
        cmocka_unit_test(test_access_log_has_request_ids_and_no_tokens),
        cmocka_unit_test(test_scripted_lifecycle_gives_exact_event_sequence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
