/* catalog.c - records in LMDB; describe, tags, delete, store info. */
#include "catalog.h"
#include "cow-files.h"
#include "owner.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "error.h"
#include "index.h"
#include "page.h"
#include "xref.h"
#include "store.h"
#include "util.h"

int check_snapshot_id(const char *id)
{
    if (!id_valid(id, "snap"))
        return bsnap_fail(-EINVAL, "InvalidSnapshotID.Malformed",
                          "invalid id: \"%s\" (expecting \"snap-...\")", id);
    return 0;
}

int check_volume_id(const char *id)
{
    if (!id_valid(id, "vol"))
        return bsnap_fail(-EINVAL, "InvalidVolumeID.Malformed",
                          "invalid id: \"%s\" (expecting \"vol-...\")", id);
    return 0;
}

int catalog_snapshot_load(meta_txn *txn, const char *id, struct snapshot_rec *ret)
{
    const void *v;
    size_t vlen;
    int r = meta_get(txn, T_SNAPSHOTS, id, strlen(id), &v, &vlen);

    if (r == -ENOENT)
        return bsnap_fail(-ENOENT, "InvalidSnapshot.NotFound", "the snapshot '%s' does not exist",
                          id);
    if (r < 0)
        return r;
    return snapshot_rec_decode(v, vlen, ret);
}

int catalog_snapshot_get(bsnap_store *s, const char *id, struct snapshot_rec *ret)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = check_snapshot_id(id);

    if (r < 0)
        return r;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, id, ret);
    return r < 0 ? r : owner_read_snapshot(s, ret);
}

int catalog_volume_get(bsnap_store *s, const char *id, struct volume_rec *ret)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = check_volume_id(id);

    if (r < 0)
        return r;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = catalog_volume_load(txn, id, ret);
    return r < 0 ? r : owner_check_volume(s, ret);
}

static int snapshot_require(const bsnap_store *s, struct snapshot_rec *rec, bool act)
{
    int r = owner_require(s, rec->owner, &rec->cvp, act, &owner_snapshot, rec->id);

    if (r < 0)
        snapshot_rec_clear(rec);
    return r;
}

int owner_check_snapshot(const bsnap_store *s, struct snapshot_rec *rec)
{
    return snapshot_require(s, rec, true);
}

int owner_read_snapshot(const bsnap_store *s, struct snapshot_rec *rec)
{
    return snapshot_require(s, rec, false);
}

int owner_check_volume(const bsnap_store *s, struct volume_rec *rec)
{
    int r = owner_require(s, rec->owner, NULL, true, &owner_volume, rec->id);

    if (r < 0)
        volume_rec_clear(rec);
    return r;
}

int owner_check_volume_path(const bsnap_store *s, meta_txn *txn, const char *canon)
{
    struct volume_rec v = {0};
    bool mine;
    int r = catalog_volume_by_path(txn, canon, &v);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    mine = owner_visible(s, v.owner);
    volume_rec_clear(&v);
    if (mine)
        return 0;
    return bsnap_fail(-EBUSY, "VolumeInUse",
                      "%s is recorded as a volume of another account; a path is the volume of "
                      "one account",
                      canon);
}

/* ---- cross-references (xref.h) ---- */

/* Move snapshot @id's entries from @old to @new (either NULL). */
static int snapshot_xref(meta_txn *txn, const char *id, const struct snapshot_rec *old,
                         const struct snapshot_rec *new)
{
    int r = 0;

    if (old && (!new || strcmp(old->volume_id, new->volume_id) != 0) && old->volume_id[0])
        r = xref_set(txn, T_SNAP_BY_VOLUME, old->volume_id, id, NULL, false);
    if (r >= 0 && new && (!old || strcmp(old->volume_id, new->volume_id) != 0) && new->volume_id[0])
        r = xref_set(txn, T_SNAP_BY_VOLUME, new->volume_id, id, NULL, true);
    if (r >= 0 && old && (!new || strcmp(old->parent_id, new->parent_id) != 0) && old->parent_id[0])
        r = xref_set(txn, T_SNAP_BY_PARENT, old->parent_id, id, NULL, false);
    if (r >= 0 && new && (!old || strcmp(old->parent_id, new->parent_id) != 0) && new->parent_id[0])
        r = xref_set(txn, T_SNAP_BY_PARENT, new->parent_id, id, NULL, true);
    if (r >= 0)
        r = xref_tags_update(txn, T_SNAP_TAGS, id, old ? &old->tags : NULL,
                             new ? &new->tags : NULL);
    return r;
}

