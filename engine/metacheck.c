/* metacheck.c - structural check of an LMDB data file; see metacheck.h.
 *
 * The walk keeps one page buffer per tree level, so the keys of a branch
 * page (the bounds of its children's keys) stay valid while its subtree is
 * checked.  A page with a damaged header or node is reported and not
 * descended into; the pages below it then show up once, in the count of
 * pages that are neither used nor free.
 */
#include "metacheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

/* LMDB 0.9's layout (mdb.c): MDB_page, MDB_node, MDB_db, MDB_meta. */
#define PAGEHDRSZ 16u
#define NODESIZE 8u
#define DB_BYTES 48u
#define META_END (PAGEHDRSZ + 136u) /* the page header and MDB_meta */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define MDB_INTEGERKEY 0x08 /* the free list's key flag */
/* REVERSEKEY, DUPSORT, DUPFIXED, INTEGERDUP, REVERSEDUP */
#define DB_KEY_FLAGS (0x02 | 0x04 | 0x10 | 0x20 | 0x40)
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define MDB_MAGIC 0xBEEFC0DEu
#define MDB_DATA_VERSION 1u
#define P_INVALID UINT64_MAX
#define MAX_KEYSIZE 511u
#define MAX_DEPTH 32u /* liblmdb's cursor stack */
#define MIN_PSIZE 512u
#define MAX_PSIZE 0x8000u
/* The file may end before its last page (free pages liblmdb never wrote),
 * but not by more than this: a bound on the bit maps for a damaged
 * mm_last_pg. */
#define MAX_PAGES_PAST_END (1ull << 24)
#define OVPAGES(size, psize) ((PAGEHDRSZ - 1 + (uint64_t)(size)) / (psize) + 1)

struct db {
    uint32_t pad;
    uint16_t flags, depth;
    uint64_t branch, leaf, overflow, entries, root;
};

struct table {
    char *name;
    struct db db;
};

/* A key bound: the keys of a subtree lie in [lo, hi). */
struct bound {
    const uint8_t *k;
    size_t n;
    bool set;
};

struct ctx {
    int fd; /* the file, or -1 for buf */
    const uint8_t *buf;
    uint64_t size;
    const char *name;
    uint32_t psize;
    uint64_t npages; /* last page + 1 */
    uint8_t *used, *freed;
    uint8_t *lvl[MAX_DEPTH + 1];
    uint8_t *val; /* a free-list record read from overflow pages */
    size_t val_cap;
    metacheck_func fn;
    void *ud;
    struct metacheck_stats st;
    int err;
    /* the tree being walked */
    const char *table;
    bool intkey, freedb, maindb;
    uint64_t branch, leaf, overflow, entries;
    struct table *tables;
    size_t ntables, cap;
    /* salvage: each entry of a sound leaf page of a named table */
    metacheck_entry_func entry;
};

static uint16_t ld16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static bool bit_test_set(uint8_t *map, uint64_t i)
{
    bool was = map[i / 8] & (1u << (i % 8));
    map[i / 8] |= (uint8_t)(1u << (i % 8));
    return was;
}

static void problem(struct ctx *c, uint64_t pgno, const char *fmt, ...) BSNAP_PRINTF(3, 4);

static void problem(struct ctx *c, uint64_t pgno, const char *fmt, ...)
{
    char what[512], line[800], where[64] = "";
    va_list ap;

    if (++c->st.problems > METACHECK_MAX_PROBLEMS || !c->fn)
        return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (pgno != P_INVALID)
        snprintf(where, sizeof where, " page %" PRIu64, pgno);
    if (c->table)
        snprintf(line, sizeof line, "%s%s (table %s): %s", c->name, where, c->table, what);
    else
        snprintf(line, sizeof line, "%s%s: %s", c->name, where, what);
    c->fn(c->ud, line);
}

/* Read @len bytes at @off (a multiple of the page size) into @dst (from
 * alloc_aligned()); 1 when they lie past the end of the file. */
