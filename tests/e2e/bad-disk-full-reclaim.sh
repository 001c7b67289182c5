#!/usr/bin/env bash
# A full disk and the space a store gives back (the store lives on a 160 MiB
# tmpfs): a snapshot that fails for lack of space leaves its packs as they
# were (what it wrote is given back at once, not left for gc); and with 0
# bytes free on the file system, delete-snapshot and gc still run and free
# the space (the store's reserve file lets them write their metadata).
# Needs root (mount).
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires_root
requires mount umount python3 cmp df

mkdir "$T/small"
mount -t tmpfs -o size=160m tmpfs "$T/small" 2>"$T/mount.err" || skip "cannot mount tmpfs: $(cat "$T/mount.err")"
on_cleanup_mount "$T/small"
STORE=$T/small/store
avail() { df -k --output=avail "$T/small" | tail -n 1 | tr -d " "; }
pack_bytes() { du -sb --apparent-size "$STORE/packs" | cut -f1; }

step "a snapshot that fits"
head -c $((8 << 20)) /dev/urandom >"$T/a.img"
snap=$(snapshot_create "$T/a.img")
store_state >"$T/state.before"
packs_before=$(pack_bytes)
free_before=$(avail)
info "$free_before KiB free"

step "a 256 MiB snapshot fails on the full disk and gives its space back"
# more than one commit batch (64 MiB) fits before the disk is full: what the
# failed run committed to the index is given back too
head -c $((256 << 20)) /dev/urandom >"$T/big.img"
expect_fail Store.Full 1 bs create-snapshot --volume "$T/big.img"
stderr_contains "space"
info "$(avail) KiB free after the failure"
assert_eq "$(pack_bytes)" "$packs_before" "pack bytes after the failed snapshot (no gc)"
assert_le $((free_before - $(avail))) 1024 "KiB of the file system the failed snapshot kept"
assert_store_unchanged "$T/state.before"

step "with 0 bytes free, delete-snapshot and gc free the space"
head -c $((256 << 20)) /dev/zero >"$T/small/filler" 2>/dev/null || true
assert_eq "$(avail)" 0 "KiB free after the filler"
bs delete-snapshot --snapshot-id "$snap" >/dev/null
bs gc >"$T/gc.json"
info "gc: $(tr -d '\n ' <"$T/gc.json")"
info "$(avail) KiB free after delete-snapshot and gc"
assert_le $((6 << 10)) "$(avail)" "KiB free after gc (8 MiB of packs, less the reserve made again)"
assert_eq "$(store_bytes)" 0 "PackBytes after gc"
assert_verify_ok

step "once the filler is gone, snapshots work again"
rm -f "$T/small/filler"
snap2=$(snapshot_create "$T/a.img")
restore "$snap2" "$T/r.img"
assert_same_file "$T/a.img" "$T/r.img" "snapshot after the disk was full"
assert_verify_ok
