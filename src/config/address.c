/* Parsers for the two address fields: "listen" ("host:port") and "redis.url"
 * ("redis://[:password@]host[:port][/db]"). Messages never echo a password. */
#include "config/config_internal.h"
#include "sessiond/error.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_NAME_MAX_LEN 253
#define REDIS_DEFAULT_PORT 6379

/* ------------------------------------------------------------------------
 * Pieces
 * ------------------------------------------------------------------------ */

void cfg_free_secret(char *s) {
    if (s == NULL) return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static char *dup_range(const char *s, size_t len) {
    char *out = malloc(len + 1);
    if (out == NULL) return NULL;
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

/* Parses len characters of digits as a number in [min, max]. Returns 0 or
 * -1. Ten digits need more than 32 bits, hence int64_t (long may be 32). */
static int parse_number(const char *s, size_t len, long min, long max,
                        long *out) {
    if (len == 0 || len > 10) return -1;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        n = n * 10 + (s[i] - '0');
    }
    if (n < min || n > max) return -1;
    *out = (long)n;
    return 0;
}

/* Checks a host of len characters: a DNS name, an IPv4 address (all-numeric
 * names must be one), or a bracketed IPv6 address. Stores a new copy without
 * brackets in *host. Returns 0, SD_EINVAL (reason in msg) or SD_ENOMEM. */
static int parse_host(const char *s, size_t len, char **host, char *msg,
                      size_t msglen) {
    char buf[HOST_NAME_MAX_LEN + 1];
    unsigned char addr[16];

    if (len == 0) {
        snprintf(msg, msglen, "host is missing");
        return SD_EINVAL;
    }
    if (s[0] == '[') {
        if (len < 3 || s[len - 1] != ']' || len - 2 > sizeof buf - 1) {
            snprintf(msg, msglen, "bad bracketed IPv6 address");
            return SD_EINVAL;
        }
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = '\0';
        if (inet_pton(AF_INET6, buf, addr) != 1) {
            snprintf(msg, msglen, "bad IPv6 address");
            return SD_EINVAL;
        }
        *host = dup_range(s + 1, len - 2);
        return *host ? 0 : SD_ENOMEM;
    }
    if (len > HOST_NAME_MAX_LEN) {
        snprintf(msg, msglen, "host name is longer than %d characters",
                 HOST_NAME_MAX_LEN);
        return SD_EINVAL;
    }
    int numeric = 1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
        if (!ok) {
            snprintf(msg, msglen, "host is not an IPv4 address or host name%s",
                     c == ':' ? " (write IPv6 addresses in brackets)" : "");
            return SD_EINVAL;
        }
        if (!((c >= '0' && c <= '9') || c == '.')) numeric = 0;
    }
    if (s[0] == '.' || s[0] == '-') {
        snprintf(msg, msglen, "host is not an IPv4 address or host name");
        return SD_EINVAL;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (numeric && inet_pton(AF_INET, buf, addr) != 1) {
        snprintf(msg, msglen, "host is not a valid IPv4 address");
        return SD_EINVAL;
    }
    *host = dup_range(s, len);
    return *host ? 0 : SD_ENOMEM;
}

/* Splits "host[:port]" of len characters. The port is required unless
 * default_port is non-zero. */
static int parse_authority(const char *s, size_t len, uint16_t default_port,
                           char **host, uint16_t *port, char *msg,
                           size_t msglen) {
    size_t host_len = len;
    const char *colon = NULL;

    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) {
            snprintf(msg, msglen, "bad bracketed IPv6 address");
            return SD_EINVAL;
        }
        host_len = (size_t)(close - s) + 1;
        if (host_len < len) {
            if (s[host_len] != ':') {
                snprintf(msg, msglen, "unexpected text after the IPv6 address");
                return SD_EINVAL;
            }
            colon = s + host_len;
        }
    } else {
        for (size_t i = len; i > 0; i--)
            if (s[i - 1] == ':') {
                colon = s + i - 1;
                break;
            }
        if (colon) host_len = (size_t)(colon - s);
    }

    long p = default_port;
    if (colon) {
        size_t plen = len - (size_t)(colon - s) - 1;
        if (parse_number(colon + 1, plen, 1, 65535, &p) != 0) {
            snprintf(msg, msglen, "port must be a number from 1 to 65535");
            return SD_EINVAL;
        }
    } else if (default_port == 0) {
        snprintf(msg, msglen, "must be \"host:port\", e.g. \"127.0.0.1:8080\"");
        return SD_EINVAL;
    }

    char *h = NULL;
    int rc = parse_host(s, host_len, &h, msg, msglen);
    if (rc != 0) return rc;
    *host = h;
    *port = (uint16_t)p;
    return 0;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes len characters into a new string in *out. Returns 0,
 * SD_EINVAL (bad escape or an encoded NUL) or SD_ENOMEM. */
static int percent_decode(const char *s, size_t len, char **out) {
    char *d = malloc(len + 1);
    if (d == NULL) return SD_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            d[n++] = s[i];
            continue;
        }
        int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            explicit_bzero(d, n);
            free(d);
            return SD_EINVAL;
        }
        d[n++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[n] = '\0';
    *out = d;
    return 0;
}

/* ------------------------------------------------------------------------
 * Public parsers
 * ------------------------------------------------------------------------ */

