/* index.c - chunk index entries and refcounts; see index.h. */
#include "index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fault.h"
#include "store-handle.h"
#include "util.h"

void index_entry_encode(const struct chunk_entry *e, uint8_t out[INDEX_ENTRY_BYTES])
{
    le32_put(out, e->loc.pack);
    le32_put(out + 4, e->loc.flags);
    le64_put(out + 8, e->loc.offset);
    le32_put(out + 16, e->loc.stored_len);
    le32_put(out + 20, e->loc.orig_len);
    le64_put(out + 24, e->refcount);
}

int index_entry_decode(const void *in, size_t len, struct chunk_entry *ret)
{
    const uint8_t *p = in;

    if (len != INDEX_ENTRY_BYTES)
        return -EIO;
    ret->loc.pack = le32_get(p);
    ret->loc.flags = le32_get(p + 4);
    ret->loc.offset = le64_get(p + 8);
    ret->loc.stored_len = le32_get(p + 16);
    ret->loc.orig_len = le32_get(p + 20);
    ret->refcount = le64_get(p + 24);
    return 0;
}

int index_get(meta_txn *txn, const chunk_id *id, struct chunk_entry *ret)
{
    const void *v;
    size_t vlen;
    int r = meta_get(txn, T_CHUNKS, id->b, 16, &v, &vlen);

    if (r < 0)
        return r;
    if (index_entry_decode(v, vlen, ret) < 0) {
        char hex[33];
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt", "chunk %s: malformed index entry", hex);
    }
    return 0;
}

int index_put(meta_txn *txn, const chunk_id *id, const struct chunk_entry *e)
{
    uint8_t buf[INDEX_ENTRY_BYTES];

    index_entry_encode(e, buf);
    return meta_put(txn, T_CHUNKS, id->b, 16, buf, sizeof buf);
}

int index_foreach(meta_txn *txn, index_visit_func fn, void *ud)
{
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r = meta_cursor_open(txn, T_CHUNKS, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        struct chunk_entry e;
        chunk_id id = {{0}};
        bool ok = klen == 16 && index_entry_decode(v, vlen, &e) == 0;

        memcpy(id.b, k, MIN(klen, sizeof id.b));
        r = fn(ud, &id, ok ? &e : NULL);
        if (r < 0)
            break;
    }
    meta_cursor_close(cur);
    return r == -ENOENT ? 0 : r;
}

int index_lookup(bsnap_store *s, const chunk_id *id, struct chunk_entry *ret)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r = meta_txn_begin(s->meta, false, &txn);

    if (r < 0)
        return r;
    return index_get(txn, id, ret);
}

static int missing(const chunk_id *id, const char *why)
{
    char hex[33];

    chunk_id_hex(id, hex);
    return bsnap_fail(-EIO, "Store.Corrupt", "chunk %s: %s", hex, why);
}

/* Apply @delta (+1 or -1) to every non-zero child of page @id, whose entry
 * is @e.  The page is read from its pack, not through the block map's page
 * cache: the block map sits above the index (it finds pages through it),
 * and a page is read here only when it dies or comes back. */
