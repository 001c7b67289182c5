#!/usr/bin/env bash
# ebs-direct: a snapshot written through the EBS direct verbs restores
# byte-identical.  The blocks of a 1 GiB image (random data, zeros, text)
# go in through put-snapshot-block in random order from four processes at
# once; a wrong checksum is refused and stores nothing; complete-snapshot
# checks the count and the LINEAR aggregate checksum; list-snapshot-blocks
# and get-snapshot-block read every block back; an incremental on it as
# parent restores to the changed image and list-changed-blocks names
# exactly the changed blocks.  With failure injection, a put and a
# completion killed at their commit leave a store that verifies, and the
# work goes on; an abandoned snapshot's chunks are freed by gc once its
# timeout is over (BLOCKSNAP_NOW).
source "$(dirname "$0")/../lib/functions.sh"
requires python3 openssl base64 cmp shuf xargs

BLK=524288
sum() { openssl dgst -sha256 -binary "$1" | base64; }
# put ID INDEX FILE [ARGS...]
put() {
    local id=$1 i=$2 f=$3
    shift 3
    bs put-snapshot-block --snapshot-id "$id" --block-index "$i" --block-data "$f" \
        --data-length $BLK --checksum "$(sum "$f")" --checksum-algorithm SHA256 "$@" >/dev/null
}
# aggregate DIR INDEX...: the LINEAR aggregate checksum of those blocks.
aggregate() {
    local d=$1
    shift
    python3 - "$d" "$@" <<'EOF'
import base64, hashlib, sys
d, idx = sys.argv[1], sorted(int(i) for i in sys.argv[2:])
cat = "".join(base64.b64encode(hashlib.sha256(open("%s/%d" % (d, i), "rb").read()).digest()).decode() for i in idx)
print(base64.b64encode(hashlib.sha256(cat.encode()).digest()).decode())
EOF
}

step "a 1 GiB image: random data, text, zeros written over data, holes"
truncate -s 1G "$T/a.img"
dd if=/dev/urandom of="$T/a.img" bs=64K count=96 conv=notrunc status=none
dd if=/dev/urandom of="$T/a.img" bs=64K seek=4000 count=40 conv=notrunc status=none
python3 -c 'import sys; sys.stdout.write("blocksnap ebs direct\n" * 150000)' >"$T/text"
dd if="$T/text" of="$T/a.img" bs=64K seek=9000 conv=notrunc status=none
dd if=/dev/urandom of="$T/a.img" bs=64K seek=16376 count=8 conv=notrunc status=none
ebs_blocks "$T/a.img" "$T/blk" >"$T/idx"
head -c $BLK /dev/zero >"$T/zero"
n=$(wc -l <"$T/idx")
info "$n blocks with data"

step "start-snapshot"
bs start-snapshot --volume-size 1 --description "ebs direct" --tags Key=k,Value=v \
    --timeout 30 >"$T/start.json"
S1=$(json_get SnapshotId "$T/start.json")
assert_eq "$(json_get Status "$T/start.json")" pending "Status"
assert_eq "$(json_get BlockSize "$T/start.json")" $BLK "BlockSize"
assert_eq "$(bs describe-snapshots --snapshot-ids "$S1" | json_get Snapshots.0.State)" pending \
    "describe-snapshots State"

step "a wrong checksum is refused and stores nothing"
first=$(head -1 "$T/idx")
before=$(store_field StoredBytes)
expect_fail ValidationException 1 bs put-snapshot-block --snapshot-id "$S1" --block-index 0 \
    --block-data "$T/blk/$first" --data-length $BLK --checksum "$(sum "$T/zero")" \
    --checksum-algorithm SHA256
stderr_contains INVALID_BLOCK "does not match"
assert_eq "$(store_field StoredBytes)" "$before" "StoredBytes after a refused put"
expect_fail ValidationException 1 put "$S1" 2048 "$T/blk/$first"
stderr_contains "beyond the volume size"
head -c 1000 /dev/urandom >"$T/short"
expect_fail InvalidParameterValue 2 put "$S1" 0 "$T/short"
expect_fail MissingParameter 2 bs put-snapshot-block --snapshot-id "$S1" --block-index 0
expect_fail ResourceNotFoundException 1 put snap-0123456789abcdef0 0 "$T/blk/$first"

step "the blocks in random order from four processes, two of zeros over holes"
put "$S1" 20 "$T/zero"
put "$S1" 1500 "$T/zero"
export -f put sum bs _check_sanitizer
export BLOCKSNAP STORE T BLK
shuf "$T/idx" | xargs -P 4 -I{} bash -c 'put "$0" {} "$T/blk/{}"' "$S1"
assert_verify_ok
bs gc >/dev/null # pending chunks stay
assert_verify_ok

