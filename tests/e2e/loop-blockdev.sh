#!/usr/bin/env bash
# A block device (a loop device over an ext4 image) snapshots and restores
# like a file: full, then incremental after writes to the device; the
# restore into a file equals the device byte for byte.  Needs root and a
# free loop device.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires_root
requires losetup mkfs.ext4 cmp blockdev

fill_tree "$T/tree" 16
make_ext4_image 64M "$T/tree" "$T/backing.img"
dev=$(losetup -f --show "$T/backing.img" 2>"$T/losetup.err") ||
    skip "no loop device: $(cat "$T/losetup.err")"
on_cleanup_loop "$dev"
info "loop device $dev ($(blockdev --getsize64 "$dev") bytes)"

step "snapshot the block device"
snap1=$(snapshot_create "$dev")
assert_eq "$(json_get VolumeSize "$T/snapshot.json")" 1 "VolumeSize (GiB)"
restore "$snap1" "$T/r1.img"
assert_eq "$(stat -c %s "$T/r1.img")" "$(blockdev --getsize64 "$dev")" "restored size"
cmp "$dev" "$T/r1.img" || die "restore of the device snapshot differs from the device"
cp --sparse=always "$T/r1.img" "$T/v1.img"

step "write to the device, snapshot again (incremental)"
before=$(store_bytes)
dd if=/dev/urandom of="$dev" bs=4096 seek=3000 count=64 conv=notrunc,fsync status=none
dd if=/dev/urandom of="$dev" bs=4096 seek=12000 count=1 conv=notrunc,fsync status=none
snap2=$(snapshot_create "$dev")
grew=$(($(store_bytes) - before))
info "incremental snapshot of the device stored $grew bytes"
# 256 KiB + 4 KiB written: at most 6 chunks of 64 KiB, plus pages
assert_le "$grew" $((6 * 66000 + 4 * 66000)) "incremental device snapshot"
restore "$snap2" "$T/r2.img"
cmp "$dev" "$T/r2.img" || die "restore of the second device snapshot differs"

step "diff of the device snapshots equals the real change"
chunk=$(store_field ChunkSize)
changed_ranges "$T/v1.img" "$T/r2.img" "$chunk" >"$T/expected"
diff_ranges "$snap1" "$snap2" >"$T/actual"
diff -u "$T/expected" "$T/actual" || die "diff of device snapshots"

step "the device's volume record is the device"
bs describe-volumes >"$T/vols.json"
python3 - "$T/vols.json" "$(json_get VolumeId "$T/snapshot.json")" <<'PY'
import json, sys
vols = {v["VolumeId"]: v for v in json.load(open(sys.argv[1]))["Volumes"]}
assert sys.argv[2] in vols, "volume %s not described" % sys.argv[2]
PY

assert_verify_ok
