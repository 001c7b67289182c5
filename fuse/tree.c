/* tree.c - path to object: the inode table and the snapshot table.
 *
 * The view is computed from the store on every lookup and opendir, so
 * snapshots created or deleted while mounted appear or vanish without a
 * remount; only positive answers are cached by the kernel, for
 * ENTRY_TIMEOUT.  What the kernel holds an inode of stays until its last
 * forget, even when the snapshot is gone (its open files keep working).
 *
 * Images (images.c) add node kinds: images/ami-…/ as a directory whose
 * listing comes from the image's mappings, manifest.json as a memory file,
 * DEVICE.img and DEVICE.pN as NODE_FILE windows of the mapped snapshots
 * (tree_window_node(), what snapshots/ builds), by-name/NAME as symlinks.
 * browse.c adds volumes/ and tags/: directories and symlinks into
 * snapshots/.
 */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

#define DIV_UP(n, d) (((n) + (d)-1) / (d))
/* SEEK_DATA/SEEK_HOLE steps spent on one partition's st_blocks before
 * settling for its size. */
#define BLOCKS_MAX_STEPS 100000

/* ---- comparators ---- */

static int node_ino_cmp(const void *a, const void *b)
{
    const struct node *x = a, *y = b;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int node_name_cmp(const void *a, const void *b)
{
    const struct node *x = a, *y = b;
    if (x->parent != y->parent)
        return x->parent < y->parent ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int snap_cmp(const void *a, const void *b)
{
    const struct snap *x = a, *y = b;
    return strcmp(x->id, y->id);
}

/* ---- snapshots ---- */

static void snap_free(struct snap *s)
{
    pthread_mutex_destroy(&s->parts_lock);
    free(s->parts);
    free(s->part_blocks);
    free(s);
}

static void snap_unref_locked(struct snap *s)
{
    if (--s->refs == 0)
        snap_free(s);
}

void snap_unref(struct fs *fs, struct snap *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&fs->lock);
    snap_unref_locked(s);
    pthread_mutex_unlock(&fs->lock);
}

struct snap *snap_ref(struct fs *fs, struct snap *s)
{
    pthread_mutex_lock(&fs->lock);
    s->refs++;
    pthread_mutex_unlock(&fs->lock);
    return s;
}

/* The snap object of @info (completed), made on first sight.  Returns a new
 * reference, or NULL when out of memory. */
static struct snap *snap_get(struct fs *fs, const bsnap_snapshot_info *info)
{
    struct snap key;
    struct snap *s;

    snprintf(key.id, sizeof(key.id), "%s", info->id);
    pthread_mutex_lock(&fs->lock);
    void **found = tfind(&key, &fs->snaps, snap_cmp);
    if (found) {
        s = *found;
        s->refs++;
        pthread_mutex_unlock(&fs->lock);
        return s;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        pthread_mutex_unlock(&fs->lock);
        return NULL;
    }
    snprintf(s->id, sizeof(s->id), "%s", info->id);
    s->info = *info;
    s->serial = ++fs->next_serial;
    s->seen = fs->list_gen; /* not dropped by a listing under way */
    uint64_t data = info->data_chunks * (uint64_t)info->chunk_size;
    s->blocks = DIV_UP(data < info->size ? data : info->size, 512);
    pthread_mutex_init(&s->parts_lock, NULL);
    s->refs = 2; /* the table's and the caller's */
    if (!tsearch(s, &fs->snaps, snap_cmp)) {
        pthread_mutex_unlock(&fs->lock);
        snap_free(s);
        return NULL;
    }
    s->in_table = true;
    pthread_mutex_unlock(&fs->lock);
    return s;
}

/* Forget snapshot @id from the table: it is gone from the store.  Objects
 * that still hold it (nodes, open files) keep it alive. */
static void snap_drop(struct fs *fs, const char *id)
{
    struct snap key;
    snprintf(key.id, sizeof(key.id), "%s", id);
    pthread_mutex_lock(&fs->lock);
    void **found = tfind(&key, &fs->snaps, snap_cmp);
    if (found) {
        struct snap *s = *found;
        tdelete(s, &fs->snaps, snap_cmp);
        s->in_table = false;
        snap_unref_locked(s);
    }
    pthread_mutex_unlock(&fs->lock);
}

/* st_blocks of the window [off, off + len): its data bytes, by walking the
 * block map with SEEK_DATA/SEEK_HOLE. */
static uint64_t window_blocks(bsnap_reader *r, uint64_t off, uint64_t len)
{
    uint64_t pos = off, end = off + len, data = 0;
    for (int steps = 0; pos < end; steps++) {
        uint64_t d, h;
        if (steps > BLOCKS_MAX_STEPS)
            return DIV_UP(len, 512);
        int e = bsnap_reader_seek(r, pos, SEEK_DATA, &d);
        if (e == -ENXIO)
            break;
        if (e < 0)
            return DIV_UP(len, 512);
        if (d >= end)
            break;
        if (bsnap_reader_seek(r, d, SEEK_HOLE, &h) < 0 || h > end)
            h = end;
        if (h <= d)
            break;
        data += h - d;
        pos = h;
    }
    return DIV_UP(data, 512);
}

/* The partition table recorded in @s's record (-ENODATA for a record
 * without one), as bsnap_partition entries with their place only. */
static int recorded_partitions(struct fs *fs, const struct snap *s, bsnap_partition **ret_parts,
                               size_t *ret_n)
{
    bsnap_part_extent *ext;
    size_t n;
    int e = bsnap_snapshot_partitions(fs->store, s->id, &ext, &n);
    if (e < 0)
        return e;
    bsnap_partition *parts = n ? calloc(n, sizeof(*parts)) : NULL;
    if (n && !parts) {
        free(ext);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        parts[i].number = ext[i].number;
        parts[i].offset = ext[i].offset;
        parts[i].size = ext[i].size;
    }
    free(ext);
    *ret_parts = parts;
    *ret_n = n;
    return 0;
}

int snap_partitions(struct fs *fs, struct snap *s)
{
    bsnap_reader *r;
    bsnap_partition *parts = NULL;
    size_t n = 0;
    int e;

    pthread_mutex_lock(&s->parts_lock);
    if (s->parts_done) {
        pthread_mutex_unlock(&s->parts_lock);
        return 0;
    }
    /* A short read of the table: no pin, so listing costs no metadata write. */
    e = bsnap_reader_open_flags(fs->store, s->id, BSNAP_READER_NOPIN, &r);
    if (e < 0)
        goto out;
    /* The table found when the snapshot was taken; older records have
     * none, and their table is read from the snapshot. */
    e = recorded_partitions(fs, s, &parts, &n);
    if (e == -ENODATA)
        e = bsnap_partitions_read(r, &parts, &n);
    if (e < 0) {
        char *msg = fs_engine_message();
        fuse_log(FUSE_LOG_ERR, "blocksnap: %s: cannot read the partition table: %s (%s)\n", s->id,
                 msg ? msg : bsnap_last_error()->message, bsnap_last_error()->code);
        free(msg);
        bsnap_reader_close(r);
        goto out;
    }
    uint64_t *blocks = n ? calloc(n, sizeof(*blocks)) : NULL;
    if (n && !blocks) {
        free(parts);
        bsnap_reader_close(r);
        e = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        blocks[i] = window_blocks(r, parts[i].offset, parts[i].size);
    bsnap_reader_close(r);
    s->parts = parts;
    s->part_blocks = blocks;
    s->nparts = n;
    s->parts_done = true;
out:
    pthread_mutex_unlock(&s->parts_lock);
    return e;
}

int tree_snap_get(struct fs *fs, const char *id, struct snap **ret)
{
    bsnap_snapshot_info info;
    int e = bsnap_snapshot_get(fs->store, id, &info);
    if (e < 0)
        return e;
    if (info.state != BSNAP_SNAPSHOT_COMPLETED)
        return -EBUSY;
    struct snap *s = snap_get(fs, &info);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

/* ---- encrypted snapshots ---- */

static int id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

bool fs_key_unavailable(struct fs *fs, const char *id)
{
    const bsnap_error *le = bsnap_last_error();
    bool first = false;

    /* KMS's codes end so (KeyUnavailableException, DisabledException,
     * KMSInvalidStateException, AccessDeniedException...); EC2's never do. */
    if (!le->code[0] || !strstr(le->code, "Exception"))
        return false;
    pthread_mutex_lock(&fs->lock);
    if (!tfind(id, &fs->key_logged, id_cmp)) {
        char *copy = strdup(id);
        if (copy && tsearch(copy, &fs->key_logged, id_cmp))
            first = true;
        else
            free(copy);
    }
    pthread_mutex_unlock(&fs->lock);
    if (first) {
        char *msg = fs_engine_message();
        fuse_log(FUSE_LOG_WARNING,
                 "blocksnap: %s: encrypted, and its key is not at hand: not shown: %s (%s)\n", id,
                 msg ? msg : le->message, le->code);
        free(msg);
    }
    return true;
}

int tree_key_check(struct fs *fs, const bsnap_snapshot_info *info)
{
    bsnap_reader *r;

    if (!info->encrypted)
        return 0;
    /* A reader's open unwraps the lineage's data key: the one check of
     * every reason a key may be out of reach.  No pin: nothing written. */
    if (bsnap_reader_open_flags(fs->store, info->id, BSNAP_READER_NOPIN, &r) == 0) {
        bsnap_reader_close(r);
        return 0;
    }
    return fs_key_unavailable(fs, info->id) ? -ENOENT : 0;
}

/* ---- nodes ---- */

static struct node *node_new(fuse_ino_t ino, fuse_ino_t parent, const char *name,
                             enum node_kind kind)
{
    struct node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->name = strdup(name);
    if (!n->name) {
        free(n);
        return NULL;
    }
    n->ino = ino;
    n->parent = parent;
    n->kind = kind;
    return n;
}

static void node_free(struct node *n)
{
    free(n->data);
    free(n->name);
    free(n);
}

/* Insert @n in both tables (fs->lock held).  Returns 0 or -ENOMEM. */
static int node_insert_locked(struct fs *fs, struct node *n)
{
    if (!tsearch(n, &fs->by_ino, node_ino_cmp))
        return -ENOMEM;
    if (!tsearch(n, &fs->by_name, node_name_cmp)) {
        tdelete(n, &fs->by_ino, node_ino_cmp);
        return -ENOMEM;
    }
    fs->nnodes++;
    return 0;
}

struct node *tree_node(struct fs *fs, fuse_ino_t ino)
{
    struct node key = {.ino = ino};
    pthread_mutex_lock(&fs->lock);
    void **found = tfind(&key, &fs->by_ino, node_ino_cmp);
    pthread_mutex_unlock(&fs->lock);
    return found ? *found : NULL;
}

/* Find the file node @name of @parent, or make it as a window of @s; raise
 * its lookup count.  Returns the node or NULL (out of memory). */
static struct node *file_node_get(struct fs *fs, fuse_ino_t parent, const char *name,
                                  struct snap *s, uint64_t offset, uint64_t length, uint64_t blocks)
{
    struct node key = {.parent = parent, .name = (char *)name};
    struct node *n;

    pthread_mutex_lock(&fs->lock);
    void **found = tfind(&key, &fs->by_name, node_name_cmp);
    if (found) {
        n = *found;
        n->nlookup++;
        pthread_mutex_unlock(&fs->lock);
        return n;
    }
    n = node_new(fs->next_ino, parent, name, NODE_FILE);
    if (!n || node_insert_locked(fs, n) < 0) {
        pthread_mutex_unlock(&fs->lock);
        if (n)
            node_free(n);
        return NULL;
    }
    fs->next_ino++;
    n->snap = s;
    s->refs++;
    n->offset = offset;
    n->length = length;
    n->blocks = blocks;
    n->nlookup = 1;
    pthread_mutex_unlock(&fs->lock);
    return n;
}

struct node *tree_dyn_node(struct fs *fs, fuse_ino_t parent, const char *name, enum node_kind kind,
                           const char *data, size_t datalen, int64_t time_ms)
{
    struct node key = {.parent = parent, .name = (char *)name};
    struct node *n;
    char *copy = NULL;

    if (data && !(copy = malloc(datalen + 1)))
        return NULL;
    if (copy) {
        memcpy(copy, data, datalen);
        copy[datalen] = '\0';
    }
    pthread_mutex_lock(&fs->lock);
    void **found = tfind(&key, &fs->by_name, node_name_cmp);
    if (found) {
        n = *found;
    } else {
        n = node_new(fs->next_ino, parent, name, kind);
        if (!n || node_insert_locked(fs, n) < 0) {
            pthread_mutex_unlock(&fs->lock);
            if (n)
                node_free(n);
            free(copy);
            return NULL;
        }
        fs->next_ino++;
    }
    if (copy) {
        free(n->data);
        n->data = copy;
        n->datalen = datalen;
    }
    n->time_ms = time_ms;
    n->nlookup++;
    pthread_mutex_unlock(&fs->lock);
    return n;
}

void tree_forget(struct fs *fs, fuse_ino_t ino, uint64_t count)
{
    struct node key = {.ino = ino};
    if (ino < INO_FIRST_DYNAMIC)
        return; /* the fixed nodes live as long as the mount */
    pthread_mutex_lock(&fs->lock);
    void **found = tfind(&key, &fs->by_ino, node_ino_cmp);
    if (found) {
        struct node *n = *found;
        n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
        if (n->nlookup == 0) {
            tdelete(n, &fs->by_ino, node_ino_cmp);
            tdelete(n, &fs->by_name, node_name_cmp);
            fs->nnodes--;
            if (n->snap)
                snap_unref_locked(n->snap);
            node_free(n);
        }
    }
    pthread_mutex_unlock(&fs->lock);
}

/* A node's time: the one it was given (an image's CreationDate), else the
 * mount's start. */
static struct timespec node_time_locked(const struct fs *fs, const struct node *n)
{
    struct timespec t = fs->started;
    if (n->time_ms > 0) {
        t.tv_sec = n->time_ms / 1000;
        t.tv_nsec = (n->time_ms % 1000) * 1000000;
    }
    return t;
}

void tree_stat(struct fs *fs, const struct node *n, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = n->ino;
    st->st_uid = fs->uid;
    st->st_gid = fs->gid;
    if (n->kind == NODE_MEMFILE || n->kind == NODE_SYMLINK) {
        st->st_mode = n->kind == NODE_MEMFILE ? S_IFREG | 0444 : S_IFLNK | 0777;
        st->st_nlink = 1;
        pthread_mutex_lock(&fs->lock);
        st->st_size = (off_t)n->datalen;
        st->st_mtim = st->st_atim = st->st_ctim = node_time_locked(fs, n);
        pthread_mutex_unlock(&fs->lock);
        st->st_blocks = DIV_UP(st->st_size, 512);
        st->st_blksize = 4096;
    } else if (n->kind == NODE_RWVOL) {
        /* Every byte counted as data: what a writable volume holds is its
         * base's and its overlay's, and lseek says all data too. */
        st->st_mode = S_IFREG | 0644;
        st->st_nlink = 1;
        pthread_mutex_lock(&fs->lock);
        st->st_size = (off_t)n->length;
        st->st_mtim = st->st_atim = st->st_ctim = node_time_locked(fs, n);
        pthread_mutex_unlock(&fs->lock);
        st->st_blocks = DIV_UP(st->st_size, 512);
        st->st_blksize = 4096;
    } else if (n->kind == NODE_FILE) {
        int64_t ms = n->snap->info.start_time_ms;
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = (off_t)n->length;
        st->st_blocks = (blkcnt_t)n->blocks;
        st->st_blksize = n->snap->info.chunk_size ? n->snap->info.chunk_size : 4096;
        st->st_mtim.tv_sec = ms / 1000;
        st->st_mtim.tv_nsec = (ms % 1000) * 1000000;
        st->st_atim = st->st_ctim = st->st_mtim;
    } else {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
        st->st_blksize = 4096;
        pthread_mutex_lock(&fs->lock);
        st->st_mtim = st->st_atim = st->st_ctim = node_time_locked(fs, n);
        pthread_mutex_unlock(&fs->lock);
    }
}

bool tree_parse_file_name(const char *name, char *id, size_t cap, unsigned *ret_part)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || (size_t)(dot - name) >= cap)
        return false;
    memcpy(id, name, (size_t)(dot - name));
    id[dot - name] = '\0';
    if (strcmp(dot, ".img") == 0) {
        *ret_part = 0;
        return true;
    }
    if (dot[1] != 'p' || dot[2] < '1' || dot[2] > '9')
        return false;
    unsigned n = 0;
    for (const char *p = dot + 2; *p; p++) {
        if (*p < '0' || *p > '9' || n > 100000)
            return false;
        n = n * 10 + (unsigned)(*p - '0');
    }
    *ret_part = n;
    return true;
}

static const bsnap_partition *find_part(const struct snap *s, unsigned number, size_t *ret_i)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].number == number) {
            *ret_i = i;
            return &s->parts[i];
        }
    return NULL;
}

