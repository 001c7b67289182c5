#!/usr/bin/env bash
# The parent chain: a volume's last completed snapshot is the parent of the
# next one; --parent picks another parent, --full ignores it; --volume-id
# finds the volume by its record; bad parents are refused.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

head -c $((8 << 20)) /dev/urandom >"$T/vol.img"
truncate -s 32M "$T/vol.img"
cp --sparse=always "$T/vol.img" "$T/v1"
snap1=$(snapshot_create "$T/vol.img")
vol=$(json_get VolumeId "$T/snapshot.json")
chunk=$(store_field ChunkSize)

dd if=/dev/urandom of="$T/vol.img" bs=65536 seek=200 count=4 conv=notrunc status=none
cp --sparse=always "$T/vol.img" "$T/v2"
snap2=$(snapshot_create "$T/vol.img")
changed_ranges "$T/v1" "$T/v2" "$chunk" >"$T/want12"
diff_ranges "$snap1" "$snap2" >"$T/d12"
diff -u "$T/want12" "$T/d12" || die "diff snap1 snap2"

step "the volume record knows its path and its last snapshot"
bs describe-volumes --volume-ids "$vol" >"$T/vol.json"
assert_eq "$(json_get Volumes.# "$T/vol.json")" 1 "describe-volumes --volume-ids"
assert_eq "$(json_get Volumes.0.VolumeId "$T/vol.json")" "$vol" "volume id"

step "--volume-id snapshots the recorded path"
dd if=/dev/urandom of="$T/vol.img" bs=65536 seek=300 count=2 conv=notrunc status=none
cp --sparse=always "$T/vol.img" "$T/v3"
bs create-snapshot --volume-id "$vol" --quiet >"$T/s3.json"
snap3=$(json_get SnapshotId "$T/s3.json")
assert_eq "$(json_get VolumeId "$T/s3.json")" "$vol" "volume of --volume-id snapshot"
restore "$snap3" "$T/r3"
assert_same_file "$T/v3" "$T/r3" "snapshot by --volume-id"

step "--parent: the unlisted ranges come from the chosen parent"
# An empty changed-block list says "nothing changed since the parent": with
# --parent snap1 the new snapshot must equal snap1, not the latest snap3.
: >"$T/empty.txt"
snap4=$(snapshot_create "$T/vol.img" --parent "$snap1" --changed-blocks "$T/empty.txt")
diff_ranges "$snap1" "$snap4" >"$T/d14"
[ ! -s "$T/d14" ] || die "--parent $snap1 was not used: $(head -2 "$T/d14")"
restore "$snap4" "$T/r4"
assert_same_file "$T/v1" "$T/r4" "snapshot with --parent and an empty list"

step "--parent with a scan: the result is the volume, the diff is against the parent"
snap5=$(snapshot_create "$T/vol.img" --parent "$snap1")
restore "$snap5" "$T/r5"
assert_same_file "$T/v3" "$T/r5" "scanned snapshot with --parent"
changed_ranges "$T/v1" "$T/v3" "$chunk" >"$T/want15"
diff_ranges "$snap1" "$snap5" >"$T/d15"
diff -u "$T/want15" "$T/d15" || die "diff snap1 snap5"

step "--full reads everything and gives the same content"
dd if=/dev/urandom of="$T/vol.img" bs=65536 seek=50 count=1 conv=notrunc status=none
cp --sparse=always "$T/vol.img" "$T/v6"
before=$(store_bytes)
snap6=$(snapshot_create "$T/vol.img" --full)
grew=$(($(store_bytes) - before))
info "--full snapshot stored $grew new bytes (unchanged chunks are found in the store)"
assert_le "$grew" $((4 * 66000 + 4 * 66000)) "--full stores only chunks the store lacks"
restore "$snap6" "$T/r6"
assert_same_file "$T/v6" "$T/r6" "--full snapshot"
changed_ranges "$T/v3" "$T/v6" "$chunk" >"$T/want36"
diff_ranges "$snap3" "$snap6" >"$T/d36"
diff -u "$T/want36" "$T/d36" || die "diff snap3 snap6"

step "--threads does not change the result"
before=$(store_bytes)
snap7=$(snapshot_create "$T/vol.img" --full --threads 1)
snap8=$(snapshot_create "$T/vol.img" --full --threads 4)
diff_ranges "$snap6" "$snap7" >"$T/d67"
diff_ranges "$snap7" "$snap8" >"$T/d78"
if [ -s "$T/d67" ] || [ -s "$T/d78" ]; then
    die "snapshots of the same bytes with other --threads differ"
fi
assert_le $(($(store_bytes) - before)) $((4 * 66000)) "re-snapshots with other --threads stored data"
expect_fail - 2 bs create-snapshot --volume "$T/vol.img" --threads many

step "bad parents are refused and change nothing"
store_state >"$T/state.before"
expect_fail InvalidSnapshot.NotFound 1 bs create-snapshot --volume "$T/vol.img" --parent snap-0123456789abcdef0
stderr_contains snap-0123456789abcdef0
expect_fail InvalidSnapshotID.Malformed 1 bs create-snapshot --volume "$T/vol.img" --parent snap-nothex
stderr_contains snap-nothex
assert_store_unchanged "$T/state.before"

step "a changed-block list needs a parent"
head -c $((1 << 20)) /dev/urandom >"$T/fresh.img"
printf '0 65536\n' >"$T/one.txt"
rc=0
bs create-snapshot --volume "$T/fresh.img" --changed-blocks "$T/one.txt" >"$T/out" 2>"$T/err" || rc=$?
cat "$T/err"
[ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || die "changed-block list without a parent: exit $rc"
grep -q '^blocksnap: ' "$T/err" || die "no error message"
rc=0
bs create-snapshot --volume "$T/vol.img" --full --changed-blocks "$T/one.txt" >"$T/out" 2>"$T/err" || rc=$?
cat "$T/err"
[ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || die "--full with --changed-blocks: exit $rc"
assert_store_unchanged "$T/state.before"
