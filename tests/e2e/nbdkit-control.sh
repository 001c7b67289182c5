#!/usr/bin/env bash
# nbdkit-control: the plugin's control channel (volume=… control=SOCKET).
# The socket is its owner's only (0600); a write through NBD, then a
# snapshot over the control socket: the snapshot holds the write, and only
# the written chunks were read and stored; flush; description and tags
# reach the snapshot; bad requests (not JSON, unknown op, a line over the
# bound, a description the engine refuses) are answered with an error and
# the server goes on serving; the socket is removed when nbdkit stops, and
# one left by a killed server is replaced; configuration errors.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/nbdkit-functions.sh"
requires qemu-img qemu-io python3 cmp

CS=65536 # the store's chunk size (the default)

step "a snapshot of 16 MiB of random data and a hole, and a writable volume of it"
head -c 16M /dev/urandom >"$T/base.img"
truncate -s 64M "$T/base.img"
snap=$(snapshot_create "$T/base.img")
bs create-volume --snapshot-id "$snap" --quiet >"$T/vol.json"
vol=$(json_get VolumeId "$T/vol.json")
ctl=$T/ctl.sock

step "served with a control channel: the socket is its owner's only"
nbdkit_serve v "volume=$vol" "control=$ctl"
[ -S "$ctl" ] || die "no control socket at $ctl"
assert_eq "$(stat -c %a "$ctl")" 600 "the control socket's mode"

step "flush"
nbd_control "$ctl" '{"Op":"flush"}' >"$T/a.json"
assert_eq "$(json_get Ok "$T/a.json")" true "flush answered"

step "writes through NBD (three chunks: two whole of two patterns, one 4 KiB piece), not flushed; a snapshot over the control socket"
qemu-io -f raw "$NBD_URI" -c 'write -P 0x5a 1M 64k' -c 'write -P 0x5b 1088k 64k' -c 'write -P 0x33 40M 4k' >"$T/io.out" ||
    die "qemu-io writes failed: $(cat "$T/io.out")"
nbd_control "$ctl" '{"Op":"snapshot","Description":"through the control channel","Tags":[{"Key":"env","Value":"test"}]}' >"$T/a.json"
cat "$T/a.json"
assert_eq "$(json_get Ok "$T/a.json")" true "snapshot answered"
snap2=$(json_get SnapshotId "$T/a.json")
assert_eq "$(json_get Stats.ReadBytes "$T/a.json")" $((3 * CS)) "bytes read: the three written chunks"
assert_eq "$(json_get Stats.NewChunks "$T/a.json")" 3 "chunks stored: the three written"
assert_eq "$(json_get Stats.VolumeBytes "$T/a.json")" $((64 << 20)) "the volume's size"
bs describe-snapshots --snapshot-ids "$snap2" >"$T/d.json"
assert_eq "$(json_get Snapshots.0.State "$T/d.json")" completed "its state"
assert_eq "$(json_get Snapshots.0.VolumeId "$T/d.json")" "$vol" "its volume"
assert_eq "$(json_get Snapshots.0.Description "$T/d.json")" "through the control channel" "its description"
assert_eq "$(json_get Snapshots.0.Tags.0.Value "$T/d.json")" test "its tag"

step "the snapshot holds the writes"
cp "$T/base.img" "$T/want.img"
python3 - "$T/want.img" <<'EOF2'
import sys
with open(sys.argv[1], "r+b") as f:
    for off, data in ((1 << 20, b"\x5a" * 65536), (1088 << 10, b"\x5b" * 65536),
                      (40 << 20, b"\x33" * 4096)):
        f.seek(off)
        f.write(data)
EOF2
restore "$snap2" "$T/restored.img"
assert_same_file "$T/restored.img" "$T/want.img" "the snapshot taken over the control socket"

step "nothing written since: the next snapshot reads nothing"
nbd_control "$ctl" '{"Op":"snapshot"}' >"$T/a.json"
assert_eq "$(json_get Stats.ReadBytes "$T/a.json")" 0 "bytes read with nothing written"

