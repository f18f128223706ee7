/* Process and HTTP helpers for the integration tests (see harness.h). */
#include "harness.h"
#include "jws_mint.h"

#include <openssl/rsa.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sd_test_sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

long long sd_test_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sd_test_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ------------------------------------------------------------------------
 * redis-server
 * ------------------------------------------------------------------------ */

pid_t sd_test_spawn(char *const argv[], const char *log_path) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    }
    execvp(argv[0], argv);
    _exit(127);
}

redisContext *sd_test_redis_connect(const sd_test_redis *r) {
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c) redisSetTimeout(c, tv);
    return c;
}

static int wait_redis(const sd_test_redis *r) {
    for (int i = 0; i < 200; i++) {
        redisContext *c = sd_test_redis_connect(r);
        if (c) {
            redisReply *reply = redisCommand(c, "PING");
            int ok = reply && reply->type == REDIS_REPLY_STATUS;
            freeReplyObject(reply);
            redisFree(c);
            if (ok) return 0;
        }
        sd_test_sleep_ms(25);
    }
    return -1;
}

int sd_test_redis_restart(sd_test_redis *r) {
    char port[16], log_path[200];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log_path, sizeof log_path, "%s/redis.log", r->dir);
    char *argv[] = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                    "--dir", r->dir, "--save", "", "--appendonly", "yes",
                    "--appendfsync", "always", NULL};
    r->pid = sd_test_spawn(argv, log_path);
    if (r->pid < 0) return -1;
    return wait_redis(r);
}

int sd_test_redis_start(sd_test_redis *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/sd-test-redis-XXXXXX");
    if (!mkdtemp(r->dir)) return -1;
    r->port = sd_test_free_port();
    return r->port > 0 ? sd_test_redis_restart(r) : -1;
}

void sd_test_redis_stop(sd_test_redis *r, int hard) {
    if (r->pid <= 0) return;
    kill(r->pid, hard ? SIGKILL : SIGTERM);
    kill(r->pid, SIGCONT); /* a test that failed while it was stopped */
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

long long sd_test_redis_int(const sd_test_redis *r, const char *fmt, ...) {
    redisContext *c = sd_test_redis_connect(r);
    if (!c) return -999;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = -999;
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        v = reply->integer;
    } else if (reply && reply->type == REDIS_REPLY_STRING) {
        /* Hash fields come back as strings; only a whole number counts. */
        char *end;
        long long parsed = strtoll(reply->str, &end, 10);
        if (reply->len > 0 && *end == '\0') v = parsed;
    }
    freeReplyObject(reply);
    redisFree(c);
    return v;
}

long long sd_test_redis_time_ms(const sd_test_redis *r) {
    redisContext *c = sd_test_redis_connect(r);
    if (!c) return -1;
    redisReply *reply = redisCommand(c, "TIME");
    long long ms = -1;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
        ms = atoll(reply->element[0]->str) * 1000 + atoll(reply->element[1]->str) / 1000;
    freeReplyObject(reply);
    redisFree(c);
    return ms;
}

long long sd_test_usage(const sd_test_redis *r, const char *inst) {
    long long now = sd_test_redis_time_ms(r);
    if (now < 0) return -999;
    return sd_test_redis_int(r, "ZCOUNT sd:{%s}:slots (%lld +inf", inst, now);
}

/* ------------------------------------------------------------------------
 * sessiond
 * ------------------------------------------------------------------------ */

char *sd_test_replace(const char *text, const char *what, const char *with) {
    size_t wl = strlen(what), tl = strlen(with), n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += wl) n++;
    char *out = malloc(strlen(text) + n * tl + 1), *o = out;
    if (!out) return NULL;
    for (const char *p = text, *q; ; p = q + wl) {
        q = strstr(p, what);
        size_t chunk = q ? (size_t)(q - p) : strlen(p);
        memcpy(o, p, chunk);
        o += chunk;
        if (!q) break;
        memcpy(o, with, tl);
        o += tl;
    }
    *o = '\0';
    return out;
}

