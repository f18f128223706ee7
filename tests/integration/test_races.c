/* The licence invariants of SPEC §4 under races (issue 6): three sessiond
 * replicas on one real Redis, many concurrent clients on their own loopback
 * connections (tests/support/fire.c), exact counts every round.
 *
 *   - N > L distinct bindings at once: exactly L open, N - L get 429;
 *   - one binding from many connections on every replica: one session;
 *   - logout racing with resume: never a slot without a session or a
 *     session without a slot, and the outcome the answers imply;
 *   - a seeded churn (open, resume, logout, expiry) bounded in time ends
 *     with `sessionctl check` clean, every opened session closed exactly
 *     once, and usage back to zero once everything has expired.
 *
 * test_sessions.c already races 50 tokens and one token against a single
 * daemon; here the racers are spread over replicas and repeated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "fire.h"
#include "harness.h"
#include "jws_mint.h"

enum { REPLICAS = 3 };

static sd_test_redis redis;
static sd_test_daemon replicas[REPLICAS];
static EVP_PKEY *key;
static char *key_path;

/* race: limit 7; same: limit 5; logout: room for every racer; churn: a
 * small pool with short lives (sliding 300 ms, service sessions 500 ms) so
 * that expiry is part of the mix. */
static const char config_template[] =
    "{\"listen\": \"127.0.0.1:@PORT@\","
    " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\", \"timeout\": \"2s\","
    "             \"reconnect_max\": \"200ms\"},"
    " \"sweep_interval\": \"100ms\", \"replica_id\": \"@ID@\", \"log_level\": \"warn\","
    " \"events_max\": 1000000,"
    " \"instances\": ["
    "  {\"name\": \"race\", \"issuer\": \"https://id.test/race\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 7},"
    "  {\"name\": \"same\", \"issuer\": \"https://id.test/same\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 5},"
    "  {\"name\": \"logout\", \"issuer\": \"https://id.test/logout\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 1000},"
    "  {\"name\": \"churn\", \"issuer\": \"https://id.test/churn\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 8,"
    "   \"sliding\": \"300ms\", \"absolute\": \"500ms\"}"
    " ]}";

static int setup(void **state) {
    key = EVP_RSA_gen(2048);
    key_path = key ? sd_test_public_pem_file(key) : NULL;
    if (!key_path || sd_test_redis_start(&redis)) return -1;
    for (int i = 0; i < REPLICAS; i++) {
        char id[16];
        snprintf(id, sizeof id, "race-%d", i + 1);
        char *a = sd_test_replace(config_template, "@KEY@", key_path);
        char *config = a ? sd_test_replace(a, "@ID@", id) : NULL;
        free(a);
        int rc = config ? sd_test_daemon_start(&replicas[i], config, redis.port, 1) : -1;
        free(config);
        if (rc) return -1;
    }
    return 0;
}

