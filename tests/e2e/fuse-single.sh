#!/usr/bin/env bash
# fuse-single: mounting one snapshot (--snapshot-id) on a directory and on
# a regular file; the daemonised mount (no --foreground) serves and goes
# away with `blocksnap umount`; SIGTERM to the daemon unmounts cleanly.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires cmp

fuse_assert_clean

head -c 3M /dev/urandom >"$T/a.img"
truncate -s 20M "$T/a.img"
head -c 5M /dev/urandom >"$T/b.img"
a=$(snapshot_create "$T/a.img")
b=$(snapshot_create "$T/b.img")

step "--snapshot-id on a directory: that snapshot only"
mkdir "$T/dir"
fuse_mount "$T/dir" --snapshot-id "$a"
[ "$(ls "$T/dir")" = "$a.img" ] || die "listing: $(ls "$T/dir")"
[ ! -e "$T/dir/$b.img" ] || die "another snapshot is visible"
assert_same_file "$T/dir/$a.img" "$T/a.img"
fuse_unmount "$T/dir"

step "--snapshot-id on a regular file: the file is the image"
touch "$T/disk.img"
fuse_mount "$T/disk.img" --snapshot-id "$b"
[ -f "$T/disk.img" ] || die "not a regular file"
[ "$(stat -c %s "$T/disk.img")" -eq "$(stat -c %s "$T/b.img")" ] || die "size"
assert_same_file "$T/disk.img" "$T/b.img"
if (printf x >"$T/disk.img") 2>/dev/null; then die "a write to the image succeeded"; fi
fuse_unmount "$T/disk.img"
[ "$(stat -c %s "$T/disk.img")" -eq 0 ] || die "the file under the mount changed"

step "daemonised mount"
mkdir "$T/mnt"
on_cleanup_mount "$T/mnt"
bs mount "$T/mnt" --cache-size 64M
_is_mounted "$T/mnt" || die "not mounted after mount returned"
assert_same_file "$T/mnt/snapshots/$a.img" "$T/a.img"
assert_same_file "$T/mnt/snapshots/$b.img" "$T/b.img"
bs umount "$T/mnt"
! _is_mounted "$T/mnt" || die "still mounted"

step "SIGTERM to the daemon unmounts, even with a file open"
fuse_mount "$T/mnt"
exec 7<"$T/mnt/snapshots/$a.img"
head -c 100000 <&7 >/dev/null
kill -TERM "$FUSE_PID"
rc=0
wait "$FUSE_PID" || rc=$?
_check_sanitizer "$FUSE_LOG" "blocksnap mount (daemon)"
[ "$rc" -eq 0 ] || die "the daemon exited $rc on SIGTERM"
exec 7<&-
! _is_mounted "$T/mnt" || die "still mounted after SIGTERM"

step "a daemon killed with SIGKILL: mount refuses, umount clears"
fuse_mount "$T/mnt"
kill -KILL "$FUSE_PID"
wait "$FUSE_PID" || true
_is_mounted "$T/mnt" || die "the dead mount vanished by itself"
expect_fail Mountpoint.Busy 1 bs mount "$T/mnt"
stderr_contains "daemon died" "umount"
bs umount "$T/mnt" || die "umount of a dead mount failed"
! _is_mounted "$T/mnt" || die "the dead mount is still there"
fuse_mount "$T/mnt"
assert_same_file "$T/mnt/snapshots/$a.img" "$T/a.img"
fuse_unmount "$T/mnt"

fuse_assert_clean
