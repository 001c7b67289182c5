#!/usr/bin/env bash
# Encryption is one-way across regions too, and a copy re-encrypts under a
# key of its destination region: an encrypted snapshot copied into another
# region (its own keys, its own key directory) lands under that region's
# default key, or the --kms-key-id named there; --encrypted encrypts a
# plain source's copy; encryption by default encrypts every copy.  Each
# copy restores byte for byte, and no file of the destination holds a
# marker of the data.  A second copy after a change is incremental against
# the latest copy of its parent when both are under the same key, full
# under another.
# copy-image re-encrypts every snapshot.  KmsKeyId without Encrypted is
# InvalidParameterDependency, an unknown key NotFoundException; both
# change nothing.  A same-region copy of one's own snapshot keeps its key
# and stores nothing; under another key it rewrites the data.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 grep cmp

unset BLOCKSNAP_STORE
export BLOCKSNAP_KEY_DIR=$T/keys
B=$BLOCKSNAP
"$B" configure set blocksnap_account_id 123456789012
SRC=$XDG_DATA_HOME/blocksnap/local
DST=$XDG_DATA_HOME/blocksnap/eu

# markers_in DIR: how many files under DIR hold the marker text.
markers_in() { grep -rlaF "copy-encrypted marker" "$1" 2>/dev/null | wc -l; }
# snap_field REGION SNAP FIELD: one field of the snapshot's description.
snap_field() { "$B" --region "$1" describe-snapshots --snapshot-ids "$2" | json_get "Snapshots.0.$3"; }
# copy ARGS...: copy-snapshot from local into eu; the copy's id.
copy() { "$B" --region eu copy-snapshot --source-region local --quiet "$@" | json_get SnapshotId; }

step "an encrypted snapshot (local's default key) and a plain one"
python3 -c 'import sys; sys.stdout.write(("copy-encrypted marker\n" * 16384)[:1 << 18])' \
    >"$T/a.img"
head -c $((256 << 10)) /dev/urandom >>"$T/a.img"
SE=$("$B" create-snapshot --volume "$T/a.img" --encrypted --quiet | json_get SnapshotId)
cp "$T/a.img" "$T/p.img"
SP=$("$B" create-snapshot --volume "$T/p.img" --quiet | json_get SnapshotId)
"$B" --region eu create-store >/dev/null
"$B" --region eu create-key --description dr >"$T/key.json"
EUKEY=$(json_get KeyMetadata.Arn "$T/key.json")
"$B" --region eu create-alias --alias-name alias/dr --target-key-id "$EUKEY"

step "bad requests change nothing"
expect_fail InvalidParameterDependency 1 "$B" --region eu copy-snapshot --source-region local \
    --source-snapshot-id "$SP" --kms-key-id alias/dr --quiet
expect_fail NotFoundException 1 "$B" --region eu copy-snapshot --source-region local \
    --source-snapshot-id "$SP" --encrypted --kms-key-id alias/none --quiet
assert_eq "$("$B" --region eu describe-snapshots | json_get Snapshots.#)" 0 "nothing copied"

step "an encrypted source: re-encrypted under eu's default key"
C1=$(copy --source-snapshot-id "$SE")
assert_eq "$(snap_field eu "$C1" Encrypted)" true "the copy is encrypted"
EUDEF=$("$B" --region eu describe-key --key-id alias/aws/ebs | json_get KeyMetadata.Arn)
assert_eq "$(snap_field eu "$C1" KmsKeyId)" "$EUDEF" "under eu's default key"
"$B" --region eu create-volume --snapshot-id "$C1" --path "$T/r1.img" --quiet >/dev/null
cmp "$T/a.img" "$T/r1.img" || die "the re-encrypted copy restores differently"

step "under --kms-key-id; --encrypted for a plain source"
C2=$(copy --source-snapshot-id "$SE" --encrypted --kms-key-id alias/dr)
assert_eq "$(snap_field eu "$C2" KmsKeyId)" "$EUKEY" "under the named key"
C3=$(copy --source-snapshot-id "$SP" --encrypted --kms-key-id alias/dr)
assert_eq "$(snap_field eu "$C3" Encrypted)" true "a plain source's copy, encrypted"
for c in "$C2" "$C3"; do
    "$B" --region eu create-volume --snapshot-id "$c" --path "$T/r.img" --force --quiet >/dev/null
    cmp "$T/a.img" "$T/r.img" || die "copy $c restores differently"
