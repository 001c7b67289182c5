/* plugin.c - nbdkit-blocksnap-plugin: a snapshot, or an image's device, as a
 * read-only network block device.
 *
 *   nbdkit blocksnap store=DIR snapshot=snap-…
 *   nbdkit blocksnap store=DIR image=ami-… [device=/dev/xvda]
 *   nbdkit blocksnap store=DIR volume=vol-…      (a writable volume, read-write)
 *   nbdkit blocksnap store=DIR volume=vol-… control=SOCKET
 *                                (and its control channel: flush, snapshot)
 *
 * A front end like the CLI and the FUSE view: it sees the engine only
 * through blocksnap.h and reads through the same verified chunk path and
 * chunk cache as the FUSE view (front/cache.c over bsnap_reader_read_chunk):
 * every byte served was checked, and a damaged chunk fails the request that
 * reads it with EIO, naming the chunk and pack, while the rest of the volume
 * still reads.  Holes (zero chunks) are reported through block status as
 * hole+zero, from the block map (bsnap_reader_seek), never by reading.
 *
 * One reader serves every connection: a reader is thread-safe, and a
 * snapshot never changes, so the export may be served over many
 * connections at once (multi-conn) by nbdkit's parallel thread model.
 *
 * A writable copy-on-write volume (create-volume without a path) is served
 * read-write through one engine handle (bsnap_volume_*), which takes the
 * volume's lock, so that no other process writes it meanwhile: reads of
 * chunks never written are verified reads of its base snapshot, a flush
 * makes every write before it durable (on any connection: one handle
 * serves them all, so multi-conn holds), FUA is a flush, and zeroing is
 * nbdkit's writes of zeros.  Its block status is the volume's: a chunk
 * written is data, one never written is its base's (bsnap_volume_seek()).
 * Since this process holds the volume's one writer handle, a snapshot of a
 * served volume can only be taken here: control=SOCKET opens a control
 * channel (control.c) through which create-image of a running instance
 * asks for a flush and a snapshot of the open handle.
 *
 * The store is opened and the export checked in .get_ready, so that a bad
 * configuration stops nbdkit before it serves, with a message; it is closed
 * again and reopened in .after_fork, since an LMDB environment must not be
 * carried across nbdkit's fork into the background. */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocksnap.h"
#include "bsfront-cache.h"
#include "bsfront.h"
#include "control.h"
#include "settings.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define DEFAULT_CACHE_SIZE (256ull << 20)
#define READAHEAD_WORKERS 2
#define READAHEAD_BYTES (4ull << 20)

/* Keys given on the command line (borrowed: nbdkit keeps them). */
static struct {
    const char *store, *region, *account, *profile;
    const char *snapshot, *image, *device, *volume, *control;
    uint64_t cache_size;
} cfg;

/* What is served, from .after_fork to .unload. */
static struct {
    char name[BSNAP_ID_MAX]; /* the snapshot (or volume) served */
    char *store_path;
    char *account; /* the calling account, or NULL: the store's */
    bsnap_store *store;
    struct cache *cache;
    struct source *src;   /* holds the reader (a snapshot) */
    bsnap_volume *volume; /* or a writable volume */
    uint32_t chunk_size;  /* the store's */
} srv;

/* A connection: only its sequential-read state. */
struct handle {
    pthread_mutex_t lock;
    uint64_t next_off; /* where the last read ended */
    uint64_t ra_next;  /* first chunk not yet queued for readahead */
    unsigned streak;   /* sequential reads in a row */
};

/* ---- messages ---- */

/* The engine names parameters as EC2 does (SnapshotId); here they are the
 * plugin's keys. */
static const char *plugin_word(void *ud, const char *name, char buf[BSF_WORD_MAX])
{
    (void)ud;
    (void)buf;
    if (strcmp(name, "SnapshotId") == 0)
        return "snapshot=";
    if (strcmp(name, "ImageId") == 0)
        return "image=";
    if (strcmp(name, "VolumeId") == 0)
        return "volume=";
    if (strcmp(name, "OwnerId") == 0)
        return "account=";
    if (strcmp(name, "Region") == 0)
        return "region=";
    return NULL;
}