static int read_at(struct ctx *c, uint64_t off, void *dst, size_t len)
{
    ssize_t n;

    if (off > c->size || len > c->size - off)
        return 1;
    if (c->fd < 0) {
        memcpy(dst, c->buf + off, len);
        return 0;
    }
    n = full_pread(c->fd, dst, len, (off_t)off);
    if (n < 0) {
        c->err = bsnap_fail((int)n, "Store.Error", "%s: read: %s", c->name, strerror((int)-n));
        return -1;
    }
    if ((size_t)n < len) {
        c->err = bsnap_fail(-EIO, "Store.Error", "%s: shrank while read", c->name);
        return -1;
    }
    return 0;
}

/* Read pages [@pgno, @pgno + @n) into @dst; false (reported) if they are
 * not all in the file. */
static bool read_pages(struct ctx *c, uint64_t pgno, uint64_t n, uint8_t *dst, uint64_t from)
{
    int r = read_at(c, pgno * c->psize, dst, n * c->psize);

    if (r == 1)
        problem(c, from, "page %" PRIu64 "%s lies past the end of the file (%" PRIu64 " bytes)",
                pgno, n > 1 ? " and those after it" : "", c->size);
    c->st.pages += r == 0 ? n : 0;
    return r == 0;
}

/* Take page @pgno (named by page @from) for the tree: in range and not
 * taken before. */
static bool claim(struct ctx *c, uint64_t pgno, uint64_t from, const char *what)
{
    if (pgno < 2 || pgno >= c->npages) {
        problem(c, from, "%s page number %" PRIu64 " out of range (pages 2 to %" PRIu64 ")", what,
                pgno, c->npages - 1);
        return false;
    }
    if (bit_test_set(c->used, pgno)) {
        problem(c, from, "%s page %" PRIu64 " is reached twice (a cycle or a shared page)", what,
                pgno);
        return false;
    }
    return true;
}

static int key_cmp(const struct ctx *c, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int d;

    if (c->intkey && an == 8 && bn == 8) {
        uint64_t x = ld64(a), y = ld64(b);
        return x < y ? -1 : x > y;
    }
    d = memcmp(a, b, an < bn ? an : bn);
    return d ? d : an < bn ? -1 : an > bn;
}

static void db_load(struct db *d, const uint8_t *p)
{
    d->pad = ld32(p);
    d->flags = ld16(p + 4);
    d->depth = ld16(p + 6);
    d->branch = ld64(p + 8);
    d->leaf = ld64(p + 16);
    d->overflow = ld64(p + 24);
    d->entries = ld64(p + 32);
    d->root = ld64(p + 40);
}

/* The free pages a free-list record lists. */
static void free_record(struct ctx *c, uint64_t pgno, const uint8_t *v, uint64_t vlen)
{
    uint64_t n = vlen >= 8 ? ld64(v) : 0;

    if (vlen < 8 || n > vlen / 8 - 1) {
        problem(c, pgno, "free-list record of %" PRIu64 " bytes claims %" PRIu64 " pages", vlen, n);
        return;
    }
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t pg = ld64(v + 8 * i);
        /* liblmdb merges and searches these lists as sorted, descending */
        if (i > 1 && pg >= ld64(v + 8 * (i - 1)))
            problem(c, pgno, "free list not in descending order at page %" PRIu64, pg);
        if (pg < 2 || pg >= c->npages)
            problem(c, pgno, "free page number %" PRIu64 " out of range", pg);
        else if (bit_test_set(c->freed, pg))
            problem(c, pgno, "page %" PRIu64 " is listed as free twice", pg);
    }
}

/* A value held in overflow pages: the run named by node @i of @pgno.
 * Returns the value (in c->val) when it was read for the free list or for
 * salvage, NULL otherwise. */
