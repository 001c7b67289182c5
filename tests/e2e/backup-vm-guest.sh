#!/usr/bin/env bash
# backup-vm-guest: backup-vm --freeze against a real guest agent.  A Linux
# guest (tests/lib/guest-functions.sh) runs Debian's qemu-ga on a
# virtio-serial channel org.qemu.guest_agent.0, and its user data appends
# a numbered tick to /ticks on its ext4 root, again and again, saying on
# the console before and after each write.  backup-vm --freeze --qga:
# the agent says "thawed" before; while backup-vm holds (a test hook of
# the failure-injection build) between the freeze and the point-in-time
# view, the guest's next write is issued and waits; after the run the
# agent says "thawed" again and the write went through.  The snapshot holds
# every tick before that write and not that one: it was taken while the
# file system was frozen, and the write landed after it.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/guest-functions.sh
source "$(dirname "$0")/../lib/guest-functions.sh"
guest_requires
guest_qga_requires
requires qemu-img python3 debugfs
requires_faults # BLOCKSNAP_TEST_VM_FROZEN holds the run while the guest is frozen

# qga SOCKET COMMAND: one command to the guest agent (guest-sync first, so
# that a reply left over from an earlier client is not taken for ours);
# prints its "return" as JSON.
qga() {
    python3 - "$@" <<'PY'
import json, random, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
f = s.makefile("rw")
def call(cmd, args=None):
    m = {"execute": cmd}
    if args is not None:
        m["arguments"] = args
    f.write(json.dumps(m) + "\n"); f.flush()
token = random.randrange(1, 1 << 30)
call("guest-sync", {"id": token})
while True:
    line = f.readline()
    if not line:
        sys.exit("the guest agent closed the connection")
    try:
        if json.loads(line).get("return") == token:
            break
    except ValueError:
        pass
call(sys.argv[2])
m = json.loads(f.readline())
if "error" in m:
    sys.exit("qga %s: %s" % (sys.argv[2], m["error"]))
print(json.dumps(m["return"]))
PY
}

# last_tick WORD: the number of the last "GUEST: WORD tick N" line.
last_tick() {
    sed -n "s/^GUEST: $1 tick \([0-9]*\).*/\1/p" "$T/con.log" | tail -n 1
}

step "a guest with Debian's qemu-ga on its virtio-serial channel, ticking into /ticks"
GUEST_QGA=1
guest_disk "$T/linux.img" 128
qemu-img convert -f raw -O qcow2 "$T/linux.img" "$T/linux.qcow2"
rm -f "$T/linux.img"
cat >"$T/ud.sh" <<'EOF'
#!/bin/sh
n=0
while :; do
    n=$((n + 1))
    echo "GUEST: writing tick $n"
    echo "tick $n" >>ticks
    sync
    echo "GUEST: wrote tick $n"
    sleep 0.2
done
EOF
guest_seed "$T/seed.img" "$T/ud.sh" i-0aaaaaaaaaaaaaaa3
guest_qga_args "$T/qga.sock"
GUEST_QEMU_ARGS=("${GUEST_QGA_ARGS[@]}")
guest_start "$T/con.log" "$T/qmp.sock" "file=$T/linux.qcow2,format=qcow2,if=virtio" \
    "file=$T/seed.img,format=raw,if=virtio,readonly=on"
guest_console_wait "$T/con.log" "GUEST: guest agent on"
guest_console_wait "$T/con.log" "GUEST: wrote tick 3"
assert_eq "$(qga "$T/qga.sock" guest-fsfreeze-status)" '"thawed"' "the agent's status before"

step "backup-vm --freeze: the guest's next write waits while it is frozen"
# run by its own PID (not through bs) so that the cleanup can stop it
BLOCKSNAP_TEST_VM_FROZEN=$T/frozen "$BLOCKSNAP" --store "$STORE" backup-vm --qmp "$T/qmp.sock" \
    --freeze --qga "$T/qga.sock" >"$T/b1.json" 2>"$T/b1.err" &
bpid=$!
on_cleanup_pid "$bpid"
frozen_or_gone() { [ -e "$T/frozen.ready" ] || ! kill -0 "$bpid"; }
wait_until 120 frozen_or_gone
[ -e "$T/frozen.ready" ] || die "backup-vm ended before it froze the guest: $(cat "$T/b1.err")"
# the writer's next write is issued (said on the console) and does not
# return while frozen
writer_waits() { [ "$(last_tick writing)" != "$(last_tick wrote)" ]; }
wait_until 30 writer_waits
k=$(last_tick writing)
sleep 3
assert_eq "$(last_tick writing)" "$k" "the last write issued, 3 s later"
assert_eq "$(last_tick wrote)" "$((k - 1))" "the last write done, 3 s later: tick $k waits"
info "tick $k was issued during the freeze and waits"
touch "$T/frozen.go"
rc=0
wait "$bpid" || rc=$?
[ "$rc" -eq 0 ] || die "backup-vm --freeze failed ($rc): $(cat "$T/b1.err")"
snap=$(json_get Snapshots.0.SnapshotId "$T/b1.json")
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["Snapshots"]))' \
    "$T/b1.json")" 1 "disks backed up (the seed is read-only)"

step "thawed after: the write went through, the agent says thawed"
guest_console_wait "$T/con.log" "GUEST: wrote tick $k"
guest_console_wait "$T/con.log" "GUEST: wrote tick $((k + 2))"
assert_eq "$(qga "$T/qga.sock" guest-fsfreeze-status)" '"thawed"' "the agent's status after"

step "the snapshot holds every tick before the frozen write, not that one"
restore "$snap" "$T/snap.img"
guest_root_file "$T/snap.img" ticks "$T/snap-ticks.txt"
assert_eq "$(tail -n 1 "$T/snap-ticks.txt")" "tick $((k - 1))" "the snapshot's last tick"
seq 1 $((k - 1)) | sed 's/^/tick /' | cmp -s - "$T/snap-ticks.txt" ||
    die "the snapshot's ticks are not 1 to $((k - 1)): $(tr '\n' ' ' <"$T/snap-ticks.txt")"

step "the guest powers off; its disk has the frozen write and those after"
qmp "$T/qmp.sock" system_powerdown >/dev/null
guest_wait "$T/con.log"
qemu-img convert -f qcow2 -O raw "$T/linux.qcow2" "$T/final.img"
guest_root_file "$T/final.img" ticks "$T/final-ticks.txt"
grep -qx "tick $k" "$T/final-ticks.txt" || die "tick $k never landed"
grep -qx "tick $((k + 2))" "$T/final-ticks.txt" || die "the guest did not write on after the thaw"
assert_verify_ok
