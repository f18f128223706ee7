/* sessionctl limit, reserve and revoke: the pool settings and the
 * revocation list, changed live through the same scripts the admin API
 * uses. Every replica sees a change on its next claim. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/text.h"
#include "session/admin.h"

static const struct option options[] = {
    CLI_REDIS_LONG_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};


/* Runs settings-3 and prints the result. subjects may be NULL with n 0. */
static int change(cli_conn *c, const cli_redis_opts *o, const sd_instance *inst,
                  const char *what, const char *limit, const char *mode,
                  const char *const *subjects, size_t n) {
    cli_pending p = {0};
    redisReply *r = cli_wait(c,
                             sd_admin_settings(cli_store(c), inst, limit, mode, subjects,
                                               n, "sessionctl", cli_on_reply, &p),
                             &p, what);
    if (!r) return CLI_EXIT_FAILURE;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3;
    long long new_limit = ok ? r->element[1]->integer : 0;
    long long reserved = ok ? r->element[2]->integer : 0;
    cli_reply_free(r);
    if (!ok) {
        cli_error("%s: unexpected reply from Redis", what);
        return CLI_EXIT_FAILURE;
    }
    if (o->json)
        return cli_print_json(json_pack("{s:s, s:I, s:I}", "instance", inst->name,
                                        "limit", (json_int_t)new_limit, "reserved",
                                        (json_int_t)reserved));
    printf("%s: limit %lld, %lld reserved subject(s)\n", inst->name, new_limit,
           reserved);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * limit
 * ------------------------------------------------------------------------ */

static void limit_usage(FILE *out) {
    fputs("Usage: sessionctl limit set N [--instance NAME] [--json] [--redis URL]\n"
          "\n"
          "Sets the instance's license limit live. Open sessions are never closed:\n"
          "a limit below the current usage only refuses new sessions until enough\n"
          "have ended.\n"
          "\n" CLI_REDIS_HELP "  -h, --help        this text\n",
          out);
}

int cli_cmd_limit(int argc, char **argv) {
    cli_redis_opts o;
    cli_conn *c;
    sd_instance inst;
    /* Validate the words before connecting: a typo must not need Redis. */
    int rc = cli_parse_options(argc, argv, options, &o, NULL, NULL, limit_usage);
    if (rc >= 0) return rc;
    int64_t n;
    if (argc - optind != 2 || strcmp(argv[optind], "set") != 0) {
        cli_error("limit: expected 'limit set N' (see 'sessionctl limit --help')");
        return CLI_EXIT_USAGE;
    }
    if (cli_parse_epoch(argv[optind + 1], &n) != 0 || n > 100000000) {
        cli_error("limit: the limit must be a whole number from 0 to 100000000, not '%s'",
                  argv[optind + 1]);
        return CLI_EXIT_USAGE;
    }
    const char *value = argv[optind + 1];
    if ((rc = cli_open_instance(&o, "limit", &c, &inst)) != CLI_EXIT_OK) return rc;
    rc = change(c, &o, &inst, "limit", value, "keep", NULL, 0);
    cli_disconnect(c);
    return rc;
}

/* ------------------------------------------------------------------------
 * reserve
 * ------------------------------------------------------------------------ */

static void reserve_usage(FILE *out) {
    fputs("Usage: sessionctl reserve add SUBJECT... [--instance NAME] [--redis URL]\n"
          "       sessionctl reserve remove SUBJECT...\n"
          "       sessionctl reserve list\n"
          "\n"
          "Changes or lists the subjects guaranteed a seat. Each reserved subject\n"
          "always finds one slot; everybody else shares limit - reserved.\n"
          "\n" CLI_REDIS_HELP "  -h, --help        this text\n",
          out);
}

int cli_cmd_reserve(int argc, char **argv) {
    cli_redis_opts o;
    cli_conn *c;
    sd_instance inst;
    int rc = cli_parse_options(argc, argv, options, &o, NULL, NULL, reserve_usage);
    if (rc >= 0) return rc;
    const char *verb = optind < argc ? argv[optind] : "";
    int is_list = strcmp(verb, "list") == 0;
    int is_change = strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0;
    if ((!is_list && !is_change) || (is_list && argc - optind != 1) ||
        (is_change && argc - optind < 2)) {
        cli_error("reserve: expected 'add SUBJECT...', 'remove SUBJECT...' or 'list' "
                  "(see 'sessionctl reserve --help')");
        return CLI_EXIT_USAGE;
    }
    for (int i = optind + 1; i < argc; i++) {
        if (!*argv[i]) {
            cli_error("reserve: a subject must not be empty");
            return CLI_EXIT_USAGE;
        }
        /* Tokens with control characters in sub are refused, so such a
         * seat could never be used. Only adding is checked: removing
         * must still clean up a subject stored before this rule. */
        if (is_change && strcmp(verb, "add") == 0 &&
            sd_has_control(argv[i], strlen(argv[i]))) {
            char *text = cli_escaped(argv[i]);
            cli_error(
                "reserve: subject '%s' contains a control character (C0, DEL or C1); "
                "no token can carry it",
                text ? text : "?");
            free(text);
            return CLI_EXIT_USAGE;
        }
    }
    int first = optind + 1;
    if ((rc = cli_open_instance(&o, "reserve", &c, &inst)) != CLI_EXIT_OK) return rc;
    if (is_change) {
        rc = change(c, &o, &inst, "reserve", NULL, verb, (const char *const *)argv + first,
                    (size_t)(argc - first));
    } else {
        json_t *u = cli_usage_of(c, inst.name);
        rc = CLI_EXIT_FAILURE;
        if (u && o.json) {
            rc = cli_print_json(json_pack("{s:s, s:O}", "instance", inst.name,
                                          "reserved", json_object_get(u, "reserved")));
        } else if (u) {
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(u, "reserved"), i, s) {
                char *text = cli_escaped(json_string_value(s));
                printf("%s\n", text ? text : "?");
                free(text);
            }
            if (json_array_size(json_object_get(u, "reserved")) == 0)
                printf("no reserved subjects\n");
            rc = CLI_EXIT_OK;
        }
        json_decref(u);
    }
    cli_disconnect(c);
    return rc;
}

