/* pack.c - pack files: record format, writer, verified reads; see pack.h. */
#include "pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "crypt.h"
#include "error.h"
#include "fault.h"
#include "meta.h"
#include "store-handle.h"
#include "util.h"

/* Appends are gathered into writes of this size: small enough to stay in
 * L2 (larger writes cost 3-4x the system time here; docs/benchmarks.md). */
#define WRITE_BUFFER_BYTES (256u << 10)
#define KICK_BYTES (8u << 20) /* start writeback after this many bytes */

/* ---- record and header codecs ---- */

void pack_record_encode(const struct pack_record *rec, uint8_t out[PACK_RECORD_HEADER_BYTES])
{
    le32_put(out, PACK_RECORD_MAGIC);
    le16_put(out + 4, (uint16_t)rec->flags);
    le16_put(out + 6, PACK_RECORD_HEADER_BYTES);
    memcpy(out + 8, rec->id.b, 16);
    le32_put(out + 24, rec->stored_len);
    le32_put(out + 28, rec->orig_len);
    le64_put(out + 32, rec->checksum);
    le64_put(out + 40, XXH3_64bits(out, 40));
}

int pack_record_parse(const uint8_t in[PACK_RECORD_HEADER_BYTES], struct pack_record *ret)
{
    struct pack_record r;

    if (le32_get(in) != PACK_RECORD_MAGIC || le16_get(in + 6) != PACK_RECORD_HEADER_BYTES)
        return -EIO;
    if (le64_get(in + 40) != XXH3_64bits(in, 40))
        return -EIO;
    r.flags = le16_get(in + 4);
    memcpy(r.id.b, in + 8, 16);
    r.stored_len = le32_get(in + 24);
    r.orig_len = le32_get(in + 28);
    r.checksum = le64_get(in + 32);
    if (r.flags & ~(CHUNK_LZ4 | CHUNK_PAGE | CHUNK_ENC))
        return -EIO;
    if (r.stored_len == 0 || r.orig_len == 0 || r.stored_len > PACK_RECORD_MAX_PAYLOAD + 65536 ||
        r.orig_len > PACK_RECORD_MAX_PAYLOAD)
        return -EIO;
    *ret = r;
    return 0;
}

static void pack_header_encode(const bsnap_store *s, uint32_t n, uint8_t out[PACK_HEADER_BYTES])
{
    memset(out, 0, PACK_HEADER_BYTES);
    memcpy(out, PACK_MAGIC, 8);
    le32_put(out + 8, PACK_VERSION);
    le32_put(out + 12, n);
    memcpy(out + 16, s->uuid, 16);
}

int pack_header_parse(const uint8_t in[PACK_HEADER_BYTES], uint32_t *ret_pack, uint8_t ret_uuid[16])
{
    if (memcmp(in, PACK_MAGIC, 8) != 0 || le32_get(in + 8) != PACK_VERSION)
        return -EIO;
    *ret_pack = le32_get(in + 12);
    memcpy(ret_uuid, in + 16, 16);
    return 0;
}

char *pack_path(const bsnap_store *s, uint32_t n)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%08u.pack", s->packs_dir, n) < 0)
        return NULL;
    return p;
}

bool pack_name_parse(const char *name, uint32_t *ret_n)
{
    char *end;
    unsigned long v;

    if (strlen(name) != 13 || strcmp(name + 8, ".pack") != 0)
        return false;
    for (int i = 0; i < 8; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    v = strtoul(name, &end, 10);
    if (end != name + 8 || v > UINT32_MAX)
        return false;
    *ret_n = (uint32_t)v;
    return true;
}

/* ---- writer ---- */

struct pack_writer {
    bsnap_store *s;
    uint32_t pack;
    int fd;
    uint64_t size;    /* file size including buffered bytes */
    uint64_t flushed; /* bytes written to the file */
    uint64_t kicked;  /* bytes whose writeback was started (flushed's lag) */
    bool need_sync;
    uint8_t *buf;
    size_t buflen;
    uint64_t appended;
    uint64_t mark; /* end of what committed metadata names, in the current pack */
    bool created;  /* this writer created the current pack */
    /* fds of packs sealed since the last sync, still to be fdatasync'd */
    int sealed_fds[8];
    int nsealed;
    /* every pack appended to since open, where the appends began */
    struct pack_span *spans;
    size_t nspans, spans_cap;
};

static int add_span(struct pack_writer *w, uint32_t n, uint64_t start, bool created)
{
    struct pack_span *sp = array_grow(w->spans, w->nspans, &w->spans_cap, sizeof *sp, 8);

    if (!sp)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    w->spans = sp;
    w->spans[w->nspans++] = (struct pack_span){.pack = n, .start = start, .created = created};
    return 0;
}

static int next_pack_number(bsnap_store *s, uint32_t *ret_n)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    const void *v;
    size_t vlen;
    uint32_t n = 1;
    uint8_t buf[4];
    int r;

    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        return r;
    r = meta_get(txn, T_INFO, "next-pack", 9, &v, &vlen);
    if (r == 0 && vlen == 4)
        n = le32_get(v);
    else if (r < 0 && r != -ENOENT)
        return r;
    le32_put(buf, n + 1);
    r = meta_put(txn, T_INFO, "next-pack", 9, buf, 4);
    if (r < 0)
        return r;
    r = meta_txn_commit(steal_ptr(txn));
    if (r < 0)
        return r;
    *ret_n = n;
    return 0;
}

