#!/usr/bin/env bash
# describe-volume-usage on a real store: a volume's LogicalBytes is the sum
# of its snapshots' DataBytes; its StoredBytes counts each chunk its
# snapshots share once; its ExclusiveStoredBytes leaves out what another
# volume's snapshot shares, and is exactly what deleting all its
# snapshots and gc give back; the last volume standing frees all it
# stores.  Text and table show sizes; errors name the volume.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

step "volume A: three snapshots, the last two each with 1 MiB of its own; volume B shares A's first MiB"
truncate -s 8M "$T/a.img"
head -c $((2 << 20)) /dev/urandom | dd of="$T/a.img" conv=notrunc status=none
A1=$(snapshot_create "$T/a.img")
head -c $((1 << 20)) /dev/urandom | dd of="$T/a.img" bs=1M seek=4 conv=notrunc status=none
A2=$(snapshot_create "$T/a.img")
head -c $((1 << 20)) /dev/urandom | dd of="$T/a.img" bs=1M seek=4 conv=notrunc status=none
A3=$(snapshot_create "$T/a.img")
truncate -s 4M "$T/b.img"
dd if="$T/a.img" of="$T/b.img" bs=1M count=1 conv=notrunc status=none
head -c $((1 << 20)) /dev/urandom | dd of="$T/b.img" bs=1M seek=2 conv=notrunc status=none
B1=$(snapshot_create "$T/b.img")
VA=$(bs describe-snapshots --snapshot-ids "$A1" | json_get Snapshots.0.VolumeId)
VB=$(bs describe-snapshots --snapshot-ids "$B1" | json_get Snapshots.0.VolumeId)

step "the figures: logical is the sum of DataBytes, stored counts shared chunks once"
bs describe-volume-usage --volume-ids "$VA" "$VB" >"$T/vu.json"
bs describe-snapshot-usage --snapshot-ids "$A1" "$A2" "$A3" "$B1" >"$T/su.json"
python3 - "$T/vu.json" "$T/su.json" "$VA" "$VB" <<'PY' || die "the volume figures"
import json, sys
vu = json.load(open(sys.argv[1]))["VolumeUsages"]
su = json.load(open(sys.argv[2]))["SnapshotUsages"]
a, b = vu
assert (a["VolumeId"], b["VolumeId"]) == (sys.argv[3], sys.argv[4]), vu
for k in a:
    if k != "VolumeId":
        assert isinstance(a[k], int) and isinstance(b[k], int), k
assert (a["Snapshots"], b["Snapshots"]) == (3, 1), vu
assert a["LogicalBytes"] == sum(s["DataBytes"] for s in su[:3]), (a, su)
assert b["LogicalBytes"] == su[3]["DataBytes"], (b, su)
refs = [s["ReferencedStoredBytes"] for s in su[:3]]
# A's three snapshots share their first 2 MiB: stored once, so far less than the sum
assert max(refs) < a["StoredBytes"] < sum(refs) - (2 << 20), (a, refs)
assert a["StoredBytes"] >= 4 << 20, a            # 2 MiB + two own MiB, incompressible
assert b["StoredBytes"] == su[3]["ReferencedStoredBytes"], (b, su)
# what B shares with A (its first MiB) is in neither volume's exclusive bytes
assert a["StoredBytes"] - a["ExclusiveStoredBytes"] >= 1 << 20, a
assert a["StoredBytes"] - a["ExclusiveStoredBytes"] < (1 << 20) + (256 << 10), a
assert b["StoredBytes"] - b["ExclusiveStoredBytes"] >= 1 << 20, b
assert a["ExclusiveChunks"] <= a["ReferencedChunks"], a
PY
freeA=$(json_get VolumeUsages.0.ExclusiveStoredBytes "$T/vu.json")
info "deleting A's snapshots would free $freeA stored bytes"

step "text and table: sizes for people"
bs describe-volume-usage --volume-ids "$VA" --output table >"$T/vu.table"
grep -qE '\| +[0-9]+\.[0-9] MiB +\|' "$T/vu.table" || die "no size for people: $(cat "$T/vu.table")"
grep -q "$VA" "$T/vu.table" || die "the table does not name the volume"
bs describe-volume-usage --volume-ids "$VA" --output text | grep -q "MiB" ||
    die "the text form shows no MiB"

step "deleting all of A's snapshots, then gc, frees exactly ExclusiveStoredBytes"
before=$(store_field StoredBytes)
bs delete-snapshot --snapshot-ids "$A1" "$A2" "$A3" >/dev/null
bs gc >/dev/null
assert_eq $((before - $(store_field StoredBytes))) "$freeA" "stored bytes freed by deleting A's"
assert_verify_ok

step "B, the last volume standing, frees all it stores; A has nothing left"
bs describe-volume-usage --volume-ids "$VB" "$VA" >"$T/vu2.json"
assert_eq "$(json_get VolumeUsages.0.ExclusiveStoredBytes "$T/vu2.json")" \
    "$(json_get VolumeUsages.0.StoredBytes "$T/vu2.json")" "B's exclusive = stored"
assert_eq "$(json_get VolumeUsages.1.Snapshots "$T/vu2.json")" 0 "A's snapshots"
assert_eq "$(json_get VolumeUsages.1.StoredBytes "$T/vu2.json")" 0 "A's stored bytes"
freeB=$(json_get VolumeUsages.0.ExclusiveStoredBytes "$T/vu2.json")
before=$(store_field StoredBytes)
bs delete-snapshot --snapshot-id "$B1"
bs gc >/dev/null
assert_eq $((before - $(store_field StoredBytes))) "$freeB" "stored bytes freed by deleting B's"

step "errors: a malformed id, a missing volume, another account's volume"
expect_fail InvalidVolumeID.Malformed 1 bs describe-volume-usage --volume-ids vol-nope
expect_fail InvalidVolume.NotFound 1 bs describe-volume-usage --volume-ids vol-0123456789abcdef0
stderr_contains vol-0123456789abcdef0
expect_fail MissingParameter 2 bs describe-volume-usage
account_profiles 123456789012 ops=111122223333
expect_fail InvalidVolume.NotFound 1 bs --profile ops describe-volume-usage --volume-ids "$VB"
