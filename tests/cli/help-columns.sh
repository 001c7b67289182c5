# Every help text fits in 80 columns, goes to stdout with nothing on stderr,
# exits 0, and `blocksnap help VERB` prints what `blocksnap VERB --help` does.
verbs=$(blocksnap --help | sed -n '/^Verbs:/,/^$/p' | awk '/^  [^ ]/ && $1 != "help" {print $1}')
[ -n "$verbs" ] || { echo "no verbs listed"; exit 1; }
fail=0
check() {
    local what=$1 out err
    out=$(mktemp) err=$(mktemp)
    shift
    "$@" >"$out" 2>"$err" || { echo "$what: exit $?"; fail=1; }
    [ -s "$err" ] && { echo "$what: wrote to stderr"; fail=1; }
    [ -s "$out" ] || { echo "$what: printed nothing"; fail=1; }
    awk -v w="$what" 'length($0) > 80 { printf "%s: line %d has %d columns\n", w, NR, length($0); bad = 1 }
                      END { exit bad }' "$out" || fail=1
    rm -f "$out" "$err"
}
check "blocksnap --help" blocksnap --help
n=0
for v in $verbs; do
    check "$v --help" blocksnap "$v" --help
    cmp -s <(blocksnap "$v" --help) <(blocksnap help "$v") || { echo "help $v differs"; fail=1; }
    n=$((n + 1))
done
echo "checked $n verbs"
exit $fail
