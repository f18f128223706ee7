/* Test-only JWS minting and key material with OpenSSL EVP (see jws_mint.h). */
#include "jws_mint.h"

#include "core/base64url.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* printf into a new string the caller frees. */
__attribute__((format(printf, 1, 2))) static char *str_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* The contents of a memory BIO as a new NUL-terminated string. */
static char *bio_to_string(BIO *bio) {
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len < 0) return NULL;
    char *s = malloc((size_t)len + 1);
    if (!s) return NULL;
    memcpy(s, data, (size_t)len);
    s[len] = '\0';
    return s;
}

/* base64url of a big number left-padded to width bytes (0: minimal). */
static char *bn_b64(const BIGNUM *bn, int width) {
    int len = width ? width : BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)len);
    if (!buf) return NULL;
    char *out = NULL;
    if (BN_bn2binpad(bn, buf, len) == len) out = sd_b64url_encode_alloc(buf, (size_t)len);
    free(buf);
    return out;
}

/* ------------------------------------------------------------------------
 * Algorithms
 * ------------------------------------------------------------------------ */

typedef enum { MINT_RS, MINT_PS, MINT_ES, MINT_HS } mint_kind;

typedef struct mint_alg {
    const char *name;
    mint_kind kind;
    int bits;  /* digest size: 256, 384 or 512 */
    int coord; /* ES: bytes of r and of s */
} mint_alg;

static const mint_alg algs[] = {
    {"RS256", MINT_RS, 256, 0},  {"RS384", MINT_RS, 384, 0},  {"RS512", MINT_RS, 512, 0},
    {"PS256", MINT_PS, 256, 0},  {"PS384", MINT_PS, 384, 0},  {"PS512", MINT_PS, 512, 0},
    {"ES256", MINT_ES, 256, 32}, {"ES384", MINT_ES, 384, 48}, {"ES512", MINT_ES, 512, 66},
    {"HS256", MINT_HS, 256, 0},  {"HS384", MINT_HS, 384, 0},  {"HS512", MINT_HS, 512, 0},
};

static const mint_alg *find_alg(const char *name) {
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0) return &algs[i];
    return NULL;
}

static const EVP_MD *alg_md(const mint_alg *a) {
    return a->bits == 256 ? EVP_sha256() : a->bits == 384 ? EVP_sha384() : EVP_sha512();
}

/* ------------------------------------------------------------------------
 * Keys
 * ------------------------------------------------------------------------ */

EVP_PKEY *sd_test_rsa_key(unsigned bits) { return EVP_RSA_gen(bits); }

EVP_PKEY *sd_test_ec_key(const char *curve) { return EVP_EC_gen(curve); }

char *sd_test_public_pem(EVP_PKEY *key) {
    BIO *bio = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (bio && PEM_write_bio_PUBKEY(bio, key) == 1) s = bio_to_string(bio);
    BIO_free(bio);
    return s;
}

char *sd_test_private_pem(EVP_PKEY *key) {
    BIO *bio = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1)
        s = bio_to_string(bio);
    BIO_free(bio);
    return s;
}

char *sd_test_public_pem_file(EVP_PKEY *key) {
    char *pem = sd_test_public_pem(key);
    char *path = strdup("/tmp/sd-test-key-XXXXXX");
    int fd = pem && path ? mkstemp(path) : -1;
    int ok = 0;
    if (fd >= 0) {
        size_t len = strlen(pem);
        ok = write(fd, pem, len) == (ssize_t)len;
        close(fd);
        if (!ok) unlink(path);
    }
    free(pem);
    if (!ok) {
        free(path);
        return NULL;
    }
    return path;
}

/* The JWK members of an RSA public key: "kty":"RSA","n":...,"e":... */
static char *rsa_members(EVP_PKEY *key) {
    BIGNUM *n = NULL, *e = NULL;
    char *n64 = NULL, *e64 = NULL, *out = NULL;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
        (n64 = bn_b64(n, 0)) && (e64 = bn_b64(e, 0)))
        out = str_printf("\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"", n64, e64);
    BN_free(n);
    BN_free(e);
    free(n64);
    free(e64);
    return out;
}

/* The JWK crv name and coordinate width of an OpenSSL group name. */
static const char *jwk_curve(const char *group, int *width) {
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
        *width = 32;
        return "P-256";
    }
    if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
        *width = 48;
        return "P-384";
    }
    if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0) {
        *width = 66;
        return "P-521";
    }
    return NULL;
}

/* The JWK members of an EC public key: "kty":"EC","crv":...,"x":...,"y":... */
static char *ec_members(EVP_PKEY *key) {
    char group[64];
    size_t glen = 0;
    int width = 0;
    const char *crv = NULL;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                       sizeof group, &glen) == 1)
        crv = jwk_curve(group, &width);
    if (!crv) return NULL;
    BIGNUM *x = NULL, *y = NULL;
    char *x64 = NULL, *y64 = NULL, *out = NULL;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
        (x64 = bn_b64(x, width)) && (y64 = bn_b64(y, width)))
        out = str_printf("\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"", crv,
                         x64, y64);
    BN_free(x);
    BN_free(y);
    free(x64);
    free(y64);
    return out;
}

