#!/usr/bin/env bash
# Two regions in one run: each is its own store, chosen by --region or a
# profile's region, and an id is valid only in its own region: a snapshot
# or image id of one is InvalidSnapshot.NotFound / InvalidAMIID.NotFound in
# the other, for describe, delete and tags, and the other store is left as
# it was.  copy-snapshot finds a source region at its store_path.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

unset BLOCKSNAP_STORE
B=$BLOCKSNAP
"$B" configure set region.eu-west-1.store_path "$T/eu"
"$B" configure set profile.eu.region eu-west-1

step "a snapshot and an image in us-east-1"
head -c $((256 << 10)) /dev/urandom >"$T/v.img"
"$B" --region us-east-1 create-snapshot --volume "$T/v.img" --quiet >"$T/snap.json"
SNAP=$(json_get SnapshotId "$T/snap.json")
"$B" --region us-east-1 register-image --name web --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$SNAP}" >"$T/ami.json"
AMI=$(json_get ImageId "$T/ami.json")
"$B" --region us-east-1 describe-snapshots --snapshot-ids "$SNAP" >/dev/null
[ -d "$XDG_DATA_HOME/blocksnap/us-east-1" ] || die "us-east-1 is not in its default place"

step "eu-west-1 (its store_path, through the profile) knows neither id"
"$B" --profile eu create-store --quiet >/dev/null
[ -f "$T/eu/config" ] || die "eu-west-1's store is not at its store_path"
STORE=$T/eu
store_state >"$T/state.before"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile eu describe-snapshots --snapshot-ids "$SNAP"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile eu delete-snapshot --snapshot-id "$SNAP"
expect_fail InvalidAMIID.NotFound 1 "$B" --profile eu describe-images --image-ids "$AMI"
expect_fail InvalidAMIID.NotFound 1 "$B" --region eu-west-1 deregister-image --image-id "$AMI"
expect_fail InvalidAMIID.NotFound 1 "$B" --region eu-west-1 describe-image-attribute \
    --image-id "$AMI" --attribute description
expect_fail InvalidSnapshot.NotFound 1 "$B" --region eu-west-1 create-volume \
    --snapshot-id "$SNAP" --path "$T/r.img"
expect_fail InvalidSnapshot.NotFound 1 "$B" --region eu-west-1 create-tags --resources "$SNAP" --tags Key=a,Value=b
stderr_contains "$SNAP"
[ ! -e "$T/r.img" ] || die "a restore from another region's id made a file"
assert_store_unchanged "$T/state.before"
assert_eq "$("$B" --profile eu describe-snapshots | python3 -c \
    'import json,sys; print(len(json.load(sys.stdin)["Snapshots"]))')" 0 "eu-west-1 snapshots"

step "copy-snapshot finds a source region's store at its store_path"
head -c $((128 << 10)) /dev/urandom >"$T/w.img"
"$B" --profile eu create-snapshot --volume "$T/w.img" --quiet >"$T/eu-snap.json"
EU_SNAP=$(json_get SnapshotId "$T/eu-snap.json")
"$B" --region us-east-1 copy-snapshot --source-region eu-west-1 --source-snapshot-id "$EU_SNAP" \
    --quiet >"$T/copy.json"
COPY=$(json_get SnapshotId "$T/copy.json")
[ "$COPY" != "$EU_SNAP" ] || die "the copy kept the source's id"
"$B" --region us-east-1 create-volume --snapshot-id "$COPY" --path "$T/w.copy" --quiet >/dev/null
cmp "$T/w.img" "$T/w.copy" || die "the copy restores other bytes"
expect_fail InvalidSnapshot.NotFound 1 "$B" --region us-east-1 describe-snapshots \
    --snapshot-ids "$EU_SNAP"

step "us-east-1 still has both"
"$B" --region us-east-1 describe-images --image-ids "$AMI" >/dev/null
"$B" --region us-east-1 describe-snapshots --snapshot-ids "$SNAP" >/dev/null
echo "accounts-regions: OK"
