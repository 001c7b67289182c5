/* verify.c - check every stored byte and every reference.
 *
 * Whole store: (1) every index entry's record is read and checked
 * (header, checksum, decompression, id) and the children of every page
 * that still holds references are collected; (2) every completed
 * snapshot's tree is walked: each page and chunk it names must exist and be
 * sound, and each damaged snapshot is reported with its first damaged chunk;
 * (3) the collected references (pages, snapshot roots, pins) are sorted and
 * merged with the index in key order, so every refcount is compared with
 * the references to it in O(n log n) time and 16 bytes per reference.
 * (4) the cross-reference tables (xref.h) against the records, both ways:
 * every entry a record implies is there, every entry is implied.
 * One snapshot: only what its tree reaches is read and checked.
 * Before all that, the structure of the LMDB file itself (metacheck.h);
 * a damaged file stops the check there.
 * Everything runs in one read transaction: a consistent view that never
 * blocks writers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "catalog.h"
#include "ebs.h"
#include "error.h"
#include "recycle.h"
#include "lineage.h"
#include "idmap.h"
#include "image.h"
#include "index.h"
#include "pack.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"
#include "xref.h"

enum { SEEN_OK = 1, SEEN_BAD = 2, SEEN_MISSING = 3 };

struct vctx {
    bsnap_store *s;
    meta_txn *txn;
    bsnap_problem_func fn;
    void *ud;
    const bsnap_run_options *run;
    bsnap_verify_stats st;
    bool lazy;           /* verify chunks as the walk meets them */
    struct idmap seen;   /* id -> SEEN_*, pack, offset (v[1]) */
    struct idmap leaves; /* leaf id -> bad count, first bad index + 1 */
    chunk_id *refs;
    size_t nrefs, cap;
    uint8_t *buf;
    size_t closed; /* encrypted lineages whose key is not at hand */
    bool keyless;  /* the last check_entry() checked a stored checksum only */
};

struct walk_acc {
    uint64_t bad;
    uint64_t first_offset;
    chunk_id first_id;
};

static void report(struct vctx *c, const char *snap, const chunk_id *id, int64_t pack,
                   int64_t offset, const char *fmt, ...) BSNAP_PRINTF(6, 7);

static void report(struct vctx *c, const char *snap, const chunk_id *id, int64_t pack,
                   int64_t offset, const char *fmt, ...)
{
    char hex[33] = "", what[1200];
    bsnap_problem p;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (id)
        chunk_id_hex(id, hex);
    p = (bsnap_problem){snap ? snap : "", hex, pack, offset, what, ""};
    c->st.problems++;
    if (c->fn)
        c->fn(c->ud, &p);
}

static int add_ref(struct vctx *c, const chunk_id *id)
{
    chunk_id *n = array_grow(c->refs, c->nrefs, &c->cap, sizeof *n, 4096);

    if (!n)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    c->refs = n;
    c->refs[c->nrefs++] = *id;
    return 0;
}

static int ebs_ref(void *ud, const chunk_id *id)
{
    return add_ref(ud, id);
}

/* Read and check one entry's record; record the outcome in c->seen.
 * Returns 1 when sound, 0 when damaged (reported), negative on failure. */
