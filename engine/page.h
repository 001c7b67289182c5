/* page.h - the pages of the list-describe calls: MaxResults and NextToken.
 *
 * A list-describe call walks its records in id order and returns at most a
 * page of them; the NextToken it hands back names the last id returned, so
 * the next call starts after it without loading what came before.  Tokens
 * are opaque to callers and checked here: a token carries a keyed hash
 * (XXH3-64 with the store's secret) of its id, the kind of resource and a
 * digest of the query's filters, so that an altered token, one of another
 * store, kind or query is refused as InvalidParameterValue, never followed.
 */
#ifndef BSNAP_PAGE_H
#define BSNAP_PAGE_H

#include <stdint.h>

#include "blocksnap.h"
#include "record.h" /* enum page_kind */

struct page {
    enum page_kind kind;
    uint32_t limit;           /* results per page; 0: no limit */
    char after[BSNAP_ID_MAX]; /* "": from the start; else results have ids > this */
    uint64_t query;           /* digest of the filters (and owners) */
};

/* Check @o (NULL: every record) for a call of @kind and fill @ret: the ids
 * may not come with paging (InvalidParameterCombination), MaxResults is 0
 * or at least 5 (above 1000 it is 1000), the token must be this query's
 * (InvalidParameterValue).  @owners: describe-images' owners (part of the
 * query), else NULL. */
int page_begin(const bsnap_store *s, enum page_kind kind, const bsnap_describe_options *o,
               const char *const *owners, size_t nowners, struct page *ret);

/* The NextToken that starts the page after @last_id. */
void page_token(const bsnap_store *s, const struct page *p, const char *last_id,
                char out[BSNAP_NEXT_TOKEN_MAX + 1]);

/* Describe @n records (struct snapshot_rec or volume_rec as
 * @pg->kind says) of @size bytes each, sorted by id, as one page of @pg:
 * records up to the token's id are skipped, @o's filters applied, and a
 * NextToken added when more remain.  @ret_doc as the describe calls. */
int page_describe_array(const bsnap_store *s, const struct page *pg,
                        const bsnap_describe_options *o, const void *recs, size_t size, size_t n,
                        json_t **ret_doc);

/* Describe the records whose ids walk @w yields (meta.h, xref.h), one at a
 * time: @load reads id's record into a zeroed @size-byte buffer and
 * returns 1, or 0 to leave it out (absent, or not the caller's to list),
 * or -errno; @clear frees what it holds.  Otherwise as
 * page_describe_array(). */
struct meta_txn;
struct xref_walk;
typedef int (*page_load_func)(struct meta_txn *txn, const char *id, void *ret_rec);
int page_describe_walk(const bsnap_store *s, const struct page *pg, const bsnap_describe_options *o,
                       struct meta_txn *txn, struct xref_walk *w, size_t size, page_load_func load,
                       void (*clear)(void *), json_t **ret_doc);

#endif
