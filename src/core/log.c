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

/* The batch of lines waiting for sd_log_flush(): process-wide, like the
 * stderr it stands for (see log.h). */
#define BATCH_BYTES 4096 /* PIPE_BUF on Linux */
static char batch[BATCH_BYTES];
static size_t batch_len;
static void (*batch_hook)(void *);
static void *batch_arg;

void sd_log_flush(void) {
    if (batch_len) fwrite(batch, 1, batch_len, stderr);
    batch_len = 0;
}

void sd_log_set_batching(void (*hook)(void *arg), void *arg) {
    sd_log_flush();
    batch_hook = hook;
    batch_arg = arg;
}

/* Writes one whole line now, or adds it to the batch. */
static void emit(sd_log_level level, const char *line, size_t len) {
    if (!batch_hook || level >= SD_LOG_WARN || len > BATCH_BYTES) {
        sd_log_flush();
        fwrite(line, 1, len, stderr);
        return;
    }
    if (len > BATCH_BYTES - batch_len) sd_log_flush();
    int was_empty = batch_len == 0;
    memcpy(batch + batch_len, line, len);
    batch_len += len;
    if (was_empty) batch_hook(batch_arg);
}

void sd_log_set_level(sd_log_level level) { min_level = level; }
void sd_log_set_replica(const char *replica) { replica_name = replica; }
int sd_log_enabled(sd_log_level level) { return level >= min_level; }

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int sd_log_level_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

/* A line being built; past its capacity it only remembers it overflowed. */
typedef struct line_buf {
    char *p;
    size_t len, cap;
    int overflow;
} line_buf;

static void put(line_buf *b, const char *s, size_t n) {
    if (n > b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_str(line_buf *b, const char *s) { put(b, s, strlen(s)); }

/* s as a JSON string. Runs of plain characters are copied at once: this
 * runs for every field of every request's log line. */
static void put_escaped(line_buf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    put(b, "\"", 1);
    while (*s) {
        size_t run = 0;
        while (s[run] && s[run] != '"' && s[run] != '\\' &&
               (unsigned char)s[run] >= 0x20)
            run++;
        put(b, s, run);
        s += run;
        if (!*s) break;
        unsigned char c = (unsigned char)*s++;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(b, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(b, e, 6);
        }
    }
    put(b, "\"", 1);
}

static void put_2digits(char *at, int v) {
    at[0] = (char)('0' + v / 10 % 10);
    at[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 characters) without stdio. */
static void format_stamp(const struct timeval *tv, char out[24]) {
    struct tm tm;
    gmtime_r(&tv->tv_sec, &tm);
    int year = tm.tm_year + 1900, ms = (int)(tv->tv_usec / 1000);
    put_2digits(out, year / 100);
    put_2digits(out + 2, year % 100);
    out[4] = '-';
    put_2digits(out + 5, tm.tm_mon + 1);
    out[7] = '-';
    put_2digits(out + 8, tm.tm_mday);
    out[10] = 'T';
    put_2digits(out + 11, tm.tm_hour);
    out[13] = ':';
    put_2digits(out + 14, tm.tm_min);
    out[16] = ':';
    put_2digits(out + 17, tm.tm_sec);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    put_2digits(out + 21, ms % 100);
    out[23] = 'Z';
}

void sd_log(sd_log_level level, const char *msg, ...) {
    const char *const *names = level_names;
    if (level < min_level) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char stamp[24];
    format_stamp(&tv, stamp);

    /* One write per line keeps lines whole when several worker processes
     * share stderr. */
    char line[4096];
    line_buf b = {line, 0, sizeof line, 0};
    put_str(&b, "{\"time\":\"");
    put(&b, stamp, sizeof stamp);
    put_str(&b, "\",\"level\":\"");
    put_str(&b, names[level]);
    put(&b, "\"", 1);
    if (replica_name) {
        put_str(&b, ",\"replica\":");
        put_escaped(&b, replica_name);
    }
    put_str(&b, ",\"msg\":");
    put_escaped(&b, msg);
    va_list ap;
    va_start(ap, msg);
    for (const char *key; (key = va_arg(ap, const char *));) {
        const char *value = va_arg(ap, const char *);
        put(&b, ",", 1);
        put_escaped(&b, key);
        put(&b, ":", 1);
        put_escaped(&b, value ? value : "");
    }
    va_end(ap);
    put(&b, "}\n", 2);
    if (b.overflow) {
        /* Truncated: still emit valid JSON without the extra fields. */
        b = (line_buf){line, 0, sizeof line, 0};
        put_str(&b, "{\"time\":\"");
        put(&b, stamp, sizeof stamp);
        put_str(&b, "\",\"level\":\"");
        put_str(&b, names[level]);
        put_str(&b, "\",\"msg\":\"log line too long\"}\n");
    }
    emit(level, line, b.len);
}
