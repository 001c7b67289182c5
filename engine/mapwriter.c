/* mapwriter.c - the ordered writer of snapshot creation: new chunks to the
 * pack, leaf pages filled and stored, index entries committed in batches;
 * see pipeline-internal.h. */
#include "pipeline-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "index.h"
#include "store.h"
#include "util.h"

int mapwriter_commit(struct pipeline *p)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    _cleanup_free_ chunk_id *page = NULL;
    _cleanup_free_ chunk_id *kids = NULL;
    size_t nkids = 0, kids_cap = 0;
    int r;

    if (p->npend == 0 && p->nxpend == 0) {
        p->src_read_pend = 0;
        return 0;
    }
    /* Data before metadata: the records must be durable before an index
     * entry names them. */
    r = pack_writer_sync(p->pw);
    if (r < 0)
        return r;
    if (fault_hit("snapshot-batch"))
        return bsnap_fail(-EIO, "Store.Error", "snapshot batch: injected failure");
    r = meta_txn_begin(p->s->meta, true, &txn);
    if (r < 0)
        return r;
    for (size_t i = 0; i < p->npend; i++) {
        struct chunk_entry e = {.loc = p->pend[i].loc, .refcount = 0};
        struct chunk_entry old;

        r = index_get(txn, &p->pend[i].id, &old);
        if (r == 0 && !(old.loc.flags & CHUNK_MISSING))
            continue; /* another writer stored it meanwhile; ours is dead bytes */
        if (r == 0)
            e.refcount = old.refcount; /* a lost chunk stored again: the names stay */
        else if (r != -ENOENT)
            return r;
        r = index_put(txn, &p->pend[i].id, &e);
        if (r < 0)
            return r;
        if (e.loc.flags & CHUNK_PAGE) {
            /* A new page holds a reference on each child it names: taken
             * all at once below, in the index's key order. */
            if (!page && !(page = alloc_aligned(BM_PAGE_BYTES)))
                return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            r = bm_page_load(p->s, txn, &p->pend[i].id, page);
            if (r < 0)
                return r;
            for (uint32_t k = 0; k < BM_FANOUT; k++) {
                chunk_id *n;
                if (chunk_id_is_zero(&page[k]))
                    continue;
                n = array_grow(kids, nkids, &kids_cap, sizeof *kids, BM_FANOUT);
                if (!n)
                    return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
                kids = n;
                kids[nkids++] = page[k];
            }
        }
    }
    /* A copy's translations, with the entries they name (data first, so
     * a translation never names a chunk the index lacks). */
    for (size_t i = 0; i < p->nxpend; i++) {
        uint8_t key[XLATE_KEY_BYTES];
        xlate_key(p->src_uuid, &p->xpend[i].src, key);
        r = meta_put(txn, T_CHUNK_XLATE, key, sizeof key, p->xpend[i].dst.b, 16);
        if (r < 0)
            return r;
    }
    /* A page's children are named after the page's own entry went in, so
     * a page naming a page of the same batch finds it indexed. */
    r = index_incref_many(p->s, txn, kids, nkids);
    if (r < 0)
        return r;
    r = meta_txn_commit(steal_ptr(txn));
    if (r < 0)
        return r;
    pack_writer_mark(p->pw);
    p->npend = 0;
    p->nxpend = 0;
    p->src_read_pend = 0;
    p->pend_bytes = 0;
    memset(p->set.keys, 0, p->set.cap * sizeof *p->set.keys);
    p->set.n = 0;
    return 0;
}

static int add_pending(struct pipeline *p, const chunk_id *id, const struct chunk_loc *loc,
                       bool page)
{
    struct pending *n = array_grow(p->pend, p->npend, &p->pend_cap, sizeof *n, 1024);

    if (!n)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    p->pend = n;
    p->pend[p->npend++] = (struct pending){*id, *loc};
    idset_add(&p->set, id);
    p->pend_bytes += PACK_RECORD_HEADER_BYTES + loc->stored_len;
    if (page)
        p->stats.new_pages++;
    else
        p->stats.new_chunks++;
    p->stats.new_bytes += PACK_RECORD_HEADER_BYTES + loc->stored_len;
    return 0;
}

static int maybe_commit(struct pipeline *p)
{
    if (p->pend_bytes >= COMMIT_BYTES || p->npend >= COMMIT_ENTRIES ||
        p->nxpend >= COMMIT_ENTRIES || p->src_read_pend >= COMMIT_BYTES)
        return mapwriter_commit(p);
    return 0;
}

