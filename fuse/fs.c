/* fs.c - the FUSE low-level operations: requests to engine calls.
 *
 * Every request is answered exactly once: with its fuse_reply_* on success
 * and fuse_reply_err(req, -e) on failure.  Nothing here touches packs or
 * metadata: reads go through bsnap_reader_pread() (via the chunk cache),
 * holes through bsnap_reader_seek(), names through tree.c.
 *
 * Read-only but for writable volumes (volumes/vol-….img): their files are
 * opened read-write through the engine (bsnap_volume_*), written through
 * (no writeback cache: every write reaches the engine, which is the only
 * writer), never kept in the page cache across opens (keep_cache off), and
 * an fsync or a close flushes them (bsnap_volume_flush()).  Every other
 * operation that would change something answers EROFS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bsfront.h"
#include "fs.h"

static struct fs *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* ---- session ---- */

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* Reads may run in parallel and out of order: the loop is
     * multithreaded and the cache serves any order. */
    if (conn->capable & FUSE_CAP_ASYNC_READ)
        conn->want |= FUSE_CAP_ASYNC_READ;
    /* Snapshots never change: nothing to invalidate on attribute changes. */
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    /* Several readahead requests in flight keep both cores busy. */
    conn->max_background = 64;
    conn->congestion_threshold = 48;
    conn->max_read = MAX_READ;
    conn->time_gran = 1000000; /* snapshot times have millisecond precision */
}

/* ---- names and attributes ---- */

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;
    int r = tree_lookup(fs_of(req), parent, name, &e);
    if (r < 0)
        fuse_reply_err(req, -r); /* negative entries are not cached */
    else
        fuse_reply_entry(req, &e);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    tree_forget(fs_of(req), ino, nlookup);
    fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        tree_forget(fs_of(req), forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct node *n = tree_node(fs, ino);
    struct stat st;
    (void)fi;
    if (!n) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    tree_stat(fs, n, &st);
    fuse_reply_attr(req, &st, n->kind == NODE_FILE ? FILE_ATTR_TIMEOUT : DIR_ATTR_TIMEOUT);
}

/* ---- writable volumes ---- */

/* The open volume of @id, opened now if no handle has it: a new
 * reference.  Errors: the engine's, as -errno (VolumeInUse: -EBUSY). */
static int rwvol_get(struct fs *fs, const char *id, struct rwvol **ret)
{
    struct rwvol *w;
    int r = 0;

    pthread_mutex_lock(&fs->rw_lock);
    for (w = fs->rwvols; w && strcmp(w->id, id) != 0; w = w->next)
        ;
    if (w) {
        w->refs++;
    } else if (!(w = calloc(1, sizeof(*w)))) {
        r = -ENOMEM;
    } else if ((r = bsnap_volume_open(fs->store, id, &w->v)) < 0) {
        char *msg = fs_engine_message();
        fuse_log(FUSE_LOG_ERR, "blocksnap: %s: cannot open: %s (%s)\n", id,
                 msg ? msg : bsnap_last_error()->message, bsnap_last_error()->code);
        free(msg);
        free(w);
        w = NULL;
    } else {
        snprintf(w->id, sizeof(w->id), "%s", id);
        w->refs = 1;
        w->next = fs->rwvols;
        fs->rwvols = w;
    }
    pthread_mutex_unlock(&fs->rw_lock);
    *ret = w;
    return r;
}

/* Drop a reference; the last closes the volume (flushing it). */
static void rwvol_put(struct fs *fs, struct rwvol *w)
{
    pthread_mutex_lock(&fs->rw_lock);
    if (--w->refs == 0) {
        struct rwvol **p = &fs->rwvols;
        while (*p != w)
            p = &(*p)->next;
        *p = w->next;
        if (bsnap_volume_close(w->v) < 0) {
            char *msg = fs_engine_message();
            fuse_log(FUSE_LOG_ERR, "blocksnap: %s: close: %s\n", w->id,
                     msg ? msg : bsnap_last_error()->message);
            free(msg);
        }
        free(w);
    }
    pthread_mutex_unlock(&fs->rw_lock);
}

static int rw_errno(int r)
{
    return r == -ENOSPC ? ENOSPC : r == -ENOMEM ? ENOMEM : r == -EBUSY ? EBUSY : EIO;
}

