/* Worker setup, instance selection, cached token verification and sweeps. */
#include "worker/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "sessiond/error.h"

static void on_seed_reply(int err, const redisReply *reply, void *data) {
    const sd_instance *inst = data;
    if (!err && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_INTEGER && reply->element[1]->integer == 1)
        sd_log(SD_LOG_INFO, "pool settings seeded from the configuration", "instance",
               inst->cfg->name, "limit", inst->limit_arg, NULL);
}

static void seed(sd_worker *w, const sd_instance *inst) {
    int rc = sd_session_seed(w->store, inst, on_seed_reply, (void *)inst);
    if (rc)
        sd_log(SD_LOG_WARN, "cannot seed pool settings", "instance", inst->cfg->name,
               "reason", sd_errname(rc), NULL);
}

static void on_store_state(int ready, const char *why, void *data) {
    sd_worker *w = data;
    sd_log(ready ? SD_LOG_INFO : SD_LOG_WARN,
           ready ? "redis ready" : "redis unavailable", "reason", why, NULL);
    /* A Redis that restarted empty gets its pool settings back at once, and
     * a sweep right away reaps what expired while it was away and fills the
     * usage gauges. */
    if (ready) {
        for (size_t i = 0; i < w->ninstances; i++) seed(w, &w->instances[i]);
        struct timeval now = {0, 0};
        evtimer_add(&w->sweep_timer, &now);
    }
}

/* ------------------------------------------------------------------------
 * Sweep: every instance each tick, so an expired session's slot and its
 * "closed" event lag its expiry by at most one sweep interval (SPEC §4).
 * The calls of one tick share the connection's pipeline.
 * ------------------------------------------------------------------------ */

const char *const sd_close_reason_names[SD_CLOSE_REASONS] = {
    [SD_CLOSED_LOGOUT] = "logout",
    [SD_CLOSED_ADMIN] = "admin",
    [SD_CLOSED_IDLE] = "idle",
    [SD_CLOSED_ABSOLUTE] = "absolute",
};

sd_instance_stats *sd_worker_stats(sd_worker *w, const sd_instance *inst) {
    return &w->stats[inst - w->instances];
}

void sd_worker_count(sd_worker *w, const sd_instance *inst,
                     const sd_session_result *res, sd_close_reason close_reason) {
    sd_instance_stats *st = sd_worker_stats(w, inst);
    switch (res->code) {
    case SD_SCRIPT_OPENED: st->opened++; break;
    case SD_SCRIPT_RESUMED: st->resumed++; break;
    case SD_SCRIPT_CLOSED: st->closed[close_reason]++; break;
    case SD_SCRIPT_REVOKED: st->refused_revoked++; break;
    case SD_SCRIPT_DENIED:
        if (res->denied == SD_ESUBJECT_LIMIT)
            st->denied_subject++;
        else
            st->denied_license++;
        break;
    default: break;
    }
    st->closed[SD_CLOSED_IDLE] += (uint64_t)res->closed_idle;
    st->closed[SD_CLOSED_ABSOLUTE] += (uint64_t)res->closed_absolute;
}

/* The sweep's reply, {6, removed, left, idle, absolute, used, limit}, or
 * -1 when it has another shape. */
static int sweep_numbers(const redisReply *reply, long long n[7]) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 7) return -1;
    for (size_t i = 0; i < 7; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) return -1;
        n[i] = reply->element[i]->integer;
    }
    return 0;
}

typedef struct sweep_call {
    sd_worker *w;
    const sd_instance *inst;
} sweep_call;

static void on_sweep_reply(int err, const redisReply *reply, void *data) {
    sweep_call *call = data;
    sd_worker *w = call->w;
    long long n[7];
    int ok = !err && sweep_numbers(reply, n) == 0;
    if (ok) {
        sd_instance_stats *st = sd_worker_stats(w, call->inst);
        st->closed[SD_CLOSED_IDLE] += (uint64_t)n[3];
        st->closed[SD_CLOSED_ABSOLUTE] += (uint64_t)n[4];
        st->used = n[5];
        st->limit = n[6];
    }
    free(call);
    if (!ok) return;
    /* More expired entries than one batch: sweep again right away. */
    if (n[2] > 0) {
        struct timeval now = {0, 0};
        evtimer_add(&w->sweep_timer, &now);
    }
}

