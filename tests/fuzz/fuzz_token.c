/* Fuzz target: the token verifier (src/token/verify.c and base64url).
 *
 * The first input byte picks a mode:
 *   even  the rest is a compact token, verified as it comes: form, base64,
 *         JSON, header, key selection, signature (RS256/ES256/HS256 keys of
 *         the RFC 7515 examples, whose tokens are in the seed corpus and
 *         verify completely at NOW).
 *   odd   the rest is header JSON, a NUL byte and payload JSON; the target
 *         signs them with the HMAC key, so every input reaches the header
 *         rules and the claims checks behind the signature.
 * Whatever the outcome, a success must carry sane claims. */
#include "fuzz.h"

#include "core/base64url.h"
#include "sessiond/error.h"
#include "sessiond/token.h"

#include <openssl/hmac.h>

#include <stdlib.h>
#include <string.h>

/* RFC 7515 A.1 (oct), A.2 (RSA) and A.3 (EC P-256) public keys. */
static const char jwks[] =
    "{\"keys\":["
    "{\"kty\":\"oct\",\"kid\":\"hmac\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T"
    "-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"},"
    "{\"kty\":\"RSA\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp"
    "-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb"
    "_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxv"
    "b3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4F"
    "RWyuXpoQ\",\"e\":\"AQAB\"},"
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";

/* Before the examples' exp (1300819380), so their tokens are valid. */
#define NOW INT64_C(1300819000)

static const sd_verify_policy policy = {
    "joe", NULL, 60, 8192, "http://example.com/is_root", "yes",
};
static const sd_verify_policy with_audience = {
    "joe", "api", 0, 8192, NULL, NULL,
};

static const sd_keyset *keys(void) {
    static sd_keyset *ks;
    if (!ks) {
        ks = sd_keyset_new();
        if (!ks || sd_keyset_add_jwks(ks, jwks, sizeof jwks - 1, 1) != 0 ||
            sd_keyset_count(ks) != 3)
            abort();
    }
    return ks;
}

static void check_claims(const sd_claims *c) {
    /* Strings are NUL-terminated copies; reading them must be safe. */
    const char *s[] = {c->iss, c->sub, c->client_id, c->sid, c->jti, c->scope};
    size_t total = 0;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (s[i]) total += strlen(s[i]);
    if (!c->iss || c->refs != 1 || total > 8192 || c->exp < 0) abort();
}

static void verify_all(const char *tok, size_t len) {
    const sd_verify_policy *const policies[] = {&policy, &with_audience};
    for (size_t i = 0; i < 2; i++) {
        sd_claims *c = NULL;
        int rc = sd_token_verify(tok, len, keys(), policies[i], NOW, &c);
        if (rc == 0) {
            check_claims(c);
            sd_claims_unref(c);
        } else if (c || !sd_err_is_token(rc)) {
            abort(); /* a failure is always a token reason, and nothing leaks out */
        }
    }
    sd_token_verify_signature(tok, len, keys(), 8192);
    char iss[64];
    sd_token_peek_issuer(tok, len, 8192, iss, sizeof iss);
}

/* header "." payload "." HMAC-SHA256 signature, all base64url. */
static char *sign_hs256(const uint8_t *h, size_t hlen, const uint8_t *p, size_t plen,
                        size_t *len) {
    static const unsigned char k64[] = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75"
                                       "aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    unsigned char secret[64];
    size_t secret_len = 0;
    if (sd_b64url_decode((const char *)k64, sizeof k64 - 1, secret, sizeof secret,
                         &secret_len) != 0)
        abort();
    size_t eh = sd_b64url_encoded_len(hlen), ep = sd_b64url_encoded_len(plen);
    char *out = malloc(eh + ep + 2 + 64);
    if (!out) return NULL;
    sd_b64url_encode(h, hlen, out, eh + 1, NULL);
    out[eh] = '.';
    sd_b64url_encode(p, plen, out + eh + 1, ep + 1, NULL);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)out, eh + 1 + ep, mac,
         &mac_len);
    out[eh + 1 + ep] = '.';
    size_t sl = 0;
    sd_b64url_encode(mac, mac_len, out + eh + 2 + ep, 64, &sl);
    *len = eh + ep + 2 + sl;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > 16384) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    if ((mode & 1) == 0) {
        verify_all((const char *)data, size);
        return 0;
    }
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) return 0;
    size_t hlen = (size_t)(nul - data);
    size_t len = 0;
    char *tok = sign_hs256(data, hlen, nul + 1, size - hlen - 1, &len);
    if (tok) verify_all(tok, len);
    free(tok);
    return 0;
}
