#!/usr/bin/env bash
# Tags (create-tags, delete-tags, all-or-nothing) and the describe filters
# of describe-snapshots and describe-volumes.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

head -c $((1 << 20)) /dev/urandom >"$T/a.img"
head -c $((2 << 20)) /dev/urandom >"$T/b.img"
sa1=$(snapshot_create "$T/a.img" --description "nightly a" --tags Key=env,Value=prod Key=team,Value=db)
vola=$(json_get VolumeId "$T/snapshot.json")
sa2=$(snapshot_create "$T/a.img" --description "weekly a")
sb1=$(snapshot_create "$T/b.img" --description "nightly b")
volb=$(json_get VolumeId "$T/snapshot.json")

# ids FILTER-ARGS...: the sorted snapshot ids describe-snapshots returns.
ids() {
    bs describe-snapshots "$@" | python3 -c '
import json, sys
print(" ".join(sorted(s["SnapshotId"] for s in json.load(sys.stdin)["Snapshots"])))'
}
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
tags_of() {
    bs describe-snapshots --snapshot-ids "$1" | python3 -c '
import json, sys
s = json.load(sys.stdin)["Snapshots"][0]
print(",".join(sorted("%s=%s" % (t["Key"], t["Value"]) for t in s.get("Tags", []))))'
}

step "tags given at creation"
assert_eq "$(tags_of "$sa1")" "env=prod,team=db" "tags of $sa1"
assert_eq "$(tags_of "$sa2")" "" "tags of $sa2"

step "describe-snapshots --snapshot-ids takes several ids"
assert_eq "$(ids --snapshot-ids "$sa1" "$sb1")" "$(sorted "$sa1" "$sb1")" "--snapshot-ids a b"
assert_eq "$(ids)" "$(sorted "$sa1" "$sa2" "$sb1")" "all snapshots"

step "filters"
assert_eq "$(ids --filters "Name=volume-id,Values=$vola")" "$(sorted "$sa1" "$sa2")" "volume-id"
assert_eq "$(ids --filters "Name=volume-id,Values=$vola,$volb")" "$(sorted "$sa1" "$sa2" "$sb1")" "volume-id a,b"
assert_eq "$(ids --filters "Name=description,Values=nightly*")" "$(sorted "$sa1" "$sb1")" "description wildcard"
assert_eq "$(ids --filters "Name=description,Values=weekly?a")" "$sa2" "description ? wildcard"
assert_eq "$(ids --filters Name=tag:env,Values=prod)" "$sa1" "tag:env"
assert_eq "$(ids --filters Name=tag:env,Values=test)" "" "tag:env no match"
assert_eq "$(ids --filters Name=tag-key,Values=team)" "$sa1" "tag-key"
assert_eq "$(ids --filters Name=status,Values=completed)" "$(sorted "$sa1" "$sa2" "$sb1")" "status"
assert_eq "$(ids --filters Name=status,Values=pending)" "" "status pending"
assert_eq "$(ids --filters "Name=snapshot-id,Values=$sb1")" "$sb1" "snapshot-id filter"
assert_eq "$(ids --filters "Name=volume-id,Values=$vola" "Name=description,Values=weekly*")" "$sa2" "two filters are AND-ed"
assert_eq "$(ids --filters '[{"Name":"volume-id","Values":["'"$volb"'"]}]')" "$sb1" "JSON filter"
assert_eq "$(ids --filters "Name=volume-id,Values=$vola" --snapshot-ids "$sa1" "$sb1")" "$sa1" "ids and filters"
expect_fail InvalidParameterValue 1 bs describe-snapshots --filters Name=no-such-filter,Values=x
stderr_contains no-such-filter

step "create-tags on snapshots and volumes"
bs create-tags --resources "$sa2" "$sb1" --tags Key=env,Value=test Key=owner,Value=me >/dev/null
assert_eq "$(tags_of "$sa2")" "env=test,owner=me" "tags of $sa2"
assert_eq "$(tags_of "$sb1")" "env=test,owner=me" "tags of $sb1"
bs create-tags --resources "$sa2" --tags Key=env,Value=staging >/dev/null
assert_eq "$(tags_of "$sa2")" "env=staging,owner=me" "overwritten tag"
bs create-tags --resources "$vola" --tags Key=role,Value=root >/dev/null
bs describe-volumes --filters Name=tag:role,Values=root >"$T/v.json"
assert_eq "$(json_get Volumes.# "$T/v.json")" 1 "volumes with tag role=root"
assert_eq "$(json_get Volumes.0.VolumeId "$T/v.json")" "$vola" "tagged volume"
bs describe-volumes --filters Name=tag-key,Values=role >"$T/v.json"
assert_eq "$(json_get Volumes.# "$T/v.json")" 1 "volumes with tag-key role"
bs describe-volumes >"$T/v.json"
assert_eq "$(json_get Volumes.# "$T/v.json")" 2 "all volumes"
bs describe-volumes --volume-ids "$volb" >"$T/v.json"
assert_eq "$(json_get Volumes.0.VolumeId "$T/v.json")" "$volb" "describe-volumes --volume-ids"

step "create-tags is all or nothing"
expect_fail InvalidSnapshot.NotFound 1 bs create-tags --resources "$sa1" snap-0123456789abcdef0 --tags Key=x,Value=y
assert_eq "$(tags_of "$sa1")" "env=prod,team=db" "tags after a failed create-tags"
expect_fail InvalidSnapshotID.Malformed 1 bs create-tags --resources "$sa1" snap-zz --tags Key=x,Value=y
assert_eq "$(tags_of "$sa1")" "env=prod,team=db" "tags after a failed create-tags"
# a reserved key: a bad option value (2) or a refused operation (1)
expect_fail InvalidParameterValue '1|2' bs create-tags --resources "$sa1" --tags Key=aws:x,Value=y
assert_eq "$(tags_of "$sa1")" "env=prod,team=db" "aws: tags are refused"

step "delete-tags"
bs delete-tags --resources "$sa1" --tags Key=env,Value=wrong >/dev/null
assert_eq "$(tags_of "$sa1")" "env=prod,team=db" "delete-tags with a value that does not match"
bs delete-tags --resources "$sa1" --tags Key=env,Value=prod >/dev/null
assert_eq "$(tags_of "$sa1")" "team=db" "delete-tags with the matching value"
bs delete-tags --resources "$sa2" --tags Key=owner >/dev/null
assert_eq "$(tags_of "$sa2")" "env=staging" "delete-tags by key"
bs delete-tags --resources "$sb1" >/dev/null
assert_eq "$(tags_of "$sb1")" "" "delete-tags without --tags removes all"
assert_eq "$(ids --filters Name=tag-key,Values=env)" "$sa2" "tag-key after deletes"

assert_verify_ok
