#!/usr/bin/env bash
# Create-volume permissions (modify/describe/reset-snapshot-attribute) with
# two profiles of two accounts on one store: the owner shares a snapshot
# with the other account, which then sees it (describe-snapshots, also
# --restorable-by-user-ids self, not --owner-ids self), restores it byte for
# byte and copies it into its own region, but cannot delete, tag or share
# it and sees none of its tags; bad items and other accounts' calls fail
# with EC2's codes and change nothing; the group all makes it public;
# unshared (remove, reset) it is NotFound to the other account again.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

unset BLOCKSNAP_STORE
B=$BLOCKSNAP
OWNER=123456789012
OTHER=111122223333
account_profiles $OWNER ops=$OTHER
STORE=$XDG_DATA_HOME/blocksnap/local

# ids ARGS...: the snapshot ids describe-snapshots lists, one a line.
ids() {
    "$B" describe-snapshots "$@" | python3 -c '
import json, sys
for s in json.load(sys.stdin)["Snapshots"]:
    print(s["SnapshotId"])'
}
# perms SNAP [PROFILE...]: the create-volume permissions as "Group=all" /
# "UserId=ID" words on one line.
perms() {
    local s=$1
    shift
    "$B" "$@" describe-snapshot-attribute --snapshot-id "$s" --attribute createVolumePermission |
        python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join("%s=%s" % next(iter(p.items())) for p in d["CreateVolumePermissions"]))'
}

step "the owner snapshots and tags; the other account cannot see it"
head -c $((384 << 10)) /dev/urandom >"$T/a.img"
S=$("$B" create-snapshot --volume "$T/a.img" --quiet --tags Key=secret,Value=owner-only |
    json_get SnapshotId)
assert_eq "$(ids --profile ops)" "" "ops sees nothing before the share"
assert_eq "$(perms "$S")" "" "private: no permissions"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops create-volume --snapshot-id "$S" \
    --path "$T/r.img"

step "bad items, a bad operation, adds with removes: nothing changes"
store_state >"$T/state.before"
expect_fail InvalidAMIAttributeItemValue 1 "$B" modify-snapshot-attribute --snapshot-id "$S" \
    --attribute createVolumePermission --operation-type add --user-ids $OTHER 12345
stderr_contains 'Invalid attribute item value "12345" for userId item type'
expect_fail InvalidAMIAttributeItemValue 1 "$B" modify-snapshot-attribute --snapshot-id "$S" \
    --create-volume-permission "Add=[{UserId=$OTHER},{Group=everyone}]"
stderr_contains 'for UserGroup item type'
expect_fail InvalidParameterCombination 1 "$B" modify-snapshot-attribute --snapshot-id "$S" \
    --create-volume-permission "Add=[{UserId=$OTHER}],Remove=[{Group=all}]"
expect_fail InvalidParameterValue 2 "$B" modify-snapshot-attribute --snapshot-id "$S" \
    --operation-type share --user-ids $OTHER
expect_fail InvalidParameterValue 2 "$B" modify-snapshot-attribute --snapshot-id "$S" \
    --create-volume-permission "Add=[{Account=$OTHER}]"
expect_fail InvalidParameterValue 1 "$B" modify-snapshot-attribute --snapshot-id "$S" \
    --attribute productCodes --operation-type add --user-ids $OTHER
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops modify-snapshot-attribute \
    --snapshot-id "$S" --operation-type add --user-ids $OTHER
expect_fail InvalidSnapshotID.Malformed 1 "$B" describe-snapshot-attribute --snapshot-id bad \
    --attribute createVolumePermission
assert_eq "$(perms "$S")" "" "still private after the refused calls"
assert_store_unchanged "$T/state.before"

step "share with the other account (shorthand form)"
"$B" modify-snapshot-attribute --snapshot-id "$S" \
    --create-volume-permission "Add=[{UserId=$OTHER}]"
"$B" modify-snapshot-attribute --snapshot-id "$S" --attribute createVolumePermission \
    --operation-type add --user-ids $OTHER # again: no change
assert_eq "$(perms "$S")" "UserId=$OTHER" "shared with one account"
assert_eq "$(ids --profile ops)" "$S" "ops sees the shared snapshot"
assert_eq "$(ids --profile ops --restorable-by-user-ids self)" "$S" "restorable by self"
assert_eq "$(ids --profile ops --owner-ids self)" "" "but it is not ops's own"
assert_eq "$(ids --restorable-by-user-ids $OTHER)" "$S" "the owner: restorable by ops"
assert_eq "$(ids --restorable-by-user-ids all)" "" "not public"
"$B" --profile ops describe-snapshots --snapshot-ids "$S" >"$T/d.json"
assert_eq "$(json_get Snapshots.0.OwnerId "$T/d.json")" $OWNER "OwnerId as the grantee sees it"
python3 -c 'import json,sys; sys.exit("Tags" in json.load(open(sys.argv[1]))["Snapshots"][0])' \
    "$T/d.json" || die "the grantee sees the owner's tags"
