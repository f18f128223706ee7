/* sessionctl jwks: prints a JWKS document holding the public part of PEM
 * keys, in the form sd_keyset_add_jwks loads (SPEC §3, RFC 7517/7518). */
#include "cli/cli.h"
#include "core/base64url.h"

#include <getopt.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fputs(
        "Usage: sessionctl jwks --pem FILE[#KID] [--pem FILE[#KID] ...] [--alg ALG]\n"
        "\n"
        "Prints a JWKS ({\"keys\": [...]}) with the public part of each key to\n"
        "stdout. A private key file is accepted; only its public part is output.\n"
        "\n"
        "  --pem FILE[#KID]  PEM public key, private key or certificate (RSA, or EC\n"
        "                    on P-256, P-384 or P-521); #KID sets its \"kid\"\n"
        "                    (split at the last '#'); repeatable\n"
        "  --alg ALG         \"alg\" for the RSA keys (RS256..RS512, PS256..PS512).\n"
        "                    Without it RSA keys carry no alg, so they verify both\n"
        "                    RS and PS tokens. EC keys always get their curve's ES alg.\n"
        "  -h, --help        this text\n",
        out);
}

static const char *const rsa_algs[] = {"RS256", "RS384", "RS512",
                                       "PS256", "PS384", "PS512"};

/* ------------------------------------------------------------------------
 * JWK members
 * ------------------------------------------------------------------------ */

/* Sets jwk[name] to the base64url of len bytes. Returns 0 or -1. */
static int set_b64(json_t *jwk, const char *name, const unsigned char *bytes,
                   size_t len) {
    char *enc = sd_b64url_encode_alloc(bytes, len);
    int rc = enc ? json_object_set_new(jwk, name, json_string(enc)) : -1;
    free(enc);
    return rc;
}

/* Sets jwk[name] to the base64url big-endian bytes of the key's big-number
 * parameter param: minimal length when width is 0 (RSA n and e), else
 * zero-padded to exactly width bytes (EC coordinates, RFC 7518 §6.2.1.2).
 * Returns 0 or -1. */
static int set_bn(json_t *jwk, const char *name, const EVP_PKEY *pkey, const char *param,
                  size_t width) {
    BIGNUM *bn = NULL;
    unsigned char *buf = NULL;
    int rc = -1;
    if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1) goto out;
    size_t len = width ? width : (size_t)BN_num_bytes(bn);
    if (len == 0 || !(buf = malloc(len))) goto out;
    if (BN_bn2binpad(bn, buf, (int)len) != (int)len) goto out;
    rc = set_b64(jwk, name, buf, len);
out:
    free(buf);
    BN_free(bn);
    return rc;
}

/* ------------------------------------------------------------------------
 * Keys
 * ------------------------------------------------------------------------ */

/* Builds the public JWK of pkey (kid may be NULL; rsa_alg is the --alg value
 * or NULL). Returns a new object, or NULL after printing why, naming path. */
static json_t *jwk_from_pkey(const EVP_PKEY *pkey, const char *path, const char *kid,
                             const char *rsa_alg) {
    json_t *jwk = json_object();
    const char *crv = NULL, *ec_alg = NULL;
    size_t width = 0;
    int rc = -1;
    if (!jwk) goto out;
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
        rc = json_object_set_new(jwk, "kty", json_string("RSA"));
        if (kid) rc |= json_object_set_new(jwk, "kid", json_string(kid));
        rc |= json_object_set_new(jwk, "use", json_string("sig"));
        if (rsa_alg) rc |= json_object_set_new(jwk, "alg", json_string(rsa_alg));
        rc |= set_bn(jwk, "n", pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        rc |= set_bn(jwk, "e", pkey, OSSL_PKEY_PARAM_RSA_E, 0);
    } else if ((ec_alg = cli_ec_alg(pkey, &crv, &width))) {
        rc = json_object_set_new(jwk, "kty", json_string("EC"));
        if (kid) rc |= json_object_set_new(jwk, "kid", json_string(kid));
        rc |= json_object_set_new(jwk, "use", json_string("sig"));
        /* An EC key verifies exactly one algorithm, so saying it costs nothing. */
        rc |= json_object_set_new(jwk, "alg", json_string(ec_alg));
        rc |= json_object_set_new(jwk, "crv", json_string(crv));
        rc |= set_bn(jwk, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X, width);
        rc |= set_bn(jwk, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y, width);
    } else {
        cli_error("jwks: %s: unsupported key type (RSA, or EC on P-256, P-384 or "
                  "P-521)",
                  path);
        json_decref(jwk);
        return NULL;
    }
out:
    ERR_clear_error();
    if (rc != 0) {
        cli_error("jwks: %s: cannot convert the key (kid not UTF-8?)", path);
        json_decref(jwk);
        return NULL;
    }
    return jwk;
}

