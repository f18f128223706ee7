/* GET /metrics: the worker's counters in Prometheus text format (0.0.4).
 * Everything comes from memory; a scrape costs no Redis call. The session
 * gauges are as fresh as the last sweep (sweep_interval). */
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "core/metrics.h"
#include "http/http_internal.h"
#include "sessiond/error.h"

#ifndef SD_VERSION
#define SD_VERSION "unknown"
#endif

static void http_counters(struct evbuffer *out, const sd_http_server *srv) {
    sd_metrics_family(out, "sessiond_http_requests_total", "counter",
                      "HTTP requests answered, by route, status and outcome.");
    for (size_t i = 0; i < srv->ncounters; i++) {
        const sd_http_counter *c = &srv->counters[i];
        char labels[160];
        snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\",outcome=\"%s\"",
                 sd_route_names[c->route], c->status, c->outcome);
        sd_metrics_sample(out, "sessiond_http_requests_total", labels,
                          (double)c->count);
    }
    sd_metrics_family(out, "sessiond_http_requests_inflight", "gauge",
                      "Requests waiting for Redis.");
    sd_metrics_sample(out, "sessiond_http_requests_inflight", NULL,
                      (double)srv->inflight);
}

/* One sample per instance of a per-instance number. */
typedef double (*stat_fn)(const sd_instance_stats *st);

static void per_instance(struct evbuffer *out, const sd_worker *w, const char *name,
                         const char *type, const char *help, stat_fn fn) {
    sd_metrics_family(out, name, type, help);
    for (size_t i = 0; i < w->ninstances; i++) {
        char labels[96];
        snprintf(labels, sizeof labels, "instance=\"%s\"", w->instances[i].name);
        sd_metrics_sample(out, name, labels, fn(&w->stats[i]));
    }
}

static double st_used(const sd_instance_stats *st) { return (double)st->used; }
static double st_limit(const sd_instance_stats *st) { return (double)st->limit; }
static double st_opened(const sd_instance_stats *st) { return (double)st->opened; }
static double st_resumed(const sd_instance_stats *st) { return (double)st->resumed; }
static double st_revoked(const sd_instance_stats *st) {
    return (double)st->refused_revoked;
}

static void session_metrics(struct evbuffer *out, const sd_worker *w) {
    per_instance(out, w, "sessiond_sessions_open", "gauge",
                 "Open sessions of the instance at the last sweep (-1: not yet known).",
                 st_used);
    per_instance(out, w, "sessiond_license_limit", "gauge",
                 "License limit of the instance at the last sweep (-1: not yet known).",
                 st_limit);
    per_instance(out, w, "sessiond_sessions_opened_total", "counter",
                 "Sessions this worker opened.", st_opened);
    per_instance(out, w, "sessiond_sessions_resumed_total", "counter",
                 "Requests this worker served on an open session.", st_resumed);
    per_instance(out, w, "sessiond_revoked_tokens_refused_total", "counter",
                 "Requests refused because their token was revoked.", st_revoked);

    sd_metrics_family(out, "sessiond_sessions_denied_total", "counter",
                      "Sessions this worker refused, by reason.");
    for (size_t i = 0; i < w->ninstances; i++) {
        char labels[128];
        snprintf(labels, sizeof labels, "instance=\"%s\",reason=\"license_limit\"",
                 w->instances[i].name);
        sd_metrics_sample(out, "sessiond_sessions_denied_total", labels,
                          (double)w->stats[i].denied_license);
        snprintf(labels, sizeof labels, "instance=\"%s\",reason=\"subject_limit\"",
                 w->instances[i].name);
        sd_metrics_sample(out, "sessiond_sessions_denied_total", labels,
                          (double)w->stats[i].denied_subject);
    }
    sd_metrics_family(out, "sessiond_sessions_closed_total", "counter",
                      "Sessions this worker closed or reaped, by reason.");
    for (size_t i = 0; i < w->ninstances; i++)
        for (int r = 0; r < SD_CLOSE_REASONS; r++) {
            char labels[128];
            snprintf(labels, sizeof labels, "instance=\"%s\",reason=\"%s\"",
                     w->instances[i].name, sd_close_reason_names[r]);
            sd_metrics_sample(out, "sessiond_sessions_closed_total", labels,
                              (double)w->stats[i].closed[r]);
        }
}