static void rw_log(const struct rwvol *w, const char *what, int r)
{
    char *msg = fs_engine_message();
    fuse_log(FUSE_LOG_ERR, "blocksnap: %s: %s failed: %s\n", w->id, what,
             msg                       ? msg
             : bsnap_last_error()->err ? bsnap_last_error()->message
                                       : strerror(-r));
    free(msg);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs sv;
    (void)ino;
    memset(&sv, 0, sizeof(sv));
    sv.f_bsize = 4096;
    sv.f_frsize = 4096;
    sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct fs *fs = fs_of(req);
    struct node *n = tree_node(fs, ino);
    char *target;

    if (!n || n->kind != NODE_SYMLINK) {
        fuse_reply_err(req, n ? EINVAL : ENOENT);
        return;
    }
    /* a copy: the target may be replaced meanwhile (a new latest) */
    pthread_mutex_lock(&fs->lock);
    target = strdup(n->data ? n->data : "");
    pthread_mutex_unlock(&fs->lock);
    if (!target) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    fuse_reply_readlink(req, target);
    free(target);
}

/* ---- read-only: everything that would change something ---- */

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct node *n = tree_node(fs, ino);
    struct stat st;
    (void)fi;

    /* A writable volume has its size: a truncate to it (O_TRUNC-less
     * openers such as QEMU's may ask) and time changes do nothing. */
    if (!n || n->kind != NODE_RWVOL) {
        fuse_reply_err(req, n ? EROFS : ENOENT);
        return;
    }
    tree_stat(fs, n, &st);
    if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != st.st_size) {
        fuse_reply_err(req, EPERM);
        return;
    }
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    fuse_reply_attr(req, &st, DIR_ATTR_TIMEOUT);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)parent, (void)name, (void)mode, (void)rdev;
    fuse_reply_err(req, EROFS);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)parent, (void)name, (void)mode;
    fuse_reply_err(req, EROFS);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent, (void)name;
    fuse_reply_err(req, EROFS);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link, (void)parent, (void)name;
    fuse_reply_err(req, EROFS);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    (void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
    fuse_reply_err(req, EROFS);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    fuse_reply_err(req, EROFS);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    (void)ino;

    if (!h->rw) {
        fuse_reply_err(req, EROFS);
        return;
    }
    if (off < 0 || (uint64_t)off >= h->length) {
        fuse_reply_err(req, off < 0 ? EINVAL : ENOSPC);
        return;
    }
    if (size > h->length - (uint64_t)off)
        size = h->length - (uint64_t)off; /* a short write at the end, as a disk */
    long r = bsnap_volume_pwrite(h->rw->v, buf, size, (uint64_t)off);
    if (r < 0) {
        rw_log(h->rw, "write", (int)r);
        fuse_reply_err(req, rw_errno((int)r));
        return;
    }
    fuse_reply_write(req, (size_t)r);
}

static void fs_flush_common(fuse_req_t req, struct fuse_file_info *fi, const char *what)
{
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;

    if (h && h->rw) {
        int r = bsnap_volume_flush(h->rw->v);
        if (r < 0) {
            rw_log(h->rw, what, r);
            fuse_reply_err(req, rw_errno(r));
            return;
        }
    }
    fuse_reply_err(req, 0);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino, (void)datasync;
    fs_flush_common(req, fi, "fsync");
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fs_flush_common(req, fi, "flush");
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    (void)parent, (void)name, (void)mode, (void)fi;
    fuse_reply_err(req, EROFS);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    fuse_reply_err(req, EROFS);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino, (void)name;
    fuse_reply_err(req, EROFS);
}

static void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
    (void)ino, (void)mode, (void)offset, (void)length, (void)fi;
    fuse_reply_err(req, EROFS);
}

/* ---- files ---- */

static void handle_link(struct fs *fs, struct handle *h)
{
    pthread_mutex_lock(&fs->lock);
    h->prev = NULL;
    h->next = fs->handles;
    if (fs->handles)
        fs->handles->prev = h;
    fs->handles = h;
    pthread_mutex_unlock(&fs->lock);
}

static void handle_free(struct fs *fs, struct handle *h)
{
    pthread_mutex_lock(&fs->lock);
    if (h->prev)
        h->prev->next = h->next;
    else
        fs->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&fs->lock);
    pthread_mutex_destroy(&h->ra_lock);
    if (h->rw)
        rwvol_put(fs, h->rw);
    source_unref(h->src); /* queued readahead may hold it a little longer */
    free(h->mem);
    free(h);
}

