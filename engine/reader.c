/* reader.c - snapshot readers, pins, restore and diff; see reader.h. */
#include "reader.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockmap.h"
#include "catalog.h"
#include "error.h"
#include "fault.h"
#include "index.h"
#include "pack.h"
#include "snapshot.h"
#include "store.h"
#include "target.h"
#include "util.h"

struct bsnap_reader {
    bsnap_store *s;
    char id[BSNAP_ID_MAX];
    struct bm_tree tree;
    uint64_t size;
    uint32_t cs;
    /* pin */
    char pin[33];
    int pin_fd;
};

#define PIN_VALUE_BYTES (16 + BSNAP_ID_MAX)

static char *pin_path(const bsnap_store *s, const char *name)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s", s->pins_dir, name) < 0)
        return NULL;
    return p;
}

static int pin_create(bsnap_reader *rd)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    _cleanup_free_ char *path = NULL;
    uint8_t raw[16], val[PIN_VALUE_BYTES] = {0};
    struct stat st;
    int fd, r;

    r = random_bytes(raw, sizeof raw);
    if (r < 0)
        return r;
    hex_encode(raw, sizeof raw, rd->pin);
    path = pin_path(rd->s, rd->pin);
    if (!path)
        return -ENOMEM;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (store_fchmod(rd->s, fd) < 0 || flock(fd, LOCK_SH) < 0) {
        r = -errno;
        goto fail;
    }
    /* gc removes lock files that no pin record names and no one locks
     * (a killed process's): one it removed before our flock is not ours to
     * use; a name in use is gone too, unless this one is. */
    if (fstat(fd, &st) < 0 || st.st_nlink == 0) {
        r = -EAGAIN;
        goto fail;
    }
    memcpy(val, rd->tree.root.b, 16);
    memcpy(val + 16, rd->id, strlen(rd->id));
    r = meta_txn_begin(rd->s->meta, true, &txn);
    if (r < 0)
        goto fail;
    r = meta_put(txn, T_PINS, rd->pin, 32, val, sizeof val);
    if (r < 0)
        goto fail;
    r = index_incref(rd->s, txn, &rd->tree.root);
    if (r < 0)
        goto fail;
    r = meta_txn_commit(steal_ptr(txn));
    if (r < 0)
        goto fail;
    rd->pin_fd = fd;
    return 0;
fail:
    close(fd);
    unlink(path);
    return r;
}

/* Drop pin @name's reference (in @txn) and its record. */
static int pin_drop(bsnap_store *s, meta_txn *txn, const char *name)
{
    const void *v;
    size_t vlen;
    chunk_id root;
    int r = meta_get(txn, T_PINS, name, 32, &v, &vlen);

    if (r < 0)
        return r;
    if (vlen != PIN_VALUE_BYTES)
        return bsnap_fail(-EIO, "Store.Corrupt", "pin %s: malformed", name);
    memcpy(root.b, v, 16);
    r = meta_del(txn, T_PINS, name, 32);
    if (r < 0)
        return r;
    return chunk_id_is_zero(&root) ? 0 : index_decref(s, txn, &root);
}

static void pin_release(bsnap_reader *rd)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    _cleanup_free_ char *path = NULL;
    error_saved saved;

    if (rd->pin_fd < 0)
        return;
    error_save(&saved);
    if (meta_txn_begin(rd->s->meta, true, &txn) < 0 || pin_drop(rd->s, txn, rd->pin) < 0 ||
        meta_txn_commit(steal_ptr(txn)) < 0)
        bsnap_log(BSNAP_LOG_WARNING, "reader", "pin %s of %s: release failed (%s); gc will",
                  rd->pin, rd->id, bsnap_last_error()->message);
    path = pin_path(rd->s, rd->pin);
    if (path)
        unlink(path);
    close(rd->pin_fd);
    rd->pin_fd = -1;
    error_restore(&saved);
}

/* Remove the lock files in pins/ that none of the @n pin records @names
 * names and no process holds: those of processes killed before their pin
 * was committed.  Best effort. */
static void reap_lock_files(bsnap_store *s, char (*names)[33], size_t n)
{
    DIR *d = opendir(s->pins_dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        bool named = false;
        int fd;

        if (strlen(e->d_name) != 32 || strspn(e->d_name, "0123456789abcdef") != 32)
            continue;
        for (size_t i = 0; i < n && !named; i++)
            named = strcmp(names[i], e->d_name) == 0;
        path = named ? NULL : pin_path(s, e->d_name);
        fd = path ? open(path, O_RDWR | O_CLOEXEC) : -1;
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            unlink(path);
            bsnap_debug("reader", "pin lock file %s: no pin, removed", e->d_name);
        }
        close(fd);
    }
    closedir(d);
}

