/* unit-helpers.h - what the engine unit tests share: a temporary directory
 * per test, stores in it, small volume files made with pwrite/ftruncate,
 * deterministic chunk contents, and checks that read a store back (verify,
 * restore, index entries).
 *
 * Header-only (static inline), so the glob of tests/unit/CMakeLists.txt,
 * which builds every test-*.c as its own program, does not pick it up.
 * Include after <cmocka.h>. */
#ifndef BSNAP_UNIT_HELPERS_H
#define BSNAP_UNIT_HELPERS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blocksnap.h"
#include "blockmap.h"
#include "catalog.h"
#include "chunk.h"
#include "error.h"
#include "index.h"
#include "meta.h"
#include "reader.h"
#include "snapshot.h"
#include "store.h"

/* Call @fn(ARGS..., &doc) for a call that returns a document, and put the
 * document as compact JSON text (as the records and strstr() checks read
 * it) in @json, a char * the caller frees; the value is the call's. */
#define AS_JSON(json, fn, ...)                                             \
    ({                                                                     \
        json_t *doc_ = NULL;                                               \
        int r_ = fn(__VA_ARGS__, &doc_);                                   \
        if (r_ == 0) {                                                     \
            (json) = json_dumps(doc_, JSON_COMPACT | JSON_PRESERVE_ORDER); \
            json_decref(doc_);                                             \
        }                                                                  \
        r_;                                                                \
    })

#define KiB 1024ull
#define MiB (1024ull * 1024ull)

