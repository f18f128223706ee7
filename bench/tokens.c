/* Token side of the benchmark (bench/run).
 *
 *   bench_tokens mint DIR ISSUER AUDIENCE COUNT
 *       Makes a throw-away RSA-2048 key and writes DIR/jwks.json and three
 *       files of COUNT tokens each, one per line (RS256, valid 2 h):
 *         hot.txt    sub user-<i>, sid hot-<i>   (the hot path's sessions)
 *         churn.txt  sub churn-<i>, sid churn-<i> (open/close, deny path)
 *         bad.txt    hot.txt's tokens with one signature byte changed
 *   bench_tokens verify SECONDS
 *       Cold verification in this process, no cache, on distinct RS256
 *       (2048-bit) and ES256 (P-256) tokens, SECONDS per figure: the whole
 *       check (sd_token_verify: form, header, signature, claims) and the
 *       signature layer alone (sd_token_verify_signature: form, header, key,
 *       signature); prints {"rs256_per_s", "es256_per_s", "rs256_sig_per_s",
 *       "es256_sig_per_s"} as JSON on stdout.
 *   bench_tokens sha SCRIPT
 *       The SHA-1 that EVALSHA names the embedded script SCRIPT by (e.g.
 *       open_or_resume-9), for calling it from redis-benchmark.
 *   bench_tokens script SCRIPT
 *       The embedded script's text (includes inlined), for SCRIPT LOAD.
 *
 * Tokens are signed with the test suite's OpenSSL signer (tests/support). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "jws_mint.h"
#include "sessiond/error.h"
#include "sessiond/token.h"
#include "store/scripts_embedded.h"

#define VERIFY_TOKENS 2000

static char *mint(EVP_PKEY *key, const char *alg, const char *kid, const char *iss,
                  const char *aud, const char *tag, int i, int64_t now) {
    char header[128], payload[512];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             alg, kid);
    snprintf(
        payload, sizeof payload,
        "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"%s-%d\",\"client_id\":\"bench-web\","
        "\"sid\":\"%s-%d\",\"jti\":\"%s-%d\",\"scope\":\"erp\",\"iat\":%lld,"
        "\"exp\":%lld}",
        iss, aud, strcmp(tag, "hot") == 0 ? "user" : tag, i, tag, i, tag, i,
        (long long)now, (long long)now + 7200);
    return sd_test_jws_sign(header, payload, alg, key);
}

static int write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int mint_set(const char *dir, const char *name, EVP_PKEY *key, const char *iss,
                    const char *aud, const char *tag, int count, int corrupt) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int64_t now = (int64_t)time(NULL);
    for (int i = 0; i < count; i++) {
        char *t = mint(key, "RS256", "bench-rsa", iss, aud, tag, i, now);
        if (!t) return -1;
        /* A changed character in the middle of the signature: still strict
         * base64url, but the signature no longer verifies. */
        if (corrupt) {
            size_t n = strlen(t);
            t[n - 20] = t[n - 20] == 'A' ? 'B' : 'A';
        }
        fprintf(f, "%s\n", t);
        free(t);
    }
    return fclose(f);
}

