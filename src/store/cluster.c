/* Cluster mode (see cluster.h): the slot map, one link per node, redirects.
 *
 * The map comes from CLUSTER SLOTS, asked of any ready node (first the
 * seeds): once at start, and again after every -MOVED, lost node or
 * -CLUSTERDOWN, at most one question in flight (the next one waits for
 * its answer). A -MOVED also corrects its slot at once, so the call that
 * got it and the ones after it go to the new owner without waiting. */
#include "store/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "sessiond/config.h"
#include "sessiond/error.h"

/* A failed CLUSTER SLOTS is asked again after this long. */
#define REFRESH_RETRY_MS 100

struct store_cluster {
    sd_store *store;
    int16_t owner[SD_CLUSTER_SLOTS]; /* index into store->links, -1 none */
    size_t *masters;                 /* link indexes, by first slot */
    size_t nmasters;
    int covered;       /* slots the map assigns */
    int refreshing;    /* CLUSTER SLOTS in flight */
    int refresh_again; /* asked for while one was in flight */
    struct event refresh_timer;
};

/* ------------------------------------------------------------------------
 * Parsers
 * ------------------------------------------------------------------------ */

int sd_cluster_parse_redirect(const char *msg, size_t len, sd_cluster_redirect *out) {
    size_t word;
    if (len > 6 && strncmp(msg, "MOVED ", 6) == 0) {
        out->ask = 0;
        word = 6;
    } else if (len > 4 && strncmp(msg, "ASK ", 4) == 0) {
        out->ask = 1;
        word = 4;
    } else {
        return -1;
    }
    size_t i = word;
    long slot = 0;
    while (i < len && msg[i] >= '0' && msg[i] <= '9' && slot < SD_CLUSTER_SLOTS)
        slot = slot * 10 + (msg[i++] - '0');
    if (i == word || i >= len || msg[i] != ' ' || slot >= SD_CLUSTER_SLOTS) return -1;
    const char *addr = msg + i + 1;
    size_t alen = len - i - 1;
    const char *colon = NULL;
    for (size_t k = alen; k > 0; k--)
        if (addr[k - 1] == ':') {
            colon = addr + k - 1;
            break;
        }
    if (!colon) return -1;
    size_t hlen = (size_t)(colon - addr), plen = alen - hlen - 1;
    long port = 0;
    if (plen == 0 || plen > 5 || hlen >= sizeof out->host) return -1;
    for (size_t k = 0; k < plen; k++) {
        char c = colon[1 + k];
        if (c < '0' || c > '9') return -1;
        port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return -1;
    memcpy(out->host, addr, hlen);
    out->host[hlen] = '\0';
    out->slot = (int)slot;
    out->port = (uint16_t)port;
    return 0;
}

/* One entry of CLUSTER SLOTS: {first, last, {host, port, id, ...}, replicas...}.
 * Returns 0 and the master's address, or -1. */
static int parse_entry(const redisReply *e, const char *asked_host, int *first, int *last,
                       const char **host, uint16_t *port) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    long long a = e->element[0]->integer, b = e->element[1]->integer;
    if (a < 0 || b < a || b >= SD_CLUSTER_SLOTS) return -1;
    const redisReply *m = e->element[2];
    if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        m->element[0]->type != REDIS_REPLY_STRING ||
        m->element[1]->type != REDIS_REPLY_INTEGER || m->element[1]->integer < 1 ||
        m->element[1]->integer > 65535 || m->element[0]->len >= STORE_HOST_MAX)
        return -1;
    /* An empty (or "?") endpoint means "the node you asked". */
    const char *h = m->element[0]->str;
    *host = h[0] == '\0' || strcmp(h, "?") == 0 ? asked_host : h;
    *first = (int)a;
    *last = (int)b;
    *port = (uint16_t)m->element[1]->integer;
    return 0;
}

int sd_cluster_parse_slots(const redisReply *reply, const char *asked_host,
                           sd_cluster_range_fn *fn, void *ctx) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY) return -1;
    int covered = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < reply->elements; i++) {
            int first, last;
            const char *host;
            uint16_t port;
            if (parse_entry(reply->element[i], asked_host, &first, &last, &host, &port))
                return -1;
            if (pass == 0)
                covered += last - first + 1;
            else if (fn)
                fn(ctx, first, last, host, port);
        }
        if (covered > SD_CLUSTER_SLOTS) return -1;
    }
    return covered;
}

/* ------------------------------------------------------------------------
 * Nodes
 * ------------------------------------------------------------------------ */