static const uint8_t *overflow(struct ctx *c, uint64_t pgno, unsigned i, uint64_t opg,
                               uint32_t dsize)
{
    uint8_t *hdr = c->lvl[0];
    uint64_t need = OVPAGES(dsize, c->psize), pages;

    if (!claim(c, opg, pgno, "overflow") || !read_pages(c, opg, 1, hdr, pgno))
        return NULL;
    pages = ld32(hdr + 12);
    if (ld64(hdr) != opg || ld16(hdr + 10) != P_OVERFLOW) {
        problem(c, opg,
                "overflow page of node %u of page %" PRIu64 " holds page number %" PRIu64
                " and flags 0x%x",
                i, pgno, ld64(hdr), ld16(hdr + 10));
        return NULL;
    }
    if (pages < need || pages > c->npages - opg) {
        problem(c, opg,
                "overflow run of %" PRIu64 " %s: %" PRIu64 " needed for %" PRIu32 " %s, %" PRIu64
                " %s left in the file",
                pages, plural(pages, "page", "pages"), need, dsize, plural(dsize, "byte", "bytes"),
                c->npages - opg, plural(c->npages - opg, "page", "pages"));
        return NULL;
    }
    for (uint64_t p = opg + 1; p < opg + pages; p++)
        if (bit_test_set(c->used, p))
            problem(c, opg, "overflow page %" PRIu64 " is also used elsewhere", p);
    c->overflow += pages;
    if (c->freedb || c->entry) {
        uint8_t *v;
        /* before the buffer: its size is bounded by the file's */
        if (need > c->size / c->psize || opg > c->size / c->psize - need) {
            problem(c, pgno,
                    "page %" PRIu64 " and those after it lie past the end of the file (%" PRIu64
                    " bytes)",
                    opg, c->size);
            return NULL;
        }
        if (c->val_cap < need * c->psize) { /* no realloc: the contents are read anew */
            free(c->val);
            c->val_cap = 0;
            if (!(c->val = alloc_aligned(need * c->psize))) {
                c->err = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
                return NULL;
            }
            c->val_cap = need * c->psize;
        }
        v = c->val;
        if (!read_pages(c, opg, need, v, pgno))
            return NULL;
        if (c->freedb)
            free_record(c, opg, v + PAGEHDRSZ, dsize);
        return v + PAGEHDRSZ;
    }
    return NULL;
}

static int table_add(struct ctx *c, const uint8_t *name, size_t n, const uint8_t *db)
{
    struct table *t;

    if (c->ntables == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        t = realloc(c->tables, cap * sizeof *t);
        if (!t)
            return c->err = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        c->tables = t;
        c->cap = cap;
    }
    t = &c->tables[c->ntables];
    t->name = malloc(n + 1);
    if (!t->name)
        return c->err = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    /* a damaged name is shown with its odd bytes as '?' */
    for (size_t j = 0; j < n; j++)
        t->name[j] = name[j] >= 0x20 && name[j] < 0x7f ? (char)name[j] : '?';
    t->name[n] = '\0';
    db_load(&t->db, db);
    c->ntables++;
    return 0;
}

/* Node @i of the page @p (@pgno): inside the page, with a sane key size
 * and, on a leaf, data and flags.  Sets *key and *klen. */
static bool node_sound(struct ctx *c, const uint8_t *p, uint64_t pgno, unsigned i, bool leaf,
                       uint16_t upper, const uint8_t **key, size_t *klen)
{
    uint32_t off = ld16(p + PAGEHDRSZ + 2 * i), ks, fl, dsize;
    const uint8_t *n = p + off;

    if (off < upper || (off & 1) || off + NODESIZE > c->psize) {
        problem(c, pgno, "node %u at offset %" PRIu32 " outside the node area (%u to %" PRIu32 ")",
                i, off, upper, c->psize);
        return false;
    }
    ks = ld16(n + 6);
    if (ks > MAX_KEYSIZE || off + NODESIZE + ks > c->psize) {
        problem(c, pgno, "node %u: key size %" PRIu32 " runs past the page", i, ks);
        return false;
    }
    *key = n + NODESIZE;
    *klen = ks;
    if (!leaf)
        return true;
    fl = ld16(n + 4);
    dsize = ld16(n) | (uint32_t)ld16(n + 2) << 16;
    if (fl & ~(uint32_t)(c->maindb ? F_SUBDATA : F_BIGDATA)) {
        problem(c, pgno, "node %u: flags 0x%" PRIx32 " not used in this table", i, fl);
        return false;
    }
    if (off + NODESIZE + ks + ((fl & F_BIGDATA) ? 8 : dsize) > c->psize) {
        problem(c, pgno, "node %u: data size %" PRIu32 " runs past the page", i, dsize);
        return false;
    }
    if (c->maindb && (!(fl & F_SUBDATA) || dsize != DB_BYTES)) {
        problem(c, pgno, "node %u: not a table record (flags 0x%" PRIx32 ", %" PRIu32 " bytes)", i,
                fl, dsize);
        return false;
    }
    if (c->freedb && ks != 8) {
        problem(c, pgno, "node %u: free-list key of %" PRIu32 " bytes", i, ks);
        return false;
    }
    return true;
}

