#!/usr/bin/env bash
# serve-boto3: boto3 (Debian's python3-boto3) against `blocksnap serve`:
# its paginators walk describe-snapshots, -volumes and -images page by page
# (PageSize 5 over 23 snapshots: every one once, in id order, the same set
# as the blocksnap CLI lists), and its waiters snapshot_completed and
# image_available return for a copy and a registered image.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/image-functions.sh"
source "$(dirname "$0")/../lib/serve-functions.sh"

step "23 snapshots, 3 volumes, an image"
bs --region "$REGION" create-store >/dev/null
make_boot_disk "$T/boot.img"
root=$(snapshot_create "$T/boot.img")
for v in a b; do
    head -c $((1 << 20)) /dev/urandom >"$T/$v.img"
    for i in $(seq 11); do
        head -c 4096 /dev/urandom | dd of="$T/$v.img" bs=4096 seek="$i" conv=notrunc status=none
        bs create-snapshot --volume "$T/$v.img" --quiet >/dev/null
    done
done
bs register-image --name boot-1 --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$root}" >/dev/null
bs describe-snapshots >"$T/snaps.json"
bs describe-volumes >"$T/vols.json"
serve_start main

step "paginators and waiters"
"$PY3" - "$ENDPOINT" "$T/snaps.json" "$T/vols.json" "$root" <<'PY' || die "boto3 failed"
import json, sys, boto3
endpoint, snaps, vols, root = sys.argv[1:5]
ec2 = boto3.session.Session(aws_access_key_id="AKIAOWNEREXAMPLE",
                            aws_secret_access_key="owner/Secret+Key0123456789EXAMPLE",
                            region_name="us-east-1").client("ec2", endpoint_url=endpoint)
want = [s["SnapshotId"] for s in json.load(open(snaps))["Snapshots"]]
assert len(want) == 23, len(want)
pages = list(ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"],
                                                              PaginationConfig={"PageSize": 5}))
got = [s["SnapshotId"] for p in pages for s in p["Snapshots"]]
assert got == sorted(want), (got, want)
assert [len(p["Snapshots"]) for p in pages] == [5, 5, 5, 5, 3], [len(p["Snapshots"]) for p in pages]
assert all("NextToken" in p for p in pages[:-1]) and "NextToken" not in pages[-1]
print("describe_snapshots: %d pages, %d snapshots, each once, in id order" % (len(pages), len(got)))
# MaxItems with a resume token
it = ec2.get_paginator("describe_snapshots").paginate(PaginationConfig={"PageSize": 5, "MaxItems": 7})
first = it.build_full_result()
rest = ec2.get_paginator("describe_snapshots").paginate(
    PaginationConfig={"PageSize": 5, "StartingToken": first["NextToken"]}).build_full_result()
both = [s["SnapshotId"] for s in first["Snapshots"] + rest["Snapshots"]]
assert both == sorted(want), both
vwant = sorted(v["VolumeId"] for v in json.load(open(vols))["Volumes"])
vpages = list(ec2.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 5}))
assert sorted(v["VolumeId"] for p in vpages for v in p["Volumes"]) == vwant
# this boto3's model has no paging of describe_images: one call
page = ec2.describe_images(Owners=["self"])
assert [i["Name"] for i in page["Images"]] == ["boot-1"] and "NextToken" not in page, page
copy = ec2.copy_snapshot(SourceRegion="us-east-1", SourceSnapshotId=want[-1])["SnapshotId"]
ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[copy], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
assert ec2.describe_snapshots(SnapshotIds=[copy])["Snapshots"][0]["State"] == "completed"
ami = ec2.register_image(Name="boot-2", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
    {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}])["ImageId"]
ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
ami2 = ec2.copy_image(SourceRegion="us-east-1", SourceImageId=ami, Name="boot-3")["ImageId"]
ec2.get_waiter("image_available").wait(ImageIds=[ami2], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
ec2.get_waiter("image_exists").wait(ImageIds=[ami2], WaiterConfig={"Delay": 1, "MaxAttempts": 5})
print("waiters: snapshot_completed, image_available, image_exists")
PY
serve_stop
assert_eq "$SERVE_RC" 0 "serve's exit status"