static int cmd_mint(const char *dir, const char *iss, const char *aud, int count) {
    EVP_PKEY *key = sd_test_rsa_key(2048);
    char *jwks = key ? sd_test_jwks(key, "bench-rsa", NULL) : NULL;
    int rc = !jwks || write_file(dir, "jwks.json", jwks) ||
             mint_set(dir, "hot.txt", key, iss, aud, "hot", count, 0) ||
             mint_set(dir, "churn.txt", key, iss, aud, "churn", count, 0) ||
             mint_set(dir, "bad.txt", key, iss, aud, "hot", count, 1);
    free(jwks);
    EVP_PKEY_free(key);
    if (rc) fprintf(stderr, "bench_tokens: cannot mint into %s\n", dir);
    return rc;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Verifies distinct tokens of one algorithm for seconds, the whole check or
 * (sig_only) the signature layer; verifies/s or -1. */
static double verify_rate(EVP_PKEY *key, const char *alg, const char *kid,
                          double seconds, int sig_only) {
    const char *iss = "https://id.bench.example", *aud = "bench";
    sd_keyset *ks = sd_keyset_new();
    char *jwks = sd_test_jwks(key, kid, NULL);
    char **tokens = calloc(VERIFY_TOKENS, sizeof *tokens);
    size_t *lens = calloc(VERIFY_TOKENS, sizeof *lens);
    double rate = -1;
    if (!ks || !jwks || !tokens || !lens ||
        sd_keyset_add_jwks(ks, jwks, strlen(jwks), 0) != 0)
        goto out;
    int64_t now = (int64_t)time(NULL);
    for (int i = 0; i < VERIFY_TOKENS; i++) {
        if (!(tokens[i] = mint(key, alg, kid, iss, aud, "verify", i, now))) goto out;
        lens[i] = strlen(tokens[i]);
    }
    sd_verify_policy policy = {
        .issuer = iss, .audience = aud, .leeway_s = 60, .max_token_bytes = 8192};
    long n = 0;
    double start = now_s(), end = start + seconds, clock = start;
    while (clock < end) {
        for (int k = 0; k < 64; k++, n++) {
            const char *t = tokens[n % VERIFY_TOKENS];
            size_t len = lens[n % VERIFY_TOKENS];
            sd_claims *c = NULL;
            if (sig_only ? sd_token_verify_signature(t, len, ks, policy.max_token_bytes)
                         : sd_token_verify(t, len, ks, &policy, now, &c))
                goto out;
            sd_claims_unref(c);
        }
        clock = now_s();
    }
    rate = (double)n / (clock - start);
out:
    for (int i = 0; tokens && i < VERIFY_TOKENS; i++)
        free(tokens[i]);
    free(tokens);
    free(lens);
    free(jwks);
    sd_keyset_free(ks);
    return rate;
}

static int cmd_verify(double seconds) {
    EVP_PKEY *rsa = sd_test_rsa_key(2048), *ec = sd_test_ec_key("P-256");
    double rs = rsa ? verify_rate(rsa, "RS256", "v-rsa", seconds, 0) : -1;
    double es = ec ? verify_rate(ec, "ES256", "v-ec", seconds, 0) : -1;
    double rs_sig = rsa ? verify_rate(rsa, "RS256", "v-rsa", seconds, 1) : -1;
    double es_sig = ec ? verify_rate(ec, "ES256", "v-ec", seconds, 1) : -1;
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    if (rs < 0 || es < 0 || rs_sig < 0 || es_sig < 0) {
        fprintf(stderr, "bench_tokens: verification failed\n");
        return 1;
    }
    printf("{\"rs256_per_s\": %.0f, \"es256_per_s\": %.0f, \"rs256_sig_per_s\": %.0f, "
           "\"es256_sig_per_s\": %.0f}\n",
           rs, es, rs_sig, es_sig);
    return 0;
}

static int cmd_sha(const char *name, int text) {
    for (unsigned i = 0; i < sd_embedded_script_count; i++) {
        const sd_embedded_script *s = &sd_embedded_scripts[i];
        if (strcmp(s->name, name) != 0) continue;
        if (text) return fwrite(s->text, 1, s->len, stdout) == s->len ? 0 : 1;
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)s->text, s->len, md);
        for (int k = 0; k < SHA_DIGEST_LENGTH; k++)
            printf("%02x", md[k]);
        putchar('\n');
        return 0;
    }
    fprintf(stderr, "bench_tokens: no script %s\n", name);
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "mint") == 0 && atoi(argv[5]) > 0)
        return cmd_mint(argv[2], argv[3], argv[4], atoi(argv[5]));
    if (argc == 3 && strcmp(argv[1], "verify") == 0 && atof(argv[2]) > 0)
        return cmd_verify(atof(argv[2]));
    if (argc == 3 && strcmp(argv[1], "sha") == 0) return cmd_sha(argv[2], 0);
    if (argc == 3 && strcmp(argv[1], "script") == 0) return cmd_sha(argv[2], 1);
    fprintf(stderr, "usage: bench_tokens mint DIR ISSUER AUDIENCE COUNT\n"
                    "       bench_tokens verify SECONDS\n"
                    "       bench_tokens sha SCRIPT\n"
                    "       bench_tokens script SCRIPT\n");
    return 2;
}
