/* test-config.c - the config and credentials files (front/config.c): the
 * INI grammar, edits that keep everything else, and the precedence of
 * flags, environment and profiles. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bsfront.h"

static bsf_ini *parse(const char *text)
{
    bsf_ini *ini = NULL;

    assert_int_equal(bsf_ini_parse(text, strlen(text), &ini), 0);
    assert_non_null(ini);
    return ini;
}

static void expect_parse_error(const char *text, const char *what)
{
    bsf_ini *ini = NULL;

    assert_int_equal(bsf_ini_parse(text, strlen(text), &ini), -EINVAL);
    assert_null(ini);
    assert_string_equal(bsf_last_error()->code, "ConfigParseError");
    if (!strstr(bsf_last_error()->message, what))
        fail_msg("'%s': message '%s' lacks '%s'", text, bsf_last_error()->message, what);
}

static void test_grammar(void **state)
{
    (void)state;
    bsf_ini *ini = parse("# a comment\n"
                         "; another\n"
                         "[default]\n"
                         "region = us-east-1\n"
                         "output=text\r\n"
                         "s3 =\n"
                         "  max_concurrent_requests = 10\n"
                         "\n"
                         "[profile dev]\n"
                         "region: eu-west-1 # not a comment\n"
                         "  [ profile spaced ]  \n");
    assert_string_equal(bsf_ini_get(ini, "default", "region"), "us-east-1");
    assert_string_equal(bsf_ini_get(ini, "default", "output"), "text");
    assert_string_equal(bsf_ini_get(ini, "default", "s3"), "");
    assert_null(bsf_ini_get(ini, "default", "max_concurrent_requests"));
    /* configparser keeps what follows a value: no inline comments. */
    assert_string_equal(bsf_ini_get(ini, "profile dev", "region"), "eu-west-1 # not a comment");
    assert_null(bsf_ini_get(ini, "profile dev", "output"));
    assert_null(bsf_ini_get(ini, "nope", "region"));
    assert_true(bsf_ini_has_section(ini, "profile dev"));
    assert_false(bsf_ini_has_section(ini, "profile spaced"));
    bsf_ini_free(ini);
    bsf_ini_free(NULL);

    /* Carriage returns before the line end beyond the CRLF's one are the
     * value's blanks: it reads the same after the file is written back
     * (found by fuzz-config: "u-utp\r" became "u-utp"). */
    char *text = NULL;
    ini = parse("[default]\nregion=u-utp\r\r\r\n");
    assert_string_equal(bsf_ini_get(ini, "default", "region"), "u-utp");
    assert_int_equal(bsf_ini_format(ini, &text), 0);
    bsf_ini_free(ini);
    ini = parse(text);
    assert_string_equal(bsf_ini_get(ini, "default", "region"), "u-utp");
    bsf_ini_free(ini);
    free(text);
}

static void test_errors(void **state)
{
    (void)state;
    expect_parse_error("region = x\n", "line 1: a setting before the first [section]");
    expect_parse_error("[default\n", "line 1: a section header has no ']'");
    expect_parse_error("[a]\n[ ]\n", "line 2: a section without a name");
    expect_parse_error("[a]\nx=1\n[a]\n", "line 3: section [a] given twice");
    expect_parse_error("[a]\nx=1\nx=2\n", "line 3: 'x' given twice in [a]");
    expect_parse_error("[a]\njust words\n", "line 2: neither a section");
    expect_parse_error("[a]\n  indented\n", "line 2: an indented line continues no setting");
    expect_parse_error("[a]\nbad key = 1\n", "line 2: 'bad key' is not a setting name");
    {
        bsf_ini *ini = NULL;
        assert_int_equal(bsf_ini_parse("[a]\0x", 5, &ini), -EINVAL);
        assert_string_equal(bsf_last_error()->code, "ConfigParseError");
    }
}

static void expect_format(const bsf_ini *ini, const char *want)
{
    char *text = NULL;

    assert_int_equal(bsf_ini_format(ini, &text), 0);
    assert_string_equal(text, want);
    free(text);
}

/* An edit rewrites one line or adds one; comments, order, nested values
 * and other sections stay as they were. */
