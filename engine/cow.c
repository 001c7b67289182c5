/* cow.c - writable copy-on-write volumes: create, open, read, write,
 * flush, close, and the map file that records which chunks were written
 * (see cow.h for the guarantees, docs/format.md for the files). */
#include "cow.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "catalog.h"
#include "cow-crypt.h"
#include "error.h"
#include "fault.h"
#include "keys.h"
#include "lineage.h"
#include "owner.h"
#include "reader.h"
#include "source.h"
#include "store.h"
#include "util.h"
#include "xref.h"

#define MAP_MAGIC "BSNAPCOW"
#define MAP_VERSION 1u
#define MAP_HEADER 40u
#define MAP_FLAG_OPEN COW_MAP_OPEN
/* Writers of chunks that are not written yet serialize per stripe: the
 * first write of a chunk reads the base, merges and writes the whole
 * chunk, and must not race another first write of the same chunk. */
#define STRIPES 64u

struct bsnap_volume {
    bsnap_store *s;
    struct volume_rec rec;
    char *data_path;
    char *map_path;
    char *seal_path;
    char *dir;
    int fd;
    int seal_fd;         /* encrypted: the seal file, else -1 */
    struct cow_crypt cc; /* encrypted: how its chunks are sealed */
    uint64_t size;
    uint32_t cs;
    uint64_t nchunks;
    size_t nwords;  /* 64-bit words of one bitmap */
    uint64_t *bits; /* written (nwords), then dirty (nwords); atomic */
    uint64_t gen;   /* the map's generation */
    bsnap_reader *base;
    uint64_t base_size;
    pthread_rwlock_t io; /* shared: reads and writes; exclusive: snapshots */
    pthread_mutex_t flush_lock;
    pthread_mutex_t stripe[STRIPES];
};

const char *cow_id(const bsnap_volume *v)
{
    return v->rec.id;
}

bsnap_store *cow_store(const bsnap_volume *v)
{
    return v->s;
}

bool cow_encrypted(const bsnap_volume *v)
{
    return v->rec.encrypted;
}

/* ---- bits ---- */

static bool bit_get(const uint64_t *w, uint64_t i)
{
    return __atomic_load_n(&w[i / 64], __ATOMIC_ACQUIRE) & (1ull << (i % 64));
}

static void bit_set(uint64_t *w, uint64_t i)
{
    __atomic_fetch_or(&w[i / 64], 1ull << (i % 64), __ATOMIC_RELEASE);
}

static uint64_t *written_bits(bsnap_volume *v)
{
    return v->bits;
}

static uint64_t *dirty_bits(bsnap_volume *v)
{
    return v->bits + v->nwords;
}

/* ---- the map file ---- */

static size_t map_bytes(size_t nwords)
{
    return MAP_HEADER + 2 * nwords * 8 + 8;
}

size_t cow_map_bytes(size_t nwords)
{
    return map_bytes(nwords);
}

void cow_map_encode(uint32_t cs, uint64_t size, uint64_t gen, uint32_t flags, const uint64_t *bits,
                    size_t nwords, uint8_t *buf)
{
    size_t n = map_bytes(nwords);

    memset(buf, 0, MAP_HEADER);
    memcpy(buf, MAP_MAGIC, 8);
    le32_put(buf + 8, MAP_VERSION);
    le32_put(buf + 12, cs);
    le64_put(buf + 16, size);
    le64_put(buf + 24, gen);
    le32_put(buf + 32, flags);
    for (size_t i = 0; i < 2 * nwords; i++)
        le64_put(buf + MAP_HEADER + 8 * i, __atomic_load_n(&bits[i], __ATOMIC_ACQUIRE));
    le64_put(buf + n - 8, (uint64_t)XXH3_64bits(buf, n - 8));
}

int cow_map_decode(const uint8_t *b, size_t len, const char *name, uint32_t cs, uint64_t size,
                   uint64_t *bits, size_t nwords, uint64_t *ret_gen, uint32_t *ret_flags)
{
    size_t n = map_bytes(nwords);

    if (len != n || memcmp(b, MAP_MAGIC, 8) != 0 || le32_get(b + 8) != MAP_VERSION ||
        le64_get(b + n - 8) != (uint64_t)XXH3_64bits(b, n - 8) || le32_get(b + 12) != cs ||
        le64_get(b + 16) != size || le32_get(b + 36) != 0)
        return bsnap_fail(-EIO, "Store.Corrupt",
                          "volume map %s is damaged: its size, version or checksum does not match",
                          name);
    /* No bit past the last chunk: a map of another volume's shape. */
    if ((DIV_ROUND_UP(size, cs) % 64) && nwords) {
        uint64_t tail = ~0ull << (DIV_ROUND_UP(size, cs) % 64);
        if ((le64_get(b + MAP_HEADER + 8 * (nwords - 1)) & tail) ||
            (le64_get(b + MAP_HEADER + 8 * (2 * nwords - 1)) & tail))
            return bsnap_fail(-EIO, "Store.Corrupt", "volume map %s names chunks past the end",
                              name);
    }
    *ret_gen = le64_get(b + 24);
    *ret_flags = le32_get(b + 32);
    for (size_t i = 0; i < 2 * nwords; i++)
        bits[i] = le64_get(b + MAP_HEADER + 8 * i);
    return 0;
}

