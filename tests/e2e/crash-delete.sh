#!/usr/bin/env bash
# Crash safety of delete-snapshot: SIGKILL the delete of S2 (whose unique
# chunks the refcount cascade frees) at 50 points: spread passages of the
# per-release fault point (index-decref), the commit (meta-commit), and
# random moments of the real process on bigger volumes.  After each kill:
# verify passes, S1 and S3 restore byte-identical, S2 is either whole or
# gone (never half freed), deleting it again succeeds (or says it is gone,
# when the kill came after the commit), and after gc the store is no
# larger than a control store where S2 was deleted without a kill.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/crash-functions.sh
source "$(dirname "$0")/../lib/crash-functions.sh"
requires python3 cmp timeout

setup() {
    crash_setup "$1"
    CRASH_ARGS=(delete-snapshot --snapshot-id "$S2")
}

crash_check_killed() {
    check_earlier "$S1=$T/a1.ref" "$S3=$T/b.ref"
    if snapshot_states | grep -q "^$S2 completed\$"; then
        restore_matches "$S2" "$T/a2.ref"
    else
        ! snapshot_states | grep -q "^$S2 " || die "S2 is left in a state other than completed"
    fi
}

crash_rerun() {
    if snapshot_states | grep -q "^$S2 "; then
        bs delete-snapshot --snapshot-id "$S2" >/dev/null
    else
        info "the killed delete had committed; deleting again says so"
        expect_fail InvalidSnapshot.NotFound 1 bs delete-snapshot --snapshot-id "$S2"
    fi
    ! snapshot_states | grep -q "^$S2 " || die "S2 is still there after the rerun"
    check_earlier "$S1=$T/a1.ref"
}

setup 16
crash_run "delete-snapshot (16 MiB, fault points)" $((${CRASH_POINTS:-50} * 4 / 5)) 0 \
    index-decref meta-commit
setup "${CRASH_BIG_MIB:-64}"
crash_run "delete-snapshot (${CRASH_BIG_MIB:-64} MiB, random moments)" 0 \
    "$(crash_time_points "${CRASH_POINTS:-50}")"
crash_summary delete-snapshot "${CRASH_POINTS:-50}"
