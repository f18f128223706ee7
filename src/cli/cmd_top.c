/* sessionctl top: a live terminal view of every instance, redrawn each
 * second: a usage bar, opens / closes / denials in the last second, and the
 * newest events. Quits on 'q' (or after --iterations redraws). */
#include "cli/cli.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/clock.h"

#define BAR_WIDTH 30
#define NEWEST 10

static void usage(FILE *out) {
    fputs("Usage: sessionctl top [--instance NAME] [--iterations N] [--redis URL]\n"
          "\n"
          "A live view, redrawn every second: each instance's usage bar (used /\n"
          "limit, reserved), sessions opened, closed and denied in the last second,\n"
          "and the newest events. Press q to quit.\n"
          "\n"
          "  --iterations N    stop by itself after N redraws\n" CLI_REDIS_HELP
          "  -h, --help        this text\n",
          out);
}

enum { OPT_ITERATIONS = 1 };

static int own_option(int c, const char *arg, void *ctx) {
    int64_t *n = ctx;
    if (c == OPT_ITERATIONS && cli_parse_epoch(arg, n) == 0 && *n > 0) return 0;
    cli_error("top: --iterations '%s': expected a positive number", arg);
    return -1;
}

/* ------------------------------------------------------------------------
 * Terminal
 * ------------------------------------------------------------------------ */

static struct termios saved_termios;
static int termios_saved;
static volatile sig_atomic_t stop_requested;

static void restore_terminal(void) {
    if (termios_saved) tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
    termios_saved = 0;
}

static void on_signal(int sig) { stop_requested = 1; }

/* Single keys without Enter, no echo; undone at exit. */
static void raw_terminal(void) {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) != 0) return;
    struct termios raw = saved_termios;
    raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
        termios_saved = 1;
        atexit(restore_terminal);
    }
}

/* Waits up to ms for a key; returns 1 when 'q' was pressed. A closed stdin
 * (not a terminal) is only waited on, never read again. */
static int wait_for_quit(int ms, int *stdin_open) {
    int64_t until = sd_monotonic_ms() + ms;
    if (!*stdin_open) {
        poll(NULL, 0, ms);
        return 0;
    }
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return 0;
    char buf[64];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
        /* End of input: keep the rhythm, never read it again. */
        *stdin_open = 0;
        int64_t left = until - sd_monotonic_ms();
        if (left > 0) poll(NULL, 0, (int)left);
        return 0;
    }
    return memchr(buf, 'q', (size_t)n) != NULL || memchr(buf, 'Q', (size_t)n) != NULL;
}

/* ------------------------------------------------------------------------
 * One frame
 * ------------------------------------------------------------------------ */


typedef struct rates {
    long long opened, closed, denied;
} rates;

/* Counts the events of the last second (stream ids are Redis ms). */
static int last_second(cli_conn *c, const sd_instance *inst, long long now_ms,
                       rates *r) {
    char from[32];
    snprintf(from, sizeof from, "(%lld", now_ms - 1000);
    const char *argv[] = {"XRANGE", inst->key[SD_KEY_EVENTS], from, "+", "COUNT",
                          "100000"};
    redisReply *x = cli_redis_command(c, "top", 6, argv);
    if (!x) return -1;
    *r = (rates){0, 0, 0};
    for (size_t i = 0; i < x->elements; i++) {
        const redisReply *f = x->element[i]->element[1];
        const char *type = f->elements >= 2 ? f->element[1]->str : "";
        if (strcmp(type, "opened") == 0) r->opened++;
        else if (strcmp(type, "closed") == 0) r->closed++;
        else if (strcmp(type, "denied") == 0) r->denied++;
    }
    cli_reply_free(x);
    return 0;
}

/* Appends "instance id type fields" lines of the newest events to lines. */
static int newest_events(cli_conn *c, const sd_instance *inst, json_t *lines) {
    char count[8];
    snprintf(count, sizeof count, "%d", NEWEST);
    const char *argv[] = {"XREVRANGE", inst->key[SD_KEY_EVENTS], "+", "-", "COUNT",
                          count};
    redisReply *x = cli_redis_command(c, "top", 6, argv);
    if (!x) return -1;
    for (size_t i = 0; i < x->elements; i++) {
        const redisReply *e = x->element[i];
        char when[32], text[320], value[256];
        sd_format_time_ms(strtoll(e->element[0]->str, NULL, 10), when);
        int n = snprintf(text, sizeof text, "%.8s %-10.10s", when + 11, inst->name);
        const redisReply *f = e->element[1];
        for (size_t k = 0; k + 1 < f->elements && n < (int)sizeof text - 1; k += 2) {
            if (strcmp(f->element[k]->str, "replica") == 0 || !f->element[k + 1]->len)
                continue;
            n += snprintf(text + n, sizeof text - (size_t)n, " %s%s%s",
                          k ? f->element[k]->str : "", k ? "=" : "",
                          cli_escape(f->element[k + 1]->str, value, sizeof value));
        }
        /* Sorted later by stream id, which orders events across instances. */
        json_array_append_new(lines, json_pack("{s:s, s:s}", "id", e->element[0]->str,
                                               "text", text));
    }
    cli_reply_free(x);
    return 0;
}

