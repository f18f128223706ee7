/* Compact JWS verification (SPEC §3): form, header, key, signature, claims.
 *
 * Order matters for safety and cost: the size cap and the strict character
 * check run before anything is decoded; JSON is depth-checked before jansson
 * sees it; the signature is checked before any claim is trusted. */
#include "core/base64url.h"
#include "core/text.h"
#include "token/alg.h"
#include "token/keyset.h"

#include "sessiond/error.h"
#include "sessiond/token.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Deepest JSON nesting accepted in a header or payload. Real tokens nest two
 * or three levels; the cap keeps a hostile token from costing stack or time. */
#define SD_JSON_MAX_DEPTH 16

/* Largest NumericDate accepted (9999-12-31T23:59:59Z); also keeps every
 * value exactly representable in a double. */
#define SD_NUMERIC_DATE_MAX INT64_C(253402300799)

/* ------------------------------------------------------------------------
 * Compact form
 * ------------------------------------------------------------------------ */

/* The three segments of a compact JWS, pointing into the caller's token. */
typedef struct jws_parts {
    const char *header, *payload, *sig;
    size_t header_len, payload_len, sig_len;
    size_t signing_input_len; /* header "." payload */
} jws_parts;

/* Splits token into exactly three non-empty base64url segments. */
static int split_compact(const char *token, size_t len, jws_parts *p) {
    const char *dot1 = memchr(token, '.', len);
    if (!dot1) return SD_ETOKEN_MALFORMED;
    size_t rest = len - (size_t)(dot1 + 1 - token);
    const char *dot2 = memchr(dot1 + 1, '.', rest);
    if (!dot2) return SD_ETOKEN_MALFORMED;
    const char *end = token + len;
    if (memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1))) return SD_ETOKEN_MALFORMED;

    p->header = token;
    p->header_len = (size_t)(dot1 - token);
    p->payload = dot1 + 1;
    p->payload_len = (size_t)(dot2 - dot1 - 1);
    p->sig = dot2 + 1;
    p->sig_len = (size_t)(end - dot2 - 1);
    p->signing_input_len = (size_t)(dot2 - token);
    if (p->header_len == 0 || p->payload_len == 0) return SD_ETOKEN_MALFORMED;
    /* Padding, '+', '/', whitespace and every other stray byte fail here,
     * before a single byte is decoded. */
    if (!sd_b64url_valid_chars(p->header, p->header_len) ||
        !sd_b64url_valid_chars(p->payload, p->payload_len) ||
        !sd_b64url_valid_chars(p->sig, p->sig_len))
        return SD_ETOKEN_BASE64;
    return 0;
}

/* Returns 0 when the JSON text nests at most SD_JSON_MAX_DEPTH arrays and
 * objects. Brackets inside strings do not count. Malformed text is left for
 * jansson to reject. */
static int check_depth(const unsigned char *s, size_t len) {
    int depth = 0, in_string = 0, escaped = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > SD_JSON_MAX_DEPTH) return SD_ETOKEN_JSON_DEPTH;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

/* Decodes one segment into buf (capacity cap) and parses it as a JSON
 * object. On success *out is a new reference the caller releases. */
