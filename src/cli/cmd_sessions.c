/* sessionctl list, show and close: who holds the licenses, since when, and
 * closing one session by hand (reason "admin"). */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "session/admin.h"
#include "sessiond/error.h"

static const struct option common_options[] = {
    CLI_REDIS_LONG_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* ------------------------------------------------------------------------
 * list
 * ------------------------------------------------------------------------ */

static void list_usage(FILE *out) {
    fputs("Usage: sessionctl list [--instance NAME] [--page N] [--cursor C] [--all]\n"
          "                       [--json] [--redis URL]\n"
          "\n"
          "Lists open sessions, newest first: who holds the licenses right now and\n"
          "since when. One page at a time (default 100); the last line tells how to\n"
          "get the next one.\n"
          "\n"
          "  --page N          sessions per page, 1..1000 (default 100)\n"
          "  --cursor C        start after this cursor (from a previous page)\n"
          "  --all             every page, one after the other\n" CLI_REDIS_HELP
          "  -h, --help        this text\n",
          out);
}

enum { OPT_PAGE = 1, OPT_CURSOR, OPT_ALL };

typedef struct list_opts {
    int64_t page;
    const char *cursor;
    int all;
} list_opts;

static int list_option(int c, const char *arg, void *ctx) {
    list_opts *l = ctx;
    switch (c) {
    case OPT_PAGE:
        if (cli_parse_epoch(arg, &l->page) != 0 || l->page < 1 ||
            l->page > SD_ADMIN_PAGE_MAX) {
            cli_error("list: --page '%s': expected 1..%d", arg, SD_ADMIN_PAGE_MAX);
            return -1;
        }
        return 0;
    case OPT_CURSOR: l->cursor = arg; return 0;
    case OPT_ALL: l->all = 1; return 0;
    default: return -1;
    }
}

/* A field for a table column, escaped into out (64 bytes: the columns are
 * narrower). */
static const char *str_of(json_t *s, const char *name, char out[64]) {
    const char *v = json_string_value(json_object_get(s, name));
    return v && *v ? cli_escape(v, out, 64) : "-";
}

/* "2026-12-03T10:00:00.000Z" -> "2026-12-03 10:00:00" for tables. */
static const char *short_time(const char *iso, char out[24]) {
    if (!iso || strlen(iso) < 19) return "-";
    snprintf(out, 24, "%.10s %.8s", iso, iso + 11);
    return out;
}

static void print_session_row(json_t *s) {
    char opened[24], seen[24], expires[24], id[64], sub[64], client[64], kind[64],
        seat[64];
    printf(
        "%-22s  %-16.16s %-14.14s %-11s %-8s %-19s  %-19s  %-19s %8" JSON_INTEGER_FORMAT
        "\n",
        str_of(s, "id", id), str_of(s, "subject", sub), str_of(s, "client_id", client),
        str_of(s, "kind", kind), str_of(s, "seat", seat),
        short_time(json_string_value(json_object_get(s, "opened_at")), opened),
        short_time(json_string_value(json_object_get(s, "last_seen")), seen),
        short_time(json_string_value(json_object_get(s, "expires_at")), expires),
        json_integer_value(json_object_get(s, "requests")));
}

int cli_cmd_list(int argc, char **argv) {
    static const struct option options[] = {
        CLI_REDIS_LONG_OPTIONS,
        {"page", required_argument, NULL, OPT_PAGE},
        {"cursor", required_argument, NULL, OPT_CURSOR},
        {"all", no_argument, NULL, OPT_ALL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_redis_opts o;
    list_opts l = {.page = 100};
    int rc = cli_parse_options(argc, argv, options, &o, list_option, &l, list_usage);
    if (rc >= 0) return rc;
    if (optind < argc) {
        cli_error("list: unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    cli_conn *c;
    sd_instance inst;
    if ((rc = cli_open_instance(&o, "list", &c, &inst)) != CLI_EXIT_OK) return rc;
    char *cursor = strdup(l.cursor ? l.cursor : "");
    json_t *collected = json_array();
    int header = 0;
    while (rc == CLI_EXIT_OK && cursor) {
        cli_pending p = {0};
        redisReply *r = cli_wait(
            c, sd_admin_list(cli_store(c), &inst, cursor, l.page, cli_on_reply, &p), &p,
            "list");
        int bad_cursor = 0;
        json_t *page = r ? sd_admin_list_json(&inst, r, &bad_cursor) : NULL;
        cli_reply_free(r);
        if (!page) {
            if (r) cli_error("list: unexpected reply from Redis");
            rc = CLI_EXIT_FAILURE;
            break;
        }
        json_t *sessions = json_object_get(page, "sessions");
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        free(cursor);
        cursor = next && l.all ? strdup(next) : NULL;
        if (o.json && !l.all) {
            rc = cli_print_json(page);
            break;
        }
        json_array_extend(collected, sessions);
        if (!o.json) {
            if (!header++) {
                printf("%" JSON_INTEGER_FORMAT " open session(s) at %s, newest first\n",
                       json_integer_value(json_object_get(page, "open")), inst.name);
                printf("%-22s  %-16s %-14s %-11s %-8s %-19s  %-19s  %-19s %8s\n",
                       "SESSION", "SUBJECT", "CLIENT", "KIND", "SEAT", "OPENED (UTC)",
                       "LAST SEEN", "EXPIRES", "REQUESTS");
            }
            size_t i;
            json_t *s;
            json_array_foreach(sessions, i, s) print_session_row(s);
            if (next && !l.all)
                printf("next page: sessionctl list --instance %s --cursor '%s'\n",
                       inst.name, next);
        }
        json_decref(page);
    }
    if (rc == CLI_EXIT_OK && o.json && l.all)
        rc = cli_print_json(json_pack("{s:s, s:O}", "instance", inst.name, "sessions",
                                      collected));
    json_decref(collected);
    free(cursor);
    cli_disconnect(c);
    return rc;
}

/* ------------------------------------------------------------------------
 * show
 * ------------------------------------------------------------------------ */

static void show_usage(FILE *out) {
    fputs("Usage: sessionctl show ID [--instance NAME] [--json] [--redis URL]\n"
          "\n"
          "Prints one open session: subject, client, kind, seat, binding, when it\n"
          "opened, was last seen and expires, and how many requests it served.\n"
          "Exit status 1 when no such session is open.\n"
          "\n" CLI_REDIS_HELP "  -h, --help        this text\n",
          out);
}

/* Parses the options and the one ID argument, connects and picks the
 * instance. Returns -1 to go on, else the exit status. */
static int one_id_command(int argc, char **argv, void (*usage)(FILE *),
                          cli_redis_opts *o, cli_conn **c, sd_instance *inst,
                          const char **id) {
    int rc = cli_parse_options(argc, argv, common_options, o, NULL, NULL, usage);
    if (rc >= 0) return rc;
    if (argc - optind != 1) {
        cli_error("%s: expected one session ID (see 'sessionctl %s --help')", argv[0],
                  argv[0]);
        return CLI_EXIT_USAGE;
    }
    *id = argv[optind];
    if (!**id || strlen(*id) > 64) {
        cli_error("%s: '%s' is not a session ID", argv[0], *id);
        return CLI_EXIT_USAGE;
    }
    rc = cli_open_instance(o, argv[0], c, inst);
    return rc == CLI_EXIT_OK ? -1 : rc;
}

int cli_cmd_show(int argc, char **argv) {
    cli_redis_opts o;
    cli_conn *c;
    sd_instance inst;
    const char *id;
    int rc = one_id_command(argc, argv, show_usage, &o, &c, &inst, &id);
    if (rc >= 0) return rc;
    cli_pending p = {0};
    redisReply *r = cli_wait(c, sd_admin_show(cli_store(c), &inst, id, cli_on_reply, &p),
                             &p, "show");
    int not_found = 0;
    json_t *s = r ? sd_admin_show_json(r, &not_found) : NULL;
    cli_reply_free(r);
    rc = CLI_EXIT_FAILURE;
    if (not_found) {
        cli_error("show: no open session '%s' at %s", id, inst.name);
    } else if (s && o.json) {
        rc = cli_print_json(s);
        s = NULL;
    } else if (s) {
        const char *key;
        json_t *v;
        json_object_foreach(s, key, v) {
            if (json_is_string(v)) {
                char *text = cli_escaped(json_string_value(v));
                printf("%-18s %s\n", key, text ? text : "?");
                free(text);
            } else if (json_is_integer(v))
                printf("%-18s %" JSON_INTEGER_FORMAT "\n", key, json_integer_value(v));
            else printf("%-18s -\n", key);
        }
        rc = CLI_EXIT_OK;
    } else if (r) {
        cli_error("show: unexpected reply from Redis");
    }
    json_decref(s);
    cli_disconnect(c);
    return rc;
}

/* ------------------------------------------------------------------------
 * close
 * ------------------------------------------------------------------------ */

static void close_usage(FILE *out) {
    fputs("Usage: sessionctl close ID [--instance NAME] [--redis URL]\n"
          "\n"
          "Closes an open session now and frees its slot; its \"closed\" event says\n"
          "reason \"admin\". The client's next request opens a new session if a slot\n"
          "is free. Exit status 1 when no such session is open.\n"
          "\n" CLI_REDIS_HELP "  -h, --help        this text\n",
          out);
}

int cli_cmd_close(int argc, char **argv) {
    cli_redis_opts o;
    cli_conn *c;
    sd_instance inst;
    const char *id;
    int rc = one_id_command(argc, argv, close_usage, &o, &c, &inst, &id);
    if (rc >= 0) return rc;
    cli_pending p = {0};
    redisReply *r = cli_wait(
        c, sd_session_close_id(cli_store(c), &inst, id, "admin", cli_on_reply, &p), &p,
        "close");
    sd_session_result res;
    rc = CLI_EXIT_FAILURE;
    if (r && sd_session_parse(r, &res) == 0 && res.code == SD_SCRIPT_CLOSED) {
        if (o.json)
            rc = cli_print_json(json_pack("{s:s, s:s, s:b}", "instance", inst.name, "id",
                                          id, "closed", 1));
        else {
            printf("closed session %s at %s\n", id, inst.name);
            rc = CLI_EXIT_OK;
        }
    } else if (r && res.code == SD_SCRIPT_NONE) {
        cli_error("close: no open session '%s' at %s", id, inst.name);
    } else if (r) {
        cli_error("close: unexpected reply from Redis");
    }
    cli_reply_free(r);
    cli_disconnect(c);
    return rc;
}
