#!/usr/bin/env bash
# chunk-size: one volume kept in a store of 16 KiB chunks and in a store of
# 256 KiB chunks (create-store --chunk-size).  In each, every snapshot
# restores byte for byte (the volume's size is no multiple of either chunk
# size); `diff` lists the chunk-aligned ranges that changed at that store's
# granularity, and DataChunks counts that store's non-zero chunks; a
# changed-block list reads one chunk of that store's size.  The two stores
# are not mixed up: a snapshot, a diff's list or an image of one is not
# taken by the other, and a plain list of ranges (no header) made at 16 KiB
# is taken by the 256 KiB store, rounded out to its chunks.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

MIB=$((1 << 20))
SIZES=(16384 262144)
V=$T/vol.img

# nonzero_chunks FILE CHUNK: the chunks of FILE that are not all zeros.
nonzero_chunks() {
    python3 - "$1" "$2" <<'EOF'
import sys
path, chunk = sys.argv[1], int(sys.argv[2])
n = 0
with open(path, "rb") as f:
    while True:
        b = f.read(chunk)
        if not b:
            break
        n += any(b)
print(n)
EOF
}

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

# field SNAP KEY: one field of a snapshot's description.
field() {
    bs describe-snapshots --snapshot-ids "$1" | json_get "Snapshots.0.$2"
}

step "two stores: 16K and 256K chunks"
for cs in "${SIZES[@]}"; do
    at "$cs" bs create-store --chunk-size "$((cs / 1024))K" >"$T/store.json"
    assert_eq "$(json_get ChunkSize "$T/store.json")" "$cs" "ChunkSize of the new store"
done

step "v1: data, a hole and a tail that ends inside a chunk"
head -c $((2 * MIB)) /dev/urandom >"$V"
write_at "$V" $((4 * MIB)) $((2 * MIB))
truncate -s $((6 * MIB + 5000)) "$V"
write_at "$V" $((6 * MIB)) 5000
cp --sparse=always "$V" "$T/v1.img"
declare -A A B C
for cs in "${SIZES[@]}"; do
    A[$cs]=$(at "$cs" snapshot_create "$V")
    assert_eq "$(at "$cs" field "${A[$cs]}" ChunkSize)" "$cs" "ChunkSize of ${A[$cs]}"
    assert_eq "$(at "$cs" field "${A[$cs]}" DataChunks)" "$(nonzero_chunks "$V" "$cs")" \
        "DataChunks of ${A[$cs]} at $cs"
done

step "v2: small writes, each inside one chunk of either size; diff at each granularity"
write_at "$V" $((3 * 16384 + 10)) 100
write_at "$V" $((MIB + 8192)) 4096
write_at "$V" $((6 * MIB + 4990)) 10
cp --sparse=always "$V" "$T/v2.img"
for cs in "${SIZES[@]}"; do
    B[$cs]=$(at "$cs" snapshot_create "$V")
    changed_ranges "$T/v1.img" "$T/v2.img" "$cs" >"$T/want-$cs"
    at "$cs" diff_ranges "${A[$cs]}" "${B[$cs]}" >"$T/diff-$cs"
    diff -u "$T/want-$cs" "$T/diff-$cs" || die "diff at $cs differs from the real change"
    assert_eq "$(wc -l <"$T/diff-$cs")" 3 "changed runs at $cs"
    # three chunks of this store's size, the last one cut at the end
    assert_eq "$(ranges_bytes "$T/diff-$cs")" $((2 * cs + (6 * MIB + 5000) % cs)) \
        "bytes listed by diff at $cs"
    assert_eq "$(at "$cs" field "${B[$cs]}" ChunksWritten)" 3 "chunks written by the rescan at $cs"
done

step "v3: a changed-block list reads one chunk of the store's size"
write_at "$V" $((5 * MIB + 20000)) 3000
cp --sparse=always "$V" "$T/v3.img"
echo "$((5 * MIB + 20000)) 3000" >"$T/list"
for cs in "${SIZES[@]}"; do
    C[$cs]=$(at "$cs" snapshot_create "$V" --changed-blocks "$T/list")
    assert_eq "$(at "$cs" field "${C[$cs]}" BytesRead)" "$cs" "bytes read from the list at $cs"
    assert_eq "$(at "$cs" field "${C[$cs]}" ParentSnapshotId)" "${B[$cs]}" "parent at $cs"
