/* The attack suite: hostile and malformed tokens, each with the verdict the
 * verifier must reach, built at run time with throw-away OpenSSL keys.
 *
 * The verdicts hold for an instance whose keys are sd_attack_keys.jwks (an
 * RSA key pinned to RS256, a P-256 and a P-384 key, no HMAC), whose policy is
 * {issuer, audience, leeway 60 s, max_token_bytes SD_ATTACK_MAX_TOKEN_BYTES}
 * at time now. tests/unit/test_attack.c runs every case in-process;
 * tests/integration/test_attack_http.c sends every case through a running
 * sessiond (401 with the reason, nothing opened in Redis). */
#ifndef SD_TEST_ATTACK_TOKENS_H
#define SD_TEST_ATTACK_TOKENS_H

#include <stddef.h>

#include <openssl/evp.h>

/* Large enough that a 10 KB kid reaches the key lookup; a 64 KiB token
 * still does not fit. */
#define SD_ATTACK_MAX_TOKEN_BYTES 16384

/* kids of the instance's keys. */
#define SD_ATTACK_KID_RSA "rsa-1"
#define SD_ATTACK_KID_EC256 "ec-256"
#define SD_ATTACK_KID_EC384 "ec-384"

typedef struct sd_attack_keys {
    EVP_PKEY *rsa;       /* the instance's RSA key, JWK alg RS256 */
    EVP_PKEY *ec256;     /* the instance's P-256 key */
    EVP_PKEY *ec384;     /* the instance's P-384 key */
    EVP_PKEY *attacker;  /* an RSA key the instance does not know */
    EVP_PKEY *attacker384; /* a P-384 key the instance does not know */
    char *jwks;          /* the instance's public JWKS */
} sd_attack_keys;

/* One hostile token and what must happen to it. */
typedef struct sd_attack_case {
    char name[64];       /* unique, e.g. "alg_none_NoNe" */
    char *token;         /* owned; NUL-terminated, len bytes */
    size_t len;
    const char *reason;  /* sd_errname of the verdict, e.g. "alg_none" */
    /* Over HTTP: the status and the reason in the body. Equal to 401 and
     * reason except where the HTTP layer answers before the verifier. */
    int http_status;
    const char *http_reason; /* NULL: the body has no "reason" */
} sd_attack_case;

/* Makes the keys and their JWKS. Returns 0 or -1. */
int sd_attack_keys_make(sd_attack_keys *k);
void sd_attack_keys_free(sd_attack_keys *k);

/* Builds every case for issuer/audience at time now; url is where jku and
 * x5u headers point (a test server that counts requests: it must see none).
 * Stores a new array in *out (free with sd_attack_free) and returns the
 * count, or 0 on failure. */
size_t sd_attack_build(const sd_attack_keys *k, const char *issuer, const char *audience,
                       long now, const char *url, sd_attack_case **out);

void sd_attack_free(sd_attack_case *cases, size_t n);

#endif
