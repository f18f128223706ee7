/* Private to src/cli/: the subcommand table entry, exit codes and the helpers
 * that every sessionctl subcommand shares (messages, numbers, PEM keys). */
#ifndef SD_CLI_CLI_H
#define SD_CLI_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "session/session.h"
#include "store/store.h"

/* Exit statuses; scripts depend on them, so they never change meaning. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1, /* runtime failure: unreadable key, out of memory */
    CLI_EXIT_USAGE = 2,   /* bad command line; nothing was done */
};

/* One subcommand. run gets the arguments from the subcommand's own name on
 * (argv[0] is "token" for "sessionctl token ..."), so it can use getopt_long
 * directly, and returns one of the CLI_EXIT_* values. */
typedef struct cli_command {
    const char *name;
    const char *summary; /* one line for "sessionctl --help" */
    int (*run)(int argc, char **argv);
} cli_command;

/* The subcommands (cmd_<name>.c). */
int cli_cmd_token(int argc, char **argv);
int cli_cmd_jwks(int argc, char **argv);
int cli_cmd_usage(int argc, char **argv);
int cli_cmd_list(int argc, char **argv);
int cli_cmd_show(int argc, char **argv);
int cli_cmd_close(int argc, char **argv);
int cli_cmd_limit(int argc, char **argv);
int cli_cmd_reserve(int argc, char **argv);
int cli_cmd_revoke(int argc, char **argv);
int cli_cmd_events(int argc, char **argv);
int cli_cmd_check(int argc, char **argv);
int cli_cmd_top(int argc, char **argv);

/* ------------------------------------------------------------------------
 * Redis (cli_redis.c): every subcommand that reads or changes sessions
 * talks to Redis through the worker's own store and scripts.
 * ------------------------------------------------------------------------ */

/* Most --sentinel or --cluster addresses on one command line. */
#define CLI_MAX_NODES 16

/* Options every Redis subcommand takes: --redis URL (default
 * $SESSIOND_REDIS_URL, else redis://127.0.0.1:6379/0), or --sentinel
 * HOST:PORT (repeatable) with --master-name NAME, or --cluster HOST:PORT
 * (repeatable) — the same topologies as the worker's redis.* settings, with
 * the same environment defaults (SESSIOND_REDIS_SENTINELS,
 * SESSIOND_REDIS_MASTER_NAME, SESSIOND_REDIS_CLUSTER, comma-separated;
 * passwords only from SESSIOND_REDIS_PASSWORD and
 * SESSIOND_REDIS_SENTINEL_PASSWORD, never from the command line) —
 * --instance NAME, --json, --timeout MS (default 2000). */
typedef struct cli_redis_opts {
    const char *url;
    const char *sentinels[CLI_MAX_NODES];
    size_t nsentinels;
    const char *master_name;
    const char *cluster[CLI_MAX_NODES];
    size_t ncluster;
    int topology_flag;      /* a topology came from the command line */
    int url_flag;           /* --redis was given */
    char env_nodes[1024];   /* the environment's lists, split in place */
    const char *instance;   /* NULL: the only instance in Redis */
    int json;
    int64_t timeout_ms;
} cli_redis_opts;

enum {
    CLI_OPT_REDIS = 1000,
    CLI_OPT_INSTANCE,
    CLI_OPT_JSON,
    CLI_OPT_TIMEOUT,
    CLI_OPT_SENTINEL,
    CLI_OPT_MASTER_NAME,
    CLI_OPT_CLUSTER,
};

/* The struct option entries of the common options, for a subcommand's own
 * table. */
#define CLI_REDIS_LONG_OPTIONS                                   \
    {"redis", required_argument, NULL, CLI_OPT_REDIS},           \
    {"sentinel", required_argument, NULL, CLI_OPT_SENTINEL},     \
    {"master-name", required_argument, NULL, CLI_OPT_MASTER_NAME}, \
    {"cluster", required_argument, NULL, CLI_OPT_CLUSTER},       \
    {"instance", required_argument, NULL, CLI_OPT_INSTANCE},     \
    {"json", no_argument, NULL, CLI_OPT_JSON},                   \
    {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT}