static int volume_xref(meta_txn *txn, const char *id, const struct volume_rec *old,
                       const struct volume_rec *new)
{
    int r = xref_tags_update(txn, T_VOL_TAGS, id, old ? &old->tags : NULL, new ? &new->tags : NULL);

    return r < 0 ? r : cow_xref_update(txn, old, new);
}

int catalog_xref_build(meta_txn *txn)
{
    static const meta_table tables[] = {T_SNAP_BY_VOLUME, T_SNAP_BY_PARENT, T_SNAP_TAGS, T_VOL_TAGS,
                                        T_VOL_BY_SNAP};
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r = 0;

    for (size_t i = 0; r >= 0 && i < sizeof tables / sizeof *tables; i++)
        r = xref_clear(txn, tables[i]);
    for (int t = T_SNAPSHOTS; r >= 0 && t <= T_VOLUMES; t++) {
        r = meta_cursor_open(txn, (meta_table)t, &cur);
        if (r < 0)
            return r;
        /* A record that does not decode is verify's to name: it has no
         * cross-references. */
        for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
             r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
            struct snapshot_rec sr = {0};
            struct volume_rec vr = {0};
            if (t == T_SNAPSHOTS && snapshot_rec_decode(v, vlen, &sr) == 0)
                r = snapshot_xref(txn, sr.id, NULL, &sr);
            else if (t == T_VOLUMES && volume_rec_decode(v, vlen, &vr) == 0)
                r = volume_xref(txn, vr.id, NULL, &vr);
            snapshot_rec_clear(&sr);
            volume_rec_clear(&vr);
            if (r < 0)
                break;
        }
        meta_cursor_close(cur);
        if (r == -ENOENT)
            r = 0;
    }
    bsnap_error_clear(); /* the records that did not decode */
    return r < 0 ? r : xref_mark(txn, XREF_CATALOG);
}

int catalog_xref_ensure(meta_txn *txn)
{
    int r = xref_ready(txn, XREF_CATALOG);

    return r != 0 ? (r < 0 ? r : 0) : catalog_xref_build(txn);
}

/* The record stored under @id in @t, decoded into @ret: 1, 0 when absent
 * (nothing recorded), or -errno: -EIO (Store.Corrupt) when it does not
 * decode, unless @lenient, which takes that as absent. */
static int load_rec(meta_txn *txn, meta_table t, const char *id, void *ret, bool lenient)
{
    const void *v;
    size_t vlen;
    int r = meta_get(txn, t, id, strlen(id), &v, &vlen);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    r = t == T_SNAPSHOTS ? snapshot_rec_decode(v, vlen, ret) : volume_rec_decode(v, vlen, ret);
    if (r < 0 && lenient) {
        bsnap_error_clear();
        return 0;
    }
    return r < 0 ? r : 1;
}

/* The old record of a save or delete: a damaged one has no entries to
 * take back (verify names it; repair rebuilds the tables). */
static int load_old(meta_txn *txn, meta_table t, const char *id, void *ret)
{
    return load_rec(txn, t, id, ret, true);
}

int catalog_snapshot_save(meta_txn *txn, const struct snapshot_rec *rec)
{
    _cleanup_free_ char *json = NULL;
    struct snapshot_rec old = {0};
    size_t len;
    int r = snapshot_rec_encode(rec, &json, &len), had;

    if (r < 0 || (r = catalog_xref_ensure(txn)) < 0 ||
        (had = r = load_old(txn, T_SNAPSHOTS, rec->id, &old)) < 0)
        return r;
    r = snapshot_xref(txn, rec->id, had ? &old : NULL, rec);
    snapshot_rec_clear(&old);
    if (r < 0)
        return r;
    return meta_put(txn, T_SNAPSHOTS, rec->id, strlen(rec->id), json, len);
}

