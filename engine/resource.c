/* resource.c - what acts on whole resources of any kind: delete-snapshot,
 * delete-volume, create-tags and delete-tags.
 *
 * It sits above both the catalog (snapshot and volume records) and the
 * images: deleting a snapshot asks the images whether one maps it, tagging
 * changes records of every kind in one transaction.  Nothing below calls
 * up into it.  Every lookup here is through the cross-reference tables
 * (xref.h), so a delete costs what it changes, not the number of records.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "cow-files.h"
#include "error.h"
#include "lineage.h"
#include "image.h"
#include "index.h"
#include "keys.h"
#include "owner.h"
#include "recycle.h"
#include "store.h"
#include "util.h"
#include "xref.h"

/* ---- delete ---- */

/* Give every child of @id (the parent table) the parent @parent. */
static int reparent_children(meta_txn *txn, const char *id, const char *parent)
{
    struct xref_walk *w = NULL;
    char(*kids)[BSNAP_ID_MAX] = NULL, child[BSNAP_ID_MAX];
    size_t n = 0, cap = 0;
    int r = xref_walk_new(txn, NULL, &w);

    /* The children first, then the saves: each save moves an entry of the
     * table the walk reads. */
    if (r >= 0)
        r = xref_walk_add(w, T_SNAP_BY_PARENT, id);
    while (r >= 0 && (r = xref_walk_next(w, child)) > 0) {
        void *na = array_grow(kids, n, &cap, sizeof *kids, 4);
        if (!na) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            break;
        }
        kids = na;
        memcpy(kids[n++], child, sizeof child);
    }
    xref_walk_free(w);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        struct snapshot_rec c = {0};
        r = catalog_snapshot_load(txn, kids[i], &c);
        if (r >= 0) {
            snprintf(c.parent_id, sizeof c.parent_id, "%s", parent);
            r = catalog_snapshot_save(txn, &c);
        }
        snapshot_rec_clear(&c);
    }
    free(kids);
    return r;
}

/* -EBUSY (VolumeInUse) when a snapshot of volume @id is pending. */
static int pending_snapshot(meta_txn *txn, const char *id)
{
    struct xref_walk *w = NULL;
    char snap[BSNAP_ID_MAX];
    int r = xref_walk_new(txn, NULL, &w);

    if (r >= 0)
        r = xref_walk_add(w, T_SNAP_BY_VOLUME, id);
    while (r >= 0 && (r = xref_walk_next(w, snap)) > 0) {
        struct snapshot_rec rec = {0};
        r = catalog_snapshot_load(txn, snap, &rec);
        if (r >= 0 && rec.state == BSNAP_SNAPSHOT_PENDING)
            r = bsnap_fail(-EBUSY, "VolumeInUse",
                           "the volume '%s' is in use: snapshot %s of it is being taken", id, snap);
        snapshot_rec_clear(&rec);
    }
    xref_walk_free(w);
    return r;
}

static int snapshot_delete_once(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec rec = {0};
    struct volume_rec vol = {0};
    int r;

    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        return r;
    r = catalog_xref_ensure(txn);
    if (r < 0)
        goto out;
    r = catalog_snapshot_load(txn, id, &rec);
    if (r == 0)
        r = owner_check_snapshot(s, &rec);
    if (r < 0)
        goto out;
    {
        /* A snapshot a live image maps stays (one lookup). */
        char ami[BSNAP_ID_MAX];
        r = image_snapshot_user(txn, id, ami);
        if (r > 0)
            r = bsnap_fail(-EBUSY, "InvalidSnapshot.InUse",
                           "The snapshot %s is currently in use by %s", id, ami);
        if (r < 0)
            goto out;
        /* So does one a writable volume reads or diffs against next. */
        r = cow_snapshot_user(txn, id, ami);
        if (r > 0)
            r = bsnap_fail(-EBUSY, "InvalidSnapshot.InUse",
                           "The snapshot %s is currently in use by %s", id, ami);
        if (r < 0)
            goto out;
    }
    if (rec.state == BSNAP_SNAPSHOT_PENDING) {
        r = bsnap_fail(-EBUSY, "IncorrectState",
                       "the snapshot '%s' is pending: it is still being written (gc removes "
                       "abandoned ones)",
                       id);
        goto out;
    }
    if (rec.state == BSNAP_SNAPSHOT_COMPLETED) {
        /* A Recycle Bin rule keeps it: the record moves to the bin with
         * its root's reference (recycle.h); else the cascade frees. */
        uint32_t days = 0;
        r = recycle_days(txn, &rec, &days);
        if (r == 0 && days)
            r = recycle_put(txn, &rec, store_now_ms(s), days);
        else if (r == 0 && !chunk_id_is_zero(&rec.root))
            r = index_decref(s, txn, &rec.root);
        if (r < 0)
            goto out;
    }
    r = catalog_snapshot_delete(txn, id);
    if (r < 0)
        goto out;
    /* Children of the deleted snapshot now descend from its parent, and its
     * volume's next snapshot diffs against the parent.  The children come
     * from the parent table (xref.h): O(children), not O(snapshots). */
    r = reparent_children(txn, id, rec.parent_id);
    if (r < 0)
        goto out;
    if (catalog_volume_load(txn, rec.volume_id, &vol) == 0 && strcmp(vol.last_snapshot, id) == 0) {
        snprintf(vol.last_snapshot, sizeof vol.last_snapshot, "%s", rec.parent_id);
        r = catalog_volume_save(txn, &vol);
        if (r < 0)
            goto out;
    }
    bsnap_error_clear(); /* a volume that is gone is not this call's failure */
    r = meta_txn_commit(steal_ptr(txn));
out:
    snapshot_rec_clear(&rec);
    volume_rec_clear(&vol);
    return r;
}