/* Try to take over an unsealed pack nobody writes to.  Returns 1 when one
 * was claimed, 0 when none was free. */
static int claim_existing(struct pack_writer *w)
{
    bsnap_store *s = w->s;
    DIR *d = opendir(s->packs_dir);
    struct dirent *e;
    int found = 0;

    if (!d)
        return 0;
    while (!found && (e = readdir(d))) {
        uint32_t n, hn;
        _Alignas(IO_ALIGN) uint8_t hdr[PACK_HEADER_BYTES];
        uint8_t uuid[16];
        _cleanup_free_ char *p = NULL;
        struct stat st;
        int fd;

        if (!pack_name_parse(e->d_name, &n))
            continue;
        p = pack_path(s, n);
        if (!p)
            break;
        fd = open(p, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0 ||
            (uint64_t)st.st_size + 4 * (PACK_RECORD_HEADER_BYTES + (uint64_t)s->chunk_size) >=
                s->pack_limit ||
            st.st_size < PACK_HEADER_BYTES ||
            full_pread(fd, hdr, sizeof hdr, 0) != PACK_HEADER_BYTES ||
            pack_header_parse(hdr, &hn, uuid) < 0 || hn != n || memcmp(uuid, s->uuid, 16)) {
            close(fd);
            continue;
        }
        if (add_span(w, n, (uint64_t)st.st_size, false) < 0) {
            close(fd);
            break;
        }
        w->pack = n;
        w->fd = fd;
        w->size = w->flushed = w->kicked = w->mark = (uint64_t)st.st_size;
        w->created = false;
        found = 1;
    }
    closedir(d);
    return found;
}

static int create_pack(struct pack_writer *w)
{
    bsnap_store *s = w->s;
    uint8_t hdr[PACK_HEADER_BYTES];
    _cleanup_free_ char *p = NULL;
    uint32_t n;
    int fd, r;

    if (s->dry_run)
        return error_dry_run();
    r = next_pack_number(s, &n);
    if (r < 0)
        return r;
    p = pack_path(s, n);
    if (!p)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return bsnap_fail(-errno, errno == ENOSPC ? "Store.Full" : "Store.Error",
                          "pack %u: create: %m", n);
    if (store_fchmod(s, fd) < 0) {
        r = -errno;
        close(fd);
        unlink(p);
        return bsnap_fail(r, "Store.Error", "pack %u: chmod: %s", n, strerror(-r));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return bsnap_fail(-EBUSY, "Store.Error", "pack %u: locked by another writer", n);
    }
    r = add_span(w, n, PACK_HEADER_BYTES, true);
    if (r < 0) {
        close(fd);
        unlink(p);
        return r;
    }
    pack_header_encode(s, n, hdr);
    r = full_pwrite(fd, hdr, sizeof hdr, 0);
    if (r == 0 && fdatasync(fd) < 0)
        r = -errno;
    if (r == 0)
        r = fsync_dir(s->packs_dir);
    if (r < 0) {
        close(fd);
        unlink(p);
        w->nspans--;
        return bsnap_fail(r, r == -ENOSPC ? "Store.Full" : "Store.Error",
                          "pack %u: writing header: %s", n, strerror(-r));
    }
    w->pack = n;
    w->fd = fd;
    w->size = w->flushed = w->kicked = w->mark = PACK_HEADER_BYTES;
    w->created = true;
    bsnap_debug("pack", "pack %u: created", n);
    return 0;
}

