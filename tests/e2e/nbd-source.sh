#!/usr/bin/env bash
# NBD volumes: a qcow2 disk served by qemu-nbd is snapshotted over a unix
# socket and over TCP, and restores to exactly what qemu-img reads from the
# qcow2.  Holes and zero extents (base:allocation) are not read.  The
# volume is recorded under its URI without secrets, and a second snapshot
# of the same URI (or --volume-id alone) is an incremental of that volume.
# TLS with a pre-shared key works and records neither the user nor the key
# file.  A malformed URI or an absent server fails cleanly.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/nbd-functions.sh
source "$(dirname "$0")/../lib/nbd-functions.sh"
requires qemu-nbd qemu-img nbdinfo mkfs.ext4 python3

make_ext4 "$T/disk.raw" 64M
qcow2_of "$T/disk.raw" "$T/disk.qcow2"
raw_of "$T/disk.qcow2" "$T/expect.raw"
size=$(stat -c %s "$T/expect.raw")

step "a snapshot over a unix socket restores to the qcow2's contents"
qemu_nbd_start "$T/nbd.sock" "$T/disk.qcow2"
uri="nbd+unix:///?socket=$T/nbd.sock"
bs create-snapshot --volume "$uri&tls-psk-file=$T/secret.psk" >"$T/s1.json"
s1=$(json_get SnapshotId "$T/s1.json")
vol=$(json_get VolumeId "$T/s1.json")
restore "$s1" "$T/restored.raw"
assert_same_file "$T/expect.raw" "$T/restored.raw" "restore of the NBD snapshot"

step "holes and zero extents are not read (ReadBytes < the disk's size)"
read1=$(json_get BytesRead "$T/s1.json")
data=$(nbdinfo --map "$uri" | awk '$3 == 0 { n += $2 } END { print n + 0 }')
info "read $read1 of $size bytes; base:allocation says $data bytes are data"
assert_le "$read1" $((size / 4)) "the snapshot read the holes"
# every data extent read, rounded out to whole 64 KiB chunks
assert_le "$data" "$read1" "the snapshot read less than the data"

step "the volume is recorded under the URI, without its secrets"
bs describe-volumes --volume-ids "$vol" >"$T/vol.json"
assert_eq "$(json_get Volumes.0.Path "$T/vol.json")" "$uri" "the volume's recorded URI"
if grep -rqa "secret.psk" "$STORE" "$T/s1.json" "$T/vol.json" "$T/last.stderr"; then
    die "the tls-psk-file of the URI was recorded or shown"
fi

step "the same URI again: an incremental of the same volume that stores nothing new"
bs create-snapshot --volume "$uri" >"$T/s2.json"
assert_eq "$(json_get VolumeId "$T/s2.json")" "$vol" "the second snapshot's volume"
assert_eq "$(json_get ChunksWritten "$T/s2.json")" 0 "chunks written by an unchanged rescan"

step "--volume-id alone reads the recorded URI"
bs create-snapshot --volume-id "$vol" >"$T/s3.json"
assert_eq "$(json_get VolumeId "$T/s3.json")" "$vol" "the snapshot's volume"
nbd_stop

step "over TCP on a free loopback port"
port=$(free_port)
qemu_nbd_start_tcp "$port" "$T/disk.qcow2"
bs create-snapshot --volume "nbd://127.0.0.1:$port" >"$T/t1.json"
restore "$(json_get SnapshotId "$T/t1.json")" "$T/restored-tcp.raw"
assert_same_file "$T/expect.raw" "$T/restored-tcp.raw" "restore of the TCP snapshot"
nbd_stop
assert_verify_ok

step "TLS with a pre-shared key (nbdkit --tls=require): the user and key file are not recorded"
if command -v nbdkit >/dev/null; then
    printf 'alice:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/keys.psk"
    chmod 600 "$T/keys.psk"
    rm -f "$T/tls.sock"
    nbdkit -f --tls=require --tls-psk="$T/keys.psk" -U "$T/tls.sock" file "$T/disk.raw" &
    NBD_PID=$!
    on_cleanup_pid "$NBD_PID"
    _wait_for "[ -S '$T/tls.sock' ]" "$NBD_PID" "nbdkit"
    bs create-snapshot \
        --volume "nbds+unix://alice@/?socket=$T/tls.sock&tls-psk-file=$T/keys.psk" >"$T/tls.json"
    restore "$(json_get SnapshotId "$T/tls.json")" "$T/restored-tls.raw"
    assert_same_file "$T/disk.raw" "$T/restored-tls.raw" "restore of the TLS snapshot"
    bs describe-volumes --volume-ids "$(json_get VolumeId "$T/tls.json")" >"$T/tls-vol.json"
    assert_eq "$(json_get Volumes.0.Path "$T/tls-vol.json")" "nbds+unix:///?socket=$T/tls.sock" \
        "the TLS volume's recorded URI"
    if grep -rqa -e "keys.psk" -e "alice" "$STORE" "$T/tls.json" "$T/tls-vol.json" \
        "$T/last.stderr"; then
        die "the user name or the PSK file of the URI was recorded or shown"
    fi
    expect_fail - 1 bs create-snapshot --volume "nbd+unix:///?socket=$T/tls.sock"
    stderr_contains "TLS"
    nbd_stop
else
    info "no nbdkit: TLS not checked"
fi

step "an absent server and a malformed URI: clear errors, the store as it was"
store_state >"$T/state.before"
bytes=$(store_bytes)
expect_fail VolumeReadError 1 bs create-snapshot --volume "nbd://127.0.0.1:$port"
stderr_contains "nbd://127.0.0.1:$port" "connect"
expect_fail VolumeReadError 1 bs create-snapshot --volume "$uri"
stderr_contains "$T/nbd.sock"
expect_fail InvalidParameterValue 1 bs create-snapshot --volume "nbd+unix:///disk"
stderr_contains "socket"
expect_fail VolumeReadError 1 bs create-snapshot --volume-id "$vol"
assert_store_unchanged "$T/state.before"
assert_eq "$(store_bytes)" "$bytes" "pack bytes after the failures"
