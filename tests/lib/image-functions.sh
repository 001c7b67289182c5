# shellcheck shell=bash
# image-functions.sh - helpers of the machine-image tests (tests/e2e/image-*.sh).
# Source after functions.sh.

# The marker the boot sector writes to COM1.
BOOT_MARKER=BLOCKSNAP-BOOT-OK

# make_boot_disk FILE: a 1 MiB MBR disk whose boot sector writes
# "$BOOT_MARKER\r\n" to the serial port (COM1, 0x3F8) and halts.  The 16-bit
# code, assembled by hand (loaded at 0000:7C00):
#   7C00 31 C0        xor  ax, ax
#   7C02 8E D8        mov  ds, ax
#   7C04 FC           cld
#   7C05 BA F8 03     mov  dx, 0x3F8
#   7C08 BE 17 7C     mov  si, msg        ; msg at 7C17
#   7C0B AC           lodsb               ; next:
#   7C0C 84 C0        test al, al
#   7C0E 74 03        jz   done
#   7C10 EE           out  dx, al
#   7C11 EB F8        jmp  next
#   7C13 FA           cli                 ; done:
#   7C14 F4           hlt
#   7C15 EB FC        jmp  done
#   7C17 "BLOCKSNAP-BOOT-OK\r\n\0"
# Partition 1: active, type 0x83, sectors 1-2047.  Signature 0x55AA.
make_boot_disk() {
    rm -f "$1"
    truncate -s 1M "$1"
    printf '\x31\xc0\x8e\xd8\xfc\xba\xf8\x03\xbe\x17\x7c\xac\x84\xc0\x74\x03\xee\xeb\xf8\xfa\xf4\xeb\xfc%s\r\n\x00' \
        "$BOOT_MARKER" | dd of="$1" conv=notrunc status=none
    printf '\x80\x00\x02\x00\x83\x00\x00\x00\x01\x00\x00\x00\xff\x07\x00\x00' |
        dd of="$1" bs=1 seek=446 conv=notrunc status=none
    printf '\x55\xaa' | dd of="$1" bs=1 seek=510 conv=notrunc status=none
}

# make_gpt_disk FILE: a 64 MiB GPT disk with an EFI system partition and a
# Linux partition (sfdisk), no MBR boot code.
make_gpt_disk() {
    rm -f "$1"
    truncate -s 64M "$1"
    printf 'label: gpt\nstart=2048, size=8192, type=uefi, name="EFI"\nstart=10240, size=81920, type=linux, name="root"\n' |
        sfdisk -q "$1" >/dev/null || die "sfdisk failed"
    # something in the ESP, so the volume is not all holes
    printf 'EFI-PART-CONTENT' | dd of="$1" bs=512 seek=2048 conv=notrunc status=none
}

# image_id_of JSON_FILE: the ImageId of a register/create answer.
image_id_of() { json_get ImageId "$1"; }

# image_state: the store's images, snapshots and volumes, for
# "unchanged" checks (store_state plus the images).
image_state() {
    store_state
    bs describe-images | python3 -c '
import json, sys
for i in json.load(sys.stdin)["Images"]:
    print("image", i["ImageId"], i["Name"], i["State"])' | sort
}

# assert_images_unchanged BEFORE_FILE: image_state equals the one saved with
# `image_state >FILE`, and verify passes.
assert_images_unchanged() {
    image_state >"$T/image-state.after"
    diff -u "$1" "$T/image-state.after" || die "the store changed (diff above: - before, + after)"
    assert_verify_ok
}
