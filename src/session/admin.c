/* Operator calls and their replies as JSON (see admin.h). */
#include "session/admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "sessiond/error.h"
#include "session/script_args.h"

/* ------------------------------------------------------------------------
 * Calls
 * ------------------------------------------------------------------------ */

int sd_admin_usage(sd_store *store, const sd_instance *inst, sd_store_cb *cb,
                   void *data) {
    script_args a = {.n = 0};
    add_key(&a, inst, SD_KEY_POOL);
    add_key(&a, inst, SD_KEY_RESERVED);
    add_key(&a, inst, SD_KEY_SLOTS);
    add_key(&a, inst, SD_KEY_SEATS);
    add_str(&a, inst->limit_arg);
    return sd_store_call(store, SD_SCRIPT_USAGE_REPORT, 4, a.n, a.v, a.len, cb, data);
}

int sd_admin_list(sd_store *store, const sd_instance *inst, const char *cursor,
                  int64_t count, sd_store_cb *cb, void *data) {
    if (count < 1) count = 1;
    if (count > SD_ADMIN_PAGE_MAX) count = SD_ADMIN_PAGE_MAX;
    char count_arg[24];
    snprintf(count_arg, sizeof count_arg, "%" PRId64, count);
    script_args a = {.n = 0};
    add_key(&a, inst, SD_KEY_OPENED);
    add_key(&a, inst, SD_KEY_SLOTS);
    add(&a, inst->prefix, inst->prefix_len);
    add_str(&a, cursor ? cursor : "");
    add_str(&a, count_arg);
    return sd_store_call(store, SD_SCRIPT_LIST, 2, a.n, a.v, a.len, cb, data);
}

int sd_admin_show(sd_store *store, const sd_instance *inst, const char *id,
                  sd_store_cb *cb, void *data) {
    script_args a = {.n = 0};
    add_key(&a, inst, SD_KEY_SLOTS);
    add(&a, inst->prefix, inst->prefix_len);
    add_str(&a, id);
    return sd_store_call(store, SD_SCRIPT_SHOW, 1, a.n, a.v, a.len, cb, data);
}

