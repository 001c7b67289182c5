#!/usr/bin/env bash
# copy-robust: copy-image from a source region on another file system,
# killed at random moments, and run twice at once.
#   - the source region's store lives on a tmpfs (/dev/shm, which needs no
#     root) when that is another file system than the test's directory and
#     writable; else in a directory tree of its own beside $T (the test says
#     which it used)
#   - a two-volume image copied from there restores byte for byte
#   - kill -9 at COPY_KILLS random moments of a copy-image into a fresh
#     region (default 5; COPY_KILLS=20 for the full sweep), each followed
#     by the same command: verify clean after the kill and after the
#     resume, exactly one image and its two snapshots, the killed run's id
#     when it had answered, restores byte for byte
#   - the same copy-image (and the same copy-snapshot) run twice at the same
#     time, several rounds: both answer the same id, and the region holds
#     exactly one image, one copy of each snapshot (two runs that both found
#     no earlier copy each made one before the fix: duplicates, and a name
#     taken by "the other" image)
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp stat

unset BLOCKSNAP_STORE
B=$BLOCKSNAP

# ---- the source region, on another file system if we can ----
SRC_DIR=
if [ -d /dev/shm ] && [ -w /dev/shm ] &&
    [ "$(stat -f -c %T /dev/shm)" = tmpfs ] &&
    [ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$T")" ]; then
    SRC_DIR=$(mktemp -d /dev/shm/bsnap-copy-robust.XXXXXX)
    info "source region on a tmpfs: $SRC_DIR"
else
    SRC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bsnap-copy-robust-src.XXXXXX")
    info "no writable tmpfs of its own: source region in another directory tree: $SRC_DIR"
fi
on_cleanup rm -rf "$SRC_DIR"
"$B" configure set region.far.store_path "$SRC_DIR/far"
src() { "$B" --region far "$@"; }
dst() { "$B" --store "$STORE" "$@"; }
count() { dst "describe-$1" | json_get "$2.#"; }
snapshots_of() { # DESCRIBE_JSON: "DEVICE SNAP" lines
    python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["Images"][0]["BlockDeviceMappings"]:
    print(m["DeviceName"], m["Ebs"]["SnapshotId"])' "$1"
}
# check_image ID: its two devices restore as the source volumes.
check_image() {
    local dev snap
    dst describe-images --image-ids "$1" >"$T/d.json"
    snapshots_of "$T/d.json" >"$T/m"
    while read -r dev snap; do
        restore "$snap" "$T/check.img"
        case $dev in
        /dev/xvda) cmp "$T/root.img" "$T/check.img" || die "$snap ($dev) restores differently" ;;
        /dev/xvdb) cmp "$T/data.img" "$T/check.img" || die "$snap ($dev) restores differently" ;;
        *) die "unexpected device $dev" ;;
        esac
        rm -f "$T/check.img"
    done <"$T/m"
}

step "the source: a two-volume image on the other file system"
head -c $((96 << 20)) /dev/urandom >"$T/root.img"
python3 -c 'import sys; sys.stdout.write("".join("row %d of a table that compresses\n" % i for i in range(2000000))[: 48 << 20])' >"$T/data.img"
truncate -s 64M "$T/data.img"
src create-image --name machine --no-boot-check --volume "/dev/xvda=$T/root.img" \
    --volume "/dev/xvdb=$T/data.img" --quiet >"$T/i.json"
AMI=$(json_get ImageId "$T/i.json")
[ -f "$SRC_DIR/far/config" ] || die "the source region is not where its config says"
dst create-store >/dev/null
BASE=$T/dst-base
cp -a "$STORE" "$BASE"
fresh() {
    rm -rf "$STORE"
    cp -a "$BASE" "$STORE"
}
copy_argv=(copy-image --source-region far --source-image-id "$AMI" --name machine-copy --quiet)

step "an uninterrupted copy, timed, restores byte for byte"
t0=$(now_ns)
dst "${copy_argv[@]}" >"$T/c.json"
t1=$(now_ns)
ID=$(json_get ImageId "$T/c.json")
check_image "$ID"
assert_verify_ok
secs=$(python3 -c "print(max(0.05, ($t1 - $t0) / 1e9))")
info "one copy-image takes ${secs}s"

step "kill -9 at ${COPY_KILLS:-5} random moments, then the same command"
for t in $(python3 -c '
import random, sys
print(" ".join("%.3f" % random.uniform(0, float(sys.argv[1])) for _ in range(int(sys.argv[2]))))' \
    "$secs" "${COPY_KILLS:-5}"); do
    fresh
    rc=0
    "$B" --store "$STORE" "${copy_argv[@]}" >"$T/k.out" 2>"$T/k.err" &
    pid=$!
    on_cleanup_pid "$pid"
    sleep "$t"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    _check_sanitizer "$T/k.err" "killed copy-image (at ${t}s)"
    assert_verify_ok
    assert_le "$(count images Images)" 1 "images after the kill at ${t}s"
    dst "${copy_argv[@]}" >"$T/c.json"
    id=$(json_get ImageId "$T/c.json")
    [ ! -s "$T/k.out" ] || assert_eq "$id" "$(json_get ImageId "$T/k.out")" "id after a finished run"
    assert_eq "$(count images Images)" 1 "images after the resume (kill at ${t}s)"
    assert_eq "$(count snapshots Snapshots)" 2 "snapshots after the resume (kill at ${t}s)"
    assert_verify_ok
    check_image "$id"
    info "$(printf 'killed at %6ss: exit %3s, resumed as %s' "$t" "$rc" "$id")"
done

step "the same copy run twice at the same time: one image, one copy of each snapshot"
SNAP=$(src describe-snapshots | json_get Snapshots.0.SnapshotId)
for round in 1 2 3 4; do
    fresh
    for i in 1 2; do
        "$B" --store "$STORE" "${copy_argv[@]}" >"$T/ci$i.out" 2>"$T/ci$i.err" &
        echo $! >"$T/ci$i.pid"
        "$B" --store "$STORE" copy-snapshot --source-region far --source-snapshot-id "$SNAP" \
            --quiet >"$T/cs$i.out" 2>"$T/cs$i.err" &
        echo $! >"$T/cs$i.pid"
    done
    for f in ci1 ci2 cs1 cs2; do
        rc=0
        wait "$(cat "$T/$f.pid")" || rc=$?
        _check_sanitizer "$T/$f.err" "concurrent copy ($f, round $round)"
        [ "$rc" -eq 0 ] || die "round $round: $f exited $rc: $(cat "$T/$f.err")"
    done
    assert_eq "$(json_get ImageId "$T/ci1.out")" "$(json_get ImageId "$T/ci2.out")" \
        "round $round: both copy-image calls answer the same image"
    assert_eq "$(json_get SnapshotId "$T/cs1.out")" "$(json_get SnapshotId "$T/cs2.out")" \
        "round $round: both copy-snapshot calls answer the same copy"
    assert_eq "$(count images Images)" 1 "round $round: images"
    assert_eq "$(count snapshots Snapshots)" 3 "round $round: snapshots (two of the image, one copy)"
    assert_verify_ok
    info "round $round: $(json_get ImageId "$T/ci1.out") and $(json_get SnapshotId "$T/cs1.out"), once each"
done
check_image "$(json_get ImageId "$T/ci1.out")"
echo "copy-robust: OK"