static int decode_object(const char *seg, size_t seg_len, unsigned char *buf, size_t cap,
                         json_t **out) {
    size_t n;
    if (sd_b64url_decode(seg, seg_len, buf, cap, &n) != 0) return SD_ETOKEN_BASE64;
    int rc = check_depth(buf, n);
    if (rc != 0) return rc;
    json_error_t jerr;
    /* JSON_DECODE_ANY: without it jansson refuses a scalar at the top level
     * as a syntax error, and a valid non-object would be misreported as
     * token_json instead of token_not_object. */
    json_t *v =
        json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v) return SD_ETOKEN_JSON;
    if (!json_is_object(v)) {
        json_decref(v);
        return SD_ETOKEN_NOT_OBJECT;
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------------
 * Header
 * ------------------------------------------------------------------------ */

/* What the header says about verification. */
typedef struct jws_header {
    sd_alg alg;
    const char *kid; /* NULL when absent; borrowed from the header object */
} jws_header;

/* typ may be absent, "JWT" or "at+jwt", in any letter case, with or without
 * the "application/" media-type prefix (RFC 7515 §4.1.9). */
static int typ_ok(const json_t *typ) {
    if (!typ) return 1;
    if (!json_is_string(typ)) return 0;
    const char *t = json_string_value(typ);
    size_t len = json_string_length(typ);
    if (len >= 12 && strncasecmp(t, "application/", 12) == 0) t += 12, len -= 12;
    return (len == 3 && strncasecmp(t, "JWT", 3) == 0) ||
           (len == 6 && strncasecmp(t, "at+jwt", 6) == 0);
}

/* 1 when the header says the payload is itself a JWT (RFC 7519 §5.2). Such
 * a token's claims are inside the inner token, which is never opened here;
 * reading the outer payload as claims instead would let the two layers
 * disagree about what was signed. */
static int nested(const json_t *cty) {
    if (!json_is_string(cty)) return 0;
    const char *t = json_string_value(cty);
    size_t len = json_string_length(cty);
    if (len >= 12 && strncasecmp(t, "application/", 12) == 0) t += 12, len -= 12;
    return len == 3 && strncasecmp(t, "JWT", 3) == 0;
}

static int check_header(const json_t *h, const sd_keyset *keys, jws_header *out) {
    const json_t *alg = json_object_get(h, "alg");
    if (!json_is_string(alg)) return SD_ETOKEN_ALG_UNSUPPORTED;
    int rc = sd_alg_from_name(json_string_value(alg), json_string_length(alg), &out->alg);
    if (rc != 0) return rc;
    /* HMAC exists only for instances configured with a secret (SPEC §3). */
    if ((SD_ALG_BIT(out->alg) & SD_ALGS_HMAC) && !keys->has_hmac)
        return SD_ETOKEN_ALG_UNSUPPORTED;
    if (!typ_ok(json_object_get(h, "typ"))) return SD_ETOKEN_TYP;
    /* No extension is understood, so any crit must be refused (RFC 7515
     * §4.1.11). jku, x5u and jwk are simply never read. */
    if (json_object_get(h, "crit")) return SD_ETOKEN_CRIT;
    const json_t *cty = json_object_get(h, "cty");
    if (cty && (!json_is_string(cty) || nested(cty))) return SD_ETOKEN_HEADER;
    /* jansson refuses \u0000 unless JSON_ALLOW_NUL is given, so strings
     * here and below hold no NUL and compare safely as C strings; the
     * length checks keep that true should the flags ever change. */
    const json_t *kid = json_object_get(h, "kid");
    if (kid && (!json_is_string(kid) ||
                strlen(json_string_value(kid)) != json_string_length(kid)))
        return SD_ETOKEN_HEADER;
    out->kid = kid ? json_string_value(kid) : NULL;
    return 0;
}

/* ------------------------------------------------------------------------
 * Signatures
 * ------------------------------------------------------------------------ */

/* Converts a JWS ECDSA signature (r || s, fixed width) to DER for OpenSSL.
 * On success *der is allocated with OPENSSL_malloc. */
static int es_to_der(sd_alg alg, const unsigned char *sig, size_t sig_len,
                     unsigned char **der, int *der_len) {
    size_t coord = sd_alg_es_coord_len(alg);
    if (sig_len != 2 * coord) return SD_ETOKEN_SIGNATURE;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)coord, NULL);
    BIGNUM *s = BN_bin2bn(sig + coord, (int)coord, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return SD_ENOMEM;
    }
    *der = NULL;
    *der_len = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);
    return *der_len > 0 ? 0 : SD_ENOMEM;
}

static int verify_hmac(const sd_key *k, sd_alg alg, const char *input, size_t input_len,
                       const unsigned char *sig, size_t sig_len) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(sd_alg_md(alg), k->secret, (int)k->secret_len, (const unsigned char *)input,
              input_len, mac, &mac_len))
        return SD_ENOMEM;
    int equal = sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    return equal ? 0 : SD_ETOKEN_SIGNATURE;
}

