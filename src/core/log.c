/* JSON-lines logger on stderr. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Process-wide settings, written once at start before any event runs. */
static sd_log_level min_level = SD_LOG_INFO;
static const char *replica_name;

void sd_log_set_level(sd_log_level level) { min_level = level; }
void sd_log_set_replica(const char *replica) { replica_name = replica; }
int sd_log_enabled(sd_log_level level) { return level >= min_level; }

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int sd_log_level_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

static void put_escaped(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

void sd_log(sd_log_level level, const char *msg, ...) {
    const char *const *names = level_names;
    if (level < min_level) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    /* One buffered write per line keeps lines whole when several worker
     * processes share stderr. */
    char line[4096];
    FILE *f = fmemopen(line, sizeof line, "w");
    if (!f) return;
    fprintf(f, "{\"time\":\"%s.%03dZ\",\"level\":\"%s\"", stamp,
            (int)(tv.tv_usec / 1000), names[level]);
    if (replica_name) {
        fputs(",\"replica\":", f);
        put_escaped(f, replica_name);
    }
    fputs(",\"msg\":", f);
    put_escaped(f, msg);
    va_list ap;
    va_start(ap, msg);
    for (const char *key; (key = va_arg(ap, const char *));) {
        const char *value = va_arg(ap, const char *);
        fputc(',', f);
        put_escaped(f, key);
        fputc(':', f);
        put_escaped(f, value ? value : "");
    }
    va_end(ap);
    fputs("}\n", f);
    long len = ftell(f);
    fclose(f);
    if (len <= 0 || (size_t)len >= sizeof line) {
        /* Truncated: still emit valid JSON without the extra fields. */
        len = snprintf(line, sizeof line,
                       "{\"time\":\"%s.%03dZ\",\"level\":\"%s\",\"msg\":\"log line too long\"}\n",
                       stamp, (int)(tv.tv_usec / 1000), names[level]);
    }
    fwrite(line, 1, (size_t)len, stderr);
}