step "complete-snapshot: a count that does not match makes another snapshot error"
S0=$(bs start-snapshot --volume-size 1 | json_get SnapshotId)
put "$S0" 0 "$T/blk/$first"
assert_eq "$(bs complete-snapshot --snapshot-id "$S0" --changed-blocks-count 5 | json_get Status)" \
    error "Status of a wrong count"
assert_eq "$(bs describe-snapshots --snapshot-ids "$S0" | json_get Snapshots.0.State)" error
agg=$(aggregate "$T/blk" $(cat "$T/idx"))
expect_fail ValidationException 1 bs complete-snapshot --snapshot-id "$S1" \
    --changed-blocks-count $((n + 2)) --checksum "$agg" --checksum-algorithm MD5 \
    --checksum-aggregation-method LINEAR
# the aggregate of every block written, the two of zeros in their place
agg=$(cp "$T/zero" "$T/blk/20" && cp "$T/zero" "$T/blk/1500" && aggregate "$T/blk" $(cat "$T/idx") 20 1500)
rm "$T/blk/20" "$T/blk/1500"
bs complete-snapshot --snapshot-id "$S1" --changed-blocks-count $((n + 2)) --checksum "$agg" \
    --checksum-algorithm SHA256 --checksum-aggregation-method LINEAR >"$T/complete.json"
assert_eq "$(json_get Status "$T/complete.json")" completed "Status"
bs describe-snapshots --snapshot-ids "$S1" >"$T/desc.json"
assert_eq "$(json_get Snapshots.0.State "$T/desc.json")" completed
assert_eq "$(json_get Snapshots.0.VolumeSize "$T/desc.json")" 1
expect_fail ValidationException 1 put "$S1" 0 "$T/blk/$first"
assert_verify_ok

step "restore byte-identical"
restore "$S1" "$T/r1.img"
assert_same_file "$T/r1.img" "$T/a.img"

step "list-snapshot-blocks pages and get-snapshot-block reads every block"
: >"$T/listed"
tok=
while :; do
    bs list-snapshot-blocks --snapshot-id "$S1" --max-results 100 ${tok:+--next-token "$tok"} \
        >"$T/page.json"
    python3 - "$T/page.json" >>"$T/listed" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["BlockSize"] == 524288 and d["VolumeSize"] == 1, d
for b in d["Blocks"]:
    print(b["BlockIndex"], b["BlockToken"])
EOF
    tok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("NextToken", ""))' \
        "$T/page.json")
    [ -n "$tok" ] || break
done
cut -d' ' -f1 "$T/listed" >"$T/listed.idx"
diff <(sort -n "$T/idx") "$T/listed.idx" || die "listed blocks differ from the written ones"
while read -r i t; do
    bs get-snapshot-block --snapshot-id "$S1" --block-index "$i" --block-token "$t" \
        "$T/got" >"$T/get.json"
    cmp -s "$T/got" "$T/blk/$i" || die "block $i reads back different"
    assert_eq "$(json_get Checksum "$T/get.json")" "$(sum "$T/blk/$i")" "Checksum of block $i"
done < <(shuf -n 20 "$T/listed")
read -r i t < <(head -1 "$T/listed")
expect_fail ValidationException 1 bs get-snapshot-block --snapshot-id "$S1" \
    --block-index $((i + 1)) --block-token "$t" "$T/got"
stderr_contains INVALID_BLOCK_TOKEN

step "an incremental on it: changed blocks only, restored to the changed image"
cp --sparse=always "$T/a.img" "$T/b.img"
dd if=/dev/urandom of="$T/b.img" bs=$BLK seek=7 count=2 conv=notrunc status=none
dd if=/dev/zero of="$T/b.img" bs=$BLK seek=1 count=1 conv=notrunc status=none
dd if=/dev/urandom of="$T/b.img" bs=$BLK seek=1900 count=1 conv=notrunc status=none
ebs_blocks "$T/b.img" "$T/blk2" >/dev/null
S2=$(bs start-snapshot --volume-size 1 --parent-snapshot-id "$S1" | json_get SnapshotId)
put "$S2" 7 "$T/blk2/7"
put "$S2" 8 "$T/blk2/8"
put "$S2" 1 "$T/zero"
put "$S2" 1900 "$T/blk2/1900"
assert_eq "$(bs complete-snapshot --snapshot-id "$S2" --changed-blocks-count 4 | json_get Status)" \
    completed
