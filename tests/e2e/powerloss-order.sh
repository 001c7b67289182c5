#!/usr/bin/env bash
# Pack data is durable before the metadata that names it.
#
# 1. The order itself: with tests/tools/powerloss.so logging every write and
#    sync of the store, a create-snapshot, a delete, a gc and a restore each
#    sync every pack write before the next metadata sync (LMDB commits its
#    pages with fdatasync before it writes the meta page through an O_DSYNC
#    fd), so no committed index entry can name bytes a power cut may lose.
# 2. The check has teeth: the same snapshot with the packs' fdatasync made a
#    lie (BSNAP_PL_LIE), then a power cut after it finished: the metadata
#    now names lost bytes, and verify must say so (exit 1, naming chunks,
#    pack and offset) and the restore must fail rather than return zeros.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
export CRASH_POWERLOSS=1
# shellcheck source=../lib/crash-functions.sh
source "$(dirname "$0")/../lib/crash-functions.sh"
requires python3 cmp timeout

crash_setup 16
dd if=/dev/urandom of="$T/a.img" bs=64K seek=64 count=128 conv=notrunc status=none
cp "$T/a.img" "$T/a3.ref"

# check_order LOG: every pack write is followed by a sync of that pack
# before the next metadata (data.mdb) sync.  Prints the counts.
check_order() {
    python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
pos, H = 0, 37
unsynced = {}   # pack path -> number of writes since its last sync
packs_w = meta_s = 0
bad = []
while pos + H <= len(d):
    t = chr(d[pos])
    plen, off, osz, ln, have = struct.unpack_from("=IQQQQ", d, pos + 1)
    path = d[pos + H:pos + H + plen].decode()
    pos += H + plen + have
    if "/packs/" in path:
        if t == "W":
            unsynced[path] = unsynced.get(path, 0) + 1
            packs_w += 1
        elif t == "S":
            unsynced.pop(path, None)
    elif path.endswith("/meta/data.mdb") and t == "S":
        meta_s += 1
        for p, n in unsynced.items():
            bad.append("metadata synced with %d unsynced writes of %s" % (n, p))
print("%d pack writes, %d metadata syncs" % (packs_w, meta_s))
for b in bad:
    print("ORDER:", b)
sys.exit(1 if bad else 0)
PY
}

# traced ARGS...: run blocksnap ARGS with the shim logging, check the order.
traced() {
    rm -f "$T/powerloss.log"
    env LD_PRELOAD="$POWERLOSS_SO" BSNAP_PL_DIR="$STORE/" BSNAP_PL_LOG="$T/powerloss.log" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        "$BLOCKSNAP" --store "$STORE" "$@" >"$T/traced.out" 2>"$T/traced.err" ||
        { cat "$T/traced.err"; die "blocksnap $* failed under the shim"; }
    _check_sanitizer "$T/traced.err" "blocksnap $* (traced)"
    info "$1: $(check_order "$T/powerloss.log" || die "$1: pack data not durable before its metadata")"
}

step "the order of writes and syncs"
store_copy "$CRASH_BASE"
traced create-snapshot --volume "$T/a.img" --threads 1 --quiet
S4=$(json_get SnapshotId "$T/traced.out")
traced delete-snapshot --snapshot-id "$S2"
traced gc --max-unused 0 # (its rewrites too)
traced create-volume --snapshot-id "$S4" --path "$T/r4.img" --quiet
cmp "$T/a3.ref" "$T/r4.img" || die "S4 does not restore"
assert_verify_ok

step "a power cut after a clean run loses nothing"
store_copy "$CRASH_BASE"
# (a kill point it never reaches: the run ends, then the power goes)
CRASH_POWERLOSS_MODE=all run_killed fault:pl-sync:1000000 create-snapshot --volume "$T/a.img" --threads 1 --quiet
assert_eq "$KILLED_RC" 0 "the run"
S4=$(json_get SnapshotId "$T/killed.stdout")
assert_verify_ok
restore_matches "$S4" "$T/a3.ref"

step "negative control: pack syncs that lie, then a power cut"
store_copy "$CRASH_BASE"
CRASH_POWERLOSS_LIE=/packs/ CRASH_POWERLOSS_MODE=all \
    run_killed fault:pl-sync:1000000 create-snapshot --volume "$T/a.img" --threads 1 --quiet
assert_eq "$KILLED_RC" 0 "the run"
S4=$(json_get SnapshotId "$T/killed.stdout")
rc=0
timeout 300 "$BLOCKSNAP" --store "$STORE" verify >"$T/verify.out" 2>"$T/verify.err" || rc=$?
_check_sanitizer "$T/verify.err" "verify (negative control)"
head -n 5 "$T/verify.out" | sed 's/^/   | /'
info "... $(grep -vc '^verified ' "$T/verify.out") problem lines"
assert_eq "$rc" 1 "verify of a store whose metadata names lost pack bytes"
# (through a file: `grep | grep -q` can end the first grep with SIGPIPE)
grep -v '^verified ' "$T/verify.out" >"$T/problems" || true
grep -q "^snapshot $S4 " "$T/problems" || die "verify does not name the damaged snapshot"
grep -qE 'chunk [0-9a-f]{32} pack [0-9]+ offset [0-9]+' "$T/problems" ||
    die "verify does not name chunk, pack and offset"
expect_fail - 1 bs create-volume --snapshot-id "$S4" --path "$T/r4-lie.img"
[ ! -e "$T/r4-lie.img" ] || die "a failed restore left its file"
restore_matches "$S1" "$T/a1.ref"
restore_matches "$S3" "$T/b.ref"
