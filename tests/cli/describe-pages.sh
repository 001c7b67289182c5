# describe-* pages: --max-results and --next-token as EC2's MaxResults and
# NextToken; a page that ends at the last result has no NextToken; bad
# values and tokens are refused with EC2's codes.
truncate -s 64K v.img
for i in 1 2 3 4 5 6 7 8 9 10; do
    printf '%s' "$i" | dd of=v.img bs=1 seek=$((i * 4096)) conv=notrunc status=none
    blocksnap --quiet create-snapshot --volume v.img >/dev/null
done
page() { blocksnap describe-snapshots "$@"; }
ids() { sed -n 's/.*"SnapshotId": "\(.*\)".*/\1/p' "$@"; }
page --max-results 5 >p1
ids p1 | wc -l
token=$(sed -n 's/.*"NextToken": "\(.*\)".*/\1/p' p1)
test -n "$token" && echo "a token"
page --max-results 5 --next-token "$token" >p2
ids p2 | wc -l
grep -c NextToken p2
# both pages hold every snapshot once, in id order
ids p1 p2 | sort -c && ids p1 p2 | sort -u | wc -l
page --max-results 4 || echo "exit $?"
case $token in *0) bad=${token%?}1 ;; *) bad=${token%?}0 ;; esac # its last digit changed
page --max-results 5 --next-token "$bad" >/dev/null || echo "exit $?"
page --max-results 5 --next-token "$token" --filters Name=status,Values=completed >/dev/null ||
    echo "exit $?"
blocksnap describe-volumes --next-token "$token" || echo "exit $?"
blocksnap describe-snapshots --snapshot-ids snap-0123456789abcdef0 --max-results 5 ||
    echo "exit $?"
