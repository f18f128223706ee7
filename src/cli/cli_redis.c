/* sessionctl's connection to Redis: the worker's own store (same embedded
 * scripts, EVALSHA, NOSCRIPT reload, time-outs) driven to completion one
 * call at a time on a private event loop. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/clock.h"
#include "sessiond/config.h"
#include "sessiond/error.h"

#define DEFAULT_URL "redis://127.0.0.1:6379/0"
#define DEFAULT_TIMEOUT_MS 2000

/* sessionctl never trims the event stream below the workers' own cap: its
 * XADDs pass a cap no stream reaches, and the workers' next XADD trims. */
#define CLI_EVENTS_MAX 100000000

struct cli_conn {
    struct event_base *base;
    sd_store *store;
    int64_t timeout_ms;
    char where[160];
};

/* ------------------------------------------------------------------------
 * Common options
 * ------------------------------------------------------------------------ */

static int check_topology(const cli_redis_opts *o);

/* The first topology flag replaces whatever the environment chose. */
static void topology_from_flags(cli_redis_opts *o) {
    if (o->topology_flag) return;
    o->topology_flag = 1;
    o->nsentinels = o->ncluster = 0;
    o->master_name = getenv("SESSIOND_REDIS_MASTER_NAME");
    if (o->master_name && !*o->master_name) o->master_name = NULL;
}

static int add_node(const char **list, size_t *n, const char *flag, const char *arg) {
    char err[160];
    char *host = NULL;
    uint16_t port;
    if (sd_hostport_parse(arg, &host, &port, err, sizeof err) != 0) {
        cli_error("--%s '%s': %s", flag, arg, err);
        return -1;
    }
    free(host);
    if (*n == CLI_MAX_NODES) {
        cli_error("--%s: at most %d addresses", flag, CLI_MAX_NODES);
        return -1;
    }
    list[(*n)++] = arg;
    return 1;
}

int cli_redis_option(cli_redis_opts *o, int c, const char *arg) {
    switch (c) {
    case CLI_OPT_REDIS: {
        /* A bad URL is a bad command line (exit 2), found before connecting. */
        char err[200] = "", *host = NULL, *password = NULL;
        uint16_t port;
        int db;
        int bad = sd_redis_url_parse(arg, &host, &port, &db, &password, err, sizeof err);
        free(host);
        if (password) explicit_bzero(password, strlen(password));
        free(password);
        if (bad) {
            cli_error("--redis: %s", err);
            return -1;
        }
        topology_from_flags(o);
        o->url = arg;
        o->url_flag = 1;
        return 1;
    }
    case CLI_OPT_SENTINEL:
        topology_from_flags(o);
        return add_node(o->sentinels, &o->nsentinels, "sentinel", arg);
    case CLI_OPT_MASTER_NAME: o->master_name = arg; return 1;
    case CLI_OPT_CLUSTER:
        topology_from_flags(o);
        return add_node(o->cluster, &o->ncluster, "cluster", arg);
    case CLI_OPT_INSTANCE: o->instance = arg; return 1;
    case CLI_OPT_JSON: o->json = 1; return 1;
    case CLI_OPT_TIMEOUT: {
        int64_t ms;
        if (cli_parse_epoch(arg, &ms) != 0 || ms < 1 || ms > 600000) {
            cli_error("--timeout '%s': expected milliseconds, 1..600000", arg);
            return -1;
        }
        o->timeout_ms = ms;
        return 1;
    }
    default: return 0;
    }
}

/* Splits the comma-separated list in variable name into list, keeping the
 * pieces in o->env_nodes from *used on. */
static void env_list(cli_redis_opts *o, const char *name, const char **list, size_t *n,
                     size_t *used) {
    const char *env = getenv(name);
    if (!env || !*env) return;
    size_t len = strlen(env);
    if (*used + len + 1 > sizeof o->env_nodes) return;
    char *copy = o->env_nodes + *used;
    memcpy(copy, env, len + 1);
    *used += len + 1;
    for (char *save = NULL, *p = strtok_r(copy, ", ", &save);
         p && *n < CLI_MAX_NODES; p = strtok_r(NULL, ", ", &save))
        list[(*n)++] = p;
}