static void test_set_keeps_the_rest(void **state)
{
    (void)state;
    const char *orig = "# my settings\n"
                       "[default]\n"
                       "region = us-east-1  \n"
                       "s3 =\n"
                       "  max_concurrent_requests = 10\n"
                       "\n"
                       "# the dev profile\n"
                       "[profile dev]\n"
                       "output = json\n";
    bsf_ini *ini = parse(orig);

    expect_format(ini, orig);
    assert_int_equal(bsf_ini_set(ini, "default", "region", "eu-west-1"), 0);
    assert_int_equal(bsf_ini_set(ini, "default", "output", "table"), 0);
    assert_int_equal(bsf_ini_set(ini, "profile dev", "region", "ap-south-1"), 0);
    assert_int_equal(bsf_ini_set(ini, "region ap-south-1", "store_path", "/srv/ap"), 0);
    expect_format(ini, "# my settings\n"
                       "[default]\n"
                       "region = eu-west-1\n"
                       "s3 =\n"
                       "  max_concurrent_requests = 10\n"
                       "output = table\n"
                       "\n"
                       "# the dev profile\n"
                       "[profile dev]\n"
                       "output = json\n"
                       "region = ap-south-1\n"
                       "\n"
                       "[region ap-south-1]\n"
                       "store_path = /srv/ap\n");
    assert_string_equal(bsf_ini_get(ini, "default", "region"), "eu-west-1");
    assert_string_equal(bsf_ini_get(ini, "region ap-south-1", "store_path"), "/srv/ap");
    /* A nested value replaced by a plain one loses its nested lines. */
    assert_int_equal(bsf_ini_set(ini, "default", "s3", "off"), 0);
    assert_int_equal(bsf_ini_set(ini, "default", "after", "1"), 0);
    expect_format(ini, "# my settings\n"
                       "[default]\n"
                       "region = eu-west-1\n"
                       "s3 = off\n"
                       "output = table\n"
                       "after = 1\n"
                       "\n"
                       "# the dev profile\n"
                       "[profile dev]\n"
                       "output = json\n"
                       "region = ap-south-1\n"
                       "\n"
                       "[region ap-south-1]\n"
                       "store_path = /srv/ap\n");
    /* What the edit wrote parses back to the same settings. */
    {
        char *text = NULL;
        assert_int_equal(bsf_ini_format(ini, &text), 0);
        bsf_ini *again = parse(text);
        assert_string_equal(bsf_ini_get(again, "profile dev", "region"), "ap-south-1");
        assert_string_equal(bsf_ini_get(again, "default", "s3"), "off");
        bsf_ini_free(again);
        free(text);
    }
    assert_int_equal(bsf_ini_set(ini, "default", "bad key", "1"), -EINVAL);
    assert_int_equal(bsf_ini_set(ini, "default", "k", "two\nlines"), -EINVAL);
    assert_int_equal(bsf_ini_set(ini, "default", "k", " padded"), -EINVAL);
    assert_int_equal(bsf_ini_set(ini, "a]b", "k", "v"), -EINVAL);
    assert_string_equal(bsf_last_error()->code, "InvalidParameterValue");
    bsf_ini_free(ini);

    ini = parse("");
    assert_int_equal(bsf_ini_set(ini, "dev", "aws_access_key_id", "AKIA1"), 0);
    expect_format(ini, "[dev]\naws_access_key_id = AKIA1\n");
    bsf_ini_free(ini);
}

static const char config_text[] = "[default]\n"
                                  "region = us-east-1\n"
                                  "[profile dev]\n"
                                  "region = eu-west-1\n"
                                  "output = table\n"
                                  "blocksnap_account_id = 999999999999\n"
                                  "[region eu-west-1]\n"
                                  "store_path = ~/stores/eu\n"
                                  "[region bad]\n"
                                  "store_path = relative/path\n";
static const char credentials_text[] = "[default]\n"
                                       "aws_access_key_id = AKIADEFAULT\n"
                                       "blocksnap_account_id = 123456789012\n"
                                       "[dev]\n"
                                       "aws_access_key_id = AKIADEV\n"
                                       "aws_secret_access_key = secret\n"
                                       "blocksnap_account_id = 111122223333\n"
                                       "[broken]\n"
                                       "blocksnap_account_id = 12ab\n";

/* Flag > environment > profile > default, for the profile, the store and
 * the region; the credentials file wins over the config file. */
