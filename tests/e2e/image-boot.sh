#!/usr/bin/env bash
# image-boot: a disk this test makes (an MBR boot sector that prints a
# marker on COM1) is registered as an image; the mounted store's
# images/ami-…/xvda.img boots in QEMU (TCG, read-only virtio drive) and the
# marker appears on the serial port.  The FUSE view has manifest.json (the
# describe-images JSON), the partition file and images/by-name/NAME, each
# with the image's CreationDate as its time (the snapshot's StartTime for
# the volume files); the manifest registers again through
# --cli-input-json.  The same disk with its 0x55AA signature zeroed is
# refused at registration.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/fuse-functions.sh
source "$(dirname "$0")/../lib/fuse-functions.sh"
# shellcheck source=../lib/image-functions.sh
source "$(dirname "$0")/../lib/image-functions.sh"
requires qemu-system-x86_64 timeout cmp

fuse_assert_clean

step "a bootable 1 MiB MBR disk, and the same with its signature zeroed"
make_boot_disk "$T/boot.img"
cp "$T/boot.img" "$T/nosig.img"
printf '\x00\x00' | dd of="$T/nosig.img" bs=1 seek=510 conv=notrunc status=none
snap=$(snapshot_create "$T/boot.img")
nosig=$(snapshot_create "$T/nosig.img")

step "the unsigned disk is refused, the store unchanged"
image_state >"$T/state.before"
expect_fail Image.NotBootable 1 bs register-image --name nosig-1 \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$nosig}"
stderr_contains "$nosig" "not bootable"
assert_images_unchanged "$T/state.before"

step "register the bootable one"
bs register-image --name boot-test-1 --description "boots to a marker" \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$snap}" >"$T/reg.json"
ami=$(image_id_of "$T/reg.json")
bs describe-images --image-ids "$ami" >"$T/desc.json"
assert_eq "$(json_get Images.0.BootMode "$T/desc.json")" legacy-bios "boot mode"
assert_eq "$(json_get Images.0.DetectedBootMode "$T/desc.json")" legacy-bios "detected"
assert_eq "$(json_get Images.0.RootDeviceName "$T/desc.json")" /dev/xvda "root device"
assert_eq "$(json_get Images.0.BlockDeviceMappings.0.Ebs.SnapshotId "$T/desc.json")" "$snap" "snapshot"
assert_eq "$(json_get Images.0.State "$T/desc.json")" available "state"

step "mount; images/ holds the image"
mkdir "$T/mnt"
fuse_mount "$T/mnt"
d=$T/mnt/images/$ami
wait_until 10 test -d "$d"
find "$d" -mindepth 1 -printf '%f\n' | sort >"$T/ls.got"
printf 'manifest.json\nxvda.img\nxvda.p1\n' | diff -u - "$T/ls.got" || die "listing of $d"
assert_same_file "$d/xvda.img" "$T/boot.img" "xvda.img"
dd if="$T/boot.img" of="$T/p1.raw" bs=512 skip=1 status=none
assert_same_file "$d/xvda.p1" "$T/p1.raw" "xvda.p1"
assert_eq "$(readlink "$T/mnt/images/by-name/boot-test-1")" "../$ami" "by-name link"
[ -f "$T/mnt/images/by-name/boot-test-1/manifest.json" ] || die "by-name link does not resolve"
python3 - "$d/manifest.json" "$T/desc.json" <<'PY' || die "manifest.json is not the describe-images object"
import json, sys
m = json.load(open(sys.argv[1]))
d = json.load(open(sys.argv[2]))["Images"][0]
assert m == d, (m, d)
PY

step "times: the image's CreationDate on its directory, manifest and by-name link; the snapshot's StartTime on its files"
created=$(date -u -d "$(json_get Images.0.CreationDate "$T/desc.json")" +%s.%3N)
started=$(date -u -d "$(bs describe-snapshots --snapshot-ids "$snap" | json_get Snapshots.0.StartTime)" +%s.%3N)
assert_eq "$(stat -c %.3Y "$d")" "$created" "time of images/$ami"
assert_eq "$(stat -c %.3Y "$d/manifest.json")" "$created" "time of manifest.json"
assert_eq "$(stat -c %.3Y "$T/mnt/images/by-name/boot-test-1")" "$created" "time of the by-name link"
assert_eq "$(stat -c %.3Y "$d/xvda.img")" "$started" "time of xvda.img"
assert_eq "$(stat -c %.3Y "$T/mnt/snapshots/$snap.img")" "$started" "time of snapshots/$snap.img"

step "boot images/$ami/xvda.img in QEMU"
timeout 20 qemu-system-x86_64 -nographic -monitor none -no-reboot -m 32 \
    -serial "file:$T/serial.log" \
    -drive "file=$d/xvda.img,format=raw,if=virtio,readonly=on" >"$T/qemu.out" 2>&1 &
qpid=$!
on_cleanup_pid "$qpid"
for _ in $(seq 1 200); do
    grep -q "$BOOT_MARKER" "$T/serial.log" 2>/dev/null && break
    kill -0 "$qpid" 2>/dev/null || break
    sleep 0.1
done
kill "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
grep -q "$BOOT_MARKER" "$T/serial.log" || {
    cat "$T/qemu.out" "$T/serial.log"
    die "the marker did not appear on the serial port"
}
info "serial: $(tr -d '\r' <"$T/serial.log" | grep -o "Booting.*$BOOT_MARKER" | tail -1)"

step "the manifest registers again (--cli-input-json file://)"
cp "$d/manifest.json" "$T/manifest.json"
fuse_unmount "$T/mnt"
expect_fail InvalidAMIName.Duplicate 1 bs register-image --cli-input-json "file://$T/manifest.json"
stderr_contains "$ami"
bs deregister-image --image-id "$ami"
bs register-image --cli-input-json "file://$T/manifest.json" >"$T/reg2.json"
ami2=$(image_id_of "$T/reg2.json")
[ "$ami2" != "$ami" ] || die "same id again"
bs describe-images --image-ids "$ami2" >"$T/desc2.json"
python3 - "$T/desc.json" "$T/desc2.json" <<'PY' || die "the re-registered image differs"
import json, sys
a = json.load(open(sys.argv[1]))["Images"][0]
b = json.load(open(sys.argv[2]))["Images"][0]
for k in ("ImageId", "CreationDate"):
    a.pop(k); b.pop(k)
assert a == b, (a, b)
PY
fuse_assert_clean