void cli_redis_opts_init(cli_redis_opts *o) {
    memset(o, 0, sizeof *o);
    const char *env = getenv("SESSIOND_REDIS_URL");
    o->url = env && *env ? env : DEFAULT_URL;
    size_t used = 0;
    env_list(o, "SESSIOND_REDIS_SENTINELS", o->sentinels, &o->nsentinels, &used);
    env_list(o, "SESSIOND_REDIS_CLUSTER", o->cluster, &o->ncluster, &used);
    o->master_name = getenv("SESSIOND_REDIS_MASTER_NAME");
    if (o->master_name && !*o->master_name) o->master_name = NULL;
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
}

/* ------------------------------------------------------------------------
 * Connection
 * ------------------------------------------------------------------------ */

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
    *(int *)arg = 1;
}

/* Runs the loop until *done is set or timeout_ms passes. Returns 0 or -1
 * (time-out). */
static int run_until(cli_conn *c, const int *done, int64_t timeout_ms,
                     int (*also_stop)(cli_conn *)) {
    if (also_stop == NULL && *done) return 0;
    int expired = 0;
    struct event *deadline = evtimer_new(c->base, on_deadline, &expired);
    if (!deadline) return -1;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(deadline, &tv);
    while (!*done && !expired && !(also_stop && (sd_store_ready(c->store) ||
                                                 also_stop(c))))
        event_base_loop(c->base, EVLOOP_ONCE);
    event_free(deadline);
    return *done ? 0 : -1;
}

static int connect_failed(cli_conn *c) { return sd_store_last_error(c->store) != NULL; }

/* "a:1,b:2" of a list, for messages. */
static void join_nodes(char *out, size_t cap, const char *const *list, size_t n) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "," : "", list[i]);
}

/* Which topology the options name; -1 after printing why they conflict. */
static int check_topology(const cli_redis_opts *o) {
    if (o->nsentinels && o->ncluster) {
        cli_error("--sentinel and --cluster name two topologies: choose one");
        return -1;
    }
    if (o->url_flag && (o->nsentinels || o->ncluster)) {
        cli_error("--redis and --%s name two topologies: choose one",
                  o->nsentinels ? "sentinel" : "cluster");
        return -1;
    }
    if (o->nsentinels && !o->master_name) {
        cli_error("--sentinel needs --master-name (or $SESSIOND_REDIS_MASTER_NAME)");
        return -1;
    }
    return 0;
}

cli_conn *cli_connect(const cli_redis_opts *o) {
    char err[200] = "";
    char *host = NULL, *password = NULL;
    uint16_t port = 0;
    int db = 0;
    if (check_topology(o) != 0) return NULL;
    int single = !o->nsentinels && !o->ncluster;
    if (single &&
        sd_redis_url_parse(o->url, &host, &port, &db, &password, err, sizeof err)) {
        cli_error("--redis: %s", err);
        return NULL;
    }
    const char *node_password = getenv("SESSIOND_REDIS_PASSWORD");
    if (node_password && *node_password) {
        if (password) explicit_bzero(password, strlen(password));
        free(password);
        password = strdup(node_password);
    }
    const char *sentinel_password = getenv("SESSIOND_REDIS_SENTINEL_PASSWORD");
    cli_conn *c = calloc(1, sizeof *c);
    if (c) c->base = event_base_new();
    if (c && c->base) {
        char nodes[120];
        if (o->nsentinels) {
            join_nodes(nodes, sizeof nodes, o->sentinels, o->nsentinels);
            snprintf(c->where, sizeof c->where, "master %s (sentinels %s)",
                     o->master_name, nodes);
        } else if (o->ncluster) {
            join_nodes(nodes, sizeof nodes, o->cluster, o->ncluster);
            snprintf(c->where, sizeof c->where, "cluster %s", nodes);
        } else {
            snprintf(c->where, sizeof c->where, "%s:%u", host, (unsigned)port);
        }
        c->timeout_ms = o->timeout_ms;
        sd_store_options so = {
            .host = host,
            .port = port,
            .password = password,
            .db = db,
            .sentinels = o->sentinels,
            .nsentinels = o->nsentinels,
            .master_name = o->master_name,
            .sentinel_password =
                sentinel_password && *sentinel_password ? sentinel_password : NULL,
            .cluster = o->cluster,
            .ncluster = o->ncluster,
            .timeout_ms = o->timeout_ms,
            .reconnect_max_ms = o->timeout_ms};
        c->store = sd_store_new(c->base, &so);
    }
    free(host);
    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    if (!c || !c->store) {
        cli_error("out of memory");
        cli_disconnect(c);
        return NULL;
    }
    /* Ready means connected, authenticated and every script loaded; the
     * first failure ends the wait (a tool reports, it does not retry). */
    run_until(c, &(int){0}, c->timeout_ms, connect_failed);
    if (!sd_store_ready(c->store)) {
        const char *why = sd_store_last_error(c->store);
        cli_error("cannot reach Redis at %s: %s", c->where, why ? why : "timed out");
        cli_disconnect(c);
        return NULL;
    }
    return c;
}