static void walk(struct ctx *c, const struct db *db, uint64_t pgno, unsigned level, struct bound lo,
                 struct bound hi, uint64_t from)
{
    bool leaf = level == db->depth, ok = true;
    const uint8_t *pk = NULL, *key;
    size_t pn = 0, kn;
    uint16_t flags, lower, upper;
    unsigned n;
    uint8_t *p;

    if (c->err || !claim(c, pgno, from, leaf ? "leaf" : "branch"))
        return;
    if (!c->lvl[level] && !(c->lvl[level] = alloc_aligned(c->psize))) {
        c->err = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        return;
    }
    p = c->lvl[level];
    if (!read_pages(c, pgno, 1, p, from))
        return;
    flags = ld16(p + 10);
    lower = ld16(p + 12);
    upper = ld16(p + 14);
    if (ld64(p) != pgno) {
        problem(c, pgno, "holds page number %" PRIu64, ld64(p));
        return;
    }
    if (flags != (leaf ? P_LEAF : P_BRANCH)) {
        problem(c, pgno, "flags 0x%x, but level %u of %u is a %s level", flags, level, db->depth,
                leaf ? "leaf" : "branch");
        return;
    }
    if (lower < PAGEHDRSZ + 2 || ((lower - PAGEHDRSZ) & 1) || lower > upper || upper > c->psize) {
        problem(c, pgno, "mp_lower %u, mp_upper %u out of bounds (page size %" PRIu32 ")", lower,
                upper, c->psize);
        return;
    }
    n = (lower - PAGEHDRSZ) / 2;
    for (unsigned i = 0; i < n && ok; i++)
        ok = node_sound(c, p, pgno, i, leaf, upper, &key, &kn);
    if (!ok)
        return;
    /* Keys ascend and lie within [lo, hi); a branch's first key is not
     * used (liblmdb leaves it empty). */
    for (unsigned i = leaf ? 0 : 1; i < n; i++) {
        node_sound(c, p, pgno, i, leaf, upper, &key, &kn);
        if (pk && key_cmp(c, pk, pn, key, kn) >= 0)
            problem(c, pgno, "key of node %u is not above the key of node %u", i, i - 1);
        else if (!pk && lo.set && key_cmp(c, key, kn, lo.k, lo.n) < 0)
            problem(c, pgno, "key of node %u is below the range its branch gives", i);
        if (i == n - 1 && hi.set && key_cmp(c, key, kn, hi.k, hi.n) >= 0)
            problem(c, pgno, "key of node %u is above the range its branch gives", i);
        pk = key;
        pn = kn;
    }
    if (leaf) {
        c->leaf++;
        for (unsigned i = 0; i < n && !c->err; i++) {
            const uint8_t *nd = p + ld16(p + PAGEHDRSZ + 2 * i), *data;
            uint32_t dsize = ld16(nd) | (uint32_t)ld16(nd + 2) << 16;
            c->entries++;
            data = nd + NODESIZE + ld16(nd + 6);
            if (ld16(nd + 4) & F_BIGDATA)
                data = overflow(c, pgno, i, ld64(data), dsize);
            else if (c->freedb)
                free_record(c, pgno, data, dsize);
            else if (c->maindb)
                table_add(c, nd + NODESIZE, ld16(nd + 6), data);
            if (c->entry && data && !c->freedb && !c->maindb) {
                int r = c->entry(c->ud, c->table, nd + NODESIZE, ld16(nd + 6), data, dsize);
                if (r < 0)
                    c->err = r;
            }
        }
        return;
    }
    c->branch++;
    for (unsigned i = 0; i < n && !c->err; i++) {
        const uint8_t *nd = p + ld16(p + PAGEHDRSZ + 2 * i);
        uint64_t child = ld16(nd) | (uint64_t)ld16(nd + 2) << 16 | (uint64_t)ld16(nd + 4) << 32;
        struct bound clo = lo, chi = hi;
        if (i > 0)
            clo = (struct bound){nd + NODESIZE, ld16(nd + 6), true};
        if (i + 1 < n) {
            const uint8_t *nx = p + ld16(p + PAGEHDRSZ + 2 * (i + 1));
            chi = (struct bound){nx + NODESIZE, ld16(nx + 6), true};
        }
        walk(c, db, child, level + 1, clo, chi, pgno);
    }
}

