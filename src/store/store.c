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
    struct store_call *deferred;    /* calls waiting for the next READY */
    struct store_call **deferred_tail;
    unsigned ndeferred;
    int freeing;                    /* in sd_store_free: no late callbacks */
};

/* One script call in flight. It lives until hiredis hands back its reply (or
 * NULL on disconnect), even when the caller was already answered by the
 * time-out. */
typedef struct store_call {
    sd_store *store;
    struct event timer;
    sd_store_cb *cb;
    void *data;
    sd_store_late_cb *late_cb;  /* for a reply after the time-out; may be NULL */
    void *late_data;
    char tag[40];               /* the caller's note, handed to late_cb */
    struct store_call *next;    /* in the deferred list */
    char *cmd;              /* formatted EVALSHA, kept for a NOSCRIPT retry */
    size_t cmdlen;
    sd_script_id script;
    uint64_t replies_at_send;
    int64_t sent_at;        /* monotonic ns, for the latency histogram */
    unsigned answered : 1;
    unsigned retried : 1;
} store_call;

static void store_connect(sd_store *store);
static void flush_deferred(sd_store *store);
static void call_answer(store_call *call, int err, const redisReply *reply);
static void call_free(store_call *call);

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
        flush_deferred(store);
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
    store->deferred_tail = &store->deferred;
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
    store->freeing = 1;
    evtimer_del(&store->reconnect_timer);
    evtimer_del(&store->handshake_timer);
    store->on_state = NULL;
    while (store->deferred) {
        store_call *call = store->deferred;
        store->deferred = call->next;
        call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
        call_free(call);
    }
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
        /* The connection went with the reply: whether the call ran is
         * unknown, and its caller hears (or heard) it failed. */
        if (call->late_cb && !call->store->freeing)
            call->late_cb(call->store, NULL, call->tag, call->late_data);
        call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
        call_free(call);
        return;
    }
    call->store->replies++;
    if (is_noscript(reply) && !call->retried && !call->answered &&
        retry_after_load(ac, call) == 0)
        return;
    if (call->answered && call->late_cb)
        call->late_cb(call->store, reply, call->tag, call->late_data);
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
/* Sends a formatted call, starting its time-out. */
static int transmit(sd_store *store, store_call *call) {
    call->replies_at_send = store->replies;
    call->sent_at = sd_monotonic_ns();
    if (redisAsyncFormattedCommand(store->ac, on_call_reply, call, call->cmd,
                                   call->cmdlen) != REDIS_OK)
        return SD_ESTORE_UNAVAILABLE;
    evtimer_add(&call->timer, &store->timeout);
    store->stats.calls++;
    return 0;
}

/* Sends the calls deferred while Redis was away, now that it is back. */
static void flush_deferred(sd_store *store) {
    while (store->deferred && store->state == STORE_READY) {
        store_call *call = store->deferred;
        store->deferred = call->next;
        if (!store->deferred) store->deferred_tail = &store->deferred;
        store->ndeferred--;
        call->next = NULL;
        /* Its EVALSHA names the script by hash, the same after a reload. */
        if (transmit(store, call) != 0) {
            call_answer(call, SD_ESTORE_UNAVAILABLE, NULL);
            call_free(call);
        }
    }
}

static int send_call(sd_store *store, int script, int argc, const char **argv,
                     const size_t *argvlen, sd_store_cb *cb, void *data,
                     sd_store_late_cb *late_cb, void *late_data, const char *tag,
                     int defer) {
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
    call->late_cb = late_cb;
    call->late_data = late_data;
    if (tag) snprintf(call->tag, sizeof call->tag, "%s", tag);
    call->script = script < 0 ? SD_SCRIPT_OPEN_OR_RESUME : (sd_script_id)script;
    call->retried = script < 0;
    evtimer_assign(&call->timer, store->base, on_call_timeout, call);
    /* A connection being torn down (we may be inside its last callbacks)
     * refuses the command: a deferred call then waits for the next one. */
    int rc = store->state == STORE_READY && store->ac ? transmit(store, call)
                                                      : SD_ESTORE_UNAVAILABLE;
    if (rc && defer) {
        *store->deferred_tail = call;
        store->deferred_tail = &call->next;
        store->ndeferred++;
        return 0;
    }
    if (rc) call_free(call);
    return rc;
}

int sd_store_call(sd_store *store, sd_script_id script, int nkeys, int nargs,
                  const char **args, const size_t *lens, sd_store_cb *cb,
                  void *data) {
    return sd_store_call_late(store, script, nkeys, nargs, args, lens, cb, data, NULL,
                              NULL, NULL);
}

/* Formats EVALSHA of script into argv/argvlen (MAX_ARGS entries). */
enum { MAX_ARGS = 32 };
static int evalsha_argv(sd_store *store, sd_script_id script, int nkeys, int nargs,
                        const char **args, const size_t *lens, char numkeys[12],
                        const char **argv, size_t *argvlen) {
    if (nargs + 3 > MAX_ARGS || nkeys > nargs) return SD_EINVAL;
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

int sd_store_call_deferred(sd_store *store, sd_script_id script, int nkeys, int nargs,
                           const char **args, const size_t *lens, sd_store_cb *cb,
                           void *data) {
    /* Only a store that was ready once knows the script's hash. */
    if (store->sha[script][0] == '\0') return SD_ESTORE_UNAVAILABLE;
    if (store->ndeferred >= SD_STORE_MAX_DEFERRED &&
        (store->state != STORE_READY || !store->ac))
        return SD_ESTORE_UNAVAILABLE;
    char numkeys[12];
    const char *argv[MAX_ARGS];
    size_t argvlen[MAX_ARGS];
    int rc = evalsha_argv(store, script, nkeys, nargs, args, lens, numkeys, argv, argvlen);
    if (rc) return rc;
    return send_call(store, (int)script, nargs + 3, argv, argvlen, cb, data, NULL, NULL,
                     NULL, 1);
}

int sd_store_call_late(sd_store *store, sd_script_id script, int nkeys, int nargs,
                       const char **args, const size_t *lens, sd_store_cb *cb,
                       void *data, sd_store_late_cb *late_cb, void *late_data,
                       const char *tag) {
    if (store->state != STORE_READY || !store->ac) return SD_ESTORE_UNAVAILABLE;
    char numkeys[12];
    const char *argv[MAX_ARGS];
    size_t argvlen[MAX_ARGS];
    int rc = evalsha_argv(store, script, nkeys, nargs, args, lens, numkeys, argv, argvlen);
    if (rc) return rc;
    return send_call(store, (int)script, nargs + 3, argv, argvlen, cb, data, late_cb,
                     late_data, tag, 0);
}

int sd_store_command(sd_store *store, int argc, const char **argv,
                     const size_t *lens, sd_store_cb *cb, void *data) {
    if (store->state != STORE_READY || !store->ac) return SD_ESTORE_UNAVAILABLE;
    if (argc < 1) return SD_EINVAL;
    return send_call(store, -1, argc, argv, lens, cb, data, NULL, NULL, NULL, 0);
}

const char *sd_store_last_error(const sd_store *store) {
    return store->last_error[0] ? store->last_error : NULL;
}

const sd_store_stats *sd_store_get_stats(const sd_store *store) {
    return &store->stats;
}
