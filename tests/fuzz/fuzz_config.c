/* Fuzz target: the configuration loader (src/config/: JSON file, schema,
 * durations, addresses, jwks_uri, environment overrides, validation).
 *
 * The input up to the first NUL byte is the JSON file; after it, each line
 * is one environment entry ("SESSIOND_...=value"). A load either succeeds
 * with a configuration that validation would accept again, or fails with a
 * message and nothing allocated (ASan sees leaks). */
#include "fuzz.h"

#include "sessiond/config.h"
#include "sessiond/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ENV 32

static char path[64];

static void remove_file(void) {
    if (path[0]) unlink(path);
}

/* One temp file per process, rewritten for every input. */
static const char *config_path(void) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/sd-fuzz-config-XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0) abort();
        close(fd);
        atexit(remove_file);
    }
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0;
    const uint8_t *nul = memchr(data, 0, size);
    size_t file_len = nul ? (size_t)(nul - data) : size;
    FILE *f = fopen(config_path(), "wb");
    if (!f) abort();
    fwrite(data, 1, file_len, f);
    fclose(f);

    /* Environment lines, NUL-terminated copies. */
    char *env_text = NULL;
    char *envp[MAX_ENV + 1];
    size_t nenv = 0;
    if (nul) {
        size_t env_len = size - file_len - 1;
        env_text = malloc(env_len + 1);
        if (!env_text) abort();
        memcpy(env_text, nul + 1, env_len);
        env_text[env_len] = '\0';
        for (char *line = env_text; line && *line && nenv < MAX_ENV;) {
            char *end = strchr(line, '\n');
            if (end) *end = '\0';
            envp[nenv++] = line;
            line = end ? end + 1 : NULL;
        }
    }
    envp[nenv] = NULL;

    char err[512];
    sd_config *cfg = NULL;
    int rc = sd_config_load(config_path(), envp, &cfg, err, sizeof err);
    if (rc == 0) {
        if (!cfg || cfg->ninstances == 0 || err[0] != '\0') abort();
        for (size_t i = 0; i < cfg->ninstances; i++) {
            const sd_instance_config *in = &cfg->instances[i];
            if (!in->name || !in->issuer || in->license_limit < 0) abort();
            if (in->jwks_uri && (!in->jwks_host || !in->jwks_path || in->jwks_path[0] != '/'))
                abort();
            if (sd_config_instance(cfg, in->name) != in) abort(); /* names are unique */
        }
        sd_config_free(cfg);
    } else if (cfg || strlen(err) == 0 || strlen(err) >= sizeof err) {
        abort();
    }
    free(env_text);
    return 0;
}
