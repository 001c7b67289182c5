#!/usr/bin/env bash
# Lifecycle policies through the real binary on real small images, with the
# fake clock (--now): two schedules (a daily one keeping 3 by count, a
# 12-hourly one keeping 2 days by age) on a tagged volume and a volume named
# by id, driven through ten days of runs twice a day: exactly which
# snapshots survive after chosen runs and at the end, with their tags; a
# second run at the same time does nothing; two runs at once take one
# snapshot per slot, not two; a user's snapshot and an image's snapshot are
# never deleted; a volume whose file is gone fails alone (exit 1) while the
# other is served; a disabled policy does nothing; each snapshot a run took
# restores to the bytes the volume had.  (A year of daily runs is in
# test-lifecycle, the engine's unit test.)
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

step "two volumes: A tagged backup=yes (with a user snapshot), B named by id"
head -c $((256 << 10)) /dev/urandom >"$T/a.img"
head -c $((256 << 10)) /dev/urandom >"$T/b.img"
user=$(snapshot_create "$T/a.img")
b0=$(snapshot_create "$T/b.img")
volA=$(bs describe-snapshots --snapshot-ids "$user" | json_get Snapshots.0.VolumeId)
volB=$(bs describe-snapshots --snapshot-ids "$b0" | json_get Snapshots.0.VolumeId)
bs create-tags --resources "$volA" --tags Key=backup,Value=yes Key=team,Value=db
cat >"$T/details.json" <<EOF
{"TargetTags": [{"Key": "backup", "Value": "yes"}],
 "TargetVolumeIds": ["$volB"],
 "Schedules": [
  {"Name": "daily", "CreateRule": {"Interval": 24, "IntervalUnit": "HOURS", "Times": ["03:00"]},
   "RetainRule": {"Count": 3}, "TagsToAdd": [{"Key": "kind", "Value": "daily"}], "CopyTags": true},
  {"Name": "half-day", "CreateRule": {"Interval": 12, "IntervalUnit": "HOURS"},
   "RetainRule": {"Interval": 2, "IntervalUnit": "DAYS"}}]}
EOF
pid=$(bs create-lifecycle-policy --description "ten days" --state ENABLED \
    --execution-role-arn arn:aws:iam::123456789012:role/dlm \
    --policy-details "file://$T/details.json" | json_get PolicyId)
[[ $pid =~ ^policy-[0-9a-f]{17}$ ]] || die "policy id $pid"
bs get-lifecycle-policy --policy-id "$pid" >"$T/policy.json"
assert_eq "$(json_get Policy.ExecutionRoleArn "$T/policy.json")" arn:aws:iam::123456789012:role/dlm
assert_eq "$(json_get Policy.PolicyDetails.Schedules.# "$T/policy.json")" 2
assert_eq "$(bs get-lifecycle-policies --target-tags backup=yes | json_get Policies.0.PolicyId)" "$pid"
assert_eq "$(bs get-lifecycle-policies --state DISABLED | json_get Policies.#)" 0
assert_eq "$("$BLOCKSNAP" __complete --store "$STORE" get-lifecycle-policy --policy-id "")" "$pid"

# run TIME: one run; its results in $T/run.json; prints "CREATED DELETED FAILED"
run() {
    local rc=0
    bs run-lifecycle-policies --now "$1" >"$T/run.json" || rc=$?
    python3 - "$T/run.json" "$rc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["LifecyclePolicyResults"]
n = lambda a: sum(1 for x in r if x["Action"] == a)
print(n("created"), n("deleted"), n("failed"), "rc=" + sys.argv[2])
PY
}

# survivors VOLUME SCHEDULE: the StartTimes (MM-DDTHH) of the schedule's
# snapshots of the volume, oldest first.
survivors() {
    bs describe-snapshots --filters "Name=volume-id,Values=$1" \
        "Name=tag:aws:dlm:lifecycle-schedule-name,Values=$2" | python3 -c '
import json, sys
print(" ".join(sorted(s["StartTime"][5:13] for s in json.load(sys.stdin)["Snapshots"])))'
}

step "day 1, 04:00: both schedules take one of each volume; again at 04:00: nothing"
assert_eq "$(run 2026-03-01T04:00:00Z)" "4 0 0 rc=0"
assert_eq "$(run 2026-03-01T04:00:00Z)" "0 0 0 rc=0"
assert_eq "$(run 2026-03-01T11:59:59Z)" "0 0 0 rc=0"
# the tags: TagsToAdd, the volume's (CopyTags), DLM's two
snap=$(bs describe-snapshots --filters "Name=volume-id,Values=$volA" \
    "Name=tag:aws:dlm:lifecycle-schedule-name,Values=daily" | json_get Snapshots.0.SnapshotId)
bs describe-snapshots --snapshot-ids "$snap" >"$T/snap.json"
python3 - "$T/snap.json" "$pid" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["Snapshots"][0]
tags = {t["Key"]: t["Value"] for t in s["Tags"]}
want = {"kind": "daily", "backup": "yes", "team": "db",
        "aws:dlm:lifecycle-policy-id": sys.argv[2], "aws:dlm:lifecycle-schedule-name": "daily"}
