/* sigv4.c - AWS Signature Version 4: the check of a signed request.
 *
 * The API server takes no request it cannot tie to an account: every
 * request carries a SigV4 signature made with the secret of an access key
 * the credentials file lists, either in an Authorization header
 *
 *   AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/ec2/aws4_request,
 *       SignedHeaders=content-type;host;x-amz-date, Signature=<64 hex>
 *
 * beside X-Amz-Date, or in the query of a presigned URL (X-Amz-Algorithm,
 * X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders,
 * X-Amz-Signature).  Parsing (bsf_sigv4_parse()) reads only what the client
 * sent and is fuzzed; the check (bsf_sigv4_check()) rebuilds the canonical
 * request from what the server received, derives the signing key from the
 * secret by AWS's chain of HMAC-SHA256 (date, region, service,
 * "aws4_request"), and compares the signatures in constant time
 * (CRYPTO_memcmp).  No secret, key or signature is ever put in a message.
 *
 * What is canonical here is AWS's rule: the method; the path with every
 * byte but A-Za-z0-9-_.~ and '/' percent-encoded; the query's pairs encoded
 * the same way (and '/' too), sorted; each signed header in lower case
 * with its value trimmed and inner runs of blanks made one, several of one
 * name joined by ','; the signed headers' names; the payload's SHA-256 in
 * hex (or what X-Amz-Content-SHA256 says: UNSIGNED-PAYLOAD).  The server
 * hands over the query and path already percent-decoded (libmicrohttpd
 * decodes them), so encoding them again gives AWS's form whatever escapes
 * the client chose.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "front.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

static const char *header_get(const bsf_sigv4_request *rq, const char *name)
{
    for (size_t i = 0; i < rq->nheaders; i++)
        if (strcasecmp(rq->headers[i].name, name) == 0)
            return rq->headers[i].value;
    return NULL;
}

static const char *query_get(const bsf_sigv4_request *rq, const char *name)
{
    for (size_t i = 0; i < rq->nquery; i++)
        if (strcmp(rq->query[i].name, name) == 0)
            return rq->query[i].value;
    return NULL;
}

/* Copy [s, s+n) into @dst of @size bytes; false when it does not fit or
 * is empty. */
