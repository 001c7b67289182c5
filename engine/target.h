/* target.h - where a restore writes: the checks on a path the user names for
 * a restored volume, and the opening of a block device there.
 *
 * A restore writes either a regular file, new or replacing what is at the
 * path, or a block device in place.  target_check() decides which before the
 * restore reads or writes anything, and refuses everything else:
 *
 * - an empty path, a directory (or a path ending in '/'), a character
 *   device, a FIFO or a socket (a restore does not stream);
 * - anything that exists (a regular file, a block device, a symbolic link,
 *   even a dangling one) unless the caller asked for it to be replaced;
 * - any path inside the store (its directory is compared by device and
 *   inode, after symbolic links are resolved, so a link or a bind mount
 *   into the store is caught too), and a loop device whose backing file is
 *   inside the store.
 *
 * A symbolic link is followed to decide what it names: a link to a block
 * device (/dev/disk/by-id/...) writes the device; a link to a regular file,
 * and a dangling one, is replaced by the restored file (the file it names
 * is left alone).
 *
 * Modes: a new file gets 0666 less the umask, as open(2) would give it; a
 * replaced regular file's mode (and, where the process may, its owner) is
 * kept, so replacing a private file never widens it.
 */
#ifndef BSNAP_TARGET_H
#define BSNAP_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "blocksnap.h"

struct target {
    bool blockdev; /* write the block device at the path in place */
    bool replace;  /* something is at the path and will be replaced */
    bool keep;     /* a regular file is replaced: give the new one mode,
                    * uid and gid */
    mode_t mode;   /* when keep: the replaced file's permission bits */
    uid_t uid;
    gid_t gid;
};

/* Decide what a restore to @path writes (see above), with @force allowing
 * an existing file or device to be replaced.  Nothing is created or opened
 * for writing.  @ret out, set on success.
 * Errors: -EINVAL (InvalidParameterValue) empty path, path inside the store,
 * a character device, FIFO or socket; -EISDIR (InvalidParameterValue) a
 * directory; -EEXIST (InvalidParameterValue) something exists and !@force;
 * -ENOENT and other errno (InvalidParameterValue) the path's directory
 * cannot be resolved; -ENOMEM. */
int target_check(const bsnap_store *s, const char *path, bool force, struct target *ret);

/* Open the block device at @path for writing, exclusively (O_EXCL: a device
 * that is mounted or claimed by another holder, such as a device-mapper
 * table, swap or another exclusive opener, is refused), and check that it
 * holds at least @size bytes.  The claim lasts until the descriptor is
 * closed.  @ret_fd out: the descriptor, set on success.
 * Errors: -EBUSY (VolumeInUse) in use; -ENOSPC (InvalidParameterValue) too
 * small; -EINVAL (InvalidParameterValue) no longer a block device, or a
 * loop device over a file inside the store; other errno of open(2). */
int target_open_blockdev(const bsnap_store *s, const char *path, uint64_t size, int *ret_fd);

/* The mode open(2) would give a new file created with 0666: 0666 less the
 * process's umask (read from /proc, never changed); 0600 when it cannot be
 * read. */
mode_t target_new_file_mode(void);

#endif
