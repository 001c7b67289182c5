/* main.c - mount, serve and unmount the FUSE view.
 *
 * The order matters:
 *  1. check everything that can be checked while the user still sees our
 *     stderr: the mountpoint, /dev/fuse, fusermount3, the store and the
 *     snapshot (the store is opened and closed again for that);
 *  2. create the session and mount, so mount errors reach the terminal;
 *  3. daemonize (unless --foreground): fork, and let the parent wait on a
 *     pipe until the daemon says it serves or why it could not;
 *  4. only then open the store for serving (an LMDB environment must not
 *     cross fork()) and start the cache's threads (threads do not survive
 *     fork() either);
 *  5. run the multithreaded loop until unmounted or signalled.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "bsfront.h"
#include "fs.h"

#define DEFAULT_CACHE_SIZE (256ull << 20)
#define READAHEAD_WORKERS 2
#define MAX_THREADS 16
#define READAHEAD_KB (2 * MAX_READ / 1024) /* the kernel's window once widened */

static int fail(bsnap_fuse_error *err, int e, const char *code, const char *fmt, ...)
    BSNAP_PRINTF(4, 5);

static int fail(bsnap_fuse_error *err, int e, const char *code, const char *fmt, ...)
{
    va_list ap;
    err->err = e;
    snprintf(err->code, sizeof(err->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return e;
}

static int fail_engine(bsnap_fuse_error *err, int e)
{
    const bsnap_error *le = bsnap_last_error();
    char *msg = NULL;
    int r;

    /* the mount runs under the CLI: the engine's names in its words */
    if (bsf_error_message(le, bsf_cli_word, NULL, &msg) < 0)
        msg = NULL;
    r = fail(err, e, le->code[0] ? le->code : "InternalError", "%s",
             msg && msg[0] ? msg : strerror(-e));
    free(msg);
    return r;
}

/* ---- checks ---- */

/* Undo the octal escapes of /proc/self/mountinfo (\040 for a space...). */
static void unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* Whether @path (canonical) is a mount point; its file system type goes to
 * @fstype and, if @dev is not NULL, its device number ("MAJ:MIN") to @dev
 * (DEV_LEN bytes).  Returns 1, 0 or a negative errno. */
#define DEV_LEN 32
static int mounted_at(const char *path, char *fstype, size_t fslen, char *dev)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t cap = 0;
    int found = 0;

    if (!f)
        return -errno;
    while (getline(&line, &cap, f) > 0) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE ... */
        char *save = NULL, *field[5];
        char *tok = strtok_r(line, " ", &save);
        int i;
        for (i = 0; i < 5 && tok; i++) {
            field[i] = tok;
            if (i < 4)
                tok = strtok_r(NULL, " ", &save);
        }
        if (i < 5)
            continue;
        unescape(field[4]);
        if (strcmp(field[4], path) != 0)
            continue;
        found = 1;
        char *type = NULL;
        while ((tok = strtok_r(NULL, " ", &save)))
            if (strcmp(tok, "-") == 0) {
                type = strtok_r(NULL, " ", &save);
                break;
            }
        snprintf(fstype, fslen, "%s", type ? type : "?");
        if (dev)
            snprintf(dev, DEV_LEN, "%s", field[2]);
        /* keep going: the last mount over a path is the visible one */
    }
    free(line);
    fclose(f);
    return found;
}

/* The kernel reads ahead 128 KiB at a time on a FUSE mount, whatever
 * max_read says, so a sequential read arrives as 128 KiB requests, each a
 * round trip.  Root may widen the window of this mount's backing device;
 * others keep the kernel's default (nothing to report). */
void fs_widen_readahead(struct fs *fs)
{
    char fstype[64], dev[DEV_LEN], path[96];
    if (atomic_exchange(&fs->ra_widened, true))
        return;
    if (mounted_at(fs->mountpoint, fstype, sizeof(fstype), dev) != 1)
        return;
    snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char kb[16];
    int n = snprintf(kb, sizeof(kb), "%u", READAHEAD_KB);
    if (write(fd, kb, (size_t)n) != n)
        fuse_log(FUSE_LOG_DEBUG, "blocksnap: cannot set %s: %s\n", path, strerror(errno));
    close(fd);
}

