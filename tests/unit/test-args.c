/* test-args.c - the tag, filter and changed-block list parsers (args.c). */
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

#include "args.h"
#include "blocksnap.h"
#include "error.h"

/* ---- helpers ------------------------------------------------------------ */

static void assert_error(int r, int err, const char *code, const char *needle)
{
    const bsnap_error *e = bsnap_last_error();

    assert_int_equal(r, err);
    assert_int_equal(e->err, err);
    assert_string_equal(e->code, code);
    if (!strstr(e->message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", e->message, needle);
}

static int tags1(const char *arg, bsnap_tag **tags, size_t *n)
{
    const char *args[1] = {arg};
    return bsnap_tags_parse(args, 1, tags, n);
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
    return bsnap_filters_parse(args, 1, f, n);
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

    assert_int_equal(bsnap_tags_parse(args, 4, &t, &n), 0);
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

    assert_int_equal(bsnap_tags_parse(args, 2, &t, &n), 0);
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
    const char *many[TAGS_MAX + 1];
    char keys[TAGS_MAX + 1][16];
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
        assert_null(strstr(bsnap_last_error()->message, "\xc3'"));
        assert_non_null(strstr(bsnap_last_error()->message, "\xc3\xa9\xc3\xa9': Key"));
        free(arg);
        free(e200);
    }
    /* Characters, not bytes: 127 two-byte characters are fine. */
    assert_true(asprintf(&arg, "Key=%s", utf127) > 0);
    assert_int_equal(tags1(arg, &t, &n), 0);
    free(t);
    free(arg);

    for (int i = 0; i <= TAGS_MAX; i++) {
        snprintf(keys[i], sizeof keys[i], "Key=k%d", i);
        many[i] = keys[i];
    }
    assert_int_equal(bsnap_tags_parse(many, TAGS_MAX, &t, &n), 0);
    assert_int_equal(n, TAGS_MAX);
    free(t);
    t = NULL;
    assert_error(bsnap_tags_parse(many, TAGS_MAX + 1, &t, &n), -EINVAL, "TagLimitExceeded",
                 "more than 50 tags");
    assert_null(t);
    free(k127);
    free(k128);
    free(v256);
    free(v257);
    free(utf127);
}

/* bsnap_text_check(), the one check of text limited in characters: 255 "é"
 * (510 bytes) is a valid description, where the byte count refused it as
 * "longer than 255 characters"; text that is not UTF-8 is refused as such
 * (an invalid description used to fail as "out of memory"). */
static void test_text_check(void **state)
{
    char *e255 = repeat("\xc3\xa9", 255), *e256 = repeat("\xc3\xa9", 256);
    char *four = repeat("\xf0\x9f\x92\xbe", 255);

    (void)state;
    assert_int_equal(bsnap_text_check("description", e255, BSNAP_DESCRIPTION_MAX), 0);
    assert_int_equal(bsnap_text_check("description", four, BSNAP_DESCRIPTION_MAX), 0);
    assert_error(bsnap_text_check("description", e256, BSNAP_DESCRIPTION_MAX), -EINVAL,
                 "InvalidParameterValue", "description is longer than 255 characters");
    assert_int_equal(bsnap_text_check("description", "", BSNAP_DESCRIPTION_MAX), 0);
    assert_int_equal(bsnap_text_check("x", e256, 0), 0); /* 0: no limit */
    assert_error(bsnap_text_check("--description", "caf\xe9", 10), -EINVAL, "InvalidParameterValue",
                 "--description is not valid UTF-8");
    assert_error(bsnap_text_check("d", "\xed\xa0\x80", 10), -EINVAL, "InvalidParameterValue",
                 "not valid UTF-8");
    assert_error(bsnap_text_check("d", "\xc0\x80", 10), -EINVAL, "InvalidParameterValue",
                 "not valid UTF-8");
    free(e255);
    free(e256);
    free(four);
}

/* ---- filters ------------------------------------------------------------ */

static void test_filters_forms(void **state)
{
    const char *args[] = {"Name=volume-id,Values=vol-1,vol-2", "Values=[a,b,c],Name=tag:env",
                          "[{\"Name\":\"tag-key\",\"Values\":[\"x\",\"y\"]}]",
                          "Name=description,Values='a,b',c*"};
    bsnap_filter *f;
    size_t n;

    assert_int_equal(bsnap_filters_parse(args, 4, &f, &n), 0);
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

/* ---- changed-block lists ------------------------------------------------ */

static void ranges_bad(const char *text, const char *needle)
{
    bsnap_range *r = NULL;
    size_t n = 0;

    assert_error(bsnap_ranges_parse(text, strlen(text), "cbt.txt", &r, &n, NULL), -EINVAL,
                 "InvalidParameterValue", needle);
    assert_null(r);
}

static void test_ranges_valid(void **state)
{
    const char text[] = "# changed blocks\n"
                        "\n"
                        "0 65536\n"
                        "  131072\t65536  \r\n"
                        "   # indented comment\n"
                        "196608 1\n"             /* adjacent to the one before */
                        "9223372036854775806 1"; /* no final newline; ends at INT64_MAX */
    bsnap_range *r;
    size_t n;

    assert_int_equal(bsnap_ranges_parse(text, strlen(text), "x", &r, &n, NULL), 0);
    assert_int_equal(n, 4);
    assert_int_equal(r[0].offset, 0);
    assert_int_equal(r[0].length, 65536);
    assert_int_equal(r[1].offset, 131072);
    assert_int_equal(r[2].offset, 196608);
    assert_int_equal(r[2].length, 1);
    assert_int_equal(r[3].offset, 9223372036854775806ull);
    free(r);

    assert_int_equal(bsnap_ranges_parse("", 0, "x", &r, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_non_null(r);
    free(r);
    assert_int_equal(bsnap_ranges_parse("# nothing\n\n", 11, "x", &r, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(r);
}

static void test_ranges_errors(void **state)
{
    ranges_bad("x 10\n", "cbt.txt line 1: offset: unexpected 'x'");
    ranges_bad("# c\n\n10\n", "cbt.txt line 3: missing length");
    ranges_bad("10 \n", "line 1: missing length");
    ranges_bad("10 y\n", "line 1: length: unexpected 'y'");
    ranges_bad("-1 5\n", "line 1: offset: unexpected '-'");
    ranges_bad("+1 5\n", "line 1: offset: unexpected '+'");
    ranges_bad("0x10 5\n", "line 1: offset: unexpected 'x'");
    ranges_bad("10,5\n", "line 1: offset: unexpected ','");
    ranges_bad("0 10 z\n", "line 1: unexpected text after the length");
    ranges_bad("0 10 # comment\n", "line 1: unexpected text after the length");
    ranges_bad("0 1 2\n", "line 1: unexpected text after the length");
    ranges_bad("0 0\n", "line 1: length is 0");
    ranges_bad("18446744073709551616 1\n", "line 1: offset 18446744073709551616 is too large");
    ranges_bad("0 999999999999999999999999999\n",
               "line 1: length 999999999999999999999999... is too large");
    ranges_bad("18446744073709551615 1\n", "ends past the largest file offset");
    ranges_bad("9223372036854775807 1\n", "ends past the largest file offset");
    ranges_bad("1 9223372036854775807\n", "ends past the largest file offset");
    ranges_bad("65536 10\n0 10\n", "line 2: ranges not sorted (offset 0 comes after 65536)");
    ranges_bad("0 100\n99 10\n", "line 2: range at 99 overlaps the previous one (0+100)");
    ranges_bad("0 100\n0 100\n", "line 2: range at 0 overlaps");
    ranges_bad("0 10\n\xc3\xa9 10\n", "line 2: offset: not a decimal number");
}

/* The header `blocksnap diff` writes names the list's base snapshot. */
static void test_ranges_diff_header(void **state)
{
    const char text[] = "# blocksnap diff snap-0123456789abcdef0 snap-00112233445566778\n"
                        "0 65536\n";
    const char none[] = "# blocksnap diff\t-  snap-00112233445566778\r\n";
    char base[BSNAP_ID_MAX] = "unset";
    bsnap_range *r;
    size_t n;

    (void)state;
    assert_int_equal(bsnap_ranges_parse(text, strlen(text), "x", &r, &n, base), 0);
    assert_int_equal(n, 1);
    assert_string_equal(base, "snap-0123456789abcdef0");
    free(r);
    assert_int_equal(bsnap_ranges_parse(none, strlen(none), "x", &r, &n, base), 0);
    assert_int_equal(n, 0);
    assert_string_equal(base, "-");
    free(r);
    /* no header: no base; a comment that only looks alike is a comment */
    assert_int_equal(bsnap_ranges_parse("# blocksnapdiff\n0 1\n", 20, "x", &r, &n, base), 0);
    assert_string_equal(base, "");
    free(r);
    /* a NULL @ret_base still checks the header */
    assert_int_equal(bsnap_ranges_parse(text, strlen(text), "x", &r, &n, NULL), 0);
    free(r);

    ranges_bad("# blocksnap diff\n", "cbt.txt line 1: malformed header");
    ranges_bad("# blocksnap diff snap-0123456789abcdef0\n", "line 1: malformed header");
    ranges_bad("# blocksnap diff snap-x snap-00112233445566778\n", "line 1: malformed header");
    ranges_bad("# blocksnap diff - - \n", "line 1: malformed header");
    ranges_bad("# blocksnap diff - snap-00112233445566778 x\n", "line 1: malformed header");
    ranges_bad("# blocksnap diff snap-0123456789abcdef0snap-0123456789abcdef0 "
               "snap-00112233445566778\n",
               "line 1: malformed header");
    ranges_bad("0 1\n# blocksnap diff - snap-00112233445566778\n",
               "cbt.txt line 2: a \"# blocksnap diff\" header is allowed only as the first line");
}

static void test_ranges_nul_byte(void **state)
{
    const char text[] = "0 10\n20\0 5\n";
    bsnap_range *r = NULL;
    size_t n;

    assert_error(bsnap_ranges_parse(text, sizeof text - 1, "f", &r, &n, NULL), -EINVAL,
                 "InvalidParameterValue", "f line 2: offset: not a decimal number");
    assert_null(r);
}

static void test_ranges_load(void **state)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], path[300];
    bsnap_range *r = NULL;
    size_t n;
    FILE *f;

    snprintf(dir, sizeof dir, "%s/test-args-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cbt", dir);
    assert_error(bsnap_ranges_load(path, &r, &n, NULL), -ENOENT, "InvalidParameterValue", path);
    assert_error(bsnap_ranges_load(dir, &r, &n, NULL), -EISDIR, "InvalidParameterValue", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("0 4096\n8192 4096\n", f);
    fclose(f);
    assert_int_equal(bsnap_ranges_load(path, &r, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(r[1].offset, 8192);
    free(r);
    r = NULL;
    assert_non_null(f = fopen(path, "w"));
    fputs("0 4096\n0 4096\n", f);
    fclose(f);
    assert_error(bsnap_ranges_load(path, &r, &n, NULL), -EINVAL, "InvalidParameterValue",
                 " line 2: ");
    assert_null(r);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags_shorthand),     cmocka_unit_test(test_tags_quoting),
        cmocka_unit_test(test_tags_json),          cmocka_unit_test(test_tags_shorthand_errors),
        cmocka_unit_test(test_tags_json_errors),   cmocka_unit_test(test_tags_limits),
        cmocka_unit_test(test_filters_forms),      cmocka_unit_test(test_filters_errors),
        cmocka_unit_test(test_ranges_valid),       cmocka_unit_test(test_ranges_errors),
        cmocka_unit_test(test_ranges_diff_header), cmocka_unit_test(test_ranges_nul_byte),
        cmocka_unit_test(test_ranges_load),        cmocka_unit_test(test_text_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