static int verify_pkey(const sd_key *k, sd_alg alg, const char *input, size_t input_len,
                       const unsigned char *sig, size_t sig_len) {
    unsigned char *der = NULL;
    int der_len = 0;
    if (sd_alg_es_coord_len(alg) != 0) {
        int rc = es_to_der(alg, sig, sig_len, &der, &der_len);
        if (rc != 0) return rc;
        sig = der;
        sig_len = (size_t)der_len;
    }
    /* The context was made ready at load (keyset.c): hashing here and one
     * EVP_PKEY_verify costs what `openssl speed` measures, where
     * EVP_DigestVerifyInit per check would fetch algorithms and build
     * contexts every time. */
    int rc = SD_ETOKEN_SIGNATURE;
    unsigned char digest[SHA512_DIGEST_LENGTH];
    size_t digest_len = 0;
    const unsigned char *in = (const unsigned char *)input;
    switch (EVP_MD_get_size(sd_alg_md(alg))) {
    case SHA256_DIGEST_LENGTH:
        SHA256(in, input_len, digest);
        digest_len = 32;
        break;
    case SHA384_DIGEST_LENGTH:
        SHA384(in, input_len, digest);
        digest_len = 48;
        break;
    default:
        SHA512(in, input_len, digest);
        digest_len = 64;
        break;
    }
    EVP_PKEY_CTX *ctx = k->verify_ctx[alg];
    if (!ctx)
        rc = SD_ETOKEN_ALG_KEY_MISMATCH; /* not pinned to alg: never reached */
    else if (EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len) == 1)
        rc = 0;
    OPENSSL_free(der);
    ERR_clear_error(); /* a failed verify leaves errors on the thread queue */
    return rc;
}

static int verify_with(const sd_key *k, sd_alg alg, const jws_parts *p,
                       const unsigned char *sig, size_t sig_len) {
    if (k->kty == SD_KTY_OCT)
        return verify_hmac(k, alg, p->header, p->signing_input_len, sig, sig_len);
    return verify_pkey(k, alg, p->header, p->signing_input_len, sig, sig_len);
}

/* Selects the key (by kid, else every key pinned to alg) and checks the
 * signature. */
static int check_signature(const sd_keyset *keys, const jws_header *h, const jws_parts *p,
                           const unsigned char *sig, size_t sig_len) {
    unsigned bit = SD_ALG_BIT(h->alg);
    if (h->kid) {
        /* Several keys may share a kid (e.g. during rotation across types):
         * use the first one pinned to alg. */
        int named = 0;
        for (size_t i = 0; i < keys->count; i++) {
            const sd_key *k = &keys->keys[i];
            if (!k->kid || strcmp(k->kid, h->kid) != 0) continue;
            named = 1;
            if (k->algs & bit) return verify_with(k, h->alg, p, sig, sig_len);
        }
        return named ? SD_ETOKEN_ALG_KEY_MISMATCH : SD_ETOKEN_KID_UNKNOWN;
    }
    int tried = 0;
    for (size_t i = 0; i < keys->count; i++) {
        const sd_key *k = &keys->keys[i];
        if (!(k->algs & bit)) continue;
        tried = 1;
        int rc = verify_with(k, h->alg, p, sig, sig_len);
        if (rc != SD_ETOKEN_SIGNATURE) return rc;
    }
    return tried ? SD_ETOKEN_SIGNATURE : SD_ETOKEN_NO_KEY;
}

/* The signature layer shared by both entry points. On success, when
 * payload_out is not NULL, *payload_out is the decoded payload object (a new
 * reference). */