/* Report the calling thread's last engine error, after @what (NULL: the
 * message alone). */
static void engine_error(const char *what)
{
    const bsnap_error *e = bsnap_last_error();
    char *msg = NULL;

    if (bsf_error_message(e, plugin_word, NULL, &msg) < 0)
        msg = NULL;
    nbdkit_error("%s%s%s (%s)", what ? what : "", what ? ": " : "",
                 msg             ? msg
                 : e->message[0] ? e->message
                                 : strerror(-e->err),
                 e->code[0] ? e->code : "InternalError");
    free(msg);
}

static void log_engine(void *ud, int level, const char *category, const char *msg)
{
    (void)ud;
    if (level <= BSNAP_LOG_WARNING)
        nbdkit_error("%s%s: %s", level == BSNAP_LOG_WARNING ? "warning: " : "", category, msg);
    else
        nbdkit_debug("%s: %s", category, msg);
}

/* ---- configuration ---- */

static void blocksnap_unload(void)
{
    control_stop();        /* before the volume it serves goes */
    cache_free(srv.cache); /* drops queued readahead: its references */
    source_unref(srv.src); /* closes the reader */
    if (srv.volume && bsnap_volume_close(srv.volume) < 0)
        engine_error(srv.name); /* writes since the last flush may be lost */
    bsnap_store_close(srv.store);
    free(srv.store_path);
    free(srv.account);
    memset(&srv, 0, sizeof(srv));
}

static int blocksnap_config(const char *key, const char *value)
{
    const char **slot = NULL;

    if (strcmp(key, "store") == 0)
        slot = &cfg.store;
    else if (strcmp(key, "region") == 0)
        slot = &cfg.region;
    else if (strcmp(key, "account") == 0)
        slot = &cfg.account;
    else if (strcmp(key, "profile") == 0)
        slot = &cfg.profile;
    else if (strcmp(key, "snapshot") == 0)
        slot = &cfg.snapshot;
    else if (strcmp(key, "image") == 0)
        slot = &cfg.image;
    else if (strcmp(key, "device") == 0)
        slot = &cfg.device;
    else if (strcmp(key, "volume") == 0)
        slot = &cfg.volume;
    else if (strcmp(key, "control") == 0)
        slot = &cfg.control;
    else if (strcmp(key, "cache") == 0) {
        int64_t n = nbdkit_parse_size(value);
        if (n < 0)
            return -1; /* nbdkit said why */
        if (n < (int64_t)BSNAP_CHUNK_SIZE_MAX) {
            nbdkit_error("cache=%s: the cache must hold at least 4M (one chunk of the largest "
                         "size)",
                         value);
            return -1;
        }
        cfg.cache_size = (uint64_t)n;
        return 0;
    }
    if (!slot) {
        nbdkit_error("unknown parameter '%s' (the blocksnap plugin takes store, region, profile, "
                     "account, snapshot, image, device, volume, control and cache: see nbdkit "
                     "blocksnap --help)",
                     key);
        return -1;
    }
    if (*slot) {
        nbdkit_error("%s= given twice", key);
        return -1;
    }
    if (!*value) {
        nbdkit_error("%s= is empty", key);
        return -1;
    }
    *slot = value;
    return 0;
}

static int blocksnap_config_complete(void)
{
    int what = !!cfg.snapshot + !!cfg.image + !!cfg.volume;

    if (what == 0) {
        nbdkit_error("nothing to serve: give snapshot=snap-…, image=ami-… or volume=vol-… (see "
                     "nbdkit blocksnap --help)");
        return -1;
    }
    if (what > 1) {
        nbdkit_error("give one of snapshot=, image= and volume=, not two");
        return -1;
    }
    if (cfg.device && !cfg.image) {
        nbdkit_error("device=%s names a device of an image: it goes with image=", cfg.device);
        return -1;
    }
    if (cfg.control && !cfg.volume) {
        nbdkit_error("control=%s is the control channel of a writable volume: it goes with "
                     "volume=",
                     cfg.control);
        return -1;
    }
    return 0;
}

/* "/dev/xvda" -> "xvda". */
static const char *device_base(const char *dev)
{
    const char *slash = strrchr(dev, '/');
    return slash ? slash + 1 : dev;
}

