/* Test-only JWS builder on OpenSSL EVP, so tests can sign hostile tokens
 * (exact header and payload bytes, any algorithm, any key) and produce the
 * key material (throw-away keys, PEM files, JWKS text) to verify them with.
 *
 * Ownership: every function returning char * or unsigned char * returns a
 * new buffer the caller frees with free(); every EVP_PKEY * is freed with
 * EVP_PKEY_free(). Functions return NULL on any failure. */
#ifndef SD_TEST_JWS_MINT_H
#define SD_TEST_JWS_MINT_H

#include <openssl/evp.h>
#include <stddef.h>

/* ------------------------------------------------------------------------
 * Keys
 * ------------------------------------------------------------------------ */

/* A new RSA key pair of bits bits (2048 unless a test wants a weak one). */
EVP_PKEY *sd_test_rsa_key(unsigned bits);

/* A new EC key pair on curve "P-256", "P-384" or "P-521". */
EVP_PKEY *sd_test_ec_key(const char *curve);

/* The public half of key as PEM text ("-----BEGIN PUBLIC KEY-----..."). */
char *sd_test_public_pem(EVP_PKEY *key);

/* The private key as unencrypted PKCS#8 PEM text (for libjwt). */
char *sd_test_private_pem(EVP_PKEY *key);

/* Writes the public half of key as PEM to a new temporary file and returns
 * its path; the caller unlink()s the file and frees the path. */
char *sd_test_public_pem_file(EVP_PKEY *key);

/* The public key as one JWK object: kty and n/e or crv/x/y, plus "kid" when
 * kid is not NULL, plus extra (NULL, or members text such as
 * "\"use\":\"enc\"" appended verbatim after a comma). */
char *sd_test_jwk(EVP_PKEY *key, const char *kid, const char *extra);

/* {"keys":[<sd_test_jwk(key, kid, extra)>]}. */
char *sd_test_jwks(EVP_PKEY *key, const char *kid, const char *extra);

/* ------------------------------------------------------------------------
 * Tokens
 * ------------------------------------------------------------------------ */

/* base64url(header) "." base64url(payload) "." base64url(sig): the exact
 * bytes given, signed or not. sig may be NULL when sig_len is 0. */
char *sd_test_jws_assemble(const char *header_json, const char *payload_json,
                           const unsigned char *sig, size_t sig_len);

/* Signs input (input_len bytes) with alg ("RS256" ... "ES512") and key and
 * returns the JWS signature bytes (ES: fixed-width r || s) with their length
 * in *sig_len. */
unsigned char *sd_test_jws_signature(const char *alg, EVP_PKEY *key, const char *input,
                                     size_t input_len, size_t *sig_len);

/* A compact token over header_json and payload_json (used byte for byte),
 * signed with alg ("RS/PS/ES 256/384/512") and key. The alg named in the
 * header is whatever header_json says; alg only chooses how to sign. */
char *sd_test_jws_sign(const char *header_json, const char *payload_json, const char *alg,
                       EVP_PKEY *key);

/* The same with HMAC: alg is "HS256", "HS384" or "HS512". */
char *sd_test_jws_hmac(const char *header_json, const char *payload_json, const char *alg,
                       const unsigned char *secret, size_t secret_len);

#endif
