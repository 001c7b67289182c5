/* gc.c - reclaim space.
 *
 * Under the store's exclusive lock (no writer runs, so nothing is in
 * flight): (1) abandoned pending snapshots are dropped and the pins of dead
 * processes released; (2) orphans (entries written by runs that never
 * completed) release their children, and every entry with refcount 0 leaves
 * the index, in one transaction; (3) packs are measured against the index:
 * a pack with no live record is deleted, one whose dead share passes the
 * caller's threshold (max_unused) is rewritten (live records copied to a
 * fresh pack, synced, the index repointed in one transaction, then the old
 * file unlinked): rewriting a 64 MiB pack to free one dead chunk would
 * write far more than it frees.  A crash at any point leaves a
 * store that verifies; the next gc finishes the work.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockmap.h"
#include "catalog.h"
#include "cow-check.h"
#include "copy.h"
#include "ebs.h"
#include "error.h"
#include "lineage.h"
#include "fault.h"
#include "idmap.h"
#include "index.h"
#include "keys.h"
#include "recycle.h"
#include "pack.h"
#include "reader.h"
#include "store.h"
#include "util.h"

#define MAX_DEPTH_GUARD 8 /* 4096^8 chunks: past the largest volume */

struct pack_stat {
    uint32_t pack;
    uint64_t file_bytes;
    uint64_t live_bytes;
    bool rewrite; /* its dead share passed the threshold */
};

struct move {
    chunk_id id;
    struct chunk_loc old, new;
};

static int cmp_pack(const void *a, const void *b)
{
    const struct pack_stat *x = a, *y = b;
    return x->pack < y->pack ? -1 : x->pack > y->pack;
}

static struct pack_stat *find_pack(struct pack_stat *ps, size_t n, uint32_t pack)
{
    struct pack_stat key = {.pack = pack};
    return n ? bsearch(&key, ps, n, sizeof *ps, cmp_pack) : NULL;
}

static int list_packs(bsnap_store *s, struct pack_stat **ret, size_t *ret_n)
{
    DIR *d = opendir(s->packs_dir);
    struct pack_stat *ps = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;

    if (!d)
        return bsnap_fail(-errno, "Store.Error", "%s: %m", s->packs_dir);
    while ((e = readdir(d))) {
        _cleanup_free_ char *p = NULL;
        struct stat st;
        uint32_t num;

        if (!pack_name_parse(e->d_name, &num))
            continue;
        p = pack_path(s, num);
        if (!p || stat(p, &st) < 0)
            continue;
        struct pack_stat *np = array_grow(ps, n, &cap, sizeof *np, 64);
        if (!np) {
            free(ps);
            closedir(d);
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        }
        ps = np;
        ps[n++] = (struct pack_stat){num, (uint64_t)st.st_size, 0, false};
    }
    closedir(d);
    if (n) /* qsort wants a non-NULL array even for none */
        qsort(ps, n, sizeof *ps, cmp_pack);
    *ret = ps;
    *ret_n = n;
    return 0;
}

static uint64_t total_bytes(const struct pack_stat *ps, size_t n)
{
    uint64_t t = 0;

    for (size_t i = 0; i < n; i++)
        t += ps[i].file_bytes;
    return t;
}

struct id_list {
    chunk_id *v;
    size_t n, cap;
    bool orphans_only;
};

static int collect_cb(void *ud, const chunk_id *id, const struct chunk_entry *e)
{
    struct id_list *l = ud;

    if (!e || e->refcount != 0 || (l->orphans_only && (e->loc.flags & CHUNK_DEAD)))
        return 0;
    chunk_id *nv = array_grow(l->v, l->n, &l->cap, sizeof *nv, 1024);

    if (!nv)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    l->v = nv;
    l->v[l->n++] = *id;
    return 0;
}

