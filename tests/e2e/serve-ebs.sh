#!/usr/bin/env bash
# serve-ebs: the EBS direct API of `blocksnap serve` driven by the stock aws
# CLI and boto3.  A 1 GiB image goes in through `aws ebs put-snapshot-block`
# (blocks in random order, a wrong checksum refused and nothing stored),
# complete-snapshot, and the snapshot is an ordinary one: describe-snapshots
# lists it and it restores byte-identical; list-snapshot-blocks and
# get-snapshot-block read it back.  boto3 writes 160 blocks from 8 threads,
# pages list_snapshot_blocks by NextToken, reads blocks and checksums, and
# lists the changed blocks of an incremental.  A request signed with the
# wrong secret, an unsigned one and another account's change nothing.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/serve-functions.sh"
requires openssl base64 cmp shuf

BLK=524288
sum() { openssl dgst -sha256 -binary "$1" | base64; }

step "serve, and a 1 GiB image to write"
serve_start ebs
truncate -s 1G "$T/a.img"
dd if=/dev/urandom of="$T/a.img" bs=64K count=40 conv=notrunc status=none
dd if=/dev/urandom of="$T/a.img" bs=64K seek=8000 count=24 conv=notrunc status=none
ebs_blocks "$T/a.img" "$T/blk" >"$T/idx"
n=$(wc -l <"$T/idx")
info "$n blocks with data"

step "aws ebs start-snapshot"
awsc ebs start-snapshot --volume-size 1 --description "through aws ebs" --timeout 60 \
    --tags Key=k,Value=v >"$T/start.json"
S=$(json_get SnapshotId "$T/start.json")
assert_eq "$(json_get Status "$T/start.json")" pending Status
assert_eq "$(json_get BlockSize "$T/start.json")" $BLK BlockSize
assert_eq "$(json_get VolumeSize "$T/start.json")" 1 VolumeSize

step "aws ebs put-snapshot-block: a wrong checksum is refused, nothing stored"
first=$(head -1 "$T/idx")
before=$(store_field StoredBytes)
aws_fail ValidationException awsc ebs put-snapshot-block --snapshot-id "$S" --block-index 0 \
    --block-data "$T/blk/$first" --data-length $BLK --checksum "$(sum "$T/a.img")" \
    --checksum-algorithm SHA256
grep -q 'does not match' "$T/fail.stderr" || die "the refusal does not say why"
assert_eq "$(store_field StoredBytes)" "$before" "StoredBytes after a refused put"
aws_fail ResourceNotFoundException awsc ebs put-snapshot-block \
    --snapshot-id snap-0123456789abcdef0 --block-index 0 --block-data "$T/blk/$first" \
    --data-length $BLK --checksum "$(sum "$T/blk/$first")" --checksum-algorithm SHA256

step "the blocks in random order"
for i in $(shuf "$T/idx"); do
    awsc ebs put-snapshot-block --snapshot-id "$S" --block-index "$i" \
        --block-data "$T/blk/$i" --data-length $BLK --checksum "$(sum "$T/blk/$i")" \
        --checksum-algorithm SHA256 --progress 50 >"$T/put.json"
done
assert_eq "$(json_get Checksum "$T/put.json")" "$(sum "$T/blk/$i")" "the put's Checksum"
assert_eq "$(json_get ChecksumAlgorithm "$T/put.json")" SHA256 ChecksumAlgorithm

step "aws ebs complete-snapshot: completed, an ordinary snapshot"
assert_eq "$(awsc ebs complete-snapshot --snapshot-id "$S" --changed-blocks-count "$n" |
    json_get Status)" completed Status
assert_eq "$(bs describe-snapshots --snapshot-ids "$S" | json_get Snapshots.0.State)" completed
assert_eq "$(awsc ec2 describe-snapshots --snapshot-ids "$S" | json_get Snapshots.0.State)" \
    completed "aws ec2 describe-snapshots"
restore "$S" "$T/r.img"
assert_same_file "$T/r.img" "$T/a.img"

step "aws ebs list-snapshot-blocks and get-snapshot-block"
awsc ebs list-snapshot-blocks --snapshot-id "$S" >"$T/list.json"
assert_eq "$(json_get Blocks.# "$T/list.json")" "$n" "blocks listed"
i=$(json_get Blocks.0.BlockIndex "$T/list.json")
t=$(json_get Blocks.0.BlockToken "$T/list.json")
awsc ebs get-snapshot-block --snapshot-id "$S" --block-index "$i" --block-token "$t" \
    "$T/got" >"$T/get.json"
assert_same_file "$T/got" "$T/blk/$i"
assert_eq "$(json_get Checksum "$T/get.json")" "$(sum "$T/blk/$i")" "the get's Checksum"
aws_fail ValidationException awsc ebs get-snapshot-block --snapshot-id "$S" \
    --block-index $((i + 1)) --block-token "$t" "$T/got"

