/* The HTTP limit of the benchmark: a bare libevent evhttp server that
 * answers every request 204 with no work at all, so wrk measures what one
 * evhttp event loop costs on this machine. sessiond's hot path is compared
 * with it under the same wrk settings (bench/run).
 *
 *   bench_evhttp_204 PORT [WORKERS]
 *
 * WORKERS processes (default 1) each bind 127.0.0.1:PORT with SO_REUSEPORT
 * and run their own loop, as sessiond's workers do. SIGTERM stops them. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

static void on_request(struct evhttp_request *req, void *arg) {
    evhttp_send_reply(req, 204, "No Content", NULL);
}

static void on_term(evutil_socket_t sig, short what, void *arg) {
    event_base_loopexit(arg, NULL);
}

static int listen_socket(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 1024)) {
        perror("bench_evhttp_204: listen");
        return -1;
    }
    return fd;
}

static int serve(int port) {
    int fd = listen_socket(port);
    if (fd < 0) return 1;
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (!http || !evhttp_accept_socket_with_handle(http, fd)) return 1;
    evhttp_set_default_content_type(http, NULL);
    evhttp_set_gencb(http, on_request, NULL);
    struct event *term = evsignal_new(base, SIGTERM, on_term, base);
    evsignal_add(term, NULL);
    event_base_dispatch(base);
    event_free(term);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: bench_evhttp_204 PORT [WORKERS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int workers = argc == 3 ? atoi(argv[2]) : 1;
    if (port <= 0 || port > 65535 || workers < 1 || workers > 64) return 2;
    signal(SIGPIPE, SIG_IGN);
    if (workers == 1) return serve(port);

    pid_t kids[64];
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (int i = 0; i < workers; i++) {
        if ((kids[i] = fork()) == 0) {
            sigprocmask(SIG_SETMASK, &old, NULL);
            _exit(serve(port));
        }
    }
    int sig = 0;
    sigwait(&set, &sig);
    for (int i = 0; i < workers; i++)
        kill(kids[i], SIGTERM);
    for (int i = 0; i < workers; i++)
        waitpid(kids[i], NULL, 0);
    return 0;
}
