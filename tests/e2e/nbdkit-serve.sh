#!/usr/bin/env bash
# nbdkit-serve: the nbdkit plugin serves a snapshot of a real ext4 image
# read-only: its block status (nbdinfo --map) is the snapshot's data map
# (`blocksnap diff SNAP`) with every hole reported as hole+zero, `qemu-img
# compare` finds the export equal to the source image, `nbdcopy` of it
# (several connections, requests in parallel) gives the image byte for
# byte, writes are refused, and an image's device is served by image= and
# device=.  Config errors stop nbdkit with a message naming what was wrong,
# and leave the store as it was.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/nbdkit-functions.sh"
source "$(dirname "$0")/../lib/image-functions.sh"
requires qemu-img qemu-io nbdcopy python3

step "an ext4 image with a mixed tree, and its snapshot"
fill_tree "$T/tree" 12
make_ext4_image 96M "$T/tree" "$T/vol.img"
snap=$(snapshot_create "$T/vol.img")
info "snapshot $snap"

step "serve it"
nbdkit_serve s1 "snapshot=$snap"
size=$(nbdinfo --size "$NBD_URI")
assert_eq "$size" "$(stat -c %s "$T/vol.img")" "export size"
nbdinfo --json "$NBD_URI" >"$T/info.json"
python3 - "$T/info.json" <<'EOF2'
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
want = {"is_read_only": True, "can_multi_conn": True, "can_zero": False, "can_trim": False,
        "can_cache": True}
for k, v in want.items():
    if e.get(k) != v:
        sys.exit("export %s is %r, expected %r" % (k, e.get(k), v))
if "base:allocation" not in e.get("contexts", []):
    sys.exit("no base:allocation context: %r" % e.get("contexts"))
EOF2

step "block status is the snapshot's data map"
bs diff "$snap" | grep -v '^#' >"$T/diff.map"
nbd_data_map "$NBD_URI" >"$T/nbd.map"
diff -u "$T/diff.map" "$T/nbd.map" || die "nbdinfo --map differs from blocksnap diff $snap"
[ "$(wc -l <"$T/nbd.map")" -ge 2 ] || die "expected several data extents: $(cat "$T/nbd.map")"
# every non-data extent is a hole that reads as zeros
nbdinfo --map --json "$NBD_URI" | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e["type"] not in (0, 3):
        sys.exit("extent %r: type %d, expected 0 (data) or 3 (hole,zero)" % (e, e["type"]))'
info "$(wc -l <"$T/nbd.map") data extents, as blocksnap diff lists them"

step "qemu-img compare with the source image"
qemu-img compare -f raw -F raw "$NBD_URI" "$T/vol.img" || die "qemu-img compare: the export differs"

step "nbdcopy of the export equals the image"
nbdcopy "$NBD_URI" "$T/copy.img"
assert_same_file "$T/copy.img" "$T/vol.img" "nbdcopy of the export"

step "unaligned reads across chunk boundaries"
python3 - "$T/vol.img" "$size" >"$T/reads.txt" <<'EOF2'
import random, sys
random.seed(21)
size = int(sys.argv[2])
for _ in range(40):
    n = random.choice([1, 511, 4096, 65537, 200000])
    print(random.randrange(0, size - n), n)
print(size - 1, 1)
EOF2
# qemu-io dumps each read in hex: compare every byte with the image
mapfile -t cmds < <(awk '{ printf "read -v %d %d\n", $1, $2 }' "$T/reads.txt")
args=()
for c in "${cmds[@]}"; do args+=(-c "$c"); done
qemu-io -r -f raw "$NBD_URI" "${args[@]}" >"$T/reads.out" || die "qemu-io reads failed"
python3 - "$T/vol.img" "$T/reads.txt" "$T/reads.out" <<'EOF2'
import sys
img, reads, out = sys.argv[1:]
got = {}
for line in open(out):
    head, sep, rest = line.partition(":  ")
    if sep and len(head) == 8 and all(c in "0123456789abcdef" for c in head):
        off = int(head, 16)
        for i, tok in enumerate(rest.split()[:16]):
            if len(tok) != 2:
                break
            got[off + i] = int(tok, 16)
with open(img, "rb") as f:
    for line in open(reads):
        off, n = map(int, line.split())
        f.seek(off)
        for i, b in enumerate(f.read(n)):
            if got.get(off + i) != b:
                sys.exit("byte %d (read of %d at %d): %r, expected %d"
                         % (off + i, n, off, got.get(off + i), b))
print("   %d reads checked byte for byte" % sum(1 for _ in open(reads)))
EOF2

step "writes are refused"
if qemu-io -f raw "$NBD_URI" -c 'write -P 0x55 0 512' >"$T/write.out" 2>&1; then
    die "a write to the export succeeded"
fi
grep -qi "permission denied\|read-only" "$T/write.out" ||
    die "the refused write does not say why: $(cat "$T/write.out")"
nbdkit_stop s1
assert_same_file "$T/copy.img" "$T/vol.img" "the source image"

step "an image's device: image= device=, and the root device by default"
make_boot_disk "$T/boot.img"
boot=$(snapshot_create "$T/boot.img")
bs register-image --name served --root-device-name /dev/xvda \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$boot}" \
    "DeviceName=/dev/xvdb,Ebs={SnapshotId=$snap}" >"$T/image.json"