/* The snapshot of image @cfg.image's device (@cfg.device, else its root
 * device) into @ret_id. */
static int image_snapshot(bsnap_store *store, char ret_id[BSNAP_ID_MAX])
{
    bsnap_image_info *info = malloc(sizeof(*info));
    char what[300];
    int e;

    if (!info) {
        nbdkit_error("out of memory");
        return -1;
    }
    snprintf(what, sizeof(what), "image=%s", cfg.image);
    e = bsnap_image_get(store, cfg.image, info);
    if (e == 0 && info->state == BSNAP_IMAGE_DEREGISTERED) {
        nbdkit_error("image=%s: the image is deregistered (InvalidAMIID.Unavailable)", cfg.image);
        goto fail;
    }
    if (e < 0) {
        engine_error(what);
        goto fail;
    }
    const char *dev = cfg.device ? cfg.device : info->root_device;
    for (size_t i = 0; i < info->nmappings; i++) {
        const bsnap_image_mapping *m = &info->mappings[i];
        if (strcmp(device_base(m->device), device_base(dev)) != 0)
            continue;
        if (!m->snapshot_id[0]) {
            nbdkit_error("image=%s device=%s: the device has no snapshot (an ephemeral, empty or "
                         "NoDevice mapping)",
                         cfg.image, dev);
            goto fail;
        }
        snprintf(ret_id, BSNAP_ID_MAX, "%s", m->snapshot_id);
        free(info);
        return 0;
    }
    nbdkit_error("image=%s has no device %s; its devices:", cfg.image, dev);
    for (size_t i = 0; i < info->nmappings; i++)
        nbdkit_error("  %s%s", info->mappings[i].device,
                     strcmp(info->mappings[i].device, info->root_device) == 0 ? " (root)" : "");
fail:
    free(info);
    return -1;
}

/* Open writable volume cfg.volume of @store: into srv when @serve, else
 * open and close it again (it is not in use elsewhere, nor damaged). */
static int open_volume(bsnap_store *store, bool serve)
{
    bsnap_volume *vol;
    bsnap_store_info info;
    char what[BSNAP_ID_MAX + 16];

    snprintf(what, sizeof(what), "volume=%s", cfg.volume);
    if (bsnap_volume_open(store, cfg.volume, &vol) < 0) {
        engine_error(what);
        return -1;
    }
    if (!serve) {
        if (bsnap_volume_close(vol) < 0) {
            engine_error(what);
            return -1;
        }
        return 0;
    }
    if (bsnap_store_get_info(store, &info) < 0) {
        engine_error(what);
        (void)bsnap_volume_close(vol);
        return -1;
    }
    srv.volume = vol;
    srv.chunk_size = info.chunk_size;
    snprintf(srv.name, sizeof(srv.name), "%s", cfg.volume);
    return 0;
}

/* Open the store, act as the account and open a reader of the snapshot
 * served (or the writable volume).  @serve false: check that all of it can
 * be done, writing nothing for a snapshot (no pin), and close it all again;
 * true: keep the store and a pinned reader in srv. */
