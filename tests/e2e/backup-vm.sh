#!/usr/bin/env bash
# backup-vm on a running QEMU (no guest: -machine none, two qcow2 disks
# written through HMP qemu-io).  The first run snapshots both disks whole
# from one instant; after known writes the second reads only the dirty
# extents (bytes read asserted) from the previous run's bitmap; every
# restored disk equals the disk at the moment of its backup; a write made
# during a backup (a test hook pauses it) is not in it and is in the next;
# after QEMU is killed and restarted the bitmap is gone and the disk is
# read whole, said on stderr, storing little; no export, job, node or stray
# bitmap is left in the VM after any run.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/vm-functions.sh
source "$(dirname "$0")/../lib/vm-functions.sh"
requires qemu-system-x86_64 qemu-img python3

chunk=65536
MiB=$((1 << 20))
uuid=6c0a3a5e-5e7b-4a50-9d0c-0123456789ab
VM_QMP=$T/qmp
for i in 0 1; do
    size=$(((64 - 32 * i) * MiB))
    head -c $((4 * MiB)) /dev/urandom >"$T/expect$i.raw"
    truncate -s "$size" "$T/expect$i.raw"
    qemu-img convert -q -f raw -O qcow2 "$T/expect$i.raw" "$T/d$i.qcow2"
done
vm_start "$VM_QMP" "$uuid" "$T/d0.qcow2" "$T/d1.qcow2"

