/* Duration text ("300ms", "45s", "20m", "1h", or bare digits = milliseconds)
 * to milliseconds, for configuration values (include/sessiond/config.h). */
#include "sessiond/config.h"
#include "sessiond/error.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    const char *suffix;
    int64_t ms;
} duration_unit;

/* "" (bare digits) must stay first: it is the fallback when no suffix fits. */
static const duration_unit units[] = {
    {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000},
};

/* Parses text into *ms. Accepts one run of ASCII digits followed by an
 * optional lower-case unit; no sign, no spaces, no fractions. Returns 0, or
 * SD_EINVAL for anything else, including values that overflow int64_t
 * milliseconds. *ms is written only on success. */
int sd_duration_parse(const char *text, int64_t *ms) {
    if (text == NULL || ms == NULL) return SD_EINVAL;

    int64_t n = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10) return SD_EINVAL;
        n = n * 10 + d;
    }
    if (p == text) return SD_EINVAL; /* no digits: "", "s", "-5s" */

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].suffix) != 0) continue;
        if (n > INT64_MAX / units[i].ms) return SD_EINVAL;
        *ms = n * units[i].ms;
        return 0;
    }
    return SD_EINVAL;
}