static int teardown(void **state) {
    for (int i = 0; i < REPLICAS; i++)
        if (replicas[i].pid > 0) sd_test_daemon_stop(&replicas[i]);
    sd_test_redis_stop(&redis, 0);
    if (key_path) unlink(key_path);
    free(key_path);
    EVP_PKEY_free(key);
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* A token of instance inst; sub, sid and jti may be NULL. Caller frees. */
static char *mint(const char *inst, const char *sub, const char *sid, const char *jti) {
    char iss[64];
    snprintf(iss, sizeof iss, "https://id.test/%s", inst);
    char *t = sd_test_token(key, "k1", iss, sub, "erp-web", sid, jti, 600, NULL);
    assert_non_null(t);
    return t;
}

/* The X-Instance header line of each instance of this file (constants, so
 * shots can point at them). */
static const char *instance_header(const char *inst) {
    static const char *const lines[][2] = {{"race", "X-Instance: race\r\n"},
                                           {"same", "X-Instance: same\r\n"},
                                           {"logout", "X-Instance: logout\r\n"},
                                           {"churn", "X-Instance: churn\r\n"}};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (strcmp(lines[i][0], inst) == 0) return lines[i][1];
    fail_msg("no instance %s in this test", inst);
    return NULL;
}

static sd_test_shot shot(int replica, const char *method, const char *path,
                         const char *inst, const char *token) {
    return (sd_test_shot){.port = replicas[replica % REPLICAS].port,
                          .method = method,
                          .path = path,
                          .bearer = token,
                          .extra_headers = instance_header(inst)};
}

/* Counts the instance's events of type (and reason, when not NULL). */
static long long events(const char *inst, const char *type, const char *reason) {
    redisContext *c = sd_test_redis_connect(&redis);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "XRANGE sd:{%s}:events - +", inst);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    long long n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *fields = r->element[i]->element[1];
        if (strcmp(sd_test_stream_field(fields, "type"), type) == 0 &&
            (!reason || strcmp(sd_test_stream_field(fields, "reason"), reason) == 0))
            n++;
    }
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Keys of the instance matching sd:{inst}:<what>*, counted with SCAN. */
static long long count_keys(const char *inst, const char *what) {
    redisContext *c = sd_test_redis_connect(&redis);
    assert_non_null(c);
    long long n = 0;
    char cursor[32] = "0";
    for (int round = 0; round < 100000; round++) {
        redisReply *r =
            redisCommand(c, "SCAN %s MATCH sd:{%s}:%s* COUNT 1000", cursor, inst, what);
        assert_non_null(r);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        n += (long long)r->element[1]->elements;
        freeReplyObject(r);
        if (strcmp(cursor, "0") == 0) break;
    }
    redisFree(c);
    return n;
}

static long long usage(const char *inst) { return sd_test_usage(&redis, inst); }

/* ------------------------------------------------------------------------
 * N > L distinct bindings at once
 * ------------------------------------------------------------------------ */

static void test_limit_exact_across_replicas(void **state) {
    enum { L = 7, N = 60, ROUNDS = 5 };
    char *tokens[N];
    sd_test_shot shots[N];
    for (int round = 0; round < ROUNDS; round++) {
        long long opened0 = events("race", "opened", NULL);
        long long denied0 = events("race", "denied", "license_limit");
        for (int i = 0; i < N; i++) {
            char sub[32];
            snprintf(sub, sizeof sub, "u%d-%d", round, i);
            tokens[i] = mint("race", sub, sub, NULL);
            shots[i] = shot(i, "GET", "/v1/auth", "race", tokens[i]);
        }
        assert_int_equal(sd_test_fire(shots, N, 20000), N);
        int ok = 0, denied = 0;
        for (int i = 0; i < N; i++) {
            char retry[16];
            if (shots[i].status == 200) {
                ok++;
                for (int j = 0; j < i; j++)
                    if (shots[j].status == 200)
                        assert_string_not_equal(shots[i].session_id, shots[j].session_id);
            } else if (shots[i].status == 429) {
                denied++;
                assert_non_null(
                    strstr(shots[i].res->body, "\"error\":\"license_limit_reached\""));
                assert_int_equal(
                    sd_test_header(shots[i].res, "Retry-After", retry, sizeof retry), 0);
            } else {
                fail_msg("round %d: racer %d got %d: %s", round, i, shots[i].status,
                         shots[i].res ? shots[i].res->body : "(no answer)");
            }
        }
        assert_int_equal(ok, L);
        assert_int_equal(denied, N - L);
        assert_int_equal(usage("race"), L);
        assert_int_equal(events("race", "opened", NULL) - opened0, L);
        assert_int_equal(events("race", "denied", "license_limit") - denied0, N - L);

        /* Every winner logs out, on another replica than the one that
         * opened its session: the pool is empty again for the next round. */
        sd_test_shot out[L];
        int k = 0;
        for (int i = 0; i < N; i++)
            if (shots[i].status == 200)
                out[k++] = shot(i + 1, "DELETE", "/v1/session", "race", tokens[i]);
        assert_int_equal(sd_test_fire(out, L, 20000), L);
        for (int i = 0; i < L; i++)
            assert_int_equal(out[i].status, 204);
        assert_int_equal(usage("race"), 0);
        sd_test_shots_free(out, L);
        sd_test_shots_free(shots, N);
        for (int i = 0; i < N; i++)
            free(tokens[i]);
    }
    assert_int_equal(sd_test_sessionctl_check(&redis, "race"), 0);
}

