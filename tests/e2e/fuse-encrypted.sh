#!/usr/bin/env bash
# fuse-encrypted: encrypted snapshots in the FUSE view.  With the key at
# hand, an encrypted snapshot's file (and an image's device over it) reads
# byte for byte like a plain one.  Without it (the key files moved away),
# the snapshot, the device and its volumes/ and tags/ links are absent
# (ENOENT in lookups, left out of listings) while the plain snapshot stays,
# and the daemon's log says why
# once, naming the snapshot and the key's error, however often it is
# looked up.  The key put back while mounted makes it readable again.  A
# single-snapshot mount of it without its key is refused before mounting.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/fuse-functions.sh
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires cmp python3

fuse_assert_clean
KEYS=$XDG_CONFIG_HOME/blocksnap/keys

step "a plain and an encrypted snapshot, an image over the encrypted one"
head -c $((512 << 10)) /dev/urandom >"$T/plain.img"
python3 -c 'import sys; sys.stdout.write("".join("secret line %d\n" % i for i in range(60000)))' \
    >"$T/secret.img"
truncate -s 1M "$T/secret.img"
P=$(snapshot_create "$T/plain.img")
VP=$(json_get VolumeId "$T/snapshot.json")
E=$(snapshot_create "$T/secret.img" --encrypted --tags Key=kind,Value=secret)
VE=$(json_get VolumeId "$T/snapshot.json")
bs describe-snapshots --snapshot-ids "$E" >"$T/e.json"
assert_eq "$(json_get Snapshots.0.Encrypted "$T/e.json")" true "the snapshot is encrypted"
bs register-image --name secret --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$E}" >"$T/reg.json"
A=$(json_get ImageId "$T/reg.json")
[ -d "$KEYS" ] || die "no key directory at $KEYS"
mkdir "$T/mnt"

step "with the key: both read byte for byte"
fuse_mount "$T/mnt"
assert_eq "$(listing "$T/mnt/snapshots")" "$(printf '%s\n' "$P.img" "$E.img" | sort |
    tr '\n' ' ' | sed 's/ $//')" "both snapshots"
assert_same_file "$T/mnt/snapshots/$E.img" "$T/secret.img"
assert_same_file "$T/mnt/images/$A/xvda.img" "$T/secret.img"
assert_same_file "$T/mnt/snapshots/$P.img" "$T/plain.img"
assert_eq "$(listing "$T/mnt/volumes")" "$(printf '%s\n' "$VP" "$VE" | sort |
    tr '\n' ' ' | sed 's/ $//')" "both volumes"
assert_same_file "$T/mnt/volumes/$VE/latest" "$T/secret.img"
assert_same_file "$T/mnt/tags/kind/secret/$E.img" "$T/secret.img"
fuse_unmount "$T/mnt"
if grep -q "$E" "$FUSE_LOG"; then
    die "the mount with the key logged about $E: $(cat "$FUSE_LOG")"
fi

step "without the key: absent, the plain one stays, the log says why once"
mv "$KEYS" "$T/keys.away"
fuse_mount "$T/mnt"
assert_eq "$(listing "$T/mnt/snapshots")" "$P.img" "only the plain snapshot"
absent "$T/mnt/snapshots/$E.img" || die "the encrypted snapshot is not ENOENT"
absent "$T/mnt/images/$A/xvda.img" || die "the image's encrypted device is not ENOENT"
assert_eq "$(listing "$T/mnt/images/$A")" "manifest.json" "the image without its device"
assert_same_file "$T/mnt/snapshots/$P.img" "$T/plain.img"
assert_eq "$(listing "$T/mnt/volumes")" "$VP" "only the plain snapshot's volume"
absent "$T/mnt/volumes/$VE" || die "the encrypted snapshot's volume is not ENOENT"
assert_eq "$(listing "$T/mnt/tags")" "" "no tag of the encrypted snapshot"
absent "$T/mnt/tags/kind" || die "the encrypted snapshot's tag is not ENOENT"
for _ in 1 2 3; do
    ls "$T/mnt/snapshots" "$T/mnt/images/$A" "$T/mnt/volumes" "$T/mnt/tags" >/dev/null
    absent "$T/mnt/snapshots/$E.img"
done
n=$(grep -c "$E" "$FUSE_LOG" || true)
assert_eq "$n" 1 "log lines naming $E"
grep "$E" "$FUSE_LOG" | grep -q "KeyUnavailableException" ||
    die "the log line does not name the key's error: $(grep "$E" "$FUSE_LOG")"
info "log: $(grep "$E" "$FUSE_LOG")"

step "the key put back while mounted: readable again"
mv "$T/keys.away" "$KEYS"
assert_same_file "$T/mnt/snapshots/$E.img" "$T/secret.img"
assert_eq "$(listing "$T/mnt/images/$A")" "manifest.json xvda.img" "the device is back"
assert_same_file "$T/mnt/volumes/$VE/latest" "$T/secret.img"
fuse_unmount "$T/mnt"

step "a single-snapshot mount without the key is refused before mounting"
mv "$KEYS" "$T/keys.away"
expect_fail KeyUnavailableException 1 bs mount "$T/mnt" --snapshot-id "$E" --foreground
stderr_contains "$E"
! is_mounted "$T/mnt" || die "mounted although refused"
mv "$T/keys.away" "$KEYS"

fuse_assert_clean
assert_verify_ok
echo "fuse-encrypted: OK"
