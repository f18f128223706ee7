/* Redis calls: routing to a connection, per-call time-outs, NOSCRIPT reload,
 * redirects, deferred calls and readiness (see store.h). The connections
 * are link.c's; where they point is sentinel.c's and cluster.c's. */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/sha.h>

#include "core/clock.h"
#include "sessiond/config.h"
#include "sessiond/error.h"
#include "store/cluster.h"
#include "store/crc16.h"
#include "store/sentinel.h"
#include "store/store_internal.h"

/* A call follows at most this many redirects; its time-out bounds it too. */
#define MAX_REDIRECTS 100
/* A -TRYAGAIN (a slot half migrated) is retried after this long. */
#define TRYAGAIN_DELAY_MS 10
/* A script's deadline is this much before its call's time-out. */
#define STORE_DEADLINE_MARGIN_MS 5

/* File names (without ".lua") of the scripts, in sd_script_id order. */
static const char *const script_names[SD_SCRIPT_COUNT] = {
    [SD_SCRIPT_OPEN_OR_RESUME] = "open_or_resume-9",
    [SD_SCRIPT_CLOSE] = "close-7",
    [SD_SCRIPT_SWEEP] = "sweep-6",
    [SD_SCRIPT_USAGE_REPORT] = "usage-4",
    [SD_SCRIPT_SEED] = "seed-2",
    [SD_SCRIPT_LIST] = "list-2",
    [SD_SCRIPT_SHOW] = "show-1",
    [SD_SCRIPT_SETTINGS_CHANGE] = "settings-3",
    [SD_SCRIPT_REVOKE] = "revoke-2",
    [SD_SCRIPT_CHECK_SLOTS] = "check_slots-5",
    [SD_SCRIPT_CHECK_KEYS] = "check_keys-1",
};

static void call_answer(store_call *call, int err, const redisReply *reply);
static void call_free(store_call *call);
static int transmit(store_call *call, store_link *link);

/* ------------------------------------------------------------------------
 * Readiness and errors
 * ------------------------------------------------------------------------ */

void store_set_error(sd_store *store, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(store->last_error, sizeof store->last_error, fmt, ap);
    va_end(ap);
}

static int compute_ready(const sd_store *store) {
    if (store->freeing) return 0;
    if (store->mode == STORE_CLUSTER) return store_cluster_ready(store->cluster);
    return store->nlinks > 0 && store->links[0]->state == LINK_READY;
}

void store_update_state(sd_store *store, const char *why) {
    int ready = compute_ready(store);
    if (ready == store->ready) {
        /* Still down: tell again only when the latest failure differs from
         * the one told, so a worker that never reached Redis (refused,
         * wrong password, bad database) says why once, not once per
         * back-off. */
        if (ready || strcmp(store->last_error, store->reported) == 0) return;
        why = store->last_error;
    }
    store->ready = ready;
    if (ready) {
        store->stats.connects++;
        store->was_ready = 1;
        store->reported[0] = '\0';
    } else {
        memcpy(store->reported, store->last_error, sizeof store->reported);
    }
    if (store->on_state) store->on_state(ready, why, store->data);
}

/* ------------------------------------------------------------------------
 * Lists of calls not in flight (deferred, waiting for a link, to retry)
 * ------------------------------------------------------------------------ */

static void append(store_call ***tail, store_call *call) {
    call->next = NULL;
    **tail = call;
    *tail = &call->next;
}

/* Answers every call of a list SD_ESTORE_UNAVAILABLE (none of them is in
 * flight, so none can have run) and frees them. */
static void fail_list(store_call *list) {
    while (list) {
        store_call *call = list;
        list = call->next;
        call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
        call_free(call);
    }
}

/* The link a call goes to now, or NULL. */
static store_link *route(sd_store *store, const store_call *call) {
    if (store->mode != STORE_CLUSTER) return store->links[0];
    if (call->scan_node >= 0)
        return store_cluster_master(store->cluster, (size_t)call->scan_node);
    if (call->slot < 0) return store_cluster_any(store->cluster);
    return store_cluster_route(store->cluster, call->slot);
}