static bool executable_in(const char *dir, const char *name)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, X_OK) == 0;
}

/* Where libfuse looks for fusermount3: its install directory, then PATH. */
static bool have_fusermount(char *ret_path, size_t len)
{
    static const char name[] = "fusermount3";
    if (executable_in("/usr/bin", name)) {
        snprintf(ret_path, len, "/usr/bin/%s", name);
        return true;
    }
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : ""), *save = NULL;
    bool ok = false;
    for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d && !ok;
         d = strtok_r(NULL, ":", &save))
        if (*d && executable_in(d, name)) {
            snprintf(ret_path, len, "%s/%s", d, name);
            ok = true;
        }
    free(copy);
    return ok;
}

static int check_mountpoint(const bsnap_mount_options *o, bool *ret_is_file, char *real,
                            bsnap_fuse_error *err)
{
    struct stat st;
    char fstype[64];

    if (stat(o->mountpoint, &st) < 0) {
        int e = errno;
        if (e == ENOENT)
            return fail(err, -ENOENT, "Mountpoint.NotFound", "mountpoint %s does not exist",
                        o->mountpoint);
        if (e == ENOTCONN)
            return fail(err, -EBUSY, "Mountpoint.Busy",
                        "mountpoint %s is busy: a mount whose daemon died is still there "
                        "(run 'blocksnap umount %s')",
                        o->mountpoint, o->mountpoint);
        return fail(err, -e, "Mountpoint.Invalid", "mountpoint %s: %s", o->mountpoint, strerror(e));
    }
    if (S_ISREG(st.st_mode) && !o->snapshot_id)
        return fail(err, -ENOTDIR, "Mountpoint.Invalid",
                    "mountpoint %s is a file: a file can hold one snapshot (--snapshot-id), "
                    "a store needs a directory",
                    o->mountpoint);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return fail(err, -ENOTDIR, "Mountpoint.Invalid",
                    "mountpoint %s is neither a directory nor a regular file", o->mountpoint);
    if (!realpath(o->mountpoint, real))
        return fail(err, -errno, "Mountpoint.Invalid", "mountpoint %s: %s", o->mountpoint,
                    strerror(errno));
    int m = mounted_at(real, fstype, sizeof(fstype), NULL);
    if (m > 0) {
        /* stat() may be answered from cached attributes: opening reaches
         * the file system, and a FUSE mount whose daemon died says so. */
        int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && errno == ENOTCONN)
            return fail(err, -EBUSY, "Mountpoint.Busy",
                        "mountpoint %s is busy: a mount whose daemon died is still there "
                        "(run 'blocksnap umount %s')",
                        o->mountpoint, o->mountpoint);
        if (fd >= 0)
            close(fd);
        return fail(err, -EBUSY, "Mountpoint.Busy",
                    "mountpoint %s is busy: a %s file system is already mounted there",
                    o->mountpoint, fstype);
    }
    *ret_is_file = S_ISREG(st.st_mode);
    return 0;
}

static int check_fuse(bsnap_fuse_error *err)
{
    struct stat st;
    char fm[PATH_MAX];

    if (stat("/dev/fuse", &st) < 0 || !S_ISCHR(st.st_mode))
        return fail(err, -ENODEV, "Fuse.DeviceMissing",
                    "no /dev/fuse: the fuse kernel module is not loaded (modprobe fuse), or "
                    "this container has no access to it");
    if (geteuid() == 0) {
        /* root mounts with mount(2) itself and opens the device */
        int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
        if (fd < 0)
            return fail(err, -errno, "Fuse.DeviceMissing", "cannot open /dev/fuse: %s",
                        strerror(errno));
        close(fd);
    } else if (!have_fusermount(fm, sizeof(fm))) {
        return fail(err, -ENOENT, "Fuse.FusermountMissing",
                    "fusermount3 not found in /usr/bin or PATH: mounting without root needs "
                    "it (install the fuse3 package)");
    } else if (access("/dev/fuse", R_OK | W_OK) < 0) {
        /* libfuse opens the device itself before it turns to fusermount3,
         * and gives up if it may not */
        return fail(err, -EACCES, "Fuse.PermissionDenied",
                    "/dev/fuse is not readable and writable by this user (mode %o); it is "
                    "normally 0666",
                    (unsigned)(st.st_mode & 07777));
    }
    return 0;
}

