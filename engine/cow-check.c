/* cow-check.c - verify, repair and gc of writable volumes' files; see
 * cow-check.h. */
#include "cow-check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "cow-crypt.h"
#include "cow.h"
#include "error.h"
#include "lineage.h"
#include "meta.h"
#include "store.h"
#include "util.h"
#include "xref.h"

struct vv {
    bsnap_store *s;
    bool repair;
    bsnap_problem_func fn;
    void *ud;
    bsnap_volume_verify_stats st;
};

static void report(struct vv *c, const char *vol, int64_t offset, bool fixed, const char *fmt, ...)
    BSNAP_PRINTF(5, 6);

static void report(struct vv *c, const char *vol, int64_t offset, bool fixed, const char *fmt, ...)
{
    char what[1200];
    bsnap_problem p;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    p = (bsnap_problem){.snapshot_id = "",
                        .chunk_id = "",
                        .pack = -1,
                        .offset = offset,
                        .what = what,
                        .volume_id = vol};
    if (fixed)
        c->st.repaired++;
    else
        c->st.problems++;
    if (c->fn)
        c->fn(c->ud, &p);
}

/* Whether T_VOL_BY_SNAP pins @snap for volume @vol: 1, 0, or -errno. */
static int pinned(meta_txn *txn, const char *snap, const char *vol)
{
    struct xref_walk *w = NULL;
    char id[BSNAP_ID_MAX];
    int r = xref_walk_new(txn, NULL, &w);

    if (r >= 0)
        r = xref_walk_add(w, T_VOL_BY_SNAP, snap);
    while (r >= 0 && (r = xref_walk_next(w, id)) > 0)
        if (strcmp(id, vol) == 0)
            break;
    xref_walk_free(w);
    return r < 0 ? r : r > 0;
}

/* The base and the last snapshot: there, completed, pinned. */
static int check_snapshots(struct vv *c, const struct volume_rec *v)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    const char *which[2] = {v->source_snapshot, v->last_snapshot};
    bool unpinned = false;
    int r = meta_txn_begin(c->s->meta, false, &txn);

    for (int i = 0; r >= 0 && i < 2; i++) {
        struct snapshot_rec rec = {0};
        if (!which[i][0] || (i == 1 && strcmp(which[1], which[0]) == 0))
            continue;
        r = catalog_snapshot_load(txn, which[i], &rec);
        if (r == -ENOENT) {
            bsnap_error_clear();
            r = 0;
            report(c, v->id, -1, false,
                   i == 0 ? "its base snapshot %s is missing: the chunks it never wrote cannot be "
                            "read (would need: that snapshot back, e.g. copied from another "
                            "region, or delete-volume)"
                          : "its last snapshot %s is missing: its next snapshot has no parent "
                            "(would need: that snapshot back, or delete-volume after a restore "
                            "of the volume to a file)",
                   which[i]);
        } else if (r == 0 && rec.state != BSNAP_SNAPSHOT_COMPLETED) {
            report(c, v->id, -1, false, "its %s snapshot %s is not completed",
                   i == 0 ? "base" : "last", which[i]);
        }
        snapshot_rec_clear(&rec);
        if (r < 0)
            break;
        r = pinned(txn, which[i], v->id);
        if (r == 0)
            unpinned = true;
    }
    if (r < 0)
        return r;
    meta_txn_abort(steal_ptr(txn));
    if (!unpinned)
        return 0;
    if (!c->repair) {
        report(c, v->id, -1, false,
               "its snapshots %s and %s are not both pinned: delete-snapshot would not refuse "
               "them (a repair of the store pins them again)",
               which[0], which[1]);
        return 0;
    }
    if ((r = meta_txn_begin(c->s->meta, true, &txn)) < 0 ||
        (r = cow_xref_update(txn, NULL, v)) < 0 || (r = meta_txn_commit(steal_ptr(txn))) < 0)
        return r;
    report(c, v->id, -1, true, "repaired: its snapshots %s and %s pinned again", which[0],
           which[1]);
    return 0;
}

/* The written chunks of a volume whose map is lost, from its overlay:
 * chunks holding data (plain) or a seal (encrypted).  Marked dirty too,
 * so its next snapshot reads every one. */
static int rebuild_bits(const struct volume_rec *v, int fd, int seal_fd, uint32_t cs,
                        uint64_t nchunks, uint64_t *bits, size_t nwords)
{
    if (seal_fd >= 0) {
        _Alignas(IO_ALIGN) uint8_t rec[COW_SEAL_RECORD];
        for (uint64_t i = 0; i < nchunks; i++) {
            ssize_t k = full_pread(seal_fd, rec, sizeof rec, (off_t)(i * COW_SEAL_RECORD));
            if (k < 0)
                return bsnap_fail((int)k, "Store.IOError", "volume %s: its seal file: %s", v->id,
                                  strerror((int)-k));
            if (k == (ssize_t)sizeof rec && (le32_get(rec) || le32_get(rec + COW_SEAL_ENTRY)))
                bits[i / 64] |= 1ull << (i % 64);
        }
    } else {
        off_t off = 0;
        for (;;) {
            off_t d = lseek(fd, off, SEEK_DATA), h;
            if (d < 0)
                break; /* ENXIO: no more data (or no SEEK_DATA: nothing known) */
            h = lseek(fd, d, SEEK_HOLE);
            if (h < 0)
                h = (off_t)v->size;
            for (uint64_t i = (uint64_t)d / cs; i < nchunks && i * cs < (uint64_t)h; i++)
                bits[i / 64] |= 1ull << (i % 64);
            off = h;
        }
    }
    memcpy(bits + nwords, bits, nwords * 8);
    return 0;
}

