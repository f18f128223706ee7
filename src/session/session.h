/* Sessions of one instance: key names, the token-to-session binding rule,
 * and the typed calls of the Lua scripts (SPEC §3 binding/kind, §4 keys).
 *
 * Key layout (all under the instance's hash tag, one cluster slot):
 *   sd:{<instance>}:pool              hash   limit              no TTL
 *   sd:{<instance>}:reserved          set    reserved subjects  no TTL
 *   sd:{<instance>}:slots             zset   session id -> expiry ms
 *   sd:{<instance>}:seats             zset   reserved subject -> expiry ms
 *   sd:{<instance>}:meta              hash   session id -> JSON record
 *   sd:{<instance>}:events            stream lifecycle events   capped
 *   sd:{<instance>}:opened            zset   session id -> opened at ms
 *   sd:{<instance>}:session:<id>      hash   the session
 *   sd:{<instance>}:binding:<hash>    string binding -> session id
 *   sd:{<instance>}:subject:<sha1>    zset   a subject's sessions (cap)
 *   sd:{<instance>}:revoked:<jti>     string a revoked token, until its exp */
#ifndef SD_SESSION_SESSION_H
#define SD_SESSION_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "sessiond/config.h"
#include "sessiond/token.h"
#include "store/store.h"

/* The instance's own Redis keys (besides per-session and per-binding ones). */
typedef enum sd_instance_key {
    SD_KEY_POOL = 0,   /* hash: pool settings ("limit"); no TTL */
    SD_KEY_RESERVED,   /* set: reserved subjects; no TTL */
    SD_KEY_SLOTS,      /* zset: session id -> effective expiry (ms) */
    SD_KEY_SEATS,      /* zset: reserved subject -> expiry of its seat session */
    SD_KEY_META,       /* hash: session id -> JSON record for the reaper */
    SD_KEY_EVENTS,     /* stream: lifecycle events, capped */
    SD_KEY_OPENED,     /* zset: session id -> opened at (ms), for listing */
    SD_KEY_COUNT
} sd_instance_key;

/* The runtime of one configured instance: its parsed keys, verification
 * policy and precomputed key names and script arguments. Built once at
 * start. */
typedef struct sd_instance {
    const sd_instance_config *cfg;  /* borrowed from the sd_config; NULL for
                                       a names-only instance (sessionctl) */
    sd_keyset *keys;                /* owned; NULL for a names-only instance */
    char name[72];
    sd_verify_policy policy;
    char prefix[80];                /* "sd:{name}:" */
    size_t prefix_len;
    char key[SD_KEY_COUNT][96];     /* "sd:{name}:pool", ... */
    size_t key_len[SD_KEY_COUNT];
    /* Numbers as the scripts take them, formatted once. */
    char limit_arg[24], sliding_arg[24], absolute_arg[24], interactive_abs_arg[24];
    char subject_cap_arg[24], events_max_arg[24];
    const char *replica;            /* borrowed: the config's replica_id */
} sd_instance;

/* Loads the instance's keys (JWKS file, PEM files, HMAC secret; an instance
 * with a jwks_uri starts with an empty set that the worker fills) and builds
 * its key names. On failure writes a message naming the file into err and
 * returns SD_EIO, SD_EINVAL or SD_ENOMEM; nothing is left allocated. */
int sd_instance_init(sd_instance *inst, const sd_instance_config *cfg,
                     const sd_config *global, char *err, size_t errlen);

/* Fills only the key names and script arguments of instance `name`, with no
 * configuration and no keys: what sessionctl needs to run the scripts of an
 * instance it knows by name. Returns 0, or SD_EINVAL for a name that is not
 * [A-Za-z0-9_-]{1,64}. Nothing is allocated. */
int sd_instance_init_names(sd_instance *inst, const char *name,
                           int64_t events_max, const char *replica);

/* Loads the instance's key sources again into a new key set (*out, owned
 * by the caller) without touching the one in use. Returns 0, or SD_EIO /
 * SD_EINVAL / SD_ENOMEM with the failing file named in err. */
int sd_instance_load_keys(const sd_instance *inst, sd_keyset **out, char *err,
                          size_t errlen);

/* Replaces the instance's key set with keys (taking ownership) and frees the
 * old one. Verified claims do not point into key sets, so requests in
 * flight are unaffected. */
void sd_instance_swap_keys(sd_instance *inst, sd_keyset *keys);

/* Frees what sd_instance_init allocated. */
void sd_instance_cleanup(sd_instance *inst);

