#!/usr/bin/env bash
# Changed-block lists with bad lines: each is refused with a message that
# names the file and the line, exit 1 or 2, and the store is as before.  The
# good forms (comments, blank lines, an empty list) are accepted.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

head -c $((4 << 20)) /dev/urandom >"$T/vol.img"
truncate -s 16M "$T/vol.img"
snap=$(snapshot_create "$T/vol.img")
store_state >"$T/state.before"
n=0

# bad TEXT LINE: a list with TEXT is refused, naming line LINE of its file.
bad() {
    n=$((n + 1))
    printf "%b" "$1" >"$T/list$n.txt"
    local rc=0
    bs create-snapshot --volume "$T/vol.img" --changed-blocks "$T/list$n.txt" \
        >"$T/fail.stdout" 2>"$T/fail.stderr" || rc=$?
    info "$(printf '%q' "$1") -> exit $rc: $(cat "$T/fail.stderr")"
    [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || die "list $(printf '%q' "$1"): exit $rc"
    grep -q '^blocksnap: error: ' "$T/fail.stderr" || die "no error line"
    grep -qF "list$n.txt" "$T/fail.stderr" || die "the message does not name the file"
    grep -qiE "line $2([^0-9]|\$)" "$T/fail.stderr" || die "the message does not name line $2"
}

step "bad lines"
bad 'zero\n' 1
bad '0\n' 1
bad '0 65536 7\n' 1
bad '-65536 65536\n' 1
bad '0 -1\n' 1
bad '0 0\n' 1
bad '0x10000 65536\n' 1
bad '65536 65536\n0 65536\n' 2
bad '0 131072\n65536 65536\n' 2
bad '# a comment\n\n0 65536\n0 65536\n' 4
bad '0 65536\n131072 abc\n' 2
bad '18446744073709551616 1\n' 1
bad '18446744073709551615 1\n' 1
bad '0 65536\n1e6 10\n' 2
bad '0\t65536 trailing\n' 1

step "the store is as before"
assert_store_unchanged "$T/state.before"

step "a list file that does not exist, or is a directory"
expect_fail - 1 bs create-snapshot --volume "$T/vol.img" --changed-blocks "$T/none.txt"
stderr_contains "$T/none.txt"
mkdir "$T/listdir"
rc=0
bs create-snapshot --volume "$T/vol.img" --changed-blocks "$T/listdir" >/dev/null 2>"$T/err" || rc=$?
cat "$T/err"
[ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || die "directory as a list: exit $rc"
grep -qF "$T/listdir" "$T/err" || die "the message does not name the directory"
assert_store_unchanged "$T/state.before"

step "good lists: comments, blank lines, unaligned ranges, an empty list"
dd if=/dev/urandom of="$T/vol.img" bs=1000 seek=3000 count=5 conv=notrunc status=none
printf '# changed by the test\n\n2999000 7000\n' >"$T/good.txt"
snap2=$(snapshot_create "$T/vol.img" --changed-blocks "$T/good.txt")
restore "$snap2" "$T/r2"
assert_same_file "$T/vol.img" "$T/r2" "snapshot from an unaligned changed-block list"
: >"$T/empty.txt"
snap3=$(snapshot_create "$T/vol.img" --changed-blocks "$T/empty.txt")
diff_ranges "$snap2" "$snap3" >"$T/d"
[ ! -s "$T/d" ] || die "empty list changed something"
diff_ranges "$snap" "$snap2" >"$T/d12"
[ -s "$T/d12" ] || die "unaligned list lost the change"
assert_verify_ok