/* The files of volume @v, under its lock. */
static int check_files(struct vv *c, const struct volume_rec *v)
{
    uint32_t cs = c->s->chunk_size;
    uint64_t nchunks = DIV_ROUND_UP(v->size, cs);
    size_t nwords = DIV_ROUND_UP(nchunks, 64);
    uint64_t want = v->encrypted ? cow_crypt_data_bytes(nchunks, cs) : v->size, gen;
    _cleanup_free_ char *map = cow_map_path(c->s, v->id), *seal = cow_seal_path(c->s, v->id),
                        *mbuf = NULL;
    _cleanup_free_ uint64_t *bits = calloc(2 * nwords + 1, 8);
    _cleanup_free_ uint8_t *chunk = NULL;
    const struct crypt_key *k = NULL;
    int fd = -1, sfd = -1, r;
    size_t mlen = 0;
    uint32_t flags = 0;
    bool map_ok = false;
    struct stat st;

    if (!map || !seal || !bits)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    r = cow_lock_for_delete(c->s, v->id, &fd);
    if (r == -EBUSY) {
        bsnap_error_clear();
        c->st.volumes_in_use++;
        return 0;
    }
    if (r == -ENOENT) {
        report(c, v->id, -1, false,
               "its overlay (volumes/%s.data) is missing: what was written to it is lost "
               "(would need: the file back from a backup, or delete-volume)",
               v->id);
        return 0;
    }
    if (r < 0)
        return r;
    c->st.volumes_checked++;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != want) {
        report(c, v->id, -1, false,
               "its overlay has %lld bytes, not %llu: chunks past its end are lost (would "
               "need: the file back from a backup, or delete-volume)",
               (long long)st.st_size, (unsigned long long)want);
        goto out;
    }
    if (v->encrypted) {
        sfd = open(seal, O_RDWR | O_CLOEXEC);
        if (sfd < 0 || fstat(sfd, &st) < 0 ||
            (uint64_t)st.st_size != cow_crypt_seal_bytes(nchunks)) {
            report(c, v->id, -1, false,
                   "its seal file (volumes/%s.seal) is missing or of the wrong size: its "
                   "written chunks cannot be read (would need: the file back from a backup, or "
                   "delete-volume)",
                   v->id);
            goto out;
        }
    }
    r = file_read_all(map, cow_map_bytes(nwords), &mbuf, &mlen);
    if (r == 0)
        r = cow_map_decode((const uint8_t *)mbuf, mlen, map, cs, v->size, bits, nwords, &gen,
                           &flags);
    bsnap_error_clear();
    map_ok = r == 0;
    r = 0;
    if (!map_ok && !c->repair) {
        report(c, v->id, -1, false,
               "its map (volumes/%s.map) is missing or damaged: which chunks were written is "
               "not known (a repair of the store rebuilds it from the overlay)",
               v->id);
        goto out;
    }
    if (!map_ok) {
        memset(bits, 0, (2 * nwords + 1) * 8);
        r = rebuild_bits(v, fd, sfd, cs, nchunks, bits, nwords);
        if (r == 0)
            r = cow_map_replace(c->s, v->id, cs, v->size, v->encrypted ? COW_MAP_OPEN : 0, bits,
                                nwords);
        if (r < 0)
            goto out;
        report(c, v->id, -1, true,
               "repaired: its map rebuilt from the overlay (every chunk holding data counts as "
               "written, and is read again by its next snapshot)");
    }
    if (!v->encrypted)
        goto out;
    r = lineage_open_volume(c->s, v, &k);
    if (r < 0) {
        bsnap_debug("verify", "volume %s: %s", v->id, bsnap_last_error()->message);
        bsnap_error_clear();
        r = 0;
        c->st.volumes_keyless++;
        goto out;
    }
    chunk = alloc_aligned(cs);
    if (!chunk) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    {
        struct cow_crypt cc = {.k = k,
                               .data_fd = fd,
                               .seal_fd = sfd,
                               .vol_id = v->id,
                               .cs = cs,
                               .size = v->size,
                               .nchunks = nchunks};
        for (uint64_t i = 0; i < nchunks; i++) {
            if (!(bits[i / 64] & (1ull << (i % 64))))
                continue;
            c->st.chunks_checked++;
            if (cow_crypt_read(&cc, i, chunk) < 0) {
                report(c, v->id, (int64_t)(i * cs), false,
                       "chunk %llu does not open (%s): it reads as an I/O error (would "
                       "need: the chunk written again whole, or delete-volume)",
                       (unsigned long long)i, bsnap_last_error()->message);
                bsnap_error_clear();
            }
        }
    }
