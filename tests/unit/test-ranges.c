/* test-ranges.c - changed-block lists and the text-limit check (ranges.c). */
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

#include "ranges.h"
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

    snprintf(dir, sizeof dir, "%s/test-ranges-XXXXXX", tmp && *tmp ? tmp : "/tmp");
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
        cmocka_unit_test(test_ranges_valid),       cmocka_unit_test(test_ranges_errors),
        cmocka_unit_test(test_ranges_diff_header), cmocka_unit_test(test_ranges_nul_byte),
        cmocka_unit_test(test_ranges_load),        cmocka_unit_test(test_text_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
