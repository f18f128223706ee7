/* One connection to one Redis server: connect, the handshake (AUTH, SELECT,
 * ROLE in Sentinel mode, SCRIPT LOAD of every embedded script), back-off
 * and teardown. What a lost or ready connection means is the store's
 * business (store_link_up / store_link_down). */
#include "core/clock.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>

#include "sessiond/error.h"

/* privdata of the handshake replies: the script's index plus one for
 * SCRIPT LOAD, these two for the others. */
#define HS_PLAIN ((uintptr_t)0)
#define HS_ROLE ((uintptr_t)(SD_SCRIPT_COUNT + 1))
#define HS_TIME ((uintptr_t)(SD_SCRIPT_COUNT + 2))

static struct timeval ms_to_tv(int64_t ms) {
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* ------------------------------------------------------------------------
 * Teardown and back-off
 * ------------------------------------------------------------------------ */

void link_drop(store_link *link, const char *why, int quiet) {
    redisAsyncContext *ac = link->ac;
    link->ac = NULL;
    link->state = LINK_DOWN;
    evtimer_del(&link->handshake_timer);
    if (ac) {
        /* Deferred by hiredis when we are inside one of its callbacks;
         * either way every pending reply comes back NULL. */
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (!quiet) store_link_down(link, why);
}

static void on_reconnect_timer(evutil_socket_t fd, short what, void *arg) {
    store_link_reconnect(arg);
}

void link_schedule_reconnect(store_link *link) {
    struct timeval tv = ms_to_tv(link->backoff_ms);
    evtimer_add(&link->reconnect_timer, &tv);
    link->backoff_ms *= 2;
    if (link->backoff_ms > link->store->backoff_max_ms)
        link->backoff_ms = link->store->backoff_max_ms;
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg) {
    store_link *link = arg;
    if (link->state == LINK_HANDSHAKE) link_drop(link, "handshake timed out", 0);
}

/* ------------------------------------------------------------------------
 * hiredis callbacks
 * ------------------------------------------------------------------------ */

static void on_connect(const redisAsyncContext *ac, int status) {
    store_link *link = ac->data;
    if (!link || link->ac != ac || status == REDIS_OK) return;
    /* hiredis frees the context after this callback. */
    link->ac = NULL;
    link->state = LINK_DOWN;
    evtimer_del(&link->handshake_timer);
    store_link_down(link, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    store_link *link = ac->data;
    if (!link || link->ac != ac) return;
    link->ac = NULL;
    link->state = LINK_DOWN;
    evtimer_del(&link->handshake_timer);
    store_link_down(link, status == REDIS_OK ? "disconnected" : ac->errstr);
}

/* ROLE's first element names the server's role. */
static int is_master_role(const redisReply *reply) {
    return reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
           reply->element[0]->type == REDIS_REPLY_STRING &&
           strcmp(reply->element[0]->str, "master") == 0;
}

static void on_handshake_reply(redisAsyncContext *ac, void *r, void *privdata) {
    store_link *link = ac->data;
    redisReply *reply = r;
    if (!link || !reply || link->state != LINK_HANDSHAKE) return;
    link->replies++;
    char why[200];
    uintptr_t idx = (uintptr_t)privdata;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* A refused AUTH or a script Redis won't compile: retrying at once
         * would only repeat it, so back off. */
        snprintf(why, sizeof why, "handshake refused: %.120s", reply->str);
        link_drop(link, why, 0);
        return;
    }
    if (idx == HS_ROLE) {
        if (!is_master_role(reply)) {
            /* The sentinels named a server that is no longer the master
             * (a failover is under way): never write to a replica. */
            snprintf(why, sizeof why, "%.120s:%u is not a master (ROLE %.20s)",
                     link->host, (unsigned)link->port,
                     reply->type == REDIS_REPLY_ARRAY && reply->elements &&
                             reply->element[0]->type == REDIS_REPLY_STRING
                         ? reply->element[0]->str
                         : "?");
            link_drop(link, why, 0);
        }
        return;
    }
    if (idx == HS_PLAIN) return;
    if (idx == HS_TIME) {
        link_note_time(link, reply);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || reply->len != 40 ||
        memcmp(link->store->sha[idx - 1], reply->str, 40) != 0) {
        link_drop(link, "handshake refused: SCRIPT LOAD gave another hash", 0);
        return;
    }
    if (--link->scripts_pending == 0) {
        evtimer_del(&link->handshake_timer);
        link->backoff_ms = STORE_BACKOFF_START_MS;
        link->state = LINK_READY;
        store_link_up(link);
    }
}

/* ------------------------------------------------------------------------
 * Connecting
 * ------------------------------------------------------------------------ */

static void send_script_load(redisAsyncContext *ac, const sd_embedded_script *s,
                             uintptr_t idx) {
    const char *argv[3] = {"SCRIPT", "LOAD", s->text};
    size_t lens[3] = {6, 4, s->len};
    redisAsyncCommandArgv(ac, on_handshake_reply, (void *)idx, 3, argv, lens);
}

void link_connect(store_link *link) {
    sd_store *store = link->store;
    evtimer_del(&link->reconnect_timer);
    if (link->ac) link_drop(link, NULL, 1);
    redisAsyncContext *ac = redisAsyncConnect(link->host, link->port);
    if (!ac || ac->err) {
        char why[200];
        snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        store_link_down(link, why);
        return;
    }
    ac->data = link;
    link->ac = ac;
    link->state = LINK_HANDSHAKE;
    redisLibeventAttach(ac, store->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    evtimer_add(&link->handshake_timer, &store->timeout);
    store_update_state(store, "connecting");

    /* The whole handshake is queued at once; Redis answers in order once
     * connected. */
    if (store->password) {
        const char *argv[2] = {"AUTH", store->password};
        size_t lens[2] = {4, strlen(store->password)};
        redisAsyncCommandArgv(ac, on_handshake_reply, (void *)HS_PLAIN, 2, argv, lens);
    }
    if (store->db)
        redisAsyncCommand(ac, on_handshake_reply, (void *)HS_PLAIN, "SELECT %d",
                          store->db);
    if (link->check_role)
        redisAsyncCommand(ac, on_handshake_reply, (void *)HS_ROLE, "ROLE");
    redisAsyncCommand(ac, on_handshake_reply, (void *)HS_TIME, "TIME");
    link->scripts_pending = SD_SCRIPT_COUNT;
    for (uintptr_t i = 0; i < SD_SCRIPT_COUNT; i++)
        send_script_load(ac, store->scripts[i], i + 1);
}

void link_note_time(store_link *link, const redisReply *reply) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return;
    int64_t redis_ms = strtoll(reply->element[0]->str, NULL, 10) * 1000 +
                       strtoll(reply->element[1]->str, NULL, 10) / 1000;
    /* Measured when the reply arrives: late by the one-way latency, which
     * only makes deadlines that much earlier (safe). */
    link->clock_offset_ms = redis_ms - sd_monotonic_ms();
    link->clock_known = 1;
}

static void on_time_reply(redisAsyncContext *ac, void *r, void *privdata) {
    store_link *link = privdata;
    if (r && link->state == LINK_READY) link_note_time(link, r);
}

void link_sync_clock(store_link *link) {
    if (link->state != LINK_READY || !link->ac) return;
    redisAsyncCommand(link->ac, on_time_reply, link, "TIME");
}

int link_send(store_link *link, redisCallbackFn *fn, void *privdata, int argc,
              const char **argv, const size_t *lens) {
    if (link->state != LINK_READY || !link->ac) return SD_ESTORE_UNAVAILABLE;
    return redisAsyncCommandArgv(link->ac, fn, privdata, argc, argv, lens) == REDIS_OK
               ? 0
               : SD_ESTORE_UNAVAILABLE;
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

void link_set_address(store_link *link, const char *host, uint16_t port) {
    snprintf(link->host, sizeof link->host, "%s", host);
    link->port = port;
}

store_link *link_new(sd_store *store, const char *host, uint16_t port) {
    if (store->nlinks == store->caplinks) {
        size_t cap = store->caplinks ? store->caplinks * 2 : 4;
        store_link **grown = realloc(store->links, cap * sizeof *grown);
        if (!grown) return NULL;
        store->links = grown;
        store->caplinks = cap;
    }
    store_link *link = calloc(1, sizeof *link);
    if (!link) return NULL;
    link->store = store;
    link_set_address(link, host, port);
    link->backoff_ms = STORE_BACKOFF_START_MS;
    link->waiting_tail = &link->waiting;
    evtimer_assign(&link->reconnect_timer, store->base, on_reconnect_timer, link);
    evtimer_assign(&link->handshake_timer, store->base, on_handshake_timeout, link);
    store->links[store->nlinks++] = link;
    return link;
}

void link_free(store_link *link) {
    if (!link) return;
    evtimer_del(&link->reconnect_timer);
    evtimer_del(&link->handshake_timer);
    free(link);
}
