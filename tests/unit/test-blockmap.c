/* test-blockmap.c - blockmap.c: depth and span, page ids, build, lookup,
 * next data/hole, diff of trees of different depths, the page cache and
 * pages that are missing or damaged. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blockmap.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096u

static void test_depth_span(void **state)
{
    (void)state;
    assert_int_equal(bm_depth_for(0), 0);
    assert_int_equal(bm_depth_for(1), 1);
    assert_int_equal(bm_depth_for(BM_FANOUT), 1);
    assert_int_equal(bm_depth_for(BM_FANOUT + 1), 2);
    assert_int_equal(bm_depth_for((uint64_t)BM_FANOUT * BM_FANOUT), 2);
    assert_int_equal(bm_depth_for((uint64_t)BM_FANOUT * BM_FANOUT + 1), 3);
    assert_int_equal(bm_depth_for(UINT64_MAX), 6); /* 4096^5 = 2^60 */
    assert_int_equal(bm_span(0), 1);
    assert_int_equal(bm_span(1), BM_FANOUT);
    assert_int_equal(bm_span(2), (uint64_t)BM_FANOUT * BM_FANOUT);
    assert_true(bm_span(5) == 1ull << 60);
    assert_true(bm_span(6) == UINT64_MAX); /* saturates */
    assert_true(bm_span(100) == UINT64_MAX);
}

/* ---- bm_build with an in-memory page sink ---- */

struct sink {
    size_t calls;
    chunk_id last;
    int fail_at; /* 0: never */
};

static int sink_page(void *ud, const chunk_id *page, chunk_id *ret_id)
{
    struct sink *k = ud;

    assert_false(mem_is_zero(page, BM_PAGE_BYTES)); /* zero pages are never stored */
    if (k->fail_at && (int)k->calls + 1 == k->fail_at)
        return -EIO;
    k->calls++;
    /* a fake id: the first 16 bytes of the page, made non-zero */
    memcpy(ret_id, page, sizeof *ret_id);
    ret_id->b[15] ^= 0x80;
    k->last = *ret_id;
    return 0;
}

static void test_build(void **state)
{
    const uint64_t n = BM_FANOUT + 1;
    chunk_id *leaves = calloc(n, sizeof *leaves), root;
    struct sink k = {0};

    (void)state;
    /* depth 1: the single leaf is the root; nothing is stored */
    leaves[0].b[0] = 7;
    assert_int_equal(bm_build(leaves, 1, 1, sink_page, &k, &root), 0);
    assert_true(chunk_id_eq(&root, &leaves[0]));
    assert_int_equal(k.calls, 0);
    /* empty */
    assert_int_equal(bm_build(leaves, 0, 0, sink_page, &k, &root), 0);
    assert_true(chunk_id_is_zero(&root));
    /* depth 2 over 4096 leaves: one inner page */
    assert_int_equal(bm_build(leaves, BM_FANOUT, 2, sink_page, &k, &root), 0);
    assert_int_equal(k.calls, 1);
    assert_true(chunk_id_eq(&root, &k.last));
    /* too many leaves for the depth */
    k.calls = 0;
    assert_int_equal(bm_build(leaves, n, 2, sink_page, &k, &root), -EINVAL);
    /* depth 3 over 4097 leaves: two level-2 pages, one of them zero (leaf
     * 4096 is zero), so 1 + root */
    k.calls = 0;
    assert_int_equal(bm_build(leaves, n, 3, sink_page, &k, &root), 0);
    assert_int_equal(k.calls, 2);
    leaves[BM_FANOUT].b[3] = 1;
    k.calls = 0;
    assert_int_equal(bm_build(leaves, n, 3, sink_page, &k, &root), 0);
    assert_int_equal(k.calls, 3);
    /* all-zero leaves: a zero root, nothing stored */
    memset(leaves, 0, n * sizeof *leaves);
    k.calls = 0;
    assert_int_equal(bm_build(leaves, n, 3, sink_page, &k, &root), 0);
    assert_true(chunk_id_is_zero(&root));
    assert_int_equal(k.calls, 0);
    /* the sink's error is passed up */
    leaves[0].b[0] = 1;
    k.fail_at = 1;
    assert_int_equal(bm_build(leaves, n, 3, sink_page, &k, &root), -EIO);
    free(leaves);
}

