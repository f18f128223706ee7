/* Redis Cluster end to end: three masters on loopback (redis-cli --cluster
 * create, no replicas), a sessiond that knows only one of them as a seed,
 * instances whose hash tags land on every master, and a slot moved by hand
 * (SETSLOT MIGRATING/IMPORTING, MIGRATE, SETSLOT NODE) while traffic runs.
 *
 * What it shows (README "Choosing a Redis topology"):
 *   - every call reaches the master that owns its instance's slot (usage
 *     read on that node; the sweep's gauges for every instance);
 *   - the licence limit holds exactly under a race;
 *   - while one instance's slot moves, no client sees an error (-ASK,
 *     -TRYAGAIN and -MOVED are followed inside the call's time-out), no
 *     session is lost or doubled and usage stays within the limit;
 *   - sessionctl finds every instance (SCAN on each master) and reads
 *     events of the moved instance. */
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
#include <openssl/pem.h>

#include "harness.h"
#include "store/crc16.h"
#include "topology.h"

#define NODES 3
#define PER_NODE 3
#define SPREAD (NODES * PER_NODE)
#define LOAD_BINDINGS 300
#define PRE_SESSIONS 5
#define RACERS 16

static sd_test_redis nodes[NODES];
static sd_test_daemon daemon_proc;
static EVP_PKEY *key;
static char pub_path[] = "/tmp/sd-test-cluster-pub-XXXXXX";
static char names[SPREAD][16]; /* instances, PER_NODE on each master */
static int owner_of[SPREAD];

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

/* Picks instance names c<N> until every master has PER_NODE of them, each
 * checked with the server's own CLUSTER KEYSLOT. */
static int pick_names(void) {
    int count[NODES] = {0}, n = 0;
    for (int i = 0; i < 1000 && n < SPREAD; i++) {
        char name[16], key_name[48];
        snprintf(name, sizeof name, "c%d", i);
        snprintf(key_name, sizeof key_name, "sd:{%s}:pool", name);
        int slot = sd_test_cluster_keyslot(&nodes[0], key_name);
        if (slot != sd_cluster_keyslot(key_name, strlen(key_name))) return -1;
        int owner = sd_test_cluster_owner(nodes, NODES, slot);
        if (owner < 0 || count[owner] == PER_NODE) continue;
        count[owner]++;
        owner_of[n] = owner;
        snprintf(names[n++], sizeof names[0], "%s", name);
    }
    return n == SPREAD ? 0 : -1;
}

static int teardown(void **state);

static int setup_topology(void) {
    key = EVP_RSA_gen(2048);
    int fd = mkstemp(pub_path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!key || !f || !PEM_write_PUBKEY(f, key)) return -1;
    fclose(f);
    if (sd_test_cluster_start(nodes, NODES) != 0) {
        fprintf(stderr, "cluster did not start\n");
        return -1;
    }
    if (pick_names() != 0) return -1;
    char *config = malloc(16384);
    int n = snprintf(config, 16384,
                     "{\"listen\": \"127.0.0.1:@PORT@\","
                     " \"redis\": {\"cluster\": [\"127.0.0.1:%d\"], \"timeout\": \"1s\","
                     "             \"reconnect_max\": \"200ms\"},"
                     " \"sweep_interval\": \"200ms\", \"replica_id\": \"clu-1\","
                     " \"instances\": [",
                     nodes[1].port);
    for (int i = 0; i <= SPREAD; i++)
        n += snprintf(config + n, 16384 - (size_t)n,
                      "%s{\"name\": \"%s\", \"issuer\": \"https://id.test/%s\","
                      " \"pem_keys\": [{\"path\": \"%s\", \"kid\": \"k1\"}],"
                      " \"license_limit\": %d}",
                      i ? "," : "", i < SPREAD ? names[i] : "move",
                      i < SPREAD ? names[i] : "move", pub_path, i < SPREAD ? 5 : 1000);
    snprintf(config + n, 16384 - (size_t)n, "]}");
    int rc = sd_test_daemon_start(&daemon_proc, config, 0, 1);
    free(config);
    return rc;
}

/* cmocka skips the group teardown when the setup fails: stop what it
 * started ourselves. */
static int setup(void **state) {
    int rc = setup_topology();
    if (rc) teardown(state);
    return rc;
}

