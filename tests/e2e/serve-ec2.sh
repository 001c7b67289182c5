#!/usr/bin/env bash
# serve-ec2: the stock aws CLI (Debian's awscli) drives `blocksnap serve`
# for every served EC2 action of the snapshot, volume, image and tag
# families, and each answer holds what the blocksnap CLI says for the same
# store (timestamps compared as instants; blocksnap's extensions may be
# missing from the aws CLI's parse of EC2's model): describe-snapshots
# (ids, owners, filters, pages), create-snapshot of a recorded volume,
# copy-snapshot, snapshot attributes and sharing (seen by the other
# account), create-volume from a snapshot, describe/delete-volumes,
# register/describe/copy/deregister-image, image attributes, create/delete
# tags; errors come back as EC2's codes with exit 254 and change nothing.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/image-functions.sh"
source "$(dirname "$0")/../lib/serve-functions.sh"

step "a store in $REGION with a boot disk's and a data disk's snapshots"
bs --region "$REGION" create-store >/dev/null
make_boot_disk "$T/boot.img"
head -c $((3 << 20)) /dev/urandom >"$T/data.img"
root=$(snapshot_create "$T/boot.img")
data=$(snapshot_create "$T/data.img")
serve_start main

step "describe-snapshots: all, by id, by owner, by filter"
awsc ec2 describe-snapshots >"$T/a.json"
bs describe-snapshots >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
assert_eq "$(json_get Snapshots.# "$T/a.json")" 2 "snapshots listed"
awsc ec2 describe-snapshots --snapshot-ids "$data" >"$T/a.json"
bs describe-snapshots --snapshot-ids "$data" >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
awsc ec2 describe-snapshots --owner-ids self --filters "Name=snapshot-id,Values=$root" >"$T/a.json"
assert_eq "$(json_get Snapshots.0.SnapshotId "$T/a.json")" "$root" "owner self and a filter"
awsc ec2 describe-snapshots --owner-ids "$OTHER" >"$T/a.json"
assert_eq "$(json_get Snapshots.# "$T/a.json")" 0 "another owner's: none"
aws_fail InvalidSnapshot.NotFound awsc ec2 describe-snapshots --snapshot-ids snap-0123456789abcdef0
aws_fail InvalidSnapshotID.Malformed awsc ec2 describe-snapshots --snapshot-ids vol-0123456789abcdef0
aws_fail InvalidParameterValue awsc ec2 describe-snapshots --filters Name=no-such-filter,Values=x

step "create-snapshot of a recorded volume, with tags"
vol=$(bs describe-snapshots --snapshot-ids "$data" | json_get Snapshots.0.VolumeId)
head -c 65536 /dev/urandom | dd of="$T/data.img" bs=65536 seek=7 conv=notrunc status=none
awsc ec2 create-snapshot --volume-id "$vol" --description "from the API" \
    --tag-specifications 'ResourceType=snapshot,Tags=[{Key=env,Value=prod}]' >"$T/a.json"
snap=$(json_get SnapshotId "$T/a.json")
bs describe-snapshots --snapshot-ids "$snap" | json_get Snapshots.0 >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
assert_eq "$(json_get State "$T/a.json")" completed "state"
assert_eq "$(json_get Tags.0.Value "$T/a.json")" prod "tag"
restore "$snap" "$T/restored.img"
cmp "$T/data.img" "$T/restored.img" || die "the API's snapshot does not restore the volume"
aws_fail InvalidParameterValue awsc ec2 create-snapshot --volume-id "$vol" \
    --tag-specifications 'ResourceType=image,Tags=[{Key=a,Value=b}]'
aws_fail InvalidVolume.NotFound awsc ec2 create-snapshot --volume-id vol-0123456789abcdef0

