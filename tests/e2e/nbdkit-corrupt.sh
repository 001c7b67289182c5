#!/usr/bin/env bash
# nbdkit-corrupt: a damaged chunk in a pack fails the NBD reads of its range
# with EIO, logged by nbdkit with the chunk, pack and offset, while every
# other range of the export reads correctly and the server goes on serving
# (the same verified chunk path as fuse-corrupt).
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/nbdkit-functions.sh"
requires qemu-io python3

step "a snapshot whose every chunk holds its own byte pattern, and a hole"
bs create-store >/dev/null
CHUNK=$(store_field ChunkSize)
python3 - "$T/vol.img" "$CHUNK" <<'EOF2'
import sys
path, chunk = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    for i in range(128):
        f.write(bytes([i + 1]) * chunk)
    f.truncate(256 * chunk)
EOF2
snap=$(snapshot_create "$T/vol.img")

step "flip one byte in the middle of the pack"
pack=$(ls -S "$STORE"/packs/* | head -n 1)
[ -n "$pack" ] || die "no pack files in $STORE/packs"
psize=$(stat -c %s "$pack")
python3 - "$pack" $((psize / 2)) <<'EOF2'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x5a]))
EOF2
info "flipped byte $((psize / 2)) of $(basename "$pack")"

nbdkit_serve s "snapshot=$snap"

# reads CMDS...: one qemu-io run of the "read -P PATTERN OFF LEN" commands;
# prints "OFF ok" or "OFF EIO" per command, in order.
reads() {
    local -a args=()
    local c
    for c in "$@"; do args+=(-c "$c"); done
    qemu-io -r -f raw "$NBD_URI" "${args[@]}" >"$T/qemu-io.out" 2>&1 || true
    python3 - "$T/qemu-io.out" "$@" <<'EOF2'
import re, sys
out, cmds = open(sys.argv[1]).read().splitlines(), sys.argv[2:]
if any("Pattern verification failed" in l for l in out):
    sys.exit("wrong data: " + "; ".join(l for l in out if "Pattern" in l))
res = [l for l in out if re.match(r"read (\d+/\d+ bytes at offset|failed)", l)]
if len(res) != len(cmds):
    sys.exit("%d results for %d reads:\n%s" % (len(res), len(cmds), "\n".join(out)))
for c, l in zip(cmds, res):
    off = c.split()[3]
    if l.startswith("read failed"):
        if "Input/output error" not in l:
            sys.exit("read at %s: %s, expected EIO" % (off, l))
        print(off, "EIO")
    else:
        print(off, "ok")
EOF2
}

step "EIO on the damaged chunk, correct data everywhere else"
cmds=()
for ((i = 0; i < 256; i++)); do
    cmds+=("read -P $(((i < 128 ? i + 1 : 0))) $((i * CHUNK)) $CHUNK")
done
reads "${cmds[@]}" >"$T/result.txt"
mapfile -t bad < <(awk '$2 == "EIO" { print $1 }' "$T/result.txt")
[ "${#bad[@]}" -ge 1 ] && [ "${#bad[@]}" -le 2 ] ||
    die "expected one damaged chunk (two if the flip hit a record boundary), got: ${bad[*]:-none}"
info "damaged chunk(s) at ${bad[*]}; $(grep -c ' ok$' "$T/result.txt") chunks read correctly"

step "a read across the damaged chunk fails, again on retry; the rest still reads"
b=${bad[0]}
start=$((b >= CHUNK ? b - CHUNK : 0))
pat=$((start / CHUNK + 1))
reads "read -P $pat $start $((3 * CHUNK))" "read -P $pat $start $((3 * CHUNK))" \
    "read -P 0 $((200 * CHUNK)) $CHUNK" "read -P 1 0 4096" >"$T/again.txt"
assert_eq "$(awk '{ print $2 }' "$T/again.txt" | tr '\n' ' ')" "EIO EIO ok ok " "reads after the damage"

step "nbdkit's log names the chunk, the pack and the offset"
grep -i "pack" "$T/s.log" | grep -qi "offset" || {
    cat "$T/s.log"
    die "the log does not name the pack and offset of the damage"
}
info "log: $(grep -i pack "$T/s.log" | head -n 1)"
nbdkit_stop s
