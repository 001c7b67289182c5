# fuse-functions.sh - helpers of the FUSE view's tests (tests/e2e/fuse-*.sh).
#
# Source after functions.sh.  The daemon always runs in the foreground as a
# child of the test (so its stderr, with any sanitizer report, is kept and
# checked), is registered for cleanup by PID, and its mountpoint is
# registered for unmounting; functions.sh's EXIT trap does the rest in every
# outcome.

requires fusermount3 python3 pgrep
[ -c /dev/fuse ] || skip "no /dev/fuse"

FUSE_PID=
FUSE_LOG=
_FUSE_SEQ=0

# fuse_leftovers: print blocksnap mounts that tests left behind: those
# under a test's temporary directory (bsnap-NAME.XXXXXX) whose test NAME is
# not running any more.  (Another copy of the suite may be running at the
# same time: its live mounts are not leftovers.)
fuse_leftovers() {
    local m name
    awk -v pre="${TMPDIR:-/tmp}/bsnap-" '$3 == "fuse.blocksnap" && index($2, pre) == 1 { print $2 }' \
        /proc/self/mounts | while read -r m; do
        name=${m#"${TMPDIR:-/tmp}/bsnap-"}
        name=${name%%.*}
        if [ "$name" = "$TEST_NAME" ] && [[ $m == "$T"/* ]]; then
            echo "$m" # ours: always counts
        elif ! pgrep -f "e2e/$name\.sh" >/dev/null 2>&1; then
            echo "$m"
        fi
    done
}

# fuse_assert_clean: no test left a blocksnap mount behind.
fuse_assert_clean() {
    local left
    left=$(fuse_leftovers)
    [ -z "$left" ] || die "blocksnap mounts left behind: $left"
}

# fuse_mount MNT [ARGS...]: run `blocksnap mount MNT --foreground ARGS` in
# the background and wait until the mount answers.  Sets FUSE_PID and
# FUSE_LOG (the daemon's stderr).
fuse_mount() {
    local mnt=$1 i
    shift
    _FUSE_SEQ=$((_FUSE_SEQ + 1))
    FUSE_LOG=$T/mount-$_FUSE_SEQ.log
    # shellcheck disable=SC2086 # the wrapper is a word list on purpose
    ${BLOCKSNAP_WRAPPER:-} "$BLOCKSNAP" --store "$STORE" mount "$mnt" --foreground "$@" \
        2>"$FUSE_LOG" &
    FUSE_PID=$!
    on_cleanup_pid "$FUSE_PID"
    on_cleanup_mount "$mnt"
    # up to 60 s: the daemon may run under valgrind ($BLOCKSNAP_WRAPPER)
    for i in $(seq 1 600); do
        if _is_mounted "$mnt" && stat "$mnt" >/dev/null 2>&1; then
            info "mounted $mnt (pid $FUSE_PID)"
            return 0
        fi
        if ! kill -0 "$FUSE_PID" 2>/dev/null; then
            cat "$FUSE_LOG" >&2
            die "the mount daemon exited before the mount answered"
        fi
        sleep 0.1
    done
    die "the mount at $mnt did not answer within 60 s"
}

# fuse_unmount MNT: unmount with `blocksnap umount`, wait for the daemon,
# check that it exited 0 and reported no sanitizer error.
fuse_unmount() {
    local mnt=$1 rc=0
    bs umount "$mnt" || die "blocksnap umount $mnt failed"
    wait "$FUSE_PID" || rc=$?
    _check_sanitizer "$FUSE_LOG" "blocksnap mount (daemon)"
    [ "$rc" -eq 0 ] || {
        cat "$FUSE_LOG" >&2
        die "the mount daemon exited $rc"
    }
    ! _is_mounted "$mnt" || die "$mnt is still mounted after umount"
}

# seek_map FILE: the file's data segments as SEEK_DATA/SEEK_HOLE report
# them, one "START END" line each.
seek_map() {
    python3 - "$1" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
off = 0
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    print(d, h)
    off = h
EOF
}

# nonzero_map FILE CHUNK [OFFSET LENGTH]: the map a snapshot of FILE (or of
# the window OFFSET..+LENGTH of it, chunks aligned to the file's start) must
# report: the runs of chunks that are not all zero, relative to the window,
# clipped to it.  Reads only FILE's data regions.
nonzero_map() {
    python3 - "$@" <<'EOF'
import os, sys
path, chunk = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
woff = int(sys.argv[3]) if len(sys.argv) > 3 else 0
wlen = int(sys.argv[4]) if len(sys.argv) > 4 else size
wend = woff + wlen
# data segments of the source, to skip its holes
segs, off = [], 0
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    segs.append((d, h))
    off = h
nz = set()
for d, h in segs:
    c = d // chunk
    while c * chunk < h:
        start = c * chunk
        buf = os.pread(fd, min(chunk, size - start), start)
        if buf.count(0) != len(buf):
            nz.add(c)
        c += 1
runs = []
for c in sorted(nz):
    a, b = max(c * chunk, woff), min((c + 1) * chunk, size, wend)
    if a >= b:
        continue
    if runs and runs[-1][1] == a:
        runs[-1][1] = b
    else:
        runs.append([a, b])
for a, b in runs:
    print(a - woff, b - woff)
EOF
}

# chunk_size: the store's chunk size.
chunk_size() {
    store_field ChunkSize
}

# listing DIR: the names in DIR on one line, sorted ("" when empty).
listing() { ls "$1" | sort | tr '\n' ' ' | sed 's/ $//'; }
# absent PATH: PATH does not exist (ENOENT), not an error of another kind.
absent() {
    python3 - "$1" <<'EOF'
import errno, os, sys
try:
    os.stat(sys.argv[1])
except OSError as e:
    sys.exit(0 if e.errno == errno.ENOENT else "%s: %s" % (sys.argv[1], e))
sys.exit("%s exists" % sys.argv[1])
EOF
}
