/* test-error.c - the failure record (error.c): messages name EC2
 * parameters and operations, marked @{Name} in the format, and the record
 * says where (refs) so that a front end can say them in its own words;
 * an argument's text is never taken for a marker. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"

/* The span @i of the last error's message, as a string. */
static const char *ref_text(size_t i)
{
    static char buf[128];
    const bsnap_error *e = bsnap_last_error();

    assert_true(i < e->nrefs);
    assert_true(e->refs[i].length < sizeof buf);
    memcpy(buf, e->message + e->refs[i].offset, e->refs[i].length);
    buf[e->refs[i].length] = '\0';
    return buf;
}

static void test_markers(void **state)
{
    const bsnap_error *e;
    (void)state;

    bsnap_error_clear();
    assert_int_equal(bsnap_fail(-EINVAL, "Image.NotBootable",
                                "the root volume %s is not bootable; give @{NoBootCheck} to "
                                "register it anyway",
                                "/dev/xvda"),
                     -EINVAL);
    e = bsnap_last_error();
    assert_string_equal(e->message,
                        "the root volume /dev/xvda is not bootable; give NoBootCheck to register "
                        "it anyway");
    assert_int_equal(e->nrefs, 1);
    assert_string_equal(ref_text(0), "NoBootCheck");
    assert_string_equal(e->parameter, "NoBootCheck");

    /* an argument holding "@{...}" is text; the format's markers count,
     * however long the arguments before them */
    bsnap_fail(-EIO, "Store.Corrupt", "%s, %d: run @{RepairStore} or @{VerifyStore}",
               "a path @{Evil} here", 42);
    e = bsnap_last_error();
    assert_string_equal(e->message, "a path @{Evil} here, 42: run RepairStore or VerifyStore");
    assert_int_equal(e->nrefs, 2);
    assert_string_equal(ref_text(0), "RepairStore");
    assert_string_equal(ref_text(1), "VerifyStore");

    /* no marker: no refs, the parameter "" */
    bsnap_fail(-ENOENT, "InvalidSnapshot.NotFound", "snapshot %s not found", "snap-1");
    assert_int_equal(bsnap_last_error()->nrefs, 0);
    assert_string_equal(bsnap_last_error()->parameter, "");
    /* what is not a marker stays as written */
    bsnap_fail(-EINVAL, "X", "@{} and @{a b} and @{Unclosed");
    assert_string_equal(bsnap_last_error()->message, "@{} and @{a b} and @{Unclosed");
    assert_int_equal(bsnap_last_error()->nrefs, 0);
}

static void test_prefix_and_save(void **state)
{
    error_saved saved;
    (void)state;

    bsnap_fail(-EIO, "Store.Corrupt", "damaged: run @{RepairStore}");
    bsnap_fail_prefix("gc of %s", "pack 7");
    assert_string_equal(bsnap_last_error()->message, "gc of pack 7: damaged: run RepairStore");
    assert_string_equal(ref_text(0), "RepairStore");
    error_save(&saved);
    bsnap_error_clear();
    assert_int_equal(bsnap_last_error()->nrefs, 0);
    error_restore(&saved);
    assert_int_equal(bsnap_last_error()->nrefs, 1);
    assert_string_equal(ref_text(0), "RepairStore");
    assert_string_equal(bsnap_last_error()->parameter, "RepairStore");

    /* a caller that knows the parameter names it; the message stays */
    bsnap_fail(-EINVAL, "InvalidSnapshotID.Malformed", "invalid id: \"%s\"", "x");
    assert_int_equal(error_set_parameter("BlockDeviceMappings[%d].Ebs.SnapshotId", 1), -EINVAL);
    assert_string_equal(bsnap_last_error()->parameter, "BlockDeviceMappings[1].Ebs.SnapshotId");
    assert_string_equal(bsnap_last_error()->message, "invalid id: \"x\"");
    error_save(&saved);
    bsnap_fail(-EIO, "X", "other");
    assert_string_equal(bsnap_last_error()->parameter, "");
    error_restore(&saved);
    assert_string_equal(bsnap_last_error()->parameter, "BlockDeviceMappings[1].Ebs.SnapshotId");
}

static char logged[256];
static size_t logged_refs;

static void log_cb(void *ud, int level, const char *category, const char *msg)
{
    size_t n;
    const bsnap_error_ref *refs = bsnap_log_refs(&n);

    (void)ud;
    (void)level;
    (void)category;
    snprintf(logged, sizeof logged, "%s", msg);
    logged_refs = n;
    if (n) {
        assert_non_null(refs);
        assert_memory_equal(msg + refs[0].offset, "CollectGarbage", refs[0].length);
    }
}

static void test_log_refs(void **state)
{
    size_t n = 9;
    (void)state;

    bsnap_set_log_func(log_cb, NULL);
    bsnap_log(BSNAP_LOG_WARNING, "snapshot", "could not give back %s: run @{CollectGarbage}", "x");
    assert_string_equal(logged, "could not give back x: run CollectGarbage");
    assert_int_equal(logged_refs, 1);
    assert_null(bsnap_log_refs(&n)); /* only during the callback */
    assert_int_equal(n, 0);
    bsnap_set_log_func(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markers),
        cmocka_unit_test(test_prefix_and_save),
        cmocka_unit_test(test_log_refs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