done

step "every snapshot restores byte for byte"
for cs in "${SIZES[@]}"; do
    for pair in "${A[$cs]}:v1" "${B[$cs]}:v2" "${C[$cs]}:v3"; do
        at "$cs" restore "${pair%%:*}" "$T/out.img"
        cmp "$T/${pair#*:}.img" "$T/out.img" ||
            die "restore of ${pair%%:*} (chunk size $cs) differs from ${pair#*:}"
    done
done
rm -f "$T/out.img"

step "a snapshot of one store is unknown to the other"
at 262144 expect_fail InvalidSnapshot.NotFound 1 bs diff "${A[16384]}" "${B[16384]}"
stderr_contains "${A[16384]}"
at 262144 expect_fail InvalidSnapshot.NotFound 1 bs create-volume --snapshot-id "${C[16384]}" \
    --path "$T/x.img"
[ ! -e "$T/x.img" ] || die "create-volume of another store's snapshot made a file"
at 262144 expect_fail InvalidSnapshot.NotFound 1 bs register-image --name cross \
    --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=${C[16384]}}" --no-boot-check

step "a diff's list from the 16K store is refused by the 256K store"
write_at "$V" $((4 * MIB + 70000)) 20000
cp --sparse=always "$V" "$T/v4.img"
at 16384 bs diff "${B[16384]}" "${C[16384]}" >"$T/cross.diff"
at 262144 store_state >"$T/state.before"
at 262144 expect_fail InvalidParameterCombination 1 \
    bs create-snapshot --volume "$V" --changed-blocks "$T/cross.diff"
stderr_contains "${B[16384]}"
at 262144 assert_store_unchanged "$T/state.before"

step "a plain list made at 16K is rounded out to 256K chunks"
changed_ranges "$T/v3.img" "$T/v4.img" 16384 >"$T/plain"
assert_eq "$(wc -l <"$T/plain")" 1 "runs of the 16K list"
assert_eq "$(ranges_bytes "$T/plain")" $((2 * 16384)) "bytes of the 16K list"
for cs in "${SIZES[@]}"; do
    s=$(at "$cs" snapshot_create "$V" --changed-blocks "$T/plain")
    # 4 MiB + 70000 .. +90000 lies in one 256K chunk
    assert_eq "$(at "$cs" field "$s" BytesRead)" $((cs == 16384 ? 2 * 16384 : cs)) \
        "bytes read from the 16K list at $cs"
    at "$cs" restore "$s" "$T/out.img"
    cmp "$T/v4.img" "$T/out.img" || die "snapshot from the 16K list at $cs differs from v4"
    changed_ranges "$T/v3.img" "$T/v4.img" "$cs" >"$T/want"
    at "$cs" diff_ranges "${C[$cs]}" "$s" >"$T/got"
    diff -u "$T/want" "$T/got" || die "diff of v3 and v4 at $cs differs from the real change"
done
rm -f "$T/out.img"

step "an image in each store names that store's snapshot"
for cs in "${SIZES[@]}"; do
    at "$cs" bs register-image --name "img-$cs" --no-boot-check \
        --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=${C[$cs]}}" >"$T/img.json"
    at "$cs" bs describe-images >"$T/images.json"
    assert_eq "$(json_get Images.# "$T/images.json")" 1 "images in the $cs store"
    assert_eq "$(json_get Images.0.Name "$T/images.json")" "img-$cs" "image name at $cs"
    assert_eq "$(json_get Images.0.BlockDeviceMappings.0.Ebs.SnapshotId "$T/images.json")" \
        "${C[$cs]}" "the image's snapshot at $cs"
done

step "gc and verify in both stores"
for cs in "${SIZES[@]}"; do
    at "$cs" bs gc --quiet >/dev/null
    at "$cs" assert_verify_ok
    assert_eq "$(at "$cs" store_field ChunkSize)" "$cs" "ChunkSize after gc"
done