/* Append the ids of entries at refcount 0 (only orphans: not yet DEAD). */
static int collect_ids(meta_txn *txn, bool orphans_only, struct id_list *l)
{
    l->orphans_only = orphans_only;
    return index_foreach(txn, collect_cb, l);
}

/* ---- the guard ----
 *
 * gc deletes what the index says nothing names.  The index can be wrong
 * without the file's structure being damaged (a flipped bit in a key or a
 * refcount: metacheck cannot see it), and gc would then delete data a
 * snapshot needs.  So before anything is removed, every page and chunk the
 * completed snapshots and the live pins name must have a live index entry
 * (refcount > 0, not DEAD); if one has not, gc removes nothing and says to
 * repair.  Each page is read once. */

struct guard {
    bsnap_store *s;
    meta_txn *txn;
    struct idmap seen; /* pages walked */
    chunk_id *pages[MAX_DEPTH_GUARD];
};

static int guard_walk(struct guard *g, const chunk_id *id, const char *who, unsigned depth)
{
    struct chunk_entry e;
    struct idmap_entry *m;
    char hex[33];
    int r;

    if (chunk_id_is_zero(id))
        return 0;
    r = index_get(g->txn, id, &e);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0 && e.refcount && !(e.loc.flags & (CHUNK_DEAD | CHUNK_MISSING)) &&
        (r = pack_record_at(g->s, id, &e.loc)) <= 0) {
        /* a live entry whose location is wrong: repacking by it would drop
         * the real record */
        if (r < 0)
            return r;
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "gc: the chunk index is damaged: the entry of %s, named by %s, points "
                          "at pack %u offset %llu, which does not hold it; nothing was removed: "
                          "run @{RepairStore}",
                          hex, who, e.loc.pack, (unsigned long long)e.loc.offset);
    }
    if (r == 1)
        r = 0;
    if (r == -ENOENT || e.refcount == 0 || (e.loc.flags & CHUNK_DEAD)) {
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "gc: the chunk index is damaged: %s %s, named by %s, %s; nothing was "
                          "removed: run @{RepairStore}",
                          (r == 0 && (e.loc.flags & CHUNK_PAGE)) ? "page" : "chunk", hex, who,
                          r == -ENOENT                 ? "has no entry"
                          : (e.loc.flags & CHUNK_DEAD) ? "is marked released"
                                                       : "has refcount 0");
    }
    /* a lost page (see index.h) has nothing below it to walk */
    if (!(e.loc.flags & CHUNK_PAGE) || (e.loc.flags & CHUNK_MISSING))
        return 0;
    if (idmap_get(&g->seen, id->b))
        return 0;
    if (!(m = idmap_put(&g->seen, id->b)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (depth >= MAX_DEPTH_GUARD)
        return bsnap_fail(-EIO, "Store.Corrupt", "gc: block map of %s deeper than %d levels", who,
                          MAX_DEPTH_GUARD);
    if (!g->pages[depth] && !(g->pages[depth] = alloc_aligned(BM_PAGE_BYTES)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if ((r = bm_page_load(g->s, g->txn, id, g->pages[depth])) < 0)
        return r;
    for (size_t i = 0; i < BM_FANOUT; i++)
        if ((r = guard_walk(g, &g->pages[depth][i], who, depth + 1)) < 0)
            return r;
    return 0;
}

static int guard_check(bsnap_store *s, meta_txn *txn, const struct snapshot_rec *recs, size_t n)
{
    struct guard g = {.s = s, .txn = txn};
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r = 0;

    for (size_t i = 0; i < n && r >= 0; i++)
        if (recs[i].state == BSNAP_SNAPSHOT_COMPLETED)
            r = guard_walk(&g, &recs[i].root, recs[i].id, 0);
    if (r >= 0 && (r = meta_cursor_open(txn, T_PINS, &cur)) >= 0) {
        for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
             r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
            chunk_id root;
            if (vlen < sizeof root)
                continue;
            memcpy(&root, v, sizeof root);
            if ((r = guard_walk(&g, &root, "a reader's pin", 0)) < 0)
                break;
        }
        meta_cursor_close(cur);
        if (r == -ENOENT)
            r = 0;
    }
    idmap_free(&g.seen);
    for (size_t i = 0; i < MAX_DEPTH_GUARD; i++)
        free(g.pages[i]);
    return r;
}

/* Steps 1 and 2, in one write transaction. */
static int sweep_index(bsnap_store *s, bsnap_gc_stats *st)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec *recs = NULL;
    struct id_list ids = {0};
    size_t n = 0;
    uint64_t reaped = 0;
    int r;

    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        return r;
    /* EBS direct snapshots past their timeout become error (removed
     * below); those within it stay pending, their chunks kept. */
    r = ebs_gc_sweep(s, txn, NULL);
    if (r < 0)
        return r;
    r = catalog_snapshot_all(txn, &recs, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r >= 0; i++) {
        if (recs[i].state == BSNAP_SNAPSHOT_COMPLETED)
            continue;
        if (recs[i].state == BSNAP_SNAPSHOT_PENDING &&
            (r = ebs_state_get(txn, recs[i].id, NULL)) != 0)
            continue; /* being written through EBS direct (or an error, r < 0) */
        r = catalog_snapshot_delete(txn, recs[i].id);
        st->snapshots_removed++;
        bsnap_debug("gc", "snapshot %s: abandoned while %s, removed", recs[i].id,
                    recs[i].state == BSNAP_SNAPSHOT_PENDING ? "pending" : "in error");
    }
    if (r >= 0)
        r = pins_reap(s, txn, &reaped);

    /* Orphans first (they still hold their children), then, once the
     * guard agrees, everything at zero goes. */
    if (r >= 0)
        r = collect_ids(txn, true, &ids);
    for (size_t i = 0; r >= 0 && i < ids.n; i++)
        r = index_release_orphan(s, txn, &ids.v[i]);
    if (r >= 0)
        r = guard_check(s, txn, recs, n);
    snapshot_recs_free(recs, n);
    if (r < 0)
        goto out;
    ids.n = 0;
    r = collect_ids(txn, false, &ids);
    for (size_t i = 0; r >= 0 && i < ids.n; i++)
        r = meta_del(txn, T_CHUNKS, ids.v[i].b, 16);
    if (r < 0)
        goto out;
    st->chunks_freed = ids.n;
    {
        /* translations of copies that name a chunk just removed */
        uint64_t pruned = 0;
        r = copy_prune(txn, &pruned);
        if (r < 0)
            goto out;
        if (pruned)
            bsnap_debug("gc", "%llu copy translations removed", (unsigned long long)pruned);
    }
    if (fault_hit("gc-step")) {
        r = bsnap_fail(-EIO, "Store.Error", "gc: injected failure");
        goto out;
    }
    r = meta_txn_commit(steal_ptr(txn));
out:
    free(ids.v);
    return r;
}

struct repack_ctx {
    struct pack_stat *ps;
    size_t np;
    struct move *mv;
    size_t nmv, cap;
};

static int live_cb(void *ud, const chunk_id *id, const struct chunk_entry *e)
{
    struct repack_ctx *c = ud;
    struct pack_stat *p =
        e && !(e->loc.flags & CHUNK_MISSING) ? find_pack(c->ps, c->np, e->loc.pack) : NULL;

    (void)id;
    if (p)
        p->live_bytes += PACK_RECORD_HEADER_BYTES + e->loc.stored_len;
    return 0;
}

/* Collect the entries of the packs to rewrite. */
static int move_cb(void *ud, const chunk_id *id, const struct chunk_entry *e)
{
    struct repack_ctx *c = ud;
    struct pack_stat *p =
        e && !(e->loc.flags & CHUNK_MISSING) ? find_pack(c->ps, c->np, e->loc.pack) : NULL;

    if (!p || !p->rewrite)
        return 0;
    struct move *nm = array_grow(c->mv, c->nmv, &c->cap, sizeof *nm, 1024);

    if (!nm)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    c->mv = nm;
    c->mv[c->nmv].id = *id;
    c->mv[c->nmv++].old = e->loc;
    return 0;
}

/* Step 3: measure, delete and rewrite packs: a pack with no live record
 * goes; one whose dead bytes are more than @max_unused percent of it is
 * rewritten; the dead bytes of the others stay, counted in @st. */
static int repack(bsnap_store *s, bsnap_gc_stats *st, struct pack_stat *ps, size_t np,
                  unsigned max_unused)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct repack_ctx rp = {.ps = ps, .np = np};
    struct pack_writer *pw = NULL;
    struct move *mv = NULL;
    size_t nmv = 0;
    uint8_t *buf = NULL;
    int r;

    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = index_foreach(txn, live_cb, &rp);
    if (r < 0)
        return r;

    /* Which packs hold dead bytes?  Those with none live go at once; the
     * others are rewritten only past the threshold. */
    for (size_t i = 0; i < np; i++) {
        if (ps[i].live_bytes == 0) {
            _cleanup_free_ char *path = pack_path(s, ps[i].pack);
            if (path && unlink(path) == 0) {
                pack_cache_forget(s, ps[i].pack);
                st->packs_removed++;
                bsnap_debug("gc", "pack %u: no live records, removed", ps[i].pack);
            }
            ps[i].file_bytes = 0;
        } else if (ps[i].live_bytes + PACK_HEADER_BYTES < ps[i].file_bytes) {
            uint64_t dead = ps[i].file_bytes - PACK_HEADER_BYTES - ps[i].live_bytes;
            /* (file_bytes is far below 2^64 / 100) */
            ps[i].rewrite = dead * 100 > (uint64_t)max_unused * ps[i].file_bytes;
            if (!ps[i].rewrite) {
                st->packs_unreclaimed++;
                st->bytes_unreclaimed += dead;
                bsnap_debug("gc", "pack %u: %llu of %llu bytes dead, at most %u %%: kept",
                            ps[i].pack, (unsigned long long)dead,
                            (unsigned long long)ps[i].file_bytes, max_unused);
            }
        }
    }

    /* Collect the live records of the packs to rewrite. */
    r = index_foreach(txn, move_cb, &rp);
    meta_txn_abort(steal_ptr(txn));
    mv = rp.mv;
    nmv = rp.nmv;
    if (r < 0 || nmv == 0)
        goto out;

    buf = alloc_aligned(PACK_RECORD_MAX_PAYLOAD + 65536);
    if (!buf) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    r = pack_writer_open(s, true, &pw);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < nmv; i++) {
        r = pack_read_payload(s, &mv[i].id, &mv[i].old, buf);
        if (r < 0) {
            /* A damaged record is left where it is for verify to report. */
            mv[i].new = mv[i].old;
            bsnap_log(BSNAP_LOG_WARNING, "gc", "%s: left in place", bsnap_last_error()->message);
            continue;
        }
        r = pack_writer_append(pw, &mv[i].id,
                               mv[i].old.flags & (CHUNK_LZ4 | CHUNK_PAGE | CHUNK_ENC), buf,
                               mv[i].old.stored_len, mv[i].old.orig_len, &mv[i].new);
        if (r < 0)
            goto out;
    }
    r = pack_writer_sync(pw);
    if (r < 0)
        goto out;
    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < nmv; i++) {
        struct chunk_entry e;
        if (index_get(txn, &mv[i].id, &e) < 0 || e.loc.pack != mv[i].old.pack ||
            e.loc.offset != mv[i].old.offset)
            continue;
        e.loc.pack = mv[i].new.pack;
        e.loc.offset = mv[i].new.offset;
        r = index_put(txn, &mv[i].id, &e);
        if (r < 0)
            goto out;
    }
    r = meta_txn_commit(steal_ptr(txn));
    if (r < 0)
        goto out;
    for (size_t i = 0; i < np; i++) {
        _cleanup_free_ char *path = NULL;
        bool moved = false;
        for (size_t j = 0; j < nmv && !moved; j++)
            moved = mv[j].old.pack == ps[i].pack && mv[j].new.pack != ps[i].pack;
        if (!moved)
            continue;
        /* Everything live has left it (damaged records stay, so keep the
         * pack then). */
        for (size_t j = 0; j < nmv; j++)
            if (mv[j].old.pack == ps[i].pack && mv[j].new.pack == ps[i].pack)
                moved = false;
        if (!moved)
            continue;
        path = pack_path(s, ps[i].pack);
        if (path && unlink(path) == 0) {
            pack_cache_forget(s, ps[i].pack);
            st->packs_rewritten++;
            bsnap_debug("gc", "pack %u: rewritten", ps[i].pack);
        }
    }
