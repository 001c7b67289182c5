/* catalog.h - snapshot and volume records in the metadata tables.
 *
 * Loads and saves records (JSON through record.h) inside a caller's
 * transaction, resolves a volume by its canonical path, and validates ids.
 * The public describe, tag, delete and info calls live in catalog.c.
 */
#ifndef BSNAP_CATALOG_H
#define BSNAP_CATALOG_H

#include "blocksnap.h"
#include "meta.h"
#include "record.h"
#include "xref.h"

/* Malformed-id checks: record InvalidSnapshotID.Malformed / ... */
int check_snapshot_id(const char *id);
int check_volume_id(const char *id);

/* -ENOENT recorded as InvalidSnapshot.NotFound / InvalidVolume.NotFound. */
int catalog_snapshot_load(meta_txn *txn, const char *id, struct snapshot_rec *ret);
/* Check @id, then load its record in a short read transaction; the
 * snapshot must be the caller's or shared with it (owner_read_snapshot()). */
int catalog_snapshot_get(bsnap_store *s, const char *id, struct snapshot_rec *ret);
int catalog_volume_get(bsnap_store *s, const char *id, struct volume_rec *ret);
/* 0 when the calling account owns @rec (owner.h), may act on it; else
 * clear @rec and fail as if it did not exist: -ENOENT
 * InvalidSnapshot.NotFound / InvalidVolume.NotFound, or, for a snapshot
 * shared with the caller, -EACCES UnauthorizedOperation.  Every call that
 * changes a resource named by id checks the record it loads with these. */
int owner_check_snapshot(const bsnap_store *s, struct snapshot_rec *rec);
int owner_check_volume(const bsnap_store *s, struct volume_rec *rec);
/* 0 when the calling account may read snapshot @rec: it owns it or it is
 * shared with it; else clear @rec and fail -ENOENT InvalidSnapshot.NotFound.
 * The calls that only read a snapshot named by id check with this one. */
int owner_read_snapshot(const bsnap_store *s, struct snapshot_rec *rec);
/* 0 when the caller may record a volume at canonical path @canon (none is
 * recorded there, or the caller's own is); -EBUSY (VolumeInUse) when the
 * path is recorded as a volume of another account: the path index holds
 * one volume a path, whose last snapshot is the parent of the next, so a
 * second account's snapshot or restore there would take over the first's. */
int owner_check_volume_path(const bsnap_store *s, meta_txn *txn, const char *canon);
int catalog_snapshot_save(meta_txn *txn, const struct snapshot_rec *r);
int catalog_snapshot_delete(meta_txn *txn, const char *id);
/* Every snapshot record, sorted by id. */
int catalog_snapshot_all(meta_txn *txn, struct snapshot_rec **ret, size_t *ret_n);
void snapshot_recs_free(struct snapshot_rec *recs, size_t n);

int catalog_volume_load(meta_txn *txn, const char *id, struct volume_rec *ret);
int catalog_volume_save(meta_txn *txn, const struct volume_rec *r);
/* Remove volume @id's record, and the path index entry of @path (NULL or
 * "": none) when it names @id.  InvalidVolume.NotFound when absent. */
int catalog_volume_delete(meta_txn *txn, const char *id, const char *path);
/* -ENOENT (not recorded) when no volume has @path. */
int catalog_volume_by_path(meta_txn *txn, const char *path, struct volume_rec *ret);
int catalog_volume_all(meta_txn *txn, struct volume_rec **ret, size_t *ret_n);
void volume_recs_free(struct volume_rec *recs, size_t n);

/* Cross-reference tables of snapshots and volumes (xref.h): rebuilt from
 * the records in @txn (a write transaction) and marked ready. */
int catalog_xref_build(meta_txn *txn);
/* Build them if they are not ready (an older store), in @txn (a write
 * transaction).  Every save and delete above does it first. */
int catalog_xref_ensure(meta_txn *txn);

/* What a kind of record is looked up by, for a describe walk. */
struct catalog_index {
    enum xref_group group;
    meta_table records;    /* the record table (a full walk) */
    meta_table tags;       /* tag key -> ids */
    const char *id_filter; /* the filter that names ids ("snapshot-id") */
    struct {
        const char *filter;
        meta_table table;
    } by[2]; /* filters whose plain values are keys of a table */
};

/* Add to @w the sources of a describe walk for filters @f: the ids of the
 * id filter, else (when @idx's tables are ready) the entries of the first
 * filter that has a table, else the whole record table.  Every filter is
 * still applied to each record. */
int catalog_walk_sources(meta_txn *txn, struct xref_walk *w, const bsnap_filter *f, size_t nf,
                         const struct catalog_index *idx);

#endif
