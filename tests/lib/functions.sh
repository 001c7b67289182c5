# shellcheck shell=bash
# shellcheck disable=SC2034,SC2119,SC2120 # a library: its names are used by the tests
# functions.sh - shared helpers of the end-to-end tests (tests/e2e/*.sh).
#
# Source it first thing:  source "$(dirname "$0")/../lib/functions.sh"
#
# What it sets up:
#   - strict mode (set -euo pipefail) and an EXIT trap that always cleans up:
#     it unmounts what was registered with on_cleanup_mount, kills the PIDs
#     registered with on_cleanup_pid, detaches loop devices registered with
#     on_cleanup_loop, runs commands registered with on_cleanup, then removes
#     the test's temporary directory (kept when KEEP_TEST_DIR=1);
#   - $T, a fresh temporary directory for this test, and $STORE, the store
#     every `bs` call uses (--store, always: tests never touch a user's store;
#     XDG_DATA_HOME and BLOCKSNAP_STORE point into $T as a second guard);
#   - $BLOCKSNAP, the binary under test (set by CTest; required).
#
# Conventions: a test prints what it does with `step`, fails with `die`
# (exit 1), skips with `skip` (exit 77, CTest's SKIP_RETURN_CODE).  Every
# blocksnap run through `bs` is checked for sanitizer reports; a report fails
# the test even when the command's exit status was the expected one.

set -euo pipefail
shopt -s nullglob inherit_errexit

TEST_NAME=$(basename "$0" .sh)
TESTS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$TESTS_LIB_DIR/../.." && pwd)

# ---------------------------------------------------------------------------
# Messages, failing, skipping
# ---------------------------------------------------------------------------

step() { printf '\n== %s: %s\n' "$TEST_NAME" "$*"; }
info() { printf '   %s\n' "$*"; }
die() {
    printf '\nFAIL: %s: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}
skip() {
    printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*"
    exit 77
}

# requires CMD...: skip the test unless every command exists.
requires() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "needs '$c'"
    done
}

requires_root() {
    [ "$(id -u)" -eq 0 ] || skip "needs root"
}

# has_faults: whether $BLOCKSNAP has the failure-injection hooks (a test
# build: -DBSNAP_FAULT_INJECTION=ON); a release build ignores
# BLOCKSNAP_FAULT, and only the hooks read that name.
has_faults() { grep -aq BLOCKSNAP_FAULT "$BLOCKSNAP"; }
requires_faults() {
    has_faults || skip "$BLOCKSNAP has no failure injection (-DBSNAP_FAULT_INJECTION=ON)"
}

# ---------------------------------------------------------------------------
# Temporary directory, store and cleanup
# ---------------------------------------------------------------------------

: "${BLOCKSNAP:?BLOCKSNAP must name the blocksnap binary under test}"
[ -x "$BLOCKSNAP" ] || die "BLOCKSNAP=$BLOCKSNAP is not an executable"
BLOCKSNAP=$(cd "$(dirname "$BLOCKSNAP")" && pwd)/$(basename "$BLOCKSNAP")

T=$(mktemp -d "${TMPDIR:-/tmp}/bsnap-$TEST_NAME.XXXXXX")
STORE=$T/store
# Second guard: even a blocksnap run without --store never reaches the
# user's default store.
export XDG_DATA_HOME=$T/xdg
export BLOCKSNAP_STORE=$T/env-store
# Nor the user's config files, profile or region.
export XDG_CONFIG_HOME=$T/config
unset BLOCKSNAP_CONFIG_FILE BLOCKSNAP_SHARED_CREDENTIALS_FILE BLOCKSNAP_PROFILE BLOCKSNAP_REGION

_CLEANUP_MOUNTS=()
_CLEANUP_PIDS=()
_CLEANUP_LOOPS=()
_CLEANUP_CMDS=()

on_cleanup_mount() { _CLEANUP_MOUNTS+=("$1"); }
on_cleanup_pid() { _CLEANUP_PIDS+=("$1"); }
on_cleanup_loop() { _CLEANUP_LOOPS+=("$1"); }
on_cleanup() { _CLEANUP_CMDS+=("$*"); }

_is_mounted() {
    local d
    d=$(realpath -m "$1")
    awk -v d="$d" '$2 == d { found = 1 } END { exit !found }' /proc/self/mounts
}