int pins_reap(bsnap_store *s, meta_txn *txn, uint64_t *ret_reaped)
{
    char(*names)[33] = NULL;
    size_t n = 0, cap = 0;
    meta_cursor *cur = NULL;
    const void *k, *v;
    size_t klen, vlen;
    uint64_t reaped = 0;
    int r = meta_cursor_open(txn, T_PINS, &cur);

    if (r < 0)
        return r;
    for (r = meta_cursor_get(cur, CUR_FIRST, &k, &klen, &v, &vlen); r == 0;
         r = meta_cursor_get(cur, CUR_NEXT, &k, &klen, &v, &vlen)) {
        if (klen != 32)
            continue;
        void *nn = array_grow(names, n, &cap, sizeof *names, 16);
        if (!nn) {
            r = -ENOMEM;
            break;
        }
        names = nn;
        memcpy(names[n], k, 32);
        names[n++][32] = '\0';
    }
    meta_cursor_close(cur);
    if (r != -ENOENT) {
        free(names);
        return r < 0 ? r : -EIO;
    }
    r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        _cleanup_free_ char *path = pin_path(s, names[i]);
        int fd = path ? open(path, O_RDWR | O_CLOEXEC) : -1;
        bool dead = fd < 0 || flock(fd, LOCK_EX | LOCK_NB) == 0;

        if (dead) {
            r = pin_drop(s, txn, names[i]);
            if (path)
                unlink(path);
            reaped++;
        }
        if (fd >= 0)
            close(fd);
    }
    if (r >= 0)
        reap_lock_files(s, names, n);
    free(names);
    if (r >= 0 && ret_reaped)
        *ret_reaped = reaped;
    return r;
}

/* A reader of @rec's block map, pinned when @pin (and the store writable). */
static int reader_from_rec(bsnap_store *s, const struct snapshot_rec *rec, bool pin,
                           bsnap_reader **ret)
{
    bsnap_reader *rd = calloc(1, sizeof *rd);
    int r;

    if (!rd)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    rd->s = s;
    rd->pin_fd = -1;
    snprintf(rd->id, sizeof rd->id, "%s", rec->id);
    snapshot_tree(rec, &rd->tree);
    rd->size = rec->size;
    rd->cs = rec->chunk_size;
    if (pin && !(s->flags & BSNAP_STORE_RDONLY) && !chunk_id_is_zero(&rd->tree.root)) {
        int tries = 0;
        do /* again when gc took the lock file before we locked it */
            r = pin_create(rd);
        while (r == -EAGAIN && ++tries < 8);
        if (r < 0 && meta_is_damaged(s->meta)) {
            /* Damaged metadata takes no write, so no gc can run and no
             * repair either while this process has it open: the snapshot
             * is read unpinned, every chunk still checked. */
            bsnap_debug("reader", "snapshot %s: read without a pin (%s)", rec->id,
                        bsnap_last_error()->message);
            bsnap_error_clear();
            r = 0;
        }
        if (r < 0) {
            /* The snapshot may have been deleted between load and pin. */
            free(rd);
            if (bsnap_last_error()->err)
                return r;
            return bsnap_fail(r, "Store.Error", "snapshot %s: cannot pin: %s", rec->id,
                              strerror(-r));
        }
    }
    *ret = rd;
    return 0;
}

static int reader_open(bsnap_store *s, const char *id, bool pin, bsnap_reader **ret)
{
    struct snapshot_rec rec = {0};
    int r;

    r = catalog_snapshot_get(s, id, &rec);
    if (r < 0)
        return r;
    if (rec.state != BSNAP_SNAPSHOT_COMPLETED)
        r = bsnap_fail(-EBUSY, "IncorrectState", "the snapshot '%s' is not completed", id);
    else
        r = reader_from_rec(s, &rec, pin, ret);
    snapshot_rec_clear(&rec);
    return r;
}

int reader_open_pending(bsnap_store *s, const struct snapshot_rec *rec, bsnap_reader **ret_reader)
{
    assert(rec->state == BSNAP_SNAPSHOT_PENDING);
    return reader_from_rec(s, rec, false, ret_reader);
}

int bsnap_reader_open(bsnap_store *s, const char *id, bsnap_reader **ret_reader)
{
    bsnap_error_clear();
    return reader_open(s, id, true, ret_reader);
}

int bsnap_reader_open_flags(bsnap_store *s, const char *id, unsigned flags,
                            bsnap_reader **ret_reader)
{
    bsnap_error_clear();
    return reader_open(s, id, !(flags & BSNAP_READER_NOPIN), ret_reader);
}

void bsnap_reader_close(bsnap_reader *rd)
{
    if (!rd)
        return;
    pin_release(rd);
    free(rd);
}

uint64_t bsnap_reader_size(const bsnap_reader *rd)
{
    return rd->size;
}

/* Read chunk @idx, whose id is @id, into @out (cs bytes). */
static int read_chunk_id(bsnap_reader *rd, uint64_t idx, const chunk_id *id, uint8_t *out)
{
    struct chunk_entry e;
    char hex[33];
    int r;

    if (chunk_id_is_zero(id)) {
        memset(out, 0, rd->cs);
        return 0;
    }
    r = index_lookup(rd->s, id, &e);
    if (r == -ENOENT) {
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt", "snapshot %s offset %llu: chunk %s is missing",
                          rd->id, (unsigned long long)idx * rd->cs, hex);
    }
    if (r < 0)
        return r;
    if (e.loc.orig_len != rd->cs || (e.loc.flags & CHUNK_PAGE)) {
        chunk_id_hex(id, hex);
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "chunk %s (pack %u offset %llu): wrong kind or size", hex, e.loc.pack,
                          (unsigned long long)e.loc.offset);
    }
    /* The caller reports the failure (the FUSE view logs it, restore
     * returns it): logging here too would say it twice. */
    return pack_read_chunk(rd->s, id, &e.loc, out);
}

