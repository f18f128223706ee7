/* Sentinel and Cluster topologies for the integration tests (topology.h). */
#include "topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGV 40

/* ------------------------------------------------------------------------
 * Servers
 * ------------------------------------------------------------------------ */

static int wait_ping(const sd_test_redis *r, int timeout_ms) {
    long long until = sd_test_now_ms() + timeout_ms;
    while (sd_test_now_ms() < until) {
        redisContext *c = sd_test_redis_connect(r);
        if (c) {
            redisReply *reply = redisCommand(c, "PING");
            int ok = reply && reply->type == REDIS_REPLY_STATUS;
            freeReplyObject(reply);
            redisFree(c);
            if (ok) return 0;
        }
        sd_test_sleep_ms(25);
    }
    return -1;
}

int sd_test_server_restart(sd_test_redis *r, const char *const *extra) {
    char port[16], log_path[200];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log_path, sizeof log_path, "%s/redis.log", r->dir);
    char *argv[MAX_ARGV] = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                            "--dir", r->dir, "--save", "", "--appendonly", "no",
                            /* A replica syncs at once, not after 5 s. */
                            "--repl-diskless-sync-delay", "0"};
    int n = 13;
    for (size_t i = 0; extra && extra[i] && n < MAX_ARGV - 1; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    r->pid = sd_test_spawn(argv, log_path);
    if (r->pid < 0) return -1;
    return wait_ping(r, 5000);
}

int sd_test_server_start(sd_test_redis *r, const char *const *extra) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/sd-test-redis-XXXXXX");
    if (!mkdtemp(r->dir)) return -1;
    r->port = sd_test_free_port();
    return r->port > 0 ? sd_test_server_restart(r, extra) : -1;
}

int sd_test_replica_start(sd_test_redis *r, int master_port) {
    char port[16];
    snprintf(port, sizeof port, "%d", master_port);
    const char *extra[] = {"--replicaof", "127.0.0.1", port, NULL};
    return sd_test_server_start(r, extra);
}

int sd_test_replica_synced(const sd_test_redis *r, int timeout_ms) {
    long long until = sd_test_now_ms() + timeout_ms;
    while (sd_test_now_ms() < until) {
        redisContext *c = sd_test_redis_connect(r);
        redisReply *reply = c ? redisCommand(c, "INFO replication") : NULL;
        int up = reply && reply->type == REDIS_REPLY_STRING &&
                 strstr(reply->str, "master_link_status:up") != NULL;
        freeReplyObject(reply);
        if (c) redisFree(c);
        if (up) return 0;
        sd_test_sleep_ms(50);
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Sentinels
 * ------------------------------------------------------------------------ */

int sd_test_sentinel_start(sd_test_redis *s, const char *name, int master_port,
                           int down_after_ms, int failover_timeout_ms) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/sd-test-sentinel-XXXXXX");
    if (!mkdtemp(s->dir)) return -1;
    s->port = sd_test_free_port();
    char conf[200], log_path[200];
    snprintf(conf, sizeof conf, "%s/sentinel.conf", s->dir);
    snprintf(log_path, sizeof log_path, "%s/sentinel.log", s->dir);
    FILE *f = fopen(conf, "w");
    if (!f) return -1;
    /* Sentinel rewrites this file as it learns the topology. */
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\n"
            "sentinel monitor %s 127.0.0.1 %d 2\n"
            "sentinel down-after-milliseconds %s %d\n"
            "sentinel failover-timeout %s %d\n"
            "sentinel parallel-syncs %s 1\n",
            s->port, s->dir, name, master_port, name, down_after_ms, name,
            failover_timeout_ms, name);
    fclose(f);
    char *argv[] = {"redis-server", conf, "--sentinel", NULL};
    s->pid = sd_test_spawn(argv, log_path);
    if (s->pid < 0) return -1;
    return wait_ping(s, 5000);
}

int sd_test_sentinel_master_port(const sd_test_redis *s, const char *name) {
    redisContext *c = sd_test_redis_connect(s);
    if (!c) return -1;
    redisReply *reply = redisCommand(c, "SENTINEL get-master-addr-by-name %s", name);
    int port = -1;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
        port = atoi(reply->element[1]->str);
    freeReplyObject(reply);
    redisFree(c);
    return port;
}

