#!/usr/bin/env bash
# What create-snapshot reads, whatever kind of file it is given.  A
# changed-block list from a pipe (/dev/stdin), a shell's <(...) or a FIFO is
# read to its end: the snapshot reads the listed ranges and restores to the
# volume (a list read as empty used to give a "completed" snapshot that
# missed the changes).  A list made by `diff A B` is taken only against
# parent A (or a snapshot of A's contents): the README's old tour, which fed
# it to a volume whose last snapshot was B, is refused and leaves the store
# as it was.  --cli-input-json file:// reads a pipe too, and a volume that
# is a character device is refused.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp mkfifo

chunk=65536
head -c $((4 << 20)) /dev/urandom >"$T/vol.img"
truncate -s 16M "$T/vol.img"
snapA=$(snapshot_create "$T/vol.img")

# change_chunk N: new random bytes in chunk N of the volume.
change_chunk() {
    dd if=/dev/urandom of="$T/vol.img" bs=$chunk seek="$1" count=1 conv=notrunc status=none
}

# check_taken JSON: the snapshot in JSON read the one listed chunk and
# restores to the volume.
check_taken() {
    local id
    id=$(json_get SnapshotId "$1")
    restore "$id" "$T/restored.img"
    assert_same_file "$T/vol.img" "$T/restored.img" "snapshot from a list read from $2"
    rm -f "$T/restored.img"
    echo "$id"
}

step "a list on /dev/stdin"
change_chunk 10
echo "$((10 * chunk)) $chunk" |
    bs create-snapshot --volume "$T/vol.img" --changed-blocks /dev/stdin 2>"$T/err" >"$T/s.json"
grep -q "read 64.0 KiB" "$T/err" || die "the snapshot did not read the listed chunk: $(cat "$T/err")"
s1=$(check_taken "$T/s.json" /dev/stdin)

step "a list from process substitution"
change_chunk 20
bs create-snapshot --volume "$T/vol.img" \
    --changed-blocks <(echo "$((20 * chunk)) $chunk") 2>"$T/err" >"$T/s.json"
grep -q "read 64.0 KiB" "$T/err" || die "the snapshot did not read the listed chunk: $(cat "$T/err")"
s2=$(check_taken "$T/s.json" "<(...)")

step "a list from a FIFO"
change_chunk 30
mkfifo "$T/list.fifo"
echo "$((30 * chunk)) $chunk" >"$T/list.fifo" &
writer=$!
on_cleanup_pid "$writer"
bs create-snapshot --volume "$T/vol.img" --changed-blocks "$T/list.fifo" 2>"$T/err" >"$T/s.json"
wait "$writer"
grep -q "read 64.0 KiB" "$T/err" || die "the snapshot did not read the listed chunk: $(cat "$T/err")"
s3=$(check_taken "$T/s.json" "a FIFO")

step "a diff's list against another parent is refused (the old README tour)"
# The tour: diff A B > ranges.txt, then snapshot the volume with it.  The
# volume's last snapshot is B and it changed after B: the list misses that.
snapB=$s3
change_chunk 40
diff_ranges "$s1" "$snapB" >/dev/null
bs diff "$s1" "$snapB" >"$T/ranges.txt"
head -n 1 "$T/ranges.txt" | grep -qx "# blocksnap diff $s1 $snapB" || die "no header in the diff"
store_state >"$T/state.before"
bytes_before=$(store_bytes)
expect_fail InvalidParameterCombination 1 \
    bs create-snapshot --volume "$T/vol.img" --changed-blocks "$T/ranges.txt"
stderr_contains "$s1"
stderr_contains "$snapB"
expect_fail InvalidParameterCombination 1 \
    bs create-snapshot --volume "$T/vol.img" --changed-blocks <(bs diff "$s1" "$snapB")
expect_fail InvalidParameterCombination 1 \
    bs create-snapshot --volume "$T/vol.img" --changed-blocks <(bs diff "$snapB")
assert_store_unchanged "$T/state.before"
assert_eq "$(store_bytes)" "$bytes_before" "PackBytes after the refusals"

step "a diff's list against its own base is taken"
# A copy restored from A (its parent is A), brought to B's contents by
# writing only the ranges of diff A B: the list is exactly what changed.
restore "$snapA" "$T/copy.img"
restore "$snapB" "$T/b.img"
diff_ranges "$snapA" "$snapB" >"$T/ab"
while read -r off len; do
    dd if="$T/b.img" of="$T/copy.img" bs=$chunk skip=$((off / chunk)) seek=$((off / chunk)) \
        count=$((len / chunk)) conv=notrunc status=none
done <"$T/ab"
cmp "$T/copy.img" "$T/b.img" || die "the copy is not at B"
bs create-snapshot --volume "$T/copy.img" --changed-blocks <(bs diff "$snapA" "$snapB") \
    --quiet >"$T/s.json"
sc=$(json_get SnapshotId "$T/s.json")
restore "$sc" "$T/rc.img"
assert_same_file "$T/b.img" "$T/rc.img" "snapshot of the copy from diff A B"
assert_eq "$(diff_ranges "$snapB" "$sc")" "" "diff of B and the copy's snapshot"

step "--cli-input-json file:// from a pipe; a directory is a read error"
expect_fail - 1 bs register-image --cli-input-json "file://$T"
stderr_contains "$T"
grep -qi "directory" "$T/fail.stderr" || die "the message does not say it is a directory"
echo '{"Name": "from-a-pipe", "RootDeviceName": "/dev/xvda"}' |
    bs register-image --cli-input-json file:///dev/stdin \
        --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$sc}" \
        --no-boot-check >"$T/img.json"
img=$(json_get ImageId "$T/img.json")
bs describe-images --image-ids "$img" | json_get Images.0.Name >"$T/name"
assert_eq "$(cat "$T/name")" from-a-pipe "image name read from a pipe"

step "a character device as the volume is refused"
store_state >"$T/state.before"
expect_fail InvalidParameterValue 1 bs create-snapshot --volume /dev/zero
stderr_contains "not a regular file or a block device"
assert_store_unchanged "$T/state.before"

assert_verify_ok
