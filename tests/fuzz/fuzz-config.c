/* fuzz-config.c - libFuzzer harness for the config file parser
 * (bsf_ini_parse(), bsf_ini_set(), bsf_settings_resolve()).
 *
 * The whole input is one file.  Checks: the parse returns 0 or -EINVAL
 * (ConfigParseError); a parsed file formats back to text that parses again
 * to the same settings; an edit keeps the file parseable and reads back;
 * resolving a profile against it as config and as credentials file
 * returns. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront.h"

/* Checks stay in a release build (CHECK() would not). */
#define CHECK(x)     \
    do {             \
        if (!(x))    \
            abort(); \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bsf_ini *ini = NULL, *again = NULL;
    char *text = NULL;
    int r = bsf_ini_parse((const char *)data, size, &ini);

    if (r < 0) {
        CHECK(r == -EINVAL && !ini);
        return 0;
    }
    CHECK(bsf_ini_format(ini, &text) == 0);
    CHECK(bsf_ini_parse(text, strlen(text), &again) == 0);
    {
        const char *a = bsf_ini_get(ini, "default", "region"),
                   *b = bsf_ini_get(again, "default", "region");
        CHECK((!a && !b) || (a && b && strcmp(a, b) == 0));
    }
    bsf_ini_free(again);
    free(text);

    bsf_settings_input in = {.config = ini, .credentials = ini, .profile_flag = "dev"};
    bsf_settings s;
    (void)bsf_settings_resolve(&in, &s);
    in.profile_flag = NULL;
    in.region_env = "eu-west-1";
    (void)bsf_settings_resolve(&in, &s);
    const char *acct;
    (void)bsf_account_for_access_key(ini, "AKIA", &acct);

    if (bsf_ini_set(ini, "profile dev", "region", "eu-west-1") == 0 &&
        bsf_ini_set(ini, "default", "output", "json") == 0) {
        CHECK(strcmp(bsf_ini_get(ini, "profile dev", "region"), "eu-west-1") == 0);
        CHECK(bsf_ini_format(ini, &text) == 0);
        CHECK(bsf_ini_parse(text, strlen(text), &again) == 0);
        CHECK(strcmp(bsf_ini_get(again, "profile dev", "region"), "eu-west-1") == 0);
        CHECK(strcmp(bsf_ini_get(again, "default", "output"), "json") == 0);
        bsf_ini_free(again);
        free(text);
    }
    bsf_ini_free(ini);
    return 0;
}