int catalog_snapshot_delete(meta_txn *txn, const char *id)
{
    struct snapshot_rec old = {0};
    int r = catalog_xref_ensure(txn), had;

    if (r < 0 || (had = r = load_old(txn, T_SNAPSHOTS, id, &old)) < 0)
        return r;
    r = had ? snapshot_xref(txn, id, &old, NULL) : 0;
    snapshot_rec_clear(&old);
    if (r < 0)
        return r;
    r = meta_del(txn, T_SNAPSHOTS, id, strlen(id));
    if (r == -ENOENT)
        return bsnap_fail(-ENOENT, "InvalidSnapshot.NotFound", "the snapshot '%s' does not exist",
                          id);
    return r;
}

void snapshot_recs_free(struct snapshot_rec *recs, size_t n)
{
    for (size_t i = 0; recs && i < n; i++)
        snapshot_rec_clear(&recs[i]);
    free(recs);
}

void volume_recs_free(struct volume_rec *recs, size_t n)
{
    for (size_t i = 0; recs && i < n; i++)
        volume_rec_clear(&recs[i]);
    free(recs);
}

/* Decode every value of table @t into an array of @size-byte records. */
static int load_all(meta_txn *txn, meta_table t, size_t size,
                    int (*decode)(const void *, size_t, void *), void (*clear)(void *), void **ret,
                    size_t *ret_n)
{
    meta_cursor *cur = NULL;
    char *arr = NULL;
    size_t n = 0, cap = 0;
    const void *k, *v;
    size_t klen, vlen;
    int r = meta_cursor_open(txn, t, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        char *na = array_grow(arr, n, &cap, size, 16);
        if (!na) {
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            break;
        }
        arr = na;
        memset(arr + n * size, 0, size);
        r = decode(v, vlen, arr + n * size);
        if (r < 0)
            break;
        n++;
    }
    meta_cursor_close(cur);
    if (r < 0 && r != -ENOENT) {
        for (size_t i = 0; i < n; i++)
            clear(arr + i * size);
        free(arr);
        return r;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

static int snap_decode_v(const void *b, size_t l, void *r)
{
    return snapshot_rec_decode(b, l, r);
}
static void snap_clear_v(void *r)
{
    snapshot_rec_clear(r);
}
static int vol_decode_v(const void *b, size_t l, void *r)
{
    return volume_rec_decode(b, l, r);
}
static void vol_clear_v(void *r)
{
    volume_rec_clear(r);
}

int catalog_snapshot_all(meta_txn *txn, struct snapshot_rec **ret, size_t *ret_n)
{
    return load_all(txn, T_SNAPSHOTS, sizeof **ret, snap_decode_v, snap_clear_v, (void **)ret,
                    ret_n);
}

int catalog_volume_all(meta_txn *txn, struct volume_rec **ret, size_t *ret_n)
{
    return load_all(txn, T_VOLUMES, sizeof **ret, vol_decode_v, vol_clear_v, (void **)ret, ret_n);
}

int catalog_volume_load(meta_txn *txn, const char *id, struct volume_rec *ret)
{
    const void *v;
    size_t vlen;
    int r = meta_get(txn, T_VOLUMES, id, strlen(id), &v, &vlen);

    if (r == -ENOENT)
        return bsnap_fail(-ENOENT, "InvalidVolume.NotFound", "the volume '%s' does not exist", id);
    if (r < 0)
        return r;
    return volume_rec_decode(v, vlen, ret);
}

int catalog_volume_save(meta_txn *txn, const struct volume_rec *rec)
{
    _cleanup_free_ char *json = NULL;
    struct volume_rec old = {0};
    size_t len;
    int r = volume_rec_encode(rec, &json, &len), had;

    if (r < 0 || (r = catalog_xref_ensure(txn)) < 0 ||
        (had = r = load_old(txn, T_VOLUMES, rec->id, &old)) < 0)
        return r;
    r = volume_xref(txn, rec->id, had ? &old : NULL, rec);
    volume_rec_clear(&old);
    if (r >= 0)
        r = meta_put(txn, T_VOLUMES, rec->id, strlen(rec->id), json, len);
    if (r < 0 || !rec->path || !rec->path[0])
        return r;
    return meta_put(txn, T_VOLPATHS, rec->path, strlen(rec->path), rec->id, strlen(rec->id));
}

int catalog_volume_delete(meta_txn *txn, const char *id, const char *path)
{
    struct volume_rec old = {0};
    const void *v;
    size_t vlen;
    int r = catalog_xref_ensure(txn), had;

    if (r < 0 || (had = r = load_old(txn, T_VOLUMES, id, &old)) < 0)
        return r;
    r = had ? volume_xref(txn, id, &old, NULL) : 0;
    volume_rec_clear(&old);
    if (r < 0)
        return r;
    r = meta_del(txn, T_VOLUMES, id, strlen(id));
    if (r == -ENOENT)
        return bsnap_fail(-ENOENT, "InvalidVolume.NotFound", "the volume '%s' does not exist", id);
    if (r < 0 || !path || !path[0])
        return r;
    /* The path index, if it still names this volume. */
    r = meta_get(txn, T_VOLPATHS, path, strlen(path), &v, &vlen);
    if (r == -ENOENT)
        return 0;
    if (r < 0 || vlen != strlen(id) || memcmp(v, id, vlen) != 0)
        return r < 0 ? r : 0;
    return meta_del(txn, T_VOLPATHS, path, strlen(path));
}

int catalog_volume_by_path(meta_txn *txn, const char *path, struct volume_rec *ret)
{
    char id[BSNAP_ID_MAX];
    const void *v;
    size_t vlen;
    int r = meta_get(txn, T_VOLPATHS, path, strlen(path), &v, &vlen);

    if (r < 0)
        return r;
    if (vlen >= sizeof id)
        return bsnap_fail(-EIO, "Store.Corrupt", "volume path index for %s is malformed", path);
    memcpy(id, v, vlen);
    id[vlen] = '\0';
    return catalog_volume_load(txn, id, ret);
}

/* ---- public: snapshots ---- */

static void info_from_rec(const struct snapshot_rec *r, bsnap_snapshot_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->id, sizeof info->id, "%s", r->id);
    snprintf(info->volume_id, sizeof info->volume_id, "%s", r->volume_id);
    snprintf(info->parent_id, sizeof info->parent_id, "%s", r->parent_id);
    info->state = r->state;
    info->size = r->size;
    info->start_time_ms = r->start_ms;
    info->data_chunks = r->data_chunks;
    info->chunk_size = r->chunk_size;
    info->encrypted = r->encrypted;
}

int bsnap_snapshot_get(bsnap_store *s, const char *id, bsnap_snapshot_info *ret_info)
{
    struct snapshot_rec rec = {0};
    int r;

    bsnap_error_clear();
    r = catalog_snapshot_get(s, id, &rec);
    if (r < 0)
        return error_param(r, "SnapshotId");
    info_from_rec(&rec, ret_info);
    snapshot_rec_clear(&rec);
    return 0;
}

int bsnap_snapshot_list(bsnap_store *s, bsnap_snapshot_info **ret_infos, size_t *ret_n)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec *recs = NULL;
    bsnap_snapshot_info *infos;
    size_t n = 0;
    int r;

    bsnap_error_clear();
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = catalog_snapshot_all(txn, &recs, &n);
    if (r < 0)
        return r;
    infos = calloc(n ? n : 1, sizeof *infos);
    if (!infos) {
        snapshot_recs_free(recs, n);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (owner_shared(s, recs[i].owner, &recs[i].cvp))
            info_from_rec(&recs[i], &infos[k++]);
    snapshot_recs_free(recs, n);
    *ret_infos = infos;
    *ret_n = k;
    return 0;
}

int bsnap_snapshot_ids(bsnap_store *s, bool completed_only, char (**ret_ids)[BSNAP_ID_MAX],
                       size_t *ret_n)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen, n = 0, cap = 0;
    char(*ids)[BSNAP_ID_MAX] = NULL;
    int r;

    bsnap_error_clear();
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0 || (r = meta_cursor_open(txn, T_SNAPSHOTS, &cur)) < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        struct snapshot_peek pk;
        bool visible;

        if (klen == 0 || klen >= BSNAP_ID_MAX) {
            r = bsnap_fail(-EIO, "Store.Corrupt", "metadata: a snapshot record's key of %zu bytes",
                           klen);
            break;
        }
        /* The owner and state without decoding the record (what made a
         * listing of ids cost a decode of every record); a record shared
         * with other accounts, or one the look does not understand, is
         * decoded, as describe would. */
        if (snapshot_rec_peek(v, vlen, &pk) == 0 && !pk.shared) {
            visible = owner_visible(s, pk.owner);
        } else {
            struct snapshot_rec rec = {0};
            if ((r = snapshot_rec_decode(v, vlen, &rec)) < 0)
                break;
            pk.state = rec.state;
            visible = owner_shared(s, rec.owner, &rec.cvp);
            snapshot_rec_clear(&rec);
        }
        if (!visible || (completed_only && pk.state != BSNAP_SNAPSHOT_COMPLETED))
            continue;
        if (n == cap) {
            char(*more)[BSNAP_ID_MAX] = realloc(ids, (cap = cap ? 2 * cap : 256) * sizeof *ids);
            if (!more) {
                r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
                break;
            }
            ids = more;
        }
        memcpy(ids[n], k, klen);
        ids[n++][klen] = '\0';
    }
    meta_cursor_close(cur);
    if (r != -ENOENT && r < 0) {
        free(ids);
        return r;
    }
    *ret_ids = ids ? ids : malloc(sizeof *ids);
    if (!*ret_ids)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_n = n;
    return 0;
}

