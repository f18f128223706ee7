/* JWS algorithm names, digests and signature sizes (see alg.h). */
#include "token/alg.h"

#include "sessiond/error.h"

#include <string.h>
#include <strings.h>

static const char *const names[SD_ALG_COUNT] = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "HS256", "HS384", "HS512",
};

int sd_alg_from_name(const char *name, size_t len, sd_alg *out) {
    if (len == 4 && strncasecmp(name, "none", 4) == 0) return SD_ETOKEN_ALG_NONE;
    if (len != 5) return SD_ETOKEN_ALG_UNSUPPORTED;
    for (int a = 0; a < SD_ALG_COUNT; a++) {
        if (memcmp(name, names[a], 5) == 0) {
            *out = (sd_alg)a;
            return 0;
        }
    }
    return SD_ETOKEN_ALG_UNSUPPORTED;
}

const char *sd_alg_name(sd_alg alg) {
    return (unsigned)alg < SD_ALG_COUNT ? names[alg] : "?";
}

const EVP_MD *sd_alg_md(sd_alg alg) {
    switch (alg) {
    case SD_ALG_RS256: case SD_ALG_PS256: case SD_ALG_ES256: case SD_ALG_HS256:
        return EVP_sha256();
    case SD_ALG_RS384: case SD_ALG_PS384: case SD_ALG_ES384: case SD_ALG_HS384:
        return EVP_sha384();
    default:
        return EVP_sha512();
    }
}

size_t sd_alg_es_coord_len(sd_alg alg) {
    switch (alg) {
    case SD_ALG_ES256: return 32;
    case SD_ALG_ES384: return 48;
    case SD_ALG_ES512: return 66;
    default: return 0;
    }
}

int sd_alg_is_pss(sd_alg alg) {
    return alg == SD_ALG_PS256 || alg == SD_ALG_PS384 || alg == SD_ALG_PS512;
}
