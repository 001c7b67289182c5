# shellcheck shell=bash
# instance-functions.sh - instances in the end-to-end tests
# (tests/e2e/instances*.sh).  Source after functions.sh.
#
# Sets what run-instances starts: BLOCKSNAP_NBDKIT (nbdkit, with the ASan
# runtime preloaded when the plugin is built with it, as
# nbdkit-functions.sh does) and BLOCKSNAP_NBDKIT_PLUGIN (this build's
# plugin).  Cleanup ends every process the instances of $STORE started
# (their pid files under STORE/instances/), by PID, and checks the
# servers' logs for sanitizer reports.
#
#   inst_id_of FILE            the first instance id of a run's answer
#   inst_state ID              its state, as describe-instances reads it back
#   inst_wait_state ID STATE   wait (up to 120 s) for it
#   inst_console ID            its console output (text)
#   inst_console_wait ID TEXT  wait (up to GUEST_TIMEOUT s) for TEXT in it
#   inst_qemu_pid ID           its QEMU's pid
#   pid_alive PID              PID runs and is not a zombie

requires nbdkit qemu-system-x86_64
: "${BSNAP_BUILD_DIR:?BSNAP_BUILD_DIR must name the build directory}"
_INST_PLUGIN=$BSNAP_BUILD_DIR/nbdkit/nbdkit-blocksnap-plugin.so
[ -f "$_INST_PLUGIN" ] || skip "this build has no nbdkit plugin (nbdkit-plugin-dev missing)"
export BLOCKSNAP_NBDKIT_PLUGIN=$_INST_PLUGIN
# (ldd to a file: grep -q closing a pipe early would fail it under pipefail)
ldd "$_INST_PLUGIN" >"$T/.plugin-ldd" 2>&1 || true
if grep -q 'libasan\.' "$T/.plugin-ldd"; then
    _inst_asan=$(gcc -print-file-name=libasan.so)
    [ -f "$_inst_asan" ] || skip "the plugin is built with ASan but libasan.so is not found"
    cat >"$T/nbdkit" <<EOF
#!/bin/sh
exec env LD_PRELOAD=$_inst_asan ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 nbdkit "\$@"
EOF
    chmod +x "$T/nbdkit"
    export BLOCKSNAP_NBDKIT=$T/nbdkit
fi

# _inst_cleanup: end what the instances started, by the pids they recorded.
_inst_cleanup() {
    local f p
    for f in "$STORE"/instances/*/qemu.pid "$STORE"/instances/*/vol-*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f" 2>/dev/null)
        [ -n "$p" ] && kill -0 "$p" 2>/dev/null || continue
        grep -qaE 'i-[0-9a-f]+|volume=vol-' "/proc/$p/cmdline" 2>/dev/null || continue
        kill -KILL "$p" 2>/dev/null
    done
    for f in "$STORE"/instances/*/vol-*.log; do
        [ -f "$f" ] || continue
        (_check_sanitizer "$f" "nbdkit ($f)") 2>/dev/null || true
    done
}
on_cleanup _inst_cleanup

inst_id_of() { json_get Instances.0.InstanceId "$1"; }

inst_state() {
    bs describe-instances --instance-ids "$1" | json_get Reservations.0.Instances.0.State.Name
}

inst_wait_state() {
    local end=$((SECONDS + 120)) s
    while :; do
        s=$(inst_state "$1")
        [ "$s" = "$2" ] && return 0
        [ "$SECONDS" -lt "$end" ] || die "instance $1 is $s, not $2, after 120 s"
        sleep 0.5
    done
}

inst_console() {
    bs get-console-output --instance-id "$1" | python3 -c '
import json, sys
print(json.load(sys.stdin).get("Output", ""))'
}

inst_console_wait() {
    local end=$((SECONDS + ${GUEST_TIMEOUT:-240}))
    until inst_console "$1" >"$T/.console" && grep -q "$2" "$T/.console"; do
        [ "$SECONDS" -lt "$end" ] || {
            inst_console "$1" >&2
            die "instance $1 never printed '$2'"
        }
        sleep 0.5
    done
}

inst_qemu_pid() { cat "$STORE/instances/$1/qemu.pid"; }

# pid_alive PID: PID runs (a zombie, whose parent has not reaped it yet, does
# not count).
pid_alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}
