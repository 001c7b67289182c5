#!/usr/bin/env bash
# A volume that grew or shrank between snapshots: each snapshot records the
# new size, restores to exactly that size and content, diff covers the
# size change, and nothing of the older snapshots is disturbed.  Sizes that
# are not a multiple of the chunk size are included.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

chunk=$(store_field ChunkSize)

step "64 MiB volume"
head -c $((20 << 20)) /dev/urandom >"$T/vol.img"
truncate -s 64M "$T/vol.img"
cp --sparse=always "$T/vol.img" "$T/v1"
snap1=$(snapshot_create "$T/vol.img")

step "grown to 100 MiB + 12345 bytes, with data in the new part"
truncate -s $(((100 << 20) + 12345)) "$T/vol.img"
dd if=/dev/urandom of="$T/vol.img" bs=4096 seek=$(((80 << 20) / 4096)) count=100 conv=notrunc status=none
printf 'the very last bytes' | dd of="$T/vol.img" bs=1 seek=$(((100 << 20) + 12345 - 19)) conv=notrunc status=none
assert_eq "$(stat -c %s "$T/vol.img")" $(((100 << 20) + 12345)) "grown size"
cp --sparse=always "$T/vol.img" "$T/v2"
snap2=$(snapshot_create "$T/vol.img")
restore "$snap2" "$T/r2"
assert_eq "$(stat -c %s "$T/r2")" $(((100 << 20) + 12345)) "restored size after growth"
assert_same_file "$T/v2" "$T/r2" "restore after growth"
changed_ranges "$T/v1" "$T/v2" "$chunk" >"$T/want12"
diff_ranges "$snap1" "$snap2" >"$T/d12"
diff -u "$T/want12" "$T/d12" || die "diff across growth"

step "shrunk to 40 MiB - 1000 bytes"
truncate -s $(((40 << 20) - 1000)) "$T/vol.img"
cp --sparse=always "$T/vol.img" "$T/v3"
snap3=$(snapshot_create "$T/vol.img")
restore "$snap3" "$T/r3"
assert_eq "$(stat -c %s "$T/r3")" $(((40 << 20) - 1000)) "restored size after shrinking"
assert_same_file "$T/v3" "$T/r3" "restore after shrinking"
changed_ranges "$T/v2" "$T/v3" "$chunk" >"$T/want23"
diff_ranges "$snap2" "$snap3" >"$T/d23"
diff -u "$T/want23" "$T/d23" || die "diff across shrinking"

step "the older snapshots are untouched"
restore "$snap1" "$T/r1"
assert_same_file "$T/v1" "$T/r1" "first snapshot after resizes"
restore "$snap2" "$T/r2"
assert_same_file "$T/v2" "$T/r2" "second snapshot after resizes"

step "a changed-block range past the new end is refused"
store_state >"$T/state.before"
printf '%d %d\n' $((60 << 20)) "$chunk" >"$T/past-end.txt"
rc=0
bs create-snapshot --volume "$T/vol.img" --changed-blocks "$T/past-end.txt" >/dev/null 2>"$T/err" || rc=$?
cat "$T/err"
[ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || die "range past the end: exit $rc"
grep -q '^blocksnap: error: ' "$T/err" || die "no error line"
assert_store_unchanged "$T/state.before"

step "a changed-block snapshot of a volume that shrank takes the new size"
truncate -s $((32 << 20)) "$T/vol.img"
cp --sparse=always "$T/vol.img" "$T/v4"
printf '0 %d\n' "$chunk" >"$T/first.txt"
snap4=$(snapshot_create "$T/vol.img" --changed-blocks "$T/first.txt")
restore "$snap4" "$T/r4"
assert_eq "$(stat -c %s "$T/r4")" $((32 << 20)) "size of a changed-block snapshot after shrinking"
assert_same_file "$T/v4" "$T/r4" "changed-block snapshot after shrinking"

step "an empty volume"
: >"$T/empty.img"
snap5=$(snapshot_create "$T/empty.img")
restore "$snap5" "$T/r5"
assert_eq "$(stat -c %s "$T/r5")" 0 "restored empty volume"

assert_verify_ok