/* Read chunk @idx of the reader's snapshot into @out (cs bytes). */
static int read_chunk(bsnap_reader *rd, uint64_t idx, uint8_t *out)
{
    chunk_id id;
    int r = bm_lookup(rd->s, NULL, &rd->tree, idx, 0, &id);

    if (r < 0)
        return r;
    return read_chunk_id(rd, idx, &id, out);
}

int bsnap_reader_read_chunk(bsnap_reader *rd, uint64_t index, void *buf)
{
    chunk_id id;
    int r;

    bsnap_error_clear();
    if (index >= (rd->size + rd->cs - 1) / rd->cs)
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "snapshot %s: chunk %llu is past the end", rd->id,
                          (unsigned long long)index);
    r = bm_lookup(rd->s, NULL, &rd->tree, index, 0, &id);
    if (r < 0)
        return r;
    if (chunk_id_is_zero(&id))
        return 1;
    r = read_chunk_id(rd, index, &id, buf);
    return r < 0 ? r : 0;
}

long bsnap_reader_pread(bsnap_reader *rd, void *buf, size_t len, uint64_t offset)
{
    _cleanup_free_ uint8_t *chunk = NULL;
    uint8_t *dst = buf;
    size_t done = 0;

    bsnap_error_clear();
    if (offset >= rd->size)
        return 0;
    len = (size_t)MIN((uint64_t)len, rd->size - offset);
    if (len > (size_t)LONG_MAX)
        len = (size_t)LONG_MAX;
    while (done < len) {
        uint64_t off = offset + done, idx = off / rd->cs;
        size_t in = (size_t)(off % rd->cs), n = MIN(len - done, (size_t)rd->cs - in);
        int r;

        if (in == 0 && n == rd->cs) {
            r = read_chunk(rd, idx, dst + done); /* whole chunk: no copy */
        } else {
            if (!chunk && !(chunk = alloc_aligned(rd->cs)))
                return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            r = read_chunk(rd, idx, chunk);
            if (r == 0)
                memcpy(dst + done, chunk + in, n);
        }
        if (r < 0)
            return r;
        done += n;
    }
    return (long)done;
}

int bsnap_reader_seek(bsnap_reader *rd, uint64_t offset, int whence, uint64_t *ret_offset)
{
    uint64_t idx;
    int r;

    bsnap_error_clear();
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return bsnap_fail(-EINVAL, "InvalidParameterValue", "seek: whence %d", whence);
    if (offset >= rd->size)
        return -ENXIO;
    r = bm_next(rd->s, &rd->tree, offset / rd->cs, whence == SEEK_DATA, &idx);
    if (r == -ENXIO) {
        if (whence == SEEK_DATA)
            return -ENXIO;
        *ret_offset = rd->size; /* the end is an implicit hole */
        return 0;
    }
    if (r < 0)
        return r;
    *ret_offset = MAX(offset, idx * rd->cs);
    return 0;
}

/* ---- restore ---- */

/* Restore runs one dispatcher (the calling thread), which walks the leaf
 * pages and hands out batches of chunk ids, and N workers, each of which
 * reads, checks and expands its batch and writes it at its own offset: no
 * ordering is needed, so decompression and checking overlap on every core.
 *
 * The writes bypass the page cache (O_DIRECT) where the target allows it:
 * a run of chunks goes from the worker's buffer to the device in one write
 * of up to a batch.  Buffered writes cost a copy into page cache pages that
 * are new to the process, and on a virtual machine whose balloon hands free
 * memory back to the host, new pages cost a host fault each: measured, the
 * same 1.3 GiB restore took 0.6 s or 2.1 s (half its CPU in
 * copy_folio_from_iter_atomic) by the luck of the pages it got.  A restored
 * image is not read back by the restore either, so caching it only evicts
 * what the user had cached.  A target that refuses O_DIRECT (EINVAL at open
 * or at a write), and a last piece shorter than the alignment, get buffered
 * writes. */
#define RESTORE_BATCH 64u /* chunks; divides BM_FANOUT */
/* Bytes per buffered write: a buffer that stays in L2 between decompression
 * and the kernel's copy.  Writes of 1-4 MiB made a buffered restore 3-4x
 * slower here (copy_folio_from_iter_atomic on a cold buffer;
 * docs/benchmarks.md). */
#define RESTORE_WRITE_BYTES (256u << 10)
/* Alignment of direct writes (offset, length, buffer): the largest logical
 * block size of devices in use; chunk sizes are multiples of it. */
#define RESTORE_DIRECT_ALIGN 4096u

struct rbatch {
    uint64_t first; /* chunk index */
    uint32_t n;
    chunk_id ids[RESTORE_BATCH];
};

struct restore {
    bsnap_reader *rd;
    int fd;
    int dfd; /* the same file opened with O_DIRECT, or -1 (closed, under
              * write_lock, when a write refuses it) */
    bool blockdev;
    const bsnap_run_options *run;
    uint32_t write_chunks; /* chunks per write */