static int verify_jws(const char *token, size_t len, const sd_keyset *keys,
                      size_t max_token_bytes, json_t **payload_out) {
    if (!token || len == 0) return SD_ETOKEN_MISSING;
    if (!keys) return SD_EINVAL;
    if (len > max_token_bytes) return SD_ETOKEN_TOO_LARGE;
    jws_parts p;
    int rc = split_compact(token, len, &p);
    if (rc != 0) return rc;

    /* One buffer holds each decoded segment in turn; no segment decodes to
     * more than the whole token would. */
    size_t cap = sd_b64url_decoded_max(len);
    unsigned char *buf = malloc(cap);
    if (!buf) return SD_ENOMEM;
    json_t *header = NULL, *payload = NULL;
    jws_header h = {0};
    if ((rc = decode_object(p.header, p.header_len, buf, cap, &header)) != 0) goto out;
    if ((rc = check_header(header, keys, &h)) != 0) goto out;
    size_t sig_len;
    if (sd_b64url_decode(p.sig, p.sig_len, buf, cap, &sig_len) != 0) {
        rc = SD_ETOKEN_BASE64;
        goto out;
    }
    if ((rc = check_signature(keys, &h, &p, buf, sig_len)) != 0) goto out;
    if (payload_out) {
        if ((rc = decode_object(p.payload, p.payload_len, buf, cap, &payload)) != 0)
            goto out;
        *payload_out = payload;
    } else {
        /* The signature layer still insists on a decodable payload. */
        size_t n;
        if (sd_b64url_decode(p.payload, p.payload_len, buf, cap, &n) != 0)
            rc = SD_ETOKEN_BASE64;
    }
out:
    json_decref(header);
    free(buf);
    return rc;
}

int sd_token_verify_signature(const char *token, size_t len, const sd_keyset *keys,
                              size_t max_token_bytes) {
    return verify_jws(token, len, keys, max_token_bytes, NULL);
}

/* ------------------------------------------------------------------------
 * Claims
 * ------------------------------------------------------------------------ */

/* Reads an optional NumericDate: a JSON integer, or a finite real, in
 * [0, SD_NUMERIC_DATE_MAX]; fractions are truncated. *present is 0 when the
 * claim is absent. */
static int numeric_date(const json_t *claims, const char *name, int64_t *out,
                        int *present) {
    const json_t *v = json_object_get(claims, name);
    *present = v != NULL;
    if (!v) return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > SD_NUMERIC_DATE_MAX) return SD_ETOKEN_CLAIM_TYPE;
        *out = (int64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d < 0 || d > (double)SD_NUMERIC_DATE_MAX)
            return SD_ETOKEN_CLAIM_TYPE;
        *out = (int64_t)d;
        return 0;
    }
    return SD_ETOKEN_CLAIM_TYPE;
}

/* An optional non-empty string claim; *out is NULL when absent. These are
 * identifiers (iss, sub, client_id, sid, jti) that end up in response
 * headers, log lines, Redis keys and operators' terminals, so control
 * characters are refused: a NUL would make two different claims compare
 * equal, a CR/LF would not fit in a header, an ESC would repaint a
 * terminal. */
static int string_claim(const json_t *claims, const char *name, const char **out,
                        size_t *len) {
    const json_t *v = json_object_get(claims, name);
    *out = NULL;
    *len = 0;
    if (!v) return 0;
    if (!json_is_string(v) || json_string_length(v) == 0) return SD_ETOKEN_CLAIM_TYPE;
    if (sd_has_control(json_string_value(v), json_string_length(v)))
        return SD_ETOKEN_CLAIM_TYPE;
    *out = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

/* 1 when the JSON string v is exactly s, NUL-safe. */
static int string_is(const json_t *v, const char *s) {
    size_t n = strlen(s);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), s, n) == 0;
}

static int check_audience(const json_t *claims, const char *audience) {
    const json_t *aud = json_object_get(claims, "aud");
    if (!audience) {
        if (aud && !json_is_string(aud) && !json_is_array(aud))
            return SD_ETOKEN_CLAIM_TYPE;
        return 0;
    }
    if (!aud) return SD_ETOKEN_AUDIENCE;
    if (json_is_string(aud)) return string_is(aud, audience) ? 0 : SD_ETOKEN_AUDIENCE;
    if (!json_is_array(aud)) return SD_ETOKEN_CLAIM_TYPE;
    int found = 0;
    size_t i;
    const json_t *a;
    json_array_foreach(aud, i, a) {
        if (!json_is_string(a)) return SD_ETOKEN_CLAIM_TYPE;
        if (string_is(a, audience)) found = 1;
    }
    return found ? 0 : SD_ETOKEN_AUDIENCE;
}

