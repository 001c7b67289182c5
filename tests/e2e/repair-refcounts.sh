#!/usr/bin/env bash
# After verify --repair dropped damaged pack records, every later operation
# keeps verify clean: the repair records the references live pages and
# snapshots hold on what it could not find, so a snapshot that stores those
# chunks again takes them over (and heals the damaged snapshot), and gc
# never frees what a snapshot names.
#
#  1. Two damaged data records (one of them a chunk the volume holds twice):
#     repair, then a --full snapshot of the same volume: verify passes with
#     no refcount problem, the damaged snapshot restores whole again, gc
#     keeps everything both snapshots need.
#  2. A damaged leaf page: the same.
#  3. The damaged snapshot deleted before anything is stored again: the
#     references it held go with it, verify and gc agree.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

# a 4 MiB volume of 64 chunks: random, with chunk 9 a copy of chunk 3
head -c $((4 << 20)) /dev/urandom >"$T/v.img"
dd if="$T/v.img" of="$T/v.img" bs=65536 skip=3 seek=9 count=1 conv=notrunc status=none
S1=$(snapshot_create "$T/v.img")
cp -a "$STORE" "$T/base"

# damage KIND...: flip a bit in the chunk id of records of S1: "dup" (the
# chunk the volume holds twice), "data" (another data chunk), "leaf" (the
# block-map leaf page).  The ids damaged go to $T/damaged.
damage() {
    python3 - "$STORE" "$T/v.img" "$@" >"$T/damaged" <<'EOF'
import os, struct, sys
store, img, kinds = sys.argv[1], sys.argv[2], sys.argv[3:]
dup = open(img, "rb").read()[3 * 65536:4 * 65536]
recs = []
for name in sorted(os.listdir(os.path.join(store, "packs"))):
    path = os.path.join(store, "packs", name)
    data = open(path, "rb").read()
    off = 32
    while off + 48 <= len(data):
        magic, flags, _ = struct.unpack_from("<IHH", data, off)
        if magic != 0x43525342:
            break
        stored, orig = struct.unpack_from("<II", data, off + 24)
        recs.append((path, off, flags, data[off + 8:off + 24], data[off + 48:off + 48 + stored]))
        off += 48 + stored
def pick(kind):
    for path, off, flags, cid, payload in recs:
        if kind == "leaf" and flags & 2:
            return path, off, cid
        if kind == "dup" and not flags & 2 and payload == dup:
            return path, off, cid
        if kind == "data" and not flags & 2 and payload != dup:
            return path, off, cid
    sys.exit("no %s record" % kind)
for kind in kinds:
    path, off, cid = pick(kind)
    with open(path, "r+b") as f:
        f.seek(off + 8)
        b = f.read(1)
        f.seek(off + 8)
        f.write(bytes([b[0] ^ 0x10]))
    print(cid.hex())
EOF
}

# repair: verify --repair, which names the damage and exits 1.
repair() {
    local rc=0
    bs verify --repair >"$T/repair.out" 2>"$T/repair.err" || rc=$?
    sed 's/^/   | /' "$T/repair.out" "$T/repair.err"
    [ "$rc" = 1 ] || die "verify --repair exited $rc, expected 1"
}

# heal_check: after the repair, a --full snapshot of the same volume makes
# the store whole: verify passes, gc removes nothing either snapshot needs.
heal_check() {
    expect_fail Store.Corrupt 1 bs verify
    grep -q "^snapshot $S1 " "$T/fail.stdout" || die "verify did not name the damaged snapshot"
    ! grep -q "refcount" "$T/fail.stdout" || die "verify found a wrong refcount after the repair"
    S2=$(snapshot_create "$T/v.img" --full)
    assert_verify_ok
    bs gc >/dev/null
    assert_verify_ok
    restore "$S2" "$T/r2.img"
    assert_same_file "$T/v.img" "$T/r2.img" "the new snapshot restores wrong after gc"
    restore "$S1" "$T/r1.img"
    assert_same_file "$T/v.img" "$T/r1.img" "the healed snapshot restores wrong"
    # one more snapshot and a delete of both: the refcounts still add up
    S3=$(snapshot_create "$T/v.img")
    bs delete-snapshot --snapshot-id "$S1" >/dev/null
    bs delete-snapshot --snapshot-id "$S2" >/dev/null
    bs gc >/dev/null
    assert_verify_ok
    restore "$S3" "$T/r3.img"
    assert_same_file "$T/v.img" "$T/r3.img" "the last snapshot restores wrong"
}

step "two damaged data records (one named twice): repair, then a --full snapshot"
damage dup data
repair
heal_check

step "a damaged leaf page: repair, then a --full snapshot"
rm -rf "$STORE" && cp -a "$T/base" "$STORE"
damage leaf
repair
heal_check

step "the damaged snapshot deleted before anything is stored again"
rm -rf "$STORE" && cp -a "$T/base" "$STORE"
damage dup leaf
repair
bs delete-snapshot --snapshot-id "$S1" >/dev/null
assert_verify_ok
bs gc >/dev/null
assert_verify_ok
S2=$(snapshot_create "$T/v.img")
assert_verify_ok
restore "$S2" "$T/r2.img"
assert_same_file "$T/v.img" "$T/r2.img" "a snapshot after the delete restores wrong"
