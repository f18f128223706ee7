/* Integration-test harness: real redis-server and sessiond processes on free
 * loopback ports, and a minimal blocking HTTP/1.1 client. Every process a
 * test starts is stopped by the matching *_stop, also on assertion failure
 * paths that reach the group teardown. */
#ifndef SD_TEST_HARNESS_H
#define SD_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

/* A redis-server child. */
typedef struct sd_test_redis {
    pid_t pid;
    int port;
    char dir[128];          /* its working directory (AOF lives here) */
} sd_test_redis;

/* Starts redis-server on a free loopback port (appendonly on, so a restart
 * keeps data) and waits until it answers PING. Returns 0 or -1. */
int sd_test_redis_start(sd_test_redis *r);

/* Starts it again on the same port and directory after a stop. */
int sd_test_redis_restart(sd_test_redis *r);

/* SIGKILLs (hard = 1) or SIGTERMs the server and reaps it. */
void sd_test_redis_stop(sd_test_redis *r, int hard);

/* A synchronous hiredis connection for assertions; caller frees it. */
redisContext *sd_test_redis_connect(const sd_test_redis *r);

/* Runs one command (printf-style like redisCommand) on a fresh
 * connection and returns its integer reply (or a string reply that is a
 * whole number, e.g. HGET of a counter), or -999 on anything else. */
long long sd_test_redis_int(const sd_test_redis *r, const char *fmt, ...);

/* Redis's clock (TIME) in ms: the session clock, for counting open slots
 * the way the scripts do. -1 on failure. */
long long sd_test_redis_time_ms(const sd_test_redis *r);

/* Open sessions of an instance: members of sd:{inst}:slots scored after
 * Redis's now (SPEC §4 usage). -999 on failure. */
long long sd_test_usage(const sd_test_redis *r, const char *inst);

/* A sessiond child. */
typedef struct sd_test_daemon {
    pid_t pid;
    int port;
    char config_path[160];
    char log_path[160];
} sd_test_daemon;

/* Writes config_json to a temp file (the text may contain "@PORT@" and
 * "@REDIS_PORT@", replaced by the chosen HTTP port and redis_port), starts
 * the sessiond binary ($SD_SESSIOND, else SD_BINARY_DIR/sessiond) with it,
 * and waits until /readyz answers 200 (or /healthz when wait_ready is 0).
 * stderr goes to log_path. Returns 0 or -1. */
int sd_test_daemon_start(sd_test_daemon *d, const char *config_json,
                         int redis_port, int wait_ready);

/* Sends SIGTERM and waits; returns the exit status (or -1). */
int sd_test_daemon_stop(sd_test_daemon *d);

/* An HTTP response. */
typedef struct sd_test_response {
    int status;
    char headers[20480];    /* raw header block, NUL-terminated */
    char body[65536];       /* NUL-terminated (cut if longer) */
    size_t body_len;
} sd_test_response;

/* Sends one request on a new connection to 127.0.0.1:port and reads the
 * whole response. extra_headers is raw "Name: value\r\n" lines or NULL;
 * bearer (if not NULL) becomes "Authorization: Bearer <bearer>". Returns 0
 * or -1 on a transport failure (connect refused, time-out of 10 s). */
int sd_test_http(int port, const char *method, const char *path,
                 const char *bearer, const char *extra_headers,
                 sd_test_response *out);

/* As sd_test_http, with a request body (sent with its Content-Length) when
 * body is not NULL. */
int sd_test_http_body(int port, const char *method, const char *path,
                      const char *bearer, const char *extra_headers, const char *body,
                      sd_test_response *out);

/* Copies a response header's value (case-insensitive name) into out;
 * returns 0, or -1 when absent. */
int sd_test_header(const sd_test_response *res, const char *name, char *out,
                   size_t cap);

/* Forks and execs argv (PATH searched), stdout and stderr appended to
 * log_path when not NULL. Returns the child's pid or -1. */
pid_t sd_test_spawn(char *const argv[], const char *log_path);

/* A free TCP port on 127.0.0.1 (bound and released). */
int sd_test_free_port(void);

/* Sleeps for ms milliseconds. */
void sd_test_sleep_ms(int ms);

/* Milliseconds on the monotonic clock. */
long long sd_test_now_ms(void);

/* A new copy of text with every `what` replaced by `with`; NULL when out of
 * memory. */
char *sd_test_replace(const char *text, const char *what, const char *with);

/* An RS256 at+jwt token signed by key (with kid), valid from now for ttl
 * seconds; sub, client, sid and jti may be NULL (left out); extra is raw
 * JSON members (",\"scope\":\"x\"") or NULL. Caller frees. */
char *sd_test_token(EVP_PKEY *key, const char *kid, const char *iss, const char *sub,
                    const char *client, const char *sid, const char *jti, long ttl,
                    const char *extra);

/* The value of a Prometheus sample line "sample value" (sample is the name
 * with its labels, exactly as printed) in a /metrics text, or -1. */
double sd_test_metric(const char *text, const char *sample);

/* The value of field name in a stream entry's field list (XRANGE's
 * [field, value, ...]), or "". */
const char *sd_test_stream_field(const redisReply *fields, const char *name);

/* A whole stack for a test group: a throw-away RSA key (its public PEM in a
 * file), a redis-server, and a sessiond started from a config template in
 * which "@KEY@" names that PEM file (plus @PORT@ and @REDIS_PORT@). */
typedef struct sd_test_stack {
    EVP_PKEY *key;
    char *public_pem_path;
    sd_test_redis redis;
    sd_test_daemon daemon;
} sd_test_stack;

/* Starts it all and waits until sessiond is ready. Returns 0 or -1. */
int sd_test_stack_start(sd_test_stack *s, const char *config_template);

/* Stops sessiond and Redis and removes the key file. */
void sd_test_stack_stop(sd_test_stack *s);

/* Runs `sessionctl check --instance inst` (the binary $SD_SESSIONCTL, else
 * SD_BINARY_DIR/sessionctl) against r; returns its exit status (0: every
 * invariant holds) and prints what it said when that is not 0, or -1 when
 * it could not run. */
int sd_test_sessionctl_check(const sd_test_redis *r, const char *inst);

/* A child program's exit status and whole output. */
typedef struct sd_test_run_result {
    int status;          /* exit status, or -1 when it did not exit normally */
    char *out;
    char *err;
} sd_test_run_result;

/* Runs argv[0] (a path) with argv, stdin_text (may be NULL) as its
 * standard input, and waits. Returns 0 or -1. Free with sd_test_run_free. */
int sd_test_run(sd_test_run_result *r, const char *stdin_text, char *const argv[]);
void sd_test_run_free(sd_test_run_result *r);

#endif
