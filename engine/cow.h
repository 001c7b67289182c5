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
#include "cow-files.h"

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
/* Mark every chunk ever written dirty again and persist the map: after a
 * pending snapshot of @v was dropped (snapshot_take_pending_volume()), the
 * chunks it read are dirty since the volume's last completed snapshot;
 * every written one is a superset (the unchanged ones dedup).  Errors:
 * the persist's; the map then says the volume was left open, which
 * marks them all dirty at the next open anyway. */
int cow_redirty(bsnap_volume *v);
/* The map file's form (docs/format.md, "Writable volumes"), for cow.c and
 * its fuzzer: the bytes of a map of 2 * @nwords bit words; encode into
 * @buf (cow_map_bytes() long); decode checks everything (magic, version,
 * checksum, the volume's chunk size and size, no bit past the last chunk)
 * and fills @bits (2 * @nwords words).  Errors: -EIO (Store.Corrupt)
 * naming @name. */
size_t cow_map_bytes(size_t nwords);
void cow_map_encode(uint32_t cs, uint64_t size, uint64_t gen, uint32_t flags, const uint64_t *bits,
                    size_t nwords, uint8_t *buf);
int cow_map_decode(const uint8_t *b, size_t len, const char *name, uint32_t cs, uint64_t size,
                   uint64_t *bits, size_t nwords, uint64_t *ret_gen, uint32_t *ret_flags);
/* The map's "open" flag: a writer had the volume open (not closed cleanly). */
#define COW_MAP_OPEN 1u
/* Replace volume @id's map (a volume of @size bytes in chunks of @cs) with
 * @bits (2 * @nwords words), as a writer does: temp + fsync + rename +
 * fsync of the directory.  Errors recorded (Store.IOError). */
int cow_map_replace(const bsnap_store *s, const char *id, uint32_t cs, uint64_t size,
                    uint32_t flags, const uint64_t *bits, size_t nwords);
const char *cow_id(const bsnap_volume *v);
/* Whether @v's overlay is sealed (cow-crypt.h): its snapshots read it
 * through cow_source_open(), not as a file. */
bool cow_encrypted(const bsnap_volume *v);
/* A source (source.h) reading @v's contents as bsnap_volume_pread() does,
 * for a snapshot between cow_snapshot_begin() and _end() (it takes no I/O
 * lock).  -ENOMEM. */
struct source;
int cow_source_open(bsnap_volume *v, struct source **ret);
bsnap_store *cow_store(const bsnap_volume *v);

#endif