static void check_tree(struct ctx *c, const char *table, const struct db *db)
{
    uint64_t before = c->st.problems;
    struct bound none = {0};

    c->table = table;
    c->branch = c->leaf = c->overflow = c->entries = 0;
    if (db->root == P_INVALID) {
        if (db->depth || db->entries || db->branch || db->leaf || db->overflow)
            problem(c, P_INVALID, "empty, but depth %u and %" PRIu64 " %s", db->depth, db->entries,
                    plural(db->entries, "entry", "entries"));
        return;
    }
    if (db->depth == 0 || db->depth > MAX_DEPTH) {
        problem(c, P_INVALID, "depth %u (1 to %u)", db->depth, MAX_DEPTH);
        return;
    }
    walk(c, db, db->root, 1, none, none, P_INVALID);
    if (c->err || c->st.problems != before)
        return;
    if (c->entries != db->entries || c->branch != db->branch || c->leaf != db->leaf ||
        c->overflow != db->overflow)
        problem(c, P_INVALID,
                "the record says %" PRIu64 " %s in %" PRIu64 " branch, %" PRIu64
                " leaf and %" PRIu64 " overflow %s; the tree holds %" PRIu64 ", %" PRIu64
                ", %" PRIu64 " and %" PRIu64,
                db->entries, plural(db->entries, "entry", "entries"), db->branch, db->leaf,
                db->overflow, plural(db->overflow, "page", "pages"), c->entries, c->branch, c->leaf,
                c->overflow);
}

struct meta_page {
    bool ok;
    uint32_t psize;
    uint64_t last, txnid;
    struct db dbs[2];
};

/* Meta page @i at @off: what liblmdb's mdb_env_read_header checks, and the
 * fields it then trusts. */
