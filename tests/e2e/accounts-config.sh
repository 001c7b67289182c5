#!/usr/bin/env bash
# The config and credentials files: configure set/get/list round trip, the
# credentials file private (0600) whatever the umask, files replaced
# atomically with their comments kept, the interactive configure; a
# profile's region chooses the store (its store_path or the default
# place) and its account owns a store it creates; the precedence of
# --profile/--region over $BLOCKSNAP_PROFILE/$BLOCKSNAP_REGION over the
# profile.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3 stat

# Nothing here goes through bs(): its --store would beat every setting.
unset BLOCKSNAP_STORE
B=$BLOCKSNAP
CFG=$XDG_CONFIG_HOME/blocksnap

step "configure set: the files are made, credentials 0600 even with umask 000"
(umask 000 && "$B" configure set aws_access_key_id AKIADEFAULT0001) || die "configure set"
"$B" configure set aws_secret_access_key secret-default-0001
"$B" configure set blocksnap_account_id 123456789012
"$B" configure set region us-east-1
"$B" configure set profile.dev.region eu-west-1
"$B" --profile dev configure set aws_access_key_id AKIADEV000000002
"$B" --profile dev configure set blocksnap_account_id 111122223333
"$B" configure set region.eu-west-1.store_path "$T/stores/eu"
assert_eq "$(stat -c %a "$CFG/credentials")" 600 "credentials mode"
assert_eq "$(stat -c %a "$CFG")" 700 "config directory mode"
cat "$CFG/config" "$CFG/credentials"
grep -qx '\[profile dev\]' "$CFG/config" || die "no [profile dev] in config"
grep -qx '\[dev\]' "$CFG/credentials" || die "credentials sections are [NAME]"
! grep -q aws_ "$CFG/config" || die "a credential went to the config file"
[ -z "$(find "$CFG" -name '*.tmp-*')" ] || die "a temporary file was left"

step "configure get: each value back; an unset one prints nothing, exit 1"
assert_eq "$("$B" configure get region)" us-east-1 "default region"
assert_eq "$("$B" --profile dev configure get region)" eu-west-1 "dev region"
assert_eq "$(BLOCKSNAP_PROFILE=dev "$B" configure get blocksnap_account_id)" 111122223333 \
    "dev account (env profile)"
assert_eq "$("$B" configure get profile.dev.aws_access_key_id)" AKIADEV000000002 "qualified key"
assert_eq "$("$B" configure get region.eu-west-1.store_path)" "$T/stores/eu" "store_path"
rc=0
out=$("$B" configure get output) || rc=$?
assert_eq "$rc:$out" "1:" "unset key"

step "configure list: the settings in use and where they came from, secrets masked"
"$B" --profile dev configure list | tee "$T/list"
grep -q '^profile  *dev  *flag$' "$T/list" || die "list: profile"
grep -q '^access_key  *\*\{16\}0002  *credentials-file$' "$T/list" || die "list: masked key"
! grep -q AKIADEV "$T/list" || die "list shows the access key"
grep -q '^account  *111122223333  *credentials-file$' "$T/list" || die "list: account"
grep -q "^store  *$T/stores/eu  *config-file$" "$T/list" || die "list: store_path"

step "comments and other sections survive an edit"
printf '# hand-written comment\n[profile keep]\n; its own comment\noutput = text\n' >>"$CFG/config"
"$B" configure set region us-east-2
grep -qx '# hand-written comment' "$CFG/config" || die "comment lost"
grep -qx '; its own comment' "$CFG/config" || die "another section's comment lost"
grep -qx 'output = text' "$CFG/config" || die "another section changed"
assert_eq "$("$B" configure get region)" us-east-2 "edited region"
assert_eq "$(grep -c '^region = ' "$CFG/config")" 2 "region lines (default, dev)"
"$B" configure set region us-east-1

step "interactive configure (answers on stdin): an empty answer keeps a value"
printf 'AKIAOPS000000003\nsecret-ops\n444455556666\nap-south-1\n\n' |
    "$B" --profile ops configure 2>"$T/prompts"