out:
    pack_writer_close(pw);
    free(mv);
    free(buf);
    return r;
}

static int gc_once(bsnap_store *s, unsigned max_unused, bsnap_gc_stats *ret_stats)
{
    bsnap_gc_stats st = {0};
    struct pack_stat *ps = NULL;
    size_t np = 0;
    int r;

    r = list_packs(s, &ps, &np);
    if (r < 0)
        goto out;
    st.bytes_before = total_bytes(ps, np);
    r = sweep_index(s, &st);
    if (r < 0)
        goto out;
    r = repack(s, &st, ps, np, max_unused);
    if (r < 0)
        goto out;
    free(ps);
    ps = NULL;
    r = list_packs(s, &ps, &np);
    if (r < 0)
        goto out;
    st.bytes_after = total_bytes(ps, np);
    if (ret_stats)
        *ret_stats = st;
out:
    free(ps);
    return r;
}

int bsnap_gc(bsnap_store *s, const bsnap_gc_options *opts, bsnap_gc_stats *ret_stats)
{
    unsigned max_unused =
        opts && opts->max_unused_set ? opts->max_unused : BSNAP_GC_MAX_UNUSED_DEFAULT;
    int lockfd = -1, r;

    bsnap_error_clear();
    if (max_unused > 100) {
        bsnap_fail(-EINVAL, "InvalidParameterValue",
                   "MaxUnused: %u is not a percentage from 0 to 100", max_unused);
        return error_set_parameter("MaxUnused");
    }
    /* keys whose deletion date has passed go too (key-deletion.c) */
    keys_expire(s);
    /* and snapshots whose time in the Recycle Bin is over (recycle.h):
     * freed first, so that this run reclaims their space */
    recycle_expire(s);
    r = store_lock(s, true, opts ? &opts->run : NULL, &lockfd);
    if (r < 0)
        return r;
    /* gc reads every snapshot's block map (its guard) and the pages it
     * releases, which may be sealed: it needs the key of every encrypted
     * snapshot, and refuses with the first missing key's error, freeing
     * nothing, rather than guess what a map it cannot read names. */
    r = lineage_open_snapshots(s);
    if (r == 0)
        r = gc_once(s, max_unused, ret_stats);
    /* A full disk: the index needs a few pages to record what it frees
     * (see store.h).  Whatever the first pass did is kept; the second one
     * finishes. */
    if (r == -ENOSPC && store_reserve_release(s) == 0) {
        bsnap_error_clear();
        r = gc_once(s, max_unused, ret_stats);
    }
    if (r == 0)
        store_reserve_make(s);
    /* writable volumes' files no record names (cow-check.h) */
    if (r == 0) {
        uint64_t n = 0;
        r = cow_gc_orphans(s, BSNAP_GC_VOLUME_GRACE_S, &n);
        if (r == 0 && ret_stats)
            ret_stats->volume_files_removed = n;
    }
    store_unlock(lockfd);
    return r;
}
