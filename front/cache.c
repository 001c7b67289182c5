/* cache.c - bounded decompressed-chunk cache and readahead workers.
 * See include/bsfront-cache.h for what it guarantees. */
#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bsfront-cache.h"

#define QUEUE_LEN 256
/* Chunk buffers kept for reuse, at most this many bytes: a long read frees
 * and allocates a chunk buffer per chunk, and fresh memory costs a page
 * fault per page. */
#define POOL_BYTES (8u << 20)

enum entry_state { LOADING, READY };

struct centry {
    uint64_t serial, idx;
    enum entry_state state;
    unsigned pins;
    bool indexed;  /* in the tree (a failed load leaves it) */
    uint8_t *data; /* from buf_get() (size bytes), or the shared zero buffer */
    size_t len, size;
    size_t cost;                /* what the entry counts against max_bytes */
    struct centry *prev, *next; /* LRU, most recent first */
};

struct job {
    struct source *src;
    uint64_t idx;
};

struct cache {
    pthread_mutex_t lock;
    pthread_cond_t loaded; /* an entry left LOADING */
    pthread_cond_t work;   /* a job was queued, or stop */
    void *index;           /* tsearch tree of struct centry, by (serial, idx) */
    struct centry *head, *tail;
    uint64_t bytes, max_bytes, entries;
    uint8_t *zero;
    size_t zero_len;
    void **pool; /* free chunk buffers of pool_size bytes */
    size_t pool_len, pool_cap, pool_size;
    struct job queue[QUEUE_LEN];
    size_t qhead, qlen;
    bool stop;
    unsigned nworkers;
    pthread_t *workers;
    struct cache_stats st;
};

/* ---- sources ---- */

struct source *source_new(bsnap_reader *reader, uint64_t serial, uint32_t chunk_size)
{
    struct source *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->reader = reader;
    s->serial = serial;
    s->chunk_size = chunk_size;
    s->size = bsnap_reader_size(reader);
    atomic_init(&s->refs, 1);
    return s;
}

struct source *source_ref(struct source *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void source_unref(struct source *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        bsnap_reader_close(s->reader);
        free(s);
    }
}

/* ---- the index and the LRU list (under c->lock) ---- */

static int entry_cmp(const void *a, const void *b)
{
    const struct centry *x = a, *y = b;
    if (x->serial != y->serial)
        return x->serial < y->serial ? -1 : 1;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return 0;
}