/* The pages a delete releases are read to release what they name: an
 * encrypted snapshot's key must be at hand (its error, naming the
 * snapshot, otherwise; nothing is changed).  Any other failure is left to
 * the delete itself to report. */
static int open_for_delete(bsnap_store *s, const char *id)
{
    struct snapshot_rec rec = {0};
    int r = 0;

    if (catalog_snapshot_get(s, id, &rec) == 0 && rec.state == BSNAP_SNAPSHOT_COMPLETED)
        r = lineage_open_flags(s, &rec, KEYS_OPEN_STORE, NULL);
    snapshot_rec_clear(&rec);
    if (r == 0)
        bsnap_error_clear();
    return r;
}

int bsnap_snapshot_delete(bsnap_store *s, const char *id)
{
    int r;

    bsnap_error_clear();
    r = check_snapshot_id(id);
    if (r < 0)
        return error_set_parameter("SnapshotId");
    r = open_for_delete(s, id);
    if (r == 0)
        r = snapshot_delete_once(s, id);
    /* A full disk: the metadata needs a few pages to record what it frees
     * (see store.h). */
    if (r == -ENOSPC && store_reserve_release(s) == 0) {
        bsnap_error_clear();
        r = snapshot_delete_once(s, id);
    }
    return error_param(r, "SnapshotId");
}

int bsnap_volume_delete(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct volume_rec vol = {0};
    int lockfd = -1, r;

    bsnap_error_clear();
    r = check_volume_id(id);
    if (r < 0)
        return error_set_parameter("VolumeId");
    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        return r;
    r = catalog_xref_ensure(txn);
    if (r < 0)
        goto out;
    r = catalog_volume_load(txn, id, &vol);
    if (r == 0)
        r = owner_check_volume(s, &vol);
    if (r < 0) {
        error_param(r, "VolumeId");
        goto out;
    }
    if (vol.attach_instance[0]) {
        r = bsnap_fail(-EBUSY, "VolumeInUse", "Volume %s is currently attached to %s", id,
                       vol.attach_instance);
        goto out;
    }
    /* A snapshot being taken of it would record the volume again when it
     * completes: refuse, as EC2 refuses an attached volume. */
    r = pending_snapshot(txn, id);
    if (r < 0)
        goto out;
    /* A writable volume: not while a writer has it open; its files go
     * after its record (a crash between leaves files no record names). */
    if (vol.writable) {
        r = cow_lock_for_delete(s, id, &lockfd);
        if (r == -ENOENT)
            r = 0, bsnap_error_clear();
        if (r < 0)
            goto out;
    }
    /* Its snapshots keep their VolumeId, as EC2's do; the file stays. */
    r = catalog_volume_delete(txn, id, vol.path);
    if (r == 0)
        r = meta_txn_commit(steal_ptr(txn));
    if (r == 0 && vol.writable)
        cow_remove_files(s, id);
out:
    if (lockfd >= 0)
        close(lockfd);
    volume_rec_clear(&vol);
    return error_param(r, "VolumeId");
}

/* ---- public: tags ---- */

/* Check @tags; a failure names the parameter: Tags, Tags[N].Key or
 * Tags[N].Value (CreateTags' and DeleteTags' names, the only callers). */