int bsnap_snapshot_walk(bsnap_store *s, bsnap_snapshot_walk_fn fn, void *ud)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r;

    bsnap_error_clear();
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0 || (r = meta_cursor_open(txn, T_SNAPSHOTS, &cur)) < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        struct snapshot_rec rec = {0};
        bsnap_snapshot_entry e;
        r = snapshot_rec_decode(v, vlen, &rec);
        if (r < 0)
            break;
        if (!owner_shared(s, rec.owner, &rec.cvp)) {
            snapshot_rec_clear(&rec);
            continue;
        }
        info_from_rec(&rec, &e.info);
        e.parts_known = rec.parts_known;
        e.nparts = rec.nparts;
        e.parts = rec.parts;
        r = fn(&e, ud);
        snapshot_rec_clear(&rec);
        if (r != 0)
            break;
    }
    meta_cursor_close(cur);
    return r == -ENOENT ? 0 : r;
}

int bsnap_snapshot_partitions(bsnap_store *s, const char *id, bsnap_part_extent **ret_parts,
                              size_t *ret_n)
{
    struct snapshot_rec rec = {0};
    int r;

    bsnap_error_clear();
    r = catalog_snapshot_get(s, id, &rec);
    if (r < 0)
        return error_param(r, "SnapshotId");
    if (!rec.parts_known) {
        snapshot_rec_clear(&rec);
        return bsnap_fail(-ENODATA, "Snapshot.PartitionsNotRecorded",
                          "the record of snapshot '%s' holds no partition table", id);
    }
    *ret_parts = rec.parts;
    *ret_n = rec.nparts;
    rec.parts = NULL;
    snapshot_rec_clear(&rec);
    return 0;
}

