/* sessionctl's operator commands end to end: the real binary against a real
 * redis-server that a real sessiond fills with sessions. Each command's
 * output (table and --json), exit status, and effect in Redis is checked,
 * and `check` is shown to find every kind of damage it names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "harness.h"
#include "jws_mint.h"

static sd_test_stack stack;
static char redis_url[64];

#define INSTANCE(name, rest)                                                        \
    "{\"name\": \"" name "\", \"issuer\": \"https://id.test/" name "\","            \
    " \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], " rest "}"

static const char config_template[] =
    "{\"listen\": \"127.0.0.1:@PORT@\","
    " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\", \"timeout\": \"500ms\"},"
    " \"sweep_interval\": \"100ms\", \"replica_id\": \"ctl-1\", \"log_level\": \"warn\","
    " \"instances\": ["
    INSTANCE("acme", "\"license_limit\": 3, \"reserved\": [\"boss\"]") ","
    INSTANCE("beta", "\"license_limit\": 2")
    " ]}";

static int setup(void **state) {
    if (sd_test_stack_start(&stack, config_template)) return -1;
    snprintf(redis_url, sizeof redis_url, "redis://127.0.0.1:%d/0", stack.redis.port);
    return 0;
}

static int teardown(void **state) {
    sd_test_stack_stop(&stack);
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* ctl(&r, "usage", "--json", NULL): runs sessionctl against the test Redis
 * (every command but those given --redis themselves gets it appended). */
static void ctl(sd_test_run_result *r, const char *first, ...) {
    const char *bin = getenv("SD_SESSIONCTL");
    if (!bin) bin = SD_BINARY_DIR "/sessionctl";
    char *argv[40];
    int n = 0, has_redis = 0;
    argv[n++] = (char *)bin;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        assert_true(n < 36);
        if (strcmp(a, "--redis") == 0) has_redis = 1;
        argv[n++] = (char *)a;
    }
    va_end(ap);
    if (!has_redis) {
        argv[n++] = "--redis";
        argv[n++] = redis_url;
    }
    argv[n] = NULL;
    assert_int_equal(sd_test_run(r, NULL, argv), 0);
}

static json_t *out_json(const sd_test_run_result *r) {
    json_error_t e;
    json_t *doc = json_loads(r->out, 0, &e);
    if (!doc) fail_msg("not JSON (%s): %s / %s", e.text, r->out, r->err);
    return doc;
}

