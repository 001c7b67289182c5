/* store.c - store directory, config file, format version, lock. */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockmap.h"
#include "crypt.h"
#include "error.h"
#include "pack.h"
#include "util.h"

#define CONFIG_MAX (16 * 1024)

char *store_path(const bsnap_store *s, const char *name)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s", s->path, name) < 0)
        return NULL;
    return p;
}

static bool region_name_valid(const char *r)
{
    size_t n = strlen(r);

    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)r[i]) || isdigit((unsigned char)r[i]) || r[i] == '-'))
            return false;
    return true;
}

int bsnap_store_resolve(const char *dir, const char *region, char **ret_path)
{
    const char *env = getenv("BLOCKSNAP_STORE");
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char *p = NULL;
    int r;

    bsnap_error_clear();
    if (dir && *dir) {
        p = strdup(dir);
    } else if (!region && env && *env) {
        p = strdup(env);
    } else {
        if (!region)
            region = "local";
        if (!region_name_valid(region))
            return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                          "region name '%s' is not 1 to 64 of [a-z0-9-]", region),
                               "Region");
        if (xdg && *xdg)
            r = asprintf(&p, "%s/blocksnap/%s", xdg, region);
        else if (home && *home)
            r = asprintf(&p, "%s/.local/share/blocksnap/%s", home, region);
        else
            return bsnap_fail(-EINVAL, "MissingParameter",
                              "no store given and neither XDG_DATA_HOME nor HOME is set");
        if (r < 0)
            p = NULL;
    }
    if (!p)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    *ret_path = p;
    return 0;
}

static int mkdir_p(const char *path)
{
    _cleanup_free_ char *copy = strdup(path);

    if (!copy)
        return -ENOMEM;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(copy, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    bool empty = true;

    if (!d)
        return false;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = false;
            break;
        }
    }
    closedir(d);
    return empty;
}

static void derive_page_secret(bsnap_store *s)
{
    /* Pages and data chunks are hashed with different keys, so a data
     * chunk can never be taken for a page with the same id. */
    for (size_t i = 0; i < STORE_SECRET_BYTES; i++)
        s->page_secret[i] = s->secret[i] ^ 0x5c;
}

static int write_config(bsnap_store *s)
{
    _cleanup_free_ char *tmp = store_path(s, "config.tmp");
    _cleanup_free_ char *final = store_path(s, "config");
    _cleanup_close_ int fd = -1;
    char secret_hex[2 * STORE_SECRET_BYTES + 1];
    char *text = NULL;
    int n, r;

    if (!tmp || !final)
        return -ENOMEM;
    hex_encode(s->secret, STORE_SECRET_BYTES, secret_hex);
    n = asprintf(&text,
                 "# blocksnap store: do not edit (docs/format.md)\n"
                 "format %u\nuuid %s\nregion %s\naccount %s\nchunk-size %u\n"
                 "pack-size %" PRIu64 "\nsecret %s\n",
                 s->format, s->uuid_text, s->region, s->account, s->chunk_size, s->pack_limit,
                 secret_hex);
    if (n < 0)
        return -ENOMEM;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(text);
        return -errno;
    }
    r = store_fchmod(s, fd);
    if (r == 0)
        r = full_write(fd, text, (size_t)n);
    free(text);
    if (r < 0)
        return r;
    if (fsync(fd) < 0)
        return -errno;
    if (rename(tmp, final) < 0)
        return -errno;
    return fsync_dir(s->path);
}

