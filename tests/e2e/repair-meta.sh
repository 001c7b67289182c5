#!/usr/bin/env bash
# verify --repair: meta/data.mdb rebuilt from what can still be read.
#
#  1. A sound store: the repair changes nothing a user sees (the describe
#     documents of snapshots, volumes and images are equal), exits 0, and
#     keeps the old file as meta/data.mdb.damaged-TIME; a second repair too.
#  2. The snapshots table's leaf page zeroed: every snapshot comes back as a
#     recovered snapshot restoring its volume's bytes; the repair names the
#     lost ids the image and the volumes still name, and exits 1; a volume
#     whose last snapshot was lost can be snapshotted again.
#  3. A damaged pack record (its header, so the scan must find the next
#     record by its magic): the repair skips it naming pack and offset,
#     verify then names the one snapshot that used it, and the others
#     restore byte-identical.
#  4. A mount serving the store: the repair is refused (Store.Busy) and
#     nothing changes.
#  4b. A refcount set to 0 in a sound file (damage only the index's meaning
#     shows): gc refuses to remove anything a snapshot names, verify names
#     it, the repair recomputes it.  An entry's offset changed the same way:
#     gc refuses too (it would repack by the wrong location).
#  5. Killed: at the fault points around its commit and its rename, and at
#     random moments: meta/data.mdb is then the old file byte for byte or
#     the whole new one, and the repair run again succeeds.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/crash-functions.sh
source "$(dirname "$0")/../lib/crash-functions.sh"
requires python3 cmp timeout
MDB_PAGES=$TESTS_LIB_DIR/mdb-pages.py

crash_setup 16
bs register-image --name repair-test --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$S2}" >"$T/image.json"
AMI=$(json_get ImageId "$T/image.json")
bs create-tags --resources "$S1" "$AMI" --tags Key=keep,Value=me
store_snapshot_to "$CRASH_BASE"

# describe_all FILE: every describe document, for "nothing changed".
describe_all() {
    {
        bs describe-snapshots
        bs describe-volumes
        bs describe-images
    } >"$1"
}

# repair [EXPECT_RC]: verify --repair, exiting EXPECT_RC (default 0); its
# output in $T/repair.out, stderr in $T/repair.err.
repair() {
    local want=${1:-0} rc=0
    bs verify --repair >"$T/repair.out" 2>"$T/repair.err" || rc=$?
    sed 's/^/   | /' "$T/repair.out" "$T/repair.err"
    [ "$rc" = "$want" ] || die "verify --repair exited $rc, expected $want"
    grep -q '^repaired: ' "$T/repair.out" || die "verify --repair printed no summary"
}

step "a sound store: the repair changes nothing a user sees"
describe_all "$T/before"
repair 0
compgen -G "$STORE/meta/data.mdb.damaged-*" >/dev/null || die "the old file was not kept"
describe_all "$T/after"
diff -u "$T/before" "$T/after" || die "the repair of a sound store changed what describe shows"
assert_verify_ok
check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"
describe_all "$T/before" # (the restores recorded volumes)
repair 0
describe_all "$T/after"
diff -u "$T/before" "$T/after" || die "a second repair changed what describe shows"
[ ! -e "$STORE/meta/data.mdb.repair" ] || die "the repair left its new file behind"

step "the snapshots table's leaf page zeroed: the trees come back as recovered snapshots"
store_copy "$CRASH_BASE"
pg=$(python3 "$MDB_PAGES" list "$STORE/meta/data.mdb" | awk '$2 == "leaf" && $3 == "snapshots" { print $1; exit }')
[ -n "$pg" ] || die "no leaf page of the snapshots table"
dd if=/dev/zero of="$STORE/meta/data.mdb" bs=4096 seek="$pg" count=1 conv=notrunc status=none
expect_fail Store.Corrupt 1 bs verify
repair 1
grep -q "^snapshot $S2: image $AMI maps /dev/xvda to this snapshot, whose record was lost" "$T/repair.out" ||
    die "the repair did not name the image's lost snapshot"
grep -q "^snapshot $S3: volume vol-.*: its last snapshot's record was lost" "$T/repair.out" ||
    die "the repair did not name the volume's lost last snapshot"
[ "$(grep -c ': recovered: a tree of ' "$T/repair.out")" = 3 ] || die "not 3 trees recovered"
assert_verify_ok
bs describe-snapshots >"$T/snaps.json"
python3 -c '
import json, sys
for s in json.load(open(sys.argv[1]))["Snapshots"]:
    assert s["Description"].startswith("recovered by a repair"), s
    assert s["State"] == "completed", s
    print(s["SnapshotId"], s["VolumeSizeBytes"])' "$T/snaps.json" >"$T/recovered"