/* Whether the resolved path @real is the store's directory or lies under
 * it, compared by device and inode so that another name of the store's
 * directory (a bind mount, a symlinked parent) counts too.  A mount there
 * would hide the store's own files from the daemon (its reads fail) and
 * from every other process using the store while it lasts. */
static bool inside_store(const char *store_path, const char *real)
{
    struct stat store, st;
    char p[PATH_MAX];

    if (stat(store_path, &store) < 0)
        return false;
    snprintf(p, sizeof(p), "%s", real);
    for (;;) {
        if (stat(p, &st) == 0 && st.st_dev == store.st_dev && st.st_ino == store.st_ino)
            return true;
        char *slash = strrchr(p, '/');
        if (!slash || (slash == p && p[1] == '\0'))
            return false;
        slash[slash == p] = '\0'; /* "/a/b" -> "/a", "/a" -> "/" */
    }
}

static int check_store(const bsnap_mount_options *o, bsnap_fuse_error *err)
{
    bsnap_store *store;
    bsnap_snapshot_info info;
    int e = bsnap_store_open(o->store_path, BSNAP_STORE_RDONLY, NULL, &store);
    if (e < 0)
        return fail_engine(err, e);
    if (o->account && (e = bsnap_store_set_account(store, o->account)) < 0)
        fail_engine(err, e);
    else if (o->snapshot_id) {
        bsnap_reader *r;
        e = bsnap_snapshot_get(store, o->snapshot_id, &info);
        if (e < 0)
            fail_engine(err, e);
        else if (info.state != BSNAP_SNAPSHOT_COMPLETED)
            e = fail(err, -EBUSY, "IncorrectState", "snapshot %s is not completed", o->snapshot_id);
        else if (info.encrypted &&
                 (e = bsnap_reader_open_flags(store, o->snapshot_id, BSNAP_READER_NOPIN, &r)) < 0)
            fail_engine(err, e); /* its key is not at hand: say so now */
        else if (info.encrypted)
            bsnap_reader_close(r);
    }
    bsnap_store_close(store);
    return e;
}

/* ---- logging once detached ---- */

static void syslog_engine(void *ud, int level, const char *category, const char *msg)
{
    (void)ud; /* debug lines come only for the categories BLOCKSNAP_DEBUG names */
    syslog(level, "%s: %s", category, msg);
}

static void syslog_fuse(enum fuse_log_level level, const char *fmt, va_list ap)
{
    vsyslog((int)level, fmt, ap);
}

static void stderr_engine(void *ud, int level, const char *category, const char *msg)
{
    (void)ud;
    fprintf(stderr, "blocksnap: %s%s: %s\n", level <= BSNAP_LOG_ERR ? "error: " : "", category,
            msg);
}

/* ---- serving ---- */