/* Store a page unless the store (or this batch) has it; return its id. */
int mapwriter_store_page(void *ud, const chunk_id *page, chunk_id *ret_id)
{
    struct pipeline *p = ud;
    struct chunk_entry e;
    struct chunk_loc loc;
    uint32_t flags = CHUNK_PAGE, n;
    int r;

    bm_page_id(p->s, p->key, page, ret_id);
    if (chunk_id_is_zero(ret_id) || idset_has(&p->set, ret_id))
        return 0;
    r = index_lookup(p->s, ret_id, &e);
    if (r == 0 && !(e.loc.flags & CHUNK_MISSING))
        return 0;
    if (r < 0 && r != -ENOENT)
        return r;
    r = chunk_store_encode(p, ret_id, page, BM_PAGE_BYTES, p->page_out, &n, &flags);
    if (r < 0)
        return r;
    r = pack_writer_append(p->pw, ret_id, flags, p->page_out, n, BM_PAGE_BYTES, &loc);
    if (r < 0)
        return r;
    r = add_pending(p, ret_id, &loc, true);
    if (r < 0)
        return r;
    return maybe_commit(p);
}

static int finish_leaf(struct pipeline *p)
{
    uint64_t l = (p->pos - 1) / BM_FANOUT;
    int r = 0;

    if (p->leaf_nonzero == 0)
        memset(&p->leaf_ids[l], 0, sizeof p->leaf_ids[l]);
    else
        r = mapwriter_store_page(p, p->leaf, &p->leaf_ids[l]);
    memset(p->leaf, 0, BM_PAGE_BYTES);
    p->leaf_nonzero = 0;
    return r;
}

static int push_id(struct pipeline *p, const chunk_id *id)
{
    p->leaf[p->pos % BM_FANOUT] = *id;
    if (!chunk_id_is_zero(id)) {
        p->leaf_nonzero++;
        p->data_chunks++;
    }
    p->pos++;
    if (p->pos % BM_FANOUT == 0 || p->pos == p->nchunks)
        return finish_leaf(p);
    return 0;
}

static int add_xlate(struct pipeline *p, const chunk_id *src, const chunk_id *dst)
{
    struct xlate *n = array_grow(p->xpend, p->nxpend, &p->xpend_cap, sizeof *n, 1024);

    if (!n)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    p->xpend = n;
    p->xpend[p->nxpend++] = (struct xlate){*src, *dst};
    return 0;
}

static int write_data(struct pipeline *p, struct item *it)
{
    size_t bound = item_out_bound(p);
    int r;

    for (uint64_t i = 0; i < it->count; i++) {
        chunk_id *id = &it->ids[i];

        if (p->src && it->xfresh[i] && it->state[i] != CS_ZERO) {
            r = add_xlate(p, &it->src_ids[i], id);
            if (r < 0)
                return r;
        }

        switch (it->state[i]) {
        case CS_ZERO:
            p->stats.zero_chunks++;
            break;
        case CS_SAME:
        case CS_EXISTS:
            p->stats.reused_chunks++;
            break;
        case CS_NEW:
            if (idset_has(&p->set, id)) {
                p->stats.reused_chunks++;
                break;
            }
            {
                struct chunk_loc loc;
                r = pack_writer_append(p->pw, id, it->out_flags[i], it->out + i * bound,
                                       it->out_len[i], p->cs, &loc);
                if (r < 0)
                    return r;
                r = add_pending(p, id, &loc, false);
                if (r < 0)
                    return r;
                r = maybe_commit(p);
                if (r < 0)
                    return r;
            }
            break;
        }
        r = push_id(p, id);
        if (r < 0)
            return r;
    }
    if (p->src) {
        p->src_read_pend += it->read_bytes;
        return maybe_commit(p);
    }
    return 0;
}

static int write_hole(struct pipeline *p, uint64_t count)
{
    static const chunk_id zero;
    int r;

    p->stats.zero_chunks += count;
    while (count > 0) {
        /* whole empty leaves cost nothing */
        if (p->pos % BM_FANOUT == 0 && p->leaf_nonzero == 0 && count >= BM_FANOUT &&
            p->pos + BM_FANOUT <= p->nchunks) {
            memset(&p->leaf_ids[p->pos / BM_FANOUT], 0, sizeof(chunk_id));
            p->pos += BM_FANOUT;
            count -= BM_FANOUT;
            continue;
        }
        r = push_id(p, &zero);
        if (r < 0)
            return r;
        count--;
    }
    return 0;
}

