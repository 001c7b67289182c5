#!/usr/bin/env bash
# A store of many snapshots (bsnap-catalog-fill, the catalog benchmark's
# setup): paging through every snapshot with --max-results/--next-token
# returns each once, in id order; the lookups by volume, parent and tag
# answer the same as the records; delete-snapshot re-parents through the
# parent table; verify passes (the cross-reference tables match the
# records) before and after.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3
fill=${BSNAP_BUILD_DIR:-}/bsnap-catalog-fill
[ -x "$fill" ] || skip "no bsnap-catalog-fill in \$BSNAP_BUILD_DIR"

step "fill a store with 600 snapshots of 3 volumes"
read -r n nvol first middle last < <("$fill" "$STORE" 600 3) || die "bsnap-catalog-fill failed"
[ "$n" = 600 ] && [ "$nvol" = 3 ] || die "fill printed $n $nvol"
bs verify >/dev/null || die "verify fails on the filled store"

step "pages of 50 hold every snapshot once, in id order"
token=
: >"$T/ids"
for _ in $(seq 1 20); do
    bs describe-snapshots --max-results 50 ${token:+--next-token "$token"} >"$T/page.json"
    python3 - "$T/page.json" "$T/ids" "$T/token" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
with open(sys.argv[2], "a") as f:
    for s in d["Snapshots"]:
        f.write(s["SnapshotId"] + "\n")
assert len(d["Snapshots"]) == 50, len(d["Snapshots"])
open(sys.argv[3], "w").write(d.get("NextToken", ""))
PY
    token=$(cat "$T/token")
    [ -n "$token" ] || break
done
[ -z "$token" ] || die "a NextToken after the last page"
[ "$(wc -l <"$T/ids")" -eq 600 ] || die "the pages held $(wc -l <"$T/ids") snapshots, not 600"
LC_ALL=C sort -c "$T/ids" || die "the pages are not in id order"
[ "$(sort -u "$T/ids" | wc -l)" -eq 600 ] || die "a snapshot came twice"

step "lookups by volume, parent and tag"
vol=$(bs describe-snapshots --snapshot-ids "$middle" | json_get Snapshots.0.VolumeId) || die "describe $middle"
count() { bs describe-snapshots "$@" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Snapshots"]))'; }
[ "$(count --filters "Name=volume-id,Values=$vol")" -eq 200 ] || die "volume $vol has not 200 snapshots"
[ "$(count --filters "Name=tag:batch,Values=1")" -eq 10 ] || die "tag batch=1 is not on 10 snapshots"
[ "$(count --filters "Name=tag-key,Values=batch")" -eq 59 ] || die "tag batch is not on 59 snapshots (every tenth record the fill added)"
[ "$(count --filters "Name=parent-snapshot-id,Values=$middle")" -eq 1 ] || die "$middle has not one child"
kid=$(bs describe-snapshots --filters "Name=parent-snapshot-id,Values=$middle" | json_get Snapshots.0.SnapshotId)
parent=$(bs describe-snapshots --snapshot-ids "$middle" | json_get Snapshots.0.ParentSnapshotId)

step "delete-snapshot re-parents its child"
bs delete-snapshot --snapshot-id "$middle" || die "delete-snapshot $middle failed"
[ "$(bs describe-snapshots --snapshot-ids "$kid" | json_get Snapshots.0.ParentSnapshotId)" = "$parent" ] ||
    die "the child $kid was not re-parented to $parent"
[ "$(count --filters "Name=parent-snapshot-id,Values=$middle")" -eq 0 ] || die "$middle still has children"
[ "$(count --filters "Name=volume-id,Values=$vol")" -eq 199 ] || die "volume $vol has not 199 snapshots"
bs verify >/dev/null || die "verify fails after the delete"
echo "catalog-pages: OK"
