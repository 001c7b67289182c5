#!/usr/bin/env bash
# Two profiles with two accounts on one store: each owns what it creates
# and sees only its own (describe-snapshots, describe-images,
# describe-volumes, each with OwnerId), --owner-ids / --owners self and
# account ids filter by owner, and the other's ids are NotFound for
# describe, delete, tags, restore, register and deregister, leaving the
# store as it was; a volume path of one account is VolumeInUse to the
# other.  A store's old records (written before owners were
# kept) stay the store account's.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

unset BLOCKSNAP_STORE
B=$BLOCKSNAP
account_profiles 123456789012 ops=111122223333

# ids KEY [ARGS...]: the ids of a describe verb's list, one a line.
ids() {
    local key=$1
    shift
    "$B" "$@" | python3 -c '
import json, sys
k = sys.argv[1]
d = json.load(sys.stdin)
for r in d[k + "s"] if k != "Image" else d["Images"]:
    print(r[k + "Id"], r.get("OwnerId", "-"))' "$key"
}

step "each account snapshots and registers its own"
head -c $((256 << 10)) /dev/urandom >"$T/a.img"
head -c $((256 << 10)) /dev/urandom >"$T/b.img"
"$B" create-snapshot --volume "$T/a.img" --quiet >"$T/sa.json"
SA=$(json_get SnapshotId "$T/sa.json")
assert_eq "$(json_get OwnerId "$T/sa.json")" 123456789012 "default profile's snapshot owner"
"$B" --profile ops create-snapshot --volume "$T/b.img" --quiet >"$T/sb.json"
SB=$(json_get SnapshotId "$T/sb.json")
assert_eq "$(json_get OwnerId "$T/sb.json")" 111122223333 "ops's snapshot owner"
AA=$("$B" register-image --name web-a --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$SA}" | json_get ImageId)
AB=$("$B" --profile ops register-image --name web-b --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$SB}" | json_get ImageId)

step "each sees its own, with its OwnerId"
assert_eq "$(ids Snapshot describe-snapshots)" "$SA 123456789012" "default's snapshots"
assert_eq "$(ids Snapshot --profile ops describe-snapshots)" "$SB 111122223333" "ops's snapshots"
assert_eq "$(ids Image describe-images)" "$AA 123456789012" "default's images"
assert_eq "$(ids Image --profile ops describe-images)" "$AB 111122223333" "ops's images"
assert_eq "$(ids Volume --profile ops describe-volumes | wc -l)" 1 "ops's volumes"

step "--owner-ids / --owners: self, an account id, another account"
assert_eq "$(ids Snapshot --profile ops describe-snapshots --owner-ids self)" \
    "$SB 111122223333" "--owner-ids self"
assert_eq "$(ids Snapshot --profile ops describe-snapshots --owner-ids 111122223333)" \
    "$SB 111122223333" "--owner-ids own account"
assert_eq "$(ids Snapshot --profile ops describe-snapshots --owner-ids 123456789012)" "" \
    "--owner-ids the other account"
assert_eq "$(ids Snapshot --profile ops describe-snapshots \
    --filters Name=owner-id,Values=111122223333)" "$SB 111122223333" "owner-id filter"
assert_eq "$(ids Image --profile ops describe-images --owners self)" "$AB 111122223333" \
    "--owners self"
assert_eq "$(ids Image describe-images --owners 111122223333)" "" "--owners the other account"
expect_fail InvalidUserID.Malformed 2 "$B" describe-snapshots --owner-ids bogus

step "the other's ids are NotFound, and nothing changes"
STORE=$XDG_DATA_HOME/blocksnap/local
store_state >"$T/state.before"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops delete-snapshot --snapshot-id "$SA"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops describe-snapshots --snapshot-ids "$SA"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops create-tags --resources "$SA" \
    --tags Key=a,Value=b
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops create-volume --snapshot-id "$SA" \
    --path "$T/r.img"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops register-image --name steal \
    --no-boot-check --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$SA}"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops diff "$SA"
expect_fail InvalidAMIID.NotFound 1 "$B" --profile ops deregister-image --image-id "$AA"
expect_fail InvalidAMIID.NotFound 1 "$B" --profile ops describe-images --image-ids "$AA"
expect_fail InvalidAMIID.NotFound 1 "$B" --profile ops create-tags --resources "$AA" \
    --tags Key=a,Value=b
expect_fail InvalidAMIID.NotFound 1 "$B" --profile ops modify-image-attribute --image-id "$AA" \
    --description x
expect_fail InvalidSnapshot.NotFound 1 "$B" delete-snapshot --snapshot-id "$SB"
[ ! -e "$T/r.img" ] || die "a restore of another account's snapshot made a file"
assert_store_unchanged "$T/state.before"
"$B" describe-images --image-ids "$AA" >/dev/null

step "a path recorded as a volume of one account is VolumeInUse to the other"
# One volume record a path: a snapshot or restore there by the other
# account would take its parent from, and move, the owner's last snapshot.
store_state >"$T/state.before"
expect_fail VolumeInUse 1 "$B" --profile ops create-snapshot --volume "$T/a.img"
cp "$T/a.img" "$T/a.copy"
expect_fail VolumeInUse 1 "$B" --profile ops create-volume --snapshot-id "$SB" \
    --path "$T/a.img" --force
cmp -s "$T/a.img" "$T/a.copy" || die "a refused restore changed the owner's volume"
assert_store_unchanged "$T/state.before"
"$B" create-snapshot --volume "$T/a.img" --quiet >"$T/sa2.json"
assert_eq "$(json_get ParentSnapshotId "$T/sa2.json")" "$SA" \
    "the owner's next snapshot still follows its own"
"$B" delete-snapshot --snapshot-id "$(json_get SnapshotId "$T/sa2.json")"

step "copy-snapshot into a store of another account: the copy is the caller's"
"$B" --profile ops --region far create-snapshot --volume "$T/b.img" --quiet >"$T/far.json"
FAR=$(json_get SnapshotId "$T/far.json")
"$B" --profile ops copy-snapshot --source-region far --source-snapshot-id "$FAR" --quiet \
    >"$T/copy.json"
COPY=$(json_get SnapshotId "$T/copy.json")
assert_eq "$(ids Snapshot --profile ops describe-snapshots --snapshot-ids "$COPY")" \
    "$COPY 111122223333" "the copy's owner"
expect_fail InvalidSnapshot.NotFound 1 "$B" describe-snapshots --snapshot-ids "$COPY"
"$B" --profile ops delete-snapshot --snapshot-id "$COPY"

step "each deletes its own"
"$B" --profile ops deregister-image --image-id "$AB" --delete-associated-snapshots >/dev/null
assert_eq "$(ids Snapshot --profile ops describe-snapshots)" "" "ops's snapshots after delete"
assert_eq "$(ids Snapshot describe-snapshots)" "$SA 123456789012" "default's are untouched"
echo "accounts-owners: OK"