char *sd_test_jwk(EVP_PKEY *key, const char *kid, const char *extra) {
    char *members = EVP_PKEY_is_a(key, "RSA")  ? rsa_members(key)
                    : EVP_PKEY_is_a(key, "EC") ? ec_members(key)
                                               : NULL;
    if (!members) return NULL;
    char *out =
        str_printf("{%s%s%s%s%s%s}", members, kid ? ",\"kid\":\"" : "", kid ? kid : "",
                   kid ? "\"" : "", extra ? "," : "", extra ? extra : "");
    free(members);
    return out;
}

char *sd_test_jwks(EVP_PKEY *key, const char *kid, const char *extra) {
    char *jwk = sd_test_jwk(key, kid, extra);
    if (!jwk) return NULL;
    char *out = str_printf("{\"keys\":[%s]}", jwk);
    free(jwk);
    return out;
}

/* ------------------------------------------------------------------------
 * Signing
 * ------------------------------------------------------------------------ */

/* Rewrites a DER ECDSA signature as fixed-width r || s (coord bytes each)
 * into a new buffer. */
static unsigned char *der_to_jws(const unsigned char *der, size_t der_len, int coord) {
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!es) return NULL;
    unsigned char *out = malloc((size_t)coord * 2);
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(es, &r, &s);
    if (out && (BN_bn2binpad(r, out, coord) != coord ||
                BN_bn2binpad(s, out + coord, coord) != coord)) {
        free(out);
        out = NULL;
    }
    ECDSA_SIG_free(es);
    return out;
}

/* Signs with an asymmetric key; DER for ES, raw for RS and PS. */
static unsigned char *evp_sign(const mint_alg *a, EVP_PKEY *key, const char *input,
                               size_t input_len, size_t *sig_len) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = NULL;
    size_t len = 0;
    if (!md || EVP_DigestSignInit(md, &pctx, alg_md(a), NULL, key) != 1) goto fail;
    if (a->kind == MINT_PS &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto fail;
    if (EVP_DigestSign(md, NULL, &len, (const unsigned char *)input, input_len) != 1 ||
        !(sig = malloc(len)) ||
        EVP_DigestSign(md, sig, &len, (const unsigned char *)input, input_len) != 1)
        goto fail;
    EVP_MD_CTX_free(md);
    *sig_len = len;
    return sig;
fail:
    free(sig);
    EVP_MD_CTX_free(md);
    return NULL;
}

unsigned char *sd_test_jws_signature(const char *alg, EVP_PKEY *key, const char *input,
                                     size_t input_len, size_t *sig_len) {
    const mint_alg *a = find_alg(alg);
    if (!a || a->kind == MINT_HS) return NULL;
    unsigned char *sig = evp_sign(a, key, input, input_len, sig_len);
    if (!sig || a->kind != MINT_ES) return sig;
    unsigned char *raw = der_to_jws(sig, *sig_len, a->coord);
    free(sig);
    *sig_len = (size_t)a->coord * 2;
    return raw;
}

char *sd_test_jws_assemble(const char *header_json, const char *payload_json,
                           const unsigned char *sig, size_t sig_len) {
    char *h =
        sd_b64url_encode_alloc((const unsigned char *)header_json, strlen(header_json));
    char *p =
        sd_b64url_encode_alloc((const unsigned char *)payload_json, strlen(payload_json));
    char *s = sd_b64url_encode_alloc(sig ? sig : (const unsigned char *)"", sig_len);
    char *out = h && p && s ? str_printf("%s.%s.%s", h, p, s) : NULL;
    free(h);
    free(p);
    free(s);
    return out;
}

/* header "." payload, base64url-encoded: the JWS signing input. */
static char *signing_input(const char *header_json, const char *payload_json) {
    char *t = sd_test_jws_assemble(header_json, payload_json, NULL, 0);
    if (t) t[strlen(t) - 1] = '\0'; /* drop the dot before the empty signature */
    return t;
}

/* Appends "." base64url(sig) to input, freeing input. */
static char *append_sig(char *input, const unsigned char *sig, size_t sig_len) {
    char *s = sig ? sd_b64url_encode_alloc(sig, sig_len) : NULL;
    char *out = input && s ? str_printf("%s.%s", input, s) : NULL;
    free(input);
    free(s);
    return out;
}

char *sd_test_jws_sign(const char *header_json, const char *payload_json, const char *alg,
                       EVP_PKEY *key) {
    char *input = signing_input(header_json, payload_json);
    if (!input) return NULL;
    size_t sig_len = 0;
    unsigned char *sig = sd_test_jws_signature(alg, key, input, strlen(input), &sig_len);
    char *out = append_sig(input, sig, sig_len);
    free(sig);
    return out;
}

char *sd_test_jws_hmac(const char *header_json, const char *payload_json, const char *alg,
                       const unsigned char *secret, size_t secret_len) {
    const mint_alg *a = find_alg(alg);
    char *input = signing_input(header_json, payload_json);
    if (!a || a->kind != MINT_HS || !input) {
        free(input);
        return NULL;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(alg_md(a), secret, (int)secret_len, (const unsigned char *)input,
              strlen(input), mac, &mac_len)) {
        free(input);
        return NULL;
    }
    return append_sig(input, mac, mac_len);
}
