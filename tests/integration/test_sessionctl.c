/* sessionctl token and jwks end to end: keys made for this run, the real
 * binary run as a child process, and its output checked by the project's own
 * JWKS loader and token verifier (SPEC §2, §3). */
/* cmocka needs these first; the blank line keeps clang-format from sorting
 * cmocka.h above them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/base64url.h"
#include "sessiond/error.h"
#include "sessiond/token.h"

#define ISSUER "https://id.test/ctl"
#define MAX_ARGS 48

/* ------------------------------------------------------------------------
 * Fixture: a temp dir with an RSA and an EC key, and the key set loaded
 * from what "sessionctl jwks" made of them.
 * ------------------------------------------------------------------------ */

static char dir[] = "/tmp/sd-ctl-test-XXXXXX";
static char rsa_priv[64], rsa_pub[64], ec_priv[64], out_path[64], err_path[64];
static char *jwks_text;
static sd_keyset *keys;

/* The result of one sessionctl run; out and err are whole and NUL-terminated. */
typedef struct run_result {
    int status; /* exit status, or -1 when it did not exit normally */
    char *out;
    char *err;
} run_result;

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    char *buf = calloc(1, 1 << 16);
    if (buf) fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

/* Runs sessionctl with prefix (when not NULL), then arg and the rest of the
 * NULL-terminated list ap, and waits for it. stdout and stderr go to files so
 * that neither pipe can fill up and block the child. */
static void run_va(run_result *r, const char *prefix, const char *arg, va_list ap) {
    const char *bin = getenv("SD_SESSIONCTL");
    if (!bin) bin = SD_BINARY_DIR "/sessionctl";
    char *argv[MAX_ARGS + 1];
    int n = 0;
    argv[n++] = (char *)bin;
    if (prefix) argv[n++] = (char *)prefix;
    for (const char *a = arg; a; a = va_arg(ap, const char *)) {
        assert_true(n < MAX_ARGS);
        argv[n++] = (char *)a;
    }
    argv[n] = NULL;

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
        execv(bin, argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out = slurp(out_path);
    r->err = slurp(err_path);
    assert_non_null(r->out);
    assert_non_null(r->err);
}

/* run(&r, "jwks", "--pem", path, NULL): runs sessionctl with those arguments. */
static void run(run_result *r, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    run_va(r, NULL, arg, ap);
    va_end(ap);
}

static int write_key(const char *path, EVP_PKEY *pkey, int private_part) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = private_part ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_PUBKEY(f, pkey);
    return (fclose(f) == 0 && ok == 1) ? 0 : -1;
}

