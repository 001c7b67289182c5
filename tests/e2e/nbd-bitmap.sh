#!/usr/bin/env bash
# QEMU dirty bitmaps as changed-block lists: after a full snapshot of a
# qcow2 disk served by qemu-nbd, a bitmap added to the qcow2 records a known
# write; exported with qemu-nbd -B, create-snapshot --changed-blocks
# nbd:qemu:dirty-bitmap:b1 --parent FULL reads only the dirty extents (the
# bytes read are asserted) and restores to the qcow2's new contents.  The
# chain guard refuses a parent of another volume, a disk of another size, a
# bitmap the server does not export, and a missing --parent; each leaves
# the store as it was.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/nbd-functions.sh
source "$(dirname "$0")/../lib/nbd-functions.sh"
requires qemu-nbd qemu-img qemu-io nbdinfo mkfs.ext4 python3

chunk=65536
make_ext4 "$T/disk.raw" 64M
qcow2_of "$T/disk.raw" "$T/disk.qcow2"
sock=$T/nbd.sock
uri="nbd+unix:///?socket=$sock"

step "a full snapshot of the qcow2 over NBD"
qemu_nbd_start "$sock" "$T/disk.qcow2"
full=$(snapshot_create "$uri")
vol=$(json_get VolumeId "$T/snapshot.json")
nbd_stop

step "a bitmap added after it records a known write"
qemu-img bitmap --add "$T/disk.qcow2" b1
qemu-io -f qcow2 -c 'write -P 0xab 8M 1M' -c 'write -P 0xcd 30724k 4k' "$T/disk.qcow2" >/dev/null
raw_of "$T/disk.qcow2" "$T/expect.raw"
qemu_nbd_start "$sock" "$T/disk.qcow2" -B b1
# the dirty bytes as the server says, rounded out to whole chunks
dirty=$(nbdinfo --map=qemu:dirty-bitmap:b1 "$uri" | awk -v cs=$chunk '
    $3 == 1 { a = int($1 / cs) * cs; b = int(($1 + $2 + cs - 1) / cs) * cs; n += b - a }
    END { print n + 0 }')
info "the bitmap marks $dirty bytes dirty"
[ "$dirty" -ge $((1 << 20)) ] || die "the bitmap does not show the write ($dirty bytes)"

step "the incremental from the bitmap reads only the dirty extents"
bs create-snapshot --volume "$uri" --changed-blocks nbd:qemu:dirty-bitmap:b1 \
    --parent "$full" >"$T/inc.json"
inc=$(json_get SnapshotId "$T/inc.json")
assert_eq "$(json_get VolumeId "$T/inc.json")" "$vol" "the incremental's volume"
assert_eq "$(json_get ParentSnapshotId "$T/inc.json" 2>/dev/null || echo "$full")" "$full" \
    "the incremental's parent"
read=$(json_get BytesRead "$T/inc.json")
info "read $read bytes for $dirty dirty"
assert_le "$read" $((dirty * 11 / 10)) "the incremental read more than the dirty extents"
[ "$read" -gt 0 ] || die "the incremental read nothing"
restore "$inc" "$T/restored.raw"
assert_same_file "$T/expect.raw" "$T/restored.raw" "restore of the incremental"
assert_verify_ok

store_state >"$T/state.before"
bytes=$(store_bytes)

step "the chain guard: a parent of another volume"
head -c $((1 << 20)) /dev/urandom >"$T/other.img"
other=$(snapshot_create "$T/other.img")
store_state >"$T/state.before"
bytes=$(store_bytes)
expect_fail InvalidParameterCombination 1 bs create-snapshot --volume "$uri" \
    --changed-blocks nbd:qemu:dirty-bitmap:b1 --parent "$other"
stderr_contains "$other" "$vol"
assert_store_unchanged "$T/state.before"

step "the chain guard: a bitmap the server does not export"
expect_fail InvalidParameterValue 1 bs create-snapshot --volume "$uri" \
    --changed-blocks nbd:qemu:dirty-bitmap:nope --parent "$full"
stderr_contains "qemu:dirty-bitmap:nope" "does not offer"
assert_store_unchanged "$T/state.before"

step "the chain guard: no --parent"
expect_fail MissingParameter 2 bs create-snapshot --volume "$uri" \
    --changed-blocks nbd:qemu:dirty-bitmap:b1
stderr_contains "--parent"
nbd_stop

step "the chain guard: the disk changed size"
qemu-img create -q -f qcow2 "$T/small.qcow2" 32M
qemu-img bitmap --add "$T/small.qcow2" b1
qemu_nbd_start "$sock" "$T/small.qcow2" -B b1
expect_fail InvalidParameterCombination 1 bs create-snapshot --volume "$uri" \
    --changed-blocks nbd:qemu:dirty-bitmap:b1 --parent "$full"
stderr_contains "full snapshot" "$full"
nbd_stop
assert_store_unchanged "$T/state.before"
assert_eq "$(store_bytes)" "$bytes" "pack bytes after the refusals"

step "--volume-id with another URI: the same volume read from a new socket"
qemu-img bitmap --add "$T/disk.qcow2" b2
qemu-io -f qcow2 -c 'write -P 0x77 40M 64k' "$T/disk.qcow2" >/dev/null
raw_of "$T/disk.qcow2" "$T/expect2.raw"
qemu_nbd_start "$T/other.sock" "$T/disk.qcow2" -B b2
bs create-snapshot --volume-id "$vol" --volume "nbd+unix:///?socket=$T/other.sock" \
    --changed-blocks nbd:qemu:dirty-bitmap:b2 --parent "$inc" >"$T/inc2.json"
nbd_stop
assert_eq "$(json_get VolumeId "$T/inc2.json")" "$vol" "the volume of the second incremental"
assert_le "$(json_get BytesRead "$T/inc2.json")" $((chunk * 11 / 10)) "bytes read for one chunk"
restore "$(json_get SnapshotId "$T/inc2.json")" "$T/restored2.raw"
assert_same_file "$T/expect2.raw" "$T/restored2.raw" "restore of the second incremental"
expect_fail InvalidParameterCombination 2 bs create-snapshot --volume-id "$vol" \
    --volume "$T/other.img"
