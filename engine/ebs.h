/* ebs.h - the EBS direct API: snapshots written and read block by block
 * (blocksnap.h, "The EBS direct API").
 *
 * ebs.c writes: StartSnapshot, PutSnapshotBlock, the pending table and
 * its timeouts; ebs-complete.c CompleteSnapshot.  ebs-read.c reads: ListSnapshotBlocks,
 * ListChangedBlocks, GetSnapshotBlock, and the block and page tokens.
 *
 * The pending table (T_EBS, docs/format.md "EBS direct snapshots"):
 *   "s" ID            -> struct ebs_state: timeout, time of the last write
 *   "b" ID \0 INDEX   -> SHA-256 of the block, then its chunk ids (zero
 *                        ids for chunks of zeros); INDEX 8 bytes big-endian
 *   "t" OWNER \0 TOKEN -> snapshot id \0, SHA-256 of the request
 * Each block row holds one reference on every non-zero chunk id it names
 * (index.h), taken in the transaction that writes the row and dropped in
 * the one that replaces or removes it.  So gc keeps a pending snapshot's
 * chunks, a crash loses none of them, and verify counts the rows' refs
 * (ebs_foreach_ref()) with those of pages, snapshots and pins.
 *
 * Guarantees: a snapshot is completed (its map built, its reference on the
 * root taken, its rows and their references dropped) or made error (rows
 * dropped) in one transaction; until then it stays pending with every
 * block a put returned for.
 */
#ifndef BSNAP_EBS_H
#define BSNAP_EBS_H

#include <stdbool.h>
#include <stdint.h>

#include "blocksnap.h"
#include "chunk.h"
#include "meta.h"
#include "store-handle.h"

/* The most chunks one 512 KiB block spans (a store of 4 KiB chunks). */
#define EBS_CHUNKS_MAX (BSNAP_EBS_BLOCK_SIZE / 4096)
#define EBS_STATE_VERSION 1u

#define EBS_TOKEN_MAX 64 /* ClientToken */
/* Room for a key of T_EBS. */
#define EBS_KEY_MAX (2 + BSNAP_ID_MAX + 8 + EBS_TOKEN_MAX + 13)
/* The "s" row's flag: CompleteSnapshot has begun; puts are refused. */
#define EBS_COMPLETING 0x1u

/* The "s" row (fixed width, little-endian on disk through ebs.c). */
struct ebs_state {
    uint32_t timeout_min;
    int64_t last_ms; /* start, or the last put */
};
struct ebs_row {
    uint32_t flags; /* EBS_COMPLETING */
    struct ebs_state st;
};

static inline uint32_t ebs_chunks_per_block(const bsnap_store *s)
{
    return BSNAP_EBS_BLOCK_SIZE / s->chunk_size;
}

/* The "s" row of @id: -ENOENT (not recorded) when absent, -EIO damaged. */
int ebs_row_read(meta_txn *txn, const char *id, struct ebs_row *ret);
int ebs_row_write(meta_txn *txn, const char *id, const struct ebs_row *row);
/* The key of block @index of @id into @k (EBS_KEY_MAX), or without
 * @with_index the prefix of all its blocks' keys; returns its length. */
size_t ebs_bkey(const char *id, uint64_t index, bool with_index, uint8_t *k);
/* Make pending snapshot @id error and give its chunks back, in @txn. */
int ebs_cancel_in(bsnap_store *s, meta_txn *txn, const char *id);
struct snapshot_rec;
/* A pending EBS snapshot's record and row, checked as the caller's to
 * write; one past its timeout is cancelled here, in a transaction of its
 * own (*@txn, a read transaction, is aborted first) and fails
 * WRITE_REQUEST_TIMEOUT.  One being completed fails unless
 * @completing_ok. */
int ebs_load_pending(bsnap_store *s, meta_txn **txn, const char *id, struct snapshot_rec *rec,
                     struct ebs_row *row, bool completing_ok);

/* The store's clock (bsnap_store_set_clock()'s, else the real one), ms. */
int64_t ebs_now_ms(const bsnap_store *s);

/* Whether pending EBS snapshot @id has its "s" row (1), has none (0), or
 * -errno; with @ret_state its content. */
int ebs_state_get(meta_txn *txn, const char *id, struct ebs_state *ret_state);

/* Drop every row of snapshot @id (the "s" row and its blocks), with the
 * references the blocks hold, in write transaction @txn.  The snapshot
 * record is the caller's. */
int ebs_drop_rows(bsnap_store *s, meta_txn *txn, const char *id);

/* gc, in its sweep transaction, before it removes the snapshots that are
 * not completed: cancel every EBS snapshot whose timeout passed (record
 * state error, rows dropped: gc then removes it and frees its chunks),
 * and drop rows whose snapshot record is gone or no longer pending.
 * *@ret_cancelled: how many timed out. */
int ebs_gc_sweep(bsnap_store *s, meta_txn *txn, uint64_t *ret_cancelled);

/* verify: call @fn for every reference the block rows hold (once per
 * non-zero chunk id per row). */
typedef int (*ebs_ref_func)(void *ud, const chunk_id *id);
int ebs_foreach_ref(meta_txn *txn, ebs_ref_func fn, void *ud);

/* Snapshot @id's record in @txn, checked as the caller's to change (@act)
 * or to read, with EBS direct's errors naming @param: ValidationException
 * INVALID_SNAPSHOT_ID, ResourceNotFoundException SNAPSHOT_NOT_FOUND,
 * AccessDeniedException UNAUTHORIZED_ACCOUNT. */
int ebs_load_rec(bsnap_store *s, meta_txn *txn, const char *id, const char *param, bool act,
                 struct snapshot_rec *rec);

/* Base64 of SHA-256 of @len bytes of @data into @out. */
void ebs_sha256_b64(const void *data, size_t len, char out[BSNAP_EBS_CHECKSUM_MAX]);

/* Decode the Base64 of 32 bytes (a SHA-256, a token): exactly 44
 * characters of the canonical spelling (43 and '=', the padding bits 0),
 * @len bytes at @text, not necessarily NUL-terminated.  False, @out
 * unspecified, for anything else.  Pure: fuzzed (fuzz-ebs-token). */
bool ebs_b64_decode32(const char *text, size_t len, uint8_t out[32]);

/* Fail as EBS direct does: @code (ValidationException...) with @reason. */
int ebs_fail(int err, const char *code, const char *reason, const char *fmt, ...)
    BSNAP_PRINTF(4, 5);

/* Check @id as EBS direct does (a snap- id): ValidationException
 * INVALID_SNAPSHOT_ID naming @param. */
int ebs_check_id(const char *id, const char *param);

#endif