static int lookup_snapshot_file(struct fs *fs, fuse_ino_t parent, const char *name,
                                struct node **ret)
{
    char id[BSNAP_ID_MAX];
    unsigned part;

    if (!tree_parse_file_name(name, id, sizeof(id), &part) || strncmp(id, "snap-", 5) != 0)
        return -ENOENT;
    if (fs->single_id && strcmp(id, fs->single_id) != 0)
        return -ENOENT;
    return tree_window_node(fs, parent, name, id, part, ret);
}

int tree_window_node(struct fs *fs, fuse_ino_t parent, const char *name, const char *id,
                     unsigned part, struct node **ret)
{
    bsnap_snapshot_info info;
    int e = bsnap_snapshot_get(fs->store, id, &info);
    if (e == -ENOENT || e == -EINVAL) {
        snap_drop(fs, id);
        return -ENOENT;
    }
    if (e < 0)
        return -EIO;
    /* Only the canonical spelling, and only completed snapshots. */
    if (strcmp(info.id, id) != 0 || info.state != BSNAP_SNAPSHOT_COMPLETED)
        return -ENOENT;
    if (tree_key_check(fs, &info) < 0) {
        snap_drop(fs, id);
        return -ENOENT;
    }
    struct snap *s = snap_get(fs, &info);
    if (!s)
        return -ENOMEM;
    uint64_t off = 0, len = info.size, blocks = s->blocks;
    if (part) {
        size_t i;
        const bsnap_partition *p;
        e = snap_partitions(fs, s);
        if (e < 0) {
            snap_unref(fs, s);
            return e == -ENOENT ? -ENOENT : -EIO;
        }
        if (!(p = find_part(s, part, &i))) {
            snap_unref(fs, s);
            return -ENOENT;
        }
        off = p->offset;
        len = p->size;
        blocks = s->part_blocks[i];
    }
    struct node *n = file_node_get(fs, parent, name, s, off, len, blocks);
    snap_unref(fs, s);
    if (!n)
        return -ENOMEM;
    *ret = n;
    return 0;
}

