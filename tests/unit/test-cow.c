/* test-cow.c - cow.c: writable copy-on-write volumes.  Reads fall through
 * to the base, writes land whole chunks in the overlay at chunk edges and
 * inside chunks, holes stay zeros, growth reads zeros, what was flushed
 * survives a writer killed before its close and nothing else shows as
 * garbage, one writer at a time, snapshots of a volume read only what was
 * written, and the base and last snapshot stay while the volume exists.
 * Encrypted volumes: the overlay holds no plaintext, a damaged or moved
 * sealed chunk reads as EIO for its range alone, a torn rewrite after a
 * crash reads as the flushed data, snapshots are encrypted in the volume's
 * lineage (incremental over an encrypted base of the same lineage, full
 * after a plain one).  verify finds damaged volume files by volume and
 * repairs what is safe; gc removes old files no record names and nothing
 * else. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "cow-check.h"
#include "cow-crypt.h"
#include "cow.h"
#include "util.h"
#include "unit-helpers.h"

#define CS 4096u
#define NCH 40u                     /* chunks of the base */
#define BASE_SIZE (NCH * CS - 1000) /* a partial last chunk */

/* A base snapshot: random chunks, a hole at chunks 10..19, and a model of
 * its bytes in @ret_model (BASE_SIZE bytes, or @model_size if larger). */
static void make_base(struct fixture *f, char id[BSNAP_ID_MAX], uint8_t **ret_model,
                      size_t model_size)
{
    char *path = volume_create(f, "base.img", BASE_SIZE);
    uint8_t *m = calloc(1, MAX(model_size, (size_t)BASE_SIZE));
    int fd;

    assert_non_null(m);
    for (unsigned i = 0; i < NCH; i++) {
        if (i >= 10 && i < 20)
            continue;
        size_t n = MIN((size_t)CS, (size_t)BASE_SIZE - i * CS);
        fill_random(m + i * CS, n, 100 + i);
    }
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    for (unsigned i = 0; i < NCH; i++)
        if (i < 10 || i >= 20) {
            size_t n = MIN((size_t)CS, (size_t)BASE_SIZE - i * CS);
            assert_int_equal(pwrite(fd, m + i * CS, n, i * CS), (ssize_t)n);
        }
    close(fd);
    snap_path(f, path, id);
    free(path);
    *ret_model = m;
}

static void create_vol(struct fixture *f, const char *snap, uint64_t gib, char vid[BSNAP_ID_MAX])
{
    bsnap_writable_volume_options o = {.size_gib = gib};
    json_t *doc = NULL;
    int r = bsnap_volume_create_writable(f->s, snap, &o, &doc);

    if (r < 0)
        print_error("create: %s (%s)\n", bsnap_last_error()->message, bsnap_last_error()->code);
    assert_int_equal(r, 0);
    snprintf(vid, BSNAP_ID_MAX, "%s", json_string_value(json_object_get(doc, "VolumeId")));
    assert_string_equal(json_string_value(json_object_get(doc, "State")), "available");
    assert_string_equal(json_string_value(json_object_get(doc, "SnapshotId")), snap);
    assert_true(json_is_true(json_object_get(doc, "Writable")));
    json_decref(doc);
}

static void assert_reads(bsnap_volume *v, const uint8_t *model, uint64_t size)
{
    uint8_t *buf = malloc(size + 1);

    assert_non_null(buf);
    assert_int_equal(bsnap_volume_pread(v, buf, size + 1, 0), (long)size);
    assert_memory_equal(buf, model, size);
    free(buf);
}

static void wr(bsnap_volume *v, uint8_t *model, uint64_t off, size_t len, uint64_t seed)
{
    uint8_t *buf = malloc(len);

    assert_non_null(buf);
    fill_random(buf, len, seed);
    assert_int_equal(bsnap_volume_pwrite(v, buf, len, off), (long)len);
    memcpy(model + off, buf, len);
    free(buf);
}

/* Restore snapshot @id to a file and compare it with @model. */
static void assert_snapshot_is(struct fixture *f, const char *id, const uint8_t *model,
                               uint64_t size)
{
    char *out = path_in(f->dir, "restored.img");
    char vid[BSNAP_ID_MAX];
    bsnap_volume_options o = {.force = true};
    size_t len;
    uint8_t *got;

    assert_int_equal(bsnap_volume_create(f->s, id, out, &o, vid), 0);
    got = file_slurp(out, &len);
    assert_int_equal(len, size);
    assert_memory_equal(got, model, size);
    free(got);
    free(out);
}