static int check_entry(struct vctx *c, const chunk_id *id, const struct chunk_entry *e)
{
    struct idmap_entry *m;
    int r;

    c->st.chunks_checked++;
    c->st.bytes_checked += e->loc.stored_len;
    if (e->loc.flags & CHUNK_MISSING) { /* a repair found its record damaged */
        m = idmap_put(&c->seen, id->b);
        if (!m)
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        m->v[0] = SEEN_BAD;
        m->v[1] = UINT64_MAX;
        if (e->refcount) /* at 0 nothing needs it any more: gc removes the entry */
            report(c, NULL, id, -1, -1,
                   "lost: its pack record was damaged; a snapshot of the same data stores it "
                   "again");
        return 0;
    }
    if (e->loc.orig_len == 0 || e->loc.orig_len > PACK_RECORD_MAX_PAYLOAD) {
        bsnap_fail(-EIO, "Store.Corrupt", "bad length %u in the index", e->loc.orig_len);
        r = -EIO;
    } else {
        r = pack_read_chunk(c->s, id, &e->loc, c->buf);
        c->keyless = false;
        if (r == -EACCES && strcmp(bsnap_last_error()->code, "KeyUnavailableException") == 0) {
            /* Sealed under a lineage whose key is not at hand: the stored
             * checksum is all that can be checked. */
            bsnap_error_clear();
            r = pack_read_payload(c->s, id, &e->loc, c->buf);
            if (r == 0) {
                c->keyless = true;
                c->st.keyless_chunks++;
            }
        }
    }
    m = idmap_put(&c->seen, id->b);
    if (!m)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    m->v[1] = ((uint64_t)e->loc.pack << 40) | (e->loc.offset & ((1ull << 40) - 1));
    if (r < 0) {
        const char *msg = bsnap_last_error()->message, *why = strstr(msg, "): ");
        m->v[0] = SEEN_BAD;
        /* the problem names chunk, pack and offset already: keep the reason */
        report(c, NULL, id, e->loc.pack, (int64_t)e->loc.offset, "%s", why ? why + 3 : msg);
        return 0;
    }
    m->v[0] = SEEN_OK;
    if (e->refcount > 0 && (e->loc.flags & CHUNK_DEAD))
        report(c, NULL, id, e->loc.pack, (int64_t)e->loc.offset,
               "entry is marked released but has refcount %" PRIu64, e->refcount);
    return 1;
}

/* Whether @id is sound, checking it now in lazy mode. */
static int chunk_sound(struct vctx *c, const chunk_id *id)
{
    struct idmap_entry *m = idmap_get(&c->seen, id->b);
    struct chunk_entry e;
    int r;

    if (m)
        return m->v[0] == SEEN_OK;
    r = index_get(c->txn, id, &e);
    if (r == -ENOENT) {
        m = idmap_put(&c->seen, id->b);
        if (!m)
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        m->v[0] = SEEN_MISSING;
        m->v[1] = UINT64_MAX;
        report(c, NULL, id, -1, -1, "named by a block map but not in the index");
        return 0;
    }
    if (r < 0)
        return r;
    if (!c->lazy) {
        /* the first pass saw every entry; one it did not is new since */
        return 1;
    }
    return check_entry(c, id, &e);
}

static void acc_bad(struct walk_acc *a, const chunk_id *id, uint64_t offset)
{
    if (a->bad++ == 0) {
        a->first_offset = offset;
        a->first_id = *id;
    }
}

static int walk(struct vctx *c, uint32_t level, const chunk_id *id, uint64_t base, uint32_t cs,
                struct walk_acc *acc);

static int walk_leaf(struct vctx *c, const chunk_id *id, uint64_t base, uint32_t cs,
                     struct walk_acc *acc)
{
    _cleanup_free_ chunk_id *page = NULL;
    struct idmap_entry *m = idmap_get(&c->leaves, id->b);
    uint64_t bad = 0, first = 0;
    int r;

    if (m && m->v[0] == 0)
        return 0; /* a shared leaf already found sound */
    page = alloc_aligned(BM_PAGE_BYTES);
    if (!page)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = bm_page_load(c->s, c->txn, id, page);
    if (r < 0)
        return r;
    if (m) { /* a shared leaf counted before: add its damage again */
        uint64_t before = acc->bad;
        acc_bad(acc, &page[m->v[1] - 1], (base + m->v[1] - 1) * cs);
        acc->bad = before + m->v[0];
        return 0;
    }
    for (uint32_t i = 0; i < BM_FANOUT; i++) {
        if (chunk_id_is_zero(&page[i]))
            continue;
        r = chunk_sound(c, &page[i]);
        if (r < 0)
            return r;
        if (r == 0) {
            if (bad++ == 0)
                first = i + 1;
        }
    }
    m = idmap_put(&c->leaves, id->b);
    if (!m)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    m->v[0] = bad;
    m->v[1] = first;
    if (bad) {
        uint64_t before = acc->bad;
        acc_bad(acc, &page[first - 1], (base + first - 1) * cs);
        acc->bad = before + bad;
    }
    return 0;
}

static int walk(struct vctx *c, uint32_t level, const chunk_id *id, uint64_t base, uint32_t cs,
                struct walk_acc *acc)
{
    _cleanup_free_ chunk_id *page = NULL;
    uint64_t span = bm_span(level - 1);
    int r;