static int parse_config(bsnap_store *s, char *text)
{
    bool have_format = false, have_uuid = false, have_secret = false, have_chunk = false;

    s->pack_limit = STORE_PACK_LIMIT_DEFAULT;
    snprintf(s->account, sizeof s->account, "%s", STORE_ACCOUNT_DEFAULT);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *val;

        if (line[0] == '#' || line[0] == '\0')
            continue;
        val = strchr(line, ' ');
        if (!val)
            return bsnap_fail(-EINVAL, "Store.Invalid",
                              "store %s: config line '%.40s' has no value", s->path, line);
        *val++ = '\0';
        if (strcmp(line, "format") == 0) {
            char *end;
            unsigned long v = strtoul(val, &end, 10);
            if (*end || v == 0 || v > UINT32_MAX)
                return bsnap_fail(-EINVAL, "Store.Invalid", "store %s: bad format '%s'", s->path,
                                  val);
            s->format = (uint32_t)v;
            have_format = true;
        } else if (strcmp(line, "uuid") == 0) {
            char hex[33];
            size_t j = 0;
            for (const char *p = val; *p && j < 32; p++)
                if (*p != '-')
                    hex[j++] = *p;
            hex[j] = '\0';
            if (strlen(val) != 36 || j != 32 || !hex_decode(hex, 16, s->uuid))
                return bsnap_fail(-EINVAL, "Store.Invalid", "store %s: bad uuid", s->path);
            snprintf(s->uuid_text, sizeof s->uuid_text, "%s", val);
            have_uuid = true;
        } else if (strcmp(line, "region") == 0) {
            snprintf(s->region, sizeof s->region, "%s", val);
        } else if (strcmp(line, "account") == 0) {
            snprintf(s->account, sizeof s->account, "%s", val);
        } else if (strcmp(line, "chunk-size") == 0) {
            char *end;
            unsigned long v = strtoul(val, &end, 10);
            if (*end || v < BSNAP_CHUNK_SIZE_MIN || v > BSNAP_CHUNK_SIZE_MAX || (v & (v - 1)))
                return bsnap_fail(-EINVAL, "Store.Invalid", "store %s: bad chunk size '%s'",
                                  s->path, val);
            s->chunk_size = (uint32_t)v;
            have_chunk = true;
        } else if (strcmp(line, "pack-size") == 0) {
            char *end;
            unsigned long long v = strtoull(val, &end, 10);
            if (*end || v < (1u << 20))
                return bsnap_fail(-EINVAL, "Store.Invalid", "store %s: bad pack size '%s'", s->path,
                                  val);
            s->pack_limit = v;
        } else if (strcmp(line, "secret") == 0) {
            if (strlen(val) != 2 * STORE_SECRET_BYTES ||
                !hex_decode(val, STORE_SECRET_BYTES, s->secret))
                return bsnap_fail(-EINVAL, "Store.Invalid", "store %s: bad secret", s->path);
            have_secret = true;
        }
        /* Unknown keys are ignored: later minor versions may add some. */
    }
    if (!have_format)
        return bsnap_fail(-EINVAL, "Store.Invalid", "store %s: config has no format line", s->path);
    if (s->format != STORE_FORMAT_VERSION)
        return bsnap_fail(-EPROTONOSUPPORT, "Store.UnsupportedVersion",
                          "store %s has format version %u; this blocksnap %s reads version %u",
                          s->path, s->format, bsnap_version(), STORE_FORMAT_VERSION);
    if (!have_uuid || !have_secret || !have_chunk)
        return bsnap_fail(-EINVAL, "Store.Invalid", "store %s: config lacks %s", s->path,
                          !have_uuid     ? "uuid"
                          : !have_secret ? "secret"
                                         : "chunk-size");
    derive_page_secret(s);
    return 0;
}

/* The modes of a store whose directory has mode @top: see store.h. */
static void store_modes(bsnap_store *s, mode_t top)
{
    bool shared = top & S_ISGID;

    s->dir_mode = shared ? 02750 : 0700;
    s->file_mode = shared ? 0640 : 0600;
}

static mode_t entry_mode(const bsnap_store *s, const char *dir, const char *name, bool is_dir)
{
    /* liblmdb's readers record themselves in lock.mdb: a group that may
     * read the store must be able to write there. */
    if (!is_dir && s->file_mode == 0640 && strcmp(name, "lock.mdb") == 0 &&
        strcmp(dir, "meta") == 0)
        return 0660;
    /* STORE/lock: see store_lock() */
    if (!is_dir && dir[0] == '\0' && strcmp(name, "lock") == 0)
        return 0600;
    return is_dir ? s->dir_mode : s->file_mode;
}

/* Give everything under the directory @fd (named @name inside the store,
 * "" for the top) the store's modes, the directory itself last.  Symbolic
 * links are left alone.  0 or -errno of the first failure (the walk goes
 * on). */
static int tighten_dir(const bsnap_store *s, int fd, const char *name, int depth)
{
    DIR *d = fdopendir(fd);
    struct dirent *e;
    int r = 0;

    if (!d) {
        close(fd);
        return -errno;
    }
    while ((e = readdir(d))) {
        struct stat st;
        mode_t want;

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile */
        if (S_ISDIR(st.st_mode) && depth < 4) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int q = sub < 0 ? -errno : tighten_dir(s, sub, e->d_name, depth + 1);
            if (q < 0 && r == 0)
                r = q;
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        want = entry_mode(s, name, e->d_name, false);
        if ((st.st_mode & 07777) != want && fchmodat(dirfd(d), e->d_name, want, 0) < 0 && r == 0)
            r = -errno;
    }
    if (fchmod(dirfd(d), s->dir_mode) < 0 && r == 0)
        r = -errno;
    closedir(d);
    return r;
}

