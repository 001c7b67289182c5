/* test-suggest.c - "did you mean" (front/suggest.c): the edit distance
 * (restricted Damerau-Levenshtein), the cutoff that grows with the word, and
 * the closest names kept in the order offered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bsfront.h"

static size_t dist(const char *a, const char *b)
{
    return bsf_distance(a, strlen(a), b, strlen(b));
}

static void test_distance(void **state)
{
    char longer[200];

    (void)state;
    assert_int_equal(dist("", ""), 0);
    assert_int_equal(dist("abc", ""), 3);
    assert_int_equal(dist("", "abc"), 3);
    assert_int_equal(dist("describe", "describe"), 0);
    assert_int_equal(dist("descibe", "describe"), 1);   /* a deletion */
    assert_int_equal(dist("describee", "describe"), 1); /* an insertion */
    assert_int_equal(dist("desxribe", "describe"), 1);  /* a substitution */
    assert_int_equal(dist("decsribe", "describe"), 1);  /* a swap of neighbours */
    assert_int_equal(dist("kitten", "sitting"), 3);
    assert_int_equal(dist("ca", "abc"), 3); /* restricted: no edit of a swapped pair */
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(dist(longer, "a"), SIZE_MAX);
}

static const char *const verbs[] = {"describe-snapshots",
                                    "describe-images",
                                    "delete-snapshot",
                                    "create-snapshot",
                                    "create-tags",
                                    "help",
                                    "gc",
                                    NULL};

static const char *suggest(const char *word, char *buf, size_t size)
{
    bsf_suggest s;

    bsf_suggest_init(&s, word, strlen(word));
    for (size_t i = 0; verbs[i]; i++)
        bsf_suggest_add(&s, verbs[i]);
    return bsf_suggest_text(&s, "", buf, size);
}

static void test_suggest(void **state)
{
    char buf[256];

    (void)state;
    assert_string_equal(suggest("descibe-snapshots", buf, sizeof buf),
                        "; did you mean 'describe-snapshots'?");
    assert_string_equal(suggest("delete-snapshots", buf, sizeof buf),
                        "; did you mean 'delete-snapshot'?");
    /* the closest only: create-tag is 1 from create-tags */
    assert_string_equal(suggest("create-tag", buf, sizeof buf), "; did you mean 'create-tags'?");
    /* short words: one edit at most */
    assert_string_equal(suggest("hlep", buf, sizeof buf), "; did you mean 'help'?");
    assert_string_equal(suggest("gcc", buf, sizeof buf), "; did you mean 'gc'?");
    assert_string_equal(suggest("xyz", buf, sizeof buf), "");
    /* nothing close, and the word itself is not offered back */
    assert_string_equal(suggest("frobnicate", buf, sizeof buf), "");
    assert_string_equal(suggest("help", buf, sizeof buf), "");
    /* a tiny buffer is cut, never overrun */
    suggest("descibe-snapshots", buf, 10);
    assert_int_equal(strlen(buf), 9);
}

static void test_several(void **state)
{
    static const char *const opts[] = {"snapshot-id", "snapshot-ids", "snapshot-di", "volume-id",
                                       "snapshot-id"};
    bsf_suggest s;
    char buf[256];

    (void)state;
    bsf_suggest_init(&s, "snapshot-ib", 11);
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        bsf_suggest_add(&s, opts[i]);
    /* every name at the best distance, once each, in the order offered */
    assert_int_equal(s.n, 1);
    assert_string_equal(bsf_suggest_text(&s, "--", buf, sizeof buf),
                        "; did you mean '--snapshot-id'?");
    bsf_suggest_init(&s, "snapshot-i", 10);
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        bsf_suggest_add(&s, opts[i]);
    assert_string_equal(bsf_suggest_text(&s, "--", buf, sizeof buf),
                        "; did you mean '--snapshot-id' or '--snapshot-di'?");
    bsf_suggest_init(&s, "a", 1);
    bsf_suggest_add(&s, "b");
    bsf_suggest_add(&s, "c");
    bsf_suggest_add(&s, "d");
    bsf_suggest_add(&s, "e");
    assert_int_equal(s.n, BSF_SUGGEST_MAX);
    assert_string_equal(bsf_suggest_text(&s, "", buf, sizeof buf),
                        "; did you mean 'b', 'c' or 'd'?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_several),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
