/* blocksnap-serve.h - the API server, as the CLI's `serve` verb runs it.
 *
 * bsnap_serve_run() serves stores over HTTP (or HTTPS) until SIGTERM or
 * SIGINT: EC2's query protocol (docs/api.md says what is served), every
 * request signed with AWS Signature Version 4 by an access key of the
 * credentials file, whose blocksnap_account_id is the account it acts as,
 * against the store of the region its credential scope names.
 *
 * Errors are returned, never printed: the call fills a bsnap_serve_error
 * for the front end to print.  While serving, it logs one line per
 * request and its problems on stderr (never a secret).
 */
#ifndef BLOCKSNAP_SERVE_H
#define BLOCKSNAP_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** What went wrong, for the front end to print as "MESSAGE (CODE)". */
typedef struct bsnap_serve_error {
    int err;           /**< negative errno */
    char code[64];     /**< EC2-style code */
    char message[768]; /**< lower case, names the object */
} bsnap_serve_error;

/** Defaults of the limits below. */
#define BSNAP_SERVE_THREADS 16
#define BSNAP_SERVE_MAX_BODY (1u << 20)
#define BSNAP_SERVE_MAX_CONNECTIONS 256
#define BSNAP_SERVE_MAX_PER_IP 64
#define BSNAP_SERVE_TIMEOUT_S 30
#define BSNAP_SERVE_GRACE_S 10

/** How to serve.  Zero-initialise, then set listen, store_paths and
 * credentials_path; 0 takes each limit's default. */
typedef struct bsnap_serve_options {
    /** "ADDR:PORT" ("127.0.0.1:8787", "[::1]:8787", "0.0.0.0:443"); port
     * 0 takes a free one.  The address the server listens on is printed on
     * stdout as "listening on http://ADDR:PORT" once it accepts requests. */
    const char *listen;
    const char *tls_cert; /**< optional: PEM certificate (chain); with tls_key: HTTPS */
    const char *tls_key;  /**< optional: its PEM private key */
    /** The stores served (each must exist), each under the region name
     * its config holds (two of one region are refused). */
    const char *const *store_paths;
    size_t nstores;
    /** the credentials file: [PROFILE] aws_access_key_id,
     * aws_secret_access_key, blocksnap_account_id of each account */
    const char *credentials_path;
    unsigned threads;         /**< worker threads (requests served at once) */
    size_t max_body;          /**< largest request body, bytes (larger: 413) */
    unsigned max_connections; /**< connections at once (more wait in the backlog) */
    unsigned max_per_ip;      /**< connections at once from one address */
    unsigned timeout_s;       /**< a request's whole time to arrive; idle connections too */
    unsigned grace_s;         /**< at SIGTERM: how long requests in flight may finish */
    bool quiet;               /**< no line per request */
} bsnap_serve_options;

/** Serve until SIGTERM, SIGINT or SIGHUP.
 *
 * Everything that can be checked is checked before the first request: the
 * address parses and binds, the certificate and key load, the credentials
 * file reads, every store opens and no two share a region.  Then the
 * signals above are blocked in every thread (the call waits for them in
 * the calling thread) and requests are served by a pool of @threads.  At
 * a signal the server stops accepting connections, lets requests in
 * flight run for @grace_s seconds, then cancels the long ones (a copy
 * stops where it is, resumable by the same call), answers them
 * ServiceUnavailable, closes the stores and returns 0.
 *
 * @opts in.  @ret_err out: filled when the call fails.
 * Returns 0, or a negative errno (nothing served).  Call from the main
 * thread, once. */
int bsnap_serve_run(const bsnap_serve_options *opts, bsnap_serve_error *ret_err);

#endif