int pack_writer_open(bsnap_store *s, bool fresh, struct pack_writer **ret_writer)
{
    struct pack_writer *w = calloc(1, sizeof *w);
    int r;

    if (!w)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    w->s = s;
    w->fd = -1;
    w->buf = malloc(WRITE_BUFFER_BYTES);
    if (!w->buf) {
        free(w);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    if (fresh || !claim_existing(w)) {
        r = create_pack(w);
        if (r < 0) {
            pack_writer_close(w);
            return r;
        }
    } else {
        bsnap_debug("pack", "pack %u: appending at %llu", w->pack, (unsigned long long)w->size);
    }
    *ret_writer = w;
    return 0;
}

/* Start writing back what was written since the last kick, once there is
 * KICK_BYTES of it, without waiting: the fdatasync before the next index
 * commit then finds little left to write, and the pipeline, which waits
 * for that commit, stalls for less.  Only a hint: durability still comes
 * from pack_writer_sync(). */
static void kick_writeback(struct pack_writer *w)
{
    if (w->flushed - w->kicked < KICK_BYTES)
        return;
    (void)sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->flushed - w->kicked),
                          SYNC_FILE_RANGE_WRITE);
    w->kicked = w->flushed;
}

static int flush_buffer(struct pack_writer *w)
{
    int r;

    if (w->buflen == 0)
        return 0;
    if (fault_hit("pack-append"))
        return bsnap_fail(-EIO, "Store.Error", "pack %u: write: injected failure", w->pack);
    r = full_pwrite(w->fd, w->buf, w->buflen, (off_t)w->flushed);
    if (r < 0)
        return bsnap_fail(r, r == -ENOSPC ? "Store.Full" : "Store.Error",
                          "pack %u offset %llu: write: %s", w->pack, (unsigned long long)w->flushed,
                          strerror(-r));
    w->flushed += w->buflen;
    w->buflen = 0;
    w->need_sync = true;
    kick_writeback(w);
    return 0;
}

static int seal_and_switch(struct pack_writer *w)
{
    int r = flush_buffer(w);

    if (r < 0)
        return r;
    if (w->nsealed == (int)ARRAY_SIZE(w->sealed_fds)) {
        r = pack_writer_sync(w);
        if (r < 0)
            return r;
    }
    /* Keep the fd (and its flock) until the next sync makes it durable. */
    if (w->need_sync)
        w->sealed_fds[w->nsealed++] = w->fd;
    else
        close(w->fd);
    w->fd = -1;
    w->need_sync = false;
    bsnap_debug("pack", "pack %u: sealed at %llu bytes", w->pack, (unsigned long long)w->size);
    return create_pack(w);
}

int pack_writer_append(struct pack_writer *w, const chunk_id *id, uint32_t flags,
                       const void *payload, uint32_t stored_len, uint32_t orig_len,
                       struct chunk_loc *ret_loc)
{
    struct pack_record rec = {
        .flags = flags & (CHUNK_LZ4 | CHUNK_PAGE | CHUNK_ENC),
        .id = *id,
        .stored_len = stored_len,
        .orig_len = orig_len,
        .checksum = XXH3_64bits(payload, stored_len),
    };
    size_t need = PACK_RECORD_HEADER_BYTES + stored_len;
    int r;

    if (w->size + need > w->s->pack_limit && w->size > PACK_HEADER_BYTES) {
        r = seal_and_switch(w);
        if (r < 0)
            return r;
    }
    if (fault_hit("pack-record"))
        return bsnap_fail(-EIO, "Store.Error", "pack %u: append: injected failure", w->pack);
    if (w->buflen + need > WRITE_BUFFER_BYTES) {
        r = flush_buffer(w);
        if (r < 0)
            return r;
    }
    ret_loc->pack = w->pack;
    ret_loc->flags = rec.flags;
    ret_loc->offset = w->size;
    ret_loc->stored_len = stored_len;
    ret_loc->orig_len = orig_len;
    if (need > WRITE_BUFFER_BYTES) { /* a large raw chunk: write directly */
        uint8_t hdr[PACK_RECORD_HEADER_BYTES];
        pack_record_encode(&rec, hdr);
        r = full_pwrite(w->fd, hdr, sizeof hdr, (off_t)w->flushed);
        if (r == 0)
            r = full_pwrite(w->fd, payload, stored_len, (off_t)(w->flushed + sizeof hdr));
        if (r < 0)
            return bsnap_fail(r, r == -ENOSPC ? "Store.Full" : "Store.Error", "pack %u: write: %s",
                              w->pack, strerror(-r));
        w->flushed += need;
        w->need_sync = true;
    } else {
        pack_record_encode(&rec, w->buf + w->buflen);
        memcpy(w->buf + w->buflen + PACK_RECORD_HEADER_BYTES, payload, stored_len);
        w->buflen += need;
    }
    w->size += need;
    w->appended += need;
    return 0;
}