/* Whether BLOCKSNAP_DEBUG (comma separated, or "all") names @cat. */
static bool debug_enabled(const char *cat)
{
    const char *v = getenv("BLOCKSNAP_DEBUG");
    size_t n = strlen(cat);
    for (const char *p = v; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if ((len == n && strncmp(p, cat, n) == 0) || (len == 3 && strncmp(p, "all", 3) == 0))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static void close_stdio(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
}

static void send_status(int fd, const bsnap_fuse_error *st)
{
    if (fd < 0)
        return;
    const char *p = (const char *)st;
    size_t left = sizeof(*st);
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    close(fd);
}

/* Open the store and serve until the mount goes away.  @status_fd: the
 * pipe to the waiting parent, or -1 in the foreground. */
static int serve(struct fuse_session *se, struct fs *fs, const bsnap_mount_options *o,
                 int status_fd, bsnap_fuse_error *err)
{
    bsnap_fuse_error ok = {0};
    int e;

    /* Opened for writing although the view only reads: an open file's
     * reader records a pin in the store, which keeps its snapshot's chunks
     * from delete and gc.  A store we may not write is served without pins
     * (then reads of a deleted snapshot fail with EIO, never other data). */
    e = bsnap_store_open(o->store_path, 0, NULL, &fs->store);
    if (e == -EACCES || e == -EROFS || e == -EPERM) {
        fuse_log(FUSE_LOG_WARNING,
                 "blocksnap: store %s is read-only to us: open files do not pin their "
                 "snapshots\n",
                 o->store_path);
        e = bsnap_store_open(o->store_path, BSNAP_STORE_RDONLY, NULL, &fs->store);
    }
    /* The view is the account's: what it owns and what is shared with it.
     * Every listing and lookup asks the engine, which applies the rule. */
    if (e == 0 && o->account)
        e = bsnap_store_set_account(fs->store, o->account);
    if (e < 0) {
        fail_engine(err, e);
        goto out;
    }
    e = tree_init(fs);
    if (e < 0) {
        fail_engine(err, e);
        goto out;
    }
    uint64_t cache_size = o->cache_size ? o->cache_size : DEFAULT_CACHE_SIZE;
    fs->ra_bytes = cache_size / 4 < READAHEAD_BYTES ? cache_size / 4 : READAHEAD_BYTES;
    fs->cache = cache_new(cache_size, READAHEAD_WORKERS);
    if (!fs->cache) {
        e = fail(err, -ENOMEM, "InternalError", "out of memory");
        goto out;
    }

    if (status_fd >= 0) {
        openlog("blocksnap", LOG_PID, LOG_DAEMON);
        bsnap_set_log_func(syslog_engine, NULL);
        fuse_set_log_func(syslog_fuse);
        send_status(status_fd, &ok);
        status_fd = -1;
        close_stdio();
    } else {
        bsnap_set_log_func(stderr_engine, NULL);
    }

    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    if (!cfg) {
        e = fail(err, -ENOMEM, "InternalError", "out of memory");
        goto out;
    }
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, MAX_THREADS);
    e = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    if (debug_enabled("fuse")) {
        struct cache_stats st;
        cache_get_stats(fs->cache, &st);
        fuse_log(FUSE_LOG_DEBUG,
                 "blocksnap: fuse: cache: %llu hits, %llu misses, %llu prefetched, %llu "
                 "prefetches dropped, %llu evicted, %llu entries, %llu bytes\n",
                 (unsigned long long)st.hits, (unsigned long long)st.misses,
                 (unsigned long long)st.prefetched, (unsigned long long)st.dropped,
                 (unsigned long long)st.evicted, (unsigned long long)st.entries,
                 (unsigned long long)st.bytes);
    }
    if (e > 0)
        e = 0; /* ended by a signal (SIGINT, SIGTERM): a clean stop */
    else if (e < 0)
        fail(err, e, "Mount.Failed", "the FUSE loop failed: %s", strerror(-e));

out:
    if (status_fd >= 0)
        send_status(status_fd, err);
    fuse_session_unmount(se);
    return e;
}

static void fs_free(struct fs *fs)
{
    cache_free(fs->cache); /* drops queued readahead: its sources */
    fs_close_handles(fs);  /* files left open when a signal ended the loop */
    tree_free(fs);
    bsnap_store_close(fs->store);
    pthread_mutex_destroy(&fs->lock);
    pthread_mutex_destroy(&fs->rw_lock);
    free(fs);
}

int bsnap_fuse_mount(const bsnap_mount_options *o, bsnap_fuse_error *err)
{
    char real[PATH_MAX], opts[256];
    bool is_file = false, foreground = o->foreground || o->debug;
    int e;

    memset(err, 0, sizeof(*err));
    /* A damaged metadata file fails reads with EIO instead of killing the
     * daemon (blocksnap.h); the setting goes with the daemon's fork. */
    if ((e = bsnap_set_fault_guard(true)) < 0)
        return fail_engine(err, e);
    if ((e = check_mountpoint(o, &is_file, real, err)) < 0)
        return e;
    if ((e = check_fuse(err)) < 0)
        return e;
    if ((e = check_store(o, err)) < 0)
        return e;
    if (inside_store(o->store_path, real))
        return fail(err, -EINVAL, "Mountpoint.Invalid",
                    "mountpoint %s is inside the store %s: a mount there would hide the "
                    "store's own files",
                    o->mountpoint, o->store_path);

    /* The daemon works from "/": hold on to the store by its full path. */
    char store_real[PATH_MAX];
    bsnap_mount_options opts_abs = *o;
    if (realpath(o->store_path, store_real))
        opts_abs.store_path = store_real;
    o = &opts_abs;

    struct fs *fs = calloc(1, sizeof(*fs));
    if (!fs)
        return fail(err, -ENOMEM, "InternalError", "out of memory");
    pthread_mutex_init(&fs->lock, NULL);
    pthread_mutex_init(&fs->rw_lock, NULL);
    fs->single_id = o->snapshot_id;
    snprintf(fs->mountpoint, sizeof(fs->mountpoint), "%s", real);
    fs->root_is_file = is_file;
    fs->uid = getuid();
    fs->gid = getgid();
    clock_gettime(CLOCK_REALTIME, &fs->started);

    snprintf(opts, sizeof(opts),
             "default_permissions,fsname=blocksnap,subtype=blocksnap,max_read=%u%s", MAX_READ,
             o->allow_other ? ",allow_other" : "");
    char *argv[] = {"blocksnap", "-o", opts, o->debug ? "-d" : NULL, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 4 : 3, argv);
    struct fuse_session *se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
    fuse_opt_free_args(&args);
    if (!se) {
        fs_free(fs);
        return fail(err, -EINVAL, "Mount.Failed", "cannot create a FUSE session");
    }
    fs->se = se;
    if (fuse_set_signal_handlers(se) != 0) {
        fuse_session_destroy(se);
        fs_free(fs);
        return fail(err, -EIO, "Mount.Failed", "cannot install signal handlers");
    }
    if (fuse_session_mount(se, real) != 0) {
        fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
        fs_free(fs);
        return fail(err, -EIO, "Mount.Failed",
                    "cannot mount at %s (the line above says why; without root, "
                    "--allow-other needs user_allow_other in /etc/fuse.conf)",
                    o->mountpoint);
    }

    int status_fd = -1;
    if (!foreground) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            e = fail(err, -errno, "Mount.Failed", "pipe: %s", strerror(errno));
            goto unmount;
        }
        pid_t pid = fork();
        if (pid < 0) {
            e = fail(err, -errno, "Mount.Failed", "fork: %s", strerror(errno));
            close(p[0]);
            close(p[1]);
            goto unmount;
        }
        if (pid > 0) {
            /* The parent: wait for the daemon's word, then leave without
             * touching the session (the daemon owns the mount now). */
            bsnap_fuse_error st;
            size_t got = 0;
            close(p[1]);
            while (got < sizeof(st)) {
                /* io-ok: a few bytes from a pipe, once per mount */
                ssize_t n = read(p[0], (char *)&st + got, sizeof(st) - got);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    break;
                got += (size_t)n;
            }
            close(p[0]);
            if (got != sizeof(st))
                return fail(err, -EIO, "Mount.Failed",
                            "the daemon exited before it served (see the system log)");
            if (st.err < 0) {
                waitpid(pid, NULL, 0);
                *err = st;
                return st.err;
            }
            return 0;
        }
        close(p[0]);
        status_fd = p[1];
        setsid();
        if (chdir("/") < 0) {
            /* "/" always exists; nothing sensible to do otherwise */
        }
    }

    e = serve(se, fs, o, status_fd, err);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    fs_free(fs);
    if (!foreground)
        _exit(e < 0 ? 1 : 0); /* the daemon: nobody to return to */
    return e;

