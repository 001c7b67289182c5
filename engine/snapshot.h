/* snapshot.h - taking snapshots.
 *
 * snapshot.c finds the volume and its parent, records the snapshot and
 * completes it; the reader -> workers -> writer pipeline that reads, hashes,
 * compresses and stores is pipeline.c and mapwriter.c (pipeline.h).  The
 * snapshot record is "pending" from the start
 * and becomes "completed" in one final transaction, which takes the
 * snapshot's reference on its root page.
 *
 * Writers hold the store lock shared for their whole run, so gc (which
 * takes it exclusive) never frees chunks a writer has looked up.
 */
#ifndef BSNAP_SNAPSHOT_H
#define BSNAP_SNAPSHOT_H

#include <stdint.h>

#include "blocksnap.h"
#include "meta.h"
#include "record.h"

/* A snapshot written whole but still pending: its record (state pending, in
 * the store) and its volume's record (saved only when it completes). */
struct snapshot_taken {
    struct snapshot_rec rec;
    struct volume_rec vol;
};

/* bsnap_snapshot_create() without its final transaction: the snapshot is
 * left pending, invisible as a parent and unreadable, for the caller to
 * complete with snapshot_complete() in a transaction of its own (create-image
 * completes all its snapshots in the one that registers the image).  The
 * caller must hold the store lock shared (store_lock()) from before this
 * call until that transaction commits or snapshot_drop_pending(): gc, which
 * takes it exclusive, removes every pending snapshot it finds.  Errors: as
 * bsnap_snapshot_create(); on failure nothing is pending. */
int snapshot_take_pending(bsnap_store *s, const bsnap_snapshot_options *o,
                          struct snapshot_taken *ret_taken);

/* bsnap_snapshot_create() whose StartTime is @start_ms (0: the clock's)
 * rather than the clock's: a lifecycle run stamps its snapshots with the
 * time it runs for (lifecycle.c: its fake clock is what tests drive).
 * Errors: as bsnap_snapshot_create(). */
int snapshot_create_at(bsnap_store *s, const bsnap_snapshot_options *o, int64_t start_ms,
                       char ret_id[BSNAP_ID_MAX]);

/* snapshot_take_pending() of open writable volume @vh (cow.h), for
 * create-image of an instance: @o names no volume.  The volume's dirty
 * bits are cleared when the snapshot is taken, before it completes: a
 * caller that drops it instead calls cow_redirty() on @vh, so that the next
 * snapshot reads every chunk the dropped one did. */
int snapshot_take_pending_volume(bsnap_volume *vh, const bsnap_snapshot_options *o,
                                 struct snapshot_taken *ret_taken);

/* Complete @t in @txn: the snapshot's reference on its root page, state
 * completed, and its volume's record naming it as the last snapshot.
 * Errors: InvalidSnapshot.NotFound when the pending record is gone; -EIO,
 * -ENOSPC from LMDB. */
int snapshot_complete(bsnap_store *s, meta_txn *txn, struct snapshot_taken *t);

/* Remove pending snapshot @id's record in a transaction of its own (its
 * chunks are orphans gc reclaims); logs a warning when that fails and
 * leaves the error record as it was. */
void snapshot_drop_pending(bsnap_store *s, const char *id);

void snapshot_taken_clear(struct snapshot_taken *t);

#endif