/* Load the records named by @ids (at least one). */
static int snapshots_select(const bsnap_store *s, meta_txn *txn, const char *const *ids,
                            size_t nids, struct snapshot_rec **ret, size_t *ret_n)
{
    struct snapshot_rec *recs;
    int r;

    assert(nids > 0); /* without ids, describe walks (describe_walk()) */
    for (size_t i = 0; i < nids; i++) {
        r = check_snapshot_id(ids[i]);
        if (r < 0)
            return error_set_parameter("SnapshotIds[%zu]", i);
    }
    recs = calloc(nids, sizeof *recs);
    if (!recs)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < nids; i++) {
        r = catalog_snapshot_load(txn, ids[i], &recs[i]);
        if (r == 0)
            r = owner_read_snapshot(s, &recs[i]);
        if (r < 0) {
            snapshot_recs_free(recs, nids);
            return error_param(r, "SnapshotIds[%zu]", i);
        }
    }
    *ret = recs;
    *ret_n = nids;
    return 0;
}

/* ---- describe: walks over the records or their cross-references ---- */

/* Whether every value of @f is plain (usable as a key). */
static bool filter_exact(const bsnap_filter *f)
{
    for (size_t i = 0; i < f->nvalues; i++)
        if (!xref_exact(f->values[i]))
            return false;
    return f->nvalues > 0;
}

