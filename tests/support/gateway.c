/* nginx for the end-to-end tests (see gateway.h). */
#include "gateway.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int executable(const char *path) { return access(path, X_OK) == 0; }

const char *sd_test_nginx_binary(void) {
    static char found[512];
    const char *env = getenv("SD_NGINX");
    if (env && *env) return executable(env) ? env : NULL;
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0 && len + sizeof "/nginx" < sizeof found) {
            memcpy(found, p, len);
            memcpy(found + len, "/nginx", sizeof "/nginx");
            if (executable(found)) return found;
        }
        p += len + (end != NULL);
    }
    return executable("/usr/sbin/nginx") ? "/usr/sbin/nginx" : NULL;
}

/* Runs argv with stdout to out_path (or inherited when NULL) and extra
 * environment entries env ("NAME=value", NULL-terminated). Returns the exit
 * status, or -1. */
static int run(char *const argv[], char *const env[], const char *out_path) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        for (char *const *e = env; e && *e; e++)
            putenv(*e);
        if (out_path) {
            int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) _exit(127);
            dup2(fd, 1);
            close(fd);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* deploy/nginx/render.sh with loopback values, into dir/nginx.conf. */
static int render(const sd_test_nginx *n, const int *ports, size_t count,
                  const char *conf) {
    char listen[64], demo[64], run_dir[160], log_dir[160], ups[1024];
    snprintf(listen, sizeof listen, "SD_NGINX_LISTEN=127.0.0.1:%d", n->port);
    snprintf(demo, sizeof demo, "SD_NGINX_DEMO=127.0.0.1:%d", n->demo_port);
    snprintf(run_dir, sizeof run_dir, "SD_NGINX_RUN_DIR=%s", n->dir);
    snprintf(log_dir, sizeof log_dir, "SD_NGINX_LOG_DIR=%s", n->dir);
    size_t used = (size_t)snprintf(ups, sizeof ups, "SD_NGINX_UPSTREAMS=");
    for (size_t i = 0; i < count && used < sizeof ups; i++)
        used +=
            (size_t)snprintf(ups + used, sizeof ups - used, "127.0.0.1:%d ", ports[i]);
    if (used >= sizeof ups) return -1;
    char *env[] = {listen, demo, run_dir, log_dir, ups, NULL};
    char *argv[] = {"sh", SD_SOURCE_DIR "/deploy/nginx/render.sh",
                    SD_SOURCE_DIR "/deploy/nginx/nginx.conf.template", NULL};
    return run(argv, env, conf) == 0 ? 0 : -1;
}

int sd_test_nginx_start(sd_test_nginx *n, const int *upstream_ports, size_t nupstreams) {
    memset(n, 0, sizeof *n);
    const char *bin = sd_test_nginx_binary();
    if (!bin) return -1;
    snprintf(n->dir, sizeof n->dir, "/tmp/sd-test-nginx-XXXXXX");
    /* nginx's workers drop to nobody when the tests run as root, and must
     * still reach the temp directories inside. */
    if (!mkdtemp(n->dir) || chmod(n->dir, 0755) != 0) return -1;
    n->port = sd_test_free_port();
    n->demo_port = sd_test_free_port();
    if (n->port <= 0 || n->demo_port <= 0 || n->port == n->demo_port) return -1;

    char conf[200], errlog[200];
    snprintf(conf, sizeof conf, "%s/nginx.conf", n->dir);
    snprintf(errlog, sizeof errlog, "%s/error.log", n->dir);
    if (render(n, upstream_ports, nupstreams, conf) != 0) {
        fprintf(stderr, "gateway: deploy/nginx/render.sh failed\n");
        return -1;
    }
    /* In the foreground, so the master is our child and SIGTERM ends it. */
    char *argv[] = {(char *)bin, "-p",   n->dir, "-c",          conf,
                    "-e",        errlog, "-g",   "daemon off;", NULL};
    n->pid = fork();
    if (n->pid < 0) return -1;
    if (n->pid == 0) {
        int fd = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(bin, argv);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        sd_test_response res;
        if (sd_test_http(n->port, "GET", "/healthz", NULL, NULL, &res) == 0 &&
            res.status == 200)
            return 0;
        if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
            n->pid = 0;
            fprintf(stderr, "gateway: nginx exited at start; see %s\n", errlog);
            return -1;
        }
        sd_test_sleep_ms(25);
    }
    fprintf(stderr, "gateway: nginx did not answer /healthz; see %s\n", errlog);
    return -1;
}

void sd_test_nginx_stop(sd_test_nginx *n) {
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        waitpid(n->pid, NULL, 0);
        n->pid = 0;
    }
    if (n->dir[0]) {
        char *argv[] = {"rm", "-rf", n->dir, NULL};
        run(argv, NULL, NULL);
        n->dir[0] = '\0';
    }
}
