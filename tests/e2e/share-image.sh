#!/usr/bin/env bash
# Launch permissions (modify/describe/reset-image-attribute) with two
# profiles of two accounts on one store, and a third account: an image
# shared with one account is listed to it (describe-images,
# --executable-users self, --owners of the owner) without its tags, Public
# when shared with the group all, and copied by it into its own region once
# the image's snapshot is shared too (AuthFailure before); it cannot
# deregister, tag or share the image; reset makes the image NotFound to
# both others again.  Bad items change nothing.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

unset BLOCKSNAP_STORE
B=$BLOCKSNAP
OWNER=123456789012
OTHER=111122223333
THIRD=444455556666
account_profiles $OWNER ops=$OTHER far=$THIRD
STORE=$XDG_DATA_HOME/blocksnap/local

# perms IMAGE: the launch permissions as "Group=all" / "UserId=ID" words.
perms() {
    "$B" describe-image-attribute --image-id "$1" --attribute launchPermission | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join("%s=%s" % next(iter(p.items())) for p in d["LaunchPermissions"]))'
}

step "the owner registers a tagged image; the others cannot see it"
head -c $((256 << 10)) /dev/urandom >"$T/a.img"
S=$("$B" create-snapshot --volume "$T/a.img" --quiet | json_get SnapshotId)
A=$("$B" register-image --name web --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$S}" | json_get ImageId)
"$B" create-tags --resources "$A" --tags Key=secret,Value=owner-only
assert_eq "$(perms "$A")" "" "private"
assert_eq "$("$B" describe-images --image-ids "$A" | json_get Images.0.Public)" false "not public"
assert_eq "$(images --profile ops)" "" "ops sees nothing"
expect_fail InvalidAMIID.NotFound 1 "$B" --profile ops describe-images --image-ids "$A"

step "bad items change nothing"
store_state >"$T/state.before"
expect_fail InvalidAMIAttributeItemValue 1 "$B" modify-image-attribute --image-id "$A" \
    --launch-permission "Add=[{UserId=$OTHER},{UserId=1234}]"
stderr_contains 'Invalid attribute item value "1234" for userId item type'
expect_fail InvalidAMIAttributeItemValue 1 "$B" modify-image-attribute --image-id "$A" \
    --attribute launchPermission --operation-type add --user-groups everyone
expect_fail InvalidAMIID.NotFound 1 "$B" --profile ops modify-image-attribute --image-id "$A" \
    --launch-permission "Add=[{UserId=$OTHER}]"
expect_fail InvalidParameterValue 1 "$B" reset-image-attribute --image-id "$A" \
    --attribute description
expect_fail InvalidUserID.Malformed 2 "$B" describe-images --executable-users bogus
assert_eq "$(perms "$A")" "" "still private"
assert_store_unchanged "$T/state.before"

step "shared with one account"
"$B" modify-image-attribute --image-id "$A" --launch-permission "Add=[{UserId=$OTHER}]"
assert_eq "$(perms "$A")" "UserId=$OTHER" "one account"
assert_eq "$(images --profile ops)" "$A" "ops sees it"
assert_eq "$(images --profile ops --executable-users self)" "$A" "executable by self"
assert_eq "$(images --profile ops --owners self)" "" "not ops's own"
assert_eq "$(images --profile ops --owners $OWNER)" "$A" "--owners the owner"
assert_eq "$(images --executable-users $OTHER)" "$A" "the owner: executable by ops"
assert_eq "$(images --executable-users all)" "" "not public"
assert_eq "$(images --profile far)" "" "the third account sees nothing"
"$B" --profile ops describe-images --image-ids "$A" >"$T/d.json"
python3 -c 'import json,sys; sys.exit("Tags" in json.load(open(sys.argv[1]))["Images"][0])' \
    "$T/d.json" || die "the grantee sees the owner's tags"

step "the grantee cannot deregister, tag or share it"
store_state >"$T/state.before"
expect_fail UnauthorizedOperation 1 "$B" --profile ops deregister-image --image-id "$A"
expect_fail UnauthorizedOperation 1 "$B" --profile ops create-tags --resources "$A" \
    --tags Key=a,Value=b
expect_fail AuthFailure 1 "$B" --profile ops modify-image-attribute --image-id "$A" \
    --launch-permission "Add=[{Group=all}]"
expect_fail AuthFailure 1 "$B" --profile ops reset-image-attribute --image-id "$A" \
    --attribute launchPermission
expect_fail AuthFailure 1 "$B" --profile ops describe-image-attribute --image-id "$A" \
    --attribute launchPermission
assert_store_unchanged "$T/state.before"
assert_eq "$(perms "$A")" "UserId=$OTHER" "unchanged"

step "copy-image by the grantee: its snapshot must be shared too"
expect_fail AuthFailure 1 "$B" --profile ops --region eu copy-image --source-region local \
    --source-image-id "$A" --name web-eu --quiet
stderr_contains "$S"
"$B" modify-snapshot-attribute --snapshot-id "$S" --operation-type add --user-ids $OTHER
"$B" --profile ops --region eu copy-image --source-region local --source-image-id "$A" \
    --name web-eu --quiet >"$T/copy.json"
AC=$(json_get ImageId "$T/copy.json")
"$B" --profile ops --region eu describe-images --image-ids "$AC" >"$T/c.json"
assert_eq "$(json_get Images.0.OwnerId "$T/c.json")" $OTHER "the copy is ops's"
SC=$(json_get Images.0.BlockDeviceMappings.0.Ebs.SnapshotId "$T/c.json")
"$B" --profile ops --region eu create-volume --snapshot-id "$SC" --path "$T/c.img" \
    --quiet >/dev/null
cmp "$T/a.img" "$T/c.img" || die "the copied image's snapshot restores differently"

step "public, then reset"
"$B" modify-image-attribute --image-id "$A" --attribute launchPermission \
    --operation-type add --user-groups all
assert_eq "$(perms "$A")" "Group=all UserId=$OTHER" "public and one account"
assert_eq "$("$B" describe-images --image-ids "$A" | json_get Images.0.Public)" true "Public"
assert_eq "$(images --filters Name=is-public,Values=true)" "$A" "is-public filter"
assert_eq "$(images --profile far)" "$A" "the third account sees a public image"
assert_eq "$(images --profile far --executable-users all)" "$A" "executable by all"
assert_eq "$(images --profile far --executable-users self)" "" "but not by id"
"$B" modify-image-attribute --image-id "$A" \
    --launch-permission "Add=[{UserId=$THIRD}],Remove=[{Group=all}]"
assert_eq "$(perms "$A")" "UserId=$OTHER UserId=$THIRD" "add and remove in one call"
"$B" reset-image-attribute --image-id "$A" --attribute launchPermission
assert_eq "$(perms "$A")" "" "reset: private"
assert_eq "$(images --profile ops)" "" "ops sees nothing after the reset"
assert_eq "$(images --profile far)" "" "nor does the third account"
expect_fail InvalidAMIID.NotFound 1 "$B" --profile ops describe-images --image-ids "$A"
assert_eq "$(images)" "$A" "the owner keeps it"
assert_verify_ok
echo "share-image: OK"
