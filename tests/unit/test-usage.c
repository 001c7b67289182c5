/* test-usage.c - usage.c: what a snapshot, and a volume's snapshots
 * together, reference and what deleting them would free, against what
 * delete and gc then actually free. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit-helpers.h"

#define CS 4096u

static bsnap_snapshot_usage usage_of(struct fixture *f, const char *id)
{
    bsnap_snapshot_usage u;

    assert_int_equal(bsnap_snapshot_get_usage(f->s, id, &u), 0);
    assert_string_equal(u.snapshot_id, id);
    return u;
}

static uint64_t stored_now(struct fixture *f)
{
    bsnap_store_info info;

    assert_int_equal(bsnap_store_get_info(f->s, &info), 0);
    return info.stored_bytes;
}

/* Delete @id, gc, and return the stored bytes that went. */
static uint64_t delete_frees(struct fixture *f, const char *id)
{
    uint64_t before = stored_now(f);

    assert_int_equal(bsnap_snapshot_delete(f->s, id), 0);
    assert_int_equal(bsnap_gc(f->s, NULL, NULL), 0);
    return before - stored_now(f);
}

/* A snapshot of unique data frees everything it references. */
static void test_unique(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "u.img", 40 * CS), id[BSNAP_ID_MAX];
    bsnap_snapshot_usage u;

    volume_write(vol, 0, 10 * CS, 1);
    volume_write(vol, 30 * CS, 3 * CS, 2);
    snap_path(f, vol, id);
    u = usage_of(f, id);
    assert_int_equal(u.volume_bytes, 40 * CS);
    assert_int_equal(u.data_bytes, 13 * CS);
    assert_int_equal(u.referenced_chunks, 13 + 1); /* and the one page */
    assert_int_equal(u.referenced_bytes, 13 * CS + BM_PAGE_BYTES);
    assert_int_equal(u.exclusive_chunks, u.referenced_chunks);
    assert_int_equal(u.exclusive_bytes, u.referenced_bytes);
    assert_int_equal(u.exclusive_stored_bytes, u.referenced_stored_bytes);
    assert_true(u.referenced_stored_bytes > 0);
    assert_int_equal(delete_frees(f, id), u.exclusive_stored_bytes);
    free(vol);
}

/* Two snapshots of the same data share everything: neither frees
 * anything.  A third that changes one chunk of the second leaf shares the
 * first leaf, whose chunks each have refcount 1 (named by that leaf only),
 * and frees only its root, its new leaf and its new chunk.  Once the two
 * alike are gone, the third's figure is what its delete frees. */
static void test_shared(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "v.img", (BM_FANOUT + 8) * CS);
    char a[BSNAP_ID_MAX], b[BSNAP_ID_MAX], c[BSNAP_ID_MAX];
    bsnap_snapshot_usage ua, uc;

    volume_write(vol, 0, 6 * CS, 3);
    volume_write(vol, BM_FANOUT * CS, 4 * CS, 4);
    snap_path(f, vol, a);
    snap_path(f, vol, b);
    ua = usage_of(f, a);
    assert_int_equal(ua.referenced_chunks, 10 + 3); /* root and two leaves */
    assert_int_equal(ua.exclusive_chunks, 0);
    assert_int_equal(ua.exclusive_bytes, 0);
    assert_int_equal(ua.exclusive_stored_bytes, 0);
    assert_int_equal(usage_of(f, b).exclusive_stored_bytes, 0);

    chunk_write(vol, CS, BM_FANOUT + 1, 5);
    snap_path(f, vol, c);
    uc = usage_of(f, c);
    assert_int_equal(uc.referenced_chunks, 13);
    assert_int_equal(uc.exclusive_chunks, 3);
    assert_int_equal(uc.exclusive_bytes, 2 * BM_PAGE_BYTES + CS);
    /* and a and b, still alike, would now free nothing either */
    assert_int_equal(usage_of(f, a).exclusive_chunks, 0);

    /* the truth: delete what the figure says, and gc */
    assert_int_equal(delete_frees(f, b), 0);
    ua = usage_of(f, a); /* a alone now: its root, old leaf and chunk */
    assert_int_equal(ua.exclusive_chunks, 3);
    assert_int_equal(delete_frees(f, a), ua.exclusive_stored_bytes);
    uc = usage_of(f, c); /* c alone: everything */
    assert_int_equal(uc.exclusive_chunks, uc.referenced_chunks);
    assert_int_equal(delete_frees(f, c), uc.exclusive_stored_bytes);
    assert_int_equal(stored_now(f), 0);
    free(vol);
}

