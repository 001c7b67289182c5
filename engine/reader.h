/* reader.h - reading snapshots: readers with pins, restore, diff.
 *
 * An open reader pins its snapshot: a record in the pins table holds a
 * reference on the snapshot's root page, and a lock file STORE/pins/NAME
 * that the reader's process holds shared shows the pin is alive.  So a file
 * that is open keeps its data even when its snapshot is deleted and gc runs;
 * closing the reader drops the reference (freeing what the delete left).
 * gc removes the pins of dead processes (their lock is free).
 */
#ifndef BSNAP_READER_H
#define BSNAP_READER_H

#include "blocksnap.h"
#include "meta.h"
#include "record.h"

/* gc: release every pin whose process is gone.  @txn is a write txn. */
int pins_reap(bsnap_store *s, meta_txn *txn, uint64_t *ret_reaped);

/* A reader of pending snapshot @rec (create-image's boot check of a root
 * volume it has just taken), without a pin: a pending snapshot holds no
 * reference on its root page, and a pin's reference, dropped on close,
 * would free the page's children.  The caller holds the store lock shared
 * until it closes the reader, so gc cannot remove the pending snapshot.
 * @rec is copied.  Errors: -ENOMEM. */
int reader_open_pending(bsnap_store *s, const struct snapshot_rec *rec, bsnap_reader **ret_reader);

#endif
