/* test-index.c - index.c: chunk index entries and refcounts: the cascade
 * when a page dies, revival of DEAD pages, orphans released by gc. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blockmap.h"
#include "error.h"
#include "index.h"
#include "pack.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096

/* Store @len bytes as a chunk (or a page) and index it with refcount 0,
 * as the snapshot writer does: a new page takes a reference on each child. */
static chunk_id put_chunk(struct fixture *f, bool page, const void *data, size_t len)
{
    struct pack_writer *w = NULL;
    struct chunk_entry e = {0};
    meta_txn *txn = NULL;
    uint8_t *enc = malloc(chunk_encode_bound(len));
    uint32_t flags = page ? CHUNK_PAGE : 0;
    size_t n;
    chunk_id id;

    assert_non_null(enc);
    chunk_hash(f->s, page, data, len, &id);
    n = chunk_encode(data, len, enc, chunk_encode_bound(len), &flags);
    assert_int_equal(pack_writer_open(f->s, false, &w), 0);
    assert_int_equal(pack_writer_append(w, &id, flags, enc, (uint32_t)n, (uint32_t)len, &e.loc), 0);
    assert_int_equal(pack_writer_sync(w), 0);
    pack_writer_close(w);
    free(enc);
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_int_equal(index_put(txn, &id, &e), 0);
    if (page) {
        const chunk_id *kids = data;
        for (uint32_t i = 0; i < BM_FANOUT; i++)
            if (!chunk_id_is_zero(&kids[i]))
                assert_int_equal(index_incref(f->s, txn, &kids[i]), 0);
    }
    assert_int_equal(meta_txn_commit(txn), 0);
    return id;
}

static chunk_id put_data(struct fixture *f, uint64_t seed)
{
    uint8_t buf[CS];

    fill_random(buf, CS, seed);
    return put_chunk(f, false, buf, CS);
}

/* A page naming @ids at positions 0..n-1. */
static chunk_id put_page(struct fixture *f, const chunk_id *ids, size_t n)
{
    chunk_id *page = calloc(BM_FANOUT, sizeof *page);
    chunk_id id;

    assert_non_null(page);
    memcpy(page, ids, n * sizeof *ids);
    id = put_chunk(f, true, page, BM_PAGE_BYTES);
    free(page);
    return id;
}

static uint64_t refs(struct fixture *f, const chunk_id *id)
{
    return entry_of(f, id).refcount;
}

static bool dead(struct fixture *f, const chunk_id *id)
{
    return entry_of(f, id).loc.flags & CHUNK_DEAD;
}

typedef int (*ref_op)(bsnap_store *, meta_txn *, const chunk_id *);

static int apply(struct fixture *f, ref_op op, const chunk_id *id)
{
    meta_txn *txn = NULL;
    int r;

    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    r = op(f->s, txn, id);
    if (r < 0) {
        meta_txn_abort(txn);
        return r;
    }
    return meta_txn_commit(txn);
}

static void test_entry_codec(void **state)
{
    struct chunk_entry in = {.loc = {.pack = 0xdeadbeef,
                                     .flags = CHUNK_LZ4 | CHUNK_DEAD,
                                     .offset = 0x123456789aull,
                                     .stored_len = 77,
                                     .orig_len = 65536},
                             .refcount = 0xfedcba9876543210ull},
                       out;
    uint8_t buf[INDEX_ENTRY_BYTES + 1];

    (void)state;
    index_entry_encode(&in, buf);
    assert_int_equal(index_entry_decode(buf, INDEX_ENTRY_BYTES, &out), 0);
    assert_memory_equal(&in.loc, &out.loc, sizeof in.loc);
    assert_true(in.refcount == out.refcount);
    assert_int_equal(index_entry_decode(buf, INDEX_ENTRY_BYTES - 1, &out), -EIO);
    assert_int_equal(index_entry_decode(buf, INDEX_ENTRY_BYTES + 1, &out), -EIO);
}

static void test_get_put_errors(void **state)
{
    struct fixture *f = *state;
    chunk_id id = {{1}};
    struct chunk_entry e;
    meta_txn *txn = NULL;

    bsnap_error_clear();
    assert_int_equal(index_lookup(f->s, &id, &e), -ENOENT);
    assert_int_equal(bsnap_last_error()->err, 0); /* absence is not recorded */
    assert_error(apply(f, index_incref, &id), -EIO, "Store.Corrupt");
    assert_message_has("not in the index");
    assert_error(apply(f, index_decref, &id), -EIO, "Store.Corrupt");
    assert_error(apply(f, index_release_orphan, &id), -EIO, "Store.Corrupt");
    /* A malformed entry is -EIO naming the chunk. */
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_int_equal(meta_put(txn, T_CHUNKS, id.b, 16, "short", 5), 0);
    assert_error(index_get(txn, &id, &e), -EIO, "Store.Corrupt");
    assert_message_has("01000000000000000000000000000000");
    meta_txn_abort(txn);
}

