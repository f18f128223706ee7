/* sessiond: the worker daemon. Parses options, loads the configuration,
 * and runs one event loop with the worker and its HTTP server; with
 * `workers` > 1, a supervisor binds the listening socket and forks that
 * many such processes, each with its own loop and Redis connection, all
 * accepting from that one socket. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/clock.h"
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
    sd_log(SD_LOG_INFO, "draining", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    sd_http_server_drain(d->server);
}

/* SIGHUP: reload every instance's keys (key rotation without a restart). */
static void on_reload_signal(evutil_socket_t sig, short what, void *arg) {
    sd_worker *worker = arg;
    char err[512] = "";
    int rc = sd_worker_reload_keys(worker, err, sizeof err);
    if (rc)
        sd_log(SD_LOG_ERROR, "key reload failed; keeping the current keys", "reason", err,
               NULL);
    else
        sd_log(SD_LOG_INFO, "keys reloaded", NULL);
}

/* ------------------------------------------------------------------------
 * One worker: an event loop with the worker and its HTTP server
 * ------------------------------------------------------------------------ */

/* Log lines go out in one write per loop iteration: the flush event is
 * activated by the first line and runs after the callbacks already active.
 * (A flush timer of 1 ms, which batches more lines per write, measured no
 * less CPU per request.) */
static void on_log_flush(evutil_socket_t fd, short what, void *arg) { sd_log_flush(); }

static void schedule_log_flush(void *arg) { event_active(arg, EV_TIMEOUT, 0); }

/* SIGTERM, SIGINT and SIGHUP stay blocked from the start of main until a
 * worker's loop has its handlers (or the supervisor waits for them), so one
 * that arrives during start-up is handled, never the default action that
 * would end the process. */
static void stop_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

/* Runs until drained (SIGTERM, SIGINT) and returns the exit status; with
 * check_only, validates the configuration and the keys and returns.
 * listen_fd is the supervisor's shared socket, or -1 to bind one. */
static int run_worker(const sd_config *cfg, int check_only, int listen_fd) {
    char err[512] = "";
    int status = 1;
    daemon_state d = {0};
    sd_worker worker;
    int worker_up = 0;
    struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL, *log_flush = NULL;

    if (!(d.base = event_base_new())) {
        fprintf(stderr, "sessiond: cannot create event loop\n");
        goto out;
    }
    if ((log_flush = event_new(d.base, -1, 0, on_log_flush, NULL)))
        sd_log_set_batching(schedule_log_flush, log_flush);
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
    d.server = sd_http_server_new(&worker, d.base, cfg, listen_fd, err, sizeof err);
    listen_fd = -1;
    if (!d.server) {
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
    sigset_t stops;
    stop_signals(&stops);
    sigprocmask(SIG_UNBLOCK, &stops, NULL);
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)cfg->listen_port);
    sd_log(SD_LOG_INFO, "listening", "host", cfg->listen_host, "port", port, "version",
           SD_VERSION, NULL);
    event_base_dispatch(d.base);
    sd_log(SD_LOG_INFO, "stopped", NULL);
    status = 0;
out:
    sd_log_set_batching(NULL, NULL);
    if (log_flush) event_free(log_flush);
    if (sig_term) event_free(sig_term);
    if (sig_int) event_free(sig_int);
    if (sig_hup) event_free(sig_hup);
    /* The worker first: freeing its store answers the requests still
     * waiting for Redis (a drain that timed out), and those answers need
     * their requests, which the server's free would take with it. */
    if (worker_up) sd_worker_cleanup(&worker);
    sd_http_server_free(d.server);
    if (listen_fd >= 0) close(listen_fd);
    if (d.base) event_base_free(d.base);
    return status;
}

/* ------------------------------------------------------------------------
 * Several workers: a supervisor that forks them and forwards signals
 * ------------------------------------------------------------------------ */

static void signal_all(const pid_t *kids, int n, int sig) {
    for (int i = 0; i < n; i++)
        if (kids[i] > 0) kill(kids[i], sig);
}

/* Forks cfg->workers workers, each named "<replica_id>-w<n>" (X-Served-By,
 * logs, events). SIGTERM/SIGINT are forwarded as SIGTERM and SIGHUP as
 * SIGHUP. Returns 0 when every worker drained and exited 0 after a stop
 * signal; 1 when one could not start or died unexpectedly (the others are
 * then stopped too, so that the service manager restarts the whole set),
 * or when one outlived drain_timeout + 5 s after the stop (it is killed). */
