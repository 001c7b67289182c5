/* catalog.c - records in LMDB; describe, tags, delete, store info. */
#include "catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "error.h"
#include "image.h"
#include "index.h"
#include "page.h"
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
    return catalog_snapshot_load(txn, id, ret);
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
    return catalog_volume_load(txn, id, ret);
}

int catalog_snapshot_save(meta_txn *txn, const struct snapshot_rec *rec)
{
    _cleanup_free_ char *json = NULL;
    size_t len;
    int r = snapshot_rec_encode(rec, &json, &len);

    if (r < 0)
        return r;
    return meta_put(txn, T_SNAPSHOTS, rec->id, strlen(rec->id), json, len);
}

int catalog_snapshot_delete(meta_txn *txn, const char *id)
{
    int r = meta_del(txn, T_SNAPSHOTS, id, strlen(id));

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
    size_t len;
    int r = volume_rec_encode(rec, &json, &len);

    if (r < 0)
        return r;
    r = meta_put(txn, T_VOLUMES, rec->id, strlen(rec->id), json, len);
    if (r < 0 || !rec->path || !rec->path[0])
        return r;
    return meta_put(txn, T_VOLPATHS, rec->path, strlen(rec->path), rec->id, strlen(rec->id));
}

int catalog_volume_delete(meta_txn *txn, const char *id, const char *path)
{
    const void *v;
    size_t vlen;
    int r = meta_del(txn, T_VOLUMES, id, strlen(id));

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
}

int bsnap_snapshot_get(bsnap_store *s, const char *id, bsnap_snapshot_info *ret_info)
{
    struct snapshot_rec rec = {0};
    int r;

    bsnap_error_clear();
    r = catalog_snapshot_get(s, id, &rec);
    if (r < 0)
        return r;
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
    for (size_t i = 0; i < n; i++)
        info_from_rec(&recs[i], &infos[i]);
    snapshot_recs_free(recs, n);
    *ret_infos = infos;
    *ret_n = n;
    return 0;
}

/* Load the records named by @ids (all when @nids is 0). */
static int snapshots_select(meta_txn *txn, const char *const *ids, size_t nids,
                            struct snapshot_rec **ret, size_t *ret_n)
{
    struct snapshot_rec *recs;
    int r;

    if (nids == 0)
        return catalog_snapshot_all(txn, ret, ret_n);
    for (size_t i = 0; i < nids; i++) {
        r = check_snapshot_id(ids[i]);
        if (r < 0)
            return r;
    }
    recs = calloc(nids, sizeof *recs);
    if (!recs)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < nids; i++) {
        r = catalog_snapshot_load(txn, ids[i], &recs[i]);
        if (r < 0) {
            snapshot_recs_free(recs, nids);
            return r;
        }
    }
    *ret = recs;
    *ret_n = nids;
    return 0;
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
    r = snapshots_select(txn, o ? o->ids : NULL, o ? o->nids : 0, &recs, &n);
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
        return r;
    r = json_describe_snapshot(s, &rec, ret_doc);
    snapshot_rec_clear(&rec);
    return r;
}

static int snapshot_delete_once(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec rec = {0}, *all = NULL;
    struct volume_rec vol = {0};
    size_t n = 0;
    int r;

    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, id, &rec);
    if (r < 0)
        goto out;
    {
        /* Images issue: a snapshot a live image maps stays (O(images)). */
        char ami[BSNAP_ID_MAX];
        r = image_snapshot_user(txn, id, ami);
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
    if (rec.state == BSNAP_SNAPSHOT_COMPLETED && !chunk_id_is_zero(&rec.root)) {
        r = index_decref(s, txn, &rec.root);
        if (r < 0)
            goto out;
    }
    r = catalog_snapshot_delete(txn, id);
    if (r < 0)
        goto out;
    /* Children of the deleted snapshot now descend from its parent, and its
     * volume's next snapshot diffs against the parent. */
    r = catalog_snapshot_all(txn, &all, &n);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].parent_id, id) != 0)
            continue;
        snprintf(all[i].parent_id, sizeof all[i].parent_id, "%s", rec.parent_id);
        r = catalog_snapshot_save(txn, &all[i]);
        if (r < 0)
            goto out;
    }
    if (catalog_volume_load(txn, rec.volume_id, &vol) == 0 && strcmp(vol.last_snapshot, id) == 0) {
        snprintf(vol.last_snapshot, sizeof vol.last_snapshot, "%s", rec.parent_id);
        r = catalog_volume_save(txn, &vol);
        if (r < 0)
            goto out;
    }
    bsnap_error_clear(); /* a volume that is gone is not this call's failure */
    r = meta_txn_commit(steal_ptr(txn));
out:
    snapshot_recs_free(all, n);
    snapshot_rec_clear(&rec);
    volume_rec_clear(&vol);
    return r;
}