static ptrdiff_t find_link(const sd_store *store, const char *host, uint16_t port) {
    for (size_t i = 0; i < store->nlinks; i++)
        if (store->links[i]->port == port && strcmp(store->links[i]->host, host) == 0)
            return (ptrdiff_t)i;
    return -1;
}

/* The link to host:port, made and connecting when new. -1 when out of
 * memory. */
static ptrdiff_t node(store_cluster *c, const char *host, uint16_t port) {
    ptrdiff_t i = find_link(c->store, host, port);
    if (i >= 0) return i;
    if (c->store->nlinks >= INT16_MAX || !link_new(c->store, host, port)) return -1;
    i = (ptrdiff_t)c->store->nlinks - 1;
    link_connect(c->store->links[i]);
    return i;
}

static int is_master(const store_cluster *c, const store_link *link) {
    for (size_t i = 0; i < c->nmasters; i++)
        if (c->store->links[c->masters[i]] == link) return 1;
    return 0;
}

/* Rebuilds the masters list (by first slot) and the coverage from owner[]. */
static void index_masters(store_cluster *c) {
    c->nmasters = 0;
    c->covered = 0;
    for (int s = 0; s < SD_CLUSTER_SLOTS; s++) {
        int16_t o = c->owner[s];
        if (o < 0) continue;
        c->covered++;
        size_t k = 0;
        while (k < c->nmasters && c->masters[k] != (size_t)o)
            k++;
        if (k == c->nmasters) c->masters[c->nmasters++] = (size_t)o;
    }
}

/* ------------------------------------------------------------------------
 * The slot map
 * ------------------------------------------------------------------------ */

typedef struct apply_ctx {
    store_cluster *c;
    int failed;
} apply_ctx;

static void apply_range(void *arg, int first, int last, const char *host, uint16_t port) {
    apply_ctx *a = arg;
    ptrdiff_t i = node(a->c, host, port);
    if (i < 0) {
        a->failed = 1;
        return;
    }
    for (int s = first; s <= last; s++)
        a->c->owner[s] = (int16_t)i;
}

static void refresh_later(store_cluster *c) {
    struct timeval tv = {0, REFRESH_RETRY_MS * 1000};
    evtimer_add(&c->refresh_timer, &tv);
}

static void on_slots_reply(redisAsyncContext *ac, void *r, void *privdata) {
    store_link *link = privdata;
    sd_store *store = link->store;
    redisReply *reply = r;
    if (store->freeing) return;
    store_cluster *c = store->cluster;
    c->refreshing = 0;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply)
            store_set_error(store, "%s:%u: CLUSTER SLOTS: %.120s", link->host,
                            (unsigned)link->port, reply->str);
        refresh_later(c);
        return;
    }
    int covered = sd_cluster_parse_slots(reply, link->host, NULL, NULL);
    if (covered < 0) {
        store_set_error(store, "%s:%u: malformed CLUSTER SLOTS reply", link->host,
                        (unsigned)link->port);
        refresh_later(c);
        return;
    }
    for (int s = 0; s < SD_CLUSTER_SLOTS; s++)
        c->owner[s] = -1;
    apply_ctx a = {c, 0};
    sd_cluster_parse_slots(reply, link->host, apply_range, &a);
    /* masters[] must hold every link that may own a slot. */
    size_t *grown = realloc(c->masters, store->caplinks * sizeof *grown);
    if (grown) c->masters = grown;
    if (!grown || a.failed) {
        for (int s = 0; s < SD_CLUSTER_SLOTS; s++)
            c->owner[s] = -1;
        c->nmasters = 0;
        refresh_later(c);
        return;
    }
    index_masters(c);
    if (c->covered < SD_CLUSTER_SLOTS) {
        store_set_error(store, "the cluster serves %d of %d slots", c->covered,
                        SD_CLUSTER_SLOTS);
        refresh_later(c);
    }
    store_update_state(store, "cluster slot map loaded");
    store_flush_waiting(store);
    if (c->refresh_again) {
        c->refresh_again = 0;
        store_cluster_refresh(c);
    }
}

/* A ready link to ask: a master of the current map first, else any. */
static store_link *pick_asker(const store_cluster *c) {
    store_link *any = NULL;
    for (size_t i = 0; i < c->store->nlinks; i++) {
        store_link *l = c->store->links[i];
        if (l->state != LINK_READY || !l->ac) continue;
        if (is_master(c, l)) return l;
        if (!any) any = l;
    }
    return any;
}

