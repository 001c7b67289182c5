/* test-diff.c - diff.c: the ranges and blocks in which two snapshots
 * differ. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blockmap.h"
#include <jansson.h>

#include "catalog.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096u

static void test_diff(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 200), a[BSNAP_ID_MAX], b[BSNAP_ID_MAX];
    struct ranges rs = {0};
    char *json = NULL;
    json_error_t jerr;

    snap_path(f, vol, a);
    /* first NULL: every non-zero range */
    assert_int_equal(bsnap_snapshot_diff(f->s, NULL, a, range_collect, &rs), 0);
    assert_int_equal(rs.n, 4);
    assert_true(rs.r[0].offset == 0 && rs.r[0].length == CS);
    assert_true(rs.r[1].offset == 3 * CS && rs.r[1].length == 3 * CS);
    assert_true(rs.r[2].offset == 100 * CS && rs.r[2].length == CS);
    assert_true(rs.r[3].offset == 199 * CS && rs.r[3].length == CS - 123); /* clipped */

    /* grow past one leaf, change chunks 4 and 5 (merged run), add one */
    volume_resize(vol, (BM_FANOUT + 10) * CS);
    volume_write(vol, 4 * CS + 1, 2 * CS - 2, 99);
    chunk_write(vol, CS, BM_FANOUT + 9, 5);
    snap_path(f, vol, b);
    rs.n = 0;
    assert_int_equal(bsnap_snapshot_diff(f->s, a, b, range_collect, &rs), 0);
    /* (the old partial last chunk is unchanged: it was zero-padded before
     * and holds zeros after its end now) */
    assert_int_equal(rs.n, 2);
    assert_true(rs.r[0].offset == 4 * CS && rs.r[0].length == 2 * CS);
    assert_true(rs.r[1].offset == (BM_FANOUT + 9) * CS && rs.r[1].length == CS);

    /* the EBS ListChangedBlocks shape */
    assert_int_equal(AS_JSON(json, bsnap_snapshot_diff_json, f->s, a, b), 0);
    {
        json_t *o = json_loads(json, 0, &jerr), *blocks = json_object_get(o, "ChangedBlocks");
        json_t *first = json_array_get(blocks, 0), *last;
        assert_non_null(o);
        assert_int_equal(json_array_size(blocks), 3);
        assert_int_equal(json_integer_value(json_object_get(first, "BlockIndex")), 4);
        assert_int_equal(strlen(json_string_value(json_object_get(first, "FirstBlockToken"))), 32);
        assert_int_equal(strlen(json_string_value(json_object_get(first, "SecondBlockToken"))), 32);
        last = json_array_get(blocks, 2);
        assert_int_equal(json_integer_value(json_object_get(last, "BlockIndex")), BM_FANOUT + 9);
        assert_null(json_object_get(last, "FirstBlockToken")); /* a zero block */
        assert_non_null(json_object_get(last, "SecondBlockToken"));
        assert_int_equal(json_integer_value(json_object_get(o, "BlockSize")), CS);
        assert_int_equal(json_integer_value(json_object_get(o, "VolumeSize")), 1);
        json_decref(o);
    }
    free(json);
    assert_error(bsnap_snapshot_diff(f->s, "snap-x", b, range_collect, &rs), -EINVAL,
                 "InvalidSnapshotID.Malformed");
    assert_error(bsnap_snapshot_diff(f->s, a, "snap-0123456789abcdef0", range_collect, &rs),
                 -ENOENT, "InvalidSnapshot.NotFound");
    free(vol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_diff, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