static void test_create_read_write(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    uint8_t *model;
    bsnap_volume *v = NULL;
    struct stat st;
    char *data;

    make_base(f, base, &model, 0);
    create_vol(f, base, 0, vid);
    /* Nothing copied: an empty sparse overlay of the volume's size. */
    data = cow_data_path(f->s, vid);
    assert_int_equal(stat(data, &st), 0);
    assert_int_equal(st.st_size, BASE_SIZE);
    assert_int_equal(st.st_blocks, 0);

    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_int_equal(bsnap_volume_size(v), BASE_SIZE);
    assert_reads(v, model, BASE_SIZE);
    /* Across a chunk edge, inside a chunk over base data, into the hole,
     * whole chunks, the partial last chunk, one byte at the very end. */
    wr(v, model, 3 * CS - 100, 300, 1);
    wr(v, model, 5 * CS + 17, 50, 2);
    wr(v, model, 12 * CS + 1000, 10, 3);
    wr(v, model, 21 * CS, 2 * CS, 4);
    wr(v, model, (NCH - 1) * CS + 5, 20, 5);
    wr(v, model, BASE_SIZE - 1, 1, 6);
    wr(v, model, 5 * CS + 40, 4, 7); /* again, into a written chunk */
    assert_reads(v, model, BASE_SIZE);
    /* The hole stays zeros where not written. */
    {
        uint8_t z[CS], buf[CS];
        memset(z, 0, sizeof z);
        assert_int_equal(bsnap_volume_pread(v, buf, CS, 15 * CS), CS);
        assert_memory_equal(buf, z, CS);
    }
    /* Past the end: refused, nothing written. */
    {
        uint8_t b[2] = {1, 2};
        assert_error((int)bsnap_volume_pwrite(v, b, 2, BASE_SIZE - 1), -ENOSPC,
                     "InvalidParameterValue");
    }
    assert_int_equal(bsnap_volume_flush(v), 0);
    assert_int_equal(bsnap_volume_close(v), 0);

    /* Persistent across a close and a reopen of the store. */
    fixture_reopen(f);
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_reads(v, model, BASE_SIZE);
    assert_int_equal(bsnap_volume_close(v), 0);
    free(data);
    free(model);
}

static void test_grow(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX], snap[BSNAP_ID_MAX];
    const uint64_t size = 1ull << 30;
    uint8_t *model;
    bsnap_volume *v = NULL;
    bsnap_snapshot_stats st;
    json_t *doc = NULL;
    bsnap_writable_volume_options small = {.size_gib = 0, .volume_type = "gp9"};

    make_base(f, base, &model, (size_t)size);
    /* A volume type EC2 does not know */
    assert_error(bsnap_volume_create_writable(f->s, base, &small, &doc), -EINVAL,
                 "InvalidParameterValue");
    assert_string_equal(bsnap_last_error()->parameter, "VolumeType");
    create_vol(f, base, 1, vid);
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_int_equal(bsnap_volume_size(v), size);
    {
        uint8_t buf[CS], z[CS];
        memset(z, 0, sizeof z);
        assert_int_equal(bsnap_volume_pread(v, buf, CS, size - CS), CS);
        assert_memory_equal(buf, z, CS);
    }
    wr(v, model, size - 10, 10, 9);
    wr(v, model, 100 * CS, CS, 10);
    /* The snapshot of the grown volume: its base's partial last chunk is
     * kept, the rest past it zeros. */
    assert_int_equal(bsnap_volume_snapshot(v, NULL, snap, &st), 0);
    assert_int_equal(st.volume_bytes, size);
    assert_int_equal(bsnap_volume_close(v), 0);
    assert_snapshot_is(f, snap, model, size);
    free(model);
}

/* Whether byte @x of the grown volume of test_seek is data: in a chunk
 * written, or in the base's data (chunks 0..9 and 20..39, up to its end
 * inside chunk 39). */
static bool seek_data_at(const bool *written, uint64_t x)
{
    uint64_t i = x / CS;
    return (i < 300 && written[i]) || (x < BASE_SIZE && (i < 10 || i >= 20));
}

/* What lseek would answer over seek_data_at(): -1 for ENXIO.  Nothing is
 * data from chunk 300 on. */
static int64_t seek_model(const bool *written, uint64_t size, uint64_t off, int whence)
{
    uint64_t x = off;
    while (x < 300 * CS) {
        if (seek_data_at(written, x) == (whence == SEEK_DATA))
            return (int64_t)x;
        uint64_t next = (x / CS + 1) * CS;
        x = x < BASE_SIZE && BASE_SIZE < next ? BASE_SIZE : next;
    }
    if (whence == SEEK_DATA)
        return -1;
    return (int64_t)MIN(size, MAX(off, (uint64_t)300 * CS));
}

/* bsnap_volume_seek(): written chunks are data (zeros too), chunks never
 * written are the base's (its hole at 10..19 a hole), past the base's end
 * (inside its last chunk too) holes, the end an implicit hole; bad whence
 * and offsets. */
static void test_seek(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    const uint64_t size = 1ull << 30;
    bool written[300] = {false};
    uint8_t *model, zeros[CS] = {0};
    bsnap_volume *v = NULL;
    uint64_t got;

    make_base(f, base, &model, (size_t)size);
    create_vol(f, base, 1, vid);
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t off = 0; off < 300 * CS; off += CS / 2 + (off % 7 == 0 ? 1 : 0)) {
            for (int w = 0; w < 2; w++) {
                int whence = w ? SEEK_HOLE : SEEK_DATA;
                int64_t want = seek_model(written, size, off, whence);
                int r = bsnap_volume_seek(v, off, whence, &got);
                if (want < 0) {
                    assert_int_equal(r, -ENXIO);
                } else {
                    assert_int_equal(r, 0);
                    if ((int64_t)got != want)
                        print_error("pass %d offset %llu whence %d: got %llu want %lld\n", pass,
                                    (unsigned long long)off, whence, (unsigned long long)got,
                                    (long long)want);
                    assert_int_equal(got, want);
                }
            }
        }
        if (pass == 1)
            break;
        /* into the base's hole, past its end (one of zeros), over data,
         * across the 64-chunk words of the map */
        wr(v, model, 15 * CS + 100, 10, 1);
        written[15] = true;
        assert_int_equal(bsnap_volume_pwrite(v, zeros, CS, 100 * CS), (long)CS);
        written[100] = true;
        wr(v, model, 5 * CS, CS, 2);
        written[5] = true;
        wr(v, model, 127 * CS + 10, 2 * CS, 3);
        written[127] = written[128] = written[129] = true;
    }
    assert_int_equal(bsnap_volume_seek(v, size - 1, SEEK_DATA, &got), -ENXIO);
    assert_int_equal(bsnap_volume_seek(v, size - 1, SEEK_HOLE, &got), 0);
    assert_int_equal(got, size - 1);
    assert_int_equal(bsnap_volume_seek(v, size, SEEK_HOLE, &got), -ENXIO);
    assert_error(bsnap_volume_seek(v, 0, SEEK_SET, &got), -EINVAL, "InvalidParameterValue");
    assert_int_equal(bsnap_volume_close(v), 0);
    free(model);
}

