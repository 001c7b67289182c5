#!/usr/bin/env bash
# fuse-cow-encrypted: an encrypted writable volume (create-volume
# --encrypted of a plain snapshot, and a volume of an encrypted snapshot).
# Text written through the FUSE view and bytes written through the nbdkit
# plugin read back through both; the overlay files hold none of that text;
# its snapshots are encrypted, the first full and the next incremental,
# and restore byte for byte; a volume of the encrypted snapshot keeps its
# key; a damaged overlay chunk reads as EIO for that range alone; without
# the key the volume is not served.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
source "$(dirname "$0")/../lib/nbdkit-functions.sh"
requires qemu-img qemu-io python3 cmp dd

fuse_assert_clean
KEYS=$XDG_CONFIG_HOME/blocksnap/keys

step "a plain snapshot (random data and a hole), an encrypted writable volume of it"
head -c 8M /dev/urandom >"$T/base.img"
truncate -s 16M "$T/base.img"
base=$(snapshot_create "$T/base.img")
bs create-volume --snapshot-id "$base" --encrypted >"$T/vol.json"
vol=$(json_get VolumeId "$T/vol.json")
assert_eq "$(json_get Encrypted "$T/vol.json")" true "the volume is encrypted"
key=$(json_get KmsKeyId "$T/vol.json")
case $key in arn:aws:kms:*) ;; *) die "KmsKeyId is '$key', not a key ARN" ;; esac
bs describe-volumes --volume-ids "$vol" >"$T/d.json"
assert_eq "$(json_get Volumes.0.Encrypted "$T/d.json")" true "describe-volumes: encrypted"

step "text written through the FUSE view reads back"
python3 -c 'import sys; sys.stdout.write("".join("secret line %06d\n" % i for i in range(70000)))' \
    >"$T/secret.txt"
cp "$T/base.img" "$T/want.img"
dd if="$T/secret.txt" of="$T/want.img" bs=64k seek=16 conv=notrunc status=none
dd if="$T/secret.txt" of="$T/want.img" bs=1 seek=$((12 << 20 | 123)) count=5000 conv=notrunc \
    status=none
mkdir "$T/mnt"
fuse_mount "$T/mnt"
img=$T/mnt/volumes/$vol.img
cmp "$img" "$T/base.img" || die "the volume does not read as its snapshot"
dd if="$T/secret.txt" of="$img" bs=64k seek=16 conv=notrunc,fsync status=none ||
    die "writing through the mount failed"
dd if="$T/secret.txt" of="$img" bs=1 seek=$((12 << 20 | 123)) count=5000 conv=notrunc,fsync \
    status=none || die "the unaligned write through the mount failed"
cmp "$img" "$T/want.img" || die "the volume does not read its writes through the mount"
fuse_unmount "$T/mnt"

step "the overlay holds none of the text"
for f in "$STORE/volumes/$vol".*; do
    if grep -aq "secret line" "$f"; then
        die "$(basename "$f") holds plaintext"
    fi
done

step "through the nbdkit plugin: it reads the mount's writes, and writes of its own"
nbdkit_serve v "volume=$vol"
qemu-img compare -f raw -F raw "$NBD_URI" "$T/want.img" || die "nbdkit does not read the writes"
qemu-io -f raw "$NBD_URI" -c 'write -P 0x5a 1M 64k' -c 'write -P 0x33 100 3000' -c flush \
    >"$T/io.out" || die "qemu-io writes failed: $(cat "$T/io.out")"
python3 - "$T/want.img" <<'EOF2'
import sys
with open(sys.argv[1], "r+b") as f:
    for off, data in ((1 << 20, b"\x5a" * 65536), (100, b"\x33" * 3000)):
        f.seek(off)
        f.write(data)
EOF2
qemu-img compare -f raw -F raw "$NBD_URI" "$T/want.img" || die "the volume does not read its writes"
nbdkit_stop v

