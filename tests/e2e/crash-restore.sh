#!/usr/bin/env bash
# Crash safety of create-volume (restore): SIGKILL the restore of S2 at 50
# points: spread passages of the per-chunk fault point (restore-chunk), the
# commits (the reader's pin, the volume record), and random moments of the
# real process on bigger volumes.  After each kill: verify passes (a pin
# the dead process left still counts as a reference), every snapshot
# restores byte-identical, the target path is either absent or whole (the
# file is renamed into place only when complete), the restore run again
# succeeds, and gc (which reaps the dead pin) leaves the store no larger
# than before.  Temporary files a SIGKILL leaves next to the target (it
# cannot remove them) are counted and reported.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/crash-functions.sh
source "$(dirname "$0")/../lib/crash-functions.sh"
requires python3 cmp timeout

mkdir -p "$T/out"
setup() {
    crash_setup "$1"
    CRASH_ARGS=(create-volume --snapshot-id "$S2" --path "$T/out/vol.img" --force --quiet)
}

crash_prepare() {
    rm -rf "$T/out"
    mkdir -p "$T/out"
    store_copy "$CRASH_BASE"
}

crash_check_killed() {
    local left
    check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"
    if [ -e "$T/out/vol.img" ]; then
        cmp "$T/a2.ref" "$T/out/vol.img" || die "a killed restore left a partial $T/out/vol.img"
    fi
    left=$(find "$T/out" -name '.vol.img.blocksnap-*' | wc -l)
    echo "temporary files left: $left"
}

crash_rerun() {
    bs "${CRASH_ARGS[@]}" >/dev/null
    cmp "$T/a2.ref" "$T/out/vol.img" || die "the restore run again is not S2"
    [ "$(find "$T/out" -type f -name 'vol.img' | wc -l)" -eq 1 ] || die "no vol.img"
}

setup 16
crash_run "create-volume (16 MiB, fault points)" $((${CRASH_POINTS:-50} * 4 / 5)) 0 \
    restore-chunk restore-batch meta-commit
setup "${CRASH_BIG_MIB:-64}"
crash_run "create-volume (${CRASH_BIG_MIB:-64} MiB, random moments)" 0 \
    "$(crash_time_points "${CRASH_POINTS:-50}")"
crash_summary create-volume "${CRASH_POINTS:-50}"
