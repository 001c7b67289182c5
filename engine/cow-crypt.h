/* cow-crypt.h - the sealing at rest of an encrypted writable volume's
 * overlay (cow.h): every chunk written is sealed with AES-256-GCM under
 * the volume's lineage key (crypt.h, lineage.h), with a fresh random nonce
 * per write and the chunk's place bound in.
 *
 * The files (docs/format.md, "Encrypted writable volumes"):
 *   STORE/volumes/vol-….data  two copies of every chunk: copy 0 of chunk i
 *                             at i * CS, copy 1 at (N + i) * CS (N chunks),
 *                             each the ciphertext of the chunk's bytes (the
 *                             last chunk may be short); sparse;
 *   STORE/volumes/vol-….seal  N records of 64 bytes, at 64 * i: one entry
 *                             of 32 bytes per copy,
 *                               seq (LE 32; 0: empty) | nonce (12) | tag (16)
 * A chunk's current copy is the one whose entry has the newer seq (they
 * differ by one, counted modulo 2^32 skipping 0).  A write seals the new
 * bytes into the other copy and then writes that copy's entry, so the
 * current copy is never overwritten: a process killed between the two
 * writes leaves the chunk as it was.  The additional data is
 *   "BSV1" | volume id (24, NUL-padded) | chunk index (LE 64) | copy (1) |
 *   seq (LE 32) | lineage slot (LE 64)
 * so a chunk copied to another place of the overlay, to the other copy,
 * or into another volume's files, or an entry of another seq, does not
 * open.  What it does not catch: both copies and entries of one chunk put
 * back as they were at an earlier write (a rollback of that chunk).
 *
 * After a crash (the map says the volume was not closed) a chunk whose
 * newest copy does not open, but whose older one does, is rolled back to
 * the older (cow_crypt_recover()): that is a write that had not reached
 * the disk whole, which no flush had covered.  Otherwise a chunk that does
 * not open reads as an I/O error naming the volume, chunk and offset,
 * never as other data.
 *
 * One writer at a time per chunk: cow.c calls these under the chunk's
 * stripe lock (reads too, so that a read never meets a copy being
 * rewritten).
 */
#ifndef BSNAP_COW_CRYPT_H
#define BSNAP_COW_CRYPT_H

#include <stdbool.h>
#include <stdint.h>

#include "crypt.h"

#define COW_SEAL_ENTRY 32u
#define COW_SEAL_RECORD (2 * COW_SEAL_ENTRY)

struct cow_crypt {
    const struct crypt_key *k; /* the lineage's, borrowed from the store's ring */
    int data_fd, seal_fd;
    const char *vol_id; /* borrowed */
    uint32_t cs;
    uint64_t size, nchunks;
};

/* The two files' lengths for a volume of @nchunks chunks of @cs bytes. */
uint64_t cow_crypt_data_bytes(uint64_t nchunks, uint32_t cs);
uint64_t cow_crypt_seal_bytes(uint64_t nchunks);

/* Read and open the current copy of chunk @idx into @buf (the chunk's
 * length; alloc_aligned(), cs bytes).  -EIO (Store.Corrupt) naming the
 * volume, the chunk and its offset when it has no copy or does not
 * authenticate; -EIO (Store.IOError) for a failed read. */
int cow_crypt_read(const struct cow_crypt *c, uint64_t idx, uint8_t *buf);

/* Seal @plain (the chunk's length) into the copy of chunk @idx that is not
 * current, then record it current.  @scratch: cs bytes, alloc_aligned().
 * -EIO, -ENOSPC (recorded). */
int cow_crypt_write(const struct cow_crypt *c, uint64_t idx, const uint8_t *plain,
                    uint8_t *scratch);

/* After a crash: when chunk @idx's newest copy does not open and the older
 * one does, forget the newest (*ret_rolled true).  @scratch as above.
 * Errors of the reads and the write (recorded). */
int cow_crypt_recover(const struct cow_crypt *c, uint64_t idx, uint8_t *scratch, bool *ret_rolled);

#endif
