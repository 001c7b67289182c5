#!/usr/bin/env bash
# Encryption at rest: a copy of the store alone yields no plaintext.  An
# ext4 image holds distinct marker strings in many blocks (file contents,
# file names, the volume label).  Snapshot plain, the markers are found in
# the store's files (so the grep can fail); snapshot encrypted into another
# store, no file of it holds any marker; a copy of that store without the
# key directory holds none either and restores nothing
# (KeyUnavailableException naming the snapshot, no target file left); with
# the key the restore is byte-identical, as is the FUSE view's file.  Then
# the lineage rules: the incremental child keeps the key and stores only
# what changed, a different key or KmsKeyId without Encrypted is refused,
# encryption by default encrypts a new volume's first snapshot; verify,
# diff, gc and delete without the key.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp mkfs.ext4 grep

export BLOCKSNAP_KEY_DIR=$T/keys

step "an ext4 image full of markers"
mkdir -p "$T/tree/docs"
python3 - "$T/tree" "$T/markers" <<'EOF'
import os, secrets, sys
root, listing = sys.argv[1], sys.argv[2]
marks = []
def mark():
    # random hex without a shared prefix: LZ4 keeps each one as a literal
    m = "q" + secrets.token_hex(10)
    marks.append(m)
    return m
for i in range(120):
    # one file per marker, each 6 KiB: markers land in many blocks
    name = os.path.join(root, "docs", "note-%s.txt" % mark())
    with open(name, "w") as f:
        body = ("%s says the plaintext of block %d\n" % (mark(), i))
        f.write(body * (6144 // len(body)))
with open(listing, "w") as f:
    f.write("\n".join(marks) + "\n")
EOF
label=qlabel$(python3 -c 'import secrets; print(secrets.token_hex(4))')
echo "$label" >>"$T/markers"
make_ext4_image 24M "$T/tree" "$T/vol.img"
tune2fs -L "$label" "$T/vol.img" >/dev/null 2>&1 || e2label "$T/vol.img" "$label"
grep -aqF "$label" "$T/vol.img" || die "the label is not in the image"
info "$(wc -l <"$T/markers") markers; found in the image: $(grep -aoF -f "$T/markers" "$T/vol.img" | sort -u | wc -l)"

# markers_in DIR: how many distinct markers any file under DIR holds.
markers_in() {
    # (grep's exit 1 for no match is the answer, not a failure)
    find "$1" -type f -print0 | { xargs -0 grep -aohF -f "$T/markers" || true; } | sort -u | wc -l
}

step "a plain store holds the markers (the grep can fail)"
STORE=$T/plain snapshot_create "$T/vol.img" >/dev/null
n=$(markers_in "$T/plain")
info "plain store: $n distinct markers found"
[ "$n" -gt 50 ] || die "a plain store should show the markers, found $n"

step "an encrypted snapshot under a customer key"
bs create-key --description grep-test >"$T/key.json"
arn=$(json_get KeyMetadata.Arn "$T/key.json")
bs create-alias --alias-name alias/grep --target-key-id "$arn"
bs create-snapshot --volume "$T/vol.img" --encrypted --kms-key-id alias/grep --quiet >"$T/s1.json"
s1=$(json_get SnapshotId "$T/s1.json")
assert_eq "$(json_get Encrypted "$T/s1.json")" true "describe: Encrypted"
assert_eq "$(json_get KmsKeyId "$T/s1.json")" "$arn" "describe: KmsKeyId is the key's ARN"
n=$(markers_in "$STORE")
assert_eq "$n" 0 "markers in the encrypted store"
restore "$s1" "$T/out.img"
cmp "$T/vol.img" "$T/out.img" || die "the restore differs"
assert_verify_ok

step "a copy of the store without its key directory: no plaintext, no restore"
cp -a "$STORE" "$T/copy"
assert_eq "$(markers_in "$T/copy")" 0 "markers in the copy"
(
    export BLOCKSNAP_KEY_DIR=$T/nokeys
    STORE=$T/copy
    expect_fail KeyUnavailableException 1 bs create-volume --snapshot-id "$s1" --path "$T/stolen.img"
    stderr_contains "$s1"
    [ ! -e "$T/stolen.img" ] || die "a failed restore left $T/stolen.img"
    [ -z "$(find "$T" -maxdepth 1 -name 'stolen*')" ] || die "a failed restore left a file"
    expect_fail KeyUnavailableException 1 bs diff "$s1"
    # verify checks the stored checksums and says what it could not
    bs verify >"$T/verify.out" 2>"$T/verify.err" || die "verify without the key failed"
    grep -q '0 problems' "$T/verify.out" || die "verify without the key found problems"
    grep -q "$s1: encrypted, and its key is not at hand" "$T/verify.err" ||
        die "verify does not say what it could not check"
    # gc reads every block map: it refuses, and frees nothing
    before=$(du -sb "$STORE/packs" | cut -f1)
    expect_fail KeyUnavailableException 1 bs gc
    stderr_contains "$s1"
    assert_eq "$(du -sb "$STORE/packs" | cut -f1)" "$before" "packs after a refused gc"
    expect_fail KeyUnavailableException 1 bs delete-snapshot --snapshot-id "$s1"
    [ "$(bs describe-snapshots --snapshot-ids "$s1" | json_get Snapshots.#)" = 1 ] ||
        die "a refused delete removed the snapshot"
    # a forged key file is not the key
    mkdir -p "$T/nokeys"
    cp -a "$T/keys/." "$T/nokeys/"
    f=$(ls "$T/nokeys"/*/*.key | head -n1)
    head -c 32 /dev/urandom >"$f"
    expect_fail IncorrectKeyMaterialException 1 bs create-volume --snapshot-id "$s1" --path "$T/stolen.img"
    [ ! -e "$T/stolen.img" ] || die "a failed restore left $T/stolen.img"
)
info "with the key, the copy restores"
STORE=$T/copy restore "$s1" "$T/out2.img"
cmp "$T/vol.img" "$T/out2.img" || die "the copy's restore differs"

step "the incremental child keeps the lineage and stores only what changed"
printf 'changed block' | dd of="$T/vol.img" bs=1 seek=$((5 << 20)) conv=notrunc status=none
bs create-snapshot --volume "$T/vol.img" --quiet >"$T/s2.json"
s2=$(json_get SnapshotId "$T/s2.json")
assert_eq "$(json_get Encrypted "$T/s2.json")" true "the child is encrypted"
assert_eq "$(json_get KmsKeyId "$T/s2.json")" "$arn" "the child's key"
assert_eq "$(json_get ParentSnapshotId "$T/s2.json")" "$s1" "the child's parent"
assert_eq "$(json_get ChunksWritten "$T/s2.json")" 1 "chunks the child stored"
restore "$s2" "$T/out.img"
cmp "$T/vol.img" "$T/out.img" || die "the child's restore differs"
[ "$(bs diff "$s1" "$s2" | wc -l)" -ge 1 ] || die "diff of the lineage shows no change"
assert_eq "$(markers_in "$STORE")" 0 "markers in the store after the child"

step "the FUSE view decrypts on read"
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
    # shellcheck source=../lib/fuse-functions.sh
    source "$(dirname "$0")/../lib/fuse-functions.sh"
    mkdir "$T/mnt"
    fuse_mount "$T/mnt"
    cmp "$T/mnt/snapshots/$s2.img" "$T/vol.img" || die "the FUSE file of $s2 differs"
    fuse_unmount "$T/mnt"
else
    info "no FUSE here: skipped"
fi

step "the rules"
expect_fail InvalidParameterDependency 1 bs create-snapshot --volume "$T/vol.img" --kms-key-id alias/grep
other=$(bs create-key --description other | json_get KeyMetadata.KeyId)
expect_fail InvalidParameterCombination 1 bs create-snapshot --volume "$T/vol.img" --encrypted --kms-key-id "$other"
stderr_contains "$arn"
bs disable-key --key-id alias/grep
expect_fail DisabledException 1 bs create-volume --snapshot-id "$s2" --path "$T/dis.img"
[ ! -e "$T/dis.img" ] || die "a failed restore left $T/dis.img"
bs enable-key --key-id alias/grep
[ "$(bs describe-snapshots --filters Name=encrypted,Values=true | json_get Snapshots.#)" = 2 ] ||
    die "filter encrypted=true"
[ "$(bs describe-snapshots --filters Name=encrypted,Values=false | json_get Snapshots.#)" = 0 ] ||
    die "filter encrypted=false"

step "encryption by default: a new volume's first snapshot, under the default key"
bs enable-ebs-encryption-by-default >/dev/null
head -c 1M /dev/urandom >"$T/new.img"
bs create-snapshot --volume "$T/new.img" --quiet >"$T/s3.json"
assert_eq "$(json_get Encrypted "$T/s3.json")" true "encrypted by default"
assert_eq "$(json_get KmsKeyId "$T/s3.json")" \
    "$(bs describe-key --key-id alias/aws/ebs | json_get KeyMetadata.Arn)" "the default key"
restore "$(json_get SnapshotId "$T/s3.json")" "$T/out3.img"
cmp "$T/new.img" "$T/out3.img" || die "restore of the default-key snapshot differs"
bs disable-ebs-encryption-by-default >/dev/null

step "delete and gc with the key"
bs delete-snapshot --snapshot-id "$s2"
bs delete-snapshot --snapshot-id "$s1"
bs gc --quiet >/dev/null
assert_verify_ok
