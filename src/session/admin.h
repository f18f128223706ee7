/* Operator calls of an instance (SPEC §5 admin routes, sessionctl): usage,
 * listing and showing sessions, closing one, changing the pool settings,
 * revoking a token, and the consistency check. Each is one Lua script call
 * with the same contract as the calls in session.h: 0 means cb will run
 * once, a negative sd_err means it will not.
 *
 * The *_json functions turn a script's reply into the JSON that both the
 * HTTP admin routes and `sessionctl --json` print, so the two never drift.
 * They return a new reference (caller decrefs) or NULL for a reply of the
 * wrong shape. */
#ifndef SD_SESSION_ADMIN_H
#define SD_SESSION_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "session/session.h"
#include "store/store.h"

/* Largest page of sessions one list call returns. */
#define SD_ADMIN_PAGE_MAX 1000

/* usage-4: used, limit, reserved subjects, seats in use. */
int sd_admin_usage(sd_store *store, const sd_instance *inst, sd_store_cb *cb,
                   void *data);

/* {"instance", "used", "limit", "available", "reserved": [...],
 *  "seats_in_use", "earliest_expiry", "now"}; limit is null while Redis
 * has none and the caller had no configured default. "invalid_limit" (the
 * stored text) is added when Redis holds a limit that is no integer >= 0:
 * the scripts then use the configured default. */
json_t *sd_admin_usage_json(const sd_instance *inst, const redisReply *reply);

/* list-2: one page of open sessions, newest first. cursor is "" for the
 * first page; count is clamped to 1..SD_ADMIN_PAGE_MAX. */
int sd_admin_list(sd_store *store, const sd_instance *inst, const char *cursor,
                  int64_t count, sd_store_cb *cb, void *data);

/* {"instance", "open", "sessions": [session...], "next_cursor": s|null}.
 * A bad cursor (a Redis error reply) sets *bad_cursor and returns NULL. */
json_t *sd_admin_list_json(const sd_instance *inst, const redisReply *reply,
                           int *bad_cursor);

/* show-1: one session by id. */
int sd_admin_show(sd_store *store, const sd_instance *inst, const char *id,
                  sd_store_cb *cb, void *data);

/* The session object ({"id", "subject", "client_id", "kind", "seat",
 * "binding", "opened_at", "last_seen", "expires_at", "absolute_deadline",
 * "requests", "ttl_ms"}). When the session is not open sets *not_found and
 * returns NULL. */
json_t *sd_admin_show_json(const redisReply *reply, int *not_found);

/* settings-3. limit is the new limit (digits) or NULL to keep it; mode is
 * "keep", "replace", "add" or "remove" for the n subjects; actor is recorded
 * in the "settings" event. */
int sd_admin_settings(sd_store *store, const sd_instance *inst, const char *limit,
                      const char *mode, const char *const *subjects, size_t n,
                      const char *actor, sd_store_cb *cb, void *data);

/* revoke-2: revokes jti until exp_ms (the token's exp, ms since the epoch). */
int sd_admin_revoke(sd_store *store, const sd_instance *inst, const char *jti,
                    int64_t exp_ms, const char *actor, sd_store_cb *cb, void *data);

/* check_slots-5: one batch of slot entries from rank `first`. grace_ms is
 * how long an expired entry may wait for the sweep. */
int sd_admin_check_slots(sd_store *store, const sd_instance *inst, int64_t first,
                         int64_t batch, int64_t grace_ms, sd_store_cb *cb,
                         void *data);

/* check_keys-1: one SCAN step of the instance's keys from cursor. */
int sd_admin_check_keys(sd_store *store, const sd_instance *inst,
                        const char *cursor, int64_t count, sd_store_cb *cb,
                        void *data);

/* A session hash as HGETALL returns it (plus "expires_at", "ttl_ms") as the
 * session object above. NULL on a malformed list. */
json_t *sd_admin_session_json(const redisReply *fields);

#endif
