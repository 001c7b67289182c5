#!/usr/bin/env bash
# Bad volumes: missing, unreadable, a directory, a FIFO.  Each fails with a
# message naming the path, exit 1, and leaves the store as it was.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 timeout

head -c $((2 << 20)) /dev/urandom >"$T/good.img"
snap=$(snapshot_create "$T/good.img")
store_state >"$T/state.before"

step "a volume that does not exist"
expect_fail InvalidVolume.NotFound 1 bs create-snapshot --volume "$T/missing.img"
stderr_contains "$T/missing.img"
assert_store_unchanged "$T/state.before"

step "a volume id that does not exist"
expect_fail InvalidVolume.NotFound 1 bs create-snapshot --volume-id vol-0123456789abcdef0
stderr_contains vol-0123456789abcdef0
expect_fail InvalidVolumeID.Malformed 1 bs create-snapshot --volume-id volume-1
assert_store_unchanged "$T/state.before"

step "a volume that cannot be read (mode 000)"
head -c 100000 /dev/urandom >"$T/secret.img"
chmod 000 "$T/secret.img"
if [ "$(id -u)" -ne 0 ]; then
    expect_fail - 1 bs create-snapshot --volume "$T/secret.img"
    stderr_contains "$T/secret.img"
elif command -v setpriv >/dev/null &&
    setpriv --bounding-set=-dac_override,-dac_read_search true 2>/dev/null; then
    # root reads any file: drop the capabilities that let it
    rc=0
    setpriv --bounding-set=-dac_override,-dac_read_search \
        "$BLOCKSNAP" --store "$STORE" create-snapshot --volume "$T/secret.img" \
        >"$T/fail.stdout" 2>"$T/fail.stderr" || rc=$?
    cat "$T/fail.stderr"
    _check_sanitizer "$T/fail.stderr" "create-snapshot of an unreadable volume"
    assert_eq "$rc" 1 "exit status for an unreadable volume"
    grep -q '^blocksnap: error: ' "$T/fail.stderr" || die "no error line"
    stderr_contains "$T/secret.img"
else
    info "root without setpriv: the mode-000 case is covered by the cases below"
fi
chmod 600 "$T/secret.img"
assert_store_unchanged "$T/state.before"

step "a directory as the volume"
mkdir "$T/dir.img"
expect_fail - 1 bs create-snapshot --volume "$T/dir.img"
stderr_contains "$T/dir.img"
assert_store_unchanged "$T/state.before"

step "a FIFO as the volume (refused at once, never waits for a writer)"
mkfifo "$T/fifo.img"
rc=0
timeout 60 "$BLOCKSNAP" --store "$STORE" create-snapshot --volume "$T/fifo.img" \
    >"$T/fail.stdout" 2>"$T/fail.stderr" </dev/null || rc=$?
cat "$T/fail.stderr"
_check_sanitizer "$T/fail.stderr" "create-snapshot of a FIFO"
[ "$rc" -ne 124 ] || die "create-snapshot of a FIFO hangs"
assert_eq "$rc" 1 "exit status for a FIFO"
stderr_contains "$T/fifo.img"
assert_store_unchanged "$T/state.before"

step "a missing --volume is a usage error"
expect_fail - 2 bs create-snapshot
expect_fail - 2 bs create-snapshot --volume
assert_store_unchanged "$T/state.before"

step "restore onto an existing file needs --force"
echo keep >"$T/exists.img"
expect_fail - 1 bs create-volume --snapshot-id "$snap" --path "$T/exists.img"
assert_eq "$(cat "$T/exists.img")" keep "an existing file was overwritten without --force"
expect_fail - 1 bs create-volume --snapshot-id "$snap" --path "$T/no/such/dir/x.img"
assert_store_unchanged "$T/state.before"
