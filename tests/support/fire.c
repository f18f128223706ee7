/* Many requests at once on their own connections (see fire.h). */
#include "fire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sd_test_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

size_t sd_test_read_to_close(int fd, char *buf, size_t cap) {
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    return got;
}

int sd_test_parse_response(const char *raw, size_t len, sd_test_response *out) {
    memset(out, 0, sizeof *out);
    const char *end = strstr(raw, "\r\n\r\n");
    if (!end || sscanf(raw, "HTTP/1.%*d %d", &out->status) != 1) return -1;
    size_t hlen = (size_t)(end - raw) + 2;
    if (hlen >= sizeof out->headers) hlen = sizeof out->headers - 1;
    memcpy(out->headers, raw, hlen);
    size_t blen = len - (size_t)(end + 4 - raw);
    if (blen >= sizeof out->body) blen = sizeof out->body - 1;
    memcpy(out->body, end + 4, blen);
    out->body_len = blen;
    return 0;
}

/* The request text of a shot; caller frees. */
static char *request_text(const sd_test_shot *s, size_t *len) {
    size_t cap = 512 + strlen(s->path) + (s->bearer ? strlen(s->bearer) : 0) +
                 (s->extra_headers ? strlen(s->extra_headers) : 0);
    char *req = malloc(cap);
    if (!req) return NULL;
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "%s%s%s%s\r\n",
                     s->method, s->path, s->bearer ? "Authorization: Bearer " : "",
                     s->bearer ? s->bearer : "", s->bearer ? "\r\n" : "",
                     s->extra_headers ? s->extra_headers : "");
    *len = (size_t)n;
    return req;
}

typedef struct pending {
    int fd;
    char *buf;
    size_t got;
    long long sent_at;
    int done;
} pending;

enum { MAX_ANSWER = 65536 };

static void finish_shot(sd_test_shot *s, pending *p) {
    p->done = 1;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    s->took_ms = sd_test_now_ms() - p->sent_at;
    p->buf[p->got] = '\0';
    s->res = calloc(1, sizeof *s->res);
    if (!s->res || sd_test_parse_response(p->buf, p->got, s->res) != 0) return;
    s->status = s->res->status;
    if (sd_test_header(s->res, "X-Session-Id", s->session_id, sizeof s->session_id))
        s->session_id[0] = '\0';
}

int sd_test_fire(sd_test_shot *shots, int n, int timeout_ms) {
    pending *p = calloc((size_t)n, sizeof *p);
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    if (!p || !pfd) {
        free(p);
        free(pfd);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        shots[i].status = -1;
        shots[i].session_id[0] = '\0';
        shots[i].res = NULL;
        p[i].buf = malloc(MAX_ANSWER + 1);
        p[i].fd = p[i].buf ? sd_test_connect(shots[i].port) : -1;
        if (p[i].fd < 0) p[i].done = 1;
    }
    /* Every connection is up: now every request, back to back. */
    for (int i = 0; i < n; i++) {
        if (p[i].done) continue;
        size_t len = 0;
        char *req = request_text(&shots[i], &len);
        p[i].sent_at = sd_test_now_ms();
        ssize_t w = req ? send(p[i].fd, req, len, MSG_NOSIGNAL) : -1;
        free(req);
        if (w != (ssize_t)len) {
            close(p[i].fd);
            p[i].fd = -1;
            p[i].done = 1;
        }
    }
    long long deadline = sd_test_now_ms() + timeout_ms;
    for (;;) {
        int open = 0;
        for (int i = 0; i < n; i++) {
            pfd[i].fd = p[i].done ? -1 : p[i].fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
            open += !p[i].done;
        }
        long long left = deadline - sd_test_now_ms();
        if (!open || left <= 0) break;
        if (poll(pfd, (nfds_t)n, (int)left) < 0 && errno != EINTR) break;
        for (int i = 0; i < n; i++) {
            if (p[i].done || !pfd[i].revents) continue;
            ssize_t r = read(p[i].fd, p[i].buf + p[i].got, MAX_ANSWER - p[i].got);
            if (r < 0 && errno == EINTR) continue;
            if (r > 0) p[i].got += (size_t)r;
            if (r <= 0 || p[i].got == MAX_ANSWER) finish_shot(&shots[i], &p[i]);
        }
    }
    int answered = 0;
    for (int i = 0; i < n; i++) {
        if (!p[i].done) {
            /* Out of time: no answer. */
            close(p[i].fd);
            shots[i].took_ms = sd_test_now_ms() - p[i].sent_at;
        }
        answered += shots[i].status > 0;
        free(p[i].buf);
    }
    free(p);
    free(pfd);
    return answered;
}

void sd_test_shots_free(sd_test_shot *shots, int n) {
    for (int i = 0; i < n; i++) {
        free(shots[i].res);
        shots[i].res = NULL;
    }
}