static void store_metrics(struct evbuffer *out, const sd_worker *w) {
    const sd_store_stats *st = sd_store_get_stats(w->store);
    sd_metrics_family(out, "sessiond_redis_up", "gauge",
                      "1 when Redis is connected and the scripts are loaded.");
    sd_metrics_sample(out, "sessiond_redis_up", NULL, sd_worker_ready(w));
    sd_metrics_family(out, "sessiond_redis_connects_total", "counter",
                      "Times the Redis connection became ready.");
    sd_metrics_sample(out, "sessiond_redis_connects_total", NULL, (double)st->connects);
    sd_metrics_family(out, "sessiond_redis_calls_total", "counter",
                      "Redis calls sent.");
    sd_metrics_sample(out, "sessiond_redis_calls_total", NULL, (double)st->calls);
    sd_metrics_family(out, "sessiond_redis_call_timeouts_total", "counter",
                      "Redis calls answered by the time-out.");
    sd_metrics_sample(out, "sessiond_redis_call_timeouts_total", NULL,
                      (double)st->timeouts);
    sd_metrics_family(out, "sessiond_redis_call_failures_total", "counter",
                      "Redis calls lost to a disconnect.");
    sd_metrics_sample(out, "sessiond_redis_call_failures_total", NULL,
                      (double)st->failures);
    sd_metrics_family(out, "sessiond_redis_redirects_total", "counter",
                      "Redis Cluster redirects followed, by kind (moved, ask, tryagain).");
    sd_metrics_sample(out, "sessiond_redis_redirects_total", "kind=\"moved\"",
                      (double)st->moved);
    sd_metrics_sample(out, "sessiond_redis_redirects_total", "kind=\"ask\"",
                      (double)st->asked);
    sd_metrics_sample(out, "sessiond_redis_redirects_total", "kind=\"tryagain\"",
                      (double)st->tryagain);
    sd_metrics_family(out, "sessiond_redis_master_switches_total", "counter",
                      "Redis Sentinel +switch-master announcements followed.");
    sd_metrics_sample(out, "sessiond_redis_master_switches_total", NULL,
                      (double)st->switches);
    sd_metrics_family(out, "sessiond_redis_call_duration_seconds", "histogram",
                      "Time from sending a Redis call to its reply.");
    sd_metrics_histogram(out, "sessiond_redis_call_duration_seconds", NULL,
                         &st->latency);
}

static void cache_metrics(struct evbuffer *out, const sd_worker *w) {
    sd_metrics_family(out, "sessiond_token_cache_hits_total", "counter",
                      "Token verifications answered from the cache.");
    sd_metrics_sample(out, "sessiond_token_cache_hits_total", NULL,
                      w->cache ? (double)sd_token_cache_hits(w->cache) : 0);
    sd_metrics_family(out, "sessiond_token_cache_misses_total", "counter",
                      "Token verifications that checked a signature.");
    sd_metrics_sample(out, "sessiond_token_cache_misses_total", NULL,
                      w->cache ? (double)sd_token_cache_misses(w->cache) : 0);
}

void sd_http_handle_metrics(sd_http_exchange *x) {
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        sd_http_send_error(x, SD_ENOMEM);
        return;
    }
    sd_metrics_family(out, "sessiond_build_info", "gauge",
                      "Version of this worker (always 1).");
    sd_metrics_sample(out, "sessiond_build_info", "version=\"" SD_VERSION "\"", 1);
    http_counters(out, x->srv);
    session_metrics(out, x->srv->worker);
    store_metrics(out, x->srv->worker);
    cache_metrics(out, x->srv->worker);
    sd_http_send_text(x, 200, "text/plain; version=0.0.4; charset=utf-8", out);
    evbuffer_free(out);
}
