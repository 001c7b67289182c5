#!/usr/bin/env bash
# backup-vm's --register-image and --freeze on a running QEMU without a
# guest (-machine none, two qcow2 disks).  --register-image registers the
# set as one image (drive0 the root /dev/xvda, drive1 /dev/xvdb); a
# registration the engine refuses (a root disk that does not boot, a name
# taken) fails the run after its snapshots: they are deleted, the new
# bitmaps dropped and the old kept, the store and the VM as before, and
# the next run is still incremental.  --freeze goes through the guest
# agent's socket (here a stand-in that speaks the agent's protocol and
# logs what it was asked): freeze, then thaw, also when the run fails;
# without --qga it says the freeze is skipped.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/vm-functions.sh
source "$(dirname "$0")/../lib/vm-functions.sh"
requires qemu-system-x86_64 qemu-img python3

chunk=65536
MiB=$((1 << 20))
VM_QMP=$T/qmp
for i in 0 1; do
    head -c $((2 * MiB)) /dev/urandom >"$T/expect$i.raw"
    truncate -s $((16 * MiB)) "$T/expect$i.raw"
    qemu-img convert -q -f raw -O qcow2 "$T/expect$i.raw" "$T/d$i.qcow2"
done
vm_start "$VM_QMP" 11111111-2222-3333-4444-555555555555 "$T/d0.qcow2" "$T/d1.qcow2"

step "--register-image with a root disk that does not boot: the whole run fails"
bs backup-vm --qmp "$VM_QMP" >"$T/b1.json"
bitmaps=$(vm_bitmaps "$VM_QMP" drive0)
store_state >"$T/state.before"
vm_write "$VM_QMP" drive0 0x5a 4M 64k
pattern_write "$T/expect0.raw" 0x5a $((4 * MiB)) 65536
expect_fail Image.NotBootable 1 bs backup-vm --qmp "$VM_QMP" --register-image vm-set
vm_assert_clean "$VM_QMP"
assert_eq "$(vm_bitmaps "$VM_QMP" drive0)" "$bitmaps" "drive0's bitmaps after the failed run"
assert_store_unchanged "$T/state.before"

step "--register-image --no-boot-check: one image of both disks"
bs backup-vm --qmp "$VM_QMP" --register-image vm-set --no-boot-check >"$T/b2.json"
ami=$(json_get ImageId "$T/b2.json")
assert_eq "$(json_get Snapshots.0.Incremental "$T/b2.json")" true "drive0 after the failed run"
assert_le "$(json_get Snapshots.0.BytesRead "$T/b2.json")" $chunk "drive0 after the failed run"
bs describe-images --image-ids "$ami" >"$T/image.json"
assert_eq "$(json_get Images.0.Name "$T/image.json")" vm-set "the image's name"
assert_eq "$(json_get Images.0.RootDeviceName "$T/image.json")" /dev/xvda "the root device"
for i in 0 1; do
    assert_eq "$(json_get "Images.0.BlockDeviceMappings.$i.Ebs.SnapshotId" "$T/image.json")" \
        "$(json_get "Snapshots.$i.SnapshotId" "$T/b2.json")" "mapping $i"
    restore "$(json_get "Snapshots.$i.SnapshotId" "$T/b2.json")" "$T/restored.raw"
    assert_same_file "$T/expect$i.raw" "$T/restored.raw" "restore of drive$i"
done
store_state >"$T/state.before"
expect_fail InvalidAMIName.Duplicate 1 bs backup-vm --qmp "$VM_QMP" --register-image vm-set \
    --no-boot-check
vm_assert_clean "$VM_QMP"
assert_store_unchanged "$T/state.before"

# a stand-in guest agent on a unix socket: guest-sync, freeze and thaw,
# each command logged; FAIL_FREEZE=1 refuses the freeze
agent_start() {
    rm -f "$T/qga.sock" "$T/qga.log"
    FAIL_FREEZE=${1:-0} python3 -c '
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
log = open(sys.argv[2], "a", buffering=1)
while True:
    c, _ = s.accept(); f = c.makefile("rw")
    for line in f:
        m = json.loads(line); cmd = m["execute"]; log.write(cmd + "\n")
        if cmd == "guest-sync":
            r = {"return": m["arguments"]["id"]}
        elif cmd == "guest-fsfreeze-freeze" and os.environ["FAIL_FREEZE"] == "1":
            r = {"error": {"class": "GenericError", "desc": "fsfreeze is not supported"}}
        else:
            r = {"return": 1}
        f.write(json.dumps(r) + "\n"); f.flush()
    c.close()' "$T/qga.sock" "$T/qga.log" &
    AGENT_PID=$!
    on_cleanup_pid "$AGENT_PID"
    wait_until 10 test -S "$T/qga.sock"
}