static void test_refcount_floor(void **state)
{
    struct fixture *f = *state;
    chunk_id c = put_data(f, 1);

    assert_int_equal(refs(f, &c), 0);
    assert_false(dead(f, &c));
    assert_error(apply(f, index_decref, &c), -EIO, "Store.Corrupt");
    assert_message_has("below zero");
    assert_int_equal(apply(f, index_incref, &c), 0);
    assert_int_equal(apply(f, index_incref, &c), 0);
    assert_int_equal(refs(f, &c), 2);
    assert_int_equal(apply(f, index_decref, &c), 0);
    assert_int_equal(refs(f, &c), 1);
    assert_false(dead(f, &c));
    assert_int_equal(apply(f, index_decref, &c), 0);
    assert_int_equal(refs(f, &c), 0);
    assert_true(dead(f, &c));
    /* A DEAD chunk comes back when named again. */
    assert_int_equal(apply(f, index_incref, &c), 0);
    assert_int_equal(refs(f, &c), 1);
    assert_false(dead(f, &c));
}

/* A page's death releases its children, down the tree, and nothing shared. */
static void test_cascade_and_revive(void **state)
{
    struct fixture *f = *state;
    chunk_id c[4], leaf_a, leaf_b, root, kids[2];

    for (int i = 0; i < 4; i++)
        c[i] = put_data(f, 10 + (uint64_t)i);
    /* leaf a names c0 c1 c1 (twice: a reference per naming entry), leaf b
     * names c1 c2 c3 */
    kids[0] = c[0];
    {
        chunk_id la[3] = {c[0], c[1], c[1]}, lb[3] = {c[1], c[2], c[3]};
        leaf_a = put_page(f, la, 3);
        leaf_b = put_page(f, lb, 3);
    }
    assert_int_equal(refs(f, &c[0]), 1);
    assert_int_equal(refs(f, &c[1]), 3);
    assert_int_equal(refs(f, &c[2]), 1);
    kids[0] = leaf_a;
    kids[1] = leaf_b;
    root = put_page(f, kids, 2);
    assert_int_equal(refs(f, &leaf_a), 1);
    assert_int_equal(refs(f, &leaf_b), 1);
    assert_int_equal(refs(f, &root), 0);                /* an orphan until a snapshot names it */
    assert_int_equal(apply(f, index_incref, &root), 0); /* the snapshot's reference */
    /* A second root sharing leaf b only. */
    {
        chunk_id r2kids[1] = {leaf_b};
        chunk_id root2 = put_page(f, r2kids, 1);
        assert_int_equal(apply(f, index_incref, &root2), 0);
        assert_int_equal(refs(f, &leaf_b), 2);

        /* Deleting the first snapshot frees root, leaf a and c0; c1 loses
         * two references (leaf a's), keeps leaf b's. */
        assert_int_equal(apply(f, index_decref, &root), 0);
        assert_true(dead(f, &root));
        assert_true(dead(f, &leaf_a));
        assert_int_equal(refs(f, &leaf_a), 0);
        assert_true(dead(f, &c[0]));
        assert_int_equal(refs(f, &c[1]), 1);
        assert_false(dead(f, &c[1]));
        assert_int_equal(refs(f, &leaf_b), 1);
        assert_false(dead(f, &leaf_b));
        assert_int_equal(refs(f, &c[2]), 1);

        /* Reviving the DEAD root takes every child back. */
        assert_int_equal(apply(f, index_incref, &root), 0);
        assert_false(dead(f, &root));
        assert_false(dead(f, &leaf_a));
        assert_false(dead(f, &c[0]));
        assert_int_equal(refs(f, &leaf_a), 1);
        assert_int_equal(refs(f, &leaf_b), 2);
        assert_int_equal(refs(f, &c[0]), 1);
        assert_int_equal(refs(f, &c[1]), 3);

        /* Both gone: everything is DEAD. */
        assert_int_equal(apply(f, index_decref, &root), 0);
        assert_int_equal(apply(f, index_decref, &root2), 0);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(refs(f, &c[i]), 0);
            assert_true(dead(f, &c[i]));
        }
        assert_true(dead(f, &leaf_b));
        assert_true(dead(f, &root2));
    }
    assert_verify_clean(f); /* DEAD entries are not problems */
}