/* Write @bits (2 * @nwords words) as the map of a volume of @size bytes
 * in chunks of @cs: temporary file, fsync, rename, fsync of the directory.
 * A crash leaves the old map or the new one. */
static int map_write(const bsnap_store *s, const char *map_path, const char *dir, uint32_t cs,
                     uint64_t size, uint64_t gen, uint32_t flags, const uint64_t *bits,
                     size_t nwords)
{
    size_t n = map_bytes(nwords);
    _cleanup_free_ uint8_t *buf = alloc_aligned(n);
    _cleanup_free_ char *tmp = NULL;
    int fd, r;

    if (!buf || asprintf(&tmp, "%s.tmp", map_path) < 0) {
        tmp = NULL;
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    cow_map_encode(cs, size, gen, flags, bits, nwords, buf);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return bsnap_fail(-errno, "Store.IOError", "volume map %s: %m", tmp);
    r = store_fchmod(s, fd);
    /* Sparse: pages of zeros (a new volume's whole map) are left as holes,
     * so a map costs what was written, not the volume's size. */
    if (r == 0 && ftruncate(fd, (off_t)n) < 0)
        r = -errno;
    for (size_t off = 0; r == 0 && off < n; off += IO_PAGE) {
        size_t len = MIN((size_t)IO_PAGE, n - off);
        if (off == 0 || off + len == n || !mem_is_zero(buf + off, len))
            r = full_pwrite(fd, buf + off, len, (off_t)off);
    }
    if (r == 0 && (fault_hit("cow-map-write") || fsync(fd) < 0))
        r = -(errno ? errno : EIO);
    close(fd);
    if (r == 0 && rename(tmp, map_path) < 0)
        r = -errno;
    if (r == 0)
        r = fsync_dir(dir);
    if (r < 0) {
        unlink(tmp);
        return bsnap_fail(r, "Store.IOError", "volume map %s: %s", map_path, strerror(-r));
    }
    return 0;
}

int cow_map_replace(const bsnap_store *s, const char *id, uint32_t cs, uint64_t size,
                    uint32_t flags, const uint64_t *bits, size_t nwords)
{
    _cleanup_free_ char *map = cow_map_path(s, id), *dir = NULL;

    if (!map || asprintf(&dir, "%s/volumes", s->path) < 0) {
        dir = NULL;
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    return map_write(s, map, dir, cs, size, 1, flags, bits, nwords);
}

/* Read the map of volume @v (its size and chunk size set) into v->bits;
 * sets v->gen and *@ret_flags. */
static int map_read(bsnap_volume *v, uint32_t *ret_flags)
{
    size_t n = map_bytes(v->nwords), len = 0;
    _cleanup_free_ char *buf = NULL;
    int r = file_read_all(v->map_path, n, &buf, &len);

    if (r < 0)
        return bsnap_fail(r == -EFBIG ? -EIO : r, "Store.Corrupt", "volume map %s: %s", v->map_path,
                          r == -EFBIG ? "longer than the volume needs" : strerror(-r));
    return cow_map_decode((const uint8_t *)buf, len, v->map_path, v->cs, v->size, v->bits,
                          v->nwords, &v->gen, ret_flags);
}

/* ---- create ---- */

/* EC2's volume types and their largest size in GiB. */
static const struct {
    const char *name;
    uint64_t min_gib, max_gib;
} volume_types[] = {
    {"standard", 1, 1024}, {"gp2", 1, 16384},   {"gp3", 1, 65536},   {"io1", 4, 16384},
    {"io2", 4, 65536},     {"st1", 125, 16384}, {"sc1", 125, 16384},
};

static int check_type(const char *type, uint64_t gib)
{
    for (size_t i = 0; i < ARRAY_SIZE(volume_types); i++) {
        if (strcmp(type, volume_types[i].name) != 0)
            continue;
        if (gib > volume_types[i].max_gib) {
            bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "Volume of %lluGiB is too large for volume type %s: at most %lluGiB",
                       (unsigned long long)gib, type, (unsigned long long)volume_types[i].max_gib);
            return error_set_parameter("Size");
        }
        return 0;
    }
    bsnap_fail(-EINVAL, "InvalidParameterValue",
               "Value (%s) for parameter volumeType is invalid: one of standard, io1, io2, gp2, "
               "sc1, st1, gp3",
               type);
    return error_set_parameter("VolumeType");
}

static int make_dir(const bsnap_store *s, char **ret_dir)
{
    char *dir = NULL;

    if (asprintf(&dir, "%s/volumes", s->path) < 0)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    if (mkdir(dir, s->dir_mode) < 0 && errno != EEXIST) {
        int r = bsnap_fail(-errno, "Store.IOError", "%s: %m", dir);
        free(dir);
        return r;
    }
    *ret_dir = dir;
    return 0;
}

int bsnap_volume_create_writable(bsnap_store *s, const char *snapshot_id,
                                 const bsnap_writable_volume_options *opts, json_t **ret_doc)
{
    static const bsnap_writable_volume_options defaults;
    _cleanup_txn_abort_ meta_txn *txn = NULL;
    _cleanup_free_ char *dir = NULL, *data = NULL, *map = NULL, *seal = NULL;
    struct snapshot_rec snap = {0}, lin = {0};
    char arn[KEYS_ARN_MAX] = "";
    bool enc = false, inherit = false;
    uint64_t new_slot = 0;
    struct volume_rec vol = {0};
    uint64_t size, nwords;
    _cleanup_free_ uint64_t *zero = NULL;
    bool files = false;
    int fd = -1, sfd = -1, r;

    bsnap_error_clear();
    if (!opts)
        opts = &defaults;
    if (opts->kms_key_id && !opts->encrypted) {
        bsnap_fail(-EINVAL, "InvalidParameterDependency",
                   "The parameter @{KmsKeyId} requires the parameter @{Encrypted} to be set.");
        return error_set_parameter("KmsKeyId");
    }
    r = check_snapshot_id(snapshot_id);
    if (r < 0)
        return error_set_parameter("SnapshotId");
    if (opts->ntags > TAGS_MAX) {
        bsnap_fail(-EINVAL, "TagLimitExceeded", "at most %d tags per resource", TAGS_MAX);
        return error_set_parameter("TagSpecifications");
    }
    for (size_t i = 0; i < opts->ntags; i++) {
        r = tags_set(&vol.tags, opts->tags[i].key, opts->tags[i].value ? opts->tags[i].value : "");
        if (r < 0) {
            error_param(r, "TagSpecifications[0].Tags[%zu]", i);
            goto out;
        }
    }
    /* The caller must be allowed to create a volume from it: its own, or
     * shared with it (createVolumePermission). */
    r = catalog_snapshot_get(s, snapshot_id, &snap);
    if (r < 0) {
        error_param(r, "SnapshotId");
        goto out;
    }
    if (snap.state != BSNAP_SNAPSHOT_COMPLETED) {
        r = bsnap_fail(-EBUSY, "IncorrectState", "the snapshot '%s' is not completed", snap.id);
        error_set_parameter("SnapshotId");
        goto out;
    }
    if (snap.chunk_size != s->chunk_size) {
        r = bsnap_fail(-EIO, "Store.Corrupt", "snapshot %s has chunk size %u, the store %u",
                       snap.id, snap.chunk_size, s->chunk_size);
        goto out;
    }
    /* EC2's rules: a volume of an encrypted snapshot is encrypted (under
     * the snapshot's key and data key when the caller owns it and names no
     * other key, else a new data key under the named key or the caller's
     * default); a plain one when asked, or by default. */
    enc = snap.encrypted || opts->encrypted;
    if (!enc && (r = keys_encryption_by_default(s, &enc)) < 0)
        goto out;
    if (opts->kms_key_id && (r = keys_key_arn(s, opts->kms_key_id, arn)) < 0) {
        error_set_parameter("KmsKeyId");
        goto out;
    }
    inherit = snap.encrypted && owner_visible(s, snap.owner) &&
              (!arn[0] || (snap.kms_key_id && strcmp(arn, snap.kms_key_id) == 0));
    size = snap.size;
    if (opts->size_gib) {
        uint64_t need = (snap.size + (1ull << 30) - 1) >> 30;
        if (opts->size_gib < need) {
            r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                           "Volume of size %lluGB is smaller than snapshot '%s', expect size "
                           ">= %lluGB",
                           (unsigned long long)opts->size_gib, snap.id, (unsigned long long)need);
            error_set_parameter("Size");
            goto out;
        }
        size = opts->size_gib << 30;
    }
    snprintf(vol.volume_type, sizeof vol.volume_type, "%s",
             opts->volume_type ? opts->volume_type : "gp2");
    if (opts->volume_type && strlen(opts->volume_type) >= sizeof vol.volume_type) {
        r = check_type("?", 0);
        goto out;
    }
    r = check_type(vol.volume_type, (size + (1ull << 30) - 1) >> 30);
    if (r < 0)
        goto out;

    owner_stamp(s, vol.owner);
    r = id_generate("vol", vol.id);
    if (r < 0) {
        r = bsnap_fail(r, "InternalError", "getrandom: %s", strerror(-r));
        goto out;
    }
    vol.writable = true;
    vol.size = size;
    vol.create_ms = time_now_ms();
    snprintf(vol.source_snapshot, sizeof vol.source_snapshot, "%s", snap.id);
    snprintf(vol.last_snapshot, sizeof vol.last_snapshot, "%s", snap.id);
    vol.path = strdup("");
    if (!vol.path) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    nwords = DIV_ROUND_UP(DIV_ROUND_UP(size, s->chunk_size), 64);

    /* The files first, then the record: a crash between leaves files no
     * record names (harmless, and removed with their name), never a
     * record without its files.  A dry run ends at the first file. */
    if (s->dry_run) {
        r = error_dry_run();
        goto out;
    }
    r = 0;
    if (inherit) {
        r = lineage_to_volume(&vol, &snap);
    } else if (enc) {
        /* recorded before anything is sealed with it (lineage.h) */
        r = lineage_new(s, opts->kms_key_id, &lin, NULL);
        if (r == 0) {
            new_slot = lin.key_slot;
            r = lineage_to_volume(&vol, &lin);
        } else if (opts->kms_key_id) {
            error_set_parameter("KmsKeyId");
        }
    }
    if (r < 0)
        goto out;
    r = make_dir(s, &dir);
    if (r < 0)
        goto out;
    data = cow_data_path(s, vol.id);
    map = cow_map_path(s, vol.id);
    seal = cow_seal_path(s, vol.id);
    zero = calloc(2 * nwords + 1, 8);
    if (!data || !map || !seal || !zero) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    fd = open(data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = bsnap_fail(-errno, "Store.IOError", "%s: %m", data);
        goto out;
    }
    files = true;
    {
        uint64_t nchunks = DIV_ROUND_UP(size, s->chunk_size);
        uint64_t len = vol.encrypted ? cow_crypt_data_bytes(nchunks, s->chunk_size) : size;
        if (store_fchmod(s, fd) < 0 || ftruncate(fd, (off_t)len) < 0 || fsync(fd) < 0) {
            r = bsnap_fail(-errno, errno == ENOSPC ? "Store.Full" : "Store.IOError", "%s: %m",
                           data);
            goto out;
        }
        if (fault_hit("cow-create-data")) {
            r = bsnap_fail(-EIO, "Store.IOError", "injected fault after the overlay is made");
            goto out;
        }
        if (vol.encrypted) {
            sfd = open(seal, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (sfd < 0 || store_fchmod(s, sfd) < 0 ||
                ftruncate(sfd, (off_t)cow_crypt_seal_bytes(nchunks)) < 0 || fsync(sfd) < 0) {
                r = bsnap_fail(-errno, errno == ENOSPC ? "Store.Full" : "Store.IOError", "%s: %m",
                               seal);
                goto out;
            }
        }
    }
    r = map_write(s, map, dir, s->chunk_size, size, 0, 0, zero, nwords);
    if (r < 0)
        goto out;
    r = meta_txn_begin(s->meta, true, &txn);
    if (r < 0)
        goto out;
    r = catalog_volume_save(txn, &vol);
    if (r < 0)
        goto out;
    if (fault_hit("cow-create-commit")) {
        r = bsnap_fail(-EIO, "Store.IOError", "injected fault before the volume is recorded");
        goto out;
    }
    r = meta_txn_commit(steal_ptr(txn));
    if (r < 0)
        goto out;
    files = false;
    new_slot = 0;
    r = json_describe_volume(s, &vol, ret_doc);
out:
    if (fd >= 0)
        close(fd);
    if (sfd >= 0)
        close(sfd);
    if (files)
        cow_remove_files(s, vol.id);
    if (new_slot)
        lineage_forget(s, new_slot); /* nothing was sealed with it */
    snapshot_rec_clear(&lin);
    snapshot_rec_clear(&snap);
    volume_rec_clear(&vol);
    return r;
}

/* ---- open, close ---- */

static void volume_free(bsnap_volume *v)
{
    if (!v)
        return;
    if (v->fd >= 0)
        close(v->fd);
    if (v->seal_fd >= 0)
        close(v->seal_fd);
    bsnap_reader_close(v->base);
    pthread_rwlock_destroy(&v->io);
    pthread_mutex_destroy(&v->flush_lock);
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&v->stripe[i]);
    free(v->bits);
    free(v->data_path);
    free(v->map_path);
    free(v->seal_path);
    free(v->dir);
    volume_rec_clear(&v->rec);
    free(v);
}

