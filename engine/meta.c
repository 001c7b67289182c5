/* meta.c - LMDB environment and tables; see meta.h. */
#include "meta.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "error.h"
#include "fault.h"
#include "util.h"

struct meta {
    MDB_env *env;
    MDB_dbi dbi[T__COUNT];
    bool rdonly;
};

struct meta_txn {
    meta *m;
    MDB_txn *txn;
    bool write;
};

struct meta_cursor {
    MDB_cursor *cur;
};

static const char *const table_names[T__COUNT] = {
    [T_INFO] = "info",       [T_CHUNKS] = "chunks",     [T_SNAPSHOTS] = "snapshots",
    [T_VOLUMES] = "volumes", [T_VOLPATHS] = "volpaths", [T_PINS] = "pins",
    [T_IMAGES] = "images",
};

/* The map is sparse, so a large size costs nothing until it is used.
 * BLOCKSNAP_MAP_SIZE (bytes) lets tests make it small to provoke
 * MDB_MAP_FULL. */
#define MAP_SIZE_DEFAULT (256ull << 30)

static int lmdb_fail(int rc, const char *what)
{
    switch (rc) {
    case MDB_NOTFOUND:
        return bsnap_fail(-ENOENT, "Store.Corrupt", "metadata: %s: %s", what, mdb_strerror(rc));
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return bsnap_fail(-ENOSPC, "Store.Full", "metadata: %s: %s", what, mdb_strerror(rc));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return bsnap_fail(-EIO, "Store.Corrupt", "metadata: %s: %s", what, mdb_strerror(rc));
    case MDB_READERS_FULL:
        return bsnap_fail(-EAGAIN, "Store.Busy", "metadata: %s: %s", what, mdb_strerror(rc));
    default:
        if (rc > 0)
            return bsnap_fail(-rc, rc == ENOSPC ? "Store.Full" : "Store.Error", "metadata: %s: %s",
                              what, mdb_strerror(rc));
        return bsnap_fail(-EIO, "Store.Error", "metadata: %s: %s", what, mdb_strerror(rc));
    }
}

