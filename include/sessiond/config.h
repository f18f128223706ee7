/* sessiond configuration: one JSON file, every field overridable from the
 * environment (SPEC §6), validated once at start with the failing field named.
 *
 * Layering, lowest first: built-in defaults, the JSON file (optional), then
 * environment variables. Environment names are derived from JSON paths:
 *   listen                      -> SESSIOND_LISTEN
 *   redis.url                   -> SESSIOND_REDIS_URL
 *   instances[0].license_limit  -> SESSIOND_INSTANCES_0_LICENSE_LIMIT
 * Setting any SESSIOND_INSTANCES_<n>_* creates instance n if the file has
 * none, so a container can be configured by environment alone.
 *
 * Durations are JSON integers in milliseconds or strings with a unit:
 * "300ms", "45s", "20m", "1h". */
#ifndef SESSIOND_CONFIG_H
#define SESSIOND_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* How a token is tied to a session (SPEC §3 "binding"): the first rule that
 * the token can satisfy wins. */
typedef enum sd_binding_rule {
    SD_BIND_SID = 0,     /* client_id + sid claim */
    SD_BIND_SUBJECT,     /* client_id + sub (interactive tokens only) */
    SD_BIND_TOKEN,       /* the token itself: jti, else the token's hash */
} sd_binding_rule;

#define SD_MAX_BINDING_RULES 3
#define SD_MAX_INSTANCE_KEYS 16

typedef struct sd_pem_key {
    char *path;
    char *kid;           /* may be NULL */
} sd_pem_key;

typedef struct sd_instance_config {
    char *name;              /* [A-Za-z0-9_-]{1,64}; the Redis hash tag */
    char *issuer;            /* required */
    char *audience;          /* NULL: not checked */
    char **hosts;            /* Host header values that select it */
    size_t nhosts;
    char *jwks_file;         /* NULL or path */
    /* "jwks_uri": the identity server's JWKS URL (https://, or http:// to a
     * loopback host). Parsed into host, port and path-with-query; it is the
     * instance's only key source when set. */
    char *jwks_uri;          /* NULL, or the URL as written */
    char *jwks_host;         /* without brackets */
    uint16_t jwks_port;      /* default 443 (https) or 80 (http) */
    char *jwks_path;         /* "/path?query", at least "/" */
    int jwks_tls;            /* 1 for https */
    int64_t jwks_refresh_ms;     /* refetch interval, default 5 min */
    int64_t jwks_min_refetch_ms; /* unknown-kid refetch at most this often, default 30 s */
    int64_t jwks_timeout_ms;     /* whole-fetch time-out, default 5 s */
    sd_pem_key *pem_keys;    /* "pem_keys": [{"path":..., "kid":...}] */
    size_t npem_keys;
    char *hmac_secret;       /* NULL unless HMAC is explicitly enabled */
    int64_t license_limit;   /* seeds the pool limit in Redis; >= 0 */
    int64_t sliding_ms;      /* idle time-out, default 20 min */
    int64_t absolute_ms;     /* service sessions' lifetime, default 60 min */
    int64_t interactive_absolute_ms; /* 0 = none (default) */
    sd_binding_rule binding[SD_MAX_BINDING_RULES]; /* default sid,subject,token */
    size_t nbinding;
    char **reserved;         /* subjects guaranteed a seat; seeds Redis */
    size_t nreserved;
    int64_t max_sessions_per_subject; /* 0 = no cap (default) */
    /* "service_claim": {"name": ..., "value": ...}: a token whose claim
     * `name` equals `value` (or, for an array claim, contains it) is a
     * service token whatever its sub. NULL name = no such rule. */
    char *service_claim_name;
    char *service_claim_value;
} sd_instance_config;

