#!/usr/bin/env bash
# `diff` lists exactly the chunk-aligned ranges that changed (computed here
# independently by comparing the two images chunk by chunk), in both output
# forms, the text form after a "# blocksnap diff A B" header; its text output
# fed back as --changed-blocks gives an identical snapshot that was made by
# reading only those ranges.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires mkfs.ext4 debugfs python3 cmp

step "two states of an ext4 image"
fill_tree "$T/tree" 16
make_ext4_image 96M "$T/tree" "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/disk.v1"
snap1=$(snapshot_create "$T/disk.img")
chunk=$(store_field ChunkSize)

seq 1 200000 >"$T/big.txt"
debugfs_w "$T/disk.img" "write $T/big.txt /big.txt" "rm /data/small.bin"
# in-place writes: one block at the very start of the data area, one 4 KiB
# block that straddles nothing, and the image's last block
blk=$(file_blocks "$T/disk.img" /data/blob.bin | sed -n 10p)
rewrite_blocks "$T/disk.img" "$blk" 1
last=$(($(stat -c %s "$T/disk.img") / 4096 - 1))
rewrite_blocks "$T/disk.img" "$last" 1
cp --sparse=always "$T/disk.img" "$T/disk.v2"
snap2=$(snapshot_create "$T/disk.img")

step "diff (text) equals the independent comparison"
changed_ranges "$T/disk.v1" "$T/disk.v2" "$chunk" >"$T/expected"
diff_ranges "$snap1" "$snap2" >"$T/actual"
info "expected $(wc -l <"$T/expected") ranges, $(ranges_bytes "$T/expected") bytes"
diff -u "$T/expected" "$T/actual" || die "diff output differs from the real change (- expected, + actual)"
[ -s "$T/expected" ] || die "no change to diff"
grep -qx "$((last * 4096 / chunk * chunk)) $chunk" "$T/actual" || die "last chunk not listed"

step "the long option forms and --output text give the same"
{
    echo "# blocksnap diff $snap1 $snap2"
    cat "$T/expected"
} >"$T/expected-text"
bs diff --first-snapshot-id "$snap1" --second-snapshot-id "$snap2" >"$T/actual2"
diff -u "$T/expected-text" "$T/actual2" || die "diff --first/--second-snapshot-id"
bs --output text diff "$snap1" "$snap2" >"$T/actual3"
diff -u "$T/expected-text" "$T/actual3" || die "diff --output text"

step "diff in the other direction lists the same ranges"
diff_ranges "$snap2" "$snap1" >"$T/reverse"
diff -u "$T/expected" "$T/reverse" || die "reverse diff"

step "diff of one snapshot lists its non-zero chunks"
changed_ranges - "$T/disk.v2" "$chunk" >"$T/expected-all"
diff_ranges "$snap2" >"$T/actual-all"
diff -u "$T/expected-all" "$T/actual-all" || die "diff SNAP (against nothing)"

step "diff --output json has the shape of EBS ListChangedBlocks"
bs diff "$snap1" "$snap2" --output json >"$T/diff.json"
python3 - "$T/diff.json" "$T/expected" "$chunk" "$(stat -c %s "$T/disk.v2")" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
chunk = int(sys.argv[3])
size = int(sys.argv[4])
want = []
for line in open(sys.argv[2]):
    off, length = map(int, line.split())
    want += list(range(off // chunk, (off + length + chunk - 1) // chunk))
got = [b["BlockIndex"] for b in doc["ChangedBlocks"]]
assert got == want, "BlockIndex list %s != %s" % (got[:20], want[:20])
assert doc["BlockSize"] == chunk, doc["BlockSize"]
assert doc["VolumeSize"] == (size + (1 << 30) - 1) >> 30, doc["VolumeSize"]
for b in doc["ChangedBlocks"]:
    tokens = [k for k in ("FirstBlockToken", "SecondBlockToken") if k in b]
    assert tokens, "block %d has no token" % b["BlockIndex"]
    if len(tokens) == 2:
        assert b["FirstBlockToken"] != b["SecondBlockToken"], b
print("   json: %d changed blocks, BlockSize %d" % (len(got), chunk))
PY

step "the diff fed back as --changed-blocks gives an identical snapshot"
# Restore the first state, then snapshot the second one from its list only.
restore "$snap1" "$T/vol.img"
snapr=$(snapshot_create "$T/vol.img")
cmp "$T/vol.img" "$T/disk.v1" || die "restore of snapshot 1"
cp "$T/disk.v2" "$T/vol.img"
bs diff "$snap1" "$snap2" --output text >"$T/ranges.txt"
snap3=$(snapshot_create "$T/vol.img" --changed-blocks "$T/ranges.txt")
diff_ranges "$snap2" "$snap3" >"$T/none"
[ ! -s "$T/none" ] || die "snapshot from --changed-blocks differs from the scanned one: $(head -3 "$T/none")"
restore "$snap3" "$T/restored3.img"
assert_same_file "$T/disk.v2" "$T/restored3.img" "restore of the --changed-blocks snapshot"
diff_ranges "$snapr" "$snap3" >"$T/fromr"
diff -u "$T/expected" "$T/fromr" || die "diff of restored volume's snapshots"

step "--changed-blocks reads only the listed ranges"
# Change a chunk that is NOT in the list: the new snapshot must not see it,
# which proves the rest came from the parent and was not read.
python3 - "$T/vol.img" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(40 << 20)
    f.write(b"\xAA" * 4096)
PY
printf '0 %d\n' "$chunk" >"$T/first-chunk.txt"
snap4=$(snapshot_create "$T/vol.img" --changed-blocks "$T/first-chunk.txt")
diff_ranges "$snap3" "$snap4" >"$T/d34"
[ ! -s "$T/d34" ] || die "unlisted change was read: $(cat "$T/d34")"
restore "$snap4" "$T/restored4.img"
assert_same_file "$T/disk.v2" "$T/restored4.img" "the --changed-blocks snapshot kept the parent's data"

assert_verify_ok
