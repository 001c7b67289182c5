#!/usr/bin/env bash
# create-volume onto a block device: it needs --force, like an existing
# file; a mounted device is refused (VolumeInUse) and its file system keeps
# every byte; a device smaller than the snapshot, and a loop device over a
# file inside the store, are refused; a symlink to a device (as in
# /dev/disk/by-id) writes the device, not the link.  Needs root, loop
# devices and, for the mounted case, an ext4 mount.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires_root
requires losetup mkfs.ext4 e2fsck cmp blockdev mount umount

# loop FILE: attach FILE to a free loop device, detached at exit, and name
# it in $LOOP (not printed: a command substitution's subshell would register
# the cleanup in vain).
loop() {
    LOOP=$(losetup -f --show "$1" 2>"$T/losetup.err") ||
        skip "no loop device: $(cat "$T/losetup.err")"
    on_cleanup_loop "$LOOP"
}

head -c $((3 << 20)) /dev/urandom >"$T/v.img"
truncate -s 4M "$T/v.img"
snap=$(snapshot_create "$T/v.img")
store_state >"$T/state.before"

step "a block device needs --force"
head -c $((8 << 20)) /dev/urandom >"$T/disk.img"
loop "$T/disk.img"
dev=$LOOP
cp "$T/disk.img" "$T/disk.before"
expect_fail InvalidParameterValue 1 bs create-volume --snapshot-id "$snap" --path "$dev"
stderr_contains "$dev" "block device" "--force"
cmp "$dev" "$T/disk.before" || die "the device was written without --force"
assert_store_unchanged "$T/state.before"

step "a symlink to a block device needs --force too, and then writes the device"
ln -s "$dev" "$T/by-id"
expect_fail InvalidParameterValue 1 bs create-volume --snapshot-id "$snap" --path "$T/by-id"
cmp "$dev" "$T/disk.before" || die "the device was written without --force"
bs create-volume --snapshot-id "$snap" --path "$T/by-id" --force --quiet >/dev/null
[ -L "$T/by-id" ] || die "the link to the device was replaced"
cmp -n $((4 << 20)) "$dev" "$T/v.img" || die "the device does not hold the snapshot"
cmp -i $((4 << 20)) "$dev" "$T/disk.before" || die "the device past the snapshot changed"
store_state >"$T/state.before" # with the device's volume

step "a device smaller than the snapshot is refused"
truncate -s 2M "$T/small.img"
loop "$T/small.img"
small=$LOOP
expect_fail InvalidParameterValue 1 bs create-volume --snapshot-id "$snap" --path "$small" --force
stderr_contains "smaller than the snapshot"
cmp "$small" <(head -c $((2 << 20)) /dev/zero) || die "the small device was written"

step "a loop device over a file inside the store is refused"
pack=$(find "$STORE/packs" -name '*.pack' | head -n 1)
cp "$pack" "$T/pack.copy"
loop "$pack"
over=$LOOP
expect_fail InvalidParameterValue 1 bs create-volume --snapshot-id "$snap" --path "$over" --force
stderr_contains "inside the store"
losetup -d "$over"
cmp "$pack" "$T/pack.copy" || die "the pack changed"
assert_verify_ok

step "a mounted device is refused, even with --force, and its file system stays whole"
fill_tree "$T/tree" 4
make_ext4_image 16M "$T/tree" "$T/fs.img"
loop "$T/fs.img"
fsdev=$LOOP
mkdir "$T/mnt"
mount -t ext4 "$fsdev" "$T/mnt" 2>"$T/mount.err" || skip "cannot mount ext4: $(cat "$T/mount.err")"
on_cleanup_mount "$T/mnt"
expect_fail VolumeInUse 1 bs create-volume --snapshot-id "$snap" --path "$fsdev" --force
stderr_contains "$fsdev" "in use"
cmp "$T/tree/etc/app.conf" "$T/mnt/etc/app.conf" || die "the mounted file system changed"
umount "$T/mnt"
e2fsck -fn "$fsdev" >"$T/fsck.out" 2>&1 || {
    cat "$T/fsck.out"
    die "the file system of the mounted device is damaged"
}
assert_store_unchanged "$T/state.before"

step "unmounted, --force writes it"
bs create-volume --snapshot-id "$snap" --path "$fsdev" --force --quiet >/dev/null
cmp -n $((4 << 20)) "$fsdev" "$T/v.img" || die "the device does not hold the snapshot"
assert_verify_ok