/* ------------------------------------------------------------------------
 * One binding from many connections on every replica
 * ------------------------------------------------------------------------ */

static void test_same_binding_one_session_across_replicas(void **state) {
    enum { N = 45, ROUNDS = 4 };
    char *tokens[N];
    sd_test_shot shots[N];
    for (int round = 0; round < ROUNDS; round++) {
        /* N different tokens (refreshes: each its own jti) of one sid. */
        char sid[32];
        snprintf(sid, sizeof sid, "sid-same-%d", round);
        for (int i = 0; i < N; i++) {
            char jti[32];
            snprintf(jti, sizeof jti, "j-%d-%d", round, i);
            tokens[i] = mint("same", "dave", sid, jti);
            shots[i] = shot(i, "GET", "/v1/auth", "same", tokens[i]);
        }
        long long opened0 = events("same", "opened", NULL);
        assert_int_equal(sd_test_fire(shots, N, 20000), N);
        for (int i = 0; i < N; i++) {
            assert_int_equal(shots[i].status, 200);
            assert_string_equal(shots[i].session_id, shots[0].session_id);
        }
        assert_int_equal(usage("same"), 1);
        assert_int_equal(events("same", "opened", NULL) - opened0, 1);
        assert_int_equal(sd_test_redis_int(&redis, "HGET sd:{same}:session:%s requests",
                                           shots[0].session_id),
                         N);
        sd_test_response res;
        assert_int_equal(sd_test_http(replicas[round % REPLICAS].port, "DELETE",
                                      "/v1/session", tokens[0], instance_header("same"),
                                      &res),
                         0);
        assert_int_equal(res.status, 204);
        assert_int_equal(usage("same"), 0);
        sd_test_shots_free(shots, N);
        for (int i = 0; i < N; i++)
            free(tokens[i]);
    }
}

/* ------------------------------------------------------------------------
 * Logout racing with resume
 * ------------------------------------------------------------------------ */

static void test_logout_races_resume(void **state) {
    enum { B = 20, RESUMES = 2, PER = 1 + RESUMES, ROUNDS = 3 };
    char *tokens[B];
    char first[B][64];
    sd_test_shot shots[B * PER];
    for (int round = 0; round < ROUNDS; round++) {
        for (int b = 0; b < B; b++) {
            char sub[32];
            snprintf(sub, sizeof sub, "lr%d-%d", round, b);
            tokens[b] = mint("logout", sub, sub, NULL);
            sd_test_response res;
            assert_int_equal(sd_test_http(replicas[b % REPLICAS].port, "GET", "/v1/auth",
                                          tokens[b], instance_header("logout"), &res),
                             0);
            assert_int_equal(res.status, 200);
            assert_int_equal(
                sd_test_header(&res, "X-Session-Id", first[b], sizeof first[b]), 0);
        }
        long long before = usage("logout");
        /* Per binding: one logout and two resumes, each on another replica,
         * all at once with every other binding's. */
        for (int b = 0; b < B; b++) {
            shots[b * PER] = shot(b, "DELETE", "/v1/session", "logout", tokens[b]);
            for (int r = 1; r <= RESUMES; r++)
                shots[b * PER + r] = shot(b + r, "GET", "/v1/auth", "logout", tokens[b]);
        }
        assert_int_equal(sd_test_fire(shots, B * PER, 20000), B * PER);

        /* The session existed, so the logout always closed one; a resume
         * that ran before it saw the old id, one after it opened the next
         * session (the same for both late resumes). */
        long long expect_open = 0;
        for (int b = 0; b < B; b++) {
            assert_int_equal(shots[b * PER].status, 204);
            const char *reopened = NULL;
            for (int r = 1; r <= RESUMES; r++) {
                const sd_test_shot *s = &shots[b * PER + r];
                assert_int_equal(s->status, 200);
                if (strcmp(s->session_id, first[b]) == 0) continue;
                if (reopened) assert_string_equal(s->session_id, reopened);
                reopened = s->session_id;
            }
            assert_int_equal(
                sd_test_redis_int(&redis, "EXISTS sd:{logout}:session:%s", first[b]), 0);
            if (reopened) {
                expect_open++;
                assert_int_equal(
                    sd_test_redis_int(&redis, "EXISTS sd:{logout}:session:%s", reopened),
                    1);
                assert_true(sd_test_redis_int(&redis, "ZSCORE sd:{logout}:slots %s",
                                              reopened) > 0);
            }
        }
        assert_int_equal(usage("logout"), before - B + expect_open);
        assert_int_equal(count_keys("logout", "session:"), usage("logout"));
        assert_int_equal(count_keys("logout", "binding:"), usage("logout"));
        assert_int_equal(sd_test_sessionctl_check(&redis, "logout"), 0);
        print_message("round %d: %lld of %d bindings reopened after their logout\n",
                      round, expect_open, B);
        sd_test_shots_free(shots, B * PER);
        for (int b = 0; b < B; b++)
            free(tokens[b]);
    }
}