static int by_id_desc(const void *a, const void *b) {
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));
    long long tx = strtoll(x, NULL, 10), ty = strtoll(y, NULL, 10);
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

static void draw_bar(long long used, long long limit) {
    int filled = limit > 0 ? (int)(used * BAR_WIDTH / limit) : 0;
    if (filled > BAR_WIDTH) filled = BAR_WIDTH;
    putchar('[');
    for (int i = 0; i < BAR_WIDTH; i++) putchar(i < filled ? '#' : '.');
    putchar(']');
}

static int frame(cli_conn *c, const cli_redis_opts *o) {
    char **names = NULL;
    size_t n = 0;
    if (cli_instance_names(c, o, "top", &names, &n) != CLI_EXIT_OK) return -1;
    json_t *lines = json_array();
    char stamp[32] = "";
    /* Redraw in place on a terminal; into a pipe, frames just follow. */
    if (isatty(STDOUT_FILENO)) printf("\033[H\033[2J");
    for (size_t i = 0; i < n; i++) {
        sd_instance inst;
        cli_instance(&inst, names[i]);
        json_t *u = cli_usage_of(c, names[i]);
        if (!u) continue;
        long long used = json_integer_value(json_object_get(u, "used"));
        json_t *lim = json_object_get(u, "limit");
        long long limit = json_is_integer(lim) ? json_integer_value(lim) : -1;
        const char *now = json_string_value(json_object_get(u, "now"));
        if (now) snprintf(stamp, sizeof stamp, "%s", now);
        rates r = {0, 0, 0};
        long long now_ms = 0;
        /* usage's "now" is Redis's clock; the stream ids use the same. */
        if (now) {
            struct tm tm = {0};
            int ms = 0;
            if (sscanf(now, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                       &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7) {
                tm.tm_year -= 1900;
                tm.tm_mon -= 1;
                now_ms = (long long)timegm(&tm) * 1000 + ms;
            }
        }
        if (now_ms) last_second(c, &inst, now_ms, &r);
        printf("%-16.16s ", names[i]);
        draw_bar(used, limit);
        printf(" %4lld/%-4lld reserved %-3zu | opened %3lld/s closed %3lld/s denied %3lld/s\n",
               used, limit, json_array_size(json_object_get(u, "reserved")), r.opened,
               r.closed, r.denied);
        newest_events(c, &inst, lines);
        json_decref(u);
    }
    if (n == 0) printf("(no instance has pool settings in Redis yet)\n");
    size_t count = json_array_size(lines);
    json_t **sorted = calloc(count ? count : 1, sizeof *sorted);
    for (size_t i = 0; sorted && i < count; i++) sorted[i] = json_array_get(lines, i);
    if (sorted && count) qsort(sorted, count, sizeof *sorted, by_id_desc);
    printf("\nnewest events (UTC %s)\n", stamp[0] ? stamp + 11 : "-");
    for (size_t i = 0; sorted && i < count && i < NEWEST; i++)
        printf("  %s\n", json_string_value(json_object_get(sorted[i], "text")));
    if (isatty(STDIN_FILENO)) printf("\npress q to quit\n");
    fflush(stdout);
    free(sorted);
    json_decref(lines);
    cli_free_names(names, n);
    return 0;
}

int cli_cmd_top(int argc, char **argv) {
    static const struct option options[] = {
        CLI_REDIS_LONG_OPTIONS,
        {"iterations", required_argument, NULL, OPT_ITERATIONS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_redis_opts o;
    int64_t iterations = 0;
    int rc = cli_parse_options(argc, argv, options, &o, own_option, &iterations, usage);
    if (rc >= 0) return rc;
    if (optind < argc) {
        cli_error("top: unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (o.json) {
        cli_error("top: no --json (it is a view); use 'usage --json' or 'events --json'");
        return CLI_EXIT_USAGE;
    }
    sd_instance probe;
    if (o.instance && sd_instance_init_names(&probe, o.instance, 0, NULL) != 0) {
        cli_error("top: --instance '%s': expected 1 to 64 of [A-Za-z0-9_-]", o.instance);
        return CLI_EXIT_USAGE;
    }
    cli_conn *c = cli_connect(&o);
    if (!c) return CLI_EXIT_FAILURE;
    raw_terminal();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int stdin_open = 1;
    rc = CLI_EXIT_OK;
    for (int64_t i = 0; !stop_requested && (!iterations || i < iterations); i++) {
        if (frame(c, &o) != 0) {
            rc = CLI_EXIT_FAILURE;
            break;
        }
        if (iterations && i + 1 == iterations) break;
        if (wait_for_quit(1000, &stdin_open)) break;
    }
    restore_terminal();
    cli_disconnect(c);
    return rc;
}