static int link_usable(const store_link *link) {
    return link && link->state == LINK_READY && link->ac;
}

void store_flush_waiting(sd_store *store) {
    store_call *list = store->deferred;
    store->deferred = NULL;
    store->deferred_tail = &store->deferred;
    while (list) {
        store_call *call = list;
        list = call->next;
        /* Its EVALSHA names the script by hash, the same after a reload. */
        store_link *link = route(store, call);
        if (link_usable(link) && transmit(call, link) == 0) {
            store->ndeferred--;
            continue;
        }
        append(&store->deferred_tail, call);
    }
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg) {
    sd_store *store = arg;
    store_call *list = store->retry;
    store->retry = NULL;
    store->retry_tail = &store->retry;
    while (list) {
        store_call *call = list;
        list = call->next;
        call->next = NULL;
        store_link *link = call->answered ? NULL : route(store, call);
        if (call->answered) {
            call_free(call);
        } else if (link_usable(link)) {
            if (transmit(call, link) != 0) {
                call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
                call_free(call);
            }
        } else if (link) {
            append(&link->waiting_tail, call);
        } else {
            call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
            call_free(call);
        }
    }
}

/* ------------------------------------------------------------------------
 * What the links report
 * ------------------------------------------------------------------------ */

void store_link_up(store_link *link) {
    sd_store *store = link->store;
    if (store->mode == STORE_CLUSTER) store_cluster_link_up(store->cluster, link);
    store_update_state(store, "connected, scripts loaded");
    /* Calls redirected here while it connected. */
    store_call *list = link->waiting;
    link->waiting = NULL;
    link->waiting_tail = &link->waiting;
    while (list) {
        store_call *call = list;
        list = call->next;
        call->next = NULL;
        if (call->answered || transmit(call, link) != 0) {
            if (!call->answered) call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
            call_free(call);
        }
    }
    store_flush_waiting(store);
}

void store_link_down(store_link *link, const char *why) {
    sd_store *store = link->store;
    if (store->freeing) return;
    store_call *waiting = link->waiting;
    link->waiting = NULL;
    link->waiting_tail = &link->waiting;
    switch (store->mode) {
    case STORE_SINGLE:
        store_set_error(store, "%s", why ? why : "");
        link_schedule_reconnect(link);
        break;
    case STORE_SENTINEL:
        store_set_error(store, "master %s:%u: %s", link->host, (unsigned)link->port,
                        why ? why : "");
        /* The reconnect asks the sentinels again: a lost master is the
         * first sign of a failover. */
        link_schedule_reconnect(link);
        break;
    case STORE_CLUSTER: store_cluster_link_down(store->cluster, link, why); break;
    }
    fail_list(waiting);
    store_update_state(store, why ? why : "disconnected");
}

void store_link_reconnect(store_link *link) {
    sd_store *store = link->store;
    if (store->mode == STORE_SENTINEL)
        store_sentinel_resolve(store->sentinel);
    else
        link_connect(link);
}

/* ------------------------------------------------------------------------
 * Creation and teardown
 * ------------------------------------------------------------------------ */

static const sd_embedded_script *find_script(const char *name) {
    for (unsigned i = 0; i < sd_embedded_script_count; i++)
        if (strcmp(sd_embedded_scripts[i].name, name) == 0)
            return &sd_embedded_scripts[i];
    return NULL;
}