static void read_meta(struct ctx *c, unsigned i, uint64_t off, struct meta_page *m)
{
    _Alignas(IO_ALIGN) uint8_t b[META_END];
    uint32_t magic, version, psize;
    uint16_t flags;
    int r = read_at(c, off, b, sizeof b);

    memset(m, 0, sizeof *m); /* a page not read has txnid 0: pick_meta compares them */
    if (r < 0)
        return;
    if (r == 1) {
        problem(c, i, "meta page lies past the end of the file (%" PRIu64 " bytes)", c->size);
        return;
    }
    flags = ld16(b + 10);
    magic = ld32(b + 16);
    version = ld32(b + 20);
    db_load(&m->dbs[0], b + 40);
    db_load(&m->dbs[1], b + 88);
    m->last = ld64(b + 136);
    m->txnid = ld64(b + 144);
    psize = m->psize = m->dbs[0].pad;
    if (!(flags & P_META) || ld64(b) != i)
        problem(c, i, "not a meta page (page number %" PRIu64 ", flags 0x%x)", ld64(b), flags);
    else if (magic != MDB_MAGIC)
        problem(c, i, "meta page: magic 0x%08" PRIx32 ", not 0x%08x", magic, MDB_MAGIC);
    else if (version != MDB_DATA_VERSION)
        problem(c, i, "meta page: format version %" PRIu32 ", not %u", version, MDB_DATA_VERSION);
    else if (psize < MIN_PSIZE || psize > MAX_PSIZE || (psize & (psize - 1)))
        problem(c, i, "meta page: page size %" PRIu32 " is not a power of two from %u to %u", psize,
                MIN_PSIZE, MAX_PSIZE);
    else if (m->last < 1 || m->last - 1 >= c->size / psize + MAX_PAGES_PAST_END)
        problem(c, i, "meta page: last page %" PRIu64 ", but the file holds %" PRIu64 " %s",
                m->last, c->size / psize, plural(c->size / psize, "page", "pages"));
    else if (m->txnid && m->txnid % 2 != i)
        /* transaction N writes meta page N % 2, and liblmdb reads the
         * snapshot of N there (both start at txnid 0) */
        problem(c, i, "meta page: txnid %" PRIu64 " belongs in meta page %d", m->txnid,
                (int)(m->txnid % 2));
    else if ((m->dbs[0].flags & (DB_KEY_FLAGS | MDB_INTEGERKEY)) != MDB_INTEGERKEY ||
             m->dbs[1].flags != 0)
        /* The free list's flags word is also the environment's (mm_flags:
         * NOSUBDIR and the like may be set); liblmdb uses the key and
         * duplicate bits of both as the trees' own: a DUPSORT bit fails its
         * assertion in mdb_cursor_init. */
        problem(c, i, "meta page: free list flags 0x%x, main flags 0x%x", m->dbs[0].flags,
                m->dbs[1].flags);
    else if ((m->dbs[0].root != P_INVALID && m->dbs[0].root > m->last) ||
             (m->dbs[1].root != P_INVALID && m->dbs[1].root > m->last))
        problem(c, i,
                "meta page: root pages %" PRIu64 " and %" PRIu64 " past the last page %" PRIu64,
                m->dbs[0].root, m->dbs[1].root, m->last);
    else
        m->ok = true;
}

/* Which meta page to walk: the one with @txnid, else the one liblmdb opens
 * (the larger txnid), else the other if that one is damaged. */
static int pick_meta(struct ctx *c, const struct meta_page m[2], uint64_t txnid)
{
    int newest = m[0].txnid < m[1].txnid;

    if (m[0].ok && m[1].ok && m[0].psize != m[1].psize)
        problem(c, P_INVALID, "the meta pages disagree on the page size (%" PRIu32 ", %" PRIu32 ")",
                m[0].psize, m[1].psize);
    if (txnid)
        return m[0].txnid == txnid ? 0 : m[1].txnid == txnid ? 1 : -1;
    if (m[newest].ok)
        return newest;
    if (m[!newest].ok) {
        problem(c, P_INVALID,
                "liblmdb would open meta page %d, which is damaged; checking meta "
                "page %d",
                newest, !newest);
        return !newest;
    }
    problem(c, P_INVALID, "no sound meta page: nothing else can be checked");
    return 2;
}

