#!/usr/bin/env bash
# fuse-errors: every way `blocksnap mount` and `umount` can be refused says
# what is wrong, exits 1 (2 for usage errors) and leaves nothing mounted:
# mountpoint missing, busy, of the wrong type or inside the store; store
# missing (and not created); snapshot missing; no /dev/fuse, or one closed
# to the user; fusermount3 absent; unmounting what is not mounted, what is
# not ours, or a mount with a file open.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"

fuse_assert_clean

head -c 1M /dev/urandom >"$T/vol.img"
snap=$(snapshot_create "$T/vol.img")
mkdir "$T/mnt"

step "mountpoint missing"
expect_fail Mountpoint.NotFound 1 bs mount "$T/nowhere"
stderr_contains "$T/nowhere" "does not exist"

step "mountpoint is a file, without --snapshot-id"
touch "$T/file"
expect_fail Mountpoint.Invalid 1 bs mount "$T/file"
stderr_contains "--snapshot-id"

step "mountpoint inside the store (the store's directory, a subdirectory, a pack file)"
pack=$(find "$STORE/packs" -name '*.pack' | head -n 1)
ln -s "$STORE/packs" "$T/packs-link"
# (Mounted over the store, a daemon opening the store through its own mount
# hung, and every process using the store with it: hence the timeout.)
for m in "$STORE" "$STORE/packs" "$T/packs-link" "$pack"; do
    on_cleanup_mount "$m" # should the refusal fail
    expect_fail Mountpoint.Invalid 1 timeout 60 "$BLOCKSNAP" --store "$STORE" mount "$m" \
        --snapshot-id "$snap"
    _check_sanitizer "$T/fail.stderr" "mount $m"
    stderr_contains "inside the store"
    ! grep -q " $(realpath "$m") " /proc/self/mounts || die "mounted at $m"
done
expect_fail Mountpoint.Invalid 1 bs mount "$STORE"
assert_verify_ok

step "store missing: named, and not created"
expect_fail Store.NotFound 1 "$BLOCKSNAP" --store "$T/no-store" mount "$T/mnt"
[ ! -e "$T/no-store" ] || die "mount created a store"

step "snapshot missing"
expect_fail InvalidSnapshot.NotFound 1 bs mount "$T/mnt" --snapshot-id snap-0123456789abcdef0
expect_fail InvalidSnapshotID.Malformed 1 bs mount "$T/mnt" --snapshot-id bogus

step "usage errors"
expect_fail - 2 bs mount
expect_fail - 2 bs mount "$T/mnt" --cache-size lots
expect_fail - 2 bs mount "$T/mnt" --cache-size 12K
expect_fail - 2 bs umount

step "mountpoint busy"
fuse_mount "$T/mnt"
expect_fail Mountpoint.Busy 1 bs mount "$T/mnt"
stderr_contains "already mounted"
[ "$(grep -c " $T/mnt " /proc/self/mounts)" -eq 1 ] || die "mounted twice"

step "umount of a mount with a file open"
exec 7<"$T/mnt/snapshots/$snap.img"
expect_fail Mountpoint.Busy 1 bs umount "$T/mnt"
exec 7<&-
_is_mounted "$T/mnt" || die "the busy mount went away"
fuse_unmount "$T/mnt"

step "umount of what is not mounted, or not ours"
expect_fail Mountpoint.NotMounted 1 bs umount "$T/mnt"
expect_fail Mountpoint.NotFound 1 bs umount "$T/nowhere"
if [ "$(id -u)" -eq 0 ]; then
    mkdir "$T/tmpfs"
    on_cleanup_mount "$T/tmpfs"
    mount -t tmpfs none "$T/tmpfs"
    expect_fail Mountpoint.Invalid 1 bs umount "$T/tmpfs"
    stderr_contains "not a blocksnap mount"
    expect_fail Mountpoint.Busy 1 bs mount "$T/tmpfs"
    umount "$T/tmpfs"
fi

if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
    step "no /dev/fuse (a private mount namespace with an empty /dev)"
    expect_fail Fuse.DeviceMissing 1 unshare -m --propagation private sh -c \
        'mount -t tmpfs none /dev && exec "$@"' sh \
        "$BLOCKSNAP" --store "$STORE" mount "$T/mnt"
    stderr_contains "/dev/fuse"

    if command -v setpriv >/dev/null; then
        step "fusermount3 absent (as an unprivileged user)"
        chmod 755 "$T"
        chmod 777 "$T/mnt"
        # a store is private to its owner: let the user own this one
        chown -R 65534:65534 "$STORE"
        expect_fail Fuse.FusermountMissing 1 unshare -m --propagation private sh -c \
            'for f in /usr/bin/fusermount3 /bin/fusermount3; do
                 [ -e "$f" ] && mount --bind /dev/null "$f"
             done
             exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"' sh \
            env PATH=/usr/bin:/bin "$BLOCKSNAP" --store "$STORE" mount "$T/mnt"
        stderr_contains fusermount3

        step "/dev/fuse closed to the user (as an unprivileged user)"
        mknod -m 600 "$T/fuse-dev" c 10 229
        expect_fail Fuse.PermissionDenied 1 unshare -m --propagation private sh -c \
            'mount --bind "$0" /dev/fuse && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"' \
            "$T/fuse-dev" "$BLOCKSNAP" --store "$STORE" mount "$T/mnt"
        stderr_contains /dev/fuse
    fi
else
    info "not root: the /dev/fuse and fusermount3 cases need a private mount namespace"
fi

! _is_mounted "$T/mnt" || die "something is mounted after the failures"
fuse_assert_clean
