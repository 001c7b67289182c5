#!/usr/bin/env bash
# crash-cow-volume: create-volume of a writable volume (plain and
# --encrypted) killed at every passage of each of its kill points (the
# overlay made, the seal file, the map written, before the record's commit,
# every metadata commit): after each kill the store verifies clean and
# the volumes that exist open and read as their snapshot.  The files the
# kills left (no record names them) stay while younger than gc's grace
# period; once older, gc removes exactly them: what is left under
# volumes/ is the files of the live volumes, each whole.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/crash-functions.sh"
source "$(dirname "$0")/../lib/nbdkit-functions.sh"
requires python3 qemu-img
requires_faults

step "a snapshot, and two live writable volumes (one encrypted)"
head -c 4M /dev/urandom >"$T/base.img"
truncate -s 8M "$T/base.img"
base=$(snapshot_create "$T/base.img")
bs create-volume --snapshot-id "$base" >"$T/v.json"
bs create-volume --snapshot-id "$base" --encrypted >"$T/v.json"

# how often one create-volume passes each point
kills=0
for enc in "" --encrypted; do
    for point in cow-create-data cow-map-write cow-create-commit meta-commit; do
        for n in 1 2 3 4; do
            step "create-volume ${enc:-(plain)} killed at $point:$n"
            # shellcheck disable=SC2086 # $enc is one word or none
            run_killed "fault:$point:$n" create-volume --snapshot-id "$base" $enc
            if [ "$KILLED_RC" -ne 137 ]; then
                [ "$KILLED_RC" -eq 0 ] || die "exit $KILLED_RC: $(cat "$T/killed.stderr")"
                info "no passage $n of $point: the volume was made"
                break
            fi
            kills=$((kills + 1))
            assert_verify_ok
        done
    done
done
info "$kills kills"
[ "$kills" -ge 8 ] || die "only $kills kills landed"

step "the volumes that exist: each opens and reads as its snapshot"
live_volumes() {
    bs describe-volumes --filters Name=snapshot-id,Values="$base" >"$T/vols.json"
    python3 - "$T/vols.json" <<'EOF2'
import json, sys
for v in json.load(open(sys.argv[1]))["Volumes"]:
    if v.get("Writable"):
        print(v["VolumeId"])
EOF2
}
live=$(live_volumes | sort)
[ "$(wc -l <<<"$live")" -ge 2 ] || die "fewer than two live volumes: $live"
for v in $live; do
    nbdkit_serve v "volume=$v"
    qemu-img compare -f raw -F raw "$NBD_URI" "$T/base.img" >/dev/null || die "$v does not read as its snapshot"
    nbdkit_stop v
done

step "gc within the grace period removes nothing"
ls "$STORE/volumes" | sort >"$T/files.before"
bs gc >"$T/gc.json"
ls "$STORE/volumes" | sort >"$T/files.after"
cmp -s "$T/files.before" "$T/files.after" || die "gc removed young files: $(diff "$T/files.before" "$T/files.after")"
orphans=$(sed 's/\..*//' "$T/files.before" | sort -u | grep -vxF "$live" || true)
[ -n "$orphans" ] || die "the kills left no files to collect"
info "orphans: $(tr '\n' ' ' <<<"$orphans")"

step "older than the grace period: gc removes exactly the files no record names"
find "$STORE/volumes" -type f -exec touch -d '2 hours ago' {} +
bs gc >"$T/gc.json"
want=$(grep -c -vF "$live" "$T/files.before" || true)
assert_eq "$(json_get VolumeFilesRemoved "$T/gc.json")" "$want" "files removed"
assert_eq "$(ls "$STORE/volumes" | sed 's/\..*//' | sort -u | tr '\n' ' ')" \
    "$(tr '\n' ' ' <<<"$live")" "the volumes whose files are left"
for v in $live; do
    [ -f "$STORE/volumes/$v.data" ] && [ -f "$STORE/volumes/$v.map" ] ||
        die "$v lost a file: $(ls "$STORE/volumes")"
    nbdkit_serve v "volume=$v"
    qemu-img compare -f raw -F raw "$NBD_URI" "$T/base.img" >/dev/null || die "$v does not read as its snapshot after gc"
    nbdkit_stop v
done
assert_verify_ok
