/* test-meta.c - meta.c: the LMDB wrapper: transactions, tables, cursors,
 * the translation of LMDB's codes to negative errno, and the fault guard's
 * signal handlers, installed only on request. */
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
#include "util.h"
#include "unit-helpers.h"

struct mfix {
    char dir[256];
    meta *m;
};

static int setup_meta(void **state)
{
    struct mfix *f = calloc(1, sizeof *f);

    assert_non_null(f);
    tmpdir_make(f->dir, sizeof f->dir);
    assert_int_equal(meta_open(f->dir, false, &f->m), 0);
    *state = f;
    return 0;
}

static int teardown_meta(void **state)
{
    struct mfix *f = *state;

    meta_close(f->m);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void put(meta *m, meta_table t, const char *k, const char *v)
{
    meta_txn *txn = NULL;

    assert_int_equal(meta_txn_begin(m, true, &txn), 0);
    assert_int_equal(meta_put(txn, t, k, strlen(k), v, strlen(v)), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
}

static bool get(meta *m, meta_table t, const char *k, char *out, size_t outlen)
{
    meta_txn *txn = NULL;
    const void *v;
    size_t vlen;
    int r;

    assert_int_equal(meta_txn_begin(m, false, &txn), 0);
    r = meta_get(txn, t, k, strlen(k), &v, &vlen);
    if (r == 0) {
        assert_true(vlen < outlen);
        memcpy(out, v, vlen);
        out[vlen] = '\0';
    } else {
        assert_int_equal(r, -ENOENT);
    }
    meta_txn_abort(txn);
    return r == 0;
}

static void test_put_get_del(void **state)
{
    struct mfix *f = *state;
    meta_txn *txn = NULL;
    char buf[64];

    put(f->m, T_SNAPSHOTS, "snap-1", "one");
    assert_true(get(f->m, T_SNAPSHOTS, "snap-1", buf, sizeof buf));
    assert_string_equal(buf, "one");
    /* Tables are separate name spaces. */
    assert_false(get(f->m, T_VOLUMES, "snap-1", buf, sizeof buf));
    /* Absence is -ENOENT and records no error: it is often expected. */
    bsnap_error_clear();
    assert_int_equal(meta_txn_begin(f->m, true, &txn), 0);
    {
        const void *v;
        size_t vlen;
        assert_int_equal(meta_get(txn, T_SNAPSHOTS, "nope", 4, &v, &vlen), -ENOENT);
        assert_int_equal(meta_del(txn, T_SNAPSHOTS, "nope", 4), -ENOENT);
    }
    assert_int_equal(bsnap_last_error()->err, 0);
    assert_int_equal(meta_del(txn, T_SNAPSHOTS, "snap-1", 6), 0);
    assert_int_equal(meta_txn_commit(txn), 0);
    assert_false(get(f->m, T_SNAPSHOTS, "snap-1", buf, sizeof buf));
    put(f->m, T_SNAPSHOTS, "snap-1", "two");
    put(f->m, T_SNAPSHOTS, "snap-1", "three"); /* overwrite */
    assert_true(get(f->m, T_SNAPSHOTS, "snap-1", buf, sizeof buf));
    assert_string_equal(buf, "three");
}

static void test_abort_and_isolation(void **state)
{
    struct mfix *f = *state;
    meta_txn *w = NULL, *r = NULL;
    const void *v;
    size_t vlen;
    char buf[64];

    put(f->m, T_INFO, "k", "old");
    assert_int_equal(meta_txn_begin(f->m, false, &r), 0); /* a reader's view */
    assert_int_equal(meta_txn_begin(f->m, true, &w), 0);
    assert_int_equal(meta_put(w, T_INFO, "k", 1, "new", 3), 0);
    assert_int_equal(meta_put(w, T_INFO, "k2", 2, "x", 1), 0);
    /* the writer sees its own change before commit */
    assert_int_equal(meta_get(w, T_INFO, "k", 1, &v, &vlen), 0);
    assert_memory_equal(v, "new", 3);
    meta_txn_abort(w);
    assert_true(get(f->m, T_INFO, "k", buf, sizeof buf));
    assert_string_equal(buf, "old");
    assert_false(get(f->m, T_INFO, "k2", buf, sizeof buf));

    /* A committed change is invisible to a read transaction begun before. */
    put(f->m, T_INFO, "k", "newer");
    assert_int_equal(meta_get(r, T_INFO, "k", 1, &v, &vlen), 0);
    assert_int_equal(vlen, 3);
    assert_memory_equal(v, "old", 3);
    meta_txn_abort(r);
    assert_true(get(f->m, T_INFO, "k", buf, sizeof buf));
    assert_string_equal(buf, "newer");
    meta_txn_abort(NULL);
}

static void test_write_in_read_txn(void **state)
{
    struct mfix *f = *state;
    meta_txn *r = NULL;
    int rc;

    assert_int_equal(meta_txn_begin(f->m, false, &r), 0);
    rc = meta_put(r, T_INFO, "k", 1, "v", 1);
    assert_true(rc < 0);
    assert_int_equal(bsnap_last_error()->err, rc);
    meta_txn_abort(r);
}

static void test_cursor(void **state)
{
    struct mfix *f = *state;
    static const char *const keys[] = {"b", "a", "ab", "c", "ba"};
    static const char *const sorted[] = {"a", "ab", "b", "ba", "c"};
    meta_txn *txn = NULL;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen, n = 0;
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        put(f->m, T_VOLPATHS, keys[i], keys[i]);
    assert_int_equal(meta_txn_begin(f->m, false, &txn), 0);
    assert_int_equal(meta_cursor_open(txn, T_VOLPATHS, &cur), 0);
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        assert_true(n < ARRAY_SIZE(sorted));
        assert_int_equal(klen, strlen(sorted[n]));
        assert_memory_equal(k, sorted[n], klen);
        assert_memory_equal(v, sorted[n], vlen);
        n++;
    }
    assert_int_equal(r, -ENOENT);
    assert_int_equal(n, ARRAY_SIZE(sorted));
    /* SET_RANGE: the first key >= the given one. */
    k = "aa";
    klen = 2;
    assert_int_equal(meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, NULL, NULL), 0);
    assert_int_equal(klen, 2);
    assert_memory_equal(k, "ab", 2);
    k = "d";
    klen = 1;
    assert_int_equal(meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, NULL, NULL), -ENOENT);
    meta_cursor_close(cur);
    meta_txn_abort(txn);

    /* Deleting under a cursor in a write transaction. */
    assert_int_equal(meta_txn_begin(f->m, true, &txn), 0);
    assert_int_equal(meta_cursor_open(txn, T_VOLPATHS, &cur), 0);
    k = "b";
    klen = 1;
    assert_int_equal(meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, NULL, NULL), 0);
    assert_int_equal(meta_cursor_del(cur), 0);
    meta_cursor_close(cur);
    assert_int_equal(meta_txn_commit(txn), 0);
    {
        char buf[8];
        assert_false(get(f->m, T_VOLPATHS, "b", buf, sizeof buf));
        assert_true(get(f->m, T_VOLPATHS, "ba", buf, sizeof buf));
    }
    meta_cursor_close(NULL);

    /* An empty table: FIRST is at the end. */
    assert_int_equal(meta_txn_begin(f->m, false, &txn), 0);
    assert_int_equal(meta_cursor_open(txn, T_IMAGES, &cur), 0);
    assert_int_equal(meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen), -ENOENT);
    meta_cursor_close(cur);
    meta_txn_abort(txn);
}

