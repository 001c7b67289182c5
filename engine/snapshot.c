/* snapshot.c - snapshot creation pipeline; see snapshot.h. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockmap.h"
#include "catalog.h"
#include "chunk.h"
#include "error.h"
#include "fault.h"
#include "index.h"
#include "pack.h"
#include "store.h"
#include "util.h"

#define BATCH_BYTES (2u << 20)     /* one read request */
#define COMMIT_BYTES (64ull << 20) /* sync + commit after this many new bytes */
#define COMMIT_ENTRIES 8192        /* ... or this many new index entries */

enum chunk_state { CS_ZERO, CS_SAME, CS_EXISTS, CS_NEW };
enum item_kind { IT_DATA, IT_HOLE, IT_PARENT, IT_END };

struct item {
    enum item_kind kind;
    uint64_t seq;
    uint64_t first, count; /* chunk indexes */
    bool have_parent;
    /* DATA only; buffers sized for the batch */
    uint8_t *data;
    chunk_id *ids, *parent_ids;
    uint8_t *state;
    uint8_t *out;
    uint32_t *out_len, *out_flags;
    struct item *next;
};

/* A small open-addressing set of the ids written since the last commit, so
 * a chunk that repeats within a batch is written once. */
struct idset {
    chunk_id *keys;
    size_t cap; /* power of two */
    size_t n;
};

struct pending {
    chunk_id id;
    struct chunk_loc loc;
};

struct pipeline {
    bsnap_store *s;
    const bsnap_snapshot_options *opts;
    int fd;
    uint64_t size, nchunks;
    uint32_t cs;
    size_t batch_chunks;
    bool sparse_ok;
    /* parent */
    bool have_parent;
    struct bm_tree parent;
    /* changed-block runs (chunk indexes), when reading only those */
    bsnap_range *runs;
    size_t nruns;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct item *free_items, *todo, *todo_tail, *done;
    size_t nitems;
    uint64_t next_seq_read;
    bool stop;
    int err;
    error_saved err_saved;

    /* writer */
    struct pack_writer *pw;
    chunk_id *leaf;
    uint64_t pos; /* next chunk index */
    uint32_t leaf_nonzero;
    chunk_id *leaf_ids;
    uint64_t nleaves;
    struct idset set;
    struct pending *pend;
    size_t npend, pend_cap;
    uint64_t pend_bytes;
    uint8_t *page_out;
    bsnap_snapshot_stats stats;
    uint64_t data_chunks;
    struct timespec last_progress;
};

/* ---- small helpers ---- */

static int fail_pipeline(struct pipeline *p, int err)
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

static bool cancelled(const struct pipeline *p)
{
    return p->opts->run.cancel && *p->opts->run.cancel;
}

static uint64_t idset_hash(const chunk_id *id)
{
    return le64_get(id->b);
}

static bool idset_has(const struct idset *s, const chunk_id *id)
{
    for (size_t i = idset_hash(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (chunk_id_is_zero(&s->keys[i]))
            return false;
        if (chunk_id_eq(&s->keys[i], id))
            return true;
    }
}

static void idset_add(struct idset *s, const chunk_id *id)
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

void snapshot_tree(const struct snapshot_rec *r, struct bm_tree *ret)
{
    ret->root = r->root;
    ret->depth = r->depth;
    ret->nchunks = r->chunk_size ? DIV_ROUND_UP(r->size, r->chunk_size) : 0;
}

int volume_open(const char *path, int *ret_fd, uint64_t *ret_size, char **ret_canonical)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    uint64_t size;
    char *canon;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return bsnap_fail(-errno,
                          errno == ENOENT ? "InvalidVolume.NotFound" : "InvalidParameterValue",
                          "volume %s: %m", path);
    if (fstat(fd, &st) < 0)
        return bsnap_fail(-errno, "InvalidParameterValue", "volume %s: %m", path);
    if (S_ISREG(st.st_mode)) {
        size = (uint64_t)st.st_size;
    } else if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
            return bsnap_fail(-errno, "InvalidParameterValue",
                              "volume %s: size of block device: %m", path);
    } else {
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "volume %s is not a regular file or a block device", path);
    }
    /* O_NONBLOCK was only to not hang opening a FIFO; reads should block. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    canon = realpath(path, NULL);
    if (!canon)
        return bsnap_fail(-errno, "InvalidParameterValue", "volume %s: %m", path);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    *ret_fd = steal_fd(fd);
    *ret_size = size;
    *ret_canonical = canon;
    return 0;
}

/* ---- items ---- */

