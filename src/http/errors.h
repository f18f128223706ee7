/* The one table from sd_err codes to HTTP statuses and error bodies
 * (SPEC §5). Handlers never choose a status for a failure themselves. */
#ifndef SD_HTTP_ERRORS_H
#define SD_HTTP_ERRORS_H

typedef struct sd_http_error {
    int status;              /* e.g. 401 */
    const char *error;       /* SPEC §5 "error" code, e.g. "invalid_token" */
} sd_http_error;

/* Maps a negative sd_err to its status and error code; never fails
 * (unknown codes are 500 "internal_error"). */
sd_http_error sd_http_error_of(int err);

#endif