    pthread_mutex_t lock;
    /* One write at a time.  The kernel takes the file's lock for each
     * buffered write anyway, and a worker waiting for it there spins on the
     * owner: measured, 25 % of a restore's CPU in rwsem_spin_on_owner and
     * system time 1.1-2.2 s instead of 0.4-0.8 s.  Waiting here sleeps. */
    pthread_mutex_t write_lock;
    pthread_cond_t cond;
    struct rbatch *queue; /* ring */
    size_t qcap, qhead, qlen;
    bool done, stop;
    int err;
    error_saved err_saved;
    uint64_t written; /* chunks, for progress */
};

static void restore_fail(struct restore *rs, int err)
{
    pthread_mutex_lock(&rs->lock);
    if (!rs->err) {
        rs->err = err;
        error_save(&rs->err_saved);
    }
    rs->stop = true;
    pthread_cond_broadcast(&rs->cond);
    pthread_mutex_unlock(&rs->lock);
}

/* Write @len bytes of @buf at @off: directly when the file allows it, the
 * part past the last aligned block (the end of an odd-sized volume) and
 * everything after a refused direct write through the page cache. */
static int restore_write(struct restore *rs, const uint8_t *buf, uint64_t len, uint64_t off)
{
    uint64_t dlen = len / RESTORE_DIRECT_ALIGN * RESTORE_DIRECT_ALIGN;
    int r = 0;

    pthread_mutex_lock(&rs->write_lock); /* see struct restore */
    if (rs->dfd >= 0 && dlen > 0) {
        r = fault_hit("restore-direct") ? -EINVAL
                                        : full_pwrite(rs->dfd, buf, (size_t)dlen, (off_t)off);
        if (r == -EINVAL) {
            bsnap_debug("restore", "direct write refused at offset %llu: buffered from here",
                        (unsigned long long)off);
            close(rs->dfd);
            rs->dfd = -1;
            r = 0;
        } else if (r == 0) {
            buf += dlen;
            off += dlen;
            len -= dlen;
        }
    }
    if (r == 0 && len > 0) {
        r = full_pwrite(rs->fd, buf, (size_t)len, (off_t)off);
        /* Start writeback now, so the final fsync waits for little. */
        if (r == 0)
            sync_file_range(rs->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
    }
    pthread_mutex_unlock(&rs->write_lock);
    return r;
}

static int restore_batch(struct restore *rs, const struct rbatch *b, uint8_t *buf)
{
    bsnap_reader *rd = rs->rd;
    uint32_t i = 0;

    if (fault_hit("restore-batch"))
        return bsnap_fail(-EIO, "VolumeWriteError", "restore batch: injected failure");
    while (i < b->n) {
        uint32_t j = i;
        uint64_t off, len;
        int r;

        if (chunk_id_is_zero(&b->ids[i]) && !rs->blockdev) {
            i++;
            continue;
        }
        /* a run of chunks to write in one call */
        for (; j < b->n && j - i < rs->write_chunks &&
               (rs->blockdev || !chunk_id_is_zero(&b->ids[j]));
             j++) {
            uint8_t *dst = buf + (size_t)(j - i) * rd->cs;
            if (chunk_id_is_zero(&b->ids[j])) {
                memset(dst, 0, rd->cs);
                continue;
            }
            if (fault_hit("restore-chunk"))
                return bsnap_fail(-EIO, "VolumeWriteError", "restore: injected failure");
            r = read_chunk_id(rd, b->first + j, &b->ids[j], dst);
            if (r < 0)
                return r;
        }
        off = (b->first + i) * rd->cs;
        len = MIN((uint64_t)(j - i) * rd->cs, rd->size - off);
        r = restore_write(rs, buf, len, off);
        if (r < 0)
            return bsnap_fail(r, r == -ENOSPC ? "VolumeFull" : "VolumeWriteError",
                              "write at offset %llu: %s", (unsigned long long)off, strerror(-r));
        i = j;
    }
    return 0;
}

static void *restore_worker(void *arg)
{
    struct restore *rs = arg;
    uint8_t *buf = NULL;

    if (posix_memalign((void **)&buf, RESTORE_DIRECT_ALIGN,
                       (size_t)rs->write_chunks * rs->rd->cs) != 0) {
        restore_fail(rs, bsnap_fail(-ENOMEM, "InternalError", "out of memory"));
        return NULL;
    }
    for (;;) {
        struct rbatch b;
        int r;

        pthread_mutex_lock(&rs->lock);
        while (!rs->stop && rs->qlen == 0 && !rs->done)
            pthread_cond_wait(&rs->cond, &rs->lock);
        if (rs->stop || rs->qlen == 0) {
            pthread_mutex_unlock(&rs->lock);
            break;
        }
        b = rs->queue[rs->qhead];
        rs->qhead = (rs->qhead + 1) % rs->qcap;
        rs->qlen--;
        pthread_cond_broadcast(&rs->cond);
        pthread_mutex_unlock(&rs->lock);

        if (rs->run && rs->run->cancel && *rs->run->cancel)
            r = bsnap_fail(-ECANCELED, "Cancelled", "restore interrupted");
        else
            r = restore_batch(rs, &b, buf);
        if (r < 0) {
            restore_fail(rs, r);
            break;
        }
        pthread_mutex_lock(&rs->lock);
        rs->written += b.n;
        pthread_mutex_unlock(&rs->lock);
    }
    free(buf);
    return NULL;
}

static int restore_enqueue(struct restore *rs, const struct rbatch *b)
{
    int r;

    pthread_mutex_lock(&rs->lock);
    while (!rs->stop && rs->qlen == rs->qcap)
        pthread_cond_wait(&rs->cond, &rs->lock);
    r = rs->stop ? -ECANCELED : 0;
    if (r == 0) {
        rs->queue[(rs->qhead + rs->qlen) % rs->qcap] = *b;
        rs->qlen++;
        pthread_cond_broadcast(&rs->cond);
    }
    pthread_mutex_unlock(&rs->lock);
    return r;
}

static void restore_progress(struct restore *rs, struct timespec *last, bool final)
{
    struct timespec now;
    uint64_t done;

    if (!rs->run || !rs->run->progress)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final &&
        (now.tv_sec - last->tv_sec) * 1000000000L + (now.tv_nsec - last->tv_nsec) < 100000000L)
        return;
    *last = now;
    pthread_mutex_lock(&rs->lock);
    done = final ? rs->rd->size : MIN(rs->written * rs->rd->cs, rs->rd->size);
    pthread_mutex_unlock(&rs->lock);
    rs->run->progress(rs->run->progress_ud, done, rs->rd->size);
}