int cfg_parse_authority(const char *s, size_t len, uint16_t default_port,
                        char **host, uint16_t *port, char *msg, size_t msglen) {
    return parse_authority(s, len, default_port, host, port, msg, msglen);
}

int cfg_parse_hostport(const char *text, char **host, uint16_t *port,
                       char *msg, size_t msglen) {
    return parse_authority(text, strlen(text), 0, host, port, msg, msglen);
}

int sd_hostport_parse(const char *text, char **host, uint16_t *port, char *err,
                      size_t errlen) {
    return cfg_parse_hostport(text, host, port, err, errlen);
}

int cfg_parse_redis_url(const char *text, cfg_redis_url *out, char *msg,
                        size_t msglen) {
    static const char scheme[] = "redis://";
    const size_t scheme_len = sizeof scheme - 1;
    cfg_redis_url r = {NULL, REDIS_DEFAULT_PORT, 0, NULL};
    int rc = SD_EINVAL;

    if (strncasecmp(text, "rediss://", 9) == 0) {
        snprintf(msg, msglen, "TLS (rediss://) is not supported");
        return SD_EINVAL;
    }
    if (strncasecmp(text, scheme, scheme_len) != 0) {
        snprintf(msg, msglen,
                 "must be \"redis://[:password@]host[:port][/db]\"");
        return SD_EINVAL;
    }
    const char *auth = text + scheme_len;
    const char *path = strchr(auth, '/');
    size_t auth_len = path ? (size_t)(path - auth) : strlen(auth);
    if (strpbrk(auth, "?#") != NULL) {
        snprintf(msg, msglen, "query and fragment are not supported");
        return SD_EINVAL;
    }

    /* The password may contain '@' only percent-encoded, so the last '@'
     * of the authority ends the user information. */
    const char *at = NULL;
    for (size_t i = auth_len; i > 0; i--)
        if (auth[i - 1] == '@') {
            at = auth + i - 1;
            break;
        }
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        size_t user_len = colon ? (size_t)(colon - auth) : 0;
        if (colon == NULL ||
            (user_len != 0 &&
             !(user_len == 7 && strncmp(auth, "default", 7) == 0))) {
            snprintf(msg, msglen,
                     "only a password is supported in the user information "
                     "(redis://:password@host)");
            return SD_EINVAL;
        }
        size_t pw_len = (size_t)(at - colon) - 1;
        if (pw_len == 0) {
            snprintf(msg, msglen, "the password is empty");
            return SD_EINVAL;
        }
        rc = percent_decode(colon + 1, pw_len, &r.password);
        if (rc == SD_EINVAL)
            snprintf(msg, msglen, "the password has a bad %%-escape");
        if (rc != 0) return rc;
        auth_len -= (size_t)(at - auth) + 1;
        auth = at + 1;
    }

    rc = parse_authority(auth, auth_len, REDIS_DEFAULT_PORT, &r.host, &r.port,
                         msg, msglen);
    if (rc != 0) goto cleanup;

    if (path && path[1] != '\0') {
        long db;
        if (parse_number(path + 1, strlen(path + 1), 0, 1000000, &db) != 0) {
            snprintf(msg, msglen, "the database must be a number, e.g. /0");
            rc = SD_EINVAL;
            goto cleanup;
        }
        r.db = (int)db;
    }
    *out = r;
    return 0;

cleanup:
    free(r.host);
    cfg_free_secret(r.password);
    return rc;
}

int sd_redis_url_parse(const char *url, char **host, uint16_t *port, int *db,
                       char **password, char *err, size_t errlen) {
    cfg_redis_url r;
    int rc = cfg_parse_redis_url(url, &r, err, errlen);
    if (rc != 0) return rc;
    *host = r.host;
    *port = r.port;
    *db = r.db;
    *password = r.password;
    return 0;
}

/* ------------------------------------------------------------------------
 * Schema adapters: they write into an sd_config
 * ------------------------------------------------------------------------ */

static int listen_parse(void *base, const char *text, char *msg,
                        size_t msglen) {
    sd_config *cfg = base;
    char *host = NULL;
    uint16_t port = 0;
    int rc = cfg_parse_hostport(text, &host, &port, msg, msglen);
    if (rc != 0) return rc;
    free(cfg->listen_host);
    cfg->listen_host = host;
    cfg->listen_port = port;
    return 0;
}

static void listen_release(void *base) {
    sd_config *cfg = base;
    free(cfg->listen_host);
    cfg->listen_host = NULL;
}

static int redis_url_parse(void *base, const char *text, char *msg,
                           size_t msglen) {
    sd_config *cfg = base;
    cfg_redis_url r;
    int rc = cfg_parse_redis_url(text, &r, msg, msglen);
    if (rc != 0) return rc;
    free(cfg->redis_host);
    cfg_free_secret(cfg->redis_password);
    cfg->redis_host = r.host;
    cfg->redis_port = r.port;
    cfg->redis_db = r.db;
    cfg->redis_password = r.password;
    cfg->redis_url_set = 1;
    return 0;
}

static void redis_url_release(void *base) {
    sd_config *cfg = base;
    free(cfg->redis_host);
    cfg_free_secret(cfg->redis_password);
    cfg->redis_host = NULL;
    cfg->redis_password = NULL;
}

const cfg_custom cfg_listen_custom = {listen_parse, listen_release};
const cfg_custom cfg_redis_url_custom = {redis_url_parse, redis_url_release};