/* One test's scratch space: dir holds the store (dir/store) and volumes. */
struct fixture {
    char dir[256];
    char store_path[300];
    bsnap_store *s;
};

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tmpdir_remove(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void tmpdir_make(char *out, size_t outlen)
{
    const char *t = getenv("TMPDIR");

    snprintf(out, outlen, "%s/bsnap-unit-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(out));
}

/* Join @dir and @name into a malloc'd path the caller frees. */
static inline char *path_in(const char *dir, const char *name)
{
    char *p = NULL;

    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

/* A fresh fixture with a store of @chunk_size (0: default). */
static inline struct fixture *fixture_new(uint32_t chunk_size)
{
    struct fixture *f = calloc(1, sizeof *f);
    bsnap_store_config cfg = {.chunk_size = chunk_size, .region = "test-1"};

    assert_non_null(f);
    tmpdir_make(f->dir, sizeof f->dir);
    snprintf(f->store_path, sizeof f->store_path, "%s/store", f->dir);
    assert_int_equal(bsnap_store_open(f->store_path, BSNAP_STORE_CREATE, &cfg, &f->s), 0);
    return f;
}

/* Close and reopen the store (empties the page and pack caches). */
static inline void fixture_reopen(struct fixture *f)
{
    bsnap_store_close(f->s);
    f->s = NULL;
    assert_int_equal(bsnap_store_open(f->store_path, 0, NULL, &f->s), 0);
}

static inline void fixture_free(struct fixture *f)
{
    if (!f)
        return;
    bsnap_store_close(f->s);
    tmpdir_remove(f->dir);
    free(f);
}

/* Setup and teardown for cmocka_unit_test_setup_teardown(). */
static inline int setup_4k(void **state)
{
    *state = fixture_new(4096);
    return 0;
}

static inline int setup_64k(void **state)
{
    *state = fixture_new(0);
    return 0;
}

static inline int teardown_fixture(void **state)
{
    fixture_free(*state);
    return 0;
}

/* Deterministic, incompressible bytes: xorshift keyed by @seed. */
static inline void fill_random(void *buf, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E5ull;
    uint8_t *p = buf;

    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

/* A sparse volume file of @size bytes (created or resized). */
static inline char *volume_create(struct fixture *f, const char *name, uint64_t size)
{
    char *p = path_in(f->dir, name);
    int fd = open(p, O_RDWR | O_CREAT, 0644);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    close(fd);
    return p;
}

static inline void volume_resize(const char *path, uint64_t size)
{
    assert_int_equal(truncate(path, (off_t)size), 0);
}

/* Write @len bytes made from @seed at @off of the file @path. */
static inline void volume_write(const char *path, uint64_t off, size_t len, uint64_t seed)
{
    uint8_t *buf = malloc(len);
    int fd = open(path, O_WRONLY);

    assert_non_null(buf);
    assert_true(fd >= 0);
    fill_random(buf, len, seed);
    assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
    free(buf);
}

/* Fill chunk @idx (of @cs bytes) with bytes from @seed. */
static inline void chunk_write(const char *path, uint32_t cs, uint64_t idx, uint64_t seed)
{
    volume_write(path, idx * cs, cs, seed);
}

/* Read a whole file into memory; *ret_len its size. */
static inline uint8_t *file_slurp(const char *path, size_t *ret_len)
{
    struct stat st;
    uint8_t *buf;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), (ssize_t)st.st_size);
    close(fd);
    *ret_len = (size_t)st.st_size;
    return buf;
}

static inline void assert_files_equal(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *ba = file_slurp(a, &la), *bb = file_slurp(b, &lb);

    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(ba);
    free(bb);
}

/* Snapshot @path with default options; returns the stats. */
static inline bsnap_snapshot_stats snap_path(struct fixture *f, const char *path,
                                             char id[BSNAP_ID_MAX])
{
    bsnap_snapshot_options o = {.volume_path = path, .threads = 2};
    bsnap_snapshot_stats st;
    int r = bsnap_snapshot_create(f->s, &o, id, &st);

    if (r < 0)
        print_error("snapshot of %s: %d %s (%s)\n", path, r, bsnap_last_error()->message,
                    bsnap_last_error()->code);
    assert_int_equal(r, 0);
    return st;
}

static inline bsnap_snapshot_stats snap_opts(struct fixture *f, bsnap_snapshot_options *o,
                                             char id[BSNAP_ID_MAX])
{
    bsnap_snapshot_stats st;
    int r;

    if (!o->threads)
        o->threads = 2;
    r = bsnap_snapshot_create(f->s, o, id, &st);
    if (r < 0)
        print_error("snapshot: %d %s (%s)\n", r, bsnap_last_error()->message,
                    bsnap_last_error()->code);
    assert_int_equal(r, 0);
    return st;
}

/* The last error's errno and code must be these. */
static inline void assert_error(int r, int err, const char *code)
{
    const bsnap_error *e = bsnap_last_error();

    if (r != err || strcmp(e->code, code) != 0)
        print_error("expected %d (%s), got %d (%s): %s\n", err, code, r, e->code, e->message);
    assert_int_equal(r, err);
    assert_int_equal(e->err, err);
    assert_string_equal(e->code, code);
}

static inline void assert_message_has(const char *needle)
{
    const char *m = bsnap_last_error()->message;

    if (!strstr(m, needle))
        print_error("message '%s' lacks '%s'\n", m, needle);
    assert_non_null(strstr(m, needle));
}

/* ---- verify ---- */

struct problems {
    size_t n;
    char first[1024];
    char chunk[33];
    int64_t pack, offset;
    char snapshot[BSNAP_ID_MAX];
};

static inline void problem_collect(void *ud, const bsnap_problem *p)
{
    struct problems *ps = ud;

    print_message("  verify: snapshot '%s' chunk '%s' pack %" PRId64 " offset %" PRId64 ": %s\n",
                  p->snapshot_id, p->chunk_id, p->pack, p->offset, p->what);
    if (ps->n++ == 0) {
        snprintf(ps->first, sizeof ps->first, "%s", p->what);
        snprintf(ps->chunk, sizeof ps->chunk, "%s", p->chunk_id);
        snprintf(ps->snapshot, sizeof ps->snapshot, "%s", p->snapshot_id);
        ps->pack = p->pack;
        ps->offset = p->offset;
    }
}

static inline bsnap_verify_stats verify_store(struct fixture *f, const char *snap,
                                              struct problems *ret)
{
    bsnap_verify_stats st;
    struct problems ps = {0};
    int r = bsnap_verify(f->s, snap, NULL, problem_collect, &ps, &st);

    if (r < 0)
        print_error("verify: %d %s\n", r, bsnap_last_error()->message);
    assert_int_equal(r, 0);
    assert_int_equal(st.problems, ps.n);
    if (ret)
        *ret = ps;
    return st;
}

/* Verify the whole store and require no problem at all. */
static inline bsnap_verify_stats assert_verify_clean(struct fixture *f)
{
    struct problems ps;
    bsnap_verify_stats st = verify_store(f, NULL, &ps);

    assert_int_equal(ps.n, 0);
    return st;
}

/* ---- reading back ---- */

static inline void restore_to(struct fixture *f, const char *snap, const char *path)
{
    bsnap_volume_options o = {.force = true};
    char vol[BSNAP_ID_MAX];
    int r = bsnap_volume_create(f->s, snap, path, &o, vol);

    if (r < 0)
        print_error("restore: %d %s\n", r, bsnap_last_error()->message);
    assert_int_equal(r, 0);
}

/* Restore @snap and compare it with the file @expect. */
static inline void assert_restores_to(struct fixture *f, const char *snap, const char *expect)
{
    char *out = path_in(f->dir, "restore-check.img");

    restore_to(f, snap, out);
    assert_files_equal(out, expect);
    unlink(out);
    free(out);
}

/* Load the stored record of snapshot @id (root, depth...); clear it with
 * snapshot_rec_clear(). */
static inline void snap_record(struct fixture *f, const char *id, struct snapshot_rec *ret)
{
    meta_txn *txn = NULL;

    assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
    assert_int_equal(catalog_snapshot_load(txn, id, ret), 0);
    meta_txn_abort(txn);
}

static inline void snap_tree(struct fixture *f, const char *id, struct bm_tree *ret)
{
    struct snapshot_rec rec = {0};

    snap_record(f, id, &rec);
    snapshot_tree(&rec, ret);
    snapshot_rec_clear(&rec);
}

/* Count the entries of the chunk index, and those with a flag. */
struct index_counts {
    uint64_t entries, pages, dead, orphans, lz4;
};

static inline struct index_counts index_count(struct fixture *f)
{
    struct index_counts c = {0};
    meta_txn *txn = NULL;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r;

    assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
    assert_int_equal(meta_cursor_open(txn, T_CHUNKS, &cur), 0);
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        struct chunk_entry e;
        assert_int_equal(index_entry_decode(v, vlen, &e), 0);
        c.entries++;
        c.pages += !!(e.loc.flags & CHUNK_PAGE);
        c.dead += !!(e.loc.flags & CHUNK_DEAD);
        c.lz4 += !!(e.loc.flags & CHUNK_LZ4);
        c.orphans += e.refcount == 0 && !(e.loc.flags & CHUNK_DEAD);
    }
    assert_int_equal(r, -ENOENT);
    meta_cursor_close(cur);
    meta_txn_abort(txn);
    return c;
}

/* Get chunk @id's entry; asserts it exists. */
static inline struct chunk_entry entry_of(struct fixture *f, const chunk_id *id)
{
    struct chunk_entry e;

    assert_int_equal(index_lookup(f->s, id, &e), 0);
    return e;
}

/* Overwrite one byte of a pack file (xor 0xff). */
static inline void pack_flip(struct fixture *f, uint32_t pack, uint64_t offset)
{
    char name[64];
    char *p;
    uint8_t b;
    int fd;

    snprintf(name, sizeof name, "store/packs/%08u.pack", pack);
    p = path_in(f->dir, name);
    fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, (off_t)offset), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)offset), 1);
    close(fd);
    free(p);
}

