/* Several worker processes on one port (`workers`): with workers = 2 both
 * children serve real HTTP on one socket the supervisor bound, each with
 * its own name in X-Served-By, and they share one session through Redis;
 * SIGHUP reaches every worker (each reloads its keys); SIGTERM to the
 * supervisor stops them all with exit 0; a worker that dies
 * makes the supervisor stop the other one and exit non-zero. workers = 1
 * forks nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fire.h"
#include "harness.h"

static const char config_template[] =
    "{\"listen\": \"127.0.0.1:@PORT@\", \"workers\": @WORKERS@,"
    " \"redis\": {\"url\": \"redis://127.0.0.1:@REDIS_PORT@\", \"timeout\": \"500ms\"},"
    " \"replica_id\": \"it\", \"drain_timeout\": \"2s\","
    " \"instances\": [{\"name\": \"workers\", \"issuer\": \"https://id.test/workers\","
    "   \"pem_keys\": [{\"path\": \"@KEY@\", \"kid\": \"k1\"}], \"license_limit\": 5}]}";

static sd_test_stack stack;

static int start(int workers) {
    char n[8];
    snprintf(n, sizeof n, "%d", workers);
    char *config = sd_test_replace(config_template, "@WORKERS@", n);
    int rc = config ? sd_test_stack_start(&stack, config) : -1;
    free(config);
    return rc;
}

static void stop(void) { sd_test_stack_stop(&stack); }

/* A sessiond a test started by hand (not through the stack), if any. */
static pid_t spawned;

/* After every test, also one that failed half way: nothing stays running. */
static int teardown(void **state) {
    if (spawned > 0) {
        kill(spawned, SIGKILL);
        waitpid(spawned, NULL, 0);
        spawned = 0;
    }
    if (stack.redis.pid > 0) kill(stack.redis.pid, SIGCONT);
    stop();
    return 0;
}

/* The child pids of pid (Linux /proc/<pid>/task/<pid>/children). */
static int children_of(pid_t pid, pid_t *out, int cap) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    int n = 0;
    for (char *p = strtok(buf, " \n"); p && n < cap; p = strtok(NULL, " \n"))
        out[n++] = (pid_t)atoi(p);
    return n;
}

static int gone(pid_t pid) { return kill(pid, 0) != 0; }

/* Occurrences of text in the daemon's log. */
static int log_count(const char *text) {
    FILE *f = fopen(stack.daemon.log_path, "r");
    if (!f) return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, text)) n++;
    fclose(f);
    return n;
}

static void test_two_workers_serve_and_stop_together(void **state) {
    assert_int_equal(start(2), 0);
    pid_t kids[8];
    assert_int_equal(children_of(stack.daemon.pid, kids, 8), 2);

    char *token = sd_test_token(stack.key, "k1", "https://id.test/workers", "ann", "web",
                                "s-1", NULL, 600, NULL);
    assert_non_null(token);
    int seen1 = 0, seen2 = 0;
    char first_id[64] = "";
    /* Each request is a new connection; the kernel spreads them by hash. */
    for (int i = 0; i < 400 && !(seen1 && seen2); i++) {
        sd_test_response res;
        assert_int_equal(
            sd_test_http(stack.daemon.port, "GET", "/v1/auth", token, NULL, &res), 0);
        assert_int_equal(res.status, 200);
        char by[64], id[64];
        assert_int_equal(sd_test_header(&res, "X-Served-By", by, sizeof by), 0);
        assert_int_equal(sd_test_header(&res, "X-Session-Id", id, sizeof id), 0);
        if (strcmp(by, "it-w1") == 0)
            seen1 = 1;
        else if (strcmp(by, "it-w2") == 0)
            seen2 = 1;
        else
            fail_msg("unexpected X-Served-By %s", by);
        /* One session, whichever worker resumes it. */
        if (!first_id[0]) snprintf(first_id, sizeof first_id, "%s", id);
        assert_string_equal(id, first_id);
    }
    free(token);
    assert_true(seen1);
    assert_true(seen2);

    /* SIGHUP to the supervisor: every worker reloads its keys. */
    kill(stack.daemon.pid, SIGHUP);
    for (int i = 0; i < 100 && log_count("\"msg\":\"keys reloaded\"") < 2; i++)
        sd_test_sleep_ms(20);
    assert_int_equal(log_count("\"replica\":\"it-w1\",\"msg\":\"keys reloaded\""), 1);
    assert_int_equal(log_count("\"replica\":\"it-w2\",\"msg\":\"keys reloaded\""), 1);

    assert_int_equal(sd_test_daemon_stop(&stack.daemon), 0);
    assert_true(gone(kids[0]));
    assert_true(gone(kids[1]));
    stop();
}