/* Help text lines of the common options. */
#define CLI_REDIS_HELP                                                          \
    "  --redis URL       redis://[:password@]host[:port][/db] (default\n"      \
    "                    $SESSIOND_REDIS_URL, else redis://127.0.0.1:6379/0)\n" \
    "  --sentinel H:P    a Redis Sentinel (repeat for each); with --master-name\n" \
    "  --master-name N   the master the sentinels monitor\n"                   \
    "  --cluster H:P     a Redis Cluster seed node (repeat for more)\n"        \
    "                    (passwords: $SESSIOND_REDIS_PASSWORD,\n"              \
    "                    $SESSIOND_REDIS_SENTINEL_PASSWORD)\n"                 \
    "  --instance NAME   the instance (default: the only one in Redis)\n"       \
    "  --json            print JSON instead of a table\n"                       \
    "  --timeout MS      Redis time-out (default 2000)\n"

void cli_redis_opts_init(cli_redis_opts *o);

/* Handles option c if it is a common one: returns 1 when taken, -1 after
 * printing why its value is bad, 0 when c is not a common option. */
int cli_redis_option(cli_redis_opts *o, int c, const char *arg);

typedef struct cli_conn cli_conn;

/* Connects and loads the scripts; NULL after printing why (unreachable,
 * refused AUTH, bad URL). */
cli_conn *cli_connect(const cli_redis_opts *o);
void cli_disconnect(cli_conn *c);
sd_store *cli_store(cli_conn *c);

/* A call in flight: pass cli_on_reply and a zeroed cli_pending to any
 * sd_session_* / sd_admin_* call, then cli_wait. */
typedef struct cli_pending {
    int done;
    int err;
    redisReply *reply;      /* an owned copy */
} cli_pending;

void cli_on_reply(int err, const redisReply *reply, void *data);

/* Waits for the call started with result start_rc. Returns the reply (free
 * with cli_reply_free), or NULL after printing "<what>: <why>" (the call
 * could not start, timed out, or Redis answered an error). */
redisReply *cli_wait(cli_conn *c, int start_rc, cli_pending *p, const char *what);

/* Runs a plain command (argv[0] is its name); same contract as cli_wait. */
redisReply *cli_redis_command(cli_conn *c, const char *what, int argc, const char **argv);

void cli_reply_free(redisReply *r);

/* The instance names that have pool settings in Redis, sorted (caller frees
 * with cli_free_names). Returns 0 or -1 after printing why. */
int cli_list_instances(cli_conn *c, char ***names, size_t *count);
void cli_free_names(char **names, size_t count);

/* Fills inst for --instance, or for the only instance in Redis. Returns
 * CLI_EXIT_OK, or an exit status after printing why. */
int cli_pick_instance(cli_conn *c, const cli_redis_opts *o, const char *cmd,
                      sd_instance *inst);

/* Connects and picks the instance (cli_pick_instance). Returns CLI_EXIT_OK
 * with *c connected, or an exit status after printing why (*c NULL). */
int cli_open_instance(const cli_redis_opts *o, const char *cmd, cli_conn **c,
                      sd_instance *inst);

/* The instances a command covers: --instance's one, else every instance in
 * Redis (free with cli_free_names). Returns CLI_EXIT_OK or an exit status
 * after printing why. */
int cli_instance_names(cli_conn *c, const cli_redis_opts *o, const char *cmd,
                       char ***names, size_t *count);

/* The usage document of one instance (sd_admin_usage_json), or NULL after
 * printing why. */
json_t *cli_usage_of(cli_conn *c, const char *name);

/* Fills inst's key names for a known-good instance name. */
void cli_instance(sd_instance *inst, const char *name);

/* A subcommand's handler of its own options: returns 0, or -1 after
 * printing why the value is bad. */
typedef int (*cli_own_option)(int c, const char *arg, void *ctx);

