#!/usr/bin/env bash
# chunk-size-fuse: a store of 16 KiB chunks and one of 256 KiB chunks, both
# mounted at once (the second with a cache of four of its chunks): each
# snapshot file and each image's device file is byte-identical to its
# volume, reads at odd offsets across that store's chunk boundaries match,
# SEEK_DATA/SEEK_HOLE report that store's non-zero chunks, st_blksize is
# its chunk size, and each mount lists only its own store's snapshots and
# images.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/fuse-functions.sh"
requires cmp

fuse_assert_clean
MIB=$((1 << 20))
SIZES=(16384 262144)
V=$T/vol.img

# write_at FILE OFFSET COUNT: COUNT random bytes at byte OFFSET of FILE.
write_at() {
    head -c "$3" /dev/urandom | dd of="$1" bs=4096 seek="$2" oflag=seek_bytes conv=notrunc \
        status=none
}

# at CS CMD...: run CMD with the store of chunk size CS.
at() {
    local cs=$1
    shift
    STORE=$T/store-$cs "$@"
}

step "two states of a volume in a 16K and a 256K store"
head -c $((3 * MIB)) /dev/urandom >"$V"
write_at "$V" $((5 * MIB + 3000)) $((MIB + 7))
truncate -s $((8 * MIB + 12345)) "$V"
write_at "$V" $((8 * MIB)) 12345
cp --sparse=always "$V" "$T/v1.img"
declare -A S1 S2 IMG PID LOG
for cs in "${SIZES[@]}"; do
    at "$cs" bs create-store --chunk-size "$cs" >/dev/null
    S1[$cs]=$(at "$cs" snapshot_create "$V")
done
write_at "$V" $((16384 - 5)) 10
write_at "$V" $((6 * MIB + 262144 - 100)) 300
cp --sparse=always "$V" "$T/v2.img"
for cs in "${SIZES[@]}"; do
    S2[$cs]=$(at "$cs" snapshot_create "$V")
    at "$cs" bs register-image --name "img-$cs" --no-boot-check \
        --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=${S2[$cs]}}" >"$T/img.json"
    IMG[$cs]=$(json_get ImageId "$T/img.json")
done

step "mount both stores"
for cs in "${SIZES[@]}"; do
    mkdir "$T/mnt-$cs"
    if [ "$cs" = 262144 ]; then
        at "$cs" fuse_mount "$T/mnt-$cs" --cache-size 1M
    else
        at "$cs" fuse_mount "$T/mnt-$cs"
    fi
    PID[$cs]=$FUSE_PID
    LOG[$cs]=$FUSE_LOG
done

for cs in "${SIZES[@]}"; do
    m=$T/mnt-$cs
    step "chunk size $cs: listings"
    (cd "$m/snapshots" && printf '%s\n' *.img) >"$T/ls"
    printf '%s.img\n' "${S1[$cs]}" "${S2[$cs]}" | sort >"$T/want"
    diff -u "$T/want" "$T/ls" || die "snapshots listed at $cs"
    (cd "$m/images" && printf '%s\n' ami-*) >"$T/ls"
    assert_eq "$(cat "$T/ls")" "${IMG[$cs]}" "images listed at $cs"

    step "chunk size $cs: byte for byte, odd reads, holes, st_blksize"
    assert_same_file "$m/snapshots/${S1[$cs]}.img" "$T/v1.img" "${S1[$cs]} at $cs"
    assert_same_file "$m/snapshots/${S2[$cs]}.img" "$T/v2.img" "${S2[$cs]} at $cs"
    assert_same_file "$m/images/${IMG[$cs]}/xvda.img" "$T/v2.img" "${IMG[$cs]} xvda at $cs"
    python3 - "$m/snapshots/${S2[$cs]}.img" "$T/v2.img" "$cs" <<'EOF'
import os, random, sys
a, b, chunk = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_RDONLY), int(sys.argv[3])
size = os.fstat(b).st_size
rnd = random.Random(chunk)
for i in range(2000):
    # around a chunk boundary half of the time
    off = rnd.randrange(0, size) if i % 2 else max(0, rnd.randrange(0, size // chunk + 1) * chunk
                                                   - rnd.randrange(0, 5000))
    n = rnd.choice([1, 4096, chunk - 1, chunk + 1, 2 * chunk + 4097, 1 << 20])
    if os.pread(a, n, off) != os.pread(b, n, off):
        sys.exit("differs at %d+%d (chunk size %d)" % (off, n, chunk))
EOF
    seek_map "$m/snapshots/${S1[$cs]}.img" >"$T/map.mount"
    nonzero_map "$T/v1.img" "$cs" >"$T/map.want"
    diff -u "$T/map.want" "$T/map.mount" || die "data/hole map at $cs differs from the source's"
    assert_eq "$(stat -c %o "$m/snapshots/${S1[$cs]}.img")" "$cs" "st_blksize at $cs"
done

# The two maps differ where the data from 5 MiB + 3000 to 6 MiB + 3007
# ends: rounded out to a 16K chunk in one store, to a 256K one in the other.
seek_map "$T/mnt-16384/snapshots/${S1[16384]}.img" >"$T/map.16"
seek_map "$T/mnt-262144/snapshots/${S1[262144]}.img" >"$T/map.256"
grep -qx "$((5 * MIB)) $((6 * MIB + 16384))" "$T/map.16" || die "16K map: $(cat "$T/map.16")"
grep -qx "$((5 * MIB)) $((6 * MIB + 262144))" "$T/map.256" || die "256K map: $(cat "$T/map.256")"

step "unmount"
for cs in "${SIZES[@]}"; do
    FUSE_PID=${PID[$cs]} FUSE_LOG=${LOG[$cs]} at "$cs" fuse_unmount "$T/mnt-$cs"
done
fuse_assert_clean