static bool take(char *dst, size_t size, const char *s, size_t n)
{
    if (n == 0 || n >= size)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

static bool all_of(const char *s, const char *set)
{
    return s[0] && strspn(s, set) == strlen(s);
}

#define DIGITS "0123456789"
#define LOWER_HEX "0123456789abcdef"

/* "AKID/YYYYMMDD/REGION/SERVICE/aws4_request" into @a. */
static int parse_credential(const char *cred, size_t n, bsf_sigv4_auth *a)
{
    const char *end = cred + n, *p = cred, *slash;
    char *fields[4] = {a->access_key, a->date, a->region, a->service};
    size_t sizes[4] = {sizeof a->access_key, sizeof a->date, sizeof a->region, sizeof a->service};

    for (int i = 0; i < 4; i++) {
        if (!(slash = memchr(p, '/', (size_t)(end - p))) ||
            !take(fields[i], sizes[i], p, (size_t)(slash - p)))
            return front_fail(-EACCES, "IncompleteSignature",
                              "the credential '%.*s' is not ACCESS_KEY/DATE/REGION/SERVICE/"
                              "aws4_request",
                              (int)MIN(n, 200), cred);
        p = slash + 1;
    }
    if ((size_t)(end - p) != strlen("aws4_request") || memcmp(p, "aws4_request", 12) != 0 ||
        strlen(a->date) != 8 || !all_of(a->date, DIGITS) ||
        !all_of(a->region, "abcdefghijklmnopqrstuvwxyz0123456789-") ||
        !all_of(a->service, "abcdefghijklmnopqrstuvwxyz0123456789-") ||
        !all_of(a->access_key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
        return front_fail(-EACCES, "IncompleteSignature",
                          "the credential '%.*s' is not ACCESS_KEY/DATE/REGION/SERVICE/"
                          "aws4_request",
                          (int)MIN(n, 200), cred);
    return 0;
}

/* SignedHeaders: lower-case names joined by ';', sorted, without repeats,
 * host among them (AWS signs it always). */
static int check_signed_headers(const char *s)
{
    const char *prev = NULL;
    size_t prevlen = 0;
    bool host = false;

    if (!s[0] || !all_of(s, "abcdefghijklmnopqrstuvwxyz0123456789-_;"))
        return front_fail(-EACCES, "IncompleteSignature",
                          "SignedHeaders is not a list of lower-case header names");
    for (const char *p = s;;) {
        size_t len = strcspn(p, ";");
        int c = prev ? memcmp(prev, p, MIN(len, prevlen)) : -1;

        if (len == 0 || c > 0 || (c == 0 && prevlen >= len))
            return front_fail(-EACCES, "IncompleteSignature",
                              "SignedHeaders is not a sorted list of header names");
        host = host || (len == 4 && memcmp(p, "host", 4) == 0);
        prev = p;
        prevlen = len;
        p += len;
        if (!*p)
            break;
        p++;
    }
    if (!host)
        return front_fail(-EACCES, "IncompleteSignature", "SignedHeaders must include host");
    return 0;
}

static bool amz_date_valid(const char *d)
{
    return strlen(d) == 16 && strspn(d, DIGITS) == 8 && d[8] == 'T' && strspn(d + 9, DIGITS) == 6 &&
           d[15] == 'Z';
}

int bsf_sigv4_parse(const bsf_sigv4_request *rq, bsf_sigv4_auth *ret)
{
    const char *auth = header_get(rq, "authorization"), *date;
    bsf_sigv4_auth a = {0};
    int r;

    front_error_clear();
    if (auth) {
        const char *p = auth;
        bool got_cred = false, got_sh = false, got_sig = false;

        if (strncmp(p, ALGORITHM, strlen(ALGORITHM)) != 0 || p[strlen(ALGORITHM)] != ' ')
            return front_fail(-EACCES, "IncompleteSignature",
                              "the Authorization header is not " ALGORITHM
                              " Credential=…, SignedHeaders=…, Signature=…");
        p += strlen(ALGORITHM);
        while (*p) {
            p += strspn(p, " ,");
            if (!*p)
                break;
            size_t len = strcspn(p, ",");
            const char *eq = memchr(p, '=', len);
            if (!eq)
                return front_fail(-EACCES, "IncompleteSignature",
                                  "the Authorization header has a part without '='");
            size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
            const char *v = eq + 1;
            while (vlen && v[vlen - 1] == ' ')
                vlen--;
            if (klen == 10 && memcmp(p, "Credential", 10) == 0 && !got_cred) {
                if ((r = parse_credential(v, vlen, &a)) < 0)
                    return r;
                got_cred = true;
            } else if (klen == 13 && memcmp(p, "SignedHeaders", 13) == 0 && !got_sh) {
                if (!take(a.signed_headers, sizeof a.signed_headers, v, vlen))
                    return front_fail(-EACCES, "IncompleteSignature",
                                      "SignedHeaders is empty or too long");
                got_sh = true;
            } else if (klen == 9 && memcmp(p, "Signature", 9) == 0 && !got_sig) {
                if (!take(a.signature, sizeof a.signature, v, vlen))
                    return front_fail(-EACCES, "IncompleteSignature",
                                      "the Signature is not 64 hexadecimal digits");
                got_sig = true;
            } else {
                return front_fail(-EACCES, "IncompleteSignature",
                                  "the Authorization header has an unknown or repeated part "
                                  "'%.*s'",
                                  (int)MIN(klen, 64), p);
            }
            p += len;
        }
        if (!got_cred || !got_sh || !got_sig)
            return front_fail(-EACCES, "IncompleteSignature", "the Authorization header lacks %s",
                              !got_cred ? "Credential"
                              : !got_sh ? "SignedHeaders"
                                        : "Signature");
        if (!(date = header_get(rq, "x-amz-date")))
            return front_fail(-EACCES, "IncompleteSignature",
                              "the request has no X-Amz-Date header");
    } else if (query_get(rq, "X-Amz-Algorithm")) {
        const char *cred = query_get(rq, "X-Amz-Credential"),
                   *sh = query_get(rq, "X-Amz-SignedHeaders"),
                   *sig = query_get(rq, "X-Amz-Signature"), *exp = query_get(rq, "X-Amz-Expires");
        char *end;

        if (strcmp(query_get(rq, "X-Amz-Algorithm"), ALGORITHM) != 0)
            return front_fail(-EACCES, "IncompleteSignature", "X-Amz-Algorithm is not " ALGORITHM);
        if (!cred || !sh || !sig || !exp || !(date = query_get(rq, "X-Amz-Date")))
            return front_fail(-EACCES, "IncompleteSignature",
                              "a presigned request needs X-Amz-Credential, X-Amz-Date, "
                              "X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature");
        if ((r = parse_credential(cred, strlen(cred), &a)) < 0)
            return r;
        if (!take(a.signed_headers, sizeof a.signed_headers, sh, strlen(sh)))
            return front_fail(-EACCES, "IncompleteSignature",
                              "X-Amz-SignedHeaders is empty or too long");
        if (!take(a.signature, sizeof a.signature, sig, strlen(sig)))
            return front_fail(-EACCES, "IncompleteSignature",
                              "the X-Amz-Signature is not 64 hexadecimal digits");
        errno = 0;
        a.expires = strtol(exp, &end, 10);
        if (!isdigit((unsigned char)exp[0]) || *end || errno || a.expires < 1 || a.expires > 604800)
            return front_fail(-EACCES, "IncompleteSignature",
                              "X-Amz-Expires is not a number of seconds from 1 to 604800");
        a.presigned = true;
    } else {
        return front_fail(-EACCES, "MissingAuthenticationToken",
                          "the request is not signed: it has neither an Authorization header "
                          "nor a presigned query (X-Amz-Signature)");
    }
    if (strlen(a.signature) != 64 || !all_of(a.signature, LOWER_HEX))
        return front_fail(-EACCES, "IncompleteSignature",
                          "the Signature is not 64 lower-case hexadecimal digits");
    if ((r = check_signed_headers(a.signed_headers)) < 0)
        return r;
    if (!amz_date_valid(date))
        return front_fail(-EACCES, "IncompleteSignature",
                          "X-Amz-Date '%.*s' is not YYYYMMDDTHHMMSSZ", SHOWN(date));
    if (memcmp(date, a.date, 8) != 0)
        return front_fail(-EACCES, "SignatureDoesNotMatch",
                          "the credential's date %s is not the day of X-Amz-Date %s", a.date, date);
    memcpy(a.amz_date, date, 16);
    a.amz_date[16] = '\0';
    *ret = a;
    return 0;
}

/* ---- the canonical request ---------------------------------------------- */

static void put_encoded(struct render_buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keep_slash && c == '/')) {
            render_buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            render_buf_add(b, e, 3);
        }
    }
}

