/* test-snapshot.c - snapshot.c: the create pipeline: what it stores,
 * incremental and changed-block modes, option errors, and what a failure
 * or a crash in the middle leaves (nothing verify objects to, nothing gc
 * cannot reclaim). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blockmap.h"
#include "catalog.h"
#include "record.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096u

static void root_of(struct fixture *f, const char *id, chunk_id *ret)
{
    struct snapshot_rec rec = {0};

    snap_record(f, id, &rec);
    *ret = rec.root;
    snapshot_rec_clear(&rec);
}

/* A full snapshot: what it reads, stores and records. */
static void test_full_snapshot(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "v.img", 64 * CS + 100); /* a partial last chunk */
    char id[BSNAP_ID_MAX];
    bsnap_snapshot_stats st;
    bsnap_snapshot_info info;
    struct index_counts ic;

    chunk_write(vol, CS, 0, 1);
    chunk_write(vol, CS, 10, 2);
    chunk_write(vol, CS, 11, 2); /* same bytes as chunk 10: stored once */
    volume_write(vol, 64 * CS, 100, 3);
    st = snap_path(f, vol, id);
    assert_true(id_valid(id, "snap"));
    assert_int_equal(st.volume_bytes, 64 * CS + 100);
    assert_int_equal(st.new_chunks, 3); /* three distinct chunks */
    assert_int_equal(st.new_pages, 1);  /* and one leaf page */
    assert_int_equal(st.reused_chunks, 1);
    assert_int_equal(st.zero_chunks, 65 - 4);
    assert_true(st.read_bytes <= 64 * CS + 100);
    assert_true(st.new_bytes > 2 * CS); /* two random chunks, raw */

    assert_int_equal(bsnap_snapshot_get(f->s, id, &info), 0);
    assert_int_equal(info.state, BSNAP_SNAPSHOT_COMPLETED);
    assert_int_equal(info.size, 64 * CS + 100);
    assert_int_equal(info.chunk_size, CS);
    assert_int_equal(info.data_chunks, 4);
    assert_string_equal(info.parent_id, "");
    assert_true(id_valid(info.volume_id, "vol"));

    ic = index_count(f);
    assert_int_equal(ic.entries, 4);
    assert_int_equal(ic.pages, 1);
    assert_int_equal(ic.dead, 0);
    assert_int_equal(ic.orphans, 0);
    assert_verify_clean(f);
    assert_restores_to(f, id, vol);
    free(vol);
}

/* The second snapshot of an unchanged volume writes nothing and shares the
 * first one's root; a one-chunk change writes the chunk and the pages on
 * its path, nothing else. */
static void test_incremental(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = 3 * BM_FANOUT + 17; /* depth 2 */
    char *vol = volume_create(f, "v.img", n * CS);
    char a[BSNAP_ID_MAX], b[BSNAP_ID_MAX], c[BSNAP_ID_MAX];
    bsnap_snapshot_stats st;
    bsnap_snapshot_info info;
    chunk_id ra, rb, rc;

    for (uint64_t i = 0; i < n; i += 97)
        chunk_write(vol, CS, i, i + 1);
    snap_path(f, vol, a);
    st = snap_path(f, vol, b);
    assert_int_equal(st.new_chunks, 0);
    assert_int_equal(st.new_bytes, 0);
    assert_int_equal(bsnap_snapshot_get(f->s, b, &info), 0);
    assert_string_equal(info.parent_id, a);
    root_of(f, a, &ra);
    root_of(f, b, &rb);
    assert_true(chunk_id_eq(&ra, &rb));

    chunk_write(vol, CS, 2 * BM_FANOUT + 5, 999);
    st = snap_path(f, vol, c);
    assert_int_equal(st.new_chunks, 1); /* the chunk */
    assert_int_equal(st.new_pages, 2);  /* its leaf, the root */
    root_of(f, c, &rc);
    assert_false(chunk_id_eq(&ra, &rc));
    assert_verify_clean(f);
    assert_restores_to(f, c, vol);
    free(vol);
}

/* An all-zero volume (written zeros, not holes) stores nothing at all: the
 * zero chunk is never stored. */
static void test_zero_volume(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "z.img", 0), id[BSNAP_ID_MAX];
    uint8_t *zeros = calloc(1, 300 * CS);
    bsnap_snapshot_stats st;
    bsnap_snapshot_info info;
    bsnap_store_info si;
    chunk_id root;
    int fd = open(vol, O_WRONLY);

    assert_int_equal(pwrite(fd, zeros, 300 * CS, 0), 300 * CS);
    close(fd);
    free(zeros);
    st = snap_path(f, vol, id);
    assert_int_equal(st.new_chunks, 0);
    assert_int_equal(st.zero_chunks, 300);
    assert_int_equal(st.read_bytes, 300 * CS);
    root_of(f, id, &root);
    assert_true(chunk_id_is_zero(&root));
    assert_int_equal(bsnap_snapshot_get(f->s, id, &info), 0);
    assert_int_equal(info.data_chunks, 0);
    assert_int_equal(bsnap_store_get_info(f->s, &si), 0);
    assert_int_equal(si.chunk_count, 0);
    assert_verify_clean(f);
    assert_restores_to(f, id, vol);
    free(vol);
}

