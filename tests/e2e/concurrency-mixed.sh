#!/usr/bin/env bash
# Concurrency: at the same time, in one store: two snapshots of different
# volumes, a third of a volume that a guest keeps writing to, a mount with
# readers checking every byte of an older snapshot, the delete of another
# snapshot, and a gc.  Afterwards every completed snapshot restores
# identically (the written-to volume's snapshot holds, chunk by chunk,
# either the old content or one the guest wrote), verify passes and the
# readers saw no error and no wrong byte.  $CONC_ROUNDS rounds (default 3).
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp timeout
HAVE_FUSE=0
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null && command -v pgrep >/dev/null; then
    # shellcheck source=../lib/fuse-functions.sh
    source "$TESTS_LIB_DIR/fuse-functions.sh"
    HAVE_FUSE=1
fi
MIB=${CONC_MIB:-32}
LIMIT=${CONC_TIMEOUT:-600}

# bgbs NAME ARGS...: blocksnap ARGS in the background, output in $T/NAME.*;
# its PID in $BG_PID
bgbs() {
    local name=$1
    shift
    # shellcheck disable=SC2086 # the wrapper is a word list on purpose
    timeout -s KILL "$LIMIT" ${BLOCKSNAP_WRAPPER:-} "$BLOCKSNAP" --store "$STORE" "$@" \
        >"$T/$name.out" 2>"$T/$name.err" &
    BG_PID=$!
    on_cleanup_pid "$BG_PID"
}

# bgwait NAME PID: the background command succeeded (and reported no
# sanitizer error)
bgwait() {
    local rc=0
    wait "$2" || rc=$?
    _check_sanitizer "$T/$1.err" "$1"
    [ "$rc" -eq 0 ] || {
        cat "$T/$1.err"
        die "$1 failed (exit $rc)"
    }
}

# guest IMG LOG SECONDS: rewrite random 4 KiB blocks of IMG for SECONDS (a
# page: what a reader sees whole or not at all), logging "OFFSET SHA256" of
# each block before writing it
guest() {
    python3 - "$@" <<'EOF'
import hashlib, os, random, sys, time
img, log, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
fd = os.open(img, os.O_WRONLY)
size = os.fstat(fd).st_size
blocks = size // 4096
end = time.time() + secs
with open(log, "a") as lg:
    while time.time() < end:
        i = random.randrange(blocks)
        data = os.urandom(4096)
        lg.write("%d %s\n" % (i * 4096, hashlib.sha256(data).hexdigest()))
        lg.flush()
        os.pwrite(fd, data, i * 4096)
        time.sleep(0.0005)
EOF
}

lines_at_least() { [ "$(wc -l <"$1")" -ge "$2" ]; }

# consistent RESTORED BEFORE LOG: every 4 KiB block of RESTORED is the one
# of BEFORE or one the guest logged for that offset
consistent() {
    python3 - "$@" <<'EOF'
import hashlib, sys
restored, before, log = sys.argv[1:4]
seen = {}
for line in open(log):
    off, h = line.split()
    seen.setdefault(int(off), set()).add(h)
a, b = open(restored, "rb").read(), open(before, "rb").read()
if len(a) != len(b):
    sys.exit("size %d, expected %d" % (len(a), len(b)))
new = 0
for off in range(0, len(a), 4096):
    x = a[off:off + 4096]
    if x == b[off:off + 4096]:
        continue
    if hashlib.sha256(x).hexdigest() not in seen.get(off, ()):
        sys.exit("block at %d is neither the old content nor one the guest wrote" % off)
    new += 1
print("   %d blocks as the guest wrote them, the rest as before" % new)
EOF
}

# reader FILE REF STOPFILE: read FILE through the mount again and again and
# compare with REF until STOPFILE exists; fails on an error or a difference
reader() {
    local n=0
    while [ ! -e "$3" ]; do
        cmp "$1" "$2" >/dev/null || { echo "reader: $1 differs from $2 or failed"; return 1; }
        n=$((n + 1))
    done
    echo "reader: $n full reads, all correct"
}

step "volumes of $MIB MiB: A, B, C, and the first snapshots"
for v in A B C; do
    head -c $((MIB << 19)) /dev/urandom >"$T/$v.img"
    head -c $((MIB << 19)) /dev/zero >>"$T/$v.img"
    cp "$T/$v.img" "$T/$v.0.ref"
