#!/usr/bin/env bash
# verify catches one flipped byte in a pack file and exits 1, naming the
# damage; a restore that needs the damaged chunk fails (EIO) instead of
# returning wrong data and leaves no file behind.  Flipping the byte back
# makes the store whole again.  verify --output json says the same as one
# document.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

step "a volume of random (incompressible) data, snapshotted"
head -c $((24 << 20)) /dev/urandom >"$T/vol.img"
snap=$(snapshot_create "$T/vol.img")
assert_verify_ok

packs=("$STORE"/packs/*.pack)
[ ${#packs[@]} -ge 1 ] || die "no pack files in $STORE/packs"
pack=
size=0
for p in "${packs[@]}"; do
    if [ "$(stat -c %s "$p")" -gt "$size" ]; then
        pack=$p
        size=$(stat -c %s "$p")
    fi
done
off=$((size / 2))
info "flipping the byte at $off of $(basename "$pack") ($size bytes)"

flip() {
    python3 - "$pack" "$off" <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x01]))
PY
}
flip

step "verify finds it"
rc=0
bs verify >"$T/verify.out" || rc=$?
sed 's/^/   | /' "$T/verify.out"
assert_eq "$rc" 1 "verify exit status with a flipped byte"
grep -v '^verified ' "$T/verify.out" >"$T/problems" || die "verify printed no problem line"
grep -q '^verified .*: [1-9][0-9]* problems' "$T/verify.out" || die "verify's summary counts no problem"
grep -q 'pack [0-9]' "$T/problems" || die "the problem does not name the pack"

step "verify of the snapshot finds it too"
rc=0
bs verify --snapshot-id "$snap" >"$T/verify2.out" || rc=$?
sed 's/^/   | /' "$T/verify2.out"
assert_eq "$rc" 1 "verify --snapshot-id exit status"
grep -v '^verified ' "$T/verify2.out" | grep -q "$snap" || die "the problem does not name the snapshot"
grep -q '^verified 1 snapshot, ' "$T/verify2.out" || die "verify of one snapshot does not say '1 snapshot'"

step "verify --output json prints one document: the counts and the problems"
rc=0
bs --output json verify --snapshot-id "$snap" >"$T/verify.json" || rc=$?
assert_eq "$rc" 1 "verify --output json exit status"
python3 - "$T/verify.json" "$snap" <<'PY' || die "verify --output json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["SnapshotsChecked"] == 1, d
assert d["ProblemCount"] == len(d["Problems"]) >= 1, d
assert d["DamagedSnapshotCount"] == 1, d
assert d["ChunksChecked"] > 0 and d["BytesChecked"] > 0, d
assert all(p["Message"] for p in d["Problems"]), d
assert any(p.get("SnapshotId") == sys.argv[2] for p in d["Problems"]), d
assert any(p.get("Pack", -1) >= 0 and p.get("Offset", -1) >= 0 for p in d["Problems"]), d
PY

step "restore refuses to return damaged data"
expect_fail - 1 bs create-volume --snapshot-id "$snap" --path "$T/restored.img"
[ ! -e "$T/restored.img" ] || die "a failed restore left $T/restored.img"
leftovers=$(find "$T" -maxdepth 1 -name 'restored*' | wc -l)
assert_eq "$leftovers" 0 "files left by the failed restore"

step "flip it back: the store is whole"
flip
assert_verify_ok
bs verify --output json >"$T/clean.json"
assert_eq "$(json_get ProblemCount "$T/clean.json")" 0 "problems of a whole store (json)"
assert_eq "$(json_get Problems.# "$T/clean.json")" 0 "problem list of a whole store (json)"
restore "$snap" "$T/restored.img"
assert_same_file "$T/vol.img" "$T/restored.img" "restore after the repair"
