#!/usr/bin/env bash
# Crash safety of create-image: SIGKILL a create-image of two volumes
# (incremental snapshots of both, taken in parallel, then one register
# transaction) at 50 points: every passage of the rare fault points, spread
# passages of the per-record one, and random moments of the real process on
# bigger volumes.  After each kill: verify passes, every earlier snapshot
# restores byte-identical, any snapshot the killed run completed is whole,
# the image is either registered whole or not at all, create-image run
# again succeeds (or says the name is taken, when the kill came after the
# register commit), and after gc the store is no larger than a control
# store where create-image ran once without a kill.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/crash-functions.sh
source "$(dirname "$0")/../lib/crash-functions.sh"
requires python3 cmp timeout
"$BLOCKSNAP" create-image --help >/dev/null 2>&1 || skip "this blocksnap has no create-image"

setup() {
    crash_setup "$1"
    dd if=/dev/urandom of="$T/a.img" bs=64K seek=$(($1 * 4)) count=$(($1 * 4)) \
        conv=notrunc status=none
    dd if=/dev/urandom of="$T/b.img" bs=64K seek=0 count=$(($1 * 4)) conv=notrunc status=none
    cp "$T/a.img" "$T/a3.ref"
    cp "$T/b.img" "$T/b2.ref"
    CRASH_ARGS=(create-image --name crash-test --volume "/dev/xvda=$T/a.img"
        --volume "/dev/xvdb=$T/b.img" --no-boot-check --threads 1)
}

# image_snapshots: the snapshot ids the image named crash-test maps, one
# per line (nothing when there is no such image).
image_snapshots() {
    bs describe-images --filters Name=name,Values=crash-test | python3 -c '
import json, sys
for im in json.load(sys.stdin)["Images"]:
    for m in im.get("BlockDeviceMappings", []):
        if "Ebs" in m:
            print(m["DeviceName"], m["Ebs"]["SnapshotId"])'
}

# a completed snapshot the killed run took must be A3 or B2, whole
check_new_snapshot() {
    restore "$1" "$T/check.img"
    cmp -s "$T/check.img" "$T/a3.ref" || cmp -s "$T/check.img" "$T/b2.ref" ||
        die "snapshot $1 left by the killed run is neither A3 nor B2"
    rm -f "$T/check.img"
}

crash_check_killed() {
    local id state dev
    check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"
    LEFT_SNAPSHOTS=0
    while read -r id state; do
        case $id in "$S1" | "$S2" | "$S3") continue ;; esac
        [ "$state" = completed ] || continue
        check_new_snapshot "$id"
        LEFT_SNAPSHOTS=$((LEFT_SNAPSHOTS + 1))
    done < <(snapshot_states)
    echo "completed snapshots the killed run left: $LEFT_SNAPSHOTS"
    image_snapshots >"$T/image.map"
    if [ -s "$T/image.map" ]; then
        assert_eq "$(wc -l <"$T/image.map")" 2 "mappings of the registered image"
        while read -r dev id; do
            case $dev in
            /dev/xvda) restore_matches "$id" "$T/a3.ref" ;;
            /dev/xvdb) restore_matches "$id" "$T/b2.ref" ;;
            *) die "unexpected device $dev" ;;
            esac
        done <"$T/image.map"
    fi
}

crash_rerun() {
    local dev id
    if [ -s "$T/image.map" ]; then
        info "the killed create-image had registered; running it again says so"
        expect_fail InvalidAMIName.Duplicate 1 bs "${CRASH_ARGS[@]}"
    else
        bs "${CRASH_ARGS[@]}" >/dev/null
    fi
    image_snapshots >"$T/image.map"
    assert_eq "$(wc -l <"$T/image.map")" 2 "mappings of the image after the rerun"
    while read -r dev id; do
        case $dev in
        /dev/xvda) restore_matches "$id" "$T/a3.ref" ;;
        /dev/xvdb) restore_matches "$id" "$T/b2.ref" ;;
        esac
    done <"$T/image.map"
}

setup 16
crash_run "create-image (16 MiB, fault points)" $((${CRASH_POINTS:-50} * 4 / 5)) 0 \
    pack-record pack-append pack-sync snapshot-batch meta-commit
setup "${CRASH_BIG_MIB:-64}"
crash_run "create-image (${CRASH_BIG_MIB:-64} MiB, random moments)" 0 \
    "$(crash_time_points "${CRASH_POINTS:-50}")"
crash_summary create-image "${CRASH_POINTS:-50}"