static void on_sweep_timer(evutil_socket_t fd, short what, void *arg) {
    sd_worker *w = arg;
    struct timeval tv = {.tv_sec = w->cfg->sweep_interval_ms / 1000,
                         .tv_usec = (w->cfg->sweep_interval_ms % 1000) * 1000};
    evtimer_add(&w->sweep_timer, &tv);
    if (!sd_store_ready(w->store)) return;
    sd_store_sync_clock(w->store);
    for (size_t i = 0; i < w->ninstances; i++) {
        const sd_instance *inst = &w->instances[i];
        /* Re-seeding each tick is one HSETNX; it restores settings lost to
         * a FLUSHALL without a reconnect. */
        seed(w, inst);
        sweep_call *call = malloc(sizeof *call);
        if (!call) continue;
        *call = (sweep_call){w, inst};
        if (sd_session_sweep(w->store, inst, w->cfg->sweep_batch, on_sweep_reply,
                             call) != 0)
            free(call);
    }
}

/* ------------------------------------------------------------------------
 * Keys fetched from a jwks_uri
 * ------------------------------------------------------------------------ */

/* A good fetch: a set that differs from the one in use replaces it whole,
 * and the token cache is emptied (as on SIGHUP) so that a token verified by
 * a key that has left the set is verified again, and fails. */
static void on_jwks_keys(sd_keyset *keys, void *data) {
    sd_worker_jwks *j = data;
    if (sd_keyset_equal(j->inst->keys, keys)) {
        sd_keyset_free(keys);
        return;
    }
    char kids[512] = "", count[24];
    size_t used = 0, n = sd_keyset_count(keys);
    for (size_t i = 0; i < n && used < sizeof kids; i++) {
        const char *kid = sd_keyset_kid(keys, i);
        int w = snprintf(kids + used, sizeof kids - used, "%s%s", i ? "," : "",
                         kid ? kid : "(none)");
        if (w > 0) used += (size_t)w;
    }
    snprintf(count, sizeof count, "%zu", n);
    sd_instance_swap_keys(j->inst, keys);
    sd_token_cache_clear(j->worker->cache);
    sd_log(SD_LOG_INFO, "jwks keys updated", "instance", j->inst->cfg->name, "keys", count,
           "kids", kids, NULL);
}

static int is_ip_literal(const char *host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Creates the fetchers, and the DNS resolver and TLS context they share
 * only when some jwks_uri needs them. */
static int start_jwks(sd_worker *w, char *err, size_t errlen) {
    if (!(w->jwks = calloc(w->ninstances, sizeof *w->jwks))) return SD_ENOMEM;
    for (size_t i = 0; i < w->ninstances; i++) {
        const sd_instance_config *ic = w->instances[i].cfg;
        w->jwks[i] = (sd_worker_jwks){.worker = w, .inst = &w->instances[i]};
        if (!ic->jwks_uri) continue;
        if (!w->dns && !is_ip_literal(ic->jwks_host)) {
            w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                 EVDNS_BASE_DISABLE_WHEN_INACTIVE);
            if (!w->dns)
                sd_log(SD_LOG_WARN, "no DNS resolver; jwks host names resolve blocking",
                       NULL);
        }
        if (ic->jwks_tls && !w->tls && !(w->tls = sd_jwks_tls_context())) {
            snprintf(err, errlen, "instance %s: jwks_uri: cannot set up TLS", ic->name);
            return SD_EINVAL;
        }
        sd_jwks_options opt = {
            .instance = ic->name,
            .uri = ic->jwks_uri,
            .host = ic->jwks_host,
            .port = ic->jwks_port,
            .path = ic->jwks_path,
            .tls = ic->jwks_tls,
            .refresh_ms = ic->jwks_refresh_ms,
            .min_refetch_ms = ic->jwks_min_refetch_ms,
            .timeout_ms = ic->jwks_timeout_ms,
            .max_bytes = SD_JWKS_FETCH_MAX_BYTES,
            .on_keys = on_jwks_keys,
            .data = &w->jwks[i],
        };
        if (!(w->jwks[i].client = sd_jwks_client_new(w->base, w->dns, w->tls, &opt)))
            return SD_ENOMEM;
    }
    return 0;
}

static void stop_jwks(sd_worker *w) {
    for (size_t i = 0; w->jwks && i < w->ninstances; i++)
        sd_jwks_client_free(w->jwks[i].client);
    free(w->jwks);
    w->jwks = NULL;
    if (w->dns) evdns_base_free(w->dns, 0);
    w->dns = NULL;
    SSL_CTX_free(w->tls);
    w->tls = NULL;
}

