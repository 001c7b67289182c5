/* meta.h - the LMDB metadata environment.
 *
 * The only module that includes lmdb.h.  It opens STORE/meta as one LMDB
 * environment with a fixed set of named tables, hands out read and write
 * transactions, and translates LMDB's codes to negative errno in one place
 * (MDB_NOTFOUND -> -ENOENT, MDB_MAP_FULL -> -ENOSPC, corruption -> -EIO),
 * recording the message through bsnap_fail().
 *
 * Guarantees: a write transaction either commits whole or not at all; read
 * transactions never block and may move between threads (MDB_NOTLS); a
 * killed process's stale reader slots are cleared on open.
 *
 * Damaged files: no liblmdb fault (SIGSEGV/SIGBUS on a damaged page) kills
 * the process: it fails the call with Store.Corrupt naming the file and
 * telling to run `blocksnap verify`, and every later call of the
 * environment fails the same way.  Nothing is written into a file the
 * structure check (metacheck.h) finds damaged: the first write transaction
 * of an open runs it (or finds the file unchanged since a process that
 * checked it last wrote it: meta.c, "the verified state"), and from then on
 * writes fail (reads go on, guarded;
 * meta_is_damaged() tells readers to do without a pin).  A file too damaged for liblmdb to open still opens
 * here, in that failed state, so that meta_check() can name the damage.
 */
#ifndef BSNAP_META_H
#define BSNAP_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metacheck.h"

typedef enum meta_table {
    T_INFO,      /* small store-wide values: next pack number */
    T_CHUNKS,    /* chunk id (16 bytes) -> chunk entry (index.h) */
    T_SNAPSHOTS, /* snapshot id -> JSON record (json.h) */
    T_VOLUMES,   /* volume id -> JSON record */
    T_VOLPATHS,  /* canonical path -> volume id */
    T_PINS,      /* pin name -> root chunk id + snapshot id (open readers) */
    T_IMAGES,    /* image id -> JSON record (images issue) */
    /* Cross-reference tables (xref.h): derived from the records, changed
     * only in the transactions that change them.  Keys "KEY\0ID". */
    T_SNAP_BY_VOLUME, /* volume id, snapshot id -> "" */
    T_SNAP_BY_PARENT, /* parent snapshot id, snapshot id -> "" */
    T_SNAP_TAGS,      /* tag key, snapshot id -> tag value */
    T_VOL_TAGS,       /* tag key, volume id -> tag value */
    T_IMAGE_TAGS,     /* tag key, image id -> tag value */
    T_IMAGE_BY_SNAP,  /* snapshot id, id of a live image that maps it -> "" */
    /* Copies between stores (copy.c, docs/format.md "Copies"). */
    T_CHUNK_XLATE, /* source store uuid (16) + source chunk id (16) -> chunk id */
    T_COPIES,      /* "KEY\0ID" -> copy id: lineage and client tokens */
    /* Region keys (keys.h): "k" + key id -> key record, "a" + alias name ->
     * key id and creation time, "s" + setting name -> value. */
    T_KEYS,
    /* Launch templates (template.h): "t" + template id -> template record,
     * "v" + template id + ":" + 10-digit version -> version record, "n" +
     * owner + "\0" + name -> template id, "c" + owner + "\0" + client token
     * -> template id and request. */
    T_TEMPLATES,
    /* Lifecycle policies and Recycle Bin rules (lifecycle.h): "p" + policy
     * id -> policy record. */
    T_LIFECYCLE,
    /* Writable volumes (cow.h): "SNAPSHOT\0VOLUME" -> "" for each
     * snapshot a writable volume reads (its base) or diffs against next
     * (its last snapshot); delete-snapshot refuses those. */
    T_VOL_BY_SNAP,
    /* EBS direct snapshots being written (ebs.h): "s" + snapshot id ->
     * its pending state, "b" + snapshot id + "\0" + 8-byte big-endian
     * block index -> the block's SHA-256 and chunk ids, "t" + owner +
     * "\0" + client token -> snapshot id and request hash. */
    T_EBS,
    /* Instances (instance.h): "i" + instance id -> instance record, "c" +
     * owner + "\0" + client token -> the run it answered. */
    T_INSTANCES,
    T__COUNT
} meta_table;

/* The first table an older store may lack: a read-only open of such a
 * store goes on without them (they read as empty; xref.h says when they
 * are used), a writing open creates them. */