step "boto3: 160 blocks from 8 threads, pages, reads, changed blocks"
"$PY3" - "$ENDPOINT" "$REGION" "$S" <<'PY'
import base64, hashlib, os, sys
from concurrent.futures import ThreadPoolExecutor
import boto3, botocore.config
endpoint, region, parent = sys.argv[1:4]
ebs = boto3.client("ebs", endpoint_url=endpoint, region_name=region,
                   aws_access_key_id="AKIAOWNEREXAMPLE",
                   aws_secret_access_key="owner/Secret+Key0123456789EXAMPLE",
                   config=botocore.config.Config(max_pool_connections=16,
                                                 retries={"max_attempts": 1}))
B = 524288
def b64sum(b):
    return base64.b64encode(hashlib.sha256(b).digest()).decode()
s = ebs.start_snapshot(VolumeSize=2, ParentSnapshotId=parent, ClientToken="boto-1")
sid = s["SnapshotId"]
assert s["Status"] == "pending" and s["ParentSnapshotId"] == parent, s
# the same token answers the same snapshot
assert ebs.start_snapshot(VolumeSize=2, ParentSnapshotId=parent, ClientToken="boto-1")["SnapshotId"] == sid
data = {i: os.urandom(B) for i in range(1200, 1360)}
def put(i):
    r = ebs.put_snapshot_block(SnapshotId=sid, BlockIndex=i, BlockData=data[i], DataLength=B,
                               Checksum=b64sum(data[i]), ChecksumAlgorithm="SHA256")
    assert r["Checksum"] == b64sum(data[i]), r
with ThreadPoolExecutor(8) as ex:
    list(ex.map(put, data))
agg = base64.b64encode(hashlib.sha256("".join(b64sum(data[i]) for i in sorted(data)).encode()).digest()).decode()
r = ebs.complete_snapshot(SnapshotId=sid, ChangedBlocksCount=len(data), Checksum=agg,
                          ChecksumAlgorithm="SHA256", ChecksumAggregationMethod="LINEAR")
assert r["Status"] == "completed", r
# pages of 100 by NextToken: the parent's blocks, then these
seen, kw = [], {}
while True:
    p = ebs.list_snapshot_blocks(SnapshotId=sid, MaxResults=100, **kw)
    assert p["BlockSize"] == B and p["VolumeSize"] == 2, p
    seen += [(b["BlockIndex"], b["BlockToken"]) for b in p["Blocks"]]
    if "NextToken" not in p:
        break
    kw = {"NextToken": p["NextToken"]}
idx = [i for i, _ in seen]
assert idx == sorted(set(idx)) and set(data) <= set(idx), idx[:20]
for i, tok in seen:
    if i in (1200, 1277, 1359):
        g = ebs.get_snapshot_block(SnapshotId=sid, BlockIndex=i, BlockToken=tok)
        body = g["BlockData"].read()
        assert body == data[i] and g["Checksum"] == b64sum(body) and g["DataLength"] == B, i
# the changed blocks against the parent: exactly the written ones, no first token
ch, kw = [], {}
while True:
    p = ebs.list_changed_blocks(FirstSnapshotId=parent, SecondSnapshotId=sid, MaxResults=100, **kw)
    ch += p["ChangedBlocks"]
    if "NextToken" not in p:
        break
    kw = {"NextToken": p["NextToken"]}
assert [c["BlockIndex"] for c in ch] == sorted(data), [c["BlockIndex"] for c in ch][:10]
assert all("SecondBlockToken" in c and "FirstBlockToken" not in c for c in ch)
# errors as botocore sees them
try:
    ebs.get_snapshot_block(SnapshotId=sid, BlockIndex=1200, BlockToken=seen[0][1])
    sys.exit("a token of another block was accepted")
except ebs.exceptions.ValidationException as e:
    assert e.response["Reason"] == "INVALID_BLOCK_TOKEN", e.response
try:
    ebs.put_snapshot_block(SnapshotId=sid, BlockIndex=1, BlockData=data[1200], DataLength=B,
                           Checksum=b64sum(data[1200]), ChecksumAlgorithm="SHA256")
    sys.exit("a put to a completed snapshot was accepted")
except ebs.exceptions.ValidationException:
    pass
try:
    ebs.list_snapshot_blocks(SnapshotId="snap-0123456789abcdef0")
    sys.exit("an unknown snapshot was listed")
except ebs.exceptions.ResourceNotFoundException:
    pass
print(sid)
PY

step "a wrong secret, an unsigned request, another account: refused, nothing changed"
store_state >"$T/state.before"
aws_fail SignatureDoesNotMatch awsc --profile wrong ebs start-snapshot --volume-size 1
code=$(curl -s -o "$T/unsigned.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"VolumeSize": 1}' "$ENDPOINT/snapshots")
[ "$code" = 401 ] || die "an unsigned start answered $code: $(cat "$T/unsigned.out")"
aws_fail ResourceNotFoundException awsc --profile other ebs list-snapshot-blocks --snapshot-id "$S"
assert_store_unchanged "$T/state.before"
serve_stop
assert_eq "$SERVE_RC" 0 "serve's exit status"
