# shellcheck shell=bash
# shellcheck disable=SC2034 # a library: its names are used by the tests
# nbd-functions.sh - NBD servers for the end-to-end tests: each one is
# started by the test, registered for the cleanup trap by its PID and
# stopped by that PID, even when the test fails.  Source after functions.sh.

# qcow2_of RAW QCOW2: convert a raw image to qcow2 (holes stay unallocated).
qcow2_of() {
    qemu-img convert -q -f raw -O qcow2 "$1" "$2" || die "qemu-img convert $1"
}

# raw_of QCOW2 RAW: what the qcow2 reads as, as a raw file.
raw_of() {
    rm -f "$2"
    qemu-img convert -q -f qcow2 -O raw "$1" "$2" || die "qemu-img convert $1"
}

# _wait_for TEST PID WHAT: until TEST succeeds (10 s), while PID lives.
_wait_for() {
    local i
    for i in $(seq 100); do
        eval "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited before it served"
        sleep 0.1
    done
    die "$3 did not start serving in 10 s"
}

# qemu_nbd_start SOCK QCOW2 [ARGS...]: serve QCOW2 read-only on the unix
# socket SOCK (qemu-nbd --persistent: one snapshot after another); the PID
# is in $NBD_PID.
qemu_nbd_start() {
    local sock=$1 img=$2
    shift 2
    rm -f "$sock"
    qemu-nbd --read-only --persistent -f qcow2 -k "$sock" "$@" "$img" &
    NBD_PID=$!
    on_cleanup_pid "$NBD_PID"
    _wait_for "[ -S '$sock' ]" "$NBD_PID" "qemu-nbd"
}

# qemu_nbd_start_tcp PORT QCOW2 [ARGS...]: the same on 127.0.0.1:PORT.
qemu_nbd_start_tcp() {
    local port=$1 img=$2
    shift 2
    qemu-nbd --read-only --persistent -f qcow2 -b 127.0.0.1 -p "$port" "$@" "$img" &
    NBD_PID=$!
    on_cleanup_pid "$NBD_PID"
    _wait_for "nbdinfo --size nbd://127.0.0.1:$port >/dev/null 2>&1" "$NBD_PID" "qemu-nbd"
}

# nbd_stop: stop the server of $NBD_PID (by that PID) and wait for it.
nbd_stop() {
    kill "$NBD_PID" 2>/dev/null || true
    wait "$NBD_PID" 2>/dev/null || true
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_ext4 RAW SIZE: a real ext4 image of SIZE with files in it (mkfs -d).
make_ext4() {
    mkdir -p "$T/tree"
    head -c $((3 << 20)) /dev/urandom >"$T/tree/random.bin"
    seq 1 300000 >"$T/tree/numbers.txt"
    mkdir -p "$T/tree/etc"
    printf 'hello from the nbd test\n' >"$T/tree/etc/motd"
    truncate -s "$2" "$1"
    mkfs.ext4 -q -F -d "$T/tree" "$1" || die "mkfs.ext4 -d"
}
