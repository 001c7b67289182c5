/* lineage.c - data keys of encrypted volume lineages; see lineage.h. */
#include "lineage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "error.h"
#include "keys.h"
#include "meta.h"
#include "store-handle.h"
#include "util.h"

_Static_assert(SNAP_WRAPPED_BYTES == KEYS_WRAPPED_BYTES, "a record holds one wrapped key");
_Static_assert(KEYS_DATA_KEY_BYTES == CRYPT_KEY_BYTES, "a data key is an AES-256 key");

/* "l" + slot (big-endian, so the records sort by slot) in table keys. */
#define LKEY_BYTES 9

static void lineage_key(uint64_t slot, uint8_t out[LKEY_BYTES])
{
    out[0] = 'l';
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(slot >> (56 - 8 * i));
}

int snapshot_encryption(const struct snapshot_rec *r, bool *ret_enc, const char **ret_key_arn)
{
    *ret_enc = r->encrypted;
    if (ret_key_arn)
        *ret_key_arn = r->encrypted ? r->kms_key_id : NULL;
    return 0;
}

int lineage_inherit(struct snapshot_rec *child, const struct snapshot_rec *parent)
{
    char *arn;

    if (!parent->encrypted)
        return 0;
    arn = strdup(parent->kms_key_id ? parent->kms_key_id : "");
    if (!arn)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    free(child->kms_key_id);
    child->kms_key_id = arn;
    child->encrypted = true;
    memcpy(child->data_key, parent->data_key, sizeof child->data_key);
    child->key_slot = parent->key_slot;
    return 0;
}

int lineage_new(bsnap_store *s, const char *key_ref, struct snapshot_rec *rec,
                const struct crypt_key **ret_key)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    uint8_t wrapped[KEYS_WRAPPED_BYTES], plain[KEYS_DATA_KEY_BYTES], lkey[LKEY_BYTES];
    char arn[KEYS_ARN_MAX];
    const struct crypt_key *k;
    uint64_t slot = 0;
    char *dup;
    int r;

    r = keys_data_key_new(s, key_ref, LINEAGE_PURPOSE, wrapped, plain, arn);
    if (r < 0)
        return r;
    /* A random slot: lineages of stores that copy between each other
     * never need to agree on numbers. */
    while (slot == 0)
        if ((r = random_bytes(&slot, sizeof slot)) < 0) {
            keys_wipe(plain, sizeof plain);
            return bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        }
    r = crypt_ring_add(s, slot, plain, &k);
    keys_wipe(plain, sizeof plain);
    if (r < 0)
        return r;
    /* Recorded before any record sealed with it is written: a crash
     * leaves orphans gc can still open. */
    lineage_key(slot, lkey);
    if ((r = meta_txn_begin(s->meta, true, &txn)) < 0 ||
        (r = meta_put(txn, T_KEYS, lkey, sizeof lkey, wrapped, sizeof wrapped)) < 0 ||
        (r = meta_txn_commit(steal_ptr(txn))) < 0)
        return r;
    dup = strdup(arn);
    if (!dup) {
        lineage_forget(s, slot);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    free(rec->kms_key_id);
    rec->kms_key_id = dup;
    rec->encrypted = true;
    memcpy(rec->data_key, wrapped, sizeof rec->data_key);
    rec->key_slot = slot;
    if (ret_key)
        *ret_key = k;
    return 0;
}

static int open_wrapped(bsnap_store *s, uint64_t slot, const uint8_t wrapped[KEYS_WRAPPED_BYTES],
                        unsigned flags, const struct crypt_key **ret_key)
{
    uint8_t plain[KEYS_DATA_KEY_BYTES];
    const struct crypt_key *k = crypt_ring_find(s, slot);
    int r;

    if (k) {
        *ret_key = k;
        return 0;
    }
    r = keys_data_key_open_flags(s, wrapped, LINEAGE_PURPOSE, flags, plain);
    if (r < 0)
        return r;
    r = crypt_ring_add(s, slot, plain, ret_key);
    keys_wipe(plain, sizeof plain);
    return r;
}

int lineage_open(bsnap_store *s, const struct snapshot_rec *rec, const struct crypt_key **ret_key)
{
    return lineage_open_flags(s, rec, 0, ret_key);
}

int lineage_open_flags(bsnap_store *s, const struct snapshot_rec *rec, unsigned flags,
                       const struct crypt_key **ret_key)
{
    const struct crypt_key *k = NULL;
    int r;

    if (rec->encrypted) {
        r = open_wrapped(s, rec->key_slot, rec->data_key, flags, &k);
        if (r < 0)
            return bsnap_fail_prefix("snapshot %s", rec->id);
    }
    if (ret_key)
        *ret_key = k;
    return 0;
}

int lineage_to_volume(struct volume_rec *vol, const struct snapshot_rec *from)
{
    char *arn;

    if (!from->encrypted)
        return 0;
    arn = strdup(from->kms_key_id ? from->kms_key_id : "");
    if (!arn)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    free(vol->kms_key_id);
    vol->kms_key_id = arn;
    vol->encrypted = true;
    memcpy(vol->data_key, from->data_key, sizeof vol->data_key);
    vol->key_slot = from->key_slot;
    return 0;
}