int sd_test_daemon_start(sd_test_daemon *d, const char *config_json,
                         int redis_port, int wait_ready) {
    memset(d, 0, sizeof *d);
    d->port = sd_test_free_port();
    char port[16], rport[16];
    snprintf(port, sizeof port, "%d", d->port);
    snprintf(rport, sizeof rport, "%d", redis_port);
    char *a = sd_test_replace(config_json, "@PORT@", port);
    char *text = a ? sd_test_replace(a, "@REDIS_PORT@", rport) : NULL;
    free(a);
    if (!text) return -1;

    snprintf(d->config_path, sizeof d->config_path, "/tmp/sd-test-config-XXXXXX");
    int fd = mkstemp(d->config_path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        free(text);
        return -1;
    }
    close(fd);
    free(text);
    /* config_path is a short fixed pattern, so the name always fits. */
    size_t n = strlen(d->config_path);
    memcpy(d->log_path, d->config_path, n);
    memcpy(d->log_path + n, ".log", sizeof ".log");

    const char *bin = getenv("SD_SESSIOND");
    char fallback[512];
    if (!bin) {
        snprintf(fallback, sizeof fallback, "%s/sessiond", SD_BINARY_DIR);
        bin = fallback;
    }
    char *argv[] = {(char *)bin, "-c", d->config_path, NULL};
    d->pid = sd_test_spawn(argv, d->log_path);
    if (d->pid < 0) return -1;
    const char *probe = wait_ready ? "/readyz" : "/healthz";
    for (int i = 0; i < 400; i++) {
        sd_test_response res;
        if (sd_test_http(d->port, "GET", probe, NULL, NULL, &res) == 0 &&
            res.status == 200)
            return 0;
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
            d->pid = 0;
            return -1;
        }
        sd_test_sleep_ms(25);
    }
    return -1;
}

int sd_test_daemon_stop(sd_test_daemon *d) {
    if (d->pid <= 0) return -1;
    kill(d->pid, SIGTERM);
    kill(d->pid, SIGCONT); /* a test that failed while it was stopped */
    int status = 0;
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    unlink(d->config_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ------------------------------------------------------------------------
 * HTTP client
 * ------------------------------------------------------------------------ */

static int write_all(int fd, const char *buf, size_t len) {
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int sd_test_http(int port, const char *method, const char *path,
                 const char *bearer, const char *extra_headers,
                 sd_test_response *out) {
    return sd_test_http_body(port, method, path, bearer, extra_headers, NULL, out);
}

int sd_test_http_body(int port, const char *method, const char *path,
                      const char *bearer, const char *extra_headers, const char *body,
                      sd_test_response *out) {
    memset(out, 0, sizeof *out);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    size_t cap = 1024 + (bearer ? strlen(bearer) : 0) +
                 (extra_headers ? strlen(extra_headers) : 0) + strlen(path) +
                 (body ? strlen(body) : 0);
    char *req = malloc(cap);
    if (!req) {
        close(fd);
        return -1;
    }
    /* A test that sends its own Host (instance selection) replaces ours. */
    int own_host = extra_headers && (strncmp(extra_headers, "Host:", 5) == 0 ||
                                     strstr(extra_headers, "\r\nHost:") != NULL);
    char length[48] = "";
    if (body)
        snprintf(length, sizeof length, "Content-Length: %zu\r\n", strlen(body));
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\n%sConnection: close\r\n"
                     "%s%s%s%s%s\r\n%s",
                     method, path, own_host ? "" : "Host: 127.0.0.1\r\n",
                     bearer ? "Authorization: Bearer " : "",
                     bearer ? bearer : "", bearer ? "\r\n" : "",
                     extra_headers ? extra_headers : "", length, body ? body : "");
    int rc = write_all(fd, req, (size_t)n);
    free(req);
    if (rc) {
        close(fd);
        return -1;
    }
    /* Read until the server closes (Connection: close). */
    size_t got = 0, max = sizeof out->headers + sizeof out->body;
    char *buf = malloc(max + 1);
    if (!buf) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf + got, max - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == max) break;
    }
    close(fd);
    buf[got] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) {
        free(buf);
        return -1;
    }
    size_t hlen = (size_t)(end - buf) + 2;
    if (hlen >= sizeof out->headers) hlen = sizeof out->headers - 1;
    memcpy(out->headers, buf, hlen);
    out->headers[hlen] = '\0';
    size_t blen = got - (size_t)(end + 4 - buf);
    if (blen >= sizeof out->body) blen = sizeof out->body - 1;
    memcpy(out->body, end + 4, blen);
    out->body[blen] = '\0';
    out->body_len = blen;
    free(buf);
    return 0;
}