cat "$T/prompts"
grep -q 'Access key id \[None\]' "$T/prompts" || die "no prompt"
assert_eq "$("$B" --profile ops configure get region)" ap-south-1 "ops region"
assert_eq "$("$B" --profile ops configure get blocksnap_account_id)" 444455556666 "ops account"
rc=0
"$B" --profile ops configure get output >/dev/null || rc=$?
assert_eq "$rc" 1 "the empty answer set nothing"
printf '\n\n\neu-west-1\n\n' | "$B" --profile ops configure 2>"$T/prompts"
grep -q 'Access key id \[\*\{16\}0003\]' "$T/prompts" || die "the current key is not shown masked"
assert_eq "$("$B" --profile ops configure get aws_access_key_id)" AKIAOPS000000003 "key kept"
assert_eq "$("$B" --profile ops configure get region)" eu-west-1 "region changed"
cp "$CFG/config" "$T/config.before"
rc=0
printf 'AKIAX\n' | "$B" --profile ops configure 2>/dev/null || rc=$?
assert_eq "$rc" 1 "input that ends early"
cmp -s "$CFG/config" "$T/config.before" || die "input that ended early changed the config"

step "the profile's region picks the store; its account owns the store it creates"
"$B" create-store --quiet >"$T/default.json"
assert_eq "$(json_get Region "$T/default.json")" us-east-1 "default profile's region"
assert_eq "$(json_get Path "$T/default.json")" "$XDG_DATA_HOME/blocksnap/us-east-1" "default path"
assert_eq "$(json_get OwnerId "$T/default.json")" 123456789012 "default profile's account"
"$B" --profile dev create-store --quiet >"$T/dev.json"
assert_eq "$(json_get Path "$T/dev.json")" "$T/stores/eu" "store_path of eu-west-1"
assert_eq "$(json_get Region "$T/dev.json")" eu-west-1 "dev's region"
assert_eq "$(json_get OwnerId "$T/dev.json")" 111122223333 "dev's account"

step "precedence: --region > \$BLOCKSNAP_REGION > profile; --profile > \$BLOCKSNAP_PROFILE"
assert_eq "$(BLOCKSNAP_PROFILE=dev "$B" describe-store | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["Region"])')" eu-west-1 "env profile"
assert_eq "$(BLOCKSNAP_PROFILE=dev "$B" --profile default describe-store | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["Region"])')" us-east-1 "flag beats env"
assert_eq "$(BLOCKSNAP_REGION=us-east-1 "$B" --profile dev describe-store | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["Region"])')" us-east-1 "env region beats profile"
assert_eq "$(BLOCKSNAP_REGION=us-east-1 "$B" --profile dev --region eu-west-1 describe-store |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Region"])')" eu-west-1 \
    "flag region beats env"
assert_eq "$(BLOCKSNAP_STORE=$T/stores/eu BLOCKSNAP_REGION=us-east-1 "$B" describe-store |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Region"])')" eu-west-1 \
    "\$BLOCKSNAP_STORE beats \$BLOCKSNAP_REGION"

step "the profile's output format, which --output beats"
"$B" configure set profile.keep.region us-east-1
"$B" --profile keep describe-store >"$T/text.out"
! grep -q '^{' "$T/text.out" || die "the profile's output=text was not used"
"$B" --profile keep --output json describe-store | python3 -c 'import json,sys; json.load(sys.stdin)'

step "errors: an unknown profile, a broken file (naming its line), nothing written"
expect_fail ProfileNotFound 1 "$B" --profile nope describe-store
printf '[default]\nregion = a\n[default]\n' >"$T/broken"
BLOCKSNAP_CONFIG_FILE=$T/broken expect_fail ConfigParseError 1 "$B" describe-store
stderr_contains "line 3: section [default] given twice"
cp "$T/broken" "$T/broken.before"
BLOCKSNAP_CONFIG_FILE=$T/broken expect_fail ConfigParseError 1 "$B" configure set region b
cmp -s "$T/broken" "$T/broken.before" || die "a broken file was rewritten"
echo "accounts-config: OK"
