#!/usr/bin/env bash
# fuse-browse: the view's volumes/ and tags/ folders.  Two volumes, one
# tagged Name=web, snapshots taken over time: volumes/web/ and
# volumes/vol-…/ hold one link per snapshot named by its start time, and
# latest links the newest; a snapshot taken while mounted shows up and
# becomes latest, a deleted one vanishes; tags/KEY/VALUE/ link the
# snapshots with that tag, with '%', '/', '.', '..', control characters and
# the empty value escaped; a shared or unsafe Name falls back to the id;
# the image files carry the snapshot's start time; another account sees
# none of it.
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

# sorted WORDS...: the words sorted, on one line (as listing prints).
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
# refresh: the kernel keeps positive entries for ENTRY_TIMEOUT (1 s).
refresh() { sleep 1.2; }

# time_name SNAP: the start time of SNAP as its volumes/ name
# (2026-12-07T10:00:00Z.img).
time_name() {
    bs describe-snapshots --snapshot-ids "$1" >"$T/d.json"
    json_get Snapshots.0.StartTime "$T/d.json" | sed -E 's/\.[0-9]+Z$/Z/; s/$/.img/'
}
# start_epoch SNAP: its start time in whole seconds since the epoch.
start_epoch() {
    bs describe-snapshots --snapshot-ids "$1" >"$T/d.json"
    date -u -d "$(json_get Snapshots.0.StartTime "$T/d.json")" +%s
}

step "two volumes, snapshots over time, one volume named web"
head -c $((256 << 10)) /dev/urandom >"$T/a.img"
head -c $((192 << 10)) /dev/urandom >"$T/b.img"
A1=$(snapshot_create "$T/a.img" --tags Key=env,Value=prod \
    Key=path,Value=a/b)
VA=$(json_get VolumeId "$T/snapshot.json")
B1=$(snapshot_create "$T/b.img" --tags Key=env,Value=..)
VB=$(json_get VolumeId "$T/snapshot.json")
sleep 1.1 # a later second: names to the second
head -c 4096 /dev/urandom | dd of="$T/a.img" conv=notrunc status=none
A2=$(snapshot_create "$T/a.img" --tags Key=env,Value=prod)
bs create-tags --resources "$A2" --tags "Key=ctl,Value=$(printf 'a\tb')" Key=e,Value= \
    Key=100%,Value=.
bs create-tags --resources "$VA" --tags Key=Name,Value=web
NA1=$(time_name "$A1")
NA2=$(time_name "$A2")
NB1=$(time_name "$B1")
mkdir "$T/mnt"
fuse_mount "$T/mnt"

step "the root and volumes/"
assert_eq "$(listing "$T/mnt")" "images snapshots tags volumes" "the root"
assert_eq "$(listing "$T/mnt/volumes")" "$(sorted "$VB" web)" "a folder per volume: web by its Name"
assert_eq "$(listing "$T/mnt/volumes/web")" "$NA1 $NA2 latest" "web's snapshots by start time"
assert_eq "$(listing "$T/mnt/volumes/$VB")" "$NB1 latest" "the unnamed volume by id"
assert_eq "$(readlink "$T/mnt/volumes/web/$NA1")" "../../snapshots/$A1.img" "a time link"
assert_eq "$(readlink "$T/mnt/volumes/web/latest")" "$NA2" "latest: the newest"
assert_same_file "$T/mnt/volumes/web/latest" "$T/a.img"
assert_same_file "$T/mnt/volumes/$VB/latest" "$T/b.img"
absent "$T/mnt/volumes/$VA" || die "a named volume shows under its id too"

step "the image files carry the snapshot's start time"
assert_eq "$(stat -c %Y "$T/mnt/snapshots/$A1.img")" "$(start_epoch "$A1")" "mtime of $A1.img"
assert_eq "$(stat -c %Z "$T/mnt/snapshots/$A2.img")" "$(start_epoch "$A2")" "ctime of $A2.img"
assert_eq "$(stat -L -c %Y "$T/mnt/volumes/web/latest")" "$(start_epoch "$A2")" "through latest"

