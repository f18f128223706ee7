/* sessionctl usage: used / limit / reserved per instance (SPEC §4). */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "session/admin.h"

static void usage(FILE *out) {
    fputs("Usage: sessionctl usage [--instance NAME] [--json] [--redis URL]\n"
          "\n"
          "Prints license usage of every instance in Redis (or of one): open\n"
          "sessions, the limit, free slots, reserved subjects and the seats they\n"
          "hold, and when the next session can expire.\n"
          "\n" CLI_REDIS_HELP "  -h, --help        this text\n",
          out);
}

static const struct option options[] = {
    CLI_REDIS_LONG_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The usage document of one instance, or NULL after printing why. */
json_t *cli_usage_of(cli_conn *c, const char *name) {
    sd_instance inst;
    cli_instance(&inst, name);
    cli_pending p = {0};
    redisReply *r = cli_wait(c, sd_admin_usage(cli_store(c), &inst, cli_on_reply, &p),
                             &p, "usage");
    json_t *doc = r ? sd_admin_usage_json(&inst, r) : NULL;
    if (r && !doc) cli_error("usage: unexpected reply from Redis");
    cli_reply_free(r);
    return doc;
}

static void print_row(json_t *u) {
    json_t *limit = json_object_get(u, "limit");
    const char *invalid = json_string_value(json_object_get(u, "invalid_limit"));
    char limit_text[64] = "unset", free_text[24] = "-";
    if (invalid) {
        /* Workers use their configured limit then; sessionctl has none, so
         * it shows what is stored and no made-up free count. */
        char *text = cli_escaped(invalid);
        snprintf(limit_text, sizeof limit_text, "\"%.32s\" (invalid)", text ? text : "?");
        free(text);
    } else if (json_is_integer(limit)) {
        snprintf(limit_text, sizeof limit_text, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(limit));
    }
    if (json_is_integer(limit))
        snprintf(free_text, sizeof free_text, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(u, "available")));
    const char *next = json_string_value(json_object_get(u, "earliest_expiry"));
    printf("%-20s %6" JSON_INTEGER_FORMAT " %6s %6s %9zu %6" JSON_INTEGER_FORMAT "  %s\n",
           json_string_value(json_object_get(u, "instance")),
           json_integer_value(json_object_get(u, "used")), limit_text, free_text,
           json_array_size(json_object_get(u, "reserved")),
           json_integer_value(json_object_get(u, "seats_in_use")), next ? next : "-");
}

int cli_cmd_usage(int argc, char **argv) {
    cli_redis_opts o;
    int rc = cli_parse_options(argc, argv, options, &o, NULL, NULL, usage);
    if (rc >= 0) return rc;
    if (optind < argc) {
        cli_error("usage: unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    cli_conn *c = cli_connect(&o);
    if (!c) return CLI_EXIT_FAILURE;
    char **names = NULL;
    size_t n = 0;
    if ((rc = cli_instance_names(c, &o, "usage", &names, &n)) != CLI_EXIT_OK) {
        cli_disconnect(c);
        return rc;
    }
    json_t *all = json_array();
    for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++) {
        json_t *u = cli_usage_of(c, names[i]);
        if (!u) rc = CLI_EXIT_FAILURE;
        else json_array_append_new(all, u);
    }
    if (rc == CLI_EXIT_OK) {
        if (o.json) {
            rc = cli_print_json(json_pack("{s:O}", "instances", all));
        } else {
            printf("%-20s %6s %6s %6s %9s %6s  %s\n", "INSTANCE", "USED", "LIMIT",
                   "FREE", "RESERVED", "SEATS", "NEXT EXPIRY (UTC)");
            size_t i;
            json_t *u;
            json_array_foreach(all, i, u) print_row(u);
            if (n == 0) printf("(no instance has pool settings in Redis yet)\n");
        }
    }
    json_decref(all);
    cli_free_names(names, n);
    cli_disconnect(c);
    return rc;
}
