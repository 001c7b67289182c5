#!/usr/bin/env bash
# Key material lives outside the store: a key and an alias are made, data
# keys wrapped under it and under the default key alias/aws/ebs; a copy of
# the store directory without the key directory describes its keys but
# unwraps nothing (KeyUnavailableException naming the key and its file), a
# forged key file is refused (IncorrectKeyMaterialException), and no file
# of the store or its copy holds the key material or a plain data key, as
# raw bytes or as hex.  A key derived from a passphrase has no key file and
# needs BLOCKSNAP_KEY_PASSPHRASE (the store holds its salt, never the
# passphrase).  With the key files back, the copy unwraps again; a
# disabled key unwraps nothing; verify --repair keeps the key records.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 cmp

PROBE=${BSNAP_BUILD_DIR:-$(dirname "$BLOCKSNAP")}/tests/tools/bsnap-keyprobe
[ -x "$PROBE" ] || skip "no $PROBE (build the tests/tools targets)"
export BLOCKSNAP_KEY_DIR=$T/keys

# probe ARGS...: bsnap-keyprobe, checked for sanitizer reports like bs.
probe() {
    local rc=0
    "$PROBE" "$@" 2>"$T/probe.stderr" || rc=$?
    cat "$T/probe.stderr" >&2
    _check_sanitizer "$T/probe.stderr" "bsnap-keyprobe $*"
    return "$rc"
}

step "a key, an alias, and data keys under it and under the default key"
python3 -c 'import sys; sys.stdout.write(("keys test volume\n" * 4096).ljust(1 << 20, "\0"))' >"$T/vol.img"
snapshot_create "$T/vol.img" >/dev/null
bs create-key --description "disaster recovery" >"$T/key.json"
key=$(json_get KeyMetadata.KeyId "$T/key.json")
arn=$(json_get KeyMetadata.Arn "$T/key.json")
bs create-alias --alias-name alias/dr --target-key-id "$key"
[ "$(bs describe-key --key-id alias/dr | json_get KeyMetadata.Arn)" = "$arn" ] ||
    die "alias/dr does not name $arn"
[ "$(probe "$STORE" wrap alias/dr lineage "$T/w1" "$T/p1")" = "$arn" ] || die "wrapped under another key"
probe "$STORE" wrap - lineage "$T/w2" "$T/p2" >"$T/default.arn"
[ "$(bs describe-key --key-id alias/aws/ebs | json_get KeyMetadata.KeyManager)" = AWS ] ||
    die "alias/aws/ebs is not the AWS-managed key"
[ "$(probe "$STORE" unwrap lineage "$T/w1")" = "$(cat "$T/p1")" ] || die "unwrap: another key"
[ "$(probe "$STORE" unwrap lineage "$T/w2")" = "$(cat "$T/p2")" ] || die "unwrap: another key"
BLOCKSNAP_KEY_PASSPHRASE="tr0ub4dor & 3 passphrase words" bs create-key --passphrase >"$T/pkey.json"
pkey=$(json_get KeyMetadata.KeyId "$T/pkey.json")
[ "$(json_get KeyMetadata.Origin "$T/pkey.json")" = EXTERNAL ] || die "a passphrase key's Origin"
BLOCKSNAP_KEY_PASSPHRASE="tr0ub4dor & 3 passphrase words" probe "$STORE" wrap "$pkey" lineage "$T/w4" "$T/p4" >/dev/null
[ "$(BLOCKSNAP_KEY_PASSPHRASE="tr0ub4dor & 3 passphrase words" probe "$STORE" unwrap lineage "$T/w4")" = "$(cat "$T/p4")" ] ||
    die "unwrap: the passphrase key gave another key"
