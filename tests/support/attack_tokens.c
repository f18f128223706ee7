/* The attack suite's generator (see attack_tokens.h). Each section builds
 * one family of hostile tokens from a valid one by changing exactly what
 * the attack changes. */
#include "attack_tokens.h"

#include "jws_mint.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Keys
 * ------------------------------------------------------------------------ */

int sd_attack_keys_make(sd_attack_keys *k) {
    memset(k, 0, sizeof *k);
    k->rsa = sd_test_rsa_key(2048);
    k->ec256 = sd_test_ec_key("P-256");
    k->ec384 = sd_test_ec_key("P-384");
    k->attacker = sd_test_rsa_key(2048);
    k->attacker384 = sd_test_ec_key("P-384");
    if (!k->rsa || !k->ec256 || !k->ec384 || !k->attacker || !k->attacker384) return -1;
    char *rsa = sd_test_jwk(k->rsa, SD_ATTACK_KID_RSA, "\"use\":\"sig\",\"alg\":\"RS256\"");
    char *ec256 = sd_test_jwk(k->ec256, SD_ATTACK_KID_EC256, "\"use\":\"sig\"");
    char *ec384 = sd_test_jwk(k->ec384, SD_ATTACK_KID_EC384, NULL);
    if (rsa && ec256 && ec384) {
        size_t n = strlen(rsa) + strlen(ec256) + strlen(ec384) + 32;
        if ((k->jwks = malloc(n)))
            snprintf(k->jwks, n, "{\"keys\":[%s,%s,%s]}", rsa, ec256, ec384);
    }
    free(rsa);
    free(ec256);
    free(ec384);
    return k->jwks ? 0 : -1;
}

void sd_attack_keys_free(sd_attack_keys *k) {
    EVP_PKEY_free(k->rsa);
    EVP_PKEY_free(k->ec256);
    EVP_PKEY_free(k->ec384);
    EVP_PKEY_free(k->attacker);
    EVP_PKEY_free(k->attacker384);
    free(k->jwks);
    memset(k, 0, sizeof *k);
}

/* ------------------------------------------------------------------------
 * The builder
 * ------------------------------------------------------------------------ */

typedef struct builder {
    const sd_attack_keys *k;
    const char *iss, *aud, *url;
    long now;
    sd_attack_case *cases;
    size_t n, cap;
    int failed;
} builder;

__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

