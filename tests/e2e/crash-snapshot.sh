#!/usr/bin/env bash
# Crash safety of create-snapshot: SIGKILL an incremental snapshot at 50
# points: every passage of the rare fault points (pack-append, pack-sync,
# snapshot-batch, meta-commit) and spread passages of the per-record one on
# 16 MiB volumes, then random moments of the real process on 64 MiB ones.
# After each kill: verify passes, every earlier snapshot restores
# byte-identical, the snapshot taken again succeeds and restores identical,
# and after gc the store holds no more pack bytes than a control store
# where the kill never happened.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/crash-functions.sh
source "$(dirname "$0")/../lib/crash-functions.sh"
requires python3 cmp timeout

# setup MIB: the base store, and A3 (half of A rewritten) to snapshot.
setup() {
    crash_setup "$1"
    dd if=/dev/urandom of="$T/a.img" bs=64K seek=$(($1 * 4)) count=$(($1 * 8)) \
        conv=notrunc status=none
    cp "$T/a.img" "$T/a3.ref"
    CRASH_ARGS=(create-snapshot --volume "$T/a.img" --threads 1 --quiet)
}

crash_check_killed() {
    local id state
    check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"
    # A kill after the final commit leaves the new snapshot completed: then
    # it must be whole.  Whatever else a kill left is pending, never
    # completed and partial.
    while read -r id state; do
        case $id in "$S1" | "$S2" | "$S3") continue ;; esac
        [ "$state" = completed ] || continue
        restore_matches "$id" "$T/a3.ref"
    done < <(snapshot_states)
}

crash_rerun() {
    local id
    id=$(snapshot_create "$T/a.img" --threads 1)
    restore_matches "$id" "$T/a3.ref"
}

setup 16
crash_run "create-snapshot (16 MiB, fault points)" $((${CRASH_POINTS:-50} * 4 / 5)) 0 \
    pack-record pack-append pack-sync snapshot-batch meta-commit
setup "${CRASH_BIG_MIB:-64}"
crash_run "create-snapshot (${CRASH_BIG_MIB:-64} MiB, random moments)" 0 \
    "$(crash_time_points "${CRASH_POINTS:-50}")"
crash_summary create-snapshot "${CRASH_POINTS:-50}"
