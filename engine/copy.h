/* copy.h - what the rest of the engine needs of copy.c (copy-snapshot). */
#ifndef BSNAP_COPY_H
#define BSNAP_COPY_H

#include <stdint.h>

#include "meta.h"

/* gc, in its write transaction @txn, after the index lost its dead
 * entries: remove every translation (T_CHUNK_XLATE) that names a chunk the
 * index no longer holds; their number in @ret_n. */
int copy_prune(meta_txn *txn, uint64_t *ret_n);

#endif
