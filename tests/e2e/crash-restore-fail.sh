#!/usr/bin/env bash
# create-volume is all or nothing when it fails after the restored file is
# whole (engine fault points, BLOCKSNAP_FAULT): the volume is recorded
# before the file is renamed into place, so
#  - when recording fails (meta-commit 2; the reader's pin is commit 1), the
#    target is as it was: absent, or with --force the user's old file, byte
#    for byte; no volume record and no temporary file are left;
#  - when the rename fails after the record (restore-rename), the record is
#    taken back: describe-volumes is as before, and a volume recorded at the
#    path before names it again;
#  - a kill between the record and the rename (restore-rename:1:kill)
#    leaves the old file in place, and the restore run again succeeds.
# Each time exit 1 with an error naming what failed, and verify passes.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp
requires_faults

# volumes: "PATH SOURCE-SNAPSHOT" of every volume record, sorted.
volumes() {
    bs describe-volumes | python3 -c '
import json, sys
for v in json.load(sys.stdin)["Volumes"]:
    print(v["Path"] or "-", v["SnapshotId"] or "-")' | sort
}

# no_temporary_files DIR: a failed restore removed its temporary file.
no_temporary_files() {
    [ -z "$(find "$1" -name '.*.blocksnap-*')" ] || die "temporary files left in $1: $(ls -a "$1")"
}

step "a snapshot to restore"
head -c $((4 << 20)) /dev/urandom >"$T/a.img"
S=$(snapshot_create "$T/a.img")
mkdir "$T/out"
volumes >"$T/volumes.before"

step "recording the volume fails: no file, no record"
BLOCKSNAP_FAULT=meta-commit:2 expect_fail - 1 bs create-volume --snapshot-id "$S" \
    --path "$T/out/new.img" --quiet
stderr_contains "$T/out/new.img: record the volume" "injected"
[ ! -e "$T/out/new.img" ] || die "a failed create-volume left $T/out/new.img"
no_temporary_files "$T/out"
assert_eq "$(volumes)" "$(cat "$T/volumes.before")" "volume records after the failed restore"
assert_verify_ok

step "--force over the user's file, recording fails: the old file stays"
head -c 12345 /dev/urandom >"$T/out/old.img"
cp "$T/out/old.img" "$T/old.ref"
BLOCKSNAP_FAULT=meta-commit:2 expect_fail - 1 bs create-volume --snapshot-id "$S" \
    --path "$T/out/old.img" --force --quiet
cmp "$T/old.ref" "$T/out/old.img" || die "the failed create-volume --force changed the old file"
no_temporary_files "$T/out"
assert_eq "$(volumes)" "$(cat "$T/volumes.before")" "volume records after the failed restore"
assert_verify_ok

step "a volume at the path, then a --force whose rename fails: the record is taken back"
bs create-volume --snapshot-id "$S" --path "$T/out/vol.img" --quiet >/dev/null
cmp "$T/a.img" "$T/out/vol.img"
volumes >"$T/volumes.one"
grep -qF "$T/out/vol.img $S" "$T/volumes.one" || die "no record of $T/out/vol.img: $(cat "$T/volumes.one")"
echo "not the snapshot" >"$T/out/vol.img"
cp "$T/out/vol.img" "$T/vol.ref"
BLOCKSNAP_FAULT=restore-rename:1 expect_fail VolumeWriteError 1 bs create-volume \
    --snapshot-id "$S" --path "$T/out/vol.img" --force --quiet
stderr_contains "$T/out/vol.img" "rename into place"
cmp "$T/vol.ref" "$T/out/vol.img" || die "the failed create-volume --force changed the old file"
no_temporary_files "$T/out"
assert_eq "$(volumes)" "$(cat "$T/volumes.one")" "volume records after the failed rename"
assert_verify_ok

step "killed between the record and the rename: the old file stays; run again, it succeeds"
rc=0
BLOCKSNAP_FAULT=restore-rename:1:kill "$BLOCKSNAP" --store "$STORE" create-volume \
    --snapshot-id "$S" --path "$T/out/vol.img" --force --quiet >/dev/null 2>"$T/killed.stderr" ||
    rc=$?
assert_eq "$rc" 137 "exit status of the killed create-volume"
cmp "$T/vol.ref" "$T/out/vol.img" || die "the killed create-volume --force changed the old file"
assert_verify_ok
bs create-volume --snapshot-id "$S" --path "$T/out/vol.img" --force --quiet >/dev/null
cmp "$T/a.img" "$T/out/vol.img" || die "the restore run again is not the snapshot"
assert_eq "$(volumes | grep -cF "$T/out/vol.img $S")" 1 "records naming $T/out/vol.img"
bs gc >/dev/null
assert_verify_ok
step "ok"