struct qpair {
    char *k, *v;
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static char *encoded(const char *s)
{
    struct render_buf b = {0};
    char *t = NULL;

    put_encoded(&b, s, false);
    return render_buf_finish(&b, &t) < 0 ? NULL : t;
}

static void put_query(struct render_buf *b, const bsf_sigv4_request *rq, bool presigned)
{
    struct qpair *v = calloc(rq->nquery ? rq->nquery : 1, sizeof *v);
    size_t n = 0;

    if (!v) {
        b->err = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < rq->nquery; i++) {
        if (presigned && strcmp(rq->query[i].name, "X-Amz-Signature") == 0)
            continue;
        v[n].k = encoded(rq->query[i].name);
        v[n].v = encoded(rq->query[i].value ? rq->query[i].value : "");
        if (!v[n].k || !v[n].v)
            b->err = -ENOMEM;
        n++;
    }
    if (!b->err) {
        qsort(v, n, sizeof *v, qpair_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i)
                render_buf_puts(b, "&");
            render_buf_puts(b, v[i].k);
            render_buf_puts(b, "=");
            render_buf_puts(b, v[i].v);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i].k);
        free(v[i].v);
    }
    free(v);
}

/* A header's value as AWS signs it: blanks at both ends dropped, each run
 * of blanks inside made one space. */