void fs_close_handles(struct fs *fs)
{
    while (fs->handles)
        handle_free(fs, fs->handles);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct node *n = tree_node(fs, ino);
    bsnap_reader *reader;
    struct handle *h;

    if (!n) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n->kind == NODE_RWVOL) {
        /* Its id and size, copied under the lock (a lookup may replace
         * the data). */
        char id[BSNAP_ID_MAX];
        int r;
        if (fi->flags & O_TRUNC) {
            fuse_reply_err(req, EPERM);
            return;
        }
        pthread_mutex_lock(&fs->lock);
        snprintf(id, sizeof(id), "%s", n->data ? n->data : "");
        pthread_mutex_unlock(&fs->lock);
        h = calloc(1, sizeof(*h));
        if (!h) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        r = rwvol_get(fs, id, &h->rw);
        if (r < 0) {
            free(h);
            fuse_reply_err(req, r == -ENOENT ? ENOENT : rw_errno(r));
            return;
        }
        h->fs = fs;
        snprintf(h->id, sizeof(h->id), "%s", id);
        h->length = bsnap_volume_size(h->rw->v);
        pthread_mutex_init(&h->ra_lock, NULL);
        handle_link(fs, h);
        fi->fh = (uintptr_t)h;
        fi->keep_cache = 0; /* pages of an earlier open may be stale */
        if (fuse_reply_open(req, fi) != 0)
            handle_free(fs, h);
        return;
    }
    if (n->kind != NODE_FILE && n->kind != NODE_MEMFILE) {
        fuse_reply_err(req, n->kind == NODE_SYMLINK ? ELOOP : EISDIR);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    fs_widen_readahead(fs);
    if (n->kind == NODE_MEMFILE) {
        /* A copy of the content as it is now (a manifest changes with its
         * image's tags or description); read without the page cache. */
        h = calloc(1, sizeof(*h));
        pthread_mutex_lock(&fs->lock);
        if (h && (h->mem = malloc(n->datalen + 1))) {
            memcpy(h->mem, n->data, n->datalen);
            h->memlen = h->length = n->datalen;
        }
        pthread_mutex_unlock(&fs->lock);
        if (!h || !h->mem) {
            free(h);
            fuse_reply_err(req, ENOMEM);
            return;
        }
        h->fs = fs;
        pthread_mutex_init(&h->ra_lock, NULL);
        handle_link(fs, h);
        fi->fh = (uintptr_t)h;
        fi->direct_io = 1;
        if (fuse_reply_open(req, fi) != 0)
            handle_free(fs, h);
        return;
    }
    if (n->snap->info.chunk_size == 0) {
        fuse_log(FUSE_LOG_ERR, "blocksnap: %s: the record has no chunk size\n", n->snap->id);
        fuse_reply_err(req, EIO);
        return;
    }
    /* A reader of its own per open file: it pins the snapshot, so the file
     * keeps its data even if the snapshot is deleted meanwhile. */
    int r = bsnap_reader_open(fs->store, n->snap->id, &reader);
    if (r < 0 && fs_key_unavailable(fs, n->snap->id)) {
        fuse_reply_err(req, ENOENT); /* its key went away since the lookup */
        return;
    }
    if (r < 0) {
        if (r != -ENOENT) {
            char *msg = fs_engine_message();
            fuse_log(FUSE_LOG_ERR, "blocksnap: %s: cannot open: %s (%s)\n", n->snap->id,
                     msg ? msg : bsnap_last_error()->message, bsnap_last_error()->code);
            free(msg);
        }
        fuse_reply_err(req, r == -ENOENT ? ENOENT : r == -ENOMEM ? ENOMEM : EIO);
        return;
    }
    h = calloc(1, sizeof(*h));
    if (h)
        h->src = source_new(reader, n->snap->serial, n->snap->info.chunk_size);
    if (!h || !h->src) {
        free(h);
        bsnap_reader_close(reader);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    h->fs = fs;
    snprintf(h->id, sizeof(h->id), "%s", n->snap->id);
    h->offset = n->offset;
    h->length = n->length;
    pthread_mutex_init(&h->ra_lock, NULL);
    handle_link(fs, h);
    fi->fh = (uintptr_t)h;
    fi->keep_cache = 1; /* a snapshot never changes: keep its pages */
    fi->noflush = 1;
    if (fuse_reply_open(req, fi) != 0) {
        /* The opener went away; no release will come for this handle. */
        handle_free(fs, h);
    }
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    (void)ino;
    handle_free(fs_of(req), h);
    fuse_reply_err(req, 0);
}

/* Sequential-read detection and readahead.  Reads arrive in parallel and
 * a little out of order (the kernel's own readahead is asynchronous), so a
 * read counts as sequential when it starts near where the last one ended. */
static void schedule_readahead(struct handle *h, uint64_t off, size_t size, uint64_t last_chunk)
{
    struct source *src = h->src;
    uint32_t cs = src->chunk_size;
    uint64_t win_last = (h->offset + h->length - 1) / cs;

    pthread_mutex_lock(&h->ra_lock);
    uint64_t dist = off > h->next_off ? off - h->next_off : h->next_off - off;
    bool seq = dist <= 2 * (uint64_t)MAX_READ;
    h->streak = seq ? h->streak + 1 : 0;
    if (!seq || off + size > h->next_off)
        h->next_off = off + size;
    uint64_t from = 0, to = 0;
    if (!seq) {
        h->ra_next = 0;
    } else if (h->streak >= 2) {
        uint64_t window = h->fs->ra_bytes / cs;
        if (window == 0)
            window = 1;
        from = h->ra_next > last_chunk + 1 ? h->ra_next : last_chunk + 1;
        to = last_chunk + window;
        if (to > win_last)
            to = win_last;
        if (from <= to)
            h->ra_next = to + 1;
    }
    pthread_mutex_unlock(&h->ra_lock);
    if (from && from <= to)
        cache_prefetch(h->fs->cache, src, from, to);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    struct fs *fs = fs_of(req);
    struct centry *stack_e[40], **e = stack_e;
    struct iovec stack_iov[40], *iov = stack_iov;
    (void)ino;

    if (off < 0 || (uint64_t)off >= h->length || size == 0) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    if (size > h->length - (uint64_t)off)
        size = h->length - (uint64_t)off;
    if (h->mem) {
        fuse_reply_buf(req, h->mem + off, size);
        return;
    }
    if (h->rw) {
        /* page-aligned: the kernel copies out of it (and the engine's
         * pread into it) */
        void *buf = NULL;
        if (posix_memalign(&buf, 4096, size ? size : 1) != 0) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        long r = bsnap_volume_pread(h->rw->v, buf, size, (uint64_t)off);
        if (r < 0) {
            rw_log(h->rw, "read", (int)r);
            fuse_reply_err(req, rw_errno((int)r));
        } else {
            fuse_reply_buf(req, buf, (size_t)r);
        }
        free(buf);
        return;
    }

    uint32_t cs = h->src->chunk_size;
    uint64_t voff = h->offset + (uint64_t)off, vend = voff + size;
    uint64_t first = voff / cs, last = (vend - 1) / cs;
    size_t n = (size_t)(last - first + 1);
    if (n > 40) {
        e = malloc(n * sizeof(*e));
        iov = malloc(n * sizeof(*iov));
        if (!e || !iov) {
            if (e != stack_e)
                free(e);
            if (iov != stack_iov)
                free(iov);
            fuse_reply_err(req, ENOMEM);
            return;
        }
    }

    /* The chunks of this request after the first load in the background
     * while this thread loads the first: a large cold read uses both cores. */
    if (last > first)
        cache_prefetch(fs->cache, h->src, first + 1, last);
    schedule_readahead(h, (uint64_t)off, size, last);

    size_t got = 0;
    int r = 0;
    for (; got < n; got++) {
        r = cache_get(fs->cache, h->src, first + got, &e[got]);
        if (r < 0)
            break;
        uint64_t cstart = (first + got) * cs;
        uint64_t a = voff > cstart ? voff : cstart;
        uint64_t b = cstart + centry_len(e[got]);
        if (b > vend)
            b = vend;
        iov[got].iov_base = (void *)(centry_data(e[got]) + (a - cstart));
        iov[got].iov_len = b > a ? b - a : 0;
    }
    if (r < 0) {
        /* The engine records the damaged chunk, pack and offset; the loads
         * ran in this thread, so its record is this failure's. */
        const bsnap_error *err = bsnap_last_error();
        char *msg = err->err ? fs_engine_message() : NULL;
        fuse_log(FUSE_LOG_ERR, "blocksnap: %s: read of %zu bytes at offset %llu failed: %s\n",
                 h->id, size, (unsigned long long)voff,
                 msg        ? msg
                 : err->err ? err->message
                            : strerror(-r));
        free(msg);
        fuse_reply_err(req, r == -ENOMEM ? ENOMEM : EIO);
    } else {
        fuse_reply_iov(req, iov, (int)n);
    }
    for (size_t i = 0; i < got; i++)
        cache_put(fs->cache, e[i]);
    if (e != stack_e)
        free(e);
    if (iov != stack_iov)
        free(iov);
}

static void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                     struct fuse_file_info *fi)
{
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    uint64_t res;
    (void)ino;

    if (whence != SEEK_DATA && whence != SEEK_HOLE) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    if (off < 0 || (uint64_t)off >= h->length) {
        fuse_reply_err(req, ENXIO);
        return;
    }
    if (h->mem || h->rw) { /* all data */
        fuse_reply_lseek(req, whence == SEEK_DATA ? off : (off_t)h->length);
        return;
    }
    uint64_t end = h->offset + h->length;
    int r = bsnap_reader_seek(h->src->reader, h->offset + (uint64_t)off, whence, &res);
    if (r == -ENXIO || (r == 0 && res >= end)) {
        /* No data in the rest of the window; the window's end is a hole. */
        if (whence == SEEK_DATA) {
            fuse_reply_err(req, ENXIO);
            return;
        }
        res = end;
    } else if (r < 0) {
        fuse_reply_err(req, r == -EINVAL ? EINVAL : EIO);
        return;
    }
    fuse_reply_lseek(req, (off_t)(res - h->offset));
}

