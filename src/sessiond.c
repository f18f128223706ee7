/* sessiond: the worker daemon. Parses options, loads the configuration,
 * and runs one event loop with the worker and its HTTP server. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/log.h"
#include "http/server.h"
#include "sessiond/config.h"
#include "sessiond/error.h"
#include "worker/worker.h"

extern char **environ;

static void usage(FILE *out) {
    fputs("usage: sessiond [-c FILE] [--check-config]\n"
          "\n"
          "  -c, --config FILE   JSON configuration (optional: defaults and\n"
          "                      SESSIOND_* environment variables apply)\n"
          "  --check-config      validate the configuration and the keys, then exit\n"
          "  -h, --help          this text\n"
          "  --version           print the version\n",
          out);
}

typedef struct daemon_state {
    struct event_base *base;
    sd_http_server *server;
} daemon_state;

static void on_stop_signal(evutil_socket_t sig, short what, void *arg) {
    daemon_state *d = arg;
    sd_log(SD_LOG_INFO, "draining", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
           NULL);
    sd_http_server_drain(d->server);
}

/* SIGHUP: reload every instance's keys (key rotation without a restart). */
static void on_reload_signal(evutil_socket_t sig, short what, void *arg) {
    sd_worker *worker = arg;
    char err[512] = "";
    int rc = sd_worker_reload_keys(worker, err, sizeof err);
    if (rc)
        sd_log(SD_LOG_ERROR, "key reload failed; keeping the current keys", "reason",
               err, NULL);
    else
        sd_log(SD_LOG_INFO, "keys reloaded", NULL);
}

int main(int argc, char **argv) {
    const char *config_path = NULL;
    int check_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 == argc) {
                fprintf(stderr, "sessiond: %s needs a FILE\n", argv[i]);
                usage(stderr);
                return 2;
            }
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            puts("sessiond " SD_VERSION);
            return 0;
        } else {
            fprintf(stderr, "sessiond: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    char err[512] = "";
    sd_config *cfg = NULL;
    if (sd_config_load(config_path, environ, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "sessiond: configuration: %s\n", err);
        return 1;
    }
    sd_log_set_replica(cfg->replica_id);
    sd_log_set_level((sd_log_level)sd_log_level_parse(cfg->log_level));

    int status = 1;
    daemon_state d = {0};
    sd_worker worker;
    int worker_up = 0;
    struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL;
    signal(SIGPIPE, SIG_IGN);

    if (!(d.base = event_base_new())) {
        fprintf(stderr, "sessiond: cannot create event loop\n");
        goto out;
    }
    if (sd_worker_init(&worker, d.base, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "sessiond: %s\n", err);
        goto out;
    }
    worker_up = 1;
    if (check_only) {
        printf("sessiond: configuration OK (%zu instance%s)\n", cfg->ninstances,
               cfg->ninstances == 1 ? "" : "s");
        status = 0;
        goto out;
    }
    if (!(d.server = sd_http_server_new(&worker, d.base, cfg, err, sizeof err))) {
        fprintf(stderr, "sessiond: %s\n", err);
        goto out;
    }
    sig_term = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
    sig_int = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
    sig_hup = evsignal_new(d.base, SIGHUP, on_reload_signal, &worker);
    if (!sig_term || !sig_int || !sig_hup || evsignal_add(sig_term, NULL) ||
        evsignal_add(sig_int, NULL) || evsignal_add(sig_hup, NULL)) {
        fprintf(stderr, "sessiond: cannot install signal handlers\n");
        goto out;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)cfg->listen_port);
    sd_log(SD_LOG_INFO, "listening", "host", cfg->listen_host, "port", port,
           "version", SD_VERSION, NULL);
    event_base_dispatch(d.base);
    sd_log(SD_LOG_INFO, "stopped", NULL);
    status = 0;
out:
    if (sig_term) event_free(sig_term);
    if (sig_int) event_free(sig_int);
    if (sig_hup) event_free(sig_hup);
    sd_http_server_free(d.server);
    if (worker_up) sd_worker_cleanup(&worker);
    if (d.base) event_base_free(d.base);
    sd_config_free(cfg);
    return status;
}
