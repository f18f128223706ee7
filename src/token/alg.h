/* JWS algorithm identifiers and what each needs from OpenSSL (private). */
#ifndef SD_TOKEN_ALG_H
#define SD_TOKEN_ALG_H

#include <openssl/evp.h>
#include <stddef.h>

/* The algorithms the verifier knows; everything else is unsupported. */
typedef enum sd_alg {
    SD_ALG_RS256,
    SD_ALG_RS384,
    SD_ALG_RS512,
    SD_ALG_PS256,
    SD_ALG_PS384,
    SD_ALG_PS512,
    SD_ALG_ES256,
    SD_ALG_ES384,
    SD_ALG_ES512,
    SD_ALG_HS256,
    SD_ALG_HS384,
    SD_ALG_HS512,
    SD_ALG_COUNT
} sd_alg;

/* Bit sets of algorithms: a key's pin is one of these (or one bit of it). */
#define SD_ALG_BIT(a) (1u << (unsigned)(a))
#define SD_ALGS_RSA                                                          \
    (SD_ALG_BIT(SD_ALG_RS256) | SD_ALG_BIT(SD_ALG_RS384) |                   \
     SD_ALG_BIT(SD_ALG_RS512) | SD_ALG_BIT(SD_ALG_PS256) |                   \
     SD_ALG_BIT(SD_ALG_PS384) | SD_ALG_BIT(SD_ALG_PS512))
#define SD_ALGS_HMAC                                                         \
    (SD_ALG_BIT(SD_ALG_HS256) | SD_ALG_BIT(SD_ALG_HS384) |                   \
     SD_ALG_BIT(SD_ALG_HS512))

/* Maps a header "alg" value of len bytes to *out. Names are case-sensitive
 * (RFC 7515 §4.1.1), except that "none" is recognised in any letter case so
 * that it is reported as such. Returns 0, SD_ETOKEN_ALG_NONE or
 * SD_ETOKEN_ALG_UNSUPPORTED. */
int sd_alg_from_name(const char *name, size_t len, sd_alg *out);

/* The registered name of alg, e.g. "PS384". */
const char *sd_alg_name(sd_alg alg);

/* The digest alg hashes with (SHA-256/384/512). */
const EVP_MD *sd_alg_md(sd_alg alg);

/* Length of one of r and s in an ES signature (32, 48 or 66 bytes); 0 for
 * algorithms that are not ES. */
size_t sd_alg_es_coord_len(sd_alg alg);

/* 1 for PS256/384/512, 0 otherwise. */
int sd_alg_is_pss(sd_alg alg);

#endif
