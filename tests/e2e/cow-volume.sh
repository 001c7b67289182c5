#!/usr/bin/env bash
# Writable copy-on-write volumes through the CLI: create-volume without
# --path makes one at once (nothing copied), describe-volumes shows it,
# its base snapshot cannot be deleted while it exists, a snapshot of it
# reads only what was written (nothing yet) and restores to the base's
# bytes, verify and gc leave it alone, bad input is refused with EC2's
# codes and leaves the store as it was, delete-volume removes it.
# (Writes through the mount: fuse-cow.sh.)
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp mkfs.ext4

step "an ext4 image, a snapshot of it"
mkdir -p "$T/tree"
fill_tree "$T/tree" 4
truncate -s 96M "$T/disk.img"
mkfs.ext4 -q -F -d "$T/tree" "$T/disk.img"
base=$(snapshot_create "$T/disk.img")
cp --sparse=always "$T/disk.img" "$T/disk0.img"

step "create-volume without --path: a writable volume, at once"
bs create-volume --snapshot-id "$base" --tags Key=role,Value=web >"$T/vol.json"
vol=$(json_get VolumeId "$T/vol.json")
assert_eq "$(json_get State "$T/vol.json")" available "state"
assert_eq "$(json_get SnapshotId "$T/vol.json")" "$base" "source snapshot"
assert_eq "$(json_get Writable "$T/vol.json")" true "writable"
assert_eq "$(json_get VolumeType "$T/vol.json")" gp2 "default type"
assert_eq "$(json_get SizeBytes "$T/vol.json")" $((96 << 20)) "size of the snapshot"
assert_eq "$(json_get Tags.0.Value "$T/vol.json")" web "tag"
# Nothing copied: the overlay is a hole of the volume's size.
assert_eq "$(stat -c %s "$STORE/volumes/$vol.data")" $((96 << 20)) "overlay size"
assert_eq "$(stat -c %b "$STORE/volumes/$vol.data")" 0 "overlay blocks"
bs describe-volumes --volume-ids "$vol" >"$T/d.json"
assert_eq "$(json_get Volumes.0.VolumeId "$T/d.json")" "$vol" "described"
bs describe-volumes --filters Name=volume-type,Values=gp2 >"$T/d.json"
assert_eq "$(json_get Volumes.# "$T/d.json")" 1 "filter by type"

step "a bigger one: --size 3 --volume-type gp3"
bs create-volume --snapshot-id "$base" --size 3 --volume-type gp3 >"$T/big.json"
big=$(json_get VolumeId "$T/big.json")
assert_eq "$(json_get Size "$T/big.json")" 3 "size GiB"
assert_eq "$(json_get VolumeType "$T/big.json")" gp3 "type"

step "the base snapshot stays while a writable volume uses it"
expect_fail InvalidSnapshot.InUse 1 bs delete-snapshot --snapshot-id "$base"
stderr_contains "in use by vol-"

step "a snapshot of the volume reads nothing (nothing written) and restores the base"
bs create-snapshot --volume-id "$vol" >"$T/s1.json" 2>"$T/s1.err"
s1=$(json_get SnapshotId "$T/s1.json")
assert_eq "$(json_get VolumeId "$T/s1.json")" "$vol" "snapshot's volume"
grep -q 'read 0 B' "$T/s1.err" || die "the snapshot read something: $(cat "$T/s1.err")"
restore "$s1" "$T/r1.img"
assert_same_file "$T/disk.img" "$T/r1.img" "snapshot of the untouched volume"
bs describe-snapshots --snapshot-ids "$s1" | json_get Snapshots.0.SnapshotId >/dev/null
expect_fail InvalidSnapshot.InUse 1 bs delete-snapshot --snapshot-id "$s1"

