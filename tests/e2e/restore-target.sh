#!/usr/bin/env bash
# Where create-volume may write.  Refused before anything is written, even
# with --force, exit 1 (2 for an empty --path) and the store as it was:
# a path inside the store (by its own name, through a symlinked directory,
# a symlink at the path), a directory, a path ending in '/', a FIFO, a
# socket, a character device.  Anything at the path, a dangling symlink
# too, needs --force.  A new file gets 0666 less the umask; --force keeps
# the mode of the file it replaces.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp timeout

head -c $((1 << 20)) /dev/urandom >"$T/v.img"
truncate -s 3M "$T/v.img"
snap=$(snapshot_create "$T/v.img")
store_state >"$T/state.before"

# refused CODE EXIT PATH [ARGS...]: create-volume to PATH fails so, within a
# minute (a FIFO must not block it).
refused() {
    local code=$1 want=$2 path=$3
    shift 3
    expect_fail "$code" "$want" timeout 60 "$BLOCKSNAP" --store "$STORE" create-volume \
        --snapshot-id "$snap" --path "$path" --quiet "$@"
    _check_sanitizer "$T/fail.stderr" "create-volume --path $path $*"
}

# no_temporary_files DIR: nothing a restore would have left behind.
no_temporary_files() {
    [ -z "$(find "$1" -name '.*.blocksnap-*')" ] || die "temporary files left in $1"
}

step "a path inside the store is refused, --force or not, and the store is intact"
pack=$(find "$STORE/packs" -name '*.pack' | head -n 1)
[ -n "$pack" ] || die "no pack file in the store"
cp "$pack" "$T/pack.copy"
ln -s "$STORE/packs" "$T/packs-link"
ln -s "$pack" "$T/pack-link.img"
for p in "$pack" "$STORE/packs/new.img" "$STORE/config" "$STORE/x.img" \
    "$T/packs-link/$(basename "$pack")" "$T/pack-link.img"; do
    refused InvalidParameterValue 1 "$p" --force
    stderr_contains "inside the store"
    refused InvalidParameterValue 1 "$p"
done
cmp "$pack" "$T/pack.copy" || die "a pack file changed"
no_temporary_files "$STORE"
[ -L "$T/pack-link.img" ] || die "the symlink into the store was replaced"
assert_store_unchanged "$T/state.before"

step "an empty --path is a usage error"
refused InvalidParameterValue 2 "" --force
stderr_contains "--path"
assert_store_unchanged "$T/state.before"

step "directories are refused, and nothing is left in them"
mkdir "$T/dir"
ln -s dir "$T/dir-link"
for p in "$T/dir" "$T/dir-link" "$T/dir/" "$T/new/"; do
    refused InvalidParameterValue 1 "$p" --force
    stderr_contains directory
done
[ -z "$(ls -A "$T/dir")" ] || die "the restore wrote into the directory"
no_temporary_files "$T"
assert_store_unchanged "$T/state.before"

step "a FIFO and a socket are refused at once, and stay what they are"
mkfifo "$T/fifo"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/sock"
for p in fifo sock; do
    refused InvalidParameterValue 1 "$T/$p" --force
    refused InvalidParameterValue 1 "$T/$p"
done
[ -p "$T/fifo" ] || die "the FIFO was replaced"
[ -S "$T/sock" ] || die "the socket was replaced"
if [ "$(id -u)" -eq 0 ]; then
    mknod "$T/null" c 1 3
    refused InvalidParameterValue 1 "$T/null" --force
    stderr_contains "character device"
    [ -c "$T/null" ] || die "the character device was replaced"
fi
no_temporary_files "$T"
assert_store_unchanged "$T/state.before"

step "a dangling symlink needs --force, and then the link is replaced, not followed"
ln -s "$T/nowhere.img" "$T/dangling.img"
refused InvalidParameterValue 1 "$T/dangling.img"
stderr_contains "--force" "symbolic link"
[ -L "$T/dangling.img" ] || die "the dangling symlink was replaced without --force"
assert_store_unchanged "$T/state.before"
restore "$snap" "$T/dangling.img"
[ ! -L "$T/dangling.img" ] && [ -f "$T/dangling.img" ] || die "the link was not replaced"
[ ! -e "$T/nowhere.img" ] || die "the link was followed"
cmp "$T/v.img" "$T/dangling.img" || die "restore over a dangling link differs"

step "modes: 0666 less the umask for a new file; --force keeps the replaced file's"
for mask in 022 027 077; do
    rm -f "$T/m.img"
    (umask "$mask" && bs create-volume --snapshot-id "$snap" --path "$T/m.img" --quiet >/dev/null)
    want=$(printf '%o' $((0666 & ~8#$mask)))
    assert_eq "$(stat -c %a "$T/m.img")" "$want" "mode of a file restored under umask $mask"
done
echo private >"$T/private.img"
chmod 600 "$T/private.img"
(umask 022 && restore "$snap" "$T/private.img")
assert_eq "$(stat -c %a "$T/private.img")" 600 "mode after --force over a 0600 file"
cmp "$T/v.img" "$T/private.img" || die "restore over the private file differs"
chmod 750 "$T/private.img"
(umask 077 && restore "$snap" "$T/private.img")
assert_eq "$(stat -c %a "$T/private.img")" 750 "mode after --force over a 0750 file"

assert_verify_ok
