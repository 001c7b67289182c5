#!/usr/bin/env bash
# An NBD server that goes away in the middle of a snapshot, or answers its
# reads with errors: create-snapshot fails with an error naming the volume,
# exit 1, and the store is exactly as it was (no snapshot, no volume, the
# same pack bytes, verify clean), as with a file that vanishes.  Ctrl-C
# stops a snapshot whose server does not answer at all.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/nbd-functions.sh
source "$(dirname "$0")/../lib/nbd-functions.sh"
requires nbdkit nbdinfo python3

head -c $((2 << 20)) /dev/urandom >"$T/other.img"
snapshot_create "$T/other.img" >/dev/null
head -c $((32 << 20)) /dev/urandom >"$T/disk.raw"
store_state >"$T/state.before"
bytes=$(store_bytes)

# nbdkit_start SOCK ARGS...: nbdkit in the foreground on SOCK; $NBD_PID.
nbdkit_start() {
    local sock=$1
    shift
    rm -f "$sock"
    nbdkit -f -U "$sock" "$@" &
    NBD_PID=$!
    on_cleanup_pid "$NBD_PID"
    _wait_for "[ -S '$sock' ]" "$NBD_PID" "nbdkit"
}

step "the server is killed while the snapshot reads (nbdkit, delay filter)"
nbdkit_start "$T/slow.sock" --filter=delay file "$T/disk.raw" rdelay=50ms
uri="nbd+unix:///?socket=$T/slow.sock"
rc=0
bs create-snapshot --volume "$uri" >"$T/kill.stdout" 2>"$T/kill.stderr" &
snap_pid=$!
on_cleanup_pid "$snap_pid"
sleep 1.5
kill -0 "$snap_pid" 2>/dev/null || die "the snapshot ended before the server was killed"
kill -KILL "$NBD_PID"
wait "$NBD_PID" 2>/dev/null || true
wait "$snap_pid" || rc=$?
sed 's/^/   | /' "$T/kill.stderr"
assert_eq "$rc" 1 "exit status of a snapshot whose server went away"
grep -q "^blocksnap: error: volume $uri: .*(VolumeReadError)" "$T/kill.stderr" ||
    die "the error does not name the volume and VolumeReadError"
assert_store_unchanged "$T/state.before"
assert_eq "$(store_bytes)" "$bytes" "pack bytes after the failed snapshot"

step "the server answers reads with EIO (nbdkit, error filter)"
nbdkit_start "$T/err.sock" --filter=error file "$T/disk.raw" error-pread=EIO error-pread-rate=100%
expect_fail VolumeReadError 1 bs create-snapshot --volume "nbd+unix:///?socket=$T/err.sock"
stderr_contains "$T/err.sock" "read at offset"
nbd_stop
assert_store_unchanged "$T/state.before"
assert_eq "$(store_bytes)" "$bytes" "pack bytes after the failed snapshot"

step "Ctrl-C while the server does not answer (delay filter, 60 s a read): stops within seconds"
nbdkit_start "$T/hang.sock" --filter=delay file "$T/disk.raw" rdelay=60
# Job control on: a background job of a script would otherwise start with
# SIGINT ignored, unlike a command a user runs and presses Ctrl-C in.
set -m
"$BLOCKSNAP" --store "$STORE" create-snapshot --volume "nbd+unix:///?socket=$T/hang.sock" \
    >"$T/int.stdout" 2>"$T/int.stderr" &
snap_pid=$!
set +m
on_cleanup_pid "$snap_pid"
sleep 1.5
kill -0 "$snap_pid" 2>/dev/null || die "the snapshot ended before the interrupt"
kill -INT "$snap_pid"
t0=$(date +%s)
rc=0
wait "$snap_pid" || rc=$?
waited=$(($(date +%s) - t0))
sed 's/^/   | /' "$T/int.stderr"
_check_sanitizer "$T/int.stderr" "interrupted NBD snapshot"
info "exit status $rc after $waited s"
assert_eq "$rc" 1 "exit status of an interrupted NBD snapshot"
assert_le "$waited" 10 "seconds an interrupted snapshot took to stop"
grep -q "^blocksnap: error: interrupted" "$T/int.stderr" || die "the error does not say it was interrupted"
nbd_stop
assert_store_unchanged "$T/state.before"
assert_eq "$(store_bytes)" "$bytes" "pack bytes after the interrupted snapshot"

step "the same disk served whole snapshots and restores"
nbdkit_start "$T/ok.sock" file "$T/disk.raw"
s=$(snapshot_create "nbd+unix:///?socket=$T/ok.sock")
nbd_stop
restore "$s" "$T/restored.raw"
assert_same_file "$T/disk.raw" "$T/restored.raw" "restore after the failures"
