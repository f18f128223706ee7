/* Many HTTP requests at once, for the race and fault tests: every request
 * gets its own loopback connection, all connections are made first, then
 * every request is written, then all answers are read together (one thread,
 * poll), so the servers hold them all in flight at the same moment. */
#ifndef SD_TEST_FIRE_H
#define SD_TEST_FIRE_H

#include "harness.h"

/* One request and its answer. The caller fills the request fields. */
typedef struct sd_test_shot {
    int port;           /* 127.0.0.1:port */
    const char *method; /* "GET", "DELETE", ... */
    const char *path;
    const char *bearer;        /* NULL: no Authorization */
    const char *extra_headers; /* raw "Name: value\r\n" lines, or NULL */
    /* Filled by sd_test_fire: */
    int status;            /* HTTP status, or -1: no answer (refused, cut, time-out) */
    char session_id[64];   /* X-Session-Id, or "" */
    long long took_ms;     /* from the write to the end of the answer */
    sd_test_response *res; /* the whole answer (owned; sd_test_shots_free) */
} sd_test_shot;

/* Sends every shot at once and waits for all answers, at most timeout_ms in
 * all. Returns the number of shots that got an answer. */
int sd_test_fire(sd_test_shot *shots, int n, int timeout_ms);

/* Frees the answers sd_test_fire kept. */
void sd_test_shots_free(sd_test_shot *shots, int n);

/* A connected, blocking loopback socket to port, or -1. */
int sd_test_connect(int port);

/* Reads from fd until the peer closes (or an error or SO_RCVTIMEO ends
 * it) into buf, NUL-terminated; returns the bytes read (at most cap - 1). */
size_t sd_test_read_to_close(int fd, char *buf, size_t cap);

/* Parses a raw HTTP answer (headers and body) into out. Returns 0 or -1. */
int sd_test_parse_response(const char *raw, size_t len, sd_test_response *out);

#endif
