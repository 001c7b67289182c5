#!/usr/bin/env bash
# --output json|text|table on the describe verbs, the EC2 shapes of the JSON,
# global options before or after the verb, and describe-store's keys.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

head -c $((3 << 20)) /dev/urandom >"$T/a.img"
snap=$(snapshot_create "$T/a.img" --description "format check" --tags Key=Name,Value=alpha)
vol=$(json_get VolumeId "$T/snapshot.json")

step "create-snapshot prints the snapshot's EC2 object"
python3 - "$T/snapshot.json" "$snap" "$vol" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))
for k in ("SnapshotId", "VolumeId", "State", "VolumeSize", "StartTime", "Description",
          "OwnerId", "Progress", "Encrypted"):
    assert k in s, "CreateSnapshot output lacks %s: %s" % (k, s)
assert s["SnapshotId"] == sys.argv[2] and s["VolumeId"] == sys.argv[3]
assert s["State"] == "completed", s["State"]
assert s["VolumeSize"] == 1, s["VolumeSize"]
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s["StartTime"]), s["StartTime"]
assert re.fullmatch(r"\d{12}", s["OwnerId"]), s["OwnerId"]
assert s["Encrypted"] is False
assert s["Progress"] == "100%", s["Progress"]
assert {"Key": "Name", "Value": "alpha"} in s.get("Tags", []), s.get("Tags")
PY

step "json (the default) is DescribeSnapshots' shape"
bs describe-snapshots >"$T/d.json"
bs describe-snapshots --output json >"$T/d2.json"
cmp "$T/d.json" "$T/d2.json" || die "default output is not json"
assert_eq "$(json_get Snapshots.# "$T/d.json")" 1 "one snapshot"
assert_eq "$(json_get Snapshots.0.SnapshotId "$T/d.json")" "$snap" "SnapshotId"
bs describe-volumes >"$T/v.json"
assert_eq "$(json_get Volumes.0.VolumeId "$T/v.json")" "$vol" "DescribeVolumes shape"
python3 - "$T/v.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["Volumes"][0]
for k in ("VolumeId", "Size", "State", "CreateTime"):
    assert k in v, "DescribeVolumes lacks %s: %s" % (k, v)
PY

step "text: tab-separated rows, list names upper-cased"
bs describe-snapshots --output text >"$T/d.txt"
cat "$T/d.txt"
grep -q "^SNAPSHOTS"$'\t' "$T/d.txt" || die "text output has no SNAPSHOTS row"
grep -q "$snap" "$T/d.txt" || die "text output lacks the id"
grep -q $'\t' "$T/d.txt" || die "text output is not tab-separated"
grep -q "^TAGS"$'\t'"Name"$'\t'"alpha"'$' "$T/d.txt" || die "text output lacks the TAGS row"

step "table: boxed"
bs describe-snapshots --output table >"$T/d.tab"
cat "$T/d.tab"
grep -q "$snap" "$T/d.tab" || die "table output lacks the id"
grep -q '^[+|-]' "$T/d.tab" || die "table output has no box"
grep -q 'DescribeSnapshots' "$T/d.tab" || die "table output has no DescribeSnapshots title"
bs describe-volumes --output table | grep -q "$vol" || die "describe-volumes table"

step "global options go before or after the verb"
"$BLOCKSNAP" --output text --store "$STORE" describe-snapshots >"$T/pre.txt"
cmp "$T/d.txt" "$T/pre.txt" || die "options before the verb"
"$BLOCKSNAP" describe-snapshots --store "$STORE" --output text >"$T/post.txt"
cmp "$T/d.txt" "$T/post.txt" || die "options after the verb"

step "a bad --output is a usage error"
expect_fail - 2 bs describe-snapshots --output yaml
stderr_contains yaml "blocksnap describe-snapshots --help"

step "--quiet keeps stderr silent on success"
head -c 100000 /dev/urandom >"$T/q.img"
bs create-snapshot --volume "$T/q.img" --quiet >"$T/q.json"
[ ! -s "$T/last.stderr" ] || die "--quiet printed on stderr: $(cat "$T/last.stderr")"
bs create-snapshot --volume "$T/q.img" >"$T/q2.json"
[ -s "$T/last.stderr" ] || die "no one-line summary on stderr without --quiet"
[ "$(wc -l <"$T/last.stderr")" -le 2 ] || die "summary is more than a line: $(cat "$T/last.stderr")"

step "describe-store: every documented key"
bs describe-store >"$T/s.json"
python3 - "$T/s.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for k in ("StoreUuid", "Region", "OwnerId", "ChunkSize", "FormatVersion", "PackCount",
          "PackBytes", "ChunkCount", "StoredBytes", "LogicalBytes", "MetaBytes",
          "SnapshotCount", "VolumeCount"):
    assert k in s, "describe-store lacks %s" % k
assert s["ChunkSize"] == 65536, s["ChunkSize"]
assert s["SnapshotCount"] == 3, s["SnapshotCount"]
assert s["VolumeCount"] == 2, s["VolumeCount"]
assert s["LogicalBytes"] >= s["StoredBytes"] > 0, s
PY
bs describe-store --output table | grep -q ChunkSize || die "describe-store --output table"

step "--version and --help"
"$BLOCKSNAP" --version | grep -qE '[0-9]+\.[0-9]+\.[0-9]+' || die "--version"
# Into a file: grep -q stops reading at its match, and the help's later
# writes would then end it with SIGPIPE (a failure under pipefail).
"$BLOCKSNAP" --help >"$T/help" || die "--help failed"
grep -q create-snapshot "$T/help" || die "--help lists no verbs"
for verb in create-snapshot describe-snapshots delete-snapshot create-volume describe-volumes \
    create-tags delete-tags diff verify gc describe-store; do
    "$BLOCKSNAP" "$verb" --help >"$T/help.out" || die "$verb --help exited non-zero"
    [ -s "$T/help.out" ] || die "$verb --help printed nothing on stdout"
done
