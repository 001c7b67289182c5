#!/usr/bin/env bash
# An instance of a real Linux guest (tests/lib/guest-functions.sh: Debian's
# kernel, busybox, an ext4 root) launched with run-instances: its user data
# reaches the guest through the NoCloud seed (instance-id and all) and
# writes a file, seen in get-console-output; the instance keeps running
# after the blocksnap that started it has ended; stop-instances presses
# the ACPI power button and the guest powers off cleanly; start-instances
# boots it again with what it wrote kept; terminate-instances deletes its
# volume, and the image's snapshot is as it was.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/image-functions.sh
source "$(dirname "$0")/../lib/image-functions.sh"
# shellcheck source=../lib/guest-functions.sh
source "$(dirname "$0")/../lib/guest-functions.sh"
# shellcheck source=../lib/instance-functions.sh
source "$(dirname "$0")/../lib/instance-functions.sh"
guest_requires
requires md5sum

step "a Linux image"
guest_disk "$T/linux.img" 128
snap=$(snapshot_create "$T/linux.img")
bs register-image --name linux-inst --block-device-mappings \
    "DeviceName=/dev/xvda,Ebs={SnapshotId=$snap}" >"$T/reg.json"
ami=$(image_id_of "$T/reg.json")

step "run-instances with user data: the guest runs it and writes a file"
cat >"$T/ud.sh" <<'EOF'
#!/bin/sh
if [ -f kept ]; then echo "GUEST: found $(cat kept)"; fi
echo kept-by-the-guest >kept
sync
echo "GUEST: wrote kept"
sleep 600
EOF
bs run-instances --image-id "$ami" --instance-type t3.micro --user-data "file://$T/ud.sh" \
    >"$T/run.json"
id=$(inst_id_of "$T/run.json")
inst_console_wait "$id" "GUEST: wrote kept"
grep -q "GUEST: seed instance-id: $id" "$T/.console" || die "the guest did not read its seed"
! grep -q "GUEST: found" "$T/.console" || die "a new volume already had the file"
info "the blocksnap that started it has ended; the instance runs on"
assert_eq "$(inst_state "$id")" running "state"
bs describe-instances --instance-ids "$id" >"$T/d.json"
vol=$(json_get Reservations.0.Instances.0.BlockDeviceMappings.0.Ebs.VolumeId "$T/d.json")

step "stop: the power button, a clean power-off"
bs stop-instances --instance-ids "$id" >"$T/stop.json"
assert_eq "$(json_get StoppingInstances.0.CurrentState.Name "$T/stop.json")" stopped "stopped"
inst_console "$id" >"$T/con1.txt"
grep -q "GUEST: power button" "$T/con1.txt" || die "the guest did not see the power button"
grep -q "GUEST: down" "$T/con1.txt" || die "the guest did not power off cleanly"

step "start: the guest boots again and finds its file"
bs start-instances --instance-ids "$id" >/dev/null
inst_console_wait "$id" "GUEST: found kept-by-the-guest"
inst_wait_state "$id" running

step "terminate: the volume goes, the image's snapshot stays as it was"
bs terminate-instances --instance-ids "$id" --stop-timeout 60 >/dev/null
assert_eq "$(inst_state "$id")" terminated "state"
expect_fail InvalidVolume.NotFound 1 bs describe-volumes --volume-ids "$vol"
bs create-volume --snapshot-id "$snap" --path "$T/check.img" --quiet >/dev/null
cmp -s "$T/linux.img" "$T/check.img" || die "the image's snapshot changed"
assert_verify_ok