static struct timeval ms_to_tv(int64_t ms) {
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* The SHA-1 that SCRIPT LOAD returns, known before any connection, so that
 * every node (and a deferred call) uses the same EVALSHA. */
static void script_sha(const sd_embedded_script *s, char out[41]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s->text, s->len, md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
}

/* Makes the topology of opt: its links, and the sentinels or cluster. */
static int make_topology(sd_store *store, const sd_store_options *opt) {
    char err[200] = "";
    if (opt->ncluster > 0) {
        store->mode = STORE_CLUSTER;
        store->cluster =
            store_cluster_new(store, opt->cluster, opt->ncluster, err, sizeof err);
        return store->cluster ? 0 : -1;
    }
    if (opt->nsentinels > 0) {
        store->mode = STORE_SENTINEL;
        store_link *link = link_new(store, "", 0);
        if (!link) return -1;
        link->check_role = 1;
        store->sentinel = store_sentinel_new(store, opt, err, sizeof err);
        return store->sentinel ? 0 : -1;
    }
    store->mode = STORE_SINGLE;
    return link_new(store, opt->host, opt->port) ? 0 : -1;
}

static void free_links(sd_store *store) {
    for (size_t i = 0; i < store->nlinks; i++)
        link_free(store->links[i]);
    free(store->links);
}

sd_store *sd_store_new(struct event_base *base, const sd_store_options *opt) {
    sd_store *store = calloc(1, sizeof *store);
    if (!store) return NULL;
    store->base = base;
    store->password = opt->password ? strdup(opt->password) : NULL;
    if (opt->password && !store->password) goto fail;
    store->db = opt->db;
    store->timeout_ms = opt->timeout_ms;
    store->timeout = ms_to_tv(opt->timeout_ms);
    store->backoff_max_ms = opt->reconnect_max_ms > STORE_BACKOFF_START_MS
                                ? opt->reconnect_max_ms
                                : STORE_BACKOFF_START_MS;
    store->on_state = opt->on_state;
    store->data = opt->data;
    for (int i = 0; i < SD_SCRIPT_COUNT; i++) {
        store->scripts[i] = find_script(script_names[i]);
        if (!store->scripts[i]) goto fail; /* a build without lua/: a bug */
        script_sha(store->scripts[i], store->sha[i]);
    }
    store->deferred_tail = &store->deferred;
    store->retry_tail = &store->retry;
    evtimer_assign(&store->retry_timer, base, on_retry_timer, store);
    if (make_topology(store, opt) != 0) goto fail;
    switch (store->mode) {
    case STORE_SINGLE: link_connect(store->links[0]); break;
    case STORE_SENTINEL: store_sentinel_start(store->sentinel); break;
    case STORE_CLUSTER: store_cluster_start(store->cluster); break;
    }
    return store;
fail:
    store_sentinel_free(store->sentinel);
    store_cluster_free(store->cluster);
    free_links(store);
    if (store->password) explicit_bzero(store->password, strlen(store->password));
    free(store->password);
    free(store);
    return NULL;
}

void sd_store_free(sd_store *store) {
    if (!store) return;
    store->freeing = 1;
    store->on_state = NULL;
    evtimer_del(&store->retry_timer);
    store_call *deferred = store->deferred, *retry = store->retry;
    store->deferred = store->retry = NULL;
    fail_list(deferred);
    fail_list(retry);
    for (size_t i = 0; i < store->nlinks; i++) {
        store_link *link = store->links[i];
        store_call *waiting = link->waiting;
        link->waiting = NULL;
        fail_list(waiting);
        /* Answers every call in flight on it SD_ESTORE_UNAVAILABLE. */
        link_drop(link, NULL, 1);
    }
    store_sentinel_free(store->sentinel);
    store_cluster_free(store->cluster);
    free_links(store);
    if (store->password) explicit_bzero(store->password, strlen(store->password));
    free(store->password);
    free(store);
}

int sd_store_ready(const sd_store *store) { return store->ready; }

/* ------------------------------------------------------------------------
 * Calls
 * ------------------------------------------------------------------------ */

static void call_free(store_call *call) {
    evtimer_del(&call->timer);
    redisFreeCommand(call->cmd);
    free(call);
}

static void call_answer(store_call *call, int err, const redisReply *reply) {
    if (call->answered) return;
    call->answered = 1;
    evtimer_del(&call->timer);
    sd_store_stats *st = &call->store->stats;
    if (err == SD_ESTORE_TIMEOUT)
        st->timeouts++;
    else if (err)
        st->failures++;
    else
        sd_histogram_observe(&st->latency,
                             (double)(sd_monotonic_ns() - call->sent_at) / 1e9);
    call->cb(err, reply, call->data);
}

static int has_prefix(const redisReply *reply, const char *prefix) {
    size_t n = strlen(prefix);
    return reply->type == REDIS_REPLY_ERROR && reply->len >= n &&
           strncmp(reply->str, prefix, n) == 0 &&
           (reply->len == n || reply->str[n] == ' ');
}

static void on_call_reply(redisAsyncContext *ac, void *r, void *privdata);

/* A NOSCRIPT reply means this server lost its script cache (restart, SCRIPT
 * FLUSH, a fresh node): queue SCRIPT LOAD, then the same EVALSHA behind it,
 * on the same connection. */
static int retry_after_load(store_link *link, store_call *call) {
    call->retried = 1;
    const sd_embedded_script *s = call->store->scripts[call->script];
    const char *argv[3] = {"SCRIPT", "LOAD", s->text};
    size_t lens[3] = {6, 4, s->len};
    if (!link->ac ||
        redisAsyncCommandArgv(link->ac, NULL, NULL, 3, argv, lens) != REDIS_OK ||
        redisAsyncFormattedCommand(link->ac, on_call_reply, call, call->cmd,
                                   call->cmdlen) != REDIS_OK)
        return -1;
    call->in_flight = 1;
    return 0;
}

/* Cluster redirects: the command did not run where it was sent. Returns 1
 * when it took the call over (resent, queued or answered), 0 to hand the
 * error reply to the caller. */
static int follow_cluster_error(store_call *call, store_link *link,
                                const redisReply *reply) {
    sd_store *store = call->store;
    sd_cluster_redirect rd;
    int tryagain = has_prefix(reply, "TRYAGAIN");
    int redirect =
        !tryagain && sd_cluster_parse_redirect(reply->str, reply->len, &rd) == 0;
    if (has_prefix(reply, "CLUSTERDOWN")) {
        store_cluster_refresh(store->cluster);
        if (!call->answered) call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
        call_free(call);
        return 1;
    }
    if (!redirect && !tryagain) return 0;
    /* Nothing ran, so a caller already answered has nothing to undo. */
    if (call->answered || ++call->redirects > MAX_REDIRECTS) {
        if (!call->answered) call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
        call_free(call);
        return 1;
    }
    if (tryagain) {
        store->stats.tryagain++;
        /* A multi-key call in a slot being migrated: once the keys have
         * moved, the map (or an -ASK) sends it to the right node. */
        call->asking = 0;
        append(&store->retry_tail, call);
        struct timeval tv = ms_to_tv(TRYAGAIN_DELAY_MS);
        if (!evtimer_pending(&store->retry_timer, NULL))
            evtimer_add(&store->retry_timer, &tv);
        return 1;
    }
    if (rd.ask)
        store->stats.asked++;
    else
        store->stats.moved++;
    store_link *target = store_cluster_redirect(store->cluster, &rd, link);
    call->asking = rd.ask;
    if (!target) {
        call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
        call_free(call);
    } else if (link_usable(target)) {
        if (transmit(call, target) != 0) {
            call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
            call_free(call);
        }
    } else {
        append(&target->waiting_tail, call);
    }
    return 1;
}

/* Error replies the store handles itself. Returns 1 when it took the call
 * over, 0 to hand the reply to the caller. */
static int follow_error(store_call *call, store_link *link, const redisReply *reply) {
    sd_store *store = call->store;
    if (has_prefix(reply, "NOSCRIPT"))
        return !call->retried && !call->answered && retry_after_load(link, call) == 0;
    if (has_prefix(reply, "READONLY")) {
        /* A replica refuses the first write, so nothing ran: the caller
         * gets "unavailable", never the error as an answer. The master we
         * knew was demoted; ask again where the master is. */
        if (!call->answered) call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
        call_free(call);
        if (store->mode == STORE_SENTINEL && link->ac)
            link_drop(link, "the master became a replica (READONLY)", 0);
        else if (store->mode == STORE_CLUSTER)
            store_cluster_refresh(store->cluster);
        return 1;
    }
    return store->mode == STORE_CLUSTER ? follow_cluster_error(call, link, reply) : 0;
}

/* Cluster SCAN: the node's cursor becomes "<master>-<cursor>", and the end
 * of one master's keys the start of the next one's. */
static void answer_scan(store_call *call, const redisReply *reply) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        call_answer(call, 0, reply);
        return;
    }
    char cursor[64];
    size_t nmasters = store_cluster_nmasters(call->store->cluster);
    int node = call->scan_node;
    if (strcmp(reply->element[0]->str, "0") != 0)
        snprintf(cursor, sizeof cursor, "%d-%.40s", node, reply->element[0]->str);
    else if ((size_t)node + 1 < nmasters)
        snprintf(cursor, sizeof cursor, "%d-0", node + 1);
    else
        snprintf(cursor, sizeof cursor, "0");
    redisReply head = *reply, first = *reply->element[0];
    redisReply *elements[2] = {&first, reply->element[1]};
    first.str = cursor;
    first.len = strlen(cursor);
    head.element = elements;
    call_answer(call, 0, &head);
}

