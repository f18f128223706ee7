/* Sentinel mode (see sentinel.h): where the master is, and when it moves.
 *
 * Two connections of its own, besides the store's link to the master:
 *   - a short-lived query connection: SENTINEL get-master-addr-by-name to
 *     one sentinel after another until one answers (each within the
 *     store's time-out);
 *   - a subscribed connection to one sentinel (+switch-master), re-made
 *     with back-off on the next sentinel when it drops. */
#include "store/sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>

#include "sessiond/config.h"
#include "sessiond/error.h"

#define SWITCH_CHANNEL "+switch-master"

struct store_sentinel {
    sd_store *store;
    char **hosts;
    uint16_t *ports;
    size_t n;
    char *master_name;
    char *password;
    /* The look-up in progress. */
    redisAsyncContext *query;
    size_t good;  /* the sentinel that answered last */
    size_t tried; /* sentinels asked in this look-up */
    size_t at;    /* the one being asked */
    struct event query_timer;
    char why[200]; /* why the latest sentinel failed */
    /* The subscription. */
    redisAsyncContext *sub;
    size_t sub_at;
    int64_t sub_backoff_ms;
    struct event sub_timer;
};

static void ask_next(store_sentinel *s);
static void subscribe(store_sentinel *s);

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

int sd_sentinel_parse_switch(const char *msg, const char *master_name, char *host,
                             size_t hostcap, uint16_t *port) {
    char name[256], old_ip[STORE_HOST_MAX], new_ip[STORE_HOST_MAX];
    unsigned old_port, new_port;
    char extra;
    if (sscanf(msg, "%255s %255s %u %255s %u %c", name, old_ip, &old_port, new_ip,
               &new_port, &extra) != 5)
        return -1;
    if (strcmp(name, master_name) != 0 || new_port == 0 || new_port > 65535 ||
        strlen(new_ip) >= hostcap)
        return -1;
    memcpy(host, new_ip, strlen(new_ip) + 1);
    *port = (uint16_t)new_port;
    return 0;
}

/* ------------------------------------------------------------------------
 * The master: where the store's link goes
 * ------------------------------------------------------------------------ */

static store_link *master_link(store_sentinel *s) { return s->store->links[0]; }

/* Points the link at host:port and connects now (dropping any connection
 * to the old master: its calls in flight are answered "unavailable"). */
static void follow_master(store_sentinel *s, const char *host, uint16_t port,
                          int switched) {
    store_link *link = master_link(s);
    if (switched && link->state != LINK_DOWN && strcmp(link->host, host) == 0 &&
        link->port == port)
        return;
    if (switched) {
        s->store->stats.switches++;
        link->backoff_ms = STORE_BACKOFF_START_MS;
    }
    link_set_address(link, host, port);
    link_connect(link);
}

/* ------------------------------------------------------------------------
 * Look-up: SENTINEL get-master-addr-by-name, one sentinel after another
 * ------------------------------------------------------------------------ */

/* Ends the query connection (hiredis may be freeing it itself: gone). */
static void end_query(store_sentinel *s, int gone) {
    redisAsyncContext *ac = s->query;
    s->query = NULL;
    evtimer_del(&s->query_timer);
    if (ac && !gone) {
        ac->data = NULL;
        redisAsyncFree(ac); /* deferred when inside its callback */
    }
}

static void query_failed(store_sentinel *s, const char *why, int gone) {
    snprintf(s->why, sizeof s->why, "sentinel %s:%u: %.150s", s->hosts[s->at],
             (unsigned)s->ports[s->at], why);
    end_query(s, gone);
    ask_next(s);
}

static void on_query_connect(const redisAsyncContext *ac, int status) {
    store_sentinel *s = ac->data;
    if (!s || s->query != ac || status == REDIS_OK) return;
    query_failed(s, ac->errstr[0] ? ac->errstr : "connect failed", 1);
}

static void on_query_disconnect(const redisAsyncContext *ac, int status) {
    store_sentinel *s = ac->data;
    if (!s || s->query != ac) return;
    query_failed(s, status == REDIS_OK ? "disconnected" : ac->errstr, 1);
}

