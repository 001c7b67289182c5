/* snapshot.c - the create-snapshot verb: volume, parent, records, and the
 * final transaction; the pipeline itself is pipeline.c and mapwriter.c. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockmap.h"
#include "catalog.h"
#include "cow.h"
#include "owner.h"
#include "chunk.h"
#include "error.h"
#include "index.h"
#include "pack.h"
#include "keys.h"
#include "lineage.h"
#include "pipeline.h"
#include "reader.h"
#include "source.h"
#include "store.h"
#include "util.h"

/* ---- the public call ---- */

/* Find or make the volume record of @o and open its source (@ret_src):
 * the path or URI given, or the one the record of VolumeId holds.  With
 * both, the URI is read for the record: an NBD volume whose socket or
 * port changed since its first snapshot (a fleecing export's, say). */
static int resolve_volume(bsnap_store *s, const bsnap_snapshot_options *o, struct volume_rec *vol,
                          bool *ret_new, struct source **ret_src)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    _cleanup_free_ char *canon = NULL;
    const char *path = o->volume_path;
    struct source *src = NULL;
    int r;

    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    if (o->volume_id) {
        r = check_volume_id(o->volume_id);
        if (r < 0)
            return error_set_parameter("VolumeId");
        r = catalog_volume_load(txn, o->volume_id, vol);
        if (r == 0)
            r = owner_check_volume(s, vol);
        if (r < 0)
            return error_param(r, "VolumeId");
        if (o->volume_path) {
            if (!source_is_uri(o->volume_path) || !vol->path || !source_is_uri(vol->path)) {
                bsnap_fail(-EINVAL, "InvalidParameterCombination",
                           "give a volume path or a volume id, not both (both only for an NBD "
                           "volume read from another URI than its first one)");
                return error_set_parameter("VolumePath");
            }
        } else if (!vol->path || !vol->path[0]) {
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "volume %s has no path to read; give the path of the volume", vol->id);
            return error_set_parameter("VolumeId");
        } else {
            path = vol->path;
        }
    }
    r = source_open(path, o->changed_context, &src);
    if (r < 0)
        return error_param(r, o->volume_path ? "VolumePath" : "VolumeId");
    if (o->volume_id) {
        *ret_new = false;
        *ret_src = src;
        return 0;
    }
    canon = strdup(src->key);
    if (!canon) {
        source_close(src);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    /* The path is recorded and shown as a JSON string: it must be UTF-8
     * (a Latin-1 name failed later as "out of memory"). */
    if (utf8_length(canon, strlen(canon)) < 0) {
        source_close(src);
        bsnap_fail(-EINVAL, "InvalidParameterValue", "volume %s: the path is not valid UTF-8",
                   canon);
        return error_set_parameter("VolumePath");
    }
    r = owner_check_volume_path(s, txn, canon);
    if (r < 0) {
        source_close(src);
        return error_param(r, "VolumePath");
    }
    r = catalog_volume_by_path(txn, canon, vol);
    if (r == 0) {
        *ret_new = false;
        *ret_src = src;
        return 0;
    }
    if (r != -ENOENT) {
        source_close(src);
        return r;
    }
    *ret_new = true;
    memset(vol, 0, sizeof *vol);
    owner_stamp(s, vol->owner);
    r = id_generate("vol", vol->id);
    if (r < 0) {
        source_close(src);
        return bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
    }
    vol->path = steal_ptr(canon);
    vol->create_ms = time_now_ms();
    *ret_src = src;
    return 0;
}

