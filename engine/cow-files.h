/* cow-files.h - the files and cross-references of writable volumes (cow.h),
 * in the records layer: what the catalog, the EC2 documents and deletes need
 * of a writable volume without opening it.
 *
 *   STORE/volumes/vol-….data  the overlay (its flock() marks a writer)
 *   STORE/volumes/vol-….map   the map of written chunks (cow.c)
 *   STORE/volumes/vol-….seal  nonces and tags of an encrypted one's chunks
 *   T_VOL_BY_SNAP             "SNAPSHOT\0VOLUME" for the base and the last
 *                             snapshot of each writable volume
 */
#ifndef BSNAP_COW_FILES_H
#define BSNAP_COW_FILES_H

#include "blocksnap.h"
#include "meta.h"
#include "record.h"

/* The volume's files, malloc'd ("STORE/volumes/ID.data", ".map"). */
char *cow_data_path(const bsnap_store *s, const char *id);
char *cow_map_path(const bsnap_store *s, const char *id);
/* An encrypted volume's seal file ("STORE/volumes/ID.seal", cow-crypt.h). */
char *cow_seal_path(const bsnap_store *s, const char *id);

/* "in-use" when a writer holds volume @id open, else "available". */
const char *cow_state(const bsnap_store *s, const char *id);

/* Take the writer's lock of volume @id for a delete: an fd holding it
 * exclusive in @ret_fd (close it after the files are gone).  -EBUSY
 * (VolumeInUse) when a writer has it; -ENOENT when the file is missing
 * (a delete then goes on). */
int cow_lock_for_delete(const bsnap_store *s, const char *id, int *ret_fd);
/* Record -EBUSY (VolumeInUse) for volume @id: a writer has it. */
int cow_lock_busy(const char *id);
/* Remove volume @id's files (after its record is gone); best effort. */
void cow_remove_files(const bsnap_store *s, const char *id);

/* Update T_VOL_BY_SNAP for a volume record changing from @old to @new
 * (either NULL): entries "base\0vol" and "last\0vol" of writable volumes. */
int cow_xref_update(meta_txn *txn, const struct volume_rec *old, const struct volume_rec *new);
/* 1 and the volume's id in @ret_vol when a writable volume reads snapshot
 * @snap (its base or its last snapshot), 0 when none. */
int cow_snapshot_user(meta_txn *txn, const char *snap, char ret_vol[BSNAP_ID_MAX]);

#endif