keyfiles=("$T/keys"/*/*.key)
[ ${#keyfiles[@]} = 2 ] || die "expected 2 key files, found ${#keyfiles[@]}"
for f in "${keyfiles[@]}"; do
    [ "$(stat -c %a "$f")" = 600 ] || die "$f: mode $(stat -c %a "$f"), not 600"
done
info "key files: ${keyfiles[*]#"$T/"}"

step "a copy of the store without its key directory unwraps nothing"
cp -a "$STORE" "$T/copy"
export BLOCKSNAP_KEY_DIR=$T/nokeys
[ "$(STORE=$T/copy bs describe-key --key-id alias/dr | json_get KeyMetadata.KeyId)" = "$key" ] ||
    die "the copy does not describe the key"
for w in w1 w2; do
    expect_fail KeyUnavailableException 1 probe "$T/copy" unwrap lineage "$T/$w"
    stderr_contains "missing" "$T/nokeys/"
done
expect_fail KeyUnavailableException 1 probe "$T/copy" wrap alias/dr lineage "$T/w3" "$T/p3"
expect_fail KeyUnavailableException 1 probe "$T/copy" unwrap lineage "$T/w4"
stderr_contains "$pkey" BLOCKSNAP_KEY_PASSPHRASE
BLOCKSNAP_KEY_PASSPHRASE="a guess" expect_fail IncorrectKeyMaterialException 1 probe "$T/copy" unwrap lineage "$T/w4"

step "a forged key file is refused, and no message holds key bytes"
mkdir -p "$T/forged/local"
python3 - "$T/forged/local/$key.key" "$key" <<'PY'
import os, sys
open(sys.argv[1], "w").write("blocksnap-key 1 %s\n%s\n" % (sys.argv[2], os.urandom(32).hex()))
PY
export BLOCKSNAP_KEY_DIR=$T/forged
expect_fail IncorrectKeyMaterialException 1 probe "$T/copy" unwrap lineage "$T/w1"
stderr_contains "$key" "$T/forged/local/$key.key"
for f in "${keyfiles[@]}" "$T/forged/local/$key.key"; do
    ! grep -qF "$(tail -n 1 "$f")" "$T/fail.stderr" || die "a message holds the bytes of $f"
done

step "no file of the store or of its copy holds key material or a plain data key"
grep -rqaF "tr0ub4dor" "$STORE" "$T/copy" && die "the store holds the passphrase"
python3 - "$STORE" "$T/copy" -- "${keyfiles[@]}" "$T/p1" "$T/p2" "$T/p4" <<'PY'
import os, sys
args = sys.argv[1:]
dirs, secrets = args[:args.index("--")], args[args.index("--") + 1:]
needles = []
for f in secrets:
    h = open(f).read().split()[-1]
    raw = bytes.fromhex(h)
    assert len(raw) == 32, f
    needles += [(f, "raw", raw), (f, "hex", h.encode()), (f, "HEX", h.upper().encode())]
found, files = [], 0
for d in dirs:
    for root, _, names in os.walk(d):
        for n in names:
            data = open(os.path.join(root, n), "rb").read()
            files += 1
            for f, kind, b in needles:
                if b in data:
                    found.append("%s holds %s (%s)" % (os.path.join(root, n), f, kind))
print("   searched %d files for %d secrets" % (files, len(secrets)))
if found:
    sys.exit("\n".join(found))
PY

step "with its key files the copy unwraps; a disabled key unwraps nothing"
export BLOCKSNAP_KEY_DIR=$T/keys
[ "$(probe "$T/copy" unwrap lineage "$T/w1")" = "$(cat "$T/p1")" ] || die "the copy: another key"
bs disable-key --key-id alias/dr
[ "$(bs describe-key --key-id "$arn" | json_get KeyMetadata.KeyState)" = Disabled ] ||
    die "not disabled"
expect_fail DisabledException 1 probe "$STORE" unwrap lineage "$T/w1"
expect_fail KMSInvalidStateException 1 bs disable-key --key-id alias/aws/ebs
bs enable-key --key-id "$key"
[ "$(probe "$STORE" unwrap lineage "$T/w1")" = "$(cat "$T/p1")" ] || die "enabled: another key"
expect_fail InvalidCiphertextException 1 probe "$STORE" unwrap other-purpose "$T/w1"

step "verify --repair keeps the keys, aliases and settings"
bs modify-ebs-default-kms-key-id --kms-key-id alias/dr >/dev/null
STORE=$T/copy bs verify --repair >/dev/null || die "verify --repair failed"
[ "$(STORE=$T/copy bs describe-key --key-id alias/dr | json_get KeyMetadata.KeyId)" = "$key" ] ||
    die "repair lost alias/dr"
[ "$(STORE=$T/copy bs list-keys | json_get Keys.#)" = 3 ] || die "repair lost a key"
[ "$(BLOCKSNAP_KEY_PASSPHRASE="tr0ub4dor & 3 passphrase words" probe "$T/copy" unwrap lineage "$T/w4")" = "$(cat "$T/p4")" ] ||
    die "repaired: the passphrase key lost its parameters"
[ "$(probe "$T/copy" unwrap lineage "$T/w2")" = "$(cat "$T/p2")" ] || die "repaired: another key"
assert_verify_ok
