/* usage.c - what one snapshot holds and what deleting it would free.
 *
 * Two walks, both in one read transaction (a consistent view that never
 * blocks writers), reading pages from their packs as delete's cascade does:
 *
 *  - the whole tree, each distinct page and chunk once: what the snapshot
 *    references, uncompressed and as stored.  Costs a read of every page
 *    of its block map (about 64 KiB per 256 MiB of volume), which is why
 *    this is a call of its own and not part of describing snapshots.
 *
 *  - delete's cascade, simulated: the root loses the reference the snapshot
 *    holds; an entry whose refcount would fall to 0 is freed and, if it is
 *    a page, each entry it names loses one reference (once per naming
 *    entry, as refcounts count).  What the simulation frees is exactly what
 *    bsnap_snapshot_delete() followed by gc would free today.  Note that
 *    "chunks whose refcount is 1" is not that figure: a chunk named once,
 *    by a page that another snapshot shares, stays as long as the page.
 *    Costs O(what would be freed).
 *
 * A volume's usage (bsnap_volume_get_usage()) is the same two walks over
 * all its completed snapshots at once: one map of ids seen, so a chunk
 * its snapshots share counts once, and one cascade that drops every
 * snapshot's root, so what frees is what deleting them all would free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "catalog.h"
#include "error.h"
#include "idmap.h"
#include "index.h"
#include "pack.h"
#include "record.h"
#include "store.h"
#include "util.h"

struct usage_walk {
    bsnap_store *s;
    meta_txn *txn;
    struct idmap seen; /* whole tree: ids reached */
    struct idmap dec;  /* cascade: v[0] references dropped so far */
    chunk_id *stack;   /* cascade: freed pages whose children are still to drop */
    size_t nstack, capstack;
    bsnap_snapshot_usage u;
};

static int nomem(void)
{
    return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
}

static int entry_get(struct usage_walk *w, const chunk_id *id, struct chunk_entry *ret)
{
    char hex[33];
    int r = index_get(w->txn, id, ret);

    if (r == -ENOENT) {
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt", "chunk %s: named but not in the index", hex);
    }
    return r;
}

/* Read page @id (entry @e) into @page (BM_FANOUT ids). */
static int page_read(struct usage_walk *w, const chunk_id *id, const struct chunk_entry *e,
                     chunk_id *page)
{
    char hex[33];

    if (e->loc.orig_len != BM_PAGE_BYTES) {
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt", "page %s: not a page", hex);
    }
    return pack_read_chunk(w->s, id, &e->loc, page);
}

/* The whole tree below @id, each distinct id once. */
static int walk_tree(struct usage_walk *w, const chunk_id *id)
{
    _cleanup_free_ chunk_id *page = NULL;
    struct chunk_entry e;
    struct idmap_entry *m;
    int r;

    if (chunk_id_is_zero(id) || idmap_get(&w->seen, id->b))
        return 0;
    if (!(m = idmap_put(&w->seen, id->b)))
        return nomem();
    if ((r = entry_get(w, id, &e)) < 0)
        return r;
    if (e.loc.flags & CHUNK_MISSING) /* lost: nothing stored, nothing below */
        return 0;
    w->u.referenced_chunks++;
    w->u.referenced_bytes += e.loc.orig_len;
    w->u.referenced_stored_bytes += e.loc.stored_len;
    if (!(e.loc.flags & CHUNK_PAGE))
        return 0;
    if (!(page = alloc_aligned(BM_PAGE_BYTES)))
        return nomem();
    if ((r = page_read(w, id, &e, page)) < 0)
        return r;
    for (uint32_t i = 0; i < BM_FANOUT; i++)
        if ((r = walk_tree(w, &page[i])) < 0)
            return r;
    return 0;
}

/* Drop one reference to @id; if that frees it, count it and, for a page,
 * push it so that its children lose theirs. */
static int cascade_drop(struct usage_walk *w, const chunk_id *id)
{
    struct chunk_entry e;
    struct idmap_entry *m;
    int r;

    if (chunk_id_is_zero(id))
        return 0;
    if ((r = entry_get(w, id, &e)) < 0)
        return r;
    if (!(m = idmap_put(&w->dec, id->b)))
        return nomem();
    if (++m->v[0] < e.refcount)
        return 0;
    if (m->v[0] > e.refcount) {
        char hex[33];
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt", "chunk %s: more references than its refcount",
                          hex);
    }
    if (e.loc.flags & CHUNK_MISSING)
        return 0;
    w->u.exclusive_chunks++;
    w->u.exclusive_bytes += e.loc.orig_len;
    w->u.exclusive_stored_bytes += e.loc.stored_len;
    if (!(e.loc.flags & CHUNK_PAGE))
        return 0;
    if (w->nstack == w->capstack) {
        size_t cap = w->capstack ? 2 * w->capstack : 16;
        chunk_id *n = realloc(w->stack, cap * sizeof *n);
        if (!n)
            return nomem();
        w->stack = n;
        w->capstack = cap;
    }
    w->stack[w->nstack++] = *id;
    return 0;
}