static int load_parent(bsnap_store *s, const bsnap_snapshot_options *o,
                       const struct volume_rec *vol, struct snapshot_rec *parent, bool *ret_have)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    const char *pid = o->parent_id;
    int r;

    *ret_have = false;
    if (o->full)
        return 0;
    if (pid) {
        r = check_snapshot_id(pid);
        if (r < 0)
            return error_set_parameter("ParentId");
    } else if (vol->last_snapshot[0]) {
        pid = vol->last_snapshot;
    } else {
        return 0;
    }
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, pid, parent);
    /* a parent is only read: one shared with the caller will do, as the
     * snapshot a volume was restored from does */
    if (r == 0 && o->parent_id)
        r = owner_read_snapshot(s, parent);
    if (r < 0) {
        if (o->parent_id)
            return error_param(r, "ParentId");
        bsnap_error_clear(); /* the volume's last snapshot is gone: go full */
        return 0;
    }
    if (parent->state != BSNAP_SNAPSHOT_COMPLETED) {
        if (o->parent_id) {
            bsnap_fail(-EINVAL, "IncorrectState", "parent snapshot %s is not completed", pid);
            return error_set_parameter("ParentId");
        }
        snapshot_rec_clear(parent);
        return 0;
    }
    if (parent->chunk_size != s->chunk_size) {
        r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "parent snapshot %s has chunk size %u, the store %u", pid,
                       parent->chunk_size, s->chunk_size);
        /* the volume's own last snapshot: no parameter was wrong */
        return o->parent_id ? error_set_parameter("ParentId") : r;
    }
    *ret_have = true;
    return 0;
}

/* A changed-block list that names the snapshot it was made against (a
 * diff's output) covers what changed since that snapshot, not since
 * another: taken against another parent it would keep that parent's data
 * where the volume changed.  The parent must be @base, or a snapshot of the
 * same contents (the same block map root and size, as a snapshot taken
 * right after a restore of @base has). */
static int check_changed_base(bsnap_store *s, const char *base, const struct snapshot_rec *parent,
                              const char *vol_path)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec b = {0};
    bool same;
    int r;

    if (!base || !base[0] || strcmp(base, parent->id) == 0)
        return 0;
    if (strcmp(base, "-") == 0) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "the changed-block list holds the data ranges of one snapshot, not "
                   "what changed since parent snapshot %s",
                   parent->id);
        return error_set_parameter("ChangedBase");
    }
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, base, &b);
    if (r < 0 && r != -ENOENT && r != -EINVAL)
        return r;
    bsnap_error_clear();
    same = r == 0 && b.state == BSNAP_SNAPSHOT_COMPLETED && b.size == parent->size &&
           chunk_id_eq(&b.root, &parent->root);
    snapshot_rec_clear(&b);
    if (same)
        return 0;
    bsnap_fail(-EINVAL, "InvalidParameterCombination",
               "the changed-block list is relative to snapshot %s, but the parent "
               "snapshot is %s: the list must cover everything written to volume %s "
               "since its parent",
               base, parent->id, vol_path);
    return error_set_parameter("ChangedBase");
}

/* A changed-block list from an NBD meta context (a QEMU dirty bitmap) holds
 * what was written since the bitmap was created or last cleared; only the
 * caller knows which snapshot was taken then, and names it (ParentId).
 * The engine checks what it can: the options here, and in
 * check_context_parent() the parent against the volume and the export. */
static int check_context_options(const bsnap_snapshot_options *o)
{
    if (!o->changed_context)
        return 0;
    if (o->changed) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "give one changed-block list: a list of ranges or an NBD meta context");
        return error_set_parameter("ChangedBlocks");
    }
    if (o->full) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "a full snapshot reads everything: it takes no changed-block list");
        return error_set_parameter("ChangedBlocks");
    }
    if (!o->parent_id) {
        bsnap_fail(-EINVAL, "MissingParameter",
                   "the dirty extents of %s are relative to the snapshot taken when the bitmap "
                   "was created or last cleared: name that snapshot as @{ParentId}",
                   o->changed_context);
        return error_set_parameter("ParentId");
    }
    return 0;
}

static int check_context_parent(const struct volume_rec *vol, const struct snapshot_rec *parent,
                                const struct source *src)
{
    if (strcmp(parent->volume_id, vol->id) != 0) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "parent snapshot %s is a snapshot of volume %s, not of %s (%s): a dirty "
                   "bitmap's extents apply only to the snapshot of the same disk taken when the "
                   "bitmap was created or last cleared",
                   parent->id, parent->volume_id[0] ? parent->volume_id : "(none)", vol->id,
                   vol->path);
        return error_set_parameter("ParentId");
    }
    if (parent->size != src->size) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "volume %s is %llu bytes now, its parent snapshot %s %llu: a disk that "
                   "changed size needs a full snapshot (and a new bitmap)",
                   src->shown, (unsigned long long)src->size, parent->id,
                   (unsigned long long)parent->size);
        return error_set_parameter("ParentId");
    }
    return 0;
}