/* Loads one --pem argument (FILE or FILE#KID) and appends its JWK to keys.
 * Returns 0 or CLI_EXIT_FAILURE after printing why. */
static int add_pem(json_t *keys, const char *arg, const char *rsa_alg) {
    char *path = strdup(arg);
    if (!path) {
        cli_error("jwks: out of memory");
        return CLI_EXIT_FAILURE;
    }
    char *hash = strrchr(path, '#');
    const char *kid = NULL;
    if (hash) {
        *hash = '\0';
        kid = hash + 1;
    }
    int rc = CLI_EXIT_FAILURE;
    EVP_PKEY *pkey = cli_load_pem_key("jwks", path, 0);
    json_t *jwk = pkey ? jwk_from_pkey(pkey, path, kid, rsa_alg) : NULL;
    if (jwk && json_array_append_new(keys, jwk) == 0)
        rc = 0;
    else if (jwk)
        cli_error("jwks: out of memory");
    EVP_PKEY_free(pkey);
    free(path);
    return rc;
}

/* ------------------------------------------------------------------------
 * Command
 * ------------------------------------------------------------------------ */

enum { OPT_PEM = 256, OPT_ALG };

static const struct option long_options[] = {
    {"pem", required_argument, NULL, OPT_PEM},
    {"alg", required_argument, NULL, OPT_ALG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Checks the --alg value: an RSA algorithm, or NULL. Returns 0 or -1. */
static int check_rsa_alg(const char *alg) {
    if (!alg) return 0;
    for (size_t i = 0; i < sizeof rsa_algs / sizeof rsa_algs[0]; i++)
        if (strcmp(alg, rsa_algs[i]) == 0) return 0;
    cli_error("jwks: --alg %s: expected RS256, RS384, RS512, PS256, PS384 or PS512 "
              "(EC keys always get their curve's ES alg)",
              alg);
    return -1;
}

/* Turns the --pem arguments into a JWKS on stdout. Returns an exit status. */
static int print_jwks(const char *const *pems, int npem, const char *rsa_alg) {
    json_t *doc = json_object();
    json_t *keys = json_array();
    int rc = CLI_EXIT_FAILURE;
    if (!doc || !keys || json_object_set(doc, "keys", keys) != 0) {
        cli_error("jwks: out of memory");
        goto out;
    }
    for (int i = 0; i < npem; i++)
        if ((rc = add_pem(keys, pems[i], rsa_alg)) != 0) goto out;
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    rc = CLI_EXIT_FAILURE;
    if (!text)
        cli_error("jwks: out of memory");
    else if (printf("%s\n", text) < 0 || fflush(stdout) != 0)
        cli_error("jwks: cannot write to stdout");
    else
        rc = CLI_EXIT_OK;
    free(text);
out:
    json_decref(keys);
    json_decref(doc);
    return rc;
}

int cli_cmd_jwks(int argc, char **argv) {
    const char *rsa_alg = NULL;
    /* Files are read only after the whole command line is checked, so a bad
     * --alg fails before any file is touched, wherever it is written. */
    const char **pems = calloc((size_t)argc, sizeof *pems);
    int c, npem = 0, rc = CLI_EXIT_USAGE;
    if (!pems) {
        cli_error("jwks: out of memory");
        return CLI_EXIT_FAILURE;
    }
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case OPT_PEM: pems[npem++] = optarg; break;
        case OPT_ALG: rsa_alg = optarg; break;
        case 'h':
            usage(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        default: rc = cli_option_error("jwks", argv, c); goto out;
        }
    }
    if (optind < argc)
        cli_error("jwks: unexpected argument '%s'", argv[optind]);
    else if (npem == 0)
        cli_error("jwks: at least one --pem FILE is required (see 'sessionctl jwks "
                  "--help')");
    else if (check_rsa_alg(rsa_alg) == 0)
        rc = print_jwks(pems, npem, rsa_alg);
out:
    free(pems);
    return rc;
}
