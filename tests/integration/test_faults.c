/* Faults under load (issue 6): Redis SIGKILLed and restarted from its AOF,
 * Redis paused longer and shorter than the call time-out, scripts flushed
 * under load, a worker SIGKILLed under load, and SIGTERM draining an
 * in-flight request. Two sessiond replicas share one Redis; clients are
 * threads with bounded loops on loopback connections.
 *
 * test_sessions.c already covers one daemon with no load: an outage
 * (503 fast, recovery), a SIGSTOPped Redis, one SCRIPT FLUSH. Here the same
 * faults hit replicas under concurrent load, and every answer is checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "fire.h"
#include "harness.h"
#include "jws_mint.h"

enum { REPLICAS = 2 };
/* redis.timeout of the replicas: every answer must come within it plus a
 * margin (loopback, two cores shared with other work, maybe ASan). */
enum { TIMEOUT_MS = 300, MARGIN_MS = 1200 };

static sd_test_redis redis;
static sd_test_daemon replicas[REPLICAS];
static EVP_PKEY *key;
static char *key_path;
static char *configs[REPLICAS];
static sd_test_stack drain; /* test_sigterm_drains_in_flight_requests' own */

static const char config_template[] =
    "{\"listen\": \"127.0.0.1:@PORT@\","
    " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\", \"timeout\": \"300ms\","
    "             \"reconnect_max\": \"200ms\"},"
    " \"sweep_interval\": \"100ms\", \"replica_id\": \"@ID@\", \"log_level\": \"warn\","
    " \"instances\": ["
    "  {\"name\": \"kill\", \"issuer\": \"https://id.test/kill\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 1000},"
    "  {\"name\": \"pause\", \"issuer\": \"https://id.test/pause\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 10},"
    "  {\"name\": \"flush\", \"issuer\": \"https://id.test/flush\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 1000},"
    "  {\"name\": \"worker\", \"issuer\": \"https://id.test/worker\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 1000}"
    " ]}";

static int start_replica(int i) {
    return sd_test_daemon_start(&replicas[i], configs[i], redis.port, 1);
}

static int setup(void **state) {
    key = EVP_RSA_gen(2048);
    key_path = key ? sd_test_public_pem_file(key) : NULL;
    if (!key_path || sd_test_redis_start(&redis)) return -1;
    for (int i = 0; i < REPLICAS; i++) {
        char id[16];
        snprintf(id, sizeof id, "fault-%d", i + 1);
        char *a = sd_test_replace(config_template, "@KEY@", key_path);
        configs[i] = a ? sd_test_replace(a, "@ID@", id) : NULL;
        free(a);
        if (!configs[i] || start_replica(i)) return -1;
    }
    return 0;
}