static int teardown(void **state) {
    sd_test_daemon_stop(&daemon_proc);
    for (int i = 0; i < NODES; i++)
        sd_test_redis_stop(&nodes[i], 1);
    EVP_PKEY_free(key);
    unlink(pub_path);
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *token_for(const char *inst, const char *sid) {
    char iss[200];
    snprintf(iss, sizeof iss, "https://id.test/%s", inst);
    return sd_test_token(key, "k1", iss, "user", "erp-web", sid, NULL, 600, NULL);
}

static int auth(const char *inst, const char *token, char id[64]) {
    char headers[64];
    snprintf(headers, sizeof headers, "X-Instance: %s\r\n", inst);
    sd_test_response res;
    if (sd_test_http(daemon_proc.port, "GET", "/v1/auth", token, headers, &res) != 0)
        return -1;
    if (id && sd_test_header(&res, "X-Session-Id", id, 64) != 0) id[0] = '\0';
    if (res.status != 200 && res.status != 429)
        fprintf(stderr, "auth %s: %d %s\n", inst, res.status, res.body);
    return res.status;
}

static int slot_of_instance(const char *inst) {
    char k[48];
    snprintf(k, sizeof k, "sd:{%s}:pool", inst);
    return sd_cluster_keyslot(k, strlen(k));
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void test_instances_on_every_master(void **state) {
    int on[NODES] = {0};
    for (int i = 0; i < SPREAD; i++) {
        on[owner_of[i]]++;
        for (int s = 0; s < 2; s++) {
            char sid[32];
            snprintf(sid, sizeof sid, "spread-%d", s);
            char *t = token_for(names[i], sid);
            assert_int_equal(auth(names[i], t, NULL), 200);
            free(t);
        }
        /* The sessions live on the master of the instance's slot. */
        assert_int_equal(sd_test_usage(&nodes[owner_of[i]], names[i]), 2);
        int other = (owner_of[i] + 1) % NODES;
        assert_int_equal(
            sd_test_redis_int(&nodes[other], "EXISTS sd:{%s}:pool", names[i]),
            -999); /* -MOVED there: not an integer */
    }
    for (int n = 0; n < NODES; n++)
        assert_int_equal(on[n], PER_NODE);

    /* The sweep reaches every master too: its gauges report each instance. */
    sd_test_sleep_ms(600);
    sd_test_response res;
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/metrics", NULL, NULL, &res),
                     0);
    for (int i = 0; i < SPREAD; i++) {
        char sample[256];
        snprintf(sample, sizeof sample, "sessiond_sessions_open{instance=\"%s\"}",
                 names[i]);
        assert_int_equal((int)sd_test_metric(res.body, sample), 2);
    }
}

typedef struct racer {
    pthread_t thread;
    const char *inst;
    char *token;
    int status;
} racer;

static void *race_one(void *arg) {
    racer *r = arg;
    r->status = auth(r->inst, r->token, NULL);
    return NULL;
}

static void test_limit_holds_in_a_race(void **state) {
    const char *inst = names[SPREAD - 1]; /* 2 of its 5 slots taken above */
    racer rs[RACERS];
    for (int i = 0; i < RACERS; i++) {
        char sid[32];
        snprintf(sid, sizeof sid, "race-%d", i);
        rs[i] = (racer){.inst = inst, .token = token_for(inst, sid)};
    }
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&rs[i].thread, NULL, race_one, &rs[i]), 0);
    int won = 0, denied = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(rs[i].thread, NULL);
        won += rs[i].status == 200;
        denied += rs[i].status == 429;
        free(rs[i].token);
    }
    assert_int_equal(won, 3);
    assert_int_equal(denied, RACERS - 3);
    assert_int_equal(sd_test_usage(&nodes[owner_of[SPREAD - 1]], inst), 5);
}

/* Traffic on instance "move" while its slot moves. */
typedef struct load_state {
    char *tokens[LOAD_BINDINGS];
    char ids[LOAD_BINDINGS][64];
    volatile int stop;
    long long deadline_ms;
    int requests, ok, errors, changed;
} load_state;

static load_state load;

static void *load_loop(void *arg) {
    load_state *s = arg;
    for (int i = 0; !s->stop && sd_test_now_ms() < s->deadline_ms; i++) {
        int b = i % 2 ? i % PRE_SESSIONS
                      : PRE_SESSIONS + (i / 2) % (LOAD_BINDINGS - PRE_SESSIONS);
        char id[64];
        int status = auth("move", s->tokens[b], id);
        s->requests++;
        if (status != 200) {
            s->errors++;
            continue;
        }
        s->ok++;
        /* A binding keeps its session across the move. */
        if (!s->ids[b][0])
            snprintf(s->ids[b], sizeof s->ids[b], "%s", id);
        else if (strcmp(s->ids[b], id) != 0)
            s->changed++;
        sd_test_sleep_ms(2);
    }
    return NULL;
}

