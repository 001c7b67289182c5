#!/usr/bin/env bash
# The benchmark suite's own helpers, checked without running the suite
# (bench-quick does that): bench/alignsweep.c prints one rate per cell of its
# sweep and refuses bad arguments; bench/alignmalloc.c makes large malloc()s
# page-aligned (what the aligned floors rely on) and leaves the output of a
# floor tool unchanged; make_tiled_image (the large images of the scaling
# scenario) keeps holes and zero blocks and makes no 4 KiB block of one copy
# equal to one of another, changing only 16 bytes of each; make_small_image
# (the small point) makes a valid ext4 even where the files do not fit at 55 %;
# bench/nbdrand.c reads an NBD export and prints its latencies.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires cc python3 cmp

step "alignsweep: one line per cell, a positive rate in each"
cc -O2 -o "$T/alignsweep" "$SOURCE_DIR/bench/alignsweep.c" || die "cannot build bench/alignsweep.c"
"$T/alignsweep" -s 2 -r 1 "$T/sweep.bin" >"$T/sweep.out" || die "alignsweep failed"
cells=$(grep -vc '^#' "$T/sweep.out")
# 2 piece sizes x 5 file offsets x 17 destination offsets
[ "$cells" -eq 170 ] || die "alignsweep printed $cells cells, not 170"
awk '!/^#/ && (NF != 4 || $4 <= 0) { bad = 1 } END { exit bad }' "$T/sweep.out" ||
    die "alignsweep printed a malformed or zero cell: $(grep -v '^#' "$T/sweep.out" | awk 'NF != 4 || $4 <= 0' | head -3)"
grep -q '^65536 16 24 ' "$T/sweep.out" || die "no cell for 64 KiB pieces, file +16, destination +24"
[ "$(stat -c %s "$T/sweep.bin")" -eq $((2 << 20)) ] || die "the sweep file is not 2 MiB"

step "alignsweep: usage errors exit 2"
rc=0
"$T/alignsweep" -s 1 "$T/sweep.bin" 2>"$T/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q usage "$T/err" || die "alignsweep -s 1 exited $rc: $(cat "$T/err")"
rc=0
"$T/alignsweep" 2>"$T/err" || rc=$?
[ "$rc" -eq 2 ] || die "alignsweep without a file exited $rc"

step "alignmalloc: malloc() of 64 KiB or more is page-aligned, smaller ones untouched"
cc -O2 -shared -fPIC -o "$T/alignmalloc.so" "$SOURCE_DIR/bench/alignmalloc.c" ||
    die "cannot build bench/alignmalloc.c"
cat >"$T/probe.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
    size_t sizes[] = {64 * 1024, 256 * 1024, 4 << 20, 100};
    for (size_t i = 0; i < 4; i++) {
        char *p = malloc(sizes[i]);
        if (!p)
            return 1;
        memset(p, 1, sizes[i]);
        p = realloc(p, sizes[i] * 2);
        printf("%zu %lu\n", sizes[i], (unsigned long)((uintptr_t)p % 4096));
        free(p);
    }
    return 0;
}
EOF
cc -O0 -o "$T/probe" "$T/probe.c"
"$T/probe" >"$T/plain.out"
LD_PRELOAD="$T/alignmalloc.so" "$T/probe" >"$T/aligned.out" || die "the probe failed under alignmalloc"
info "without: $(tr '\n' ' ' <"$T/plain.out")"
info "with:    $(tr '\n' ' ' <"$T/aligned.out")"
# The first line is the malloc() itself (the probe's realloc moves the block).
cat >"$T/probe2.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
    size_t sizes[] = {64 * 1024, 256 * 1024, 4 << 20};
    int bad = 0;
    for (size_t i = 0; i < 3; i++) {
        char *p = malloc(sizes[i]);
        bad |= !p || (uintptr_t)p % 4096 != 0;
        free(p);
    }
    return bad;
}
EOF
cc -O0 -o "$T/probe2" "$T/probe2.c"
LD_PRELOAD="$T/alignmalloc.so" "$T/probe2" || die "a malloc() of 64 KiB or more is not page-aligned"
if command -v lz4 >/dev/null; then
    head -c $((3 << 20)) /dev/urandom >"$T/in.bin"
    base64 "$T/in.bin" >"$T/in.txt" # compressible half
    cat "$T/in.txt" >>"$T/in.bin"
    lz4 -q -1 -B65536 -BI -c "$T/in.bin" >"$T/plain.lz4"
    LD_PRELOAD="$T/alignmalloc.so" lz4 -q -1 -B65536 -BI -c "$T/in.bin" >"$T/aligned.lz4"
    cmp "$T/plain.lz4" "$T/aligned.lz4" || die "lz4's output differs under alignmalloc"
fi

