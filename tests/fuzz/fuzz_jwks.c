/* Fuzz target: the JWKS and JWK parser (src/token/jwk.c, keyset.c).
 *
 * The first input byte's low bit allows oct (HMAC) keys; the rest is the
 * document. A set that loads is compared with itself and with a second
 * load of the same text (they must be equal), and a fixed token is checked
 * against it, so that any key it holds is really used by the verifier. */
#include "fuzz.h"

#include "sessiond/error.h"
#include "sessiond/token.h"

#include <stdlib.h>
#include <string.h>

/* RFC 7515 A.2: an RS256 token (its key may or may not be in the input). */
static const char token[] =
    "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOi"
    "ZTmvb96TKcm5Q0cfvBv0iyH44xp41VcRTpgVqpl37EVDg3WE1CbGlVDg6pg9o1VY6zVQ3rlhyGOdBGXY7hcPqMN"
    "MUKJYpYb29-O6XyrP6w1s6xkz1POhDtMfVS_6_A0e_wi8QTkNmjEXhSIrzLsAIHaJcrDkM5CB8NoNYNOdF5M9VP"
    "MLP0xSCmYmO0RoBJsmTMrpy4PR13lXpJexpm2u6ONmvpLYf-PrcUZljBaOwOAlTrfoLhZupZEwMnkMh0Hq7ZSx5"
    "Sk6kDVCBHsp4uyFVo7mYB7Dw";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > (1u << 20)) return 0;
    int allow_hmac = data[0] & 1;
    const char *doc = (const char *)data + 1;
    size_t len = size - 1;
    sd_keyset *a = sd_keyset_new(), *b = sd_keyset_new();
    if (!a || !b) abort();
    int rc = sd_keyset_add_jwks(a, doc, len, allow_hmac);
    if (rc != 0 && rc != SD_EINVAL && rc != SD_ENOMEM) abort();
    if (rc != 0 && sd_keyset_count(a) != 0) abort(); /* all or nothing */
    if (rc == 0) {
        if (sd_keyset_add_jwks(b, doc, len, allow_hmac) != 0 || !sd_keyset_equal(a, b) ||
            !sd_keyset_equal(a, a))
            abort();
        for (size_t i = 0; i < sd_keyset_count(a); i++) {
            const char *kid = sd_keyset_kid(a, i);
            if (kid) (void)strlen(kid);
        }
        int v = sd_token_verify_signature(token, sizeof token - 1, a, 8192);
        if (v != 0 && !sd_err_is_token(v)) abort();
    }
    sd_keyset_free(a);
    sd_keyset_free(b);
    return 0;
}
