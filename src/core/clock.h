/* The worker's own clocks. Session timing never uses them (Redis TIME is the
 * session clock, SPEC §2); they time requests, Redis calls and drains. */
#ifndef SD_CORE_CLOCK_H
#define SD_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on the monotonic clock (arbitrary origin). */
static inline int64_t sd_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds on the monotonic clock. */
static inline int64_t sd_monotonic_ms(void) { return sd_monotonic_ns() / 1000000; }

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-12-03T10:00:00.000Z"). */
void sd_format_time_ms(int64_t ms, char out[32]);

#endif
