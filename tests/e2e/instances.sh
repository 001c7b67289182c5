#!/usr/bin/env bash
# Instances end to end on a boot sector (tests/lib/image-functions.sh: it
# prints a marker to COM1 and halts, so it boots in well under a second and
# ignores the ACPI power button): run-instances from an image (two
# mappings: the root, deleted on termination, and a data volume kept) and
# from a launch template version ($Latest, tags aws:ec2launchtemplate:*),
# the machine's processes on their own, describe-instances and
# describe-volumes (attachments, VolumeInUse), QEMU killed from outside
# read back as stopped, start, reboot (the marker again), stop forced by
# --force and after the power button's timeout, get-launch-template-data
# (a template made of it), terminate (the root
# volume deleted, the data volume detached and kept), --count, a client
# token's repeat, a dry run, and bad inputs refused with EC2's codes and
# nothing left behind.  The Linux guest's own test is instances-guest.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/image-functions.sh
source "$(dirname "$0")/../lib/image-functions.sh"
# shellcheck source=../lib/instance-functions.sh
source "$(dirname "$0")/../lib/instance-functions.sh"
requires python3
# the boot sector halts at once: no need of KVM's speed, nor of its probe
export BLOCKSNAP_ACCEL=tcg

step "an image of a boot sector, a data snapshot, a template"
make_boot_disk "$T/boot.img"
snap=$(snapshot_create "$T/boot.img")
head -c 3M /dev/urandom >"$T/data.img"
dsnap=$(snapshot_create "$T/data.img")
bs register-image --name inst-boot --block-device-mappings \
    "DeviceName=/dev/xvda,Ebs={SnapshotId=$snap}" >"$T/reg.json"
ami=$(image_id_of "$T/reg.json")
bs create-launch-template --launch-template-name web --launch-template-data \
    "{\"ImageId\":\"$ami\",\"InstanceType\":\"t3.nano\",\"KeyName\":\"k1\"}" >/dev/null
bs create-launch-template-version --launch-template-name web --source-version 1 \
    --launch-template-data '{"InstanceType":"t3.micro"}' >/dev/null

step "bad inputs: EC2's codes, nothing made"
store_state >"$T/state.before"
expect_fail InvalidAMIID.NotFound 1 bs run-instances --image-id ami-0123456789abcdef0
expect_fail InvalidAMIID.Malformed 1 bs run-instances --image-id snap-0123456789abcdef0
expect_fail InvalidParameterValue 1 bs run-instances --image-id "$ami" --instance-type x9.huge
stderr_contains x9.huge
expect_fail InvalidLaunchTemplateName.NotFoundException 1 bs run-instances \
    --launch-template LaunchTemplateName=nope
expect_fail InvalidLaunchTemplateId.VersionNotFound 1 bs run-instances \
    --launch-template 'LaunchTemplateName=web,Version=7'
expect_fail InvalidParameterValue 1 bs run-instances --image-id "$ami" --min-count 3 --max-count 2
expect_fail InstanceLimitExceeded 1 bs run-instances --image-id "$ami" --count 21
expect_fail InvalidParameterValue 1 bs run-instances --image-id "$ami" \
    --tag-specifications 'ResourceType=image,Tags=[{Key=a,Value=b}]'
expect_fail InvalidSnapshot.NotFound 1 bs run-instances --image-id "$ami" \
    --block-device-mappings 'DeviceName=/dev/xvdb,Ebs={SnapshotId=snap-0123456789abcdef0}'
expect_fail InvalidParameterValue 1 bs run-instances --image-id "$ami" \
    --block-device-mappings 'DeviceName=/dev/xvda,Ebs={VolumeSize=0}'
expect_fail InvalidBlockDeviceMapping 1 bs run-instances --image-id "$ami" \
    --block-device-mappings 'DeviceName=/dev/xvdc,Ebs={VolumeSize=1}'
expect_fail DryRunOperation 1 bs run-instances --image-id "$ami" --dry-run
expect_fail InvalidInstanceID.NotFound 1 bs describe-instances --instance-ids i-0123456789abcdef0
expect_fail InvalidInstanceID.Malformed 1 bs terminate-instances --instance-ids vol-0123456789abcdef0
expect_fail InvalidInstanceID.NotFound 1 bs get-console-output --instance-id i-0123456789abcdef0
assert_store_unchanged "$T/state.before"
assert_eq "$(bs describe-instances | json_get Reservations.#)" 0 "instances after the refusals"
[ ! -d "$STORE/instances" ] || [ -z "$(ls -A "$STORE/instances")" ] || die "files were left"

