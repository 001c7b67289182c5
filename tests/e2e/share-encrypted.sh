#!/usr/bin/env bash
# EC2's sharing rules for encrypted snapshots and images, two accounts on
# one store, and the key side of them: a snapshot (or an image with one)
# encrypted under the AWS-managed default key is shared with no one
# (InvalidParameter), an encrypted one is never public
# (UnsupportedOperation); one under a customer key is shared, described by
# the other account, but restored or copied by it only with a grant of
# Decrypt on the key (AccessDeniedException, no target left), its copy
# then under its own default key; revoked, the source is closed to it
# again, its copy is not.  Deleting a key a snapshot needs waits for the snapshot (which
# deletes though its key is pending deletion), unless forced; gc by either
# account works through the other's encrypted snapshots.  Each refusal
# exits 1 and changes nothing.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

PROBE=${BSNAP_BUILD_DIR:-$(dirname "$BLOCKSNAP")}/tests/tools/bsnap-keyprobe
[ -x "$PROBE" ] || skip "no $PROBE (build the tests/tools targets)"
unset BLOCKSNAP_STORE
export BLOCKSNAP_KEY_DIR=$T/keys
B=$BLOCKSNAP
OWNER=123456789012
OTHER=111122223333
account_profiles $OWNER ops=$OTHER
STORE=$XDG_DATA_HOME/blocksnap/local

# register SNAP NAME: an image of SNAP, its id printed.
register() {
    "$B" register-image --name "$2" --no-boot-check \
        --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$1}" | json_get ImageId
}
keys_of() { "$B" list-keys | python3 -c '
import json, sys
print(" ".join(k["KeyId"] for k in json.load(sys.stdin)["Keys"]))'; }

step "under the AWS-managed default key: shared with no one, never public"
head -c $((256 << 10)) /dev/urandom >"$T/d.img"
SD=$("$B" create-snapshot --volume "$T/d.img" --encrypted --quiet | json_get SnapshotId)
AD=$(register "$SD" default-img)
store_state >"$T/state.before"
expect_fail InvalidParameter 1 "$B" modify-snapshot-attribute --snapshot-id "$SD" \
    --attribute createVolumePermission --operation-type add --user-ids $OTHER
stderr_contains "AWS Managed CMK can't be shared"
expect_fail UnsupportedOperation 1 "$B" modify-snapshot-attribute --snapshot-id "$SD" \
    --create-volume-permission "Add=[{Group=all}]"
stderr_contains "can't be shared publicly"
expect_fail InvalidParameter 1 "$B" modify-image-attribute --image-id "$AD" \
    --launch-permission "Add=[{UserId=$OTHER}]"
expect_fail UnsupportedOperation 1 "$B" modify-image-attribute --image-id "$AD" \
    --attribute launchPermission --operation-type add --user-groups all
assert_store_unchanged "$T/state.before"
expect_fail InvalidSnapshot.NotFound 1 "$B" --profile ops describe-snapshots --snapshot-ids "$SD"

step "under a customer key: never public, shared with an account"
K=$("$B" create-key --description shared | json_get KeyMetadata.KeyId)
KARN=$("$B" describe-key --key-id "$K" | json_get KeyMetadata.Arn)
"$B" create-alias --alias-name alias/shared --target-key-id "$K"
python3 -c 'import sys; sys.stdout.write(("shared secret text\n" * 8192)[:1 << 17])' >"$T/c.img"
head -c $((128 << 10)) /dev/urandom >>"$T/c.img"
SC=$("$B" create-snapshot --volume "$T/c.img" --encrypted --kms-key-id alias/shared --quiet |
    json_get SnapshotId)
AC=$(register "$SC" customer-img)
store_state >"$T/state.before"
expect_fail UnsupportedOperation 1 "$B" modify-snapshot-attribute --snapshot-id "$SC" \
    --create-volume-permission "Add=[{Group=all}]"
expect_fail UnsupportedOperation 1 "$B" modify-image-attribute --image-id "$AC" \
    --launch-permission "Add=[{Group=all}]"
assert_store_unchanged "$T/state.before"
"$B" modify-snapshot-attribute --snapshot-id "$SC" --operation-type add --user-ids $OTHER
"$B" modify-image-attribute --image-id "$AC" --launch-permission "Add=[{UserId=$OTHER}]"
"$B" --profile ops describe-snapshots --snapshot-ids "$SC" >"$T/desc.json"
assert_eq "$(json_get Snapshots.0.Encrypted "$T/desc.json")" true "described as encrypted"
assert_eq "$(json_get Snapshots.0.KmsKeyId "$T/desc.json")" "$KARN" "under the owner's key"

step "without a grant of the key: no restore, no copy"
store_state >"$T/state.before"
expect_fail AccessDeniedException 1 "$B" --profile ops create-volume --snapshot-id "$SC" \
    --path "$T/r.img" --quiet
stderr_contains "arn:aws:iam::$OTHER:root" "kms:Decrypt" "$KARN"
[ ! -e "$T/r.img" ] || die "a refused restore left its target"
expect_fail AccessDeniedException 1 "$B" --profile ops copy-snapshot --source-region local \
    --source-snapshot-id "$SC" --quiet
assert_store_unchanged "$T/state.before"

step "granted Decrypt: restored byte for byte, copied"
G=$("$B" create-grant --key-id alias/shared --grantee-principal $OTHER --operations Decrypt |
    json_get GrantId)
"$B" --profile ops create-volume --snapshot-id "$SC" --path "$T/r.img" --quiet >/dev/null
cmp "$T/c.img" "$T/r.img" || die "the grantee's restore differs"
CP=$("$B" --profile ops copy-snapshot --source-region local --source-snapshot-id "$SC" --quiet |
    json_get SnapshotId)
"$B" --profile ops create-volume --snapshot-id "$CP" --path "$T/r2.img" --quiet >/dev/null
cmp "$T/c.img" "$T/r2.img" || die "the grantee's copy restores differently"

assert_eq "$("$B" --profile ops describe-snapshots --snapshot-ids "$CP" |
    json_get Snapshots.0.KmsKeyId)" \
    "$("$B" --profile ops describe-key --key-id alias/aws/ebs | json_get KeyMetadata.Arn)" \
    "the grantee's copy is under its own default key, as EC2 copies a shared snapshot"

