#!/usr/bin/env bash
# Corruption of pack files, one kind at a time, on a copy of the same store
# (three snapshots S1, S2 incremental on S1, S3 of another volume; packs of
# 4 MiB so there are several): a flipped payload byte, a flipped chunk id
# and a changed length in a record header, zeroed bytes in an LZ4 payload,
# a flipped byte of a block-map page, two damaged chunks at once, a pack
# truncated in the middle of a record, a deleted pack, and (not damage) a
# crashed writer's garbage tail.  For each: verify exits 1 and names every
# damaged chunk with its pack and offset and every damaged snapshot, and no
# undamaged one; verify --snapshot-id agrees per snapshot; a restore of a
# damaged snapshot fails naming chunk, pack and offset and leaves no file,
# one of an undamaged snapshot is byte-identical; through the FUSE view,
# reads fail with EIO on exactly the damaged chunks and return the right
# bytes everywhere else.  Every command runs under `timeout`: no hang.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp timeout
CORRUPT=$TESTS_LIB_DIR/corrupt.py
HAVE_FUSE=0
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null && command -v pgrep >/dev/null; then
    # shellcheck source=../lib/fuse-functions.sh
    source "$TESTS_LIB_DIR/fuse-functions.sh"
    HAVE_FUSE=1
fi
LIMIT=${CORRUPT_TIMEOUT:-300}

# tbs ARGS...: bs under timeout (a hang fails the test, exit 124)
tbs() {
    local rc=0
    BLOCKSNAP_WRAPPER="timeout -s KILL $LIMIT ${BLOCKSNAP_WRAPPER:-}" bs "$@" || rc=$?
    [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || die "blocksnap $* hung or crashed (exit $rc)"
    return "$rc"
}

step "a store of 4 MiB packs with S1, S2 (incremental) and S3"
bs create-store >/dev/null
sed -i 's/^pack-size .*/pack-size 4194304/' "$STORE/config"
{
    head -c $((8 << 20)) /dev/urandom
    python3 -c 'import sys; sys.stdout.write("".join("line %d of a text file\n" % i for i in range(250000))[: 4 << 20])'
    head -c $((4 << 20)) /dev/zero
} >"$T/a.img"
cp "$T/a.img" "$T/s1.ref"
S1=$(snapshot_create "$T/a.img")
python3 "$CORRUPT" pages "$STORE" | sort >"$T/pages.1"
dd if=/dev/urandom of="$T/a.img" bs=64K seek=32 count=32 conv=notrunc status=none
python3 -c 'import sys; sys.stdout.write("".join("changed line %d\n" % i for i in range(80000))[: 1 << 20])' |
    dd of="$T/a.img" bs=64K seek=144 conv=notrunc status=none
cp "$T/a.img" "$T/s2.ref"
S2=$(snapshot_create "$T/a.img")
python3 "$CORRUPT" pages "$STORE" | sort >"$T/pages.2"
head -c $((8 << 20)) /dev/urandom >"$T/b.img"
cp "$T/b.img" "$T/s3.ref"
S3=$(snapshot_create "$T/b.img")
python3 "$CORRUPT" pages "$STORE" | sort >"$T/pages.3"
assert_verify_ok
p1=$(paste -sd, "$T/pages.1")
p2=$(comm -13 "$T/pages.1" "$T/pages.2" | paste -sd,)
p3=$(comm -13 "$T/pages.2" "$T/pages.3" | paste -sd,)
for s in S1 S2 S3; do
    bs diff "${!s}" --output json >"$T/$s.diff.json"
done
python3 "$CORRUPT" manifest "$STORE" "$(store_field ChunkSize)" "$T/manifest.json" \
    "$S1=$T/s1.ref:$T/S1.diff.json:$p1" "$S2=$T/s2.ref:$T/S2.diff.json:$p2" \
    "$S3=$T/s3.ref:$T/S3.diff.json:$p3"
info "$(ls "$STORE/packs" | wc -l) packs; S1=$S1 S2=$S2 S3=$S3"
cp -a "$STORE" "$T/base"

CASES=(payload-flip header-id header-length lz4-zeroed page-flip two-places truncate delete
    tail-garbage)
tried=0
for c in "${CASES[@]}"; do
    step "$c"
    rm -rf "$STORE"
    cp -a "$T/base" "$STORE"
    info "$(python3 "$CORRUPT" damage "$T/manifest.json" "$STORE" "$c" "$T/case.json")"
    mapfile -t bad < <(json_get snapshots "$T/case.json" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))')
    rc=0
    tbs verify >"$T/verify.out" || rc=$?
    head -n 8 "$T/verify.out" | sed 's/^/   | /'
    if [ "${#bad[@]}" -gt 0 ] && [ -n "${bad[0]}" ]; then
        assert_eq "$rc" 1 "verify's exit status"
    else
        bad=()
        assert_eq "$rc" 0 "verify's exit status (nothing is damaged)"
    fi
    python3 "$CORRUPT" check-verify "$T/manifest.json" "$T/case.json" "$T/verify.out" ||
        die "$c: verify did not name the damage exactly"
    for s in S1 S2 S3; do
        id=${!s}
        damaged=0
        for b in "${bad[@]}"; do [ "$b" = "$id" ] && damaged=1; done
        rc=0
        tbs verify --snapshot-id "$id" >"$T/verify1.out" || rc=$?
        assert_eq "$rc" "$damaged" "verify --snapshot-id $s exit status"
        if [ "$damaged" = 1 ]; then
            expect_fail - 1 tbs create-volume --snapshot-id "$id" --path "$T/r.img"
            stderr_contains chunk pack offset
            [ ! -e "$T/r.img" ] || die "a failed restore left its file"
        else
            tbs create-volume --snapshot-id "$id" --path "$T/r.img" --force --quiet >/dev/null
            cmp "$T/r.img" "$T/$(tr S s <<<"$s").ref" || die "$c: undamaged $s restores wrong"
            rm -f "$T/r.img"
        fi
    done
    if [ "$HAVE_FUSE" = 1 ]; then
        mkdir -p "$T/mnt"
        fuse_mount "$T/mnt"
        for s in S1 S2 S3; do
            info "$(timeout -s KILL "$LIMIT" python3 "$CORRUPT" check-read "$T/manifest.json" \
                "$T/case.json" "${!s}" "$T/mnt/snapshots/${!s}.img")" || die "$c: FUSE reads of $s"
        done
        fuse_unmount "$T/mnt"
    fi
    tried=$((tried + 1))
done
[ "$HAVE_FUSE" = 1 ] || info "(no FUSE here: the reads through the mount were not checked)"
step "$tried kinds of pack corruption: all found and contained"