static void put_trimmed(struct render_buf *b, const char *s)
{
    bool blank = false, any = false;

    for (; *s; s++) {
        if (*s == ' ' || *s == '\t') {
            blank = true;
            continue;
        }
        if (blank && any)
            render_buf_add(b, " ", 1);
        render_buf_add(b, s, 1);
        blank = false;
        any = true;
    }
}

/* "name:v1,v2\n" for each signed header; -EACCES when one is absent. */
static int put_headers(struct render_buf *b, const bsf_sigv4_request *rq, const char *signed_h)
{
    for (const char *p = signed_h; *p;) {
        size_t len = strcspn(p, ";");
        bool found = false;

        render_buf_add(b, p, len);
        render_buf_puts(b, ":");
        for (size_t i = 0; i < rq->nheaders; i++) {
            if (strlen(rq->headers[i].name) != len || strncasecmp(rq->headers[i].name, p, len))
                continue;
            if (found)
                render_buf_puts(b, ",");
            put_trimmed(b, rq->headers[i].value);
            found = true;
        }
        if (!found)
            return front_fail(-EACCES, "IncompleteSignature",
                              "the signed header '%.*s' is not in the request", (int)MIN(len, 64),
                              p);
        render_buf_puts(b, "\n");
        p += len;
        p += *p == ';';
    }
    return 0;
}

static void hex_of(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];

    SHA256(data, len, d);
    hex_of(d, sizeof d, out);
}

static bool hmac(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) && n == 32;
}

int bsf_sigv4_sign(const bsf_sigv4_request *rq, const bsf_sigv4_auth *a, const char *secret,
                   const char *payload_hash, char ret_signature[65])
{
    struct render_buf b = {0};
    char *creq = NULL, body_hash[65], creq_hash[65], sts[256];
    unsigned char k[32], sig[32];
    size_t slen = strlen(secret);
    char *kdate;
    int r, n;

    front_error_clear();
    render_buf_puts(&b, rq->method);
    render_buf_puts(&b, "\n");
    put_encoded(&b, rq->path && rq->path[0] ? rq->path : "/", true);
    render_buf_puts(&b, "\n");
    put_query(&b, rq, a->presigned);
    render_buf_puts(&b, "\n");
    if ((r = put_headers(&b, rq, a->signed_headers)) < 0) {
        free(b.s);
        return r;
    }
    render_buf_puts(&b, "\n");
    render_buf_puts(&b, a->signed_headers);
    render_buf_puts(&b, "\n");
    if (!payload_hash) {
        sha256_hex(rq->body ? rq->body : "", rq->body_len, body_hash);
        payload_hash = body_hash;
    }
    render_buf_puts(&b, payload_hash);
    if (render_buf_finish(&b, &creq) < 0)
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    sha256_hex(creq, strlen(creq), creq_hash);
    free(creq);
    n = snprintf(sts, sizeof sts, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", a->amz_date, a->date,
                 a->region, a->service, creq_hash);
    if (n < 0 || (size_t)n >= sizeof sts)
        return front_fail(-EACCES, "IncompleteSignature", "the credential scope is too long");
    if (!(kdate = malloc(slen + 5)))
        return front_fail(-ENOMEM, "InternalError", "out of memory");
    memcpy(kdate, "AWS4", 4);
    memcpy(kdate + 4, secret, slen + 1);
    bool ok = hmac(kdate, slen + 4, a->date, strlen(a->date), k) &&
              hmac(k, 32, a->region, strlen(a->region), k) &&
              hmac(k, 32, a->service, strlen(a->service), k) &&
              hmac(k, 32, "aws4_request", 12, k) && hmac(k, 32, sts, (size_t)n, sig);
    OPENSSL_cleanse(kdate, slen + 4);
    free(kdate);
    OPENSSL_cleanse(k, sizeof k);
    if (!ok)
        return front_fail(-EIO, "InternalError", "HMAC-SHA256 failed");
    hex_of(sig, sizeof sig, ret_signature);
    return 0;
}