static int save_record(bsnap_store *s, const struct snapshot_rec *rec)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r < 0)
        return r;
    r = catalog_snapshot_save(txn, rec);
    if (r < 0)
        return r;
    return meta_txn_commit(steal_ptr(txn));
}

static int drop_pending_once(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r == 0)
        r = catalog_snapshot_delete(txn, id);
    if (r == 0)
        r = meta_txn_commit(steal_ptr(txn));
    return r;
}

void snapshot_drop_pending(bsnap_store *s, const char *id)
{
    error_saved saved;
    int r;

    error_save(&saved);
    r = drop_pending_once(s, id);
    if (r == -ENOSPC && store_reserve_release(s) == 0)
        r = drop_pending_once(s, id); /* a full disk: see store.h */
    if (r == 0)
        bsnap_debug("snapshot", "snapshot %s: pending record removed", id);
    else
        bsnap_log(BSNAP_LOG_WARNING, "snapshot",
                  "snapshot %s: could not remove the pending record; gc will", id);
    error_restore(&saved);
}

int snapshot_complete(bsnap_store *s, meta_txn *txn, struct snapshot_taken *t)
{
    struct snapshot_rec cur = {0};
    int r = catalog_snapshot_load(txn, t->rec.id, &cur);

    if (r < 0)
        return r;
    snapshot_rec_clear(&cur);
    t->rec.state = BSNAP_SNAPSHOT_COMPLETED;
    t->rec.completion_ms = time_now_ms();
    if (!chunk_id_is_zero(&t->rec.root)) {
        r = index_incref(s, txn, &t->rec.root);
        if (r < 0)
            return r;
    }
    r = catalog_snapshot_save(txn, &t->rec);
    if (r < 0)
        return r;
    snprintf(t->vol.last_snapshot, sizeof t->vol.last_snapshot, "%s", t->rec.id);
    t->vol.size = t->rec.size;
    return catalog_volume_save(txn, &t->vol);
}

static int complete(bsnap_store *s, struct snapshot_taken *t)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = meta_txn_begin(s->meta, true, &txn);

    if (r < 0)
        return r;
    r = snapshot_complete(s, txn, t);
    if (r < 0)
        return r;
    return meta_txn_commit(steal_ptr(txn));
}

void snapshot_taken_clear(struct snapshot_taken *t)
{
    snapshot_rec_clear(&t->rec);
    volume_rec_clear(&t->vol);
}

/* ---- giving back what a failed run wrote ----
 *
 * A run commits its chunks to the index batch by batch, before the
 * snapshot is complete; when it fails (an error, a full disk, an
 * interrupt), those entries name nothing anyone needs.  With the store
 * lock exclusive (no other writer can have found them meanwhile), each
 * entry this run added that nothing names is released (pages: their
 * children too) and removed, and each pack is cut back to the end of the
 * last record that must stay (one another snapshot shares), removed when
 * the run created it and nothing stays. */

struct undo_rec {
    chunk_id id;
    uint64_t offset, end;
};

struct undo {
    struct undo_rec *recs;
    size_t n, cap;
};

static int undo_collect(void *ud, const struct pack_record *rec, uint64_t offset, uint64_t end)
{
    struct undo *u = ud;
    struct undo_rec *n = array_grow(u->recs, u->n, &u->cap, sizeof *n, 1024);

    if (!n)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    u->recs = n;
    u->recs[u->n++] = (struct undo_rec){.id = rec->id, .offset = offset, .end = end};
    return 0;
}

/* The index entry of @r if it names this very record. */
static bool undo_entry(meta_txn *txn, uint32_t pack, const struct undo_rec *r,
                       struct chunk_entry *ret)
{
    return index_get(txn, &r->id, ret) == 0 && ret->loc.pack == pack &&
           ret->loc.offset == r->offset;
}