static void test_empty_volume(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "e.img", 0), id[BSNAP_ID_MAX];
    bsnap_snapshot_stats st = snap_path(f, vol, id);
    struct snapshot_rec rec = {0};

    assert_int_equal(st.volume_bytes, 0);
    assert_int_equal(st.new_chunks, 0);
    snap_record(f, id, &rec);
    assert_int_equal(rec.depth, 0);
    assert_int_equal(rec.size, 0);
    snapshot_rec_clear(&rec);
    assert_verify_clean(f);
    assert_restores_to(f, id, vol);
    free(vol);
}

/* LZ4 is kept only where it shrinks the chunk. */
static void test_compression_choice(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "c.img", 4 * CS), id[BSNAP_ID_MAX];
    uint8_t text[CS];
    int fd = open(vol, O_WRONLY);
    chunk_id cid;
    struct chunk_entry e;

    for (size_t i = 0; i < CS; i++)
        text[i] = (uint8_t)("lorem ipsum "[i % 12]);
    assert_int_equal(pwrite(fd, text, CS, 0), CS);
    close(fd);
    chunk_write(vol, CS, 1, 5); /* random */
    snap_path(f, vol, id);
    chunk_hash(f->s, false, text, CS, &cid);
    e = entry_of(f, &cid);
    assert_true(e.loc.flags & CHUNK_LZ4);
    assert_true(e.loc.stored_len < CS / 4);
    {
        uint8_t rnd[CS];
        fill_random(rnd, CS, 5);
        chunk_hash(f->s, false, rnd, CS, &cid);
    }
    e = entry_of(f, &cid);
    assert_false(e.loc.flags & CHUNK_LZ4);
    assert_int_equal(e.loc.stored_len, CS);
    assert_restores_to(f, id, vol);
    free(vol);
}

/* Changed-block mode reads only the listed ranges and must give the same
 * tree as a scan, also when the volume grew or shrank. */
static void changed_equals_scan(struct fixture *f, uint64_t n0, uint64_t n1)
{
    char *vol = volume_create(f, "v.img", n0 * CS);
    char base[BSNAP_ID_MAX], scan[BSNAP_ID_MAX], chg[BSNAP_ID_MAX];
    bsnap_range ranges[4];
    size_t nr = 0;
    chunk_id rs, rc;
    bsnap_snapshot_stats st;

    for (uint64_t i = 0; i < n0; i += 50)
        chunk_write(vol, CS, i, i + 7);
    snap_path(f, vol, base);
    /* change: an unaligned range in the middle, a whole chunk near the end */
    volume_write(vol, 5 * CS + 100, 2 * CS, 1234);
    ranges[nr++] = (bsnap_range){5 * CS + 100, 2 * CS};
    {
        /* a data chunk that became zeros (written, not a hole) */
        uint8_t zero[CS] = {0};
        int fd = open(vol, O_WRONLY);
        assert_int_equal(pwrite(fd, zero, CS, 50 * CS), CS);
        close(fd);
        ranges[nr++] = (bsnap_range){50 * CS, CS};
    }
    if (n1 != n0)
        volume_resize(vol, n1 * CS);
    chunk_write(vol, CS, n1 - 2, 4321);
    ranges[nr++] = (bsnap_range){(n1 - 2) * CS, CS};
    {
        bsnap_snapshot_options o = {.volume_path = vol, .parent_id = base};
        snap_opts(f, &o, scan);
    }
    {
        bsnap_snapshot_options o = {
            .volume_path = vol, .parent_id = base, .changed = ranges, .nchanged = nr};
        st = snap_opts(f, &o, chg);
    }
    if (n1 == n0)
        assert_true(st.read_bytes <= 5 * CS); /* only the listed chunks */
    root_of(f, scan, &rs);
    root_of(f, chg, &rc);
    assert_true(chunk_id_eq(&rs, &rc));
    {
        bsnap_snapshot_info a, b;
        assert_int_equal(bsnap_snapshot_get(f->s, scan, &a), 0);
        assert_int_equal(bsnap_snapshot_get(f->s, chg, &b), 0);
        assert_int_equal(a.data_chunks, b.data_chunks);
        assert_int_equal(b.size, n1 * CS);
        assert_string_equal(b.parent_id, base);
    }
    assert_verify_clean(f);
    assert_restores_to(f, chg, vol);
    free(vol);
}

static void test_changed_blocks_same_size(void **state)
{
    changed_equals_scan(*state, 2 * BM_FANOUT + 10, 2 * BM_FANOUT + 10);
}

static void test_changed_blocks_grown(void **state)
{
    changed_equals_scan(*state, 100, BM_FANOUT + 300); /* depth 1 -> 2 */
}

static void test_changed_blocks_shrunk(void **state)
{
    changed_equals_scan(*state, BM_FANOUT + 300, 200);
}

/* The summary's counts add up in every mode: each chunk of the volume is
 * new, reused or zero, once; block-map pages are counted apart. */
static void assert_counts(const bsnap_snapshot_stats *st, uint64_t n, uint64_t new_chunks,
                          uint64_t reused, uint64_t pages)
{
    assert_int_equal(st->new_chunks, new_chunks);
    assert_int_equal(st->reused_chunks, reused);
    assert_int_equal(st->zero_chunks, n - new_chunks - reused);
    assert_int_equal(st->new_pages, pages);
}

