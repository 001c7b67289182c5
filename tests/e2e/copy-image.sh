#!/usr/bin/env bash
# copy-image between two regions in one run: a two-volume image of the
# source region us-east-1 copied into $STORE.
#   - the copy is a new image (new id, new snapshot ids) with the source's
#     attributes, its mappings naming copies that restore byte for byte;
#     --copy-image-tags copies the tags; the snapshot copies are described
#     as EC2 describes them
#   - the same command again returns the same image and reads nothing
#   - a second image of the changed machine copies incrementally: the
#     unchanged root volume reads nothing, the data volume only its 16
#     changed chunks, each copy a child of the first image's copy
#   - kill -9 during a copy-image, then the same command: verify clean, the
#     same image id, no duplicate image or snapshot, restores identical
#   - a missing source image, a taken name: clear errors, nothing written
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/image-functions.sh
source "$(dirname "$0")/../lib/image-functions.sh"
requires python3 cmp

SRC_STORE=$XDG_DATA_HOME/blocksnap/us-east-1
src() { STORE=$SRC_STORE bs --region us-east-1 "$@"; }
copy() { bs copy-image --source-region us-east-1 --quiet "$@"; }
snap_field() { bs describe-snapshots --snapshot-ids "$1" | json_get "Snapshots.0.$2"; }
snapshots_of() { # DESCRIBE_JSON: "DEVICE SNAP" lines
    python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["Images"][0]["BlockDeviceMappings"]:
    print(m["DeviceName"], m["Ebs"]["SnapshotId"])' "$1"
}
dev_snap() { awk -v d="$2" '$1 == d { print $2 }' "$1"; }
restore_is() {
    restore "$1" "$T/check.img"
    cmp "$2" "$T/check.img" || die "snapshot $1 does not restore as $2"
    rm -f "$T/check.img"
}
count() { bs "describe-$1" | json_get "$2.#"; }

make_boot_disk "$T/root.img"
head -c $((24 << 20)) /dev/urandom >"$T/data.img"
truncate -s 48M "$T/data.img"
cp "$T/root.img" "$T/root.ref"
cp "$T/data.img" "$T/data1.ref"

step "source region: a two-volume image, tagged"
src create-image --name machine --volume "/dev/xvda=$T/root.img" \
    --volume "/dev/xvdb=$T/data.img" --quiet >"$T/i.json"
AMI1=$(image_id_of "$T/i.json")
src create-tags --resources "$AMI1" --tags Key=role,Value=web
STORE=$SRC_STORE bs describe-images --image-ids "$AMI1" >"$T/src1.json"

step "copy-image: a new image over copies of both snapshots"
copy --source-image-id "$AMI1" --name machine-eu --copy-image-tags >"$T/c.json"
C1=$(json_get ImageId "$T/c.json")
[ "$C1" != "$AMI1" ] || die "the copy has the source's id"
bs describe-images --image-ids "$C1" >"$T/d1.json"
assert_eq "$(json_get Images.0.Name "$T/d1.json")" machine-eu "name"
assert_eq "$(json_get Images.0.State "$T/d1.json")" available "state"
for k in RootDeviceName BootMode Architecture VirtualizationType BlockDeviceMappings.#; do
    assert_eq "$(json_get "Images.0.$k" "$T/d1.json")" "$(json_get "Images.0.$k" "$T/src1.json")" "$k"
done
assert_eq "$(json_get Images.0.Tags.0.Key "$T/d1.json")" role "tag copied"
snapshots_of "$T/d1.json" >"$T/m1"
snapshots_of "$T/src1.json" >"$T/sm1"
R1=$(dev_snap "$T/m1" /dev/xvda)
D1=$(dev_snap "$T/m1" /dev/xvdb)
[ "$R1" != "$(dev_snap "$T/sm1" /dev/xvda)" ] || die "the copy maps the source's snapshot"
assert_eq "$(snap_field "$R1" Description)" \
    "Copied for DestinationAmi $C1 from SourceAmi $AMI1 for SourceSnapshot $(dev_snap "$T/sm1" /dev/xvda)" \
    "description of a snapshot copy"
restore_is "$R1" "$T/root.ref"
restore_is "$D1" "$T/data1.ref"
assert_verify_ok

step "the same command again: the same image, nothing read"
bs copy-image --source-region us-east-1 --source-image-id "$AMI1" --name machine-eu \
    --copy-image-tags >"$T/c.json" 2>"$T/c.err"
assert_eq "$(json_get ImageId "$T/c.json")" "$C1" "image id of the repeat"
grep -q "read 0 B from the source" "$T/c.err" || die "the repeat read: $(cat "$T/c.err")"
assert_eq "$(count images Images)" 1 "images after the repeat"
assert_eq "$(count snapshots Snapshots)" 2 "snapshots after the repeat"