while read -r id size; do
    restore "$id" "$T/r.img"
    found=""
    for ref in a1 a2 b; do
        if head -c "$size" "$T/$ref.ref" | cmp -s - "$T/r.img" &&
            [ -z "$(tail -c +$((size + 1)) "$T/$ref.ref" | tr -d '\0' | head -c 1)" ]; then
            found=$ref
        fi
    done
    [ -n "$found" ] || die "recovered snapshot $id restores as none of the volumes"
    info "$id ($size bytes) restores as $found"
done <"$T/recovered"
id=$(snapshot_create "$T/b.img")
restore_matches "$id" "$T/b.ref"
bs gc >/dev/null
assert_verify_ok

step "a damaged pack record header: skipped, named, the other snapshots unaffected"
store_copy "$CRASH_BASE"
cp -a "$CRASH_BASE" "$T/pre-s4"
head -c $((4 << 20)) /dev/urandom >"$T/d.img"
before=$(store_bytes)
S4=$(snapshot_create "$T/d.img")
# a data record in the middle of what S4 appended: its chunk id's first byte
read -r pack off < <(python3 - "$STORE" "$before" <<'EOF'
import os, struct, sys
store, before = sys.argv[1], int(sys.argv[2])
packs = sorted(os.listdir(os.path.join(store, "packs")))
# the bytes S4 appended: past `before` in the packs' total, counted in order
seen = 0
for name in packs:
    path = os.path.join(store, "packs", name)
    data = open(path, "rb").read()
    off, recs = 32, []
    while off + 48 <= len(data):
        magic, flags, _, _, stored = struct.unpack_from("<IHH16sI", data, off)
        if magic != 0x43525342:
            break
        recs.append((off, flags))
        off += 48 + stored
    mine = [r for r in recs if seen + r[0] >= before and not r[1] & 2]
    if mine:
        print(int(name.split(".")[0]), mine[len(mine) // 2][0])
        break
    seen += len(data)
EOF
)
[ -n "$off" ] || die "no record of S4 found in the packs"
python3 - "$STORE/packs/$(printf '%08d' "$pack").pack" "$off" <<'EOF' || die "cannot damage the record"
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off + 8)
    b = f.read(1)
    f.seek(off + 8)
    f.write(bytes([b[0] ^ 0x10]))
EOF
repair 1
grep -q "^pack $pack offset $off: 1 damaged record skipped" "$T/repair.out" ||
    die "the repair did not name the damaged record (pack $pack offset $off)"
grep -q "^snapshot $S4: 1 block-map page or chunk missing or damaged" "$T/repair.out" ||
    die "the repair did not name the snapshot that used it"
expect_fail Store.Corrupt 1 bs verify
grep -q "^snapshot $S4 " "$T/fail.stdout" || die "verify did not name $S4"
! grep -q "^snapshot $S1 \|^snapshot $S2 \|^snapshot $S3 " "$T/fail.stdout" ||
    die "verify named an undamaged snapshot"
check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"
expect_fail Store.Corrupt 1 bs create-volume --snapshot-id "$S4" --path "$T/r4.img"
[ ! -e "$T/r4.img" ] || die "a failed restore left a file"

if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null 2>&1; then
    # shellcheck source=../lib/fuse-functions.sh
    source "$TESTS_LIB_DIR/fuse-functions.sh"
    step "a mount serving the store: the repair is refused, nothing changes"
    store_copy "$CRASH_BASE"
    mkdir -p "$T/mnt"
    fuse_mount "$T/mnt"
    cp "$STORE/meta/data.mdb" "$T/mdb.before"
    expect_fail Store.Busy 1 bs verify --repair
    stderr_contains "another process has its metadata open"
    cmp "$T/mdb.before" "$STORE/meta/data.mdb" || die "a refused repair changed data.mdb"
    ! compgen -G "$STORE/meta/data.mdb.*" || die "a refused repair left files in meta/"
    cmp "$T/a1.ref" "$T/mnt/snapshots/$S1.img" || die "the mount read wrong after a refused repair"
    fuse_unmount "$T/mnt"
    repair 0
fi

step "a refcount flipped to 0 (the file's structure sound): gc removes nothing, the repair fixes it"
store_copy "$CRASH_BASE"
pg=$(python3 "$MDB_PAGES" list "$STORE/meta/data.mdb" | awk '$2 == "leaf" && $3 == "chunks" { print $1; exit }')
python3 - "$STORE/meta/data.mdb" "$pg" <<'EOF'
import struct, sys
path, pg = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(pg * 4096)
    page = bytearray(f.read(4096))
    node = struct.unpack_from("<H", page, 16)[0]          # node 0
    ksize = struct.unpack_from("<H", page, node + 6)[0]   # 16: a chunk id
    struct.pack_into("<Q", page, node + 8 + ksize + 24, 0)  # its refcount
    f.seek(pg * 4096)
    f.write(page)
EOF
cp "$STORE/meta/data.mdb" "$T/mdb.before"
bytes=$(store_bytes)
expect_fail Store.Corrupt 1 bs gc
stderr_contains "the chunk index is damaged" "nothing was removed" "verify --repair"
cmp -s "$T/mdb.before" "$STORE/meta/data.mdb" || die "a refused gc changed data.mdb"
assert_eq "$(store_bytes)" "$bytes" "a refused gc changed the packs"
expect_fail Store.Corrupt 1 bs verify
grep -q "refcount" "$T/fail.stdout" || die "verify did not name the refcount"
repair 0
assert_verify_ok
bs gc >/dev/null
check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"

step "an index entry's offset changed (the file's structure sound): gc removes nothing"
store_copy "$CRASH_BASE"
pg=$(python3 "$MDB_PAGES" list "$STORE/meta/data.mdb" | awk '$2 == "leaf" && $3 == "chunks" { print $1; exit }')
python3 - "$STORE/meta/data.mdb" "$pg" <<'EOF'
import struct, sys
path, pg = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(pg * 4096)
    page = bytearray(f.read(4096))
    node = struct.unpack_from("<H", page, 16)[0]
    ksize = struct.unpack_from("<H", page, node + 6)[0]
    off = node + 8 + ksize + 8                      # the entry's record offset
    struct.pack_into("<Q", page, off, struct.unpack_from("<Q", page, off)[0] + 16)
    f.seek(pg * 4096)
    f.write(page)
EOF
cp "$STORE/meta/data.mdb" "$T/mdb.before"
bytes=$(store_bytes)
expect_fail Store.Corrupt 1 bs gc
stderr_contains "which does not hold it" "nothing was removed"
cmp -s "$T/mdb.before" "$STORE/meta/data.mdb" || die "a refused gc changed data.mdb"
assert_eq "$(store_bytes)" "$bytes" "a refused gc changed the packs"
repair 0
bs gc >/dev/null
assert_verify_ok
check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"

# killed_check: after a killed repair, data.mdb is the damaged file byte for
# byte (verify still names the damage) or a whole new one (verify passes);
# the repair run again succeeds and every snapshot restores.
killed_check() {
    local rc=0
    bs verify >"$T/v.out" 2>&1 || rc=$?
    if cmp -s "$T/damaged.mdb" "$STORE/meta/data.mdb"; then
        [ "$rc" = 1 ] || die "verify passed on the old, damaged file"
        OLD=$((OLD + 1))
    else
        [ "$rc" = 0 ] || { cat "$T/v.out"; die "after a killed repair, data.mdb is neither the old file nor a sound new one"; }
        NEW=$((NEW + 1))
    fi
    repair "$1"
    assert_verify_ok
    check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"
}

step "killed at its fault points and at random moments"
# the damage: one leaf of the chunk table, so that nothing is lost and
# the repair exits 0
store_copy "$CRASH_BASE"
pg=$(python3 "$MDB_PAGES" list "$STORE/meta/data.mdb" | awk '$2 == "leaf" && $3 == "chunks" { print $1; exit }')
dd if=/dev/zero of="$STORE/meta/data.mdb" bs=4096 seek="$pg" count=1 conv=notrunc status=none
cp "$STORE/meta/data.mdb" "$T/damaged.mdb"
store_snapshot_to "$T/damaged-base"
OLD=0 NEW=0 LANDED=0
for spec in fault:meta-commit:1 fault:repair-swap:1; do
    store_copy "$T/damaged-base"
    run_killed "$spec" verify --repair
    [ "$KILLED_RC" = 137 ] || die "the kill at $spec did not land (exit $KILLED_RC)"
    killed_check 0
done
[ "$OLD" = 2 ] || die "a repair killed before its rename changed data.mdb"
start=$(now_ns)
store_copy "$T/damaged-base"
repair 0
took=$((($(now_ns) - start) / 1000))
info "a repair takes ${took} us here"
for i in $(seq 1 10); do
    store_copy "$T/damaged-base"
    run_killed "time:$(python3 -c "import random; print('%.4f' % random.uniform(0, $took / 1e6))")" verify --repair
    [ "$KILLED_RC" != 137 ] || LANDED=$((LANDED + 1))
    killed_check 0
done
step "repair: sound store unchanged; 3 trees recovered; damaged record skipped and named;" \
    "refused under a mount; gc refused on a zeroed refcount; 2 kills at fault points, $LANDED of 10 at random moments landed;" \
    "$OLD left the old file, $NEW the new one, all repaired again"