static void item_free(struct item *it)
{
    if (!it)
        return;
    free(it->data);
    free(it->ids);
    free(it->parent_ids);
    free(it->state);
    free(it->out);
    free(it->out_len);
    free(it->out_flags);
    free(it);
}

static struct item *item_new(const struct pipeline *p)
{
    struct item *it = calloc(1, sizeof *it);
    size_t n = p->batch_chunks, bound = chunk_encode_bound(p->cs);

    if (!it)
        return NULL;
    it->data = malloc(n * p->cs);
    it->ids = malloc(n * sizeof *it->ids);
    it->parent_ids = malloc(n * sizeof *it->parent_ids);
    it->state = malloc(n);
    it->out = malloc(n * bound);
    it->out_len = malloc(n * sizeof *it->out_len);
    it->out_flags = malloc(n * sizeof *it->out_flags);
    if (!it->data || !it->ids || !it->parent_ids || !it->state || !it->out || !it->out_len ||
        !it->out_flags) {
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

static void item_put_free(struct pipeline *p, struct item *it)
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

/* Fill the parent ids of the chunks of @it (scan mode), one leaf at a time. */
static int attach_parent(struct pipeline *p, struct item *it, uint64_t *cached_leaf,
                         chunk_id *leaf_buf)
{
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

static int emit_data(struct pipeline *p, uint64_t first, uint64_t count, uint64_t *cached_leaf,
                     chunk_id *leaf_buf)
{
    while (count > 0) {
        struct item *it = item_get(p);
        uint64_t n = MIN(count, (uint64_t)p->batch_chunks);
        uint64_t off = first * p->cs, len = MIN(n * p->cs, p->size - off);
        ssize_t got;
        int r;

        if (!it)
            return -ECANCELED;
        if (cancelled(p))
            return bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted");
        it->kind = IT_DATA;
        it->first = first;
        it->count = n;
        got = full_pread(p->fd, it->data, len, (off_t)off);
        if (got < 0) {
            item_put_free(p, it);
            return bsnap_fail((int)got, "VolumeReadError", "volume %s: read at offset %llu: %s",
                              p->opts->volume_path, (unsigned long long)off, strerror((int)-got));
        }
        /* Past the end (the last partial chunk, or a file that shrank while
         * we read it) reads as zeros. */
        memset(it->data + got, 0, n * p->cs - (size_t)got);
        p->stats.read_bytes += (uint64_t)got;
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

        if (cancelled(p))
            return bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted");
        if (p->sparse_ok) {
            off_t d = lseek(p->fd, (off_t)off, SEEK_DATA), h;
            if (d < 0 && errno == ENXIO) {
                d = (off_t)p->size; /* no data after off */
            } else if (d < 0) {
                p->sparse_ok = false; /* not supported here: all data */
                continue;
            }
            if ((uint64_t)d >= p->size)
                return emit_simple(p, IT_HOLE, pos, p->nchunks - pos);
            if ((uint64_t)d / p->cs > pos) {
                uint64_t n = (uint64_t)d / p->cs - pos;
                r = emit_simple(p, IT_HOLE, pos, n);
                if (r < 0)
                    return r;
                pos += n;
                continue;
            }
            h = lseek(p->fd, d, SEEK_HOLE);
            if (h < 0)
                h = (off_t)p->size;
            data_end = MIN(p->nchunks, DIV_ROUND_UP((uint64_t)h, p->cs));
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
    _cleanup_free_ chunk_id *leaf_buf = malloc(BM_PAGE_BYTES);
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
        fail_pipeline(p, r);
    else if (r == -ECANCELED && cancelled(p))
        fail_pipeline(p, bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted"));
    return NULL;
}

/* ---- workers ---- */

static int work_item(struct pipeline *p, struct item *it, meta_txn **txn)
{
    size_t bound = chunk_encode_bound(p->cs);
    int r;

    for (uint64_t i = 0; i < it->count; i++) {
        const uint8_t *d = it->data + i * p->cs;
        struct chunk_entry e;

        if (mem_is_zero(d, p->cs)) {
            it->state[i] = CS_ZERO;
            memset(&it->ids[i], 0, sizeof it->ids[i]);
            continue;
        }
        chunk_hash(p->s, false, d, p->cs, &it->ids[i]);
        if (it->have_parent && chunk_id_eq(&it->ids[i], &it->parent_ids[i])) {
            it->state[i] = CS_SAME;
            continue;
        }
        if (!*txn) {
            r = meta_txn_begin(p->s->meta, false, txn);
            if (r < 0)
                return r;
        }
        r = index_get(*txn, &it->ids[i], &e);
        if (r == 0) {
            it->state[i] = CS_EXISTS;
            continue;
        }
        if (r != -ENOENT)
            return r;
        it->state[i] = CS_NEW;
        it->out_flags[i] = 0;
        it->out_len[i] =
            (uint32_t)chunk_encode(d, p->cs, it->out + i * bound, bound, &it->out_flags[i]);
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct pipeline *p = arg;

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
        r = work_item(p, it, &txn);
        meta_txn_abort(txn);
        if (r < 0) {
            fail_pipeline(p, r);
            return NULL;
        }
        pthread_mutex_lock(&p->lock);
        it->next = p->done;
        p->done = it;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
}

/* ---- writer (calling thread) ---- */

static int commit_pending(struct pipeline *p)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    int r;

    if (p->npend == 0)
        return 0;
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
        if (r == 0)
            continue; /* another writer stored it meanwhile; ours is dead bytes */
        if (r != -ENOENT)
            return r;
        r = index_put(txn, &p->pend[i].id, &e);
        if (r < 0)
            return r;
        if (e.loc.flags & CHUNK_PAGE) {
            /* A new page holds a reference on each child it names. */
            const chunk_id *kids = NULL;
            _cleanup_free_ chunk_id *page = malloc(BM_PAGE_BYTES);
            if (!page)
                return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            r = bm_page_load(p->s, txn, &p->pend[i].id, page);
            if (r < 0)
                return r;
            kids = page;
            for (uint32_t k = 0; k < BM_FANOUT; k++) {
                if (chunk_id_is_zero(&kids[k]))
                    continue;
                r = index_incref(p->s, txn, &kids[k]);
                if (r < 0)
                    return r;
            }
        }
    }
    r = meta_txn_commit(steal_ptr(txn));
    if (r < 0)
        return r;
    pack_writer_mark(p->pw);
    p->npend = 0;
    p->pend_bytes = 0;
    memset(p->set.keys, 0, p->set.cap * sizeof *p->set.keys);
    p->set.n = 0;
    return 0;
}

static int add_pending(struct pipeline *p, const chunk_id *id, const struct chunk_loc *loc)
{
    if (p->npend == p->pend_cap) {
        size_t cap = p->pend_cap ? p->pend_cap * 2 : 1024;
        struct pending *n = realloc(p->pend, cap * sizeof *n);
        if (!n)
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        p->pend = n;
        p->pend_cap = cap;
    }
    p->pend[p->npend++] = (struct pending){*id, *loc};
    idset_add(&p->set, id);
    p->pend_bytes += PACK_RECORD_HEADER_BYTES + loc->stored_len;
    p->stats.new_chunks++;
    p->stats.new_bytes += PACK_RECORD_HEADER_BYTES + loc->stored_len;
    return 0;
}

static int maybe_commit(struct pipeline *p)
{
    if (p->pend_bytes >= COMMIT_BYTES || p->npend >= COMMIT_ENTRIES)
        return commit_pending(p);
    return 0;
}

/* Store a page unless the store (or this batch) has it; return its id. */
static int store_page(void *ud, const chunk_id *page, chunk_id *ret_id)
{
    struct pipeline *p = ud;
    struct chunk_entry e;
    struct chunk_loc loc;
    uint32_t flags = CHUNK_PAGE;
    size_t n;
    int r;

    bm_page_id(p->s, page, ret_id);
    if (chunk_id_is_zero(ret_id) || idset_has(&p->set, ret_id))
        return 0;
    r = index_lookup(p->s, ret_id, &e);
    if (r == 0)
        return 0;
    if (r != -ENOENT)
        return r;
    n = chunk_encode(page, BM_PAGE_BYTES, p->page_out, chunk_encode_bound(BM_PAGE_BYTES), &flags);
    r = pack_writer_append(p->pw, ret_id, flags, p->page_out, (uint32_t)n, BM_PAGE_BYTES, &loc);
    if (r < 0)
        return r;
    r = add_pending(p, ret_id, &loc);
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
        r = store_page(p, p->leaf, &p->leaf_ids[l]);
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

static int write_data(struct pipeline *p, struct item *it)
{
    size_t bound = chunk_encode_bound(p->cs);
    int r;

    for (uint64_t i = 0; i < it->count; i++) {
        chunk_id *id = &it->ids[i];

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
                r = add_pending(p, id, &loc);
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
            if (!chunk_id_is_zero(&id)) {
                /* count the data chunks it holds for st_blocks */
                if (!buf && !(buf = malloc(BM_PAGE_BYTES)))
                    return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
                r = bm_page_load(p->s, NULL, &id, buf);
                if (r < 0)
                    return r;
                cached = UINT64_MAX;
                for (uint32_t i = 0; i < BM_FANOUT; i++)
                    p->data_chunks += !chunk_id_is_zero(&buf[i]);
                p->stats.reused_chunks += BM_FANOUT;
            }
            p->pos += BM_FANOUT;
            count -= BM_FANOUT;
            continue;
        }
        if (!buf && !(buf = malloc(BM_PAGE_BYTES)))
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        if (cached != leaf) {
            r = bm_load_leaf(p->s, NULL, &p->parent, leaf, buf);
            if (r < 0)
                return r;
            cached = leaf;
        }
        {
            chunk_id id = p->pos < p->parent.nchunks ? buf[p->pos % BM_FANOUT] : (chunk_id){0};
            if (!chunk_id_is_zero(&id))
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

    if (!p->opts->run.progress)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final && (now.tv_sec - p->last_progress.tv_sec) * 1000000000L +
                          (now.tv_nsec - p->last_progress.tv_nsec) <
                      100000000L)
        return;
    p->last_progress = now;
    p->opts->run.progress(p->opts->run.progress_ud, final ? p->size : MIN(p->pos * p->cs, p->size),
                          p->size);
}

static int writer_run(struct pipeline *p)
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
        if (fault_hit("snapshot-item"))
            return fail_pipeline(p, bsnap_fail(-EIO, "Store.Error", "snapshot: injected failure"));
        if (cancelled(p))
            return fail_pipeline(p, bsnap_fail(-ECANCELED, "Cancelled", "snapshot interrupted"));
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
            return fail_pipeline(p, r);
        report_progress(p, false);
    }
}

/* ---- the public call ---- */

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
            return bsnap_fail(-EINVAL, "InvalidParameterValue",
                              "changed range %zu (offset %llu length %llu) is empty or ends past "
                              "the end of the volume (%llu bytes)",
                              i + 1, (unsigned long long)rg[i].offset,
                              (unsigned long long)rg[i].length, (unsigned long long)p->size);
        }
        if (i > 0 && rg[i].offset < rg[i - 1].offset + rg[i - 1].length) {
            free(runs);
            return bsnap_fail(-EINVAL, "InvalidParameterValue",
                              "changed range %zu (offset %llu) is not sorted or overlaps the one "
                              "before",
                              i + 1, (unsigned long long)rg[i].offset);
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

static int resolve_volume(bsnap_store *s, const bsnap_snapshot_options *o, struct volume_rec *vol,
                          bool *ret_new, int *ret_fd, uint64_t *ret_size)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    _cleanup_free_ char *canon = NULL;
    const char *path = o->volume_path;
    int r;

    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    if (o->volume_id) {
        r = check_volume_id(o->volume_id);
        if (r < 0)
            return r;
        r = catalog_volume_load(txn, o->volume_id, vol);
        if (r < 0)
            return r;
        if (!vol->path || !vol->path[0])
            return bsnap_fail(-EINVAL, "InvalidParameterValue",
                              "volume %s has no path to read; give --volume PATH", vol->id);
        path = vol->path;
    }
    r = volume_open(path, ret_fd, ret_size, &canon);
    if (r < 0)
        return r;
    if (o->volume_id) {
        *ret_new = false;
        return 0;
    }
    r = catalog_volume_by_path(txn, canon, vol);
    if (r == 0) {
        *ret_new = false;
        return 0;
    }
    if (r != -ENOENT) {
        close(*ret_fd);
        return r;
    }
    *ret_new = true;
    memset(vol, 0, sizeof *vol);
    r = id_generate("vol", vol->id);
    if (r < 0) {
        close(*ret_fd);
        return bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
    }
    vol->path = steal_ptr(canon);
    vol->create_ms = time_now_ms();
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
            return r;
    } else if (vol->last_snapshot[0]) {
        pid = vol->last_snapshot;
    } else {
        return 0;
    }
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, pid, parent);
    if (r < 0) {
        if (o->parent_id)
            return r;
        bsnap_error_clear(); /* the volume's last snapshot is gone: go full */
        return 0;
    }
    if (parent->state != BSNAP_SNAPSHOT_COMPLETED) {
        if (o->parent_id)
            return bsnap_fail(-EINVAL, "IncorrectState", "parent snapshot %s is not completed",
                              pid);
        snapshot_rec_clear(parent);
        return 0;
    }
    if (parent->chunk_size != s->chunk_size)
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "parent snapshot %s has chunk size %u, the store %u", pid,
                          parent->chunk_size, s->chunk_size);
    *ret_have = true;
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

static void drop_pending_record(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    error_saved saved;

    error_save(&saved);
    if (meta_txn_begin(s->meta, true, &txn) == 0 && catalog_snapshot_delete(txn, id) == 0 &&
        meta_txn_commit(steal_ptr(txn)) == 0)
        bsnap_debug("snapshot", "snapshot %s: pending record removed", id);
    else
        bsnap_log(BSNAP_LOG_WARNING, "snapshot",
                  "snapshot %s: could not remove the pending record; gc will", id);
    error_restore(&saved);
}

static int complete(struct pipeline *p, struct snapshot_rec *rec, struct volume_rec *vol,
                    bool vol_new)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec cur = {0};
    int r = meta_txn_begin(p->s->meta, true, &txn);

    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, rec->id, &cur);
    if (r < 0)
        return r;
    snapshot_rec_clear(&cur);
    rec->state = BSNAP_SNAPSHOT_COMPLETED;
    rec->completion_ms = time_now_ms();
    if (!chunk_id_is_zero(&rec->root)) {
        r = index_incref(p->s, txn, &rec->root);
        if (r < 0)
            return r;
    }
    r = catalog_snapshot_save(txn, rec);
    if (r < 0)
        return r;
    snprintf(vol->last_snapshot, sizeof vol->last_snapshot, "%s", rec->id);
    vol->size = p->size;
    (void)vol_new;
    r = catalog_volume_save(txn, vol);
    if (r < 0)
        return r;
    return meta_txn_commit(steal_ptr(txn));
}

