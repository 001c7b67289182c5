#!/usr/bin/env bash
# fuse-live: the view follows the store without a remount: a snapshot
# written while mounted shows up; a deleted one disappears; a file that is
# open when its snapshot is deleted and gc runs keeps returning the
# snapshot's data until it is closed (open readers pin their snapshot).
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires mkfs.ext4 cmp

fuse_assert_clean

step "one snapshot, mounted"
fill_tree "$T/tree" 8
make_ext4_image 64M "$T/tree" "$T/vol.img"
snap1=$(snapshot_create "$T/vol.img")
cp --sparse=always "$T/vol.img" "$T/vol1.img"
mkdir "$T/mnt"
fuse_mount "$T/mnt" --cache-size 1M
[ "$(ls "$T/mnt/snapshots")" = "$snap1.img" ] || die "listing: $(ls "$T/mnt/snapshots")"

step "a snapshot written while mounted shows up"
head -c 6M /dev/urandom >"$T/tree/data/more.bin"
make_ext4_image 64M "$T/tree" "$T/vol.img"
cp --sparse=always "$T/vol.img" "$T/vol2.img"
snap2=$(snapshot_create "$T/vol.img")
# lookup finds it at once (negative lookups are not cached) ...
assert_same_file "$T/mnt/snapshots/$snap2.img" "$T/vol2.img"
# ... and readdir lists it
ls "$T/mnt/snapshots" | grep -qx "$snap2.img" || die "$snap2.img not listed"

step "an open file survives delete-snapshot and gc"
# A reader opens snap1's file and reads its first MiB, waits while the
# snapshot is deleted and gc rewrites the packs, then reads the whole file.
# The mount's chunk cache is small (--cache-size 1M), so nearly all of
# that comes from the store after gc: only the reader's pin keeps it there.
mkfifo "$T/go" "$T/ready"
python3 - "$T/mnt/snapshots/$snap1.img" "$T/vol1.img" "$T/go" "$T/ready" <<'EOF' &
import os, sys
f, src, go, ready = sys.argv[1:5]
fd = os.open(f, os.O_RDONLY)
size = os.fstat(fd).st_size
a = os.pread(fd, 1 << 20, 0)
open(ready, "w").write("x")           # tell the test we are reading
open(go).read()                       # wait for delete + gc
data = b"".join(os.pread(fd, 1 << 20, o) for o in range(0, size, 1 << 20))
want = open(src, "rb").read()
if a != want[:1 << 20] or data != want:
    sys.exit("the open file returned other data after delete + gc")
os.close(fd)
EOF
reader=$!
on_cleanup_pid "$reader"
cat "$T/ready" >/dev/null
bs delete-snapshot --snapshot-id "$snap1" >/dev/null
bs gc --max-unused 0 >"$T/gc.json" # every pack with a dead byte rewritten
info "gc: $(tr -d '\n ' <"$T/gc.json")"
# the name is gone at once for new lookups
sleep 1.2 # the kernel keeps positive entries for ENTRY_TIMEOUT (1 s)
[ ! -e "$T/mnt/snapshots/$snap1.img" ] || die "$snap1.img still visible after delete"
ls "$T/mnt/snapshots" | grep -qx "$snap1.img" && die "$snap1.img still listed after delete"
echo go >"$T/go"
wait "$reader" || die "the reader of the deleted snapshot failed"
info "the open file kept its data"

step "after close, the store lets go of the deleted snapshot"
# The kernel sends RELEASE after close() returns; give it a moment.
freed=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
    bs gc >"$T/gc2.json"
    freed=$((freed + $(json_get ChunksFreed "$T/gc2.json")))
    [ "$freed" -gt 0 ] && break
    sleep 0.5
done
info "gc after close: $(tr -d '\n ' <"$T/gc2.json")"
[ "$freed" -gt 0 ] || die "gc freed nothing after the last reader of the deleted snapshot closed"
assert_verify_ok
assert_same_file "$T/mnt/snapshots/$snap2.img" "$T/vol2.img"

step "unmount"
fuse_unmount "$T/mnt"
fuse_assert_clean
