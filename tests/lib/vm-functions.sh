# shellcheck shell=bash
# shellcheck disable=SC2034 # a library: its names are used by the tests
# vm-functions.sh - a running QEMU without a guest for the backup-vm tests:
# `-machine none` with qcow2 disks as -blockdev nodes and a QMP socket;
# the guest's writes are made through HMP's qemu-io.  Every QEMU is started
# by the test, registered for the cleanup trap by its PID and stopped by
# that PID, even when the test fails.  Source after functions.sh.

# vm_start QMP UUID QCOW2...: start QEMU with the disks drive0, drive1, ...
# (node names; their files f0, f1, ...); the PID is in $VM_PID.  QMP is
# the monitor for blocksnap; QMP-test a second one for the test's own
# commands (a QMP socket serves one client at a time).
vm_start() {
    local qmp=$1 uuid=$2 i=0 img args=()
    shift 2
    for img in "$@"; do
        args+=(-blockdev "driver=file,filename=$img,node-name=f$i"
            -blockdev "driver=qcow2,file=f$i,node-name=drive$i")
        i=$((i + 1))
    done
    rm -f "$qmp" "$qmp-test"
    qemu-system-x86_64 -nodefaults -display none -machine none -uuid "$uuid" \
        -qmp "unix:$qmp,server=on,wait=off" -qmp "unix:$qmp-test,server=on,wait=off" \
        "${args[@]}" </dev/null >"$T/qemu.log" 2>&1 &
    VM_PID=$!
    on_cleanup_pid "$VM_PID"
    local n
    for n in $(seq 100); do
        [ -S "$qmp" ] && [ -S "$qmp-test" ] && return 0
        kill -0 "$VM_PID" 2>/dev/null || {
            cat "$T/qemu.log" >&2
            die "qemu exited before it served QMP"
        }
        sleep 0.1
    done
    die "qemu did not open its QMP socket in 10 s"
}

# vm_stop [SIGNAL]: stop the QEMU of vm_start (quit over QMP: persistent
# bitmaps are stored; or kill -SIGNAL it) and wait for it.
vm_stop() {
    if [ "${1:-}" ]; then
        kill "-$1" "$VM_PID" 2>/dev/null || true
    else
        qmp "$VM_QMP-test" quit >/dev/null || true
    fi
    wait "$VM_PID" 2>/dev/null || true
}

# (The helpers below take the QMP of vm_start and use QMP-test.)
# vm_write QMP NODE PATTERN OFFSET LENGTH: the guest writes: qemu-io on
# NODE through HMP (PATTERN a byte, 0x5a).
# While a backup runs, the fleecing job's copy-before-write filter sits on
# the disk (a guest's device is moved above it; qemu-io's own block backend
# is not): the write goes through that filter then.
vm_write() {
    local out node
    node=$(qmp "$1-test" query-named-block-nodes '{"flat": true}' | python3 -c '
import json, sys
nodes = json.load(sys.stdin)
disk = [n for n in nodes if n["node-name"] == sys.argv[1]][0]
top = [n["node-name"] for n in nodes if n["drv"] == "copy-before-write"
       and n["image"]["filename"] == disk["image"]["filename"]]
print(top[0] if top else sys.argv[1])' "$2")
    out=$(qmp "$1-test" human-monitor-command \
        "{\"command-line\": \"qemu-io $node \\\"write -P $3 $4 $5\\\"\"}") || die "qemu-io write"
    # the qemu-io line goes to QEMU's stdout; HMP answers "" or an error
    case $out in '""' | *wrote*) ;; *) die "qemu-io $2: $out" ;; esac
}

# pattern_write FILE PATTERN OFFSET LENGTH: the same write into a raw copy.
pattern_write() {
    python3 -c '
import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[3]))
f.write(bytes([int(sys.argv[2], 0)]) * int(sys.argv[4]))' "$@"
}

# vm_bitmaps QMP NODE: the names of NODE's dirty bitmaps, one a line, sorted.
vm_bitmaps() {
    qmp "$1-test" query-named-block-nodes '{"flat": true}' | python3 -c '
import json, sys
for n in json.load(sys.stdin):
    if n["node-name"] == sys.argv[1]:
        for b in n.get("dirty-bitmaps", []):
            if "name" in b:
                print(b["name"])' "$2" | sort
}

# vm_assert_clean QMP: no block export, no block job, no node but the
# disks' own (drive*, f*) is left in the VM.
vm_assert_clean() {
    local exports jobs nodes
    exports=$(qmp "$1-test" query-block-exports)
    jobs=$(qmp "$1-test" query-block-jobs)
    nodes=$(qmp "$1-test" query-named-block-nodes '{"flat": true}' | python3 -c '
import json, sys
print(" ".join(sorted(n["node-name"] for n in json.load(sys.stdin)
                      if not n["node-name"].startswith(("drive", "f")))))')
    [ "$exports" = "[]" ] || die "block exports left in the VM: $exports"
    [ "$jobs" = "[]" ] || die "block jobs left in the VM: $jobs"
    [ -z "$nodes" ] || die "block nodes left in the VM: $nodes"
}