static int teardown(void **state) {
    sd_test_stack_stop(&drain);
    for (int i = 0; i < REPLICAS; i++) {
        if (replicas[i].pid > 0) sd_test_daemon_stop(&replicas[i]);
        free(configs[i]);
    }
    sd_test_redis_stop(&redis, 0);
    if (key_path) unlink(key_path);
    free(key_path);
    EVP_PKEY_free(key);
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *mint(const char *inst, const char *sub) {
    char iss[64];
    snprintf(iss, sizeof iss, "https://id.test/%s", inst);
    char *t = sd_test_token(key, "k1", iss, sub, "erp-web", sub, NULL, 600, NULL);
    assert_non_null(t);
    return t;
}

/* GET /v1/auth as inst on port; returns the status (-1: no answer) and
 * copies the session id (or "") into id. */
static int auth(int port, const char *inst, const char *token, char id[64],
                sd_test_response *res) {
    char headers[64];
    snprintf(headers, sizeof headers, "X-Instance: %s\r\n", inst);
    if (sd_test_http(port, "GET", "/v1/auth", token, headers, res) != 0) return -1;
    if (sd_test_header(res, "X-Session-Id", id, 64) != 0) id[0] = '\0';
    return res->status;
}

static int alive(pid_t pid) { return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0; }

/* Polls until every running replica's /readyz is 200, at most ms. */
static int wait_ready(int ms) {
    long long t0 = sd_test_now_ms();
    while (sd_test_now_ms() - t0 < ms) {
        int ready = 0, running = 0;
        for (int i = 0; i < REPLICAS; i++) {
            if (replicas[i].pid <= 0) continue;
            running++;
            sd_test_response res;
            ready +=
                sd_test_http(replicas[i].port, "GET", "/readyz", NULL, NULL, &res) == 0 &&
                res.status == 200;
        }
        if (ready == running) return 0;
        sd_test_sleep_ms(20);
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Load: client threads with bounded loops
 * ------------------------------------------------------------------------ */

enum { MAX_ANSWERS = 20000, LOAD_THREADS = 4, LOAD_TOKENS = 40 };

typedef struct answer {
    long long at; /* when it was sent, ms (monotonic) */
    int took;     /* ms */
    short status; /* -1: no answer */
    short port_index;
    char unavailable; /* a 503 with error store_unavailable */
} answer;

typedef struct load {
    const char *inst;
    char *tokens[LOAD_TOKENS];
    volatile int stop;
    long long hard_stop; /* a bound whatever happens */
    pthread_mutex_t lock;
    char first_id[LOAD_TOKENS][64]; /* each token's first session id seen */
    answer answers[MAX_ANSWERS];
    int nanswers;
} load;

typedef struct load_thread {
    load *l;
    unsigned seed;
} load_thread;

static void *load_run(void *arg) {
    load_thread *t = arg;
    load *l = t->l;
    while (!l->stop && sd_test_now_ms() < l->hard_stop) {
        int b = (int)(rand_r(&t->seed) % LOAD_TOKENS);
        int r = (int)(rand_r(&t->seed) % REPLICAS);
        int port = replicas[r].port;
        sd_test_response *res = malloc(sizeof *res);
        if (!res) break;
        char id[64];
        long long t0 = sd_test_now_ms();
        int status = port > 0 ? auth(port, l->inst, l->tokens[b], id, res) : -1;
        answer a = {.at = t0,
                    .took = (int)(sd_test_now_ms() - t0),
                    .status = (short)status,
                    .port_index = (short)r,
                    .unavailable = status == 503 &&
                                   strstr(res->body, "\"error\":\"store_unavailable\"")};
        free(res);
        pthread_mutex_lock(&l->lock);
        if (status == 200 && !l->first_id[b][0]) memcpy(l->first_id[b], id, sizeof id);
        if (l->nanswers < MAX_ANSWERS) l->answers[l->nanswers++] = a;
        pthread_mutex_unlock(&l->lock);
        if (status != 200) sd_test_sleep_ms(5); /* as a client backs off */
    }
    return NULL;
}

static load *load_new(const char *inst, const char *prefix) {
    load *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->inst = inst;
    pthread_mutex_init(&l->lock, NULL);
    for (int b = 0; b < LOAD_TOKENS; b++) {
        char sub[32];
        snprintf(sub, sizeof sub, "%s-%d", prefix, b);
        l->tokens[b] = mint(inst, sub);
    }
    return l;
}

static void load_start(load *l, pthread_t *threads, load_thread *args, int max_ms) {
    l->hard_stop = sd_test_now_ms() + max_ms;
    for (int i = 0; i < LOAD_THREADS; i++) {
        args[i] = (load_thread){.l = l, .seed = 77u + (unsigned)i};
        assert_int_equal(pthread_create(&threads[i], NULL, load_run, &args[i]), 0);
    }
}

static void load_join(load *l, pthread_t *threads) {
    l->stop = 1;
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(threads[i], NULL);
}

static void load_free(load *l) {
    for (int b = 0; b < LOAD_TOKENS; b++)
        free(l->tokens[b]);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* ------------------------------------------------------------------------
 * Redis SIGKILL, restart from the AOF
 * ------------------------------------------------------------------------ */

static void test_redis_killed_and_restarted_under_load(void **state) {
    load *l = load_new("kill", "k");
    /* Half the bindings hold a session before the load starts. */
    char before[LOAD_TOKENS][64];
    sd_test_response res;
    for (int b = 0; b < LOAD_TOKENS / 2; b++) {
        assert_int_equal(
            auth(replicas[b % REPLICAS].port, "kill", l->tokens[b], before[b], &res),
            200);
        memcpy(l->first_id[b], before[b], 64);
    }
    pthread_t threads[LOAD_THREADS];
    load_thread args[LOAD_THREADS];
    load_start(l, threads, args, 20000);

    sd_test_sleep_ms(400);
    sd_test_redis_stop(&redis, 1); /* SIGKILL, and reaped */
    long long killed_at = sd_test_now_ms();
    sd_test_sleep_ms(1000);
    long long restart_at = sd_test_now_ms();
    assert_int_equal(sd_test_redis_restart(&redis), 0);
    long long redis_up_at = sd_test_now_ms();
    assert_int_equal(wait_ready(5000), 0);
    long long ready_at = sd_test_now_ms();
    sd_test_sleep_ms(500);
    load_join(l, threads);

    /* Every answer: 200, or 503 store_unavailable, within the time-out
     * plus a margin; never a refused or dropped connection. */
    int ok = 0, unavailable = 0, max_took = 0, max_took_503 = 0;
    long long first_503 = -1, last_503 = -1, first_200_after = -1;
    for (int i = 0; i < l->nanswers; i++) {
        const answer *a = &l->answers[i];
        if (a->status == 200) {
            ok++;
            if (a->at > killed_at && (first_200_after < 0 || a->at < first_200_after))
                first_200_after = a->at;
        } else if (a->status == 503 && a->unavailable) {
            unavailable++;
            if (first_503 < 0 || a->at < first_503) first_503 = a->at;
            if (a->at > last_503) last_503 = a->at;
            if (a->took > max_took_503) max_took_503 = a->took;
        } else {
            fail_msg("answer %d: status %d at +%lld ms after the kill", i, a->status,
                     a->at - killed_at);
        }
        if (a->took > max_took) max_took = a->took;
    }
    print_message(
        "redis kill: %d answers (%d x 200, %d x 503); 503 from +%lld to +%lld ms "
        "after the kill; Redis down %lld ms, answering PING %lld ms after its "
        "restart, replicas ready %lld ms after that; first 200 +%lld ms after "
        "the kill; slowest answer %d ms (slowest 503 %d ms)\n",
        l->nanswers, ok, unavailable, first_503 - killed_at, last_503 - killed_at,
        restart_at - killed_at, redis_up_at - restart_at, ready_at - redis_up_at,
        first_200_after - killed_at, max_took, max_took_503);
    assert_true(unavailable > 0);
    assert_true(max_took <= TIMEOUT_MS + MARGIN_MS);
    /* No 503 once both replicas said they were ready again. */
    assert_true(last_503 < ready_at);
    assert_true(first_200_after > redis_up_at);
    for (int i = 0; i < REPLICAS; i++)
        assert_true(alive(replicas[i].pid));

    /* Nothing acknowledged was lost (AOF, fsync always): every binding
     * resumes on both replicas with the id it first got, and the pool
     * holds exactly one slot per binding. */
    for (int b = 0; b < LOAD_TOKENS; b++) {
        for (int r = 0; r < REPLICAS; r++) {
            char id[64];
            assert_int_equal(auth(replicas[r].port, "kill", l->tokens[b], id, &res), 200);
            if (l->first_id[b][0]) assert_string_equal(id, l->first_id[b]);
            if (b < LOAD_TOKENS / 2) assert_string_equal(id, before[b]);
        }
    }
    assert_int_equal(sd_test_usage(&redis, "kill"), LOAD_TOKENS);
    assert_int_equal(sd_test_sessionctl_check(&redis, "kill"), 0);
    /* Each replica connected twice: at start and after the restart. */
    for (int r = 0; r < REPLICAS; r++) {
        assert_int_equal(
            sd_test_http(replicas[r].port, "GET", "/metrics", NULL, NULL, &res), 0);
        assert_true(sd_test_metric(res.body, "sessiond_redis_connects_total") >= 2);
    }
    load_free(l);
}

/* ------------------------------------------------------------------------
 * Redis paused: longer than the time-out -> 503; shorter -> success
 * ------------------------------------------------------------------------ */

static void client_pause(int ms) {
    redisContext *c = sd_test_redis_connect(&redis);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "CLIENT PAUSE %d ALL", ms);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
}

static void test_redis_paused_longer_and_shorter_than_timeout(void **state) {
    char *token = mint("pause", "paula");
    char id0[64], id[64];
    sd_test_response res;
    assert_int_equal(auth(replicas[0].port, "pause", token, id0, &res), 200);

    /* Shorter than the time-out (300 ms): the request waits it out. */
    long long t0 = sd_test_now_ms();
    client_pause(150);
    assert_int_equal(auth(replicas[1].port, "pause", token, id, &res), 200);
    long long took_short = sd_test_now_ms() - t0;
    assert_string_equal(id, id0);
    assert_true(took_short >= 100);

    /* Longer: 503 store_unavailable (store_timeout) after the time-out,
     * not when Redis wakes up. */
    t0 = sd_test_now_ms();
    client_pause(1500);
    assert_int_equal(auth(replicas[0].port, "pause", token, id, &res), 503);
    long long took_long = sd_test_now_ms() - t0;
    assert_non_null(strstr(res.body, "\"error\":\"store_unavailable\""));
    assert_non_null(strstr(res.body, "\"reason\":\"store_timeout\""));
    assert_true(took_long >= TIMEOUT_MS - 20);
    assert_true(took_long <= TIMEOUT_MS + MARGIN_MS);
    assert_true(took_long < 1500);

    /* Back to 200 once the pause is over. */
    int status = 0;
    long long back_at = 0;
    while (sd_test_now_ms() - t0 < 6000) {
        status = auth(replicas[0].port, "pause", token, id, &res);
        if (status == 200) {
            back_at = sd_test_now_ms() - t0;
            break;
        }
        assert_int_equal(status, 503);
        sd_test_sleep_ms(20);
    }
    assert_int_equal(status, 200);
    assert_string_equal(id, id0);
    assert_true(back_at >= 1500 - 50);
    print_message("pause 150 ms: 200 after %lld ms; pause 1500 ms: 503 after %lld ms, "
                  "200 again %lld ms after the pause began\n",
                  took_short, took_long, back_at);
    assert_int_equal(sd_test_usage(&redis, "pause"), 1);
    free(token);
}

/* ------------------------------------------------------------------------
 * SCRIPT FLUSH under load: transparent
 * ------------------------------------------------------------------------ */

static void test_script_flush_under_load_is_transparent(void **state) {
    load *l = load_new("flush", "f");
    pthread_t threads[LOAD_THREADS];
    load_thread args[LOAD_THREADS];
    load_start(l, threads, args, 10000);
    redisContext *c = sd_test_redis_connect(&redis);
    assert_non_null(c);
    for (int i = 0; i < 8; i++) {
        sd_test_sleep_ms(60);
        redisReply *r = redisCommand(c, "SCRIPT FLUSH");
        assert_non_null(r);
        freeReplyObject(r);
    }
    redisFree(c);
    sd_test_sleep_ms(100);
    load_join(l, threads);
    for (int i = 0; i < l->nanswers; i++)
        if (l->answers[i].status != 200)
            fail_msg("answer %d of %d: %d", i, l->nanswers, l->answers[i].status);
    assert_true(l->nanswers > 50);
    print_message("script flush: 8 flushes, %d answers, all 200\n", l->nanswers);
    load_free(l);
}

/* ------------------------------------------------------------------------
 * A worker SIGKILLed under load
 * ------------------------------------------------------------------------ */

static void test_worker_killed_under_load_loses_nothing(void **state) {
    load *l = load_new("worker", "w");
    pthread_t threads[LOAD_THREADS];
    load_thread args[LOAD_THREADS];
    load_start(l, threads, args, 10000);
    sd_test_sleep_ms(400);
    pid_t victim = replicas[1].pid;
    long long killed_at = sd_test_now_ms();
    assert_int_equal(kill(victim, SIGKILL), 0);
    assert_int_equal(waitpid(victim, NULL, 0), victim);
    replicas[1].pid = 0;
    unlink(replicas[1].config_path);
    sd_test_sleep_ms(300);
    load_join(l, threads);

    /* The survivor answered everything; the victim's clients saw their
     * connections fail, never a wrong answer. */
    int lost = 0;
    for (int i = 0; i < l->nanswers; i++) {
        const answer *a = &l->answers[i];
        if (a->status == 200) continue;
        if (a->status == -1 && a->port_index == 1 && a->at + a->took >= killed_at) {
            lost++;
            continue;
        }
        fail_msg("answer %d: status %d on replica %d at +%lld ms", i, a->status,
                 a->port_index, a->at - killed_at);
    }
    print_message(
        "worker kill: %d answers, %d requests to the killed worker unanswered\n",
        l->nanswers, lost);

    /* Sessions live in Redis only: each binding resumes on the survivor
     * with the id it first got, wherever it was opened; one slot per
     * binding, nothing half-made. */
    sd_test_response res;
    for (int b = 0; b < LOAD_TOKENS; b++) {
        char id[64];
        assert_int_equal(auth(replicas[0].port, "worker", l->tokens[b], id, &res), 200);
        if (l->first_id[b][0]) assert_string_equal(id, l->first_id[b]);
    }
    assert_int_equal(sd_test_usage(&redis, "worker"), LOAD_TOKENS);
    assert_int_equal(sd_test_redis_int(&redis, "ZCARD sd:{worker}:slots"), LOAD_TOKENS);
    assert_int_equal(sd_test_sessionctl_check(&redis, "worker"), 0);

    /* A new worker serves the same sessions at once. */
    assert_int_equal(start_replica(1), 0);
    for (int b = 0; b < LOAD_TOKENS; b++) {
        char id[64], id0[64];
        assert_int_equal(auth(replicas[0].port, "worker", l->tokens[b], id0, &res), 200);
        assert_int_equal(auth(replicas[1].port, "worker", l->tokens[b], id, &res), 200);
        assert_string_equal(id, id0);
    }
    load_free(l);
}

/* ------------------------------------------------------------------------
 * SIGTERM drains
 * ------------------------------------------------------------------------ */

static const char drain_template[] =
    "{\"listen\": \"127.0.0.1:@PORT@\","
    " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\", \"timeout\": \"5s\"},"
    " \"drain_timeout\": \"5s\", \"replica_id\": \"drain-1\","
    " \"instances\": [{\"name\": \"drain\", \"issuer\": \"https://id.test/drain\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 50}]}";

static double inflight(int port) {
    sd_test_response res;
    if (sd_test_http(port, "GET", "/metrics", NULL, NULL, &res) != 0) return -1;
    return sd_test_metric(res.body, "sessiond_http_requests_inflight");
}

/* Reads what the server sends on fd until it closes; returns the status
 * (copying the session id into id) or -1. */
static int read_answer(int fd, char id[64]) {
    static char raw[16384];
    size_t got = sd_test_read_to_close(fd, raw, sizeof raw);
    sd_test_response res;
    if (sd_test_parse_response(raw, got, &res) != 0) return -1;
    if (sd_test_header(&res, "X-Session-Id", id, 64) != 0) id[0] = '\0';
    return res.status;
}

/* Several requests are held in flight by a paused Redis when SIGTERM comes:
 * the listener closes at once (a new connection is refused), every held
 * request is answered 200 when Redis resumes, then the process exits 0
 * well within drain_timeout. Found by this test (a rare failure under
 * ASan): the loop could end in the same turn as the last answer was
 * queued, before it was written, and the client got no answer at all. */
static void test_sigterm_drains_in_flight_requests(void **state) {
    enum { HELD = 12 };
    /* Its own Redis: the pause below must not disturb the other replicas.
     * (File-level, so the teardown stops it when an assertion fails.) */
    sd_test_stack *s = &drain;
    assert_int_equal(sd_test_stack_start(s, drain_template), 0);
    char *tokens[HELD];
    for (int i = 0; i < HELD; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "dora-%d", i);
        tokens[i] = sd_test_token(s->key, "k1", "https://id.test/drain", sub, "erp-web",
                                  sub, NULL, 600, NULL);
        assert_non_null(tokens[i]);
    }
    sd_test_response res;
    assert_int_equal(
        sd_test_http(s->daemon.port, "GET", "/v1/auth", tokens[0], NULL, &res), 0);
    assert_int_equal(res.status, 200);
    char id0[64];
    assert_int_equal(sd_test_header(&res, "X-Session-Id", id0, sizeof id0), 0);

    /* Requests held in flight by a paused Redis. */
    redisContext *c = sd_test_redis_connect(&s->redis);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "CLIENT PAUSE 1200 ALL"));
    redisFree(c);
    long long paused_at = sd_test_now_ms();
    int fds[HELD];
    for (int i = 0; i < HELD; i++) {
        fds[i] = sd_test_connect(s->daemon.port);
        assert_true(fds[i] >= 0);
        char req[8192];
        int n = snprintf(req, sizeof req,
                         "GET /v1/auth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Connection: close\r\nAuthorization: Bearer %s\r\n\r\n",
                         tokens[i]);
        assert_int_equal(send(fds[i], req, (size_t)n, MSG_NOSIGNAL), n);
    }
    for (int i = 0; i < 100 && inflight(s->daemon.port) != HELD; i++)
        sd_test_sleep_ms(10);
    assert_true(inflight(s->daemon.port) == HELD);

    /* SIGTERM: the listener closes at once, so a new connection is
     * refused while the requests are still waiting. */
    long long term_at = sd_test_now_ms();
    assert_int_equal(kill(s->daemon.pid, SIGTERM), 0);
    int refused = 0;
    for (int i = 0; i < 100 && !refused; i++) {
        int probe = sd_test_connect(s->daemon.port);
        if (probe < 0 && errno == ECONNREFUSED)
            refused = 1;
        else
            sd_test_sleep_ms(5);
        if (probe >= 0) close(probe);
    }
    long long refused_at = sd_test_now_ms();
    assert_true(refused);
    for (int i = 0; i < HELD; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        assert_int_equal(poll(&p, 1, 0), 0); /* still in flight */
    }
    assert_true(refused_at - paused_at < 1200);

    /* Every held request finishes normally once Redis answers. */
    for (int i = 0; i < HELD; i++) {
        char id[64];
        int status = read_answer(fds[i], id);
        close(fds[i]);
        if (status != 200) fail_msg("held request %d: status %d", i, status);
        if (i == 0) assert_string_equal(id, id0);
    }
    long long answered_at = sd_test_now_ms();
    assert_true(answered_at - paused_at >= 1100);

    /* Then the process exits 0, well within drain_timeout (5 s). */
    int status = -1;
    pid_t pid = s->daemon.pid;
    long long exited_at = 0;
    for (int i = 0; i < 700; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited_at = sd_test_now_ms();
            break;
        }
        sd_test_sleep_ms(10);
    }
    assert_true(exited_at > 0);
    s->daemon.pid = 0;
    unlink(s->daemon.config_path);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(exited_at - term_at < 5000);
    print_message(
        "drain: refused new connections %lld ms after SIGTERM; %d held requests "
        "answered 200 by %lld ms after SIGTERM; exit 0 after %lld ms\n",
        refused_at - term_at, HELD, answered_at - term_at, exited_at - term_at);
    assert_int_equal(sd_test_usage(&s->redis, "drain"), HELD);
    for (int i = 0; i < HELD; i++)
        free(tokens[i]);
    sd_test_stack_stop(s);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_paused_longer_and_shorter_than_timeout),
        cmocka_unit_test(test_script_flush_under_load_is_transparent),
        cmocka_unit_test(test_redis_killed_and_restarted_under_load),
        cmocka_unit_test(test_worker_killed_under_load_loses_nothing),
        cmocka_unit_test(test_sigterm_drains_in_flight_requests),
    };
    return cmocka_run_group_tests_name("faults", tests, setup, teardown);
}