int tree_lookup(struct fs *fs, fuse_ino_t parent, const char *name, struct fuse_entry_param *ret)
{
    struct node *dir = tree_node(fs, parent), *n = NULL;
    int e = 0;

    if (!dir)
        return -ENOENT;
    switch (dir->kind) {
    case NODE_ROOT:
        if (strcmp(name, "snapshots") == 0)
            n = tree_node(fs, INO_SNAPSHOTS);
        else if (strcmp(name, "images") == 0)
            n = tree_node(fs, INO_IMAGES);
        else if (strcmp(name, "volumes") == 0)
            n = tree_node(fs, INO_VOLUMES);
        else if (strcmp(name, "tags") == 0)
            n = tree_node(fs, INO_TAGS);
        else
            e = -ENOENT;
        break;
    case NODE_SNAPSHOTS:
        e = lookup_snapshot_file(fs, parent, name, &n);
        break;
    case NODE_IMAGES:
    case NODE_IMAGE:
    case NODE_BYNAME:
        e = images_lookup(fs, dir, name, &n);
        break;
    case NODE_VOLUMES:
    case NODE_VOLUME:
    case NODE_TAGS:
    case NODE_TAGKEY:
    case NODE_TAGVALUE:
        e = browse_lookup(fs, dir, name, &n);
        break;
    case NODE_FILE:
    case NODE_MEMFILE:
    case NODE_SYMLINK:
    case NODE_RWVOL:
        e = -ENOTDIR;
        break;
    }
    if (e < 0)
        return e;
    memset(ret, 0, sizeof(*ret));
    ret->ino = n->ino;
    ret->entry_timeout = ENTRY_TIMEOUT;
    ret->attr_timeout = n->kind == NODE_FILE ? FILE_ATTR_TIMEOUT : DIR_ATTR_TIMEOUT;
    tree_stat(fs, n, &ret->attr);
    return 0;
}