/* Adds a case owning token (NULL marks the build failed). */
static void add_http(builder *b, const char *name, char *token, const char *reason,
                     int http_status, const char *http_reason) {
    if (!token) {
        fprintf(stderr, "attack suite: cannot build %s\n", name);
        b->failed = 1;
        return;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        sd_attack_case *grown = realloc(b->cases, cap * sizeof *grown);
        if (!grown) {
            free(token);
            b->failed = 1;
            return;
        }
        b->cases = grown;
        b->cap = cap;
    }
    sd_attack_case *c = &b->cases[b->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->token = token;
    c->len = strlen(token);
    c->reason = reason;
    c->http_status = http_status;
    c->http_reason = http_reason;
}

static void add(builder *b, const char *name, char *token, const char *reason) {
    add_http(b, name, token, reason, 401, reason);
}

/* A payload that passes every claim check; extra ("" or members starting
 * with a comma) is appended. */
static char *claims(const builder *b, const char *extra) {
    return fmt("{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"mallory\",\"client_id\":\"evil\","
               "\"sid\":\"s-attack\",\"jti\":\"j-attack\",\"iat\":%ld,\"exp\":%ld%s}",
               b->iss, b->aud, b->now, b->now + 600, extra);
}

/* A payload with the standard iss/aud and the given members instead of
 * iat/exp (members start without a comma). */
static char *claims_raw(const builder *b, const char *members) {
    return fmt("{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"mallory\",%s}", b->iss, b->aud,
               members);
}

static char *rs256(const builder *b, const char *header, const char *payload) {
    if (!payload) return NULL;
    return sd_test_jws_sign(header, payload, "RS256", b->k->rsa);
}

/* RS256 by the instance's key over header and a payload made by claims(). */
static char *rs256_claims(const builder *b, const char *header, const char *extra) {
    char *p = claims(b, extra);
    char *t = rs256(b, header, p);
    free(p);
    return t;
}

/* RS256 by the instance's key, kid rsa-1, over payload (freed). */
static char *signed_payload(const builder *b, char *payload) {
    char *t = rs256(b, "{\"alg\":\"RS256\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}", payload);
    free(payload);
    return t;
}

#define HDR_RSA "{\"alg\":\"RS256\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}"
#define HDR_EC256 "{\"alg\":\"ES256\",\"kid\":\"" SD_ATTACK_KID_EC256 "\"}"

/* ------------------------------------------------------------------------
 * Families
 * ------------------------------------------------------------------------ */

/* Every letter case of "none", unsigned; plus a signed one and an escape. */
static void alg_none(builder *b) {
    char *p = claims(b, "");
    for (int mask = 0; mask < 16; mask++) {
        char alg[5] = "none", header[64], name[64];
        for (int i = 0; i < 4; i++)
            if (mask & (1 << i)) alg[i] = (char)(alg[i] - 'a' + 'A');
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
        snprintf(name, sizeof name, "alg_none_%s", alg);
        add(b, name, p ? sd_test_jws_assemble(header, p, NULL, 0) : NULL, "alg_none");
    }
    /* A real signature does not make "none" acceptable. */
    char *real = rs256(b, HDR_RSA, p);
    char *dot = real ? strrchr(real, '.') : NULL;
    char *none = p ? sd_test_jws_assemble("{\"alg\":\"none\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}",
                                          p, NULL, 0)
                   : NULL;
    char *with_sig = dot && none ? fmt("%s%s", none, dot + 1) : NULL;
    add(b, "alg_none_with_signature", with_sig, "alg_none");
    free(real);
    free(none);
    /* JSON escapes spell "none" too. */
    add(b, "alg_none_unicode_escape",
        p ? sd_test_jws_assemble("{\"alg\":\"\\u006eon\\u0065\"}", p, NULL, 0) : NULL,
        "alg_none");
    free(p);
}

/* HS* keyed with public key material: the classic algorithm confusion. */
static void hmac_confusion(builder *b) {
    char *p = claims(b, "");
    char *pem = sd_test_public_pem(b->k->rsa);
    char *jwk = sd_test_jwk(b->k->rsa, SD_ATTACK_KID_RSA, "\"use\":\"sig\",\"alg\":\"RS256\"");
    char *ecpem = sd_test_public_pem(b->k->ec256);
    if (p && pem && jwk && ecpem) {
        add(b, "hs256_secret_rsa_pem",
            sd_test_jws_hmac("{\"alg\":\"HS256\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}", p,
                             "HS256", (const unsigned char *)pem, strlen(pem)),
            "alg_unsupported");
        add(b, "hs256_secret_rsa_jwk",
            sd_test_jws_hmac("{\"alg\":\"HS256\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}", p,
                             "HS256", (const unsigned char *)jwk, strlen(jwk)),
            "alg_unsupported");
        add(b, "hs384_secret_rsa_pem_no_kid",
            sd_test_jws_hmac("{\"alg\":\"HS384\"}", p, "HS384", (const unsigned char *)pem,
                             strlen(pem)),
            "alg_unsupported");
        add(b, "hs512_secret_ec_pem",
            sd_test_jws_hmac("{\"alg\":\"HS512\",\"kid\":\"" SD_ATTACK_KID_EC256 "\"}", p,
                             "HS512", (const unsigned char *)ecpem, strlen(ecpem)),
            "alg_unsupported");
    } else {
        b->failed = 1;
    }
    free(p);
    free(pem);
    free(jwk);
    free(ecpem);
}

/* Valid signatures by the right key under an algorithm its pin excludes. */
static void pin_mismatch(builder *b) {
    char *p = claims(b, "");
    if (!p) {
        b->failed = 1;
        return;
    }
    add(b, "ps256_by_rs256_pinned_key",
        sd_test_jws_sign("{\"alg\":\"PS256\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}", p, "PS256",
                         b->k->rsa),
        "alg_key_mismatch");
    add(b, "rs512_by_rs256_pinned_key",
        sd_test_jws_sign("{\"alg\":\"RS512\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}", p, "RS512",
                         b->k->rsa),
        "alg_key_mismatch");
    add(b, "ps256_by_rs256_pinned_key_no_kid",
        sd_test_jws_sign("{\"alg\":\"PS256\"}", p, "PS256", b->k->rsa), "no_key");
    add(b, "es256_header_p384_key_by_kid",
        sd_test_jws_sign("{\"alg\":\"ES256\",\"kid\":\"" SD_ATTACK_KID_EC384 "\"}", p, "ES384",
                         b->k->ec384),
        "alg_key_mismatch");
    add(b, "es256_header_signed_by_p384",
        sd_test_jws_sign(HDR_EC256, p, "ES384", b->k->attacker384), "signature_invalid");
    add(b, "es384_header_p256_key",
        sd_test_jws_sign("{\"alg\":\"ES384\",\"kid\":\"" SD_ATTACK_KID_EC256 "\"}", p, "ES384",
                         b->k->attacker384),
        "alg_key_mismatch");
    add(b, "es256_signed_by_rsa_key",
        sd_test_jws_sign("{\"alg\":\"ES256\",\"kid\":\"" SD_ATTACK_KID_RSA "\"}", p, "ES256",
                         b->k->ec256),
        "alg_key_mismatch");
    free(p);
}

/* ES256 over header HDR_EC256 and claims with sig_len raw signature bytes. */
static char *es256_with(const builder *b, const unsigned char *sig, size_t sig_len) {
    char *p = claims(b, "");
    char *t = p ? sd_test_jws_assemble(HDR_EC256, p, sig, sig_len) : NULL;
    free(p);
    return t;
}

/* ECDSA signatures that must never verify. */
static void ecdsa_forms(builder *b) {
    unsigned char sig[130];
    memset(sig, 0, 64);
    add(b, "ecdsa_r_s_zero", es256_with(b, sig, 64), "signature_invalid");

    /* r = s = n, the order of P-256. */
    static const unsigned char n256[32] = {
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
        0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    memcpy(sig, n256, 32);
    memcpy(sig + 32, n256, 32);
    add(b, "ecdsa_r_s_order", es256_with(b, sig, 64), "signature_invalid");
    memset(sig, 0xff, 64);
    add(b, "ecdsa_r_s_all_ones", es256_with(b, sig, 64), "signature_invalid");

    /* A valid signature, then re-encoded or cut. */
    char *p = claims(b, "");
    char *good = p ? sd_test_jws_sign(HDR_EC256, p, "ES256", b->k->ec256) : NULL;
    char *input = good ? strndup(good, (size_t)(strrchr(good, '.') - good)) : NULL;
    size_t raw_len = 0;
    unsigned char *raw =
        input ? sd_test_jws_signature("ES256", b->k->ec256, input, strlen(input), &raw_len)
              : NULL;
    if (!raw || raw_len != 64) {
        b->failed = 1;
    } else {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
        unsigned char *der = NULL;
        int der_len = 0;
        if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
            r = s = NULL;
            der_len = i2d_ECDSA_SIG(es, &der);
        }
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        add(b, "ecdsa_der_encoded",
            der_len > 0 ? sd_test_jws_assemble(HDR_EC256, p, der, (size_t)der_len) : NULL,
            "signature_invalid");
        OPENSSL_free(der);
        /* The same valid signature one byte short and one byte long. */
        memcpy(sig, raw, 64);
        sig[64] = 0;
        add(b, "ecdsa_63_bytes", sd_test_jws_assemble(HDR_EC256, p, sig, 63),
            "signature_invalid");
        add(b, "ecdsa_65_bytes", sd_test_jws_assemble(HDR_EC256, p, sig, 65),
            "signature_invalid");
        add(b, "ecdsa_empty", sd_test_jws_assemble(HDR_EC256, p, NULL, 0), "signature_invalid");
        /* s replaced by n - s is the other valid-looking half; with r kept
         * and s flipped to 0 it must fail. */
        memset(sig + 32, 0, 32);
        add(b, "ecdsa_s_zero", sd_test_jws_assemble(HDR_EC256, p, sig, 64),
            "signature_invalid");
    }
    free(raw);
    free(input);
    free(good);
    free(p);
}

/* kid values that would break a naive key lookup (files, SQL, strings). */
static void kid_games(builder *b) {
    add(b, "kid_path_traversal",
        rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":\"../../../../../etc/passwd\"}", ""),
        "kid_unknown");
    add(b, "kid_quotes",
        rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\\\" OR \\\"1\\\"=\\\"1\"}", ""),
        "kid_unknown");
    add(b, "kid_nul", rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\\u0000x\"}", ""),
        "token_json");
    add(b, "kid_empty", rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":\"\"}", ""), "kid_unknown");
    add(b, "kid_number", rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":1}", ""), "header_invalid");
    add(b, "kid_object", rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":{\"$ne\":null}}", ""),
        "header_invalid");
    char *big = malloc(10 * 1024 + 1);
    if (big) {
        memset(big, 'k', 10 * 1024);
        big[10 * 1024] = '\0';
        char *h = fmt("{\"alg\":\"RS256\",\"kid\":\"%s\"}", big);
        add(b, "kid_10kb", h ? rs256_claims(b, h, "") : NULL, "kid_unknown");
        free(h);
        free(big);
    }
}

