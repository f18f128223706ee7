/* Access-token verification (SPEC §3).
 *
 * Tokens are verified with OpenSSL EVP on keys parsed once, when a key set is
 * loaded. libjwt is deliberately not used here (SPEC §2.1). The verifier is
 * pure: it reads no clock and no global state, so the caller passes "now".
 *
 * Ownership: every *_load / *_new returns an object the caller frees with the
 * matching *_free. sd_claims is reference counted because the worker's token
 * cache and in-flight requests share one verified result. */
#ifndef SESSIOND_TOKEN_H
#define SESSIOND_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------
 * Key sets
 * ------------------------------------------------------------------------ */

/* An immutable-after-load set of verification keys of one instance. Each key
 * is pinned to the algorithm family of its type: RSA -> RS and PS, EC ->
 * the one ES alg of its curve (P-256/ES256, P-384/ES384, P-521/ES512), oct ->
 * HS. A JWK "alg" member narrows the pin to exactly that algorithm. */
typedef struct sd_keyset sd_keyset;

/* Creates an empty key set. Returns NULL when out of memory. */
sd_keyset *sd_keyset_new(void);

/* Frees the set and every key in it. NULL is accepted. */
void sd_keyset_free(sd_keyset *ks);

/* Adds every usable key of a JWKS document ({"keys":[...]}) or a single JWK
 * object. Keys whose "use" is not "sig", or whose kty is unknown, are skipped;
 * a malformed member of an accepted kty fails the whole call. oct keys are
 * added only when allow_hmac is non-zero (SPEC §3: HMAC is off unless an
 * instance is configured for it). Returns 0, SD_EINVAL (bad JSON or key) or
 * SD_ENOMEM. On failure the set is unchanged. */
int sd_keyset_add_jwks(sd_keyset *ks, const char *json, size_t len,
                       int allow_hmac);

/* Reads a JWKS file and adds it as sd_keyset_add_jwks does. SD_EIO when the
 * file cannot be read. */
int sd_keyset_add_jwks_file(sd_keyset *ks, const char *path, int allow_hmac);

/* Adds one public key (RSA or EC) from a PEM file ("PUBLIC KEY" or
 * certificate). kid may be NULL. Returns 0, SD_EIO, SD_EINVAL or SD_ENOMEM. */
int sd_keyset_add_pem_file(sd_keyset *ks, const char *path, const char *kid);

/* Adds an HMAC secret (HS256/384/512 only). kid may be NULL. The secret is
 * copied. Returns 0, SD_EINVAL (empty secret) or SD_ENOMEM. */
int sd_keyset_add_hmac(sd_keyset *ks, const unsigned char *secret, size_t len,
                       const char *kid);

/* Number of keys in the set. */
size_t sd_keyset_count(const sd_keyset *ks);

/* The kid of key i (in load order), or NULL when it has none or i is out of
 * range. Borrowed: valid while ks lives. */
const char *sd_keyset_kid(const sd_keyset *ks, size_t i);

/* 1 when a and b hold the same keys in the same order (kid, type, pin and
 * key material all equal), else 0. Tells a refetched JWKS that changed from
 * one that did not. NULL equals only NULL. */
int sd_keyset_equal(const sd_keyset *a, const sd_keyset *b);

/* ------------------------------------------------------------------------
 * Verification
 * ------------------------------------------------------------------------ */

/* What the verifier checks besides the signature. */
typedef struct sd_verify_policy {
    const char *issuer;      /* required; "iss" must equal it byte for byte */
    const char *audience;    /* NULL: aud not checked; else must be in aud */
    int64_t leeway_s;        /* allowance for exp, nbf and iat, seconds */
    size_t max_token_bytes;  /* tokens longer than this are refused unread */
    /* Optional kind rule: when service_claim_name is set, a token whose
     * claim of that name equals service_claim_value (or, as an array,
     * contains it) is marked service_claim = 1 in its sd_claims. */
    const char *service_claim_name;
    const char *service_claim_value;
} sd_verify_policy;

/* A verified token's claims. All strings are NUL-terminated copies owned by
 * the sd_claims block; absent claims are NULL (numbers: 0 and has_* = 0). */
typedef struct sd_claims {
    const char *iss;
    const char *sub;
    const char *client_id;   /* "client_id", else "azp", else NULL */
    const char *sid;
    const char *jti;
    const char *scope;       /* "scope" string, or array joined by spaces */
    int64_t exp;             /* seconds since the epoch; always present */
    int64_t nbf;
    int64_t iat;
    int has_nbf;
    int has_iat;
    int service_claim;       /* the policy's service claim rule matched */
    unsigned char token_sha256[32]; /* hash of the whole compact token */
    unsigned refs;           /* reference count; see sd_claims_ref/unref */
} sd_claims;

/* Verifies a compact JWS token completely: size cap and strict compact form
 * first, then header, key selection and algorithm pin, signature, then
 * claims against policy at time now_s (seconds since the epoch).
 * On success returns 0 and stores a new sd_claims with one reference in *out.
 * On failure returns the specific negative SD_ETOKEN_* (or SD_ENOMEM) and
 * leaves *out NULL. The token need not be NUL-terminated. */
int sd_token_verify(const char *token, size_t len, const sd_keyset *keys,
                    const sd_verify_policy *policy, int64_t now_s,
                    sd_claims **out);

/* The signature layer alone: strict form, header checks, key selection and
 * signature, no claims (for published test vectors, whose claims are old or
 * not JSON). Returns 0 or the negative SD_ETOKEN_* of the first failure. */
int sd_token_verify_signature(const char *token, size_t len,
                              const sd_keyset *keys, size_t max_token_bytes);

/* Copies the token's "iss" claim, UNVERIFIED, into out (cap bytes, NUL
 * terminated). Only for choosing which instance's keys to try; never trust
 * it. Returns 0, or a negative SD_ETOKEN_* / SD_EINVAL when the token is
 * malformed, has no string iss, or iss does not fit. */
int sd_token_peek_issuer(const char *token, size_t len, size_t max_token_bytes,
                         char *out, size_t cap);

/* Takes one more reference; returns c. */
sd_claims *sd_claims_ref(sd_claims *c);

/* Drops one reference and frees the block at zero. NULL is accepted. */
void sd_claims_unref(sd_claims *c);

#endif