/* ---- trees from real snapshots ---- */

/* A 4 KiB-chunk volume file of @n chunks with data (seeded idx + 1) at
 * @idx[]; returns its path. */
static char *volume_with(struct fixture *f, const char *name, uint64_t n, const uint64_t *idx,
                         size_t nidx)
{
    char *vol = volume_create(f, name, n * CS);

    for (size_t i = 0; i < nidx; i++)
        chunk_write(vol, CS, idx[i], idx[i] + 1);
    return vol;
}

static void test_lookup(void **state)
{
    struct fixture *f = *state;
    const uint64_t data[] = {0, 5, BM_FANOUT - 1, BM_FANOUT, 2 * BM_FANOUT + 3};
    const uint64_t n = 2 * BM_FANOUT + 10;
    char *vol = volume_with(f, "v.img", n, data, ARRAY_SIZE(data)), id[BSNAP_ID_MAX];
    struct bm_tree t;
    chunk_id got, want, leaf;
    uint8_t buf[CS];

    snap_path(f, vol, id);
    snap_tree(f, id, &t);
    assert_int_equal(t.depth, 2);
    assert_int_equal(t.nchunks, n);
    for (size_t i = 0; i < ARRAY_SIZE(data); i++) {
        fill_random(buf, CS, data[i] + 1);
        chunk_hash(f->s, false, buf, CS, &want);
        assert_int_equal(bm_lookup(f->s, NULL, &t, data[i], 0, &got), 0);
        assert_true(chunk_id_eq(&got, &want));
        /* the leaf covering it holds it at its position */
        assert_int_equal(bm_lookup(f->s, NULL, &t, data[i], 1, &leaf), 0);
        assert_false(chunk_id_is_zero(&leaf));
        assert_false(chunk_id_eq(&leaf, &want));
        assert_true(entry_of(f, &leaf).loc.flags & CHUNK_PAGE);
    }
    assert_int_equal(bm_lookup(f->s, NULL, &t, 6, 0, &got), 0);
    assert_true(chunk_id_is_zero(&got)); /* a hole */
    assert_int_equal(bm_lookup(f->s, NULL, &t, n, 0, &got), 0);
    assert_true(chunk_id_is_zero(&got)); /* past the end */
    assert_int_equal(bm_lookup(f->s, NULL, &t, 0, 2, &got), 0);
    assert_true(chunk_id_eq(&got, &t.root)); /* the top level is the root */
    /* bm_load_leaf gives the same ids */
    {
        chunk_id *page = malloc(BM_PAGE_BYTES);
        assert_int_equal(bm_load_leaf(f->s, NULL, &t, 0, page), 0);
        fill_random(buf, CS, 6);
        chunk_hash(f->s, false, buf, CS, &want);
        assert_true(chunk_id_eq(&page[5], &want));
        assert_true(chunk_id_is_zero(&page[6]));
        assert_int_equal(bm_load_leaf(f->s, NULL, &t, 7, page), 0); /* past the tree */
        assert_true(mem_is_zero(page, BM_PAGE_BYTES));
        free(page);
    }
    free(vol);
}

static uint64_t next(struct fixture *f, const struct bm_tree *t, uint64_t idx, bool data)
{
    uint64_t out = UINT64_MAX;
    int r = bm_next(f->s, t, idx, data, &out);

    if (r == -ENXIO)
        return UINT64_MAX;
    assert_int_equal(r, 0);
    return out;
}

#define NONE UINT64_MAX

