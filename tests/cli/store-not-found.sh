# A verb that only reads refuses a store that does not exist (a mistyped
# path) and creates nothing there; a verb that writes creates it.
blocksnap describe-snapshots --store typo
echo "exit $?"
blocksnap verify --store typo
echo "exit $?"
blocksnap diff --store typo snap-0123456789abcdef0
echo "exit $?"
[ -e typo ] && echo "typo exists" || echo "no store made"
blocksnap gc --store typo --output text
[ -f typo/config ] && echo "gc made the store"