#define T_FIRST_OPTIONAL T_SNAP_BY_VOLUME

/* The table's name in the file ("chunks", ...). */
const char *meta_table_name(meta_table t);

typedef struct meta meta;
typedef struct meta_txn meta_txn;
typedef struct meta_cursor meta_cursor;

/* Open (creating files as needed unless @rdonly) the environment in @dir. */
int meta_open(const char *dir, bool rdonly, meta **ret_meta);
/* Open (creating it) an environment held in the single file @file, its
 * lock file beside it as FILE-lock: verify --repair's new file. */
int meta_create_file(const char *file, meta **ret_meta);
void meta_close(meta *m);

/* Check the structure of the data file (metacheck.h) on a snapshot that no
 * writer changes while it is read, passing each problem to @fn (@fn may be
 * NULL).  Returns 0 when the check ran (problems counted in @ret_stats; if
 * any, every later write transaction fails, while reads go on through the
 * guard), negative errno when it could not.  Any thread. */
int meta_check(meta *m, metacheck_func fn, void *ud, struct metacheck_stats *ret_stats);

/* Whether this open's check before its first write was the verified
 * state's stamp (meta.c, "the verified state") rather than the walk. */
bool meta_check_skipped(meta *m);
/* At most this many writing processes in a row skip the walk. */
#define META_STAMP_MAX_SKIPS 64

/* Whether the environment was found damaged (every write is refused). */
bool meta_is_damaged(meta *m);

/* Size of the environment's data file, for store info. */
uint64_t meta_file_bytes(meta *m);

/* Begin a transaction; @write selects a write transaction (one at a time
 * per environment, across processes: keep them short). */
int meta_txn_begin(meta *m, bool write, meta_txn **ret_txn);
/* Commit and free.  On failure the transaction is aborted and freed.  In
 * a dry run (meta_set_dry_run()) a write transaction is aborted instead:
 * -ENOEXEC (DryRunOperation), and the file stays as it was. */
int meta_txn_commit(meta_txn *txn);
/* Make every later commit of a write transaction a dry run's stop: the
 * operation has made all its checks before its first write, and that
 * write is where a dry run ends (bsnap_store_set_dry_run()). */
void meta_set_dry_run(meta *m, bool on);
/* Abort and free; NULL is a no-op. */
void meta_txn_abort(meta_txn *txn);
static inline void meta_txn_abortp(meta_txn **t)
{
    meta_txn_abort(*t);
}
#define _cleanup_txn_abort_ __attribute__((cleanup(meta_txn_abortp)))

/* Look @key up.  *ret_val points into the map and is valid until the
 * transaction ends or (write txn) the next change.  -ENOENT if absent (no
 * error is recorded for that: absence is often expected). */
int meta_get(meta_txn *txn, meta_table t, const void *key, size_t klen, const void **ret_val,
             size_t *ret_vlen);
int meta_put(meta_txn *txn, meta_table t, const void *key, size_t klen, const void *val,
             size_t vlen);
/* Delete @key; -ENOENT if absent (not recorded as an error). */
int meta_del(meta_txn *txn, meta_table t, const void *key, size_t klen);

/* Cursors iterate a table in key order (memcmp order of keys). */
typedef enum { CUR_FIRST, CUR_NEXT, CUR_SET_RANGE, CUR_SET } meta_cursor_op;
int meta_cursor_open(meta_txn *txn, meta_table t, meta_cursor **ret_cur);
/* Position and read.  With CUR_SET_RANGE and CUR_SET, the key and its length are the
 * input (the first key >= it; that key exactly).  -ENOENT at the end, or with CUR_SET
 * when the key is absent (not recorded).  Pointers valid as for meta_get.  A cursor
 * already on a leaf of the table finds a key on the same leaf without descending the
 * tree again: keys looked up in order cost one descent per leaf. */
int meta_cursor_get(meta_cursor *cur, meta_cursor_op op, const void **key, size_t *klen,
                    const void **val, size_t *vlen);
/* Replace the value of the entry under the cursor, whose key is @key (write txn). */
int meta_cursor_put(meta_cursor *cur, const void *key, size_t klen, const void *val, size_t vlen);
/* Delete the entry under the cursor (write txn). */
int meta_cursor_del(meta_cursor *cur);
void meta_cursor_close(meta_cursor *cur);

#endif
