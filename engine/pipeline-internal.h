/* pipeline-internal.h - the inside of the snapshot pipeline, shared by
 * pipeline.c and mapwriter.c; the rest of the engine sees only pipeline.h.
 *
 * pipeline.c: one reader thread walks the volume in items of up to 2 MiB,
 * skipping holes (source_seek(): SEEK_DATA/SEEK_HOLE, an NBD server's
 * base:allocation) or, with a changed-block list,
 * taking only the listed chunks, and attaches the parent's ids; N workers
 * each read an item in 256 KiB pieces and, while a piece is in the core's
 * cache, hash each chunk, compare it with the parent's id, look it up in
 * the index and compress what is new.  Items carry sequence numbers; a
 * bounded pool of them limits memory.
 *
 * mapwriter.c: the calling thread takes the items back in volume order,
 * appends new chunks to its pack, fills the block map's leaf pages and
 * stores each finished page, and commits index entries in batches after an
 * fdatasync of the pack (data before metadata).
 */
#ifndef BSNAP_PIPELINE_INTERNAL_H
#define BSNAP_PIPELINE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "blockmap.h"
#include "chunk.h"
#include "crypt.h"
#include "error.h"
#include "pack.h"

#define BATCH_BYTES (2u << 20)     /* one item: the work a worker takes at a time */
#define PIECE_BYTES (256u << 10)   /* one read request: well inside a core's L2 */
#define COMMIT_BYTES (64ull << 20) /* sync + commit after this many new bytes */
#define COMMIT_ENTRIES 8192        /* ... or this many new index entries */

enum chunk_state { CS_ZERO, CS_SAME, CS_EXISTS, CS_NEW };
enum item_kind { IT_DATA, IT_HOLE, IT_PARENT, IT_END };

struct item {
    enum item_kind kind;
    uint64_t seq;
    uint64_t first, count; /* chunk indexes */
    bool have_parent;
    uint64_t read_bytes; /* DATA: bytes read from the volume */
    /* DATA only; buffers sized for the batch */
    chunk_id *ids, *parent_ids;
    chunk_id *src_ids; /* a copy: the source's ids */
    uint8_t *xfresh;   /* a copy: 1 where the translation is to be recorded */
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

/* A copy's translation: source chunk id -> this store's chunk id. */
struct xlate {
    chunk_id src, dst;
};

/* The T_CHUNK_XLATE key of source chunk @id of the store @uuid. */
#define XLATE_KEY_BYTES 32
void xlate_key(const uint8_t uuid[16], const chunk_id *id, uint8_t out[XLATE_KEY_BYTES]);

struct pipeline {
    bsnap_store *s;
    /* An encrypted lineage's key (ids keyed and records sealed with it),
     * or NULL: the store's plain ids and records. */
    const struct crypt_key *key;
    const bsnap_run_options *run; /* progress and cancel, or NULL */
    struct source *vol;           /* the volume (source.h); NULL for a copy */
    uint64_t size, nchunks;
    uint32_t cs;
    size_t batch_chunks; /* chunks of one item */
    size_t piece_chunks; /* chunks a worker reads at a time */
    unsigned nworkers;
    bool sparse_ok;
    /* a copy: the source snapshot's reader and store uuid */
    bsnap_reader *src;
    uint8_t src_uuid[16];
    /* the reader thread's: the source leaf last loaded (attach_source) */
    chunk_id *src_leaf;
    uint64_t src_leaf_idx;
    struct xlate *xpend; /* translations to commit with the next batch */
    size_t nxpend, xpend_cap;
    /* bytes read from the source since the last commit: a copy commits
     * after COMMIT_BYTES of them too, so a killed copy's rerun reads again
     * at most that much, however well the data compresses or dedups */
    uint64_t src_read_pend;
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

/* Room for one chunk's stored form in an item's out buffer. */
static inline size_t item_out_bound(const struct pipeline *p)
{
    return chunk_encode_bound(p->cs) + CRYPT_OVERHEAD;
}

/* pipeline.c */
/* The stored form of @len bytes of @src, chunk or page (*@ret_flags holds
 * CHUNK_PAGE or 0 on entry) of id @id, into @dst (room for
 * chunk_encode_bound(len) + CRYPT_OVERHEAD): compressed, and sealed when
 * @p has a key.  Sets *@ret_len and *@ret_flags.  -EIO from libcrypto. */
int chunk_store_encode(const struct pipeline *p, const chunk_id *id, const void *src, size_t len,
                       uint8_t *dst, uint32_t *ret_len, uint32_t *ret_flags);
int pipeline_fail(struct pipeline *p, int err);
bool pipeline_cancelled(const struct pipeline *p);
bool idset_has(const struct idset *s, const chunk_id *id);
void idset_add(struct idset *s, const chunk_id *id);
void item_put_free(struct pipeline *p, struct item *it);

/* mapwriter.c */
int mapwriter_run(struct pipeline *p);
int mapwriter_commit(struct pipeline *p);
/* bm_store_page_func: store a page unless the store or batch has it. */
int mapwriter_store_page(void *ud, const chunk_id *page, chunk_id *ret_id);

#endif
