/* bsfront-cache.h - a bounded cache of decompressed chunks, and readahead:
 * what the read-only front ends (the FUSE view, the nbdkit plugin) read a
 * snapshot through, over bsnap_reader_read_chunk(), so that both share one
 * verified chunk path.
 *
 * Chunks are cached by (volume serial, chunk index): a snapshot never
 * changes, so an entry never goes stale, and every view of one snapshot (its
 * .img file, its partition files) shares the same entries.  The cache holds
 * at most about max_bytes of chunk data; entries being read or loaded are
 * pinned and never evicted, the rest go least-recently-used first.  An
 * all-zero chunk costs no memory: it points at one shared zero buffer.
 *
 * One chunk is loaded once: a second reader of a chunk that is being loaded
 * waits for the first instead of reading it again.  A failed load is not
 * cached; the next read tries again (and fails again with EIO for a damaged
 * chunk: the engine logged chunk, pack and offset).
 *
 * Readahead: cache_prefetch() queues chunks for a small pool of worker
 * threads that load them in the background.  The queue is bounded; when it
 * is full, prefetch requests are dropped (they are hints).
 *
 * All calls are thread-safe.
 */
#ifndef BSNAP_FRONT_CACHE_H
#define BSNAP_FRONT_CACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "blocksnap.h"

/* A reader the cache may load from: shared by an open file and the
 * prefetch jobs queued for it, closed when the last of them lets go. */
struct source {
    bsnap_reader *reader;
    uint64_t serial;     /* cache key of the snapshot */
    uint32_t chunk_size; /* bytes */
    uint64_t size;       /* volume size */
    atomic_uint refs;
};

struct source *source_new(bsnap_reader *reader, uint64_t serial, uint32_t chunk_size);
struct source *source_ref(struct source *s);
void source_unref(struct source *s);

struct cache;
struct centry;

/* @max_bytes of chunk data; @workers prefetch threads (0: no readahead).
 * Returns NULL on allocation failure. */
struct cache *cache_new(uint64_t max_bytes, unsigned workers);
/* Stop the workers, drop every queued job and entry.  No entry may be
 * pinned.  NULL is a no-op. */
void cache_free(struct cache *c);

/* Return chunk @idx of @src, pinned, loading it if needed.  The data stays
 * valid until cache_put().  Errors: -EIO, -ENOMEM (and whatever the reader
 * returned). */
int cache_get(struct cache *c, struct source *src, uint64_t idx, struct centry **ret);
void cache_put(struct cache *c, struct centry *e);
/* Chunk @idx of @src (a whole one: not a short last chunk, -EINVAL) into
 * @dst, which holds chunk_size bytes: copied from the cache when it is there
 * or being loaded, else read and verified straight into @dst without
 * entering the cache.  For reads that cover whole chunks and will not come
 * back to them soon (a copy of the volume): no cache buffer is allocated
 * (fresh memory costs a page fault per page), no copy is made, and what the
 * cache holds is not evicted.  Errors as cache_get(). */
int cache_read_into(struct cache *c, struct source *src, uint64_t idx, uint8_t *dst);
const uint8_t *centry_data(const struct centry *e);
size_t centry_len(const struct centry *e);

/* Queue chunks [@first, @last] of @src for loading in the background. */
void cache_prefetch(struct cache *c, struct source *src, uint64_t first, uint64_t last);

/* Counters for the debug log. */
struct cache_stats {
    uint64_t hits, misses, prefetched, dropped, evicted, bytes, entries;
    uint64_t direct; /* cache_read_into() reads past the cache */
};
void cache_get_stats(struct cache *c, struct cache_stats *ret);

#endif