static int cascade(struct usage_walk *w, const chunk_id *root)
{
    _cleanup_free_ chunk_id *page = alloc_aligned(BM_PAGE_BYTES);
    int r = cascade_drop(w, root);

    if (!page)
        return nomem();
    while (r >= 0 && w->nstack) {
        chunk_id id = w->stack[--w->nstack];
        struct chunk_entry e;
        if ((r = entry_get(w, &id, &e)) < 0 || (r = page_read(w, &id, &e, page)) < 0)
            break;
        for (uint32_t i = 0; r >= 0 && i < BM_FANOUT; i++)
            r = cascade_drop(w, &page[i]);
    }
    return r;
}

int bsnap_snapshot_get_usage(bsnap_store *s, const char *snapshot_id,
                             bsnap_snapshot_usage *ret_usage)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec rec = {0};
    struct usage_walk w = {.s = s};
    int r;

    bsnap_error_clear();
    if ((r = check_snapshot_id(snapshot_id)) < 0)
        return error_param(r, "SnapshotId");
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    if ((r = catalog_snapshot_load(txn, snapshot_id, &rec)) < 0 ||
        (r = owner_read_snapshot(s, &rec)) < 0)
        goto out;
    if (rec.state != BSNAP_SNAPSHOT_COMPLETED) {
        r = bsnap_fail(-EBUSY, "IncorrectState", "the snapshot '%s' is not completed", snapshot_id);
        goto out;
    }
    w.txn = txn;
    snprintf(w.u.snapshot_id, sizeof w.u.snapshot_id, "%s", rec.id);
    snprintf(w.u.volume_id, sizeof w.u.volume_id, "%s", rec.volume_id);
    w.u.volume_bytes = rec.size;
    {
        uint64_t d = rec.data_chunks * (uint64_t)(rec.chunk_size ? rec.chunk_size : s->chunk_size);
        w.u.data_bytes = d < rec.size ? d : rec.size;
    }
    if ((r = walk_tree(&w, &rec.root)) < 0 || (r = cascade(&w, &rec.root)) < 0)
        goto out;
    *ret_usage = w.u;
    r = 0;
out:
    idmap_free(&w.seen);
    idmap_free(&w.dec);
    free(w.stack);
    snapshot_rec_clear(&rec);
    return error_param(r, "SnapshotId");
}

int bsnap_volume_get_usage(bsnap_store *s, const char *volume_id, bsnap_volume_usage *ret_usage)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct volume_rec vol = {0};
    struct snapshot_rec *recs = NULL;
    struct usage_walk w = {.s = s};
    bsnap_volume_usage u = {0};
    size_t n = 0;
    int r;

    bsnap_error_clear();
    if ((r = check_volume_id(volume_id)) < 0)
        return error_param(r, "VolumeId");
    if ((r = meta_txn_begin(s->meta, false, &txn)) < 0)
        return r;
    if ((r = catalog_volume_load(txn, volume_id, &vol)) < 0 ||
        (r = owner_check_volume(s, &vol)) < 0)
        goto out;
    w.txn = txn;
    if ((r = catalog_snapshot_all(txn, &recs, &n)) < 0)
        goto out;
    snprintf(u.volume_id, sizeof u.volume_id, "%s", vol.id);
    /* its completed snapshots: a pending one names no tree yet */
    for (size_t i = 0; i < n; i++) {
        const struct snapshot_rec *rec = &recs[i];
        uint64_t d;
        if (strcmp(rec->volume_id, vol.id) != 0 || rec->state != BSNAP_SNAPSHOT_COMPLETED)
            continue;
        u.snapshots++;
        d = rec->data_chunks * (uint64_t)(rec->chunk_size ? rec->chunk_size : s->chunk_size);
        u.logical_bytes += d < rec->size ? d : rec->size;
        if ((r = walk_tree(&w, &rec->root)) < 0 || (r = cascade(&w, &rec->root)) < 0)
            goto out;
    }
    u.referenced_chunks = w.u.referenced_chunks;
    u.referenced_bytes = w.u.referenced_bytes;
    u.stored_bytes = w.u.referenced_stored_bytes;
    u.exclusive_chunks = w.u.exclusive_chunks;
    u.exclusive_bytes = w.u.exclusive_bytes;
    u.exclusive_stored_bytes = w.u.exclusive_stored_bytes;
    *ret_usage = u;
    r = 0;
out:
    idmap_free(&w.seen);
    idmap_free(&w.dec);
    free(w.stack);
    snapshot_recs_free(recs, n);
    volume_rec_clear(&vol);
    return error_param(r, "VolumeId");
}