/* ------------------------------------------------------------------------
 * revoke
 * ------------------------------------------------------------------------ */

static void revoke_usage(FILE *out) {
    fputs("Usage: sessionctl revoke JTI --until EXP [--instance NAME] [--redis URL]\n"
          "\n"
          "Revokes the token whose jti is JTI until EXP, the token's own exp\n"
          "(seconds since the epoch, or +DURATION from now: +90s, +20m, +1h). Every\n"
          "worker refuses it with 401 token_revoked, even from its cache. Its session\n"
          "stays open and keeps its slot until it ends; close it with\n"
          "'sessionctl close' to free the slot now.\n"
          "\n"
          "  --until EXP       when the revocation ends (required)\n" CLI_REDIS_HELP
          "  -h, --help        this text\n",
          out);
}

enum { OPT_UNTIL = 1 };

static int revoke_option(int c, const char *arg, void *ctx) {
    int64_t *until = ctx;
    int64_t v;
    if (c != OPT_UNTIL) return -1;
    /* As the admin API: a revocation longer than a token can live is a
     * typo, and its key would outlive any use. */
    const int64_t max_s = 366LL * 24 * 3600, now = (int64_t)time(NULL);
    if (arg[0] == '+' && cli_parse_seconds(arg + 1, &v) == 0 && v > 0 && v <= max_s) {
        *until = now + v;
        return 0;
    }
    if (arg[0] != '+' && cli_parse_epoch(arg, &v) == 0 && v > 0 && v <= now + max_s) {
        *until = v;
        return 0;
    }
    cli_error("revoke: --until '%s': expected the token's exp (seconds since the "
              "epoch, at most a year ahead) or +DURATION",
              arg);
    return -1;
}

int cli_cmd_revoke(int argc, char **argv) {
    static const struct option revoke_options[] = {
        CLI_REDIS_LONG_OPTIONS,
        {"until", required_argument, NULL, OPT_UNTIL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_redis_opts o;
    int64_t until = 0;
    int rc = cli_parse_options(argc, argv, revoke_options, &o, revoke_option, &until,
                               revoke_usage);
    if (rc >= 0) return rc;
    if (argc - optind != 1 || !*argv[optind] || strlen(argv[optind]) > 1024) {
        cli_error("revoke: expected one JTI (see 'sessionctl revoke --help')");
        return CLI_EXIT_USAGE;
    }
    if (!until) {
        cli_error("revoke: --until EXP is required (the token's exp)");
        return CLI_EXIT_USAGE;
    }
    const char *jti = argv[optind];
    cli_conn *c;
    sd_instance inst;
    if ((rc = cli_open_instance(&o, "revoke", &c, &inst)) != CLI_EXIT_OK) return rc;
    cli_pending p = {0};
    redisReply *r = cli_wait(c,
                             sd_admin_revoke(cli_store(c), &inst, jti, until * 1000,
                                             "sessionctl", cli_on_reply, &p),
                             &p, "revoke");
    int stored = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[1]->integer == 1;
    if (!r) {
        rc = CLI_EXIT_FAILURE;
    } else if (o.json) {
        rc = cli_print_json(json_pack("{s:s, s:s, s:I, s:b}", "instance", inst.name, "jti",
                                      jti, "until", (json_int_t)until, "revoked", stored));
    } else if (stored) {
        printf("revoked %s at %s until %lld\n", jti, inst.name, (long long)until);
    } else {
        printf("%s expires at %lld, already past: nothing to revoke\n", jti,
               (long long)until);
    }
    cli_reply_free(r);
    cli_disconnect(c);
    return rc;
}