static void test_counts_add_up(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = 3 * BM_FANOUT + 10; /* four leaves (the last all zero) */
    char *vol = volume_create(f, "v.img", n * CS);
    char a[BSNAP_ID_MAX], b[BSNAP_ID_MAX], c[BSNAP_ID_MAX], d[BSNAP_ID_MAX];
    uint64_t data = 0;
    bsnap_snapshot_stats st;
    bsnap_snapshot_info info;

    for (uint64_t i = 0; i < n; i += 50, data++)
        chunk_write(vol, CS, i, i + 1);
    chunk_write(vol, CS, 3, 1);            /* chunk 0's bytes again: reused within the run */
    st = snap_path(f, vol, a);             /* full */
    assert_counts(&st, n, data, 1, 3 + 1); /* an all-zero leaf is not stored */
    assert_int_equal(bsnap_snapshot_get(f->s, a, &info), 0);
    assert_int_equal(info.data_chunks, data + 1);

    st = snap_path(f, vol, b); /* rescan against the parent: nothing new */
    assert_counts(&st, n, 0, data + 1, 0);

    /* changed blocks: one chunk of the second leaf rewritten, one zero
     * chunk of the first given data; the third leaf comes whole from the
     * parent, the last (partial) one chunk by chunk */
    chunk_write(vol, CS, BM_FANOUT + 4, 777); /* 4100: a data chunk */
    chunk_write(vol, CS, 7, 778);
    {
        bsnap_range ranges[2] = {{7 * CS, CS}, {(BM_FANOUT + 4) * CS, CS}};
        bsnap_snapshot_options o = {
            .volume_path = vol, .parent_id = b, .changed = ranges, .nchanged = 2};
        st = snap_opts(f, &o, c);
    }
    assert_counts(&st, n, 2, data, 2 + 1);
    assert_int_equal(bsnap_snapshot_get(f->s, c, &info), 0);
    assert_int_equal(info.data_chunks, data + 2);

    st = snap_path(f, vol, d); /* a full read of the same volume: all reused */
    assert_counts(&st, n, 0, data + 2, 0);
    {
        bsnap_snapshot_options o = {.volume_path = vol, .full = true};
        st = snap_opts(f, &o, d);
    }
    assert_counts(&st, n, 0, data + 2, 0);
    assert_verify_clean(f);
    assert_restores_to(f, c, vol);
    free(vol);
}

static void test_changed_blocks_errors(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "v.img", 10 * CS), id[BSNAP_ID_MAX], base[BSNAP_ID_MAX];
    bsnap_range past = {9 * CS, 2 * CS}, unsorted[2] = {{5 * CS, CS}, {0, CS}},
                overlap[2] = {{0, 2 * CS}, {CS, CS}}, empty = {0, 0};
    bsnap_snapshot_options o = {.volume_path = vol, .changed = &past, .nchanged = 1};

    chunk_write(vol, CS, 1, 1);
    /* no parent yet */
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "MissingParameter");
    snap_path(f, vol, base);
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "InvalidParameterValue");
    o.changed = unsorted;
    o.nchanged = 2;
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "InvalidParameterValue");
    o.changed = overlap;
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "InvalidParameterValue");
    o.changed = &empty;
    o.nchanged = 1;
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "InvalidParameterValue");
    o.full = true;
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "MissingParameter");
    assert_int_equal(snapshot_count(f), 1); /* nothing left behind */
    assert_verify_clean(f);
    free(vol);
}

/* A changed-block list that names its base (a diff's header) is taken only
 * against that parent: against another it would keep the parent's data
 * where the volume changed since. */
static void test_changed_blocks_base(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "v.img", 10 * CS), a[BSNAP_ID_MAX], b[BSNAP_ID_MAX],
         c[BSNAP_ID_MAX];
    bsnap_range one = {3 * CS, CS};
    bsnap_snapshot_options o = {.volume_path = vol, .changed = &one, .nchanged = 1};

    chunk_write(vol, CS, 1, 1);
    snap_path(f, vol, a);
    chunk_write(vol, CS, 3, 2);
    snap_path(f, vol, b); /* the volume's parent is now b */
    chunk_write(vol, CS, 3, 3);
    o.changed_base = a; /* "what changed from a": not since b */
    assert_error(bsnap_snapshot_create(f->s, &o, c, NULL), -EINVAL, "InvalidParameterCombination");
    assert_message_has(a);
    assert_message_has(b);
    o.changed_base = "-"; /* one snapshot's data ranges */
    assert_error(bsnap_snapshot_create(f->s, &o, c, NULL), -EINVAL, "InvalidParameterCombination");
    o.parent_id = a; /* an explicit parent is checked the same way */
    o.changed_base = b;
    assert_error(bsnap_snapshot_create(f->s, &o, c, NULL), -EINVAL, "InvalidParameterCombination");
    assert_int_equal(snapshot_count(f), 2);
    assert_verify_clean(f);

    /* The list's base is the parent: taken, and right. */
    o.parent_id = NULL;
    o.changed_base = b;
    snap_opts(f, &o, c);
    assert_restores_to(f, c, vol);
    /* No base (a plain list, or "" from a list without a header): taken. */
    chunk_write(vol, CS, 3, 4);
    o.changed_base = "";
    snap_opts(f, &o, c);
    assert_restores_to(f, c, vol);
    /* A parent of the same contents as the base (taken with nothing written
     * in between) will do as well. */
    snap_path(f, vol, a);
    chunk_write(vol, CS, 3, 5);
    o.changed_base = c;
    snap_opts(f, &o, b);
    assert_restores_to(f, b, vol);
    free(vol);
}

