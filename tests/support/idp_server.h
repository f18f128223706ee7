/* A small JWKS server for the tests: evhttp on its own event loop in a
 * thread of the test process, on a free 127.0.0.1 port, optionally over TLS.
 * The test changes what it serves and how (a document, another status,
 * never answering, dribbling) at any time and reads how many requests it
 * has seen, per path. Every connection is closed by sd_test_idp_stop.
 *
 * Also: a throw-away PKI (a CA and a server certificate it signed) for the
 * TLS tests, made at run time with OpenSSL. */
#ifndef SD_TEST_IDP_SERVER_H
#define SD_TEST_IDP_SERVER_H

#include <stddef.h>

typedef enum sd_test_idp_mode {
    SD_TEST_IDP_SERVE,   /* 200 with the document */
    SD_TEST_IDP_STATUS,  /* the given status with a short text body */
    SD_TEST_IDP_HANG,    /* connects (kernel backlog), never reads or answers */
    SD_TEST_IDP_SLOW,    /* 200 chunked, one byte every 100 ms, never ends */
} sd_test_idp_mode;

typedef struct sd_test_idp sd_test_idp;

/* Starts a server. cert_pem and key_pem (both or neither) make it TLS.
 * Serves "{\"keys\":[]}" until told otherwise. NULL on failure. */
sd_test_idp *sd_test_idp_start(const char *cert_pem, const char *key_pem);

/* Stops the thread, closes every connection, frees everything. */
void sd_test_idp_stop(sd_test_idp *s);

int sd_test_idp_port(const sd_test_idp *s);

/* What to answer from now on. body (copied; NULL = keep the current one) is
 * the document for SERVE; status is used by STATUS. */
void sd_test_idp_set(sd_test_idp *s, sd_test_idp_mode mode, int status,
                      const char *body);

/* Requests received so far: all of them, or those whose path (without the
 * query) is path. */
unsigned sd_test_idp_hits(sd_test_idp *s);
unsigned sd_test_idp_hits_for(sd_test_idp *s, const char *path);

/* Waits up to timeout_ms for hits() to reach n; returns the count seen. */
unsigned sd_test_idp_wait_hits(sd_test_idp *s, unsigned n, int timeout_ms);

/* A CA and a server certificate for subject_alt_name (OpenSSL syntax, e.g.
 * "DNS:localhost,IP:127.0.0.1"), all PEM text the caller frees with
 * sd_test_pki_free. Returns 0 or -1. */
typedef struct sd_test_pki {
    char *ca_pem;
    char *cert_pem;
    char *key_pem;
} sd_test_pki;

int sd_test_pki_make(sd_test_pki *p, const char *subject_alt_name);
void sd_test_pki_free(sd_test_pki *p);

#endif
