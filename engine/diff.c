/* diff.c - the chunks that differ between two snapshots of a volume
 * (bsnap_snapshot_diff, bsnap_snapshot_diff_json), from a walk of both
 * block maps that skips the pages they share. */
#include <errno.h>
#include <stdlib.h>

#include "blockmap.h"
#include "catalog.h"
#include "owner.h"
#include "error.h"
#include "lineage.h"
#include "record.h"
#include "reader.h"
#include "store.h"
#include "util.h"

struct diff_state {
    uint32_t cs;
    uint64_t limit;      /* bytes */
    uint64_t start, end; /* current run, in chunks; end == 0: none */
    bool have;
    bsnap_range_func fn;
    void *ud;
    /* json */
    struct changed_block *blocks;
    size_t n, cap;
};

static int diff_flush(struct diff_state *d)
{
    uint64_t off, end;

    if (!d->have)
        return 0;
    d->have = false;
    off = d->start * d->cs;
    end = MIN(d->end * d->cs, d->limit);
    if (end <= off)
        return 0;
    return d->fn(d->ud, off, end - off);
}

static int diff_range_cb(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b)
{
    struct diff_state *d = ud;

    (void)a;
    (void)b;
    if (d->have && idx == d->end) {
        d->end++;
        return 0;
    }
    int r = diff_flush(d);
    if (r < 0)
        return r;
    d->start = idx;
    d->end = idx + 1;
    d->have = true;
    return 0;
}

static int diff_json_cb(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b)
{
    struct diff_state *d = ud;

    struct changed_block *nb = array_grow(d->blocks, d->n, &d->cap, sizeof *nb, 256);

    if (!nb)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    d->blocks = nb;
    d->blocks[d->n].index = idx;
    d->blocks[d->n].first[0] = d->blocks[d->n].second[0] = '\0';
    if (!chunk_id_is_zero(a))
        chunk_id_hex(a, d->blocks[d->n].first);
    if (!chunk_id_is_zero(b))
        chunk_id_hex(b, d->blocks[d->n].second);
    d->n++;
    return 0;
}

static int load_completed(const bsnap_store *s, meta_txn *txn, const char *id,
                          struct snapshot_rec *rec)
{
    int r = check_snapshot_id(id);

    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, id, rec);
    if (r == 0)
        r = owner_read_snapshot(s, rec); /* a read: shared snapshots too */
    if (r < 0)
        return r;
    if (rec->state != BSNAP_SNAPSHOT_COMPLETED) {
        snapshot_rec_clear(rec);
        return bsnap_fail(-EBUSY, "IncorrectState", "the snapshot '%s' is not completed", id);
    }
    return 0;
}

static int diff_run(bsnap_store *s, const char *first, const char *second, bm_diff_func fn,
                    struct diff_state *d)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec a = {0}, b = {0};
    struct bm_tree ta, tb;
    int r;

    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    if (first) {
        r = load_completed(s, txn, first, &a);
        if (r < 0)
            return error_param(r, "FirstSnapshotId");
    }
    r = load_completed(s, txn, second, &b);
    if (r < 0) {
        error_param(r, "SecondSnapshotId");
        goto out;
    }
    meta_txn_abort(steal_ptr(txn));
    /* A store's chunk size never changes: a record with another one is
     * damaged (see reader_from_rec()). */
    if ((first && a.chunk_size != s->chunk_size) || b.chunk_size != s->chunk_size) {
        const struct snapshot_rec *bad = b.chunk_size != s->chunk_size ? &b : &a;
        r = bsnap_fail(-EIO, "Store.Corrupt",
                       "snapshot %s: chunk size %u in its record, the store's is %u", bad->id,
                       bad->chunk_size, s->chunk_size);
        goto out;
    }
    if ((first && (r = lineage_open(s, &a, NULL)) < 0) || (r = lineage_open(s, &b, NULL)) < 0)
        goto out;
    snapshot_tree(&a, &ta);
    snapshot_tree(&b, &tb);
    d->cs = b.chunk_size;
    d->limit = MAX(a.size, b.size);
    r = bm_diff(s, first ? &ta : NULL, &tb, fn, d);
out:
    snapshot_rec_clear(&a);
    snapshot_rec_clear(&b);
    return r;
}

int bsnap_snapshot_diff(bsnap_store *s, const char *first, const char *second, bsnap_range_func fn,
                        void *ud)
{
    struct diff_state d = {.fn = fn, .ud = ud};
    int r;

    bsnap_error_clear();
    r = diff_run(s, first, second, diff_range_cb, &d);
    if (r < 0)
        return r;
    return diff_flush(&d);
}

int bsnap_snapshot_diff_json(bsnap_store *s, const char *first, const char *second,
                             json_t **ret_doc)
{
    struct diff_state d = {0};
    int r;

    bsnap_error_clear();
    r = diff_run(s, first, second, diff_json_cb, &d);
    if (r == 0)
        r = json_changed_blocks(d.blocks, d.n, d.limit, d.cs, ret_doc);
    free(d.blocks);
    return r;
}