/* Runs as the final progress report, after the last read and before the
 * snapshot is recorded: changes the volume the way @ud says. */
struct volume_change {
    const char *vol, *other;
    uint64_t size; /* resize to this, or rename @other over @vol */
    int calls;
};

static void change_volume(void *ud, uint64_t done, uint64_t total)
{
    struct volume_change *c = ud;

    if (done < total || c->calls++ > 0)
        return;
    if (c->other)
        assert_int_equal(rename(c->other, c->vol), 0);
    else
        volume_resize(c->vol, c->size);
}

/* A volume that is resized or replaced while it is read gives no snapshot
 * (it would match neither its old nor its new contents), and the store is
 * as before. */
static void test_volume_changed(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "v.img", 64 * CS), *other = path_in(f->dir, "other.img"),
         id[BSNAP_ID_MAX];
    struct volume_change shrink = {vol, NULL, 10 * CS, 0}, grow = {vol, NULL, 100 * CS, 0},
                         replace = {vol, other, 0, 0};
    struct volume_change *cases[] = {&shrink, &grow, &replace};
    const char *words[] = {"shrank", "grew", "replaced"};
    bsnap_store_info before, after;
    bsnap_gc_stats gs;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bsnap_snapshot_options o = {.volume_path = vol, .threads = 2};
        volume_resize(vol, 64 * CS);
        for (uint64_t k = 0; k < 64; k += 2)
            chunk_write(vol, CS, k, 100 * i + k);
        if (cases[i] == &replace) {
            char *ot = volume_create(f, "other.img", 64 * CS);
            chunk_write(ot, CS, 5, 5);
            free(ot);
        }
        assert_int_equal(bsnap_store_get_info(f->s, &before), 0);
        o.run.progress = change_volume;
        o.run.progress_ud = cases[i];
        assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EIO, "VolumeChanged");
        assert_message_has(words[i]);
        assert_message_has(vol);
        assert_int_equal(cases[i]->calls, 1);
        assert_int_equal(snapshot_count(f), 0);
        assert_verify_clean(f);
        assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
        assert_int_equal(bsnap_store_get_info(f->s, &after), 0);
        assert_int_equal(after.chunk_count, before.chunk_count);
        assert_int_equal(after.pack_bytes, before.pack_bytes);
    }
    /* Untouched, the same volume is taken. */
    snap_path(f, vol, id);
    assert_restores_to(f, id, vol);
    free(other);
    free(vol);
}

static void test_option_errors(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "v.img", 10 * CS), *missing = path_in(f->dir, "missing.img");
    char id[BSNAP_ID_MAX], desc[300], base[BSNAP_ID_MAX];
    bsnap_tag tags[51];
    bsnap_snapshot_options o = {0};

    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "MissingParameter");
    o.volume_path = vol;
    o.volume_id = "vol-0123456789abcdef0";
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "MissingParameter");
    o.volume_id = NULL;
    memset(desc, 'd', sizeof desc);
    desc[256] = '\0';
    o.description = desc;
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "InvalidParameterValue");
    desc[255] = '\0'; /* 255 is allowed */
    snap_opts(f, &o, base);
    o.description = NULL;
    o.full = true;
    o.parent_id = base;
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "InvalidParameterCombination");
    o.full = false;
    o.parent_id = "snap-nothex";
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "InvalidSnapshotID.Malformed");
    o.parent_id = "snap-0123456789abcdef0";
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -ENOENT, "InvalidSnapshot.NotFound");
    o.parent_id = NULL;
    for (int i = 0; i < 51; i++)
        tags[i] = (bsnap_tag){"k", "v"};
    o.tags = tags;
    o.ntags = 51;
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "TagLimitExceeded");
    o.tags = NULL;
    o.ntags = 0;
    o.volume_path = missing;
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -ENOENT, "InvalidVolume.NotFound");
    assert_message_has(missing);
    o.volume_path = f->dir; /* a directory */
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "InvalidParameterValue");
    o.volume_path = NULL;
    o.volume_id = "vol-12";
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EINVAL, "InvalidVolumeID.Malformed");
    o.volume_id = "vol-0123456789abcdef0";
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -ENOENT, "InvalidVolume.NotFound");
    assert_int_equal(snapshot_count(f), 1);
    free(vol);
    free(missing);
}

/* --volume-id reads the recorded path; --full ignores the parent; tags and
 * description are recorded. */