unmount:
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    fs_free(fs);
    return e;
}

/* ---- umount ---- */

int bsnap_fuse_umount(const char *mountpoint, bsnap_fuse_error *err)
{
    struct stat st;
    char real[PATH_MAX], fstype[64], fm[PATH_MAX];

    memset(err, 0, sizeof(*err));
    if (stat(mountpoint, &st) < 0 && errno != ENOTCONN)
        return fail(err, -errno, errno == ENOENT ? "Mountpoint.NotFound" : "Mountpoint.Invalid",
                    "mountpoint %s: %s", mountpoint,
                    errno == ENOENT ? "does not exist" : strerror(errno));
    /* realpath() fails on a dead mount (ENOTCONN): canonicalise the parent */
    if (!realpath(mountpoint, real)) {
        char *copy = strdup(mountpoint), *slash;
        if (!copy)
            return fail(err, -ENOMEM, "InternalError", "out of memory");
        slash = strrchr(copy, '/');
        const char *base = slash ? slash + 1 : copy;
        char parent[PATH_MAX];
        if (slash)
            *slash = '\0';
        if (!realpath(slash ? (*copy ? copy : "/") : ".", parent)) {
            free(copy);
            return fail(err, -errno, "Mountpoint.Invalid", "mountpoint %s: %s", mountpoint,
                        strerror(errno));
        }
        int n = snprintf(real, sizeof(real), "%s/%s", strcmp(parent, "/") ? parent : "", base);
        free(copy);
        if (n < 0 || (size_t)n >= sizeof(real))
            return fail(err, -ENAMETOOLONG, "Mountpoint.Invalid", "mountpoint %s: %s", mountpoint,
                        strerror(ENAMETOOLONG));
    }
    int m = mounted_at(real, fstype, sizeof(fstype), NULL);
    if (m <= 0)
        return fail(err, -EINVAL, "Mountpoint.NotMounted", "nothing is mounted at %s", mountpoint);
    if (strcmp(fstype, "fuse.blocksnap") != 0)
        return fail(err, -EINVAL, "Mountpoint.Invalid", "%s is not a blocksnap mount (it is %s)",
                    mountpoint, fstype);

    if (!have_fusermount(fm, sizeof(fm))) {
        if (geteuid() != 0)
            return fail(err, -ENOENT, "Fuse.FusermountMissing",
                        "fusermount3 not found in /usr/bin or PATH (install the fuse3 "
                        "package)");
        if (umount2(real, UMOUNT_NOFOLLOW) < 0)
            return fail(err, errno == EBUSY ? -EBUSY : -errno,
                        errno == EBUSY ? "Mountpoint.Busy" : "Mount.Failed",
                        "cannot unmount %s: %s", mountpoint,
                        errno == EBUSY ? "busy (a file in it is open)" : strerror(errno));
        return 0;
    }

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return fail(err, -errno, "Mount.Failed", "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return fail(err, -errno, "Mount.Failed", "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        execl(fm, "fusermount3", "-u", "--", real, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char out[512];
    size_t got = 0;
    for (;;) {
        /* io-ok: fusermount3's message from a pipe, once per unmount */
        ssize_t n = read(p[0], out + got, sizeof(out) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof(out) - 1)
            break;
    }
    out[got] = '\0';
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
    if (strstr(out, "busy"))
        return fail(err, -EBUSY, "Mountpoint.Busy",
                    "cannot unmount %s: busy (a file in it is open)", mountpoint);
    return fail(err, -EIO, "Mount.Failed", "cannot unmount %s: %s", mountpoint,
                out[0] ? out : "fusermount3 failed");
}

int bsnap_fuse_parse_size(const char *text, uint64_t *ret)
{
    char *end;
    if (!text || !*text || *text == '-')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text)
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        break;
    }
    if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (*end || v > (UINT64_MAX >> shift))
        return -EINVAL;
    *ret = (uint64_t)v << shift;
    return 0;
}
