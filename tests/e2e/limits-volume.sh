#!/usr/bin/env bash
# The largest volume.  A 16 TiB sparse volume (on a tmpfs: ext4 files stop
# 4 KiB short of 16 TiB) with data islands at the start, across the 4 GiB
# and 2 TiB marks, in the middle and in the last chunk: snapshot, describe
# (VolumeSize 16384 GiB), an incremental snapshot after a write, diff
# naming exactly that write, restore (a sparse 16 TiB file whose data
# ranges are byte-identical).  Then the documented limit: a 1 PiB volume is
# taken, one chunk more is refused with a clear error
# (InvalidParameterValue, exit 1), as is a 4 EiB one.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 truncate
requires_root
mkdir -p "$T/tfs"
mount -t tmpfs -o size=2G tmpfs "$T/tfs" 2>/dev/null || skip "cannot mount a tmpfs"
on_cleanup_mount "$T/tfs"

# pwrite_at FILE OFFSET BYTES: BYTES random bytes at OFFSET, in place
pwrite_at() {
    python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.pwrite(fd, os.urandom(int(sys.argv[3])), int(sys.argv[2]))' "$@"
}
secs() { python3 -c "print('%.2f' % (($2 - $1) / 1e9))"; }

TIB=$((1 << 40))
step "a 16 TiB sparse volume with data islands"
V=$T/tfs/v16t.img
truncate -s $((16 * TIB)) "$V"
pwrite_at "$V" 0 $((1 << 20))
pwrite_at "$V" $(((4 << 30) - 4096)) 8192
pwrite_at "$V" $((2 * TIB)) 100000
pwrite_at "$V" $((8 * TIB + 12345)) 300000
pwrite_at "$V" $((16 * TIB - 65536)) 65536

step "snapshot it"
t0=$(now_ns)
S1=$(snapshot_create "$V")
t1=$(now_ns)
info "snapshot of 16 TiB: $(secs "$t0" "$t1") s, PackBytes $(store_bytes)"
bs describe-snapshots --snapshot-ids "$S1" >"$T/d.json"
assert_eq "$(json_get Snapshots.0.VolumeSize "$T/d.json")" 16384 "VolumeSize (GiB)"
assert_eq "$(json_get Snapshots.0.State "$T/d.json")" completed "State"
assert_le "$(store_bytes)" $((4 << 20)) "PackBytes of a mostly empty 16 TiB volume"

step "an incremental snapshot after a write near the end; diff names exactly it"
pwrite_at "$V" $((15 * TIB)) 65536
t0=$(now_ns)
S2=$(snapshot_create "$V")
t1=$(now_ns)
info "incremental snapshot of 16 TiB: $(secs "$t0" "$t1") s"
diff_ranges "$S1" "$S2" >"$T/diff.out"
cat "$T/diff.out"
assert_eq "$(cat "$T/diff.out")" "$((15 * TIB)) 65536" "diff of the two snapshots"

step "restore: a sparse 16 TiB file, identical in its data ranges"
t0=$(now_ns)
bs create-volume --snapshot-id "$S2" --path "$T/tfs/r16t.img" --quiet >/dev/null
t1=$(now_ns)
info "restore of 16 TiB: $(secs "$t0" "$t1") s, $(du -k "$T/tfs/r16t.img" | cut -f1) KiB allocated"
sparse_cmp "$V" "$T/tfs/r16t.img" || die "the 16 TiB restore differs"
assert_le "$(du -k "$T/tfs/r16t.img" | cut -f1)" $((8 << 10)) "KiB allocated by the restore"
rm -f "$T/tfs/r16t.img" "$V"

step "the limit: 1 PiB is taken, one chunk more is refused"
P=$T/tfs/p.img
truncate -s $((1 << 50)) "$P"
pwrite_at "$P" $(((1 << 49) + 65536)) 65536
t0=$(now_ns)
SP=$(snapshot_create "$P")
t1=$(now_ns)
info "snapshot of 1 PiB: $(secs "$t0" "$t1") s"
assert_eq "$(diff_ranges "$SP")" "$(((1 << 49) + 65536)) 65536" "diff of the 1 PiB snapshot"
truncate -s $(((1 << 50) + 65536)) "$P"
expect_fail InvalidParameterValue 1 bs create-snapshot --volume "$P"
stderr_contains "1 PiB"
truncate -s $((1 << 62)) "$P"
expect_fail InvalidParameterValue 1 bs create-snapshot --volume "$P"
stderr_contains "larger than the largest volume"
assert_verify_ok
