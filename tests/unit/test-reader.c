/* test-reader.c - reader.c: readers and their pins, pread and seek. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include <cmocka.h>

#include "blockmap.h"

#include "catalog.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096u

static void test_pread(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = 300;
    const uint64_t size = n * CS - 123;
    char *vol = sample_volume(f, "v.img", n), id[BSNAP_ID_MAX];
    size_t vlen;
    uint8_t *want = file_slurp(vol, &vlen), *buf = malloc(size + 100);
    bsnap_reader *rd = NULL;
    static const struct {
        uint64_t off, len;
    } reads[] = {
        {0, 1},
        {0, CS},
        {1, CS},
        {CS - 1, 2},
        {2 * CS + 7, 5 * CS},
        {99 * CS, 3 * CS},
        {100 * CS + 4000, 200},
        {0, 300 * CS},
    };

    snap_path(f, vol, id);
    assert_int_equal(bsnap_reader_open(f->s, id, &rd), 0);
    assert_int_equal(bsnap_reader_size(rd), size);
    for (size_t i = 0; i < ARRAY_SIZE(reads); i++) {
        uint64_t len = MIN(reads[i].len, size - reads[i].off);
        memset(buf, 0xaa, size);
        assert_int_equal(bsnap_reader_pread(rd, buf, reads[i].len, reads[i].off), (long)len);
        assert_memory_equal(buf, want + reads[i].off, len);
    }
    /* short at the end; nothing past it */
    assert_int_equal(bsnap_reader_pread(rd, buf, 1000, size - 10), 10);
    assert_memory_equal(buf, want + size - 10, 10);
    assert_int_equal(bsnap_reader_pread(rd, buf, 1000, size), 0);
    assert_int_equal(bsnap_reader_pread(rd, buf, 1000, UINT64_MAX), 0);
    assert_int_equal(bsnap_reader_pread(rd, buf, 0, 0), 0);
    bsnap_reader_close(rd);
    bsnap_reader_close(NULL);
    free(want);
    free(buf);
    free(vol);
}

/* Whole chunks: data as pread gives it (the partial last one zero-padded),
 * holes reported as such with the buffer untouched, nothing past the end. */
static void test_read_chunk(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = 300, size = n * CS - 123;
    char *vol = sample_volume(f, "v.img", n), id[BSNAP_ID_MAX];
    size_t vlen;
    uint8_t *want = file_slurp(vol, &vlen), buf[CS], pad[CS];
    bsnap_reader *rd = NULL;

    snap_path(f, vol, id);
    assert_int_equal(bsnap_reader_open(f->s, id, &rd), 0);
    for (uint64_t i = 0; i < n; i++) {
        bool data = i == 0 || (i >= 3 && i <= 5) || i == 100 || i == n - 1;
        memset(buf, 0xaa, CS);
        assert_int_equal(bsnap_reader_read_chunk(rd, i, buf), data ? 0 : 1);
        if (!data) {
            assert_int_equal(buf[0], 0xaa); /* untouched */
            assert_int_equal(buf[CS - 1], 0xaa);
        } else if (i < n - 1) {
            assert_memory_equal(buf, want + i * CS, CS);
        } else {
            memset(pad, 0, CS);
            memcpy(pad, want + i * CS, size - i * CS);
            assert_memory_equal(buf, pad, CS);
        }
    }
    assert_int_equal(bsnap_reader_read_chunk(rd, n, buf), -EINVAL);
    assert_int_equal(bsnap_reader_read_chunk(rd, UINT64_MAX, buf), -EINVAL);
    bsnap_reader_close(rd);
    free(want);
    free(vol);
}

static uint64_t seek(bsnap_reader *rd, uint64_t off, int whence)
{
    uint64_t out = 0;
    int r = bsnap_reader_seek(rd, off, whence, &out);

    if (r == -ENXIO)
        return UINT64_MAX;
    assert_int_equal(r, 0);
    return out;
}

