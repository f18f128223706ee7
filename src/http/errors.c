/* sd_err -> HTTP status and SPEC §5 error code. */
#include "http/errors.h"

#include "sessiond/error.h"

sd_http_error sd_http_error_of(int err) {
    /* Every token rejection but wrong_instance is one 401: the reason goes
     * in the body's "reason", not in the status. */
    if (sd_err_is_token(err) && err != SD_ETOKEN_WRONG_INSTANCE)
        return (sd_http_error){401, "invalid_token"};
    switch (err) {
    case SD_ETOKEN_WRONG_INSTANCE: return (sd_http_error){403, "wrong_instance"};
    case SD_ELICENSE_LIMIT: return (sd_http_error){429, "license_limit_reached"};
    case SD_ESUBJECT_LIMIT: return (sd_http_error){429, "subject_limit_reached"};
    case SD_ESTORE_UNAVAILABLE:
    case SD_ESTORE_TIMEOUT:
    case SD_ESTORE_REPLY: return (sd_http_error){503, "store_unavailable"};
    case SD_EKEYS_UNAVAILABLE: return (sd_http_error){503, "keys_unavailable"};
    case SD_ESESSION_ID_UNKNOWN:
    case SD_ENOT_FOUND: return (sd_http_error){404, "not_found"};
    case SD_EINSTANCE_UNKNOWN: return (sd_http_error){404, "unknown_instance"};
    case SD_EINVAL:
    case SD_EBAD_REQUEST:
    case SD_ERESERVED_OVER_LIMIT:
    case SD_ESUBJECT_INVALID:
    case SD_EINSTANCE_AMBIGUOUS: return (sd_http_error){400, "bad_request"};
    case SD_EFORBIDDEN: return (sd_http_error){403, "forbidden"};
    default: return (sd_http_error){500, "internal_error"};
    }
}
