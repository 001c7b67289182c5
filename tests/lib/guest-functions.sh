# shellcheck shell=bash
# guest-functions.sh - a real Linux guest for the tests, made from Debian's
# packages: Debian's kernel (linux-image-amd64), busybox-static as its whole
# userland, syslinux as its boot loader.  Source after functions.sh.
#
# guest_disk FILE [MIB]: a bootable MBR disk (default 128 MiB), made without
# root:
#   partition 1: 24 MiB FAT16, active: syslinux, the kernel, initrd.gz;
#   partition 2: the rest, ext4 labelled "root": what the guest keeps
#                (/hostname, and whatever its user data writes).
# The initramfs's /init (busybox sh) prints "GUEST: up" to the serial
# console, loads the modules it needs, mounts the root partition read-write
# at /mnt, reads a NoCloud seed (a disk labelled CIDATA with meta-data and
# user-data, as cloud-init takes it) and runs a user data that starts with
# "#!" in /mnt (printing "GUEST: user-data ran, status N"), prints every
# file of /mnt it finds as "GUEST: file NAME", then syncs, unmounts, prints
# "GUEST: down" and powers off.  The ACPI power button (QMP
# system_powerdown) powers it off at any point, after "GUEST: power button".
#
# With GUEST_QGA=1 (set before guest_disk) the initramfs also holds Debian's
# QEMU guest agent (qemu-ga of qemu-guest-agent, with the shared libraries
# ldd finds and the dynamic loader) and the virtio_console module: /init
# starts the agent on the virtio-serial port named org.qemu.guest_agent.0
# once the root is mounted ("GUEST: guest agent on /dev/vportNpM"), so a
# QEMU given guest_qga_args's GUEST_QGA_ARGS has an agent that can freeze
# /mnt.
# guest_qga_requires skips unless qemu-ga is installed.
#
# guest_seed FILE USER_DATA_FILE [INSTANCE_ID]: the NoCloud seed disk.
# guest_root_file DISK NAME OUT: a file of DISK's root partition.
# guest_start / guest_console_wait / guest_wait / guest_boot:
#   run the guest under TCG (KVM is not assumed: where /dev/kvm exists it
#   may still refuse the CPU) with its serial console in a file and a QMP
#   socket (functions.sh's qmp sends it commands); each waits at most
#   GUEST_TIMEOUT seconds (default 240).

GUEST_KERNEL=
GUEST_MODULES=
GUEST_QEMU_ARGS=()
GUEST_QGA=${GUEST_QGA:-}
GUEST_QGA_BIN=/usr/sbin/qemu-ga

# guest_qga_requires: skip unless the guest agent can go into the guest.
guest_qga_requires() {
    [ -x "$GUEST_QGA_BIN" ] || skip "needs $GUEST_QGA_BIN (qemu-guest-agent)"
    requires ldd
}

# guest_qga_args SOCKET: the QEMU arguments of the agent's channel, its
# host side a unix socket at SOCKET (set in GUEST_QGA_ARGS).
guest_qga_args() {
    GUEST_QGA_ARGS=(-chardev "socket,path=$1,server=on,wait=off,id=qga0"
        -device virtio-serial -device "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0")
}

