/* Text and stable reason names for sd_err codes (include/sessiond/error.h). */
#include "sessiond/error.h"

#include <stddef.h>

typedef struct {
    int code;
    const char *name;
    const char *text;
} error_entry;

static const error_entry errors[] = {
    {SD_OK, "ok", "success"},
    {SD_ENOMEM, "out_of_memory", "out of memory"},
    {SD_EINVAL, "invalid_argument", "invalid argument"},
    {SD_EIO, "io_error", "file could not be read"},
    {SD_ETOKEN_MISSING, "token_missing", "no bearer token in the request"},
    {SD_ETOKEN_TOO_LARGE, "token_too_large", "token is longer than the size cap"},
    {SD_ETOKEN_MALFORMED, "token_malformed",
     "token is not three dot-separated base64url segments"},
    {SD_ETOKEN_BASE64, "token_base64", "token segment is not strict base64url"},
    {SD_ETOKEN_JSON, "token_json", "token header or payload is not valid JSON"},
    {SD_ETOKEN_JSON_DEPTH, "token_json_depth", "token JSON is nested too deeply"},
    {SD_ETOKEN_NOT_OBJECT, "token_not_object",
     "token header or payload is not a JSON object"},
    {SD_ETOKEN_ALG_NONE, "alg_none", "unsigned tokens (alg none) are not accepted"},
    {SD_ETOKEN_ALG_UNSUPPORTED, "alg_unsupported",
     "token algorithm is missing or not accepted"},
    {SD_ETOKEN_ALG_KEY_MISMATCH, "alg_key_mismatch",
     "token algorithm does not match the key's type"},
    {SD_ETOKEN_KID_UNKNOWN, "kid_unknown", "token names an unknown key id"},
    {SD_ETOKEN_NO_KEY, "no_key", "no key of this instance fits the token's algorithm"},
    {SD_ETOKEN_TYP, "typ_invalid", "token type must be absent, JWT or at+jwt"},
    {SD_ETOKEN_CRIT, "crit_unsupported", "token has critical header extensions"},
    {SD_ETOKEN_HEADER, "header_invalid",
     "token header field is malformed or not supported"},
    {SD_ETOKEN_SIGNATURE, "signature_invalid", "token signature does not verify"},
    {SD_ETOKEN_EXP_MISSING, "exp_missing", "token has no exp claim"},
    {SD_ETOKEN_CLAIM_TYPE, "claim_invalid", "token claim has the wrong type or range"},
    {SD_ETOKEN_EXPIRED, "token_expired", "token has expired"},
    {SD_ETOKEN_NOT_YET_VALID, "token_not_yet_valid", "token is not valid yet (nbf)"},
    {SD_ETOKEN_IAT_FUTURE, "iat_future", "token was issued in the future (iat)"},
    {SD_ETOKEN_ISSUER, "issuer_mismatch", "token issuer is not this instance's issuer"},
    {SD_ETOKEN_AUDIENCE, "audience_mismatch", "token audience does not include this API"},
    {SD_ETOKEN_REVOKED, "token_revoked", "token has been revoked"},
    {SD_ETOKEN_ADMIN_CREDENTIALS, "admin_credentials",
     "neither the admin secret nor a token"},
    {SD_ETOKEN_WRONG_INSTANCE, "wrong_instance", "token belongs to another instance"},
    {SD_ESTORE_UNAVAILABLE, "store_unavailable", "session store is unavailable"},
    {SD_ESTORE_TIMEOUT, "store_timeout", "session store did not answer in time"},
    {SD_ESTORE_REPLY, "store_reply", "session store sent an unexpected reply"},
    {SD_ELICENSE_LIMIT, "license_limit_reached",
     "all license slots of this instance are in use"},
    {SD_ENOT_FOUND, "not_found", "no open session for this token"},
    {SD_EINSTANCE_UNKNOWN, "instance_unknown",
     "the request names no configured instance"},
    {SD_ESUBJECT_LIMIT, "subject_limit_reached",
     "this subject holds its maximum number of sessions"},
    {SD_EKEYS_UNAVAILABLE, "keys_unavailable",
     "the instance's signing keys have not been fetched yet"},
    {SD_ESESSION_ID_UNKNOWN, "session_not_found", "no open session with this id"},
    {SD_EBAD_REQUEST, "bad_request", "the request body or a parameter is malformed"},
    {SD_EFORBIDDEN, "insufficient_scope", "the token lacks the admin scope"},
    {SD_ERESERVED_OVER_LIMIT, "reserved_over_limit",
     "more reserved subjects than licenses: a seat could not be kept for each"},
    {SD_EINSTANCE_AMBIGUOUS, "instance_ambiguous", "more than one X-Instance header"},
    {SD_ESUBJECT_INVALID, "subject_invalid",
     "a reserved subject must be a non-empty string without control characters"},
};

static const error_entry *find(int code) {
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == code) return &errors[i];
    return NULL;
}

const char *sd_strerror(int err) {
    const error_entry *e = find(err);
    return e ? e->text : "unknown error";
}

const char *sd_errname(int err) {
    const error_entry *e = find(err);
    return e ? e->name : "unknown_error";
}