/* Persist the bits as they are now, after the overlay's data is on disk:
 * the copy is taken before the sync, so every bit it holds was set after
 * its chunk's write returned, which the sync then covers. */
static int persist(bsnap_volume *v, uint32_t flags)
{
    _cleanup_free_ uint64_t *copy = malloc(2 * v->nwords * 8 + 8);
    int r;

    if (!copy)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < 2 * v->nwords; i++)
        copy[i] = __atomic_load_n(&v->bits[i], __ATOMIC_ACQUIRE);
    if (fault_hit("cow-fdatasync") || fdatasync(v->fd) < 0 ||
        (v->seal_fd >= 0 && fdatasync(v->seal_fd) < 0))
        return bsnap_fail(-(errno ? errno : EIO), "Store.IOError", "volume %s: fdatasync: %m",
                          v->rec.id);
    v->gen++;
    r = map_write(v->s, v->map_path, v->dir, v->cs, v->size, v->gen, flags, copy, v->nwords);
    return r;
}

/* An encrypted volume: its key (the lineage's) and its seal file. */
static int open_sealed(bsnap_volume *v)
{
    const struct crypt_key *k = NULL;
    struct stat st;
    int r = lineage_open_volume(v->s, &v->rec, &k);

    if (r < 0)
        return r;
    v->seal_path = cow_seal_path(v->s, v->rec.id);
    if (!v->seal_path)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    v->seal_fd = open(v->seal_path, O_RDWR | O_CLOEXEC);
    if (v->seal_fd < 0)
        return bsnap_fail(-EIO, "Store.Corrupt", "volume %s: its seal file %s: %m", v->rec.id,
                          v->seal_path);
    if (fstat(v->seal_fd, &st) < 0 || (uint64_t)st.st_size != cow_crypt_seal_bytes(v->nchunks))
        return bsnap_fail(
            -EIO, "Store.Corrupt", "volume %s: its seal file has %lld bytes, not %llu", v->rec.id,
            (long long)st.st_size, (unsigned long long)cow_crypt_seal_bytes(v->nchunks));
    v->cc = (struct cow_crypt){.k = k,
                               .data_fd = v->fd,
                               .seal_fd = v->seal_fd,
                               .vol_id = v->rec.id,
                               .cs = v->cs,
                               .size = v->size,
                               .nchunks = v->nchunks};
    return 0;
}

