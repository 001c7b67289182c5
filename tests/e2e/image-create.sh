#!/usr/bin/env bash
# image-create: create-image of a two-volume machine snapshots both volumes
# and registers them; after a change to one volume a second create-image
# stores only that volume's changes: the unchanged volume's new snapshot
# shares every chunk with the first (nothing written, empty diff, store
# growth = the changed volume's bytes).  A create-image that fails at any
# step leaves no image and no snapshot behind.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/image-functions.sh
source "$(dirname "$0")/../lib/image-functions.sh"
requires python3

make_boot_disk "$T/root.img"
head -c $((24 << 20)) /dev/urandom >"$T/data.img"
truncate -s 64M "$T/data.img"

snapshots_of() { # IMAGE_JSON: "DEVICE SNAP" lines
    python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["Images"][0]["BlockDeviceMappings"]:
    print(m["DeviceName"], m["Ebs"]["SnapshotId"])' "$1"
}
snap_field() { bs describe-snapshots --snapshot-ids "$1" | json_get "Snapshots.0.$2"; }

step "create-image of a two-volume machine"
bs create-image --name machine-1 --volume "/dev/xvda=$T/root.img" --volume "/dev/xvdb=$T/data.img" \
    >"$T/c1.json"
ami1=$(image_id_of "$T/c1.json")
bs describe-images --image-ids "$ami1" >"$T/d1.json"
assert_eq "$(json_get Images.0.RootDeviceName "$T/d1.json")" /dev/xvda "root device"
assert_eq "$(json_get Images.0.BlockDeviceMappings.# "$T/d1.json")" 2 "mappings"
assert_eq "$(json_get Images.0.BootMode "$T/d1.json")" legacy-bios "boot mode"
snapshots_of "$T/d1.json" >"$T/s1"
root1=$(awk '$1 == "/dev/xvda" { print $2 }' "$T/s1")
data1=$(awk '$1 == "/dev/xvdb" { print $2 }' "$T/s1")
assert_eq "$(snap_field "$root1" Description)" "Created by CreateImage(/dev/xvda) for $ami1" "description"
assert_eq "$(json_get Images.0.BlockDeviceMappings.1.Ebs.VolumeSize "$T/d1.json")" 1 "data GiB"
restore "$data1" "$T/data.back"
assert_same_file "$T/data.back" "$T/data.img" "data volume restored"

step "change the data volume only, create-image again"
dd if=/dev/urandom of="$T/data.img" bs=64K seek=100 count=16 conv=notrunc status=none
stored_before=$(store_field StoredBytes)
packs_before=$(store_field PackBytes)
bs create-image --name machine-2 --volume "/dev/xvda=$T/root.img" --volume "/dev/xvdb=$T/data.img" \
    >"$T/c2.json"
ami2=$(image_id_of "$T/c2.json")
bs describe-images --image-ids "$ami2" >"$T/d2.json"
snapshots_of "$T/d2.json" >"$T/s2"
root2=$(awk '$1 == "/dev/xvda" { print $2 }' "$T/s2")
data2=$(awk '$1 == "/dev/xvdb" { print $2 }' "$T/s2")
assert_eq "$(snap_field "$root2" ParentSnapshotId)" "$root1" "root parent"
assert_eq "$(snap_field "$data2" ParentSnapshotId)" "$data1" "data parent"
assert_eq "$(snap_field "$root2" BytesWritten)" 0 "unchanged root volume: bytes written"
assert_eq "$(snap_field "$root2" ChunksWritten)" 0 "unchanged root volume: chunks written"
diff_ranges "$root1" "$root2" >"$T/root.diff"
[ ! -s "$T/root.diff" ] || die "the unchanged root volume's snapshots differ: $(cat "$T/root.diff")"
diff_ranges "$data1" "$data2" >"$T/data.diff"
assert_eq "$(cat "$T/data.diff")" "$((100 * 65536)) $((16 * 65536))" "data diff"
written=$(snap_field "$data2" BytesWritten)
stored_after=$(store_field StoredBytes)
packs_after=$(store_field PackBytes)
info "second image: data volume wrote $written bytes; StoredBytes +$((stored_after - stored_before)), PackBytes +$((packs_after - packs_before))"
# new pack bytes are exactly the changed volume's records (plus at most one
# new pack file header per writer)
delta=$((packs_after - packs_before - written))
if [ "$delta" -lt 0 ] || [ "$delta" -gt 64 ]; then
    die "store grew by $((packs_after - packs_before)), data wrote $written"
fi
assert_le "$((stored_after - stored_before))" "$written" "stored bytes grew beyond the data volume's writes"
# 16 changed chunks of random data + their leaf/inner pages, nothing more
assert_le "$written" $((16 * (65536 + 48) + 4 * (65536 + 48))) "bytes written for 1 MiB changed"
assert_verify_ok

step "a create-image that fails leaves nothing behind"
image_state >"$T/state.before"
expect_fail InvalidVolume.NotFound 1 bs create-image --name fail-1 --volume "/dev/xvda=$T/root.img" \
    --volume "/dev/xvdb=$T/missing.img"
assert_images_unchanged "$T/state.before"
mkdir "$T/adir"
expect_fail - 1 bs create-image --name fail-2 --volume "/dev/xvda=$T/root.img" \
    --volume "/dev/xvdb=$T/adir"
stderr_contains "/dev/xvdb"
assert_images_unchanged "$T/state.before"
expect_fail InvalidAMIName.Duplicate 1 bs create-image --name machine-1 \
    --volume "/dev/xvda=$T/root.img" --volume "/dev/xvdb=$T/data.img"
assert_images_unchanged "$T/state.before"
expect_fail Image.NotBootable 1 bs create-image --name fail-3 --root-device-name /dev/xvdb \
    --volume "/dev/xvda=$T/root.img" --volume "/dev/xvdb=$T/data.img"
assert_images_unchanged "$T/state.before"
expect_fail InvalidParameterValue 1 bs create-image --name fail-4 --volume "/dev/xvda=$T/root.img" \
    --volume "/dev/xvdb=$T/root.img"
expect_fail InvalidParameterValue 2 bs create-image --name fail-5 --volume "$T/root.img"
assert_images_unchanged "$T/state.before"