/* A writer that dies without closing: flushed writes are there, the rest
 * reads as the base or the written data, never anything else, and the next
 * snapshot has every chunk the volume reads. */
static void test_crash(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX], snap[BSNAP_ID_MAX];
    uint8_t *model, *after;
    bsnap_volume *v = NULL;
    pid_t pid;
    int status;

    make_base(f, base, &model, 0);
    create_vol(f, base, 0, vid);
    after = malloc(BASE_SIZE);
    assert_non_null(after);
    memcpy(after, model, BASE_SIZE);
    /* The child writes; the store is not carried across fork(). */
    bsnap_store_close(f->s);
    f->s = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bsnap_store *s = NULL;
        if (bsnap_store_open(f->store_path, 0, NULL, &s) < 0 || bsnap_volume_open(s, vid, &v) < 0)
            _exit(2);
        uint8_t b[CS];
        fill_random(b, CS, 50);
        if (bsnap_volume_pwrite(v, b, CS, 2 * CS) != CS ||
            bsnap_volume_pwrite(v, b, 100, 4 * CS + 7) != 100 || bsnap_volume_flush(v) < 0)
            _exit(3);
        /* after the flush: a first write of chunk 6 and a rewrite of the
         * flushed chunk 2, never flushed */
        fill_random(b, CS, 51);
        if (bsnap_volume_pwrite(v, b, 200, 6 * CS + 3) != 200 ||
            bsnap_volume_pwrite(v, b, 8, 2 * CS) != 8)
            _exit(4);
        _exit(0); /* no close: as if killed */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    fixture_reopen(f);
    {
        uint8_t b[CS];
        fill_random(b, CS, 50);
        memcpy(model + 2 * CS, b, CS);
        memcpy(model + 4 * CS + 7, b, 100);
        memcpy(after, model, BASE_SIZE);
        fill_random(b, CS, 51);
        memcpy(after + 6 * CS + 3, b, 200);
        memcpy(after + 2 * CS, b, 8);
    }
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    {
        uint8_t *got = malloc(BASE_SIZE);
        assert_non_null(got);
        assert_int_equal(bsnap_volume_pread(v, got, BASE_SIZE, 0), BASE_SIZE);
        /* Every chunk is the flushed state or the later write: chunk 6 is
         * the base (its bit was never recorded), chunk 2 either. */
        for (unsigned i = 0; i < NCH; i++) {
            size_t n = MIN((size_t)CS, (size_t)BASE_SIZE - i * CS);
            bool old = memcmp(got + i * CS, model + i * CS, n) == 0;
            bool new = memcmp(got + i * CS, after + i * CS, n) == 0;
            if (!old && !new)
                fail_msg("chunk %u is neither the flushed nor the written data", i);
            if (i == 6)
                assert_true(old);
            if (i == 4)
                assert_true(old && new);
        }
        /* The snapshot after the crash holds exactly what the volume reads. */
        assert_int_equal(bsnap_volume_snapshot(v, NULL, snap, NULL), 0);
        assert_int_equal(bsnap_volume_close(v), 0);
        assert_snapshot_is(f, snap, got, BASE_SIZE);
        free(got);
    }
    free(after);
    free(model);
}

/* A map that cannot be written (the sync fails): the flush fails, and the
 * chunk's first write is not recorded: after a reopen it reads as the
 * base. */
static void test_flush_failure(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    uint8_t *model;
    bsnap_volume *v = NULL;

    requires_faults();
    make_base(f, base, &model, 0);
    create_vol(f, base, 0, vid);
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    {
        uint8_t b[64];
        memset(b, 0xab, sizeof b);
        assert_int_equal(bsnap_volume_pwrite(v, b, sizeof b, 7 * CS + 1), sizeof b);
    }
    /* The flush's map and the close's fail: as if it died after both. */
    setenv("BLOCKSNAP_FAULT", "cow-map-write:1,cow-map-write:2", 1);
    assert_true(bsnap_volume_flush(v) < 0);
    assert_true(bsnap_volume_close(v) < 0);
    unsetenv("BLOCKSNAP_FAULT");
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_reads(v, model, BASE_SIZE);
    assert_int_equal(bsnap_volume_close(v), 0);
    free(model);
}

