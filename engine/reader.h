/* reader.h - reading snapshots: readers with pins.
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
#include "blockmap.h"
#include "pack.h"
#include "meta.h"
#include "record.h"

/* An open reader.  Its fields are set at open and never change, so
 * restore.c reads them from its workers without a lock. */
struct bsnap_reader {
    bsnap_store *s;
    char id[BSNAP_ID_MAX];
    struct bm_tree tree; /* the snapshot's block map */
    uint64_t size;       /* bytes */
    uint32_t cs;         /* chunk size */
    /* pin */
    char pin[33];
    int pin_fd;
};

/* The block map of a snapshot record. */
void snapshot_tree(const struct snapshot_rec *r, struct bm_tree *ret);

/* A reader of completed snapshot @id, pinned when @pin (and the store
 * writable); bsnap_reader_open() without clearing the error record.
 * Errors: as bsnap_reader_open(). */
int reader_open(bsnap_store *s, const char *id, bool pin, bsnap_reader **ret_reader);

/* Read chunk @idx of @rd's snapshot, whose id @id the caller looked up in
 * the block map, into @out (rd->cs bytes; zeros for the zero id).  The
 * chunk is checked against its id.  Errors: -EIO (missing, of the wrong
 * kind or damaged), -ENOMEM. */
int reader_read_chunk_id(bsnap_reader *rd, uint64_t idx, const chunk_id *id, uint8_t *out);
/* reader_read_chunk_id(), and, with @ret_stored, the record it came from
 * (pack_read_chunk_stored(); data NULL for the zero chunk). */
int reader_read_chunk_stored(bsnap_reader *rd, uint64_t idx, const chunk_id *id, uint8_t *out,
                             struct stored_payload *ret_stored);

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