/* A store made by an older blocksnap (0755 directories, 0644 files) or
 * widened by hand is made private (or group-readable, see store.h) again
 * when its owner opens it.  The top directory's mode is set last, so
 * checking it alone tells whether there is anything to do. */
static void tighten_store(bsnap_store *s, const struct stat *top)
{
    int fd, r;

    if (top->st_uid != geteuid() || (top->st_mode & 07777) == s->dir_mode)
        return;
    fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    r = fd < 0 ? -errno : tighten_dir(s, fd, "", 0);
    if (r < 0 && r != -EROFS)
        bsnap_log(BSNAP_LOG_WARNING, "store", "store %s: cannot restrict its modes to %04o: %s",
                  s->path, (unsigned)s->dir_mode, strerror(-r));
    else
        bsnap_debug("store", "store %s: modes restricted to %04o and %04o", s->path,
                    (unsigned)s->dir_mode, (unsigned)s->file_mode);
}

static int create_store(bsnap_store *s, const bsnap_store_config *cfg)
{
    uint32_t cs = cfg && cfg->chunk_size ? cfg->chunk_size : BSNAP_CHUNK_SIZE_DEFAULT;
    /* The region is the store's own fact, kept in its config: never taken
     * from the directory's name, which a move or a copy changes. */
    const char *region = cfg && cfg->region ? cfg->region : "local";
    const char *account = cfg ? cfg->account : NULL;
    const char *dirs[] = {"meta", "packs", "pins", "keys"};
    int r;

    if (cs < BSNAP_CHUNK_SIZE_MIN || cs > BSNAP_CHUNK_SIZE_MAX || (cs & (cs - 1)))
        return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                      "chunk size %u is not a power of two from 4096 to 4194304",
                                      cs),
                           "ChunkSize");
    if (!region_name_valid(region))
        return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                      "region name '%s' is not 1 to 64 of [a-z0-9-]", region),
                           "Region");
    /* The account of whoever creates the store owns it (and, until
     * resources carry their own owner, everything in it). */
    if (account && (strlen(account) != 12 || strspn(account, "0123456789") != 12))
        return error_param(bsnap_fail(-EINVAL, "InvalidParameterValue",
                                      "account id '%.64s' is not 12 digits", account),
                           "OwnerId");
    s->format = STORE_FORMAT_VERSION;
    s->chunk_size = cs;
    s->pack_limit = STORE_PACK_LIMIT_DEFAULT;
    snprintf(s->region, sizeof s->region, "%s", region);
    snprintf(s->account, sizeof s->account, "%s", account ? account : STORE_ACCOUNT_DEFAULT);
    r = random_bytes(s->uuid, sizeof s->uuid);
    if (r < 0)
        return bsnap_fail(r, "Store.Error", "getrandom: %s", strerror(-r));
    s->uuid[6] = (uint8_t)((s->uuid[6] & 0x0f) | 0x40); /* version 4 */
    s->uuid[8] = (uint8_t)((s->uuid[8] & 0x3f) | 0x80);
    {
        char hex[33];
        hex_encode(s->uuid, 16, hex);
        snprintf(s->uuid_text, sizeof s->uuid_text, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
                 hex + 12, hex + 16, hex + 20);
    }
    r = random_bytes(s->secret, sizeof s->secret);
    if (r < 0)
        return bsnap_fail(r, "Store.Error", "getrandom: %s", strerror(-r));
    derive_page_secret(s);
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        _cleanup_free_ char *d = store_path(s, dirs[i]);
        if (!d)
            return -ENOMEM;
        if ((mkdir(d, s->dir_mode) < 0 && errno != EEXIST) || chmod(d, s->dir_mode) < 0)
            return bsnap_fail(-errno, "Store.Error", "store %s: mkdir %s: %m", s->path, dirs[i]);
    }
    /* The config goes last: a store without one was never finished. */
    r = write_config(s);
    if (r < 0)
        return bsnap_fail(r, r == -ENOSPC ? "Store.Full" : "Store.Error",
                          "store %s: writing config: %s", s->path, strerror(-r));
    return 0;
}

