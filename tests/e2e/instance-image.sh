#!/usr/bin/env bash
# create-image --instance-id on a boot-sector instance (image-functions.sh:
# it boots in well under a second and ignores the ACPI power button): a
# stopped instance (its volumes snapshotted here), a running one with
# --no-reboot (paused through QMP, each volume snapshotted by its server
# through the nbdkit plugin's control channel) and with a reboot (stopped
# after --stop-timeout, snapshotted, started again); the image maps the
# instance's devices with the attachments' DeleteOnTermination, names
# SourceInstanceId, and its snapshots read nothing the guest did not write;
# --block-device-mappings and --tag-specifications; and refusals: a dry
# run, bad names and ids, options of the other form, an instance neither
# running nor stopped, a volume's server that cannot be reached midway: no
# image, and the instance still running.  The Linux guest's own test is
# instance-image-guest.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/image-functions.sh
source "$(dirname "$0")/../lib/image-functions.sh"
# shellcheck source=../lib/instance-functions.sh
source "$(dirname "$0")/../lib/instance-functions.sh"
requires python3
export BLOCKSNAP_ACCEL=tcg

step "an image of a boot sector and a data snapshot; an instance of it"
make_boot_disk "$T/boot.img"
snap=$(snapshot_create "$T/boot.img")
head -c 3M /dev/urandom >"$T/data.img"
dsnap=$(snapshot_create "$T/data.img")
bs register-image --name inst-boot --block-device-mappings \
    "DeviceName=/dev/xvda,Ebs={SnapshotId=$snap}" \
    "DeviceName=/dev/xvdb,Ebs={SnapshotId=$dsnap,DeleteOnTermination=false,VolumeType=gp3}" \
    >"$T/reg.json"
ami=$(image_id_of "$T/reg.json")
bs run-instances --image-id "$ami" >"$T/run.json"
id=$(inst_id_of "$T/run.json")
inst_wait_state "$id" running
dir=$STORE/instances/$id
[ -S "$dir/v0.ctl" ] && [ -S "$dir/v1.ctl" ] || die "the volumes' servers have no control sockets"
assert_eq "$(stat -c %a "$dir/v0.ctl")" 600 "a control socket's mode"

