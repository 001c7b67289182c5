#!/usr/bin/env bash
# demo.sh - a short tour of blocksnap on the default store.
#
#   tools/demo.sh [PATH-TO-blocksnap]
#
# Makes a real ext4 disk image from a small tree of files (mkfs.ext4 -d, no
# root needed), snapshots it, changes it (adds, deletes and rewrites files
# with debugfs), snapshots it again (incrementally), lists the snapshots,
# shows what changed, restores the second snapshot and compares it with the
# image byte for byte, and shows what the store holds.  The snapshots stay in
# the store (see the last lines for how to look at them or delete them); the
# images are removed at the end.
set -euo pipefail

BLOCKSNAP=${1:-${BLOCKSNAP:-}}
if [ -z "$BLOCKSNAP" ]; then
    here=$(cd "$(dirname "$0")/.." && pwd)
    BLOCKSNAP=$here/build/blocksnap
    [ -x "$BLOCKSNAP" ] || BLOCKSNAP=$(command -v blocksnap || true)
fi
if [ -z "$BLOCKSNAP" ] || [ ! -x "$BLOCKSNAP" ]; then
    echo "demo: no blocksnap binary (build it with ./dev build)" >&2
    exit 1
fi
for tool in mkfs.ext4 debugfs python3 cmp; do
    command -v "$tool" >/dev/null || {
        echo "demo: needs $tool (e2fsprogs, python3, diffutils)" >&2
        exit 1
    }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/blocksnap-demo.XXXXXX")
trap 'rm -rf "$W"' EXIT

bold() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n%s\n' "$*"; fi; }
# run ARGS...: show the command, then run it (its output goes wherever the
# caller sends it).
run() {
    local a line='$ blocksnap'
    for a in "$@"; do
        case $a in
        *[[:space:]]*) line+=" '$a'" ;;
        *) line+=" $a" ;;
        esac
    done
    printf '%s\n' "$line" >&3
    "$BLOCKSNAP" "$@"
}
exec 3>&1
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

bold "1. A disk image with real files"
mkdir -p "$W/tree/etc" "$W/tree/docs" "$W/tree/data" "$W/tree/logs"
cp -r /usr/share/common-licenses "$W/tree/docs/" 2>/dev/null || true
find /usr/share/doc -maxdepth 2 -name 'copyright' >"$W/doc-files" 2>/dev/null || true
head -n 300 "$W/doc-files" | while read -r f; do
    d=$W/tree/docs/$(basename "$(dirname "$f")")
    mkdir -p "$d" && cp "$f" "$d/"
done
seq -f 'request %g served in 3 ms' 1 200000 >"$W/tree/logs/access.log"
head -c $((8 << 20)) /dev/urandom >"$W/tree/data/photos.bin"
printf 'name=demo\n' >"$W/tree/etc/app.conf"
truncate -s 64M "$W/disk.img"
mkfs.ext4 -q -F -d "$W/tree" "$W/disk.img"
echo "made a 64 MiB ext4 image holding $(du -sh "$W/tree" | cut -f1) of files:"
echo "  $W/disk.img"

bold "2. First snapshot (full)"
t=$(date +%s%N)
run create-snapshot --volume "$W/disk.img" --description "demo: fresh file system" >"$W/s1.json"
snap1=$(field SnapshotId <"$W/s1.json")
vol=$(field VolumeId <"$W/s1.json")
echo "-> $snap1 of volume $vol in $(ms_since "$t") ms"

bold "3. Change the file system: add, delete and rewrite files (debugfs -w, no mount)"
seq 1 100000 >"$W/new-report.txt"
head -c $((2 << 20)) /dev/urandom >"$W/new-photo.bin"
debugfs -w -f - "$W/disk.img" >/dev/null 2>&1 <<END
write $W/new-report.txt /docs/report.txt
write $W/new-photo.bin /data/new-photo.bin
rm /logs/access.log
END
# rewrite 64 KiB in the middle of photos.bin in place, as an application would
blk=$(debugfs -R "blocks /data/photos.bin" "$W/disk.img" 2>/dev/null | tr ' ' '\n' | sed -n 1000p)
dd if=/dev/urandom of="$W/disk.img" bs=4096 seek="$blk" count=16 conv=notrunc status=none
echo "added /docs/report.txt and /data/new-photo.bin, deleted /logs/access.log,"
echo "rewrote 64 KiB inside /data/photos.bin"

bold "4. Second snapshot (incremental: only changed chunks are stored)"
before=$("$BLOCKSNAP" describe-store | field PackBytes)
t=$(date +%s%N)
run create-snapshot --volume "$W/disk.img" --description "demo: after changes" >"$W/s2.json"
snap2=$(field SnapshotId <"$W/s2.json")
after=$("$BLOCKSNAP" describe-store | field PackBytes)
echo "-> $snap2 in $(ms_since "$t") ms; the store grew by $(mib $((after - before)))"

bold "5. The volume's snapshots"
run describe-snapshots --filters "Name=volume-id,Values=$vol" --output table

bold "6. What changed between them (byte ranges, chunk-aligned)"
run diff "$snap1" "$snap2" >"$W/diff.txt" # a "# blocksnap diff A B" line, then the ranges
head -n 9 "$W/diff.txt"
nranges=$(grep -vc '^#' "$W/diff.txt" || true)
[ "$nranges" -le 8 ] || echo "... ($nranges ranges)"
echo "$(mib "$(awk '{ s += $2 } END { print s + 0 }' "$W/diff.txt")") of 64 MiB changed"

bold "7. Restore the second snapshot and compare it with the image"
t=$(date +%s%N)
run create-volume --snapshot-id "$snap2" --path "$W/restored.img" >/dev/null
cmp "$W/disk.img" "$W/restored.img"
echo "restored in $(ms_since "$t") ms; cmp: identical to the image"
echo "allocated on disk: $(du -h "$W/restored.img" | cut -f1) of 64 MiB (holes stay holes)"

bold "8. The store"
"$BLOCKSNAP" describe-store >"$W/store.json"
python3 - "$W/store.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
m = lambda b: "%.1f MiB" % (b / 1048576)
n = lambda k, one, many: "%d %s" % (k, one if k == 1 else many)
print("region %s, %s of %s" % (s["Region"], n(s["SnapshotCount"], "snapshot", "snapshots"),
                                n(s["VolumeCount"], "volume", "volumes")))
print("chunks: %d, %s of data stored as %s in %s, metadata %s"
      % (s["ChunkCount"], m(s["LogicalBytes"]), m(s["PackBytes"]),
         n(s["PackCount"], "pack file", "pack files"), m(s["MetaBytes"])))
PY
echo
echo "The two snapshots stay in the default store.  Try:"
echo "  blocksnap describe-snapshots --output table"
echo "  blocksnap delete-snapshot --snapshot-id $snap1 && blocksnap gc"
