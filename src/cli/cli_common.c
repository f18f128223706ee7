/* Helpers shared by the sessionctl subcommands: error lines, strict number
 * and duration parsing, and PEM key loading with OpenSSL. */
#include "cli/cli.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A PEM key file is a few kilobytes; anything far larger is not one. */
#define CLI_MAX_PEM_BYTES (1024 * 1024)

/* ------------------------------------------------------------------------
 * Human-readable output
 * ------------------------------------------------------------------------ */

/* Writes the escape of the character at s into esc (NUL-terminated) and
 * returns its length, or 0 when the byte is printed as it is; *used is how
 * many input bytes it stands for. */
static size_t escape_one(const unsigned char *s, char esc[8], size_t *used) {
    *used = 1;
    switch (s[0]) {
    case '\n': memcpy(esc, "\\n", 3); return 2;
    case '\t': memcpy(esc, "\\t", 3); return 2;
    case '\r': memcpy(esc, "\\r", 3); return 2;
    case '\\': memcpy(esc, "\\\\", 3); return 2;
    default: break;
    }
    if (s[0] < 0x20 || s[0] == 0x7f) {
        snprintf(esc, 8, "\\x%02x", s[0]);
        return 4;
    }
    /* U+0080..U+009F in UTF-8: C2 80..C2 9F (the C1 controls, CSI among them). */
    if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f) {
        *used = 2;
        snprintf(esc, 8, "\\u%04x", s[1]);
        return 6;
    }
    return 0;
}

char *cli_escape(const char *s, char *out, size_t cap) {
    size_t n = 0;
    if (cap == 0) return out;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        char esc[8];
        size_t used, len = escape_one(p, esc, &used);
        const char *from = len ? esc : (const char *)p;
        if (!len) len = 1;
        if (n + len >= cap) break;
        memcpy(out + n, from, len);
        n += len;
        p += used;
    }
    out[n] = '\0';
    return out;
}

char *cli_escaped(const char *s) {
    size_t cap = 1;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        char esc[8];
        size_t used, len = escape_one(p, esc, &used);
        cap += len ? len : 1;
        p += used;
    }
    char *out = malloc(cap);
    return out ? cli_escape(s, out, cap) : NULL;
}

/* ------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------ */

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sessionctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_option_error(const char *cmd, char **argv, int c) {
    /* getopt_long has already advanced optind past the offending word, and a
     * long option's optopt is 0, so the word itself is the best thing to
     * name. */
    const char *word = optind > 0 ? argv[optind - 1] : "?";
    /* A short option (optopt set) may sit inside a word: name it alone. */
    char shortopt[3] = {'-', (char)optopt, '\0'};
    if (optopt > 0 && optopt < 128) word = shortopt;
    if (c == ':')
        cli_error("%s: option '%s' needs a value (see 'sessionctl %s --help')", cmd, word,
                  cmd);
    else if (optopt >= '0' && optopt <= '9')
        /* "-1" reads as an option to getopt; it was meant as a number. */
        cli_error("%s: %s must be a whole number >= 0, not a negative one", cmd,
                  strcmp(cmd, "limit") == 0 ? "the limit" : "a number");
    else
        cli_error("%s: unknown option '%s' (see 'sessionctl %s --help')", cmd, word, cmd);
    return CLI_EXIT_USAGE;
}

/* ------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------ */

/* Parses the leading digits of text into *out; returns a pointer to the first
 * non-digit, or NULL when there is no digit or the value overflows. */
static const char *parse_digits(const char *text, int64_t *out) {
    int64_t n = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10) return NULL;
        n = n * 10 + d;
    }
    if (p == text) return NULL;
    *out = n;
    return p;
}

int cli_parse_epoch(const char *text, int64_t *out) {
    int64_t n;
    const char *end = parse_digits(text, &n);
    if (!end || *end != '\0') return -1;
    *out = n;
    return 0;
}

