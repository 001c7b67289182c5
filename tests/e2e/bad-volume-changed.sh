#!/usr/bin/env bash
# A volume that shrinks, grows or is replaced by another file while it is
# snapshotted: create-snapshot fails with VolumeChanged (exit 1) and the
# store is as before (no new or pending snapshot, verify passes, gc takes
# the pack bytes back).  It used to "complete" a snapshot of the old size
# whose missing end read as zeros, matching neither before nor after.  The
# snapshot stops itself at a fault point (BLOCKSNAP_FAULT=snapshot-item:N:stop)
# so that the change lands in the middle of the reads every time.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp
requires_faults # the snapshot stops itself at a fault point

head -c $((1 << 20)) /dev/urandom >"$T/small.img"
snapshot_create "$T/small.img" >/dev/null
store_state >"$T/state.before"
bytes_before=$(store_bytes)

step "a 64 MiB volume of random data"
head -c $((64 << 20)) /dev/urandom >"$T/orig.img"

# change_midway WHAT: snapshot vol.img with one worker, stop it after its
# third item (about 6 MiB in, most of the volume not read yet), do WHAT to
# the volume, let it go on; expect VolumeChanged and an unchanged store.
change_midway() {
    local what=$1 pid i state rc=0
    cp "$T/orig.img" "$T/vol.img"
    BLOCKSNAP_FAULT=snapshot-item:3:stop "$BLOCKSNAP" --store "$STORE" create-snapshot \
        --volume "$T/vol.img" --threads 1 >"$T/snap.out" 2>"$T/snap.err" &
    pid=$!
    on_cleanup_pid "$pid"
    for ((i = 0; i < 3000; i++)); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || break
        [ "$state" = T ] && break
        sleep 0.01
    done
    [ "$state" = T ] || die "create-snapshot did not stop at the fault point"
    eval "$what"
    kill -CONT "$pid"
    wait "$pid" || rc=$?
    cat "$T/snap.err"
    _check_sanitizer "$T/snap.err" "create-snapshot of a changing volume"
    assert_eq "$rc" 1 "exit status of a snapshot of a volume changed mid-way ($what)"
    grep -q '^blocksnap: error: .*(VolumeChanged)$' "$T/snap.err" || die "no VolumeChanged error"
    grep -qF "$T/vol.img" "$T/snap.err" || die "the message does not name the volume"
    [ ! -s "$T/snap.out" ] || die "a failed create-snapshot printed a result: $(cat "$T/snap.out")"
    assert_store_unchanged "$T/state.before"
    bs gc >/dev/null
    assert_eq "$(store_bytes)" "$bytes_before" "PackBytes after gc"
}

step "truncated to 4 MiB mid-snapshot"
change_midway 'truncate -s 4M "$T/vol.img"'
grep -q "shrank" "$T/snap.err" || die "the message does not say it shrank"

step "truncated to 32 MiB mid-snapshot"
change_midway 'truncate -s 32M "$T/vol.img"'
grep -q "shrank" "$T/snap.err" || die "the message does not say it shrank"

step "grown to 100 MiB mid-snapshot"
change_midway 'truncate -s 100M "$T/vol.img"'
grep -q "grew" "$T/snap.err" || die "the message does not say it grew"

step "replaced by another file mid-snapshot"
head -c $((64 << 20)) /dev/urandom >"$T/other.img"
change_midway 'mv "$T/other.img" "$T/vol.img"'
grep -q "replaced" "$T/snap.err" || die "the message does not say it was replaced"

step "left alone, the same snapshot completes and restores"
cp "$T/orig.img" "$T/vol.img"
snap=$(snapshot_create "$T/vol.img" --threads 1)
restore "$snap" "$T/r.img"
assert_same_file "$T/orig.img" "$T/r.img" "snapshot of the unchanged volume"
assert_verify_ok