static int undo_pack(bsnap_store *s, const struct pack_span *sp)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    _cleanup_free_ char *path = pack_path(s, sp->pack);
    struct undo u = {0};
    struct chunk_entry e;
    uint64_t keep = sp->start;
    int r;

    if (!path)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0; /* pack_writer_abort() removed it */
    r = pack_records_foreach(s, sp->pack, sp->start, undo_collect, &u);
    if (r == 0)
        r = meta_txn_begin(s->meta, true, &txn);
    /* Newest first: a page comes after the pages and chunks it names, so
     * releasing it first lets its children fall to zero before they are
     * looked at. */
    for (size_t i = u.n; r == 0 && i-- > 0;)
        if (undo_entry(txn, sp->pack, &u.recs[i], &e) && e.refcount == 0 &&
            (e.loc.flags & CHUNK_PAGE))
            r = index_release_orphan(s, txn, &u.recs[i].id);
    for (size_t i = 0; r == 0 && i < u.n; i++) {
        if (!undo_entry(txn, sp->pack, &u.recs[i], &e))
            continue; /* never committed, or stored elsewhere */
        if (e.refcount == 0)
            r = meta_del(txn, T_CHUNKS, u.recs[i].id.b, 16);
        else if (u.recs[i].end > keep)
            keep = u.recs[i].end; /* another snapshot shares it */
    }
    if (r == 0)
        r = meta_txn_commit(steal_ptr(txn));
    if (r == 0) {
        r = pack_cut(s, sp->pack, keep, sp->created && keep <= PACK_HEADER_BYTES);
        if (r < 0)
            r = bsnap_fail(r, "Store.Error", "pack %u: cutting back: %s", sp->pack, strerror(-r));
    }
    free(u.recs);
    return r;
}

static void undo_run(bsnap_store *s, struct pack_writer *pw, int lockfd)
{
    const struct pack_span *spans;
    error_saved saved;
    size_t n;
    int r = 0;

    if (!pw)
        return;
    error_save(&saved);
    pack_writer_abort(pw); /* what no metadata names yet */
    /* Exclusive, or another writer may have found one of these chunks and
     * be about to name it.  A failed conversion may lose the shared lock:
     * nothing below needs it then. */
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
        bsnap_debug("snapshot", "another writer is running: gc reclaims what this run wrote");
        error_restore(&saved);
        return;
    }
    spans = pack_writer_spans(pw, &n);
    for (size_t i = n; r == 0 && i-- > 0;) {
        r = undo_pack(s, &spans[i]);
        if (r == -ENOSPC && store_reserve_release(s) == 0)
            r = undo_pack(s, &spans[i]);
    }
    if (r < 0)
        bsnap_log(
            BSNAP_LOG_WARNING, "snapshot",
            "could not give back the space of the failed snapshot (%s): run @{CollectGarbage}",
            bsnap_last_error()->message);
    error_restore(&saved);
}

/* Take a snapshot; complete it (@ret_taken NULL) or hand it over pending. */
/* Record in @rec (pending, its chunks committed) the partition table of
 * the snapshot, read once through a reader of it: snapshots never change,
 * so a view lists SNAP.pN files from the record instead of reading every
 * table again.  A table that does not check is no table (no partitions);
 * a read that fails leaves the table unrecorded (readers of the snapshot
 * then look for themselves) and does not fail the snapshot. */
static void find_partitions(bsnap_store *s, struct snapshot_rec *rec)
{
    bsnap_reader *rd = NULL;
    bsnap_partition *parts = NULL;
    error_saved saved;
    size_t n = 0;
    int r;

    error_save(&saved);
    r = reader_open_pending(s, rec, &rd);
    if (r == 0)
        r = bsnap_partitions_read(rd, &parts, &n);
    bsnap_reader_close(rd);
    if (r == 0 && n && !(rec->parts = calloc(n, sizeof *rec->parts)))
        r = -ENOMEM;
    if (r < 0) {
        bsnap_log(BSNAP_LOG_WARNING, "snapshot", "snapshot %s: partition table not recorded: %s",
                  rec->id, bsnap_last_error()->message);
        free(parts);
        error_restore(&saved);
        return;
    }
    for (size_t i = 0; i < n; i++)
        rec->parts[i] = (bsnap_part_extent){parts[i].number, parts[i].offset, parts[i].size};
    rec->nparts = n;
    rec->parts_known = true;
    free(parts);
    error_restore(&saved);
}