step "--freeze: the agent freezes, then thaws, around the instant"
agent_start
bs backup-vm --qmp "$VM_QMP" --freeze --qga "$T/qga.sock" >"$T/b3.json"
assert_eq "$(tr '\n' ' ' <"$T/qga.log")" "guest-sync guest-fsfreeze-freeze guest-fsfreeze-thaw " \
    "what the agent was asked"
vm_assert_clean "$VM_QMP"

step "--freeze and a QMP error: still thawed, nothing left"
: >"$T/qga.log"
store_state >"$T/state.before"
qmp "$VM_QMP-test" nbd-server-start "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"$T/other.sock\"}}}" >/dev/null
expect_fail QmpError 1 bs backup-vm --qmp "$VM_QMP" --freeze --qga "$T/qga.sock"
qmp "$VM_QMP-test" nbd-server-stop >/dev/null
assert_eq "$(tr '\n' ' ' <"$T/qga.log")" "guest-sync guest-fsfreeze-freeze guest-fsfreeze-thaw " \
    "what the agent was asked"
vm_assert_clean "$VM_QMP"
assert_store_unchanged "$T/state.before"
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true

step "--freeze refused by the agent: a clear error, thawed, nothing changed"
agent_start 1
expect_fail QmpError 1 bs backup-vm --qmp "$VM_QMP" --freeze --qga "$T/qga.sock"
stderr_contains "guest agent refused guest-fsfreeze-freeze" "fsfreeze is not supported"
grep -qx guest-fsfreeze-thaw "$T/qga.log" || die "no thaw after a refused freeze"
vm_assert_clean "$VM_QMP"
assert_store_unchanged "$T/state.before"

step "--freeze without --qga says the freeze is skipped"
bs backup-vm --qmp "$VM_QMP" --freeze --disks drive1 >"$T/b4.json" 2>"$T/b4.err"
grep -q "not freezing" "$T/b4.err" || die "the skipped freeze was not said"
assert_eq "$(json_get Snapshots.# "$T/b4.json")" 1 "--disks drive1"
vm_stop

step "a machine with devices: its writable disk, not a read-only one nor an empty CD-ROM"
# a PC, stopped before its firmware runs (-S): the block layer works
qemu-img convert -q -f raw -O qcow2 "$T/expect1.raw" "$T/ro.qcow2"
rm -f "$T/pc.qmp"
qemu-system-x86_64 -nodefaults -display none -machine pc -accel tcg -S \
    -qmp "unix:$T/pc.qmp,server=on,wait=off" \
    -blockdev "driver=file,filename=$T/d0.qcow2,node-name=f0" \
    -blockdev driver=qcow2,file=f0,node-name=drive0 -device virtio-blk-pci,drive=drive0 \
    -blockdev "driver=file,filename=$T/ro.qcow2,node-name=f1,read-only=on" \
    -blockdev driver=qcow2,file=f1,node-name=rodisk,read-only=on \
    -device virtio-blk-pci,drive=rodisk -device ide-cd,bus=ide.1 </dev/null >"$T/pc.log" 2>&1 &
pc=$!
on_cleanup_pid "$pc"
wait_until 10 test -S "$T/pc.qmp"
bs backup-vm --qmp "$T/pc.qmp" >"$T/b5.json"
assert_eq "$(json_get Snapshots.# "$T/b5.json")" 1 "disks of the PC"
assert_eq "$(json_get Snapshots.0.NodeName "$T/b5.json")" drive0 "the PC's disk"
restore "$(json_get Snapshots.0.SnapshotId "$T/b5.json")" "$T/restored.raw"
assert_same_file "$T/expect0.raw" "$T/restored.raw" "restore of the PC's disk"
kill "$pc"
wait "$pc" 2>/dev/null || true

if has_faults; then
    step "QEMU killed during a backup: a clear error, the store as before, no file left"
    vm_start "$VM_QMP" 11111111-2222-3333-4444-555555555555 "$T/d0.qcow2" "$T/d1.qcow2"
    store_state >"$T/state.before"
    mkdir "$T/tmp"
    rc=0
    TMPDIR=$T/tmp BLOCKSNAP_TEST_VM_PAUSE=$T/pause bs backup-vm --qmp "$VM_QMP" \
        >"$T/b6.json" 2>"$T/b6.err" &
    bpid=$!
    wait_until 60 test -e "$T/pause.ready"
    kill -KILL "$VM_PID"
    wait "$VM_PID" 2>/dev/null || true
    touch "$T/pause.go"
    wait "$bpid" || rc=$?
    sed 's/^/   | /' "$T/b6.err"
    assert_eq "$rc" 1 "backup-vm's exit after QEMU was killed"
    grep -q "^blocksnap: error: " "$T/b6.err" || die "no error line"
    assert_store_unchanged "$T/state.before"
    assert_eq "$(find "$T/tmp" -mindepth 1 | wc -l)" 0 "files left in TMPDIR"
fi