static int open_session(const char *inst, const char *sub, char id[64]) {
    char iss[64], sid[64], headers[64];
    snprintf(iss, sizeof iss, "https://id.test/%s", inst);
    snprintf(sid, sizeof sid, "sid-%s", sub);
    snprintf(headers, sizeof headers, "X-Instance: %s\r\n", inst);
    char *t = sd_test_token(stack.key, "k1", iss, sub, "web", sid, NULL, 600, NULL);
    sd_test_response res;
    assert_int_equal(sd_test_http(stack.daemon.port, "GET", "/v1/auth", t, headers, &res),
                     0);
    free(t);
    if (id && sd_test_header(&res, "X-Session-Id", id, 64) != 0) id[0] = '\0';
    return res.status;
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void test_usage_list_show(void **state) {
    char ids[2][64];
    assert_int_equal(open_session("acme", "ann", ids[0]), 200);
    sd_test_sleep_ms(5);
    assert_int_equal(open_session("acme", "bob", ids[1]), 200);

    sd_test_run_result r;
    ctl(&r, "usage", "--json", NULL);
    assert_int_equal(r.status, 0);
    json_t *doc = out_json(&r);
    json_t *all = json_object_get(doc, "instances");
    assert_int_equal(json_array_size(all), 2);
    json_t *acme = json_array_get(all, 0);
    assert_string_equal(json_string_value(json_object_get(acme, "instance")), "acme");
    assert_int_equal(json_integer_value(json_object_get(acme, "used")), 2);
    assert_int_equal(json_integer_value(json_object_get(acme, "limit")), 3);
    assert_int_equal(json_integer_value(json_object_get(acme, "available")), 1);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(acme, "reserved"), 0)), "boss");
    json_t *beta = json_array_get(all, 1);
    assert_int_equal(json_integer_value(json_object_get(beta, "used")), 0);
    json_decref(doc);
    sd_test_run_free(&r);

    /* The table: a header and one row per instance, in name order. */
    ctl(&r, "usage", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "INSTANCE"));
    char *row = strstr(r.out, "\nacme ");
    assert_non_null(row);
    int used, limit, free_slots, reserved;
    assert_int_equal(sscanf(row, "\nacme %d %d %d %d", &used, &limit, &free_slots,
                            &reserved),
                     4);
    assert_int_equal(used, 2);
    assert_int_equal(limit, 3);
    assert_int_equal(free_slots, 1);
    assert_int_equal(reserved, 1);
    assert_non_null(strstr(r.out, "\nbeta "));
    sd_test_run_free(&r);

    /* A stored limit that is no integer: workers keep using the configured
     * one; usage shows what is stored, and no free count it cannot know. */
    sd_test_redis_int(&stack.redis, "HSET sd:{acme}:pool limit abc");
    ctl(&r, "usage", NULL);
    assert_int_equal(r.status, 0);
    row = strstr(r.out, "\nacme ");
    assert_non_null(row);
    char limit_text[32], free_text[8];
    assert_int_equal(sscanf(row, "\nacme %d %31s (invalid) %7s %d", &used, limit_text,
                            free_text, &reserved),
                     4);
    assert_int_equal(used, 2);
    assert_string_equal(limit_text, "\"abc\"");
    assert_string_equal(free_text, "-");
    assert_int_equal(reserved, 1);
    sd_test_run_free(&r);
    ctl(&r, "usage", "--instance", "acme", "--json", NULL);
    assert_int_equal(r.status, 0);
    doc = out_json(&r);
    acme = json_array_get(json_object_get(doc, "instances"), 0);
    assert_true(json_is_null(json_object_get(acme, "limit")));
    assert_string_equal(json_string_value(json_object_get(acme, "invalid_limit")), "abc");
    json_decref(doc);
    sd_test_run_free(&r);
    sd_test_redis_int(&stack.redis, "HSET sd:{acme}:pool limit 3");
    ctl(&r, "usage", "--instance", "acme", "--json", NULL);
    doc = out_json(&r);
    acme = json_array_get(json_object_get(doc, "instances"), 0);
    assert_int_equal(json_integer_value(json_object_get(acme, "limit")), 3);
    assert_null(json_object_get(acme, "invalid_limit"));
    json_decref(doc);
    sd_test_run_free(&r);

    /* "Who holds the licenses right now, and since when?" */
    ctl(&r, "list", "--instance", "acme", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "2 open session(s) at acme, newest first"));
    char *bob = strstr(r.out, ids[1]), *ann = strstr(r.out, ids[0]);
    assert_non_null(bob);
    assert_non_null(ann);
    assert_true(bob < ann); /* newest first */
    assert_non_null(strstr(bob, "bob"));
    sd_test_run_free(&r);

    ctl(&r, "list", "--instance", "acme", "--page", "1", "--json", NULL);
    assert_int_equal(r.status, 0);
    doc = out_json(&r);
    assert_int_equal(json_array_size(json_object_get(doc, "sessions")), 1);
    const char *cursor = json_string_value(json_object_get(doc, "next_cursor"));
    assert_non_null(cursor);
    char cursor_copy[128];
    snprintf(cursor_copy, sizeof cursor_copy, "%s", cursor);
    json_decref(doc);
    sd_test_run_free(&r);
    ctl(&r, "list", "--instance", "acme", "--cursor", cursor_copy, "--json", NULL);
    doc = out_json(&r);
    json_t *rest = json_object_get(doc, "sessions");
    assert_int_equal(json_array_size(rest), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rest, 0), "id")),
                        ids[0]);
    json_decref(doc);
    sd_test_run_free(&r);
    ctl(&r, "list", "--instance", "acme", "--all", "--page", "1", "--json", NULL);
    doc = out_json(&r);
    assert_int_equal(json_array_size(json_object_get(doc, "sessions")), 2);
    json_decref(doc);
    sd_test_run_free(&r);

    ctl(&r, "show", ids[0], "--instance", "acme", "--json", NULL);
    assert_int_equal(r.status, 0);
    doc = out_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "subject")), "ann");
    assert_string_equal(json_string_value(json_object_get(doc, "seat")), "shared");
    assert_int_equal(json_integer_value(json_object_get(doc, "requests")), 1);
    json_decref(doc);
    sd_test_run_free(&r);
    ctl(&r, "show", ids[0], "--instance", "acme", NULL);
    assert_non_null(strstr(r.out, "subject            ann\n"));
    sd_test_run_free(&r);
    ctl(&r, "show", "nosuchsession", "--instance", "acme", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "no open session 'nosuchsession' at acme"));
    sd_test_run_free(&r);

    /* Two instances in Redis: a command about one must name it. */
    ctl(&r, "list", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "several instances; name one with --instance"));
    sd_test_run_free(&r);
}