/* ------------------------------------------------------------------------
 * Churn: a seeded random mix, bounded in time
 * ------------------------------------------------------------------------ */

enum { CHURN_BINDINGS = 24, CHURN_THREADS = 6, CHURN_MS = 3000, CHURN_LIMIT = 8 };

typedef struct churn_totals {
    long long opened, resumed, denied, logouts, not_found, other;
} churn_totals;

typedef struct churn_worker {
    unsigned seed;
    char **tokens;
    long long stop_at;
    churn_totals t;
    char failure[256];
} churn_worker;

typedef struct churn_monitor {
    volatile int stop;
    long long samples, max_used;
} churn_monitor;

static void *churn_run(void *arg) {
    churn_worker *w = arg;
    while (sd_test_now_ms() < w->stop_at) {
        int b = (int)(rand_r(&w->seed) % CHURN_BINDINGS);
        int replica = (int)(rand_r(&w->seed) % REPLICAS);
        int op = (int)(rand_r(&w->seed) % 100);
        sd_test_response res;
        if (op < 60) {
            /* Open or resume; the body says which. */
            if (sd_test_http(replicas[replica].port, "GET", "/v1/session", w->tokens[b],
                             "X-Instance: churn\r\n", &res) != 0) {
                w->t.other++;
            } else if (res.status == 200) {
                if (strstr(res.body, "\"resumed\":false"))
                    w->t.opened++;
                else
                    w->t.resumed++;
            } else if (res.status == 429) {
                w->t.denied++;
            } else {
                w->t.other++;
                snprintf(w->failure, sizeof w->failure, "GET %d %.200s", res.status,
                         res.body);
            }
        } else if (op < 80) {
            if (sd_test_http(replicas[replica].port, "DELETE", "/v1/session",
                             w->tokens[b], "X-Instance: churn\r\n", &res) != 0) {
                w->t.other++;
            } else if (res.status == 204) {
                w->t.logouts++;
            } else if (res.status == 404) {
                w->t.not_found++;
            } else {
                w->t.other++;
                snprintf(w->failure, sizeof w->failure, "DELETE %d %.200s", res.status,
                         res.body);
            }
        } else {
            /* Idle a while: sessions of bindings nobody touches expire. */
            sd_test_sleep_ms(20 + (int)(rand_r(&w->seed) % 180));
        }
    }
    return NULL;
}

static void *monitor_run(void *arg) {
    churn_monitor *m = arg;
    for (int i = 0; i < 10000 && !m->stop; i++) {
        long long used = usage("churn");
        if (used > m->max_used) m->max_used = used;
        m->samples++;
        sd_test_sleep_ms(10);
    }
    return NULL;
}