int sd_test_header(const sd_test_response *res, const char *name, char *out,
                   size_t cap) {
    size_t nl = strlen(name);
    for (const char *line = strstr(res->headers, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ') v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= cap) len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return 0;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Tokens, metrics and child programs
 * ------------------------------------------------------------------------ */

char *sd_test_token(EVP_PKEY *key, const char *kid, const char *iss, const char *sub,
                    const char *client, const char *sid, const char *jti, long ttl,
                    const char *extra) {
    char payload[2048], header[128];
    long now = (long)time(NULL);
    int n = snprintf(payload, sizeof payload, "{\"iss\":\"%s\",\"iat\":%ld,\"exp\":%ld",
                     iss, now, now + ttl);
    const char *names[] = {"sub", "client_id", "sid", "jti"};
    const char *values[] = {sub, client, sid, jti};
    for (int i = 0; i < 4; i++)
        if (values[i])
            n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"%s\":\"%s\"",
                          names[i], values[i]);
    snprintf(payload + n, sizeof payload - (size_t)n, "%s}", extra ? extra : "");
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
             kid);
    return sd_test_jws_sign(header, payload, "RS256", key);
}

double sd_test_metric(const char *text, const char *sample) {
    size_t n = strlen(sample);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, sample, n) == 0 && line[n] == ' ') return atof(line + n + 1);
        line = strchr(line, '\n');
        if (line) line++;
    }
    return -1;
}

static char *read_whole(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    size_t cap = 1 << 20, got = 0;
    char *buf = malloc(cap + 1);
    if (buf) got = fread(buf, 1, cap, f);
    fclose(f);
    if (buf) buf[got] = '\0';
    return buf;
}

int sd_test_run(sd_test_run_result *r, const char *stdin_text, char *const argv[]) {
    memset(r, 0, sizeof *r);
    char out_path[] = "/tmp/sd-run-out-XXXXXX", err_path[] = "/tmp/sd-run-err-XXXXXX",
         in_path[] = "/tmp/sd-run-in-XXXXXX";
    int out = mkstemp(out_path), err = mkstemp(err_path), in = mkstemp(in_path);
    if (out < 0 || err < 0 || in < 0) return -1;
    if (stdin_text && write_all(in, stdin_text, strlen(stdin_text)) != 0) return -1;
    lseek(in, 0, SEEK_SET);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    close(out);
    close(err);
    close(in);
    r->out = read_whole(out_path);
    r->err = read_whole(err_path);
    unlink(out_path);
    unlink(err_path);
    unlink(in_path);
    return r->out && r->err ? 0 : -1;
}

void sd_test_run_free(sd_test_run_result *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

const char *sd_test_stream_field(const redisReply *fields, const char *name) {
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0) return fields->element[i + 1]->str;
    return "";
}

int sd_test_stack_start(sd_test_stack *s, const char *config_template) {
    memset(s, 0, sizeof *s);
    s->key = EVP_RSA_gen(2048);
    if (!s->key || !(s->public_pem_path = sd_test_public_pem_file(s->key))) return -1;
    if (sd_test_redis_start(&s->redis)) return -1;
    char *config = sd_test_replace(config_template, "@KEY@", s->public_pem_path);
    int rc = config ? sd_test_daemon_start(&s->daemon, config, s->redis.port, 1) : -1;
    free(config);
    return rc;
}

void sd_test_stack_stop(sd_test_stack *s) {
    if (s->daemon.pid > 0) sd_test_daemon_stop(&s->daemon);
    if (s->redis.pid > 0) sd_test_redis_stop(&s->redis, 0);
    if (s->public_pem_path) unlink(s->public_pem_path);
    free(s->public_pem_path);
    EVP_PKEY_free(s->key);
    memset(s, 0, sizeof *s);
}

int sd_test_sessionctl_check(const sd_test_redis *r, const char *inst) {
    const char *bin = getenv("SD_SESSIONCTL");
    if (!bin) bin = SD_BINARY_DIR "/sessionctl";
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", r->port);
    char *argv[] = {(char *)bin,  "check",      "--redis", url,
                    "--instance", (char *)inst, NULL};
    sd_test_run_result res;
    if (sd_test_run(&res, NULL, argv) != 0) return -1;
    if (res.status != 0) fprintf(stderr, "sessionctl check:\n%s%s", res.out, res.err);
    int status = res.status;
    sd_test_run_free(&res);
    return status;
}