int lineage_from_volume(struct snapshot_rec *rec, const struct volume_rec *vol)
{
    char *arn;

    if (!vol->encrypted)
        return 0;
    arn = strdup(vol->kms_key_id ? vol->kms_key_id : "");
    if (!arn)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    free(rec->kms_key_id);
    rec->kms_key_id = arn;
    rec->encrypted = true;
    memcpy(rec->data_key, vol->data_key, sizeof rec->data_key);
    rec->key_slot = vol->key_slot;
    return 0;
}

int lineage_open_volume(bsnap_store *s, const struct volume_rec *vol,
                        const struct crypt_key **ret_key)
{
    const struct crypt_key *k = NULL;

    if (vol->encrypted && open_wrapped(s, vol->key_slot, vol->data_key, 0, &k) < 0)
        return bsnap_fail_prefix("volume %s", vol->id);
    *ret_key = k;
    return 0;
}

struct wrapped_list {
    uint64_t *slots;
    uint8_t (*keys)[KEYS_WRAPPED_BYTES];
    size_t n, cap;
};

static int collect(bsnap_store *s, struct wrapped_list *l)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    uint8_t start = 'l';
    int r;

    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    if ((r = meta_cursor_open(txn, T_KEYS, &cur)) < 0)
        return r;
    k = &start;
    klen = 1;
    for (r = meta_cursor_get(cur, CUR_SET_RANGE, &k, &klen, &v, &vlen);
         r == 0 && klen == LKEY_BYTES && ((const uint8_t *)k)[0] == 'l';
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        uint64_t slot = 0;
        if (vlen != KEYS_WRAPPED_BYTES)
            continue; /* not ours to judge here: opening it fails */
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 16;
            uint64_t *ns = realloc(l->slots, cap * sizeof *ns);
            uint8_t(*nk)[KEYS_WRAPPED_BYTES] = ns ? realloc(l->keys, cap * sizeof *nk) : NULL;
            if (ns)
                l->slots = ns;
            if (!nk) {
                meta_cursor_close(cur);
                return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            }
            l->keys = nk;
            l->cap = cap;
        }
        for (int i = 0; i < 8; i++)
            slot = slot << 8 | ((const uint8_t *)k)[1 + i];
        l->slots[l->n] = slot;
        memcpy(l->keys[l->n++], v, KEYS_WRAPPED_BYTES);
    }
    meta_cursor_close(cur);
    return r == -ENOENT || r == 0 ? 0 : r;
}

int lineage_open_all(bsnap_store *s, size_t *ret_closed)
{
    struct wrapped_list l = {0};
    size_t closed = 0;
    int r = collect(s, &l);

    for (size_t i = 0; r >= 0 && i < l.n; i++) {
        const struct crypt_key *k;
        int q = open_wrapped(s, l.slots[i], l.keys[i], KEYS_OPEN_STORE, &k);
        if (q == -ENOMEM)
            r = q;
        else if (q < 0) {
            bsnap_debug("keys", "data key %016llx: not opened: %s", (unsigned long long)l.slots[i],
                        bsnap_last_error()->message);
            closed++;
        }
    }
    if (l.keys)
        keys_wipe(l.keys, l.n * sizeof *l.keys);
    free(l.keys);
    free(l.slots);
    if (r >= 0) {
        bsnap_error_clear();
        if (ret_closed)
            *ret_closed = closed;
    }
    return r < 0 ? r : 0;
}

void lineage_forget(bsnap_store *s, uint64_t slot)
{
    meta_txn *txn;
    uint8_t lkey[LKEY_BYTES];
    error_saved saved;

    error_save(&saved);
    lineage_key(slot, lkey);
    if (meta_txn_begin(s->meta, true, &txn) == 0) {
        if (meta_del(txn, T_KEYS, lkey, sizeof lkey) == 0)
            (void)meta_txn_commit(txn);
        else
            meta_txn_abort(txn);
    }
    error_restore(&saved);
}

int lineage_open_snapshots(bsnap_store *s)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec *recs = NULL;
    struct wrapped_list l = {0};
    size_t n = 0;
    int r;

    /* Every lineage is recorded before anything is sealed with it: a
     * store without lineage records has nothing to open, and its
     * snapshot records (100,000 of them, say) need not be decoded. */
    r = collect(s, &l);
    if (l.keys)
        keys_wipe(l.keys, l.n * sizeof *l.keys);
    free(l.keys);
    free(l.slots);
    if (r < 0 || l.n == 0)
        return r;
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    r = catalog_snapshot_all(txn, &recs, &n);
    meta_txn_abort(steal_ptr(txn));
    for (size_t i = 0; r >= 0 && i < n; i++)
        if (recs[i].state == BSNAP_SNAPSHOT_COMPLETED)
            r = lineage_open_flags(s, &recs[i], KEYS_OPEN_STORE, NULL);
    snapshot_recs_free(recs, n);
    return r < 0 ? r : lineage_open_all(s, NULL);
}