/* Key-carrying headers: never fetched, never trusted. */
static void key_headers(builder *b) {
    char *p = claims(b, "");
    char *jwk = sd_test_jwk(b->k->attacker, NULL, NULL);
    if (!p || !jwk) {
        b->failed = 1;
        free(p);
        free(jwk);
        return;
    }
    char *h = fmt("{\"alg\":\"RS256\",\"kid\":\"attacker\",\"jku\":\"%s/jku\"}", b->url);
    add(b, "jku_attacker_kid", h ? sd_test_jws_sign(h, p, "RS256", b->k->attacker) : NULL,
        "kid_unknown");
    free(h);
    h = fmt("{\"alg\":\"RS256\",\"kid\":\"" SD_ATTACK_KID_RSA "\",\"jku\":\"%s/jku\"}", b->url);
    add(b, "jku_with_real_kid", h ? sd_test_jws_sign(h, p, "RS256", b->k->attacker) : NULL,
        "signature_invalid");
    free(h);
    h = fmt("{\"alg\":\"RS256\",\"x5u\":\"%s/x5u\"}", b->url);
    add(b, "x5u_no_kid", h ? sd_test_jws_sign(h, p, "RS256", b->k->attacker) : NULL,
        "signature_invalid");
    free(h);
    h = fmt("{\"alg\":\"RS256\",\"jwk\":%s}", jwk);
    add(b, "embedded_jwk", h ? sd_test_jws_sign(h, p, "RS256", b->k->attacker) : NULL,
        "signature_invalid");
    free(h);
    h = fmt("{\"alg\":\"RS256\",\"kid\":\"" SD_ATTACK_KID_RSA "\",\"jwk\":%s}", jwk);
    add(b, "embedded_jwk_real_kid", h ? sd_test_jws_sign(h, p, "RS256", b->k->attacker) : NULL,
        "signature_invalid");
    free(h);
    add(b, "x5c_self_signed",
        sd_test_jws_sign("{\"alg\":\"RS256\",\"x5c\":[\"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\"]}",
                         p, "RS256", b->k->attacker),
        "signature_invalid");
    add(b, "wrong_key_right_kid", sd_test_jws_sign(HDR_RSA, p, "RS256", b->k->attacker),
        "signature_invalid");
    free(jwk);
    free(p);
}