/* ---- listings ---- */

int listing_add(struct listing *l, size_t *cap, const char *name, mode_t type, fuse_ino_t ino)
{
    if (l->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct dirent_l *ne = realloc(l->ents, ncap * sizeof(*ne));
        if (!ne)
            return -ENOMEM;
        l->ents = ne;
        *cap = ncap;
    }
    if (!(l->ents[l->n].name = strdup(name)))
        return -ENOMEM;
    l->ents[l->n].type = type;
    l->ents[l->n].ino = ino;
    l->n++;
    return 0;
}

void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->ents[i].name);
    free(l->ents);
    l->ents = NULL;
    l->n = 0;
}

/* Snapshots of the table that the last listing did not find. */
struct gone {
    char (*ids)[BSNAP_ID_MAX];
    size_t n, cap;
    uint64_t gen;
};

static void collect_gone(const void *nodep, VISIT which, void *ud)
{
    const struct snap *s = *(struct snap *const *)nodep;
    struct gone *g = ud;
    if (which != postorder && which != leaf)
        return;
    if (s->seen < g->gen && g->n < g->cap)
        memcpy(g->ids[g->n++], s->id, BSNAP_ID_MAX);
}

int tree_list_parts(struct fs *fs, struct listing *l, size_t *cap, const char *id,
                    const char *prefix)
{
    bsnap_snapshot_info info;
    char name[BSNAP_DEVICE_NAME_MAX + 16];
    int e = bsnap_snapshot_get(fs->store, id, &info);

    if (e < 0 || info.state != BSNAP_SNAPSHOT_COMPLETED || tree_key_check(fs, &info) < 0)
        return 0; /* gone meanwhile, or its key is not at hand: nothing to list */
    struct snap *s = snap_get(fs, &info);
    if (!s)
        return -ENOMEM;
    e = 0;
    if (snap_partitions(fs, s) == 0)
        for (size_t k = 0; k < s->nparts && e == 0; k++) {
            snprintf(name, sizeof(name), "%s.p%u", prefix, s->parts[k].number);
            e = listing_add(l, cap, name, S_IFREG, 0);
        }
    snap_unref(fs, s);
    return e;
}