void cli_disconnect(cli_conn *c) {
    if (!c) return;
    sd_store_free(c->store);
    if (c->base) event_base_free(c->base);
    free(c);
}

sd_store *cli_store(cli_conn *c) { return c->store; }

void cli_instance(sd_instance *inst, const char *name) {
    /* Validated by cli_pick_instance before use. */
    sd_instance_init_names(inst, name, CLI_EVENTS_MAX, "sessionctl");
}

/* ------------------------------------------------------------------------
 * Calls
 * ------------------------------------------------------------------------ */

/* hiredis replies are valid only inside the callback; commands want to look
 * at them afterwards. */
static redisReply *copy_reply(const redisReply *r) {
    redisReply *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str) {
        if (!(c->str = malloc(r->len + 1))) goto fail;
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    if (r->elements) {
        if (!(c->element = calloc(r->elements, sizeof *c->element))) goto fail;
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if (!(c->element[i] = copy_reply(r->element[i]))) goto fail;
    }
    return c;
fail:
    cli_reply_free(c);
    return NULL;
}

void cli_reply_free(redisReply *r) {
    if (!r) return;
    for (size_t i = 0; i < r->elements; i++) cli_reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

void cli_on_reply(int err, const redisReply *reply, void *data) {
    cli_pending *p = data;
    p->err = err;
    p->reply = reply ? copy_reply(reply) : NULL;
    if (reply && !p->reply) p->err = SD_ENOMEM;
    p->done = 1;
}

redisReply *cli_wait(cli_conn *c, int start_rc, cli_pending *p, const char *what) {
    if (start_rc) {
        cli_error("%s: %s", what, sd_strerror(start_rc));
        return NULL;
    }
    /* The store's own time-out answers the call; the loop's deadline is
     * only a backstop. */
    run_until(c, &p->done, c->timeout_ms * 3, NULL);
    if (!p->done) {
        cli_error("%s: no answer from Redis at %s", what, c->where);
        return NULL;
    }
    if (p->err) {
        cli_error("%s: Redis at %s: %s", what, c->where, sd_strerror(p->err));
        return NULL;
    }
    if (p->reply && p->reply->type == REDIS_REPLY_ERROR) {
        cli_error("%s: Redis said: %s", what, p->reply->str);
        cli_reply_free(p->reply);
        p->reply = NULL;
        return NULL;
    }
    return p->reply;
}

redisReply *cli_redis_command(cli_conn *c, const char *what, int argc, const char **argv) {
    size_t lens[16];
    if (argc > 16) return NULL;
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    cli_pending p = {0};
    return cli_wait(c, sd_store_command(c->store, argc, argv, lens, cli_on_reply, &p),
                    &p, what);
}

/* ------------------------------------------------------------------------
 * Instances
 * ------------------------------------------------------------------------ */

/* "sd:{name}:pool" -> name, or NULL when key has another shape. */
static char *name_of_pool_key(const char *key) {
    size_t n = strlen(key);
    if (n < 10 || strncmp(key, "sd:{", 4) != 0 || strcmp(key + n - 6, "}:pool") != 0)
        return NULL;
    return strndup(key + 4, n - 10);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_list_instances(cli_conn *c, char ***names, size_t *count) {
    *names = NULL;
    *count = 0;
    size_t cap = 0;
    char cursor[32] = "0";
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", "sd:{*}:pool", "COUNT", "1000"};
        redisReply *r = cli_redis_command(c, "list instances", 6, argv);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            cli_reply_free(r);
            cli_free_names(*names, *count);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            char *name = name_of_pool_key(keys->element[i]->str);
            if (!name) continue;
            if (*count == cap) {
                cap = cap ? cap * 2 : 8;
                char **grown = realloc(*names, cap * sizeof *grown);
                if (!grown) {
                    free(name);
                    cli_reply_free(r);
                    cli_free_names(*names, *count);
                    return -1;
                }
                *names = grown;
            }
            (*names)[(*count)++] = name;
        }
        cli_reply_free(r);
    } while (strcmp(cursor, "0") != 0);
    if (*count) qsort(*names, *count, sizeof **names, cmp_names);
    return 0;
}

