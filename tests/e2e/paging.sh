#!/usr/bin/env bash
# The aws CLI's paging: --max-items N prints N results and a NextToken,
# --starting-token goes on from there, --page-size sets the engine's page
# (the walk crosses its pages, and a token may point inside one).  25
# snapshots walked 7 at a time come each exactly once, in id order; the
# last page has no NextToken.  A verb whose engine call does not page (the
# launch templates) is paged over its whole answer.  Bad tokens and
# combinations are refused, naming the option.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires python3

step "25 snapshots"
truncate -s 256K "$T/v.img"
for i in $(seq 1 25); do
    printf '%s' "$i" | dd of="$T/v.img" bs=1 seek=$((i * 4096)) conv=notrunc status=none
    bs create-snapshot --volume "$T/v.img" --quiet >/dev/null
done
# ids FILE: the SnapshotIds of a describe-snapshots document, one a line
ids() { python3 -c 'import json,sys; [print(s["SnapshotId"]) for s in json.load(open(sys.argv[1]))["Snapshots"]]' "$1"; }
bs describe-snapshots >"$T/all.json"
ids "$T/all.json" >"$T/all"
assert_eq "$(wc -l <"$T/all")" 25 "snapshots"
sort -c "$T/all" || die "describe-snapshots is not in id order"

# walk ARGS...: every page of describe-snapshots ARGS, following NextToken;
# the ids in the order printed go to $T/walked, the page sizes to $T/sizes.
walk() {
    local token="" n=0
    : >"$T/walked"
    : >"$T/sizes"
    while :; do
        n=$((n + 1))
        [ "$n" -le 30 ] || die "more than 30 pages"
        if [ -n "$token" ]; then
            bs describe-snapshots "$@" --starting-token "$token" >"$T/page.json"
        else
            bs describe-snapshots "$@" >"$T/page.json"
        fi
        ids "$T/page.json" >>"$T/walked"
        ids "$T/page.json" | wc -l >>"$T/sizes"
        token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("NextToken", ""))' \
            "$T/page.json")
        [ -n "$token" ] || break
    done
}

step "--max-items 7: pages of 7, 7, 7, 4; each snapshot once, in order"
walk --max-items 7
assert_eq "$(tr '\n' ' ' <"$T/sizes")" "7 7 7 4 " "page sizes"
diff -u "$T/all" "$T/walked" || die "the walk of --max-items 7 is not every snapshot once, in order"

step "--max-items 7 --page-size 5: tokens inside the engine's pages"
walk --max-items 7 --page-size 5
assert_eq "$(tr '\n' ' ' <"$T/sizes")" "7 7 7 4 " "page sizes"
diff -u "$T/all" "$T/walked" || die "the walk of --max-items 7 --page-size 5 differs"

step "--max-items 5 --page-size 5: a page that ends at an engine page's end"
walk --max-items 5 --page-size 5
assert_eq "$(tr '\n' ' ' <"$T/sizes")" "5 5 5 5 5 " "page sizes"
diff -u "$T/all" "$T/walked" || die "the walk of --max-items 5 --page-size 5 differs"

step "--page-size alone fetches every page: all 25, no NextToken"
bs describe-snapshots --page-size 5 >"$T/ps.json"
ids "$T/ps.json" | diff -u "$T/all" - || die "--page-size 5 does not list all"
grep -q NextToken "$T/ps.json" && die "--page-size alone printed a NextToken"

step "filters hold across pages"
bs describe-snapshots --filters Name=status,Values=completed --max-items 20 >"$T/f.json"
T20=$(json_get NextToken "$T/f.json")
bs describe-snapshots --filters Name=status,Values=completed --starting-token "$T20" >"$T/f2.json"
assert_eq "$(ids "$T/f2.json" | tr '\n' ' ')" "$(tail -5 "$T/all" | tr '\n' ' ')" "the rest"

step "a verb whose answer is one list: its whole answer is paged"
for n in a b c; do
    bs create-launch-template --launch-template-name "web-$n" \
        --launch-template-data '{"InstanceType":"t3.micro"}' >/dev/null
done
bs describe-launch-templates --max-items 2 >"$T/t1.json"
assert_eq "$(json_get LaunchTemplates.# "$T/t1.json")" 2 "templates on the first page"
bs describe-launch-templates --starting-token "$(json_get NextToken "$T/t1.json")" >"$T/t2.json"
assert_eq "$(json_get LaunchTemplates.# "$T/t2.json")" 1 "templates on the second page"
grep -q NextToken "$T/t2.json" && die "the last page of templates has a NextToken"
python3 - "$T/t1.json" "$T/t2.json" <<'PY' || die "templates paged"
import json, sys
names = [t["LaunchTemplateName"] for f in sys.argv[1:] for t in json.load(open(f))["LaunchTemplates"]]
assert sorted(names) == ["web-a", "web-b", "web-c"], names
PY

step "bad tokens and combinations"
TOK=$(bs describe-snapshots --max-items 7 --page-size 5 | json_get NextToken)
expect_fail InvalidParameterValue 1 bs describe-snapshots --starting-token nonsense
stderr_contains "--starting-token" "nonsense"
expect_fail InvalidParameterValue 1 bs describe-volumes --starting-token "$TOK"
stderr_contains "describe-volumes"
expect_fail InvalidParameterValue 1 bs describe-launch-templates --starting-token "$TOK"
# the engine's token inside (of the second page of 5), altered: the engine refuses it
BAD=$(python3 -c '
import sys
t = bytes.fromhex(sys.argv[1]).decode()
print((t[:-1] + ("1" if t[-1] != "1" else "2")).encode().hex())' "$TOK")
expect_fail InvalidParameterValue 1 bs describe-snapshots --starting-token "$BAD"
expect_fail InvalidParameterValue 1 bs describe-snapshots --filters Name=status,Values=completed \
    --starting-token "$TOK"
expect_fail InvalidParameterValue 2 bs describe-snapshots --max-items 0
expect_fail InvalidParameterValue 2 bs describe-snapshots --page-size 4
expect_fail InvalidParameterCombination 2 bs describe-snapshots --max-items 3 --max-results 5
expect_fail InvalidParameterCombination 2 bs create-tags --resources "$(head -1 "$T/all")" \
    --tags Key=a,Value=b --max-items 3
