#!/usr/bin/env bash
# fuse-qemu: QEMU boots a snapshot file straight from the mount (read-only
# virtio drive): a boot sector that prints a line to the debug console and
# powers off through isa-debug-exit.  Also through a --snapshot-id file
# mount.  Runs under TCG in well under a second of guest time.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires qemu-system-x86_64 timeout

fuse_assert_clean

step "a bootable volume: boot sector, MBR table, some data"
# 16-bit code at 0x7c00: print "blocksnap-boot-ok" to port 0xe9, then
# write 0x10 to isa-debug-exit (QEMU exits with status 0x10 * 2 + 1 = 33).
python3 - "$T/boot.img" <<'EOF'
import os, sys
code = bytes([
    0xFA, 0xFC,              # cli; cld
    0x31, 0xC0, 0x8E, 0xD8,  # xor ax,ax; mov ds,ax
    0xBE, 0x1B, 0x7C,        # mov si, msg
    0xBA, 0xE9, 0x00,        # mov dx, 0xe9
    0xAC,                    # next: lodsb
    0x84, 0xC0,              # test al, al
    0x74, 0x03,              # jz done
    0xEE,                    # out dx, al
    0xEB, 0xF8,              # jmp next
    0xB0, 0x10,              # done: mov al, 0x10
    0xE6, 0xF4,              # out 0xf4, al
    0xF4, 0xEB, 0xFD,        # hlt; jmp $-1
]) + b"blocksnap-boot-ok\n\0"
sector = bytearray(512)
sector[:len(code)] = code
e = 446                      # one partition, so the disk looks like a disk
sector[e] = 0x80
sector[e + 4] = 0x83
sector[e + 8:e + 16] = (2048).to_bytes(4, "little") + (30720).to_bytes(4, "little")
sector[510:512] = b"\x55\xaa"
with open(sys.argv[1], "wb") as f:
    f.write(sector)
    f.truncate(16 << 20)
    f.seek(4 << 20)
    f.write(os.urandom(1 << 20))
EOF
snap=$(snapshot_create "$T/boot.img")

# boot FILE: boot FILE in QEMU; succeed when the guest printed its line and
# powered off.
boot() {
    local rc=0
    rm -f "$T/con.txt"
    timeout 60 qemu-system-x86_64 -nodefaults -display none -no-reboot -machine accel=tcg \
        -m 32 -drive "file=$1,format=raw,if=virtio,readonly=on" \
        -debugcon "file:$T/con.txt" -global isa-debugcon.iobase=0xe9 \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 >"$T/qemu.out" 2>&1 || rc=$?
    [ "$rc" -eq 33 ] || {
        cat "$T/qemu.out"
        die "qemu exited $rc (33 means the guest ran to its end)"
    }
    grep -qx "blocksnap-boot-ok" "$T/con.txt" || die "the guest did not print its line"
}

step "boot the snapshot file from the store mount"
mkdir "$T/mnt"
fuse_mount "$T/mnt"
boot "$T/mnt/snapshots/$snap.img"
[ -e "$T/mnt/snapshots/$snap.p1" ] || die "the partition file is missing"
fuse_unmount "$T/mnt"

step "boot a --snapshot-id file mount"
touch "$T/disk.img"
fuse_mount "$T/disk.img" --snapshot-id "$snap"
boot "$T/disk.img"
fuse_unmount "$T/disk.img"
fuse_assert_clean
