/* repair.c - rebuild the metadata from what can still be read.
 *
 * LMDB keeps no checksums and no second copy, so a damaged page of
 * meta/data.mdb loses what lies below it.  Most of the metadata can be
 * found again elsewhere:
 *
 *  1. Records (snapshots, volumes, images) are salvaged by the structure
 *     check's own reader (metacheck_salvage): every entry of every leaf
 *     page it finds sound, without liblmdb.  A record that does not decode,
 *     or whose key is not its id, is dropped; pending snapshots too (their
 *     writers are gone: repair holds the store lock exclusively).
 *  2. The chunk index is rebuilt from the packs, which are self-describing:
 *     every record is read and checked (header, payload checksum,
 *     decompression, id).  A damaged record is skipped and the scan finds
 *     the next record by its magic.
 *  3. Refcounts are recomputed from the completed snapshots' trees, as
 *     docs/format.md defines them.  An entry no tree names is DEAD at 0,
 *     for gc.  Pins are dropped: no reader can be running (below).  A page
 *     or chunk a tree names but the packs no longer hold gets a MISSING
 *     entry with those references (index.h): without it, the writer that
 *     stores the chunk again would start it at 0 under pages that already
 *     name it, and gc would free it.
 *  4. The new file is written beside the old one (meta/data.mdb.repair),
 *     committed (synced), and renamed over meta/data.mdb; the old file stays
 *     as meta/data.mdb.damaged-TIME.  A crash before the rename leaves the
 *     old file in place; after it, the new one.
 *
 * Exclusion: the store lock, exclusively (no writer runs), and liblmdb's
 * own lock file, meta/lock.mdb, whose byte 0 every process with the
 * environment open holds with fcntl: repair takes it exclusively for its
 * whole run, so no process has the old file open and none opens it during
 * the repair.  Before it lets go, it opens the new file through liblmdb in
 * this process, which (holding the exclusive lock) resets the lock file
 * for the new file's transaction ids.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockmap.h"
#include "catalog.h"
#include "error.h"
#include "fault.h"
#include "idmap.h"
#include "image.h"
#include "index.h"
#include "pack.h"
#include "store.h"
#include "util.h"

#define MAX_LEVELS 8           /* 4096^8 chunks: far past the largest volume */
#define SCAN_WINDOW (1u << 20) /* bytes read at a time when looking for a record */
#define BATCH 100000           /* index entries per write transaction */

/* One chunk found in the packs. */
struct found {
    chunk_id id;
    struct chunk_loc loc;
    uint64_t refcount;
    bool named; /* some page in the packs names it */
};

/* One salvaged record, kept as it was stored. */
struct rec {
    meta_table table;
    char *key;
    size_t klen;
    char *val;
    size_t vlen;
    char *path; /* a volume's path, for volpaths (check_names), or NULL */
    bool drop;
};

struct rctx {
    bsnap_store *s;
    const bsnap_run_options *run;
    bsnap_problem_func fn;
    void *ud;
    bsnap_repair_stats st;
    struct idmap map; /* chunk id -> index into found + 1 */
    struct found *found;
    size_t nfound, fcap;
    struct rec *recs;
    size_t nrecs, rcap;
    meta_table table;            /* the table being salvaged, or T__COUNT to skip */
    uint64_t recorded[T__COUNT]; /* entries each table said it held */
    bool seen[T__COUNT];         /* the table's record was found */
    uint64_t salvaged[T__COUNT];
    uint32_t next_pack;
    uint64_t pack_bytes, pack_done;
    uint8_t *buf;                    /* one chunk */
    chunk_id *pages[MAX_LEVELS + 1]; /* one block-map page a level */
};

/* Repair rebuilds refcounts from the block maps, and the pages of an
 * encrypted lineage can be read only with its key, which repair (working
 * without the metadata, where the key records are) cannot open: it
 * refuses rather than count what it cannot see. */
static int encrypted_refused(struct rctx *c)
{
    (void)c;
    return bsnap_fail(-EOPNOTSUPP, "UnsupportedOperation",
                      "the store holds encrypted snapshots or records: repair cannot read their "
                      "block maps without their keys, and does not repair such a store yet");
}

static void problem(struct rctx *c, const char *snap, int64_t pack, int64_t offset, const char *fmt,
                    ...) BSNAP_PRINTF(5, 6);

static void problem(struct rctx *c, const char *snap, int64_t pack, int64_t offset, const char *fmt,
                    ...)
{
    char what[1200];
    va_list ap;
    bsnap_problem p;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    p = (bsnap_problem){snap ? snap : "", "", pack, offset, what, ""};
    c->st.problems++;
    if (c->fn)
        c->fn(c->ud, &p);
}

static bool cancelled(const struct rctx *c)
{
    return c->run && c->run->cancel && *c->run->cancel;
}

