#!/usr/bin/env bash
# Crash safety of gc: SIGKILL a gc with real work (S2 deleted, and a
# snapshot abandoned by a kill before its final commit: a pending record,
# orphan pages and chunks, a pack tail) at 50 points: every passage of its
# commits and steps (gc-step, meta-commit, pack-append, pack-sync), spread
# passages of the per-record (pack-record, packs rewritten) and per-release
# (index-decref, orphans released) points, and random moments of the real
# process on bigger volumes.  After each kill: verify passes, S1 and S3
# restore byte-identical, gc run again succeeds, and the store is no larger
# than after one uninterrupted gc.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/crash-functions.sh
source "$(dirname "$0")/../lib/crash-functions.sh"
requires python3 cmp timeout

setup() {
    crash_setup "$1"
    # The work for gc: S2 deleted, and A3 snapshotted by a run killed at its
    # final commit.
    bs delete-snapshot --snapshot-id "$S2" >/dev/null
    dd if=/dev/urandom of="$T/a.img" bs=64K seek=$(($1 * 4)) count=$(($1 * 8)) \
        conv=notrunc status=none
    run_killed fault:meta-commit:3 create-snapshot --volume "$T/a.img" --threads 1 --quiet
    assert_eq "$KILLED_RC" 137 "the abandoning kill"
    snapshot_states | grep -q ' pending$' || die "no pending snapshot to abandon"
    assert_verify_ok
    store_snapshot_to "$CRASH_BASE"
    info "gc's work: S2 deleted, $(snapshot_states | grep -c ' pending$') abandoned pending snapshot"
    CRASH_ARGS=(gc --max-unused 0) # every pack with a dead byte is rewritten
}

crash_check_killed() {
    check_earlier "$S1=$T/a1.ref" "$S3=$T/b.ref"
    ! snapshot_states | grep -q "^$S2 " || die "S2 came back"
}

crash_rerun() {
    bs gc --max-unused 0 >/dev/null
    check_earlier "$S1=$T/a1.ref"
}

setup 16
crash_run "gc (16 MiB, fault points)" $((${CRASH_POINTS:-50} * 4 / 5)) 0 \
    gc-step meta-commit pack-append pack-sync pack-record index-decref
setup "${CRASH_BIG_MIB:-64}"
crash_run "gc (${CRASH_BIG_MIB:-64} MiB, random moments)" 0 "$(crash_time_points "${CRASH_POINTS:-50}")"
crash_summary gc "${CRASH_POINTS:-50}"
