/* snapshot.h - taking snapshots: the reader -> workers -> writer pipeline.
 *
 * One reader thread reads the volume in large sequential requests, skipping
 * holes (SEEK_DATA/SEEK_HOLE) or, with a changed-block list, reading only the
 * listed chunks; N workers hash each chunk, compare it with the parent's id,
 * look it up in the index and compress what is new; the calling thread
 * writes new chunks to its pack in volume order, builds the block map's
 * leaf pages as they fill, and commits index entries in batches after an
 * fdatasync of the pack.  The snapshot record is "pending" from the start
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

/* Open a volume for reading: regular file or block device.  Sets the size
 * and canonical path (malloc'd).  Errors name the path. */
int volume_open(const char *path, int *ret_fd, uint64_t *ret_size, char **ret_canonical);

/* The block map of a completed snapshot record. */
struct bm_tree;
void snapshot_tree(const struct snapshot_rec *r, struct bm_tree *ret);

#endif