struct list_walk {
    struct fs *fs;
    struct listing *l;
    size_t *cap;
    uint64_t gen;
};

/* One snapshot of snapshots/: SNAP.img and its SNAP.pN files, named from
 * its record's partition table (a record without one: read from the
 * snapshot, as snap_partitions() does for a lookup). */
static int list_one(const bsnap_snapshot_entry *ent, void *ud)
{
    struct list_walk *w = ud;
    struct fs *fs = w->fs;
    char name[BSNAP_ID_MAX + 16];
    struct snap key;
    int e;

    if (ent->info.state != BSNAP_SNAPSHOT_COMPLETED)
        return 0;
    if (fs->single_id && strcmp(ent->info.id, fs->single_id) != 0)
        return 0;
    if (tree_key_check(fs, &ent->info) < 0)
        return 0; /* not seen: its snap object, if any, leaves the table */
    snprintf(name, sizeof(name), "%s.img", ent->info.id);
    e = listing_add(w->l, w->cap, name, S_IFREG, 0);
    if (e == 0 && ent->parts_known)
        for (size_t k = 0; k < ent->nparts && e == 0; k++) {
            snprintf(name, sizeof(name), "%s.p%u", ent->info.id, ent->parts[k].number);
            e = listing_add(w->l, w->cap, name, S_IFREG, 0);
        }
    else if (e == 0) {
        struct snap *s = snap_get(fs, &ent->info);
        if (!s)
            return -ENOMEM;
        /* A snapshot whose first chunks are damaged still lists its .img;
         * snap_partitions() has logged why it has no partition files. */
        if (snap_partitions(fs, s) == 0)
            for (size_t k = 0; k < s->nparts && e == 0; k++) {
                snprintf(name, sizeof(name), "%s.p%u", s->id, s->parts[k].number);
                e = listing_add(w->l, w->cap, name, S_IFREG, 0);
            }
        snap_unref(fs, s);
    }
    /* Still in the store: keep its entry of the table, if it has one. */
    snprintf(key.id, sizeof(key.id), "%s", ent->info.id);
    pthread_mutex_lock(&fs->lock);
    void **found = tfind(&key, &fs->snaps, snap_cmp);
    if (found)
        (*(struct snap **)found)->seen = w->gen;
    pthread_mutex_unlock(&fs->lock);
    return e;
}

