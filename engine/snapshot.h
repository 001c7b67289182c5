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

#include "record.h"

/* The largest volume: 1 PiB.  Building a block map keeps 32 bytes per leaf
 * page in memory (128 MiB for 1 PiB); far larger volumes would exhaust it
 * (docs/reliability.md).  Larger volumes are refused with -EFBIG. */
#define VOLUME_SIZE_MAX (1ull << 50)

/* Open a volume for reading: regular file or block device.  Sets the size
 * and canonical path (malloc'd).  Errors name the path. */
int volume_open(const char *path, int *ret_fd, uint64_t *ret_size, char **ret_canonical);

/* The block map of a completed snapshot record. */
struct bm_tree;
void snapshot_tree(const struct snapshot_rec *r, struct bm_tree *ret);

#endif
