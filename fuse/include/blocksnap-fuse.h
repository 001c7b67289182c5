/* blocksnap-fuse.h - the FUSE view of a store, as the CLI uses it.
 *
 * bsnap_fuse_mount() mounts a store (or one snapshot) read-only with
 * libfuse3's low-level API and serves it with a multithreaded loop until
 * the mount goes away (`blocksnap umount`, fusermount3 -u, SIGINT/SIGTERM).
 * The tree is described in docs/fuse.md.
 *
 * Errors are returned, never printed: each call fills a bsnap_fuse_error
 * whose code names the problem (Mountpoint.NotFound, Mountpoint.Busy,
 * Fuse.DeviceMissing, Fuse.FusermountMissing, the engine's Store.NotFound,
 * ...), for the front end to print.
 */
#ifndef BLOCKSNAP_FUSE_H
#define BLOCKSNAP_FUSE_H

#include <stdbool.h>
#include <stdint.h>

/** What went wrong, for the front end to print as "MESSAGE (CODE)". */
typedef struct bsnap_fuse_error {
    int err;           /**< negative errno */
    char code[64];     /**< EC2-style code */
    char message[768]; /**< lower case, names the object */
} bsnap_fuse_error;

/** How to mount.  Zero-initialise, then set store_path and mountpoint. */
typedef struct bsnap_mount_options {
    const char *store_path;  /**< the store directory (already resolved) */
    const char *mountpoint;  /**< a directory, or a regular file with snapshot_id */
    const char *snapshot_id; /**< optional: mount only this snapshot */
    const char *account;     /**< optional: the account (12 digits) whose view
                              * this is: what it owns and what is shared with
                              * it (bsnap_store_set_account()); NULL: the
                              * store's account */
    uint64_t cache_size;     /**< bytes of decompressed chunks kept; 0: 256 MiB */
    bool foreground;         /**< do not daemonize; log to stderr */
    bool allow_other;        /**< let other users in (-o allow_other) */
    bool debug;              /**< libfuse's request trace on stderr (implies foreground) */
} bsnap_mount_options;

/** Mount and serve.
 *
 * Everything that can be checked is checked before anything is mounted:
 * the mountpoint exists, is of the right type (a directory; or a regular
 * file, which then becomes the snapshot's image, with snapshot_id) and is
 * not already a mount point; /dev/fuse exists; fusermount3 can be found
 * (when not root); the store opens, the account is well-formed, and the
 * snapshot exists, is completed and is the account's or shared with it.  The store is opened for serving only after daemonizing.
 *
 * In the foreground the call returns when the file system is unmounted.
 * Otherwise it returns in the parent once the daemon serves (0) or failed to
 * start (its error); the daemon itself never returns.
 *
 * @opts in.  @ret_err out: filled when the call fails.
 * Returns 0 or a negative errno.  Call from the main thread only, before
 * other threads exist (it forks). */
int bsnap_fuse_mount(const bsnap_mount_options *opts, bsnap_fuse_error *ret_err);

/** Unmount a blocksnap mount at @mountpoint (fusermount3 -u, or umount(2)
 * as root).  Errors: -ENOENT (Mountpoint.NotFound), -EINVAL
 * (Mountpoint.NotMounted), -EBUSY (Mountpoint.Busy: a file is open),
 * -ENOENT (Fuse.FusermountMissing). */
int bsnap_fuse_umount(const char *mountpoint, bsnap_fuse_error *ret_err);

/** Parse a cache size: bytes, or a number with K, M, G (powers of 1024,
 * an optional "iB" or "B" after).  Returns 0 or -EINVAL. */
int bsnap_fuse_parse_size(const char *text, uint64_t *ret_bytes);

#endif
