#!/usr/bin/env bash
# serve-templates: launch templates through the stock aws CLI against
# `blocksnap serve`: create-launch-template with structured data (an image,
# a type, security groups, user data, a block device mapping, tag
# specifications: sent as LaunchTemplateData.* wire parameters), versions
# from a source version, describe-launch-templates and
# describe-launch-template-versions (compared with the blocksnap CLI's
# answers), modify-launch-template's default, delete-launch-template-versions
# and delete-launch-template; errors with EC2's codes.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/image-functions.sh"
source "$(dirname "$0")/../lib/serve-functions.sh"

bs --region "$REGION" create-store >/dev/null
make_boot_disk "$T/boot.img"
root=$(snapshot_create "$T/boot.img")
ami=$(bs register-image --name web --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$root}" | json_get ImageId)
serve_start main

step "create-launch-template with structured data"
data=$(printf '{"ImageId":"%s","InstanceType":"t3.micro","SecurityGroupIds":["sg-1","sg-2"],"UserData":"ZWNobyBoaQ==","BlockDeviceMappings":[{"DeviceName":"/dev/xvda","Ebs":{"VolumeSize":20,"DeleteOnTermination":true}}],"TagSpecifications":[{"ResourceType":"instance","Tags":[{"Key":"a","Value":"b"}]}]}' "$ami")
awsc ec2 create-launch-template --launch-template-name web --version-description v1 \
    --launch-template-data "$data" \
    --tag-specifications 'ResourceType=launch-template,Tags=[{Key=team,Value=web}]' >"$T/a.json"
lt=$(json_get LaunchTemplate.LaunchTemplateId "$T/a.json")
assert_eq "$(json_get LaunchTemplate.LatestVersionNumber "$T/a.json")" 1 "first version"
awsc ec2 describe-launch-template-versions --launch-template-id "$lt" >"$T/a.json"
bs describe-launch-template-versions --launch-template-id "$lt" >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
assert_eq "$(json_get LaunchTemplateVersions.0.LaunchTemplateData.BlockDeviceMappings.0.Ebs.VolumeSize "$T/a.json")" 20 "volume size"
assert_eq "$(json_get LaunchTemplateVersions.0.LaunchTemplateData.SecurityGroupIds.1 "$T/a.json")" sg-2 "security groups"
assert_eq "$(json_get LaunchTemplateVersions.0.LaunchTemplateData.TagSpecifications.0.Tags.0.Value "$T/a.json")" b "tag specification"

step "versions, default, describe"
awsc ec2 create-launch-template-version --launch-template-name web --source-version 1 \
    --version-description v2 --launch-template-data '{"InstanceType":"t3.large"}' >"$T/a.json"
assert_eq "$(json_get LaunchTemplateVersion.VersionNumber "$T/a.json")" 2 "second version"
assert_eq "$(json_get LaunchTemplateVersion.LaunchTemplateData.ImageId "$T/a.json")" "$ami" "from the source version"
awsc ec2 modify-launch-template --launch-template-id "$lt" --default-version 2 >"$T/a.json"
assert_eq "$(json_get LaunchTemplate.DefaultVersionNumber "$T/a.json")" 2 "default"
awsc ec2 describe-launch-templates >"$T/a.json"
bs describe-launch-templates >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"
awsc ec2 describe-launch-templates --launch-template-names web >"$T/a.json"
assert_eq "$(json_get LaunchTemplates.0.LaunchTemplateId "$T/a.json")" "$lt" "by name"
awsc ec2 describe-launch-template-versions --launch-template-id "$lt" --versions '$Latest' 1 >"$T/a.json"
bs describe-launch-template-versions --launch-template-id "$lt" --versions '$Latest' 1 >"$T/b.json"
same_doc "$T/a.json" "$T/b.json"

step "errors"
aws_fail InvalidLaunchTemplateName.AlreadyExistsException awsc ec2 create-launch-template \
    --launch-template-name web --launch-template-data '{"InstanceType":"t3.micro"}'
aws_fail InvalidAMIID.NotFound awsc ec2 create-launch-template --launch-template-name xyz \
    --launch-template-data '{"ImageId":"ami-0123456789abcdef0"}'
aws_fail InvalidLaunchTemplateId.NotFound awsc ec2 describe-launch-templates \
    --launch-template-ids lt-0123456789abcdef0

step "delete versions, then the template"
awsc ec2 modify-launch-template --launch-template-id "$lt" --default-version 1 >/dev/null
awsc ec2 delete-launch-template-versions --launch-template-id "$lt" --versions 2 >"$T/a.json"
assert_eq "$(json_get SuccessfullyDeletedLaunchTemplateVersions.0.VersionNumber "$T/a.json")" 2 "version deleted"
awsc ec2 delete-launch-template --launch-template-id "$lt" >"$T/a.json"
assert_eq "$(json_get LaunchTemplate.LaunchTemplateId "$T/a.json")" "$lt" "deleted"
awsc ec2 describe-launch-templates >"$T/a.json"
assert_eq "$(json_get LaunchTemplates.# "$T/a.json")" 0 "no template left"
serve_stop
assert_eq "$SERVE_RC" 0 "serve's exit status"