_cleanup() {
    local rc=$? i p m l
    set +e
    # Children first, newest first, so nothing keeps a mount busy.
    for ((i = ${#_CLEANUP_PIDS[@]} - 1; i >= 0; i--)); do
        p=${_CLEANUP_PIDS[i]}
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                kill -0 "$p" 2>/dev/null || break
                sleep 0.2
            done
            kill -KILL "$p" 2>/dev/null
        fi
        wait "$p" 2>/dev/null
    done
    for ((i = ${#_CLEANUP_MOUNTS[@]} - 1; i >= 0; i--)); do
        m=${_CLEANUP_MOUNTS[i]}
        _is_mounted "$m" || continue
        fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
            fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    for ((i = ${#_CLEANUP_LOOPS[@]} - 1; i >= 0; i--)); do
        l=${_CLEANUP_LOOPS[i]}
        losetup -d "$l" 2>/dev/null
    done
    for ((i = ${#_CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do
        eval "${_CLEANUP_CMDS[i]}"
    done
    if [ -e "$T/.sanitizer-report" ]; then
        printf '\nFAIL: %s: sanitizer report from: %s\n' "$TEST_NAME" \
            "$(cat "$T/.sanitizer-report")" >&2
        rc=1
    fi
    if [ "${KEEP_TEST_DIR:-0}" = 1 ]; then
        echo "kept $T" >&2
    else
        chmod -R u+rwX "$T" 2>/dev/null
        rm -rf "$T"
    fi
    if [ "$rc" -eq 0 ]; then
        printf '\nPASS: %s\n' "$TEST_NAME"
    fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Running blocksnap
# ---------------------------------------------------------------------------

# Fail the test (now and again at exit, even from a subshell) when FILE holds
# a sanitizer report.
_check_sanitizer() {
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|ThreadSanitizer|==[0-9]+== (Invalid|Conditional|Syscall param|.*definitely lost)' "$1"; then
        printf '%s\n' "$2" >>"$T/.sanitizer-report"
        die "sanitizer report from: $2"
    fi
}

_BS_SEQ=0
# bs ARGS...: run blocksnap on the test's store.  stdout passes through;
# stderr is replayed after the command ends and kept in $T/last.stderr.
# $BLOCKSNAP_WRAPPER (e.g. "valgrind --error-exitcode=99 -q") is put in front.
bs() {
    local rc=0 errf
    _BS_SEQ=$((_BS_SEQ + 1))
    errf=$T/.bs-$BASHPID-$_BS_SEQ.stderr
    # shellcheck disable=SC2086 # the wrapper is a word list on purpose
    ${BLOCKSNAP_WRAPPER:-} "$BLOCKSNAP" --store "$STORE" "$@" 2>"$errf" || rc=$?
    cat "$errf" >&2
    cp "$errf" "$T/last.stderr"
    _check_sanitizer "$errf" "blocksnap $*"
    rm -f "$errf"
    return "$rc"
}

# expect_fail CODE EXIT CMD ARGS...: run CMD (typically bs ...), expect exit
# status EXIT (or one of "1|2") and an error line on stderr that names CODE, in the form
# "blocksnap: error: MESSAGE (CODE)".  CODE "-" checks only for the error
# line.  stdout and stderr are left in $T/fail.stdout and $T/fail.stderr for
# further checks of the message.
expect_fail() {
    local code=$1 want=$2 rc=0
    shift 2
    "$@" >"$T/fail.stdout" 2>"$T/fail.stderr" || rc=$?
    info "\$ ${*} -> exit $rc"
    sed 's/^/   | /' "$T/fail.stderr"
    [[ "|$want|" == *"|$rc|"* ]] || die "'$*' exited $rc, expected $want"
    grep -q '^blocksnap: error: ' "$T/fail.stderr" ||
        grep -q '^blocksnap: ' "$T/fail.stderr" ||
        die "'$*': no 'blocksnap: error:' line on stderr"
    if [ "$code" != - ]; then
        grep -qF "($code)" "$T/fail.stderr" || die "'$*': stderr does not name ($code)"
    fi
}

# stderr_contains TEXT...: the last expect_fail's stderr names each TEXT
# (case-insensitive, fixed strings).
stderr_contains() {
    local s
    for s in "$@"; do
        grep -qiF -- "$s" "$T/fail.stderr" || die "error message does not mention '$s'"
    done
}

# json_get PATH [FILE]: print the value at PATH of the JSON document on stdin
# (or in FILE).  PATH is dotted: "Snapshots.0.SnapshotId"; a trailing "#"
# prints a list's length ("Snapshots.#").  Strings print raw, other values
# as JSON.  A missing key is an error.
json_get() {
    python3 -c '
import json, sys
path = sys.argv[1]
doc = json.load(open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin)
v = doc
for part in [p for p in path.split(".") if p]:
    if part == "#":
        v = len(v)
        break
    try:
        v = v[int(part)] if isinstance(v, list) else v[part]
    except (KeyError, IndexError, ValueError, TypeError):
        sys.exit("json_get: no %r in %s (at %r)" % (path, json.dumps(doc)[:400], part))
print(v if isinstance(v, str) else json.dumps(v))
' "$@"
}

# account_profiles ACCOUNT [PROFILE=ACCOUNT...]: the default profile's
# account id, then each named profile in the region "local" (the default
# profile's when it names none) with its own account id, so that all of
# them share one store.
account_profiles() {
    local p
    "$BLOCKSNAP" configure set blocksnap_account_id "$1" || die "configure the default account"
    shift
    for p in "$@"; do
        "$BLOCKSNAP" configure set "profile.${p%%=*}.region" local ||
            die "configure profile ${p%%=*}"
        "$BLOCKSNAP" --profile "${p%%=*}" configure set blocksnap_account_id "${p#*=}" ||
            die "configure profile ${p%%=*}"
    done
}

# images ARGS...: the image ids describe-images ARGS lists, one a line.
images() {
    "$BLOCKSNAP" describe-images "$@" | python3 -c '
import json, sys
for i in json.load(sys.stdin)["Images"]:
    print(i["ImageId"])'
}

# snapshot_create IMG [ARGS...]: snapshot IMG quietly, print the new id.
snapshot_create() {
    local img=$1
    shift
    bs create-snapshot --volume "$img" --quiet "$@" >"$T/snapshot.json"
    json_get SnapshotId "$T/snapshot.json"
}

# restore SNAP FILE: create-volume into FILE (replacing it).
restore() {
    bs create-volume --snapshot-id "$1" --path "$2" --force --quiet >"$T/volume.json"
}

# store_field KEY: one field of describe-store (the store is created first
# when it does not exist yet: reading verbs refuse a missing store).
store_field() {
    [ -f "$STORE/config" ] || bs create-store >/dev/null
    bs describe-store | json_get "$1"
}
# store_bytes: bytes of pack files; 0 before the first writing verb created
# the store (reading verbs refuse a missing store).
store_bytes() {
    if [ -f "$STORE/config" ]; then store_field PackBytes; else echo 0; fi
}

# store_state: the snapshot ids with their states and the volume ids, one
# per line, sorted: what "the store is as before" compares.
store_state() {
    {
        bs describe-snapshots | python3 -c '
import json, sys
for s in json.load(sys.stdin)["Snapshots"]:
    print("snapshot", s["SnapshotId"], s["State"], s.get("VolumeId", ""))'
        bs describe-volumes | python3 -c '
import json, sys
for v in json.load(sys.stdin)["Volumes"]:
    print("volume", v["VolumeId"])'
    } | sort
}

# assert_store_unchanged BEFORE_FILE: the store's state equals the one saved
# earlier with `store_state >FILE`, and verify passes.
assert_store_unchanged() {
    store_state >"$T/state.after"
    if ! diff -u "$1" "$T/state.after"; then
        die "the store changed (diff above: - before, + after)"
    fi
    assert_verify_ok
}

# assert_verify_ok [ARGS...]: `verify` exits 0, prints no problem line and
# its summary line ("verified ...: 0 problems, ...") says so.
assert_verify_ok() {
    local rc=0
    bs verify "$@" >"$T/verify.out" || rc=$?
    if [ "$rc" -ne 0 ] || grep -qv '^verified ' "$T/verify.out" ||
        ! grep -q '^verified .*: 0 problems' "$T/verify.out"; then
        sed 's/^/   | /' "$T/verify.out"
        die "verify $* failed (exit $rc)"
    fi
}

assert_eq() {
    [ "$1" = "$2" ] || die "${3:-values differ}: '$1' != '$2'"
}

# assert_le A B MSG: integers, A <= B.
assert_le() {
    [ "$1" -le "$2" ] || die "${3:-bound exceeded}: $1 > $2"
}

assert_same_file() {
    cmp "$1" "$2" || die "${3:-files differ}: $1 $2"
}

# ---------------------------------------------------------------------------
# Building test volumes
# ---------------------------------------------------------------------------

# fill_tree DIR [MIB]: a realistic mixed tree of about MIB MiB (default 24):
# text, random (incompressible), zero-filled and sparse files, copies of
# system files, nested directories and a symlink.
fill_tree() {
    local dir=$1 mib=${2:-24} i
    mkdir -p "$dir/etc" "$dir/var/log" "$dir/home/user/docs" "$dir/usr/share" "$dir/data"
    for i in 1 2 3 4 5 6; do
        seq -f "line %g of a log file with some words in it" 1 $((4000 * i)) >"$dir/var/log/app.$i.log"
    done
    printf 'hostname=test\nlisten=0.0.0.0:8080\n' >"$dir/etc/app.conf"
    for i in $(seq 1 40); do
        printf 'note %d\nwritten by the blocksnap tests\n' "$i" >"$dir/home/user/docs/note-$i.txt"
    done
    # random data, the bulk of the tree
    head -c $((mib * 1024 * 1024 * 2 / 3)) /dev/urandom >"$dir/data/blob.bin"
    head -c $((mib * 1024 * 1024 / 12)) /dev/urandom >"$dir/data/small.bin"
    head -c $((mib * 1024 * 1024 / 12)) /dev/zero >"$dir/data/zeros.bin"
    truncate -s 8M "$dir/data/sparse.bin"
    printf 'tail' >>"$dir/data/sparse.bin"
    # real files from the system, a few MiB at most (through a file: `find |
    # head` would end find with SIGPIPE under pipefail)
    find /usr/share/common-licenses /usr/share/doc -maxdepth 2 -type f -size -64k \
        >"$T/.doc-files" 2>/dev/null || true
    head -n 300 "$T/.doc-files" >"$T/.doc-files.300"
    tar -cf - -T "$T/.doc-files.300" 2>/dev/null | tar -xf - -C "$dir" 2>/dev/null || true
    ln -sf ../etc/app.conf "$dir/home/user/app.conf"
}

# make_ext4_image SIZE DIR IMG: a sparse ext4 image of SIZE (as truncate
# takes it, e.g. 128M) holding the tree DIR.  No root needed.
make_ext4_image() {
    local size=$1 dir=$2 img=$3
    requires mkfs.ext4
    rm -f "$img"
    truncate -s "$size" "$img"
    mkfs.ext4 -q -F -b 4096 -d "$dir" "$img" >/dev/null
}

# debugfs_w IMG CMDS...: apply debugfs write requests (one per argument) to
# the ext4 image IMG, without mounting it.
debugfs_w() {
    local img=$1
    shift
    printf '%s\n' "$@" | debugfs -w -f - "$img" >"$T/debugfs.out" 2>"$T/debugfs.err" ||
        {
            cat "$T/debugfs.out" "$T/debugfs.err"
            die "debugfs failed"
        }
    # debugfs exits 0 whatever its requests did; its stderr has a version
    # banner and one line per failed request.
    if grep -v '^debugfs [0-9]' "$T/debugfs.err" | grep -q .; then
        cat "$T/debugfs.err"
        die "debugfs reported an error"
    fi
}

# file_blocks IMG PATH: the physical block numbers (4 KiB) of a file in an
# ext4 image, one per line.
file_blocks() {
    debugfs -R "blocks $2" "$1" 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$'
}

# rewrite_blocks IMG BLOCK COUNT: overwrite COUNT 4 KiB blocks at BLOCK with
# random bytes in place (dd conv=notrunc), as a guest writing a file would.
rewrite_blocks() {
    dd if=/dev/urandom of="$1" bs=4096 seek="$2" count="$3" conv=notrunc status=none
}

# changed_ranges A B CHUNK: the chunk-aligned byte ranges in which files A
# and B differ, merged and clipped to the larger size, one "OFFSET LENGTH"
# line each: what `blocksnap diff` must print.  A may be "-" for "nothing"
# (then every non-zero chunk of B is listed).  Bytes past a file's end count
# as zeros.
changed_ranges() {
    python3 - "$1" "$2" "$3" <<'EOF'
import os, sys
a, b, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
fa = open(a, "rb") if a != "-" else None
fb = open(b, "rb")
sa = os.fstat(fa.fileno()).st_size if fa else 0
sb = os.fstat(fb.fileno()).st_size
size = max(sa, sb)
zero = bytes(chunk)
runs = []
off = 0
while off < size:
    n = min(chunk, size - off)
    x = fa.read(chunk) if fa else b""
    y = fb.read(chunk)
    x = x + bytes(n - len(x))
    y = y + bytes(n - len(y))
    if x != y:
        if runs and runs[-1][0] + runs[-1][1] == off:
            runs[-1][1] += n
        else:
            runs.append([off, n])
    off += n
for o, l in runs:
    print(o, l)
EOF
}

# diff_ranges [A] B: the "OFFSET LENGTH" lines of `blocksnap diff A B`,
# after checking the header line it starts with names A (or "-" when no A
# is given) and B.
diff_ranges() {
    local a=- b=$1 out="$T/.diff_ranges.$$" hdr
    if [ $# -eq 2 ]; then
        a=$1
        b=$2
    fi
    bs diff "$@" >"$out" || return
    hdr=$(head -n 1 "$out")
    [ "$hdr" = "# blocksnap diff $a $b" ] || die "diff $*: first line '$hdr', not its header"
    tail -n +2 "$out"
    rm -f "$out"
}

# ranges_bytes FILE: the total length of the "OFFSET LENGTH" lines in FILE.
ranges_bytes() {
    awk '{ s += $2 } END { print s + 0 }' "$1"
}

# now_ns: a monotonic-enough clock in nanoseconds, for printed timings.
now_ns() { date +%s%N; }

# sparse_cmp A B: like cmp for large sparse files: the sizes are equal and
# the bytes are, reading only the data regions of either file (holes read
# as zeros).  Cost is proportional to the data, not the size.
sparse_cmp() {
    python3 - "$1" "$2" <<'EOF_PY'
import os, sys
def segments(fd, size):
    out, off = [], 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        out.append((d, h))
        off = h
    return out
fa, fb = (os.open(p, os.O_RDONLY) for p in sys.argv[1:3])
sa, sb = os.fstat(fa).st_size, os.fstat(fb).st_size
if sa != sb:
    sys.exit("sparse_cmp: sizes differ: %d %d" % (sa, sb))
segs = sorted(segments(fa, sa) + segments(fb, sb))
for d, h in segs:
    off = d
    while off < h:
        n = min(1 << 20, h - off)
        x, y = os.pread(fa, n, off), os.pread(fb, n, off)
        if x != y:
            i = next(i for i in range(n) if x[i:i+1] != y[i:i+1])
            sys.exit("sparse_cmp: %s %s differ at byte %d" % (sys.argv[1], sys.argv[2], off + i))
        off += n
EOF_PY
}

# ebs_blocks IMG DIR: split IMG into EBS direct's 512 KiB blocks, one file
# DIR/N per block that is not all zeros, and print their indexes.
ebs_blocks() {
    mkdir -p "$2"
    python3 - "$1" "$2" <<'PY'
import os, sys
img, d = sys.argv[1], sys.argv[2]
B = 524288
with open(img, "rb") as f:
    i = 0
    while True:
        b = f.read(B)
        if not b:
            break
        if b.count(0) != len(b):
            open(os.path.join(d, str(i)), "wb").write(b)
            print(i)
        i += 1
PY
}

# qmp SOCKET COMMAND [ARGUMENTS_JSON]: one QMP command; prints its "return"
# as JSON, fails on an "error".
qmp() {
    python3 - "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
f = s.makefile("rw")
def reply():
    while True:
        line = f.readline()
        if not line:
            return {"return": {}}  # quit closes the connection
        m = json.loads(line)
        if "return" in m or "error" in m:
            return m
json.loads(f.readline())
f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n"); f.flush(); reply()
cmd = {"execute": sys.argv[2]}
if len(sys.argv) > 3:
    cmd["arguments"] = json.loads(sys.argv[3])
f.write(json.dumps(cmd) + "\n"); f.flush()
m = reply()
if "error" in m:
    sys.exit("qmp %s: %s" % (sys.argv[2], m["error"]))
print(json.dumps(m["return"]))
PY
}

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds; fail the
# test after SECONDS.  For daemons and mounts that come up asynchronously.
wait_until() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 10; i++)); do
        if "$@" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "timed out after ${limit}s waiting for: $*"
}

# is_mounted DIR: DIR is a mount point now.
is_mounted() { _is_mounted "$1"; }
