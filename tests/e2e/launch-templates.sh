#!/usr/bin/env bash
# Launch templates end to end: a template with three versions (the second
# inherits from the first with an override, the third stands alone), the
# default moved to 2, describe with '$Latest' '$Default', the deletion rules
# (the default version stays, deleted numbers are not given again), a
# template naming another account's unshared image refused and accepted
# once the image is shared (launch permission), another account's template
# not found, deleting a template removes every version, and a kill -9 at
# each commit of create-launch-template leaves the template whole or
# nothing.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

unset BLOCKSNAP_STORE
B=$BLOCKSNAP
OWNER=123456789012
OTHER=111122223333
account_profiles $OWNER ops=$OTHER
STORE=$XDG_DATA_HOME/blocksnap/local

# versions ARGS...: describe-launch-template-versions as "N:TYPE[*]" words
# (* the default), in the order listed.
versions() {
    bs describe-launch-template-versions "$@" | python3 -c '
import json, sys
print(" ".join("%d:%s%s" % (v["VersionNumber"], v["LaunchTemplateData"].get("InstanceType", "-"),
                            "*" if v["DefaultVersion"] else "")
               for v in json.load(sys.stdin)["LaunchTemplateVersions"]))'
}
# templates [--profile P]: the names describe-launch-templates lists.
templates() {
    "$B" describe-launch-templates "$@" | python3 -c '
import json, sys
print(" ".join(t["LaunchTemplateName"] for t in json.load(sys.stdin)["LaunchTemplates"]))'
}

step "an image of a 3 MiB volume"
head -c $((3 << 20)) /dev/urandom >"$T/root.img"
S=$(snapshot_create "$T/root.img")
A=$(bs register-image --name web --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$S}" | json_get ImageId)
UD=$(printf '#!/bin/sh\necho hello\n' | base64 -w0)

step "create: version 1 is the default and the latest"
cat >"$T/v1.json" <<JSON
{"ImageId": "$A", "InstanceType": "t3.micro", "KeyName": "k", "UserData": "$UD",
 "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 2}}],
 "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"}]}]}
JSON
bs create-launch-template --launch-template-name web --version-description v1 \
    --launch-template-data "file://$T/v1.json" --tags Key=team,Value=ops >"$T/lt.json"
LT=$(json_get LaunchTemplate.LaunchTemplateId "$T/lt.json")
[[ $LT =~ ^lt-[0-9a-f]{17}$ ]] || die "bad template id $LT"
assert_eq "$(json_get LaunchTemplate.DefaultVersionNumber "$T/lt.json")" 1 "default"
assert_eq "$(json_get LaunchTemplate.LatestVersionNumber "$T/lt.json")" 1 "latest"
assert_eq "$(json_get LaunchTemplate.CreatedBy "$T/lt.json")" "arn:aws:iam::$OWNER:root" "by"
assert_eq "$(json_get LaunchTemplate.Tags.0.Value "$T/lt.json")" ops "tag"

step "version 2 inherits 1 with an override; version 3 stands alone"
bs create-launch-template-version --launch-template-name web --source-version 1 \
    --version-description v2 --launch-template-data '{"InstanceType":"t3.small"}' >"$T/v2.json"
assert_eq "$(json_get LaunchTemplateVersion.VersionNumber "$T/v2.json")" 2 "number"
assert_eq "$(json_get LaunchTemplateVersion.DefaultVersion "$T/v2.json")" false "not default"
assert_eq "$(json_get LaunchTemplateVersion.LaunchTemplateData.KeyName "$T/v2.json")" k "inherited"
assert_eq "$(json_get LaunchTemplateVersion.LaunchTemplateData.UserData "$T/v2.json")" "$UD" \
    "inherited user data"
bs create-launch-template-version --launch-template-id "$LT" \
    --launch-template-data '{"InstanceType":"m5.large"}' >"$T/v3.json"
assert_eq "$(json_get LaunchTemplateVersion.LaunchTemplateData "$T/v3.json")" \
    '{"InstanceType": "m5.large"}' "only what it was given"
assert_eq "$(versions --launch-template-name web)" "1:t3.micro* 2:t3.small 3:m5.large" "all"

step "the default moves to 2; \$Latest and \$Default"
bs modify-launch-template --launch-template-name web --default-version 2 >"$T/mod.json"
assert_eq "$(json_get LaunchTemplate.DefaultVersionNumber "$T/mod.json")" 2 "moved"
assert_eq "$(versions --launch-template-name web --versions '$Latest' '$Default')" \
    "2:t3.small* 3:m5.large" "latest and default (by number)"
assert_eq "$(versions --versions '$Default')" "2:t3.small*" "every template's default"
assert_eq "$(versions --launch-template-id "$LT" --min-version 2 --max-version 2)" "2:t3.small*" \
    "range"
assert_eq "$(versions --launch-template-id "$LT" --filters Name=instance-type,Values='t3.*')" \
    "1:t3.micro 2:t3.small*" "filter"
bs describe-launch-templates --output text >"$T/lt.txt"
grep -q "^LAUNCHTEMPLATES.*2	3	$LT	web$" "$T/lt.txt" || die "text output: $(cat "$T/lt.txt")"
expect_fail InvalidLaunchTemplateId.VersionNotFound 1 \
    bs modify-launch-template --launch-template-name web --default-version 7

