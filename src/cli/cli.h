/* Private to src/cli/: the subcommand table entry, exit codes and the helpers
 * that every sessionctl subcommand shares (messages, numbers, PEM keys). */
#ifndef SD_CLI_CLI_H
#define SD_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

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
