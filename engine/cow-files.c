/* cow-files.c - see cow-files.h. */
#include "cow-files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "error.h"
#include "store-handle.h"
#include "util.h"
#include "xref.h"

static char *vol_file(const bsnap_store *s, const char *id, const char *ext)
{
    char *p = NULL;

    if (asprintf(&p, "%s/volumes/%s%s", s->path, id, ext) < 0)
        return NULL;
    return p;
}

char *cow_data_path(const bsnap_store *s, const char *id)
{
    return vol_file(s, id, ".data");
}

char *cow_map_path(const bsnap_store *s, const char *id)
{
    return vol_file(s, id, ".map");
}

char *cow_seal_path(const bsnap_store *s, const char *id)
{
    return vol_file(s, id, ".seal");
}

/* ---- state, lock, delete ---- */

const char *cow_state(const bsnap_store *s, const char *id)
{
    _cleanup_free_ char *path = cow_data_path(s, id);
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    bool busy;

    if (fd < 0)
        return "available";
    busy = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return busy ? "in-use" : "available";
}

int cow_lock_busy(const char *id)
{
    return bsnap_fail(-EBUSY, "VolumeInUse",
                      "the volume '%s' is in use: another writer (a mount or an instance) has it "
                      "open",
                      id);
}

int cow_lock_for_delete(const bsnap_store *s, const char *id, int *ret_fd)
{
    _cleanup_free_ char *path = cow_data_path(s, id);
    int fd;

    if (!path)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK
                   ? cow_lock_busy(id)
                   : bsnap_fail(-e, "Store.IOError", "volume %s: flock: %s", id, strerror(e));
    }
    *ret_fd = fd;
    return 0;
}

void cow_remove_files(const bsnap_store *s, const char *id)
{
    _cleanup_free_ char *data = cow_data_path(s, id), *map = cow_map_path(s, id),
                        *seal = cow_seal_path(s, id);

    if (map)
        unlink(map);
    if (seal)
        unlink(seal);
    if (data)
        unlink(data);
}

/* ---- cross-references ---- */

int cow_xref_update(meta_txn *txn, const struct volume_rec *old, const struct volume_rec *new)
{
    int r = 0;

    /* Remove the old entries, then add the new (an entry both name stays). */
    if (old && old->writable) {
        if (old->source_snapshot[0])
            r = xref_set(txn, T_VOL_BY_SNAP, old->source_snapshot, old->id, NULL, false);
        if (r >= 0 && old->last_snapshot[0])
            r = xref_set(txn, T_VOL_BY_SNAP, old->last_snapshot, old->id, NULL, false);
    }
    if (r >= 0 && new &&new->writable) {
        if (new->source_snapshot[0])
            r = xref_set(txn, T_VOL_BY_SNAP, new->source_snapshot, new->id, NULL, true);
        if (r >= 0 && new->last_snapshot[0])
            r = xref_set(txn, T_VOL_BY_SNAP, new->last_snapshot, new->id, NULL, true);
    }
    return r < 0 ? r : 0;
}

int cow_snapshot_user(meta_txn *txn, const char *snap, char ret_vol[BSNAP_ID_MAX])
{
    struct xref_walk *w = NULL;
    int r = xref_walk_new(txn, NULL, &w);

    if (r >= 0)
        r = xref_walk_add(w, T_VOL_BY_SNAP, snap);
    if (r >= 0)
        r = xref_walk_next(w, ret_vol);
    xref_walk_free(w);
    return r;
}
