#!/usr/bin/env bash
# image-describe: describe-images by id (Malformed / NotFound naming every
# missing id), owners, name wildcards, state, tags and mapping filters;
# create-tags / delete-tags on ami- ids; describe/modify-image-attribute;
# delete-snapshot refused while an image maps the snapshot
# (InvalidSnapshot.InUse); deregister-image keeps the snapshots (or deletes
# them with --delete-associated-snapshots, skipping those another image
# uses); a second deregister is InvalidAMIID.Unavailable.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/image-functions.sh
source "$(dirname "$0")/../lib/image-functions.sh"
requires python3

make_boot_disk "$T/boot.img"
head -c $((2 << 20)) /dev/urandom >"$T/data.img"
root=$(snapshot_create "$T/boot.img")
data=$(snapshot_create "$T/data.img")
reg() { # NAME ARGS...: register, print the id
    local name=$1
    shift
    bs register-image --name "$name" "$@" >"$T/reg.json"
    image_id_of "$T/reg.json"
}
web1=$(reg web-2026-11 --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$root}" \
    "DeviceName=/dev/xvdb,Ebs={SnapshotId=$data,VolumeSize=8,DeleteOnTermination=false}" \
    --tags Key=env,Value=prod --description "web server")
web2=$(reg web-2026-12 --block-device-mappings "[{\"DeviceName\":\"/dev/xvda\",\"Ebs\":{\"SnapshotId\":\"$root\"}}]" \
    --ena-support)
db=$(reg 'db (primary)/v1' --block-device-mappings "DeviceName=/dev/sda1,Ebs={SnapshotId=$root}" \
    --architecture x86_64)
ids() { python3 -c 'import json,sys; print(" ".join(sorted(i["ImageId"] for i in json.load(sys.stdin)["Images"])))'; }
sorted() { printf '%s\n' "$@" | sort | xargs; }

step "ids"
assert_eq "$(bs describe-images | ids)" "$(sorted "$web1" "$web2" "$db")" "all images"
assert_eq "$(bs describe-images --image-ids "$web2" | ids)" "$web2" "by id"
expect_fail InvalidAMIID.Malformed 1 bs describe-images --image-ids "$web1" snap-0123456789abcdef0 ami-xyz
stderr_contains snap-0123456789abcdef0
expect_fail InvalidAMIID.NotFound 1 bs describe-images --image-ids "$web1" ami-0123456789abcdef0 ami-01234567
stderr_contains "ami-0123456789abcdef0, ami-01234567" "do not exist"

step "owners"
assert_eq "$(bs describe-images --owners self | ids)" "$(sorted "$web1" "$web2" "$db")" "self"
assert_eq "$(bs describe-images --owners 123456789012 | ids)" "$(sorted "$web1" "$web2" "$db")" "own account"
assert_eq "$(bs describe-images --owners amazon | ids)" "" "amazon"
expect_fail InvalidUserID.Malformed 1 bs describe-images --owners someone

step "filters"
assert_eq "$(bs describe-images --filters 'Name=name,Values=web-*' | ids)" "$(sorted "$web1" "$web2")" "name wildcard"
assert_eq "$(bs describe-images --filters 'Name=name,Values=db (primary)/v1' | ids)" "$db" "name with specials"
assert_eq "$(bs describe-images --filters Name=tag:env,Values=prod | ids)" "$web1" "tag"
assert_eq "$(bs describe-images --filters Name=tag-key,Values=env | ids)" "$web1" "tag-key"
assert_eq "$(bs describe-images --filters Name=state,Values=available Name=ena-support,Values=true | ids)" "$web2" "ena"
assert_eq "$(bs describe-images --filters Name=block-device-mapping.snapshot-id,Values="$data" | ids)" "$web1" "bdm snapshot"
assert_eq "$(bs describe-images --filters Name=block-device-mapping.device-name,Values=/dev/sda1 | ids)" "$db" "bdm device"
assert_eq "$(bs describe-images --filters Name=block-device-mapping.volume-size,Values=8 | ids)" "$web1" "bdm size"
assert_eq "$(bs describe-images --filters Name=boot-mode,Values=legacy-bios Name=name,Values='web-2026-1?' | ids)" \
    "$(sorted "$web1" "$web2")" "boot mode"
expect_fail InvalidParameterValue 1 bs describe-images --filters Name=colour,Values=red
bs describe-images --image-ids "$web1" >"$T/w1.json"
assert_eq "$(json_get Images.0.BlockDeviceMappings.1.Ebs.DeleteOnTermination "$T/w1.json")" false "DeleteOnTermination"
assert_eq "$(json_get Images.0.Description "$T/w1.json")" "web server" "description"
bs describe-images --image-ids "$web2" >"$T/w2.json"
python3 -c 'import json, sys; assert "Description" not in json.load(open(sys.argv[1]))["Images"][0]' \
    "$T/w2.json" || die "an image without a description shows a Description key"
expect_fail InvalidParameterValue 2 bs describe-images --filters Name=name
stderr_contains "Name=name" "no Values"
bs describe-images --output text >"$T/text.out"
grep -q "^IMAGES" "$T/text.out" || die "text output"

