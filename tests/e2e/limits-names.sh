#!/usr/bin/env bash
# Limits of names and counts, each tried at the limit (accepted, stored
# whole) and one past it (refused with a clear error naming the limit, and
# nothing changed): snapshot descriptions (255 characters), tag keys (127)
# and values (256), tags per resource (50, also when create-tags adds to
# existing ones), image names (3 to 128) and descriptions (255).
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

rep() { python3 -c 'import sys; print(sys.argv[1] * int(sys.argv[2]), end="")' "$1" "$2"; }
head -c $((1 << 20)) /dev/urandom >"$T/vol.img"

step "descriptions: 255 characters taken, 256 refused"
d255=$(rep d 255)
S=$(snapshot_create "$T/vol.img" --description "$d255")
bs describe-snapshots --snapshot-ids "$S" >"$T/d.json"
assert_eq "$(json_get Snapshots.0.Description "$T/d.json")" "$d255" "a 255-character description"
store_state >"$T/before"
expect_fail - 1\|2 bs create-snapshot --volume "$T/vol.img" --description "$(rep d 256)"
stderr_contains 255
assert_store_unchanged "$T/before"

step "tag keys: 127 characters taken, 128 refused; values: 256 taken, 257 refused"
k127=$(rep k 127) v256=$(rep v 256)
bs create-tags --resources "$S" --tags "Key=$k127,Value=$v256" >/dev/null
bs describe-snapshots --snapshot-ids "$S" >"$T/d.json"
assert_eq "$(json_get Snapshots.0.Tags.0.Key "$T/d.json")" "$k127" "a 127-character key"
assert_eq "$(json_get Snapshots.0.Tags.0.Value "$T/d.json")" "$v256" "a 256-character value"
expect_fail - 1\|2 bs create-tags --resources "$S" --tags "Key=$(rep k 128),Value=x"
stderr_contains 127
expect_fail - 1\|2 bs create-tags --resources "$S" --tags "Key=k,Value=$(rep v 257)"
stderr_contains 256
bs describe-snapshots --snapshot-ids "$S" >"$T/d.json"
assert_eq "$(json_get Snapshots.0.Tags.# "$T/d.json")" 1 "tags after the refused ones"

step "50 tags per resource: 50 taken, 51 refused, also added to existing ones"
tags=()
for i in $(seq 1 50); do tags+=("Key=t$i,Value=$i"); done
S50=$(snapshot_create "$T/vol.img" --tags "${tags[@]}")
bs describe-snapshots --snapshot-ids "$S50" >"$T/d.json"
assert_eq "$(json_get Snapshots.0.Tags.# "$T/d.json")" 50 "tags of a snapshot taken with 50"
tags+=("Key=t51,Value=51")
expect_fail - 1\|2 bs create-snapshot --volume "$T/vol.img" --tags "${tags[@]}"
stderr_contains 50
# S has 1 tag: 49 more make 50, 50 more would make 51
more=()
for i in $(seq 1 49); do more+=("Key=m$i,Value=$i"); done
bs create-tags --resources "$S" --tags "${more[@]}" >/dev/null
expect_fail TagLimitExceeded 1 bs create-tags --resources "$S" --tags "Key=one-more,Value=x"
bs describe-snapshots --snapshot-ids "$S" >"$T/d.json"
assert_eq "$(json_get Snapshots.0.Tags.# "$T/d.json")" 50 "tags after the refused 51st"
# overwriting an existing key is not a new tag
bs create-tags --resources "$S" --tags "Key=m1,Value=changed" >/dev/null

if "$BLOCKSNAP" register-image --help >/dev/null 2>&1; then
    step "image names: 3 to 128 characters; descriptions: 255"
    n128=$(rep n 128)
    bs register-image --name "$n128" --description "$d255" --no-boot-check \
        --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$S}" >"$T/img.json"
    bs describe-images --filters "Name=name,Values=$n128" >"$T/imgs.json"
    assert_eq "$(json_get Images.0.Name "$T/imgs.json")" "$n128" "a 128-character image name"
    expect_fail - 1\|2 bs register-image --name "$(rep n 129)" --no-boot-check \
        --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$S}"
    stderr_contains 128
    expect_fail - 1\|2 bs register-image --name ab --no-boot-check \
        --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$S}"
    expect_fail - 1\|2 bs register-image --name other-name --description "$(rep d 256)" \
        --no-boot-check --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$S}"
    stderr_contains 255
    bs describe-images >"$T/imgs.json"
    assert_eq "$(json_get Images.# "$T/imgs.json")" 1 "images after the refused ones"
fi
assert_verify_ok
