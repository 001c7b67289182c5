/* test-reader.c - reader.c: readers and their pins, pread and seek; and
 * what reads through them, restore.c (byte-identical, sparse, atomic) and
 * diff.c. */
#include <errno.h>
#include <pthread.h>
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include <cmocka.h>

#include "blockmap.h"
#include <jansson.h>

#include "catalog.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096u

/* A volume of @n chunks: data in chunks 0, 3-5, 100 and the last one, the
 * rest holes; @n - 1 must be > 100. */
static char *sample_volume(struct fixture *f, const char *name, uint64_t n)
{
    char *vol = volume_create(f, name, n * CS - 123); /* a partial last chunk */

    chunk_write(vol, CS, 0, 1);
    volume_write(vol, 3 * CS, 3 * CS, 2);
    chunk_write(vol, CS, 100, 3);
    volume_write(vol, (n - 1) * CS, CS - 123, 4);
    return vol;
}

static void test_restore_identical_sparse(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = BM_FANOUT + 500; /* depth 2 */
    char *vol = sample_volume(f, "v.img", n), *out = path_in(f->dir, "out.img");
    char id[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    struct stat st;
    char *json = NULL;

    snap_path(f, vol, id);
    umask(022);
    assert_int_equal(bsnap_volume_create(f->s, id, out, NULL, vid), 0);
    assert_true(id_valid(vid, "vol"));
    assert_files_equal(vol, out);
    assert_int_equal(stat(out, &st), 0);
    assert_int_equal(st.st_size, n * CS - 123);
    /* Sparse: 6 data chunks (24 KiB) in a 18 MiB file. */
    assert_true((uint64_t)st.st_blocks * 512 <= 64 * KiB);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* The restored file is a volume whose source is the snapshot, and its
     * next snapshot is incremental from it. */
    assert_int_equal(bsnap_volume_describe_one(f->s, vid, &json), 0);
    assert_non_null(strstr(json, id));
    free(json);
    {
        char id2[BSNAP_ID_MAX];
        bsnap_snapshot_info info;
        bsnap_snapshot_stats s2 = snap_path(f, out, id2);
        assert_int_equal(s2.new_chunks, 0);
        assert_int_equal(bsnap_snapshot_get(f->s, id2, &info), 0);
        assert_string_equal(info.parent_id, id);
        assert_string_equal(info.volume_id, vid);
    }
    free(vol);
    free(out);
}

static void fp_write_all(const char *path, const uint8_t *b, size_t len)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static size_t dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void test_restore_refusals(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 200), *dir = path_in(f->dir, "out");
    char *out = path_in(dir, "x.img"), *nodir = path_in(f->dir, "no/such/x.img");
    char id[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    bsnap_volume_options force = {.force = true};
    FILE *fp;

    snap_path(f, vol, id);
    assert_int_equal(mkdir(dir, 0755), 0);
    fp = fopen(out, "w");
    fputs("keep me", fp);
    fclose(fp);
    assert_error(bsnap_volume_create(f->s, id, out, NULL, vid), -EEXIST, "InvalidParameterValue");
    {
        size_t len;
        uint8_t *b = file_slurp(out, &len);
        assert_int_equal(len, 7); /* untouched */
        free(b);
    }
    assert_int_equal(bsnap_volume_create(f->s, id, out, &force, vid), 0);
    assert_files_equal(vol, out);
    assert_int_equal(dir_entries(dir), 1); /* no temporary file left */
    assert_true(bsnap_volume_create(f->s, id, nodir, NULL, vid) < 0);
    assert_error(bsnap_volume_create(f->s, "snap-xyz", out, &force, vid), -EINVAL,
                 "InvalidSnapshotID.Malformed");
    assert_error(bsnap_volume_create(f->s, "snap-0123456789abcdef0", out, &force, vid), -ENOENT,
                 "InvalidSnapshot.NotFound");
    free(vol);
    free(dir);
    free(out);
    free(nodir);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode;
}

/* A new file gets 0666 less the umask; a replaced file keeps its mode (a
 * private file stays private); a link, dangling or not, is replaced only
 * when asked, and what it names is left alone. */
static void test_restore_modes(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 200), *out = path_in(f->dir, "out.img");
    char *priv = path_in(f->dir, "private.img"), *lnk = path_in(f->dir, "link.img");
    char *gone = path_in(f->dir, "gone.img");
    char id[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    bsnap_volume_options force = {.force = true};
    mode_t old = umask(027);
    FILE *fp;

    snap_path(f, vol, id);
    assert_int_equal(bsnap_volume_create(f->s, id, out, NULL, vid), 0);
    assert_int_equal(mode_of(out) & 07777, 0640);
    umask(077);
    assert_int_equal(unlink(out), 0);
    assert_int_equal(bsnap_volume_create(f->s, id, out, NULL, vid), 0);
    assert_int_equal(mode_of(out) & 07777, 0600);

    umask(022);
    fp = fopen(priv, "w");
    fclose(fp);
    assert_int_equal(chmod(priv, 0600), 0);
    assert_int_equal(bsnap_volume_create(f->s, id, priv, &force, vid), 0);
    assert_files_equal(vol, priv);
    assert_int_equal(mode_of(priv) & 07777, 0600);
    assert_int_equal(chmod(priv, 0751), 0);
    assert_int_equal(bsnap_volume_create(f->s, id, priv, &force, vid), 0);
    assert_int_equal(mode_of(priv) & 07777, 0751);

    /* A dangling link is something at the path. */
    assert_int_equal(symlink("gone.img", lnk), 0);
    assert_error(bsnap_volume_create(f->s, id, lnk, NULL, vid), -EEXIST, "InvalidParameterValue");
    assert_true(S_ISLNK(mode_of(lnk)));
    assert_int_equal(bsnap_volume_create(f->s, id, lnk, &force, vid), 0);
    assert_true(S_ISREG(mode_of(lnk)));
    assert_int_equal(mode_of(lnk) & 07777, 0644);
    assert_int_equal(access(gone, F_OK), -1);
    assert_files_equal(vol, lnk);

    /* The same through a named temporary file (mkostemp makes it 0600), as
     * on file systems without O_TMPFILE. */
    setenv("BLOCKSNAP_FAULT", "restore-tmpfile:1,restore-tmpfile:2", 1);
    umask(027);
    assert_int_equal(unlink(out), 0);
    assert_int_equal(bsnap_volume_create(f->s, id, out, NULL, vid), 0);
    assert_int_equal(mode_of(out) & 07777, 0640);
    assert_int_equal(chmod(priv, 0604), 0);
    assert_int_equal(bsnap_volume_create(f->s, id, priv, &force, vid), 0);
    unsetenv("BLOCKSNAP_FAULT");
    assert_int_equal(mode_of(priv) & 07777, 0604);
    assert_files_equal(vol, out);
    assert_files_equal(vol, priv);
    assert_int_equal(dir_entries(f->dir), 5); /* store, v, out, private, link: no temporary file */
    umask(old);
    free(vol);
    free(out);
    free(priv);
    free(lnk);
    free(gone);
}

/* A target inside the store is refused before anything is written, even
 * with force: the pack stays as it was and no temporary file is left. */
static void test_restore_into_store(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 200), *packs = path_in(f->store_path, "packs");
    char *pack = NULL, *copy = path_in(f->dir, "pack.copy"), *dir = path_in(f->dir, "d");
    char id[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    bsnap_volume_options force = {.force = true};
    size_t before;
    DIR *d;
    struct dirent *e;

    snap_path(f, vol, id);
    d = opendir(packs);
    assert_non_null(d);
    while ((e = readdir(d)) && !pack)
        if (strstr(e->d_name, ".pack"))
            pack = path_in(packs, e->d_name);
    closedir(d);
    assert_non_null(pack);
    {
        size_t len;
        uint8_t *b = file_slurp(pack, &len);
        fp_write_all(copy, b, len);
        free(b);
    }
    before = dir_entries(packs);
    assert_error(bsnap_volume_create(f->s, id, pack, &force, vid), -EINVAL,
                 "InvalidParameterValue");
    assert_files_equal(copy, pack);
    assert_int_equal(dir_entries(packs), before);
    /* A directory is refused too, and nothing is left in it. */
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_error(bsnap_volume_create(f->s, id, dir, &force, vid), -EISDIR, "InvalidParameterValue");
    assert_int_equal(dir_entries(dir), 0);
    assert_verify_clean(f);
    free(vol);
    free(packs);
    free(pack);
    free(copy);
    free(dir);
}

/* A damaged chunk fails the restore with -EIO naming chunk, pack and offset,
 * and leaves no file. */
static void test_restore_damaged(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 200), *out = path_in(f->dir, "out.img");
    char id[BSNAP_ID_MAX], vid[BSNAP_ID_MAX], hex[33], where[64];
    chunk_id cid;
    struct chunk_entry e;
    struct stat st;
    uint8_t buf[CS];

    snap_path(f, vol, id);
    fill_random(buf, CS, 3); /* chunk 100 */
    chunk_hash(f->s, false, buf, CS, &cid);
    e = entry_of(f, &cid);
    chunk_id_hex(&cid, hex);
    snprintf(where, sizeof where, "pack %u offset %llu", e.loc.pack,
             (unsigned long long)e.loc.offset);
    pack_flip(f, e.loc.pack, e.loc.offset + PACK_RECORD_HEADER_BYTES + 1);
    assert_error(bsnap_volume_create(f->s, id, out, NULL, vid), -EIO, "Store.Corrupt");
    assert_message_has(hex);
    assert_message_has(where);
    assert_int_equal(stat(out, &st), -1);
    assert_int_equal(dir_entries(f->dir), 2); /* store and v.img only */

    /* pread of the damaged chunk fails the same way; others still read */
    {
        bsnap_reader *rd = NULL;
        assert_int_equal(bsnap_reader_open(f->s, id, &rd), 0);
        assert_int_equal(bsnap_reader_pread(rd, buf, 10, 100 * CS + 5), -EIO);
        assert_message_has(hex);
        assert_message_has(where);
        assert_int_equal(bsnap_reader_pread(rd, buf, CS, 0), CS);
        bsnap_reader_close(rd);
    }
    free(vol);
    free(out);
}

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

