# Text and table output escape control characters in values (C style: \n,
# \t, \\, \x1b), so a tag value holding a newline and a tab cannot forge a
# SNAPSHOTS line and an ESC never reaches the terminal raw.  Error messages
# that quote what the user typed are escaped the same way.
truncate -s 1M disk.img
blocksnap --quiet create-snapshot --volume disk.img --description $'red \x1b[31m\\ \xc2\x9b' \
    --tags $'Key=k,Value=v\nSNAPSHOTS\tsnap-forged' $'Key=t\tab,Value=\xc3\xa9' --output json >/dev/null
ids='s/snap-[0-9a-f]{17}/snap-ID/g; s/vol-[0-9a-f]{17}/vol-ID/g; s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z/TIME/g'
blocksnap describe-snapshots --output text | sed -E "$ids"
blocksnap describe-snapshots --output table | sed -E "$ids" | grep -F -e 'red' -e 'forged'
blocksnap describe-snapshots --snapshot-ids $'snap-\x1b]0;title\x07'
blocksnap --quiet create-snapshot --volume $'missing\x1b[2J.img'
blocksnap describe-snapshots --filters $'Name=tag:k\x1b,Values=\xff'
echo "exit $?"
blocksnap register-image --cli-input-json $'file://no\x1b[1mbold.json'
echo "exit $?"
id=$(blocksnap describe-snapshots --output text | grep ^SNAPSHOTS | grep -o 'snap-[0-9a-f]\{17\}' | head -n 1)
touch $'taken\x1b[8m.img'
blocksnap --quiet create-volume --snapshot-id "$id" --path $'taken\x1b[8m.img'
echo "exit $?"
blocksnap mount $'no-such-dir\x1b[8m'
echo "exit $?"