/* Entries of SENTINEL <what> name whose "flags" are exactly want (NULL:
 * any), or -1. */
static int count_entries(const sd_test_redis *s, const char *what, const char *name,
                         const char *want) {
    redisContext *c = sd_test_redis_connect(s);
    if (!c) return -1;
    redisReply *reply = redisCommand(c, "SENTINEL %s %s", what, name);
    int n = -1;
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        n = 0;
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *e = reply->element[i];
            int ok = want == NULL;
            for (size_t k = 0; !ok && k + 1 < e->elements; k += 2)
                ok = strcmp(e->element[k]->str, "flags") == 0 &&
                     strcmp(e->element[k + 1]->str, want) == 0;
            n += ok;
        }
    }
    freeReplyObject(reply);
    redisFree(c);
    return n;
}

int sd_test_sentinels_settled(const sd_test_redis *s, int n, const char *name,
                              int replicas, int timeout_ms) {
    long long until = sd_test_now_ms() + timeout_ms;
    while (sd_test_now_ms() < until) {
        int ok = 1;
        for (int i = 0; i < n && ok; i++)
            ok = count_entries(&s[i], "sentinels", name, NULL) == n - 1 &&
                 count_entries(&s[i], "replicas", name, "slave") >= replicas;
        if (ok) return 0;
        sd_test_sleep_ms(100);
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Cluster
 * ------------------------------------------------------------------------ */

static int cluster_ok(const sd_test_redis *r) {
    redisContext *c = sd_test_redis_connect(r);
    redisReply *reply = c ? redisCommand(c, "CLUSTER INFO") : NULL;
    int ok = reply && reply->type == REDIS_REPLY_STRING &&
             strstr(reply->str, "cluster_state:ok") != NULL;
    freeReplyObject(reply);
    if (c) redisFree(c);
    return ok;
}

int sd_test_cluster_start(sd_test_redis *r, int n) {
    for (int i = 0; i < n; i++) {
        /* The bus port defaults to port + 10000, which may be taken or past
         * 65535: choose a free one too. */
        char bus[16];
        snprintf(bus, sizeof bus, "%d", sd_test_free_port());
        const char *extra[] = {"--cluster-enabled",
                               "yes",
                               "--cluster-config-file",
                               "nodes.conf",
                               "--cluster-node-timeout",
                               "5000",
                               "--cluster-port",
                               bus,
                               NULL};
        memset(&r[i], 0, sizeof r[i]);
        /* nodes.conf is written in the working directory: its own. */
        if (sd_test_server_start(&r[i], extra) != 0) return -1;
    }
    char addrs[16][32];
    char *argv[MAX_ARGV] = {"redis-cli", "--cluster", "create"};
    int k = 3;
    for (int i = 0; i < n && i < 16; i++) {
        snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", r[i].port);
        argv[k++] = addrs[i];
    }
    argv[k++] = "--cluster-replicas";
    argv[k++] = "0";
    argv[k++] = "--cluster-yes";
    argv[k] = NULL;
    char log_path[200];
    snprintf(log_path, sizeof log_path, "%s/cluster-create.log", r[0].dir);
    pid_t pid = sd_test_spawn(argv, log_path);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    long long until = sd_test_now_ms() + 20000;
    while (sd_test_now_ms() < until) {
        int ok = 1;
        for (int i = 0; i < n && ok; i++)
            ok = cluster_ok(&r[i]);
        if (ok) return 0;
        sd_test_sleep_ms(100);
    }
    return -1;
}

int sd_test_cluster_owner(const sd_test_redis *r, int n, int slot) {
    redisContext *c = sd_test_redis_connect(&r[0]);
    redisReply *reply = c ? redisCommand(c, "CLUSTER SLOTS") : NULL;
    int owner = -1;
    for (size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
         i++) {
        const redisReply *e = reply->element[i];
        if (slot < e->element[0]->integer || slot > e->element[1]->integer) continue;
        long long port = e->element[2]->element[1]->integer;
        for (int k = 0; k < n; k++)
            if (r[k].port == port) owner = k;
    }
    freeReplyObject(reply);
    if (c) redisFree(c);
    return owner;
}

int sd_test_cluster_keyslot(const sd_test_redis *r, const char *key) {
    return (int)sd_test_redis_int(r, "CLUSTER KEYSLOT %s", key);
}

static char *node_id(const sd_test_redis *r, char out[64]) {
    redisContext *c = sd_test_redis_connect(r);
    redisReply *reply = c ? redisCommand(c, "CLUSTER MYID") : NULL;
    int ok = reply && reply->type == REDIS_REPLY_STRING && reply->len < 64;
    if (ok) memcpy(out, reply->str, reply->len + 1);
    freeReplyObject(reply);
    if (c) redisFree(c);
    return ok ? out : NULL;
}

/* Runs one command and says whether it answered +OK. */
static int ok_reply(const sd_test_redis *r, const char *fmt, const char *a,
                    const char *b) {
    redisContext *c = sd_test_redis_connect(r);
    redisReply *reply = c ? redisCommand(c, fmt, a, b) : NULL;
    int ok = reply && reply->type == REDIS_REPLY_STATUS;
    if (!ok && reply && reply->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "move slot: %s\n", reply->str);
    freeReplyObject(reply);
    if (c) redisFree(c);
    return ok;
}

int sd_test_cluster_move_slot(const sd_test_redis *r, int n, int slot, int from, int to,
                              int pause_ms) {
    char src[64], dst[64], num[16];
    if (!node_id(&r[from], src) || !node_id(&r[to], dst)) return -1;
    snprintf(num, sizeof num, "%d", slot);
    if (!ok_reply(&r[to], "CLUSTER SETSLOT %s IMPORTING %s", num, src) ||
        !ok_reply(&r[from], "CLUSTER SETSLOT %s MIGRATING %s", num, dst))
        return -1;
    redisContext *c = sd_test_redis_connect(&r[from]);
    if (!c) return -1;
    redisReply *keys = redisCommand(c, "CLUSTER GETKEYSINSLOT %d 100000", slot);
    int moved = -1;
    if (keys && keys->type == REDIS_REPLY_ARRAY) {
        moved = (int)keys->elements;
        if (moved > 0) {
            /* One MIGRATE for all of them: they leave the source together,
             * so no script there sees half of its keys. */
            size_t argc = 8 + keys->elements;
            const char **argv = calloc(argc, sizeof *argv);
            size_t *lens = calloc(argc, sizeof *lens);
            char port[16];
            snprintf(port, sizeof port, "%d", r[to].port);
            const char *head[] = {"MIGRATE", "127.0.0.1", port,      "",
                                  "0",       "5000",      "REPLACE", "KEYS"};
            for (size_t i = 0; i < 8; i++)
                argv[i] = head[i];
            for (size_t i = 0; i < keys->elements; i++) {
                argv[8 + i] = keys->element[i]->str;
            }
            for (size_t i = 0; i < argc; i++)
                lens[i] = strlen(argv[i]);
            redisReply *m = redisCommandArgv(c, (int)argc, argv, lens);
            if (!m || m->type == REDIS_REPLY_ERROR) {
                fprintf(stderr, "MIGRATE: %s\n", m ? m->str : "no reply");
                moved = -1;
            }
            freeReplyObject(m);
            free(argv);
            free(lens);
        }
    }
    freeReplyObject(keys);
    redisFree(c);
    if (moved < 0) return -1;
    if (pause_ms > 0) sd_test_sleep_ms(pause_ms);
    /* The new owner first, so that it serves the slot as soon as the old
     * one starts sending clients to it. */
    if (!ok_reply(&r[to], "CLUSTER SETSLOT %s NODE %s", num, dst)) return -1;
    for (int i = 0; i < n; i++)
        if (i != to && !ok_reply(&r[i], "CLUSTER SETSLOT %s NODE %s", num, dst))
            return -1;
    return moved;
}