/* snapshots/ from one walk of the snapshot records: no reader per
 * snapshot for the ones whose record holds their partition table, and no
 * array of every record. */
static int list_snapshots(struct fs *fs, struct listing *l, size_t *cap)
{
    struct list_walk w = {.fs = fs, .l = l, .cap = cap};

    pthread_mutex_lock(&fs->lock);
    w.gen = ++fs->list_gen;
    pthread_mutex_unlock(&fs->lock);
    int e;
    if (fs->single_id) {
        /* --snapshot-id: that record only, not a walk of all of them */
        bsnap_snapshot_entry ent = {0};
        bsnap_part_extent *parts = NULL;
        e = bsnap_snapshot_get(fs->store, fs->single_id, &ent.info);
        if (e == 0 && bsnap_snapshot_partitions(fs->store, fs->single_id, &parts, &ent.nparts) == 0)
            ent.parts_known = true, ent.parts = parts;
        if (e == 0)
            e = list_one(&ent, &w);
        else if (e == -ENOENT || e == -EINVAL)
            e = 0; /* gone: an empty listing */
        free(parts);
    } else {
        e = bsnap_snapshot_walk(fs->store, list_one, &w);
    }
    if (e == -ENOMEM)
        return e;
    if (e < 0)
        return -EIO;

    /* Drop the snapshots that are gone from the table. */
    struct gone g = {.gen = w.gen, .cap = 1024};
    g.ids = calloc(g.cap, sizeof(*g.ids));
    pthread_mutex_lock(&fs->lock);
    if (g.ids)
        twalk_r(fs->snaps, collect_gone, &g);
    pthread_mutex_unlock(&fs->lock);
    for (size_t i = 0; i < g.n; i++)
        snap_drop(fs, g.ids[i]);
    free(g.ids);
    return 0;
}