static int setup(void **state) {
    if (!mkdtemp(dir)) return -1;
    snprintf(rsa_priv, sizeof rsa_priv, "%s/rsa.pem", dir);
    snprintf(rsa_pub, sizeof rsa_pub, "%s/rsa.pub.pem", dir);
    snprintf(ec_priv, sizeof ec_priv, "%s/ec.pem", dir);
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);

    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    int rc = (!rsa || !ec || write_key(rsa_priv, rsa, 1) || write_key(rsa_pub, rsa, 0) ||
              write_key(ec_priv, ec, 1))
                 ? -1
                 : 0;
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    if (rc != 0) return -1;

    /* The EC key is given as its private PEM on purpose: jwks must publish
     * only the public part. */
    char rsa_arg[80], ec_arg[80];
    snprintf(rsa_arg, sizeof rsa_arg, "%s#r1", rsa_pub);
    snprintf(ec_arg, sizeof ec_arg, "%s#e1", ec_priv);
    run_result r;
    run(&r, "jwks", "--pem", rsa_arg, "--pem", ec_arg, NULL);
    if (r.status != 0) {
        fprintf(stderr, "sessionctl jwks failed (%d): %s", r.status, r.err);
        run_free(&r);
        return -1;
    }
    jwks_text = r.out;
    r.out = NULL;
    run_free(&r);
    keys = sd_keyset_new();
    if (!keys || sd_keyset_add_jwks(keys, jwks_text, strlen(jwks_text), 0) != 0) {
        fprintf(stderr, "sd_keyset_add_jwks refused:\n%s", jwks_text);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    sd_keyset_free(keys);
    free(jwks_text);
    const char *files[] = {rsa_priv, rsa_pub, ec_priv, out_path, err_path};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(dir);
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Mints a token: the arguments after "token" come as a NULL-terminated list.
 * Asserts success and a single line on stdout; returns the token (caller
 * frees) without its newline. */
static char *mint(const char *arg, ...) {
    run_result r;
    va_list ap;
    va_start(ap, arg);
    run_va(&r, "token", arg, ap);
    va_end(ap);
    if (r.status != 0) fprintf(stderr, "sessionctl token: %s", r.err);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    size_t len = strlen(r.out);
    assert_true(len > 1 && r.out[len - 1] == '\n');
    r.out[len - 1] = '\0';
    assert_null(strchr(r.out, '\n'));
    char *token = r.out;
    r.out = NULL;
    run_free(&r);
    return token;
}

/* Verifies token against the fixture's key set as the daemon would. */
static sd_claims *verify(const char *token, const char *audience) {
    sd_verify_policy policy = {ISSUER, audience, 60, 8192, NULL, NULL};
    sd_claims *claims = NULL;
    int rc = sd_token_verify(token, strlen(token), keys, &policy, (int64_t)time(NULL),
                             &claims);
    if (rc != 0) fprintf(stderr, "verify: %s\n", sd_strerror(rc));
    assert_int_equal(rc, 0);
    assert_non_null(claims);
    return claims;
}

/* Decodes the token's header into a JSON object (caller decrefs). */
static json_t *header_of(const char *token) {
    const char *dot = strchr(token, '.');
    assert_non_null(dot);
    size_t len = (size_t)(dot - token);
    unsigned char buf[512];
    size_t n = 0;
    assert_true(sd_b64url_decoded_max(len) <= sizeof buf);
    assert_int_equal(sd_b64url_decode(token, len, buf, sizeof buf, &n), 0);
    json_t *h = json_loadb((const char *)buf, n, 0, NULL);
    assert_non_null(h);
    return h;
}

static void assert_header(const char *token, const char *alg, const char *typ,
                          const char *kid) {
    json_t *h = header_of(token);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), alg);
    assert_string_equal(json_string_value(json_object_get(h, "typ")), typ);
    if (kid)
        assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
    else
        assert_null(json_object_get(h, "kid"));
    json_decref(h);
}

static void fmt_epoch(char *buf, size_t cap, int64_t v) {
    snprintf(buf, cap, "%lld", (long long)v);
}

/* ------------------------------------------------------------------------
 * jwks
 * ------------------------------------------------------------------------ */

