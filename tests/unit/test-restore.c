/* test-restore.c - restore.c: a snapshot restored byte-identical, sparse,
 * atomic, with the target's mode, around the page cache or through it. */
#include <errno.h>
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include <cmocka.h>

#include "blockmap.h"

#include "catalog.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096u

static void fp_write_all(const char *path, const uint8_t *b, size_t len)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode;
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
    assert_int_equal(AS_JSON(json, bsnap_volume_describe_one, f->s, vid), 0);
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
        cmocka_unit_test_setup_teardown(test_restore_progress_cancel, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_restore_direct_and_buffered, setup_4k,
                                        teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