/* The dispatcher: walk the leaves, skip empty ones, queue the rest. */
static int restore_dispatch(struct restore *rs)
{
    bsnap_reader *rd = rs->rd;
    _cleanup_free_ chunk_id *leaf = alloc_aligned(BM_PAGE_BYTES);
    struct timespec last;
    uint64_t nleaves = DIV_ROUND_UP(rd->tree.nchunks, BM_FANOUT);
    int r;

    if (!leaf)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    clock_gettime(CLOCK_MONOTONIC, &last);
    for (uint64_t l = 0; l < nleaves; l++) {
        uint64_t base = l * BM_FANOUT, n = MIN((uint64_t)BM_FANOUT, rd->tree.nchunks - base);

        if (rs->run && rs->run->cancel && *rs->run->cancel)
            return bsnap_fail(-ECANCELED, "Cancelled", "restore interrupted");
        r = bm_load_leaf(rd->s, NULL, &rd->tree, l, leaf);
        if (r < 0)
            return r;
        for (uint64_t i = 0; i < n; i += RESTORE_BATCH) {
            if (rs->run && rs->run->cancel && *rs->run->cancel)
                return bsnap_fail(-ECANCELED, "Cancelled", "restore interrupted");
            struct rbatch b = {.first = base + i,
                               .n = (uint32_t)MIN((uint64_t)RESTORE_BATCH, n - i)};
            memcpy(b.ids, leaf + i, b.n * sizeof *b.ids);
            if (!rs->blockdev && mem_is_zero(b.ids, b.n * sizeof *b.ids))
                continue;
            r = restore_enqueue(rs, &b);
            if (r < 0)
                return r;
        }
        restore_progress(rs, &last, false);
    }
    restore_progress(rs, &last, true);
    return 0;
}

/* Open the target a second time with O_DIRECT, through /proc (the file may
 * have no name yet), as rs->dfd; -1 when the file system or the chunk size
 * does not allow it. */
static void restore_open_direct(struct restore *rs)
{
    char proc[64];

    if (rs->rd->cs % RESTORE_DIRECT_ALIGN != 0)
        return;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", rs->fd);
    rs->dfd = open(proc, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (rs->dfd < 0)
        bsnap_debug("restore", "no direct writes: %s", strerror(errno));
}

static int restore_data(struct restore *rs)
{
    pthread_t th[16];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    bool direct;
    unsigned n, started = 0;
    int r;

    restore_open_direct(rs);
    direct = rs->dfd >= 0;
    /* A worker in a direct write sleeps until the device has the data; two
     * more workers than cores keep the cores decompressing meanwhile
     * (measured on the 2 GiB image, two sets of alternating runs: median
     * 0.78 -> 0.74 s and 1.12 -> 0.89 s; slowest 1.10 -> 0.81 s and
     * 1.25 -> 0.95 s).  More writes in flight did not help: concurrent
     * direct writes, even into preallocated extents, were slower. */
    n = (unsigned)MIN(MAX(ncpu, 1L) + (direct ? 2 : 0), 16L);
    rs->write_chunks = direct ? RESTORE_BATCH : (uint32_t)MAX(1u, RESTORE_WRITE_BYTES / rs->rd->cs);
    rs->qcap = 4 * n;
    rs->queue = calloc(rs->qcap, sizeof *rs->queue);
    if (!rs->queue)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    pthread_mutex_init(&rs->lock, NULL);
    pthread_mutex_init(&rs->write_lock, NULL);
    pthread_cond_init(&rs->cond, NULL);
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, restore_worker, rs) != 0)
            break;
    if (started == 0)
        r = bsnap_fail(-EAGAIN, "InternalError", "cannot start threads");
    else
        r = restore_dispatch(rs);
    pthread_mutex_lock(&rs->lock);
    rs->done = true;
    if (r < 0)
        rs->stop = true;
    pthread_cond_broadcast(&rs->cond);
    pthread_mutex_unlock(&rs->lock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (rs->err) {
        error_restore(&rs->err_saved);
        r = rs->err;
    } else if (r < 0 && rs->stop && r == -ECANCELED && !bsnap_last_error()->err) {
        r = bsnap_fail(-ECANCELED, "Cancelled", "restore interrupted");
    }
    pthread_mutex_destroy(&rs->lock);
    pthread_mutex_destroy(&rs->write_lock);
    pthread_cond_destroy(&rs->cond);
    free(rs->queue);
    if (rs->dfd >= 0)
        close(rs->dfd);
    rs->dfd = -1;
    return r;
}

