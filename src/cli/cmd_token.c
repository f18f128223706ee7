/* sessionctl token: mints a signed JWT access token from a PEM private key,
 * for tests and development (SPEC §2, §3). */
#include "cli/cli.h"
#include "core/base64url.h"

#include <getopt.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Default lifetime: short, like the access tokens real identity servers issue. */
#define TOKEN_DEFAULT_TTL_S 300
/* Random bytes in a default jti: 128 bits cannot collide in practice. */
#define TOKEN_JTI_BYTES 16

/* Everything the command line says; the json_t members are owned here. */
typedef struct token_opts {
    const char *key_path, *alg, *kid, *iss, *sub, *client_id, *sid, *jti, *scope;
    const char *typ;
    int no_jti, help;
    int64_t ttl_s, exp, nbf, iat;
    int has_exp, has_nbf, has_iat;
    json_t *aud;   /* array of the --aud values, in order */
    json_t *extra; /* --claim NAME=JSON, applied last */
} token_opts;

static void usage(FILE *out) {
    fputs("Usage: sessionctl token --key FILE --iss ISS [OPTIONS]\n"
          "\n"
          "Mints a signed JWT and prints it, followed by a newline, to stdout.\n"
          "Without --sub it is a service (client-credentials) token.\n"
          "\n"
          "  --key FILE          PEM private key, RSA or EC (required; never printed)\n"
          "  --alg ALG           RSA: RS256 (default), RS384, RS512, PS256, PS384,\n"
          "                      PS512; EC: the curve's ES256, ES384 or ES512\n"
          "  --kid KID           key id in the header\n"
          "  --typ TYP           header typ (default JWT; e.g. at+jwt; '' leaves it out)\n"
          "  --iss ISS           issuer (required)\n"
          "  --aud AUD           audience; repeat for several (then an array)\n"
          "  --sub SUB           subject (omit for a service token)\n"
          "  --client-id ID      client_id claim\n"
          "  --sid SID           session id claim\n"
          "  --jti JTI           token id (default: 128 random bits, base64url)\n"
          "  --no-jti            leave jti out\n"
          "  --scope S           scope claim (space-separated scopes)\n"
          "  --iat EPOCH         issued-at, seconds since the epoch (default now)\n"
          "  --ttl DURATION      lifetime after iat: 90, 90s, 20m, 1h (default 5m)\n"
          "  --exp EPOCH         absolute expiry (overrides --ttl)\n"
          "  --nbf EPOCH         not-before\n"
          "  --claim NAME=JSON   extra claim with a raw JSON value, e.g.\n"
          "                      --claim 'roles=[\"admin\"]'; repeatable; applied last,\n"
          "                      so it replaces a claim of the same name\n"
          "  -h, --help          this text\n",
          out);
}

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------ */

enum {
    OPT_KEY = 256,
    OPT_ALG,
    OPT_KID,
    OPT_TYP,
    OPT_ISS,
    OPT_AUD,
    OPT_SUB,
    OPT_CLIENT_ID,
    OPT_SID,
    OPT_JTI,
    OPT_NO_JTI,
    OPT_SCOPE,
    OPT_IAT,
    OPT_TTL,
    OPT_EXP,
    OPT_NBF,
    OPT_CLAIM,
};

static const struct option long_options[] = {
    {"key", required_argument, NULL, OPT_KEY},
    {"alg", required_argument, NULL, OPT_ALG},
    {"kid", required_argument, NULL, OPT_KID},
    {"typ", required_argument, NULL, OPT_TYP},
    {"iss", required_argument, NULL, OPT_ISS},
    {"aud", required_argument, NULL, OPT_AUD},
    {"sub", required_argument, NULL, OPT_SUB},
    {"client-id", required_argument, NULL, OPT_CLIENT_ID},
    {"sid", required_argument, NULL, OPT_SID},
    {"jti", required_argument, NULL, OPT_JTI},
    {"no-jti", no_argument, NULL, OPT_NO_JTI},
    {"scope", required_argument, NULL, OPT_SCOPE},
    {"iat", required_argument, NULL, OPT_IAT},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"exp", required_argument, NULL, OPT_EXP},
    {"nbf", required_argument, NULL, OPT_NBF},
    {"claim", required_argument, NULL, OPT_CLAIM},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses "NAME=JSON" into o->extra. Returns 0 or -1 after printing why. */
static int add_claim(token_opts *o, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        cli_error("token: --claim '%s': expected NAME=JSON", arg);
        return -1;
    }
    json_error_t err;
    json_t *value = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!value) {
        cli_error("token: --claim '%.*s': value is not JSON: %s", (int)(eq - arg), arg,
                  err.text);
        return -1;
    }
    char *name = strndup(arg, (size_t)(eq - arg));
    int rc = name ? json_object_set_new(o->extra, name, value) : -1;
    if (!name) json_decref(value);
    free(name);
    if (rc != 0) cli_error("token: --claim: claim name is not UTF-8 or out of memory");
    return rc == 0 ? 0 : -1;
}