int pack_writer_sync(struct pack_writer *w)
{
    int r = flush_buffer(w);

    if (r < 0)
        return r;
    if (fault_hit("pack-sync"))
        return bsnap_fail(-EIO, "Store.Error", "pack %u: fdatasync: injected failure", w->pack);
    for (int i = 0; i < w->nsealed; i++) {
        if (fdatasync(w->sealed_fds[i]) < 0)
            return bsnap_fail(-errno, errno == ENOSPC ? "Store.Full" : "Store.Error",
                              "pack fdatasync: %m");
        close(w->sealed_fds[i]);
    }
    w->nsealed = 0;
    if (w->need_sync) {
        if (fdatasync(w->fd) < 0)
            return bsnap_fail(-errno, errno == ENOSPC ? "Store.Full" : "Store.Error",
                              "pack %u: fdatasync: %m", w->pack);
        w->need_sync = false;
    }
    return 0;
}

void pack_writer_mark(struct pack_writer *w)
{
    w->mark = w->size;
}

void pack_writer_abort(struct pack_writer *w)
{
    _cleanup_free_ char *path = NULL;

    if (!w || w->fd < 0)
        return;
    w->buflen = 0;
    if (w->created && w->mark <= PACK_HEADER_BYTES) {
        path = pack_path(w->s, w->pack);
        if (path && unlink(path) == 0)
            bsnap_debug("pack", "pack %u: removed (nothing committed)", w->pack);
    } else if (w->size > w->mark && ftruncate(w->fd, (off_t)w->mark) == 0) {
        bsnap_debug("pack", "pack %u: cut back to %llu bytes", w->pack,
                    (unsigned long long)w->mark);
    }
    w->size = w->flushed = w->kicked = w->mark;
}

uint64_t pack_writer_bytes(const struct pack_writer *w)
{
    return w->appended;
}

void pack_writer_close(struct pack_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nsealed; i++)
        close(w->sealed_fds[i]);
    if (w->fd >= 0)
        close(w->fd);
    free(w->spans);
    free(w->buf);
    free(w);
}

const struct pack_span *pack_writer_spans(const struct pack_writer *w, size_t *ret_n)
{
    *ret_n = w->nspans;
    return w->spans;
}

int pack_records_foreach(bsnap_store *s, uint32_t n, uint64_t from, pack_record_func fn, void *ud)
{
    _cleanup_free_ char *p = pack_path(s, n);
    _cleanup_close_ int fd = -1;
    _Alignas(IO_ALIGN) uint8_t raw[IO_ALIGN + PACK_RECORD_HEADER_BYTES];
    struct pack_record rec;
    struct stat st;
    uint64_t off = from;
    int r = 0;

    if (!p)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        return bsnap_fail(-errno, "Store.Error", "pack %u: %m", n);
    /* A header that does not parse ends the walk: a torn tail, which no
     * metadata names. */
    while (r >= 0 && off + PACK_RECORD_HEADER_BYTES <= (uint64_t)st.st_size) {
        uint8_t *hdr = io_at(raw, off); /* records lie at any offset (util.h) */
        uint64_t end;
        if (full_pread(fd, hdr, PACK_RECORD_HEADER_BYTES, (off_t)off) !=
                (ssize_t)PACK_RECORD_HEADER_BYTES ||
            pack_record_parse(hdr, &rec) < 0)
            break;
        end = off + PACK_RECORD_HEADER_BYTES + rec.stored_len;
        if (end > (uint64_t)st.st_size)
            break;
        r = fn(ud, &rec, off, end);
        off = end;
    }
    return r < 0 ? r : 0;
}

