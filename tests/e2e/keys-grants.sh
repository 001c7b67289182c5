#!/usr/bin/env bash
# Keys are their owner's, grants let another account of the same store use
# one, and keys are deleted after a waiting period: two profiles of two
# accounts on one store.  The other account lists none of the owner's keys,
# names one only by its ARN and can do nothing with it (AccessDeniedException)
# until a grant of Decrypt lets it unwrap (not wrap) a data key under it;
# revoked, the grant lets it do nothing again.  A key scheduled for deletion
# unwraps nothing (KMSInvalidStateException); cancelled, it is Disabled;
# past its date, the next key verb deletes its record, alias, grants and
# key file.  Each refused call exits 1 with KMS's code and changes nothing.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

PROBE=${BSNAP_BUILD_DIR:-$(dirname "$BLOCKSNAP")}/tests/tools/bsnap-keyprobe
[ -x "$PROBE" ] || skip "no $PROBE (build the tests/tools targets)"
export BLOCKSNAP_KEY_DIR=$T/keys
OWNER=123456789012
OTHER=111122223333
bs configure set blocksnap_account_id $OWNER
bs --profile ops configure set blocksnap_account_id $OTHER

# probe [ACCOUNT] ARGS...: bsnap-keyprobe as ACCOUNT (default the owner).
probe() {
    local rc=0 account=$1
    shift
    KEYPROBE_ACCOUNT=$account "$PROBE" "$STORE" "$@" 2>"$T/probe.stderr" || rc=$?
    cat "$T/probe.stderr" >&2
    cp "$T/probe.stderr" "$T/fail.stderr"
    _check_sanitizer "$T/probe.stderr" "bsnap-keyprobe $*"
    return "$rc"
}
# probe_fail CODE ACCOUNT ARGS...: the probe fails with CODE.
probe_fail() {
    local code=$1 rc=0
    shift
    probe "$@" >/dev/null || rc=$?
    [ "$rc" = 1 ] || die "bsnap-keyprobe $*: exit $rc, expected 1"
    grep -qF "($code)" "$T/fail.stderr" || die "bsnap-keyprobe $*: not ($code)"
}
keys_of() { bs "$@" list-keys | python3 -c '
import json, sys
print(" ".join(k["KeyId"] for k in json.load(sys.stdin)["Keys"]))'; }

step "the owner's key: the other account sees none of it"
bs create-store >/dev/null
bs create-key --description shared >"$T/key.json"
key=$(json_get KeyMetadata.KeyId "$T/key.json")
arn=$(json_get KeyMetadata.Arn "$T/key.json")
assert_eq "$arn" "arn:aws:kms:$(store_field Region):$OWNER:key/$key" "the key ARN names the owner"
bs create-alias --alias-name alias/shared --target-key-id "$key"
probe $OWNER wrap alias/shared lineage "$T/w" "$T/p" >/dev/null
assert_eq "$(keys_of --profile ops)" "" "the other account lists no key of the owner"
expect_fail NotFoundException 1 bs --profile ops describe-key --key-id "$key"
expect_fail NotFoundException 1 bs --profile ops describe-key --key-id alias/shared
expect_fail AccessDeniedException 1 bs --profile ops describe-key --key-id "$arn"
stderr_contains "arn:aws:iam::$OTHER:root is not authorized" "kms:DescribeKey"
expect_fail AccessDeniedException 1 bs --profile ops disable-key --key-id "$arn"
expect_fail AccessDeniedException 1 bs --profile ops schedule-key-deletion --key-id "$arn"
expect_fail AccessDeniedException 1 bs --profile ops create-grant --key-id "$arn" \
    --grantee-principal $OTHER --operations Decrypt
probe_fail AccessDeniedException $OTHER unwrap lineage "$T/w"
probe_fail AccessDeniedException $OTHER wrap "$arn" lineage "$T/w2" "$T/p2"
# its own alias/aws/ebs is its own key
other_default=$(bs --profile ops describe-key --key-id alias/aws/ebs | json_get KeyMetadata.Arn)
case $other_default in arn:aws:kms:*:$OTHER:key/*) ;; *) die "default key $other_default" ;; esac

step "tags: the owner's alone"
bs tag-resource --key-id "$key" --tags TagKey=env,TagValue=prod '[{"TagKey":"team","TagValue":"db"}]'
bs untag-resource --key-id alias/shared --tag-keys team
assert_eq "$(bs list-resource-tags --key-id "$key" | json_get Tags)" \
    '[{"TagKey": "env", "TagValue": "prod"}]' "one tag left"
expect_fail AccessDeniedException 1 bs --profile ops list-resource-tags --key-id "$arn"
expect_fail AccessDeniedException 1 bs --profile ops tag-resource --key-id "$arn" \
    --tags TagKey=a,TagValue=b
expect_fail InvalidParameterValue 2 bs tag-resource --key-id "$key" --tags TagKey=aws:x,TagValue=1
tagged=$(bs create-key --tags TagKey=k,TagValue=v | json_get KeyMetadata.KeyId)
assert_eq "$(bs list-resource-tags --key-id "$tagged" | json_get Tags.0.TagValue)" v \
    "create-key --tags"

step "bad grants change nothing"
store_state >"$T/state.before"
expect_fail InvalidArnException 1 bs create-grant --key-id "$key" --grantee-principal bob \
    --operations Decrypt
stderr_contains "--grantee-principal 'bob'"
expect_fail ValidationException 1 bs create-grant --key-id "$key" --grantee-principal $OTHER \
    --operations Decrypt Sign
expect_fail NotFoundException 1 bs create-grant --key-id alias/none --grantee-principal $OTHER \
    --operations Decrypt
bs describe-key --key-id alias/aws/ebs >/dev/null
store_state >"$T/state.before"
expect_fail AccessDeniedException 1 bs create-grant --key-id alias/aws/ebs \
    --grantee-principal $OTHER --operations Decrypt
stderr_contains "AWS managed key"
assert_store_unchanged "$T/state.before"
assert_eq "$(bs list-grants --key-id "$key" | json_get Grants.#)" 0 "no grant yet"

step "a grant of Decrypt and DescribeKey: unwrap and describe, nothing more"
bs create-grant --key-id "$key" --grantee-principal "arn:aws:iam::$OTHER:root" \
    --operations Decrypt DescribeKey --name restore >"$T/grant.json"
gid=$(json_get GrantId "$T/grant.json")
again=$(bs create-grant --key-id "$key" --grantee-principal $OTHER \
    --operations Decrypt DescribeKey --name restore | json_get GrantId)
assert_eq "$again" "$gid" "the same named grant asked for again"
bs list-grants --key-id alias/shared >"$T/grants.json"
assert_eq "$(json_get Grants.# "$T/grants.json")" 1 "one grant"
assert_eq "$(json_get Grants.0.GranteePrincipal "$T/grants.json")" "arn:aws:iam::$OTHER:root" \
    "its grantee"
assert_eq "$(json_get Grants.0.KeyId "$T/grants.json")" "$arn" "its key"
cmp -s <(probe $OTHER unwrap lineage "$T/w") "$T/p" || die "the grantee unwrapped another key"
assert_eq "$(bs --profile ops describe-key --key-id "$arn" | json_get KeyMetadata.AWSAccountId)" \
    $OWNER "the grantee describes it"
probe_fail AccessDeniedException $OTHER wrap "$arn" lineage "$T/w2" "$T/p2"
expect_fail AccessDeniedException 1 bs --profile ops list-grants --key-id "$arn"
expect_fail AccessDeniedException 1 bs --profile ops revoke-grant --key-id "$arn" \
    --grant-id "$gid"
expect_fail AccessDeniedException 1 bs --profile ops retire-grant --grant-token "$gid"
expect_fail MissingParameter 2 bs retire-grant --grant-id "$gid"

step "revoked: nothing again"
expect_fail NotFoundException 1 bs revoke-grant --key-id "$key" --grant-id 0123
bs revoke-grant --key-id "$key" --grant-id "$gid"
probe_fail AccessDeniedException $OTHER unwrap lineage "$T/w"
assert_eq "$(bs list-grants --key-id "$key" | json_get Grants.#)" 0 "no grant left"

step "a grant with RetireGrant: the grantee retires it"
gid=$(bs create-grant --key-id "$key" --grantee-principal $OTHER \
    --operations Decrypt RetireGrant | json_get GrantId)
probe $OTHER unwrap lineage "$T/w" >/dev/null
bs --profile ops retire-grant --key-id "$arn" --grant-id "$gid"
probe_fail AccessDeniedException $OTHER unwrap lineage "$T/w"

step "scheduled for deletion: unusable; cancelled: Disabled"
expect_fail ValidationException 1 bs schedule-key-deletion --key-id "$key" \
    --pending-window-in-days 6
expect_fail KMSInvalidStateException 1 bs cancel-key-deletion --key-id "$key"
expect_fail KMSInvalidStateException 1 bs schedule-key-deletion --key-id alias/aws/ebs
bs schedule-key-deletion --key-id alias/shared --pending-window-in-days 7 >"$T/sched.json"
assert_eq "$(json_get KeyState "$T/sched.json")" PendingDeletion "schedule answers the state"
assert_eq "$(json_get PendingWindowInDays "$T/sched.json")" 7 "and the window"
bs describe-key --key-id "$key" >"$T/d.json"
assert_eq "$(json_get KeyMetadata.KeyState "$T/d.json")" PendingDeletion "described so"
assert_eq "$(json_get KeyMetadata.DeletionDate "$T/d.json")" "$(json_get DeletionDate \
    "$T/sched.json")" "with its deletion date"
probe_fail KMSInvalidStateException $OWNER unwrap lineage "$T/w"
expect_fail KMSInvalidStateException 1 bs enable-key --key-id "$key"
expect_fail KMSInvalidStateException 1 bs create-grant --key-id "$key" \
    --grantee-principal $OTHER --operations Decrypt
bs cancel-key-deletion --key-id "$key" >/dev/null
assert_eq "$(bs describe-key --key-id "$key" | json_get KeyMetadata.KeyState)" Disabled \
    "a cancelled deletion leaves the key disabled"
bs enable-key --key-id "$key"
probe $OWNER unwrap lineage "$T/w" >/dev/null

step "past its date, the next key verb deletes it: record, alias, grants, key file"
bs create-grant --key-id "$key" --grantee-principal $OTHER --operations Decrypt >/dev/null
bs schedule-key-deletion --key-id "$key" --pending-window-in-days 7 >/dev/null
[ -f "$BLOCKSNAP_KEY_DIR/$(store_field Region)/$key.key" ] || die "no key file before"
probe $OWNER due "$key"
case " $(keys_of) " in *" $key "*) die "list-keys did not delete it" ;; esac
[ ! -e "$BLOCKSNAP_KEY_DIR/$(store_field Region)/$key.key" ] || die "its key file stays"
expect_fail NotFoundException 1 bs describe-key --key-id "$key"
expect_fail NotFoundException 1 bs describe-key --key-id alias/shared
probe_fail NotFoundException $OWNER unwrap lineage "$T/w"
probe_fail NotFoundException $OTHER unwrap lineage "$T/w"
bs verify >/dev/null