step "run-instances from the image: two volumes, the data one kept on termination"
bs run-instances --image-id "$ami" --instance-type t3.nano --key-name k1 \
    --block-device-mappings "DeviceName=/dev/xvdb,Ebs={SnapshotId=$dsnap,DeleteOnTermination=false}" \
    --tag-specifications 'ResourceType=instance,Tags=[{Key=Name,Value=one}]' \
    'ResourceType=volume,Tags=[{Key=team,Value=ops}]' >"$T/run1.json"
id=$(inst_id_of "$T/run1.json")
assert_eq "$(json_get Instances.0.State.Name "$T/run1.json")" pending "state in the answer"
assert_eq "$(json_get Instances.0.BlockDeviceMappings.# "$T/run1.json")" 2 "mappings"
root=$(json_get Instances.0.BlockDeviceMappings.0.Ebs.VolumeId "$T/run1.json")
data=$(json_get Instances.0.BlockDeviceMappings.1.Ebs.VolumeId "$T/run1.json")
inst_wait_state "$id" running
inst_console_wait "$id" "$BOOT_MARKER"
bs describe-instances --instance-ids "$id" >"$T/d1.json"
assert_eq "$(json_get Reservations.0.Instances.0.Tags.0.Value "$T/d1.json")" one "instance tag"
assert_eq "$(json_get Reservations.0.Instances.0.KeyName "$T/d1.json")" k1 "key name"
assert_eq "$(json_get Reservations.0.Instances.0.State.Code "$T/d1.json")" 16 "state code"
bs describe-volumes --volume-ids "$data" >"$T/v1.json"
assert_eq "$(json_get Volumes.0.State "$T/v1.json")" in-use "data volume state"
assert_eq "$(json_get Volumes.0.Attachments.0.InstanceId "$T/v1.json")" "$id" "attachment"
assert_eq "$(json_get Volumes.0.Attachments.0.Device "$T/v1.json")" /dev/xvdb "device"
assert_eq "$(json_get Volumes.0.Attachments.0.DeleteOnTermination "$T/v1.json")" false "DOT"
assert_eq "$(json_get Volumes.0.Tags.0.Value "$T/v1.json")" ops "volume tag"
expect_fail VolumeInUse 1 bs delete-volume --volume-id "$root"
assert_eq "$(bs describe-instances --filters Name=tag:Name,Values=one \
    Name=instance-state-name,Values=running | json_get Reservations.#)" 1 "filters"

info "its launch settings, as a template takes them"
bs get-launch-template-data --instance-id "$id" >"$T/ltd.json"
assert_eq "$(json_get LaunchTemplateData.ImageId "$T/ltd.json")" "$ami" "ImageId"
assert_eq "$(json_get LaunchTemplateData.InstanceType "$T/ltd.json")" t3.nano "InstanceType"
assert_eq "$(json_get LaunchTemplateData.BlockDeviceMappings.1.Ebs.DeleteOnTermination \
    "$T/ltd.json")" false "the data volume's DeleteOnTermination"
assert_eq "$(json_get LaunchTemplateData.TagSpecifications.0.Tags.0.Value "$T/ltd.json")" one "tag"
json_get LaunchTemplateData "$T/ltd.json" >"$T/ltd-data.json"
bs create-launch-template --launch-template-name like-one \
    --launch-template-data "file://$T/ltd-data.json" >/dev/null
bs delete-launch-template --launch-template-name like-one >/dev/null

info "completion offers the instance's id"
"$BLOCKSNAP" __complete --store "$STORE" stop-instances --instance-ids "" >"$T/complete.txt"
grep -qx "$id" "$T/complete.txt" || die "__complete does not offer $id"

