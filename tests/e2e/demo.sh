#!/usr/bin/env bash
# The README's first command ends in tools/demo.sh: run it as a user would,
# on the default store (here inside the test directory through
# XDG_DATA_HOME), and check that it did what it says.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires mkfs.ext4 debugfs python3 cmp

unset BLOCKSNAP_STORE
step "tools/demo.sh"
rc=0
bash "$SOURCE_DIR/tools/demo.sh" "$BLOCKSNAP" >"$T/demo.out" 2>"$T/demo.err" || rc=$?
cat "$T/demo.out"
sed 's/^/stderr: /' "$T/demo.err"
_check_sanitizer "$T/demo.err" "tools/demo.sh"
assert_eq "$rc" 0 "demo exit status"
grep -q 'cmp: identical to the image' "$T/demo.out" || die "demo did not compare the restore"

step "the demo lists the snapshots in blocksnap's own table, in 120 columns"
grep -q '^|  *DescribeSnapshots  *|$' "$T/demo.out" || die "no describe-snapshots table in the demo"
wide=$(awk '{ if (length($0) > 120) n++ } END { print n + 0 }' "$T/demo.out")
assert_eq "$wide" 0 "demo lines over 120 columns"

step "the demo used the default store"
default=$XDG_DATA_HOME/blocksnap/local
[ -f "$default/config" ] || die "no default store at $default"
STORE=$default
bs describe-snapshots >"$T/list.json"
assert_eq "$(json_get Snapshots.# "$T/list.json")" 2 "snapshots in the default store"
assert_verify_ok
