/* sessionctl events: the instance's lifecycle stream (opened, closed with
 * its reason, denied, settings, revoked), newest last; --follow keeps
 * printing new events as they arrive. */
#include "cli/cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

static void usage(FILE *out) {
    fputs("Usage: sessionctl events [--count N] [--follow [--for SECONDS]]\n"
          "                         [--instance NAME] [--json] [--redis URL]\n"
          "\n"
          "Prints the latest events of the instance's lifecycle stream, oldest\n"
          "first: opened, closed (logout, idle, absolute, admin), denied\n"
          "(license_limit, subject_limit), settings and revoked. With --json, one\n"
          "JSON object per line.\n"
          "\n"
          "  --count N         how many of the latest events (default 20, max 10000)\n"
          "  --follow          then keep printing new events until interrupted\n"
          "  --for SECONDS     with --follow: stop after this long\n" CLI_REDIS_HELP
          "  -h, --help        this text\n",
          out);
}

enum { OPT_COUNT = 1, OPT_FOLLOW, OPT_FOR };

typedef struct events_opts {
    int64_t count;
    int follow;
    int64_t for_s;
} events_opts;

static int own_option(int c, const char *arg, void *ctx) {
    events_opts *e = ctx;
    switch (c) {
    case OPT_COUNT:
        if (cli_parse_epoch(arg, &e->count) == 0 && e->count >= 1 && e->count <= 10000)
            return 0;
        cli_error("events: --count '%s': expected 1..10000", arg);
        return -1;
    case OPT_FOLLOW: e->follow = 1; return 0;
    case OPT_FOR:
        if (cli_parse_seconds(arg, &e->for_s) == 0 && e->for_s > 0) return 0;
        cli_error("events: --for '%s': expected a duration in seconds", arg);
        return -1;
    default: return -1;
    }
}

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = 1; }

/* An entry [id, [field, value, ...]] as a JSON object with its fields plus
 * "event_id" (the stream id) and "time" (the stream id's milliseconds). A
 * field named "id" is the session's. */
static json_t *event_json(const redisReply *entry) {
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    const char *id = entry->element[0]->str;
    char when[32];
    sd_format_time_ms(strtoll(id, NULL, 10), when);
    json_t *obj = json_pack("{s:s, s:s}", "event_id", id, "time", when);
    const redisReply *f = entry->element[1];
    for (size_t i = 0; obj && i + 1 < f->elements; i += 2)
        json_object_set_new(obj, f->element[i]->str,
                            json_stringn(f->element[i + 1]->str, f->element[i + 1]->len));
    return obj;
}

/* One line per event: time, type, then the other fields as name=value. */
static void print_event(json_t *ev, int as_json) {
    if (as_json) {
        json_dumpf(ev, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
        fputc('\n', stdout);
        return;
    }
    const char *when = json_string_value(json_object_get(ev, "time"));
    printf("%.10s %.12s  %-8s", when, when + 11,
           json_string_value(json_object_get(ev, "type")));
    const char *key;
    json_t *v;
    json_object_foreach(ev, key, v) {
        if (strcmp(key, "event_id") == 0 || strcmp(key, "time") == 0 ||
            strcmp(key, "type") == 0)
            continue;
        const char *text = json_string_value(v);
        if (!text || !*text) continue;
        char *shown = cli_escaped(text);
        printf(" %s=%s", key, shown ? shown : "?");
        free(shown);
    }
    fputc('\n', stdout);
}

/* Prints the entries of an XRANGE/XREVRANGE reply in the order given by
 * `reverse`, and remembers the newest id in last (64 bytes). */
static int print_entries(const redisReply *r, int reverse, int as_json, char *last) {
    if (r->type != REDIS_REPLY_ARRAY) return -1;
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *entry = r->element[reverse ? r->elements - 1 - k : k];
        json_t *ev = event_json(entry);
        if (!ev) return -1;
        print_event(ev, as_json);
        snprintf(last, 64, "%s", json_string_value(json_object_get(ev, "event_id")));
        json_decref(ev);
    }
    fflush(stdout);
    return 0;
}

int cli_cmd_events(int argc, char **argv) {
    static const struct option options[] = {
        CLI_REDIS_LONG_OPTIONS,
        {"count", required_argument, NULL, OPT_COUNT},
        {"follow", no_argument, NULL, OPT_FOLLOW},
        {"for", required_argument, NULL, OPT_FOR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_redis_opts o;
    events_opts e = {.count = 20};
    int rc = cli_parse_options(argc, argv, options, &o, own_option, &e, usage);
    if (rc >= 0) return rc;
    if (optind < argc) {
        cli_error("events: unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (e.for_s && !e.follow) {
        cli_error("events: --for needs --follow");
        return CLI_EXIT_USAGE;
    }
    cli_conn *c;
    sd_instance inst;
    if ((rc = cli_open_instance(&o, "events", &c, &inst)) != CLI_EXIT_OK) return rc;
    const char *key = inst.key[SD_KEY_EVENTS];
    char count[24], last[64] = "0";
    snprintf(count, sizeof count, "%lld", (long long)e.count);
    const char *argv_rev[] = {"XREVRANGE", key, "+", "-", "COUNT", count};
    redisReply *r = cli_redis_command(c, "events", 6, argv_rev);
    if (!r || print_entries(r, 1, o.json, last) != 0) rc = CLI_EXIT_FAILURE;
    cli_reply_free(r);

    if (rc == CLI_EXIT_OK && e.follow) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        int64_t stop_at = e.for_s ? sd_monotonic_ms() + e.for_s * 1000 : 0;
        while (!interrupted && (!stop_at || sd_monotonic_ms() < stop_at)) {
            char from[70];
            snprintf(from, sizeof from, "(%s", last);
            const char *argv_fwd[] = {"XRANGE", key, from, "+", "COUNT", "1000"};
            r = cli_redis_command(c, "events", 6, argv_fwd);
            if (!r || print_entries(r, 0, o.json, last) != 0) rc = CLI_EXIT_FAILURE;
            cli_reply_free(r);
            if (rc != CLI_EXIT_OK) break;
            struct timespec pause = {0, 250 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    cli_disconnect(c);
    return rc;
}