/* After a crash: a chunk whose newest sealed copy had not reached the disk
 * whole goes back to its older copy (cow-crypt.h). */
static int recover_sealed(bsnap_volume *v)
{
    _cleanup_free_ uint8_t *buf = alloc_aligned(v->cs);
    uint64_t rolled = 0;

    if (!buf)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    for (uint64_t i = 0; i < v->nchunks; i++) {
        bool back = false;
        int r;
        if (!bit_get(written_bits(v), i)) {
            if (written_bits(v)[i / 64] == 0)
                i |= 63;
            continue;
        }
        r = cow_crypt_recover(&v->cc, i, buf, &back);
        if (r < 0)
            return r;
        rolled += back;
    }
    if (rolled)
        bsnap_log(BSNAP_LOG_WARNING, "cow",
                  "volume %s: %llu chunks written when it was last stopped had not reached the "
                  "disk whole: they read as their previous write",
                  v->rec.id, (unsigned long long)rolled);
    return 0;
}

int bsnap_volume_open(bsnap_store *s, const char *id, bsnap_volume **ret_volume)
{
    bsnap_volume *v;
    struct stat st;
    uint32_t flags = 0;
    int r;

    bsnap_error_clear();
    r = check_volume_id(id);
    if (r < 0)
        return error_set_parameter("VolumeId");
    v = calloc(1, sizeof *v);
    if (!v)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    v->s = s;
    v->fd = -1;
    v->seal_fd = -1;
    pthread_rwlock_init(&v->io, NULL);
    pthread_mutex_init(&v->flush_lock, NULL);
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_mutex_init(&v->stripe[i], NULL);
    r = catalog_volume_get(s, id, &v->rec);
    if (r < 0) {
        error_param(r, "VolumeId");
        goto fail;
    }
    if (!v->rec.writable) {
        r = bsnap_fail(-EINVAL, "InvalidParameterValue",
                       "volume %s is not a writable volume: it is the file %s", id, v->rec.path);
        error_set_parameter("VolumeId");
        goto fail;
    }
    v->data_path = cow_data_path(s, id);
    v->map_path = cow_map_path(s, id);
    if (!v->data_path || !v->map_path || asprintf(&v->dir, "%s/volumes", s->path) < 0) {
        v->dir = NULL;
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto fail;
    }
    v->fd = open(v->data_path, O_RDWR | O_CLOEXEC);
    if (v->fd < 0) {
        r = bsnap_fail(-EIO, "Store.Corrupt", "volume %s: its data file %s: %m", id, v->data_path);
        goto fail;
    }
    if (flock(v->fd, LOCK_EX | LOCK_NB) < 0) {
        r = errno == EWOULDBLOCK ? cow_lock_busy(id)
                                 : bsnap_fail(-errno, "Store.IOError", "volume %s: flock: %m", id);
        error_set_parameter("VolumeId");
        goto fail;
    }
    /* Deleted between the record's load and the lock: gone. */
    if (fstat(v->fd, &st) < 0 || st.st_nlink == 0) {
        r = bsnap_fail(-ENOENT, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id);
        error_set_parameter("VolumeId");
        goto fail;
    }
    v->size = v->rec.size;
    v->cs = s->chunk_size;
    v->nchunks = DIV_ROUND_UP(v->size, v->cs);
    v->nwords = DIV_ROUND_UP(v->nchunks, 64);
    v->bits = calloc(2 * v->nwords + 1, 8);
    if (!v->bits) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto fail;
    }
    {
        uint64_t want = v->rec.encrypted ? cow_crypt_data_bytes(v->nchunks, v->cs) : v->size;
        if ((uint64_t)st.st_size != want) {
            r = bsnap_fail(-EIO, "Store.Corrupt",
                           "volume %s: its data file has %lld bytes, not %llu", id,
                           (long long)st.st_size, (unsigned long long)want);
            goto fail;
        }
    }
    if (v->rec.encrypted) {
        r = open_sealed(v);
        if (r < 0)
            goto fail;
    }
    r = map_read(v, &flags);
    if (r < 0)
        goto fail;
    /* Not closed cleanly: a write may have reached the overlay of a written
     * chunk after the map last recorded it dirty.  Its next snapshot reads
     * every written chunk again (unchanged ones dedup). */
    if (flags & MAP_FLAG_OPEN)
        for (size_t i = 0; i < v->nwords; i++)
            dirty_bits(v)[i] |= written_bits(v)[i];
    if ((flags & MAP_FLAG_OPEN) && v->rec.encrypted && !s->dry_run) {
        r = recover_sealed(v);
        if (r < 0)
            goto fail;
    }
    r = reader_open(s, v->rec.source_snapshot, false, &v->base);
    if (r < 0) {
        error_param(r, "VolumeId");
        goto fail;
    }
    v->base_size = v->base->size;
    if (s->dry_run) { /* the map is the open's first write */
        r = error_dry_run();
        goto fail;
    }
    r = persist(v, MAP_FLAG_OPEN);
    if (r < 0)
        goto fail;
    *ret_volume = v;
    return 0;
