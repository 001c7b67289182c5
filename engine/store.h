/* store.h - the store directory: config, format version, lock, and the
 * handles every other module borrows (metadata environment, pack readers,
 * page cache).
 *
 * A store is STORE/config (text, written once, atomically, last at
 * creation: its presence marks a complete store), STORE/meta/ (LMDB),
 * STORE/packs/ (append-only pack files), STORE/pins/ (lock files of open
 * readers), STORE/keys/ and STORE/lock.  The format is in docs/format.md.
 *
 * The handle's fields are in store-handle.h, which the modules below the
 * store's opening (chunk, pack, index, block map) include instead of this.
 *
 * Locking: snapshot writers hold STORE/lock shared for their whole run;
 * gc holds it exclusive.  Nothing else takes it.
 */
#ifndef BSNAP_STORE_H
#define BSNAP_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "blocksnap.h"
#include "meta.h"
#include "store-handle.h"

#define STORE_FORMAT_VERSION 1
#define STORE_PACK_LIMIT_DEFAULT (64ull << 20)
#define STORE_ACCOUNT_DEFAULT "123456789012"

/* Take STORE/lock shared (@exclusive false) or exclusive; returns an fd to
 * pass to store_unlock().  Waits until granted, saying so (a notice) after a
 * second; -ECANCELED ("Cancelled") when @run's cancel flag is set meanwhile
 * (@run may be NULL: no cancel). */
int store_lock(bsnap_store *s, bool exclusive, const bsnap_run_options *run, int *ret_fd);
void store_unlock(int fd);

/* Open the store at @path without its metadata (s->meta NULL): verify
 * --repair, which rebuilds meta/data.mdb and must not let liblmdb read a
 * damaged one. */
int store_open_nometa(const char *path, bsnap_store **ret_store);

/* STORE/reserve: a file of STORE_RESERVE_BYTES whose blocks are
 * allocated, made when a store is opened for writing and there is room.
 * On a full file system, the operations that free space (gc, delete, the
 * undo of a failed snapshot) still need a little room to write their
 * metadata: when one fails with -ENOSPC it releases the reserve and tries
 * again.  gc makes it again afterwards. */
#define STORE_RESERVE_NAME "reserve"
#define STORE_RESERVE_BYTES (2u << 20)
/* 0 when the reserve was there and is gone now, else -errno. */
int store_reserve_release(bsnap_store *s);
/* Make the reserve if it is missing and fits; best effort, silent. */
void store_reserve_make(bsnap_store *s);

/* Join the store path and @name into a malloc'd path. */
char *store_path(const bsnap_store *s, const char *name);

#endif