step "make_tiled_image: holes and zero blocks kept, no block shared between copies"
python3 - "$SOURCE_DIR/bench/lib" "$T" <<'EOF' || die "make_tiled_image check failed"
import os, sys
sys.path.insert(0, sys.argv[1])
import workload as W

t = sys.argv[2]
base, tiled = os.path.join(t, "base.img"), os.path.join(t, "tiled.img")
B = W.BLOCK
size = 64 * B
with open(base, "wb") as f:
    f.truncate(size)
    f.seek(4 * B); f.write(os.urandom(8 * B))           # data
    f.seek(12 * B); f.write(bytes(2 * B))               # allocated zero blocks
    f.seek(40 * B); f.write(b"log line\n" * (4 * B // 9) + b"x" * (4 * B % 9))
# 2.5 copies: the last copy is cut short inside the second data extent
W.make_tiled_image(base, tiled, 2 * size + 42 * B)
assert os.path.getsize(tiled) == 2 * size + 42 * B
src = open(base, "rb").read()
out = open(tiled, "rb").read()
seen = {}
for off in range(0, len(out), B):
    blk, orig = out[off:off + B], src[off % size:off % size + B]
    k = off // size
    if orig == bytes(B):
        assert blk == bytes(B), "block %d: zeros became data" % (off // B)
        continue
    if k == 0:
        assert blk == orig, "block %d of the first copy changed" % (off // B)
    else:
        assert blk[16:] == orig[16:] and blk[:16] != orig[:16], \
            "block %d: not exactly its first 16 bytes changed" % (off // B)
    assert blk not in seen, "block %d equals block %d" % (off // B, seen[blk])
    seen[blk] = off // B
ext = W.data_extents(tiled)
want = [(k * size + o, l) for k in range(3) for o, l in W.data_extents(base)]
want = [(o, min(l, len(out) - o)) for o, l in want if o < len(out)]
assert ext == want, "data extents %s, not the base's tiled %s" % (ext, want)
print("tiled: %d data blocks checked, %d extents" % (len(seen), len(ext)))
EOF

step "make_small_image: a 32 MiB ext4 of system files, even when 55 % of them do not fit"
# mkfs.ext4 -d ran out of blocks filling 32 MiB to 55 % with /usr's files
# (the journal, inode tables and small files' last blocks); the image must
# still be made, as a valid ext4 holding files.
if command -v mkfs.ext4 >/dev/null && command -v e2fsck >/dev/null; then
    python3 - "$SOURCE_DIR/bench/lib" "$T" <<'EOF' || die "make_small_image failed"
import os, sys
sys.path.insert(0, sys.argv[1])
import workload as W
img = os.path.join(sys.argv[2], "small.img")
fill = W.make_small_image(img, 32 * W.MIB, 7, sys.argv[2])
assert os.path.getsize(img) == 32 * W.MIB
assert W.allocated_bytes(img) > 8 * W.MIB, "hardly any data: %d" % W.allocated_bytes(img)
print("small: filled %.0f %%, %d MiB allocated" % (fill * 100, W.allocated_bytes(img) // W.MIB))
EOF
    e2fsck -fn "$T/small.img" >"$T/fsck.out" 2>&1 ||
        die "the small image is not a clean ext4: $(tail -3 "$T/fsck.out")"
else
    info "no mkfs.ext4/e2fsck: skipped"
fi

step "nbdrand (the nbdkit scenario's reader): one line of latencies, bad arguments refused"
if command -v nbdkit >/dev/null && [ -f /usr/include/libnbd.h ]; then
    cc -O2 -o "$T/nbdrand" "$SOURCE_DIR/bench/nbdrand.c" -lnbd || die "cannot build bench/nbdrand.c"
    printf '0\n4096\n1044480\n' >"$T/offsets"
    nbdkit -U - memory size=1M --run "'$T/nbdrand' \"\$uri\" 4096 2 <'$T/offsets'" >"$T/rand.out" ||
        die "nbdrand against nbdkit's memory plugin failed"
    grep -qE '^reads=3 bytes=4096 p50_us=[0-9.]+ p90_us=[0-9.]+ p99_us=[0-9.]+ max_us=[0-9.]+ mean_us=[0-9.]+$' \
        "$T/rand.out" || die "nbdrand printed: $(cat "$T/rand.out")"
    if "$T/nbdrand" 2>/dev/null; then die "nbdrand without arguments succeeded"; fi
    if nbdkit -U - memory size=1M --run "'$T/nbdrand' \"\$uri\" 4096 1 </dev/null" 2>/dev/null; then
        die "nbdrand without offsets succeeded"
    fi
    if nbdkit -U - memory size=1M --run "echo 2000000 | '$T/nbdrand' \"\$uri\" 4096 1" 2>/dev/null; then
        die "nbdrand read past the end of the export and succeeded"
    fi
    info "$(cat "$T/rand.out")"
else
    info "no nbdkit or libnbd-dev: nbdrand not checked"
fi

step "ok"