int pack_cut(bsnap_store *s, uint32_t n, uint64_t size, bool remove)
{
    _cleanup_free_ char *p = pack_path(s, n);

    if (!p)
        return -ENOMEM;
    if (remove) {
        if (unlink(p) < 0)
            return -errno;
        bsnap_debug("pack", "pack %u: removed", n);
        return fsync_dir(s->packs_dir);
    }
    if (truncate(p, (off_t)size) < 0)
        return -errno;
    bsnap_debug("pack", "pack %u: cut back to %llu bytes", n, (unsigned long long)size);
    return 0;
}

/* ---- reader ---- */

#define PACK_CACHE_SLOTS 64

/* Open pack fds shared by a store's threads.  A slot in use (users > 0) is
 * never closed; when every slot is busy a reader opens a private fd.  Pack
 * numbers are never reused, so a cached fd of a pack gc has since removed
 * still reads the records it had, which are checked like any others. */
struct pack_cache {
    pthread_mutex_t lock;
    struct {
        uint32_t pack;
        int fd;
        unsigned users;
        bool stale; /* close when the last user is done */
        uint64_t used;
    } slot[PACK_CACHE_SLOTS];
    uint64_t clock;
};

int pack_cache_new(struct pack_cache **ret)
{
    struct pack_cache *c = calloc(1, sizeof *c);

    if (!c)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    for (int i = 0; i < PACK_CACHE_SLOTS; i++)
        c->slot[i].fd = -1;
    *ret = c;
    return 0;
}

void pack_cache_free(struct pack_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < PACK_CACHE_SLOTS; i++)
        if (c->slot[i].fd >= 0)
            close(c->slot[i].fd);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void pack_cache_forget(bsnap_store *s, uint32_t pack)
{
    struct pack_cache *c = s->packs;

    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < PACK_CACHE_SLOTS; i++) {
        if (c->slot[i].fd < 0 || c->slot[i].pack != pack)
            continue;
        if (c->slot[i].users) {
            c->slot[i].stale = true;
        } else {
            close(c->slot[i].fd);
            c->slot[i].fd = -1;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* Get an fd for @pack: *ret_slot is the cache slot to hand back with
 * pack_fd_put(), or -1 for a private fd.  Returns the fd or -errno. */
static int pack_fd_get(bsnap_store *s, uint32_t pack, int *ret_slot)
{
    struct pack_cache *c = s->packs;
    _cleanup_free_ char *p = NULL;
    int victim = -1, fd;

    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < PACK_CACHE_SLOTS; i++) {
        if (c->slot[i].fd >= 0 && c->slot[i].pack == pack && !c->slot[i].stale) {
            c->slot[i].used = ++c->clock;
            c->slot[i].users++;
            pthread_mutex_unlock(&c->lock);
            *ret_slot = i;
            return c->slot[i].fd;
        }
    }
    pthread_mutex_unlock(&c->lock);

    p = pack_path(s, pack);
    if (!p)
        return -ENOMEM;
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < PACK_CACHE_SLOTS; i++) {
        if (c->slot[i].users)
            continue;
        if (c->slot[i].fd < 0) {
            victim = i;
            break;
        }
        if (victim < 0 || c->slot[i].used < c->slot[victim].used)
            victim = i;
    }
    if (victim >= 0) {
        if (c->slot[victim].fd >= 0)
            close(c->slot[victim].fd);
        c->slot[victim].fd = fd;
        c->slot[victim].pack = pack;
        c->slot[victim].users = 1;
        c->slot[victim].stale = false;
        c->slot[victim].used = ++c->clock;
    }
    pthread_mutex_unlock(&c->lock);
    *ret_slot = victim;
    return fd;
}

