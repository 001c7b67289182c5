/* test-words.c - the engine's names in a front end's words (front/words.c):
 * the CLI's verbs and options for EC2 operations and parameters, and a
 * rewrite that touches the marked spans only. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bsfront.h"

static void expect_word(const char *name, const char *want)
{
    char buf[BSF_WORD_MAX];

    assert_string_equal(bsf_cli_word(NULL, name, buf), want);
}

static void test_cli_words(void **state)
{
    (void)state;
    expect_word("NoBootCheck", "--no-boot-check");
    expect_word("SnapshotId", "--snapshot-id");
    expect_word("BlockDeviceMappings[0].Ebs.SnapshotId", "--block-device-mappings");
    expect_word("RepairStore", "blocksnap verify --repair");
    expect_word("VerifyStore", "blocksnap verify");
    expect_word("CollectGarbage", "blocksnap gc");
    expect_word("CreateImage", "create-image");
}

/* Where a name is said keeps: identity for the API server, the CLI's
 * words for it; a name that a user's text happens to hold (outside the
 * refs) is never rewritten. */
static void test_rewrite(void **state)
{
    const char *msg = "image NoBootCheck is not bootable: give NoBootCheck to register it";
    bsnap_error e = {.err = -EINVAL,
                     .code = "Image.NotBootable",
                     .message = msg,
                     .parameter = "NoBootCheck",
                     .nrefs = 1,
                     .refs = {{40, 11}}};
    char *text = NULL;
    (void)state;

    assert_int_equal(bsf_error_message(&e, bsf_cli_word, NULL, &text), 0);
    assert_string_equal(text,
                        "image NoBootCheck is not bootable: give --no-boot-check to register it");
    free(text);
    assert_int_equal(bsf_error_message(&e, NULL, NULL, &text), 0);
    assert_string_equal(text, msg);
    free(text);
    /* spans out of the message or out of order are ignored */
    e.refs[0] = (bsnap_error_ref){60, 30};
    assert_int_equal(bsf_error_message(&e, bsf_cli_word, NULL, &text), 0);
    assert_string_equal(text, msg);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_words),
        cmocka_unit_test(test_rewrite),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