/* bm_next: the first data (non-zero) or hole (zero) chunk at or after an
 * index, below nchunks; -ENXIO when there is none. */
static void test_next(void **state)
{
    struct fixture *f = *state;
    /* data: 5, 4100-4101, and the whole third leaf but its last chunk */
    const uint64_t n = 3 * BM_FANOUT + 2;
    uint64_t *data = malloc((BM_FANOUT + 8) * sizeof *data);
    size_t nd = 0;
    char *vol, id[BSNAP_ID_MAX];
    struct bm_tree t;

    data[nd++] = 5;
    data[nd++] = BM_FANOUT + 4;
    data[nd++] = BM_FANOUT + 5;
    for (uint64_t i = 2 * BM_FANOUT; i < 3 * BM_FANOUT - 1; i++)
        data[nd++] = i;
    data[nd++] = 3 * BM_FANOUT + 1; /* the very last chunk */
    vol = volume_with(f, "v.img", n, data, nd);
    snap_path(f, vol, id);
    snap_tree(f, id, &t);
    assert_int_equal(t.depth, 2);

    assert_int_equal(next(f, &t, 0, true), 5);
    assert_int_equal(next(f, &t, 5, true), 5);
    assert_int_equal(next(f, &t, 6, true), BM_FANOUT + 4);
    assert_int_equal(next(f, &t, BM_FANOUT + 6, true), 2 * BM_FANOUT);
    assert_int_equal(next(f, &t, 3 * BM_FANOUT - 1, true), 3 * BM_FANOUT + 1);
    assert_int_equal(next(f, &t, 3 * BM_FANOUT + 1, true), 3 * BM_FANOUT + 1);
    assert_int_equal(next(f, &t, n, true), NONE);

    assert_int_equal(next(f, &t, 0, false), 0);
    assert_int_equal(next(f, &t, 5, false), 6);
    assert_int_equal(next(f, &t, BM_FANOUT + 4, false), BM_FANOUT + 6);
    assert_int_equal(next(f, &t, 2 * BM_FANOUT, false), 3 * BM_FANOUT - 1);
    assert_int_equal(next(f, &t, 3 * BM_FANOUT - 1, false), 3 * BM_FANOUT - 1);
    assert_int_equal(next(f, &t, 3 * BM_FANOUT + 1, false), NONE); /* data to the end */
    assert_int_equal(next(f, &t, n + 100, false), NONE);
    free(vol);
    free(data);

    /* An all-data volume has no hole; an all-hole volume no data. */
    {
        const uint64_t all[3] = {0, 1, 2};
        char *v2 = volume_with(f, "w.img", 3, all, 3), id2[BSNAP_ID_MAX];
        struct bm_tree t2;
        snap_path(f, v2, id2);
        snap_tree(f, id2, &t2);
        assert_int_equal(next(f, &t2, 0, false), NONE);
        assert_int_equal(next(f, &t2, 2, true), 2);
        free(v2);
        v2 = volume_with(f, "h.img", BM_FANOUT * 2, NULL, 0);
        snap_path(f, v2, id2);
        snap_tree(f, id2, &t2);
        assert_true(chunk_id_is_zero(&t2.root));
        assert_int_equal(next(f, &t2, 0, true), NONE);
        assert_int_equal(next(f, &t2, 4097, false), 4097);
        free(v2);
    }
    {
        struct bm_tree empty = {0};
        assert_int_equal(next(f, &empty, 0, true), NONE);
        assert_int_equal(next(f, &empty, 0, false), NONE);
    }
}

struct diffs {
    uint64_t idx[64];
    size_t n;
};

static int diff_collect(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b)
{
    struct diffs *d = ud;

    assert_false(chunk_id_eq(a, b));
    if (d->n > 0)
        assert_true(idx > d->idx[d->n - 1]); /* increasing */
    assert_true(d->n < ARRAY_SIZE(d->idx));
    d->idx[d->n++] = idx;
    return 0;
}

