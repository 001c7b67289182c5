#!/usr/bin/env bash
# A 1 TiB sparse file snapshots in well under a second (holes are skipped
# with SEEK_DATA/SEEK_HOLE) and stores almost nothing; an incremental
# snapshot of it after a small write is as quick, and diff finds the write.
# Sparse restore is checked on a 2 GiB file (a restore that wrote zeros
# there would show in its allocated blocks).
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 truncate

# pwrite_at FILE OFFSET BYTES: write BYTES random bytes at OFFSET in place.
pwrite_at() {
    python3 - "$@" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, os.urandom(int(sys.argv[3])), int(sys.argv[2]))
os.close(fd)
PY
}

step "a 1 TiB sparse file with three small data islands"
truncate -s 1T "$T/huge.img" || skip "the file system of $T cannot hold a 1 TiB sparse file"
pwrite_at "$T/huge.img" 0 65536
pwrite_at "$T/huge.img" $((512 << 30)) 100000
pwrite_at "$T/huge.img" $(((1 << 40) - 4096)) 4096
empty=$(store_bytes)
chunk=$(store_field ChunkSize)

step "snapshot it"
t0=$(now_ns)
snap1=$(snapshot_create "$T/huge.img")
t1=$(now_ns)
ms=$(((t1 - t0) / 1000000))
info "1 TiB sparse snapshot: $ms ms (including process start and store open)"
assert_le "$ms" 5000 "snapshot of a 1 TiB sparse file took too long"
assert_eq "$(json_get VolumeSize "$T/snapshot.json")" 1024 "VolumeSize (GiB)"
stored=$(($(store_bytes) - empty))
info "stored $stored bytes"
# data: 64 KiB + 100000 B + 4 KiB touch four chunks, plus the block map:
# three leaf pages and their parents, a handful of 64 KiB pages at most.
assert_le "$stored" $((4 * (chunk + 512) + 16 * (65536 + 512))) "stored bytes for a sparse 1 TiB file"

step "an incremental snapshot after a 1 MiB write"
pwrite_at "$T/huge.img" $((300 << 30)) $((1 << 20))
t0=$(now_ns)
snap2=$(snapshot_create "$T/huge.img")
t1=$(now_ns)
ms=$(((t1 - t0) / 1000000))
info "incremental 1 TiB snapshot: $ms ms"
assert_le "$ms" 5000 "incremental snapshot of a 1 TiB sparse file took too long"

step "diff finds exactly the write"
diff_ranges "$snap1" "$snap2" >"$T/d"
assert_eq "$(cat "$T/d")" "$((300 << 30)) $((1 << 20))" "diff of the 1 TiB snapshots"
diff_ranges "$snap2" >"$T/all"
cat >"$T/all.want" <<END
0 $chunk
$((300 << 30)) $((1 << 20))
$((512 << 30)) $(((100000 + chunk - 1) / chunk * chunk))
$(((1 << 40) - chunk)) $chunk
END
diff -u "$T/all.want" "$T/all" || die "non-zero ranges of the 1 TiB snapshot"

step "sparse restore (2 GiB file, 2 MiB of data)"
truncate -s 2G "$T/two.img"
pwrite_at "$T/two.img" $((512 << 20)) $((1 << 20))
pwrite_at "$T/two.img" $((1536 << 20)) $((1 << 20))
snap3=$(snapshot_create "$T/two.img")
restore "$snap3" "$T/two.restored"
assert_eq "$(stat -c %s "$T/two.restored")" $((2 << 30)) "restored size"
alloc=$(($(stat -c %b "$T/two.restored") * 512))
info "restored 2 GiB image allocates $alloc bytes"
assert_le "$alloc" $((8 << 20)) "restored image is not sparse"
sparse_cmp "$T/two.img" "$T/two.restored" || die "sparse restore differs"

assert_verify_ok