/* Parses an EPOCH option value into *out and sets *has. */
static int epoch_option(const char *name, const char *arg, int64_t *out, int *has) {
    if (cli_parse_epoch(arg, out) != 0) {
        cli_error("token: --%s '%s': expected seconds since the epoch", name, arg);
        return -1;
    }
    *has = 1;
    return 0;
}

/* Fills o from argv. Returns 0, or CLI_EXIT_USAGE after printing why. */
static int parse_options(int argc, char **argv, token_opts *o) {
    int c, bad = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case OPT_KEY: o->key_path = optarg; break;
        case OPT_ALG: o->alg = optarg; break;
        case OPT_KID: o->kid = optarg; break;
        case OPT_TYP: o->typ = optarg; break;
        case OPT_ISS: o->iss = optarg; break;
        case OPT_SUB: o->sub = optarg; break;
        case OPT_CLIENT_ID: o->client_id = optarg; break;
        case OPT_SID: o->sid = optarg; break;
        case OPT_JTI: o->jti = optarg; break;
        case OPT_NO_JTI: o->no_jti = 1; break;
        case OPT_SCOPE: o->scope = optarg; break;
        case OPT_AUD:
            bad = json_array_append_new(o->aud, json_string(optarg)) != 0;
            if (bad) cli_error("token: --aud '%s': not UTF-8", optarg);
            break;
        case OPT_IAT: bad = epoch_option("iat", optarg, &o->iat, &o->has_iat); break;
        case OPT_EXP: bad = epoch_option("exp", optarg, &o->exp, &o->has_exp); break;
        case OPT_NBF: bad = epoch_option("nbf", optarg, &o->nbf, &o->has_nbf); break;
        case OPT_TTL:
            bad = cli_parse_seconds(optarg, &o->ttl_s) != 0;
            if (bad) cli_error("token: --ttl '%s': expected 90, 90s, 20m or 1h", optarg);
            break;
        case OPT_CLAIM: bad = add_claim(o, optarg) != 0; break;
        case 'h': o->help = 1; return 0;
        default: return cli_option_error("token", argv, c);
        }
    }
    if (bad) return CLI_EXIT_USAGE;
    if (optind < argc) {
        cli_error("token: unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!o->key_path || !o->iss) {
        cli_error("token: %s is required (see 'sessionctl token --help')",
                  !o->key_path ? "--key" : "--iss");
        return CLI_EXIT_USAGE;
    }
    if (o->no_jti && o->jti) {
        cli_error("token: --jti and --no-jti exclude each other");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Minting
 * ------------------------------------------------------------------------ */

/* Picks the algorithm for pkey: requested (NULL: the key's default, RS256
 * or the curve's ES alg) must fit the key. Returns 0 and *out, or an exit
 * status after printing why. */
static int choose_alg(const EVP_PKEY *pkey, const char *requested, const char **out) {
    int rsa = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA;
    const char *fallback = rsa ? "RS256" : cli_ec_alg(pkey, NULL, NULL);
    if (!fallback) {
        cli_error("token: unsupported key type (RSA, or EC on P-256, P-384 or P-521)");
        return CLI_EXIT_FAILURE;
    }
    const char *alg = requested ? requested : fallback;
    if (!cli_jws_alg_fits(pkey, alg)) {
        cli_error("token: --alg %s does not fit this %s key (use %s)", alg,
                  rsa ? "RSA" : "EC", rsa ? "RS256..RS512 or PS256..PS512" : fallback);
        return CLI_EXIT_USAGE;
    }
    *out = alg;
    return 0;
}

/* Sets obj[name] to the string val unless val is NULL. Returns 0 or -1. */
static int set_string(json_t *obj, const char *name, const char *val) {
    return val ? json_object_set_new(obj, name, json_string(val)) : 0;
}

/* Builds the payload as a new JSON object (caller decrefs), or NULL when a
 * value is not UTF-8 (or memory ran out). */
static json_t *build_claims(const token_opts *o, const char *jti) {
    json_t *c = json_object();
    if (!c) return NULL;
    int rc = set_string(c, "iss", o->iss);
    /* One audience is a plain string, as most identity servers write it. */
    size_t naud = json_array_size(o->aud);
    if (naud == 1)
        rc |= json_object_set(c, "aud", json_array_get(o->aud, 0));
    else if (naud > 1)
        rc |= json_object_set(c, "aud", o->aud);
    rc |= set_string(c, "sub", o->sub);
    rc |= set_string(c, "client_id", o->client_id);
    rc |= set_string(c, "sid", o->sid);
    rc |= set_string(c, "jti", jti);
    rc |= set_string(c, "scope", o->scope);
    rc |= json_object_set_new(c, "iat", json_integer(o->iat));
    rc |= json_object_set_new(c, "exp", json_integer(o->exp));
    if (o->has_nbf) rc |= json_object_set_new(c, "nbf", json_integer(o->nbf));
    rc |= json_object_update(c, o->extra);
    if (rc != 0) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* A new random jti (caller frees), or NULL. */
static char *random_jti(void) {
    unsigned char raw[TOKEN_JTI_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1) return NULL;
    return sd_b64url_encode_alloc(raw, sizeof raw);
}

/* Builds the header {"alg", "typ", "kid"} as compact JSON (caller frees),
 * or NULL when kid or typ is not UTF-8 (or memory ran out). */
static char *build_header(const token_opts *o, const char *alg) {
    json_t *h = json_object();
    if (!h) return NULL;
    int rc = set_string(h, "alg", alg);
    if (o->typ[0] != '\0') rc |= set_string(h, "typ", o->typ);
    rc |= set_string(h, "kid", o->kid);
    char *text = rc == 0 ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    return text;
}

/* Signs with libjwt, the reference producer the tokens are meant to match.
 * Returns a token the caller frees with free(), or NULL. */
static char *sign_with_libjwt(EVP_PKEY *pkey, const char *alg, const char *kid,
                              const char *payload) {
    /* libjwt takes the key as PEM text. */
    BIO *mem = BIO_new(BIO_s_mem());
    char *pem = NULL, *token = NULL;
    long pem_len = 0;
    jwt_t *jwt = NULL;
    if (!mem || PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL) != 1)
        goto out;
    pem_len = BIO_get_mem_data(mem, &pem);
    if (pem_len <= 0 || jwt_new(&jwt) != 0) goto out;
    if (jwt_set_alg(jwt, jwt_str_alg(alg), (const unsigned char *)pem, (int)pem_len) != 0 ||
        jwt_add_grants_json(jwt, payload) != 0 ||
        (kid && jwt_add_header(jwt, "kid", kid) != 0))
        goto out;
    token = jwt_encode_str(jwt); /* malloc'ed: no allocator hooks are set */
out:
    jwt_free(jwt);
    if (pem) OPENSSL_cleanse(pem, (size_t)pem_len);
    BIO_free(mem);
    return token;
}

/* libjwt (1.10) always writes "typ":"JWT" and has no PS algorithms; any
 * other header is signed by the small EVP signer in jws_sign.c. */
static int libjwt_can_sign(const token_opts *o, const char *alg) {
    return strcmp(o->typ, "JWT") == 0 && alg[0] != 'P';
}

/* Signs the header and claims with pkey and prints the token followed by a
 * newline. Returns an exit status. */
static int sign_and_print(const token_opts *o, EVP_PKEY *pkey, const char *alg,
                          const json_t *claims) {
    char *header = build_header(o, alg);
    char *payload = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *token = NULL;
    if (header && payload)
        token = libjwt_can_sign(o, alg) ? sign_with_libjwt(pkey, alg, o->kid, payload)
                                        : cli_jws_sign(pkey, alg, header, payload);
    int rc = CLI_EXIT_FAILURE;
    if (!header)
        cli_error("token: --kid or --typ is not valid UTF-8");
    else if (!token)
        cli_error("token: signing failed");
    else if (printf("%s\n", token) < 0 || fflush(stdout) != 0)
        cli_error("token: cannot write to stdout");
    else
        rc = CLI_EXIT_OK;
    free(token);
    free(payload);
    free(header);
    return rc;
}

int cli_cmd_token(int argc, char **argv) {
    token_opts o = {.typ = "JWT", .ttl_s = TOKEN_DEFAULT_TTL_S};
    o.aud = json_array();
    o.extra = json_object();
    EVP_PKEY *pkey = NULL;
    char *jti = NULL;
    json_t *claims = NULL;
    const char *alg = NULL;
    int rc = CLI_EXIT_FAILURE;
    if (!o.aud || !o.extra) {
        cli_error("token: out of memory");
        goto out;
    }

    if ((rc = parse_options(argc, argv, &o)) != 0) goto out;
    if (o.help) {
        usage(stdout);
        goto out;
    }
    if (!o.has_iat) o.iat = (int64_t)time(NULL);
    if (!o.has_exp) {
        if (o.ttl_s > INT64_MAX - o.iat) {
            cli_error("token: --iat plus --ttl is out of range");
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        o.exp = o.iat + o.ttl_s;
    }

    rc = CLI_EXIT_FAILURE;
    if (!(pkey = cli_load_pem_key("token", o.key_path, 1))) goto out;
    if ((rc = choose_alg(pkey, o.alg, &alg)) != 0) goto out;

    rc = CLI_EXIT_FAILURE;
    if (!o.no_jti && !o.jti && !(jti = random_jti())) {
        cli_error("token: cannot generate a random jti");
        goto out;
    }
    if (!(claims = build_claims(&o, o.jti ? o.jti : jti))) {
        cli_error("token: a claim value is not valid UTF-8");
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    rc = sign_and_print(&o, pkey, alg, claims);
out:
    json_decref(claims);
    free(jti);
    EVP_PKEY_free(pkey);
    json_decref(o.extra);
    json_decref(o.aud);
    return rc;
}
