/* fuzz-page.c - libFuzzer harness for block-map pages: what the engine does
 * with a page whose 4096 ids are arbitrary bytes (a damaged or hostile
 * store).
 *
 * The input, zero-padded or cut to 64 KiB, is a page.  The harness keeps
 * one store (in $TMPDIR, removed at exit), stores the page in it as a real
 * page record, and walks it as the root of a depth-1 tree (its ids are data
 * chunks) and of a depth-2 tree (its ids are leaf pages, none of which
 * exists).  Checks: the page id is 0 exactly for the zero page; lookup,
 * next data/hole and diff agree with a direct scan of the ids; walking into
 * children that are not in the index fails with -EIO, never a crash or
 * zeros; releasing the page fails cleanly the same way.  The page record
 * and its index entry are removed after each input. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockmap.h"
#include "error.h"
#include "index.h"
#include "pack.h"
#include "store.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bsnap_store *store;
static char dir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    bsnap_store_close(store);
    store = NULL;
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void open_store(void)
{
    const char *t = getenv("TMPDIR");
    bsnap_store_config cfg = {.chunk_size = 4096};
    char path[300];

    snprintf(dir, sizeof dir, "%s/bsnap-fuzz-page-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/store", dir);
    if (bsnap_store_open(path, BSNAP_STORE_CREATE, &cfg, &store) < 0)
        abort();
    atexit(cleanup);
}

/* Store @page as a page record indexed with @refcount; return its entry. */
static void put_page(const chunk_id *page, const chunk_id *id, uint64_t refcount,
                     struct chunk_entry *ret)
{
    static uint8_t enc[BM_PAGE_BYTES + BM_PAGE_BYTES / 255 + 64];
    struct pack_writer *w = NULL;
    meta_txn *txn = NULL;
    uint32_t flags = CHUNK_PAGE;
    size_t n = chunk_encode(page, BM_PAGE_BYTES, enc, sizeof enc, &flags);

    ret->refcount = refcount;
    if (pack_writer_open(store, false, &w) < 0 ||
        pack_writer_append(w, id, flags, enc, (uint32_t)n, BM_PAGE_BYTES, &ret->loc) < 0 ||
        pack_writer_sync(w) < 0)
        abort();
    pack_writer_close(w);
    if (meta_txn_begin(store->meta, true, &txn) < 0 || index_put(txn, id, ret) < 0 ||
        meta_txn_commit(txn) < 0)
        abort();
}

static void drop_page(const chunk_id *id, const struct chunk_entry *e)
{
    meta_txn *txn = NULL;
    char *p = pack_path(store, e->loc.pack);

    if (meta_txn_begin(store->meta, true, &txn) < 0 || meta_del(txn, T_CHUNKS, id->b, 16) < 0 ||
        meta_txn_commit(txn) < 0)
        abort();
    if (!p || truncate(p, (off_t)e->loc.offset) < 0)
        abort();
    free(p);
}

static int count_diff(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b)
{
    const chunk_id *page = ((const chunk_id **)ud)[0];
    uint64_t *seen = ((uint64_t **)ud)[1];

    /* a is the empty tree: every report is a non-zero id, in order */
    if (!chunk_id_is_zero(a) || idx >= BM_FANOUT || !chunk_id_eq(b, &page[idx]) ||
        chunk_id_is_zero(b) || (seen[0] && idx <= seen[1]))
        abort();
    seen[0]++;
    seen[1] = idx;
    return 0;
}