/* index_incref_many() counts as index_incref() once per id: ids spread over
 * several leaves of the index, given out of order and some repeated, a DEAD
 * page among them taking its children back; an id not in the index fails. */
static void test_incref_many(void **state)
{
    struct fixture *f = *state;
    enum { N = 300, REPEATED = 10 };
    chunk_id c[N], ids[N + 2 * REPEATED + 1], leaf, absent;
    size_t n = 0;
    meta_txn *txn = NULL;

    for (int i = 0; i < N; i++)
        c[i] = put_data(f, 100 + (uint64_t)i);
    leaf = put_page(f, c, 2); /* names c0 and c1 */
    assert_int_equal(apply(f, index_incref, &leaf), 0);
    assert_int_equal(apply(f, index_decref, &leaf), 0); /* DEAD, c0 and c1 released */
    assert_true(dead(f, &leaf));
    assert_true(dead(f, &c[0]));
    for (int i = N - 1; i >= 0; i--)
        ids[n++] = c[i];
    for (int i = 0; i < REPEATED; i++) {
        ids[n++] = c[i];
        ids[n++] = c[i];
    }
    ids[n++] = leaf;
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_int_equal(index_incref_many(f->s, txn, ids, n), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    assert_int_equal(refs(f, &leaf), 1);
    assert_false(dead(f, &leaf));
    assert_int_equal(refs(f, &c[0]), 4); /* three here, one from the revived page */
    assert_int_equal(refs(f, &c[1]), 4);
    assert_false(dead(f, &c[0]));
    for (int i = 2; i < N; i++)
        assert_int_equal(refs(f, &c[i]), i < REPEATED ? 3 : 1);

    fill_random(absent.b, sizeof absent.b, 7);
    ids[0] = c[5];
    ids[1] = absent;
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_error(index_incref_many(f->s, txn, ids, 2), -EIO, "Store.Corrupt");
    assert_message_has("not in the index");
    meta_txn_abort(txn);
    assert_int_equal(refs(f, &c[5]), 3);
}

/* Orphans (refcount 0, never named) hold their children until gc releases
 * them; releasing twice, or a live entry, does nothing. */
static void test_release_orphan(void **state)
{
    struct fixture *f = *state;
    chunk_id c = put_data(f, 1), d = put_data(f, 2), kids[2] = {c, d};
    chunk_id leaf = put_page(f, kids, 2), live = put_page(f, kids, 1);

    assert_int_equal(apply(f, index_incref, &live), 0);
    assert_int_equal(refs(f, &c), 2);
    assert_int_equal(apply(f, index_release_orphan, &leaf), 0);
    assert_true(dead(f, &leaf));
    assert_int_equal(refs(f, &c), 1);
    assert_int_equal(refs(f, &d), 0);
    assert_true(dead(f, &d));
    assert_int_equal(apply(f, index_release_orphan, &leaf), 0); /* again: no-op */
    assert_int_equal(refs(f, &c), 1);
    assert_int_equal(apply(f, index_release_orphan, &live), 0); /* live: no-op */
    assert_int_equal(refs(f, &live), 1);
    assert_false(dead(f, &live));
    assert_int_equal(refs(f, &c), 1);
    /* Dropping the last reference leaves a store that verifies. */
    assert_int_equal(apply(f, index_decref, &live), 0);
    assert_true(dead(f, &c));
    assert_verify_clean(f);
}

/* A page whose record is missing: the cascade fails with -EIO and the
 * transaction is not committed. */
static void test_cascade_missing_page(void **state)
{
    struct fixture *f = *state;
    chunk_id c = put_data(f, 1), leaf = put_page(f, &c, 1);
    struct chunk_entry e = entry_of(f, &leaf);
    char *p;

    assert_int_equal(apply(f, index_incref, &leaf), 0);
    fixture_reopen(f); /* an empty page cache */
    p = pack_path(f->s, e.loc.pack);
    assert_int_equal(truncate(p, (off_t)e.loc.offset), 0);
    free(p);
    assert_error(apply(f, index_decref, &leaf), -EIO, "Store.Corrupt");
    assert_int_equal(refs(f, &leaf), 1); /* nothing changed */
    assert_int_equal(refs(f, &c), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_codec),
        cmocka_unit_test_setup_teardown(test_get_put_errors, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_refcount_floor, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_cascade_and_revive, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_incref_many, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_release_orphan, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_cascade_missing_page, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
