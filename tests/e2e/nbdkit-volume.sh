#!/usr/bin/env bash
# nbdkit-volume: the nbdkit plugin serves a writable copy-on-write volume
# (create-volume without --path) read-write: before any write it reads as
# its snapshot; writes (aligned, unaligned, zeroes) read back and, flushed,
# outlast the server; a second server of the same volume is refused while
# the first holds it; a snapshot of the volume afterwards restores to what
# was written.  Its block status (nbdinfo --map) is the snapshot's before
# any write (the hole a hole and zero), and the chunks written since are
# data.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/nbdkit-functions.sh"
requires qemu-img qemu-io python3 cmp

step "a snapshot of 16 MiB of random data and a hole, and a writable volume of it"
head -c 16M /dev/urandom >"$T/base.img"
truncate -s 32M "$T/base.img"
snap=$(snapshot_create "$T/base.img")
bs create-volume --snapshot-id "$snap" --quiet >"$T/vol.json"
vol=$(json_get VolumeId "$T/vol.json")
assert_eq "$(json_get Writable "$T/vol.json")" true "a writable volume"

step "served read-write: it reads as its snapshot"
nbdkit_serve v "volume=$vol"
nbdinfo --json "$NBD_URI" >"$T/info.json"
python3 - "$T/info.json" <<'EOF2'
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
want = {"is_read_only": False, "can_flush": True, "can_fua": True, "can_multi_conn": True,
        "can_zero": True}
for k, v in want.items():
    if e.get(k) != v:
        sys.exit("export %s is %r, expected %r" % (k, e.get(k), v))
EOF2
qemu-img compare -f raw -F raw "$NBD_URI" "$T/base.img" || die "the volume does not read as its snapshot"

step "its block status is the snapshot's: 16 MiB of data, then a hole that reads as zeros"
# map_is WHAT EXPECTED: nbdinfo --map's data extents, merged, are EXPECTED
# (OFFSET LENGTH lines), and every other extent is hole and zero (type 3)
map_is() {
    nbd_data_map "$NBD_URI" >"$T/map.got"
    printf '%s\n' "$2" >"$T/map.want"
    diff -u "$T/map.want" "$T/map.got" || die "$1: the volume's data map is not as expected"
    nbdinfo --map --json "$NBD_URI" | python3 -c '
import json, sys
bad = [e for e in json.load(sys.stdin) if e["type"] not in (0, 3)]
sys.exit("extents neither data nor hole+zero: %r" % bad if bad else 0)' || die "$1: odd extents"
}
map_is "before any write" "0 16777216"

step "writes: a whole chunk, an unaligned piece, zeroes, into the hole; flushed"
qemu-io -f raw "$NBD_URI" -c 'write -P 0x5a 1M 64k' -c 'write -P 0x33 100 3000' \
    -c 'write -z 4M 128k' -c 'write -P 0x77 20M 8k' -c flush >"$T/io.out" ||
    die "qemu-io writes failed: $(cat "$T/io.out")"
cp "$T/base.img" "$T/want.img"
python3 - "$T/want.img" <<'EOF2'
import sys
with open(sys.argv[1], "r+b") as f:
    for off, data in ((1 << 20, b"\x5a" * 65536), (100, b"\x33" * 3000),
                      (4 << 20, bytes(131072)), (20 << 20, b"\x77" * 8192)):
        f.seek(off)
        f.write(data)
EOF2
qemu-img compare -f raw -F raw "$NBD_URI" "$T/want.img" || die "the volume does not read its writes"
# the chunk written in the hole is data now; the rest of the hole is not
map_is "after the writes" "0 16777216
20971520 65536"

step "a second server of the same volume is refused while the first serves it"
nbdkit_refuses "store=$STORE" "volume=$vol"
stderr_contains "volume=$vol" VolumeInUse

step "the writes outlast the server"
nbdkit_stop v
nbdkit_serve v2 "volume=$vol"
qemu-img compare -f raw -F raw "$NBD_URI" "$T/want.img" || die "the writes are gone after a restart"
map_is "after a restart" "0 16777216
20971520 65536"
nbdkit_stop v2

step "a snapshot of the volume restores to what was written"
bs create-snapshot --volume-id "$vol" --quiet >"$T/snap2.json"
snap2=$(json_get SnapshotId "$T/snap2.json")
restore "$snap2" "$T/restored.img"
assert_same_file "$T/restored.img" "$T/want.img" "the restored snapshot of the volume"

step "errors: an unknown volume, another account's, a device with a volume"
nbdkit_refuses "store=$STORE" volume=vol-00000000000000000
stderr_contains InvalidVolume.NotFound
nbdkit_refuses "store=$STORE" volume=nonsense
stderr_contains InvalidVolumeID.Malformed
nbdkit_refuses "store=$STORE" "volume=$vol" account=210987654321
stderr_contains InvalidVolume.NotFound
nbdkit_refuses "store=$STORE" "volume=$vol" "snapshot=$snap"
stderr_contains "not two"
nbdkit_refuses "store=$STORE" "volume=$vol" device=/dev/xvda
stderr_contains "goes with image="
assert_verify_ok