/* An all-zero volume references nothing and frees nothing. */
static void test_zero(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "z.img", 100 * CS), id[BSNAP_ID_MAX];
    bsnap_snapshot_usage u;

    snap_path(f, vol, id);
    u = usage_of(f, id);
    assert_int_equal(u.volume_bytes, 100 * CS);
    assert_int_equal(u.data_bytes, 0);
    assert_int_equal(u.referenced_chunks, 0);
    assert_int_equal(u.exclusive_chunks, 0);
    free(vol);
}

/* A volume's figures: its snapshots' shared chunks once; what deleting
 * them all frees leaves out the chunks of another volume's snapshot, and
 * is what the deletes and gc then free. */
static void test_volume(void **state)
{
    struct fixture *f = *state;
    char *va = volume_create(f, "a.img", 40 * CS), *vb = volume_create(f, "b.img", 40 * CS);
    char a1[BSNAP_ID_MAX], a2[BSNAP_ID_MAX], b1[BSNAP_ID_MAX];
    bsnap_snapshot_info info;
    bsnap_volume_usage u;
    bsnap_snapshot_usage u1, u2;
    char vol_a[BSNAP_ID_MAX];
    uint64_t before;

    volume_write(va, 0, 10 * CS, 1);
    snap_path(f, va, a1);
    chunk_write(va, CS, 20, 2); /* one chunk of a2's own */
    snap_path(f, va, a2);
    volume_write(vb, 0, 4 * CS, 1); /* b shares a's first four chunks */
    snap_path(f, vb, b1);
    assert_int_equal(bsnap_snapshot_get(f->s, a1, &info), 0);
    snprintf(vol_a, sizeof vol_a, "%s", info.volume_id);
    u1 = usage_of(f, a1);
    u2 = usage_of(f, a2);

    assert_int_equal(bsnap_volume_get_usage(f->s, vol_a, &u), 0);
    assert_string_equal(u.volume_id, vol_a);
    assert_int_equal(u.snapshots, 2);
    assert_int_equal(u.logical_bytes, u1.data_bytes + u2.data_bytes);
    assert_int_equal(u.logical_bytes, 21 * CS);
    /* 11 chunks and two distinct leaves (a2's root page differs) */
    assert_int_equal(u.referenced_chunks, 11 + 2);
    assert_int_equal(u.referenced_bytes, 11 * CS + 2 * BM_PAGE_BYTES);
    /* all but the four chunks b shares */
    assert_int_equal(u.exclusive_chunks, 7 + 2);
    assert_int_equal(u.exclusive_bytes, 7 * CS + 2 * BM_PAGE_BYTES);
    assert_true(u.exclusive_stored_bytes < u.stored_bytes);
    before = stored_now(f);
    assert_int_equal(bsnap_snapshot_delete(f->s, a1), 0);
    assert_int_equal(bsnap_snapshot_delete(f->s, a2), 0);
    assert_int_equal(bsnap_gc(f->s, NULL, NULL), 0);
    assert_int_equal(before - stored_now(f), u.exclusive_stored_bytes);
    assert_int_equal(bsnap_volume_get_usage(f->s, vol_a, &u), 0);
    assert_int_equal(u.snapshots, 0);
    assert_int_equal(u.stored_bytes, 0);

    assert_error(bsnap_volume_get_usage(f->s, "vol-x", &u), -EINVAL, "InvalidVolumeID.Malformed");
    assert_string_equal(bsnap_last_error()->parameter, "VolumeId");
    assert_error(bsnap_volume_get_usage(f->s, "vol-0123456789abcdef0", &u), -ENOENT,
                 "InvalidVolume.NotFound");
    assert_int_equal(bsnap_store_set_account(f->s, "111122223333"), 0);
    assert_error(bsnap_volume_get_usage(f->s, vol_a, &u), -ENOENT, "InvalidVolume.NotFound");
    free(va);
    free(vb);
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    bsnap_snapshot_usage u;

    assert_error(bsnap_snapshot_get_usage(f->s, "snap-x", &u), -EINVAL,
                 "InvalidSnapshotID.Malformed");
    assert_string_equal(bsnap_last_error()->parameter, "SnapshotId");
    assert_error(bsnap_snapshot_get_usage(f->s, "snap-0123456789abcdef0", &u), -ENOENT,
                 "InvalidSnapshot.NotFound");
    assert_string_equal(bsnap_last_error()->parameter, "SnapshotId");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unique, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_shared, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_zero, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_volume, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_errors, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
