/* Histogram bookkeeping and Prometheus text exposition (format 0.0.4). */
#include "core/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include <event2/buffer.h>

const double sd_histogram_bounds[SD_HISTOGRAM_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01,   0.025,   0.05,   0.1,   0.25,   1.0,
};

void sd_histogram_observe(sd_histogram *h, double seconds) {
    size_t i = 0;
    while (i < SD_HISTOGRAM_BUCKETS && seconds > sd_histogram_bounds[i]) i++;
    h->counts[i]++;
    h->total++;
    h->sum += seconds;
}

void sd_metrics_family(struct evbuffer *out, const char *name, const char *type,
                       const char *help) {
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Integers print without an exponent so exact counts stay exact. */
static void put_value(struct evbuffer *out, double value) {
    if (value == floor(value) && fabs(value) < 9.0e15)
        evbuffer_add_printf(out, "%" PRId64 "\n", (int64_t)value);
    else
        evbuffer_add_printf(out, "%.9g\n", value);
}

void sd_metrics_sample(struct evbuffer *out, const char *name, const char *labels,
                       double value) {
    if (labels && *labels)
        evbuffer_add_printf(out, "%s{%s} ", name, labels);
    else
        evbuffer_add_printf(out, "%s ", name);
    put_value(out, value);
}

void sd_metrics_histogram(struct evbuffer *out, const char *name,
                          const char *labels, const sd_histogram *h) {
    const char *sep = labels && *labels ? "," : "";
    if (!labels) labels = "";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= SD_HISTOGRAM_BUCKETS; i++) {
        cumulative += h->counts[i];
        if (i < SD_HISTOGRAM_BUCKETS)
            evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name,
                                labels, sep, sd_histogram_bounds[i], cumulative);
        else
            evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name,
                                labels, sep, cumulative);
    }
    char sum[128], count[128];
    snprintf(sum, sizeof sum, "%s_sum", name);
    snprintf(count, sizeof count, "%s_count", name);
    sd_metrics_sample(out, sum, labels, h->sum);
    sd_metrics_sample(out, count, labels, (double)h->total);
}

void sd_metrics_escape(const char *value, char *out, size_t cap) {
    size_t n = 0;
    for (; *value && n + 3 < cap; value++) {
        char c = *value;
        if (c == '\\' || c == '"') {
            out[n++] = '\\';
            out[n++] = c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = c;
        }
    }
    out[n] = '\0';
}