void cli_free_names(char **names, size_t count) {
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
}

/* A mistyped --instance must not create a phantom instance (a write to its
 * pool would): every instance a worker serves has pool settings. Returns
 * CLI_EXIT_OK, or CLI_EXIT_FAILURE after naming the ones that exist. */
static int instance_exists(cli_conn *c, const sd_instance *inst, const char *cmd) {
    const char *argv[2] = {"EXISTS", inst->key[SD_KEY_POOL]};
    redisReply *r = cli_redis_command(c, cmd, 2, argv);
    if (!r) return CLI_EXIT_FAILURE;
    int exists = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    cli_reply_free(r);
    if (exists) return CLI_EXIT_OK;
    char **names;
    size_t n;
    char known[512] = "";
    if (cli_list_instances(c, &names, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            size_t used = strlen(known);
            snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", names[i]);
        }
        cli_free_names(names, n);
    }
    cli_error("%s: no instance '%s' in Redis (instances: %s)", cmd, inst->name,
              known[0] ? known : "none");
    return CLI_EXIT_FAILURE;
}

int cli_pick_instance(cli_conn *c, const cli_redis_opts *o, const char *cmd,
                      sd_instance *inst) {
    if (o->instance) {
        if (sd_instance_init_names(inst, o->instance, CLI_EVENTS_MAX, "sessionctl")) {
            cli_error("%s: --instance '%s': expected 1 to 64 of [A-Za-z0-9_-]", cmd,
                      o->instance);
            return CLI_EXIT_USAGE;
        }
        return instance_exists(c, inst, cmd);
    }
    char **names;
    size_t n;
    if (cli_list_instances(c, &names, &n) != 0) return CLI_EXIT_FAILURE;
    int rc = CLI_EXIT_OK;
    if (n == 1) {
        cli_instance(inst, names[0]);
    } else {
        cli_error("%s: %s; name one with --instance", cmd,
                  n == 0 ? "Redis holds no instance" : "Redis holds several instances");
        rc = CLI_EXIT_USAGE;
    }
    cli_free_names(names, n);
    return rc;
}

/* ------------------------------------------------------------------------
 * Output and option parsing
 * ------------------------------------------------------------------------ */

int cli_print_json(json_t *doc) {
    if (!doc) {
        cli_error("out of memory");
        return CLI_EXIT_FAILURE;
    }
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(doc);
    return CLI_EXIT_OK;
}

int cli_parse_options(int argc, char **argv, const struct option *opts,
                      cli_redis_opts *o, cli_own_option own, void *ctx,
                      void (*usage)(FILE *)) {
    const char *cmd = argv[0];
    cli_redis_opts_init(o);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (c == '?' || c == ':') return cli_option_error(cmd, argv, c);
        int taken = cli_redis_option(o, c, optarg);
        if (taken < 0) return CLI_EXIT_USAGE;
        if (taken) continue;
        if (!own || own(c, optarg, ctx) != 0) return CLI_EXIT_USAGE;
    }
    return check_topology(o) == 0 ? -1 : CLI_EXIT_USAGE;
}

int cli_open_instance(const cli_redis_opts *o, const char *cmd, cli_conn **c,
                      sd_instance *inst) {
    if (!(*c = cli_connect(o))) return CLI_EXIT_FAILURE;
    int rc = cli_pick_instance(*c, o, cmd, inst);
    if (rc != CLI_EXIT_OK) {
        cli_disconnect(*c);
        *c = NULL;
    }
    return rc;
}

int cli_instance_names(cli_conn *c, const cli_redis_opts *o, const char *cmd,
                       char ***names, size_t *count) {
    if (!o->instance) return cli_list_instances(c, names, count) ? CLI_EXIT_FAILURE : 0;
    sd_instance probe;
    int rc = cli_pick_instance(c, o, cmd, &probe);
    if (rc != CLI_EXIT_OK) return rc;
    *count = 0;
    *names = malloc(sizeof **names);
    if (!*names || !((*names)[0] = strdup(o->instance))) {
        free(*names);
        *names = NULL;
        cli_error("out of memory");
        return CLI_EXIT_FAILURE;
    }
    *count = 1;
    return CLI_EXIT_OK;
}
