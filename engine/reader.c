/* reader.c - snapshot readers and their pins; see reader.h. */
#include "reader.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockmap.h"
#include "catalog.h"
#include "error.h"
#include "lineage.h"
#include "index.h"
#include "pack.h"
#include "store.h"
#include "util.h"

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
void snapshot_tree(const struct snapshot_rec *r, struct bm_tree *ret)
{
    ret->root = r->root;
    ret->depth = r->depth;
    ret->nchunks = r->chunk_size ? DIV_ROUND_UP(r->size, r->chunk_size) : 0;
}

static int reader_from_rec(bsnap_store *s, const struct snapshot_rec *rec, bool pin,
                           bsnap_reader **ret)
{
    bsnap_reader *rd;
    int r;

    /* A store's chunk size never changes, so a record that names another
     * one is damaged: its block map cannot be walked with it (0 would
     * divide by zero, another size would read chunks at the wrong
     * offsets). */
    if (rec->chunk_size != s->chunk_size)
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "snapshot %s: chunk size %u in its record, the store's is %u", rec->id,
                          rec->chunk_size, s->chunk_size);
    /* An encrypted snapshot is read only with its key at hand: the key's
     * error, naming the snapshot, before anything is read. */
    r = lineage_open(s, rec, NULL);
    if (r < 0)
        return r;
    rd = calloc(1, sizeof *rd);
    if (!rd)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    rd->s = s;
    rd->pin_fd = -1;
    snprintf(rd->id, sizeof rd->id, "%s", rec->id);
    snapshot_tree(rec, &rd->tree);
    rd->size = rec->size;
    rd->cs = rec->chunk_size;
    /* A dry run writes no pin (a record and a file): its reads are a
     * check's few, and a read-only store's readers go unpinned too. */
    if (pin && !(s->flags & BSNAP_STORE_RDONLY) && !s->dry_run &&
        !chunk_id_is_zero(&rd->tree.root)) {
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

int reader_open(bsnap_store *s, const char *id, bool pin, bsnap_reader **ret_reader)
{
    struct snapshot_rec rec = {0};
    int r;

    r = catalog_snapshot_get(s, id, &rec);
    if (r < 0)
        return r;
    if (rec.state != BSNAP_SNAPSHOT_COMPLETED)
        r = bsnap_fail(-EBUSY, "IncorrectState", "the snapshot '%s' is not completed", id);
    else
        r = reader_from_rec(s, &rec, pin, ret_reader);
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
    return error_param(reader_open(s, id, true, ret_reader), "SnapshotId");
}

int bsnap_reader_open_flags(bsnap_store *s, const char *id, unsigned flags,
                            bsnap_reader **ret_reader)
{
    bsnap_error_clear();
    return error_param(reader_open(s, id, !(flags & BSNAP_READER_NOPIN), ret_reader), "SnapshotId");
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

int reader_read_chunk_id(bsnap_reader *rd, uint64_t idx, const chunk_id *id, uint8_t *out)
{
    return reader_read_chunk_stored(rd, idx, id, out, NULL);
}

int reader_read_chunk_stored(bsnap_reader *rd, uint64_t idx, const chunk_id *id, uint8_t *out,
                             struct stored_payload *ret_stored)
{
    struct chunk_entry e;
    char hex[33];
    int r;

    if (ret_stored)
        ret_stored->data = NULL;
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
    return pack_read_chunk_stored(rd->s, id, &e.loc, out, ret_stored);
}

/* Read chunk @idx of the reader's snapshot into @out (cs bytes). */
static int read_chunk(bsnap_reader *rd, uint64_t idx, uint8_t *out)
{
    chunk_id id;
    int r = bm_lookup(rd->s, NULL, &rd->tree, idx, 0, &id);

    if (r < 0)
        return r;
    return reader_read_chunk_id(rd, idx, &id, out);
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
    r = reader_read_chunk_id(rd, index, &id, buf);
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
