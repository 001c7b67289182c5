/* powerloss.c - an LD_PRELOAD shim that lets a test simulate power loss.
 *
 * For every write to a regular file under $BSNAP_PL_DIR (a directory
 * prefix) it appends an undo record to $BSNAP_PL_LOG before the write
 * happens: the file, the offset, the file's size and the bytes the write
 * replaces.  fsync() and fdatasync() of a file append a sync record: the
 * writes before it are durable.  Writes through an O_SYNC / O_DSYNC fd are
 * durable at once and not logged.  After the process died (SIGKILL, at a
 * fault point or at a random moment), tests/tools/powerloss-apply rolls
 * every file back through the records after its last sync, which leaves
 * the files as a power cut at that moment could have: only synced bytes
 * survive.
 *
 * $BSNAP_PL_LIE, when set, names a substring of paths whose syncs are not
 * honoured (no sync record): the negative control, showing that the check
 * catches an engine that names data before it is durable.
 *
 * Not modelled: directory entries (create, rename, unlink are taken as
 * durable at once) and writes through shared mappings.
 *
 * Log record: type (1 byte: 'W' write, 'T' truncate, 'S' sync), path
 * length (u32), offset (u64), old size (u64), length written or cut (u64),
 * length of the old data kept (u64), the path, the old data; the host's
 * byte order.  $BSNAP_PL_DIR may list several prefixes, separated by ':'.
 */
/* Each symbol under its own name: no pwrite -> pwrite64 redirection. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t pl_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long pl_writes, pl_syncs; /* under pl_lock */

/* $BSNAP_PL_KILL_WRITE=N: SIGKILL right after the Nth tracked write, and
 * $BSNAP_PL_KILL_SYNC=N: right before the Nth tracked sync: the moments
 * with the most unsynced data in flight. */
static void maybe_kill(const char *var, unsigned long n)
{
    const char *v = getenv(var);
    if (v && *v && strtoul(v, NULL, 10) == n)
        kill(getpid(), SIGKILL);
}

#define REAL(name) real_##name
#define DECLARE_REAL(ret, name, ...)                                    \
    static ret (*real_##name)(__VA_ARGS__);                             \
    static void load_##name(void)                                       \
    {                                                                   \
        if (!real_##name)                                               \
            real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name); \
    }

DECLARE_REAL(ssize_t, write, int, const void *, size_t)
DECLARE_REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
DECLARE_REAL(ssize_t, pwrite64, int, const void *, size_t, off_t)
DECLARE_REAL(ssize_t, writev, int, const struct iovec *, int)
DECLARE_REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t)
DECLARE_REAL(ssize_t, pwritev64, int, const struct iovec *, int, off_t)
DECLARE_REAL(int, ftruncate, int, off_t)
DECLARE_REAL(int, ftruncate64, int, off_t)
DECLARE_REAL(int, fsync, int)
DECLARE_REAL(int, fdatasync, int)

/* The path of @fd if it is a regular file under $BSNAP_PL_DIR that is not
 * opened for synchronous writes; false otherwise. */
static bool tracked(int fd, char path[PATH_MAX], bool for_write)
{
    const char *dir = getenv("BSNAP_PL_DIR");
    char link[64];
    struct stat st;
    ssize_t n;

    if (!dir || !*dir || !getenv("BSNAP_PL_LOG"))
        return false;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    if (for_write) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & (O_SYNC | O_DSYNC)))
            return false;
    }
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, PATH_MAX - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    /* $BSNAP_PL_DIR is a list of prefixes separated by ':' */
    for (const char *p = dir; *p;) {
        size_t len = strcspn(p, ":");
        if (len > 0 && strncmp(path, p, len) == 0)
            return true;
        p += len;
        if (*p == ':')
            p++;
    }
    return false;
}

static void log_append(const void *buf, size_t len)
{
    const char *logp = getenv("BSNAP_PL_LOG");
    int fd;

    load_write();
    fd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror("powerloss: open log");
        abort();
    }
    /* one write() per record: a kill never leaves half of one */
    if (REAL(write)(fd, buf, len) != (ssize_t)len) {
        perror("powerloss: write log");
        abort();
    }
    close(fd);
}

/* Log the bytes [off, off + len) of @fd and its size before they change. */
static void log_record(char type, int fd, const char *path, uint64_t off, uint64_t len)
{
    struct stat st;
    uint64_t size, have;
    uint32_t plen = (uint32_t)strlen(path);
    size_t hdr = 1 + 4 + 8 + 8 + 8 + 8, total;
    uint8_t *rec;
    int rfd;

    if (fstat(fd, &st) < 0)
        return;
    size = (uint64_t)st.st_size;
    have = type == 'S' || off >= size ? 0 : (off + len > size ? size - off : len);
    total = hdr + plen + have;
    rec = malloc(total);
    if (!rec)
        abort();
    rec[0] = (uint8_t)type;
    memcpy(rec + 1, &plen, 4);
    memcpy(rec + 5, &off, 8);
    memcpy(rec + 13, &size, 8);
    memcpy(rec + 21, &len, 8);
    memcpy(rec + 29, &have, 8);
    memcpy(rec + hdr, path, plen);
    if (have > 0) {
        rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (rfd < 0 && errno == ENOENT) {
            /* An unnamed file (O_TMPFILE, or unlinked): a power cut takes it
             * whole, so there is nothing to roll back. */
            free(rec);
            return;
        }
        if (rfd < 0 || pread(rfd, rec + hdr + plen, have, (off_t)off) != (ssize_t)have) {
            perror("powerloss: read old data");
            abort();
        }
        close(rfd);
    }
    log_append(rec, total);
    free(rec);
}