static void test_lock_delete_pins(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX], s1[BSNAP_ID_MAX], s2[BSNAP_ID_MAX];
    uint8_t *model;
    bsnap_volume *v = NULL, *v2 = NULL;
    bsnap_snapshot_options o = {0};
    bsnap_snapshot_info info;
    bsnap_snapshot_stats st;
    json_t *doc = NULL;
    char *data;

    make_base(f, base, &model, 0);
    create_vol(f, base, 0, vid);
    data = cow_data_path(f->s, vid);
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    /* One writer */
    assert_error(bsnap_volume_open(f->s, vid, &v2), -EBUSY, "VolumeInUse");
    assert_int_equal(bsnap_volume_describe_one(f->s, vid, &doc), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "State")), "in-use");
    json_decref(doc);
    assert_error(bsnap_volume_delete(f->s, vid), -EBUSY, "VolumeInUse");
    /* A snapshot by id while a writer has it: refused, the writer's own
     * handle may. */
    o.volume_id = vid;
    assert_error(bsnap_snapshot_create(f->s, &o, s1, NULL), -EBUSY, "VolumeInUse");
    wr(v, model, 30 * CS, 3 * CS, 20);
    assert_int_equal(bsnap_volume_close(v), 0);

    /* By id, nobody writing: only the three written chunks are read. */
    st = snap_opts(f, &o, s1);
    assert_int_equal(st.read_bytes, 3 * CS);
    assert_int_equal(bsnap_snapshot_get(f->s, s1, &info), 0);
    assert_string_equal(info.parent_id, base);
    assert_string_equal(info.volume_id, vid);
    assert_snapshot_is(f, s1, model, BASE_SIZE);
    /* Nothing written since: nothing read, parent the last one. */
    st = snap_opts(f, &o, s2);
    assert_int_equal(st.read_bytes, 0);
    assert_int_equal(st.new_chunks, 0);
    assert_int_equal(bsnap_snapshot_get(f->s, s2, &info), 0);
    assert_string_equal(info.parent_id, s1);
    /* A path, a parent or a list with a writable volume: refused. */
    o.full = true;
    assert_error(bsnap_snapshot_create(f->s, &o, s1, NULL), -EINVAL, "InvalidParameterCombination");
    o.full = false;

    /* The base and the last snapshot stay; the one between may go. */
    assert_error(bsnap_snapshot_delete(f->s, base), -EBUSY, "InvalidSnapshot.InUse");
    assert_message_has(vid);
    assert_error(bsnap_snapshot_delete(f->s, s2), -EBUSY, "InvalidSnapshot.InUse");
    assert_int_equal(bsnap_snapshot_delete(f->s, s1), 0);

    /* Delete: record and files gone, the snapshots free again. */
    assert_int_equal(bsnap_volume_delete(f->s, vid), 0);
    assert_int_equal(access(data, F_OK), -1);
    assert_error(bsnap_volume_open(f->s, vid, &v2), -ENOENT, "InvalidVolume.NotFound");
    assert_int_equal(bsnap_snapshot_delete(f->s, s2), 0);
    assert_int_equal(bsnap_snapshot_delete(f->s, base), 0);
    free(data);
    free(model);
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], path_vol[BSNAP_ID_MAX];
    uint8_t *model;
    json_t *doc = NULL;
    bsnap_volume *v = NULL;
    bsnap_writable_volume_options big = {.size_gib = 20000}, key = {.kms_key_id = "alias/k"},
                                  nokey = {.encrypted = true, .kms_key_id = "alias/none"};
    char *out = path_in(f->dir, "r.img");
    DIR *d;

    make_base(f, base, &model, 0);
    assert_error(bsnap_volume_create_writable(f->s, "snap-0123456789abcdef0", NULL, &doc), -ENOENT,
                 "InvalidSnapshot.NotFound");
    assert_error(bsnap_volume_create_writable(f->s, "vol-1", NULL, &doc), -EINVAL,
                 "InvalidSnapshotID.Malformed");
    assert_error(bsnap_volume_create_writable(f->s, base, &big, &doc), -EINVAL,
                 "InvalidParameterValue");
    assert_error(bsnap_volume_create_writable(f->s, base, &key, &doc), -EINVAL,
                 "InvalidParameterDependency");
    assert_string_equal(bsnap_last_error()->parameter, "KmsKeyId");
    assert_true(bsnap_volume_create_writable(f->s, base, &nokey, &doc) < 0);
    assert_string_equal(bsnap_last_error()->parameter, "KmsKeyId");
    /* Nothing was left behind by the refusals. */
    d = opendir(f->store_path);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, "volumes") == 0) {
            char *vd = path_in(f->store_path, "volumes");
            DIR *d2 = opendir(vd);
            int n = 0;
            for (struct dirent *e2; (e2 = readdir(d2));)
                n += e2->d_name[0] != '.';
            closedir(d2);
            free(vd);
            assert_int_equal(n, 0);
        }
    closedir(d);
    /* A volume of a path is not opened as a writable one. */
    assert_int_equal(bsnap_volume_create(f->s, base, out, NULL, path_vol), 0);
    assert_error(bsnap_volume_open(f->s, path_vol, &v), -EINVAL, "InvalidParameterValue");
    free(out);
    free(model);
}

/* ---- encrypted volumes ---- */

static const char MARK[] = "blocksnap-plaintext-marker-";