static void test_volume_id_full_tags(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "v.img", 20 * CS), a[BSNAP_ID_MAX], b[BSNAP_ID_MAX];
    bsnap_snapshot_info ia, ib;
    bsnap_tag tags[2] = {{"Name", "db"}, {"env", "prod"}};
    bsnap_snapshot_stats st;
    struct snapshot_rec rec = {0};

    chunk_write(vol, CS, 3, 3);
    snap_path(f, vol, a);
    assert_int_equal(bsnap_snapshot_get(f->s, a, &ia), 0);
    {
        bsnap_snapshot_options o = {.volume_id = ia.volume_id,
                                    .full = true,
                                    .description = "nightly",
                                    .tags = tags,
                                    .ntags = 2};
        st = snap_opts(f, &o, b);
    }
    assert_int_equal(bsnap_snapshot_get(f->s, b, &ib), 0);
    assert_string_equal(ib.volume_id, ia.volume_id);
    assert_string_equal(ib.parent_id, ""); /* full */
    assert_int_equal(st.new_chunks, 0);    /* but nothing new to store */
    assert_int_equal(st.reused_chunks, 1);
    snap_record(f, b, &rec);
    assert_string_equal(rec.description, "nightly");
    assert_int_equal(rec.tags.n, 2);
    assert_string_equal(rec.tags.v[1].key, "env");
    assert_string_equal(rec.tags.v[1].value, "prod");
    snapshot_rec_clear(&rec);
    free(vol);
}

static void progress(void *ud, uint64_t done, uint64_t total)
{
    uint64_t *last = ud;

    assert_true(done <= total);
    last[0]++;
    last[1] = done;
    last[2] = total;
}

static void test_progress_threads_cancel(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "v.img", 700 * CS), a[BSNAP_ID_MAX], b[BSNAP_ID_MAX];
    uint64_t seen[3] = {0};
    volatile int cancel = 1;
    chunk_id ra, rb;

    for (uint64_t i = 0; i < 700; i += 3)
        chunk_write(vol, CS, i, i);
    {
        bsnap_snapshot_options o = {.volume_path = vol, .threads = 1, .full = true};
        o.run.progress = progress;
        o.run.progress_ud = seen;
        snap_opts(f, &o, a);
    }
    assert_true(seen[0] >= 1);
    assert_int_equal(seen[1], 700 * CS); /* once at the end with done == total */
    assert_int_equal(seen[2], 700 * CS);
    {
        bsnap_snapshot_options o = {.volume_path = vol, .threads = 7, .full = true};
        snap_opts(f, &o, b);
    }
    root_of(f, a, &ra);
    root_of(f, b, &rb);
    assert_true(chunk_id_eq(&ra, &rb)); /* worker count does not matter */
    chunk_write(vol, CS, 1, 12345);
    {
        bsnap_snapshot_options o = {.volume_path = vol};
        o.run.cancel = &cancel;
        assert_error(bsnap_snapshot_create(f->s, &o, a, NULL), -ECANCELED, "Cancelled");
    }
    assert_int_equal(snapshot_count(f), 2);
    assert_verify_clean(f);
    free(vol);
}

/* Refcounts after creates and deletes are what verify computes, and a
 * snapshot taken after a delete revives the DEAD entries it shares. */
static void test_delete_then_resnapshot_revives(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = 2 * BM_FANOUT + 5;
    char *vol = volume_create(f, "v.img", n * CS);
    char a[BSNAP_ID_MAX], b[BSNAP_ID_MAX], c[BSNAP_ID_MAX];
    bsnap_snapshot_stats st;
    struct index_counts ic;
    bsnap_gc_stats gs;

    for (uint64_t i = 0; i < n; i += 33)
        chunk_write(vol, CS, i, i + 100);
    snap_path(f, vol, a);
    assert_verify_clean(f);
    assert_int_equal(bsnap_snapshot_delete(f->s, a), 0);
    ic = index_count(f);
    assert_true(ic.entries > 0);
    assert_int_equal(ic.dead, ic.entries); /* everything released, nothing removed yet */
    assert_verify_clean(f);

    /* The same volume with one chunk changed in the second leaf: the first
     * leaf and all but one data chunk are DEAD entries that come back. */
    chunk_write(vol, CS, 33 * 125, 4242); /* a data chunk of the second leaf */
    st = snap_path(f, vol, b);
    assert_int_equal(st.new_chunks, 1); /* the chunk */
    assert_int_equal(st.new_pages, 2);  /* its leaf, a root */
    ic = index_count(f);
    assert_int_equal(ic.dead, 3); /* the old chunk, the old leaf, the old root */
    assert_verify_clean(f);
    assert_restores_to(f, b, vol);
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(gs.chunks_freed, 3);
    assert_verify_clean(f);
    assert_restores_to(f, b, vol);

    /* Deleting a middle snapshot of a chain keeps the others whole. */
    chunk_write(vol, CS, 7, 7777);
    snap_path(f, vol, c);
    assert_int_equal(bsnap_snapshot_delete(f->s, b), 0);
    assert_verify_clean(f);
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_verify_clean(f);
    assert_restores_to(f, c, vol);
    free(vol);
}

/* ---- failures in the middle ---- */

struct child_args {
    const char *vol;
};

static int child_snapshot(bsnap_store *s, void *ud)
{
    struct child_args *a = ud;
    bsnap_snapshot_options o = {.volume_path = a->vol, .threads = 2};
    char id[BSNAP_ID_MAX];
    int r = bsnap_snapshot_create(s, &o, id, NULL);

    if (r == 0)
        return 0;
    /* 10: the expected injected EIO; anything else is a distinct status */
    return r == -EIO && strstr(bsnap_last_error()->message, "injected") ? 10 : 20;
}

/* A volume with more new chunks than one commit batch (8192 entries). */
#define BIG_CHUNKS 9000