static void test_a_dead_worker_stops_the_other(void **state) {
    assert_int_equal(start(2), 0);
    pid_t kids[8];
    assert_int_equal(children_of(stack.daemon.pid, kids, 8), 2);
    kill(kids[0], SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(stack.daemon.pid, &status, 0), stack.daemon.pid);
    stack.daemon.pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    assert_true(gone(kids[1]));
    stop();
}

static void test_one_worker_forks_nothing(void **state) {
    assert_int_equal(start(1), 0);
    pid_t kids[8];
    assert_int_equal(children_of(stack.daemon.pid, kids, 8), 0);
    sd_test_response res;
    assert_int_equal(sd_test_http(stack.daemon.port, "GET", "/healthz", NULL, NULL, &res),
                     0);
    char by[64];
    assert_int_equal(sd_test_header(&res, "X-Served-By", by, sizeof by), 0);
    assert_string_equal(by, "it");
    assert_int_equal(sd_test_daemon_stop(&stack.daemon), 0);
    stop();
}

/* This stack's configuration with @WORKERS@ = workers, on port, written
 * to a temporary file whose path goes to path. Returns 0 or -1. */
static int write_config(int workers, int port, char path[64]) {
    char n[8], p[8], r[8];
    snprintf(n, sizeof n, "%d", workers);
    snprintf(p, sizeof p, "%d", port);
    snprintf(r, sizeof r, "%d", stack.redis.port);
    char *a = sd_test_replace(config_template, "@WORKERS@", n);
    char *b = a ? sd_test_replace(a, "@PORT@", p) : NULL;
    char *c = b ? sd_test_replace(b, "@REDIS_PORT@", r) : NULL;
    char *d = c ? sd_test_replace(c, "@KEY@", stack.public_pem_path) : NULL;
    int rc = -1;
    snprintf(path, 64, "/tmp/sd-test-workers-XXXXXX");
    int fd = d ? mkstemp(path) : -1;
    if (fd >= 0) {
        rc = write(fd, d, strlen(d)) == (ssize_t)strlen(d) ? 0 : -1;
        close(fd);
    }
    free(a);
    free(b);
    free(c);
    free(d);
    return rc;
}

/* A second set started on the address of a running one fails at once with
 * the reason, rather than quietly sharing the port. */