    if (chunk_id_is_zero(id))
        return 0;
    r = chunk_sound(c, id);
    if (r < 0)
        return r;
    if (r == 0) { /* a damaged page loses everything below it */
        acc_bad(acc, id, base * cs);
        return 0;
    }
    if (level == 1)
        return walk_leaf(c, id, base, cs, acc);
    page = alloc_aligned(BM_PAGE_BYTES);
    if (!page)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = bm_page_load(c->s, c->txn, id, page);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < BM_FANOUT; i++) {
        r = walk(c, level - 1, &page[i], base + i * span, cs, acc);
        if (r < 0)
            return r;
    }
    return 0;
}

static int check_snapshot(struct vctx *c, const struct snapshot_rec *rec)
{
    struct walk_acc acc = {0};
    int r;

    c->st.snapshots_checked++;
    if (rec->chunk_size != c->s->chunk_size) {
        report(c, rec->id, NULL, -1, -1, "chunk size %u differs from the store's", rec->chunk_size);
        return 0;
    }
    if (rec->depth != bm_depth_for(DIV_ROUND_UP(rec->size, rec->chunk_size))) {
        report(c, rec->id, NULL, -1, -1, "block map depth %u does not fit size %" PRIu64,
               rec->depth, rec->size);
        return 0;
    }
    if (rec->encrypted && !crypt_ring_find(c->s, rec->key_slot)) {
        c->st.snapshots_unchecked++;
        bsnap_log(BSNAP_LOG_WARNING, "verify",
                  "snapshot %s: encrypted, and its key is not at hand: its block map was not "
                  "walked, only the stored checksums of its records were checked",
                  rec->id);
        return 0;
    }
    r = walk(c, rec->depth, &rec->root, 0, rec->chunk_size, &acc);
    if (r < 0)
        return r;
    if (acc.bad) {
        struct idmap_entry *m = idmap_get(&c->seen, acc.first_id.b);
        int64_t pack = -1, off = -1;
        if (m && m->v[1] != UINT64_MAX) {
            pack = (int64_t)(m->v[1] >> 40);
            off = (int64_t)(m->v[1] & ((1ull << 40) - 1));
        }
        c->st.damaged_snapshots++;
        report(c, rec->id, &acc.first_id, pack, off,
               "%" PRIu64 " damaged or missing chunk%s; the first at volume offset %" PRIu64,
               acc.bad, acc.bad == 1 ? "" : "s", acc.first_offset);
    }
    return 0;
}

/* Each structural problem of the metadata file, as a store-wide problem. */
static void meta_problem(void *ud, const char *line)
{
    report(ud, NULL, NULL, -1, -1, "%s", line);
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(chunk_id));
}

/* Pass 1: every entry; collect the references held by live and orphan
 * pages. */
static int entry_cb(void *ud, const chunk_id *id, const struct chunk_entry *e)
{
    struct vctx *c = ud;
    int r;

    if (c->run && c->run->cancel && *c->run->cancel)
        return bsnap_fail(-ECANCELED, "Cancelled", "verify interrupted");
    if (!e) {
        report(c, NULL, id, -1, -1, "malformed index entry");
        return 0;
    }
    r = check_entry(c, id, e);
    if (r < 0)
        return r;
    if (r == 1 && !c->keyless && (e->loc.flags & CHUNK_PAGE) && !(e->loc.flags & CHUNK_DEAD)) {
        const chunk_id *kids = (const chunk_id *)c->buf;
        for (uint32_t i = 0; i < BM_FANOUT; i++)
            if (!chunk_id_is_zero(&kids[i]) && (r = add_ref(c, &kids[i])) < 0)
                return r;
    }
    return 0;
}

static int pass_entries(struct vctx *c)
{
    return index_foreach(c->txn, entry_cb, c);
}

static int bin_root(void *ud, const struct snapshot_rec *rec)
{
    struct vctx *c = ud;

    if (rec->state != BSNAP_SNAPSHOT_COMPLETED || chunk_id_is_zero(&rec->root))
        return 0;
    return add_ref(c, &rec->root);
}