struct ranges {
    bsnap_range r[16];
    size_t n;
};

static int range_collect(void *ud, uint64_t off, uint64_t len)
{
    struct ranges *rs = ud;

    assert_true(rs->n < ARRAY_SIZE(rs->r));
    assert_true(len > 0);
    if (rs->n)
        assert_true(off > rs->r[rs->n - 1].offset + rs->r[rs->n - 1].length); /* merged */
    rs->r[rs->n++] = (bsnap_range){off, len};
    return 0;
}

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
    assert_int_equal(bsnap_snapshot_diff_json(f->s, a, b, &json), 0);
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

static void restore_progress(void *ud, uint64_t done, uint64_t total)
{
    uint64_t *p = ud;

    assert_true(done <= total);
    p[0]++;
    p[1] = done;
    p[2] = total;
}

/* Pages of @path in the page cache. */
static size_t resident_pages(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = 0, npages;
    unsigned char *vec;
    void *map;

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    npages = ((size_t)st.st_size + pg - 1) / pg;
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(map != MAP_FAILED);
    vec = malloc(npages);
    assert_non_null(vec);
    assert_int_equal(mincore(map, (size_t)st.st_size, vec), 0);
    for (size_t i = 0; i < npages; i++)
        n += vec[i] & 1;
    free(vec);
    munmap(map, (size_t)st.st_size);
    close(fd);
    return n;
}

