/* Counters and a fixed-bucket latency histogram for /metrics, plus the
 * Prometheus text-format writer helpers. Each worker process keeps its own
 * (single-threaded: no atomics); Prometheus sums them across replicas. */
#ifndef SD_CORE_METRICS_H
#define SD_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Upper bounds of the histogram buckets, in seconds: from 100 µs (a Redis
 * call on loopback) to 1 s (far past any sane time-out). */
#define SD_HISTOGRAM_BUCKETS 12

typedef struct sd_histogram {
    uint64_t counts[SD_HISTOGRAM_BUCKETS + 1]; /* last: above every bound */
    uint64_t total;
    double sum;                                /* seconds */
} sd_histogram;

/* The bucket bounds, shared by every histogram. */
extern const double sd_histogram_bounds[SD_HISTOGRAM_BUCKETS];

/* Records one observation of `seconds`. */
void sd_histogram_observe(sd_histogram *h, double seconds);

/* Writes "# HELP" and "# TYPE" lines for a metric family. type is
 * "counter", "gauge" or "histogram". */
void sd_metrics_family(struct evbuffer *out, const char *name, const char *type,
                       const char *help);

/* Writes one sample line: name{labels} value. labels is the text between
 * the braces (already escaped) or NULL. */
void sd_metrics_sample(struct evbuffer *out, const char *name, const char *labels,
                       double value);

/* Writes a histogram's _bucket (cumulative, with le="+Inf"), _sum and
 * _count lines. labels as above, may be NULL. */
void sd_metrics_histogram(struct evbuffer *out, const char *name,
                          const char *labels, const sd_histogram *h);

/* Escapes a label value (backslash, quote, newline) into out, cut to cap
 * bytes with a NUL. */
void sd_metrics_escape(const char *value, char *out, size_t cap);

#endif