static void test_resharding_under_traffic(void **state) {
    int slot = slot_of_instance("move");
    int from = sd_test_cluster_owner(nodes, NODES, slot);
    assert_true(from >= 0);
    int to = (from + 1) % NODES;
    for (int b = 0; b < LOAD_BINDINGS; b++) {
        char sid[32];
        snprintf(sid, sizeof sid, "mv-%d", b);
        load.tokens[b] = token_for("move", sid);
    }
    for (int b = 0; b < PRE_SESSIONS; b++)
        assert_int_equal(auth("move", load.tokens[b], load.ids[b]), 200);

    load.deadline_ms = sd_test_now_ms() + 20000;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, load_loop, &load), 0);
    sd_test_sleep_ms(500);
    long long start = sd_test_now_ms();
    /* 150 ms between MIGRATE and SETSLOT NODE: calls meet -ASK there. */
    int moved = sd_test_cluster_move_slot(nodes, NODES, slot, from, to, 150);
    long long took = sd_test_now_ms() - start;
    sd_test_sleep_ms(700);
    load.stop = 1;
    pthread_join(t, NULL);

    sd_test_response res;
    assert_int_equal(sd_test_http(daemon_proc.port, "GET", "/metrics", NULL, NULL, &res),
                     0);
    double moved_n =
        sd_test_metric(res.body, "sessiond_redis_redirects_total{kind=\"moved\"}");
    double ask_n =
        sd_test_metric(res.body, "sessiond_redis_redirects_total{kind=\"ask\"}");
    double again_n =
        sd_test_metric(res.body, "sessiond_redis_redirects_total{kind=\"tryagain\"}");
    fprintf(stderr,
            "cluster resharding: redirects followed: %.0f MOVED, %.0f ASK, %.0f "
            "TRYAGAIN\n",
            moved_n, ask_n, again_n);
    /* The move was seen and followed: at least one MOVED after SETSLOT NODE. */
    assert_true(moved_n >= 1);
    fprintf(
        stderr,
        "cluster resharding: slot %d of instance \"move\" moved from node %d to node %d "
        "(%d keys, %lld ms) under %d requests: %d ok, %d errors\n",
        slot, from, to, moved, took, load.requests, load.ok, load.errors);
    assert_true(moved > 0);
    assert_int_equal(sd_test_cluster_owner(nodes, NODES, slot), to);
    assert_int_equal(load.errors, 0);
    assert_int_equal(load.changed, 0);
    /* Every session opened is on the new owner, once; none over the limit. */
    int opened = 0;
    for (int b = 0; b < LOAD_BINDINGS; b++) {
        if (!load.ids[b][0]) continue;
        opened++;
        assert_int_equal(
            sd_test_redis_int(&nodes[to], "EXISTS sd:{move}:session:%s", load.ids[b]), 1);
    }
    assert_int_equal(sd_test_usage(&nodes[to], "move"), opened);
    assert_true(opened <= 1000);
    /* And they still resume there. */
    for (int b = 0; b < PRE_SESSIONS; b++) {
        char id[64];
        assert_int_equal(auth("move", load.tokens[b], id), 200);
        assert_string_equal(id, load.ids[b]);
    }
}

static void test_sessionctl_on_the_cluster(void **state) {
    const char *bin = getenv("SD_SESSIONCTL");
    if (!bin) bin = SD_BINARY_DIR "/sessionctl";
    char seed[32];
    snprintf(seed, sizeof seed, "127.0.0.1:%d", nodes[2].port);
    /* Every instance of every master, found by SCAN on each. */
    char *argv[] = {(char *)bin, "usage", "--cluster", seed, "--json", NULL};
    sd_test_run_result res;
    assert_int_equal(sd_test_run(&res, NULL, argv), 0);
    if (res.status != 0) fail_msg("sessionctl usage: %s", res.err);
    for (int i = 0; i < SPREAD; i++) {
        char quoted[200];
        snprintf(quoted, sizeof quoted, "\"%s\"", names[i]);
        if (!strstr(res.out, quoted)) fail_msg("%s missing in:\n%s", names[i], res.out);
    }
    assert_non_null(strstr(res.out, "\"move\""));
    sd_test_run_free(&res);

    /* The moved instance's event stream (XREVRANGE on its new owner). */
    char *ev[] = {(char *)bin, "events",  "--cluster", seed, "--instance",
                  "move",      "--count", "3",         NULL};
    assert_int_equal(sd_test_run(&res, NULL, ev), 0);
    if (res.status != 0) fail_msg("sessionctl events: %s", res.err);
    assert_non_null(strstr(res.out, "opened"));
    sd_test_run_free(&res);

    char *list[] = {(char *)bin, "list", "--cluster", seed, "--instance", names[0], NULL};
    assert_int_equal(sd_test_run(&res, NULL, list), 0);
    if (res.status != 0) fail_msg("sessionctl list: %s", res.err);
    assert_non_null(strstr(res.out, "2 open session(s)"));
    sd_test_run_free(&res);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instances_on_every_master),
        cmocka_unit_test(test_limit_holds_in_a_race),
        cmocka_unit_test(test_resharding_under_traffic),
        cmocka_unit_test(test_sessionctl_on_the_cluster),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    for (int b = 0; b < LOAD_BINDINGS; b++)
        free(load.tokens[b]);
    return rc;
}