images_n() { bs describe-images | json_get Images.#; }

step "refusals before anything is touched: nothing made, the instance running"
store_state >"$T/state.before"
expect_fail InvalidInstanceID.NotFound 1 bs create-image --name x-1 --instance-id i-0123456789abcdef0
expect_fail InvalidInstanceID.Malformed 1 bs create-image --name x-1 --instance-id vol-0123456789abcdef0
expect_fail InvalidAMIName.Malformed 1 bs create-image --name 'a!' --instance-id "$id" --no-reboot
expect_fail InvalidAMIName.Duplicate 1 bs create-image --name inst-boot --instance-id "$id" --no-reboot
expect_fail InvalidParameterCombination 2 bs create-image --name x-1 --instance-id "$id" \
    --volume "/dev/xvda=$T/boot.img"
expect_fail InvalidParameterCombination 2 bs create-image --name x-1 --volume "/dev/xvda=$T/boot.img" \
    --no-reboot
expect_fail InvalidParameterCombination 2 bs create-image --name x-1 --instance-id "$id" --reboot \
    --no-reboot
expect_fail MissingParameter 2 bs create-image --name x-1
expect_fail InvalidParameterValue 2 bs create-image --name x-1 --instance-id "$id" --no-reboot \
    --tag-specifications 'ResourceType=instance,Tags=[{Key=a,Value=b}]'
expect_fail InvalidBlockDeviceMapping 1 bs create-image --name x-1 --instance-id "$id" --no-reboot \
    --block-device-mappings 'DeviceName=/dev/xvdb,Ebs={VolumeSize=9}'
expect_fail DryRunOperation 1 bs create-image --name x-1 --instance-id "$id" --dry-run
expect_fail DryRunOperation 1 bs create-image --name x-1 --instance-id "$id" --no-reboot --dry-run
assert_store_unchanged "$T/state.before"
assert_eq "$(images_n)" 1 "images"
assert_eq "$(qmp "$dir/q.sock" query-status | json_get status)" running "QEMU's status"
assert_eq "$(inst_state "$id")" running "state"

step "--no-reboot: paused, each volume through its server; the image maps the instance's devices"
pid=$(inst_qemu_pid "$id")
bs create-image --name golden-1 --instance-id "$id" --no-reboot --description "of a running one" \
    --tag-specifications 'ResourceType=image,Tags=[{Key=kind,Value=img}]' \
    'ResourceType=snapshot,Tags=[{Key=kind,Value=snap}]' >"$T/ci.json"
ami1=$(image_id_of "$T/ci.json")
assert_eq "$(inst_qemu_pid "$id")" "$pid" "the same QEMU"
assert_eq "$(qmp "$dir/q.sock" query-status | json_get status)" running "QEMU resumed"
bs describe-images --image-ids "$ami1" >"$T/img.json"
assert_eq "$(json_get Images.0.State "$T/img.json")" available "state"
assert_eq "$(json_get Images.0.SourceInstanceId "$T/img.json")" "$id" "SourceInstanceId"
assert_eq "$(json_get Images.0.Description "$T/img.json")" "of a running one" "description"
assert_eq "$(json_get Images.0.Tags.0.Value "$T/img.json")" img "the image's tag"
assert_eq "$(json_get Images.0.RootDeviceName "$T/img.json")" /dev/xvda "root device"
assert_eq "$(json_get Images.0.BlockDeviceMappings.# "$T/img.json")" 2 "mappings"
assert_eq "$(json_get Images.0.BlockDeviceMappings.0.Ebs.DeleteOnTermination "$T/img.json")" true \
    "the root's DeleteOnTermination"
assert_eq "$(json_get Images.0.BlockDeviceMappings.1.Ebs.DeleteOnTermination "$T/img.json")" false \
    "the data volume's DeleteOnTermination"
assert_eq "$(json_get Images.0.BlockDeviceMappings.1.Ebs.VolumeType "$T/img.json")" gp3 "type"
s0=$(json_get Images.0.BlockDeviceMappings.0.Ebs.SnapshotId "$T/img.json")
s1=$(json_get Images.0.BlockDeviceMappings.1.Ebs.SnapshotId "$T/img.json")
bs describe-snapshots --snapshot-ids "$s0" "$s1" >"$T/snaps.json"
for i in 0 1; do
    assert_eq "$(json_get "Snapshots.$i.State" "$T/snaps.json")" completed "snapshot $i"
    assert_eq "$(json_get "Snapshots.$i.Tags.0.Value" "$T/snaps.json")" snap "snapshot $i's tag"
    json_get "Snapshots.$i.Description" "$T/snaps.json" | grep -q "Created by CreateImage($id) for $ami1" ||
        die "snapshot $i's description: $(json_get "Snapshots.$i.Description" "$T/snaps.json")"
done
info "the guest wrote nothing: the snapshots hold their images' data"
# same_data SNAP FILE: SNAP restores to FILE's bytes, then zeros (a volume
# is whole GiB)
same_data() {
    restore "$1" "$T/r.img"
    cp "$2" "$T/want.img"
    truncate -s "$(stat -c %s "$T/r.img")" "$T/want.img"
    cmp -s "$T/r.img" "$T/want.img" || die "$1 differs from $2"
}
same_data "$s0" "$T/boot.img"
same_data "$s1" "$T/data.img"

step "a server that cannot be reached midway: no image, the instance resumed"
mv "$dir/v1.ctl" "$dir/v1.ctl.away"
n=$(images_n)
expect_fail - 1 bs create-image --name golden-x --instance-id "$id" --no-reboot
stderr_contains /dev/xvdb
mv "$dir/v1.ctl.away" "$dir/v1.ctl"
assert_eq "$(images_n)" "$n" "images after the failure"
assert_eq "$(qmp "$dir/q.sock" query-status | json_get status)" running "QEMU resumed"

step "--block-device-mappings: DeleteOnTermination changed, the data volume dropped"
bs create-image --name golden-2 --instance-id "$id" --no-reboot --block-device-mappings \
    'DeviceName=/dev/xvda,Ebs={DeleteOnTermination=false}' 'DeviceName=/dev/xvdb,NoDevice=""' \
    >"$T/ci2.json"
bs describe-images --image-ids "$(image_id_of "$T/ci2.json")" >"$T/img2.json"
assert_eq "$(json_get Images.0.BlockDeviceMappings.# "$T/img2.json")" 1 "mappings"
assert_eq "$(json_get Images.0.BlockDeviceMappings.0.Ebs.DeleteOnTermination "$T/img2.json")" false \
    "DeleteOnTermination"

step "reboot (the default): stopped after --stop-timeout (a boot sector ignores the button), started again"
bs create-image --name golden-3 --instance-id "$id" --stop-timeout 2 >"$T/ci3.json"
image_id_of "$T/ci3.json" >/dev/null
inst_wait_state "$id" running
[ "$(inst_qemu_pid "$id")" != "$pid" ] || die "the machine was not restarted"

step "a stopped instance: its volumes snapshotted here, the instance left stopped"
bs stop-instances --instance-ids "$id" --force >/dev/null
inst_wait_state "$id" stopped
bs create-image --name golden-4 --instance-id "$id" >"$T/ci4.json"
bs describe-images --image-ids "$(image_id_of "$T/ci4.json")" >"$T/img4.json"
assert_eq "$(json_get Images.0.State "$T/img4.json")" available "state"
assert_eq "$(inst_state "$id")" stopped "state after"

step "terminated: IncorrectInstanceState"
bs terminate-instances --instance-ids "$id" --stop-timeout 1 >/dev/null
expect_fail IncorrectInstanceState 1 bs create-image --name golden-5 --instance-id "$id"
assert_verify_ok