static int check(struct ctx *c, uint64_t txnid)
{
    struct meta_page m[2];
    uint64_t lost = 0, first_lost = 0;
    int k;

    read_meta(c, 0, 0, &m[0]);
    read_meta(c, 1, m[0].ok ? m[0].psize : 4096, &m[1]);
    if (c->err)
        return c->err;
    k = pick_meta(c, m, txnid);
    if (k < 0)
        return -EAGAIN; /* a writer moved on: the caller takes a new snapshot */
    if (k == 2 || !m[k].ok)
        return 0;
    c->psize = m[k].psize;
    c->npages = m[k].last + 1;
    c->st.txnid = m[k].txnid;
    c->used = calloc(1, c->npages / 8 + 1);
    c->freed = calloc(1, c->npages / 8 + 1);
    c->lvl[0] = alloc_aligned(c->psize);
    if (!c->used || !c->freed || !c->lvl[0])
        return c->err = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    bit_test_set(c->used, 0);
    bit_test_set(c->used, 1);
    c->intkey = c->freedb = true;
    check_tree(c, "free list", &m[k].dbs[0]);
    c->intkey = c->freedb = false;
    c->maindb = true;
    check_tree(c, "main", &m[k].dbs[1]);
    c->maindb = false;
    for (size_t i = 0; i < c->ntables && !c->err; i++) {
        if (c->tables[i].db.flags) {
            c->table = c->tables[i].name;
            problem(c, P_INVALID, "flags 0x%x, but the tables are opened with none",
                    c->tables[i].db.flags);
        }
        if (c->entry) {
            int r = c->entry(c->ud, c->tables[i].name, NULL, 0, NULL, c->tables[i].db.entries);
            if (r < 0)
                return c->err = r;
        }
        check_tree(c, c->tables[i].name, &c->tables[i].db);
    }
    if (c->err)
        return c->err;
    c->table = NULL;
    for (uint64_t pg = 2; pg < c->npages; pg++) {
        bool used = c->used[pg / 8] & (1u << (pg % 8)), freed = c->freed[pg / 8] & (1u << (pg % 8));
        if (used && freed)
            problem(c, pg, "used by a table and listed as free");
        else if (!used && !freed && lost++ == 0)
            first_lost = pg;
    }
    if (lost)
        problem(c, P_INVALID, "%" PRIu64 " page%s neither used nor free, the first page %" PRIu64,
                lost, lost == 1 ? " is" : "s are", first_lost);
    return 0;
}

static int run(struct ctx *c, uint64_t txnid, struct metacheck_stats *ret_stats)
{
    int r = check(c, txnid);

    if (r == 0 && c->st.problems > METACHECK_MAX_PROBLEMS && c->fn) {
        char line[200];
        uint64_t more = c->st.problems - METACHECK_MAX_PROBLEMS;
        snprintf(line, sizeof line, "%s: %" PRIu64 " more %s not shown", c->name, more,
                 plural(more, "problem", "problems"));
        c->fn(c->ud, line);
    }
    for (size_t i = 0; i < c->ntables; i++)
        free(c->tables[i].name);
    free(c->tables);
    for (unsigned i = 0; i <= MAX_DEPTH; i++)
        free(c->lvl[i]);
    free(c->used);
    free(c->freed);
    free(c->val);
    c->st.bytes = c->size;
    if (r == 0)
        *ret_stats = c->st;
    return r;
}

int metacheck_fd(int fd, const char *name, uint64_t txnid, metacheck_func fn, void *ud,
                 struct metacheck_stats *ret_stats)
{
    struct ctx c = {.fd = fd, .name = name, .fn = fn, .ud = ud};
    struct stat st;

    if (fstat(fd, &st) < 0)
        return bsnap_fail(-errno, "Store.Error", "%s: %m", name);
    c.size = (uint64_t)st.st_size;
    return run(&c, txnid, ret_stats);
}

int metacheck_buf(const void *buf, size_t len, const char *name, metacheck_func fn, void *ud,
                  struct metacheck_stats *ret_stats)
{
    struct ctx c = {.fd = -1, .buf = buf, .size = len, .name = name, .fn = fn, .ud = ud};

    return run(&c, 0, ret_stats);
}

int metacheck_salvage(int fd, const void *buf, size_t len, const char *name,
                      metacheck_entry_func entry, metacheck_func fn, void *ud,
                      struct metacheck_stats *ret_stats)
{
    struct ctx c = {
        .fd = fd, .buf = buf, .size = len, .name = name, .fn = fn, .ud = ud, .entry = entry};
    struct stat st;

    if (fd >= 0) {
        if (fstat(fd, &st) < 0)
            return bsnap_fail(-errno, "Store.Error", "%s: %m", name);
        c.size = (uint64_t)st.st_size;
    }
    return run(&c, 0, ret_stats);
}