int catalog_walk_sources(meta_txn *txn, struct xref_walk *w, const bsnap_filter *f, size_t nf,
                         const struct catalog_index *idx)
{
    int ready = xref_ready(txn, idx->group);
    int r;

    if (ready < 0)
        return ready;
    /* The first filter that names its results by key gives the ids; the
     * walk applies every filter to each record anyway. */
    for (size_t i = 0; i < nf; i++) {
        const bsnap_filter *fi = &f[i];
        meta_table t = T__COUNT;
        if (idx->id_filter && strcmp(fi->name, idx->id_filter) == 0 && filter_exact(fi))
            return xref_walk_add_ids(w, fi->values, fi->nvalues);
        if (!ready)
            continue;
        for (size_t k = 0; k < 2 && t == T__COUNT; k++)
            if (idx->by[k].filter && strcmp(fi->name, idx->by[k].filter) == 0 && filter_exact(fi))
                t = idx->by[k].table;
        if (t != T__COUNT) {
            for (size_t j = 0; j < fi->nvalues; j++)
                if ((r = xref_walk_add(w, t, fi->values[j])) < 0)
                    return r;
            return 0;
        }
        if (strncmp(fi->name, "tag:", 4) == 0) /* the values are checked in the table */
            return xref_walk_add_matching(w, idx->tags, fi->name + 4, fi);
        if (strcmp(fi->name, "tag-key") == 0 && filter_exact(fi)) {
            for (size_t j = 0; j < fi->nvalues; j++)
                if ((r = xref_walk_add(w, idx->tags, fi->values[j])) < 0)
                    return r;
            return 0;
        }
    }
    return xref_walk_add(w, idx->records, NULL);
}

static const struct catalog_index snapshot_index = {
    .group = XREF_CATALOG,
    .records = T_SNAPSHOTS,
    .tags = T_SNAP_TAGS,
    .id_filter = "snapshot-id",
    .by = {{"volume-id", T_SNAP_BY_VOLUME}, {"parent-snapshot-id", T_SNAP_BY_PARENT}},
};

static const struct catalog_index volume_index = {
    .group = XREF_CATALOG,
    .records = T_VOLUMES,
    .tags = T_VOL_TAGS,
    .id_filter = "volume-id",
};

static int snapshot_load_v(meta_txn *txn, const char *id, void *ret)
{
    return load_rec(txn, T_SNAPSHOTS, id, ret, false);
}

static void snapshot_clear_v(void *rec)
{
    snapshot_rec_clear(rec);
}

static int volume_load_v(meta_txn *txn, const char *id, void *ret)
{
    return load_rec(txn, T_VOLUMES, id, ret, false);
}

static void volume_clear_v(void *rec)
{
    volume_rec_clear(rec);
}

/* A list-describe without ids: walk, page, describe. */
static int describe_walk(bsnap_store *s, meta_txn *txn, const struct page *pg,
                         const bsnap_describe_options *o, const struct catalog_index *idx,
                         size_t size, page_load_func load, void (*clear)(void *), json_t **ret_doc)
{
    struct xref_walk *w = NULL;
    int r = xref_walk_new(txn, pg->after, &w);

    if (r >= 0)
        r = catalog_walk_sources(txn, w, o ? o->filters : NULL, o ? o->nfilters : 0, idx);
    if (r >= 0)
        r = page_describe_walk(s, pg, o, txn, w, size, load, clear, ret_doc);
    xref_walk_free(w);
    return r;
}

int bsnap_snapshot_describe(bsnap_store *s, const bsnap_describe_options *o, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec *recs = NULL;
    struct page pg;
    size_t n = 0;
    int r;

    bsnap_error_clear();
    r = page_begin(s, PAGE_SNAPSHOTS, o, NULL, 0, &pg);
    if (r < 0)
        return r;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    if (!o || !o->nids)
        return describe_walk(s, txn, &pg, o, &snapshot_index, sizeof(struct snapshot_rec),
                             snapshot_load_v, snapshot_clear_v, ret_doc);
    r = snapshots_select(s, txn, o->ids, o->nids, &recs, &n);
    if (r < 0)
        return r;
    r = page_describe_array(s, &pg, o, recs, sizeof *recs, n, ret_doc);
    snapshot_recs_free(recs, n);
    return r;
}

int bsnap_snapshot_describe_one(bsnap_store *s, const char *id, json_t **ret_doc)
{
    struct snapshot_rec rec = {0};
    int r;

    bsnap_error_clear();
    r = catalog_snapshot_get(s, id, &rec);
    if (r < 0)
        return error_param(r, "SnapshotId");
    r = json_describe_snapshot(s, &rec, ret_doc);
    snapshot_rec_clear(&rec);
    return r;
}

/* ---- public: volumes ---- */

