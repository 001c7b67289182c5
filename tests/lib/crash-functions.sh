# shellcheck shell=bash
# shellcheck disable=SC2034 # a library: its names are used by the tests
# crash-functions.sh - helpers of the crash, power-loss and corruption tests
# (tests/e2e/crash-*.sh, powerloss-*.sh, corrupt-*.sh).  Source it after
# functions.sh.
#
# The tests work on copies of a prepared store: `store_copy BASE` makes
# $STORE a fresh copy of BASE, so every trial starts from the same state.
# A "killed run" is a blocksnap command that dies by SIGKILL, either at the
# Nth passage through an engine fault point (BLOCKSNAP_FAULT=POINT:N:kill,
# engine/fault.h) or after a delay (a random moment of the real process).

# The limit of every single blocksnap run: nothing may hang.
CRASH_TIMEOUT=${CRASH_TIMEOUT:-300}

# With CRASH_POWERLOSS=1, every killed run has the power-loss shim preloaded
# and is followed by a simulated power cut (powerloss_apply below).
if [ "${CRASH_POWERLOSS:-0}" = 1 ]; then
    POWERLOSS_SO=${BSNAP_BUILD_DIR:-}/tests/tools/powerloss.so
    [ -f "$POWERLOSS_SO" ] || skip "no power-loss shim at $POWERLOSS_SO (build tests/tools)"
fi

# store_copy BASE: $STORE becomes a copy of the store directory BASE.
store_copy() {
    rm -rf "$STORE"
    cp -a "$1" "$STORE"
}

# store_snapshot_to DIR: keep a copy of $STORE as DIR (a base for trials).
store_snapshot_to() {
    rm -rf "$1"
    cp -a "$STORE" "$1"
}

# run_killed SPEC ARGS...: run blocksnap ARGS on $STORE and let it die.
# SPEC is "fault:POINT:N" (SIGKILL at the Nth passage through POINT) or
# "time:SECONDS" (SIGKILL from outside after SECONDS).  Sets KILLED_RC to
# the exit status (137 when the kill landed) and keeps stderr in
# $T/killed.stderr.  A sanitizer report fails the test.
run_killed() {
    local spec=$1 pid env=(env) seed
    shift
    KILLED_RC=0
    if [ "${CRASH_POWERLOSS:-0}" = 1 ]; then
        rm -f "$T/powerloss.log"
        env+=("LD_PRELOAD=$POWERLOSS_SO" "BSNAP_PL_DIR=$STORE/:$T/out/"
            "BSNAP_PL_LOG=$T/powerloss.log" "BSNAP_PL_LIE=${CRASH_POWERLOSS_LIE:-}"
            "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
    fi
    case $spec in
    fault:pl-write:* | fault:pl-sync:*)
        # the shim's own kill points: after the Nth write, before the Nth sync
        [ "${CRASH_POWERLOSS:-0}" = 1 ] || die "$spec needs CRASH_POWERLOSS=1"
        spec=${spec#fault:pl-}
        "${env[@]}" "BSNAP_PL_KILL_$(tr a-z A-Z <<<"${spec%%:*}")=${spec#*:}" timeout -s KILL "$CRASH_TIMEOUT" \
            "$BLOCKSNAP" --store "$STORE" "$@" >"$T/killed.stdout" 2>"$T/killed.stderr" ||
            KILLED_RC=$?
        spec=fault:pl-$spec
        ;;
    fault:*)
        requires_faults
        "${env[@]}" "BLOCKSNAP_FAULT=${spec#fault:}:kill" timeout -s KILL "$CRASH_TIMEOUT" \
            "$BLOCKSNAP" --store "$STORE" "$@" >"$T/killed.stdout" 2>"$T/killed.stderr" ||
            KILLED_RC=$?
        ;;
    time:*)
        "${env[@]}" "$BLOCKSNAP" --store "$STORE" "$@" >"$T/killed.stdout" 2>"$T/killed.stderr" &
        pid=$!
        on_cleanup_pid "$pid"
        sleep "${spec#time:}"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" || KILLED_RC=$?
        ;;
    *) die "run_killed: bad spec '$spec'" ;;
    esac
    _check_sanitizer "$T/killed.stderr" "killed blocksnap $* ($spec)"
    if [ "${CRASH_POWERLOSS:-0}" = 1 ]; then
        # the power cut: half the trials lose every unsynced write, the
        # others a random subset of them
        seed=$RANDOM
        if [ "${CRASH_POWERLOSS_MODE:-}" = all ] || { [ -z "${CRASH_POWERLOSS_MODE:-}" ] && [ $((seed % 2)) -eq 0 ]; }; then
            powerloss_apply "$T/powerloss.log" all "$seed" >"$T/powerloss.out"
        else
            powerloss_apply "$T/powerloss.log" subset "$seed" >"$T/powerloss.out"
        fi
        [ "${CRASH_QUIET:-0}" = 1 ] || cat "$T/powerloss.out"
    fi
}

