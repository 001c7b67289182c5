#!/usr/bin/env bash
# The Recycle Bin through the real binary, with its fake clock
# (BLOCKSNAP_NOW): a rule for tagged snapshots; deleting one puts it in the
# bin (describe says InvalidSnapshot.NotFound, the bin lists it with its
# enter and exit times, gc frees nothing of it, verify passes); restoring
# it gives back a snapshot that restores byte for byte to the volume; once
# its time is up it is no longer listed nor restorable, and gc then frees
# exactly its exclusive bytes (describe-snapshot-usage's figure); an
# untagged snapshot is freed at once; prune and a lifecycle policy's
# retention bin too; the rule verbs and their errors.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

step "a tagged snapshot of 2 MiB of its own, and an untagged one"
head -c $((2 << 20)) /dev/urandom >"$T/a.img"
head -c $((1 << 20)) /dev/urandom >"$T/b.img"
snapA=$(snapshot_create "$T/a.img")
snapB=$(snapshot_create "$T/b.img")
bs create-tags --resources "$snapA" --tags Key=keep,Value=yes
cp "$T/a.img" "$T/a.orig"

step "rules: create, get, list, update; errors"
rule=$(bs create-rule --resource-type EBS_SNAPSHOT \
    --retention-period RetentionPeriodValue=3,RetentionPeriodUnit=DAYS \
    --resource-tags ResourceTagKey=keep,ResourceTagValue=yes --description "keep tagged" |
    json_get Identifier)
[[ $rule =~ ^[0-9a-zA-Z]{11}$ ]] || die "rule id $rule"
bs get-rule --identifier "$rule" >"$T/rule.json"
assert_eq "$(json_get RetentionPeriod.RetentionPeriodValue "$T/rule.json")" 3
assert_eq "$(json_get ResourceTags.0.ResourceTagKey "$T/rule.json")" keep
assert_eq "$(bs list-rules --resource-type EBS_SNAPSHOT | json_get Rules.0.Identifier)" "$rule"
bs update-rule --identifier "$rule" \
    --retention-period '{"RetentionPeriodValue": 7, "RetentionPeriodUnit": "DAYS"}' >/dev/null
assert_eq "$(bs get-rule --identifier "$rule" | json_get RetentionPeriod.RetentionPeriodValue)" 7
expect_fail ValidationException 1 bs create-rule --resource-type EC2_IMAGE \
    --retention-period RetentionPeriodValue=3,RetentionPeriodUnit=DAYS
expect_fail ValidationException 1 bs create-rule --resource-type EBS_SNAPSHOT \
    --retention-period RetentionPeriodValue=3,RetentionPeriodUnit=HOURS
expect_fail ValidationException 1 bs create-rule --resource-type EBS_SNAPSHOT \
    --retention-period RetentionPeriodValue=366,RetentionPeriodUnit=DAYS
expect_fail InvalidParameterValue 2 bs create-rule --resource-type EBS_SNAPSHOT \
    --retention-period 7
expect_fail ResourceNotFoundException 1 bs get-rule --identifier 0123456789a
expect_fail ValidationException 1 bs get-rule --identifier 'x;y'
assert_eq "$(bs list-rules --resource-type EBS_SNAPSHOT | json_get Rules.#)" 1

step "delete A at 2026-01-01: in the bin, gone from describe, nothing freed"
bs describe-snapshot-usage --snapshot-ids "$snapA" >"$T/usage.json"
freeA=$(json_get SnapshotUsages.0.ExclusiveStoredBytes "$T/usage.json")
[ "$freeA" -gt $((1 << 20)) ] || die "A holds only $freeA bytes of its own"
stored0=$(store_field StoredBytes)
packs0=$(store_bytes)
export BLOCKSNAP_NOW=2026-01-01T00:00:00Z
bs delete-snapshot --snapshot-id "$snapA"
expect_fail InvalidSnapshot.NotFound 1 bs describe-snapshots --snapshot-ids "$snapA"
bs list-snapshots-in-recycle-bin >"$T/bin.json"
python3 - "$T/bin.json" "$snapA" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["Snapshots"]
assert [x["SnapshotId"] for x in s] == [sys.argv[2]], s
assert s[0]["RecycleBinEnterTime"] == "2026-01-01T00:00:00.000Z", s
assert s[0]["RecycleBinExitTime"] == "2026-01-08T00:00:00.000Z", s
PY
# completion offers the bin's snapshots to restore, and the rules
assert_eq "$("$BLOCKSNAP" __complete --store "$STORE" restore-snapshot-from-recycle-bin \
    --snapshot-id "")" "$snapA"
assert_eq "$("$BLOCKSNAP" __complete --store "$STORE" get-rule --identifier "")" "$rule"
bs gc >/dev/null
assert_eq "$(store_field StoredBytes)" "$stored0" "stored bytes after gc, A in the bin"
assert_eq "$(store_bytes)" "$packs0" "pack bytes after gc, A in the bin"
assert_verify_ok

