/* fuzz-metacheck.c - libFuzzer harness for the LMDB structure checker
 * (engine/metacheck.c): what it does with an arbitrary data.mdb.
 *
 * The input is a whole LMDB data file.  Checks: the checker never reads
 * outside the input (ASan sees a read past the exact-size copy), never
 * loops, and reports each problem as one non-empty line naming the file.
 * And its promise: when it finds no problem, liblmdb can use the file: the
 * harness writes it to a directory, opens it through meta.c, reads every
 * table with a cursor and commits a write into each, which must end with
 * success or an error but never a fault (the fault guard is off here, so a
 * fault crashes, and a liblmdb assertion's "fault" error aborts: the
 * checker's gaps are not hidden) or a sanitizer report.
 * Then the salvage walk (verify --repair's reader) on the same input: every
 * key and value it hands out lies in the input (ASan), each table is
 * announced before its entries, and it finds every problem the check finds.
 * BSNAP_FUZZ_VERBOSE=1 prints the problems (to look at a seed). */
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "meta.h"
#include "metacheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_problem(void *ud, const char *line)
{
    if (!line[0] || strncmp(line, "data.mdb", 8) != 0)
        abort();
    (*(uint64_t *)ud)++;
    if (getenv("BSNAP_FUZZ_VERBOSE"))
        fprintf(stderr, "%s\n", line);
}

/* A failure is fine; a liblmdb assertion caught by meta.c is a gap in the
 * checker. */
static void expect_no_fault(int r)
{
    if (r < 0 && strstr(bsnap_last_error()->message, "fault")) {
        fprintf(stderr, "liblmdb faulted on a file the check passed: %s\n",
                bsnap_last_error()->message);
        abort();
    }
}

static void use_with_lmdb(const uint8_t *data, size_t size)
{
    char path[300];
    meta *m = NULL;
    int fd, r;

    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/bsnap-fuzz-metacheck-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir))
            abort();
        atexit(cleanup);
    }
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0)
        abort();
    r = meta_open(dir, false, &m);
    expect_no_fault(r);
    if (r < 0)
        return;
    for (int t = 0; t < T__COUNT; t++) {
        meta_txn *txn = NULL;
        meta_cursor *cur = NULL;
        const void *k, *v;
        size_t kl, vl;

        r = meta_txn_begin(m, false, &txn);
        if (r == 0 && (r = meta_cursor_open(txn, (meta_table)t, &cur)) == 0) {
            for (r = meta_cursor_get(cur, CUR_FIRST, &k, &kl, &v, &vl); r == 0;
                 r = meta_cursor_get(cur, CUR_NEXT, &k, &kl, &v, &vl))
                ;
            meta_cursor_close(cur);
        }
        expect_no_fault(r == -ENOENT ? 0 : r);
        meta_txn_abort(txn);
        txn = NULL;
        r = meta_txn_begin(m, true, &txn);
        if (r == 0 && (r = meta_put(txn, (meta_table)t, "fuzz", 4, "value", 5)) == 0)
            r = meta_txn_commit(txn);
        else
            meta_txn_abort(txn);
        expect_no_fault(r);
    }
    meta_close(m);
}

struct salv {
    bool in_table;
    uint64_t sum;
};

static int on_entry(void *ud, const char *table, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen)
{
    struct salv *sv = ud;

    if (!table)
        abort(); /* (a damaged file may name a table "": the repair skips it) */
    if (!key) {
        sv->in_table = true;
        return 0;
    }
    if (!sv->in_table)
        abort(); /* an entry before its table */
    /* touch every byte: ASan sees a read outside what the walk may hand out */
    for (size_t i = 0; i < klen; i++)
        sv->sum += key[i];
    for (size_t i = 0; i < vlen; i++)
        sv->sum += val[i];
    return 0;
}

static void salvage(const uint8_t *data, size_t size, uint64_t problems)
{
    struct metacheck_stats st = {0};
    struct salv sv = {0};

    int r = metacheck_salvage(-1, data, size, "data.mdb", on_entry, NULL, &sv, &st);

    if (r < 0 || st.problems < problems) { /* (it also reads whole overflow runs) */
        fprintf(stderr, "salvage: %d (%s), %llu problems, the check %llu\n", r,
                bsnap_last_error()->message, (unsigned long long)st.problems,
                (unsigned long long)problems);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct metacheck_stats st = {0};
    uint64_t lines = 0;
    int r = metacheck_buf(data, size, "data.mdb", on_problem, &lines, &st);

    if (r < 0)
        abort(); /* a buffer cannot fail to read; memory is bounded */
    if (lines != (st.problems <= METACHECK_MAX_PROBLEMS ? st.problems : METACHECK_MAX_PROBLEMS + 1))
        abort();
    if (st.problems == 0)
        use_with_lmdb(data, size);
    salvage(data, size, st.problems);
    return 0;
}