static int collect_pins(struct vctx *c)
{
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r = meta_cursor_open(c->txn, T_PINS, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        chunk_id root;
        if (vlen < 16)
            continue;
        memcpy(root.b, v, 16);
        if (!chunk_id_is_zero(&root) && (r = add_ref(c, &root)) < 0)
            break;
    }
    meta_cursor_close(cur);
    return r == -ENOENT ? 0 : r;
}

/* Pass 3: compare refcounts with the sorted references, merging the sorted
 * array with the index in key order. */
struct merge {
    struct vctx *c;
    size_t j;
};

/* Report the references before @key (or all, for NULL) as missing. */
static void report_missing(struct merge *m, const chunk_id *key)
{
    struct vctx *c = m->c;

    while (m->j < c->nrefs && (!key || memcmp(c->refs[m->j].b, key->b, 16) < 0)) {
        chunk_id miss = c->refs[m->j];
        report(c, NULL, &miss, -1, -1, "referenced but not in the index");
        while (m->j < c->nrefs && chunk_id_eq(&c->refs[m->j], &miss))
            m->j++;
    }
}

static int refcount_cb(void *ud, const chunk_id *id, const struct chunk_entry *e)
{
    struct merge *m = ud;
    struct vctx *c = m->c;
    uint64_t want = 0;

    if (!e)
        return 0;
    report_missing(m, id);
    while (m->j < c->nrefs && chunk_id_eq(&c->refs[m->j], id)) {
        want++;
        m->j++;
    }
    if (e->refcount != want)
        report(c, NULL, id, e->loc.pack, (int64_t)e->loc.offset,
               "refcount %" PRIu64 ", but %" PRIu64 " references", e->refcount, want);
    return 0;
}

static int pass_refcounts(struct vctx *c)
{
    struct merge m = {.c = c};
    int r;

    if (c->nrefs) /* qsort wants a non-NULL array even for none */
        qsort(c->refs, c->nrefs, sizeof *c->refs, cmp_id);
    r = index_foreach(c->txn, refcount_cb, &m);
    if (r < 0)
        return r;
    report_missing(&m, NULL);
    return 0;
}

/* ---- cross-reference tables (xref.h) ---- */

/* An entry a record implies: (@t, "@key\0@id") -> @value. */
typedef int (*entry_func)(struct vctx *c, meta_table t, const char *key, const char *id,
                          const char *value, void *ud);

static int tag_entries(struct vctx *c, meta_table t, const char *id, const struct tags *tags,
                       entry_func fn, void *ud)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < tags->n; i++)
        r = fn(c, t, tags->v[i].key, id, tags->v[i].value, ud);
    return r;
}

static int snapshot_entries(struct vctx *c, const struct snapshot_rec *rec, entry_func fn, void *ud)
{
    int r = 0;

    if (rec->volume_id[0])
        r = fn(c, T_SNAP_BY_VOLUME, rec->volume_id, rec->id, "", ud);
    if (r == 0 && rec->parent_id[0])
        r = fn(c, T_SNAP_BY_PARENT, rec->parent_id, rec->id, "", ud);
    return r ? r : tag_entries(c, T_SNAP_TAGS, rec->id, &rec->tags, fn, ud);
}

static int image_entries(struct vctx *c, const struct image_rec *rec, entry_func fn, void *ud)
{
    int r = 0;

    for (size_t i = 0; r == 0 && rec->state != BSNAP_IMAGE_DEREGISTERED && i < rec->nbdm; i++)
        if (rec->bdm[i].kind == BDM_EBS && rec->bdm[i].snapshot_id[0])
            r = fn(c, T_IMAGE_BY_SNAP, rec->bdm[i].snapshot_id, rec->id, "", ud);
    return r ? r : tag_entries(c, T_IMAGE_TAGS, rec->id, &rec->tags, fn, ud);
}

/* Records -> tables: each entry a record implies is there. */
static int expect_entry(struct vctx *c, meta_table t, const char *key, const char *id,
                        const char *value, void *ud)
{
    char k[XREF_KEY_MAX];
    size_t klen = xref_key(key, id, k);
    const void *v;
    size_t vlen;
    int r = meta_get(c->txn, t, k, klen, &v, &vlen);

    (void)ud;
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == -ENOENT || vlen != strlen(value) || memcmp(v, value, vlen) != 0)
        report(c, t == T_SNAP_TAGS || t == T_SNAP_BY_VOLUME || t == T_SNAP_BY_PARENT ? id : NULL,
               NULL, -1, -1, "cross-reference table %s: the entry %s of %s is %s",
               meta_table_name(t), key, id, r == -ENOENT ? "missing" : "wrong");
    return 0;
}