/* Record a new volume at canonical path @canon, restored from @snap_id, in
 * a transaction of its own.  A volume recorded at that path before is
 * deleted (its file is being replaced: nothing could snapshot it again, and
 * its record would only pile up); its snapshots keep its id.  Its record is
 * set in @ret_old (id "" when none), for unrecord_volume(); the caller
 * clears it. */
static int record_volume(bsnap_store *s, const char *snap_id, const char *canon, uint64_t size,
                         char ret_id[BSNAP_ID_MAX], struct volume_rec *ret_old)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct volume_rec vol = {0};
    int r;

    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        return r;
    if (catalog_volume_by_path(txn, canon, ret_old) == 0) {
        r = catalog_volume_delete(txn, ret_old->id, canon);
        if (r < 0)
            return r;
    } else {
        volume_rec_clear(ret_old);
    }
    bsnap_error_clear();
    r = id_generate("vol", vol.id);
    if (r < 0)
        return bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
    vol.path = strdup(canon);
    if (!vol.path)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    vol.size = size;
    vol.create_ms = time_now_ms();
    snprintf(vol.source_snapshot, sizeof vol.source_snapshot, "%s", snap_id);
    snprintf(vol.last_snapshot, sizeof vol.last_snapshot, "%s", snap_id);
    r = catalog_volume_save(txn, &vol);
    if (r == 0)
        r = meta_txn_commit(steal_ptr(txn));
    if (r == 0)
        snprintf(ret_id, BSNAP_ID_MAX, "%s", vol.id);
    volume_rec_clear(&vol);
    return r;
}

/* Undo record_volume() when the file could not be put in place: the new
 * record goes and the old one @old (id "" when none) comes back as it was.
 * Logs a failure and leaves the error record as it was. */
static void unrecord_volume(bsnap_store *s, const char *canon, const char *id,
                            const struct volume_rec *old)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    error_saved saved;
    int r;

    error_save(&saved);
    r = meta_txn_begin(s->meta, true, &txn);
    if (r == 0)
        r = catalog_volume_delete(txn, id, canon);
    if (r == 0 && old->id[0])
        r = catalog_volume_save(txn, old);
    if (r == 0)
        r = meta_txn_commit(steal_ptr(txn));
    if (r < 0)
        bsnap_log(BSNAP_LOG_WARNING, "restore",
                  "volume %s: %s is not in place, but its record could not be removed: %s", id,
                  canon, bsnap_last_error()->message);
    error_restore(&saved);
}

/* Give the new file @rs->fd its mode before data goes in: a replaced
 * file's mode and, where the process may, owner (so --force over a private
 * file keeps it private); else, for a named temporary file (mkostemp made
 * it 0600), 0666 less the umask.  An unnamed file already has the mode a
 * new file gets. */
static int restore_file_mode(struct restore *rs, const struct target *tg, bool anon,
                             const char *path)
{
    struct stat st;

    if (tg->keep) {
        /* Owner first: chown may clear mode bits.  Only root (or an owner
         * giving the file its own group) may, and a failure is no harm: the
         * file stays the restoring user's, with the old mode. */
        if (fstat(rs->fd, &st) == 0 && (st.st_uid != tg->uid || st.st_gid != tg->gid) &&
            fchown(rs->fd, tg->uid, tg->gid) < 0)
            bsnap_debug("restore", "%s: keep owner %u:%u: %s", path, (unsigned)tg->uid,
                        (unsigned)tg->gid, strerror(errno));
        if (fchmod(rs->fd, tg->mode) < 0)
            return bsnap_fail(-errno, "VolumeWriteError", "%s: set mode %03o: %m", path,
                              (unsigned)tg->mode);
        return 0;
    }
    if (!anon && fchmod(rs->fd, target_new_file_mode()) < 0) /* narrower is no harm */
        bsnap_debug("restore", "%s: mode: %s", path, strerror(errno));
    return 0;
}

/* Move the whole file @tmp to @path.  Without @force nothing at @path is
 * replaced, even what appeared there during the restore (RENAME_NOREPLACE;
 * a file system without it gets link and unlink, which refuse a name in use
 * too). */
static int restore_rename(const char *tmp, const char *path, bool force)
{
    if (force) {
        if (rename(tmp, path) < 0)
            return bsnap_fail(-errno, "VolumeWriteError", "%s: rename into place: %m", path);
        return 0;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOSYS) {
        if (link(tmp, path) == 0) {
            unlink(tmp);
            return 0;
        }
    }
    if (errno == EEXIST)
        return bsnap_fail(-EEXIST, "InvalidParameterValue",
                          "%s exists (created during the restore)", path);
    return bsnap_fail(-errno, "VolumeWriteError", "%s: rename into place: %m", path);
}

