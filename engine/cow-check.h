/* cow-check.h - the upkeep of writable volumes' files (cow.h): verify
 * checks each volume's files against its record and, asked to, mends what
 * is safe to mend (bsnap_volume_verify()); gc removes the files of volumes
 * that have no record.
 *
 * Guarantees:
 *  - Nothing a record names is ever removed, and no user data is deleted
 *    to mend anything: what cannot be mended safely is reported with what
 *    it would take.
 *  - A volume a writer has open is left alone (its flock() is tried, not
 *    waited for); the checks hold that lock, so no writer starts meanwhile.
 *  - gc removes a recordless volume's files only when every one of them is
 *    older than BSNAP_GC_VOLUME_GRACE_S, and checks again, holding the
 *    overlay's lock, that no record names the volume: a create-volume in
 *    progress (files first, record after) is never undone.
 */
#ifndef BSNAP_COW_CHECK_H
#define BSNAP_COW_CHECK_H

#include <stdint.h>

#include "blocksnap.h"

/* Remove the files of writable volumes no record names, older than
 * @grace_s seconds, and stale temporary maps (ID.map.tmp) as old.
 * *ret_removed: how many files went.  Errors: -EIO, -ENOMEM (recorded). */
int cow_gc_orphans(bsnap_store *s, int64_t grace_s, uint64_t *ret_removed);

#endif
