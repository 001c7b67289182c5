#!/usr/bin/env bash
# fuse-read: every snapshot file of a mounted store is byte-identical to the
# volume it was taken from; SEEK_DATA/SEEK_HOLE report exactly the non-zero
# chunks; st_blocks, sizes and times are the snapshot's; everything is
# read-only; `cp --sparse=always` keeps the holes; as root, the ext4 inside a
# snapshot file loop-mounts and matches the tree it was made from.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires mkfs.ext4 cmp

fuse_assert_clean

step "two snapshots of an ext4 image"
fill_tree "$T/tree" 12
make_ext4_image 96M "$T/tree" "$T/vol.img"
snap1=$(snapshot_create "$T/vol.img")
cp --sparse=always "$T/vol.img" "$T/vol1.img"
printf 'changed\n' >"$T/tree/etc/app.conf"
head -c 3M /dev/urandom >"$T/tree/data/new.bin"
make_ext4_image 96M "$T/tree" "$T/vol.img"
snap2=$(snapshot_create "$T/vol.img")
cp --sparse=always "$T/vol.img" "$T/vol2.img"
CHUNK=$(chunk_size)
info "$snap1 $snap2, chunk size $CHUNK"

step "mount"
mkdir "$T/mnt"
fuse_mount "$T/mnt"
[ "$(ls "$T/mnt")" = "$(printf 'images\nsnapshots\ntags\nvolumes')" ] || die "top level: $(ls "$T/mnt")"
ls "$T/mnt/snapshots" >"$T/ls"
grep -qx "$snap1.img" "$T/ls" || die "$snap1.img not listed"
grep -qx "$snap2.img" "$T/ls" || die "$snap2.img not listed"
[ "$(wc -l <"$T/ls")" -eq 2 ] || die "unexpected entries: $(cat "$T/ls")"

step "byte for byte"
assert_same_file "$T/mnt/snapshots/$snap1.img" "$T/vol1.img"
assert_same_file "$T/mnt/snapshots/$snap2.img" "$T/vol2.img"
# a second pass is served from the caches
assert_same_file "$T/mnt/snapshots/$snap2.img" "$T/vol2.img"
# As root, the mount widens the kernel's readahead window from its default
# 128 KiB to 2 MiB (2 x max_read) once a file has been opened.
if [ "$(id -u)" = 0 ]; then
    ra=$(cat "/sys/class/bdi/$(mountpoint -d "$T/mnt")/read_ahead_kb")
    [ "$ra" = 2048 ] || die "the mount's readahead window is $ra KiB, not 2048"
fi
# reads at odd offsets and lengths, across chunk boundaries
python3 - "$T/mnt/snapshots/$snap2.img" "$T/vol2.img" "$CHUNK" <<'EOF'
import os, random, sys
a, b, chunk = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_RDONLY), int(sys.argv[3])
size = os.fstat(b).st_size
rnd = random.Random(4)
for i in range(3000):
    off = rnd.randrange(0, size)
    n = rnd.choice([1, 511, 4096, chunk - 1, chunk + 1, 3 * chunk + 7, 1 << 20])
    if os.pread(a, n, off) != os.pread(b, n, off):
        sys.exit("differs at %d+%d" % (off, n))
assert os.pread(a, 10, size) == b"", "read past the end"
assert len(os.pread(a, 100, size - 10)) == 10, "short read at the end"
EOF

step "SEEK_DATA / SEEK_HOLE walk the block map"
for s in 1 2; do
    id=$snap1 && [ $s = 2 ] && id=$snap2
    seek_map "$T/mnt/snapshots/$id.img" >"$T/map.mount"
    nonzero_map "$T/vol$s.img" "$CHUNK" >"$T/map.want"
    diff -u "$T/map.want" "$T/map.mount" || die "data/hole map of $id differs from the source's"
    [ -s "$T/map.want" ] || die "empty map"
    info "$id: $(wc -l <"$T/map.want") data segments"
done
# the source's own map (file-system granularity) is covered by the mount's
python3 - "$T/vol2.img" "$T/mnt/snapshots/$snap2.img" <<'EOF'
import os, sys
def segs(p):
    fd = os.open(p, os.O_RDONLY); size = os.fstat(fd).st_size; out = []; off = 0
    while off < size:
        try: d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError: break
        h = os.lseek(fd, d, os.SEEK_HOLE); out.append((d, h)); off = h
    return fd, out
