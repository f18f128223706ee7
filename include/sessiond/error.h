/* sessiond error codes: 0 is success, every failure is a negative sd_err.
 *
 * One enum for the whole project so that any layer can pass a failure up
 * unchanged and the HTTP layer can map it to a status in one table
 * (src/http/errors.c). sd_strerror() gives the human text, sd_errname() the
 * stable machine reason that goes into error bodies and logs. */
#ifndef SESSIOND_ERROR_H
#define SESSIOND_ERROR_H

typedef enum sd_err {
    SD_OK = 0,

    /* Generic. */
    SD_ENOMEM = -1, /* allocation failed */
    SD_EINVAL = -2, /* invalid argument or configuration value */
    SD_EIO = -3,    /* file could not be read */

    /* Token form (SPEC §3): rejected before or while decoding. */
    SD_ETOKEN_MISSING = -100, /* no bearer token in the request */
    SD_ETOKEN_TOO_LARGE,      /* longer than the configured cap */
    SD_ETOKEN_MALFORMED,      /* not three dot-separated segments */
    SD_ETOKEN_BASE64,         /* a segment is not strict base64url */
    SD_ETOKEN_JSON,           /* header or payload is not valid JSON */
    SD_ETOKEN_JSON_DEPTH,     /* JSON nested deeper than allowed */
    SD_ETOKEN_NOT_OBJECT,     /* header or payload is not a JSON object */

    /* Token header. */
    SD_ETOKEN_ALG_NONE,         /* alg "none" in any letter case */
    SD_ETOKEN_ALG_UNSUPPORTED,  /* alg missing, not a string, or not accepted */
    SD_ETOKEN_ALG_KEY_MISMATCH, /* alg does not match the selected key's pin */
    SD_ETOKEN_KID_UNKNOWN,      /* kid names no key of the instance */
    SD_ETOKEN_NO_KEY,           /* no key of the instance fits the alg */
    SD_ETOKEN_TYP,              /* typ is not absent, JWT or at+jwt */
    SD_ETOKEN_CRIT,             /* crit header present */
    SD_ETOKEN_HEADER,           /* kid or cty malformed, or cty names a nested JWT */

    /* Signature. */
    SD_ETOKEN_SIGNATURE, /* signature does not verify */

    /* Claims. */
    SD_ETOKEN_EXP_MISSING,       /* no exp claim */
    SD_ETOKEN_CLAIM_TYPE,        /* a claim has the wrong JSON type or range */
    SD_ETOKEN_EXPIRED,           /* now >= exp + leeway */
    SD_ETOKEN_NOT_YET_VALID,     /* nbf > now + leeway */
    SD_ETOKEN_IAT_FUTURE,        /* iat > now + leeway */
    SD_ETOKEN_ISSUER,            /* iss missing or not the instance's issuer */
    SD_ETOKEN_AUDIENCE,          /* aud missing or lacks the configured audience */
    SD_ETOKEN_REVOKED,           /* jti is on the revocation list */
    SD_ETOKEN_ADMIN_CREDENTIALS, /* admin route: neither the secret nor a token */
    SD_ETOKEN_WRONG_INSTANCE,    /* valid token, but of another instance */

    /* Sessions and the store. */
    SD_ESTORE_UNAVAILABLE = -200, /* Redis not connected or scripts not loaded */
    SD_ESTORE_TIMEOUT,            /* Redis did not answer within the time-out */
    SD_ESTORE_REPLY,              /* Redis answered something unexpected */
    SD_ELICENSE_LIMIT,            /* no free license slot */
    SD_ENOT_FOUND,                /* no open session for this token */
    SD_EINSTANCE_UNKNOWN,         /* request names no configured instance */
    SD_ESUBJECT_LIMIT,            /* the subject holds its maximum of sessions */
    SD_EKEYS_UNAVAILABLE,         /* the instance's JWKS has not been fetched yet */
    SD_ESESSION_ID_UNKNOWN,       /* admin: no open session with this id */

    /* Requests. */
    SD_EBAD_REQUEST = -300,  /* malformed request body or parameter */
    SD_EFORBIDDEN,           /* authenticated, but lacks the admin scope */
    SD_ERESERVED_OVER_LIMIT, /* more reserved subjects than licenses */
    SD_EINSTANCE_AMBIGUOUS,  /* more than one X-Instance header */
    SD_ESUBJECT_INVALID,     /* a reserved subject is empty or has a control character */
} sd_err;

/* 1 when err is a token rejection. Codes of a group count up from the
 * group's first value (-100, -99, ...), so ranges are [first, last]. */
static inline int sd_err_is_token(int err) {
    return err >= SD_ETOKEN_MISSING && err <= SD_ETOKEN_WRONG_INSTANCE;
}

/* Human-readable text for an error code; never NULL. */
const char *sd_strerror(int err);

/* Stable snake_case reason for an error code (e.g. "token_expired");
 * never NULL. Goes into the "reason" field of error bodies and into logs. */
const char *sd_errname(int err);

#endif
