/* instances[].jwks_uri: an identity server's JWKS URL, split into what the
 * fetcher needs (host, port, path with query, TLS or not).
 *
 * Accepted: "https://host[:port][/path][?query]" for any host, and
 * "http://..." only when the host is a loopback address (127.0.0.0/8, ::1 or
 * "localhost"): keys fetched in the clear from anywhere else could be
 * replaced by anyone on the path, and every token would then be forgeable.
 * User information and fragments are refused; the path is visible ASCII. */
#include "config/config_internal.h"
#include "sessiond/error.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* 1 when host (brackets already removed) is a loopback address or name. */
static int is_loopback(const char *host) {
    unsigned char addr[16];
    if (strcasecmp(host, "localhost") == 0) return 1;
    if (inet_pton(AF_INET, host, addr) == 1) return addr[0] == 127;
    if (inet_pton(AF_INET6, host, addr) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        return memcmp(addr, one, sizeof one) == 0;
    }
    return 0;
}

/* A parsed jwks_uri; every string is owned. */
typedef struct jwks_url {
    char *host, *path;
    uint16_t port;
    int tls;
} jwks_url;

static int parse_url(const char *text, jwks_url *out, char *msg, size_t msglen) {
    const char *rest;
    if (strncasecmp(text, "https://", 8) == 0) {
        out->tls = 1;
        rest = text + 8;
    } else if (strncasecmp(text, "http://", 7) == 0) {
        out->tls = 0;
        rest = text + 7;
    } else {
        snprintf(msg, msglen, "must be an https:// URL");
        return SD_EINVAL;
    }
    for (const char *p = rest; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            snprintf(msg, msglen, "must not contain spaces or non-ASCII characters");
            return SD_EINVAL;
        }
    }
    if (strchr(rest, '#')) {
        snprintf(msg, msglen, "must not have a fragment");
        return SD_EINVAL;
    }
    size_t auth_len = strcspn(rest, "/?");
    if (memchr(rest, '@', auth_len)) {
        snprintf(msg, msglen, "must not contain user information");
        return SD_EINVAL;
    }
    int rc = cfg_parse_authority(rest, auth_len, out->tls ? 443 : 80, &out->host,
                                 &out->port, msg, msglen);
    if (rc != 0) return rc;
    if (!out->tls && !is_loopback(out->host)) {
        snprintf(msg, msglen,
                 "plain http:// is allowed only for loopback hosts (127.0.0.0/8, "
                 "::1, localhost); use https://");
        free(out->host);
        out->host = NULL;
        return SD_EINVAL;
    }
    const char *path = rest + auth_len;
    size_t plen = strlen(path);
    /* "https://h?x" has an empty path: the request line needs "/?x". */
    int slash = path[0] != '/';
    out->path = malloc(plen + (size_t)slash + 1);
    if (out->path == NULL) {
        free(out->host);
        out->host = NULL;
        return SD_ENOMEM;
    }
    if (slash) out->path[0] = '/';
    memcpy(out->path + slash, path, plen + 1);
    return 0;
}

/* ------------------------------------------------------------------------
 * Schema adapter: writes into an sd_instance_config
 * ------------------------------------------------------------------------ */

static int jwks_uri_parse(void *base, const char *text, char *msg, size_t msglen) {
    sd_instance_config *inst = base;
    jwks_url u = {NULL, NULL, 0, 0};
    int rc = parse_url(text, &u, msg, msglen);
    if (rc != 0) return rc;
    char *copy = strdup(text);
    if (copy == NULL) {
        free(u.host);
        free(u.path);
        return SD_ENOMEM;
    }
    free(inst->jwks_uri);
    free(inst->jwks_host);
    free(inst->jwks_path);
    inst->jwks_uri = copy;
    inst->jwks_host = u.host;
    inst->jwks_path = u.path;
    inst->jwks_port = u.port;
    inst->jwks_tls = u.tls;
    return 0;
}

static void jwks_uri_release(void *base) {
    sd_instance_config *inst = base;
    free(inst->jwks_uri);
    free(inst->jwks_host);
    free(inst->jwks_path);
    inst->jwks_uri = inst->jwks_host = inst->jwks_path = NULL;
}

const cfg_custom cfg_jwks_uri_custom = {jwks_uri_parse, jwks_uri_release};