step "restore A: the same snapshot, byte for byte"
bs restore-snapshot-from-recycle-bin --snapshot-id "$snapA" >"$T/restored.json"
assert_eq "$(json_get SnapshotId "$T/restored.json")" "$snapA"
assert_eq "$(json_get State "$T/restored.json")" completed
assert_eq "$(bs list-snapshots-in-recycle-bin | json_get Snapshots.#)" 0
assert_eq "$(bs describe-snapshots --snapshot-ids "$snapA" | json_get Snapshots.0.Tags.0.Value)" yes
restore "$snapA" "$T/a.back"
cmp "$T/a.back" "$T/a.orig" || die "the restored snapshot does not restore to A's bytes"
expect_fail InvalidSnapshot.NotFound 1 bs restore-snapshot-from-recycle-bin --snapshot-id "$snapA"
assert_verify_ok

step "B, untagged, is freed at once"
before=$(store_field StoredBytes)
bs describe-snapshot-usage --snapshot-ids "$snapB" >"$T/ub.json"
freeB=$(json_get SnapshotUsages.0.ExclusiveStoredBytes "$T/ub.json")
bs delete-snapshot --snapshot-id "$snapB"
assert_eq "$(bs list-snapshots-in-recycle-bin | json_get Snapshots.#)" 0
bs gc >/dev/null
assert_eq $((before - $(store_field StoredBytes))) "$freeB" "bytes B's delete + gc freed"

step "delete A again at 01-02; at 01-08 23:59:59 it is still there, at 01-09 it is gone"
export BLOCKSNAP_NOW=2026-01-02T00:00:00Z
bs delete-snapshot --snapshot-id "$snapA"
before=$(store_field StoredBytes)
export BLOCKSNAP_NOW=2026-01-08T23:59:59Z
assert_eq "$(bs list-snapshots-in-recycle-bin | json_get Snapshots.0.SnapshotId)" "$snapA"
bs gc >/dev/null
assert_eq "$(store_field StoredBytes)" "$before" "stored bytes a second before the exit time"
export BLOCKSNAP_NOW=2026-01-09T00:00:00Z
assert_eq "$(bs list-snapshots-in-recycle-bin | json_get Snapshots.#)" 0
expect_fail InvalidSnapshot.NotFound 1 bs restore-snapshot-from-recycle-bin --snapshot-id "$snapA"
bs gc >/dev/null
assert_eq $((before - $(store_field StoredBytes))) "$freeA" "bytes A's expiry + gc freed"
assert_verify_ok

step "prune and a lifecycle policy's retention put snapshots in the bin too"
bs create-rule --resource-type EBS_SNAPSHOT \
    --retention-period RetentionPeriodValue=1,RetentionPeriodUnit=DAYS >/dev/null
s1=$(snapshot_create "$T/a.img")
printf 'x' | dd of="$T/a.img" bs=1 seek=100 conv=notrunc status=none
s2=$(snapshot_create "$T/a.img")
bs prune-snapshots --keep-last 1 >/dev/null
assert_eq "$(bs list-snapshots-in-recycle-bin | json_get Snapshots.0.SnapshotId)" "$s1"
vol=$(bs describe-snapshots --snapshot-ids "$s2" | json_get Snapshots.0.VolumeId)
pid=$(bs create-lifecycle-policy --description d --state ENABLED --policy-details \
    "{\"TargetVolumeIds\":[\"$vol\"],\"Schedules\":[{\"Name\":\"s\",\"CreateRule\":{\"Interval\":24,\"IntervalUnit\":\"HOURS\"},\"RetainRule\":{\"Count\":1}}]}" |
    json_get PolicyId)
bs run-lifecycle-policies --now 2026-01-09T01:00:00Z >/dev/null
bs run-lifecycle-policies --now 2026-01-10T01:00:00Z >"$T/run.json"
gone=$(python3 -c 'import json,sys
print([x["SnapshotId"] for x in json.load(open(sys.argv[1]))["LifecyclePolicyResults"] if x["Action"] == "deleted"][0])' "$T/run.json")
bs list-snapshots-in-recycle-bin --snapshot-ids "$gone" | json_get Snapshots.0.SnapshotId >/dev/null ||
    die "the policy's deleted snapshot is not in the bin"
info "policy $pid binned $gone"

step "delete-rule: the bin's snapshots stay"
bs delete-rule --identifier "$rule" >/dev/null
expect_fail ResourceNotFoundException 1 bs get-rule --identifier "$rule"
assert_eq "$(bs list-snapshots-in-recycle-bin --snapshot-ids "$s1" | json_get Snapshots.#)" 1
assert_verify_ok