int tree_list(struct fs *fs, const struct node *dir, struct listing *ret)
{
    struct listing l = {0};
    size_t cap = 0;
    int e;

    e = listing_add(&l, &cap, ".", S_IFDIR, dir->ino);
    if (e == 0)
        e = listing_add(&l, &cap, "..", S_IFDIR, dir->parent);
    if (e == 0) {
        switch (dir->kind) {
        case NODE_ROOT:
            e = listing_add(&l, &cap, "snapshots", S_IFDIR, INO_SNAPSHOTS);
            if (e == 0)
                e = listing_add(&l, &cap, "images", S_IFDIR, INO_IMAGES);
            if (e == 0)
                e = listing_add(&l, &cap, "volumes", S_IFDIR, INO_VOLUMES);
            if (e == 0)
                e = listing_add(&l, &cap, "tags", S_IFDIR, INO_TAGS);
            break;
        case NODE_SNAPSHOTS:
            e = list_snapshots(fs, &l, &cap);
            break;
        case NODE_IMAGES:
        case NODE_IMAGE:
        case NODE_BYNAME:
            e = images_list(fs, dir, &l, &cap);
            break;
        case NODE_VOLUMES:
        case NODE_VOLUME:
        case NODE_TAGS:
        case NODE_TAGKEY:
        case NODE_TAGVALUE:
            e = browse_list(fs, dir, &l, &cap);
            break;
        case NODE_FILE:
        case NODE_MEMFILE:
        case NODE_SYMLINK:
        case NODE_RWVOL:
            e = -ENOTDIR;
            break;
        }
    }
    if (e < 0) {
        listing_free(&l);
        return e;
    }
    *ret = l;
    return 0;
}

