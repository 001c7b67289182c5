/* blockmap.c - Merkle block map: page cache, lookup, build, diff, seek. */
#include "blockmap.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypt.h"
#include "error.h"
#include "index.h"
#include "pack.h"
#include "store-handle.h"
#include "util.h"

uint32_t bm_depth_for(uint64_t nchunks)
{
    uint32_t d = 1;
    uint64_t cap = BM_FANOUT;

    if (nchunks == 0)
        return 0;
    while (cap < nchunks) {
        d++;
        if (cap > UINT64_MAX / BM_FANOUT)
            break;
        cap *= BM_FANOUT;
    }
    return d;
}

uint64_t bm_span(uint32_t level)
{
    uint64_t s = 1;

    for (uint32_t i = 0; i < level; i++) {
        if (s > UINT64_MAX / BM_FANOUT)
            return UINT64_MAX;
        s *= BM_FANOUT;
    }
    return s;
}

void bm_page_id(const bsnap_store *s, const struct crypt_key *key, const chunk_id *page,
                chunk_id *ret_id)
{
    if (mem_is_zero(page, BM_PAGE_BYTES)) {
        memset(ret_id, 0, sizeof *ret_id);
        return;
    }
    crypt_hash(s, key, true, page, BM_PAGE_BYTES, ret_id);
}

/* ---- page cache: 4-way set associative, LRU within a set ---- */

#define WAYS 4

struct page_slot {
    chunk_id id;
    bool valid;
    uint64_t used;
    chunk_id *page;
};

struct page_cache {
    pthread_mutex_t lock;
    size_t nsets;
    uint64_t clock;
    struct page_slot *slots; /* nsets * WAYS */
};

