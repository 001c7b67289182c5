/* fs.h - the FUSE view's state, shared by main.c, fs.c and tree.c.
 *
 * One struct fs is the session's userdata: no globals.  The tree module
 * (tree.c) maps paths to objects and keeps the inode table; the ops module
 * (fs.c) turns FUSE requests into engine calls and fuse_reply_*; main.c
 * checks, mounts, daemonizes and runs the loop.
 *
 * Objects:
 *  - struct snap: one snapshot the view has met (id, record, partition
 *    table once parsed).  Immutable once built except for the partition
 *    table, which is filled once under parts_lock.  Reference counted under
 *    fs->lock: the snapshot table holds one reference while the snapshot
 *    exists in the store, each node and each open file one more.
 *  - struct node: one inode the kernel knows (lookup count nlookup), freed
 *    at its last forget.  Files are windows [offset, offset + length) of a
 *    snapshot's volume: the whole volume (.img) or a partition (.pN).
 *  - struct handle: one open file: its own reader of the snapshot (so an
 *    open file keeps its snapshot pinned), wrapped in a cache source.
 *
 * Locking: fs->lock guards the inode tables, the snapshot table and all
 * reference counts; it is never held across an engine call that reads
 * chunks.  A snap's parts_lock is taken without fs->lock held.
 */
#ifndef BSNAP_FUSE_FS_H
#define BSNAP_FUSE_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "blocksnap-fuse.h"
#include "blocksnap.h"
#include "bsfront-cache.h"

/* Fixed inodes of the whole-store tree. */
enum {
    INO_ROOT = 1,
    INO_SNAPSHOTS = 2,
    INO_IMAGES = 3,
    INO_BYNAME = 4,
    INO_VOLUMES = 5,
    INO_TAGS = 6,
    INO_FIRST_DYNAMIC = 16
};

enum node_kind {
    NODE_ROOT,      /* MOUNT/: snapshots/, images/, volumes/, tags/ */
    NODE_SNAPSHOTS, /* snap-….img and snap-….pN of every completed snapshot */
    NODE_IMAGES,    /* images/: ami-…/ and by-name/ (images.c) */
    NODE_FILE,      /* a window of a snapshot's volume */
    NODE_IMAGE,     /* images/ami-…/: manifest.json, DEVICE.img, DEVICE.pN */
    NODE_BYNAME,    /* images/by-name/: NAME -> ../ami-… */
    NODE_MEMFILE,   /* a small file held in memory (manifest.json) */
    NODE_SYMLINK,   /* by-name/NAME, volumes/VOL/TIME.img, tags/KEY/VALUE/snap-….img */
    NODE_VOLUMES,   /* volumes/ (browse.c) */
    NODE_VOLUME,    /* volumes/VOL/: TIME.img and latest */
    NODE_TAGS,      /* tags/ */
    NODE_TAGKEY,    /* tags/KEY/ */
    NODE_TAGVALUE,  /* tags/KEY/VALUE/ */
    NODE_RWVOL,     /* volumes/vol-….img: a writable volume, read-write (data: its id) */
};

struct snap {
    char id[BSNAP_ID_MAX];
    bsnap_snapshot_info info;
    uint64_t serial; /* cache key, never reused */
    uint64_t blocks; /* st_blocks of the whole volume */
    unsigned refs;   /* under fs->lock */
    bool in_table;   /* under fs->lock */
    uint64_t seen;   /* under fs->lock: the last listing that found it */
    pthread_mutex_t parts_lock;
    bool parts_done; /* under parts_lock; then immutable */
    bsnap_partition *parts;
    uint64_t *part_blocks; /* st_blocks of each partition */
    size_t nparts;
};

struct node {
    fuse_ino_t ino;
    fuse_ino_t parent;
    char *name;
    enum node_kind kind;
    uint64_t nlookup;  /* under fs->lock */
    struct snap *snap; /* NODE_FILE */
    uint64_t offset, length, blocks;
    char *data; /* NODE_MEMFILE content / NODE_SYMLINK target, replaced
                 * under fs->lock when a lookup finds it changed */
    size_t datalen;
    /* NODE_IMAGE, its manifest.json and by-name links: the image's
     * CreationDate (Unix ms), under fs->lock; 0: the mount's start */
    int64_t time_ms;
};