int sd_admin_settings(sd_store *store, const sd_instance *inst, const char *limit,
                      const char *mode, const char *const *subjects, size_t n,
                      const char *actor, sd_store_cb *cb, void *data) {
    /* The subjects travel as one JSON array: any number of them fits in one
     * argument. */
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        if (json_array_append_new(list, json_string(subjects[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    if (!text) return SD_ENOMEM;
    script_args a = {.n = 0};
    add_key(&a, inst, SD_KEY_POOL);
    add_key(&a, inst, SD_KEY_RESERVED);
    add_key(&a, inst, SD_KEY_EVENTS);
    add_str(&a, inst->events_max_arg);
    add_str(&a, actor);
    add_str(&a, limit ? limit : "");
    add_str(&a, mode);
    add_str(&a, text);
    int rc = sd_store_call(store, SD_SCRIPT_SETTINGS_CHANGE, 3, a.n, a.v, a.len, cb, data);
    free(text);
    return rc;
}

int sd_admin_revoke(sd_store *store, const sd_instance *inst, const char *jti,
                    int64_t exp_ms, const char *actor, sd_store_cb *cb, void *data) {
    if (!*jti) return SD_EINVAL;
    char buf[256], *owned;
    size_t key_len;
    const char *key =
        sd_session_revoked_key(inst, jti, buf, sizeof buf, &key_len, &owned);
    if (!key) return SD_ENOMEM;
    char exp_arg[24];
    snprintf(exp_arg, sizeof exp_arg, "%" PRId64, exp_ms);
    script_args a = {.n = 0};
    add(&a, key, key_len);
    add_key(&a, inst, SD_KEY_EVENTS);
    add_str(&a, exp_arg);
    add_str(&a, jti);
    add_str(&a, inst->events_max_arg);
    add_str(&a, actor);
    int rc = sd_store_call(store, SD_SCRIPT_REVOKE, 2, a.n, a.v, a.len, cb, data);
    free(owned);
    return rc;
}

int sd_admin_check_slots(sd_store *store, const sd_instance *inst, int64_t first,
                         int64_t batch, int64_t grace_ms, sd_store_cb *cb,
                         void *data) {
    char first_arg[24], batch_arg[24], grace_arg[24];
    snprintf(first_arg, sizeof first_arg, "%" PRId64, first);
    snprintf(batch_arg, sizeof batch_arg, "%" PRId64, batch);
    snprintf(grace_arg, sizeof grace_arg, "%" PRId64, grace_ms);
    script_args a = {.n = 0};
    add_key(&a, inst, SD_KEY_SLOTS);
    add_key(&a, inst, SD_KEY_OPENED);
    add_key(&a, inst, SD_KEY_META);
    add_key(&a, inst, SD_KEY_POOL);
    add_key(&a, inst, SD_KEY_RESERVED);
    add(&a, inst->prefix, inst->prefix_len);
    add_str(&a, first_arg);
    add_str(&a, batch_arg);
    add_str(&a, grace_arg);
    return sd_store_call(store, SD_SCRIPT_CHECK_SLOTS, 5, a.n, a.v, a.len, cb, data);
}

int sd_admin_check_keys(sd_store *store, const sd_instance *inst,
                        const char *cursor, int64_t count, sd_store_cb *cb,
                        void *data) {
    char count_arg[24];
    snprintf(count_arg, sizeof count_arg, "%" PRId64, count);
    script_args a = {.n = 0};
    add_key(&a, inst, SD_KEY_SLOTS);
    add(&a, inst->prefix, inst->prefix_len);
    add_str(&a, cursor);
    add_str(&a, count_arg);
    return sd_store_call(store, SD_SCRIPT_CHECK_KEYS, 1, a.n, a.v, a.len, cb, data);
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

static int is_code(const redisReply *r, int code, size_t min_elements) {
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= min_elements &&
           r->element[0]->type == REDIS_REPLY_INTEGER &&
           r->element[0]->integer == code;
}

static int64_t int_of(const redisReply *r, size_t i) {
    const redisReply *e = r->element[i];
    return e->type == REDIS_REPLY_INTEGER ? e->integer : -1;
}

static json_t *time_or_null(int64_t ms) {
    if (ms <= 0) return json_null();
    char text[32];
    sd_format_time_ms(ms, text);
    return json_string(text);
}

json_t *sd_admin_usage_json(const sd_instance *inst, const redisReply *reply) {
    if (!is_code(reply, SD_SCRIPT_USAGE, 8) ||
        reply->element[7]->type != REDIS_REPLY_ARRAY)
        return NULL;
    int64_t used = int_of(reply, 1), limit = int_of(reply, 2);
    json_t *reserved = json_array();
    const redisReply *subjects = reply->element[7];
    for (size_t i = 0; reserved && i < subjects->elements; i++)
        if (subjects->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(reserved, json_stringn(subjects->element[i]->str,
                                                         subjects->element[i]->len));
    int64_t available = limit < 0 ? 0 : limit - used;
    json_t *doc = json_pack(
        "{s:s, s:I, s:o, s:I, s:o, s:I, s:o, s:o}", "instance", inst->name, "used",
        (json_int_t)used, "limit", limit < 0 ? json_null() : json_integer(limit),
        "available", (json_int_t)(available < 0 ? 0 : available), "reserved",
        reserved ? reserved : json_array(), "seats_in_use", (json_int_t)int_of(reply, 6),
        "earliest_expiry", time_or_null(int_of(reply, 3)), "now",
        time_or_null(int_of(reply, 4)));
    /* A stored limit that is no integer >= 0: the scripts use the configured
     * one (limit above, null without a configuration); say what is stored. */
    const redisReply *bad = reply->elements > 8 ? reply->element[8] : NULL;
    if (doc && bad && bad->type == REDIS_REPLY_STRING && bad->len > 0)
        json_object_set_new(doc, "invalid_limit", json_stringn(bad->str, bad->len));
    return doc;
}

/* Fields whose values are numbers of ms since the epoch (0 = none). */
static int is_time_field(const char *name) {
    return strcmp(name, "opened_at") == 0 || strcmp(name, "last_seen") == 0 ||
           strcmp(name, "expires_at") == 0 || strcmp(name, "absolute_deadline") == 0;
}

json_t *sd_admin_session_json(const redisReply *fields) {
    if (!fields || fields->type != REDIS_REPLY_ARRAY || fields->elements % 2)
        return NULL;
    json_t *obj = json_object();
    if (!obj) return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            json_decref(obj);
            return NULL;
        }
        /* binding_key is the Redis key behind "binding": internal. */
        if (strcmp(k->str, "binding_key") == 0) continue;
        json_t *value;
        if (is_time_field(k->str))
            value = time_or_null(strtoll(v->str, NULL, 10));
        else if (strcmp(k->str, "requests") == 0 || strcmp(k->str, "ttl_ms") == 0)
            value = json_integer(strtoll(v->str, NULL, 10));
        else
            value = json_stringn(v->str, v->len);
        json_object_set_new(obj, k->str, value);
    }
    return obj;
}

json_t *sd_admin_list_json(const sd_instance *inst, const redisReply *reply,
                           int *bad_cursor) {
    *bad_cursor = reply && reply->type == REDIS_REPLY_ERROR &&
                  strstr(reply->str, "bad cursor") != NULL;
    if (!is_code(reply, SD_SCRIPT_LISTED, 5) ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[4]->type != REDIS_REPLY_ARRAY)
        return NULL;
    json_t *sessions = json_array();
    const redisReply *page = reply->element[4];
    for (size_t i = 0; sessions && i < page->elements; i++) {
        json_t *s = sd_admin_session_json(page->element[i]);
        if (!s) {
            json_decref(sessions);
            return NULL;
        }
        json_array_append_new(sessions, s);
    }
    if (!sessions) return NULL;
    const redisReply *next = reply->element[1];
    return json_pack("{s:s, s:I, s:o, s:o}", "instance", inst->name, "open",
                     (json_int_t)int_of(reply, 3), "sessions", sessions,
                     "next_cursor",
                     next->len ? json_stringn(next->str, next->len) : json_null());
}

json_t *sd_admin_show_json(const redisReply *reply, int *not_found) {
    *not_found = is_code(reply, SD_SCRIPT_NONE, 1);
    if (!is_code(reply, SD_SCRIPT_SHOWN, 3)) return NULL;
    return sd_admin_session_json(reply->element[2]);
}
