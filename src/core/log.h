/* Structured logs: one JSON object per line on stderr (SPEC §6).
 * Never pass a token here; log its hash prefix instead. */
#ifndef SD_CORE_LOG_H
#define SD_CORE_LOG_H

typedef enum sd_log_level {
    SD_LOG_DEBUG = 0,
    SD_LOG_INFO,
    SD_LOG_WARN,
    SD_LOG_ERROR,
} sd_log_level;

/* Messages below this level are dropped. Set once at start. */
void sd_log_set_level(sd_log_level level);

/* 1 when messages of level are written (skip building a line otherwise). */
int sd_log_enabled(sd_log_level level);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int sd_log_level_parse(const char *name);

/* Sets the fields every line carries (e.g. "replica"); NULL to clear. The
 * string is not copied and must outlive logging. */
void sd_log_set_replica(const char *replica);

/* Writes {"time":..., "level":..., "msg": msg, k1: v1, ...} to stderr. The
 * variadic part is pairs of const char * (key, value) ended by NULL; values
 * are JSON-escaped strings. */
void sd_log(sd_log_level level, const char *msg, ...);

/* Batching, for an event loop: with a hook set, lines below SD_LOG_WARN wait
 * in a buffer of PIPE_BUF bytes (so each write stays atomic on a pipe shared
 * by several workers) and go out in one write when sd_log_flush() is
 * called, when the buffer is full, or before any warning or error. The hook
 * is called with arg when the buffer stops being empty, so that its owner
 * can schedule sd_log_flush() (sessiond: at the end of the loop iteration),
 * so a busy worker makes one write for several request lines instead of
 * one each. NULL turns batching off; both flush what is waiting. */
void sd_log_set_batching(void (*hook)(void *arg), void *arg);
void sd_log_flush(void);

#endif