step "deletion rules: the default stays, numbers are not reused"
rc=0
bs delete-launch-template-versions --launch-template-name web --versions 2 3 >"$T/del.json" || rc=$?
assert_eq "$rc" 1 "a version not deleted fails the command"
assert_eq "$(json_get SuccessfullyDeletedLaunchTemplateVersions.0.VersionNumber "$T/del.json")" 3 \
    "3 deleted"
assert_eq "$(json_get UnsuccessfullyDeletedLaunchTemplateVersions.0.ResponseError.Code \
    "$T/del.json")" unexpectedError "the default refused"
bs create-launch-template-version --launch-template-name web \
    --launch-template-data '{"InstanceType":"c5.large"}' | json_get LaunchTemplateVersion.VersionNumber \
    >"$T/n"
assert_eq "$(cat "$T/n")" 4 "the next number"
assert_eq "$(versions --launch-template-name web)" "1:t3.micro 2:t3.small* 4:c5.large" "left"

step "each bad field: its code, exit 1, nothing written"
truncate -s 1536M "$T/big.img" # sparse: 1.5 GiB needs a 2 GiB volume
printf 'data' | dd of="$T/big.img" bs=1M seek=1000 conv=notrunc status=none
BIG=$(snapshot_create "$T/big.img")
bs describe-launch-template-versions --launch-template-name web >"$T/before.json"
for bad in \
    "InvalidParameterValue|{\"InstanceType\":\"t3.gigantic\"}" \
    "UnknownParameter|{\"Bogus\":true}" \
    "InvalidUserData.Malformed|{\"UserData\":\"#!/bin/sh\"}" \
    "InvalidAMIID.NotFound|{\"ImageId\":\"ami-0123456789abcdef0\"}" \
    "InvalidBlockDeviceMapping|{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/sdz9\"}]}" \
    "InvalidParameterValue|{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":{\"VolumeSize\":0}}]}" \
    "InvalidBlockDeviceMapping|{\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvdb\",\"Ebs\":{\"SnapshotId\":\"$BIG\",\"VolumeSize\":1}}]}"; do
    expect_fail "${bad%%|*}" 1 bs create-launch-template-version --launch-template-name web \
        --launch-template-data "${bad#*|}"
done
bs describe-launch-template-versions --launch-template-name web >"$T/after.json"
cmp -s "$T/before.json" "$T/after.json" || die "a refused version changed the template"

step "another account: the template is not found, the unshared image refused"
assert_eq "$(templates --profile ops)" "" "ops sees no template"
expect_fail InvalidLaunchTemplateId.NotFound 1 "$B" --profile ops describe-launch-templates \
    --launch-template-ids "$LT"
expect_fail InvalidLaunchTemplateName.NotFoundException 1 "$B" --profile ops \
    delete-launch-template --launch-template-name web
expect_fail InvalidAMIID.NotFound 1 "$B" --profile ops create-launch-template \
    --launch-template-name app --launch-template-data "{\"ImageId\":\"$A\"}"
assert_eq "$(templates --profile ops)" "" "nothing made"

step "shared by launch permission, the image is accepted"
"$B" modify-image-attribute --image-id "$A" --launch-permission "Add=[{UserId=$OTHER}]"
"$B" --profile ops create-launch-template --launch-template-name web \
    --launch-template-data "{\"ImageId\":\"$A\",\"InstanceType\":\"t4g.small\"}" >"$T/ops.json"
assert_eq "$(json_get LaunchTemplate.CreatedBy "$T/ops.json")" "arn:aws:iam::$OTHER:root" "by"
assert_eq "$(templates --profile ops)" web "ops has its own web"
assert_eq "$(templates)" web "and the owner its own"

step "verify --repair keeps the templates and their versions"
bs verify --repair >"$T/repair.out" || die "repair failed: $(cat "$T/repair.out")"
assert_eq "$(templates)" web "the template is kept"
assert_eq "$(versions --launch-template-name web)" "1:t3.micro 2:t3.small* 4:c5.large" \
    "its versions are kept"
assert_eq "$(templates --profile ops)" web "another account's too"

step "delete-launch-template removes every version and frees the name"
bs delete-launch-template --launch-template-id "$LT" | json_get LaunchTemplate.LaunchTemplateName \
    >"$T/n"
assert_eq "$(cat "$T/n")" web "deleted"
expect_fail InvalidLaunchTemplateId.NotFound 1 bs describe-launch-template-versions \
    --launch-template-id "$LT"
assert_eq "$(versions --versions '$Latest' '$Default')" "" "no versions left"
bs create-launch-template --launch-template-name web --launch-template-data '{}' >/dev/null
bs delete-launch-template --launch-template-name web >/dev/null

if has_faults; then
    step "kill -9 at each commit of create-launch-template: whole or nothing"
    for n in 1 2; do
        rc=0
        BLOCKSNAP_FAULT=meta-commit:$n:kill bs create-launch-template --launch-template-name \
            crash --launch-template-data "file://$T/v1.json" >/dev/null 2>&1 || rc=$?
        got=$(templates)
        if [ "$got" = crash ]; then
            info "kill at commit $n (exit $rc): the template is whole"
            assert_eq "$(versions --launch-template-name crash --versions '$Latest' '$Default')" \
                "1:t3.micro*" "version 1 is there"
            bs delete-launch-template --launch-template-name crash >/dev/null
        else
            info "kill at commit $n (exit $rc): nothing"
            assert_eq "$got" "" "no template"
            assert_eq "$rc" 137 "killed"
        fi
    done
    assert_verify_ok
fi
echo "launch-templates: ok"