static void test_close_limit_reserve_revoke(void **state) {
    char id[64];
    assert_int_equal(open_session("beta", "cid", id), 200);
    sd_test_run_result r;
    ctl(&r, "close", id, "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "closed session"));
    assert_int_equal(sd_test_usage(&stack.redis, "beta"), 0);
    sd_test_run_free(&r);
    ctl(&r, "close", id, "--instance", "beta", NULL);
    assert_int_equal(r.status, 1);
    sd_test_run_free(&r);

    ctl(&r, "limit", "set", "7", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "beta: limit 7, 0 reserved subject(s)\n");
    assert_int_equal(sd_test_redis_int(&stack.redis, "HGET sd:{beta}:pool limit"), 7);
    sd_test_run_free(&r);
    static const char *const bad_limits[] = {"-1", "abc", "1e3", "", "100000001"};
    for (size_t i = 0; i < sizeof bad_limits / sizeof *bad_limits; i++) {
        ctl(&r, "limit", "set", bad_limits[i], "--instance", "beta", NULL);
        assert_int_equal(r.status, 2);
        sd_test_run_free(&r);
    }
    ctl(&r, "limit", "get", "--instance", "beta", NULL);
    assert_int_equal(r.status, 2);
    sd_test_run_free(&r);
    assert_int_equal(sd_test_redis_int(&stack.redis, "HGET sd:{beta}:pool limit"), 7);

    ctl(&r, "reserve", "add", "cfo", "cto", "--instance", "beta", "--json", NULL);
    assert_int_equal(r.status, 0);
    json_t *doc = out_json(&r);
    assert_int_equal(json_integer_value(json_object_get(doc, "reserved")), 2);
    json_decref(doc);
    sd_test_run_free(&r);
    ctl(&r, "reserve", "remove", "cto", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    sd_test_run_free(&r);
    ctl(&r, "reserve", "list", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "cfo\n");
    sd_test_run_free(&r);
    ctl(&r, "reserve", "add", "--instance", "beta", NULL);
    assert_int_equal(r.status, 2);
    sd_test_run_free(&r);
    /* A subject no token can carry (C0, DEL or C1 control) is refused
     * before anything is changed. */
    static const char *const bad_subjects[] = {"x\ny", "a\x1b[31m", "d\x7f",
                                               "nel\xc2\x85", "csi\xc2\x9b"};
    for (size_t i = 0; i < sizeof bad_subjects / sizeof *bad_subjects; i++) {
        ctl(&r, "reserve", "add", "ok", bad_subjects[i], "--instance", "beta", NULL);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "contains a control character (C0, DEL or C1); "
                                      "no token can carry it"));
        sd_test_run_free(&r);
    }
    ctl(&r, "reserve", "add", "x\ny", "--instance", "beta", NULL);
    assert_non_null(
        strstr(r.err, "reserve: subject 'x\\ny' contains a control character"));
    sd_test_run_free(&r);
    assert_int_equal(sd_test_redis_int(&stack.redis, "SCARD sd:{beta}:reserved"), 1);

    char until[24];
    snprintf(until, sizeof until, "%ld", (long)time(NULL) + 300);
    ctl(&r, "revoke", "jti-x", "--until", until, "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    long long ttl = sd_test_redis_int(&stack.redis, "PTTL sd:{beta}:revoked:jti-x");
    if (ttl < 290000 || ttl > 300000) fail_msg("revocation TTL %lld", ttl);
    sd_test_run_free(&r);
    ctl(&r, "revoke", "jti-y", "--until", "+1h", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    ttl = sd_test_redis_int(&stack.redis, "PTTL sd:{beta}:revoked:jti-y");
    if (ttl < 3590000 || ttl > 3600000) fail_msg("revocation TTL %lld", ttl);
    sd_test_run_free(&r);
    ctl(&r, "revoke", "jti-z", "--instance", "beta", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--until EXP is required"));
    sd_test_run_free(&r);
    ctl(&r, "revoke", "jti-z", "--until", "soon", "--instance", "beta", NULL);
    assert_int_equal(r.status, 2);
    sd_test_run_free(&r);
    assert_int_equal(sd_test_redis_int(&stack.redis, "EXISTS sd:{beta}:revoked:jti-z"), 0);

    /* A mistyped instance is an error, and creates nothing. */
    ctl(&r, "limit", "set", "7", "--instance", "ghost", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "no instance 'ghost' in Redis (instances: acme, beta)"));
    assert_int_equal(sd_test_redis_int(&stack.redis, "EXISTS sd:{ghost}:pool"), 0);
    assert_int_equal(sd_test_redis_int(&stack.redis, "EXISTS sd:{ghost}:events"), 0);
    sd_test_run_free(&r);
    ctl(&r, "usage", "--instance", "ghost", NULL);
    assert_int_equal(r.status, 1);
    sd_test_run_free(&r);

    /* Any number of reserved subjects, but never more than licenses. */
    char *argv_many[40];
    static char names[30][8];
    for (int i = 0; i < 30; i++) snprintf(names[i], sizeof names[i], "r%02d", i);
    ctl(&r, "reserve", "add", names[0], names[1], names[2], names[3], names[4], names[5],
        names[6], names[7], names[8], names[9], names[10], names[11], names[12],
        names[13], names[14], names[15], names[16], names[17], names[18], names[19],
        names[20], names[21], names[22], names[23], names[24], names[25], names[26],
        names[27], names[28], names[29], "--instance", "beta", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "more reserved subjects than licenses"));
    assert_int_equal(sd_test_redis_int(&stack.redis, "SCARD sd:{beta}:reserved"), 1);
    sd_test_run_free(&r);
    ctl(&r, "limit", "set", "40", "--instance", "beta", NULL);
    sd_test_run_free(&r);
    ctl(&r, "reserve", "add", names[0], names[1], names[2], names[3], names[4], names[5],
        names[6], names[7], names[8], names[9], names[10], names[11], names[12],
        names[13], names[14], names[15], names[16], names[17], names[18], names[19],
        names[20], names[21], names[22], names[23], names[24], names[25], names[26],
        names[27], names[28], names[29], "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "beta: limit 40, 31 reserved subject(s)\n");
    sd_test_run_free(&r);
    /* Below the reserved count the limit cannot go. */
    ctl(&r, "limit", "set", "5", "--instance", "beta", NULL);
    assert_int_equal(r.status, 1);
    assert_int_equal(sd_test_redis_int(&stack.redis, "HGET sd:{beta}:pool limit"), 40);
    sd_test_run_free(&r);
    (void)argv_many;
    for (int i = 0; i < 30; i++) {
        ctl(&r, "reserve", "remove", names[i], "--instance", "beta", NULL);
        assert_int_equal(r.status, 0);
        sd_test_run_free(&r);
    }
    /* With none left, list says so (--json stays an empty array). */
    ctl(&r, "reserve", "remove", "cfo", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    sd_test_run_free(&r);
    ctl(&r, "reserve", "list", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "no reserved subjects\n");
    sd_test_run_free(&r);
    ctl(&r, "reserve", "list", "--instance", "beta", "--json", NULL);
    assert_int_equal(r.status, 0);
    doc = out_json(&r);
    assert_true(json_is_array(json_object_get(doc, "reserved")));
    assert_int_equal(json_array_size(json_object_get(doc, "reserved")), 0);
    json_decref(doc);
    sd_test_run_free(&r);

    /* A revocation cannot outlive any token by years. */
    ctl(&r, "revoke", "jti-w", "--until", "9999999999999", "--instance", "beta", NULL);
    assert_int_equal(r.status, 2);
    sd_test_run_free(&r);
    ctl(&r, "revoke", "jti-w", "--until", "+400d", "--instance", "beta", NULL);
    assert_int_equal(r.status, 2);
    sd_test_run_free(&r);

    /* A session whose key lost its TTL is still open: close closes it. */
    char damaged[64];
    assert_int_equal(open_session("beta", "eve", damaged), 200);
    assert_int_equal(sd_test_redis_int(&stack.redis, "PERSIST sd:{beta}:session:%s", damaged),
                     1);
    ctl(&r, "close", damaged, "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(sd_test_redis_int(&stack.redis, "EXISTS sd:{beta}:session:%s", damaged),
                     0);
    sd_test_run_free(&r);

    ctl(&r, "limit", "set", "2", "--instance", "beta", NULL);
    sd_test_run_free(&r);
}

static void test_events_show_the_stream(void **state) {
    sd_test_run_result r;
    /* Two known events last: a revocation, then a settings change. */
    ctl(&r, "revoke", "jti-y", "--until", "+10m", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    sd_test_run_free(&r);
    ctl(&r, "limit", "set", "2", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    sd_test_run_free(&r);
    ctl(&r, "events", "--instance", "beta", "--count", "2", "--json", NULL);
    assert_int_equal(r.status, 0);
    char *second = strchr(r.out, '\n');
    assert_non_null(second);
    *second = '\0';
    json_error_t e;
    json_t *ev = json_loads(r.out, 0, &e);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "revoked");
    assert_string_equal(json_string_value(json_object_get(ev, "jti")), "jti-y");
    assert_string_equal(json_string_value(json_object_get(ev, "replica")), "sessionctl");
    json_decref(ev);
    ev = json_loads(second + 1, 0, &e);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "settings");
    assert_string_equal(json_string_value(json_object_get(ev, "limit")), "2");
    json_decref(ev);
    sd_test_run_free(&r);

    ctl(&r, "events", "--instance", "beta", "--count", "10000", NULL);
    assert_int_equal(r.status, 0);
    const char *opened = strstr(r.out, "opened");
    const char *closed = strstr(r.out, "closed");
    assert_non_null(opened);
    assert_non_null(closed);
    assert_true(opened < closed);
    assert_non_null(strstr(closed, "reason=admin"));
    assert_non_null(strstr(r.out, "settings"));
    sd_test_run_free(&r);

    /* --follow prints what happens while it runs, then stops (--for). */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        usleep(600 * 1000);
        open_session("beta", "follower", NULL);
        _exit(0);
    }
    ctl(&r, "events", "--instance", "beta", "--count", "1", "--follow", "--for", "2",
        NULL);
    waitpid(pid, NULL, 0);
    assert_int_equal(r.status, 0);
    const char *follower = strstr(r.out, "subject=follower");
    assert_non_null(follower);
    sd_test_run_free(&r);
    ctl(&r, "events", "--instance", "beta", "--for", "2", NULL);
    assert_int_equal(r.status, 2);
    sd_test_run_free(&r);
}

static void expect_problem(const char *kind) {
    sd_test_run_result r;
    ctl(&r, "check", "--instance", "acme", "--json", NULL);
    if (r.status != 1) fail_msg("check exit %d for %s: %s", r.status, kind, r.out);
    json_t *doc = out_json(&r);
    assert_false(json_is_true(json_object_get(doc, "ok")));
    int found = 0;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(doc, "problems"), i, p)
        found |= strcmp(json_string_value(json_object_get(p, "problem")), kind) == 0;
    if (!found) fail_msg("check did not report %s: %s", kind, r.out);
    json_decref(doc);
    sd_test_run_free(&r);
}

static void test_check_finds_every_kind_of_damage(void **state) {
    sd_test_run_result r;
    ctl(&r, "check", NULL);
    if (r.status != 0) fail_msg("check of a healthy store: %s", r.out);
    assert_non_null(strstr(r.out, "OK: 2 instance(s)"));
    sd_test_run_free(&r);

    char id[64];
    /* ann and bob fill the shared slots; boss takes the reserved seat. */
    assert_int_equal(open_session("acme", "boss", id), 200);
    /* A key that lost its TTL. */
    assert_int_equal(sd_test_redis_int(&stack.redis, "PERSIST sd:{acme}:session:%s", id), 1);
    expect_problem("no_ttl");
    expect_problem("ttl_mismatch");
    /* A session key without its slot. */
    assert_int_equal(sd_test_redis_int(&stack.redis, "ZREM sd:{acme}:slots %s", id), 1);
    expect_problem("session_without_slot");
    assert_int_equal(sd_test_redis_int(&stack.redis, "DEL sd:{acme}:session:%s", id), 1);
    /* A live slot whose session key is gone. */
    assert_int_equal(sd_test_redis_int(&stack.redis, "ZADD sd:{acme}:slots %lld ghost",
                                       sd_test_redis_time_ms(&stack.redis) + 600000),
                     1);
    expect_problem("slot_without_session");
    /* An expired slot the sweep never reaped (older than the grace). */
    assert_int_equal(sd_test_redis_int(&stack.redis, "ZADD sd:{acme}:slots %lld ghost",
                                       sd_test_redis_time_ms(&stack.redis) - 60000),
                     0);
    /* The worker's sweep would reap it at once: check before it does, by
     * pausing the worker. */
    kill(stack.daemon.pid, SIGSTOP);
    expect_problem("stale_slot");
    kill(stack.daemon.pid, SIGCONT);
    sd_test_sleep_ms(300);
    /* More open sessions than the limit, and a limit that is no number. */
    assert_int_equal(sd_test_redis_int(&stack.redis, "HSET sd:{acme}:pool limit 0"), 0);
    expect_problem("over_limit");
    assert_int_equal(sd_test_redis_int(&stack.redis, "HSET sd:{acme}:pool limit lots"), 0);
    expect_problem("bad_limit");
    assert_int_equal(sd_test_redis_int(&stack.redis, "HSET sd:{acme}:pool limit 3"), 0);

    /* Repaired: clean again. */
    ctl(&r, "check", "--instance", "acme", NULL);
    if (r.status != 0) fail_msg("check after repair: %s", r.out);
    sd_test_run_free(&r);
}

static void test_top_draws_and_quits(void **state) {
    sd_test_run_result r;
    ctl(&r, "top", "--json", NULL);
    assert_int_equal(r.status, 2);
    sd_test_run_free(&r);
    /* Two redraws take about a second, even with no terminal on stdin. */
    long long t_start = sd_test_now_ms();
    ctl(&r, "top", "--iterations", "2", NULL);
    assert_int_equal(r.status, 0);
    if (sd_test_now_ms() - t_start < 900) fail_msg("two redraws took under a second");
    assert_null(strstr(r.out, "\033[2J"));
    sd_test_run_free(&r);
    ctl(&r, "top", "--iterations", "1", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "acme"));
    assert_non_null(strstr(r.out, "beta"));
    assert_non_null(strstr(r.out, "newest events"));
    assert_non_null(strstr(r.out, "/3"));
    sd_test_run_free(&r);

    /* 'q' on standard input quits before the 60 redraws it was given. */
    const char *bin = getenv("SD_SESSIONCTL");
    if (!bin) bin = SD_BINARY_DIR "/sessionctl";
    char *argv[] = {(char *)bin, "top", "--iterations", "60", "--redis", redis_url, NULL};
    long long t0 = sd_test_now_ms();
    assert_int_equal(sd_test_run(&r, "q", argv), 0);
    assert_int_equal(r.status, 0);
    if (sd_test_now_ms() - t0 > 20000) fail_msg("top did not quit on q");
    sd_test_run_free(&r);
}