static void big_fill(const char *vol, uint64_t seed)
{
    const uint64_t n = BIG_CHUNKS;
    uint8_t *buf = malloc(n * CS);
    int fd = open(vol, O_WRONLY);

    assert_non_null(buf);
    fill_random(buf, n * CS, seed);
    assert_int_equal(pwrite(fd, buf, n * CS, 0), (ssize_t)(n * CS));
    close(fd);
    free(buf);
}

static char *big_volume(struct fixture *f)
{
    char *vol = volume_create(f, "big.img", BIG_CHUNKS * CS);

    big_fill(vol, 77);
    return vol;
}

/* No pack bytes beyond the packs' headers. */
static void assert_no_pack_bytes(struct fixture *f)
{
    bsnap_store_info si;

    assert_int_equal(bsnap_store_get_info(f->s, &si), 0);
    assert_true(si.pack_bytes <= si.pack_count * 32);
}

static void after_failure(struct fixture *f, const char *vol, size_t snaps_before)
{
    bsnap_gc_stats gs;
    struct index_counts ic;
    char id[BSNAP_ID_MAX];

    assert_verify_clean(f);
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(snapshot_count(f), snaps_before);
    ic = index_count(f);
    assert_int_equal(ic.orphans, 0);
    assert_int_equal(ic.dead, 0);
    assert_verify_clean(f);
    /* Everything the failed run left is gone: a store with no snapshot
     * has no chunk and no pack bytes beyond headers. */
    if (snaps_before == 0) {
        bsnap_store_info si;
        assert_int_equal(bsnap_store_get_info(f->s, &si), 0);
        assert_int_equal(si.chunk_count, 0);
        assert_true(si.pack_bytes <= si.pack_count * 32);
    }
    /* And the store works: the snapshot can be taken now. */
    snap_path(f, vol, id);
    assert_verify_clean(f);
    assert_restores_to(f, id, vol);
}

static void test_fault_second_batch(void **state)
{
    struct fixture *f = *state;
    char *vol = big_volume(f);
    struct child_args a = {vol};
    struct index_counts ic;

    requires_faults();

    assert_int_equal(run_in_child(f, "snapshot-batch:2", child_snapshot, &a), 10);
    assert_int_equal(snapshot_count(f), 0); /* the pending record was dropped */
    ic = index_count(f);
    /* The first batch's entries were committed, and given back by the
     * failed run itself, with its pack bytes: nothing is left for gc. */
    assert_int_equal(ic.entries, 0);
    assert_int_equal(ic.orphans, 0);
    assert_no_pack_bytes(f);
    after_failure(f, vol, 0);
    free(vol);
}

static void test_fault_pack_sync(void **state)
{
    struct fixture *f = *state;
    char *vol = big_volume(f);
    struct child_args a = {vol};

    requires_faults();

    assert_int_equal(run_in_child(f, "pack-sync:1", child_snapshot, &a), 10);
    assert_int_equal(snapshot_count(f), 0);
    assert_int_equal(index_count(f).entries, 0); /* nothing was indexed */
    after_failure(f, vol, 0);
    free(vol);
}

static void test_fault_incremental(void **state)
{
    struct fixture *f = *state;
    char *vol = big_volume(f), base[BSNAP_ID_MAX];
    struct child_args a = {vol};
    struct index_counts before;
    bsnap_store_info si, after;

    requires_faults();

    snap_path(f, vol, base);
    before = index_count(f);
    assert_int_equal(bsnap_store_get_info(f->s, &si), 0);
    big_fill(vol, 78); /* every chunk changes: two commit batches */
    assert_int_equal(run_in_child(f, "pack-sync:2", child_snapshot, &a), 10);
    assert_int_equal(snapshot_count(f), 1);
    /* the first batch was committed and given back: the index and the
     * packs are as the base snapshot left them */
    assert_int_equal(index_count(f).entries, before.entries);
    assert_int_equal(index_count(f).orphans, 0);
    assert_int_equal(bsnap_store_get_info(f->s, &after), 0);
    assert_int_equal(after.pack_bytes, si.pack_bytes);
    after_failure(f, vol, 1);
    free(vol);
}

/* A writer killed mid-snapshot leaves a pending record and orphans: verify
 * passes, gc removes both. */
