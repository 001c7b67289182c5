#!/usr/bin/env bash
# meta/data.mdb cut short after its meta pages: liblmdb's first read past the
# new end faults (SIGBUS) inside the library.  The CLI asks the engine for
# its fault guard (a library user who does not keeps its own signal
# handlers), so every verb fails with Store.Corrupt naming the file and the
# fault, exit 1, none dies by the signal, and data.mdb stays as it was;
# verify names the damage.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 truncate

head -c $((1 << 20)) /dev/urandom >"$T/vol.img"
snap=$(snapshot_create "$T/vol.img")
data=$STORE/meta/data.mdb
truncate -s 8192 "$data"

step "read verbs fail with the fault caught"
for verb in describe-snapshots describe-volumes describe-images; do
    expect_fail Store.Corrupt 1 bs "$verb"
    stderr_contains "$data" "liblmdb faulted with SIGBUS" "blocksnap verify"
done
expect_fail Store.Corrupt 1 bs create-volume --snapshot-id "$snap" --path "$T/out.img"
stderr_contains "liblmdb faulted"
[ ! -e "$T/out.img" ] || die "a failed restore left $T/out.img"

step "a write fails the same way and leaves data.mdb as it was"
cp "$data" "$T/data.before"
expect_fail Store.Corrupt 1 bs create-snapshot --volume "$T/vol.img"
stderr_contains "$data" "liblmdb faulted"
cmp "$T/data.before" "$data" || die "the failed write changed data.mdb"

step "verify names the damage"
expect_fail - 1 bs verify
grep -q 'meta/data.mdb' "$T/fail.stdout" "$T/fail.stderr" || die "verify did not name data.mdb"
