#!/usr/bin/env bash
# Unknown and malformed ids on every verb that takes one: NotFound for a
# well-formed id that does not exist, Malformed for anything else; exit 1,
# the id named, the store as it was.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

head -c $((1 << 20)) /dev/urandom >"$T/a.img"
snap=$(snapshot_create "$T/a.img")
store_state >"$T/state.before"
unknown='snap-0123456789abcdef0'
legacy='snap-01234567'
vol_unknown='vol-0123456789abcdef0'

nf() { expect_fail InvalidSnapshot.NotFound 1 "$@"; }
mf() { expect_fail InvalidSnapshotID.Malformed 1 "$@"; }

step "describe-snapshots"
nf bs describe-snapshots --snapshot-ids "$unknown"
stderr_contains "$unknown"
nf bs describe-snapshots --snapshot-ids "$snap" "$unknown"
nf bs describe-snapshots --snapshot-ids "$legacy"
for bad in snap-xyz snap-0123456789ABCDEF0 snap-0123456789abcdef snap- "$snap"0 vol-0123456789abcdef0 \
    "" "snap-0123456789abcdef0 " ami-0123456789abcdef0; do
    mf bs describe-snapshots --snapshot-ids "$bad"
done

step "delete-snapshot"
nf bs delete-snapshot --snapshot-id "$unknown"
mf bs delete-snapshot --snapshot-id snap-nothex
stderr_contains snap-nothex

step "create-volume"
nf bs create-volume --snapshot-id "$unknown" --path "$T/r.img"
mf bs create-volume --snapshot-id snap-1 --path "$T/r.img"
[ ! -e "$T/r.img" ] || die "failed create-volume left a file"

step "diff"
nf bs diff "$snap" "$unknown"
nf bs diff "$unknown"
mf bs diff "$snap" "not-a-snapshot"
stderr_contains not-a-snapshot

step "verify"
nf bs verify --snapshot-id "$unknown"
mf bs verify --snapshot-id snap-G123456789abcdef0

step "tags"
nf bs create-tags --resources "$unknown" --tags Key=a,Value=b
nf bs delete-tags --resources "$unknown" --tags Key=a
expect_fail InvalidVolume.NotFound 1 bs create-tags --resources "$vol_unknown" --tags Key=a,Value=b
expect_fail - 1 bs create-tags --resources bogus-123 --tags Key=a,Value=b
stderr_contains bogus-123

step "describe-volumes"
expect_fail InvalidVolume.NotFound 1 bs describe-volumes --volume-ids "$vol_unknown"
stderr_contains "$vol_unknown"
expect_fail InvalidVolumeID.Malformed 1 bs describe-volumes --volume-ids vol-xyz
expect_fail InvalidVolumeID.Malformed 1 bs describe-volumes --volume-ids "$snap"

step "nothing changed"
assert_store_unchanged "$T/state.before"
