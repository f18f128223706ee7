/* Loads the configuration in layers (defaults, JSON file, environment) and
 * validates it once (include/sessiond/config.h, SPEC §6). */
#include "config/config_internal.h"
#include "sessiond/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1024 * 1024)
#define HOSTNAME_LEN 256

/* ------------------------------------------------------------------------
 * Layers
 * ------------------------------------------------------------------------ */

/* Fills cfg (zeroed) with the built-in defaults. Returns 0 or SD_ENOMEM. */
static int set_defaults(sd_config *cfg) {
    char msg[128];
    char host[HOSTNAME_LEN];

    cfg->redis_timeout_ms = 500;
    cfg->redis_reconnect_max_ms = 2000;
    cfg->sweep_interval_ms = 1000;
    cfg->sweep_batch = 1000;
    cfg->leeway_s = 60;
    cfg->max_token_bytes = 8192;
    cfg->token_cache_entries = 10000;
    cfg->max_body_bytes = 16384;
    cfg->max_header_bytes = 16384;
    cfg->drain_timeout_ms = 10000;
    cfg->http_timeout_ms = 30000;
    cfg->events_max = 10000;
    cfg->workers = 1;

    int rc = cfg_listen_custom.parse(cfg, "127.0.0.1:8080", msg, sizeof msg);
    if (rc == 0)
        rc = cfg_redis_url_custom.parse(cfg, "redis://127.0.0.1:6379/0", msg,
                                        sizeof msg);
    if (rc != 0) return rc;
    cfg->redis_url_set = 0; /* the default is not the user's choice */

    /* gethostname() may truncate without a NUL; an empty or failed name
     * falls back to a fixed id so that validation does not blame the user. */
    if (gethostname(host, sizeof host) != 0) host[0] = '\0';
    host[sizeof host - 1] = '\0';
    cfg->replica_id = strdup(host[0] ? host : "sessiond");
    cfg->admin_scope = strdup("sessiond:admin");
    cfg->log_level = strdup("info");
    return cfg->replica_id && cfg->admin_scope && cfg->log_level ? 0 : SD_ENOMEM;
}

/* Reads the whole file at path into a new buffer (caller frees) of *len
 * bytes. Returns 0, SD_EIO (reason in err) or SD_ENOMEM. */
static int read_file(const char *path, char **buf, size_t *len, char *err,
                     size_t errlen) {
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t n = 0;
    int rc = SD_EIO;

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return SD_EIO;
    }
    data = malloc(CONFIG_FILE_MAX + 1);
    if (data == NULL) {
        rc = SD_ENOMEM;
        goto cleanup;
    }
    n = fread(data, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto cleanup;
    }
    if (n > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path,
                 CONFIG_FILE_MAX);
        goto cleanup;
    }
    *buf = data;
    *len = n;
    data = NULL;
    rc = 0;

cleanup:
    free(data);
    fclose(f);
    return rc;
}

/* Writes jansson's parse error as "<path>:<line>:<column>: <reason>". The
 * reason is cut before jansson's " near '<text>'" excerpt: that excerpt is
 * raw file text and may be part of a password or an HMAC secret. */
static void json_error_message(const char *path, const json_error_t *jerr,
                               char *err, size_t errlen) {
    const char *near = strstr(jerr->text, " near '");
    int reason_len = near ? (int)(near - jerr->text) : (int)strlen(jerr->text);
    snprintf(err, errlen, "%s:%d:%d: %.*s", path, jerr->line, jerr->column,
             reason_len, jerr->text);
}

/* Applies the JSON file at path to cfg. Duplicate keys, trailing garbage and
 * unknown fields are errors. */
static int apply_file(sd_config *cfg, const char *path, char *err,
                      size_t errlen) {
    char *text = NULL;
    size_t len = 0;
    json_error_t jerr;
    cfg_ctx ctx = {err, errlen, NULL};

    int rc = read_file(path, &text, &len, err, errlen);
    if (rc != 0) return rc;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (root == NULL) {
        json_error_message(path, &jerr, err, errlen);
        return SD_EINVAL;
    }
    if (!json_is_object(root))
        rc = cfg_fail(&ctx, path, SD_EINVAL, "must be a JSON object");
    else
        rc = cfg_apply_object(&cfg_root_table, cfg, root, "", &ctx);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

int sd_config_load(const char *path, char *const *envp, sd_config **out,
                   char *err, size_t errlen) {
    char scratch[1];
    int rc;
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    *out = NULL;

    sd_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) goto nomem;

    rc = set_defaults(cfg);
    if (rc == 0 && path != NULL) rc = apply_file(cfg, path, err, errlen);
    if (rc == 0) rc = cfg_apply_env(cfg, envp, err, errlen);
    if (rc == 0) rc = cfg_validate(cfg, err, errlen);
    if (rc == SD_ENOMEM) goto nomem;
    if (rc != 0) {
        sd_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;

nomem:
    sd_config_free(cfg);
    snprintf(err, errlen, "out of memory while loading the configuration");
    return SD_ENOMEM;
}

void sd_config_free(sd_config *cfg) {
    if (cfg == NULL) return;
    cfg_release_table(&cfg_root_table, cfg);
    free(cfg);
}

const char *sd_config_redis_password(const sd_config *cfg) {
    return cfg->redis_node_password ? cfg->redis_node_password : cfg->redis_password;
}

const sd_instance_config *sd_config_instance(const sd_config *cfg,
                                             const char *name) {
    if (cfg == NULL || name == NULL) return NULL;
    for (size_t i = 0; i < cfg->ninstances; i++)
        if (strcmp(cfg->instances[i].name, name) == 0)
            return &cfg->instances[i];
    return NULL;
}
