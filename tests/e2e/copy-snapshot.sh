#!/usr/bin/env bash
# copy-snapshot between two regions in one run: the source region
# us-east-1 (a named store under $XDG_DATA_HOME), the destination $STORE.
#   - a first copy restores byte for byte as the source and carries EC2's
#     description; the same command again returns the same id, reads nothing
#   - a second copy of a later snapshot (1 MiB of 24 changed) is incremental
#     against the first copy and reads only the changed chunks (counted)
#   - a copy within one store (as EC2's same-region copy) stores no data
#   - a missing source, a malformed id, a reused client token with other
#     parameters: clear errors, the destination unchanged
#   - kill -9 during a copy (at fault points: before and after the first
#     batch of chunks is committed, at the final commit; and at random
#     moments): verify is clean, the same command continues under the same
#     id (no duplicate), re-reads at most what the killed run had not
#     committed, and the copy restores byte for byte
# COPY_KILLS=N adds N random-moment kills (default 3; CI keeps it short).
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

SRC_STORE=$XDG_DATA_HOME/blocksnap/us-east-1
src() { STORE=$SRC_STORE bs --region us-east-1 "$@"; }
copy() { bs copy-snapshot --source-region us-east-1 --quiet "$@"; }
snap_field() { bs describe-snapshots --snapshot-ids "$1" | json_get "Snapshots.0.$2"; }
count_snapshots() { bs describe-snapshots | json_get Snapshots.#; }
restore_is() {
    restore "$1" "$T/check.img"
    cmp "$2" "$T/check.img" || die "copy $1 does not restore as $2"
    rm -f "$T/check.img"
}

step "source region: volume A (24 MiB: random, text, zeros), snapshots A1 and A2 (1 MiB changed)"
{
    head -c $((8 << 20)) /dev/urandom
    python3 -c 'import sys; sys.stdout.write("".join("line %d of a text file\n" % i for i in range(400000))[: 8 << 20])'
    head -c $((8 << 20)) /dev/zero
} >"$T/a.img"
cp "$T/a.img" "$T/a1.ref"
src create-snapshot --volume "$T/a.img" --quiet >"$T/s.json"
A1=$(json_get SnapshotId "$T/s.json")
dd if=/dev/urandom of="$T/a.img" bs=64K seek=40 count=16 conv=notrunc status=none
cp "$T/a.img" "$T/a2.ref"
src create-snapshot --volume "$T/a.img" --quiet >"$T/s.json"
A2=$(json_get SnapshotId "$T/s.json")
info "A1=$A1 A2=$A2"

step "the first copy: whole, described as EC2 does, restores as A1"
copy --source-snapshot-id "$A1" >"$T/c.json"
C1=$(json_get SnapshotId "$T/c.json")
assert_eq "$(snap_field "$C1" State)" completed "state of the copy"
assert_eq "$(snap_field "$C1" Description)" "[Copied $A1 from us-east-1]" "description"
assert_eq "$(snap_field "$C1" VolumeId)" vol-ffffffff "volume id of a copy"
restore_is "$C1" "$T/a1.ref"
assert_verify_ok

step "the same command again: the same id, nothing read"
bs copy-snapshot --source-region us-east-1 --source-snapshot-id "$A1" >"$T/c.json" 2>"$T/c.err"
assert_eq "$(json_get SnapshotId "$T/c.json")" "$C1" "id of the repeated copy"
grep -q "read 0 B from the source" "$T/c.err" || die "the repeat read from the source: $(cat "$T/c.err")"
assert_eq "$(count_snapshots)" 1 "snapshots after the repeat"

step "the second copy: incremental against the first, only the 16 changed chunks read"
copy --source-snapshot-id "$A2" --description "second" --tags Key=k,Value=v >"$T/c.json"
C2=$(json_get SnapshotId "$T/c.json")
assert_eq "$(snap_field "$C2" ParentSnapshotId)" "$C1" "parent of the second copy"
assert_eq "$(snap_field "$C2" BytesRead)" $((16 * 65536)) "bytes read by the second copy"
assert_eq "$(snap_field "$C2" ChunksWritten)" 16 "chunks stored by the second copy"
assert_eq "$(snap_field "$C2" Description)" second "description given"
assert_eq "$(snap_field "$C2" Tags.0.Key)" k "tag given"
restore_is "$C2" "$T/a2.ref"
assert_verify_ok

step "a copy within one store: a new id, no data stored, restores as the source"
bytes=$(store_field PackBytes)
bs copy-snapshot --source-store "$STORE" --source-snapshot-id "$C1" --quiet >"$T/c.json"
CS=$(json_get SnapshotId "$T/c.json")
[ "$CS" != "$C1" ] || die "a copy within the store has the source's id"
assert_eq "$(store_field PackBytes)" "$bytes" "pack bytes after a copy within the store"
assert_eq "$(snap_field "$CS" Description)" "[Copied $C1 from local]" "description"
restore_is "$CS" "$T/a1.ref"
assert_verify_ok

step "bad input: clear errors, the destination unchanged"
store_state >"$T/state.before"
expect_fail InvalidSnapshot.NotFound 1 copy --source-snapshot-id snap-0123456789abcdef0
stderr_contains snap-0123456789abcdef0
expect_fail InvalidSnapshotID.Malformed 1 copy --source-snapshot-id vol-0123
expect_fail MissingParameter 2 bs copy-snapshot --source-snapshot-id "$A1"
expect_fail InvalidParameterCombination 2 bs copy-snapshot --source-region us-east-1 \
    --source-store "$SRC_STORE" --source-snapshot-id "$A1"
expect_fail Store.NotFound 1 bs copy-snapshot --source-region eu-nowhere-1 --source-snapshot-id "$A1"
copy --source-snapshot-id "$A1" --client-token tok-1 --description tokened >"$T/c.json"
CT=$(json_get SnapshotId "$T/c.json")
store_state >"$T/state.before"
expect_fail IdempotentParameterMismatch 1 copy --source-snapshot-id "$A1" --client-token tok-1
assert_store_unchanged "$T/state.before"
copy --source-snapshot-id "$A1" --client-token tok-1 --description tokened >"$T/c.json"
assert_eq "$(json_get SnapshotId "$T/c.json")" "$CT" "the same token and parameters: the same copy"

# ---- kill -9 during a copy, then the same command ----
step "kill -9 during copies of a 96 MiB snapshot (80 MiB of it random: two batches)"
head -c $((80 << 20)) /dev/urandom >"$T/b.img"
truncate -s 96M "$T/b.img"
src create-snapshot --volume "$T/b.img" --quiet >"$T/s.json"
B1=$(json_get SnapshotId "$T/s.json")
BASE=$T/dst-base
cp -a "$STORE" "$BASE"
KSNAP=$B1 KREF=$T/b.img
kill_and_resume() {
    local spec=$1 rc=0 pid before ids n id
    rm -rf "$STORE"
    cp -a "$BASE" "$STORE"
    before=$(count_snapshots)
    case $spec in
    fault:*)
        BLOCKSNAP_FAULT="${spec#fault:}:kill" "$BLOCKSNAP" --store "$STORE" copy-snapshot \
            --source-region us-east-1 --source-snapshot-id "$KSNAP" --quiet \
            >"$T/k.out" 2>"$T/k.err" || rc=$?
        ;;
    time:*)
        "$BLOCKSNAP" --store "$STORE" copy-snapshot --source-region us-east-1 \
            --source-snapshot-id "$KSNAP" --quiet >"$T/k.out" 2>"$T/k.err" &
        pid=$!
        on_cleanup_pid "$pid"
        sleep "${spec#time:}"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" || rc=$?
        ;;
    esac
    _check_sanitizer "$T/k.err" "killed copy ($spec)"
    assert_verify_ok
    ids=$(bs describe-snapshots | python3 -c '
import json, sys
print(" ".join(s["SnapshotId"] for s in json.load(sys.stdin)["Snapshots"] if s["Description"].startswith("[Copied '"$KSNAP"'")))')
    copy --source-snapshot-id "$KSNAP" >"$T/c.json"
    id=$(json_get SnapshotId "$T/c.json")
    # the killed run's copy (pending, or completed at the very end) is the one continued
    [ -z "$ids" ] || assert_eq "$id" "$ids" "the resumed copy's id ($spec)"
    n=$(count_snapshots)
    assert_eq "$n" $((before + 1)) "snapshots after the resume ($spec): no duplicate"
    assert_verify_ok
    restore_is "$id" "$KREF"
    info "$(printf '%-26s exit %3s  resumed %s, read %s bytes' "$spec" "$rc" "$id" "$(snap_field "$id" BytesRead)")"
    RESUMED_READ=$(snap_field "$id" BytesRead)
    KILLED=$rc
}
if has_faults; then
    kill_and_resume fault:snapshot-batch:1
    assert_eq "$RESUMED_READ" $((80 << 20)) "re-read after a kill before the first commit"
    kill_and_resume fault:snapshot-batch:2
    assert_le "$RESUMED_READ" $((20 << 20)) "re-read after a kill once 64 MiB were committed"
    kill_and_resume fault:pack-append:2
    kill_and_resume fault:meta-commit:3
