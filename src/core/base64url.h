/* Strict base64url (RFC 4648 §5, unpadded) as JWS and JWK use it. */
#ifndef SD_CORE_BASE64URL_H
#define SD_CORE_BASE64URL_H

#include <stddef.h>

/* Largest number of bytes sd_b64url_decode can produce from enc_len
 * characters (enc_len * 3 / 4, rounded down). */
size_t sd_b64url_decoded_max(size_t enc_len);

/* Exact length of the unpadded encoding of raw_len bytes, without the NUL.
 * Returns 0 when the result would not fit in a size_t. */
size_t sd_b64url_encoded_len(size_t raw_len);

/* Returns 1 when every one of the len bytes of s is in [A-Za-z0-9_-], else 0.
 * An empty string passes. */
int sd_b64url_valid_chars(const char *s, size_t len);

/* Decodes len characters of in into out (capacity out_cap bytes; the caller
 * owns it) and stores the decoded length in *out_len. Strict: only the
 * base64url alphabet, no padding, no whitespace, len % 4 != 1, and the unused
 * low bits of the last character must be zero (one encoding per byte string).
 * Returns 0, or SD_EINVAL when the input is not strict base64url or out_cap
 * is smaller than sd_b64url_decoded_max(len). Nothing is promised about out
 * on failure. */
int sd_b64url_decode(const char *in, size_t len, unsigned char *out,
                     size_t out_cap, size_t *out_len);

/* Encodes len bytes of in into out, unpadded, followed by a NUL; out_cap must
 * be at least sd_b64url_encoded_len(len) + 1. Stores the length without the
 * NUL in *out_len when out_len is not NULL. Returns 0 or SD_EINVAL. */
int sd_b64url_encode(const unsigned char *in, size_t len, char *out,
                     size_t out_cap, size_t *out_len);

/* Encodes len bytes of in into a new NUL-terminated string the caller frees
 * with free(). Returns NULL when out of memory. */
char *sd_b64url_encode_alloc(const unsigned char *in, size_t len);

#endif
