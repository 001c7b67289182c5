/* restore.c - a snapshot written out as a volume (bsnap_volume_create): the
 * target checked, the data restored by parallel workers into a file that
 * appears whole or not at all (or a block device, in place), and the new
 * volume recorded. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
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
#include "owner.h"
#include "reader.h"
#include "store.h"
#include "target.h"
#include "util.h"

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
            r = reader_read_chunk_id(rd, b->first + j, &b->ids[j], dst);
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
    r = owner_check_volume_path(s, txn, canon);
    if (r < 0)
        return error_param(r, "Path");
    if (catalog_volume_by_path(txn, canon, ret_old) == 0) {
        r = catalog_volume_delete(txn, ret_old->id, canon);
        if (r < 0)
            return r;
    } else {
        volume_rec_clear(ret_old);
    }
    bsnap_error_clear();
    owner_stamp(s, vol.owner);
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

/* Refuse, before anything is written, a target recorded as a volume of
 * another account (record_volume() checks again where it records). */
static int check_path_owner(bsnap_store *s, const char *path, bool blockdev)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    _cleanup_free_ char *canon = blockdev ? realpath(path, NULL) : canonical_target(path);
    int r;

    if (!canon) /* the restore names what is wrong with the path itself */
        return 0;
    r = meta_txn_begin(s->meta, false, &txn);
    if (r < 0)
        return r;
    r = owner_check_volume_path(s, txn, canon);
    return r < 0 ? error_param(r, "Path") : 0;
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
        return error_param(r, "Path");
    r = check_path_owner(s, path, tg.blockdev);
    if (r < 0)
        return r;
    r = reader_open(s, snapshot_id, true, &rs.rd);
    if (r < 0)
        return error_param(r, "SnapshotId");
    /* A dry run ends here: everything is checked, nothing written yet. */
    if (s->dry_run) {
        r = error_dry_run();
        goto out;
    }
    if (tg.blockdev) {
        rs.blockdev = true;
        r = target_open_blockdev(s, path, rs.rd->size, &rs.fd);
        if (r < 0) {
            error_param(r, "Path");
            goto out;
        }
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
            error_param(r, "Path");
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
            r = error_param(bsnap_fail(-errno, "InvalidParameterValue", "%s: %m", path), "Path");
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
        r = error_param(bsnap_fail(-errno, "InvalidParameterValue", "%s: %m", path), "Path");
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
        error_param(r, "Path"); /* a file created at the path meanwhile */
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
