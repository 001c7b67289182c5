#!/usr/bin/env bash
# fuse-parts-recorded: snapshots/ names a snapshot's SNAP.pN files from the
# partition table recorded when the snapshot was taken, not by reading the
# table again: after the chunk that holds the table is damaged in its pack,
# the listing and the partition files' sizes are as before (reads of the
# damaged chunk fail with EIO, as for any damage).  A record written before
# the table was recorded (rewritten here as such in the metadata file) has
# its table read from the snapshot, as before.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires sfdisk python3

fuse_assert_clean

step "an MBR image with two partitions; its first chunk incompressible"
truncate -s 16M "$T/vol.img"
printf 'label: dos\nstart=2048, size=8192, type=83\nstart=12288, size=16384, type=83\n' |
    sfdisk -q "$T/vol.img" >/dev/null || die "sfdisk failed"
CHUNK=$(chunk_size)
# random bytes after the boot sector, up to the end of the first chunk, so
# the chunk is stored as it is and its table can be found in the pack
head -c $((CHUNK - 512)) /dev/urandom |
    dd of="$T/vol.img" bs=512 seek=1 conv=notrunc status=none
head -c 4M /dev/urandom | dd of="$T/vol.img" bs=512 seek=2048 conv=notrunc status=none
snap=$(snapshot_create "$T/vol.img")
printf '%s\n' "$snap.img" "$snap.p1" "$snap.p2" >"$T/want"

mkdir "$T/mnt"
fuse_mount "$T/mnt"
ls "$T/mnt/snapshots" >"$T/before"
diff -u "$T/want" "$T/before" || die "snapshots/ before the damage"
fuse_unmount "$T/mnt"

step "flip a byte of the partition table where the pack holds it"
python3 - "$T/vol.img" "$STORE"/packs/* <<'PY'
import sys
with open(sys.argv[1], "rb") as f:
    table = f.read(512)[446:510]
hits = []
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        data = f.read()
    at = data.find(table)
    while at >= 0:
        hits.append((path, at))
        at = data.find(table, at + 1)
if len(hits) != 1:
    sys.exit("expected the table once in the packs, found it %d times" % len(hits))
path, at = hits[0]
with open(path, "r+b") as f:
    f.seek(at + 8)  # the first partition's start sector
    b = f.read(1)
    f.seek(at + 8)
    f.write(bytes([b[0] ^ 0x5a]))
print("   flipped byte %d of %s" % (at + 8, path.rsplit("/", 1)[-1]))
PY

step "the listing and the partition sizes are as recorded"
fuse_mount "$T/mnt"
ls "$T/mnt/snapshots" >"$T/after"
diff -u "$T/want" "$T/after" || die "snapshots/ changed with the damage"
assert_eq "$(stat -c %s "$T/mnt/snapshots/$snap.p1")" $((8192 * 512)) "size of $snap.p1"
assert_eq "$(stat -c %s "$T/mnt/snapshots/$snap.p2")" $((16384 * 512)) "size of $snap.p2"
# the damage is real: the first chunk no longer reads
if dd if="$T/mnt/snapshots/$snap.img" of=/dev/null bs=4096 count=1 status=none 2>"$T/dd.err"; then
    die "the damaged first chunk read without an error"
fi
grep -q 'Input/output error' "$T/dd.err" || die "reading the damaged chunk: $(cat "$T/dd.err")"
# and a partition whose chunks are intact reads as the volume
dd if="$T/vol.img" of="$T/p1.want" bs=512 skip=2048 count=8192 status=none
assert_same_file "$T/mnt/snapshots/$snap.p1" "$T/p1.want" "partition 1"
fuse_unmount "$T/mnt"

step "a record as an older version wrote it (no table): the table is read"
truncate -s 16M "$T/old.img"
printf 'label: dos\nstart=2048, size=4096, type=83\nstart=8192, size=4096, type=83\n' |
    sfdisk -q "$T/old.img" >/dev/null || die "sfdisk failed"
old=$(snapshot_create "$T/old.img")
# Same length (LMDB's value stays in place): without "owner",
# "partitions" and "check" (keys older versions did not write), padded
# with spaces, which JSON allows.
python3 - "$STORE/meta/data.mdb" "$old" <<'PY'
import re, sys
path, sid = sys.argv[1], sys.argv[2].encode()
with open(path, "rb") as f:
    data = bytearray(f.read())
pat = re.compile(rb'\{"id":"' + sid + rb'"[^{}]*?"state":"completed"[^{}]*?'
                 rb'((?:,"owner":"[0-9]{12}")?,"partitions":\[[0-9,\[\]]*\],"check":"[0-9a-f]{16}")\}')
n = 0
for m in pat.finditer(bytes(data)):
    a, b = m.span(1)
    data[a:b] = b" " * (b - a)
    n += 1
if n == 0:
    sys.exit("no completed record of %s with a table in the metadata file" % sid.decode())
with open(path, "r+b") as f:
    f.write(data)
print("   rewrote %d copies of the record of %s" % (n, sid.decode()))
PY
fuse_mount "$T/mnt"
ls "$T/mnt/snapshots" | grep "^$old" >"$T/old.got" || true
printf '%s\n' "$old.img" "$old.p1" "$old.p2" | diff -u - "$T/old.got" ||
    die "snapshots/ of a record without a table"
assert_eq "$(stat -c %s "$T/mnt/snapshots/$old.p2")" $((4096 * 512)) "size of $old.p2"
fuse_unmount "$T/mnt"
assert_verify_ok --snapshot-id "$old"