static void on_query_timeout(evutil_socket_t fd, short what, void *arg) {
    store_sentinel *s = arg;
    if (s->query) query_failed(s, "no answer within the time-out", 0);
}

/* privdata: NULL for AUTH, non-NULL for the look-up. */
static void on_query_reply(redisAsyncContext *ac, void *r, void *privdata) {
    store_sentinel *s = ac->data;
    redisReply *reply = r;
    if (!s || s->query != ac || !reply) return;
    char why[200];
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(why, sizeof why, "%s", reply->str);
        query_failed(s, why, 0);
        return;
    }
    if (!privdata) return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(why, sizeof why, "does not know master \"%s\"", s->master_name);
        query_failed(s, why, 0);
        return;
    }
    char host[STORE_HOST_MAX];
    char *end;
    unsigned long port = strtoul(reply->element[1]->str, &end, 10);
    if (*end || port == 0 || port > 65535 || reply->element[0]->len >= sizeof host) {
        query_failed(s, "gave a malformed master address", 0);
        return;
    }
    memcpy(host, reply->element[0]->str, reply->element[0]->len + 1);
    s->good = s->at;
    end_query(s, 0);
    follow_master(s, host, (uint16_t)port, 0);
}

/* Asks the next sentinel of this look-up, or, when every one has failed,
 * reports that and backs off (the link's reconnect timer asks again). */
static void ask_next(store_sentinel *s) {
    sd_store *store = s->store;
    while (s->tried < s->n) {
        s->at = (s->good + s->tried) % s->n;
        s->tried++;
        redisAsyncContext *ac = redisAsyncConnect(s->hosts[s->at], s->ports[s->at]);
        if (!ac || ac->err) {
            snprintf(s->why, sizeof s->why, "sentinel %s:%u: %s", s->hosts[s->at],
                     (unsigned)s->ports[s->at], ac ? ac->errstr : "out of memory");
            if (ac) redisAsyncFree(ac);
            continue;
        }
        ac->data = s;
        s->query = ac;
        redisLibeventAttach(ac, store->base);
        redisAsyncSetConnectCallback(ac, on_query_connect);
        redisAsyncSetDisconnectCallback(ac, on_query_disconnect);
        evtimer_add(&s->query_timer, &store->timeout);
        if (s->password) {
            const char *argv[2] = {"AUTH", s->password};
            size_t lens[2] = {4, strlen(s->password)};
            redisAsyncCommandArgv(ac, on_query_reply, NULL, 2, argv, lens);
        }
        const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", s->master_name};
        size_t lens[3] = {8, 23, strlen(s->master_name)};
        redisAsyncCommandArgv(ac, on_query_reply, s, 3, argv, lens);
        return;
    }
    store_set_error(store, "no sentinel named the master \"%s\" (last: %s)",
                    s->master_name, s->why);
    link_schedule_reconnect(master_link(s));
    store_update_state(store, "no sentinel named the master");
}

void store_sentinel_resolve(store_sentinel *s) {
    if (s->query) return;
    s->tried = 0;
    ask_next(s);
}

/* ------------------------------------------------------------------------
 * Subscription to +switch-master
 * ------------------------------------------------------------------------ */

static void on_sub_timer(evutil_socket_t fd, short what, void *arg) { subscribe(arg); }

/* The subscribed connection is gone: try the next sentinel after a while. */
static void resubscribe_later(store_sentinel *s) {
    s->sub = NULL;
    s->sub_at = (s->sub_at + 1) % s->n;
    struct timeval tv = {.tv_sec = s->sub_backoff_ms / 1000,
                         .tv_usec = (s->sub_backoff_ms % 1000) * 1000};
    evtimer_add(&s->sub_timer, &tv);
    s->sub_backoff_ms *= 2;
    if (s->sub_backoff_ms > s->store->backoff_max_ms)
        s->sub_backoff_ms = s->store->backoff_max_ms;
}

static void on_sub_connect(const redisAsyncContext *ac, int status) {
    store_sentinel *s = ac->data;
    if (!s || s->sub != ac || status == REDIS_OK) return;
    resubscribe_later(s);
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status) {
    store_sentinel *s = ac->data;
    if (!s || s->sub != ac) return;
    resubscribe_later(s);
}

