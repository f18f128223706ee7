/* The HTTP front of a worker (libevent evhttp): routes, limits, draining. */
#ifndef SD_HTTP_SERVER_H
#define SD_HTTP_SERVER_H

#include <stddef.h>

#include "worker/worker.h"

struct event_base;

typedef struct sd_http_server sd_http_server;

/* A listening socket on cfg's listen address, with the kernel's largest
 * accept queue. Several worker processes share one such socket (the
 * supervisor binds it before forking): the accept queue is then one, so a
 * worker that drains leaves queued connections to the others, and a second
 * sessiond cannot bind the same address. Returns the socket, or -1 with a
 * message in err. */
int sd_http_listen(const sd_config *cfg, char *err, size_t errlen);

/* Starts serving with worker w on listen_fd (from sd_http_listen; this
 * process's copy becomes the server's, closed when it stops listening), or
 * on a socket of its own when listen_fd is -1. On failure writes a message
 * into err and returns NULL (listen_fd is then closed). */
sd_http_server *sd_http_server_new(sd_worker *w, struct event_base *base,
                                   const sd_config *cfg, int listen_fd, char *err,
                                   size_t errlen);

/* Stops accepting connections, lets in-flight requests finish, then exits
 * the event loop (at the latest after cfg->drain_timeout_ms). */
void sd_http_server_drain(sd_http_server *srv);

/* Frees the server, closing every connection. NULL is accepted. */
void sd_http_server_free(sd_http_server *srv);

#endif
