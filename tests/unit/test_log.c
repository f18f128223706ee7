/* The JSON-lines logger: exact line format and escaping, the too-long
 * fallback, and batching (lines wait for sd_log_flush, warnings flush what
 * waits first, the hook is called once per batch). stderr is redirected to
 * a temporary file for each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

typedef struct capture {
    char path[64];
    int saved;
} capture;

static int setup(void **state) {
    capture *c = calloc(1, sizeof *c);
    snprintf(c->path, sizeof c->path, "/tmp/sd-test-log-XXXXXX");
    int fd = mkstemp(c->path);
    if (fd < 0) return -1;
    fflush(stderr);
    c->saved = dup(2);
    dup2(fd, 2);
    close(fd);
    sd_log_set_level(SD_LOG_INFO);
    sd_log_set_replica(NULL);
    *state = c;
    return 0;
}

static int teardown(void **state) {
    capture *c = *state;
    sd_log_set_batching(NULL, NULL);
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    unlink(c->path);
    free(c);
    return 0;
}

/* What has reached the file so far, with each "time" value replaced by T. */
static char *written(capture *c) {
    fflush(stderr);
    FILE *f = fopen(c->path, "r");
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *out = calloc(1, n + 1), *o = out;
    for (const char *p = buf; *p;) {
        if (strncmp(p, "\"time\":\"", 8) == 0) {
            const char *end = strchr(p + 8, '"');
            /* The stamp is YYYY-MM-DDTHH:MM:SS.mmmZ. */
            assert_int_equal(end - (p + 8), 24);
            assert_int_equal(p[8 + 10], 'T');
            assert_int_equal(p[8 + 23], 'Z');
            memcpy(o, "\"time\":T", 8);
            o += 8;
            p = end + 1;
        } else {
            *o++ = *p++;
        }
    }
    return out;
}

static void test_line_format_and_escaping(void **state) {
    capture *c = *state;
    sd_log_set_replica("r\"1");
    sd_log(SD_LOG_INFO, "request", "k", "v\x01\x1f\"q\\ \xc3\xa9", "empty", NULL, NULL);
    sd_log(SD_LOG_DEBUG, "dropped", NULL);
    sd_log(SD_LOG_WARN, "m", NULL);
    char *out = written(c);
    assert_string_equal(out, "{\"time\":T,\"level\":\"info\",\"replica\":\"r\\\"1\","
                             "\"msg\":\"request\",\"k\":\"v\\u0001\\u001f\\\"q\\\\ "
                             "\xc3\xa9\",\"empty\":\"\"}\n"
                             "{\"time\":T,\"level\":\"warn\",\"replica\":\"r\\\"1\","
                             "\"msg\":\"m\"}\n");
    free(out);
}

static void test_too_long_line_stays_json(void **state) {
    capture *c = *state;
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    sd_log(SD_LOG_ERROR, "big", "k", big, NULL);
    free(big);
    char *out = written(c);
    assert_string_equal(
        out, "{\"time\":T,\"level\":\"error\",\"msg\":\"log line too long\"}\n");
    free(out);
}

static void count_hook(void *arg) { (*(int *)arg)++; }

static void test_batching(void **state) {
    capture *c = *state;
    int hooks = 0;
    sd_log_set_batching(count_hook, &hooks);
    sd_log(SD_LOG_INFO, "one", NULL);
    sd_log(SD_LOG_INFO, "two", NULL);
    char *out = written(c);
    assert_string_equal(out, ""); /* waiting */
    free(out);
    assert_int_equal(hooks, 1); /* once per batch */

    /* A warning goes out at once, after what waited. */
    sd_log(SD_LOG_WARN, "three", NULL);
    out = written(c);
    assert_string_equal(out, "{\"time\":T,\"level\":\"info\",\"msg\":\"one\"}\n"
                             "{\"time\":T,\"level\":\"info\",\"msg\":\"two\"}\n"
                             "{\"time\":T,\"level\":\"warn\",\"msg\":\"three\"}\n");
    free(out);

    sd_log(SD_LOG_INFO, "four", NULL);
    assert_int_equal(hooks, 2);
    sd_log_flush();
    out = written(c);
    assert_non_null(strstr(out, "\"msg\":\"four\"}\n"));
    free(out);

    /* More than a buffer's worth: written whole, in order, never split. */
    char value[300];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < 40; i++)
        sd_log(SD_LOG_INFO, "many", "v", value, NULL);
    sd_log_set_batching(NULL, NULL); /* flushes */
    out = written(c);
    int lines = 0;
    for (char *p = out; (p = strstr(p, "\"msg\":\"many\"")); p++)
        lines++;
    assert_int_equal(lines, 40);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        assert_int_equal(line[strlen(line) - 1], '}');
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format_and_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_long_line_stays_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