/* Returns true if the write is tracked (and counted). */
static bool before_write(int fd, int64_t off, uint64_t len)
{
    char path[PATH_MAX];

    if (len == 0 || !tracked(fd, path, true))
        return false;
    if (off < 0) { /* write()/writev() at the file position or the end */
        int fl = fcntl(fd, F_GETFL);
        struct stat st;
        if (fl >= 0 && (fl & O_APPEND) && fstat(fd, &st) == 0)
            off = st.st_size;
        else
            off = lseek(fd, 0, SEEK_CUR);
        if (off < 0)
            return false;
    }
    log_record('W', fd, path, (uint64_t)off, len);
    return true;
}

static size_t iov_len(const struct iovec *iov, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

#define WRAP_WRITE(call, fd, off, len)                  \
    ssize_t r;                                          \
    bool counted;                                       \
    pthread_mutex_lock(&pl_lock);                       \
    counted = before_write(fd, off, len);               \
    r = call;                                           \
    if (counted)                                        \
        maybe_kill("BSNAP_PL_KILL_WRITE", ++pl_writes); \
    pthread_mutex_unlock(&pl_lock);                     \
    return r

ssize_t write(int fd, const void *buf, size_t n)
{
    load_write();
    WRAP_WRITE(REAL(write)(fd, buf, n), fd, -1, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    load_pwrite();
    WRAP_WRITE(REAL(pwrite)(fd, buf, n, off), fd, off, n);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    load_pwrite64();
    WRAP_WRITE(REAL(pwrite64)(fd, buf, n, off), fd, off, n);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    load_writev();
    WRAP_WRITE(REAL(writev)(fd, iov, cnt), fd, -1, iov_len(iov, cnt));
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    load_pwritev();
    WRAP_WRITE(REAL(pwritev)(fd, iov, cnt, off), fd, off, iov_len(iov, cnt));
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    load_pwritev64();
    WRAP_WRITE(REAL(pwritev64)(fd, iov, cnt, off), fd, off, iov_len(iov, cnt));
}

static void before_truncate(int fd, off_t len)
{
    char path[PATH_MAX];
    struct stat st;

    if (!tracked(fd, path, false) || fstat(fd, &st) < 0)
        return;
    /* the old size, and the bytes a shrink cuts off */
    if (len < st.st_size)
        log_record('T', fd, path, (uint64_t)len, (uint64_t)(st.st_size - len));
    else
        log_record('T', fd, path, (uint64_t)st.st_size, 0);
}

int ftruncate(int fd, off_t len)
{
    int r;
    load_ftruncate();
    pthread_mutex_lock(&pl_lock);
    before_truncate(fd, len);
    r = REAL(ftruncate)(fd, len);
    pthread_mutex_unlock(&pl_lock);
    return r;
}

int ftruncate64(int fd, off_t len)
{
    int r;
    load_ftruncate64();
    pthread_mutex_lock(&pl_lock);
    before_truncate(fd, len);
    r = REAL(ftruncate64)(fd, len);
    pthread_mutex_unlock(&pl_lock);
    return r;
}

static void after_sync(int fd)
{
    char path[PATH_MAX];
    const char *lie = getenv("BSNAP_PL_LIE");

    if (!tracked(fd, path, false))
        return;
    if (lie && *lie && strstr(path, lie))
        return; /* the negative control: this sync never happened */
    log_record('S', fd, path, 0, 0);
}

int fsync(int fd)
{
    int r;
    load_fsync();
    /* Held across the sync: a write another thread issues meanwhile is
     * logged after the sync record, so it is never taken as durable. */
    pthread_mutex_lock(&pl_lock);
    if (tracked(fd, (char[PATH_MAX]){0}, false))
        maybe_kill("BSNAP_PL_KILL_SYNC", ++pl_syncs);
    r = REAL(fsync)(fd);
    if (r == 0)
        after_sync(fd);
    pthread_mutex_unlock(&pl_lock);
    return r;
}

int fdatasync(int fd)
{
    int r;
    load_fdatasync();
    /* Held across the sync: a write another thread issues meanwhile is
     * logged after the sync record, so it is never taken as durable. */
    pthread_mutex_lock(&pl_lock);
    if (tracked(fd, (char[PATH_MAX]){0}, false))
        maybe_kill("BSNAP_PL_KILL_SYNC", ++pl_syncs);
    r = REAL(fdatasync)(fd);
    if (r == 0)
        after_sync(fd);
    pthread_mutex_unlock(&pl_lock);
    return r;
}
