#!/usr/bin/env bash
# Most snapshots per volume: a chain of $LIMITS_CHAIN (default 10000)
# incremental snapshots of one volume, one changed block each, each one a
# create-snapshot run.  Snapshot and restore time must not grow with the
# chain's length (a snapshot's block map does not depend on its ancestors):
# the times around snapshot 1, 100, 1000 and 10000 are printed, and the
# last window's median may be at most 4 times the first's plus 50 ms
# (growth linear in the chain would be 100 times).  Every checkpoint
# snapshot restores byte-identical, verify passes, describe-snapshots lists
# them all, and deleting one in the middle keeps its child whole.  A few
# minutes under ASan (docs/reliability.md).
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp
N=${LIMITS_CHAIN:-10000}
W=10 # snapshots per timing window

# On a tmpfs (one we mount, else /dev/shm with 1 GiB free): the chain's
# length is the subject, not the disk's fsync latency (tens of milliseconds
# per commit on some disks).  The chain stores some 700 MB.
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/tfs" && mount -t tmpfs -o size=1G tmpfs "$T/tfs" 2>/dev/null; then
    on_cleanup_mount "$T/tfs"
    VOLDIR=$T/tfs
elif [ -w /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -ge $((1 << 20)) ] &&
    VOLDIR=$(mktemp -d /dev/shm/bsnap-limits-chain.XXXXXX); then
    on_cleanup rm -rf "$VOLDIR"
else
    VOLDIR=$T
fi
if [ "$VOLDIR" != "$T" ]; then
    STORE=$VOLDIR/store
    info "store and volume on a tmpfs ($VOLDIR)"
fi
head -c $((1 << 20)) /dev/urandom >"$VOLDIR/vol.img"
declare -A AT=()
CHECK=(1 100 1000 10000 "$N")
is_check() {
    local c
    for c in "${CHECK[@]}"; do [ "$1" = "$c" ] && return 0; done
    return 1
}

step "a chain of $N incremental snapshots"
: >"$T/times"
t_start=$(now_ns)
for ((i = 1; i <= N; i++)); do
    # one changed block: the counter over the volume's first bytes, written
    # in place by the shell; blocksnap is the only process a round starts
    # (under ASan a process costs some 20 ms before main)
    printf '%08d' "$i" 1<>"$VOLDIR/vol.img"
    # Under ASan, LeakSanitizer's exit scan is a third of a run: it checks
    # every 100th snapshot and the checkpoints (each run takes the same path)
    leaks=0
    if [ $((i % 100)) -eq 0 ] || is_check "$i"; then leaks=1; fi
    t0=${EPOCHREALTIME/./}
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=$leaks \
        "$BLOCKSNAP" --store "$STORE" create-snapshot --volume "$VOLDIR/vol.img" --threads 1 \
        --quiet >"$T/s.json" 2>"$T/s.err" || { cat "$T/s.err"; die "snapshot $i failed"; }
    t1=${EPOCHREALTIME/./}
    [ ! -s "$T/s.err" ] || _check_sanitizer "$T/s.err" "create-snapshot $i"
    [[ $(<"$T/s.json") =~ \"SnapshotId\":\ *\"(snap-[0-9a-f]+)\" ]] || die "no SnapshotId"
    id=${BASH_REMATCH[1]}
    echo "$i $(((t1 - t0) * 1000))" >>"$T/times"
    if is_check "$i"; then
        AT[$i]=$id
        cp "$VOLDIR/vol.img" "$T/ref.$i"
    fi
    if [ $((i % 1000)) -eq 0 ]; then
        info "$i snapshots, $((($(now_ns) - t_start) / 1000000000)) s"
    fi
done

# median of the snapshot times (ms) of the window of W snapshots at I
window() {
    python3 - "$T/times" "$1" "$W" <<'EOF'
import statistics, sys
at, w = int(sys.argv[2]), int(sys.argv[3])
t = {int(a): int(b) for a, b in (l.split() for l in open(sys.argv[1]))}
lo = max(1, min(at, max(t) - w + 1))
print("%.1f" % (statistics.median(t[i] for i in range(lo, lo + w) if i in t) / 1e6))
EOF
}

step "snapshot and restore times along the chain"
printf '   %-10s %-14s %-10s\n' snapshot "snapshot (ms)" "restore (ms)"
first=
for c in $(printf '%s\n' 1 100 1000 10000 "$N" | sort -nu); do
    [ "$c" -le "$N" ] || continue
    [ -n "${AT[$c]:-}" ] || continue
    t0=$(now_ns)
    restore "${AT[$c]}" "$T/r.img"
    t1=$(now_ns)
    cmp "$T/ref.$c" "$T/r.img" || die "snapshot $c of the chain does not restore"
    ws=$(window "$c")
    printf '   %-10s %-14s %-10s\n' "$c" "$ws" "$(((t1 - t0) / 1000000))"
    first=${first:-$ws}
    last=$ws
done
python3 -c "import sys; f, l = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if l <= 4 * f + 50 else 1)" \
    "$first" "$last" || die "snapshot time grew with the chain: $first ms -> $last ms"

step "describe, delete in the middle, verify"
t0=$(now_ns)
bs describe-snapshots >"$T/all.json"
t1=$(now_ns)
assert_eq "$(json_get Snapshots.# "$T/all.json")" "$N" "snapshots listed"
info "describe-snapshots of $N snapshots: $(((t1 - t0) / 1000000)) ms"
mid=${AT[1000]:-${AT[100]:-${AT[1]}}}
t0=$(now_ns)
bs delete-snapshot --snapshot-id "$mid" >/dev/null
t1=$(now_ns)
info "delete-snapshot in a chain of $N: $(((t1 - t0) / 1000000)) ms"
restore "${AT[$N]}" "$T/r.img"
cmp "$T/ref.$N" "$T/r.img" || die "the last snapshot after deleting one in the middle"
t0=$(now_ns)
assert_verify_ok
t1=$(now_ns)
info "verify of $N snapshots: $(((t1 - t0) / 1000000)) ms"
