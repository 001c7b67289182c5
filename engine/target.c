/* target.c - where a restore writes; see target.h. */
#include "target.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "error.h"
#include "store.h"
#include "util.h"

/* Whether directory @dir, symbolic links resolved, is the store's directory
 * @store or lies under it.  Each ancestor is compared by device and inode,
 * not by name, so another name of the store's directory (a bind mount, a
 * link made after the store was opened) is caught as well.
 * Errors: errno of realpath(3). */
static int dir_in_store(const struct stat *store, const char *dir, bool *ret)
{
    _cleanup_free_ char *p = realpath(dir, NULL);
    struct stat st;

    if (!p)
        return -errno;
    for (;;) {
        if (stat(p, &st) == 0 && st.st_dev == store->st_dev && st.st_ino == store->st_ino) {
            *ret = true;
            return 0;
        }
        char *slash = strrchr(p, '/');
        if (!slash || slash == p) {
            if (strcmp(p, "/") == 0)
                break;
            p[1] = '\0'; /* "/x" -> "/" */
            continue;
        }
        *slash = '\0';
    }
    *ret = false;
    return 0;
}

/* dir_in_store() of the directory that holds @path. */
static int parent_in_store(const struct stat *store, const char *path, bool *ret)
{
    _cleanup_free_ char *copy = strdup(path);

    if (!copy)
        return -ENOMEM;
    return dir_in_store(store, dirname(copy), ret);
}

static int refuse_in_store(const bsnap_store *s, const char *path)
{
    return bsnap_fail(-EINVAL, "InvalidParameterValue",
                      "%s is inside the store %s: a restore there would overwrite the "
                      "store's own files",
                      path, s->path);
}

static const char *kind_name(mode_t m)
{
    return S_ISCHR(m)    ? "a character device"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

int target_check(const bsnap_store *s, const char *path, bool force, struct target *ret)
{
    struct target t = {0};
    struct stat store, lst, st;
    bool dangling = false, inside = false;
    int r;

    if (!path[0])
        return bsnap_fail(-EINVAL, "InvalidParameterValue", "the path is empty");
    if (path[strlen(path) - 1] == '/')
        return bsnap_fail(-EISDIR, "InvalidParameterValue",
                          "%s names a directory: a restore writes a file or a block device", path);
    if (stat(s->path, &store) < 0)
        return bsnap_fail(-errno, "Store.Error", "store %s: %m", s->path);
    if (lstat(path, &lst) < 0) {
        if (errno != ENOENT)
            return bsnap_fail(-errno, "InvalidParameterValue", "%s: %m", path);
    } else {
        t.replace = true;
    }
    if (t.replace && S_ISLNK(lst.st_mode)) {
        if (stat(path, &st) < 0) {
            if (errno != ENOENT)
                return bsnap_fail(-errno, "InvalidParameterValue", "%s: %m", path);
            dangling = true;
        }
    } else {
        st = lst;
    }
    if (t.replace && !dangling) {
        if (S_ISDIR(st.st_mode))
            return bsnap_fail(-EISDIR, "InvalidParameterValue",
                              "%s is a directory: a restore writes a file or a block device", path);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
            return bsnap_fail(-EINVAL, "InvalidParameterValue",
                              "%s is %s: a restore writes a regular file or a block device", path,
                              kind_name(st.st_mode));
        t.blockdev = S_ISBLK(st.st_mode);
    }
    /* Where the file will be (the path's directory, links resolved) and,
     * for a link, where it points. */
    r = parent_in_store(&store, path, &inside);
    if (r == -ENOMEM)
        return bsnap_fail(r, "InternalError", "out of memory");
    if (r < 0)
        return bsnap_fail(r, "InvalidParameterValue", "%s: %s", path, strerror(-r));
    if (!inside && t.replace && !dangling && S_ISLNK(lst.st_mode)) {
        _cleanup_free_ char *real = realpath(path, NULL);
        if (real && parent_in_store(&store, real, &inside) == -ENOMEM)
            return bsnap_fail(-ENOMEM, "InternalError", "out of memory");
    }
    if (inside)
        return refuse_in_store(s, path);
    if (t.replace && !force)
        return bsnap_fail(-EEXIST, "InvalidParameterValue", "%s exists%s", path,
                          t.blockdev ? " (a block device)"
                          : S_ISLNK(lst.st_mode)
                              ? (dangling ? " (a dangling symbolic link)" : " (a symbolic link)")
                              : "");
    if (t.replace && S_ISREG(lst.st_mode)) {
        t.keep = true;
        t.mode = lst.st_mode & 0777;
        t.uid = lst.st_uid;
        t.gid = lst.st_gid;
    }
    *ret = t;
    return 0;
}

/* Whether the block device @rdev is a loop device (or a partition of one)
 * whose backing file lies inside the store. */
static bool loop_backed_by_store(const struct stat *store, dev_t rdev)
{
    static const char *const rel[] = {"loop/backing_file", "../loop/backing_file"};
    char p[96], file[PATH_MAX + 16];

    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        bool inside = false;
        FILE *f;

        snprintf(p, sizeof p, "/sys/dev/block/%u:%u/%s", major(rdev), minor(rdev), rel[i]);
        f = fopen(p, "re");
        if (!f)
            continue;
        if (!fgets(file, sizeof file, f))
            file[0] = '\0';
        fclose(f);
        file[strcspn(file, "\n")] = '\0';
        if (file[0] && parent_in_store(store, file, &inside) == 0 && inside)
            return true;
    }
    return false;
}

int target_open_blockdev(const bsnap_store *s, const char *path, uint64_t size, int *ret_fd)
{
    _cleanup_close_ int fd = -1;
    struct stat st, store;
    uint64_t devsize = 0;

    /* O_EXCL without O_CREAT claims a block device: the open fails with
     * EBUSY while it is mounted or held, and nothing can mount it while
     * the restore writes. */
    fd = open(path, O_WRONLY | O_EXCL | O_CLOEXEC);
    if (fd < 0 && errno == EBUSY)
        return bsnap_fail(-EBUSY, "VolumeInUse",
                          "block device %s is in use (mounted, or held by another program)", path);
    if (fd < 0)
        return bsnap_fail(-errno, "InvalidParameterValue", "%s: %m", path);
    if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode))
        return bsnap_fail(-EINVAL, "InvalidParameterValue", "%s is no longer a block device", path);
    if (stat(s->path, &store) == 0 && loop_backed_by_store(&store, st.st_rdev))
        return bsnap_fail(-EINVAL, "InvalidParameterValue",
                          "%s is a loop device over a file inside the store %s", path, s->path);
    if (ioctl(fd, BLKGETSIZE64, &devsize) < 0)
        return bsnap_fail(-errno, "InvalidParameterValue", "%s: size: %m", path);
    if (devsize < size)
        return bsnap_fail(-ENOSPC, "InvalidParameterValue",
                          "block device %s (%llu bytes) is smaller than the snapshot (%llu bytes)",
                          path, (unsigned long long)devsize, (unsigned long long)size);
    *ret_fd = steal_fd(fd);
    return 0;
}

mode_t target_new_file_mode(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[128];
    unsigned mask;
    mode_t mode = 0600;

    if (!f)
        return mode;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Umask: %o", &mask) == 1) {
            mode = 0666 & ~(mode_t)mask;
            break;
        }
    fclose(f);
    return mode;
}