done
assert_eq "$(markers_in "$DST")" 0 "markers in the destination's files"
[ "$(markers_in "$SRC")" -gt 0 ] || die "the marker is not in the plain source (test broken)"

step "incremental under the same key, full under another"
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4096); f.write(b"changed!" * 512)' "$T/a.img"
SE2=$("$B" create-snapshot --volume "$T/a.img" --quiet | json_get SnapshotId)
assert_eq "$(snap_field local "$SE2" ParentSnapshotId)" "$SE" "the source child is incremental"
# the latest copy of its parent, C2, is under alias/dr
C4=$(copy --source-snapshot-id "$SE2" --encrypted --kms-key-id alias/dr)
assert_eq "$(snap_field eu "$C4" ParentSnapshotId)" "$C2" "incremental against the parent's copy"
[ "$(snap_field eu "$C4" BytesRead)" -le $((64 << 10)) ] || die "the second copy read too much"
C5=$(copy --source-snapshot-id "$SE2")
assert_eq "$(snap_field eu "$C5" ParentSnapshotId 2>/dev/null || echo none)" none \
    "under another key than its parent's copy: full"
for c in "$C4" "$C5"; do
    "$B" --region eu create-volume --snapshot-id "$c" --path "$T/r.img" --force --quiet >/dev/null
    cmp "$T/a.img" "$T/r.img" || die "copy $c restores differently"
done
assert_eq "$(markers_in "$DST")" 0 "markers in the destination's files"

step "copy-image re-encrypts every snapshot"
AE=$("$B" register-image --name enc --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$SE}" \
    "DeviceName=/dev/xvdb,Ebs={SnapshotId=$SP}" | json_get ImageId)
"$B" --region eu copy-image --source-region local --source-image-id "$AE" --name enc-eu \
    --encrypted --kms-key-id alias/dr --quiet >"$T/ci.json"
"$B" --region eu describe-images --image-ids "$(json_get ImageId "$T/ci.json")" >"$T/img.json"
for d in 0 1; do
    s=$(json_get "Images.0.BlockDeviceMappings.$d.Ebs.SnapshotId" "$T/img.json")
    assert_eq "$(snap_field eu "$s" KmsKeyId)" "$EUKEY" "image snapshot $d under alias/dr"
done
assert_eq "$(markers_in "$DST")" 0 "markers in the destination's files"

step "encryption by default encrypts a plain source's copy"
"$B" --region eu enable-ebs-encryption-by-default >/dev/null
C6=$(copy --source-snapshot-id "$SP" --description by-default)
assert_eq "$(snap_field eu "$C6" KmsKeyId)" "$EUDEF" "under the default key"
"$B" --region eu disable-ebs-encryption-by-default >/dev/null

step "without its key directory, the destination restores nothing"
mv "$BLOCKSNAP_KEY_DIR/eu" "$T/eu-keys"
expect_fail KeyUnavailableException 1 "$B" --region eu create-volume --snapshot-id "$C2" \
    --path "$T/x.img" --quiet
mv "$T/eu-keys" "$BLOCKSNAP_KEY_DIR/eu"

step "a same-region copy of one's own: the same key, nothing stored"
C8=$("$B" copy-snapshot --source-region local --source-snapshot-id "$SE2" --quiet |
    json_get SnapshotId)
assert_eq "$(snap_field local "$C8" KmsKeyId)" "$(snap_field local "$SE2" KmsKeyId)" \
    "the source's key"
assert_eq "$(snap_field local "$C8" BytesWritten)" 0 "nothing stored"

step "a same-region copy under another key rewrites the data"
"$B" create-key --description other >"$T/k2.json"
C7=$("$B" copy-snapshot --source-region local --source-snapshot-id "$SE2" --encrypted \
    --kms-key-id "$(json_get KeyMetadata.KeyId "$T/k2.json")" --quiet | json_get SnapshotId)
assert_eq "$(snap_field local "$C7" KmsKeyId)" "$(json_get KeyMetadata.Arn "$T/k2.json")" \
    "under the other key"
"$B" create-volume --snapshot-id "$C7" --path "$T/r.img" --force --quiet >/dev/null
cmp "$T/a.img" "$T/r.img" || die "the same-region re-encrypted copy restores differently"
"$B" --region eu verify >/dev/null
"$B" verify >/dev/null
echo "copy-encrypted: OK"