restore "$S2" "$T/r2.img"
assert_same_file "$T/r2.img" "$T/b.img"
bs list-changed-blocks --first-snapshot-id "$S1" --second-snapshot-id "$S2" >"$T/changed.json"
python3 - "$T/changed.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
got = [(b["BlockIndex"], "FirstBlockToken" in b, "SecondBlockToken" in b) for b in d["ChangedBlocks"]]
want = [(1, True, False), (7, True, True), (8, True, True), (1900, False, True)]
assert got == want, got
EOF
# the second's token reads the new data
t=$(json_get ChangedBlocks.3.SecondBlockToken "$T/changed.json")
bs get-snapshot-block --snapshot-id "$S2" --block-index 1900 --block-token "$t" "$T/got" >/dev/null
assert_same_file "$T/got" "$T/blk2/1900"
# a snapshot of another lineage is unrelated
S3=$(bs start-snapshot --volume-size 1 | json_get SnapshotId)
bs complete-snapshot --snapshot-id "$S3" --changed-blocks-count 0 >/dev/null
expect_fail ValidationException 1 bs list-changed-blocks --first-snapshot-id "$S3" \
    --second-snapshot-id "$S2"
stderr_contains UNRELATED_SNAPSHOTS
assert_verify_ok

step "ClientToken: the same request answers the same snapshot, another is a conflict"
A=$(bs start-snapshot --volume-size 1 --client-token t-1 | json_get SnapshotId)
assert_eq "$(bs start-snapshot --volume-size 1 --client-token t-1 | json_get SnapshotId)" "$A"
expect_fail ConflictException 1 bs start-snapshot --volume-size 2 --client-token t-1
expect_fail InvalidParameterValue 2 bs start-snapshot --volume-size 0
expect_fail ValidationException 1 bs start-snapshot --volume-size 1 --encrypted

if has_faults; then
    step "a put killed before its commit: nothing half-done, the put again lands"
    rc=0
    BLOCKSNAP_FAULT=ebs-put:1:kill "$BLOCKSNAP" --store "$STORE" put-snapshot-block \
        --snapshot-id "$A" --block-index 5 --block-data "$T/blk/$first" --data-length $BLK \
        --checksum "$(sum "$T/blk/$first")" --checksum-algorithm SHA256 >/dev/null 2>&1 || rc=$?
    assert_eq "$rc" 137 "exit status of the killed put"
    assert_verify_ok
    put "$A" 5 "$T/blk/$first"
    step "a completion killed before its commit: pending with its blocks, completed again"
    rc=0
    BLOCKSNAP_FAULT=ebs-complete:1:kill "$BLOCKSNAP" --store "$STORE" complete-snapshot \
        --snapshot-id "$A" --changed-blocks-count 1 >/dev/null 2>&1 || rc=$?
    assert_eq "$rc" 137 "exit status of the killed completion"
    assert_eq "$(bs describe-snapshots --snapshot-ids "$A" | json_get Snapshots.0.State)" pending
    assert_verify_ok
    bs gc >/dev/null
    assert_verify_ok
    assert_eq "$(bs complete-snapshot --snapshot-id "$A" --changed-blocks-count 1 |
        json_get Status)" completed
    restore "$A" "$T/ra.img"
    truncate -s 1G "$T/expect-a.img"
    dd if="$T/blk/$first" of="$T/expect-a.img" bs=$BLK seek=5 conv=notrunc status=none
    assert_same_file "$T/ra.img" "$T/expect-a.img"
fi

step "an abandoned snapshot: kept by gc within its timeout, freed after it"
bs gc >/dev/null
before=$(store_field StoredBytes)
B=$(bs start-snapshot --volume-size 1 --timeout 10 | json_get SnapshotId)
head -c $BLK /dev/urandom >"$T/fresh"
put "$B" 0 "$T/fresh"
bs gc >/dev/null
[ "$(store_field StoredBytes)" -gt "$before" ] || die "gc freed a pending snapshot's block"
later=$(date -u -d '+11 minutes' +%Y-%m-%dT%H:%M:%SZ)
BLOCKSNAP_NOW=$later bs gc >"$T/gc.json"
assert_eq "$(json_get SnapshotsRemoved "$T/gc.json")" 1 "SnapshotsRemoved"
assert_eq "$(store_field StoredBytes)" "$before" "StoredBytes after the timeout and gc"
expect_fail ResourceNotFoundException 1 put "$B" 1 "$T/fresh"
assert_verify_ok
restore "$S1" "$T/r1.img"
assert_same_file "$T/r1.img" "$T/a.img"