static sd_jwks_client *jwks_of(const sd_worker *w, const sd_instance *inst) {
    return w->jwks ? w->jwks[inst - w->instances].client : NULL;
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

int sd_worker_init(sd_worker *w, struct event_base *base, const sd_config *cfg,
                   char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    w->base = base;
    w->cfg = cfg;
    /* Assigned first, so sd_worker_cleanup may delete it whatever failed
     * (libevent warns on deleting an event that has no base). */
    evtimer_assign(&w->sweep_timer, base, on_sweep_timer, w);
    int rc = SD_ENOMEM;
    w->instances = calloc(cfg->ninstances, sizeof *w->instances);
    w->stats = calloc(cfg->ninstances, sizeof *w->stats);
    if (!w->instances || !w->stats) goto fail;
    for (size_t i = 0; i < cfg->ninstances; i++) w->stats[i].used = w->stats[i].limit = -1;
    for (; w->ninstances < cfg->ninstances; w->ninstances++) {
        rc = sd_instance_init(&w->instances[w->ninstances],
                              &cfg->instances[w->ninstances], cfg, err, errlen);
        if (rc) goto fail;
    }
    rc = SD_ENOMEM;
    if (cfg->token_cache_entries > 0 &&
        !(w->cache = sd_token_cache_new((size_t)cfg->token_cache_entries)))
        goto fail;
    sd_store_options opt = {
        .host = cfg->redis_host,
        .port = cfg->redis_port,
        .password = sd_config_redis_password(cfg),
        .db = cfg->redis_db,
        .sentinels = (const char *const *)cfg->redis_sentinels,
        .nsentinels = cfg->nredis_sentinels,
        .master_name = cfg->redis_master_name,
        .sentinel_password = cfg->redis_sentinel_password,
        .cluster = (const char *const *)cfg->redis_cluster,
        .ncluster = cfg->nredis_cluster,
        .timeout_ms = cfg->redis_timeout_ms,
        .reconnect_max_ms = cfg->redis_reconnect_max_ms,
        .on_state = on_store_state,
        .data = w,
    };
    if (!(w->store = sd_store_new(base, &opt))) goto fail;
    struct timeval first = {0, 0};
    evtimer_add(&w->sweep_timer, &first);
    if ((rc = start_jwks(w, err, errlen)) != 0) goto fail;
    return 0;
fail:
    if (rc == SD_ENOMEM) snprintf(err, errlen, "out of memory");
    sd_worker_cleanup(w);
    return rc;
}

void sd_worker_cleanup(sd_worker *w) {
    if (w->base) evtimer_del(&w->sweep_timer);
    stop_jwks(w);
    sd_store_free(w->store);
    w->store = NULL;
    sd_token_cache_free(w->cache);
    w->cache = NULL;
    for (size_t i = 0; i < w->ninstances; i++)
        sd_instance_cleanup(&w->instances[i]);
    free(w->instances);
    w->instances = NULL;
    free(w->stats);
    w->stats = NULL;
    w->ninstances = 0;
}

int sd_worker_readiness(const sd_worker *w) {
    if (!sd_store_ready(w->store)) return SD_ESTORE_UNAVAILABLE;
    for (size_t i = 0; w->jwks && i < w->ninstances; i++)
        if (w->jwks[i].client && !sd_jwks_client_has_keys(w->jwks[i].client))
            return SD_EKEYS_UNAVAILABLE;
    return 0;
}

int sd_worker_ready(const sd_worker *w) { return sd_worker_readiness(w) == 0; }

int sd_worker_reload_keys(sd_worker *w, char *err, size_t errlen) {
    sd_keyset **fresh = calloc(w->ninstances, sizeof *fresh);
    if (!fresh) return SD_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < w->ninstances && rc == 0; i++)
        if (!jwks_of(w, &w->instances[i]))
            rc = sd_instance_load_keys(&w->instances[i], &fresh[i], err, errlen);
    for (size_t i = 0; i < w->ninstances; i++) {
        if (rc == 0 && fresh[i])
            sd_instance_swap_keys(&w->instances[i], fresh[i]);
        else
            sd_keyset_free(fresh[i]);
    }
    free(fresh);
    if (rc != 0) return rc;
    sd_token_cache_clear(w->cache);
    for (size_t i = 0; i < w->ninstances; i++) {
        sd_jwks_client *c = jwks_of(w, &w->instances[i]);
        if (c) sd_jwks_client_refresh_now(c);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

/* Host header without its port ("a.example:8080" -> "a.example"). */
static int host_matches(const char *host, const char *name) {
    size_t n = strlen(name);
    return strncasecmp(host, name, n) == 0 && (host[n] == '\0' || host[n] == ':');
}

const sd_instance *sd_worker_instance_for(const sd_worker *w, const char *host,
                                          const char *x_instance) {
    if (host)
        for (size_t i = 0; i < w->ninstances; i++)
            for (size_t h = 0; h < w->instances[i].cfg->nhosts; h++)
                if (host_matches(host, w->instances[i].cfg->hosts[h]))
                    return &w->instances[i];
    if (x_instance) {
        for (size_t i = 0; i < w->ninstances; i++)
            if (strcmp(x_instance, w->instances[i].cfg->name) == 0)
                return &w->instances[i];
        /* A gateway that names an instance we do not serve is misrouted:
         * never fall back to another instance's pool. */
        return NULL;
    }
    return w->ninstances == 1 ? &w->instances[0] : NULL;
}

/* Verifies with inst's keys and policy, through the cache. */
static int verify_at(sd_worker *w, const sd_instance *inst, const char *token,
                     size_t len, const unsigned char *sha, int64_t now_s,
                     sd_claims **out) {
    if (w->cache) {
        sd_claims *hit = sd_token_cache_get(w->cache, sha, inst, now_s,
                                            inst->policy.leeway_s);
        if (hit) {
            *out = sd_claims_ref(hit);
            return 0;
        }
    }
    int rc = sd_token_verify(token, len, inst->keys, &inst->policy, now_s, out);
    if (rc == 0 && w->cache) sd_token_cache_put(w->cache, *out, inst);
    return rc;
}

/* Failures that a valid token of another instance would cause here. */
static int may_be_other_instance(int rc) {
    return rc == SD_ETOKEN_ISSUER || rc == SD_ETOKEN_KID_UNKNOWN ||
           rc == SD_ETOKEN_NO_KEY || rc == SD_ETOKEN_SIGNATURE ||
           rc == SD_ETOKEN_ALG_KEY_MISMATCH || rc == SD_ETOKEN_ALG_UNSUPPORTED ||
           rc == SD_ETOKEN_AUDIENCE;
}

int sd_worker_verify(sd_worker *w, const sd_instance *inst, const char *token,
                     size_t len, int64_t now_s, sd_claims **out) {
    *out = NULL;
    /* The size cap comes before hashing, too: nothing large is touched. */
    if (len > inst->policy.max_token_bytes) return SD_ETOKEN_TOO_LARGE;
    sd_jwks_client *jwks = jwks_of(w, inst);
    /* Not yet fetched: the token may be fine; say so rather than blame it. */
    if (jwks && !sd_jwks_client_has_keys(jwks)) return SD_EKEYS_UNAVAILABLE;
    unsigned char sha[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, sha);
    int rc = verify_at(w, inst, token, len, sha, now_s, out);
    /* The kid is read before any signature check, so anyone can name an
     * unknown one: the fetcher rate-limits these refetches. */
    if (rc == SD_ETOKEN_KID_UNKNOWN && jwks) sd_jwks_client_kid_miss(jwks);
    if (rc == 0 || w->ninstances < 2 || !may_be_other_instance(rc)) return rc;

    /* A token valid at another instance gets 403 wrong_instance (SPEC §5).
     * Its unverified iss names the instances worth trying (usually one), so
     * a forged token costs no signature check per configured instance. */
    char iss[512];
    if (sd_token_peek_issuer(token, len, inst->policy.max_token_bytes, iss,
                             sizeof iss) != 0)
        return rc;
    for (size_t i = 0; i < w->ninstances; i++) {
        const sd_instance *other = &w->instances[i];
        if (other == inst || strcmp(other->cfg->issuer, iss) != 0) continue;
        sd_claims *claims = NULL;
        if (verify_at(w, other, token, len, sha, now_s, &claims) == 0) {
            sd_claims_unref(claims);
            return SD_ETOKEN_WRONG_INSTANCE;
        }
    }
    return rc;
}