static int children_apply(bsnap_store *s, meta_txn *txn, const chunk_id *id,
                          const struct chunk_entry *e, int delta)
{
    _cleanup_free_ chunk_id *page = NULL;
    char hex[33];
    int r;

    if (e->loc.orig_len != BM_PAGE_BYTES) {
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt", "page %s (pack %u offset %llu): not a page", hex,
                          e->loc.pack, (unsigned long long)e->loc.offset);
    }
    page = alloc_aligned(BM_PAGE_BYTES);
    if (!page)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = pack_read_chunk(s, id, &e->loc, page);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < BM_FANOUT; i++) {
        if (chunk_id_is_zero(&page[i]))
            continue;
        r = delta > 0 ? index_incref(s, txn, &page[i]) : index_decref(s, txn, &page[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

int index_incref(bsnap_store *s, meta_txn *txn, const chunk_id *id)
{
    struct chunk_entry e;
    bool revive;
    int r = index_get(txn, id, &e);

    if (r == -ENOENT)
        return missing(id, "named by a page but not in the index");
    if (r < 0)
        return r;
    revive = e.refcount == 0 && (e.loc.flags & CHUNK_DEAD);
    e.refcount++;
    e.loc.flags &= ~CHUNK_DEAD;
    r = index_put(txn, id, &e);
    if (r < 0)
        return r;
    /* A DEAD page released its children when it died; take them back.  (A
     * missing page never held them.) */
    if (revive && (e.loc.flags & CHUNK_PAGE) && !(e.loc.flags & CHUNK_MISSING))
        return children_apply(s, txn, id, &e, +1);
    return 0;
}

static inline uint64_t be64_at(const uint8_t *p)
{
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | p[7];
}

/* memcmp() order of two ids (the index's key order), as two big-endian
 * words: a call of memcmp() per comparison was half the time of the sort. */
static int id_cmp(const void *a, const void *b)
{
    const uint8_t *x = a, *y = b;
    uint64_t u = be64_at(x), v = be64_at(y);

    if (u == v) {
        u = be64_at(x + 8);
        v = be64_at(y + 8);
    }
    return (u > v) - (u < v);
}

int index_incref_many(bsnap_store *s, meta_txn *txn, chunk_id *ids, size_t n)
{
    meta_cursor *cur = NULL;
    int r = 0;

    if (n == 0)
        return 0; /* @ids may be NULL */
    qsort(ids, n, sizeof *ids, id_cmp);
    for (size_t i = 0; i < n && r == 0; i++) {
        const void *k = ids[i].b, *v;
        size_t klen = sizeof ids[i].b, vlen;
        uint8_t buf[INDEX_ENTRY_BYTES];
        struct chunk_entry e;
        bool revive;

        if (!cur && (r = meta_cursor_open(txn, T_CHUNKS, &cur)) < 0)
            break;
        r = meta_cursor_get(cur, CUR_SET, &k, &klen, &v, &vlen);
        if (r == -ENOENT)
            r = missing(&ids[i], "named by a page but not in the index");
        if (r < 0)
            break;
        if (index_entry_decode(v, vlen, &e) < 0) {
            char hex[33];
            chunk_id_hex(&ids[i], hex);
            r = bsnap_fail(-EIO, "Store.Corrupt", "chunk %s: malformed index entry", hex);
            break;
        }
        revive = e.refcount == 0 && (e.loc.flags & CHUNK_DEAD);
        e.refcount++;
        e.loc.flags &= ~CHUNK_DEAD;
        index_entry_encode(&e, buf);
        r = meta_cursor_put(cur, ids[i].b, sizeof ids[i].b, buf, sizeof buf);
        /* As index_incref(): a DEAD page takes its children back.  They
         * change the table elsewhere: the cursor starts afresh after. */
        if (r == 0 && revive && (e.loc.flags & CHUNK_PAGE) && !(e.loc.flags & CHUNK_MISSING)) {
            meta_cursor_close(cur);
            cur = NULL;
            r = children_apply(s, txn, &ids[i], &e, +1);
        }
    }
    meta_cursor_close(cur);
    return r;
}

int index_decref(bsnap_store *s, meta_txn *txn, const chunk_id *id)
{
    struct chunk_entry e;
    int r = index_get(txn, id, &e);

    if (r == -ENOENT)
        return missing(id, "released but not in the index");
    if (r < 0)
        return r;
    if (e.refcount == 0)
        return missing(id, "refcount would fall below zero");
    if (fault_hit("index-decref"))
        return bsnap_fail(-EIO, "Store.Error", "index: release: injected failure");
    e.refcount--;
    if (e.refcount == 0)
        e.loc.flags |= CHUNK_DEAD;
    r = index_put(txn, id, &e);
    if (r < 0)
        return r;
    if (e.refcount == 0 && (e.loc.flags & CHUNK_PAGE) && !(e.loc.flags & CHUNK_MISSING))
        return children_apply(s, txn, id, &e, -1);
    return 0;
}

int index_release_orphan(bsnap_store *s, meta_txn *txn, const chunk_id *id)
{
    struct chunk_entry e = {0}; /* gcc -O3 cannot see index_get fill it */
    int r = index_get(txn, id, &e);

    if (r < 0)
        return r == -ENOENT ? missing(id, "orphan vanished") : r;
    if (e.refcount != 0 || (e.loc.flags & CHUNK_DEAD))
        return 0;
    e.loc.flags |= CHUNK_DEAD;
    r = index_put(txn, id, &e);
    if (r < 0)
        return r;
    if ((e.loc.flags & CHUNK_PAGE) && !(e.loc.flags & CHUNK_MISSING))
        return children_apply(s, txn, id, &e, -1);
    return 0;
}