/* The string claims copied into sd_claims, in block order. */
enum { C_ISS, C_SUB, C_CLIENT, C_SID, C_JTI, C_SCOPE, C_COUNT };

typedef struct claim_text {
    const char *s[C_COUNT];
    size_t len[C_COUNT];
    const json_t *scope_array; /* scope given as an array of strings */
} claim_text;

/* Reads scope as a string, or as an array of strings joined by spaces. */
static int scope_claim(const json_t *claims, claim_text *t) {
    const json_t *v = json_object_get(claims, "scope");
    if (!v) return 0;
    if (json_is_string(v)) {
        /* "" is a token with no scopes, as [] is: both are accepted. */
        if (strlen(json_string_value(v)) != json_string_length(v))
            return SD_ETOKEN_CLAIM_TYPE;
        t->s[C_SCOPE] = json_string_value(v);
        t->len[C_SCOPE] = json_string_length(v);
        return 0;
    }
    if (!json_is_array(v)) return SD_ETOKEN_CLAIM_TYPE;
    size_t i, total = 0;
    const json_t *a;
    json_array_foreach(v, i, a) {
        if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a))
            return SD_ETOKEN_CLAIM_TYPE;
        total += json_string_length(a) + (i ? 1 : 0);
    }
    t->scope_array = v;
    t->len[C_SCOPE] = total;
    return 0;
}

/* Copies the claims into one block: the struct, then each string. */
static sd_claims *build_claims(const claim_text *t, const char *token, size_t token_len) {
    size_t size = sizeof(sd_claims);
    for (int i = 0; i < C_COUNT; i++)
        if (t->s[i] || (i == C_SCOPE && t->scope_array)) size += t->len[i] + 1;
    sd_claims *c = calloc(1, size);
    if (!c) return NULL;
    char *w = (char *)(c + 1);
    const char **dst[C_COUNT] = {&c->iss, &c->sub, &c->client_id,
                                 &c->sid, &c->jti, &c->scope};
    for (int i = 0; i < C_COUNT; i++) {
        if (i == C_SCOPE && t->scope_array) {
            *dst[i] = w;
            size_t j;
            const json_t *a;
            json_array_foreach(t->scope_array, j, a) {
                if (j) *w++ = ' ';
                memcpy(w, json_string_value(a), json_string_length(a));
                w += json_string_length(a);
            }
            *w++ = '\0';
            continue;
        }
        if (!t->s[i]) continue;
        *dst[i] = w;
        memcpy(w, t->s[i], t->len[i]);
        w[t->len[i]] = '\0';
        w += t->len[i] + 1;
    }
    SHA256((const unsigned char *)token, token_len, c->token_sha256);
    c->refs = 1;
    return c;
}

/* 1 when the policy's service claim rule matches: the claim equals the
 * value, or is an array that contains it. Other types never match. */
static int service_rule_matches(const json_t *claims, const sd_verify_policy *policy) {
    if (!policy->service_claim_name || !policy->service_claim_value) return 0;
    const json_t *v = json_object_get(claims, policy->service_claim_name);
    const char *want = policy->service_claim_value;
    if (json_is_string(v)) return string_is(v, want);
    if (!json_is_array(v)) return 0;
    size_t i;
    const json_t *a;
    json_array_foreach(v, i, a) {
        if (string_is(a, want)) return 1;
    }
    return 0;
}