/* Settle @rec's encryption (lineage.h): an encrypted parent's lineage goes
 * on under its key; a new lineage (asked for, or by default for a volume's
 * first snapshot) gets a new data key and is full: a plain parent is let
 * go.  A plain volume stays plain unless asked.  *ret_key: the key to seal
 * with, or NULL; *ret_new_slot: the new lineage's slot, or 0. */
static int choose_lineage(bsnap_store *s, const bsnap_snapshot_options *o,
                          const struct volume_rec *vol, struct snapshot_rec *rec,
                          struct snapshot_rec *parent, bool *have_parent,
                          const struct crypt_key **ret_key, uint64_t *ret_new_slot)
{
    struct snapshot_rec last = {0};
    const struct snapshot_rec *from = *have_parent ? parent : NULL;
    bool by_default = false;
    int r = 0;

    *ret_key = NULL;
    *ret_new_slot = 0;
    if (o->kms_key_id && !o->encrypted) {
        bsnap_fail(-EINVAL, "InvalidParameterDependency",
                   "The parameter @{KmsKeyId} requires the parameter @{Encrypted} to be set.");
        return error_set_parameter("KmsKeyId");
    }
    /* An encrypted writable volume's snapshots are of its lineage: after
     * its base when that is of the same lineage, else full (its first
     * snapshot when it was made under another key than its base's). */
    if (vol->writable && vol->encrypted) {
        if (o->kms_key_id) {
            char arn[KEYS_ARN_MAX];
            r = keys_key_arn(s, o->kms_key_id, arn);
            if (r < 0)
                return error_set_parameter("KmsKeyId");
            if (!vol->kms_key_id || strcmp(arn, vol->kms_key_id) != 0) {
                bsnap_fail(-EINVAL, "InvalidParameterCombination",
                           "volume %s is encrypted with %s: its snapshots keep that key "
                           "(@{CopySnapshot} re-encrypts a copy under another)",
                           vol->id, vol->kms_key_id ? vol->kms_key_id : "");
                return error_set_parameter("KmsKeyId");
            }
        }
        if (*have_parent && parent->encrypted && parent->key_slot == vol->key_slot) {
            r = lineage_inherit(rec, parent);
        } else {
            if (*have_parent) {
                snapshot_rec_clear(parent);
                memset(parent, 0, sizeof *parent);
                *have_parent = false;
            }
            r = lineage_from_volume(rec, vol);
        }
        return r < 0 ? r : lineage_open(s, rec, ret_key);
    }
    /* A full snapshot has no parent to diff against, but its volume's
     * encryption is the last snapshot's: encryption is one-way. */
    if (!from && o->full && vol->last_snapshot[0] &&
        catalog_snapshot_get(s, vol->last_snapshot, &last) == 0 && last.encrypted)
        from = &last;
    bsnap_error_clear();
    if (from && from->encrypted) {
        if (o->kms_key_id) {
            char arn[KEYS_ARN_MAX];
            r = keys_key_arn(s, o->kms_key_id, arn);
            if (r < 0) {
                error_set_parameter("KmsKeyId");
                goto out;
            }
            if (strcmp(arn, from->kms_key_id) != 0) {
                bsnap_fail(-EINVAL, "InvalidParameterCombination",
                           "volume %s is encrypted with %s: its snapshots keep that key "
                           "(@{CopySnapshot} re-encrypts a copy under another)",
                           vol->id, from->kms_key_id);
                r = error_set_parameter("KmsKeyId");
                goto out;
            }
        }
        r = lineage_inherit(rec, from);
        if (r >= 0)
            r = lineage_open(s, from, ret_key);
        goto out;
    }
    if (!o->encrypted) {
        /* encryption by default has no effect on what exists already */
        if (from)
            goto out;
        r = keys_encryption_by_default(s, &by_default);
        if (r < 0 || !by_default)
            goto out;
    }
    if ((o->changed || o->changed_context) && from) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "the first encrypted snapshot of volume %s is full: a changed-block list "
                   "does not apply to it",
                   vol->id);
        r = error_set_parameter("Encrypted");
        goto out;
    }
    if (*have_parent) { /* a plain parent: the new lineage starts full */
        snapshot_rec_clear(parent);
        memset(parent, 0, sizeof *parent);
        *have_parent = false;
    }
    r = lineage_new(s, o->kms_key_id, rec, ret_key);
    if (r < 0) {
        if (o->kms_key_id)
            error_set_parameter("KmsKeyId");
        goto out;
    }
    *ret_new_slot = rec->key_slot;
