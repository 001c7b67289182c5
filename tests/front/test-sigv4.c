/* test-sigv4.c - bsf_sigv4_parse(), bsf_sigv4_check() and bsf_sigv4_sign()
 * against AWS's published Signature Version 4 test vectors (the
 * aws-sig-v4-test-suite: AKIDEXAMPLE, 20150830T123600Z, us-east-1,
 * service "service"), and the refusals: a wrong secret, a changed body or
 * header, a stale date, malformed and missing signatures. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blocksnap.h"
#include "bsfront.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SCOPE "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
/* 2015-08-30T12:36:00Z */
#define NOW 1440938160

static bsf_sigv4_request request(const char *method, const bsf_http_pair *h, size_t nh,
                                 const bsf_http_pair *q, size_t nq, const char *body)
{
    bsf_sigv4_request rq = {.method = method,
                            .path = "/",
                            .headers = h,
                            .nheaders = nh,
                            .query = q,
                            .nquery = nq,
                            .body = body,
                            .body_len = body ? strlen(body) : 0};
    return rq;
}

static void assert_failure(int r, const char *code)
{
    assert_int_equal(r, -EACCES);
    assert_string_equal(bsf_last_error()->code, code);
    /* a message never holds the secret */
    assert_null(strstr(bsf_last_error()->message, SECRET));
}

/* get-vanilla: GET / with host and x-amz-date signed. */
static void test_get_vanilla(void **state)
{
    bsf_http_pair h[] = {
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", "20150830T123600Z"},
        {"Authorization",
         "AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    };
    bsf_sigv4_request rq = request("GET", h, 3, NULL, 0, NULL);
    bsf_sigv4_auth a;
    char sig[65];

    (void)state;
    assert_int_equal(bsf_sigv4_parse(&rq, &a), 0);
    assert_string_equal(a.access_key, "AKIDEXAMPLE");
    assert_string_equal(a.region, "us-east-1");
    assert_string_equal(a.service, "service");
    assert_string_equal(a.date, "20150830");
    assert_false(a.presigned);
    assert_int_equal(bsf_sigv4_sign(&rq, &a, SECRET, NULL, sig), 0);
    assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    assert_int_equal(bsf_sigv4_check(&rq, &a, SECRET, NOW), 0);
    assert_int_equal(bsf_sigv4_check(&rq, &a, SECRET, NOW + 299), 0);
    assert_int_equal(bsf_sigv4_check(&rq, &a, SECRET, NOW - 299), 0);
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW + 301), "RequestExpired");
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW - 301), "RequestExpired");
    assert_failure(bsf_sigv4_check(&rq, &a, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEX", NOW),
                   "SignatureDoesNotMatch");
    /* another host is another request */
    h[0].value = "example.amazonaws.net";
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "SignatureDoesNotMatch");
    /* the method and the path are signed */
    h[0].value = "example.amazonaws.com";
    rq.method = "POST";
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "SignatureDoesNotMatch");
    rq.method = "GET";
    rq.path = "/x";
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "SignatureDoesNotMatch");
}

/* post-x-www-form-urlencoded: the body's hash is signed. */
static void test_post_form(void **state)
{
    bsf_http_pair h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", "20150830T123600Z"},
        {"Authorization",
         "AWS4-HMAC-SHA256 Credential=" SCOPE ",SignedHeaders=content-type;host;x-amz-date,"
         "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    };
    bsf_sigv4_request rq = request("POST", h, 4, NULL, 0, "Param1=value1");
    bsf_sigv4_auth a;

    (void)state;
    assert_int_equal(bsf_sigv4_parse(&rq, &a), 0);
    assert_int_equal(bsf_sigv4_check(&rq, &a, SECRET, NOW), 0);
    rq.body = "Param1=value2";
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "SignatureDoesNotMatch");
    /* a header value's blanks do not count, its words do */
    rq.body = "Param1=value1";
    h[0].value = "  application/x-www-form-urlencoded  ";
    assert_int_equal(bsf_sigv4_check(&rq, &a, SECRET, NOW), 0);
    h[0].value = "application/json";
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "SignatureDoesNotMatch");
}

/* get-vanilla-query-order-key-case: the query is sorted and signed. */
static void test_query_order(void **state)
{
    bsf_http_pair h[] = {
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", "20150830T123600Z"},
        {"Authorization",
         "AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host;x-amz-date, "
         "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    };
    bsf_http_pair q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
    bsf_sigv4_request rq = request("GET", h, 3, q, 2, NULL);
    bsf_sigv4_auth a;

    (void)state;
    assert_int_equal(bsf_sigv4_parse(&rq, &a), 0);
    assert_int_equal(bsf_sigv4_check(&rq, &a, SECRET, NOW), 0);
    q[1].value = "value3";
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "SignatureDoesNotMatch");
}

/* A presigned query signs itself (but its X-Amz-Signature) and expires. */
static void test_presigned(void **state)
{
    bsf_http_pair h[] = {{"Host", "example.amazonaws.com"}};
    bsf_http_pair q[] = {
        {"Action", "DescribeSnapshots"},
        {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
        {"X-Amz-Credential", SCOPE},
        {"X-Amz-Date", "20150830T123600Z"},
        {"X-Amz-Expires", "60"},
        {"X-Amz-SignedHeaders", "host"},
        {"X-Amz-Signature", "0000000000000000000000000000000000000000000000000000000000000000"},
    };
    bsf_sigv4_request rq = request("GET", h, 1, q, 7, NULL);
    bsf_sigv4_auth a;
    char sig[65];

    (void)state;
    assert_int_equal(bsf_sigv4_parse(&rq, &a), 0);
    assert_true(a.presigned);
    assert_int_equal(a.expires, 60);
    assert_int_equal(bsf_sigv4_sign(&rq, &a, SECRET, "UNSIGNED-PAYLOAD", sig), 0);
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "SignatureDoesNotMatch");
    q[6].value = sig;
    assert_int_equal(bsf_sigv4_parse(&rq, &a), 0);
    assert_int_equal(bsf_sigv4_check(&rq, &a, SECRET, NOW + 60), 0);
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW + 61), "RequestExpired");
    q[0].value = "DeleteSnapshot";
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "SignatureDoesNotMatch");
}