out:
    if (sfd >= 0)
        close(sfd);
    close(fd);
    return r;
}

int bsnap_volume_verify(bsnap_store *s, bool repair, bsnap_problem_func fn, void *ud,
                        bsnap_volume_verify_stats *ret_stats)
{
    struct vv c = {.s = s, .repair = repair, .fn = fn, .ud = ud};
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct volume_rec *vols = NULL;
    size_t n = 0;
    int r;

    bsnap_error_clear();
    r = meta_txn_begin(s->meta, false, &txn);
    if (r == 0)
        r = catalog_volume_all(txn, &vols, &n);
    meta_txn_abort(steal_ptr(txn));
    for (size_t i = 0; r >= 0 && i < n; i++) {
        if (!vols[i].writable)
            continue;
        r = check_snapshots(&c, &vols[i]);
        if (r >= 0)
            r = check_files(&c, &vols[i]);
    }
    volume_recs_free(vols, n);
    if (r < 0)
        return r;
    *ret_stats = c.st;
    return 0;
}

/* ---- gc ---- */

/* The volume id of a file of STORE/volumes/, and whether it is a
 * temporary map; 0, or -1 for a name that is not one of ours. */
static int file_volume(const char *name, char id[BSNAP_ID_MAX], bool *ret_tmp)
{
    const char *dot = strchr(name, '.');

    if (!dot || (size_t)(dot - name) >= BSNAP_ID_MAX)
        return -1;
    memcpy(id, name, (size_t)(dot - name));
    id[dot - name] = '\0';
    if (check_volume_id(id) < 0) {
        bsnap_error_clear();
        return -1;
    }
    *ret_tmp = strcmp(dot, ".map.tmp") == 0;
    return *ret_tmp || strcmp(dot, ".data") == 0 || strcmp(dot, ".map") == 0 ||
                   strcmp(dot, ".seal") == 0
               ? 0
               : -1;
}

/* Whether a record names volume @id: 1, 0, -errno. */
static int recorded(bsnap_store *s, const char *id)
{
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    struct volume_rec v = {0};
    int r = meta_txn_begin(s->meta, false, &txn);

    if (r == 0)
        r = catalog_volume_load(txn, id, &v);
    volume_rec_clear(&v);
    if (r == -ENOENT) {
        bsnap_error_clear();
        return 0;
    }
    return r < 0 ? r : 1;
}

int cow_gc_orphans(bsnap_store *s, int64_t grace_s, uint64_t *ret_removed)
{
    _cleanup_free_ char *dir = NULL;
    char(*ids)[BSNAP_ID_MAX] = NULL;
    size_t nids = 0, cap = 0;
    int64_t cutoff = time_now_ms() / 1000 - grace_s;
    uint64_t removed = 0;
    struct dirent *e;
    DIR *d;
    int r = 0;

    *ret_removed = 0;
    if (asprintf(&dir, "%s/volumes", s->path) < 0) {
        dir = NULL;
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : bsnap_fail(-errno, "Store.IOError", "%s: %m", dir);
    /* The volumes with a file too young to go: kept whole. */
    while ((e = readdir(d))) {
        char id[BSNAP_ID_MAX];
        bool tmp;
        struct stat st;
        if (file_volume(e->d_name, id, &tmp) < 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (st.st_mtime > cutoff) {
            void *na = array_grow(ids, nids, &cap, sizeof *ids, 16);
            if (!na) {
                r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
                break;
            }
            ids = na;
            memcpy(ids[nids++], id, BSNAP_ID_MAX);
        }
    }
    rewinddir(d);
    while (r >= 0 && (e = readdir(d))) {
        char id[BSNAP_ID_MAX], name[sizeof e->d_name];
        bool tmp, young = false;
        int fd = -1, q;
        if (file_volume(e->d_name, id, &tmp) < 0)
            continue;
        for (size_t i = 0; i < nids && !young; i++)
            young = strcmp(ids[i], id) == 0;
        if (young)
            continue;
        snprintf(name, sizeof name, "%s", e->d_name);
        q = recorded(s, id);
        if (q < 0) {
            r = q;
            break;
        }
        if (q && !tmp)
            continue; /* a live volume's */
        /* Held: nobody writes it; a missing overlay holds nothing. */
        q = cow_lock_for_delete(s, id, &fd);
        if (q == -EBUSY) {
            bsnap_error_clear();
            continue;
        }
        if (q < 0 && q != -ENOENT) {
            bsnap_error_clear();
            continue;
        }
        if (tmp || recorded(s, id) == 0) {
            if (unlinkat(dirfd(d), name, 0) == 0) {
                removed++;
                bsnap_debug("gc", "volume %s: removed %s (no record names it)", id, name);
            }
        }
        if (fd >= 0)
            close(fd);
    }
    closedir(d);
    free(ids);
    if (removed)
        fsync_dir(dir);
    *ret_removed = removed;
    return r < 0 ? r : 0;
}
