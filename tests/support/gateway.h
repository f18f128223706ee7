/* End-to-end test helper: nginx in front of sessiond replicas, configured
 * from deploy/nginx/nginx.conf.template by deploy/nginx/render.sh -- the
 * same template and renderer as docker-compose.yml and `scripts/dev up`, so
 * the tests check the configuration that is deployed. */
#ifndef SD_TEST_GATEWAY_H
#define SD_TEST_GATEWAY_H

#include <stddef.h>
#include <sys/types.h>

/* An nginx child (master in the foreground, its workers below it). */
typedef struct sd_test_nginx {
    pid_t pid;
    int port;      /* the load balancer: /v1/..., /api/..., /healthz */
    int demo_port; /* the demo upstream API (nginx itself) */
    char dir[128]; /* prefix: rendered nginx.conf, logs, temp files */
} sd_test_nginx;

/* The nginx binary: $SD_NGINX, else nginx on PATH, else /usr/sbin/nginx
 * (Debian's, often not on a user's PATH). NULL when there is none. The
 * string is static or from the environment: do not free it. */
const char *sd_test_nginx_binary(void);

/* Renders the template for nupstreams sessiond replicas on 127.0.0.1 at
 * upstream_ports, picks free ports for the load balancer and the demo API,
 * starts nginx and waits until /healthz answers 200. Returns 0, or -1 (the
 * reason on stderr; n->dir keeps the logs). */
int sd_test_nginx_start(sd_test_nginx *n, const int *upstream_ports, size_t nupstreams);

/* Stops nginx (SIGTERM, then waits for the master) and removes its
 * directory. Safe to call twice. */
void sd_test_nginx_stop(sd_test_nginx *n);

#endif