/* Session kind (SPEC §3): service when the token has no sub, or its sub
 * equals its client_id (RFC 9068 client credentials), or the instance's
 * service claim rule matched; else interactive. */
typedef enum sd_session_kind {
    SD_KIND_INTERACTIVE = 0,
    SD_KIND_SERVICE,
} sd_session_kind;

sd_session_kind sd_session_kind_of(const sd_claims *claims);
const char *sd_session_kind_name(sd_session_kind kind);

/* A token's binding: the identity its session is keyed by, within one
 * instance and one client_id. */
typedef struct sd_binding {
    char key[160];           /* full Redis key "sd:{i}:binding:<hash>" */
    size_t key_len;
    char desc[80];           /* for operators: "sid:<sid>", "sub", "jti:<jti>" (cut) */
    size_t desc_len;
} sd_binding;

/* Computes the binding of verified claims under the instance's rule list
 * (the token rule is always the final fallback, so this cannot fail). */
void sd_binding_of(const sd_instance *inst, const sd_claims *claims,
                   sd_session_kind kind, sd_binding *out);

/* A parsed script reply. */
typedef struct sd_session_result {
    int code;                 /* sd_script_result */
    char id[64];              /* session id (opened, resumed, closed) */
    int64_t opened_at_ms;
    int64_t expires_at_ms;
    int64_t requests;
    int64_t used;             /* -1 when not asked for */
    int64_t limit;            /* -1 when not asked for */
    int64_t retry_after_ms;   /* denied: ms until a slot frees; -1 never */
    int denied;               /* denied: SD_ELICENSE_LIMIT or SD_ESUBJECT_LIMIT */
    int64_t subject_sessions; /* SD_ESUBJECT_LIMIT: the subject's open sessions */
    int64_t subject_limit;    /* SD_ESUBJECT_LIMIT: its cap */
    int64_t closed_idle;      /* expired sessions this call closed, by how */
    int64_t closed_absolute;  /* they ended (reaped on the way; metrics) */
} sd_session_result;

/* Opens or resumes the session of claims at inst. want_usage asks the script
 * to report used/limit too. The store callback receives the raw reply; parse
 * it with sd_session_parse. Returns 0 (cb will run) or a negative sd_err
 * (cb will not run). */
int sd_session_open_or_resume(sd_store *store, const sd_instance *inst,
                              const sd_claims *claims, int want_usage,
                              sd_store_cb *cb, void *data);

/* Closes the session of claims at inst (logout). Same contract; a revoked
 * token closes nothing and gets code SD_SCRIPT_REVOKED. */
int sd_session_close(sd_store *store, const sd_instance *inst,
                     const sd_claims *claims, sd_store_cb *cb, void *data);

/* Closes session id at inst for an operator; reason goes into the "closed"
 * event ("admin"). Replies as sd_session_close. */
int sd_session_close_id(sd_store *store, const sd_instance *inst, const char *id,
                        const char *reason, sd_store_cb *cb, void *data);

/* Closes session id at inst only if it has served no request but the one
 * that opened it, with reason "abandoned": the undo of an open whose reply
 * arrived after the client was told 503 (a client that retried has resumed
 * it, and keeps it). Replies as sd_session_close. */
int sd_session_abandon(sd_store *store, const sd_instance *inst, const char *id,
                       sd_store_cb *cb, void *data);

/* The revocation key of a jti: prefix "revoked:" jti. Short keys live in
 * buf; longer ones (a jti can be as long as a token) are allocated, and
 * *owned is set for the caller to free. NULL when out of memory. */
char *sd_session_revoked_key(const sd_instance *inst, const char *jti, char *buf,
                             size_t cap, size_t *len, char **owned);

/* Writes the instance's pool settings (limit, reserved subjects) from its
 * configuration unless Redis already has them. Same contract. */
int sd_session_seed(sd_store *store, const sd_instance *inst, sd_store_cb *cb,
                    void *data);

/* Sweeps up to batch expired slots of inst. Same contract. */
int sd_session_sweep(sd_store *store, const sd_instance *inst, int64_t batch,
                     sd_store_cb *cb, void *data);

/* Parses an open_or_resume or close reply. Returns 0, or SD_ESTORE_REPLY for
 * anything that is not one of the documented shapes (a Redis error reply
 * included). A revoked token is code SD_SCRIPT_REVOKED. */
int sd_session_parse(const redisReply *reply, sd_session_result *out);

#endif
