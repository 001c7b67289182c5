#!/usr/bin/env bash
# create-image of a running Linux guest (tests/lib/guest-functions.sh) with
# three volumes: its root and two raw data disks.  Its user data writes a
# file to the root, then counts for ever, writing each number to the first
# data disk, fsync, then to the second, fsync: at any instant the disks
# hold B and C with C <= B <= C + 1.  create-image --no-reboot pauses the
# machine and snapshots every volume through its server: the image holds
# one instant of all three (crash-consistent: C <= B <= C + 1 in it, a
# snapshot taken a moment later of the second disk would show C > B), the
# guest runs on (a second image counts further), and the root's snapshot
# holds what the guest wrote and little else, its file system taken
# mounted.  create-image with a reboot powers the guest off cleanly (the
# ACPI button: its root file system unmounted in the image), snapshots, and
# boots it again.  An instance of the first image finds the file the first guest
# wrote.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/image-functions.sh
source "$(dirname "$0")/../lib/image-functions.sh"
# shellcheck source=../lib/guest-functions.sh
source "$(dirname "$0")/../lib/guest-functions.sh"
# shellcheck source=../lib/instance-functions.sh
source "$(dirname "$0")/../lib/instance-functions.sh"
guest_requires
requires dumpe2fs sfdisk

step "a Linux image with two blank data disks"
guest_disk "$T/linux.img" 128
snap=$(snapshot_create "$T/linux.img")
truncate -s 16M "$T/blank.img"
blank=$(snapshot_create "$T/blank.img")
bs register-image --name linux-3 --block-device-mappings \
    "DeviceName=/dev/xvda,Ebs={SnapshotId=$snap}" \
    "DeviceName=/dev/xvdb,Ebs={SnapshotId=$blank}" \
    "DeviceName=/dev/xvdc,Ebs={SnapshotId=$blank}" >"$T/reg.json"
ami=$(image_id_of "$T/reg.json")
cat >"$T/ud.sh" <<'EOF2'
#!/bin/sh
if [ -f kept ]; then echo "GUEST: found $(cat kept)"; fi
echo kept-by-the-guest >kept
sync
echo "GUEST: wrote kept"
i=0
while :; do
    i=$((i + 1))
    printf '%08d' $i | dd of=/dev/vdb bs=8 count=1 conv=notrunc,fsync 2>/dev/null
    printf '%08d' $i | dd of=/dev/vdc bs=8 count=1 conv=notrunc,fsync 2>/dev/null
    if [ $i -eq 20 ]; then echo "GUEST: counted to 20"; fi
done
EOF2

step "the guest runs, writes its file and counts on both data disks"
bs run-instances --image-id "$ami" --user-data "file://$T/ud.sh" >"$T/run.json"
id=$(inst_id_of "$T/run.json")
inst_console_wait "$id" "GUEST: counted to 20"
grep -q "GUEST: wrote kept" "$T/.console" || die "the guest did not write its file"

# root_mounted DISK: whether DISK's root file system was left mounted (its
# journal needs recovery: a power cut) rather than unmounted cleanly.
root_mounted() {
    local start
    start=$(sfdisk -d "$1" | sed -n 's/.*start= *\([0-9]*\), .*type=83.*/\1/p')
    dd if="$1" of="$T/root.part" bs=512 skip="$start" status=none
    dumpe2fs -h "$T/root.part" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'
}

# counts IMAGE: "B C", the numbers on its two data disks
counts() {
    local d n out=""
    bs describe-images --image-ids "$1" >"$T/ci-img.json"
    for d in 1 2; do
        n=$(json_get "Images.0.BlockDeviceMappings.$d.Ebs.SnapshotId" "$T/ci-img.json")
        restore "$n" "$T/disk$d.img"
        out+="$(head -c 8 "$T/disk$d.img" | sed 's/^0*//') "
    done
    echo "$out"
}

step "--no-reboot: one instant of the three volumes, the guest running on"
pid=$(inst_qemu_pid "$id")
bs create-image --name running-1 --instance-id "$id" --no-reboot >"$T/ci1.json"
ami1=$(image_id_of "$T/ci1.json")
read -r b c <<<"$(counts "$ami1")"
info "the image holds B=$b C=$c"
[ "$b" -ge 20 ] || die "the image holds count $b, the guest had counted to 20 before"
[ "$c" -le "$b" ] && [ "$b" -le $((c + 1)) ] ||
    die "not one instant: B=$b C=$c (C <= B <= C + 1 at any instant)"
assert_eq "$(inst_qemu_pid "$id")" "$pid" "the same QEMU"
assert_eq "$(qmp "$STORE/instances/$id/q.sock" query-status | json_get status)" running "resumed"
root1=$(json_get Images.0.BlockDeviceMappings.0.Ebs.SnapshotId "$T/ci-img.json")
restore "$root1" "$T/root1.img"
root_mounted "$T/root1.img" || die "the --no-reboot image's root was not taken while mounted"
diff_ranges "$snap" "$root1" >"$T/changed.txt"
changed=$(ranges_bytes "$T/changed.txt")
info "the root's snapshot: $changed bytes changed of 128 MiB"
[ "$changed" -gt 0 ] || die "the guest's file is not in the image"
assert_le "$changed" $((16 << 20))
sleep 2
bs create-image --name running-2 --instance-id "$id" --no-reboot >"$T/ci2.json"
read -r b2 c2 <<<"$(counts "$(image_id_of "$T/ci2.json")")"
info "a second image holds B=$b2 C=$c2"
[ "$b2" -gt "$b" ] || die "the guest did not count on after the first image ($b, then $b2)"
[ "$c2" -le "$b2" ] && [ "$b2" -le $((c2 + 1)) ] || die "not one instant: B=$b2 C=$c2"

step "reboot: the guest powers off cleanly, is snapshotted, boots again"
bs create-image --name rebooted --instance-id "$id" --stop-timeout 120 >"$T/ci3.json"
ami3=$(image_id_of "$T/ci3.json")
inst_console_wait "$id" "GUEST: found kept-by-the-guest"
inst_wait_state "$id" running
bs describe-images --image-ids "$ami3" >"$T/img3.json"
restore "$(json_get Images.0.BlockDeviceMappings.0.Ebs.SnapshotId "$T/img3.json")" "$T/root3.img"
! root_mounted "$T/root3.img" || die "the rebooted image's root was not unmounted cleanly"
guest_root_file "$T/root3.img" kept "$T/kept3.txt"
assert_eq "$(cat "$T/kept3.txt")" kept-by-the-guest "the file in the rebooted image"
bs terminate-instances --instance-ids "$id" --stop-timeout 1 >/dev/null

step "an instance of the first image finds what the first guest wrote"
bs run-instances --image-id "$ami1" --user-data "file://$T/ud.sh" >"$T/run2.json"
id2=$(inst_id_of "$T/run2.json")
inst_console_wait "$id2" "GUEST: found kept-by-the-guest"
bs terminate-instances --instance-ids "$id2" --stop-timeout 1 >/dev/null
assert_verify_ok