step "bad input: clear errors, nothing written"
store_state >"$T/state.before"
expect_fail InvalidAMIID.NotFound 1 copy --source-image-id ami-0123456789abcdef0 --name other
expect_fail InvalidAMIID.Malformed 1 copy --source-image-id snap-0123 --name other
expect_fail InvalidAMIName.Duplicate 1 copy --source-image-id "$AMI1" --name machine-eu \
    --description "another"
expect_fail InvalidAMIName.Malformed 1 copy --source-image-id "$AMI1" --name x
expect_fail MissingParameter 2 bs copy-image --source-region us-east-1 --source-image-id "$AMI1"
assert_store_unchanged "$T/state.before"

step "a second image of the changed machine: incremental copies"
dd if=/dev/urandom of="$T/data.img" bs=64K seek=100 count=16 conv=notrunc status=none
cp "$T/data.img" "$T/data2.ref"
src create-image --name machine-2 --volume "/dev/xvda=$T/root.img" \
    --volume "/dev/xvdb=$T/data.img" --quiet >"$T/i.json"
AMI2=$(image_id_of "$T/i.json")
copy --source-image-id "$AMI2" --name machine-eu-2 >"$T/c.json"
C2=$(json_get ImageId "$T/c.json")
bs describe-images --image-ids "$C2" >"$T/d2.json"
snapshots_of "$T/d2.json" >"$T/m2"
R2=$(dev_snap "$T/m2" /dev/xvda)
D2=$(dev_snap "$T/m2" /dev/xvdb)
assert_eq "$(snap_field "$R2" ParentSnapshotId)" "$R1" "root copy's parent"
assert_eq "$(snap_field "$D2" ParentSnapshotId)" "$D1" "data copy's parent"
assert_eq "$(snap_field "$R2" BytesRead)" 0 "unchanged root: bytes read"
assert_eq "$(snap_field "$D2" BytesRead)" $((16 * 65536)) "data: bytes read (16 changed chunks)"
assert_eq "$(json_get Images.0.Tags.# "$T/d2.json" 2>/dev/null || echo 0)" 0 "tags not asked for"
restore_is "$R2" "$T/root.ref"
restore_is "$D2" "$T/data2.ref"
assert_verify_ok

step "kill -9 during a copy-image into a fresh region, then the same command"
BASE=$T/dst-base
rm -rf "$STORE"
bs create-store >/dev/null
cp -a "$STORE" "$BASE"
kills=(time:0.05 time:0.3)
! has_faults || kills+=(fault:snapshot-batch:2 fault:meta-commit:4)
for spec in "${kills[@]}"; do
    rm -rf "$STORE"
    cp -a "$BASE" "$STORE"
    rc=0
    case $spec in
    fault:*)
        BLOCKSNAP_FAULT="${spec#fault:}:kill" "$BLOCKSNAP" --store "$STORE" copy-image \
            --source-region us-east-1 --source-image-id "$AMI2" --name machine-k --quiet \
            >"$T/k.out" 2>"$T/k.err" || rc=$?
        ;;
    time:*)
        "$BLOCKSNAP" --store "$STORE" copy-image --source-region us-east-1 \
            --source-image-id "$AMI2" --name machine-k --quiet >"$T/k.out" 2>"$T/k.err" &
        pid=$!
        on_cleanup_pid "$pid"
        sleep "${spec#time:}"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" || rc=$?
        ;;
    esac
    _check_sanitizer "$T/k.err" "killed copy-image ($spec)"
    assert_verify_ok
    copy --source-image-id "$AMI2" --name machine-k >"$T/c.json"
    id=$(json_get ImageId "$T/c.json")
    [ ! -s "$T/k.out" ] || assert_eq "$id" "$(json_get ImageId "$T/k.out")" "id after a finished run"
    assert_eq "$(count images Images)" 1 "images after the resume ($spec)"
    assert_eq "$(count snapshots Snapshots)" 2 "snapshots after the resume ($spec)"
    copy --source-image-id "$AMI2" --name machine-k >"$T/c.json"
    assert_eq "$(json_get ImageId "$T/c.json")" "$id" "the same image again ($spec)"
    bs describe-images --image-ids "$id" >"$T/d.json"
    snapshots_of "$T/d.json" >"$T/m"
    restore_is "$(dev_snap "$T/m" /dev/xvda)" "$T/root.ref"
    restore_is "$(dev_snap "$T/m" /dev/xvdb)" "$T/data2.ref"
    assert_verify_ok
    info "$(printf '%-26s exit %3s  resumed as %s' "$spec" "$rc" "$id")"
done
step "ok"
