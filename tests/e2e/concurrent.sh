#!/usr/bin/env bash
# Several processes on one store at once: two snapshot writers of different
# volumes, readers listing and restoring meanwhile, and a gc that runs while
# a snapshot is written.  Everything succeeds, every snapshot restores byte
# for byte, and verify passes.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

head -c $((48 << 20)) /dev/urandom >"$T/a.img"
head -c $((48 << 20)) /dev/urandom >"$T/b.img"
head -c $((4 << 20)) /dev/urandom >"$T/c.img"
snapc=$(snapshot_create "$T/c.img")
# garbage for the gc to collect while the writers run
head -c $((4 << 20)) /dev/urandom >"$T/d.img"
bs delete-snapshot --snapshot-id "$(snapshot_create "$T/d.img")" >/dev/null

# bg NAME ARGS...: run blocksnap in the background, output in $T/NAME.*
bg() {
    local name=$1
    shift
    "$BLOCKSNAP" --store "$STORE" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    echo $! >"$T/$name.pid"
    on_cleanup_pid "$(cat "$T/$name.pid")"
}
# fg_wait NAME: wait for it; fail the test unless it exited 0.
fg_wait() {
    local rc=0
    wait "$(cat "$T/$1.pid")" || rc=$?
    _check_sanitizer "$T/$1.err" "$1"
    if [ "$rc" -ne 0 ]; then
        cat "$T/$1.err"
        die "$1 exited $rc"
    fi
}

step "two writers, a gc and readers at the same time"
bg snapa create-snapshot --volume "$T/a.img" --quiet
bg snapb create-snapshot --volume "$T/b.img" --quiet
bg gc gc
for i in 1 2 3 4 5; do
    bs describe-snapshots >"$T/list$i.json"
    restore "$snapc" "$T/rc$i.img"
    cmp "$T/c.img" "$T/rc$i.img" || die "restore during writes"
done
fg_wait snapa
fg_wait snapb
fg_wait gc
snapa=$(json_get SnapshotId "$T/snapa.out")
snapb=$(json_get SnapshotId "$T/snapb.out")
info "writers made $snapa and $snapb; gc: $(tr -d '\n ' <"$T/gc.out")"
freed=$(json_get ChunksFreed "$T/gc.out")
[ "$freed" -ge 64 ] || die "the concurrent gc freed $freed chunks, expected the 64 of d.img"

step "everything restores"
for s in a b; do
    id=snap$s
    restore "${!id}" "$T/r$s.img"
    assert_same_file "$T/$s.img" "$T/r$s.img" "snapshot of $s.img written concurrently"
done
restore "$snapc" "$T/rc.img"
assert_same_file "$T/c.img" "$T/rc.img" "older snapshot after concurrent gc"
assert_verify_ok

step "a gc after the writers frees nothing that is used"
bs gc >/dev/null
for s in a b c; do
    id=snap$s
    restore "${!id}" "$T/r$s.img"
    assert_same_file "$T/$s.img" "$T/r$s.img" "snapshot of $s.img after gc"
done
assert_verify_ok