out:
    snapshot_rec_clear(&last);
    return r;
}

/* Whether @o names a writable volume by id (cow.h): 1, 0, or -errno
 * (nothing recorded: the snapshot's own lookup reports it). */
static int names_writable(bsnap_store *s, const bsnap_snapshot_options *o)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct volume_rec vol = {0};
    int r;

    if (!o->volume_id || o->volume_path || check_volume_id(o->volume_id) < 0)
        return 0;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r == 0)
        r = catalog_volume_load(txn, o->volume_id, &vol);
    bsnap_error_clear();
    r = r < 0 ? 0 : vol.writable;
    volume_rec_clear(&vol);
    return r;
}

/* The record of open writable volume @vh, checked as resolve_volume()
 * checks a volume named by id. */
static int load_writable(bsnap_store *s, bsnap_volume *vh, struct volume_rec *vol)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = meta_txn_begin(s->meta, false, &txn);

    if (r < 0)
        return r;
    r = catalog_volume_load(txn, cow_id(vh), vol);
    if (r == 0)
        r = owner_check_volume(s, vol);
    return error_param(r, "VolumeId");
}

static int take(bsnap_store *s, const bsnap_snapshot_options *o, bsnap_volume *vh, int64_t start_ms,
                char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats,
                struct snapshot_taken *ret_taken)
{
    bsnap_snapshot_options oc;
    struct cow_snap cs = {.fd = -1};
    bool own_vh = false, cow_begun = false;
    struct pipeline *p = NULL;
    struct pack_writer *pw = NULL;
    struct snapshot_taken t = {0};
    struct snapshot_rec parent = {0};
    struct bm_tree parent_tree;
    bsnap_snapshot_stats stats;
    struct source *src = NULL;
    bsnap_range *dirty = NULL;
    size_t ndirty = 0;
    bool vol_new = false, recorded = false, have_parent = false;
    const struct crypt_key *key = NULL;
    uint64_t size = 0, nchunks, new_slot = 0;
    int lockfd = -1, r;