static void test_persistence_and_rdonly(void **state)
{
    struct mfix *f = *state;
    meta_txn *txn = NULL;
    char buf[16];

    put(f->m, T_PINS, "pin", "root");
    assert_true(meta_file_bytes(f->m) > 0);
    meta_close(f->m);
    assert_int_equal(meta_open(f->dir, true, &f->m), 0);
    assert_true(get(f->m, T_PINS, "pin", buf, sizeof buf));
    assert_string_equal(buf, "root");
    assert_error(meta_txn_begin(f->m, true, &txn), -EROFS, "Store.ReadOnly");
    assert_null(txn);
    meta_close(f->m);
    assert_int_equal(meta_open(f->dir, false, &f->m), 0);
}

static void test_open_errors(void **state)
{
    char dir[256], *missing;
    meta *m = NULL;

    (void)state;
    tmpdir_make(dir, sizeof dir);
    missing = path_in(dir, "no/such/dir");
    assert_int_equal(meta_open(missing, false, &m), -ENOENT);
    assert_string_equal(bsnap_last_error()->code, "Store.Error");
    assert_null(m);
    /* Read-only on an empty directory: no environment to read. */
    assert_true(meta_open(dir, true, &m) < 0);
    assert_null(m);
    free(missing);
    tmpdir_remove(dir);
}

