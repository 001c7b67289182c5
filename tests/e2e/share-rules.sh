#!/usr/bin/env bash
# The sharing rules around the permission verbs, two accounts on one store:
# at most 500 changes in one call (InvalidParameterValue), an image shared
# with at most 1000 accounts and at most 5 public images per account
# (ResourceLimitExceeded), each refusal changing nothing; tags stay the
# owner's (a grantee's copy-image --copy-image-tags copies none of them);
# deregister and delete with shares: only the owner deregisters or deletes,
# a snapshot of a registered image is InvalidSnapshot.InUse, a deregistered
# image is gone for the grantee and InvalidAMIID.Unavailable to share, its
# snapshot then deletes and is InvalidSnapshot.NotFound to the grantee,
# whose copy stays its own.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 seq

unset BLOCKSNAP_STORE
B=$BLOCKSNAP
OWNER=123456789012
OTHER=111122223333
account_profiles $OWNER ops=$OTHER
STORE=$XDG_DATA_HOME/blocksnap/local

# nperms IMAGE: how many launch permissions the image has.
nperms() {
    "$B" describe-image-attribute --image-id "$1" --attribute launchPermission |
        json_get LaunchPermissions.#
}
# accounts FIRST N: N 12-digit account ids from FIRST on.
accounts() { seq -f '%012.0f' "$1" $(($1 + $2 - 1)); }

step "a tagged image and its snapshot"
head -c $((256 << 10)) /dev/urandom >"$T/a.img"
S=$("$B" create-snapshot --volume "$T/a.img" --quiet | json_get SnapshotId)
A=$("$B" register-image --name web --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$S}" | json_get ImageId)
"$B" create-tags --resources "$A" --tags Key=secret,Value=owner-only

step "at most 500 changes in one call"
store_state >"$T/state.before"
# shellcheck disable=SC2046 # one word per account
expect_fail InvalidParameterValue 1 "$B" modify-image-attribute --image-id "$A" \
    --attribute launchPermission --operation-type add --user-ids $(accounts 200000000000 501)
stderr_contains "501 permission changes" "at most 500"
# shellcheck disable=SC2046
expect_fail InvalidParameterValue 1 "$B" modify-snapshot-attribute --snapshot-id "$S" \
    --attribute createVolumePermission --operation-type add \
    --user-ids $(accounts 200000000000 501)
assert_store_unchanged "$T/state.before"

step "an image is shared with at most 1000 accounts"
# shellcheck disable=SC2046
"$B" modify-image-attribute --image-id "$A" --attribute launchPermission --operation-type add \
    --user-ids $(accounts 200000000000 500)
# shellcheck disable=SC2046
"$B" modify-image-attribute --image-id "$A" --attribute launchPermission --operation-type add \
    --user-ids $(accounts 200000000500 499) $OTHER
assert_eq "$(nperms "$A")" 1000 "1000 accounts"
store_state >"$T/state.before"
expect_fail ResourceLimitExceeded 1 "$B" modify-image-attribute --image-id "$A" \
    --launch-permission "Add=[{UserId=300000000000}]"
assert_store_unchanged "$T/state.before"
"$B" modify-image-attribute --image-id "$A" --launch-permission \
    "Add=[{UserId=300000000000}],Remove=[{UserId=200000000000}]"
assert_eq "$(nperms "$A")" 1000 "one in, one out in one call"

step "at most 5 public images per account"
for i in 1 2 3 4 5 6; do
    P[i]=$("$B" register-image --name "pub-$i" --no-boot-check \
        --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$S}" | json_get ImageId)
done
for i in 1 2 3 4 5; do
    "$B" modify-image-attribute --image-id "${P[i]}" --launch-permission "Add=[{Group=all}]"
done
"$B" modify-image-attribute --image-id "${P[1]}" --launch-permission "Add=[{Group=all}]"
store_state >"$T/state.before"
expect_fail ResourceLimitExceeded 1 "$B" modify-image-attribute --image-id "${P[6]}" \
    --launch-permission "Add=[{Group=all}]"
assert_store_unchanged "$T/state.before"
"$B" deregister-image --image-id "${P[1]}" >/dev/null
"$B" modify-image-attribute --image-id "${P[6]}" --launch-permission "Add=[{Group=all}]"
for i in 2 3 4 5 6; do "$B" deregister-image --image-id "${P[i]}" >/dev/null; done

step "tags stay the owner's: a grantee's copy-image --copy-image-tags copies none"
"$B" modify-snapshot-attribute --snapshot-id "$S" --operation-type add --user-ids $OTHER
"$B" --profile ops --region eu copy-image --source-region local --source-image-id "$A" \
    --name web-ops --copy-image-tags --quiet >"$T/copy.json"
AC=$(json_get ImageId "$T/copy.json")
"$B" --profile ops --region eu describe-images --image-ids "$AC" >"$T/c.json"
python3 -c 'import json,sys; sys.exit("Tags" in json.load(open(sys.argv[1]))["Images"][0])' \
    "$T/c.json" || die "the grantee's copy has the owner's tags"
"$B" --region eu copy-image --source-region local --source-image-id "$A" --name web-own \
    --copy-image-tags --quiet >"$T/own.json"
assert_eq "$("$B" --region eu describe-images --image-ids "$(json_get ImageId "$T/own.json")" |
    json_get Images.0.Tags.0.Value)" owner-only "the owner's own copy keeps its tags"

step "deregister and delete with shares"
store_state >"$T/state.before"
expect_fail UnauthorizedOperation 1 "$B" --profile ops deregister-image --image-id "$A"
expect_fail UnauthorizedOperation 1 "$B" --profile ops delete-snapshot --snapshot-id "$S"
expect_fail InvalidSnapshot.InUse 1 "$B" delete-snapshot --snapshot-id "$S"
assert_store_unchanged "$T/state.before"
"$B" deregister-image --image-id "$A" >/dev/null
assert_eq "$(images --profile ops)" "" "a deregistered image is gone for the grantee"
expect_fail InvalidAMIID.Unavailable 1 "$B" modify-image-attribute --image-id "$A" \
    --launch-permission "Add=[{UserId=$OTHER}]"
"$B" delete-snapshot --snapshot-id "$S" >/dev/null
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops describe-snapshots --snapshot-ids "$S"
SC=$("$B" --profile ops --region eu describe-images --image-ids "$AC" |
    json_get Images.0.BlockDeviceMappings.0.Ebs.SnapshotId)
"$B" --profile ops --region eu create-volume --snapshot-id "$SC" --path "$T/c.img" --quiet \
    >/dev/null
cmp "$T/a.img" "$T/c.img" || die "the grantee's copy changed with the source"
assert_verify_ok
echo "share-rules: OK"
