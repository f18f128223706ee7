/* JWKS and JWK loading: RSA n/e and EC crv/x/y become EVP_PKEYs built with
 * OSSL_PARAM_BLD, oct k becomes an HMAC secret. */
#include "core/base64url.h"
#include "token/keyset.h"

#include "sessiond/error.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jwk_parse outcome besides 0 and a negative sd_err: the member is valid but
 * not a key this verifier uses (other "use", kty, curve or alg). */
#define JWK_SKIPPED 1

/* ------------------------------------------------------------------------
 * Members
 * ------------------------------------------------------------------------ */

/* Decodes the base64url string member name of jwk into a new buffer the
 * caller frees (cleansing it when it is secret). Returns 0, SD_EINVAL
 * (absent, not a string, not strict base64url, or empty) or SD_ENOMEM. */
static int member_b64(const json_t *jwk, const char *name, unsigned char **out,
                      size_t *out_len) {
    const json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v)) return SD_EINVAL;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    size_t cap = sd_b64url_decoded_max(len);
    if (cap == 0) return SD_EINVAL;
    unsigned char *buf = malloc(cap);
    if (!buf) return SD_ENOMEM;
    if (sd_b64url_decode(s, len, buf, cap, out_len) != 0 || *out_len == 0) {
        free(buf);
        return SD_EINVAL;
    }
    *out = buf;
    return 0;
}

/* The optional string member name: *out is NULL when absent. SD_EINVAL when
 * present with another type. */
static int member_opt_string(const json_t *jwk, const char *name, const char **out) {
    const json_t *v = json_object_get(jwk, name);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_string(v)) return SD_EINVAL;
    *out = json_string_value(v);
    return 0;
}

/* ------------------------------------------------------------------------
 * Building EVP_PKEYs
 * ------------------------------------------------------------------------ */

/* Turns params into a new public EVP_PKEY of type name ("RSA" or "EC") in
 * *out. Returns 0, SD_EINVAL (OpenSSL refused the values, e.g. an EC point
 * off its curve) or SD_ENOMEM. */
static int pkey_from_params(const char *name, OSSL_PARAM_BLD *bld, EVP_PKEY **out) {
    int rc = SD_ENOMEM;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
    if (!params || !ctx) goto out;
    rc = SD_EINVAL;
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto out;
    rc = 0;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (rc != 0) ERR_clear_error();
    return rc;
}

/* An RSA public key from the JWK members n and e. */
static int rsa_from_jwk(const json_t *jwk, EVP_PKEY **out) {
    unsigned char *n = NULL, *e = NULL;
    size_t n_len = 0, e_len = 0;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    int rc = member_b64(jwk, "n", &n, &n_len);
    if (rc == 0) rc = member_b64(jwk, "e", &e, &e_len);
    if (rc != 0) goto out;
    rc = SD_ENOMEM;
    bn_n = BN_bin2bn(n, (int)n_len, NULL);
    bn_e = BN_bin2bn(e, (int)e_len, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (!bn_n || !bn_e || !bld ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
        goto out;
    rc = pkey_from_params("RSA", bld, out);
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    free(n);
    free(e);
    return rc;
}

/* An EC public key from the JWK members crv, x and y. x and y must have the
 * full length of the curve's field (RFC 7518 §6.2.1.2). JWK_SKIPPED for a
 * curve other than P-256, P-384 and P-521. */
static int ec_from_jwk(const json_t *jwk, EVP_PKEY **out) {
    static const struct {
        const char *crv;
        size_t len;
    } curves[] = {{"P-256", 32}, {"P-384", 48}, {"P-521", 66}};
    const char *crv;
    if (member_opt_string(jwk, "crv", &crv) != 0 || !crv) return SD_EINVAL;
    size_t clen = 0;
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        if (strcmp(crv, curves[i].crv) == 0) clen = curves[i].len;
    if (clen == 0) return JWK_SKIPPED;

    unsigned char *x = NULL, *y = NULL, point[1 + 2 * 66];
    size_t x_len = 0, y_len = 0;
    OSSL_PARAM_BLD *bld = NULL;
    int rc = member_b64(jwk, "x", &x, &x_len);
    if (rc == 0) rc = member_b64(jwk, "y", &y, &y_len);
    if (rc != 0) goto out;
    rc = SD_EINVAL;
    if (x_len != clen || y_len != clen) goto out;
    point[0] = 0x04; /* uncompressed point: 04 || x || y */
    memcpy(point + 1, x, clen);
    memcpy(point + 1 + clen, y, clen);
    rc = SD_ENOMEM;
    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                          1 + 2 * clen))
        goto out;
    rc = pkey_from_params("EC", bld, out);
out:
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return rc;
}

/* ------------------------------------------------------------------------
 * One JWK
 * ------------------------------------------------------------------------ */

