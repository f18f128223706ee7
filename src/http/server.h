/* The HTTP front of a worker (libevent evhttp): routes, limits, draining. */
#ifndef SD_HTTP_SERVER_H
#define SD_HTTP_SERVER_H

#include <stddef.h>

#include "worker/worker.h"

struct event_base;

typedef struct sd_http_server sd_http_server;

/* Binds cfg's listen address and starts serving with worker w. On failure
 * writes a message into err and returns NULL. */
sd_http_server *sd_http_server_new(sd_worker *w, struct event_base *base,
                                   const sd_config *cfg, char *err,
                                   size_t errlen);

/* Stops accepting connections, lets in-flight requests finish, then exits
 * the event loop (at the latest after cfg->drain_timeout_ms). */
void sd_http_server_drain(sd_http_server *srv);

/* Frees the server, closing every connection. NULL is accepted. */
void sd_http_server_free(sd_http_server *srv);

#endif
