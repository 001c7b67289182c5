#!/usr/bin/env bash
# guest-linux: a real Linux guest (Debian's kernel, busybox and syslinux, put
# together by tests/lib/guest-functions.sh) on a disk that blocksnap
# snapshots and registers as an image.  The guest boots in QEMU (TCG) from
# the mounted store's images/ami-…/xvda.img (read-only; its writes go to a
# throw-away overlay) and runs the user data of a NoCloud seed.  Then it
# boots writable from a volume restored from the snapshot: its user data
# writes a file, QMP's system_powerdown (the ACPI power button) shuts it
# down cleanly, and the next snapshot of the volume is incremental (a few
# MiB of a 128 MiB disk) and restores with the file in it.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/fuse-functions.sh
source "$(dirname "$0")/../lib/fuse-functions.sh"
# shellcheck source=../lib/image-functions.sh
source "$(dirname "$0")/../lib/image-functions.sh"
# shellcheck source=../lib/guest-functions.sh
source "$(dirname "$0")/../lib/guest-functions.sh"
guest_requires
requires md5sum
fuse_assert_clean

step "a bootable Linux disk, snapshotted and registered"
guest_disk "$T/linux.img" 128
snap=$(snapshot_create "$T/linux.img")
bs register-image --name linux-guest-1 \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$snap}" >"$T/reg.json"
ami=$(image_id_of "$T/reg.json")
bs describe-images --image-ids "$ami" >"$T/desc.json"
assert_eq "$(json_get Images.0.BootMode "$T/desc.json")" legacy-bios "boot mode"

step "the guest boots from images/$ami/xvda.img in the mount and runs its user data"
mkdir "$T/mnt"
fuse_mount "$T/mnt"
printf '#!/bin/sh\necho from-the-image >seen\n' >"$T/ud1.sh"
guest_seed "$T/seed1.img" "$T/ud1.sh" i-0aaaaaaaaaaaaaaa1
guest_boot "$T/con1.log" "file=$T/mnt/images/$ami/xvda.img,format=raw,if=virtio,snapshot=on" \
    "file=$T/seed1.img,format=raw,if=virtio,readonly=on"
grep -q "GUEST: seed instance-id: i-0aaaaaaaaaaaaaaa1" "$T/con1.log" || die "the guest did not read its seed"
grep -q "GUEST: user-data ran, status 0" "$T/con1.log" || die "the user data did not run"
want=$(echo from-the-image | md5sum | cut -d' ' -f1)
grep -q "GUEST: file seen $want" "$T/con1.log" || die "the guest did not write what its user data said"
fuse_unmount "$T/mnt"
info "the image's volume is as it was: the guest wrote to an overlay"
bs create-volume --snapshot-id "$snap" --path "$T/check.img" --quiet >/dev/null
cmp -s "$T/linux.img" "$T/check.img" || die "the snapshot changed"
rm -f "$T/check.img"

step "a volume restored from the snapshot, booted writable; the power button stops it"
bs create-volume --snapshot-id "$snap" --path "$T/vol.img" --quiet >/dev/null
printf '#!/bin/sh\necho kept-by-the-guest >kept\nsync\necho "GUEST: wrote kept"\nsleep 600\n' >"$T/ud2.sh"
guest_seed "$T/seed2.img" "$T/ud2.sh" i-0aaaaaaaaaaaaaaa2
guest_start "$T/con2.log" "$T/qmp.sock" "file=$T/vol.img,format=raw,if=virtio" \
    "file=$T/seed2.img,format=raw,if=virtio,readonly=on"
guest_console_wait "$T/con2.log" "GUEST: wrote kept"
qmp "$T/qmp.sock" system_powerdown >/dev/null
guest_wait "$T/con2.log"
grep -q "GUEST: power button" "$T/con2.log" || die "the guest did not see the power button"

step "the volume's next snapshot is incremental and holds the guest's file"
snap2=$(snapshot_create "$T/vol.img")
diff_ranges "$snap" "$snap2" >"$T/changed.txt"
changed=$(ranges_bytes "$T/changed.txt")
info "changed: $changed bytes of $(stat -c %s "$T/vol.img")"
[ "$changed" -gt 0 ] || die "the guest's writes are not in the snapshot"
assert_le "$changed" $((16 << 20))
restore "$snap2" "$T/restored.img"
cmp -s "$T/vol.img" "$T/restored.img" || die "the snapshot does not restore as the volume"
guest_root_file "$T/restored.img" kept "$T/kept.txt"
assert_eq "$(cat "$T/kept.txt")" kept-by-the-guest "the guest's file"
assert_verify_ok