int meta_open(const char *dir, bool rdonly, meta **ret_meta)
{
    meta *m = calloc(1, sizeof *m);
    MDB_txn *txn = NULL;
    const char *env_size = getenv("BLOCKSNAP_MAP_SIZE");
    size_t map_size = MAP_SIZE_DEFAULT;
    int rc, dead;

    if (!m)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (env_size && *env_size)
        map_size = (size_t)strtoull(env_size, NULL, 10);
    m->rdonly = rdonly;
    rc = mdb_env_create(&m->env);
    if (rc)
        goto fail;
    mdb_env_set_maxdbs(m->env, T__COUNT + 4);
    mdb_env_set_maxreaders(m->env, 1024);
    /* NOTLS: read transactions move between threads (FUSE pool, pipeline);
     * NORDAHEAD: random index lookups gain nothing from readahead.  Where
     * the address space is small (valgrind, 32-bit), halve the map until
     * it fits. */
    for (;;) {
        rc = mdb_env_set_mapsize(m->env, map_size);
        if (rc)
            goto fail;
        rc = mdb_env_open(m->env, dir, MDB_NOTLS | MDB_NORDAHEAD | (rdonly ? MDB_RDONLY : 0), 0644);
        if ((rc != EINVAL && rc != ENOMEM) || map_size <= (1ull << 30))
            break;
        map_size /= 2;
        mdb_env_close(m->env);
        m->env = NULL;
        rc = mdb_env_create(&m->env);
        if (rc)
            goto fail;
        mdb_env_set_maxdbs(m->env, T__COUNT + 4);
        mdb_env_set_maxreaders(m->env, 1024);
    }
    if (rc)
        goto fail;
    mdb_reader_check(m->env, &dead);
    if (dead)
        bsnap_debug("meta", "cleared %d stale reader slots", dead);
    /* A data file shorter than the pages its meta page names (cut short by
     * damage or a bad copy) would fault with SIGBUS on the first read past
     * its end: refuse it. */
    {
        MDB_envinfo ei;
        MDB_stat es;
        mdb_filehandle_t fd;
        struct stat st;

        if (mdb_env_info(m->env, &ei) == 0 && mdb_env_stat(m->env, &es) == 0 &&
            mdb_env_get_fd(m->env, &fd) == 0 && fstat(fd, &st) == 0 &&
            ((uint64_t)ei.me_last_pgno + 1) * es.ms_psize > (uint64_t)st.st_size) {
            mdb_env_close(m->env);
            free(m);
            return bsnap_fail(-EIO, "Store.Corrupt",
                              "metadata: %s/data.mdb holds %lld bytes, less than its %llu pages",
                              dir, (long long)st.st_size, (unsigned long long)ei.me_last_pgno + 1);
        }
    }

    rc = mdb_txn_begin(m->env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
    if (rc)
        goto fail;
    for (int i = 0; i < T__COUNT; i++) {
        rc = mdb_dbi_open(txn, table_names[i], rdonly ? 0 : MDB_CREATE, &m->dbi[i]);
        if (rc)
            goto fail;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto fail;
    *ret_meta = m;
    return 0;

fail:
    if (txn)
        mdb_txn_abort(txn);
    {
        int r = lmdb_fail(rc, "open");
        if (m->env)
            mdb_env_close(m->env);
        free(m);
        return rc == MDB_NOTFOUND && rdonly
                   ? bsnap_fail(-ENOENT, "Store.Corrupt", "metadata: table missing in %s", dir)
                   : r;
    }
}

void meta_close(meta *m)
{
    if (!m)
        return;
    mdb_env_close(m->env);
    free(m);
}

uint64_t meta_file_bytes(meta *m)
{
    const char *path = NULL;
    char file[4096];
    struct stat st;

    if (mdb_env_get_path(m->env, &path) || !path)
        return 0;
    snprintf(file, sizeof file, "%s/data.mdb", path);
    if (stat(file, &st) < 0)
        return 0;
    return (uint64_t)st.st_blocks * 512;
}

static bool meta_disk_full(meta *m)
{
    const char *path = NULL;
    struct statvfs sv;

    if (mdb_env_get_path(m->env, &path) || !path || statvfs(path, &sv) < 0)
        return false;
    return sv.f_bavail == 0;
}

int meta_txn_begin(meta *m, bool write, meta_txn **ret_txn)
{
    meta_txn *t;
    int rc;

    if (write && m->rdonly)
        return bsnap_fail(-EROFS, "Store.ReadOnly", "store is open read-only");
    t = calloc(1, sizeof *t);
    if (!t)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    rc = mdb_txn_begin(m->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc) {
        free(t);
        return lmdb_fail(rc, write ? "begin write transaction" : "begin read transaction");
    }
    t->m = m;
    t->write = write;
    *ret_txn = t;
    return 0;
}

int meta_txn_commit(meta_txn *txn)
{
    int rc;

    if (txn->write && fault_hit("meta-commit")) {
        mdb_txn_abort(txn->txn);
        free(txn);
        return bsnap_fail(-EIO, "Store.Error", "metadata: commit: injected failure");
    }
    rc = mdb_txn_commit(txn->txn);
    if (rc == EIO && meta_disk_full(txn->m))
        rc = ENOSPC; /* LMDB reports a failed write on a full disk as EIO */
    free(txn);
    if (rc)
        return lmdb_fail(rc, "commit");
    return 0;
}

void meta_txn_abort(meta_txn *txn)
{
    if (!txn)
        return;
    mdb_txn_abort(txn->txn);
    free(txn);
}

int meta_get(meta_txn *txn, meta_table t, const void *key, size_t klen, const void **ret_val,
             size_t *ret_vlen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
    int rc = mdb_get(txn->txn, txn->m->dbi[t], &k, &v);

    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc)
        return lmdb_fail(rc, "get");
    *ret_val = v.mv_data;
    *ret_vlen = v.mv_size;
    return 0;
}

int meta_put(meta_txn *txn, meta_table t, const void *key, size_t klen, const void *val,
             size_t vlen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};
    int rc = mdb_put(txn->txn, txn->m->dbi[t], &k, &v, 0);

    if (rc)
        return lmdb_fail(rc, "put");
    return 0;
}

int meta_del(meta_txn *txn, meta_table t, const void *key, size_t klen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    int rc = mdb_del(txn->txn, txn->m->dbi[t], &k, NULL);

    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc)
        return lmdb_fail(rc, "delete");
    return 0;
}

int meta_cursor_open(meta_txn *txn, meta_table t, meta_cursor **ret_cur)
{
    meta_cursor *c = calloc(1, sizeof *c);
    int rc;

    if (!c)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    rc = mdb_cursor_open(txn->txn, txn->m->dbi[t], &c->cur);
    if (rc) {
        free(c);
        return lmdb_fail(rc, "open cursor");
    }
    *ret_cur = c;
    return 0;
}

int meta_cursor_get(meta_cursor *cur, meta_cursor_op op, const void **key, size_t *klen,
                    const void **val, size_t *vlen)
{
    MDB_val k = {0}, v = {0};
    MDB_cursor_op mop = op == CUR_FIRST ? MDB_FIRST : op == CUR_NEXT ? MDB_NEXT : MDB_SET_RANGE;
    int rc;

    if (op == CUR_SET_RANGE) {
        k.mv_data = (void *)*key;
        k.mv_size = *klen;
    }
    rc = mdb_cursor_get(cur->cur, &k, &v, mop);
    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc)
        return lmdb_fail(rc, "cursor");
    *key = k.mv_data;
    *klen = k.mv_size;
    if (val)
        *val = v.mv_data;
    if (vlen)
        *vlen = v.mv_size;
    return 0;
}

int meta_cursor_del(meta_cursor *cur)
{
    int rc = mdb_cursor_del(cur->cur, 0);

    if (rc)
        return lmdb_fail(rc, "cursor delete");
    return 0;
}

void meta_cursor_close(meta_cursor *cur)
{
    if (!cur)
        return;
    mdb_cursor_close(cur->cur);
    free(cur);
}