# check_backup JSON: each snapshot of a backup-vm answer restores to the
# expected raw image of its node, and the VM is clean.
check_backup() {
    local n i node snap
    n=$(json_get Snapshots.# "$1")
    for i in $(seq 0 $((n - 1))); do
        node=$(json_get "Snapshots.$i.NodeName" "$1")
        snap=$(json_get "Snapshots.$i.SnapshotId" "$1")
        restore "$snap" "$T/restored.raw"
        assert_same_file "$T/expect${node#drive}.raw" "$T/restored.raw" "restore of $node ($snap)"
    done
    vm_assert_clean "$VM_QMP"
}

step "the first run: both disks whole, from one instant"
bs backup-vm --qmp "$VM_QMP" >"$T/b1.json"
assert_eq "$(json_get Snapshots.# "$T/b1.json")" 2 "snapshots of the first run"
assert_eq "$(json_get VmUuid "$T/b1.json")" "$uuid" "the VM's UUID"
for i in 0 1; do
    assert_eq "$(json_get "Snapshots.$i.NodeName" "$T/b1.json")" "drive$i" "node $i"
    assert_eq "$(json_get "Snapshots.$i.Incremental" "$T/b1.json")" false "first run of drive$i"
done
check_backup "$T/b1.json"
vol0=$(json_get Snapshots.0.VolumeId "$T/b1.json")
bm=$(json_get Snapshots.0.DirtyBitmap "$T/b1.json")
assert_eq "$(vm_bitmaps "$VM_QMP" drive0)" "$bm" "drive0's bitmaps after the first run"
bs describe-snapshots --filters "Name=tag:blocksnap:vm-bitmap,Values=$bm" >"$T/tagged.json"
assert_eq "$(json_get Snapshots.0.SnapshotId "$T/tagged.json")" \
    "$(json_get Snapshots.0.SnapshotId "$T/b1.json")" "the snapshot tied to $bm"

step "known writes, then the second run reads only the dirty extents"
vm_write "$VM_QMP" drive0 0x5a 8M 1M
pattern_write "$T/expect0.raw" 0x5a $((8 * MiB)) $MiB
vm_write "$VM_QMP" drive1 0x3c 1M 4k
pattern_write "$T/expect1.raw" 0x3c $MiB 4096
bs backup-vm --qmp "$VM_QMP" >"$T/b2.json"
for i in 0 1; do
    assert_eq "$(json_get "Snapshots.$i.Incremental" "$T/b2.json")" true "second run of drive$i"
    assert_eq "$(json_get "Snapshots.$i.ParentSnapshotId" "$T/b2.json")" \
        "$(json_get "Snapshots.$i.SnapshotId" "$T/b1.json")" "parent of drive$i"
done
assert_eq "$(json_get Snapshots.0.VolumeId "$T/b2.json")" "$vol0" "drive0's volume"
read0=$(json_get Snapshots.0.BytesRead "$T/b2.json")
read1=$(json_get Snapshots.1.BytesRead "$T/b2.json")
info "read $read0 bytes of drive0 for 1 MiB written, $read1 of drive1 for 4 KiB"
[ "$read0" -ge "$MiB" ] || die "drive0's incremental missed the write ($read0 bytes)"
assert_le "$read0" $((MiB * 11 / 10)) "drive0's incremental read more than the dirty extents"
[ "$read1" -ge 4096 ] || die "drive1's incremental missed the write ($read1 bytes)"
assert_le "$read1" $chunk "drive1's incremental read more than one chunk"
check_backup "$T/b2.json"
assert_eq "$(vm_bitmaps "$VM_QMP" drive0)" "$(json_get Snapshots.0.DirtyBitmap "$T/b2.json")" \
    "drive0's bitmaps after the second run (the old one removed)"

if has_faults; then
    step "a write during the backup is not in it, and is in the next"
    BLOCKSNAP_TEST_VM_PAUSE=$T/pause bs backup-vm --qmp "$VM_QMP" --disks drive0 \
        >"$T/b3.json" &
    bpid=$!
    wait_until 60 test -e "$T/pause.ready" || die "backup-vm did not reach the pause"
    vm_write "$VM_QMP" drive0 0x77 20M 512k
    touch "$T/pause.go"
    wait "$bpid" || die "backup-vm with a write during it failed"
    assert_eq "$(json_get Snapshots.# "$T/b3.json")" 1 "--disks drive0: one snapshot"
    check_backup "$T/b3.json"
    pattern_write "$T/expect0.raw" 0x77 $((20 * MiB)) $((512 * 1024))
    bs backup-vm --qmp "$VM_QMP" --disks drive0 >"$T/b4.json"
    read0=$(json_get Snapshots.0.BytesRead "$T/b4.json")
    [ "$read0" -ge $((512 * 1024)) ] || die "the next run missed the write ($read0 bytes)"
    assert_le "$read0" $((512 * 1024 + chunk)) "the next run read more than the write"
    check_backup "$T/b4.json"
else
    info "no failure-injection hooks in this build: the write during a backup is not tried"
fi

step "QEMU killed and restarted: the bitmap is gone, a full read says so"
# the guest's writes flushed (kill -9 loses what QEMU caches, as a power
# cut would), the bitmap not: QEMU stores persistent bitmaps only on close
qmp "$VM_QMP-test" human-monitor-command '{"command-line": "qemu-io drive0 flush"}' >/dev/null
vm_stop KILL
vm_start "$VM_QMP" "$uuid" "$T/d0.qcow2" "$T/d1.qcow2"
before=$(store_bytes)
bs backup-vm --qmp "$VM_QMP" --disks drive0 >"$T/b5.json" 2>"$T/b5.err"
cat "$T/b5.err"
grep -q "no bitmap of the last backup" "$T/b5.err" || die "the full read was not said"
assert_eq "$(json_get Snapshots.0.Incremental "$T/b5.json")" false "after the restart"
assert_eq "$(json_get Snapshots.0.VolumeId "$T/b5.json")" "$vol0" "drive0's volume after the restart"
grown=$(($(store_bytes) - before))
info "the full read stored $grown bytes"
assert_le "$grown" $MiB "the full read after the restart stored more than metadata"
check_backup "$T/b5.json"
assert_eq "$(vm_bitmaps "$VM_QMP" drive0)" "$(json_get Snapshots.0.DirtyBitmap "$T/b5.json")" \
    "drive0's bitmaps after the full read (the inconsistent one removed)"
vm_write "$VM_QMP" drive0 0x11 40M 64k
pattern_write "$T/expect0.raw" 0x11 $((40 * MiB)) 65536
bs backup-vm --qmp "$VM_QMP" --disks drive0 >"$T/b6.json"
assert_eq "$(json_get Snapshots.0.Incremental "$T/b6.json")" true "the run after the full read"
assert_le "$(json_get Snapshots.0.BytesRead "$T/b6.json")" $chunk "the run after the full read"
check_backup "$T/b6.json"

step "a QMP error mid-way leaves the VM and the store as they were"
store_state >"$T/state.before"
bitmaps=$(vm_bitmaps "$VM_QMP" drive0)
qmp "$VM_QMP-test" nbd-server-start "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"$T/other.sock\"}}}" >/dev/null
expect_fail QmpError 1 bs backup-vm --qmp "$VM_QMP"
stderr_contains nbd-server-start "already running"
qmp "$VM_QMP-test" nbd-server-stop >/dev/null
vm_assert_clean "$VM_QMP"
assert_eq "$(vm_bitmaps "$VM_QMP" drive0)" "$bitmaps" "drive0's bitmaps after the failure"
assert_store_unchanged "$T/state.before"
vm_write "$VM_QMP" drive0 0x22 50M 64k
pattern_write "$T/expect0.raw" 0x22 $((50 * MiB)) 65536
bs backup-vm --qmp "$VM_QMP" --disks drive0 >"$T/b7.json"
assert_eq "$(json_get Snapshots.0.Incremental "$T/b7.json")" true "the run after the failure"
assert_le "$(json_get Snapshots.0.BytesRead "$T/b7.json")" $chunk "the run after the failure"
check_backup "$T/b7.json"

step "no such socket, not QEMU, no such node: clear errors, nothing changed"
store_state >"$T/state.before"
expect_fail QmpConnectFailed 1 bs backup-vm --qmp "$T/absent.sock"
stderr_contains "$T/absent.sock"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
while True:
    c, _ = s.accept(); c.sendall(b"220 hello, I am not QEMU\n"); c.close()' "$T/notqemu.sock" &
on_cleanup_pid $!
wait_until 10 test -S "$T/notqemu.sock" || die "the fake server did not start"
expect_fail QmpProtocolError 1 bs backup-vm --qmp "$T/notqemu.sock"
stderr_contains "does not speak QMP"
# a peer that never says a word: --qmp-timeout's seconds, not the default 30
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
held = []
while True:
    c, _ = s.accept(); held.append(c)' "$T/silent.sock" &
on_cleanup_pid $!
wait_until 10 test -S "$T/silent.sock" || die "the silent server did not start"
t0=$(date +%s)
expect_fail QmpTimeout 1 bs backup-vm --qmp "$T/silent.sock" --qmp-timeout 1
took=$(($(date +%s) - t0))
[ "$took" -lt 20 ] || die "--qmp-timeout 1 waited ${took} s"
stderr_contains "did not answer in 1 s"
expect_fail InvalidParameterValue 1 bs backup-vm --qmp "$VM_QMP" --disks drive0,nope
stderr_contains "nope"
vm_assert_clean "$VM_QMP"
assert_store_unchanged "$T/state.before"
vm_stop