static void test_precedence(void **state)
{
    (void)state;
    bsf_ini *cfg = parse(config_text), *cred = parse(credentials_text);
    bsf_settings_input in = {.config = cfg, .credentials = cred};
    bsf_settings s;

    assert_int_equal(bsf_settings_resolve(&in, &s), 0);
    assert_string_equal(s.profile, "default");
    assert_null(s.profile_source);
    assert_string_equal(s.region, "us-east-1");
    assert_string_equal(s.region_source, "config-file");
    assert_null(s.store_dir);
    assert_string_equal(s.account, "123456789012");
    assert_string_equal(s.account_source, "credentials-file");
    assert_string_equal(s.access_key, "AKIADEFAULT");
    assert_null(s.output);

    /* The environment's profile; its region's store from [region ...];
     * the credentials file's account wins over the config file's. */
    in.profile_env = "dev";
    assert_int_equal(bsf_settings_resolve(&in, &s), 0);
    assert_string_equal(s.profile, "dev");
    assert_string_equal(s.profile_source, "env");
    assert_string_equal(s.region, "eu-west-1");
    assert_string_equal(s.store_dir, "~/stores/eu");
    assert_string_equal(s.store_source, "config-file");
    assert_string_equal(s.account, "111122223333");
    assert_string_equal(s.output, "table");

    /* The flag beats the environment. */
    in.profile_flag = "default";
    assert_int_equal(bsf_settings_resolve(&in, &s), 0);
    assert_string_equal(s.profile, "default");
    assert_string_equal(s.profile_source, "flag");
    in.profile_flag = NULL;

    /* $BLOCKSNAP_REGION beats the profile, $BLOCKSNAP_STORE beats both
     * (a directory beats a region at each level), --region beats them. */
    in.region_env = "ap-south-1";
    assert_int_equal(bsf_settings_resolve(&in, &s), 0);
    assert_string_equal(s.region, "ap-south-1");
    assert_string_equal(s.region_source, "env");
    assert_null(s.store_dir);
    in.store_env = "/env/store";
    assert_int_equal(bsf_settings_resolve(&in, &s), 0);
    assert_null(s.region);
    assert_string_equal(s.store_dir, "/env/store");
    assert_string_equal(s.store_source, "env");
    in.region_flag = "eu-west-1";
    assert_int_equal(bsf_settings_resolve(&in, &s), 0);
    assert_string_equal(s.region, "eu-west-1");
    assert_string_equal(s.region_source, "flag");
    assert_string_equal(s.store_dir, "~/stores/eu");
    in.store_flag = "/flag/store";
    assert_int_equal(bsf_settings_resolve(&in, &s), 0);
    assert_string_equal(s.store_dir, "/flag/store");
    assert_string_equal(s.store_source, "flag");
    assert_string_equal(s.region, "eu-west-1");

    /* Errors: an unknown named profile, a relative store_path, a bad
     * account. */
    in = (bsf_settings_input){.config = cfg, .credentials = cred, .profile_flag = "nope"};
    assert_int_equal(bsf_settings_resolve(&in, &s), -ENOENT);
    assert_string_equal(bsf_last_error()->code, "ProfileNotFound");
    in.profile_flag = NULL;
    in.region_flag = "bad";
    assert_int_equal(bsf_settings_resolve(&in, &s), -EINVAL);
    assert_non_null(strstr(bsf_last_error()->message, "store_path 'relative/path'"));
    in.region_flag = NULL;
    in.profile_flag = "broken";
    assert_int_equal(bsf_settings_resolve(&in, &s), -EINVAL);
    assert_non_null(strstr(bsf_last_error()->message, "'12ab' is not 12 digits"));

    /* No files at all: the defaults, and "default" needs no section. */
    in = (bsf_settings_input){0};
    assert_int_equal(bsf_settings_resolve(&in, &s), 0);
    assert_string_equal(s.profile, "default");
    assert_null(s.region);
    assert_null(s.store_dir);
    assert_null(s.account);
    in.profile_env = "";
    assert_int_equal(bsf_settings_resolve(&in, &s), 0);
    assert_string_equal(s.profile, "default");
    bsf_ini_free(cfg);
    bsf_ini_free(cred);
}

static void test_account_for_access_key(void **state)
{
    (void)state;
    bsf_ini *cred = parse(credentials_text);
    const char *a = NULL;

    assert_int_equal(bsf_account_for_access_key(cred, "AKIADEV", &a), 0);
    assert_string_equal(a, "111122223333");
    assert_int_equal(bsf_account_for_access_key(cred, "AKIADEFAULT", &a), 0);
    assert_string_equal(a, "123456789012");
    assert_int_equal(bsf_account_for_access_key(cred, "AKIANONE", &a), -ENOENT);
    assert_string_equal(bsf_last_error()->code, "AuthFailure");
    assert_int_equal(bsf_account_for_access_key(NULL, "AKIADEV", &a), -ENOENT);
    bsf_ini_free(cred);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_set_keeps_the_rest),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_account_for_access_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
