#!/usr/bin/env bash
# Crash safety of an encrypted create-snapshot: the first encrypted
# snapshot of a volume whose earlier snapshots are plain (a new lineage:
# its data key is made and recorded before the first sealed record), killed
# at the engine's fault points and at random moments.  After each kill:
# verify passes, every earlier snapshot restores byte-identical, a
# completed snapshot the kill left is whole and encrypted, the snapshot
# taken again succeeds, is encrypted and restores identical, and gc (which
# opens the lineage the killed run recorded) gives back every byte the
# killed run wrote: no more pack bytes than a control store where the kill
# never happened.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/crash-functions.sh
source "$(dirname "$0")/../lib/crash-functions.sh"
requires python3 cmp timeout

export BLOCKSNAP_KEY_DIR=$T/keys

# restore_encrypted ID REF: ID is encrypted and restores as REF.
restore_encrypted() {
    [ "$(bs describe-snapshots --snapshot-ids "$1" | json_get Snapshots.0.Encrypted)" = true ] ||
        die "snapshot $1 is not encrypted"
    restore_matches "$1" "$2"
}

crash_check_killed() {
    local id state
    check_earlier "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"
    while read -r id state; do
        case $id in "$S1" | "$S2" | "$S3") continue ;; esac
        [ "$state" = completed ] || continue
        restore_encrypted "$id" "$T/a3.ref"
    done < <(snapshot_states)
}

crash_rerun() {
    local id
    id=$(snapshot_create "$T/a.img" --threads 1 --encrypted)
    restore_encrypted "$id" "$T/a3.ref"
}

crash_setup 16
dd if=/dev/urandom of="$T/a.img" bs=64K seek=64 count=128 conv=notrunc status=none
cp "$T/a.img" "$T/a3.ref"
CRASH_ARGS=(create-snapshot --volume "$T/a.img" --threads 1 --encrypted --quiet)
crash_run "encrypted create-snapshot (16 MiB)" $((${CRASH_POINTS:-20} * 3 / 4)) \
    "$(crash_time_points $((${CRASH_POINTS:-20} / 4)))" \
    pack-record pack-append pack-sync snapshot-batch meta-commit
crash_summary "encrypted create-snapshot" "${CRASH_POINTS:-20}"
