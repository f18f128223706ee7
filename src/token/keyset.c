/* Key set life cycle, key pinning, and the PEM and HMAC loaders. */
#include "token/keyset.h"

#include "sessiond/error.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Keys
 * ------------------------------------------------------------------------ */

void sd_key_clear(sd_key *k) {
    free(k->kid);
    for (int a = 0; a < SD_ALG_COUNT; a++)
        EVP_PKEY_CTX_free(k->verify_ctx[a]);
    EVP_PKEY_free(k->pkey);
    if (k->secret) OPENSSL_cleanse(k->secret, k->secret_len);
    free(k->secret);
    memset(k, 0, sizeof *k);
}

/* The ES alg of a named curve, by either of OpenSSL's names for it; 0 and
 * SD_EINVAL for any other curve. */
static int es_alg_of_curve(const char *group, sd_alg *alg) {
    static const struct {
        const char *sn, *nist;
        sd_alg alg;
    } curves[] = {
        {"prime256v1", "P-256", SD_ALG_ES256},
        {"secp384r1", "P-384", SD_ALG_ES384},
        {"secp521r1", "P-521", SD_ALG_ES512},
    };
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++) {
        if (strcmp(group, curves[i].sn) == 0 || strcmp(group, curves[i].nist) == 0) {
            *alg = curves[i].alg;
            return 0;
        }
    }
    return SD_EINVAL;
}

/* An RSA public key's values, checked deterministically: n odd and at most
 * SD_RSA_MAX_BITS, e odd, 3 <= e < n. (OpenSSL's EVP_PKEY_public_check runs
 * a Miller-Rabin test with random bases on n, so a malformed modulus could
 * load on one try and not on the next: the same JWKS must always give the
 * same keys. A prime or otherwise weak n only harms its own owner.) */
static int rsa_public_ok(EVP_PKEY *pkey) {
    BIGNUM *n = NULL, *e = NULL;
    int ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
             EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
             BN_is_odd(n) && BN_num_bits(n) <= SD_RSA_MAX_BITS && BN_is_odd(e) &&
             BN_cmp(e, BN_value_one()) > 0 && BN_cmp(e, n) < 0;
    BN_free(n);
    BN_free(e);
    ERR_clear_error();
    return ok ? 0 : SD_EINVAL;
}

/* OpenSSL's own consistency check of an EC public key: the point is on
 * the curve, not at infinity, and in the right subgroup (deterministic). */
static int public_key_ok(EVP_PKEY *pkey) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!ctx) return SD_ENOMEM;
    int ok = EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : SD_EINVAL;
}

/* A context ready to verify signatures of alg over a digest with pkey. */
static EVP_PKEY_CTX *verify_ctx_new(EVP_PKEY *pkey, sd_alg alg) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int rsa = sd_alg_es_coord_len(alg) == 0, pss = sd_alg_is_pss(alg);
    if (!ctx || EVP_PKEY_verify_init(ctx) != 1 ||
        (rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING
                                                      : RSA_PKCS1_PADDING) != 1) ||
        EVP_PKEY_CTX_set_signature_md(ctx, sd_alg_md(alg)) != 1 ||
        /* RFC 7518 §3.5: the salt is as long as the digest. */
        (pss && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int sd_key_from_pkey(EVP_PKEY *pkey, const char *kid, sd_key *k) {
    memset(k, 0, sizeof *k);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        if (EVP_PKEY_get_bits(pkey) < SD_RSA_MIN_BITS) return SD_EINVAL;
        k->kty = SD_KTY_RSA;
        k->algs = SD_ALGS_RSA;
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        size_t glen = 0;
        sd_alg alg;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof group, &glen) != 1 ||
            es_alg_of_curve(group, &alg) != 0)
            return SD_EINVAL;
        k->kty = SD_KTY_EC;
        k->algs = SD_ALG_BIT(alg);
    } else {
        return SD_EINVAL;
    }
    int rc = k->kty == SD_KTY_RSA ? rsa_public_ok(pkey) : public_key_ok(pkey);
    if (rc != 0) {
        ERR_clear_error();
        return rc;
    }
    for (int a = 0; a < SD_ALG_COUNT; a++) {
        if (!(k->algs & SD_ALG_BIT(a))) continue;
        if (!(k->verify_ctx[a] = verify_ctx_new(pkey, (sd_alg)a))) {
            ERR_clear_error();
            rc = SD_ENOMEM;
            break;
        }
    }
    if (rc == 0 && kid && !(k->kid = strdup(kid))) rc = SD_ENOMEM;
    if (rc != 0) {
        /* The caller keeps pkey: free only what was made here. */
        for (int a = 0; a < SD_ALG_COUNT; a++)
            EVP_PKEY_CTX_free(k->verify_ctx[a]);
        memset(k, 0, sizeof *k);
        return rc;
    }
    k->pkey = pkey;
    return 0;
}

