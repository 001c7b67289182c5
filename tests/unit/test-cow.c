/* test-cow.c - cow.c: writable copy-on-write volumes.  Reads fall through
 * to the base, writes land whole chunks in the overlay at chunk edges and
 * inside chunks, holes stay zeros, growth reads zeros, what was flushed
 * survives a writer killed before its close and nothing else shows as
 * garbage, one writer at a time, snapshots of a volume read only what was
 * written, and the base and last snapshot stay while the volume exists. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

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
    bsnap_writable_volume_options big = {.size_gib = 20000}, enc = {.encrypted = true};
    char *out = path_in(f->dir, "r.img");
    DIR *d;

    make_base(f, base, &model, 0);
    assert_error(bsnap_volume_create_writable(f->s, "snap-0123456789abcdef0", NULL, &doc), -ENOENT,
                 "InvalidSnapshot.NotFound");
    assert_error(bsnap_volume_create_writable(f->s, "vol-1", NULL, &doc), -EINVAL,
                 "InvalidSnapshotID.Malformed");
    assert_error(bsnap_volume_create_writable(f->s, base, &big, &doc), -EINVAL,
                 "InvalidParameterValue");
    assert_error(bsnap_volume_create_writable(f->s, base, &enc, &doc), -EINVAL,
                 "UnsupportedOperation");
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
