/* sessionctl check: scans instances for every broken invariant of SPEC §4
 * (keys without a TTL, slot entries without a session, sessions without a
 * slot, usage over the limit, ...) in small atomic batches, so a scan of a
 * busy instance never stalls Redis. Exit status 1 when anything is wrong. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "session/admin.h"

#define BATCH 500

static void usage(FILE *out) {
    fputs("Usage: sessionctl check [--instance NAME] [--grace MS] [--json] [--redis URL]\n"
          "\n"
          "Checks every instance in Redis (or one) against the invariants:\n"
          "  no_ttl                a key that must expire has no TTL\n"
          "  session_without_slot  a session key holds no license slot\n"
          "  slot_without_session  a live slot whose session key is gone\n"
          "  stale_slot            an expired slot the sweep never reaped\n"
          "  ttl_mismatch          a session expires at another time than its slot\n"
          "  binding_mismatch      a session's binding names another session\n"
          "  not_indexed, no_meta  bookkeeping entries missing\n"
          "  over_limit            more open sessions than the limit\n"
          "  bad_limit             the pool's limit is not a whole number >= 0\n"
          "Exit status 0 when all is well, 1 when a problem was found.\n"
          "\n"
          "  --grace MS        how long past expiry a slot may wait for the sweep\n"
          "                    (default 5000)\n" CLI_REDIS_HELP
          "  -h, --help        this text\n",
          out);
}

enum { OPT_GRACE = 1 };

static int own_option(int c, const char *arg, void *ctx) {
    if (c == OPT_GRACE && cli_parse_epoch(arg, (int64_t *)ctx) == 0) return 0;
    cli_error("check: --grace '%s': expected milliseconds", arg);
    return -1;
}

/* Appends the (kind, what, detail) triples of problems to out. */
static void collect(json_t *out, const char *instance, const redisReply *problems) {
    for (size_t i = 0; i + 2 < problems->elements; i += 3) {
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "instance", instance,
                                             "problem", problems->element[i]->str,
                                             "where", problems->element[i + 1]->str,
                                             "detail", problems->element[i + 2]->str));
    }
}

typedef struct scan_totals {
    long long keys;
} scan_totals;

/* Runs both scans of one instance. Returns 0, or -1 after printing why. */
static int check_instance(cli_conn *c, const char *name, int64_t grace, json_t *problems,
                          scan_totals *t) {
    sd_instance inst;
    cli_instance(&inst, name);
    char cursor[32] = "0";
    do {
        cli_pending p = {0};
        redisReply *r = cli_wait(c,
                                 sd_admin_check_keys(cli_store(c), &inst, cursor, BATCH,
                                                     cli_on_reply, &p),
                                 &p, "check");
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
            if (r) cli_error("check: unexpected reply from Redis");
            cli_reply_free(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[1]->str);
        t->keys += r->element[2]->integer;
        collect(problems, name, r->element[3]);
        cli_reply_free(r);
    } while (strcmp(cursor, "0") != 0);

    for (int64_t rank = 0; rank >= 0;) {
        cli_pending p = {0};
        redisReply *r = cli_wait(c,
                                 sd_admin_check_slots(cli_store(c), &inst, rank, BATCH,
                                                      grace, cli_on_reply, &p),
                                 &p, "check");
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
            if (r) cli_error("check: unexpected reply from Redis");
            cli_reply_free(r);
            return -1;
        }
        int64_t next = r->element[1]->integer;
        collect(problems, name, r->element[2]);
        cli_reply_free(r);
        rank = next;
    }
    return 0;
}

int cli_cmd_check(int argc, char **argv) {
    static const struct option options[] = {
        CLI_REDIS_LONG_OPTIONS,
        {"grace", required_argument, NULL, OPT_GRACE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_redis_opts o;
    int64_t grace = 5000;
    int rc = cli_parse_options(argc, argv, options, &o, own_option, &grace, usage);
    if (rc >= 0) return rc;
    if (optind < argc) {
        cli_error("check: unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    cli_conn *c = cli_connect(&o);
    if (!c) return CLI_EXIT_FAILURE;
    char **names = NULL;
    size_t n = 0;
    if ((rc = cli_instance_names(c, &o, "check", &names, &n)) != CLI_EXIT_OK) {
        cli_disconnect(c);
        return rc;
    }
    json_t *problems = json_array();
    scan_totals t = {0};
    rc = CLI_EXIT_OK;
    for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++)
        if (check_instance(c, names[i], grace, problems, &t) != 0) rc = CLI_EXIT_FAILURE;
    if (rc == CLI_EXIT_OK) {
        size_t bad = json_array_size(problems);
        if (o.json) {
            cli_print_json(json_pack("{s:I, s:I, s:O, s:b}", "instances", (json_int_t)n,
                                     "keys", (json_int_t)t.keys, "problems", problems,
                                     "ok", bad == 0));
        } else {
            size_t i;
            json_t *p;
            json_array_foreach(problems, i, p)
                printf("%-10s %-22s %s  %s\n",
                       json_string_value(json_object_get(p, "instance")),
                       json_string_value(json_object_get(p, "problem")),
                       json_string_value(json_object_get(p, "where")),
                       json_string_value(json_object_get(p, "detail")));
            printf("%s: %zu instance(s), %lld key(s) checked, %zu problem(s)\n",
                   bad ? "FAIL" : "OK", n, t.keys, bad);
        }
        if (bad) rc = CLI_EXIT_FAILURE;
    }
    json_decref(problems);
    cli_free_names(names, n);
    cli_disconnect(c);
    return rc;
}
