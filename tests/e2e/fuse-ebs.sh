#!/usr/bin/env bash
# fuse-ebs: an ext4 image written through the EBS direct verbs (its blocks
# with data, in random order) shows in the mount as snapshots/ID.img,
# byte-identical to the image, its holes where the image's zero blocks
# are, and its file system checks clean (e2fsck -n on the mounted file).
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires mkfs.ext4 e2fsck python3 openssl base64 cmp shuf

fuse_assert_clean
BLK=524288

step "a 1 GiB ext4 image, written block by block"
fill_tree "$T/tree" 8
make_ext4_image 1G "$T/tree" "$T/vol.img"
ebs_blocks "$T/vol.img" "$T/blk" >"$T/idx"
id=$(bs start-snapshot --volume-size 1 | json_get SnapshotId)
n=0
for i in $(shuf "$T/idx"); do
    bs put-snapshot-block --snapshot-id "$id" --block-index "$i" --block-data "$T/blk/$i" \
        --data-length $BLK --checksum "$(openssl dgst -sha256 -binary "$T/blk/$i" | base64)" \
        --checksum-algorithm SHA256 >/dev/null
    n=$((n + 1))
done
info "$n blocks"
assert_eq "$(bs complete-snapshot --snapshot-id "$id" --changed-blocks-count $n |
    json_get Status)" completed

step "mount: the snapshot's file is the image"
mkdir "$T/mnt"
fuse_mount "$T/mnt"
f=$T/mnt/snapshots/$id.img
[ -f "$f" ] || die "$id.img not in the mount"
assert_eq "$(stat -c %s "$f")" $((1 << 30)) "size"
assert_same_file "$f" "$T/vol.img"
# holes: at most the image's data blocks are data
python3 - "$f" "$n" <<'PY'
import os, sys
fd, n = os.open(sys.argv[1], os.O_RDONLY), int(sys.argv[2])
size, off, data = os.fstat(fd).st_size, 0, 0
while off < size:
    try:
        s = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    e = os.lseek(fd, s, os.SEEK_HOLE)
    data += e - s
    off = e
assert data <= n * 524288, (data, n)
PY
e2fsck -fn "$f" >"$T/fsck.out" 2>&1 || {
    cat "$T/fsck.out"
    die "e2fsck of the mounted snapshot"
}
fuse_unmount "$T/mnt"
fuse_assert_clean