/* "YYYYMMDDTHHMMSSZ" as Unix seconds (valid by amz_date_valid()). */
static int64_t amz_time(const char *d)
{
    struct tm tm = {0};
    int v[6];

    if (sscanf(d, "%4d%2d%2dT%2d%2d%2dZ", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return INT64_MIN;
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return INT64_MIN;
    return (int64_t)timegm(&tm);
}

int bsf_sigv4_check(const bsf_sigv4_request *rq, const bsf_sigv4_auth *a, const char *secret,
                    int64_t now_s)
{
    const char *content = header_get(rq, "x-amz-content-sha256");
    int64_t t = amz_time(a->amz_date);
    char sig[65];
    int r;

    front_error_clear();
    if (t == INT64_MIN)
        return front_fail(-EACCES, "IncompleteSignature", "X-Amz-Date '%s' is not a valid time",
                          a->amz_date);
    if (a->presigned) {
        if (now_s < t - BSF_SIGV4_SKEW_S || now_s > t + a->expires)
            return front_fail(-EACCES, "RequestExpired",
                              "the presigned request was signed at %s for %lld s: it has "
                              "expired or is not valid yet",
                              a->amz_date, (long long)a->expires);
    } else if (now_s < t - BSF_SIGV4_SKEW_S || now_s > t + BSF_SIGV4_SKEW_S) {
        return front_fail(-EACCES, "RequestExpired",
                          "the request was signed at %s, more than %d minutes from the "
                          "server's clock",
                          a->amz_date, BSF_SIGV4_SKEW_S / 60);
    }
    if (content && strcmp(content, "UNSIGNED-PAYLOAD") != 0 &&
        (strlen(content) != 64 || !all_of(content, LOWER_HEX)))
        return front_fail(-EACCES, "IncompleteSignature",
                          "X-Amz-Content-SHA256 is neither UNSIGNED-PAYLOAD nor a SHA-256 in hex");
    /* A payload hash the client states is signed, and it must be the
     * body's: the body cannot be swapped under a signature. */
    if (content && strcmp(content, "UNSIGNED-PAYLOAD") != 0) {
        char body_hash[65];
        sha256_hex(rq->body ? rq->body : "", rq->body_len, body_hash);
        if (strcmp(body_hash, content) != 0)
            return front_fail(-EACCES, "SignatureDoesNotMatch",
                              "X-Amz-Content-SHA256 is not the SHA-256 of the body");
    }
    if ((r = bsf_sigv4_sign(rq, a, secret, content, sig)) < 0)
        return r;
    /* A presigned URL signs the payload's hash or, as S3's do,
     * UNSIGNED-PAYLOAD: either is the client's to choose. */
    if (!content && a->presigned && CRYPTO_memcmp(sig, a->signature, 64) != 0 &&
        (r = bsf_sigv4_sign(rq, a, secret, "UNSIGNED-PAYLOAD", sig)) < 0)
        return r;
    if (CRYPTO_memcmp(sig, a->signature, 64) != 0)
        return front_fail(-EACCES, "SignatureDoesNotMatch",
                          "the request signature we calculated does not match the signature "
                          "you provided: check your secret access key and signing method");
    return 0;
}