/* ---- 1. records ---- */

static meta_table table_of(const char *name)
{
    for (int i = 0; i < T__COUNT; i++)
        if (strcmp(meta_table_name((meta_table)i), name) == 0)
            return (meta_table)i;
    return T__COUNT;
}

/* Keep a record: @key copied, @val (NUL-terminated, @vlen bytes) taken
 * over on success. */
static int rec_add(struct rctx *c, meta_table t, const char *key, size_t klen, char *val,
                   size_t vlen)
{
    struct rec *r = array_grow(c->recs, c->nrecs, &c->rcap, sizeof *r, 256);

    if (!r)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    c->recs = r;
    r = &c->recs[c->nrecs];
    *r = (struct rec){.table = t, .key = malloc(klen + 1), .klen = klen, .val = val, .vlen = vlen};
    if (!r->key)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    memcpy(r->key, key, klen);
    r->key[klen] = '\0';
    c->nrecs++;
    return 0;
}

static int salvage_entry(void *ud, const char *table, const uint8_t *key, size_t klen,
                         const uint8_t *val, size_t vlen)
{
    struct rctx *c = ud;
    char *v;
    int r;

    if (!key) { /* a table begins */
        c->table = table_of(table);
        if (c->table < T__COUNT) {
            c->recorded[c->table] = vlen;
            c->seen[c->table] = true;
        }
        return 0;
    }
    if (c->table == T__COUNT)
        return 0;
    c->salvaged[c->table]++;
    if (c->table == T_INFO) {
        if (klen == 9 && memcmp(key, "next-pack", 9) == 0 && vlen == 4 &&
            le32_get(val) > c->next_pack)
            c->next_pack = le32_get(val);
        return 0;
    }
    /* chunks come from the packs, pins are dropped, volpaths rebuilt */
    if (c->table != T_SNAPSHOTS && c->table != T_VOLUMES && c->table != T_IMAGES &&
        c->table != T_KEYS && c->table != T_TEMPLATES && c->table != T_LIFECYCLE &&
        c->table != T_INSTANCES)
        return 0;
    if (c->table == T_LIFECYCLE && klen > 1 && key[0] == 'b') {
        /* A snapshot in the Recycle Bin comes back as a snapshot: the
         * refcounts are rebuilt from the snapshots, and its time in the
         * bin cannot be vouched for. */
        json_t *e = json_loadb((const char *)val, vlen, 0, NULL);
        const char *text = json_string_value(json_object_get(e, "record"));
        if (text && (v = strdup(text))) {
            r = rec_add(c, T_SNAPSHOTS, (const char *)key + 1, klen - 1, v, strlen(v));
            if (r < 0)
                free(v);
        } else {
            r = text ? bsnap_fail(-ENOMEM, "InternalError", "out of memory") : 0;
        }
        json_decref(e);
        return r;
    }
    if (!(v = malloc(vlen + 1)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    memcpy(v, val, vlen);
    v[vlen] = '\0';
    r = rec_add(c, c->table, (const char *)key, klen, v, vlen);
    if (r < 0)
        free(v);
    return r;
}

static void salvage_problem(void *ud, const char *what)
{
    struct rctx *c = ud;
    problem(c, NULL, -1, -1, "%s", what);
}

/* The key as text for a message: a damaged key is shown with '?'. */
static void key_text(const struct rec *r, char *out, size_t n)
{
    size_t i;
    for (i = 0; i < r->klen && i + 1 < n; i++)
        out[i] = r->key[i] >= 0x20 && r->key[i] < 0x7f ? r->key[i] : '?';
    out[i] = '\0';
}

static int salvage(struct rctx *c, const char *file)
{
    _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct metacheck_stats ms;
    int r;

    if (fd < 0) {
        if (errno != ENOENT)
            return bsnap_fail(-errno, "Store.Error", "%s: %m", file);
        problem(c, NULL, -1, -1, "meta/data.mdb is missing: no record can be salvaged");
        return 0;
    }
    c->table = T__COUNT;
    r = metacheck_salvage(fd, NULL, 0, "meta/data.mdb", salvage_entry, salvage_problem, c, &ms);
    if (r < 0)
        return r;
    c->st.meta_problems = ms.problems;
    return 0;
}

/* Decode a volume or image record: 0 with *@ret_match telling whether its
 * id is its key, or the decoder's error. */
static int decode_other(const struct rec *r, bool *ret_match)
{
    struct volume_rec v = {0};
    struct image_rec im = {0};
    int d = r->table == T_VOLUMES ? volume_rec_decode(r->val, r->vlen, &v)
                                  : image_rec_decode(r->val, r->vlen, &im);

    *ret_match = d == 0 && strcmp(r->table == T_VOLUMES ? v.id : im.id, r->key) == 0;
    volume_rec_clear(&v);
    image_rec_clear(&im);
    return d;
}

/* Decode every salvaged record; drop what does not decode, pending
 * snapshots, and records filed under another id. */
static int decode_records(struct rctx *c, struct snapshot_rec **ret_snaps, size_t *ret_nsnaps)
{
    struct snapshot_rec *snaps = calloc(c->nrecs + 1, sizeof *snaps);
    size_t n = 0;
    char key[BSNAP_ID_MAX + 8];

    if (!snaps)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < c->nrecs; i++) {
        struct rec *r = &c->recs[i];
        const char *id = NULL, *kind = "";
        int d;
        if (r->table == T_KEYS || r->table == T_TEMPLATES || r->table == T_LIFECYCLE) {
            /* key records, aliases and settings, launch templates and their
             * versions, lifecycle policies: kept as they were (keys.c,
             * template.c and lifecycle.c check each when they read it) */
            c->st.records_kept++;
            continue;
        }
        key_text(r, key, sizeof key);
        if (r->table == T_SNAPSHOTS) {
            kind = "snapshot";
            d = snapshot_rec_decode(r->val, r->vlen, &snaps[n]);
            id = d == 0 ? snaps[n].id : NULL;
        } else {
            bool match = false;
            kind = r->table == T_VOLUMES ? "volume" : "image";
            d = decode_other(r, &match);
            id = match ? r->key : NULL;
        }
        if (d < 0 || !id || strcmp(id, r->key) != 0 || strlen(r->key) != r->klen) {
            problem(c, r->table == T_SNAPSHOTS ? key : NULL, -1, -1, "%s record %s: %s: dropped",
                    kind, key, d < 0 ? bsnap_last_error()->message : "filed under another id");
            if (d == 0 && r->table == T_SNAPSHOTS)
                snapshot_rec_clear(&snaps[n]);
            r->drop = true;
            c->st.records_dropped++;
            continue;
        }
        if (r->table == T_SNAPSHOTS && snaps[n].state == BSNAP_SNAPSHOT_PENDING) {
            /* its writer is gone: gc would drop it too */
            snapshot_rec_clear(&snaps[n]);
            r->drop = true;
            c->st.pending_dropped++;
            continue;
        }
        if (r->table == T_SNAPSHOTS)
            n++;
        c->st.records_kept++;
    }
    *ret_snaps = snaps;
    *ret_nsnaps = n;
    return 0;
}

/* ---- 2. the index, from the packs ---- */

static int found_add(struct rctx *c, const chunk_id *id, const struct chunk_loc *loc)
{
    struct found *f = array_grow(c->found, c->nfound, &c->fcap, sizeof *f, 4096);
    struct idmap_entry *e = f ? idmap_put(&c->map, id->b) : NULL;

    if (f)
        c->found = f;
    if (!e)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (e->v[0]) { /* stored twice (a crashed writer's tail, two writers): keep the first */
        c->st.duplicates++;
        return 0;
    }
    c->found[c->nfound] = (struct found){*id, *loc, 0, false};
    e->v[0] = ++c->nfound;
    return 0;
}

/* The offset of the next record header at or after @off whose header
 * parses, or @size when there is none.  @buf holds SCAN_WINDOW + IO_ALIGN
 * bytes: the window is read at io_at(@buf, off) (util.h). */
static uint64_t resync(int fd, uint64_t off, uint64_t size, uint8_t *buf)
{
    static const uint8_t magic[4] = {0x42, 0x53, 0x52, 0x43}; /* PACK_RECORD_MAGIC, LE */

    while (off + PACK_RECORD_HEADER_BYTES <= size) {
        size_t want = size - off < SCAN_WINDOW ? (size_t)(size - off) : SCAN_WINDOW;
        uint8_t *win = io_at(buf, off);
        ssize_t n = full_pread(fd, win, want, (off_t)off);
        const uint8_t *p = win;
        struct pack_record rec;
        if (n < PACK_RECORD_HEADER_BYTES)
            break;
        while ((p = memmem(p, (size_t)n - (size_t)(p - win), magic, 4))) {
            if ((size_t)(p - win) + PACK_RECORD_HEADER_BYTES > (size_t)n)
                break;
            if (pack_record_parse(p, &rec) == 0)
                return off + (uint64_t)(p - win);
            p++;
        }
        /* the last header's length may straddle the window */
        off +=
            (uint64_t)n > PACK_RECORD_HEADER_BYTES ? (uint64_t)n - PACK_RECORD_HEADER_BYTES + 1 : 1;
    }
    return size;
}

static int scan_pack(struct rctx *c, uint32_t num, uint8_t *win)
{
    _cleanup_free_ char *path = pack_path(c->s, num);
    _cleanup_close_ int fd = -1;
    _Alignas(IO_ALIGN) uint8_t hdr[PACK_HEADER_BYTES];
    uint8_t uuid[16];
    uint64_t size, off = PACK_HEADER_BYTES, bad = 0, first_bad = 0;
    uint32_t hnum;
    struct stat st;

    if (!path)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        return bsnap_fail(-errno, "Store.Error", "%s: %m", path);
    size = (uint64_t)st.st_size;
    if (full_pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
        pack_header_parse(hdr, &hnum, uuid) < 0 || hnum != num) {
        problem(c, NULL, num, 0, "pack header damaged: its records are still read");
    } else if (memcmp(uuid, c->s->uuid, 16) != 0) {
        problem(c, NULL, num, 0, "pack of another store: skipped");
        return 0;
    }
    c->st.packs++;
    while (off + PACK_RECORD_HEADER_BYTES <= size) {
        _Alignas(IO_ALIGN) uint8_t raw[IO_ALIGN + PACK_RECORD_HEADER_BYTES];
        uint8_t *rh = io_at(raw, off);
        struct pack_record rec;
        struct chunk_loc loc;
        int r;

        if (cancelled(c))
            return bsnap_fail(-ECANCELED, "Cancelled", "repair cancelled");
        r = full_pread(fd, rh, PACK_RECORD_HEADER_BYTES, (off_t)off) !=
                        (ssize_t)PACK_RECORD_HEADER_BYTES ||
                    pack_record_parse(rh, &rec) < 0
                ? -EIO
                : 0;
        if (r == 0) {
            loc = (struct chunk_loc){.pack = num,
                                     .flags = rec.flags & (CHUNK_LZ4 | CHUNK_PAGE | CHUNK_ENC),
                                     .offset = off,
                                     .stored_len = rec.stored_len,
                                     .orig_len = rec.orig_len};
            r = rec.orig_len > PACK_RECORD_MAX_PAYLOAD
                    ? -EIO
                    : pack_read_chunk(c->s, &rec.id, &loc, c->buf);
            if (r == -EACCES)
                return encrypted_refused(c);
        }
        if (r == -ENOMEM)
            return r;
        if (r < 0) { /* skip to the next record that parses */
            uint64_t next = resync(fd, off + 1, size, win);
            if (bad++ == 0)
                first_bad = off;
            c->st.bytes_skipped += next - off;
            off = next;
            continue;
        }
        r = found_add(c, &rec.id, &loc);
        if (r < 0)
            return r;
        c->st.records_indexed++;
        off += PACK_RECORD_HEADER_BYTES + rec.stored_len;
    }
    if (bad)
        problem(c, NULL, num, (int64_t)first_bad,
                "%" PRIu64 " damaged record%s skipped, the first at this offset", bad,
                bad == 1 ? "" : "s");
    c->st.damaged_records += bad;
    if (num >= c->next_pack)
        c->next_pack = num + 1;
    c->pack_done += size;
    if (c->run && c->run->progress)
        c->run->progress(c->run->progress_ud, c->pack_done, c->pack_bytes);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int scan_packs(struct rctx *c)
{
    DIR *d = opendir(c->s->packs_dir);
    _cleanup_free_ uint32_t *nums = NULL;
    _cleanup_free_ uint8_t *win = alloc_aligned(SCAN_WINDOW + IO_ALIGN);
    size_t n = 0, cap = 0;
    struct dirent *e;
    int r = 0;

    if (!d)
        return errno == ENOENT ? 0 : bsnap_fail(-errno, "Store.Error", "%s: %m", c->s->packs_dir);
    while ((e = readdir(d))) {
        uint32_t num;
        struct stat st;
        _cleanup_free_ char *p = NULL;
        if (!pack_name_parse(e->d_name, &num))
            continue;
        uint32_t *nn = array_grow(nums, n, &cap, sizeof *nn, 64);
        if (!nn) {
            closedir(d);
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        }
        nums = nn;
        nums[n++] = num;
        p = pack_path(c->s, num);
        if (p && stat(p, &st) == 0)
            c->pack_bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    if (!win)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (n)
        qsort(nums, n, sizeof *nums, cmp_u32);
    for (size_t i = 0; i < n && r == 0; i++)
        r = scan_pack(c, nums[i], win);
    return r;
}

/* ---- 3. refcounts ---- */

static struct found *found_get(struct rctx *c, const chunk_id *id)
{
    struct idmap_entry *e = idmap_get(&c->map, id->b);
    return e ? &c->found[e->v[0] - 1] : NULL;
}

/* A MISSING entry for @id, a page when @level > 0 (see the top). */
static struct found *found_missing(struct rctx *c, const chunk_id *id, uint32_t level)
{
    struct chunk_loc loc = {.flags = CHUNK_MISSING | (level ? CHUNK_PAGE : 0),
                            .orig_len = level ? BM_PAGE_BYTES : c->s->chunk_size};

    return found_add(c, id, &loc) < 0 ? NULL : found_get(c, id);
}

/* Take one reference on @id, the root of a tree @level high (0: a data
 * chunk).  The first reference to a page takes its entries'. */
static int take_ref(struct rctx *c, const chunk_id *id, uint32_t level, uint64_t *missing)
{
    struct found *f;
    chunk_id *page;

    if (chunk_id_is_zero(id))
        return 0;
    f = found_get(c, id);
    if (!f && !(f = found_missing(c, id, level)))
        return -ENOMEM;
    if ((f->loc.flags & CHUNK_MISSING) || !(f->loc.flags & CHUNK_PAGE) != (level == 0)) {
        /* verify names the snapshot and the chunk; a MISSING entry keeps
         * the reference (a chunk of the wrong kind cannot: its entry is
         * the other kind's) */
        ++*missing;
        if (f->loc.flags & CHUNK_MISSING)
            f->refcount++;
        return 0;
    }
    if (f->refcount++ > 0 || level == 0)
        return 0;
    if (level > MAX_LEVELS)
        return bsnap_fail(-EIO, "Store.Corrupt", "block map deeper than %d levels", MAX_LEVELS);
    page = c->pages[level - 1];
    if (!page && !(page = c->pages[level - 1] = alloc_aligned(BM_PAGE_BYTES)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (pack_read_chunk(c->s, id, &f->loc, page) < 0) {
        ++*missing;
        return 0;
    }
    for (size_t i = 0; i < BM_FANOUT; i++) {
        int r = take_ref(c, &page[i], level - 1, missing);
        if (r < 0)
            return r;
    }
    return 0;
}

static int count_refs(struct rctx *c, const struct snapshot_rec *snaps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t missing = 0;
        int r;
        if (snaps[i].state != BSNAP_SNAPSHOT_COMPLETED)
            continue;
        c->st.snapshots++;
        r = take_ref(c, &snaps[i].root, snaps[i].depth, &missing);
        if (r < 0)
            return r;
        if (missing) {
            c->st.damaged_snapshots++;
            problem(c, snaps[i].id, -1, -1,
                    "%" PRIu64 " block-map page%s or chunk%s missing or damaged in the packs: "
                    "kept, verify names them",
                    missing, missing == 1 ? "" : "s", missing == 1 ? "" : "s");
        }
    }
    return 0;
}

/* ---- lost and found: trees whose snapshot record was lost ---- */

/* Read page @f into c->pages[@slot]. */
static chunk_id *page_read(struct rctx *c, const struct found *f, unsigned slot)
{
    if (f->loc.flags & CHUNK_MISSING)
        return NULL;
    if (!c->pages[slot] && !(c->pages[slot] = alloc_aligned(BM_PAGE_BYTES))) {
        bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        return NULL;
    }
    return pack_read_chunk(c->s, &f->id, &f->loc, c->pages[slot]) == 0 ? c->pages[slot] : NULL;
}

/* The height of the tree under page @f (1: it names data chunks), 0 when
 * it cannot be told (a missing or damaged page on the way down). */
static uint32_t tree_height(struct rctx *c, const struct found *f)
{
    for (uint32_t h = 1; h <= MAX_LEVELS; h++) {
        const chunk_id *page = page_read(c, f, 0);
        size_t i = 0;
        if (!page)
            return 0;
        while (i < BM_FANOUT && chunk_id_is_zero(&page[i]))
            i++;
        if (i == BM_FANOUT)
            return h; /* an all-zero page is stored as the zero id: not here */
        f = found_get(c, &page[i]);
        if (!f || (f->loc.flags & CHUNK_MISSING))
            return 0;
        if (!(f->loc.flags & CHUNK_PAGE))
            return h;
    }
    return 0;
}

/* Count the data chunks of the tree under @id (@level high) and find the
 * last one's index; false when a page is missing. */
static bool tree_extent(struct rctx *c, const chunk_id *id, uint32_t level, uint64_t base,
                        uint64_t *count, uint64_t *last)
{
    const struct found *f = found_get(c, id);
    const chunk_id *page;

    if (!f || level == 0 || level > MAX_LEVELS || !(page = page_read(c, f, level)))
        return false;
    for (size_t i = 0; i < BM_FANOUT; i++) {
        uint64_t idx = base * BM_FANOUT + i;
        if (chunk_id_is_zero(&page[i]))
            continue;
        if (level == 1) {
            ++*count;
            *last = idx;
        } else if (!tree_extent(c, &page[i], level - 1, idx, count, last)) {
            return false; /* (each level reads into its own buffer) */
        }
    }
    return true;
}

/* Every page named by another page is not a root. */
static int mark_named(struct rctx *c)
{
    for (size_t i = 0; i < c->nfound; i++) {
        const chunk_id *page;
        if (!(c->found[i].loc.flags & CHUNK_PAGE))
            continue;
        if (!(page = page_read(c, &c->found[i], 0)))
            continue;
        for (size_t j = 0; j < BM_FANOUT; j++) {
            struct found *f = chunk_id_is_zero(&page[j]) ? NULL : found_get(c, &page[j]);
            if (f)
                f->named = true;
        }
    }
    return 0;
}

/* Snapshot records may have been lost (the file was damaged): give each
 * tree in the packs that no snapshot and no page names a new record, so
 * that its data can be read again.  (A tree of a snapshot deleted since the
 * last gc comes back the same way: better than losing one.)  Its size is up to its last non-zero chunk (the true size was in
 * the lost record). */
static int recover_trees(struct rctx *c)
{
    int r = mark_named(c);

    for (size_t i = 0; r == 0 && i < c->nfound; i++) {
        struct found *f = &c->found[i];
        struct snapshot_rec rec = {0};
        uint64_t count = 0, last = 0, missing = 0;
        char hex[33], desc[160], *json = NULL;
        size_t len;
        uint32_t h;

        if (!(f->loc.flags & CHUNK_PAGE) || f->named || f->refcount)
            continue;
        chunk_id_hex(&f->id, hex);
        h = tree_height(c, f);
        if (!h || !tree_extent(c, &f->id, h, 0, &count, &last)) {
            problem(c, NULL, f->loc.pack, (int64_t)f->loc.offset,
                    "block-map tree from page %s: a page below it is missing or damaged: not "
                    "recovered",
                    hex);
            continue;
        }
        if ((r = id_generate("snap", rec.id)) < 0)
            break;
        snprintf(rec.volume_id, sizeof rec.volume_id, "vol-ffffffff");
        snprintf(desc, sizeof desc,
                 "recovered by a repair from block-map page %s: its record was lost", hex);
        rec.description = desc;
        rec.state = BSNAP_SNAPSHOT_COMPLETED;
        rec.root = f->id;
        rec.depth = h;
        rec.chunk_size = c->s->chunk_size;
        rec.size = (last + 1) * c->s->chunk_size;
        rec.data_chunks = count;
        rec.start_ms = rec.completion_ms = time_now_ms();
        if ((r = take_ref(c, &rec.root, h, &missing)) < 0 ||
            (r = snapshot_rec_encode(&rec, &json, &len)) < 0)
            break;
        f = &c->found[i]; /* take_ref may have grown the array */
        if ((r = rec_add(c, T_SNAPSHOTS, rec.id, strlen(rec.id), json, len)) < 0) {
            free(json);
            break;
        }
        c->st.snapshots++;
        c->st.recovered++;
        c->st.records_kept++;
        problem(c, rec.id, f->loc.pack, (int64_t)f->loc.offset,
                "recovered: a tree of %" PRIu64 " data %s (%" PRIu64
                " %s up to its last one) whose snapshot record was lost",
                count, plural(count, "chunk", "chunks"), rec.size,
                plural(rec.size, "byte", "bytes"));
    }
    return r;
}

/* ---- lost references ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Say which kept records name snapshots that were lost; a volume whose
 * last snapshot was lost gets a full next snapshot. */
static int check_names(struct rctx *c, const struct snapshot_rec *snaps, size_t n)
{
    _cleanup_free_ const char **ids = calloc(n + 1, sizeof *ids);
    char key[BSNAP_ID_MAX + 8];

    if (!ids)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < n; i++)
        ids[i] = snaps[i].id;
    qsort(ids, n, sizeof *ids, cmp_str);
#define KNOWN(s) (!(s)[0] || (n && bsearch(&(const char *){(s)}, ids, n, sizeof *ids, cmp_str)))
    for (size_t i = 0; i < c->nrecs; i++) {
        struct rec *r = &c->recs[i];
        if (r->drop)
            continue;
        key_text(r, key, sizeof key);
        if (r->table == T_VOLUMES) {
            struct volume_rec v = {0};
            char *json = NULL;
            size_t len;
            int e = volume_rec_decode(r->val, r->vlen, &v);
            if (e < 0)
                return e;
            if (!KNOWN(v.source_snapshot))
                problem(c, v.source_snapshot, -1, -1,
                        "volume %s was restored from this snapshot, whose record was lost", key);
            if (!KNOWN(v.last_snapshot)) {
                problem(c, v.last_snapshot, -1, -1,
                        "volume %s: its last snapshot's record was lost; its next snapshot "
                        "will read the whole volume",
                        key);
                v.last_snapshot[0] = '\0';
                e = volume_rec_encode(&v, &json, &len);
                if (e == 0) {
                    free(r->val);
                    r->val = json;
                    r->vlen = len;
                }
            }
            if (e == 0 && v.path && v.path[0] && !(r->path = strdup(v.path)))
                e = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            volume_rec_clear(&v);
            if (e < 0)
                return e;
        } else if (r->table == T_IMAGES) {
            struct image_rec im = {0};
            int e = image_rec_decode(r->val, r->vlen, &im);
            if (e < 0)
                return e;
            for (size_t j = 0; j < im.nbdm; j++)
                if (!KNOWN(im.bdm[j].snapshot_id))
                    problem(c, im.bdm[j].snapshot_id, -1, -1,
                            "image %s maps %s to this snapshot, whose record was lost", key,
                            im.bdm[j].device);
            image_rec_clear(&im);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!KNOWN(snaps[i].parent_id))
            c->st.parents_lost++; /* the parent link is history: kept as it is */
#undef KNOWN
    return 0;
}

/* ---- 4. the new file ---- */

static int put_batch(meta *m, struct rctx *c, size_t *next)
{
    _cleanup_(meta_txn_abortp) meta_txn *txn = NULL;
    size_t end = *next + BATCH < c->nfound ? *next + BATCH : c->nfound;
    int r = meta_txn_begin(m, true, &txn);

    for (size_t i = *next; r == 0 && i < end; i++) {
        struct found *f = &c->found[i];
        struct chunk_entry e = {.loc = f->loc, .refcount = f->refcount};
        if (!f->refcount)
            e.loc.flags |= CHUNK_DEAD;
        r = index_put(txn, &f->id, &e);
    }
    if (r == 0 && end == c->nfound) {
        uint8_t np[4];
        le32_put(np, c->next_pack);
        r = meta_put(txn, T_INFO, "next-pack", 9, np, 4);
        for (size_t i = 0; r == 0 && i < c->nrecs; i++) {
            struct rec *rc = &c->recs[i];
            if (rc->drop)
                continue;
            r = meta_put(txn, rc->table, rc->key, rc->klen, rc->val, rc->vlen);
            if (r == 0 && rc->path) {
                const void *old;
                size_t olen, plen = strlen(rc->path);
                if (meta_get(txn, T_VOLPATHS, rc->path, plen, &old, &olen) == 0)
                    problem(c, NULL, -1, -1, "volumes %.*s and %s both name %s: the first keeps it",
                            (int)olen, (const char *)old, rc->key, rc->path);
                else
                    r = meta_put(txn, T_VOLPATHS, rc->path, plen, rc->key, rc->klen);
            }
        }
        /* The cross-reference tables (xref.h) are derived: rebuilt from
         * the records kept, in the transaction that writes them. */
        if (r == 0)
            r = catalog_xref_build(txn);
        if (r == 0)
            r = image_xref_build(txn);
    }
    if (r == 0)
        r = meta_txn_commit(txn);
    txn = NULL;
    *next = end;
    return r;
}

static int write_file(struct rctx *c, const char *file)
{
    _cleanup_free_ char *lock = NULL;
    meta *m = NULL;
    size_t next = 0;
    int r;

    if (asprintf(&lock, "%s-lock", file) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    /* a repair killed earlier left these */
    unlink(file);
    unlink(lock);
    r = meta_create_file(file, &m);
    do {
        if (r == 0)
            r = put_batch(m, c, &next);
    } while (r == 0 && next < c->nfound);
    meta_close(m);
    unlink(lock);
    if (r < 0)
        unlink(file);
    return r;
}

/* Take byte 0 of liblmdb's lock file exclusively, as liblmdb's first
 * opener does: -EBUSY when another process has the environment open. */
static int lock_env(bsnap_store *s, int *ret_fd)
{
    _cleanup_free_ char *p = store_path(s, "meta/lock.mdb");
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    int fd;

    if (!p)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return bsnap_fail(-errno, "Store.Error", "%s: %m", p);
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        int e = errno;
        close(fd);
        if (e == EAGAIN || e == EACCES)
            return bsnap_fail(-EBUSY, "Store.Busy",
                              "store %s: another process has its metadata open (a mount, a "
                              "restore, a describe): stop it and run the repair again",
                              s->path);
        return bsnap_fail(-e, "Store.Error", "%s: lock: %s", p, strerror(e));
    }
    *ret_fd = fd;
    return 0;
}

/* Put the new file in place; the old one stays as data.mdb.damaged-TIME
 * (its name in *ret_saved, "" when there was none). */
static int swap_in(bsnap_store *s, const char *newfile, char *saved, size_t savedlen)
{
    _cleanup_free_ char *cur = store_path(s, "meta/data.mdb"), *dir = store_path(s, "meta");
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;

    saved[0] = '\0';
    if (!cur || !dir)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    if (access(cur, F_OK) == 0) {
        for (int i = 0; i < 100; i++) {
            char name[96];
            _cleanup_free_ char *p = NULL;
            snprintf(name, sizeof name,
                     i ? "meta/data.mdb.damaged-%s.%d" : "meta/data.mdb.damaged-%s", stamp, i);
            p = store_path(s, name);
            if (!p)
                return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            if (link(cur, p) == 0) {
                snprintf(saved, savedlen, "%s", name);
                break;
            }
            if (errno != EEXIST)
                return bsnap_fail(-errno, "Store.Error", "%s: keeping the old file: %m", p);
        }
    }
    if (fault_hit("repair-swap"))
        return bsnap_fail(-EIO, "Store.Error", "fault injected at repair-swap");
    if (rename(newfile, cur) < 0)
        return bsnap_fail(-errno, "Store.Error", "%s: %m", cur);
    return fsync_dir(dir);
}

int bsnap_store_repair(const char *path, const bsnap_run_options *run, bsnap_problem_func fn,
                       void *ud, bsnap_repair_stats *ret_stats)
{
    struct rctx c = {.run = run, .fn = fn, .ud = ud};
    _cleanup_free_ char *cur = NULL, *newfile = NULL;
    struct snapshot_rec *snaps = NULL;
    size_t nsnaps = 0;
    bsnap_store *check = NULL;
    int lockfd = -1, envfd = -1, r;

    bsnap_error_clear();
    r = store_open_nometa(path, &c.s);
    if (r < 0)
        return r;
    cur = store_path(c.s, "meta/data.mdb");
    newfile = store_path(c.s, "meta/data.mdb.repair");
    c.buf = alloc_aligned(PACK_RECORD_MAX_PAYLOAD);
    if (!cur || !newfile || !c.buf) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    if ((r = store_lock(c.s, true, run, &lockfd)) < 0 || (r = lock_env(c.s, &envfd)) < 0)
        goto out;
    if ((r = salvage(&c, cur)) < 0 || (r = decode_records(&c, &snaps, &nsnaps)) < 0)
        goto out;
    for (size_t i = 0; i < nsnaps; i++)
        if (snaps[i].encrypted) {
            r = encrypted_refused(&c);
            goto out;
        }
    if ((r = scan_packs(&c)) < 0 || (r = count_refs(&c, snaps, nsnaps)) < 0 ||
        (r = check_names(&c, snaps, nsnaps)) < 0)
        goto out;
    /* On a damaged file, even the tables' counts may be wrong: look for
     * trees that lost their record whenever anything was damaged. */
    if ((c.st.meta_problems || !c.seen[T_SNAPSHOTS] || c.st.records_dropped) &&
        (r = recover_trees(&c)) < 0)
        goto out;
    for (int t = 0; t < T__COUNT; t++) {
        const char *name = meta_table_name((meta_table)t);
        if (t != T_SNAPSHOTS && t != T_VOLUMES && t != T_IMAGES)
            continue;
        if (!c.seen[t]) {
            c.st.tables_lost++;
            problem(&c, NULL, -1, -1,
                    "table %s: its root could not be read: every record in it is lost", name);
        } else if (c.salvaged[t] < c.recorded[t]) {
            c.st.records_lost += c.recorded[t] - c.salvaged[t];
            problem(&c, NULL, -1, -1,
                    "table %s: %" PRIu64 " of its %" PRIu64 " records lie in damaged pages: lost",
                    name, c.recorded[t] - c.salvaged[t], c.recorded[t]);
        }
    }
    for (size_t i = 0; i < c.nfound; i++)
        c.st.chunks_live += c.found[i].refcount > 0;
    if (cancelled(&c)) {
        r = bsnap_fail(-ECANCELED, "Cancelled", "repair cancelled");
        goto out;
    }
    if ((r = write_file(&c, newfile)) < 0)
        goto out;
    r = swap_in(c.s, newfile, c.st.saved_as, sizeof c.st.saved_as);
    if (r < 0) {
        unlink(newfile);
        goto out;
    }
    /* Opened here, while byte 0 of the lock file is still ours: liblmdb
     * then resets the lock file for the new file (see the top). */
    r = bsnap_store_open(path, 0, NULL, &check);
    bsnap_store_close(check);

out:
    if (envfd >= 0)
        close(envfd);
    store_unlock(lockfd);
    snapshot_recs_free(snaps, nsnaps);
    for (size_t i = 0; i < c.nrecs; i++) {
        free(c.recs[i].key);
        free(c.recs[i].val);
        free(c.recs[i].path);
    }
    free(c.recs);
    free(c.found);
    idmap_free(&c.map);
    for (int i = 0; i <= MAX_LEVELS; i++)
        free(c.pages[i]);
    free(c.buf);
    bsnap_store_close(c.s);
    if (ret_stats)
        *ret_stats = c.st;
    return r;
}
