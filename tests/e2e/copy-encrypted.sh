#!/usr/bin/env bash
# Encryption is one-way across regions too: copy-snapshot and copy-image of
# an encrypted snapshot into another region never land its data in plain.
# Until a copy re-encrypts under a key of the destination region, they are
# refused (UnsupportedOperation, exit 1): no snapshot or image appears in
# the destination and none of its files holds a marker of the data.  A
# plain snapshot still copies.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 grep

unset BLOCKSNAP_STORE
export BLOCKSNAP_KEY_DIR=$T/keys
B=$BLOCKSNAP
"$B" configure set blocksnap_account_id 123456789012
DST=$XDG_DATA_HOME/blocksnap/eu

# markers_in DIR: how many files under DIR hold the marker text.
markers_in() { grep -rlaF "copy-encrypted marker" "$1" 2>/dev/null | wc -l; }

step "an encrypted snapshot and an image of it; a plain one"
python3 -c 'import sys; sys.stdout.write(("copy-encrypted marker\n" * 16384)[:1 << 18])' \
    >"$T/a.img"
SE=$("$B" create-snapshot --volume "$T/a.img" --encrypted --quiet | json_get SnapshotId)
AE=$("$B" register-image --name enc --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$SE}" | json_get ImageId)
head -c $((256 << 10)) /dev/urandom >"$T/p.img"
SP=$("$B" create-snapshot --volume "$T/p.img" --quiet | json_get SnapshotId)
"$B" --region eu create-store >/dev/null

step "copies of it into another region are refused, and leave nothing"
expect_fail UnsupportedOperation 1 "$B" --region eu copy-snapshot --source-region local \
    --source-snapshot-id "$SE" --quiet
stderr_contains "$SE" "re-encrypted"
expect_fail UnsupportedOperation 1 "$B" --region eu copy-image --source-region local \
    --source-image-id "$AE" --name enc-eu --quiet
assert_eq "$("$B" --region eu describe-snapshots | json_get Snapshots.#)" 0 "no snapshot copied"
assert_eq "$("$B" --region eu describe-images | json_get Images.#)" 0 "no image registered"
assert_eq "$(markers_in "$DST")" 0 "markers in the destination's files"

step "a plain snapshot still copies"
C=$("$B" --region eu copy-snapshot --source-region local --source-snapshot-id "$SP" --quiet |
    json_get SnapshotId)
"$B" --region eu create-volume --snapshot-id "$C" --path "$T/c.img" --quiet >/dev/null
cmp "$T/p.img" "$T/c.img" || die "the plain copy restores differently"
echo "copy-encrypted: OK"