static void set_key_dir(struct fixture *f)
{
    char *kd = path_in(f->dir, "keys");

    setenv("BLOCKSNAP_KEY_DIR", kd, 1);
    free(kd);
}

static void create_enc(struct fixture *f, const char *snap, bool encrypted, char vid[BSNAP_ID_MAX])
{
    bsnap_writable_volume_options o = {.encrypted = encrypted};
    json_t *doc = NULL;
    int r = bsnap_volume_create_writable(f->s, snap, &o, &doc);

    if (r < 0)
        print_error("create: %s (%s)\n", bsnap_last_error()->message, bsnap_last_error()->code);
    assert_int_equal(r, 0);
    snprintf(vid, BSNAP_ID_MAX, "%s", json_string_value(json_object_get(doc, "VolumeId")));
    assert_true(json_is_true(json_object_get(doc, "Encrypted")));
    assert_non_null(json_string_value(json_object_get(doc, "KmsKeyId")));
    json_decref(doc);
}

/* Write the marker over @len bytes at @off (and into @model). */
static void wr_mark(bsnap_volume *v, uint8_t *model, uint64_t off, size_t len)
{
    uint8_t *buf = malloc(len);

    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)MARK[i % (sizeof MARK - 1)];
    assert_int_equal(bsnap_volume_pwrite(v, buf, len, off), (long)len);
    memcpy(model + off, buf, len);
    free(buf);
}

static void assert_no_plaintext(struct fixture *f, const char *vid)
{
    char *data = cow_data_path(f->s, vid);
    size_t len;
    uint8_t *all = file_slurp(data, &len);

    assert_null(memmem(all, len, MARK, sizeof MARK - 1));
    free(all);
    free(data);
}

/* Which copy of chunk @idx is current (cow-crypt.h), read from the seal file. */
static unsigned current_copy(struct fixture *f, const char *vid, uint64_t idx)
{
    char *seal = cow_seal_path(f->s, vid);
    size_t len;
    uint8_t *all = file_slurp(seal, &len);
    uint32_t a, b;

    assert_true(len >= (idx + 1) * COW_SEAL_RECORD);
    a = le32_get(all + idx * COW_SEAL_RECORD);
    b = le32_get(all + idx * COW_SEAL_RECORD + COW_SEAL_ENTRY);
    free(all);
    free(seal);
    assert_true(a || b);
    return !a ? 1 : !b ? 0 : (int32_t)(b - a) > 0 ? 1 : 0;
}

static void file_poke(const char *path, uint64_t off, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void file_peek(const char *path, uint64_t off, void *buf, size_t n)
{
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, n, (off_t)off), (ssize_t)n);
    close(fd);
}

/* A plain base, an encrypted volume: no plaintext at rest, reads back,
 * persists; its first snapshot is encrypted and full, the next
 * incremental; a damaged chunk and moved chunks read as EIO for their
 * range alone. */
