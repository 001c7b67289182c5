#!/usr/bin/env bash
# An ext4 image full of real files is snapshotted, changed (new files,
# deleted files, rewritten blocks) and snapshotted again.  Both snapshots
# restore byte for byte, and the incremental one stored little more than the
# chunks that changed.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires mkfs.ext4 debugfs python3 cmp

step "an ext4 image of 128 MiB with about 40 MiB of files"
fill_tree "$T/tree" 40
make_ext4_image 128M "$T/tree" "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/disk.v1"

step "first snapshot: full"
empty=$(store_bytes)
snap1=$(snapshot_create "$T/disk.img" --description "first")
info "snapshot $snap1"
json_get State "$T/snapshot.json" | grep -qx completed || die "state is not completed"
assert_eq "$(json_get Description "$T/snapshot.json")" first "description"
vol=$(json_get VolumeId "$T/snapshot.json")
[[ $vol =~ ^vol-[0-9a-f]{17}$ ]] || die "volume id '$vol'"
[[ $snap1 =~ ^snap-[0-9a-f]{17}$ ]] || die "snapshot id '$snap1'"
after1=$(store_bytes)
info "store: $empty -> $after1 bytes of packs"
# The image holds about 40 MiB of data, a third of it compressible: the
# store must hold at least the random part and at most the whole image.
[ "$after1" -gt $((20 << 20)) ] || die "first snapshot stored only $after1 bytes"
assert_le "$after1" $((128 << 20)) "first snapshot stored more than the image"

step "restore the first snapshot"
restore "$snap1" "$T/restored1.img"
assert_same_file "$T/disk.v1" "$T/restored1.img" "restore of snapshot 1"
assert_eq "$(stat -c %s "$T/restored1.img")" "$(stat -c %s "$T/disk.v1")" "restored size"

step "change the file system: add, delete, rewrite"
head -c 3000000 /dev/urandom >"$T/new1.bin"
seq 1 50000 >"$T/new2.txt"
debugfs_w "$T/disk.img" \
    "mkdir /added" \
    "write $T/new1.bin /added/new1.bin" \
    "write $T/new2.txt /added/new2.txt" \
    "rm /var/log/app.1.log" \
    "rm /home/user/docs/note-7.txt"
# rewrite 16 blocks in the middle of a big file, in place
blk=$(file_blocks "$T/disk.img" /data/blob.bin | sed -n 1000p)
[ -n "$blk" ] || die "no block 1000 in /data/blob.bin"
rewrite_blocks "$T/disk.img" "$blk" 16
cp --sparse=always "$T/disk.img" "$T/disk.v2"
chunk=$(store_field ChunkSize)
changed_ranges "$T/disk.v1" "$T/disk.v2" "$chunk" >"$T/expected.ranges"
changed=$(ranges_bytes "$T/expected.ranges")
info "$changed bytes in $(wc -l <"$T/expected.ranges") ranges of $chunk-byte chunks changed"
[ "$changed" -gt $((3 << 20)) ] || die "the change is smaller than intended ($changed)"

step "second snapshot: incremental"
snap2=$(snapshot_create "$T/disk.img" --description "second")
assert_eq "$(json_get VolumeId "$T/snapshot.json")" "$vol" "second snapshot's volume"
written=$(json_get BytesWritten "$T/snapshot.json")
after2=$(store_bytes)
delta=$((after2 - after1))
# Upper bound: every changed chunk stored raw with a record header, plus the
# block-map pages on the path to them (a 128 MiB volume needs one leaf page
# of ids and a root), plus slack for headers.
pages=$((4 * (65536 + 256)))
bound=$((changed + changed * 256 / chunk + pages + 65536))
info "second snapshot: BytesWritten $written, packs grew by $delta; bound $bound"
assert_le "$delta" "$bound" "incremental snapshot stored too much"
assert_le "$written" "$bound" "BytesWritten of the incremental snapshot"
[ "$delta" -gt $((2 << 20)) ] || die "incremental snapshot stored less than the new random data ($delta)"

step "restore both snapshots and compare"
restore "$snap2" "$T/restored2.img"
assert_same_file "$T/disk.v2" "$T/restored2.img" "restore of snapshot 2"
restore "$snap1" "$T/restored1.img"
assert_same_file "$T/disk.v1" "$T/restored1.img" "restore of snapshot 1 after snapshot 2"

step "the restored image is a working file system with the changes"
debugfs -R "cat /added/new2.txt" "$T/restored2.img" 2>/dev/null | cmp - "$T/new2.txt" ||
    die "new file not in the restored image"
if debugfs -R "stat /var/log/app.1.log" "$T/restored2.img" 2>&1 | grep -q 'Inode:'; then
    die "deleted file still in the restored image"
fi

step "restore is sparse where the snapshot is zero"
alloc=$(($(stat -c %b "$T/restored2.img") * 512))
info "restored image: $(stat -c %s "$T/restored2.img") bytes, $alloc allocated"
assert_le "$alloc" $((80 << 20)) "restored image is not sparse"

step "a third snapshot of an unchanged image stores (almost) nothing"
snap3=$(snapshot_create "$T/disk.img")
after3=$(store_bytes)
info "packs grew by $((after3 - after2))"
assert_le $((after3 - after2)) $((4 * 65536)) "no-change snapshot"
diff_ranges "$snap2" "$snap3" >"$T/none.ranges"
[ ! -s "$T/none.ranges" ] || die "diff of two snapshots of the same bytes is not empty"

assert_verify_ok
assert_verify_ok --snapshot-id "$snap2"