# fault_passes POINT ARGS...: how many times one run of blocksnap ARGS on a
# copy of $CRASH_BASE passes the fault point POINT (0 if never), found by
# bisection on "a kill at the Nth passage lands".
fault_passes() {
    local point=$1 lo=0 hi=1 mid CRASH_QUIET=1
    shift
    # grow hi until a kill at hi does not land
    while :; do
        store_copy "$CRASH_BASE"
        run_killed "fault:$point:$hi" "$@"
        [ "$KILLED_RC" -eq 137 ] || break
        lo=$hi
        hi=$((hi * 4))
        [ "$hi" -le 65536 ] || die "fault point $point passed more than 65536 times"
    done
    # invariant: a kill at lo lands (or lo == 0), one at hi does not
    while [ $((hi - lo)) -gt 1 ]; do
        mid=$(((lo + hi) / 2))
        store_copy "$CRASH_BASE"
        run_killed "fault:$point:$mid" "$@"
        if [ "$KILLED_RC" -eq 137 ]; then lo=$mid; else hi=$mid; fi
    done
    echo "$lo"
}

# pick_points WANT POINT=COUNT...: print up to WANT distinct "POINT:N"
# specs: every passage of the points with few passages, the rest spread
# evenly over the passages of the points with many.
pick_points() {
    python3 - "$@" <<'EOF'
import sys
want = int(sys.argv[1])
pts = [(p.split("=")[0], int(p.split("=")[1])) for p in sys.argv[2:]]
pts = [(p, n) for p, n in pts if n > 0]
out = []
small = [(p, n) for p, n in pts if n <= 12]
big = [(p, n) for p, n in pts if n > 12]
for p, n in small:
    out += ["%s:%d" % (p, i) for i in range(1, n + 1)]
left = max(0, want - len(out))
# equal shares (the first points take the remainder), each spread evenly
for j, (p, n) in enumerate(big):
    share = min(n, left // len(big) + (1 if j < left % len(big) else 0))
    if share <= 0:
        continue
    picks = sorted({1 + (i * (n - 1)) // max(1, share - 1) for i in range(share)})
    out += ["%s:%d" % (p, i) for i in picks]
for s in out[:max(want, len(small))]:
    print(s)
EOF
}

# restore_matches SNAP REF: snapshot SNAP restores byte-identical to REF.
restore_matches() {
    restore "$1" "$T/check.img"
    cmp "$2" "$T/check.img" || die "snapshot $1 does not restore as $2"
    rm -f "$T/check.img"
}

# snapshot_states: "ID STATE" per snapshot of $STORE, sorted.
snapshot_states() {
    bs describe-snapshots | python3 -c '
import json, sys
for s in json.load(sys.stdin)["Snapshots"]:
    print(s["SnapshotId"], s["State"])' | sort
}

# ---------------------------------------------------------------------------
# The crash harness shared by crash-*.sh
# ---------------------------------------------------------------------------

# crash_setup: images and a base store every trial starts from.
#   $T/a.img  volume A; A1 (snapshot $S1) then A2 (snapshot $S2, incremental)
#   $T/b.img  volume B; snapshot $S3
#   $T/a1.ref $T/a2.ref $T/b.ref   their contents at snapshot time
#   $CRASH_BASE   the store with S1, S2, S3
# crash_setup [MIB]: volumes of MIB MiB (default 16): random, text, zeros.
crash_setup() {
    local mib=${1:-16} q=$((${1:-16} / 4))
    step "volumes of $mib MiB and a base store: A1, A2 (incremental), B"
    rm -rf "$STORE"
    {
        head -c $((q * 2 << 20)) /dev/urandom
        python3 -c 'import sys; sys.stdout.write("".join("line %d of a text file that compresses well\n" % i for i in range(1, 30000 * int(sys.argv[1])))[: int(sys.argv[1]) << 20])' "$q"
        head -c $((q << 20)) /dev/zero
    } >"$T/a.img"
    cp "$T/a.img" "$T/a1.ref"
    S1=$(snapshot_create "$T/a.img")
    # A2: a quarter of the volume rewritten, and new data in the zero part
    dd if=/dev/urandom of="$T/a.img" bs=64K seek=$((q * 4)) count=$((q * 4)) conv=notrunc status=none
    dd if=/dev/urandom of="$T/a.img" bs=64K seek=$((q * 13)) count=$((q * 2)) conv=notrunc status=none
    cp "$T/a.img" "$T/a2.ref"
    S2=$(snapshot_create "$T/a.img")
    head -c $((mib << 20)) /dev/urandom >"$T/b.img"
    cp "$T/b.img" "$T/b.ref"
    S3=$(snapshot_create "$T/b.img")
    assert_verify_ok
    CRASH_BASE=$T/base
    store_snapshot_to "$CRASH_BASE"
    info "S1=$S1 S2=$S2 S3=$S3, PackBytes $(store_bytes)"
}

# check_earlier ID=REF...: each snapshot ID is completed and restores as REF.
check_earlier() {
    local pair
    for pair in "$@"; do
        restore_matches "${pair%%=*}" "${pair#*=}"
    done
}

# The verb's hooks, defined by each crash-*.sh before crash_run:
#   crash_prepare        make $STORE the trial's starting store (default:
#                        a copy of $CRASH_BASE)
#   crash_check_killed   checks of the store right after the kill (beyond
#                        verify, which always runs)
#   crash_rerun          run the interrupted operation again; it must succeed
#                        (and show it did)
# and the array CRASH_ARGS: the operation's blocksnap arguments.
crash_prepare() { store_copy "$CRASH_BASE"; }

# crash_control: PackBytes after an uninterrupted run of the operation and a
# gc: the bound every trial's store must meet after its rerun and gc.  (gc
# --max-unused 0: every dead byte back, so that a leak shows.)
crash_control() {
    crash_prepare
    bs "${CRASH_ARGS[@]}" >/dev/null
    bs gc --max-unused 0 >/dev/null
    CONTROL_BYTES=$(store_bytes)
    CONTROL_PACKS=$(store_field PackCount)
    info "control: PackBytes $CONTROL_BYTES in $CONTROL_PACKS packs after the operation and gc"
}

# crash_time_op: seconds (float) one uninterrupted run of the operation
# takes, for the random-time kills.
crash_time_op() {
    local t0 t1
    crash_prepare
    # the process alone, without bs's bookkeeping
    t0=$(now_ns)
    "$BLOCKSNAP" --store "$STORE" "${CRASH_ARGS[@]}" >/dev/null 2>"$T/time.stderr"
    t1=$(now_ns)
    _check_sanitizer "$T/time.stderr" "blocksnap ${CRASH_ARGS[*]}"
    python3 -c "print(max(0.001, ($t1 - $t0) / 1e9))"
}

# crash_trial SPEC: one killed run and every check after it, in a subshell
# so a failed check counts as one failure and the harness goes on.  Prints
# one line; returns 1 if a check failed.
crash_trial() {
    local spec=$1 log=$T/trial.log rc=0
    # errexit must hold inside the subshell: not part of an || list
    set +e
    (
        set -e
        exec >"$log" 2>&1
        crash_prepare
        run_killed "$spec" "${CRASH_ARGS[@]}"
        echo "killed run exit status: $KILLED_RC"
        # Every state a kill can leave must verify...
        assert_verify_ok
        # ...keep every earlier snapshot whole...
        crash_check_killed
        # ...let the operation run again...
        crash_rerun
        assert_verify_ok
        # ...and let gc give back everything the killed run wrote.
        bs gc --max-unused 0 >/dev/null
        assert_verify_ok
        bytes=$(store_bytes)
        packs=$(store_field PackCount)
        # Record bytes (PackBytes less the 32-byte header of each pack) are
        # what a leak would show in.  How many packs hold them depends on
        # which packs concurrent writers and gc's rewrites happened to
        # claim (create-image writes two volumes at once, even unkilled):
        # at most one pack more than the control is allowed, and counted.
        assert_le $((bytes - 32 * packs)) $((CONTROL_BYTES - 32 * CONTROL_PACKS)) \
            "record bytes (PackBytes less pack headers) after the rerun and gc vs the control"
        assert_le "$packs" $((CONTROL_PACKS + 1)) "packs after the rerun and gc vs the control"
        [ "$packs" -le "$CONTROL_PACKS" ] || echo "one pack more than the control: $packs"
        pending=$(snapshot_states | grep -c ' pending$' || true)
        assert_eq "$pending" 0 "pending snapshots left after gc"
        echo "PackBytes $bytes in $packs packs (control $CONTROL_BYTES in $CONTROL_PACKS)"
    )
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        info "$(printf '%-30s exit %3s  ok  %s' "$spec" "$(sed -n 's/^killed run exit status: //p' "$log")" \
            "$(sed -n 's/^powerloss: //p' "$log" | tail -n 1)")"
        [ "$(sed -n 's/^killed run exit status: //p' "$log")" != 137 ] || CRASH_LANDED=$((CRASH_LANDED + 1))
    else
        info "$spec  FAILED:"
        sed 's/^/      | /' "$log" | tail -n 40
    fi
    return "$rc"
}

# crash_run NAME NFAULT NTIME POINT...: the harness.  Counts the passages
# of each fault POINT in one run of the operation, picks NFAULT distinct
# fault kill points among them (every passage of the rare points, the rest
# spread evenly over the frequent ones), adds NTIME kills of the real
# process at random moments of its run, runs a trial at each and prints
# "NAME: N kill points: P passed, F failed".  Adds to the totals that
# crash_summary prints.
CRASH_TOTAL=0 CRASH_PASSED=0 CRASH_FAILED=0 CRASH_LANDED=0
crash_run() {
    local name=$1 nfault=$2 ntime=$3 point n specs=() counts=() spec passed=0 failed=0 secs i
    shift 3
    # under power loss, also the shim's kill points: after each write and
    # before each sync of the store's files
    [ "${CRASH_POWERLOSS:-0}" = 0 ] || set -- pl-sync pl-write "$@"
    if [ "$nfault" -gt 0 ]; then
        step "$name: counting the passages of each fault point"
        for point in "$@"; do
            n=$(fault_passes "$point" "${CRASH_ARGS[@]}")
            info "$point: $n"
            counts+=("$point=$n")
        done
        mapfile -t specs < <(pick_points "$nfault" "${counts[@]}")
        for ((i = 0; i < ${#specs[@]}; i++)); do specs[i]=fault:${specs[i]}; done
    fi
    if [ "$ntime" -gt 0 ]; then
        secs=$(crash_time_op)
        info "one uninterrupted run takes ${secs}s"
        # random moments of the real process, uniform over its run time
        mapfile -t -O "${#specs[@]}" specs < <(python3 -c '
import random, sys
secs, n = float(sys.argv[1]), int(sys.argv[2])
for _ in range(n):
    print("time:%.4f" % random.uniform(0.0, secs))' "$secs" "$ntime")
    fi
    crash_control
    step "$name: ${#specs[@]} kill points"
    for spec in "${specs[@]}"; do
        if crash_trial "$spec"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
        fi
    done
    step "$name: ${#specs[@]} kill points: $passed passed, $failed failed"
    CRASH_TOTAL=$((CRASH_TOTAL + ${#specs[@]}))
    CRASH_PASSED=$((CRASH_PASSED + passed))
    CRASH_FAILED=$((CRASH_FAILED + failed))
}

# crash_time_points WANT: how many random-moment kills to add after the
# fault kill points: a fifth of WANT, or more when the operation passed too
# few distinct fault points to make up the rest (a fast operation does).
crash_time_points() {
    local want=$1 n=$(($1 / 5))
    [ $((want - CRASH_TOTAL)) -le "$n" ] || n=$((want - CRASH_TOTAL))
    echo "$n"
}

# crash_summary VERB WANT: the verb's summary line; fails if any kill point
# failed or fewer than WANT were tried.
crash_summary() {
    step "$1: $CRASH_TOTAL kill points: $CRASH_PASSED passed, $CRASH_FAILED failed" \
        "($CRASH_LANDED killed before the run ended)"
    [ "$CRASH_FAILED" -eq 0 ] || die "$CRASH_FAILED of $CRASH_TOTAL kill points failed"
    [ "$CRASH_TOTAL" -ge "$2" ] || die "only $CRASH_TOTAL kill points, want $2"
}

# ---------------------------------------------------------------------------
# Power loss (tests/tools/powerloss.c)
# ---------------------------------------------------------------------------

# powerloss_apply LOG MODE [SEED]: roll the files named in the shim's LOG
# back to what a power cut at the end of the log could leave.  MODE "all":
# every write after a file's last sync is lost (and the file's size is its
# size at that sync).  MODE "subset": a random subset of those writes is
# lost (the others reached the disk: writes reordered by the disk); lost
# bytes beyond the old end read as zeros.  Prints what it did.
powerloss_apply() {
    python3 - "$@" <<'EOF'
import os, random, struct, sys
log, mode = sys.argv[1], sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
rng = random.Random(seed)
recs = []
data = open(log, "rb").read() if os.path.exists(log) else b""
pos = 0
H = 1 + 4 + 8 + 8 + 8 + 8
while pos + H <= len(data):
    t = chr(data[pos])
    plen, off, oldsize, length, have = struct.unpack_from("=IQQQQ", data, pos + 1)
    end = pos + H + plen + have
    if end > len(data):
        break  # a record the kill cut short: its write never happened
    path = data[pos + H:pos + H + plen].decode()
    old = data[pos + H + plen:end]
    recs.append((t, path, off, oldsize, length, old))
    pos = end
last_sync = {}
for i, r in enumerate(recs):
    if r[0] == "S":
        last_sync[r[1]] = i
lost = {}
for i, r in enumerate(recs):
    if r[0] != "S" and i > last_sync.get(r[1], -1):
        lost.setdefault(r[1], []).append(r)
nw = nl = 0
for path, rs in lost.items():
    if not os.path.exists(path):
        continue
    with open(path, "r+b") as f:
        chosen = rs if mode == "all" else [r for r in rs if r[0] == "W" and rng.random() < 0.5]
        for t, _, off, oldsize, length, old in reversed(chosen):
            if t == "T":
                f.truncate(max(oldsize, off + len(old)))
                f.seek(off)
                f.write(old)
                continue
            f.seek(off)
            f.write(old)
            if mode != "all" and off + length > oldsize:
                # the unsynced extension reads as zeros
                start = max(off, oldsize)
                f.seek(start)
                f.write(bytes(off + length - start))
        if mode == "all" and rs:
            f.truncate(rs[0][3])
        nw += len(rs)
        nl += len(chosen)
print("powerloss: %d unsynced writes in %d files, %d lost (%s, seed %d)"
      % (nw, len(lost), nl, mode, seed))
EOF
}