static void test_killed_writer(void **state)
{
    struct fixture *f = *state;
    char *vol = big_volume(f);
    struct child_args a = {vol};
    bsnap_snapshot_info *infos = NULL;
    size_t n = 0;
    bsnap_gc_stats gs;

    requires_faults();

    assert_int_equal(run_in_child(f, "snapshot-batch:2:kill", child_snapshot, &a), 128 + SIGKILL);
    assert_int_equal(bsnap_snapshot_list(f->s, &infos, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(infos[0].state, BSNAP_SNAPSHOT_PENDING);
    /* Not readable, not deletable while pending. */
    {
        bsnap_reader *rd = NULL;
        assert_error(bsnap_reader_open(f->s, infos[0].id, &rd), -EBUSY, "IncorrectState");
        assert_error(bsnap_snapshot_delete(f->s, infos[0].id), -EBUSY, "IncorrectState");
    }
    free(infos);
    assert_verify_clean(f);
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(gs.snapshots_removed, 1);
    assert_true(gs.chunks_freed > 8000);
    after_failure(f, vol, 0);
    free(vol);
}

/* Several threads snapshot different volumes through one store handle at
 * once: each writes its own pack, and everything verifies and restores. */
struct writer_arg {
    bsnap_store *s;
    const char *vol;
    char id[BSNAP_ID_MAX];
    int r;
};

static void *writer_thread(void *ud)
{
    struct writer_arg *a = ud;
    bsnap_snapshot_options o = {.volume_path = a->vol, .threads = 2};

    a->r = bsnap_snapshot_create(a->s, &o, a->id, NULL);
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct fixture *f = *state;
    enum { W = 3 };
    struct writer_arg args[W];
    pthread_t th[W];
    char *vols[W];
    bsnap_store_info si;

    for (int i = 0; i < W; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d.img", i);
        vols[i] = volume_create(f, name, 2000 * CS);
        for (uint64_t c = 0; c < 2000; c++)
            if (c % 3 != 2)
                chunk_write(vols[i], CS, c, (uint64_t)i * 10000 + c);
        chunk_write(vols[i], CS, 1999, 42); /* one chunk all of them share */
        args[i] = (struct writer_arg){.s = f->s, .vol = vols[i]};
    }
    for (int i = 0; i < W; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &args[i]), 0);
    for (int i = 0; i < W; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < W; i++)
        assert_int_equal(args[i].r, 0);
    assert_int_equal(bsnap_store_get_info(f->s, &si), 0);
    assert_int_equal(si.pack_count, W); /* a pack per concurrent writer */
    assert_verify_clean(f);
    for (int i = 0; i < W; i++) {
        assert_restores_to(f, args[i].id, vols[i]);
        free(vols[i]);
    }
}

/* 4 MiB chunks: the largest records, written past the writer's buffer. */
static void test_largest_chunks(void **state)
{
    struct fixture *f = fixture_new(BSNAP_CHUNK_SIZE_MAX);
    const uint64_t cs = BSNAP_CHUNK_SIZE_MAX;
    char *vol = volume_create(f, "v.img", 3 * cs + 5), id[BSNAP_ID_MAX];
    bsnap_snapshot_stats st;

    (void)state;
    volume_write(vol, 0, cs, 1); /* random: stored raw, 4 MiB + header */
    volume_write(vol, 2 * cs + 100, 1000, 2);
    volume_write(vol, 3 * cs, 5, 3);
    st = snap_path(f, vol, id);
    assert_int_equal(st.new_chunks, 3);
    assert_int_equal(st.new_pages, 1);
    assert_verify_clean(f);
    assert_restores_to(f, id, vol);
    fixture_reopen(f);
    assert_restores_to(f, id, vol);
    free(vol);
    fixture_free(f);
}

/* The metadata map filling up is -ENOSPC "Store.Full"; the store is left as
 * it was apart from what gc reclaims. */
static int child_snapshot_full(bsnap_store *s, void *ud)
{
    struct child_args *a = ud;
    bsnap_snapshot_options o = {.volume_path = a->vol, .threads = 2};
    char id[BSNAP_ID_MAX];
    int r = bsnap_snapshot_create(s, &o, id, NULL);

    if (r == 0)
        return 0;
    return r == -ENOSPC && strcmp(bsnap_last_error()->code, "Store.Full") == 0 ? 30 : 40;
}

static void test_metadata_full(void **state)
{
    struct fixture *f = *state;
    char *vol = big_volume(f), *small = volume_create(f, "small.img", 4 * CS);
    char base[BSNAP_ID_MAX];
    struct child_args a = {vol};
    int r;

    chunk_write(small, CS, 1, 1);
    snap_path(f, small, base);
    /* a map too small for 9000 index entries, in a child (LMDB reads the
     * size at open) */
    setenv("BLOCKSNAP_MAP_SIZE", "262144", 1);
    r = run_in_child(f, NULL, child_snapshot_full, &a);
    unsetenv("BLOCKSNAP_MAP_SIZE");
    fixture_reopen(f); /* with the normal map size */
    assert_int_equal(r, 30);
    assert_int_equal(snapshot_count(f), 1);
    assert_verify_clean(f);
    assert_restores_to(f, base, small);
    after_failure(f, vol, 1);
    free(small);
    free(vol);
}

/* Every options struct of the public header means "all defaults" when
 * zero-initialised: a snapshot with zero options (but its volume) takes
 * one worker per core and the last snapshot as its parent; a restore with
 * zero options replaces no file; zero run options run verify and gc. */
static void test_zero_options(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "zero.img", 256 * KiB), *out = path_in(f->dir, "zero.out");
    char first[BSNAP_ID_MAX], second[BSNAP_ID_MAX], volid[BSNAP_ID_MAX];
    bsnap_snapshot_info info;

    {
        bsnap_snapshot_options o = {0};
        o.volume_path = vol;
        assert_int_equal(bsnap_snapshot_create(f->s, &o, first, NULL), 0);
        volume_write(vol, 0, 4096, 7);
        assert_int_equal(bsnap_snapshot_create(f->s, &o, second, NULL), 0);
        assert_int_equal(bsnap_snapshot_get(f->s, second, &info), 0);
        assert_string_equal(info.parent_id, first);
    }
    {
        bsnap_volume_options o = {0};
        assert_int_equal(bsnap_volume_create(f->s, second, out, &o, volid), 0);
        assert_files_equal(vol, out);
        assert_error(bsnap_volume_create(f->s, first, out, &o, volid), -EEXIST,
                     "InvalidParameterValue");
    }
    {
        bsnap_run_options run = {0};
        bsnap_gc_options go = {0};
        bsnap_verify_stats vst;
        bsnap_gc_stats gst;
        assert_int_equal(bsnap_verify(f->s, NULL, &run, NULL, NULL, &vst), 0);
        assert_int_equal(vst.problems, 0);
        assert_int_equal(vst.snapshots_checked, 2);
        assert_int_equal(bsnap_gc(f->s, &go, &gst), 0);
    }
    free(vol);
    free(out);
}

