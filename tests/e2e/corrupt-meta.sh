#!/usr/bin/env bash
# Damage to the LMDB metadata file (meta/data.mdb): both meta pages
# zeroed, the file cut in half, the file deleted, one bit of a digit of a
# snapshot record's size flipped (a record that still parses), and
# (CORRUPT_SEEDS seeds, default 48) random damage: 20 bit flips anywhere in
# the file, or 4 flips aimed at the headers and nodes of branch pages, of
# leaf pages, or of the first pages of overflow runs
# (tests/lib/mdb-pages.py), a kind per seed in
# turn.  On each: verify, the describes, restores of every snapshot, diff, a
# new snapshot (and its restore), gc and verify again; and, where FUSE is
# there, a mount whose snapshot files are read whole.  Then `verify
# --repair`: afterwards verify passes, and every snapshot is back (the packs
# are whole), by its salvaged record (restoring byte-identical) or as a
# recovered tree (restoring as the start of its volume).
#
# What must hold every time, strictly: no command hangs (each runs under
# `timeout`), dies by a signal or reports a sanitizer error; each exits 0,
# or 1 with a "blocksnap: error:" line; nothing returns a wrong byte (every
# restore or FUSE read that succeeds is byte-identical to its snapshot's
# volume; a snapshot taken on the damaged store restores identical); when
# verify names structural damage of meta/data.mdb, no later command writes
# into the file (it is unchanged byte for byte); and the deterministic
# damage is named by verify.  The outcome of every command is counted and
# printed: exit 0, refused as damaged metadata (Store.Corrupt naming
# data.mdb), a fault inside liblmdb caught by the guard, other errors.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/crash-functions.sh
source "$(dirname "$0")/../lib/crash-functions.sh"
requires python3 cmp timeout
LIMIT=${CORRUPT_TIMEOUT:-300}
MDB_PAGES=$TESTS_LIB_DIR/mdb-pages.py

FUSE=0
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null 2>&1 && command -v pgrep >/dev/null 2>&1; then
    # shellcheck source=../lib/fuse-functions.sh
    source "$TESTS_LIB_DIR/fuse-functions.sh"
    FUSE=1
fi

crash_setup 16
head -c $((4 << 20)) /dev/urandom >"$T/c.img"
# long tags make S3's record big enough for LMDB's overflow pages
tags=()
for i in $(seq 1 20); do
    tags+=("Key=key-$i-$(printf 'k%.0s' $(seq 1 100)),Value=$(printf 'v%.0s' $(seq 1 200))")
done
bs create-tags --resources "$S3" --tags "${tags[@]}"
store_snapshot_to "$CRASH_BASE"
python3 "$MDB_PAGES" list "$CRASH_BASE/meta/data.mdb" >"$T/pages"
awk '{ print $2 }' "$T/pages" | sort | uniq -c | while read -r n kind; do info "base data.mdb: $n $kind pages"; done
grep -q ' overflow ' "$T/pages" || die "the base store has no overflow pages to damage"

declare -A TOTAL=()
# run_checked ARGS...: blocksnap ARGS under timeout; exit 0, or 1 with an
# error line; anything else fails the test.  Leaves the status in $rc and
# counts the outcome.
run_checked() {
    local kind
    rc=0
    # (not through bs: the output is looked at here)
    # shellcheck disable=SC2086 # the wrapper is a word list on purpose
    timeout -s KILL "$LIMIT" ${BLOCKSNAP_WRAPPER:-} "$BLOCKSNAP" --store "$STORE" "$@" \
        >"$T/out" 2>"$T/err" || rc=$?
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|ThreadSanitizer' "$T/err"; then
        cat "$T/err"
        _check_sanitizer "$T/err" "blocksnap $*"
    fi
    case $rc in
    0) kind=ok ;;
    1)
        grep -q '^blocksnap: error: ' "$T/err" || die "blocksnap $* exited 1 without an error line"
        if grep -q 'liblmdb faulted' "$T/err"; then
            kind=guarded-fault
        elif grep -q 'data.mdb is damaged' "$T/err" || grep -q '^store: meta/data.mdb' "$T/out"; then
            kind=refused-damaged
        else
            kind=other-error
            # the code, to show which errors the damage led to
            outcome+="($(sed -n 's/^blocksnap: error: .*(\([A-Za-z.]*\))$/\1/p' "$T/err" | head -n 1))"
        fi
        ;;
    124 | 137) die "blocksnap $* hung (killed by timeout)" ;;
    *)
        cat "$T/err"
        die "blocksnap $* exited $rc (killed by signal $((rc - 128))?)"
        ;;
    esac
    outcome+="$1:$kind "
    TOTAL[$kind]=$((${TOTAL[$kind]:-0} + 1))
}

