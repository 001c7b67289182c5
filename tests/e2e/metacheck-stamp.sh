#!/usr/bin/env bash
# The structure check of meta/data.mdb walks the file only when it is not
# the one the last checked writer left (meta/checked, see
# docs/reliability.md, "The verified state"): a write after an unchanged
# file does not walk; damage made after that in a page the write does not
# touch (a leaf of the chunk table, under create-tags) is still found: the
# next write walks and is refused, the file stays byte for byte, verify
# names the page.  Once the bytes are put back, the next write walks (the
# walk that found the damage removed the stamp) and the one after it does
# not.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

step "a store with a snapshot: its writer left a stamp"
head -c $((4 << 20)) /dev/urandom >"$T/vol.img"
snap=$(snapshot_create "$T/vol.img")
[ -f "$STORE/meta/checked" ] || die "no meta/checked after a write"

# tag N: create-tags on the snapshot, with the meta debug lines in $T/tag.err
tag() {
    BLOCKSNAP_DEBUG=meta bs create-tags --resources "$snap" --tags "Key=k,Value=$1" 2>"$T/tag.err"
}
walked() { ! grep -q 'the structure check does not walk' "$T/tag.err"; }

step "a write on the unchanged file does not walk it"
tag 1
walked && die "create-tags walked an unchanged file"

step "damage in a page create-tags does not touch: the next write walks, is refused"
page=$(python3 "$TESTS_LIB_DIR/mdb-pages.py" list "$STORE/meta/data.mdb" | awk '$3 == "chunks" && $2 == "leaf" { print $1; exit }')
[ -n "$page" ] || die "no leaf page of the chunk table"
info "damaging mp_lower of page $page (table chunks)"
poke() {
    python3 - "$STORE/meta/data.mdb" "$page" "$1" <<'PY'
import struct, sys
path, page, value = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "r+b") as f:
    psize = struct.unpack_from("<I", f.read(64), 40)[0]
    f.seek(page * psize + 12)
    if value == "get":
        print(struct.unpack("<H", f.read(2))[0])
    else:
        f.write(struct.pack("<H", int(value)))
PY
}
lower=$(poke get)
poke 4000
cp "$STORE/meta/data.mdb" "$T/damaged.mdb"
expect_fail Store.Corrupt 1 bs create-tags --resources "$snap" --tags Key=k,Value=2
stderr_contains "data.mdb is damaged" "page $page (table chunks): mp_lower 4000"
cmp "$STORE/meta/data.mdb" "$T/damaged.mdb" || die "a write went into the damaged file"
[ ! -e "$STORE/meta/checked" ] || die "the stamp survived the walk that found damage"
rc=0
bs verify >"$T/verify.out" || rc=$?
sed 's/^/   | /' "$T/verify.out"
assert_eq "$rc" 1 "verify's exit on the damaged file"
grep -qF "page $page (table chunks): mp_lower 4000" "$T/verify.out" || die "verify does not name page $page"

step "the bytes put back: the next write walks, the one after it does not"
poke "$lower"
tag 3
walked || die "create-tags after the repair by hand did not walk"
tag 4
walked && die "create-tags on the file its predecessor left walked"
assert_verify_ok