static void on_call_reply(redisAsyncContext *ac, void *r, void *privdata) {
    store_call *call = privdata;
    sd_store *store = call->store;
    redisReply *reply = r;
    call->in_flight = 0;
    if (!reply) {
        /* The connection went with the reply: whether the call ran is
         * unknown, and its caller hears (or heard) it failed. */
        if (call->late_cb && !store->freeing)
            call->late_cb(store, NULL, call->tag, call->late_data);
        call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
        call_free(call);
        return;
    }
    store_link *link = call->link;
    link->replies++;
    if (reply->type == REDIS_REPLY_ERROR && follow_error(call, link, reply)) return;
    if (call->answered && call->late_cb)
        call->late_cb(store, reply, call->tag, call->late_data);
    if (call->scan_node >= 0 && !call->answered)
        answer_scan(call, reply);
    else
        call_answer(call, 0, reply);
    call_free(call);
}

static void on_call_timeout(evutil_socket_t fd, short what, void *arg) {
    store_call *call = arg;
    /* libevent arms a timer from the time its loop turn began (cached), so
     * it can fire before a full time-out has passed since the send; the
     * script's deadline (sd_store_deadline_ms) counts from the real clock.
     * Answering early would let a request told 503 still open a session
     * if Redis ran it in between: wait out the rest. */
    int64_t left_ns =
        call->sent_at + call->store->timeout_ms * 1000000 - sd_monotonic_ns();
    if (left_ns > 0) {
        int64_t us = left_ns / 1000 + 1;
        struct timeval tv = {.tv_sec = (time_t)(us / 1000000),
                             .tv_usec = (suseconds_t)(us % 1000000)};
        evtimer_add(&call->timer, &tv);
        return;
    }
    store_link *link = call->in_flight ? call->link : NULL;
    int stalled = link && link->replies == call->replies_at_send;
    call_answer(call, SD_ESTORE_TIMEOUT, NULL);
    /* Nothing at all came back on its connection while this call waited:
     * the connection (or Redis) is stuck. Dropping it answers the other
     * waiting calls now and makes new calls fail fast until a fresh
     * connection is ready. */
    if (stalled && link->state == LINK_READY)
        link_drop(link, "Redis stopped answering", 0);
}

