/* source.c - the file and block-device source, the choice between it and
 * an NBD one, and the redaction of NBD URIs; see source.h. */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

/* ---- NBD URIs ---- */

bool source_is_uri(const char *spec)
{
    /* Every scheme libnbd knows starts so (nbd:, nbds:, nbd+unix:,
     * nbds+vsock: ...): a malformed one gets libnbd's error, not "no such
     * file".  A file of such a name is read as ./NAME. */
    return strncmp(spec, "nbd:", 4) == 0 || strncmp(spec, "nbds:", 5) == 0 ||
           strncmp(spec, "nbd+", 4) == 0 || strncmp(spec, "nbds+", 5) == 0;
}

/* Append @n bytes of @s to @out at *@len (room is there: see below). */
static void put(char *out, size_t *len, const char *s, size_t n)
{
    memcpy(out + *len, s, n);
    *len += n;
}

char *source_uri_redact(const char *uri)
{
    /* The result is never longer than @uri: every piece is copied from it
     * at most once, and each '&' or '?' kept stands for one dropped. */
    size_t n = strlen(uri), len = 0;
    char *out = malloc(n + 1);
    const char *p = uri, *sep, *auth_end, *at, *q;
    bool first = true;

    if (!out)
        return NULL;
    sep = strstr(uri, "://");
    /* a scheme is letters, digits, '+', '-' and '.' */
    if (sep && (sep == uri || strspn(uri, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789+-.") != (size_t)(sep - uri)))
        sep = NULL;
    if (!sep) { /* not a URI we know: keep nothing that could be a secret */
        q = uri + strcspn(uri, "?#");
        put(out, &len, uri, (size_t)(q - uri));
        out[len] = '\0';
        return out;
    }
    put(out, &len, p, (size_t)(sep + 3 - p));
    p = sep + 3;
    auth_end = p + strcspn(p, "/?#");
    /* user name (and a password, which NBD URIs do not have) */
    at = memchr(p, '@', (size_t)(auth_end - p));
    while (at) {
        const char *next = memchr(at + 1, '@', (size_t)(auth_end - at - 1));
        if (!next)
            break;
        at = next;
    }
    if (at)
        p = at + 1;
    put(out, &len, p, (size_t)(auth_end - p));
    p = auth_end;
    /* the path: the export name */
    q = p + strcspn(p, "?#");
    put(out, &len, p, (size_t)(q - p));
    p = q;
    if (*p == '?') {
        const char *qend = p + 1 + strcspn(p + 1, "#");
        p++;
        while (p < qend) {
            const char *amp = memchr(p, '&', (size_t)(qend - p));
            const char *item_end = amp ? amp : qend;
            if ((size_t)(item_end - p) >= 7 && memcmp(p, "socket=", 7) == 0) {
                put(out, &len, first ? "?" : "&", 1);
                put(out, &len, p, (size_t)(item_end - p));
                first = false;
            }
            p = amp ? amp + 1 : qend;
        }
    }
    out[len] = '\0';
    return out;
}

/* ---- files and block devices ---- */

struct file_source {
    struct source base;
    int fd;
    bool sparse;
};

bool bsnap_volume_is_uri(const char *spec)
{
    return source_is_uri(spec);
}

int volume_open(const char *path, int *ret_fd, uint64_t *ret_size, char **ret_canonical)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    uint64_t size;
    char *canon;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return bsnap_fail(-errno,
                          errno == ENOENT ? "InvalidVolume.NotFound" : "InvalidParameterValue",
                          "volume %s: %m", path);
    if (fstat(fd, &st) < 0)
        return bsnap_fail(-errno, "InvalidParameterValue", "volume %s: %m", path);
    if (S_ISREG(st.st_mode)) {
        size = (uint64_t)st.st_size;
    } else if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
            return bsnap_fail(-errno, "InvalidParameterValue",
                              "volume %s: size of block device: %m", path);
    } else {
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "volume %s is not a regular file or a block device", path);
    }
    if (size > VOLUME_SIZE_MAX)
        return bsnap_fail(-EFBIG, "InvalidParameterValue",
                          "volume %s is %llu bytes: larger than the largest volume, 1 PiB", path,
                          (unsigned long long)size);
    /* O_NONBLOCK was only to not hang opening a FIFO; reads should block. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    canon = realpath(path, NULL);
    if (!canon)
        return bsnap_fail(-errno, "InvalidParameterValue", "volume %s: %m", path);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    *ret_fd = steal_fd(fd);
    *ret_size = size;
    *ret_canonical = canon;
    return 0;
}

static ssize_t file_pread(struct source *src, void *buf, size_t len, uint64_t off)
{
    struct file_source *f = (struct file_source *)src;
    ssize_t got = full_pread(f->fd, buf, len, (off_t)off);

    if (got < 0)
        return bsnap_fail((int)got, "VolumeReadError", "volume %s: read at offset %llu: %s",
                          src->shown, (unsigned long long)off, strerror((int)-got));
    /* The end of the volume came before the size it had when it was
     * opened: it shrank while it was read.  Its zeros would make a
     * snapshot of neither its old nor its new contents. */
    if ((size_t)got < len) {
        struct stat st;
        unsigned long long now = fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode)
                                     ? (unsigned long long)st.st_size
                                     : (unsigned long long)(off + (uint64_t)got);
        return bsnap_fail(-EIO, "VolumeChanged",
                          "volume %s shrank while it was read (%llu bytes, now %llu); a "
                          "volume must not change size during a snapshot",
                          src->shown, (unsigned long long)src->size, now);
    }
    return got;
}

