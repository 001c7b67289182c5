/* fuzz-sigv4.c - libFuzzer harness for what the API server parses from the
 * network before it trusts anything: the form body or query string
 * (bsf_form_parse()), the EC2 request made of it (bsf_ec2_request_new(),
 * bsf_ec2_check()), and the SigV4 signature of the request
 * (bsf_sigv4_parse(), bsf_sigv4_check()).
 *
 * The input is a form body, then after the first newline an Authorization
 * header value, then after the next an X-Amz-Date value.  Checks: every
 * call returns; a failure is -EINVAL, -E2BIG or -EACCES with a code set;
 * parsed pairs hold no NUL and are at most BSF_EC2_PARAMS_MAX; a parsed
 * signature's fields are NUL-terminated within their arrays and its
 * signature is 64 lower-case hex digits; the check of a parsed signature
 * with any secret never succeeds unless the signature is the one
 * bsf_sigv4_sign() computes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_code(int r)
{
    if (r != -EINVAL && r != -E2BIG && r != -EACCES && r != -ENOMEM)
        abort();
    if (!bsf_last_error()->code[0])
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *auth = NULL, *date = NULL, *nl;
    bsf_http_pair *pairs = NULL;
    size_t n = 0, body_len = size;
    int r;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    if ((nl = memchr(buf, '\n', size))) {
        body_len = (size_t)(nl - buf);
        auth = nl + 1;
        if ((nl = strchr(auth, '\n'))) {
            *nl = '\0';
            date = nl + 1;
            if ((nl = strchr(date, '\n')))
                *nl = '\0';
        }
    }
    r = bsf_form_parse(buf, body_len, &pairs, &n);
    if (r < 0) {
        check_code(r);
    } else {
        bsf_ec2_request *q = NULL;
        bool dry;
        if (n > BSF_EC2_PARAMS_MAX)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!pairs[i].name || !pairs[i].value)
                abort();
        r = bsf_ec2_request_new(pairs, n, &q);
        if (r < 0)
            check_code(r);
        else if ((r = bsf_ec2_check(q, &dry)) < 0)
            check_code(r);
        bsf_ec2_request_free(q);
    }
    if (auth) {
        bsf_http_pair h[3] = {{"Host", "example.com"},
                              {"X-Amz-Date", date ? date : "20150830T123600Z"},
                              {"Authorization", auth}};
        bsf_sigv4_request rq = {.method = "POST",
                                .path = "/",
                                .query = pairs,
                                .nquery = r < 0 ? 0 : n,
                                .headers = h,
                                .nheaders = 3,
                                .body = buf,
                                .body_len = body_len};
        bsf_sigv4_auth a;
        char sig[65];

        r = bsf_sigv4_parse(&rq, &a);
        if (r < 0) {
            check_code(r);
        } else {
            if (strlen(a.signature) != 64 || strspn(a.signature, "0123456789abcdef") != 64 ||
                memchr(a.access_key, 0, sizeof a.access_key) == NULL ||
                memchr(a.region, 0, sizeof a.region) == NULL ||
                memchr(a.signed_headers, 0, sizeof a.signed_headers) == NULL)
                abort();
            r = bsf_sigv4_check(&rq, &a, "secret", 1440938160);
            if (r == 0 &&
                (bsf_sigv4_sign(&rq, &a, "secret", NULL, sig) < 0 || strcmp(sig, a.signature) != 0))
                abort();
            if (r < 0)
                check_code(r);
        }
    }
    bsf_form_free(pairs, n);
    free(buf);
    return 0;
}