static struct diffs diff(struct fixture *f, const struct bm_tree *a, const struct bm_tree *b)
{
    struct diffs d = {{0}, 0};

    assert_int_equal(bm_diff(f->s, a, b, diff_collect, &d), 0);
    return d;
}

/* Diff of trees of different depths: a volume that grew past 4096 chunks. */
static void test_diff_depths(void **state)
{
    struct fixture *f = *state;
    const uint64_t small[] = {1, 50, 99};
    char *vol = volume_with(f, "v.img", 100, small, 3), a[BSNAP_ID_MAX], b[BSNAP_ID_MAX];
    struct bm_tree ta, tb;
    struct diffs d;

    snap_path(f, vol, a);
    snap_tree(f, a, &ta);
    assert_int_equal(ta.depth, 1);
    /* same tree: nothing */
    d = diff(f, &ta, &ta);
    assert_int_equal(d.n, 0);
    /* from nothing: every data chunk */
    d = diff(f, NULL, &ta);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.idx[0], 1);
    assert_int_equal(d.idx[2], 99);

    /* grow to depth 2; change chunk 50, zero chunk 99, add data at 4500
     * and at the last chunk */
    volume_resize(vol, (2 * BM_FANOUT + 7) * CS);
    chunk_write(vol, CS, 50, 5050);
    {
        uint8_t zero[CS] = {0};
        int fd = open(vol, O_WRONLY);
        assert_int_equal(pwrite(fd, zero, CS, 99 * CS), CS);
        close(fd);
    }
    chunk_write(vol, CS, 4500, 4500);
    chunk_write(vol, CS, 2 * BM_FANOUT + 6, 1);
    snap_path(f, vol, b);
    snap_tree(f, b, &tb);
    assert_int_equal(tb.depth, 2);

    d = diff(f, &ta, &tb);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.idx[0], 50);
    assert_int_equal(d.idx[1], 99);
    assert_int_equal(d.idx[2], 4500);
    assert_int_equal(d.idx[3], 2 * BM_FANOUT + 6);
    /* the other way round: the same indexes */
    d = diff(f, &tb, &ta);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.idx[0], 50);
    assert_int_equal(d.idx[3], 2 * BM_FANOUT + 6);

    /* An unchanged shallow tree inside a deep one: only the new part. */
    {
        const uint64_t none[1] = {0};
        char *v2 = volume_with(f, "w.img", 10, none, 0), c[BSNAP_ID_MAX], e[BSNAP_ID_MAX];
        struct bm_tree tc, te;
        chunk_write(v2, CS, 3, 3);
        snap_path(f, v2, c);
        volume_resize(v2, (BM_FANOUT + 20) * CS);
        chunk_write(v2, CS, BM_FANOUT + 19, 19);
        snap_path(f, v2, e);
        snap_tree(f, c, &tc);
        snap_tree(f, e, &te);
        d = diff(f, &tc, &te);
        assert_int_equal(d.n, 1);
        assert_int_equal(d.idx[0], BM_FANOUT + 19);
        free(v2);
    }
    free(vol);
}

static int diff_stop(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b)
{
    (void)ud;
    (void)idx;
    (void)a;
    (void)b;
    return -EINTR;
}

static void test_diff_stop(void **state)
{
    struct fixture *f = *state;
    const uint64_t data[] = {1, 2};
    char *vol = volume_with(f, "v.img", 10, data, 2), a[BSNAP_ID_MAX];
    struct bm_tree t;

    snap_path(f, vol, a);
    snap_tree(f, a, &t);
    assert_int_equal(bm_diff(f->s, NULL, &t, diff_stop, NULL), -EINTR);
    free(vol);
}

/* Pages come from the index; a missing or damaged page is -EIO, recorded,
 * never zeros. */