int store_reserve_release(bsnap_store *s)
{
    _cleanup_free_ char *p = store_path(s, STORE_RESERVE_NAME);

    if (!p)
        return -ENOMEM;
    if (unlink(p) < 0)
        return -errno;
    bsnap_debug("store", "store %s: reserve released", s->path);
    return 0;
}

void store_reserve_make(bsnap_store *s)
{
    _cleanup_free_ char *p = store_path(s, STORE_RESERVE_NAME);
    _cleanup_free_ char *tmp = store_path(s, STORE_RESERVE_NAME ".tmp");
    int fd, r;

    if (!p || !tmp || access(p, F_OK) == 0)
        return;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    /* Blocks really taken (not a sparse file), or it reserves nothing. */
    r = posix_fallocate(fd, 0, STORE_RESERVE_BYTES);
    if (r == 0 && store_fchmod(s, fd) < 0)
        r = errno;
    close(fd);
    if (r != 0 || rename(tmp, p) < 0) {
        unlink(tmp);
        bsnap_debug("store", "store %s: no reserve: %s", s->path, strerror(r ? r : errno));
        return;
    }
    bsnap_debug("store", "store %s: reserve of %u bytes made", s->path, STORE_RESERVE_BYTES);
}

void bsnap_store_close(bsnap_store *s)
{
    if (!s)
        return;
    if (s->base) { /* a view: everything but itself is the base's */
        free(s);
        return;
    }
    page_cache_free(s->pages);
    pack_cache_free(s->packs);
    crypt_ring_free(s->ring);
    meta_close(s->meta);
    free(s->path);
    free(s->packs_dir);
    free(s->pins_dir);
    free(s);
}

/* Private to store_open_nometa(): no metadata. */
#define STORE_NOMETA (1u << 31)

int bsnap_store_open(const char *path, unsigned flags, const bsnap_store_config *config,
                     bsnap_store **ret_store)
{
    bsnap_store *s = calloc(1, sizeof *s);
    _cleanup_free_ char *cfg_path = NULL, *meta_dir = NULL, *text = NULL;
    struct stat st;
    size_t len;
    int r;

    bsnap_error_clear();
    if (!s)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    s->flags = flags;
    s->path = strdup(path);
    if (!s->path) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto fail;
    }
    /* Strip trailing slashes so messages and region names read well. */
    for (size_t n = strlen(s->path); n > 1 && s->path[n - 1] == '/'; n--)
        s->path[n - 1] = '\0';
    cfg_path = store_path(s, "config");
    meta_dir = store_path(s, "meta");
    s->packs_dir = store_path(s, "packs");
    s->pins_dir = store_path(s, "pins");
    if (!cfg_path || !meta_dir || !s->packs_dir || !s->pins_dir) {
        r = bsnap_fail(-ENOMEM, "InternalError", "out of memory");
        goto fail;
    }

    if (stat(s->path, &st) < 0) {
        if (errno != ENOENT || !(flags & BSNAP_STORE_CREATE)) {
            r = bsnap_fail(-errno, errno == ENOENT ? "Store.NotFound" : "Store.Error",
                           "store %s: %m", s->path);
            goto fail;
        }
        r = mkdir_p(s->path);
        if (r < 0 || stat(s->path, &st) < 0) {
            r = r < 0 ? r : -errno;
            r = bsnap_fail(r, "Store.Error", "store %s: cannot create: %s", s->path, strerror(-r));
            goto fail;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        r = bsnap_fail(-ENOTDIR, "Store.Invalid", "store %s is not a directory", s->path);
        goto fail;
    }

    store_modes(s, st.st_mode);

    if (access(cfg_path, F_OK) < 0) {
        if (!(flags & BSNAP_STORE_CREATE)) {
            r = bsnap_fail(-ENOENT, dir_is_empty(s->path) ? "Store.NotFound" : "Store.Invalid",
                           "%s is not a blocksnap store (no config file)", s->path);
            goto fail;
        }
        if (!dir_is_empty(s->path)) {
            r = bsnap_fail(-EEXIST, "Store.Invalid",
                           "%s is not a blocksnap store and not empty: refusing to create one "
                           "there",
                           s->path);
            goto fail;
        }
        r = create_store(s, config);
        if (r < 0)
            goto fail;
    } else {
        r = file_read_all(cfg_path, CONFIG_MAX, &text, &len);
        if (r < 0) {
            r = bsnap_fail(r, "Store.Invalid", "store %s: reading config: %s", s->path,
                           strerror(-r));
            goto fail;
        }
        if (strlen(text) != len) {
            r = bsnap_fail(-EINVAL, "Store.Invalid", "store %s: config is not text", s->path);
            goto fail;
        }
        r = parse_config(s, text);
        if (r < 0)
            goto fail;
        /* Packs but no metadata: the index was lost (deleted, not copied).
         * Opening would create an empty one and show an empty store. */
        _cleanup_free_ char *mdb = store_path(s, "meta/data.mdb");
        if (!(flags & STORE_NOMETA) && mdb && access(mdb, F_OK) < 0 && errno == ENOENT &&
            !dir_is_empty(s->packs_dir)) {
            r = bsnap_fail(-EIO, "Store.Corrupt",
                           "store %s: packs without metadata (meta/data.mdb is missing)", s->path);
            goto fail;
        }
    }

    r = flags & STORE_NOMETA ? 0 : meta_open(meta_dir, flags & BSNAP_STORE_RDONLY, &s->meta);
    if (r < 0) {
        bsnap_fail_prefix("store %s", s->path);
        goto fail;
    }
    if (s->file_mode != 0600 && st.st_uid == geteuid() && !(flags & STORE_NOMETA)) {
        /* liblmdb created its files 0600 (see store.h); only when they
         * differ: a chmod gives data.mdb a new ctime, and with it a walk of
         * the structure check (meta.c, "the verified state") */
        _cleanup_free_ char *data = store_path(s, "meta/data.mdb");
        _cleanup_free_ char *lock = store_path(s, "meta/lock.mdb");
        struct stat fs;
        if (data && (stat(data, &fs) < 0 || (fs.st_mode & 07777) != s->file_mode))
            (void)chmod(data, s->file_mode);
        if (lock && (stat(lock, &fs) < 0 || (fs.st_mode & 07777) != 0660))
            (void)chmod(lock, 0660);
    }
    tighten_store(s, &st);
    if (!(flags & (BSNAP_STORE_RDONLY | STORE_NOMETA)))
        store_reserve_make(s);
    r = pack_cache_new(&s->packs);
    if (r < 0)
        goto fail;
    r = page_cache_new(256, &s->pages);
    if (r < 0)
        goto fail;
    r = crypt_ring_new(&s->ring);
    if (r < 0)
        goto fail;
    snprintf(s->caller, sizeof s->caller, "%s", s->account);
    *ret_store = s;
    return 0;

fail:
    bsnap_store_close(s);
    return r;
}