/* An open writable volume, shared by the handles that have it open (one
 * engine handle: a volume has one writer), in fs->rwvols under rw_lock. */
struct rwvol {
    char id[BSNAP_ID_MAX];
    bsnap_volume *v;
    unsigned refs;
    struct rwvol *next;
};

struct handle {
    struct fs *fs;
    struct rwvol *rw; /* NODE_RWVOL: the volume (src is NULL) */
    struct source *src;
    char id[BSNAP_ID_MAX];   /* the snapshot, for messages */
    uint64_t offset, length; /* the window */
    pthread_mutex_t ra_lock;
    uint64_t next_off;          /* where a sequential reader reads next */
    uint64_t ra_next;           /* first chunk not yet queued for readahead */
    unsigned streak;            /* sequential reads in a row */
    struct handle *prev, *next; /* fs->handles, under fs->lock */
    char *mem;                  /* NODE_MEMFILE: a copy taken at open (src is NULL) */
    size_t memlen;
};

struct fs {
    bsnap_store *store;
    const char *single_id; /* --snapshot-id */
    bool root_is_file;     /* --snapshot-id on a regular-file mountpoint */
    uid_t uid;
    gid_t gid;
    struct timespec started;
    struct cache *cache;
    struct fuse_session *se;
    uint64_t ra_bytes;         /* readahead window: READAHEAD_BYTES or less for a small cache */
    char mountpoint[PATH_MAX]; /* canonical */
    atomic_bool ra_widened;    /* fs_widen_readahead() ran */

    pthread_mutex_t lock;
    void *by_ino;  /* tsearch: struct node by ino */
    void *by_name; /* tsearch: struct node by (parent, name) */
    void *snaps;   /* tsearch: struct snap by id */
    fuse_ino_t next_ino;
    uint64_t next_serial;
    uint64_t list_gen; /* listings of snapshots/ begun */
    uint64_t nnodes;
    struct handle *handles; /* open files: closed at teardown if the loop
                             * ends (signal) while files are still open */
    void *key_logged;       /* tsearch: ids (malloc'd) of the encrypted
                             * snapshots whose missing key was logged */
    struct catalog *browse; /* browse.c: the last catalog loaded, under fs->lock */
    /* Writable volumes open now (fs.c); rw_lock is held across the
     * engine's open and close of one, never with fs->lock. */
    pthread_mutex_t rw_lock;
    struct rwvol *rwvols;
};

/* ---- main.c ---- */

/* Widen the kernel's readahead window of the mount, once, when the kernel
 * has taken the session's INIT answer (which would undo it): at the first
 * open. */
void fs_widen_readahead(struct fs *fs);

/* The calling thread's last engine error message in the CLI's words (the
 * mount runs under it: "run blocksnap verify", not the engine's
 * "VerifyStore"), malloc'd; NULL when out of memory. */
char *fs_engine_message(void);

/* ---- tree.c ---- */

int tree_init(struct fs *fs);
void tree_free(struct fs *fs);

/* The node of @ino, or NULL.  Borrowed: valid until its forget, which the
 * kernel sends only after the request that uses it is answered. */
struct node *tree_node(struct fs *fs, fuse_ino_t ino);

/* Look @name up in directory @parent; on success the node's lookup count
 * is raised by one and *ret filled for fuse_reply_entry.
 * Errors: -ENOENT, -ENOTDIR, -EIO, -ENOMEM. */
int tree_lookup(struct fs *fs, fuse_ino_t parent, const char *name, struct fuse_entry_param *ret);

/* Drop @n lookups of @ino (forget). */
void tree_forget(struct fs *fs, fuse_ino_t ino, uint64_t n);

/* Attributes of a node. */
void tree_stat(struct fs *fs, const struct node *node, struct stat *ret);