static int check_claims(const json_t *claims, const sd_verify_policy *policy,
                        int64_t now_s, const char *token, size_t token_len,
                        sd_claims **out) {
    int64_t exp = 0, nbf = 0, iat = 0;
    int has_exp, has_nbf, has_iat, rc;
    if ((rc = numeric_date(claims, "exp", &exp, &has_exp)) != 0) return rc;
    if (!has_exp) return SD_ETOKEN_EXP_MISSING;
    if ((rc = numeric_date(claims, "nbf", &nbf, &has_nbf)) != 0) return rc;
    if ((rc = numeric_date(claims, "iat", &iat, &has_iat)) != 0) return rc;

    claim_text t = {0};
    const json_t *iss = json_object_get(claims, "iss");
    if (iss && !json_is_string(iss)) return SD_ETOKEN_CLAIM_TYPE;
    if (!iss || !policy->issuer || strcmp(json_string_value(iss), policy->issuer) != 0 ||
        json_string_length(iss) != strlen(policy->issuer))
        return SD_ETOKEN_ISSUER;
    t.s[C_ISS] = json_string_value(iss);
    t.len[C_ISS] = json_string_length(iss);
    if ((rc = check_audience(claims, policy->audience)) != 0) return rc;

    int64_t leeway = policy->leeway_s;
    if (now_s >= exp + leeway) return SD_ETOKEN_EXPIRED;
    if (has_nbf && nbf > now_s + leeway) return SD_ETOKEN_NOT_YET_VALID;
    if (has_iat && iat > now_s + leeway) return SD_ETOKEN_IAT_FUTURE;

    if ((rc = string_claim(claims, "sub", &t.s[C_SUB], &t.len[C_SUB])) != 0) return rc;
    if ((rc = string_claim(claims, "client_id", &t.s[C_CLIENT], &t.len[C_CLIENT])) != 0)
        return rc;
    if (!t.s[C_CLIENT] &&
        (rc = string_claim(claims, "azp", &t.s[C_CLIENT], &t.len[C_CLIENT])) != 0)
        return rc;
    if ((rc = string_claim(claims, "sid", &t.s[C_SID], &t.len[C_SID])) != 0) return rc;
    if ((rc = string_claim(claims, "jti", &t.s[C_JTI], &t.len[C_JTI])) != 0) return rc;
    if ((rc = scope_claim(claims, &t)) != 0) return rc;

    sd_claims *c = build_claims(&t, token, token_len);
    if (!c) return SD_ENOMEM;
    c->service_claim = service_rule_matches(claims, policy);
    c->exp = exp;
    c->nbf = nbf;
    c->iat = iat;
    c->has_nbf = has_nbf;
    c->has_iat = has_iat;
    *out = c;
    return 0;
}

/* ------------------------------------------------------------------------
 * Public entry points
 * ------------------------------------------------------------------------ */

int sd_token_verify(const char *token, size_t len, const sd_keyset *keys,
                    const sd_verify_policy *policy, int64_t now_s, sd_claims **out) {
    if (!out || !policy) return SD_EINVAL;
    *out = NULL;
    json_t *payload = NULL;
    int rc = verify_jws(token, len, keys, policy->max_token_bytes, &payload);
    if (rc != 0) return rc;
    rc = check_claims(payload, policy, now_s, token, len, out);
    json_decref(payload);
    return rc;
}

int sd_token_peek_issuer(const char *token, size_t len, size_t max_token_bytes, char *out,
                         size_t cap) {
    if (!token || len == 0) return SD_ETOKEN_MISSING;
    if (len > max_token_bytes) return SD_ETOKEN_TOO_LARGE;
    jws_parts p;
    int rc = split_compact(token, len, &p);
    if (rc != 0) return rc;
    size_t buf_cap = sd_b64url_decoded_max(p.payload_len);
    unsigned char *buf = malloc(buf_cap);
    if (!buf) return SD_ENOMEM;
    json_t *payload = NULL;
    rc = decode_object(p.payload, p.payload_len, buf, buf_cap, &payload);
    free(buf);
    if (rc != 0) return rc;
    const json_t *iss = json_object_get(payload, "iss");
    if (!json_is_string(iss))
        rc = SD_ETOKEN_ISSUER;
    else if (json_string_length(iss) >= cap)
        rc = SD_EINVAL;
    else
        memcpy(out, json_string_value(iss), json_string_length(iss) + 1);
    json_decref(payload);
    return rc;
}

sd_claims *sd_claims_ref(sd_claims *c) {
    if (c) c->refs++;
    return c;
}

void sd_claims_unref(sd_claims *c) {
    if (c && --c->refs == 0) free(c);
}