# fuse_try: mount the damaged store and read every snapshot file whole:
# each read is EIO or the right bytes; the daemon ends cleanly.  A daemon
# that refuses to start must say why.
fuse_try() {
    local mnt=$T/mnt pair id ref i log=$T/fuse.log pid rc=0
    mkdir -p "$mnt"
    # shellcheck disable=SC2086 # the wrapper is a word list on purpose
    ${BLOCKSNAP_WRAPPER:-} "$BLOCKSNAP" --store "$STORE" mount "$mnt" --foreground 2>"$log" &
    pid=$!
    on_cleanup_pid "$pid"
    on_cleanup_mount "$mnt"
    for i in $(seq 1 300); do
        _is_mounted "$mnt" && stat "$mnt" >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! _is_mounted "$mnt"; then
        wait "$pid" || rc=$?
        _check_sanitizer "$log" "blocksnap mount (daemon)"
        if [ "$rc" != 1 ] || ! grep -q '^blocksnap: error: ' "$log"; then
            die "the mount daemon on damaged metadata exited $rc: $(cat "$log")"
        fi
        outcome+="mount:refused "
        TOTAL[mount-refused]=$((${TOTAL[mount-refused]:-0} + 1))
        return
    fi
    for pair in "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"; do
        id=${pair%%=*} ref=${pair#*=}
        if timeout -s KILL "$LIMIT" cat "$mnt/snapshots/$id.img" >"$T/f.img" 2>/dev/null; then
            cmp -s "$ref" "$T/f.img" || die "a FUSE read of $id on damaged metadata returned wrong bytes"
            TOTAL[fuse-read-ok]=$((${TOTAL[fuse-read-ok]:-0} + 1))
        else
            TOTAL[fuse-read-error]=$((${TOTAL[fuse-read-error]:-0} + 1))
        fi
        kill -0 "$pid" 2>/dev/null || die "the mount daemon died reading damaged metadata: $(cat "$log")"
    done
    # fuse_unmount waits for and checks the daemon these name
    # shellcheck disable=SC2034
    FUSE_PID=$pid FUSE_LOG=$log
    fuse_unmount "$mnt"
    ! grep -q 'liblmdb faulted' "$log" || TOTAL[fuse-guarded-fault]=$((${TOTAL[fuse-guarded-fault]:-0} + 1))
    outcome+="mount:served "
}

# prefix_of FILE REF...: print the REF that FILE is the start of, the rest
# of REF being zeros (a recovered snapshot's size ends at its last non-zero
# chunk); fail if none.
prefix_of() {
    python3 -c '
import sys
got = open(sys.argv[1], "rb").read()
for ref in sys.argv[2:]:
    want = open(ref, "rb").read()
    if len(got) <= len(want) and want[:len(got)] == got and not want[len(got):].strip(b"\0"):
        print(ref)
        sys.exit(0)
sys.exit(1)' "$@"
}

# repair_check: `verify --repair` on the damaged store exits 0 (nothing
# lost) or 1 (it says what); then verify passes; every snapshot whose record
# was kept restores byte-identical; every recovered one (its record lost,
# its tree found in the packs) restores as the start of one of the volumes;
# a new snapshot, its restore and gc work on the repaired store.
repair_check() {
    local pair id ref kept=0 found=0
    : >"$T/covered"
    run_checked verify --repair
    grep -q '^repaired: ' "$T/out" || die "verify --repair did not repair: $(cat "$T/err")"
    grep -v '^store: meta/data.mdb' "$T/out" | sed 's/^/   | /'
    assert_verify_ok
    bs describe-snapshots >"$T/snaps.json"
    python3 -c '
import json, sys
for s in json.load(open(sys.argv[1]))["Snapshots"]:
    print(s["SnapshotId"])' "$T/snaps.json" >"$T/snap.ids"
    for pair in "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"; do
        id=${pair%%=*} ref=${pair#*=}
        grep -qx "$id" "$T/snap.ids" || continue
        restore_matches "$id" "$ref"
        echo "$ref" >>"$T/covered"
        kept=$((kept + 1))
    done
    for id in $(python3 -c '
import json, sys
for s in json.load(open(sys.argv[1]))["Snapshots"]:
    if s["Description"].startswith("recovered by a repair"):
        print(s["SnapshotId"])' "$T/snaps.json"); do
        restore "$id" "$T/r.img"
        prefix_of "$T/r.img" "$T/a1.ref" "$T/a2.ref" "$T/b.ref" "$T/c.img" >>"$T/covered" ||
            die "recovered snapshot $id restores as none of the volumes"
        found=$((found + 1))
    done
    # the packs are whole: every snapshot is back, by its record or its tree
    for ref in "$T/a1.ref" "$T/a2.ref" "$T/b.ref"; do
        grep -qxF "$ref" "$T/covered" || die "after the repair, no snapshot restores as $ref"
    done
    id=$(snapshot_create "$T/c.img")
    restore_matches "$id" "$T/c.img"
    bs gc >/dev/null
    assert_verify_ok
    outcome+="repair:kept-$kept,recovered-$found "
    TOTAL[repair-kept]=$((${TOTAL[repair-kept]:-0} + kept))
    TOTAL[repair-recovered]=$((${TOTAL[repair-recovered]:-0} + found))
}

# try_everything: the verbs on the damaged store, each checked.
try_everything() {
    local pair id damaged=0
    outcome=""
    run_checked verify
    if grep -q '^store: meta/data.mdb' "$T/out"; then
        damaged=1
        cp "$STORE/meta/data.mdb" "$T/damaged.mdb" 2>/dev/null || : >"$T/damaged.mdb"
    fi
    run_checked describe-snapshots
    run_checked describe-volumes
    run_checked describe-store
    for pair in "$S1=$T/a1.ref" "$S2=$T/a2.ref" "$S3=$T/b.ref"; do
        id=${pair%%=*} ref=${pair#*=}
        rm -f "$T/r.img"
        run_checked create-volume --snapshot-id "$id" --path "$T/r.img" --force --quiet
        if [ "$rc" = 0 ]; then
            cmp "$ref" "$T/r.img" || die "a restore from the damaged store returned wrong bytes"
        elif [ -e "$T/r.img" ]; then
            # failed after the file was complete (recording the volume):
            # the file must then be whole, never partial
            cmp "$ref" "$T/r.img" || die "a failed restore left a partial or wrong file"
            info "(create-volume failed after its file was complete: $(tail -n 1 "$T/err"))"
        fi
    done
    run_checked diff "$S1" "$S2"
    run_checked create-snapshot --volume "$T/c.img" --quiet
    if [ "$rc" = 0 ]; then
        id=$(json_get SnapshotId "$T/out")
        run_checked create-volume --snapshot-id "$id" --path "$T/r.img" --force --quiet
        [ "$rc" != 0 ] || cmp "$T/c.img" "$T/r.img" || die "a snapshot taken on the damaged store restores wrong"
    fi
    run_checked gc
    [ "$FUSE" = 0 ] || fuse_try
    run_checked verify
    if [ "$damaged" = 1 ] && [ -e "$STORE/meta/data.mdb" ]; then
        cmp -s "$T/damaged.mdb" "$STORE/meta/data.mdb" ||
            die "a command wrote into meta/data.mdb after verify found it damaged"
    fi
    cp "$T/out" "$T/verify.last"
    repair_check
    info "$outcome"
}

tried=0
step "both LMDB meta pages zeroed"
store_copy "$CRASH_BASE"
dd if=/dev/zero of="$STORE/meta/data.mdb" bs=4096 count=2 conv=notrunc status=none
try_everything
grep -q '^store: meta/data.mdb page 0: not a meta page' "$T/verify.last" ||
    die "verify did not name the zeroed meta page: $(cat "$T/verify.last")"
tried=$((tried + 1))

step "data.mdb cut in half"
store_copy "$CRASH_BASE"
truncate -s $(($(stat -c %s "$STORE/meta/data.mdb") / 2)) "$STORE/meta/data.mdb"
try_everything
grep -q "^store: meta/data.mdb.*past the end of the file" "$T/verify.last" ||
    die "verify did not name the cut: $(cat "$T/verify.last")"
tried=$((tried + 1))

step "data.mdb deleted"
store_copy "$CRASH_BASE"
rm -f "$STORE/meta/data.mdb"
try_everything
tried=$((tried + 1))

# A record that still parses: one bit of a digit of S2's stored size
# flipped ('6' -> '2': 16777216 reads as 12777216, and the tree beyond
# 12 MB is zeros, so the tree cannot tell).  Records carry a check:
# verify names the record, the repair drops it and finds S2's tree again.
# (Without the check, verify and the repair passed it and S2 restored
# 4 MB short.)
step "one bit of a digit of S2's stored size flipped"
store_copy "$CRASH_BASE"
python3 - "$STORE/meta/data.mdb" "$S2" "$(stat -c %s "$T/a2.ref")" <<'EOF'
import sys
path, sid, size = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
assert size == b"16777216", size
data = bytearray(open(path, "rb").read())
flipped, i = 0, data.find(b'{"id":"' + sid)
while i >= 0:
    # the live record and any stale copy of it in pages LMDB freed
    j = data.find(b'"size":' + size, i, i + 400)
    if j >= 0 and b'"state":"completed"' in data[i:j]:
        data[j + 8] ^= 4
        flipped += 1
    i = data.find(b'{"id":"' + sid, i + 1)
assert flipped, "no completed record of the snapshot found"
open(path, "r+b").write(data)
EOF
rc=0
"$BLOCKSNAP" --store "$STORE" verify >/dev/null 2>"$T/flip.err" || rc=$?
[ "$rc" = 1 ] && grep -q "snapshot record $S2 is damaged" "$T/flip.err" ||
    die "verify did not name S2's damaged record (exit $rc): $(cat "$T/flip.err")"
try_everything
! grep -qx "$S2" "$T/snap.ids" || die "the repair kept S2's damaged record"
tried=$((tried + 1))

if [ "$FUSE" = 1 ]; then
    # The file cut under a running mount: liblmdb's next reads past the new
    # end fault (SIGBUS) in the daemon's worker threads; the guard turns
    # them into EIO and the daemon goes on and unmounts cleanly (the
    # engine's debug line, BLOCKSNAP_DEBUG=meta, shows the guard caught it).
    step "data.mdb cut to its meta pages while a mount serves the store"
    store_copy "$CRASH_BASE"
    mkdir -p "$T/live"
    BLOCKSNAP_DEBUG=meta fuse_mount "$T/live"
    cmp "$T/a1.ref" "$T/live/snapshots/$S1.img" || die "the undamaged mount read S1 wrong"
    truncate -s 8192 "$STORE/meta/data.mdb"
    if timeout -s KILL "$LIMIT" cat "$T/live/snapshots/$S3.img" >"$T/f.img" 2>/dev/null; then
        cmp -s "$T/b.ref" "$T/f.img" || die "a FUSE read after the cut returned wrong bytes"
    fi
    kill -0 "$FUSE_PID" 2>/dev/null || die "the mount daemon died when data.mdb was cut: $(cat "$FUSE_LOG")"
    grep -q 'liblmdb faulted with SIGBUS' "$FUSE_LOG" || die "no fault caught in the daemon: $(cat "$FUSE_LOG")"
    fuse_unmount "$T/live"
    info "the daemon caught: $(grep -m 1 'liblmdb faulted' "$FUSE_LOG")"
    tried=$((tried + 1))
fi

kinds=(any branch leaf overflow)
for seed in $(seq 1 "${CORRUPT_SEEDS:-48}"); do
    kind=${kinds[$((seed % 4))]}
    store_copy "$CRASH_BASE"
    if [ "$kind" = any ]; then
        step "seed $seed: 20 random bit flips anywhere in data.mdb"
        python3 - "$STORE/meta/data.mdb" "$seed" <<'EOF'
import os, random, sys
path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
pages = os.path.getsize(path) // 4096
with open(path, "r+b") as f:
    for _ in range(20):
        off = rng.randrange(2, pages) * 4096 + rng.randrange(4096)
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ (1 << rng.randrange(8))]))
EOF
    else
        step "seed $seed: 4 bit flips in the structure of $kind pages"
        python3 "$MDB_PAGES" damage "$STORE/meta/data.mdb" "$kind" "$seed" 4 | while read -r l; do info "$l"; done
    fi
    try_everything
    tried=$((tried + 1))
done
summary=""
for k in ok refused-damaged guarded-fault other-error mount-refused fuse-read-ok fuse-read-error \
    fuse-guarded-fault repair-kept repair-recovered; do
    summary+="$k ${TOTAL[$k]:-0}, "
done
step "$tried kinds of metadata damage: no crash, no hang, no sanitizer report, no wrong byte;" \
    "outcomes: ${summary%, }"