static void walk_depth1(const chunk_id *page, const chunk_id *id)
{
    struct bm_tree t = {.root = *id, .depth = 1, .nchunks = BM_FANOUT};
    uint64_t first_data = UINT64_MAX, first_hole = UINT64_MAX, nonzero = 0, got;
    uint64_t seen[2] = {0, 0};
    const void *ud[2] = {page, seen};
    chunk_id c;
    int r;

    for (uint32_t i = 0; i < BM_FANOUT; i++) {
        if (!chunk_id_is_zero(&page[i])) {
            nonzero++;
            if (first_data == UINT64_MAX)
                first_data = i;
        } else if (first_hole == UINT64_MAX) {
            first_hole = i;
        }
    }
    for (uint32_t i = 0; i < BM_FANOUT; i += 511) {
        if (bm_lookup(store, NULL, &t, i, 0, &c) < 0 || !chunk_id_eq(&c, &page[i]))
            abort();
    }
    r = bm_next(store, &t, 0, true, &got);
    if (r == 0 ? got != first_data : (r != -ENXIO || first_data != UINT64_MAX))
        abort();
    r = bm_next(store, &t, 0, false, &got);
    if (r == 0 ? got != first_hole : (r != -ENXIO || first_hole != UINT64_MAX))
        abort();
    if (bm_diff(store, NULL, &t, count_diff, ud) < 0 || seen[0] != nonzero)
        abort();
}

static void walk_depth2(const chunk_id *page, const chunk_id *id)
{
    struct bm_tree t = {.root = *id, .depth = 2, .nchunks = (uint64_t)BM_FANOUT * BM_FANOUT};
    uint32_t first = 0;
    uint64_t got;
    chunk_id c;
    int r;

    while (chunk_id_is_zero(&page[first])) /* the page is not all zero */
        first++;
    /* level 1 is the page's own ids; nothing below them exists */
    if (bm_lookup(store, NULL, &t, (uint64_t)first * BM_FANOUT, 1, &c) < 0 ||
        !chunk_id_eq(&c, &page[first]))
        abort();
    r = bm_lookup(store, NULL, &t, (uint64_t)first * BM_FANOUT, 0, &c);
    if (r != -EIO || strcmp(bsnap_last_error()->code, "Store.Corrupt") != 0)
        abort();
    r = bm_next(store, &t, 0, true, &got);
    if (r != -EIO)
        abort();
    /* a hole search may stop before the first child it cannot read */
    r = bm_next(store, &t, 0, false, &got);
    if (r != -EIO && !(r == 0 && got < (uint64_t)first * BM_FANOUT + BM_FANOUT))
        abort();
}

/* Dropping the last reference releases the children: none is indexed. */
static void release(const chunk_id *page, const chunk_id *id)
{
    meta_txn *txn = NULL;
    bool any = false;
    int r;

    for (uint32_t i = 0; i < BM_FANOUT && !any; i++)
        any = !chunk_id_is_zero(&page[i]);
    if (meta_txn_begin(store->meta, true, &txn) < 0)
        abort();
    r = index_decref(store, txn, id);
    if (any ? r != -EIO : r != 0)
        abort();
    meta_txn_abort(txn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static chunk_id page[BM_FANOUT];
    struct chunk_entry e;
    chunk_id id;
    bool zero;

    if (!store)
        open_store();
    memset(page, 0, sizeof page);
    memcpy(page, data, size < sizeof page ? size : sizeof page);
    zero = mem_is_zero(page, sizeof page);
    bm_page_id(store, NULL, page, &id);
    if (chunk_id_is_zero(&id) != zero)
        abort();
    for (uint32_t i = 0; i < BM_FANOUT; i++) {
        char hex[33];
        chunk_id back;
        chunk_id_hex(&page[i], hex);
        if (strlen(hex) != 32 || !hex_decode(hex, 16, back.b) || !chunk_id_eq(&back, &page[i]))
            abort();
    }
    if (zero)
        return 0; /* the zero page is never stored */
    put_page(page, &id, 1, &e);
    walk_depth1(page, &id);
    walk_depth2(page, &id);
    release(page, &id);
    drop_page(&id, &e);
    /* Forget the cached pages: a later input naming this page's id as a
     * child must find it missing, as the index says. */
    page_cache_free(store->pages);
    if (page_cache_new(256, &store->pages) < 0)
        abort();
    return 0;
}