int cli_parse_seconds(const char *text, int64_t *out) {
    int64_t n, unit;
    const char *end = parse_digits(text, &n);
    if (!end) return -1;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
        unit = 1;
    else if (strcmp(end, "m") == 0)
        unit = 60;
    else if (strcmp(end, "h") == 0)
        unit = 3600;
    else
        return -1;
    if (n > INT64_MAX / unit) return -1;
    *out = n * unit;
    return 0;
}

/* ------------------------------------------------------------------------
 * Keys
 * ------------------------------------------------------------------------ */

/* Passphrase callback that always refuses: an encrypted key must fail with a
 * message, not stop a script at a terminal prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) { return 0; }

/* Wipes and frees len bytes at p (a key file's text). NULL is accepted. */
static void free_secret(char *p, size_t len) {
    if (!p) return;
    OPENSSL_cleanse(p, len);
    free(p);
}

/* Reads the whole file into a new NUL-terminated buffer. Returns 0, or -1
 * after printing why (prefixed with cmd). */
static int read_file(const char *cmd, const char *path, char **out, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("%s: %s: %s", cmd, path, strerror(errno));
        return -1;
    }
    /* One byte more than allowed, to tell "exactly at the limit" from "over". */
    char *buf = malloc(CLI_MAX_PEM_BYTES + 1);
    size_t n = buf ? fread(buf, 1, CLI_MAX_PEM_BYTES + 1, f) : 0;
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    const char *why = !buf                    ? "out of memory"
                      : read_errno            ? strerror(read_errno)
                      : n > CLI_MAX_PEM_BYTES ? "too large for a PEM key file"
                                              : NULL;
    if (why) {
        cli_error("%s: %s: %s", cmd, path, why);
        free_secret(buf, n);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

/* Tries, in order, a private key, a public key and a certificate in pem.
 * Each PEM_read_* skips PEM blocks of other types (e.g. the "EC PARAMETERS"
 * block that "openssl ecparam -genkey" writes first). */
static EVP_PKEY *parse_pem(const char *pem, size_t len, int want_private) {
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return NULL;
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (!pkey && !want_private && BIO_reset(bio) == 1)
        pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    if (!pkey && !want_private && BIO_reset(bio) == 1) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        if (cert) pkey = X509_get_pubkey(cert);
        X509_free(cert);
    }
    BIO_free(bio);
    /* The failed attempts leave errors queued; they must not surface later
     * in an unrelated OpenSSL call's error report. */
    ERR_clear_error();
    return pkey;
}

EVP_PKEY *cli_load_pem_key(const char *cmd, const char *path, int want_private) {
    char *pem;
    size_t len;
    if (read_file(cmd, path, &pem, &len) != 0) return NULL;
    EVP_PKEY *pkey = parse_pem(pem, len, want_private);
    if (!pkey)
        cli_error("%s: %s: no %s in the file (PEM expected; encrypted keys are not "
                  "supported)",
                  cmd, path,
                  want_private ? "unencrypted private key" : "key or certificate");
    free_secret(pem, len);
    return pkey;
}

/* The curves that JWS ES algorithms are defined for (RFC 7518 §3.4). OpenSSL
 * reports P-256 as "prime256v1"; the NIST name is accepted too. */
static const struct {
    const char *group, *nist, *crv, *alg;
    size_t coord_len;
} ec_curves[] = {
    {"prime256v1", "P-256", "P-256", "ES256", 32},
    {"secp384r1", "P-384", "P-384", "ES384", 48},
    {"secp521r1", "P-521", "P-521", "ES512", 66},
};

const char *cli_ec_alg(const EVP_PKEY *pkey, const char **crv, size_t *coord_len) {
    char group[64];
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                       sizeof group, NULL) != 1) {
        ERR_clear_error();
        return NULL;
    }
    for (size_t i = 0; i < sizeof ec_curves / sizeof ec_curves[0]; i++) {
        if (strcmp(group, ec_curves[i].group) != 0 &&
            strcmp(group, ec_curves[i].nist) != 0)
            continue;
        if (crv) *crv = ec_curves[i].crv;
        if (coord_len) *coord_len = ec_curves[i].coord_len;
        return ec_curves[i].alg;
    }
    return NULL;
}