int bsnap_volume_describe(bsnap_store *s, const bsnap_describe_options *o, json_t **ret_doc)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    const char *const *ids = o ? o->ids : NULL;
    size_t nids = o ? o->nids : 0;
    struct volume_rec *recs = NULL;
    struct page pg;
    size_t n = 0;
    int r;

    bsnap_error_clear();
    for (size_t i = 0; i < nids; i++) {
        r = check_volume_id(ids[i]);
        if (r < 0)
            return error_set_parameter("VolumeIds[%zu]", i);
    }
    r = page_begin(s, PAGE_VOLUMES, o, NULL, 0, &pg);
    if (r < 0)
        return r;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    if (nids == 0)
        return describe_walk(s, txn, &pg, o, &volume_index, sizeof(struct volume_rec),
                             volume_load_v, volume_clear_v, ret_doc);
    recs = calloc(nids, sizeof *recs);
    if (!recs)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    n = nids;
    for (size_t i = 0; i < nids && r >= 0; i++) {
        r = catalog_volume_load(txn, ids[i], &recs[i]);
        if (r == 0)
            r = owner_check_volume(s, &recs[i]);
        r = error_param(r, "VolumeIds[%zu]", i);
    }
    if (r >= 0)
        r = page_describe_array(s, &pg, o, recs, sizeof *recs, n, ret_doc);
    volume_recs_free(recs, n);
    return r;
}

int bsnap_volume_describe_one(bsnap_store *s, const char *id, json_t **ret_doc)
{
    struct volume_rec rec = {0};
    int r;

    bsnap_error_clear();
    r = catalog_volume_get(s, id, &rec);
    if (r < 0)
        return error_param(r, "VolumeId");
    r = json_describe_volume(s, &rec, ret_doc);
    volume_rec_clear(&rec);
    return r;
}

/* ---- public: store info ---- */

static uint64_t dir_bytes(const char *dir, uint64_t *ret_count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t total = 0, count = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        char p[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            total += (uint64_t)st.st_size;
            count++;
        }
    }
    closedir(d);
    *ret_count = count;
    return total;
}

static int info_cb(void *ud, const chunk_id *id, const struct chunk_entry *e)
{
    bsnap_store_info *info = ud;

    (void)id;
    if (e && !(e->loc.flags & CHUNK_MISSING)) { /* a lost chunk is not stored */
        info->chunk_count++;
        info->stored_bytes += e->loc.stored_len;
        info->logical_bytes += e->loc.orig_len;
    }
    return 0;
}

int bsnap_store_get_info(bsnap_store *s, bsnap_store_info *ret_info)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    bsnap_store_info info = {0};
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r;

    bsnap_error_clear();
    snprintf(info.uuid, sizeof info.uuid, "%s", s->uuid_text);
    snprintf(info.region, sizeof info.region, "%s", s->region);
    snprintf(info.account, sizeof info.account, "%s", s->account);
    info.chunk_size = s->chunk_size;
    info.format = s->format;
    info.pack_bytes = dir_bytes(s->packs_dir, &info.pack_count);
    info.meta_bytes = meta_file_bytes(s->meta);
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = index_foreach(txn, info_cb, &info);
    if (r < 0)
        return r;
    for (int t = T_SNAPSHOTS; t <= T_VOLUMES; t++) {
        r = meta_cursor_open(txn, (meta_table)t, &cur);
        if (r < 0)
            return r;
        for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
             r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
            struct snapshot_rec sr = {0};
            *(t == T_SNAPSHOTS ? &info.snapshot_count : &info.volume_count) += 1;
            /* What the completed snapshots hold apart from zeros, each
             * counted in full: the numerator of the dedup ratio.  A record
             * that does not decode is verify's to name. */
            if (t == T_SNAPSHOTS && snapshot_rec_decode(v, vlen, &sr) == 0 &&
                sr.state == BSNAP_SNAPSHOT_COMPLETED) {
                uint64_t d =
                    sr.data_chunks * (uint64_t)(sr.chunk_size ? sr.chunk_size : s->chunk_size);
                info.data_bytes += d < sr.size ? d : sr.size; /* a short last chunk */
            }
            snapshot_rec_clear(&sr);
        }
        meta_cursor_close(cur);
        if (r != -ENOENT)
            return r;
    }
    *ret_info = info;
    return 0;
}