static void pack_fd_put(bsnap_store *s, int slot, int fd)
{
    struct pack_cache *c = s->packs;

    if (slot < 0) {
        close(fd);
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (--c->slot[slot].users == 0 && c->slot[slot].stale) {
        close(c->slot[slot].fd);
        c->slot[slot].fd = -1;
        c->slot[slot].stale = false;
    }
    pthread_mutex_unlock(&c->lock);
}

/* Scratch buffer per thread for record reads, freed when the thread exits
 * (a pthread key, so pipeline and FUSE threads do not leak it).  Aligned,
 * and a record is read into it at io_at(buf, offset): records lie at any
 * offset, and a destination 1 to 31 bytes past the offset modulo 4096
 * copies 5x slower (util.h), so a page-aligned buffer is not enough.
 * Measured with records of 20-66 KiB read back to back from a warm file,
 * each at a page offset of 4090: 0.68 GiB/s into a malloc()ed buffer, 0.64
 * into a page-aligned one, 4.3 at io_at(), 3.0 for a read from the
 * 64-aligned offset below the record into a page-aligned buffer (which
 * copies up to 63 bytes more).  At offsets as they fall (fewer than one
 * record in a hundred lands in the slow band) all four were within the
 * noise of each other: io_at() is the fast one that never loses. */
struct scratch {
    uint8_t *buf;
    size_t len;
};
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    struct scratch *sc = p;

    free(sc->buf);
    free(sc);
}

static void scratch_init(void)
{
    pthread_key_create(&scratch_key, scratch_destroy);
}

static uint8_t *scratch_get(size_t n)
{
    struct scratch *sc;

    pthread_once(&scratch_once, scratch_init);
    sc = pthread_getspecific(scratch_key);
    if (!sc) {
        sc = calloc(1, sizeof *sc);
        if (!sc)
            return NULL;
        pthread_setspecific(scratch_key, sc);
    }
    if (sc->len < n + IO_ALIGN) {
        uint8_t *p = alloc_aligned(n + IO_ALIGN); /* room for io_at() */
        if (!p)
            return NULL;
        free(sc->buf);
        sc->buf = p;
        sc->len = n + IO_ALIGN;
    }
    return sc->buf;
}

static int read_record(bsnap_store *s, const chunk_id *id, const struct chunk_loc *loc,
                       uint8_t **ret_payload)
{
    char hex[33];
    struct pack_record rec;
    size_t total = PACK_RECORD_HEADER_BYTES + (size_t)loc->stored_len;
    uint8_t *buf;
    ssize_t n;
    int fd, slot = -1;

    chunk_id_hex(id, hex);
    if (loc->flags & CHUNK_MISSING)
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "chunk %s: lost: its pack record was damaged; a snapshot of the same "
                          "data stores it again",
                          hex);
    if (loc->stored_len == 0 || loc->stored_len > PACK_RECORD_MAX_PAYLOAD + 65536)
        return bsnap_fail(-EIO, "Store.Corrupt", "chunk %s (pack %u offset %llu): bad length %u",
                          hex, loc->pack, (unsigned long long)loc->offset, loc->stored_len);
    buf = scratch_get(total);
    if (!buf)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    buf = io_at(buf, loc->offset);
    fd = pack_fd_get(s, loc->pack, &slot);
    if (fd < 0)
        return bsnap_fail(fd == -ENOENT ? -EIO : fd, "Store.Corrupt",
                          "chunk %s (pack %u offset %llu): cannot open pack: %s", hex, loc->pack,
                          (unsigned long long)loc->offset, strerror(-fd));
    n = full_pread(fd, buf, total, (off_t)loc->offset);
    pack_fd_put(s, slot, fd);
    if (n < 0)
        return bsnap_fail(-EIO, "Store.Corrupt", "chunk %s (pack %u offset %llu): read: %s", hex,
                          loc->pack, (unsigned long long)loc->offset, strerror((int)-n));
    if ((size_t)n < total)
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "chunk %s (pack %u offset %llu): pack is truncated", hex, loc->pack,
                          (unsigned long long)loc->offset);
    if (pack_record_parse(buf, &rec) < 0)
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "chunk %s (pack %u offset %llu): bad record header", hex, loc->pack,
                          (unsigned long long)loc->offset);
    if (!chunk_id_eq(&rec.id, id) || rec.stored_len != loc->stored_len ||
        rec.orig_len != loc->orig_len ||
        (rec.flags & (CHUNK_PAGE | CHUNK_ENC)) != (loc->flags & (CHUNK_PAGE | CHUNK_ENC)))
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "chunk %s (pack %u offset %llu): record does not match the index", hex,
                          loc->pack, (unsigned long long)loc->offset);
    if (XXH3_64bits(buf + PACK_RECORD_HEADER_BYTES, rec.stored_len) != rec.checksum)
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "chunk %s (pack %u offset %llu): checksum mismatch", hex, loc->pack,
                          (unsigned long long)loc->offset);
    *ret_payload = buf + PACK_RECORD_HEADER_BYTES;
    return 0;
}

