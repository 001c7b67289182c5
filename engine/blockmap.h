/* blockmap.h - the block map: a Merkle tree of chunk ids.
 *
 * Level 0 is the volume's chunks.  A page holds BM_FANOUT (4096) ids of the
 * level below: leaf pages (level 1) name data chunks, inner pages name
 * pages.  Pages are chunks themselves (hashed with the page key), so two
 * snapshots share every unchanged subtree and an incremental snapshot
 * writes only the pages on paths to changed chunks.  An all-zero page has
 * id 0 and is never stored, so sparse regions cost nothing at any level.
 *
 * A tree is (root, depth, nchunks); depth is the smallest d >= 1 with
 * 4096^d >= nchunks (0 for an empty volume) and so depends only on the
 * size.  Trees of different depths compare as if the shallower one's root
 * were child 0 of a chain of otherwise empty pages.
 *
 * Pages read through the page cache are verified like any chunk.
 */
#ifndef BSNAP_BLOCKMAP_H
#define BSNAP_BLOCKMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "meta.h"

/* BM_FANOUT and BM_PAGE_BYTES: chunk.h */

struct bm_tree {
    chunk_id root;
    uint32_t depth;
    uint64_t nchunks;
};

uint32_t bm_depth_for(uint64_t nchunks);
/* Chunks covered by one node at @level (4096^level). */
uint64_t bm_span(uint32_t level);

/* Bounded cache of verified pages, shared by a store's threads. */
struct page_cache;
int page_cache_new(size_t pages, struct page_cache **ret);
void page_cache_free(struct page_cache *c);

/* Load page @id into @out (BM_FANOUT ids); id 0 gives all zeros.  @txn is
 * used to find the page (NULL: a short read transaction).  -EIO, recorded,
 * for a missing or damaged page. */
int bm_page_load(bsnap_store *s, meta_txn *txn, const chunk_id *id, chunk_id *out);

/* The node covering chunk @idx at @level (0: the chunk id itself, 1: its
 * leaf page...).  Zero beyond the tree. */
int bm_lookup(bsnap_store *s, meta_txn *txn, const struct bm_tree *t, uint64_t idx, uint32_t level,
              chunk_id *ret_id);

/* Load the leaf page covering chunk @idx (its 4096 ids, zero past the
 * tree). */
int bm_load_leaf(bsnap_store *s, meta_txn *txn, const struct bm_tree *t, uint64_t leaf,
                 chunk_id *out);

struct crypt_key;
/* Compute a page's id: 0 for an all-zero page, else keyed with @key (an
 * encrypted lineage's, NULL: the store's) as crypt_hash(). */
void bm_page_id(const bsnap_store *s, const struct crypt_key *key, const chunk_id *page,
                chunk_id *ret_id);

/* Build the inner levels over @nleaves leaf ids for a tree of @depth and
 * return its root.  @store_page is called for every non-zero inner page,
 * bottom-up, and returns its id (storing it as needed). */
typedef int (*bm_store_page_func)(void *ud, const chunk_id *page, chunk_id *ret_id);
int bm_build(const chunk_id *leaves, uint64_t nleaves, uint32_t depth,
             bm_store_page_func store_page, void *ud, chunk_id *ret_root);

/* Call @fn for every chunk index where @a and @b differ, in increasing
 * order, skipping equal subtrees.  @a may be NULL (an empty tree). */
typedef int (*bm_diff_func)(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b);
int bm_diff(bsnap_store *s, const struct bm_tree *a, const struct bm_tree *b, bm_diff_func fn,
            void *ud);

/* The first chunk index >= @idx that is non-zero (@data) or zero (!@data),
 * below t->nchunks; -ENXIO when there is none. */
int bm_next(bsnap_store *s, const struct bm_tree *t, uint64_t idx, bool data, uint64_t *ret_idx);

/* Visit every page of a tree once per occurrence (depth first): @fn gets
 * the page id, its level and its content.  Used by verify. */
typedef int (*bm_page_visit_func)(void *ud, const chunk_id *id, uint32_t level,
                                  const chunk_id *content);

#endif