void store_cluster_refresh(store_cluster *c) {
    if (c->refreshing) {
        c->refresh_again = 1;
        return;
    }
    store_link *link = pick_asker(c);
    if (!link) {
        /* Asked again when some link is ready. */
        c->refresh_again = 1;
        return;
    }
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    size_t lens[2] = {7, 5};
    if (link_send(link, on_slots_reply, link, 2, argv, lens) == 0) {
        c->refreshing = 1;
        c->refresh_again = 0;
    } else {
        refresh_later(c);
    }
}

static void on_refresh_timer(evutil_socket_t fd, short what, void *arg) {
    store_cluster_refresh(arg);
}

/* ------------------------------------------------------------------------
 * Routing and redirects
 * ------------------------------------------------------------------------ */

store_link *store_cluster_route(const store_cluster *c, int slot) {
    if (slot < 0 || slot >= SD_CLUSTER_SLOTS || c->owner[slot] < 0) return NULL;
    return c->store->links[c->owner[slot]];
}

store_link *store_cluster_any(const store_cluster *c) {
    for (size_t i = 0; i < c->nmasters; i++) {
        store_link *l = c->store->links[c->masters[i]];
        if (l->state == LINK_READY) return l;
    }
    return NULL;
}

size_t store_cluster_nmasters(const store_cluster *c) { return c->nmasters; }

store_link *store_cluster_master(const store_cluster *c, size_t i) {
    return i < c->nmasters ? c->store->links[c->masters[i]] : NULL;
}

store_link *store_cluster_redirect(store_cluster *c, const sd_cluster_redirect *rd,
                                   const store_link *from) {
    ptrdiff_t i = node(c, rd->host[0] ? rd->host : from->host, rd->port);
    if (i < 0) return NULL;
    store_link *link = c->store->links[i];
    /* A link waiting out its back-off is tried now: a call waits on it. */
    if (link->state == LINK_DOWN) link_connect(link);
    if (!rd->ask) {
        /* The slot has moved for good: later calls go there directly. The
         * fresh map also learns of any other slot that moved with it. */
        c->owner[rd->slot] = (int16_t)i;
        store_cluster_refresh(c);
    }
    return link;
}

int store_cluster_ready(const store_cluster *c) {
    if (c->covered < SD_CLUSTER_SLOTS || c->nmasters == 0) return 0;
    for (size_t i = 0; i < c->nmasters; i++)
        if (c->store->links[c->masters[i]]->state != LINK_READY) return 0;
    return 1;
}

void store_cluster_link_up(store_cluster *c, store_link *link) {
    if (c->covered < SD_CLUSTER_SLOTS || c->refresh_again) store_cluster_refresh(c);
}

void store_cluster_link_down(store_cluster *c, store_link *link, const char *why) {
    sd_store *store = c->store;
    /* A seed that fails while another may still answer, or a node that
     * owns nothing, is no failure of the store. */
    int others = 0;
    for (size_t i = 0; i < store->nlinks; i++)
        if (store->links[i] != link && store->links[i]->state != LINK_DOWN) others = 1;
    if (is_master(c, link) || (c->covered == 0 && !others))
        store_set_error(store, "%s:%u: %s", link->host, (unsigned)link->port,
                        why ? why : "disconnected");
    link_schedule_reconnect(link);
    /* A master that went may have been replaced by a replica. */
    if (is_master(c, link)) store_cluster_refresh(c);
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

store_cluster *store_cluster_new(sd_store *store, const char *const *seeds, size_t n,
                                 char *err, size_t errlen) {
    store_cluster *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->store = store;
    for (int s = 0; s < SD_CLUSTER_SLOTS; s++)
        c->owner[s] = -1;
    evtimer_assign(&c->refresh_timer, store->base, on_refresh_timer, c);
    for (size_t i = 0; i < n; i++) {
        char *host = NULL;
        uint16_t port = 0;
        if (sd_hostport_parse(seeds[i], &host, &port, err, errlen) != 0) goto fail;
        int ok = find_link(store, host, port) >= 0 || link_new(store, host, port);
        free(host);
        if (!ok) goto fail;
    }
    if (!(c->masters = calloc(store->caplinks, sizeof *c->masters))) goto fail;
    return c;
fail:
    store_cluster_free(c);
    return NULL;
}

void store_cluster_start(store_cluster *c) {
    for (size_t i = 0; i < c->store->nlinks; i++)
        link_connect(c->store->links[i]);
}

void store_cluster_free(store_cluster *c) {
    if (!c) return;
    evtimer_del(&c->refresh_timer);
    free(c->masters);
    free(c);
}