assert tags == want, tags
assert s["StartTime"] == "2026-03-01T04:00:00.000Z", s["StartTime"]
assert s["Description"] == "Created for policy: %s schedule: daily" % sys.argv[2], s
PY
# an image maps B's first half-day snapshot: it is never deleted
pinned=$(bs describe-snapshots --filters "Name=volume-id,Values=$volB" \
    "Name=tag:aws:dlm:lifecycle-schedule-name,Values=half-day" | json_get Snapshots.0.SnapshotId)
ami=$(bs register-image --name pinned --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$pinned}" | json_get ImageId)
cp "$T/b.img" "$T/b-day1.img"

step "ten days of runs at 04:00 and 16:00, the volumes changing"
for day in 02 03 04 05 06 07 08 09 10; do
    printf 'day %s' "$day" | dd of="$T/a.img" bs=1 seek=$((10#$day * 4096)) conv=notrunc status=none
    printf 'day %s' "$day" | dd of="$T/b.img" bs=1 seek=$((10#$day * 4096)) conv=notrunc status=none
    out=$(run "2026-03-${day}T04:00:00Z")
    [[ $out == "4 "*" 0 rc=0" ]] || die "day $day 04:00: $out"
    out=$(run "2026-03-${day}T16:00:00Z")
    [[ $out == "2 "*" 0 rc=0" ]] || die "day $day 16:00: $out"
    if [ "$day" = 03 ]; then
        # daily: 3 newest; half-day: younger than 2 days at 03-03T16
        assert_eq "$(survivors "$volA" daily)" "03-01T04 03-02T04 03-03T04"
        assert_eq "$(survivors "$volA" half-day)" "03-02T04 03-02T16 03-03T04 03-03T16"
        assert_eq "$(survivors "$volB" half-day)" "03-01T04 03-02T04 03-02T16 03-03T04 03-03T16"
    fi
done
assert_eq "$(survivors "$volA" daily)" "03-08T04 03-09T04 03-10T04"
assert_eq "$(survivors "$volB" daily)" "03-08T04 03-09T04 03-10T04"
# younger than two days at 03-10T16 (03-08T16 is exactly two days old)
assert_eq "$(survivors "$volA" half-day)" "03-09T04 03-09T16 03-10T04 03-10T16"
# B's first half-day snapshot stays: an image uses it
assert_eq "$(survivors "$volB" half-day)" "03-01T04 03-09T04 03-09T16 03-10T04 03-10T16"
bs describe-snapshots --snapshot-ids "$user" "$b0" >/dev/null || die "a user's snapshot is gone"
restore "$pinned" "$T/pinned.img"
cmp "$T/pinned.img" "$T/b-day1.img" || die "the image's snapshot does not restore to day 1's bytes"
last=$(bs describe-snapshots --filters "Name=volume-id,Values=$volA" \
    "Name=tag:aws:dlm:lifecycle-schedule-name,Values=half-day" | python3 -c '
import json, sys
print(max(json.load(sys.stdin)["Snapshots"], key=lambda s: s["StartTime"])["SnapshotId"])')
restore "$last" "$T/a-last.img"
cmp "$T/a-last.img" "$T/a.img" || die "the last snapshot does not restore to the volume's bytes"

step "two runs at once take one snapshot per slot"
store_state >"$T/state.before"
bs run-lifecycle-policies --now 2026-03-11T04:00:00Z >"$T/r1.json" &
bs run-lifecycle-policies --now 2026-03-11T04:00:00Z >"$T/r2.json" &
wait
python3 - "$T/r1.json" "$T/r2.json" <<'PY'
import json, sys
c = [sum(1 for x in json.load(open(f))["LifecyclePolicyResults"] if x["Action"] == "created")
     for f in sys.argv[1:]]
assert sorted(c) == [0, 4], c
PY
assert_eq "$(survivors "$volA" daily)" "03-09T04 03-10T04 03-11T04"

step "B's file gone: B's snapshots fail (exit 1), A is still served"
mv "$T/b.img" "$T/b.moved"
assert_eq "$(run 2026-03-11T16:00:00Z)" "1 2 1 rc=1"
python3 - "$T/run.json" "$volB" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["LifecyclePolicyResults"]
bad = [x for x in r if x["Action"] == "failed"]
assert len(bad) == 1 and bad[0]["VolumeId"] == sys.argv[2] and bad[0]["Error"]["Code"], bad
PY
mv "$T/b.moved" "$T/b.img"

step "disabled: nothing happens; deleted: its snapshots stay"
bs update-lifecycle-policy --policy-id "$pid" --state DISABLED >/dev/null
store_state >"$T/state.before"
assert_eq "$(run 2026-03-20T04:00:00Z)" "0 0 0 rc=0"
assert_eq "$(bs get-lifecycle-policy --policy-id "$pid" | json_get Policy.State)" DISABLED
bs delete-lifecycle-policy --policy-id "$pid" >/dev/null
expect_fail ResourceNotFoundException 1 bs get-lifecycle-policy --policy-id "$pid"
assert_store_unchanged "$T/state.before"
info "image $ami keeps $pinned"