done
A0=$(snapshot_create "$T/A.img")
B0=$(snapshot_create "$T/B.img")
C0=$(snapshot_create "$T/C.img")
declare -A REF=([$A0]=$T/A.0.ref [$B0]=$T/B.0.ref [$C0]=$T/C.0.ref)
if [ "$HAVE_FUSE" = 1 ]; then
    mkdir -p "$T/mnt"
    fuse_mount "$T/mnt"
fi
prevB=$B0
for round in $(seq 1 "${CONC_ROUNDS:-3}"); do
    step "round $round: two snapshots, a snapshot of a volume being written, readers, a delete, a gc"
    dd if=/dev/urandom of="$T/A.img" bs=64K seek=$((round * 8)) count=64 conv=notrunc status=none
    dd if=/dev/urandom of="$T/B.img" bs=64K seek=$((round * 16)) count=64 conv=notrunc status=none
    cp "$T/A.img" "$T/A.$round.ref"
    cp "$T/B.img" "$T/B.$round.ref"
    cp "$T/C.img" "$T/C.$round.before"
    : >"$T/guest.$round.log"
    rm -f "$T/stop"
    if [ "$HAVE_FUSE" = 1 ]; then
        reader "$T/mnt/snapshots/$A0.img" "$T/A.0.ref" "$T/stop" >"$T/reader1.out" 2>&1 &
        r1=$!
        reader "$T/mnt/snapshots/$C0.img" "$T/C.0.ref" "$T/stop" >"$T/reader2.out" 2>&1 &
        r2=$!
        on_cleanup_pid "$r1"
        on_cleanup_pid "$r2"
    fi
    guest "$T/C.img" "$T/guest.$round.log" 4 &
    g=$!
    on_cleanup_pid "$g"
    # the guest is writing before anything starts
    wait_until 30 lines_at_least "$T/guest.$round.log" 100
    bgbs snapA create-snapshot --volume "$T/A.img" --quiet --threads 2
    pA=$BG_PID
    bgbs snapB create-snapshot --volume "$T/B.img" --quiet --threads 2
    pB=$BG_PID
    bgbs snapC create-snapshot --volume "$T/C.img" --quiet --threads 2
    pC=$BG_PID
    bgbs delete delete-snapshot --snapshot-id "$prevB"
    pD=$BG_PID
    bgbs gc gc --max-unused 0 # rewrites too, under the writers
    pG=$BG_PID
    bgwait snapA "$pA"
    bgwait snapB "$pB"
    bgwait snapC "$pC"
    bgwait delete "$pD"
    bgwait gc "$pG"
    wait "$g" || die "the guest writer failed"
    touch "$T/stop"
    if [ "$HAVE_FUSE" = 1 ]; then
        wait "$r1" || { cat "$T/reader1.out"; die "a reader through the mount failed"; }
        wait "$r2" || { cat "$T/reader2.out"; die "a reader through the mount failed"; }
        info "$(cat "$T/reader1.out") / $(cat "$T/reader2.out")"
    fi
    sA=$(json_get SnapshotId "$T/snapA.out")
    sB=$(json_get SnapshotId "$T/snapB.out")
    sC=$(json_get SnapshotId "$T/snapC.out")
    deleted=$prevB
    unset "REF[$prevB]"
    REF[$sA]=$T/A.$round.ref
    REF[$sB]=$T/B.$round.ref
    prevB=$sB

    step "round $round: every snapshot restores as it should; verify passes"
    restore "$sC" "$T/r.img"
    consistent "$T/r.img" "$T/C.$round.before" "$T/guest.$round.log" ||
        die "the snapshot of the volume being written is not a mix of whole blocks"
    for id in "${!REF[@]}"; do
        restore "$id" "$T/r.img"
        cmp "${REF[$id]}" "$T/r.img" || die "snapshot $id does not restore as ${REF[$id]}"
    done
    info "${#REF[@]} snapshots restore byte-identical"
    expect_fail InvalidSnapshot.NotFound 1 bs describe-snapshots --snapshot-ids "$deleted"
    assert_verify_ok
done
if [ "$HAVE_FUSE" = 1 ]; then
    fuse_unmount "$T/mnt"
fi
bs gc >/dev/null
assert_verify_ok
step "${CONC_ROUNDS:-3} rounds: every completed snapshot whole, verify clean"
