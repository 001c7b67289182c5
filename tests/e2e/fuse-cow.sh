#!/usr/bin/env bash
# fuse-cow: the mount serves writable volumes read-write as
# volumes/vol-….img.  fuse2fs mounts one made from a real ext4 snapshot
# (no loop device), files are written into it and it is unmounted; the
# volume, snapshotted (reading only what was written) and restored to a
# file, holds the files (debugfs) and checks clean (e2fsck).  While open the
# volume is in-use: create-snapshot and delete-volume are refused.  Every
# other file stays read-only.  Then the mount daemon is killed (kill -9)
# while a writer writes after an fsync: after a remount every fsync'ed write
# is there and every chunk reads as the base or as what was written.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires mkfs.ext4 fuse2fs debugfs e2fsck cmp mountpoint

fuse_assert_clean

step "an ext4 snapshot, a writable volume of it, mounted"
fill_tree "$T/tree" 4
make_ext4_image 64M "$T/tree" "$T/disk.img"
base=$(snapshot_create "$T/disk.img")
bs create-volume --snapshot-id "$base" >"$T/vol.json"
vol=$(json_get VolumeId "$T/vol.json")
mkdir "$T/mnt" "$T/fs"
fuse_mount "$T/mnt"
img=$T/mnt/volumes/$vol.img
ls "$T/mnt/volumes" | grep -qx "$vol.img" || die "volumes/ does not list $vol.img: $(ls "$T/mnt/volumes")"
assert_eq "$(stat -c %s "$img")" $((64 << 20)) "size"
assert_eq "$(stat -c %a "$img")" 644 "mode"
cmp "$img" "$T/disk.img" || die "the volume does not read as its snapshot"

step "everything else stays read-only"
! touch "$T/mnt/snapshots/x" 2>/dev/null || die "created a file in snapshots/"
! dd if=/dev/zero of="$T/mnt/snapshots/$base.img" bs=4096 count=1 conv=notrunc status=none 2>/dev/null ||
    die "wrote into a snapshot"
! mkdir "$T/mnt/volumes/x" 2>/dev/null || die "made a directory in volumes/"
! truncate -s 1M "$img" 2>/dev/null || die "resized a writable volume"
cmp "$T/mnt/snapshots/$base.img" "$T/disk.img" || die "the snapshot changed"

step "fuse2fs mounts the volume read-write; files are written into it"
on_cleanup_mount "$T/fs"
fuse2fs -f -o rw,fakeroot "$img" "$T/fs" >"$T/fuse2fs.log" 2>&1 &
f2pid=$!
on_cleanup_pid "$f2pid"
for ((i = 0; i < 200; i++)); do
    mountpoint -q "$T/fs" && break
    kill -0 "$f2pid" 2>/dev/null || break
    sleep 0.05
done
mountpoint -q "$T/fs" || die "fuse2fs failed: $(cat "$T/fuse2fs.log")"
head -c 3M /dev/urandom >"$T/new.bin"
mkdir "$T/fs/newdir"
cp "$T/new.bin" "$T/fs/newdir/new.bin"
echo "written through a writable volume" >"$T/fs/hello.txt"
rm "$T/fs/var/log/app.1.log"
sync "$T/fs/hello.txt"

step "while it is open: in-use; snapshot and delete refused"
bs describe-volumes --volume-ids "$vol" >"$T/d.json"
assert_eq "$(json_get Volumes.0.State "$T/d.json")" in-use "state while open"
expect_fail VolumeInUse 1 bs create-snapshot --volume-id "$vol"
expect_fail VolumeInUse 1 bs delete-volume --volume-id "$vol"

fusermount3 -u "$T/fs"
wait "$f2pid" || die "fuse2fs exited with an error: $(cat "$T/fuse2fs.log")"
# The kernel sends the release after the close returns.
vol_available() { [ "$(bs describe-volumes --volume-ids "$1" | json_get Volumes.0.State)" = available ]; }
wait_until 10 vol_available "$vol"

