#!/usr/bin/env bash
# Ctrl-C (SIGINT) in the middle of a snapshot of a large image: blocksnap
# stops, says it was interrupted, exits 1, and the store is as before (no
# new or pending snapshot, verify passes) and so are its packs: the chunks
# it had written, committed batches included, are given back at once, not
# left for gc.  The same for a restore: no partial file is left.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

head -c $((1 << 20)) /dev/urandom >"$T/small.img"
snap0=$(snapshot_create "$T/small.img")
store_state >"$T/state.before"
bytes_before=$(store_bytes)

pack_total() {
    local t=0 f
    for f in "$STORE"/packs/*; do
        t=$((t + $(stat -c %s "$f")))
    done
    echo "$t"
}

# interrupt_when PID CONDITION: wait until the shell CONDITION holds (the
# command is busy writing), then send SIGINT to PID and wait for it; its
# exit status is left in $rc.
interrupt_when() {
    local pid=$1 cond=$2 i
    for ((i = 0; i < 3000; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        if eval "$cond"; then
            kill -INT "$pid"
            break
        fi
        sleep 0.02
    done
    rc=0
    wait "$pid" || rc=$?
}

# interrupt_stopped PID: the process stopped itself at a fault point
# (BLOCKSNAP_FAULT=POINT:N:stop); send SIGINT while it is stopped, then let
# it go on, so the interrupt lands in the middle of the work every time.
interrupt_stopped() {
    local pid=$1 i state
    for ((i = 0; i < 3000; i++)); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || break
        if [ "$state" = T ]; then
            kill -INT "$pid"
            kill -CONT "$pid"
            break
        fi
        sleep 0.01
    done
    rc=0
    wait "$pid" || rc=$?
}

step "a 256 MiB image of random data"
head -c $((256 << 20)) /dev/urandom >"$T/big.img"

step "SIGINT during create-snapshot, after several batches were committed"
start=$(pack_total)
du_before=$(du -sk "$STORE/packs" | cut -f1)
# Job control on: a background job of a script would otherwise start with
# SIGINT ignored, unlike a command a user runs and presses Ctrl-C in.
set -m
"$BLOCKSNAP" --store "$STORE" create-snapshot --volume "$T/big.img" --threads 1 \
    >"$T/snap.out" 2>"$T/snap.err" &
pid=$!
set +m
on_cleanup_pid "$pid"
# Past 100 MiB: at least one commit batch (64 MiB) is in the index.
# shellcheck disable=SC2016 # evaluated later, on purpose
interrupt_when "$pid" 'grown=$(pack_total); [ "$grown" -gt $((start + (100 << 20))) ]'
cat "$T/snap.err"
_check_sanitizer "$T/snap.err" "interrupted create-snapshot"
info "exit status $rc; packs had grown by $((grown - start)) bytes when it was interrupted"
[ "$rc" -ne 0 ] || die "create-snapshot finished before the interrupt could reach it"
assert_eq "$rc" 1 "exit status of an interrupted create-snapshot"
grep -q '^blocksnap: error: ' "$T/snap.err" || die "no error line"
grep -qiE 'interrupt|cancel' "$T/snap.err" || die "the message does not say it was interrupted"
[ ! -s "$T/snap.out" ] || die "an interrupted create-snapshot printed a result: $(cat "$T/snap.out")"

step "the store and its packs are as before, without gc"
assert_eq "$(pack_total)" "$start" "pack bytes after the interrupt"
# (allocation: the file system may keep a block or two of a cut-back file)
assert_le "$(du -sk "$STORE/packs" | cut -f1)" $((du_before + 16)) "KiB of packs/ (du) after the interrupt"
assert_eq "$(store_bytes)" "$bytes_before" "PackBytes after the interrupt"
assert_store_unchanged "$T/state.before"
bs gc --max-unused 0 >/dev/null # every dead byte
assert_eq "$(store_bytes)" "$bytes_before" "PackBytes after gc"
assert_store_unchanged "$T/state.before"

step "the same snapshot, uninterrupted, works"
snap1=$(snapshot_create "$T/big.img")
restore "$snap1" "$T/r1.img"
assert_same_file "$T/big.img" "$T/r1.img" "snapshot after an interrupted one"
rm -f "$T/r1.img"
store_state >"$T/state.before"

if has_faults; then # the interrupt lands at a fault point of a test build
    step "SIGINT during create-volume leaves no partial file"
    mkdir -p "$T/out"
    set -m
    BLOCKSNAP_FAULT=restore-batch:8:stop "$BLOCKSNAP" --store "$STORE" create-volume \
        --snapshot-id "$snap1" --path "$T/out/restore.img" >"$T/cv.out" 2>"$T/cv.err" &
    pid=$!
    set +m
    on_cleanup_pid "$pid"
    interrupt_stopped "$pid"
    cat "$T/cv.err"
    _check_sanitizer "$T/cv.err" "interrupted create-volume"
    info "exit status $rc"
    [ "$rc" -ne 0 ] || die "create-volume finished before the interrupt could reach it"
    assert_eq "$rc" 1 "exit status of an interrupted create-volume"
    grep -qiE 'interrupt|cancel' "$T/cv.err" || die "the message does not say it was interrupted"
    left=$(find "$T/out" -type f | wc -l)
    assert_eq "$left" 0 "files left by the interrupted restore"
    assert_store_unchanged "$T/state.before"
fi

step "the first snapshot is still whole"
restore "$snap0" "$T/r0.img"
assert_same_file "$T/small.img" "$T/r0.img" "first snapshot after the interrupts"