static void lru_unlink(struct cache *c, struct centry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct cache *c, struct centry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

/* A buffer of @size bytes, from the pool when it has one (under c->lock).
 * Page-aligned: the engine copies a chunk stored uncompressed into it with
 * memcpy(), which on the machines we measure is a `rep movsb` that runs
 * about 5x slower when the destination lies 1 to 31 bytes past the source
 * modulo 4096 (64 KiB copies: 5.3 GiB/s to a page-aligned destination, 0.5
 * to one 16 bytes past the page), and the engine keeps its side of the
 * copy clear of that band for a page-aligned destination.  The kernel never
 * copies into these buffers: a reply is a copy out of them, which is not
 * affected. */
static uint8_t *buf_get(struct cache *c, size_t size)
{
    void *p = NULL;

    if (size == c->pool_size && c->pool_len > 0)
        return c->pool[--c->pool_len];
    if (posix_memalign(&p, 4096, size) != 0)
        return NULL;
    return p;
}

/* Give back a buffer of @size bytes (under c->lock). */
static void buf_put(struct cache *c, uint8_t *buf, size_t size)
{
    if (!buf || buf == c->zero)
        return;
    if (c->pool_size == 0 && size <= POOL_BYTES) {
        c->pool_size = size; /* every source of a store has one chunk size */
        c->pool_cap = POOL_BYTES / size;
        c->pool = calloc(c->pool_cap, sizeof(*c->pool));
        if (!c->pool)
            c->pool_cap = 0;
    }
    if (size == c->pool_size && c->pool_len < c->pool_cap)
        c->pool[c->pool_len++] = buf;
    else
        free(buf);
}

static void entry_free(struct cache *c, struct centry *e)
{
    buf_put(c, e->data, e->size);
    free(e);
}

/* Drop an entry from the index and the list, and account for it. */
static void entry_remove(struct cache *c, struct centry *e)
{
    if (e->indexed) {
        tdelete(e, &c->index, entry_cmp);
        e->indexed = false;
        lru_unlink(c, e);
        c->entries--;
        if (e->state == READY)
            c->bytes -= e->cost;
    }
}

static void evict(struct cache *c)
{
    struct centry *e = c->tail;
    while (c->bytes > c->max_bytes && e) {
        struct centry *prev = e->prev;
        if (e->pins == 0 && e->state == READY) {
            entry_remove(c, e);
            entry_free(c, e);
            c->st.evicted++;
        }
        e = prev;
    }
}

/* ---- get / put ---- */

/* Read the entry's chunk into e->data (a chunk-sized buffer the caller
 * took).  Returns 1 for a hole, which the caller points at the shared zero
 * buffer, 0 for data, or a negative errno. */
static int load(struct source *src, struct centry *e)
{
    uint64_t off = e->idx * src->chunk_size;
    if (off >= src->size)
        return -EINVAL;
    e->len = src->size - off < src->chunk_size ? (size_t)(src->size - off) : src->chunk_size;
    return bsnap_reader_read_chunk(src->reader, e->idx, e->data);
}

int cache_get(struct cache *c, struct source *src, uint64_t idx, struct centry **ret)
{
    struct centry key = {.serial = src->serial, .idx = idx};
    struct centry *e;
    int r;

    pthread_mutex_lock(&c->lock);
    void **found = tfind(&key, &c->index, entry_cmp);
    if (found) {
        e = *found;
        e->pins++;
        lru_unlink(c, e);
        lru_push_front(c, e);
        c->st.hits++;
        while (e->state == LOADING && e->indexed)
            pthread_cond_wait(&c->loaded, &c->lock);
        if (e->state != READY) {
            /* The load failed and the entry left the index: try ourselves. */
            if (--e->pins == 0)
                entry_free(c, e);
            pthread_mutex_unlock(&c->lock);
            return cache_get(c, src, idx, ret);
        }
        pthread_mutex_unlock(&c->lock);
        *ret = e;
        return 0;
    }

    e = calloc(1, sizeof(*e));
    if (!e) {
        pthread_mutex_unlock(&c->lock);
        return -ENOMEM;
    }
    e->serial = src->serial;
    e->idx = idx;
    e->state = LOADING;
    e->pins = 1;
    e->size = src->chunk_size;
    e->data = buf_get(c, e->size);
    if (!e->data || !tsearch(e, &c->index, entry_cmp)) {
        entry_free(c, e);
        pthread_mutex_unlock(&c->lock);
        return -ENOMEM;
    }
    e->indexed = true;
    lru_push_front(c, e);
    c->entries++;
    c->st.misses++;
    pthread_mutex_unlock(&c->lock);

    r = load(src, e);

    pthread_mutex_lock(&c->lock);
    if (r == 1) { /* a hole: share the zero buffer (a chunk is at most zero_len) */
        buf_put(c, e->data, e->size);
        e->data = c->zero;
        e->size = 0;
    }
    if (r < 0) {
        /* Waiters see indexed == false and retry; the last pin frees. */
        entry_remove(c, e);
        pthread_cond_broadcast(&c->loaded);
        if (--e->pins == 0)
            entry_free(c, e);
        pthread_mutex_unlock(&c->lock);
        return r;
    }
    e->state = READY;
    /* A zero chunk costs its bookkeeping only, but it costs something, so
     * that reading a huge sparse volume cannot grow the index unbounded. */
    e->cost = sizeof(*e) + 64 + (e->data != c->zero ? e->len : 0);
    c->bytes += e->cost;
    pthread_cond_broadcast(&c->loaded);
    evict(c);
    pthread_mutex_unlock(&c->lock);
    *ret = e;
    return 0;
}

int cache_read_into(struct cache *c, struct source *src, uint64_t idx, uint8_t *dst)
{
    struct centry key = {.serial = src->serial, .idx = idx};
    struct centry *e;
    bool cached;
    int r;

    if ((idx + 1) * src->chunk_size > src->size)
        return -EINVAL; /* a short last chunk: cache_get() it */
    pthread_mutex_lock(&c->lock);
    cached = tfind(&key, &c->index, entry_cmp) != NULL;
    if (!cached)
        c->st.direct++;
    pthread_mutex_unlock(&c->lock);
    if (cached) { /* or being loaded: wait for it rather than load it twice */
        r = cache_get(c, src, idx, &e);
        if (r < 0)
            return r;
        memcpy(dst, e->data, src->chunk_size);
        cache_put(c, e);
        return 0;
    }
    r = bsnap_reader_read_chunk(src->reader, idx, dst);
    if (r == 1)
        memset(dst, 0, src->chunk_size);
    return r < 0 ? r : 0;
}

void cache_put(struct cache *c, struct centry *e)
{
    pthread_mutex_lock(&c->lock);
    if (--e->pins == 0) {
        if (!e->indexed)
            entry_free(c, e);
        else
            evict(c);
    }
    pthread_mutex_unlock(&c->lock);
}

const uint8_t *centry_data(const struct centry *e)
{
    return e->data;
}

size_t centry_len(const struct centry *e)
{
    return e->len;
}

/* ---- readahead ---- */

void cache_prefetch(struct cache *c, struct source *src, uint64_t first, uint64_t last)
{
    if (c->nworkers == 0 || src->chunk_size == 0)
        return;
    uint64_t nchunks = (src->size + src->chunk_size - 1) / src->chunk_size;
    if (last >= nchunks)
        last = nchunks - 1;
    pthread_mutex_lock(&c->lock);
    for (uint64_t i = first; i <= last && i < nchunks; i++) {
        struct centry key = {.serial = src->serial, .idx = i};
        if (tfind(&key, &c->index, entry_cmp))
            continue; /* cached or being loaded */
        if (c->qlen == QUEUE_LEN) {
            c->st.dropped++;
            continue;
        }
        struct job *j = &c->queue[(c->qhead + c->qlen) % QUEUE_LEN];
        j->src = source_ref(src);
        j->idx = i;
        c->qlen++;
    }
    pthread_cond_broadcast(&c->work);
    pthread_mutex_unlock(&c->lock);
}

static void *worker(void *arg)
{
    struct cache *c = arg;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->stop && c->qlen == 0)
            pthread_cond_wait(&c->work, &c->lock);
        if (c->stop)
            break;
        struct job j = c->queue[c->qhead];
        c->qhead = (c->qhead + 1) % QUEUE_LEN;
        c->qlen--;
        c->st.prefetched++;
        pthread_mutex_unlock(&c->lock);

        struct centry *e;
        if (cache_get(c, j.src, j.idx, &e) == 0)
            cache_put(c, e);
        source_unref(j.src);

        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

struct cache *cache_new(uint64_t max_bytes, unsigned workers)
{
    struct cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->max_bytes = max_bytes;
    c->zero_len = BSNAP_CHUNK_SIZE_MAX;
    c->zero = calloc(1, c->zero_len);
    c->workers = calloc(workers ? workers : 1, sizeof(*c->workers));
    if (!c->zero || !c->workers) {
        free(c->zero);
        free(c->workers);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->loaded, NULL);
    pthread_cond_init(&c->work, NULL);
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&c->workers[i], NULL, worker, c) != 0)
            break;
        c->nworkers++;
    }
    return c;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_broadcast(&c->work);
    pthread_mutex_unlock(&c->lock);
    for (unsigned i = 0; i < c->nworkers; i++)
        pthread_join(c->workers[i], NULL);
    while (c->qlen > 0) {
        source_unref(c->queue[c->qhead].src);
        c->qhead = (c->qhead + 1) % QUEUE_LEN;
        c->qlen--;
    }
    while (c->head) {
        struct centry *e = c->head;
        entry_remove(c, e);
        entry_free(c, e);
    }
    while (c->pool_len > 0)
        free(c->pool[--c->pool_len]);
    free(c->pool);
    pthread_cond_destroy(&c->work);
    pthread_cond_destroy(&c->loaded);
    pthread_mutex_destroy(&c->lock);
    free(c->workers);
    free(c->zero);
    free(c);
}

void cache_get_stats(struct cache *c, struct cache_stats *ret)
{
    pthread_mutex_lock(&c->lock);
    *ret = c->st;
    ret->bytes = c->bytes;
    ret->entries = c->entries;
    pthread_mutex_unlock(&c->lock);
}
