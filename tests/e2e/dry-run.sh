#!/usr/bin/env bash
# --dry-run, as EC2's DryRun: a request that would succeed is answered
# DryRunOperation (exit 1, nothing on stdout), one the caller may not make
# UnauthorizedOperation, a bad one its own error; and in every case no file
# of the store (nor a restore's target, nor a key file) changes: every file
# is hashed before and after.  --no-dry-run acts; the verbs that are no EC2
# request refuse --dry-run; prune-snapshots keeps its own.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 sha256sum

unset BLOCKSNAP_STORE
export BLOCKSNAP_KEY_DIR=$T/keys
account_profiles 123456789012 ops=111122223333

# The store's files and the key files: path, mode, size and sha256 of each
# (LMDB's lock.mdb aside: its reader table is written by every reader,
# a describe too, and holds no data).
hashes() {
    (cd "$T" && find store keys -type f ! -name lock.mdb -printf '%p %m %s ' -exec sha256sum {} \; |
        awk '{print $1, $2, $3, $4}' | sort)
}

step "a store with a volume, a snapshot shared with ops, an image, a key and a template"
STORE=$T/store
head -c $((1 << 20)) /dev/urandom >"$T/disk.img"
truncate -s 4M "$T/disk.img"
A=$(snapshot_create "$T/disk.img")
B=$(snapshot_create "$T/disk.img")
VOL=$(bs describe-snapshots --snapshot-ids "$A" | json_get Snapshots.0.VolumeId)
bs modify-snapshot-attribute --snapshot-id "$A" --attribute createVolumePermission \
    --operation-type add --user-ids 111122223333
AMI=$(bs register-image --name web --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$B}" | json_get ImageId)
KEY=$(bs create-key --description k | json_get KeyMetadata.KeyId)
bs create-launch-template --launch-template-name web \
    --launch-template-data "{\"ImageId\":\"$AMI\"}" >/dev/null
hashes >"$T/before"
[ "$(wc -l <"$T/before")" -gt 5 ] || die "too few files hashed: $(cat "$T/before")"

# dry CMD...: the request passes its checks: DryRunOperation, exit 1, no
# output, and the files are as they were.
dry() {
    expect_fail DryRunOperation 1 bs "$@" --dry-run
    grep -qF "Request would have succeeded, but DryRun flag is set." "$T/fail.stderr" ||
        die "'$*': not EC2's DryRunOperation message"
    [ ! -s "$T/fail.stdout" ] || die "'$*' --dry-run printed: $(cat "$T/fail.stdout")"
    hashes >"$T/after"
    diff -u "$T/before" "$T/after" || die "'$*' --dry-run changed the files above"
}
# refused CODE EXIT CMD...: a dry run of a request that fails its checks
# gives that request's own error, and changes nothing.
refused() {
    local code=$1 rc=$2
    shift 2
    expect_fail "$code" "$rc" "$@" --dry-run
    hashes >"$T/after"
    diff -u "$T/before" "$T/after" || die "'$*' --dry-run changed the files above"
}

step "requests that would succeed: DryRunOperation, nothing written"
dry create-snapshot --volume "$T/disk.img" --quiet
cp "$T/disk.img" "$T/other.img"
dry create-snapshot --volume "$T/other.img" --quiet
dry create-snapshot --volume-id "$VOL" --encrypted --quiet
dry create-tags --resources "$A" "$AMI" --tags Key=env,Value=prod
dry delete-tags --resources "$A"
dry delete-snapshot --snapshot-id "$A"
dry delete-snapshot --snapshot-ids "$A"
dry modify-snapshot-attribute --snapshot-id "$A" --attribute createVolumePermission \
    --operation-type remove --user-ids 111122223333
dry reset-snapshot-attribute --snapshot-id "$A" --attribute createVolumePermission
dry register-image --name web2 --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$A}"
dry modify-image-attribute --image-id "$AMI" --description new
dry deregister-image --image-id "$AMI" --delete-associated-snapshots
dry create-volume --snapshot-id "$A" --path "$T/restored.img"
[ ! -e "$T/restored.img" ] || die "create-volume --dry-run wrote its target"
dry copy-snapshot --source-store "$STORE" --source-snapshot-id "$A"
dry create-key --description k2
dry disable-key --key-id "$KEY"
dry create-launch-template --launch-template-name web2 \
    --launch-template-data "{\"ImageId\":\"$AMI\"}"
dry delete-launch-template --launch-template-name web
step "reading requests: the same answer, and no document"
dry describe-snapshots
dry describe-images --owners self
dry describe-store

step "requests the caller may not make: UnauthorizedOperation (ops may see A, not change it), AuthFailure for its permissions"
refused UnauthorizedOperation 1 bs --profile ops delete-snapshot --snapshot-id "$A"
refused UnauthorizedOperation 1 bs --profile ops create-tags --resources "$A" --tags Key=a,Value=b
refused AuthFailure 1 bs --profile ops modify-snapshot-attribute --snapshot-id "$A" \
    --attribute createVolumePermission --operation-type add --user-ids 444455556666
step "another account's image or a missing one: its own NotFound"
refused InvalidAMIID.NotFound 1 bs --profile ops deregister-image --image-id "$AMI"
refused InvalidSnapshot.NotFound 1 bs delete-snapshot --snapshot-id snap-0123456789abcdef0
step "bad requests: their own errors"
refused InvalidSnapshot.InUse 1 bs delete-snapshot --snapshot-id "$B"
refused InvalidParameterValue 1 bs create-volume --snapshot-id "$A" --path "$T/disk.img"
refused InvalidAMIName.Duplicate 1 bs register-image --name web --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$A}"
refused NotFoundException 1 bs disable-key --key-id 00000000-0000-0000-0000-000000000000
refused InvalidParameterValue 2 bs create-tags --resources "$A" --tags Key=aws:x,Value=y
expect_fail - 1 bs delete-snapshot --snapshot-ids "$A" "$B" --dry-run
grep -qF "$B" "$T/fail.stderr" || die "the dry run of two deletes does not name the one in use"
grep -qF "$A" "$T/fail.stderr" && die "the dry run of two deletes names the one that may go"
hashes >"$T/after"
diff -u "$T/before" "$T/after" || die "delete-snapshot --snapshot-ids --dry-run changed files"

step "--no-dry-run acts; both together, or --dry-run on a local verb, are usage errors"
bs create-tags --resources "$A" --tags Key=env,Value=prod --no-dry-run
assert_eq "$(bs describe-snapshots --snapshot-ids "$A" | json_get Snapshots.0.Tags.0.Value)" \
    prod "the tag --no-dry-run made"
expect_fail InvalidParameterCombination 2 bs create-tags --resources "$A" --tags Key=a,Value=b \
    --dry-run --no-dry-run
expect_fail InvalidParameterCombination 2 bs gc --dry-run
expect_fail InvalidParameterCombination 2 bs mount "$T/mnt" --dry-run
step "prune-snapshots' own --dry-run prints its plan"
bs prune-snapshots --keep-last 1 --dry-run >"$T/plan.json"
assert_eq "$(json_get DryRun "$T/plan.json")" true "prune-snapshots' plan"
assert_verify_ok