static void test_seek(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = 300, size = n * CS - 123;
    char *vol = sample_volume(f, "v.img", n), id[BSNAP_ID_MAX];
    bsnap_reader *rd = NULL;
    uint64_t out;

    snap_path(f, vol, id);
    assert_int_equal(bsnap_reader_open(f->s, id, &rd), 0);
    assert_int_equal(seek(rd, 0, SEEK_DATA), 0);
    assert_int_equal(seek(rd, 10, SEEK_DATA), 10); /* inside data: itself */
    assert_int_equal(seek(rd, CS, SEEK_DATA), 3 * CS);
    assert_int_equal(seek(rd, 6 * CS, SEEK_DATA), 100 * CS);
    assert_int_equal(seek(rd, 101 * CS, SEEK_DATA), (n - 1) * CS);
    assert_int_equal(seek(rd, size - 1, SEEK_DATA), size - 1);
    assert_int_equal(seek(rd, 0, SEEK_HOLE), CS);
    assert_int_equal(seek(rd, CS + 9, SEEK_HOLE), CS + 9);
    assert_int_equal(seek(rd, 3 * CS, SEEK_HOLE), 6 * CS);
    /* the end is an implicit hole */
    assert_int_equal(seek(rd, (n - 1) * CS + 1, SEEK_HOLE), size);
    assert_int_equal(seek(rd, size, SEEK_DATA), UINT64_MAX);
    assert_int_equal(seek(rd, size, SEEK_HOLE), UINT64_MAX);
    assert_error(bsnap_reader_seek(rd, 0, SEEK_SET, &out), -EINVAL, "InvalidParameterValue");
    bsnap_reader_close(rd);
    free(vol);
}

static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    bsnap_reader *rd = NULL;
    meta_txn *txn = NULL;
    struct snapshot_rec rec = {0};

    assert_error(bsnap_reader_open(f->s, "vol-0123456789abcdef0", &rd), -EINVAL,
                 "InvalidSnapshotID.Malformed");
    assert_error(bsnap_reader_open(f->s, "snap-0123456789abcdef0", &rd), -ENOENT,
                 "InvalidSnapshot.NotFound");
    /* a pending snapshot cannot be read */
    snprintf(rec.id, sizeof rec.id, "snap-0123456789abcdef0");
    snprintf(rec.volume_id, sizeof rec.volume_id, "vol-0123456789abcdef0");
    rec.state = BSNAP_SNAPSHOT_PENDING;
    rec.chunk_size = CS;
    assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
    assert_int_equal(catalog_snapshot_save(txn, &rec), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    assert_error(bsnap_reader_open(f->s, rec.id, &rd), -EBUSY, "IncorrectState");
    assert_null(rd);
}

/* An open reader keeps its data through delete and gc; closing it frees
 * what the delete left, and the store verifies all along. */
static void test_pin_reads_after_gc(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", BM_FANOUT + 200), id[BSNAP_ID_MAX];
    size_t vlen;
    uint8_t *want = file_slurp(vol, &vlen), *buf = malloc(vlen);
    bsnap_reader *rd = NULL;
    bsnap_gc_stats gs;
    bsnap_store_info si;
    struct index_counts ic;

    snap_path(f, vol, id);
    assert_int_equal(bsnap_reader_open(f->s, id, &rd), 0);
    assert_int_equal(bsnap_snapshot_delete(f->s, id), 0);
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(gs.chunks_freed, 0);
    assert_int_equal(bsnap_reader_pread(rd, buf, vlen, 0), (long)vlen);
    assert_memory_equal(buf, want, vlen);
    assert_verify_clean(f);
    bsnap_reader_close(rd);
    ic = index_count(f);
    assert_int_equal(ic.dead, ic.entries); /* the close released everything */
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(gs.chunks_freed, ic.entries);
    assert_int_equal(bsnap_store_get_info(f->s, &si), 0);
    assert_int_equal(si.chunk_count, 0);
    assert_int_equal(si.pack_count, 0);
    assert_verify_clean(f);
    free(want);
    free(buf);
    free(vol);
}

/* The pin of a process that died is reaped by gc. */
static int child_open_and_die(bsnap_store *s, void *ud)
{
    bsnap_reader *rd = NULL;

    if (bsnap_reader_open(s, ud, &rd) < 0)
        return 1;
    raise(SIGKILL);
    return 2;
}

