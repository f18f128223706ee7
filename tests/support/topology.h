/* Redis topologies for the integration tests, on free loopback ports: a
 * master with replicas watched by sentinels, and a Redis Cluster of
 * masters. Each server is an sd_test_redis, so sd_test_redis_stop,
 * sd_test_redis_connect and sd_test_redis_int work on them. */
#ifndef SD_TEST_TOPOLOGY_H
#define SD_TEST_TOPOLOGY_H

#include "harness.h"

/* Starts a plain redis-server (no persistence) on a free port, with the
 * extra arguments (NULL-terminated, may be NULL), and waits for PING.
 * sd_test_server_restart starts it again on the same port and directory
 * with the same arguments. Returns 0 or -1. */
int sd_test_server_start(sd_test_redis *r, const char *const *extra);
int sd_test_server_restart(sd_test_redis *r, const char *const *extra);

/* Starts a replica of the server on master_port. */
int sd_test_replica_start(sd_test_redis *r, int master_port);

/* Starts a sentinel that monitors 127.0.0.1:master_port as `name` with
 * quorum 2 and the given down-after and failover time-outs (ms). */
int sd_test_sentinel_start(sd_test_redis *s, const char *name, int master_port,
                           int down_after_ms, int failover_timeout_ms);

/* The port of the master a sentinel names (SENTINEL get-master-addr-by-
 * name), or -1. */
int sd_test_sentinel_master_port(const sd_test_redis *s, const char *name);

/* Waits until every sentinel knows the other n - 1 sentinels and at least
 * `replicas` healthy replicas (flags exactly "slave"), at most timeout_ms.
 * Returns 0 or -1. */
int sd_test_sentinels_settled(const sd_test_redis *s, int n, const char *name,
                              int replicas, int timeout_ms);

/* Waits until INFO replication of a replica says master_link_status:up. */
int sd_test_replica_synced(const sd_test_redis *r, int timeout_ms);

/* Starts n cluster-enabled servers and joins them with redis-cli --cluster
 * create (no replicas), then waits until each says cluster_state:ok and
 * agrees on the slots. Returns 0 or -1 (the started servers are in r[]). */
int sd_test_cluster_start(sd_test_redis *r, int n);

/* The index in r[] of the node that owns slot (by CLUSTER SLOTS asked of
 * r[0]), or -1. */
int sd_test_cluster_owner(const sd_test_redis *r, int n, int slot);

/* CLUSTER KEYSLOT of key, asked of r; -1 on failure. */
int sd_test_cluster_keyslot(const sd_test_redis *r, const char *key);

/* Moves slot from r[from] to r[to] by hand while traffic may run: SETSLOT
 * IMPORTING on the target, MIGRATING on the source, MIGRATE of every key
 * in the slot, then, after pause_ms (a window where clients meet -ASK),
 * SETSLOT NODE on every node. Returns the number of keys moved or -1. */
int sd_test_cluster_move_slot(const sd_test_redis *r, int n, int slot, int from, int to,
                              int pause_ms);

#endif