static void test_every_command_has_help_and_fails_clearly(void **state) {
    static const char *const cmds[] = {"usage", "list",  "show",   "close", "limit",
                                       "reserve", "revoke", "events", "check", "top",
                                       "token", "jwks"};
    sd_test_run_result r;
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        ctl(&r, cmds[i], "--help", NULL);
        if (r.status != 0) fail_msg("%s --help exited %d", cmds[i], r.status);
        char want[64];
        snprintf(want, sizeof want, "Usage: sessionctl %s", cmds[i]);
        if (!strstr(r.out, want)) fail_msg("%s --help: %s", cmds[i], r.out);
        sd_test_run_free(&r);
    }
    /* Unreachable Redis: exit 1, one line saying where and why. */
    ctl(&r, "usage", "--redis", "redis://127.0.0.1:1/0", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot reach Redis at 127.0.0.1:1"));
    sd_test_run_free(&r);
    /* A bad command line is exit 2, before any connection. */
    ctl(&r, "usage", "--redis", "http://nope", NULL);
    assert_int_equal(r.status, 2);
    assert_string_equal(
        r.err, "sessionctl: --redis: must be \"redis://[:password@]host[:port][/db]\"\n");
    sd_test_run_free(&r);
    ctl(&r, "usage", "--redis", redis_url, "--cluster", "127.0.0.1:7000", NULL);
    assert_int_equal(r.status, 2);
    assert_string_equal(
        r.err, "sessionctl: --redis and --cluster name two topologies: choose one\n");
    sd_test_run_free(&r);
    ctl(&r, "usage", "--sentinel", "127.0.0.1:7000", "--master-name", "m", "--redis",
        redis_url, NULL);
    assert_int_equal(r.status, 2);
    assert_string_equal(
        r.err, "sessionctl: --redis and --sentinel name two topologies: choose one\n");
    sd_test_run_free(&r);
    ctl(&r, "limit", "set", "-1", "--instance", "acme", NULL);
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err,
                        "sessionctl: limit: the limit must be a whole number >= 0, "
                        "not a negative one\n");
    sd_test_run_free(&r);
    ctl(&r, "limit", "set", "2.5", "--instance", "acme", NULL);
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err,
                        "sessionctl: limit: the limit must be a whole number from 0 "
                        "to 100000000, not '2.5'\n");
    sd_test_run_free(&r);
    ctl(&r, "list", "--instance", "bad name!", NULL);
    assert_int_equal(r.status, 2);
    sd_test_run_free(&r);
    ctl(&r, "usage", "--bogus", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "unknown option '--bogus'"));
    sd_test_run_free(&r);
    ctl(&r, "frobnicate", NULL);
    assert_int_equal(r.status, 2);
    sd_test_run_free(&r);
}