static int file_seek(struct source *src, uint64_t off, bool data, uint64_t *ret)
{
    struct file_source *f = (struct file_source *)src;
    off_t o;

    if (!f->sparse)
        return -EOPNOTSUPP;
    o = lseek(f->fd, (off_t)off, data ? SEEK_DATA : SEEK_HOLE);
    if (o < 0 && errno == ENXIO)
        return -ENXIO;
    if (o < 0) {
        f->sparse = false; /* not supported here: all data */
        return -EOPNOTSUPP;
    }
    *ret = (uint64_t)o;
    return 0;
}

/* After the last read: the volume must still be the file it opened and
 * have the size it had then.  A volume resized while it was read, or a
 * path renamed over by another file, gives a snapshot of neither its old
 * nor its new contents; it is refused, not recorded.  (Writes that keep the
 * size cannot be seen here: docs/reliability.md.) */
static int file_check(struct source *src)
{
    struct file_source *f = (struct file_source *)src;
    struct stat st, now;
    uint64_t cur;

    if (fstat(f->fd, &st) < 0)
        return bsnap_fail(-errno, "VolumeReadError", "volume %s: %m", src->shown);
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(f->fd, BLKGETSIZE64, &cur) < 0)
            return bsnap_fail(-errno, "VolumeReadError", "volume %s: size of block device: %m",
                              src->shown);
    } else {
        cur = (uint64_t)st.st_size;
    }
    if (cur != src->size)
        return bsnap_fail(-EIO, "VolumeChanged",
                          "volume %s %s while it was read (%llu bytes, now %llu); a volume must "
                          "not change size during a snapshot",
                          src->shown, cur < src->size ? "shrank" : "grew",
                          (unsigned long long)src->size, (unsigned long long)cur);
    if (stat(src->shown, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino)
        return bsnap_fail(-EIO, "VolumeChanged",
                          "volume %s was removed or replaced by another file while it was read",
                          src->shown);
    return 0;
}

static void file_close(struct source *src)
{
    struct file_source *f = (struct file_source *)src;

    if (f->fd >= 0)
        close(f->fd);
}

static const struct source_ops file_ops = {
    .pread = file_pread,
    .seek = file_seek,
    .check = file_check,
    .close = file_close,
};

static int file_source_open(const char *path, struct source **ret)
{
    struct file_source *f = calloc(1, sizeof *f);
    int r;

    if (!f)
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    f->base.ops = &file_ops;
    f->fd = -1;
    f->sparse = true;
    f->base.shown = strdup(path);
    if (!f->base.shown) {
        free(f);
        return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    r = volume_open(path, &f->fd, &f->base.size, &f->base.key);
    if (r < 0) {
        source_close(&f->base);
        return r;
    }
    *ret = &f->base;
    return 0;
}

/* ---- either ---- */

int source_open(const char *spec, const char *context, struct source **ret_source)
{
    if (source_is_uri(spec))
        return nbd_source_open(spec, context, ret_source);
    if (context)
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "volume %s is a file: the dirty extents of an NBD meta context (%s) "
                          "come only from an NBD export (an nbd:// or nbd+unix:// URI)",
                          spec, context);
    return file_source_open(spec, ret_source);
}

int source_changed(struct source *src, bsnap_range **ret_ranges, size_t *ret_n)
{
    return nbd_source_changed(src, ret_ranges, ret_n);
}

void source_close(struct source *src)
{
    if (!src)
        return;
    src->ops->close(src);
    free(src->key);
    free(src->shown);
    free(src);
}