fi
if has_faults; then
    # Text compresses about tenfold: the batches are cut by what was read
    # from the source (64 MiB), not by what was stored, so a kill at the
    # second commit leaves the first 64 MiB landed and the rerun reads the
    # rest only.
    step "kill -9 during a copy of 96 MiB of text, after the first commit"
    python3 -c 'import sys; sys.stdout.write("".join("line %d of a text file that compresses well\n" % i for i in range(3000000))[: 96 << 20])' >"$T/t.img"
    src create-snapshot --volume "$T/t.img" --quiet >"$T/s.json"
    KSNAP=$(json_get SnapshotId "$T/s.json") KREF=$T/t.img
    kill_and_resume fault:snapshot-batch:1
    kill_and_resume fault:snapshot-batch:2
    [ "$KILLED" = 137 ] || die "the copy of 96 MiB of text committed once only (exit $KILLED)"
    assert_le "$RESUMED_READ" $((40 << 20)) "re-read after a kill once 64 MiB were read and committed"
    KSNAP=$B1 KREF=$T/b.img
fi
secs=$( {
    t0=$(now_ns)
    rm -rf "$STORE"
    cp -a "$BASE" "$STORE"
    "$BLOCKSNAP" --store "$STORE" copy-snapshot --source-region us-east-1 \
        --source-snapshot-id "$B1" --quiet >/dev/null 2>&1
    t1=$(now_ns)
    python3 -c "print(max(0.01, ($t1 - $t0) / 1e9))"
})
info "one uninterrupted copy takes ${secs}s"
for t in $(python3 -c '
import random, sys
print(" ".join("%.3f" % random.uniform(0, float(sys.argv[1])) for _ in range(int(sys.argv[2]))))' \
    "$secs" "${COPY_KILLS:-3}"); do
    kill_and_resume "time:$t"
done
step "ok"
