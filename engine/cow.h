/* cow.h - writable copy-on-write volumes: a volume record with no path,
 * whose contents are its base snapshot's chunks overlaid by what was
 * written to it since it was created.
 *
 * Per volume the store holds (docs/format.md "Writable volumes"):
 *   STORE/volumes/vol-….data  a sparse overlay file of the volume's size:
 *                             every chunk ever written, whole, at its offset;
 *   STORE/volumes/vol-….map   which chunks the overlay holds ("written") and
 *                             which were written since the volume's last
 *                             snapshot ("dirty"), with a checksum.
 *
 * Guarantees:
 *  - Creating a volume copies no data: a record, an empty sparse file and a
 *    map of zeros, whatever the size.
 *  - A chunk's written bit is persisted only after its data was
 *    fdatasync'ed (the map is a copy of the bits taken before the sync,
 *    replaced atomically: temp + fsync + rename + fsync of the directory),
 *    so after a crash at any point a chunk reads as the base or as data
 *    that was on disk when its bit was recorded, never as garbage.  What
 *    bsnap_volume_flush() returned for is there after any crash.
 *  - A map found as the writer left it while open (not closed cleanly)
 *    marks every written chunk dirty, so the next snapshot reads back any
 *    write that reached the overlay but not the map.
 *  - One writer: the opener holds an exclusive flock() on the .data file;
 *    another opener (this process or another) gets -EBUSY (VolumeInUse).
 *  - The base snapshot and the volume's last snapshot (the parent of its
 *    next one) cannot be deleted while the volume exists: the cross-reference
 *    table T_VOL_BY_SNAP names them, and delete-snapshot asks it
 *    (cow_snapshot_user()).  gc frees only what no snapshot references, so
 *    it never frees a chunk a writable volume reads.
 */
#ifndef BSNAP_COW_H
#define BSNAP_COW_H

#include <stdbool.h>
#include <stdint.h>

#include "blocksnap.h"
#include "meta.h"
#include "record.h"

/* The volume's files, malloc'd ("STORE/volumes/ID.data", ".map"). */
char *cow_data_path(const bsnap_store *s, const char *id);
char *cow_map_path(const bsnap_store *s, const char *id);

/* "in-use" when a writer holds volume @id open, else "available". */
const char *cow_state(const bsnap_store *s, const char *id);

/* Take the writer's lock of volume @id for a delete: an fd holding it
 * exclusive in @ret_fd (close it after the files are gone).  -EBUSY
 * (VolumeInUse) when a writer has it; -ENOENT when the file is missing
 * (a delete then goes on). */
int cow_lock_for_delete(const bsnap_store *s, const char *id, int *ret_fd);
/* Remove volume @id's files (after its record is gone); best effort. */
void cow_remove_files(const bsnap_store *s, const char *id);

/* Update T_VOL_BY_SNAP for a volume record changing from @old to @new
 * (either NULL): entries "base\0vol" and "last\0vol" of writable volumes. */
int cow_xref_update(meta_txn *txn, const struct volume_rec *old, const struct volume_rec *new);
/* 1 and the volume's id in @ret_vol when a writable volume reads snapshot
 * @snap (its base or its last snapshot), 0 when none. */
int cow_snapshot_user(meta_txn *txn, const char *snap, char ret_vol[BSNAP_ID_MAX]);

/* What a snapshot of an open volume reads: taken under the volume's
 * exclusive I/O lock (writers wait), after a flush.  @fd is the overlay;
 * @changed the dirty chunks as byte ranges (never NULL, maybe none). */
struct cow_snap {
    int fd;
    const char *path;
    uint64_t size;
    bsnap_range *changed;
    size_t nchanged;
};
/* Begin a snapshot of @v: lock, flush, list the dirty chunks. */
int cow_snapshot_begin(bsnap_volume *v, struct cow_snap *ret);
/* End it: when @ok the dirty bits listed are cleared and the map persisted;
 * unlock.  The error of the persist when it fails (the snapshot stands: the
 * next one reads those chunks again). */
int cow_snapshot_end(bsnap_volume *v, struct cow_snap *cs, bool ok);
const char *cow_id(const bsnap_volume *v);
bsnap_store *cow_store(const bsnap_volume *v);

#endif