    bsnap_error_clear();
    /* A writable volume: its overlay is read, only the chunks written since
     * its last snapshot, under its lock (opened here unless the caller has
     * it open). */
    if (!vh && names_writable(s, o) > 0) {
        r = bsnap_volume_open(s, o->volume_id, &vh);
        if (r < 0) {
            vh = NULL;
            goto out;
        }
        own_vh = true;
    }
    if (vh) {
        if (o->volume_path || o->parent_id || o->full || o->changed || o->changed_context) {
            bsnap_fail(-EINVAL, "InvalidParameterCombination",
                       "a snapshot of a writable volume reads what was written since its last "
                       "snapshot: no path, parent, full or changed-block list");
            r = error_set_parameter(o->parent_id ? "ParentId" : "VolumePath");
            goto out;
        }
        r = cow_snapshot_begin(vh, &cs);
        if (r < 0)
            goto out;
        cow_begun = true;
        oc = *o;
        oc.volume_id = cow_id(vh);
        oc.changed = cs.changed;
        oc.nchanged = cs.nchanged;
        o = &oc;
    }
    /* both only for an NBD volume read from another URI (resolve_volume()) */
    if (!o->volume_path == !o->volume_id && !(o->volume_path && source_is_uri(o->volume_path))) {
        bsnap_fail(-EINVAL, "MissingParameter", "give exactly one of a volume path or a volume id");
        r = error_set_parameter("VolumePath");
        goto out;
    }
    if (o->description &&
        (r = bsnap_text_check("description", o->description, DESCRIPTION_MAX)) < 0) {
        error_set_parameter("Description");
        goto out;
    }
    if (o->full && o->parent_id) {
        bsnap_fail(-EINVAL, "InvalidParameterCombination",
                   "a full snapshot and a parent snapshot exclude each other");
        r = error_set_parameter("ParentId");
        goto out;
    }
    if (o->ntags > TAGS_MAX) {
        bsnap_fail(-EINVAL, "TagLimitExceeded", "at most %d tags per resource", TAGS_MAX);
        r = error_set_parameter("Tags");
        goto out;
    }
    for (size_t i = 0; i < o->ntags; i++) {
        r = tags_set(&t.rec.tags, o->tags[i].key, o->tags[i].value);
        if (r < 0) {
            error_param(r, "Tags[%zu]", i);
            goto out;
        }
    }
    r = check_context_options(o);
    if (r < 0)
        goto out;
    if (vh) {
        /* the overlay, as a file: only its dirty chunks are read */
        r = load_writable(s, vh, &t.vol);
        if (r == 0)
            r = cow_encrypted(vh) ? cow_source_open(vh, &src) : source_open(cs.path, NULL, &src);
    } else {
        r = resolve_volume(s, o, &t.vol, &vol_new, &src);
    }
    if (r < 0)
        goto out;
    src->cancel = o->run.cancel;
    size = src->size;
    /* Shared store lock, before the parent is read: gc waits until this
     * snapshot is done, so the parent's pages stay in the index even when
     * the parent is deleted meanwhile (its entries are then only DEAD).
     * Taken after the parent was loaded, a delete and a gc could slip in
     * between and take the pages the diff against the parent reads. */
    r = store_lock(s, false, &o->run, &lockfd);
    if (r < 0)
        goto out;
    r = load_parent(s, o, &t.vol, &parent, &have_parent);
    if (r < 0)
        goto out;
    r = choose_lineage(s, o, &t.vol, &t.rec, &parent, &have_parent, &key, &new_slot);
    if (r < 0)
        goto out;
    if (vh && !have_parent) { /* a full snapshot of an encrypted one: all of it */
        oc.changed = NULL;
        oc.nchanged = 0;
    }
    nchunks = DIV_ROUND_UP(size, s->chunk_size);
    if (have_parent)
        snapshot_tree(&parent, &parent_tree);
    if (o->changed) {
        if (o->full || !have_parent) {
            bsnap_fail(-EINVAL, "MissingParameter",
                       "a changed-block list needs a parent snapshot, and volume %s has none: "
                       "take a full snapshot first",
                       t.vol.path);
            r = error_set_parameter("ParentId");
            goto out;
        }
        r = check_changed_base(s, o->changed_base, &parent, t.vol.path);
        if (r < 0)
            goto out;
    }
    if (o->changed_context) {
        /* load_parent() found ParentId: it is of this volume, completed,
         * and of the size the export has now */
        r = check_context_parent(&t.vol, &parent, src);
        if (r == 0)
            r = source_changed(src, &dirty, &ndirty);
        if (r < 0)
            goto out;
    }
    {
        struct pipeline_options po = {
            .s = s,
            .vol = src,
            .size = size,
            .parent = have_parent ? &parent_tree : NULL,
            .changed = o->changed_context ? dirty : o->changed,
            .nchanged = o->changed_context ? ndirty : o->nchanged,
            .parent_size = parent.size,
            .threads = o->threads,
            .run = &o->run,
            .key = key,
        };
        r = pipeline_new(&po, &p);
        if (r < 0)
            goto out;
    }

    owner_stamp(s, t.rec.owner);
    r = id_generate("snap", t.rec.id);
    if (r < 0) {
        r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        goto out;
    }
    snprintf(t.rec.volume_id, sizeof t.rec.volume_id, "%s", t.vol.id);
    if (have_parent)
        snprintf(t.rec.parent_id, sizeof t.rec.parent_id, "%s", parent.id);
    t.rec.state = BSNAP_SNAPSHOT_PENDING;
    t.rec.size = size;
    t.rec.chunk_size = s->chunk_size;
    t.rec.depth = bm_depth_for(nchunks);
    t.rec.start_ms = start_ms ? start_ms : time_now_ms();
    t.rec.description = strdup(o->description ? o->description : "");
    if (!t.rec.description) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    r = save_record(s, &t.rec);
    if (r < 0)
        goto out;
    recorded = true;
    r = pack_writer_open(s, false, &pw);
    if (r < 0)
        goto out;