/* Sends a call on a ready link; the first send starts its time-out, which
 * then covers every redirect. */
static int transmit(store_call *call, store_link *link) {
    sd_store *store = call->store;
    if (call->asking && redisAsyncCommand(link->ac, NULL, NULL, "ASKING") != REDIS_OK)
        return SD_ESTORE_UNAVAILABLE;
    if (redisAsyncFormattedCommand(link->ac, on_call_reply, call, call->cmd,
                                   call->cmdlen) != REDIS_OK)
        return SD_ESTORE_UNAVAILABLE;
    call->link = link;
    call->in_flight = 1;
    call->replies_at_send = link->replies;
    if (!call->started) {
        call->started = 1;
        call->sent_at = sd_monotonic_ns();
        evtimer_add(&call->timer, &store->timeout);
        store->stats.calls++;
    }
    return 0;
}

/* Makes a call of the formatted argv. script is the script to reload on
 * NOSCRIPT, or -1 for a plain command (never retried); key routes it in
 * Cluster mode (NULL: any master). */
static store_call *call_new(sd_store *store, int script, int argc, const char **argv,
                            const size_t *argvlen, const char *key, size_t keylen,
                            sd_store_cb *cb, void *data) {
    store_call *call = calloc(1, sizeof *call);
    if (!call) return NULL;
    int len = redisFormatCommandArgv(&call->cmd, argc, argv, argvlen);
    if (len < 0) {
        free(call);
        return NULL;
    }
    call->cmdlen = (size_t)len;
    call->store = store;
    call->cb = cb;
    call->data = data;
    call->script = script < 0 ? SD_SCRIPT_OPEN_OR_RESUME : script;
    call->retried = script < 0;
    call->scan_node = -1;
    call->slot =
        store->mode == STORE_CLUSTER && key ? sd_cluster_keyslot(key, keylen) : -1;
    evtimer_assign(&call->timer, store->base, on_call_timeout, call);
    return call;
}

