/* test-args.c - the AWS CLI tag and filter parsers (front/args.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bsfront.h"

/* ---- helpers ------------------------------------------------------------ */

static void assert_error(int r, int err, const char *code, const char *needle)
{
    const bsnap_error *e = bsf_last_error();

    assert_int_equal(r, err);
    assert_int_equal(e->err, err);
    assert_string_equal(e->code, code);
    if (!strstr(e->message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", e->message, needle);
}

static int tags1(const char *arg, bsnap_tag **tags, size_t *n)
{
    const char *args[1] = {arg};
    return bsf_tags_parse(args, 1, tags, n);
}

static void tag_bad(const char *arg, const char *needle)
{
    bsnap_tag *tags = (bsnap_tag *)0x1;
    size_t n = 77;

    assert_error(tags1(arg, &tags, &n), -EINVAL, "InvalidParameterValue", needle);
    assert_ptr_equal(tags, (bsnap_tag *)0x1); /* untouched on failure */
    assert_int_equal(n, 77);
}

static int filters1(const char *arg, bsnap_filter **f, size_t *n)
{
    const char *args[1] = {arg};
    return bsf_filters_parse(args, 1, f, n);
}

static void filter_bad(const char *arg, const char *needle)
{
    bsnap_filter *f = NULL;
    size_t n = 0;

    assert_error(filters1(arg, &f, &n), -EINVAL, "InvalidParameterValue", needle);
    assert_null(f);
}

static char *repeat(const char *unit, size_t times)
{
    size_t u = strlen(unit);
    char *s = malloc(u * times + 1);

    assert_non_null(s);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * u, unit, u);
    s[u * times] = '\0';
    return s;
}

/* ---- tags --------------------------------------------------------------- */

static void test_tags_shorthand(void **state)
{
    const char *args[] = {"Key=env,Value=prod", "Value=b,Key=a", "Key=only", "Key=e,Value="};
    bsnap_tag *t;
    size_t n;

    assert_int_equal(bsf_tags_parse(args, 4, &t, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(t[0].key, "env");
    assert_string_equal(t[0].value, "prod");
    assert_string_equal(t[1].key, "a");
    assert_string_equal(t[1].value, "b");
    assert_string_equal(t[2].key, "only");
    assert_null(t[2].value);
    assert_string_equal(t[3].value, "");
    /* One block: every string lies after the array. */
    for (size_t i = 0; i < n; i++)
        assert_true(t[i].key >= (const char *)(t + n));
    free(t);
}

static void test_tags_quoting(void **state)
{
    bsnap_tag *t;
    size_t n;

    assert_int_equal(tags1("Key=k,Value=\"a,b\"", &t, &n), 0);
    assert_string_equal(t[0].value, "a,b");
    free(t);
    assert_int_equal(tags1("Key='x y',Value='c,d'", &t, &n), 0);
    assert_string_equal(t[0].key, "x y");
    assert_string_equal(t[0].value, "c,d");
    free(t);
    assert_int_equal(tags1("Key=k,Value=\"say \\\"hi\\\"\"", &t, &n), 0);
    assert_string_equal(t[0].value, "say \"hi\"");
    free(t);
    assert_int_equal(tags1("Key=k,Value=a=b", &t, &n), 0);
    assert_string_equal(t[0].value, "a=b");
    free(t);
    assert_int_equal(tags1("Key=k,Value=[v]", &t, &n), 0);
    assert_string_equal(t[0].value, "v");
    free(t);
}

static void test_tags_json(void **state)
{
    const char *args[] = {"[{\"Key\":\"env\",\"Value\":\"prod\"},{\"Key\":\"x\"}]",
                          " {\"Value\":\"\xc3\xa9t\xc3\xa9\",\"Key\":\"season\"}"};
    bsnap_tag *t;
    size_t n;

    assert_int_equal(bsf_tags_parse(args, 2, &t, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].key, "env");
    assert_string_equal(t[0].value, "prod");
    assert_string_equal(t[1].key, "x");
    assert_null(t[1].value);
    assert_string_equal(t[2].value, "\xc3\xa9t\xc3\xa9");
    free(t);
    assert_int_equal(tags1("[]", &t, &n), 0);
    assert_int_equal(n, 0);
    free(t);
}

static void test_tags_shorthand_errors(void **state)
{
    tag_bad("env", "expected Key=");
    tag_bad("Value=x", "missing Key=");
    tag_bad("Foo=bar", "unknown field 'Foo'");
    tag_bad("Key=a,Key=b", "given twice");
    tag_bad("Key=a,Value=b,Value=c", "given twice");
    tag_bad("Key=a,Value=b,c", "Value takes exactly one value");
    tag_bad("Key=a,b", "Key takes exactly one value");
    tag_bad("Key=a,Value=\"b", "unterminated quoted value");
    tag_bad("Key=a,Value=\"b\"c", "text after a quoted value");
    tag_bad("Key=a,Value=[b", "missing ']'");
    tag_bad("Key=a,Value=[b]c", "text after ']'");
    tag_bad("Key=a,Value=[b],", "trailing ','");
    tag_bad("Key=", "empty Key");
    tag_bad("", "empty tag argument");
    tag_bad("Key=aws:name,Value=x", "reserved");
    tag_bad("Key=AWS:name,Value=x", "reserved");
    tag_bad("Key=k,Value=\xff", "not valid UTF-8");
    tag_bad("Key=\xc0\x80", "not valid UTF-8");         /* overlong NUL */
    tag_bad("Key=\xed\xa0\x80", "not valid UTF-8");     /* surrogate */
    tag_bad("Key=\xf4\x90\x80\x80", "not valid UTF-8"); /* past U+10FFFF */
    tag_bad("Key=\xe2\x82", "not valid UTF-8");         /* truncated */
}

static void test_tags_json_errors(void **state)
{
    tag_bad("[{\"Key\":", "invalid JSON");
    tag_bad("[1]", "expected an array of objects");
    tag_bad("[{\"Key\":1}]", "Key must be a string");
    tag_bad("[{\"Key\":\"a\",\"Value\":[\"b\"]}]", "Value must be a string");
    tag_bad("[{\"Key\":\"a\",\"Other\":\"b\"}]", "unknown field 'Other'");
    tag_bad("[{\"Value\":\"b\"}]", "missing Key");
    tag_bad("[{\"Key\":\"a\",\"Key\":\"b\"}]", "invalid JSON"); /* duplicate */
    tag_bad("{\"Key\":\"aws:x\"}", "reserved");
}

static void test_tags_limits(void **state)
{
    char *k127 = repeat("k", 127), *k128 = repeat("k", 128), *v256 = repeat("v", 256),
         *v257 = repeat("v", 257), *utf127 = repeat("\xc3\xa9", 127), *arg;
    const char *many[BSF_TAGS_MAX + 1];
    char keys[BSF_TAGS_MAX + 1][16];
    bsnap_tag *t;
    size_t n;

    assert_true(asprintf(&arg, "Key=%s,Value=%s", k127, v256) > 0);
    assert_int_equal(tags1(arg, &t, &n), 0);
    free(t);
    free(arg);
    assert_true(asprintf(&arg, "Key=%s", k128) > 0);
    tag_bad(arg, "longer than 127 characters");
    free(arg);
    assert_true(asprintf(&arg, "Key=k,Value=%s", v257) > 0);
    tag_bad(arg, "longer than 256 characters");
    free(arg);
    /* A message quotes the first 100 characters of the argument, never half
     * of one: "Key=x" and 95 "é" (a cut at 100 bytes split the 48th). */
    {
        char *e200 = repeat("\xc3\xa9", 200);
        assert_true(asprintf(&arg, "Key=x%s", e200) > 0);
        tag_bad(arg, "longer than 127 characters");
        assert_null(strstr(bsf_last_error()->message, "\xc3'"));
        assert_non_null(strstr(bsf_last_error()->message, "\xc3\xa9\xc3\xa9': Key"));
        free(arg);
        free(e200);
    }
    /* Characters, not bytes: 127 two-byte characters are fine. */
    assert_true(asprintf(&arg, "Key=%s", utf127) > 0);
    assert_int_equal(tags1(arg, &t, &n), 0);
    free(t);
    free(arg);

    for (int i = 0; i <= BSF_TAGS_MAX; i++) {
        snprintf(keys[i], sizeof keys[i], "Key=k%d", i);
        many[i] = keys[i];
    }
    assert_int_equal(bsf_tags_parse(many, BSF_TAGS_MAX, &t, &n), 0);
    assert_int_equal(n, BSF_TAGS_MAX);
    free(t);
    t = NULL;
    assert_error(bsf_tags_parse(many, BSF_TAGS_MAX + 1, &t, &n), -EINVAL, "TagLimitExceeded",
                 "more than 50 tags");
    assert_null(t);
    free(k127);
    free(k128);
    free(v256);
    free(v257);
    free(utf127);
}

/* ---- filters ------------------------------------------------------------ */

static void test_filters_forms(void **state)
{
    const char *args[] = {"Name=volume-id,Values=vol-1,vol-2", "Values=[a,b,c],Name=tag:env",
                          "[{\"Name\":\"tag-key\",\"Values\":[\"x\",\"y\"]}]",
                          "Name=description,Values='a,b',c*"};
    bsnap_filter *f;
    size_t n;

    assert_int_equal(bsf_filters_parse(args, 4, &f, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(f[0].name, "volume-id");
    assert_int_equal(f[0].nvalues, 2);
    assert_string_equal(f[0].values[0], "vol-1");
    assert_string_equal(f[0].values[1], "vol-2");
    assert_string_equal(f[1].name, "tag:env");
    assert_int_equal(f[1].nvalues, 3);
    assert_string_equal(f[1].values[2], "c");
    assert_string_equal(f[2].name, "tag-key");
    assert_int_equal(f[2].nvalues, 2);
    assert_string_equal(f[2].values[1], "y");
    assert_int_equal(f[3].nvalues, 2);
    assert_string_equal(f[3].values[0], "a,b");
    assert_string_equal(f[3].values[1], "c*");
    free(f);
}

static void test_filters_errors(void **state)
{
    filter_bad("Values=a", "missing Name=");
    filter_bad("Name=", "empty Name");
    filter_bad("Name=a,b", "Name takes exactly one value");
    filter_bad("Name=a,Value=b", "unknown field 'Value'");
    filter_bad("Name=a,Values=[b", "missing ']'");
    filter_bad("[{\"Name\":\"a\",\"Values\":\"b\"}]", "Values must be an array of strings");
    filter_bad("[{\"Name\":\"a\",\"Values\":[1]}]", "Values must be an array of strings");
    filter_bad("[{\"Values\":[]}]", "missing Name");
    filter_bad("\"x\"", "expected Name=");
    /* a filter without values is a mistake, not a filter that matches
     * nothing */
    filter_bad("Name=status", "filter 'Name=status': no Values");
    filter_bad("Name=x,Values=[]", "no Values");
    filter_bad("[{\"Name\":\"n\"}]", "no Values");
    filter_bad("[{\"Name\":\"n\",\"Values\":[]}]", "no Values");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags_shorthand),   cmocka_unit_test(test_tags_quoting),
        cmocka_unit_test(test_tags_json),        cmocka_unit_test(test_tags_shorthand_errors),
        cmocka_unit_test(test_tags_json_errors), cmocka_unit_test(test_tags_limits),
        cmocka_unit_test(test_filters_forms),    cmocka_unit_test(test_filters_errors),

    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