static int write_parent(struct pipeline *p, uint64_t count)
{
    _cleanup_free_ chunk_id *buf = NULL;
    uint64_t cached = UINT64_MAX;
    int r;

    while (count > 0) {
        uint64_t leaf = p->pos / BM_FANOUT;
        /* A whole leaf the parent has in full: name the parent's page. */
        if (p->pos % BM_FANOUT == 0 && count >= BM_FANOUT &&
            (leaf + 1) * BM_FANOUT <= p->parent.nchunks && (leaf + 1) * BM_FANOUT <= p->nchunks) {
            chunk_id id;
            r = bm_lookup(p->s, NULL, &p->parent, p->pos, 1, &id);
            if (r < 0)
                return r;
            p->leaf_ids[leaf] = id;
            if (chunk_id_is_zero(&id)) {
                p->stats.zero_chunks += BM_FANOUT;
            } else {
                uint32_t nonzero = 0;
                /* count the data chunks it holds for st_blocks */
                if (!buf && !(buf = alloc_aligned(BM_PAGE_BYTES)))
                    return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
                r = bm_page_load(p->s, NULL, &id, buf);
                if (r < 0)
                    return r;
                cached = UINT64_MAX;
                for (uint32_t i = 0; i < BM_FANOUT; i++)
                    nonzero += !chunk_id_is_zero(&buf[i]);
                /* the leaf's chunks, each counted once: its zeros are zero */
                p->data_chunks += nonzero;
                p->stats.reused_chunks += nonzero;
                p->stats.zero_chunks += BM_FANOUT - nonzero;
            }
            p->pos += BM_FANOUT;
            count -= BM_FANOUT;
            continue;
        }
        if (!buf && !(buf = alloc_aligned(BM_PAGE_BYTES)))
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        if (cached != leaf) {
            r = bm_load_leaf(p->s, NULL, &p->parent, leaf, buf);
            if (r < 0)
                return r;
            cached = leaf;
        }
        {
            chunk_id id = p->pos < p->parent.nchunks ? buf[p->pos % BM_FANOUT] : (chunk_id){0};
            if (chunk_id_is_zero(&id))
                p->stats.zero_chunks++;
            else
                p->stats.reused_chunks++;
            r = push_id(p, &id);
            if (r < 0)
                return r;
        }
        count--;
    }
    return 0;
}

static void report_progress(struct pipeline *p, bool final)
{
    struct timespec now;

    if (!p->run || !p->run->progress)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final && (now.tv_sec - p->last_progress.tv_sec) * 1000000000L +
                          (now.tv_nsec - p->last_progress.tv_nsec) <
                      100000000L)
        return;
    p->last_progress = now;
    p->run->progress(p->run->progress_ud, final ? p->size : MIN(p->pos * p->cs, p->size), p->size);
}

int mapwriter_run(struct pipeline *p)
{
    uint64_t next = 0;

    for (;;) {
        struct item *it = NULL, **pp;
        int r = 0;

        pthread_mutex_lock(&p->lock);
        for (;;) {
            if (p->stop)
                break;
            for (pp = &p->done; *pp; pp = &(*pp)->next) {
                if ((*pp)->seq == next) {
                    it = *pp;
                    *pp = it->next;
                    break;
                }
            }
            if (it)
                break;
            pthread_cond_wait(&p->cond, &p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        if (!it)
            return p->err ? p->err : -ECANCELED;
        if (fault_hit("snapshot-item") || pipeline_cancelled(p)) {
            item_put_free(p, it); /* the pool frees it with the others */
            return pipeline_fail(
                p, pipeline_cancelled(p)
                       ? bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted")
                       : bsnap_fail(-EIO, "Store.Error", "snapshot: injected failure"));
        }
        next++;
        switch (it->kind) {
        case IT_DATA:
            r = write_data(p, it);
            break;
        case IT_HOLE:
            r = write_hole(p, it->count);
            break;
        case IT_PARENT:
            r = write_parent(p, it->count);
            break;
        case IT_END:
            item_put_free(p, it);
            report_progress(p, true);
            return 0;
        }
        item_put_free(p, it);
        if (r < 0)
            return pipeline_fail(p, r);
        report_progress(p, false);
    }
}
