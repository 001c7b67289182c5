#!/usr/bin/env bash
# A store is private to its owner: under a permissive umask (000) every
# directory it makes is 0700 and every file 0600, so another user can read
# neither the packs (whose LZ4 keeps a volume's text readable) nor the
# metadata, nor hold STORE/lock to stall the writers.  A store made by an
# older blocksnap (0755/0644) is made private when its owner opens it.  A
# store directory made setgid by its owner is shared read-only with its
# group.  A writer waiting for a lock someone else holds says what it waits
# for, and SIGINT or SIGTERM ends the wait: exit 1, "interrupted", the store
# unchanged.  The second-user parts need root and setpriv (else skipped).
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 flock find

# loose: the paths under the store with any group or other permission bit
loose() { find "$1" -perm /077 -printf '%m %p\n'; }

other_user=0
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && getent passwd nobody >/dev/null; then
    other_user=1
    chmod 0755 "$T" # so that nobody can reach what the store's modes allow
fi
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }

step "a store made under umask 000 is private"
python3 -c 'import sys; sys.stdout.write(("private text of a 0600 file\n" * 2048).ljust(1 << 20, "\0"))' >"$T/vol.img"
chmod 0600 "$T/vol.img"
umask 000
snap=$(snapshot_create "$T/vol.img")
bs gc >/dev/null
umask 022
grep -rqa "private text" "$STORE/packs" || die "test premise: the text is not readable in the packs"
[ -z "$(loose "$STORE")" ] || die "not private: $(loose "$STORE")"
info "$(find "$STORE" -printf '%m %P\n' | sort -k2 | tr '\n' ' ')"

if [ $other_user = 1 ]; then
    step "another user can read nothing and cannot hold the lock"
    ! as_nobody grep -rqa "private text" "$STORE" 2>/dev/null || die "nobody read the volume's text"
    ! as_nobody cat "$STORE/meta/data.mdb" >/dev/null 2>&1 || die "nobody read the metadata"
    ! as_nobody flock -s -n "$STORE/lock" true 2>/dev/null || die "nobody could take the store lock"
    rc=0
    as_nobody "$BLOCKSNAP" --store "$STORE" describe-snapshots >/dev/null 2>"$T/nobody.err" || rc=$?
    assert_eq "$rc" 1 "exit status of nobody's describe-snapshots"
fi

step "a store made by an older blocksnap is made private when its owner opens it"
chmod -R go+rX "$STORE"
[ -n "$(loose "$STORE")" ] || die "test premise: chmod did nothing"
bs describe-snapshots >/dev/null
[ -z "$(loose "$STORE")" ] || die "not tightened: $(loose "$STORE")"

step "a writer waiting for a held lock says so, and a signal ends the wait"
store_state >"$T/state.before"
for sig in INT TERM; do
    # The holder is the sleep itself (flock would leave its child behind
    # when killed, holding the test's output open for 300 s).
    (exec 9<"$STORE/lock" && flock -x 9 && exec sleep 300) &
    holder=$!
    on_cleanup_pid "$holder"
    wait_until 10 bash -c "! flock -n '$STORE/lock' true" # the holder has it
    # The last round's messages must not count for this one: the new
    # process truncates the file only once it runs, and a signal sent
    # before it catches signals kills it (exit 128 + N).
    rm -f "$T/wait.out" "$T/wait.err"
    set -m
    "$BLOCKSNAP" --store "$STORE" create-snapshot --volume "$T/vol.img" --full \
        >"$T/wait.out" 2>"$T/wait.err" &
    pid=$!
    set +m
    on_cleanup_pid "$pid"
    wait_until 30 grep -q "waiting for its lock" "$T/wait.err"
    cat "$T/wait.err"
    kill -"$sig" "$pid"
    rc=0
    timeout 30 tail --pid="$pid" -f /dev/null || die "SIG$sig did not end the wait"
    wait "$pid" || rc=$?
    cat "$T/wait.err"
    _check_sanitizer "$T/wait.err" "create-snapshot waiting for the lock"
    assert_eq "$rc" 1 "exit status of a lock wait ended by SIG$sig"
    grep -q '^blocksnap: error: interrupted' "$T/wait.err" || die "no 'interrupted' error line"
    [ ! -s "$T/wait.out" ] || die "an interrupted create-snapshot printed a result"
    kill "$holder"
    wait "$holder" 2>/dev/null || true
    assert_store_unchanged "$T/state.before"
done

if [ $other_user = 1 ]; then
    step "a setgid store directory is shared read-only with its group"
    mkdir "$T/shared"
    chgrp "$(id -g nobody)" "$T/shared"
    chmod 2750 "$T/shared"
    "$BLOCKSNAP" --store "$T/shared" create-snapshot --quiet --volume "$T/vol.img" >/dev/null
    info "$(find "$T/shared" -printf '%m %P\n' | sort -k2 | tr '\n' ' ')"
    [ -z "$(find "$T/shared" -perm /007)" ] || die "others can read the shared store"
    as_nobody "$BLOCKSNAP" --store "$T/shared" describe-snapshots >"$T/shared.json"
    [ -n "$(json_get Snapshots.0.SnapshotId <"$T/shared.json")" ] || die "the group cannot list snapshots"
    ! as_nobody flock -s -n "$T/shared/lock" true 2>/dev/null || die "the group could take the store lock"
    rc=0
    as_nobody "$BLOCKSNAP" --store "$T/shared" delete-snapshot \
        --snapshot-id "$(json_get Snapshots.0.SnapshotId <"$T/shared.json")" 2>/dev/null || rc=$?
    assert_eq "$rc" 1 "exit status of the group's delete-snapshot"
fi