/* Claims reach the tables escaped: a subject with ESC, newline, tab, DEL
 * and a backslash forges no line and sends no terminal sequence. The value
 * is written into Redis directly (as any writer of the hash could). */
static void test_human_output_escapes_control_characters(void **state) {
    static const char evil[] = "ev\033[31mil\nacme FORGED\tx\177\\";
    static const char shown[] = "ev\\x1b[31mil\\nacme FORGED\\tx\\x7f\\\\";
    sd_test_run_result r;
    ctl(&r, "limit", "set", "10", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    sd_test_run_free(&r);
    char id[64];
    assert_int_equal(open_session("beta", "placeholder", id), 200);
    redisContext *c = sd_test_redis_connect(&stack.redis);
    assert_non_null(c);
    redisReply *rep = redisCommand(c, "HSET sd:{beta}:session:%s subject %s client_id %s",
                                   id, evil, "web\r\033]0;title\007");
    assert_non_null(rep);
    freeReplyObject(rep);
    rep = redisCommand(c, "XADD sd:{beta}:events * type opened replica ctl-1 subject %s",
                       evil);
    assert_non_null(rep);
    freeReplyObject(rep);
    redisFree(c);

    ctl(&r, "show", id, "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    char line[256];
    snprintf(line, sizeof line, "subject            %s\n", shown);
    assert_non_null(strstr(r.out, line));
    assert_non_null(strstr(r.out, "client_id          web\\r\\x1b]0;title\\x07\n"));
    assert_null(strchr(r.out, '\033'));
    assert_null(strchr(r.out, '\t'));
    sd_test_run_free(&r);

    /* --json stays exact JSON: the value round-trips unchanged. */
    ctl(&r, "show", id, "--instance", "beta", "--json", NULL);
    json_t *doc = out_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "subject")), evil);
    json_decref(doc);
    sd_test_run_free(&r);

    /* The table's subject column is 16 characters of the escaped text. */
    ctl(&r, "list", "--instance", "beta", NULL);
    assert_int_equal(r.status, 0);
    char *row = strstr(r.out, id);
    assert_non_null(row);
    assert_memory_equal(row + 24, "ev\\x1b[31mil\\nac web\\r\\x1b]0;ti", 31);
    assert_null(strstr(r.out, "\nacme FORGED"));
    assert_null(strchr(r.out, '\033'));
    sd_test_run_free(&r);

    ctl(&r, "events", "--instance", "beta", "--count", "1", NULL);
    assert_int_equal(r.status, 0);
    snprintf(line, sizeof line, " subject=%s\n", shown);
    assert_non_null(strstr(r.out, line));
    assert_null(strchr(r.out, '\033'));
    sd_test_run_free(&r);

    ctl(&r, "top", "--instance", "beta", "--iterations", "1", NULL);
    assert_int_equal(r.status, 0);
    snprintf(line, sizeof line, " subject=%s\n", shown);
    assert_non_null(strstr(r.out, line));
    assert_null(strchr(r.out, '\033'));
    sd_test_run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_list_show),
        cmocka_unit_test(test_close_limit_reserve_revoke),
        cmocka_unit_test(test_events_show_the_stream),
        cmocka_unit_test(test_check_finds_every_kind_of_damage),
        cmocka_unit_test(test_top_draws_and_quits),
        cmocka_unit_test(test_every_command_has_help_and_fails_clearly),
        cmocka_unit_test(test_human_output_escapes_control_characters),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
