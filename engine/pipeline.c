/* pipeline.c - reader thread, workers and items of snapshot creation;
 * see pipeline.h and pipeline-internal.h. */
#include "pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index.h"
#include "pipeline-internal.h"
#include "reader.h"
#include "source.h"
#include "store.h"
#include "util.h"

int pipeline_fail(struct pipeline *p, int err)
{
    pthread_mutex_lock(&p->lock);
    if (!p->err) {
        p->err = err;
        error_save(&p->err_saved);
    }
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return err;
}

bool pipeline_cancelled(const struct pipeline *p)
{
    return p->run && p->run->cancel && *p->run->cancel;
}

static uint64_t idset_hash(const chunk_id *id)
{
    return le64_get(id->b);
}

bool idset_has(const struct idset *s, const chunk_id *id)
{
    for (size_t i = idset_hash(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (chunk_id_is_zero(&s->keys[i]))
            return false;
        if (chunk_id_eq(&s->keys[i], id))
            return true;
    }
}

void idset_add(struct idset *s, const chunk_id *id)
{
    for (size_t i = idset_hash(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (chunk_id_is_zero(&s->keys[i])) {
            s->keys[i] = *id;
            s->n++;
            return;
        }
        if (chunk_id_eq(&s->keys[i], id))
            return;
    }
}

/* ---- items ---- */

static void item_free(struct item *it)
{
    if (!it)
        return;
    free(it->ids);
    free(it->parent_ids);
    free(it->src_ids);
    free(it->xfresh);
    free(it->state);
    free(it->out);
    free(it->out_len);
    free(it->out_flags);
    free(it);
}

static struct item *item_new(const struct pipeline *p)
{
    struct item *it = calloc(1, sizeof *it);
    size_t n = p->batch_chunks, bound = item_out_bound(p);

    if (!it)
        return NULL;
    it->ids = malloc(n * sizeof *it->ids);
    it->parent_ids = malloc(n * sizeof *it->parent_ids);
    it->src_ids = malloc(n * sizeof *it->src_ids);
    it->xfresh = malloc(n);
    it->state = malloc(n);
    it->out = malloc(n * bound);
    it->out_len = malloc(n * sizeof *it->out_len);
    it->out_flags = malloc(n * sizeof *it->out_flags);
    if (!it->ids || !it->parent_ids || !it->src_ids || !it->xfresh || !it->state || !it->out ||
        !it->out_len || !it->out_flags) {
        item_free(it);
        return NULL;
    }
    return it;
}

/* Reader side: get a free item, waiting while the window is full. */
static struct item *item_get(struct pipeline *p)
{
    struct item *it;

    pthread_mutex_lock(&p->lock);
    while (!p->stop && !p->free_items)
        pthread_cond_wait(&p->cond, &p->lock);
    it = p->stop ? NULL : p->free_items;
    if (it)
        p->free_items = it->next;
    pthread_mutex_unlock(&p->lock);
    return it;
}

void item_put_free(struct pipeline *p, struct item *it)
{
    pthread_mutex_lock(&p->lock);
    it->next = p->free_items;
    p->free_items = it;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Queue @it for the workers (DATA) or straight to the writer (others). */
static void item_submit(struct pipeline *p, struct item *it)
{
    pthread_mutex_lock(&p->lock);
    it->seq = p->next_seq_read++;
    it->next = NULL;
    if (it->kind == IT_DATA) {
        if (p->todo_tail)
            p->todo_tail->next = it;
        else
            p->todo = it;
        p->todo_tail = it;
    } else {
        it->next = p->done;
        p->done = it;
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* ---- reader thread ---- */

void xlate_key(const uint8_t uuid[16], const chunk_id *id, uint8_t out[XLATE_KEY_BYTES])
{
    memcpy(out, uuid, 16);
    memcpy(out + 16, id->b, 16);
}

/* A copy: fill the source's ids of the chunks of @it, one leaf at a time.
 * The leaf last loaded stays for the next item: items are small next to a
 * leaf, and a copy of a few changed chunks is mostly items. */
static int attach_source(struct pipeline *p, struct item *it)
{
    if (!p->src)
        return 0;
    if (!p->src_leaf) {
        if (!(p->src_leaf = alloc_aligned(BM_PAGE_BYTES)))
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        p->src_leaf_idx = UINT64_MAX;
    }
    for (uint64_t i = 0; i < it->count; i++) {
        uint64_t idx = it->first + i, leaf = idx / BM_FANOUT;
        if (leaf != p->src_leaf_idx) {
            p->src_leaf_idx = UINT64_MAX;
            int r = bm_load_leaf(p->src->s, NULL, &p->src->tree, leaf, p->src_leaf);
            if (r < 0)
                return r;
            p->src_leaf_idx = leaf;
        }
        it->src_ids[i] = p->src_leaf[idx % BM_FANOUT];
    }
    return 0;
}

/* Fill the parent ids of the chunks of @it (scan mode), one leaf at a time. */
static int attach_parent(struct pipeline *p, struct item *it, uint64_t *cached_leaf,
                         chunk_id *leaf_buf)
{
    int rs = attach_source(p, it);

    if (rs < 0)
        return rs;
    it->have_parent = p->have_parent;
    if (!p->have_parent)
        return 0;
    for (uint64_t i = 0; i < it->count; i++) {
        uint64_t idx = it->first + i, leaf = idx / BM_FANOUT;
        if (leaf != *cached_leaf) {
            int r = bm_load_leaf(p->s, NULL, &p->parent, leaf, leaf_buf);
            if (r < 0)
                return r;
            *cached_leaf = leaf;
        }
        it->parent_ids[i] = leaf_buf[idx % BM_FANOUT];
    }
    return 0;
}

/* Queue the data chunks [first, first + count) in items of up to
 * batch_chunks.  The reader only finds the data and attaches the parent's
 * ids; each worker reads its own item, a piece at a time (see work_item). */
static int emit_data(struct pipeline *p, uint64_t first, uint64_t count, uint64_t *cached_leaf,
                     chunk_id *leaf_buf)
{
    while (count > 0) {
        struct item *it = item_get(p);
        uint64_t n = MIN(count, (uint64_t)p->batch_chunks);
        int r;

        if (!it)
            return -ECANCELED;
        if (pipeline_cancelled(p)) {
            item_put_free(p, it);
            return bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted");
        }
        it->kind = IT_DATA;
        it->first = first;
        it->count = n;
        it->read_bytes = 0;
        r = attach_parent(p, it, cached_leaf, leaf_buf);
        if (r < 0) {
            item_put_free(p, it);
            return r;
        }
        item_submit(p, it);
        first += n;
        count -= n;
    }
    return 0;
}

static int emit_simple(struct pipeline *p, enum item_kind kind, uint64_t first, uint64_t count)
{
    struct item *it;

    if (count == 0 && kind != IT_END)
        return 0;
    it = item_get(p);
    if (!it)
        return -ECANCELED;
    it->kind = kind;
    it->first = first;
    it->count = count;
    item_submit(p, it);
    return 0;
}

static int read_scan(struct pipeline *p, uint64_t *cached_leaf, chunk_id *leaf_buf)
{
    uint64_t pos = 0;
    int r;

    while (pos < p->nchunks) {
        uint64_t off = pos * p->cs, data_end;

        if (pipeline_cancelled(p))
            return bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted");
        if (p->src) {
            /* a copy: the source's block map says where the data is */
            uint64_t d, h;
            r = bm_next(p->src->s, &p->src->tree, pos, true, &d);
            if (r == -ENXIO)
                return emit_simple(p, IT_HOLE, pos, p->nchunks - pos);
            if (r < 0)
                return r;
            r = emit_simple(p, IT_HOLE, pos, d - pos);
            if (r < 0)
                return r;
            r = bm_next(p->src->s, &p->src->tree, d, false, &h);
            if (r == -ENXIO)
                h = p->nchunks;
            else if (r < 0)
                return r;
            r = emit_data(p, d, h - d, cached_leaf, leaf_buf);
            if (r < 0)
                return r;
            pos = h;
            continue;
        }
        if (p->sparse_ok) {
            uint64_t d, h;
            r = p->vol->ops->seek(p->vol, off, true, &d);
            if (r == -ENXIO) {
                d = p->size; /* no data after off */
            } else if (r < 0) {
                p->sparse_ok = false; /* not supported here: all data */
                continue;
            }
            if (d >= p->size)
                return emit_simple(p, IT_HOLE, pos, p->nchunks - pos);
            if (d / p->cs > pos) {
                uint64_t n = d / p->cs - pos;
                r = emit_simple(p, IT_HOLE, pos, n);
                if (r < 0)
                    return r;
                pos += n;
                continue;
            }
            if (p->vol->ops->seek(p->vol, d, false, &h) < 0)
                h = p->size;
            data_end = MIN(p->nchunks, DIV_ROUND_UP(h, p->cs));
        } else {
            data_end = p->nchunks;
        }
        if (data_end <= pos)
            data_end = pos + 1;
        r = emit_data(p, pos, data_end - pos, cached_leaf, leaf_buf);
        if (r < 0)
            return r;
        pos = data_end;
    }
    return 0;
}

static int read_changed(struct pipeline *p, uint64_t *cached_leaf, chunk_id *leaf_buf)
{
    uint64_t pos = 0;
    int r;

    for (size_t i = 0; i < p->nruns && pos < p->nchunks; i++) {
        uint64_t a = MAX(p->runs[i].offset, pos),
                 b = MIN(p->runs[i].offset + p->runs[i].length, p->nchunks);
        if (a >= b)
            continue;
        r = emit_simple(p, IT_PARENT, pos, a - pos);
        if (r < 0)
            return r;
        r = emit_data(p, a, b - a, cached_leaf, leaf_buf);
        if (r < 0)
            return r;
        pos = b;
    }
    return emit_simple(p, IT_PARENT, pos, p->nchunks - pos);
}

static void *reader_main(void *arg)
{
    struct pipeline *p = arg;
    _cleanup_free_ chunk_id *leaf_buf = alloc_aligned(BM_PAGE_BYTES);
    uint64_t cached_leaf = UINT64_MAX;
    int r;

    if (!leaf_buf)
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    else if (p->runs)
        r = read_changed(p, &cached_leaf, leaf_buf);
    else
        r = read_scan(p, &cached_leaf, leaf_buf);
    if (r == 0)
        r = emit_simple(p, IT_END, p->nchunks, 0) == 0 ? 0 : -ECANCELED;
    if (r < 0 && r != -ECANCELED)
        pipeline_fail(p, r);
    else if (r == -ECANCELED && pipeline_cancelled(p))
        pipeline_fail(p, bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted"));
    return NULL;
}

/* ---- workers ---- */

int chunk_store_encode(const struct pipeline *p, const chunk_id *id, const void *src, size_t len,
                       uint8_t *dst, uint32_t *ret_len, uint32_t *ret_flags)
{
    uint32_t flags = *ret_flags & CHUNK_PAGE;
    size_t n;
    int r;

    if (!p->key) {
        *ret_len = (uint32_t)chunk_encode(src, len, dst, chunk_encode_bound(len), &flags);
        *ret_flags = flags;
        return 0;
    }
    /* Compressed first (ciphertext does not compress), then sealed in
     * place around the compressed bytes. */
    flags |= CHUNK_ENC;
    n = chunk_encode(src, len, dst + CRYPT_HEAD_BYTES, chunk_encode_bound(len), &flags);
    r = crypt_seal(p->key, id, flags, (uint32_t)len, dst, n);
    if (r < 0)
        return r;
    *ret_len = (uint32_t)(n + CRYPT_OVERHEAD);
    *ret_flags = flags;
    return 0;
}

/* Chunk @i of @it, whose bytes are @d: hashed, compared with the parent's
 * and looked up; a new one encoded into it->out.  @stored, optional: the
 * record a copy read @d from (pack_read_chunk_stored(): an LZ4 block or
 * raw bytes, opened if it was sealed), written again as it is instead of
 * compressing @d again, when this lineage stores chunks unsealed.  (A
 * sealed lineage compresses and seals in chunk_store_encode(); sealing the
 * source's block would save the compression there too.) */
static int work_chunk(struct pipeline *p, struct item *it, uint64_t i, const uint8_t *d,
                      const struct stored_payload *stored, meta_txn **txn)
{
    size_t bound = item_out_bound(p);
    struct chunk_entry e;
    int r;

    if (mem_is_zero(d, p->cs)) {
        it->state[i] = CS_ZERO;
        memset(&it->ids[i], 0, sizeof it->ids[i]);
        return 0;
    }
    crypt_hash(p->s, p->key, false, d, p->cs, &it->ids[i]);
    if (it->have_parent && chunk_id_eq(&it->ids[i], &it->parent_ids[i])) {
        it->state[i] = CS_SAME;
        return 0;
    }
    if (!*txn) {
        r = meta_txn_begin(p->s->meta, false, txn);
        if (r < 0)
            return r;
    }
    r = index_get(*txn, &it->ids[i], &e);
    if (r == 0 && !(e.loc.flags & CHUNK_MISSING)) {
        it->state[i] = CS_EXISTS;
        return 0;
    }
    if (r == 0)
        r = -ENOENT; /* lost (see index.h): store it again */
    if (r != -ENOENT)
        return r;
    it->state[i] = CS_NEW;
    it->out_flags[i] = 0; /* a data chunk */
    if (stored && stored->data && !p->key && (stored->flags & ~CHUNK_LZ4) == 0 &&
        stored->len <= chunk_encode_bound(p->cs)) {
        memcpy(it->out + i * bound, stored->data, stored->len);
        it->out_len[i] = stored->len;
        it->out_flags[i] = stored->flags;
        return 0;
    }
    return chunk_store_encode(p, &it->ids[i], d, p->cs, it->out + i * bound, &it->out_len[i],
                              &it->out_flags[i]);
}

/* A copy: the chunks of @it from the source snapshot.  A chunk whose
 * translation names a chunk this store holds is taken as it is, unread. */
static int work_item_copy(struct pipeline *p, struct item *it, uint8_t *buf, meta_txn **txn)
{
    for (uint64_t i = 0; i < it->count; i++) {
        uint8_t key[XLATE_KEY_BYTES];
        const void *v;
        size_t vlen;
        struct chunk_entry e;
        int r;

        it->xfresh[i] = 0;
        if (chunk_id_is_zero(&it->src_ids[i])) {
            it->state[i] = CS_ZERO;
            memset(&it->ids[i], 0, sizeof it->ids[i]);
            continue;
        }
        if (!*txn) {
            r = meta_txn_begin(p->s->meta, false, txn);
            if (r < 0)
                return r;
        }
        xlate_key(p->src_uuid, &it->src_ids[i], key);
        r = meta_get(*txn, T_CHUNK_XLATE, key, sizeof key, &v, &vlen);
        if (r == 0 && vlen == sizeof(chunk_id)) {
            memcpy(&it->ids[i], v, sizeof(chunk_id));
            if (it->have_parent && chunk_id_eq(&it->ids[i], &it->parent_ids[i])) {
                it->state[i] = CS_SAME;
                continue;
            }
            r = index_get(*txn, &it->ids[i], &e);
            if (r == 0 && !(e.loc.flags & CHUNK_MISSING)) {
                it->state[i] = CS_EXISTS;
                continue;
            }
            if (r < 0 && r != -ENOENT)
                return r;
            /* gc took it since: read it again */
        } else if (r < 0 && r != -ENOENT) {
            return r;
        }
        struct stored_payload stored;
        r = reader_read_chunk_stored(p->src, it->first + i, &it->src_ids[i], buf, &stored);
        if (r < 0)
            return r;
        it->read_bytes += p->cs;
        it->xfresh[i] = 1;
        r = work_chunk(p, it, i, buf, &stored, txn);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Read the chunks of @it into @buf a piece (p->piece_chunks) at a time and
 * work on each piece at once, while it is still in this core's cache: the
 * copy out of the page cache and the hash then touch memory once. */
static int work_item(struct pipeline *p, struct item *it, uint8_t *buf, meta_txn **txn)
{
    if (p->src)
        return work_item_copy(p, it, buf, txn);
    for (uint64_t i = 0; i < it->count; i += p->piece_chunks) {
        uint64_t n = MIN((uint64_t)p->piece_chunks, it->count - i);
        uint64_t off = (it->first + i) * p->cs, len = MIN(n * p->cs, p->size - off);
        /* the whole piece, or an error the source recorded (one that
         * shrank while it was read among them) */
        ssize_t got = p->vol->ops->pread(p->vol, buf, len, off);

        if (got < 0)
            return (int)got;
        /* Past the end of the last, partial chunk reads as zeros. */
        memset(buf + got, 0, n * p->cs - (size_t)got);
        it->read_bytes += (uint64_t)got;
        for (uint64_t j = 0; j < n; j++) {
            int r = work_chunk(p, it, i + j, buf + j * p->cs, NULL, txn);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct pipeline *p = arg;
    /* page-aligned: the reads are at multiples of the chunk size (util.h) */
    _cleanup_free_ uint8_t *buf = alloc_aligned(p->piece_chunks * p->cs);

    if (!buf) {
        pipeline_fail(p, bsnap_fail(-ENOMEM, "InternalError", "out of memory"));
        return NULL;
    }
    for (;;) {
        meta_txn *txn = NULL;
        struct item *it;
        int r;

        pthread_mutex_lock(&p->lock);
        while (!p->stop && !p->todo)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stop) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        it = p->todo;
        p->todo = it->next;
        if (!p->todo)
            p->todo_tail = NULL;
        pthread_mutex_unlock(&p->lock);

        /* A fresh read transaction per item: it sees what the writer has
         * committed so far and never pins old pages for long. */
        r = work_item(p, it, buf, &txn);
        meta_txn_abort(txn);
        if (r < 0) {
            item_put_free(p, it);
            pipeline_fail(p, r);
            return NULL;
        }
        pthread_mutex_lock(&p->lock);
        p->stats.read_bytes += it->read_bytes;
        it->next = p->done;
        p->done = it;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
}

/* ---- the calls of pipeline.h ---- */

/* Turn byte ranges into sorted, merged chunk runs (offset/length in chunks). */
static int ranges_to_runs(struct pipeline *p, const bsnap_range *rg, size_t n, uint64_t parent_size)
{
    size_t cap = n + 1, k = 0;
    bsnap_range *runs = calloc(cap, sizeof *runs);

    if (!runs)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < n; i++) {
        uint64_t a, b;
        if (rg[i].length == 0 || rg[i].offset + rg[i].length < rg[i].offset ||
            rg[i].offset + rg[i].length > p->size) {
            free(runs);
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "changed range %zu (offset %llu length %llu) is empty or ends past "
                       "the end of the volume (%llu bytes)",
                       i + 1, (unsigned long long)rg[i].offset, (unsigned long long)rg[i].length,
                       (unsigned long long)p->size);
            return error_set_parameter("Changed[%zu]", i);
        }
        if (i > 0 && rg[i].offset < rg[i - 1].offset + rg[i - 1].length) {
            free(runs);
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "changed range %zu (offset %llu) is not sorted or overlaps the one before",
                       i + 1, (unsigned long long)rg[i].offset);
            return error_set_parameter("Changed[%zu]", i);
        }
        a = rg[i].offset / p->cs;
        b = DIV_ROUND_UP(rg[i].offset + rg[i].length, p->cs);
        if (k > 0 && a <= runs[k - 1].offset + runs[k - 1].length)
            runs[k - 1].length =
                MAX(runs[k - 1].offset + runs[k - 1].length, b) - runs[k - 1].offset;
        else
            runs[k++] = (bsnap_range){a, b - a};
    }
    /* A volume that changed size: its old last chunk and everything after
     * the shorter end are read too. */
    if (parent_size != p->size) {
        uint64_t a = MIN(parent_size, p->size) / p->cs;
        if (a < p->nchunks) {
            size_t j = 0;
            while (j < k && runs[j].offset + runs[j].length < a)
                j++;
            if (j < k && runs[j].offset < a)
                a = runs[j].offset;
            runs[j] = (bsnap_range){a, p->nchunks - a};
            k = j + 1;
        }
    }
    p->runs = runs;
    p->nruns = k;
    return 0;
}

int pipeline_new(const struct pipeline_options *o, struct pipeline **ret_pipeline)
{
    struct pipeline *p = calloc(1, sizeof *p);
    int r;

    if (!p)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->s = o->s;
    p->key = o->key;
    p->run = o->run;
    p->vol = o->vol;
    p->size = o->size;
    p->cs = o->s->chunk_size;
    p->nchunks = DIV_ROUND_UP(p->size, p->cs);
    if (o->parent) {
        p->have_parent = true;
        p->parent = *o->parent;
    }
    if (o->changed) {
        r = ranges_to_runs(p, o->changed, o->nchanged, o->parent_size);
        if (r < 0)
            goto fail;
    }
    p->nworkers = o->threads;
    if (p->nworkers == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        p->nworkers = ncpu > 0 ? (unsigned)ncpu : 1;
    }
    p->nworkers = MIN(p->nworkers, 64u);
    p->batch_chunks = MAX((size_t)1, BATCH_BYTES / p->cs);
    p->piece_chunks = MIN(
        p->batch_chunks,
        MAX((size_t)1, (p->vol && p->vol->read_bytes ? p->vol->read_bytes : PIECE_BYTES) / p->cs));
    p->sparse_ok = true;
    if (o->src) {
        p->src = o->src;
        memcpy(p->src_uuid, o->src_uuid, 16);
    }
    p->nleaves = DIV_ROUND_UP(p->nchunks, BM_FANOUT);
    p->leaf = calloc(BM_FANOUT, sizeof *p->leaf);
    p->leaf_ids = calloc(p->nleaves ? p->nleaves : 1, sizeof *p->leaf_ids);
    p->set.cap = 4 * COMMIT_ENTRIES;
    p->set.keys = calloc(p->set.cap, sizeof *p->set.keys);
    p->page_out = malloc(chunk_encode_bound(BM_PAGE_BYTES) + CRYPT_OVERHEAD);
    if (!p->leaf || !p->leaf_ids || !p->set.keys || !p->page_out) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory (volume of %llu chunks)",
                       (unsigned long long)p->nchunks);
        goto fail;
    }
    *ret_pipeline = p;
    return 0;
fail:
    pipeline_free(p);
    return r;
}

int pipeline_run(struct pipeline *p, struct pack_writer *pw)
{
    pthread_t reader, workers[64];
    unsigned nworkers = p->nworkers, started = 0;
    bool reader_started = false;
    int r = 0;

    p->pw = pw;
    clock_gettime(CLOCK_MONOTONIC, &p->last_progress);
    for (size_t i = 0; i < 2 * nworkers + 4; i++) {
        struct item *it = item_new(p);
        if (!it)
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        it->next = p->free_items;
        p->free_items = it;
        p->nitems++;
    }
    for (; started < nworkers; started++)
        if (pthread_create(&workers[started], NULL, worker_main, p) != 0)
            break;
    if (started == 0 || pthread_create(&reader, NULL, reader_main, p) != 0) {
        r = pipeline_fail(p, bsnap_fail(-EAGAIN, "InternalError", "cannot start threads"));
    } else {
        reader_started = true;
        r = mapwriter_run(p);
    }
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (reader_started)
        pthread_join(reader, NULL);
    for (unsigned i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    if (r < 0 && p->err) {
        error_restore(&p->err_saved);
        r = p->err;
    }
    return r;
}

int pipeline_finish(struct pipeline *p, chunk_id *ret_root, bsnap_snapshot_stats *ret_stats,
                    uint64_t *ret_data_chunks)
{
    chunk_id root;
    int r;

    r = bm_build(p->leaf_ids, p->nleaves, bm_depth_for(p->nchunks), mapwriter_store_page, p, &root);
    if (r < 0)
        return r;
    r = mapwriter_commit(p);
    if (r < 0)
        return r;
    p->stats.volume_bytes = p->size;
    *ret_root = root;
    *ret_stats = p->stats;
    *ret_data_chunks = p->data_chunks;
    return 0;
}

void pipeline_free(struct pipeline *p)
{
    struct item *lists[3];

    if (!p)
        return;
    lists[0] = p->free_items;
    lists[1] = p->todo;
    lists[2] = p->done;
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
        for (struct item *it = lists[i], *n; it; it = n) {
            n = it->next;
            item_free(it);
        }
    free(p->leaf);
    free(p->leaf_ids);
    free(p->set.keys);
    free(p->pend);
    free(p->xpend);
    free(p->page_out);
    free(p->src_leaf);
    free(p->runs);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