static void header_rules(builder *b) {
    add(b, "crit_exp",
        rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"exp\"],\"exp\":1}",
                     ""),
        "crit_unsupported");
    add(b, "crit_b64_false",
        rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"b64\":false,\"crit\":[\"b64\"]}",
                     ""),
        "crit_unsupported");
    add(b, "typ_jose", rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"JOSE\"}", ""),
        "typ_invalid");
    add(b, "typ_id_token_like",
        rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"JWT+ID\"}", ""),
        "typ_invalid");
    add(b, "alg_lower_case", rs256_claims(b, "{\"alg\":\"rs256\",\"kid\":\"rsa-1\"}", ""),
        "alg_unsupported");
    add(b, "alg_trailing_space", rs256_claims(b, "{\"alg\":\"RS256 \",\"kid\":\"rsa-1\"}", ""),
        "alg_unsupported");
    add(b, "alg_missing", rs256_claims(b, "{\"kid\":\"rsa-1\"}", ""), "alg_unsupported");
    add(b, "alg_array", rs256_claims(b, "{\"alg\":[\"RS256\"],\"kid\":\"rsa-1\"}", ""),
        "alg_unsupported");

    /* Nested JWT: the outer payload is a signed inner token. */
    char *inner = rs256_claims(b, HDR_RSA, "");
    if (inner) {
        add(b, "cty_jwt_nested", rs256(b, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"cty\":\"JWT\"}",
                                       inner),
            "header_invalid");
        add(b, "cty_jwt_lower_case",
            rs256(b, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"cty\":\"application/jwt\"}", inner),
            "header_invalid");
        /* Without cty the same payload is simply not JSON. */
        add(b, "nested_without_cty", rs256(b, HDR_RSA, inner), "token_json");
        free(inner);
    } else {
        b->failed = 1;
    }
    add(b, "header_duplicate_alg",
        rs256_claims(b, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"alg\":\"none\"}", ""),
        "token_json");
    char deep[128] = "{\"alg\":\"RS256\",\"x\":";
    for (int i = 0; i < 17; i++) strcat(deep, "[");
    for (int i = 0; i < 17; i++) strcat(deep, "]");
    strcat(deep, "}");
    add(b, "header_depth_17", rs256_claims(b, deep, ""), "token_json_depth");
    char *p = claims(b, "");
    add(b, "header_array", rs256(b, "[\"alg\",\"RS256\"]", p), "token_not_object");
    free(p);
}