/* First thing in a test of BLOCKSNAP_FAULT points: skipped in a build
 * without the failure-injection hooks (a release build). */
static inline bool fault_injection_built(void)
{
#ifdef BSNAP_FAULT_INJECTION
    return true;
#else
    return false;
#endif
}
#define requires_faults()             \
    do {                              \
        if (!fault_injection_built()) \
            skip();                   \
    } while (0)

/* Run @fn in a child process (with its own store handle: the parent's is
 * closed first and reopened after).  The child's exit status, or 128+signal
 * when it was killed, is returned.  @fault, if set, is put in the child's
 * BLOCKSNAP_FAULT: fault counters last as long as a process, so each
 * injected failure runs in a fresh child.  The child never returns into
 * cmocka (its asserts would longjmp into the parent's test loop). */
static inline int run_in_child(struct fixture *f, const char *fault,
                               int (*fn)(bsnap_store *, void *), void *ud)
{
    pid_t pid;
    int status;

    bsnap_store_close(f->s);
    f->s = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bsnap_store *s = NULL;
        int r;
        if (fault)
            setenv("BLOCKSNAP_FAULT", fault, 1);
        if (bsnap_store_open(f->store_path, 0, NULL, &s) < 0)
            _exit(100);
        r = fn(s, ud);
        bsnap_store_close(s);
        _exit(r < 0 ? (-r & 0x7f) : r);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(bsnap_store_open(f->store_path, 0, NULL, &f->s), 0);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static inline size_t snapshot_count(struct fixture *f)
{
    bsnap_snapshot_info *infos = NULL;
    size_t n = 0;

    assert_int_equal(bsnap_snapshot_list(f->s, &infos, &n), 0);
    free(infos);
    return n;
}

/* A volume of @n 4 KiB chunks (setup_4k's store): data in chunks 0, 3-5,
 * 100 and the last one, the rest holes; @n - 1 must be > 100. */
static inline char *sample_volume(struct fixture *f, const char *name, uint64_t n)
{
    char *vol = volume_create(f, name, n * 4096u - 123); /* a partial last chunk */

    chunk_write(vol, 4096u, 0, 1);
    volume_write(vol, 3 * 4096u, 3 * 4096u, 2);
    chunk_write(vol, 4096u, 100, 3);
    volume_write(vol, (n - 1) * 4096u, 4096u - 123, 4);
    return vol;
}

/* Entries of directory @dir, but "." and "..". */
static inline size_t dir_entries(const char *dir)
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

/* bsnap_range_func for the diff tests: the ranges, checked to come sorted
 * and merged. */
struct ranges {
    bsnap_range r[16];
    size_t n;
};

static inline int range_collect(void *ud, uint64_t off, uint64_t len)
{
    struct ranges *rs = ud;

    assert_true(rs->n < sizeof rs->r / sizeof rs->r[0]);
    assert_true(len > 0);
    if (rs->n)
        assert_true(off > rs->r[rs->n - 1].offset + rs->r[rs->n - 1].length); /* merged */
    rs->r[rs->n++] = (bsnap_range){off, len};
    return 0;
}

#endif
