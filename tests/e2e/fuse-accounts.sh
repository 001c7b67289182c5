#!/usr/bin/env bash
# fuse-accounts: the view is the mounting profile's account's.  Two
# profiles of two accounts on one store: mounted as the owner, every
# snapshot and image shows; mounted as the other account, nothing does
# (another's snapshot is absent, ENOENT, and the log names none of it).
# While that mount stays up, a create-volume permission makes exactly the
# shared snapshot appear, readable byte for byte; a launch permission makes
# the image appear, with the devices whose snapshots the account may read;
# the group all (public) counts too; removing the permissions makes them
# vanish again within the kernel's entry timeout.  A single-snapshot mount
# of another's snapshot is refused before anything is mounted.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
# shellcheck source=../lib/fuse-functions.sh
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires cmp python3

unset BLOCKSNAP_STORE
OWNER=123456789012
OTHER=111122223333
account_profiles $OWNER ops=$OTHER
STORE=$XDG_DATA_HOME/blocksnap/local
fuse_assert_clean

# shown_after_refresh: the kernel keeps positive entries for ENTRY_TIMEOUT
# (1 s); a permission removed is gone for every lookup after that.
shown_after_refresh() { sleep 1.2; }

step "the owner snapshots two volumes and registers an image of the second"
head -c $((384 << 10)) /dev/urandom >"$T/a.img"
head -c $((256 << 10)) /dev/urandom >"$T/b.img"
SA=$(snapshot_create "$T/a.img")
SB=$(snapshot_create "$T/b.img")
bs register-image --name web --no-boot-check \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$SB}" >"$T/reg.json"
A=$(json_get ImageId "$T/reg.json")
mkdir "$T/mnt"

step "mounted as the owner: everything shows"
fuse_mount "$T/mnt"
assert_eq "$(listing "$T/mnt/snapshots")" "$(printf '%s\n' "$SA.img" "$SB.img" | sort |
    tr '\n' ' ' | sed 's/ $//')" "the owner's snapshots"
assert_eq "$(listing "$T/mnt/images")" "$A by-name" "the owner's image"
assert_same_file "$T/mnt/images/$A/xvda.img" "$T/b.img"
fuse_unmount "$T/mnt"

step "mounted as the other account: nothing shows"
fuse_mount "$T/mnt" --profile ops
assert_eq "$(listing "$T/mnt/snapshots")" "" "no snapshot"
assert_eq "$(listing "$T/mnt/images")" "by-name" "no image"
assert_eq "$(listing "$T/mnt/images/by-name")" "" "no image name"
absent "$T/mnt/snapshots/$SA.img" || die "another account's snapshot is not ENOENT"
absent "$T/mnt/images/$A" || die "another account's image is not ENOENT"
absent "$T/mnt/images/by-name/web" || die "another account's image name is not ENOENT"

step "a create-volume permission shows exactly that snapshot, byte for byte"
bs modify-snapshot-attribute --snapshot-id "$SA" --attribute createVolumePermission \
    --operation-type add --user-ids $OTHER
assert_eq "$(listing "$T/mnt/snapshots")" "$SA.img" "only the shared snapshot"
assert_same_file "$T/mnt/snapshots/$SA.img" "$T/a.img"
absent "$T/mnt/snapshots/$SB.img" || die "the unshared snapshot shows"

step "a launch permission shows the image; its device once its snapshot is readable"
bs modify-image-attribute --image-id "$A" --launch-permission "Add=[{UserId=$OTHER}]"
assert_eq "$(listing "$T/mnt/images")" "$A by-name" "the shared image"
assert_eq "$(readlink "$T/mnt/images/by-name/web")" "../$A" "its name"
assert_eq "$(listing "$T/mnt/images/$A")" "manifest.json" "no device: its snapshot is not shared"
absent "$T/mnt/images/$A/xvda.img" || die "a device whose snapshot is not shared shows"
assert_eq "$(json_get ImageId "$T/mnt/images/$A/manifest.json")" "$A" "the manifest"
python3 -c 'import json,sys; sys.exit("Tags" in json.load(open(sys.argv[1])))' \
    "$T/mnt/images/$A/manifest.json" || die "the manifest shows the owner's tags"
bs modify-snapshot-attribute --snapshot-id "$SB" --attribute createVolumePermission \
    --operation-type add --user-ids $OTHER
assert_eq "$(listing "$T/mnt/images/$A")" "manifest.json xvda.img" "the device"
assert_same_file "$T/mnt/images/$A/xvda.img" "$T/b.img"

step "the permissions removed: gone again"
bs modify-snapshot-attribute --snapshot-id "$SA" --attribute createVolumePermission \
    --operation-type remove --user-ids $OTHER
bs reset-snapshot-attribute --snapshot-id "$SB" --attribute createVolumePermission
bs reset-image-attribute --image-id "$A" --attribute launchPermission
shown_after_refresh
assert_eq "$(listing "$T/mnt/snapshots")" "" "no snapshot after the removal"
assert_eq "$(listing "$T/mnt/images")" "by-name" "no image after the reset"
absent "$T/mnt/snapshots/$SA.img" || die "an unshared snapshot is not ENOENT"
absent "$T/mnt/images/$A/xvda.img" || die "an unshared image's device is not ENOENT"

step "public (the group all) counts, and its removal too"
bs modify-snapshot-attribute --snapshot-id "$SA" --attribute createVolumePermission \
    --operation-type add --group-names all
assert_same_file "$T/mnt/snapshots/$SA.img" "$T/a.img"
bs modify-snapshot-attribute --snapshot-id "$SA" --attribute createVolumePermission \
    --operation-type remove --group-names all
shown_after_refresh
absent "$T/mnt/snapshots/$SA.img" || die "a snapshot no longer public is not ENOENT"
fuse_unmount "$T/mnt"
# Absent is not an error: the daemon logged nothing, and named nothing of
# the owner's.
if grep -E "snap-|ami-|error" "$FUSE_LOG"; then
    die "the other account's mount logged the above"
fi

step "a single-snapshot mount of another's snapshot is refused before mounting"
expect_fail InvalidSnapshot.NotFound 1 bs --profile ops mount "$T/mnt" --snapshot-id "$SB" \
    --foreground
! is_mounted "$T/mnt" || die "mounted although refused"

fuse_assert_clean
assert_verify_ok
echo "fuse-accounts: OK"