/* Restore writes around the page cache (O_DIRECT) in whole batches, the
 * odd-sized end through it; a direct write the file system refuses
 * (BLOCKSNAP_FAULT=restore-direct:N plays that) turns the rest of the
 * restore into buffered writes, with the same result. */
static void test_restore_direct_and_buffered(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = 4 * 64 + 10; /* four whole batches and a part */
    char *vol = volume_create(f, "v.img", n * CS - 123), *out = path_in(f->dir, "out.img");
    char id[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    bsnap_volume_options force = {.force = true};
    struct statfs sfs;

    requires_faults();

    for (uint64_t i = 0; i < n - 1; i++)
        if (i % 64 != 7) /* a hole in every batch */
            chunk_write(vol, CS, i, i + 1);
    volume_write(vol, (n - 1) * CS, CS - 123, 99);
    snap_path(f, vol, id);

    assert_int_equal(bsnap_volume_create(f->s, id, out, NULL, vid), 0);
    /* Page-cache file systems (tmpfs) have no cache to go around. */
    assert_int_equal(statfs(f->dir, &sfs), 0);
    if (sfs.f_type != TMPFS_MAGIC)
        assert_true(resident_pages(out) <= 1); /* the odd end only */
    assert_files_equal(vol, out);

    setenv("BLOCKSNAP_FAULT", "restore-direct:2", 1);
    assert_int_equal(bsnap_volume_create(f->s, id, out, &force, vid), 0);
    unsetenv("BLOCKSNAP_FAULT");
    assert_files_equal(vol, out);
    free(vol);
    free(out);
}

static void test_restore_progress_cancel(void **state)
{
    struct fixture *f = *state;
    char *vol = sample_volume(f, "v.img", 300), *out = path_in(f->dir, "out.img");
    char id[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    uint64_t seen[3] = {0};
    volatile int cancel = 1;
    bsnap_volume_options o = {0};
    struct stat st;

    snap_path(f, vol, id);
    o.run.progress = restore_progress;
    o.run.progress_ud = seen;
    assert_int_equal(bsnap_volume_create(f->s, id, out, &o, vid), 0);
    assert_true(seen[0] >= 1);
    assert_int_equal(seen[1], 300 * CS - 123); /* the last call: done == total */
    assert_int_equal(seen[2], 300 * CS - 123);
    assert_int_equal(unlink(out), 0);
    o.run.progress = NULL;
    o.run.cancel = &cancel;
    assert_error(bsnap_volume_create(f->s, id, out, &o, vid), -ECANCELED, "Cancelled");
    assert_int_equal(stat(out, &st), -1);
    assert_int_equal(dir_entries(f->dir), 2); /* no temporary file */
    free(vol);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restore_identical_sparse, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_restore_refusals, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_restore_modes, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_restore_into_store, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_restore_damaged, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_pread, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_read_chunk, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_seek, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_open_errors, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_foreign_chunk_size, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_pin_reads_after_gc, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_dead_pin_reaped, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_stray_lock_file_reaped, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_diff, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_lying_index_entry, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_threaded_reads, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_read_only_reader, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_restore_progress_cancel, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_restore_direct_and_buffered, setup_4k,
                                        teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