static void test_a_second_set_cannot_take_the_address(void **state) {
    assert_int_equal(start(2), 0);
    char path[64];
    assert_int_equal(write_config(2, stack.daemon.port, path), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/sessiond", SD_BINARY_DIR);
    char *argv[] = {bin, "-c", path, NULL};
    sd_test_run_result res;
    assert_int_equal(sd_test_run(&res, NULL, argv), 0);
    assert_int_equal(res.status, 1);
    char want[128];
    snprintf(want, sizeof want, "listen 127.0.0.1:%d: cannot bind: Address already in use",
             stack.daemon.port);
    assert_non_null(strstr(res.err, want));
    sd_test_run_free(&res);
    unlink(path);
    assert_int_equal(sd_test_daemon_stop(&stack.daemon), 0);
    stop();
}

/* Workers whose supervisor was killed drain and stop: nothing serves on
 * with no one to stop or restart it. */
static void test_workers_stop_when_the_supervisor_dies(void **state) {
    assert_int_equal(start(2), 0);
    assert_int_equal(kill(stack.daemon.pid, SIGKILL), 0);
    assert_int_equal(waitpid(stack.daemon.pid, NULL, 0), stack.daemon.pid);
    stack.daemon.pid = 0;
    int fd = 0;
    for (int i = 0; i < 300 && (fd = sd_test_connect(stack.daemon.port)) >= 0; i++) {
        close(fd);
        sd_test_sleep_ms(10);
    }
    assert_int_equal(fd, -1); /* refused: every worker has closed the socket */
    stop();
}

/* A SIGHUP that reaches workers while they are still starting (the
 * supervisor forwards it as soon as they are forked) is a key reload like
 * any other, not the end of the worker (its default action), which would
 * make the supervisor stop the whole set. */
static void test_sighup_during_start_is_harmless(void **state) {
    assert_int_equal(start(1), 0); /* for Redis and the key */
    assert_int_equal(sd_test_daemon_stop(&stack.daemon), 0);
    char path[64];
    int port = sd_test_free_port();
    assert_int_equal(write_config(2, port, path), 0);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/sessiond", SD_BINARY_DIR);
    char *argv[] = {bin, "-c", path, NULL};
    pid_t pid = spawned = sd_test_spawn(argv, stack.daemon.log_path);
    assert_true(pid > 0);
    pid_t kids[8];
    for (int i = 0; i < 2000 && children_of(pid, kids, 8) < 2; i++) usleep(500);
    assert_int_equal(children_of(pid, kids, 8), 2);
    assert_int_equal(kill(pid, SIGHUP), 0);
    sd_test_response res;
    int status = 0;
    for (int i = 0; i < 300 && status != 200; i++) {
        sd_test_sleep_ms(10);
        if (sd_test_http(port, "GET", "/readyz", NULL, NULL, &res) == 0) status = res.status;
    }
    assert_int_equal(status, 200);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* the supervisor runs */
    assert_int_equal(children_of(pid, kids, 8), 2);   /* and both workers */
    kill(pid, SIGTERM);
    int exit_status = -1;
    assert_int_equal(waitpid(pid, &exit_status, 0), pid);
    assert_true(WIFEXITED(exit_status));
    assert_int_equal(WEXITSTATUS(exit_status), 0);
    spawned = 0;
    unlink(path);
    stop();
}

/* A drain that reaches drain_timeout while a request still waits for Redis
 * (stopped here) ends cleanly: the worker used to free the request with
 * its server and then answer it from the store's cleanup (a crash). */
static void test_drain_timeout_with_a_call_waiting_exits_cleanly(void **state) {
    for (int workers = 1; workers <= 2; workers++) {
        char n[8];
        snprintf(n, sizeof n, "%d", workers);
        char *a = sd_test_replace(config_template, "@WORKERS@", n);
        char *b = sd_test_replace(a, "\"timeout\": \"500ms\"", "\"timeout\": \"3s\"");
        char *c = sd_test_replace(b, "\"drain_timeout\": \"2s\"", "\"drain_timeout\": \"300ms\"");
        assert_int_equal(sd_test_stack_start(&stack, c), 0);
        free(a);
        free(b);
        free(c);
        char *token = sd_test_token(stack.key, "k1", "https://id.test/workers", "dee", "web",
                                    "s-drain", NULL, 600, NULL);
        char request[4096];
        int len = snprintf(request, sizeof request,
                           "GET /v1/auth HTTP/1.1\r\nHost: t\r\n"
                           "Authorization: Bearer %s\r\n\r\n", token);
        assert_int_equal(kill(stack.redis.pid, SIGSTOP), 0);
        int fd = sd_test_connect(stack.daemon.port);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, request, (size_t)len), len);
        sd_test_sleep_ms(150);
        assert_int_equal(sd_test_daemon_stop(&stack.daemon), 0);
        close(fd);
        assert_int_equal(kill(stack.redis.pid, SIGCONT), 0);
        free(token);
        stop();
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_two_workers_serve_and_stop_together, teardown),
        cmocka_unit_test_teardown(test_a_dead_worker_stops_the_other, teardown),
        cmocka_unit_test_teardown(test_one_worker_forks_nothing, teardown),
        cmocka_unit_test_teardown(test_a_second_set_cannot_take_the_address, teardown),
        cmocka_unit_test_teardown(test_workers_stop_when_the_supervisor_dies, teardown),
        cmocka_unit_test_teardown(test_sighup_during_start_is_harmless, teardown),
        cmocka_unit_test_teardown(test_drain_timeout_with_a_call_waiting_exits_cleanly, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