assert_eq "$(ids --profile ops --filters Name=tag:secret,Values=owner-only)" "" \
    "the grantee cannot filter on the owner's tags"

step "the grantee restores it byte for byte"
"$B" --profile ops create-volume --snapshot-id "$S" --path "$T/r.img" --quiet >/dev/null
cmp "$T/a.img" "$T/r.img" || die "restored volume differs"
printf 'changed' | dd of="$T/r.img" conv=notrunc status=none
"$B" --profile ops create-snapshot --volume "$T/r.img" --quiet >"$T/own.json"
OWN=$(json_get SnapshotId "$T/own.json")
assert_eq "$(json_get OwnerId "$T/own.json")" $OTHER "its snapshot of the restored volume"
assert_eq "$(json_get ParentSnapshotId "$T/own.json")" "$S" "incremental to the shared one"
"$B" --profile ops create-snapshot --volume "$T/r.img" --parent "$S" --quiet >/dev/null

step "the grantee cannot delete, tag or share it"
store_state >"$T/state.before"
expect_fail UnauthorizedOperation 1 "$B" --profile ops delete-snapshot --snapshot-id "$S"
expect_fail UnauthorizedOperation 1 "$B" --profile ops create-tags --resources "$S" \
    --tags Key=a,Value=b
expect_fail UnauthorizedOperation 1 "$B" --profile ops delete-tags --resources "$S"
expect_fail AuthFailure 1 "$B" --profile ops modify-snapshot-attribute --snapshot-id "$S" \
    --operation-type add --group-names all
expect_fail AuthFailure 1 "$B" --profile ops reset-snapshot-attribute --snapshot-id "$S" \
    --attribute createVolumePermission
expect_fail AuthFailure 1 "$B" --profile ops describe-snapshot-attribute --snapshot-id "$S" \
    --attribute createVolumePermission
assert_store_unchanged "$T/state.before"
assert_eq "$(perms "$S")" "UserId=$OTHER" "permissions unchanged"
"$B" describe-snapshots --snapshot-ids "$S" | json_get Snapshots.0.Tags.0.Value >"$T/tag"
assert_eq "$(cat "$T/tag")" owner-only "the owner's tag is still there"

step "the grantee copies it into its own region"
"$B" --profile ops --region far copy-snapshot --source-region local --source-snapshot-id "$S" \
    --quiet >"$T/copy.json"
COPY=$(json_get SnapshotId "$T/copy.json")
"$B" --profile ops --region far describe-snapshots --snapshot-ids "$COPY" >"$T/c.json"
assert_eq "$(json_get Snapshots.0.OwnerId "$T/c.json")" $OTHER "the copy is the grantee's"
"$B" --profile ops --region far create-volume --snapshot-id "$COPY" --path "$T/c.img" \
    --quiet >/dev/null
cmp "$T/a.img" "$T/c.img" || die "the copy restores differently"

step "public with the group all, then unshared"
"$B" modify-snapshot-attribute --snapshot-id "$S" --operation-type add --group-names all
assert_eq "$(perms "$S")" "Group=all UserId=$OTHER" "public and one account"
assert_eq "$(ids --restorable-by-user-ids all)" "$S" "public"
"$B" modify-snapshot-attribute --snapshot-id "$S" \
    --create-volume-permission "Remove=[{UserId=$OTHER}]"
assert_eq "$(ids --profile ops --filters "Name=snapshot-id,Values=$S")" "$S" \
    "public: ops still sees it"
assert_eq "$(ids --profile ops --restorable-by-user-ids self --filters "Name=snapshot-id,Values=$S")" \
    "" "but not by id any more"
"$B" reset-snapshot-attribute --snapshot-id "$S" --attribute createVolumePermission
assert_eq "$(perms "$S")" "" "reset: private"
assert_eq "$(ids --profile ops)" "$(ids --profile ops --owner-ids self)" \
    "ops sees only its own after the reset"
"$B" --profile ops create-volume --snapshot-id "$OWN" --path "$T/o.img" --quiet >/dev/null
printf 'changed' | dd of="$T/a.img" conv=notrunc status=none
cmp "$T/a.img" "$T/o.img" || die "ops's own snapshot, after the unshare, restores differently"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops create-volume --snapshot-id "$S" \
    --path "$T/r2.img"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops describe-snapshots --snapshot-ids "$S"
assert_verify_ok
echo "share-snapshot: OK"
