/* Strict base64url decoding and unpadded encoding (see base64url.h). */
#include "core/base64url.h"

#include "sessiond/error.h"

#include <stdint.h>
#include <stdlib.h>

static const char alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of each byte as a base64url character, or -1 for anything else
 * (including '+', '/', '=' and whitespace, which plain base64 or lenient
 * decoders accept). A table: tokens are decoded on every cold check. */
// clang-format off
#define X -1
static const signed char values[256] = {
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x00 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x10 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  62, X,  X,  /* 0x20 '-' */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X,  X,  X,  X,  X,  X,  /* 0x30 0-9 */
    X,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, /* 0x40 A-O */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X,  X,  X,  X,  63, /* 0x50 P-Z _ */
    X,  26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 0x60 a-o */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X,  X,  X,  X,  X,  /* 0x70 p-z */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x80.. */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
};
#undef X
// clang-format on

static int char_value(unsigned char c) { return values[c]; }

size_t sd_b64url_decoded_max(size_t enc_len) {
    return enc_len / 4 * 3 + (enc_len % 4 * 3) / 4;
}

size_t sd_b64url_encoded_len(size_t raw_len) {
    size_t full = raw_len / 3, rest = raw_len % 3;
    if (full > (SIZE_MAX - 3) / 4) return 0;
    return full * 4 + (rest ? rest + 1 : 0);
}

int sd_b64url_valid_chars(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (char_value((unsigned char)s[i]) < 0) return 0;
    return 1;
}

int sd_b64url_decode(const char *in, size_t len, unsigned char *out,
                     size_t out_cap, size_t *out_len) {
    if (len % 4 == 1) return SD_EINVAL;
    if (out_cap < sd_b64url_decoded_max(len)) return SD_EINVAL;

    size_t o = 0, i = 0;
    for (; i + 4 <= len; i += 4) {
        int a = char_value((unsigned char)in[i]);
        int b = char_value((unsigned char)in[i + 1]);
        int c = char_value((unsigned char)in[i + 2]);
        int d = char_value((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0) return SD_EINVAL;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
                     (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }

    size_t rest = len - i;
    if (rest >= 2) {
        int a = char_value((unsigned char)in[i]);
        int b = char_value((unsigned char)in[i + 1]);
        int c = rest == 3 ? char_value((unsigned char)in[i + 2]) : 0;
        if ((a | b | c) < 0) return SD_EINVAL;
        /* The bits below the last whole byte must be zero; otherwise several
         * strings would decode to the same bytes. */
        if (rest == 2 && (b & 0x0f)) return SD_EINVAL;
        if (rest == 3 && (c & 0x03)) return SD_EINVAL;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        out[o++] = (unsigned char)(v >> 16);
        if (rest == 3) out[o++] = (unsigned char)(v >> 8);
    }
    *out_len = o;
    return 0;
}

int sd_b64url_encode(const unsigned char *in, size_t len, char *out,
                     size_t out_cap, size_t *out_len) {
    size_t need = sd_b64url_encoded_len(len);
    if ((need == 0 && len != 0) || out_cap < need + 1) return SD_EINVAL;

    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return 0;
}

char *sd_b64url_encode_alloc(const unsigned char *in, size_t len) {
    size_t need = sd_b64url_encoded_len(len);
    if (need == 0 && len != 0) return NULL;
    char *out = malloc(need + 1);
    if (!out) return NULL;
    if (sd_b64url_encode(in, len, out, need + 1, NULL) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