/* ------------------------------------------------------------------------
 * Key sets
 * ------------------------------------------------------------------------ */

sd_keyset *sd_keyset_new(void) {
    return calloc(1, sizeof(sd_keyset));
}

void sd_keyset_free(sd_keyset *ks) {
    if (!ks) return;
    for (size_t i = 0; i < ks->count; i++) sd_key_clear(&ks->keys[i]);
    free(ks->keys);
    free(ks);
}

size_t sd_keyset_count(const sd_keyset *ks) {
    return ks ? ks->count : 0;
}

const char *sd_keyset_kid(const sd_keyset *ks, size_t i) {
    return ks && i < ks->count ? ks->keys[i].kid : NULL;
}

static int key_equal(const sd_key *a, const sd_key *b) {
    if (a->kty != b->kty || a->algs != b->algs) return 0;
    if ((a->kid == NULL) != (b->kid == NULL)) return 0;
    if (a->kid && strcmp(a->kid, b->kid) != 0) return 0;
    if (a->kty == SD_KTY_OCT)
        return a->secret_len == b->secret_len &&
               CRYPTO_memcmp(a->secret, b->secret, a->secret_len) == 0;
    return EVP_PKEY_eq(a->pkey, b->pkey) == 1;
}

int sd_keyset_equal(const sd_keyset *a, const sd_keyset *b) {
    if (!a || !b) return a == b;
    if (a->count != b->count) return 0;
    for (size_t i = 0; i < a->count; i++)
        if (!key_equal(&a->keys[i], &b->keys[i])) return 0;
    return 1;
}

int sd_keyset_append(sd_keyset *ks, sd_key *keys, size_t n) {
    if (n == 0) return 0;
    if (n > SIZE_MAX / sizeof(sd_key) - ks->count) return SD_ENOMEM;
    sd_key *grown = realloc(ks->keys, (ks->count + n) * sizeof(sd_key));
    if (!grown) return SD_ENOMEM;
    ks->keys = grown;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].kty == SD_KTY_OCT) ks->has_hmac = 1;
        ks->keys[ks->count++] = keys[i];
        memset(&keys[i], 0, sizeof keys[i]);
    }
    return 0;
}

int sd_keyset_add_hmac(sd_keyset *ks, const unsigned char *secret, size_t len,
                       const char *kid) {
    if (!ks || !secret || len == 0) return SD_EINVAL;
    sd_key k = {.kty = SD_KTY_OCT, .algs = SD_ALGS_HMAC, .secret_len = len};
    if (!(k.secret = malloc(len))) return SD_ENOMEM;
    memcpy(k.secret, secret, len);
    if (kid && !(k.kid = strdup(kid))) goto nomem;
    if (sd_keyset_append(ks, &k, 1) != 0) goto nomem;
    return 0;
nomem:
    sd_key_clear(&k);
    return SD_ENOMEM;
}

/* Reads the first public key of a PEM file: a "PUBLIC KEY" block, else the
 * key of a "CERTIFICATE" block. The caller frees the key. NULL when neither
 * is there. */
static EVP_PKEY *read_pem_pubkey(BIO *bio) {
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (pkey) return pkey;
    if (BIO_reset(bio) != 0) return NULL;
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!cert) return NULL;
    pkey = X509_get_pubkey(cert);
    X509_free(cert);
    return pkey;
}

int sd_keyset_add_pem_file(sd_keyset *ks, const char *path, const char *kid) {
    if (!ks || !path) return SD_EINVAL;
    BIO *bio = BIO_new_file(path, "r");
    if (!bio) {
        ERR_clear_error();
        return SD_EIO;
    }
    EVP_PKEY *pkey = read_pem_pubkey(bio);
    BIO_free(bio);
    if (!pkey) {
        ERR_clear_error();
        return SD_EINVAL;
    }
    sd_key k;
    int rc = sd_key_from_pkey(pkey, kid, &k);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
        return rc;
    }
    rc = sd_keyset_append(ks, &k, 1);
    if (rc != 0) sd_key_clear(&k);
    return rc;
}