step "a snapshot of the volume reads what was written, and holds the files"
bs create-snapshot --volume-id "$vol" >"$T/s1.json" 2>"$T/s1.err"
cat "$T/s1.err"
s1=$(json_get SnapshotId "$T/s1.json")
bs describe-snapshots --snapshot-ids "$s1" >"$T/s1d.json"
read_bytes=$(python3 -c '
import re, sys
m = re.search(r"read ([0-9.]+) (B|KiB|MiB)", open(sys.argv[1]).read())
print(int(float(m.group(1)) * {"B": 1, "KiB": 1024, "MiB": 1 << 20}[m.group(2)]))' "$T/s1.err")
info "the snapshot read $read_bytes bytes of a 64 MiB volume"
assert_le "$read_bytes" $((12 << 20)) "bytes read by the snapshot of the volume"
assert_le $((3 << 20)) "$read_bytes" "bytes read by the snapshot of the volume"
restore "$s1" "$T/r1.img"
e2fsck -fn "$T/r1.img" >"$T/fsck.log" 2>&1 || die "e2fsck: $(cat "$T/fsck.log")"
debugfs -R "dump /newdir/new.bin $T/got.bin" "$T/r1.img" >/dev/null 2>&1
assert_same_file "$T/new.bin" "$T/got.bin" "a file written through the volume"
assert_eq "$(debugfs -R 'cat /hello.txt' "$T/r1.img" 2>/dev/null)" "written through a writable volume" "hello.txt"
debugfs -R "stat /var/log/app.1.log" "$T/r1.img" 2>&1 | grep -q 'File not found' ||
    die "a removed file is still there"
# the mount reads the same bytes as the snapshot
cmp "$img" "$T/r1.img" || die "the volume and its snapshot differ"

step "kill -9 of the mount daemon during writes after an fsync"
bs create-volume --snapshot-id "$base" >"$T/vol2.json"
vol2=$(json_get VolumeId "$T/vol2.json")
img2=$T/mnt/volumes/$vol2.img
cat >"$T/writer.py" <<'EOF'
import os, sys, time
path, marker = sys.argv[1], sys.argv[2]
CH = 65536
fd = os.open(path, os.O_RDWR)
# chunks 0..99: a pattern each, fsync'ed
for i in range(100):
    os.pwrite(fd, bytes([i % 250 + 1]) * CH, i * CH)
os.fsync(fd)
open(marker, "w").write("synced\n")
# then chunks 100..899 over and over, never fsync'ed, until the mount dies
try:
    n = 0
    while True:
        i = 100 + n % 800
        os.pwrite(fd, bytes([i % 250 + 1]) * CH, i * CH)
        n += 1
except OSError:
    pass
EOF
python3 "$T/writer.py" "$img2" "$T/synced" &
wpid=$!
on_cleanup_pid "$wpid"
wait_until 60 test -s "$T/synced"
sleep 0.5
kill -9 "$FUSE_PID"
wait "$FUSE_PID" 2>/dev/null || true
wait "$wpid" 2>/dev/null || true
fusermount3 -u -z "$T/mnt" 2>/dev/null || umount -l "$T/mnt" 2>/dev/null || true
fuse_mount "$T/mnt"
python3 - "$img2" "$T/disk.img" <<'EOF' || die "the volume after the crash is wrong"
import sys
CH = 65536
vol, base = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
bad = 0
for i in range(1024):
    got, old = vol.read(CH), base.read(CH)
    new = bytes([i % 250 + 1]) * CH
    if i < 100 and got != new:
        print("chunk %d: an fsync'ed write is lost" % i); bad += 1
    elif 100 <= i < 900 and got not in (old, new):
        print("chunk %d: neither the base nor the write" % i); bad += 1
    elif i >= 900 and got != old:
        print("chunk %d: never written, not the base" % i); bad += 1
sys.exit(1 if bad else 0)
EOF
info "every fsync'ed chunk is there, every other reads as the base or the write"
# a snapshot after the crash holds exactly what the volume reads (once the
# mount has released the file the check read)
wait_until 10 vol_available "$vol2"
s2=$(bs create-snapshot --volume-id "$vol2" --quiet | json_get SnapshotId)
restore "$s2" "$T/r2.img"
cmp "$img2" "$T/r2.img" || die "the snapshot after the crash differs from the volume"

step "unmount"
fuse_unmount "$T/mnt"
fuse_assert_clean
bs delete-volume --volume-id "$vol2"
assert_verify_ok