struct entry_match {
    meta_table t;
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
    bool found;
};

static int match_entry(struct vctx *c, meta_table t, const char *key, const char *id,
                       const char *value, void *ud)
{
    struct entry_match *m = ud;
    char k[XREF_KEY_MAX];
    size_t klen = xref_key(key, id, k);

    (void)c;
    if (t == m->t && klen == m->klen && memcmp(k, m->key, klen) == 0 && m->vlen == strlen(value) &&
        memcmp(m->val, value, m->vlen) == 0)
        m->found = true;
    return 0;
}

/* Tables -> records: each entry is implied by the record it names. */
static int check_table(struct vctx *c, meta_table t)
{
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int r = meta_cursor_open(c->txn, t, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        struct entry_match m = {t, k, klen, v, vlen, false};
        const char *nul = memchr(k, '\0', klen);
        char id[BSNAP_ID_MAX] = "";
        size_t idlen = nul ? klen - (size_t)(nul + 1 - (const char *)k) : 0;
        if (nul && idlen < sizeof id) {
            memcpy(id, nul + 1, idlen);
            id[idlen] = '\0';
        }
        if (t == T_IMAGE_TAGS || t == T_IMAGE_BY_SNAP) {
            struct image_rec im = {0};
            if (id[0] && image_load(c->txn, id, &im) == 0)
                r = image_entries(c, &im, match_entry, &m);
            image_rec_clear(&im);
        } else if (t == T_VOL_TAGS) {
            struct volume_rec vr = {0};
            if (id[0] && catalog_volume_load(c->txn, id, &vr) == 0)
                r = tag_entries(c, T_VOL_TAGS, vr.id, &vr.tags, match_entry, &m);
            volume_rec_clear(&vr);
        } else {
            struct snapshot_rec sr = {0};
            if (id[0] && catalog_snapshot_load(c->txn, id, &sr) == 0)
                r = snapshot_entries(c, &sr, match_entry, &m);
            snapshot_rec_clear(&sr);
        }
        bsnap_error_clear(); /* a record that is absent or damaged: a stale entry */
        if (r < 0)
            break;
        if (!m.found)
            report(c, NULL, NULL, -1, -1,
                   "cross-reference table %s: a stale entry for %s (its record says otherwise)",
                   meta_table_name(t), id[0] ? id : "a malformed key");
    }
    meta_cursor_close(cur);
    return r == -ENOENT ? 0 : r;
}

/* The tables of each group that is in use, against the records (@snaps:
 * every snapshot record). */
static int check_xrefs(struct vctx *c, const struct snapshot_rec *snaps, size_t nsnaps)
{
    static const meta_table catalog_tables[] = {T_SNAP_BY_VOLUME, T_SNAP_BY_PARENT, T_SNAP_TAGS,
                                                T_VOL_TAGS};
    static const meta_table image_tables[] = {T_IMAGE_BY_SNAP, T_IMAGE_TAGS};
    int ready = xref_ready(c->txn, XREF_CATALOG), r = 0;

    if (ready < 0)
        return ready;
    if (ready) {
        struct volume_rec *vols = NULL;
        size_t nvols = 0;
        for (size_t i = 0; r == 0 && i < nsnaps; i++)
            r = snapshot_entries(c, &snaps[i], expect_entry, NULL);
        if (r == 0)
            r = catalog_volume_all(c->txn, &vols, &nvols);
        for (size_t i = 0; r == 0 && i < nvols; i++)
            r = tag_entries(c, T_VOL_TAGS, vols[i].id, &vols[i].tags, expect_entry, NULL);
        volume_recs_free(vols, nvols);
        for (size_t i = 0; r == 0 && i < sizeof catalog_tables / sizeof *catalog_tables; i++)
            r = check_table(c, catalog_tables[i]);
    }
    ready = r < 0 ? r : xref_ready(c->txn, XREF_IMAGES);
    if (ready < 0)
        return ready;
    if (ready) {
        struct image_rec *ims = NULL;
        size_t nims = 0;
        r = image_all(c->txn, &ims, &nims);
        for (size_t i = 0; r == 0 && i < nims; i++)
            r = image_entries(c, &ims[i], expect_entry, NULL);
        image_recs_free(ims, nims);
        for (size_t i = 0; r == 0 && i < sizeof image_tables / sizeof *image_tables; i++)
            r = check_table(c, image_tables[i]);
    }
    return r;
}