/* MBR entry @i of the volume file @path: partition of @count sectors at
 * sector @start. */
static void mbr_put(const char *path, int i, uint32_t start, uint32_t count)
{
    uint8_t e[16] = {0}, sig[2] = {0x55, 0xaa};
    int fd = open(path, O_WRONLY);

    e[4] = 0x83;
    for (int b = 0; b < 4; b++) {
        e[8 + b] = (uint8_t)(start >> (8 * b));
        e[12 + b] = (uint8_t)(count >> (8 * b));
    }
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, e, sizeof e, 446 + 16 * i), sizeof e);
    assert_int_equal(pwrite(fd, sig, sizeof sig, 510), sizeof sig);
    close(fd);
}

struct walked {
    size_t n, known, parts;
    int stop_after; /* 0: never */
};

static int walk_count(const bsnap_snapshot_entry *e, void *ud)
{
    struct walked *w = ud;
    w->n++;
    w->known += e->parts_known;
    w->parts += e->nparts;
    return w->stop_after && (int)w->n == w->stop_after ? 42 : 0;
}

/* A snapshot's record keeps the partition table found when it was taken;
 * a record without one (an older version's) says so; the walk gives both. */
static void test_partition_table_recorded(void **state)
{
    struct fixture *f = *state;
    char *vol = volume_create(f, "mbr.img", 8 * MiB), *bare = volume_create(f, "bare.img", MiB);
    char id[BSNAP_ID_MAX], bare_id[BSNAP_ID_MAX];
    bsnap_part_extent *parts = (void *)1;
    struct snapshot_rec rec = {0};
    struct walked w = {0};
    meta_txn *txn;
    size_t n = 9;

    mbr_put(vol, 0, 2048, 4096);
    mbr_put(vol, 2, 8192, 2048);
    snap_path(f, vol, id);
    snap_path(f, bare, bare_id);
    assert_int_equal(bsnap_snapshot_partitions(f->s, id, &parts, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(parts[0].number, 1);
    assert_true(parts[0].offset == MiB && parts[0].size == 2 * MiB);
    assert_int_equal(parts[1].number, 3);
    assert_true(parts[1].offset == 4 * MiB && parts[1].size == MiB);
    free(parts);
    /* no table: recorded as none */
    assert_int_equal(bsnap_snapshot_partitions(f->s, bare_id, &parts, &n), 0);
    assert_int_equal(n, 0);
    assert_null(parts);
    assert_int_equal(bsnap_snapshot_walk(f->s, walk_count, &w), 0);
    assert_true(w.n == 2 && w.known == 2 && w.parts == 2);

    /* the record as an older version wrote it: no table */
    snap_record(f, id, &rec);
    free(rec.parts);
    rec.parts = NULL;
    rec.nparts = 0;
    rec.parts_known = false;
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_int_equal(catalog_snapshot_save(txn, &rec), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    snapshot_rec_clear(&rec);
    assert_error(bsnap_snapshot_partitions(f->s, id, &parts, &n), -ENODATA,
                 "Snapshot.PartitionsNotRecorded");
    w = (struct walked){0};
    assert_int_equal(bsnap_snapshot_walk(f->s, walk_count, &w), 0);
    assert_true(w.n == 2 && w.known == 1 && w.parts == 0);
    /* a callback's non-zero answer stops the walk and comes back */
    w = (struct walked){.stop_after = 1};
    assert_int_equal(bsnap_snapshot_walk(f->s, walk_count, &w), 42);
    assert_int_equal(w.n, 1);
    assert_error(bsnap_snapshot_partitions(f->s, "snap-00000000000000000", &parts, &n), -ENOENT,
                 "InvalidSnapshot.NotFound");
    assert_verify_clean(f);
    free(vol);
    free(bare);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_snapshot, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_partition_table_recorded, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_incremental, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_zero_volume, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_empty_volume, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_compression_choice, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_changed_blocks_same_size, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_counts_add_up, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_changed_blocks_grown, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_changed_blocks_shrunk, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_changed_blocks_errors, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_changed_blocks_base, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_volume_changed, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_option_errors, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_zero_options, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_volume_id_full_tags, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_progress_threads_cancel, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_delete_then_resnapshot_revives, setup_4k,
                                        teardown_fixture),
        cmocka_unit_test_setup_teardown(test_fault_second_batch, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_fault_pack_sync, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_fault_incremental, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_killed_writer, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup_4k, teardown_fixture),
        cmocka_unit_test(test_largest_chunks),
        cmocka_unit_test_setup_teardown(test_metadata_full, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
