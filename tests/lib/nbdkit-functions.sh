# shellcheck shell=bash
# shellcheck disable=SC2034 # a library: its names are used by the tests
# nbdkit-functions.sh - serving a store through the nbdkit plugin in the
# end-to-end tests (tests/e2e/nbdkit-*.sh).  Source after functions.sh.
#
#   PLUGIN        the plugin under test (BSNAP_BUILD_DIR's); the test skips
#                 when this build has none (no nbdkit-plugin-dev)
#   nbdkit_serve NAME ARGS...  start `nbdkit -f` on the Unix socket
#                 $T/NAME.sock serving the plugin with ARGS (store=$STORE is
#                 added unless ARGS name a store), wait until it answers,
#                 and register its PID for the EXIT trap; sets NBD_URI
#   nbdkit_stop NAME           stop it (SIGTERM, by PID) and wait for it
#   nbdkit_refuses ARGS...     nbdkit with ARGS must exit 1 before serving;
#                 its stderr is left in $T/fail.stderr
#   nbd_control SOCKET LINE    one request on a control= socket: its answer
#   nbd_data_map URI           the data extents of block status, merged, one
#                 "OFFSET LENGTH" line each (as `blocksnap diff SNAP` prints)
#
# In a sanitizer build the plugin needs the ASan runtime first in the
# process (nbdkit is not built with it): it is preloaded into nbdkit alone,
# never into the clients.  The server's stderr ($T/NAME.log) is checked for
# sanitizer reports when it stops.

requires nbdkit nbdinfo
: "${BSNAP_BUILD_DIR:?BSNAP_BUILD_DIR must name the build directory}"
PLUGIN=$BSNAP_BUILD_DIR/nbdkit/nbdkit-blocksnap-plugin.so
[ -f "$PLUGIN" ] || skip "this build has no nbdkit plugin (nbdkit-plugin-dev missing)"

_NBDKIT_PRELOAD=
ldd "$PLUGIN" >"$T/.plugin-ldd" 2>&1 || true
if grep -q 'libasan\.' "$T/.plugin-ldd"; then
    _NBDKIT_PRELOAD=$(gcc -print-file-name=libasan.so)
    [ -f "$_NBDKIT_PRELOAD" ] || skip "the plugin is built with ASan but libasan.so is not found"
fi

# _nbdkit_cmd: the words that start nbdkit: the ASan runtime preloaded when
# the plugin needs it (env execs nbdkit, so a background job's $! is
# nbdkit's PID), $BLOCKSNAP_WRAPPER (valgrind) in front.
_nbdkit_cmd() {
    _NBDKIT_CMD=()
    [ -z "$_NBDKIT_PRELOAD" ] || _NBDKIT_CMD=(env "LD_PRELOAD=$_NBDKIT_PRELOAD")
    # shellcheck disable=SC2206 # the wrapper is a word list on purpose
    _NBDKIT_CMD+=(${BLOCKSNAP_WRAPPER:-} nbdkit)
}

_nbdkit_args() {
    local a
    for a in "$@"; do
        case $a in store=* | region=*) return 0 ;; esac
    done
    return 1
}

declare -A _NBDKIT_PIDS=()

nbdkit_serve() {
    local name=$1 pid i
    shift
    local sock=$T/$name.sock
    local -a extra=()
    _nbdkit_args "$@" || extra=("store=$STORE")
    rm -f "$sock" "$T/$name.pid"
    _nbdkit_cmd
    "${_NBDKIT_CMD[@]}" -f -U "$sock" -P "$T/$name.pid" "$PLUGIN" "${extra[@]}" "$@" \
        2>"$T/$name.log" &
    pid=$!
    on_cleanup_pid "$pid"
    _NBDKIT_PIDS[$name]=$pid
    NBD_URI="nbd+unix:///?socket=$sock"
    for ((i = 0; i < 300; i++)); do
        if [ -S "$sock" ] && nbdinfo --size "$NBD_URI" >/dev/null 2>&1; then
            info "nbdkit $* serving on $sock (pid $pid)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || {
            cat "$T/$name.log" >&2
            die "nbdkit $* exited before it served"
        }
        sleep 0.1
    done
    cat "$T/$name.log" >&2
    die "nbdkit $* does not answer on $sock"
}

nbdkit_stop() {
    local name=$1 pid=${_NBDKIT_PIDS[$1]} rc=0 i
    # Let the last client's connection end first: nbdkit does not wait for
    # a connection still closing when it is told to stop, and LeakSanitizer
    # would report that connection's memory.  Idle, nbdkit runs its main
    # thread and the plugin's chunk cache its two readahead workers.
    for ((i = 0; i < 50; i++)); do
        [ "$(ls "/proc/$pid/task" 2>/dev/null | wc -l)" -gt 3 ] || break
        sleep 0.1
    done
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    unset "_NBDKIT_PIDS[$name]"
    (_check_sanitizer "$T/$name.log" "nbdkit ($name)") || {
        cat "$T/$name.log" >&2
        exit 1
    }
    # nbdkit ends with 0 on SIGTERM; valgrind's error exit code is 99
    [ "$rc" -eq 0 ] || {
        cat "$T/$name.log" >&2
        die "nbdkit ($name) exited $rc"
    }
}

nbdkit_refuses() {
    local rc=0
    _nbdkit_cmd
    timeout 60 "${_NBDKIT_CMD[@]}" -f -U - "$PLUGIN" "$@" --run true \
        >"$T/fail.stdout" 2>"$T/fail.stderr" || rc=$?
    info "\$ nbdkit blocksnap ${*} -> exit $rc"
    sed 's/^/   | /' "$T/fail.stderr"
    _check_sanitizer "$T/fail.stderr" "nbdkit blocksnap $*"
    [ "$rc" -eq 1 ] || die "nbdkit blocksnap $* exited $rc, expected 1"
    grep -q '^nbdkit: error: ' "$T/fail.stderr" || die "nbdkit blocksnap $*: no error line"
}

nbd_data_map() {
    nbdinfo --map --json "$1" | python3 -c '
import json, sys
runs = []
for e in json.load(sys.stdin):
    if e["type"] & 1:  # a hole
        continue
    if runs and runs[-1][0] + runs[-1][1] == e["offset"]:
        runs[-1][1] += e["length"]
    else:
        runs.append([e["offset"], e["length"]])
for off, n in runs:
    print(off, n)'
}

# nbd_control SOCKET LINE: send LINE (a request of the plugin's control
# channel, a JSON object) on control socket SOCKET and print the one-line
# answer (nothing when the server closed without one).
nbd_control() {
    python3 - "$1" "$2" <<'EOF2'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(120)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
got = b""
while b"\n" not in got:
    b = s.recv(65536)
    if not b:
        break
    got += b
sys.stdout.write(got.decode())
EOF2
}
