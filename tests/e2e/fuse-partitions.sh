#!/usr/bin/env bash
# fuse-partitions: partitioned images (MBR with logical partitions, and
# GPT, both made with sfdisk) show one file per partition, at the offsets
# and sizes of the table; the ext4 in a partition file opens with
# `fuse2fs -o ro` (no loop device, no root) and matches its tree; a table
# that lies about sizes is clipped to the volume.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires sfdisk mkfs.ext4 fuse2fs cmp mountpoint

fuse_assert_clean

# partitioned IMG LABEL_SCRIPT: a 64 MiB image partitioned by sfdisk.
partitioned() {
    rm -f "$1"
    truncate -s 64M "$1"
    printf '%b' "$2" | sfdisk -q "$1" >/dev/null || die "sfdisk failed"
}

# check_parts IMG SNAP: the partition files of SNAP are exactly the
# partitions sfdisk reports for IMG, with their bytes.
check_parts() {
    local img=$1 snap=$2 n start size f
    sfdisk -J "$img" | python3 -c '
import json, re, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p["type"] in ("5", "f", "85"):
        continue  # the extended container has no file
    print(re.search(r"(\d+)$", p["node"]).group(1), p["start"], p["size"])' >"$T/parts.want"
    [ -s "$T/parts.want" ] || die "sfdisk lists no partitions"
    ls "$T/mnt/snapshots" | sed -n "s/^$snap\.p\([0-9]*\)\$/\1/p" | sort -n >"$T/parts.got"
    cut -d' ' -f1 "$T/parts.want" | sort -n | diff -u - "$T/parts.got" ||
        die "partition files of $snap differ from the table"
    while read -r n start size; do
        f=$T/mnt/snapshots/$snap.p$n
        [ "$(stat -c %s "$f")" -eq $((size * 512)) ] || die "$f: size $(stat -c %s "$f")"
        dd if="$img" of="$T/part.raw" bs=512 skip="$start" count="$size" status=none
        assert_same_file "$f" "$T/part.raw" "partition $n of $snap"
        nonzero_map "$img" "$CHUNK" $((start * 512)) $((size * 512)) >"$T/pmap.want"
        seek_map "$f" >"$T/pmap.got"
        diff -u "$T/pmap.want" "$T/pmap.got" || die "data/hole map of $f"
        info "$snap.p$n: $((size / 2)) KiB at sector $start"
    done <"$T/parts.want"
}

step "a tree in an ext4 file system"
fill_tree "$T/tree" 6
truncate -s 40M "$T/fs.ext4"
mkfs.ext4 -q -F -b 4096 -d "$T/tree" "$T/fs.ext4" >/dev/null

step "GPT: EFI system partition + Linux root"
partitioned "$T/gpt.img" 'label: gpt\nstart=2048, size=8192, type=uefi, name="EFI"\nstart=10240, size=81920, type=linux, name="root"\n'
dd if="$T/fs.ext4" of="$T/gpt.img" bs=512 seek=10240 conv=notrunc,sparse status=none
gpt=$(snapshot_create "$T/gpt.img")

step "MBR: a primary, an extended with two logicals"
partitioned "$T/mbr.img" 'label: dos\nstart=2048, size=4096, type=83, bootable\nstart=8192, size=114688, type=5\nstart=10240, size=81920, type=83\nstart=94208, size=16384, type=82\n'
dd if="$T/fs.ext4" of="$T/mbr.img" bs=512 seek=10240 conv=notrunc,sparse status=none
mbr=$(snapshot_create "$T/mbr.img")

step "a table that lies: partition 1 claims 4 GiB, partition 2 starts past the end"
partitioned "$T/liar.img" 'label: dos\nstart=2048, size=16384, type=83\nstart=20480, size=2048, type=83\n'
python3 - "$T/liar.img" <<'EOF'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(446 + 12)
    f.write(struct.pack("<I", 8 << 20))          # p1: 8 Mi sectors
    f.seek(446 + 16 + 8)
    f.write(struct.pack("<II", 1 << 24, 2048))   # p2: starts at 8 GiB
EOF
liar=$(snapshot_create "$T/liar.img")
CHUNK=$(chunk_size)

mkdir "$T/mnt" "$T/root"
fuse_mount "$T/mnt"

step "partition files match the tables"
check_parts "$T/gpt.img" "$gpt"
check_parts "$T/mbr.img" "$mbr"
assert_same_file "$T/mnt/snapshots/$gpt.img" "$T/gpt.img"
assert_same_file "$T/mnt/snapshots/$mbr.img" "$T/mbr.img"

step "lying table: clipped, never read past the end"
[ -e "$T/mnt/snapshots/$liar.p1" ] || die "$liar.p1 missing"
[ ! -e "$T/mnt/snapshots/$liar.p2" ] || die "$liar.p2 starts past the end, yet is listed"
want=$((64 * 1024 * 1024 - 2048 * 512))
[ "$(stat -c %s "$T/mnt/snapshots/$liar.p1")" -eq "$want" ] || die "$liar.p1 not clipped"
dd if="$T/liar.img" of="$T/part.raw" bs=512 skip=2048 status=none
assert_same_file "$T/mnt/snapshots/$liar.p1" "$T/part.raw"
[ ! -e "$T/mnt/snapshots/$liar.p0" ] || die "p0 exists"
[ ! -e "$T/mnt/snapshots/$gpt.p3" ] || die "p3 exists"
[ ! -e "$T/mnt/snapshots/$gpt.p01" ] || die "p01 exists"

step "fuse2fs -o ro on a partition file, without a loop device"
for s in "$gpt.p2" "$mbr.p5"; do
    on_cleanup_mount "$T/root"
    # In the foreground, as our own child: a daemonised fuse2fs closes the
    # partition file some time after its unmount, which would make ours busy.
    fuse2fs -f -o ro "$T/mnt/snapshots/$s" "$T/root" >"$T/fuse2fs.log" 2>&1 &
    f2pid=$!
    on_cleanup_pid "$f2pid"
    for ((i = 0; i < 200; i++)); do
        mountpoint -q "$T/root" && break
        kill -0 "$f2pid" 2>/dev/null || break
        sleep 0.05
    done
    mountpoint -q "$T/root" || {
        cat "$T/fuse2fs.log"
        die "fuse2fs $s failed"
    }
    diff -r --no-dereference --exclude=lost+found "$T/tree" "$T/root" ||
        die "the tree in $s differs"
    fusermount3 -u "$T/root"
    wait "$f2pid" || die "fuse2fs $s exited with an error: $(cat "$T/fuse2fs.log")"
    info "$s: tree matches"
done

step "unmount"
fuse_unmount "$T/mnt"
fuse_assert_clean