/* Parses argv (argv[0] is the subcommand's name) with opts, which hold the
 * common options and the subcommand's own (handled by own, may be NULL).
 * Returns -1 to go on (positional arguments start at optind), or the exit
 * status: CLI_EXIT_OK after --help, CLI_EXIT_USAGE after a bad option. */
int cli_parse_options(int argc, char **argv, const struct option *opts,
                      cli_redis_opts *o, cli_own_option own, void *ctx,
                      void (*usage)(FILE *));

/* Prints doc as indented JSON and a newline on stdout, then decrefs it.
 * Returns CLI_EXIT_OK, or CLI_EXIT_FAILURE for a NULL doc. */
int cli_print_json(json_t *doc);

/* ------------------------------------------------------------------------
 * Human-readable output
 * ------------------------------------------------------------------------ */

/* Claims (sub, client_id) come from tokens and reach the terminal in the
 * tables: C0 controls, DEL, the C1 controls (U+0080..U+009F) and the
 * backslash are written as escapes (\n, \t, \r, \\, \x1b, \u009b) so a
 * value can neither forge a line nor send a terminal sequence. --json output
 * is never escaped this way.
 *
 * cli_escape writes the escaped s (NULL reads as "") into out, at most cap-1
 * bytes and a NUL, never cutting an escape in two; returns out.
 * cli_escaped returns the whole escaped string, malloc'd (the caller frees),
 * or NULL when out of memory. */
char *cli_escape(const char *s, char *out, size_t cap);
char *cli_escaped(const char *s);

/* ------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------ */

/* Prints "sessionctl: <message>\n" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports what getopt_long returned for a bad option (c is '?' or ':') of
 * subcommand cmd as one line on stderr and returns CLI_EXIT_USAGE. Needs
 * opterr = 0 and an optstring starting with ':'. */
int cli_option_error(const char *cmd, char **argv, int c);

/* ------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------ */

/* Parses a whole string of ASCII digits (no sign, no spaces) into *out.
 * Returns 0, or -1 when text is not such a number or overflows int64_t. */
int cli_parse_epoch(const char *text, int64_t *out);

/* Parses a duration in whole seconds: "90", "90s", "20m" or "1h". Returns 0,
 * or -1 for anything else (no "ms": tokens have seconds granularity). */
int cli_parse_seconds(const char *text, int64_t *out);

/* ------------------------------------------------------------------------
 * Keys
 * ------------------------------------------------------------------------ */

/* Reads the PEM file path for subcommand cmd. With want_private, only a private key is
 * accepted; otherwise a private key, a "PUBLIC KEY" or a certificate (its public key).
 * Encrypted keys are refused, never prompted for. Returns the key (caller
 * frees with EVP_PKEY_free), or NULL after printing one line naming cmd and
 * the file. */
EVP_PKEY *cli_load_pem_key(const char *cmd, const char *path, int want_private);

/* For an EC key on P-256, P-384 or P-521: returns its JWS alg ("ES256",
 * "ES384", "ES512") and stores the JWK name of the curve and its coordinate
 * width in bytes (crv and coord_len may be NULL). Returns NULL for any other
 * key or curve. */
const char *cli_ec_alg(const EVP_PKEY *pkey, const char **crv, size_t *coord_len);

/* ------------------------------------------------------------------------
 * Signing (jws_sign.c)
 * ------------------------------------------------------------------------ */

/* 1 when alg (RS256..RS512, PS256..PS512, ES256..ES512) can be used with
 * pkey: an RSA key for RS and PS, an EC key on the alg's curve for ES. */
int cli_jws_alg_fits(const EVP_PKEY *pkey, const char *alg);

/* Signs header_json and payload_json (used byte for byte) with pkey and alg
 * and returns the compact token "h.p.s" (caller frees), or NULL when alg does
 * not fit the key or signing fails. */
char *cli_jws_sign(EVP_PKEY *pkey, const char *alg, const char *header_json,
                   const char *payload_json);

#endif