step "its first snapshot is encrypted under its key, full, and restores byte for byte"
bs create-snapshot --volume-id "$vol" >"$T/s1.json"
s1=$(json_get SnapshotId "$T/s1.json")
bs describe-snapshots --snapshot-ids "$s1" >"$T/s1d.json"
assert_eq "$(json_get Snapshots.0.Encrypted "$T/s1d.json")" true "the snapshot is encrypted"
assert_eq "$(json_get Snapshots.0.KmsKeyId "$T/s1d.json")" "$key" "the snapshot's key"
restore "$s1" "$T/r1.img"
assert_same_file "$T/r1.img" "$T/want.img" "the restored first snapshot"

step "the next one is incremental: it reads only the chunk written since"
nbdkit_serve v "volume=$vol"
qemu-io -f raw "$NBD_URI" -c 'write -P 0x77 3M 4k' -c flush >"$T/io.out" ||
    die "qemu-io write failed: $(cat "$T/io.out")"
nbdkit_stop v
python3 - "$T/want.img" <<'EOF2'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(3 << 20)
    f.write(b"\x77" * 4096)
EOF2
bs create-snapshot --volume-id "$vol" >"$T/s2.json"
s2=$(json_get SnapshotId "$T/s2.json")
bs describe-snapshots --snapshot-ids "$s2" >"$T/s2d.json"
assert_eq "$(json_get Snapshots.0.ParentSnapshotId "$T/s2d.json")" "$s1" "the parent"
assert_le "$(json_get Snapshots.0.BytesRead "$T/s2d.json")" $((64 << 10)) "bytes read"
assert_eq "$(json_get Snapshots.0.Encrypted "$T/s2d.json")" true "the second is encrypted"
restore "$s2" "$T/r2.img"
assert_same_file "$T/r2.img" "$T/want.img" "the restored second snapshot"

step "a volume of the encrypted snapshot is encrypted under the same key"
bs create-volume --snapshot-id "$s2" >"$T/vol2.json"
vol2=$(json_get VolumeId "$T/vol2.json")
assert_eq "$(json_get Encrypted "$T/vol2.json")" true "a volume of an encrypted snapshot"
assert_eq "$(json_get KmsKeyId "$T/vol2.json")" "$key" "its key"
nbdkit_serve v "volume=$vol2"
qemu-img compare -f raw -F raw "$NBD_URI" "$T/want.img" || die "vol2 does not read as its snapshot"
nbdkit_stop v

step "a damaged overlay chunk: EIO for that range, the rest reads"
python3 - "$STORE/volumes/$vol.data" "$STORE/volumes/$vol.seal" <<'EOF2'
import struct, sys
data, seal = sys.argv[1], sys.argv[2]
cs = 65536
idx = (3 << 20) // cs
with open(seal, "rb") as f:
    f.seek(64 * idx)
    a, = struct.unpack("<I", f.read(4))
    f.seek(64 * idx + 32)
    b, = struct.unpack("<I", f.read(4))
copy = 1 if (not a or (b and ((b - a) & 0xffffffff) < 0x80000000)) else 0
import os
n = os.path.getsize(data) // (2 * cs)
with open(data, "r+b") as f:
    off = ((n + idx) if copy else idx) * cs + 10
    f.seek(off)
    c = f.read(1)
    f.seek(off)
    f.write(bytes([c[0] ^ 1]))
EOF2
nbdkit_serve v "volume=$vol"
! qemu-io -f raw "$NBD_URI" -c 'read 3M 4k' >"$T/io.out" 2>&1 ||
    die "a damaged chunk was read: $(cat "$T/io.out")"
qemu-io -f raw "$NBD_URI" -c 'read -P 0x5a 1M 64k' >"$T/io.out" 2>&1 ||
    die "an intact chunk did not read: $(cat "$T/io.out")"
nbdkit_stop v

step "without its key the volume is not served"
mv "$KEYS" "$T/keys.away"
nbdkit_refuses "store=$STORE" "volume=$vol2"
mv "$T/keys.away" "$KEYS"