static int open_export(bool serve)
{
    bsnap_store *store = NULL;
    char id[BSNAP_ID_MAX];
    int e;

    if (!srv.store_path && settings_resolve(cfg.store, cfg.region, cfg.profile, cfg.account,
                                            &srv.store_path, &srv.account) < 0)
        return -1;
    /* Served read-write when we may: a reader records a pin, which keeps
     * its snapshot's chunks from delete and gc while it is served.  A store
     * we may not write is served without one. */
    struct stat st;
    if (stat(srv.store_path, &st) < 0 && errno == ENOENT) {
        /* Said here rather than by the engine: its message comes with a
         * strerror() that, in an ASan build loaded into nbdkit, leaves
         * nbdkit's exit hanging in another library's locale clean-up. */
        nbdkit_error("store %s: no such directory (Store.NotFound)", srv.store_path);
        return -1;
    }
    e = bsnap_store_open(srv.store_path, serve || cfg.volume ? 0 : BSNAP_STORE_RDONLY, NULL,
                         &store);
    if (serve && !cfg.volume && (e == -EACCES || e == -EROFS || e == -EPERM)) {
        nbdkit_debug("store %s is read-only to us: the snapshot served is not pinned",
                     srv.store_path);
        e = bsnap_store_open(srv.store_path, BSNAP_STORE_RDONLY, NULL, &store);
    }
    if (e < 0) {
        engine_error(NULL); /* it names the store */
        return -1;
    }
    if (srv.account && bsnap_store_set_account(store, srv.account) < 0) {
        char what[64];
        snprintf(what, sizeof(what), "account=%.40s", srv.account);
        engine_error(what);
        goto fail;
    }
    if (cfg.volume) {
        if (open_volume(store, serve) < 0)
            goto fail;
        if (serve)
            srv.store = store;
        else
            bsnap_store_close(store);
        return 0;
    }
    if (cfg.image && image_snapshot(store, id) < 0)
        goto fail;
    if (cfg.snapshot)
        snprintf(id, sizeof(id), "%s", cfg.snapshot);

    bsnap_reader *reader;
    e = bsnap_reader_open_flags(store, id, serve ? 0 : BSNAP_READER_NOPIN, &reader);
    if (e < 0) {
        char what[BSNAP_ID_MAX + 64];
        snprintf(what, sizeof(what), "%s%s", cfg.image ? "the image's snapshot " : "snapshot=", id);
        engine_error(what);
        goto fail;
    }
    if (!serve) {
        bsnap_reader_close(reader);
        bsnap_store_close(store);
        return 0;
    }
    bsnap_snapshot_info si;
    if (bsnap_snapshot_get(store, id, &si) < 0 || si.chunk_size == 0) {
        engine_error(id);
        bsnap_reader_close(reader);
        goto fail;
    }
    srv.src = source_new(reader, 1, si.chunk_size);
    if (!srv.src) {
        bsnap_reader_close(reader);
        nbdkit_error("out of memory");
        goto fail;
    }
    snprintf(srv.name, sizeof(srv.name), "%s", id);
    srv.chunk_size = si.chunk_size;
    srv.store = store;
    return 0;

fail:
    bsnap_store_close(store);
    return -1;
}

static int blocksnap_get_ready(void)
{
    bsnap_set_log_func(log_engine, NULL);
    /* A damaged metadata file fails the request with EIO instead of
     * killing the server (blocksnap.h). */
    if (bsnap_set_fault_guard(true) < 0) {
        engine_error("fault guard");
        return -1;
    }
    if (cfg.control && control_check(cfg.control) < 0)
        return -1;
    return open_export(false);
}

static int blocksnap_after_fork(void)
{
    uint64_t size = cfg.cache_size ? cfg.cache_size : DEFAULT_CACHE_SIZE;

    if (open_export(true) < 0)
        return -1;
    if (srv.volume) {
        nbdkit_debug("serving writable volume %s of store %s (%llu bytes)", srv.name,
                     srv.store_path, (unsigned long long)bsnap_volume_size(srv.volume));
        return cfg.control ? control_start(cfg.control, srv.volume, srv.name) : 0;
    }
    srv.cache = cache_new(size, READAHEAD_WORKERS);
    if (!srv.cache) {
        nbdkit_error("out of memory");
        return -1;
    }
    nbdkit_debug("serving %s of store %s (%llu bytes, chunks of %u bytes)", srv.name,
                 srv.store_path, (unsigned long long)srv.src->size, srv.src->chunk_size);
    return 0;
}

/* ---- connections ---- */