static void test_dead_pin_reaped(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 200), id[BSNAP_ID_MAX];
    bsnap_gc_stats gs;
    struct index_counts ic;
    char *pins = path_in(f->store_path, "pins");

    snap_path(f, vol, id);
    assert_int_equal(run_in_child(f, NULL, child_open_and_die, id), 128 + SIGKILL);
    assert_int_equal(dir_entries(pins), 1); /* the dead reader's pin file */
    assert_verify_clean(f);                 /* its reference is counted */
    assert_int_equal(bsnap_snapshot_delete(f->s, id), 0);
    assert_int_equal(index_count(f).dead, 0); /* still pinned */
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    ic = index_count(f);
    assert_int_equal(ic.entries, 0); /* reaped, released and freed in one run */
    assert_int_equal(dir_entries(pins), 0);
    assert_verify_clean(f);
    free(pins);
    free(vol);
}

/* A process killed between creating its pin's lock file and committing the
 * pin leaves a lock file no record names: gc removes it, unless a live
 * process holds it (one about to commit its pin). */
static void test_stray_lock_file_reaped(void **state)
{
    struct fixture *f = *state;
    char *stray = path_in(f->store_path, "pins/0123456789abcdef0123456789abcdef");
    char *held = path_in(f->store_path, "pins/fedcba9876543210fedcba9876543210");
    char *pins = path_in(f->store_path, "pins");
    bsnap_gc_stats gs;
    int sfd = open(stray, O_RDWR | O_CREAT | O_EXCL, 0644);
    int hfd = open(held, O_RDWR | O_CREAT | O_EXCL, 0644);

    assert_true(sfd >= 0 && hfd >= 0);
    close(sfd);
    assert_int_equal(flock(hfd, LOCK_SH), 0);
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(access(stray, F_OK), -1);
    assert_int_equal(access(held, F_OK), 0);
    assert_int_equal(dir_entries(pins), 1);
    close(hfd); /* its process is gone: the next gc takes it */
    assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
    assert_int_equal(dir_entries(pins), 0);
    free(stray);
    free(held);
    free(pins);
}

/* A store's chunk size never changes, so a snapshot record that names
 * another one is damaged: reading or diffing it is -EIO, never a division
 * by zero (0) or chunks read at the wrong offsets (another size). */
static void test_foreign_chunk_size(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 200), a[BSNAP_ID_MAX];
    const uint32_t bad[] = {0, 2 * CS, CS / 2};
    struct ranges rs = {0};
    struct snapshot_rec rec = {0};
    bsnap_reader *rd = NULL;
    meta_txn *txn = NULL;

    snap_path(f, vol, a);
    for (size_t i = 0; i <= ARRAY_SIZE(bad); i++) {
        assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
        assert_int_equal(catalog_snapshot_load(txn, a, &rec), 0);
        rec.chunk_size = i < ARRAY_SIZE(bad) ? bad[i] : CS; /* the last: as it was */
        assert_int_equal(catalog_snapshot_save(txn, &rec), 0);
        assert_int_equal(meta_txn_commit(txn), 0);
        snapshot_rec_clear(&rec);
        if (i == ARRAY_SIZE(bad))
            break;
        assert_error(bsnap_reader_open(f->s, a, &rd), -EIO, "Store.Corrupt");
        assert_null(rd);
        assert_error(bsnap_snapshot_diff(f->s, NULL, a, range_collect, &rs), -EIO, "Store.Corrupt");
        assert_error(bsnap_snapshot_diff(f->s, a, a, range_collect, &rs), -EIO, "Store.Corrupt");
        assert_int_equal(rs.n, 0);
    }
    assert_int_equal(bsnap_reader_open(f->s, a, &rd), 0);
    bsnap_reader_close(rd);
    assert_int_equal(bsnap_snapshot_diff(f->s, NULL, a, range_collect, &rs), 0);
    assert_int_equal(rs.n, 4);
    free(vol);
}

/* An index entry that lies about a chunk's size or kind is -EIO before any
 * byte is copied (it would overflow the chunk buffer otherwise). */
