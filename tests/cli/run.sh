#!/usr/bin/env bash
# run.sh TEST.sh - run one CLI expected-output test (zstd's tests/cli-tests).
#
# TEST.sh runs in a fresh temporary directory with `blocksnap` on PATH (the
# binary in $BLOCKSNAP) and a private store ($BLOCKSNAP_STORE, also
# XDG_DATA_HOME and HOME point into the directory), so it never touches a
# user's store.  What it prints is compared with the files beside it:
#   TEST.stdout  expected standard output (exact; not checked if absent)
#   TEST.stderr  expected standard error (exact; not checked if absent)
#   TEST.exit    expected exit status (0 if absent)
# BLOCKSNAP_UPDATE=1 rewrites the expected files from what the run printed.
set -u

test=$1
name=${test%.sh}
: "${BLOCKSNAP:?set BLOCKSNAP to the blocksnap binary}"
bin=$(cd "$(dirname "$BLOCKSNAP")" && pwd)/$(basename "$BLOCKSNAP")
work=$(mktemp -d "${TMPDIR:-/tmp}/blocksnap-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$bin" "$work/bin/blocksnap"

rc=0
(
    cd "$work" &&
        env -u BLOCKSNAP_DEBUG -u BLOCKSNAP_PROFILE -u BLOCKSNAP_REGION -u BLOCKSNAP_CONFIG_FILE \
            -u BLOCKSNAP_SHARED_CREDENTIALS_FILE -u XDG_CONFIG_HOME PATH="$work/bin:$PATH" HOME="$work" XDG_DATA_HOME="$work/xdg" \
            BLOCKSNAP_STORE="$work/store" SOURCE_DIR="${SOURCE_DIR:-}" LC_ALL=C \
            bash "$test" >"$work/out" 2>"$work/err"
) || rc=$?

if [ "${BLOCKSNAP_UPDATE:-0}" = 1 ]; then
    cp "$work/out" "$name.stdout"
    cp "$work/err" "$name.stderr"
    if [ "$rc" -ne 0 ]; then echo "$rc" >"$name.exit"; else rm -f "$name.exit"; fi
    echo "updated $(basename "$name")"
    exit 0
fi

ok=1
want_rc=0
[ -f "$name.exit" ] && want_rc=$(cat "$name.exit")
if [ "$rc" != "$want_rc" ]; then
    echo "exit status $rc, expected $want_rc"
    ok=0
fi
for stream in stdout stderr; do
    got=$work/out
    [ $stream = stderr ] && got=$work/err
    if [ -f "$name.$stream" ] && ! diff -u "$name.$stream" "$got" >"$work/diff"; then
        echo "$stream differs from $(basename "$name").$stream:"
        cat "$work/diff"
        ok=0
    fi
done
if [ $ok = 1 ]; then
    echo "PASS: $(basename "$name")"
    exit 0
fi
echo "--- stderr of the run:"
cat "$work/err"
exit 1