static int run_pipeline(struct pipeline *p, unsigned nworkers)
{
    pthread_t reader, workers[64];
    unsigned started = 0;
    bool reader_started = false;
    int r = 0;

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
        r = fail_pipeline(p, bsnap_fail(-EAGAIN, "InternalError", "cannot start threads"));
    } else {
        reader_started = true;
        r = writer_run(p);
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

static void pipeline_free(struct pipeline *p)
{
    struct item *lists[] = {p->free_items, p->todo, p->done};

    for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
        for (struct item *it = lists[i], *n; it; it = n) {
            n = it->next;
            item_free(it);
        }
    pack_writer_close(p->pw);
    free(p->leaf);
    free(p->leaf_ids);
    free(p->set.keys);
    free(p->pend);
    free(p->page_out);
    free(p->runs);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}

int bsnap_snapshot_create(bsnap_store *s, const bsnap_snapshot_options *o,
                          char ret_id[BSNAP_ID_MAX], bsnap_snapshot_stats *ret_stats)
{
    struct pipeline p = {.s = s, .opts = o, .fd = -1, .cs = s->chunk_size};
    struct snapshot_rec rec = {0}, parent = {0};
    struct volume_rec vol = {0};
    bool vol_new = false, recorded = false;
    unsigned nworkers = o->threads;
    int lockfd = -1, r;
    long ncpu;

    bsnap_error_clear();
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    if (!o->volume_path == !o->volume_id) {
        r = bsnap_fail(-EINVAL, "MissingParameter",
                       "give exactly one of a volume path or a volume id");
        goto out;
    }
    if (o->description && strlen(o->description) > DESCRIPTION_MAX) {
        r = bsnap_fail(-EINVAL, "InvalidParameterValue", "description is longer than %d characters",
                       DESCRIPTION_MAX);
        goto out;
    }
    if (o->full && o->parent_id) {
        r = bsnap_fail(-EINVAL, "InvalidParameterCombination",
                       "--full and a parent snapshot exclude each other");
        goto out;
    }
    if (o->ntags > TAGS_MAX) {
        r = bsnap_fail(-EINVAL, "TagLimitExceeded", "at most %d tags per resource", TAGS_MAX);
        goto out;
    }
    for (size_t i = 0; i < o->ntags; i++) {
        r = tags_set(&rec.tags, o->tags[i].key, o->tags[i].value);
        if (r < 0)
            goto out;
    }
    r = resolve_volume(s, o, &vol, &vol_new, &p.fd, &p.size);
    if (r < 0)
        goto out;
    r = load_parent(s, o, &vol, &parent, &p.have_parent);
    if (r < 0)
        goto out;
    p.nchunks = DIV_ROUND_UP(p.size, p.cs);
    if (p.have_parent)
        snapshot_tree(&parent, &p.parent);
    if (o->changed) {
        if (o->full || !p.have_parent) {
            r = bsnap_fail(-EINVAL, "MissingParameter",
                           "a changed-block list needs a parent snapshot, and volume %s has none: "
                           "take a full snapshot first",
                           vol.path);
            goto out;
        }
        r = ranges_to_runs(&p, o->changed, o->nchanged, parent.size);
        if (r < 0)
            goto out;
    }
    if (nworkers == 0) {
        ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        nworkers = ncpu > 0 ? (unsigned)ncpu : 1;
    }
    nworkers = MIN(nworkers, 64u);
    p.batch_chunks = MAX((size_t)1, BATCH_BYTES / p.cs);
    p.sparse_ok = true;
    p.nleaves = DIV_ROUND_UP(p.nchunks, BM_FANOUT);
    p.leaf = calloc(BM_FANOUT, sizeof *p.leaf);
    p.leaf_ids = calloc(p.nleaves ? p.nleaves : 1, sizeof *p.leaf_ids);
    p.set.cap = 4 * COMMIT_ENTRIES;
    p.set.keys = calloc(p.set.cap, sizeof *p.set.keys);
    p.page_out = malloc(chunk_encode_bound(BM_PAGE_BYTES));
    if (!p.leaf || !p.leaf_ids || !p.set.keys || !p.page_out) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory (volume of %llu chunks)",
                       (unsigned long long)p.nchunks);
        goto out;
    }

    /* Shared store lock: gc waits until this snapshot is done. */
    r = store_lock(s, false, &lockfd);
    if (r < 0)
        goto out;
    r = id_generate("snap", rec.id);
    if (r < 0) {
        r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        goto out;
    }
    snprintf(rec.volume_id, sizeof rec.volume_id, "%s", vol.id);
    if (p.have_parent)
        snprintf(rec.parent_id, sizeof rec.parent_id, "%s", parent.id);
    rec.state = BSNAP_SNAPSHOT_PENDING;
    rec.size = p.size;
    rec.chunk_size = p.cs;
    rec.depth = bm_depth_for(p.nchunks);
    rec.start_ms = time_now_ms();
    rec.description = strdup(o->description ? o->description : "");
    if (!rec.description) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    r = save_record(s, &rec);
    if (r < 0)
        goto out;
    recorded = true;
    r = pack_writer_open(s, false, &p.pw);
    if (r < 0)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &p.last_progress);

    r = run_pipeline(&p, nworkers);
    if (r < 0)
        goto out;
    r = bm_build(p.leaf_ids, p.nleaves, rec.depth, store_page, &p, &rec.root);
    if (r < 0)
        goto out;
    r = commit_pending(&p);
    if (r < 0)
        goto out;
    rec.data_chunks = p.data_chunks;
    rec.bytes_read = p.stats.read_bytes;
    rec.bytes_written = p.stats.new_bytes;
    rec.chunks_written = p.stats.new_chunks;
    r = complete(&p, &rec, &vol, vol_new);
    if (r < 0)
        goto out;
    p.stats.volume_bytes = p.size;
    bsnap_debug("snapshot", "snapshot %s: %llu chunks, %llu new (%llu bytes)", rec.id,
                (unsigned long long)p.nchunks, (unsigned long long)p.stats.new_chunks,
                (unsigned long long)p.stats.new_bytes);
    snprintf(ret_id, BSNAP_ID_MAX, "%s", rec.id);
    if (ret_stats)
        *ret_stats = p.stats;
    r = 0;
out:
    if (r < 0 && recorded)
        drop_pending_record(s, rec.id);
    if (r < 0)
        pack_writer_abort(p.pw); /* give the disk space back now */
    pipeline_free(&p);
    store_unlock(lockfd);
    if (p.fd >= 0)
        close(p.fd);
    snapshot_rec_clear(&rec);
    snapshot_rec_clear(&parent);
    volume_rec_clear(&vol);
    return r;
}