static void test_encrypted(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX], s1[BSNAP_ID_MAX], s2[BSNAP_ID_MAX];
    uint8_t *model, buf[CS], other[CS];
    bsnap_volume *v = NULL;
    bsnap_snapshot_stats st;
    struct snapshot_rec r1 = {0}, r2 = {0};
    struct volume_rec vr = {0};
    struct stat sb;
    char *data, *seal;

    set_key_dir(f);
    make_base(f, base, &model, 0);
    create_enc(f, base, true, vid);
    data = cow_data_path(f->s, vid);
    seal = cow_seal_path(f->s, vid);
    /* Nothing copied: two sparse copies of every chunk, sparse seals */
    assert_int_equal(stat(data, &sb), 0);
    assert_int_equal(sb.st_size, 2 * NCH * CS);
    assert_int_equal(sb.st_blocks, 0);
    assert_int_equal(stat(seal, &sb), 0);
    assert_int_equal(sb.st_size, NCH * COW_SEAL_RECORD);

    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_reads(v, model, BASE_SIZE);
    wr_mark(v, model, 3 * CS - 100, 300);
    wr_mark(v, model, 5 * CS + 17, 50);
    wr_mark(v, model, 12 * CS, 2 * CS); /* whole chunks into the hole */
    wr_mark(v, model, BASE_SIZE - 30, 30);
    wr_mark(v, model, 5 * CS + 40, 4); /* again: a rewrite of a sealed chunk */
    assert_reads(v, model, BASE_SIZE);
    assert_int_equal(bsnap_volume_flush(v), 0);
    assert_no_plaintext(f, vid);

    /* Its first snapshot: encrypted in the volume's lineage, full (the base
     * is plain), and restores to what the volume reads. */
    assert_int_equal(bsnap_volume_snapshot(v, NULL, s1, &st), 0);
    assert_int_equal(catalog_volume_get(f->s, vid, &vr), 0);
    assert_int_equal(catalog_snapshot_get(f->s, s1, &r1), 0);
    assert_true(vr.encrypted && r1.encrypted);
    assert_int_equal(r1.key_slot, vr.key_slot);
    assert_string_equal(r1.parent_id, "");
    assert_int_equal(st.read_bytes, BASE_SIZE);
    wr_mark(v, model, 30 * CS + 1, 10);
    assert_int_equal(bsnap_volume_snapshot(v, NULL, s2, &st), 0);
    assert_int_equal(st.read_bytes, CS);
    assert_int_equal(catalog_snapshot_get(f->s, s2, &r2), 0);
    assert_string_equal(r2.parent_id, s1);
    assert_int_equal(r2.key_slot, vr.key_slot);
    assert_int_equal(bsnap_volume_close(v), 0);
    assert_snapshot_is(f, s2, model, BASE_SIZE);
    assert_no_plaintext(f, vid);

    /* Persistent across a new store handle (the key opened again). */
    fixture_reopen(f);
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_reads(v, model, BASE_SIZE);
    assert_int_equal(bsnap_volume_close(v), 0);

    /* A flipped byte in chunk 5's ciphertext: EIO for chunk 5 alone. */
    {
        uint64_t at = (current_copy(f, vid, 5) ? NCH + 5 : 5) * (uint64_t)CS + 99;
        uint8_t b;
        file_peek(data, at, &b, 1);
        b ^= 0x10;
        file_poke(data, at, &b, 1);
        assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
        assert_error((int)bsnap_volume_pread(v, buf, 10, 5 * CS + 3), -EIO, "Store.Corrupt");
        assert_message_has("chunk 5");
        assert_int_equal(bsnap_volume_pread(v, buf, CS, 4 * CS), CS);
        assert_memory_equal(buf, model + 4 * CS, CS);
        assert_int_equal(bsnap_volume_pread(v, buf, CS, 6 * CS), CS);
        assert_memory_equal(buf, model + 6 * CS, CS);
        /* a write of the whole chunk makes it good again */
        memcpy(buf, model + 5 * CS, CS);
        assert_int_equal(bsnap_volume_pwrite(v, buf, CS, 5 * CS), CS);
        assert_int_equal(bsnap_volume_pread(v, other, CS, 5 * CS), CS);
        assert_memory_equal(other, model + 5 * CS, CS);
        assert_int_equal(bsnap_volume_close(v), 0);
    }
    /* Chunk 12's sealed copy and its seal put in chunk 13's place (both
     * hold the marker): refused, not read as chunk 12's bytes. */
    {
        unsigned c12 = current_copy(f, vid, 12), c13 = current_copy(f, vid, 13);
        uint8_t ent[COW_SEAL_ENTRY];
        file_peek(data, (c12 ? NCH + 12 : 12) * (uint64_t)CS, buf, CS);
        file_poke(data, (c13 ? NCH + 13 : 13) * (uint64_t)CS, buf, CS);
        file_peek(seal, 12 * COW_SEAL_RECORD + c12 * COW_SEAL_ENTRY, ent, sizeof ent);
        file_poke(seal, 13 * COW_SEAL_RECORD + c13 * COW_SEAL_ENTRY, ent, sizeof ent);
        assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
        assert_error((int)bsnap_volume_pread(v, buf, CS, 13 * CS), -EIO, "Store.Corrupt");
        assert_int_equal(bsnap_volume_pread(v, buf, CS, 12 * CS), CS);
        assert_memory_equal(buf, model + 12 * CS, CS);
        /* and the other copy of the same chunk: refused too */
        file_peek(data, (c12 ? NCH + 12 : 12) * (uint64_t)CS, buf, CS);
        file_poke(data, (c12 ? 12 : NCH + 12) * (uint64_t)CS, buf, CS);
        file_poke(seal, 12 * COW_SEAL_RECORD + (c12 ^ 1) * COW_SEAL_ENTRY, ent, sizeof ent);
        {
            uint32_t seq = le32_get(ent) + 1;
            uint8_t sq[4];
            le32_put(sq, seq);
            file_poke(seal, 12 * COW_SEAL_RECORD + (c12 ^ 1) * COW_SEAL_ENTRY, sq, 4);
        }
        assert_error((int)bsnap_volume_pread(v, buf, CS, 12 * CS), -EIO, "Store.Corrupt");
        assert_int_equal(bsnap_volume_close(v), 0);
    }
    snapshot_rec_clear(&r1);
    snapshot_rec_clear(&r2);
    volume_rec_clear(&vr);
    free(seal);
    free(data);
    free(model);
}

/* A volume of an encrypted snapshot is encrypted in the snapshot's
 * lineage, and its snapshots are incremental over it. */
static void test_encrypted_base(void **state)
{
    struct fixture *f = *state;
    char *path = volume_create(f, "enc.img", 8 * CS);
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX], s1[BSNAP_ID_MAX];
    bsnap_snapshot_options o = {.volume_path = path, .encrypted = true};
    struct snapshot_rec rb = {0}, r1 = {0};
    uint8_t *model = calloc(1, 8 * CS);
    bsnap_volume *v = NULL;
    bsnap_snapshot_stats st;
    size_t len;

    set_key_dir(f);
    volume_write(path, 0, 8 * CS, 77);
    snap_opts(f, &o, base);
    free(model);
    model = file_slurp(path, &len);
    create_enc(f, base, false, vid);
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_reads(v, model, 8 * CS);
    wr_mark(v, model, 2 * CS + 5, 100);
    assert_int_equal(bsnap_volume_snapshot(v, NULL, s1, &st), 0);
    assert_int_equal(st.read_bytes, CS);
    assert_int_equal(bsnap_volume_close(v), 0);
    assert_int_equal(catalog_snapshot_get(f->s, base, &rb), 0);
    assert_int_equal(catalog_snapshot_get(f->s, s1, &r1), 0);
    assert_true(r1.encrypted);
    assert_int_equal(r1.key_slot, rb.key_slot);
    assert_string_equal(r1.parent_id, base);
    assert_snapshot_is(f, s1, model, 8 * CS);
    assert_no_plaintext(f, vid);
    snapshot_rec_clear(&rb);
    snapshot_rec_clear(&r1);
    free(model);
    free(path);
}

