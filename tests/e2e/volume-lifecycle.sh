#!/usr/bin/env bash
# The life of a volume record: one per path, however often a file is
# restored over; delete-volume forgets a record (its snapshots keep the
# VolumeId, the file is untouched) and the next snapshot of the path records
# a new volume, read whole.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

# volumes: "VOLUMEID PATH" lines of describe-volumes, sorted.
volumes() {
    bs describe-volumes | python3 -c '
import json, sys
for v in json.load(sys.stdin)["Volumes"]:
    print(v["VolumeId"], v.get("Path") or "-")' | sort
}

head -c $((1 << 20)) /dev/urandom >"$T/v.img"
S1=$(snapshot_create "$T/v.img")
V1=$(json_get VolumeId "$T/snapshot.json")

step "restores over the same file: one volume record for the path"
restore "$S1" "$T/r.img"
R1=$(json_get VolumeId "$T/volume.json")
for _ in 1 2 3; do
    restore "$S1" "$T/r.img"
done
R4=$(json_get VolumeId "$T/volume.json")
[ "$R4" != "$R1" ] || die "a restore over the file kept the old volume id"
volumes >"$T/vols"
cat "$T/vols"
assert_eq "$(wc -l <"$T/vols")" 2 "volume records after four restores to one path"
grep -q "^$R4 .*/r.img$" "$T/vols" || die "the path's record is not the last restore's"
! grep -q " -$" "$T/vols" || die "a volume record without a path was left"
expect_fail InvalidVolume.NotFound 1 bs describe-volumes --volume-ids "$R1"

step "delete-volume: the record goes, the snapshots and the file stay"
bs delete-volume --volume-id "$V1"
volumes >"$T/vols"
! grep -q "^$V1 " "$T/vols" || die "the deleted volume is still listed"
bs describe-snapshots --snapshot-ids "$S1" >"$T/s1.json"
assert_eq "$(json_get Snapshots.0.VolumeId "$T/s1.json")" "$V1" "the snapshot's VolumeId"
[ -f "$T/v.img" ] || die "delete-volume removed the file"
expect_fail InvalidVolume.NotFound 1 bs delete-volume --volume-id "$V1"
restore "$S1" "$T/check.img"
assert_same_file "$T/v.img" "$T/check.img" "the snapshot of the deleted volume"

step "the next snapshot of the path records a new volume and reads it whole"
S2=$(snapshot_create "$T/v.img")
V2=$(json_get VolumeId "$T/snapshot.json")
[ "$V2" != "$V1" ] || die "the deleted volume came back"
bs describe-snapshots --snapshot-ids "$S2" >"$T/s2.json"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["Snapshots"][0]
assert "ParentSnapshotId" not in s, s' "$T/s2.json" || die "the new volume's first snapshot has a parent"
assert_verify_ok