/* JWE-looking and other wrong compact shapes. */
static void shapes(builder *b) {
    add(b, "jwe_five_segments",
        strdup("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZ"
               "KTyKOMTYUmKoTCVJRgckCL9kiMT03JGe.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7"
               "TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji.XFBoMYUZodetZdvTiFvSkQ"),
        "token_malformed");
    add(b, "four_segments", strdup("eyJhbGciOiJSUzI1NiJ9.e30.e30.AAAA"), "token_malformed");
    add(b, "two_segments", strdup("eyJhbGciOiJSUzI1NiJ9.e30"), "token_malformed");
    add(b, "empty_segments", strdup(".."), "token_malformed");
    add(b, "jwe_header_three_segments",
        rs256_claims(b, "{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}", ""), "alg_unsupported");
    add(b, "jwe_dir", rs256_claims(b, "{\"alg\":\"dir\",\"enc\":\"A128GCM\"}", ""),
        "alg_unsupported");
}

/* Claims: duplicates, types, ranges, issuer and audience games. */
static void claim_games(builder *b) {
    char m[256];
    add(b, "claims_duplicate_iss",
        signed_payload(b, fmt("{\"iss\":\"%s\",\"iss\":\"https://evil.example\",\"aud\":\"%s\","
                              "\"exp\":%ld}",
                              b->iss, b->aud, b->now + 600)),
        "token_json");
    add(b, "claims_duplicate_exp",
        signed_payload(b, fmt("{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%ld,\"exp\":%ld}", b->iss,
                              b->aud, b->now - 3600, b->now + 600)),
        "token_json");
    static const struct {
        const char *name, *exp, *reason;
    } exps[] = {
        {"exp_1e30", "1e30", "claim_invalid"},
        /* jansson refuses integers beyond int64: not JSON it can read. */
        {"exp_2_pow_63", "9223372036854775808", "token_json"},
        {"exp_int64_max", "9223372036854775807", "claim_invalid"},
        {"exp_negative", "-1", "claim_invalid"},
        {"exp_true", "true", "claim_invalid"},
        {"exp_null", "null", "claim_invalid"},
        {"exp_nan", "NaN", "token_json"},
        {"exp_object", "{}", "claim_invalid"},
    };
    for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++) {
        snprintf(m, sizeof m, "\"exp\":%s", exps[i].exp);
        add(b, exps[i].name, signed_payload(b, claims_raw(b, m)), exps[i].reason);
    }
    snprintf(m, sizeof m, "\"exp\":\"%ld\"", b->now + 600);
    add(b, "exp_string", signed_payload(b, claims_raw(b, m)), "claim_invalid");
    snprintf(m, sizeof m, "\"exp\":[%ld]", b->now + 600);
    add(b, "exp_array", signed_payload(b, claims_raw(b, m)), "claim_invalid");
    snprintf(m, sizeof m, "\"exp\":%ld.5", b->now - 3600);
    add(b, "exp_float_expired", signed_payload(b, claims_raw(b, m)), "token_expired");
    snprintf(m, sizeof m, "\"exp\":%ld", b->now - 61);
    add(b, "exp_past_leeway", signed_payload(b, claims_raw(b, m)), "token_expired");
    add(b, "exp_missing", signed_payload(b, claims_raw(b, "\"sid\":\"x\"")), "exp_missing");
    snprintf(m, sizeof m, "\"exp\":%ld,\"nbf\":%ld", b->now + 7200, b->now + 3600);
    add(b, "nbf_future", signed_payload(b, claims_raw(b, m)), "token_not_yet_valid");
    snprintf(m, sizeof m, "\"exp\":%ld,\"iat\":%ld", b->now + 7200, b->now + 3600);
    add(b, "iat_future", signed_payload(b, claims_raw(b, m)), "iat_future");

    long exp = b->now + 600;
    add(b, "iss_trailing_slash",
        signed_payload(b, fmt("{\"iss\":\"%s/\",\"aud\":\"%s\",\"exp\":%ld}", b->iss, b->aud, exp)),
        "issuer_mismatch");
    char *upper = strdup(b->iss);
    for (char *c = upper; c && *c; c++)
        if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
    add(b, "iss_other_case",
        upper ? signed_payload(b, fmt("{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%ld}", upper,
                                      b->aud, exp))
              : NULL,
        "issuer_mismatch");
    free(upper);
    add(b, "iss_missing", signed_payload(b, fmt("{\"aud\":\"%s\",\"exp\":%ld}", b->aud, exp)),
        "issuer_mismatch");
    add(b, "iss_array",
        signed_payload(b, fmt("{\"iss\":[\"%s\"],\"aud\":\"%s\",\"exp\":%ld}", b->iss, b->aud,
                              exp)),
        "claim_invalid");
    add(b, "aud_empty_array",
        signed_payload(b, fmt("{\"iss\":\"%s\",\"aud\":[],\"exp\":%ld}", b->iss, exp)),
        "audience_mismatch");
    add(b, "aud_other",
        signed_payload(b, fmt("{\"iss\":\"%s\",\"aud\":\"%s-admin\",\"exp\":%ld}", b->iss, b->aud,
                              exp)),
        "audience_mismatch");
    add(b, "aud_number_in_array",
        signed_payload(b, fmt("{\"iss\":\"%s\",\"aud\":[1,\"%s\"],\"exp\":%ld}", b->iss, b->aud,
                              exp)),
        "claim_invalid");
    add(b, "sub_empty", signed_payload(b, fmt("{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%ld,"
                                              "\"sub\":\"\"}",
                                              b->iss, b->aud, exp)),
        "claim_invalid");
    add(b, "payload_array", signed_payload(b, strdup("[\"iss\",\"exp\"]")), "token_not_object");
    add(b, "payload_string", signed_payload(b, strdup("\"admin\"")), "token_not_object");
    add(b, "payload_number", signed_payload(b, strdup("1")), "token_not_object");
    add(b, "payload_not_json", signed_payload(b, strdup("{iss: evil}")), "token_json");
}