step "bad input: refused, the store as it was"
store_state >"$T/state.before"
expect_fail InvalidSnapshot.NotFound 1 bs create-volume --snapshot-id snap-0123456789abcdef0
expect_fail InvalidSnapshotID.Malformed "1|2" bs create-volume --snapshot-id vol-0123456789abcdef0
truncate -s $(((1 << 30) + 512)) "$T/odd.img"
odd=$(snapshot_create "$T/odd.img")
store_state >"$T/state.before"
expect_fail InvalidParameterValue 1 bs create-volume --snapshot-id "$odd" --size 1
stderr_contains "smaller than snapshot" "2GB"
expect_fail InvalidParameterValue "1|2" bs create-volume --snapshot-id "$odd" --volume-type gp9
expect_fail InvalidParameterValue 1 bs create-volume --snapshot-id "$odd" --size 2000 --volume-type standard
expect_fail InvalidParameterDependency 1 bs create-volume --snapshot-id "$odd" --kms-key-id alias/k
expect_fail NotFoundException 1 bs create-volume --snapshot-id "$odd" --encrypted --kms-key-id alias/none
expect_fail InvalidParameterCombination 2 bs create-volume --snapshot-id "$odd" --path "$T/x.img" --kms-key-id alias/k
expect_fail InvalidParameterCombination 2 bs create-volume --snapshot-id "$odd" --force
expect_fail InvalidParameterCombination 2 bs create-volume --snapshot-id "$odd" --size 4 --path "$T/x.img"
expect_fail InvalidVolume.NotFound 1 bs delete-volume --volume-id vol-0123456789abcdef0
assert_store_unchanged "$T/state.before"
[ ! -e "$T/x.img" ] || die "a refused create-volume wrote its path"
assert_eq "$(find "$STORE/volumes" -name '*.data' | wc -l)" 2 "overlay files"

step "prune keeps the snapshots a writable volume uses"
dvol=$(bs describe-snapshots --snapshot-ids "$base" | json_get Snapshots.0.VolumeId)
printf 'newer' | dd of="$T/disk.img" bs=1 seek=$((90 << 20)) conv=notrunc status=none
newer=$(snapshot_create "$T/disk.img")
bs prune-snapshots --volume-id "$dvol" --keep-last 1 >"$T/prune.json"
python3 - "$T/prune.json" "$base" <<'EOF' || die "prune did not keep the base of a writable volume"
import json, sys
doc, base = json.load(open(sys.argv[1])), sys.argv[2]
r = [x for x in doc["PruneSnapshotResults"] if x["SnapshotId"] == base][0]
print(r)
sys.exit(0 if r["Action"] == "keep" and any(k.startswith("used by vol-") for k in r["KeptBy"]) else 1)
EOF

step "verify and gc leave writable volumes alone"
assert_verify_ok
bs gc --quiet >/dev/null
restore "$base" "$T/r0.img"
assert_same_file "$T/disk0.img" "$T/r0.img" "base after gc"

step "verify names a volume whose map is damaged; --repair rebuilds it from the overlay"
grep -q ', 2 writable volumes:' "$T/verify.out" || die "verify does not count the writable volumes: $(cat "$T/verify.out")"
cp "$STORE/volumes/$vol.map" "$T/map.good"
printf 'garbage' | dd of="$STORE/volumes/$vol.map" bs=1 seek=50 conv=notrunc status=none
expect_fail Store.Corrupt 1 bs verify
grep -q "^volume $vol: its map .* is missing or damaged" "$T/fail.stdout" ||
    die "verify did not name the volume: $(cat "$T/fail.stdout")"
bs verify --repair >"$T/repair.out"
grep -q "^volume $vol: repaired: its map rebuilt" "$T/repair.out" ||
    die "verify --repair did not say what it mended: $(cat "$T/repair.out")"
grep -q '^verified .*: 0 problems' "$T/repair.out" || die "not clean after the repair: $(cat "$T/repair.out")"
bs create-snapshot --volume-id "$vol" >"$T/s3.json"
restore "$(json_get SnapshotId "$T/s3.json")" "$T/r3.img"
restore "$s1" "$T/r1.img"
assert_same_file "$T/r1.img" "$T/r3.img" "the volume after its map was rebuilt"

step "delete-volume: record and files go, the snapshots are free again"
bs delete-volume --volume-id "$vol"
bs delete-volume --volume-id "$big"
[ ! -e "$STORE/volumes/$vol.data" ] || die "overlay left behind"
[ ! -e "$STORE/volumes/$vol.map" ] || die "map left behind"
expect_fail InvalidVolume.NotFound 1 bs delete-volume --volume-id "$vol"
bs delete-snapshot --snapshot-id "$s1"
bs delete-snapshot --snapshot-id "$base"
assert_verify_ok
