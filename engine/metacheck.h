/* metacheck.h - a structural check of an LMDB data file that trusts nothing.
 *
 * liblmdb trusts its pages: a page number, a node offset or an overflow
 * length damaged on disk makes it read or copy outside the page, fault, or
 * (in a write transaction) overflow the heap.  This module reads the file
 * with pread (or from a buffer), never through liblmdb, and checks
 * everything liblmdb would follow before it is followed:
 *
 *  - both meta pages (page flag and number, magic, version, page size,
 *    last page, the FREE and MAIN roots); the snapshot is the one liblmdb
 *    would pick (the larger txnid), or the other when that one is damaged;
 *  - the FREE and MAIN trees and every named table (F_SUBDATA node in MAIN):
 *    each page number in range, equal to the page's own mp_pgno, reached
 *    once (no cycle, no sharing) and inside the file; branch/leaf/overflow
 *    flags as the depth says; mp_lower/mp_upper; every node offset, node
 *    size, key size and overflow run inside its page or the file; keys in
 *    order within a page and within the bounds the branch above sets; the
 *    depth equal to md_depth; the page and entry counts equal to the
 *    MDB_db fields;
 *  - the free list: each free page in range, listed once and used by no
 *    table; and every page up to the last is either used or free (LMDB's
 *    own invariant, mdb.c "reachable exactly once").  The file may end
 *    before the last page: the pages past its end must then be free ones
 *    (liblmdb does not write a transaction's loose pages).
 *
 * The layout is LMDB 0.9's (Debian 12 ships 0.9.24) on a 64-bit
 * little-endian host with MDB_DEVEL off: 16-byte page header, 8-byte node
 * header, 48-byte MDB_db.  Tables are expected to have default flags (keys
 * in memcmp order, no duplicates), as meta.c opens them.
 *
 * Each problem is passed to a callback as one line naming the file, the
 * page, the table and what is wrong.  Guarantees: never reads outside the
 * file or the buffer; memory is bounded by the page count (a bit map) and
 * the tree depth (one page buffer a level); a damaged file never makes it
 * loop (each page is visited at most once).
 */
#ifndef BSNAP_METACHECK_H
#define BSNAP_METACHECK_H

#include <stddef.h>
#include <stdint.h>

/* One problem: "FILE page N (table T): what".  Valid during the call. */
typedef void (*metacheck_func)(void *ud, const char *problem);

struct metacheck_stats {
    uint64_t pages;    /* pages read */
    uint64_t bytes;    /* the data file's size */
    uint64_t problems; /* problems reported */
    uint64_t txnid;    /* the snapshot checked */
};

/* At most this many problems are passed on; one more line says how many
 * were left out. */
#define METACHECK_MAX_PROBLEMS 10000

/* Check the data file open as @fd, named @name in the problems.  @txnid 0
 * checks the snapshot liblmdb would open; otherwise the meta page with that
 * txnid (a read transaction's, so that a concurrent writer cannot reuse the
 * pages being read), and -EAGAIN when neither meta page holds it any more.
 * Returns 0 when the check ran (problems counted in @ret_stats), negative
 * errno when it could not (read error, out of memory; recorded through
 * bsnap_fail). */
int metacheck_fd(int fd, const char *name, uint64_t txnid, metacheck_func fn, void *ud,
                 struct metacheck_stats *ret_stats);

/* The same for a data file held in memory (@len bytes at @buf): the fuzz
 * target and tests. */
int metacheck_buf(const void *buf, size_t len, const char *name, metacheck_func fn, void *ud,
                  struct metacheck_stats *ret_stats);

/* Salvage: each entry of a named table, from every leaf page the check
 * finds sound (a damaged page, and what lies below it, is skipped).  Before
 * a table's entries, @key is NULL and @vlen is the number of entries the
 * table's record says it holds (so that the caller can count what was
 * lost).  Key and value are valid during the call; a negative return stops
 * the walk and is returned. */
typedef int (*metacheck_entry_func)(void *ud, const char *table, const uint8_t *key, size_t klen,
                                    const uint8_t *val, size_t vlen);

/* Walk the file open as @fd (or, with @fd < 0, the @len bytes at @buf) as
 * the check does, passing each problem to @fn and each entry it can read
 * to @entry.  Same returns and guarantees as metacheck_fd(). */
int metacheck_salvage(int fd, const void *buf, size_t len, const char *name,
                      metacheck_entry_func entry, metacheck_func fn, void *ud,
                      struct metacheck_stats *ret_stats);

#endif