static void on_sub_auth(redisAsyncContext *ac, void *r, void *privdata) {
    store_sentinel *s = ac->data;
    redisReply *reply = r;
    if (!s || s->sub != ac || !reply || reply->type != REDIS_REPLY_ERROR) return;
    ac->data = NULL;
    redisAsyncFree(ac); /* deferred: we are in its callback */
    resubscribe_later(s);
}

static void on_sub_message(redisAsyncContext *ac, void *r, void *privdata) {
    store_sentinel *s = ac->data;
    redisReply *reply = r;
    if (!s || s->sub != ac || !reply || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != 3 || reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(reply->element[0]->str, "subscribe") == 0) {
        s->sub_backoff_ms = STORE_BACKOFF_START_MS;
        return;
    }
    char host[STORE_HOST_MAX];
    uint16_t port;
    if (strcmp(reply->element[0]->str, "message") == 0 &&
        reply->element[2]->type == REDIS_REPLY_STRING &&
        sd_sentinel_parse_switch(reply->element[2]->str, s->master_name, host,
                                 sizeof host, &port) == 0) {
        /* Connect to the new master at once; a look-up in progress would
         * only say the same, or the old address. */
        end_query(s, 0);
        follow_master(s, host, port, 1);
    }
}

static void subscribe(store_sentinel *s) {
    redisAsyncContext *ac = redisAsyncConnect(s->hosts[s->sub_at], s->ports[s->sub_at]);
    if (!ac || ac->err) {
        if (ac) redisAsyncFree(ac);
        resubscribe_later(s);
        return;
    }
    ac->data = s;
    s->sub = ac;
    redisLibeventAttach(ac, s->store->base);
    redisAsyncSetConnectCallback(ac, on_sub_connect);
    redisAsyncSetDisconnectCallback(ac, on_sub_disconnect);
    if (s->password) {
        const char *argv[2] = {"AUTH", s->password};
        size_t lens[2] = {4, strlen(s->password)};
        redisAsyncCommandArgv(ac, on_sub_auth, NULL, 2, argv, lens);
    }
    redisAsyncCommand(ac, on_sub_message, NULL, "SUBSCRIBE " SWITCH_CHANNEL);
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

store_sentinel *store_sentinel_new(sd_store *store, const sd_store_options *opt,
                                   char *err, size_t errlen) {
    store_sentinel *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->store = store;
    evtimer_assign(&s->query_timer, store->base, on_query_timeout, s);
    evtimer_assign(&s->sub_timer, store->base, on_sub_timer, s);
    s->hosts = calloc(opt->nsentinels, sizeof *s->hosts);
    s->ports = calloc(opt->nsentinels, sizeof *s->ports);
    s->master_name = strdup(opt->master_name ? opt->master_name : "");
    s->password = opt->sentinel_password ? strdup(opt->sentinel_password) : NULL;
    if (!s->hosts || !s->ports || !s->master_name ||
        (opt->sentinel_password && !s->password))
        goto fail;
    for (; s->n < opt->nsentinels; s->n++)
        if (sd_hostport_parse(opt->sentinels[s->n], &s->hosts[s->n], &s->ports[s->n], err,
                              errlen) != 0)
            goto fail;
    s->sub_backoff_ms = STORE_BACKOFF_START_MS;
    return s;
fail:
    store_sentinel_free(s);
    return NULL;
}

void store_sentinel_start(store_sentinel *s) {
    subscribe(s);
    store_sentinel_resolve(s);
}

void store_sentinel_free(store_sentinel *s) {
    if (!s) return;
    if (s->query) end_query(s, 0);
    evtimer_del(&s->query_timer);
    evtimer_del(&s->sub_timer);
    if (s->sub) {
        redisAsyncContext *ac = s->sub;
        s->sub = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    for (size_t i = 0; i < s->n; i++)
        free(s->hosts[i]);
    free(s->hosts);
    free(s->ports);
    free(s->master_name);
    if (s->password) explicit_bzero(s->password, strlen(s->password));
    free(s->password);
    free(s);
}