/* A writer killed during the rewrite of a flushed chunk, its new copy not
 * whole on disk: the chunk reads as flushed, after the recovery of the
 * next open. */
static void test_encrypted_torn(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    uint8_t *model, b[CS];
    bsnap_volume *v = NULL;
    char *data;
    pid_t pid;
    int status;

    set_key_dir(f);
    make_base(f, base, &model, 0);
    create_enc(f, base, true, vid);
    data = cow_data_path(f->s, vid);
    bsnap_store_close(f->s);
    f->s = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bsnap_store *s = NULL;
        if (bsnap_store_open(f->store_path, 0, NULL, &s) < 0 || bsnap_volume_open(s, vid, &v) < 0)
            _exit(2);
        fill_random(b, CS, 60);
        if (bsnap_volume_pwrite(v, b, 100, 2 * CS + 7) != 100 || bsnap_volume_flush(v) < 0)
            _exit(3);
        fill_random(b, CS, 61);
        if (bsnap_volume_pwrite(v, b, 8, 2 * CS) != 8)
            _exit(4);
        _exit(0); /* no close: as if killed */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    fixture_reopen(f);
    fill_random(b, CS, 60);
    memcpy(model + 2 * CS + 7, b, 100);
    /* the rewrite's copy torn: its tail never reached the disk */
    memset(b, 0, sizeof b);
    file_poke(data, (current_copy(f, vid, 2) ? NCH + 2 : 2) * (uint64_t)CS + CS / 2, b, CS / 2);
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_reads(v, model, BASE_SIZE);
    assert_int_equal(bsnap_volume_close(v), 0);
    free(data);
    free(model);
}

/* ---- verify, repair, gc ---- */

struct seen {
    int n;
    char last[1200];
    char vol[BSNAP_ID_MAX];
    int64_t offset;
};

static void on_problem(void *ud, const bsnap_problem *p)
{
    struct seen *s = ud;

    s->n++;
    snprintf(s->last, sizeof s->last, "%s", p->what);
    snprintf(s->vol, sizeof s->vol, "%s", p->volume_id ? p->volume_id : "");
    s->offset = p->offset;
}

static bsnap_volume_verify_stats vverify(struct fixture *f, bool repair, struct seen *seen)
{
    bsnap_volume_verify_stats st;

    memset(seen, 0, sizeof *seen);
    assert_int_equal(bsnap_volume_verify(f->s, repair, on_problem, seen, &st), 0);
    return st;
}

static void test_verify_repair(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX], eid[BSNAP_ID_MAX];
    uint8_t *model, *emodel;
    bsnap_volume *v = NULL;
    bsnap_volume_verify_stats st;
    struct seen seen;
    char *map, *edata;

    set_key_dir(f);
    make_base(f, base, &model, 0);
    emodel = malloc(BASE_SIZE);
    assert_non_null(emodel);
    memcpy(emodel, model, BASE_SIZE);
    create_vol(f, base, 0, vid);
    create_enc(f, base, true, eid);
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    wr(v, model, 3 * CS + 10, 100, 30);
    wr(v, model, 7 * CS, CS, 31);
    assert_int_equal(bsnap_volume_close(v), 0);
    assert_int_equal(bsnap_volume_open(f->s, eid, &v), 0);
    wr_mark(v, emodel, 5 * CS + 1, 10);
    wr_mark(v, emodel, 9 * CS, CS);
    /* a volume a writer has open is left alone */
    st = vverify(f, false, &seen);
    assert_int_equal(st.problems, 0);
    assert_int_equal(st.volumes_checked, 1);
    assert_int_equal(st.volumes_in_use, 1);
    assert_int_equal(bsnap_volume_close(v), 0);
    st = vverify(f, false, &seen);
    assert_int_equal(st.problems, 0);
    assert_int_equal(st.volumes_checked, 2);
    assert_int_equal(st.chunks_checked, 2);

    /* A damaged map: found, named by volume; repaired from the overlay,
     * the volume reads as before and its next snapshot reads those chunks. */
    map = cow_map_path(f->s, vid);
    assert_int_equal(truncate(map, 30), 0);
    st = vverify(f, false, &seen);
    assert_int_equal(st.problems, 1);
    assert_string_equal(seen.vol, vid);
    assert_non_null(strstr(seen.last, "map"));
    st = vverify(f, true, &seen);
    assert_int_equal(st.problems, 0);
    assert_int_equal(st.repaired, 1);
    assert_non_null(strstr(seen.last, "repaired"));
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_reads(v, model, BASE_SIZE);
    {
        char s1[BSNAP_ID_MAX];
        bsnap_snapshot_stats ss;
        assert_int_equal(bsnap_volume_snapshot(v, NULL, s1, &ss), 0);
        assert_int_equal(ss.read_bytes, 2 * CS);
        assert_int_equal(bsnap_volume_close(v), 0);
        assert_snapshot_is(f, s1, model, BASE_SIZE);
    }
    /* ... and an encrypted one's, from its seals */
    free(map);
    map = cow_map_path(f->s, eid);
    assert_int_equal(unlink(map), 0);
    st = vverify(f, true, &seen);
    assert_int_equal(st.repaired, 1);
    assert_int_equal(st.problems, 0);
    assert_int_equal(bsnap_volume_open(f->s, eid, &v), 0);
    assert_reads(v, emodel, BASE_SIZE);
    assert_int_equal(bsnap_volume_close(v), 0);

    /* A sealed chunk that does not open: reported at its offset, not mended. */
    edata = cow_data_path(f->s, eid);
    {
        uint64_t at = (current_copy(f, eid, 9) ? NCH + 9 : 9) * (uint64_t)CS + 7;
        uint8_t b;
        file_peek(edata, at, &b, 1);
        b ^= 1;
        file_poke(edata, at, &b, 1);
    }
    st = vverify(f, true, &seen);
    assert_int_equal(st.problems, 1);
    assert_string_equal(seen.vol, eid);
    assert_int_equal(seen.offset, 9 * CS);
    assert_int_equal(st.repaired, 0);

    /* A base that lost its pin: found, pinned again by the repair. */
    {
        meta_txn *txn = NULL;
        struct volume_rec vr = {0};
        assert_int_equal(catalog_volume_get(f->s, vid, &vr), 0);
        assert_int_equal(meta_txn_begin(f->s->meta, true, &txn), 0);
        assert_int_equal(cow_xref_update(txn, &vr, NULL), 0);
        assert_int_equal(meta_txn_commit(txn), 0);
        volume_rec_clear(&vr);
    }
    st = vverify(f, false, &seen);
    assert_int_equal(st.problems, 2); /* the pin, and the damaged chunk */
    st = vverify(f, true, &seen);
    assert_int_equal(st.repaired, 1);
    assert_int_equal(st.problems, 1);
    assert_error(bsnap_snapshot_delete(f->s, base), -EBUSY, "InvalidSnapshot.InUse");

    /* A missing overlay: reported, the record left as it is. */
    free(edata);
    edata = cow_data_path(f->s, eid);
    assert_int_equal(unlink(edata), 0);
    st = vverify(f, true, &seen);
    assert_int_equal(st.problems, 1);
    assert_non_null(strstr(seen.last, "missing"));
    {
        json_t *doc = NULL;
        assert_int_equal(bsnap_volume_describe_one(f->s, eid, &doc), 0);
        json_decref(doc);
    }
    free(edata);
    free(map);
    free(emodel);
    free(model);
}