step "pages: --page-size walks NextToken, each snapshot once"
for i in 1 2 3 4 5 6; do bs create-snapshot --volume "$T/data.img" --full --quiet >/dev/null; done
awsc ec2 describe-snapshots --page-size 5 >"$T/a.json"
bs describe-snapshots >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
awsc ec2 describe-snapshots --max-items 4 >"$T/p1.json"
tok=$(json_get NextToken "$T/p1.json")
awsc ec2 describe-snapshots --max-items 100 --starting-token "$tok" >"$T/p2.json"
python3 - "$T/p1.json" "$T/p2.json" "$T/b.json" <<'PY' || die "pages do not list every snapshot once"
import json, sys
p1, p2, b = (json.load(open(f)) for f in sys.argv[1:])
ids = [s["SnapshotId"] for s in p1["Snapshots"] + p2["Snapshots"]]
want = sorted(s["SnapshotId"] for s in b["Snapshots"])
assert len(ids) == len(set(ids)) and sorted(ids) == want, (ids, want)
PY
aws_fail InvalidParameterValue awsc ec2 describe-snapshots --max-results 3

step "copy-snapshot in the region"
awsc ec2 copy-snapshot --source-region "$REGION" --source-snapshot-id "$root" \
    --description copied >"$T/a.json"
copy=$(json_get SnapshotId "$T/a.json")
assert_eq "$(bs describe-snapshots --snapshot-ids "$copy" | json_get Snapshots.0.Description)" \
    copied "the copy's description"
aws_fail InvalidRegion awsc ec2 copy-snapshot --source-region eu-west-9 --source-snapshot-id "$root"

step "snapshot attributes: share with the other account, describe, reset"
awsc ec2 modify-snapshot-attribute --snapshot-id "$copy" --attribute createVolumePermission \
    --operation-type add --user-ids "$OTHER"
awsc ec2 describe-snapshot-attribute --snapshot-id "$copy" --attribute createVolumePermission >"$T/a.json"
bs describe-snapshot-attribute --snapshot-id "$copy" --attribute createVolumePermission >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
assert_eq "$(json_get CreateVolumePermissions.0.UserId "$T/a.json")" "$OTHER" "shared with"
awsc --profile other ec2 describe-snapshots --snapshot-ids "$copy" >"$T/a.json"
assert_eq "$(json_get Snapshots.0.OwnerId "$T/a.json")" "$OWNER" "the other account sees it"
aws_fail InvalidSnapshot.NotFound awsc --profile other ec2 describe-snapshots --snapshot-ids "$root"
aws_fail UnauthorizedOperation awsc --profile other ec2 delete-snapshot --snapshot-id "$copy"
awsc ec2 modify-snapshot-attribute --snapshot-id "$copy" \
    --create-volume-permission "Add=[{Group=all}]"
awsc ec2 reset-snapshot-attribute --snapshot-id "$copy" --attribute createVolumePermission
awsc ec2 describe-snapshot-attribute --snapshot-id "$copy" --attribute createVolumePermission >"$T/a.json"
assert_eq "$(json_get CreateVolumePermissions.# "$T/a.json")" 0 "private again"

step "volumes: create-volume from a snapshot, describe, delete"
awsc ec2 create-volume --availability-zone "${REGION}a" --snapshot-id "$data" \
    --volume-type gp3 --tag-specifications 'ResourceType=volume,Tags=[{Key=Name,Value=scratch}]' >"$T/a.json"
newvol=$(json_get VolumeId "$T/a.json")
assert_eq "$(json_get State "$T/a.json")" available "new volume's state"
awsc ec2 describe-volumes >"$T/a.json"
bs describe-volumes >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
awsc ec2 describe-volumes --volume-ids "$newvol" >"$T/a.json"
assert_eq "$(json_get Volumes.0.Tags.0.Value "$T/a.json")" scratch "volume tag"
awsc ec2 delete-volume --volume-id "$newvol"
aws_fail InvalidVolume.NotFound awsc ec2 describe-volumes --volume-ids "$newvol"

step "images: register, describe, attributes, copy, deregister"
awsc ec2 register-image --name web-1 --description "a web server" --architecture x86_64 \
    --root-device-name /dev/xvda --virtualization-type hvm \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$root}" \
    "DeviceName=/dev/xvdb,Ebs={SnapshotId=$data,VolumeSize=8,DeleteOnTermination=false}" >"$T/a.json"
