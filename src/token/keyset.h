/* The inside of sd_keyset and the key-pinning helpers shared by the
 * loaders and the verifier (private). */
#ifndef SD_TOKEN_KEYSET_H
#define SD_TOKEN_KEYSET_H

#include "sessiond/token.h"
#include "token/alg.h"

#include <openssl/evp.h>

typedef enum sd_kty { SD_KTY_RSA, SD_KTY_EC, SD_KTY_OCT } sd_kty;

/* One verification key, parsed once at load. */
typedef struct sd_key {
    char *kid;              /* owned; NULL when the key has no kid */
    sd_kty kty;
    unsigned algs;          /* SD_ALG_BIT set this key may verify (its pin) */
    EVP_PKEY *pkey;         /* owned; RSA and EC keys */
    /* owned; per algorithm of the key's type, a context made ready for
     * EVP_PKEY_verify once at load (padding, salt, digest), so a check is
     * one hash and one public-key operation, as in `openssl speed`.
     * Reused by every check: a key set serves one thread at a time. */
    EVP_PKEY_CTX *verify_ctx[SD_ALG_COUNT];
    unsigned char *secret;  /* owned; oct keys */
    size_t secret_len;
} sd_key;

struct sd_keyset {
    sd_key *keys;           /* owned array of count keys */
    size_t count;
    int has_hmac;           /* 1 when any key is oct: HS algs are accepted */
};

/* Smallest RSA modulus accepted at load (RFC 7518 §3.3), and the largest
 * (a huge modulus would make every signature check slow). */
#define SD_RSA_MIN_BITS 2048
#define SD_RSA_MAX_BITS 16384

/* Largest JWKS file read by sd_keyset_add_jwks_file. */
#define SD_JWKS_MAX_BYTES (4u << 20)

/* Frees what k owns and zeroes it (the secret is cleansed first). */
void sd_key_clear(sd_key *k);

/* Fills *k from a public RSA or EC key: kty and the pin of its type (RSA ->
 * RS and PS; EC -> the ES alg of its curve). Takes ownership of pkey on
 * success only; kid (may be NULL) is copied. Returns 0, SD_EINVAL (other key
 * types, curves, or an RSA modulus under SD_RSA_MIN_BITS) or SD_ENOMEM. */
int sd_key_from_pkey(EVP_PKEY *pkey, const char *kid, sd_key *k);

/* Appends n keys to ks, all or nothing. On success ks owns them and the
 * caller's array entries are zeroed; on SD_ENOMEM ks is unchanged and the
 * caller still owns them. */
int sd_keyset_append(sd_keyset *ks, sd_key *keys, size_t n);

#endif