int store_open_nometa(const char *path, bsnap_store **ret_store)
{
    return bsnap_store_open(path, STORE_NOMETA, NULL, ret_store);
}

/* How often a lock waiter looks at its cancel flag, and how long it waits
 * before it says what it waits for. */
#define LOCK_POLL_MS 50
#define LOCK_QUIET_MS 1000

int store_lock(bsnap_store *s, bool exclusive, const bsnap_run_options *run, int *ret_fd)
{
    _cleanup_free_ char *p = store_path(s, "lock");
    const struct timespec poll = {.tv_nsec = LOCK_POLL_MS * 1000000L};
    unsigned waited = 0;
    int fd;

    if (!p)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    /* Always 0600, even in a shared store: only writers take it, and
     * anyone who can open it can hold it and stall them. */
    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EROFS)
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return bsnap_fail(-errno, errno == EACCES ? "Store.AccessDenied" : "Store.Error",
                          "store %s: lock file: %m", s->path);
    /* Not a blocking flock(): a signal would not end that wait (the CLI's
     * handler restarts it), and the caller's cancel flag must. */
    while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
        int e = errno;
        if (e != EWOULDBLOCK && e != EINTR) {
            close(fd);
            return bsnap_fail(-e, "Store.Error", "store %s: lock: %s", s->path, strerror(e));
        }
        if (run && run->cancel && *run->cancel) {
            close(fd);
            return bsnap_fail(-ECANCELED, "Cancelled",
                              "interrupted while waiting for the lock of store %s", s->path);
        }
        if (waited == LOCK_QUIET_MS)
            bsnap_log(BSNAP_LOG_NOTICE, "store",
                      "store %s: waiting for its lock, held by another process (%s)", s->path,
                      exclusive ? "a snapshot, gc or repair" : "a gc or repair");
        nanosleep(&poll, NULL);
        waited += LOCK_POLL_MS;
    }
    *ret_fd = fd;
    return 0;
}

void store_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the description drops the flock */
}
