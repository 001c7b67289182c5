/* index.h - the chunk index: chunk id -> location, flags, refcount.
 *
 * A chunk's refcount counts the pages that name it (once per naming
 * entry); a page's counts the pages, snapshots and pins that name it.
 * New entries start at 0 ("orphans": still holding references to their
 * children) and become live when something names them.
 *
 * index_decref() cascades: an entry that falls to 0 is marked DEAD and, if
 * it is a page, releases its children; work is proportional to what is
 * freed (a dying page is read from its pack: the index sits below the
 * block map and does not call into it).  DEAD entries stay in the index until gc removes them, so a writer
 * that found a chunk a moment ago can still name it: index_incref() on a
 * DEAD page revives it and takes its children back.  Orphans (from writes
 * that never completed) are released by gc.
 *
 * A MISSING entry (CHUNK_MISSING, written by a repair) stands for a chunk
 * whose record was lost: it keeps the references to it, holds none on
 * children, and is taken over (location replaced, refcount kept) by the
 * writer that stores the chunk again.
 *
 * All calls take a write transaction; none commits.
 */
#ifndef BSNAP_INDEX_H
#define BSNAP_INDEX_H

#include <stdint.h>

#include "chunk.h"
#include "meta.h"
#include "pack.h"

#define INDEX_ENTRY_BYTES 32

struct chunk_entry {
    struct chunk_loc loc; /* loc.flags: CHUNK_LZ4 / _PAGE / _DEAD / _MISSING */
    uint64_t refcount;
};

void index_entry_encode(const struct chunk_entry *e, uint8_t out[INDEX_ENTRY_BYTES]);
int index_entry_decode(const void *in, size_t len, struct chunk_entry *ret);

/* -ENOENT (not recorded) when absent; -EIO for a malformed entry. */
int index_get(meta_txn *txn, const chunk_id *id, struct chunk_entry *ret);
int index_put(meta_txn *txn, const chunk_id *id, const struct chunk_entry *e);
/* Call @fn for every entry in key order; @e is NULL for a malformed entry
 * (a wrong key or value size).  @fn must not change the table.  Stops at
 * the first negative return of @fn and returns it. */
typedef int (*index_visit_func)(void *ud, const chunk_id *id, const struct chunk_entry *e);
int index_foreach(meta_txn *txn, index_visit_func fn, void *ud);

/* Convenience: look @id up in a short read transaction. */
int index_lookup(bsnap_store *s, const chunk_id *id, struct chunk_entry *ret);

/* Add one reference to @id (which must be indexed; -EIO, recorded, if not). */
int index_incref(bsnap_store *s, meta_txn *txn, const chunk_id *id);
/* index_incref() of each of the @n ids of @ids, which it sorts (duplicates
 * count once each): through one cursor in key order, so each leaf of the
 * index is descended to once instead of twice per id (a new block-map page
 * names up to 4096 chunks).  Stops at the first error and returns it; the
 * transaction is then to be aborted. */
int index_incref_many(bsnap_store *s, meta_txn *txn, chunk_id *ids, size_t n);
/* Drop one reference, cascading as described above. */
int index_decref(bsnap_store *s, meta_txn *txn, const chunk_id *id);
/* Release the children of an orphan page and mark it DEAD (gc). */
int index_release_orphan(bsnap_store *s, meta_txn *txn, const chunk_id *id);

#endif