static void *blocksnap_open(int readonly)
{
    struct handle *h = calloc(1, sizeof(*h));

    (void)readonly; /* writes are refused by nbdkit: there is no pwrite */
    if (!h) {
        nbdkit_error("out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

static void blocksnap_close(void *handle)
{
    struct handle *h = handle;

    pthread_mutex_destroy(&h->lock);
    free(h);
}

static int64_t blocksnap_get_size(void *handle)
{
    (void)handle;
    return (int64_t)(srv.volume ? bsnap_volume_size(srv.volume) : srv.src->size);
}

static int blocksnap_can_write(void *handle)
{
    (void)handle;
    return srv.volume != NULL;
}

static int blocksnap_can_flush(void *handle)
{
    (void)handle;
    return srv.volume != NULL;
}

/* A write with FUA is a write and a flush (nbdkit calls .flush after it). */
static int blocksnap_can_fua(void *handle)
{
    (void)handle;
    return srv.volume ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NONE;
}

/* No native zeroing: a snapshot is read-only (nbdkit does not ask then),
 * and for a volume false makes nbdkit zero with .pwrite of zeros, which
 * the engine stores as any write; write-zeroes is still offered. */
static int blocksnap_can_zero(void *handle)
{
    (void)handle;
    return 0;
}

/* A snapshot never changes: every connection sees the same bytes.  A
 * volume is one engine handle for every connection: a read sees every
 * write that returned, and a flush on one connection flushes them all. */
static int blocksnap_can_multi_conn(void *handle)
{
    (void)handle;
    return 1;
}

static int blocksnap_can_extents(void *handle)
{
    (void)handle;
    return 1;
}

static int blocksnap_can_cache(void *handle)
{
    (void)handle;
    return srv.volume ? NBDKIT_CACHE_NONE : NBDKIT_CACHE_NATIVE;
}

static int blocksnap_block_size(void *handle, uint32_t *minimum, uint32_t *preferred,
                                uint32_t *maximum)
{
    (void)handle;
    *minimum = 1;
    *preferred = srv.chunk_size; /* a power of two, 4 KiB..4 MiB */
    *maximum = 0xffffffff;
    return 0;
}

/* Sequential-read detection: a read that starts near where the last one of
 * this connection ended queues the next READAHEAD_BYTES for the cache's
 * workers (as the FUSE view's readahead does). */
static void readahead(struct handle *h, uint64_t off, uint32_t count, uint64_t last_chunk)
{
    uint32_t cs = srv.src->chunk_size;
    uint64_t nchunks = (srv.src->size + cs - 1) / cs;
    uint64_t from = 0, to = 0;

    pthread_mutex_lock(&h->lock);
    uint64_t dist = off > h->next_off ? off - h->next_off : h->next_off - off;
    bool seq = dist <= 2 * READAHEAD_BYTES;
    h->streak = seq ? h->streak + 1 : 0;
    if (!seq || off + count > h->next_off)
        h->next_off = off + count;
    if (!seq) {
        h->ra_next = 0;
    } else if (h->streak >= 2) {
        from = h->ra_next > last_chunk + 1 ? h->ra_next : last_chunk + 1;
        to = last_chunk + READAHEAD_BYTES / cs;
        if (to >= nchunks)
            to = nchunks - 1;
        if (from <= to)
            h->ra_next = to + 1;
    }
    pthread_mutex_unlock(&h->lock);
    if (from && from <= to)
        cache_prefetch(srv.cache, srv.src, from, to);
}

/* The failed read of @count bytes at @offset: the engine's record names the
 * damaged chunk, its pack and offset. */
static int read_failed(int r, uint32_t count, uint64_t offset)
{
    char what[BSNAP_ID_MAX + 96];

    snprintf(what, sizeof(what), "%s: read of %u bytes at offset %llu", srv.name, count,
             (unsigned long long)offset);
    if (bsnap_last_error()->err)
        engine_error(what);
    else
        nbdkit_error("%s: %s", what, strerror(-r));
    nbdkit_set_error(r == -ENOMEM ? ENOMEM : EIO);
    return -1;
}

/* A writable volume's read: nbdkit keeps it inside the volume. */
static int volume_pread(void *buf, uint32_t count, uint64_t offset)
{
    for (uint32_t done = 0; done < count;) {
        long n = bsnap_volume_pread(srv.volume, (uint8_t *)buf + done, count - done, offset + done);
        if (n <= 0)
            return read_failed(n < 0 ? (int)n : -EIO, count, offset);
        done += (uint32_t)n;
    }
    return 0;
}

static int blocksnap_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset,
                            uint32_t flags)
{
    (void)handle;
    (void)flags; /* FUA: nbdkit flushes after (NBDKIT_FUA_EMULATE) */
    long n = bsnap_volume_pwrite(srv.volume, buf, count, offset);
    if (n < 0) {
        char what[BSNAP_ID_MAX + 96];
        snprintf(what, sizeof(what), "%s: write of %u bytes at offset %llu", srv.name, count,
                 (unsigned long long)offset);
        engine_error(what);
        nbdkit_set_error(n == -ENOSPC ? ENOSPC : n == -ENOMEM ? ENOMEM : EIO);
        return -1;
    }
    return 0;
}

static int blocksnap_flush(void *handle, uint32_t flags)
{
    (void)handle;
    (void)flags;
    int e = bsnap_volume_flush(srv.volume);
    if (e < 0) {
        char what[BSNAP_ID_MAX + 16];
        snprintf(what, sizeof(what), "%s: flush", srv.name);
        engine_error(what);
        nbdkit_set_error(e == -ENOSPC ? ENOSPC : EIO);
        return -1;
    }
    return 0;
}

static int blocksnap_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
    (void)flags;
    if (count == 0)
        return 0;
    if (srv.volume)
        return volume_pread(buf, count, offset);

    struct source *src = srv.src;
    uint32_t cs = src->chunk_size;
    uint64_t end = offset + count;
    uint64_t first = offset / cs, last = (end - 1) / cs;
    uint8_t *out = buf;

    /* A read of whole chunks (nbdcopy, qemu-img convert, a guest's large
     * reads) is served straight into nbdkit's buffer, chunk by chunk,
     * without entering the cache: the client keeps many such requests in
     * flight, on nbdkit's threads, so they need no readahead, and caching
     * them cost a fresh buffer (page faults) and a copy per chunk.  Smaller
     * reads go through the cache, with readahead when sequential. */
    if (offset % cs == 0 && (end % cs == 0 || end == src->size) && count >= cs) {
        for (uint64_t i = first; i <= last; i++) {
            uint64_t cstart = i * cs;
            int r;
            if (cstart + cs <= src->size) {
                r = cache_read_into(srv.cache, src, i, out + (cstart - offset));
            } else { /* the short last chunk */
                struct centry *e;
                r = cache_get(srv.cache, src, i, &e);
                if (r == 0) {
                    memcpy(out + (cstart - offset), centry_data(e), centry_len(e));
                    cache_put(srv.cache, e);
                }
            }
            if (r < 0)
                return read_failed(r, count, offset);
        }
        return 0;
    }

    /* The request's other chunks load in the background while this thread
     * loads the first: a large cold read uses both cores. */
    if (last > first)
        cache_prefetch(srv.cache, src, first + 1, last);
    readahead(handle, offset, count, last);

    for (uint64_t i = first; i <= last; i++) {
        struct centry *e;
        int r = cache_get(srv.cache, src, i, &e);
        if (r < 0)
            return read_failed(r, count, offset);
        /* nbdkit keeps requests inside the volume: [a, b) is within the
         * chunk's centry_len() bytes, also for a last short chunk. */
        uint64_t cstart = i * cs;
        uint64_t a = offset > cstart ? offset : cstart;
        uint64_t b = cstart + cs < end ? cstart + cs : end;
        memcpy(out + (a - offset), centry_data(e) + (a - cstart), b - a);
        cache_put(srv.cache, e);
    }
    return 0;
}

/* NBD_CMD_CACHE: load the range into the chunk cache now (as far as the
 * cache holds it). */
static int blocksnap_cache(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
    struct source *src = srv.src;
    uint32_t cs = src->chunk_size;
    (void)handle;
    (void)flags;

    if (count == 0)
        return 0;
    for (uint64_t i = offset / cs; i <= (offset + count - 1) / cs; i++) {
        struct centry *e;
        int r = cache_get(srv.cache, src, i, &e);
        if (r < 0)
            return read_failed(r, count, offset);
        cache_put(srv.cache, e);
    }
    return 0;
}

/* SEEK_DATA or SEEK_HOLE over what is served. */
static int serve_seek(uint64_t off, int whence, uint64_t *ret)
{
    if (srv.volume)
        return bsnap_volume_seek(srv.volume, off, whence, ret);
    return bsnap_reader_seek(srv.src->reader, off, whence, ret);
}

/* Block status from the block map (and a volume's map of written chunks):
 * a hole (a zero chunk, never stored; a volume's chunk never written over
 * one) is hole+zero, the rest data.  Nothing is read. */
static int blocksnap_extents(void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                             struct nbdkit_extents *extents)
{
    uint64_t size = srv.volume ? bsnap_volume_size(srv.volume) : srv.src->size;
    uint64_t end = offset + count, pos = offset;
    (void)handle;

    if (end > size)
        end = size;
    while (pos < end) {
        uint64_t data, hole;
        int r = serve_seek(pos, SEEK_DATA, &data);
        if (r == -ENXIO)
            data = size;
        else if (r < 0)
            return read_failed(r, count, offset);
        if (data > pos) {
            uint64_t n = (data < end ? data : end) - pos;
            if (nbdkit_add_extent(extents, pos, n, NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) < 0)
                return -1;
            pos += n;
        } else {
            r = serve_seek(pos, SEEK_HOLE, &hole);
            if (r == -ENXIO)
                hole = size;
            else if (r < 0)
                return read_failed(r, count, offset);
            uint64_t n = (hole < end ? hole : end) - pos;
            if (n == 0) /* never: a data offset is not a hole */
                n = end - pos;
            if (nbdkit_add_extent(extents, pos, n, 0) < 0)
                return -1;
            pos += n;
        }
        if (flags & NBDKIT_FLAG_REQ_ONE)
            break;
    }
    return 0;
}

static void blocksnap_dump_plugin(void)
{
    printf("blocksnap_version=%s\n", bsnap_version());
}

#define blocksnap_config_help                                                         \
    "store=DIR            the store (default: region=, $BLOCKSNAP_STORE,\n"           \
    "                     $BLOCKSNAP_REGION, the profile's region; else the region\n" \
    "                     local)\n"                                                   \
    "region=NAME          the region's store (its store_path in the config file,\n"   \
    "                     else $XDG_DATA_HOME/blocksnap/NAME)\n"                      \
    "profile=NAME         the CLI's profile (its region and account; default:\n"      \
    "                     $BLOCKSNAP_PROFILE, else default)\n"                        \
    "account=ID           act as this account (12 digits; default: the profile's,\n"  \
    "                     else the store's)\n"                                        \
    "snapshot=snap-…      serve this snapshot\n"                                    \
    "image=ami-…          serve a device of this image\n"                           \
    "device=/dev/xvda     the image's device (default: its root device)\n"            \
    "cache=SIZE           chunk cache size (default 256M)\n"                          \
    "volume=vol-…         serve this writable volume, read-write\n"                 \
    "control=SOCKET       with volume=: a control channel on this unix socket\n"      \
    "                     (flush, snapshot; see the man page)"

static struct nbdkit_plugin plugin = {
    .name = "blocksnap",
    .longname = "nbdkit blocksnap plugin",
    .version = BSNAP_VERSION_STRING,
    .description = "serve a blocksnap snapshot or an image's device as a read-only block device, "
                   "or a writable volume",
    .unload = blocksnap_unload,
    .config = blocksnap_config,
    .config_complete = blocksnap_config_complete,
    .config_help = blocksnap_config_help,
    .magic_config_key = "snapshot",
    .get_ready = blocksnap_get_ready,
    .after_fork = blocksnap_after_fork,
    .dump_plugin = blocksnap_dump_plugin,
    .open = blocksnap_open,
    .close = blocksnap_close,
    .get_size = blocksnap_get_size,
    .block_size = blocksnap_block_size,
    .can_write = blocksnap_can_write,
    .can_flush = blocksnap_can_flush,
    .can_fua = blocksnap_can_fua,
    .can_zero = blocksnap_can_zero,
    .can_multi_conn = blocksnap_can_multi_conn,
    .can_extents = blocksnap_can_extents,
    .can_cache = blocksnap_can_cache,
    .pread = blocksnap_pread,
    .pwrite = blocksnap_pwrite,
    .flush = blocksnap_flush,
    .extents = blocksnap_extents,
    .cache = blocksnap_cache,
    .errno_is_preserved = 0,
};

/* The one symbol nbdkit looks up (defined by the macro). */
struct nbdkit_plugin *plugin_init(void);
NBDKIT_REGISTER_PLUGIN(plugin)
