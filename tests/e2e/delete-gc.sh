#!/usr/bin/env bash
# delete-snapshot frees only what no other snapshot shares, and gc returns
# the store's pack bytes to what they were before the deleted snapshot was
# taken; deleting a parent keeps its child whole.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires mkfs.ext4 debugfs python3 cmp

fill_tree "$T/tree" 24
make_ext4_image 96M "$T/tree" "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/disk.v1"

step "an empty store, then snapshot A"
bs gc >/dev/null # a verb that writes makes the empty store
bs describe-store >"$T/store0.json"
bytes0=$(json_get PackBytes "$T/store0.json")
chunks0=$(json_get ChunkCount "$T/store0.json")
info "empty store: PackBytes $bytes0, ChunkCount $chunks0"
snapA=$(snapshot_create "$T/disk.img")
bytesA=$(store_bytes)
chunksA=$(store_field ChunkCount)
info "after A: PackBytes $bytesA, ChunkCount $chunksA"

step "change the image (16 MiB of new data) and take snapshot B"
head -c $((16 << 20)) /dev/urandom >"$T/new.bin"
debugfs_w "$T/disk.img" "write $T/new.bin /new.bin" "rm /data/small.bin"
cp --sparse=always "$T/disk.img" "$T/disk.v2"
snapB=$(snapshot_create "$T/disk.img")
bytesB=$(store_bytes)
info "after B: PackBytes $bytesB"
[ "$bytesB" -gt $((bytesA + (15 << 20))) ] || die "B stored less than its new data"

step "delete B, gc: the store is back to its size after A"
bs delete-snapshot --snapshot-id "$snapB" >/dev/null
assert_verify_ok
bs gc >"$T/gc.out"
cat "$T/gc.out"
assert_eq "$(store_bytes)" "$bytesA" "PackBytes after delete B + gc"
assert_eq "$(store_field ChunkCount)" "$chunksA" "ChunkCount after delete B + gc"
assert_verify_ok
bs describe-snapshots >"$T/list.json"
assert_eq "$(json_get Snapshots.# "$T/list.json")" 1 "snapshots left"
assert_eq "$(json_get Snapshots.0.SnapshotId "$T/list.json")" "$snapA" "snapshot left"
expect_fail InvalidSnapshot.NotFound 1 bs describe-snapshots --snapshot-ids "$snapB"
restore "$snapA" "$T/a.img"
assert_same_file "$T/disk.v1" "$T/a.img" "A after deleting B"

step "take B again (incremental on A), then delete the parent A"
# The volume's last snapshot is A again, so B2 is incremental on A.
snapB2=$(snapshot_create "$T/disk.img")
bytesB2=$(store_bytes)
bs delete-snapshot --snapshot-id "$snapA" >/dev/null
bs gc >/dev/null
after=$(store_bytes)
info "after deleting A and gc: PackBytes $bytesB2 -> $after"
assert_le "$after" "$bytesB2" "gc after deleting the parent"
restore "$snapB2" "$T/b.img"
assert_same_file "$T/disk.v2" "$T/b.img" "B2 after deleting its parent A"
assert_verify_ok

step "a snapshot after the parent was deleted is still incremental and correct"
rewrite_blocks "$T/disk.img" 5000 8
cp --sparse=always "$T/disk.img" "$T/disk.v3"
snapC=$(snapshot_create "$T/disk.img")
restore "$snapC" "$T/c.img"
assert_same_file "$T/disk.v3" "$T/c.img" "C"

step "delete everything, gc: the store is as empty as at the start"
bs delete-snapshot --snapshot-id "$snapB2" >/dev/null
bs delete-snapshot --snapshot-id "$snapC" >/dev/null
bs gc >/dev/null
bs describe-store >"$T/store-end.json"
assert_eq "$(json_get PackBytes "$T/store-end.json")" "$bytes0" "PackBytes of the emptied store"
assert_eq "$(json_get ChunkCount "$T/store-end.json")" "$chunks0" "ChunkCount of the emptied store"
assert_eq "$(json_get SnapshotCount "$T/store-end.json")" 0 "SnapshotCount"
assert_verify_ok

step "deleting twice, or a snapshot that never was"
expect_fail InvalidSnapshot.NotFound 1 bs delete-snapshot --snapshot-id "$snapC"
expect_fail InvalidSnapshot.NotFound 1 bs delete-snapshot --snapshot-id snap-0123456789abcdef0
stderr_contains snap-0123456789abcdef0