# guest_requires: skip unless the packages the guest is made of are here.
guest_requires() {
    requires qemu-system-x86_64 busybox syslinux mcopy mkfs.vfat sfdisk cpio gzip mkfs.ext4
    GUEST_KERNEL=$(find /boot -maxdepth 1 -name 'vmlinuz-*-amd64' 2>/dev/null | sort -V | tail -n 1)
    [ -n "$GUEST_KERNEL" ] && [ -r "$GUEST_KERNEL" ] ||
        skip "needs a readable Debian kernel in /boot (linux-image-amd64)"
    GUEST_MODULES=/lib/modules/${GUEST_KERNEL#/boot/vmlinuz-}
    [ -f "$GUEST_MODULES/modules.dep" ] || skip "needs $GUEST_MODULES/modules.dep"
    [ -f /usr/lib/syslinux/mbr/mbr.bin ] || skip "needs syslinux's mbr.bin (syslinux-common)"
}

# The modules /init loads (their dependencies come along from modules.dep).
GUEST_MODS=(virtio_pci virtio_blk crc32c_generic ext4 vfat nls_cp437 nls_ascii nls_iso8859_1 button evdev)

# _guest_initrd OUT: the initramfs (gzip'd newc cpio).
_guest_initrd() {
    local out=$1 root="$T/guest-initrd" ver m dep f
    ver=$(basename "$GUEST_MODULES")
    rm -rf "$root"
    mkdir -p "$root"/{bin,dev,proc,sys,mnt,seed,tmp} "$root/lib/modules/$ver"
    cp /bin/busybox "$root/bin/busybox"
    for m in $(busybox --list); do
        [ "$m" = busybox ] || ln -sf busybox "$root/bin/$m"
    done
    # each module and what it needs, as modules.dep lists them
    for m in "${GUEST_MODS[@]}"; do
        dep=$(grep -E "^[^:]*/${m//_/[-_]}\.ko(\.[a-z]+)?:" "$GUEST_MODULES/modules.dep" | head -n 1) ||
            die "module $m is not in $GUEST_MODULES/modules.dep"
        for f in ${dep/:/}; do
            mkdir -p "$root/lib/modules/$ver/$(dirname "$f")"
            cp "$GUEST_MODULES/$f" "$root/lib/modules/$ver/$f"
        done
    done
    if [ -n "$GUEST_QGA" ]; then
        # the agent, its libraries and the loader, at the paths ldd names
        cp "$GUEST_QGA_BIN" "$root/bin/qemu-ga"
        for f in $(ldd "$GUEST_QGA_BIN" | grep -o '/[^ ]*'); do
            mkdir -p "$root$(dirname "$f")"
            cp -L "$f" "$root$f"
        done
        m=virtio_console
        dep=$(grep -E "^[^:]*/$m\.ko(\.[a-z]+)?:" "$GUEST_MODULES/modules.dep" | head -n 1) ||
            die "module $m is not in $GUEST_MODULES/modules.dep"
        for f in ${dep/:/}; do
            mkdir -p "$root/lib/modules/$ver/$(dirname "$f")"
            cp "$GUEST_MODULES/$f" "$root/lib/modules/$ver/$f"
        done
        mkdir -p "$root/var/run" "$root/etc"
    fi
    cp "$GUEST_MODULES/modules.dep" "$root/lib/modules/$ver/"
    printf '%s\n' "${GUEST_MODS[@]}" >"$root/modules"
    [ -z "$GUEST_QGA" ] || echo virtio_console >>"$root/modules"
    cat >"$root/init" <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec >/dev/console 2>&1
echo "GUEST: up"
for m in $(cat /modules); do
    modprobe "$m" || echo "GUEST: modprobe $m failed"
done
down() {
    sync
    umount /seed 2>/dev/null
    umount /mnt 2>/dev/null || mount -o remount,ro /mnt 2>/dev/null
    echo "GUEST: down"
    poweroff -f
}
# wait for the disks (virtio probes asynchronously)
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mdev -s 2>/dev/null
echo "GUEST: disks $(cat /proc/partitions | tail -n +3 | awk '{print $4}' | tr '\n' ' ')"
# the power button: any event of its input device powers off (the device
# may come a little after its module)
(i=0
 while [ $i -lt 100 ]; do
     for n in /sys/class/input/input*; do
         [ "$(cat "$n/name" 2>/dev/null)" = "Power Button" ] || continue
         for e in "$n"/event*; do
             [ -e "$e" ] || continue
             while [ "$(dd if="/dev/input/$(basename "$e")" bs=24 count=1 2>/dev/null | wc -c)" != 24 ]; do
                 sleep 1
             done
             echo "GUEST: power button"
             down
         done
     done
     sleep 0.1
     i=$((i + 1))
 done
 echo "GUEST: no power button") &
root=$(findfs LABEL=root 2>/dev/null)
if [ -n "$root" ] && mount -t ext4 "$root" /mnt; then
    echo "GUEST: root $root"
else
    echo "GUEST: no root partition"
fi
if [ -x /bin/qemu-ga ]; then
    # the agent's port (it may come a little after its module)
    i=0
    port=
    while [ -z "$port" ] && [ $i -lt 50 ]; do
        for p in /sys/class/virtio-ports/vport*; do
            [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/$(basename "$p")
        done
        [ -n "$port" ] || sleep 0.1
        i=$((i + 1))
    done
    if [ -n "$port" ]; then
        mkdir -p /tmp/qga
        /bin/qemu-ga -m virtio-serial -p "$port" -t /tmp/qga -f /tmp/qga.pid &
        echo "GUEST: guest agent on $port"
    else
        echo "GUEST: no guest agent port"
    fi
fi
seed=$(findfs LABEL=CIDATA 2>/dev/null || findfs LABEL=cidata 2>/dev/null)
if [ -n "$seed" ] && mount -t vfat -o ro "$seed" /seed; then
    echo "GUEST: seed $(grep -i instance-id /seed/meta-data 2>/dev/null)"
    if [ -f /seed/user-data ] && [ "$(head -c 2 /seed/user-data)" = "#!" ]; then
        cp /seed/user-data /tmp/user-data
        chmod +x /tmp/user-data
        (cd /mnt && /bin/sh /tmp/user-data)
        echo "GUEST: user-data ran, status $?"
    fi
fi
for f in /mnt/*; do
    [ -f "$f" ] && echo "GUEST: file $(basename "$f") $(md5sum <"$f" | cut -d' ' -f1)"
done
down
EOF
    chmod +x "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
}

guest_disk() {
    local disk=$1 mib=${2:-128} boot="$T/guest-boot.fat" rootfs="$T/guest-root.ext4"
    local bootmib=24
    _guest_initrd "$T/guest-initrd.gz"
    rm -f "$boot" "$rootfs" "$disk"
    mkfs.vfat -C -F 16 -n BOOT "$boot" $((bootmib * 1024)) >/dev/null || die "mkfs.vfat failed"
    printf 'DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd.gz console=ttyS0 panic=-1 \n' \
        >"$T/syslinux.cfg"
    mcopy -i "$boot" "$GUEST_KERNEL" ::/vmlinuz || die "mcopy of the kernel failed"
    mcopy -i "$boot" "$T/guest-initrd.gz" ::/initrd.gz || die "mcopy of the initrd failed"
    mcopy -i "$boot" "$T/syslinux.cfg" ::/syslinux.cfg || die "mcopy failed"
    syslinux --install "$boot" || die "syslinux --install failed"
    mkdir -p "$T/guest-rootdir"
    echo "blocksnap-guest" >"$T/guest-rootdir/hostname"
    mkfs.ext4 -q -F -L root -d "$T/guest-rootdir" "$rootfs" $(((mib - bootmib - 1) * 1024))k >/dev/null ||
        die "mkfs.ext4 failed"
    truncate -s "${mib}M" "$disk"
    printf 'label: dos\nstart=2048, size=%d, type=6, bootable\nstart=%d, type=83\n' \
        $((bootmib * 2048)) $((2048 + bootmib * 2048)) | sfdisk -q "$disk" >/dev/null ||
        die "sfdisk failed"
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" conv=notrunc status=none
    dd if="$boot" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
    dd if="$rootfs" of="$disk" bs=1M seek=$((1 + bootmib)) conv=notrunc,sparse status=none
    rm -f "$boot" "$rootfs"
}

guest_seed() {
    local seed=$1 ud=$2 id=${3:-i-0000000000000000}
    rm -f "$seed"
    mkfs.vfat -C -n CIDATA "$seed" 2048 >/dev/null || die "mkfs.vfat of the seed failed"
    printf 'instance-id: %s\nlocal-hostname: blocksnap-guest\n' "$id" >"$T/meta-data"
    mcopy -i "$seed" "$T/meta-data" ::/meta-data || die "mcopy failed"
    mcopy -i "$seed" "$ud" ::/user-data || die "mcopy failed"
}

# guest_root_file DISK NAME OUT: copy /NAME of DISK's root partition to OUT.
guest_root_file() {
    local disk=$1 name=$2 out=$3 start
    start=$(sfdisk -d "$disk" | sed -n 's/.*start= *\([0-9]*\), .*type=83.*/\1/p')
    [ -n "$start" ] || die "no root partition on $disk"
    dd if="$disk" of="$T/guest-root.part" bs=512 skip="$start" status=none
    rm -f "$out"
    debugfs -R "dump /$name $out" "$T/guest-root.part" >/dev/null 2>&1
    rm -f "$T/guest-root.part"
    [ -f "$out" ] || die "no /$name on the root partition of $disk"
}

# _guest_until CMD...: run CMD every 0.2 s until it succeeds (0) or
# GUEST_TIMEOUT seconds (default 240) pass (1).
_guest_until() {
    local end=$((SECONDS + ${GUEST_TIMEOUT:-240}))
    until "$@" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# guest_start LOG QMP DRIVE...: start the guest in the background (TCG;
# each DRIVE a QEMU -drive value), its serial console to LOG and a QMP
# socket at QMP; sets GUEST_PID (registered for cleanup).  Extra QEMU
# arguments: GUEST_QEMU_ARGS (an array).
guest_start() {
    local log=$1 qmp=$2 d drives=()
    shift 2
    for d in "$@"; do
        drives+=(-drive "$d")
    done
    rm -f "$log" "$qmp"
    qemu-system-x86_64 -nodefaults -display none -no-reboot -machine pc,accel=tcg -m 256 \
        -serial "file:$log" -qmp "unix:$qmp,server=on,wait=off" "${drives[@]}" \
        "${GUEST_QEMU_ARGS[@]}" >"$log.qemu" 2>&1 &
    GUEST_PID=$!
    on_cleanup_pid "$GUEST_PID"
}

# guest_console_wait LOG TEXT: wait (up to GUEST_TIMEOUT s) until the
# guest's console has a line containing TEXT.
guest_console_wait() {
    _guest_until grep -q "$2" "$1" || {
        cat "$1" >&2 || true
        die "the guest never printed '$2'"
    }
}

# guest_wait LOG: wait (up to GUEST_TIMEOUT s) for the guest started by
# guest_start to power off; fails unless QEMU exited 0 and the guest
# printed "GUEST: down".
guest_wait() {
    local log=$1 rc=0
    _guest_until sh -c "! kill -0 $GUEST_PID 2>/dev/null" || {
        cat "$log" >&2 || true
        die "the guest did not power off in ${GUEST_TIMEOUT:-240} s"
    }
    wait "$GUEST_PID" || rc=$?
    [ "$rc" -eq 0 ] || {
        cat "$log.qemu" "$log" >&2 || true
        die "qemu exited $rc"
    }
    grep -q "GUEST: down" "$log" || {
        cat "$log" >&2
        die "the guest did not run to its end"
    }
}

# guest_boot LOG DRIVE...: guest_start, then guest_wait.
guest_boot() {
    local log=$1
    shift
    guest_start "$log" "$T/guest.qmp" "$@"
    guest_wait "$log"
}