ami=$(image_id_of "$T/image.json")
nbdkit_serve s2 "image=$ami" device=/dev/xvdb
qemu-img compare -f raw -F raw "$NBD_URI" "$T/vol.img" || die "image device xvdb differs"
nbdkit_stop s2
nbdkit_serve s3 "image=$ami" device=xvdb
qemu-img compare -f raw -F raw "$NBD_URI" "$T/vol.img" || die "image device xvdb (short name) differs"
nbdkit_stop s3
nbdkit_serve s4 "image=$ami"
qemu-img compare -f raw -F raw "$NBD_URI" "$T/boot.img" || die "image root device differs"
nbdkit_stop s4

step "a served snapshot is pinned: deleted and gc'd meanwhile, it still reads"
head -c 8M /dev/urandom >"$T/pin.img"
snap2=$(snapshot_create "$T/pin.img")
nbdkit_serve s6 "snapshot=$snap2"
bs delete-snapshot --snapshot-id "$snap2" >/dev/null
bs gc >"$T/gc1.json"
assert_eq "$(json_get ChunksFreed "$T/gc1.json")" 0 "chunks gc freed while the snapshot is served"
qemu-img compare -f raw -F raw "$NBD_URI" "$T/pin.img" || die "the deleted, served snapshot differs"
nbdkit_stop s6
bs gc >"$T/gc2.json"
[ "$(json_get ChunksFreed "$T/gc2.json")" -ge 128 ] ||
    die "gc freed $(json_get ChunksFreed "$T/gc2.json") chunks after nbdkit stopped, expected 128"
assert_verify_ok

step "the man page names every parameter of nbdkit blocksnap --help"
_nbdkit_cmd
"${_NBDKIT_CMD[@]}" "$PLUGIN" --help >"$T/help.txt"
mapfile -t keys < <(grep -oE '^[a-z]+=' "$T/help.txt")
[ "${#keys[@]}" -ge 8 ] || die "nbdkit blocksnap --help lists ${#keys[@]} parameters: $(cat "$T/help.txt")"
for k in "${keys[@]}"; do
    grep -q "^\.BI $k " "$SOURCE_DIR/docs/nbdkit-blocksnap-plugin.1" ||
        die "docs/nbdkit-blocksnap-plugin.1 does not describe $k"
done
info "${#keys[@]} parameters: ${keys[*]}"

step "config errors stop nbdkit with a message, the store unchanged"
store_state >"$T/state.before"
nbdkit_refuses "store=$STORE" snapshot=snap-00000000000000000
stderr_contains snap-00000000000000000 InvalidSnapshot.NotFound
nbdkit_refuses "store=$STORE" snapshot=nonsense
stderr_contains nonsense InvalidSnapshotID.Malformed
nbdkit_refuses "store=$T/no-store" "snapshot=$snap"
stderr_contains "$T/no-store" Store.NotFound
mkdir "$T/not-a-store" && touch "$T/not-a-store/x"
nbdkit_refuses "store=$T/not-a-store" "snapshot=$snap"
stderr_contains Store.Invalid
nbdkit_refuses "store=$STORE" "snapshot=$snap" colour=blue
stderr_contains "unknown parameter 'colour'"
nbdkit_refuses "store=$STORE" "snapshot=$snap" "snapshot=$snap"
stderr_contains "given twice"
nbdkit_refuses "store=$STORE"
stderr_contains "nothing to serve"
nbdkit_refuses "store=$STORE" "snapshot=$snap" "image=$ami"
stderr_contains "not two"
nbdkit_refuses "store=$STORE" "snapshot=$snap" device=/dev/xvda
stderr_contains "goes with image="
nbdkit_refuses "store=$STORE" "image=$ami" device=/dev/xvdz
stderr_contains "no device /dev/xvdz" /dev/xvda /dev/xvdb
nbdkit_refuses "store=$STORE" image=ami-00000000000000000
stderr_contains InvalidAMIID.NotFound
nbdkit_refuses "store=$STORE" "snapshot=$snap" account=12
stderr_contains "account=12" InvalidParameterValue
nbdkit_refuses "store=$STORE" "snapshot=$snap" cache=1k
stderr_contains "cache=1k"

step "another account's snapshot is not served unless shared with it"
nbdkit_refuses "store=$STORE" "snapshot=$snap" account=210987654321
stderr_contains InvalidSnapshot.NotFound
nbdkit_refuses "store=$STORE" "image=$ami" account=210987654321
stderr_contains InvalidAMIID.NotFound
bs modify-snapshot-attribute --snapshot-id "$snap" --attribute createVolumePermission \
    --operation-type add --user-ids 210987654321 >/dev/null
store_state >"$T/state.before"
nbdkit_serve s5 "snapshot=$snap" account=210987654321
qemu-img compare -f raw -F raw "$NBD_URI" "$T/vol.img" || die "the shared snapshot differs"
nbdkit_stop s5

step "profile=: the CLI's profiles pick the account and the store, as the CLI does"
account_profiles 123456789012 ops=210987654321
"$BLOCKSNAP" configure set region.local.store_path "$STORE" >/dev/null
nbdkit_serve s7 region=local profile=ops "snapshot=$snap"
qemu-img compare -f raw -F raw "$NBD_URI" "$T/vol.img" || die "the snapshot shared with ops differs"
nbdkit_stop s7
nbdkit_refuses region=local profile=ops "image=$ami"
stderr_contains InvalidAMIID.NotFound
BLOCKSNAP_PROFILE=ops nbdkit_refuses region=local "image=$ami"
stderr_contains InvalidAMIID.NotFound
nbdkit_serve s8 region=local profile=ops "image=$ami" account=123456789012
nbdkit_stop s8
nbdkit_refuses region=local profile=nobody "snapshot=$snap"
stderr_contains ProfileNotFound nobody
assert_store_unchanged "$T/state.before"