fail:
    volume_free(v);
    return r;
}

int bsnap_volume_close(bsnap_volume *v)
{
    int r = 0;

    if (!v)
        return 0;
    bsnap_error_clear();
    pthread_mutex_lock(&v->flush_lock);
    r = persist(v, 0);
    pthread_mutex_unlock(&v->flush_lock);
    volume_free(v);
    return r;
}

uint64_t bsnap_volume_size(const bsnap_volume *v)
{
    return v->size;
}

int bsnap_volume_flush(bsnap_volume *v)
{
    int r;

    bsnap_error_clear();
    pthread_mutex_lock(&v->flush_lock);
    r = persist(v, MAP_FLAG_OPEN);
    pthread_mutex_unlock(&v->flush_lock);
    return r;
}

/* ---- I/O ---- */

static int raw_pread(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;

    while (n) {
        /* io-ok: into the caller's buffer (a FUSE or NBD request's), whose
         * place in memory is not ours to choose */
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0) { /* past a short file: zeros (cannot happen: sized) */
            memset(p, 0, n);
            return 0;
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static int raw_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;

    while (n) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

/* Read [off, off + n) of the base (zeros past its end) into @buf. */
static int base_read(bsnap_volume *v, void *buf, size_t n, uint64_t off)
{
    size_t in = off < v->base_size ? (size_t)MIN((uint64_t)n, v->base_size - off) : 0;

    if (in) {
        long k = bsnap_reader_pread(v->base, buf, in, off);
        if (k < 0)
            return (int)k;
        if ((size_t)k != in)
            return bsnap_fail(-EIO, "Store.Corrupt", "volume %s: short read of its base %s",
                              v->rec.id, v->rec.source_snapshot);
    }
    memset((uint8_t *)buf + in, 0, n - in);
    return 0;
}

/* Read [off, off + n) of written chunk @idx of an encrypted volume (within
 * that chunk): opened whole, under the chunk's stripe lock; straight into
 * @dst when it asks for the whole chunk and is aligned as full_pread()
 * wants, else through a buffer. */
static int sealed_read(bsnap_volume *v, uint64_t idx, uint8_t *dst, size_t n, uint64_t off)
{
    _cleanup_free_ uint8_t *chunk = NULL;
    pthread_mutex_t *m = &v->stripe[idx % STRIPES];
    int r;

    if (off == idx * v->cs && n == MIN((uint64_t)v->cs, v->size - off) &&
        (uintptr_t)dst % IO_ALIGN == 0) {
        pthread_mutex_lock(m);
        r = cow_crypt_read(&v->cc, idx, dst);
        pthread_mutex_unlock(m);
        return r;
    }
    if (!(chunk = alloc_aligned(v->cs)))
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    pthread_mutex_lock(m);
    r = cow_crypt_read(&v->cc, idx, chunk);
    pthread_mutex_unlock(m);
    if (r == 0)
        memcpy(dst, chunk + (off - idx * v->cs), n);
    return r;
}

/* bsnap_volume_pread() within the I/O lock (or a snapshot's). */
static long volume_read(bsnap_volume *v, uint8_t *p, size_t len, uint64_t offset)
{
    size_t done = 0;
    int r = 0;

    if (offset >= v->size)
        return 0;
    len = (size_t)MIN((uint64_t)len, v->size - offset);
    while (done < len && r == 0) {
        uint64_t off = offset + done, idx = off / v->cs;
        /* a run of chunks alike (all written or all not) in one call */
        uint64_t end = (idx + 1) * v->cs;
        bool w = bit_get(written_bits(v), idx);
        while (end < offset + len && bit_get(written_bits(v), end / v->cs) == w &&
               !(w && v->rec.encrypted))
            end += v->cs;
        size_t n = (size_t)(MIN(end, offset + len) - off);
        if (w && v->rec.encrypted) {
            r = sealed_read(v, idx, p + done, n, off);
        } else if (w) {
            r = raw_pread(v->fd, p + done, n, off);
            if (r < 0)
                r = bsnap_fail(r, "Store.IOError", "volume %s: read at %llu: %s", v->rec.id,
                               (unsigned long long)off, strerror(-r));
        } else {
            r = base_read(v, p + done, n, off);
        }
        done += n;
    }
    return r < 0 ? r : (long)len;
}

/* The first chunk at or after @idx whose written bit is @set, or
 * v->nchunks when none is. */
static uint64_t next_written(bsnap_volume *v, uint64_t idx, bool set)
{
    const uint64_t *w = written_bits(v);

    while (idx < v->nchunks) {
        uint64_t word = __atomic_load_n(&w[idx / 64], __ATOMIC_ACQUIRE);
        if (!set)
            word = ~word;
        word &= ~0ull << (idx % 64); /* the bits from idx on */
        if (word)
            return MIN(v->nchunks, (idx & ~63ull) + (uint64_t)__builtin_ctzll(word));
        idx = (idx & ~63ull) + 64;
    }
    return v->nchunks;
}

/* The base's SEEK_DATA or SEEK_HOLE from @off: its end (and everything
 * past it) is a hole, no data there is v->size. */
static int base_seek(bsnap_volume *v, uint64_t off, int whence, uint64_t *ret)
{
    if (off >= v->base_size) {
        *ret = whence == SEEK_DATA ? v->size : off;
        return 0;
    }
    int r = bsnap_reader_seek(v->base, off, whence, ret);
    if (r == -ENXIO) {
        *ret = whence == SEEK_DATA ? v->size : v->base_size;
        return 0;
    }
    return r;
}

int bsnap_volume_seek(bsnap_volume *v, uint64_t offset, int whence, uint64_t *ret_offset)
{
    uint64_t pos = offset, found = v->size;
    int r = 0;

    bsnap_error_clear();
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return bsnap_fail(-EINVAL, "InvalidParameterValue", "seek: whence %d", whence);
    if (offset >= v->size)
        return -ENXIO;
    pthread_rwlock_rdlock(&v->io);
    if (whence == SEEK_DATA) {
        /* the first written chunk or the base's first data, whichever
         * comes first: base data before the written chunk lies in a chunk
         * never written */
        uint64_t w = next_written(v, pos / v->cs, true), d;
        r = base_seek(v, pos, SEEK_DATA, &d);
        if (r == 0)
            found = MIN(MAX(pos, w * v->cs), d);
    } else {
        /* in each run of chunks never written, the base's first hole */
        while (pos < v->size) {
            uint64_t idx = pos / v->cs;
            if (bit_get(written_bits(v), idx)) {
                pos = next_written(v, idx, false) * v->cs;
                continue;
            }
            uint64_t run_end = next_written(v, idx, true) * v->cs, h;
            r = base_seek(v, pos, SEEK_HOLE, &h);
            if (r < 0)
                break;
            if (h < run_end) {
                found = h;
                break;
            }
            pos = run_end;
        }
    }
    pthread_rwlock_unlock(&v->io);
    if (r < 0)
        return r;
    if (found >= v->size) {
        if (whence == SEEK_DATA)
            return -ENXIO;
        found = v->size; /* the end is an implicit hole */
    }
    *ret_offset = found;
    return 0;
}

long bsnap_volume_pread(bsnap_volume *v, void *buf, size_t len, uint64_t offset)
{
    long r;

    bsnap_error_clear();
    pthread_rwlock_rdlock(&v->io);
    r = volume_read(v, buf, len, offset);
    pthread_rwlock_unlock(&v->io);
    return r;
}

/* Write chunk @idx whole from @chunk (its length): in place, or sealed
 * into its other copy. */
static int put_chunk(bsnap_volume *v, uint64_t idx, const uint8_t *chunk, size_t clen)
{
    _cleanup_free_ uint8_t *scratch = NULL;

    if (!v->rec.encrypted)
        return raw_pwrite(v->fd, chunk, clen, idx * v->cs);
    scratch = alloc_aligned(v->cs);
    if (!scratch)
        return -ENOMEM;
    return cow_crypt_write(&v->cc, idx, chunk, scratch);
}

/* A write of @n bytes of @src at @within into chunk @idx that goes through
 * the whole chunk: its first write (the base's bytes merged) and any write
 * of an encrypted one (its bytes opened, merged, sealed again).  Under the
 * chunk's stripe lock. */
static int merge_write(bsnap_volume *v, uint64_t idx, const uint8_t *src, size_t within, size_t n)
{
    uint64_t start = idx * v->cs;
    size_t clen = (size_t)MIN((uint64_t)v->cs, v->size - start);
    _cleanup_free_ uint8_t *chunk = NULL;
    int r;

    if (within == 0 && n == clen)
        return put_chunk(v, idx, src, n);
    chunk = alloc_aligned(v->cs);
    if (!chunk)
        return -ENOMEM;
    if (bit_get(written_bits(v), idx))
        r = cow_crypt_read(&v->cc, idx, chunk); /* only sealed ones get here written */
    else
        r = base_read(v, chunk, clen, start);
    if (r < 0)
        return r;
    if (n)
        memcpy(chunk + within, src, n);
    return put_chunk(v, idx, chunk, clen);
}

long bsnap_volume_pwrite(bsnap_volume *v, const void *buf, size_t len, uint64_t offset)
{
    const uint8_t *p = buf;
    size_t done = 0;
    int r = 0;

    bsnap_error_clear();
    if (offset > v->size || len > v->size - offset)
        return bsnap_fail(-ENOSPC, "InvalidParameterValue",
                          "volume %s: a write of %zu bytes at %llu ends past its size (%llu)",
                          v->rec.id, len, (unsigned long long)offset, (unsigned long long)v->size);
    pthread_rwlock_rdlock(&v->io);
    while (done < len && r == 0) {
        uint64_t off = offset + done, idx = off / v->cs;
        size_t within = (size_t)(off % v->cs);
        size_t n = (size_t)MIN((uint64_t)(len - done), (uint64_t)v->cs - within);
        if (bit_get(written_bits(v), idx) && !v->rec.encrypted) {
            r = raw_pwrite(v->fd, p + done, n, off);
        } else {
            pthread_mutex_t *m = &v->stripe[idx % STRIPES];
            pthread_mutex_lock(m);
            if (bit_get(written_bits(v), idx) && !v->rec.encrypted)
                r = raw_pwrite(v->fd, p + done, n, off);
            else
                r = merge_write(v, idx, p + done, within, n);
            /* set only after the data is in the overlay: a reader that
             * sees the bit finds the merged chunk */
            if (r == 0)
                bit_set(written_bits(v), idx);
            pthread_mutex_unlock(m);
        }
        if (r == 0)
            bit_set(dirty_bits(v), idx);
        else if (!bsnap_last_error()->err)
            r = bsnap_fail(r, r == -ENOSPC ? "Store.Full" : "Store.IOError",
                           "volume %s: write at %llu: %s", v->rec.id, (unsigned long long)off,
                           strerror(-r));
        done += n;
    }
    pthread_rwlock_unlock(&v->io);
    return r < 0 ? r : (long)len;
}

/* ---- snapshots of an open volume ---- */

int cow_snapshot_begin(bsnap_volume *v, struct cow_snap *ret)
{
    bsnap_range *rg = NULL;
    size_t n = 0, cap = 0;
    int r;

    pthread_rwlock_wrlock(&v->io);
    /* A volume grown past its base: the base's last partial chunk is read
     * from the overlay too (the pipeline reads everything past the shorter
     * end of a resized volume), so it must be there. */
    if (v->base_size < v->size && v->base_size % v->cs &&
        !bit_get(written_bits(v), v->base_size / v->cs)) {
        uint64_t idx = v->base_size / v->cs;
        r = merge_write(v, idx, NULL, 0, 0);
        if (r < 0) {
            pthread_rwlock_unlock(&v->io);
            return bsnap_fail(r, "Store.IOError", "volume %s: %s", v->rec.id, strerror(-r));
        }
        bit_set(written_bits(v), idx);
    }
    pthread_mutex_lock(&v->flush_lock);
    r = persist(v, MAP_FLAG_OPEN);
    pthread_mutex_unlock(&v->flush_lock);
    if (r < 0) {
        pthread_rwlock_unlock(&v->io);
        return r;
    }
    for (uint64_t i = 0; i < v->nchunks; i++) {
        if (!(dirty_bits(v)[i / 64] & (1ull << (i % 64)))) {
            if (dirty_bits(v)[i / 64] == 0)
                i |= 63; /* skip a clean word */
            continue;
        }
        uint64_t off = i * v->cs, l = MIN((uint64_t)v->cs, v->size - off);
        if (n && rg[n - 1].offset + rg[n - 1].length == off) {
            rg[n - 1].length += l;
            continue;
        }
        void *na = array_grow(rg, n, &cap, sizeof *rg, 64);
        if (!na) {
            free(rg);
            pthread_rwlock_unlock(&v->io);
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        }
        rg = na;
        rg[n++] = (bsnap_range){off, l};
    }
    if (!rg) {
        rg = calloc(1, sizeof *rg); /* none changed: a list, empty */
        if (!rg) {
            pthread_rwlock_unlock(&v->io);
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        }
    }
    *ret = (struct cow_snap){
        .fd = v->fd, .path = v->data_path, .size = v->size, .changed = rg, .nchanged = n};
    return 0;
}

/* ---- an encrypted volume as a snapshot's source ---- */

struct vol_source {
    struct source src;
    bsnap_volume *v;
};

static ssize_t vs_pread(struct source *src, void *buf, size_t len, uint64_t off)
{
    struct vol_source *vs = (struct vol_source *)src;
    long r = volume_read(vs->v, buf, len, off); /* the snapshot holds the I/O lock */

    return r < 0 ? r : (ssize_t)len;
}

static int vs_seek(struct source *src, uint64_t off, bool data, uint64_t *ret)
{
    (void)src, (void)off, (void)data, (void)ret;
    return -EOPNOTSUPP;
}

static int vs_check(struct source *src)
{
    (void)src;
    return 0;
}

static void vs_close(struct source *src)
{
    (void)src; /* source_close() frees the rest */
}

static const struct source_ops vol_source_ops = {vs_pread, vs_seek, vs_check, vs_close};

int cow_source_open(bsnap_volume *v, struct source **ret)
{
    struct vol_source *vs = calloc(1, sizeof *vs);

    if (!vs || !(vs->src.key = strdup(v->data_path)) || !(vs->src.shown = strdup(v->rec.id))) {
        if (vs)
            free(vs->src.key);
        free(vs);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    vs->src.ops = &vol_source_ops;
    vs->src.size = v->size;
    vs->v = v;
    *ret = &vs->src;
    return 0;
}

int cow_redirty(bsnap_volume *v)
{
    int r;

    pthread_rwlock_wrlock(&v->io);
    for (size_t i = 0; i < v->nwords; i++)
        dirty_bits(v)[i] |= written_bits(v)[i];
    pthread_mutex_lock(&v->flush_lock);
    r = persist(v, MAP_FLAG_OPEN);
    pthread_mutex_unlock(&v->flush_lock);
    pthread_rwlock_unlock(&v->io);
    return r;
}

int cow_snapshot_end(bsnap_volume *v, struct cow_snap *cs, bool ok)
{
    int r = 0;

    if (ok) {
        /* Writers wait on the lock: the dirty bits are exactly those the
         * snapshot read. */
        memset(dirty_bits(v), 0, v->nwords * 8);
        pthread_mutex_lock(&v->flush_lock);
        r = persist(v, MAP_FLAG_OPEN);
        pthread_mutex_unlock(&v->flush_lock);
    }
    pthread_rwlock_unlock(&v->io);
    free(cs->changed);
    cs->changed = NULL;
    return r;
}
