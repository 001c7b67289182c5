#!/usr/bin/env bash
# serve-stop: SIGTERM while a copy-snapshot from another region runs.
# copy-snapshot answers at once with the copy pending (EC2's way) and the
# copy goes on in the server's background; SIGTERM stops accepting, gives
# the work --grace seconds, then cancels it: the server exits 0, both
# stores verify, and nothing is half-written: the copy is left pending,
# and the same request, sent to a new server, answers the same id and
# finishes it (boto3's snapshot_completed waiter); the copy restores to
# the source volume.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/serve-functions.sh"

step "two regions: us-east-1 (served as the main store) and eu-west-1 (from the config)"
bs --region "$REGION" create-store >/dev/null
"$BLOCKSNAP" --store "$T/eu" --region eu-west-1 create-store >/dev/null || die "eu store"
printf '[region eu-west-1]\nstore_path = %s\n' "$T/eu" >"$BLOCKSNAP_CONFIG_FILE"
head -c $((1 << 30)) /dev/urandom >"$T/vol.img"
src=$("$BLOCKSNAP" --store "$T/eu" create-snapshot --volume "$T/vol.img" --quiet | json_get SnapshotId)
serve_start main --grace 1

copy() { # copy the source snapshot (and with "wait", wait for it); print its id or the error
    "$PY3" - "$ENDPOINT" "$src" "$@" <<'PY'
import sys, boto3, botocore.config, botocore.exceptions
cfg = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=600)
ec2 = boto3.session.Session(aws_access_key_id="AKIAOWNEREXAMPLE",
                            aws_secret_access_key="owner/Secret+Key0123456789EXAMPLE",
                            region_name="us-east-1").client("ec2", endpoint_url=sys.argv[1], config=cfg)
try:
    sid = ec2.copy_snapshot(SourceRegion="eu-west-1", SourceSnapshotId=sys.argv[2])["SnapshotId"]
    if sys.argv[3:] == ["wait"]:
        ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[sid],
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    print(sid)
except botocore.exceptions.ClientError as e:
    print(e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
PY
}

step "copy-snapshot answers at once; SIGTERM while the copy goes on"
id=$(copy)
case $id in snap-*) ;; *) die "copy-snapshot failed: $id" ;; esac
assert_eq "$(bs describe-snapshots --snapshot-ids "$id" | json_get Snapshots.0.State)" pending \
    "the copy's state when copy-snapshot answered"
kill -TERM "$SERVE_PID"
SERVE_RC=0
wait "$SERVE_PID" || SERVE_RC=$?
assert_eq "$SERVE_RC" 0 "serve's exit status"
grep -q 'cancelling' "$T/serve-main.log" || die "the log does not say the copy was cancelled"
assert_verify_ok
"$BLOCKSNAP" --store "$T/eu" verify | grep -q '^verified .*: 0 problems' || die "the source store does not verify"
assert_eq "$(bs describe-snapshots --snapshot-ids "$id" | json_get Snapshots.0.State)" pending \
    "the cancelled copy's state"

step "the same request to a new server finishes the copy"
serve_start again
assert_eq "$(copy wait)" "$id" "the same request's copy"
bs describe-snapshots --snapshot-ids "$id" | json_get Snapshots.0.State >"$T/state"
assert_eq "$(cat "$T/state")" completed "the copy's state"
assert_eq "$(bs describe-snapshots | json_get Snapshots.#)" 1 "one copy, not two"
restore "$id" "$T/restored.img"
cmp "$T/vol.img" "$T/restored.img" || die "the copy does not restore the source volume"
serve_stop
assert_eq "$SERVE_RC" 0 "serve's exit status"
assert_verify_ok