step "revoked: the key's data is closed to it again; its own copy stays its own"
"$B" revoke-grant --key-id alias/shared --grant-id "$G"
expect_fail AccessDeniedException 1 "$B" --profile ops create-volume --snapshot-id "$SC" \
    --path "$T/r3.img" --quiet
"$B" --profile ops create-volume --snapshot-id "$CP" --path "$T/r3.img" --quiet >/dev/null
cmp "$T/c.img" "$T/r3.img" || die "the grantee's copy restores differently"

step "gc by either account works through the other's encrypted snapshots"
"$B" --profile ops gc >/dev/null
"$B" gc >/dev/null

step "a key a snapshot needs is kept past its date, until the snapshot goes"
"$B" --profile ops delete-snapshot --snapshot-id "$CP" >/dev/null
"$B" modify-image-attribute --image-id "$AC" --launch-permission "Remove=[{UserId=$OTHER}]"
"$B" deregister-image --image-id "$AC" >/dev/null
"$B" schedule-key-deletion --key-id alias/shared --pending-window-in-days 7 >/dev/null
"$PROBE" "$STORE" due "$K"
case " $(keys_of) " in *" $K "*) ;; *) die "a key a snapshot needs was deleted" ;; esac
assert_eq "$("$B" describe-key --key-id "$K" | json_get KeyMetadata.KeyState)" PendingDeletion \
    "kept, pending deletion"
expect_fail KMSInvalidStateException 1 "$B" create-volume --snapshot-id "$SC" \
    --path "$T/r4.img" --quiet
"$B" delete-snapshot --snapshot-id "$SC" >/dev/null
case " $(keys_of) " in *" $K "*) die "the key outlived its last snapshot" ;; esac
[ ! -e "$BLOCKSNAP_KEY_DIR/local/$K.key" ] || die "its key file stays"

step "--force: deleted at its date, its snapshots then restore nothing"
K2=$("$B" create-key | json_get KeyMetadata.KeyId)
S2=$("$B" create-snapshot --volume "$T/c.img" --encrypted --kms-key-id "$K2" --quiet |
    json_get SnapshotId)
"$B" schedule-key-deletion --key-id "$K2" --pending-window-in-days 7 --force >/dev/null
"$PROBE" "$STORE" due "$K2"
case " $(keys_of) " in *" $K2 "*) die "a forced deletion kept the key" ;; esac
expect_fail NotFoundException 1 "$B" create-volume --snapshot-id "$S2" --path "$T/r5.img" \
    --quiet
"$B" delete-snapshot --snapshot-id "$S2" >/dev/null || true
echo "share-encrypted: OK"