/* Sends a new call, or with defer queues it while its node is away. */
static int start_call(sd_store *store, store_call *call, int defer) {
    store_link *link = route(store, call);
    /* A connection being torn down (we may be inside its last callbacks)
     * refuses the command: a deferred call then waits for the next one. */
    int rc = link_usable(link) ? transmit(call, link) : SD_ESTORE_UNAVAILABLE;
    if (rc && defer) {
        append(&store->deferred_tail, call);
        store->ndeferred++;
        return 0;
    }
    if (rc) call_free(call);
    return rc;
}

/* Formats EVALSHA of script into argv/argvlen (MAX_ARGS entries). */
enum { MAX_ARGS = 32 };
static int evalsha_argv(sd_store *store, sd_script_id script, int nkeys, int nargs,
                        const char **args, const size_t *lens, char numkeys[12],
                        const char **argv, size_t *argvlen) {
    if (nargs + 3 > MAX_ARGS || nkeys > nargs || (int)script < 0 ||
        script >= SD_SCRIPT_COUNT)
        return SD_EINVAL;
    int numkeys_len = snprintf(numkeys, 12, "%d", nkeys);
    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = store->sha[script];
    argvlen[1] = 40;
    argv[2] = numkeys;
    argvlen[2] = (size_t)numkeys_len;
    memcpy(argv + 3, args, sizeof *args * (size_t)nargs);
    memcpy(argvlen + 3, lens, sizeof *lens * (size_t)nargs);
    return 0;
}

static int script_call(sd_store *store, sd_script_id script, int nkeys, int nargs,
                       const char **args, const size_t *lens, sd_store_cb *cb, void *data,
                       sd_store_late_cb *late_cb, void *late_data, const char *tag,
                       int defer) {
    char numkeys[12];
    const char *argv[MAX_ARGS];
    size_t argvlen[MAX_ARGS];
    int rc =
        evalsha_argv(store, script, nkeys, nargs, args, lens, numkeys, argv, argvlen);
    if (rc) return rc;
    store_call *call =
        call_new(store, (int)script, nargs + 3, argv, argvlen, nkeys > 0 ? args[0] : NULL,
                 nkeys > 0 ? lens[0] : 0, cb, data);
    if (!call) return SD_ENOMEM;
    call->late_cb = late_cb;
    call->late_data = late_data;
    if (tag) snprintf(call->tag, sizeof call->tag, "%s", tag);
    return start_call(store, call, defer);
}

int sd_store_call(sd_store *store, sd_script_id script, int nkeys, int nargs,
                  const char **args, const size_t *lens, sd_store_cb *cb, void *data) {
    return sd_store_call_late(store, script, nkeys, nargs, args, lens, cb, data, NULL,
                              NULL, NULL);
}

