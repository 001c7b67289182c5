#!/usr/bin/env bash
# --query, the forms scripts use, on a real store: the ids as one
# tab-separated text line; the newest completed snapshot by a filter, a
# pipe and sort_by; a hash projection of images in json and table; a
# query over a page (NextToken is in the answer); a bad or unsupported
# expression is a usage error that changes nothing.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

step "three snapshots of a volume, two images"
truncate -s 256K "$T/v.img"
for i in 1 2 3; do
    printf '%s' "$i" | dd of="$T/v.img" bs=1 seek=$((i * 4096)) conv=notrunc status=none
    snapshot_create "$T/v.img" >>"$T/created"
    sleep 0.01 # distinct start times
done
newest=$(tail -1 "$T/created")
A1=$(bs register-image --name web-1 --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$newest}" | json_get ImageId)
A2=$(bs register-image --name web-2 --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$newest}" | json_get ImageId)
sorted=$(sort "$T/created" | tr '\n' '\t' | sed 's/\t$//')

step "--query 'Snapshots[].SnapshotId' --output text: one line, tab-separated, in id order"
bs describe-snapshots --query 'Snapshots[].SnapshotId' --output text >"$T/ids.txt"
assert_eq "$(cat "$T/ids.txt")" "$sorted" "the ids as text"
assert_eq "$(wc -l <"$T/ids.txt")" 1 "lines of text"

step "the newest completed snapshot: filter | sort_by(@, &StartTime)[-1].SnapshotId"
bs describe-snapshots \
    --query "Snapshots[?State=='completed'] | sort_by(@, &StartTime)[-1].SnapshotId" >"$T/newest"
assert_eq "$(cat "$T/newest")" "\"$newest\"" "the newest (json: a string)"
assert_eq "$(bs describe-snapshots --output text \
    --query "Snapshots[?State=='completed'] | sort_by(@, &StartTime)[-1].SnapshotId")" \
    "$newest" "the newest (text)"

step "Images[*].{id:ImageId,name:Name}: json and table"
bs describe-images --query 'Images[*].{id:ImageId,name:Name}' >"$T/images.json"
python3 - "$T/images.json" "$A1" "$A2" <<'PY' || die "the hash projection of the images"
import json, sys
got = json.load(open(sys.argv[1]))
want = sorted([{"id": sys.argv[2], "name": "web-1"}, {"id": sys.argv[3], "name": "web-2"}],
              key=lambda i: i["id"])
assert got == want, got
PY
bs describe-images --query 'Images[*].{id:ImageId,name:Name}' --output table >"$T/images.table"
grep -qE "^\| +$A1 +\| +web-1 +\|$" "$T/images.table" ||
    die "the table has no row for $A1: $(cat "$T/images.table")"
grep -q DescribeImages "$T/images.table" || die "the table has no title"

step "a query over a page: NextToken is part of the answer"
bs describe-snapshots --max-items 2 --query '{ids: Snapshots[].SnapshotId, next: NextToken}' \
    >"$T/page.json"
assert_eq "$(json_get ids.# "$T/page.json")" 2 "ids on the page"
token=$(json_get next "$T/page.json")
assert_eq "$(bs describe-snapshots --starting-token "$token" --query 'Snapshots[].SnapshotId' \
    --output text)" "$(sort "$T/created" | tail -1)" "the rest"

step "a bad or unsupported expression: a usage error, nothing runs"
store_state >"$T/before"
expect_fail InvalidParameterValue 2 bs describe-snapshots --query 'Snapshots[?State=`x`'
stderr_contains "'=='" "character"
expect_fail InvalidParameterValue 2 bs describe-snapshots --query 'abs(Snapshots)'
stderr_contains "abs()" "subset" "--output json"
expect_fail InvalidParameterValue 2 bs delete-snapshot --snapshot-id "$newest" --query '['
assert_store_unchanged "$T/before"
step "a function given a wrong type fails the output (exit 1), naming it"
expect_fail InvalidParameterValue 1 bs describe-snapshots --query 'length(`1`)'
stderr_contains "length()" "invalid-type"