static void test_lying_index_entry(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 200), id[BSNAP_ID_MAX], *out = path_in(f->dir, "o");
    uint8_t buf[2 * CS];
    chunk_id cid;
    struct chunk_entry e, bad;
    bsnap_reader *rd = NULL;
    meta_txn *txn = NULL;
    char vid[BSNAP_ID_MAX];

    snap_path(f, vol, id);
    fill_random(buf, CS, 3); /* chunk 100 */
    chunk_hash(f->s, false, buf, CS, &cid);
    e = entry_of(f, &cid);
    for (int k = 0; k < 3; k++) {
        bad = e;
        if (k == 0)
            bad.loc.orig_len = 2 * CS;
        else if (k == 1)
            bad.loc.orig_len = CS / 2;
        else
            bad.loc.flags |= CHUNK_PAGE;
        assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
        assert_int_equal(index_put(txn, &cid, &bad), 0);
        assert_int_equal(meta_txn_commit(txn), 0);
        assert_int_equal(bsnap_reader_open(f->s, id, &rd), 0);
        assert_error((int)bsnap_reader_pread(rd, buf, CS, 100 * CS), -EIO, "Store.Corrupt");
        bsnap_reader_close(rd);
        assert_error(bsnap_volume_create(f->s, id, out, NULL, vid), -EIO, "Store.Corrupt");
    }
    free(out);
    free(vol);
}

/* Many threads may read one reader at once. */
struct read_arg {
    bsnap_reader *rd;
    const uint8_t *want;
    size_t len;
    unsigned seed;
    int bad;
};

static void *read_thread(void *ud)
{
    struct read_arg *a = ud;
    uint8_t buf[3 * CS];

    for (int i = 0; i < 300; i++) {
        uint64_t off = (uint64_t)rand_r(&a->seed) % a->len;
        size_t n = (size_t)rand_r(&a->seed) % sizeof buf;
        long got = bsnap_reader_pread(a->rd, buf, n, off);
        size_t want_n = MIN(n, a->len - off);
        if (got != (long)want_n || memcmp(buf, a->want + off, want_n) != 0)
            a->bad++;
    }
    return NULL;
}

static void test_threaded_reads(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", BM_FANOUT + 300), id[BSNAP_ID_MAX];
    size_t vlen;
    uint8_t *want;
    bsnap_reader *rd = NULL;
    struct read_arg args[4];
    pthread_t th[4];

    for (uint64_t c = 200; c < BM_FANOUT + 300; c += 7)
        chunk_write(vol, CS, c, c);
    want = file_slurp(vol, &vlen);
    snap_path(f, vol, id);
    fixture_reopen(f);
    assert_int_equal(bsnap_reader_open(f->s, id, &rd), 0);
    for (unsigned i = 0; i < 4; i++) {
        args[i] = (struct read_arg){rd, want, vlen, i + 1, 0};
        assert_int_equal(pthread_create(&th[i], NULL, read_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].bad, 0);
    }
    bsnap_reader_close(rd);
    free(want);
    free(vol);
}

/* On a read-only store a reader pins nothing (it could not write the pin). */
static void test_read_only_reader(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 200), id[BSNAP_ID_MAX];
    char *pins = path_in(f->store_path, "pins");
    bsnap_reader *rd = NULL;
    uint8_t buf[CS], want[CS];

    snap_path(f, vol, id);
    bsnap_store_close(f->s);
    assert_int_equal(bsnap_store_open(f->store_path, BSNAP_STORE_RDONLY, NULL, &f->s), 0);
    assert_int_equal(bsnap_reader_open(f->s, id, &rd), 0);
    assert_int_equal(dir_entries(pins), 0);
    assert_int_equal(bsnap_reader_pread(rd, buf, CS, 100 * CS), CS);
    fill_random(want, CS, 3);
    assert_memory_equal(buf, want, CS);
    bsnap_reader_close(rd);
    free(pins);
    free(vol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pread, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_read_chunk, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_seek, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_open_errors, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_foreign_chunk_size, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_pin_reads_after_gc, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_dead_pin_reaped, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_stray_lock_file_reaped, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_lying_index_entry, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_threaded_reads, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_read_only_reader, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