fsrc, src = segs(sys.argv[1])
_, mnt = segs(sys.argv[2])
for d, h in src:
    buf = os.pread(fsrc, h - d, d)
    for i in range(0, len(buf), 4096):
        if buf[i:i + 4096].count(0) != len(buf[i:i + 4096]):
            o = d + i
            if not any(a <= o < b for a, b in mnt):
                sys.exit("non-zero source data at %d lies in a hole of the mount" % o)
EOF

step "sizes, st_blocks and times are the snapshot's"
bs describe-snapshots --snapshot-ids "$snap2" >"$T/d.json"
size=$(stat -c %s "$T/vol2.img")
[ "$(stat -c %s "$T/mnt/snapshots/$snap2.img")" -eq "$size" ] || die "size"
want_blocks=$(awk -v c="$CHUNK" '{ s += $2 - $1 } END { print int((s + 511) / 512) }' "$T/map.want")
got_blocks=$(stat -c %b "$T/mnt/snapshots/$snap2.img")
[ "$got_blocks" -eq "$want_blocks" ] || die "st_blocks $got_blocks, want $want_blocks"
start=$(json_get Snapshots.0.StartTime "$T/d.json")
want_mtime=$(date -u -d "$start" +%s)
[ "$(stat -c %Y "$T/mnt/snapshots/$snap2.img")" -eq "$want_mtime" ] || die "mtime"
[ "$(stat -c %a "$T/mnt/snapshots/$snap2.img")" = 444 ] || die "mode"

step "read-only in every way"
f=$T/mnt/snapshots/$snap2.img
for what in "write" "truncate" "chmod" "touch" "mkdir" "create" "rm" "mv" "ln"; do
    rc=0
    case $what in
    write) out=$( (printf x | dd of="$f" conv=notrunc status=none) 2>&1) || rc=$? ;;
    truncate) out=$(truncate -s 0 "$f" 2>&1) || rc=$? ;;
    chmod) out=$(chmod 600 "$f" 2>&1) || rc=$? ;;
    touch) out=$(touch "$f" 2>&1) || rc=$? ;;
    mkdir) out=$(mkdir "$T/mnt/snapshots/d" 2>&1) || rc=$? ;;
    create) out=$( (: >"$T/mnt/snapshots/new") 2>&1) || rc=$? ;;
    rm) out=$(rm -f "$f" 2>&1) || rc=$? ;;
    mv) out=$(mv "$f" "$f.x" 2>&1) || rc=$? ;;
    ln) out=$(ln -s x "$T/mnt/new" 2>&1) || rc=$? ;;
    esac
    [ "$rc" -ne 0 ] || die "$what succeeded on the mount"
    case $out in
    *"Read-only file system"*) info "$what: EROFS" ;;
    *) die "$what: expected EROFS, got: $out" ;;
    esac
done
python3 - "$f" <<'EOF'
import errno, os, sys
try:
    os.open(sys.argv[1], os.O_RDWR)
except OSError as e:
    assert e.errno == errno.EROFS, e
else:
    sys.exit("O_RDWR open succeeded")
EOF
assert_same_file "$f" "$T/vol2.img" "the file changed"

step "cp --sparse=always keeps holes"
cp --sparse=always "$f" "$T/copy.img"
assert_same_file "$T/copy.img" "$T/vol2.img"
copy_kib=$(du -k "$T/copy.img" | cut -f1)
assert_le "$copy_kib" $(((want_blocks / 2) + 1024)) "the copy is not sparse"

if [ "$(id -u)" -eq 0 ] && command -v losetup >/dev/null && losetup -f >/dev/null 2>&1; then
    step "loop mount of the ext4 inside a snapshot file"
    mkdir "$T/old"
    on_cleanup_mount "$T/old"
    loopdev=$(losetup -f --show -r "$T/mnt/snapshots/$snap2.img")
    on_cleanup_loop "$loopdev"
    mount -o ro "$loopdev" "$T/old"
    diff -r --no-dereference --exclude=lost+found "$T/tree" "$T/old" || die "the loop-mounted tree differs"
    umount "$T/old"
    losetup -d "$loopdev"
else
    info "not root or no loop devices: loop mount skipped"
fi

step "unmount"
fuse_unmount "$T/mnt"
fuse_assert_clean