static int check_tags(const bsnap_tag *tags, size_t ntags, bool need_value)
{
    if (ntags > TAGS_MAX) {
        bsnap_fail(-EINVAL, "TagLimitExceeded", "at most %d tags per resource", TAGS_MAX);
        return error_set_parameter("Tags");
    }
    for (size_t i = 0; i < ntags; i++) {
        long klen = tags[i].key ? utf8_length(tags[i].key, strlen(tags[i].key)) : -1;
        int r = 0;

        if (!tags[i].key || klen < 0)
            r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                           tags[i].key ? "tag key is not valid UTF-8" : "tag key missing");
        else if (klen < 1 || klen > TAG_KEY_MAX)
            r = bsnap_fail(-EINVAL, "InvalidParameterValue", "tag key must be 1 to %d characters",
                           TAG_KEY_MAX);
        else if (strncmp(tags[i].key, "aws:", 4) == 0)
            r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                           "tag key '%s': keys starting with 'aws:' are reserved", tags[i].key);
        if (r < 0)
            return error_set_parameter("Tags[%zu].Key", i);
        if (tags[i].value) {
            long vlen = utf8_length(tags[i].value, strlen(tags[i].value));
            if (vlen < 0)
                r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                               "tag '%s': value is not valid UTF-8", tags[i].key);
            else if (vlen > TAG_VALUE_MAX)
                r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                               "tag '%s': value longer than %d characters", tags[i].key,
                               TAG_VALUE_MAX);
        } else if (need_value) {
            r = bsnap_fail(-EINVAL, "InvalidParameterValue", "tag '%s' has no value", tags[i].key);
        }
        if (r < 0)
            return error_set_parameter("Tags[%zu].Value", i);
    }
    return 0;
}

static int tag_resources(bsnap_store *s, const char *const *res, size_t nres, const bsnap_tag *tags,
                         size_t ntags, bool add)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r;

    bsnap_error_clear();
    if (nres == 0) {
        bsnap_fail(-EINVAL, "MissingParameter", "no resources given");
        return error_set_parameter("Resources");
    }
    r = check_tags(tags, ntags, false);
    if (r < 0)
        return r;
    for (size_t i = 0; i < nres; i++) {
        if (strncmp(res[i], "snap-", 5) == 0)
            r = check_snapshot_id(res[i]);
        else if (strncmp(res[i], "ami-", 4) == 0)
            r = check_image_id(res[i]);
        else if (strncmp(res[i], "vol-", 4) == 0)
            r = check_volume_id(res[i]);
        else
            r = bsnap_fail(-EINVAL, "InvalidID", "the id '%s' is not valid", res[i]);
        if (r < 0)
            return error_set_parameter("Resources[%zu]", i);
    }
    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        return r;
    /* One transaction: either every resource changes or none does. */
    for (size_t i = 0; i < nres; i++) {
        bool snap = res[i][0] == 's';
        struct snapshot_rec sr = {0};
        struct volume_rec vr = {0};
        struct tags *t;

        if (res[i][0] == 'a') {
            r = image_tags_update(s, txn, res[i], tags, ntags, add);
            if (r < 0 && strcmp(bsnap_last_error()->code, "TagLimitExceeded") == 0)
                return error_param(r, "Tags");
            if (r < 0)
                return error_param(r, "Resources[%zu]", i);
            continue;
        }
        r = snap ? catalog_snapshot_load(txn, res[i], &sr) : catalog_volume_load(txn, res[i], &vr);
        if (r == 0)
            r = snap ? owner_check_snapshot(s, &sr) : owner_check_volume(s, &vr);
        if (r < 0)
            return error_param(r, "Resources[%zu]", i);
        t = snap ? &sr.tags : &vr.tags;
        if (add) {
            for (size_t j = 0; j < ntags && r >= 0; j++)
                r = tags_set(t, tags[j].key, tags[j].value ? tags[j].value : "");
        } else if (ntags == 0) {
            tags_clear(t);
        } else {
            for (size_t j = 0; j < ntags; j++)
                tags_remove(t, tags[j].key, tags[j].value);
        }
        if (r < 0) /* a tag too many (TagLimitExceeded) */
            error_param(r, "Tags");
        if (r >= 0)
            r = snap ? catalog_snapshot_save(txn, &sr) : catalog_volume_save(txn, &vr);
        snapshot_rec_clear(&sr);
        volume_rec_clear(&vr);
        if (r < 0)
            return r;
    }
    return meta_txn_commit(steal_ptr(txn));
}

int bsnap_tags_create(bsnap_store *s, const char *const *resources, size_t nresources,
                      const bsnap_tag *tags, size_t ntags)
{
    if (ntags == 0) {
        bsnap_error_clear();
        bsnap_fail(-EINVAL, "MissingParameter", "no tags given");
        return error_set_parameter("Tags");
    }
    return tag_resources(s, resources, nresources, tags, ntags, true);
}

int bsnap_tags_delete(bsnap_store *s, const char *const *resources, size_t nresources,
                      const bsnap_tag *tags, size_t ntags)
{
    return tag_resources(s, resources, nresources, tags, ntags, false);
}