static int supervise(sd_config *cfg) {
    enum { MAX_WORKERS = 64 };
    pid_t kids[MAX_WORKERS] = {0};
    int n = (int)cfg->workers, alive = 0, failed = 0, stopping = 0;
    int64_t kill_at = 0;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    /* One socket for all: see sd_http_listen. */
    char err[512] = "";
    int listen_fd = sd_http_listen(cfg, err, sizeof err);
    if (listen_fd < 0) {
        fprintf(stderr, "sessiond: %s\n", err);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    pid_t supervisor = getpid();
    char count[24];
    snprintf(count, sizeof count, "%d", n);
    sd_log(SD_LOG_INFO, "starting workers", "workers", count, NULL);

    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            sd_log(SD_LOG_ERROR, "cannot fork a worker", "reason", strerror(errno), NULL);
            failed = stopping = 1;
            break;
        }
        if (pid == 0) {
            /* Workers drain when their supervisor dies, rather than serve
             * on with no one to stop or restart them. */
            if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != supervisor)
                exit(1);
            sigprocmask(SIG_SETMASK, &old, NULL);
            char id[300];
            snprintf(id, sizeof id, "%s-w%d", cfg->replica_id, i + 1);
            char *own = strdup(id);
            if (own) {
                free(cfg->replica_id);
                cfg->replica_id = own;
            }
            sd_log_set_replica(cfg->replica_id);
            int status = run_worker(cfg, 0, listen_fd);
            sd_config_free(cfg);
            exit(status);
        }
        kids[i] = pid;
        alive++;
    }
    /* The workers hold the socket now; once they all stop accepting, new
     * connections are refused. */
    close(listen_fd);
    if (stopping) {
        signal_all(kids, n, SIGTERM);
        kill_at = sd_monotonic_ms() + cfg->drain_timeout_ms + 5000;
    }

    while (alive > 0) {
        struct timespec tick = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            if (!stopping) {
                sd_log(SD_LOG_INFO, "stopping workers", "signal",
                       sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
                stopping = 1;
                kill_at = sd_monotonic_ms() + cfg->drain_timeout_ms + 5000;
            }
            signal_all(kids, n, SIGTERM);
        } else if (sig == SIGHUP) {
            signal_all(kids, n, SIGHUP);
        }
        /* SIGCHLD, or a tick: collect whoever exited. */
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            int i = 0;
            while (i < n && kids[i] != pid)
                i++;
            if (i == n) continue;
            kids[i] = 0;
            alive--;
            int clean = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                        (stopping && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
            if (stopping && clean) continue;
            char which[24], how[48];
            snprintf(which, sizeof which, "%d", i + 1);
            if (WIFEXITED(status))
                snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
            else
                snprintf(how, sizeof how, "signal %d",
                         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            sd_log(SD_LOG_ERROR,
                   stopping ? "worker failed while stopping"
                            : "worker exited unexpectedly; stopping the others",
                   "worker", which, "status", how, NULL);
            failed = 1;
            if (!stopping) {
                stopping = 1;
                kill_at = sd_monotonic_ms() + cfg->drain_timeout_ms + 5000;
                signal_all(kids, n, SIGTERM);
            }
        }
        if (stopping && alive > 0 && sd_monotonic_ms() >= kill_at) {
            sd_log(SD_LOG_ERROR, "workers did not stop in time; killing them", NULL);
            signal_all(kids, n, SIGKILL);
            failed = 1;
            kill_at = INT64_MAX;
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    sd_log(failed ? SD_LOG_ERROR : SD_LOG_INFO, failed ? "workers failed" : "stopped",
           NULL);
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    sigset_t stops;
    stop_signals(&stops);
    sigprocmask(SIG_BLOCK, &stops, NULL);
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
    signal(SIGPIPE, SIG_IGN);
    /* One worker runs in this process, exactly as without the setting. */
    int status = check_only || cfg->workers <= 1 ? run_worker(cfg, check_only, -1)
                                                  : supervise(cfg);
    sd_config_free(cfg);
    return status;
}