/* ---- directories ---- */

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct node *n = tree_node(fs, ino);
    struct listing *l;

    if (!n) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n->kind == NODE_FILE || n->kind == NODE_MEMFILE || n->kind == NODE_SYMLINK ||
        n->kind == NODE_RWVOL) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if (!(l = calloc(1, sizeof(*l)))) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int r = tree_list(fs, n, l);
    if (r < 0) {
        free(l);
        fuse_reply_err(req, -r);
        return;
    }
    fi->fh = (uintptr_t)l;
    if (fuse_reply_open(req, fi) != 0) {
        listing_free(l);
        free(l);
    }
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    struct listing *l = (struct listing *)(uintptr_t)fi->fh;
    char *buf = malloc(size);
    size_t used = 0;
    (void)ino;

    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    for (size_t i = off < 0 ? 0 : (size_t)off; i < l->n; i++) {
        struct stat st = {.st_mode = l->ents[i].type};
        /* d_ino only; names without an inode yet get a stand-in */
        st.st_ino = l->ents[i].ino ? l->ents[i].ino : ((fuse_ino_t)1 << 62) + i;
        size_t need =
            fuse_add_direntry(req, buf + used, size - used, l->ents[i].name, &st, (off_t)(i + 1));
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct listing *l = (struct listing *)(uintptr_t)fi->fh;
    (void)ino;
    listing_free(l);
    free(l);
    fuse_reply_err(req, 0);
}

const struct fuse_lowlevel_ops fs_ops = {
    .init = fs_init,
    .lookup = fs_lookup,
    .readlink = fs_readlink,
    .forget = fs_forget,
    .forget_multi = fs_forget_multi,
    .getattr = fs_getattr,
    .setattr = fs_setattr,
    .mknod = fs_mknod,
    .mkdir = fs_mkdir,
    .unlink = fs_unlink,
    .rmdir = fs_unlink,
    .symlink = fs_symlink,
    .rename = fs_rename,
    .link = fs_link,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .release = fs_release,
    .flush = fs_flush,
    .fsync = fs_fsync,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .releasedir = fs_releasedir,
    .statfs = fs_statfs,
    .setxattr = fs_setxattr,
    .removexattr = fs_removexattr,
    .create = fs_create,
    .fallocate = fs_fallocate,
    .lseek = fs_lseek,
};

char *fs_engine_message(void)
{
    char *msg = NULL;

    return bsf_error_message(bsnap_last_error(), bsf_cli_word, NULL, &msg) < 0 ? NULL : msg;
}
