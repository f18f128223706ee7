/* Redis connection, script loading and per-call time-outs (see store.h). */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>

#include "sessiond/error.h"
#include "store/scripts_embedded.h"
#include "core/clock.h"

#define BACKOFF_START_MS 100

/* File names (without ".lua") of the scripts, in sd_script_id order. */
static const char *const script_names[SD_SCRIPT_COUNT] = {
    [SD_SCRIPT_OPEN_OR_RESUME] = "open_or_resume-9",
    [SD_SCRIPT_CLOSE] = "close-6",
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

typedef enum {
    STORE_DISCONNECTED,   /* waiting for the reconnect timer */
    STORE_HANDSHAKE,      /* connecting, AUTH/SELECT, loading scripts */
    STORE_READY,
} store_state;

struct sd_store {
    struct event_base *base;
    redisAsyncContext *ac;
    store_state state;
    char *host;
    char *password;
    uint16_t port;
    int db;
    struct timeval timeout;
    int64_t backoff_ms;
    int64_t backoff_max_ms;
    struct event reconnect_timer;
    struct event handshake_timer;
    const sd_embedded_script *scripts[SD_SCRIPT_COUNT];
    char sha[SD_SCRIPT_COUNT][41];
    unsigned scripts_pending;       /* SCRIPT LOADs not yet answered */
    uint64_t replies;               /* replies received; detects a stall */
    void (*on_state)(int ready, const char *why, void *data);
    void *data;
    sd_store_stats stats;
    char last_error[160];           /* why the latest connection failed */
};

/* One script call in flight. It lives until hiredis hands back its reply (or
 * NULL on disconnect), even when the caller was already answered by the
 * time-out. */
typedef struct store_call {
    sd_store *store;
    struct event timer;
    sd_store_cb *cb;
    void *data;
    char *cmd;              /* formatted EVALSHA, kept for a NOSCRIPT retry */
    size_t cmdlen;
    sd_script_id script;
    uint64_t replies_at_send;
    int64_t sent_at;        /* monotonic ns, for the latency histogram */
    unsigned answered : 1;
    unsigned retried : 1;
} store_call;

static void store_connect(sd_store *store);

static struct timeval ms_to_tv(int64_t ms) {
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void set_state(sd_store *store, store_state state, const char *why) {
    int was_ready = store->state == STORE_READY;
    store->state = state;
    int ready = state == STORE_READY;
    if (ready && !was_ready) store->stats.connects++;
    if (ready != was_ready && store->on_state)
        store->on_state(ready, why, store->data);
}

/* ------------------------------------------------------------------------
 * Connection life cycle
 * ------------------------------------------------------------------------ */

static void schedule_reconnect(sd_store *store, const char *why) {
    snprintf(store->last_error, sizeof store->last_error, "%s", why ? why : "");
    set_state(store, STORE_DISCONNECTED, why);
    evtimer_del(&store->handshake_timer);
    struct timeval tv = ms_to_tv(store->backoff_ms);
    evtimer_add(&store->reconnect_timer, &tv);
    store->backoff_ms *= 2;
    if (store->backoff_ms > store->backoff_max_ms)
        store->backoff_ms = store->backoff_max_ms;
}

/* Drops the connection from outside hiredis's own callbacks (a timer).
 * redisAsyncFree answers every pending call with a NULL reply. */
static void drop_connection(sd_store *store, const char *why) {
    redisAsyncContext *ac = store->ac;
    store->ac = NULL;
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    schedule_reconnect(store, why);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    sd_store *store = ac->data;
    if (!store || store->ac != ac) return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        store->ac = NULL;
        schedule_reconnect(store, ac->errstr[0] ? ac->errstr : "connect failed");
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    sd_store *store = ac->data;
    if (!store || store->ac != ac) return;
    store->ac = NULL;
    schedule_reconnect(store, status == REDIS_OK ? "disconnected"
                                                 : ac->errstr);
}

static void on_reconnect_timer(evutil_socket_t fd, short what, void *arg) {
    store_connect(arg);
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg) {
    sd_store *store = arg;
    if (store->state == STORE_HANDSHAKE)
        drop_connection(store, "handshake timed out");
}

/* Replies to AUTH, SELECT and SCRIPT LOAD. privdata is the script's index
 * plus one for SCRIPT LOAD, NULL for the others. */
static void on_handshake_reply(redisAsyncContext *ac, void *r, void *privdata) {
    sd_store *store = ac->data;
    redisReply *reply = r;
    if (!store || !reply || store->state != STORE_HANDSHAKE) return;
    store->replies++;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* A refused AUTH or a script Redis won't compile: retrying at once
         * would only repeat it, so back off. */
        char why[160];
        snprintf(why, sizeof why, "handshake refused: %.120s", reply->str);
        store->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* deferred by hiredis: we are in its callback */
        schedule_reconnect(store, why);
        return;
    }
    uintptr_t idx = (uintptr_t)privdata;
    if (idx == 0) return;
    if (reply->type != REDIS_REPLY_STRING || reply->len != 40) return;
    memcpy(store->sha[idx - 1], reply->str, 40);
    store->sha[idx - 1][40] = '\0';
    if (--store->scripts_pending == 0) {
        evtimer_del(&store->handshake_timer);
        store->backoff_ms = BACKOFF_START_MS;
        set_state(store, STORE_READY, "connected, scripts loaded");
    }
}

static int send_script_load(redisAsyncContext *ac, const sd_embedded_script *s,
                            redisCallbackFn *fn, void *privdata) {
    const char *argv[3] = {"SCRIPT", "LOAD", s->text};
    size_t lens[3] = {6, 4, s->len};
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, 3, argv, lens);
    if (len < 0) return SD_ENOMEM;
    int rc = redisAsyncFormattedCommand(ac, fn, privdata, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc == REDIS_OK ? 0 : SD_ESTORE_UNAVAILABLE;
}

/* Starts a connection and queues the whole handshake at once; Redis answers
 * in order once connected. */
static void store_connect(sd_store *store) {
    redisAsyncContext *ac = redisAsyncConnect(store->host, store->port);
    if (!ac || ac->err) {
        schedule_reconnect(store, ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        return;
    }
    ac->data = store;
    store->ac = ac;
    set_state(store, STORE_HANDSHAKE, "connecting");
    redisLibeventAttach(ac, store->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    evtimer_add(&store->handshake_timer, &store->timeout);

    if (store->password)
        redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s",
                          store->password);
    if (store->db)
        redisAsyncCommand(ac, on_handshake_reply, NULL, "SELECT %d", store->db);
    store->scripts_pending = SD_SCRIPT_COUNT;
    for (uintptr_t i = 0; i < SD_SCRIPT_COUNT; i++)
        send_script_load(ac, store->scripts[i], on_handshake_reply,
                         (void *)(i + 1));
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

sd_store *sd_store_new(struct event_base *base, const sd_store_options *opt) {
    sd_store *store = calloc(1, sizeof *store);
    if (!store) return NULL;
    store->base = base;
    store->host = strdup(opt->host);
    store->password = opt->password ? strdup(opt->password) : NULL;
    if (!store->host || (opt->password && !store->password)) goto fail;
    store->port = opt->port;
    store->db = opt->db;
    store->timeout = ms_to_tv(opt->timeout_ms);
    store->backoff_ms = BACKOFF_START_MS;
    store->backoff_max_ms = opt->reconnect_max_ms > BACKOFF_START_MS
                                ? opt->reconnect_max_ms : BACKOFF_START_MS;
    store->on_state = opt->on_state;
    store->data = opt->data;
    for (int i = 0; i < SD_SCRIPT_COUNT; i++) {
        store->scripts[i] = find_script(script_names[i]);
        if (!store->scripts[i]) goto fail; /* a build without lua/: a bug */
    }
    evtimer_assign(&store->reconnect_timer, base, on_reconnect_timer, store);
    evtimer_assign(&store->handshake_timer, base, on_handshake_timeout, store);
    store_connect(store);
    return store;
fail:
    free(store->host);
    free(store->password);
    free(store);
    return NULL;
}

void sd_store_free(sd_store *store) {
    if (!store) return;
    evtimer_del(&store->reconnect_timer);
    evtimer_del(&store->handshake_timer);
    store->on_state = NULL;
    if (store->ac) {
        redisAsyncContext *ac = store->ac;
        store->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    free(store->host);
    free(store->password);
    free(store);
}

int sd_store_ready(const sd_store *store) {
    return store->state == STORE_READY;
}

/* ------------------------------------------------------------------------
 * Script calls
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

static int is_noscript(const redisReply *reply) {
    return reply->type == REDIS_REPLY_ERROR && reply->len >= 8 &&
           strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

static void on_call_reply(redisAsyncContext *ac, void *r, void *privdata);

/* A NOSCRIPT reply means Redis lost its script cache (restart, SCRIPT
 * FLUSH): queue SCRIPT LOAD, then the same EVALSHA behind it. */
static int retry_after_load(redisAsyncContext *ac, store_call *call) {
    call->retried = 1;
    if (send_script_load(ac, call->store->scripts[call->script],
                         on_handshake_reply, NULL) != 0)
        return -1;
    return redisAsyncFormattedCommand(ac, on_call_reply, call, call->cmd,
                                      call->cmdlen) == REDIS_OK ? 0 : -1;
}

static void on_call_reply(redisAsyncContext *ac, void *r, void *privdata) {
    store_call *call = privdata;
    redisReply *reply = r;
    if (!reply) {
        call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
        call_free(call);
        return;
    }
    call->store->replies++;
    if (is_noscript(reply) && !call->retried && !call->answered &&
        retry_after_load(ac, call) == 0)
        return;
    call_answer(call, 0, reply);
    call_free(call);
}

static void on_call_timeout(evutil_socket_t fd, short what, void *arg) {
    store_call *call = arg;
    sd_store *store = call->store;
    int stalled = store->replies == call->replies_at_send;
    call_answer(call, SD_ESTORE_TIMEOUT, NULL);
    /* Nothing at all came back while this call waited: the connection (or
     * Redis) is stuck. Dropping it answers the other waiting calls now and
     * makes new calls fail fast until a fresh connection is ready. */
    if (stalled && store->state == STORE_READY)
        drop_connection(store, "Redis stopped answering");
}

/* Sends a formatted command as a call; script is the script to reload on
 * NOSCRIPT, or -1 for a plain command (never retried). */
static int send_call(sd_store *store, int script, int argc, const char **argv,
                     const size_t *argvlen, sd_store_cb *cb, void *data) {
    store_call *call = calloc(1, sizeof *call);
    if (!call) return SD_ENOMEM;
    int len = redisFormatCommandArgv(&call->cmd, argc, argv, argvlen);
    if (len < 0) {
        free(call);
        return SD_ENOMEM;
    }
    call->cmdlen = (size_t)len;
    call->store = store;
    call->cb = cb;
    call->data = data;
    call->script = script < 0 ? SD_SCRIPT_OPEN_OR_RESUME : (sd_script_id)script;
    call->retried = script < 0;
    call->replies_at_send = store->replies;
    call->sent_at = sd_monotonic_ns();
    evtimer_assign(&call->timer, store->base, on_call_timeout, call);
    if (redisAsyncFormattedCommand(store->ac, on_call_reply, call, call->cmd,
                                   call->cmdlen) != REDIS_OK) {
        call_free(call);
        return SD_ESTORE_UNAVAILABLE;
    }
    evtimer_add(&call->timer, &store->timeout);
    store->stats.calls++;
    return 0;
}

int sd_store_call(sd_store *store, sd_script_id script, int nkeys, int nargs,
                  const char **args, const size_t *lens, sd_store_cb *cb,
                  void *data) {
    enum { MAX_ARGS = 32 };
    if (store->state != STORE_READY || !store->ac) return SD_ESTORE_UNAVAILABLE;
    if (nargs + 3 > MAX_ARGS || nkeys > nargs) return SD_EINVAL;

    char numkeys[12];
    int numkeys_len = snprintf(numkeys, sizeof numkeys, "%d", nkeys);
    const char *argv[MAX_ARGS] = {"EVALSHA", store->sha[script], numkeys};
    size_t argvlen[MAX_ARGS] = {7, 40, (size_t)numkeys_len};
    memcpy(argv + 3, args, sizeof *args * (size_t)nargs);
    memcpy(argvlen + 3, lens, sizeof *lens * (size_t)nargs);
    return send_call(store, (int)script, nargs + 3, argv, argvlen, cb, data);
}

int sd_store_command(sd_store *store, int argc, const char **argv,
                     const size_t *lens, sd_store_cb *cb, void *data) {
    if (store->state != STORE_READY || !store->ac) return SD_ESTORE_UNAVAILABLE;
    if (argc < 1) return SD_EINVAL;
    return send_call(store, -1, argc, argv, lens, cb, data);
}

const char *sd_store_last_error(const sd_store *store) {
    return store->last_error[0] ? store->last_error : NULL;
}

const sd_store_stats *sd_store_get_stats(const sd_store *store) {
    return &store->stats;
}