step "tags/: a folder per key and value, '/' and '..' escaped"
assert_eq "$(listing "$T/mnt/tags")" "$(sorted 100%25 ctl e env path)" "the keys ('%' escaped)"
assert_eq "$(listing "$T/mnt/tags/env")" "%2E%2E prod" "env's values ('..' escaped)"
assert_eq "$(listing "$T/mnt/tags/env/prod")" "$(sorted "$A1.img" "$A2.img")" "env=prod"
assert_eq "$(listing "$T/mnt/tags/path")" "a%2Fb" "'/' escaped"
assert_eq "$(listing "$T/mnt/tags/ctl")" "a%09b" "a control character escaped"
assert_eq "$(listing "$T/mnt/tags/e")" "%" "the empty value: a lone %"
assert_eq "$(listing "$T/mnt/tags/100%25")" "%2E" "'.' escaped"
assert_eq "$(readlink "$T/mnt/tags/e/%/$A2.img")" "../../../snapshots/$A2.img" "under the empty value"
assert_eq "$(readlink "$T/mnt/tags/path/a%2Fb/$A1.img")" "../../../snapshots/$A1.img" "a tag link"
assert_same_file "$T/mnt/tags/env/%2E%2E/$B1.img" "$T/b.img"
absent "$T/mnt/tags/env/prod/$B1.img" || die "a snapshot under another value"
absent "$T/mnt/tags/Name" || die "a volume's tag shows as a snapshot's"

step "a snapshot taken while mounted shows up and becomes latest"
sleep 1.1
head -c 4096 /dev/urandom | dd of="$T/a.img" conv=notrunc status=none
A3=$(snapshot_create "$T/a.img" --tags Key=env,Value=prod)
NA3=$(time_name "$A3")
refresh
assert_eq "$(listing "$T/mnt/volumes/web")" "$NA1 $NA2 $NA3 latest" "the new one listed"
assert_eq "$(readlink "$T/mnt/volumes/web/latest")" "$NA3" "latest: the new one"
assert_same_file "$T/mnt/volumes/web/latest" "$T/a.img"
ls "$T/mnt/tags/env/prod" | grep -qx "$A3.img" || die "the new one is not under env=prod"

step "a deleted snapshot vanishes; a volume with none left, too"
bs delete-snapshot --snapshot-id "$A3" >/dev/null
bs delete-snapshot --snapshot-id "$B1" >/dev/null
refresh
assert_eq "$(listing "$T/mnt/volumes/web")" "$NA1 $NA2 latest" "the deleted one gone"
assert_eq "$(readlink "$T/mnt/volumes/web/latest")" "$NA2" "latest: back to the newest left"
absent "$T/mnt/volumes/web/$NA3" || die "the deleted snapshot's link is still there"
assert_eq "$(listing "$T/mnt/volumes")" "web" "the empty volume gone"
absent "$T/mnt/volumes/$VB" || die "a volume without snapshots is still there"
assert_eq "$(listing "$T/mnt/tags/env")" "prod" "the value only B1 had gone"
absent "$T/mnt/tags/env/prod/$A3.img" || die "the deleted one is still under its tag"

step "a Name two volumes share, or one unsafe as a file name: the id"
bs create-tags --resources "$VB" --tags Key=Name,Value=web
B2=$(snapshot_create "$T/b.img")
refresh
assert_eq "$(listing "$T/mnt/volumes")" "$(sorted "$VA" "$VB")" "both by id"
bs create-tags --resources "$VB" --tags Key=Name,Value=a/b
bs create-tags --resources "$VA" --tags Key=Name,Value=..
refresh
assert_eq "$(listing "$T/mnt/volumes")" "$(sorted "$VA" "$VB")" "unsafe names: by id"
bs delete-tags --resources "$VA" "$VB" --tags Key=Name
refresh
fuse_unmount "$T/mnt"

step "another account sees none of it; a shared snapshot, under its volume id and no tag"
fuse_mount "$T/mnt" --profile ops
assert_eq "$(listing "$T/mnt/volumes")" "" "no volume"
assert_eq "$(listing "$T/mnt/tags")" "" "no tag"
absent "$T/mnt/volumes/$VA" || die "another account's volume"
absent "$T/mnt/tags/env" || die "another account's tag"
bs modify-snapshot-attribute --snapshot-id "$B2" --attribute createVolumePermission \
    --operation-type add --user-ids $OTHER
assert_eq "$(listing "$T/mnt/volumes")" "$VB" "the shared snapshot's volume"
assert_eq "$(listing "$T/mnt/volumes/$VB")" "$(time_name "$B2") latest" "the shared snapshot"
assert_same_file "$T/mnt/volumes/$VB/latest" "$T/b.img"
assert_eq "$(listing "$T/mnt/tags")" "" "no tag of another's"
fuse_unmount "$T/mnt"
fuse_assert_clean
