/* recycle.h - the Recycle Bin (Amazon rbin's rules, EC2's snapshots in the
 * Recycle Bin): retention rules, and the snapshots a delete put in the bin
 * instead of freeing them.
 *
 * Rules are JSON records in T_LIFECYCLE under "r" + rule id; a snapshot in
 * the bin is one entry under "b" + snapshot id holding its times and its
 * snapshot record, as it was, as text (format.md, "Recycle Bin").  A
 * snapshot goes in in the transaction that deletes its record: the record
 * moves, its root's reference stays, so nothing it names can be freed
 * (verify counts the bin's roots as references, gc frees nothing they
 * reach), and every other module sees it as deleted.  Restoring moves the
 * record back; expiry (gc, and each delete) drops the root's reference,
 * which frees what only it named, as a delete would have.
 *
 * This module guarantees:
 *  - a snapshot is either a snapshot, or in the bin, never both nor
 *    neither (one transaction moves it either way);
 *  - another account's rules and binned snapshots are never seen;
 *  - the clock is the store handle's (bsnap_store_set_clock()), so tests
 *    drive retention periods without waiting.
 */
#ifndef BSNAP_RECYCLE_H
#define BSNAP_RECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "blocksnap.h"
#include "meta.h"
#include "record.h"

#define RECYCLE_RULE_LIMIT 250 /* per account, as rbin */
#define RECYCLE_DAYS_MAX 365
#define RECYCLE_TAGS_MAX 50

/* The retention, in days, of the rules of the snapshot's owner that match
 * @rec (a region-level rule, or one with a tag @rec carries): the longest
 * of them; 0 when none does. */
int recycle_days(meta_txn *txn, const struct snapshot_rec *rec, uint32_t *ret_days);

/* Put @rec (a completed snapshot whose record the caller deletes in @txn,
 * keeping its root's reference) in the bin for @days from @now_ms. */
int recycle_put(meta_txn *txn, const struct snapshot_rec *rec, int64_t now_ms, uint32_t days);

/* Call @fn for the record of every snapshot in the bin (all accounts'); a
 * damaged entry is -EIO. */
int recycle_foreach(meta_txn *txn, int (*fn)(void *ud, const struct snapshot_rec *rec), void *ud);

/* Decode a bin entry's value (@len bytes) for snapshot @id: its record
 * into @ret (snapshot_rec_clear() it), its enter and exit times.  -EIO
 * (Store.Corrupt) for a damaged one.  Pure. */
int recycle_entry_decode(const char *id, const void *buf, size_t len, struct snapshot_rec *ret,
                         int64_t *ret_enter_ms, int64_t *ret_exit_ms);

/* Free the bin's snapshots whose time is up at the store's clock, each in
 * a transaction of its own; one whose pages cannot be read (its key not at
 * hand) stays, logged.  Returns the number freed. */
int recycle_expire(bsnap_store *s);

/* The store's clock: bsnap_store_set_clock()'s time, else the real one. */
int64_t store_now_ms(const bsnap_store *s);

#endif
