#!/usr/bin/env bash
# Crash safety of create-image: SIGKILL a create-image of two volumes
# (incremental snapshots of both, taken in parallel, then one register
# transaction) at 50 points: every passage of the rare fault points, spread
# passages of the per-record one, and random moments of the real process on
# bigger volumes.  After each kill: verify passes, every earlier snapshot
# restores byte-identical, and create-image is all or nothing: either the
# image is registered whole (its snapshots completed, restoring as the
# volumes), or no snapshot of the killed run is completed, and a gc right
# after the kill leaves exactly the earlier snapshots and no more record
# bytes than before the run.  Then create-image run again succeeds (or says
# the name is taken, when the kill came after the register commit), and
# after gc the store is no larger than a control store where create-image
# ran once without a kill.
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
    # record bytes (PackBytes less the pack headers) of the base store
    BASE_RECORDS=$(($(store_bytes) - 32 * $(store_field PackCount)))
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

crash_check_killed() {
    local id state dev records
    check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"
    image_snapshots >"$T/image.map"
    if [ -s "$T/image.map" ]; then
        info "the killed create-image had registered its image"
        assert_eq "$(wc -l <"$T/image.map")" 2 "mappings of the registered image"
        while read -r dev id; do
            case $dev in
            /dev/xvda) restore_matches "$id" "$T/a3.ref" ;;
            /dev/xvdb) restore_matches "$id" "$T/b2.ref" ;;
            *) die "unexpected device $dev" ;;
            esac
        done <"$T/image.map"
        return
    fi
    # No image: nothing the killed run took may be completed...
    while read -r id state; do
        case $id in "$S1" | "$S2" | "$S3") continue ;; esac
        [ "$state" = pending ] || die "snapshot $id of the killed run is $state, and no image"
    done < <(snapshot_states)
    # ...and gc takes the store back to where it was before the run.
    bs gc --max-unused 0 >/dev/null
    assert_verify_ok
    assert_eq "$(snapshot_states | tr '\n' ' ')" \
        "$(printf '%s completed\n' "$S1" "$S2" "$S3" | sort | tr '\n' ' ')" \
        "snapshots after the killed run and gc"
    records=$(($(store_bytes) - 32 * $(store_field PackCount)))
    assert_le "$records" "$BASE_RECORDS" "record bytes after the killed run and gc vs before it"
    echo "after the kill and gc: record bytes $records (before the run $BASE_RECORDS)"
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