int pack_record_at(bsnap_store *s, const chunk_id *id, const struct chunk_loc *loc)
{
    _Alignas(IO_ALIGN) uint8_t raw[IO_ALIGN + PACK_RECORD_HEADER_BYTES];
    uint8_t *hdr = io_at(raw, loc->offset);
    struct pack_record rec;
    ssize_t n;
    int fd, slot = -1;

    fd = pack_fd_get(s, loc->pack, &slot);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return bsnap_fail(fd, "Store.Error", "pack %u: %s", loc->pack, strerror(-fd));
    n = full_pread(fd, hdr, PACK_RECORD_HEADER_BYTES, (off_t)loc->offset);
    pack_fd_put(s, slot, fd);
    if (n < 0)
        return bsnap_fail((int)n, "Store.Error", "pack %u: read: %s", loc->pack, strerror((int)-n));
    return (size_t)n == PACK_RECORD_HEADER_BYTES && pack_record_parse(hdr, &rec) == 0 &&
           chunk_id_eq(&rec.id, id) && rec.stored_len == loc->stored_len &&
           rec.orig_len == loc->orig_len &&
           (rec.flags & (CHUNK_PAGE | CHUNK_ENC)) == (loc->flags & (CHUNK_PAGE | CHUNK_ENC));
}

int pack_read_payload(bsnap_store *s, const chunk_id *id, const struct chunk_loc *loc, void *out)
{
    uint8_t *payload;
    int r = read_record(s, id, loc, &payload);

    if (r < 0)
        return r;
    memcpy(out, payload, loc->stored_len);
    return 0;
}

int pack_read_chunk(bsnap_store *s, const chunk_id *id, const struct chunk_loc *loc, void *out)
{
    return pack_read_chunk_stored(s, id, loc, out, NULL);
}

int pack_read_chunk_stored(bsnap_store *s, const chunk_id *id, const struct chunk_loc *loc,
                           void *out, struct stored_payload *ret_stored)
{
    const struct crypt_key *k = NULL;
    uint8_t *payload;
    uint32_t slen = loc->stored_len;
    chunk_id check;
    char hex[33];
    int r = read_record(s, id, loc, &payload);

    if (r < 0)
        return r;
    chunk_id_hex(id, hex);
    if (loc->flags & CHUNK_ENC) {
        /* The record names its lineage's key; the caller opened it (or
         * could not: then nothing is read, and the key's own error was
         * reported where the snapshot was named). */
        uint64_t slot = slen >= CRYPT_OVERHEAD ? crypt_payload_slot(payload) : 0;
        k = slot ? crypt_ring_find(s, slot) : NULL;
        if (slen >= CRYPT_OVERHEAD && !k)
            return bsnap_fail(-EACCES, "KeyUnavailableException",
                              "chunk %s (pack %u offset %llu): encrypted with data key %016llx, "
                              "which is not open: its key is not at hand",
                              hex, loc->pack, (unsigned long long)loc->offset,
                              (unsigned long long)slot);
        r = k ? crypt_open(k, id, loc->flags, loc->orig_len, payload, slen) : -EBADMSG;
        if (r == -EBADMSG)
            return bsnap_fail(-EIO, "Store.Corrupt",
                              "chunk %s (pack %u offset %llu): does not decrypt (a changed byte, "
                              "or a record moved from elsewhere)",
                              hex, loc->pack, (unsigned long long)loc->offset);
        if (r < 0)
            return r;
        payload += CRYPT_HEAD_BYTES;
        slen -= CRYPT_OVERHEAD;
    }
    if (chunk_decode(payload, slen, loc->flags, out, loc->orig_len) < 0)
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "chunk %s (pack %u offset %llu): does not decompress", hex, loc->pack,
                          (unsigned long long)loc->offset);
    crypt_hash(s, k, loc->flags & CHUNK_PAGE, out, loc->orig_len, &check);
    if (!chunk_id_eq(&check, id))
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "chunk %s (pack %u offset %llu): content does not match its id", hex,
                          loc->pack, (unsigned long long)loc->offset);
    if (ret_stored) {
        ret_stored->data = payload; /* opened: the LZ4 block or raw bytes */
        ret_stored->len = slen;
        ret_stored->flags = loc->flags & ~CHUNK_ENC;
    }
    return 0;
}