/* The canonical path a file @path will have: its directory's real path
 * and its own name (a symbolic link at @path is replaced, not followed). */
static char *canonical_target(const char *path)
{
    _cleanup_free_ char *d = strdup(path), *b = strdup(path), *dir = NULL;
    char *ret = NULL;

    if (!d || !b)
        return NULL;
    dir = realpath(dirname(d), NULL);
    if (!dir)
        return NULL;
    if (asprintf(&ret, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, basename(b)) < 0)
        return NULL;
    return ret;
}

int bsnap_volume_create(bsnap_store *s, const char *snapshot_id, const char *path,
                        const bsnap_volume_options *opts, char ret_volume_id[BSNAP_ID_MAX])
{
    static const bsnap_volume_options defaults;
    struct restore rs = {.fd = -1, .dfd = -1};
    struct target tg;
    bool anon = false;

    _cleanup_free_ char *tmp = NULL, *dircopy = NULL, *basecopy = NULL, *canon = NULL;
    char id[BSNAP_ID_MAX];
    struct volume_rec old = {0};
    int r;

    bsnap_error_clear();
    if (!opts)
        opts = &defaults;
    rs.run = &opts->run;
    /* The target first: a path the restore may not write is refused before
     * the snapshot is pinned or anything is written. */
    r = target_check(s, path, opts->force, &tg);
    if (r < 0)
        return r;
    r = reader_open(s, snapshot_id, true, &rs.rd);
    if (r < 0)
        return r;
    if (tg.blockdev) {
        rs.blockdev = true;
        r = target_open_blockdev(s, path, rs.rd->size, &rs.fd);
        if (r < 0)
            goto out;
    } else {
        dircopy = strdup(path);
        basecopy = strdup(path);
        if (!dircopy || !basecopy ||
            asprintf(&tmp, "%s/.%s.blocksnap-XXXXXX", dirname(dircopy), basename(basecopy)) < 0) {
            tmp = NULL;
            r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
            goto out;
        }
        /* An unnamed file (O_TMPFILE) is linked into place only when it is
         * whole, so a killed restore leaves nothing behind; file systems
         * without it get a named temporary file.  The kernel gives the
         * unnamed file 0666 less the umask (or the directory's default
         * ACL), as for any new file; mkostemp's 0600 is widened to that
         * below. */
        strcpy(dircopy, path);
        rs.fd = fault_hit("restore-tmpfile")
                    ? -1
                    : open(dirname(dircopy), O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
        anon = rs.fd >= 0;
        if (!anon)
            rs.fd = mkostemp(tmp, O_CLOEXEC);
        if (rs.fd < 0) {
            r = bsnap_fail(-errno, errno == ENOENT ? "InvalidParameterValue" : "VolumeWriteError",
                           "%s: %m", path);
            free(tmp);
            tmp = NULL;
            goto out;
        }
        /* The mode is set before any data is written, so the file is never
         * readable by more than it will be. */
        r = restore_file_mode(&rs, &tg, anon, path);
        if (r < 0)
            goto out;
        if (ftruncate(rs.fd, (off_t)rs.rd->size) < 0) {
            r = bsnap_fail(-errno,
                           errno == ENOSPC || errno == EFBIG ? "VolumeFull" : "VolumeWriteError",
                           "%s: set size: %m", path);
            goto out;
        }
    }
    r = restore_data(&rs);
    if (r < 0) {
        bsnap_fail_prefix("restore of %s to %s", snapshot_id, path);
        goto out;
    }
    if (fsync(rs.fd) < 0) {
        r = bsnap_fail(-errno, errno == ENOSPC ? "VolumeFull" : "VolumeWriteError", "%s: fsync: %m",
                       path);
        goto out;
    }
    if (anon) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", rs.fd);
        /* Give it the temporary name now (the rename below replaces a file
         * that --force allows replacing, atomically). */
        uint8_t rnd[3];
        if (random_bytes(rnd, sizeof rnd) == 0) /* the XXXXXX; linkat refuses a name in use */
            hex_encode(rnd, sizeof rnd, tmp + strlen(tmp) - 6);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0) {
            r = bsnap_fail(-errno, "VolumeWriteError", "%s: link the restored file: %m", path);
            free(tmp);
            tmp = NULL;
            goto out;
        }
    }
    if (!tmp) { /* a block device, written in place */
        canon = realpath(path, NULL);
        if (!canon) {
            r = bsnap_fail(-errno, "InvalidParameterValue", "%s: %m", path);
            goto out;
        }
        r = record_volume(s, snapshot_id, canon, rs.rd->size, ret_volume_id, &old);
        if (r < 0 && meta_is_damaged(s->meta)) {
            ret_volume_id[0] = '\0'; /* written and verified, not recorded */
            r = 0;
        }
        goto out;
    }
    /* The record first, then the file into place: a failure to record
     * leaves the target as it was (--force's old file too), and a failure
     * to rename takes the record back. */
    canon = canonical_target(path);
    if (!canon) {
        r = bsnap_fail(-errno, "InvalidParameterValue", "%s: %m", path);
        goto out;
    }
    r = record_volume(s, snapshot_id, canon, rs.rd->size, id, &old);
    if (r < 0 && meta_is_damaged(s->meta)) {
        /* The file is whole and verified: it goes into place unrecorded,
         * as the restore of a store whose metadata awaits repair. */
        bsnap_debug("restore", "%s: not recorded: %s", path, bsnap_last_error()->message);
        bsnap_error_clear();
        id[0] = '\0';
        r = 0;
    } else if (r < 0) {
        bsnap_fail_prefix("%s: record the volume", path);
        goto out;
    }
    if (fault_hit("restore-rename"))
        r = bsnap_fail(-EIO, "VolumeWriteError", "%s: rename into place: injected failure", path);
    else
        r = restore_rename(tmp, path, opts->force);
    if (r < 0) {
        if (id[0])
            unrecord_volume(s, canon, id, &old);
        goto out;
    }
    free(tmp);
    tmp = NULL;
    strcpy(dircopy, path);
    fsync_dir(dirname(dircopy));
    snprintf(ret_volume_id, BSNAP_ID_MAX, "%s", id);
