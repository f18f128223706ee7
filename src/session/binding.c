/* Session kind and binding of a verified token (SPEC §3). */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "session/session.h"

sd_session_kind sd_session_kind_of(const sd_claims *claims) {
    if (!claims->sub || claims->service_claim) return SD_KIND_SERVICE;
    if (claims->client_id && strcmp(claims->sub, claims->client_id) == 0)
        return SD_KIND_SERVICE;
    return SD_KIND_INTERACTIVE;
}

const char *sd_session_kind_name(sd_session_kind kind) {
    return kind == SD_KIND_SERVICE ? "service" : "interactive";
}

/* Picks the first rule the token satisfies; writes its tag and value. The
 * token rule always applies, so this always picks one. */
static void pick_rule(const sd_instance *inst, const sd_claims *claims,
                      sd_session_kind kind, const char **tag, const unsigned char **value,
                      size_t *value_len) {
    for (size_t i = 0; i < inst->cfg->nbinding; i++) {
        switch (inst->cfg->binding[i]) {
        case SD_BIND_SID:
            if (claims->sid) {
                *tag = "sid";
                *value = (const unsigned char *)claims->sid;
                *value_len = strlen(claims->sid);
                return;
            }
            break;
        case SD_BIND_SUBJECT:
            if (kind == SD_KIND_INTERACTIVE && claims->sub) {
                *tag = "sub";
                *value = (const unsigned char *)claims->sub;
                *value_len = strlen(claims->sub);
                return;
            }
            break;
        case SD_BIND_TOKEN: goto token;
        }
    }
token:
    if (claims->jti) {
        *tag = "jti";
        *value = (const unsigned char *)claims->jti;
        *value_len = strlen(claims->jti);
    } else {
        *tag = "token";
        *value = claims->token_sha256;
        *value_len = sizeof claims->token_sha256;
    }
}

void sd_binding_of(const sd_instance *inst, const sd_claims *claims, sd_session_kind kind,
                   sd_binding *out) {
    const char *tag;
    const unsigned char *value;
    size_t value_len;
    pick_rule(inst, claims, kind, &tag, &value, &value_len);

    /* Keys hold a fixed-size digest, not the raw claim: claim values are
     * long and arbitrary, and the key must stay small and printable. The
     * client id is part of it: two clients of one user are two sessions.
     * So is the subject: an identity server that reuses a sid across users
     * (or sends a constant one) must not let them share one session, its
     * slot and its logout. */
    const char *client = claims->client_id ? claims->client_id : "";
    const char *sub = claims->sub ? claims->sub : "";
    /* H(H(client) || H(tag) || H(sub) || H(value)): unambiguous, and no
     * copy of claim values that may be as long as the token. */
    unsigned char parts[4 * SHA256_DIGEST_LENGTH];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)client, strlen(client), parts);
    SHA256((const unsigned char *)tag, strlen(tag), parts + SHA256_DIGEST_LENGTH);
    SHA256((const unsigned char *)sub, strlen(sub), parts + 2 * SHA256_DIGEST_LENGTH);
    SHA256(value, value_len, parts + 3 * SHA256_DIGEST_LENGTH);
    SHA256(parts, sizeof parts, digest);

    static const char hex[] = "0123456789abcdef";
    char digest_hex[33];
    for (int i = 0; i < 16; i++) {
        digest_hex[2 * i] = hex[digest[i] >> 4];
        digest_hex[2 * i + 1] = hex[digest[i] & 15];
    }
    digest_hex[32] = '\0';
    out->key_len = (size_t)snprintf(out->key, sizeof out->key, "%sbinding:%s",
                                    inst->prefix, digest_hex);

    int n;
    if (strcmp(tag, "sid") == 0 || strcmp(tag, "jti") == 0)
        n = snprintf(out->desc, sizeof out->desc, "%s:%.*s", tag,
                     (int)(value_len > 64 ? 64 : value_len), (const char *)value);
    else if (strcmp(tag, "token") == 0)
        n = snprintf(out->desc, sizeof out->desc, "token:%.16s", digest_hex);
    else
        n = snprintf(out->desc, sizeof out->desc, "%s", tag);
    out->desc_len = n < (int)sizeof out->desc ? (size_t)n : sizeof out->desc - 1;
}
