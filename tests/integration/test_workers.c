/* Several worker processes on one port (`workers`): with workers = 2 both
 * children serve real HTTP on the same address (SO_REUSEPORT), each with
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_workers_serve_and_stop_together),
        cmocka_unit_test(test_a_dead_worker_stops_the_other),
        cmocka_unit_test(test_one_worker_forks_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