/* X-Amz-Content-SHA256: UNSIGNED-PAYLOAD leaves the body out; a hash must
 * be the body's. */
static void test_content_sha256(void **state)
{
    bsf_http_pair h[] = {
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", "20150830T123600Z"},
        {"X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"},
        {"Authorization", NULL},
    };
    bsf_sigv4_request rq = request("PUT", h, 3, NULL, 0, "block");
    bsf_sigv4_auth a = {.date = "20150830",
                        .region = "us-east-1",
                        .service = "ebs",
                        .amz_date = "20150830T123600Z",
                        .signed_headers = "host;x-amz-content-sha256;x-amz-date"};
    char sig[65], auth[512];

    (void)state;
    assert_int_equal(bsf_sigv4_sign(&rq, &a, SECRET, "UNSIGNED-PAYLOAD", sig), 0);
    snprintf(auth, sizeof auth,
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ebs/aws4_request, "
             "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=%s",
             sig);
    h[3].value = auth;
    rq.nheaders = 4;
    assert_int_equal(bsf_sigv4_parse(&rq, &a), 0);
    assert_int_equal(bsf_sigv4_check(&rq, &a, SECRET, NOW), 0);
    rq.body = "other"; /* unsigned: a body of EBS direct is checked by its own checksum */
    assert_int_equal(bsf_sigv4_check(&rq, &a, SECRET, NOW), 0);
    h[2].value = "0000000000000000000000000000000000000000000000000000000000000000";
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "SignatureDoesNotMatch");
    h[2].value = "nope";
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "IncompleteSignature");
}

static void parse_fails(const char *auth, const char *date, const char *code)
{
    bsf_http_pair h[] = {{"Host", "h"}, {"X-Amz-Date", date}, {"Authorization", auth}};
    bsf_sigv4_request rq = request("GET", h, auth ? 3 : 2, NULL, 0, NULL);
    bsf_sigv4_auth a;

    if (!date) {
        h[1] = h[2];
        rq.nheaders = 2;
    }
    assert_failure(bsf_sigv4_parse(&rq, &a), code);
}

#define SIG "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

static void test_malformed(void **state)
{
    const char *d = "20150830T123600Z";

    (void)state;
    parse_fails(NULL, d, "MissingAuthenticationToken");
    parse_fails("AWS4-HMAC-SHA1 Credential=" SCOPE ", SignedHeaders=host, Signature=" SIG, d,
                "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" SIG, d, "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE ", Signature=" SIG, d, "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host", d,
                "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, "
                "SignedHeaders=host, Signature=" SIG,
                d, "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/service/aws4_request, "
                "SignedHeaders=host, Signature=" SIG,
                d, "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=x-amz-date, Signature=" SIG,
                d, "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE
                ", SignedHeaders=x-amz-date;host, Signature=" SIG,
                d, "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host;host, Signature=" SIG, d,
                "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host, Signature=XYZ", d,
                "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host, Signature=" SIG
                ", Signature=" SIG,
                d, "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host, Signature=" SIG, NULL,
                "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host, Signature=" SIG,
                "2015-08-30T12:36:00Z", "IncompleteSignature");
    parse_fails("AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host, Signature=" SIG,
                "20150831T123600Z", "SignatureDoesNotMatch");
}

/* A signed header the request does not carry is refused, not skipped. */
static void test_signed_header_absent(void **state)
{
    bsf_http_pair h[] = {
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", "20150830T123600Z"},
        {"Authorization",
         "AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=content-type;host;x-amz-date, "
         "Signature=" SIG},
    };
    bsf_sigv4_request rq = request("GET", h, 3, NULL, 0, NULL);
    bsf_sigv4_auth a;

    (void)state;
    assert_int_equal(bsf_sigv4_parse(&rq, &a), 0);
    assert_failure(bsf_sigv4_check(&rq, &a, SECRET, NOW), "IncompleteSignature");
}

/* The credentials file gives a key's secret and account. */
static void test_lookup(void **state)
{
    static const char text[] = "[ops]\naws_access_key_id = AKIAOPS\naws_secret_access_key = s3\n"
                               "blocksnap_account_id = 111122223333\n"
                               "[nosecret]\naws_access_key_id = AKIANOSECRET\n"
                               "blocksnap_account_id = 111122223333\n";
    bsf_ini *ini = NULL;
    const char *secret, *account;

    (void)state;
    assert_int_equal(bsf_ini_parse(text, strlen(text), &ini), 0);
    assert_int_equal(bsf_access_key_lookup(ini, "AKIAOPS", &secret, &account), 0);
    assert_string_equal(secret, "s3");
    assert_string_equal(account, "111122223333");
    assert_int_equal(bsf_access_key_lookup(ini, "AKIANOSECRET", &secret, &account), -ENOENT);
    assert_string_equal(bsf_last_error()->code, "AuthFailure");
    assert_int_equal(bsf_access_key_lookup(ini, "AKIAOTHER", &secret, &account), -ENOENT);
    assert_string_equal(bsf_last_error()->code, "AuthFailure");
    bsf_ini_free(ini);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_vanilla),          cmocka_unit_test(test_post_form),
        cmocka_unit_test(test_query_order),          cmocka_unit_test(test_presigned),
        cmocka_unit_test(test_content_sha256),       cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_signed_header_absent), cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
