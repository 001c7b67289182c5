#!/usr/bin/env bash
# The numbers people read, on a real small store: describe-store's ratios
# are its byte counts divided as documented; describe-snapshot-usage's
# ExclusiveStoredBytes is what delete-snapshot and gc then give back, for a
# snapshot that shares most of its data, one that holds data of its own and
# for the last one standing; text
# and table show sizes in binary units while JSON keeps integers.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

step "three snapshots: A, B with 3 MiB of new data, C with those 3 MiB overwritten"
truncate -s 32M "$T/disk.img"
head -c $((4 << 20)) /dev/urandom | dd of="$T/disk.img" conv=notrunc status=none
snapA=$(snapshot_create "$T/disk.img")
head -c $((3 << 20)) /dev/urandom | dd of="$T/disk.img" bs=1M seek=8 conv=notrunc status=none
snapB=$(snapshot_create "$T/disk.img")
head -c $((3 << 20)) /dev/urandom | dd of="$T/disk.img" bs=1M seek=8 conv=notrunc status=none
snapC=$(snapshot_create "$T/disk.img")

step "describe-store: the ratios are DataBytes/LogicalBytes and LogicalBytes/StoredBytes"
bs describe-store >"$T/store.json"
python3 - "$T/store.json" <<'PY' || die "describe-store's ratios"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("DataBytes", "LogicalBytes", "StoredBytes", "PackBytes"):
    assert isinstance(d[k], int), k
assert d["DataBytes"] > d["LogicalBytes"] > 0, d   # three snapshots of mostly one disk
assert d["DedupRatio"] == round(d["DataBytes"] / d["LogicalBytes"], 2), d
assert d["CompressionRatio"] == round(d["LogicalBytes"] / d["StoredBytes"], 2), d
assert d["DedupRatio"] > 1.5, d
PY
bs describe-store --output table >"$T/store.table"
grep -qE '\|  StoredBytes +\|  [0-9]+\.[0-9] (KiB|MiB) +\|' "$T/store.table" ||
    die "StoredBytes in the table is not a size for people: $(grep StoredBytes "$T/store.table")"

step "describe-snapshot-usage: B frees its 3 MiB (and its pages), exactly what the figure says"
bs describe-snapshot-usage --snapshot-ids "$snapA" "$snapB" "$snapC" >"$T/usage.json"
freeB=$(json_get SnapshotUsages.1.ExclusiveStoredBytes "$T/usage.json")
info "B would free $freeB stored bytes"
[ "$freeB" -ge $((3 << 20)) ] && [ "$freeB" -lt $((5 << 20)) ] ||
    die "B's exclusive stored bytes $freeB, not about its 3 MiB of random data"
[ "$(json_get SnapshotUsages.0.ExclusiveStoredBytes "$T/usage.json")" -lt $((1 << 20)) ] ||
    die "A, whose data C shares, would free a MiB or more"
for i in 0 1 2; do
    ref=$(json_get SnapshotUsages.$i.ReferencedStoredBytes "$T/usage.json")
    ex=$(json_get SnapshotUsages.$i.ExclusiveStoredBytes "$T/usage.json")
    [ "$ex" -le "$ref" ] || die "snapshot $i frees $ex, more than the $ref it references"
done
before=$(store_field StoredBytes)
bs delete-snapshot --snapshot-id "$snapB" >/dev/null
bs gc >/dev/null
assert_eq $((before - $(store_field StoredBytes))) "$freeB" "stored bytes delete B + gc freed"
assert_verify_ok

step "A and C left: each frees what it alone holds; the last one standing frees all it references"
bs describe-snapshot-usage --snapshot-ids "$snapA" >"$T/a.json"
freeA=$(json_get SnapshotUsages.0.ExclusiveStoredBytes "$T/a.json")
before=$(store_field StoredBytes)
bs delete-snapshot --snapshot-id "$snapA" >/dev/null
bs gc >/dev/null
assert_eq $((before - $(store_field StoredBytes))) "$freeA" "stored bytes delete A + gc freed"
bs describe-snapshot-usage --snapshot-ids "$snapC" >"$T/c.json"
assert_eq "$(json_get SnapshotUsages.0.ExclusiveStoredBytes "$T/c.json")" \
    "$(json_get SnapshotUsages.0.ReferencedStoredBytes "$T/c.json")" "C alone frees all it references"
assert_eq "$(json_get SnapshotUsages.0.ReferencedStoredBytes "$T/c.json")" \
    "$(store_field StoredBytes)" "C alone references the whole store"
bs describe-snapshot-usage --snapshot-ids "$snapC" --output text >"$T/c.txt"
grep -qE '	[0-9]+\.[0-9] MiB	' "$T/c.txt" || die "text output without sizes for people: $(cat "$T/c.txt")"
assert_verify_ok
