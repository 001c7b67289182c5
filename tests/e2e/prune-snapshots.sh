#!/usr/bin/env bash
# prune-snapshots: --dry-run lists the plan (what goes, and which rule keeps
# the rest) and leaves the store byte for byte as it was; the real run
# deletes exactly what the dry run listed, never an image's snapshot and
# never another volume's; a second run deletes nothing; bad rules are usage
# errors that change nothing.  (Calendar buckets are checked with a fake
# calendar in test-retention: snapshots taken here all fall in one hour.)
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 sha256sum

# Every file of the store but the LMDB lock files (a reader takes a slot
# there), with its checksum.
store_bytes_state() {
    (cd "$STORE" && find . -type f ! -name 'lock.mdb' ! -name '*.lock' -print0 |
        sort -z | xargs -0 sha256sum)
}

step "two volumes: five snapshots of A, two of B; an image uses A's oldest"
head -c $((1 << 20)) /dev/urandom >"$T/a.img"
head -c $((1 << 20)) /dev/urandom >"$T/b.img"
a=()
for i in 1 2 3 4 5; do
    printf 'change %d' "$i" | dd of="$T/a.img" bs=1 seek=$((i * 4096)) conv=notrunc status=none
    a+=("$(snapshot_create "$T/a.img")")
done
b1=$(snapshot_create "$T/b.img")
b2=$(snapshot_create "$T/b.img")
volA=$(bs describe-snapshots --snapshot-ids "${a[0]}" | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["Snapshots"][0]["VolumeId"])')
# Before any image exists (the index of image users is not built yet, and a
# read-only plan must not need to write it).
bs prune-snapshots --keep-last 100 --dry-run >"$T/noimage.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
assert len(d["PruneSnapshotResults"]) == 7 and all(s["KeptBy"] == ["last"]
           for s in d["PruneSnapshotResults"]), d' \
    "$T/noimage.json"
ami=$(bs register-image --name pinned --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=${a[0]}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["ImageId"])')
info "A: ${a[*]}; B: $b1 $b2; image $ami uses ${a[0]}"

step "usage errors change nothing"
store_state >"$T/state.before"
store_bytes_state >"$T/bytes.before"
expect_fail MissingParameter 2 bs prune-snapshots --volume-id "$volA"
stderr_contains "at least one of --keep-last"
expect_fail InvalidParameterValue 2 bs prune-snapshots --keep-within 3x
stderr_contains "--keep-within: '3x' is not a duration"
expect_fail - 2 bs prune-snapshots --keep-last -1
expect_fail InvalidVolume.NotFound 1 bs prune-snapshots --volume-id vol-0123456789abcdef0 --keep-last 1

step "--dry-run --keep-last 2 on A: the plan, and the store byte for byte the same"
bs prune-snapshots --volume-id "$volA" --keep-last 2 --dry-run >"$T/plan.json"
cat "$T/plan.json"
python3 - "$T/plan.json" "$ami" "${a[@]}" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ami, a = sys.argv[2], sys.argv[3:]
assert doc["DryRun"] is True, doc
got = [(s["SnapshotId"], s["Action"], s["KeptBy"]) for s in doc["PruneSnapshotResults"]]
want = [(a[4], "keep", ["last"]), (a[3], "keep", ["last"]),
        (a[2], "delete", []), (a[1], "delete", []),
        (a[0], "keep", ["used by " + ami])]
assert got == want, (got, want)
PY
# The table names each one's action and the rules (not the describe
# columns of a list named Snapshots).
bs prune-snapshots --volume-id "$volA" --keep-last 2 --dry-run --output table >"$T/plan.table"
for w in Action delete keep KeptBy "used by $ami"; do
    grep -qF "$w" "$T/plan.table" || die "the table does not show '$w'"
done
store_bytes_state >"$T/bytes.after"
diff -u "$T/bytes.before" "$T/bytes.after" || die "a dry run changed the store's files"
assert_store_unchanged "$T/state.before"

step "the real run deletes what the dry run listed, and nothing of B"
bs prune-snapshots --volume-id "$volA" --keep-last 2 >"$T/run.json"
python3 - "$T/plan.json" "$T/run.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))["PruneSnapshotResults"]
run = json.load(open(sys.argv[2]))
assert run["DryRun"] is False
assert [s["SnapshotId"] for s in plan] == [s["SnapshotId"] for s in run["PruneSnapshotResults"]]
for p, r in zip(plan, run["PruneSnapshotResults"]):
    assert r["Action"] == {"keep": "keep", "delete": "deleted"}[p["Action"]], (p, r)
PY
for s in "${a[2]}" "${a[1]}"; do
    expect_fail InvalidSnapshot.NotFound 1 bs describe-snapshots --snapshot-ids "$s"
done
bs describe-snapshots --snapshot-ids "${a[0]}" "${a[3]}" "${a[4]}" "$b1" "$b2" >/dev/null
assert_verify_ok

step "a second run deletes nothing"
store_state >"$T/state.before2"
bs prune-snapshots --volume-id "$volA" --keep-last 2 >"$T/run2.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
assert all(s["Action"] == "keep" for s in d["PruneSnapshotResults"]), d' "$T/run2.json"
assert_store_unchanged "$T/state.before2"

step "every volume, --keep-daily 1: each volume keeps its newest (and the image's)"
bs prune-snapshots --keep-daily 1 >"$T/all.json"
python3 - "$T/all.json" "$ami" "${a[0]}" "${a[4]}" "$b2" "$b1" "${a[3]}" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ami, pinned, newestA, newestB, oldB, oldA = sys.argv[2:]
act = {s["SnapshotId"]: (s["Action"], s["KeptBy"]) for s in doc["PruneSnapshotResults"]}
assert act[newestA] == ("keep", ["daily"]), act
assert act[newestB] == ("keep", ["daily"]), act
assert act[pinned] == ("keep", ["used by " + ami]), act
assert act[oldB][0] == "deleted" and act[oldA][0] == "deleted", act
PY
assert_verify_ok

step "delete-snapshot --snapshot-ids: each deleted or refused on its own"
store_state >"$T/state.many"
extra=$(snapshot_create "$T/b.img")
expect_fail - 1 bs delete-snapshot --snapshot-ids "${a[0]}" "$extra" snap-0123456789abcdef0 snap-
cat "$T/fail.stdout"
stderr_contains "3 of 4 snapshots not deleted"
python3 - "$T/fail.stdout" "${a[0]}" "$extra" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["DeleteSnapshotResults"]
pinned, extra = sys.argv[2:]
got = [(r["SnapshotId"], r["ReturnCode"], r.get("Error", {}).get("Code")) for r in res]
want = [(pinned, "skipped", "InvalidSnapshot.InUse"), (extra, "success", None),
        ("snap-0123456789abcdef0", "missing", "InvalidSnapshot.NotFound"),
        ("snap-", "client-error", "InvalidSnapshotID.Malformed")]
assert got == want, (got, want)
PY
# What was refused is all there; the one deleted is gone: the store is as
# before the extra snapshot.
assert_store_unchanged "$T/state.many"
bs delete-snapshot --snapshot-ids "$b2" >"$T/one.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["DeleteSnapshotResults"];
assert [(x["SnapshotId"], x["ReturnCode"]) for x in r] == [(sys.argv[2], "success")], r' \
    "$T/one.json" "$b2"
expect_fail InvalidParameterCombination 2 bs delete-snapshot --snapshot-id "${a[4]}" \
    --snapshot-ids "${a[3]}"
expect_fail MissingParameter 2 bs delete-snapshot
assert_verify_ok