ami=$(json_get ImageId "$T/a.json")
awsc ec2 describe-images --owners self >"$T/a.json"
bs describe-images --owners self >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
assert_eq "$(json_get Images.0.State "$T/a.json")" available "image state"
assert_eq "$(json_get Images.0.OwnerId "$T/a.json")" "$OWNER" "image owner"
assert_eq "$(json_get Images.0.BlockDeviceMappings.# "$T/a.json")" 2 "mappings"
awsc ec2 describe-images --filters Name=name,Values='web-*' >"$T/a.json"
assert_eq "$(json_get Images.0.ImageId "$T/a.json")" "$ami" "name filter"
aws_fail InvalidAMIName.Duplicate awsc ec2 register-image --name web-1 \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$root}"
aws_fail InvalidAMIID.NotFound awsc ec2 describe-images --image-ids ami-0123456789abcdef0
awsc ec2 modify-image-attribute --image-id "$ami" --description Value=renamed
awsc ec2 describe-image-attribute --image-id "$ami" --attribute description >"$T/a.json"
bs describe-image-attribute --image-id "$ami" --attribute description >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
assert_eq "$(json_get Description.Value "$T/a.json")" renamed "description"
awsc ec2 modify-image-attribute --image-id "$ami" --launch-permission "Add=[{UserId=$OTHER}]"
awsc ec2 describe-image-attribute --image-id "$ami" --attribute launchPermission >"$T/a.json"
assert_eq "$(json_get LaunchPermissions.0.UserId "$T/a.json")" "$OTHER" "launch permission"
awsc --profile other ec2 describe-images --image-ids "$ami" >"$T/a.json"
assert_eq "$(json_get Images.0.ImageId "$T/a.json")" "$ami" "shared image seen"
awsc ec2 reset-image-attribute --image-id "$ami" --attribute launchPermission
aws_fail InvalidAMIID.NotFound awsc --profile other ec2 describe-images --image-ids "$ami"
awsc ec2 copy-image --source-region "$REGION" --source-image-id "$ami" --name web-1-copy >"$T/a.json"
ami2=$(json_get ImageId "$T/a.json")
awsc ec2 wait image-available --image-ids "$ami2"
awsc ec2 describe-images --image-ids "$ami2" >"$T/a.json"
bs describe-images --image-ids "$ami2" >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
awsc ec2 deregister-image --image-id "$ami2"
aws_fail InvalidAMIID.Unavailable awsc ec2 deregister-image --image-id "$ami2"

step "tags"
awsc ec2 create-tags --resources "$root" "$ami" --tags Key=team,Value=web Key=tier
awsc ec2 describe-snapshots --filters Name=tag:team,Values=web >"$T/a.json"
assert_eq "$(json_get Snapshots.0.SnapshotId "$T/a.json")" "$root" "tag filter"
bs describe-images --image-ids "$ami" >"$T/b.json"
awsc ec2 describe-images --image-ids "$ami" >"$T/a.json"
same_doc "$T/a.json" "$T/b.json"
awsc ec2 delete-tags --resources "$root" --tags Key=team
awsc ec2 describe-snapshots --filters Name=tag-key,Values=team >"$T/a.json"
assert_eq "$(json_get Snapshots.# "$T/a.json")" 0 "tag deleted"
aws_fail InvalidSnapshot.NotFound awsc ec2 create-tags --resources snap-0123456789abcdef0 --tags Key=a,Value=b

step "errors change nothing; dry runs change nothing"
store_state >"$T/state.before"
aws_fail InvalidSnapshot.InUse awsc ec2 delete-snapshot --snapshot-id "$root"
aws_fail DryRunOperation awsc ec2 delete-snapshot --snapshot-id "$snap" --dry-run
aws_fail DryRunOperation awsc ec2 create-tags --resources "$data" --tags Key=a,Value=b --dry-run
aws_fail InvalidSnapshot.NotFound awsc ec2 delete-snapshot --snapshot-id snap-0123456789abcdef0 --dry-run
assert_store_unchanged "$T/state.before"
awsc ec2 deregister-image --image-id "$ami"
awsc ec2 describe-images --image-ids "$ami" >"$T/a.json"
assert_eq "$(json_get Images.# "$T/a.json")" 0 "a deregistered image is left out"
awsc ec2 delete-snapshot --snapshot-id "$copy"
aws_fail InvalidSnapshot.NotFound awsc ec2 describe-snapshots --snapshot-ids "$copy"

step "the server stops cleanly"
serve_stop
assert_eq "$SERVE_RC" 0 "serve's exit status"
assert_verify_ok
