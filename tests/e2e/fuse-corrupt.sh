#!/usr/bin/env bash
# fuse-corrupt: a damaged chunk in a pack makes reads of its range fail
# with EIO (logged with chunk, pack and offset) while every other range of
# the file reads correctly, and the mount goes on serving.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires cmp

fuse_assert_clean

step "a snapshot of 8 MiB of random data"
head -c 8M /dev/urandom >"$T/vol.img"
truncate -s 16M "$T/vol.img" # and a hole
snap=$(snapshot_create "$T/vol.img")
CHUNK=$(chunk_size)

step "flip one byte in the middle of the pack"
packs=("$STORE"/packs/*)
[ "${#packs[@]}" -ge 1 ] || die "no pack files in $STORE/packs"
pack=$(ls -S "$STORE"/packs/* | head -n 1)
psize=$(stat -c %s "$pack")
python3 - "$pack" $((psize / 2)) <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x5a]))
EOF
info "flipped byte $((psize / 2)) of $(basename "$pack")"

mkdir "$T/mnt"
fuse_mount "$T/mnt"

step "EIO on the damaged range, correct data everywhere else"
python3 - "$T/mnt/snapshots/$snap.img" "$T/vol.img" "$CHUNK" <<'EOF'
import errno, os, sys
f, src, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd, sd = os.open(f, os.O_RDONLY), os.open(src, os.O_RDONLY)
size = os.fstat(sd).st_size
bad = []
for off in range(0, size, chunk):
    try:
        got = os.pread(fd, chunk, off)
    except OSError as e:
        if e.errno != errno.EIO:
            sys.exit("chunk at %d: %s, expected EIO" % (off, e))
        bad.append(off)
        continue
    if got != os.pread(sd, chunk, off):
        sys.exit("chunk at %d: wrong data" % off)
if not 1 <= len(bad) <= 2:
    sys.exit("expected one damaged chunk (two if the flip hit a record boundary), got %d: %s"
             % (len(bad), bad))
# a read that spans the damaged chunk stops before it (a short read, as
# read(2) does when it fails part way) or fails with EIO: again on retry
start = max(0, bad[0] - chunk)
for _ in range(2):
    try:
        got = os.pread(fd, 3 * chunk, start)
    except OSError as e:
        assert e.errno == errno.EIO, e
        continue
    if len(got) > bad[0] - start or got != os.pread(sd, len(got), start):
        sys.exit("a read across the damaged chunk returned %d bytes" % len(got))
# and reads elsewhere still work afterwards
assert os.pread(fd, 4096, size - 4096) == os.pread(sd, 4096, size - 4096)
print("   damaged chunk(s) at", bad)
EOF
grep -i "pack" "$FUSE_LOG" | grep -qi "offset" || {
    cat "$FUSE_LOG"
    die "the daemon's log does not name the pack and offset of the damage"
}
info "log: $(grep -i pack "$FUSE_LOG" | head -n 1)"

step "verify agrees"
rc=0
bs verify --snapshot-id "$snap" >"$T/verify.out" || rc=$?
[ "$rc" -eq 1 ] || die "verify exited $rc on a damaged store"
cat "$T/verify.out"

step "unmount"
fuse_unmount "$T/mnt"
fuse_assert_clean