/* Narrows k's pin to the JWK's "alg" (alg_name; NULL: no narrowing).
 * JWK_SKIPPED for an alg this verifier does not use (e.g. RSA-OAEP on a key
 * without "use"); SD_EINVAL for a signature alg of another key type. */
static int narrow_pin(sd_key *k, const char *alg_name) {
    sd_alg alg;
    if (!alg_name) return 0;
    if (sd_alg_from_name(alg_name, strlen(alg_name), &alg) != 0) return JWK_SKIPPED;
    if (!(k->algs & SD_ALG_BIT(alg))) return SD_EINVAL;
    k->algs = SD_ALG_BIT(alg);
    return 0;
}

/* An oct key: the secret of member k, pinned to HS. */
static int oct_from_jwk(const json_t *jwk, const char *kid, sd_key *k) {
    memset(k, 0, sizeof *k);
    k->kty = SD_KTY_OCT;
    k->algs = SD_ALGS_HMAC;
    int rc = member_b64(jwk, "k", &k->secret, &k->secret_len);
    if (rc == 0 && kid && !(k->kid = strdup(kid))) rc = SD_ENOMEM;
    if (rc != 0) sd_key_clear(k);
    return rc;
}

/* Parses one JWK into *k. Returns 0 (k filled, caller owns it),
 * JWK_SKIPPED (k empty), SD_EINVAL or SD_ENOMEM (k empty). */
static int jwk_parse(const json_t *jwk, int allow_hmac, sd_key *k) {
    const char *kty, *use, *kid, *alg;
    memset(k, 0, sizeof *k);
    if (!json_is_object(jwk)) return SD_EINVAL;
    if (member_opt_string(jwk, "kty", &kty) != 0 || !kty ||
        member_opt_string(jwk, "use", &use) != 0 ||
        member_opt_string(jwk, "kid", &kid) != 0 ||
        member_opt_string(jwk, "alg", &alg) != 0)
        return SD_EINVAL;
    if (use && strcmp(use, "sig") != 0) return JWK_SKIPPED;

    int rc;
    EVP_PKEY *pkey = NULL;
    if (strcmp(kty, "RSA") == 0) {
        rc = rsa_from_jwk(jwk, &pkey);
    } else if (strcmp(kty, "EC") == 0) {
        rc = ec_from_jwk(jwk, &pkey);
    } else if (strcmp(kty, "oct") == 0) {
        if (!allow_hmac) return JWK_SKIPPED;
        rc = oct_from_jwk(jwk, kid, k);
        if (rc != 0) return rc;
        goto pin;
    } else {
        return JWK_SKIPPED;
    }
    if (rc != 0) return rc;
    rc = sd_key_from_pkey(pkey, kid, k);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
        return rc;
    }
pin:
    rc = narrow_pin(k, alg);
    if (rc != 0) sd_key_clear(k);
    return rc;
}

/* ------------------------------------------------------------------------
 * JWKS documents
 * ------------------------------------------------------------------------ */

int sd_keyset_add_jwks(sd_keyset *ks, const char *json, size_t len, int allow_hmac) {
    if (!ks || !json) return SD_EINVAL;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return SD_EINVAL;
    }

    /* A document with "keys" is a JWKS; any other object is one JWK. */
    json_t *list = json_object_get(root, "keys");
    size_t n = list ? json_array_size(list) : 1;
    if (list && !json_is_array(list)) {
        json_decref(root);
        return SD_EINVAL;
    }

    int rc = 0;
    size_t used = 0;
    sd_key *keys = calloc(n ? n : 1, sizeof(sd_key));
    if (!keys) {
        rc = SD_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = jwk_parse(list ? json_array_get(list, i) : root, allow_hmac, &keys[used]);
        if (rc == JWK_SKIPPED) continue;
        if (rc != 0) goto out;
        used++;
    }
    rc = sd_keyset_append(ks, keys, used);
out:
    /* After a successful append the entries are zeroed; clearing is a no-op. */
    for (size_t i = 0; keys && i < used; i++) sd_key_clear(&keys[i]);
    free(keys);
    json_decref(root);
    return rc == JWK_SKIPPED ? 0 : rc;
}

int sd_keyset_add_jwks_file(sd_keyset *ks, const char *path, int allow_hmac) {
    if (!ks || !path) return SD_EINVAL;
    FILE *f = fopen(path, "rb");
    if (!f) return SD_EIO;
    char *buf = malloc(SD_JWKS_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return SD_ENOMEM;
    }
    size_t len = fread(buf, 1, SD_JWKS_MAX_BYTES + 1, f);
    int rc = ferror(f) ? SD_EIO : len > SD_JWKS_MAX_BYTES ? SD_EINVAL : 0;
    fclose(f);
    if (rc == 0) rc = sd_keyset_add_jwks(ks, buf, len, allow_hmac);
    OPENSSL_cleanse(buf, len < SD_JWKS_MAX_BYTES ? len : SD_JWKS_MAX_BYTES);
    free(buf);
    return rc;
}