/* Replaces the character at pos of a copy of tok (or inserts when ins). */
static char *edit_at(const char *tok, size_t pos, const char *with, int ins) {
    if (!tok) return NULL;
    size_t len = strlen(tok), wl = strlen(with);
    char *out = malloc(len + wl + 1);
    if (!out) return NULL;
    memcpy(out, tok, pos);
    memcpy(out + pos, with, wl);
    size_t rest = ins ? pos : pos + 1;
    memcpy(out + pos + wl, tok + rest, len - rest + 1);
    return out;
}

/* Lenient base64 that a strict verifier must refuse. */
static void base64_games(builder *b) {
    char *good = rs256_claims(b, HDR_RSA, "");
    if (!good) {
        b->failed = 1;
        return;
    }
    size_t len = strlen(good);
    size_t dot1 = (size_t)(strchr(good, '.') - good), dot2 = (size_t)(strrchr(good, '.') - good);
    add(b, "b64_padding_on_signature", fmt("%s=", good), "token_base64");
    add(b, "b64_padding_on_header", edit_at(good, dot1, "==", 1), "token_base64");
    add(b, "b64_plus", edit_at(good, dot1 + 3, "+", 0), "token_base64");
    add(b, "b64_slash", edit_at(good, dot2 + 5, "/", 0), "token_base64");
    add(b, "b64_space", edit_at(good, dot1 + 10, " ", 1), "token_base64");
    add(b, "b64_tab", edit_at(good, dot1 + 10, "\t", 1), "token_base64");
    /* Over HTTP a CRLF plus a space folds the header line (obsolete line
     * folding): evhttp joins the lines, and a space is left in the token. */
    add(b, "b64_crlf", edit_at(good, dot1 + 10, "\r\n ", 1), "token_base64");
    add(b, "b64_trailing_junk", fmt("%s!!", good), "token_base64");
    add(b, "b64_trailing_dot", fmt("%s.", good), "token_malformed");
    add(b, "b64_leading_dot", fmt(".%s", good), "token_malformed");
    /* No byte string encodes to 4k + 1 characters. */
    static const char *const pad[4] = {"A", "", "AAA", "AA"};
    add(b, "b64_segment_len_mod4_1",
        dot1 % 4 == 1 ? strdup(good) : edit_at(good, dot1, pad[dot1 % 4], 1), "token_base64");
    /* Non-zero padding bits: the last character of a segment whose length
     * is 2 mod 4 carries 4 unused bits. An RS256 signature is 256 bytes:
     * 342 characters, 2 mod 4, so its last character has them. */
    char *bits = strdup(good);
    if (bits) {
        char *last = &bits[len - 1];
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        int v = (int)(strchr(alphabet, *last) - alphabet);
        *last = alphabet[(v & ~15) | ((v & 15) ^ 1)];
    }
    add(b, "b64_nonzero_padding_bits", bits, "token_base64");
    /* A signature spliced from another token. */
    char *other = rs256_claims(b, HDR_RSA, ",\"scope\":\"admin\"");
    char *spliced = other ? fmt("%.*s%s", (int)(strrchr(other, '.') - other), other,
                                strrchr(good, '.'))
                          : NULL;
    add(b, "signature_spliced", spliced, "signature_invalid");
    free(other);
    free(good);
}

