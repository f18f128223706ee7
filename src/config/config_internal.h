/* Private to src/config/: the field schema that the JSON file reader, the
 * environment reader and sd_config_free all walk, plus the parsers they share. */
#ifndef SD_CONFIG_INTERNAL_H
#define SD_CONFIG_INTERNAL_H

#include "sessiond/config.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------
 * Schema
 * ------------------------------------------------------------------------ */

typedef enum cfg_type {
    CFG_STRING,    /* char *; JSON string or null */
    CFG_INT,       /* int64_t in [min, max]; JSON integer */
    CFG_DURATION,  /* int64_t milliseconds in [min, max]; integer ms or "20m" */
    CFG_SECONDS,   /* int64_t seconds in [min, max]; written as a duration */
    CFG_STRINGS,   /* char ** plus size_t count at count_offset */
    CFG_BINDING,   /* sd_binding_rule[SD_MAX_BINDING_RULES] plus count */
    CFG_PEM_KEYS,  /* sd_pem_key * plus count: [{"path":..., "kid":...}] */
    CFG_CUSTOM,    /* a string handed to custom->parse (listen, redis.url) */
    CFG_OBJECT,    /* nested JSON object whose members live in the same struct */
    CFG_INSTANCES, /* the array of instance objects (root table only) */
} cfg_type;

typedef struct cfg_table cfg_table;

/* A string field that is parsed into several struct members. */
typedef struct cfg_custom {
    /* Parses text into base; on failure writes the reason (without the field
     * name) into msg and returns SD_EINVAL or SD_ENOMEM. Must leave base
     * unchanged on failure. */
    int (*parse)(void *base, const char *text, char *msg, size_t msglen);
    /* Frees what parse stored in base. */
    void (*release)(void *base);
} cfg_custom;

typedef struct cfg_field {
    const char *name;         /* JSON member; its env name is the upper case */
    cfg_type type;
    size_t offset;            /* of the value in the struct */
    size_t count_offset;      /* list types: of the size_t element count */
    int64_t min, max;         /* numeric types */
    int secret;               /* value is never echoed; wiped when freed */
    const cfg_custom *custom; /* CFG_CUSTOM */
    const cfg_table *sub;     /* CFG_OBJECT, CFG_INSTANCES */
} cfg_field;

struct cfg_table {
    const cfg_field *fields;
    size_t nfields;
};

/* The root table (members of sd_config) and the instance table (members of
 * sd_instance_config). Defined in schema.c. */
extern const cfg_table cfg_root_table;
extern const cfg_table cfg_instance_table;

/* Where an error is reported: the caller's buffer, and the environment
 * variable the value came from (NULL for the file). */
typedef struct cfg_ctx {
    char *err;
    size_t errlen;
    const char *env_name;
} cfg_ctx;

/* Writes "<path>: <message>[ (from <env_name>)]" into ctx->err and returns
 * code. */
int cfg_fail(const cfg_ctx *ctx, const char *path, int code, const char *fmt,
             ...) __attribute__((format(printf, 4, 5)));

/* Applies one JSON value to field f of base; path names it in messages.
 * Replaces (and frees) any previous value. Returns 0, SD_EINVAL or
 * SD_ENOMEM. */
int cfg_set_field(const cfg_field *f, void *base, json_t *value,
                  const char *path, const cfg_ctx *ctx);

/* Applies every member of a JSON object to base through table t; unknown
 * members are an error naming them. prefix is the path of obj ("" at the
 * root). */
int cfg_apply_object(const cfg_table *t, void *base, json_t *obj,
                     const char *prefix, const cfg_ctx *ctx);

/* Frees every value table t describes in base (not base itself). */
void cfg_release_table(const cfg_table *t, void *base);

/* Fills an instance with its defaults (license_limit -1 = not set). Returns
 * 0 or SD_ENOMEM; on failure the instance holds nothing to free. */
int cfg_instance_defaults(sd_instance_config *inst);

/* Grows cfg->instances to n entries, new ones with defaults. Returns 0 or
 * SD_ENOMEM. */
int cfg_instances_grow(sd_config *cfg, size_t n);

/* Converts an environment value to the JSON value field f would have in the
 * file: lists are split on commas, integers parsed, everything else a
 * string. Returns a new reference or NULL when out of memory. */
json_t *cfg_env_value(const cfg_field *f, const char *text);

/* Applies every SESSIOND_* entry of envp to cfg. Returns 0, SD_EINVAL (an
 * unknown variable or a bad value, named in err) or SD_ENOMEM. */
int cfg_apply_env(sd_config *cfg, char *const *envp, char *err, size_t errlen);

/* Checks the rules that span fields (required fields, key sources, unique
 * names and hosts). Returns 0 or SD_EINVAL with the field named in err. */
int cfg_validate(const sd_config *cfg, char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * Addresses (address.c)
 * ------------------------------------------------------------------------ */

/* Parses "host:port" (host: IPv4 address, DNS name, or [IPv6]) into a new
 * host string the caller frees and a port in 1..65535. Returns 0, SD_EINVAL
 * (reason in msg) or SD_ENOMEM. */
int cfg_parse_hostport(const char *text, char **host, uint16_t *port,
                       char *msg, size_t msglen);

/* A parsed "redis://[:password@]host[:port][/db]" URL. */
typedef struct cfg_redis_url {
    char *host;      /* caller frees */
    uint16_t port;   /* default 6379 */
    int db;          /* default 0 */
    char *password;  /* NULL when absent; caller wipes and frees */
} cfg_redis_url;

/* Parses a Redis URL. The password is percent-decoded and never copied into
 * msg. Returns 0, SD_EINVAL (reason in msg) or SD_ENOMEM. */
int cfg_parse_redis_url(const char *text, cfg_redis_url *out, char *msg,
                        size_t msglen);

/* Splits "host[:port]" of len characters as the listen address does
 * (default_port 0: the port is required). Returns 0, SD_EINVAL (reason in
 * msg) or SD_ENOMEM; *host is a new string the caller frees. */
int cfg_parse_authority(const char *s, size_t len, uint16_t default_port,
                        char **host, uint16_t *port, char *msg, size_t msglen);

/* The listen and redis.url parsers in the schema's terms. */
extern const cfg_custom cfg_listen_custom;
extern const cfg_custom cfg_redis_url_custom;

/* instances[].jwks_uri (jwks_uri.c): writes into an sd_instance_config. */
extern const cfg_custom cfg_jwks_uri_custom;

/* Zeroes len bytes of a secret and frees it. NULL is accepted. */
void cfg_free_secret(char *s);

#endif