out:
    if (rs.fd >= 0)
        close(rs.fd);
    if (tmp)
        unlink(tmp);
    bsnap_reader_close(rs.rd);
    volume_rec_clear(&old);
    return r;
}

/* ---- diff ---- */

struct diff_state {
    uint32_t cs;
    uint64_t limit;      /* bytes */
    uint64_t start, end; /* current run, in chunks; end == 0: none */
    bool have;
    bsnap_range_func fn;
    void *ud;
    /* json */
    struct changed_block *blocks;
    size_t n, cap;
};

static int diff_flush(struct diff_state *d)
{
    uint64_t off, end;

    if (!d->have)
        return 0;
    d->have = false;
    off = d->start * d->cs;
    end = MIN(d->end * d->cs, d->limit);
    if (end <= off)
        return 0;
    return d->fn(d->ud, off, end - off);
}

static int diff_range_cb(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b)
{
    struct diff_state *d = ud;

    (void)a;
    (void)b;
    if (d->have && idx == d->end) {
        d->end++;
        return 0;
    }
    int r = diff_flush(d);
    if (r < 0)
        return r;
    d->start = idx;
    d->end = idx + 1;
    d->have = true;
    return 0;
}

static int diff_json_cb(void *ud, uint64_t idx, const chunk_id *a, const chunk_id *b)
{
    struct diff_state *d = ud;

    struct changed_block *nb = array_grow(d->blocks, d->n, &d->cap, sizeof *nb, 256);

    if (!nb)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    d->blocks = nb;
    d->blocks[d->n].index = idx;
    d->blocks[d->n].first[0] = d->blocks[d->n].second[0] = '\0';
    if (!chunk_id_is_zero(a))
        chunk_id_hex(a, d->blocks[d->n].first);
    if (!chunk_id_is_zero(b))
        chunk_id_hex(b, d->blocks[d->n].second);
    d->n++;
    return 0;
}

static int load_completed(meta_txn *txn, const char *id, struct snapshot_rec *rec)
{
    int r = check_snapshot_id(id);

    if (r < 0)
        return r;
    r = catalog_snapshot_load(txn, id, rec);
    if (r < 0)
        return r;
    if (rec->state != BSNAP_SNAPSHOT_COMPLETED) {
        snapshot_rec_clear(rec);
        return bsnap_fail(-EBUSY, "IncorrectState", "the snapshot '%s' is not completed", id);
    }
    return 0;
}

static int diff_run(bsnap_store *s, const char *first, const char *second, bm_diff_func fn,
                    struct diff_state *d)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct snapshot_rec a = {0}, b = {0};
    struct bm_tree ta, tb;
    int r;

    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    if (first) {
        r = load_completed(txn, first, &a);
        if (r < 0)
            return r;
    }
    r = load_completed(txn, second, &b);
    if (r < 0)
        goto out;
    meta_txn_abort(steal_ptr(txn));
    if (first && a.chunk_size != b.chunk_size) {
        r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "snapshots %s and %s have different chunk sizes", first, second);
        goto out;
    }
    snapshot_tree(&a, &ta);
    snapshot_tree(&b, &tb);
    d->cs = b.chunk_size;
    d->limit = MAX(a.size, b.size);
    r = bm_diff(s, first ? &ta : NULL, &tb, fn, d);
out:
    snapshot_rec_clear(&a);
    snapshot_rec_clear(&b);
    return r;
}

int bsnap_snapshot_diff(bsnap_store *s, const char *first, const char *second, bsnap_range_func fn,
                        void *ud)
{
    struct diff_state d = {.fn = fn, .ud = ud};
    int r;

    bsnap_error_clear();
    r = diff_run(s, first, second, diff_range_cb, &d);
    if (r < 0)
        return r;
    return diff_flush(&d);
}

int bsnap_snapshot_diff_json(bsnap_store *s, const char *first, const char *second, char **ret_json)
{
    struct diff_state d = {0};
    int r;

    bsnap_error_clear();
    r = diff_run(s, first, second, diff_json_cb, &d);
    if (r == 0)
        r = json_changed_blocks(d.blocks, d.n, d.limit, d.cs, ret_json);
    free(d.blocks);
    return r;
}