step "the machine runs on its own, in its own session"
qpid=$(inst_qemu_pid "$id")
[ "$(ps -o sid= -p "$qpid" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ] ||
    die "QEMU is in the test's session"
[ -S "$STORE/instances/$id/q.sock" ] || die "no QMP socket"

step "QEMU killed from outside: stopped, its servers ended"
kill -KILL "$qpid"
inst_wait_state "$id" stopped
bs describe-instances --instance-ids "$id" >"$T/d2.json"
assert_eq "$(json_get Reservations.0.Instances.0.StateReason.Code "$T/d2.json")" \
    Client.InstanceInitiatedShutdown "reason"
for f in "$STORE/instances/$id"/vol-*.pid; do
    p=$(cat "$f")
    ! pid_alive "$p" || die "the server $p of a stopped instance still runs"
done

step "start again, reboot: the boot sector runs again"
bs start-instances --instance-ids "$id" >"$T/start.json"
assert_eq "$(json_get StartingInstances.0.PreviousState.Name "$T/start.json")" stopped "previous"
inst_wait_state "$id" running
inst_console_wait "$id" "$BOOT_MARKER"
bs reboot-instances --instance-ids "$id" >/dev/null
end=$((SECONDS + 60))
until inst_console "$id" >"$T/con.txt" && [ "$(grep -c "$BOOT_MARKER" "$T/con.txt")" -ge 2 ]; do
    [ "$SECONDS" -lt "$end" ] || die "no second boot after reboot-instances"
    sleep 0.2
done
assert_eq "$(inst_state "$id")" running "after reboot"

step "stop: the power button is ignored, the hard stop after the timeout"
start=$SECONDS
bs stop-instances --instance-ids "$id" --stop-timeout 2 >"$T/stop.json"
assert_eq "$(json_get StoppingInstances.0.CurrentState.Name "$T/stop.json")" stopped "stopped"
assert_le $((SECONDS - start)) 30
assert_eq "$(inst_state "$id")" stopped "after stop"
expect_fail IncorrectInstanceState 1 bs reboot-instances --instance-ids "$id"
bs start-instances --instance-ids "$id" >/dev/null
inst_wait_state "$id" running
bs stop-instances --instance-ids "$id" --force >/dev/null
assert_eq "$(inst_state "$id")" stopped "after a forced stop"

step "terminate: the root volume deleted, the data volume detached and kept"
bs terminate-instances --instance-ids "$id" >"$T/term.json"
assert_eq "$(json_get TerminatingInstances.0.CurrentState.Code "$T/term.json")" 48 "terminated"
expect_fail InvalidVolume.NotFound 1 bs describe-volumes --volume-ids "$root"
bs describe-volumes --volume-ids "$data" >"$T/v2.json"
assert_eq "$(json_get Volumes.0.State "$T/v2.json")" available "kept volume"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["Volumes"][0]; sys.exit("Attachments" in v)' \
    "$T/v2.json" || die "the kept volume is still attached"
assert_eq "$(inst_state "$id")" terminated "listed while terminated"
inst_console "$id" >"$T/con.txt"
grep -q "$BOOT_MARKER" "$T/con.txt" || die "no console after termination"
expect_fail IncorrectInstanceState 1 bs start-instances --instance-ids "$id"
bs delete-volume --volume-id "$data"

step "from the template's \$Latest, two of them, with a client token"
bs run-instances --launch-template 'LaunchTemplateName=web,Version=$Latest' --count 2 \
    --client-token tok-1 >"$T/run2.json"
assert_eq "$(json_get Instances.# "$T/run2.json")" 2 "instances"
assert_eq "$(json_get Instances.0.InstanceType "$T/run2.json")" t3.micro "type of \$Latest"
id2=$(inst_id_of "$T/run2.json")
id3=$(json_get Instances.1.InstanceId "$T/run2.json")
lt=$(bs describe-launch-templates | json_get LaunchTemplates.0.LaunchTemplateId)
bs describe-instances --instance-ids "$id2" --query 'Reservations[0].Instances[0].Tags' \
    --output text >"$T/tags.txt"
grep -q "aws:ec2launchtemplate:id	$lt" "$T/tags.txt" || die "no template id tag: $(cat "$T/tags.txt")"
grep -q "aws:ec2launchtemplate:version	2" "$T/tags.txt" || die "no template version tag"
bs run-instances --launch-template 'LaunchTemplateName=web,Version=$Latest' --count 2 \
    --client-token tok-1 >"$T/run3.json"
assert_eq "$(json_get ReservationId "$T/run3.json")" "$(json_get ReservationId "$T/run2.json")" \
    "the token's repeat"
expect_fail IdempotentParameterMismatch 1 bs run-instances \
    --launch-template 'LaunchTemplateName=web,Version=1' --client-token tok-1
inst_wait_state "$id2" running
inst_wait_state "$id3" running
rid=$(json_get ReservationId "$T/run2.json")
assert_eq "$(bs describe-instances --filters "Name=reservation-id,Values=$rid" |
    json_get Reservations.0.Instances.#)" 2 "one reservation"
bs describe-instances --max-results 5 --filters Name=instance-state-name,Values=running \
    >"$T/page.json"
assert_eq "$(json_get Reservations.0.Instances.# "$T/page.json")" 2 "a page"
bs terminate-instances --instance-ids "$id2" "$id3" --stop-timeout 0 >/dev/null
assert_eq "$(bs describe-instances --filters Name=instance-state-name,Values=terminated |
    python3 -c 'import json,sys; print(sum(len(r["Instances"]) for r in json.load(sys.stdin)["Reservations"]))')" \
    3 "terminated instances listed"
assert_eq "$(bs describe-volumes | json_get Volumes.#)" 2 "volumes left (the two of paths)"
assert_verify_ok