step "bad requests are answered with an error, and the server goes on"
nbd_control "$ctl" 'nonsense' >"$T/a.json"
assert_eq "$(json_get Ok "$T/a.json")" false "not JSON"
assert_eq "$(json_get Code "$T/a.json")" InvalidParameterValue "not JSON: its code"
nbd_control "$ctl" '{"Op":"reboot"}' >"$T/a.json"
assert_eq "$(json_get Code "$T/a.json")" InvalidParameterValue "an unknown op"
nbd_control "$ctl" '{"Op":"flush","Description":"x"}' >"$T/a.json"
assert_eq "$(json_get Code "$T/a.json")" InvalidParameterValue "a flush with a description"
nbd_control "$ctl" '{"Op":"snapshot","Tags":[{"Key":"aws:x","Value":"v"}]}' >"$T/a.json"
assert_eq "$(json_get Code "$T/a.json")" InvalidParameterValue "an aws: tag key"
long=$(head -c 300 /dev/zero | tr '\0' d)
nbd_control "$ctl" "{\"Op\":\"snapshot\",\"Description\":\"$long\"}" >"$T/a.json"
assert_eq "$(json_get Ok "$T/a.json")" false "a description of 300 characters"
grep -qi description "$T/a.json" || die "the engine's refusal does not name the description: $(cat "$T/a.json")"
huge=$(head -c 20000 /dev/zero | tr '\0' x)
nbd_control "$ctl" "$huge" >"$T/a.json"
assert_eq "$(json_get Code "$T/a.json")" InvalidParameterValue "a line over the bound"
grep -q 'longer than' "$T/a.json" || die "the answer to a long line: $(cat "$T/a.json")"
bs describe-snapshots --filters "Name=volume-id,Values=$vol" >"$T/d.json"
assert_eq "$(json_get Snapshots.# "$T/d.json")" 2 "snapshots of the volume after the refusals"
nbd_control "$ctl" '{"Op":"flush"}' >"$T/a.json"
assert_eq "$(json_get Ok "$T/a.json")" true "the server still answers"
qemu-img compare -f raw -F raw "$NBD_URI" "$T/want.img" || die "the volume does not read its writes"

step "the socket goes when nbdkit stops"
nbdkit_stop v
[ ! -e "$ctl" ] || die "the control socket is left after nbdkit stopped"

step "a socket left by a killed server is replaced"
nbdkit_serve v2 "volume=$vol" "control=$ctl"
kill -KILL "${_NBDKIT_PIDS[v2]}"
wait "${_NBDKIT_PIDS[v2]}" 2>/dev/null || true
unset "_NBDKIT_PIDS[v2]"
[ -S "$ctl" ] || die "the killed server's socket is not there (the test needs it)"
nbdkit_serve v3 "volume=$vol" "control=$ctl"
nbd_control "$ctl" '{"Op":"flush"}' >"$T/a.json"
assert_eq "$(json_get Ok "$T/a.json")" true "the new server answers"
nbdkit_stop v3

step "configuration errors"
nbdkit_refuses "store=$STORE" "snapshot=$snap" "control=$ctl"
grep -q 'goes with volume=' "$T/fail.stderr" || die "control= without volume= not said"
nbdkit_refuses "store=$STORE" "volume=$vol" "control=$T/no/such/dir/ctl.sock"
grep -q 'its directory' "$T/fail.stderr" || die "a missing directory not said"
touch "$T/file"
nbdkit_refuses "store=$STORE" "volume=$vol" "control=$T/file"
grep -q 'not a socket' "$T/fail.stderr" || die "a regular file not said"
nbdkit_refuses "store=$STORE" "volume=$vol" "control=$T/$(head -c 120 /dev/zero | tr '\0' s)"
grep -q 'at most' "$T/fail.stderr" || die "a path too long not said"
assert_verify_ok