int page_cache_new(size_t pages, struct page_cache **ret)
{
    struct page_cache *c = calloc(1, sizeof *c);

    if (!c)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    c->nsets = MAX(pages / WAYS, (size_t)1);
    c->slots = calloc(c->nsets * WAYS, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    pthread_mutex_init(&c->lock, NULL);
    *ret = c;
    return 0;
}

void page_cache_free(struct page_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsets * WAYS; i++)
        free(c->slots[i].page);
    free(c->slots);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static struct page_slot *cache_set(struct page_cache *c, const chunk_id *id)
{
    return &c->slots[(le64_get(id->b) % c->nsets) * WAYS];
}

/* Copy @n ids starting at entry @first of cached page @id; true on a hit. */
static bool cache_get(struct page_cache *c, const chunk_id *id, uint32_t first, uint32_t n,
                      chunk_id *out)
{
    struct page_slot *set = cache_set(c, id);
    bool hit = false;

    pthread_mutex_lock(&c->lock);
    for (int w = 0; w < WAYS; w++) {
        if (set[w].valid && chunk_id_eq(&set[w].id, id)) {
            memcpy(out, set[w].page + first, n * sizeof *out);
            set[w].used = ++c->clock;
            hit = true;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

static void cache_put(struct page_cache *c, const chunk_id *id, const chunk_id *page)
{
    struct page_slot *set = cache_set(c, id), *victim = &set[0];

    pthread_mutex_lock(&c->lock);
    for (int w = 0; w < WAYS; w++) {
        if (set[w].valid && chunk_id_eq(&set[w].id, id))
            goto out; /* another thread was faster */
        if (!set[w].valid) {
            victim = &set[w];
            break;
        }
        if (set[w].used < victim->used)
            victim = &set[w];
    }
    if (!victim->page) {
        victim->page = alloc_aligned(BM_PAGE_BYTES);
        if (!victim->page)
            goto out; /* caching is optional */
    }
    memcpy(victim->page, page, BM_PAGE_BYTES);
    victim->id = *id;
    victim->valid = true;
    victim->used = ++c->clock;
out:
    pthread_mutex_unlock(&c->lock);
}

static int page_read(bsnap_store *s, meta_txn *txn, const chunk_id *id, chunk_id *out)
{
    struct chunk_entry e;
    char hex[33];
    int r;

    r = txn ? index_get(txn, id, &e) : index_lookup(s, id, &e);
    if (r == -ENOENT) {
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt", "page %s: not in the index", hex);
    }
    if (r < 0)
        return r;
    if (!(e.loc.flags & CHUNK_PAGE) || e.loc.orig_len != BM_PAGE_BYTES) {
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt", "page %s (pack %u offset %llu): not a page", hex,
                          e.loc.pack, (unsigned long long)e.loc.offset);
    }
    r = pack_read_chunk(s, id, &e.loc, out);
    if (r < 0)
        return r;
    cache_put(s->pages, id, out);
    return 0;
}

int bm_page_load(bsnap_store *s, meta_txn *txn, const chunk_id *id, chunk_id *out)
{
    if (chunk_id_is_zero(id)) {
        memset(out, 0, BM_PAGE_BYTES);
        return 0;
    }
    if (cache_get(s->pages, id, 0, BM_FANOUT, out))
        return 0;
    return page_read(s, txn, id, out);
}

static int page_child(bsnap_store *s, meta_txn *txn, const chunk_id *id, uint32_t i, chunk_id *ret)
{
    _cleanup_free_ chunk_id *page = NULL;
    int r;

    if (chunk_id_is_zero(id)) {
        memset(ret, 0, sizeof *ret);
        return 0;
    }
    if (cache_get(s->pages, id, i, 1, ret))
        return 0;
    page = alloc_aligned(BM_PAGE_BYTES);
    if (!page)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = page_read(s, txn, id, page);
    if (r < 0)
        return r;
    *ret = page[i];
    return 0;
}

int bm_lookup(bsnap_store *s, meta_txn *txn, const struct bm_tree *t, uint64_t idx, uint32_t level,
              chunk_id *ret_id)
{
    chunk_id node = t->root;
    int r;

    if (t->depth == 0 || idx >= t->nchunks || level > t->depth) {
        memset(ret_id, 0, sizeof *ret_id);
        return 0;
    }
    for (uint32_t l = t->depth; l > level; l--) {
        uint32_t i = (uint32_t)((idx / bm_span(l - 1)) % BM_FANOUT);
        r = page_child(s, txn, &node, i, &node);
        if (r < 0)
            return r;
        if (chunk_id_is_zero(&node))
            break;
    }
    *ret_id = node;
    return 0;
}

int bm_load_leaf(bsnap_store *s, meta_txn *txn, const struct bm_tree *t, uint64_t leaf,
                 chunk_id *out)
{
    chunk_id id;
    int r;

    if (leaf > UINT64_MAX / BM_FANOUT)
        return bsnap_fail(-EINVAL, "InternalError", "leaf %llu out of range",
                          (unsigned long long)leaf);
    r = bm_lookup(s, txn, t, leaf * BM_FANOUT, 1, &id);
    if (r < 0)
        return r;
    return bm_page_load(s, txn, &id, out);
}

int bm_build(const chunk_id *leaves, uint64_t nleaves, uint32_t depth,
             bm_store_page_func store_page, void *ud, chunk_id *ret_root)
{
    _cleanup_free_ chunk_id *level = NULL, *page = NULL;
    uint64_t n = nleaves;
    int r;

    if (depth == 0 || nleaves == 0) {
        memset(ret_root, 0, sizeof *ret_root);
        return 0;
    }
    level = malloc(nleaves * sizeof *level);
    page = alloc_aligned(BM_PAGE_BYTES);
    if (!level || !page)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    memcpy(level, leaves, nleaves * sizeof *level);
    /* Each pass turns @n ids of level l into ceil(n/4096) ids of level l+1,
     * in place (the output index never passes the input index). */
    for (uint32_t l = 1; l < depth; l++) {
        uint64_t out = DIV_ROUND_UP(n, BM_FANOUT);
        for (uint64_t p = 0; p < out; p++) {
            uint64_t first = p * BM_FANOUT, cnt = MIN((uint64_t)BM_FANOUT, n - first);
            memset(page, 0, BM_PAGE_BYTES);
            memcpy(page, level + first, cnt * sizeof *page);
            if (mem_is_zero(page, BM_PAGE_BYTES)) {
                memset(&level[p], 0, sizeof level[p]);
                continue;
            }
            r = store_page(ud, page, &level[p]);
            if (r < 0)
                return r;
        }
        n = out;
    }
    if (n != 1)
        return bsnap_fail(-EINVAL, "InternalError", "block map of depth %u cannot hold %llu leaves",
                          depth, (unsigned long long)nleaves);
    *ret_root = level[0];
    return 0;
}

/* ---- diff ---- */

/* A node seen from level L: the id and the level it really lives at.  When
 * real < L it stands for a chain of virtual pages whose child 0 leads down
 * to it (a shallower tree inside a deeper one). */
struct node {
    chunk_id id;
    uint32_t real;
};

struct diff_ctx {
    bsnap_store *s;
    bm_diff_func fn;
    void *ud;
    uint64_t limit; /* max(nchunks) */
};

static int node_children(bsnap_store *s, const struct node *n, uint32_t level, chunk_id *page,
                         uint32_t *ret_real)
{
    if (n->real < level) {
        memset(page, 0, BM_PAGE_BYTES);
        page[0] = n->id;
        *ret_real = n->real; /* child 0 keeps its real level */
        return 0;
    }
    *ret_real = level - 1;
    return bm_page_load(s, NULL, &n->id, page);
}

static int diff_rec(struct diff_ctx *c, uint32_t level, uint64_t base, const struct node *a,
                    const struct node *b)
{
    _cleanup_free_ chunk_id *pa = NULL, *pb = NULL;
    uint32_t ra, rb;
    uint64_t span;
    int r;

    if (base >= c->limit)
        return 0;
    if (chunk_id_is_zero(&a->id) && chunk_id_is_zero(&b->id))
        return 0;
    if (a->real == b->real && chunk_id_eq(&a->id, &b->id))
        return 0;
    if (level == 0)
        return c->fn(c->ud, base, &a->id, &b->id);
    pa = alloc_aligned(BM_PAGE_BYTES);
    pb = alloc_aligned(BM_PAGE_BYTES);
    if (!pa || !pb)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = node_children(c->s, a, level, pa, &ra);
    if (r < 0)
        return r;
    r = node_children(c->s, b, level, pb, &rb);
    if (r < 0)
        return r;
    span = bm_span(level - 1);
    for (uint32_t i = 0; i < BM_FANOUT; i++) {
        struct node ca = {pa[i], i == 0 ? ra : level - 1};
        struct node cb = {pb[i], i == 0 ? rb : level - 1};
        if (base + i * span >= c->limit)
            break;
        r = diff_rec(c, level - 1, base + i * span, &ca, &cb);
        if (r < 0)
            return r;
    }
    return 0;
}

int bm_diff(bsnap_store *s, const struct bm_tree *a, const struct bm_tree *b, bm_diff_func fn,
            void *ud)
{
    static const struct bm_tree empty;
    struct diff_ctx c = {.s = s, .fn = fn, .ud = ud};
    struct node na, nb;
    uint32_t depth;

    if (!a)
        a = &empty;
    depth = MAX(a->depth, b->depth);
    c.limit = MAX(a->nchunks, b->nchunks);
    if (depth == 0)
        return 0;
    na = (struct node){a->root, a->depth};
    nb = (struct node){b->root, b->depth};
    return diff_rec(&c, depth, 0, &na, &nb);
}

/* ---- seek ---- */

static int next_rec(bsnap_store *s, const chunk_id *id, uint32_t level, uint64_t base,
                    uint64_t from, uint64_t limit, bool data, uint64_t *ret)
{
    _cleanup_free_ chunk_id *page = NULL;
    uint64_t span = bm_span(level - 1);
    uint32_t first;
    int r;

    if (chunk_id_is_zero(id)) {
        if (data)
            return -ENXIO;
        *ret = MAX(from, base);
        return 0;
    }
    page = alloc_aligned(BM_PAGE_BYTES);
    if (!page)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = bm_page_load(s, NULL, id, page);
    if (r < 0)
        return r;
    first = from > base ? (uint32_t)((from - base) / span) : 0;
    for (uint32_t i = first; i < BM_FANOUT; i++) {
        uint64_t cb = base + i * span;
        if (cb >= limit)
            break;
        if (level == 1) {
            if (chunk_id_is_zero(&page[i]) != data) {
                *ret = MAX(cb, from);
                return 0;
            }
            continue;
        }
        r = next_rec(s, &page[i], level - 1, cb, from, limit, data, ret);
        if (r != -ENXIO)
            return r;
    }
    return -ENXIO;
}

int bm_next(bsnap_store *s, const struct bm_tree *t, uint64_t idx, bool data, uint64_t *ret_idx)
{
    if (idx >= t->nchunks)
        return -ENXIO;
    if (t->depth == 0)
        return data ? -ENXIO : (*ret_idx = idx, 0);
    return next_rec(s, &t->root, t->depth, 0, idx, t->nchunks, data, ret_idx);
}