static void touch_old(const char *path, time_t age)
{
    struct timespec ts[2];

    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_gc_orphans(void **state)
{
    struct fixture *f = *state;
    char base[BSNAP_ID_MAX], vid[BSNAP_ID_MAX];
    const char *old = "vol-0123456789abcdef0", *young = "vol-0123456789abcdef1";
    const char *ext[] = {".data", ".map", ".seal", ".map.tmp"};
    char path[4096];
    uint8_t *model;
    uint64_t n = 0;
    bsnap_volume *v = NULL;

    make_base(f, base, &model, 0);
    create_vol(f, base, 0, vid);
    for (size_t i = 0; i < 4; i++) {
        FILE *fp;
        snprintf(path, sizeof path, "%s/volumes/%s%s", f->store_path, old, ext[i]);
        fp = fopen(path, "w");
        assert_non_null(fp);
        fclose(fp);
        touch_old(path, 7200);
        snprintf(path, sizeof path, "%s/volumes/%s%s", f->store_path, young, ext[i]);
        fp = fopen(path, "w");
        assert_non_null(fp);
        fclose(fp);
    }
    /* a file not of ours, and the live volume's, old too */
    snprintf(path, sizeof path, "%s/volumes/notes.txt", f->store_path);
    fclose(fopen(path, "w"));
    touch_old(path, 7200);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/volumes/%s%s", f->store_path, vid, ext[i]);
        touch_old(path, 7200);
    }
    /* one young file keeps all of that volume's */
    snprintf(path, sizeof path, "%s/volumes/%s.map", f->store_path, young);
    assert_int_equal(cow_gc_orphans(f->s, 3600, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/volumes/%s%s", f->store_path, old, ext[i]);
        assert_int_equal(access(path, F_OK), -1);
        snprintf(path, sizeof path, "%s/volumes/%s%s", f->store_path, young, ext[i]);
        assert_int_equal(access(path, F_OK), 0);
    }
    snprintf(path, sizeof path, "%s/volumes/notes.txt", f->store_path);
    assert_int_equal(access(path, F_OK), 0);
    /* the live volume is whole */
    assert_int_equal(bsnap_volume_open(f->s, vid, &v), 0);
    assert_reads(v, model, BASE_SIZE);
    assert_int_equal(bsnap_volume_close(v), 0);
    /* once old, the young orphan goes too (through bsnap_gc) */
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/volumes/%s%s", f->store_path, young, ext[i]);
        touch_old(path, 7200);
    }
    {
        bsnap_gc_stats gs;
        assert_int_equal(bsnap_gc(f->s, NULL, &gs), 0);
        assert_int_equal(gs.volume_files_removed, 4);
    }
    free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_read_write, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_grow, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_seek, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_crash, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_flush_failure, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_lock_delete_pins, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_bad_input, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_encrypted, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_encrypted_base, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_encrypted_torn, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_verify_repair, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_gc_orphans, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
