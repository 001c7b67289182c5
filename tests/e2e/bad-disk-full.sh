#!/usr/bin/env bash
# The store's disk fills up while a snapshot is written (the store lives on
# an 8 MiB tmpfs): the snapshot fails with a message saying the store is
# full, exit 1; the store is as it was (verify passes, the earlier snapshot
# restores), gc reclaims what the failed write left, and a small snapshot
# works again afterwards.  Needs root (mount).
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires_root
requires mount umount python3 cmp

mkdir "$T/small"
mount -t tmpfs -o size=8m tmpfs "$T/small" 2>"$T/mount.err" || skip "cannot mount tmpfs: $(cat "$T/mount.err")"
on_cleanup_mount "$T/small"
STORE=$T/small/store

step "a small snapshot that fits"
head -c $((1 << 20)) /dev/urandom >"$T/small.img"
snap=$(snapshot_create "$T/small.img")
store_state >"$T/state.before"
bytes_before=$(store_bytes)
info "store uses $(du -sk "$STORE" | cut -f1) KiB of the 8 MiB file system"

step "a 32 MiB incompressible volume does not fit"
head -c $((32 << 20)) /dev/urandom >"$T/big.img"
expect_fail Store.Full 1 bs create-snapshot --volume "$T/big.img"
stderr_contains "space"
info "file system after the failure: $(df -k "$T/small" | awk 'NR==2 {print $4}') KiB free"

step "the store is as before"
assert_store_unchanged "$T/state.before"
restore "$snap" "$T/r.img"
assert_same_file "$T/small.img" "$T/r.img" "earlier snapshot after a full disk"
store_state >"$T/state.before" # the restore recorded a volume

step "gc reclaims what the failed snapshot left"
bs gc --max-unused 0 >/dev/null # every dead byte
assert_eq "$(store_bytes)" "$bytes_before" "PackBytes after gc"
assert_store_unchanged "$T/state.before"

step "a snapshot that fits works again"
head -c $((1 << 20)) /dev/urandom >"$T/small2.img"
snap2=$(snapshot_create "$T/small2.img")
restore "$snap2" "$T/r2.img"
assert_same_file "$T/small2.img" "$T/r2.img" "snapshot after the disk was full"
assert_verify_ok

step "restore onto a full disk fails cleanly and leaves no file"
store_state >"$T/state.before"
avail=$(df -k --output=avail "$T/small" | tail -n 1)
head -c $(((avail - 128) * 1024)) /dev/zero >"$T/small/filler" 2>/dev/null || true
info "$(df -k --output=avail "$T/small" | tail -n 1) KiB left"
expect_fail - 1 bs create-volume --snapshot-id "$snap2" --path "$T/small/restore.img"
stderr_contains "space"
[ ! -e "$T/small/restore.img" ] || die "the failed restore left its file"
left=$(find "$T/small" -maxdepth 1 ! -name store ! -name filler ! -path "$T/small" | wc -l)
assert_eq "$left" 0 "temporary files left by the failed restore"
rm -f "$T/small/filler"
assert_store_unchanged "$T/state.before"