typedef struct sd_config {
    char *listen_host;       /* "listen": "127.0.0.1:8080" */
    uint16_t listen_port;
    char *redis_host;        /* "redis": {"url": "redis://127.0.0.1:6379/0"} */
    uint16_t redis_port;
    int redis_db;
    char *redis_password;    /* from the URL's userinfo; may be NULL */
    int redis_url_set;       /* redis.url was given (not the default) */
    /* Sentinel: "redis": {"sentinels": ["host:port", ...], "master_name":
     * "mymaster", "sentinel_password": ...}. Cluster: "redis": {"cluster":
     * ["host:port", ...]} (seed nodes). At most one of the three topologies. */
    char **redis_sentinels;
    size_t nredis_sentinels;
    char *redis_master_name;
    char *redis_sentinel_password;   /* AUTH to the sentinels; may be NULL */
    char **redis_cluster;
    size_t nredis_cluster;
    char *redis_node_password;       /* "redis.password": AUTH to the data
                                        nodes, instead of the URL's */
    int64_t redis_timeout_ms;        /* per call, default 500 */
    int64_t redis_reconnect_max_ms;  /* back-off cap, default 2000 */
    int64_t sweep_interval_ms;       /* default 1000 */
    int64_t sweep_batch;             /* default 1000 */
    int64_t leeway_s;                /* default 60 */
    int64_t max_token_bytes;         /* default 8192 */
    int64_t token_cache_entries;     /* default 10000; 0 disables */
    int64_t max_body_bytes;          /* default 16384 */
    int64_t max_header_bytes;        /* default 16384 */
    int64_t drain_timeout_ms;        /* default 10000 */
    int64_t http_timeout_ms;         /* idle/partial request cut-off, default 30000 */
    char *replica_id;                /* default: hostname; X-Served-By */
    int64_t workers;                 /* worker processes, default 1 (no fork);
                                        more share the port (SO_REUSEPORT) */
    int64_t events_max;              /* lifecycle stream cap, default 10000 */
    char *admin_secret;              /* admin bearer secret (>= 32 bytes); NULL: none */
    char *admin_scope;               /* scope that makes a token an admin's;
                                        default "sessiond:admin" */
    char *log_level;                 /* "debug", "info" (default; one line per
                                        request), "warn" or "error" */
    sd_instance_config *instances;
    size_t ninstances;
} sd_config;

/* Loads the configuration. path may be NULL (defaults + environment only).
 * envp is the environment to read (NULL-terminated "K=V" strings; pass
 * `environ`), so tests can supply their own. On success returns 0 and a new
 * config in *out (free with sd_config_free). On failure returns SD_EINVAL,
 * SD_EIO or SD_ENOMEM and writes a one-line message naming the field, e.g.
 * "instances[0].license_limit: must be an integer >= 0", into err. */
int sd_config_load(const char *path, char *const *envp, sd_config **out,
                   char *err, size_t errlen);

/* Frees everything the config owns. NULL is accepted. */
void sd_config_free(sd_config *cfg);

/* Parses a duration ("300ms", "45s", "20m", "1h", or digits = ms) into
 * milliseconds. Returns 0 or SD_EINVAL. */
int sd_duration_parse(const char *text, int64_t *ms);

/* Parses "redis://[:password@]host[:port][/db]" (as redis.url). On success
 * stores a new host string and, when the URL has one, a new password string
 * (both for the caller to free; NULL when absent) and returns 0; else
 * returns SD_EINVAL or SD_ENOMEM with the reason (never the password) in
 * err. */
int sd_redis_url_parse(const char *url, char **host, uint16_t *port, int *db,
                       char **password, char *err, size_t errlen);

/* Parses "host:port" (host: IPv4 address, DNS name, or [IPv6]; port
 * 1..65535), as in redis.sentinels and redis.cluster. On success stores a new
 * host string (caller frees) and returns 0; else SD_EINVAL (reason in err)
 * or SD_ENOMEM. */
int sd_hostport_parse(const char *text, char **host, uint16_t *port, char *err,
                      size_t errlen);

/* The password for AUTH to the Redis data nodes: redis.password, else the
 * one in redis.url, else NULL. */
const char *sd_config_redis_password(const sd_config *cfg);

/* Finds an instance by name; NULL if none. */
const sd_instance_config *sd_config_instance(const sd_config *cfg,
                                             const char *name);

#endif