/* MDB_MAP_FULL becomes -ENOSPC "Store.Full". */
static void test_map_full(void **state)
{
    char dir[256], big[4000];
    meta *m = NULL;
    meta_txn *txn = NULL;
    int r = 0;

    (void)state;
    tmpdir_make(dir, sizeof dir);
    setenv("BLOCKSNAP_MAP_SIZE", "262144", 1);
    r = meta_open(dir, false, &m);
    unsetenv("BLOCKSNAP_MAP_SIZE");
    assert_int_equal(r, 0);
    memset(big, 'x', sizeof big);
    assert_int_equal(meta_txn_begin(m, true, &txn), 0);
    for (uint32_t i = 0; i < 1000 && r == 0; i++) {
        uint8_t key[4];
        le32_put(key, i);
        r = meta_put(txn, T_CHUNKS, key, 4, big, sizeof big);
    }
    assert_error(r, -ENOSPC, "Store.Full");
    assert_message_has("metadata");
    meta_txn_abort(txn);
    meta_close(m);
    tmpdir_remove(dir);
}

/* BLOCKSNAP_FAULT=meta-commit:N fails the Nth write commit, which then
 * changes nothing. */
static void test_fault_commit(void **state)
{
    struct mfix *f = *state;
    meta_txn *txn = NULL;
    char buf[8];

    requires_faults();

    setenv("BLOCKSNAP_FAULT", "meta-commit:2", 1);
    put(f->m, T_INFO, "a", "1"); /* commit 1 */
    assert_int_equal(meta_txn_begin(f->m, true, &txn), 0);
    assert_int_equal(meta_put(txn, T_INFO, "b", 1, "2", 1), 0);
    assert_error(meta_txn_commit(txn), -EIO, "Store.Error");
    assert_message_has("injected");
    put(f->m, T_INFO, "c", "3"); /* commit 3 */
    unsetenv("BLOCKSNAP_FAULT");
    assert_true(get(f->m, T_INFO, "a", buf, sizeof buf));
    assert_false(get(f->m, T_INFO, "b", buf, sizeof buf));
    assert_true(get(f->m, T_INFO, "c", buf, sizeof buf));
}

static void own_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
}

static bool handler_is_own(int sig)
{
    struct sigaction cur;

    assert_int_equal(sigaction(sig, NULL, &cur), 0);
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == own_handler;
}

/* A program that does not ask for the fault guard keeps its own SIGSEGV
 * and SIGBUS handlers through a store's creation, opening and use; one
 * that asks gets the guard (again at each open), and gets its handlers
 * back when it turns the guard off. */
static void test_fault_guard_opt_in(void **state)
{
    struct sigaction own, old_segv, old_bus;
    struct fixture *f;
    bsnap_snapshot_info info;

    (void)state;
    memset(&own, 0, sizeof own);
    own.sa_sigaction = own_handler;
    own.sa_flags = SA_SIGINFO;
    sigemptyset(&own.sa_mask);
    assert_int_equal(sigaction(SIGSEGV, &own, &old_segv), 0);
    assert_int_equal(sigaction(SIGBUS, &own, &old_bus), 0);

    f = fixture_new(4096);
    assert_error(bsnap_snapshot_get(f->s, "snap-0123456789abcdef0", &info), -ENOENT,
                 "InvalidSnapshot.NotFound");
    fixture_reopen(f);
    assert_true(handler_is_own(SIGSEGV));
    assert_true(handler_is_own(SIGBUS));

    assert_int_equal(bsnap_set_fault_guard(true), 0);
    assert_false(handler_is_own(SIGSEGV));
    assert_false(handler_is_own(SIGBUS));
    /* replaced after the guard went in: the next open installs it again */
    assert_int_equal(sigaction(SIGBUS, &own, NULL), 0);
    fixture_reopen(f);
    assert_false(handler_is_own(SIGBUS));

    assert_int_equal(bsnap_set_fault_guard(false), 0);
    assert_true(handler_is_own(SIGSEGV));
    assert_true(handler_is_own(SIGBUS));
    fixture_reopen(f);
    assert_true(handler_is_own(SIGSEGV));
    assert_true(handler_is_own(SIGBUS));

    fixture_free(f);
    assert_int_equal(sigaction(SIGSEGV, &old_segv, NULL), 0);
    assert_int_equal(sigaction(SIGBUS, &old_bus, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_del, setup_meta, teardown_meta),
        cmocka_unit_test_setup_teardown(test_abort_and_isolation, setup_meta, teardown_meta),
        cmocka_unit_test_setup_teardown(test_write_in_read_txn, setup_meta, teardown_meta),
        cmocka_unit_test_setup_teardown(test_cursor, setup_meta, teardown_meta),
        cmocka_unit_test_setup_teardown(test_persistence_and_rdonly, setup_meta, teardown_meta),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_map_full),
        cmocka_unit_test_setup_teardown(test_fault_commit, setup_meta, teardown_meta),
        cmocka_unit_test(test_fault_guard_opt_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