static void test_missing_and_damaged_page(void **state)
{
    struct fixture *f = *state;
    const uint64_t data[] = {3, BM_FANOUT + 3};
    char *vol = volume_with(f, "v.img", BM_FANOUT + 10, data, 2), a[BSNAP_ID_MAX];
    struct bm_tree t;
    chunk_id leaf, got, *page = malloc(BM_PAGE_BYTES);
    struct chunk_entry e;
    meta_txn *txn = NULL;
    char hex[33];

    snap_path(f, vol, a);
    snap_tree(f, a, &t);
    assert_int_equal(bm_lookup(f->s, NULL, &t, BM_FANOUT + 3, 1, &leaf), 0);
    e = entry_of(f, &leaf);
    chunk_id_hex(&leaf, hex);

    /* cached pages keep answering without the pack */
    assert_int_equal(bm_page_load(f->s, NULL, &leaf, page), 0);
    fixture_reopen(f);
    /* damaged record */
    pack_flip(f, e.loc.pack, e.loc.offset + PACK_RECORD_HEADER_BYTES + 5);
    assert_error(bm_page_load(f->s, NULL, &leaf, page), -EIO, "Store.Corrupt");
    assert_message_has(hex);
    assert_error(bm_lookup(f->s, NULL, &t, BM_FANOUT + 3, 0, &got), -EIO, "Store.Corrupt");
    {
        uint64_t out;
        assert_error(bm_next(f->s, &t, BM_FANOUT, true, &out), -EIO, "Store.Corrupt");
    }
    pack_flip(f, e.loc.pack, e.loc.offset + PACK_RECORD_HEADER_BYTES + 5);
    /* missing from the index */
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_int_equal(meta_del(txn, T_CHUNKS, leaf.b, 16), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    assert_error(bm_page_load(f->s, NULL, &leaf, page), -EIO, "Store.Corrupt");
    assert_message_has("not in the index");
    assert_message_has(hex);
    /* a data chunk is not a page */
    assert_int_equal(bm_lookup(f->s, NULL, &t, 3, 0, &got), 0);
    assert_error(bm_page_load(f->s, NULL, &got, page), -EIO, "Store.Corrupt");
    assert_message_has("not a page");
    /* the zero id is the zero page, without a lookup */
    assert_int_equal(bm_page_load(f->s, NULL, &(chunk_id){{0}}, page), 0);
    assert_true(mem_is_zero(page, BM_PAGE_BYTES));
    free(page);
    free(vol);
}

/* The page cache evicts (256 pages, 4-way) and stays correct. */
static void test_page_cache_pressure(void **state)
{
    struct fixture *f = *state;
    const uint64_t leaves = 300;
    const uint64_t n = leaves * BM_FANOUT; /* 300 leaves: more than the cache */
    char *vol = volume_create(f, "v.img", n * CS), a[BSNAP_ID_MAX];
    struct bm_tree t;
    uint8_t buf[CS];

    for (uint64_t l = 0; l < leaves; l++)
        chunk_write(vol, CS, l * BM_FANOUT + l % 7, l + 1);
    snap_path(f, vol, a);
    snap_tree(f, a, &t);
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t l = 0; l < leaves; l++) {
            chunk_id got, want;
            fill_random(buf, CS, l + 1);
            chunk_hash(f->s, false, buf, CS, &want);
            assert_int_equal(bm_lookup(f->s, NULL, &t, l * BM_FANOUT + l % 7, 0, &got), 0);
            assert_true(chunk_id_eq(&got, &want));
        }
    }
    {
        struct page_cache *c = NULL;
        assert_int_equal(page_cache_new(0, &c), 0); /* at least one set */
        page_cache_free(c);
        page_cache_free(NULL);
    }
    free(vol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_span),
        cmocka_unit_test(test_build),
        cmocka_unit_test_setup_teardown(test_lookup, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_next, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_diff_depths, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_diff_stop, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_missing_and_damaged_page, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_page_cache_pressure, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