/* A directory listing taken at opendir, so offsets stay stable. */
struct dirent_l {
    char *name;
    mode_t type;    /* S_IFDIR, S_IFREG */
    fuse_ino_t ino; /* for d_ino; 0 when the name has no inode yet */
};
struct listing {
    struct dirent_l *ents;
    size_t n;
};
int tree_list(struct fs *fs, const struct node *dir, struct listing *ret);
void listing_free(struct listing *l);

/* Take or drop a reference on @s (they take fs->lock). */
struct snap *snap_ref(struct fs *fs, struct snap *s);
void snap_unref(struct fs *fs, struct snap *s);

/* Parse @s's partition table once (opening a reader of its own).
 * Returns 0 (possibly with no partitions) or the reader's error; a failure
 * is not remembered, so a later call tries again. */
int snap_partitions(struct fs *fs, struct snap *s);

/* Whether completed snapshot @info can be read here: 0 when it is plain or
 * its key is at hand (a reader opens), -ENOENT when it is encrypted and its
 * key is not: the snapshot is then absent from the view, and the first
 * time (per snapshot and mount) the log says why.  Other failures are left
 * to the read that meets them (0). */
int tree_key_check(struct fs *fs, const bsnap_snapshot_info *info);
/* Whether the calling thread's last engine error is a key's (a KMS-style
 * code: the key is missing, disabled, pending deletion, not granted...);
 * if so, log it for snapshot @id once per mount, and return true. */
bool fs_key_unavailable(struct fs *fs, const char *id);

/* Find or make the snap object of completed snapshot @id for the single
 * snapshot mount.  Returns a new reference.  Errors from the engine. */
int tree_snap_get(struct fs *fs, const char *id, struct snap **ret);

/* A window [offset, offset + length) of completed snapshot @id (@part 0:
 * the whole volume, else partition @part) as file node @name of @parent,
 * made on first sight; its lookup count raised.  Errors: -ENOENT, -EIO,
 * -ENOMEM. */
int tree_window_node(struct fs *fs, fuse_ino_t parent, const char *name, const char *id,
                     unsigned part, struct node **ret);
/* Find or make the node @name of @parent of @kind (no snapshot); raise its
 * lookup count.  With @data, set (or replace) its content.  @time_ms is its
 * times (Unix ms; 0: the mount's start).  NULL when out of memory. */
struct node *tree_dyn_node(struct fs *fs, fuse_ino_t parent, const char *name, enum node_kind kind,
                           const char *data, size_t datalen, int64_t time_ms);
/* Split "NAME.img" / "NAME.pN" into NAME and the partition (0 for .img);
 * false for any other name. */
bool tree_parse_file_name(const char *name, char *base, size_t cap, unsigned *ret_part);
int listing_add(struct listing *l, size_t *cap, const char *name, mode_t type, fuse_ino_t ino);
/* Partition files of snapshot @id, as "PREFIX.pN" entries. */
int tree_list_parts(struct fs *fs, struct listing *l, size_t *cap, const char *id,
                    const char *prefix);

/* ---- images.c: the images/ tree ---- */

int images_lookup(struct fs *fs, struct node *dir, const char *name, struct node **ret);
int images_list(struct fs *fs, const struct node *dir, struct listing *l, size_t *cap);

/* ---- browse.c: the volumes/ and tags/ trees ---- */

int browse_lookup(struct fs *fs, struct node *dir, const char *name, struct node **ret);
int browse_list(struct fs *fs, const struct node *dir, struct listing *l, size_t *cap);
/* Drop the catalog kept for lookups (at teardown). */
void browse_free(struct fs *fs);

/* ---- fs.c ---- */

/* Close the files still open (after the loop ended). */
void fs_close_handles(struct fs *fs);

extern const struct fuse_lowlevel_ops fs_ops;

/* Timeouts (seconds) given to the kernel.  Names are looked up again after
 * ENTRY_TIMEOUT, so deleted snapshots vanish and new ones appear within it;
 * a file's attributes never change. */
#define ENTRY_TIMEOUT 1.0
#define FILE_ATTR_TIMEOUT 60.0
#define DIR_ATTR_TIMEOUT 1.0

/* Largest read the kernel sends (-o max_read) and the readahead window. */
#define MAX_READ (1u << 20)
#define READAHEAD_BYTES (4u << 20)

#endif