/* ---- setup ---- */

int tree_init(struct fs *fs)
{
    struct node *root;
    int e;

    fs->next_ino = INO_FIRST_DYNAMIC;
    if (fs->root_is_file) {
        struct snap *s;
        e = tree_snap_get(fs, fs->single_id, &s);
        if (e < 0)
            return e;
        root = node_new(INO_ROOT, INO_ROOT, "", NODE_FILE);
        if (!root) {
            snap_unref(fs, s);
            return -ENOMEM;
        }
        root->snap = s; /* the reference tree_snap_get gave */
        root->length = s->info.size;
        root->blocks = s->blocks;
    } else {
        root = node_new(INO_ROOT, INO_ROOT, "", fs->single_id ? NODE_SNAPSHOTS : NODE_ROOT);
        if (!root)
            return -ENOMEM;
    }
    pthread_mutex_lock(&fs->lock);
    e = node_insert_locked(fs, root);
    if (e < 0) {
        if (root->snap)
            snap_unref_locked(root->snap);
        node_free(root);
    }
    /* The fixed directories of a whole-store mount. */
    static const struct {
        fuse_ino_t ino, parent;
        const char *name;
        enum node_kind kind;
    } dirs[] = {
        {INO_SNAPSHOTS, INO_ROOT, "snapshots", NODE_SNAPSHOTS},
        {INO_IMAGES, INO_ROOT, "images", NODE_IMAGES},
        {INO_BYNAME, INO_IMAGES, "by-name", NODE_BYNAME},
        {INO_VOLUMES, INO_ROOT, "volumes", NODE_VOLUMES},
        {INO_TAGS, INO_ROOT, "tags", NODE_TAGS},
    };
    for (size_t i = 0; e == 0 && !fs->single_id && i < sizeof dirs / sizeof dirs[0]; i++) {
        struct node *d = node_new(dirs[i].ino, dirs[i].parent, dirs[i].name, dirs[i].kind);
        if (!d || (e = node_insert_locked(fs, d)) < 0) {
            e = -ENOMEM;
            if (d)
                node_free(d);
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return e;
}

static void free_node_action(void *p)
{
    (void)p; /* nodes are freed from the by-ino table */
}

static void free_node(void *p)
{
    struct node *n = p;
    if (n->snap)
        snap_unref_locked(n->snap);
    node_free(n);
}

static void free_snap_ref(void *p)
{
    snap_unref_locked(p);
}

void tree_free(struct fs *fs)
{
    browse_free(fs);
    pthread_mutex_lock(&fs->lock);
    tdestroy(fs->by_name, free_node_action);
    tdestroy(fs->by_ino, free_node);
    tdestroy(fs->snaps, free_snap_ref);
    tdestroy(fs->key_logged, free);
    fs->by_name = fs->by_ino = fs->snaps = fs->key_logged = NULL;
    pthread_mutex_unlock(&fs->lock);
}