step "tags on images"
bs create-tags --resources "$web2" "$root" --tags Key=team,Value=ops
assert_eq "$(bs describe-images --filters Name=tag:team,Values=ops | ids)" "$web2" "tag added"
assert_eq "$(bs describe-snapshots --filters Name=tag:team,Values=ops | json_get Snapshots.0.SnapshotId)" "$root" "snapshot tag"
bs delete-tags --resources "$web2" --tags Key=team
assert_eq "$(bs describe-images --filters Name=tag-key,Values=team | ids)" "" "tag removed"
image_state >"$T/state.before"
expect_fail InvalidAMIID.NotFound 1 bs create-tags --resources "$web1" ami-0123456789abcdef0 --tags Key=a,Value=b
expect_fail InvalidAMIID.Malformed 1 bs create-tags --resources ami-nothex --tags Key=a,Value=b
[ "$(bs describe-images --filters Name=tag-key,Values=a | ids)" = "" ] || die "a failed create-tags tagged"
assert_images_unchanged "$T/state.before"

step "attributes"
bs describe-image-attribute --image-id "$web1" --attribute description >"$T/a.json"
assert_eq "$(json_get Description.Value "$T/a.json")" "web server" "description attribute"
bs describe-image-attribute --image-id "$web1" --attribute bootMode | json_get BootMode.Value >"$T/bm"
assert_eq "$(cat "$T/bm")" legacy-bios "bootMode attribute"
assert_eq "$(bs describe-image-attribute --image-id "$web1" --attribute launchPermission | json_get LaunchPermissions.#)" 0 "private"
bs modify-image-attribute --image-id "$web1" --description "Value=web server, v2"
assert_eq "$(bs describe-images --image-ids "$web1" | json_get Images.0.Description)" "web server, v2" "modified"
bs modify-image-attribute --image-id "$web1" --attribute description --value "v3"
assert_eq "$(bs describe-image-attribute --image-id "$web1" --attribute description | json_get Description.Value)" v3 "modified again"
expect_fail InvalidRequest 1 bs describe-image-attribute --image-id "$web1" --attribute colour
expect_fail AuthFailure 1 bs describe-image-attribute --image-id "$web1" --attribute blockDeviceMapping
expect_fail InvalidAMIID.NotFound 1 bs modify-image-attribute --image-id ami-0123456789abcdef0 --description x
expect_fail InvalidParameterValue 2 bs modify-image-attribute --image-id "$web1" \
    --description "$(printf 'd%.0s' $(seq 1 256))"
expect_fail MissingParameter 2 bs modify-image-attribute --image-id "$web1"

step "snapshots in use cannot be deleted"
image_state >"$T/state.before"
expect_fail InvalidSnapshot.InUse 1 bs delete-snapshot --snapshot-id "$data"
stderr_contains "$data" "$web1"
expect_fail InvalidSnapshot.InUse 1 bs delete-snapshot --snapshot-id "$root"
assert_images_unchanged "$T/state.before"

step "deregister keeps the snapshots; a second deregister is Unavailable"
bs deregister-image --image-id "$web2" >"$T/dereg.out"
# EC2's DeregisterImage shape, with or without the flag
python3 - "$T/dereg.out" <<'PY' || die "deregister-image did not print {\"Return\": true}"
import json, sys
assert json.load(open(sys.argv[1])) == {"Return": True}
PY
assert_eq "$(bs describe-images --image-ids "$web2" | ids)" "" "deregistered image is left out"
expect_fail InvalidAMIID.Unavailable 1 bs deregister-image --image-id "$web2"
expect_fail InvalidAMIID.Unavailable 1 bs modify-image-attribute --image-id "$web2" --description x
expect_fail InvalidAMIID.NotFound 1 bs deregister-image --image-id ami-0123456789abcdef0
expect_fail InvalidAMIID.Malformed 1 bs deregister-image --image-id img-1
bs describe-snapshots --snapshot-ids "$root" >/dev/null
# the name is free again
web2b=$(reg web-2026-12 --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$root}")
bs deregister-image --image-id "$web2b"

step "deregister --delete-associated-snapshots skips snapshots another image uses"
bs deregister-image --image-id "$web1" --delete-associated-snapshots >"$T/del.json"
python3 - "$T/del.json" "$root" "$data" <<'PY' || die "DeleteSnapshotResults"
import json, sys
d = json.load(open(sys.argv[1]))
res = {r["SnapshotId"]: r["ReturnCode"] for r in d["DeleteSnapshotResults"]}
assert d["Return"] is True
assert res == {sys.argv[2]: "skipped", sys.argv[3]: "success"}, res
PY
expect_fail InvalidSnapshot.NotFound 1 bs describe-snapshots --snapshot-ids "$data"
expect_fail InvalidSnapshot.InUse 1 bs delete-snapshot --snapshot-id "$root"
bs deregister-image --image-id "$db"
bs delete-snapshot --snapshot-id "$root"
assert_eq "$(bs describe-images | ids)" "" "no images left"
assert_verify_ok
