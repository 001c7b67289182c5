/* test-metacheck.c - metacheck.c, the structure check of the LMDB file, and
 * meta.c's defences built on it: the fault guard and the check before the
 * first write.
 *
 * Each test builds a real store through the engine (a snapshot of a 4 MiB
 * volume at 4 KiB chunks: a chunk table two levels deep; and a 10,000-byte
 * record, which LMDB keeps in overflow pages), damages one field of
 * meta/data.mdb, and checks the problem the checker names. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "meta.h"
#include "metacheck.h"
#include "store.h"
#include "util.h"
#include "unit-helpers.h"

#define PS 4096u

struct mfix {
    struct fixture *f;
    char *file; /* STORE/meta/data.mdb */
    uint8_t *buf;
    size_t len;
    char problems[16384];
    uint64_t n;
};

static void put_big(bsnap_store *s)
{
    char *big = malloc(10000);
    meta_txn *txn = NULL;

    assert_non_null(big);
    memset(big, 'x', 10000);
    assert_int_equal(meta_txn_begin(s->meta, true, &txn), 0);
    assert_int_equal(meta_put(txn, T_IMAGES, "ami-big", 7, big, 10000), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    free(big);
}

static int setup(void **state)
{
    struct mfix *m = calloc(1, sizeof *m);
    char id[BSNAP_ID_MAX], *vol;

    assert_non_null(m);
    m->f = fixture_new(4096);
    vol = volume_create(m->f, "v.img", 4 * MiB);
    volume_write(vol, 0, 4 * MiB, 7);
    snap_path(m->f, vol, id);
    free(vol);
    put_big(m->f->s);
    bsnap_store_close(m->f->s);
    m->f->s = NULL;
    m->file = path_in(m->f->store_path, "meta/data.mdb");
    m->buf = file_slurp(m->file, &m->len);
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    struct mfix *m = *state;

    fixture_free(m->f);
    free(m->file);
    free(m->buf);
    free(m);
    return 0;
}

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void wr16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void wr64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static void write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_TRUNC);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static uint8_t *page(struct mfix *m, uint64_t pg)
{
    assert_true((pg + 1) * PS <= m->len);
    return m->buf + pg * PS;
}

/* Node @i of page @p. */
static uint8_t *node(uint8_t *p, unsigned i)
{
    return p + rd16(p + 16 + 2 * i);
}

static unsigned nkeys(const uint8_t *p)
{
    return (rd16(p + 12) - 16u) / 2;
}

/* The newest meta page's MDB_db of MAIN. */
static const uint8_t *main_db(struct mfix *m)
{
    int k = rd64(m->buf + 144) < rd64(m->buf + PS + 144);
    return m->buf + k * PS + 88;
}

/* The MDB_db record of table @name (MAIN is one leaf page here). */
static uint8_t *table_db(struct mfix *m, const char *name)
{
    uint8_t *p = page(m, rd64(main_db(m) + 40));

    assert_int_equal(rd16(p + 10), 2); /* a leaf */
    for (unsigned i = 0; i < nkeys(p); i++) {
        uint8_t *n = node(p, i);
        if (rd16(n + 6) == strlen(name) && !memcmp(n + 8, name, strlen(name)))
            return n + 8 + rd16(n + 6);
    }
    fail_msg("no table %s", name);
    return NULL;
}

static uint64_t branch_child(const uint8_t *n)
{
    return rd16(n) | (uint64_t)rd16(n + 2) << 16 | (uint64_t)rd16(n + 4) << 32;
}

/* The chunk table's root (a branch page) and its @i-th leaf. */
static uint64_t chunks_root(struct mfix *m)
{
    uint8_t *db = table_db(m, "chunks");

    assert_int_equal(rd16(db + 6), 2); /* depth */
    return rd64(db + 40);
}

static uint8_t *chunks_leaf(struct mfix *m, unsigned i)
{
    uint8_t *root = page(m, chunks_root(m));

    assert_true(nkeys(root) > i);
    return page(m, branch_child(node(root, i)));
}