static void test_jwks_loads_with_project_loader(void **state) {
    /* setup loaded jwks_text with sd_keyset_add_jwks; both keys were kept. */
    assert_int_equal(sd_keyset_count(keys), 2);

    json_t *doc = json_loads(jwks_text, 0, NULL);
    assert_non_null(doc);
    json_t *arr = json_object_get(doc, "keys");
    assert_int_equal(json_array_size(arr), 2);
    json_t *rsa = json_array_get(arr, 0), *ec = json_array_get(arr, 1);
    assert_string_equal(json_string_value(json_object_get(rsa, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(rsa, "kid")), "r1");
    assert_string_equal(json_string_value(json_object_get(rsa, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(rsa, "e")), "AQAB");
    /* No alg on RSA keys: the same key must verify RS and PS tokens. */
    assert_null(json_object_get(rsa, "alg"));
    assert_string_equal(json_string_value(json_object_get(ec, "kty")), "EC");
    assert_string_equal(json_string_value(json_object_get(ec, "kid")), "e1");
    assert_string_equal(json_string_value(json_object_get(ec, "crv")), "P-256");
    assert_string_equal(json_string_value(json_object_get(ec, "alg")), "ES256");
    /* 32-byte coordinates are 43 base64url characters, even with a leading
     * zero byte. */
    assert_int_equal(strlen(json_string_value(json_object_get(ec, "x"))), 43);
    assert_int_equal(strlen(json_string_value(json_object_get(ec, "y"))), 43);
    /* The private EC key was the input; its "d" must not leak out. */
    assert_null(json_object_get(ec, "d"));
    json_decref(doc);
}

static void test_jwks_alg_option(void **state) {
    run_result r;
    run(&r, "jwks", "--pem", rsa_priv, "--alg", "PS256", NULL);
    assert_int_equal(r.status, 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    json_t *k = json_array_get(json_object_get(doc, "keys"), 0);
    assert_string_equal(json_string_value(json_object_get(k, "alg")), "PS256");
    assert_null(json_object_get(k, "d"));
    assert_null(json_object_get(k, "kid"));
    json_decref(doc);
    run_free(&r);
}

/* ------------------------------------------------------------------------
 * token
 * ------------------------------------------------------------------------ */

static void test_interactive_token_claims(void **state) {
    int64_t iat = (int64_t)time(NULL);
    char iat_s[32];
    fmt_epoch(iat_s, sizeof iat_s, iat);
    char *token =
        mint("--key", rsa_priv, "--kid", "r1", "--iss", ISSUER, "--aud", "erp", "--sub",
             "alice", "--client-id", "app-1", "--sid", "sess-9", "--jti", "jti-1",
             "--scope", "read write", "--iat", iat_s, "--ttl", "20m", NULL);
    assert_header(token, "RS256", "JWT", "r1");
    sd_claims *c = verify(token, "erp");
    assert_string_equal(c->iss, ISSUER);
    assert_string_equal(c->sub, "alice");
    assert_string_equal(c->client_id, "app-1");
    assert_string_equal(c->sid, "sess-9");
    assert_string_equal(c->jti, "jti-1");
    assert_string_equal(c->scope, "read write");
    assert_true(c->has_iat);
    assert_int_equal(c->iat, iat);
    assert_int_equal(c->exp, iat + 20 * 60);
    assert_false(c->has_nbf);
    sd_claims_unref(c);
    free(token);
}

static void test_defaults_ttl_iat_jti(void **state) {
    int64_t before = (int64_t)time(NULL);
    char *token = mint("--key", rsa_priv, "--iss", ISSUER, "--sub", "bob", NULL);
    int64_t after = (int64_t)time(NULL);
    assert_header(token, "RS256", "JWT", NULL);
    sd_claims *c = verify(token, NULL);
    assert_true(c->iat >= before && c->iat <= after);
    assert_int_equal(c->exp, c->iat + 300);
    /* 16 random bytes, base64url: 22 characters. */
    assert_non_null(c->jti);
    assert_int_equal(strlen(c->jti), 22);
    assert_null(c->sid);
    assert_null(c->client_id);
    sd_claims_unref(c);

    /* A second token gets another jti. */
    char *again = mint("--key", rsa_priv, "--iss", ISSUER, "--sub", "bob", NULL);
    sd_claims *c2 = verify(again, NULL);
    c = verify(token, NULL);
    assert_string_not_equal(c->jti, c2->jti);
    sd_claims_unref(c);
    sd_claims_unref(c2);
    free(again);
    free(token);
}

static void test_service_token_has_no_sub(void **state) {
    char *token =
        mint("--key", rsa_priv, "--kid", "r1", "--iss", ISSUER, "--aud", "other", "--aud",
             "erp", "--client-id", "batch", "--ttl", "90", NULL);
    sd_claims *c = verify(token, "erp");
    assert_null(c->sub);
    assert_string_equal(c->client_id, "batch");
    assert_int_equal(c->exp, c->iat + 90);
    sd_claims_unref(c);
    free(token);
}

static void test_no_jti_exp_nbf(void **state) {
    int64_t now = (int64_t)time(NULL);
    char exp_s[32], nbf_s[32];
    fmt_epoch(exp_s, sizeof exp_s, now + 77);
    fmt_epoch(nbf_s, sizeof nbf_s, now - 5);
    /* --exp is absolute and wins over --ttl. */
    char *token = mint("--key", rsa_priv, "--iss", ISSUER, "--no-jti", "--exp", exp_s,
                       "--ttl", "1h", "--nbf", nbf_s, NULL);
    sd_claims *c = verify(token, NULL);
    assert_null(c->jti);
    assert_int_equal(c->exp, now + 77);
    assert_true(c->has_nbf);
    assert_int_equal(c->nbf, now - 5);
    sd_claims_unref(c);
    free(token);
}

static void test_claim_raw_json(void **state) {
    /* A raw JSON array for scope: the verifier joins it with spaces. */
    char *token = mint("--key", rsa_priv, "--iss", ISSUER, "--sub", "carol", "--claim",
                       "scope=[\"a\",\"b\"]", "--claim", "roles={\"x\":1}", NULL);
    sd_claims *c = verify(token, NULL);
    assert_string_equal(c->scope, "a b");
    sd_claims_unref(c);
    free(token);
}

static void test_es256_from_ec_key(void **state) {
    char *token = mint("--key", ec_priv, "--kid", "e1", "--iss", ISSUER, "--aud", "erp",
                       "--sub", "dave", "--sid", "s-ec", NULL);
    assert_header(token, "ES256", "JWT", "e1");
    sd_claims *c = verify(token, "erp");
    assert_string_equal(c->sub, "dave");
    assert_string_equal(c->sid, "s-ec");
    sd_claims_unref(c);
    free(token);
}

static void test_ps256_from_rsa_key(void **state) {
    char *token =
        mint("--key", rsa_priv, "--kid", "r1", "--alg", "PS256", "--iss", ISSUER, NULL);
    assert_header(token, "PS256", "JWT", "r1");
    sd_claims_unref(verify(token, NULL));
    free(token);
}

/* libjwt cannot write typ at+jwt (RFC 9068 access tokens); the EVP signer
 * does, for RS and ES keys alike. */
static void test_typ_at_jwt(void **state) {
    const char *key_files[] = {rsa_priv, ec_priv};
    const char *algs[] = {"RS256", "ES256"};
    for (int i = 0; i < 2; i++) {
        char *token = mint("--key", key_files[i], "--kid", i ? "e1" : "r1", "--typ", "at+jwt",
                           "--iss", ISSUER, "--sub", "erin", NULL);
        assert_header(token, algs[i], "at+jwt", i ? "e1" : "r1");
        sd_claims *c = verify(token, NULL);
        assert_string_equal(c->sub, "erin");
        sd_claims_unref(c);
        free(token);
    }
}

/* ------------------------------------------------------------------------
 * Exit codes
 * ------------------------------------------------------------------------ */

/* Asserts a failed run: status, nothing on stdout, one "sessionctl:" line on
 * stderr. */
static void assert_failed(run_result *r, int status) {
    assert_int_equal(r->status, status);
    assert_string_equal(r->out, "");
    assert_int_equal(strncmp(r->err, "sessionctl: ", 12), 0);
    char *nl = strchr(r->err, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    run_free(r);
}

static void test_exit_codes(void **state) {
    char missing[96];
    snprintf(missing, sizeof missing, "%s/no-such-key.pem", dir);
    run_result r;

    run(&r, "token", "--iss", ISSUER, NULL);
    assert_failed(&r, 2); /* --key missing */
    run(&r, "token", "--key", rsa_priv, NULL);
    assert_failed(&r, 2); /* --iss missing */
    run(&r, "token", "--key", missing, "--iss", ISSUER, NULL);
    assert_failed(&r, 1); /* unreadable key */
    run(&r, "token", "--key", rsa_pub, "--iss", ISSUER, NULL);
    assert_failed(&r, 1); /* a public key cannot sign */
    run(&r, "frobnicate", NULL);
    assert_failed(&r, 2);
    run(&r, "token", "--key", rsa_priv, "--iss", ISSUER, "--claim", "x={nope", NULL);
    assert_failed(&r, 2);
    run(&r, "token", "--key", rsa_priv, "--iss", ISSUER, "--claim", "=1", NULL);
    assert_failed(&r, 2);
    run(&r, "token", "--key", rsa_priv, "--iss", ISSUER, "--ttl", "300ms", NULL);
    assert_failed(&r, 2);
    run(&r, "token", "--key", rsa_priv, "--iss", ISSUER, "--alg", "ES256", NULL);
    assert_failed(&r, 2);
    run(&r, "token", "--key", rsa_priv, "--iss", ISSUER, "--bogus", NULL);
    assert_failed(&r, 2);
    run(&r, "jwks", NULL);
    assert_failed(&r, 2);
    run(&r, "jwks", "--pem", missing, NULL);
    assert_failed(&r, 1);
    run(&r, NULL);
    assert_int_equal(r.status, 2);
    run_free(&r);
}

static void test_help(void **state) {
    const char *cmds[][2] = {{"--help", NULL},
                             {"-h", NULL},
                             {"help", NULL},
                             {"token", "--help"},
                             {"jwks", "--help"}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        run_result r;
        run(&r, cmds[i][0], cmds[i][1], NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Usage"));
        assert_string_equal(r.err, "");
        run_free(&r);
    }
    run_result r;
    run(&r, "--version", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(strncmp(r.out, "sessionctl ", 11), 0);
    run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwks_loads_with_project_loader),
        cmocka_unit_test(test_jwks_alg_option),
        cmocka_unit_test(test_interactive_token_claims),
        cmocka_unit_test(test_defaults_ttl_iat_jti),
        cmocka_unit_test(test_service_token_has_no_sub),
        cmocka_unit_test(test_no_jti_exp_nbf),
        cmocka_unit_test(test_claim_raw_json),
        cmocka_unit_test(test_es256_from_ec_key),
        cmocka_unit_test(test_ps256_from_rsa_key),
        cmocka_unit_test(test_typ_at_jwt),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests_name("sessionctl", tests, setup, teardown);
}