static void test_churn_ends_clean(void **state) {
    char *tokens[CHURN_BINDINGS];
    for (int b = 0; b < CHURN_BINDINGS; b++) {
        char name[32];
        snprintf(name, sizeof name, "c-%d", b);
        /* Two in three interactive (sliding 300 ms), one in three service
         * tokens (no sub: absolute 500 ms as well). */
        tokens[b] = b % 3 == 2 ? mint("churn", NULL, NULL, name)
                               : mint("churn", name, name, NULL);
    }
    churn_worker workers[CHURN_THREADS];
    pthread_t threads[CHURN_THREADS], monitor_thread;
    churn_monitor monitor = {0};
    long long stop_at = sd_test_now_ms() + CHURN_MS;
    assert_int_equal(pthread_create(&monitor_thread, NULL, monitor_run, &monitor), 0);
    for (int i = 0; i < CHURN_THREADS; i++) {
        /* Fixed seeds: the same mix of operations every run (the
         * interleaving is the scheduler's). */
        workers[i] = (churn_worker){
            .seed = 6000u + (unsigned)i, .tokens = tokens, .stop_at = stop_at};
        assert_int_equal(pthread_create(&threads[i], NULL, churn_run, &workers[i]), 0);
    }
    churn_totals sum = {0};
    for (int i = 0; i < CHURN_THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (workers[i].failure[0]) fail_msg("churn: %s", workers[i].failure);
        sum.opened += workers[i].t.opened;
        sum.resumed += workers[i].t.resumed;
        sum.denied += workers[i].t.denied;
        sum.logouts += workers[i].t.logouts;
        sum.not_found += workers[i].t.not_found;
        sum.other += workers[i].t.other;
    }
    monitor.stop = 1;
    pthread_join(monitor_thread, NULL);
    print_message("churn: %lld opened, %lld resumed, %lld denied, %lld logouts, "
                  "%lld logouts of nothing; usage sampled %lld times, at most %lld\n",
                  sum.opened, sum.resumed, sum.denied, sum.logouts, sum.not_found,
                  monitor.samples, monitor.max_used);
    assert_int_equal(sum.other, 0);
    assert_true(monitor.max_used <= CHURN_LIMIT);
    /* The mix really exercised every path. */
    assert_true(sum.opened > 0 && sum.resumed > 0 && sum.denied > 0 && sum.logouts > 0);
    assert_int_equal(sd_test_sessionctl_check(&redis, "churn"), 0);

    /* Everything expires within 500 ms; the sweep (100 ms) reaps it. */
    long long t0 = sd_test_now_ms();
    while (
        sd_test_now_ms() - t0 < 5000 &&
        (usage("churn") != 0 || sd_test_redis_int(&redis, "ZCARD sd:{churn}:slots") != 0))
        sd_test_sleep_ms(50);
    assert_int_equal(usage("churn"), 0);
    assert_int_equal(sd_test_redis_int(&redis, "ZCARD sd:{churn}:slots"), 0);
    assert_int_equal(count_keys("churn", "session:"), 0);
    assert_int_equal(count_keys("churn", "binding:"), 0);
    assert_int_equal(sd_test_sessionctl_check(&redis, "churn"), 0);

    /* Every session the clients saw opened was opened once and closed once:
     * by a logout, or by idle or absolute expiry. Every 429 was recorded. */
    long long closed = events("churn", "closed", NULL);
    assert_int_equal(events("churn", "opened", NULL), sum.opened);
    assert_int_equal(closed, sum.opened);
    assert_int_equal(events("churn", "closed", "logout"), sum.logouts);
    assert_int_equal(events("churn", "denied", "license_limit"), sum.denied);
    print_message("churn: closed by logout %lld, idle %lld, absolute %lld\n",
                  events("churn", "closed", "logout"), events("churn", "closed", "idle"),
                  events("churn", "closed", "absolute"));
    for (int b = 0; b < CHURN_BINDINGS; b++)
        free(tokens[b]);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_exact_across_replicas),
        cmocka_unit_test(test_same_binding_one_session_across_replicas),
        cmocka_unit_test(test_logout_races_resume),
        cmocka_unit_test(test_churn_ends_clean),
    };
    return cmocka_run_group_tests_name("races", tests, setup, teardown);
}
