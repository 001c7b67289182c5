# describe-snapshot-usage: what each snapshot references and what deleting
# it would free.  Two snapshots of the same volume share everything (0 to
# free); a third with one changed chunk frees its root page, its leaf and
# that chunk.  JSON keeps exact integers, table and text show sizes for
# people; a bad id fails the whole call and names the option.
blocksnap create-store --chunk-size 4K >/dev/null
seq 1 2000000 | head -c 1048576 >v.img
ids=()
for i in 1 2; do
    ids+=("$(blocksnap create-snapshot --volume v.img --quiet | sed -n 's/.*"SnapshotId": "\(.*\)".*/\1/p')")
done
printf 'x%.0s' $(seq 4096) | dd of=v.img bs=4096 seek=5 conv=notrunc status=none
ids+=("$(blocksnap create-snapshot --volume v.img --quiet | sed -n 's/.*"SnapshotId": "\(.*\)".*/\1/p')")
blocksnap describe-snapshot-usage --snapshot-ids "${ids[@]}" | sed -E 's/(snap|vol)-[0-9a-f]{17}/\1-X/g'
blocksnap describe-snapshot-usage --snapshot-ids "${ids[2]}" --output table |
    sed -E 's/(snap|vol)-[0-9a-f]{17}/\1-X/g'
blocksnap describe-snapshot-usage --snapshot-ids "${ids[0]}" --output text |
    sed -E 's/(snap|vol)-[0-9a-f]{17}/\1-X/g'
blocksnap describe-snapshot-usage --snapshot-ids "${ids[0]}" snap-0123456789abcdef0
echo "exit $?"
blocksnap describe-snapshot-usage --snapshot-ids snap-x
echo "exit $?"
blocksnap describe-snapshot-usage
echo "exit $?"
