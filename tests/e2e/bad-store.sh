#!/usr/bin/env bash
# Store paths that are not stores are refused and left untouched; a store of
# a newer format version is refused with a clear message and works again once
# the version is back.  Store selection: --store, --region, $BLOCKSNAP_STORE
# and the default, all kept inside the test directory.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

head -c $((1 << 20)) /dev/urandom >"$T/a.img"

# at DIR ARGS...: blocksnap on another store directory.
at() {
    local dir=$1
    shift
    STORE=$dir bs "$@"
}

step "a regular file as the store"
echo "not a store" >"$T/file-store"
expect_fail - 1 at "$T/file-store" describe-snapshots
stderr_contains "$T/file-store"
grep -q '(Store\.\(Invalid\|NotFound\))' "$T/fail.stderr" || die "expected Store.Invalid"
assert_eq "$(cat "$T/file-store")" "not a store" "the file was changed"

step "a non-empty directory that is not a store"
mkdir -p "$T/home/docs"
echo "precious" >"$T/home/docs/letter.txt"
(cd "$T/home" && find . | sort) >"$T/home.before"
expect_fail Store.Invalid 1 at "$T/home" create-snapshot --volume "$T/a.img"
stderr_contains "$T/home"
(cd "$T/home" && find . | sort) >"$T/home.after"
diff -u "$T/home.before" "$T/home.after" || die "the directory was changed"

step "a store of a newer format"
snap=$(snapshot_create "$T/a.img")
store_state >"$T/state.before"
grep -q '^format ' "$STORE/config" || die "no 'format' line in $STORE/config: $(cat "$STORE/config")"
cp "$STORE/config" "$T/config.orig"
sed -i 's/^format .*/format 999/' "$STORE/config"
for verb in describe-snapshots describe-store verify gc; do
    expect_fail Store.UnsupportedVersion 1 bs "$verb"
    stderr_contains 999 "$STORE"
done
expect_fail Store.UnsupportedVersion 1 bs create-snapshot --volume "$T/a.img"
cmp "$STORE/config" <(sed 's/^format .*/format 999/' "$T/config.orig") || die "config was rewritten"
cp "$T/config.orig" "$STORE/config"
assert_store_unchanged "$T/state.before"
restore "$snap" "$T/r.img"
assert_same_file "$T/a.img" "$T/r.img" "restore after the version check"
store_state >"$T/state.before" # the restore recorded a volume

step "a store whose config is damaged"
cp "$T/config.orig" "$STORE/config"
sed -i '/^format /d' "$STORE/config"
expect_fail Store.Invalid 1 bs describe-snapshots
cp "$T/config.orig" "$STORE/config"
assert_store_unchanged "$T/state.before"

step "store selection: \$BLOCKSNAP_STORE, --region and the default"
# a verb that only reads creates no store; one that writes (gc) does
expect_fail Store.NotFound 1 "$BLOCKSNAP" --region eu-test-1 describe-store
[ ! -e "$XDG_DATA_HOME/blocksnap/eu-test-1" ] || die "describe-store created a store"
BLOCKSNAP_STORE=$T/env-store "$BLOCKSNAP" gc >/dev/null
[ -f "$T/env-store/config" ] || die "\$BLOCKSNAP_STORE was not used"
"$BLOCKSNAP" --region eu-test-1 gc >/dev/null
"$BLOCKSNAP" --region eu-test-1 describe-store >"$T/region.json"
[ -f "$XDG_DATA_HOME/blocksnap/eu-test-1/config" ] || die "--region did not use \$XDG_DATA_HOME/blocksnap/eu-test-1"
assert_eq "$(json_get Region "$T/region.json")" eu-test-1 "region of a --region store"
# the region is what the config holds, never the directory's name
"$BLOCKSNAP" --store "$T/us-east-9" gc >/dev/null
"$BLOCKSNAP" --store "$T/us-east-9" describe-store >"$T/dir.json"
assert_eq "$(json_get Region "$T/dir.json")" local "region of a new --store store"
mv "$XDG_DATA_HOME/blocksnap/eu-test-1" "$T/moved"
"$BLOCKSNAP" --store "$T/moved" describe-store >"$T/moved.json"
assert_eq "$(json_get Region "$T/moved.json")" eu-test-1 "region of a moved store"
(
    unset BLOCKSNAP_STORE
    "$BLOCKSNAP" gc >/dev/null
)
[ -f "$XDG_DATA_HOME/blocksnap/local/config" ] || die "the default store is not \$XDG_DATA_HOME/blocksnap/local"
expect_fail InvalidParameterValue 1 "$BLOCKSNAP" --region 'Bad_Region!' describe-store
stderr_contains 'Bad_Region!'