    r = pipeline_run(p, pw);
    if (r < 0)
        goto out;
    r = src->ops->check(src);
    if (r < 0)
        goto out;
    r = pipeline_finish(p, &t.rec.root, &stats, &t.rec.data_chunks);
    if (r < 0)
        goto out;
    t.rec.bytes_read = stats.read_bytes;
    t.rec.bytes_written = stats.new_bytes;
    t.rec.chunks_written = stats.new_chunks;
    t.rec.pages_written = stats.new_pages;
    find_partitions(s, &t.rec);
    if (!ret_taken) {
        r = complete(s, &t);
        if (r < 0)
            goto out;
    }
    bsnap_debug("snapshot", "snapshot %s: %llu chunks, %llu new, %llu pages new (%llu bytes)",
                t.rec.id, (unsigned long long)nchunks, (unsigned long long)stats.new_chunks,
                (unsigned long long)stats.new_pages, (unsigned long long)stats.new_bytes);
    snprintf(ret_id, BSNAP_ID_MAX, "%s", t.rec.id);
    if (ret_stats)
        *ret_stats = stats;
    if (ret_taken) {
        *ret_taken = t;
        t = (struct snapshot_taken){0};
    }
    r = 0;
out:
    if (r < 0 && recorded)
        snapshot_drop_pending(s, t.rec.id);
    if (r < 0 && new_slot && (!pw || pack_writer_bytes(pw) == 0))
        lineage_forget(s, new_slot); /* nothing was sealed with it */
    if (r < 0)
        undo_run(s, pw, lockfd); /* give the disk space back now */
    pipeline_free(p);
    pack_writer_close(pw);
    store_unlock(lockfd);
    source_close(src);
    free(dirty);
    snapshot_taken_clear(&t);
    snapshot_rec_clear(&parent);
    if (vh) {
        /* The snapshot stands or fails as it did: a map that could not be
         * written after it only makes the next one read those chunks again
         * (logged), and the close of a handle opened here flushes what is
         * already synced. */
        error_saved saved;
        error_save(&saved);
        if (cow_begun && cow_snapshot_end(vh, &cs, r == 0) < 0)
            bsnap_log(BSNAP_LOG_WARNING, "snapshot", "volume %s: %s", cow_id(vh),
                      bsnap_last_error()->message);
        if (own_vh) {
            char vid[BSNAP_ID_MAX];
            snprintf(vid, sizeof vid, "%s", cow_id(vh));
            if (bsnap_volume_close(vh) < 0)
                bsnap_log(BSNAP_LOG_WARNING, "snapshot", "volume %s: %s", vid,
                          bsnap_last_error()->message);
        }
        error_restore(&saved);
    }
    return r;
}

int bsnap_snapshot_create(bsnap_store *s, const bsnap_snapshot_options *o,
                          char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats)
{
    return take(s, o, NULL, 0, ret_id, ret_stats, NULL);
}

int snapshot_create_at(bsnap_store *s, const bsnap_snapshot_options *o, int64_t start_ms,
                       char ret_id[BSNAP_ID_MAX])
{
    return take(s, o, NULL, start_ms, ret_id, NULL, NULL);
}

int bsnap_volume_snapshot(bsnap_volume *vh, const bsnap_snapshot_options *o,
                          char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats)
{
    static const bsnap_snapshot_options none;

    return take(cow_store(vh), o ? o : &none, vh, 0, ret_id, ret_stats, NULL);
}

int snapshot_take_pending(bsnap_store *s, const bsnap_snapshot_options *o,
                          struct snapshot_taken *ret_taken)
{
    char id[BSNAP_ID_MAX];

    return take(s, o, NULL, 0, id, NULL, ret_taken);
}

int snapshot_take_pending_volume(bsnap_volume *vh, const bsnap_snapshot_options *o,
                                 struct snapshot_taken *ret_taken)
{
    static const bsnap_snapshot_options none;
    char id[BSNAP_ID_MAX];

    return take(cow_store(vh), o ? o : &none, vh, 0, id, NULL, ret_taken);
}
