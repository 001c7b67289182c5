#!/usr/bin/env bash
# fuse-stress: many parallel readers (sequential cmp and dd, random preads)
# of several snapshot files, several of them on the same file, while a
# snapshot is being written into the same store; with a cache small enough
# to evict all the time.  Every byte read must be right, and the new
# snapshot must show up when it completes.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires cmp dd

fuse_assert_clean

step "three volumes, three snapshots"
for i in 1 2 3; do
    head -c $((6 + 2 * i))M /dev/urandom >"$T/vol$i.img"
    truncate -s 32M "$T/vol$i.img"
    dd if=/dev/urandom of="$T/vol$i.img" bs=64K seek=$((300 + i)) count=20 conv=notrunc status=none
    eval "snap$i=\$(snapshot_create \"\$T/vol$i.img\")"
done
head -c 48M /dev/urandom >"$T/big.img"

mkdir "$T/mnt"
fuse_mount "$T/mnt" --cache-size 2M

step "readers in parallel with a snapshot being written"
bs create-snapshot --volume "$T/big.img" --quiet >"$T/big.json" &
writer=$!
pids=()
for round in 1 2; do
    for i in 1 2 3; do
        eval "s=\$snap$i"
        (cmp "$T/mnt/snapshots/$s.img" "$T/vol$i.img") &
        pids+=($!)
        (dd if="$T/mnt/snapshots/$s.img" bs=1M status=none | cmp - "$T/vol$i.img") &
        pids+=($!)
        python3 - "$T/mnt/snapshots/$s.img" "$T/vol$i.img" "$round$i" <<'EOF' &
import os, random, sys
a, b = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_RDONLY)
size = os.fstat(b).st_size
rnd = random.Random(int(sys.argv[3]))
for k in range(1500):
    if k % 100 == 0:  # past the page cache, to the daemon
        os.posix_fadvise(a, 0, 0, os.POSIX_FADV_DONTNEED)
    off = rnd.randrange(0, size)
    n = rnd.choice([4096, 65536, 200000])
    if os.pread(a, n, off) != os.pread(b, n, off):
        sys.exit("random read at %d+%d differs" % (off, n))
EOF
        pids+=($!)
    done
done
failed=0
for p in "${pids[@]}"; do
    wait "$p" || failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || die "$failed of ${#pids[@]} readers saw wrong data"
info "${#pids[@]} readers done"
wait "$writer" || die "the snapshot written meanwhile failed"
big=$(json_get SnapshotId "$T/big.json")

step "the snapshot written meanwhile is there"
assert_same_file "$T/mnt/snapshots/$big.img" "$T/big.img"

step "unmount"
kill -0 "$FUSE_PID" || die "the daemon died"
fuse_unmount "$T/mnt"
fuse_assert_clean