int bsnap_snapshot_delete(bsnap_store *s, const char *id)
{
    int r;

    bsnap_error_clear();
    r = check_snapshot_id(id);
    if (r < 0)
        return r;
    r = snapshot_delete_once(s, id);
    /* A full disk: the metadata needs a few pages to record what it frees
     * (see store.h). */
    if (r == -ENOSPC && store_reserve_release(s) == 0) {
        bsnap_error_clear();
        r = snapshot_delete_once(s, id);
    }
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
            return r;
    }
    r = page_begin(s, PAGE_VOLUMES, o, NULL, 0, &pg);
    if (r < 0)
        return r;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    if (nids == 0) {
        r = catalog_volume_all(txn, &recs, &n);
    } else {
        recs = calloc(nids, sizeof *recs);
        if (!recs)
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        n = nids;
        for (size_t i = 0; i < nids && r >= 0; i++)
            r = catalog_volume_load(txn, ids[i], &recs[i]);
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
        return r;
    r = json_describe_volume(s, &rec, ret_doc);
    volume_rec_clear(&rec);
    return r;
}

int bsnap_volume_delete(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec *all = NULL;
    struct volume_rec vol = {0};
    size_t n = 0;
    int r;

    bsnap_error_clear();
    r = check_volume_id(id);
    if (r < 0)
        return r;
    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        return r;
    r = catalog_volume_load(txn, id, &vol);
    if (r < 0)
        goto out;
    /* A snapshot being taken of it would record the volume again when it
     * completes: refuse, as EC2 refuses an attached volume. */
    r = catalog_snapshot_all(txn, &all, &n);
    for (size_t i = 0; r >= 0 && i < n; i++)
        if (all[i].state == BSNAP_SNAPSHOT_PENDING && strcmp(all[i].volume_id, id) == 0)
            r = bsnap_fail(-EBUSY, "VolumeInUse",
                           "the volume '%s' is in use: snapshot %s of it is being taken", id,
                           all[i].id);
    if (r < 0)
        goto out;
    /* Its snapshots keep their VolumeId, as EC2's do; the file stays. */
    r = catalog_volume_delete(txn, id, vol.path);
    if (r == 0)
        r = meta_txn_commit(steal_ptr(txn));
out:
    snapshot_recs_free(all, n);
    volume_rec_clear(&vol);
    return r;
}

/* ---- public: tags ---- */

static int check_tags(const bsnap_tag *tags, size_t ntags, bool need_value)
{
    if (ntags > TAGS_MAX)
        return bsnap_fail(-EINVAL, "TagLimitExceeded", "at most %d tags per resource", TAGS_MAX);
    for (size_t i = 0; i < ntags; i++) {
        long klen = tags[i].key ? utf8_length(tags[i].key, strlen(tags[i].key)) : -1;
        if (!tags[i].key || klen < 0)
            return bsnap_fail(-EINVAL, "InvalidParameterValue",
                              tags[i].key ? "tag key is not valid UTF-8" : "tag key missing");
        if (klen < 1 || klen > TAG_KEY_MAX)
            return bsnap_fail(-EINVAL, "InvalidParameterValue",
                              "tag key must be 1 to %d characters", TAG_KEY_MAX);
        if (strncmp(tags[i].key, "aws:", 4) == 0)
            return bsnap_fail(-EINVAL, "InvalidParameterValue",
                              "tag key '%s': keys starting with 'aws:' are reserved", tags[i].key);
        if (tags[i].value) {
            long vlen = utf8_length(tags[i].value, strlen(tags[i].value));
            if (vlen < 0)
                return bsnap_fail(-EINVAL, "InvalidParameterValue",
                                  "tag '%s': value is not valid UTF-8", tags[i].key);
            if (vlen > TAG_VALUE_MAX)
                return bsnap_fail(-EINVAL, "InvalidParameterValue",
                                  "tag '%s': value longer than %d characters", tags[i].key,
                                  TAG_VALUE_MAX);
        }
        if (need_value && !tags[i].value)
            return bsnap_fail(-EINVAL, "InvalidParameterValue", "tag '%s' has no value",
                              tags[i].key);
    }
    return 0;
}

static int tag_resources(bsnap_store *s, const char *const *res, size_t nres, const bsnap_tag *tags,
                         size_t ntags, bool add)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r;

    bsnap_error_clear();
    if (nres == 0)
        return bsnap_fail(-EINVAL, "MissingParameter", "no resources given");
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
            return r;
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
            r = image_tags_update(txn, res[i], tags, ntags, add);
            if (r < 0)
                return r;
            continue;
        }
        r = snap ? catalog_snapshot_load(txn, res[i], &sr) : catalog_volume_load(txn, res[i], &vr);
        if (r < 0)
            return r;
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
        return bsnap_fail(-EINVAL, "MissingParameter", "no tags given");
    }
    return tag_resources(s, resources, nresources, tags, ntags, true);
}

int bsnap_tags_delete(bsnap_store *s, const char *const *resources, size_t nresources,
                      const bsnap_tag *tags, size_t ntags)
{
    return tag_resources(s, resources, nresources, tags, ntags, false);
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
             r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen))
            *(t == T_SNAPSHOTS ? &info.snapshot_count : &info.volume_count) += 1;
        meta_cursor_close(cur);
        if (r != -ENOENT)
            return r;
    }
    *ret_info = info;
    return 0;
}