int bsnap_verify(bsnap_store *s, const char *snapshot_id, const bsnap_run_options *run,
                 bsnap_problem_func fn, void *ud, bsnap_verify_stats *ret_stats)
{
    struct vctx c = {.s = s, .fn = fn, .ud = ud, .run = run, .lazy = snapshot_id != NULL};
    struct snapshot_rec *recs = NULL, one = {0};
    size_t n = 0;
    int r;

    bsnap_error_clear();
    if (snapshot_id) {
        r = check_snapshot_id(snapshot_id);
        if (r < 0)
            return error_set_parameter("SnapshotId");
    }
    /* Room for a chunk, and for a record's stored payload, which a sealed
     * record's 36 bytes make larger than the largest chunk (read whole
     * when its key is not at hand). */
    c.buf = alloc_aligned(PACK_RECORD_MAX_PAYLOAD + 65536);
    if (!c.buf)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    /* First the metadata file's structure, without liblmdb: if it is
     * damaged, liblmdb must not read it, so nothing else is checked. */
    {
        struct metacheck_stats ms;
        r = meta_check(s->meta, meta_problem, &c, &ms);
        if (r < 0)
            goto out;
        if (ms.problems) {
            report(&c, NULL, NULL, -1, -1,
                   "meta/data.mdb is damaged: chunks and snapshots were not checked");
            goto out;
        }
    }
    /* Every lineage whose key is at hand (outside the read transaction:
     * unwrapping begins its own); the others are checked as far as their
     * stored checksums go. */
    r = lineage_open_all(s, &c.closed);
    if (r < 0)
        goto out;
    r = meta_txn_begin(s->meta, false, &c.txn);
    if (r < 0)
        goto out;
    if (snapshot_id) {
        r = catalog_snapshot_load(c.txn, snapshot_id, &one);
        if (r < 0) {
            error_param(r, "SnapshotId");
            goto out;
        }
        if (one.state != BSNAP_SNAPSHOT_COMPLETED) {
            bsnap_fail(-EBUSY, "IncorrectState", "the snapshot '%s' is not completed", snapshot_id);
            r = error_set_parameter("SnapshotId");
            goto out;
        }
        r = check_snapshot(&c, &one);
        goto out;
    }
    r = pass_entries(&c);
    if (r < 0)
        goto out;
    r = catalog_snapshot_all(c.txn, &recs, &n);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].state != BSNAP_SNAPSHOT_COMPLETED)
            continue;
        if (!chunk_id_is_zero(&recs[i].root)) {
            r = add_ref(&c, &recs[i].root);
            if (r < 0)
                goto out;
        }
        r = check_snapshot(&c, &recs[i]);
        if (r < 0)
            goto out;
    }
    r = collect_pins(&c);
    if (r < 0)
        goto out;
    /* the blocks of EBS direct snapshots being written hold theirs (ebs.h) */
    r = ebs_foreach_ref(c.txn, ebs_ref, &c);
    if (r < 0)
        goto out;
    /* snapshots in the Recycle Bin hold their roots too (recycle.h) */
    r = recycle_foreach(c.txn, bin_root, &c);
    if (r < 0)
        goto out;
    if (c.closed) {
        /* the pages of a closed lineage hold references nobody can count */
        bsnap_log(BSNAP_LOG_WARNING, "verify",
                  "%zu encrypted lineage%s whose key is not at hand: refcounts not checked",
                  c.closed, c.closed == 1 ? "" : "s");
    } else {
        r = pass_refcounts(&c);
        if (r < 0)
            goto out;
    }
    r = check_xrefs(&c, recs, n);
out:
    meta_txn_abort(c.txn);
    snapshot_recs_free(recs, n);
    snapshot_rec_clear(&one);
    idmap_free(&c.seen);
    idmap_free(&c.leaves);
    free(c.refs);
    free(c.buf);
    if (r == 0)
        *ret_stats = c.st;
    return r;
}
