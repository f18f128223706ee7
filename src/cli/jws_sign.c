/* A compact-JWS signer on OpenSSL EVP for sessionctl token. libjwt 1.10
 * cannot be used for this: it overwrites any "typ" header with "JWT", while
 * access tokens carry "at+jwt" (RFC 9068), and it has no PS algorithms. */
#include "cli/cli.h"
#include "core/base64url.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <stdlib.h>
#include <string.h>

/* The algorithms this signer knows, with the key type each one needs. */
static const struct {
    const char *alg;
    int key_type; /* EVP_PKEY_RSA or EVP_PKEY_EC */
    int pss;      /* RSASSA-PSS instead of PKCS#1 v1.5 */
    const char *digest;
} jws_algs[] = {
    {"RS256", EVP_PKEY_RSA, 0, "SHA256"}, {"RS384", EVP_PKEY_RSA, 0, "SHA384"},
    {"RS512", EVP_PKEY_RSA, 0, "SHA512"}, {"PS256", EVP_PKEY_RSA, 1, "SHA256"},
    {"PS384", EVP_PKEY_RSA, 1, "SHA384"}, {"PS512", EVP_PKEY_RSA, 1, "SHA512"},
    {"ES256", EVP_PKEY_EC, 0, "SHA256"},  {"ES384", EVP_PKEY_EC, 0, "SHA384"},
    {"ES512", EVP_PKEY_EC, 0, "SHA512"},
};

static int alg_index(const char *alg) {
    for (size_t i = 0; i < sizeof jws_algs / sizeof jws_algs[0]; i++)
        if (strcmp(alg, jws_algs[i].alg) == 0) return (int)i;
    return -1;
}

int cli_jws_alg_fits(const EVP_PKEY *pkey, const char *alg) {
    int i = alg_index(alg);
    if (i < 0 || EVP_PKEY_get_base_id(pkey) != jws_algs[i].key_type) return 0;
    /* ES algorithms are each bound to one curve (RFC 7518 §3.4). */
    if (jws_algs[i].key_type == EVP_PKEY_EC) {
        const char *ec_alg = cli_ec_alg(pkey, NULL, NULL);
        return ec_alg && strcmp(ec_alg, alg) == 0;
    }
    return 1;
}

/* Turns a DER ECDSA signature into JWS's fixed-width r || s (RFC 7518
 * §3.4). Returns a new buffer of 2 * coord_len bytes, or NULL. */
static unsigned char *ecdsa_der_to_jose(const unsigned char *der, size_t der_len,
                                        size_t coord_len) {
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    unsigned char *out = sig ? malloc(2 * coord_len) : NULL;
    const BIGNUM *r, *s;
    if (out) {
        ECDSA_SIG_get0(sig, &r, &s);
        if (BN_bn2binpad(r, out, (int)coord_len) != (int)coord_len ||
            BN_bn2binpad(s, out + coord_len, (int)coord_len) != (int)coord_len) {
            free(out);
            out = NULL;
        }
    }
    ECDSA_SIG_free(sig);
    return out;
}

/* Signs len bytes of input with alg entry i; returns the JWS signature bytes
 * (caller frees) and their length in *sig_len, or NULL. */
static unsigned char *sign_bytes(EVP_PKEY *pkey, int i, const char *input, size_t len,
                                 size_t *sig_len) {
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL, *sig = NULL;
    size_t der_len = 0;
    if (!mctx || EVP_DigestSignInit_ex(mctx, &pctx, jws_algs[i].digest, NULL, NULL, pkey,
                                       NULL) != 1)
        goto out;
    /* PS*: salt as long as the digest, as RFC 7518 §3.5 requires. */
    if (jws_algs[i].pss &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto out;
    if (EVP_DigestSign(mctx, NULL, &der_len, (const unsigned char *)input, len) != 1 ||
        !(der = malloc(der_len)) ||
        EVP_DigestSign(mctx, der, &der_len, (const unsigned char *)input, len) != 1)
        goto out;
    if (jws_algs[i].key_type == EVP_PKEY_EC) {
        size_t coord_len = 0;
        cli_ec_alg(pkey, NULL, &coord_len);
        if ((sig = ecdsa_der_to_jose(der, der_len, coord_len))) *sig_len = 2 * coord_len;
    } else {
        sig = der;
        der = NULL;
        *sig_len = der_len;
    }
out:
    free(der);
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return sig;
}

/* Returns a new string "a.b", or NULL. */
static char *join_dot(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *out = malloc(la + 1 + lb + 1);
    if (!out) return NULL;
    memcpy(out, a, la);
    out[la] = '.';
    memcpy(out + la + 1, b, lb + 1);
    return out;
}

char *cli_jws_sign(EVP_PKEY *pkey, const char *alg, const char *header_json,
                   const char *payload_json) {
    int i = alg_index(alg);
    if (i < 0 || !cli_jws_alg_fits(pkey, alg)) return NULL;
    size_t sig_len = 0;
    char *h =
        sd_b64url_encode_alloc((const unsigned char *)header_json, strlen(header_json));
    char *p =
        sd_b64url_encode_alloc((const unsigned char *)payload_json, strlen(payload_json));
    char *input = h && p ? join_dot(h, p) : NULL;
    unsigned char *sig =
        input ? sign_bytes(pkey, i, input, strlen(input), &sig_len) : NULL;
    char *s = sig ? sd_b64url_encode_alloc(sig, sig_len) : NULL;
    char *token = s ? join_dot(input, s) : NULL;
    free(s);
    free(sig);
    free(input);
    free(p);
    free(h);
    return token;
}