int sd_store_call_deferred(sd_store *store, sd_script_id script, int nkeys, int nargs,
                           const char **args, const size_t *lens, sd_store_cb *cb,
                           void *data) {
    /* A store never ready has nothing for the call to wait for yet. */
    if (!store->was_ready) return SD_ESTORE_UNAVAILABLE;
    if (store->ndeferred >= SD_STORE_MAX_DEFERRED && !store->ready)
        return SD_ESTORE_UNAVAILABLE;
    return script_call(store, script, nkeys, nargs, args, lens, cb, data, NULL, NULL,
                       NULL, 1);
}

int sd_store_call_late(sd_store *store, sd_script_id script, int nkeys, int nargs,
                       const char **args, const size_t *lens, sd_store_cb *cb, void *data,
                       sd_store_late_cb *late_cb, void *late_data, const char *tag) {
    if (store->mode != STORE_CLUSTER && !link_usable(store->links[0]))
        return SD_ESTORE_UNAVAILABLE;
    return script_call(store, script, nkeys, nargs, args, lens, cb, data, late_cb,
                       late_data, tag, 0);
}

/* Cluster SCAN: cursor "0" or "<master>-<cursor>" (see store.h). */
static int scan_call(sd_store *store, int argc, const char **argv, const size_t *lens,
                     sd_store_cb *cb, void *data) {
    char cursor[64];
    if (lens[1] >= sizeof cursor) return SD_EINVAL;
    memcpy(cursor, argv[1], lens[1]);
    cursor[lens[1]] = '\0';
    unsigned long node = 0;
    const char *node_cursor = cursor;
    char *dash = strchr(cursor, '-');
    if (dash) {
        char *end;
        node = strtoul(cursor, &end, 10);
        if (end != dash) return SD_EINVAL;
        node_cursor = dash + 1;
    } else if (strcmp(cursor, "0") != 0) {
        return SD_EINVAL;
    }
    if (node >= store_cluster_nmasters(store->cluster)) return SD_ESTORE_UNAVAILABLE;
    const char *v[MAX_ARGS];
    size_t vl[MAX_ARGS];
    if (argc > MAX_ARGS) return SD_EINVAL;
    memcpy(v, argv, sizeof *argv * (size_t)argc);
    memcpy(vl, lens, sizeof *lens * (size_t)argc);
    v[1] = node_cursor;
    vl[1] = strlen(node_cursor);
    store_call *call = call_new(store, -1, argc, v, vl, NULL, 0, cb, data);
    if (!call) return SD_ENOMEM;
    call->scan_node = (int)node;
    return start_call(store, call, 0);
}

int sd_store_command(sd_store *store, int argc, const char **argv, const size_t *lens,
                     sd_store_cb *cb, void *data) {
    if (argc < 1) return SD_EINVAL;
    if (store->mode != STORE_CLUSTER) {
        if (!link_usable(store->links[0])) return SD_ESTORE_UNAVAILABLE;
    } else if (argc >= 2 && lens[0] == 4 && strncasecmp(argv[0], "SCAN", 4) == 0) {
        return scan_call(store, argc, argv, lens, cb, data);
    }
    store_call *call = call_new(store, -1, argc, argv, lens, argc >= 2 ? argv[1] : NULL,
                                argc >= 2 ? lens[1] : 0, cb, data);
    if (!call) return SD_ENOMEM;
    return start_call(store, call, 0);
}

int64_t sd_store_deadline_ms(const sd_store *store) {
    for (size_t i = 0; i < store->nlinks; i++) {
        const store_link *link = store->links[i];
        /* Whole milliseconds on both clocks: the margin covers the
         * rounding, so the deadline passes before the time-out fires. */
        if (link->clock_known)
            return sd_monotonic_ms() + link->clock_offset_ms + store->timeout_ms -
                   (store->timeout_ms > 10 * STORE_DEADLINE_MARGIN_MS
                        ? STORE_DEADLINE_MARGIN_MS
                        : 0);
    }
    return 0;
}

void sd_store_sync_clock(sd_store *store) {
    for (size_t i = 0; i < store->nlinks; i++)
        link_sync_clock(store->links[i]);
}

const char *sd_store_last_error(const sd_store *store) {
    return store->last_error[0] ? store->last_error : NULL;
}

const sd_store_stats *sd_store_get_stats(const sd_store *store) { return &store->stats; }
