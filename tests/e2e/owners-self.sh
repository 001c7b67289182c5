#!/usr/bin/env bash
# --owner-ids self (describe-snapshots) and --owners self (describe-images)
# as EC2 has them: self is the calling account, so a snapshot or image
# another account shares with the caller is listed without the option and
# with that owner's id, and left out by self.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

unset BLOCKSNAP_STORE
B=$BLOCKSNAP
account_profiles 123456789012 ops=111122223333

# ids KEY [ARGS...]: the ids of a describe verb's list, sorted, one a line.
ids() {
    local key=$1
    shift
    "$B" "$@" | python3 -c '
import json, sys
k = sys.argv[1]
d = json.load(sys.stdin)
for r in d["Images" if k == "Image" else k + "s"]:
    print(r[k + "Id"])' "$key" | sort
}

step "the default account shares a snapshot and an image with ops; ops has its own"
head -c $((128 << 10)) /dev/urandom >"$T/a.img"
head -c $((128 << 10)) /dev/urandom >"$T/b.img"
SA=$("$B" create-snapshot --volume "$T/a.img" --quiet | json_get SnapshotId)
AA=$("$B" register-image --name web-a --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$SA}" | json_get ImageId)
"$B" modify-snapshot-attribute --snapshot-id "$SA" --operation-type add --user-ids 111122223333
"$B" modify-image-attribute --image-id "$AA" --attribute launchPermission \
    --operation-type add --user-ids 111122223333
SB=$("$B" --profile ops create-snapshot --volume "$T/b.img" --quiet | json_get SnapshotId)
AB=$("$B" --profile ops register-image --name web-b --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$SB}" | json_get ImageId)

step "ops sees both; self is its own; the owner's id is the shared one"
assert_eq "$(ids Snapshot --profile ops describe-snapshots)" "$(printf '%s\n' "$SA" "$SB" | sort)" \
    "ops's snapshots"
assert_eq "$(ids Snapshot --profile ops describe-snapshots --owner-ids self)" "$SB" \
    "--owner-ids self"
assert_eq "$(ids Snapshot --profile ops describe-snapshots --owner-ids 123456789012)" "$SA" \
    "--owner-ids of the sharing account"
assert_eq "$(ids Snapshot --profile ops describe-snapshots --owner-ids self 123456789012)" \
    "$(printf '%s\n' "$SA" "$SB" | sort)" "--owner-ids self and the other: either"
assert_eq "$(ids Image --profile ops describe-images)" "$(printf '%s\n' "$AA" "$AB" | sort)" \
    "ops's images"
assert_eq "$(ids Image --profile ops describe-images --owners self)" "$AB" "--owners self"
assert_eq "$(ids Image --profile ops describe-images --owners 123456789012)" "$AA" \
    "--owners of the sharing account"
step "for the default account, self is its own snapshot and image"
assert_eq "$(ids Snapshot describe-snapshots --owner-ids self)" "$SA" "default --owner-ids self"
assert_eq "$(ids Image describe-images --owners self)" "$AA" "default --owners self"