static void on_problem(void *ud, const char *line)
{
    struct mfix *m = ud;
    size_t used = strlen(m->problems);

    m->n++;
    snprintf(m->problems + used, sizeof m->problems - used, "%s\n", line);
}

/* Check the (damaged) buffer; the problems must name @needle. */
static void expect_problem(struct mfix *m, const char *needle)
{
    struct metacheck_stats st;

    m->problems[0] = '\0';
    m->n = 0;
    assert_int_equal(metacheck_buf(m->buf, m->len, "meta/data.mdb", on_problem, m, &st), 0);
    print_message("%s", m->problems);
    assert_true(st.problems > 0);
    assert_int_equal(m->n, st.problems);
    if (!strstr(m->problems, needle))
        fail_msg("no \"%s\" in:\n%s", needle, m->problems);
}

static void test_sound_store(void **state)
{
    struct mfix *m = *state;
    struct metacheck_stats st;
    int fd = open(m->file, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(metacheck_fd(fd, "meta/data.mdb", 0, on_problem, m, &st), 0);
    close(fd);
    assert_int_equal(st.problems, 0);
    assert_int_equal(st.bytes, m->len);
    assert_true(st.pages > 20);
    assert_int_equal(metacheck_buf(m->buf, m->len, "meta/data.mdb", on_problem, m, &st), 0);
    assert_int_equal(st.problems, 0);
    assert_string_equal(m->problems, "");
    /* and through the store: verify passes */
    fixture_reopen(m->f);
    assert_verify_clean(m->f);
}

static void test_page_number(void **state)
{
    struct mfix *m = *state;
    uint8_t *p = chunks_leaf(m, 1);
    uint64_t pg = rd64(p);

    wr64(p, pg + 1);
    expect_problem(m, "(table chunks): holds page number");
}

static void test_lower_upper(void **state)
{
    struct mfix *m = *state;
    uint8_t *p = chunks_leaf(m, 2);

    wr16(p + 12, 4000); /* mp_lower past mp_upper */
    expect_problem(m, "(table chunks): mp_lower 4000");
    wr16(p + 12, 16 + 2 * 3);
    wr16(p + 14, 8); /* mp_upper inside the header */
    expect_problem(m, "mp_upper 8 out of bounds");
}

static void test_node_offset(void **state)
{
    struct mfix *m = *state;
    uint8_t *p = chunks_leaf(m, 0);

    wr16(p + 16 + 2, 4095);
    expect_problem(m, "node 1 at offset 4095 outside the node area");
}

static void test_key_size(void **state)
{
    struct mfix *m = *state;
    uint8_t *p = chunks_leaf(m, 0);

    wr16(node(p, 3) + 6, 4000);
    expect_problem(m, "node 3: key size 4000 runs past the page");
}

static void test_overflow_pages(void **state)
{
    struct mfix *m = *state;
    uint8_t *db = table_db(m, "images");
    uint8_t *leaf = page(m, rd64(db + 40));
    uint8_t *n = node(leaf, 0);
    uint8_t *ov;

    assert_int_equal(rd16(n + 4), 1); /* F_BIGDATA */
    ov = page(m, rd64(n + 8 + rd16(n + 6)));
    assert_int_equal(rd16(ov + 10), 4); /* P_OVERFLOW */
    ov[12] = 1;                         /* mp_pages: 1, where 3 are needed */
    expect_problem(m, "(table images): overflow run of 1 page: 3 needed for 10000 bytes");
}

static void test_keys_swapped(void **state)
{
    struct mfix *m = *state;
    uint8_t *p = chunks_leaf(m, 1);
    uint16_t a = rd16(p + 16 + 2 * 4), b = rd16(p + 16 + 2 * 5);

    wr16(p + 16 + 2 * 4, b);
    wr16(p + 16 + 2 * 5, a);
    expect_problem(m, "key of node 5 is not above the key of node 4");
}

static void test_branch_to_ancestor(void **state)
{
    struct mfix *m = *state;
    uint64_t root = chunks_root(m);
    uint8_t *n = node(page(m, root), 2);

    /* the third child is the root itself: liblmdb would loop */
    wr16(n, root & 0xffff);
    wr16(n + 2, (root >> 16) & 0xffff);
    wr16(n + 4, root >> 32);
    expect_problem(m, "is reached twice (a cycle or a shared page)");
    /* and its own leaf is lost: neither used nor free */
    expect_problem(m, "1 page is neither used nor free");
}

static void test_meta_page(void **state)
{
    struct mfix *m = *state;
    int newest = rd64(m->buf + 144) < rd64(m->buf + PS + 144);

    m->buf[newest * PS + 16] ^= 1; /* magic */
    expect_problem(m, newest ? "page 1: meta page: magic 0xbeefc0df" : "page 0: meta page: magic");
    expect_problem(m, "which is damaged; checking meta page");
    m->buf[!newest * PS + 40 + 1] ^= 0x40; /* the other one's page size */
    expect_problem(m, "no sound meta page");
}

/* liblmdb reads the snapshot of txnid N from meta page N % 2 (found by
 * fuzzing: an odd txnid on meta page 0 made it use the other page). */
static void test_meta_txnid(void **state)
{
    struct mfix *m = *state;
    int newest = rd64(m->buf + 144) < rd64(m->buf + PS + 144);

    wr64(m->buf + newest * PS + 144, rd64(m->buf + newest * PS + 144) + 1);
    expect_problem(m, "belongs in meta page");
}

static void test_free_list(void **state)
{
    struct mfix *m = *state;
    int k = rd64(m->buf + 144) < rd64(m->buf + PS + 144);
    uint64_t free_root = rd64(m->buf + k * PS + 40 + 40);
    uint8_t *p, *v;

    if (free_root == UINT64_MAX)
        skip(); /* nothing freed yet */
    p = page(m, free_root);
    v = node(p, 0) + 8 + 8;
    assert_true(rd64(v) > 0);
    wr64(v + 8, chunks_root(m)); /* a live page listed as free */
    expect_problem(m, "used by a table and listed as free");
}

/* liblmdb merges and searches free lists as sorted, descending. */
static void test_free_list_order(void **state)
{
    struct mfix *m = *state;
    int k = rd64(m->buf + 144) < rd64(m->buf + PS + 144);
    uint64_t free_root = rd64(m->buf + k * PS + 40 + 40), a;
    uint8_t *v;

    if (free_root == UINT64_MAX)
        skip();
    v = node(page(m, free_root), 0) + 8 + 8;
    if (rd64(v) < 2)
        skip(); /* one free page: no order to break */
    a = rd64(v + 8);
    wr64(v + 8, rd64(v + 16));
    wr64(v + 16, a);
    expect_problem(m, "free list not in descending order");
}

/* The store refuses a write into a damaged file and leaves it as it was. */
static void test_no_write_into_damage(void **state)
{
    struct mfix *m = *state;
    uint8_t *after;
    size_t alen;
    meta_txn *txn = NULL;
    meta *me = NULL;
    char dir[400];

    wr16(chunks_leaf(m, 2) + 12, 4000);
    write_file(m->file, m->buf, m->len);
    snprintf(dir, sizeof dir, "%s/meta", m->f->store_path);
    assert_int_equal(meta_open(dir, false, &me), 0);
    assert_error(meta_txn_begin(me, true, &txn), -EIO, "Store.Corrupt");
    assert_message_has("data.mdb is damaged (1 problem, the first: meta/data.mdb page");
    /* the remedy named as the API's operation, marked for front ends */
    assert_message_has("run RepairStore");
    assert_string_equal(bsnap_last_error()->parameter, "RepairStore");
    assert_true(meta_is_damaged(me));
    /* every later write fails the same way; reads go on (guarded) */
    assert_error(meta_txn_begin(me, true, &txn), -EIO, "Store.Corrupt");
    assert_message_has("mp_lower 4000");
    assert_int_equal(meta_txn_begin(me, false, &txn), 0);
    meta_txn_abort(txn);
    meta_close(me);
    after = file_slurp(m->file, &alen);
    assert_int_equal(alen, m->len);
    assert_memory_equal(after, m->buf, alen);
    free(after);
}

/* With the fault guard on, a fault inside liblmdb (here SIGBUS: the file
 * cut short under the map) becomes Store.Corrupt, and the environment
 * stays failed. */
static void test_fault_guard(void **state)
{
    struct mfix *m = *state;
    meta_txn *txn = NULL;
    meta *me = NULL;
    const void *v;
    size_t vlen;
    char dir[400];

    assert_int_equal(bsnap_set_fault_guard(true), 0);
    snprintf(dir, sizeof dir, "%s/meta", m->f->store_path);
    assert_int_equal(meta_open(dir, true, &me), 0);
    assert_int_equal(meta_txn_begin(me, false, &txn), 0);
    assert_int_equal(truncate(m->file, 2 * PS), 0);
    assert_error(meta_get(txn, T_IMAGES, "ami-big", 7, &v, &vlen), -EIO, "Store.Corrupt");
    assert_message_has("liblmdb faulted with SIGBUS in get");
    assert_message_has("run VerifyStore");
    assert_string_equal(bsnap_last_error()->parameter, "VerifyStore");
    assert_error(meta_get(txn, T_SNAPSHOTS, "x", 1, &v, &vlen), -EIO, "Store.Corrupt");
    meta_txn_abort(txn);
    txn = NULL;
    assert_error(meta_txn_begin(me, false, &txn), -EIO, "Store.Corrupt");
    assert_message_has("faulted with SIGBUS");
    meta_close(me);
    assert_int_equal(bsnap_set_fault_guard(false), 0);
}

/* A read (no structure check before it) of a record whose size was
 * damaged to run past the end of the file fails instead of handing the
 * caller a pointer it would fault on. */
static void test_record_outside_file(void **state)
{
    struct mfix *m = *state;
    uint8_t *db = table_db(m, "images");
    uint8_t *n = node(page(m, rd64(db + 40)), 0);
    meta_txn *txn = NULL;
    meta *me = NULL;
    const void *v;
    size_t vlen;
    char dir[400];

    wr16(n + 2, 0x7fff); /* the size's high half: 2 GiB */
    write_file(m->file, m->buf, m->len);
    snprintf(dir, sizeof dir, "%s/meta", m->f->store_path);
    assert_int_equal(meta_open(dir, true, &me), 0);
    assert_int_equal(meta_txn_begin(me, false, &txn), 0);
    assert_error(meta_get(txn, T_IMAGES, "ami-big", 7, &v, &vlen), -EIO, "Store.Corrupt");
    assert_message_has("lies outside the file");
    meta_txn_abort(txn);
    meta_close(me);
}

/* Not a constant, so that the compiler does not see the bad access. */
static volatile uintptr_t bad_address = 8;

/* A fault outside liblmdb is not swallowed by the guard: it still kills
 * (or, under ASan, is reported). */
static void test_fault_outside_guard(void **state)
{
    struct mfix *m = *state;
    meta *me = NULL;
    char dir[400];
    pid_t pid;
    int st;

    snprintf(dir, sizeof dir, "%s/meta", m->f->store_path);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's own handler would catch it in the child */
        signal(SIGSEGV, SIG_DFL);
        if (bsnap_set_fault_guard(true) < 0 || meta_open(dir, true, &me) < 0)
            _exit(3);
        meta_close(me); /* the handler stays */
        *(volatile int *)bad_address = 1;
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    /* killed by the signal, or (ASan's handler first) reported, exit 1 */
    if (WIFSIGNALED(st))
        assert_int_equal(WTERMSIG(st), SIGSEGV);
    else
        assert_int_equal(WEXITSTATUS(st), 1);
}

/* ---- salvage ---- */

struct salv {
    uint64_t recorded[8], got[8]; /* per table, by the first letter's slot */
    char tables[256];
    bool big_ok;
};

static unsigned slot(const char *table)
{
    static const char *const names[] = {"chunks",    "images",   "info",   "pins",
                                        "snapshots", "volpaths", "volumes"};
    for (unsigned i = 0; i < 7; i++)
        if (!strcmp(names[i], table))
            return i;
    return 7;
}

static int on_entry(void *ud, const char *table, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen)
{
    struct salv *sv = ud;
    unsigned k = slot(table);

    if (!key) {
        sv->recorded[k] = vlen;
        strncat(sv->tables, table, sizeof sv->tables - strlen(sv->tables) - 2);
        strcat(sv->tables, " ");
        return 0;
    }
    sv->got[k]++;
    if (klen == 7 && !memcmp(key, "ami-big", 7)) {
        /* the overflow value, whole */
        sv->big_ok = vlen == 10000;
        for (size_t i = 0; i < vlen && sv->big_ok; i++)
            sv->big_ok = val[i] == 'x';
    }
    return 0;
}

static void salvage(struct mfix *m, struct salv *sv)
{
    struct metacheck_stats st;

    memset(sv, 0, sizeof *sv);
    assert_int_equal(
        metacheck_salvage(-1, m->buf, m->len, "meta/data.mdb", on_entry, NULL, sv, &st), 0);
}

/* A sound file: every table is announced with its count, every entry of
 * every table comes out, overflow values whole. */
static void test_salvage_sound(void **state)
{
    struct mfix *m = *state;
    struct salv sv;

    salvage(m, &sv);
    assert_non_null(strstr(sv.tables, "snapshots "));
    assert_non_null(strstr(sv.tables, "chunks "));
    for (unsigned i = 0; i < 7; i++)
        assert_int_equal(sv.got[i], sv.recorded[i]);
    assert_int_equal(sv.got[slot("snapshots")], 1);
    assert_true(sv.got[slot("chunks")] > 1000); /* 4 MiB at 4 KiB chunks */
    assert_true(sv.big_ok);
}

/* A damaged leaf of the chunk table loses its entries only; the other
 * leaves and tables come out whole.  A damaged overflow run loses its
 * value only. */
static void test_salvage_damaged(void **state)
{
    struct mfix *m = *state;
    uint8_t *p = chunks_leaf(m, 1);
    unsigned lost = nkeys(p);
    uint8_t *db = table_db(m, "images");
    uint8_t *n = node(page(m, rd64(db + 40)), 0);
    struct salv sv;

    wr16(p + 12, 4000);                         /* mp_lower past mp_upper */
    page(m, rd64(n + 8 + rd16(n + 6)))[12] = 1; /* the overflow run too short */
    salvage(m, &sv);
    assert_int_equal(sv.got[slot("chunks")], sv.recorded[slot("chunks")] - lost);
    assert_int_equal(sv.got[slot("snapshots")], 1);
    assert_int_equal(sv.got[slot("volumes")], sv.recorded[slot("volumes")]);
    assert_int_equal(sv.got[slot("images")], 0);
    assert_false(sv.big_ok);
}

/* The main tree damaged: no table is found, nothing comes out, nothing is
 * read outside the buffer (ASan). */
static void test_salvage_no_main(void **state)
{
    struct mfix *m = *state;
    struct salv sv;

    wr64(page(m, rd64(main_db(m) + 40)), 12345); /* MAIN's root: a wrong page number */
    salvage(m, &sv);
    assert_string_equal(sv.tables, "");
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(sv.got[i], 0);
}

/* ---- the verified state (meta.c): the walk is skipped while the file is
 * the one the last checked writer left ---- */

static meta *open_meta(struct mfix *m)
{
    char dir[400];
    meta *me = NULL;

    snprintf(dir, sizeof dir, "%s/meta", m->f->store_path);
    assert_int_equal(meta_open(dir, false, &me), 0);
    return me;
}

/* One write transaction: 0, or its error.  @skipped: whether the check
 * before it did not walk. */
static int write_one(meta *me, bool *skipped)
{
    meta_txn *txn = NULL;
    int r = meta_txn_begin(me, true, &txn);

    *skipped = meta_check_skipped(me);
    if (r < 0)
        return r;
    assert_int_equal(meta_put(txn, T_INFO, "test-key", 8, "v", 1), 0);
    return meta_txn_commit(txn);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void reload(struct mfix *m)
{
    free(m->buf);
    m->buf = file_slurp(m->file, &m->len);
}

/* A write after an unchanged file does not walk; damage to a page no write
 * touches, made after that, is still found by the next writer's walk (and
 * by verify's): the write is refused and the file stays as it was. */
static void test_stamp_skips_until_changed(void **state)
{
    struct mfix *m = *state;
    char *stamp = path_in(m->f->store_path, "meta/checked");
    uint8_t *after;
    size_t alen;
    bool skipped;
    meta *me;

    assert_true(exists(stamp)); /* the setup's writer left one */
    me = open_meta(m);
    assert_int_equal(write_one(me, &skipped), 0);
    assert_true(skipped);
    meta_close(me);

    reload(m);
    wr16(chunks_leaf(m, 2) + 12, 4000);
    write_file(m->file, m->buf, m->len);
    me = open_meta(m);
    assert_error(write_one(me, &skipped), -EIO, "Store.Corrupt");
    assert_false(skipped);
    assert_message_has("mp_lower 4000");
    meta_close(me);
    assert_false(exists(stamp)); /* the walk that found damage removed it */
    after = file_slurp(m->file, &alen);
    assert_int_equal(alen, m->len);
    assert_memory_equal(after, m->buf, alen);
    free(after);
    expect_problem(m, "mp_lower 4000");
    free(stamp);
}

/* A change while a writer has the store open (here the same bytes written
 * again from outside) breaks the chain: that writer leaves no stamp, and
 * the next one walks. */
static void test_stamp_change_meanwhile(void **state)
{
    struct mfix *m = *state;
    bool skipped;
    meta *me = open_meta(m);

    assert_int_equal(write_one(me, &skipped), 0);
    assert_true(skipped);
    reload(m);
    write_file(m->file, m->buf, m->len);
    meta_close(me);
    me = open_meta(m);
    assert_int_equal(write_one(me, &skipped), 0);
    assert_false(skipped);
    meta_close(me);
    /* that walk's writer stamped again */
    me = open_meta(m);
    assert_int_equal(write_one(me, &skipped), 0);
    assert_true(skipped);
    meta_close(me);
}

/* A stamp that does not say what it should (one digit changed) is not
 * believed. */
static void test_stamp_damaged(void **state)
{
    struct mfix *m = *state;
    char *stamp = path_in(m->f->store_path, "meta/checked");
    size_t len;
    uint8_t *text = file_slurp(stamp, &len);
    bool skipped;
    meta *me;
    char *sp;

    /* the first digit of the size (the fifth word) */
    sp = strchr(strchr(strchr(strchr((char *)text, ' ') + 1, ' ') + 1, ' ') + 1, ' ') + 1;
    *sp = *sp == '9' ? '1' : (char)(*sp + 1);
    write_file(stamp, text, len);
    me = open_meta(m);
    assert_int_equal(write_one(me, &skipped), 0);
    assert_false(skipped);
    meta_close(me);
    free(text);
    free(stamp);
}

/* At most META_STAMP_MAX_SKIPS writing processes in a row skip the walk
 * (damage below the file system leaves ctime as it was). */
static void test_stamp_max_skips(void **state)
{
    struct mfix *m = *state;
    bool skipped;

    for (int i = 0; i <= META_STAMP_MAX_SKIPS; i++) {
        meta *me = open_meta(m);
        assert_int_equal(write_one(me, &skipped), 0);
        if (skipped != (i < META_STAMP_MAX_SKIPS))
            fail_msg("open %d: skipped %d", i, skipped);
        meta_close(me);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sound_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lower_upper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_swapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_branch_to_ancestor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_txnid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_list_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_write_into_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_outside_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_outside_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_salvage_sound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_salvage_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_salvage_no_main, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stamp_skips_until_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stamp_change_meanwhile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stamp_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stamp_max_skips, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
