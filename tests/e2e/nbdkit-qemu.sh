#!/usr/bin/env bash
# nbdkit-qemu: QEMU (TCG) boots an image straight from the store through the
# nbdkit plugin: the image's root device served by image=, the boot
# sector's marker seen on the serial port, and the same disk served by
# snapshot= booted again.  QEMU's drive is the NBD URI itself.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/nbdkit-functions.sh"
source "$(dirname "$0")/../lib/image-functions.sh"
requires qemu-system-x86_64 timeout

step "a bootable disk, its snapshot and an image of it"
make_boot_disk "$T/boot.img"
snap=$(snapshot_create "$T/boot.img")
bs register-image --name nbd-boot --root-device-name /dev/xvda \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$snap}" >"$T/image.json"
ami=$(image_id_of "$T/image.json")

# boot URI: boot QEMU from the NBD export URI (a read-only virtio drive)
# until the marker appears on the serial port.
boot() {
    local qpid
    rm -f "$T/serial.log"
    timeout 30 qemu-system-x86_64 -nographic -monitor none -no-reboot -m 32 -machine accel=tcg \
        -serial "file:$T/serial.log" \
        -drive "file=$1,format=raw,if=virtio,readonly=on" >"$T/qemu.out" 2>&1 &
    qpid=$!
    on_cleanup_pid "$qpid"
    for _ in $(seq 1 250); do
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
}

step "boot the image's root device from nbdkit blocksnap image=$ami"
nbdkit_serve img "image=$ami"
boot "$NBD_URI"
nbdkit_stop img

step "boot the snapshot from nbdkit blocksnap snapshot=$snap"
nbdkit_serve snap "snapshot=$snap"
boot "$NBD_URI"
nbdkit_stop snap