/* Sizes: refused before anything is decoded or hashed. */
static void sizes(builder *b) {
    size_t kib64 = 64 * 1024, mib12 = 12 * 1024 * 1024;
    char *t = malloc(kib64 + 1);
    if (t) {
        memset(t, 'A', kib64);
        memcpy(t, "eyJhbGciOiJSUzI1NiJ9.", 21);
        t[kib64 - 200] = '.';
        t[kib64] = '\0';
    }
    add(b, "size_64kib", t, "token_too_large");
    t = malloc(mib12 + 1);
    if (t) {
        memset(t, 'A', mib12);
        t[100] = '.';
        t[mib12 - 100] = '.';
        t[mib12] = '\0';
    }
    /* evhttp refuses the request line before the verifier sees it: the
     * header block is over max_header_bytes, so the answer is evhttp's own
     * 400 Bad Request, without a JSON body. */
    add_http(b, "size_12mib", t, "token_too_large", 400, NULL);
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

size_t sd_attack_build(const sd_attack_keys *k, const char *issuer, const char *audience,
                       long now, const char *url, sd_attack_case **out) {
    builder b = {.k = k, .iss = issuer, .aud = audience, .url = url, .now = now};
    alg_none(&b);
    hmac_confusion(&b);
    pin_mismatch(&b);
    ecdsa_forms(&b);
    kid_games(&b);
    key_headers(&b);
    header_rules(&b);
    shapes(&b);
    claim_games(&b);
    base64_games(&b);
    sizes(&b);
    if (b.failed) {
        sd_attack_free(b.cases, b.n);
        *out = NULL;
        return 0;
    }
    *out = b.cases;
    return b.n;
}

void sd_attack_free(sd_attack_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) free(cases[i].token);
    free(cases);
}
