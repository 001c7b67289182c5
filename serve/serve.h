/* serve.h - what the API server's files share.
 *
 * The server (server.c) owns the HTTP side: libmicrohttpd's daemon and its
 * thread pool for the connections' I/O, the limits, a request id per
 * request, and a pool of workers of its own for the engine calls (a
 * connection waits suspended while its request runs, so a long call holds
 * a worker, never an I/O thread).  It authenticates every request
 * (SigV4, front/sigv4.c) before a route sees it, and hands the route a
 * view of the region's store acting as the signing account.
 *
 * Route families.  A family is a table of `struct serve_route` (method,
 * path or path prefix, the SigV4 service its requests are signed for, a
 * handler and the family's error form), ended by an entry whose method is
 * NULL, and named in route_families[] in server.c.  EC2's query protocol
 * is ec2.c's family (POST / and GET /, service "ec2", XML answers and
 * errors).  The EBS direct API goes in serve/ebs.c as its own family
 * (paths under /snapshots, service "ebs", JSON answers and errors): write
 * `const struct serve_route ebs_routes[]` there, declare it below and add
 * it to route_families[].
 */
#ifndef BSNAP_SERVE_PRIVATE_H
#define BSNAP_SERVE_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocksnap-serve.h"
#include "blocksnap.h"
#include "bsfront.h"

/* One served region: its store, and the lock that keeps other requests
 * out while a DryRun request holds the store in a dry run (a dry run is
 * the store's metadata's, not a view's: bsnap_store_view()). */
struct serve_region {
    char name[65];
    bsnap_store *store;
    pthread_rwlock_t mode;
};

struct serve;

/* A request as it arrived.  Strings are borrowed from libmicrohttpd's
 * connection (valid until the request completes). */
struct serve_request {
    struct serve *srv;
    char id[40];
    const char *method;
    const char *path; /* decoded */
    const bsf_http_pair *query;
    size_t nquery;
    const bsf_http_pair *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
};

/* What a route answers: @status, @content_type, @body (malloc'd, handed
 * over) and up to four extra headers (static or malloc'd in @held). */
struct serve_response {
    int status;
    const char *content_type;
    char *body;
    size_t len;
    bsf_http_pair headers[4];
    size_t nheaders;
    /* for the request log: the operation and the error code, if any */
    char operation[64];
    char code[64];
};

/* An authenticated request, for a route's handler. */
struct serve_call {
    const struct serve_request *rq;
    struct serve_region *region;
    const char *account;        /* the signer's blocksnap_account_id */
    bsnap_store *store;         /* the region's store acting as @account */
    const volatile int *cancel; /* set when the server stops: end long calls */
    /* the store of another served region acting as @account (a copy's
     * source): 0 and a view to close, or < 0 */
    int (*region_store)(const struct serve_call *c, const char *region, bsnap_store **ret);
    /* run @fn(@arg) in a thread of the server's that holds the region's
     * lock as a request does, and that a stop cancels (@cancel) and waits
     * for: 0, or < 0 when the server is stopping */
    int (*background)(const struct serve_call *c, void (*fn)(void *arg), void *arg);
};

struct serve_route {
    const char *method; /* "POST"; NULL ends a table */
    const char *path;   /* "/" exactly, or a prefix when @prefix */
    bool prefix;
    const char *service; /* what its requests' SigV4 scope names */
    void (*handle)(struct serve_call *c, struct serve_response *out);
    /* the family's error answer (before or after authentication) */
    void (*error)(const struct serve_request *rq, const char *code, const char *message,
                  struct serve_response *out);
};

/* EC2's query protocol (ec2.c). */
extern const struct serve_route ec2_routes[];
/* EC2's XML error answer with bsf_ec2_status()'s status: the error form of
 * the EC2 family, and the server's own for what no route takes. */
void ec2_error(const struct serve_request *rq, const char *code, const char *message,
               struct serve_response *out);

/* The EBS direct API (ebs.c): paths under /snapshots, service "ebs". */
extern const struct serve_route ebs_routes[];

/* Log a line on stderr (serialized; never a secret). */
void serve_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
